//! `modelops rollback MODEL --env ENV`: rewrites the model file so the environment runs
//! its last known-good release with no candidate.
//!
//! With a candidate in flight, the known-good release is the current stable and the
//! candidate is dropped. Without one, it is the stable that ran before the current one,
//! from the model file's history. The KDL document is edited in place: every other
//! byte, comments included, stays as it was.

use std::path::Path;

use kdl::{KdlDocument, KdlValue};

use crate::audit::{AuditError, history};

/// What a rollback does.
#[derive(Clone, Debug)]
pub struct Plan {
    pub from_stable: Option<String>,
    pub to_stable: String,
    pub dropped_candidate: Option<(String, String)>,
    pub new_text: String,
}

fn first_argument(node: &kdl::KdlNode) -> Option<&str> {
    node.entries()
        .iter()
        .find(|e| e.name().is_none())
        .and_then(|e| e.value().as_string())
}

/// Plans the rollback of `model` in `environment`, given the model file's current text.
pub fn plan(root: &Path, model: &str, environment: &str, text: &str) -> Result<Plan, AuditError> {
    let current = history::parse_model(text, model).ok_or_else(|| {
        AuditError::Other(format!(
            "`models/{model}.kdl` does not validate; fix it first (`modelops check`)"
        ))
    })?;
    let deploy = current.deploy.get(environment).ok_or_else(|| {
        AuditError::Other(format!(
            "model `{model}` has no deployment in `{environment}`"
        ))
    })?;
    let stable = deploy.stable.clone();
    let candidate = deploy
        .candidate()
        .map(|c| (c.kind().to_owned(), c.release().to_owned()));
    let target = match (&candidate, &stable) {
        (Some(_), Some(stable)) => stable.clone(),
        _ => previous_stable(root, model, environment, stable.as_deref())?,
    };
    let mut document: KdlDocument = text
        .parse()
        .map_err(|_| AuditError::Other(format!("`models/{model}.kdl` is not valid KDL")))?;
    let model_node = document
        .nodes_mut()
        .iter_mut()
        .find(|n| n.name().value() == "model" && first_argument(n) == Some(model))
        .ok_or_else(|| AuditError::Other(format!("no `model \"{model}\"` node")))?;
    let deploy_node = model_node
        .children_mut()
        .as_mut()
        .and_then(|children| {
            children
                .nodes_mut()
                .iter_mut()
                .find(|n| n.name().value() == "deploy" && first_argument(n) == Some(environment))
        })
        .ok_or_else(|| AuditError::Other(format!("no `deploy \"{environment}\"` node")))?;
    let children = deploy_node.ensure_children();
    children
        .nodes_mut()
        .retain(|n| !matches!(n.name().value(), "canary" | "blue-green"));
    if let Some(entry) = children
        .nodes_mut()
        .iter_mut()
        .find(|n| n.name().value() == "stable")
        .and_then(|n| n.entries_mut().iter_mut().find(|e| e.name().is_none()))
    {
        entry.set_value(KdlValue::String(target.clone()));
        if let Some(format) = entry.format_mut() {
            format.value_repr = crate::lock::quote(&target);
        }
    }
    Ok(Plan {
        from_stable: stable,
        to_stable: target,
        dropped_candidate: candidate,
        new_text: document.to_string(),
    })
}

/// The stable release that ran in `environment` before `current`.
fn previous_stable(
    root: &Path,
    model: &str,
    environment: &str,
    current: Option<&str>,
) -> Result<String, AuditError> {
    let (repo, prefix) = crate::audit::open_history(root)?;
    let touches = history::touches(&repo, &format!("{prefix}models/{model}.kdl"))?;
    let mut stables: Vec<String> = Vec::new();
    for touch in touches {
        let stable = touch
            .content
            .as_deref()
            .and_then(|t| history::parse_model(t, model))
            .and_then(|m| m.deploy.get(environment).and_then(|d| d.stable.clone()));
        if let Some(stable) = stable
            && stables.last() != Some(&stable)
        {
            stables.push(stable);
        }
    }
    stables
        .into_iter()
        .rev()
        .find(|s| Some(s.as_str()) != current)
        .ok_or_else(|| AuditError::Other(format!("`{environment}` never ran another stable release of `{model}`; there is nothing to roll back to")))
}
