//! `modelops compile`: from a valid repository to the files in `generated/`.
//!
//! Each target's files are compared with the folder as soon as they are emitted
//! ([`Comparer`]); only new or changed files are kept in memory. Writing builds the
//! new tree in a sibling folder — changed files written, unchanged ones linked (or
//! copied) from the old tree — and swaps it in with two renames, so `generated/` is
//! always either the old complete tree or the new one, never a mix; files of
//! deployments that no longer exist disappear with the old tree. With `--env` or
//! `--target`, files outside that scope are carried over unchanged.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::emit::FileSet;

pub mod index;

use index::{Known, OutputIndex, Stat};

/// Which part of the output a compile produces.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub target: Option<String>,
    pub environment: Option<String>,
}

impl Scope {
    /// Whether a generated file (relative path) belongs to this compile. Files are laid
    /// out as `<target>/<environment>/…`; files at the top (`plan.json`) are always in.
    pub fn contains(&self, path: &str) -> bool {
        let mut parts = path.split('/');
        let (Some(target), Some(environment), Some(_)) = (parts.next(), parts.next(), parts.next())
        else {
            return true;
        };
        self.target.as_deref().is_none_or(|t| t == target)
            && self.environment.as_deref().is_none_or(|e| e == environment)
    }
}

/// The files under an output folder: listed once (from the output index when every
/// folder is as it recorded), read on demand, so that a large output is never held
/// in memory twice (old and new).
#[derive(Clone, Debug, Default)]
pub struct OldTree {
    dir: PathBuf,
    /// Every file, with what the index vouches for about its bytes while its
    /// metadata is unchanged.
    files: BTreeMap<String, Option<Known>>,
    /// Every folder with its metadata as found, for the next index.
    folders: Vec<(String, Stat)>,
    /// Whether the listing came from the index rather than from the disk.
    listed_from_index: bool,
}

impl OldTree {
    /// Lists the files under `dir` (none when it does not exist).
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        Self::open_with(dir, None)
    }

    /// Lists the files under `dir`, taking the listing from `index` when every
    /// folder still has the metadata it recorded, and listing the disk otherwise.
    pub fn open_with(dir: &Path, index: Option<index::Loaded>) -> std::io::Result<Self> {
        if let Some(loaded) = index
            && loaded.folders_unchanged(dir)
        {
            let (files, folders) = loaded.into_trusted();
            return Ok(OldTree {
                dir: dir.to_path_buf(),
                files,
                folders,
                listed_from_index: true,
            });
        }
        let mut files = BTreeMap::new();
        let mut folders = Vec::new();
        if dir.exists() {
            for entry in walkdir::WalkDir::new(dir) {
                let entry = entry.map_err(std::io::Error::other)?;
                let relative = entry
                    .path()
                    .strip_prefix(dir)
                    .map_err(std::io::Error::other)?
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                if entry.file_type().is_dir() {
                    let meta = entry.metadata().map_err(std::io::Error::other)?;
                    if let Some(stat) = Stat::of(&meta) {
                        folders.push((relative, stat));
                    }
                } else if entry.file_type().is_file() {
                    files.insert(relative, None);
                }
            }
        }
        Ok(OldTree {
            dir: dir.to_path_buf(),
            files,
            folders,
            listed_from_index: false,
        })
    }

    /// Whether the listing came from the output index (every folder unchanged).
    pub fn listed_from_index(&self) -> bool {
        self.listed_from_index
    }

    /// How many files the index vouches for without reading them.
    pub fn vouched(&self) -> usize {
        self.files.values().filter(|known| known.is_some()).count()
    }

    /// The relative paths of the files, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &String> {
        self.files.keys()
    }

    /// A listed file's bytes (`None` for a path that is not in the tree).
    pub fn read(&self, path: &str) -> std::io::Result<Option<Vec<u8>>> {
        if !self.files.contains_key(path) {
            return Ok(None);
        }
        match std::fs::read(self.dir.join(path)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Whether the file at `path` holds exactly `bytes` (whose hash is `hash`). A
    /// file the index vouches for is only looked at, not read; any other is read in
    /// chunks and compared as it comes, without holding it whole.
    fn compare(&self, path: &str, bytes: &[u8], hash: &[u8; 32]) -> std::io::Result<Compared> {
        use std::io::ErrorKind::NotFound;
        let Some(known) = self.files.get(path) else {
            return Ok(Compared::Different);
        };
        let full = self.dir.join(path);
        if let Some(known) = known {
            match std::fs::symlink_metadata(&full) {
                Ok(meta) if Stat::of(&meta) == Some(known.stat) => {
                    return Ok(if known.hash == *hash {
                        Compared::Same {
                            stat: Some(known.stat),
                            read: false,
                        }
                    } else {
                        Compared::Different
                    });
                }
                Ok(_) => {}
                Err(error) if error.kind() == NotFound => return Ok(Compared::Different),
                Err(error) => return Err(error),
            }
        }
        let mut file = match std::fs::File::open(&full) {
            Ok(file) => file,
            Err(error) if error.kind() == NotFound => return Ok(Compared::Different),
            Err(error) => return Err(error),
        };
        let meta = file.metadata()?;
        if meta.len() != bytes.len() as u64 || !same_bytes(&mut file, bytes)? {
            return Ok(Compared::Different);
        }
        Ok(Compared::Same {
            stat: Stat::of(&meta),
            read: true,
        })
    }

    /// The index of this tree after a run that wrote nothing: the listing as found,
    /// with the files this run found unchanged (and those outside its scope that the
    /// old index vouched for). `None` when the run learnt nothing the index had not.
    pub fn index_after_compare(&self, changes: &Changes) -> Option<OutputIndex> {
        if (self.listed_from_index && changes.read == 0) || self.folders.is_empty() {
            return None;
        }
        let files = self
            .files
            .iter()
            .map(|(path, known)| {
                let known = match changes.emitted.get(path) {
                    Some(emitted) => emitted.stat.map(|stat| Known {
                        stat,
                        hash: emitted.hash,
                    }),
                    // Outside this run's scope: what the old index knew still holds.
                    None => *known,
                };
                (path.clone(), known)
            })
            .collect();
        Some(OutputIndex {
            folders: self.folders.clone(),
            files,
        })
    }
}

/// Whether `file` holds exactly `expected`, read in chunks.
fn same_bytes(file: &mut std::fs::File, mut expected: &[u8]) -> std::io::Result<bool> {
    use std::io::Read;
    let mut buffer = [0u8; 64 * 1024];
    loop {
        // One byte more than expected, to see the end of the file.
        let want = buffer.len().min(expected.len().max(1));
        let Some(chunk) = buffer.get_mut(..want) else {
            return Ok(false);
        };
        let n = match file.read(chunk) {
            Ok(n) => n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if n == 0 {
            return Ok(expected.is_empty());
        }
        let (Some(head), Some(read)) = (expected.get(..n), chunk.get(..n)) else {
            return Ok(false);
        };
        if head != read {
            return Ok(false);
        }
        expected = expected.get(n..).unwrap_or_default();
    }
}

/// How a file on disk compares with its new bytes.
enum Compared {
    Different,
    /// The same bytes.
    Same {
        /// The file's metadata (for the index).
        stat: Option<Stat>,
        /// Whether the file had to be read (the index did not vouch for it).
        read: bool,
    },
}

/// The index of a tree just written: listed afresh, every file of the new output
/// known by the hash of its new bytes. The tree is listed and its files looked at
/// after the swap, not taken from what was written: linking a file into the new tree
/// and removing the old tree both change the file's change time, and the listing on
/// disk is the one the next run compares with.
pub fn index_after_write(dir: &Path, changes: &Changes) -> std::io::Result<OutputIndex> {
    let tree = OldTree::open(dir)?;
    let files = tree
        .files
        .par_iter()
        .map(|(path, _)| {
            let known = match changes.emitted.get(path) {
                Some(emitted) => Stat::of_path(&dir.join(path))?.map(|stat| Known {
                    stat,
                    hash: emitted.hash,
                }),
                None => None,
            };
            Ok((path.clone(), known))
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    Ok(OutputIndex {
        folders: tree.folders,
        files,
    })
}

/// The files currently under `dir`, by relative path (empty when it does not exist).
pub fn read_tree(dir: &Path) -> std::io::Result<BTreeMap<String, Vec<u8>>> {
    let old = OldTree::open(dir)?;
    old.files
        .par_iter()
        .map(|(path, _)| Ok((path.clone(), old.read(path)?.unwrap_or_default())))
        .collect()
}

/// What differs between the folder and a new output: every file of the new output,
/// and the bytes of only the files that are new or changed.
#[derive(Debug, Default)]
pub struct Changes {
    pub emitted: BTreeMap<String, Emitted>,
    pub changed: BTreeMap<String, Vec<u8>>,
    /// How many unchanged files had to be read (the rest the index vouched for).
    pub read: usize,
}

/// One file of the new output.
#[derive(Clone, Copy, Debug)]
pub struct Emitted {
    /// BLAKE3 of its bytes.
    pub hash: [u8; 32],
    /// The metadata of the file on disk when it already has these bytes.
    pub stat: Option<Stat>,
}

impl Changes {
    /// The paths that differ, sorted: added or changed files, and files of the old
    /// tree within `scope` that the new output no longer has.
    pub fn paths(&self, old: &OldTree, scope: &Scope) -> Vec<String> {
        let mut paths: Vec<String> = self.changed.keys().cloned().collect();
        paths.extend(
            old.paths()
                .filter(|p| scope.contains(p) && !self.emitted.contains_key(*p))
                .cloned(),
        );
        paths.sort();
        paths
    }
}

/// Compares emitted files with the folder as they arrive, from any thread, keeping
/// only what differs.
pub struct Comparer<'a> {
    old: &'a OldTree,
    changes: Mutex<Changes>,
    error: Mutex<Option<std::io::Error>>,
}

impl<'a> Comparer<'a> {
    pub fn new(old: &'a OldTree) -> Self {
        Comparer {
            old,
            changes: Mutex::default(),
            error: Mutex::default(),
        }
    }

    /// Compares a batch of files (on every core) and records the differences.
    pub fn accept(&self, files: FileSet) {
        let compared = files
            .files
            .into_par_iter()
            .map(|(path, bytes)| {
                let hash = *blake3::hash(&bytes).as_bytes();
                let compared = self.old.compare(&path, &bytes, &hash)?;
                Ok((path, hash, bytes, compared))
            })
            .collect::<std::io::Result<Vec<_>>>();
        match compared {
            Ok(compared) => {
                if let Ok(mut changes) = self.changes.lock() {
                    for (path, hash, bytes, compared) in compared {
                        let stat = match compared {
                            Compared::Different => {
                                changes.changed.insert(path.clone(), bytes);
                                None
                            }
                            Compared::Same { stat, read } => {
                                changes.read += usize::from(read);
                                stat
                            }
                        };
                        changes.emitted.insert(path, Emitted { hash, stat });
                    }
                }
            }
            Err(error) => {
                if let Ok(mut slot) = self.error.lock() {
                    slot.get_or_insert(error);
                }
            }
        }
    }

    /// The differences, or the first error reading the folder.
    pub fn finish(self) -> std::io::Result<Changes> {
        if let Some(error) = self.error.into_inner().ok().flatten() {
            return Err(error);
        }
        self.changes
            .into_inner()
            .map_err(|_| std::io::Error::other("a comparison thread panicked"))
    }
}

/// A unified diff of the `paths` that differ between the folder and the new output.
pub fn diff_changes(
    old: &OldTree,
    changes: &Changes,
    paths: &[String],
    label: &str,
) -> std::io::Result<String> {
    let mut out = String::new();
    for path in paths {
        let before = old.read(path)?;
        let after = changes.changed.get(path);
        let text = |bytes: Option<&Vec<u8>>| {
            bytes
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        let old_label = if before.is_some() {
            format!("{label}/{path}")
        } else {
            "/dev/null".to_owned()
        };
        let new_label = if after.is_some() {
            format!("{label}/{path} (compiled)")
        } else {
            "/dev/null".to_owned()
        };
        out.push_str(&crate::write::unified_diff(
            &text(before.as_ref()),
            &text(after),
            &old_label,
            &new_label,
        ));
    }
    Ok(out)
}

/// One file of a tree being written: new bytes, or a file of the old tree.
enum Content<'a> {
    Bytes(&'a [u8]),
    Old(PathBuf),
}

/// Replaces `dir` with the new output: changed files written, unchanged files of the
/// new output and the old files outside `scope` carried over from the old tree.
/// Returns the number of files in the new tree.
pub fn write_changes(
    dir: &Path,
    old: &OldTree,
    changes: &Changes,
    scope: &Scope,
) -> std::io::Result<usize> {
    let mut tree: BTreeMap<&str, Content<'_>> = BTreeMap::new();
    for path in changes.emitted.keys() {
        let content = match changes.changed.get(path) {
            Some(bytes) => Content::Bytes(bytes),
            None => Content::Old(old.dir.join(path)),
        };
        tree.insert(path, content);
    }
    for path in old.paths().filter(|p| !scope.contains(p)) {
        tree.entry(path)
            .or_insert_with(|| Content::Old(old.dir.join(path)));
    }
    swap_in(dir, &tree)?;
    Ok(tree.len())
}

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "generated".to_owned());
    dir.with_file_name(format!(".{name}.{suffix}-{}", std::process::id()))
}

/// Replaces `dir` with exactly `tree`, atomically as seen by readers of whole trees.
pub fn write_tree(dir: &Path, tree: &BTreeMap<String, Vec<u8>>) -> std::io::Result<()> {
    let tree: BTreeMap<&str, Content<'_>> = tree
        .iter()
        .map(|(path, bytes)| (path.as_str(), Content::Bytes(bytes)))
        .collect();
    swap_in(dir, &tree)
}

/// Builds `tree` in a sibling folder and swaps it in with two renames. Files carried
/// over from the old tree are hard-linked (they are never written in place, so the
/// old tree's removal leaves them intact), or copied where links are not possible.
fn swap_in(dir: &Path, tree: &BTreeMap<&str, Content<'_>>) -> std::io::Result<()> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let staging = sibling(dir, "new");
    let retired = sibling(dir, "old");
    let build = || -> std::io::Result<()> {
        if staging.exists() {
            std::fs::remove_dir_all(&staging)?;
        }
        std::fs::create_dir_all(&staging)?;
        let folders: BTreeSet<PathBuf> = tree
            .keys()
            .filter_map(|path| staging.join(path).parent().map(Path::to_path_buf))
            .collect();
        for folder in folders {
            std::fs::create_dir_all(folder)?;
        }
        // Thousands of small files: write them on every core.
        tree.par_iter().try_for_each(|(path, content)| {
            let target = staging.join(path);
            match content {
                Content::Bytes(bytes) => std::fs::write(&target, bytes),
                Content::Old(source) => std::fs::hard_link(source, &target)
                    .or_else(|_| std::fs::copy(source, &target).map(|_| ())),
            }
        })
    };
    if let Err(error) = build() {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(error);
    }
    if dir.exists() {
        std::fs::rename(dir, &retired)?;
        if let Err(error) = std::fs::rename(&staging, dir) {
            // Put the old tree back: the output stays as it was.
            let _ = std::fs::rename(&retired, dir);
            let _ = std::fs::remove_dir_all(&staging);
            return Err(error);
        }
        let _ = std::fs::remove_dir_all(&retired);
    } else {
        std::fs::rename(&staging, dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_keeps_files_outside_the_filter() {
        let scope = Scope {
            target: Some("kubernetes".into()),
            environment: Some("prod".into()),
        };
        assert!(scope.contains("kubernetes/prod/bot.yaml"));
        assert!(!scope.contains("kubernetes/staging/bot.yaml"));
        assert!(!scope.contains("istio/prod/bot.yaml"));
        assert!(scope.contains("plan.json"));
    }

    #[test]
    fn writes_and_replaces_a_tree() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("generated");
        let mut tree = BTreeMap::new();
        tree.insert("a/b.yaml".to_owned(), b"one".to_vec());
        tree.insert("gone.yaml".to_owned(), b"x".to_vec());
        write_tree(&out, &tree).unwrap();
        tree.remove("gone.yaml");
        tree.insert("a/b.yaml".to_owned(), b"two".to_vec());
        write_tree(&out, &tree).unwrap();
        assert_eq!(read_tree(&out).unwrap(), tree);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no staging folders are left behind");
    }
}
