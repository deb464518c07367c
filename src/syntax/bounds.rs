//! The bounds a KDL file is held to before any parser sees it.
//!
//! The kdl crate's parser recurses on children blocks, on nested block comments, on
//! runs of slashdash (`/-`), line continuations (`\`) and type annotations, and —
//! while recovering from an unclosed string or comment — on every `{` after it. A few
//! kilobytes of any of these overflow a thread's stack, which aborts the process. One
//! linear, iterative scan finds the first place a file goes past a bound, so that the
//! file gets a diagnostic (MO104) instead of a parser:
//!
//! - children blocks nested more than [`MAX_NESTING`] deep, counting the `{` after an
//!   unclosed string or block comment as the parser's recovery does;
//! - block comments nested more than [`MAX_NESTING`] deep;
//! - more than [`MAX_PREFIX_RUN`] slashdashes, line continuations, type annotations
//!   and `=` or `}` that closes nothing, in a row with nothing else between them (the
//!   parser's recovery recurses on each).
//!
//! The bounds are far beyond what the language needs (six levels, a prefix or two) and
//! far below what overflows a 2 MiB thread stack in a debug build (the tests hold the
//! parser to that).

pub use crate::layout::{MAX_NESTING, MAX_PREFIX_RUN};

/// Which bound a file goes past.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exceeded {
    /// Children blocks, at this depth.
    Blocks(usize),
    /// Block comments, at this depth.
    Comments(usize),
    /// Slashdashes, line continuations and type annotations in a row, this many.
    Prefixes(usize),
}

/// Where a file first goes past a bound: the byte offset and the bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub offset: usize,
    pub exceeded: Exceeded,
}

/// How deep braces may nest when strings are not told apart from code. The
/// parser's error recovery does not always read a quote where the language does
/// (after `name"…` with no space, for one), and then parses `{` that the scan below
/// takes for string content as children blocks: a bound that ignores strings
/// catches what that disagreement would let through.
pub const MAX_RAW_NESTING: usize = 2 * MAX_NESTING;

/// The first place `text` goes past a bound, if any.
pub fn check(text: &str) -> Option<Limit> {
    scan(text).or_else(|| raw_braces(text))
}

/// Braces counted without regard to strings or comments, past [`MAX_RAW_NESTING`].
fn raw_braces(text: &str) -> Option<Limit> {
    let mut raw = 0usize;
    for (offset, &byte) in text.as_bytes().iter().enumerate() {
        match byte {
            b'{' => {
                raw += 1;
                if raw > MAX_RAW_NESTING {
                    return Some(Limit {
                        offset,
                        exceeded: Exceeded::Blocks(raw),
                    });
                }
            }
            b'}' => raw = raw.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// The scan that reads strings and comments as the language does.
fn scan(text: &str) -> Option<Limit> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut run = 0usize;
    let mut i = 0usize;
    while let Some(&byte) = bytes.get(i) {
        let next = bytes.get(i + 1).copied();
        match (byte, next) {
            (b'{', _) => {
                depth += 1;
                run = 0;
                if depth > MAX_NESTING {
                    return Some(Limit {
                        offset: i,
                        exceeded: Exceeded::Blocks(depth),
                    });
                }
                i += 1;
            }
            (b'}', _) if depth > 0 => {
                depth -= 1;
                run = 0;
                i += 1;
            }
            // A `}` that closes nothing: the parser's recovery recurses on each.
            (b'}', _) => {
                run += 1;
                if run > MAX_PREFIX_RUN {
                    return Some(Limit {
                        offset: i,
                        exceeded: Exceeded::Prefixes(run),
                    });
                }
                i += 1;
            }
            (b'/', Some(b'/')) => i = line_end(bytes, i),
            (b'/', Some(b'*')) => match block_comment(bytes, i) {
                Comment::Closed(end) => i = end,
                Comment::TooDeep(offset, level) => {
                    return Some(Limit {
                        offset,
                        exceeded: Exceeded::Comments(level),
                    });
                }
                // The parser goes on after an unclosed comment: so does the count.
                Comment::Unclosed => i += 2,
            },
            (b'/', Some(b'-')) | (b'\\', _) | (b'(', _) | (b'=', _) => {
                run += 1;
                if run > MAX_PREFIX_RUN {
                    return Some(Limit {
                        offset: i,
                        exceeded: Exceeded::Prefixes(run),
                    });
                }
                i = match byte {
                    b'/' => i + 2,
                    // An annotation's type name belongs to the prefix.
                    b'(' => annotation_end(bytes, i),
                    _ => i + 1,
                };
            }
            (b'"', _) => {
                run = 0;
                i = string_end(bytes, i, 0).unwrap_or(i + 1);
            }
            (b'#', _) => {
                run = 0;
                let hashes = bytes
                    .get(i..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|&&b| b == b'#')
                    .count();
                i = if bytes.get(i + hashes) == Some(&b'"') {
                    string_end(bytes, i + hashes, hashes).unwrap_or(i + hashes + 1)
                } else {
                    i + hashes
                };
            }
            (b' ' | b'\t' | b'\r' | b'\n', _) => i += 1,
            _ => {
                run = 0;
                i += 1;
            }
        }
    }
    None
}

fn line_end(bytes: &[u8], from: usize) -> usize {
    memchr::memchr(b'\n', bytes.get(from..).unwrap_or_default()).map_or(bytes.len(), |p| from + p)
}

fn annotation_end(bytes: &[u8], from: usize) -> usize {
    let rest = bytes.get(from..).unwrap_or_default();
    match rest.iter().position(|&b| b == b')' || b == b'\n') {
        Some(p) if rest.get(p) == Some(&b')') => from + p + 1,
        _ => from + 1,
    }
}

enum Comment {
    Closed(usize),
    TooDeep(usize, usize),
    Unclosed,
}

fn block_comment(bytes: &[u8], start: usize) -> Comment {
    let mut level = 0usize;
    let mut i = start;
    while i + 1 < bytes.len() {
        match (bytes.get(i), bytes.get(i + 1)) {
            (Some(b'/'), Some(b'*')) => {
                level += 1;
                if level > MAX_NESTING {
                    return Comment::TooDeep(i, level);
                }
                i += 2;
            }
            (Some(b'*'), Some(b'/')) => {
                level = level.saturating_sub(1);
                i += 2;
                if level == 0 {
                    return Comment::Closed(i);
                }
            }
            _ => i += 1,
        }
    }
    Comment::Unclosed
}

/// The end of the string whose quote is at `start` (`hashes > 0`: a raw string), or
/// `None` when it is never closed — for a single-line string, when a newline comes
/// first. The parser's recovery reads what follows an unclosed quote as code, the
/// rest of its line included, so the scan does too.
fn string_end(bytes: &[u8], start: usize, hashes: usize) -> Option<usize> {
    let multiline = bytes.get(start..start + 3) == Some(b"\"\"\"");
    let quotes = if multiline { 3 } else { 1 };
    let mut i = start + quotes;
    while let Some(&byte) = bytes.get(i) {
        if hashes == 0 && byte == b'\\' {
            i += 2;
            continue;
        }
        if !multiline && byte == b'\n' {
            return None;
        }
        let closes = bytes
            .get(i..i + quotes)
            .is_some_and(|q| q.iter().all(|&b| b == b'"'))
            && bytes
                .get(i + quotes..i + quotes + hashes)
                .is_some_and(|h| h.iter().all(|&b| b == b'#'));
        if closes {
            return Some(i + quotes + hashes);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_in_what_the_scan_takes_for_a_string_still_count() {
        // `name"…` with no space: the parser's recovery may not read the quote as
        // opening a string, and then nests on every `{`.
        let text = format!(
            "environment \"prod\" {{\n    pinnin{}{}x\"\n}}\n",
            "staging\"".repeat(35),
            "{".repeat(124)
        );
        assert!(matches!(
            check(&text),
            Some(Limit {
                exceeded: Exceeded::Blocks(_),
                ..
            })
        ));
        // Balanced braces in strings (templates) are fine.
        let fine = "guard \"x\" query=\"{{model}} {{track}} {{{{a}}}}\"\n".repeat(50);
        assert_eq!(check(&fine), None);
    }

    fn exceeded(text: &str) -> Option<Exceeded> {
        check(text).map(|l| l.exceeded)
    }

    #[test]
    fn braces_in_strings_and_comments_do_not_count() {
        assert_eq!(exceeded(r#"a "{{{{" /* { */ // {"#), None);
        assert_eq!(exceeded(&r##"a #"{{{{"# {"##.repeat(3)), None);
        assert_eq!(exceeded(&"a \"\"\"\n{{{{\n\"\"\" {".repeat(3)), None);
        let deep = "a {".repeat(MAX_NESTING + 1);
        assert_eq!(exceeded(&deep), Some(Exceeded::Blocks(MAX_NESTING + 1)));
    }

    #[test]
    fn braces_after_an_unclosed_string_or_comment_count() {
        let braces = "{".repeat(MAX_NESTING + 1);
        for opener in ["a \"\"\"\n", "a #\"\n", "a \"\n", "a /* \n", "a \" "] {
            assert_eq!(
                exceeded(&format!("{opener}{braces}")),
                Some(Exceeded::Blocks(MAX_NESTING + 1)),
                "{opener:?}"
            );
        }
    }

    #[test]
    fn braces_inside_unclosed_single_line_strings_count() {
        // `0" {` on each line: each quote is closed by no newline.
        let lines = "0\" {\n".repeat(MAX_NESTING + 1);
        assert!(matches!(exceeded(&lines), Some(Exceeded::Blocks(_))));
        // Closed strings on their lines still hide their braces from the nesting
        // bound (twice as many as it allows), up to the bound that ignores strings.
        assert_eq!(exceeded(&"a \"{ {\"\n".repeat(MAX_NESTING)), None);
        assert!(matches!(
            exceeded(&"a \"{ {\"\n".repeat(MAX_NESTING + 1)),
            Some(Exceeded::Blocks(_))
        ));
    }

    #[test]
    fn comments_and_prefix_runs_are_bounded() {
        assert_eq!(
            exceeded(&"/*".repeat(MAX_NESTING + 1)),
            Some(Exceeded::Comments(MAX_NESTING + 1))
        );
        for unit in ["/- ", "/-", "\\ ", "/-(t)", "(t)", "=", "= ", "}", "}\n"] {
            let text = format!("a {}b", unit.repeat(MAX_PREFIX_RUN + 1));
            assert!(
                matches!(exceeded(&text), Some(Exceeded::Prefixes(_))),
                "{unit:?}"
            );
        }
        // A node between prefixes ends the run.
        assert_eq!(exceeded(&"/- a\n".repeat(MAX_PREFIX_RUN * 4)), None);
    }
}
