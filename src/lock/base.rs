//! The lock at the base revision: what counts as released, for immutability. It is
//! read through git, never from the working tree, so editing working files cannot
//! hide a change to released content.

use std::fmt;
use std::path::Path;

use crate::diag::FileId;
use crate::layout::{LOCK_FILE_NAME, MAX_LOCK_BYTES, PROJECT_FILE_NAME};
use crate::lock::check::BaseLock;
use crate::source::{GitError, GitRevision, RepoPath, Source, SourceError};

/// What was found at the base revision.
#[derive(Debug)]
pub enum BaseRead {
    /// The lock as committed there.
    Found(BaseLock),
    /// Nothing to compare with: no repository or no commit yet (for the default
    /// base), or no lock at that revision (nothing was released through it yet).
    Nothing,
    /// No lock where the configuration is now, and the configuration is not there at
    /// the base either: it moved from one of several places that hold a project of
    /// the same name, and which one cannot be told.
    Ambiguous {
        revision: String,
        places: Vec<String>,
    },
    /// A lock is there but does not parse; `revision` names where, `reason` says
    /// why (merge-conflict markers, or the parser's first message).
    Unreadable { revision: String, reason: String },
}

/// Why the base revision could not be read (exit code 2).
#[derive(Debug)]
pub struct BaseError {
    pub message: String,
    pub help: Option<&'static str>,
}

impl fmt::Display for BaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BaseError {}

/// The name a project file gives its project (`project "<name>"`), read without a
/// full parse: enough to recognise a configuration that moved.
pub fn project_name(text: &str) -> Option<&str> {
    let rest = text
        .lines()
        .map(str::trim_start)
        .find(|line| line.starts_with("project "))?
        .strip_prefix("project ")?
        .trim_start()
        .strip_prefix('"')?;
    rest.split('"').next()
}

/// No lock where the configuration is now. When the project file is not there at
/// the base either, the configuration is new here or moved: a project file of the
/// same project name elsewhere at the base, with a lock beside it, is where it was,
/// and released content is judged against that lock — a move cannot hide an edit.
fn moved(
    root: &Path,
    revision: &str,
    label: &str,
    project: Option<&str>,
) -> Result<BaseRead, BaseError> {
    let Some(project) = project else {
        return Ok(BaseRead::Nothing);
    };
    let failed = |error: crate::source::GitError| BaseError {
        message: format!("looking for a moved configuration at {label}: {error}"),
        help: None,
    };
    let (found, prefix) = GitRevision::everywhere(
        root,
        revision,
        &[PROJECT_FILE_NAME, LOCK_FILE_NAME],
        MAX_LOCK_BYTES,
    )
    .map_err(failed)?;
    let (files, locks): (Vec<_>, Vec<_>) = found
        .into_iter()
        .partition(|(path, _)| path.ends_with(PROJECT_FILE_NAME));
    if files
        .iter()
        .any(|(path, _)| *path == format!("{prefix}{PROJECT_FILE_NAME}"))
    {
        // The configuration was here: it had no lock yet, nothing was released.
        return Ok(BaseRead::Nothing);
    }
    let places: Vec<String> = files
        .iter()
        .filter(|(_, bytes)| project_name(&String::from_utf8_lossy(bytes)) == Some(project))
        .map(|(path, _)| path.trim_end_matches(PROJECT_FILE_NAME).to_owned())
        .collect();
    let beside: Vec<&(String, Vec<u8>)> = locks
        .iter()
        .filter(|(path, _)| {
            places
                .iter()
                .any(|p| *path == format!("{p}{LOCK_FILE_NAME}"))
        })
        .collect();
    match beside.as_slice() {
        [] => Ok(BaseRead::Nothing),
        [(path, bytes)] => {
            let text = String::from_utf8_lossy(bytes);
            let revision = format!("{label} at `{path}` (the configuration moved)");
            match crate::lock::parse(FileId(u32::MAX), &text) {
                Ok(lock) => Ok(BaseRead::Found(BaseLock {
                    revision,
                    lock,
                    files: None,
                })),
                Err(_) => Ok(BaseRead::Unreadable {
                    revision,
                    reason: "it does not parse".to_owned(),
                }),
            }
        }
        several => Ok(BaseRead::Ambiguous {
            revision: label.to_owned(),
            places: several.iter().map(|(p, _)| p.clone()).collect(),
        }),
    }
}

/// Reads `modelops.lock` at `base` of the repository at `root`; without one, at
/// `default` (the merge-base with the default branch and how to name it:
/// [`crate::source::default_base`]), else at `HEAD`. An explicit revision that
/// cannot be read is an error; a default is [`BaseRead::Nothing`] when there is no
/// repository or no commit yet.
pub fn read_base(
    root: &Path,
    base: Option<&str>,
    default: Option<&(String, String)>,
    project: Option<&str>,
) -> Result<BaseRead, BaseError> {
    let (revision, explicit, name) = match (base, default) {
        (Some(revision), _) => (revision, true, revision.to_owned()),
        (None, Some((commit, name))) => (commit.as_str(), false, name.clone()),
        (None, None) => ("HEAD", false, "HEAD".to_owned()),
    };
    // Only the lock is read at the base: no walk of the whole tree.
    let tree = match GitRevision::open_files(root, revision, &[LOCK_FILE_NAME]) {
        Ok(tree) => tree,
        // No repository, or no commit yet: nothing has been released.
        Err(GitError::NotARepository { .. } | GitError::UnknownRevision { .. }) if !explicit => {
            return Ok(BaseRead::Nothing);
        }
        // A repository that cannot be read is never taken for "nothing released":
        // that would skip the immutability check without a word.
        Err(error @ (GitError::Git(_) | GitError::BareRepository | GitError::Index { .. }))
            if !explicit =>
        {
            return Err(BaseError {
                message: format!(
                    "the git repository cannot be read, so released content cannot be checked: {error}"
                ),
                help: Some(
                    "modelops reads repositories with SHA-1 object names (libgit2 does not read SHA-256 ones yet); use a SHA-1 clone, or run with `--base` on one",
                ),
            });
        }
        Err(error) => {
            return Err(BaseError {
                message: error.to_string(),
                help: Some(
                    "give a revision that exists here (a shallow clone may lack it: fetch more history)",
                ),
            });
        }
    };
    let commit = tree.commit().to_string();
    let label = format!("{name} ({})", commit.get(..10).unwrap_or(&commit));
    let Ok(lock_path) = RepoPath::parse(LOCK_FILE_NAME) else {
        return Ok(BaseRead::Nothing);
    };
    let text = match tree.read(&lock_path, MAX_LOCK_BYTES) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(SourceError::NotFound(_)) => return moved(root, revision, &label, project),
        Err(error) => {
            return Err(BaseError {
                message: format!("reading the lock at {label}: {error}"),
                help: None,
            });
        }
    };
    match crate::lock::parse(FileId(u32::MAX), &text) {
        Ok(lock) => Ok(BaseRead::Found(BaseLock {
            revision: label,
            lock,
            files: Some((root.to_path_buf(), commit.clone())),
        })),
        Err(errors) => {
            let conflicted = text.lines().any(|line| {
                line.starts_with("<<<<<<< ") || line == "=======" || line.starts_with(">>>>>>> ")
            });
            let reason = if conflicted {
                "it holds merge-conflict markers".to_owned()
            } else {
                errors
                    .first()
                    .map_or_else(|| "it does not parse".to_owned(), |d| d.message.clone())
            };
            Ok(BaseRead::Unreadable {
                revision: label,
                reason,
            })
        }
    }
}

/// The most commits of the default branch's history read for a deploy record.
pub const MAX_HISTORY_COMMITS: usize = 5000;

/// Every (environment, release) that ran `model` — as stable or as a candidate — in
/// the first-parent history of `base` (the default branch's history up to where
/// this work left it): the deploy record promotion order is judged against, so a
/// release that ran in staging in an earlier commit may go to prod now. Reads only
/// the model's file, once per distinct content. Empty when git cannot be read.
pub fn deployed_before(
    root: &Path,
    base: &str,
    model: &str,
) -> std::collections::BTreeSet<(String, String)> {
    let mut ran = std::collections::BTreeSet::new();
    let Ok((repo, prefix)) = crate::source::open_repository(root) else {
        return ran;
    };
    let path = format!("{prefix}{}/{model}.kdl", crate::layout::MODELS_DIR);
    let Ok(start) = repo
        .revparse_single(base)
        .and_then(|object| object.peel_to_commit())
    else {
        return ran;
    };
    let Ok(mut walk) = repo.revwalk() else {
        return ran;
    };
    if walk.push(start.id()).is_err() || walk.simplify_first_parent().is_err() {
        return ran;
    }
    let mut seen = std::collections::HashSet::new();
    for oid in walk.take(MAX_HISTORY_COMMITS).flatten() {
        let Some(blob) = repo
            .find_commit(oid)
            .ok()
            .and_then(|commit| commit.tree().ok())
            .and_then(|tree| tree.get_path(Path::new(&path)).ok())
            .map(|entry| entry.id())
        else {
            continue;
        };
        if !seen.insert(blob) {
            continue;
        }
        let Some(text) = repo
            .find_blob(blob)
            .ok()
            .filter(|b| b.size() as u64 <= crate::layout::MAX_FILE_BYTES)
            .map(|b| String::from_utf8_lossy(b.content()).into_owned())
        else {
            continue;
        };
        let Some(parsed) = crate::model::load::parse_model(&text, model) else {
            continue;
        };
        for deploy in parsed.deploy.values() {
            ran.extend(
                deploy
                    .stable
                    .iter()
                    .map(|release| (deploy.environment.clone(), release.clone())),
            );
            if let Some(candidate) = deploy.candidate() {
                ran.insert((deploy.environment.clone(), candidate.release().to_owned()));
            }
        }
    }
    ran
}
