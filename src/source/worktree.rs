//! The working tree on disk.

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::{DirEntry, EntryKind, RepoPath, Source, SourceError};

/// A repository's working tree, rooted at the folder holding `modelops.kdl`.
#[derive(Clone, Debug)]
pub struct WorkTree {
    root: PathBuf,
    /// Directories (repository paths) already seen to be real directories all the way
    /// down from the root, so that files in them need no symlink resolution.
    plain_dirs: Arc<RwLock<HashSet<String>>>,
}

impl WorkTree {
    /// Opens a working tree at `root`, which must exist.
    pub fn new(root: impl AsRef<Path>) -> std::io::Result<Self> {
        let root = fs::canonicalize(root.as_ref())?;
        Ok(WorkTree {
            root,
            plain_dirs: Arc::default(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves a repository path to a real path inside the root, following symlinks
    /// only as long as they stay inside.
    /// The fast path of [`Self::resolve`]: when no directory on the way is a symlink
    /// and the path itself is not one, it is its own real path (one `lstat`, instead
    /// of resolving every component). `None` sends the caller down the full path.
    fn plain(&self, path: &RepoPath) -> Option<(PathBuf, fs::Metadata)> {
        let text = path.as_str();
        if let Some((parent, _)) = text.rsplit_once('/')
            && !self.is_plain_dir(parent)
        {
            return None;
        }
        let joined = self.root.join(text);
        let metadata = fs::symlink_metadata(&joined).ok()?;
        (!metadata.file_type().is_symlink()).then_some((joined, metadata))
    }

    fn is_plain_dir(&self, dir: &str) -> bool {
        let known = |d: &str| self.plain_dirs.read().is_ok_and(|set| set.contains(d));
        if known(dir) {
            return true;
        }
        let mut prefix = String::with_capacity(dir.len());
        for component in dir.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(component);
            if known(&prefix) {
                continue;
            }
            match fs::symlink_metadata(self.root.join(&prefix)) {
                Ok(metadata) if metadata.file_type().is_dir() => {
                    if let Ok(mut set) = self.plain_dirs.write() {
                        set.insert(prefix.clone());
                    }
                }
                _ => return false,
            }
        }
        true
    }

    fn resolve(&self, path: &RepoPath) -> Result<Option<PathBuf>, SourceError> {
        if let Some((real, _)) = self.plain(path) {
            return Ok(Some(real));
        }
        let joined = self.root.join(path.as_str());
        match fs::symlink_metadata(&joined) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // A dangling symlink on the way also lands here; treat as missing.
                return Ok(None);
            }
            Err(e) => return Err(io_error(path, &e)),
            Ok(_) => {}
        }
        match fs::canonicalize(&joined) {
            Ok(real) if real.starts_with(&self.root) => Ok(Some(real)),
            Ok(real) => Err(SourceError::Escapes {
                path: path.clone(),
                target: real.display().to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let target = fs::read_link(&joined)
                    .map(|t| t.display().to_string())
                    .unwrap_or_default();
                if Path::new(&target).is_absolute() || target.starts_with("..") {
                    Err(SourceError::Escapes {
                        path: path.clone(),
                        target,
                    })
                } else {
                    Ok(None)
                }
            }
            Err(e) => Err(io_error(path, &e)),
        }
    }
}

fn io_error(path: &RepoPath, error: &std::io::Error) -> SourceError {
    SourceError::Io {
        path: path.clone(),
        message: error.to_string(),
    }
}

fn kind_of(metadata: &fs::Metadata) -> EntryKind {
    if metadata.is_file() {
        EntryKind::File
    } else if metadata.is_dir() {
        EntryKind::Dir
    } else {
        EntryKind::Other
    }
}

impl Source for WorkTree {
    fn describe(&self) -> String {
        "the working tree".to_owned()
    }

    fn kind(&self, path: &RepoPath) -> Result<Option<EntryKind>, SourceError> {
        if path.is_root() {
            return Ok(Some(EntryKind::Dir));
        }
        if let Some((_, metadata)) = self.plain(path) {
            return Ok(Some(kind_of(&metadata)));
        }
        let Some(real) = self.resolve(path)? else {
            return Ok(None);
        };
        match fs::metadata(&real) {
            Ok(metadata) => Ok(Some(kind_of(&metadata))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(path, &e)),
        }
    }

    fn read_dir(&self, path: &RepoPath) -> Result<Vec<DirEntry>, SourceError> {
        let real = if path.is_root() {
            self.root.clone()
        } else {
            match self.resolve(path)? {
                Some(real) => real,
                None => return Ok(Vec::new()),
            }
        };
        let entries = match fs::read_dir(&real) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(Vec::new()),
            Err(e) => return Err(io_error(path, &e)),
        };
        // In a directory that is its own real path, an entry that is not a symlink
        // is what the listing says it is: no `lstat` per entry.
        let plain = path.is_root() || self.is_plain_dir(path.as_str());
        let mut out = Vec::new();
        let mut plain_children = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error(path, &e))?;
            let name = match entry.file_name().into_string() {
                Ok(name) => name,
                Err(raw) => {
                    out.push(DirEntry {
                        name: raw.to_string_lossy().into_owned(),
                        kind: EntryKind::NotUtf8Name,
                    });
                    continue;
                }
            };
            let child = path.join(&name);
            if plain && let Ok(file_type) = entry.file_type() {
                let kind = if file_type.is_dir() {
                    plain_children.push(child.as_str().to_owned());
                    Some(EntryKind::Dir)
                } else if file_type.is_file() {
                    Some(EntryKind::File)
                } else if file_type.is_symlink() {
                    None
                } else {
                    Some(EntryKind::Other)
                };
                if let Some(kind) = kind {
                    out.push(DirEntry { name, kind });
                    continue;
                }
            }
            // Follow symlinks through `kind`, so escapes surface when the entry is used.
            let kind = match self.kind(&child) {
                Ok(Some(kind)) => kind,
                Ok(None) => continue,
                Err(SourceError::Escapes { .. }) => EntryKind::File,
                Err(e) => return Err(e),
            };
            out.push(DirEntry { name, kind });
        }
        if !plain_children.is_empty()
            && let Ok(mut set) = self.plain_dirs.write()
        {
            set.extend(plain_children);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Memory-maps the file and hashes it on every core (as `b3sum` does); small
    /// files are simply read.
    fn hash(&self, path: &RepoPath) -> Result<blake3::Hash, SourceError> {
        let Some(real) = self.resolve(path)? else {
            return Err(SourceError::NotFound(path.clone()));
        };
        if !fs::metadata(&real)
            .map_err(|e| io_error(path, &e))?
            .is_file()
        {
            return Err(SourceError::NotAFile(path.clone()));
        }
        let mut hasher = blake3::Hasher::new();
        hasher
            .update_mmap_rayon(&real)
            .map_err(|e| io_error(path, &e))?;
        Ok(hasher.finalize())
    }

    fn read(&self, path: &RepoPath, limit: u64) -> Result<Vec<u8>, SourceError> {
        let (real, metadata) = match self.plain(path) {
            Some(found) => found,
            None => {
                let Some(real) = self.resolve(path)? else {
                    return Err(SourceError::NotFound(path.clone()));
                };
                let metadata = fs::metadata(&real).map_err(|e| io_error(path, &e))?;
                (real, metadata)
            }
        };
        if !metadata.is_file() {
            return Err(SourceError::NotAFile(path.clone()));
        }
        if metadata.len() > limit {
            return Err(SourceError::TooLarge {
                path: path.clone(),
                size: metadata.len(),
                limit,
            });
        }
        let mut bytes = Vec::with_capacity(metadata.len() as usize);
        fs::File::open(&real)
            .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
            .map_err(|e| io_error(path, &e))?;
        if bytes.len() as u64 > limit {
            return Err(SourceError::TooLarge {
                path: path.clone(),
                size: bytes.len() as u64,
                limit,
            });
        }
        Ok(bytes)
    }
}
