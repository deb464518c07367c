//! Credentials written as literals, anywhere in config or prompts.
//!
//! Matching is by the credential formats of the providers (OpenAI and Anthropic
//! `sk-…`, AWS `AKIA…`, GitHub `ghp_…`/`github_pat_…`, Slack `xox…`, PEM private keys).
//! Findings are redacted in human output, so the report does not leak the key again.

use std::sync::OnceLock;

use regex::bytes::{Regex, RegexBuilder};

use crate::diag::{Code, Diagnostic, Span};
use crate::rules::Context;

struct Pattern {
    what: &'static str,
    regex: Regex,
}

fn patterns() -> &'static [Pattern] {
    static PATTERNS: OnceLock<Vec<Pattern>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        // Constant patterns, covered by the tests below.
        // Credential formats are ASCII: matching bytes without Unicode tables keeps
        // compilation cheap, and byte offsets are offsets into the text.
        let p = |what, pattern: &str| Pattern {
            what,
            regex: RegexBuilder::new(pattern)
                .unicode(false)
                .build()
                .expect("constant pattern compiles"),
        };
        vec![
            p("an Anthropic API key", r"\bsk-ant-[A-Za-z0-9_\-]{20,}"),
            p("an OpenAI API key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"),
            p("an AWS access key id", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
            p("a GitHub token", r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b"),
            p("a GitHub token", r"\bgithub_pat_[A-Za-z0-9_]{22,}"),
            p("a Slack token", r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"),
            // The whole block, so its body is masked too (to the end if never closed).
            p(
                "a private key",
                r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?s:.*?)(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\z)",
            ),
        ]
    })
}

/// Literal prefixes of every pattern: text without any of them cannot match, and is
/// passed over without compiling the patterns.
const PREFIXES: &[&str] = &[
    "sk-",
    "AKIA",
    "ASIA",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "xox",
    "PRIVATE KEY",
];

/// A matcher of any of [`PREFIXES`]: one pass over the text (the regex crate runs a
/// literal alternation as a multi-substring search) instead of one per prefix.
fn any_prefix() -> &'static Regex {
    static ANY: OnceLock<Regex> = OnceLock::new();
    ANY.get_or_init(|| {
        let alternation: Vec<String> = PREFIXES.iter().map(|p| regex::escape(p)).collect();
        RegexBuilder::new(&alternation.join("|"))
            .unicode(false)
            .build()
            .expect("an alternation of escaped literals compiles")
    })
}

/// Every credential-looking literal in `text`: byte range and what it looks like.
pub fn find_credentials(text: &str) -> Vec<(usize, usize, &'static str)> {
    if !any_prefix().is_match(text.as_bytes()) {
        return Vec::new();
    }
    let mut found: Vec<(usize, usize, &'static str)> = Vec::new();
    for pattern in patterns() {
        for m in pattern.regex.find_iter(text.as_bytes()) {
            // The Anthropic pattern comes first; skip the OpenAI match of the same key.
            if !found.iter().any(|(s, e, _)| m.start() < *e && *s < m.end()) {
                found.push((m.start(), m.end(), pattern.what));
            }
        }
    }
    found.sort();
    found
}

pub fn check(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    for (file, source) in cx.files.iter() {
        for (start, end, what) in find_credentials(&source.text) {
            let is_prompt = source.path.starts_with("prompts/");
            out.push(
                Diagnostic::new(Code::CredentialLiteral, format!("this looks like {what}"))
                    .with_label(Span::new(file, start, end), "credential written in the repository")
                    .with_help(if is_prompt {
                        "never put credentials in a prompt: the model can repeat them to users; revoke this one"
                    } else {
                        "reference it instead: `secret \"ENV_VAR\" from=\"<kubernetes secret>\" key=\"<key>\"`, and revoke this one"
                    })
                    .redacted(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_provider_credentials_and_not_lookalikes() {
        let hits = |t: &str| {
            find_credentials(t)
                .into_iter()
                .map(|h| h.2)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            hits("key=\"sk-ant-api03-abcdefghijklmnopqrstuvwxyz\""),
            ["an Anthropic API key"]
        );
        assert_eq!(
            hits("sk-proj-abcdefghijklmnopqrstuvwx"),
            ["an OpenAI API key"]
        );
        assert_eq!(hits("AKIAIOSFODNN7EXAMPLE"), ["an AWS access key id"]);
        assert_eq!(hits(&format!("ghp_{}", "a".repeat(36))), ["a GitHub token"]);
        assert_eq!(
            hits("github_pat_11ABCDEFG0123456789abcdef_xyz"),
            ["a GitHub token"]
        );
        assert_eq!(hits("xoxb-123456789012-abcdef"), ["a Slack token"]);
        assert_eq!(hits("-----BEGIN RSA PRIVATE KEY-----"), ["a private key"]);
        let block = "x\n-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\ny";
        let found = find_credentials(block);
        assert_eq!(
            &block[found[0].0..found[0].1],
            "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----"
        );
        assert!(hits("task-abcdefghijklmnopqrstuvwxyz and risk-free, sk-short").is_empty());
        assert!(hits("secret \"OPENAI_API_KEY\" from=\"llm-keys\" key=\"openai\"").is_empty());
    }
}
