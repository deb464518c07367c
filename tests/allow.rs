//! `allow "CODE" reason="…"`, and `check` saying every warning `compile` says — on
//! copies of the example repository.

mod support;

use support::{copy_example, modelops_in};

/// The codes of a human report, one per finding, in order.
fn codes(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|line| line.len() == 5 && line.starts_with("MO"))
        .map(str::to_owned)
        .collect()
}

/// The example without its `allow`s.
fn without_allows(root: &std::path::Path) {
    let path = root.join("modelops.kdl");
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("allow "))
        .collect();
    std::fs::write(&path, kept.join("\n") + "\n").unwrap();
}

#[test]
fn check_reports_every_warning_compile_reports() {
    let repo = copy_example();
    without_allows(repo.path());
    let check = modelops_in(repo.path(), &["check"]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    let found = codes(&check.stderr);
    assert!(
        found.iter().any(|c| c == "MO901") && found.iter().any(|c| c == "MO411"),
        "{}",
        check.stderr
    );
    let compile = modelops_in(repo.path(), &["compile"]);
    assert_eq!(found, codes(&compile.stderr), "{}", compile.stderr);
    // So `check --deny warnings` fails on what `compile` would warn about.
    let denied = modelops_in(repo.path(), &["check", "--deny", "warnings"]);
    assert_eq!(denied.code, 1, "{}", denied.stderr);
    // Under each controller too.
    for flavor in ["argo-rollouts", "flagger"] {
        let repo = support::example_under(flavor);
        let check = modelops_in(repo.path(), &["check"]);
        let compile = modelops_in(repo.path(), &["compile"]);
        assert_eq!(compile.code, 0, "{flavor}: {}", compile.stderr);
        assert_eq!(
            codes(&check.stderr),
            codes(&compile.stderr),
            "{flavor}: {}\n{}",
            check.stderr,
            compile.stderr
        );
    }
}

#[test]
fn allowed_warnings_leave_the_report_counted_with_their_reason() {
    let repo = copy_example();
    let check = modelops_in(repo.path(), &["check", "--deny", "warnings"]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(codes(&check.stderr).is_empty(), "{}", check.stderr);
    assert!(
        check
            .stderr
            .contains("2 MO901 warnings allowed in target \"nginx\" (modelops.kdl:"),
        "{}",
        check.stderr
    );
    let json = modelops_in(repo.path(), &["check", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["summary"]["warnings"], 0, "{}", json.stdout);
    assert_eq!(report["summary"]["allowed"], 4, "{}", json.stdout);
    let allowed = report["allowed"].as_array().unwrap();
    assert!(
        allowed.iter().any(|a| a["code"] == "MO411"
            && a["count"] == 2
            && a["reason"].as_str().is_some_and(|r| r.contains("LiteLLM"))),
        "{}",
        json.stdout
    );
    // compile says the same, and writes.
    let compile = modelops_in(repo.path(), &["compile"]);
    assert_eq!(compile.code, 0, "{}", compile.stderr);
    assert!(
        compile
            .stderr
            .contains("2 MO411 warnings allowed in target \"litellm\""),
        "{}",
        compile.stderr
    );
}

#[test]
fn an_allow_applies_where_it_is_written() {
    let repo = copy_example();
    let path = repo.path().join("modelops.kdl");
    let text = std::fs::read_to_string(&path).unwrap();
    // Moved from the nginx target to litellm's, MO901 no longer points there: the
    // nginx warnings come back, and the moved `allow` accepts nothing.
    let moved = text.replace(
        "    allow \"MO411\" reason=",
        "    allow \"MO901\" reason=\"misplaced\"\n    allow \"MO411\" reason=",
    );
    let moved = moved.replacen(
        "    allow \"MO901\" reason=\"shadows",
        "    // reason=\"shadows",
        1,
    );
    std::fs::write(&path, moved).unwrap();
    let check = modelops_in(repo.path(), &["check"]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert_eq!(
        codes(&check.stderr),
        ["MO901", "MO901", "MO113"],
        "{}",
        check.stderr
    );
}
