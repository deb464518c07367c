//! `modelops blame`: who wrote each line of a prompt, across its version files.

use std::path::Path;

use super::{EXIT_OK, ReportFormat, audit_failed, fail, open_worktree, print_stdout, prompt_files};

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

/// Runs `blame`; returns the exit code.
pub fn run(directory: Option<&Path>, args: &BlameArgs) -> u8 {
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
                    super::print_json(&serde_json::to_string_pretty(&lines).unwrap_or_default())
                }
            }
            EXIT_OK
        }
        Err(error) => audit_failed(&error),
    }
}
