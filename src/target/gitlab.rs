//! The `gitlab-ci` target: `gitlab-ci/<model>.yml`, a pipeline per model (include it
//! from `.gitlab-ci.yml`). Jobs run only when the model's files change
//! (`rules: changes:`); deployments use GitLab environments; a manual blue-green
//! promotion is `when: manual`; rollback runs `when: on_failure`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::TargetKind;
use crate::model::target::Driver;
use crate::target::Context;
use crate::target::pipeline::{self, EnvValue, Job, Pipeline, Trigger};
use crate::target::registry::{Apply, Emitted, Layout, Part, Per, Target};

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

    fn layout(&self, _driver: Driver) -> Layout {
        LAYOUT
    }

    fn apply(&self) -> Apply {
        Apply::CiSystem
    }

    /// Pipelines cover every environment of a model; `--env` does not split them.
    fn emit(&self, cx: &Context<'_>, part: &Part<'_, '_>) -> Emitted {
        pipeline::emit_files(cx, part, pipeline::CiSystem::GitLab, &LAYOUT, pipeline_file)
    }
}

fn variable(value: &EnvValue) -> String {
    match value {
        // GitLab expands `$NAME` in variable values: `$$` is a literal `$`.
        EnvValue::Literal(text) => text.replace('$', "$$"),
        EnvValue::Variable(name) if name == "BASE_REF" => {
            "$CI_MERGE_REQUEST_TARGET_BRANCH_NAME".into()
        }
        EnvValue::Variable(name) | EnvValue::Secret(name) => format!("${name}"),
    }
}

/// The parts of a GitLab CI pipeline file this target writes: global keys, then one
/// key per job.
#[derive(Serialize)]
struct PipelineFile {
    stages: [&'static str; 3],
    variables: BTreeMap<String, String>,
    default: JobDefaults,
    #[serde(flatten)]
    jobs: BTreeMap<String, PipelineJob>,
}

#[derive(Serialize)]
struct JobDefaults {
    image: &'static str,
}

#[derive(Serialize)]
struct PipelineJob {
    stage: &'static str,
    rules: Vec<Rule>,
    timeout: String,
    script: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    variables: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    needs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<Environment>,
}

#[derive(Serialize)]
struct Rule {
    #[serde(rename = "if")]
    condition: &'static str,
    changes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    when: Option<&'static str>,
}

#[derive(Serialize)]
struct Environment {
    name: String,
}

/// A job; `needs` name jobs by their full key, `<model>-<id>`.
fn job(job: &Job, model: &str, paths: &[String]) -> PipelineJob {
    let condition = match job.trigger {
        Trigger::PullRequest => "$CI_PIPELINE_SOURCE == \"merge_request_event\"",
        Trigger::DefaultBranch | Trigger::OnFailure => "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH",
    };
    let when = match (job.trigger, job.manual) {
        (Trigger::OnFailure, _) => Some("on_failure"),
        (_, true) => Some("manual"),
        _ => None,
    };
    let mut variables = BTreeMap::new();
    let mut script = Vec::new();
    for step in &job.scripts {
        for (key, value) in &step.env {
            variables.insert(key.clone(), variable(value));
        }
        script.push(format!("echo \"== {}\"", step.name));
        script.extend(step.run.lines().map(str::to_owned));
    }
    let stage = match job.trigger {
        Trigger::PullRequest => "check",
        Trigger::DefaultBranch => "release",
        Trigger::OnFailure => "rollback",
    };
    PipelineJob {
        stage,
        rules: vec![Rule {
            condition,
            // `rules:changes` are Ruby `File.fnmatch` patterns (with braces).
            changes: paths
                .iter()
                .map(|p| pipeline::escape_glob(p, "*?[]{}"))
                .collect(),
            when,
        }],
        timeout: format!("{}m", job.timeout_minutes),
        script,
        variables,
        needs: job
            .needs
            .iter()
            .map(|need| format!("{model}-{need}"))
            .collect(),
        environment: job
            .environment
            .as_ref()
            .map(|name| Environment { name: name.clone() }),
    }
}

fn pipeline_file(pipeline: &Pipeline) -> PipelineFile {
    PipelineFile {
        stages: ["check", "release", "rollback"],
        variables: BTreeMap::from([("MODELOPS_VERSION".to_owned(), pipeline::VERSION.to_owned())]),
        default: JobDefaults { image: "rust:1.95" },
        jobs: pipeline
            .jobs
            .iter()
            .map(|j| {
                (
                    format!("{}-{}", pipeline.model, j.id),
                    job(j, &pipeline.model, &pipeline.paths),
                )
            })
            .collect(),
    }
}
