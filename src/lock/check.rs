//! The lock file against the repository: missing, stale, and — against the lock at
//! the base revision — released content edited in place.
//!
//! Runs after resolution, on the hashes it computed.

use std::collections::{BTreeMap, BTreeSet};

use crate::diag::{Code, Diagnostic, Span};
use crate::lock::{LockFile, LockKey};
use crate::model::Config;

/// The lock as committed at the base revision, for immutability.
#[derive(Clone, Debug)]
pub struct BaseLock {
    /// How to name the revision in messages, e.g. "HEAD (3f2c1a9b0e)".
    pub revision: String,
    pub lock: LockFile,
    /// Where the configuration's files at the base can be read (the repository
    /// and the commit), when they are where they are now: to tell a release changed
    /// only through its parent from one changed itself. `None` for a configuration
    /// that moved since.
    pub files: Option<(std::path::PathBuf, String)>,
}

impl BaseLock {
    /// A file of the configuration as it is at the base.
    fn read(&self, path: &str) -> Option<String> {
        let (root, commit) = self.files.as_ref()?;
        let tree = crate::source::GitRevision::open_files(root, commit, &[path]).ok()?;
        let path = crate::source::RepoPath::parse(path).ok()?;
        let bytes =
            crate::source::Source::read(&tree, &path, crate::layout::MAX_FILE_BYTES).ok()?;
        String::from_utf8(bytes).ok()
    }
}

/// A model file's view as the language reads it (without spans).
fn file_view(text: &str) -> Option<serde_json::Value> {
    let file = crate::diag::FileId(0);
    let document = crate::syntax::parse(file, text).ok()?;
    let (view, _) = crate::syntax::lower(&document, text, file, &crate::syntax::MODEL_FILE);
    Some(view.value)
}

/// What release `version` of `model` says itself in a model file's view.
fn release_in<'v>(
    view: &'v serde_json::Value,
    model: &str,
    version: &str,
) -> Option<&'v serde_json::Value> {
    view.get("model")?.get(model)?.get("release")?.get(version)
}

/// A model file's views at the base and now, read and parsed once per file.
type FileViews = BTreeMap<crate::diag::FileId, Option<(serde_json::Value, serde_json::Value)>>;

/// Where an entry's content is defined, for labels.
fn definition(cx: &Config, key: &LockKey) -> Option<Span> {
    match key {
        LockKey::Prompt(name, version) => {
            let prompt = cx.prompts.get(name)?.get(version)?;
            let file = cx.files.get(prompt.file)?;
            let end = file.text.find('\n').unwrap_or(file.text.len());
            Some(Span::new(prompt.file, 0, end))
        }
        LockKey::Release(model, version) => {
            let release = cx
                .models
                .iter()
                .find(|m| &m.name == model)?
                .release
                .get(version)?;
            Some(cx.spans.name(&release.at))
        }
        LockKey::Dataset(path) => cx
            .models
            .iter()
            .flat_map(|m| m.deploy.values())
            .flat_map(|d| d.gate.values())
            .filter_map(|g| g.dataset.as_ref())
            .find(|d| crate::source::RepoPath::parse(&d.path).is_ok_and(|p| p.as_str() == path))
            .map(|d| cx.spans.field(&d.at, "path")),
    }
}

/// What the working tree holds when the index is checked (`check --staged`): the
/// lock findings that staging would fix say "stage it", not "run `modelops lock`",
/// which would not help.
#[derive(Clone, Debug, Default)]
pub struct Staging {
    /// Prompt version files in the working tree, by (prompt, version).
    pub prompts: BTreeMap<(String, u32), String>,
    /// The working tree's lock, when it parses.
    pub lock: Option<LockFile>,
}

impl Staging {
    /// Reads what the working tree holds (`source` is the working tree).
    pub fn read(source: &dyn crate::source::Source) -> Staging {
        let mut staging = Staging::default();
        let prompts_dir = crate::source::RepoPath::parse(crate::layout::PROMPTS_DIR);
        if let Ok(dir) = &prompts_dir
            && let Ok(entries) = source.read_dir(dir)
        {
            for entry in entries {
                let Ok(paths) = crate::model::load::prompt_paths(source, &entry.name) else {
                    continue;
                };
                for (version, path) in paths {
                    staging
                        .prompts
                        .insert((entry.name.clone(), version), path.as_str().to_owned());
                }
            }
        }
        staging.lock = crate::source::RepoPath::parse(crate::layout::LOCK_FILE_NAME)
            .ok()
            .and_then(|path| source.read(&path, crate::layout::MAX_LOCK_BYTES).ok())
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| crate::lock::parse(crate::diag::FileId(u32::MAX), &text).ok());
        staging
    }

    /// The working tree's lock already holds `key` with `hash`: staging the lock
    /// fixes the finding.
    fn lock_is_current(&self, key: &LockKey, hash: &str) -> bool {
        self.lock.as_ref().and_then(|lock| lock.hash(key)) == Some(hash)
    }
}

/// The help for a lock finding: "stage it" when the working tree already has what
/// the index lacks.
fn lock_help(staging: Option<&Staging>, key: &LockKey, hash: &str) -> String {
    match staging {
        Some(staging) if staging.lock_is_current(key, hash) => {
            "the working tree's modelops.lock is current: stage it with `git add modelops.lock`"
                .to_owned()
        }
        _ => "run `modelops lock` and commit the result".to_owned(),
    }
}

/// A release whose content is not known whole: its prompt is named but not in the
/// configuration (MO202 reports it), or its inheritance is broken (a parent that is
/// missing, left out for its schema errors, or in a cycle, reported where it is).
/// Its hash cannot be right, so it is not judged against a lock.
fn unknown_whole(cx: &Config, key: &LockKey) -> bool {
    let LockKey::Release(model, version) = key else {
        return false;
    };
    cx.release(model, version).is_some_and(|release| {
        release.broken || (release.prompt.is_some() && cx.prompt_of(release).is_none())
    })
}

/// A release whose hash differs from `locked` only because its prompt did: with the
/// prompt's hash in `locked_hash` put back, it hashes to what was locked. The
/// prompt is then the one change to report.
fn changed_only_through_prompt(
    cx: &Config,
    key: &LockKey,
    locked: &str,
    locked_hash: &dyn Fn(&LockKey) -> Option<String>,
) -> Option<LockKey> {
    let LockKey::Release(model, version) = key else {
        return None;
    };
    let release = cx.release(model, version)?;
    let prompt = release.prompt.as_ref()?;
    let prompt_key = LockKey::Prompt(prompt.name.clone(), prompt.version?);
    let prompt_hash = locked_hash(&prompt_key)?;
    (crate::resolve::canonical::release_hash(release, Some(&prompt_hash)) == locked)
        .then_some(prompt_key)
}

/// A release whose parent (`from=`) changed since the base while its own node reads
/// the same there and here: the parent's change is the one to report.
fn changed_only_through_parent(
    cx: &Config,
    base: &BaseLock,
    model: &str,
    version: &str,
    changed: &BTreeSet<LockKey>,
    views: &mut FileViews,
) -> bool {
    let Some(release) = cx.release(model, version) else {
        return false;
    };
    let Some(parent) = &release.parent else {
        return false;
    };
    if !changed.contains(&LockKey::Release(model.to_owned(), parent.clone())) {
        return false;
    }
    let file = release.at.file_id();
    let read = || {
        let before = file_view(&base.read(cx.files.path(file))?)?;
        Some((before, file_view(cx.files.text(file))?))
    };
    let Some((before, now)) = views.entry(file).or_insert_with(read) else {
        return false;
    };
    let own = release_in(before, model, version);
    own.is_some() && own == release_in(now, model, version)
}

/// Prompt versions for a message: `v1`, `v1 and v2`, `v1, v2 and v3`.
fn version_list(versions: impl Iterator<Item = u32>) -> String {
    let listed: Vec<String> = versions.map(|version| format!("v{version}")).collect();
    match listed.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Prompt versions that some release names: a lock entry for one that is gone is
/// reported at the reference (MO202), not again at the lock.
fn referenced_prompts(cx: &Config) -> BTreeSet<(&str, u32)> {
    cx.releases
        .values()
        .flat_map(|releases| releases.values())
        .filter_map(|release| release.prompt.as_ref())
        .filter_map(|prompt| Some((prompt.name.as_str(), prompt.version?)))
        .collect()
}

/// What else is known when the working lock is judged.
#[derive(Clone, Copy)]
pub struct Known<'a> {
    /// Every model file was read and typed whole: a lock entry for a release or
    /// dataset no model has is stale (not merely unknown).
    pub models_complete: bool,
    /// The working tree's prompt files and lock, when the index is checked.
    pub staging: Option<&'a Staging>,
    /// Entries found edited in place since the base ([`check_immutability`]).
    pub released_changed: &'a BTreeSet<LockKey>,
}

/// Compares the working lock with the expected entries.
pub fn check_lock(
    cx: &Config,
    expected: &BTreeMap<LockKey, String>,
    lock: Option<&LockFile>,
    lock_span: Option<Span>,
    known: Known<'_>,
    out: &mut Vec<Diagnostic>,
) {
    let Known {
        models_complete,
        staging,
        released_changed,
    } = known;
    let Some(lock) = lock else {
        if lock_span.is_none() {
            out.push(
                Diagnostic::new(Code::MissingLock, "the repository has no modelops.lock yet")
                    .with_label(cx.spans.field(&cx.project().at, "project"), "prompts and releases are not locked")
                    .with_help("run `modelops lock` and commit modelops.lock, so released content cannot change unnoticed"),
            );
        }
        return;
    };
    // One finding per root cause: released content edited in place is MO704 (restore
    // it, not re-lock it); a release is not judged while its prompt is missing, nor
    // reported when its prompt's change is the whole of its own.
    let stale = |key: &LockKey| {
        expected
            .get(key)
            .is_some_and(|hash| lock.hash(key) != Some(hash.as_str()))
    };
    let locked_hash = |key: &LockKey| lock.hash(key).map(str::to_owned);
    let mut unlocked_prompts: BTreeMap<&str, Vec<(u32, &LockKey, &String)>> = BTreeMap::new();
    // Definitions are looked up only for the entries that need a label.
    for (key, hash) in expected {
        if released_changed.contains(key) || unknown_whole(cx, key) {
            continue;
        }
        if let Some((locked, _)) = lock.entries.get(key)
            && locked != hash
            && changed_only_through_prompt(cx, key, locked, &locked_hash)
                .is_some_and(|prompt| stale(&prompt) || released_changed.contains(&prompt))
        {
            continue;
        }
        match lock.entries.get(key) {
            // An unreadable line may be this entry: it is reported as unreadable.
            None if lock.unreadable.may_hide(key) => {}
            // The versions of one prompt are one finding (below).
            None if matches!(key, LockKey::Prompt(..)) => {
                if let LockKey::Prompt(name, version) = key {
                    unlocked_prompts
                        .entry(name.as_str())
                        .or_default()
                        .push((*version, key, hash));
                }
            }
            None => out.push(
                Diagnostic::new(Code::StaleLock, format!("{key} is not in modelops.lock"))
                    .with_label_opt(definition(cx, key), "not locked")
                    .with_help(lock_help(staging, key, hash)),
            ),
            Some((locked, line)) if locked != hash => out.push(
                Diagnostic::new(
                    Code::StaleLock,
                    format!("{key} does not match its hash in modelops.lock"),
                )
                .with_label_opt(definition(cx, key), "content changed since `modelops lock`")
                .with_label(*line, "locked hash")
                .with_help(lock_help(staging, key, hash)),
            ),
            Some(_) => {}
        }
    }
    for (name, versions) in unlocked_prompts {
        let Some((_, first, hash)) = versions.first() else {
            continue;
        };
        let listed = version_list(versions.iter().map(|(version, _, _)| *version));
        let message = if versions.len() == 1 {
            format!("{first} is not in modelops.lock")
        } else {
            format!("prompt `{name}` {listed} are not in modelops.lock")
        };
        let mut diagnostic = Diagnostic::new(Code::StaleLock, message);
        for (_, key, _) in &versions {
            diagnostic = diagnostic.with_label_opt(definition(cx, key), "not locked");
        }
        out.push(diagnostic.with_help(lock_help(staging, first, hash)));
    }
    let referenced = referenced_prompts(cx);
    let mut gone_prompts: BTreeMap<&str, Vec<(u32, Span)>> = BTreeMap::new();
    for (key, (_, line)) in &lock.entries {
        // With a model file left out, its releases and datasets are unknown, not gone.
        // A prompt whose folder is gone while a release names it is reported at the
        // reference (MO202), versions and all.
        let judged = match key {
            LockKey::Prompt(name, version) => {
                !referenced.contains(&(name.as_str(), *version))
                    && (cx.prompts.contains_key(name)
                        || !referenced.iter().any(|(named, _)| named == name))
            }
            _ => models_complete,
        };
        if judged && !expected.contains_key(key) {
            // A prompt version the commit leaves out although the working tree has it:
            // it was written and locked, but not staged.
            let unstaged = match (key, staging) {
                (LockKey::Prompt(name, version), Some(staging)) => {
                    staging.prompts.get(&(name.clone(), *version))
                }
                _ => None,
            };
            match (unstaged, key) {
                (Some(path), _) => out.push(
                    Diagnostic::new(
                        Code::StaleLock,
                        format!("modelops.lock lists {key}, whose file `{path}` is in the working tree but not staged"),
                    )
                    .with_label(*line, "locked, but the commit would not hold the file")
                    .with_help(format!("stage it: `git add {path}`")),
                ),
                // The gone versions of one prompt are one finding (below).
                (None, LockKey::Prompt(name, version)) => {
                    gone_prompts.entry(name.as_str()).or_default().push((*version, *line));
                }
                (None, _) => out.push(
                    Diagnostic::new(
                        Code::StaleLock,
                        format!("modelops.lock lists {key}, which no longer exists"),
                    )
                    .with_label(*line, "stale entry")
                    .with_help("run `modelops lock` and commit the result"),
                ),
            }
        }
    }
    for (name, versions) in gone_prompts {
        let listed = version_list(versions.iter().map(|(version, _)| *version));
        let message = if versions.len() == 1 {
            format!("modelops.lock lists prompt `{name}` {listed}, which no longer exists")
        } else {
            format!("modelops.lock lists prompt `{name}` {listed}, which no longer exist")
        };
        let mut diagnostic = Diagnostic::new(Code::StaleLock, message);
        for (_, line) in versions {
            diagnostic = diagnostic.with_label(line, "stale entry");
        }
        out.push(diagnostic.with_help("run `modelops lock` and commit the result"));
    }
}

/// Released content (prompt versions, releases) whose hash differs from the lock at
/// the base revision. Datasets may be curated over time and are not frozen. Returns
/// the entries found changed, reported or not (a release changed only through its
/// prompt is reported as the prompt).
pub fn check_immutability(
    cx: &Config,
    expected: &BTreeMap<LockKey, String>,
    base: &BaseLock,
    out: &mut Vec<Diagnostic>,
) -> BTreeSet<LockKey> {
    let mut changed = BTreeSet::new();
    for (key, hash) in expected {
        let LockKey::Prompt(name, version) = key else {
            continue;
        };
        let Some(released) = base.lock.hash(key) else {
            continue;
        };
        if released == hash {
            continue;
        }
        changed.insert(key.clone());
        let next = cx
            .prompts
            .get(name)
            .and_then(|v| v.keys().max())
            .map_or(version + 1, |max| max + 1);
        let path = cx
            .prompts
            .get(name)
            .and_then(|v| v.get(version))
            .map(|p| p.path.as_str().to_owned())
            .unwrap_or_default();
        out.push(
            Diagnostic::new(
                Code::ReleasedContentChanged,
                format!("prompt `{name}` v{version} was edited after it was released at {}", base.revision),
            )
            .with_label_opt(definition(cx, key), "differs from the content locked at the base revision")
            .with_help(format!(
                "released prompts are never edited in place: restore v{version} (`git checkout {} -- {path}`) and add your change as v{next}",
                base.revision.split_whitespace().next().unwrap_or("HEAD"),
            )),
        );
    }
    // Releases in two passes: which changed, then which to report, since a parent
    // may sort after its child.
    let mut changed_releases: Vec<(&LockKey, &str)> = Vec::new();
    for (key, hash) in expected {
        if !matches!(key, LockKey::Release(..)) {
            continue;
        }
        if let Some(released) = base.lock.hash(key)
            && released != hash
        {
            changed.insert(key.clone());
            changed_releases.push((key, released));
        }
    }
    let base_hash = |key: &LockKey| base.lock.hash(key).map(str::to_owned);
    let mut views = FileViews::new();
    for (key, released) in changed_releases {
        let LockKey::Release(model, version) = key else {
            continue;
        };
        // A release whose prompt was edited in place changes with it, as does one
        // whose parent changed while its own node did not: the prompt or the parent
        // is the change to report, unless the release changed besides.
        if unknown_whole(cx, key)
            || changed_only_through_prompt(cx, key, released, &base_hash)
                .is_some_and(|prompt| changed.contains(&prompt))
            || changed_only_through_parent(cx, base, model, version, &changed, &mut views)
        {
            continue;
        }
        out.push(
            Diagnostic::new(
                Code::ReleasedContentChanged,
                format!("release \"{version}\" of `{model}` was changed after it was released at {}", base.revision),
            )
            .with_label_opt(definition(cx, key), "its resolved content differs from the locked hash")
            .with_help("a released version never changes: restore it and put the change in a new release (`release \"<next version>\" from=\"…\"`)"),
        );
    }
    changed
}
