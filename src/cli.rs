//! The command line: argument parsing and dispatch to the library. No logic lives here
//! beyond choosing what to call and how to print it.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::check::check;
use crate::diag::render::{HumanOptions, render_github, render_human, render_json, render_sarif};
use crate::diag::{Code, did_you_mean};
use crate::load::PROJECT_FILE_NAME;
use crate::source::{GitIndex, Source, WorkTree};

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the input is invalid, or a gate or guard failed.
pub const EXIT_INVALID: u8 = 1;
/// Exit code: usage, I/O or environment error.
pub const EXIT_ERROR: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "modelops",
    version,
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
    /// Print the long explanation of a diagnostic code.
    Explain {
        /// A code such as MO101, or its name such as kdl-syntax.
        code: String,
    },
    /// Print the JSON Schema of the language.
    Schema,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Validate what is staged in the git index (what `git commit` would record), not
    /// the working tree.
    #[arg(long)]
    pub staged: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Treat warnings as errors (`--deny warnings`).
    #[arg(long, value_enum, value_name = "LINTS")]
    pub deny: Option<Deny>,
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
    ExitCode::from(run(cli))
}

/// Runs a parsed command line; returns the exit code.
pub fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Check(args) => run_check(cli.directory.as_deref(), &args),
        Command::Explain { code } => explain(&code),
        Command::Schema => {
            print_stdout(crate::schema::SCHEMA_TEXT);
            EXIT_OK
        }
    }
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
    let checked = match check(source, &crate::check::Options::from_environment()) {
        Ok(checked) => checked,
        Err(error) => return fail(&error.to_string(), None),
    };
    let failed = checked.diagnostics.has_errors()
        || (args.deny == Some(Deny::Warnings) && !checked.diagnostics.is_empty());
    match args.format {
        Format::Human => {
            let text = render_human(&checked.diagnostics, &checked.files, human_options());
            if !text.is_empty() {
                let _ = std::io::stderr().write_all(text.as_bytes());
            }
        }
        Format::Json => {
            let report = serde_json::json!({
                "diagnostics": render_json(&checked.diagnostics, &checked.files),
                "summary": {
                    "errors": checked.diagnostics.error_count(),
                    "warnings": checked.diagnostics.warning_count(),
                },
            });
            let text = serde_json::to_string_pretty(&report).unwrap_or_default();
            print_stdout(&text);
        }
        Format::Sarif => {
            let log = render_sarif(&checked.diagnostics, &checked.files);
            print_stdout(&serde_json::to_string_pretty(&log).unwrap_or_default());
        }
        Format::Github => {
            let text = render_github(&checked.diagnostics, &checked.files);
            if !text.is_empty() {
                print_stdout(&text);
            }
        }
    }
    if failed { EXIT_INVALID } else { EXIT_OK }
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
