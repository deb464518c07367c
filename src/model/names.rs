//! [`NameMap`]: the typed model's maps from names to nodes.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

/// A map from names to values, kept sorted by name: what a `BTreeMap` offers the
/// typed model (lookups by name, iteration in name order), in one allocation of
/// exactly its entries. A `BTreeMap` allocates room for eleven entries however few it
/// holds; the typed model has many maps of one to three large nodes (releases,
/// deployments, gates, parameters), and with `BTreeMap`s a model of 1.5 KB of KDL
/// took about 35 KB once typed and resolved.
#[derive(Clone, PartialEq)]
pub struct NameMap<V> {
    /// Sorted by name; names are unique.
    entries: Vec<(String, V)>,
}

impl<V> Default for NameMap<V> {
    fn default() -> Self {
        NameMap {
            entries: Vec::new(),
        }
    }
}

impl<V: fmt::Debug> fmt::Debug for NameMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// The entries of a [`NameMap`], by reference.
pub type Iter<'a, V> =
    std::iter::Map<std::slice::Iter<'a, (String, V)>, fn(&'a (String, V)) -> (&'a String, &'a V)>;

impl<V> NameMap<V> {
    pub fn new() -> Self {
        Self::default()
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|(key, _)| key.as_str().cmp(name))
    }

    pub fn get(&self, name: &str) -> Option<&V> {
        let index = self.position(name).ok()?;
        self.entries.get(index).map(|(_, value)| value)
    }

    pub fn get_key_value(&self, name: &str) -> Option<(&String, &V)> {
        let index = self.position(name).ok()?;
        self.entries.get(index).map(|(key, value)| (key, value))
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.position(name).is_ok()
    }

    /// Sets `name` to `value`, giving back the value it replaces.
    pub fn insert(&mut self, name: String, value: V) -> Option<V> {
        match self.position(&name) {
            Ok(index) => self
                .entries
                .get_mut(index)
                .map(|(_, old)| std::mem::replace(old, value)),
            Err(index) => {
                self.entries.insert(index, (name, value));
                None
            }
        }
    }

    /// Lets go of room for entries not inserted.
    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in name order.
    pub fn iter(&self) -> Iter<'_, V> {
        self.entries.iter().map(|(key, value)| (key, value))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator {
        self.entries.iter().map(|(key, _)| key)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.entries.iter().map(|(_, value)| value)
    }

    pub fn into_values(self) -> impl DoubleEndedIterator<Item = V> + ExactSizeIterator {
        self.entries.into_iter().map(|(_, value)| value)
    }

    /// Sorts `entries` by name; of equal names the last one stays (as inserting them
    /// into a map one after the other would leave it).
    fn from_entries(mut entries: Vec<(String, V)>) -> Self {
        entries.reverse();
        // A stable sort keeps the reversed order among equal names: the last comes
        // first, and is the one `dedup_by` keeps.
        entries.sort_by(|(a, _), (b, _)| a.cmp(b));
        entries.dedup_by(|(a, _), (b, _)| a == b);
        entries.shrink_to_fit();
        NameMap { entries }
    }
}

impl<V> FromIterator<(String, V)> for NameMap<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(iter: I) -> Self {
        Self::from_entries(iter.into_iter().collect())
    }
}

impl<V, const N: usize> From<[(String, V); N]> for NameMap<V> {
    fn from(entries: [(String, V); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl<'a, V> IntoIterator for &'a NameMap<V> {
    type Item = (&'a String, &'a V);
    type IntoIter = Iter<'a, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<V> IntoIterator for NameMap<V> {
    type Item = (String, V);
    type IntoIter = std::vec::IntoIter<(String, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for NameMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = NameMap<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some(entry) = map.next_entry::<String, V>()? {
                    entries.push(entry);
                }
                Ok(NameMap::from_entries(entries))
            }
        }
        d.deserialize_map(MapVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_map_reads_like_a_btree_map() {
        let pairs = [("b", 1), ("a", 2), ("c", 3), ("a", 4), ("d", 5), ("b", 6)];
        let ours: NameMap<i32> = pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        let std: std::collections::BTreeMap<String, i32> =
            pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        assert!(ours.iter().eq(std.iter()));
        assert_eq!(ours.len(), std.len());
        for name in ["a", "b", "c", "d", "e", ""] {
            assert_eq!(ours.get(name), std.get(name));
            assert_eq!(ours.contains_key(name), std.contains_key(name));
        }
        let mut inserted = NameMap::new();
        let mut std_inserted = std::collections::BTreeMap::new();
        for (k, v) in pairs {
            assert_eq!(
                inserted.insert(k.to_owned(), v),
                std_inserted.insert(k.to_owned(), v)
            );
        }
        assert!(inserted.iter().eq(std_inserted.iter()));
        assert_eq!(inserted, ours);
    }

    #[test]
    fn a_name_map_deserialises_as_a_map_would() {
        let json = r#"{"z": 1, "a": 2, "m": 3, "a": 9}"#;
        let ours: NameMap<i32> = serde_json::from_str(json).unwrap();
        let std: std::collections::BTreeMap<String, i32> = serde_json::from_str(json).unwrap();
        assert!(ours.iter().eq(std.iter()));
        assert!(serde_json::from_str::<NameMap<i32>>("[1]").is_err());
    }
}
