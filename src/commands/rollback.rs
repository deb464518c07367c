//! `modelops rollback`: edit a model so an environment runs its last known-good release.

use std::path::Path;

use super::{EXIT_OK, audit_failed, fail, open_worktree, print_stdout};

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

/// Runs `rollback`; returns the exit code.
pub fn run(directory: Option<&Path>, args: &RollbackArgs) -> u8 {
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
    print_stdout(&crate::output::write::unified_diff(
        &text,
        &plan.new_text,
        &relative,
        &relative,
    ));
    if args.dry_run {
        eprintln!("dry run: nothing was written");
        return EXIT_OK;
    }
    if let Err(e) = crate::output::write::write_file_atomically(&path, plan.new_text.as_bytes()) {
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
        "next: `modelops compile`, review, commit; the pipeline deploys the stable release again"
    );
    EXIT_OK
}
