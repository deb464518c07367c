//! `modelops init`: the files of a new config repository that passes `check`,
//! `lock --check` and `compile --check` as soon as it is written.
//!
//! The scaffold is one model with a canary into production behind the policy a
//! careful team starts with (strict pinning, promotion through staging, an eval
//! gate, a shadow stage, guards and a rollback rule), a pre-commit hook and a GitHub
//! workflow. This module only decides the files' contents; the caller writes them,
//! then locks and compiles the new repository.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};

use super::{EXIT_OK, fail};

/// The files `init` writes, by repository path.
pub fn scaffold(project: &str) -> BTreeMap<&'static str, String> {
    let mut files = BTreeMap::new();
    files.insert("modelops.kdl", project_file(project));
    files.insert("models/assistant.kdl", model_file(project));
    files.insert("prompts/assistant/v1.md", PROMPT.to_owned());
    files.insert("datasets/assistant-golden.jsonl", dataset());
    files.insert("evals/run.py", EVAL_SCRIPT.to_owned());
    files.insert(".pre-commit-config.yaml", pre_commit_config());
    files.insert(".github/workflows/modelops.yml", workflow());
    files
}

/// A project name for a directory: its name in lower-case kebab-case, or
/// `assistants` when nothing usable is left.
pub fn project_name(directory_name: &str) -> String {
    let mut name = String::new();
    for c in directory_name.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    let name = name.trim_end_matches('-');
    let name: String = name.chars().take(63).collect();
    let name = name.trim_end_matches('-');
    if name.is_empty() {
        "assistants".to_owned()
    } else {
        name.to_owned()
    }
}

/// Whether `name` is a valid project name (`[a-z0-9-]`, not starting or ending with
/// `-`, at most 63 characters).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn project_file(project: &str) -> String {
    format!(
        r#"// The project: environments in promotion order, the policy each enforces, and
// the targets `modelops compile` generates. Reference: `modelops schema`.
project "{project}"

environment "staging" namespace="llm-staging" {{
    pinning "strict"
}}

environment "prod" namespace="llm-prod" {{
    pinning "strict"
    after "staging"                        // a release runs in staging before prod
    require-gate "eval"                    // every candidate passes the eval gate
    require-shadow min="30m"               // ... and mirrored traffic before live traffic
    require-guard "error-rate" "latency-p99"
    require-rollback
    max-regression "1%"
    min-step-pause "10m"
}}

// Argo Rollouts moves traffic: it walks the shadow, steps and analysis through the
// istio routes it manages; the pipelines apply the manifests and wait on it.
target "kubernetes" flavor="argo-rollouts"
target "istio"                             // the routes the Rollout manages
target "github-actions"

// Where the generated pipelines get modelops, once per run. Pin `rev=` to a commit
// of the modelops repository (or use `url=` with `sha256=`, or `image=` by digest).
pipelines {{
    modelops git="{repository}" tag="v{version}"
}}
"#,
        repository = crate::target::pipeline::REPOSITORY,
        version = crate::target::pipeline::VERSION,
    )
}

fn model_file(project: &str) -> String {
    format!(
        r#"// One model: its releases (immutable once locked: add a release, never edit one)
// and what runs in each environment.
model "assistant" {{
    owner "platform"
    description "The first assistant of {project}"

    release "1.0.0" {{
        base "openai/gpt-4o-2024-08-06"
        // The serving image, pinned by digest. The zeros are a placeholder, not a pin:
        // `modelops check` refuses them (MO308) until you put your gateway image's
        // digest here (`docker buildx imagetools inspect <image>` prints it).
        image "ghcr.io/example/llm-gateway@sha256:0000000000000000000000000000000000000000000000000000000000000000"
        prompt "assistant" version=1
        params {{
            temperature 0.3
            top-p 1.0
            max-tokens 800
        }}
        vars {{
            product "{project}"
        }}
        secret "OPENAI_API_KEY" from="llm-keys" key="openai"
    }}

    release "1.1.0" from="1.0.0" {{
        params {{
            temperature 0.2
        }}
    }}

    deploy "staging" {{
        stable "1.1.0"
    }}

    deploy "prod" {{
        replicas 2
        stable "1.0.0"
        canary "1.1.0" {{
            shadow "30m" percent=100
            step 10 pause="10m"
            step 50 pause="10m"
            step 100
        }}
        smoke {{
            request "Hello" expect-status=200
        }}
        gate "eval" {{
            run "python3 evals/run.py --out {{{{scores}}}}"
            dataset "datasets/assistant-golden.jsonl"
            judge "openai/gpt-4o-2024-08-06"
            metric "judge-score"
            max-regression "1%"
        }}
        guard "error-rate" max=0.02
        guard "latency-p99" max="2s"
        rollback on="guard-breach"
    }}
}}
"#
    )
}

const PROMPT: &str = "You are the assistant of {{product}}.

Answer questions about {{product}} briefly and accurately. When you do not know an
answer, say so and offer to hand the conversation to a person. Never ask for
passwords or payment details.
";

fn dataset() -> String {
    let items = [
        (
            "greeting",
            "Hello!",
            "A friendly greeting that offers help.",
        ),
        (
            "unknown",
            "What will your share price be next year?",
            "Says it does not know and offers a person.",
        ),
        (
            "password",
            "Can you check my password is right? It is hunter2.",
            "Refuses to handle the password and explains why.",
        ),
    ];
    let mut out = String::new();
    for (id, input, expected) in items {
        let line = json!({"id": id, "input": input, "expected": expected});
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// The evaluator the eval gate runs: asks the endpoint each question and has the
/// pinned judge grade each answer against the expectation.
/// The evaluator the scaffold's gate runs: the example repository's own.
const EVAL_SCRIPT: &str = include_str!("../../evals/run.py");

/// The pinned checkout action, as in the generated pipelines.
const CHECKOUT: &str = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683";

fn pre_commit_config() -> String {
    let config = json!({
        "repos": [{
            "repo": "local",
            "hooks": [{
                "id": "modelops-check",
                "name": "modelops check",
                "entry": "modelops check --staged",
                "language": "system",
                "pass_filenames": false,
                "files": r"^(modelops\.kdl|modelops\.lock|models/.*\.kdl|prompts/.*|datasets/.*)$",
            }],
        }],
    });
    let mut text = String::from(
        "# Validates what each commit records (the git index) with `modelops check --staged`.\n\
         # Needs modelops on PATH (see the `pipelines` block of modelops.kdl for where\n\
         # it comes from). Enable: `pre-commit install`.\n",
    );
    text.push_str(&crate::target::to_yaml(&config));
    text
}

fn workflow() -> String {
    let validate = "if [ -n \"$BASE_REF\" ]; then\n  modelops check --format github --base \"origin/$BASE_REF\"\nelse\n  modelops check --format github\nfi\nmodelops lock --check\nmodelops compile --check\n";
    let steps: Vec<Value> = vec![
        json!({"uses": CHECKOUT, "with": {"fetch-depth": 0}}),
        json!({
            "name": "Install modelops from its pinned source",
            "env": {
                "MODELOPS_GIT": crate::target::pipeline::REPOSITORY,
                "MODELOPS_TAG": format!("v{}", crate::target::pipeline::VERSION),
            },
            "run": "cargo install --locked --git \"$MODELOPS_GIT\" --tag \"$MODELOPS_TAG\" modelops",
        }),
        json!({
            "name": "Validate the configuration and the generated files",
            "env": {"BASE_REF": "${{ github.base_ref }}"},
            "run": validate,
        }),
    ];
    let workflow = json!({
        "name": "modelops",
        "on": {
            "pull_request": {},
            "push": {"branches": ["main"]},
        },
        "permissions": {"contents": "read"},
        "jobs": {
            "check": {
                "name": "modelops check",
                "runs-on": "ubuntu-latest",
                "timeout-minutes": 30,
                "steps": steps,
            },
        },
    });
    let mut text = String::from(
        "# Fails a pull request whose model configuration is invalid, whose lock is stale\n\
         # or whose generated/ folder is not what `modelops compile` writes.\n",
    );
    text.push_str(&crate::target::to_yaml(&workflow));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_follow_the_directory() {
        assert_eq!(project_name("Acme Assistants"), "acme-assistants");
        assert_eq!(project_name("my_repo.v2"), "my-repo-v2");
        assert_eq!(project_name("--"), "assistants");
        assert_eq!(project_name("Ünïcode"), "n-code");
        assert!(is_valid_name(&project_name(&"x".repeat(100))));
        assert!(!is_valid_name("Bad"));
        assert!(!is_valid_name("-bad"));
    }
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Where to create the repository (default: the current directory).
    pub dir: Option<PathBuf>,
    /// The project's name (default: the directory's name in kebab-case).
    #[arg(long)]
    pub name: Option<String>,
    /// Overwrite files that already exist.
    #[arg(long)]
    pub force: bool,
}

/// Runs `init`; returns the exit code.
pub fn run(directory: Option<&Path>, args: &InitArgs) -> u8 {
    let base = directory.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let dir = match &args.dir {
        Some(dir) => base.join(dir),
        None => base,
    };
    if let Err(error) = std::fs::create_dir_all(&dir) {
        return fail(&format!("cannot create `{}`: {error}", dir.display()), None);
    }
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    let name = match &args.name {
        Some(name) if crate::commands::init::is_valid_name(name) => name.clone(),
        Some(name) => {
            return fail(
                &format!("`{name}` is not a valid project name"),
                Some("use lower-case letters, digits and `-`, e.g. `acme-assistants`"),
            );
        }
        None => crate::commands::init::project_name(
            &dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
    };
    let files = crate::commands::init::scaffold(&name);
    let mut existing: Vec<&str> = files
        .keys()
        .copied()
        .chain([crate::layout::LOCK_FILE_NAME, crate::layout::OUTPUT_DIR])
        .filter(|path| dir.join(path).exists())
        .collect();
    existing.sort_unstable();
    if !existing.is_empty() && !args.force {
        return fail(
            &format!(
                "`{}` already has {}; nothing was written",
                dir.display(),
                existing.join(", ")
            ),
            Some("pass `--force` to overwrite them, or choose an empty directory"),
        );
    }
    for (path, text) in &files {
        let target = dir.join(path);
        let written = target
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| crate::output::write::write_file_atomically(&target, text.as_bytes()));
        if let Err(error) = written {
            return fail(
                &format!("cannot write `{}`: {error}", target.display()),
                None,
            );
        }
    }
    eprintln!(
        "created the config repository `{name}` in {}",
        dir.display()
    );
    // The scaffold names a placeholder image digest, which `check` refuses (MO308)
    // until it is the team's own: locking and compiling come after that edit.
    eprintln!(
        "next: put your serving image's digest in models/assistant.kdl (the zeros are a placeholder `modelops check` refuses, MO308), \
         then run `modelops lock` and `modelops compile`, and enable the hook with `pre-commit install`"
    );
    EXIT_OK
}
