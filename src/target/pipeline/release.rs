//! The default-branch jobs of one deployment, by who moves its traffic.
//!
//! - **pipeline** (`flavor="deployment"`): `deploy` applies the workloads, waits
//!   until every track rolled out, then applies the `stable` traffic state and
//!   retires an unused candidate track; each stage is a job that applies its
//!   traffic state with `modelops apply` and holds with `modelops guard --watch`;
//!   the approval sits before the first live traffic (a blue-green's after its
//!   preview); `rollback` applies `stable`.
//! - **argo-rollouts**: `deploy` creates the Rollout from the stable release when
//!   the cluster has none, then applies the desired state; the Rollout pauses
//!   (`pause: {}`) before its first weight, so `shadow` waits for that step, the
//!   approval follows, and `promote` resumes the controller and waits until it is
//!   healthy; `rollback` aborts and reverts the template.
//! - **flagger**: `deploy` bootstraps the same way; the Canary waits at the load
//!   tester's gate (`confirm-rollout`) until the approval opens it, and at each
//!   step (`confirm-traffic-increase`) until the pipeline's hold is over;
//!   `rollback` opens the rollback gate.
//!
//! No job applies a traffic state under a controller.

use super::{EnvValue, Job, Kind, Script, Trigger, modelops, shell_word, smoke_script};
use crate::model::target::Driver;
use crate::model::{Candidate, Duration, Promote, TargetKind};
use crate::target::traffic;
use crate::target::{Context, Deployment};

/// Minutes a job needs beyond its hold: tools, applying, checking.
const MARGIN_MINUTES: u64 = crate::rules::JOB_MARGIN.millis / 60_000;

fn minutes(duration: Duration) -> u64 {
    duration.millis.div_ceil(60_000)
}

/// A job acting on the deployment's environment.
fn env_job(d: &Deployment<'_>, stage: &str, title: String) -> Job {
    let mut job = Job::new(
        format!("{stage}-{}", d.environment.name),
        title,
        Trigger::DefaultBranch,
    );
    job.environment = Some(d.environment.name.clone());
    job.kubectl = true;
    job
}

fn apply(d: &Deployment<'_>, state: &str) -> String {
    modelops(&[
        "apply",
        &d.model.name,
        "--env",
        &d.environment.name,
        "--state",
        state,
    ])
}

/// Holds for `duration`: watching the guards when the deployment has any, else a
/// plain wait.
fn hold(d: &Deployment<'_>, duration: Duration) -> Script {
    if d.deploy.guard.is_empty() {
        return Script::new(
            format!("Hold for {duration}"),
            format!("sleep {}", duration.as_secs()),
        );
    }
    Script::new(
        format!("Hold for {duration}, watching the guards"),
        format!(
            "{} --prometheus \"$MODELOPS_PROMETHEUS_URL\" --watch {}",
            modelops(&["guard", &d.model.name, "--env", &d.environment.name]),
            shell_word(&duration.to_string())
        ),
    )
    .with_env(
        "MODELOPS_PROMETHEUS_URL",
        EnvValue::Variable("MODELOPS_PROMETHEUS_URL".into()),
    )
}

/// One reading of the guards, when there are any.
fn guard_once(d: &Deployment<'_>) -> Option<Script> {
    (!d.deploy.guard.is_empty()).then(|| {
        Script::new(
            "Guards",
            format!(
                "{} --prometheus \"$MODELOPS_PROMETHEUS_URL\"",
                modelops(&["guard", &d.model.name, "--env", &d.environment.name])
            ),
        )
        .with_env(
            "MODELOPS_PROMETHEUS_URL",
            EnvValue::Variable("MODELOPS_PROMETHEUS_URL".into()),
        )
    })
}

fn approval(d: &Deployment<'_>, person: bool, needs: &str) -> Job {
    let env = &d.environment.name;
    let mut job = Job::new(
        format!("approve-{env}"),
        if person {
            format!("approve the switch of {} in {env}", d.model.name)
        } else {
            format!("approve live traffic for {} in {env}", d.model.name)
        },
        Trigger::DefaultBranch,
    );
    job.kind = Kind::Approval { person };
    job.environment = Some(env.clone());
    job.needs = vec![needs.to_owned()];
    job.timeout_minutes = 5;
    job.scripts.push(Script::new(
        "Approved",
        format!("echo {}", shell_word(&format!("approved: {}", job.title))),
    ));
    job
}

fn rollback(d: &Deployment<'_>, needs: Vec<String>, scripts: Vec<Script>, argo: bool) -> Job {
    let mut job = env_job(
        d,
        "rollback",
        format!("rollback {} in {}", d.model.name, d.environment.name),
    );
    job.kind = Kind::Rollback;
    job.needs = needs;
    job.argo = argo;
    job.timeout_minutes = 20;
    job.scripts = scripts;
    job
}

/// Chains jobs: each needs the one before.
struct Chain {
    jobs: Vec<Job>,
    last: String,
}

impl Chain {
    fn start(mut first: Job, needs: Vec<String>) -> Self {
        first.needs = needs;
        Chain {
            last: first.id.clone(),
            jobs: vec![first],
        }
    }

    fn push(&mut self, mut job: Job) {
        if job.needs.is_empty() {
            job.needs = vec![self.last.clone()];
        }
        self.last = job.id.clone();
        self.jobs.push(job);
    }

    /// Every job of the chain, for a rollback's `needs`.
    fn ids(&self) -> Vec<String> {
        self.jobs.iter().map(|j| j.id.clone()).collect()
    }
}

/// The release jobs of one deployment, and the id of the last (the next
/// environment follows it).
pub fn jobs(cx: &Context<'_>, d: &Deployment<'_>, needs: Vec<String>) -> (Vec<Job>, String) {
    let chain = match cx.project.driver() {
        Driver::Pipeline => pipeline_driven(cx, d, needs),
        Driver::ArgoRollouts => argo_driven(cx, d, needs),
        Driver::Flagger => flagger_driven(cx, d, needs),
    };
    (chain.jobs, chain.last)
}

fn smoke_job(d: &Deployment<'_>) -> Option<Job> {
    let script = smoke_script(d)?;
    let mut job = env_job(
        d,
        "smoke",
        format!("smoke {} in {}", d.model.name, d.environment.name),
    );
    job.kubectl = false;
    job.timeout_minutes = 15;
    job.scripts.push(script);
    Some(job)
}

/// A controller's blue-green: the job that waits out the preview, the smoke
/// requests against the preview, then the approval of the switch (a person's for
/// `promote "manual"`).
fn preview_then_approval(
    chain: &mut Chain,
    d: &Deployment<'_>,
    wait: Job,
    blue_green: &crate::model::BlueGreen,
) {
    chain.push(wait);
    if let Some(smoke) = smoke_job(d) {
        chain.push(smoke);
    }
    let person = blue_green.promote.unwrap_or_default() == Promote::Manual;
    chain.push(approval(d, person, &chain.last));
}

/// `flavor="deployment"`: the pipeline walks the traffic states.
fn pipeline_driven(cx: &Context<'_>, d: &Deployment<'_>, needs: Vec<String>) -> Chain {
    let env = d.environment.name.clone();
    let model = &d.model.name;
    let namespace = shell_word(d.namespace()).into_owned();
    let kubernetes = cx.project.has_target(TargetKind::Kubernetes);
    let has_states = cx
        .project
        .target
        .values()
        .any(|t| t.kind.capabilities().routes_traffic);
    let mut deploy = env_job(d, "deploy", format!("deploy {model} to {env}"));
    deploy.kubectl = kubernetes;
    if kubernetes {
        let rollouts: Vec<String> = traffic::tracks(d)
            .into_iter()
            .map(|track| {
                format!(
                    "kubectl rollout status deployment/{} -n {namespace} --timeout=15m",
                    shell_word(&format!("{model}-{track}"))
                )
            })
            .collect();
        deploy.scripts.push(Script::new(
            "Apply the workloads and wait until every track rolled out",
            format!("{}\n{}", apply(d, "base"), rollouts.join("\n")),
        ));
    }
    if has_states {
        deploy
            .scripts
            .push(Script::new("Route traffic to stable", apply(d, "stable")));
    }
    if kubernetes && d.deploy.candidate().is_none() {
        deploy.scripts.push(Script::new(
            "Retire the candidate tracks",
            format!(
                "kubectl delete deployment,service -n {namespace} --ignore-not-found {} {}",
                shell_word(&format!("{model}-canary")),
                shell_word(&format!("{model}-preview"))
            ),
        ));
    }
    let mut chain = Chain::start(deploy, needs);
    let Some(candidate) = d.deploy.candidate() else {
        return chain;
    };
    if let Some(smoke) = smoke_job(d) {
        chain.push(smoke);
    }
    // A cancelled stage must not leave traffic on the candidate.
    let back_to_stable =
        has_states.then(|| Script::new("Route traffic back to stable", apply(d, "stable")));
    let stage = |name: &str, state: Option<&str>, held: Option<Duration>| {
        let mut job = env_job(d, name, format!("{name} {model} in {env}"));
        job.kubectl = kubernetes;
        if let Some(state) = state.filter(|_| has_states) {
            job.scripts.push(Script::new(
                format!("Apply traffic state {state}"),
                apply(d, state),
            ));
        }
        match held {
            Some(duration) => {
                job.scripts.push(hold(d, duration));
                job.timeout_minutes = minutes(duration) + MARGIN_MINUTES;
            }
            None => job.scripts.extend(guard_once(d)),
        }
        job.on_cancel = back_to_stable.clone();
        job
    };
    if let Some(shadow) = candidate.shadow() {
        chain.push(stage("shadow", Some("shadow"), Some(shadow.duration)));
    }
    match candidate {
        Candidate::Canary(canary) => {
            chain.push(approval(d, false, &chain.last));
            for step in &canary.step {
                let name = format!("step-{}", step.weight);
                chain.push(stage(&name, Some(&name), step.pause));
            }
        }
        Candidate::BlueGreen(blue_green) => {
            if let Some(preview) = blue_green.preview {
                // The preview track answers smoke and eval traffic only; the
                // guards watch it before anyone approves the switch.
                chain.push(stage("preview", None, Some(preview)));
            }
            let person = blue_green.promote.unwrap_or_default() == Promote::Manual;
            chain.push(approval(d, person, &chain.last));
        }
    }
    chain.push(stage("promote", Some("promoted"), None));
    let mut scripts = Vec::new();
    scripts.extend(back_to_stable.clone());
    if scripts.is_empty() {
        return chain;
    }
    let rollback = rollback(d, chain.ids(), scripts, false);
    chain.jobs.push(rollback);
    chain
}

/// Creates the workload from the stable release when the cluster has none (a
/// controller skips every step of a first creation), then applies the desired state.
fn bootstrap_then_apply(d: &Deployment<'_>, kind: &str, ready: &str) -> String {
    let name = shell_word(&d.model.name);
    let namespace = shell_word(d.namespace());
    let mut lines = Vec::new();
    if d.deploy.candidate().is_some() && d.deploy.stable.is_some() {
        lines.push(format!(
            "if ! kubectl get {kind} {name} -n {namespace} >/dev/null 2>&1; then\n  {}\n  {ready}\nfi",
            apply(d, "stable-base")
        ));
    }
    lines.push(apply(d, "base"));
    lines.join("\n")
}

/// `flavor="argo-rollouts"`: the controller walks the rollout; the pipeline applies,
/// waits on it, approves and promotes, or aborts.
fn argo_driven(cx: &Context<'_>, d: &Deployment<'_>, needs: Vec<String>) -> Chain {
    let env = d.environment.name.clone();
    let model = &d.model.name;
    let name = shell_word(model).into_owned();
    let namespace = shell_word(d.namespace()).into_owned();
    let mesh = cx.project.mesh().is_some();
    let status = |minutes: u64| {
        format!("kubectl argo rollouts status {name} -n {namespace} --timeout {minutes}m")
    };
    // A job that waits, for up to `hold` minutes and the margin, until the Rollout's
    // status reads `condition` (a jsonpath, then `'=` and the value).
    let rollout_wait = |mut job: Job, hold: u64, step: &str, condition: &str| {
        job.timeout_minutes = hold + MARGIN_MINUTES;
        job.scripts.push(Script::new(
            step,
            format!(
                "kubectl wait rollout/{name} -n {namespace} --for=jsonpath='{condition} --timeout={}m",
                hold + MARGIN_MINUTES - 5
            ),
        ));
        job
    };
    let mut deploy = env_job(d, "deploy", format!("deploy {model} to {env}"));
    deploy.argo = true;
    deploy.scripts.push(Script::new(
        "Apply the routes and the Rollout",
        bootstrap_then_apply(d, "rollout", &status(15)),
    ));
    let mut chain = Chain::start(deploy, needs);
    let Some(candidate) = d.deploy.candidate() else {
        let mut wait = env_job(
            d,
            "rollout",
            format!("wait on Argo Rollouts for {model} in {env}"),
        );
        wait.argo = true;
        wait.scripts
            .push(Script::new("Wait until the Rollout is healthy", status(15)));
        chain.push(wait);
        return chain;
    };
    let mut steps_total = Duration::from_millis(0);
    match candidate {
        Candidate::Canary(canary) => {
            steps_total.millis = canary
                .step
                .iter()
                .filter_map(|s| s.pause)
                .map(|p| p.millis)
                .sum();
            if let Some(index) = crate::target::kubernetes::argo_approval_step(d, cx.project.mesh())
            {
                let shadow = canary.shadow.as_ref().map_or(0, |s| minutes(s.duration));
                let wait = rollout_wait(
                    env_job(d, "shadow", format!("shadow {model} in {env}")),
                    shadow,
                    "Wait for the Rollout's approval pause",
                    &format!("{{.status.currentStepIndex}}'={index}"),
                );
                chain.push(wait);
                // With traffic routing the candidate has pods at the pause.
                if mesh && let Some(smoke) = smoke_job(d) {
                    chain.push(smoke);
                }
                chain.push(approval(d, false, &chain.last));
            }
        }
        Candidate::BlueGreen(blue_green) => {
            let preview = blue_green.preview.map_or(0, minutes);
            let mut wait = env_job(d, "preview", format!("preview {model} in {env}"));
            wait.argo = true;
            // The controller pauses once the preview is up and its analysis passed.
            let wait = rollout_wait(
                wait,
                preview,
                "Wait until the preview passed its analysis",
                "{.status.phase}'=Paused",
            );
            preview_then_approval(&mut chain, d, wait, blue_green);
        }
    }
    let mut promote = env_job(d, "promote", format!("promote {model} in {env}"));
    promote.argo = true;
    promote.timeout_minutes = minutes(steps_total) + MARGIN_MINUTES;
    promote.scripts.push(Script::new(
        "Resume the Rollout and wait until it is healthy",
        format!(
            "kubectl argo rollouts promote {name} -n {namespace}\n{}",
            status(minutes(steps_total) + MARGIN_MINUTES - 5)
        ),
    ));
    chain.push(promote);
    if !mesh && matches!(candidate, Candidate::Canary(_)) {
        // Without traffic routing the canary has no pod before its first weight.
        if let Some(smoke) = smoke_job(d) {
            chain.push(smoke);
        }
    }
    let advice = format!(
        "The cluster runs the stable release again; revert the configuration too: modelops rollback {model} --env {env}"
    );
    let abort = Script::new(
        "Abort the Rollout and revert its template",
        format!(
            "kubectl argo rollouts abort {name} -n {namespace}\n{}\n{}\necho {}",
            apply(d, "stable-base"),
            status(15),
            shell_word(&advice)
        ),
    );
    let rollback = rollback(d, chain.ids(), vec![abort], true);
    chain.jobs.push(rollback);
    chain
}

/// A JSON payload naming a Flagger canary, for the load tester's gates.
#[derive(serde::Serialize)]
struct GatePayload<'a> {
    name: &'a str,
    namespace: &'a str,
}

/// `flavor="flagger"`: the Canary walks the analysis; the pipeline opens the load
/// tester's gates: after the approval, and after each step's hold.
fn flagger_driven(cx: &Context<'_>, d: &Deployment<'_>, needs: Vec<String>) -> Chain {
    let env = d.environment.name.clone();
    let model = &d.model.name;
    let name = shell_word(model).into_owned();
    let namespace = shell_word(d.namespace()).into_owned();
    let gates = cx
        .project
        .target
        .values()
        .find(|t| t.kind == TargetKind::Kubernetes)
        .map(|t| crate::target::kubernetes::loadtester(t, d))
        .unwrap_or_default();
    let interval = crate::target::kubernetes::analysis_interval(d);
    let payload = crate::target::to_value(&GatePayload {
        name: model,
        namespace: d.namespace(),
    })
    .to_string();
    let gated = |script: Script| {
        script
            .with_env("MODELOPS_GATES", EnvValue::Literal(gates.clone()))
            .with_env("MODELOPS_CANARY", EnvValue::Literal(payload.clone()))
    };
    let post = |path: &str| {
        format!(
            "curl -fsS -X POST -H 'Content-Type: application/json' --data \"$MODELOPS_CANARY\" \"$MODELOPS_GATES/{path}\""
        )
    };
    let phase = |phase: &str, minutes: u64| {
        format!(
            "kubectl wait canary/{name} -n {namespace} --for=jsonpath='{{.status.phase}}'={phase} --timeout={minutes}m"
        )
    };
    let detect = minutes(interval) * 2 + 5;
    let mut deploy = env_job(d, "deploy", format!("deploy {model} to {env}"));
    deploy.scripts.push(Script::new(
        "Apply the Canary",
        bootstrap_then_apply(
            d,
            "canary",
            &format!(
                "kubectl wait canary/{name} -n {namespace} --for=condition=Promoted --timeout=15m"
            ),
        ),
    ));
    let mut chain = Chain::start(deploy, needs);
    let Some(candidate) = d.deploy.candidate() else {
        let mut wait = env_job(
            d,
            "rollout",
            format!("wait on Flagger for {model} in {env}"),
        );
        wait.scripts.push(Script::new(
            "Wait until the Canary succeeded",
            phase("Succeeded", 15),
        ));
        chain.push(wait);
        return chain;
    };
    match candidate {
        Candidate::Canary(canary) => {
            chain.push(approval(d, false, &chain.last));
            let mut steps = env_job(d, "steps", format!("canary steps of {model} in {env}"));
            let mut lines = vec![
                // The approval opens the rollout (`confirm-rollout`) …
                post("gate/open"),
                phase("Progressing", detect),
                post("gate/close"),
            ];
            let mut total = 0;
            for step in &canary.step {
                // … and each step's gate (`confirm-traffic-increase`) opens once
                // the hold before it is over.
                lines.push(post("gate/open"));
                if step.weight >= 100 {
                    lines.push(phase("Succeeded", detect + 15));
                } else {
                    lines.push(format!(
                        "kubectl wait canary/{name} -n {namespace} --for=jsonpath='{{.status.canaryWeight}}'={} --timeout={detect}m",
                        step.weight
                    ));
                }
                lines.push(post("gate/close"));
                if let Some(pause) = step.pause {
                    lines.push(format!("sleep {}", pause.as_secs()));
                    total += minutes(pause);
                }
            }
            steps.timeout_minutes =
                total + detect * (canary.step.len() as u64 + 1) + MARGIN_MINUTES;
            steps.scripts.push(gated(Script::new(
                "Open each step's gate after its hold",
                lines.join("\n"),
            )));
            chain.push(steps);
        }
        Candidate::BlueGreen(blue_green) => {
            let window = blue_green
                .preview
                .into_iter()
                .chain(blue_green.shadow.as_ref().map(|s| s.duration))
                .max()
                .map_or(0, minutes);
            let mut wait = env_job(d, "preview", format!("preview {model} in {env}"));
            wait.timeout_minutes = window + MARGIN_MINUTES;
            wait.scripts.push(Script::new(
                "Wait until the preview iterations are done",
                phase("WaitingPromotion", window + MARGIN_MINUTES - 5),
            ));
            preview_then_approval(&mut chain, d, wait, blue_green);
            let mut promote = env_job(d, "promote", format!("promote {model} in {env}"));
            promote.scripts.push(gated(Script::new(
                "Open the promotion gate",
                [
                    post("gate/open"),
                    phase("Succeeded", 25),
                    post("gate/close"),
                ]
                .join("\n"),
            )));
            chain.push(promote);
        }
    }
    let abort = gated(Script::new(
        "Open the rollback gate",
        [
            post("gate/close"),
            post("rollback/open"),
            phase("Failed", detect),
            post("rollback/close"),
        ]
        .join("\n"),
    ));
    let rollback = rollback(d, chain.ids(), vec![abort], false);
    chain.jobs.push(rollback);
    chain
}
