//! The validation pipeline: load → schema → typed model → inheritance → rules.
//!
//! [`check`] runs every stage that can run and collects every diagnostic. What fails
//! the schema is left out of the typed model part by part ([`model::prune`]: its
//! errors are reported, the rest of its file is judged, and nothing is reported
//! that only follows from its absence); when the project itself cannot be typed
//! (its name is missing), rules that need it are skipped.

use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;

use crate::diag::{Code, Diagnostic, Diagnostics, FileId, Span};
use crate::lock::base::{BaseError, BaseRead, read_base};
use crate::lock::check::BaseLock;
use crate::lock::{self, LockFile, LockKey};
use crate::model::load::{self, LoadError};
use crate::model::{self, Config, Date, SpanIndex, Typed};
use crate::resolve::{self, Resolution};
use crate::rules;
use crate::source::Source;

/// The outcome of validating a repository.
#[derive(Debug)]
pub struct Checked {
    /// Every file that passed the schema, on the typed model.
    pub config: Config,
    pub diagnostics: Diagnostics,
    /// The warnings `allow`s accepted, per `allow` (they are not in `diagnostics`).
    pub allowed: Vec<rules::allow::Allowed>,
    /// Hashes, fingerprints and plans; `None` when the project file is invalid.
    pub resolution: Option<Resolution>,
    /// What `modelops lock` would write.
    pub lock_entries: BTreeMap<LockKey, String>,
    /// `modelops.lock` as found: its file and whether it parsed.
    pub lock_file: Option<(FileId, Option<LockFile>)>,
    /// The JSON view of each file that passed the schema, by repository path; empty
    /// unless [`Options::keep_views`] asks for them.
    pub views: BTreeMap<String, serde_json::Value>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.has_errors()
    }
}

/// What a check needs besides the repository.
#[derive(Clone)]
pub struct Options {
    /// The date snapshot retirements are judged against (today, normally).
    pub today: Date,
    /// The lock at the base revision, for immutability (`None`: no base, as in a
    /// repository without commits).
    pub base: Option<BaseLock>,
    /// Keep each valid file's JSON view in [`Checked::views`] (for `inspect`).
    pub keep_views: bool,
    /// Keep each track's rendered prompt in the resolution (for outputs that carry
    /// it). A run that only validates sets this off: fingerprints are still computed
    /// from the rendered text, which is then let go.
    pub keep_rendered: bool,
    /// When the git index is checked: what the working tree holds, so that lock
    /// findings staging would fix say so.
    pub staging: Option<lock::check::Staging>,
    /// Where the deploy record is read (the repository root and the base revision):
    /// promotion order is judged against the default branch's history, not one
    /// revision.
    pub history: Option<(std::path::PathBuf, String)>,
}

impl Options {
    /// Today's date from `MODELOPS_TODAY` (`YYYY-MM-DD`, for reproducible runs) or the
    /// system clock.
    pub fn from_environment() -> Self {
        let today = std::env::var("MODELOPS_TODAY")
            .ok()
            .and_then(|text| Date::parse(&text))
            .unwrap_or_else(Date::today_utc);
        Options {
            today,
            base: None,
            keep_views: false,
            keep_rendered: true,
            staging: None,
            history: None,
        }
    }
}

/// Validates the repository behind `source`. Only a missing project file or an I/O
/// failure is an `Err`; everything wrong with the configuration is a diagnostic.
pub fn check(source: &dyn Source, options: &Options) -> Result<Checked, LoadError> {
    let loaded = load::load(source, options.keep_views)?;
    Ok(check_loaded(loaded, source, options))
}

/// [`check`] of a repository already loaded from `source` (with
/// [`load::load`]), so that a caller can load it alongside other work.
pub fn check_loaded(loaded: load::Loaded, source: &dyn Source, options: &Options) -> Checked {
    let mut diagnostics: Vec<Diagnostic> = loaded.diagnostics;
    let mut spans = SpanIndex::default();
    let mut project = None;
    let mut models = Vec::new();
    let mut views = BTreeMap::new();
    let mut left_out = model::prune::LeftOut::default();

    // Each file was mapped onto the typed model as it loaded (on every core); they
    // are taken in file order.
    for kdl in loaded.kdl {
        diagnostics.extend(kdl.schema_errors);
        left_out.extend(kdl.left_out);
        spans.insert(kdl.spans);
        if let Some(view) = kdl.view {
            views.insert(kdl.path.to_string(), view);
        }
        match kdl.typed {
            Some(Ok(Typed::Project(parsed))) => project = Some(*parsed),
            Some(Ok(Typed::Models(file))) => models.extend(file),
            Some(Err(diagnostic)) => diagnostics.push(diagnostic),
            None => {}
        }
    }

    // A model file that could not be read, parsed or validated has releases and
    // datasets the lock still lists: those entries cannot be judged stale.
    let models_incomplete = diagnostics.iter().any(|d| {
        d.is_error()
            && d.primary_span()
                .is_some_and(|span| loaded.files.path(span.file).starts_with("models/"))
    });

    // Each model's releases resolve on their own, on every core, while the lock parses.
    let (resolved_releases, lock_file) = rayon::join(
        || {
            models
                .par_iter()
                .map(|model| {
                    let mut found = Vec::new();
                    let resolved = model::resolve_releases(model, &spans, &left_out, &mut found);
                    (model.name.clone(), resolved, found)
                })
                .collect::<Vec<_>>()
        },
        || {
            loaded
                .lock
                .as_ref()
                .map(|(file, text)| (*file, lock::parse(*file, text)))
        },
    );
    let mut releases = BTreeMap::new();
    for (name, resolved, found) in resolved_releases {
        diagnostics.extend(found);
        releases.insert(name, resolved);
    }
    // A lock with a few unreadable lines is still judged by the lines that read.
    let mut partial_lock = None;
    let lock_file = lock_file.map(|(file, parsed)| match parsed {
        Ok(parsed) => (file, Some(parsed)),
        Err(problems) => {
            diagnostics.extend(problems);
            partial_lock = loaded
                .lock
                .as_ref()
                .and_then(|(file, text)| lock::parse_partial(*file, text));
            (file, None)
        }
    });
    let config = Config {
        files: loaded.files,
        spans,
        project,
        models,
        releases,
        prompts: loaded.prompts,
        templates: loaded.templates,
        left_out,
    };
    let mut resolution = None;
    let mut lock_entries = BTreeMap::new();
    if config.project.is_some() {
        let deployed = |model: &str| match &options.history {
            Some((root, base)) => lock::base::deployed_before(root, base, model),
            None => Default::default(),
        };
        let context = rules::Context {
            config: &config,
            source,
            today: options.today,
            deployed: options
                .history
                .is_some()
                .then_some(&deployed as &rules::Deployed),
            unstaged: options.staging.as_ref().map(|staging| &staging.prompts),
        };
        // The rules and resolution only read the configuration: they run side by side.
        let ((), (resolved, resolve_diagnostics)) = rayon::join(
            || rules::run(&context, &mut diagnostics),
            || {
                let mut found = Vec::new();
                let resolved = resolve::resolve(&config, source, options.keep_rendered, &mut found);
                (resolved, found)
            },
        );
        diagnostics.extend(resolve_diagnostics);
        lock_entries = lock::expected_entries(&resolved);
        let lock_span = lock_file.as_ref().map(|(file, _)| Span::new(*file, 0, 0));
        let parsed = lock_file
            .as_ref()
            .and_then(|(_, parsed)| parsed.as_ref())
            .or(partial_lock.as_ref());
        // Released content first: an entry edited in place is reported as that
        // (MO704), not again as a stale lock entry.
        let mut found = Vec::new();
        let released_changed = match &options.base {
            Some(base) => lock::check::check_immutability(&config, &lock_entries, base, &mut found),
            None => Default::default(),
        };
        lock::check::check_lock(
            &config,
            &lock_entries,
            parsed,
            lock_span,
            lock::check::Known {
                models_complete: !models_incomplete,
                staging: options.staging.as_ref(),
                released_changed: &released_changed,
            },
            &mut found,
        );
        diagnostics.extend(found);
        resolution = Some(resolved);
    }

    // Warnings accepted on purpose leave the report, counted per `allow`.
    let mut allows = rules::allow::Allows::of(&config);
    allows.apply(&mut diagnostics);
    let judged = !diagnostics.iter().any(Diagnostic::is_error);
    let allowed = allows.finish(&config, judged, &mut diagnostics);

    let mut sorted = Diagnostics::new();
    sorted.extend(diagnostics);
    sorted.sort(&config.files);
    Checked {
        config,
        diagnostics: sorted,
        allowed,
        resolution,
        lock_entries,
        lock_file,
        views,
    }
}

/// Why a check could not run at all (exit code 2).
#[derive(Debug)]
pub enum CheckError {
    Load(LoadError),
    Base(BaseError),
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckError::Load(error) => error.fmt(f),
            CheckError::Base(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for CheckError {}

/// [`check`] of `source` against the lock at the base revision of the repository at
/// `root` ([`read_base`]: `base`, default `HEAD`), which is read while the
/// repository loads. A base lock that exists but cannot be read is an error
/// (MO703): released content would otherwise go unchecked without a word. The second
/// value is a warning to show: a configuration that moved from one of several
/// places, so that no base lock can be chosen.
pub fn check_at_base(
    source: &dyn Source,
    root: &Path,
    base: Option<&str>,
    mut options: Options,
) -> Result<(Checked, Option<String>), CheckError> {
    // The project's name, to recognise a configuration that moved since the base.
    let project = crate::source::RepoPath::parse(crate::layout::PROJECT_FILE_NAME)
        .ok()
        .and_then(|path| source.read(&path, crate::layout::MAX_FILE_BYTES).ok())
        .and_then(|bytes| {
            crate::lock::base::project_name(&String::from_utf8_lossy(&bytes)).map(str::to_owned)
        });
    // Without `--base`: where HEAD left the default branch, for the lock and the
    // deploy record alike.
    let default = base
        .is_none()
        .then(|| crate::source::default_base(root))
        .flatten();
    let history_base = base
        .map(str::to_owned)
        .or_else(|| default.as_ref().map(|(commit, _)| commit.clone()))
        .unwrap_or_else(|| "HEAD".to_owned());
    options.history = Some((root.to_path_buf(), history_base));
    let (base_lock, loaded) = rayon::join(
        || read_base(root, base, default.as_ref(), project.as_deref()),
        || load::load(source, options.keep_views),
    );
    let mut unreadable = None;
    let mut warning = None;
    options.base = match base_lock.map_err(CheckError::Base)? {
        BaseRead::Found(lock) => Some(lock),
        BaseRead::Nothing => None,
        BaseRead::Ambiguous { revision, places } => {
            warning = Some(format!(
                "modelops.lock is not where this configuration is at {revision}, and the project was in {} places then ({}): released content is not checked against the base; commit the move on its own first",
                places.len(),
                places.join(", ")
            ));
            None
        }
        BaseRead::Unreadable { revision, reason } => {
            unreadable = Some(
                Diagnostic::new(
                    Code::InvalidLock,
                    format!(
                        "modelops.lock at {revision} cannot be read ({reason}), so released content cannot be checked against it"
                    ),
                )
                .with_help(
                    "fix the lock on that revision (after a merge, `modelops lock` writes it whole), or pass `--base` a revision whose lock reads",
                ),
            );
            None
        }
    };
    let loaded = loaded.map_err(CheckError::Load)?;
    let mut checked = check_loaded(loaded, source, &options);
    if let Some(diagnostic) = unreadable {
        checked.diagnostics.push(diagnostic);
        checked.diagnostics.sort(&checked.config.files);
    }
    Ok((checked, warning))
}
