//! What the CI targets share: the jobs of a model's release pipeline, as data the
//! GitHub Actions and GitLab CI targets write in their own syntax.
//!
//! Every run starts with `modelops`, which installs modelops once from the pinned
//! source `pipelines { modelops … }` names and hands the binary to every later job.
//!
//! On a pull request: `check` (against the target branch's history), then one eval
//! job per gate, which scores the candidate's and the stable release's resolved
//! configuration (`modelops inspect … --track … --out`) with the gate's own command
//! and lets `modelops gate` decide — before anything is deployed.
//!
//! On the default branch, per environment in promotion order, what the driver
//! leaves to the pipeline ([`release`]): deploy, online smoke requests, holds that
//! watch the guards, an approval before live traffic (and before a blue-green
//! switch, after its preview), and a rollback that runs when a job of *that*
//! environment fails or is cancelled, without waiting for an approval. Jobs acting
//! on an environment take its cluster credentials from one place,
//! `MODELOPS_KUBECONFIG_<ENV>` (a GitHub secret; a GitLab file variable).
//!
//! Runtime contract (documented in the recipes): `MODELOPS_PROMETHEUS_URL`,
//! `MODELOPS_<ENV>_CANDIDATE_URL` for smoke requests, `MODELOPS_KUBECONFIG_<ENV>`,
//! and the provider keys the gates need.

mod release;

use std::collections::BTreeSet;

use crate::model::Gate;
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

/// The version of modelops that wrote the pipelines.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where modelops' source lives: the default install source, at this version's tag.
pub const REPOSITORY: &str = env!("CARGO_PKG_REPOSITORY");

/// Where the install job puts the binary, relative to the repository root; every
/// later job finds it there.
pub const BIN_DIR: &str = ".modelops/bin";

/// The kubectl the jobs install where the runner has none.
pub const KUBECTL_VERSION: &str = "v1.31.4";

/// The Argo Rollouts kubectl plugin the controller-flavored jobs install.
pub const ARGO_ROLLOUTS_VERSION: &str = "v1.8.3";

/// One step of a job: a shell script with its environment.
#[derive(Clone, Debug)]
pub struct Script {
    pub name: String,
    pub run: String,
    /// Environment variables: (name, value); values may reference CI variables.
    pub env: Vec<(String, EnvValue)>,
}

impl Script {
    fn new(name: impl Into<String>, run: impl Into<String>) -> Self {
        Script {
            name: name.into(),
            run: run.into(),
            env: Vec::new(),
        }
    }

    fn with_env(mut self, name: &str, value: EnvValue) -> Self {
        self.env.push((name.to_owned(), value));
        self
    }
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
    /// Both: the install job.
    Always,
}

/// What a job is, beyond its scripts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Installs modelops for the run.
    Install,
    Work,
    /// Waits for the environment's approval: before live traffic, or (`person`)
    /// a person's go for a manual blue-green promotion.
    Approval {
        person: bool,
    },
    /// Runs when a job it needs failed or was cancelled, never waiting for approval.
    Rollback,
}

/// One job of the pipeline.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: String,
    pub title: String,
    pub trigger: Trigger,
    pub kind: Kind,
    /// Jobs this one follows (the install job is implied for every job but itself).
    pub needs: Vec<String>,
    /// The deployment environment the job acts on: its credentials, and a lock so
    /// that two pipelines never act on it at once.
    pub environment: Option<String>,
    /// Calls `kubectl` on the environment's cluster.
    pub kubectl: bool,
    /// Calls the Argo Rollouts kubectl plugin.
    pub argo: bool,
    /// Reads the base branch's history (`check --base`).
    pub full_history: bool,
    /// How long the job may run, in minutes (holds included).
    pub timeout_minutes: u64,
    pub scripts: Vec<Script>,
    /// What to run when the job is cancelled (GitLab `after_script`): the
    /// environment's rollback, since a cancelled hold must not leave live traffic
    /// on the candidate.
    pub on_cancel: Option<Script>,
}

impl Job {
    fn new(id: String, title: String, trigger: Trigger) -> Self {
        Job {
            id,
            title,
            trigger,
            kind: Kind::Work,
            needs: Vec::new(),
            environment: None,
            kubectl: false,
            argo: false,
            full_history: false,
            timeout_minutes: 30,
            scripts: Vec::new(),
            on_cancel: None,
        }
    }
}

/// Where the install job gets modelops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Install {
    /// `cargo install --path` of a folder of this repository.
    Path(String),
    /// `cargo install --git` at a commit or a tag.
    Git {
        url: String,
        rev: Option<String>,
        tag: Option<String>,
    },
    /// A `.tar.gz` with `modelops` at its top, checked against its SHA-256.
    Archive { url: String, sha256: String },
    /// A container image holding `modelops` on its PATH.
    Image(String),
}

impl Install {
    /// The project's source, or the default: modelops' repository at this version's
    /// tag.
    pub fn of(cx: &Context<'_>) -> Install {
        let Some(source) = &cx.project.pipelines.modelops else {
            return Install::Git {
                url: REPOSITORY.to_owned(),
                rev: None,
                tag: Some(format!("v{VERSION}")),
            };
        };
        if let Some(path) = &source.path {
            Install::Path(path.clone())
        } else if let Some(url) = &source.url {
            Install::Archive {
                url: url.clone(),
                sha256: source.sha256.clone().unwrap_or_default(),
            }
        } else if let Some(image) = &source.image {
            Install::Image(image.clone())
        } else {
            Install::Git {
                url: source.git.clone().unwrap_or_else(|| REPOSITORY.to_owned()),
                rev: source.rev.clone(),
                tag: source.tag.clone(),
            }
        }
    }

    /// The install script for the sources built or downloaded on any runner (an
    /// image is copied out as each CI system can), leaving `BIN_DIR/modelops`.
    pub fn script(&self) -> Option<Script> {
        let root = BIN_DIR.trim_end_matches("/bin");
        match self {
            Install::Path(path) => Some(Script::new(
                "Build modelops from this repository",
                format!(
                    "cargo install --locked --root {root} --path {}",
                    shell_word(path)
                ),
            )),
            Install::Git { url, rev, tag } => {
                let pin = match (rev, tag) {
                    (Some(rev), _) => format!("--rev {}", shell_word(rev)),
                    (None, Some(tag)) => format!("--tag {}", shell_word(tag)),
                    (None, None) => String::new(),
                };
                Some(Script::new(
                    "Build modelops from its pinned source",
                    format!(
                        "cargo install --locked --root {root} --git {} {pin} modelops",
                        shell_word(url)
                    ),
                ))
            }
            Install::Archive { url, sha256 } => Some(
                Script::new(
                    "Download modelops and check its checksum",
                    format!(
                        "mkdir -p {BIN_DIR}\ncurl -fsSL -o {root}/modelops.tar.gz \"$MODELOPS_ARCHIVE\"\necho \"$MODELOPS_SHA256  {root}/modelops.tar.gz\" | sha256sum -c -\ntar -xzf {root}/modelops.tar.gz -C {BIN_DIR} modelops"
                    ),
                )
                .with_env("MODELOPS_ARCHIVE", EnvValue::Literal(url.clone()))
                .with_env("MODELOPS_SHA256", EnvValue::Literal(sha256.clone())),
            ),
            Install::Image(_) => None,
        }
    }
}

/// A model's pipeline.
#[derive(Clone, Debug)]
pub struct Pipeline {
    pub model: String,
    /// Exactly the files the model's deployments depend on.
    pub paths: Vec<String>,
    pub install: Install,
    pub jobs: Vec<Job>,
}

/// The id of the install job.
pub const INSTALL_JOB: &str = "modelops";

fn env_key(environment: &str) -> String {
    environment.to_ascii_uppercase().replace('-', "_")
}

/// The variable holding an environment's cluster credentials (a kubeconfig).
pub fn kubeconfig_variable(environment: &str) -> String {
    format!("MODELOPS_KUBECONFIG_{}", env_key(environment))
}

/// Installs what a job calls when the runner lacks it: kubectl, and the Argo
/// Rollouts plugin, each at a pinned version, checked against the checksums its
/// release publishes, into `BIN_DIR`.
pub fn tools_script(job: &Job) -> Option<Script> {
    let mut lines = Vec::new();
    if job.kubectl {
        lines.push(format!(
            "if ! command -v kubectl >/dev/null; then\n  curl -fsSL -o {BIN_DIR}/kubectl https://dl.k8s.io/release/{KUBECTL_VERSION}/bin/linux/amd64/kubectl\n  echo \"$(curl -fsSL https://dl.k8s.io/release/{KUBECTL_VERSION}/bin/linux/amd64/kubectl.sha256)  {BIN_DIR}/kubectl\" | sha256sum -c -\n  chmod +x {BIN_DIR}/kubectl\nfi"
        ));
    }
    if job.argo {
        lines.push(format!(
            "if ! command -v kubectl-argo-rollouts >/dev/null; then\n  base=https://github.com/argoproj/argo-rollouts/releases/download/{ARGO_ROLLOUTS_VERSION}\n  curl -fsSL -o {BIN_DIR}/kubectl-argo-rollouts-linux-amd64 \"$base/kubectl-argo-rollouts-linux-amd64\"\n  curl -fsSL \"$base/argo-rollouts-checksums.txt\" | grep ' kubectl-argo-rollouts-linux-amd64$' | (cd {BIN_DIR} && sha256sum -c -)\n  mv {BIN_DIR}/kubectl-argo-rollouts-linux-amd64 {BIN_DIR}/kubectl-argo-rollouts\n  chmod +x {BIN_DIR}/kubectl-argo-rollouts\nfi"
        ));
    }
    (!lines.is_empty()).then(|| Script::new("Install the tools this job calls", lines.join("\n")))
}

/// `modelops …` as a command line of shell words.
fn modelops(args: &[&str]) -> String {
    let mut line = String::from("modelops");
    for arg in args {
        line.push(' ');
        line.push_str(&shell_word(arg));
    }
    line
}

fn check_job(ci: CiSystem, model: &str) -> Job {
    // GitHub turns `--format github` lines into annotations; GitLab shows the log.
    let format = match ci {
        CiSystem::GitHub => " --format github",
        CiSystem::GitLab => "",
    };
    let mut job = Job::new(
        "check".into(),
        format!("check {model}"),
        Trigger::PullRequest,
    );
    job.full_history = true;
    job.scripts.push(
        Script::new(
            "Validate",
            format!(
                "git fetch --quiet origin \"$BASE_REF\"\nmodelops check{format} --base \"origin/$BASE_REF\"\nmodelops lock --check\nmodelops compile --check"
            ),
        )
        .with_env("BASE_REF", EnvValue::Variable("BASE_REF".into())),
    );
    job
}

/// The gate command's placeholders, as the quoted shell variables the eval job sets.
pub const GATE_PLACEHOLDERS: [(&str, &str); 8] = [
    ("scores", "\"$MODELOPS_SCORES\""),
    ("dataset", "\"$MODELOPS_DATASET\""),
    ("judge", "\"$MODELOPS_JUDGE\""),
    ("release_dir", "\"$MODELOPS_RELEASE_DIR\""),
    ("prompt", "\"$MODELOPS_PROMPT_FILE\""),
    ("params", "\"$MODELOPS_PARAMS_FILE\""),
    ("base", "\"$MODELOPS_BASE_MODEL\""),
    ("track", "\"$MODELOPS_TRACK\""),
];

/// Replaces a gate command's placeholders with quoted shell variables, so that
/// values reach the command through the environment, never pasted into the script.
pub fn render_placeholders(command: &str) -> String {
    crate::syntax::template::render_text(command, &GATE_PLACEHOLDERS, false)
        .unwrap_or_else(|_| command.to_owned())
}

/// One eval job per gate: the candidate's and the stable release's resolved form
/// (rendered prompt, params, base model, as files and `MODELOPS_*` variables), each
/// scored by the gate's own command, then `modelops gate`.
fn eval_job(cx: &Context<'_>, d: &Deployment<'_>, gate: &Gate) -> Job {
    let env = &d.environment.name;
    let model = &d.model.name;
    let dataset = gate
        .dataset
        .as_ref()
        .map(|d| d.path.clone())
        .unwrap_or_default();
    let judge = gate.judge.clone().unwrap_or_default();
    let base = |track: &str| {
        d.plan
            .tracks
            .iter()
            .find(|t| (t.track == "stable") == (track == "stable"))
            .and_then(|t| cx.release(model, &t.release))
            .and_then(|r| r.base.as_ref())
            .map(|b| b.id.clone())
            .unwrap_or_default()
    };
    let mut job = Job::new(
        format!("eval-{}-{env}", gate.name),
        format!("eval gate {} of {model} for {env}", gate.name),
        Trigger::PullRequest,
    );
    job.needs = vec!["check".into()];
    job.timeout_minutes = 120;
    let mut lines = Vec::new();
    for track in ["stable", "candidate"] {
        let dir = format!(".modelops/gate/{track}");
        lines.push(modelops(&[
            "inspect", model, "--env", env, "--track", track, "--out", &dir,
        ]));
        // Exported first: in `VAR=x cmd "$VAR"` the expansion would not see it.
        let key = track.to_ascii_uppercase();
        lines.push(format!(
            "export MODELOPS_TRACK={track} MODELOPS_RELEASE_DIR={dir} MODELOPS_PROMPT_FILE={dir}/system-prompt.txt MODELOPS_PARAMS_FILE={dir}/params.json MODELOPS_RELEASE_FILE={dir}/release.json MODELOPS_BASE_MODEL=\"$BASE_{key}\" MODELOPS_SCORES={track}.jsonl"
        ));
        // The gate's command is data: it reaches the shell through the environment.
        lines.push("sh -c \"$MODELOPS_GATE_COMMAND\"".into());
    }
    let mut score = Script::new("Score stable and candidate", lines.join("\n"))
        .with_env(
            "MODELOPS_GATE_COMMAND",
            EnvValue::Literal(render_placeholders(&gate.run)),
        )
        .with_env("MODELOPS_DATASET", EnvValue::Literal(dataset))
        .with_env("MODELOPS_JUDGE", EnvValue::Literal(judge))
        .with_env("BASE_STABLE", EnvValue::Literal(base("stable")))
        .with_env("BASE_CANDIDATE", EnvValue::Literal(base("candidate")));
    score.env.extend(secret_env(d));
    job.scripts.push(score);
    job.scripts.push(Script::new(
        "Gate",
        modelops(&[
            "gate",
            model,
            "--env",
            env,
            "--gate",
            &gate.name,
            "--baseline",
            "stable.jsonl",
            "--candidate",
            "candidate.jsonl",
        ]),
    ));
    job
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

/// Online smoke requests against the deployed candidate.
fn smoke_script(d: &Deployment<'_>) -> Option<Script> {
    let smoke = d.deploy.smoke.as_ref()?;
    let key = env_key(&d.environment.name);
    let mut script = Script::new("Smoke requests", String::new()).with_env(
        "CANDIDATE_URL",
        EnvValue::Variable(format!("MODELOPS_{key}_CANDIDATE_URL")),
    );
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
        script.env.push((var.clone(), EnvValue::Literal(body)));
        let status = request.expect_status.unwrap_or(200);
        lines.push(format!(
            "status=$(curl -sS -o response.json -w '%{{http_code}}' -X POST \"$CANDIDATE_URL/v1/chat/completions\" -H 'Content-Type: application/json' --data \"${var}\")\ntest \"$status\" = \"{status}\" || {{ echo \"smoke request {} answered $status, expected {status}\"; exit 1; }}",
            index + 1
        ));
        if let Some(contains) = &request.expect_contains {
            let expect = format!("SMOKE_EXPECT_{}", index + 1);
            script
                .env
                .push((expect.clone(), EnvValue::Literal(contains.clone())));
            lines.push(format!(
                "grep -qF -- \"${expect}\" response.json || {{ echo \"smoke request {} lacks the expected text\"; exit 1; }}",
                index + 1
            ));
        }
    }
    script.run = lines.join("\n");
    Some(script)
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
    let mut paths: BTreeSet<String> = BTreeSet::new();
    for d in &deployments {
        paths.extend(d.plan.dependencies.iter().cloned());
    }
    let mut install = Job::new(
        INSTALL_JOB.into(),
        format!("install modelops for {model}"),
        Trigger::Always,
    );
    install.kind = Kind::Install;
    let mut jobs = vec![install, check_job(ci, model)];
    let mut previous: Option<String> = None;
    for d in promotion_order(deployments) {
        if d.deploy.candidate().is_some() {
            for gate in d.deploy.gate.values() {
                jobs.push(eval_job(cx, &d, gate));
            }
        }
        let needs: Vec<String> = previous.iter().cloned().collect();
        let (release, last) = release::jobs(cx, &d, needs);
        jobs.extend(release);
        previous = Some(last);
    }
    Pipeline {
        model: model.to_owned(),
        paths: paths.into_iter().collect(),
        install: Install::of(cx),
        jobs,
    }
}
