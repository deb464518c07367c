//! Git's index file, read directly: the committable entries under one folder.
//!
//! The format is git's own (`Documentation/gitformat-index.txt`): a header (`DIRC`,
//! version 2, 3 or 4, the number of entries), the entries sorted by path (stat data,
//! object id, flags, path; version 4 compresses each path against the one before),
//! then extensions and a checksum. Only what `check --staged` needs is taken: each
//! entry's path, object id and mode. Reading it here instead of through libgit2 skips
//! work nothing uses (libgit2 hashes the whole file and builds a map of every path,
//! about 120 ms for an index of 58,000 entries); like git itself, which checks the
//! index's checksum only in `git fsck`, the checksum is not verified, but every
//! length and offset is.
//!
//! A split index (the `link` extension) or a sparse one (directories as entries) keeps
//! entries elsewhere; those are refused with a message, not read partly.

/// A committable entry: path (as stored, from the top of the working tree), object id
/// and mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub path: Vec<u8>,
    pub oid: [u8; 20],
    pub mode: u32,
}

/// Why an index cannot be read.
#[derive(Debug, PartialEq, Eq)]
pub enum IndexError {
    /// Not an index, or cut short or inconsistent.
    Malformed(&'static str),
    /// A layout that keeps entries outside this file.
    Unsupported(&'static str),
}

impl std::fmt::Display for IndexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IndexError::Malformed(what) => write!(f, "the git index is damaged: {what}"),
            IndexError::Unsupported(what) => write!(f, "the git index is {what}"),
        }
    }
}

/// The size of an object id in a SHA-1 repository.
const OID: usize = 20;
/// Stat data (40 bytes), object id, flags.
const FIXED: usize = 40 + OID + 2;
/// `flags`: an extended-flags field follows (versions 3 and 4).
const EXTENDED: u16 = 0x4000;
/// Extended flags: `git add -N` (recorded, not yet added: not committed).
const INTENT_TO_ADD: u16 = 0x2000;
/// A directory entry of a sparse index.
const MODE_DIRECTORY: u32 = 0o040000;

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let field = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(field.try_into().ok()?))
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let field = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes(field.try_into().ok()?))
}

/// Git's offset varint (`varint.c`): big-endian groups of seven bits, each
/// continuation adding one.
fn varint(bytes: &[u8], at: &mut usize) -> Option<usize> {
    let mut byte = *bytes.get(*at)?;
    *at += 1;
    let mut value = usize::from(byte & 0x7f);
    while byte & 0x80 != 0 {
        value = value.checked_add(1)?;
        if value > usize::MAX >> 7 {
            return None;
        }
        byte = *bytes.get(*at)?;
        *at += 1;
        value = (value << 7) | usize::from(byte & 0x7f);
    }
    Some(value)
}

/// The stage-0 entries of the index in `bytes` whose path starts with `prefix`
/// (entries in conflict, and intent-to-add ones, are not committable), in the
/// index's order: sorted by path.
pub fn committable(bytes: &[u8], prefix: &[u8]) -> Result<Vec<Entry>, IndexError> {
    let malformed = IndexError::Malformed;
    if bytes.get(..4) != Some(b"DIRC".as_slice()) {
        return Err(malformed("no `DIRC` signature"));
    }
    let version = be32(bytes, 4).ok_or(malformed("no version"))?;
    if !(2..=4).contains(&version) {
        return Err(IndexError::Unsupported(
            "of a version this tool does not read",
        ));
    }
    let count = be32(bytes, 8).ok_or(malformed("no entry count"))?;
    // The checksum closes the file; entries and extensions come before it.
    let end = bytes
        .len()
        .checked_sub(OID)
        .ok_or(malformed("shorter than its checksum"))?;
    let body = bytes
        .get(..end)
        .ok_or(malformed("shorter than its checksum"))?;
    let mut at = 12;
    let mut entries = Vec::new();
    // The path of the entry before (version 4 paths build on it).
    let mut previous: Vec<u8> = Vec::new();
    for _ in 0..count {
        let start = at;
        let mode = be32(body, start + 24).ok_or(malformed("an entry is cut short"))?;
        let oid: [u8; 20] = body
            .get(start + 40..start + 40 + OID)
            .and_then(|id| id.try_into().ok())
            .ok_or(malformed("an entry is cut short"))?;
        let flags = be16(body, start + 40 + OID).ok_or(malformed("an entry is cut short"))?;
        at = start + FIXED;
        let mut extended = 0;
        if flags & EXTENDED != 0 {
            if version < 3 {
                return Err(malformed("extended flags in a version 2 index"));
            }
            extended = be16(body, at).ok_or(malformed("an entry is cut short"))?;
            at += 2;
        }
        // The path: the one before, cut and extended (version 4), or its own.
        let rest = body.get(at..).ok_or(malformed("an entry is cut short"))?;
        let path: &[u8] = if version == 4 {
            let mut after = 0;
            let strip = varint(rest, &mut after).ok_or(malformed("a path prefix is cut short"))?;
            let keep = previous
                .len()
                .checked_sub(strip)
                .ok_or(malformed("a path prefix is longer than the path before"))?;
            let suffix = rest.get(after..).unwrap_or_default();
            let nul = memchr::memchr(0, suffix).ok_or(malformed("a path is not terminated"))?;
            previous.truncate(keep);
            previous.extend_from_slice(suffix.get(..nul).unwrap_or_default());
            at += after + nul + 1;
            &previous
        } else {
            let nul = memchr::memchr(0, rest).ok_or(malformed("a path is not terminated"))?;
            // Entries are padded with 1 to 8 NULs to a multiple of 8 bytes.
            at = start + ((at - start + nul + 8) & !7);
            if at > body.len() {
                return Err(malformed("an entry is cut short"));
            }
            rest.get(..nul).unwrap_or_default()
        };
        let recorded_length = usize::from(flags & 0x0fff);
        if recorded_length < 0x0fff && recorded_length != path.len() {
            return Err(malformed("a path's length does not match its entry"));
        }
        if mode == MODE_DIRECTORY {
            return Err(IndexError::Unsupported(
                "sparse (it lists folders, not their files); run `git sparse-checkout disable` \
                 or check the working tree",
            ));
        }
        let stage = (flags >> 12) & 0x3;
        if stage == 0 && extended & INTENT_TO_ADD == 0 && path.starts_with(prefix) {
            entries.push(Entry {
                path: path.to_vec(),
                oid,
                mode,
            });
        }
    }
    // Extensions: a signature, a length, the data.
    while at < body.len() {
        let signature = body
            .get(at..at + 4)
            .ok_or(malformed("an extension is cut short"))?;
        let size = be32(body, at + 4).ok_or(malformed("an extension is cut short"))?;
        if signature == b"link" {
            return Err(IndexError::Unsupported(
                "split (`core.splitIndex`); run `git update-index --no-split-index`",
            ));
        }
        at = at
            .checked_add(
                8 + usize::try_from(size).map_err(|_| malformed("an extension is too long"))?,
            )
            .filter(|&next| next <= body.len())
            .ok_or(malformed("an extension is cut short"))?;
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_read_as_git_writes_them() {
        // git's encode_varint: 0 -> [0], 127 -> [0x7f], 128 -> [0x80, 0x00],
        // 16511 -> [0xff, 0x7f].
        for (bytes, value) in [
            (&[0x00][..], 0),
            (&[0x7f][..], 127),
            (&[0x80, 0x00][..], 128),
            (&[0xff, 0x7f][..], 16511),
            (&[0x80, 0x80, 0x00][..], 16512),
        ] {
            let mut at = 0;
            assert_eq!(varint(bytes, &mut at), Some(value), "{bytes:?}");
            assert_eq!(at, bytes.len());
        }
        let mut at = 0;
        assert_eq!(varint(&[0x80], &mut at), None);
    }

    #[test]
    fn damaged_indexes_are_refused_not_misread() {
        assert!(matches!(
            committable(b"", b""),
            Err(IndexError::Malformed(_))
        ));
        assert!(matches!(
            committable(b"DIRX\0\0\0\x02\0\0\0\0", b""),
            Err(IndexError::Malformed(_))
        ));
        let mut empty = b"DIRC\0\0\0\x02\0\0\0\0".to_vec();
        empty.extend_from_slice(&[0; 20]);
        assert_eq!(committable(&empty, b""), Ok(Vec::new()));
        // One entry announced, none there.
        let mut short = b"DIRC\0\0\0\x02\0\0\0\x01".to_vec();
        short.extend_from_slice(&[0; 20]);
        assert!(matches!(
            committable(&short, b""),
            Err(IndexError::Malformed(_))
        ));
        let mut future = b"DIRC\0\0\0\x05\0\0\0\0".to_vec();
        future.extend_from_slice(&[0; 20]);
        assert!(matches!(
            committable(&future, b""),
            Err(IndexError::Unsupported(_))
        ));
    }
}
