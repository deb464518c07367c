//! `compile` touches only what it owns: it refuses folders that are not its output
//! (leaving every byte as it was), never writes through or deletes a link, and a
//! process killed at any step of a writing compile leaves a complete output folder
//! — the old tree or the new one — that the next run finishes cleanly. The kills
//! use the debug build's `MODELOPS_TEST_ABORT_AT` hook (`src/output/hook.rs`).

mod support;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use support::{copy_dir, example_repo, modelops_with, tree};

/// Everything under `dir`, not following links: each file's bytes, each link's
/// target, each folder.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .map(|entry| {
            let entry = entry.unwrap();
            let path = entry.path().strip_prefix(dir).unwrap().to_path_buf();
            let kind = entry.file_type();
            let what = if kind.is_symlink() {
                format!(
                    "link to {}",
                    std::fs::read_link(entry.path()).unwrap().display()
                )
            } else if kind.is_dir() {
                "folder".to_owned()
            } else {
                format!("{:?}", std::fs::read(entry.path()).unwrap())
            };
            (path, what)
        })
        .collect()
}

/// The example repository (its sources, no output) at `outer/repo`, with a folder
/// `outer/outside` beside it; returns the repository's path.
fn example_in(outer: &Path) -> PathBuf {
    let repo = outer.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let root = example_repo();
    for file in ["modelops.kdl", "modelops.lock"] {
        std::fs::copy(root.join(file), repo.join(file)).unwrap();
    }
    for folder in ["models", "prompts", "datasets"] {
        copy_dir(&root.join(folder), &repo.join(folder));
    }
    std::fs::create_dir_all(outer.join("outside")).unwrap();
    std::fs::write(outer.join("outside/keep.yaml"), "kind: NotYours\n").unwrap();
    repo
}

fn compile(repo: &Path, args: &[&str]) -> support::Run {
    modelops_with(repo, args, &[])
}

/// Runs `args` and expects a refusal that changed nothing under `outer`.
fn assert_refused(outer: &Path, repo: &Path, args: &[&str], says: &str) {
    let before = snapshot(outer);
    let run = compile(repo, args);
    assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    assert!(run.stderr.contains("error: "), "{args:?}: {}", run.stderr);
    assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    assert!(run.stderr.contains("help: "), "{args:?}: {}", run.stderr);
    assert_eq!(snapshot(outer), before, "{args:?} changed files");
}

#[test]
fn foreign_files_in_the_output_folder_survive_byte_for_byte() {
    let outer = tempfile::tempdir().unwrap();
    let repo = example_in(outer.path());
    std::fs::create_dir_all(repo.join("notes/deep")).unwrap();
    std::fs::write(repo.join("notes/todo.txt"), "mine\n").unwrap();
    std::fs::write(repo.join("notes/deep/data.bin"), [0u8, 159, 146, 150]).unwrap();
    assert_refused(
        outer.path(),
        &repo,
        &["compile", "--out", "notes"],
        "holds files compile does not write: `deep/data.bin` and 1 more",
    );
    // Files compile would write, and one it would not: still refused.
    assert_eq!(compile(&repo, &["compile", "--out", "out"]).code, 0);
    let emitted = tree(&repo.join("out"));
    copy_dir(&repo.join("out"), &repo.join("legacy"));
    std::fs::remove_file(repo.join("legacy/.modelops-output")).unwrap();
    std::fs::write(repo.join("legacy/kubernetes/mine.yaml"), "kind: Mine\n").unwrap();
    assert_refused(
        outer.path(),
        &repo,
        &["compile", "--out", "legacy"],
        "no `.modelops-output` marker",
    );
    // Only files compile writes (an output older than the marker): adopted.
    std::fs::remove_file(repo.join("legacy/kubernetes/mine.yaml")).unwrap();
    let run = compile(&repo, &["compile", "--out", "legacy", "--check"]);
    assert_eq!(run.code, 1, "the marker is expected output: {}", run.stdout);
    assert!(run.stdout.contains(".modelops-output"), "{}", run.stdout);
    let run = compile(&repo, &["compile", "--out", "legacy"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(tree(&repo.join("legacy")) == emitted);
    // A marked folder is the output's: what does not belong there goes.
    std::fs::write(repo.join("legacy/kubernetes/stray.yaml"), "kind: Stray\n").unwrap();
    assert_eq!(compile(&repo, &["compile", "--out", "legacy"]).code, 0);
    assert!(tree(&repo.join("legacy")) == emitted);
}

#[test]
fn sources_the_root_and_paths_outside_are_refused() {
    let outer = tempfile::tempdir().unwrap();
    let repo = example_in(outer.path());
    std::fs::create_dir_all(repo.join("nested/prompts")).unwrap();
    for (out, says) in [
        ("models", "sources (`models/`)"),
        ("models/generated", "sources (`models/`)"),
        ("prompts", "sources (`prompts/`)"),
        (".git/generated", "sources (`.git/`)"),
        ("modelops.kdl", "the project file `modelops.kdl`"),
        ("modelops.lock", "the project file `modelops.lock`"),
        ("datasets", "holds the dataset `datasets/"),
        (".", "is the repository root"),
        ("../repo", "is the repository root"),
        ("../outside", "is outside the repository"),
        ("..", "is outside the repository"),
        ("nested", "holds `prompts`"),
    ] {
        assert_refused(outer.path(), &repo, &["compile", "--out", out], says);
        assert_refused(
            outer.path(),
            &repo,
            &["compile", "--check", "--out", out],
            says,
        );
    }
    // An absolute path outside, and a file that is not a folder.
    let outside = outer.path().join("outside");
    let outside = outside.to_str().unwrap();
    assert_refused(
        outer.path(),
        &repo,
        &["compile", "--out", outside],
        "outside the repository",
    );
    std::fs::write(repo.join("README.md"), "# readme\n").unwrap();
    assert_refused(
        outer.path(),
        &repo,
        &["compile", "--out", "README.md"],
        "is not a folder",
    );
    // A relative --out is relative to the current directory.
    let run = modelops_with(
        &repo.join("models"),
        &["-C", repo.to_str().unwrap(), "compile", "--out", "../gen"],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(repo.join("gen/.modelops-output").is_file());
}

#[cfg(unix)]
#[test]
fn a_linked_output_folder_writes_nothing_outside() {
    let outer = tempfile::tempdir().unwrap();
    let repo = example_in(outer.path());
    std::os::unix::fs::symlink(outer.path().join("outside"), repo.join("generated")).unwrap();
    for args in [
        &["compile"][..],
        &["compile", "--check"],
        &["compile", "--env", "prod"],
        &["compile", "--out", "generated/sub"],
    ] {
        assert_refused(outer.path(), &repo, args, "symbolic link");
    }
    // A link to a folder inside the repository is refused as well.
    std::fs::remove_file(repo.join("generated")).unwrap();
    std::fs::create_dir(repo.join("real")).unwrap();
    std::os::unix::fs::symlink(repo.join("real"), repo.join("generated")).unwrap();
    assert_refused(outer.path(), &repo, &["compile"], "symbolic link");
}

#[cfg(unix)]
#[test]
fn a_link_inside_the_output_is_neither_followed_nor_deleted() {
    let outer = tempfile::tempdir().unwrap();
    let repo = example_in(outer.path());
    assert_eq!(compile(&repo, &["compile"]).code, 0);
    let out = repo.join("generated");
    let secret = outer.path().join("outside/keep.yaml");
    // A link where an emitted file belongs, a link beside them, a linked folder.
    std::fs::remove_file(out.join("plan.json")).unwrap();
    std::os::unix::fs::symlink(&secret, out.join("plan.json")).unwrap();
    assert_refused(outer.path(), &repo, &["compile"], "not a plain file");
    assert_refused(outer.path(), &repo, &["compile", "--check"], "plan.json");
    std::fs::remove_file(out.join("plan.json")).unwrap();
    std::os::unix::fs::symlink(&secret, out.join("kubernetes/extra.yaml")).unwrap();
    assert_refused(
        outer.path(),
        &repo,
        &["compile", "--env", "prod"],
        "extra.yaml",
    );
    std::fs::remove_file(out.join("kubernetes/extra.yaml")).unwrap();
    std::fs::remove_dir_all(out.join("nginx")).unwrap();
    std::os::unix::fs::symlink(outer.path().join("outside"), out.join("nginx")).unwrap();
    assert_refused(outer.path(), &repo, &["compile"], "nginx");
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "kind: NotYours\n"
    );
}

#[test]
fn a_second_compile_waits_for_the_first() {
    use std::io::BufRead;
    let outer = tempfile::tempdir().unwrap();
    let repo = example_in(outer.path());
    // The lock a writing compile takes: the repository root folder.
    let held = std::fs::File::open(&repo).unwrap();
    held.lock().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_modelops"))
        .arg("compile")
        .current_dir(&repo)
        .env("MODELOPS_CACHE_DIR", support::test_cache())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let _ = lines.send(line.unwrap_or_default());
        }
    });
    let waiting = received
        .recv_timeout(std::time::Duration::from_secs(60))
        .unwrap();
    assert_eq!(
        waiting,
        "waiting for another compile in this repository to finish"
    );
    // A check does not wait: it writes nothing.
    let check = compile(&repo, &["compile", "--check"]);
    assert_eq!(check.code, 1, "{}", check.stderr);
    assert!(!repo.join("generated").exists(), "the writer is waiting");
    held.unlock().unwrap();
    assert!(child.wait().unwrap().success());
    assert!(repo.join("generated/.modelops-output").is_file());
}

/// What a killed compile is checked against.
struct Scenario {
    name: &'static str,
    /// The repository before the run (its `generated/` is the old tree, if any).
    template: PathBuf,
    args: &'static [&'static str],
    old: BTreeMap<String, Vec<u8>>,
    new: BTreeMap<String, Vec<u8>>,
}

/// The steps of a writing compile, in order.
const STEPS: &[&str] = &[
    "after-next-written",
    "before-exchange",
    "between-renames",
    "after-exchange",
    "before-retire",
    "during-cleanup",
    "after-retire",
];

/// Builds the three scenarios under `dir`: a first compile, a compile that
/// replaces the output, and a compile of one environment.
fn scenarios(dir: &Path) -> Vec<Scenario> {
    let no_cache = [("MODELOPS_NO_CACHE", OsStr::new("1"))];
    let fresh = example_in(&dir.join("fresh"));
    let run = |repo: &Path, args: &[&str]| {
        let run = modelops_with(repo, args, &no_cache);
        assert_eq!(run.code, 0, "{}", run.stderr);
    };
    // The old tree, then a change that reaches files of both environments.
    let changed = example_in(&dir.join("changed"));
    run(&changed, &["compile"]);
    let model = changed.join("models/support-bot.kdl");
    let text = std::fs::read_to_string(&model).unwrap();
    let staging = "deploy \"staging\" {\n        stable \"1.5.0\"\n";
    assert!(text.contains("replicas 6") && text.contains(staging));
    let text = text.replace("replicas 6", "replicas 5").replace(
        staging,
        "deploy \"staging\" {\n        replicas 2\n        stable \"1.5.0\"\n",
    );
    std::fs::write(&model, text).unwrap();
    let lock = modelops_with(&changed, &["lock"], &no_cache);
    assert_eq!(lock.code, 0, "{}", lock.stderr);
    let old = tree(&changed.join("generated"));
    // The new trees, from runs nobody killed.
    let expected = |args: &[&str]| {
        let copy = dir.join("expected").join(args.join("-"));
        copy_dir(&changed, &copy);
        run(&copy, args);
        tree(&copy.join("generated"))
    };
    let full = expected(&["compile"]);
    let scoped = expected(&["compile", "--env", "prod"]);
    assert!(old != full && full != scoped && old != scoped);
    let first = {
        let copy = dir.join("expected-first");
        copy_dir(&fresh, &copy);
        run(&copy, &["compile"]);
        tree(&copy.join("generated"))
    };
    vec![
        Scenario {
            name: "first",
            template: fresh,
            args: &["compile"],
            old: BTreeMap::new(),
            new: first,
        },
        Scenario {
            name: "replace",
            template: changed.clone(),
            args: &["compile"],
            old: old.clone(),
            new: full,
        },
        Scenario {
            name: "scoped",
            template: changed,
            args: &["compile", "--env", "prod"],
            old,
            new: scoped,
        },
    ]
}

/// Kills `scenario`'s compile at every step, with and without the output cache
/// (the spare) and with the exchange or the two-rename fallback, and checks the
/// output after each kill and after the next run.
fn kill_at_every_step(scenario: &Scenario, dir: &Path) {
    for cache in [true, false] {
        for exchange in [true, false] {
            for step in STEPS {
                let case = format!("{} cache={cache} exchange={exchange} {step}", scenario.name);
                let repo = dir.join(case.replace([' ', '='], "-"));
                copy_dir(&scenario.template, &repo);
                let cache_dir = dir.join("caches").join(case.replace([' ', '='], "-"));
                let mut env: Vec<(&str, &OsStr)> = Vec::new();
                match cache {
                    true => env.push(("MODELOPS_CACHE_DIR", cache_dir.as_os_str())),
                    false => env.push(("MODELOPS_NO_CACHE", OsStr::new("1"))),
                }
                if !exchange {
                    env.push(("MODELOPS_TEST_NO_EXCHANGE", OsStr::new("1")));
                }
                let mut killed = env.clone();
                killed.push(("MODELOPS_TEST_ABORT_AT", OsStr::new(step)));
                let run = modelops_with(&repo, scenario.args, &killed);
                let had_output = !scenario.old.is_empty();
                let reached = match *step {
                    "between-renames" => !exchange && had_output,
                    "during-cleanup" => !cache && had_output,
                    _ => true,
                };
                if reached {
                    assert_eq!(run.code, -1, "{case}: not killed: {}", run.stderr);
                } else {
                    assert_eq!(run.code, 0, "{case}: {}", run.stderr);
                }
                let out = repo.join("generated");
                let left = tree(&out);
                if *step == "between-renames" && reached {
                    // The fallback's one gap: no output, the old tree complete beside.
                    let prev = repo.join(".generated.modelops-prev");
                    assert!(!out.exists(), "{case}");
                    assert!(
                        tree(&prev) == scenario.old,
                        "{case}: the old tree set aside"
                    );
                    continue_after_gap(&repo, scenario, &env, &case);
                    continue;
                }
                assert!(
                    left == scenario.old || left == scenario.new,
                    "{case}: generated/ is neither the old tree nor the new one"
                );
                if left.is_empty() {
                    assert!(!out.exists(), "{case}: an empty output folder");
                }
                // The next run cleans up and writes the new tree.
                let run = modelops_with(&repo, scenario.args, &env);
                assert_eq!(run.code, 0, "{case}: {}", run.stderr);
                assert!(
                    tree(&out) == scenario.new,
                    "{case}: not the new tree after the next run"
                );
                let leftovers: Vec<String> = std::fs::read_dir(&repo)
                    .unwrap()
                    .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|name| name.starts_with(".generated"))
                    .collect();
                assert!(leftovers.is_empty(), "{case}: {leftovers:?}");
                std::fs::remove_dir_all(&repo).unwrap();
            }
        }
    }
}

/// After a kill between the fallback's two renames, a run that is refused (the
/// repository has errors) still first puts the old tree back; the next good run
/// writes the new tree.
fn continue_after_gap(repo: &Path, scenario: &Scenario, env: &[(&str, &OsStr)], case: &str) {
    let model = repo.join("models/support-bot.kdl");
    let text = std::fs::read_to_string(&model).unwrap();
    std::fs::write(&model, "model {").unwrap();
    let run = modelops_with(repo, scenario.args, env);
    assert_eq!(run.code, 1, "{case}: {}", run.stderr);
    assert!(
        tree(&repo.join("generated")) == scenario.old,
        "{case}: restored"
    );
    assert!(!repo.join(".generated.modelops-prev").exists(), "{case}");
    std::fs::write(&model, text).unwrap();
    let run = modelops_with(repo, scenario.args, env);
    assert_eq!(run.code, 0, "{case}: {}", run.stderr);
    assert!(
        tree(&repo.join("generated")) == scenario.new,
        "{case}: the new tree"
    );
    std::fs::remove_dir_all(repo).unwrap();
}

#[test]
fn a_first_compile_killed_at_any_step_leaves_no_output_or_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = scenarios(dir.path());
    kill_at_every_step(&scenarios[0], dir.path());
}

#[test]
fn a_compile_killed_at_any_step_leaves_the_old_tree_or_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = scenarios(dir.path());
    kill_at_every_step(&scenarios[1], dir.path());
}

#[test]
fn a_scoped_compile_killed_at_any_step_leaves_the_old_tree_or_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = scenarios(dir.path());
    kill_at_every_step(&scenarios[2], dir.path());
}

/// (Linux: after the exchange, the old tree waits at the next tree's name.)
#[cfg(target_os = "linux")]
#[test]
fn a_cleanup_killed_halfway_is_finished_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = scenarios(dir.path());
    let scenario = &scenarios[1];
    let repo = dir.path().join("repo");
    copy_dir(&scenario.template, &repo);
    let no_cache = ("MODELOPS_NO_CACHE", OsStr::new("1"));
    let abort = |step: &'static str| [no_cache, ("MODELOPS_TEST_ABORT_AT", OsStr::new(step))];
    // Killed once the new tree is in: the old one waits beside it, marked.
    let run = modelops_with(&repo, scenario.args, &abort("before-retire"));
    assert_eq!(run.code, -1, "{}", run.stderr);
    assert!(
        repo.join(".generated.modelops-next/.modelops-output")
            .is_file()
    );
    // The next run is killed while it removes that left-over.
    let run = modelops_with(&repo, scenario.args, &abort("during-cleanup"));
    assert_eq!(run.code, -1, "{}", run.stderr);
    assert!(
        repo.join(".generated.modelops-next/.modelops-output")
            .is_file()
    );
    assert!(tree(&repo.join("generated")) == scenario.new);
    let run = modelops_with(&repo, scenario.args, &[no_cache]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!repo.join(".generated.modelops-next").exists());
    assert!(tree(&repo.join("generated")) == scenario.new);
    // A folder by that name that is not modelops output is left alone.
    std::fs::create_dir(repo.join(".generated.modelops-next")).unwrap();
    std::fs::write(repo.join(".generated.modelops-next/mine.txt"), "mine").unwrap();
    let run = modelops_with(&repo, scenario.args, &[no_cache]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("is not modelops output"),
        "{}",
        run.stderr
    );
    assert!(repo.join(".generated.modelops-next/mine.txt").is_file());
}

/// The output cache only ever decides speed: with it, without it, and with stale,
/// foreign or damaged indexes in it, compile writes the same tree and
/// `compile --check` gives the same verdict.
#[test]
fn the_output_cache_changes_no_tree_and_no_verdict() {
    let outer = tempfile::tempdir().unwrap();
    let repo = example_in(outer.path());
    let cache = outer.path().join("cache");
    let with_cache = [("MODELOPS_CACHE_DIR", cache.as_os_str())];
    let without = [("MODELOPS_NO_CACHE", OsStr::new("1"))];
    let out = repo.join("generated");
    let index = modelops::output::index::index_path(
        &cache,
        &std::fs::canonicalize(&repo).unwrap().join("generated"),
    );
    let verdicts = |what: &str| {
        let cached = modelops_with(&repo, &["compile", "--check"], &with_cache);
        let plain = modelops_with(&repo, &["compile", "--check"], &without);
        assert_eq!(
            (cached.code, &cached.stdout),
            (plain.code, &plain.stdout),
            "{what}"
        );
        cached.code
    };
    assert_eq!(modelops_with(&repo, &["compile"], &with_cache).code, 0);
    let first = tree(&out);
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(verdicts("fresh index"), 0);
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(verdicts("trusted index"), 0);
    assert!(index.is_file());
    // Edited in place to the same size, with the modification time set back.
    let file = out.join("kubernetes/prod/support-bot.yaml");
    let original = std::fs::read_to_string(&file).unwrap();
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    let edited = original.replace("replicas: 6", "replicas: 7");
    assert_eq!(edited.len(), original.len());
    std::fs::write(&file, &edited).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(verdicts("edited in place"), 1);
    std::fs::write(&file, &original).unwrap();
    assert_eq!(verdicts("restored"), 0);
    // A stale index: the model changed and a compile without the cache wrote.
    let saved = std::fs::read(&index).unwrap();
    let model = repo.join("models/support-bot.kdl");
    let text = std::fs::read_to_string(&model).unwrap();
    std::fs::write(&model, text.replace("replicas 6", "replicas 5")).unwrap();
    assert_eq!(modelops_with(&repo, &["lock"], &without).code, 0);
    assert_eq!(verdicts("model changed"), 1);
    assert_eq!(modelops_with(&repo, &["compile"], &without).code, 0);
    let second = tree(&out);
    std::fs::write(&index, &saved).unwrap();
    assert_eq!(verdicts("stale index"), 0);
    // The index of another output folder planted under this one's name, and a
    // damaged one.
    assert_eq!(
        modelops_with(&repo, &["compile", "--out", "other"], &with_cache).code,
        0
    );
    let other = modelops::output::index::index_path(
        &cache,
        &std::fs::canonicalize(&repo).unwrap().join("other"),
    );
    std::fs::copy(&other, &index).unwrap();
    assert_eq!(verdicts("another folder's index"), 0);
    let mut damaged = saved.clone();
    if let Some(last) = damaged.last_mut() {
        *last ^= 1;
    }
    std::fs::write(&index, &damaged).unwrap();
    assert_eq!(verdicts("damaged index"), 0);
    // Writing with a stale index leaves what writing without one leaves.
    std::fs::write(&model, &text).unwrap();
    assert_eq!(modelops_with(&repo, &["lock"], &without).code, 0);
    std::fs::write(&index, &saved).unwrap();
    assert_eq!(modelops_with(&repo, &["compile"], &with_cache).code, 0);
    assert!(tree(&out) == first && first != second);
    assert_eq!(verdicts("written with a stale index"), 0);
    // A cache inside the repository is never used.
    let inside = repo.join(".modelops-cache");
    let run = modelops_with(
        &repo,
        &["compile"],
        &[("MODELOPS_CACHE_DIR", inside.as_os_str())],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!inside.exists(), "no cache inside the repository");
}

/// Where the output cache goes without `MODELOPS_CACHE_DIR`, and that a home inside
/// the repository means no cache at all.
#[test]
fn the_output_cache_lives_in_the_user_cache_never_in_the_repository() {
    let outer = tempfile::tempdir().unwrap();
    let repo = example_in(outer.path());
    let run = |env: &[(&str, &Path)]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_modelops"));
        command
            .arg("compile")
            .current_dir(&repo)
            .env_remove("MODELOPS_CACHE_DIR")
            .env_remove("MODELOPS_NO_CACHE")
            .env_remove("XDG_CACHE_HOME");
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{output:?}");
    };
    let indexes = |dir: &Path| {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".index"))
                    .count()
            })
            .unwrap_or(0)
    };
    let xdg = outer.path().join("xdg");
    run(&[("XDG_CACHE_HOME", &xdg), ("HOME", outer.path())]);
    assert_eq!(indexes(&xdg.join("modelops/outputs")), 1);
    let home = outer.path().join("home");
    run(&[("HOME", &home)]);
    assert_eq!(indexes(&home.join(".cache/modelops/outputs")), 1);
    // A home that is the repository itself (a dotfiles repository): no cache.
    let before = snapshot(&repo);
    let model = repo.join("models/support-bot.kdl");
    let text = std::fs::read_to_string(&model).unwrap();
    std::fs::write(&model, text.replace("replicas 6", "replicas 5")).unwrap();
    assert_eq!(modelops_with(&repo, &["lock"], &[]).code, 0);
    run(&[("HOME", &repo)]);
    assert!(!repo.join(".cache").exists());
    let after = snapshot(&repo);
    let added: Vec<&PathBuf> = after.keys().filter(|p| !before.contains_key(*p)).collect();
    assert!(added.is_empty(), "{added:?}");
}
