//! `modelops check`: validate the repository (the working tree, or with `--staged`
//! the git index) and report every problem.

use std::io::Write;
use std::path::Path;

use clap::ValueEnum;

use super::{EXIT_INVALID, EXIT_OK, fail, human_options, open_worktree};
use crate::diag::render::{render_github, render_human, render_json, render_sarif_suppressed};
use crate::source::{GitIndex, Source};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Validate what is staged in the git index (what `git commit` would record), not
    /// the working tree.
    #[arg(long)]
    pub staged: bool,
    /// The revision whose modelops.lock released content is compared against
    /// (immutability). Default: the merge-base of HEAD with the default branch
    /// (`MODELOPS_BASE_BRANCH`, else `origin/HEAD`'s branch, `main` or `master`),
    /// else HEAD, when the repository has commits.
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
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

/// Runs `check`; returns the exit code.
pub fn run(directory: Option<&Path>, args: &CheckArgs) -> u8 {
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
    let staging = args
        .staged
        .then(|| crate::lock::check::Staging::read(&worktree));
    let checked = match super::check_with(
        source,
        worktree.root(),
        args.base.as_deref(),
        false,
        staging,
    ) {
        Ok(checked) => checked,
        Err(code) => return code,
    };
    let mut checked = checked;
    // What only rendering tells (a custom template against the plan's data):
    // `check` says what `compile` would.
    if !checked.has_errors() {
        let found = crate::target::Context::of(&checked)
            .map(|context| crate::target::custom::verify(&context))
            .unwrap_or_default();
        if !found.is_empty() {
            checked.diagnostics.extend(found);
            checked.diagnostics.sort(&checked.config.files);
        }
    }
    let failed = checked.diagnostics.has_errors()
        || (args.deny == Some(Deny::Warnings) && !checked.diagnostics.is_empty());
    match args.format {
        Format::Human => {
            let text = render_human(&checked.diagnostics, &checked.config.files, human_options());
            if !text.is_empty() {
                let _ = std::io::stderr().write_all(text.as_bytes());
            }
            super::print_allowed(&checked.allowed);
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
                    "allowed": checked.allowed.iter().map(|a| a.count).sum::<usize>(),
                },
                "allowed": checked.allowed,
                "deployments": deployments,
            });
            let text = serde_json::to_string_pretty(&report).unwrap_or_default();
            super::print_json(&text);
        }
        Format::Sarif => {
            let suppressed: Vec<(&crate::diag::Diagnostic, &str)> = checked
                .allowed
                .iter()
                .flat_map(|allowed| {
                    allowed
                        .accepted
                        .iter()
                        .map(move |d| (d, allowed.reason.as_str()))
                })
                .collect();
            let log =
                render_sarif_suppressed(&checked.diagnostics, &suppressed, &checked.config.files);
            super::print_json(&serde_json::to_string_pretty(&log).unwrap_or_default());
        }
        Format::Github => {
            let text = render_github(&checked.diagnostics, &checked.config.files);
            if !text.is_empty() {
                super::print_raw(&text);
            }
        }
    }
    // Freeing a large repository's analysis one allocation at a time costs more
    // than the process exit that frees it anyway.
    std::mem::forget(checked);
    if failed { EXIT_INVALID } else { EXIT_OK }
}
