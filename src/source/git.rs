//! Git-backed sources: the index (what `git commit` would record) and a revision's
//! tree. Both read blobs through libgit2; nothing is checked out.
//!
//! The config root (the folder with `modelops.kdl`) may be a subfolder of the git
//! repository; paths are answered relative to it, and a symlink blob that leads
//! outside it is reported as an escape, as in the working tree.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Mutex;

use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};

use super::{DirEntry, EntryKind, RepoPath, Source, SourceError};

/// File modes in git trees and the index.
const MODE_SYMLINK: u32 = 0o120000;
const MODE_GITLINK: u32 = 0o160000;

/// Why a git source could not be opened (an environment problem, exit code 2).
#[derive(Debug)]
pub enum GitError {
    NotARepository {
        path: String,
    },
    BareRepository,
    UnknownRevision {
        revision: String,
        message: String,
    },
    /// The index file (`.git/index` or `GIT_INDEX_FILE`) cannot be used.
    Index {
        path: String,
        message: String,
    },
    Git(git2::Error),
}

impl fmt::Display for GitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GitError::NotARepository { path } => {
                write!(f, "`{path}` is not inside a git repository")
            }
            GitError::BareRepository => f.write_str("the git repository has no working tree"),
            GitError::UnknownRevision { revision, message } => {
                write!(f, "revision `{revision}` cannot be resolved: {message}")
            }
            GitError::Index { path, message } => write!(f, "`{path}`: {message}"),
            GitError::Git(e) => write!(f, "git: {}", e.message()),
        }
    }
}

impl std::error::Error for GitError {}

impl From<git2::Error> for GitError {
    fn from(error: git2::Error) -> Self {
        GitError::Git(error)
    }
}

/// A file's repository-relative path and contents.
pub type NamedBlob = (String, Vec<u8>);

/// One file known to git: its blob and mode.
#[derive(Clone, Copy, Debug)]
struct Blob {
    oid: Oid,
    mode: u32,
}

/// The files under the config root, as git recorded them, and the means to read them.
struct GitFiles {
    repo: Mutex<Repository>,
    /// More handles on the same repository, opened when blobs are read from several
    /// threads at once (a `Repository` serves one thread at a time).
    spares: Mutex<Vec<Repository>>,
    /// The repository's git folder, where spares are opened.
    git_dir: std::path::PathBuf,
    /// Paths relative to the config root.
    entries: BTreeMap<String, Blob>,
    description: String,
}

/// Opens the repository containing `root` and returns it with `root`'s path inside
/// the repository's working tree (`""` when they are the same, else `"a/b/"`).
/// The repository holding `root` (the config root), and `root`'s path in it as a
/// prefix (`""` or `"dir/"`).
pub fn open(root: &Path) -> Result<(Repository, String), GitError> {
    // No repository at all is one thing; a repository git2 cannot open (SHA-256
    // object names, an unknown extension, a damaged `.git`) is another, and is
    // reported as it is rather than taken for "no repository".
    let repo = Repository::discover(root).map_err(|e| match e.code() {
        git2::ErrorCode::NotFound => GitError::NotARepository {
            path: root.display().to_string(),
        },
        _ => GitError::Git(e),
    })?;
    let workdir = repo.workdir().ok_or(GitError::BareRepository)?;
    let workdir = std::fs::canonicalize(workdir).unwrap_or_else(|_| workdir.to_path_buf());
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let relative = root
        .strip_prefix(&workdir)
        .map_err(|_| GitError::NotARepository {
            path: root.display().to_string(),
        })?;
    let mut prefix = relative.to_string_lossy().replace('\\', "/");
    if !prefix.is_empty() {
        prefix.push('/');
    }
    Ok((repo, prefix))
}

/// The revision released content is judged against when none is given: the
/// merge-base of `HEAD` with the default branch, so that content counts as released
/// once it reached that branch, not when it was first committed on a feature
/// branch. The default branch is `MODELOPS_BASE_BRANCH` when set, else the branch
/// `origin/HEAD` points at, else `origin/main`, `origin/master`, `main` or
/// `master`, whichever exists first. Returns the merge-base commit and how to name
/// it; `None` without such a branch or without common history (callers then use
/// `HEAD`).
pub fn default_base(root: &Path) -> Option<(String, String)> {
    let (repo, _) = open(root).ok()?;
    let head = repo.head().ok()?.peel_to_commit().ok()?.id();
    let mut candidates: Vec<String> = Vec::new();
    if let Ok(configured) = std::env::var("MODELOPS_BASE_BRANCH")
        && !configured.is_empty()
    {
        candidates.push(configured.clone());
        candidates.push(format!("origin/{configured}"));
    } else {
        if let Ok(reference) = repo.find_reference("refs/remotes/origin/HEAD")
            && let Some(target) = reference.symbolic_target().ok().flatten()
            && let Some(short) = target.strip_prefix("refs/remotes/")
        {
            candidates.push(short.to_owned());
        }
        candidates.extend(
            ["origin/main", "origin/master", "main", "master"]
                .iter()
                .map(|name| (*name).to_owned()),
        );
    }
    for name in candidates {
        let Ok(branch) = repo
            .revparse_single(&name)
            .and_then(|object| object.peel_to_commit())
        else {
            continue;
        };
        let base = repo.merge_base(head, branch.id()).ok()?;
        let label = if base == head {
            "HEAD".to_owned()
        } else {
            format!("the merge-base of HEAD with {name}")
        };
        return Some((base.to_string(), label));
    }
    None
}

impl GitFiles {
    fn new(repo: Repository, entries: BTreeMap<String, Blob>, description: String) -> Self {
        GitFiles {
            git_dir: repo.path().to_path_buf(),
            repo: Mutex::new(repo),
            spares: Mutex::default(),
            entries,
            description,
        }
    }

    fn kind_of(
        &self,
        path: &str,
        depth: usize,
    ) -> Result<Option<(EntryKind, Option<String>)>, SourceError> {
        if path.is_empty() {
            return Ok(Some((EntryKind::Dir, None)));
        }
        if let Some(blob) = self.entries.get(path) {
            return match blob.mode {
                MODE_SYMLINK => self.follow(path, *blob, depth),
                MODE_GITLINK => Ok(Some((EntryKind::Other, None))),
                _ => Ok(Some((EntryKind::File, Some(path.to_owned())))),
            };
        }
        let prefix = format!("{path}/");
        let is_dir = self
            .entries
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix));
        Ok(is_dir.then_some((EntryKind::Dir, None)))
    }

    /// Resolves a symlink blob lexically, inside the config root only.
    fn follow(
        &self,
        path: &str,
        blob: Blob,
        depth: usize,
    ) -> Result<Option<(EntryKind, Option<String>)>, SourceError> {
        let repo_path = RepoPath(path.to_owned());
        let target =
            String::from_utf8_lossy(&self.blob_bytes(&repo_path, blob, 4096)?).into_owned();
        let escapes = || SourceError::Escapes {
            path: repo_path.clone(),
            target: target.clone(),
        };
        if depth > 8 {
            return Err(escapes());
        }
        let parent = repo_path.parent();
        let joined = if parent.is_root() {
            target.clone()
        } else {
            format!("{}/{target}", parent.as_str())
        };
        let resolved = RepoPath::parse(&joined).map_err(|_| escapes())?;
        self.kind_of(resolved.as_str(), depth + 1)
    }

    fn blob_bytes(&self, path: &RepoPath, blob: Blob, limit: u64) -> Result<Vec<u8>, SourceError> {
        let unavailable = || SourceError::Io {
            path: path.clone(),
            message: "the git repository is unavailable".to_owned(),
        };
        // The main handle when it is free; else a spare, opened on first need.
        if let Ok(repo) = self.repo.try_lock() {
            return Self::read_blob(&repo, path, blob, limit);
        }
        let spare = self.spares.lock().map_err(|_| unavailable())?.pop();
        let spare = match spare {
            Some(spare) => spare,
            None => Repository::open(&self.git_dir).map_err(|_| unavailable())?,
        };
        let read = Self::read_blob(&spare, path, blob, limit);
        if let Ok(mut spares) = self.spares.lock() {
            spares.push(spare);
        }
        read
    }

    fn read_blob(
        repo: &Repository,
        path: &RepoPath,
        blob: Blob,
        limit: u64,
    ) -> Result<Vec<u8>, SourceError> {
        let object = repo.find_blob(blob.oid).map_err(|e| SourceError::Io {
            path: path.clone(),
            message: e.message().to_owned(),
        })?;
        let size = object.size() as u64;
        if size > limit {
            return Err(SourceError::TooLarge {
                path: path.clone(),
                size,
                limit,
            });
        }
        Ok(object.content().to_vec())
    }

    fn read_dir(&self, path: &RepoPath) -> Result<Vec<DirEntry>, SourceError> {
        let prefix = if path.is_root() {
            String::new()
        } else {
            format!("{}/", path.as_str())
        };
        let mut names: BTreeMap<String, bool> = BTreeMap::new();
        for key in self
            .entries
            .range(prefix.clone()..)
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(&prefix))
        {
            let rest = &key[prefix.len()..];
            match rest.split_once('/') {
                Some((dir, _)) => names.insert(dir.to_owned(), true),
                None => names.insert(rest.to_owned(), false),
            };
        }
        let mut out = Vec::new();
        for (name, is_dir) in names {
            let kind = if is_dir {
                EntryKind::Dir
            } else {
                match self.kind_of(&format!("{prefix}{name}"), 0) {
                    Ok(Some((kind, _))) => kind,
                    Ok(None) => continue,
                    // Escapes surface when the entry is read.
                    Err(_) => EntryKind::File,
                }
            };
            out.push(DirEntry { name, kind });
        }
        Ok(out)
    }

    fn read(&self, path: &RepoPath, limit: u64) -> Result<Vec<u8>, SourceError> {
        match self.kind_of(path.as_str(), 0)? {
            Some((EntryKind::File, Some(real))) => {
                let blob = self
                    .entries
                    .get(&real)
                    .copied()
                    .ok_or_else(|| SourceError::NotFound(path.clone()))?;
                self.blob_bytes(path, blob, limit)
            }
            Some(_) => Err(SourceError::NotAFile(path.clone())),
            None => Err(SourceError::NotFound(path.clone())),
        }
    }
}

/// The git index: exactly what would be committed.
pub struct GitIndex {
    files: GitFiles,
}

impl GitIndex {
    /// Opens the index of the repository containing `root` (the config root): the
    /// file `GIT_INDEX_FILE` names when it is set, as git sets it for hooks while
    /// `git commit -a` or `git commit <paths>` prepares a commit in a temporary
    /// index, else the repository's own.
    pub fn open(root: &Path) -> Result<Self, GitError> {
        let (repo, prefix) = open(root)?;
        let index_path = std::env::var_os("GIT_INDEX_FILE")
            .filter(|path| !path.is_empty())
            .map_or_else(|| repo.path().join("index"), std::path::PathBuf::from);
        let unusable = |message: String| GitError::Index {
            path: index_path.display().to_string(),
            message,
        };
        if repo
            .config()
            .and_then(|config| config.get_string("extensions.objectformat"))
            .is_ok_and(|format| !format.eq_ignore_ascii_case("sha1"))
        {
            return Err(unusable(
                "the repository names objects by SHA-256, which this tool does not read".to_owned(),
            ));
        }
        let found = match std::fs::read(&index_path) {
            // An empty file holds no entries.
            Ok(bytes) if bytes.is_empty() => Vec::new(),
            Ok(bytes) => super::git_index::committable(&bytes, prefix.as_bytes())
                .map_err(|error| unusable(error.to_string()))?,
            // A repository where nothing was ever added has no index yet.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(unusable(format!("cannot be read: {error}"))),
        };
        // Sorted already (the index's order): the map is built in one go.
        let entries: BTreeMap<String, Blob> = found
            .into_iter()
            .filter_map(|entry| {
                let path = String::from_utf8_lossy(&entry.path);
                let relative = path.get(prefix.len()..)?.to_owned();
                Some((
                    relative,
                    Blob {
                        oid: Oid::from_bytes(&entry.oid).ok()?,
                        mode: entry.mode,
                    },
                ))
            })
            .collect();
        Ok(GitIndex {
            files: GitFiles::new(repo, entries, "the git index".to_owned()),
        })
    }
}

/// A revision's tree (a commit, branch or tag), read without a checkout.
pub struct GitRevision {
    files: GitFiles,
    commit: Oid,
}

impl GitRevision {
    /// Opens `revision` of the repository containing `root` (the config root).
    pub fn open(root: &Path, revision: &str) -> Result<Self, GitError> {
        Self::open_with(root, revision, |tree, prefix| {
            let mut entries = BTreeMap::new();
            tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
                if entry.kind() == Some(ObjectType::Blob) || entry.filemode() as u32 == MODE_GITLINK
                {
                    let path = format!("{dir}{}", entry.name().unwrap_or_default());
                    if let Some(relative) = path.strip_prefix(prefix) {
                        entries.insert(
                            relative.to_owned(),
                            Blob {
                                oid: entry.id(),
                                mode: entry.filemode() as u32,
                            },
                        );
                    }
                }
                TreeWalkResult::Ok
            })?;
            Ok(entries)
        })
    }

    /// Opens `revision` knowing only the files at `paths` (relative to the config
    /// root), without walking the whole tree: for reading one or two files of a large
    /// repository. A symlink among them is followed by a full [`Self::open`].
    pub fn open_files(root: &Path, revision: &str, paths: &[&str]) -> Result<Self, GitError> {
        let opened = Self::open_with(root, revision, |tree, prefix| {
            let mut entries = BTreeMap::new();
            for path in paths {
                if let Ok(entry) = tree.get_path(Path::new(&format!("{prefix}{path}")))
                    && entry.kind() == Some(ObjectType::Blob)
                {
                    let blob = Blob {
                        oid: entry.id(),
                        mode: entry.filemode() as u32,
                    };
                    entries.insert((*path).to_owned(), blob);
                }
            }
            Ok(entries)
        })?;
        if opened
            .files
            .entries
            .values()
            .any(|b| b.mode == MODE_SYMLINK)
        {
            return Self::open(root, revision);
        }
        Ok(opened)
    }

    /// Resolves `revision` and lists its files with `list`, given the commit's tree
    /// and the config root's prefix in the repository.
    fn open_with(
        root: &Path,
        revision: &str,
        list: impl FnOnce(&git2::Tree<'_>, &str) -> Result<BTreeMap<String, Blob>, git2::Error>,
    ) -> Result<Self, GitError> {
        let (repo, prefix) = open(root)?;
        let unknown = |e: git2::Error| GitError::UnknownRevision {
            revision: revision.to_owned(),
            message: e.message().to_owned(),
        };
        let (commit_id, entries) = {
            let commit = repo
                .revparse_single(revision)
                .and_then(|object| object.peel_to_commit())
                .map_err(unknown)?;
            let tree = commit.tree().map_err(unknown)?;
            (commit.id(), list(&tree, &prefix).map_err(unknown)?)
        };
        let short = commit_id.to_string().chars().take(10).collect::<String>();
        Ok(GitRevision {
            files: GitFiles::new(repo, entries, format!("revision `{revision}` ({short})")),
            commit: commit_id,
        })
    }

    /// The commit the revision resolved to.
    pub fn commit(&self) -> Oid {
        self.commit
    }

    /// Every file with one of `names` at `revision`, anywhere in the repository of
    /// `root`, in one walk of its tree: repository-relative paths and contents (files
    /// over `limit` bytes left out), and the repository-relative prefix of `root`
    /// itself (`""` or `"dir/"`).
    pub fn everywhere(
        root: &Path,
        revision: &str,
        names: &[&str],
        limit: u64,
    ) -> Result<(Vec<NamedBlob>, String), GitError> {
        let (repo, prefix) = open(root)?;
        let unknown = |e: git2::Error| GitError::UnknownRevision {
            revision: revision.to_owned(),
            message: e.message().to_owned(),
        };
        let commit = repo
            .revparse_single(revision)
            .and_then(|object| object.peel_to_commit())
            .map_err(unknown)?;
        let tree = commit.tree().map_err(unknown)?;
        let mut found = Vec::new();
        tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() == Some(ObjectType::Blob)
                && let Ok(name) = entry.name()
                && names.contains(&name)
            {
                found.push((format!("{dir}{name}"), entry.id()));
            }
            TreeWalkResult::Ok
        })
        .map_err(unknown)?;
        let mut out = Vec::new();
        for (path, id) in found {
            let blob = repo.find_blob(id).map_err(unknown)?;
            if (blob.size() as u64) <= limit {
                out.push((path, blob.content().to_vec()));
            }
        }
        Ok((out, prefix))
    }
}

macro_rules! git_source {
    ($type:ty) => {
        impl Source for $type {
            fn describe(&self) -> String {
                self.files.description.clone()
            }

            fn kind(&self, path: &RepoPath) -> Result<Option<EntryKind>, SourceError> {
                Ok(self.files.kind_of(path.as_str(), 0)?.map(|(kind, _)| kind))
            }

            fn read_dir(&self, path: &RepoPath) -> Result<Vec<DirEntry>, SourceError> {
                self.files.read_dir(path)
            }

            fn read(&self, path: &RepoPath, limit: u64) -> Result<Vec<u8>, SourceError> {
                self.files.read(path, limit)
            }
        }
    };
}

git_source!(GitIndex);
git_source!(GitRevision);
