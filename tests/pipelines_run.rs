//! The generated pipelines, run — not only linted.
//!
//! GitLab: `gitlab-ci-local` (npm) runs `generated/gitlab-ci/<model>.yml` with its
//! shell executor in a temporary git repository: a copy of the example (or of
//! `modelops init`'s scaffold with a `gitlab-ci` target added), compiled by the binary
//! under test, committed on `main`; then a change to `models/<model>.kdl` committed
//! on `main` (a push) or on a branch (a merge request). The remote `origin` is a
//! local bare repository whose `main` is the commit before the change, so
//! `origin/main` names it, `git fetch origin main` in a job works, and
//! `rules: changes` sees exactly the change; `gcl-origin`, the remote gitlab-ci-local
//! reads first, has a GitLab URL it derives the project's variables from.
//!
//! Recording stand-ins come first on PATH (`tests/pipeline/shim.sh`: kubectl, the
//! Argo Rollouts plugin, nginx, envoy, systemctl, curl, cargo, sleep, git); each
//! appends its argv, with the job's name and KUBECONFIG, to a log the assertions
//! read. `cargo install … modelops` puts, where the install job asks
//! (`--root .modelops`), a wrapper that records each `modelops` call and runs the
//! binary under test; the other jobs get it as the install job's artifact (without
//! it they find no `modelops`). `sleep` returns at
//! once; curl reaches only loopback; the harness's copy of the example points the
//! `path=` of the nginx, envoy and litellm targets at a temporary folder, where
//! `modelops apply` installs their files. The harness serves a fake Prometheus, whose
//! answers turn breached once a chosen traffic state is applied, and a fake
//! OpenAI-compatible model for the smoke requests and for the real `evals/run.py`
//! (`MODELOPS_PROVIDER_URL`).
//!
//! Time compression (test side only): `modelops guard --watch 2h` holds its job in
//! real time. The recording wrapper logs the duration the pipeline asked for, then
//! runs the binary under test with `--watch` [`WATCH`] and
//! `MODELOPS_WATCH_INTERVAL_MS` [`WATCH_INTERVAL_MS`] (see shim.sh); the assertions
//! read the durations asked for. `sleep` likewise returns at once.
//!
//! The invocation (see [`Sandbox::gitlab_ci_local`]):
//!
//! ```text
//! node --require tests/pipeline/set-methods.cjs $NODE_PATH/gitlab-ci-local/dist/index.js \
//!   --file .gitlab-ci-local/run-<model>.yml --force-shell-executor --shell-isolation \
//!   --no-color --home <empty dir> --ignore-predefined-vars <the CI_* we set> \
//!   --variable KEY=VALUE … [--unset-variable CI_COMMIT_BRANCH] [--manual JOB …]
//! ```
//!
//! (`set-methods.cjs` gives Node 20 the ES2025 Set methods the bundle calls while it
//! loads; Node ≥ 22 has them.) `run-<model>.yml` is the generated pipeline without
//! its `image:` keys (see below). The first run of a sandbox validates the file
//! against GitLab's schema (gitlab-ci-local's own check); the runs after it, of the
//! same or a derived file, pass `--json-schema-validation=false`. A push to the default branch is the repository on
//! `main` with `CI_PIPELINE_SOURCE=push`; a merge request is a branch with
//! `CI_PIPELINE_SOURCE=merge_request_event`, `CI_MERGE_REQUEST_TARGET_BRANCH_NAME`
//! and no `CI_COMMIT_BRANCH` (as GitLab sets them).
//!
//! What gitlab-ci-local (4.75) does NOT emulate, so these tests cannot catch it:
//! - The runner's checkout. With `--shell-isolation` a job runs in a copy of the
//!   tracked files under `.gitlab-ci-local/builds/<job>/`, inside the test
//!   repository, so git in a job finds that repository and every ref of it. A
//!   GitLab runner makes a shallow clone (GIT_DEPTH 20 by default; the check job
//!   asks for 0, which the test reads from the file) that, in a merge-request
//!   pipeline, has no `origin/<target branch>` until the job fetches it.
//! - `image:`. `--force-shell-executor` runs every job on this machine, with its
//!   tools (bash, git, python3, curl); what the job's image contains is not checked.
//!   Worse, a job with an image gets `CI_PROJECT_DIR=/builds/<group>/<project>` even
//!   under the shell executor, not its build folder, so `$CI_PROJECT_DIR/.modelops/bin`
//!   would name nothing: the harness runs a copy of the pipeline without `image:`.
//! - `rules: changes` compares the working tree with `origin/<default branch>`
//!   (`git diff --name-only origin/main`), not with the push's previous commit or
//!   the merge request's merge base.
//! - Pipeline sources and merge requests. There is no GitLab: the push/merge-request
//!   distinction is only the `CI_*` variables passed; no merged-results or detached
//!   refs, no `CI_MERGE_REQUEST_*` beyond what is passed. An unset variable
//!   expands to the empty string.
//! - `needs` on a job that never started: a job skipped because an earlier one
//!   failed is never "finished", so a job that needs it never starts. GitLab starts
//!   a `when: on_failure` job once its needs are complete (passed, failed or skipped)
//!   and one failed, so after a failed stage gitlab-ci-local never runs the
//!   rollback. [`Sandbox::start_on_failure_jobs`] stands in for that rule.
//! - `when: manual`: no blocked pipeline and no button. A manual job runs only when
//!   named with `--manual`, and a job that needs a manual job not named there aborts
//!   the whole run ("… is when:manual, its needed by …, and not specified in
//!   --manual"). `allow_failure: false` (a blocking manual job) is read from the file.
//! - `environment`: only the `CI_ENVIRONMENT_*` variables. No deployments, no
//!   protected environments or approvals, no environment-scoped variables, no
//!   `on_stop`/`auto_stop_in`.
//! - `resource_group`, `interruptible`, auto-cancelling, cancelling a job (so no
//!   `after_script` with `CI_JOB_STATUS=canceled`) and pipelines running at the same
//!   time: ignored (one pipeline runs at a time here anyway).
//! - `timeout`: ignored, a job runs as long as it runs. The harness checks the holds
//!   a job asks for (`sleep`, `--watch`, `kubectl wait --timeout`) against its
//!   timeout itself.
//! - `retry`, `services`, protected/masked/file variables (a kubeconfig variable is
//!   passed as the path of a file), `CI_JOB_TOKEN`, registries.
//! - Artifacts and cache are folders under `.gitlab-ci-local/` handed on along
//!   `needs`/`dependencies` (with `--shell-isolation`); `expire_in`, `reports`
//!   (except dotenv) and `artifacts:when` are not emulated.
//!
//! GitHub: every generated workflow, and `modelops init`'s scaffold, is parsed and
//! converted by GitHub's own `@actions/workflow-parser`
//! (`tests/pipeline/workflow-parser.mjs`, with the JSON import hooks in
//! `json-hooks.mjs`).
//!
//! Needs `node` with the `gitlab-ci-local` and `@actions/workflow-parser` packages
//! (NODE_PATH), `git`, `rsync`, `bash`, `curl` and `python3` (CI installs them; see
//! .ci/run). Elsewhere a missing tool skips the test with a note.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Value, json};
use support::{Git, copy_example, example_repo, external_tool, modelops_in};

// ==================================================================================
// EXPECTATIONS: what today's generated pipelines do. When the pipelines change,
// this block is what to adapt; the harness below it does not know the pipelines.
// ==================================================================================

/// The environments of the example and of the scaffold. A job acting on one takes
/// its cluster credentials from `MODELOPS_KUBECONFIG_<ENV>` (a GitLab file variable:
/// its value is the path of a kubeconfig) as KUBECONFIG.
const ENVIRONMENTS: &[&str] = &["staging", "prod"];

fn kubeconfig_variable(env: &str) -> String {
    format!(
        "MODELOPS_KUBECONFIG_{}",
        env.to_ascii_uppercase().replace('-', "_")
    )
}

/// The job that installs modelops, once per pipeline; every other job gets the
/// binary as its artifact.
fn install_job(model: &str) -> String {
    format!("{model}-modelops")
}

/// Does this call install modelops (`cargo install … --path .`, `--git URL`, or the
/// crate by name)?
fn installs_modelops(call: &Call) -> bool {
    call.tool == "cargo"
        && call.args.first().is_some_and(|a| a == "install")
        && call
            .args
            .iter()
            .any(|a| a == "modelops" || a == "--path" || a == "--git")
}

/// The state a call puts in place: `(env, model, state)`, for
/// `modelops apply MODEL --env ENV --state STATE` (bases included).
fn applied_state(call: &Call) -> Option<(String, String, String)> {
    if call.tool != "modelops" || call.args.first().is_none_or(|a| a != "apply") {
        return None;
    }
    Some((
        flag(&call.args, "--env")?,
        call.args.get(1)?.clone(),
        flag(&call.args, "--state")?,
    ))
}

/// The seconds a call holds its job, as the pipeline asked: `sleep N`,
/// `modelops guard … --watch D` (the duration recorded before the wrapper shortens
/// it).
fn hold_seconds(call: &Call) -> Option<u64> {
    match call.tool.as_str() {
        "sleep" => seconds(call.args.first()?),
        "modelops" if call.args.first().is_some_and(|a| a == "guard") => {
            seconds(&flag(&call.args, "--watch")?)
        }
        _ => None,
    }
}

/// The longest a call may wait on the cluster: `kubectl wait … --timeout=D`,
/// `kubectl argo rollouts status … --timeout D`.
fn wait_seconds(call: &Call) -> Option<u64> {
    let waits = call.tool == "kubectl"
        && (call.args.first().is_some_and(|a| a == "wait")
            || call
                .args
                .starts_with(&["argo".into(), "rollouts".into(), "status".into()]));
    if !waits {
        return None;
    }
    let timeout = flag(&call.args, "--timeout").or_else(|| {
        call.args
            .iter()
            .find_map(|a| a.strip_prefix("--timeout=").map(str::to_owned))
    })?;
    seconds(&timeout)
}

/// Is this call a guard check (`modelops guard MODEL --env ENV …`)?
fn guards(call: &Call, model: &str, env: &str) -> bool {
    call.tool == "modelops"
        && call.args.first().is_some_and(|a| a == "guard")
        && call.args.get(1).is_some_and(|m| m == model)
        && flag(&call.args, "--env").as_deref() == Some(env)
}

/// The pipeline file of a model.
fn pipeline_file(model: &str) -> String {
    format!("generated/gitlab-ci/{model}.yml")
}

/// The targets whose file `modelops apply` installs at the target's `path=`, with
/// the file's extension. The harness's copy of the example points each at
/// `<folder>/<target>-{{environment}}-{{model}}.<ext>` (never `/etc`); after a run
/// the file there is the generated one of the state applied last.
const INSTALLED: &[(&str, &str)] = &[("envoy", "yaml"), ("nginx", "conf"), ("litellm", "yaml")];

/// What `modelops apply` runs for a state, as command lines, in order, right after
/// the recorded `modelops apply`: the example (`flavor="deployment"`; istio, then
/// envoy with `reload="systemctl reload-or-restart envoy"`, nginx, litellm with
/// `reload="systemctl restart litellm"`).
fn example_apply(env: &str, model: &str, state: &str) -> Vec<String> {
    let kubectl = "kubectl apply --server-side --field-manager=modelops -f";
    if state == "base" {
        return vec![format!("{kubectl} generated/kubernetes/{env}/{model}.yaml")];
    }
    vec![
        format!("{kubectl} generated/istio/{env}/{model}/{state}.yaml"),
        format!("envoy --mode validate -c generated/envoy/{env}/{model}/{state}.yaml"),
        "systemctl reload-or-restart envoy".into(),
        "nginx -t".into(),
        "nginx -s reload".into(),
        "systemctl restart litellm".into(),
    ]
}

/// The same for init's scaffold (`flavor="argo-rollouts"`, istio): only the bases,
/// the routes the Rollout manages first.
fn scaffold_apply(env: &str, model: &str, state: &str) -> Vec<String> {
    let kubectl = "kubectl apply --server-side --field-manager=modelops -f";
    let workload = match state {
        "stable-base" => format!("generated/kubernetes/{env}/{model}.stable.yaml"),
        _ => format!("generated/kubernetes/{env}/{model}.yaml"),
    };
    vec![
        format!("{kubectl} generated/istio/{env}/{model}.yaml"),
        format!("{kubectl} {workload}"),
    ]
}

/// Which project a run's repository holds.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Project {
    /// The example (this crate's root), its traffic targets installing into a
    /// temporary folder.
    Example,
    /// `modelops init --name assistants` made ready as its closing line says (see
    /// [`scaffold`]), plus `target "gitlab-ci" job-limit="4h"`.
    Scaffold,
}

/// A push to the default branch whose every guard holds.
struct Push {
    project: Project,
    model: &'static str,
    /// Jobs a person starts (`--manual`).
    manual: &'static [&'static str],
    /// The jobs that run, every one passing, in the order they start (each needs
    /// the one before).
    jobs: &'static [&'static str],
    /// The states `modelops apply` puts in place per environment, in order.
    states: &'static [(&'static str, &'static [&'static str])],
    /// What one apply runs: (env, model, state) → command lines.
    apply: fn(&str, &str, &str) -> Vec<String>,
    /// The calls of some jobs, in order, besides what their applies ran (and
    /// besides curl, whose smoke requests are checked on their own).
    transcripts: &'static [(&'static str, &'static [&'static str])],
    /// The hold of each job that holds, in seconds.
    holds: &'static [(&'static str, u64)],
    /// The jobs that check the guards of `prod`.
    guarded: &'static [&'static str],
    /// The job that sends the smoke requests to the candidate, and how many.
    smoke: (&'static str, usize),
    /// A model whose files did not change: its pipeline runs nothing.
    untouched: Option<&'static str>,
}

const SUPPORT_BOT_PUSH: Push = Push {
    project: Project::Example,
    model: "support-bot",
    manual: &["support-bot-approve-prod"],
    jobs: &[
        "support-bot-modelops",
        "support-bot-deploy-staging",
        "support-bot-deploy-prod",
        "support-bot-smoke-prod",
        "support-bot-shadow-prod",
        "support-bot-approve-prod",
        "support-bot-step-1-prod",
        "support-bot-step-10-prod",
        "support-bot-step-50-prod",
        "support-bot-step-100-prod",
        "support-bot-promote-prod",
    ],
    states: &[
        ("staging", &["base", "stable"]),
        (
            "prod",
            &[
                "base", "stable", "shadow", "step-1", "step-10", "step-50", "step-100", "promoted",
            ],
        ),
    ],
    apply: example_apply,
    transcripts: &[
        (
            "support-bot-deploy-staging",
            &[
                "modelops apply support-bot --env staging --state base",
                "kubectl rollout status deployment/support-bot-stable -n llm-staging --timeout=15m",
                "modelops apply support-bot --env staging --state stable",
                "kubectl delete deployment,service -n llm-staging --ignore-not-found support-bot-canary support-bot-preview",
            ],
        ),
        (
            "support-bot-deploy-prod",
            &[
                "modelops apply support-bot --env prod --state base",
                "kubectl rollout status deployment/support-bot-stable -n llm-prod --timeout=15m",
                "kubectl rollout status deployment/support-bot-canary -n llm-prod --timeout=15m",
                "modelops apply support-bot --env prod --state stable",
            ],
        ),
        ("support-bot-approve-prod", &[]),
    ],
    holds: &[
        ("support-bot-shadow-prod", 7200),
        ("support-bot-step-1-prod", 3600),
        ("support-bot-step-10-prod", 3600),
        ("support-bot-step-50-prod", 3600),
    ],
    guarded: &[
        "support-bot-shadow-prod",
        "support-bot-step-1-prod",
        "support-bot-step-10-prod",
        "support-bot-step-50-prod",
        "support-bot-step-100-prod",
        "support-bot-promote-prod",
    ],
    smoke: ("support-bot-smoke-prod", 1),
    untouched: Some("triage"),
};

const TRIAGE_PUSH: Push = Push {
    project: Project::Example,
    model: "triage",
    // Blue-green with promote "manual": a person approves the switch.
    manual: &["triage-approve-prod"],
    jobs: &[
        "triage-modelops",
        "triage-deploy-staging",
        "triage-deploy-prod",
        "triage-smoke-prod",
        "triage-shadow-prod",
        "triage-preview-prod",
        "triage-approve-prod",
        "triage-promote-prod",
    ],
    states: &[
        ("staging", &["base", "stable"]),
        ("prod", &["base", "stable", "shadow", "promoted"]),
    ],
    apply: example_apply,
    transcripts: &[
        (
            "triage-deploy-prod",
            &[
                "modelops apply triage --env prod --state base",
                "kubectl rollout status deployment/triage-stable -n llm-prod --timeout=15m",
                "kubectl rollout status deployment/triage-preview -n llm-prod --timeout=15m",
                "modelops apply triage --env prod --state stable",
            ],
        ),
        ("triage-approve-prod", &[]),
    ],
    // The shadow's 1h, then the preview's 30m (no traffic state of its own).
    holds: &[("triage-shadow-prod", 3600), ("triage-preview-prod", 1800)],
    guarded: &[
        "triage-shadow-prod",
        "triage-preview-prod",
        "triage-promote-prod",
    ],
    smoke: ("triage-smoke-prod", 2),
    untouched: Some("support-bot"),
};

/// init's scaffold under Argo Rollouts: the controller walks the canary; the jobs
/// apply, wait on it, approve and promote.
const SCAFFOLD_PUSH: Push = Push {
    project: Project::Scaffold,
    model: "assistant",
    manual: &["assistant-approve-prod"],
    jobs: &[
        "assistant-modelops",
        "assistant-deploy-staging",
        "assistant-rollout-staging",
        "assistant-deploy-prod",
        "assistant-shadow-prod",
        "assistant-smoke-prod",
        "assistant-approve-prod",
        "assistant-promote-prod",
    ],
    states: &[("staging", &["base"]), ("prod", &["stable-base", "base"])],
    apply: scaffold_apply,
    transcripts: &[
        (
            "assistant-deploy-staging",
            &["modelops apply assistant --env staging --state base"],
        ),
        (
            "assistant-rollout-staging",
            &["kubectl argo rollouts status assistant -n llm-staging --timeout 15m"],
        ),
        (
            // A fresh cluster has no Rollout: it is created from the stable release.
            "assistant-deploy-prod",
            &[
                "kubectl get rollout assistant -n llm-prod",
                "modelops apply assistant --env prod --state stable-base",
                "kubectl argo rollouts status assistant -n llm-prod --timeout 15m",
                "modelops apply assistant --env prod --state base",
            ],
        ),
        (
            "assistant-shadow-prod",
            &[
                "kubectl wait rollout/assistant -n llm-prod --for=jsonpath={.status.currentStepIndex}=4 --timeout=40m",
            ],
        ),
        ("assistant-smoke-prod", &[]),
        ("assistant-approve-prod", &[]),
        (
            "assistant-promote-prod",
            &[
                "kubectl argo rollouts promote assistant -n llm-prod",
                "kubectl argo rollouts status assistant -n llm-prod --timeout 30m",
            ],
        ),
    ],
    holds: &[],
    guarded: &[],
    smoke: ("assistant-smoke-prod", 1),
    untouched: None,
};

/// A push whose guards breach once `breach_at` carries traffic in `prod`.
struct Breach {
    push: &'static Push,
    breach_at: &'static str,
    passed: &'static [&'static str],
    failed: &'static [&'static str],
    /// Jobs that never start, the failed one's successors.
    skipped: &'static [&'static str],
    rollback: &'static str,
    /// The states `prod` goes through, the rollback's last.
    states: &'static [&'static str],
}

const SUPPORT_BOT_BREACH: Breach = Breach {
    push: &SUPPORT_BOT_PUSH,
    breach_at: "step-10",
    passed: &[
        "support-bot-modelops",
        "support-bot-deploy-staging",
        "support-bot-deploy-prod",
        "support-bot-smoke-prod",
        "support-bot-shadow-prod",
        "support-bot-approve-prod",
        "support-bot-step-1-prod",
    ],
    failed: &["support-bot-step-10-prod"],
    skipped: &[
        "support-bot-step-50-prod",
        "support-bot-step-100-prod",
        "support-bot-promote-prod",
    ],
    rollback: "support-bot-rollback-prod",
    states: &["base", "stable", "shadow", "step-1", "step-10", "stable"],
};

/// A merge request changing the model.
struct MergeRequest {
    model: &'static str,
    /// The jobs that run, every one passing, in the order they start.
    jobs: &'static [&'static str],
    /// The check job and its calls: it fetches the target branch (its own
    /// `GIT_DEPTH` is 0) and checks against it.
    check: (&'static str, &'static [&'static str]),
    /// The eval job and its modelops calls (`evals/run.py` is run by python3, not
    /// recorded: the fake model sees its requests).
    eval: (&'static str, &'static [&'static str]),
    /// The gate's dataset: `evals/run.py` asks one answer and one grade per item and
    /// track.
    dataset: &'static str,
    /// The models the evaluator asks (the id after `provider/`), the key it sends
    /// (the provider's), and how many requests per dataset item: each base model
    /// once per item; the judge twice (both tracks' answers).
    asks: &'static [(&'static str, &'static str, usize)],
}

const SUPPORT_BOT_MR: MergeRequest = MergeRequest {
    model: "support-bot",
    jobs: &[
        "support-bot-modelops",
        "support-bot-check",
        "support-bot-eval-eval-prod",
    ],
    check: (
        "support-bot-check",
        &[
            "git fetch --quiet origin main",
            "modelops check --base origin/main",
            "modelops lock --check",
            "modelops compile --check",
        ],
    ),
    eval: (
        "support-bot-eval-eval-prod",
        &[
            "modelops inspect support-bot --env prod --track stable --out .modelops/gate/stable",
            "modelops inspect support-bot --env prod --track candidate --out .modelops/gate/candidate",
            "modelops gate support-bot --env prod --gate eval --baseline stable.jsonl --candidate candidate.jsonl",
        ],
    ),
    dataset: "datasets/support-golden.jsonl",
    // The candidate's base is also the judge: once per item as the candidate, twice
    // as the judge.
    asks: &[
        ("gpt-4-0613", "OPENAI_API_KEY", 1),
        ("gpt-4o-2024-08-06", "OPENAI_API_KEY", 3),
    ],
};

const TRIAGE_MR: MergeRequest = MergeRequest {
    model: "triage",
    jobs: &["triage-modelops", "triage-check", "triage-eval-eval-prod"],
    check: (
        "triage-check",
        &[
            "git fetch --quiet origin main",
            "modelops check --base origin/main",
            "modelops lock --check",
            "modelops compile --check",
        ],
    ),
    eval: (
        "triage-eval-eval-prod",
        &[
            "modelops inspect triage --env prod --track stable --out .modelops/gate/stable",
            "modelops inspect triage --env prod --track candidate --out .modelops/gate/candidate",
            "modelops gate triage --env prod --gate eval --baseline stable.jsonl --candidate candidate.jsonl",
        ],
    ),
    dataset: "datasets/triage-golden.jsonl",
    asks: &[
        ("claude-3-5-sonnet-20241022", "ANTHROPIC_API_KEY", 1),
        ("claude-3-7-sonnet-20250219", "ANTHROPIC_API_KEY", 1),
        ("gpt-4o-2024-08-06", "OPENAI_API_KEY", 2),
    ],
};

/// The provider keys a project stores as CI secrets (fakes: only the fake model
/// is ever asked).
const PROVIDER_KEYS: &[(&str, &str)] = &[
    ("OPENAI_API_KEY", "sk-test-openai-not-a-key"),
    ("ANTHROPIC_API_KEY", "sk-ant-test-not-a-key"),
];

/// What the fake model answers, to every request: the text triage's second smoke
/// request expects ("billing"), opening with the number `evals/run.py` reads as
/// the judge's grade (1: every answer passes, so the gate passes).
const MODEL_ANSWER: &str = "1. Queue: billing. Priority: high.";

// ==================================================================================
// The harness.
// ==================================================================================

/// How long a `--watch` really runs, and how often it polls, in the test (see the
/// top of this file and the modelops case of shim.sh).
const WATCH: &str = "300ms";
const WATCH_INTERVAL_MS: &str = "100";

/// The stand-ins put first on PATH.
const SHIMS: &[&str] = &[
    "kubectl",
    "kubectl-argo-rollouts",
    "nginx",
    "envoy",
    "systemctl",
    "curl",
    "cargo",
    "sleep",
    "git",
];

/// One recorded call of a stand-in.
#[derive(Clone, Debug)]
struct Call {
    job: String,
    tool: String,
    /// KUBECONFIG when the call ran (empty when unset).
    kubeconfig: String,
    args: Vec<String>,
}

impl Call {
    /// The call as a command line, for comparing with the expectations.
    fn line(&self) -> String {
        std::iter::once(self.tool.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn flag(args: &[String], name: &str) -> Option<String> {
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1).cloned()
}

/// `7200`, `90s`, `30m`, `1h`, `1h30m`, `300ms` in whole seconds.
fn seconds(text: &str) -> Option<u64> {
    let mut millis: u64 = 0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = rest[unit_len..].trim_start();
        millis += n * match unit {
            "" | "s" => 1000,
            "ms" => 1,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
    }
    Some(millis / 1000)
}

fn unescape(field: &str) -> String {
    let mut out = String::new();
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn read_log(path: &Path) -> Vec<Call> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|line| {
            let mut fields = line.split('\t').map(unescape);
            Call {
                job: fields.next().unwrap_or_default(),
                tool: fields.next().unwrap_or_default(),
                kubeconfig: fields.next().unwrap_or_default(),
                args: fields.collect(),
            }
        })
        .collect()
}

/// The states applied to `env` of `model`, in order.
fn states_of(calls: &[Call], model: &str, env: &str) -> Vec<String> {
    calls
        .iter()
        .filter_map(applied_state)
        .filter(|(e, m, _)| e == env && m == model)
        .map(|(_, _, state)| state)
        .collect()
}

/// Checks that each `modelops apply` is followed, in its job, by exactly what
/// `apply` says it runs; returns the calls of each job without those.
fn split_applies(
    calls: &[Call],
    apply: fn(&str, &str, &str) -> Vec<String>,
) -> BTreeMap<String, Vec<Call>> {
    let mut by_job: BTreeMap<String, Vec<Call>> = BTreeMap::new();
    for call in calls {
        by_job
            .entry(call.job.clone())
            .or_default()
            .push(call.clone());
    }
    let mut own = BTreeMap::new();
    for (job, calls) in by_job {
        let mut kept = Vec::new();
        let mut at = 0;
        while at < calls.len() {
            let call = &calls[at];
            kept.push(call.clone());
            at += 1;
            if let Some((env, model, state)) = applied_state(call) {
                let expected = apply(&env, &model, &state);
                let ran: Vec<String> = calls[at..]
                    .iter()
                    .take(expected.len())
                    .map(Call::line)
                    .collect();
                assert_eq!(ran, expected, "{job}: what `{}` ran", call.line());
                at += expected.len();
            }
        }
        own.insert(job, kept);
    }
    own
}

/// A package installed with npm into a NODE_PATH folder: the file `entry` of it.
/// `None` (with a note) outside CI when it is missing; in CI a missing package fails.
fn npm_package(name: &str, entry: &str) -> Option<PathBuf> {
    let found = std::env::var_os("NODE_PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name).join(entry))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the npm package `{name}` is required in CI but is not in NODE_PATH (.ci/run installs it)"
        );
        eprintln!("skipping: the npm package `{name}` is not installed (see .ci/run)");
    }
    found
}

/// The programs a run needs; `None` (skip) when one is missing outside CI.
struct Tools {
    node: PathBuf,
    gitlab_ci_local: PathBuf,
    curl: PathBuf,
    git: PathBuf,
}

fn tools() -> Option<Tools> {
    let node = external_tool("node")?;
    for tool in ["rsync", "bash", "python3"] {
        external_tool(tool)?;
    }
    let git = external_tool("git")?;
    let curl = external_tool("curl")?;
    let gitlab_ci_local = npm_package("gitlab-ci-local", "dist/index.js")?;
    Some(Tools {
        node,
        gitlab_ci_local,
        curl,
        git,
    })
}

/// One request a fake server received.
#[derive(Clone, Debug)]
struct Request {
    path: String,
    /// The request line and headers.
    head: String,
    body: String,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then_some(value.trim())
        })
    }
}

/// A tiny HTTP server on loopback: `reply(request)` gives the JSON answer; every
/// request is kept. It lives as long as the test process.
struct Server {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

fn serve(reply: impl Fn(&Request) -> String + Send + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&requests);
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut data = Vec::new();
            let mut buffer = [0u8; 8192];
            // The head, then as much body as Content-Length says.
            let head_end = loop {
                let Ok(n) = stream.read(&mut buffer) else {
                    break None;
                };
                if n == 0 {
                    break None;
                }
                data.extend_from_slice(&buffer[..n]);
                if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(at + 4);
                }
            };
            let Some(head_end) = head_end else { continue };
            let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            while data.len() < head_end + length {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => data.extend_from_slice(&buffer[..n]),
                }
            }
            let request = Request {
                path: head.split_whitespace().nth(1).unwrap_or("").to_owned(),
                body: String::from_utf8_lossy(&data[head_end..]).into_owned(),
                head,
            };
            let answer = reply(&request);
            kept.lock().unwrap().push(request);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    Server { url, requests }
}

/// A fake Prometheus: every query answers one series, `0.001` (every guard holds)
/// or, once `breach_at` is the last state applied to `env` of `model` according to
/// the log, `0.9` (error-rate and the ratio guards breach).
fn prometheus(log: PathBuf, model: &str, env: &str, breach_at: Option<&str>) -> Server {
    let (model, env) = (model.to_owned(), env.to_owned());
    let breach_at = breach_at.map(str::to_owned);
    serve(move |_| {
        let current = states_of(&read_log(&log), &model, &env).pop();
        let value = if breach_at.is_some() && current == breach_at {
            "0.9"
        } else {
            "0.001"
        };
        json!({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"pod": format!("{model}-0")}, "value": [1_700_000_000.0, value]}
        ]}})
        .to_string()
    })
}

/// A fake OpenAI-compatible model endpoint.
fn model_endpoint() -> Server {
    serve(|_| {
        json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": MODEL_ANSWER}}]})
            .to_string()
    })
}

/// What one gitlab-ci-local run reported.
struct Report {
    code: i32,
    output: String,
    /// The jobs in the order they started.
    started: Vec<String>,
    passed: BTreeSet<String>,
    failed: BTreeSet<String>,
}

impl Report {
    fn ran(&self) -> BTreeSet<String> {
        self.passed.union(&self.failed).cloned().collect()
    }
}

/// A temporary repository with one change, ready to run.
struct Sandbox {
    repo: tempfile::TempDir,
    /// Stand-ins, the origin remote, kubeconfigs, installed files, gitlab-ci-local's
    /// home, the log.
    scratch: tempfile::TempDir,
    tools: Tools,
}

/// Which pipeline the repository is set up for.
#[derive(Clone, Copy, PartialEq)]
enum Source {
    Push,
    MergeRequest,
}

const CANDIDATE_BRANCH: &str = "candidate";

/// What gitlab-ci-local reads as the project's remote (`gcl-origin` comes before
/// `origin`): its group and project name.
const GITLAB_REMOTE: &str = "https://gitlab.example/acme/assistants.git";

/// The example, compiled by the binary under test, with the real evaluator its
/// gates run (which `copy_example` does not copy) and its installing targets'
/// `path=` in `installed`.
fn example_copy(installed: &Path) -> tempfile::TempDir {
    let repo = copy_example();
    let root = repo.path();
    std::fs::create_dir_all(root.join("evals")).unwrap();
    std::fs::copy(
        example_repo().join("evals/run.py"),
        root.join("evals/run.py"),
    )
    .unwrap();
    let config = root.join("modelops.kdl");
    let mut text = std::fs::read_to_string(&config).unwrap();
    for (target, ext) in INSTALLED {
        let declared = format!("target \"{target}\"");
        let path = installed.join(format!("{target}-{{{{environment}}}}-{{{{model}}}}.{ext}"));
        let lines: Vec<String> = text
            .lines()
            .map(|line| match line.trim_start().strip_prefix(&declared) {
                Some(rest) => format!("{declared} path=\"{}\"{rest}", path.display()),
                None => line.to_owned(),
            })
            .collect();
        let rewritten = lines.join("\n") + "\n";
        // Never let a run install into /etc.
        assert_ne!(rewritten, text, "the example declares no {declared}");
        text = rewritten;
    }
    std::fs::write(&config, text).unwrap();
    let compile = modelops_in(root, &["compile"]);
    assert_eq!(compile.code, 0, "{}", compile.stderr);
    repo
}

/// The digest the harness gives the scaffold's serving image.
const SERVING_DIGEST: &str =
    "sha256:9b2c60e28ba37c1f79103498a745d9bf42ed832b0078c9364d107f703e5b1563";

/// `modelops init --name assistants` in a new folder, then what init's closing
/// line says to do first: the serving image's digest in place of the placeholder
/// (a digest of zeros, which `check` refuses), then `modelops lock`. Compiling is
/// the caller's.
fn scaffold() -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    let init = modelops_in(root, &["init", "--name", "assistants"]);
    assert_eq!(init.code, 0, "{}", init.stderr);
    let model = root.join("models/assistant.kdl");
    let text = std::fs::read_to_string(&model).unwrap();
    let placeholder = format!("sha256:{}", "0".repeat(64));
    std::fs::write(&model, text.replace(&placeholder, SERVING_DIGEST)).unwrap();
    let lock = modelops_in(root, &["lock"]);
    assert_eq!(lock.code, 0, "{}", lock.stderr);
    repo
}

/// The scaffold with a `gitlab-ci` target (it has none), compiled.
fn scaffold_with_gitlab_ci() -> tempfile::TempDir {
    let repo = scaffold();
    let root = repo.path();
    let config = root.join("modelops.kdl");
    let mut text = std::fs::read_to_string(&config).unwrap();
    // Argo Rollouts' promote job waits for every canary step at once.
    text.push_str("target \"gitlab-ci\" job-limit=\"4h\"\n");
    std::fs::write(&config, text).unwrap();
    let compile = modelops_in(root, &["compile"]);
    assert_eq!(compile.code, 0, "{}", compile.stderr);
    repo
}

impl Sandbox {
    /// The repository of `project` committed on `main`, pushed to a local bare
    /// `origin`; then a change to `models/<model>.kdl` committed on `main` (a push)
    /// or on a branch (a merge request).
    fn new(tools: Tools, project: Project, model: &str, source: Source) -> Sandbox {
        let scratch = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(scratch.path().join("installed")).unwrap();
        let repo = match project {
            Project::Example => example_copy(&scratch.path().join("installed")),
            Project::Scaffold => scaffold_with_gitlab_ci(),
        };
        let root = repo.path();

        let mut options = git2::RepositoryInitOptions::new();
        options.initial_head("main");
        let git = Git {
            repo: git2::Repository::init_opts(root, &options).unwrap(),
        };
        let mut config = git.repo.config().unwrap();
        config.set_str("user.name", "Test Author").unwrap();
        config.set_str("user.email", "author@example.com").unwrap();
        git.add_all();
        let base = git.commit("the repository");
        let bare = scratch.path().join("origin.git");
        let mut bare_options = git2::RepositoryInitOptions::new();
        bare_options.bare(true).initial_head("main");
        git2::Repository::init_opts(&bare, &bare_options).unwrap();
        git.repo
            .remote("origin", &bare.display().to_string())
            .unwrap()
            .push(&["refs/heads/main:refs/heads/main"], None)
            .unwrap();
        git.repo.remote("gcl-origin", GITLAB_REMOTE).unwrap();
        git.repo
            .reference("refs/remotes/origin/main", base, true, "fetched")
            .unwrap();
        git.repo
            .reference_symbolic(
                "refs/remotes/origin/HEAD",
                "refs/remotes/origin/main",
                true,
                "default branch",
            )
            .unwrap();
        if source == Source::MergeRequest {
            let commit = git.repo.find_commit(base).unwrap();
            git.repo.branch(CANDIDATE_BRANCH, &commit, false).unwrap();
            git.repo
                .set_head(&format!("refs/heads/{CANDIDATE_BRANCH}"))
                .unwrap();
        }
        let model_file = root.join(format!("models/{model}.kdl"));
        let mut text = std::fs::read_to_string(&model_file).unwrap();
        text.push_str("// the change under test\n");
        std::fs::write(&model_file, text).unwrap();
        git.add_all();
        git.commit("change the model");

        let bin = scratch.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let shim = example_repo().join("tests/pipeline/shim.sh");
        let shim = shim.display().to_string().replace('\'', "'\\''");
        for tool in SHIMS {
            let path = bin.join(tool);
            std::fs::write(
                &path,
                format!("#!/bin/sh\nPIPELINE_SHIM_TOOL={tool} exec bash '{shim}' \"$@\"\n"),
            )
            .unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        for env in ENVIRONMENTS {
            std::fs::write(
                scratch.path().join(format!("kubeconfig-{env}")),
                format!("apiVersion: v1\nkind: Config\ncurrent-context: {env}\n"),
            )
            .unwrap();
        }
        std::fs::create_dir_all(scratch.path().join("cargo")).unwrap();
        std::fs::create_dir_all(scratch.path().join("gcl-home")).unwrap();
        std::fs::write(scratch.path().join("run.log"), "").unwrap();
        Sandbox {
            repo,
            scratch,
            tools,
        }
    }

    fn log(&self) -> PathBuf {
        self.scratch.path().join("run.log")
    }

    fn calls(&self) -> Vec<Call> {
        read_log(&self.log())
    }

    fn kubeconfig(&self, env: &str) -> String {
        self.scratch
            .path()
            .join(format!("kubeconfig-{env}"))
            .display()
            .to_string()
    }

    /// Where the traffic targets install their files.
    fn installed(&self) -> PathBuf {
        self.scratch.path().join("installed")
    }

    /// The pipeline as the YAML reader sees it.
    fn pipeline(&self, file: &str) -> Value {
        serde_saphyr::from_str(&std::fs::read_to_string(self.repo.path().join(file)).unwrap())
            .unwrap()
    }

    /// Writes `pipeline` without its `image:` keys (see the top of this file) to a
    /// file under gitlab-ci-local's state folder; returns its path.
    fn runnable(&self, name: &str, mut pipeline: Value) -> String {
        let keys = pipeline.as_object_mut().unwrap();
        for (_, job) in keys.iter_mut() {
            if let Some(job) = job.as_object_mut() {
                job.remove("image");
            }
        }
        if keys
            .get("default")
            .and_then(Value::as_object)
            .is_some_and(|d| d.is_empty())
        {
            keys.remove("default");
        }
        let path = format!(".gitlab-ci-local/{name}.yml");
        let full = self.repo.path().join(&path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, serde_json::to_string_pretty(&pipeline).unwrap()).unwrap();
        path
    }

    /// Runs gitlab-ci-local on (a runnable copy of) `file` with `variables`, then
    /// `extra` arguments (job names, `--manual JOB`, `--list-json`).
    fn gitlab_ci_local(
        &self,
        file: &str,
        source: Source,
        variables: &[(String, String)],
        extra: &[&str],
    ) -> Report {
        let name = format!(
            "run-{}",
            Path::new(file).file_stem().unwrap().to_string_lossy()
        );
        let runnable = self.runnable(&name, self.pipeline(file));
        self.run_file(&runnable, source, variables, extra)
    }

    fn run_file(
        &self,
        file: &str,
        source: Source,
        variables: &[(String, String)],
        extra: &[&str],
    ) -> Report {
        let scratch = self.scratch.path();
        let mut args: Vec<String> = vec![
            "--require".into(),
            example_repo()
                .join("tests/pipeline/set-methods.cjs")
                .display()
                .to_string(),
            self.tools.gitlab_ci_local.display().to_string(),
            "--file".into(),
            file.into(),
            "--force-shell-executor".into(),
            "--shell-isolation".into(),
            "--no-color".into(),
            "--home".into(),
            scratch.join("gcl-home").display().to_string(),
        ];
        // The variables GitLab sets for the pipeline's source (gitlab-ci-local
        // warns when one of its predefined variables is overridden: not these).
        let predefined: &[(&str, &str)] = match source {
            Source::Push => &[
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_DEFAULT_BRANCH", "main"),
                ("CI_COMMIT_BRANCH", "main"),
            ],
            Source::MergeRequest => &[
                ("CI_PIPELINE_SOURCE", "merge_request_event"),
                ("CI_DEFAULT_BRANCH", "main"),
                ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", CANDIDATE_BRANCH),
                ("CI_MERGE_REQUEST_IID", "1"),
            ],
        };
        args.push("--ignore-predefined-vars".into());
        args.push(
            predefined
                .iter()
                .map(|(k, _)| *k)
                .collect::<Vec<_>>()
                .join(","),
        );
        let predefined = predefined
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        // The project's CI/CD settings: each environment's kubeconfig.
        let project = ENVIRONMENTS
            .iter()
            .map(|env| (kubeconfig_variable(env), self.kubeconfig(env)));
        for (key, value) in predefined.chain(project).chain(variables.iter().cloned()) {
            args.push("--variable".into());
            args.push(format!("{key}={value}"));
        }
        if source == Source::MergeRequest {
            // GitLab sets no CI_COMMIT_BRANCH in a merge-request pipeline.
            args.push("--unset-variable".into());
            args.push("CI_COMMIT_BRANCH".into());
        }
        args.extend(extra.iter().map(|a| (*a).to_owned()));

        let path = std::env::join_paths([scratch.join("bin")].into_iter().chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .unwrap();
        let mut command = Command::new(&self.tools.node);
        // gitlab-ci-local reads options from GCL_*; a CI system running these tests
        // has its own CI_*; a developer's KUBECONFIG, MODELOPS_* and provider keys
        // are not the run's.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            if ["GCL_", "CI_", "GITLAB_", "MODELOPS_"]
                .iter()
                .any(|p| key.starts_with(p))
                || key == "KUBECONFIG"
                || key.ends_with("_API_KEY")
            {
                command.env_remove(key);
            }
        }
        command
            .args(&args)
            .current_dir(self.repo.path())
            .env("PATH", path)
            .env("CARGO_HOME", scratch.join("cargo"))
            .env_remove("CARGO_INSTALL_ROOT")
            .env("PIPELINE_RUN_LOG", self.log())
            .env("PIPELINE_REAL_CURL", &self.tools.curl)
            .env("PIPELINE_REAL_GIT", &self.tools.git)
            .env("PIPELINE_WATCH", WATCH)
            .env("PIPELINE_WATCH_INTERVAL_MS", WATCH_INTERVAL_MS)
            .env("MODELOPS_TEST_BIN", env!("CARGO_BIN_EXE_modelops"))
            .env("MODELOPS_CACHE_DIR", support::test_cache())
            .env("NO_COLOR", "1");
        let out = command.output().expect("run gitlab-ci-local");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let (mut passed, mut failed, mut started) = (BTreeSet::new(), BTreeSet::new(), Vec::new());
        for line in stdout.lines() {
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some("PASS" | "WARN"), Some(job), None) if line.starts_with(' ') => {
                    passed.insert(job.to_owned());
                }
                (Some("FAIL"), Some(job), None) if line.starts_with(' ') => {
                    failed.insert(job.to_owned());
                }
                (Some(job), Some("starting"), Some("shell")) if !line.starts_with(' ') => {
                    started.push(job.to_owned());
                }
                _ => {}
            }
        }
        Report {
            code: out.status.code().unwrap_or(-1),
            output: format!("{stdout}{stderr}"),
            started,
            passed,
            failed,
        }
    }

    /// GitLab's rule for `when: on_failure` jobs, which gitlab-ci-local lacks (see
    /// the top of this file): a job of this pipeline that did not run, has a
    /// `when: on_failure` rule and needs a job that failed, is started now — its
    /// `needs` cut to the jobs that ran and its rule's `when` dropped, in a copy of
    /// the pipeline under the state folder. Everything else about it (its rules'
    /// `if` and `changes`, variables, environment, script, the artifacts of the jobs
    /// it needs) is as written.
    fn start_on_failure_jobs(
        &self,
        file: &str,
        source: Source,
        variables: &[(String, String)],
        first: &Report,
    ) -> Vec<(String, Report)> {
        let pipeline = self.pipeline(file);
        let ran = first.ran();
        let mut started = Vec::new();
        let names: Vec<String> = pipeline.as_object().unwrap().keys().cloned().collect();
        for name in names {
            let job = &pipeline[&name];
            let on_failure = job["rules"]
                .as_array()
                .is_some_and(|rules| rules.iter().any(|r| r["when"] == "on_failure"));
            let needs = needs_of(job);
            let a_need_failed = needs.iter().any(|n| first.failed.contains(n));
            if !on_failure || ran.contains(&name) || !a_need_failed {
                continue;
            }
            let mut derived = pipeline.clone();
            let job = derived[&name].as_object_mut().unwrap();
            for rule in job["rules"].as_array_mut().unwrap() {
                if rule["when"] == "on_failure" {
                    rule.as_object_mut().unwrap().remove("when");
                }
            }
            job.insert(
                "needs".into(),
                needs.iter().filter(|n| ran.contains(*n)).cloned().collect(),
            );
            let copy = self.runnable(&format!("on-failure-{name}"), derived);
            let report = self.run_file(
                &copy,
                source,
                variables,
                // The file is derived; the run before validated the generated one.
                &["--json-schema-validation=false", &name],
            );
            started.push((name, report));
        }
        started
    }

    /// Every job's holds and waits (recorded `sleep`s, `--watch`es, `kubectl wait`s)
    /// are within its timeout, which gitlab-ci-local does not enforce.
    fn assert_holds_fit_timeouts(&self, file: &str) {
        let pipeline = self.pipeline(file);
        let mut held: BTreeMap<String, u64> = BTreeMap::new();
        for call in self.calls() {
            if let Some(s) = hold_seconds(&call).or_else(|| wait_seconds(&call)) {
                *held.entry(call.job.clone()).or_default() += s;
            }
        }
        for (job, seconds_held) in held {
            let timeout = pipeline[&job]["timeout"]
                .as_str()
                .unwrap_or_else(|| panic!("{job} holds {seconds_held} s and has no timeout"));
            let limit = seconds(timeout).unwrap_or_else(|| panic!("timeout {timeout:?}"));
            assert!(
                seconds_held < limit,
                "{job} holds {seconds_held} s, its timeout is {timeout}"
            );
        }
    }

    /// modelops is installed once, by the install job, which starts first; every
    /// other job runs the binary it handed on (no other job calls cargo).
    fn assert_installed_once(&self, model: &str, report: &Report) {
        let calls = self.calls();
        let installs: Vec<&Call> = calls.iter().filter(|c| installs_modelops(c)).collect();
        assert_eq!(installs.len(), 1, "{installs:#?}");
        assert_eq!(installs[0].job, install_job(model));
        assert!(
            calls
                .iter()
                .all(|c| c.tool != "cargo" || c.job == install_job(model)),
            "{calls:#?}"
        );
        assert_eq!(
            report.started.first(),
            Some(&install_job(model)),
            "{}",
            report.output
        );
    }

    /// Each kubectl call (the jobs' own and those of `modelops apply`) ran with the
    /// kubeconfig of its job's environment, from `MODELOPS_KUBECONFIG_<ENV>`.
    fn assert_kubeconfigs(&self, file: &str) {
        let pipeline = self.pipeline(file);
        for call in self.calls().iter().filter(|c| c.tool == "kubectl") {
            let env = pipeline[&call.job]["environment"]["name"]
                .as_str()
                .unwrap_or_else(|| panic!("{} calls kubectl outside an environment", call.job));
            assert_eq!(call.kubeconfig, self.kubeconfig(env), "{call:?}");
        }
    }

    /// The file each installing target holds for `env` of `model` is the generated
    /// one of `state`.
    fn assert_installed_files(&self, model: &str, env: &str, state: &str) {
        for (target, ext) in INSTALLED {
            let installed = self
                .installed()
                .join(format!("{target}-{env}-{model}.{ext}"));
            let generated = self
                .repo
                .path()
                .join(format!("generated/{target}/{env}/{model}/{state}.{ext}"));
            assert_eq!(
                std::fs::read(&installed)
                    .unwrap_or_else(|e| panic!("{}: {e}", installed.display())),
                std::fs::read(&generated).unwrap(),
                "{} is not {}",
                installed.display(),
                generated.display()
            );
        }
    }
}

fn needs_of(job: &Value) -> Vec<String> {
    job["needs"]
        .as_array()
        .map(|needs| {
            needs
                .iter()
                .filter_map(|n| n.as_str().or(n["job"].as_str()).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn owned(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// The push pipeline's settings: Prometheus, and where the candidate answers.
fn push_variables(prometheus: &Server, endpoint: &Server) -> Vec<(String, String)> {
    vec![
        ("MODELOPS_PROMETHEUS_URL".into(), prometheus.url.clone()),
        (
            "MODELOPS_PROD_CANDIDATE_URL".into(),
            format!("{}/candidate", endpoint.url),
        ),
    ]
}

fn manual_arguments(push: &Push) -> Vec<&str> {
    push.manual
        .iter()
        .flat_map(|job| ["--manual", job])
        .collect()
}

/// The smoke job's requests reached the candidate, each a chat completion for the
/// model.
fn assert_smoke(calls: &[Call], endpoint: &Server, model: &str, (job, count): (&str, usize)) {
    let requests = endpoint.requests.lock().unwrap().clone();
    let smoke: Vec<&Call> = calls
        .iter()
        .filter(|c| c.job == job && c.tool == "curl")
        .collect();
    assert_eq!(smoke.len(), count, "{calls:#?}");
    for call in smoke {
        let url = call.args.iter().find(|a| a.starts_with("http")).unwrap();
        assert_eq!(
            url,
            &format!("{}/candidate/v1/chat/completions", endpoint.url)
        );
        let body = flag(&call.args, "--data").unwrap();
        let sent: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(sent["model"], model, "{body}");
        assert!(
            requests.iter().any(|r| r.body == body),
            "{body} never arrived"
        );
    }
}

/// (a), (d), (f) A push to the default branch, every guard healthy: every job
/// passes in order, each environment goes through its states in order with what
/// `modelops apply` runs for each, holds and guards happen where the rollout says.
fn run_healthy_push(expected: &Push) {
    let Some(tools) = tools() else { return };
    let started = Instant::now();
    let sandbox = Sandbox::new(tools, expected.project, expected.model, Source::Push);
    let prometheus = prometheus(sandbox.log(), expected.model, "prod", None);
    let endpoint = model_endpoint();
    let variables = push_variables(&prometheus, &endpoint);
    let file = pipeline_file(expected.model);
    let pipeline = sandbox.pipeline(&file);
    for job in expected.manual {
        // A blocking manual job: nothing after it runs until a person starts it.
        assert_eq!(pipeline[job]["rules"][0]["when"], "manual", "{job}");
        assert_eq!(pipeline[job]["allow_failure"], false, "{job}");
    }
    let report =
        sandbox.gitlab_ci_local(&file, Source::Push, &variables, &manual_arguments(expected));
    let calls = sandbox.calls();
    assert!(
        report.failed.is_empty() && report.code == 0,
        "failed: {:?}\n{}",
        report.failed,
        report.output
    );
    assert_eq!(report.started, expected.jobs, "{}", report.output);
    assert_eq!(report.passed, owned(expected.jobs), "{}", report.output);
    sandbox.assert_installed_once(expected.model, &report);
    for (env, states) in expected.states {
        assert_eq!(
            states_of(&calls, expected.model, env),
            *states,
            "the states of {env}:\n{calls:#?}"
        );
    }
    let own = split_applies(&calls, expected.apply);
    for (job, lines) in expected.transcripts {
        let ran: Vec<String> = own
            .get(*job)
            .into_iter()
            .flatten()
            .filter(|c| c.tool != "curl")
            .map(Call::line)
            .collect();
        assert_eq!(ran, *lines, "the calls of {job}");
    }
    sandbox.assert_kubeconfigs(&file);
    if expected.project == Project::Example {
        for (env, states) in expected.states {
            sandbox.assert_installed_files(expected.model, env, states.last().unwrap());
        }
    }
    let holds: BTreeSet<(String, u64)> = calls
        .iter()
        .filter_map(|c| hold_seconds(c).map(|s| (c.job.clone(), s)))
        .collect();
    let expected_holds: BTreeSet<(String, u64)> = expected
        .holds
        .iter()
        .map(|(j, s)| ((*j).to_owned(), *s))
        .collect();
    assert_eq!(holds, expected_holds, "{calls:#?}");
    let guarded: BTreeSet<String> = calls
        .iter()
        .filter(|c| guards(c, expected.model, "prod"))
        .map(|c| c.job.clone())
        .collect();
    assert_eq!(guarded, owned(expected.guarded), "{calls:#?}");
    assert!(
        calls
            .iter()
            .filter(|c| guards(c, expected.model, "prod"))
            .all(|c| c.args.contains(&prometheus.url)),
        "every guard reads the Prometheus of the CI settings"
    );
    assert_eq!(
        prometheus.requests.lock().unwrap().is_empty(),
        expected.guarded.is_empty(),
        "the guards queried Prometheus"
    );
    assert_smoke(&calls, &endpoint, expected.model, expected.smoke);
    sandbox.assert_holds_fit_timeouts(&file);
    if let Some(other) = expected.untouched {
        // The other model's files did not change: its pipeline has no job to run.
        let listed = sandbox.gitlab_ci_local(
            &pipeline_file(other),
            Source::Push,
            &variables,
            &["--list-json", "--json-schema-validation=false"],
        );
        let json_start = listed.output.find('[').expect(&listed.output);
        let jobs: Vec<Value> = serde_json::Deserializer::from_str(&listed.output[json_start..])
            .into_iter::<Vec<Value>>()
            .next()
            .unwrap()
            .unwrap();
        assert!(!jobs.is_empty());
        for job in &jobs {
            assert_eq!(job["when"], "never", "{job}");
        }
    }
    eprintln!(
        "{}: healthy push ran in {:?}",
        expected.model,
        started.elapsed()
    );
}

#[test]
fn support_bot_push_walks_the_canary_to_promoted() {
    run_healthy_push(&SUPPORT_BOT_PUSH);
}

#[test]
fn triage_push_walks_blue_green_to_promoted_after_the_manual_approval() {
    run_healthy_push(&TRIAGE_PUSH);
}

/// (f) init's scaffold, given a `gitlab-ci` target: Argo Rollouts walks the canary,
/// the pipeline applies, waits, approves and promotes.
#[test]
fn init_scaffold_with_gitlab_ci_walks_argo_rollouts_to_promoted() {
    run_healthy_push(&SCAFFOLD_PUSH);
}

/// (b) A push whose guards breach once the canary carries `breach_at`'s traffic:
/// that job fails, its successors never start, and the rollback job of that
/// environment applies `stable`; the other environment is left alone.
#[test]
fn support_bot_push_rolls_back_when_a_guard_breaches() {
    let Some(tools) = tools() else { return };
    let started = Instant::now();
    let expected = &SUPPORT_BOT_BREACH;
    let push = expected.push;
    let sandbox = Sandbox::new(tools, push.project, push.model, Source::Push);
    let prometheus = prometheus(sandbox.log(), push.model, "prod", Some(expected.breach_at));
    let endpoint = model_endpoint();
    let variables = push_variables(&prometheus, &endpoint);
    let file = pipeline_file(push.model);
    let pipeline = sandbox.pipeline(&file);
    let report = sandbox.gitlab_ci_local(&file, Source::Push, &variables, &manual_arguments(push));
    assert_ne!(report.code, 0, "{}", report.output);
    assert_eq!(report.passed, owned(expected.passed), "{}", report.output);
    assert_eq!(report.failed, owned(expected.failed), "{}", report.output);
    for job in expected.skipped {
        assert!(
            !report.ran().contains(*job),
            "{job} ran:\n{}",
            report.output
        );
    }
    assert!(
        report.output.contains("breached"),
        "the guard says why:\n{}",
        report.output
    );
    // The rollback of an environment follows that environment's jobs only.
    let env_of = |job: &str| {
        pipeline[job]["environment"]["name"]
            .as_str()
            .map(str::to_owned)
    };
    let rollback_env = env_of(expected.rollback).unwrap();
    for need in needs_of(&pipeline[expected.rollback]) {
        if need != install_job(push.model) {
            assert_eq!(
                env_of(&need).as_deref(),
                Some(rollback_env.as_str()),
                "{need}"
            );
        }
    }
    // gitlab-ci-local never starts the rollback (it waits for the skipped jobs it
    // needs); if a later version does, the harness has nothing to stand in for.
    let mut ran = report.ran();
    if report.ran().contains(expected.rollback) {
        assert!(
            report.passed.contains(expected.rollback),
            "{}",
            report.output
        );
    } else {
        let started_now = sandbox.start_on_failure_jobs(&file, Source::Push, &variables, &report);
        let names: Vec<&str> = started_now.iter().map(|(n, _)| n.as_str()).collect();
        // Only the failed environment's rollback: staging's (if any) stays put.
        assert_eq!(names, [expected.rollback]);
        let (_, rollback) = &started_now[0];
        assert_eq!(
            rollback.passed,
            owned(&[expected.rollback]),
            "{}",
            rollback.output
        );
        ran.extend(rollback.ran());
    }
    for job in &ran {
        if job.contains("rollback") {
            assert_eq!(job, expected.rollback);
        }
    }
    let calls = sandbox.calls();
    assert_eq!(
        states_of(&calls, push.model, "prod"),
        expected.states,
        "{calls:#?}"
    );
    let (_, untouched) = push
        .states
        .iter()
        .find(|(env, _)| *env == "staging")
        .unwrap();
    assert_eq!(
        states_of(&calls, push.model, "staging"),
        *untouched,
        "{calls:#?}"
    );
    // The failed job's after_script (for a cancelled job only) applied nothing; the
    // rollback job applied `stable` itself, with what `modelops apply` runs.
    let failed = expected.failed[0];
    let applied_in = |job: &str| -> Vec<String> {
        calls
            .iter()
            .filter(|c| c.job == job)
            .filter_map(applied_state)
            .map(|(_, _, s)| s)
            .collect()
    };
    assert_eq!(applied_in(failed), [expected.breach_at]);
    assert_eq!(applied_in(expected.rollback), ["stable"]);
    split_applies(&calls, push.apply);
    sandbox.assert_kubeconfigs(&file);
    sandbox.assert_installed_files(push.model, "prod", "stable");
    sandbox.assert_installed_files(push.model, "staging", untouched.last().unwrap());
    sandbox.assert_holds_fit_timeouts(&file);
    let installs = calls.iter().filter(|c| installs_modelops(c)).count();
    assert_eq!(
        installs, 1,
        "the rollback reuses the install job's modelops"
    );
    eprintln!("{}: breach ran in {:?}", push.model, started.elapsed());
}

/// (c) A merge request changing the model: check against the fetched target branch,
/// both tracks scored by the real evaluator against a fake model, and gated;
/// nothing is deployed.
fn run_merge_request(expected: &MergeRequest) {
    let Some(tools) = tools() else { return };
    let started = Instant::now();
    let sandbox = Sandbox::new(
        tools,
        Project::Example,
        expected.model,
        Source::MergeRequest,
    );
    let endpoint = model_endpoint();
    let mut variables = vec![(
        "MODELOPS_PROVIDER_URL".to_owned(),
        format!("{}/v1", endpoint.url),
    )];
    variables.extend(
        PROVIDER_KEYS
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let file = pipeline_file(expected.model);
    let pipeline = sandbox.pipeline(&file);
    let (check_job, check_lines) = expected.check;
    assert_eq!(pipeline[check_job]["variables"]["GIT_DEPTH"], "0");
    let report = sandbox.gitlab_ci_local(&file, Source::MergeRequest, &variables, &[]);
    assert!(
        report.failed.is_empty() && report.code == 0,
        "failed: {:?}\n{}",
        report.failed,
        report.output
    );
    assert_eq!(report.started, expected.jobs, "{}", report.output);
    assert_eq!(report.passed, owned(expected.jobs), "{}", report.output);
    sandbox.assert_installed_once(expected.model, &report);
    let calls = sandbox.calls();
    let lines_of = |job: &str| -> Vec<String> {
        calls
            .iter()
            .filter(|c| c.job == job)
            .map(Call::line)
            .collect()
    };
    assert_eq!(lines_of(check_job), check_lines, "{}", report.output);
    let (eval_job, eval_lines) = expected.eval;
    assert_eq!(lines_of(eval_job), eval_lines, "{}", report.output);
    assert!(report.output.contains("gate passed"), "{}", report.output);
    assert!(
        calls.iter().all(|c| applied_state(c).is_none()
            && !["kubectl", "nginx", "envoy", "systemctl", "curl"].contains(&c.tool.as_str())),
        "a merge request deploys nothing: {calls:#?}"
    );
    // What the evaluator asked, per model: with its provider's key, as many times as
    // the dataset has items (per track, plus the judge's grades).
    let items = std::fs::read_to_string(sandbox.repo.path().join(expected.dataset))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    assert!(items > 0);
    let requests = endpoint.requests.lock().unwrap().clone();
    let mut asked: BTreeMap<(String, String), usize> = BTreeMap::new();
    for request in &requests {
        assert_eq!(request.path, "/v1/chat/completions", "{request:?}");
        let body: Value = serde_json::from_str(&request.body).unwrap();
        let key = request
            .header("authorization")
            .unwrap_or_default()
            .to_owned();
        *asked
            .entry((body["model"].as_str().unwrap_or_default().to_owned(), key))
            .or_default() += 1;
    }
    let keys: BTreeMap<&str, &str> = PROVIDER_KEYS.iter().copied().collect();
    let wanted: BTreeMap<(String, String), usize> = expected
        .asks
        .iter()
        .map(|(model, key, per_item)| {
            (
                ((*model).to_owned(), format!("Bearer {}", keys[key])),
                per_item * items,
            )
        })
        .collect();
    assert_eq!(asked, wanted, "{}", report.output);
    eprintln!(
        "{}: merge request ran in {:?}",
        expected.model,
        started.elapsed()
    );
}

#[test]
fn support_bot_merge_request_checks_and_gates() {
    run_merge_request(&SUPPORT_BOT_MR);
}

#[test]
fn triage_merge_request_checks_and_gates() {
    run_merge_request(&TRIAGE_MR);
}

/// Runs `tests/pipeline/workflow-parser.mjs` on `files`: its findings.
fn parse_workflows(node: &Path, files: &[PathBuf]) -> Vec<Value> {
    let out = Command::new(node)
        .arg(example_repo().join("tests/pipeline/workflow-parser.mjs"))
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    files
}

/// (e) Every generated GitHub workflow — the example's, committed and compiled
/// afresh, and those of `modelops init`'s scaffold (its own check workflow, and
/// the model's once it is made ready and compiled) — parses and converts with
/// GitHub's own parser, with no error.
#[test]
fn github_workflows_pass_githubs_own_parser() {
    let Some(node) = external_tool("node") else {
        return;
    };
    if npm_package("@actions/workflow-parser", "package.json").is_none() {
        return;
    }
    let mut files = yaml_files(&example_repo().join("generated/github-actions"));
    assert!(files.len() >= 2, "{files:?}");
    let repo = copy_example();
    let compile = modelops_in(repo.path(), &["compile", "--target", "github-actions"]);
    assert_eq!(compile.code, 0, "{}", compile.stderr);
    let compiled = yaml_files(&repo.path().join("generated/github-actions"));
    assert_eq!(compiled.len(), files.len(), "{compiled:?}");
    files.extend(compiled);
    let scaffold = scaffold();
    let compile = modelops_in(scaffold.path(), &["compile"]);
    assert_eq!(compile.code, 0, "{}", compile.stderr);
    for file in [
        ".github/workflows/modelops.yml",
        "generated/github-actions/assistant.yml",
    ] {
        let path = scaffold.path().join(file);
        assert!(path.is_file(), "init's scaffold has no {file}");
        files.push(path);
    }
    let findings = parse_workflows(&node, &files);
    assert!(findings.is_empty(), "{findings:#?}");
}

/// The parser finds what it should, so an empty list above means something.
#[test]
fn githubs_parser_reports_a_broken_workflow() {
    let Some(node) = external_tool("node") else {
        return;
    };
    if npm_package("@actions/workflow-parser", "package.json").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.yml");
    std::fs::write(
        &file,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: [nowhere]\n    steps:\n    - run: echo ${{ nothing.here }}\n",
    )
    .unwrap();
    let findings = parse_workflows(&node, &[file]);
    assert!(
        findings
            .iter()
            .any(|f| f["message"].as_str().unwrap().contains("nothing")),
        "{findings:#?}"
    );
}
