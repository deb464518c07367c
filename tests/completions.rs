//! Shell completion offers the repository's names: models where a command takes a
//! model, environments for `--env`, prompts where it takes a prompt. Each test runs
//! the binary as a shell's completion script does (`COMPLETE=SHELL modelops --
//! WORDS…`, clap_complete's protocol), in a copy of the example repository; the
//! last one sources the bash script in bash and completes through it.

mod support;

use std::ffi::OsStr;
use std::path::Path;

use support::{Run, copy_example, external_tool, modelops_in, modelops_with, run_tool};

/// Completes the last of `words` (after the program's name) as bash's script asks:
/// the candidates, one a line.
fn complete_in(dir: &Path, words: &[&str]) -> (Run, Vec<String>) {
    complete_as(dir, "bash", words)
}

fn complete_as(dir: &Path, shell: &str, words: &[&str]) -> (Run, Vec<String>) {
    let mut args = vec!["--", "modelops"];
    args.extend_from_slice(words);
    let index = words.len().to_string();
    let run = modelops_with(
        dir,
        &args,
        &[
            ("COMPLETE", OsStr::new(shell)),
            ("_CLAP_COMPLETE_INDEX", OsStr::new(&index)),
            ("_CLAP_COMPLETE_COMP_TYPE", OsStr::new("9")),
            ("_CLAP_COMPLETE_SPACE", OsStr::new("true")),
            ("_CLAP_IFS", OsStr::new("\n")),
        ],
    );
    let candidates = run
        .stdout
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    (run, candidates)
}

/// The candidates that are not flags.
fn values(candidates: &[String]) -> Vec<&str> {
    candidates
        .iter()
        .map(String::as_str)
        .filter(|c| !c.starts_with('-'))
        .collect()
}

#[test]
fn models_are_offered_where_a_command_takes_a_model() {
    let repo = copy_example();
    for command in ["inspect", "apply", "guard", "rollback", "gate"] {
        let (run, candidates) = complete_in(repo.path(), &[command, ""]);
        assert_eq!(run.code, 0, "{command}: {}", run.stderr);
        assert!(run.stderr.is_empty(), "{command}: {}", run.stderr);
        assert_eq!(
            values(&candidates),
            ["support-bot", "triage"],
            "{command}: {candidates:?}"
        );
    }
    // What is typed narrows the names; flags are offered beside them.
    let (_, candidates) = complete_in(repo.path(), &["inspect", "tr"]);
    assert_eq!(candidates, ["triage"]);
    let (_, candidates) = complete_in(repo.path(), &["inspect", ""]);
    assert!(candidates.iter().any(|c| c == "--env"), "{candidates:?}");
}

#[test]
fn environments_are_offered_for_env() {
    let repo = copy_example();
    for words in [
        &["inspect", "--env", ""][..],
        &["apply", "support-bot", "--env", ""],
        &["guard", "triage", "--env", ""],
        &["rollback", "support-bot", "--env", ""],
        &["gate", "support-bot", "--env", ""],
        &["compile", "--env", ""],
    ] {
        let (run, candidates) = complete_in(repo.path(), words);
        assert_eq!(run.code, 0, "{words:?}: {}", run.stderr);
        assert_eq!(candidates, ["prod", "staging"], "{words:?}");
    }
    let (_, candidates) = complete_in(repo.path(), &["inspect", "--env=st"]);
    assert_eq!(candidates, ["--env=staging"]);
    let (_, candidates) = complete_in(repo.path(), &["apply", "support-bot", "--env", "p"]);
    assert_eq!(candidates, ["prod"]);
}

#[test]
fn prompts_are_offered_where_a_command_takes_a_prompt() {
    let repo = copy_example();
    let (run, candidates) = complete_in(repo.path(), &["blame", ""]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(values(&candidates), ["support-system", "triage-system"]);
    // `history` takes a model or a prompt.
    let (_, candidates) = complete_in(repo.path(), &["history", ""]);
    assert_eq!(
        values(&candidates),
        ["support-bot", "support-system", "triage", "triage-system"]
    );
    // The targets of the project file, for `compile --target`.
    let (_, candidates) = complete_in(repo.path(), &["compile", "--target", "k"]);
    assert_eq!(candidates, ["kubernetes"]);
}

#[test]
fn shells_that_show_descriptions_say_what_each_name_is() {
    let repo = copy_example();
    let (run, candidates) = complete_as(repo.path(), "fish", &["history", "tri"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(candidates, ["triage\tmodel", "triage-system\tprompt"]);
    let (_, candidates) = complete_as(repo.path(), "zsh", &["inspect", "--env", ""]);
    assert_eq!(candidates, ["prod:environment", "staging:environment"]);
}

#[test]
fn names_come_from_the_repository_above_or_the_one_dash_c_names() {
    let repo = copy_example();
    // From a folder inside the repository, as every command finds it.
    let (_, candidates) = complete_in(&repo.path().join("prompts"), &["inspect", ""]);
    assert_eq!(values(&candidates), ["support-bot", "triage"]);
    // From elsewhere, with `-C`, before or after the command.
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let root = repo.path().to_str().expect("UTF-8 temp path");
    let (_, candidates) = complete_in(elsewhere.path(), &["-C", root, "inspect", "--env", ""]);
    assert_eq!(candidates, ["prod", "staging"]);
    let (_, candidates) = complete_in(elsewhere.path(), &["blame", "-C", root, ""]);
    assert_eq!(values(&candidates), ["support-system", "triage-system"]);
    let attached = format!("-C{root}");
    let (_, candidates) = complete_in(elsewhere.path(), &[&attached, "apply", ""]);
    assert_eq!(values(&candidates), ["support-bot", "triage"]);
}

#[test]
fn an_empty_directory_completes_nothing() {
    let empty = tempfile::tempdir().expect("temp dir");
    let (run, candidates) = complete_in(empty.path(), &["inspect", "--env", ""]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert!(candidates.is_empty(), "{candidates:?}");
    for words in [&["inspect", ""][..], &["blame", ""], &["history", ""]] {
        let (run, candidates) = complete_in(empty.path(), words);
        assert_eq!(run.code, 0, "{words:?}: {}", run.stderr);
        assert!(run.stderr.is_empty(), "{words:?}: {}", run.stderr);
        assert!(values(&candidates).is_empty(), "{words:?}: {candidates:?}");
    }
    // `-C` naming a folder that does not exist is no different.
    let (run, candidates) = complete_in(empty.path(), &["-C", "nowhere", "inspect", "--env", ""]);
    assert_eq!(run.code, 0);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert!(candidates.is_empty(), "{candidates:?}");
}

#[test]
fn a_repository_with_errors_offers_what_it_can_and_says_nothing() {
    let repo = copy_example();
    // A project file that does not parse: no environments, and not a word about it.
    std::fs::write(repo.path().join("modelops.kdl"), "environment \"prod\" {\n").expect("write");
    // A model file named outside the language's names, and a prompt file where a
    // prompt folder belongs, are not offered.
    std::fs::write(repo.path().join("models/Bad Name.kdl"), "model {").expect("write");
    std::fs::write(repo.path().join("prompts/loose.md"), "text").expect("write");
    let (run, candidates) = complete_in(repo.path(), &["inspect", "--env", ""]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert!(candidates.is_empty(), "{candidates:?}");
    let (run, candidates) = complete_in(repo.path(), &["history", ""]);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert_eq!(
        values(&candidates),
        ["support-bot", "support-system", "triage", "triage-system"]
    );
}

#[test]
fn the_completions_command_prints_each_shells_registration() {
    let repo = copy_example();
    let bash = modelops_in(repo.path(), &["completions", "bash"]);
    assert_eq!(bash.code, 0, "{}", bash.stderr);
    assert!(
        bash.stdout.contains("-F _clap_complete_modelops modelops"),
        "{}",
        bash.stdout
    );
    // It calls this very binary back, with the variable that asks for candidates.
    assert!(
        bash.stdout.contains(env!("CARGO_BIN_EXE_modelops")),
        "{}",
        bash.stdout
    );
    assert!(bash.stdout.contains("COMPLETE=\"bash\""), "{}", bash.stdout);
    // The same script as `COMPLETE=bash modelops` prints.
    let env = modelops_with(repo.path(), &[], &[("COMPLETE", OsStr::new("bash"))]);
    assert_eq!(env.code, 0, "{}", env.stderr);
    assert_eq!(env.stdout, bash.stdout);

    let zsh = modelops_in(repo.path(), &["completions", "zsh"]);
    assert!(
        zsh.stdout.starts_with("#compdef modelops\n"),
        "{}",
        zsh.stdout
    );
    let fish = modelops_in(repo.path(), &["completions", "fish"]);
    assert!(
        fish.stdout
            .contains("complete --keep-order --exclusive --command modelops"),
        "{}",
        fish.stdout
    );
    for shell in ["elvish", "powershell"] {
        let run = modelops_in(repo.path(), &["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        assert!(run.stdout.contains("modelops"), "{shell}: {}", run.stdout);
    }
}

#[test]
fn an_unknown_shell_in_complete_is_a_clear_error() {
    let repo = copy_example();
    let run = modelops_with(repo.path(), &["check"], &[("COMPLETE", OsStr::new("tcsh"))]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("unknown shell `tcsh`"),
        "{}",
        run.stderr
    );
    // Empty or `0` is off: the command runs.
    let run = modelops_with(repo.path(), &["schema"], &[("COMPLETE", OsStr::new("0"))]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("\"$schema\""), "{}", run.stdout);
}

/// The whole loop: bash sources the script and completes through its function.
#[test]
fn bash_completes_through_the_sourced_script() {
    let Some(bash) = external_tool("bash") else {
        return;
    };
    let repo = copy_example();
    let script = repo.path().join("completion.bash");
    let printed = modelops_in(repo.path(), &["completions", "bash"]);
    std::fs::write(&script, &printed.stdout).expect("write script");
    let complete = |line: &[&str]| {
        let words: Vec<String> = line.iter().map(|w| format!("'{w}'")).collect();
        let program = format!(
            "source {script}\n\
             COMP_WORDS=({words})\n\
             COMP_CWORD={cword}\n\
             COMP_TYPE=9\n\
             _clap_complete_modelops modelops '{current}' '{previous}'\n\
             printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
            script = script.display(),
            words = words.join(" "),
            cword = line.len() - 1,
            current = line.last().copied().unwrap_or_default(),
            previous = line
                .len()
                .checked_sub(2)
                .and_then(|i| line.get(i))
                .copied()
                .unwrap_or_default(),
        );
        run_tool(
            repo.path(),
            &bash,
            &["--norc", "--noprofile", "-c", &program],
            &[],
        )
    };
    let run = complete(&["modelops", "inspect", "--env", ""]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "prod\nstaging\n", "{}", run.stderr);
    let run = complete(&["modelops", "blame", "tri"]);
    assert_eq!(run.stdout, "triage-system\n", "{}", run.stderr);
    let run = complete(&["modelops", "insp"]);
    assert_eq!(run.stdout, "inspect\n", "{}", run.stderr);
}
