//! `modelops fmt`: format the KDL files canonically, or one KDL text from stdin.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::{
    EXIT_ERROR, EXIT_INVALID, EXIT_OK, fail, open_worktree, print_diagnostics, print_stdout,
};
use crate::layout::PROJECT_FILE_NAME;
use crate::source::Source;

#[derive(Debug, clap::Args)]
pub struct FmtArgs {
    /// Format KDL read from stdin (`-`) and write it to stdout, for editors; the
    /// repository is not read or written.
    #[arg(value_name = "-", value_parser = ["-"], hide_possible_values = true)]
    pub stdin: Option<String>,

    /// Write nothing; list the files that are not formatted and exit 1 if there are any.
    #[arg(long)]
    pub check: bool,

    /// Write nothing; print a unified diff of what formatting would change and exit 1
    /// if it would change anything.
    #[arg(long)]
    pub diff: bool,

    /// With `-`: the path of the file on stdin, named in messages. `modelops.kdl` is
    /// formatted as the project file, anything else as a model file (without it: the
    /// project file if the text has a `project` node).
    #[arg(long, value_name = "PATH", requires = "stdin")]
    pub stdin_filename: Option<PathBuf>,
}

/// Runs `fmt`; returns the exit code.
pub fn run(directory: Option<&Path>, args: &FmtArgs) -> u8 {
    use crate::schema::FileKind;
    use crate::syntax::fmt::{FormatError, Outcome, format_kdl};
    if args.stdin.is_some() {
        return run_stdin(args);
    }
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
            Ok(Outcome::Changed(formatted)) if args.diff => {
                unformatted += 1;
                print_stdout(&crate::output::write::unified_diff(
                    &text,
                    &formatted,
                    &format!("a/{path}"),
                    &format!("b/{path}"),
                ));
            }
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

/// `fmt -`: formats the text on stdin. Without `--check` or `--diff` the formatted
/// text goes to stdout, exactly, even when nothing changed (an editor replaces its
/// buffer with it); on an error stdout stays empty.
fn run_stdin(args: &FmtArgs) -> u8 {
    use crate::schema::FileKind;
    use crate::syntax::fmt::{FormatError, Outcome, format_kdl};
    let limit = crate::layout::MAX_FILE_BYTES;
    let mut bytes = Vec::new();
    if let Err(error) = std::io::stdin()
        .lock()
        .take(limit + 1)
        .read_to_end(&mut bytes)
    {
        return fail(&format!("cannot read stdin: {error}"), None);
    }
    if bytes.len() as u64 > limit {
        return fail(
            &format!(
                "cannot format stdin: it is larger than {limit} bytes, the most modelops reads"
            ),
            None,
        );
    }
    let Ok(text) = String::from_utf8(bytes) else {
        return fail("cannot format stdin: it is not UTF-8 text", None);
    };
    let label = match &args.stdin_filename {
        Some(path) => path.to_string_lossy().replace('\\', "/"),
        None => "<stdin>".to_owned(),
    };
    let shown = crate::diag::clean::text(&label).into_owned();
    let mut files = crate::diag::Files::new();
    let file = files.add(label.clone(), text.as_str());
    let kind = match &args.stdin_filename {
        Some(path) if path.file_name() == Some(PROJECT_FILE_NAME.as_ref()) => FileKind::Project,
        Some(_) => FileKind::Model,
        None => {
            let project = crate::syntax::parse_for_view(file, &text).is_ok_and(|document| {
                document
                    .nodes()
                    .iter()
                    .any(|node| node.name().value() == "project")
            });
            if project {
                FileKind::Project
            } else {
                FileKind::Model
            }
        }
    };
    let formatted = match format_kdl(file, &text, kind) {
        Ok(Outcome::Unchanged) => None,
        Ok(Outcome::Changed(formatted)) => Some(formatted),
        Err(FormatError::Syntax(diagnostics)) => {
            let mut errors = crate::diag::Diagnostics::new();
            errors.extend(diagnostics);
            errors.sort(&files);
            print_diagnostics(&errors, &files);
            eprintln!("error: {shown} has syntax errors, so it was not formatted");
            return EXIT_INVALID;
        }
        Err(FormatError::WouldChangeMeaning) => {
            eprintln!(
                "error: formatting {shown} would change what it means, so it is left as it is"
            );
            return EXIT_ERROR;
        }
    };
    if args.check || args.diff {
        let Some(formatted) = formatted else {
            return EXIT_OK;
        };
        if args.diff {
            let (old, new) = match &args.stdin_filename {
                Some(_) => (format!("a/{label}"), format!("b/{label}")),
                None => (label.clone(), label.clone()),
            };
            print_stdout(&crate::output::write::unified_diff(
                &text, &formatted, &old, &new,
            ));
        }
        eprintln!("error: {shown} is not formatted");
        return EXIT_INVALID;
    }
    let out = formatted.as_deref().unwrap_or(&text);
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => EXIT_OK,
        Err(error) => fail(&format!("cannot write to stdout: {error}"), None),
    }
}
