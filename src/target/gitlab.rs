//! The `gitlab-ci` target: `gitlab-ci/<model>.yml`, a pipeline per model (include it
//! from `.gitlab-ci.yml`). Jobs run only when the model's files change
//! (`rules: changes:`); deployments use GitLab environments; a manual blue-green
//! promotion is `when: manual`; rollback runs `when: on_failure`.

use serde_json::{Map, Value, json};

use crate::model::TargetKind;
use crate::target::pipeline::{self, EnvValue, Job, Pipeline, Trigger};
use crate::target::registry::{Apply, Emitted, Layout, Part, Per, Target};
use crate::target::{Context, to_yaml};

/// The `gitlab-ci` target.
pub struct GitlabCi;

const LAYOUT: Layout = Layout {
    per: Per::Model,
    path: "gitlab-ci/{model}.yml",
};

impl Target for GitlabCi {
    fn kind(&self) -> TargetKind {
        TargetKind::GitlabCi
    }

    fn layout(&self) -> Layout {
        LAYOUT
    }

    fn apply(&self) -> Apply {
        Apply::CiSystem
    }

    /// Pipelines cover every environment of a model; `--env` does not split them.
    fn emit(&self, cx: &Context<'_>, part: &Part<'_, '_>) -> Emitted {
        let mut out = Emitted::default();
        for (model, pipeline) in
            pipeline::pipelines(cx, part.models, part.by_model, pipeline::CiSystem::GitLab)
        {
            out.files.insert(
                LAYOUT.path(&[("model", &model.name)]),
                to_yaml(&pipeline_file(&pipeline)),
            );
        }
        out
    }
}

fn variable(value: &EnvValue) -> String {
    match value {
        EnvValue::Literal(text) => text.clone(),
        EnvValue::Variable(name) if name == "BASE_REF" => {
            "$CI_MERGE_REQUEST_TARGET_BRANCH_NAME".into()
        }
        EnvValue::Variable(name) | EnvValue::Secret(name) => format!("${name}"),
    }
}

fn job(job: &Job, paths: &[String]) -> Value {
    let condition = match job.trigger {
        Trigger::PullRequest => "$CI_PIPELINE_SOURCE == \"merge_request_event\"",
        Trigger::DefaultBranch | Trigger::OnFailure => "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH",
    };
    let mut rule = json!({"if": condition, "changes": paths});
    match (job.trigger, job.manual) {
        (Trigger::OnFailure, _) => rule["when"] = json!("on_failure"),
        (_, true) => rule["when"] = json!("manual"),
        _ => {}
    }
    let mut variables = Map::new();
    let mut script = Vec::new();
    for step in &job.scripts {
        for (key, value) in &step.env {
            variables.insert(key.clone(), json!(variable(value)));
        }
        script.push(json!(format!("echo \"== {}\"", step.name)));
        script.extend(step.run.lines().map(|l| json!(l)));
    }
    let stage = match job.trigger {
        Trigger::PullRequest => "check",
        Trigger::DefaultBranch => "release",
        Trigger::OnFailure => "rollback",
    };
    let mut out = json!({
        "stage": stage,
        "rules": [rule],
        "timeout": format!("{}m", job.timeout_minutes),
        "script": script,
    });
    if !variables.is_empty() {
        out["variables"] = Value::Object(variables);
    }
    if !job.needs.is_empty() {
        out["needs"] = json!(job.needs);
    }
    if let Some(environment) = &job.environment {
        out["environment"] = json!({"name": environment});
    }
    out
}

fn pipeline_file(pipeline: &Pipeline) -> Value {
    let mut root = Map::new();
    root.insert("stages".into(), json!(["check", "release", "rollback"]));
    root.insert(
        "variables".into(),
        json!({"MODELOPS_VERSION": pipeline::VERSION}),
    );
    root.insert("default".into(), json!({"image": "rust:1.95"}));
    for job_definition in &pipeline.jobs {
        root.insert(
            format!("{}-{}", pipeline.model, job_definition.id),
            job(job_definition, &pipeline.paths),
        );
    }
    // `needs` name jobs by their full key.
    for value in root.values_mut() {
        if let Some(needs) = value.get_mut("needs").and_then(Value::as_array_mut) {
            for need in needs.iter_mut() {
                if let Some(name) = need.as_str() {
                    *need = json!(format!("{}-{name}", pipeline.model));
                }
            }
        }
    }
    Value::Object(root)
}
