//! JSON pointers and the side table from pointer to source span.

use std::collections::HashMap;

use crate::diag::{FileId, Span};

/// A JSON pointer (RFC 6901) into a file's view, e.g. `/deploy/prod/canary/step/2`.
#[derive(
    Clone,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Origin {
    Node,
    Property,
    Argument,
}

/// Where one JSON value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SpanTable {
    file: FileId,
    #[serde(with = "entries_as_list")]
    entries: HashMap<Pointer, SpanEntry>,
}

/// JSON object keys must be strings; the table travels as a list of pairs.
mod entries_as_list {
    use std::collections::HashMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{Pointer, SpanEntry};

    pub fn serialize<S: Serializer>(
        map: &HashMap<Pointer, SpanEntry>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut list: Vec<(&Pointer, &SpanEntry)> = map.iter().collect();
        list.sort_by(|a, b| a.0.cmp(b.0));
        list.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<HashMap<Pointer, SpanEntry>, D::Error> {
        Ok(Vec::<(Pointer, SpanEntry)>::deserialize(d)?
            .into_iter()
            .collect())
    }
}

impl SpanTable {
    /// The same table for a file known under another id.
    pub fn in_file(mut self, file: FileId) -> Self {
        self.file = file;
        for entry in self.entries.values_mut() {
            entry.value.file = file;
            if let Some(key) = &mut entry.key {
                key.file = file;
            }
        }
        self
    }

    pub fn new(file: FileId) -> Self {
        SpanTable {
            file,
            entries: HashMap::new(),
        }
    }

    pub fn file(&self) -> FileId {
        self.file
    }

    pub fn insert(&mut self, pointer: Pointer, entry: SpanEntry) {
        self.entries.insert(pointer, entry);
    }

    pub fn get(&self, pointer: &Pointer) -> Option<&SpanEntry> {
        self.entries.get(pointer)
    }

    /// The span of the value at `pointer`, or of its nearest ancestor that has one,
    /// or the start of the file.
    pub fn value_or_ancestor(&self, pointer: &Pointer) -> Span {
        let mut current = Some(pointer.clone());
        while let Some(p) = current {
            if let Some(entry) = self.entries.get(&p) {
                return entry.value;
            }
            current = p.parent();
        }
        Span::new(self.file, 0, 0)
    }

    /// The span of the name that introduced `pointer` (falls back to its value).
    pub fn key_or_value(&self, pointer: &Pointer) -> Span {
        match self.entries.get(pointer) {
            Some(SpanEntry { key: Some(key), .. }) => *key,
            Some(entry) => entry.value,
            None => self.value_or_ancestor(pointer),
        }
    }
}
