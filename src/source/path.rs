//! Repository-relative paths.

use std::fmt;

/// A normalised path inside the repository: relative, `/`-separated, no `.` or `..`
/// segments, never empty. Constructing one is the only place user-written paths are
/// checked for escaping the repository lexically.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RepoPath(pub(super) String);

/// Why a user-written path is not a repository path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathError {
    Empty,
    Absolute,
    /// `..` climbs above the repository root.
    Escapes,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::Empty => f.write_str("the path is empty"),
            PathError::Absolute => f.write_str("the path is absolute"),
            PathError::Escapes => f.write_str("the path climbs out of the repository with `..`"),
        }
    }
}

impl RepoPath {
    /// The repository root itself (the only empty path).
    pub fn root() -> Self {
        RepoPath(String::new())
    }

    /// Parses a path as written by a user, relative to the repository root.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        if text.is_empty() {
            return Err(PathError::Empty);
        }
        if text.starts_with('/') || text.starts_with('\\') || has_drive_prefix(text) {
            return Err(PathError::Absolute);
        }
        let mut segments: Vec<&str> = Vec::new();
        for segment in text.split(['/', '\\']) {
            match segment {
                "" | "." => {}
                ".." => {
                    if segments.pop().is_none() {
                        return Err(PathError::Escapes);
                    }
                }
                other => segments.push(other),
            }
        }
        if segments.is_empty() {
            return Err(PathError::Empty);
        }
        Ok(RepoPath(segments.join("/")))
    }

    /// A child of this path; `name` must be a single segment from a directory listing.
    pub fn join(&self, name: &str) -> Self {
        if self.0.is_empty() {
            RepoPath(name.to_owned())
        } else {
            RepoPath(format!("{}/{name}", self.0))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The last segment.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or("")
    }

    /// The parent directory (the root for top-level entries).
    pub fn parent(&self) -> RepoPath {
        match self.0.rsplit_once('/') {
            Some((parent, _)) => RepoPath(parent.to_owned()),
            None => RepoPath::root(),
        }
    }
}

fn has_drive_prefix(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
}

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "." } else { &self.0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_rejects_escapes() {
        assert_eq!(RepoPath::parse("a/./b//c").unwrap().as_str(), "a/b/c");
        assert_eq!(RepoPath::parse("a/../b").unwrap().as_str(), "b");
        assert_eq!(RepoPath::parse("../x"), Err(PathError::Escapes));
        assert_eq!(RepoPath::parse("a/../../x"), Err(PathError::Escapes));
        assert_eq!(RepoPath::parse("/etc/passwd"), Err(PathError::Absolute));
        assert_eq!(RepoPath::parse("C:\\x"), Err(PathError::Absolute));
        assert_eq!(RepoPath::parse("."), Err(PathError::Empty));
        assert_eq!(RepoPath::parse("a/b").unwrap().parent().as_str(), "a");
    }
}
