//! A content-addressed cache of per-file analyses (parsed, lowered and
//! schema-validated KDL files), so that a repository of thousands of models checks
//! in a fraction of the time its files take to parse.
//!
//! Entries are keyed by BLAKE3 of modelops' version, the file's kind and its exact
//! bytes: an edited file, or another modelops version, simply misses. Each entry
//! carries a checksum of its payload and is never trusted when it does not match (a
//! torn or corrupted write is a miss). Writes go to a temporary file renamed into
//! place, so concurrent runs never see half an entry. The cache is a directory the
//! caller chooses (`.modelops-cache/` in the repository by default, with a
//! `.gitignore` of its own); deleting it at any time is safe.

use std::path::{Path, PathBuf};

/// Where cached analyses are kept.
pub trait AnalysisCache: Send + Sync {
    fn get(&self, key: &blake3::Hash) -> Option<Vec<u8>>;
    fn put(&self, key: &blake3::Hash, payload: &[u8]);
}

/// The layout of cached analyses; bumped when it changes, so that old entries
/// simply miss.
const FORMAT: &str = "3";

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

/// A cache in a directory on disk.
#[derive(Clone, Debug)]
pub struct DirCache {
    dir: PathBuf,
}

impl DirCache {
    /// Uses (and creates on first write) `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DirCache { dir: dir.into() }
    }

    fn path(&self, key: &blake3::Hash) -> PathBuf {
        let hex = key.to_hex();
        self.dir
            .join("v1")
            .join(&hex.as_str()[..2])
            .join(hex.as_str())
    }

    fn ensure_ignored(&self) {
        let ignore = self.dir.join(".gitignore");
        if !ignore.exists() {
            let _ = std::fs::create_dir_all(&self.dir);
            let _ = crate::write::write_file_atomically(
                &ignore,
                b"# modelops' cache: safe to delete\n*\n",
            );
        }
    }
}

impl AnalysisCache for DirCache {
    fn get(&self, key: &blake3::Hash) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        let (checksum, payload) = bytes.split_at_checked(32)?;
        (blake3::hash(payload).as_bytes() == checksum).then(|| payload.to_vec())
    }

    fn put(&self, key: &blake3::Hash, payload: &[u8]) {
        let path = self.path(key);
        if path.exists() {
            return;
        }
        self.ensure_ignored();
        let Some(parent) = path.parent() else { return };
        if std::fs::create_dir_all(parent).is_err() {
            return;
        }
        let mut bytes = Vec::with_capacity(32 + payload.len());
        bytes.extend_from_slice(blake3::hash(payload).as_bytes());
        bytes.extend_from_slice(payload);
        // A cache that cannot be written is only a slower run.
        let _ = write_unique(&path, &bytes);
    }
}

/// Like an atomic write, with a temporary name unique across threads and processes.
fn write_unique(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
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
        let cache = DirCache::new(dir.path().join("cache"));
        let k = key("model", b"model \"a\"");
        assert_eq!(cache.get(&k), None);
        cache.put(&k, b"payload");
        assert_eq!(cache.get(&k).as_deref(), Some(&b"payload"[..]));
        assert!(dir.path().join("cache/.gitignore").exists());
        let path = cache.path(&k);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(cache.get(&k), None, "a corrupt entry is a miss");
        std::fs::write(&path, b"short").unwrap();
        assert_eq!(cache.get(&k), None);
        assert_ne!(key("model", b"x"), key("project", b"x"));
    }
}
