//! The output index: what the last compile (or `compile --check`) learnt about the
//! files under an output folder, so that the next one need not list 16,000 folders
//! and read 48,000 files to find them unchanged.
//!
//! As git's index does for a work tree, it records each folder's and each file's
//! metadata (device, inode, size, modification and change times) and, for files whose
//! bytes were verified, their BLAKE3 hash. A later run trusts a record only while the
//! metadata on disk is exactly what was recorded:
//!
//! - a folder whose metadata is unchanged has the same entries as when it was listed
//!   (adding, removing or renaming an entry changes the folder's times), so when every
//!   folder is unchanged the recorded file list is the listing;
//! - a file whose metadata is unchanged has the recorded bytes (writing a file changes
//!   its change time, which no user call can set back), so its hash stands for them.
//!
//! Records whose times are not strictly older than the index itself are never
//! trusted (a file changed within the same clock tick as the record could keep its
//! times): those files are read again. Anything else that does not match — a missing,
//! torn or corrupted index, another folder, another format — means the folder is
//! listed and read as if there were no index. The index lives in the output cache
//! folder ([`cache_dir`], outside the repository), one file per output folder, keyed
//! by the output folder's resolved path, written to a temporary name and renamed.
//!
//! The index only ever decides how fast a compile is, never what it writes or
//! what `compile --check` says: a record that claims a file differs is checked by
//! reading the file, and nothing inside the repository is ever used as a cache (a
//! repository could carry a forged one).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The first bytes of an index file.
const MAGIC: &[u8] = b"modelops output index\n";

/// The layout of the file; bumped when it changes.
const FORMAT: &[u8] = b"1\n";

/// Where the metadata of a file or folder says it is, and when it last changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stat {
    /// The metadata that identifies this version of a file (`None` where the
    /// platform has no inode and change time: there, nothing is indexed).
    #[cfg(unix)]
    pub fn of(meta: &std::fs::Metadata) -> Option<Stat> {
        use std::os::unix::fs::MetadataExt;
        Some(Stat {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        })
    }

    #[cfg(not(unix))]
    pub fn of(_meta: &std::fs::Metadata) -> Option<Stat> {
        None
    }

    /// The metadata of `path`, not following a final symbolic link.
    pub fn of_path(path: &Path) -> std::io::Result<Option<Stat>> {
        std::fs::symlink_metadata(path).map(|meta| Stat::of(&meta))
    }

    /// Whether both times are strictly older than `stamp`.
    fn older_than(&self, stamp: (i64, i64)) -> bool {
        self.mtime < stamp && self.ctime < stamp
    }

    fn write(&self, out: &mut Vec<u8>) {
        for n in [self.dev, self.ino, self.size] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        for n in [self.mtime.0, self.mtime.1, self.ctime.0, self.ctime.1] {
            out.extend_from_slice(&n.to_le_bytes());
        }
    }

    fn read(input: &mut Reader<'_>) -> Option<Stat> {
        Some(Stat {
            dev: input.u64()?,
            ino: input.u64()?,
            size: input.u64()?,
            mtime: (input.i64()?, input.i64()?),
            ctime: (input.i64()?, input.i64()?),
        })
    }
}

/// A file's verified bytes, by hash, and the metadata it had then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Known {
    pub stat: Stat,
    pub hash: [u8; 32],
}

/// Files by relative path, with what is known of their bytes.
pub type Files = BTreeMap<String, Option<Known>>;

/// Folders by relative path (the output itself as `""`), with their metadata.
pub type Folders = Vec<(String, Stat)>;

/// What is recorded of one output folder.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputIndex {
    /// Every folder under the output (the output itself as `""`), with its metadata.
    pub folders: Folders,
    /// Every file under the output, by relative path, and what is known of its bytes.
    pub files: Vec<(String, Option<Known>)>,
}

/// An index as read from disk: what it records, and when it was written.
pub struct Loaded {
    pub index: OutputIndex,
    stamp: (i64, i64),
}

impl Loaded {
    /// The recorded files, each with its record when it can be trusted without
    /// reading the file (it is older than the index), and the recorded folders.
    pub fn into_trusted(self) -> (Files, Folders) {
        let stamp = self.stamp;
        let files = self
            .index
            .files
            .into_iter()
            .map(|(path, known)| (path, known.filter(|k| k.stat.older_than(stamp))))
            .collect();
        (files, self.index.folders)
    }

    /// Whether every folder still has the recorded metadata, and none is newer than
    /// the index: then the recorded files are exactly those on disk. Folders are
    /// looked at on every core.
    pub fn folders_unchanged(&self, dir: &Path) -> bool {
        use rayon::prelude::*;
        let stamp = self.stamp;
        !self.index.folders.is_empty()
            && self.index.folders.par_iter().all(|(path, recorded)| {
                recorded.older_than(stamp)
                    && matches!(Stat::of_path(&join(dir, path)), Ok(Some(now)) if now == *recorded)
            })
    }
}

/// `dir/path` for a relative path with `/` separators (`""` is `dir` itself).
pub fn join(dir: &Path, path: &str) -> PathBuf {
    if path.is_empty() {
        dir.to_path_buf()
    } else {
        dir.join(path)
    }
}

/// The folder that keeps the output indexes and spare trees: `MODELOPS_CACHE_DIR`,
/// else `$XDG_CACHE_HOME/modelops/outputs`, else `$HOME/.cache/modelops/outputs`.
/// `None` — no cache, every compile lists and reads the output folder — when
/// `MODELOPS_NO_CACHE` is set (to anything but `0`), when no such folder is known,
/// or when it would be inside the repository at `root`.
pub fn cache_dir(root: &Path) -> Option<PathBuf> {
    let set = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if set("MODELOPS_NO_CACHE").is_some_and(|value| value != "0") {
        return None;
    }
    let dir = match set("MODELOPS_CACHE_DIR") {
        Some(dir) => std::path::absolute(PathBuf::from(dir)).ok()?,
        None => {
            let xdg = set("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .filter(|dir| dir.is_absolute());
            let base = match xdg {
                Some(base) => base,
                None => PathBuf::from(set("HOME")?).join(".cache"),
            };
            base.join("modelops").join("outputs")
        }
    };
    // The deepest folder that exists, resolved (links too), and the rest after it.
    let existing = dir.ancestors().find(|ancestor| ancestor.exists())?;
    let mut resolved = std::fs::canonicalize(existing).ok()?;
    let rest = dir.strip_prefix(existing).ok()?;
    if !rest.as_os_str().is_empty() {
        resolved.push(rest);
    }
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    (!resolved.starts_with(&root)).then_some(resolved)
}

/// The index file for the output folder `dir`, in the cache folder `cache`.
pub fn index_path(cache: &Path, dir: &Path) -> PathBuf {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let key = blake3::hash(absolute.to_string_lossy().as_bytes());
    cache.join(format!("outputs-{}.index", &key.to_hex()[..16]))
}

/// Reads the index at `path`; `None` when it is missing or cannot be trusted whole.
pub fn load(path: &Path) -> Option<Loaded> {
    let bytes = std::fs::read(path).ok()?;
    // The stamp is taken after the read: a rename of a newer index in between only
    // makes the stamp later than the records, which keeps the rule.
    let meta = std::fs::metadata(path).ok()?;
    let stamp = stamp_of(&meta)?;
    let index = decode(&bytes)?;
    Some(Loaded { index, stamp })
}

#[cfg(unix)]
fn stamp_of(meta: &std::fs::Metadata) -> Option<(i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.mtime(), meta.mtime_nsec()))
}

#[cfg(not(unix))]
fn stamp_of(_meta: &std::fs::Metadata) -> Option<(i64, i64)> {
    None
}

/// Writes the index at `path` (creating the cache folder), atomically. A cache that
/// cannot be written is only a slower next run, so errors are returned for the
/// caller to ignore.
pub fn save(path: &Path, index: &OutputIndex) -> std::io::Result<()> {
    if let Some(cache) = path.parent() {
        crate::output::write::ensure_ignored_dir(cache);
    }
    crate::output::write::write_unique(path, &encode(index))
}

/// The bytes of an index: magic, format, a BLAKE3 checksum of the body, the body.
pub fn encode(index: &OutputIndex) -> Vec<u8> {
    let mut body = Vec::with_capacity(64 + index.files.len() * 128);
    body.extend_from_slice(&(index.folders.len() as u64).to_le_bytes());
    for (path, stat) in &index.folders {
        write_str(&mut body, path);
        stat.write(&mut body);
    }
    body.extend_from_slice(&(index.files.len() as u64).to_le_bytes());
    for (path, known) in &index.files {
        write_str(&mut body, path);
        match known {
            Some(known) => {
                body.push(1);
                known.stat.write(&mut body);
                body.extend_from_slice(&known.hash);
            }
            None => body.push(0),
        }
    }
    let mut out = Vec::with_capacity(body.len() + 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(FORMAT);
    out.extend_from_slice(blake3::hash(&body).as_bytes());
    out.extend_from_slice(&body);
    out
}

/// Decodes an index; `None` for anything but a whole index of this format.
pub fn decode(bytes: &[u8]) -> Option<OutputIndex> {
    let rest = bytes.strip_prefix(MAGIC)?.strip_prefix(FORMAT)?;
    let (checksum, body) = rest.split_at_checked(32)?;
    if blake3::hash(body).as_bytes() != checksum {
        return None;
    }
    let mut input = Reader(body);
    let folder_count = usize::try_from(input.u64()?).ok()?;
    let mut folders = Vec::with_capacity(folder_count.min(body.len() / 56));
    for _ in 0..folder_count {
        folders.push((input.str()?, Stat::read(&mut input)?));
    }
    let file_count = usize::try_from(input.u64()?).ok()?;
    let mut files = Vec::with_capacity(file_count.min(body.len() / 9));
    for _ in 0..file_count {
        let path = input.str()?;
        let known = match input.take(1)? {
            [0] => None,
            [1] => Some(Known {
                stat: Stat::read(&mut input)?,
                hash: input.take(32)?.try_into().ok()?,
            }),
            _ => return None,
        };
        files.push((path, known));
    }
    input.0.is_empty().then_some(OutputIndex { folders, files })
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Reads little-endian fields off the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn str(&mut self) -> Option<String> {
        let len = usize::try_from(self.u64()?).ok()?;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> OutputIndex {
        let stat = Stat {
            dev: 1,
            ino: 2,
            size: 3,
            mtime: (4, 5),
            ctime: (6, 7),
        };
        OutputIndex {
            folders: vec![(String::new(), stat), ("a".into(), stat)],
            files: vec![
                (
                    "a/b.yaml".into(),
                    Some(Known {
                        stat,
                        hash: [9; 32],
                    }),
                ),
                ("plan.json".into(), None),
            ],
        }
    }

    #[test]
    fn round_trips() {
        let index = sample();
        assert_eq!(decode(&encode(&index)), Some(index));
    }

    #[test]
    fn refuses_every_damaged_index() {
        let bytes = encode(&sample());
        // Every truncation, and every flipped byte, is refused as a whole.
        for len in 0..bytes.len() {
            assert_eq!(decode(&bytes[..len]), None, "truncated to {len}");
        }
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x20;
            assert_eq!(decode(&damaged), None, "byte {at} flipped");
        }
    }

    #[test]
    fn records_as_new_as_the_index_are_not_trusted() {
        let mut index = sample();
        let newer = Stat {
            mtime: (100, 0),
            ..index.folders[0].1
        };
        index.files.push((
            "new.yaml".into(),
            Some(Known {
                stat: newer,
                hash: [1; 32],
            }),
        ));
        let loaded = Loaded {
            index,
            stamp: (100, 0),
        };
        let (files, _) = loaded.into_trusted();
        assert!(files["a/b.yaml"].is_some());
        assert!(files["new.yaml"].is_none(), "same tick as the index");
        assert!(files["plan.json"].is_none(), "never verified");
    }
}
