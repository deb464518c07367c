//! Text that came from users, made safe to print on a terminal or into a CI log.
//!
//! A prompt line, a git author name, a score id or a server's error message can hold
//! escape sequences (which move the cursor, retitle the window or hide the lines
//! before them), bidirectional overrides (which show text in another order than it
//! is read), and GitHub Actions workflow commands: a log line whose text starts
//! with `::` (after leading whitespace), or holds `##[`, is a command to the runner
//! (see `ActionCommand.TryParseV2` and `TryParse` in actions/runner,
//! `src/Runner.Common/ActionCommand.cs`) — `::add-mask::`, `::error …::`, `::stop-commands::`.
//!
//! [`text`] shows control characters as `\u{…}` escapes and breaks workflow commands
//! with a zero-width non-joiner after their first character, which a reader does not
//! see and the runner does not parse. [`same_length`] replaces control characters
//! byte for byte, for text whose byte offsets must not move (source snippets).

use std::borrow::Cow;

/// The zero-width non-joiner put inside `::` and `##[`.
const BREAK: char = '\u{200c}';

fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

/// `text` with control characters escaped and workflow commands broken.
pub fn text(text: &str) -> Cow<'_, str> {
    let escaped = if text.chars().any(is_unsafe) {
        let mut out = String::with_capacity(text.len() + 16);
        for c in text.chars() {
            if is_unsafe(c) {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            } else {
                out.push(c);
            }
        }
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    };
    match workflow(&escaped) {
        Cow::Borrowed(_) => escaped,
        Cow::Owned(out) => Cow::Owned(out),
    }
}

/// `text` with every workflow command broken: `::` starting a line (after
/// whitespace) and any `##[`.
pub fn workflow(text: &str) -> Cow<'_, str> {
    let starts_command = |line: &str| line.trim_start().starts_with("::");
    if !text.contains("##[") && !text.split('\n').any(starts_command) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let line = line.replace("##[", "#\u{200c}#[");
        if starts_command(&line) {
            let indent = line.len() - line.trim_start().len();
            out.push_str(&line[..indent]);
            out.push(':');
            out.push(BREAK);
            out.push_str(&line[indent + 1..]);
        } else {
            out.push_str(&line);
        }
    }
    Cow::Owned(out)
}

/// `text` with each unsafe character replaced by as many `?` as its UTF-8 bytes, so
/// that byte offsets into it stay valid.
pub fn same_length(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_unsafe(c) {
            out.extend(std::iter::repeat_n('?', c.len_utf8()));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// For JSON text: `##[` inside strings written as `\u0023#[` — the same data for a
/// JSON reader, no command for the runner. (JSON has no raw control characters, and
/// its lines never start with `::`.)
pub fn json(text: &str) -> Cow<'_, str> {
    if text.contains("##[") {
        Cow::Owned(text.replace("##[", "\\u0023#["))
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_breaks_workflow_commands() {
        assert_eq!(text("plain"), "plain");
        assert_eq!(text("a\u{1b}[2Jb\r"), "a\\u{1b}[2Jb\\u{d}");
        assert_eq!(text("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(text("ok\n  ::add-mask::x"), "ok\n  :\u{200c}:add-mask::x");
        assert_eq!(text("see ##[error]x"), "see #\u{200c}#[error]x");
        assert_eq!(text("a :: b"), "a :: b");
        assert_eq!(same_length("a\u{1b}b\u{85}c"), "a?b??c");
        let data = serde_json::json!({"id": "##[error]x"}).to_string();
        let safe = json(&data);
        assert!(!safe.contains("##["));
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["id"], "##[error]x");
    }
}
