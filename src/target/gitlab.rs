//! The `gitlab-ci` target: `gitlab-ci/<model>.yml`, a pipeline per model (include it
//! from `.gitlab-ci.yml`). Jobs run only when the model's files change
//! (`rules: changes:`). The `modelops` job installs modelops once and hands it on as
//! an artifact; jobs acting on an environment share its `resource_group` and take
//! its credentials from the file variable `MODELOPS_KUBECONFIG_<ENV>`; approvals are
//! blocking `when: manual` jobs; a rollback runs `when: on_failure` of its own
//! environment's jobs, and a cancelled hold routes traffic back in `after_script`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::TargetKind;
use crate::model::target::Driver;
use crate::target::Context;
use crate::target::pipeline::{
    self, BIN_DIR, EnvValue, INSTALL_JOB, Install, Job, Kind, Pipeline, Trigger,
};
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
        let image = cx
            .project
            .pipelines
            .image
            .clone()
            .unwrap_or_else(|| DEFAULT_IMAGE.to_owned());
        pipeline::emit_files(cx, part, pipeline::CiSystem::GitLab, &LAYOUT, |p| {
            pipeline_file(p, &image)
        })
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

/// The image jobs run in when the project does not name one.
const DEFAULT_IMAGE: &str = "rust:1.95";

/// The parts of a GitLab CI pipeline file this target writes: global keys, then one
/// key per job.
#[derive(Serialize)]
struct PipelineFile {
    stages: [&'static str; 4],
    default: JobDefaults,
    #[serde(flatten)]
    jobs: BTreeMap<String, PipelineJob>,
}

#[derive(Serialize)]
struct JobDefaults {
    image: String,
}

#[derive(Serialize)]
struct PipelineJob {
    stage: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<String>,
    rules: Vec<Rule>,
    timeout: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    allow_failure: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_group: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    before_script: Vec<String>,
    script: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    after_script: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    variables: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    needs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<Environment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifacts: Option<Artifacts>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'static str>,
}

#[derive(Serialize)]
struct Artifacts {
    paths: Vec<String>,
    expire_in: &'static str,
}

const ON_MERGE_REQUEST: &str = "$CI_PIPELINE_SOURCE == \"merge_request_event\"";
const ON_DEFAULT_BRANCH: &str = "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH";

/// Puts the install job's modelops (and the tools the job installs) on the PATH.
fn path_line() -> String {
    format!("export PATH=\"$CI_PROJECT_DIR/{BIN_DIR}:$PATH\"")
}

/// A job; `needs` name jobs by their full key, `<model>-<id>`.
fn job(job: &Job, model: &str, paths: &[String], install: &Install) -> PipelineJob {
    // `rules:changes` are Ruby `File.fnmatch` patterns (with braces).
    let changes: Vec<String> = paths
        .iter()
        .map(|p| pipeline::escape_glob(p, "*?[]{}"))
        .collect();
    let rule = |condition: &'static str, when: Option<&'static str>| Rule {
        condition,
        changes: changes.clone(),
        when,
    };
    let rules = match (job.kind, job.trigger) {
        (_, Trigger::Always) => vec![rule(ON_MERGE_REQUEST, None), rule(ON_DEFAULT_BRANCH, None)],
        (Kind::Rollback, _) => vec![rule(ON_DEFAULT_BRANCH, Some("on_failure"))],
        (Kind::Approval { .. }, _) => vec![rule(ON_DEFAULT_BRANCH, Some("manual"))],
        (_, Trigger::PullRequest) => vec![rule(ON_MERGE_REQUEST, None)],
        (_, Trigger::DefaultBranch) => vec![rule(ON_DEFAULT_BRANCH, None)],
    };
    let mut variables = BTreeMap::new();
    let mut script = Vec::new();
    for step in &job.scripts {
        for (key, value) in &step.env {
            // A project variable of the same name is in the job's environment
            // already; declaring it would refer to itself.
            if variable(value) == format!("${key}") {
                continue;
            }
            variables.insert(key.clone(), variable(value));
        }
        script.push(format!("echo \"== {}\"", step.name));
        // One entry per step: GitLab runs each entry as a whole, so a multi-line
        // construct (`if … fi`) stays together.
        script.push(step.run.clone());
    }
    if job.full_history {
        // Merge-request pipelines clone shallow; `check --base` needs the history.
        variables.insert("GIT_DEPTH".into(), "0".into());
    }
    if job.kubectl
        && let Some(environment) = &job.environment
    {
        // A file variable: its value is the path of the kubeconfig.
        variables.insert(
            "KUBECONFIG".into(),
            format!("${}", pipeline::kubeconfig_variable(environment)),
        );
    }
    let mut before_script = Vec::new();
    let mut image = None;
    let mut needs: Vec<String> = Vec::new();
    let mut artifacts = None;
    if job.kind == Kind::Install {
        match install.script() {
            Some(install_script) => {
                for (key, value) in &install_script.env {
                    variables.insert(key.clone(), variable(value));
                }
                script = vec![install_script.run.clone()];
            }
            None => {
                if let Install::Image(reference) = install {
                    image = Some(reference.clone());
                    script = vec![
                        format!("mkdir -p {BIN_DIR}"),
                        format!("cp \"$(command -v modelops)\" {BIN_DIR}/modelops"),
                    ];
                }
            }
        }
        artifacts = Some(Artifacts {
            paths: vec![format!("{BIN_DIR}/")],
            expire_in: "1 day",
        });
    } else {
        needs.push(format!("{model}-{INSTALL_JOB}"));
        before_script.push(path_line());
        if let Some(tools) = pipeline::tools_script(job) {
            before_script.push(format!("mkdir -p {BIN_DIR}"));
            before_script.push(tools.run);
        }
    }
    needs.extend(job.needs.iter().map(|need| format!("{model}-{need}")));
    let after_script = job
        .on_cancel
        .as_ref()
        .map(|cancel| {
            vec![format!(
                "if [ \"$CI_JOB_STATUS\" = \"canceled\" ]; then\n  {}\n  {}\nfi",
                path_line(),
                cancel.run.lines().collect::<Vec<_>>().join("\n  ")
            )]
        })
        .unwrap_or_default();
    let stage = match (job.kind, job.trigger) {
        (Kind::Install, _) => "install",
        (Kind::Rollback, _) => "rollback",
        (_, Trigger::PullRequest) => "check",
        _ => "release",
    };
    PipelineJob {
        stage,
        image,
        rules,
        timeout: format!("{}m", job.timeout_minutes),
        // A manual job blocks what follows it only when it may not fail.
        allow_failure: matches!(job.kind, Kind::Approval { .. }).then_some(false),
        // One pipeline at a time acts on a model's environment.
        resource_group: job
            .environment
            .as_ref()
            .map(|environment| format!("{model}-{environment}")),
        before_script,
        script,
        after_script,
        variables,
        needs,
        environment: job.environment.as_ref().map(|name| Environment {
            name: name.clone(),
            action: match job.kind {
                Kind::Approval { .. } => Some("prepare"),
                _ => None,
            },
        }),
        artifacts,
    }
}

fn pipeline_file(pipeline: &Pipeline, image: &str) -> PipelineFile {
    PipelineFile {
        stages: ["install", "check", "release", "rollback"],
        default: JobDefaults {
            image: image.to_owned(),
        },
        jobs: pipeline
            .jobs
            .iter()
            .map(|j| {
                (
                    format!("{}-{}", pipeline.model, j.id),
                    job(j, &pipeline.model, &pipeline.paths, &pipeline.install),
                )
            })
            .collect(),
    }
}
