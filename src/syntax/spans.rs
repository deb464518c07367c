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
        let escaped = segment.replace('~', "~0").replace('/', "~1");
        Pointer(format!("{}/{escaped}", self.0))
    }

    pub fn index(&self, index: usize) -> Self {
        Pointer(format!("{}/{index}", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The pointer one level up, or `None` at the root.
    pub fn parent(&self) -> Option<Pointer> {
        self.0.rfind('/').map(|i| Pointer(self.0[..i].to_owned()))
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
/// [`pack`]) until something asks for a span: most files of a large repository
/// never need theirs.
#[derive(Clone, Debug)]
pub struct SpanTable {
    file: FileId,
    entries: OnceLock<HashMap<Pointer, SpanEntry>>,
    packed: Option<Box<str>>,
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
        })
    }
}

/// One line per entry, sorted by pointer: `"<origin> <start> <end> <key start> <key
/// end> <pointer>"` (`-` for a missing key), without file ids.
fn pack(map: &HashMap<Pointer, SpanEntry>) -> String {
    let mut list: Vec<(&Pointer, &SpanEntry)> = map.iter().collect();
    list.sort_by(|a, b| a.0.cmp(b.0));
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
                key.start, key.end, pointer.0
            ),
            None => writeln!(out, "{origin} {start} {end} - - {}", pointer.0),
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
            let pointer = Pointer(parts.next()?.to_owned());
            let entry = SpanEntry {
                origin,
                value: Span::new(file, start, end),
                key,
            };
            Some((pointer, entry))
        })
        .collect()
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
        if let Some(entries) = self.entries.get_mut() {
            entries.insert(pointer, entry);
        }
    }

    pub fn get(&self, pointer: &Pointer) -> Option<&SpanEntry> {
        self.map().get(pointer)
    }

    /// The span of the value at `pointer`, or of its nearest ancestor that has one,
    /// or the start of the file.
    pub fn value_or_ancestor(&self, pointer: &Pointer) -> Span {
        let mut current = Some(pointer.clone());
        while let Some(p) = current {
            if let Some(entry) = self.map().get(&p) {
                return entry.value;
            }
            current = p.parent();
        }
        Span::new(self.file, 0, 0)
    }

    /// The span of the name that introduced `pointer` (falls back to its value).
    pub fn key_or_value(&self, pointer: &Pointer) -> Span {
        match self.map().get(pointer) {
            Some(SpanEntry { key: Some(key), .. }) => *key,
            Some(entry) => entry.value,
            None => self.value_or_ancestor(pointer),
        }
    }
}
