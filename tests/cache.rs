//! The analysis cache changes speed, never results: cold, warm and corrupted-cache
//! runs report the same thing, and the cache can be turned off.

mod support;

use support::TempRepo;

fn broken_repo() -> TempRepo {
    let repo = TempRepo::new();
    repo.write(
        "models/assistant.kdl",
        "model \"assistant\" {\n    release \"1.0.0\" {\n        base \"openai/gpt-4o\"\n        image \"x:1\"\n        prompt \"assistant\" version=1\n        params { temprature 0.2 }\n    }\n    deploy \"prod\" { stabel \"1.0.0\" }\n}\n",
    );
    repo
}

#[test]
fn cold_warm_and_corrupted_cache_runs_agree() {
    let repo = broken_repo();
    let cold = repo.modelops(&["check"]);
    assert_eq!(cold.code, 1);
    let cache = repo.path().join(".modelops-cache");
    assert!(
        cache.join(".gitignore").exists(),
        "the cache ignores itself in git"
    );
    let warm = repo.modelops(&["check"]);
    assert_eq!((warm.code, &warm.stderr), (cold.code, &cold.stderr));
    // Corrupt every entry: results must not change.
    for entry in walk(&cache) {
        std::fs::write(&entry, b"garbage").unwrap();
    }
    let corrupted = repo.modelops(&["check"]);
    assert_eq!(
        (corrupted.code, &corrupted.stderr),
        (cold.code, &cold.stderr)
    );
    // An edit is a miss, and is seen.
    repo.write("models/assistant.kdl", "model \"assistant\" {\n}\n");
    let edited = repo.modelops(&["check"]);
    assert!(!edited.stderr.contains("stabel"), "{}", edited.stderr);
}

#[test]
fn the_cache_can_be_moved_or_turned_off() {
    let repo = broken_repo();
    let elsewhere = tempfile::tempdir().unwrap();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_modelops"))
        .arg("check")
        .current_dir(repo.path())
        .env("MODELOPS_CACHE_DIR", elsewhere.path())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert!(!repo.path().join(".modelops-cache").exists());
    assert!(elsewhere.path().join(".gitignore").exists());
    let off = std::process::Command::new(env!("CARGO_BIN_EXE_modelops"))
        .arg("check")
        .current_dir(repo.path())
        .env("MODELOPS_NO_CACHE", "1")
        .output()
        .unwrap();
    assert_eq!(off.status.code(), Some(1));
    assert!(!repo.path().join(".modelops-cache").exists());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.file_name().is_some_and(|n| n != ".gitignore") {
            out.push(path);
        }
    }
    out
}

#[test]
fn concurrent_cold_runs_agree_and_leave_a_whole_pack() {
    let repo = broken_repo();
    // Started together, then waited for: the runs overlap.
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_modelops"))
                .arg("check")
                .current_dir(repo.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let runs: Vec<_> = children
        .into_iter()
        .map(|child| child.wait_with_output().unwrap())
        .collect();
    for run in &runs {
        assert_eq!(run.status.code(), Some(1));
    }
    let packs: Vec<_> = walk(&repo.path().join(".modelops-cache"));
    assert_eq!(
        packs.len(),
        1,
        "one pack, no temporary files left: {packs:?}"
    );
    let cold = repo.modelops(&["check"]);
    let warm = repo.modelops(&["check"]);
    assert_eq!((warm.code, &warm.stderr), (cold.code, &cold.stderr));
}

/// Runs `modelops` in `dir`, with the cache in its default place or turned off.
fn run_in(dir: &std::path::Path, args: &[&str], cached: bool) -> (Option<i32>, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_modelops"));
    command
        .args(args)
        .current_dir(dir)
        .env("MODELOPS_TODAY", "2026-06-01");
    if !cached {
        command.env("MODELOPS_NO_CACHE", "1");
    }
    let output = command.output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The typed model is decoded from cached views: its nodes must point into the file
/// they came from, also when a new file shifts every file's id, and `inspect` must
/// show the same views from the cache as without it.
#[test]
fn typed_nodes_from_cached_views_point_into_their_own_files() {
    let dir = support::copy_example();
    let triage = dir.path().join("models/triage.kdl");
    let text = std::fs::read_to_string(&triage).unwrap();
    // A rule finding (not a schema one) in the second model file.
    std::fs::write(
        &triage,
        text.replacen("deploy \"staging\"", "deploy \"qa\"", 1),
    )
    .unwrap();
    let uncached = run_in(dir.path(), &["check"], false);
    assert_eq!(uncached.0, Some(1), "{}", uncached.2);
    assert!(uncached.2.contains("models/triage.kdl"), "{}", uncached.2);
    assert!(uncached.2.contains("deploy \"qa\""), "{}", uncached.2);
    let cold = run_in(dir.path(), &["check"], true);
    let warm = run_in(dir.path(), &["check"], true);
    assert_eq!(cold, uncached);
    assert_eq!(warm, uncached);

    // A model file that sorts first: every other file gets a new id, and is still
    // a cache hit.
    std::fs::write(
        dir.path().join("models/aardvark.kdl"),
        "model \"aardvark\" {\n    owner \"team-a\"\n}\n",
    )
    .unwrap();
    let uncached = run_in(dir.path(), &["check"], false);
    assert!(uncached.2.contains("deploy \"qa\""), "{}", uncached.2);
    assert_eq!(run_in(dir.path(), &["check"], true), uncached);

    std::fs::write(&triage, text).unwrap();
    let uncached = run_in(dir.path(), &["inspect"], false);
    assert_eq!(uncached.0, Some(0), "{}", uncached.2);
    assert_eq!(run_in(dir.path(), &["inspect"], true), uncached);
    assert_eq!(run_in(dir.path(), &["inspect"], true), uncached);
}
