//! Credentials by their formats: OpenAI and Anthropic `sk-…`, AWS `AKIA…`, GitHub
//! `ghp_…`/`github_pat_…`, Slack `xox…`, and private key blocks (PEM, PKCS#8,
//! OpenSSH, PGP). The rules scan the files' text with it, the loader each decoded
//! string value (after KDL escapes and line continuations), and resolution each
//! rendered prompt (a key split across variables).
//!
//! A provider key is random: its body mixes upper-case and lower-case letters. Words
//! that merely start like one (`sk-learn-pipeline-2024`) do not.

use std::sync::OnceLock;

use regex::bytes::{Regex, RegexBuilder};

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
            p(
                "a PGP private key",
                r"-----BEGIN PGP PRIVATE KEY BLOCK-----(?s:.*?)(?:-----END PGP PRIVATE KEY BLOCK-----|\z)",
            ),
            p("a PuTTY private key", r"PuTTY-User-Key-File-[0-9]+:(?s:.*?)(?:Private-MAC:[^\n]*|\z)"),
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
    "PuTTY-User-Key-File-",
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

/// Whether a match of an `sk-` pattern has the mixed body of a generated key.
fn looks_random(what: &str, matched: &[u8]) -> bool {
    if !what.ends_with("API key") {
        return true;
    }
    let body = matched.rsplit(|&b| b == b'-').next().unwrap_or(matched);
    let body = if body.len() >= 8 { body } else { matched };
    // 48 random letters and digits hold both cases but for odds of about 1 in 10^9.
    body.iter().any(u8::is_ascii_uppercase) && body.iter().any(u8::is_ascii_lowercase)
}

/// Every credential-looking literal in `text`: byte range and what it looks like.
pub fn find_credentials(text: &str) -> Vec<(usize, usize, &'static str)> {
    if !any_prefix().is_match(text.as_bytes()) {
        return Vec::new();
    }
    let mut found: Vec<(usize, usize, &'static str)> = Vec::new();
    for pattern in patterns() {
        for m in pattern.regex.find_iter(text.as_bytes()) {
            if !looks_random(pattern.what, m.as_bytes()) {
                continue;
            }
            // The Anthropic pattern comes first; skip the OpenAI match of the same key.
            if !found.iter().any(|(s, e, _)| m.start() < *e && *s < m.end()) {
                found.push((m.start(), m.end(), pattern.what));
            }
        }
    }
    found.sort();
    found
}

/// The help of a credential finding, by where it was written.
pub fn help(in_prompt: bool) -> &'static str {
    if in_prompt {
        "never put credentials in a prompt: the model can repeat them to users; revoke this one"
    } else {
        "reference it instead: `secret \"ENV_VAR\" from=\"<kubernetes secret>\" key=\"<key>\"`, and revoke this one"
    }
}

/// Every credential in the decoded string values of `value` (a file's JSON view)
/// that the file's `text` does not show literally — hidden by KDL escapes
/// (`\u{73}k-…`) or a line continuation — with the JSON pointer of the value.
pub fn hidden_in_values(
    value: &serde_json::Value,
    text: &str,
    at: crate::syntax::Pointer,
    out: &mut Vec<(crate::syntax::Pointer, &'static str)>,
) {
    match value {
        serde_json::Value::String(s) => {
            for (start, end, what) in find_credentials(s) {
                if let Some(found) = s.get(start..end)
                    && !text.contains(found)
                {
                    out.push((at.clone(), what));
                }
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                hidden_in_values(item, text, at.index(i), out);
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                hidden_in_values(item, text, at.push(key), out);
            }
        }
        _ => {}
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
            hits("key=\"sk-ant-api03-aB3defGhijKlmn0pqrstuvwxyz\""),
            ["an Anthropic API key"]
        );
        assert_eq!(
            hits("sk-proj-aBcdEf9hijklmnopqrstuvwx"),
            ["an OpenAI API key"]
        );
        assert_eq!(
            hits("sk-T3BlbkFJa1b2c3d4e5f6g7h8i9j0kLmNoPqRsTuVwXyZ"),
            ["an OpenAI API key"]
        );
        // Words that start like a key are not one.
        assert!(hits("sk-learn-pipeline-classification-2024").is_empty());
        assert!(hits("sk-learn-preprocessing-standardscaler").is_empty());
        assert_eq!(
            hits(
                "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----"
            ),
            ["a PGP private key"]
        );
        assert_eq!(
            hits("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----"),
            ["a private key"]
        );
        assert_eq!(
            hits(
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIF\n-----END ENCRYPTED PRIVATE KEY-----"
            ),
            ["a private key"]
        );
        assert_eq!(
            hits("PuTTY-User-Key-File-3: ssh-ed25519\nPrivate-Lines: 1\nAAAA\nPrivate-MAC: ab12"),
            ["a PuTTY private key"]
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
