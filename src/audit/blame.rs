//! `modelops blame PROMPT [--version N]`: who wrote each line of a prompt version,
//! following the lineage across version files.
//!
//! `git blame` attributes each line of `vN.md` within that file's history. A line that
//! arrived when `vN.md` was created may have been carried over from `v(N-1)`; such lines
//! are matched to the previous version by a longest-common-subsequence line diff and
//! attributed to whoever wrote them there (recursively). On a single version file the
//! result is exactly `git blame`'s.

use std::collections::BTreeMap;
use std::path::Path;

use crate::audit::{AuditError, git};

/// Who wrote one line, and in which version it first appeared.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BlameLine {
    pub line: usize,
    pub commit: String,
    pub author: String,
    pub date: String,
    pub version: u32,
    pub text: String,
}

#[derive(Clone, Debug)]
struct Attribution {
    commit: String,
    author: String,
    time: i64,
}

/// Parses `git blame --porcelain` into one attribution per line (in order).
fn parse_porcelain(text: &str) -> Vec<(Attribution, String)> {
    let mut known: BTreeMap<String, (String, i64)> = BTreeMap::new();
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    let mut author = String::new();
    let mut time = 0i64;
    for line in text.lines() {
        if let Some(content) = line.strip_prefix('\t') {
            let commit = current.take().unwrap_or_default();
            let (a, t) = known
                .entry(commit.clone())
                .or_insert_with(|| (author.clone(), time))
                .clone();
            out.push((
                Attribution {
                    commit,
                    author: a,
                    time: t,
                },
                content.to_owned(),
            ));
            continue;
        }
        let mut words = line.split(' ');
        let first = words.next().unwrap_or_default();
        if first.len() == 40 && first.bytes().all(|b| b.is_ascii_hexdigit()) {
            current = Some(first.to_owned());
            if let Some((a, t)) = known.get(first) {
                author.clone_from(a);
                time = *t;
            }
        } else if let Some(name) = line.strip_prefix("author ") {
            author = name.to_owned();
        } else if let Some(t) = line.strip_prefix("author-time ") {
            time = t.parse().unwrap_or(0);
        }
    }
    out
}

fn date(time: i64) -> String {
    crate::model::Date::from_days_since_epoch(time.div_euclid(86_400)).to_string()
}

/// The commit that created `path` (its oldest adding commit), if committed.
fn creation_commit(dir: &Path, path: &str) -> Result<Option<String>, AuditError> {
    let log = git(dir, &["log", "--diff-filter=A", "--format=%H", "--", path])?;
    Ok(log.lines().last().map(str::to_owned))
}

/// For each line of `new`, the index of the equal line of `old` it corresponds to.
fn line_matches(old: &[String], new: &[String]) -> Vec<Option<usize>> {
    let old: Vec<&str> = old.iter().map(String::as_str).collect();
    let new_lines: Vec<&str> = new.iter().map(String::as_str).collect();
    let diff = similar::TextDiff::configure()
        .algorithm(similar::Algorithm::Myers)
        .diff_slices(&old, &new_lines);
    let mut matches = vec![None; new.len()];
    for op in diff.ops() {
        if let similar::DiffOp::Equal {
            old_index,
            new_index,
            len,
        } = *op
        {
            for k in 0..len {
                matches[new_index + k] = Some(old_index + k);
            }
        }
    }
    matches
}

/// Blames `prompts/<name>/v<version>.<ext>`; `files` maps each version to its path
/// relative to `dir` (the config root).
pub fn blame(
    dir: &Path,
    files: &BTreeMap<u32, String>,
    version: u32,
) -> Result<Vec<BlameLine>, AuditError> {
    let mut memo: BTreeMap<u32, Vec<BlameLine>> = BTreeMap::new();
    blame_version(dir, files, version, &mut memo)
}

fn blame_version(
    dir: &Path,
    files: &BTreeMap<u32, String>,
    version: u32,
    memo: &mut BTreeMap<u32, Vec<BlameLine>>,
) -> Result<Vec<BlameLine>, AuditError> {
    if let Some(done) = memo.get(&version) {
        return Ok(done.clone());
    }
    let path = files
        .get(&version)
        .ok_or_else(|| AuditError::Other(format!("there is no version {version}")))?;
    let porcelain = git(dir, &["blame", "--porcelain", "--", path])?;
    let lines = parse_porcelain(&porcelain);
    // The previous version, when the lineage continues. Only then does it matter which
    // commit created this file (finding it walks the history: skip it when not needed).
    let previous = files.range(..version).next_back().map(|(v, _)| *v);
    let created = match previous {
        Some(_) => creation_commit(dir, path)?,
        None => None,
    };
    let carried: Option<(Vec<BlameLine>, Vec<Option<usize>>)> = match (previous, &created) {
        (Some(previous), Some(_)) => {
            let earlier = blame_version(dir, files, previous, memo)?;
            let old: Vec<String> = earlier.iter().map(|l| l.text.clone()).collect();
            let new: Vec<String> = lines.iter().map(|(_, text)| text.clone()).collect();
            let matches = line_matches(&old, &new);
            Some((earlier, matches))
        }
        _ => None,
    };
    let mut out = Vec::with_capacity(lines.len());
    for (index, (attribution, text)) in lines.into_iter().enumerate() {
        let arrived_with_file = created.as_deref() == Some(attribution.commit.as_str());
        let inherited = carried.as_ref().and_then(|(earlier, matches)| {
            if !arrived_with_file {
                return None;
            }
            let old_index = (*matches.get(index)?)?;
            earlier.get(old_index).cloned()
        });
        out.push(match inherited {
            Some(mut line) => {
                line.line = index + 1;
                line
            }
            None => BlameLine {
                line: index + 1,
                commit: attribution.commit.clone(),
                author: if attribution.commit.starts_with("0000000") {
                    "Not Committed Yet".to_owned()
                } else {
                    attribution.author.clone()
                },
                date: date(attribution.time),
                version,
                text,
            },
        });
    }
    memo.insert(version, out.clone());
    Ok(out)
}

/// One line per prompt line: commit, author, date, first version, text.
pub fn human(lines: &[BlameLine]) -> String {
    let width = lines
        .iter()
        .map(|l| l.author.chars().count())
        .max()
        .unwrap_or(0)
        .min(24);
    lines
        .iter()
        .map(|l| {
            let author: String = l.author.chars().take(24).collect();
            format!(
                "{} v{:<3} ({author:<width$} {}) {:>4}| {}\n",
                crate::audit::short(&l.commit),
                l.version,
                l.date,
                l.line,
                l.text
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_carried_lines() {
        let old: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let new: Vec<String> = ["a", "B", "c", "d"].iter().map(|s| s.to_string()).collect();
        assert_eq!(line_matches(&old, &new), vec![Some(0), None, Some(2), None]);
    }

    #[test]
    fn parses_porcelain_with_repeated_commits() {
        let c = "a".repeat(40);
        let text = format!(
            "{c} 1 1 2\nauthor Alice\nauthor-time 86400\nfilename v1.md\n\tfirst\n{c} 2 2\n\tsecond\n"
        );
        let lines = parse_porcelain(&text);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].0.author, "Alice");
        assert_eq!(date(lines[1].0.time), "1970-01-02");
    }
}
