//! Shell completion that knows the repository, on clap_complete's dynamic completion.
//!
//! `modelops completions SHELL` prints a short script for the shell to load. At each
//! <Tab> that script runs `modelops` again, with `COMPLETE=SHELL` in its environment
//! and the words typed so far after `--`; [`complete_if_asked`] answers such a run
//! before the command line is parsed, and exits. Subcommands and flags come from the
//! command line's definition; the values of the arguments in [`NAMED_ARGUMENTS`]
//! come from the repository the shell is in, or the one `-C DIR` names: models,
//! environments, prompts and targets.
//!
//! Names are read lightly, without validating anything ([`RepositoryNames::read`]):
//! the model names are the names of the `models/<name>.kdl` files (MO110 keeps each
//! file's name its model's), the prompt names the folders of `prompts/`, the
//! environments and targets the names the project file gives them. What cannot be
//! read offers nothing, and a completion run never writes to stderr: the shell
//! shows no candidates rather than an error in the middle of the line being typed.
//!
//! It does not judge the configuration: a name of a model whose file has errors is
//! still offered, since `modelops check` is the place to hear about those.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};
use clap_complete::env::{CompleteEnv, EnvCompleter};
use serde_json::Value;

use super::{EXIT_ERROR, EXIT_OK, fail, find_root};
use crate::diag::FileId;
use crate::layout::{MAX_FILE_BYTES, MODELS_DIR, PROJECT_FILE_NAME, PROMPTS_DIR};
use crate::source::{DirEntry, EntryKind, RepoPath, Source, WorkTree};

/// The environment variable that asks for completion, as clap_complete names it:
/// `COMPLETE=bash modelops` prints bash's script, and the script runs
/// `COMPLETE=bash modelops -- WORDS…` for the candidates. Empty or `0` is off.
pub const COMPLETE_VAR: &str = "COMPLETE";

/// The name the scripts register completion for.
const BIN: &str = "modelops";

/// What the value of an argument names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Names {
    Model,
    Environment,
    Prompt,
    Target,
    /// `history`: a model's or a prompt's name.
    ModelOrPrompt,
}

/// The arguments whose values are names from the repository: subcommand, argument
/// id (the field's name in the command's `Args`) and what it names. A test holds
/// the table to the command line, so that a renamed argument cannot drop out.
pub const NAMED_ARGUMENTS: &[(&str, &str, Names)] = &[
    ("apply", "model", Names::Model),
    ("apply", "environment", Names::Environment),
    ("blame", "prompt", Names::Prompt),
    ("compile", "environment", Names::Environment),
    ("compile", "target", Names::Target),
    ("gate", "model", Names::Model),
    ("gate", "environment", Names::Environment),
    ("guard", "model", Names::Model),
    ("guard", "environment", Names::Environment),
    ("history", "name", Names::ModelOrPrompt),
    ("inspect", "model", Names::Model),
    ("inspect", "environment", Names::Environment),
    ("rollback", "model", Names::Model),
    ("rollback", "environment", Names::Environment),
];

/// Answers a completion run, when `COMPLETE` asks for one, and exits; returns at
/// once otherwise. `command` builds the command line's definition. Call it before
/// anything writes to stdout or starts a thread.
pub fn complete_if_asked(command: impl Fn() -> clap::Command) {
    let asked =
        std::env::var_os(COMPLETE_VAR).is_some_and(|shell| !shell.is_empty() && shell != "0");
    if !asked {
        return;
    }
    let args: Vec<OsString> = std::env::args_os().collect();
    let words = typed_words(&args);
    let completing = words.is_some();
    let current_dir = std::env::current_dir().ok();
    if completing {
        // The shell is drawing the line being typed: a failure shows no candidates,
        // never a message over it.
        std::panic::set_hook(Box::new(|_| {}));
    }
    let start = match words.and_then(directory_option) {
        Some(dir) => current_dir
            .as_deref()
            .map(|cwd| cwd.join(&dir))
            .or(Some(dir)),
        None => current_dir.clone(),
    };
    let repository = Arc::new(Repository {
        start,
        names: OnceLock::new(),
    });
    let outcome = CompleteEnv::with_factory(|| with_repository_names(command(), &repository))
        .try_complete(args, current_dir.as_deref());
    let _ = std::io::stdout().flush();
    match outcome {
        Ok(true) => std::process::exit(EXIT_OK.into()),
        Ok(false) => {}
        Err(_) if completing => std::process::exit(EXIT_ERROR.into()),
        Err(error) => {
            // clap's text of the error starts with its own `error: `.
            let text = error.to_string();
            let text = text.trim().trim_start_matches("error: ");
            let code = fail(
                &format!("`{COMPLETE_VAR}` asks for completion: {text}"),
                Some(&format!(
                    "`{COMPLETE_VAR}` names the shell to complete for; unset it to run modelops"
                )),
            );
            std::process::exit(code.into());
        }
    }
}

/// The script that makes `shell` complete `modelops`: it runs the program that
/// printed it (a bare name is looked up on PATH at each <Tab>; a path is made
/// absolute). Shells clap_complete cannot complete dynamically get its static
/// script of `command`.
pub fn registration(shell: clap_complete::Shell, command: &mut clap::Command) -> String {
    use clap_complete::{Shell, env};
    let completer: &dyn EnvCompleter = match shell {
        Shell::Bash => &env::Bash,
        Shell::Elvish => &env::Elvish,
        Shell::Fish => &env::Fish,
        Shell::PowerShell => &env::Powershell,
        Shell::Zsh => &env::Zsh,
        _ => {
            let mut out = Vec::new();
            clap_complete::generate(shell, command, BIN, &mut out);
            return String::from_utf8_lossy(&out).into_owned();
        }
    };
    let mut out = Vec::new();
    // Writing into memory does not fail.
    let _ = completer.write_registration(COMPLETE_VAR, BIN, BIN, &completer_path(), &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// How the scripts call modelops back: as this process was called, with a path
/// that has folders made absolute (as clap_complete does for `COMPLETE=bash
/// modelops`), so the script works from any directory.
fn completer_path() -> String {
    let program = std::env::args_os()
        .next()
        .map_or_else(|| PathBuf::from(BIN), PathBuf::from);
    let program = if program.components().count() > 1 {
        match std::env::current_dir() {
            Ok(cwd) => cwd.join(program),
            Err(_) => program,
        }
    } else {
        program
    };
    program.to_string_lossy().into_owned()
}

/// `command` with the repository's names as the candidates of every argument of
/// [`NAMED_ARGUMENTS`]; the repository is read when the first candidate is asked
/// for, and once.
fn with_repository_names(command: clap::Command, repository: &Arc<Repository>) -> clap::Command {
    command.mut_subcommands(|subcommand| {
        let name = subcommand.get_name().to_owned();
        subcommand.mut_args(|arg| {
            let names = NAMED_ARGUMENTS
                .iter()
                .find(|(command, id, _)| *command == name && arg.get_id() == *id)
                .map(|(_, _, names)| *names);
            match names {
                Some(names) => {
                    let repository = Arc::clone(repository);
                    arg.add(ArgValueCandidates::new(move || {
                        repository.candidates(names)
                    }))
                }
                None => arg,
            }
        })
    })
}

/// The words a shell passes to a completion run (after the `--` its script puts
/// first, the program's name first among them); `None` when the run asks for the
/// registration script instead. The same split as clap_complete's.
fn typed_words(args: &[OsString]) -> Option<&[OsString]> {
    let escape = args.iter().skip(1).position(|arg| arg == "--")? + 1;
    args.get(escape + 1..).filter(|words| !words.is_empty())
}

/// The folder `-C DIR` (or `-CDIR`, `-C=DIR`) names among the typed words, the last
/// one when there are several; `~/` is the home folder, as the shell would expand
/// it once the line runs.
fn directory_option(words: &[OsString]) -> Option<PathBuf> {
    let mut found = None;
    let mut rest = words.iter().skip(1);
    while let Some(word) = rest.next() {
        if word == "--" {
            break;
        }
        if word == "-C" {
            found = rest.next().map(PathBuf::from);
        } else if let Some(attached) = word.to_str().and_then(|w| w.strip_prefix("-C")) {
            found = Some(PathBuf::from(
                attached.strip_prefix('=').unwrap_or(attached),
            ));
        }
    }
    found.map(|dir| expand_home(&dir))
}

fn expand_home(dir: &Path) -> PathBuf {
    let home = || std::env::var_os("HOME").map(PathBuf::from);
    match dir.strip_prefix("~") {
        Ok(rest) => match home() {
            Some(home) => home.join(rest),
            None => dir.to_path_buf(),
        },
        Err(_) => dir.to_path_buf(),
    }
}

/// Where names are read from, and what was read, once.
struct Repository {
    start: Option<PathBuf>,
    names: OnceLock<RepositoryNames>,
}

impl Repository {
    fn candidates(&self, names: Names) -> Vec<CompletionCandidate> {
        let read = self.names.get_or_init(|| {
            self.start
                .as_deref()
                .map(RepositoryNames::read)
                .unwrap_or_default()
        });
        let offered: Vec<(&String, &'static str)> = match names {
            Names::Model => read.models.iter().map(|n| (n, "model")).collect(),
            Names::Environment => read
                .environments
                .iter()
                .map(|n| (n, "environment"))
                .collect(),
            Names::Prompt => read.prompts.iter().map(|n| (n, "prompt")).collect(),
            Names::Target => read.targets.iter().map(|n| (n, "target")).collect(),
            Names::ModelOrPrompt => {
                let mut both: std::collections::BTreeMap<&String, &'static str> =
                    read.models.iter().map(|n| (n, "model")).collect();
                for prompt in &read.prompts {
                    both.entry(prompt)
                        .and_modify(|help| *help = "model and prompt")
                        .or_insert("prompt");
                }
                both.into_iter().collect()
            }
        };
        offered
            .into_iter()
            .map(|(name, help)| CompletionCandidate::new(name).help(Some(help.into())))
            .collect()
    }
}

/// The names a repository offers for completion, each list sorted; a list is empty
/// when what it comes from cannot be read.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RepositoryNames {
    pub models: Vec<String>,
    pub environments: Vec<String>,
    pub prompts: Vec<String>,
    pub targets: Vec<String>,
}

impl RepositoryNames {
    /// The names of the repository `start` is in (the nearest folder upwards that
    /// holds `modelops.kdl`): two folder listings and the project file, read and
    /// lowered to its view, with no schema, rules or prompt reads. Only names the
    /// language accepts are kept, so what reaches the shell is plain text.
    pub fn read(start: &Path) -> Self {
        let Some(root) = std::fs::canonicalize(start)
            .ok()
            .and_then(|start| find_root(&start))
        else {
            return Self::default();
        };
        let Ok(tree) = WorkTree::new(&root) else {
            return Self::default();
        };
        let models = entries(&tree, MODELS_DIR)
            .into_iter()
            .filter(|entry| matches!(entry.kind, EntryKind::File | EntryKind::Other))
            .filter_map(|entry| entry.name.strip_suffix(".kdl").map(str::to_owned))
            .filter(|name| is_name(name))
            .collect();
        let prompts = entries(&tree, PROMPTS_DIR)
            .into_iter()
            .filter(|entry| entry.kind == EntryKind::Dir && is_name(&entry.name))
            .map(|entry| entry.name)
            .collect();
        let project = project_view(&tree).unwrap_or(Value::Null);
        RepositoryNames {
            models: sorted(models),
            environments: sorted(keys(&project, "environment")),
            prompts: sorted(prompts),
            targets: sorted(keys(&project, "target")),
        }
    }
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names.dedup();
    names
}

/// A folder's entries; none when it is missing or cannot be read.
fn entries(tree: &WorkTree, folder: &str) -> Vec<DirEntry> {
    RepoPath::parse(folder)
        .ok()
        .and_then(|path| tree.read_dir(&path).ok())
        .unwrap_or_default()
}

/// The project file's view, however much of it lowered; `None` when it cannot be
/// read or parsed.
fn project_view(tree: &WorkTree) -> Option<Value> {
    let path = RepoPath::parse(PROJECT_FILE_NAME).ok()?;
    let text = String::from_utf8(tree.read(&path, MAX_FILE_BYTES).ok()?).ok()?;
    let file = FileId(0);
    let document = crate::syntax::parse_for_view(file, &text).ok()?;
    let (view, _) = crate::syntax::lower(&document, &text, file, &crate::syntax::PROJECT_FILE);
    Some(view.value)
}

/// The names of a keyed node of the project file's view (`environment "prod"`).
fn keys(view: &Value, field: &str) -> Vec<String> {
    view.get(field)
        .and_then(Value::as_object)
        .map(|map| map.keys().filter(|name| is_name(name)).cloned().collect())
        .unwrap_or_default()
}

/// A name as the language writes one: lower-case kebab-case, at most 63 characters
/// (the schema's `name`).
fn is_name(text: &str) -> bool {
    let bytes = text.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn words(text: &[&str]) -> Vec<OsString> {
        text.iter().map(OsString::from).collect()
    }

    #[test]
    fn every_named_argument_is_on_the_command_line() {
        let command = crate::cli::Cli::command();
        for (subcommand, id, _) in NAMED_ARGUMENTS {
            let found = command
                .find_subcommand(subcommand)
                .is_some_and(|sub| sub.get_arguments().any(|arg| arg.get_id() == *id));
            assert!(found, "`{subcommand}` has no argument `{id}`");
        }
    }

    #[test]
    fn every_model_environment_and_prompt_argument_completes() {
        let command = crate::cli::Cli::command();
        for subcommand in command.get_subcommands() {
            for arg in subcommand.get_arguments() {
                let id = arg.get_id().as_str();
                if ["model", "environment", "prompt"].contains(&id) {
                    assert!(
                        NAMED_ARGUMENTS
                            .iter()
                            .any(|(s, i, _)| *s == subcommand.get_name() && *i == id),
                        "`{} {id}` is missing from NAMED_ARGUMENTS",
                        subcommand.get_name()
                    );
                }
            }
        }
    }

    #[test]
    fn completion_runs_are_told_from_registration_runs() {
        assert_eq!(typed_words(&words(&["modelops"])), None);
        assert_eq!(typed_words(&words(&["modelops", "--"])), None);
        let run = words(&["modelops", "--", "modelops", "inspect", ""]);
        assert_eq!(typed_words(&run).map(<[_]>::len), Some(3));
    }

    #[test]
    fn the_directory_option_is_found_in_every_spelling() {
        let dir = |typed: &[&str]| directory_option(&words(typed));
        assert_eq!(dir(&["modelops", "inspect", ""]), None);
        assert_eq!(
            dir(&["modelops", "-C", "repo", "inspect", ""]),
            Some(PathBuf::from("repo"))
        );
        assert_eq!(
            dir(&["modelops", "inspect", "-Crepo", ""]),
            Some(PathBuf::from("repo"))
        );
        assert_eq!(
            dir(&["modelops", "-C=repo", "inspect"]),
            Some(PathBuf::from("repo"))
        );
        assert_eq!(dir(&["modelops", "-C"]), None);
        assert_eq!(dir(&["modelops", "history", "--", "-C", "x"]), None);
    }

    #[test]
    fn only_names_the_language_accepts_are_offered() {
        assert!(is_name("support-bot"));
        assert!(is_name("v2"));
        assert!(!is_name(""));
        assert!(!is_name("-x"));
        assert!(!is_name("x-"));
        assert!(!is_name("Support"));
        assert!(!is_name("a\u{1b}[2J"));
        assert!(!is_name(&"a".repeat(64)));
    }

    #[test]
    fn names_come_from_the_example_repository() {
        let names = RepositoryNames::read(Path::new(env!("CARGO_MANIFEST_DIR")));
        assert_eq!(names.models, ["support-bot", "triage"]);
        assert_eq!(names.environments, ["prod", "staging"]);
        assert_eq!(names.prompts, ["support-system", "triage-system"]);
        assert!(names.targets.iter().any(|t| t == "kubernetes"), "{names:?}");
    }
}
