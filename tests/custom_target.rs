//! The `custom` target: the project's own handlebars template, rendered with the data
//! of `plan.json` into `generated/custom/<output>`, each value escaped for the
//! output's format; strict about missing values; checked by `compile --check` like
//! every other generated file.

mod support;

use std::path::Path;

use serde::Deserialize;
use support::{copy_example, modelops_in};

/// A metric name with everything that could break out of a JSON or YAML string, or
/// be taken for a template expression.
const HOSTILE: &str = "judge \"score\": 'x'\n{{project}} \\ {{{raw}}} # end";

/// The KDL spelling of [`HOSTILE`].
const HOSTILE_KDL: &str = r#""judge \"score\": 'x'\n{{project}} \\ {{{raw}}} # end""#;

const JSON_TEMPLATE: &str = r#"{"project": "{{project}}", "format": {{format}}, "deployments": [
{{#each deployments}}  {"model": "{{model}}", "environment": "{{environment}}", "fingerprint": "{{fingerprint}}",
   "metrics": [{{#each stages}}{{#if metric}}"{{metric}}"{{/if}}{{/each}}],
   "tracks": [{{#each tracks}}{"track": "{{track}}", "release": "{{release}}", "prompt_hash": "{{prompt_hash}}"}{{#unless @last}}, {{/unless}}{{/each}}]}{{#unless @last}},{{/unless}}
{{/each}}]}
"#;

const YAML_TEMPLATE: &str = "project: {{project}}
format: {{{format}}}
deployments:
{{#each deployments}}
  - model: {{model}}
    environment: {{environment}}
    fingerprint: {{fingerprint}}
    metrics:
{{#each stages}}
{{#if metric}}
      - {{metric}}
{{/if}}
{{/each}}
    tracks:
{{#each tracks}}
      - track: {{track}}
        release: {{release}}
        prompt_hash: {{prompt_hash}}
{{/each}}
{{/each}}
";

#[derive(Debug, Deserialize, PartialEq)]
struct Summary {
    project: String,
    format: u32,
    deployments: Vec<Deployment>,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Deployment {
    model: String,
    environment: String,
    fingerprint: String,
    /// Absent in YAML when a deployment has none (`metrics:` with no item).
    metrics: Option<Vec<String>>,
    tracks: Vec<Track>,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Track {
    track: String,
    release: String,
    prompt_hash: String,
}

/// The example repository with a hostile gate metric and one custom target.
fn repo_with(template: &str, text: &str, output: Option<&str>) -> tempfile::TempDir {
    let repo = copy_example();
    let model = repo.path().join("models/support-bot.kdl");
    let original = std::fs::read_to_string(&model).unwrap();
    let edited = original.replace(r#"metric "judge-score""#, &format!("metric {HOSTILE_KDL}"));
    assert_ne!(edited, original, "the example's metric moved");
    std::fs::write(&model, edited).unwrap();
    write(repo.path(), template, text);
    let project = repo.path().join("modelops.kdl");
    let mut kdl = std::fs::read_to_string(&project).unwrap();
    kdl.push_str(&format!("target \"custom\" template=\"{template}\""));
    if let Some(output) = output {
        kdl.push_str(&format!(" output=\"{output}\""));
    }
    kdl.push('\n');
    std::fs::write(&project, kdl).unwrap();
    repo
}

fn write(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A summary with "no metrics" written one way.
fn normalized(mut summary: Summary) -> Summary {
    for deployment in &mut summary.deployments {
        deployment.metrics.get_or_insert_with(Vec::new);
    }
    summary
}

/// What the summary must say: the deployments of `plan.json`, and the hostile metric
/// as it was written.
fn expected(root: &Path) -> Summary {
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("generated/plan.json")).unwrap())
            .unwrap();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let deployments = plan["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let metrics: Vec<String> = d["stages"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|s| s["metric"].as_str().map(str::to_owned))
                .collect();
            Deployment {
                model: text(&d["model"]),
                environment: text(&d["environment"]),
                fingerprint: text(&d["fingerprint"]),
                metrics: Some(metrics),
                tracks: d["tracks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| Track {
                        track: text(&t["track"]),
                        release: text(&t["release"]),
                        prompt_hash: text(&t["prompt_hash"]),
                    })
                    .collect(),
            }
        })
        .collect();
    Summary {
        project: text(&plan["project"]),
        format: 1,
        deployments,
    }
}

#[test]
fn renders_json_and_yaml_that_parse_back_exactly() {
    // JSON: values escaped inside the quotes the template writes.
    let repo = repo_with("templates/summary.hbs", JSON_TEMPLATE, Some("summary.json"));
    let run = modelops_in(repo.path(), &["compile"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json = std::fs::read_to_string(repo.path().join("generated/custom/summary.json")).unwrap();
    let summary: Summary = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}:\n{json}"));
    let summary = normalized(summary);
    let want = expected(repo.path());
    assert_eq!(summary, want);
    let metrics: Vec<&String> = summary
        .deployments
        .iter()
        .flat_map(|d| d.metrics.iter().flatten())
        .collect();
    assert!(metrics.contains(&&HOSTILE.to_owned()), "{metrics:?}");
    assert!(
        want.deployments.iter().all(|d| d.fingerprint.len() == 64),
        "{want:?}"
    );

    // YAML: each value a double-quoted scalar; the file is named after the template.
    let repo = repo_with("templates/summary.yaml.hbs", YAML_TEMPLATE, None);
    let run = modelops_in(repo.path(), &["compile"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let yaml = std::fs::read_to_string(repo.path().join("generated/custom/summary.yaml")).unwrap();
    let summary: Summary = serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("{e}:\n{yaml}"));
    assert_eq!(normalized(summary), expected(repo.path()));
    assert!(yaml.contains("prompt_hash: \""), "{yaml}");

    // The same inputs give the same bytes.
    let again = modelops_in(repo.path(), &["compile", "--check"]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
}

#[test]
fn a_missing_value_is_an_error_at_its_place_and_nothing_is_written() {
    let repo = repo_with("templates/summary.hbs", JSON_TEMPLATE, Some("summary.json"));
    let first = modelops_in(repo.path(), &["compile"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let before = support::tree(&repo.path().join("generated"));

    // `env` is not in the data: strict mode says so instead of writing "".
    write(
        repo.path(),
        "templates/summary.hbs",
        &JSON_TEMPLATE.replace("{{environment}}", "{{env}}"),
    );
    // `check` renders the template too: it says what `compile` would.
    let check = modelops_in(repo.path(), &["check"]);
    assert_eq!(check.code, 1, "{}", check.stderr);
    assert!(
        check.stderr.contains("`env` is not in the data"),
        "{}",
        check.stderr
    );
    let run = modelops_in(repo.path(), &["compile"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("MO909"), "{}", run.stderr);
    assert!(
        run.stderr.contains("`env` is not in the data"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("templates/summary.hbs:2:63"),
        "the label is on the expression: {}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);
    assert_eq!(
        support::tree(&repo.path().join("generated")),
        before,
        "the output folder is untouched"
    );
    let stale = modelops_in(repo.path(), &["compile", "--check"]);
    assert_eq!(stale.code, 1, "{}", stale.stderr);
    assert!(stale.stderr.contains("MO909"), "{}", stale.stderr);

    // A template that does not parse is `check`'s, at the block left open.
    write(
        repo.path(),
        "templates/summary.hbs",
        "{\"deployments\": [\n{{#each deployments}}\"{{model}}\"\n]}\n",
    );
    let check = modelops_in(repo.path(), &["check"]);
    assert_eq!(check.code, 1, "{}", check.stderr);
    assert!(check.stderr.contains("MO909"), "{}", check.stderr);
    assert!(
        check.stderr.contains("`{{#each}}` is never closed"),
        "{}",
        check.stderr
    );
    assert!(
        check.stderr.contains("templates/summary.hbs:2:1"),
        "{}",
        check.stderr
    );
}

#[test]
fn compile_check_notices_a_stale_custom_output() {
    let repo = repo_with(
        "templates/summary.hbs",
        JSON_TEMPLATE,
        Some("reports/summary.json"),
    );
    let run = modelops_in(repo.path(), &["compile"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let output = repo.path().join("generated/custom/reports/summary.json");
    assert!(output.is_file());
    let current = modelops_in(repo.path(), &["compile", "--check"]);
    assert_eq!(current.code, 0, "{}{}", current.stdout, current.stderr);

    // The template changed: the committed output is stale.
    write(
        repo.path(),
        "templates/summary.hbs",
        &JSON_TEMPLATE.replace("\"format\"", "\"version\""),
    );
    let stale = modelops_in(repo.path(), &["compile", "--check"]);
    assert_eq!(stale.code, 1, "{}{}", stale.stdout, stale.stderr);
    assert!(
        stale.stdout.contains("custom/reports/summary.json"),
        "{}",
        stale.stdout
    );
    assert!(stale.stderr.contains("is not current"), "{}", stale.stderr);

    // The output edited by hand: stale too, until compile writes it again.
    write(repo.path(), "templates/summary.hbs", JSON_TEMPLATE);
    std::fs::write(&output, "{}\n").unwrap();
    let edited = modelops_in(repo.path(), &["compile", "--check"]);
    assert_eq!(edited.code, 1, "{}{}", edited.stdout, edited.stderr);
    let run = modelops_in(repo.path(), &["compile"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let current = modelops_in(repo.path(), &["compile", "--check"]);
    assert_eq!(current.code, 0, "{}{}", current.stdout, current.stderr);
}

#[test]
fn an_output_outside_the_folder_is_refused() {
    let repo = repo_with(
        "templates/summary.hbs",
        JSON_TEMPLATE,
        Some("../../modelops.kdl"),
    );
    let before = std::fs::read_to_string(repo.path().join("modelops.kdl")).unwrap();
    let run = modelops_in(repo.path(), &["compile"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("MO107"), "{}", run.stderr);
    assert!(
        run.stderr.contains("is not a path under generated/custom"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(repo.path().join("modelops.kdl")).unwrap(),
        before
    );
}
