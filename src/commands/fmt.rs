//! `modelops fmt`: format the KDL files canonically.

use std::path::Path;

use super::{
    EXIT_ERROR, EXIT_INVALID, EXIT_OK, fail, open_worktree, print_diagnostics, print_stdout,
};
use crate::layout::PROJECT_FILE_NAME;
use crate::source::Source;

#[derive(Debug, clap::Args)]
pub struct FmtArgs {
    /// Write nothing; list the files that are not formatted and exit 1 if there are any.
    #[arg(long)]
    pub check: bool,
}

/// Runs `fmt`; returns the exit code.
pub fn run(directory: Option<&Path>, args: &FmtArgs) -> u8 {
    use crate::schema::FileKind;
    use crate::syntax::fmt::{FormatError, Outcome, format_kdl};
    let worktree = match open_worktree(directory) {
        Ok(worktree) => worktree,
        Err(code) => return code,
    };
    // Through the working tree's Source: a file whose symlink leads outside the
    // repository is reported, never read or rewritten.
    let mut paths = vec![(PROJECT_FILE_NAME.to_owned(), FileKind::Project)];
    if let Ok(models) = crate::source::RepoPath::parse("models")
        && let Ok(entries) = worktree.read_dir(&models)
    {
        paths.extend(
            entries
                .into_iter()
                .filter(|e| e.kind == crate::source::EntryKind::File && e.name.ends_with(".kdl"))
                .map(|e| (format!("models/{}", e.name), FileKind::Model)),
        );
    }
    let mut files = crate::diag::Files::new();
    let mut errors = crate::diag::Diagnostics::new();
    let mut unformatted = 0usize;
    let mut failed = false;
    for (path, kind) in paths {
        let full = worktree.root().join(&path);
        let read = crate::source::RepoPath::parse(&path)
            .map_err(|e| e.to_string())
            .and_then(|repo_path| {
                worktree
                    .read(&repo_path, crate::layout::MAX_FILE_BYTES)
                    .map_err(|e| e.to_string())
            })
            .and_then(|bytes| String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".into()));
        let text = match read {
            Ok(text) => text,
            Err(error) => {
                fail(&format!("cannot format `{path}`: {error}"), None);
                failed = true;
                continue;
            }
        };
        let file = files.add(path.clone(), text.as_str());
        match format_kdl(file, &text, kind) {
            Ok(Outcome::Unchanged) => {}
            Ok(Outcome::Changed(_)) if args.check => {
                unformatted += 1;
                print_stdout(&path);
            }
            Ok(Outcome::Changed(formatted)) => {
                match crate::output::write::write_file_atomically(&full, formatted.as_bytes()) {
                    Ok(()) => eprintln!("formatted {path}"),
                    Err(error) => {
                        fail(&format!("cannot write `{}`: {error}", full.display()), None);
                        failed = true;
                    }
                }
            }
            Err(FormatError::Syntax(diagnostics)) => errors.extend(diagnostics),
            Err(FormatError::WouldChangeMeaning) => {
                eprintln!(
                    "error: formatting `{path}` would change what it means, so it is left as it is"
                );
                failed = true;
            }
        }
    }
    if !errors.is_empty() {
        errors.sort(&files);
        print_diagnostics(&errors, &files);
        eprintln!("error: files with syntax errors were not formatted");
        return EXIT_INVALID;
    }
    if failed {
        return EXIT_ERROR;
    }
    if unformatted > 0 {
        eprintln!("error: {unformatted} file(s) are not formatted; run `modelops fmt`");
        return EXIT_INVALID;
    }
    EXIT_OK
}
