//! `from=` inheritance between releases of one model.
//!
//! A release inherits every field of its parent and overrides what it states itself:
//! `base`, `image` and `prompt` are replaced whole; `params`, `vars` and `secret` are
//! merged key by key, the child's keys winning. Chains may be of any length; a cycle
//! or an unknown parent is reported, and the release resolves from what it has.

use serde_json::Value;

use super::{At, Base, Model, NameMap, PromptRef, Secret, SpanIndex};
use crate::diag::{Code, Diagnostic};

/// A release after inheritance. Each inherited value remembers the release that
/// wrote it, so diagnostics point at the line that set it.
#[derive(Clone, Debug)]
pub struct ResolvedRelease {
    pub model: String,
    pub version: String,
    pub at: At,
    /// The release it inherits from, when that release exists and is not in a cycle.
    pub parent: Option<String>,
    /// Whether its chain of `from=` ends in an unknown release or a cycle.
    pub broken: bool,
    pub base: Option<Base>,
    /// The image and the release node that set it.
    pub image: Option<(String, At)>,
    pub prompt: Option<PromptRef>,
    /// Each parameter with the release node that set it.
    pub params: NameMap<(Value, At)>,
    pub vars: NameMap<(Value, At)>,
    pub secrets: NameMap<Secret>,
}

/// This release, then its parent, grandparent, … (for display; the chain is walked
/// on demand, each release at most once).
pub fn lineage(releases: &NameMap<ResolvedRelease>, version: &str) -> Vec<String> {
    let mut out = vec![version.to_owned()];
    let mut current = releases.get(version);
    while let Some(parent) = current.and_then(|r| r.parent.as_deref()) {
        if out.iter().any(|v| v == parent) || out.len() > releases.len() {
            break;
        }
        out.push(parent.to_owned());
        current = releases.get(parent);
    }
    out
}

/// Resolves every release of `model`, reporting unknown parents and cycles.
///
/// Linear in the number of releases: each release is resolved once, from its
/// parent's resolution, walking each chain once with an explicit stack (no
/// recursion, however long the chain).
pub fn resolve_releases(
    model: &Model,
    spans: &SpanIndex,
    left_out: &super::prune::LeftOut,
    diagnostics: &mut Vec<Diagnostic>,
) -> NameMap<ResolvedRelease> {
    use std::collections::HashMap;
    let mut done: HashMap<&str, ResolvedRelease> = HashMap::with_capacity(model.release.len());
    for version in model.release.keys() {
        if done.contains_key(version.as_str()) {
            continue;
        }
        // Walk up from `version` until a resolved release, a root, an unknown
        // parent or a release already on this walk (a cycle).
        let mut stack: Vec<&str> = Vec::new();
        let mut on_stack: HashMap<&str, usize> = HashMap::new();
        let mut current = version.as_str();
        let mut broken = false;
        let mut cycle_from: Option<usize> = None;
        loop {
            on_stack.insert(current, stack.len());
            stack.push(current);
            let Some(release) = model.release.get(current) else {
                break;
            };
            let Some(parent) = release.from.as_deref() else {
                break;
            };
            if let Some(resolved) = done.get(parent) {
                broken = resolved.broken;
                break;
            }
            if let Some(&start) = on_stack.get(parent) {
                report_cycle(model, spans, &stack, start, diagnostics);
                cycle_from = Some(start);
                broken = true;
                break;
            }
            match model.release.get(parent) {
                Some(_) => current = parent,
                None => {
                    // A parent left out for its schema errors is reported there.
                    if !left_out.release(&model.name, parent) {
                        report_unknown(model, spans, release, parent, diagnostics);
                    }
                    broken = true;
                    break;
                }
            }
        }
        // Resolve down the stack: the top (the ancestor) first. Releases in a cycle
        // stand on their own fields.
        for (index, version) in stack.iter().enumerate().rev() {
            let Some(release) = model.release.get(version) else {
                continue;
            };
            let in_cycle = cycle_from.is_some_and(|start| index >= start);
            let parent = release
                .from
                .as_deref()
                .filter(|_| !in_cycle)
                .and_then(|p| done.get(p).map(|r| (p, r)));
            let resolved = resolve_one(model, release, version, parent, broken);
            done.insert(version, resolved);
        }
    }
    let mut out: Vec<(String, ResolvedRelease)> = done
        .into_iter()
        .map(|(version, mut resolved)| {
            resolved.params.shrink_to_fit();
            resolved.vars.shrink_to_fit();
            resolved.secrets.shrink_to_fit();
            (version.to_owned(), resolved)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.into_iter().collect()
}

fn report_unknown(
    model: &Model,
    spans: &SpanIndex,
    release: &super::Release,
    parent: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let known: Vec<&str> = model.release.keys().map(String::as_str).collect();
    diagnostics.push(
        Diagnostic::new(
            Code::UnknownRelease,
            format!(
                "release \"{}\" inherits from \"{parent}\", which model `{}` does not define",
                release.version, model.name
            ),
        )
        .with_label(spans.field(&release.at, "from"), "no such release")
        .with_help(help_for_release(parent, &known)),
    );
}

/// Reports the cycle `stack[start..]` (each inheriting from the next, the last from
/// `stack[start]`), at the release that closes it.
fn report_cycle(
    model: &Model,
    spans: &SpanIndex,
    stack: &[&str],
    start: usize,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let members = stack.get(start..).unwrap_or_default();
    let (Some(first), Some(last)) = (members.first(), members.last()) else {
        return;
    };
    let (Some(closing), Some(next)) = (model.release.get(last), model.release.get(first)) else {
        return;
    };
    let path = members
        .iter()
        .chain(std::iter::once(first))
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(" → ");
    diagnostics.push(
        Diagnostic::new(
            Code::ReferenceCycle,
            format!("releases of `{}` inherit in a cycle: {path}", model.name),
        )
        .with_label(spans.field(&closing.at, "from"), "this closes the cycle")
        .with_label(spans.field(&next.at, "from"), "inherits from here")
        .with_help("one release of the chain must stand on its own, without `from=`"),
    );
}

/// `release` over its parent's resolution (children override parents).
fn resolve_one(
    model: &Model,
    release: &super::Release,
    version: &str,
    parent: Option<(&str, &ResolvedRelease)>,
    broken: bool,
) -> ResolvedRelease {
    let mut resolved = match parent {
        Some((name, inherited)) => ResolvedRelease {
            version: version.to_owned(),
            at: release.at.clone(),
            parent: Some(name.to_owned()),
            broken,
            ..inherited.clone()
        },
        None => ResolvedRelease {
            model: model.name.clone(),
            version: version.to_owned(),
            at: release.at.clone(),
            parent: None,
            broken,
            base: None,
            image: None,
            prompt: None,
            params: NameMap::new(),
            vars: NameMap::new(),
            secrets: NameMap::new(),
        },
    };
    if let Some(base) = &release.base {
        resolved.base = Some(base.clone());
    }
    if let Some(image) = &release.image {
        resolved.image = Some((image.clone(), release.at.clone()));
    }
    if let Some(prompt) = &release.prompt {
        resolved.prompt = Some(prompt.clone());
    }
    for (key, value) in &release.params {
        resolved
            .params
            .insert(key.clone(), (value.clone(), release.at.clone()));
    }
    for (key, value) in &release.vars {
        resolved
            .vars
            .insert(key.clone(), (value.clone(), release.at.clone()));
    }
    for (key, secret) in &release.secret {
        resolved.secrets.insert(key.clone(), secret.clone());
    }
    resolved
}

/// "did you mean" help for a release version.
pub fn help_for_release(wanted: &str, known: &[&str]) -> String {
    match crate::diag::did_you_mean(wanted, known.iter().copied()) {
        Some(s) => format!("did you mean \"{s}\"?"),
        None if known.is_empty() => {
            "define the release with `release \"<version>\" { … }`".to_owned()
        }
        None => format!(
            "defined releases: {}",
            known
                .iter()
                .map(|k| format!("\"{k}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
