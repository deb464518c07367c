//! `modelops compile`: from a valid repository to the files in `generated/`.
//!
//! Each target's files are compared with the folder as soon as they are emitted
//! ([`Comparer`]). With `--check`, only new or changed files are kept in memory, for
//! the diff. A writing compile writes them at once into the next tree
//! ([`next::NextTree`]: the tree the last compile retired, or a fresh folder), then
//! completes it — unchanged files it lacks linked (or copied) from the old tree,
//! files no longer emitted removed — and exchanges it with the output folder in one
//! step ([`folder`]), so `generated/` is always either the old complete tree or the
//! new one, never a mix. [`folder`] also decides which folder may be written at all.
//! With `--env` or `--target`, files outside that scope are carried over unchanged.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::target::FileSet;

pub mod folder;
mod hook;
pub mod index;
pub mod next;
pub mod write;

use index::{Known, OutputIndex, Stat};
use next::NextTree;

/// Which part of the output a compile produces.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub target: Option<String>,
    pub environment: Option<String>,
}

impl Scope {
    /// Whether a generated file (relative path) belongs to this compile. Files are laid
    /// out under their target's folder: `<target>/<environment>/…` for a deployment's
    /// files, `<target>/<model>.yml` for a pipeline, which covers every environment
    /// and is emitted whatever `--env` says. Files at the top (`plan.json`) are always
    /// in.
    pub fn contains(&self, path: &str) -> bool {
        let mut parts = path.split('/');
        let (Some(target), Some(second)) = (parts.next(), parts.next()) else {
            return true;
        };
        // The second part is an environment only when more follows.
        let environment = parts.next().map(|_| second);
        self.target.as_deref().is_none_or(|t| t == target)
            && self
                .environment
                .as_deref()
                .is_none_or(|wanted| environment.is_none_or(|e| e == wanted))
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
    /// Entries that are neither plain files nor folders (links, above all).
    not_files: Vec<String>,
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
            // A record of the bytes stands for a plain file; the others are looked at.
            let not_files = files
                .par_iter()
                .filter(|(_, known)| known.is_none())
                .filter(|(path, _)| {
                    std::fs::symlink_metadata(dir.join(path.as_str()))
                        .is_ok_and(|meta| !meta.is_file())
                })
                .map(|(path, _)| path.clone())
                .collect();
            return Ok(OldTree {
                dir: dir.to_path_buf(),
                files,
                folders,
                listed_from_index: true,
                not_files,
            });
        }
        let mut files = BTreeMap::new();
        let mut folders = Vec::new();
        let mut not_files = Vec::new();
        if std::fs::symlink_metadata(dir).is_ok() {
            for entry in walkdir::WalkDir::new(dir).follow_root_links(false) {
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
                } else {
                    // Links and other entries too: never followed, they are listed
                    // for the output folder's owner to refuse.
                    if !entry.file_type().is_file() {
                        not_files.push(relative.clone());
                    }
                    files.insert(relative, None);
                }
            }
        }
        Ok(OldTree {
            dir: dir.to_path_buf(),
            files,
            folders,
            listed_from_index: false,
            not_files,
        })
    }

    /// Whether the listing came from the output index (every folder unchanged).
    pub fn listed_from_index(&self) -> bool {
        self.listed_from_index
    }

    /// The entries that are neither plain files nor folders (links, above all).
    pub fn not_files(&self) -> &[String] {
        &self.not_files
    }

    /// How many files the index vouches for without reading them.
    pub fn vouched(&self) -> usize {
        self.files.values().filter(|known| known.is_some()).count()
    }

    /// The relative paths of the files, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &String> {
        self.files.keys()
    }

    /// Whether the tree lists a file at `path`.
    fn contains(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }

    /// What the index knows of the file at `path`, while its metadata on disk is
    /// still what was recorded.
    fn vouched_for(&self, path: &str) -> Option<Known> {
        let known = (*self.files.get(path)?)?;
        match Stat::of_path(&self.dir.join(path)) {
            Ok(Some(now)) if now == known.stat => Some(known),
            _ => None,
        }
    }

    /// What the index knows of the file at `path` when it is the very file `seen`
    /// describes — the same device and inode, with the same size and times — found
    /// by this run through another link (the spare and the output share files). The
    /// entry still names that file, as the listing is trusted (no folder changed),
    /// and the file is as recorded: nothing needs to be looked at again.
    fn known_as(&self, path: &str, seen: Option<Stat>) -> Option<Known> {
        let known = (*self.files.get(path)?)?;
        (Some(known.stat) == seen).then_some(known)
    }

    /// A listed file's bytes (`None` for a path that is not in the tree).
    pub fn read(&self, path: &str) -> std::io::Result<Option<Vec<u8>>> {
        if !self.files.contains_key(path) {
            return Ok(None);
        }
        match write::read_no_follow(&self.dir.join(path)) {
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
        let meta = match std::fs::symlink_metadata(&full) {
            Ok(meta) => meta,
            Err(error) if error.kind() == NotFound => return Ok(Compared::Different),
            Err(error) => return Err(error),
        };
        // A record that says the bytes differ is not taken at its word: the file is
        // read, so that no index can make an unchanged file look changed.
        if let Some(known) = known
            && Stat::of(&meta) == Some(known.stat)
            && known.hash == *hash
        {
            return Ok(Compared::Same {
                stat: Some(known.stat),
                read: false,
            });
        }
        // A link or anything else that is not a plain file is never the output.
        if !meta.is_file() {
            return Ok(Compared::Different);
        }
        let mut file = match write::open_no_follow(&full) {
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
    /// with the files this run found unchanged (and, for the others, what the old
    /// index vouched for). `None` when the run learnt nothing the index had not.
    pub fn index_after_compare(&self, changes: &Changes) -> Option<OutputIndex> {
        if (self.listed_from_index && changes.read == 0) || self.folders.is_empty() {
            return None;
        }
        let files = self.files_known(changes);
        Some(OutputIndex {
            folders: self.folders.clone(),
            files,
        })
    }

    /// Every file of the tree, known by the bytes this run verified on disk, or else
    /// by what the old index vouched for (files this run changed or did not emit
    /// still hold the old bytes it recorded).
    fn files_known(&self, changes: &Changes) -> Vec<(String, Option<Known>)> {
        self.files
            .iter()
            .map(|(path, known)| {
                let known = match changes.emitted.get(path) {
                    Some(Emitted {
                        hash,
                        stat: Some(stat),
                    }) => Some(Known {
                        stat: *stat,
                        hash: *hash,
                    }),
                    _ => *known,
                };
                (path.clone(), known)
            })
            .collect()
    }

    /// The index of this tree once moved to `dir` (to be the spare): its files as
    /// listed, each known by what this run verified or what the old index vouched
    /// for, and its folders as found (moving the tree changed only the top one).
    fn index_after_move(&self, dir: &Path, changes: &Changes) -> std::io::Result<OutputIndex> {
        // Every folder or none: a folder left out would hide a file added to it.
        let folders = match Stat::of_path(dir)? {
            Some(top) => self
                .folders
                .iter()
                .map(|(path, stat)| match path.as_str() {
                    "" => (String::new(), top),
                    _ => (path.clone(), *stat),
                })
                .collect(),
            None => Vec::new(),
        };
        let files = self.files_known(changes);
        Ok(OutputIndex { folders, files })
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

/// The files currently under `dir`, by relative path (empty when it does not exist).
pub fn read_tree(dir: &Path) -> std::io::Result<BTreeMap<String, Vec<u8>>> {
    let old = OldTree::open(dir)?;
    old.files
        .par_iter()
        .map(|(path, _)| Ok((path.clone(), old.read(path)?.unwrap_or_default())))
        .collect()
}

/// What differs between the folder and a new output: every file of the new output,
/// and which are new or changed.
#[derive(Debug, Default)]
pub struct Changes {
    pub emitted: BTreeMap<String, Emitted>,
    pub changed: BTreeSet<String>,
    /// The new bytes of the changed files, when they are kept for a diff rather than
    /// written into the next tree as they come.
    pub held: BTreeMap<String, Vec<u8>>,
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
        let mut paths: Vec<String> = self.changed.iter().cloned().collect();
        paths.extend(
            old.paths()
                .filter(|p| scope.contains(p) && !self.emitted.contains_key(*p))
                .cloned(),
        );
        paths.sort();
        paths
    }

    /// How the differing `paths` (from [`Changes::paths`]) change the old tree.
    pub fn tally(&self, old: &OldTree, paths: &[String]) -> Tally {
        let mut tally = Tally::default();
        for path in paths {
            if !self.emitted.contains_key(path) {
                tally.removed += 1;
            } else if old.contains(path) {
                tally.changed += 1;
            } else {
                tally.added += 1;
            }
        }
        tally
    }
}

/// How many files a compile adds, changes and removes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} added, {} changed, {} removed",
            self.added, self.changed, self.removed
        )
    }
}

/// Compares emitted files with the folder as they arrive, from any thread: what
/// differs is written into the next tree at once, or kept in memory when there is
/// no next tree (`compile --check`).
pub struct Comparer<'a> {
    old: &'a OldTree,
    next: Option<&'a NextTree>,
    changes: Mutex<Changes>,
    error: Mutex<Option<std::io::Error>>,
}

impl<'a> Comparer<'a> {
    pub fn new(old: &'a OldTree, next: Option<&'a NextTree>) -> Self {
        Comparer {
            old,
            next,
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
                let held = match (&compared, self.next) {
                    (Compared::Different, Some(next)) => {
                        next.put(&path, &bytes, &hash)?;
                        None
                    }
                    (Compared::Different, None) => Some(bytes),
                    (Compared::Same { .. }, _) => None,
                };
                Ok((path, hash, held, compared))
            })
            .collect::<std::io::Result<Vec<_>>>();
        match compared {
            Ok(compared) => {
                if let Ok(mut changes) = self.changes.lock() {
                    for (path, hash, held, compared) in compared {
                        let stat = match compared {
                            Compared::Different => {
                                changes.changed.insert(path.clone());
                                if let Some(bytes) = held {
                                    changes.held.insert(path.clone(), bytes);
                                }
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
        let after = changes.held.get(path);
        if after.is_none() && changes.changed.contains(path) {
            return Err(std::io::Error::other(format!(
                "the new bytes of `{path}` were not kept for a diff"
            )));
        }
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
        out.push_str(&crate::output::write::unified_diff(
            &text(before.as_ref()),
            &text(after),
            &old_label,
            &new_label,
        ));
    }
    Ok(out)
}

/// One file of the tree a compile writes.
#[derive(Clone, Copy, Debug)]
pub struct NewFile {
    /// The hash of its bytes, when known.
    hash: Option<[u8; 32]>,
    /// Whether it is carried over from the old tree (it is there, as it must be),
    /// rather than written by this run.
    carried: bool,
    /// For a carried file, its metadata in the old tree as this run found it, with
    /// the bytes of `hash`.
    seen: Option<Stat>,
}

/// Replaces the output folder with the new output: `next` (which already holds the
/// changed files) completed with the unchanged files of the new output and the old
/// files outside `scope`, carried over from the old tree, and swapped in. Returns
/// the index of the new output.
pub fn write_changes(
    old: &OldTree,
    next: NextTree,
    changes: &Changes,
    scope: &Scope,
) -> std::io::Result<OutputIndex> {
    let mut tree: BTreeMap<&str, NewFile> = changes
        .emitted
        .iter()
        .map(|(path, emitted)| {
            let carried = !changes.changed.contains(path);
            let file = NewFile {
                hash: Some(emitted.hash),
                carried,
                seen: emitted.stat.filter(|_| carried),
            };
            (path.as_str(), file)
        })
        .collect();
    for path in old
        .paths()
        .filter(|p| !scope.contains(p) && !changes.emitted.contains_key(*p))
    {
        let known = old.vouched_for(path);
        tree.insert(
            path,
            NewFile {
                hash: known.map(|known| known.hash),
                carried: true,
                seen: known.map(|known| known.stat),
            },
        );
    }
    next.complete(&old.dir, &tree)?;
    hook::reached("after-next-written");
    next.swap_in(old, changes, &tree)
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
        // Pipelines are their target's, whatever the environment.
        assert!(!scope.contains("github-actions/bot.yml"));
        let pipelines = Scope {
            target: Some("gitlab-ci".into()),
            environment: Some("prod".into()),
        };
        assert!(pipelines.contains("gitlab-ci/bot.yml"));
        assert!(!pipelines.contains("github-actions/bot.yml"));
        assert!(!pipelines.contains("kubernetes/prod/bot.yaml"));
        let environment = Scope {
            target: None,
            environment: Some("staging".into()),
        };
        assert!(environment.contains("github-actions/bot.yml"));
        assert!(environment.contains("envoy/staging/bot/listener.yaml"));
        assert!(!environment.contains("envoy/prod/bot/listener.yaml"));
    }

    #[cfg(unix)]
    #[test]
    fn a_record_stands_for_a_file_seen_elsewhere_only_when_it_is_that_file() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("t")).unwrap();
        std::fs::write(tree.join("t/a.yaml"), "a").unwrap();
        std::fs::write(tree.join("t/b.yaml"), "a").unwrap();
        let stat = |p: &str| Stat::of_path(&tree.join(p)).unwrap().unwrap();
        let (a, b) = (stat("t/a.yaml"), stat("t/b.yaml"));
        let hash = *blake3::hash(b"a").as_bytes();
        let index = OutputIndex {
            folders: vec![(String::new(), stat("")), ("t".to_owned(), stat("t"))],
            files: vec![("t/a.yaml".to_owned(), Some(Known { stat: a, hash }))],
        };
        // Let the clock pass the records, so that the index vouches for them.
        std::thread::sleep(std::time::Duration::from_millis(30));
        let path = dir.path().join("tree.index");
        index::save(&path, &index).unwrap();
        let old = OldTree::open_with(&tree, index::load(&path)).unwrap();
        assert!(old.listed_from_index());
        assert_eq!(
            old.known_as("t/a.yaml", Some(a)).map(|k| k.hash),
            Some(hash)
        );
        // Same bytes, another file: it is looked at instead.
        assert!(old.known_as("t/a.yaml", Some(b)).is_none());
        assert!(old.known_as("t/a.yaml", None).is_none());
    }

    /// The output folder `generated` in `dir`.
    fn folder(dir: &Path) -> folder::OutputFolder {
        let root = std::fs::canonicalize(dir).unwrap();
        folder::OutputFolder::locate(&root, &root, None).unwrap()
    }

    /// `files` with the marker, as a compile emits them.
    fn marked(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
        let mut files = files.clone();
        files.extend(folder::marker_files().files);
        files
    }

    /// Compiles `files` (and the marker) into `out` as a writing compile does.
    fn write(out: &Path, spare: Option<next::SparePaths>, files: &BTreeMap<String, Vec<u8>>) {
        let folder = folder(out.parent().unwrap());
        let old = OldTree::open(out).unwrap();
        let next = NextTree::new(&folder, spare);
        let comparer = Comparer::new(&old, Some(&next));
        comparer.accept(FileSet {
            files: marked(files),
        });
        let changes = comparer.finish().unwrap();
        assert!(changes.held.is_empty(), "nothing is held in memory");
        write_changes(&old, next, &changes, &Scope::default()).unwrap();
    }

    #[test]
    fn writes_and_replaces_a_tree() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("generated");
        let mut tree = BTreeMap::new();
        tree.insert("a/b.yaml".to_owned(), b"one".to_vec());
        tree.insert("gone/c.yaml".to_owned(), b"x".to_vec());
        write(&out, None, &tree);
        assert_eq!(read_tree(&out).unwrap(), marked(&tree));
        tree.remove("gone/c.yaml");
        tree.insert("a/b.yaml".to_owned(), b"two".to_vec());
        write(&out, None, &tree);
        assert_eq!(read_tree(&out).unwrap(), marked(&tree));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no staging folders are left behind");
    }

    #[test]
    fn the_spare_is_brought_up_to_date_whatever_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("generated");
        let cache = dir.path().join("cache");
        let spare = next::SparePaths::new(&cache, &out);
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let file = |i: usize| {
            (
                format!("t/{}/f{i}.yaml", i % 3),
                format!("v{i}").into_bytes(),
            )
        };
        let mut tree: BTreeMap<String, Vec<u8>> = (0..12).map(file).collect();
        for round in 0..6 {
            // Each round changes, adds and removes some files.
            tree.insert(
                format!("t/{round}/new.yaml"),
                format!("r{round}").into_bytes(),
            );
            tree.remove(&format!("t/{}/f{}.yaml", round % 3, round));
            tree.insert(
                "t/0/f0.yaml".to_owned(),
                format!("round {round}").into_bytes(),
            );
            if round == 3 {
                // Someone edits the spare: it is still brought up to date.
                std::fs::write(spare.dir.join("t/0/f0.yaml"), "edited").unwrap();
                // A file the output keeps, edited in place in the spare (the output
                // may share it).
                std::fs::write(spare.dir.join("t/2/f11.yaml"), "edited too").unwrap();
                std::fs::write(spare.dir.join("stray.yaml"), "stray").unwrap();
            }
            #[cfg(unix)]
            if round == 2 {
                // Odd things left in the output, which becomes the spare next:
                // a link where a folder belongs, a folder where a file belongs.
                std::fs::remove_dir_all(out.join("t/1")).unwrap();
                std::os::unix::fs::symlink(&outside, out.join("t/1")).unwrap();
                std::fs::remove_file(out.join("t/0/f3.yaml")).unwrap();
                std::fs::create_dir_all(out.join("t/0/f3.yaml/x")).unwrap();
            }
            if round == 4 {
                // A file of the output edited in place: the spare may share it.
                std::fs::write(out.join("t/2/f8.yaml"), "in place").unwrap();
            }
            if round % 2 == 1 {
                // Let the clock pass the records, so that the indexes vouch for them.
                std::thread::sleep(std::time::Duration::from_millis(30));
            }
            write(&out, Some(spare.clone()), &tree);
            assert_eq!(read_tree(&out).unwrap(), marked(&tree), "round {round}");
            // The first compile has no tree to retire.
            assert_eq!(spare.dir.is_dir(), round > 0, "round {round}");
        }
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            0,
            "nothing is written through a link"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }
}
