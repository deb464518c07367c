//! `modelops apply`: each target's file applied by its own mechanism, on a compiled
//! copy of the example, with recording stand-ins for kubectl, nginx and envoy on
//! PATH (shell scripts that log their arguments and exit as the test says).

mod support;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use support::{Run, copy_dir, copy_example, example_repo, example_under, modelops_with};

/// A folder of recording programs prepended to PATH.
struct Shims {
    dir: tempfile::TempDir,
}

impl Shims {
    /// `names` log one line each time they run: their name, each argument in `[…]`,
    /// and the `MODELOPS_*` variables; they exit with the code in `<name>.exit`
    /// (0 without one). When `CHECK_FILE` names a file, its content is logged too.
    fn new(names: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for name in names {
            let script = format!(
                r#"#!/bin/sh
log="{log}"
{{
  printf '%s' '{name}'
  for a in "$@"; do printf ' [%s]' "$a"; done
  printf ' FILE=[%s] MODEL=[%s] ENV=[%s] STATE=[%s]\n' "$MODELOPS_FILE" "$MODELOPS_MODEL" "$MODELOPS_ENVIRONMENT" "$MODELOPS_STATE"
  if [ -n "$CHECK_FILE" ] && [ -f "$CHECK_FILE" ]; then printf 'content=[%s]\n' "$(cat "$CHECK_FILE")"; fi
}} >> "$log"
echo "{name} says hello"
code_file="{dir}/{name}.exit"
if [ -f "$code_file" ]; then
  echo "{name}: refused by the test" >&2
  exit "$(cat "$code_file")"
fi
exit 0
"#,
                log = dir.path().join("log").display(),
                dir = dir.path().display(),
            );
            let path = dir.path().join(name);
            std::fs::write(&path, script).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
        Shims { dir }
    }

    fn fail(&self, name: &str, code: i32) {
        std::fs::write(
            self.dir.path().join(format!("{name}.exit")),
            code.to_string(),
        )
        .unwrap();
    }

    fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn clear(&self) {
        let _ = std::fs::remove_file(self.dir.path().join("log"));
    }

    fn path(&self) -> OsString {
        let mut path = OsString::from(self.dir.path());
        if let Some(rest) = std::env::var_os("PATH") {
            path.push(":");
            path.push(rest);
        }
        path
    }
}

fn apply(repo: &Path, shims: &Shims, args: &[&str], extra: &[(&str, &std::ffi::OsStr)]) -> Run {
    let path = shims.path();
    let mut env: Vec<(&str, &std::ffi::OsStr)> = vec![("PATH", path.as_os_str())];
    env.extend_from_slice(extra);
    let mut argv = vec!["apply"];
    argv.extend_from_slice(args);
    modelops_with(repo, &argv, &env)
}

/// Adds KDL properties to a target's line of `modelops.kdl`.
fn set_options(repo: &Path, target: &str, options: &str) {
    let file = repo.join("modelops.kdl");
    let text = std::fs::read_to_string(&file).unwrap();
    let head = format!("target \"{target}\"");
    let mut found = false;
    let edited: String = text
        .lines()
        .map(|line| {
            if line.trim_start().starts_with(&head) {
                found = true;
                // An option given here replaces the example's of the same name;
                // `reload=` is dropped unless given (the example sets it).
                let (code, comment) = match line.find("//") {
                    Some(at) => line.split_at(at),
                    None => (line, ""),
                };
                let mut kept = code.trim_end().to_owned();
                for key in ["reload", "path", "apply"] {
                    if let Some(start) = kept.find(&format!(" {key}=\""))
                        && let Some(len) = kept[start + key.len() + 3..].find('"')
                    {
                        kept.replace_range(start..start + key.len() + 4 + len, "");
                    }
                }
                // Options go before a children block's `{`.
                let (kept, brace) = match kept.strip_suffix('{') {
                    Some(head) => (head.trim_end().to_owned(), " {"),
                    None => (kept, ""),
                };
                format!("{kept} {options}{brace} {comment}\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    assert!(found, "no `{head}` in modelops.kdl");
    std::fs::write(file, edited).unwrap();
}

fn compile(repo: &Path) {
    let run = support::modelops_in(repo, &["compile"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// A compiled copy of the example (flavor `deployment`) whose proxies install into
/// `etc/` of a temporary folder and reload with recording programs.
struct Example {
    repo: tempfile::TempDir,
    etc: tempfile::TempDir,
}

impl Example {
    fn new() -> Self {
        let repo = copy_example();
        let etc = tempfile::tempdir().unwrap();
        let into = |name: &str, ext: &str| {
            etc.path()
                .join(format!("{name}-{{{{environment}}}}-{{{{model}}}}.{ext}"))
                .display()
                .to_string()
        };
        set_options(
            repo.path(),
            "envoy",
            &format!(
                "reload=\"reload-envoy --hot\" path=\"{}\"",
                into("envoy", "yaml")
            ),
        );
        set_options(
            repo.path(),
            "nginx",
            &format!("path=\"{}\"", into("nginx", "conf")),
        );
        set_options(
            repo.path(),
            "litellm",
            &format!(
                "reload=\"reload-litellm\" path=\"{}\"",
                into("litellm", "yaml")
            ),
        );
        compile(repo.path());
        Example { repo, etc }
    }

    fn installed(&self, name: &str, ext: &str) -> PathBuf {
        self.etc
            .path()
            .join(format!("{name}-prod-support-bot.{ext}"))
    }

    fn generated(&self, file: &str) -> String {
        std::fs::read_to_string(self.repo.path().join("generated").join(file)).unwrap()
    }
}

const TOOLS: &[&str] = &[
    "kubectl",
    "nginx",
    "envoy",
    "reload-envoy",
    "reload-litellm",
];

fn kubectl_line(file: &str, state: &str, root: &Path) -> String {
    format!(
        "kubectl [apply] [--server-side] [--field-manager=modelops] [-f] [{file}] FILE=[{}] MODEL=[support-bot] ENV=[prod] STATE=[{state}]",
        root.join(file).display()
    )
}

/// `base` is the Kubernetes objects, applied server-side with kubectl exactly so.
#[test]
fn base_is_applied_with_kubectl_server_side() {
    let example = Example::new();
    let shims = Shims::new(TOOLS);
    let root = std::fs::canonicalize(example.repo.path()).unwrap();
    let run = apply(
        example.repo.path(),
        &shims,
        &["support-bot", "--env", "prod", "--state", "base"],
        &[],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        shims.log(),
        [kubectl_line(
            "generated/kubernetes/prod/support-bot.yaml",
            "base",
            &root
        )]
    );
    assert_eq!(
        run.stdout,
        "kubernetes: kubectl apply --server-side --field-manager=modelops -f generated/kubernetes/prod/support-bot.yaml\n"
    );
    // What kubectl says goes to stderr; stdout holds one line per action.
    assert!(run.stderr.contains("kubectl says hello"), "{}", run.stderr);
    // No candidate bootstrap under the pipeline driver.
    let none = apply(
        example.repo.path(),
        &shims,
        &["support-bot", "--env", "prod", "--state", "stable-base"],
        &[],
    );
    assert_eq!(none.code, 2, "{}", none.stderr);
    assert!(
        none.stderr.contains("no state `stable-base`"),
        "{}",
        none.stderr
    );
}

/// Every traffic state: istio by kubectl, envoy validated then swapped in and
/// reloaded, nginx installed, tested and reloaded, litellm swapped in and reloaded.
#[test]
fn every_traffic_state_is_applied_by_each_target_in_order() {
    let example = Example::new();
    let shims = Shims::new(TOOLS);
    let root = std::fs::canonicalize(example.repo.path()).unwrap();
    let envoy = example.installed("envoy", "yaml");
    let nginx = example.installed("nginx", "conf");
    let litellm = example.installed("litellm", "yaml");
    for state in [
        "stable", "shadow", "step-1", "step-10", "step-50", "step-100", "promoted",
    ] {
        shims.clear();
        let run = apply(
            example.repo.path(),
            &shims,
            &["support-bot", "--env", "prod", "--state", state],
            &[],
        );
        assert_eq!(run.code, 0, "{state}: {}{}", run.stdout, run.stderr);
        let file =
            |target: &str, ext: &str| format!("generated/{target}/prod/support-bot/{state}.{ext}");
        let vars = |target: &str, ext: &str| {
            format!(
                "FILE=[{}] MODEL=[support-bot] ENV=[prod] STATE=[{state}]",
                root.join(file(target, ext)).display()
            )
        };
        assert_eq!(
            shims.log(),
            [
                kubectl_line(&file("istio", "yaml"), state, &root),
                format!(
                    "envoy [--mode] [validate] [-c] [{}] {}",
                    file("envoy", "yaml"),
                    vars("envoy", "yaml")
                ),
                format!("reload-envoy [--hot] {}", vars("envoy", "yaml")),
                format!("nginx [-t] {}", vars("nginx", "conf")),
                format!("nginx [-s] [reload] {}", vars("nginx", "conf")),
                format!("reload-litellm {}", vars("litellm", "yaml")),
            ],
            "{state}"
        );
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(
            lines,
            [
                format!(
                    "istio: kubectl apply --server-side --field-manager=modelops -f {}",
                    file("istio", "yaml")
                ),
                format!("envoy: envoy --mode validate -c {}", file("envoy", "yaml")),
                format!(
                    "envoy: install {} as {}",
                    file("envoy", "yaml"),
                    envoy.display()
                ),
                "envoy: reload-envoy --hot".to_owned(),
                format!(
                    "nginx: install {} as {}",
                    file("nginx", "conf"),
                    nginx.display()
                ),
                "nginx: nginx -t".to_owned(),
                "nginx: nginx -s reload".to_owned(),
                format!(
                    "litellm: install {} as {}",
                    file("litellm", "yaml"),
                    litellm.display()
                ),
                "litellm: reload-litellm".to_owned(),
            ],
            "{state}"
        );
        assert_eq!(
            std::fs::read_to_string(&envoy).unwrap(),
            example.generated(&format!("envoy/prod/support-bot/{state}.yaml"))
        );
        assert_eq!(
            std::fs::read_to_string(&nginx).unwrap(),
            example.generated(&format!("nginx/prod/support-bot/{state}.conf"))
        );
        assert_eq!(
            std::fs::read_to_string(&litellm).unwrap(),
            example.generated(&format!("litellm/prod/support-bot/{state}.yaml"))
        );
    }
    // Nothing is left beside the installed files.
    let mut names: Vec<String> = std::fs::read_dir(example.etc.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "envoy-prod-support-bot.yaml",
            "litellm-prod-support-bot.yaml",
            "nginx-prod-support-bot.conf"
        ]
    );
}

/// Envoy and LiteLLM read their file only when they start: without `reload=` (or
/// `apply=`) the apply is refused before anything is touched, saying what to set.
#[test]
fn envoy_and_litellm_without_reload_are_refused_before_anything_runs() {
    let repo = copy_example();
    let etc = tempfile::tempdir().unwrap();
    let installed = etc.path().join("envoy.yaml");
    set_options(
        repo.path(),
        "envoy",
        &format!("path=\"{}\"", installed.display()),
    );
    set_options(repo.path(), "litellm", "");
    compile(repo.path());
    let shims = Shims::new(TOOLS);
    let run = apply(
        repo.path(),
        &shims,
        &["support-bot", "--env", "prod", "--state", "stable"],
        &[],
    );
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("target `envoy` has no `reload=`")
            && run.stderr.contains("only when it starts")
            && run.stderr.contains("set `reload=\"…\"`")
            && run.stderr.contains("systemctl restart envoy"),
        "{}",
        run.stderr
    );
    assert!(shims.log().is_empty(), "{:?}", shims.log());
    assert!(!installed.exists());
    // With envoy's reload set, litellm's is missing next.
    set_options(repo.path(), "envoy", "reload=\"reload-envoy\"");
    let run = apply(
        repo.path(),
        &shims,
        &["support-bot", "--env", "prod", "--state", "stable"],
        &[],
    );
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("target `litellm` has no `reload=`"),
        "{}",
        run.stderr
    );
    assert!(shims.log().is_empty(), "{:?}", shims.log());
}

/// A failed `nginx -t` puts the previous file back (or removes the new one when
/// there was none), does not reload, and exits 1 with nginx's words.
#[test]
fn a_failed_nginx_test_restores_the_previous_file() {
    let example = Example::new();
    let shims = Shims::new(TOOLS);
    shims.fail("nginx", 1);
    let nginx = example.installed("nginx", "conf");
    let state = ["support-bot", "--env", "prod", "--state", "shadow"];
    let check: [(&str, &std::ffi::OsStr); 1] = [("CHECK_FILE", nginx.as_os_str())];
    // No previous file: the new one is removed again.
    let run = apply(example.repo.path(), &shims, &state, &check);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(!nginx.exists());
    assert!(
        run.stderr.contains("`nginx -t` failed (exit code 1)")
            && run.stderr.contains("the new")
            && run.stderr.contains("was removed")
            && run.stderr.contains("nginx: refused by the test"),
        "{}",
        run.stderr
    );
    // A previous file: put back, byte for byte, after nginx saw the new one.
    std::fs::write(&nginx, "# the running configuration\n").unwrap();
    shims.clear();
    let run = apply(example.repo.path(), &shims, &state, &check);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        std::fs::read_to_string(&nginx).unwrap(),
        "# the running configuration\n"
    );
    assert!(run.stderr.contains("was put back"), "{}", run.stderr);
    let log = shims.log().join("\n");
    let generated = example.generated("nginx/prod/support-bot/shadow.conf");
    assert!(
        log.contains(&format!("content=[{}]", generated.trim_end())),
        "nginx -t did not see the new file: {log}"
    );
    assert!(
        run.stderr
            .contains("`istio`, `envoy` applied state `shadow` before it failed"),
        "{}",
        run.stderr
    );
    assert!(!log.contains("nginx [-s] [reload]"), "{log}");
    assert!(!log.contains("reload-litellm"), "{log}");
    let left: Vec<String> = std::fs::read_dir(example.etc.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("modelops-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// kubectl refusing a file fails the apply (exit 1) with what kubectl said, and
/// nothing after it runs.
#[test]
fn a_refused_kubectl_apply_exits_one_with_its_stderr() {
    let example = Example::new();
    let shims = Shims::new(TOOLS);
    shims.fail("kubectl", 1);
    let run = apply(
        example.repo.path(),
        &shims,
        &["support-bot", "--env", "prod", "--state", "stable"],
        &[],
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("kubectl: refused by the test")
            && run
                .stderr
                .contains("failed (exit code 1) on `generated/istio/prod/support-bot/stable.yaml`"),
        "{}",
        run.stderr
    );
    assert_eq!(shims.log().len(), 1, "{:?}", shims.log());
    assert!(!example.installed("envoy", "yaml").exists());
}

/// `apply=` replaces the mechanism: its words as written, then the file's absolute
/// path as the last argument and in MODELOPS_FILE, verbatim — a path with spaces,
/// quotes and `$(…)` is data, never run through a shell.
#[test]
fn an_apply_override_gets_the_file_as_its_last_argument_verbatim() {
    let outer = tempfile::tempdir().unwrap();
    let repo = outer
        .path()
        .join("my repo $(touch pwned) `touch pwned2` 'q\" ; x");
    std::fs::create_dir(&repo).unwrap();
    let example = example_repo();
    for file in ["modelops.kdl", "modelops.lock"] {
        std::fs::copy(example.join(file), repo.join(file)).unwrap();
    }
    for folder in ["models", "prompts", "datasets"] {
        copy_dir(&example.join(folder), &repo.join(folder));
    }
    set_options(
        &repo,
        "kubernetes",
        r#"apply="my-deployer --label 'a b' \"c d\" --flag""#,
    );
    compile(&repo);
    let shims = Shims::new(&["my-deployer"]);
    let run = apply(
        &repo,
        &shims,
        &["support-bot", "--env", "prod", "--state", "base"],
        &[],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let root = std::fs::canonicalize(&repo).unwrap();
    let file = root.join("generated/kubernetes/prod/support-bot.yaml");
    assert_eq!(
        shims.log(),
        [format!(
            "my-deployer [--label] [a b] [c d] [--flag] [{0}] FILE=[{0}] MODEL=[support-bot] ENV=[prod] STATE=[base]",
            file.display()
        )]
    );
    for dir in [outer.path(), &repo, shims.dir.path()] {
        assert!(!dir.join("pwned").exists() && !dir.join("pwned2").exists());
    }
    // The dry run shows the command quoted as a shell would need it.
    let dry = apply(
        &repo,
        &shims,
        &[
            "support-bot",
            "--env",
            "prod",
            "--state",
            "base",
            "--dry-run",
        ],
        &[],
    );
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout
            .starts_with("kubernetes: my-deployer --label 'a b' 'c d' --flag '"),
        "{}",
        dry.stdout
    );
    // Shell syntax in `apply=` is refused, not passed on or run.
    set_options(&repo, "istio", r#"apply="kubectl apply -f - | tee log""#);
    let piped = apply(
        &repo,
        &shims,
        &["support-bot", "--env", "prod", "--state", "stable"],
        &[],
    );
    assert_eq!(piped.code, 2, "{}", piped.stderr);
    assert!(
        piped
            .stderr
            .contains("`apply=` of target `istio` cannot be run")
            && piped.stderr.contains("`|`"),
        "{}",
        piped.stderr
    );
}

/// `--dry-run` prints every action and runs nothing; a program missing from PATH
/// is an error before anything runs.
#[test]
fn a_dry_run_runs_nothing_and_missing_programs_stop_everything() {
    let example = Example::new();
    let shims = Shims::new(TOOLS);
    let run = apply(
        example.repo.path(),
        &shims,
        &[
            "support-bot",
            "--env",
            "prod",
            "--state",
            "step-10",
            "--dry-run",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 9, "{}", run.stdout);
    assert!(run.stdout.contains("nginx: nginx -t\n"), "{}", run.stdout);
    assert!(run.stderr.contains("nothing was run"), "{}", run.stderr);
    assert!(shims.log().is_empty(), "{:?}", shims.log());
    for (name, ext) in [("envoy", "yaml"), ("nginx", "conf"), ("litellm", "yaml")] {
        assert!(!example.installed(name, ext).exists());
    }
    // Without an `nginx` on PATH, nothing at all runs (not even kubectl for istio).
    let without = Shims::new(&["kubectl", "envoy", "reload-envoy", "reload-litellm"]);
    let run = apply(
        example.repo.path(),
        &without,
        &["support-bot", "--env", "prod", "--state", "step-10"],
        &[("PATH", without.dir.path().as_os_str())],
    );
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("`nginx` (target `nginx`) is not on PATH; nothing was applied"),
        "{}",
        run.stderr
    );
    assert!(without.log().is_empty(), "{:?}", without.log());
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

/// An unknown or missing state is refused (exit 2) with the states that exist.
#[test]
fn unknown_states_list_the_states_that_exist() {
    let example = Example::new();
    let shims = Shims::new(TOOLS);
    let listed = "states of `support-bot` in `prod`: base, stable, shadow, step-1, step-10, step-50, step-100, promoted";
    for state in ["canary", "step-5", "../../etc/passwd", "stable-base"] {
        let run = apply(
            example.repo.path(),
            &shims,
            &["support-bot", "--env", "prod", "--state", state],
            &[],
        );
        assert_eq!(run.code, 2, "{state}: {}", run.stderr);
        assert!(run.stderr.contains(listed), "{state}: {}", run.stderr);
    }
    let triage = apply(
        example.repo.path(),
        &shims,
        &["triage", "--env", "prod", "--state", "step-10"],
        &[],
    );
    assert_eq!(triage.code, 2, "{}", triage.stderr);
    assert!(
        triage
            .stderr
            .contains("states of `triage` in `prod`: base, stable, shadow, promoted"),
        "{}",
        triage.stderr
    );
    assert!(shims.log().is_empty(), "{:?}", shims.log());
}

/// Under Argo Rollouts, the bases apply the routes the controller manages first;
/// the traffic states are the controller's, so there is none to apply.
#[test]
fn under_argo_rollouts_the_bases_apply_the_managed_routes_first() {
    let repo = example_under("argo-rollouts");
    compile(repo.path());
    let shims = Shims::new(TOOLS);
    let base = apply(
        repo.path(),
        &shims,
        &["support-bot", "--env", "prod", "--state", "base"],
        &[],
    );
    assert_eq!(base.code, 0, "{}", base.stderr);
    let root = std::fs::canonicalize(repo.path()).unwrap();
    assert_eq!(
        shims.log(),
        [
            kubectl_line("generated/istio/prod/support-bot.yaml", "base", &root),
            kubectl_line("generated/kubernetes/prod/support-bot.yaml", "base", &root),
        ]
    );
    shims.clear();
    let bootstrap = apply(
        repo.path(),
        &shims,
        &["support-bot", "--env", "prod", "--state", "stable-base"],
        &[],
    );
    assert_eq!(bootstrap.code, 0, "{}", bootstrap.stderr);
    assert_eq!(
        shims.log(),
        [
            kubectl_line(
                "generated/istio/prod/support-bot.yaml",
                "stable-base",
                &root
            ),
            kubectl_line(
                "generated/kubernetes/prod/support-bot.stable.yaml",
                "stable-base",
                &root
            ),
        ]
    );
    shims.clear();
    let stable = apply(
        repo.path(),
        &shims,
        &["support-bot", "--env", "prod", "--state", "stable"],
        &[],
    );
    assert_eq!(stable.code, 2, "{}", stable.stderr);
    assert!(
        stable.stderr.contains(
            "no target of the project writes traffic states when Argo Rollouts moves traffic"
        ) && stable
            .stderr
            .contains("states of `support-bot` in `prod`: stable-base, base"),
        "{}",
        stable.stderr
    );
    assert!(shims.log().is_empty());
}

/// A failed reload puts the previous file back: what is on disk stays what runs.
#[test]
fn a_failed_reload_restores_the_previous_file() {
    let example = Example::new();
    let shims = Shims::new(TOOLS);
    shims.fail("reload-envoy", 3);
    let envoy = example.installed("envoy", "yaml");
    std::fs::write(&envoy, "# the running bootstrap\n").unwrap();
    let run = apply(
        example.repo.path(),
        &shims,
        &["support-bot", "--env", "prod", "--state", "promoted"],
        &[],
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("`reload-envoy --hot` failed (exit code 3); the previous")
            && run.stderr.contains("was put back"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&envoy).unwrap(),
        "# the running bootstrap\n"
    );
    assert!(!example.installed("nginx", "conf").exists());
}
