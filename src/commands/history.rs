//! `modelops history`: the versions of a prompt, or the deployment timeline of a model.

use std::path::Path;

use super::{EXIT_OK, ReportFormat, audit_failed, fail, open_worktree, print_stdout, prompt_files};

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// A model's or a prompt's name.
    pub name: String,
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
}

/// Runs `history`; returns the exit code.
pub fn run(directory: Option<&Path>, args: &HistoryArgs) -> u8 {
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
                    ReportFormat::Json => super::print_json(
                        &serde_json::to_string_pretty(&events).unwrap_or_default(),
                    ),
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
                    super::print_json(&serde_json::to_string_pretty(&versions).unwrap_or_default())
                }
            }
            EXIT_OK
        }
        Err(error) => audit_failed(&error),
    }
}
