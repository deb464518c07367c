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
