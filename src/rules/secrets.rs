//! Credentials written as literals, anywhere in config or prompts: each file's text
//! is scanned ([`crate::syntax::credentials`]), comments included. Decoded values the
//! text hides (KDL escapes, line continuations) are scanned at load, and rendered
//! prompts (a key split across variables) at resolution. Findings are redacted in
//! human output, so the report does not leak the key again.

use crate::diag::{Code, Diagnostic, Span};
use crate::rules::Context;
use crate::syntax::credentials::{find_credentials, help};

pub fn check(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    for (file, source) in cx.files.iter() {
        for (start, end, what) in find_credentials(&source.text) {
            let is_prompt = source.path.starts_with("prompts/");
            out.push(
                Diagnostic::new(Code::CredentialLiteral, format!("this looks like {what}"))
                    .with_label(
                        Span::new(file, start, end),
                        "credential written in the repository",
                    )
                    .with_help(help(is_prompt))
                    .redacted(),
            );
        }
    }
}
