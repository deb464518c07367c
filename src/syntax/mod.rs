//! KDL text → parsed document → canonical JSON view with spans.
//!
//! This stage owns everything about KDL: parsing (with every syntax error of a file
//! reported, not only the first), the nesting bound that keeps the parser's recursion
//! safe, and the lowering of a document to the JSON view that the schema validates
//! (see `schema/README.md`). It knows nothing of what the configuration means.

pub mod bounds;
pub mod credentials;
mod fast;
pub mod fmt;
mod grammar;
mod lower;
mod spans;
pub mod template;

pub use grammar::{FREE_MAP_NODES, KEYED_NODES, MODEL_FILE, NodeGrammar, PROJECT_FILE, Shape};
pub use lower::{View, lower};
pub use spans::{Origin, Pointer, SpanEntry, SpanTable};

use kdl::KdlDocument;

use crate::diag::{Code, Diagnostic, FileId, Span};

pub use crate::layout::{MAX_NESTING, MAX_PREFIX_RUN};

/// Which file a document is: the project file or a model file. It decides the
/// grammar a document lowers by, and the part of the schema its view is checked
/// against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Project,
    Model,
}

/// Parses one KDL v2 file for lowering to its view: through the fast parser of the
/// plain subset when the file is within it, else as [`parse`] does. The document
/// keeps names, values, spans and each value's text, not the formatting that
/// rewriting a file needs (use [`parse`] for that).
pub fn parse_for_view(file: FileId, text: &str) -> Result<KdlDocument, Vec<Diagnostic>> {
    match parse_fast(text) {
        Some(document) => Ok(document),
        None => parse(file, text),
    }
}

/// The fast parser alone (`None` outside its subset); public so that tests hold it
/// to the kdl crate's parser.
pub fn parse_fast(text: &str) -> Option<KdlDocument> {
    if bounds::check(text).is_some() {
        return None;
    }
    fast::parse(text)
}

/// Parses one KDL v2 file, reporting every syntax error it contains.
pub fn parse(file: FileId, text: &str) -> Result<KdlDocument, Vec<Diagnostic>> {
    if let Some(offset) = text.find('\0') {
        return Err(vec![
            Diagnostic::new(Code::InvalidEncoding, "the file contains a NUL byte")
                .with_label(Span::new(file, offset, offset + 1), "NUL byte here")
                .with_help("KDL files are UTF-8 text; this looks like a binary file"),
        ]);
    }
    if let Some(limit) = bounds::check(text) {
        return Err(vec![bound_diagnostic(file, limit)]);
    }
    KdlDocument::parse_v2(text).map_err(|error| {
        let mut out: Vec<Diagnostic> = error
            .diagnostics
            .iter()
            .map(|d| syntax_diagnostic(file, text, d))
            .collect();
        if out.is_empty() {
            out.push(
                Diagnostic::new(Code::KdlSyntax, "the file is not valid KDL")
                    .with_label(Span::new(file, 0, 0), "")
                    .with_help("check the file against the KDL v2 syntax"),
            );
        }
        out
    })
}

fn bound_diagnostic(file: FileId, limit: bounds::Limit) -> Diagnostic {
    use bounds::Exceeded;
    let (message, label, help) = match limit.exceeded {
        Exceeded::Blocks(depth) => (
            format!("children blocks are nested more than {MAX_NESTING} levels deep"),
            format!("level {depth} opens here"),
            "the modelops language needs at most six levels; flatten the document, or close the string or comment before this point",
        ),
        Exceeded::Comments(depth) => (
            format!("block comments are nested more than {MAX_NESTING} levels deep"),
            format!("comment level {depth} opens here"),
            "close each `/*` with `*/`; a comment inside a comment is rarely meant",
        ),
        Exceeded::Prefixes(count) => (
            format!(
                "more than {MAX_PREFIX_RUN} slashdashes, line continuations or type annotations in a row"
            ),
            format!("number {count} of the run"),
            "remove the repeated `/-`, `\\` or `(type)` prefixes: one is enough",
        ),
    };
    Diagnostic::new(Code::NestingTooDeep, message)
        .with_label(Span::new(file, limit.offset, limit.offset + 1), label)
        .with_help(help)
}

fn syntax_diagnostic(file: FileId, text: &str, d: &kdl::KdlDiagnostic) -> Diagnostic {
    let start = d.span.offset().min(text.len());
    let end = (start + d.span.len()).min(text.len());
    let (mut start, end) = narrow(text, start, end);
    // "expected property value" spans the whole node head; point at the `key=`.
    if d.message
        .as_deref()
        .is_some_and(|m| m.contains("property value"))
        && let Some(head) = text.get(start..end)
        && let Some(space) = head.trim_end().rfind(char::is_whitespace)
    {
        start += space + 1;
    }
    let message = d
        .message
        .clone()
        .unwrap_or_else(|| "invalid KDL".to_owned());
    let message = lowercase_first(message.trim_end_matches('.'));
    let label = d.label.clone().unwrap_or_else(|| "here".to_owned());
    let label = match label.strip_prefix("not ") {
        Some("closed") => "never closed".to_owned(),
        Some(thing) => format!("expected {thing} here"),
        None => lowercase_first(&label),
    };
    let token = text.get(start..end).unwrap_or_default();
    let help = syntax_help(&message, token)
        .map(str::to_owned)
        .or_else(|| d.help.as_deref().map(lowercase_first))
        .unwrap_or_else(|| GENERAL_SYNTAX_HELP.to_owned());
    Diagnostic::new(Code::KdlSyntax, message)
        .with_label(Span::new(file, start, end), label)
        .with_help(help)
}

const GENERAL_SYNTAX_HELP: &str = "see the KDL v2 syntax: quote strings that contain spaces or start with a digit; booleans are #true and #false";

/// Help for the syntax errors people make most, by the parser's message.
fn syntax_help(message: &str, token: &str) -> Option<&'static str> {
    if matches!(token, "true" | "false" | "null") {
        return Some("KDL v2 writes booleans and null with a `#`: `#true`, `#false`, `#null`");
    }
    if message.contains("newline in single-line quoted string") {
        return Some(
            "close the string with `\"` on the same line; for text over several lines use `\"\"\"` … `\"\"\"`",
        );
    }
    if message.contains("'.' of a float") {
        return Some("write a digit after the `.` (`1.0`), or an integer (`1`)");
    }
    if message.contains("closing '}'") {
        return Some("add the missing `}`: every `{` opens a block that must be closed");
    }
    if message.contains("property value") {
        return Some("write the value right after `=`, as in `key=\"value\"`");
    }
    None
}

/// Some parser errors span from the start of the document to the offending token;
/// keep only the last line of such a span so the label points at the token.
fn narrow(text: &str, start: usize, end: usize) -> (usize, usize) {
    let Some(slice) = text.get(start..end) else {
        return (start, end);
    };
    let trimmed = slice.trim_end();
    let trimmed_end = start + trimmed.len();
    match trimmed.rfind('\n') {
        Some(newline) => {
            let line = &trimmed[newline + 1..];
            let lead = line.len() - line.trim_start().len();
            (
                start + newline + 1 + lead,
                trimmed_end.max(start + newline + 1 + lead),
            )
        }
        None => (start, end),
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if chars.clone().next().is_some_and(|c| c.is_lowercase()) => {
            first.to_lowercase().chain(chars).collect()
        }
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Input just within every bound parses (or fails) on a 2 MiB stack, the size of
    /// the analysis threads' stacks, in a debug build; just past a bound it is refused
    /// before the parser runs.
    #[test]
    fn the_parser_survives_everything_within_the_bounds() {
        let n = MAX_NESTING;
        let p = MAX_PREFIX_RUN;
        let open = "{".repeat(n);
        let cases = [
            "a {".repeat(n) + &"}".repeat(n),
            "/*".repeat(n) + &"*/".repeat(n),
            "/*".repeat(n),
            format!("a {}b", "/- ".repeat(p)),
            format!("a {}{{}}", "/-".repeat(p)),
            format!("a {}b", "/-(t)".repeat(p)),
            format!("a {}b", "\\ ".repeat(p)),
            format!("a \"\"\"\n{open}"),
            format!("a #\"\n{open}"),
            format!("a \"\n{open}"),
            "0\" {\n".repeat(n),
            format!(
                "{}b \"\"\"\n{}{}",
                "a {".repeat(n / 2),
                "{".repeat(n / 2),
                "/- ".repeat(p)
            ),
            format!("{}{}", "a {\n/- ".repeat(n), "/-".repeat(p)),
        ];
        let worker = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || {
                for case in &cases {
                    let _ = parse(FileId(0), case);
                    let _ = parse(FileId(0), &format!("{case}{{"));
                    let _ = parse(FileId(0), &format!("{case}/-/-"));
                }
            })
            .unwrap();
        assert!(worker.join().is_ok());
        for past in [
            "a {".repeat(n + 1),
            "/*".repeat(n + 1),
            format!("a {}b", "/- ".repeat(p + 1)),
            format!("a \"\"\"\n{open}{{"),
        ] {
            let errors = parse(FileId(0), &past).unwrap_err();
            assert_eq!(errors[0].code, Code::NestingTooDeep, "{past:.40}");
        }
    }

    #[test]
    fn deep_input_is_refused_before_parsing() {
        let deep = "a {".repeat(3000) + &"}".repeat(3000);
        let errors = parse(FileId(0), &deep).unwrap_err();
        assert_eq!(errors[0].code, Code::NestingTooDeep);
    }
}
