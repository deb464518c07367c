//! Questions answered from git history: `diff` between revisions, `blame` across a
//! prompt's version files, `history` of a model or prompt, and `rollback`.
//!
//! Trees and blobs are read with git2 (no checkout); line blame uses the git command
//! line (`git blame --porcelain`), measurably the fastest engine here, and fails with a
//! clear error when git is not installed.

pub mod blame;
pub mod diff;
pub mod history;
pub mod rollback;

use std::fmt;
use std::io::IsTerminal;
use std::path::Path;
use std::process::Command;

/// Why an audit question could not be answered (exit code 2).
#[derive(Debug)]
pub enum AuditError {
    GitMissing,
    NotARepository(String),
    NoCommits,
    Shallow,
    Git(String),
    Other(String),
}

impl fmt::Display for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditError::GitMissing => f.write_str("the `git` command is not installed; blame needs it"),
            AuditError::NotARepository(path) => write!(f, "`{path}` is not inside a git repository"),
            AuditError::NoCommits => f.write_str("the repository has no commits yet, so there is no history to read"),
            AuditError::Shallow => f.write_str(
                "this is a shallow clone: the history this needs is missing (run `git fetch --unshallow`)",
            ),
            AuditError::Git(message) => write!(f, "git: {message}"),
            AuditError::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for AuditError {}

impl From<git2::Error> for AuditError {
    fn from(error: git2::Error) -> Self {
        AuditError::Git(error.message().to_owned())
    }
}

/// Runs `git ARGS` in `dir`; returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> Result<String, AuditError> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => AuditError::GitMissing,
            _ => AuditError::Git(e.to_string()),
        })?;
    if !output.status.success() {
        return Err(AuditError::Git(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Opens the repository holding `root`, refusing shallow clones and unborn branches
/// (history questions need the history).
pub fn open_history(root: &Path) -> Result<(git2::Repository, String), AuditError> {
    let repo = git2::Repository::discover(root)
        .map_err(|_| AuditError::NotARepository(root.display().to_string()))?;
    if repo.is_shallow() {
        return Err(AuditError::Shallow);
    }
    if repo.head().is_err() {
        return Err(AuditError::NoCommits);
    }
    let workdir = repo
        .workdir()
        .map(|w| std::fs::canonicalize(w).unwrap_or_else(|_| w.to_path_buf()))
        .ok_or_else(|| AuditError::Other("the repository has no working tree".into()))?;
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let mut prefix = root
        .strip_prefix(&workdir)
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .unwrap_or_default();
    if !prefix.is_empty() {
        prefix.push('/');
    }
    Ok((repo, prefix))
}

/// Progress on a terminal for walks longer than a moment; silent when piped.
pub struct Progress {
    enabled: bool,
    started: std::time::Instant,
    shown: bool,
}

impl Progress {
    pub fn new() -> Self {
        Progress {
            enabled: std::io::stderr().is_terminal(),
            started: std::time::Instant::now(),
            shown: false,
        }
    }

    pub fn update(&mut self, what: &str, done: usize) {
        if self.enabled && self.started.elapsed() > std::time::Duration::from_millis(300) {
            eprint!("\r{what}: {done}…");
            self.shown = true;
        }
    }

    pub fn finish(&mut self) {
        if self.shown {
            eprint!("\r\x1b[K");
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

/// Short commit id.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(10)]
}
