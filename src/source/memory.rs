//! An in-memory repository, for tests and for callers that already hold the files.

use std::collections::BTreeMap;

use super::{DirEntry, EntryKind, RepoPath, Source, SourceError};

/// Files held in memory, keyed by repository path. Directories exist implicitly.
#[derive(Clone, Debug, Default)]
pub struct MemorySource {
    files: BTreeMap<String, Vec<u8>>,
}

impl MemorySource {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file.
    pub fn with_file(mut self, path: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.insert(path, contents);
        self
    }

    pub fn insert(&mut self, path: &str, contents: impl Into<Vec<u8>>) {
        self.files.insert(path.to_owned(), contents.into());
    }
}

impl Source for MemorySource {
    fn describe(&self) -> String {
        "memory".to_owned()
    }

    fn kind(&self, path: &RepoPath) -> Result<Option<EntryKind>, SourceError> {
        if path.is_root() || self.files.contains_key(path.as_str()) {
            return Ok(Some(if path.is_root() {
                EntryKind::Dir
            } else {
                EntryKind::File
            }));
        }
        let prefix = format!("{}/", path.as_str());
        Ok(self
            .files
            .range(prefix.clone()..)
            .next()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|_| EntryKind::Dir))
    }

    fn read_dir(&self, path: &RepoPath) -> Result<Vec<DirEntry>, SourceError> {
        let prefix = if path.is_root() {
            String::new()
        } else {
            format!("{}/", path.as_str())
        };
        let mut out: BTreeMap<String, EntryKind> = BTreeMap::new();
        for key in self.files.keys().filter(|k| k.starts_with(&prefix)) {
            let rest = &key[prefix.len()..];
            match rest.split_once('/') {
                Some((dir, _)) => out.insert(dir.to_owned(), EntryKind::Dir),
                None => out.insert(rest.to_owned(), EntryKind::File),
            };
        }
        Ok(out
            .into_iter()
            .map(|(name, kind)| DirEntry { name, kind })
            .collect())
    }

    fn read(&self, path: &RepoPath, limit: u64) -> Result<Vec<u8>, SourceError> {
        match self.files.get(path.as_str()) {
            Some(bytes) if bytes.len() as u64 > limit => Err(SourceError::TooLarge {
                path: path.clone(),
                size: bytes.len() as u64,
                limit,
            }),
            Some(bytes) => Ok(bytes.clone()),
            None if self.kind(path)? == Some(EntryKind::Dir) => {
                Err(SourceError::NotAFile(path.clone()))
            }
            None => Err(SourceError::NotFound(path.clone())),
        }
    }
}
