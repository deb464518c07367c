//! YAML for the emitters' documents, byte for byte what serde-saphyr writes with the
//! options of [`super::to_yaml_documents`], in a fraction of its time.
//!
//! The output's style is serde-saphyr's: two-space indentation, sequences under a key
//! at the key's column, multi-line text as literal block scalars (with the chomping
//! and indentation indicators its content needs), `{}` and `[]` for empty
//! collections, and strings quoted wherever a YAML 1.1 reader could take them for
//! something else. This module lays out the structure and writes the common scalars
//! itself: names, labels, paths and references that are plainly safe, numbers with a
//! unit (`30s`), integers, booleans, null, block text, and the strings it certainly
//! double-quotes (versions, addresses, `*`, `@type`, JSON text). Every other scalar
//! (a string that may need quotes, a float) is handed to serde-saphyr on its own, and
//! a document with a shape this writer does not lay out (a sequence directly inside a
//! sequence, block text directly in a sequence, a top level that is not a mapping) is
//! handed to serde-saphyr whole. `tests/yaml_writer.rs` holds the two to identical bytes.

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// The documents, separated by `---` lines. Serialising a `serde_json::Value` cannot
/// fail: it has no non-string keys and no types YAML lacks.
pub fn documents(values: &[Value], options: &serde_saphyr::SerializerOptions) -> String {
    let mut out = String::with_capacity(4096);
    for (n, value) in values.iter().enumerate() {
        if n > 0 {
            out.push_str("---\n");
        }
        let start = out.len();
        let laid_out = match value {
            Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0, false, options),
            _ => None,
        };
        if laid_out.is_none() {
            out.truncate(start);
            out.push_str(&serde_saphyr_document(value, options));
        }
    }
    out
}

fn serde_saphyr_document(value: &Value, options: &serde_saphyr::SerializerOptions) -> String {
    serde_saphyr::to_string_with_options(value, options.clone()).unwrap_or_default()
}

/// Writes the entries of a non-empty mapping whose keys sit at `column`. When
/// `inline_first` is set, the first key continues the current line (after `- `).
fn write_map(
    out: &mut String,
    map: &Map<String, Value>,
    column: usize,
    inline_first: bool,
    options: &serde_saphyr::SerializerOptions,
) -> Option<()> {
    for (n, (key, value)) in map.iter().enumerate() {
        if n > 0 || !inline_first {
            indent(out, column);
        }
        write_key(out, key, options)?;
        out.push(':');
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                write_map(out, inner, column + 2, false, options)?;
            }
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                write_seq(out, items, column, options)?;
            }
            Value::String(text) if text.contains('\n') => {
                out.push(' ');
                write_multiline(out, value, text, column + 2, options)?;
            }
            scalar => {
                out.push(' ');
                write_scalar(out, scalar, options)?;
                out.push('\n');
            }
        }
    }
    Some(())
}

/// Writes the items of a non-empty sequence whose dashes sit at `column`.
fn write_seq(
    out: &mut String,
    items: &[Value],
    column: usize,
    options: &serde_saphyr::SerializerOptions,
) -> Option<()> {
    for item in items {
        indent(out, column);
        out.push_str("- ");
        match item {
            Value::Object(inner) if !inner.is_empty() => {
                write_map(out, inner, column + 2, true, options)?;
            }
            // Shapes laid out by serde-saphyr alone.
            Value::Array(inner) if !inner.is_empty() => return None,
            Value::String(text) if text.contains('\n') => return None,
            scalar => {
                write_scalar(out, scalar, options)?;
                out.push('\n');
            }
        }
    }
    Some(())
}

fn indent(out: &mut String, column: usize) {
    out.extend(std::iter::repeat_n(' ', column));
}

/// A scalar, or an empty collection, on the current line (no newline).
fn write_scalar(
    out: &mut String,
    value: &Value,
    options: &serde_saphyr::SerializerOptions,
) -> Option<()> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
        Value::Number(number) => {
            if let Some(n) = number.as_u64() {
                let _ = write!(out, "{n}");
            } else if let Some(n) = number.as_i64() {
                let _ = write!(out, "{n}");
            } else {
                out.push_str(&alone(value, options)?);
            }
        }
        Value::String(text) => {
            if plainly_safe(text, false) || quantity(text) {
                out.push_str(text);
            } else if certainly_quoted(text) {
                write_double_quoted(out, text);
            } else {
                out.push_str(&alone(value, options)?);
            }
        }
    }
    Some(())
}

/// A mapping key on the current line (without its colon).
fn write_key(out: &mut String, key: &str, options: &serde_saphyr::SerializerOptions) -> Option<()> {
    if plainly_safe(key, true) {
        out.push_str(key);
        return Some(());
    }
    if certainly_quoted(key) {
        write_double_quoted(out, key);
        return Some(());
    }
    // serde-saphyr's rendering of the key, taken from a one-entry mapping.
    let mut probe = Map::new();
    probe.insert(key.to_owned(), Value::Null);
    let text = serde_saphyr_document(&Value::Object(probe), options);
    let rendered = text.strip_suffix(": null\n")?;
    if rendered.contains('\n') {
        return None;
    }
    out.push_str(rendered);
    Some(())
}

/// serde-saphyr's rendering of a single-line scalar on its own.
fn alone(value: &Value, options: &serde_saphyr::SerializerOptions) -> Option<String> {
    let text = serde_saphyr_document(value, options);
    let line = text.strip_suffix('\n')?;
    (!line.contains('\n')).then(|| line.to_owned())
}

/// The words a YAML 1.1 reader takes for a boolean, null or special float, in any case.
const WORDS: [&str; 11] = [
    "null", "true", "false", "nan", "inf", "y", "n", "yes", "no", "on", "off",
];

/// Whether a string is written plain as it is, by a rule strictly narrower than
/// serde-saphyr's. A key starts with an ASCII letter or `/` and holds only ASCII
/// letters, digits and `-_./`. A value starts with an ASCII letter, `/` or `$`, holds
/// only printable ASCII, and has no space at its end, no `: `, no ` #` and no `:` at
/// its end. Neither is one of the words a YAML 1.1 reader takes for a boolean, null
/// or special float.
fn plainly_safe(text: &str, key: bool) -> bool {
    let bytes = text.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    let safe = if key {
        (first.is_ascii_alphabetic() || first == b'/')
            && bytes
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
    } else {
        (first.is_ascii_alphabetic() || first == b'/' || first == b'$')
            && !matches!(last, b' ' | b':')
            && plain_value_bytes(bytes)
    };
    // The words are at most five bytes long: longer text needs no comparison.
    safe && (text.len() > 5 || !WORDS.iter().any(|word| text.eq_ignore_ascii_case(word)))
}

/// Whether a value is a number with a unit, which serde-saphyr writes plain: digits,
/// then ASCII letters other than `e`, `b`, `o` and `x` in either case (so neither an
/// exponent nor a radix prefix), as in `30s`, `500m` or `4Gi`.
fn quantity(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let unit = bytes.get(digits..).unwrap_or_default();
    digits > 0
        && !unit.is_empty()
        && unit.iter().all(|&b| {
            b.is_ascii_alphabetic() && !matches!(b.to_ascii_lowercase(), b'e' | b'b' | b'o' | b'x')
        })
}

/// Whether serde-saphyr writes a string (as a key or a value) between double quotes,
/// by a rule strictly narrower than its own: printable ASCII that a YAML 1.1 reader
/// takes for a number (digits and dots, a digit first), for a boolean, null or
/// special float (the words of [`plainly_safe`], in any case), or that starts with
/// an indicator character. Such text needs no escapes but `\\` and `\"`.
fn certainly_quoted(text: &str) -> bool {
    let bytes = text.as_bytes();
    let Some(&first) = bytes.first() else {
        return false;
    };
    if !bytes.iter().all(|b| matches!(b, 0x20..=0x7e)) {
        return false;
    }
    let numeric = first.is_ascii_digit() && bytes.iter().all(|&b| b.is_ascii_digit() || b == b'.');
    let indicator = matches!(
        first,
        b',' | b'['
            | b']'
            | b'{'
            | b'}'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    );
    numeric || indicator || WORDS.iter().any(|word| text.eq_ignore_ascii_case(word))
}

/// Printable ASCII between double quotes, as serde-saphyr escapes it.
fn write_double_quoted(out: &mut String, text: &str) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            ch => out.push(ch),
        }
    }
    out.push('"');
}

/// Printable ASCII without `: ` or ` #`, in one pass.
fn plain_value_bytes(bytes: &[u8]) -> bool {
    let mut previous = 0u8;
    for &b in bytes {
        if !matches!(b, 0x20..=0x7e)
            || (previous == b':' && b == b' ')
            || (previous == b' ' && b == b'#')
        {
            return false;
        }
        previous = b;
    }
    true
}

/// Multi-line text (`value`, holding `text`) after `key: `: a literal block scalar
/// with its body at `body` columns, or the double-quoted form serde-saphyr falls back
/// to for text a block scalar cannot hold.
fn write_multiline(
    out: &mut String,
    value: &Value,
    text: &str,
    body: usize,
    options: &serde_saphyr::SerializerOptions,
) -> Option<()> {
    if !block_safe(text) {
        out.push_str(&alone(value, options)?);
        out.push('\n');
        return Some(());
    }
    let content = text.trim_end_matches('\n');
    let trailing = text.len() - content.len();
    out.push('|');
    let first_line = content.split('\n').find(|line| !line.is_empty());
    if first_line.is_some_and(|line| line.starts_with(' ')) {
        out.push('2');
    }
    match trailing {
        0 => out.push('-'),
        1 if !content.is_empty() => {}
        _ => out.push('+'),
    }
    out.push('\n');
    if content.is_empty() {
        for _ in 0..trailing {
            out.push('\n');
        }
        return Some(());
    }
    for line in content.split('\n') {
        if !line.is_empty() {
            indent(out, body);
            out.push_str(line);
        }
        out.push('\n');
    }
    for _ in 1..trailing {
        out.push('\n');
    }
    Some(())
}

/// Whether every character can stand as it is inside a block scalar (no carriage
/// returns, byte-order marks, Unicode line separators or other unprintables).
fn block_safe(text: &str) -> bool {
    // Printable ASCII, newline and tab: the common case, checked bytewise.
    if text
        .bytes()
        .all(|b| matches!(b, b'\n' | b'\t' | 0x20..=0x7e))
    {
        return true;
    }
    text.chars().all(|ch| match ch {
        '\n' | '\t' => true,
        '\r' | '\u{0085}' | '\u{2028}' | '\u{2029}' | '\u{FEFF}' => false,
        c => matches!(
            c as u32,
            0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x0010_FFFF
        ),
    })
}
