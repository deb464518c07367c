//! The command line: argument parsing and dispatch to the library. No logic lives here
//! beyond choosing what to call and how to print it.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::check::check;
use crate::diag::render::{HumanOptions, render_github, render_human, render_json, render_sarif};
use crate::diag::{Code, did_you_mean};
use crate::layout::PROJECT_FILE_NAME;
use crate::source::{GitIndex, GitRevision, Source, WorkTree};

/// The version `--version` prints: the crate's, with the git revision it was built
/// from when that is known (see build.rs).
pub const VERSION: &str = env!("MODELOPS_VERSION_STRING");

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the input is invalid, or a gate or guard failed.
pub const EXIT_INVALID: u8 = 1;
/// Exit code: usage, I/O or environment error.
pub const EXIT_ERROR: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "modelops",
    version = VERSION,
    about = "Compile and validate model configuration kept as code",
    long_about = None,
)]
pub struct Cli {
    /// Run as if started in DIR (like `git -C`).
    #[arg(short = 'C', value_name = "DIR", global = true)]
    pub directory: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the repository and report every problem.
    Check(CheckArgs),
    /// Generate the deployment artefacts into generated/.
    Compile(CompileArgs),
    /// Compare a candidate's evaluation scores with the baseline's; exit 1 on regression.
    Gate(GateArgs),
    /// Evaluate a deployment's guards against metrics; exit 1 on a breach.
    Guard(GuardArgs),
    /// What changed between two revisions, semantically, and what it triggers.
    Diff(DiffArgs),
    /// Who wrote each line of a prompt, across its version files.
    Blame(BlameArgs),
    /// The versions of a prompt, or the deployment timeline of a model.
    History(HistoryArgs),
    /// Edit a model so an environment runs its last known-good release.
    Rollback(RollbackArgs),
    /// Write modelops.lock: the content hashes of prompts, datasets and releases.
    Lock(LockArgs),
    /// Print the long explanation of a diagnostic code.
    Explain {
        /// A code such as MO101, or its name such as kdl-syntax.
        code: String,
    },
    /// Print the JSON Schema of the language.
    Schema,
    /// Create a new config repository that passes check and compile as it is.
    Init(InitArgs),
    /// Format the KDL files canonically (comments are kept).
    Fmt(FmtArgs),
    /// Print the resolved configuration: releases after inheritance, rendered prompts,
    /// fingerprints.
    Inspect(InspectArgs),
    /// Print a shell completion script.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a manual page (roff): `modelops man > modelops.1`, or a command's own
    /// page, `modelops man check > modelops-check.1`.
    Man {
        /// The command whose page to print (default: the main page).
        command: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Where to create the repository (default: the current directory).
    pub dir: Option<PathBuf>,
    /// The project's name (default: the directory's name in kebab-case).
    #[arg(long)]
    pub name: Option<String>,
    /// Overwrite files that already exist.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, clap::Args)]
pub struct FmtArgs {
    /// Write nothing; list the files that are not formatted and exit 1 if there are any.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Only this environment's deployments.
    #[arg(long = "env", value_name = "ENV")]
    pub environment: Option<String>,
    #[arg(long, value_enum, default_value_t = DataFormat::Json)]
    pub format: DataFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DataFormat {
    Json,
    Yaml,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Validate what is staged in the git index (what `git commit` would record), not
    /// the working tree.
    #[arg(long)]
    pub staged: bool,
    /// The revision whose modelops.lock released content is compared against
    /// (immutability). Default: HEAD, when the repository has commits.
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Treat warnings as errors (`--deny warnings`).
    #[arg(long, value_enum, value_name = "LINTS")]
    pub deny: Option<Deny>,
}

#[derive(Debug, clap::Args)]
pub struct CompileArgs {
    /// Write nothing; exit 1 with a diff when the output folder is not current.
    #[arg(long)]
    pub check: bool,
    /// The output folder (default: generated/ in the repository).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Only this environment's files.
    #[arg(long = "env", value_name = "ENV")]
    pub environment: Option<String>,
    /// Only this target's files.
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// The base revision for immutability, as for `check`.
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct GateArgs {
    /// Read the threshold and direction from this model's gate (with `--env`).
    pub model: Option<String>,
    /// The environment of the deployment whose gate applies.
    #[arg(long = "env", value_name = "ENV", requires = "model")]
    pub environment: Option<String>,
    /// Which gate, when the deployment has several.
    #[arg(long = "gate", value_name = "NAME", requires = "model")]
    pub gate: Option<String>,
    /// Per-item scores of the current production model (JSON array or JSON Lines).
    #[arg(long, value_name = "FILE")]
    pub baseline: PathBuf,
    /// Per-item scores of the candidate, on the same dataset and judge.
    #[arg(long, value_name = "FILE")]
    pub candidate: PathBuf,
    /// The largest allowed relative regression, e.g. `1%` (default: the gate's, or 1%).
    #[arg(long, value_name = "PERCENT")]
    pub max_regression: Option<String>,
    /// Whether higher or lower scores are better (default: the gate's, or higher).
    #[arg(long, value_enum)]
    pub better: Option<BetterArg>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BetterArg {
    Higher,
    Lower,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Human,
    Json,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["metrics", "prometheus"])))]
pub struct GuardArgs {
    /// The model whose deployment is guarded.
    pub model: String,
    /// The environment of the deployment.
    #[arg(long = "env", value_name = "ENV")]
    pub environment: String,
    /// A metrics snapshot: a JSON object from guard name to value.
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
    /// A Prometheus server (`http://host:port`), queried with the guards' PromQL.
    #[arg(long, value_name = "URL")]
    pub prometheus: Option<String>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The old side (default HEAD).
    pub from: Option<String>,
    /// The new side (default: the working tree).
    pub to: Option<String>,
    #[arg(long, value_enum, default_value_t = DiffFormat::Human)]
    pub format: DiffFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Human,
    Json,
    Markdown,
}

#[derive(Debug, clap::Args)]
pub struct BlameArgs {
    /// The prompt's name (its folder under prompts/).
    pub prompt: String,
    /// Which version (default: the highest).
    #[arg(long)]
    pub version: Option<u32>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
}

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// A model's or a prompt's name.
    pub name: String,
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
}

#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// The model to roll back.
    pub model: String,
    /// The environment to roll back.
    #[arg(long = "env", value_name = "ENV")]
    pub environment: String,
    /// Print the change without writing it.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct LockArgs {
    /// Write nothing; exit 1 with a diff when modelops.lock is not current.
    #[arg(long)]
    pub check: bool,
    /// Overwrite a lock file that cannot be read (malformed, or from a newer format).
    #[arg(long)]
    pub force: bool,
    /// The base revision for immutability, as for `check`.
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    /// SARIF 2.1.0, for code-scanning uploads.
    Sarif,
    /// GitHub Actions workflow commands (annotations).
    Github,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Deny {
    Warnings,
}

/// Parses the process arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Read objects as git does, without hashing each one again on every read (git
    // checks hashes when objects are written, fetched and fsck'd). libgit2's check
    // is SHA-1 with collision detection, a tenth of a `diff` of thousands of files.
    git2::opts::strict_hash_verification(false);
    ExitCode::from(run(cli))
}

/// Runs a parsed command line; returns the exit code.
pub fn run(cli: Cli) -> u8 {
    if let Some(today) = std::env::var_os("MODELOPS_TODAY").filter(|v| !v.is_empty())
        && today.to_str().and_then(crate::model::Date::parse).is_none()
    {
        return fail(
            &format!(
                "MODELOPS_TODAY is `{}`, not a date",
                today.to_string_lossy()
            ),
            Some("give it as YYYY-MM-DD, or unset it to use today's date"),
        );
    }
    match cli.command {
        Command::Check(args) => run_check(cli.directory.as_deref(), &args),
        Command::Lock(args) => run_lock(cli.directory.as_deref(), &args),
        Command::Compile(args) => run_compile(cli.directory.as_deref(), &args),
        Command::Gate(args) => run_gate(cli.directory.as_deref(), &args),
        Command::Diff(args) => run_diff(cli.directory.as_deref(), &args),
        Command::Blame(args) => run_blame(cli.directory.as_deref(), &args),
        Command::History(args) => run_history(cli.directory.as_deref(), &args),
        Command::Rollback(args) => run_rollback(cli.directory.as_deref(), &args),
        Command::Guard(args) => run_guard(cli.directory.as_deref(), &args),
        Command::Explain { code } => explain(&code),
        Command::Schema => {
            print_stdout(crate::schema::SCHEMA_TEXT);
            EXIT_OK
        }
        Command::Init(args) => run_init(cli.directory.as_deref(), &args),
        Command::Fmt(args) => run_fmt(cli.directory.as_deref(), &args),
        Command::Inspect(args) => run_inspect(cli.directory.as_deref(), &args),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut command, "modelops", &mut out);
            print_stdout(&String::from_utf8_lossy(&out));
            EXIT_OK
        }
        Command::Man { command } => {
            let main = <Cli as clap::CommandFactory>::command();
            let page = match &command {
                None => main,
                Some(name) => match main.find_subcommand(name) {
                    Some(sub) => sub.clone().name(format!("modelops-{name}")),
                    None => {
                        return fail(
                            &format!("no command `{name}`"),
                            Some("`modelops --help` lists the commands"),
                        );
                    }
                },
            };
            let mut out = Vec::new();
            match clap_mangen::Man::new(page).render(&mut out) {
                Ok(()) => {
                    print_stdout(&String::from_utf8_lossy(&out));
                    EXIT_OK
                }
                Err(error) => fail(&format!("cannot render the manual page: {error}"), None),
            }
        }
    }
}

fn run_init(directory: Option<&Path>, args: &InitArgs) -> u8 {
    let base = directory.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let dir = match &args.dir {
        Some(dir) => base.join(dir),
        None => base,
    };
    if let Err(error) = std::fs::create_dir_all(&dir) {
        return fail(&format!("cannot create `{}`: {error}", dir.display()), None);
    }
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    let name = match &args.name {
        Some(name) if crate::commands::init::is_valid_name(name) => name.clone(),
        Some(name) => {
            return fail(
                &format!("`{name}` is not a valid project name"),
                Some("use lower-case letters, digits and `-`, e.g. `acme-assistants`"),
            );
        }
        None => crate::commands::init::project_name(
            &dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
    };
    let files = crate::commands::init::scaffold(&name);
    let mut existing: Vec<&str> = files
        .keys()
        .copied()
        .chain([crate::layout::LOCK_FILE_NAME, "generated"])
        .filter(|path| dir.join(path).exists())
        .collect();
    existing.sort_unstable();
    if !existing.is_empty() && !args.force {
        return fail(
            &format!(
                "`{}` already has {}; nothing was written",
                dir.display(),
                existing.join(", ")
            ),
            Some("pass `--force` to overwrite them, or choose an empty directory"),
        );
    }
    for (path, text) in &files {
        let target = dir.join(path);
        let written = target
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| crate::write::write_file_atomically(&target, text.as_bytes()));
        if let Err(error) = written {
            return fail(
                &format!("cannot write `{}`: {error}", target.display()),
                None,
            );
        }
    }
    eprintln!(
        "created the config repository `{name}` in {}",
        dir.display()
    );
    let lock = LockArgs {
        check: false,
        force: true,
        base: None,
    };
    let code = run_lock(Some(&dir), &lock);
    if code != EXIT_OK {
        return code;
    }
    let compile = CompileArgs {
        check: false,
        out: None,
        environment: None,
        target: None,
        base: None,
    };
    let code = run_compile(Some(&dir), &compile);
    if code == EXIT_OK {
        eprintln!(
            "next: put your gateway image's digest in models/assistant.kdl, run `modelops check`, \
             and enable the hook with `pre-commit install`"
        );
    }
    code
}

fn run_fmt(directory: Option<&Path>, args: &FmtArgs) -> u8 {
    use crate::schema::FileKind;
    use crate::syntax::fmt::{FormatError, Outcome, format_kdl};
    let worktree = match open_worktree(directory) {
        Ok(worktree) => worktree,
        Err(code) => return code,
    };
    // Through the working tree's Source: a file whose symlink leads outside the
    // repository is reported, never read or rewritten.
    let mut paths = vec![(PROJECT_FILE_NAME.to_owned(), FileKind::Project)];
    if let Ok(models) = crate::source::RepoPath::parse("models")
        && let Ok(entries) = worktree.read_dir(&models)
    {
        paths.extend(
            entries
                .into_iter()
                .filter(|e| e.kind == crate::source::EntryKind::File && e.name.ends_with(".kdl"))
                .map(|e| (format!("models/{}", e.name), FileKind::Model)),
        );
    }
    let mut files = crate::diag::Files::new();
    let mut errors = crate::diag::Diagnostics::new();
    let mut unformatted = 0usize;
    let mut failed = false;
    for (path, kind) in paths {
        let full = worktree.root().join(&path);
        let read = crate::source::RepoPath::parse(&path)
            .map_err(|e| e.to_string())
            .and_then(|repo_path| {
                worktree
                    .read(&repo_path, crate::layout::MAX_FILE_BYTES)
                    .map_err(|e| e.to_string())
            })
            .and_then(|bytes| String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".into()));
        let text = match read {
            Ok(text) => text,
            Err(error) => {
                fail(&format!("cannot format `{path}`: {error}"), None);
                failed = true;
                continue;
            }
        };
        let file = files.add(path.clone(), text.as_str());
        match format_kdl(file, &text, kind) {
            Ok(Outcome::Unchanged) => {}
            Ok(Outcome::Changed(_)) if args.check => {
                unformatted += 1;
                print_stdout(&path);
            }
            Ok(Outcome::Changed(formatted)) => {
                match crate::write::write_file_atomically(&full, formatted.as_bytes()) {
                    Ok(()) => eprintln!("formatted {path}"),
                    Err(error) => {
                        fail(&format!("cannot write `{}`: {error}", full.display()), None);
                        failed = true;
                    }
                }
            }
            Err(FormatError::Syntax(diagnostics)) => errors.extend(diagnostics),
            Err(FormatError::WouldChangeMeaning) => {
                eprintln!(
                    "error: formatting `{path}` would change what it means, so it is left as it is"
                );
                failed = true;
            }
        }
    }
    if !errors.is_empty() {
        errors.sort(&files);
        print_diagnostics(&errors, &files);
        eprintln!("error: files with syntax errors were not formatted");
        return EXIT_INVALID;
    }
    if failed {
        return EXIT_ERROR;
    }
    if unformatted > 0 {
        eprintln!("error: {unformatted} file(s) are not formatted; run `modelops fmt`");
        return EXIT_INVALID;
    }
    EXIT_OK
}

fn run_inspect(directory: Option<&Path>, args: &InspectArgs) -> u8 {
    let worktree = match open_worktree(directory) {
        Ok(worktree) => worktree,
        Err(code) => return code,
    };
    let mut options = options_for(worktree.root());
    options.keep_views = true;
    let checked = match check(&worktree, &options) {
        Ok(checked) => checked,
        Err(error) => return fail(&error.to_string(), None),
    };
    if checked.has_errors() {
        print_diagnostics(&checked.diagnostics, &checked.config.files);
        eprintln!("error: the repository has errors; fix them to see it resolved");
        return EXIT_INVALID;
    }
    if let (Some(environment), Some(project)) = (&args.environment, &checked.config.project)
        && !project.environment.contains_key(environment)
    {
        let known: Vec<&str> = project.environment.keys().map(String::as_str).collect();
        return fail(
            &format!("no environment `{environment}` in modelops.kdl"),
            Some(&format!("environments: {}", known.join(", "))),
        );
    }
    let Some(document) = crate::commands::inspect::inspect(&checked, args.environment.as_deref())
    else {
        return fail("the repository could not be resolved", None);
    };
    match args.format {
        DataFormat::Json => print_stdout(&crate::emit::to_json(&document)),
        DataFormat::Yaml => print_stdout(&crate::emit::to_yaml(&document)),
    }
    EXIT_OK
}

fn print_stdout(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`modelops schema | head`) is not an error worth reporting.
    let _ = stdout.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = stdout.write_all(b"\n");
    }
}

fn fail(message: &str, help: Option<&str>) -> u8 {
    eprintln!("error: {message}");
    if let Some(help) = help {
        eprintln!("  help: {help}");
    }
    EXIT_ERROR
}

/// Finds the directory holding `modelops.kdl`, from `start` upwards.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join(PROJECT_FILE_NAME).is_file())
        .map(Path::to_path_buf)
}

fn open_worktree(directory: Option<&Path>) -> Result<WorkTree, u8> {
    let start = match directory {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_dir()
            .map_err(|e| fail(&format!("cannot read the current directory: {e}"), None))?,
    };
    if !start.is_dir() {
        return Err(fail(
            &format!("`{}` is not a directory", start.display()),
            None,
        ));
    }
    let start = std::fs::canonicalize(&start).unwrap_or(start);
    let Some(root) = find_root(&start) else {
        return Err(fail(
            &format!(
                "no `{PROJECT_FILE_NAME}` found in `{}` or any parent directory",
                start.display()
            ),
            Some("run modelops inside a config repository, or point at one with `-C DIR`"),
        ));
    };
    WorkTree::new(&root).map_err(|e| fail(&format!("cannot open `{}`: {e}", root.display()), None))
}

fn human_options() -> HumanOptions {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100);
    HumanOptions { color, width }
}

fn run_check(directory: Option<&Path>, args: &CheckArgs) -> u8 {
    let worktree = match open_worktree(directory) {
        Ok(worktree) => worktree,
        Err(code) => return code,
    };
    let index;
    let source: &dyn Source = if args.staged {
        index = match GitIndex::open(worktree.root()) {
            Ok(index) => index,
            Err(error) => {
                return fail(
                    &error.to_string(),
                    Some("`--staged` reads the git index; run it inside a git repository"),
                );
            }
        };
        &index
    } else {
        &worktree
    };
    let checked = match check_at_base(source, worktree.root(), args.base.as_deref(), false) {
        Ok(checked) => checked,
        Err(code) => return code,
    };
    let failed = checked.diagnostics.has_errors()
        || (args.deny == Some(Deny::Warnings) && !checked.diagnostics.is_empty());
    match args.format {
        Format::Human => {
            let text = render_human(&checked.diagnostics, &checked.config.files, human_options());
            if !text.is_empty() {
                let _ = std::io::stderr().write_all(text.as_bytes());
            }
        }
        Format::Json => {
            let deployments = checked
                .resolution
                .as_ref()
                .map(|r| serde_json::to_value(&r.deployments).unwrap_or_default())
                .unwrap_or_else(|| serde_json::json!([]));
            let report = serde_json::json!({
                "diagnostics": render_json(&checked.diagnostics, &checked.config.files),
                "summary": {
                    "errors": checked.diagnostics.error_count(),
                    "warnings": checked.diagnostics.warning_count(),
                },
                "deployments": deployments,
            });
            let text = serde_json::to_string_pretty(&report).unwrap_or_default();
            print_stdout(&text);
        }
        Format::Sarif => {
            let log = render_sarif(&checked.diagnostics, &checked.config.files);
            print_stdout(&serde_json::to_string_pretty(&log).unwrap_or_default());
        }
        Format::Github => {
            let text = render_github(&checked.diagnostics, &checked.config.files);
            if !text.is_empty() {
                print_stdout(&text);
            }
        }
    }
    // Freeing a large repository's analysis one allocation at a time costs more
    // than the process exit that frees it anyway.
    std::mem::forget(checked);
    if failed { EXIT_INVALID } else { EXIT_OK }
}

/// Options for a repository: today's date, and the analysis cache
/// (`.modelops-cache/` in the repository; `MODELOPS_CACHE_DIR` moves it,
/// `MODELOPS_NO_CACHE=1` turns it off).
fn options_for(root: &Path) -> crate::check::Options {
    let mut options = crate::check::Options::from_environment();
    if let Some(dir) = cache_dir(root) {
        options.cache = Some(std::sync::Arc::new(crate::cache::DirCache::new(dir)));
    }
    options
}

/// The cache folder (`.modelops-cache/` in the repository, or `MODELOPS_CACHE_DIR`),
/// or `None` when `MODELOPS_NO_CACHE` turns caching off.
fn cache_dir(root: &Path) -> Option<PathBuf> {
    if std::env::var_os("MODELOPS_NO_CACHE").is_some_and(|v| !v.is_empty() && v != "0") {
        return None;
    }
    Some(
        std::env::var_os("MODELOPS_CACHE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(".modelops-cache")),
    )
}

/// The lock at the base revision, for immutability. An explicit `--base` that cannot
/// be read is an error (exit 2); the default `HEAD` is skipped when there is no
/// repository or no commit yet.
fn read_base(root: &Path, base: Option<&str>) -> Result<Option<crate::lock::check::BaseLock>, u8> {
    let (revision, explicit) = match base {
        Some(revision) => (revision, true),
        None => ("HEAD", false),
    };
    // Only the lock is read at the base: no walk of the whole tree.
    let tree = match GitRevision::open_files(root, revision, &[crate::layout::LOCK_FILE_NAME]) {
        Ok(tree) => tree,
        Err(_) if !explicit => return Ok(None),
        Err(error) => {
            return Err(fail(
                &error.to_string(),
                Some(
                    "give a revision that exists here (a shallow clone may lack it: fetch more history)",
                ),
            ));
        }
    };
    let label = format!("{revision} ({})", &tree.commit().to_string()[..10]);
    let Ok(lock_path) = crate::source::RepoPath::parse(crate::layout::LOCK_FILE_NAME) else {
        return Ok(None);
    };
    let text = match tree.read(&lock_path, crate::layout::MAX_LOCK_BYTES) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        // No lock at the base: nothing was released through it yet.
        Err(crate::source::SourceError::NotFound(_)) => return Ok(None),
        Err(error) => return Err(fail(&format!("reading the lock at {label}: {error}"), None)),
    };
    match crate::lock::parse(crate::diag::FileId(u32::MAX), &text) {
        Ok(lock) => Ok(Some(crate::lock::check::BaseLock {
            revision: label,
            lock,
        })),
        Err(_) => {
            eprintln!(
                "warning: modelops.lock at {label} cannot be read; released content is not checked against it"
            );
            Ok(None)
        }
    }
}

/// `check` of `source` against the lock at the base revision ([`read_base`]), which
/// is read while the repository loads.
fn check_at_base(
    source: &dyn Source,
    root: &Path,
    base: Option<&str>,
    keep_rendered: bool,
) -> Result<crate::check::Checked, u8> {
    let mut options = options_for(root);
    options.keep_rendered = keep_rendered;
    let (base_lock, loaded) = rayon::join(
        || read_base(root, base),
        || {
            crate::model::load::load_with_cache(
                source,
                options.cache.as_deref(),
                options.keep_views,
            )
        },
    );
    options.base = base_lock?;
    let loaded = loaded.map_err(|error| fail(&error.to_string(), None))?;
    Ok(crate::check::check_loaded(loaded, source, &options))
}

fn run_lock(directory: Option<&Path>, args: &LockArgs) -> u8 {
    let worktree = match open_worktree(directory) {
        Ok(worktree) => worktree,
        Err(code) => return code,
    };
    let checked = match check_at_base(&worktree, worktree.root(), args.base.as_deref(), false) {
        Ok(checked) => checked,
        Err(code) => return code,
    };
    // The lock's own findings are what `lock` fixes; anything else must be fixed first.
    let lock_codes = [Code::MissingLock, Code::StaleLock, Code::InvalidLock];
    let mut blocking = crate::diag::Diagnostics::new();
    blocking.extend(
        checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error() && !lock_codes.contains(&d.code))
            .cloned(),
    );
    let unreadable = matches!(checked.lock_file, Some((_, None)));
    if !blocking.is_empty() || checked.resolution.is_none() {
        let text = render_human(&blocking, &checked.config.files, human_options());
        let _ = std::io::stderr().write_all(text.as_bytes());
        eprintln!("error: the repository has errors; fix them before locking");
        return EXIT_INVALID;
    }
    let path = worktree.root().join(crate::layout::LOCK_FILE_NAME);
    let new_text = crate::lock::render(&checked.lock_entries);
    let old_text = checked
        .lock_file
        .as_ref()
        .map(|(file, _)| checked.config.files.text(*file).to_owned());
    if args.check {
        return match &old_text {
            Some(old) if *old == new_text && !unreadable => EXIT_OK,
            _ => {
                let diff = crate::write::unified_diff(
                    old_text.as_deref().unwrap_or(""),
                    &new_text,
                    "modelops.lock (committed)",
                    "modelops.lock (expected)",
                );
                print_stdout(&diff);
                eprintln!("error: modelops.lock is not current; run `modelops lock`");
                EXIT_INVALID
            }
        };
    }
    if unreadable && !args.force {
        let mut errors = crate::diag::Diagnostics::new();
        errors.extend(
            checked
                .diagnostics
                .iter()
                .filter(|d| d.code == Code::InvalidLock)
                .cloned(),
        );
        let text = render_human(&errors, &checked.config.files, human_options());
        let _ = std::io::stderr().write_all(text.as_bytes());
        eprintln!("error: modelops.lock cannot be read, so it is left as it is");
        eprintln!("  help: fix it by hand, or pass `--force` to replace it");
        return EXIT_INVALID;
    }
    if old_text.as_deref() == Some(new_text.as_str()) {
        return EXIT_OK;
    }
    match crate::write::write_file_atomically(&path, new_text.as_bytes()) {
        Ok(()) => {
            eprintln!(
                "wrote {} ({} entries)",
                crate::layout::LOCK_FILE_NAME,
                checked.lock_entries.len()
            );
            EXIT_OK
        }
        Err(error) => fail(&format!("cannot write `{}`: {error}", path.display()), None),
    }
}

fn print_diagnostics(diagnostics: &crate::diag::Diagnostics, files: &crate::diag::Files) {
    let text = render_human(diagnostics, files, human_options());
    if !text.is_empty() {
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
}

fn run_compile(directory: Option<&Path>, args: &CompileArgs) -> u8 {
    let worktree = match open_worktree(directory) {
        Ok(worktree) => worktree,
        Err(code) => return code,
    };
    let out = match &args.out {
        Some(out) => out.clone(),
        None => worktree.root().join("generated"),
    };
    // What the last run learnt of the output folder, and the tree it retired, are
    // kept with the cache.
    let cache = cache_dir(worktree.root());
    let index_file = cache
        .as_deref()
        .map(|cache| crate::compile::index::index_path(cache, &out));
    // Listing the output folder does not depend on the check: do both at once. (The
    // analysis cache's pack is let go when the check returns, before emitting.)
    let (checked, old) = rayon::join(
        || check_at_base(&worktree, worktree.root(), args.base.as_deref(), true),
        || {
            let index = index_file.as_deref().and_then(crate::compile::index::load);
            crate::compile::OldTree::open_with(&out, index)
        },
    );
    let checked = match checked {
        Ok(checked) => checked,
        Err(code) => return code,
    };
    let context = crate::emit::EmitContext::from_checked(&checked);
    let (Some(context), false) = (context, checked.has_errors()) else {
        print_diagnostics(&checked.diagnostics, &checked.config.files);
        eprintln!("error: the repository has errors; nothing was written");
        return EXIT_INVALID;
    };
    if let Some(environment) = &args.environment
        && !context.project.environment.contains_key(environment)
    {
        let known: Vec<&str> = context
            .project
            .environment
            .keys()
            .map(String::as_str)
            .collect();
        return fail(
            &format!("no environment `{environment}` in modelops.kdl"),
            Some(&format!("environments: {}", known.join(", "))),
        );
    }
    if let Some(target) = &args.target
        && !context.project.target.contains_key(target)
    {
        let known: Vec<&str> = context.project.target.keys().map(String::as_str).collect();
        return fail(
            &format!("no target `{target}` in modelops.kdl"),
            Some(&format!("targets: {}", known.join(", "))),
        );
    }
    let cannot_read =
        |error: std::io::Error| fail(&format!("cannot read `{}`: {error}", out.display()), None);
    let old = match old {
        Ok(old) => old,
        Err(error) => return cannot_read(error),
    };
    let scope = crate::compile::Scope {
        target: args.target.clone(),
        environment: args.environment.clone(),
    };
    // Each target's files are compared with the folder as they are emitted; what
    // differs is written into the next tree at once (kept for the diff with --check).
    let next = (!args.check).then(|| {
        let spare = cache
            .as_deref()
            .map(|cache| crate::compile::next::SparePaths::new(cache, &out));
        crate::compile::next::NextTree::new(&out, spare)
    });
    let comparer = crate::compile::Comparer::new(&old, next.as_ref());
    let emit_diagnostics = crate::emit::emit_each(
        &context,
        args.target.as_deref(),
        args.environment.as_deref(),
        &|files| comparer.accept(files),
    );
    let mut warnings = crate::diag::Diagnostics::new();
    warnings.extend(checked.diagnostics.iter().cloned());
    warnings.extend(emit_diagnostics);
    warnings.sort(&checked.config.files);
    print_diagnostics(&warnings, &checked.config.files);
    // What remains is comparing and writing files: let the analysis go first, on
    // another thread, since freeing it is work nothing below waits for.
    rayon::spawn(move || drop((warnings, checked)));

    let changes = match comparer.finish() {
        Ok(changes) => changes,
        Err(error) if args.check => return cannot_read(error),
        Err(error) => {
            return fail(
                &format!(
                    "cannot compile into `{}`: {error}; the previous output is unchanged",
                    out.display()
                ),
                None,
            );
        }
    };
    let changed = changes.paths(&old, &scope);
    // The index is only a cache: a run that cannot write it is merely slower next time.
    let save_index = |index: Option<crate::compile::index::OutputIndex>| {
        if let (Some(file), Some(index)) = (&index_file, index) {
            let _ = crate::compile::index::save(file, &index);
        }
    };
    if changed.is_empty() || args.check {
        save_index(old.index_after_compare(&changes));
    }
    if args.check {
        if changed.is_empty() {
            return EXIT_OK;
        }
        let diff = match crate::compile::diff_changes(&old, &changes, &changed, "generated") {
            Ok(diff) => diff,
            Err(error) => return cannot_read(error),
        };
        print_stdout(&diff);
        eprintln!(
            "error: `{}` is not current; run `modelops compile` and commit the result",
            out.display()
        );
        return EXIT_INVALID;
    }
    let (false, Some(next)) = (changed.is_empty(), next) else {
        eprintln!(
            "{} is up to date ({} files)",
            out.display(),
            old.paths().count()
        );
        return EXIT_OK;
    };
    let tally = changes.tally(&old, &changed);
    match crate::compile::write_changes(&old, next, &changes, &scope) {
        Ok(index) => {
            let count = index.files.len();
            save_index(Some(index));
            eprintln!("updated {}: {tally} ({count} files)", out.display());
            EXIT_OK
        }
        Err(error) => fail(
            &format!(
                "cannot write `{}`: {error}; the previous output is unchanged",
                out.display()
            ),
            None,
        ),
    }
}

/// Loads the repository and finds a model's deployment in an environment.
fn load_deployment(
    directory: Option<&Path>,
    model: &str,
    environment: &str,
) -> Result<(crate::check::Checked, String), u8> {
    let worktree = open_worktree(directory)?;
    let checked = check(&worktree, &options_for(worktree.root()))
        .map_err(|error| fail(&error.to_string(), None))?;
    let Some(found) = checked.config.models.iter().find(|m| m.name == model) else {
        let known: Vec<&str> = checked
            .config
            .models
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        return Err(fail(
            &format!("no model `{model}` in the repository"),
            Some(&format!("models: {}", known.join(", "))),
        ));
    };
    if !found.deploy.contains_key(environment) {
        let known: Vec<&str> = found.deploy.keys().map(String::as_str).collect();
        return Err(fail(
            &format!("model `{model}` has no deployment in `{environment}`"),
            Some(&format!("it is deployed in: {}", known.join(", "))),
        ));
    }
    Ok((checked, model.to_owned()))
}

fn run_gate(directory: Option<&Path>, args: &GateArgs) -> u8 {
    use crate::model::{Better, Regression};
    let mut max_regression = Regression { fraction: 0.01 };
    let mut better = Better::Higher;
    if let Some(model) = &args.model {
        let Some(environment) = &args.environment else {
            return fail("`gate MODEL` needs `--env ENV`", None);
        };
        let (checked, _) = match load_deployment(directory, model, environment) {
            Ok(found) => found,
            Err(code) => return code,
        };
        let deploy = checked
            .config
            .models
            .iter()
            .find(|m| &m.name == model)
            .and_then(|m| m.deploy.get(environment));
        let gates: Vec<&crate::model::Gate> = deploy
            .map(|d| d.gate.values().collect())
            .unwrap_or_default();
        let gate = match (&args.gate, gates.as_slice()) {
            (Some(name), _) => gates.iter().find(|g| &g.name == name).copied(),
            (None, [only]) => Some(*only),
            (None, []) => {
                return fail(
                    &format!("deploy \"{environment}\" of `{model}` has no gate"),
                    None,
                );
            }
            (None, _) => {
                let names: Vec<&str> = gates.iter().map(|g| g.name.as_str()).collect();
                return fail(
                    "the deployment has several gates",
                    Some(&format!("name one with `--gate`: {}", names.join(", "))),
                );
            }
        };
        let Some(gate) = gate else {
            return fail(
                &format!("deploy \"{environment}\" of `{model}` has no such gate"),
                None,
            );
        };
        let env_limit = checked
            .config
            .project
            .as_ref()
            .and_then(|p| p.environment.get(environment))
            .and_then(|e| e.max_regression);
        if let Some(limit) = gate.max_regression.or(env_limit) {
            max_regression = limit;
        }
        better = gate.metric.better;
    }
    if let Some(text) = &args.max_regression {
        match Regression::parse(text) {
            Some(r) => max_regression = r,
            None => return fail(&format!("`{text}` is not a regression such as `1%`"), None),
        }
    }
    if let Some(arg) = args.better {
        better = match arg {
            BetterArg::Higher => Better::Higher,
            BetterArg::Lower => Better::Lower,
        };
    }
    let scores = crate::runtime::gate::read_scores(&args.baseline)
        .and_then(|base| Ok((base, crate::runtime::gate::read_scores(&args.candidate)?)))
        .and_then(|(base, cand)| {
            crate::runtime::gate::evaluate(&base, &cand, max_regression, better)
        });
    let report = match scores {
        Ok(report) => report,
        Err(error) => return fail(&error.to_string(), None),
    };
    match args.format {
        ReportFormat::Human => print_stdout(&report.human()),
        ReportFormat::Json => {
            print_stdout(&serde_json::to_string_pretty(&report.json()).unwrap_or_default())
        }
    }
    if report.passed { EXIT_OK } else { EXIT_INVALID }
}

fn run_guard(directory: Option<&Path>, args: &GuardArgs) -> u8 {
    let (checked, model) = match load_deployment(directory, &args.model, &args.environment) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let Some(deploy) = checked
        .config
        .models
        .iter()
        .find(|m| m.name == model)
        .and_then(|m| m.deploy.get(&args.environment))
    else {
        return EXIT_ERROR;
    };
    if deploy.guard.is_empty() {
        return fail(
            &format!("deploy \"{}\" of `{model}` has no guards", args.environment),
            None,
        );
    }
    // The guards watch the release receiving new traffic: the candidate, else stable.
    let release = deploy
        .candidate()
        .map(|c| c.release().to_owned())
        .or_else(|| deploy.stable.clone())
        .unwrap_or_default();
    let source = match (&args.metrics, &args.prometheus) {
        (Some(path), _) => {
            let text = match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(e) => return fail(&format!("cannot read `{}`: {e}", path.display()), None),
            };
            match serde_json::from_str::<std::collections::BTreeMap<String, serde_json::Value>>(
                &text,
            ) {
                Ok(values) => crate::runtime::guard::MetricSource::Snapshot(values),
                Err(e) => {
                    return fail(
                        &format!(
                            "`{}` is not a JSON object of guard values: {e}",
                            path.display()
                        ),
                        None,
                    );
                }
            }
        }
        (None, Some(url)) => match crate::runtime::http::Url::parse(url) {
            Ok(url) => crate::runtime::guard::MetricSource::Prometheus(url),
            Err(e) => return fail(&e, None),
        },
        (None, None) => return fail("give `--metrics FILE` or `--prometheus URL`", None),
    };
    let namespace = checked
        .config
        .project
        .as_ref()
        .and_then(|p| p.environment.get(&args.environment))
        .map_or(args.environment.as_str(), |e| {
            e.namespace.as_deref().unwrap_or(&e.name)
        });
    let scope = crate::emit::kubernetes::QueryScope {
        model: &model,
        release: &release,
        namespace,
        track: crate::emit::kubernetes::candidate_track(deploy),
    };
    let results = match crate::runtime::guard::evaluate(&scope, &deploy.guard, &source) {
        Ok(results) => results,
        Err(error) => return fail(&error.to_string(), None),
    };
    match args.format {
        ReportFormat::Human => print_stdout(&crate::runtime::guard::human(&results, &deploy.guard)),
        ReportFormat::Json => print_stdout(
            &serde_json::to_string_pretty(&crate::runtime::guard::json(&results))
                .unwrap_or_default(),
        ),
    }
    let breaches: Vec<&crate::runtime::guard::GuardResult> =
        results.iter().filter(|r| r.breached).collect();
    if breaches.is_empty() {
        EXIT_OK
    } else {
        for breach in breaches {
            let limit = breach
                .max
                .map(|m| format!("max {m}"))
                .or_else(|| breach.min.map(|m| format!("min {m}")))
                .unwrap_or_default();
            eprintln!(
                "error: guard `{}` breached: {} (threshold {limit})",
                breach.guard, breach.value
            );
        }
        EXIT_INVALID
    }
}

fn audit_failed(error: &crate::audit::AuditError) -> u8 {
    fail(&error.to_string(), None)
}

fn run_diff(directory: Option<&Path>, args: &DiffArgs) -> u8 {
    let worktree = match open_worktree(directory) {
        Ok(worktree) => worktree,
        Err(code) => return code,
    };
    let options = options_for(worktree.root());
    let from_name = args.from.clone().unwrap_or_else(|| "HEAD".to_owned());
    let load = |revision: Option<&str>| -> Result<crate::check::Checked, u8> {
        let result = match revision {
            Some(revision) => {
                let tree = GitRevision::open(worktree.root(), revision).map_err(|e| {
                    fail(
                        &e.to_string(),
                        Some("name a commit, branch or tag that exists here"),
                    )
                })?;
                check(&tree, &options)
            }
            None => check(&worktree, &options),
        };
        result.map_err(|e| fail(&e.to_string(), None))
    };
    let old = match load(Some(&from_name)) {
        Ok(old) => old,
        Err(code) => return code,
    };
    let new = match load(args.to.as_deref()) {
        Ok(new) => new,
        Err(code) => return code,
    };
    let to_name = args.to.clone().unwrap_or_else(|| "working tree".to_owned());
    let report = crate::audit::diff::diff(&old, &new, &from_name, &to_name);
    match args.format {
        DiffFormat::Human => print_stdout(&report.human()),
        DiffFormat::Markdown => print_stdout(&report.markdown()),
        DiffFormat::Json => {
            print_stdout(&serde_json::to_string_pretty(&report.json()).unwrap_or_default())
        }
    }
    EXIT_OK
}

/// The version files of a prompt in the working tree, by version.
fn prompt_files(worktree: &WorkTree, name: &str) -> std::collections::BTreeMap<u32, String> {
    crate::model::load::prompt_paths(worktree, name)
        .map(|paths| {
            paths
                .into_iter()
                .map(|(version, path)| (version, path.as_str().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn run_blame(directory: Option<&Path>, args: &BlameArgs) -> u8 {
    let worktree = match open_worktree(directory) {
        Ok(worktree) => worktree,
        Err(code) => return code,
    };
    let files = prompt_files(&worktree, &args.prompt);
    let Some(latest) = files.keys().max().copied() else {
        return fail(
            &format!(
                "there is no prompt `{}` (no prompts/{}/v<N>.md)",
                args.prompt, args.prompt
            ),
            None,
        );
    };
    let version = args.version.unwrap_or(latest);
    if !files.contains_key(&version) {
        let known: Vec<String> = files.keys().map(|v| format!("v{v}")).collect();
        return fail(
            &format!("prompt `{}` has no version {version}", args.prompt),
            Some(&format!("versions: {}", known.join(", "))),
        );
    }
    if let Err(error) = crate::audit::open_history(worktree.root()) {
        return audit_failed(&error);
    }
    match crate::audit::blame::blame(worktree.root(), &files, version) {
        Ok(lines) => {
            match args.format {
                ReportFormat::Human => print_stdout(&crate::audit::blame::human(&lines)),
                ReportFormat::Json => {
                    print_stdout(&serde_json::to_string_pretty(&lines).unwrap_or_default())
                }
            }
            EXIT_OK
        }
        Err(error) => audit_failed(&error),
    }
}

fn run_history(directory: Option<&Path>, args: &HistoryArgs) -> u8 {
    let worktree = match open_worktree(directory) {
        Ok(worktree) => worktree,
        Err(code) => return code,
    };
    let root = worktree.root();
    if root
        .join("models")
        .join(format!("{}.kdl", args.name))
        .is_file()
    {
        return match crate::audit::history::model_timeline(root, &args.name) {
            Ok(events) => {
                match args.format {
                    ReportFormat::Human => {
                        print_stdout(&crate::audit::history::human_timeline(&args.name, &events))
                    }
                    ReportFormat::Json => {
                        print_stdout(&serde_json::to_string_pretty(&events).unwrap_or_default())
                    }
                }
                EXIT_OK
            }
            Err(error) => audit_failed(&error),
        };
    }
    let files = prompt_files(&worktree, &args.name);
    if files.is_empty() {
        return fail(
            &format!("`{}` is neither a model nor a prompt here", args.name),
            None,
        );
    }
    match crate::audit::history::prompt_history(root, &files) {
        Ok(versions) => {
            match args.format {
                ReportFormat::Human => {
                    print_stdout(&crate::audit::history::human_prompt(&args.name, &versions))
                }
                ReportFormat::Json => {
                    print_stdout(&serde_json::to_string_pretty(&versions).unwrap_or_default())
                }
            }
            EXIT_OK
        }
        Err(error) => audit_failed(&error),
    }
}

fn run_rollback(directory: Option<&Path>, args: &RollbackArgs) -> u8 {
    let worktree = match open_worktree(directory) {
        Ok(worktree) => worktree,
        Err(code) => return code,
    };
    let path = worktree
        .root()
        .join("models")
        .join(format!("{}.kdl", args.model));
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => return fail(&format!("cannot read `{}`: {e}", path.display()), None),
    };
    let plan = match crate::audit::rollback::plan(
        worktree.root(),
        &args.model,
        &args.environment,
        &text,
    ) {
        Ok(plan) => plan,
        Err(error) => return audit_failed(&error),
    };
    let relative = format!("models/{}.kdl", args.model);
    print_stdout(&crate::write::unified_diff(
        &text,
        &plan.new_text,
        &relative,
        &relative,
    ));
    if args.dry_run {
        eprintln!("dry run: nothing was written");
        return EXIT_OK;
    }
    if let Err(e) = crate::write::write_file_atomically(&path, plan.new_text.as_bytes()) {
        return fail(&format!("cannot write `{}`: {e}", path.display()), None);
    }
    let dropped = plan
        .dropped_candidate
        .map(|(kind, release)| format!(", {kind} {release} removed"))
        .unwrap_or_default();
    eprintln!(
        "rolled `{}` in `{}` back to {}{dropped}",
        args.model, args.environment, plan.to_stable
    );
    eprintln!(
        "next: `modelops compile`, review, commit; the pipeline applies the `stable` traffic state"
    );
    EXIT_OK
}

fn explain(code: &str) -> u8 {
    match Code::lookup(code) {
        Some(code) => {
            print_stdout(code.explanation());
            EXIT_OK
        }
        None => {
            let ids: Vec<&str> = Code::ALL.iter().map(|c| c.id()).collect();
            let upper = code.to_ascii_uppercase();
            let help = match did_you_mean(&upper, ids.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "codes are {} … {}",
                    ids.first().unwrap_or(&""),
                    ids.last().unwrap_or(&"")
                ),
            };
            fail(&format!("unknown diagnostic code `{code}`"), Some(&help))
        }
    }
}
