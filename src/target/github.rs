//! The `github-actions` target: `github-actions/<model>.yml`, a workflow per model
//! (copy or link it into `.github/workflows/`). Triggered by exactly the files the
//! model's deployments depend on; pull-request jobs check, smoke and gate; default-
//! branch jobs deploy and walk the traffic states; production jobs run in GitHub
//! environments so protection rules apply. Third-party actions are pinned by commit;
//! the token may only read the repository.

use serde_json::{Map, Value, json};

use crate::model::TargetKind;
use crate::target::pipeline::{self, EnvValue, Job, Pipeline, Trigger};
use crate::target::registry::{Apply, Emitted, Layout, Part, Per, Target};
use crate::target::{Context, to_yaml};

/// The `github-actions` target.
pub struct GithubActions;

const LAYOUT: Layout = Layout {
    per: Per::Model,
    path: "github-actions/{model}.yml",
};

impl Target for GithubActions {
    fn kind(&self) -> TargetKind {
        TargetKind::GithubActions
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
            pipeline::pipelines(cx, part.models, part.by_model, pipeline::CiSystem::GitHub)
        {
            out.files.insert(
                LAYOUT.path(&[("model", &model.name)]),
                to_yaml(&workflow(&pipeline)),
            );
        }
        out
    }
}

/// actions/checkout v4.2.2, pinned by commit.
const CHECKOUT: &str = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683";

fn expression(value: &EnvValue) -> String {
    match value {
        EnvValue::Literal(text) => text.clone(),
        EnvValue::Variable(name) if name == "BASE_REF" => "${{ github.base_ref }}".into(),
        EnvValue::Variable(name) => format!("${{{{ vars.{name} }}}}"),
        EnvValue::Secret(name) => format!("${{{{ secrets.{name} }}}}"),
    }
}

const ON_DEFAULT_BRANCH: &str =
    "github.event_name == 'push' && github.ref_name == github.event.repository.default_branch";

fn job(job: &Job) -> Value {
    let condition = match job.trigger {
        Trigger::PullRequest => "github.event_name == 'pull_request'".to_owned(),
        Trigger::DefaultBranch => ON_DEFAULT_BRANCH.to_owned(),
        Trigger::OnFailure => format!("failure() && {ON_DEFAULT_BRANCH}"),
    };
    let mut steps = vec![json!({"uses": CHECKOUT, "with": {"fetch-depth": 0}})];
    for script in &job.scripts {
        let mut step = json!({"name": script.name, "run": script.run});
        if !script.env.is_empty() {
            let env: Map<String, Value> = script
                .env
                .iter()
                .map(|(k, v)| (k.clone(), json!(expression(v))))
                .collect();
            step["env"] = Value::Object(env);
        }
        steps.push(step);
    }
    let mut out = json!({
        "name": job.title,
        "runs-on": "ubuntu-latest",
        "if": condition,
        "timeout-minutes": job.timeout_minutes,
        "steps": steps,
    });
    if !job.needs.is_empty() {
        out["needs"] = json!(job.needs);
    }
    if let Some(environment) = &job.environment {
        // A manual promotion waits in its own environment, whose required reviewers
        // are the approval.
        let name = if job.manual {
            format!("{environment}-promotion")
        } else {
            environment.clone()
        };
        out["environment"] = json!({"name": name});
    }
    out
}

fn workflow(pipeline: &Pipeline) -> Value {
    let jobs: Map<String, Value> = pipeline
        .jobs
        .iter()
        .map(|j| (j.id.clone(), job(j)))
        .collect();
    json!({
        "name": format!("modelops {}", pipeline.model),
        "on": {
            "pull_request": {"paths": pipeline.paths},
            "push": {"paths": pipeline.paths},
        },
        "permissions": {"contents": "read"},
        "concurrency": {
            "group": format!("modelops-{}-${{{{ github.ref }}}}", pipeline.model),
            "cancel-in-progress": false,
        },
        "jobs": jobs,
    })
}
