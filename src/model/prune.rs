//! What of a file the schema refused can still be judged.
//!
//! A schema error used to leave its whole file out of the typed model, so an error in
//! one environment of `modelops.kdl` hid every rule finding in every model. Instead,
//! the smallest named part that holds each error is left out — an environment, a
//! target, the policy, the pipelines block, a model, one release or one deployment —
//! and the rest of the file is typed when it then passes the schema. An unknown key
//! at the top of a file or a model means nothing, so only the key itself goes.
//!
//! What was left out is recorded ([`LeftOut`]): rules stay silent on findings that
//! would only follow from its absence (a deployment to an environment that was left
//! out is not "unknown"; a rule that reads every target does not run when one is
//! missing).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::schema::FileKind;
use crate::syntax::Pointer;

/// Named parts of the configuration left out of the typed model because the schema
/// refused them. Their errors are reported; what depends on them is not judged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeftOut {
    pub environments: BTreeSet<String>,
    pub targets: BTreeSet<String>,
    pub policy: bool,
    pub pipelines: bool,
    pub models: BTreeSet<String>,
    /// (model, version).
    pub releases: BTreeSet<(String, String)>,
    /// (model, environment).
    pub deploys: BTreeSet<(String, String)>,
}

impl LeftOut {
    pub fn is_empty(&self) -> bool {
        *self == LeftOut::default()
    }

    pub fn extend(&mut self, other: LeftOut) {
        self.environments.extend(other.environments);
        self.targets.extend(other.targets);
        self.policy |= other.policy;
        self.pipelines |= other.pipelines;
        self.models.extend(other.models);
        self.releases.extend(other.releases);
        self.deploys.extend(other.deploys);
    }

    /// A release of `model` that was left out (with its model or on its own).
    pub fn release(&self, model: &str, version: &str) -> bool {
        self.models.contains(model)
            || self
                .releases
                .contains(&(model.to_owned(), version.to_owned()))
    }

    /// A deployment of `model` to `environment` that was left out, or whose
    /// environment was.
    pub fn deploy(&self, model: &str, environment: &str) -> bool {
        self.models.contains(model)
            || self.environments.contains(environment)
            || self
                .deploys
                .contains(&(model.to_owned(), environment.to_owned()))
    }
}

/// One part to take out of a view.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    /// A key the schema does not know, at this path: it means nothing.
    Stray(Vec<String>),
    Environment(String),
    Target(String),
    Policy,
    Pipelines,
    Model(String),
    Release(String, String),
    Deploy(String, String),
}

/// The part of a file of `kind` that holds the value at `path` (segments of the
/// file's view), or `None` when the error is in what the file cannot go without
/// (the project's name, the model map itself).
fn part_of(kind: FileKind, path: &[String], stray: bool) -> Option<Part> {
    let segment = |i: usize| path.get(i).cloned();
    // An unknown key at the top of a file or of a model means nothing: it goes
    // alone. Deeper, it is often a misspelt key whose absence would be reported
    // again (`stabel` for `stable`): its part goes.
    let top = match kind {
        FileKind::Project => 1,
        FileKind::Model => 3,
    };
    if stray && path.len() == top {
        return Some(Part::Stray(path.to_vec()));
    }
    match kind {
        FileKind::Project => match path.first()?.as_str() {
            "environment" => Some(Part::Environment(segment(1)?)),
            "target" => Some(Part::Target(segment(1)?)),
            "policy" => Some(Part::Policy),
            "pipelines" => Some(Part::Pipelines),
            _ => None,
        },
        FileKind::Model => {
            if path.first()? != "model" {
                return None;
            }
            let model = segment(1)?;
            match (path.get(2).map(String::as_str), segment(3)) {
                (Some("release"), Some(version)) => Some(Part::Release(model, version)),
                (Some("deploy"), Some(environment)) => Some(Part::Deploy(model, environment)),
                _ => Some(Part::Model(model)),
            }
        }
    }
}

/// Takes `part` out of `view`.
fn remove(view: &mut Value, part: &Part) {
    let path: Vec<&str> = match part {
        Part::Stray(path) => path.iter().map(String::as_str).collect(),
        Part::Environment(name) => vec!["environment", name],
        Part::Target(name) => vec!["target", name],
        Part::Policy => vec!["policy"],
        Part::Pipelines => vec!["pipelines"],
        Part::Model(name) => vec!["model", name],
        Part::Release(model, version) => vec!["model", model, "release", version],
        Part::Deploy(model, environment) => vec!["model", model, "deploy", environment],
    };
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = view;
    for segment in parents {
        match at.get_mut(*segment) {
            Some(child) => at = child,
            None => return,
        }
    }
    if let Some(object) = at.as_object_mut() {
        object.remove(*last);
    }
}

/// The view of a file of `kind` with every part that holds a schema error taken
/// out, and what was left out; `None` when an error is in what the file cannot go
/// without, or the view still does not pass without those parts. `errors` are the
/// schema errors' locations: the failing value, or for an unknown key, the key.
pub fn without_errors(
    kind: FileKind,
    view: &Value,
    errors: &[(Pointer, bool)],
) -> Option<(Value, LeftOut)> {
    let mut parts = BTreeSet::new();
    for (pointer, stray) in errors {
        parts.insert(part_of(kind, &pointer.segments(), *stray)?);
    }
    let mut pruned = view.clone();
    let mut left_out = LeftOut::default();
    for part in &parts {
        remove(&mut pruned, part);
        match part {
            Part::Stray(_) => {}
            Part::Environment(name) => {
                left_out.environments.insert(name.clone());
            }
            Part::Target(name) => {
                left_out.targets.insert(name.clone());
            }
            Part::Policy => left_out.policy = true,
            Part::Pipelines => left_out.pipelines = true,
            Part::Model(name) => {
                left_out.models.insert(name.clone());
            }
            Part::Release(model, version) => {
                left_out.releases.insert((model.clone(), version.clone()));
            }
            Part::Deploy(model, environment) => {
                left_out
                    .deploys
                    .insert((model.clone(), environment.clone()));
            }
        }
    }
    crate::schema::error_locations(&pruned, kind)
        .is_some_and(|errors| errors.is_empty())
        .then_some((pruned, left_out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(path: &str, stray: bool) -> (Pointer, bool) {
        (Pointer::from_escaped(path), stray)
    }

    #[test]
    fn an_environment_with_an_error_is_left_out_and_the_rest_kept() {
        let view = json!({
            "project": "p",
            "environment": {
                "prod": {"namespace": "llm-prod", "pinning": "stricty"},
                "staging": {"namespace": "llm-staging"}
            }
        });
        let (pruned, left_out) = without_errors(
            FileKind::Project,
            &view,
            &[at("/environment/prod/pinning", false)],
        )
        .expect("prunable");
        assert_eq!(pruned["environment"].as_object().map(|o| o.len()), Some(1));
        assert!(left_out.environments.contains("prod"));
        assert!(left_out.deploy("any", "prod"));
        assert!(!left_out.deploy("any", "staging"));
    }

    #[test]
    fn an_unknown_key_goes_alone_and_the_project_name_cannot_go() {
        let view = json!({"project": "p", "frobnicate": 1});
        let (pruned, left_out) =
            without_errors(FileKind::Project, &view, &[at("/frobnicate", true)]).expect("prunable");
        assert_eq!(pruned, json!({"project": "p"}));
        assert!(left_out.is_empty());
        assert!(without_errors(FileKind::Project, &view, &[at("/project", false)]).is_none());
        assert!(without_errors(FileKind::Project, &view, &[at("", false)]).is_none());
    }

    #[test]
    fn a_release_error_leaves_out_that_release_only() {
        let view = json!({"model": {"m": {
            "release": {"1.0.0": {"base": {"id": "openai/gpt-4o-2024-08-06"}}, "2.0.0": {"base": 5}},
            "deploy": {"prod": {"stable": "1.0.0"}}
        }}});
        let (pruned, left_out) = without_errors(
            FileKind::Model,
            &view,
            &[at("/model/m/release/2.0.0/base", false)],
        )
        .expect("prunable");
        assert!(pruned["model"]["m"]["release"].get("2.0.0").is_none());
        assert!(left_out.release("m", "2.0.0"));
        assert!(!left_out.release("m", "1.0.0"));
    }
}
