//! Which folder `compile` may write, and how it replaces it.
//!
//! `compile` replaces its output folder as a whole: whatever the folder held that the
//! new output does not have is gone. So it writes only into a folder it owns — one
//! it created, or one holding the marker file [`MARKER_NAME`] — and refuses, leaving
//! every byte as it was, anything else:
//!
//! - the repository root, any path outside the repository, and any path that is or
//!   passes through a symbolic link inside it (links above the repository root are
//!   the machine's business, not the repository's);
//! - the repository's sources: `models/`, `prompts/`, `.git/`, the local datasets the
//!   configuration names, `modelops.kdl`, `modelops.lock`, and any folder holding a
//!   project (`modelops.kdl`, `modelops.lock`, `models/` or `prompts/`);
//! - an existing file that is not a folder;
//! - a folder holding anything that is not a plain file or a folder (a link in the
//!   output is never followed, replaced or deleted: its target may be anyone's);
//! - a non-empty folder without the marker, unless every file in it is one the
//!   compile itself emits (its *adoption*: nothing foreign can be lost, which keeps
//!   repositories whose committed output predates the marker working).
//!
//! A relative `--out` is relative to the current directory, as any path on the
//! command line; the default is `generated/` in the repository root.
//!
//! The new tree is swapped in with one `renameat2(RENAME_EXCHANGE)` on Linux: the
//! output folder is, at every instant, the old complete tree or the new one. Where
//! the exchange is not available (other systems, or a file system that refuses it)
//! two renames do it: the output to `.NAME.modelops-prev`, then the new tree to the
//! output. A process killed between them leaves no output folder and a complete
//! `.NAME.modelops-prev`, which the next writing compile renames back before it does
//! anything else ([`OutputFolder::recover`]). In-flight folders beside the output are
//! only ever `.NAME.modelops-next` and `.NAME.modelops-prev`, and a compile removes
//! them only when they hold the marker (or nothing). One writing compile at a time
//! holds a repository's output: the lock is an `flock` on the repository's root
//! folder (which always exists, so taking it creates nothing); a second compile
//! waits for it.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use super::hook;
use crate::layout;

/// The marker file's name, at the top of an output folder.
pub use crate::layout::OUTPUT_MARKER as MARKER_NAME;

/// The marker file's bytes. They are part of the emitted tree: `compile --check`
/// expects them like any other output file.
pub const MARKER: &[u8] =
    b"This folder is written by `modelops compile` and replaced as a whole on every
run: files added here are deleted, edits are lost. Change the configuration and
compile again instead.
";

/// Folders at the top of the repository that hold its sources.
const SOURCE_FOLDERS: &[&str] = &[layout::MODELS_DIR, layout::PROMPTS_DIR, ".git"];

/// Files at the top of the repository that are its sources.
const SOURCE_FILES: &[&str] = &[layout::PROJECT_FILE_NAME, layout::LOCK_FILE_NAME];

/// Entries whose presence makes a folder a project of its own.
const PROJECT_ENTRIES: &[&str] = &[
    layout::PROJECT_FILE_NAME,
    layout::LOCK_FILE_NAME,
    layout::MODELS_DIR,
    layout::PROMPTS_DIR,
    ".git",
];

/// The marker file as emitted output, for the comparer.
pub fn marker_files() -> crate::target::FileSet {
    crate::target::FileSet {
        files: std::collections::BTreeMap::from([(MARKER_NAME.to_owned(), MARKER.to_vec())]),
    }
}

/// The local dataset files the configuration names (paths relative to the
/// repository root), which no output folder may hold.
pub fn local_datasets(config: &crate::model::config::Config) -> Vec<String> {
    config
        .models
        .iter()
        .flat_map(|model| model.deploy.values())
        .flat_map(|deploy| deploy.gate.values())
        .filter_map(|gate| gate.dataset.as_ref())
        .filter(|dataset| !dataset.is_remote())
        .map(|dataset| dataset.path.clone())
        .collect()
}

/// Why `compile` will not write a folder: what is wrong, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub help: String,
}

impl Refusal {
    fn new(message: String, help: impl Into<String>) -> Self {
        Refusal {
            message,
            help: help.into(),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)
    }
}

/// An output folder that passed the location checks: inside the repository, not a
/// link, not a source. Whether its contents may be replaced is decided later, by
/// [`OutputFolder::claim`] and [`OutputFolder::adopt`].
#[derive(Clone, Debug)]
pub struct OutputFolder {
    /// The repository root (canonical).
    root: PathBuf,
    /// The folder, with every folder above it resolved (canonical).
    path: PathBuf,
    /// The path as the user gave it, for messages.
    shown: PathBuf,
    /// `path` relative to the repository root.
    relative: PathBuf,
}

/// What an output folder holds before a writing compile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// It does not exist (the compile creates it) or is an empty folder.
    Fresh,
    /// It holds the marker.
    Marked,
    /// It has files but no marker: it is replaced only if every file in it is one
    /// this compile emits ([`OutputFolder::adopt`]).
    Unmarked,
}

impl OutputFolder {
    /// Decides where the output of the repository at `root` (canonical) goes: `out`
    /// (relative to `base`, the current directory) or `generated/` in the root.
    pub fn locate(root: &Path, base: &Path, out: Option<&Path>) -> Result<Self, Refusal> {
        let (absolute, shown) = match out {
            Some(out) => (base.join(out), out.to_path_buf()),
            None => (
                root.join(crate::layout::OUTPUT_DIR),
                PathBuf::from(crate::layout::OUTPUT_DIR),
            ),
        };
        let shown_text = shown.display().to_string();
        let path = resolve(&absolute).map_err(|error| {
            Refusal::new(
                format!("cannot resolve the output folder `{shown_text}`: {error}"),
                "pass `--out` a folder inside the repository",
            )
        })?;
        // A link anywhere inside the repository on the way, or the folder itself.
        for prefix in prefixes(&absolute) {
            let is_link = std::fs::symlink_metadata(&prefix).is_ok_and(|m| m.is_symlink());
            let inside = || {
                prefix
                    .parent()
                    .and_then(|parent| std::fs::canonicalize(parent).ok())
                    .is_some_and(|parent| parent.starts_with(root))
            };
            if is_link && inside() {
                return Err(Refusal::new(
                    format!(
                        "the output folder `{shown_text}` is or passes through the symbolic link `{}`",
                        prefix.display()
                    ),
                    "compile never writes through a link; pass `--out` a real folder inside the repository",
                ));
            }
        }
        if path == root {
            return Err(Refusal::new(
                format!("the output folder `{shown_text}` is the repository root"),
                "compile replaces its output folder as a whole; pass `--out` a folder of its own, such as `generated`",
            ));
        }
        let Ok(relative) = path.strip_prefix(root).map(Path::to_path_buf) else {
            return Err(Refusal::new(
                format!(
                    "the output folder `{shown_text}` ({}) is outside the repository `{}`",
                    path.display(),
                    root.display()
                ),
                "pass `--out` a folder inside the repository",
            ));
        };
        let folder = OutputFolder {
            root: root.to_path_buf(),
            path,
            shown,
            relative,
        };
        folder.refuse_sources()?;
        Ok(folder)
    }

    /// The folder (its parents resolved).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder as the user named it.
    pub fn shown(&self) -> &Path {
        &self.shown
    }

    /// The folder's name.
    fn name(&self) -> OsString {
        self.path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| OsString::from(crate::layout::OUTPUT_DIR))
    }

    /// The folder that holds the output folder.
    fn parent(&self) -> &Path {
        self.path.parent().unwrap_or(&self.path)
    }

    /// `.NAME.modelops-SUFFIX` beside the output folder.
    fn beside(&self, suffix: &str) -> PathBuf {
        let mut name = OsString::from(".");
        name.push(self.name());
        name.push(crate::layout::IN_FLIGHT_SUFFIX);
        name.push(suffix);
        self.parent().join(name)
    }

    /// Where a fresh next tree is built.
    pub fn next_path(&self) -> PathBuf {
        self.beside("next")
    }

    /// Where the old tree waits when the exchange falls back to two renames.
    pub fn prev_path(&self) -> PathBuf {
        self.beside("prev")
    }

    fn shown_text(&self) -> String {
        self.shown.display().to_string()
    }

    /// Refuses the repository's sources and project files.
    fn refuse_sources(&self) -> Result<(), Refusal> {
        let shown = self.shown_text();
        let top = self.relative.components().next().and_then(|c| match c {
            Component::Normal(name) => name.to_str(),
            _ => None,
        });
        if let Some(top) = top
            && SOURCE_FOLDERS.contains(&top)
        {
            return Err(Refusal::new(
                format!("the output folder `{shown}` is in the repository's sources (`{top}/`)"),
                "pass `--out` a folder of its own, such as `generated`",
            ));
        }
        if let Some(file) = self.relative.to_str()
            && SOURCE_FILES.contains(&file)
        {
            return Err(Refusal::new(
                format!("the output folder `{shown}` is the project file `{file}`"),
                "pass `--out` a folder of its own, such as `generated`",
            ));
        }
        match std::fs::symlink_metadata(&self.path) {
            Ok(meta) if !meta.is_dir() => {
                return Err(Refusal::new(
                    format!("the output folder `{shown}` exists and is not a folder"),
                    "compile writes a folder; pass `--out` a folder, or remove the file",
                ));
            }
            Ok(_) => {
                if let Some(entry) = PROJECT_ENTRIES
                    .iter()
                    .find(|entry| std::fs::symlink_metadata(self.path.join(entry)).is_ok())
                {
                    return Err(Refusal::new(
                        format!(
                            "the output folder `{shown}` holds `{entry}`: it is a project's sources"
                        ),
                        "pass `--out` a folder of its own, such as `generated`",
                    ));
                }
            }
            Err(_) => {}
        }
        Ok(())
    }

    /// Refuses a folder that holds (or is inside) one of the local `datasets` the
    /// configuration names (paths relative to the repository root).
    pub fn refuse_datasets<'a>(
        &self,
        datasets: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), Refusal> {
        for dataset in datasets {
            let dataset = Path::new(dataset);
            let dataset: PathBuf = dataset
                .components()
                .filter(|c| !matches!(c, Component::CurDir))
                .collect();
            if dataset.starts_with(&self.relative) || self.relative.starts_with(&dataset) {
                return Err(Refusal::new(
                    format!(
                        "the output folder `{}` holds the dataset `{}`",
                        self.shown_text(),
                        dataset.display()
                    ),
                    "pass `--out` a folder of its own, such as `generated`",
                ));
            }
        }
        Ok(())
    }

    /// What the folder holds, as listed in `old`; refuses a folder holding links or
    /// anything else that is not a plain file or a folder.
    pub fn claim(&self, old: &super::OldTree) -> Result<Ownership, Refusal> {
        if let Some(link) = old.not_files().first() {
            return Err(Refusal::new(
                format!(
                    "`{}` in the output folder is not a plain file (a symbolic link?)",
                    self.shown.join(link).display()
                ),
                "compile never follows, replaces or deletes what is not its own; remove it, then compile again",
            ));
        }
        if old.paths().next().is_none() {
            return Ok(Ownership::Fresh);
        }
        let marker = std::fs::symlink_metadata(self.path.join(MARKER_NAME));
        if marker.is_ok_and(|meta| meta.is_file()) {
            Ok(Ownership::Marked)
        } else {
            Ok(Ownership::Unmarked)
        }
    }

    /// Accepts an unmarked folder when every file in it is one this compile emits
    /// (`emitted`), and marks it, so that even a run killed halfway leaves only
    /// folders marked as modelops' own.
    pub fn adopt(
        &self,
        old: &super::OldTree,
        emitted: &dyn Fn(&str) -> bool,
    ) -> Result<(), Refusal> {
        let foreign: Vec<&String> = old.paths().filter(|path| !emitted(path)).collect();
        if let Some(first) = foreign.first() {
            let more = match foreign.len() {
                1 => String::new(),
                n => format!(" and {} more", n - 1),
            };
            return Err(Refusal::new(
                format!(
                    "the output folder `{}` has no `{MARKER_NAME}` marker and holds files compile does not write: `{first}`{more}",
                    self.shown_text()
                ),
                format!(
                    "compile replaces its output folder as a whole; move those files away or delete the folder, \
                     or, if it really is modelops output, create `{}` (a compile of one `--env` or `--target` \
                     does not write the others' files: run a full compile once)",
                    self.shown.join(MARKER_NAME).display()
                ),
            ));
        }
        super::write::write_file_atomically(&self.path.join(MARKER_NAME), MARKER).map_err(|error| {
            Refusal::new(
                format!(
                    "cannot mark `{}` as modelops output: {error}",
                    self.shown_text()
                ),
                "check the folder's permissions",
            )
        })
    }

    /// Takes the lock that gives one writing compile at a time the repository's
    /// output (an `flock` on the repository root folder), waiting for it — after
    /// calling `waiting` — when another compile holds it. Released when the
    /// returned lock is dropped.
    pub fn lock(&self, waiting: impl FnOnce()) -> std::io::Result<OutputLock> {
        let file = std::fs::File::open(&self.root)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                waiting();
                file.lock()?;
            }
            Err(std::fs::TryLockError::Error(error)) => return Err(error),
        }
        Ok(OutputLock { _file: file })
    }

    /// What a writing compile does first: takes the lock ([`OutputFolder::lock`])
    /// and cleans up after a run that was killed ([`OutputFolder::recover`]).
    pub fn hold(&self, waiting: impl FnOnce()) -> Result<OutputLock, Refusal> {
        let lock = self.lock(waiting).map_err(|error| {
            Refusal::new(
                format!("cannot lock `{}`: {error}", self.root.display()),
                "compile locks the repository's root folder while it writes; check its permissions",
            )
        })?;
        self.recover()?;
        Ok(lock)
    }

    /// Cleans up after a writing compile that was killed: restores the old tree when
    /// the output folder is missing and a complete `.NAME.modelops-prev` waits
    /// beside it, then removes `.NAME.modelops-next` and `.NAME.modelops-prev`.
    /// Folders by those names that are not modelops' own (no marker, not empty) are
    /// left alone and refused.
    pub fn recover(&self) -> Result<(), Refusal> {
        let failed = |what: &Path, error: std::io::Error| {
            Refusal::new(
                format!(
                    "cannot clean up `{}`, left by an interrupted compile: {error}",
                    what.display()
                ),
                "remove it by hand, then compile again",
            )
        };
        let prev = self.prev_path();
        let next = self.next_path();
        for leftover in [&prev, &next] {
            if std::fs::symlink_metadata(leftover).is_ok() && !is_owned(leftover) {
                return Err(Refusal::new(
                    format!(
                        "`{}` is in the way and is not modelops output",
                        leftover.display()
                    ),
                    "compile uses that name for the tree it builds; move it away",
                ));
            }
        }
        let out_missing = std::fs::symlink_metadata(&self.path).is_err();
        if out_missing && std::fs::symlink_metadata(&prev).is_ok() {
            std::fs::rename(&prev, &self.path).map_err(|error| failed(&prev, error))?;
        }
        for leftover in [&prev, &next] {
            if std::fs::symlink_metadata(leftover).is_ok() {
                remove_owned(leftover).map_err(|error| failed(leftover, error))?;
            }
        }
        Ok(())
    }
}

/// Held while a compile writes an output folder.
#[derive(Debug)]
pub struct OutputLock {
    _file: std::fs::File,
}

/// Where the old tree is once the new one is in place.
pub(super) enum Swapped {
    /// There was no output folder: nothing to retire.
    Fresh,
    /// The old tree now sits where the new one was built (one exchange).
    Exchanged,
    /// The old tree sits at `.NAME.modelops-prev` (two renames).
    Aside(PathBuf),
}

/// Puts the complete tree at `next` in place of `folder`, in one step where the
/// system can; on failure the output folder is as it was.
pub(super) fn swap(folder: &OutputFolder, next: &Path) -> std::io::Result<Swapped> {
    let out = folder.path();
    hook::reached("before-exchange");
    if std::fs::symlink_metadata(out).is_err() {
        std::fs::rename(next, out)?;
        hook::reached("after-exchange");
        return Ok(Swapped::Fresh);
    }
    if exchange(next, out)? {
        hook::reached("after-exchange");
        return Ok(Swapped::Exchanged);
    }
    let prev = folder.prev_path();
    std::fs::rename(out, &prev)?;
    hook::reached("between-renames");
    if let Err(error) = std::fs::rename(next, out) {
        let _ = std::fs::rename(&prev, out);
        return Err(error);
    }
    hook::reached("after-exchange");
    Ok(Swapped::Aside(prev))
}

/// Exchanges `a` and `b` atomically; `Ok(false)` when the system or the file
/// system cannot (nothing was changed then).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<bool> {
    use std::os::unix::ffi::OsStrExt;
    if hook::exchange_disabled() {
        return Ok(false);
    }
    let (a, b) = (
        std::ffi::CString::new(a.as_os_str().as_bytes())?,
        std::ffi::CString::new(b.as_os_str().as_bytes())?,
    );
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let done = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if done == 0 {
        return Ok(true);
    }
    let error = std::io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) => Ok(false),
        _ => Err(error),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<bool> {
    Ok(false)
}

/// Whether `dir` is a folder modelops may remove: it holds the marker, or nothing.
fn is_owned(dir: &Path) -> bool {
    let is_dir = std::fs::symlink_metadata(dir).is_ok_and(|meta| meta.is_dir());
    is_dir
        && (std::fs::symlink_metadata(dir.join(MARKER_NAME)).is_ok_and(|meta| meta.is_file())
            || std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none()))
}

/// Removes a folder of modelops' own, its marker last, so that a removal cut short
/// leaves a folder the next run still recognises (or an empty one).
pub(super) fn remove_owned(dir: &Path) -> std::io::Result<()> {
    let mut removed = 0usize;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name() == MARKER_NAME {
            continue;
        }
        // Not following links: a link is removed, never what it points at.
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
        removed += 1;
        if removed == 1 {
            hook::reached("during-cleanup");
        }
    }
    match std::fs::remove_file(dir.join(MARKER_NAME)) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    std::fs::remove_dir(dir)
}

/// `path` with every folder above its last part resolved (that last part is not
/// followed, whatever it is). Parts that do not exist yet are kept as they are,
/// as long as they are plain names.
fn resolve(path: &Path) -> std::io::Result<PathBuf> {
    let ends_in_name = matches!(path.components().next_back(), Some(Component::Normal(_)));
    let (parent, name) = match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) if ends_in_name => (parent, Some(name)),
        // `/`, or a path ending in `..`: resolved whole (no final link to follow).
        _ => (path, None),
    };
    let existing = parent
        .ancestors()
        .find(|ancestor| ancestor.exists())
        .unwrap_or(Path::new("/"));
    let mut resolved = std::fs::canonicalize(existing)?;
    let rest = parent
        .strip_prefix(existing)
        .map_err(std::io::Error::other)?;
    for part in rest.components() {
        match part {
            Component::Normal(part) => resolved.push(part),
            Component::CurDir => {}
            _ => {
                return Err(std::io::Error::other(
                    "`..` after a folder that does not exist",
                ));
            }
        }
    }
    if let Some(name) = name {
        resolved.push(name);
    }
    Ok(resolved)
}

/// Every prefix of `path`, shortest first (`/a/b` → `/`, `/a`, `/a/b`).
fn prefixes(path: &Path) -> Vec<PathBuf> {
    let mut prefix = PathBuf::new();
    path.components()
        .map(|part| {
            prefix.push(part);
            prefix.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        for folder in ["models", "prompts", "datasets"] {
            std::fs::create_dir(root.join(folder)).unwrap();
        }
        std::fs::write(root.join("modelops.kdl"), "project \"t\"\n").unwrap();
        (dir, root)
    }

    fn locate(root: &Path, out: &str) -> Result<PathBuf, Refusal> {
        OutputFolder::locate(root, root, Some(Path::new(out))).map(|f| f.path)
    }

    #[test]
    fn a_folder_of_its_own_inside_the_repository_is_accepted() {
        let (_dir, root) = repo();
        assert_eq!(locate(&root, "generated"), Ok(root.join("generated")));
        assert_eq!(locate(&root, "out/deep/er"), Ok(root.join("out/deep/er")));
        assert_eq!(locate(&root, "./models/../gen"), Ok(root.join("gen")));
        assert_eq!(
            OutputFolder::locate(&root, &root.join("models"), None).map(|f| f.path),
            Ok(root.join("generated"))
        );
    }

    #[test]
    fn the_root_sources_and_outside_paths_are_refused() {
        let (_dir, root) = repo();
        for out in [
            ".",
            "",
            "models",
            "models/x",
            "prompts",
            ".git/x",
            "modelops.kdl",
            "modelops.lock",
            "..",
            "../outside",
            "/",
            "missing/../../x",
        ] {
            assert!(locate(&root, out).is_err(), "{out:?}");
        }
        let folder = OutputFolder::locate(&root, &root, Some(Path::new("datasets/gen"))).unwrap();
        assert!(
            folder
                .refuse_datasets(["./datasets/gen/golden.jsonl"])
                .is_err()
        );
        assert!(folder.refuse_datasets(["datasets/other.jsonl"]).is_ok());
        let folder = OutputFolder::locate(&root, &root, Some(Path::new("datasets"))).unwrap();
        assert!(folder.refuse_datasets(["datasets/a.jsonl"]).is_err());
        // A folder holding a project of its own.
        std::fs::create_dir_all(root.join("nested/models")).unwrap();
        assert!(locate(&root, "nested").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn links_on_the_way_are_refused() {
        let (_dir, root) = repo();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("generated")).unwrap();
        std::os::unix::fs::symlink(root.join("models"), root.join("inside")).unwrap();
        assert!(locate(&root, "generated").is_err());
        assert!(locate(&root, "generated/x").is_err());
        assert!(locate(&root, "inside").is_err());
        assert!(locate(&root, "inside/x").is_err());
    }

    #[test]
    fn leftovers_are_removed_only_when_they_are_modelops_own() {
        let (_dir, root) = repo();
        let folder = OutputFolder::locate(&root, &root, None).unwrap();
        let next = folder.next_path();
        std::fs::create_dir_all(next.join("a")).unwrap();
        std::fs::write(next.join("a/b.yaml"), "b").unwrap();
        assert!(folder.recover().is_err(), "no marker: not ours");
        assert!(next.join("a/b.yaml").exists());
        std::fs::write(next.join(MARKER_NAME), MARKER).unwrap();
        folder.recover().unwrap();
        assert!(!next.exists());
        // A complete old tree set aside, and no output: it is put back.
        let prev = folder.prev_path();
        std::fs::create_dir_all(&prev).unwrap();
        std::fs::write(prev.join(MARKER_NAME), MARKER).unwrap();
        folder.recover().unwrap();
        assert!(folder.path().join(MARKER_NAME).is_file());
        assert!(!prev.exists());
    }
}
