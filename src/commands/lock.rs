//! `modelops lock`: write `modelops.lock`, or with `--check` fail when it is stale.

use std::io::Write;
use std::path::Path;

use super::{
    EXIT_INVALID, EXIT_OK, check_at_base, fail, human_options, open_worktree, print_stdout,
};
use crate::diag::Code;
use crate::diag::render::render_human;

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

/// Runs `lock`; returns the exit code.
pub fn run(directory: Option<&Path>, args: &LockArgs) -> u8 {
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
                let diff = crate::output::write::unified_diff(
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
    // A lock left with merge-conflict markers is regenerated without `--force`:
    // there is no hand edit in it to keep.
    let conflicted = old_text
        .as_deref()
        .is_some_and(|text| crate::lock::conflict_marker(crate::diag::FileId(0), text).is_some());
    if unreadable && !args.force && !conflicted {
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
    match crate::output::write::write_file_atomically(&path, new_text.as_bytes()) {
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
