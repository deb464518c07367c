//! Output formats other than `human`: SARIF validated against the published SARIF
//! 2.1.0 schema, and GitHub workflow annotations.

mod support;

use support::{TempRepo, example_repo};

fn broken_repo() -> TempRepo {
    let repo = TempRepo::new();
    let model = std::fs::read_to_string(repo.path().join("models/assistant.kdl")).unwrap();
    repo.write(
        "models/assistant.kdl",
        model
            .replace("openai/gpt-4o-2024-08-06", "openai/gpt-4o")
            .replace(
                "prompt \"assistant\" version=1",
                "prompt \"assistant\" version=1\n        params { top_p 0.5 }",
            ),
    );
    repo
}

fn sarif_schema() -> jsonschema::Validator {
    let path = example_repo().join("tests/fixtures/vendor-schemas/sarif/sarif-2.1.0.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).expect("the SARIF schema compiles")
}

#[test]
fn sarif_output_validates_against_the_sarif_2_1_0_schema() {
    let repo = broken_repo();
    let run = repo.modelops(&["check", "--format", "sarif"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let log: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    let validator = sarif_schema();
    let errors: Vec<String> = validator
        .iter_errors(&log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let results = log["runs"][0]["results"].as_array().unwrap();
    let floating = results
        .iter()
        .find(|r| r["ruleId"] == "MO301")
        .expect("MO301 result");
    assert_eq!(floating["level"], "error");
    let region = &floating["locations"][0]["physicalLocation"]["region"];
    assert_eq!(region["startLine"], 3);
    assert_eq!(region["startColumn"], 14);
    assert_eq!(
        floating["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "models/assistant.kdl"
    );
    let rules = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    let index = floating["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[index]["id"], "MO301");
    assert!(
        rules[index]["help"]["text"]
            .as_str()
            .unwrap()
            .contains("## Fixed")
    );
    assert!(
        results
            .iter()
            .any(|r| r["ruleId"] == "MO502" && r["level"] == "warning")
    );
}

#[test]
fn sarif_output_of_a_clean_repository_is_valid_and_empty() {
    let repo = TempRepo::locked();
    let run = repo.modelops(&["check", "--format", "sarif"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let log: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(sarif_schema().is_valid(&log));
    assert_eq!(log["runs"][0]["results"], serde_json::json!([]));
}

/// Warnings accepted by an `allow` are results suppressed in the source, with the
/// reason as the justification: code scanning shows them as dismissed.
#[test]
fn sarif_lists_allowed_warnings_as_suppressed() {
    let repo = support::copy_example();
    let run = support::modelops_in(repo.path(), &["check", "--format", "sarif"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let log: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let errors: Vec<String> = sarif_schema()
        .iter_errors(&log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "{results:#?}");
    for result in results {
        let suppression = &result["suppressions"][0];
        assert_eq!(suppression["kind"], "inSource", "{result:#?}");
        assert!(
            suppression["justification"]
                .as_str()
                .is_some_and(|j| j.contains("shadow")),
            "{result:#?}"
        );
    }
}

#[test]
fn github_format_prints_workflow_annotations() {
    let repo = broken_repo();
    let run = repo.modelops(&["check", "--format", "github"]);
    assert_eq!(run.code, 1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with(
            "::error file=models/assistant.kdl,line=3,col=14,endLine=3,endColumn=29,title=MO301::base model `openai/gpt-4o` is not pinned"
        )),
        "{}",
        run.stdout
    );
    assert!(
        lines.iter().any(
            |l| l.starts_with("::warning file=models/assistant.kdl,line=6,")
                && l.contains("title=MO502::")
        ),
        "{}",
        run.stdout
    );
    assert!(
        lines.iter().all(|l| l.starts_with("::")),
        "one command per line:\n{}",
        run.stdout
    );
}
