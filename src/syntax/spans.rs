//! JSON pointers and the side table from pointer to source span.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

use crate::diag::{FileId, Span};

/// A JSON pointer (RFC 6901) into a file's view, e.g. `/deploy/prod/canary/step/2`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pointer(String);

impl Pointer {
    pub fn root() -> Self {
        Pointer(String::new())
    }

    /// Wraps an already escaped pointer string (as the schema validator reports them).
    pub fn from_escaped(text: &str) -> Self {
        Pointer(text.to_owned())
    }

    /// Appends one segment, escaping `~` and `/`.
    pub fn push(&self, segment: &str) -> Self {
        let mut text = String::with_capacity(self.0.len() + 1 + segment.len());
        text.push_str(&self.0);
        text.push('/');
        if segment.contains(['~', '/']) {
            text.push_str(&segment.replace('~', "~0").replace('/', "~1"));
        } else {
            text.push_str(segment);
        }
        Pointer(text)
    }

    pub fn index(&self, index: usize) -> Self {
        use std::fmt::Write as _;
        let mut text = String::with_capacity(self.0.len() + 4);
        text.push_str(&self.0);
        let _ = write!(text, "/{index}");
        Pointer(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The pointer one level up, or `None` at the root.
    pub fn parent(&self) -> Option<Pointer> {
        self.0.rfind('/').map(|i| Pointer(self.0[..i].to_owned()))
    }

    /// Every segment, unescaped.
    pub fn segments(&self) -> Vec<String> {
        self.0
            .split('/')
            .skip(1)
            .map(|segment| segment.replace("~1", "/").replace("~0", "~"))
            .collect()
    }

    /// The last segment, unescaped.
    pub fn last(&self) -> Option<String> {
        self.0
            .rfind('/')
            .map(|i| self.0[i + 1..].replace("~1", "/").replace("~0", "~"))
    }
}

/// What kind of KDL construct a JSON value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Node,
    Property,
    Argument,
}

/// Where one JSON value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanEntry {
    pub origin: Origin,
    /// The value: an argument or property value, or a node's head (name through its
    /// last entry) for objects.
    pub value: Span,
    /// The name that introduced it: a property key, a node name, or a keyed node's
    /// name argument. `None` for positional arguments and list items.
    pub key: Option<Span>,
}

/// The spans of every value of one file's view.
///
/// A table read back from the analysis cache stays packed (one string, see
/// [`pack`]): lookups binary-search its sorted lines, so a file whose spans are
/// never needed, or needed a few times, is never unpacked into a map.
#[derive(Clone, Debug)]
pub struct SpanTable {
    file: FileId,
    entries: OnceLock<HashMap<Pointer, SpanEntry>>,
    packed: Option<Box<str>>,
    /// The byte offset of each line of `packed`, found on the first lookup.
    lines: OnceLock<Vec<u32>>,
}

/// The serialised form: the file id and the packed entries.
#[derive(serde::Serialize, serde::Deserialize)]
struct PackedTable {
    file: FileId,
    entries: String,
}

impl serde::Serialize for SpanTable {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let entries = match (&self.packed, self.entries.get()) {
            (Some(packed), None) => packed.to_string(),
            _ => pack(self.map()),
        };
        PackedTable {
            file: self.file,
            entries,
        }
        .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for SpanTable {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let table = PackedTable::deserialize(d)?;
        Ok(SpanTable {
            file: table.file,
            entries: OnceLock::new(),
            packed: Some(table.entries.into_boxed_str()),
            lines: OnceLock::new(),
        })
    }
}

/// One line per entry, sorted by pointer: `"<origin> <start> <end> <key start> <key
/// end> <pointer>"` (`-` for a missing key), without file ids.
/// The pointer is written by [`escape_line`], and lines are sorted by that form.
fn pack(map: &HashMap<Pointer, SpanEntry>) -> String {
    let mut list: Vec<(std::borrow::Cow<'_, str>, &SpanEntry)> = map
        .iter()
        .map(|(pointer, entry)| (escape_line(&pointer.0), entry))
        .collect();
    list.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::new();
    for (pointer, entry) in list {
        let origin = match entry.origin {
            Origin::Node => 'n',
            Origin::Property => 'p',
            Origin::Argument => 'a',
        };
        let (start, end) = (entry.value.start, entry.value.end);
        let _ = match entry.key {
            Some(key) => writeln!(
                out,
                "{origin} {start} {end} {} {} {}",
                key.start, key.end, pointer
            ),
            None => writeln!(out, "{origin} {start} {end} - - {pointer}"),
        };
    }
    out
}

/// Reads [`pack`]'s lines back into `file`. A malformed line is skipped: its spans
/// fall back to an ancestor's, never to a wrong place (and the cache checksums
/// every entry, so this does not happen in practice).
fn unpack(packed: &str, file: FileId) -> HashMap<Pointer, SpanEntry> {
    packed
        .lines()
        .filter_map(|line| {
            let (pointer, entry) = parse_line(line, file)?;
            Some((Pointer(unescape_line(pointer)), entry))
        })
        .collect()
}

/// A pointer as one packed line holds it: keys may contain line breaks, so `\`,
/// `\n` and `\r` are written as `\\`, `\\n` and `\\r`.
fn escape_line(pointer: &str) -> std::borrow::Cow<'_, str> {
    if !pointer.contains(['\\', '\n', '\r']) {
        return std::borrow::Cow::Borrowed(pointer);
    }
    let mut out = String::with_capacity(pointer.len() + 4);
    for c in pointer.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

fn unescape_line(packed: &str) -> String {
    let mut out = String::with_capacity(packed.len());
    let mut chars = packed.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// The pointer of one packed line (everything after the fifth space).
fn line_pointer(line: &str) -> Option<&str> {
    line.splitn(6, ' ').nth(5)
}

/// One packed line: its pointer and entry.
fn parse_line(line: &str, file: FileId) -> Option<(&str, SpanEntry)> {
    let mut parts = line.splitn(6, ' ');
    let origin = match parts.next()? {
        "n" => Origin::Node,
        "p" => Origin::Property,
        "a" => Origin::Argument,
        _ => return None,
    };
    let start = parts.next()?.parse().ok()?;
    let end = parts.next()?.parse().ok()?;
    let key = match (parts.next()?, parts.next()?) {
        ("-", "-") => None,
        (s, e) => Some(Span::new(file, s.parse().ok()?, e.parse().ok()?)),
    };
    let pointer = parts.next()?;
    let entry = SpanEntry {
        origin,
        value: Span::new(file, start, end),
        key,
    };
    Some((pointer, entry))
}

impl SpanTable {
    /// The same table for a file known under another id.
    pub fn in_file(mut self, file: FileId) -> Self {
        self.file = file;
        if let Some(entries) = self.entries.get_mut() {
            for entry in entries.values_mut() {
                entry.value.file = file;
                if let Some(key) = &mut entry.key {
                    key.file = file;
                }
            }
        }
        self
    }

    pub fn new(file: FileId) -> Self {
        SpanTable {
            file,
            entries: OnceLock::from(HashMap::new()),
            packed: None,
            lines: OnceLock::new(),
        }
    }

    fn map(&self) -> &HashMap<Pointer, SpanEntry> {
        self.entries.get_or_init(|| match &self.packed {
            Some(packed) => unpack(packed, self.file),
            None => HashMap::new(),
        })
    }

    pub fn file(&self) -> FileId {
        self.file
    }

    pub fn insert(&mut self, pointer: Pointer, entry: SpanEntry) {
        self.map();
        self.packed = None;
        if let Some(entries) = self.entries.get_mut() {
            entries.insert(pointer, entry);
        }
    }

    pub fn get(&self, pointer: &Pointer) -> Option<SpanEntry> {
        match (&self.packed, self.entries.get()) {
            (Some(packed), None) => self.search(packed, pointer),
            _ => self.map().get(pointer).copied(),
        }
    }

    /// Binary search of the packed lines, which [`pack`] sorted by pointer.
    fn search(&self, packed: &str, pointer: &Pointer) -> Option<SpanEntry> {
        let lines = self.lines.get_or_init(|| {
            std::iter::once(0)
                .chain(
                    packed
                        .match_indices('\n')
                        .map(|(i, _)| i + 1)
                        .filter(|&i| i < packed.len()),
                )
                .filter_map(|i| u32::try_from(i).ok())
                .collect()
        });
        let line_at = |start: u32| {
            let rest = packed.get(start as usize..).unwrap_or("");
            rest.split('\n').next().unwrap_or("")
        };
        let wanted = escape_line(pointer.as_str());
        let index = lines
            .binary_search_by(|&start| line_pointer(line_at(start)).unwrap_or("").cmp(&wanted))
            .ok()?;
        let start = *lines.get(index)?;
        parse_line(line_at(start), self.file).map(|(_, entry)| entry)
    }

    /// The span of the value at `pointer`, or of its nearest ancestor that has one,
    /// or the start of the file.
    pub fn value_or_ancestor(&self, pointer: &Pointer) -> Span {
        let mut current = Some(pointer.clone());
        while let Some(p) = current {
            if let Some(entry) = self.get(&p) {
                return entry.value;
            }
            current = p.parent();
        }
        Span::new(self.file, 0, 0)
    }

    /// The span of the name that introduced `pointer` (falls back to its value).
    pub fn key_or_value(&self, pointer: &Pointer) -> Span {
        match self.get(pointer) {
            Some(SpanEntry { key: Some(key), .. }) => key,
            Some(entry) => entry.value,
            None => self.value_or_ancestor(pointer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(file: FileId, start: usize, key: bool) -> SpanEntry {
        SpanEntry {
            origin: if key {
                Origin::Property
            } else {
                Origin::Argument
            },
            value: Span::new(file, start, start + 3),
            key: key.then(|| Span::new(file, start + 10, start + 12)),
        }
    }

    #[test]
    fn packed_tables_answer_as_the_map_does() {
        let file = FileId(3);
        let mut table = SpanTable::new(file);
        let pointers = [
            "",
            "/model",
            "/model/a",
            "/model/a/release/1.0.0",
            "/model/a/vars/line\nbreak",
            "/model/a/vars/back\\slash",
            "/model/a/vars/cr\r",
            "/model/a/vars/space key",
            "/model/a/vars/é",
            "/model/b~1c",
        ];
        for (i, p) in pointers.iter().enumerate() {
            table.insert(Pointer::from_escaped(p), entry(file, i * 20, i % 2 == 0));
        }
        let json = serde_json::to_string(&table).unwrap();
        let packed: SpanTable = serde_json::from_str(&json).unwrap();
        let packed = packed.in_file(FileId(7));
        for (i, p) in pointers.iter().enumerate() {
            let want = entry(FileId(7), i * 20, i % 2 == 0);
            assert_eq!(packed.get(&Pointer::from_escaped(p)), Some(want), "{p:?}");
        }
        assert_eq!(packed.get(&Pointer::from_escaped("/model/zz")), None);
        assert_eq!(packed.get(&Pointer::from_escaped("/model/a/vars")), None);
        // Missing values fall back to their nearest ancestor.
        assert_eq!(
            packed.value_or_ancestor(&Pointer::from_escaped("/model/a/release/1.0.0/x")),
            Span::new(FileId(7), 60, 63)
        );
        // Re-serialising a packed table keeps it as it was.
        assert_eq!(serde_json::to_string(&packed).unwrap().len(), json.len());
    }
}
