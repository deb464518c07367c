//! `modelops fmt`: the canonical layout of the repository's KDL files.
//!
//! Formatting changes whitespace only (see [`canonical`]): every comment, every
//! string as written and the order of everything stay. (The kdl crate's own
//! autoformatter drops end-of-line comments and blank lines and rewrites quoted
//! strings as bare identifiers, so it is not used.) A formatted file must mean exactly what
//! the original meant: the result is parsed again and its JSON view compared with
//! the original's, so formatting can never change a configuration; a file where
//! that would happen is left alone and reported. The module decides bytes only; the
//! caller reads and writes files.

use crate::diag::{Diagnostic, FileId};
use crate::syntax::FileKind;
use crate::syntax::{self, MODEL_FILE, PROJECT_FILE};

/// What formatting one file came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Already in canonical form.
    Unchanged,
    /// The canonical form, which differs from the input.
    Changed(String),
}

/// Why a file was not formatted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// The file is not valid KDL: it cannot be formatted until these are fixed.
    Syntax(Vec<Diagnostic>),
    /// The formatter's output would lower to another configuration (a formatter
    /// defect, never the user's): the file is left as it is.
    WouldChangeMeaning,
}

/// Formats one KDL file of the given kind.
pub fn format_kdl(file: FileId, text: &str, kind: FileKind) -> Result<Outcome, FormatError> {
    let document = syntax::parse(file, text).map_err(FormatError::Syntax)?;
    let formatted = canonical(text);
    if formatted == text {
        return Ok(Outcome::Unchanged);
    }
    let grammar = match kind {
        FileKind::Project => &PROJECT_FILE,
        FileKind::Model => &MODEL_FILE,
    };
    let before = syntax::lower(&document, text, file, grammar).0.value;
    // The formatted text must parse and lower to the same view (spans aside).
    let after = syntax::parse(file, &formatted)
        .ok()
        .map(|doc| syntax::lower(&doc, &formatted, file, grammar).0.value);
    if after.as_ref() != Some(&before) {
        return Err(FormatError::WouldChangeMeaning);
    }
    Ok(Outcome::Changed(formatted))
}

/// The canonical layout of a KDL text that parsed. Only whitespace changes:
///
/// - each line is indented by four spaces per open `{`;
/// - tokens on a line are separated by one space (none around `=`, none inside a
///   type annotation's parentheses, none before `;`), and the gap before a trailing
///   comment is kept, so aligned comments stay aligned;
/// - trailing whitespace goes, runs of blank lines become one, and there are no
///   blank lines at the start, right after `{` or right before `}`;
/// - the file ends with one newline.
///
/// Lines inside multi-line strings and block comments are kept byte for byte.
fn canonical(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth: usize = 0;
    let mut inside: Option<Open> = None;
    let mut pending_blank = false;
    let mut after_open = true;
    for line in text.lines() {
        if let Some(open) = inside {
            // Continue a multi-line construct: keep the line as it is.
            let (rest_start, still) = continue_open(line, open);
            inside = still;
            let tail = match rest_start {
                Some(start) => line.get(start..).unwrap_or(""),
                None => "",
            };
            let (_, opened, depth_change) = lay_out_tokens(tail, 0);
            inside = inside.or(opened);
            depth = apply(depth, depth_change);
            out.push_str(line.trim_end_matches(['\r']));
            out.push('\n');
            after_open = false;
            continue;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() {
            pending_blank = !after_open;
            continue;
        }
        let closes_first = trimmed.starts_with('}');
        let indent = if closes_first {
            depth.saturating_sub(1)
        } else {
            depth
        };
        let (laid_out, opened, depth_change) = lay_out_tokens(trimmed, indent);
        if pending_blank && !closes_first {
            out.push('\n');
        }
        pending_blank = false;
        out.push_str(&laid_out);
        out.push('\n');
        inside = opened;
        depth = apply(depth, depth_change);
        after_open = inside.is_none() && laid_out.trim_end().ends_with('{');
    }
    out
}

fn apply(depth: usize, change: isize) -> usize {
    depth.saturating_add_signed(change)
}

/// A construct that spans lines: a multi-line string (with its raw `#` count, or
/// `None` for an escaped one) or a block comment (with its nesting depth).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Open {
    String { hashes: Option<usize> },
    Comment { nesting: usize },
}

/// Scans a line that starts inside `open`: returns where the construct ends (the
/// byte after it), or `None` with the still-open state.
fn continue_open(line: &str, open: Open) -> (Option<usize>, Option<Open>) {
    let bytes = line.as_bytes();
    match open {
        Open::String { hashes } => {
            let mut i = 0;
            while i < bytes.len() {
                if hashes.is_none() && bytes[i] == b'\\' {
                    i += 2;
                    continue;
                }
                if bytes[i..].starts_with(b"\"\"\"") {
                    let count = hashes.unwrap_or(0);
                    let end = i + 3;
                    if bytes[end..].iter().take_while(|b| **b == b'#').count() >= count {
                        return (Some(end + count), None);
                    }
                }
                i += 1;
            }
            (None, Some(open))
        }
        Open::Comment { mut nesting } => {
            let mut i = 0;
            while i + 1 < bytes.len() {
                if &bytes[i..i + 2] == b"/*" {
                    nesting += 1;
                    i += 2;
                } else if &bytes[i..i + 2] == b"*/" {
                    nesting -= 1;
                    i += 2;
                    if nesting == 0 {
                        return (Some(i), None);
                    }
                } else {
                    i += 1;
                }
            }
            (None, Some(Open::Comment { nesting }))
        }
    }
}

/// One lexical piece of a line.
#[derive(Debug)]
struct Token<'a> {
    text: &'a str,
    /// Whitespace before it in the original line.
    gap: &'a str,
    kind: TokenKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TokenKind {
    Word,
    Str,
    Open,
    Close,
    Semicolon,
    Equals,
    ParenOpen,
    ParenClose,
    SlashDash,
    /// `//…` or a block comment, or the verbatim rest of a line from the start of a
    /// multi-line construct.
    Comment,
    Verbatim,
}

/// Lays out one trimmed line at `indent`; returns the line, the construct left open
/// at its end (if any) and the change in brace depth.
fn lay_out_tokens(line: &str, indent: usize) -> (String, Option<Open>, isize) {
    let (tokens, opened) = tokenize(line);
    let mut out = "    ".repeat(indent);
    let mut change = 0isize;
    let mut previous: Option<TokenKind> = None;
    for token in &tokens {
        let glued = matches!(
            (previous, token.kind),
            (None, _)
                | (
                    Some(TokenKind::Equals | TokenKind::ParenOpen | TokenKind::ParenClose),
                    _
                )
                | (
                    _,
                    TokenKind::Equals | TokenKind::ParenClose | TokenKind::Semicolon
                )
                | (Some(TokenKind::SlashDash), _)
                | (Some(TokenKind::Open), TokenKind::Close)
        ) || (token.kind == TokenKind::ParenOpen
            && previous.is_some_and(|p| p == TokenKind::Equals));
        if !glued {
            if token.kind == TokenKind::Comment && token.text.starts_with("//") {
                out.push_str(if token.gap.is_empty() { " " } else { token.gap });
            } else {
                out.push(' ');
            }
        }
        out.push_str(token.text);
        match token.kind {
            TokenKind::Open => change += 1,
            TokenKind::Close => change -= 1,
            _ => {}
        }
        previous = Some(token.kind);
    }
    if !matches!(opened, Some(Open::String { .. })) {
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
    }
    (out, opened, change)
}

/// Splits a line into tokens. Stops at a multi-line string or an unclosed block
/// comment, whose rest of the line becomes one verbatim token.
fn tokenize<'a>(line: &'a str) -> (Vec<Token<'a>>, Option<Open>) {
    let bytes = line.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let gap_start = i;
        while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
            i += 1;
        }
        let gap = &line[gap_start..i];
        if i >= bytes.len() {
            break;
        }
        let start = i;
        let rest = &line[i..];
        let push = |tokens: &mut Vec<Token<'a>>, end: usize, kind| {
            tokens.push(Token {
                text: &line[start..end],
                gap,
                kind,
            });
        };
        if rest.starts_with("//") {
            push(&mut tokens, bytes.len(), TokenKind::Comment);
            break;
        }
        if rest.starts_with("/*") {
            match continue_open(&line[i + 2..], Open::Comment { nesting: 1 }) {
                (Some(end), _) => {
                    i += 2 + end;
                    push(&mut tokens, i, TokenKind::Comment);
                    continue;
                }
                (None, open) => {
                    push(&mut tokens, bytes.len(), TokenKind::Verbatim);
                    return (tokens, open);
                }
            }
        }
        if rest.starts_with("/-") {
            i += 2;
            push(&mut tokens, i, TokenKind::SlashDash);
            continue;
        }
        let hashes = rest.bytes().take_while(|b| *b == b'#').count();
        if rest[hashes..].starts_with('"') {
            let raw = hashes > 0;
            let body = i + hashes;
            if line[body..].starts_with("\"\"\"") {
                // A multi-line string: keep the rest of the line as it is.
                let open = Open::String {
                    hashes: raw.then_some(hashes),
                };
                match continue_open(&line[body + 3..], open) {
                    (Some(end), _) => {
                        i = body + 3 + end;
                        push(&mut tokens, i, TokenKind::Str);
                        continue;
                    }
                    (None, open) => {
                        push(&mut tokens, bytes.len(), TokenKind::Verbatim);
                        return (tokens, open);
                    }
                }
            }
            i = string_end(line, body + 1, raw.then_some(hashes));
            push(&mut tokens, i, TokenKind::Str);
            continue;
        }
        let single = match bytes[i] {
            b'{' => Some(TokenKind::Open),
            b'}' => Some(TokenKind::Close),
            b';' => Some(TokenKind::Semicolon),
            b'=' => Some(TokenKind::Equals),
            b'(' => Some(TokenKind::ParenOpen),
            b')' => Some(TokenKind::ParenClose),
            _ => None,
        };
        if let Some(kind) = single {
            i += 1;
            push(&mut tokens, i, kind);
            continue;
        }
        while i < bytes.len()
            && !matches!(
                bytes[i],
                b' ' | b'\t' | b'{' | b'}' | b';' | b'=' | b'(' | b')' | b'"' | b'/'
            )
        {
            i += 1;
        }
        if i == start {
            // A lone `/` (not a comment): keep it and move on.
            i += 1;
        }
        push(&mut tokens, i, TokenKind::Word);
    }
    (tokens, None)
}

/// The byte after a single-line string whose body starts at `from`.
fn string_end(line: &str, from: usize, hashes: Option<usize>) -> usize {
    let bytes = line.as_bytes();
    let mut i = from;
    while i < bytes.len() {
        match (bytes[i], hashes) {
            (b'\\', None) => i += 2,
            (b'"', None) => return i + 1,
            (b'"', Some(count)) => {
                if bytes[i + 1..].iter().take_while(|b| **b == b'#').count() >= count {
                    return i + 1 + count;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(text: &str) -> String {
        match format_kdl(FileId(0), text, FileKind::Model).expect("formats") {
            Outcome::Unchanged => text.to_owned(),
            Outcome::Changed(new) => new,
        }
    }

    #[test]
    fn normalises_whitespace_and_keeps_everything_else() {
        let messy = "\n// the bot\n\n\nmodel   \"bot\"{\n\n  owner    \"x\"   // who\n  release \"1.0.0\" from = \"0.9.0\"{\n  params {temperature 0.2}   \n\n  }\n  /- deploy \"x\" {}\n  description (text)\"a;b\" ;\n\n}";
        let expected = "// the bot\n\nmodel \"bot\" {\n    owner \"x\"   // who\n    release \"1.0.0\" from=\"0.9.0\" {\n        params { temperature 0.2 }\n    }\n    /-deploy \"x\" {}\n    description (text)\"a;b\";\n}\n";
        assert_eq!(format(messy), expected);
        assert_eq!(format(expected), expected, "idempotent");
    }

    #[test]
    fn multi_line_strings_and_block_comments_are_kept_byte_for_byte() {
        let text = "model \"bot\" {\n/* a\n   block */ owner \"x\"\n      description \"\"\"\n      two  spaces  \n        kept\n      \"\"\"\n}\n";
        let formatted = format(text);
        assert!(
            formatted.contains("/* a\n   block */ owner \"x\"\n"),
            "{formatted}"
        );
        assert!(
            formatted.contains("two  spaces  \n        kept\n      \"\"\"\n"),
            "{formatted}"
        );
        assert_eq!(format(&formatted), formatted);
    }

    #[test]
    fn non_ascii_text_anywhere_is_kept() {
        let text = "model \"bøt\" {\n  description \"\"\"\n    héllo wörld 日本 \\\"\n    \"\"\"\n  owner #\"ü\"#   // ñ\n  /* é\n   ü */ release \"1.0.0\" {}\n}\n";
        let formatted = format(text);
        assert!(
            formatted.contains("    héllo wörld 日本 \\\"\n    \"\"\"\n"),
            "{formatted}"
        );
        assert!(
            formatted.contains("    owner #\"ü\"#   // ñ\n"),
            "{formatted}"
        );
        assert_eq!(format(&formatted), formatted);
    }

    /// Random documents from KDL lines (random indentation, spacing, comments,
    /// strings of every kind): each formats without a panic, keeps its meaning and
    /// is stable.
    #[test]
    fn random_documents_format_safely() {
        const LINES: &[&str] = &[
            "release   \"1.0.0\"  x = 1 (t)\"y\" #true 0.5",
            "// c é",
            "/* b */ node 日本",
            "/- skipped 1 {\n}",
            "desc #\"r\"a\"#   // ñ",
            "desc \"\"\"\n  må  \n  \"\"\"",
            "a; b ;c",
            "x \\\n      1",
            "/* ü\n   */ y",
            "q \"a\\\"b\"",
            "",
            "\t",
        ];
        const INDENTS: &[&str] = &["", " ", "  ", "\t", "        "];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut formatted = 0;
        for _ in 0..400 {
            let mut text = String::new();
            let mut depth = 0;
            for _ in 0..next(14) {
                text.push_str(INDENTS[next(INDENTS.len())]);
                match next(6) {
                    0 => {
                        text.push_str("model \"m\"{");
                        depth += 1;
                    }
                    1 if depth > 0 => {
                        text.push('}');
                        depth -= 1;
                    }
                    _ => text.push_str(LINES[next(LINES.len())]),
                }
                text.push_str(["\n", "\n\n", "  \n"][next(3)]);
            }
            text.push_str(&"}\n".repeat(depth));
            match format_kdl(FileId(0), &text, FileKind::Model) {
                Ok(Outcome::Changed(new)) => {
                    formatted += 1;
                    assert_eq!(
                        format_kdl(FileId(0), &new, FileKind::Model),
                        Ok(Outcome::Unchanged),
                        "{text:?} → {new:?} is not stable"
                    );
                }
                Ok(Outcome::Unchanged) | Err(FormatError::Syntax(_)) => {}
                Err(FormatError::WouldChangeMeaning) => {
                    panic!("{text:?}: formatting changed the meaning")
                }
            }
        }
        assert!(
            formatted > 100,
            "only {formatted} random documents formatted"
        );
    }

    #[test]
    fn syntax_errors_are_reported_not_formatted() {
        let error = format_kdl(FileId(0), "model \"a\" {", FileKind::Model).unwrap_err();
        assert!(matches!(error, FormatError::Syntax(d) if !d.is_empty()));
    }
}
