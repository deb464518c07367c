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
