//! One module per subcommand: each holds its arguments (clap) and a `run` that turns
//! them into calls to the library, and the outcome into output and an exit code.
//! Nothing here decides what the configuration means; that is the library's.

pub mod apply;
pub mod blame;
pub mod check;
pub mod compile;
pub mod complete;
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

/// How to draw diagnostics on stderr: coloured as [`color_on`] decides; wrapped to
/// the terminal's width on a terminal, not wrapped at all otherwise (a CI log or a
/// file keeps each message on one line).
pub fn human_options() -> HumanOptions {
    let stderr = std::io::stderr();
    let terminal = stderr.is_terminal();
    let color = color_on(terminal);
    let width = if terminal {
        terminal_width(terminal_size::terminal_size_of(&stderr))
    } else {
        0
    };
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

/// The warnings `allow`s accepted, one line per `allow`, after the diagnostics.
pub fn print_allowed(allowed: &[crate::rules::allow::Allowed]) {
    let mut text = String::new();
    for entry in allowed {
        text.push_str(&crate::diag::clean::workflow(&crate::diag::clean::text(
            &entry.line(),
        )));
        text.push('\n');
    }
    if !text.is_empty() {
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
}

/// A model of the checked repository, or why not: the message and a help line
/// naming the models there are.
pub fn find_model<'c>(
    checked: &'c crate::check::Checked,
    model: &str,
) -> Result<&'c crate::model::Model, (String, String)> {
    checked
        .config
        .models
        .iter()
        .find(|m| m.name == model)
        .ok_or_else(|| {
            let known: Vec<&str> = checked
                .config
                .models
                .iter()
                .map(|m| m.name.as_str())
                .collect();
            (
                format!("no model `{model}` in the repository"),
                format!("models: {}", known.join(", ")),
            )
        })
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
    let found = match find_model(&checked, model) {
        Ok(found) => found,
        Err((message, help)) => return Err(fail(&message, Some(&help))),
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

/// `--color WHEN`: when to colour diagnostics and help.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// Colour on a terminal, unless the environment says otherwise (`NO_COLOR`,
    /// `CLICOLOR`, `CLICOLOR_FORCE`).
    #[default]
    Auto,
    /// Always colour, even into a pipe or a file.
    Always,
    /// Never colour.
    Never,
}

impl ColorWhen {
    /// The value of a `--color` flag as written on the command line (`None` for a
    /// value clap will reject).
    pub fn parse(value: &std::ffi::OsStr) -> Option<ColorWhen> {
        let value = value.to_str()?;
        ColorWhen::value_variants().iter().copied().find(|when| {
            when.to_possible_value()
                .is_some_and(|v| v.matches(value, false))
        })
    }
}

/// The `--color` flag of this run, set once the command line is parsed.
static COLOR_WHEN: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Records the `--color` flag for [`color_on`].
pub fn set_color_when(when: ColorWhen) {
    let value = match when {
        ColorWhen::Auto => 0,
        ColorWhen::Always => 1,
        ColorWhen::Never => 2,
    };
    COLOR_WHEN.store(value, std::sync::atomic::Ordering::Relaxed);
}

fn color_when() -> ColorWhen {
    match COLOR_WHEN.load(std::sync::atomic::Ordering::Relaxed) {
        1 => ColorWhen::Always,
        2 => ColorWhen::Never,
        _ => ColorWhen::Auto,
    }
}

/// Whether output to a stream is coloured, by the run's `--color` flag, the
/// environment and whether the stream is a `terminal`.
pub fn color_on(terminal: bool) -> bool {
    color_decided(color_when(), |name| std::env::var_os(name)).unwrap_or(terminal)
}

/// What the flag, then the environment, decide about colour: `Some(true)` colour,
/// `Some(false)` none, `None` colour exactly on a terminal. The flag wins; then
/// `NO_COLOR` set (to any value) means never, `CLICOLOR_FORCE` set to anything but
/// `0` always, and `CLICOLOR=0` never.
pub fn color_decided(
    when: ColorWhen,
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Option<bool> {
    match when {
        ColorWhen::Always => return Some(true),
        ColorWhen::Never => return Some(false),
        ColorWhen::Auto => {}
    }
    if env("NO_COLOR").is_some() {
        return Some(false);
    }
    if env("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0") {
        return Some(true);
    }
    if env("CLICOLOR").is_some_and(|v| v == "0") {
        return Some(false);
    }
    None
}

/// The `--color` flag in raw arguments, for what is printed before clap has parsed
/// them (help, usage errors): the last `--color WHEN` or `--color=WHEN` before `--`.
pub fn color_flag(args: &[std::ffi::OsString]) -> ColorWhen {
    let mut when = ColorWhen::Auto;
    let mut args = args.iter().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        let value = if arg == "--color" {
            args.next().map(|v| v.as_os_str())
        } else {
            arg.to_str()
                .and_then(|a| a.strip_prefix("--color="))
                .map(std::ffi::OsStr::new)
        };
        if let Some(parsed) = value.and_then(ColorWhen::parse) {
            when = parsed;
        }
    }
    when
}

/// The width to wrap at on a terminal of `size` (`None`: its size is unknown):
/// its width, else `COLUMNS`, else 100.
pub fn terminal_width(size: Option<(terminal_size::Width, terminal_size::Height)>) -> usize {
    size.map(|(width, _)| usize::from(width.0))
        .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok())
        .filter(|width| *width > 0)
        .unwrap_or(100)
}

#[cfg(test)]
mod color_tests {
    use super::*;
    use std::ffi::OsString;

    fn decided(when: ColorWhen, vars: &[(&str, &str)]) -> Option<bool> {
        color_decided(when, |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| OsString::from(value))
        })
    }

    #[test]
    fn the_flag_wins_then_no_color_then_clicolor() {
        assert_eq!(decided(ColorWhen::Auto, &[]), None);
        assert_eq!(decided(ColorWhen::Auto, &[("NO_COLOR", "")]), Some(false));
        assert_eq!(decided(ColorWhen::Auto, &[("NO_COLOR", "1")]), Some(false));
        assert_eq!(
            decided(
                ColorWhen::Auto,
                &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")]
            ),
            Some(false)
        );
        assert_eq!(
            decided(ColorWhen::Auto, &[("CLICOLOR_FORCE", "1")]),
            Some(true)
        );
        assert_eq!(decided(ColorWhen::Auto, &[("CLICOLOR_FORCE", "0")]), None);
        assert_eq!(decided(ColorWhen::Auto, &[("CLICOLOR_FORCE", "")]), None);
        assert_eq!(decided(ColorWhen::Auto, &[("CLICOLOR", "0")]), Some(false));
        assert_eq!(decided(ColorWhen::Auto, &[("CLICOLOR", "1")]), None);
        assert_eq!(
            decided(
                ColorWhen::Auto,
                &[("CLICOLOR", "0"), ("CLICOLOR_FORCE", "1")]
            ),
            Some(true)
        );
        assert_eq!(decided(ColorWhen::Always, &[("NO_COLOR", "1")]), Some(true));
        assert_eq!(
            decided(ColorWhen::Never, &[("CLICOLOR_FORCE", "1")]),
            Some(false)
        );
    }

    #[test]
    fn the_color_flag_is_found_before_clap_parses() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(color_flag(&args(&["modelops", "check"])), ColorWhen::Auto);
        assert_eq!(
            color_flag(&args(&["modelops", "--color", "always", "check"])),
            ColorWhen::Always
        );
        assert_eq!(
            color_flag(&args(&[
                "modelops",
                "check",
                "--color=never",
                "--color=always"
            ])),
            ColorWhen::Always
        );
        assert_eq!(
            color_flag(&args(&["modelops", "--color", "sometimes"])),
            ColorWhen::Auto
        );
        assert_eq!(
            color_flag(&args(&["modelops", "explain", "--", "--color=always"])),
            ColorWhen::Auto
        );
    }
}
