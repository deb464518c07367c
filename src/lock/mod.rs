//! `modelops.lock`: the content hashes of every prompt version, local dataset and
//! release, one entry a line, sorted, so merges are easy and diffs readable.
//!
//! # Format 1
//!
//! ```kdl
//! // modelops.lock: content hashes of prompts, datasets and releases.
//! // Written by `modelops lock`; do not edit by hand.
//! lock-format 1
//! dataset "datasets/support-golden.jsonl" blake3="<64 hex>"
//! prompt "support-system" version=4 blake3="<64 hex>"
//! release "support-bot" version="1.5.0" blake3="<64 hex>"
//! ```
//!
//! - A KDL v2 document. The first node is `lock-format <N>`.
//! - `dataset PATH blake3=H`: BLAKE3 of the exact bytes of a local gate dataset.
//! - `prompt NAME version=N blake3=H`: BLAKE3 of the exact bytes of
//!   `prompts/NAME/vN.md` (or `.txt`).
//! - `release MODEL version=V blake3=H`: BLAKE3 of the release's canonical form after
//!   inheritance (`crate::resolve::canonical`).
//! - Entries are sorted: datasets, prompts, releases; then by path or name; prompt
//!   versions numerically.
//!
//! # Compatibility
//!
//! A reader accepts every format up to its own and refuses newer ones with a message
//! naming both; `modelops lock` then refuses to overwrite the file unless `--force`d.
//! Adding an entry kind or a property raises the format. Files are rewritten in the
//! newest format the next time `modelops lock` runs.

pub mod base;
pub mod check;

use std::collections::BTreeMap;
use std::fmt;

use kdl::{KdlEntry, KdlNode, KdlValue};

use crate::diag::{Code, Diagnostic, FileId, Span};
use crate::resolve::Resolution;

pub use crate::layout::LOCK_FILE_NAME;

/// The newest format this version reads and the one it writes.
pub const FORMAT: u32 = 1;

/// What an entry is about. The derived order is the file's order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockKey {
    Dataset(String),
    Prompt(String, u32),
    Release(String, String),
}

impl fmt::Display for LockKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockKey::Dataset(path) => write!(f, "dataset `{path}`"),
            LockKey::Prompt(name, version) => write!(f, "prompt `{name}` v{version}"),
            LockKey::Release(model, version) => write!(f, "release \"{version}\" of `{model}`"),
        }
    }
}

/// A parsed lock file: each entry's hash and the span of its line.
#[derive(Clone, Debug, Default)]
pub struct LockFile {
    pub format: u32,
    pub entries: BTreeMap<LockKey, (String, Span)>,
    /// What lines that could not be read may have held ([`parse_partial`]); empty
    /// for a lock that [`parse`] accepts.
    pub unreadable: Unreadable,
}

impl LockFile {
    pub fn hash(&self, key: &LockKey) -> Option<&str> {
        self.entries.get(key).map(|(hash, _)| hash.as_str())
    }
}

/// The entries a lock's unreadable lines may stand for: keys read from a line whose
/// hash is malformed, and kinds (`prompt`, ...) of lines whose key is not readable.
#[derive(Clone, Debug, Default)]
pub struct Unreadable {
    pub keys: std::collections::BTreeSet<LockKey>,
    pub kinds: std::collections::BTreeSet<&'static str>,
    /// A line of no known kind: it may stand for any entry.
    pub any: bool,
}

impl Unreadable {
    /// Whether an unreadable line may be this entry: it is then not "missing".
    pub fn may_hide(&self, key: &LockKey) -> bool {
        let kind = match key {
            LockKey::Dataset(_) => "dataset",
            LockKey::Prompt(..) => "prompt",
            LockKey::Release(..) => "release",
        };
        self.any || self.kinds.contains(kind) || self.keys.contains(key)
    }
}

/// The entries `modelops lock` writes for a resolution.
pub fn expected_entries(resolution: &Resolution) -> BTreeMap<LockKey, String> {
    let mut entries = BTreeMap::new();
    for (path, hash) in &resolution.datasets {
        entries.insert(LockKey::Dataset(path.clone()), hash.clone());
    }
    for ((name, version), hash) in &resolution.prompts {
        entries.insert(LockKey::Prompt(name.clone(), *version), hash.clone());
    }
    for ((model, version), hash) in &resolution.releases {
        entries.insert(
            LockKey::Release(model.clone(), version.clone()),
            hash.clone(),
        );
    }
    entries
}

/// A KDL v2 quoted string: always quoted, so every line reads the same whatever the
/// value looks like.
pub(crate) fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control()
                || matches!(
                    c,
                    '\u{200E}' | '\u{200F}' | '\u{2028}' | '\u{2029}' | '\u{FEFF}'
                ) =>
            {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn entry_line(key: &LockKey, hash: &str) -> String {
    match key {
        LockKey::Dataset(path) => format!("dataset {} blake3={}", quote(path), quote(hash)),
        LockKey::Prompt(name, version) => {
            format!(
                "prompt {} version={version} blake3={}",
                quote(name),
                quote(hash)
            )
        }
        LockKey::Release(model, version) => format!(
            "release {} version={} blake3={}",
            quote(model),
            quote(version),
            quote(hash)
        ),
    }
}

/// The lock file's text: a header, the format, one line per entry, sorted.
pub fn render(entries: &BTreeMap<LockKey, String>) -> String {
    let mut out = String::from(
        "// modelops.lock: content hashes of prompts, datasets and releases.\n\
         // Written by `modelops lock`; do not edit by hand.\n",
    );
    out.push_str(&format!("lock-format {FORMAT}\n"));
    for (key, hash) in entries {
        out.push_str(&entry_line(key, hash));
        out.push('\n');
    }
    out
}

fn is_hash(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Reads one quoted string written by [`quote`] at the start of `text`; returns it
/// and the rest. Escapes other than the ones `quote` writes are refused (the caller
/// then falls back to the full KDL parser).
fn unquote(text: &str) -> Option<(String, &str)> {
    let mut chars = text.strip_prefix('"')?.char_indices();
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &text[i + 2..])),
            '\\' => match chars.next()?.1 {
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                _ => return None,
            },
            c => out.push(c),
        }
    }
    None
}

/// Parses a line in exactly the form [`entry_line`] writes.
fn fast_line(line: &str) -> Option<(LockKey, String)> {
    let (kind, rest) = line.split_once(' ')?;
    let (name, rest) = unquote(rest)?;
    let (key, rest) = match kind {
        "dataset" => (LockKey::Dataset(name), rest),
        "prompt" => {
            let rest = rest.strip_prefix(" version=")?;
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let version = rest[..digits].parse().ok()?;
            (LockKey::Prompt(name, version), &rest[digits..])
        }
        "release" => {
            let (version, rest) = unquote(rest.strip_prefix(" version=")?)?;
            (LockKey::Release(name, version), rest)
        }
        _ => return None,
    };
    let (hash, rest) = unquote(rest.strip_prefix(" blake3=")?)?;
    (rest.is_empty() && is_hash(&hash)).then_some((key, hash))
}

/// Parses a lock file as modelops writes it, line by line, without the general KDL
/// parser (a large lock has tens of thousands of lines); `None` when any line is in
/// another form.
fn parse_fast(file: FileId, text: &str) -> Option<LockFile> {
    let mut lock = LockFile::default();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let content = line.trim_end_matches(['\n', '\r']);
        if content.is_empty() || content.starts_with("//") {
            continue;
        }
        if lock.format == 0 {
            lock.format = content
                .strip_prefix("lock-format ")?
                .parse()
                .ok()
                .filter(|f| *f == FORMAT)?;
            continue;
        }
        let (key, hash) = fast_line(content)?;
        let span = Span::new(file, start, start + content.len());
        if lock.entries.insert(key, (hash, span)).is_some() {
            return None;
        }
    }
    (lock.format != 0).then_some(lock)
}

/// The span of the first line of a merge-conflict marker (`<<<<<<< `, `=======`,
/// `>>>>>>> `) in `text`, if any.
pub fn conflict_marker(file: FileId, text: &str) -> Option<Span> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        if content.starts_with("<<<<<<< ")
            || content == "<<<<<<<"
            || content == "======="
            || content.starts_with(">>>>>>> ")
            || content == ">>>>>>>"
        {
            return Some(Span::new(file, offset, offset + content.len()));
        }
        offset += line.len();
    }
    None
}

/// Parses a lock file. Problems are `MO703` diagnostics at the offending line; a
/// merge conflict left in the file is one diagnostic that says so.
pub fn parse(file: FileId, text: &str) -> Result<LockFile, Vec<Diagnostic>> {
    if let Some(lock) = parse_fast(file, text) {
        return Ok(lock);
    }
    if let Some(marker) = conflict_marker(file, text) {
        return Err(vec![
            Diagnostic::new(
                Code::InvalidLock,
                "modelops.lock holds an unresolved merge conflict".to_owned(),
            )
            .with_label(marker, "conflict marker")
            .with_help(
                "do not merge the lock by hand: it is derived from the repository. Run `modelops lock` to write it afresh, then `git add modelops.lock`",
            ),
        ]);
    }
    parse_kdl(file, text)
}

/// A lock with unreadable lines, read as far as it goes: the entries of the lines
/// that read, and what the others may stand for ([`LockFile::unreadable`]), so
/// that the rest of the lock is still judged. `None` when nothing can be trusted:
/// the file is not KDL, is in a newer format or does not start with its format.
pub fn parse_partial(file: FileId, text: &str) -> Option<LockFile> {
    if conflict_marker(file, text).is_some() {
        return None;
    }
    let (lock, problems, trusted) = read_kdl(file, text).ok()?;
    (trusted && lock.format != 0 && !problems.is_empty()).then_some(lock)
}

fn parse_kdl(file: FileId, text: &str) -> Result<LockFile, Vec<Diagnostic>> {
    let (lock, problems, _) = read_kdl(file, text)?;
    if problems.is_empty() {
        Ok(lock)
    } else {
        Err(problems)
    }
}

/// Reads a lock with the KDL parser: the entries that read, the problems of the
/// lines that do not, and whether the rest can be trusted (the format is known).
#[allow(clippy::type_complexity)]
fn read_kdl(
    file: FileId,
    text: &str,
) -> Result<(LockFile, Vec<Diagnostic>, bool), Vec<Diagnostic>> {
    let document = crate::syntax::parse(file, text).map_err(|diagnostics| {
        diagnostics
            .into_iter()
            .map(|d| {
                Diagnostic::new(
                    Code::InvalidLock,
                    format!("modelops.lock is not valid KDL: {}", d.message),
                )
                .with_label_opt(d.primary_span(), "here")
                .with_help("regenerate it with `modelops lock --force`")
            })
            .collect::<Vec<_>>()
    })?;
    let mut lock = LockFile::default();
    let mut problems = Vec::new();
    let span_of = |node: &KdlNode| {
        let s = node.span();
        let node_text = text
            .get(s.offset()..s.offset() + s.len())
            .unwrap_or_default();
        let start = s.offset() + (node_text.len() - node_text.trim_start().len());
        let end = s.offset() + node_text.trim_end().len();
        Span::new(file, start, end.max(start))
    };
    let bad = |span: Span, message: String| {
        Diagnostic::new(Code::InvalidLock, message)
            .with_label(span, "cannot be read")
            .with_help("regenerate the file with `modelops lock --force`")
    };
    for (index, node) in document.nodes().iter().enumerate() {
        let span = span_of(node);
        let argument = node
            .entries()
            .iter()
            .find(|e| e.name().is_none())
            .map(KdlEntry::value);
        let property = |key: &str| node.entry(key).map(KdlEntry::value);
        let name = node.name().value();
        if index == 0 && name != "lock-format" {
            problems.push(bad(
                span,
                "modelops.lock does not start with `lock-format`".to_owned(),
            ));
            return Ok((lock, problems, false));
        }
        match name {
            "lock-format" => match argument.and_then(KdlValue::as_integer) {
                Some(format) if format >= 1 && format <= i128::from(FORMAT) => {
                    lock.format = format as u32
                }
                Some(format) if format > i128::from(FORMAT) => {
                    return Err(vec![
                        Diagnostic::new(
                            Code::InvalidLock,
                            format!(
                                "modelops.lock is in format {format}, written by a newer modelops; this one reads up to format {FORMAT}"
                            ),
                        )
                        .with_label(span, "newer format")
                        .with_help("upgrade modelops, or regenerate the lock with this version using `modelops lock --force`"),
                    ]);
                }
                _ => {
                    problems.push(bad(span, "`lock-format` needs a format number".to_owned()));
                    return Ok((lock, problems, false));
                }
            },
            "dataset" | "prompt" | "release" => {
                let hash = property("blake3").and_then(KdlValue::as_string);
                let key = match (
                    name,
                    argument.and_then(KdlValue::as_string),
                    property("version"),
                ) {
                    ("dataset", Some(path), None) => Some(LockKey::Dataset(path.to_owned())),
                    ("prompt", Some(prompt), Some(KdlValue::Integer(v))) => u32::try_from(*v)
                        .ok()
                        .map(|v| LockKey::Prompt(prompt.to_owned(), v)),
                    ("release", Some(model), Some(KdlValue::String(v))) => {
                        Some(LockKey::Release(model.to_owned(), v.clone()))
                    }
                    _ => None,
                };
                match (key, hash) {
                    (Some(key), Some(hash)) if is_hash(hash) => {
                        if let std::collections::btree_map::Entry::Vacant(slot) =
                            lock.entries.entry(key.clone())
                        {
                            slot.insert((hash.to_owned(), span));
                        } else {
                            problems.push(bad(span, format!("{key} is listed twice")));
                            lock.unreadable.keys.insert(key);
                        }
                    }
                    (key, _) => {
                        problems.push(bad(span, format!("a malformed `{name}` entry")));
                        match key {
                            Some(key) => {
                                lock.unreadable.keys.insert(key);
                            }
                            None => {
                                lock.unreadable.kinds.insert(match name {
                                    "dataset" => "dataset",
                                    "prompt" => "prompt",
                                    _ => "release",
                                });
                            }
                        }
                    }
                }
            }
            other => {
                problems.push(bad(span, format!("unknown entry `{other}`")));
                lock.unreadable.any = true;
            }
        }
    }
    if lock.format == 0 && problems.is_empty() {
        problems.push(
            Diagnostic::new(Code::InvalidLock, "modelops.lock is empty".to_owned())
                .with_label(Span::new(file, 0, 0), "no `lock-format`")
                .with_help("regenerate the file with `modelops lock --force`"),
        );
    }
    Ok((lock, problems, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BTreeMap<LockKey, String> {
        let mut entries = BTreeMap::new();
        entries.insert(
            LockKey::Release("bot".into(), "1.0.0".into()),
            "a".repeat(64),
        );
        entries.insert(LockKey::Prompt("sys".into(), 10), "b".repeat(64));
        entries.insert(LockKey::Prompt("sys".into(), 2), "c".repeat(64));
        entries.insert(
            LockKey::Dataset("data/x \"q\" \\ \t é.jsonl".into()),
            "d".repeat(64),
        );
        entries
    }

    #[test]
    fn renders_one_sorted_line_per_entry_and_parses_back() {
        let text = render(&sample());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[2], "lock-format 1");
        assert!(
            lines[3].starts_with("dataset \"data/x \\\"q\\\" \\\\ \\t é.jsonl\" blake3=\""),
            "{text}"
        );
        assert!(
            lines[4].starts_with("prompt \"sys\" version=2 blake3=\""),
            "{text}"
        );
        assert!(lines[5].contains("version=10"), "{text}");
        assert!(lines[6].starts_with("release"), "{text}");
        let parsed = parse(FileId(0), &text).unwrap();
        let hashes: BTreeMap<LockKey, String> = parsed
            .entries
            .into_iter()
            .map(|(k, (h, _))| (k, h))
            .collect();
        assert_eq!(hashes, sample());
        // The fast path and the KDL parser agree, spans included.
        let fast = parse_fast(FileId(0), &text).expect("the written form takes the fast path");
        let full = parse_kdl(FileId(0), &text).unwrap();
        assert_eq!(format!("{:?}", fast.entries), format!("{:?}", full.entries));
    }

    #[test]
    fn refuses_newer_formats_and_malformed_entries() {
        let newer = parse(FileId(0), "lock-format 2\n").unwrap_err();
        assert!(
            newer[0].message.contains("format 2"),
            "{}",
            newer[0].message
        );
        let malformed = parse(
            FileId(0),
            "lock-format 1\nprompt \"x\" blake3=\"zz\"\nfrobnicate\n",
        )
        .unwrap_err();
        assert_eq!(malformed.len(), 2);
        assert!(parse(FileId(0), "").is_err());
    }
}
