//! One module per subcommand: each holds its arguments (clap) and a `run` that turns
//! them into calls to the library, and the outcome into output and an exit code.
//! Nothing here decides what the configuration means; that is the library's.

pub mod apply;
pub mod blame;
pub mod check;
pub mod compile;
pub mod diff;
pub mod explain;
pub mod fmt;
pub mod gate;
pub mod guard;
pub mod history;
pub mod init;
pub mod inspect;
pub mod lock;
pub mod rollback;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::ValueEnum;

use crate::check::check;
use crate::diag::render::{HumanOptions, render_human};
use crate::layout::PROJECT_FILE_NAME;
use crate::source::{Source, WorkTree};

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the input is invalid, or a gate or guard failed.
pub const EXIT_INVALID: u8 = 1;
/// Exit code: usage, I/O or environment error.
pub const EXIT_ERROR: u8 = 2;

/// Prints text for people: control characters escaped and GitHub workflow commands
/// broken ([`crate::diag::clean::text`]), since it may hold what users wrote.
pub fn print_stdout(text: &str) {
    print_raw(&crate::diag::clean::text(text));
}

/// Prints JSON, with `##[` in strings escaped ([`crate::diag::clean::json`]).
pub fn print_json(text: &str) {
    print_raw(&crate::diag::clean::json(text));
}

/// Prints text that is safe as it is: a renderer's output, which cleans what it
/// takes from users itself.
pub fn print_raw(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`modelops schema | head`) is not an error worth reporting.
    let _ = stdout.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = stdout.write_all(b"\n");
    }
}

pub fn fail(message: &str, help: Option<&str>) -> u8 {
    eprintln!("error: {}", crate::diag::clean::text(message));
    if let Some(help) = help {
        eprintln!("  help: {}", crate::diag::clean::text(help));
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

pub fn open_worktree(directory: Option<&Path>) -> Result<WorkTree, u8> {
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

pub fn human_options() -> HumanOptions {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100);
    HumanOptions { color, width }
}

/// `check` of `source` against the lock at the base revision
/// ([`crate::check::check_at_base`]), with a warning printed when that lock cannot
/// be read; errors become exit code 2.
pub fn check_at_base(
    source: &dyn Source,
    root: &Path,
    base: Option<&str>,
    keep_rendered: bool,
) -> Result<crate::check::Checked, u8> {
    check_with(source, root, base, keep_rendered, None)
}

/// [`check_at_base`], knowing what the working tree holds when `source` is the git
/// index.
pub fn check_with(
    source: &dyn Source,
    root: &Path,
    base: Option<&str>,
    keep_rendered: bool,
    staging: Option<crate::lock::check::Staging>,
) -> Result<crate::check::Checked, u8> {
    let mut options = crate::check::Options::from_environment();
    options.keep_rendered = keep_rendered;
    options.staging = staging;
    match crate::check::check_at_base(source, root, base, options) {
        Ok((checked, warning)) => {
            if let Some(warning) = warning {
                eprintln!("warning: {warning}");
            }
            Ok(checked)
        }
        Err(crate::check::CheckError::Base(error)) => Err(fail(&error.message, error.help)),
        Err(error) => Err(fail(&error.to_string(), None)),
    }
}

pub fn print_diagnostics(diagnostics: &crate::diag::Diagnostics, files: &crate::diag::Files) {
    let text = render_human(diagnostics, files, human_options());
    if !text.is_empty() {
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
}

/// Loads the repository and finds a model's deployment in an environment.
pub fn load_deployment(
    directory: Option<&Path>,
    model: &str,
    environment: &str,
) -> Result<(crate::check::Checked, String), u8> {
    let worktree = open_worktree(directory)?;
    let checked = check(&worktree, &crate::check::Options::from_environment())
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

pub fn audit_failed(error: &crate::audit::AuditError) -> u8 {
    fail(&error.to_string(), None)
}

/// The version files of a prompt in the working tree, by version.
pub fn prompt_files(worktree: &WorkTree, name: &str) -> std::collections::BTreeMap<u32, String> {
    crate::model::load::prompt_paths(worktree, name)
        .map(|paths| {
            paths
                .into_iter()
                .map(|(version, path)| (version, path.as_str().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Human,
    Json,
}
