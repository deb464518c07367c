//! `modelops apply`: puts one state of a deployment in place from the committed
//! output folder, with each target's own mechanism ([`Apply`]), in order, verifying
//! each step.
//!
//! A state is `base` (the Kubernetes objects of the deployment), `stable-base` (the
//! bootstrap file the controller flavors write when a deployment has a candidate) or
//! a traffic state (`stable`, `shadow`, `step-<weight>`, `promoted`). Which files
//! that means comes from the registry: for a traffic state, the file of every
//! declared target written per traffic state under the project's driver; for the
//! bases, the per-deployment files (the routes Argo Rollouts manages first, the
//! Kubernetes objects last).
//!
//! [`plan`] decides every step from the configuration and the files, touching
//! nothing; [`execute`] runs a plan. Programs run from the repository root, without
//! a shell: commands a project writes (`apply=`, `reload=`) are split into words
//! ([`split_words`]) and the file is passed as an argument, never pasted into a
//! command line.

use std::ffi::OsStr;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use crate::layout::OUTPUT_DIR;
use crate::model::target::Driver;
use crate::model::{Project, TargetKind};
use crate::target::registry::{Apply, Layout, Per, TARGETS, Target};

/// The largest generated file `apply` installs (generated files are a few KiB).
pub const MAX_INSTALL_BYTES: u64 = 16 * 1024 * 1024;

/// How much of a program's output (each of stdout and stderr) is kept to show;
/// the rest is read and dropped, so a chatty program never blocks.
const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// What `--state` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// The Kubernetes objects of the deployment.
    Base,
    /// The controller flavors' bootstrap: the objects with the stable release's pod
    /// template (`<model>.stable.yaml`).
    StableBase,
    /// A traffic state: `stable`, `shadow`, `step-<weight>` or `promoted`.
    Traffic(String),
}

impl State {
    /// Reads a state's name; `None` for anything that cannot name one.
    pub fn parse(text: &str) -> Option<State> {
        match text {
            "base" => Some(State::Base),
            "stable-base" => Some(State::StableBase),
            "stable" | "shadow" | "promoted" => Some(State::Traffic(text.to_owned())),
            _ => {
                let weight = text.strip_prefix("step-")?;
                let valid = !weight.is_empty()
                    && weight.len() <= 3
                    && weight.bytes().all(|b| b.is_ascii_digit())
                    && !weight.starts_with('0');
                valid.then(|| State::Traffic(text.to_owned()))
            }
        }
    }

    pub fn name(&self) -> &str {
        match self {
            State::Base => "base",
            State::StableBase => "stable-base",
            State::Traffic(name) => name,
        }
    }

    /// Where the state comes in a rollout, for listing states in order.
    fn rank(&self) -> (u8, u32) {
        match self {
            State::StableBase => (0, 0),
            State::Base => (1, 0),
            State::Traffic(name) => match name.as_str() {
                "stable" => (2, 0),
                "shadow" => (3, 0),
                "promoted" => (5, 0),
                step => (
                    4,
                    step.strip_prefix("step-")
                        .and_then(|w| w.parse().ok())
                        .unwrap_or(0),
                ),
            },
        }
    }
}

/// How an apply failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// A verification failed: a program refused the file (exit code 1).
    Refused,
    /// The request, the files or the machine are not usable: nothing was run, or a
    /// program could not be started (exit code 2).
    Error,
}

/// Why `apply` stopped, with what to do about it.
#[derive(Clone, Debug)]
pub struct ApplyError {
    pub failure: Failure,
    pub message: String,
    pub help: Option<String>,
}

impl ApplyError {
    fn error(message: impl Into<String>, help: Option<String>) -> Self {
        ApplyError {
            failure: Failure::Error,
            message: message.into(),
            help,
        }
    }

    fn refused(message: impl Into<String>, help: Option<String>) -> Self {
        ApplyError {
            failure: Failure::Refused,
            message: message.into(),
            help,
        }
    }
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApplyError {}

/// What a program run is for: it decides what a failure means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Applies the file (`kubectl apply`, a target's `apply=`).
    Apply,
    /// Checks the file before anything is touched (`envoy --mode validate`).
    Validate,
    /// Checks the installed file with the rest of the configuration (`nginx -t`).
    Test,
    /// Makes the running program read the installed file (`nginx -s reload`, a
    /// target's `reload=`).
    Reload,
}

/// One step of an action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Runs a program: `argv[0]` as written (looked up on `PATH` unless it holds a
    /// `/`), with the arguments after it.
    Run { argv: Vec<String>, role: Role },
    /// Puts the file at `to` atomically, keeping the previous one until every step
    /// after it has passed; a failure after it puts the previous file back.
    Install {
        /// The file, relative to the repository root.
        from: String,
        to: PathBuf,
    },
    /// Something the plan leaves out, said once.
    Note(String),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Run { argv, .. } => f.write_str(&command_line(argv)),
            Step::Install { from, to } => write!(f, "install {from} as {}", to.display()),
            Step::Note(note) => f.write_str(note),
        }
    }
}

/// One target's file and the steps that apply it.
#[derive(Clone, Debug)]
pub struct Action {
    pub target: &'static str,
    /// The file, relative to the repository root (`generated/...`).
    pub file: String,
    pub steps: Vec<Step>,
}

/// Everything one `apply` does, decided before anything runs.
#[derive(Clone, Debug)]
pub struct Plan {
    pub root: PathBuf,
    pub model: String,
    pub environment: String,
    pub state: State,
    pub actions: Vec<Action>,
}

/// What to apply.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The repository root: files are read from its output folder and programs run
    /// from it.
    pub root: &'a Path,
    pub project: &'a Project,
    pub model: &'a str,
    pub environment: &'a str,
    pub state: &'a str,
}

/// Where a mechanism installs its file when the target sets no `path=`.
pub fn default_path(apply: Apply) -> Option<&'static str> {
    match apply {
        Apply::NginxInstallTestReload => {
            Some("/etc/nginx/conf.d/modelops-{{environment}}-{{model}}.conf")
        }
        Apply::EnvoyFileSwap => Some("/etc/envoy/modelops-{{environment}}-{{model}}.yaml"),
        Apply::LiteLlmReload => Some("/etc/litellm/modelops-{{environment}}-{{model}}.yaml"),
        Apply::Kubectl | Apply::CiSystem | Apply::Nothing => None,
    }
}

/// The declared target of a kind, with its registry entry.
fn declared(
    project: &Project,
    kind: TargetKind,
) -> Option<(&crate::model::Target, &'static dyn Target)> {
    project
        .target
        .values()
        .find(|t| t.kind == kind)
        .map(|t| (t, crate::target::registry::target(kind)))
}

/// The files of one state, as (declared target, file under the output folder).
fn files_of<'p>(
    project: &'p Project,
    driver: Driver,
    state: &State,
    model: &str,
    environment: &str,
) -> Vec<(&'p crate::model::Target, &'static dyn Target, String)> {
    let deployment = [("environment", environment), ("model", model)];
    let mut files = Vec::new();
    match state {
        State::Base | State::StableBase => {
            // The other per-deployment files first (the routes Argo Rollouts
            // manages, which its Rollout names), the workload last.
            for registered in TARGETS {
                let kind = registered.kind();
                let Some((target, registered)) = declared(project, kind) else {
                    continue;
                };
                let layout = registered.layout(driver);
                if kind == TargetKind::Kubernetes
                    || layout.per != Per::Deployment
                    || registered.apply() != Apply::Kubectl
                {
                    continue;
                }
                files.push((target, registered, layout.path(&deployment)));
            }
            if let Some((target, registered)) = declared(project, TargetKind::Kubernetes) {
                let layout = match state {
                    State::StableBase => crate::target::kubernetes::STABLE_LAYOUT,
                    _ => registered.layout(driver),
                };
                files.push((target, registered, layout.path(&deployment)));
            }
        }
        State::Traffic(name) => {
            for registered in TARGETS {
                let Some((target, registered)) = declared(project, registered.kind()) else {
                    continue;
                };
                let layout = registered.layout(driver);
                if layout.per == Per::TrafficState {
                    files.push((
                        target,
                        registered,
                        layout.state_path(environment, model, name),
                    ));
                }
            }
        }
    }
    files
}

/// The states of a deployment whose every file is in the output folder, in rollout
/// order.
pub fn existing_states(
    root: &Path,
    project: &Project,
    model: &str,
    environment: &str,
) -> Vec<State> {
    let driver = project.driver();
    let output = root.join(OUTPUT_DIR);
    let complete = |state: &State| {
        let files = files_of(project, driver, state, model, environment);
        !files.is_empty()
            && files
                .iter()
                .all(|(_, _, file)| is_regular(&output.join(file)))
    };
    let mut candidates = vec![State::StableBase, State::Base];
    // Traffic states: the names found beside the first per-state file.
    if let Some(layout) = TARGETS
        .iter()
        .filter(|t| project.has_target(t.kind()))
        .map(|t| t.layout(driver))
        .find(|l| l.per == Per::TrafficState)
    {
        candidates.extend(state_names(&output, &layout, model, environment));
    }
    let mut states: Vec<State> = candidates.into_iter().filter(complete).collect();
    states.sort_by_key(State::rank);
    states.dedup();
    states
}

/// The traffic states a per-state layout holds files for.
fn state_names(output: &Path, layout: &Layout, model: &str, environment: &str) -> Vec<State> {
    let pattern = layout.path(&[("environment", environment), ("model", model)]);
    let Some((folder, suffix)) = pattern.split_once("{state}") else {
        return Vec::new();
    };
    if suffix.contains('/') || !(folder.is_empty() || folder.ends_with('/')) {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(output.join(folder)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let name = name.to_str()?;
            match State::parse(name.strip_suffix(suffix)?) {
                Some(state @ State::Traffic(_)) => Some(state),
                _ => None,
            }
        })
        .collect()
}

fn is_regular(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
}

fn state_list(states: &[State]) -> String {
    if states.is_empty() {
        "none: run `modelops compile` and commit generated/".to_owned()
    } else {
        states
            .iter()
            .map(State::name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Decides every step of applying `request.state`, touching nothing.
pub fn plan(request: &Request<'_>) -> Result<Plan, ApplyError> {
    let Request {
        root,
        project,
        model,
        environment,
        state,
    } = *request;
    let states_help = || {
        Some(format!(
            "states of `{model}` in `{environment}`: {}",
            state_list(&existing_states(root, project, model, environment))
        ))
    };
    let Some(state) = State::parse(state) else {
        return Err(ApplyError::error(
            format!(
                "`{state}` is not a state: give `base`, `stable-base`, `stable`, `shadow`, `step-<weight>` or `promoted`"
            ),
            states_help(),
        ));
    };
    let driver = project.driver();
    let files = files_of(project, driver, &state, model, environment);
    if files.is_empty() {
        let why = match state {
            State::Base | State::StableBase => {
                "the project declares no `kubernetes` target".to_owned()
            }
            State::Traffic(_) => format!(
                "no target of the project writes traffic states when {} moves traffic",
                driver_name(driver)
            ),
        };
        return Err(ApplyError::error(
            format!("nothing applies state `{}`: {why}", state.name()),
            states_help(),
        ));
    }
    let mut actions = Vec::new();
    for (declared, registered, file) in files {
        let file = format!("{OUTPUT_DIR}/{file}");
        let path = root.join(&file);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => {
                return Err(ApplyError::error(
                    format!("`{file}` is not a regular file"),
                    Some("`modelops compile` writes regular files; compile again".to_owned()),
                ));
            }
            Err(_) => {
                return Err(ApplyError::error(
                    format!(
                        "`{model}` in `{environment}` has no state `{}`: `{file}` does not exist",
                        state.name()
                    ),
                    states_help(),
                ));
            }
        }
        let steps = steps(
            root,
            declared,
            registered.apply(),
            &file,
            model,
            environment,
        )?;
        actions.push(Action {
            target: registered.name(),
            file,
            steps,
        });
    }
    Ok(Plan {
        root: root.to_path_buf(),
        model: model.to_owned(),
        environment: environment.to_owned(),
        state,
        actions,
    })
}

fn driver_name(driver: Driver) -> &'static str {
    match driver {
        Driver::Pipeline => "the pipeline",
        Driver::ArgoRollouts => "Argo Rollouts",
        Driver::Flagger => "Flagger",
    }
}

/// The steps that apply one target's file.
fn steps(
    root: &Path,
    target: &crate::model::Target,
    apply: Apply,
    file: &str,
    model: &str,
    environment: &str,
) -> Result<Vec<Step>, ApplyError> {
    let name = target.name();
    let words = |option: &str, text: &str| {
        split_words(text).map_err(|why| {
            ApplyError::error(
                format!("`{option}=` of target `{name}` cannot be run: {why}"),
                Some(
                    "modelops runs it without a shell: quote what a shell would interpret to pass it as it is, or put the command in a script and name the script"
                        .to_owned(),
                ),
            )
        })
    };
    let reload = match &target.reload {
        Some(text) => Some(Step::Run {
            argv: words("reload", text)?,
            role: Role::Reload,
        }),
        None => None,
    };
    if let Some(text) = &target.apply {
        let mut argv = words("apply", text)?;
        argv.push(root.join(file).to_string_lossy().into_owned());
        let mut steps = vec![Step::Run {
            argv,
            role: Role::Apply,
        }];
        steps.extend(reload);
        return Ok(steps);
    }
    let argv = |words: &[&str]| words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
    let install = || -> Result<Step, ApplyError> {
        let template = target
            .path
            .as_deref()
            .or(default_path(apply))
            .unwrap_or_default();
        let path = fill_path(template, model, environment).map_err(|why| {
            ApplyError::error(
                format!("`path=` of target `{name}` cannot be used: {why}"),
                Some("it may name `{{model}}` and `{{environment}}`".to_owned()),
            )
        })?;
        Ok(Step::Install {
            from: file.to_owned(),
            to: root.join(path),
        })
    };
    let reload_required = |reads: &str, example: &str| {
        ApplyError::error(
            format!(
                "target `{name}` has no `reload=`: {reads} only when it starts, so installing `{file}` would change nothing"
            ),
            Some(format!(
                "set `reload=\"…\"` on `target \"{name}\"` in modelops.kdl to the command that makes it read the file ({example}), or `apply=\"…\"` to apply the file your own way"
            )),
        )
    };
    let steps = match apply {
        Apply::Kubectl => {
            let mut steps = vec![Step::Run {
                argv: argv(&[
                    "kubectl",
                    "apply",
                    "--server-side",
                    "--field-manager=modelops",
                    "-f",
                    file,
                ]),
                role: Role::Apply,
            }];
            steps.extend(reload);
            steps
        }
        Apply::NginxInstallTestReload => vec![
            install()?,
            Step::Run {
                argv: argv(&["nginx", "-t"]),
                role: Role::Test,
            },
            reload.unwrap_or_else(|| Step::Run {
                argv: argv(&["nginx", "-s", "reload"]),
                role: Role::Reload,
            }),
        ],
        Apply::EnvoyFileSwap => {
            let Some(reload) = reload else {
                return Err(reload_required(
                    "Envoy reads its bootstrap",
                    "a hot restart, or `systemctl restart envoy`",
                ));
            };
            let validate = match find_program("envoy", root) {
                Some(_) => Step::Run {
                    argv: argv(&["envoy", "--mode", "validate", "-c", file]),
                    role: Role::Validate,
                },
                None => Step::Note(format!(
                    "`envoy` is not on PATH here: `{file}` is installed without `envoy --mode validate`"
                )),
            };
            vec![validate, install()?, reload]
        }
        Apply::LiteLlmReload => {
            let Some(reload) = reload else {
                return Err(reload_required(
                    "the LiteLLM proxy reads its config",
                    "such as `systemctl restart litellm`",
                ));
            };
            vec![install()?, reload]
        }
        Apply::CiSystem | Apply::Nothing => {
            return Err(ApplyError::error(
                format!("target `{name}` has nothing to apply"),
                None,
            ));
        }
    };
    Ok(steps)
}

/// Fills `{{model}}` and `{{environment}}` in a `path=` template, in one pass.
fn fill_path(template: &str, model: &str, environment: &str) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err("a `{{` is not closed".to_owned());
        };
        match after[..close].trim() {
            "model" => out.push_str(model),
            "environment" => out.push_str(environment),
            other => {
                return Err(format!(
                    "it names `{other}`, which is not a value it can use"
                ));
            }
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    if out.is_empty() || out.ends_with('/') {
        return Err("it does not name a file".to_owned());
    }
    Ok(out)
}

/// Splits a command into words as a POSIX shell would, without running one: blanks
/// separate words; `'…'` keeps everything in it; `"…"` keeps everything but a
/// backslash before `$`, `` ` ``, `"`, `\` or a newline; a backslash elsewhere
/// keeps the character after it (and a backslash-newline is removed). What only a
/// shell would act on — `$`, backquotes, `| & ; < > ( )`, the globs `* ? [` and a
/// `~` or `#` starting a word — is refused unquoted, since nothing would expand it.
pub fn split_words(text: &str) -> Result<Vec<String>, String> {
    let refuse = |c: char| {
        Err(format!(
            "it holds `{c}` unquoted, which a shell would interpret and modelops does not"
        ))
    };
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("a single quote (') is not closed".to_owned()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('$' | '`' | '"' | '\\')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("a double quote (\") is not closed".to_owned()),
                        },
                        Some(c @ ('$' | '`')) => {
                            return Err(format!(
                                "it holds `{c}` inside double quotes, which a shell would expand and modelops does not"
                            ));
                        }
                        Some(c) => word.push(c),
                        None => return Err("a double quote (\") is not closed".to_owned()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => {
                    in_word = true;
                    word.push(c);
                }
                None => return Err("it ends with a backslash".to_owned()),
            },
            '|' | '&' | ';' | '<' | '>' | '(' | ')' | '$' | '`' | '*' | '?' | '[' => {
                return refuse(c);
            }
            '~' | '#' if !in_word => return refuse(c),
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err("it is empty".to_owned());
    }
    Ok(words)
}

/// A command line for people: each word as a POSIX shell would need it quoted.
pub fn command_line(argv: &[String]) -> String {
    argv.iter()
        .map(|word| crate::target::pipeline::shell_word(word).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Finds a program: a name with a `/` relative to `root` (where programs run),
/// else the first executable file of that name in a folder of `PATH`.
pub fn find_program(name: &str, root: &Path) -> Option<PathBuf> {
    if name.contains('/') {
        let path = root.join(name);
        return is_executable(&path).then_some(path);
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        // An empty entry means the current folder to a shell; it is not searched.
        .filter(|folder| !folder.as_os_str().is_empty())
        .map(|folder| folder.join(name))
        .find(|candidate| is_executable(candidate))
        .map(|found| std::path::absolute(&found).unwrap_or(found))
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

/// What [`execute`] reports as it goes.
pub enum Event<'a> {
    /// A step is about to run.
    Step(&'a Action, &'a Step),
    /// What a program wrote (stdout, then stderr), once it has ended.
    Output(&'a str),
}

/// Runs a plan, action after action, step after step; stops at the first failure.
/// Every program is looked up first: a missing one is an error before anything
/// runs.
pub fn execute(plan: &Plan, events: &mut dyn FnMut(Event<'_>)) -> Result<(), ApplyError> {
    let mut programs = std::collections::BTreeMap::new();
    for action in &plan.actions {
        for step in &action.steps {
            let Step::Run { argv, .. } = step else {
                continue;
            };
            let Some(name) = argv.first() else {
                continue;
            };
            if programs.contains_key(name) {
                continue;
            }
            let Some(found) = find_program(name, &plan.root) else {
                let (message, help) = if name.contains('/') {
                    (
                        format!(
                            "`{name}` (target `{}`) is not an executable file",
                            action.target
                        ),
                        "a program with a `/` in its name is relative to the repository root"
                            .to_owned(),
                    )
                } else {
                    (
                        format!("`{name}` (target `{}`) is not on PATH", action.target),
                        format!(
                            "install it, or set `apply=\"…\"` on `target \"{}\"` to apply its files another way",
                            action.target
                        ),
                    )
                };
                return Err(ApplyError::error(
                    format!("{message}; nothing was applied"),
                    Some(help),
                ));
            };
            programs.insert(name.clone(), found);
        }
    }
    let mut done: Vec<&str> = Vec::new();
    for action in &plan.actions {
        if let Err(mut error) = run_action(plan, action, &programs, events) {
            if !done.is_empty() {
                let applied = format!(
                    "{} applied state `{}` before it failed: apply the state again once this is fixed, or apply the previous one",
                    done.iter()
                        .map(|t| format!("`{t}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    plan.state.name()
                );
                error.help = Some(match error.help.take() {
                    Some(help) => format!("{help}; {applied}"),
                    None => applied,
                });
            }
            return Err(error);
        }
        done.push(action.target);
    }
    Ok(())
}

fn run_action(
    plan: &Plan,
    action: &Action,
    programs: &std::collections::BTreeMap<String, PathBuf>,
    events: &mut dyn FnMut(Event<'_>),
) -> Result<(), ApplyError> {
    let file = plan.root.join(&action.file);
    let env: [(&str, &OsStr); 4] = [
        ("MODELOPS_FILE", file.as_os_str()),
        ("MODELOPS_MODEL", OsStr::new(&plan.model)),
        ("MODELOPS_ENVIRONMENT", OsStr::new(&plan.environment)),
        ("MODELOPS_STATE", OsStr::new(plan.state.name())),
    ];
    let mut installed: Option<Installed> = None;
    for step in &action.steps {
        events(Event::Step(action, step));
        match step {
            Step::Note(_) => {}
            Step::Install { to, .. } => {
                let bytes = read_capped_file(&file).map_err(|e| {
                    ApplyError::error(format!("cannot read `{}`: {e}", action.file), None)
                })?;
                installed = Some(install(&bytes, to).map_err(|e| {
                    ApplyError::error(
                        format!("cannot install `{}` as `{}`: {e}", action.file, to.display()),
                        Some(format!(
                            "the folder must exist and be writable; set `path=\"…\"` on `target \"{}\"` to install it elsewhere",
                            action.target
                        )),
                    )
                })?);
            }
            Step::Run { argv, role } => {
                let shown = command_line(argv);
                let program = argv.first().and_then(|name| programs.get(name));
                let ran = match program {
                    Some(program) => run_program(program, argv, &plan.root, &env),
                    None => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
                };
                let (status, output) = match ran {
                    Ok(ran) => ran,
                    Err(e) => {
                        let undone = undo(installed.take());
                        return Err(ApplyError::error(
                            format!("cannot run `{shown}`: {e}{undone}"),
                            None,
                        ));
                    }
                };
                if !output.is_empty() {
                    events(Event::Output(&output));
                }
                if !status.success() {
                    let status = describe(status);
                    let undone = undo(installed.take());
                    let message = match role {
                        Role::Apply => {
                            format!("`{shown}` failed ({status}) on `{}`{undone}", action.file)
                        }
                        Role::Validate => format!(
                            "`{shown}` refused `{}` ({status}); nothing was installed",
                            action.file
                        ),
                        Role::Test => format!(
                            "`{shown}` failed ({status}) with `{}` installed{undone}",
                            action.file
                        ),
                        Role::Reload => format!("`{shown}` failed ({status}){undone}"),
                    };
                    let help = match role {
                        Role::Reload if undone.is_empty() => Some(
                            "the file is in place; run the reload again once what stopped it is fixed"
                                .to_owned(),
                        ),
                        _ => Some("its output above says why".to_owned()),
                    };
                    return Err(ApplyError::refused(message, help));
                }
            }
        }
    }
    if let Some(installed) = installed {
        installed.keep();
    }
    Ok(())
}

fn describe(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => status.to_string(),
    }
}

/// Puts the previous file back after a failure; says what was done, as the end of
/// a sentence.
fn undo(installed: Option<Installed>) -> String {
    let Some(installed) = installed else {
        return String::new();
    };
    let to = installed.to.display().to_string();
    match installed.restore() {
        Ok(true) => format!("; the previous `{to}` was put back"),
        Ok(false) => format!("; the new `{to}` was removed"),
        Err(e) => format!("; the previous `{to}` could not be put back: {e}"),
    }
}

fn read_capped_file(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_INSTALL_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_INSTALL_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_INSTALL_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

/// A file put in place, with the entry it replaced kept beside it until the steps
/// after it pass.
struct Installed {
    to: PathBuf,
    /// A hard link to (or copy of) the replaced entry.
    previous: Option<PathBuf>,
}

impl Installed {
    /// Puts the replaced entry back, or removes the new file when there was none;
    /// `true` when a previous file was put back.
    fn restore(self) -> std::io::Result<bool> {
        match &self.previous {
            Some(previous) => std::fs::rename(previous, &self.to).map(|()| true),
            None => std::fs::remove_file(&self.to).map(|()| false),
        }
    }

    /// Keeps the new file: lets the replaced one go.
    fn keep(self) {
        if let Some(previous) = &self.previous {
            let _ = std::fs::remove_file(previous);
        }
    }
}

/// Installs `bytes` at `to` by renaming a file written beside it over it, so that
/// a reader sees the old file or the new one, never a part. The new file keeps the
/// permissions of the one it replaces. Names beside it start with `.` and end in
/// `.modelops-new`/`.modelops-old`, which an `include *.conf` never matches.
fn install(bytes: &[u8], to: &Path) -> std::io::Result<Installed> {
    let folder = match to.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    let Some(name) = to.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path does not name a file",
        ));
    };
    if !folder.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("the folder `{}` does not exist", folder.display()),
        ));
    }
    let existing = std::fs::symlink_metadata(to).ok();
    if existing.as_ref().is_some_and(|m| m.is_dir()) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "a folder is in the way",
        ));
    }
    let new = folder.join(format!(".{name}.modelops-new"));
    let old = folder.join(format!(".{name}.modelops-old"));
    // Left by an apply that was interrupted.
    let _ = std::fs::remove_file(&new);
    let _ = std::fs::remove_file(&old);
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&new)?;
        file.write_all(bytes)?;
        if let Ok(meta) = std::fs::metadata(to) {
            file.set_permissions(meta.permissions())?;
        }
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&new);
        return Err(e);
    }
    let previous = match existing {
        Some(_) => {
            // A hard link keeps the entry as it was (a symbolic link stays one);
            // where links are not possible, a copy keeps the content.
            let kept = std::fs::hard_link(to, &old).or_else(|_| std::fs::copy(to, &old).map(drop));
            if let Err(e) = kept {
                let _ = std::fs::remove_file(&new);
                return Err(e);
            }
            Some(old)
        }
        None => None,
    };
    if let Err(e) = std::fs::rename(&new, to) {
        let _ = std::fs::remove_file(&new);
        if let Some(previous) = &previous {
            let _ = std::fs::remove_file(previous);
        }
        return Err(e);
    }
    if let Ok(dir) = std::fs::File::open(folder) {
        let _ = dir.sync_all();
    }
    Ok(Installed {
        to: to.to_path_buf(),
        previous,
    })
}

/// Runs a program from `root` with `env` added and no input; returns its status
/// and what it wrote (each stream capped at [`MAX_OUTPUT_BYTES`]).
fn run_program(
    program: &Path,
    argv: &[String],
    root: &Path,
    env: &[(&str, &OsStr)],
) -> std::io::Result<(ExitStatus, String)> {
    let mut child = Command::new(program)
        .args(argv.iter().skip(1))
        .current_dir(root)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let (out, err) = std::thread::scope(|scope| {
        let out = scope.spawn(move || capped(stdout));
        let err = capped(stderr);
        (out.join().unwrap_or_default(), err)
    });
    let status = child.wait()?;
    let mut output = String::from_utf8_lossy(&out).into_owned();
    if !output.is_empty() && !output.ends_with('\n') && !err.is_empty() {
        output.push('\n');
    }
    output.push_str(&String::from_utf8_lossy(&err));
    Ok((status, output))
}

/// Reads a stream to its end, keeping the first [`MAX_OUTPUT_BYTES`].
fn capped(stream: Option<impl Read>) -> Vec<u8> {
    let Some(mut stream) = stream else {
        return Vec::new();
    };
    let mut kept = Vec::new();
    let _ = (&mut stream)
        .take(MAX_OUTPUT_BYTES as u64)
        .read_to_end(&mut kept);
    let _ = std::io::copy(&mut stream, &mut std::io::sink());
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_as_a_shell_would_without_expanding() {
        let split = |text: &str| split_words(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(split("kubectl apply -f"), ["kubectl", "apply", "-f"]);
        assert_eq!(
            split(r#"deploy --note 'a b' "c \"d\" \$e" f\ g '' h\\"#),
            ["deploy", "--note", "a b", "c \"d\" $e", "f g", "", "h\\"]
        );
        assert_eq!(split("a\\\nb  c\t\nd"), ["ab", "c", "d"]);
        assert_eq!(split(r#""x\y""#), ["x\\y"]);
        assert_eq!(split("'$(rm -rf /)' a#b"), ["$(rm -rf /)", "a#b"]);
        for refused in [
            "",
            "  ",
            "a | b",
            "a; b",
            "a && b",
            "a > f",
            "echo $HOME",
            "echo \"$HOME\"",
            "echo `id`",
            "echo $(id)",
            "ls *.yaml",
            "cat ~/x",
            "a # comment",
            "'open",
            "\"open",
            "trailing\\",
        ] {
            assert!(split_words(refused).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn states_parse_and_sort_in_rollout_order() {
        for bad in [
            "",
            "step-",
            "step-0",
            "step-01",
            "step-1000",
            "../x",
            "Stable",
            "step-x",
        ] {
            assert_eq!(State::parse(bad), None, "{bad}");
        }
        let mut states: Vec<State> = [
            "promoted",
            "step-50",
            "base",
            "step-5",
            "shadow",
            "stable",
            "stable-base",
        ]
        .iter()
        .filter_map(|s| State::parse(s))
        .collect();
        states.sort_by_key(State::rank);
        let names: Vec<&str> = states.iter().map(State::name).collect();
        assert_eq!(
            names,
            [
                "stable-base",
                "base",
                "stable",
                "shadow",
                "step-5",
                "step-50",
                "promoted"
            ]
        );
    }

    #[test]
    fn paths_fill_model_and_environment_once() {
        assert_eq!(
            fill_path(
                "/etc/x/{{environment}}-{{ model }}.conf",
                "{{model}}",
                "prod"
            )
            .as_deref(),
            Ok("/etc/x/prod-{{model}}.conf")
        );
        assert!(fill_path("/etc/{{release}}.conf", "m", "e").is_err());
        assert!(fill_path("/etc/{{model", "m", "e").is_err());
        assert!(fill_path("/etc/", "m", "e").is_err());
    }

    #[test]
    fn an_install_is_undone_to_the_previous_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let to = dir.path().join("x.conf");
        let fresh = install(b"one", &to).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(std::fs::read(&to).ok().as_deref(), Some(&b"one"[..]));
        assert_eq!(fresh.restore().ok(), Some(false));
        assert!(!to.exists());
        std::fs::write(&to, "old").unwrap_or_else(|e| panic!("{e}"));
        let replaced = install(b"new", &to).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(std::fs::read(&to).ok().as_deref(), Some(&b"new"[..]));
        assert_eq!(replaced.restore().ok(), Some(true));
        assert_eq!(std::fs::read(&to).ok().as_deref(), Some(&b"old"[..]));
        let kept = install(b"newer", &to).unwrap_or_else(|e| panic!("{e}"));
        kept.keep();
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(names, ["x.conf"]);
        assert!(install(b"x", &dir.path().join("missing/x.conf")).is_err());
    }
}
