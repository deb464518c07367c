//! Nothing in the repository can vouch for itself: modelops keeps no analysis cache,
//! so a cache folder planted in the repository (by a pull request, or left by an
//! older version) changes neither the verdict nor the output, and is never read —
//! not even when it links to an endless device.

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
fn a_planted_cache_folder_changes_no_verdict() {
    let repo = broken_repo();
    let plain = repo.modelops(&["check"]);
    assert_eq!(plain.code, 1, "{}", plain.stderr);
    // What an older version kept there, and what an attacker would plant: a pack
    // and entries claiming the files are fine, and links to endless devices.
    let cache = repo.path().join(".modelops-cache");
    std::fs::create_dir_all(cache.join("v1")).unwrap();
    std::fs::write(
        cache.join("analyses.pack"),
        b"modelops-cache 6\n\0\0\0valid",
    )
    .unwrap();
    std::fs::write(cache.join("v1").join("entry"), b"{\"diagnostics\":[]}").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("/dev/zero", cache.join("analyses.pack.zero")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", cache.join("v1").join("pack")).unwrap();
    }
    for args in [
        &["check"][..],
        &["check", "--format", "json"],
        &["lock", "--check"],
    ] {
        let planted = repo.modelops(args);
        let fresh = {
            let copy = broken_repo();
            copy.modelops(args)
        };
        assert_eq!(
            (planted.code, &planted.stdout, &planted.stderr),
            (fresh.code, &fresh.stdout, &fresh.stderr),
            "{args:?}"
        );
    }
}

#[test]
fn checking_writes_nothing_into_the_repository() {
    let repo = broken_repo();
    let before = listing(repo.path());
    let run = repo.modelops(&["check"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        listing(repo.path()),
        before,
        "check leaves the tree as it was"
    );
}

fn listing(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        if path.is_dir() {
            out.extend(listing(&path));
        }
        out.push(path);
    }
    out.sort();
    out
}
