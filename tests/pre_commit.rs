//! The hook this repository ships (`.pre-commit-hooks.yaml`), run by the real
//! pre-commit framework. Needs `pre-commit` and `git` on PATH (CI installs
//! pre-commit into a virtualenv; see .ci/run). The hook is built from a snapshot of
//! this crate with `cargo install`, as pre-commit does for users.

mod support;

use std::path::{Path, PathBuf};

use support::{Git, Run, TempRepo, external_tool, run_tool};

/// Copies what `cargo install` needs into a fresh git repository and commits it.
fn hook_repository(into: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "build.rs",
        ".pre-commit-hooks.yaml",
        "README.md",
    ] {
        std::fs::copy(root.join(file), into.join(file)).unwrap();
    }
    for dir in ["src", "schema", "evals"] {
        support::copy_dir(&root.join(dir), &into.join(dir));
    }
    let git = Git::init(into);
    git.add_all();
    git.commit("hook snapshot").to_string()
}

/// Build caches kept between runs, under this crate's target folder.
fn cache_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_hook_rejects_a_floating_model_and_accepts_the_pinned_fix() {
    let (Some(pre_commit), Some(git_bin)) = (external_tool("pre-commit"), external_tool("git"))
    else {
        return;
    };
    let hook_dir = tempfile::tempdir().unwrap();
    let rev = hook_repository(hook_dir.path());

    let repo = TempRepo::new();
    let git = Git::init(repo.path());
    repo.write(
        ".pre-commit-config.yaml",
        format!(
            "repos:\n  - repo: {}\n    rev: {rev}\n    hooks:\n      - id: modelops-check\n",
            hook_dir.path().display()
        ),
    );
    git.add_all();
    git.commit("config without the hook");

    let pre_commit_home = cache_dir("pre-commit-home");
    let cargo_target = cache_dir("pre-commit-cargo-target");
    let env = [
        ("PRE_COMMIT_HOME", pre_commit_home.as_path()),
        ("CARGO_TARGET_DIR", cargo_target.as_path()),
    ];
    let git_run = |args: &[&str]| -> Run { run_tool(repo.path(), &git_bin, args, &env) };

    let install = run_tool(repo.path(), &pre_commit, &["install"], &env);
    assert_eq!(install.code, 0, "{}{}", install.stdout, install.stderr);

    // A floating alias is staged: the commit is refused, naming the rule.
    let model = repo.path().join("models/assistant.kdl");
    let pinned = std::fs::read_to_string(&model).unwrap();
    std::fs::write(
        &model,
        pinned.replace("openai/gpt-4o-2024-08-06", "openai/gpt-4o"),
    )
    .unwrap();
    assert_eq!(git_run(&["add", "-A"]).code, 0);
    let refused = git_run(&["commit", "-m", "use gpt-4o"]);
    assert_ne!(
        refused.code, 0,
        "the commit should be refused:\n{}{}",
        refused.stdout, refused.stderr
    );
    let output = format!("{}{}", refused.stdout, refused.stderr);
    assert!(output.contains("modelops check"), "{output}");
    assert!(output.contains("MO301"), "{output}");
    assert!(output.contains("openai/gpt-4o"), "{output}");

    // The pinned fix is accepted.
    std::fs::write(&model, &pinned).unwrap();
    std::fs::write(
        repo.path().join("prompts/assistant/v2.md"),
        "You are a concise assistant.\n",
    )
    .unwrap();
    std::fs::write(&model, pinned.replace("version=1", "version=2")).unwrap();
    assert_eq!(git_run(&["add", "-A"]).code, 0);
    let accepted = git_run(&["commit", "-m", "pinned, with prompt v2"]);
    assert_eq!(accepted.code, 0, "{}{}", accepted.stdout, accepted.stderr);
    assert!(format!("{}{}", accepted.stdout, accepted.stderr).contains("Passed"));

    // The most common hook failure: a new prompt version written and locked, but its
    // file not staged. The advice is to stage it — `modelops lock` would not help.
    assert_eq!(repo.modelops(&["lock"]).code, 0);
    assert_eq!(git_run(&["add", "-A"]).code, 0);
    let locked = git_run(&["commit", "-m", "lock"]);
    assert_eq!(locked.code, 0, "{}{}", locked.stdout, locked.stderr);
    std::fs::write(
        repo.path().join("prompts/assistant/v3.md"),
        "You are a concise, friendly assistant.\n",
    )
    .unwrap();
    let text = std::fs::read_to_string(&model).unwrap();
    std::fs::write(
        &model,
        text.replace(
            "    deploy \"prod\" {\n        stable \"1.0.0\"",
            "    release \"1.1.0\" from=\"1.0.0\" {\n        prompt \"assistant\" version=3\n    }\n    deploy \"prod\" {\n        stable \"1.1.0\"",
        ),
    )
    .unwrap();
    assert_eq!(repo.modelops(&["lock"]).code, 0);
    assert_eq!(
        git_run(&["add", "modelops.lock", "models/assistant.kdl"]).code,
        0
    );
    let unstaged = git_run(&["commit", "-m", "prompt v3"]);
    assert_ne!(unstaged.code, 0, "{}{}", unstaged.stdout, unstaged.stderr);
    let output = format!("{}{}", unstaged.stdout, unstaged.stderr);
    assert!(
        output.contains("stage it: `git add prompts/assistant/v3.md`"),
        "{output}"
    );
    assert_eq!(git_run(&["add", "prompts/assistant/v3.md"]).code, 0);
    let staged = git_run(&["commit", "-m", "prompt v3, staged"]);
    assert_eq!(staged.code, 0, "{}{}", staged.stdout, staged.stderr);
}
