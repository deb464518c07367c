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
    /// This release, then its parent, grandparent, …
    pub lineage: Vec<String>,
    pub base: Option<Base>,
    /// The image and the release node that set it.
    pub image: Option<(String, At)>,
    pub prompt: Option<PromptRef>,
    /// Each parameter with the release node that set it.
    pub params: NameMap<(Value, At)>,
    pub vars: NameMap<(Value, At)>,
    pub secrets: NameMap<Secret>,
}

/// Resolves every release of `model`, reporting unknown parents and cycles.
pub fn resolve_releases(
    model: &Model,
    spans: &SpanIndex,
    diagnostics: &mut Vec<Diagnostic>,
) -> NameMap<ResolvedRelease> {
    let mut reported_cycles: Vec<Vec<String>> = Vec::new();
    let mut out = Vec::with_capacity(model.release.len());
    for (version, release) in &model.release {
        let mut lineage = vec![version.clone()];
        let mut current = release;
        while let Some(parent) = &current.from {
            match model.release.get(parent) {
                None => {
                    if current.version == *version {
                        let known: Vec<&str> = model.release.keys().map(String::as_str).collect();
                        diagnostics.push(
                            Diagnostic::new(
                                Code::UnknownRelease,
                                format!(
                                    "release \"{version}\" inherits from \"{parent}\", which model `{}` does not define",
                                    model.name
                                ),
                            )
                            .with_label(spans.field(&current.at, "from"), "no such release")
                            .with_help(help_for_release(parent, &known)),
                        );
                    }
                    break;
                }
                Some(next) if lineage.contains(parent) => {
                    let start = lineage.iter().position(|v| v == parent).unwrap_or(0);
                    let mut cycle: Vec<String> = lineage[start..].to_vec();
                    cycle.sort();
                    if !reported_cycles.contains(&cycle) {
                        reported_cycles.push(cycle);
                        let path = lineage[start..]
                            .iter()
                            .chain(std::iter::once(parent))
                            .map(|v| format!("\"{v}\""))
                            .collect::<Vec<_>>()
                            .join(" → ");
                        diagnostics.push(
                            Diagnostic::new(
                                Code::ReferenceCycle,
                                format!("releases of `{}` inherit in a cycle: {path}", model.name),
                            )
                            .with_label(spans.field(&current.at, "from"), "this closes the cycle")
                            .with_label(spans.field(&next.at, "from"), "inherits from here")
                            .with_help(
                                "one release of the chain must stand on its own, without `from=`",
                            ),
                        );
                    }
                    break;
                }
                Some(next) => {
                    lineage.push(parent.clone());
                    current = next;
                }
            }
        }
        out.push((version.clone(), resolve_one(model, &lineage)));
    }
    out.into_iter().collect()
}

fn resolve_one(model: &Model, lineage: &[String]) -> ResolvedRelease {
    let mut resolved = ResolvedRelease {
        model: model.name.clone(),
        version: lineage.first().cloned().unwrap_or_default(),
        at: At::default(),
        lineage: lineage.to_vec(),
        base: None,
        image: None,
        prompt: None,
        params: NameMap::new(),
        vars: NameMap::new(),
        secrets: NameMap::new(),
    };
    // Apply from the root ancestor down, so children override parents.
    for version in lineage.iter().rev() {
        let Some(release) = model.release.get(version) else {
            continue;
        };
        resolved.at = release.at.clone();
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
    }
    resolved.params.shrink_to_fit();
    resolved.vars.shrink_to_fit();
    resolved.secrets.shrink_to_fit();
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
