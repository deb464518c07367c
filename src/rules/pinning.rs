//! Pinning: everything that reaches production names one fixed thing.
//!
//! Base models and judges must be snapshots (provider-aware, see `catalogue`), images
//! must be pinned by digest, prompt references must name a version, remote datasets
//! must carry a hash. Under `pinning "strict"` findings are errors, under `"relaxed"`
//! warnings; a placeholder digest of all zeros is an error in either mode. What is
//! judged is what runs: every release an environment deploys, with everything it
//! inherits through `from=`, under the strictest mode of the environments running it;
//! each finding is reported once, where the value is written.

use std::collections::BTreeMap;

use crate::diag::{Code, Diagnostic, Severity, Span};
use crate::model::{At, Base, Date, Deploy, Model, Pinning as Mode, PromptRef};
use crate::rules::Context;
use crate::rules::catalogue::{Pinning, classify, image_is_pinned};

/// Warn this many days before a snapshot retires.
pub const RETIREMENT_WARNING_DAYS: i64 = 90;

fn severity(mode: Mode) -> Severity {
    match mode {
        Mode::Strict => Severity::Error,
        Mode::Relaxed => Severity::Warning,
    }
}

fn stricter(a: Mode, b: Mode) -> Mode {
    if a == Mode::Strict || b == Mode::Strict {
        Mode::Strict
    } else {
        Mode::Relaxed
    }
}

pub fn check(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    for model in &cx.models {
        // Each value is judged where it is written, at the strictest mode of the
        // deployed releases that use it (directly or through `from=`).
        let mut bases: BTreeMap<&At, (&Base, Mode)> = BTreeMap::new();
        let mut images: BTreeMap<&At, (&str, Mode)> = BTreeMap::new();
        let mut prompts: BTreeMap<&At, (&PromptRef, Mode)> = BTreeMap::new();
        for (version, mode) in deployed_modes(cx, model) {
            let Some(release) = cx.release(&model.name, version) else {
                continue;
            };
            if let Some(base) = &release.base {
                let entry = bases.entry(&base.at).or_insert((base, mode));
                entry.1 = stricter(entry.1, mode);
            }
            if let Some((image, at)) = &release.image {
                let entry = images.entry(at).or_insert((image.as_str(), mode));
                entry.1 = stricter(entry.1, mode);
            }
            if let Some(prompt) = &release.prompt {
                let entry = prompts.entry(&prompt.at).or_insert((prompt, mode));
                entry.1 = stricter(entry.1, mode);
            }
        }
        for (base, mode) in bases.values() {
            model_id(
                cx,
                &base.at,
                "id",
                &base.id,
                base.revision.as_deref(),
                *mode,
                "base model",
                out,
            );
        }
        for (at, (image, mode)) in &images {
            if !image_is_pinned(image) {
                out.push(
                    Diagnostic::new(Code::UnpinnedImage, format!("image `{image}` is not pinned by digest"))
                        .with_severity(severity(*mode))
                        .with_label(cx.spans.field(at, "image"), "a tag can be moved to other bytes")
                        .with_help("pin the image as `<name>@sha256:<64 hex>` (`docker buildx imagetools inspect <image>` prints the digest)"),
                );
            } else if has_placeholder_digest(image) {
                // No image has this digest: it is what a scaffold writes until the
                // real one is known. An error whatever the pinning mode.
                out.push(
                    Diagnostic::new(
                        Code::PlaceholderDigest,
                        format!(
                            "image `{}` has a placeholder digest of all zeros",
                            image.rsplit_once('@').map_or(*image, |(name, _)| name)
                        ),
                    )
                    .with_label(
                        cx.spans.field(at, "image"),
                        "a placeholder, not a pin: no image has this digest",
                    )
                    .with_help("replace the placeholder with your serving image's digest (e.g. `docker buildx imagetools inspect IMAGE` shows it)"),
                );
            }
        }
        for (prompt, mode) in prompts.values() {
            if prompt.version.is_none() {
                out.push(
                    Diagnostic::new(
                        Code::UnversionedPrompt,
                        format!("prompt `{}` is referenced without a version", prompt.name),
                    )
                    .with_severity(severity(*mode))
                    .with_label(cx.spans.node(&prompt.at), "which version?")
                    .with_help(format!(
                        "name the version: `prompt \"{}\" version=<N>`",
                        prompt.name
                    )),
                );
            }
        }
        for deploy in model.deploy.values() {
            if let Some(env) = cx.project().environment.get(&deploy.environment) {
                gates(cx, deploy, env.pinning, out);
            }
        }
    }
}

/// Whether a pinned image's digest is all zeros (`@sha256:000…0`): the placeholder
/// `modelops init` writes, which names no image.
fn has_placeholder_digest(image: &str) -> bool {
    image
        .rsplit_once("@sha256:")
        .is_some_and(|(_, digest)| digest.len() == 64 && digest.bytes().all(|b| b == b'0'))
}

/// Every release of a model with the pinning mode it is judged by: the strictest
/// mode of the environments running it (as stable or candidate), or, for a release
/// no environment runs yet, the strictest mode in the project (it is on its way to
/// one of them).
fn deployed_modes<'m>(cx: &Context<'_>, model: &'m Model) -> BTreeMap<&'m str, Mode> {
    let mut modes: BTreeMap<&str, Mode> = BTreeMap::new();
    for deploy in model.deploy.values() {
        let Some(env) = cx.project().environment.get(&deploy.environment) else {
            continue;
        };
        let releases = deploy
            .stable
            .iter()
            .map(String::as_str)
            .chain(deploy.candidate().map(|c| c.release()));
        for version in releases {
            let entry = modes.entry(version).or_insert(env.pinning);
            *entry = stricter(*entry, env.pinning);
        }
    }
    let strictest = cx
        .project()
        .environment
        .values()
        .map(|env| env.pinning)
        .reduce(stricter)
        .unwrap_or_default();
    for version in model.release.keys() {
        modes.entry(version.as_str()).or_insert(strictest);
    }
    modes
}

fn gates(cx: &Context<'_>, deploy: &Deploy, mode: Mode, out: &mut Vec<Diagnostic>) {
    for gate in deploy.gate.values() {
        if let Some(judge) = &gate.judge {
            model_id(cx, &gate.at, "judge", judge, None, mode, "judge model", out);
        }
        if let Some(dataset) = &gate.dataset
            && dataset.is_remote()
            && dataset.blake3.is_none()
        {
            out.push(
                Diagnostic::new(
                    Code::UnpinnedDataset,
                    format!("remote dataset `{}` has no `blake3=` hash", dataset.path),
                )
                .with_severity(severity(mode))
                .with_label(cx.spans.field(&dataset.at, "path"), "its content can change between runs")
                .with_help("pin it: `dataset \"<url>\" blake3=\"<64 hex>\"` (`b3sum <file>` prints the hash), or commit the dataset to the repository"),
            );
        }
    }
}

#[allow(clippy::too_many_arguments)] // each argument is one fact about the id being judged
fn model_id(
    cx: &Context<'_>,
    at: &crate::model::At,
    field: &str,
    id: &str,
    revision: Option<&str>,
    mode: Mode,
    what: &str,
    out: &mut Vec<Diagnostic>,
) {
    // Which ids float and when snapshots retire is the policy's to say: without
    // it (left out for its schema errors), ids are not judged.
    if cx.left_out.policy {
        return;
    }
    // Spans are looked up only for a finding: most ids are fine.
    let span = || cx.spans.field(at, field);
    let code = if field == "judge" {
        Code::UnpinnedJudge
    } else {
        Code::FloatingModel
    };
    if let Pinning::Floating(why) = classify(id, revision, &cx.project().policy) {
        out.push(
            Diagnostic::new(code, format!("{what} `{id}` is not pinned to a snapshot"))
                .with_severity(severity(mode))
                .with_label(span(), format!("floating: {why}"))
                .with_help(pin_help(id)),
        );
        return;
    }
    retirement(cx, span, id, mode, what, out);
}

fn pin_help(id: &str) -> String {
    let provider = id.split_once('/').map_or("", |(p, _)| p);
    match provider {
        "openai" | "azure-openai" => {
            "use a dated snapshot such as `openai/gpt-4o-2024-08-06`".to_owned()
        }
        "anthropic" => {
            "use a dated snapshot such as `anthropic/claude-3-5-sonnet-20241022`".to_owned()
        }
        "huggingface" => "add `revision=\"<40-hex commit>\"` to the `base` node".to_owned(),
        "vertex" => "use a versioned id such as `vertex/gemini-1.5-pro-002`".to_owned(),
        "bedrock" => {
            "use a versioned id such as `bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0`"
                .to_owned()
        }
        _ => format!(
            "use a snapshot id, or declare this one pinned in modelops.kdl: `policy {{ snapshot \"{id}\" }}`"
        ),
    }
}

fn retirement(
    cx: &Context<'_>,
    span: impl Fn() -> Span,
    id: &str,
    mode: Mode,
    what: &str,
    out: &mut Vec<Diagnostic>,
) {
    let Some(snapshot) = cx.project().policy.snapshot.get(id) else {
        return;
    };
    let Some(retires) = snapshot.retires.as_deref().and_then(Date::parse) else {
        return;
    };
    let days_left = cx.today.days_until(&retires);
    let policy_span = cx.spans.field(&snapshot.at, "retires");
    if days_left <= 0 {
        out.push(
            Diagnostic::new(
                Code::RetiredSnapshot,
                format!("{what} `{id}` retired on {retires}"),
            )
            .with_severity(severity(mode))
            .with_label(
                span(),
                "requests to it fail or are rerouted by the provider",
            )
            .with_label(policy_span, "retirement date set here")
            .with_help("move to a current snapshot in a new release"),
        );
    } else if days_left <= RETIREMENT_WARNING_DAYS {
        out.push(
            Diagnostic::new(
                Code::RetiringSnapshot,
                format!("{what} `{id}` retires on {retires}, in {days_left} days"),
            )
            .with_label(span(), "retiring soon")
            .with_label(policy_span, "retirement date set here")
            .with_help("plan a release on a newer snapshot before the date"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_full_digest_of_zeros_is_a_placeholder() {
        let zeros = "0".repeat(64);
        assert!(has_placeholder_digest(&format!(
            "ghcr.io/a/b@sha256:{zeros}"
        )));
        assert!(has_placeholder_digest(&format!(
            "ghcr.io/a/b:1.0@sha256:{zeros}"
        )));
        let one = format!("{}1", "0".repeat(63));
        assert!(!has_placeholder_digest(&format!(
            "ghcr.io/a/b@sha256:{one}"
        )));
        assert!(!has_placeholder_digest("ghcr.io/a/b@sha256:0000"));
        assert!(!has_placeholder_digest("ghcr.io/a/b:0000"));
    }
}
