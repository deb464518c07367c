//! `modelops compile`: emit every target into the output folder, or with `--check`
//! fail with a diff when it is stale.

use std::path::{Path, PathBuf};

use crate::output::folder::{OutputFolder, Ownership, Refusal};

use super::{
    EXIT_INVALID, EXIT_OK, check_at_base, fail, open_worktree, print_diagnostics, print_stdout,
};

#[derive(Debug, clap::Args)]
pub struct CompileArgs {
    /// Write nothing; exit 1 with a diff when the output folder is not current.
    #[arg(long)]
    pub check: bool,
    /// The output folder, inside the repository (default: generated/ in the
    /// repository; a relative path is relative to the current directory).
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

/// Runs `compile`; returns the exit code.
pub fn run(directory: Option<&Path>, args: &CompileArgs) -> u8 {
    let worktree = match open_worktree(directory) {
        Ok(worktree) => worktree,
        Err(code) => return code,
    };
    let refused = |refusal: Refusal| fail(&refusal.message, Some(&refusal.help));
    let base = match std::env::current_dir() {
        Ok(base) => base,
        Err(error) => return fail(&format!("cannot read the current directory: {error}"), None),
    };
    let folder = match OutputFolder::locate(worktree.root(), &base, args.out.as_deref()) {
        Ok(folder) => folder,
        Err(refusal) => return refused(refusal),
    };
    let out = folder.path().to_path_buf();
    let shown = folder.shown().display().to_string();
    // One writing compile at a time; the first thing it does is finish what a
    // killed one left.
    let _lock = match args.check {
        true => None,
        false => {
            let waiting = || eprintln!("waiting for another compile in this repository to finish");
            match folder.hold(waiting) {
                Ok(lock) => Some(lock),
                Err(refusal) => return refused(refusal),
            }
        }
    };
    // What the last run learnt of the output folder, and the tree it retired, are
    // kept in the output cache, outside the repository.
    let cache = crate::output::index::cache_dir(worktree.root());
    let index_file = cache
        .as_deref()
        .map(|cache| crate::output::index::index_path(cache, &out));
    // Listing the output folder does not depend on the check: do both at once. (The
    // analysis cache's pack is let go when the check returns, before emitting.)
    let (checked, old) = rayon::join(
        || check_at_base(&worktree, worktree.root(), args.base.as_deref(), true),
        || {
            let index = index_file.as_deref().and_then(crate::output::index::load);
            crate::output::OldTree::open_with(&out, index)
        },
    );
    let checked = match checked {
        Ok(checked) => checked,
        Err(code) => return code,
    };
    let context = crate::target::Context::of(&checked);
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
        |error: std::io::Error| fail(&format!("cannot read `{shown}`: {error}"), None);
    let old = match old {
        Ok(old) => old,
        Err(error) => return cannot_read(error),
    };
    let datasets = crate::output::folder::local_datasets(&checked.config);
    let ownership = match folder
        .refuse_datasets(datasets.iter().map(String::as_str))
        .and_then(|()| folder.claim(&old))
    {
        Ok(ownership) => ownership,
        Err(refusal) => return refused(refusal),
    };
    let scope = crate::output::Scope {
        target: args.target.clone(),
        environment: args.environment.clone(),
    };
    // Each target's files are compared with the folder as they are emitted; what
    // differs is written into the next tree at once (kept for the diff with --check).
    let next = (!args.check).then(|| {
        let spare = cache
            .as_deref()
            .map(|cache| crate::output::next::SparePaths::new(cache, &out));
        crate::output::next::NextTree::new(&folder, spare)
    });
    let comparer = crate::output::Comparer::new(&old, next.as_ref());
    let emit_diagnostics = crate::target::emit_each(
        &context,
        args.target.as_deref(),
        args.environment.as_deref(),
        &|files| comparer.accept(files),
    );
    comparer.accept(crate::output::folder::marker_files());
    let mut warnings = crate::diag::Diagnostics::new();
    warnings.extend(checked.diagnostics.iter().cloned());
    warnings.extend(emit_diagnostics);
    warnings.sort(&checked.config.files);
    print_diagnostics(&warnings, &checked.config.files);
    super::print_allowed(&checked.allowed);
    // A target that could not be generated (a custom template that does not render)
    // leaves the folder as it is: a partial output is never written or accepted.
    if warnings.has_errors() {
        eprintln!("error: a target could not be generated; nothing was written");
        return EXIT_INVALID;
    }
    // What remains is comparing and writing files: let the analysis go first, on
    // another thread, since freeing it is work nothing below waits for.
    rayon::spawn(move || drop((warnings, checked)));

    let changes = match comparer.finish() {
        Ok(changes) => changes,
        Err(error) if args.check => return cannot_read(error),
        Err(error) => {
            return fail(
                &format!(
                    "cannot compile into `{shown}`: {error}; the previous output is unchanged"
                ),
                None,
            );
        }
    };
    if !args.check
        && ownership == Ownership::Unmarked
        && let Err(refusal) = folder.adopt(&old, &|path| changes.emitted.contains_key(path))
    {
        return refused(refusal);
    }
    let changed = changes.paths(&old, &scope);
    // The index is only a cache: a run that cannot write it is merely slower next time.
    let save_index = |index: Option<crate::output::index::OutputIndex>| {
        if let (Some(file), Some(index)) = (&index_file, index) {
            let _ = crate::output::index::save(file, &index);
        }
    };
    if changed.is_empty() || args.check {
        save_index(old.index_after_compare(&changes));
    }
    if args.check {
        if changed.is_empty() {
            return EXIT_OK;
        }
        let diff = match crate::output::diff_changes(&old, &changes, &changed, &shown) {
            Ok(diff) => diff,
            Err(error) => return cannot_read(error),
        };
        print_stdout(&diff);
        eprintln!("error: `{shown}` is not current; run `modelops compile` and commit the result");
        return EXIT_INVALID;
    }
    let (false, Some(next)) = (changed.is_empty(), next) else {
        eprintln!("{shown} is up to date ({} files)", old.paths().count());
        return EXIT_OK;
    };
    let tally = changes.tally(&old, &changed);
    match crate::output::write_changes(&old, next, &changes, &scope) {
        Ok(index) => {
            let count = index.files.len();
            save_index(Some(index));
            eprintln!("updated {shown}: {tally} ({count} files)");
            EXIT_OK
        }
        Err(error) => fail(
            &format!("cannot write `{shown}`: {error}; the previous output is unchanged"),
            None,
        ),
    }
}
