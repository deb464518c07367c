//! `inspect` on a repository with errors prints what resolved: the diagnostics on
//! stderr, the document on stdout with what typed and resolved, exit code 1. Without
//! a valid project file nothing resolves and nothing is printed; `--out`, whose
//! files eval gates score, refuses a repository with errors.

mod support;

use std::path::Path;

use support::{copy_example, modelops_in};

/// Edits one file of a repository copy: `from` must be in it.
fn edit(root: &Path, file: &str, from: &str, to: &str) {
    let path = root.join(file);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains(from), "`{from}` is not in {file}");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
}

/// The example with `temperature 7` in triage's first release: a rule error
/// (MO501), not a schema error, so the model is still on the typed model.
fn example_with_a_rule_error() -> tempfile::TempDir {
    let repo = copy_example();
    edit(
        repo.path(),
        "models/triage.kdl",
        "temperature 0.2",
        "temperature 7",
    );
    repo
}

#[test]
fn a_rule_error_still_prints_what_resolved() {
    let repo = example_with_a_rule_error();
    let run = modelops_in(repo.path(), &["inspect"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("MO501"), "{}", run.stderr);
    assert!(run.stderr.contains("partial"), "{}", run.stderr);
    let document: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
    assert!(document["project"].is_string(), "{document:#}");
    assert!(document["environment"]["prod"].is_object(), "{document:#}");
    let support_bot = &document["model"]["support-bot"];
    assert!(support_bot["release"].is_object(), "{document:#}");
    let prod = &support_bot["deploy"]["prod"]["resolved"];
    assert!(prod["fingerprint"].is_string(), "{document:#}");
    assert!(
        prod["tracks"]
            .as_array()
            .is_some_and(|tracks| !tracks.is_empty()),
        "{document:#}"
    );
    // The value the rule refuses is shown as written.
    assert_eq!(
        document["model"]["triage"]["release"]["2.0.0"]["params"]["temperature"], 7,
        "{document:#}"
    );
}

#[test]
fn yaml_prints_what_resolved_too() {
    let repo = example_with_a_rule_error();
    let run = modelops_in(
        repo.path(),
        &["inspect", "--format", "yaml", "--env", "staging"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("MO501"), "{}", run.stderr);
    let document: serde_json::Value = serde_saphyr::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
    assert!(
        document["model"]["support-bot"]["deploy"]["staging"].is_object(),
        "{document:#}"
    );
    assert!(
        document["model"]["support-bot"]["deploy"]["prod"].is_null(),
        "{document:#}"
    );
}

/// Parses `inspect`'s JSON, failing with what it printed.
fn document_of(run: &support::Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr))
}

#[test]
fn a_part_that_fails_the_schema_is_absent() {
    // A model whose own field is refused: the model goes.
    let repo = copy_example();
    edit(
        repo.path(),
        "models/triage.kdl",
        "owner \"support-platform\"",
        "owner 5",
    );
    let run = modelops_in(repo.path(), &["inspect"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("MO106"), "{}", run.stderr);
    let document = document_of(&run);
    assert!(document["model"]["support-bot"].is_object(), "{document:#}");
    assert!(document["model"]["triage"].is_null(), "{document:#}");

    // A release whose field is refused: that release goes, its model stays.
    let repo = copy_example();
    edit(
        repo.path(),
        "models/triage.kdl",
        "base \"anthropic/claude-3-5-sonnet-20241022\"",
        "base 5",
    );
    let run = modelops_in(repo.path(), &["inspect"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let document = document_of(&run);
    let releases = &document["model"]["triage"]["release"];
    assert!(releases["2.0.0"].is_null(), "{document:#}");
    assert!(releases["2.1.0"].is_object(), "{document:#}");
}

#[test]
fn without_a_valid_project_file_nothing_is_printed() {
    let repo = copy_example();
    // An unclosed block: the project file does not parse.
    edit(repo.path(), "modelops.kdl", "policy {", "policy {{");
    let run = modelops_in(repo.path(), &["inspect"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(run.stderr.contains("MO1"), "{}", run.stderr);
    assert!(run.stderr.contains("nothing resolved"), "{}", run.stderr);
}

#[test]
fn out_refuses_a_repository_with_errors() {
    let repo = example_with_a_rule_error();
    let out = repo.path().join("track");
    let out_arg = out.to_str().expect("UTF-8 temp path");
    let run = modelops_in(
        repo.path(),
        &[
            "inspect",
            "support-bot",
            "--env",
            "staging",
            "--track",
            "stable",
            "--out",
            out_arg,
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("MO501"), "{}", run.stderr);
    assert!(run.stderr.contains("--out"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        !out.exists(),
        "files were written from a broken configuration"
    );
}

#[test]
fn a_repository_without_errors_prints_it_all_and_exits_0() {
    let repo = copy_example();
    let run = modelops_in(repo.path(), &["inspect"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert!(document["model"]["triage"].is_object(), "{document:#}");
}
