//! Git-native audit on real repositories built in temporary folders: `blame` across
//! prompt versions, `history`, `rollback`, `diff`. Blame needs the `git` command.

mod support;

use std::path::Path;

use serde_json::Value;
use support::{Git, TempRepo, external_tool, modelops_in, run_tool};

fn write(repo: &TempRepo, path: &str, text: &str) {
    repo.write(path, text);
}

fn blame_json(dir: &Path, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["blame"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let run = modelops_in(dir, &all);
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

#[test]
fn blame_follows_lines_across_version_files() {
    if external_tool("git").is_none() {
        return;
    }
    let repo = TempRepo::new();
    let git = Git::init(repo.path());
    write(
        &repo,
        "prompts/assistant/v1.md",
        "You are helpful.\nBe brief.\nCite sources.\n",
    );
    git.add_all();
    let alice = git.commit_as("Alice", "v1");
    write(
        &repo,
        "prompts/assistant/v2.md",
        "You are helpful.\nBe concise and kind.\nCite sources.\nAsk before acting.\n",
    );
    git.add_all();
    let bob = git.commit_as("Bob", "v2 from v1");
    write(
        &repo,
        "prompts/assistant/v2.md",
        "You are helpful.\nBe concise and kind.\nCite sources.\nAsk before any action.\n",
    );
    git.add_all();
    let carol = git.commit_as("Carol", "reword v2 before release");
    let lines = blame_json(repo.path(), &["assistant"]);
    let who: Vec<(&str, u64, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["author"].as_str().unwrap(),
                l["version"].as_u64().unwrap(),
                l["commit"].as_str().unwrap(),
            )
        })
        .collect();
    let (a, b, c) = (alice.to_string(), bob.to_string(), carol.to_string());
    assert_eq!(
        who,
        [
            ("Alice", 1, a.as_str()),
            ("Bob", 2, b.as_str()),
            ("Alice", 1, a.as_str()),
            ("Carol", 2, c.as_str())
        ]
    );
    // --version picks an older version.
    let v1 = blame_json(repo.path(), &["assistant", "--version", "1"]);
    assert!(v1.iter().all(|l| l["author"] == "Alice"));
}

#[test]
fn blame_agrees_with_git_blame_on_single_file_history() {
    let Some(git_bin) = external_tool("git") else {
        return;
    };
    let repo = TempRepo::new();
    let git = Git::init(repo.path());
    let mut text: Vec<String> = (1..=12).map(|i| format!("line {i}")).collect();
    for (round, author) in ["Ann", "Ben", "Cid", "Dee", "Eve"].iter().enumerate() {
        text[(round * 5) % 12] = format!("line edited by {author}");
        if round % 2 == 1 {
            text.insert(round, format!("added by {author}"));
        }
        write(&repo, "prompts/assistant/v1.md", &(text.join("\n") + "\n"));
        git.add_all();
        git.commit_as(author, "edit");
    }
    let ours: Vec<String> = blame_json(repo.path(), &["assistant"])
        .iter()
        .map(|l| l["commit"].as_str().unwrap().to_owned())
        .collect();
    let theirs = run_tool(
        repo.path(),
        &git_bin,
        &["blame", "--root", "-l", "-s", "prompts/assistant/v1.md"],
        &[],
    );
    let theirs: Vec<String> = theirs
        .stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    assert_eq!(ours, theirs);
}

#[test]
fn blame_follows_renames_and_merges() {
    let Some(git_bin) = external_tool("git") else {
        return;
    };
    let repo = TempRepo::new();
    let git = Git::init(repo.path());
    write(
        &repo,
        "prompts/assistant/v1.md",
        "one\ntwo\nthree\nfour\nfive\nsix\nseven\n",
    );
    git.add_all();
    git.commit_as("Alice", "v1");
    let g = |args: &[&str]| {
        let run = run_tool(repo.path(), &git_bin, args, &[]);
        assert_eq!(run.code, 0, "git {args:?}: {}", run.stderr);
    };
    g(&["checkout", "-q", "-b", "feature"]);
    write(
        &repo,
        "prompts/assistant/v1.md",
        "one\nTWO\nthree\nfour\nfive\nsix\nseven\n",
    );
    git.add_all();
    git.commit_as("Dave", "feature edit");
    g(&["checkout", "-q", "-"]);
    write(
        &repo,
        "prompts/assistant/v1.md",
        "one\ntwo\nthree\nfour\nfive\nSIX\nseven\n",
    );
    git.add_all();
    git.commit_as("Erin", "main edit");
    g(&[
        "-c",
        "user.name=Merger",
        "-c",
        "user.email=m@example.com",
        "merge",
        "-q",
        "--no-edit",
        "feature",
    ]);
    // A rename of the prompt's folder keeps the authorship.
    g(&["mv", "prompts/assistant", "prompts/helper"]);
    let model = std::fs::read_to_string(repo.path().join("models/assistant.kdl")).unwrap();
    write(
        &repo,
        "models/assistant.kdl",
        &model.replace("prompt \"assistant\"", "prompt \"helper\""),
    );
    git.add_all();
    git.commit_as("Renamer", "rename the prompt");
    let authors: Vec<String> = blame_json(repo.path(), &["helper"])
        .iter()
        .map(|l| l["author"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        authors,
        ["Alice", "Dave", "Alice", "Alice", "Alice", "Erin", "Alice"]
    );
}

#[test]
fn shallow_clones_and_unborn_branches_get_a_clear_error() {
    let Some(git_bin) = external_tool("git") else {
        return;
    };
    let repo = TempRepo::new();
    let unborn = Git::init(repo.path());
    for args in [&["blame", "assistant"][..], &["history", "assistant"][..]] {
        let run = modelops_in(repo.path(), args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("no commits yet"), "{}", run.stderr);
    }
    unborn.add_all();
    unborn.commit_as("Alice", "one");
    write(&repo, "prompts/assistant/v1.md", "changed\n");
    unborn.add_all();
    unborn.commit_as("Bob", "two");
    let clones = tempfile::tempdir().unwrap();
    let url = format!("file://{}", repo.path().display());
    let clone = run_tool(
        clones.path(),
        &git_bin,
        &["clone", "-q", "--depth", "1", &url, "shallow"],
        &[],
    );
    assert_eq!(clone.code, 0, "{}", clone.stderr);
    for args in [
        &["blame", "assistant"][..],
        &["history", "assistant"][..],
        &["rollback", "assistant", "--env", "prod"][..],
    ] {
        let run = modelops_in(&clones.path().join("shallow"), args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("shallow clone"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

/// The assistant model with two releases; `prod` runs `stable`, optionally a canary.
fn model(stable: &str, canary: Option<&str>, pause: &str) -> String {
    let canary = canary
        .map(|c| format!("        // rolling out the new prompt\n        canary \"{c}\" {{\n            step 50 pause=\"{pause}\"\n            step 100\n        }}\n"))
        .unwrap_or_default();
    format!(
        "// The assistant, owned by the platform team.\nmodel \"assistant\" {{\n    release \"1.0.0\" {{\n        base \"openai/gpt-4o-2024-08-06\"\n        image \"ghcr.io/acme/gateway@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"\n        prompt \"assistant\" version=1\n    }}\n\n    release \"1.1.0\" from=\"1.0.0\" {{\n        prompt \"assistant\" version=2\n    }}\n\n    deploy \"prod\" {{\n        stable \"{stable}\"   // known good\n{canary}    }}\n}}\n"
    )
}

fn release_history() -> (TempRepo, Git) {
    let repo = TempRepo::new();
    write(
        &repo,
        "prompts/assistant/v2.md",
        "You are a helpful, careful assistant.\n",
    );
    let git = Git::init(repo.path());
    for (author, stable, canary, message) in [
        ("Alice", "1.0.0", None, "deploy 1.0.0"),
        ("Bob", "1.0.0", Some("1.1.0"), "canary 1.1.0"),
        ("Carol", "1.1.0", None, "promote 1.1.0"),
        ("Dan", "1.0.0", None, "roll back to 1.0.0"),
        ("Eve", "1.1.0", None, "try 1.1.0 again"),
    ] {
        write(&repo, "models/assistant.kdl", &model(stable, canary, "1h"));
        git.add_all();
        git.commit_as(author, message);
    }
    (repo, git)
}

#[test]
fn history_shows_the_deployment_timeline_of_a_model() {
    let (repo, _git) = release_history();
    let run = modelops_in(repo.path(), &["history", "assistant", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let events: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    let lines: Vec<String> = events
        .iter()
        .map(|e| {
            format!(
                "{} {} {}",
                e["author"].as_str().unwrap(),
                e["environment"].as_str().unwrap(),
                e["what"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            "Alice prod stable 1.0.0 deployed",
            "Bob prod canary 1.1.0 started",
            "Carol prod 1.1.0 promoted to stable (was 1.0.0)",
            "Dan prod rolled back to 1.0.0 (was 1.1.0)",
            "Eve prod stable 1.0.0 → 1.1.0",
        ]
    );
    let prompt = modelops_in(
        repo.path(),
        &["history", "assistant-prompt-that-does-not-exist"],
    );
    assert_eq!(prompt.code, 2);
}

#[test]
fn rollback_returns_to_the_previous_stable_and_keeps_the_file_as_written() {
    let (repo, _git) = release_history();
    let path = repo.path().join("models/assistant.kdl");
    let before = std::fs::read_to_string(&path).unwrap();
    let dry = modelops_in(
        repo.path(),
        &["rollback", "assistant", "--env", "prod", "--dry-run"],
    );
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout
            .contains("-        stable \"1.1.0\"   // known good"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout
            .contains("+        stable \"1.0.0\"   // known good"),
        "{}",
        dry.stdout
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        before,
        "a dry run writes nothing"
    );
    let run = modelops_in(repo.path(), &["rollback", "assistant", "--env", "prod"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("modelops compile"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        before.replace("stable \"1.1.0\"", "stable \"1.0.0\"")
    );
    let check = modelops_in(repo.path(), &["check"]);
    assert!(!check.stderr.contains("error"), "{}", check.stderr);
}

#[test]
fn rollback_drops_a_candidate_in_flight() {
    let repo = TempRepo::new();
    write(
        &repo,
        "prompts/assistant/v2.md",
        "You are a helpful, careful assistant.\n",
    );
    let git = Git::init(repo.path());
    write(
        &repo,
        "models/assistant.kdl",
        &model("1.0.0", Some("1.1.0"), "1h"),
    );
    git.add_all();
    git.commit_as("Alice", "canary");
    let run = modelops_in(repo.path(), &["rollback", "assistant", "--env", "prod"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = std::fs::read_to_string(repo.path().join("models/assistant.kdl")).unwrap();
    assert_eq!(
        after,
        model("1.0.0", None, "1h"),
        "only the canary block is gone"
    );
}

fn diff_json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["diff"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let run = modelops_in(dir, &all);
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

fn triggers(report: &Value) -> String {
    report["models"][0]["deployments"][0]["triggers"].to_string()
}

#[test]
fn diff_compares_resolved_models_and_names_what_runs() {
    let repo = TempRepo::new();
    write(
        &repo,
        "prompts/assistant/v2.md",
        "You are a helpful, careful assistant.\n",
    );
    let git = Git::init(repo.path());
    write(&repo, "models/assistant.kdl", &model("1.0.0", None, "1h"));
    git.add_all();
    git.commit_as("Alice", "stable 1.0.0");
    // A canary of a release with a new prompt: the full pipeline.
    write(
        &repo,
        "models/assistant.kdl",
        &model("1.0.0", Some("1.1.0"), "1h"),
    );
    let report = diff_json(repo.path(), &[]);
    assert!(
        triggers(&report).contains("prompt changed → full pipeline"),
        "{report}"
    );
    let deployment = &report["models"][0]["deployments"][0];
    assert!(
        deployment["prompt_diff"]
            .as_str()
            .unwrap()
            .contains("+You are a helpful, careful assistant."),
        "{report}"
    );
    git.add_all();
    git.commit_as("Bob", "canary");
    // Only the pause changes: no eval.
    write(
        &repo,
        "models/assistant.kdl",
        &model("1.0.0", Some("1.1.0"), "2h"),
    );
    let report = diff_json(repo.path(), &[]);
    assert!(
        triggers(&report).contains("only the rollout plan changed"),
        "{report}"
    );
    git.add_all();
    git.commit_as("Carol", "slower");
    write(&repo, "models/assistant.kdl", &model("1.1.0", None, "2h"));
    git.add_all();
    git.commit_as("Dan", "promote");
    // Stable back to an earlier release: the rollback fast path.
    write(&repo, "models/assistant.kdl", &model("1.0.0", None, "2h"));
    let report = diff_json(repo.path(), &[]);
    assert!(triggers(&report).contains("rollback fast path"), "{report}");
    // Two revisions, and markdown for a pull-request comment.
    let markdown = modelops_in(
        repo.path(),
        &["diff", "HEAD~3", "HEAD", "--format", "markdown"],
    );
    assert_eq!(markdown.code, 0, "{}", markdown.stderr);
    assert!(
        markdown.stdout.contains("| what | before | after |"),
        "{}",
        markdown.stdout
    );
    assert!(
        markdown
            .stdout
            .contains("| prod stable | `1.0.0` | `1.1.0` |"),
        "{}",
        markdown.stdout
    );
    let bad = modelops_in(repo.path(), &["diff", "no-such-rev"]);
    assert_eq!(bad.code, 2);
}

/// A prompt line holding a Markdown fence or HTML cannot end the prompt diff's block
/// in `diff --format markdown` (a pull-request comment).
#[test]
fn a_prompt_line_cannot_break_out_of_the_markdown_report() {
    let repo = TempRepo::new();
    write(
        &repo,
        "prompts/assistant/v2.md",
        "Answer.\n```\n</details>\n# Approved by security\n````\n",
    );
    let git = Git::init(repo.path());
    write(&repo, "models/assistant.kdl", &model("1.0.0", None, "1h"));
    git.add_all();
    git.commit_as("Alice", "stable 1.0.0");
    write(
        &repo,
        "models/assistant.kdl",
        &model("1.0.0", Some("1.1.0"), "1h"),
    );
    let run = modelops_in(repo.path(), &["diff", "--format", "markdown"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = &run.stdout;
    let open = text.find("diff\n").expect("a fenced diff");
    let fence: String = text[..open]
        .chars()
        .rev()
        .take_while(|c| *c == '`')
        .collect();
    assert!(
        fence.len() >= 5,
        "the fence must be longer than the prompt's ```` run:\n{text}"
    );
    // The block closes only at its own fence, after the prompt's last line.
    let body = &text[open..];
    let close = body
        .find(&format!("\n{fence}\n"))
        .expect("the closing fence");
    assert!(body[..close].contains("+# Approved by security"), "{text}");
    assert_eq!(text.matches("</details>").count(), 2, "{text}");
}
