//! The `github-actions` target: `github-actions/<model>.yml`, a workflow per model
//! (copy or link it into `.github/workflows/`). Triggered by exactly the files the
//! model's deployments depend on. The `modelops` job installs modelops once and
//! hands it to every later job as an artifact; pull-request jobs check and gate;
//! default-branch jobs release environment by environment. Only approval jobs run
//! in a GitHub environment, so its protection rules sit before live traffic; cluster
//! credentials come from the secret `MODELOPS_KUBECONFIG_<ENV>`. Third-party actions
//! are pinned by commit; the token may only read the repository.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::TargetKind;
use crate::model::target::Driver;
use crate::target::Context;
use serde_json::Value;

use crate::target::pipeline::{
    self, BIN_DIR, EnvValue, INSTALL_JOB, Install, Job, Kind, Pipeline, Script, Trigger,
};
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
/// actions/upload-artifact v4.6.2, pinned by commit.
const UPLOAD_ARTIFACT: &str = "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02";
/// actions/download-artifact v4.3.0, pinned by commit.
const DOWNLOAD_ARTIFACT: &str =
    "actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093";

/// The artifact the install job hands to every later job.
const ARTIFACT: &str = "modelops";

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
    #[serde(rename = "if", skip_serializing_if = "Option::is_none")]
    condition: Option<String>,
    timeout_minutes: u64,
    steps: Vec<Step>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    needs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<Environment>,
}

/// A step: an action (`uses`) or a script (`run`).
#[derive(Serialize, Default)]
struct Step {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uses: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    with: Option<BTreeMap<&'static str, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    run: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    env: Option<BTreeMap<String, String>>,
}

#[derive(Serialize)]
struct Environment {
    name: String,
}

fn script_step(script: &Script) -> Step {
    let env = (!script.env.is_empty()).then(|| {
        script
            .env
            .iter()
            .map(|(k, v)| (k.clone(), expression(v)))
            .collect()
    });
    Step {
        name: Some(script.name.clone()),
        run: Some(literal(&script.run)),
        env,
        ..Step::default()
    }
}

fn with(pairs: &[(&'static str, Value)]) -> Option<BTreeMap<&'static str, Value>> {
    Some(pairs.iter().cloned().collect())
}

/// The install job: modelops from the pinned source, once per run, as an artifact.
fn install_steps(install: &Install) -> Vec<Step> {
    let mut steps = Vec::new();
    match install.script() {
        Some(script) => steps.push(script_step(&script)),
        None => {
            if let Install::Image(image) = install {
                steps.push(script_step(
                    &Script {
                        name: "Copy modelops out of its image".into(),
                        run: format!(
                            "mkdir -p {BIN_DIR}\nid=$(docker create \"$MODELOPS_IMAGE\")\ndocker cp \"$id:/usr/local/bin/modelops\" {BIN_DIR}/modelops\ndocker rm \"$id\""
                        ),
                        env: vec![(
                            "MODELOPS_IMAGE".into(),
                            EnvValue::Literal(image.clone()),
                        )],
                    },
                ));
            }
        }
    }
    steps.push(Step {
        uses: Some(UPLOAD_ARTIFACT),
        with: with(&[
            ("name", Value::from(ARTIFACT)),
            ("path", Value::from(format!("{BIN_DIR}/modelops"))),
            ("retention-days", Value::from(1)),
            ("if-no-files-found", Value::from("error")),
        ]),
        ..Step::default()
    });
    steps
}

fn job(job: &Job, install: &Install) -> WorkflowJob {
    let condition = match (job.kind, job.trigger) {
        (Kind::Install, _) | (_, Trigger::Always) => None,
        // A job of this environment failed or was cancelled (`always()` lets the
        // rollback run in a cancelled run too); other environments' jobs and the
        // install job do not count.
        (Kind::Rollback, _) => Some(format!(
            "always() && {ON_DEFAULT_BRANCH} && ({})",
            job.needs
                .iter()
                .map(|need| format!(
                    "needs.{need}.result == 'failure' || needs.{need}.result == 'cancelled'"
                ))
                .collect::<Vec<_>>()
                .join(" || ")
        )),
        (_, Trigger::PullRequest) => Some("github.event_name == 'pull_request'".to_owned()),
        (_, Trigger::DefaultBranch) => Some(ON_DEFAULT_BRANCH.to_owned()),
    };
    let mut steps = vec![Step {
        uses: Some(CHECKOUT),
        // The whole history where `modelops check --base` reads the base revision.
        with: with(&[(
            "fetch-depth",
            Value::from(if job.full_history { 0 } else { 1 }),
        )]),
        ..Step::default()
    }];
    let mut needs = job.needs.clone();
    if job.kind == Kind::Install {
        steps.extend(install_steps(install));
    } else {
        needs.insert(0, INSTALL_JOB.to_owned());
        steps.push(Step {
            uses: Some(DOWNLOAD_ARTIFACT),
            with: with(&[
                ("name", Value::from(ARTIFACT)),
                ("path", Value::from(BIN_DIR)),
            ]),
            ..Step::default()
        });
        steps.push(Step {
            name: Some("Put modelops on the PATH".into()),
            run: Some(format!(
                "chmod +x {BIN_DIR}/modelops\necho \"$GITHUB_WORKSPACE/{BIN_DIR}\" >> \"$GITHUB_PATH\""
            )),
            ..Step::default()
        });
        if let Some(tools) = pipeline::tools_script(job) {
            steps.push(script_step(&tools));
        }
        if job.kubectl
            && let Some(environment) = &job.environment
        {
            steps.push(script_step(&Script {
                name: format!("Cluster credentials for {environment}"),
                run: "umask 077\nprintf '%s' \"$KUBECONFIG_DATA\" > \"$RUNNER_TEMP/kubeconfig\"\necho \"KUBECONFIG=$RUNNER_TEMP/kubeconfig\" >> \"$GITHUB_ENV\"".into(),
                env: vec![(
                    "KUBECONFIG_DATA".into(),
                    EnvValue::Secret(pipeline::kubeconfig_variable(environment)),
                )],
            }));
        }
        steps.extend(job.scripts.iter().map(script_step));
    }
    // Only approvals run in a GitHub environment, so its required reviewers are
    // asked once, before live traffic (or a manual switch), and a rollback never
    // waits for them.
    let environment = match (job.kind, &job.environment) {
        (Kind::Approval { person }, Some(environment)) => Some(Environment {
            name: if person {
                format!("{environment}-promotion")
            } else {
                environment.clone()
            },
        }),
        _ => None,
    };
    WorkflowJob {
        name: job.title.clone(),
        runs_on: "ubuntu-latest",
        condition,
        timeout_minutes: job.timeout_minutes,
        steps,
        needs,
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
            .map(|j| (j.id.clone(), job(j, &pipeline.install)))
            .collect(),
    }
}
