//! Where the bytes come from.
//!
//! The pipeline reads a config repository only through [`Source`]. The working tree is
//! one implementation; the git index (`check --staged`) and a git revision (`--base`,
//! `diff`) are others, and tests can use an in-memory one. The pipeline never touches
//! `std::fs` itself. A source answers for repository-relative [`RepoPath`]s only, and
//! never follows a symlink out of the repository.

mod git;
mod git_index;
mod memory;
mod path;
mod worktree;

pub use git::{GitError, GitIndex, GitRevision, default_base, open as open_repository};
pub use memory::MemorySource;
pub use path::{PathError, RepoPath};
pub use worktree::WorkTree;

use std::fmt;

use rayon::prelude::*;

/// What a path is, as seen through a source (symlinks inside the repository are
/// followed; those that lead outside are reported as [`SourceError::Escapes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    /// A socket, device or anything else that is neither.
    Other,
    /// An entry whose name is not UTF-8 (listed by its lossy name): it cannot be
    /// named from KDL or read through a `RepoPath`, and is reported, not skipped.
    NotUtf8Name,
}

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub kind: EntryKind,
}

/// Why a source could not answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceError {
    NotFound(RepoPath),
    /// The path (or a symlink on the way) leads outside the repository.
    Escapes {
        path: RepoPath,
        target: String,
    },
    NotAFile(RepoPath),
    TooLarge {
        path: RepoPath,
        size: u64,
        limit: u64,
    },
    Io {
        path: RepoPath,
        message: String,
    },
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::NotFound(path) => write!(f, "`{path}` does not exist"),
            SourceError::Escapes { path, target } => {
                write!(f, "`{path}` leads outside the repository (to `{target}`)")
            }
            SourceError::NotAFile(path) => write!(f, "`{path}` is not a file"),
            SourceError::TooLarge { path, size, limit } => write!(
                f,
                "`{path}` is {size} bytes, more than the {limit} bytes modelops reads"
            ),
            SourceError::Io { path, message } => write!(f, "cannot read `{path}`: {message}"),
        }
    }
}

impl std::error::Error for SourceError {}

/// A read-only view of a config repository.
pub trait Source: Sync {
    /// Names the source in messages: "the working tree", "the index", "revision abc1234".
    fn describe(&self) -> String;

    /// What `path` is, or `None` when nothing is there.
    fn kind(&self, path: &RepoPath) -> Result<Option<EntryKind>, SourceError>;

    /// The entries of a directory, sorted by name. A missing directory is empty.
    fn read_dir(&self, path: &RepoPath) -> Result<Vec<DirEntry>, SourceError>;

    /// The bytes of a file, refusing files larger than `limit`.
    fn read(&self, path: &RepoPath, limit: u64) -> Result<Vec<u8>, SourceError>;

    /// The BLAKE3 hash of a file's exact bytes, whatever its size (datasets can be
    /// gigabytes). Sources that can stream or map files override this.
    fn hash(&self, path: &RepoPath) -> Result<blake3::Hash, SourceError> {
        Ok(blake3::hash(&self.read(path, u64::MAX)?))
    }
}

/// Hashes many files at once, spread over every core (each through
/// [`Source::hash`], so large files are also hashed in parallel internally).
pub fn hash_files(
    source: &dyn Source,
    paths: &[RepoPath],
) -> Vec<Result<blake3::Hash, SourceError>> {
    paths.par_iter().map(|path| source.hash(path)).collect()
}
