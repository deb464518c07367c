//! End-to-end tests of the command line: exit codes, formats, discovery of the
//! repository root.

mod support;

use support::{TempRepo, example_repo, modelops_in};

fn repo_without_findings() -> TempRepo {
    let repo = TempRepo::locked();
    let run = repo.modelops(&["check"]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    repo
}

#[test]
fn the_example_repository_has_no_errors() {
    let run = modelops_in(&example_repo(), &["check", "--format", "json"]);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["summary"]["errors"], 0);
    // The only findings are the documented LiteLLM shadow limitation.
    for diagnostic in report["diagnostics"].as_array().unwrap() {
        assert_eq!(diagnostic["code"], "MO411", "{diagnostic}");
    }
}

#[test]
fn finds_the_root_from_a_subdirectory_and_with_dash_c() {
    let from_models = modelops_in(&example_repo().join("models"), &["check"]);
    assert_eq!(from_models.code, 0, "{}", from_models.stderr);
    let repo = TempRepo::new();
    let elsewhere = tempfile::tempdir().unwrap();
    let root = repo.path().to_str().unwrap();
    let with_c = modelops_in(elsewhere.path(), &["-C", root, "check"]);
    assert_eq!(with_c.code, 0, "{}", with_c.stderr);
    let nested = repo.path().join("prompts/assistant");
    let with_c_nested = modelops_in(elsewhere.path(), &["-C", nested.to_str().unwrap(), "check"]);
    assert_eq!(with_c_nested.code, 0, "{}", with_c_nested.stderr);
}

#[test]
fn no_project_file_is_an_environment_error() {
    let empty = tempfile::tempdir().unwrap();
    let run = modelops_in(empty.path(), &["check"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no `modelops.kdl` found"),
        "{}",
        run.stderr
    );
    let missing_dir = modelops_in(empty.path(), &["-C", "does-not-exist", "check"]);
    assert_eq!(missing_dir.code, 2);
    assert!(
        missing_dir.stderr.contains("is not a directory"),
        "{}",
        missing_dir.stderr
    );
}

#[test]
fn invalid_input_exits_one_with_every_error_on_stderr() {
    let repo = TempRepo::new();
    repo.write(
        "models/assistant.kdl",
        "model \"assistant\" {\n    release \"1.0.0\" {\n        base \"openai/gpt-4o-2024-08-06\"\n        image \"x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"\n        prompt \"assistant\" version=9\n    }\n    deploy \"prod\" {\n        stable \"2.0.0\"\n    }\n}\n",
    );
    let run = repo.modelops(&["check"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("MO201"), "{}", run.stderr);
    assert!(run.stderr.contains("MO202"), "{}", run.stderr);
    assert!(
        run.stderr.contains("models/assistant.kdl:5:"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("2 errors and 1 warning found"),
        "{}",
        run.stderr
    );
}

#[test]
fn json_format_is_machine_readable() {
    let repo = TempRepo::new();
    repo.write(
        "models/assistant.kdl",
        "model \"assistant\" {\n    replicas 3\n}\n",
    );
    let run = repo.modelops(&["check", "--format", "json"]);
    assert_eq!(run.code, 1);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("json on stdout");
    let first = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "MO105")
        .expect("MO105");
    assert_eq!(first["file"], "models/assistant.kdl");
    assert_eq!(first["line"], 2);
    assert_eq!(first["column"], 5);
    assert_eq!(report["summary"]["errors"], 1);
    let clean = repo_without_findings();
    let run = clean.modelops(&["check", "--format", "json"]);
    assert_eq!(run.code, 0);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["diagnostics"], serde_json::json!([]));
}

#[test]
fn warnings_pass_unless_denied() {
    let repo = TempRepo::new();
    let model = std::fs::read_to_string(repo.path().join("models/assistant.kdl")).unwrap();
    repo.write(
        "models/assistant.kdl",
        model.replace(
            "prompt \"assistant\" version=1",
            "prompt \"assistant\" version=1\n        params { top_p 0.5 }",
        ),
    );
    let allowed = repo.modelops(&["check"]);
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
    assert!(allowed.stderr.contains("MO502"), "{}", allowed.stderr);
    assert!(
        allowed.stderr.contains("did you mean `top-p`?"),
        "{}",
        allowed.stderr
    );
    let denied = repo.modelops(&["check", "--deny", "warnings"]);
    assert_eq!(denied.code, 1);
}

#[test]
fn explain_prints_the_long_form() {
    let run = modelops_in(&example_repo(), &["explain", "MO101"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.starts_with("# MO101 kdl-syntax"),
        "{}",
        run.stdout
    );
    let by_name = modelops_in(&example_repo(), &["explain", "unknown-release"]);
    assert!(by_name.stdout.starts_with("# MO201"), "{}", by_name.stdout);
    let unknown = modelops_in(&example_repo(), &["explain", "MO1O1"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("did you mean `MO101`?"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn schema_prints_the_shipped_schema() {
    let run = modelops_in(&example_repo(), &["schema"]);
    assert_eq!(run.code, 0);
    let printed: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let shipped: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(example_repo().join("schema/modelops.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(printed, shipped);
}

#[test]
fn usage_errors_exit_two() {
    let run = modelops_in(&example_repo(), &["check", "--format", "yaml"]);
    assert_eq!(run.code, 2);
    let run = modelops_in(&example_repo(), &["frobnicate"]);
    assert_eq!(run.code, 2);
}

// ----- Colour, line width, `explain --list`, `fmt --diff` and `fmt -` -----

/// Runs `modelops ARGS` in `dir` with exactly the colour and width environment
/// given in `env` (none of `NO_COLOR`, `CLICOLOR`, `CLICOLOR_FORCE` and `COLUMNS`
/// otherwise), and `stdin` on its standard input. stdout and stderr are pipes.
fn modelops_env(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> support::Run {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut command = Command::new(env!("CARGO_BIN_EXE_modelops"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("COLUMNS")
        .env_remove("MODELOPS_NO_CACHE")
        .env("MODELOPS_CACHE_DIR", support::test_cache())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("run modelops");
    let mut input = child.stdin.take().expect("stdin");
    // A run that ends before reading its input (a usage error) closes the pipe.
    let _ = input.write_all(stdin.unwrap_or("").as_bytes());
    drop(input);
    child.wait_with_output().expect("wait for modelops").into()
}

/// A repository whose check reports a warning (no lock yet) with a help line of
/// about 100 columns and an error (an unknown node).
fn repo_with_findings() -> TempRepo {
    let repo = TempRepo::new();
    let model = std::fs::read_to_string(repo.path().join("models/assistant.kdl")).unwrap();
    repo.write(
        "models/assistant.kdl",
        model.replace(
            "model \"assistant\" {\n",
            "model \"assistant\" {\n    replicas 3\n",
        ),
    );
    repo
}

const LOCK_HELP: &str = "help: run `modelops lock` and commit modelops.lock, so released content cannot change unnoticed";

fn has_ansi(text: &str) -> bool {
    text.contains("\u{1b}[")
}

#[test]
fn piped_help_and_diagnostics_are_not_wrapped() {
    // Help: each option's help stays on its line, whatever COLUMNS says.
    for columns in [None, Some("40")] {
        let env: Vec<(&str, &str)> = columns.map(|c| ("COLUMNS", c)).into_iter().collect();
        let run = modelops_env(&example_repo(), &["fmt", "--help"], &env, None);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let line = run
            .stdout
            .lines()
            .find(|l| l.contains("--stdin-filename <PATH>"))
            .unwrap_or_else(|| panic!("{}", run.stdout));
        assert!(
            line.len() > 120 && line.ends_with("`project` node)"),
            "wrapped: {}",
            run.stdout
        );
        let run = modelops_env(&example_repo(), &["--help"], &env, None);
        assert!(
            run.stdout.lines().any(|l| l.starts_with("  inspect ")
                && l.ends_with("write the files a track's pods read")),
            "{}",
            run.stdout
        );
        assert!(!has_ansi(&run.stdout), "{}", run.stdout);
    }
    // Diagnostics: a help longer than COLUMNS stays on one line in a pipe.
    let repo = repo_with_findings();
    let run = modelops_env(repo.path(), &["check"], &[("COLUMNS", "40")], None);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.lines().any(|l| l.trim_start() == LOCK_HELP),
        "{}",
        run.stderr
    );
    assert!(!has_ansi(&run.stderr), "{}", run.stderr);
}

#[test]
fn color_follows_the_flag_then_the_environment() {
    let repo = repo_with_findings();
    let colored = |args: &[&str], env: &[(&str, &str)]| {
        let run = modelops_env(repo.path(), args, env, None);
        assert_eq!(run.code, 1, "{args:?} {env:?}: {}", run.stderr);
        assert!(run.stderr.contains("MO105"), "{}", run.stderr);
        has_ansi(&run.stderr)
    };
    // auto: a pipe is not a terminal.
    assert!(!colored(&["check"], &[]));
    assert!(colored(&["--color", "always", "check"], &[]));
    assert!(colored(&["check", "--color=always"], &[]));
    assert!(!colored(&["--color", "never", "check"], &[]));
    assert!(!colored(&["--color", "auto", "check"], &[]));
    // The environment, under `auto`.
    assert!(colored(&["check"], &[("CLICOLOR_FORCE", "1")]));
    assert!(!colored(&["check"], &[("CLICOLOR_FORCE", "0")]));
    assert!(!colored(&["check"], &[("CLICOLOR_FORCE", "")]));
    assert!(!colored(
        &["check"],
        &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")]
    ));
    assert!(!colored(
        &["check"],
        &[("NO_COLOR", ""), ("CLICOLOR_FORCE", "1")]
    ));
    assert!(!colored(&["check"], &[("CLICOLOR", "0")]));
    // The flag wins over the environment.
    assert!(colored(
        &["--color", "always", "check"],
        &[("NO_COLOR", "1")]
    ));
    assert!(colored(
        &["--color", "always", "check"],
        &[("CLICOLOR", "0")]
    ));
    assert!(!colored(
        &["--color", "never", "check"],
        &[("CLICOLOR_FORCE", "1")]
    ));
    // A coloured report still says the same: only escapes were added.
    let plain = modelops_env(repo.path(), &["check"], &[], None).stderr;
    let ansi = modelops_env(repo.path(), &["--color=always", "check"], &[], None).stderr;
    let stripped = regex::Regex::new("\u{1b}\\[[0-9;]*m")
        .unwrap()
        .replace_all(&ansi, "");
    assert_eq!(stripped, plain);

    // Help is coloured by the same rules.
    let help = |args: &[&str], env: &[(&str, &str)]| {
        let run = modelops_env(&example_repo(), args, env, None);
        assert_eq!(run.code, 0, "{}", run.stderr);
        has_ansi(&run.stdout)
    };
    assert!(!help(&["--help"], &[]));
    assert!(help(&["--color", "always", "--help"], &[]));
    assert!(help(
        &["check", "--help", "--color=always"],
        &[("NO_COLOR", "1")]
    ));
    assert!(help(&["--help"], &[("CLICOLOR_FORCE", "1")]));
    assert!(!help(
        &["--help"],
        &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")]
    ));
    assert!(!help(
        &["--color=never", "--help"],
        &[("CLICOLOR_FORCE", "1")]
    ));

    let bad = modelops_env(
        &example_repo(),
        &["--color", "sometimes", "check"],
        &[],
        None,
    );
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("sometimes"), "{}", bad.stderr);
}

#[test]
fn explain_list_lists_every_code_once() {
    use modelops::diag::Code;
    let run = modelops_in(&example_repo(), &["explain", "--list"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), Code::ALL.len(), "{}", run.stdout);
    for code in Code::ALL {
        let found: Vec<&&str> = lines
            .iter()
            .filter(|l| l.split_whitespace().next() == Some(code.id()))
            .collect();
        assert_eq!(found.len(), 1, "{}: {found:?}", code.id());
        let rest: Vec<&str> = found[0].split_whitespace().collect();
        assert_eq!(rest[1], code.name(), "{}", found[0]);
        assert_eq!(rest[2], code.default_severity().as_str(), "{}", found[0]);
        assert!(found[0].ends_with(code.summary()), "{}", found[0]);
    }
    // The summaries start in one column.
    let starts: std::collections::BTreeSet<usize> = Code::ALL
        .iter()
        .zip(&lines)
        .map(|(c, l)| l.len() - c.summary().len())
        .collect();
    assert_eq!(starts.len(), 1, "{}", run.stdout);

    let json = modelops_in(&example_repo(), &["explain", "--list", "--format", "json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let list: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), Code::ALL.len());
    for (entry, code) in list.iter().zip(Code::ALL) {
        assert_eq!(entry["code"], code.id());
        assert_eq!(entry["name"], code.name());
        assert_eq!(entry["severity"], code.default_severity().as_str());
        assert_eq!(entry["summary"], code.summary());
    }
    let one = modelops_in(
        &example_repo(),
        &["explain", "kdl-syntax", "--format", "json"],
    );
    let one: serde_json::Value = serde_json::from_str(&one.stdout).unwrap();
    assert_eq!(one["code"], "MO101");
    assert!(
        one["explanation"]
            .as_str()
            .unwrap()
            .starts_with("# MO101 kdl-syntax")
    );

    for args in [&["explain"][..], &["explain", "--list", "MO101"]] {
        let run = modelops_in(&example_repo(), args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "");
    }
}

/// The test repository's model with its layout broken in two places.
fn unformatted_model(repo: &TempRepo) -> String {
    std::fs::read_to_string(repo.path().join("models/assistant.kdl"))
        .unwrap()
        .replace("model \"assistant\" {", "model   \"assistant\" {")
        .replace("        stable \"1.0.0\"\n", "  stable   \"1.0.0\"   \n")
}

#[test]
fn fmt_diff_prints_what_would_change_and_writes_nothing() {
    let repo = TempRepo::new();
    let clean = modelops_env(repo.path(), &["fmt", "--diff"], &[], None);
    assert_eq!(
        (clean.code, clean.stdout.as_str()),
        (0, ""),
        "{}",
        clean.stderr
    );

    let text = unformatted_model(&repo);
    repo.write("models/assistant.kdl", &text);
    let run = modelops_env(repo.path(), &["fmt", "--diff"], &[], None);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with("--- a/models/assistant.kdl\n+++ b/models/assistant.kdl\n@@ -1,"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("\n-model   \"assistant\" {\n+model \"assistant\" {\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("\n-  stable   \"1.0.0\"   \n+        stable \"1.0.0\"\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("1 file(s) are not formatted; run `modelops fmt`"),
        "{}",
        run.stderr
    );
    let after = std::fs::read_to_string(repo.path().join("models/assistant.kdl")).unwrap();
    assert_eq!(after, text, "--diff wrote the file");

    // The diff is what `fmt` then does.
    let fmt = repo.modelops(&["fmt"]);
    assert_eq!(fmt.code, 0, "{}", fmt.stderr);
    let formatted = std::fs::read_to_string(repo.path().join("models/assistant.kdl")).unwrap();
    assert_eq!(
        formatted,
        std::fs::read_to_string(TempRepo::new().path().join("models/assistant.kdl")).unwrap()
    );
    let again = modelops_env(repo.path(), &["fmt", "--diff"], &[], None);
    assert_eq!(
        (again.code, again.stdout.as_str()),
        (0, ""),
        "{}",
        again.stderr
    );

    // A syntax error is reported as `fmt --check` reports it.
    repo.write("models/assistant.kdl", "model \"assistant\" {\n");
    let broken = modelops_env(repo.path(), &["fmt", "--diff"], &[], None);
    assert_eq!((broken.code, broken.stdout.as_str()), (1, ""));
    assert!(broken.stderr.contains("MO101"), "{}", broken.stderr);
}

#[test]
fn fmt_stdin_formats_for_editors() {
    let repo = TempRepo::new();
    let formatted = std::fs::read_to_string(repo.path().join("models/assistant.kdl")).unwrap();
    let text = unformatted_model(&repo);
    // Outside any repository: `fmt -` does not need one.
    let elsewhere = tempfile::tempdir().unwrap();
    let run = modelops_env(elsewhere.path(), &["fmt", "-"], &[], Some(&text));
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    assert_eq!(run.stdout, formatted);
    // Formatted text comes back byte for byte.
    let round = modelops_env(elsewhere.path(), &["fmt", "-"], &[], Some(&run.stdout));
    assert_eq!((round.code, round.stdout.as_str()), (0, formatted.as_str()));
    // The project file, told by its `project` node or by --stdin-filename.
    let project = "project   \"t\"\nenvironment \"prod\"    namespace=\"llm-prod\"\n";
    let expected = "project \"t\"\nenvironment \"prod\" namespace=\"llm-prod\"\n";
    for extra in [&[][..], &["--stdin-filename", "modelops.kdl"]] {
        let args: Vec<&str> = ["fmt", "-"].iter().chain(extra).copied().collect();
        let run = modelops_env(elsewhere.path(), &args, &[], Some(project));
        assert_eq!(
            (run.code, run.stdout.as_str()),
            (0, expected),
            "{}",
            run.stderr
        );
    }

    // --check and --diff with stdin: nothing formatted on stdout, exit 1.
    let check = modelops_env(elsewhere.path(), &["fmt", "-", "--check"], &[], Some(&text));
    assert_eq!(
        (check.code, check.stdout.as_str()),
        (1, ""),
        "{}",
        check.stderr
    );
    assert!(
        check.stderr.contains("<stdin> is not formatted"),
        "{}",
        check.stderr
    );
    let check = modelops_env(
        elsewhere.path(),
        &["fmt", "-", "--check"],
        &[],
        Some(&formatted),
    );
    assert_eq!(
        (check.code, check.stdout.as_str()),
        (0, ""),
        "{}",
        check.stderr
    );
    let diff = modelops_env(
        elsewhere.path(),
        &[
            "fmt",
            "-",
            "--diff",
            "--stdin-filename",
            "models/assistant.kdl",
        ],
        &[],
        Some(&text),
    );
    assert_eq!(diff.code, 1, "{}", diff.stderr);
    assert!(
        diff.stdout
            .starts_with("--- a/models/assistant.kdl\n+++ b/models/assistant.kdl\n"),
        "{}",
        diff.stdout
    );

    // A syntax error: diagnostics on stderr, nothing on stdout, exit 1.
    let broken = "model \"assistant\" {\n    release \"1.0.0\" {\n";
    let run = modelops_env(elsewhere.path(), &["fmt", "-"], &[], Some(broken));
    assert_eq!((run.code, run.stdout.as_str()), (1, ""));
    assert!(run.stderr.contains("MO101"), "{}", run.stderr);
    assert!(run.stderr.contains("<stdin>:"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("error: <stdin> has syntax errors, so it was not formatted"),
        "{}",
        run.stderr
    );
    let named = modelops_env(
        elsewhere.path(),
        &["fmt", "-", "--stdin-filename", "models/assistant.kdl"],
        &[],
        Some(broken),
    );
    assert_eq!(named.code, 1);
    assert!(
        named.stderr.contains("models/assistant.kdl:"),
        "{}",
        named.stderr
    );
    // A NUL byte is a syntax finding (MO102), as in a file.
    let binary = modelops_env(elsewhere.path(), &["fmt", "-"], &[], Some("\u{0}"));
    assert_eq!(
        binary.code, 1,
        "NUL is reported as MO102: {}",
        binary.stderr
    );
    // --stdin-filename needs `-`; any other argument is a usage error.
    for args in [
        &["fmt", "--stdin-filename", "x.kdl"][..],
        &["fmt", "models/assistant.kdl"],
    ] {
        let run = modelops_env(repo.path(), args, &[], None);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    }
}
