//! What a pinned model id looks like, provider by provider.
//!
//! The catalogue holds aliases and snapshot forms only, no dates: whether a repository
//! passes changes with the calendar only where its own policy says `retires=`. A
//! repository extends it in `policy`: `alias "<id>"` (floating), `snapshot "<id>"`
//! (pinned, optionally `retires="YYYY-MM-DD"`), `floating-tag "<tag>"`.

use regex::{Regex, RegexBuilder};
use std::sync::OnceLock;

use crate::model::Policy;

/// Whether a model id names one fixed snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pinning {
    Pinned,
    /// Floating, and why (one sentence, lower case).
    Floating(String),
}

/// Ids the providers document as moving aliases.
const KNOWN_ALIASES: &[&str] = &[
    "openai/gpt-4o",
    "openai/gpt-4o-mini",
    "openai/gpt-4",
    "openai/gpt-4-turbo",
    "openai/gpt-4-turbo-preview",
    "openai/gpt-3.5-turbo",
    "openai/gpt-4.1",
    "openai/gpt-4.1-mini",
    "openai/gpt-4.1-nano",
    "openai/gpt-5",
    "openai/gpt-5-mini",
    "openai/gpt-5-nano",
    "openai/o1",
    "openai/o1-mini",
    "openai/o3",
    "openai/o3-mini",
    "openai/o4-mini",
    "openai/chatgpt-4o-latest",
    "anthropic/claude-3-5-sonnet-latest",
    "anthropic/claude-3-7-sonnet-latest",
    "anthropic/claude-3-5-haiku-latest",
    "anthropic/claude-3-opus-latest",
    "anthropic/claude-sonnet-4-0",
    "anthropic/claude-opus-4-0",
    "anthropic/claude-opus-4-1",
    "anthropic/claude-sonnet-4-5",
    "anthropic/claude-haiku-4-5",
    "vertex/gemini-1.5-pro",
    "vertex/gemini-1.5-flash",
    "vertex/gemini-2.0-flash",
    "vertex/gemini-2.5-pro",
    "vertex/gemini-2.5-flash",
];

/// The providers modelops knows the snapshot form of.
pub const KNOWN_PROVIDERS: &[&str] = &[
    "openai",
    "anthropic",
    "azure-openai",
    "vertex",
    "bedrock",
    "huggingface",
    "self-hosted",
];

struct Forms {
    openai: Regex,
    anthropic_dated: Regex,
    anthropic_version: Regex,
    vertex: Regex,
    bedrock: Regex,
    git_commit: Regex,
}

fn forms() -> &'static Forms {
    static FORMS: OnceLock<Forms> = OnceLock::new();
    FORMS.get_or_init(|| {
        // Constant patterns, covered by the tests below: failing to compile one is a
        // bug in modelops, never something a user's input can cause.
        // The forms are ASCII; without Unicode tables they compile in microseconds.
        let re = |pattern: &str| {
            RegexBuilder::new(pattern)
                .unicode(false)
                .build()
                .expect("constant pattern compiles")
        };
        Forms {
            // gpt-4o-2024-08-06, gpt-4-0613; fine-tunes (ft:…) are immutable.
            openai: re(r"(-\d{4}-\d{2}-\d{2}|-\d{4})$|^ft:"),
            anthropic_dated: re(r"-\d{8}$"),
            // claude-opus-4-6, claude-sonnet-5: the generation's numbers.
            anthropic_version: re(r"^claude-[a-z]+-(\d+)(?:-(\d+))?$"),
            // gemini-1.5-pro-002, claude-3-5-sonnet@20240620.
            vertex: re(r"(-\d{3}|@\d{8})$"),
            // anthropic.claude-3-5-sonnet-20240620-v1:0, amazon.titan-text-express-v1.
            bedrock: re(r"-v\d+(:\d+)?$"),
            git_commit: re(r"^[0-9a-f]{40}$"),
        }
    })
}

/// Judges `id` (`<provider>/<model>`), with a Hugging Face `revision` when given.
pub fn classify(id: &str, revision: Option<&str>, policy: &Policy) -> Pinning {
    let floating = |why: &str| Pinning::Floating(why.to_owned());
    if policy.snapshot.contains_key(id) {
        return Pinning::Pinned;
    }
    if policy.alias.iter().any(|a| a == id) {
        return floating("the project's policy declares it an alias");
    }
    let Some((provider, model)) = id.split_once('/') else {
        return floating("it has no `<provider>/` prefix");
    };
    for tag in policy
        .floating_tag
        .iter()
        .map(String::as_str)
        .chain(["latest"])
    {
        if model == tag
            || [b'-', b':', b'@', b'.', b'/'].iter().any(|sep| {
                model.len() > tag.len()
                    && model.ends_with(tag)
                    && model.as_bytes().get(model.len() - tag.len() - 1) == Some(sep)
            })
        {
            return Pinning::Floating(format!("it ends in the floating tag `{tag}`"));
        }
    }
    if KNOWN_ALIASES.contains(&id) {
        return floating("the provider moves this alias to new snapshots");
    }
    let forms = forms();
    match provider {
        "openai" | "azure-openai" if forms.openai.is_match(model) => Pinning::Pinned,
        "openai" | "azure-openai" => {
            floating("OpenAI snapshots end in a date (`-2024-08-06` or `-0613`)")
        }
        "anthropic" if forms.anthropic_dated.is_match(model) => Pinning::Pinned,
        "anthropic" => match forms.anthropic_version.captures(model) {
            Some(caps) => {
                let number = |i| caps.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
                let version = (number(1).unwrap_or(0), number(2).unwrap_or(0));
                if version >= (4, 6) {
                    Pinning::Pinned
                } else {
                    floating(
                        "Anthropic snapshots before the 4.6 generation end in a date (`-20241022`)",
                    )
                }
            }
            None => floating("Anthropic snapshots end in a date (`-20241022`)"),
        },
        "vertex" if forms.vertex.is_match(model) => Pinning::Pinned,
        "vertex" => floating("Vertex AI snapshots end in a version (`-002`) or `@YYYYMMDD`"),
        "bedrock" if forms.bedrock.is_match(model) => Pinning::Pinned,
        "bedrock" => floating("Bedrock model ids end in a version (`-v1:0`)"),
        "huggingface" => match revision {
            Some(r) if forms.git_commit.is_match(r) => Pinning::Pinned,
            Some(_) => {
                floating("a Hugging Face `revision` must be a 40-hex commit, not a branch or tag")
            }
            None => floating("a Hugging Face model needs `revision=\"<40-hex commit>\"`"),
        },
        // Self-hosted weights ship inside the image, which is pinned by digest.
        "self-hosted" => Pinning::Pinned,
        _ => floating("modelops does not know this provider's snapshot form"),
    }
}

/// Whether an image reference is pinned by digest.
pub fn image_is_pinned(image: &str) -> bool {
    let Some((_, digest)) = image.rsplit_once("@sha256:") else {
        return false;
    };
    digest.len() == 64
        && digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            floating_tag: vec!["preview".into()],
            ..Policy::default()
        }
    }

    fn pinned(id: &str) -> bool {
        classify(id, None, &policy()) == Pinning::Pinned
    }

    #[test]
    fn provider_aware_snapshot_forms() {
        assert!(pinned("openai/gpt-4o-2024-08-06"));
        assert!(pinned("openai/gpt-4-0613"));
        assert!(!pinned("openai/gpt-4o"));
        assert!(!pinned("openai/gpt-4"));
        assert!(!pinned("openai/gpt-4o-latest"));
        assert!(pinned("anthropic/claude-3-5-sonnet-20241022"));
        assert!(!pinned("anthropic/claude-3-5-sonnet-latest"));
        assert!(!pinned("anthropic/claude-sonnet-4-5"));
        assert!(pinned("anthropic/claude-sonnet-4-6"));
        assert!(pinned("anthropic/claude-opus-5"));
        assert!(pinned("vertex/gemini-1.5-pro-002"));
        assert!(!pinned("vertex/gemini-1.5-pro"));
        assert!(pinned("bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0"));
        assert!(!pinned("huggingface/meta-llama/Llama-3-8B"));
        assert!(pinned("self-hosted/llama-3-8b"));
        assert!(!pinned("self-hosted/llama:latest"));
        assert!(!pinned("openai/gpt-4o-2024-08-06-preview"));
        assert!(!pinned("vendor/model-x"));
        let hf = classify(
            "huggingface/meta-llama/Llama-3-8B",
            Some(&"a".repeat(40)),
            &policy(),
        );
        assert_eq!(hf, Pinning::Pinned);
    }

    #[test]
    fn images_need_a_digest() {
        assert!(image_is_pinned(&format!(
            "ghcr.io/a/b@sha256:{}",
            "0".repeat(64)
        )));
        assert!(!image_is_pinned("ghcr.io/a/b:1.2"));
        assert!(!image_is_pinned("ghcr.io/a/b@sha256:abc"));
    }
}
