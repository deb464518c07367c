//! A content-addressed cache of per-file analyses (parsed, lowered and
//! schema-validated KDL files), so that a repository of thousands of models checks
//! in a fraction of the time its files take to parse.
//!
//! Entries are keyed by BLAKE3 of modelops' version, the file's kind and its exact
//! bytes: an edited file, or another modelops version, simply misses. Each entry
//! carries a checksum of its payload and is never trusted when it does not match (a
//! torn or corrupted write is a miss). The cache is a directory the caller chooses
//! (`.modelops-cache/` in the repository by default, with a `.gitignore` of its own);
//! deleting it at any time is safe.
//!
//! On disk, the entries live in one pack file, read whole on the first lookup: one
//! file to open on a warm run instead of one per KDL file, and one to write after a
//! run that analysed something new (creating thousands of small files costs more
//! than parsing them). The pack is replaced by a temporary file renamed into place,
//! so concurrent runs never see half a pack; when two runs write at once, the last
//! rename wins and both packs are whole.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Where cached analyses are kept.
pub trait AnalysisCache: Send + Sync {
    fn get(&self, key: &blake3::Hash) -> Option<std::borrow::Cow<'_, [u8]>>;
    fn put(&self, key: &blake3::Hash, payload: &[u8]);
    /// Persists what was put since the cache was opened (a no-op by default).
    fn flush(&self) {}
}

/// The layout of cached analyses; bumped when it changes, so that old entries
/// simply miss.
const FORMAT: &str = "6";

/// The first bytes of a pack file.
const PACK_MAGIC: &[u8] = b"modelops analysis pack\n";

/// The key of one analysis.
pub fn key(kind: &str, bytes: &[u8]) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"modelops cache ");
    hasher.update(FORMAT.as_bytes());
    hasher.update(b" ");
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    hasher.update(b"\0");
    hasher.update(kind.as_bytes());
    hasher.update(b"\0");
    hasher.update(bytes);
    hasher.finalize()
}

/// The entries of a pack: key → (checksum, payload range in the pack's bytes).
type PackIndex = HashMap<[u8; 32], ([u8; 32], std::ops::Range<usize>)>;

/// A pack read from disk.
#[derive(Default)]
struct Pack {
    bytes: Vec<u8>,
    index: PackIndex,
    /// Keys in the order they appear, for writing unused entries back in order.
    order: Vec<[u8; 32]>,
}

/// A cache in a directory on disk, kept in one pack file.
pub struct DirCache {
    dir: PathBuf,
    pack: OnceLock<Pack>,
    /// Keys looked up and found during this run.
    used: Mutex<HashSet<[u8; 32]>>,
    /// Entries analysed during this run.
    added: Mutex<Added>,
}

/// Entries analysed during this run, in the order they were put.
#[derive(Default)]
struct Added {
    entries: HashMap<[u8; 32], Vec<u8>>,
    order: Vec<[u8; 32]>,
    /// Whether some are not in the pack on disk yet.
    unwritten: bool,
}

impl std::fmt::Debug for DirCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirCache").field("dir", &self.dir).finish()
    }
}

impl DirCache {
    /// Uses (and creates on first write) `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DirCache {
            dir: dir.into(),
            pack: OnceLock::new(),
            used: Mutex::default(),
            added: Mutex::default(),
        }
    }

    fn pack_path(&self) -> PathBuf {
        self.dir.join(format!("analyses-{FORMAT}.pack"))
    }

    fn pack(&self) -> &Pack {
        self.pack.get_or_init(|| {
            std::fs::read(self.pack_path())
                .map(parse_pack)
                .unwrap_or_default()
        })
    }
}

/// Creates a cache directory with a `.gitignore` that ignores all of it.
pub(crate) fn ensure_dir(dir: &Path) {
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        let _ = std::fs::create_dir_all(dir);
        let _ =
            crate::write::write_file_atomically(&ignore, b"# modelops' cache: safe to delete\n*\n");
    }
}

/// Reads a pack: the magic line, then entries of a 32-byte key, an 8-byte
/// little-endian length, a 32-byte BLAKE3 checksum and the payload. Reading stops at
/// the first entry that does not fit; checksums are verified on lookup.
fn parse_pack(bytes: Vec<u8>) -> Pack {
    let mut index = PackIndex::new();
    let mut order = Vec::new();
    let mut at = match bytes.strip_prefix(PACK_MAGIC) {
        Some(_) => PACK_MAGIC.len(),
        None => return Pack::default(),
    };
    while let Some(header) = bytes.get(at..at + 72) {
        let (key, rest) = header.split_at(32);
        let (length, checksum) = rest.split_at(8);
        let (Ok(key), Ok(length), Ok(checksum)) = (
            <[u8; 32]>::try_from(key),
            <[u8; 8]>::try_from(length),
            <[u8; 32]>::try_from(checksum),
        ) else {
            break;
        };
        let Ok(length) = usize::try_from(u64::from_le_bytes(length)) else {
            break;
        };
        let start = at + 72;
        let Some(end) = start.checked_add(length).filter(|&end| end <= bytes.len()) else {
            break;
        };
        if index.insert(key, (checksum, start..end)).is_none() {
            order.push(key);
        }
        at = end;
    }
    Pack {
        bytes,
        index,
        order,
    }
}

fn push_entry(out: &mut Vec<u8>, key: &[u8; 32], payload: &[u8]) {
    out.extend_from_slice(key);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(blake3::hash(payload).as_bytes());
    out.extend_from_slice(payload);
}

impl AnalysisCache for DirCache {
    fn get(&self, key: &blake3::Hash) -> Option<std::borrow::Cow<'_, [u8]>> {
        let pack = self.pack();
        let found = pack
            .index
            .get(key.as_bytes())
            .and_then(|(checksum, range)| {
                let payload = pack.bytes.get(range.clone())?;
                (blake3::hash(payload).as_bytes() == checksum).then_some(payload)
            });
        if let Some(payload) = found {
            if let Ok(mut used) = self.used.lock() {
                used.insert(*key.as_bytes());
            }
            return Some(std::borrow::Cow::Borrowed(payload));
        }
        // Analysed earlier in this run (a second check in the same process).
        let added = self.added.lock().ok()?;
        let payload = added.entries.get(key.as_bytes())?;
        Some(std::borrow::Cow::Owned(payload.clone()))
    }

    fn put(&self, key: &blake3::Hash, payload: &[u8]) {
        if let Ok(mut added) = self.added.lock()
            && added
                .entries
                .insert(*key.as_bytes(), payload.to_vec())
                .is_none()
        {
            added.order.push(*key.as_bytes());
            added.unwritten = true;
        }
    }

    /// Writes a new pack when this run analysed anything: this run's entries first,
    /// then entries of the old pack this run did not use (other branches' files, say)
    /// while they take no more room than the used ones.
    fn flush(&self) {
        let Ok(mut added) = self.added.lock() else {
            return;
        };
        if !added.unwritten {
            return;
        }
        let pack = self.pack();
        let Ok(used) = self.used.lock() else {
            return;
        };
        let mut out = PACK_MAGIC.to_vec();
        let mut written: HashSet<[u8; 32]> = HashSet::new();
        for key in &added.order {
            if let Some(payload) = added.entries.get(key)
                && written.insert(*key)
            {
                push_entry(&mut out, key, payload);
            }
        }
        for key in &pack.order {
            if used.contains(key)
                && written.insert(*key)
                && let Some((_, range)) = pack.index.get(key)
                && let Some(payload) = pack.bytes.get(range.clone())
            {
                push_entry(&mut out, key, payload);
            }
        }
        let budget = out.len().saturating_mul(2);
        for key in &pack.order {
            if written.contains(key) {
                continue;
            }
            let Some((_, range)) = pack.index.get(key) else {
                continue;
            };
            if out.len() + 72 + range.len() > budget {
                break;
            }
            if let Some(payload) = pack.bytes.get(range.clone()) {
                written.insert(*key);
                push_entry(&mut out, key, payload);
            }
        }
        added.unwritten = false;
        ensure_dir(&self.dir);
        // A cache that cannot be written is only a slower run.
        let _ = write_unique(&self.pack_path(), &out);
        // Entries of the one-file-per-entry layout of earlier versions.
        let _ = std::fs::remove_dir_all(self.dir.join("v1"));
    }
}

/// Like an atomic write, with a temporary name unique across threads and processes.
pub(crate) fn write_unique(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = path.with_extension(format!("tmp-{}-{n}", std::process::id()));
    std::fs::write(&temp, bytes)?;
    std::fs::rename(&temp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_distrusts_corrupt_entries() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        let k = key("model", b"model \"a\"");
        let other = key("model", b"model \"b\"");
        {
            let cache = DirCache::new(&root);
            assert_eq!(cache.get(&k), None);
            cache.put(&k, b"payload");
            cache.put(&other, b"other payload");
            cache.flush();
        }
        assert!(root.join(".gitignore").exists());
        let cache = DirCache::new(&root);
        assert_eq!(cache.get(&k).as_deref(), Some(&b"payload"[..]));
        assert_eq!(cache.get(&other).as_deref(), Some(&b"other payload"[..]));
        // Flip the last byte: the second entry's payload no longer verifies.
        let path = cache.pack_path();
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let cache = DirCache::new(&root);
        assert_eq!(cache.get(&other), None, "a corrupt entry is a miss");
        assert_eq!(cache.get(&k).as_deref(), Some(&b"payload"[..]));
        // A torn pack keeps the entries before the tear.
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let cache = DirCache::new(&root);
        assert_eq!(cache.get(&k).as_deref(), Some(&b"payload"[..]));
        assert_eq!(cache.get(&other), None);
        std::fs::write(&path, b"short").unwrap();
        assert_eq!(DirCache::new(&root).get(&k), None);
        assert_ne!(key("model", b"x"), key("project", b"x"));
    }

    #[test]
    fn a_run_that_finds_everything_writes_nothing_and_unused_entries_age_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        let keys: Vec<_> = (0..4).map(|i| key("model", &[i])).collect();
        let cache = DirCache::new(&root);
        for k in &keys {
            cache.put(k, &[7; 100]);
        }
        cache.flush();
        let path = cache.pack_path();
        let written = std::fs::metadata(&path).unwrap().modified().unwrap();
        let warm = DirCache::new(&root);
        for k in &keys {
            assert!(warm.get(k).is_some());
        }
        warm.flush();
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            written
        );
        // A run that uses one old entry and adds one keeps both, and old entries
        // only while they take no more room than those.
        let next = DirCache::new(&root);
        assert!(next.get(&keys[0]).is_some());
        let new = key("model", b"new");
        next.put(&new, &[8; 100]);
        next.flush();
        let after = DirCache::new(&root);
        assert!(after.get(&new).is_some() && after.get(&keys[0]).is_some());
        let kept = keys[1..].iter().filter(|k| after.get(k).is_some()).count();
        assert_eq!(kept, 2);
    }
}
