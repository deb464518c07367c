//! The lock file, immutability of released content against the base revision, and
//! fingerprints — on real git repositories in temporary folders.

mod support;

use support::{Git, TempRepo, external_tool, run_tool};

/// A repository with four versions of a prompt, v4 deployed, locked and committed.
fn released_repo() -> (TempRepo, Git) {
    let repo = TempRepo::new();
    for version in 1..=4 {
        repo.write(
            &format!("prompts/assistant/v{version}.md"),
            format!("You are a helpful assistant.\nRevision {version} of the rules.\nBe brief.\n"),
        );
    }
    let model = std::fs::read_to_string(repo.path().join("models/assistant.kdl")).unwrap();
    repo.write(
        "models/assistant.kdl",
        model.replace("version=1", "version=4"),
    );
    let locked = repo.modelops(&["lock"]);
    assert_eq!(locked.code, 0, "{}", locked.stderr);
    let git = Git::init(repo.path());
    git.add_all();
    git.commit("release v4");
    (repo, git)
}

#[test]
fn lock_writes_a_current_file_and_check_passes() {
    let (repo, _git) = released_repo();
    let text = std::fs::read_to_string(repo.path().join("modelops.lock")).unwrap();
    assert!(text.contains("lock-format 1\n"), "{text}");
    assert!(
        text.contains("prompt \"assistant\" version=3 blake3=\""),
        "{text}"
    );
    assert!(
        text.contains("release \"assistant\" version=\"1.0.0\" blake3=\""),
        "{text}"
    );
    assert_eq!(repo.modelops(&["lock", "--check"]).code, 0);
    let check = repo.modelops(&["check"]);
    assert_eq!((check.code, check.stderr.as_str()), (0, ""));
}

#[test]
fn no_lock_is_a_warning_and_a_stale_lock_an_error() {
    let repo = TempRepo::new();
    let run = repo.modelops(&["check"]);
    assert_eq!(run.code, 0);
    assert!(run.stderr.contains("MO701"), "{}", run.stderr);
    assert_eq!(repo.modelops(&["lock"]).code, 0);
    repo.write("prompts/assistant/v2.md", "A new version.\n");
    let stale = repo.modelops(&["check"]);
    assert_eq!(stale.code, 1);
    assert!(stale.stderr.contains("MO702"), "{}", stale.stderr);
    assert!(stale.stderr.contains("modelops lock"), "{}", stale.stderr);
    let lock_check = repo.modelops(&["lock", "--check"]);
    assert_eq!(lock_check.code, 1);
    assert!(
        lock_check
            .stdout
            .contains("+prompt \"assistant\" version=2"),
        "{}",
        lock_check.stdout
    );
}

#[test]
fn editing_a_released_prompt_in_place_is_an_error_naming_the_fix() {
    let (repo, _git) = released_repo();
    repo.write(
        "prompts/assistant/v3.md",
        "You are a helpful assistant.\nRevision 3, quietly changed.\nBe brief.\n",
    );
    let run = repo.modelops(&["check"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("MO704"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("prompt `assistant` v3 was edited after it was released at HEAD ("),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("add your change as v5"),
        "{}",
        run.stderr
    );
    // `lock` refuses to record the edit.
    let lock = repo.modelops(&["lock"]);
    assert_eq!(lock.code, 1, "{}", lock.stderr);
}

/// One root cause, one finding: the prompt edited in place is MO704, and neither
/// its stale lock entry nor the release that changes with it is reported again.
#[test]
fn an_edited_released_prompt_is_one_finding() {
    let (repo, _git) = released_repo();
    repo.write("prompts/assistant/v4.md", "Changed in place.\n");
    let found = repo.findings(&[]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "MO704", "{found:?}");
    assert!(found[0].1.contains("prompt `assistant` v4"), "{found:?}");
}

/// A release changed besides its prompt is a change of its own, and said so.
#[test]
fn a_release_changed_besides_its_prompt_is_reported_too() {
    let (repo, _git) = released_repo();
    repo.write("prompts/assistant/v4.md", "Changed in place.\n");
    let model = std::fs::read_to_string(repo.path().join("models/assistant.kdl")).unwrap();
    repo.write(
        "models/assistant.kdl",
        model.replace("gpt-4o-2024-08-06", "gpt-4o-2024-11-20"),
    );
    let found = repo.findings(&[]);
    let codes: Vec<&str> = found.iter().map(|(code, _)| code.as_str()).collect();
    assert_eq!(codes, ["MO704", "MO704"], "{found:?}");
    assert!(
        found.iter().any(|(_, m)| m.contains("release \"1.0.0\"")),
        "{found:?}"
    );
}

/// A release inherits what its parent says (`from=`): a parent edited in place is
/// one MO704, not one more for each release that inherits the change. A child
/// edited too is a change of its own.
#[test]
fn an_edited_parent_release_is_one_finding() {
    let (repo, git) = released_repo();
    let path = repo.path().join("models/assistant.kdl");
    let model = std::fs::read_to_string(&path).unwrap();
    repo.write(
        "models/assistant.kdl",
        model.replace(
            "    deploy \"prod\" {",
            "    release \"1.1.0\" from=\"1.0.0\" {\n        params {\n            temperature 0.5\n        }\n    }\n    deploy \"prod\" {",
        ),
    );
    assert_eq!(repo.modelops(&["lock"]).code, 0);
    git.add_all();
    git.commit("release 1.1.0");
    let released = std::fs::read_to_string(&path).unwrap();
    repo.write(
        "models/assistant.kdl",
        released.replace("gpt-4o-2024-08-06", "gpt-4o-2024-11-20"),
    );
    let found = repo.findings(&[]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].1.contains("release \"1.0.0\""), "{found:?}");
    repo.write(
        "models/assistant.kdl",
        released
            .replace("gpt-4o-2024-08-06", "gpt-4o-2024-11-20")
            .replace("temperature 0.5", "temperature 0.6"),
    );
    let codes: Vec<String> = repo.findings(&[]).into_iter().map(|(c, _)| c).collect();
    assert_eq!(codes, ["MO704", "MO704"]);
}

/// A prompt folder renamed: one finding at each reference (with the new name as the
/// suggestion) and one for the new folder's versions — not one per version and per
/// stale lock line.
#[test]
fn a_renamed_prompt_folder_is_one_finding_per_place() {
    let repo = TempRepo::new();
    repo.write(
        "prompts/assistant/v2.md",
        "You are a helpful assistant. Be brief.\n",
    );
    assert_eq!(repo.modelops(&["lock"]).code, 0);
    std::fs::rename(
        repo.path().join("prompts/assistant"),
        repo.path().join("prompts/helper"),
    )
    .unwrap();
    let found = repo.findings(&[]);
    let codes: Vec<&str> = found.iter().map(|(code, _)| code.as_str()).collect();
    assert_eq!(codes, ["MO202", "MO702"], "{found:?}");
    assert_eq!(
        found[1].1,
        "prompt `helper` v1 and v2 are not in modelops.lock"
    );
    // Once the reference follows, the lock's old lines are one finding too.
    let path = repo.path().join("models/assistant.kdl");
    let model = std::fs::read_to_string(&path).unwrap();
    repo.write(
        "models/assistant.kdl",
        model.replace("prompt \"assistant\"", "prompt \"helper\""),
    );
    let messages: Vec<String> = repo.findings(&[]).into_iter().map(|(_, m)| m).collect();
    assert!(
        messages.contains(
            &"modelops.lock lists prompt `assistant` v1 and v2, which no longer exist".to_owned()
        ),
        "{messages:?}"
    );
    assert_eq!(repo.modelops(&["lock"]).code, 0);
    assert!(repo.findings(&[]).is_empty());
}

/// Before release, a prompt edited after `modelops lock` is one stale entry: the
/// release using it changes with it and is not listed again.
#[test]
fn an_unreleased_prompt_edited_after_lock_is_one_stale_entry() {
    let repo = TempRepo::locked();
    repo.write(
        "prompts/assistant/v1.md",
        "Edited before the first commit.\n",
    );
    let found = repo.findings(&[]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "MO702", "{found:?}");
    assert!(found[0].1.contains("prompt `assistant` v1"), "{found:?}");
    // A prompt file removed while a release names it is the reference's finding.
    repo.remove("prompts/assistant/v1.md");
    let found = repo.findings(&[]);
    let codes: Vec<&str> = found.iter().map(|(code, _)| code.as_str()).collect();
    assert_eq!(codes, ["MO202"], "{found:?}");
}

/// One unreadable line is one MO703, and the lines that read are still judged: a
/// stale entry elsewhere is found in the same run, and the entry the bad line may
/// have been is not also called missing.
#[test]
fn one_bad_lock_line_leaves_the_rest_judged() {
    let repo = TempRepo::locked();
    let lock = std::fs::read_to_string(repo.path().join("modelops.lock")).unwrap();
    let broken: String = lock
        .lines()
        .map(|line| {
            if line.starts_with("release ") {
                line.replace("blake3=\"", "blake3=\"xyz")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    repo.write("modelops.lock", broken + "\n");
    repo.write("prompts/assistant/v1.md", "Edited after the lock.\n");
    let found = repo.findings(&[]);
    let codes: Vec<&str> = found.iter().map(|(code, _)| code.as_str()).collect();
    assert_eq!(codes, ["MO703", "MO702"], "{found:?}");
    assert!(found[0].1.contains("malformed `release`"), "{found:?}");
    assert!(found[1].1.contains("prompt `assistant` v1"), "{found:?}");
}

#[test]
fn editing_the_working_lock_to_match_does_not_help() {
    let (repo, _git) = released_repo();
    repo.write("prompts/assistant/v3.md", "Changed in place.\n");
    // Forge a lock that matches the edited content (as a hand edit would).
    let tree = modelops::source::WorkTree::new(repo.path()).unwrap();
    let options = modelops::check::Options::from_environment();
    let checked = modelops::check::check(&tree, &options).unwrap();
    repo.write(
        "modelops.lock",
        modelops::lock::render(&checked.lock_entries),
    );
    let run = repo.modelops(&["check"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("MO704"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("MO702"),
        "the forged lock is current:\n{}",
        run.stderr
    );
}

#[test]
fn adding_a_new_version_is_fine() {
    let (repo, _git) = released_repo();
    repo.write(
        "prompts/assistant/v5.md",
        "You are a helpful assistant.\nRevision 5.\nBe brief.\n",
    );
    let model = std::fs::read_to_string(repo.path().join("models/assistant.kdl")).unwrap();
    repo.write(
        "models/assistant.kdl",
        model.replace("version=4", "version=5"),
    );
    // The release changed (it is the one deployed), so it needs a new version too.
    let stale = repo.modelops(&["check"]);
    assert!(
        stale
            .stderr
            .contains("release \"1.0.0\" of `assistant` was changed"),
        "{}",
        stale.stderr
    );
    repo.write(
        "models/assistant.kdl",
        model
            .replace("    deploy \"prod\" {\n        stable \"1.0.0\"", "    release \"1.1.0\" from=\"1.0.0\" {\n        prompt \"assistant\" version=5\n    }\n    deploy \"prod\" {\n        stable \"1.1.0\""),
    );
    assert_eq!(repo.modelops(&["lock"]).code, 0);
    let run = repo.modelops(&["check"]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{}", run.stderr);
}

#[test]
fn a_repository_without_commits_has_no_base() {
    let repo = TempRepo::new();
    Git::init(repo.path());
    assert_eq!(repo.modelops(&["lock"]).code, 0);
    repo.write(
        "prompts/assistant/v1.md",
        "Edited before the first commit.\n",
    );
    let run = repo.modelops(&["check"]);
    assert!(!run.stderr.contains("MO704"), "{}", run.stderr);
    assert!(run.stderr.contains("MO702"), "{}", run.stderr);
}

#[test]
fn a_base_that_does_not_resolve_is_exit_two_naming_it() {
    let (repo, _git) = released_repo();
    let run = repo.modelops(&["check", "--base", "mian"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("revision `mian` cannot be resolved"),
        "{}",
        run.stderr
    );
    let outside = TempRepo::new();
    let run = outside.modelops(&["check", "--base", "HEAD"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn a_shallow_clone_lacks_the_base_history() {
    let Some(git_bin) = external_tool("git") else {
        return;
    };
    let (repo, git) = released_repo();
    repo.write("prompts/assistant/v5.md", "Another version.\n");
    git.add_all();
    git.commit("second");
    let clones = tempfile::tempdir().unwrap();
    let url = format!("file://{}", repo.path().display());
    let clone = run_tool(
        clones.path(),
        &git_bin,
        &["clone", "--quiet", "--depth", "1", &url, "shallow"],
        &[],
    );
    assert_eq!(clone.code, 0, "{}", clone.stderr);
    let run = support::modelops_in(
        &clones.path().join("shallow"),
        &["check", "--base", "HEAD~1"],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("HEAD~1"), "{}", run.stderr);
}

#[test]
fn a_malformed_lock_is_reported_and_not_overwritten_without_force() {
    let repo = TempRepo::new();
    repo.write(
        "modelops.lock",
        "lock-format 1\nprompt \"assistant\" version=1 blake3=\"nothex\"\n",
    );
    let run = repo.modelops(&["check"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("MO703"), "{}", run.stderr);
    let refused = repo.modelops(&["lock"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    let kept = std::fs::read_to_string(repo.path().join("modelops.lock")).unwrap();
    assert!(kept.contains("nothex"));
    assert_eq!(repo.modelops(&["lock", "--force"]).code, 0);
    assert_eq!(repo.modelops(&["check"]).code, 0);
}

#[test]
fn a_lock_from_a_future_format_names_the_upgrade() {
    let repo = TempRepo::new();
    repo.write("modelops.lock", "lock-format 9\n");
    let run = repo.modelops(&["check"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("format 9, written by a newer modelops"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.modelops(&["lock"]).code, 1);
}

fn fingerprints(repo: &TempRepo) -> serde_json::Value {
    let run = repo.modelops(&["check", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    report["deployments"].clone()
}

#[test]
fn fingerprints_follow_what_reaches_the_pods() {
    let repo = TempRepo::new();
    let before = fingerprints(&repo);
    let deployment = &before[0];
    assert_eq!(deployment["model"], "assistant");
    assert_eq!(deployment["environment"], "prod");
    assert_eq!(deployment["tracks"][0]["track"], "stable");
    assert_eq!(
        deployment["dependencies"],
        serde_json::json!([
            "modelops.kdl",
            "models/assistant.kdl",
            "prompts/assistant/v1.md"
        ])
    );
    let print = |v: &serde_json::Value| v[0]["fingerprint"].as_str().unwrap().to_owned();
    // A comment changes no pod: same fingerprint.
    let model = std::fs::read_to_string(repo.path().join("models/assistant.kdl")).unwrap();
    repo.write(
        "models/assistant.kdl",
        format!("// owned by the assistants team\n{model}"),
    );
    assert_eq!(print(&fingerprints(&repo)), print(&before));
    // The prompt alone changes it.
    repo.write(
        "prompts/assistant/v1.md",
        "You are a helpful, careful assistant.\n",
    );
    assert_ne!(print(&fingerprints(&repo)), print(&before));
}

/// A large organisation's lock passes 1 MiB (12,000 entries are ~1.2 MiB); the lock
/// at the base revision is read with the lock's own size bound, not a model file's.
#[test]
fn a_lock_larger_than_a_model_file_is_read_at_the_base() {
    let (repo, git) = released_repo();
    let lock = std::fs::read_to_string(repo.path().join("modelops.lock")).unwrap();
    let padding = "// padding that a very large lock would hold as entries\n".repeat(25_000);
    assert!(padding.len() > 1024 * 1024);
    repo.write("modelops.lock", format!("{lock}{padding}"));
    git.add_all();
    git.commit("a large lock");
    let run = repo.modelops(&["check"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// A lock committed with merge-conflict markers: the immutability check cannot run,
/// and that is an error saying why and what to do, never a silent pass.
#[test]
fn a_conflicted_base_lock_is_an_error_not_a_skip() {
    let (repo, git) = released_repo();
    let lock = std::fs::read_to_string(repo.path().join("modelops.lock")).unwrap();
    repo.write(
        "modelops.lock",
        format!("<<<<<<< HEAD\n{lock}=======\n{lock}>>>>>>> feature\n"),
    );
    git.add_all();
    git.commit("merge with conflicts");
    repo.write("modelops.lock", lock);
    // An in-place edit of a released prompt, which the check would catch.
    repo.write("prompts/assistant/v4.md", "Edited in place.\n");
    let locked = repo.modelops(&["lock"]);
    assert_eq!(locked.code, 0, "{}", locked.stderr);
    let run = repo.modelops(&["check"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("MO703") && run.stderr.contains("merge-conflict markers"),
        "{}",
        run.stderr
    );
}

/// A repository whose objects are named by SHA-256 cannot be read by libgit2: the
/// base is not taken for "nothing released"; `check` says so and exits 2.
#[test]
fn a_sha256_repository_is_refused_clearly() {
    let Some(git_bin) = external_tool("git") else {
        return;
    };
    let repo = TempRepo::locked();
    let init = run_tool(
        repo.path(),
        &git_bin,
        &["init", "--quiet", "--object-format=sha256", "."],
        &[],
    );
    if init.code != 0 {
        // A git too old to make one: nothing to refuse here.
        eprintln!(
            "skipping: this git cannot create SHA-256 repositories: {}",
            init.stderr
        );
        return;
    }
    let run = repo.modelops(&["check"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("sha256"), "{}", run.stderr);
    assert!(run.stderr.contains("SHA-1"), "{}", run.stderr);
}

/// The configuration moved into a subfolder since the base: its lock at the base is
/// at the old place, and released content is still judged against it.
#[test]
fn a_configuration_that_moved_is_judged_against_its_old_lock() {
    let (repo, _git) = released_repo();
    let moved = repo.path().join("config");
    std::fs::create_dir(&moved).unwrap();
    for entry in ["modelops.kdl", "modelops.lock", "models", "prompts"] {
        std::fs::rename(repo.path().join(entry), moved.join(entry)).unwrap();
    }
    let clean = support::modelops_in(&moved, &["check"]);
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    // Edit a released prompt in place: the base, read at its old place, tells; and
    // `lock` refuses to record it.
    std::fs::write(moved.join("prompts/assistant/v4.md"), "Edited in place.\n").unwrap();
    let locked = support::modelops_in(&moved, &["lock"]);
    assert_eq!(locked.code, 1, "{}", locked.stderr);
    let run = support::modelops_in(&moved, &["check"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("MO704") && run.stderr.contains("moved"),
        "{}",
        run.stderr
    );
}

/// "Released" means "reached the default branch": a prompt version committed only
/// on a feature branch may still be fixed after review, in `check` and the hook
/// alike; once the branch is merged, the same edit is MO704.
#[test]
fn content_counts_as_released_once_it_reached_the_default_branch() {
    let (repo, git) = released_repo();
    let main = git.repo.head().unwrap().peel_to_commit().unwrap();
    let default_branch = git.repo.head().unwrap().shorthand().unwrap().to_owned();
    git.repo.branch("feature", &main, false).unwrap();
    git.repo.set_head("refs/heads/feature").unwrap();
    // v5 on the feature branch, locked and committed there.
    repo.write(
        "prompts/assistant/v5.md",
        "You are a helpful assistant.\nv5.\n",
    );
    let model = std::fs::read_to_string(repo.path().join("models/assistant.kdl")).unwrap();
    repo.write(
        "models/assistant.kdl",
        model.replace(
            "    deploy \"prod\" {\n        stable \"1.0.0\"",
            "    release \"1.1.0\" from=\"1.0.0\" {\n        prompt \"assistant\" version=5\n    }\n    deploy \"prod\" {\n        stable \"1.1.0\"",
        ),
    );
    let locked = repo.modelops(&["lock"]);
    assert_eq!(locked.code, 0, "{}", locked.stderr);
    git.add_all();
    let feature = git.commit("prompt v5");
    // Fixing v5 after review: still the branch's own work.
    repo.write(
        "prompts/assistant/v5.md",
        "You are a helpful assistant.\nv5, fixed.\n",
    );
    let lock = repo.modelops(&["lock"]);
    assert_eq!(lock.code, 0, "{}", lock.stderr);
    git.add_all();
    for args in [&["check"][..], &["check", "--staged"][..]] {
        let run = repo.modelops(args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    }
    // Judged against the branch's own tip, it would be an edit of released content.
    let at_head = repo.modelops(&["check", "--base", "HEAD"]);
    assert_eq!(at_head.code, 1, "{}", at_head.stderr);
    assert!(at_head.stderr.contains("MO704"), "{}", at_head.stderr);
    // A configured default branch that is the feature branch itself says the same.
    let configured = support::modelops_with(
        repo.path(),
        &["check"],
        &[("MODELOPS_BASE_BRANCH", std::ffi::OsStr::new("feature"))],
    );
    assert_eq!(configured.code, 1, "{}", configured.stderr);
    // Once the feature branch reached the default branch, v5 is released.
    git.repo
        .reference(
            &format!("refs/heads/{default_branch}"),
            feature,
            true,
            "merge",
        )
        .unwrap();
    repo.write(
        "prompts/assistant/v5.md",
        "You are a helpful assistant.\nv5, edited again.\n",
    );
    let merged = repo.modelops(&["check"]);
    assert_eq!(merged.code, 1, "{}", merged.stderr);
    assert!(merged.stderr.contains("MO704"), "{}", merged.stderr);
}

/// Promotion order is judged from the default branch's history: a release that ran
/// in staging in an earlier commit may go to prod although staging has moved on; one
/// that never ran there may not.
#[test]
fn promotion_order_reads_the_deploy_record_of_the_default_branch() {
    let repo = TempRepo::new();
    repo.write(
        "modelops.kdl",
        "project \"t\"\nenvironment \"staging\" namespace=\"s\"\nenvironment \"prod\" namespace=\"p\" {\n    after \"staging\"\n}\n",
    );
    let model = |staging: &str, prod: &str| {
        format!(
            "model \"assistant\" {{\n    release \"1.0.0\" {{\n        base \"openai/gpt-4o-2024-08-06\"\n        image \"ghcr.io/acme/gateway@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"\n        prompt \"assistant\" version=1\n    }}\n    release \"1.1.0\" from=\"1.0.0\" {{\n        params {{\n            temperature 0.2\n        }}\n    }}\n    release \"1.2.0\" from=\"1.0.0\" {{\n        params {{\n            temperature 0.1\n        }}\n    }}\n    deploy \"staging\" {{\n{staging}\n    }}\n    deploy \"prod\" {{\n{prod}\n    }}\n}}\n"
        )
    };
    repo.write(
        "models/assistant.kdl",
        model("        stable \"1.1.0\"", "        stable \"1.0.0\""),
    );
    assert_eq!(repo.modelops(&["lock"]).code, 0);
    let git = Git::init(repo.path());
    git.add_all();
    git.commit("1.1.0 runs in staging");
    // Staging moves on to 1.2.0 while prod starts its canary of 1.1.0.
    repo.write(
        "models/assistant.kdl",
        model(
            "        stable \"1.2.0\"",
            "        stable \"1.0.0\"\n        canary \"1.1.0\" {\n            step 100\n        }",
        ),
    );
    let run = repo.modelops(&["check"]);
    assert!(!run.stderr.contains("MO413"), "{}", run.stderr);
    // 1.2.0 to prod: staging runs it only in this uncommitted change — fine, it is in
    // the configuration — but a release that never ran in staging is refused.
    repo.write(
        "models/assistant.kdl",
        model(
            "        stable \"1.1.0\"",
            "        stable \"1.0.0\"\n        canary \"1.2.0\" {\n            step 100\n        }",
        ),
    );
    let refused = repo.modelops(&["check"]);
    assert!(refused.stderr.contains("MO413"), "{}", refused.stderr);
}
