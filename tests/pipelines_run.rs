//! The generated pipelines, run — not only linted.
//!
//! GitLab: `gitlab-ci-local` (npm) runs `generated/gitlab-ci/<model>.yml` with its
//! shell executor in a temporary git repository holding the example: the example is
//! committed on `main`, `origin/main` points at the commit before the change under
//! test (so `rules: changes` sees exactly that change), and `origin/HEAD` names the
//! default branch. Recording stand-ins come first on PATH (`tests/pipeline/shim.sh`:
//! kubectl, nginx, envoy, curl, cargo, sleep, and `apply-traffic` for
//! `MODELOPS_APPLY`); each appends its argv, with the job's name, to a log the
//! assertions read. `cargo install … modelops` puts the binary under test in place
//! (behind a wrapper that records each `modelops` call); `sleep` returns at once;
//! curl reaches only loopback. The harness serves a fake Prometheus, whose answers
//! turn breached once a chosen traffic state is applied, and a fake model endpoint
//! for the smoke requests and the eval runs (`tests/pipeline/evaluate.py` is
//! committed as `evals/run.py`, the evaluator the example's gate runs, which
//! `copy_example` does not copy).
//!
//! The invocation (see [`Sandbox::gitlab_ci_local`]):
//!
//! ```text
//! node --require tests/pipeline/set-methods.cjs $NODE_PATH/gitlab-ci-local/dist/index.js \
//!   --file generated/gitlab-ci/<model>.yml --force-shell-executor --shell-isolation \
//!   --no-color --home <empty dir> --ignore-predefined-vars <the CI_* we set> \
//!   --variable KEY=VALUE … [--unset-variable CI_COMMIT_BRANCH] [--manual JOB …]
//! ```
//!
//! (`set-methods.cjs` gives Node 20 the ES2025 Set methods the bundle calls while it
//! loads; Node ≥ 22 has them.) A push to the default branch is the repository on
//! `main` with `CI_PIPELINE_SOURCE=push`; a merge request is a branch with
//! `CI_PIPELINE_SOURCE=merge_request_event`, `CI_MERGE_REQUEST_TARGET_BRANCH_NAME`
//! and no `CI_COMMIT_BRANCH` (as GitLab sets them).
//!
//! What gitlab-ci-local (4.75) does NOT emulate, so these tests cannot catch it:
//! - The runner's checkout. With `--shell-isolation` a job runs in a copy of the
//!   tracked files under `.gitlab-ci-local/builds/<job>/`, inside the test
//!   repository, so git in a job finds that repository and every ref of it
//!   (`origin/main` included). A GitLab runner makes a shallow clone (GIT_DEPTH 20
//!   by default) that, in a merge-request pipeline, has no `origin/<target branch>`.
//! - `image:`. `--force-shell-executor` runs every job on this machine, with its
//!   tools (bash, git, python, curl); what the job's image contains is not checked.
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
//!   --manual").
//! - `environment`: only the `CI_ENVIRONMENT_*` variables. No deployments, no
//!   protected environments or approvals, no environment-scoped variables, no
//!   `on_stop`/`auto_stop_in`.
//! - `resource_group`, `interruptible`, auto-cancelling and pipelines running at
//!   the same time: ignored (one pipeline runs at a time here anyway).
//! - `timeout`: ignored, a job runs as long as it runs. The harness checks the holds
//!   a job asks for (`sleep`, `--watch`) against its timeout itself.
//! - `retry`, `services`, protected/masked variables, `CI_JOB_TOKEN`, registries.
//! - Artifacts and cache are folders under `.gitlab-ci-local/` handed on along
//!   `needs`/`dependencies` (with `--shell-isolation`); `expire_in`, `reports`
//!   (except dotenv) and `artifacts:when` are not emulated.
//!
//! GitHub: every generated workflow is parsed and converted by GitHub's own
//! `@actions/workflow-parser` (`tests/pipeline/workflow-parser.mjs`, with the JSON
//! import hooks in `json-hooks.mjs`).
//!
//! Needs `node` with the `gitlab-ci-local` and `@actions/workflow-parser` packages
//! (NODE_PATH), `git`, `rsync`, `bash`, `curl` and `python` (CI installs them; see
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

/// What a project puts in its GitLab CI/CD settings, beside the endpoints the
/// harness serves (`MODELOPS_PROMETHEUS_URL`, `MODELOPS_<ENV>_{STABLE,CANDIDATE}_URL`).
///
/// Today a job applies every traffic target's file with the one command in
/// `MODELOPS_APPLY`, by default `kubectl apply -f` — which kubectl refuses for the
/// envoy, nginx and litellm files (they are not Kubernetes objects), so with the
/// default the first deploy job fails. The harness sets the documented variable to
/// a dispatcher that hands each file to the tool that loads it (shim.sh
/// `apply-traffic`). Drop it once the jobs call `modelops apply`.
const PROJECT_VARIABLES: &[(&str, &str)] = &[("MODELOPS_APPLY", "apply-traffic")];

/// How often one pipeline installs modelops.
#[derive(Debug, PartialEq)]
enum Install {
    /// Today: every job that runs modelops runs `cargo install` first.
    EveryJob,
    /// The rebuilt pipelines: once, the other jobs reuse it (an artifact).
    #[allow(dead_code)]
    OncePerPipeline,
}
const INSTALL: Install = Install::EveryJob;

/// Does this call install modelops?
fn installs_modelops(call: &Call) -> bool {
    call.tool == "cargo"
        && call.args.first().is_some_and(|a| a == "install")
        && call.args.iter().any(|a| a == "modelops")
}

/// The traffic state a call puts in place: `(env, model, state)`. Today the istio
/// file of the state reaches `kubectl apply -f` (through `apply-traffic`); the
/// rebuilt jobs name it: `modelops apply MODEL --env ENV --state STATE` (the
/// Kubernetes objects, `--state base`, are no traffic state).
fn applied_state(call: &Call) -> Option<(String, String, String)> {
    match call.tool.as_str() {
        "kubectl" if call.args.first().is_some_and(|a| a == "apply") => {
            let file = call
                .args
                .iter()
                .find(|a| a.starts_with("generated/istio/"))?;
            let parts: Vec<&str> = file.split('/').collect();
            match parts.as_slice() {
                ["generated", "istio", env, model, state] => Some((
                    (*env).to_owned(),
                    (*model).to_owned(),
                    state.strip_suffix(".yaml")?.to_owned(),
                )),
                _ => None,
            }
        }
        "modelops" if call.args.first().is_some_and(|a| a == "apply") => {
            let model = call.args.get(1)?.clone();
            let env = flag(&call.args, "--env")?;
            let state = flag(&call.args, "--state")?;
            (!state.ends_with("base")).then_some((env, model, state))
        }
        _ => None,
    }
}

/// The seconds a call holds the job: `sleep N[smh]`, `modelops guard … --watch D`.
/// (The `sleep` stand-in returns at once; a `--watch` runs in real time inside
/// modelops, which no stand-in can shorten: a rebuilt pipeline that holds with
/// `--watch` needs the durations made short for the test.)
fn hold_seconds(call: &Call) -> Option<u64> {
    match call.tool.as_str() {
        "sleep" => seconds(call.args.first()?),
        "modelops" if call.args.first().is_some_and(|a| a == "guard") => {
            seconds(&flag(&call.args, "--watch")?)
        }
        _ => None,
    }
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

/// A push to the default branch whose every guard holds.
struct Push {
    model: &'static str,
    /// Jobs a person starts (`--manual`).
    manual: &'static [&'static str],
    /// The jobs that run, every one passing.
    jobs: &'static [&'static str],
    /// The traffic states applied per environment, in order.
    states: &'static [(&'static str, &'static [&'static str])],
    /// The hold of each job that holds, in seconds.
    holds: &'static [(&'static str, u64)],
    /// The jobs that check the guards of `prod`.
    guarded: &'static [&'static str],
}

const SUPPORT_BOT_PUSH: Push = Push {
    model: "support-bot",
    manual: &[],
    jobs: &[
        "support-bot-deploy-staging",
        "support-bot-deploy-prod",
        "support-bot-shadow-prod",
        "support-bot-step-1-prod",
        "support-bot-step-10-prod",
        "support-bot-step-50-prod",
        "support-bot-step-100-prod",
        "support-bot-promote-prod",
    ],
    states: &[
        ("staging", &["stable"]),
        (
            "prod",
            &[
                "stable", "shadow", "step-1", "step-10", "step-50", "step-100", "promoted",
            ],
        ),
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
};

const TRIAGE_PUSH: Push = Push {
    model: "triage",
    // Blue-green with promote "manual": the person presses the button.
    manual: &["triage-promote-prod"],
    jobs: &[
        "triage-deploy-staging",
        "triage-deploy-prod",
        "triage-shadow-prod",
        "triage-promote-prod",
    ],
    states: &[
        ("staging", &["stable"]),
        ("prod", &["stable", "shadow", "promoted"]),
    ],
    // The preview's 30m is held in the promote job, after the button.
    holds: &[("triage-shadow-prod", 3600), ("triage-promote-prod", 1800)],
    guarded: &["triage-shadow-prod", "triage-promote-prod"],
};

/// A push whose guards breach once `breach_at` carries traffic in `prod`.
struct Breach {
    model: &'static str,
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
    model: "support-bot",
    breach_at: "step-10",
    passed: &[
        "support-bot-deploy-staging",
        "support-bot-deploy-prod",
        "support-bot-shadow-prod",
        "support-bot-step-1-prod",
    ],
    failed: &["support-bot-step-10-prod"],
    skipped: &[
        "support-bot-step-50-prod",
        "support-bot-step-100-prod",
        "support-bot-promote-prod",
    ],
    rollback: "support-bot-rollback-prod",
    states: &["stable", "shadow", "step-1", "step-10", "stable"],
};

/// A merge request changing the model.
struct MergeRequest {
    model: &'static str,
    jobs: &'static [&'static str],
    /// The job that sends the smoke requests, and how many it sends.
    smoke: (&'static str, usize),
    /// The job that scores both tracks and gates; the gate's arguments.
    gate: (&'static str, &'static [&'static str]),
}

const SUPPORT_BOT_MR: MergeRequest = MergeRequest {
    model: "support-bot",
    jobs: &[
        "support-bot-check",
        "support-bot-smoke-prod",
        "support-bot-eval-eval-prod",
    ],
    smoke: ("support-bot-smoke-prod", 1),
    gate: (
        "support-bot-eval-eval-prod",
        &["gate", "support-bot", "--env", "prod", "--gate", "eval"],
    ),
};

const TRIAGE_MR: MergeRequest = MergeRequest {
    model: "triage",
    jobs: &["triage-check", "triage-smoke-prod", "triage-eval-eval-prod"],
    smoke: ("triage-smoke-prod", 2),
    gate: (
        "triage-eval-eval-prod",
        &["gate", "triage", "--env", "prod", "--gate", "eval"],
    ),
};

/// What the fake model answers (triage's second smoke request expects "billing").
const MODEL_ANSWER: &str = "Queue: billing. Priority: high.";

// ==================================================================================
// The harness.
// ==================================================================================

/// One recorded call of a stand-in.
#[derive(Clone, Debug)]
struct Call {
    job: String,
    tool: String,
    args: Vec<String>,
}

fn flag(args: &[String], name: &str) -> Option<String> {
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1).cloned()
}

/// `7200`, `90s`, `30m`, `1h`, `1h 30m` in seconds.
fn seconds(text: &str) -> Option<u64> {
    let mut total = 0;
    for word in text.split_whitespace() {
        let (number, unit) = word
            .find(|c: char| !c.is_ascii_digit())
            .map_or((word, ""), |at| word.split_at(at));
        let n: u64 = number.parse().ok()?;
        total += n * match unit {
            "" | "s" | "sec" => 1,
            "m" | "min" | "minutes" => 60,
            "h" | "hr" | "hours" => 3600,
            _ => return None,
        };
    }
    Some(total)
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
                args: fields.collect(),
            }
        })
        .collect()
}

/// The states applied to `env` of `model`, in order, repeats of one state in a row
/// counted once (a state may reach kubectl through more than one recorded call).
fn states_of(calls: &[Call], model: &str, env: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for call in calls {
        if let Some((e, m, state)) = applied_state(call)
            && e == env
            && m == model
            && out.last() != Some(&state)
        {
            out.push(state);
        }
    }
    out
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
}

fn tools() -> Option<Tools> {
    let node = external_tool("node")?;
    for tool in ["git", "rsync", "bash", "python"] {
        external_tool(tool)?;
    }
    let curl = external_tool("curl")?;
    let gitlab_ci_local = npm_package("gitlab-ci-local", "dist/index.js")?;
    Some(Tools {
        node,
        gitlab_ci_local,
        curl,
    })
}

/// A tiny HTTP server on loopback: `reply(path, body)` gives the JSON answer; every
/// request is kept as `(path, body)`. It lives as long as the test process.
struct Server {
    url: String,
    requests: Arc<Mutex<Vec<(String, String)>>>,
}

fn serve(reply: impl Fn(&str, &str) -> String + Send + 'static) -> Server {
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
            let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
            let body = String::from_utf8_lossy(&data[head_end..]).into_owned();
            let answer = reply(&path, &body);
            kept.lock().unwrap().push((path, body));
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
    serve(move |_, _| {
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
    serve(|_, _| {
        json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": MODEL_ANSWER}}]})
            .to_string()
    })
}

/// What one gitlab-ci-local run reported.
struct Report {
    code: i32,
    output: String,
    passed: BTreeSet<String>,
    failed: BTreeSet<String>,
}

impl Report {
    fn ran(&self) -> BTreeSet<String> {
        self.passed.union(&self.failed).cloned().collect()
    }
}

/// A temporary repository holding the example with one change, ready to run.
struct Sandbox {
    repo: tempfile::TempDir,
    /// Stand-ins, cargo's home, gitlab-ci-local's home, the log.
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

impl Sandbox {
    /// The example (compiled by the binary under test, with the evaluator it names)
    /// committed on `main` as `origin/main`; then a change to `models/<model>.kdl`
    /// committed on `main` (a push) or on a branch (a merge request).
    fn new(tools: Tools, model: &str, source: Source) -> Sandbox {
        let repo = copy_example();
        let root = repo.path();
        std::fs::create_dir_all(root.join("evals")).unwrap();
        std::fs::copy(
            example_repo().join("tests/pipeline/evaluate.py"),
            root.join("evals/run.py"),
        )
        .unwrap();
        let compile = modelops_in(root, &["compile"]);
        assert_eq!(compile.code, 0, "{}", compile.stderr);

        let mut options = git2::RepositoryInitOptions::new();
        options.initial_head("main");
        let git = Git {
            repo: git2::Repository::init_opts(root, &options).unwrap(),
        };
        let mut config = git.repo.config().unwrap();
        config.set_str("user.name", "Test Author").unwrap();
        config.set_str("user.email", "author@example.com").unwrap();
        git.add_all();
        let base = git.commit("the example");
        git.repo
            .remote("origin", "https://gitlab.example/acme/assistants.git")
            .unwrap();
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

        let scratch = tempfile::tempdir().unwrap();
        let bin = scratch.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let shim = example_repo().join("tests/pipeline/shim.sh");
        let shim = shim.display().to_string().replace('\'', "'\\''");
        for tool in [
            "kubectl",
            "nginx",
            "envoy",
            "curl",
            "cargo",
            "sleep",
            "apply-traffic",
        ] {
            let path = bin.join(tool);
            std::fs::write(
                &path,
                format!("#!/bin/sh\nPIPELINE_SHIM_TOOL={tool} exec bash '{shim}' \"$@\"\n"),
            )
            .unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        std::fs::create_dir_all(scratch.path().join("cargo/bin")).unwrap();
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

    /// The pipeline as the YAML reader sees it.
    fn pipeline(&self, file: &str) -> Value {
        serde_saphyr::from_str(&std::fs::read_to_string(self.repo.path().join(file)).unwrap())
            .unwrap()
    }

    /// Runs gitlab-ci-local on `file` with `variables`, then `extra` arguments (job
    /// names, `--manual JOB`, `--list-json`).
    fn gitlab_ci_local(
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
        let project = PROJECT_VARIABLES
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
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

        let path = std::env::join_paths(
            [scratch.join("bin"), scratch.join("cargo/bin")]
                .into_iter()
                .chain(std::env::split_paths(
                    &std::env::var_os("PATH").unwrap_or_default(),
                )),
        )
        .unwrap();
        let mut command = Command::new(&self.tools.node);
        command
            .args(&args)
            .current_dir(self.repo.path())
            .env("PATH", path)
            .env("CARGO_HOME", scratch.join("cargo"))
            .env_remove("CARGO_INSTALL_ROOT")
            .env("PIPELINE_RUN_LOG", self.log())
            .env("PIPELINE_REAL_CURL", &self.tools.curl)
            .env("MODELOPS_TEST_BIN", env!("CARGO_BIN_EXE_modelops"))
            .env("MODELOPS_CACHE_DIR", support::test_cache())
            .env("NO_COLOR", "1");
        // gitlab-ci-local reads options from GCL_* variables; the developer's are not ours.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("GCL_") {
                command.env_remove(key);
            }
        }
        let out = command.output().expect("run gitlab-ci-local");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let (mut passed, mut failed) = (BTreeSet::new(), BTreeSet::new());
        for line in stdout.lines() {
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some("PASS" | "WARN"), Some(job), None) if line.starts_with(' ') => {
                    passed.insert(job.to_owned());
                }
                (Some("FAIL"), Some(job), None) if line.starts_with(' ') => {
                    failed.insert(job.to_owned());
                }
                _ => {}
            }
        }
        Report {
            code: out.status.code().unwrap_or(-1),
            output: format!("{stdout}{stderr}"),
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
            let needs: Vec<String> = job["needs"]
                .as_array()
                .map(|needs| {
                    needs
                        .iter()
                        .filter_map(|n| n.as_str().or(n["job"].as_str()).map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
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
            let copy = format!(".gitlab-ci-local/on-failure-{name}.yml");
            std::fs::write(
                self.repo.path().join(&copy),
                serde_json::to_string_pretty(&derived).unwrap(),
            )
            .unwrap();
            let report = self.gitlab_ci_local(&copy, source, variables, &[&name]);
            started.push((name, report));
        }
        started
    }

    /// Every job's hold (recorded `sleep`s and `--watch`es) is within its timeout,
    /// which gitlab-ci-local does not enforce.
    fn assert_holds_fit_timeouts(&self, file: &str) {
        let pipeline = self.pipeline(file);
        let mut held: BTreeMap<String, u64> = BTreeMap::new();
        for call in self.calls() {
            if let Some(s) = hold_seconds(&call) {
                *held.entry(call.job.clone()).or_default() += s;
            }
        }
        for (job, seconds_held) in held {
            let Some(timeout) = pipeline[&job]["timeout"].as_str() else {
                continue;
            };
            let limit = seconds(timeout).unwrap_or_else(|| panic!("timeout {timeout:?}"));
            assert!(
                seconds_held < limit,
                "{job} holds {seconds_held} s, its timeout is {timeout}"
            );
        }
    }

    /// The installs of modelops follow [`INSTALL`].
    fn assert_installs(&self, jobs_that_ran: &BTreeSet<String>) {
        let calls = self.calls();
        let installs: Vec<&Call> = calls.iter().filter(|c| installs_modelops(c)).collect();
        match INSTALL {
            Install::EveryJob => {
                for (index, call) in calls
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.tool == "modelops")
                {
                    assert!(
                        calls[..index]
                            .iter()
                            .any(|c| c.job == call.job && installs_modelops(c)),
                        "{} runs modelops without installing it first: {call:?}",
                        call.job
                    );
                }
            }
            Install::OncePerPipeline => {
                assert_eq!(installs.len(), 1, "{installs:#?}");
            }
        }
        for call in installs {
            assert!(jobs_that_ran.contains(&call.job), "{call:?}");
        }
    }
}

fn owned(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn push_variables(prometheus: &Server) -> Vec<(String, String)> {
    vec![("MODELOPS_PROMETHEUS_URL".into(), prometheus.url.clone())]
}

/// (a) A push to the default branch, every guard healthy: every job passes, each
/// environment goes through its states in order, holds and guards happen where the
/// rollout says; the other model's pipeline runs nothing (`rules: changes`).
fn run_healthy_push(expected: &Push, other_model: &str) {
    let Some(tools) = tools() else { return };
    let started = Instant::now();
    let sandbox = Sandbox::new(tools, expected.model, Source::Push);
    let prometheus = prometheus(sandbox.log(), expected.model, "prod", None);
    let variables = push_variables(&prometheus);
    let file = pipeline_file(expected.model);
    let mut extra = Vec::new();
    for job in expected.manual {
        extra.extend(["--manual", job]);
    }
    let report = sandbox.gitlab_ci_local(&file, Source::Push, &variables, &extra);
    let calls = sandbox.calls();
    assert!(
        report.failed.is_empty() && report.code == 0,
        "failed: {:?}\n{}",
        report.failed,
        report.output
    );
    assert_eq!(report.passed, owned(expected.jobs), "{}", report.output);
    for (env, states) in expected.states {
        assert_eq!(
            states_of(&calls, expected.model, env),
            *states,
            "the states of {env}:\n{calls:#?}"
        );
    }
    let holds: Vec<(String, u64)> = calls
        .iter()
        .filter_map(|c| hold_seconds(c).map(|s| (c.job.clone(), s)))
        .collect();
    let expected_holds: Vec<(String, u64)> = expected
        .holds
        .iter()
        .map(|(j, s)| ((*j).to_owned(), *s))
        .collect();
    assert_eq!(
        holds.iter().cloned().collect::<BTreeSet<_>>(),
        expected_holds.into_iter().collect::<BTreeSet<_>>()
    );
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
    assert!(
        !prometheus.requests.lock().unwrap().is_empty(),
        "no guard queried Prometheus"
    );
    sandbox.assert_holds_fit_timeouts(&file);
    sandbox.assert_installs(&report.ran());
    // The other model's files did not change: its pipeline has no job to run.
    let listed = sandbox.gitlab_ci_local(
        &pipeline_file(other_model),
        Source::Push,
        &variables,
        &["--list-json"],
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
    eprintln!(
        "{}: healthy push ran in {:?}",
        expected.model,
        started.elapsed()
    );
}

#[test]
fn support_bot_push_walks_the_canary_to_promoted() {
    run_healthy_push(&SUPPORT_BOT_PUSH, "triage");
}

#[test]
fn triage_push_walks_blue_green_to_promoted_after_the_manual_job() {
    run_healthy_push(&TRIAGE_PUSH, "support-bot");
}

/// (b) A push whose guards breach once the canary carries `breach_at`'s traffic:
/// that job fails, its successors never start, and the rollback job applies
/// `stable`.
#[test]
fn support_bot_push_rolls_back_when_a_guard_breaches() {
    let Some(tools) = tools() else { return };
    let started = Instant::now();
    let expected = &SUPPORT_BOT_BREACH;
    let sandbox = Sandbox::new(tools, expected.model, Source::Push);
    let prometheus = prometheus(
        sandbox.log(),
        expected.model,
        "prod",
        Some(expected.breach_at),
    );
    let variables = push_variables(&prometheus);
    let file = pipeline_file(expected.model);
    let report = sandbox.gitlab_ci_local(&file, Source::Push, &variables, &[]);
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
    // gitlab-ci-local never starts the rollback (it waits for the skipped jobs it
    // needs); if a later version does, the harness has nothing to stand in for.
    if report.ran().contains(expected.rollback) {
        assert!(
            report.passed.contains(expected.rollback),
            "{}",
            report.output
        );
    } else {
        let started_now = sandbox.start_on_failure_jobs(&file, Source::Push, &variables, &report);
        let names: Vec<&str> = started_now.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, [expected.rollback]);
        let (_, rollback) = &started_now[0];
        assert_eq!(
            rollback.passed,
            owned(&[expected.rollback]),
            "{}",
            rollback.output
        );
    }
    let calls = sandbox.calls();
    assert_eq!(
        states_of(&calls, expected.model, "prod"),
        expected.states,
        "{calls:#?}"
    );
    assert!(
        calls
            .iter()
            .any(|c| c.job == expected.rollback && applied_state(c).is_some()),
        "the rollback job applied the state itself"
    );
    sandbox.assert_holds_fit_timeouts(&file);
    eprintln!("{}: breach ran in {:?}", expected.model, started.elapsed());
}

/// (c) A merge request changing the model: check, smoke requests against the
/// candidate, both tracks scored and gated; nothing is deployed.
fn run_merge_request(expected: &MergeRequest) {
    let Some(tools) = tools() else { return };
    let started = Instant::now();
    let sandbox = Sandbox::new(tools, expected.model, Source::MergeRequest);
    let endpoint = model_endpoint();
    let variables = vec![
        (
            "MODELOPS_PROD_CANDIDATE_URL".to_owned(),
            format!("{}/candidate", endpoint.url),
        ),
        (
            "MODELOPS_PROD_STABLE_URL".to_owned(),
            format!("{}/stable", endpoint.url),
        ),
        ("OPENAI_API_KEY".to_owned(), "sk-test-not-a-key".to_owned()),
        (
            "ANTHROPIC_API_KEY".to_owned(),
            "sk-ant-test-not-a-key".to_owned(),
        ),
    ];
    let file = pipeline_file(expected.model);
    let report = sandbox.gitlab_ci_local(&file, Source::MergeRequest, &variables, &[]);
    assert!(
        report.failed.is_empty() && report.code == 0,
        "failed: {:?}\n{}",
        report.failed,
        report.output
    );
    assert_eq!(report.passed, owned(expected.jobs), "{}", report.output);
    let calls = sandbox.calls();
    assert!(
        calls
            .iter()
            .all(|c| applied_state(c).is_none() && c.tool != "kubectl"),
        "a merge request deploys nothing: {calls:#?}"
    );
    let requests = endpoint.requests.lock().unwrap().clone();
    let (smoke_job, smoke_count) = expected.smoke;
    let smoke: Vec<&Call> = calls
        .iter()
        .filter(|c| c.job == smoke_job && c.tool == "curl")
        .collect();
    assert_eq!(smoke.len(), smoke_count, "{calls:#?}");
    for call in &smoke {
        let url = call.args.iter().find(|a| a.starts_with("http")).unwrap();
        assert_eq!(
            url,
            &format!("{}/candidate/v1/chat/completions", endpoint.url)
        );
        let body = flag(&call.args, "--data").unwrap();
        let sent: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(sent["model"], expected.model, "{body}");
        assert!(
            requests.iter().any(|(_, b)| b == &body),
            "{body} never arrived"
        );
    }
    let (gate_job, gate_args) = expected.gate;
    let evaluations: Vec<&Call> = calls
        .iter()
        .filter(|c| c.job == gate_job && c.tool == "evals/run.py")
        .collect();
    let endpoints: BTreeSet<String> = evaluations
        .iter()
        .filter_map(|c| flag(&c.args, "--endpoint"))
        .collect();
    assert_eq!(
        endpoints,
        owned(&[
            &format!("{}/stable", endpoint.url),
            &format!("{}/candidate", endpoint.url)
        ]),
        "both tracks are scored: {calls:#?}"
    );
    assert!(
        calls.iter().any(|c| c.job == gate_job
            && c.tool == "modelops"
            && c.args.starts_with(
                &gate_args
                    .iter()
                    .map(|a| (*a).to_owned())
                    .collect::<Vec<_>>()
            )),
        "{calls:#?}"
    );
    assert!(
        calls
            .iter()
            .any(|c| c.tool == "modelops" && c.args.first().is_some_and(|a| a == "check")),
        "the check job validates: {calls:#?}"
    );
    sandbox.assert_installs(&report.ran());
    eprintln!(
        "{}: merge request ran in {:?}",
        expected.model,
        started.elapsed()
    );
}

#[test]
fn support_bot_merge_request_checks_smokes_and_gates() {
    run_merge_request(&SUPPORT_BOT_MR);
}

#[test]
fn triage_merge_request_checks_smokes_and_gates() {
    run_merge_request(&TRIAGE_MR);
}

/// (d) Every generated GitHub workflow parses and converts with GitHub's own parser,
/// with no error.
#[test]
fn github_workflows_pass_githubs_own_parser() {
    let Some(node) = external_tool("node") else {
        return;
    };
    if npm_package("@actions/workflow-parser", "package.json").is_none() {
        return;
    }
    let repo = copy_example();
    let compile = modelops_in(repo.path(), &["compile", "--target", "github-actions"]);
    assert_eq!(compile.code, 0, "{}", compile.stderr);
    let dir = repo.path().join("generated/github-actions");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    let out = Command::new(node)
        .arg(example_repo().join("tests/pipeline/workflow-parser.mjs"))
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let findings: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
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
    let out = Command::new(node)
        .arg(example_repo().join("tests/pipeline/workflow-parser.mjs"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let findings: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["message"].as_str().unwrap().contains("nothing")),
        "{findings:#?}"
    );
}
