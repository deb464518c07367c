//! `check --staged` validates the git index, on real repositories in temporary folders.

mod support;

use support::{Git, TempRepo};

const FLOATING: &str = "openai/gpt-4o\"";
const PINNED: &str = "openai/gpt-4o-2024-08-06\"";

fn model_path(repo: &TempRepo) -> std::path::PathBuf {
    repo.path().join("models/assistant.kdl")
}

fn set_base(repo: &TempRepo, from: &str, to: &str) {
    let text = std::fs::read_to_string(model_path(repo)).unwrap();
    assert!(text.contains(from));
    std::fs::write(model_path(repo), text.replace(from, to)).unwrap();
}

#[test]
fn a_staged_error_fixed_only_in_the_working_tree_still_fails() {
    let repo = TempRepo::new();
    let git = Git::init(repo.path());
    git.add_all();
    git.commit("initial");
    set_base(&repo, PINNED, FLOATING);
    git.add_all();
    set_base(&repo, FLOATING, PINNED);
    let staged = repo.modelops(&["check", "--staged"]);
    assert_eq!(staged.code, 1, "{}", staged.stderr);
    assert!(staged.stderr.contains("MO301"), "{}", staged.stderr);
    let worktree = repo.modelops(&["check"]);
    assert_eq!(worktree.code, 0, "{}", worktree.stderr);
}

#[test]
fn an_error_only_in_the_working_tree_does_not_fail_staged() {
    let repo = TempRepo::new();
    let git = Git::init(repo.path());
    git.add_all();
    set_base(&repo, PINNED, FLOATING);
    let staged = repo.modelops(&["check", "--staged"]);
    assert_eq!(staged.code, 0, "{}", staged.stderr);
    let worktree = repo.modelops(&["check"]);
    assert_eq!(worktree.code, 1, "{}", worktree.stderr);
}

#[test]
fn unstaged_new_files_are_not_seen() {
    let repo = TempRepo::new();
    let git = Git::init(repo.path());
    git.add_all();
    repo.write("models/broken.kdl", "model \"broken\" {");
    let staged = repo.modelops(&["check", "--staged"]);
    assert_eq!(staged.code, 0, "{}", staged.stderr);
    git.add_all();
    let staged = repo.modelops(&["check", "--staged"]);
    assert_eq!(staged.code, 1, "{}", staged.stderr);
    assert!(
        staged.stderr.contains("models/broken.kdl"),
        "{}",
        staged.stderr
    );
}

#[test]
fn the_config_may_live_in_a_subfolder_of_the_git_repository() {
    let outer = tempfile::tempdir().unwrap();
    let git = Git::init(outer.path());
    let repo = TempRepo::new();
    let config = outer.path().join("deploy/llm");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    support::copy_dir(repo.path(), &config);
    git.add_all();
    let run = support::modelops_in(&config, &["check", "--staged"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    std::fs::write(
        config.join("models/assistant.kdl"),
        "model \"assistant\" { bogus 1 }",
    )
    .unwrap();
    git.add_all();
    let run = support::modelops_in(&config.join("models"), &["check", "--staged"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("MO105"), "{}", run.stderr);
}

#[test]
fn staged_outside_a_git_repository_is_an_environment_error() {
    let repo = TempRepo::new();
    let run = repo.modelops(&["check", "--staged"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("not inside a git repository"),
        "{}",
        run.stderr
    );
}

#[cfg(unix)]
#[test]
fn a_staged_symlink_out_of_the_repository_is_reported() {
    let repo = TempRepo::new();
    let git = Git::init(repo.path());
    repo.remove("prompts/assistant/v1.md");
    std::os::unix::fs::symlink(
        "../../../outside.md",
        repo.path().join("prompts/assistant/v1.md"),
    )
    .unwrap();
    git.add_all();
    let run = repo.modelops(&["check", "--staged"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("MO207"), "{}", run.stderr);
}

/// Runs the `git` command line in the repository (these tests need it: CI installs
/// it; elsewhere they are skipped without it).
fn git_cli(repo: &TempRepo) -> Option<impl Fn(&[&str]) -> support::Run + '_> {
    let git = support::external_tool("git")?;
    Some(move |args: &[&str]| support::run_tool(repo.path(), &git, args, &[]))
}

/// A repository whose index stages a floating alias that the working tree has
/// already undone, committed once with the pinned model.
fn staged_floating(repo: &TempRepo, git: &dyn Fn(&[&str]) -> support::Run) {
    for args in [
        &["init", "-q"][..],
        &["config", "user.name", "Test Author"],
        &["config", "user.email", "author@example.com"],
        &["add", "-A"],
        &["commit", "-q", "-m", "initial"],
    ] {
        let run = git(args);
        assert_eq!(run.code, 0, "git {args:?}: {}", run.stderr);
    }
    set_base(repo, PINNED, FLOATING);
    assert_eq!(git(&["add", "-A"]).code, 0);
    set_base(repo, FLOATING, PINNED);
}

/// The index is read by modelops itself: each of git's index versions (4 compresses
/// paths), extended flags (skip-worktree), and entries git will not commit
/// (intent-to-add) read as git means them.
#[test]
fn every_index_version_git_writes_is_read_alike() {
    let repo = TempRepo::new();
    let Some(git) = git_cli(&repo) else {
        return;
    };
    staged_floating(&repo, &git);
    repo.write("prompts/assistant/v2.md", "A second version.\n");
    repo.write("models/later.kdl", "model \"later\" {");
    assert_eq!(git(&["add", "prompts/assistant/v2.md"]).code, 0);
    // Recorded for later, not added: a commit leaves it out, and so does the check.
    assert_eq!(git(&["add", "-N", "models/later.kdl"]).code, 0);
    let mut reports = Vec::new();
    for version in ["2", "3", "4"] {
        let set = git(&["update-index", "--index-version", version]);
        assert_eq!(set.code, 0, "{}", set.stderr);
        if version == "3" {
            let flag = git(&["update-index", "--skip-worktree", "prompts/assistant/v1.md"]);
            assert_eq!(flag.code, 0, "{}", flag.stderr);
        }
        let staged = repo.modelops(&["check", "--staged", "--format", "json"]);
        assert_eq!(staged.code, 1, "index version {version}: {}", staged.stderr);
        assert!(staged.stdout.contains("MO301"), "{}", staged.stdout);
        assert!(!staged.stdout.contains("later.kdl"), "{}", staged.stdout);
        reports.push(staged.stdout);
    }
    assert!(reports.windows(2).all(|pair| pair[0] == pair[1]));
}

/// `git commit -a` and `git commit <paths>` prepare the commit in a temporary index
/// and name it in `GIT_INDEX_FILE` for the hooks: that is what is checked.
#[test]
fn a_hook_checks_the_index_git_commit_prepares() {
    let repo = TempRepo::new();
    let Some(git) = git_cli(&repo) else {
        return;
    };
    staged_floating(&repo, &git);
    // Back to a clean index; the floating alias only in the working tree.
    assert_eq!(git(&["add", "-A"]).code, 0);
    set_base(&repo, PINNED, FLOATING);
    let hook = repo.path().join(".git/hooks/pre-commit");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nexec '{}' check --staged\n",
            env!("CARGO_BIN_EXE_modelops")
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    assert_eq!(
        repo.modelops(&["check", "--staged"]).code,
        0,
        "the index itself is clean"
    );
    for args in [
        &["commit", "-a", "-m", "all"][..],
        &["commit", "-m", "one path", "models/assistant.kdl"],
    ] {
        let refused = git(args);
        assert_ne!(refused.code, 0, "git {args:?} should be refused");
        assert!(refused.stderr.contains("MO301"), "{}", refused.stderr);
    }
    set_base(&repo, FLOATING, PINNED);
    repo.write("prompts/assistant/v1.md", "You are a careful assistant.\n");
    let accepted = git(&["commit", "-a", "-m", "all, pinned"]);
    assert_eq!(accepted.code, 0, "{}", accepted.stderr);
}

/// A split index keeps most entries in another file: refused with the way out, never
/// read partly.
#[test]
fn a_split_index_is_refused_with_the_way_out() {
    let repo = TempRepo::new();
    let Some(git) = git_cli(&repo) else {
        return;
    };
    staged_floating(&repo, &git);
    assert_eq!(git(&["update-index", "--split-index"]).code, 0);
    let staged = repo.modelops(&["check", "--staged"]);
    assert_eq!(staged.code, 2, "{}", staged.stderr);
    assert!(
        staged.stderr.contains("--no-split-index"),
        "{}",
        staged.stderr
    );
    assert_eq!(git(&["update-index", "--no-split-index"]).code, 0);
    assert_eq!(repo.modelops(&["check", "--staged"]).code, 1);
}

/// Prompt v2 and a release 1.1.0 that uses it, now stable in prod.
fn new_release(repo: &TempRepo) {
    repo.write(
        "prompts/assistant/v2.md",
        "You are a helpful assistant. Be brief.\n",
    );
    set_base(
        repo,
        "    deploy \"prod\" {\n        stable \"1.0.0\"",
        "    release \"1.1.0\" from=\"1.0.0\" {\n        prompt \"assistant\" version=2\n    }\n    deploy \"prod\" {\n        stable \"1.1.0\"",
    );
}

/// Stages one file of `repo` (as `git add PATH`).
fn stage(git: &Git, path: &str) {
    let mut index = git.repo.index().unwrap();
    index.add_path(std::path::Path::new(path)).unwrap();
    index.write().unwrap();
}

/// A new prompt version written and locked, with the lock staged but not the
/// version's file: the advice is to stage the file, not to run `modelops lock`
/// (which changes nothing).
#[test]
fn a_locked_prompt_version_left_unstaged_says_stage_it() {
    let repo = TempRepo::locked();
    let git = Git::init(repo.path());
    git.add_all();
    git.commit("initial");
    new_release(&repo);
    assert_eq!(repo.modelops(&["lock"]).code, 0);
    stage(&git, "modelops.lock");
    stage(&git, "models/assistant.kdl");
    let staged = repo.modelops(&["check", "--staged"]);
    assert_eq!(staged.code, 1, "{}", staged.stderr);
    assert!(
        staged
            .stderr
            .contains("prompt `assistant` v2 is not staged"),
        "{}",
        staged.stderr
    );
    assert!(
        staged
            .stderr
            .contains("stage it: `git add prompts/assistant/v2.md`"),
        "{}",
        staged.stderr
    );
    // One root cause, one finding: not also the lock entry the index cannot match,
    // nor the release whose prompt it lacks.
    let found = repo.findings(&["--staged"]);
    assert_eq!(found.len(), 1, "{found:?}");
    // A locked version no release names is the lock's finding, with the same advice.
    set_base(
        &repo,
        "prompt \"assistant\" version=2",
        "prompt \"assistant\" version=1",
    );
    stage(&git, "models/assistant.kdl");
    let lock_only = repo.modelops(&["check", "--staged"]);
    assert!(
        lock_only
            .stderr
            .contains("is in the working tree but not staged")
            && lock_only
                .stderr
                .contains("stage it: `git add prompts/assistant/v2.md`"),
        "{}",
        lock_only.stderr
    );
    set_base(
        &repo,
        "prompt \"assistant\" version=1\n    }\n    deploy",
        "prompt \"assistant\" version=2\n    }\n    deploy",
    );
    stage(&git, "models/assistant.kdl");
    stage(&git, "prompts/assistant/v2.md");
    let fixed = repo.modelops(&["check", "--staged"]);
    assert_eq!(fixed.code, 0, "{}", fixed.stderr);
}

/// The lock brought up to date in the working tree but not staged: stage the lock.
#[test]
fn a_current_lock_left_unstaged_says_stage_it() {
    let repo = TempRepo::locked();
    let git = Git::init(repo.path());
    git.add_all();
    git.commit("initial");
    new_release(&repo);
    assert_eq!(repo.modelops(&["lock"]).code, 0);
    stage(&git, "prompts/assistant/v2.md");
    stage(&git, "models/assistant.kdl");
    let staged = repo.modelops(&["check", "--staged"]);
    assert_eq!(staged.code, 1, "{}", staged.stderr);
    assert!(
        staged
            .stderr
            .contains("stage it with `git add modelops.lock`"),
        "{}",
        staged.stderr
    );
    assert!(
        !staged.stderr.contains("run `modelops lock`"),
        "{}",
        staged.stderr
    );
}

/// A lock committed with merge-conflict markers is one finding that says so, and
/// `modelops lock` (no `--force`) writes it afresh.
#[test]
fn a_lock_with_conflict_markers_is_a_merge_conflict_that_lock_resolves() {
    let repo = TempRepo::locked();
    let lock = std::fs::read_to_string(repo.path().join("modelops.lock")).unwrap();
    let (head, tail) = lock.split_at(lock.find("prompt ").unwrap());
    repo.write(
        "modelops.lock",
        format!("{head}<<<<<<< HEAD\n{tail}=======\n{tail}>>>>>>> feature\n"),
    );
    let check = repo.modelops(&["check"]);
    assert_eq!(check.code, 1, "{}", check.stderr);
    assert_eq!(check.stderr.matches("MO703").count(), 1, "{}", check.stderr);
    assert!(
        check.stderr.contains("unresolved merge conflict"),
        "{}",
        check.stderr
    );
    assert!(
        check.stderr.contains("Run `modelops lock`"),
        "{}",
        check.stderr
    );
    let locked = repo.modelops(&["lock"]);
    assert_eq!(locked.code, 0, "{}", locked.stderr);
    assert_eq!(
        std::fs::read_to_string(repo.path().join("modelops.lock")).unwrap(),
        lock
    );
    assert_eq!(repo.modelops(&["check"]).code, 0);
}
