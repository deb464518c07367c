//! `modelops history MODEL|PROMPT`: the versions of a prompt with the commit that
//! introduced each, or the deployment timeline of a model — when each release became
//! stable or candidate in which environment, by which commit and author — derived
//! from the history of the model file, read with git2.

use std::collections::BTreeMap;
use std::path::Path;

use git2::{Oid, Repository, Sort};

use crate::audit::{AuditError, Progress, short};
use crate::model::Model;

/// A commit that touched a path, with the blob the path had there.
#[derive(Clone, Debug)]
pub struct Touch {
    pub commit: String,
    pub author: String,
    pub date: String,
    pub summary: String,
    /// The file's content at that commit (`None` when it was deleted).
    pub content: Option<String>,
}

fn blob_at(commit: &git2::Commit<'_>, path: &str) -> Option<Oid> {
    commit
        .tree()
        .ok()?
        .get_path(Path::new(path))
        .ok()
        .map(|e| e.id())
}

/// Every commit reachable from HEAD that changed `path`, oldest first. A commit
/// changes a path when its content differs from every parent's (as `git log` sees it).
pub fn touches(repo: &Repository, path: &str) -> Result<Vec<Touch>, AuditError> {
    let mut walk = repo.revwalk()?;
    walk.push_head()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME | Sort::REVERSE)?;
    let mut progress = Progress::new();
    let mut out = Vec::new();
    for (index, id) in walk.enumerate() {
        progress.update("reading history", index);
        let commit = repo.find_commit(id?)?;
        let here = blob_at(&commit, path);
        let parents: Vec<Option<Oid>> = commit.parents().map(|p| blob_at(&p, path)).collect();
        let changed = if parents.is_empty() {
            here.is_some()
        } else {
            parents.iter().all(|p| *p != here)
        };
        if !changed {
            continue;
        }
        let content = here
            .and_then(|oid| repo.find_blob(oid).ok())
            .map(|b| String::from_utf8_lossy(b.content()).into_owned());
        let time = commit.author().when().seconds();
        out.push(Touch {
            commit: commit.id().to_string(),
            author: commit.author().name().unwrap_or("unknown").to_owned(),
            date: crate::model::Date::from_days_since_epoch(time.div_euclid(86_400)).to_string(),
            summary: commit.summary().ok().flatten().unwrap_or("").to_owned(),
            content,
        });
    }
    progress.finish();
    Ok(out)
}

pub use crate::model::load::parse_model;

/// What runs in one environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvState {
    pub stable: Option<String>,
    /// (kind, release) of the candidate.
    pub candidate: Option<(String, String)>,
}

pub fn states(model: &Model) -> BTreeMap<String, EnvState> {
    model
        .deploy
        .values()
        .map(|d| {
            (
                d.environment.clone(),
                EnvState {
                    stable: d.stable.clone(),
                    candidate: d
                        .candidate()
                        .map(|c| (c.kind().to_owned(), c.release().to_owned())),
                },
            )
        })
        .collect()
}

/// One entry of a model's deployment timeline.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Event {
    pub commit: String,
    pub author: String,
    pub date: String,
    pub environment: String,
    pub what: String,
}

/// The deployment timeline of `model`, oldest first.
pub fn model_timeline(root: &Path, model: &str) -> Result<Vec<Event>, AuditError> {
    let (repo, prefix) = crate::audit::open_history(root)?;
    let path = format!("{prefix}models/{model}.kdl");
    let touches = touches(&repo, &path)?;
    if touches.is_empty() {
        return Err(AuditError::Other(format!(
            "`models/{model}.kdl` has no history in this repository"
        )));
    }
    let mut previous: BTreeMap<String, EnvState> = BTreeMap::new();
    let mut stables: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut events = Vec::new();
    for touch in touches {
        let current = touch
            .content
            .as_deref()
            .and_then(|text| parse_model(text, model))
            .map(|m| states(&m));
        let Some(current) = current else {
            if touch.content.is_none() {
                for environment in previous.keys() {
                    events.push(event(&touch, environment, "model removed".into()));
                }
                previous.clear();
            }
            // A revision that does not validate changed nothing that ran.
            continue;
        };
        let environments: std::collections::BTreeSet<&String> =
            previous.keys().chain(current.keys()).collect();
        for environment in environments {
            let before = previous.get(environment).cloned().unwrap_or_default();
            let after = current.get(environment).cloned().unwrap_or_default();
            let history = stables.entry(environment.clone()).or_default();
            for what in changes(&before, &after, history) {
                events.push(event(&touch, environment, what));
            }
            if let Some(stable) = &after.stable
                && history.last() != Some(stable)
            {
                history.push(stable.clone());
            }
        }
        previous = current;
    }
    Ok(events)
}

fn event(touch: &Touch, environment: &str, what: String) -> Event {
    Event {
        commit: touch.commit.clone(),
        author: touch.author.clone(),
        date: touch.date.clone(),
        environment: environment.to_owned(),
        what,
    }
}

fn changes(before: &EnvState, after: &EnvState, stables: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    match (&before.stable, &after.stable) {
        (None, Some(new)) => out.push(format!("stable {new} deployed")),
        (Some(old), None) => out.push(format!("stable {old} removed")),
        (Some(old), Some(new)) if old != new => {
            let promoted = before.candidate.as_ref().is_some_and(|(_, r)| r == new);
            // Back to a release that first ran before the one it replaces.
            let first = |release: &String| stables.iter().position(|s| s == release);
            let rolled_back = match (first(new), first(old)) {
                (Some(new_at), Some(old_at)) => new_at < old_at,
                _ => false,
            };
            out.push(if promoted {
                format!("{new} promoted to stable (was {old})")
            } else if rolled_back {
                format!("rolled back to {new} (was {old})")
            } else {
                format!("stable {old} → {new}")
            });
        }
        _ => {}
    }
    match (&before.candidate, &after.candidate) {
        (None, Some((kind, release))) => out.push(format!("{kind} {release} started")),
        (Some((kind, release)), None) if after.stable.as_ref() != Some(release) => {
            out.push(format!("{kind} {release} withdrawn"));
        }
        (Some((_, old)), Some((kind, new))) if old != new => {
            out.push(format!("{kind} {old} → {new}"))
        }
        _ => {}
    }
    out
}

/// A prompt's versions with the commit that introduced each, and later edits.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PromptVersionHistory {
    pub version: u32,
    pub path: String,
    pub introduced: Option<(String, String, String)>,
    /// Commits that changed the file after it was introduced.
    pub edits: Vec<(String, String, String)>,
}

pub fn prompt_history(
    root: &Path,
    files: &BTreeMap<u32, String>,
) -> Result<Vec<PromptVersionHistory>, AuditError> {
    let (repo, prefix) = crate::audit::open_history(root)?;
    let mut out = Vec::new();
    for (version, path) in files {
        let touches = touches(&repo, &format!("{prefix}{path}"))?;
        let mut entries = touches
            .iter()
            .map(|t| (t.commit.clone(), t.author.clone(), t.date.clone()));
        out.push(PromptVersionHistory {
            version: *version,
            path: path.clone(),
            introduced: entries.next(),
            edits: entries.collect(),
        });
    }
    Ok(out)
}

pub fn human_timeline(model: &str, events: &[Event]) -> String {
    let mut out = format!("deployment history of `{model}` (oldest first)\n");
    for e in events {
        out.push_str(&format!(
            "{} {} {:<16} {:<10} {}\n",
            e.date,
            short(&e.commit),
            e.author,
            e.environment,
            e.what
        ));
    }
    out
}

pub fn human_prompt(name: &str, versions: &[PromptVersionHistory]) -> String {
    let mut out = format!("versions of prompt `{name}`\n");
    for v in versions {
        match &v.introduced {
            Some((commit, author, date)) => out.push_str(&format!(
                "v{:<3} {date} {} {author}  {}\n",
                v.version,
                short(commit),
                v.path
            )),
            None => out.push_str(&format!(
                "v{:<3} not committed yet          {}\n",
                v.version, v.path
            )),
        }
        for (commit, author, date) in &v.edits {
            out.push_str(&format!(
                "     {date} {} {author}  edited after release\n",
                short(commit)
            ));
        }
    }
    out
}
