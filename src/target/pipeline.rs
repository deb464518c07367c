//! What the CI targets share: the jobs of a model's release pipeline, in order.
//!
//! On a pull request: `check`, then per environment with a candidate, `smoke` and an
//! eval job per gate (stable and candidate answer the gate's dataset, the gate's own
//! command scores them, `modelops gate` decides). On the default branch, per
//! environment in promotion order, what the driver leaves to the pipeline
//! ([`Driver`]):
//!
//! - **pipeline** (`flavor="deployment"`): `deploy` (workloads, waiting until every
//!   track rolled out, then the `stable` traffic state, then retiring an unused
//!   candidate track), `shadow`, one job per canary step (apply the step, hold its
//!   pause, `modelops guard`), `promote`; `rollback` applies the precomputed
//!   `stable` state.
//! - **argo-rollouts**: `deploy` (the managed routes, the Rollout created from the
//!   stable release when the cluster has none, then the desired Rollout), `rollout`
//!   (wait on the controller), `promote` for a manual blue-green; `rollback` aborts.
//! - **flagger**: `deploy` (the Canary, bootstrapped the same way), `rollout` (wait
//!   on the Canary, opening the load tester's gate after each long pause),
//!   `promote` for a manual blue-green; `rollback` opens the rollback gate.
//!
//! No job applies a traffic state under a controller: the controller moves traffic.
//!
//! Runtime contract (documented in the README): the pipeline's environment provides
//! `MODELOPS_<ENV>_STABLE_URL` and `MODELOPS_<ENV>_CANDIDATE_URL` (the tracks'
//! endpoints), `MODELOPS_PROMETHEUS_URL`, optionally `MODELOPS_APPLY` (the command
//! that applies a generated file; default `kubectl apply -f`), and the provider keys.

use std::collections::BTreeSet;

use crate::model::TargetKind;
use crate::model::target::Driver;
use crate::model::{Candidate, Gate, Promote};
use crate::target::registry::{Per, TARGETS};
use crate::target::traffic::{self, TrafficState};
use crate::target::{Context, Deployment};

pub use crate::model::target::CiSystem;

/// `word` as one shell word: as it is when it holds only characters no shell treats
/// specially, else in single quotes (each `'` written `'\''`).
pub fn shell_word(word: &str) -> std::borrow::Cow<'_, str> {
    let plain = !word.is_empty()
        && word.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'.' | b'_' | b'-' | b'/' | b'=' | b':' | b'@' | b'+' | b','
                )
        });
    if plain {
        std::borrow::Cow::Borrowed(word)
    } else {
        std::borrow::Cow::Owned(format!("'{}'", word.replace('\'', "'\\''")))
    }
}

/// `path` with each of `specials` (and the backslash) escaped by a backslash, so
/// that a CI system's path filter matches the file itself, not a pattern.
pub fn escape_glob(path: &str, specials: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '\\' || specials.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The version of modelops the pipelines install.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One step of a job: a shell script with its environment.
#[derive(Clone, Debug)]
pub struct Script {
    pub name: String,
    pub run: String,
    /// Environment variables: (name, value); values may reference CI variables.
    pub env: Vec<(String, EnvValue)>,
}

/// Where an environment variable's value comes from.
#[derive(Clone, Debug)]
pub enum EnvValue {
    Literal(String),
    /// A CI variable (GitHub `vars.X`, GitLab `$X`).
    Variable(String),
    /// A CI secret (GitHub `secrets.X`, GitLab masked variable `$X`).
    Secret(String),
}

/// When a job runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    PullRequest,
    DefaultBranch,
    /// On the default branch, only when an earlier job failed.
    OnFailure,
}

/// One job of the pipeline.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: String,
    pub title: String,
    pub trigger: Trigger,
    pub needs: Vec<String>,
    /// The deployment environment the job acts on (protection rules apply).
    pub environment: Option<String>,
    /// A person must start the job (blue-green `promote "manual"`).
    pub manual: bool,
    /// How long the job may run, in minutes (pauses included).
    pub timeout_minutes: u64,
    pub scripts: Vec<Script>,
}

/// A model's pipeline.
#[derive(Clone, Debug)]
pub struct Pipeline {
    pub model: String,
    /// Exactly the files the model's deployments depend on.
    pub paths: Vec<String>,
    pub jobs: Vec<Job>,
}

fn env_key(environment: &str) -> String {
    environment.to_ascii_uppercase().replace('-', "_")
}

fn install() -> Script {
    Script {
        name: "Install modelops".into(),
        run: "cargo install --locked modelops --version \"$MODELOPS_VERSION\"".into(),
        env: vec![("MODELOPS_VERSION".into(), EnvValue::Literal(VERSION.into()))],
    }
}

/// The files a traffic state consists of, across the project's proxy targets.
fn state_files(cx: &Context<'_>, d: &Deployment<'_>, state: &TrafficState) -> Vec<String> {
    TARGETS
        .iter()
        .filter(|target| target.layout(cx.project.driver()).per == Per::TrafficState)
        .filter(|target| cx.project.has_target(target.kind()))
        .map(|target| {
            let path = target.layout(cx.project.driver()).state_path(
                &d.environment.name,
                &d.model.name,
                &state.name,
            );
            format!("generated/{path}")
        })
        .collect()
}

fn apply(files: &[String]) -> String {
    files
        .iter()
        .map(|f| format!("${{MODELOPS_APPLY:-kubectl apply -f}} {}", shell_word(f)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn guard(d: &Deployment<'_>) -> Script {
    Script {
        name: "Guards".into(),
        run: format!(
            "modelops guard {} --env {} --prometheus \"$MODELOPS_PROMETHEUS_URL\"",
            shell_word(&d.model.name),
            shell_word(&d.environment.name)
        ),
        env: vec![(
            "MODELOPS_PROMETHEUS_URL".into(),
            EnvValue::Variable("MODELOPS_PROMETHEUS_URL".into()),
        )],
    }
}

fn traffic_job(
    cx: &Context<'_>,
    d: &Deployment<'_>,
    state: &TrafficState,
    hold_seconds: u64,
    needs: &str,
) -> Job {
    let mut scripts = vec![install()];
    // Without a proxy target there is no traffic file to apply: the workload moves
    // traffic itself (an Argo Rollout or a Flagger Canary), and the job only holds
    // and watches the guards.
    let files = state_files(cx, d, state);
    if !files.is_empty() {
        scripts.push(Script {
            name: format!("Apply traffic state {}", state.name),
            run: apply(&files),
            env: vec![(
                "MODELOPS_APPLY".into(),
                EnvValue::Variable("MODELOPS_APPLY".into()),
            )],
        });
    }
    if hold_seconds > 0 {
        scripts.push(Script {
            name: format!(
                "Hold for {}",
                crate::model::Duration::from_millis(hold_seconds * 1000)
            ),
            run: format!("sleep {hold_seconds}"),
            env: vec![],
        });
    }
    if !d.deploy.guard.is_empty() {
        scripts.push(guard(d));
    }
    Job {
        id: format!("{}-{}", state.name, d.environment.name),
        title: format!("{} {} in {}", state.name, d.model.name, d.environment.name),
        trigger: Trigger::DefaultBranch,
        needs: vec![needs.to_owned()],
        environment: Some(d.environment.name.clone()),
        manual: false,
        timeout_minutes: hold_seconds / 60 + 30,
        scripts,
    }
}

fn eval_job(d: &Deployment<'_>, gate: &Gate, needs: &str) -> Job {
    let key = env_key(&d.environment.name);
    let dataset = gate
        .dataset
        .as_ref()
        .map(|d| d.path.clone())
        .unwrap_or_default();
    let judge = gate.judge.clone().unwrap_or_default();
    // The gate's command, with its placeholders as shell variables: no value is pasted
    // into the script.
    let command = crate::target::kubernetes::render_placeholders(&gate.run);
    let mut env = vec![
        ("MODELOPS_GATE_COMMAND".into(), EnvValue::Literal(command)),
        ("MODELOPS_DATASET".into(), EnvValue::Literal(dataset)),
        ("MODELOPS_JUDGE".into(), EnvValue::Literal(judge)),
        (
            "STABLE_URL".into(),
            EnvValue::Variable(format!("MODELOPS_{key}_STABLE_URL")),
        ),
        (
            "CANDIDATE_URL".into(),
            EnvValue::Variable(format!("MODELOPS_{key}_CANDIDATE_URL")),
        ),
    ];
    env.extend(secret_env(d));
    Job {
        id: format!("eval-{}-{}", gate.name, d.environment.name),
        title: format!(
            "eval gate {} of {} for {}",
            gate.name, d.model.name, d.environment.name
        ),
        trigger: Trigger::PullRequest,
        needs: vec![needs.to_owned()],
        environment: None,
        manual: false,
        timeout_minutes: 120,
        scripts: vec![
            install(),
            Script {
                name: "Score stable and candidate".into(),
                // Exported first: in `VAR=x cmd "$VAR"` the expansion would not see it.
                // The gate's command is data: it reaches the shell through the
                // environment, never pasted into the script a CI system reads.
                run: "export MODELOPS_ENDPOINT=\"$STABLE_URL\" MODELOPS_SCORES=stable.jsonl\nsh -c \"$MODELOPS_GATE_COMMAND\"\nexport MODELOPS_ENDPOINT=\"$CANDIDATE_URL\" MODELOPS_SCORES=candidate.jsonl\nsh -c \"$MODELOPS_GATE_COMMAND\"".into(),
                env,
            },
            Script {
                name: "Gate".into(),
                run: format!(
                    "modelops gate {} --env {} --gate {} --baseline stable.jsonl --candidate candidate.jsonl",
                    shell_word(&d.model.name),
                    shell_word(&d.environment.name),
                    shell_word(&gate.name)
                ),
                env: vec![],
            },
        ],
    }
}

fn secret_env(d: &Deployment<'_>) -> Vec<(String, EnvValue)> {
    let mut names = BTreeSet::new();
    for release in d.model.release.values() {
        names.extend(release.secret.keys().cloned());
    }
    names
        .into_iter()
        .map(|n| (n.clone(), EnvValue::Secret(n)))
        .collect()
}

/// An OpenAI-style chat completion request: what a smoke request sends.
#[derive(serde::Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: Vec<ChatMessage<'a>>,
}

#[derive(serde::Serialize)]
struct ChatMessage<'a> {
    role: &'static str,
    content: &'a str,
}

fn smoke_job(d: &Deployment<'_>, needs: &str) -> Option<Job> {
    let smoke = d.deploy.smoke.as_ref()?;
    let key = env_key(&d.environment.name);
    let mut env = vec![(
        "CANDIDATE_URL".into(),
        EnvValue::Variable(format!("MODELOPS_{key}_CANDIDATE_URL")),
    )];
    let mut lines = Vec::new();
    for (index, request) in smoke.request.iter().enumerate() {
        let body = ChatRequest {
            model: &d.model.name,
            messages: vec![ChatMessage {
                role: "user",
                content: &request.prompt,
            }],
        };
        // Through a `Value`, so that the keys are sorted.
        let body = crate::target::to_value(&body).to_string();
        let var = format!("SMOKE_REQUEST_{}", index + 1);
        env.push((var.clone(), EnvValue::Literal(body)));
        let status = request.expect_status.unwrap_or(200);
        lines.push(format!(
            "status=$(curl -sS -o response.json -w '%{{http_code}}' -X POST \"$CANDIDATE_URL/v1/chat/completions\" -H 'Content-Type: application/json' --data \"${var}\")\ntest \"$status\" = \"{status}\" || {{ echo \"smoke request {} answered $status, expected {status}\"; exit 1; }}",
            index + 1
        ));
        if let Some(contains) = &request.expect_contains {
            let expect = format!("SMOKE_EXPECT_{}", index + 1);
            env.push((expect.clone(), EnvValue::Literal(contains.clone())));
            lines.push(format!(
                "grep -qF -- \"${expect}\" response.json || {{ echo \"smoke request {} lacks the expected text\"; exit 1; }}",
                index + 1
            ));
        }
    }
    Some(Job {
        id: format!("smoke-{}", d.environment.name),
        title: format!("smoke {} in {}", d.model.name, d.environment.name),
        trigger: Trigger::PullRequest,
        needs: vec![needs.to_owned()],
        environment: None,
        manual: false,
        timeout_minutes: 15,
        scripts: vec![Script {
            name: "Smoke requests".into(),
            run: lines.join("\n"),
            env,
        }],
    })
}

/// Orders a model's deployments by promotion order (`after` chains first).
///
/// In passes over the deployments in their order, a deployment is taken once its
/// `after` is taken (or is not among them), so one taken later in the same pass can
/// follow it at once; what never becomes ready (a cycle) comes last, in order. The
/// pass a deployment is taken in is computed directly — its `after`'s pass, plus
/// one when its `after` comes later in the order — so the order costs n·log n
/// however long the chains.
fn promotion_order<'a>(deployments: Vec<Deployment<'a>>) -> Vec<Deployment<'a>> {
    use std::collections::HashMap;
    let index: HashMap<&str, usize> = deployments
        .iter()
        .enumerate()
        .map(|(i, d)| (d.environment.name.as_str(), i))
        .collect();
    let after: Vec<Option<usize>> = deployments
        .iter()
        .map(|d| {
            d.environment
                .after
                .as_deref()
                .and_then(|a| index.get(a).copied())
        })
        .collect();
    // None: not yet known; Some(None): never ready (in or behind a cycle).
    let mut pass: Vec<Option<Option<usize>>> = vec![None; deployments.len()];
    for start in 0..deployments.len() {
        let mut chain = Vec::new();
        let mut current = start;
        let mut seen = std::collections::HashSet::new();
        let base = loop {
            if let Some(known) = pass.get(current).copied().flatten() {
                break known;
            }
            if !seen.insert(current) {
                break None;
            }
            chain.push(current);
            match after.get(current).copied().flatten() {
                Some(next) => current = next,
                None => break Some(0),
            }
        };
        // Fill the chain from its end: a root is pass 0.
        let mut value = base;
        for &i in chain.iter().rev() {
            value = match (value, after.get(i).copied().flatten()) {
                (_, None) => Some(0),
                (Some(p), Some(a)) => Some(if a > i { p + 1 } else { p }),
                (None, Some(_)) => None,
            };
            if let Some(slot) = pass.get_mut(i) {
                *slot = Some(value);
            }
        }
    }
    let mut keyed: Vec<(usize, usize, Deployment<'a>)> = deployments
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let p = pass
                .get(i)
                .copied()
                .flatten()
                .flatten()
                .unwrap_or(usize::MAX);
            (p, i, d)
        })
        .collect();
    keyed.sort_by_key(|(p, i, _)| (*p, *i));
    keyed.into_iter().map(|(_, _, d)| d).collect()
}

/// Every model's deployments, computed once for all pipelines.
pub fn by_model<'a>(cx: &Context<'a>) -> ByModel<'a> {
    let mut grouped = ByModel::new();
    for d in cx.planned_deployments() {
        grouped.entry(&d.model.name).or_default().push(d);
    }
    grouped
}

/// Deployments by the name of their model.
pub type ByModel<'a> = std::collections::BTreeMap<&'a str, Vec<Deployment<'a>>>;

/// The pipeline of each of `models` for `ci`, from every deployment grouped by model.
pub fn pipelines<'m>(
    cx: &Context<'_>,
    models: &'m [crate::model::Model],
    grouped: &ByModel<'_>,
    ci: CiSystem,
) -> impl Iterator<Item = (&'m crate::model::Model, Pipeline)> {
    models.iter().map(move |model| {
        let deployments = grouped
            .get(model.name.as_str())
            .cloned()
            .unwrap_or_default();
        (model, pipeline(cx, &model.name, deployments, ci))
    })
}

/// What a CI target emits for its part of the project: one file per model at its
/// layout's path, the model's pipeline written as `file` makes it.
pub fn emit_files<F: serde::Serialize>(
    cx: &Context<'_>,
    part: &crate::target::registry::Part<'_, '_>,
    ci: CiSystem,
    layout: &crate::target::registry::Layout,
    file: impl Fn(&Pipeline) -> F,
) -> crate::target::registry::Emitted {
    let mut out = crate::target::registry::Emitted::default();
    for (model, pipeline) in pipelines(cx, part.models, part.by_model, ci) {
        out.files.insert(
            layout.path(&[("model", &model.name)]),
            crate::target::to_yaml(&file(&pipeline)),
        );
    }
    out
}

/// The pipeline of one model, from its deployments.
pub fn pipeline(
    cx: &Context<'_>,
    model: &str,
    deployments: Vec<Deployment<'_>>,
    ci: CiSystem,
) -> Pipeline {
    // GitHub turns `--format github` lines into annotations; GitLab shows the log.
    let check = match ci {
        CiSystem::GitHub => "modelops check --format github --base \"origin/$BASE_REF\"",
        CiSystem::GitLab => "modelops check --base \"origin/$BASE_REF\"",
    };
    let mut paths: BTreeSet<String> = BTreeSet::new();
    for d in &deployments {
        paths.extend(d.plan.dependencies.iter().cloned());
    }
    let mut jobs = vec![Job {
        id: "check".into(),
        title: format!("check {model}"),
        trigger: Trigger::PullRequest,
        needs: vec![],
        environment: None,
        manual: false,
        timeout_minutes: 30,
        scripts: vec![
            install(),
            Script {
                name: "Validate".into(),
                run: format!("{check}\nmodelops lock --check\nmodelops compile --check"),
                env: vec![("BASE_REF".into(), EnvValue::Variable("BASE_REF".into()))],
            },
        ],
    }];
    let mut previous_release_job: Option<String> = None;
    for d in promotion_order(deployments) {
        if d.deploy.candidate().is_some() {
            jobs.extend(smoke_job(&d, "check"));
            for gate in d.deploy.gate.values() {
                jobs.push(eval_job(&d, gate, "check"));
            }
        }
        let needs: Vec<String> = previous_release_job.iter().cloned().collect();
        let (release, last) = match cx.project.driver() {
            Driver::Pipeline => pipeline_driven(cx, &d, needs),
            Driver::ArgoRollouts => argo_driven(cx, &d, needs),
            Driver::Flagger => flagger_driven(cx, &d, needs),
        };
        jobs.extend(release);
        previous_release_job = Some(last);
    }
    Pipeline {
        model: model.to_owned(),
        paths: paths.into_iter().collect(),
        jobs,
    }
}

/// A generated file's path from the repository root.
fn generated(path: &str) -> String {
    shell_word(&format!("generated/{path}")).into_owned()
}

/// The Kubernetes file of a deployment, and its stable bootstrap file when the
/// controller flavors emit one.
fn kubernetes_files(d: &Deployment<'_>) -> (String, Option<String>) {
    let layout = crate::target::registry::target(TargetKind::Kubernetes).layout(Driver::Pipeline);
    let stable = d.deploy.candidate().is_some() && d.deploy.stable.is_some();
    (
        generated(&layout.deployment_path(d)),
        stable.then(|| generated(&crate::target::kubernetes::STABLE_LAYOUT.deployment_path(d))),
    )
}

/// How long a deployment's stages hold, in seconds: the shadow, every step's pause,
/// a blue-green preview.
fn total_hold(d: &Deployment<'_>) -> u64 {
    match d.deploy.candidate() {
        Some(Candidate::Canary(canary)) => {
            canary.shadow.as_ref().map_or(0, |s| s.duration.as_secs())
                + canary
                    .step
                    .iter()
                    .filter_map(|s| s.pause)
                    .map(|p| p.as_secs())
                    .sum::<u64>()
        }
        Some(Candidate::BlueGreen(blue_green)) => {
            let shadow = blue_green
                .shadow
                .as_ref()
                .map_or(0, |s| s.duration.as_secs());
            shadow.max(blue_green.preview.map_or(0, |p| p.as_secs()))
        }
        None => 0,
    }
}

/// Margin for pods to start and a controller to finish, on top of the holds.
const MARGIN_SECONDS: u64 = 30 * 60;

fn release_job(d: &Deployment<'_>, id: String, title: String, needs: Vec<String>) -> Job {
    Job {
        id,
        title,
        trigger: Trigger::DefaultBranch,
        needs,
        environment: Some(d.environment.name.clone()),
        manual: false,
        timeout_minutes: 30,
        scripts: vec![install()],
    }
}

/// `flavor="deployment"` (or no `kubernetes` target): the pipeline moves traffic.
///
/// Deploy: apply the workloads and wait until every track has rolled out, and only
/// then apply the `stable` traffic state, so traffic never goes to pods still
/// rolling; without a candidate, retire the candidate tracks after the traffic has
/// left them. Then walk the traffic states, each held for its pause and judged by
/// the guards; `rollback` applies `stable`.
fn pipeline_driven(cx: &Context<'_>, d: &Deployment<'_>, needs: Vec<String>) -> (Vec<Job>, String) {
    let env = d.environment.name.clone();
    let namespace = shell_word(d.namespace()).into_owned();
    let model = &d.model.name;
    let mut deploy = release_job(
        d,
        format!("deploy-{env}"),
        format!("deploy {model} to {env}"),
        needs,
    );
    let kubernetes = cx.project.has_target(TargetKind::Kubernetes);
    if kubernetes {
        let (file, _) = kubernetes_files(d);
        let rollouts = traffic::tracks(d)
            .into_iter()
            .map(|track| {
                format!(
                    "kubectl rollout status deployment/{} -n {namespace} --timeout=15m",
                    shell_word(&format!("{model}-{track}"))
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        deploy.scripts.push(Script {
            name: "Apply workloads and wait for every track".into(),
            run: format!("kubectl apply -f {file}\n{rollouts}"),
            env: vec![],
        });
    }
    let states = traffic::states(d);
    if let Some(stable) = states.first()
        && !state_files(cx, d, stable).is_empty()
    {
        deploy.scripts.push(Script {
            name: "Apply traffic state stable".into(),
            run: apply(&state_files(cx, d, stable)),
            env: vec![(
                "MODELOPS_APPLY".into(),
                EnvValue::Variable("MODELOPS_APPLY".into()),
            )],
        });
    }
    if kubernetes && d.deploy.candidate().is_none() {
        deploy.scripts.push(Script {
            name: "Retire the candidate tracks".into(),
            run: format!(
                "kubectl delete deployment,service -n {namespace} --ignore-not-found {} {}",
                shell_word(&format!("{model}-canary")),
                shell_word(&format!("{model}-preview"))
            ),
            env: vec![],
        });
    }
    let deploy_id = deploy.id.clone();
    let mut jobs = vec![deploy];
    let mut last = deploy_id.clone();
    let mut stage_jobs = vec![deploy_id];
    let Some(candidate) = d.deploy.candidate() else {
        return (jobs, last);
    };
    for state in states.iter().skip(1) {
        let hold = match (state.name.as_str(), &candidate) {
            ("shadow", _) => candidate.shadow().map_or(0, |s| s.duration.as_secs()),
            ("promoted", _) => 0,
            (step, Candidate::Canary(canary)) => canary
                .step
                .iter()
                .find(|s| format!("step-{}", s.weight) == step)
                .and_then(|s| s.pause)
                .map_or(0, |p| p.as_secs()),
            _ => 0,
        };
        let mut job = traffic_job(cx, d, state, hold, &last);
        if state.name == "promoted" {
            job.id = format!("promote-{env}");
            job.title = format!("promote {model} in {env}");
            if let Candidate::BlueGreen(blue_green) = &candidate {
                job.manual = blue_green.promote.unwrap_or_default() == Promote::Manual;
                if let Some(preview) = blue_green.preview
                    && let Some(script) = job.scripts.get_mut(1)
                {
                    // The preview window comes before the switch.
                    script.run = format!("sleep {}\n{}", preview.as_secs(), script.run);
                    job.timeout_minutes += preview.as_secs() / 60;
                }
            }
        }
        last = job.id.clone();
        stage_jobs.push(job.id.clone());
        jobs.push(job);
    }
    if let Some(stable) = states.first()
        && !state_files(cx, d, stable).is_empty()
    {
        jobs.push(Job {
            id: format!("rollback-{env}"),
            title: format!("rollback {model} in {env}"),
            trigger: Trigger::OnFailure,
            needs: stage_jobs,
            environment: Some(env.clone()),
            manual: false,
            timeout_minutes: 15,
            scripts: vec![
                install(),
                Script {
                    name: "Apply traffic state stable".into(),
                    run: apply(&state_files(cx, d, stable)),
                    env: vec![(
                        "MODELOPS_APPLY".into(),
                        EnvValue::Variable("MODELOPS_APPLY".into()),
                    )],
                },
            ],
        });
    }
    (jobs, last)
}

/// The commands that create a controller's workload from the stable release when
/// the cluster has none yet (the controller would skip every step of a first
/// creation), then apply the desired state.
fn bootstrap_then_apply(d: &Deployment<'_>, kind: &str, ready: &str) -> String {
    let (file, stable) = kubernetes_files(d);
    let name = shell_word(&d.model.name);
    let namespace = shell_word(d.namespace());
    let mut lines = Vec::new();
    if let Some(stable) = stable {
        lines.push(format!(
            "if ! kubectl get {kind} {name} -n {namespace} >/dev/null 2>&1; then\n  kubectl apply -f {stable}\n  {ready}\nfi"
        ));
    }
    lines.push(format!("kubectl apply -f {file}"));
    lines.join("\n")
}

/// `flavor="argo-rollouts"`: the controller walks shadow, steps, holds and analysis.
/// The pipeline applies the managed routes and the Rollout (created from the stable
/// release first), waits on the controller, promotes a manual blue-green behind the
/// environment's approval, and aborts it on failure (then reverts the template to
/// stable, which Argo rolls back to at once: argo-rollouts
/// `pkg/kubectl-argo-rollouts/cmd/abort`).
fn argo_driven(cx: &Context<'_>, d: &Deployment<'_>, needs: Vec<String>) -> (Vec<Job>, String) {
    let env = d.environment.name.clone();
    let model = &d.model.name;
    let name = shell_word(model).into_owned();
    let namespace = shell_word(d.namespace()).into_owned();
    let mut deploy = release_job(
        d,
        format!("deploy-{env}"),
        format!("deploy {model} to {env}"),
        needs,
    );
    let mut run = Vec::new();
    if cx.project.has_target(TargetKind::Istio) {
        // Client-side apply: a three-way merge leaves the weights the controller set
        // on the managed route as they are.
        let layout =
            crate::target::registry::target(TargetKind::Istio).layout(Driver::ArgoRollouts);
        run.push(format!(
            "kubectl apply -f {}",
            generated(&layout.deployment_path(d))
        ));
    }
    run.push(bootstrap_then_apply(
        d,
        "rollout",
        &format!("kubectl argo rollouts status {name} -n {namespace} --timeout 15m"),
    ));
    deploy.scripts.push(Script {
        name: "Apply the routes and the Rollout".into(),
        run: run.join("\n"),
        env: vec![],
    });
    let hold = total_hold(d);
    let manual = matches!(
        d.deploy.candidate(),
        Some(Candidate::BlueGreen(b)) if b.promote.unwrap_or_default() == Promote::Manual
    );
    let mut wait = release_job(
        d,
        format!("rollout-{env}"),
        format!("wait on Argo Rollouts for {model} in {env}"),
        vec![deploy.id.clone()],
    );
    let timeout = hold + MARGIN_SECONDS;
    wait.timeout_minutes = timeout / 60 + 5;
    wait.scripts.push(Script {
        name: if manual {
            "Wait for the preview to pause for promotion".into()
        } else {
            "Wait until the Rollout is healthy".into()
        },
        // `status` ends on Healthy (0) or Degraded (1) and keeps waiting while Paused
        // (argo-rollouts `pkg/kubectl-argo-rollouts/cmd/status/status.go`), so a
        // manual promotion waits for the Paused phase instead.
        run: if manual {
            format!(
                "kubectl wait rollout/{name} -n {namespace} --for=jsonpath='{{.status.phase}}'=Paused --timeout={timeout}s"
            )
        } else {
            format!("kubectl argo rollouts status {name} -n {namespace} --timeout {timeout}s")
        },
        env: vec![],
    });
    let mut stage_jobs = vec![deploy.id.clone(), wait.id.clone()];
    let mut last = wait.id.clone();
    let mut jobs = vec![deploy, wait];
    if manual {
        let mut promote = release_job(
            d,
            format!("promote-{env}"),
            format!("promote {model} in {env}"),
            vec![last.clone()],
        );
        promote.manual = true;
        promote.scripts.push(Script {
            name: "Promote the preview".into(),
            run: format!(
                "kubectl argo rollouts promote {name} -n {namespace}\nkubectl argo rollouts status {name} -n {namespace} --timeout 30m"
            ),
            env: vec![],
        });
        last = promote.id.clone();
        stage_jobs.push(promote.id.clone());
        jobs.push(promote);
    }
    if d.deploy.candidate().is_none() {
        return (jobs, last);
    }
    let (_, stable) = kubernetes_files(d);
    let mut abort = format!("kubectl argo rollouts abort {name} -n {namespace}");
    if let Some(stable) = stable {
        abort.push_str(&format!(
            "\nkubectl apply -f {stable}\nkubectl argo rollouts status {name} -n {namespace} --timeout 15m"
        ));
    }
    let advice = format!(
        "The cluster runs the stable release again; revert the configuration too: modelops rollback {model} --env {env}"
    );
    abort.push_str(&format!("\necho {}", shell_word(&advice)));
    jobs.push(Job {
        id: format!("rollback-{env}"),
        title: format!("rollback {model} in {env}"),
        trigger: Trigger::OnFailure,
        needs: stage_jobs,
        environment: Some(env.clone()),
        manual: false,
        timeout_minutes: 20,
        scripts: vec![
            install(),
            Script {
                name: "Abort the Rollout".into(),
                run: abort,
                env: vec![],
            },
        ],
    });
    (jobs, last)
}

/// A JSON payload naming a Flagger canary, for the load tester's gates.
#[derive(serde::Serialize)]
struct GatePayload<'a> {
    name: &'a str,
    namespace: &'a str,
}

/// `flavor="flagger"`: the `Canary` walks the analysis; the pipeline applies it
/// (created from the stable release first), holds each step whose pause is longer
/// than the analysis interval by opening the load tester's gate only when the
/// pause is over, opens the promotion gate of a manual blue-green behind the
/// environment's approval, and opens the rollback gate on failure.
fn flagger_driven(cx: &Context<'_>, d: &Deployment<'_>, needs: Vec<String>) -> (Vec<Job>, String) {
    let env = d.environment.name.clone();
    let model = &d.model.name;
    let name = shell_word(model).into_owned();
    let namespace = shell_word(d.namespace()).into_owned();
    let target = cx
        .project
        .target
        .values()
        .find(|t| t.kind == TargetKind::Kubernetes);
    let gates = target
        .map(|t| crate::target::kubernetes::loadtester(t, d))
        .unwrap_or_default();
    let interval = crate::target::kubernetes::analysis_interval(d);
    let payload = crate::target::to_value(&GatePayload {
        name: model,
        namespace: d.namespace(),
    })
    .to_string();
    let gate_env = vec![
        ("MODELOPS_GATES".to_owned(), EnvValue::Literal(gates)),
        ("MODELOPS_CANARY".to_owned(), EnvValue::Literal(payload)),
    ];
    let post = |path: &str| {
        format!(
            "curl -fsS -X POST -H 'Content-Type: application/json' --data \"$MODELOPS_CANARY\" \"$MODELOPS_GATES/{path}\""
        )
    };
    let phase = |phase: &str, timeout: u64| {
        format!(
            "kubectl wait canary/{name} -n {namespace} --for=jsonpath='{{.status.phase}}'={phase} --timeout={timeout}s"
        )
    };
    let mut deploy = release_job(
        d,
        format!("deploy-{env}"),
        format!("deploy {model} to {env}"),
        needs,
    );
    deploy.scripts.push(Script {
        name: "Apply the Canary".into(),
        run: bootstrap_then_apply(
            d,
            "canary",
            &format!(
                "kubectl wait canary/{name} -n {namespace} --for=condition=Promoted --timeout=15m"
            ),
        ),
        env: vec![],
    });
    let mut stage_jobs = vec![deploy.id.clone()];
    let mut last = deploy.id.clone();
    let mut jobs = vec![deploy];
    let detect = interval.as_secs() * 2 + 300;
    let mut steps: Vec<(u8, Option<crate::model::Duration>)> = Vec::new();
    let mut gated = false;
    let mut manual = false;
    match d.deploy.candidate() {
        Some(Candidate::Canary(canary)) => {
            gated = canary
                .step
                .iter()
                .any(|s| s.pause.is_some_and(|p| p > interval));
            steps = canary.step.iter().map(|s| (s.weight, s.pause)).collect();
        }
        Some(Candidate::BlueGreen(blue_green)) => {
            manual = blue_green.promote.unwrap_or_default() == Promote::Manual;
        }
        None => {}
    }
    let mut wait = release_job(
        d,
        format!("rollout-{env}"),
        format!("wait on Flagger for {model} in {env}"),
        vec![last.clone()],
    );
    let timeout = total_hold(d) + MARGIN_SECONDS;
    wait.timeout_minutes = timeout / 60 + 5;
    let mut run = Vec::new();
    if d.deploy.candidate().is_some() {
        run.push(phase("Progressing", detect));
    }
    if gated {
        // Each step: let Flagger take it, shut the gate behind it, hold the pause.
        for (weight, pause) in &steps {
            run.push(post("gate/open"));
            if *weight >= 100 {
                run.push(phase("Succeeded", timeout));
            } else {
                run.push(format!(
                    "kubectl wait canary/{name} -n {namespace} --for=jsonpath='{{.status.canaryWeight}}'={weight} --timeout={detect}s"
                ));
            }
            run.push(post("gate/close"));
            if let Some(pause) = pause.filter(|p| *p > interval) {
                run.push(format!("sleep {}", pause.as_secs()));
            }
        }
    } else if manual {
        run.push(phase("WaitingPromotion", timeout));
    } else {
        run.push(phase("Succeeded", timeout));
    }
    wait.scripts.push(Script {
        name: if gated {
            "Hold each step, then open the gate".into()
        } else {
            "Wait on the Canary".into()
        },
        run: run.join("\n"),
        env: gate_env.clone(),
    });
    last = wait.id.clone();
    stage_jobs.push(wait.id.clone());
    jobs.push(wait);
    if manual {
        let mut promote = release_job(
            d,
            format!("promote-{env}"),
            format!("promote {model} in {env}"),
            vec![last.clone()],
        );
        promote.manual = true;
        promote.scripts.push(Script {
            name: "Open the promotion gate".into(),
            run: [
                post("gate/open"),
                phase("Succeeded", MARGIN_SECONDS),
                post("gate/close"),
            ]
            .join("\n"),
            env: gate_env.clone(),
        });
        last = promote.id.clone();
        stage_jobs.push(promote.id.clone());
        jobs.push(promote);
    }
    if d.deploy.candidate().is_none() {
        return (jobs, last);
    }
    jobs.push(Job {
        id: format!("rollback-{env}"),
        title: format!("rollback {model} in {env}"),
        trigger: Trigger::OnFailure,
        needs: stage_jobs,
        environment: Some(env.clone()),
        manual: false,
        timeout_minutes: 20,
        scripts: vec![
            install(),
            Script {
                name: "Open the rollback gate".into(),
                run: [
                    post("gate/close"),
                    post("rollback/open"),
                    phase("Failed", detect),
                    post("rollback/close"),
                ]
                .join("\n"),
                env: gate_env,
            },
        ],
    });
    (jobs, last)
}
