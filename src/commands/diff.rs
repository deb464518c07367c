//! `modelops diff`: what changed between two revisions, semantically.

use std::path::Path;

use clap::ValueEnum;

use super::{EXIT_OK, fail, open_worktree, print_stdout};
use crate::check::check;
use crate::source::GitRevision;

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

/// Runs `diff`; returns the exit code.
pub fn run(directory: Option<&Path>, args: &DiffArgs) -> u8 {
    let worktree = match open_worktree(directory) {
        Ok(worktree) => worktree,
        Err(code) => return code,
    };
    let options = crate::check::Options::from_environment();
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
            super::print_json(&serde_json::to_string_pretty(&report.json()).unwrap_or_default())
        }
    }
    EXIT_OK
}
