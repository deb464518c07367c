//! Reading a config repository through a [`Source`]: `modelops.kdl`, `models/*.kdl`,
//! `prompts/<name>/v<N>.(md|txt)` and the templates of custom targets, into [`Files`]
//! with parsed, lowered views.
//!
//! Problems with single files (too large, not UTF-8, a directory where a file should
//! be, a symlink out of the repository) become diagnostics; only a missing project
//! file or an I/O failure stops the run ([`LoadError`]).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use rayon::prelude::*;
use serde_json::Value;

use crate::diag::{Code, Diagnostic, FileId, Files, Span};
use crate::layout::{
    LOCK_FILE_NAME, MAX_FILE_BYTES, MAX_LOCK_BYTES, MODELS_DIR, PROJECT_FILE_NAME, PROMPTS_DIR,
};
use crate::model::{self, TargetKind, Typed};
use crate::schema::FileKind;
use crate::source::{EntryKind, RepoPath, Source, SourceError};
use crate::syntax::template::{TemplateAnalysis, TemplateProblem, analyze};
use crate::syntax::{self, MODEL_FILE, PROJECT_FILE, SpanTable};

/// A failure that stops loading altogether (exit code 2).
#[derive(Debug)]
pub enum LoadError {
    NoProjectFile { source: String },
    Source(SourceError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NoProjectFile { source } => {
                write!(f, "no `{PROJECT_FILE_NAME}` in {source}")
            }
            LoadError::Source(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for LoadError {}

/// A KDL file that parsed and lowered (possibly with structural diagnostics).
#[derive(Clone, Debug)]
pub struct LoadedKdl {
    pub kind: FileKind,
    pub file: FileId,
    pub path: RepoPath,
    /// Where each node, argument and property of the view is in the file.
    pub spans: SpanTable,
    /// True when parsing or lowering reported an error for this file.
    pub has_errors: bool,
    /// What the schema says of the view (empty when it is valid).
    pub schema_errors: Vec<Diagnostic>,
    /// The file on the typed model, when its view passed the schema (or why it does
    /// not map onto it).
    pub typed: Option<Result<Typed, Diagnostic>>,
    /// The view as the schema saw it, when it is valid and views were asked for.
    pub view: Option<Value>,
    /// The parts the schema refused, left out of `typed` (see [`super::prune`]).
    pub left_out: super::prune::LeftOut,
}

/// One prompt version file.
#[derive(Clone, Debug)]
pub struct PromptVersion {
    pub name: String,
    pub version: u32,
    pub path: RepoPath,
    pub file: FileId,
    /// The text, when the file is readable UTF-8.
    pub text: Option<Arc<str>>,
    /// The parsed template, when the text is readable.
    pub analysis: Option<TemplateAnalysis>,
}

/// The handlebars template of a `custom` target, read and parsed here so that its
/// emitter never touches the disk.
#[derive(Clone, Debug)]
pub struct TemplateFile {
    pub path: RepoPath,
    pub file: FileId,
    /// The parsed template; `None` when it does not parse (reported as MO909).
    pub template: Option<handlebars::template::Template>,
}

/// Everything read from a repository, before schema validation.
#[derive(Debug, Default)]
pub struct Loaded {
    pub files: Files,
    pub kdl: Vec<LoadedKdl>,
    /// Prompt versions by prompt name, then version number.
    pub prompts: BTreeMap<String, BTreeMap<u32, PromptVersion>>,
    /// Custom targets' templates that could be read, by `template=` as written.
    pub templates: BTreeMap<String, TemplateFile>,
    /// `modelops.lock`, when present and readable as text.
    pub lock: Option<(FileId, Arc<str>)>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads the repository behind `source` and analyses each file on its own.
/// `keep_views` keeps each valid KDL file's view ([`LoadedKdl::view`]).
pub fn load(source: &dyn Source, keep_views: bool) -> Result<Loaded, LoadError> {
    let mut loaded = Loaded::default();
    let project_path =
        RepoPath::parse(PROJECT_FILE_NAME).map_err(|_| LoadError::NoProjectFile {
            source: source.describe(),
        })?;
    match source.kind(&project_path) {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Err(LoadError::NoProjectFile {
                source: source.describe(),
            });
        }
        Err(e) => return Err(LoadError::Source(e)),
    }
    let models_dir = RepoPath::parse(MODELS_DIR).map_err(|_| LoadError::NoProjectFile {
        source: source.describe(),
    })?;
    let mut kdl_paths = vec![(project_path, FileKind::Project)];
    for entry in source.read_dir(&models_dir).map_err(LoadError::Source)? {
        if entry.kind == EntryKind::NotUtf8Name {
            loaded
                .diagnostics
                .push(not_utf8_name(&format!("{MODELS_DIR}/{}", entry.name)));
            continue;
        }
        if entry.name.ends_with(".kdl") && entry.kind != EntryKind::Dir {
            kdl_paths.push((models_dir.join(&entry.name), FileKind::Model));
        }
    }
    let prompt_paths = discover_prompts(source, &mut loaded)?;
    // Read every file on every core; register them in a fixed order, so file ids
    // and output stay deterministic.
    let paths: Vec<&RepoPath> = kdl_paths
        .iter()
        .map(|(path, _)| path)
        .chain(prompt_paths.iter().map(|(_, _, path)| path))
        .collect();
    let mut contents = paths
        .par_iter()
        .map(|path| source.read(path, MAX_FILE_BYTES).map(decode))
        .collect::<Vec<_>>()
        .into_iter();
    let mut jobs = Vec::new();
    for ((path, kind), read) in kdl_paths.iter().zip(contents.by_ref()) {
        if let (file, Some(text)) = register(path, read, &mut loaded)? {
            jobs.push(KdlJob {
                kind: *kind,
                file,
                path: path.clone(),
                text,
            });
        }
    }
    for ((name, version, path), read) in prompt_paths.into_iter().zip(contents) {
        let (file, text) = register(&path, read, &mut loaded)?;
        add_prompt(&mut loaded, name, version, path, file, text);
    }
    // Files are independent of each other: analyse them on every core. Results come
    // back in input order, so output stays deterministic.
    let (analyzed, templates) = rayon::join(
        || {
            jobs.par_iter()
                .map(|job| analyze_kdl(job, keep_views))
                .collect::<Vec<_>>()
        },
        || {
            loaded
                .prompts
                .values()
                .flat_map(|versions| versions.values())
                .map(|p| p.text.clone())
                .collect::<Vec<_>>()
                .into_par_iter()
                .map(|text| text.map(|t| analyze(&t)))
                .collect::<Vec<_>>()
        },
    );
    for (kdl, diagnostics) in analyzed {
        loaded.diagnostics.extend(diagnostics);
        loaded.kdl.extend(kdl);
    }
    for (prompt, analysis) in loaded
        .prompts
        .values_mut()
        .flat_map(|versions| versions.values_mut())
        .zip(templates)
    {
        prompt.analysis = analysis;
    }
    read_templates(source, &mut loaded)?;
    if let Ok(lock_path) = RepoPath::parse(LOCK_FILE_NAME)
        && source
            .kind(&lock_path)
            .map_err(LoadError::Source)?
            .is_some()
        && let (file, Some(text)) = register(
            &lock_path,
            source.read(&lock_path, MAX_LOCK_BYTES).map(decode),
            &mut loaded,
        )?
    {
        loaded.lock = Some((file, text));
    }
    Ok(loaded)
}

/// A file's bytes as text: valid UTF-8, or its lossy text and the offset of the first
/// invalid byte. Decoding is done where the file is read, on every core.
enum Text {
    Valid(Arc<str>),
    Invalid { lossy: String, valid_up_to: usize },
}

fn decode(bytes: Vec<u8>) -> Text {
    match String::from_utf8(bytes) {
        Ok(text) => Text::Valid(text.into()),
        Err(error) => Text::Invalid {
            valid_up_to: error.utf8_error().valid_up_to(),
            lossy: String::from_utf8_lossy(error.as_bytes()).into_owned(),
        },
    }
}

/// Adds a file that was read (or failed to be) to `files` as text, turning
/// file-level problems into diagnostics. Returns the file id and, when readable,
/// its text.
fn register(
    path: &RepoPath,
    read: Result<Text, SourceError>,
    loaded: &mut Loaded,
) -> Result<(FileId, Option<Arc<str>>), LoadError> {
    match read {
        Ok(Text::Valid(text)) => {
            let file = loaded.files.add(path.as_str(), text.clone());
            Ok((file, Some(text)))
        }
        Ok(Text::Invalid { lossy, valid_up_to }) => {
            let file = loaded.files.add(path.as_str(), lossy);
            loaded.diagnostics.push(
                Diagnostic::new(
                    Code::InvalidEncoding,
                    format!("`{path}` is not valid UTF-8"),
                )
                .with_label(
                    Span::new(file, valid_up_to, valid_up_to + 1),
                    "invalid byte sequence here",
                )
                .with_help("save the file as UTF-8 text"),
            );
            Ok((file, None))
        }
        // The file vanished or cannot be read: an environment problem, not bad config.
        Err(error @ (SourceError::Io { .. } | SourceError::NotFound(_))) => {
            Err(LoadError::Source(error))
        }
        Err(error) => {
            let file = loaded.files.add(path.as_str(), "");
            loaded.diagnostics.push(file_problem(file, &error));
            Ok((file, None))
        }
    }
}

/// A diagnostic for a file that could not be used as a file.
fn file_problem(file: FileId, error: &SourceError) -> Diagnostic {
    let at = Span::new(file, 0, 0);
    match error {
        SourceError::TooLarge { .. } => Diagnostic::new(Code::InputTooLarge, error.to_string())
            .with_label(at, "this file")
            .with_help(
                "config and prompt files are small; split the file or remove generated content",
            ),
        SourceError::Escapes { .. } => Diagnostic::new(
            Code::PathEscapesRepository,
            error.to_string(),
        )
        .with_label(at, "this symlink")
        .with_help(
            "keep every file the config uses inside the repository; copy it in instead of linking",
        ),
        SourceError::NotAFile(path) => Diagnostic::new(
            Code::NotAFile,
            format!("`{path}` is a directory, not a file"),
        )
        .with_label(at, "expected a file")
        .with_help("replace the directory with a file"),
        other => Diagnostic::new(Code::NotAFile, other.to_string()).with_label(at, ""),
    }
}

/// A KDL file read but not yet analysed.
struct KdlJob {
    kind: FileKind,
    file: FileId,
    path: RepoPath,
    text: Arc<str>,
}

/// A view that passed the schema but does not map onto the typed model: a gap
/// between the schema and the types, reported rather than hidden.
fn uninterpretable(file: FileId, error: &serde_json::Error) -> Diagnostic {
    Diagnostic::new(
        Code::InvalidValue,
        format!("the file passed the schema but cannot be interpreted: {error}"),
    )
    .with_label(Span::new(file, 0, 0), "in this file")
    .with_help("please report this as a bug in modelops, with the file")
}

impl KdlJob {
    fn loaded(
        &self,
        spans: SpanTable,
        has_errors: bool,
        schema_errors: Vec<Diagnostic>,
        typed: Option<Result<Typed, Diagnostic>>,
        view: Option<Value>,
    ) -> LoadedKdl {
        LoadedKdl {
            kind: self.kind,
            file: self.file,
            path: self.path.clone(),
            spans,
            has_errors,
            schema_errors,
            typed,
            view,
            left_out: Default::default(),
        }
    }
}

/// Parses, lowers and validates one KDL file, and maps a valid view onto the typed
/// model: everything about it that depends only on its own bytes. `None` for a file
/// that does not parse.
fn analyze_kdl(job: &KdlJob, keep_views: bool) -> (Option<LoadedKdl>, Vec<Diagnostic>) {
    let grammar = match job.kind {
        FileKind::Project => &PROJECT_FILE,
        FileKind::Model => &MODEL_FILE,
    };
    let doc = match syntax::parse_for_view(job.file, &job.text) {
        Ok(doc) => doc,
        Err(diagnostics) => return (None, diagnostics),
    };
    let (view, mut diagnostics) = syntax::lower(&doc, &job.text, job.file, grammar);
    let has_errors = diagnostics.iter().any(Diagnostic::is_error);
    // Credentials the text hides behind escapes; those it shows are the rules'.
    let mut hidden = Vec::new();
    syntax::credentials::hidden_in_values(
        &view.value,
        &job.text,
        syntax::Pointer::root(),
        &mut hidden,
    );
    for (pointer, what) in hidden {
        diagnostics.push(
            Diagnostic::new(
                Code::CredentialLiteral,
                format!("this value decodes to what looks like {what}"),
            )
            .with_label(
                view.spans.value_or_ancestor(&pointer),
                "credential written in the repository, behind escapes",
            )
            .with_help(syntax::credentials::help(false))
            .redacted(),
        );
    }
    let schema_errors = crate::schema::validate(&view, job.kind);
    let (mut typed, mut plain) = (None, None);
    // A view with schema errors is typed without the parts that hold them, when
    // the rest passes: the other parts are still judged.
    let mut left_out = super::prune::LeftOut::default();
    // A part that lost a malformed node's value is left out too: what rules would
    // say of the missing value repeats the node's error.
    let valid = if schema_errors.is_empty() && view.dropped.is_empty() {
        Some(view.value)
    } else {
        crate::schema::error_locations(&view.value, job.kind)
            .map(|mut errors| {
                errors.extend(view.dropped.iter().map(|pointer| (pointer.clone(), false)));
                errors
            })
            .and_then(|errors| super::prune::without_errors(job.kind, &view.value, &errors))
            .map(|(pruned, parts)| {
                left_out = parts;
                pruned
            })
    };
    if let Some(valid) = valid {
        plain = keep_views.then(|| valid.clone());
        let mut annotated = valid;
        model::annotate(&mut annotated);
        let decoded = Typed::from_value(job.kind, job.file, annotated);
        typed = Some(decoded.map_err(|e| uninterpretable(job.file, &e)));
    }
    let mut loaded = job.loaded(view.spans, has_errors, schema_errors, typed, plain);
    loaded.left_out = left_out;
    (Some(loaded), diagnostics)
}

/// Reads and parses the template of each `custom` target of a valid project. A path
/// that is empty, leads outside the repository, is missing or is not a file is the
/// reference rules' to report (MO204, MO207, MO208): it is left out here.
fn read_templates(source: &dyn Source, loaded: &mut Loaded) -> Result<(), LoadError> {
    let written: std::collections::BTreeSet<String> = loaded
        .kdl
        .iter()
        .filter_map(|kdl| match &kdl.typed {
            Some(Ok(Typed::Project(project))) => Some(project),
            _ => None,
        })
        .flat_map(|project| project.target.values())
        .filter(|target| target.kind == TargetKind::Custom)
        .filter_map(|target| target.template.clone())
        .collect();
    for written in written {
        let Ok(path) = RepoPath::parse(&written) else {
            continue;
        };
        let read = match source.read(&path, MAX_FILE_BYTES) {
            Ok(bytes) => Ok(decode(bytes)),
            Err(error @ SourceError::TooLarge { .. }) => Err(error),
            Err(_) => continue,
        };
        let (file, Some(text)) = register(&path, read, loaded)? else {
            continue;
        };
        let template = match parse_template(&text) {
            Ok(template) => Some(template),
            Err(problem) => {
                let diagnostic = template_problem(&loaded.files, file, &path, &problem);
                loaded.diagnostics.push(diagnostic);
                None
            }
        };
        loaded.templates.insert(
            written,
            TemplateFile {
                path,
                file,
                template,
            },
        );
    }
    Ok(())
}

/// Parses a custom template: bounded first, like prompts, then by handlebars, and
/// without partials or decorators (a template is one file, rendered once).
fn parse_template(text: &str) -> Result<handlebars::template::Template, TemplateProblem> {
    use handlebars::template::{Template, TemplateElement};
    if let Some(problem) = analyze(text).problem {
        return Err(problem);
    }
    let template = Template::compile(text).map_err(|error| TemplateProblem {
        reason: error.reason().to_string(),
        position: error.pos(),
    })?;
    // Blocks nest no deeper than the bounds allow; walked without recursion all the same.
    let mut pending = vec![&template];
    while let Some(current) = pending.pop() {
        for (index, element) in current.elements.iter().enumerate() {
            let what = match element {
                TemplateElement::HelperBlock(helper) => {
                    pending.extend(helper.template.iter().chain(helper.inverse.iter()));
                    continue;
                }
                TemplateElement::PartialExpression(_) | TemplateElement::PartialBlock(_) => {
                    "a partial (`{{> …}}`)"
                }
                TemplateElement::DecoratorExpression(_) | TemplateElement::DecoratorBlock(_) => {
                    "a decorator (`{{* …}}`)"
                }
                _ => continue,
            };
            return Err(TemplateProblem {
                reason: format!("{what} is not available in custom templates"),
                position: current.mapping.get(index).map(|m| (m.0, m.1)),
            });
        }
    }
    Ok(template)
}

/// A custom template that does not parse, at the place it breaks.
fn template_problem(
    files: &Files,
    file: FileId,
    path: &RepoPath,
    problem: &TemplateProblem,
) -> Diagnostic {
    let text = files.text(file);
    let at = problem.position.and_then(|(line, column)| {
        let source = files.get(file)?;
        let start = source.offset_of(line, column)?;
        let (_, line_end) = source.line_span(line)?;
        Some(Span::new(file, start, line_end.max(start)))
    });
    // The parser finds an unclosed block at the end of the text; the useful place is
    // the block that was opened.
    let at_end = at.is_none_or(|span| span.start >= text.trim_end().len());
    if let Some((start, end, name)) = unclosed_block(text).filter(|_| at_end) {
        return Diagnostic::new(
            Code::CustomTemplate,
            format!("the custom template `{path}` is not a valid template: `{{{{#{name}}}}}` is never closed"),
        )
        .with_label(Span::new(file, start, end), "opened here")
        .with_help(format!("close the block with `{{{{/{name}}}}}`"));
    }
    let span = at.unwrap_or_else(|| Span::new(file, 0, 0));
    // The grammar's list of expected rules means nothing to a template's author.
    let reason = if problem.reason.starts_with("invalid handlebars syntax") {
        "this `{{…}}` is not a valid expression"
    } else {
        problem.reason.as_str()
    };
    Diagnostic::new(
        Code::CustomTemplate,
        format!("the custom template `{path}` is not a valid template: {reason}"),
    )
    .with_label(span, "the template breaks here")
    .with_help(
        "custom templates are handlebars: `{{name}}` inserts a value, `{{#each deployments}}…{{/each}}` repeats a block; write `\\{{` for a literal `{{` (see `modelops explain MO909`)",
    )
}

/// The last `{{#name …}}` block of a template left open, by one linear scan of
/// block tags: its span and name.
fn unclosed_block(text: &str) -> Option<(usize, usize, String)> {
    let mut open: Vec<(usize, usize, &str)> = Vec::new();
    let mut rest = 0;
    // The next `}}`, searched forward only, so that the scan stays linear.
    let mut close = 0;
    while let Some(found) = text.get(rest..).and_then(|t| t.find("{{")) {
        let start = rest + found;
        let after = text.get(start..).unwrap_or_default();
        let braces = after.len() - after.trim_start_matches('{').len();
        rest = start + braces;
        let inner = after
            .get(braces..)
            .unwrap_or_default()
            .trim_start_matches(['~', ' ', '\t']);
        let (closing, inner) = match inner.as_bytes().first() {
            Some(b'#') => (false, inner.get(1..).unwrap_or_default()),
            Some(b'/') => (true, inner.get(1..).unwrap_or_default()),
            _ => continue,
        };
        let name = inner
            .split(|c: char| c.is_whitespace() || c == '}' || c == '~')
            .next()
            .unwrap_or_default();
        if closing {
            if open.last().is_some_and(|(_, _, last)| *last == name) {
                open.pop();
            }
            continue;
        }
        if close < rest {
            close = text
                .get(rest..)
                .and_then(|t| t.find("}}"))
                .map_or(text.len(), |at| rest + at + 2);
        }
        open.push((start, close.min(text.len()), name));
    }
    open.pop()
        .map(|(start, end, name)| (start, end, name.to_owned()))
}

/// Parses `v<N>.md` / `v<N>.txt` into N.
fn prompt_version(file_name: &str) -> Option<u32> {
    let stem = file_name
        .strip_suffix(".md")
        .or_else(|| file_name.strip_suffix(".txt"))?;
    let digits = stem.strip_prefix('v')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return None;
    }
    digits.parse().ok()
}

/// The version files of one prompt (`prompts/<name>/v<N>.md|txt`), without reading
/// them.
pub fn prompt_paths(source: &dyn Source, name: &str) -> Result<BTreeMap<u32, RepoPath>, LoadError> {
    let Ok(dir) = RepoPath::parse(&format!("{PROMPTS_DIR}/{name}")) else {
        return Ok(BTreeMap::new());
    };
    let mut paths = BTreeMap::new();
    for entry in source.read_dir(&dir).map_err(LoadError::Source)? {
        if let Some(version) = prompt_version(&entry.name) {
            paths
                .entry(version)
                .or_insert_with(|| dir.join(&entry.name));
        }
    }
    Ok(paths)
}

/// Every prompt version file, as (prompt name, version, path), in name then file
/// order. Prompt folders are listed on every core.
/// A prompt folder without version files is kept, with no versions.
fn discover_prompts(
    source: &dyn Source,
    loaded: &mut Loaded,
) -> Result<Vec<(String, u32, RepoPath)>, LoadError> {
    let Ok(prompts_dir) = RepoPath::parse(PROMPTS_DIR) else {
        return Ok(Vec::new());
    };
    let mut dirs: Vec<String> = Vec::new();
    for entry in source.read_dir(&prompts_dir).map_err(LoadError::Source)? {
        match entry.kind {
            EntryKind::Dir => dirs.push(entry.name),
            EntryKind::NotUtf8Name => loaded
                .diagnostics
                .push(not_utf8_name(&format!("{PROMPTS_DIR}/{}", entry.name))),
            _ => {}
        }
    }
    let listed = dirs
        .par_iter()
        .map(|name| {
            let dir = prompts_dir.join(name);
            let entries = source.read_dir(&dir)?;
            let mut found = Vec::new();
            let mut unnamed = Vec::new();
            for entry in entries {
                if entry.kind == EntryKind::NotUtf8Name {
                    unnamed.push(format!("{dir}/{}", entry.name));
                } else if let Some(version) = prompt_version(&entry.name) {
                    found.push((name.clone(), version, dir.join(&entry.name)));
                }
            }
            Ok((found, unnamed))
        })
        .collect::<Result<Vec<_>, SourceError>>()
        .map_err(LoadError::Source)?;
    let listed: Vec<_> = listed
        .into_iter()
        .map(|(found, unnamed)| {
            for shown in unnamed {
                loaded.diagnostics.push(not_utf8_name(&shown));
            }
            found
        })
        .collect();
    for name in dirs {
        loaded.prompts.entry(name).or_default();
    }
    Ok(listed.into_iter().flatten().collect())
}

/// A file or folder whose name is not UTF-8, where modelops reads files.
fn not_utf8_name(shown: &str) -> Diagnostic {
    Diagnostic::new(
        Code::InvalidEncoding,
        format!(
            "`{}` has a name that is not UTF-8 text, so it is not read",
            crate::diag::clean::text(shown)
        ),
    )
    .with_help("rename it with UTF-8 characters only (the \u{fffd} marks the bytes that are not)")
}

/// Adds one prompt version, reporting a second file for the same version.
fn add_prompt(
    loaded: &mut Loaded,
    name: String,
    version: u32,
    path: RepoPath,
    file: FileId,
    text: Option<Arc<str>>,
) {
    // A checkout with CRLF line endings (git's `core.autocrlf` on Windows) holds the
    // same prompt: it is read, hashed and rendered with LF line endings.
    let text = text.map(|t| {
        if t.contains("\r\n") {
            Arc::from(t.replace("\r\n", "\n"))
        } else {
            t
        }
    });
    let versions = loaded.prompts.entry(name.clone()).or_default();
    if let Some(existing) = versions.get(&version) {
        loaded.diagnostics.push(
            Diagnostic::new(
                Code::DuplicateName,
                format!("prompt `{name}` has two files for version {version}"),
            )
            .with_label(Span::new(file, 0, 0), "this file")
            .with_label(Span::new(existing.file, 0, 0), "and this one")
            .with_help(format!("keep one of `{}` and `{path}`", existing.path)),
        );
        return;
    }
    versions.insert(
        version,
        PromptVersion {
            name,
            version,
            path,
            file,
            text,
            analysis: None,
        },
    );
}

/// Parses one model file's text into its model (`None` when it does not validate):
/// for reading a model file as it was at a past revision.
pub fn parse_model(text: &str, name: &str) -> Option<crate::model::Model> {
    let file = crate::diag::FileId(0);
    let document = crate::syntax::parse(file, text).ok()?;
    let (view, problems) = crate::syntax::lower(&document, text, file, &crate::syntax::MODEL_FILE);
    if problems.iter().any(crate::diag::Diagnostic::is_error)
        || !crate::schema::validate(&view, crate::schema::FileKind::Model).is_empty()
    {
        return None;
    }
    let mut value = view.value;
    crate::model::annotate(&mut value);
    match crate::model::Typed::from_value(crate::schema::FileKind::Model, file, value).ok()? {
        crate::model::Typed::Models(models) => models.into_iter().find(|m| m.name == name),
        crate::model::Typed::Project(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_versions_follow_the_naming() {
        assert_eq!(prompt_version("v3.md"), Some(3));
        assert_eq!(prompt_version("v12.txt"), Some(12));
        assert_eq!(prompt_version("v03.md"), None);
        assert_eq!(prompt_version("v.md"), None);
        assert_eq!(prompt_version("draft.md"), None);
        assert_eq!(prompt_version("v3.markdown"), None);
    }
}
