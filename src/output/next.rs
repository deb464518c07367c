//! The folder a writing compile builds its new tree in, before swapping it in.
//!
//! Swapping a whole tree in is what keeps `generated/` always complete, but building
//! a 48,000-file tree from scratch costs seconds of folder creation, linking and
//! removal even when one model changed. So the tree a compile retires is not deleted:
//! it is kept in the cache folder as the *spare*, and the next writing compile brings
//! the spare up to date — writing only the files that differ from what it holds,
//! linking in the unchanged ones it lacks, removing the ones the new output no longer
//! has — and swaps it in. The spare is known through an output index of its own, so
//! bringing it up to date costs a look at each file, not a read.
//!
//! A run that cannot use the spare (no cache, a cache on another file system, or
//! another compile holding it) builds a fresh folder next to the output instead
//! (`.NAME.modelops-next`, marked as modelops' own from the start), removed again
//! when the run fails. The swap itself is [`super::folder::swap`]. Files are never written in place in either:
//! the spare shares files with the output through hard links, so a file is replaced
//! by writing a new one under a temporary name and renaming it over the old.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use rayon::prelude::*;

use super::folder::{self, OutputFolder, Swapped};
use super::hook;
use super::index::{self, Known, OutputIndex, Stat};
use super::{NewFile, OldTree};

/// Where the spare of one output folder is kept, in the cache folder.
#[derive(Clone, Debug)]
pub struct SparePaths {
    /// The spare tree itself.
    pub dir: PathBuf,
    /// Its output index.
    pub index: PathBuf,
    /// The file whose lock gives one compile at a time the use of the spare.
    pub lock: PathBuf,
}

impl SparePaths {
    /// The spare of the output folder `out`, in the cache folder `cache`.
    pub fn new(cache: &Path, out: &Path) -> Self {
        let base = index::index_path(cache, out).with_extension("spare");
        SparePaths {
            index: base.with_extension("spare.index"),
            lock: base.with_extension("spare.lock"),
            dir: base,
        }
    }
}

/// The next tree of an output folder, opened on the first file that must be written.
pub struct NextTree {
    folder: OutputFolder,
    spare: Option<SparePaths>,
    opened: OnceLock<Result<Opened, String>>,
}

/// A next tree being built.
struct Opened {
    dir: PathBuf,
    /// Whether `dir` is the spare (kept when the run fails) rather than a fresh
    /// folder (removed when it fails).
    is_spare: bool,
    /// What `dir` held when it was opened.
    held: OldTree,
    /// Folders known to exist (relative; the tree itself is `""`).
    folders: Mutex<HashSet<String>>,
    /// The metadata of each file as this run left it, for the index.
    stats: Mutex<HashMap<String, Stat>>,
    /// Held while the spare is in use; released when the run ends.
    _lock: Option<std::fs::File>,
}

impl NextTree {
    /// The next tree of `folder`, using the spare described by `spare` when it can.
    pub fn new(folder: &OutputFolder, spare: Option<SparePaths>) -> Self {
        NextTree {
            folder: folder.clone(),
            spare,
            opened: OnceLock::new(),
        }
    }

    fn opened(&self) -> std::io::Result<&Opened> {
        self.opened
            .get_or_init(|| self.open().map_err(|error| error.to_string()))
            .as_ref()
            .map_err(|message| std::io::Error::other(message.clone()))
    }

    fn open(&self) -> std::io::Result<Opened> {
        if let Some(opened) = self.spare.as_ref().and_then(|spare| self.open_spare(spare)) {
            return Ok(opened);
        }
        // Left-overs of an interrupted run were cleaned up before this run began
        // (`OutputFolder::recover`): whatever has the name now is not this run's.
        let dir = self.folder.next_path();
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::create_dir(&dir)?;
        let held = OldTree::open(&dir)?;
        // Marked from the start, so that a run killed at any point leaves a folder
        // the next one knows it may remove.
        create_new(&dir.join(folder::MARKER_NAME), folder::MARKER)?;
        Ok(Opened {
            held,
            dir,
            is_spare: false,
            folders: Mutex::new(HashSet::from([String::new()])),
            stats: Mutex::default(),
            _lock: None,
        })
    }

    /// The spare, when it is on the output's file system and no other compile holds it.
    fn open_spare(&self, spare: &SparePaths) -> Option<Opened> {
        let cache = spare.dir.parent()?;
        crate::output::write::ensure_ignored_dir(cache);
        let parent = self.folder.path().parent()?.to_path_buf();
        std::fs::create_dir_all(&parent).ok()?;
        if !same_device(cache, &parent) {
            return None;
        }
        let lock = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&spare.lock)
            .ok()?;
        lock.try_lock().ok()?;
        let held = OldTree::open_with(&spare.dir, index::load(&spare.index)).ok()?;
        std::fs::create_dir_all(&spare.dir).ok()?;
        let mut folders: HashSet<String> = held.folders.iter().map(|(p, _)| p.clone()).collect();
        folders.insert(String::new());
        Some(Opened {
            dir: spare.dir.clone(),
            is_spare: true,
            held,
            folders: Mutex::new(folders),
            stats: Mutex::default(),
            _lock: Some(lock),
        })
    }

    /// Makes the file at `path` hold `bytes` (whose hash is `hash`), unless the next
    /// tree is known to hold them already.
    pub fn put(&self, path: &str, bytes: &[u8], hash: &[u8; 32]) -> std::io::Result<()> {
        let opened = self.opened()?;
        if let Some(known) = opened.held.vouched_for(path)
            && known.hash == *hash
        {
            opened.record(path, known.stat);
            return Ok(());
        }
        opened.make_parent(path)?;
        let target = opened.dir.join(path);
        if !opened.held.contains(path) {
            match create_new(&target, bytes) {
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                // Its metadata from the open file: no second walk of the path.
                done => {
                    if let Some(stat) = Stat::of(&done?.metadata()?) {
                        opened.record(path, stat);
                    }
                    return Ok(());
                }
            }
        }
        // A rename changes the file's ctime: its metadata is read after.
        replace(&target, |temporary| create_new(temporary, bytes).map(drop))?;
        opened.record_now(path, &target)
    }

    /// Makes the next tree exactly the files of `tree`: each carried file that it is
    /// not known to hold already is linked (or copied) from `from`, the old tree;
    /// files not in `tree` are removed, and folders left empty with them.
    pub(super) fn complete(
        &self,
        from: &Path,
        tree: &BTreeMap<&str, NewFile>,
    ) -> std::io::Result<()> {
        let opened = self.opened()?;
        let carried: Vec<(&str, &NewFile)> = tree
            .iter()
            .filter(|(_, file)| file.carried)
            .map(|(path, file)| (*path, file))
            .collect();
        // The records of files the next tree already holds, gathered and taken
        // into the map at once rather than one lock at a time.
        let held: Vec<(&str, Stat)> = carried
            .par_iter()
            .map(|(path, file)| {
                let held = opened.held.known_as(path, file.seen);
                if let Some(known) = held.or_else(|| opened.held.vouched_for(path))
                    && Some(known.hash) == file.hash
                {
                    return Ok(Some((*path, known.stat)));
                }
                opened.carry(path, &from.join(path)).map(|()| None)
            })
            .filter_map(Result::transpose)
            .collect::<std::io::Result<_>>()?;
        if let Ok(mut stats) = opened.stats.lock() {
            stats.reserve(held.len());
            stats.extend(held.into_iter().map(|(path, stat)| (path.to_owned(), stat)));
        }
        // Files not in the new tree (but not a link a folder has replaced).
        let needed = folders_of(tree);
        let stale: Vec<&String> = opened
            .held
            .paths()
            .filter(|path| !tree.contains_key(path.as_str()) && !needed.contains(path.as_str()))
            .collect();
        stale.par_iter().try_for_each(|path| {
            match std::fs::remove_file(opened.dir.join(path.as_str())) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
                _ => Ok(()),
            }
        })?;
        // Folders no kept file is in, deepest first; a folder that still holds
        // anything (a stray file) stays.
        let mut empty: Vec<&str> = opened
            .held
            .folders
            .iter()
            .map(|(path, _)| path.as_str())
            .filter(|path| !path.is_empty() && !needed.contains(path))
            .collect();
        empty.sort_by_key(|path| std::cmp::Reverse(path.matches('/').count()));
        for folder in empty {
            let _ = std::fs::remove_dir(opened.dir.join(folder));
        }
        Ok(())
    }

    /// Swaps the next tree in for the output folder, keeps the retired tree as the
    /// spare (with what `changes` verified of it) or removes it, and returns the
    /// index of the new output. On failure the output folder is as it was.
    pub(super) fn swap_in(
        self,
        retired: &OldTree,
        changes: &super::Changes,
        tree: &BTreeMap<&str, NewFile>,
    ) -> std::io::Result<OutputIndex> {
        let opened = self.opened()?;
        let out = self.folder.path();
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let spare = self.spare.as_ref().filter(|_| opened.is_spare);
        if let Some(spare) = spare {
            // The spare's record describes the tree that becomes the output.
            let _ = std::fs::remove_file(&spare.index);
        }
        let swapped = folder::swap(&self.folder, &opened.dir)?;
        // The spare's index and the output's are made side by side.
        let ((), index) = rayon::join(
            || retire(&swapped, &opened.dir, spare, retired, changes),
            || opened.index(out, tree),
        );
        Ok(index)
    }
}

/// Deals with the tree a swap retired (wherever [`folder::swap`] left it): kept as
/// the spare when the spare was used (and its place is free), or removed.
fn retire(
    swapped: &Swapped,
    built_at: &Path,
    spare: Option<&SparePaths>,
    retired: &OldTree,
    changes: &super::Changes,
) {
    hook::reached("before-retire");
    let old_at = match swapped {
        Swapped::Fresh => None,
        Swapped::Exchanged => Some(built_at),
        Swapped::Aside(prev) => Some(prev.as_path()),
    };
    if let Some(old_at) = old_at {
        let kept = spare
            .filter(|spare| old_at == spare.dir || std::fs::rename(old_at, &spare.dir).is_ok());
        match kept {
            Some(spare) => {
                if let Ok(index) = retired.index_after_move(&spare.dir, changes) {
                    let _ = index::save(&spare.index, &index);
                }
            }
            None => {
                // A removal cut short is finished by the next run.
                let _ = folder::remove_owned(old_at);
            }
        }
    }
    hook::reached("after-retire");
}

impl Drop for NextTree {
    fn drop(&mut self) {
        // A fresh folder that was not swapped in is removed; the spare stays a spare.
        if let Some(Ok(opened)) = self.opened.get()
            && !opened.is_spare
            && opened.dir.exists()
        {
            let _ = std::fs::remove_dir_all(&opened.dir);
        }
    }
}

impl Opened {
    fn record(&self, path: &str, stat: Stat) {
        if let Ok(mut stats) = self.stats.lock() {
            stats.insert(path.to_owned(), stat);
        }
    }

    /// Records the metadata of the file just put at `target`.
    fn record_now(&self, path: &str, target: &Path) -> std::io::Result<()> {
        if let Some(stat) = Stat::of_path(target)? {
            self.record(path, stat);
        }
        Ok(())
    }

    /// The index of the tree once in place at `dir`: every file with the metadata
    /// this run left it with, and every folder as found there.
    fn index(&self, dir: &Path, tree: &BTreeMap<&str, NewFile>) -> OutputIndex {
        let stats = self
            .stats
            .lock()
            .map(|mut stats| std::mem::take(&mut *stats))
            .unwrap_or_default();
        let files = tree
            .iter()
            .map(|(path, file)| {
                let known = match (stats.get(*path), file.hash) {
                    (Some(stat), Some(hash)) => Some(Known { stat: *stat, hash }),
                    _ => None,
                };
                ((*path).to_owned(), known)
            })
            .collect();
        let mut folders: Vec<&str> = folders_of(tree).into_iter().collect();
        folders.push("");
        folders.sort_unstable();
        // Every folder or none: a folder left out would hide a file added to it. An
        // index without folders only means the next run lists the tree.
        let folders = folders
            .par_iter()
            .map(|path| {
                let stat = Stat::of_path(&index::join(dir, path)).ok()??;
                Some(((*path).to_owned(), stat))
            })
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default();
        OutputIndex { folders, files }
    }

    /// Creates the folders above `path` that are not known to exist.
    fn make_parent(&self, path: &str) -> std::io::Result<()> {
        let Some((parent, _)) = path.rsplit_once('/') else {
            return Ok(());
        };
        let known = self
            .folders
            .lock()
            .map(|folders| folders.contains(parent))
            .unwrap_or(false);
        if !known {
            // Shallowest first, never through a link: whatever stands where a
            // folder belongs (a file, a link a user left in the output) goes.
            let mut folders: Vec<&str> = ancestors(path).collect();
            folders.reverse();
            for folder in &folders {
                let full = self.dir.join(folder);
                // Made at the first try in a fresh tree; otherwise whatever stands
                // there is looked at (a folder, maybe made by another thread
                // meanwhile, stays).
                match std::fs::create_dir(&full) {
                    Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                    done => {
                        done?;
                        continue;
                    }
                }
                if std::fs::symlink_metadata(&full)?.is_dir() {
                    continue;
                }
                std::fs::remove_file(&full)?;
                match std::fs::create_dir(&full) {
                    Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                    done => done?,
                }
            }
            if let Ok(mut known) = self.folders.lock() {
                known.extend(folders.into_iter().map(str::to_owned));
            }
        }
        Ok(())
    }

    /// Puts a link to (or a copy of) `source` at `path`.
    fn carry(&self, path: &str, source: &Path) -> std::io::Result<()> {
        self.make_parent(path)?;
        let target = self.dir.join(path);
        if !self.held.contains(path) {
            match link_or_copy(source, &target) {
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                done => return done.and_then(|()| self.record_now(path, &target)),
            }
        }
        // Already a link to it? (Renaming a link over another link to the same file
        // would do nothing and leave the temporary name behind.)
        if same_file(source, &target) {
            return self.record_now(path, &target);
        }
        replace(&target, |temporary| link_or_copy(source, temporary))?;
        self.record_now(path, &target)
    }
}

/// Every folder a file of `tree` is in (not the top one).
fn folders_of<'a>(tree: &BTreeMap<&'a str, NewFile>) -> HashSet<&'a str> {
    tree.keys().flat_map(|path| ancestors(path)).collect()
}

/// The folders above a relative path, nearest first (`a/b/c.yaml` → `a/b`, `a`).
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = path;
    std::iter::from_fn(move || {
        let (parent, _) = rest.rsplit_once('/')?;
        rest = parent;
        Some(parent)
    })
}

/// Writes a new file and returns it, open; fails when `path` exists.
fn create_new(path: &Path, bytes: &[u8]) -> std::io::Result<std::fs::File> {
    use std::io::Write;
    let mut file = std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(bytes)?;
    Ok(file)
}

/// A hard link to `source` at `target`, or a copy where links are not possible; fails
/// when `target` exists.
fn link_or_copy(source: &Path, target: &Path) -> std::io::Result<()> {
    match std::fs::hard_link(source, target) {
        Err(error) if error.kind() != std::io::ErrorKind::AlreadyExists => {
            let mut from = super::write::open_no_follow(source)?;
            let mut to = std::fs::File::options()
                .write(true)
                .create_new(true)
                .open(target)?;
            std::io::copy(&mut from, &mut to).map(|_| ())
        }
        done => done,
    }
}

/// Replaces whatever is at `target` with the file `make` creates at a temporary name
/// next to it (unique to this process), by renaming it over `target`.
fn replace(target: &Path, make: impl FnOnce(&Path) -> std::io::Result<()>) -> std::io::Result<()> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = target.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&temporary);
    let done = make(&temporary).and_then(|()| match std::fs::rename(&temporary, target) {
        // A folder where the file belongs (left in the output by a user) goes.
        Err(_) if std::fs::symlink_metadata(target).is_ok_and(|meta| meta.is_dir()) => {
            std::fs::remove_dir_all(target)?;
            std::fs::rename(&temporary, target)
        }
        done => done,
    });
    if done.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    done
}

/// Whether two paths are links to the same file.
#[cfg(unix)]
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::symlink_metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_a: &Path, _b: &Path) -> bool {
    false
}

#[cfg(unix)]
fn same_device(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_device(_a: &Path, _b: &Path) -> bool {
    false
}
