//! The `github-actions` target: `github-actions/<model>.yml`, a workflow per model
//! (copy or link it into `.github/workflows/`). Triggered by exactly the files the
//! model's deployments depend on; pull-request jobs check, smoke and gate; default-
//! branch jobs deploy and walk the traffic states; production jobs run in GitHub
//! environments so protection rules apply. Third-party actions are pinned by commit;
//! the token may only read the repository.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::TargetKind;
use crate::model::target::Driver;
use crate::target::Context;
use crate::target::pipeline::{self, EnvValue, Job, Pipeline, Trigger};
use crate::target::registry::{Apply, Emitted, Layout, Part, Per, Target};

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

    fn layout(&self, _driver: Driver) -> Layout {
        LAYOUT
    }

    fn apply(&self) -> Apply {
        Apply::CiSystem
    }

    /// Pipelines cover every environment of a model; `--env` does not split them.
    fn emit(&self, cx: &Context<'_>, part: &Part<'_, '_>) -> Emitted {
        pipeline::emit_files(cx, part, pipeline::CiSystem::GitHub, &LAYOUT, workflow)
    }
}

/// actions/checkout v4.2.2, pinned by commit.
const CHECKOUT: &str = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683";

/// `text` as a literal to GitHub: each `${{` that would open an expression written
/// as the expression `${{ '${{' }}`, whose value is the two characters themselves.
/// GitHub evaluates expressions in `run:`, `env:` and most other values before any
/// shell sees them.
fn literal(text: &str) -> String {
    text.replace("${{", "${{ '${{' }}")
}

/// A path filter that matches `path` itself: GitHub's pattern characters escaped.
fn path_filter(path: &str) -> String {
    pipeline::escape_glob(path, "*?+[]!")
}

fn expression(value: &EnvValue) -> String {
    match value {
        EnvValue::Literal(text) => literal(text),
        EnvValue::Variable(name) if name == "BASE_REF" => "${{ github.base_ref }}".into(),
        EnvValue::Variable(name) => format!("${{{{ vars.{name} }}}}"),
        EnvValue::Secret(name) => format!("${{{{ secrets.{name} }}}}"),
    }
}

const ON_DEFAULT_BRANCH: &str =
    "github.event_name == 'push' && github.ref_name == github.event.repository.default_branch";

/// The parts of a GitHub Actions workflow this target writes.
#[derive(Serialize)]
struct Workflow {
    name: String,
    on: On,
    permissions: Permissions,
    concurrency: Concurrency,
    jobs: BTreeMap<String, WorkflowJob>,
}

#[derive(Serialize)]
struct On {
    pull_request: Paths,
    push: Paths,
}

#[derive(Serialize)]
struct Paths {
    paths: Vec<String>,
}

#[derive(Serialize)]
struct Permissions {
    contents: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Concurrency {
    group: String,
    cancel_in_progress: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct WorkflowJob {
    name: String,
    runs_on: &'static str,
    #[serde(rename = "if")]
    condition: String,
    timeout_minutes: u64,
    steps: Vec<Step>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    needs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<Environment>,
}

/// A step: an action (`uses`) or a script (`run`).
#[derive(Serialize)]
struct Step {
    #[serde(skip_serializing_if = "Option::is_none")]
    uses: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    with: Option<CheckoutOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    run: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    env: Option<BTreeMap<String, String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct CheckoutOptions {
    /// The whole history: `modelops check --base` reads the base revision.
    fetch_depth: u32,
}

#[derive(Serialize)]
struct Environment {
    name: String,
}

fn job(job: &Job) -> WorkflowJob {
    let condition = match job.trigger {
        Trigger::PullRequest => "github.event_name == 'pull_request'".to_owned(),
        Trigger::DefaultBranch => ON_DEFAULT_BRANCH.to_owned(),
        Trigger::OnFailure => format!("failure() && {ON_DEFAULT_BRANCH}"),
    };
    let mut steps = vec![Step {
        uses: Some(CHECKOUT),
        with: Some(CheckoutOptions { fetch_depth: 0 }),
        name: None,
        run: None,
        env: None,
    }];
    for script in &job.scripts {
        let env = (!script.env.is_empty()).then(|| {
            script
                .env
                .iter()
                .map(|(k, v)| (k.clone(), expression(v)))
                .collect()
        });
        steps.push(Step {
            uses: None,
            with: None,
            name: Some(script.name.clone()),
            run: Some(literal(&script.run)),
            env,
        });
    }
    // A manual promotion waits in its own environment, whose required reviewers are
    // the approval.
    let environment = job.environment.as_ref().map(|environment| Environment {
        name: if job.manual {
            format!("{environment}-promotion")
        } else {
            environment.clone()
        },
    });
    WorkflowJob {
        name: job.title.clone(),
        runs_on: "ubuntu-latest",
        condition,
        timeout_minutes: job.timeout_minutes,
        steps,
        needs: job.needs.clone(),
        environment,
    }
}

fn workflow(pipeline: &Pipeline) -> Workflow {
    Workflow {
        name: format!("modelops {}", pipeline.model),
        on: On {
            pull_request: Paths {
                paths: pipeline.paths.iter().map(|p| path_filter(p)).collect(),
            },
            push: Paths {
                paths: pipeline.paths.iter().map(|p| path_filter(p)).collect(),
            },
        },
        permissions: Permissions { contents: "read" },
        concurrency: Concurrency {
            group: format!("modelops-{}-${{{{ github.ref }}}}", pipeline.model),
            cancel_in_progress: false,
        },
        jobs: pipeline
            .jobs
            .iter()
            .map(|j| (j.id.clone(), job(j)))
            .collect(),
    }
}
