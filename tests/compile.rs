//! `modelops compile`: outputs validated against the published schemas of their
//! kinds, deterministic bytes, `--check`, atomic writes, scoping, and prompts full of
//! YAML-hostile text.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use modelops::source::MemorySource;
use serde_json::Value;
use support::{
    TempRepo, copy_example, example_repo, example_under, modelops_in, modelops_with, run_tool,
    test_cache, tree, vendor_schema,
};

fn documents(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml).expect("generated YAML parses")
}

/// Validates every document of every YAML file under `dir`; returns the kinds seen.
fn validate_tree(dir: &Path) -> Vec<String> {
    let mut kinds = Vec::new();
    for (path, bytes) in tree(dir) {
        // Kubernetes objects; envoy and litellm files are checked by their own tools.
        let kubernetes_objects = path.starts_with("kubernetes/") || path.starts_with("istio/");
        if !path.ends_with(".yaml") || !kubernetes_objects {
            continue;
        }
        let text = String::from_utf8(bytes).unwrap();
        for doc in documents(&text) {
            let api = doc["apiVersion"].as_str().unwrap_or_default().to_owned();
            let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
            kinds.push(kind.clone());
            match vendor_schema(&api, &kind) {
                Some(schema) => {
                    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
                    let errors: Vec<String> = validator
                        .iter_errors(&doc)
                        .map(|e| format!("{} at {}", e, e.instance_path()))
                        .collect();
                    assert!(errors.is_empty(), "{path}: {kind} is invalid:\n{errors:#?}");
                }
                // Flagger publishes no schema for MetricTemplate: check its shape.
                None if kind == "MetricTemplate" => {
                    assert_eq!(api, "flagger.app/v1beta1");
                    assert_eq!(doc["spec"]["provider"]["type"], "prometheus");
                    assert!(doc["spec"]["query"].as_str().is_some_and(|q| !q.is_empty()));
                }
                None => panic!("{path}: no schema for {api} {kind}"),
            }
        }
    }
    kinds
}

#[test]
fn every_manifest_validates_against_its_published_schema_in_every_flavor() {
    for (flavor, expected) in [
        (
            "argo-rollouts",
            &[
                "Rollout",
                "AnalysisTemplate",
                "ConfigMap",
                "Service",
                "VirtualService",
            ][..],
        ),
        (
            "flagger",
            &["Deployment", "Canary", "MetricTemplate", "ConfigMap"][..],
        ),
        ("deployment", &["Deployment", "ConfigMap", "Service"][..]),
    ] {
        let repo = example_under(flavor);
        let run = modelops_in(repo.path(), &["compile"]);
        assert_eq!(run.code, 0, "{flavor}: {}", run.stderr);
        let kinds = validate_tree(&repo.path().join("generated"));
        for kind in expected {
            assert!(
                kinds.iter().any(|k| k == kind),
                "{flavor}: no {kind} in {kinds:?}"
            );
        }
    }
}

#[test]
fn the_committed_example_output_is_current_and_valid() {
    let run = modelops_in(&example_repo(), &["compile", "--check"]);
    assert_eq!(
        run.code, 0,
        "generated/ is stale:\n{}{}",
        run.stdout, run.stderr
    );
    validate_tree(&example_repo().join("generated"));
}

#[test]
fn output_bytes_do_not_depend_on_where_or_when_compile_runs() {
    let (first, second) = (copy_example(), copy_example());
    for repo in [&first, &second] {
        let run = modelops_in(repo.path(), &["compile"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let (a, b) = (
        tree(&first.path().join("generated")),
        tree(&second.path().join("generated")),
    );
    assert!(!a.is_empty());
    assert_eq!(a, b);
    let again = modelops_in(first.path(), &["compile", "--out", "again"]);
    assert_eq!(again.code, 0);
    assert_eq!(tree(&first.path().join("again")), a);
    let text: String = a
        .values()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert!(
        !text.contains(&*first.path().to_string_lossy()),
        "no absolute paths in the output"
    );
}

#[test]
fn check_mode_writes_nothing_and_shows_a_diff() {
    let repo = copy_example();
    assert_eq!(modelops_in(repo.path(), &["compile"]).code, 0);
    assert_eq!(modelops_in(repo.path(), &["compile", "--check"]).code, 0);
    let file = repo
        .path()
        .join("generated/kubernetes/prod/support-bot.yaml");
    let original = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, original.replace("replicas: 6", "replicas: 2")).unwrap();
    std::fs::write(repo.path().join("generated/leftover.yaml"), "kind: Old\n").unwrap();
    let run = modelops_in(repo.path(), &["compile", "--check"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("-  replicas: 2\n+  replicas: 6"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("--- generated/leftover.yaml"),
        "{}",
        run.stdout
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        original.replace("replicas: 6", "replicas: 2")
    );
}

#[test]
fn a_failed_compile_leaves_the_output_untouched() {
    let repo = copy_example();
    assert_eq!(modelops_in(repo.path(), &["compile"]).code, 0);
    let before = tree(&repo.path().join("generated"));
    let model = repo.path().join("models/support-bot.kdl");
    let text = std::fs::read_to_string(&model).unwrap();
    std::fs::write(&model, text.replace("replicas 6", "replicas \"six\"")).unwrap();
    let run = modelops_in(repo.path(), &["compile"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);
    assert_eq!(tree(&repo.path().join("generated")), before);
}

#[test]
fn files_of_removed_deployments_disappear_and_filters_keep_the_rest() {
    let repo = copy_example();
    assert_eq!(modelops_in(repo.path(), &["compile"]).code, 0);
    let out = repo.path().join("generated");
    assert!(out.join("kubernetes/staging/triage.yaml").exists());
    // A compile of prod only keeps staging's files as they are.
    std::fs::write(out.join("kubernetes/staging/triage.yaml"), "edited: true\n").unwrap();
    assert_eq!(
        modelops_in(repo.path(), &["compile", "--env", "prod"]).code,
        0
    );
    assert_eq!(
        std::fs::read_to_string(out.join("kubernetes/staging/triage.yaml")).unwrap(),
        "edited: true\n"
    );
    // Removing a model removes its files on the next full compile.
    std::fs::remove_file(repo.path().join("models/triage.kdl")).unwrap();
    let lock = modelops_in(repo.path(), &["lock"]);
    assert_eq!(lock.code, 0, "{}", lock.stderr);
    let run = modelops_in(repo.path(), &["compile"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!out.join("kubernetes/staging/triage.yaml").exists());
    assert!(!out.join("kubernetes/prod/triage.yaml").exists());
    assert!(out.join("kubernetes/staging/support-bot.yaml").exists());
    let unknown = modelops_in(repo.path(), &["compile", "--env", "qa"]);
    assert_eq!(unknown.code, 2);
}

#[test]
fn a_compile_of_one_target_or_environment_leaves_the_others_as_they_are() {
    let repo = copy_example();
    assert_eq!(modelops_in(repo.path(), &["compile"]).code, 0);
    let out = repo.path().join("generated");
    let full = tree(&out);
    assert!(full.keys().any(|p| p.starts_with("github-actions/")));
    for args in [
        &["compile", "--target", "nginx"][..],
        &["compile", "--target", "kubernetes", "--env", "staging"],
        &["compile", "--target", "gitlab-ci"],
        &["compile", "--env", "prod"],
    ] {
        let run = modelops_in(repo.path(), args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("is up to date"),
            "{args:?}: {}",
            run.stderr
        );
        assert_eq!(tree(&out), full, "{args:?}");
    }
    // A change reaches only the files in scope, and the summary counts them.
    let model = repo.path().join("models/support-bot.kdl");
    let text = std::fs::read_to_string(&model).unwrap();
    std::fs::write(&model, text.replace("replicas 6", "replicas 5")).unwrap();
    let run = modelops_in(repo.path(), &["compile", "--target", "nginx"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("is up to date"),
        "replicas are not nginx's: {}",
        run.stderr
    );
    let run = modelops_in(repo.path(), &["compile", "--target", "kubernetes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(": 0 added, 1 changed, 0 removed ("),
        "{}",
        run.stderr
    );
    let after = tree(&out);
    let differing: Vec<&String> = after
        .keys()
        .filter(|path| after.get(*path) != full.get(*path))
        .collect();
    assert_eq!(differing, ["kubernetes/prod/support-bot.yaml"]);
    assert_eq!(after.len(), full.len());
}

#[test]
fn an_incremental_compile_leaves_what_a_fresh_one_writes() {
    let repo = copy_example();
    assert_eq!(modelops_in(repo.path(), &["compile"]).code, 0);
    let out = repo.path().join("generated");
    let untouched = out.join("kubernetes/staging/triage.yaml");
    let before = std::fs::read(&untouched).unwrap();
    // One change: the prod replicas of one model.
    let model = repo.path().join("models/support-bot.kdl");
    let text = std::fs::read_to_string(&model).unwrap();
    assert!(text.contains("replicas 6"));
    std::fs::write(&model, text.replace("replicas 6", "replicas 5")).unwrap();
    let run = modelops_in(repo.path(), &["compile"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let fresh = modelops_in(repo.path(), &["compile", "--out", "fresh"]);
    assert_eq!(fresh.code, 0, "{}", fresh.stderr);
    assert_eq!(tree(&out), tree(&repo.path().join("fresh")));
    assert_eq!(std::fs::read(&untouched).unwrap(), before);
    assert!(
        std::fs::read_to_string(out.join("kubernetes/prod/support-bot.yaml"))
            .unwrap()
            .contains("replicas: 5")
    );
    // Files carried over are not shared with anything left behind.
    assert_eq!(staging_left_in(repo.path()), 0);
    assert_eq!(modelops_in(repo.path(), &["compile", "--check"]).code, 0);
}

/// How many staging folders a compile left next to the output in `dir`.
fn staging_left_in(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".generated"))
        .count()
}

/// Deterministic fragments of text that YAML readers are known to trip over.
const HOSTILE: &[&str] = &[
    "---",
    "...",
    ": ",
    " #",
    "# comment",
    "'",
    "\"",
    "\\",
    "yes",
    "no",
    "on",
    "off",
    "~",
    "null",
    "12:30:00",
    "2024-01-01",
    "1_000",
    "0x1F",
    "&anchor",
    "*alias",
    "!tag",
    "%YAML 1.2",
    "? ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "|",
    ">",
    "  leading",
    "trailing  ",
    "\t",
    "\n",
    "\n\n",
    "\r\n",
    "${HOME}",
    "$\\{{ secrets.X }}",
    "\\{{escaped}}",
    "émoji 🚀",
    "日本語",
    "\u{200b}",
    "=",
    "<<",
    "key: value",
];

/// A small deterministic generator (xorshift) so failures are reproducible by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn hostile_prompt(seed: u64) -> String {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let pieces = 1 + (rng.next() % 24) as usize;
    let mut text = String::from("You are a careful assistant.");
    for _ in 0..pieces {
        let piece = HOSTILE[(rng.next() % HOSTILE.len() as u64) as usize];
        // Keep fragments from joining into template syntax: `\` + `\{{` is handlebars'
        // "literal backslash, then a live expression", and `{` + `{` opens one.
        if (text.ends_with('\\') || text.ends_with('{'))
            && (piece.starts_with('\\') || piece.starts_with('{'))
        {
            text.push(' ');
        }
        text.push_str(piece);
        if rng.next().is_multiple_of(3) {
            text.push(' ');
        }
    }
    text
}

fn memory_repo(prompt: &str) -> MemorySource {
    MemorySource::new()
        .with_file(
            "modelops.kdl",
            "project \"t\"\nenvironment \"prod\" namespace=\"llm-prod\"\ntarget \"kubernetes\" flavor=\"argo-rollouts\"\n",
        )
        .with_file(
            "models/assistant.kdl",
            "model \"assistant\" {\n    release \"1.0.0\" {\n        base \"openai/gpt-4o-2024-08-06\"\n        image \"ghcr.io/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"\n        prompt \"assistant\" version=1\n    }\n    deploy \"prod\" {\n        stable \"1.0.0\"\n    }\n}\n",
        )
        .with_file("prompts/assistant/v1.md", prompt)
}

#[test]
fn prompts_full_of_yaml_hostile_text_come_back_verbatim() {
    let options = modelops::check::Options::from_environment();
    for seed in 1..=300u64 {
        let template = hostile_prompt(seed);
        // `\{{` is handlebars' escape for a literal `{{`; nothing else is interpreted,
        // and prompts are read with LF line endings.
        let expected = template.replace("\\{{", "{{").replace("\r\n", "\n");
        let source = memory_repo(&template);
        let checked = modelops::check::check(&source, &options).expect("loads");
        assert!(
            !checked.has_errors(),
            "seed {seed}: {:?}",
            checked.diagnostics
        );
        let cx = modelops::target::Context::of(&checked).expect("context");
        let (files, _) = modelops::target::emit(&cx, Some("kubernetes"), None);
        let yaml =
            String::from_utf8(files.files["kubernetes/prod/assistant.yaml"].clone()).unwrap();
        let docs = documents(&yaml);
        let kinds: Vec<&str> = docs
            .iter()
            .map(|d| d["kind"].as_str().unwrap_or("?"))
            .collect();
        assert_eq!(
            kinds,
            ["Service", "ConfigMap", "Service", "Service", "Rollout"],
            "seed {seed}: extra or missing objects\n{yaml}"
        );
        assert_eq!(
            docs[1]["data"]["system-prompt.txt"].as_str(),
            Some(expected.as_str()),
            "seed {seed}: the prompt did not survive\n{yaml}"
        );
    }
}

#[test]
fn plan_json_summarises_every_deployment() {
    let plan: Value =
        serde_json::from_slice(&std::fs::read(example_repo().join("generated/plan.json")).unwrap())
            .unwrap();
    let deployments = plan["deployments"].as_array().unwrap();
    assert_eq!(deployments.len(), 4);
    let prod = deployments
        .iter()
        .find(|d| d["model"] == "support-bot" && d["environment"] == "prod")
        .unwrap();
    assert_eq!(prod["strategy"], "canary");
    let stages: Vec<&str> = prod["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        [
            "smoke", "gate", "shadow", "step", "step", "step", "step", "promoted"
        ]
    );
    assert!(
        prod["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "datasets/support-golden.jsonl")
    );
    let tracks: BTreeMap<String, String> = prod["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["track"].as_str().unwrap().to_owned(),
                t["release"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(tracks["stable"], "1.4.2");
    assert_eq!(tracks["canary"], "1.5.0");
    let _ = TempRepo::new;
}

#[test]
fn a_stage_the_controller_cannot_run_is_refused_not_changed() {
    let repo = example_under("argo-rollouts");
    let path = repo.path().join("modelops.kdl");
    let text = std::fs::read_to_string(&path).unwrap();
    // Without the istio target, Argo Rollouts cannot mirror the canary's shadow stage.
    std::fs::write(&path, text.replace("target \"istio\"\n", "")).unwrap();
    let run = modelops_in(repo.path(), &["compile"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("MO906"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("Argo Rollouts mirrors traffic only through a traffic router"),
        "{}",
        run.stderr
    );
    assert!(!repo.path().join("generated").exists());
    // `check` judges the same: the finding is a rule, not an emitter's afterthought.
    let check = modelops_in(repo.path(), &["check"]);
    assert_eq!(check.code, 1, "{}", check.stderr);
    assert!(check.stderr.contains("MO906"), "{}", check.stderr);
}

#[test]
fn without_a_shadow_argo_runs_a_replica_weighted_canary() {
    let repo = example_under("argo-rollouts");
    let path = repo.path().join("modelops.kdl");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("target \"istio\"\n", "")).unwrap();
    let model = repo.path().join("models/support-bot.kdl");
    let text = std::fs::read_to_string(&model).unwrap();
    let text: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("shadow "))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&model, text).unwrap();
    let run = modelops_in(repo.path(), &["compile"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rollout = std::fs::read_to_string(
        repo.path()
            .join("generated/kubernetes/prod/support-bot.yaml"),
    )
    .unwrap();
    assert!(!rollout.contains("setMirrorRoute"), "{rollout}");
    assert!(
        !rollout.contains("trafficRouting"),
        "replica-based canary without a router:\n{rollout}"
    );
}

#[test]
fn custom_targets_are_generated_beside_the_others() {
    // User templates (`target "custom"`) render with the plan's data; without
    // `output=` the file is named after the template (tests/custom_target.rs has more).
    let repo = copy_example();
    std::fs::create_dir_all(repo.path().join("templates")).unwrap();
    std::fs::write(
        repo.path().join("templates/summary.hbs"),
        "{{project}}:{{#each deployments}} {{model}}@{{environment}}{{/each}}\n",
    )
    .unwrap();
    let path = repo.path().join("modelops.kdl");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        format!("{text}target \"custom\" template=\"templates/summary.hbs\"\n"),
    )
    .unwrap();
    let run = modelops_in(repo.path(), &["compile"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("MO902"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(repo.path().join("generated/custom/summary")).unwrap(),
        "acme-assistants: support-bot@prod triage@prod support-bot@staging triage@staging\n"
    );
    assert!(repo.path().join("generated/plan.json").is_file());
}

#[test]
fn custom_guard_queries_render_every_documented_variable() {
    let dir = example_under("argo-rollouts");
    let model = dir.path().join("models/support-bot.kdl");
    let text = std::fs::read_to_string(&model).unwrap();
    let edited = text.replace(
        r#"app=\"{{model}}\"}[5m])) or on()"#,
        r#"app=\"{{model}}\",track=\"{{track}}\",ns=\"{{namespace}}\",release=\"{{release}}\"}[5m])) or on()"#,
    );
    assert_ne!(edited, text, "the example's custom query moved");
    std::fs::write(&model, edited).unwrap();
    let run = modelops_in(
        dir.path(),
        &["compile", "--target", "kubernetes", "--env", "prod"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let manifest = std::fs::read_to_string(
        dir.path()
            .join("generated/kubernetes/prod/support-bot.yaml"),
    )
    .unwrap();
    assert!(
        manifest.contains(r#"app="support-bot",track="canary",ns="llm-prod",release="1.5.0""#),
        "{manifest}"
    );
    assert!(!manifest.contains("{{"), "{manifest}");
}

/// The index file of `generated/` in `repo`, in the tests' output cache.
fn output_index_file(repo: &Path) -> std::path::PathBuf {
    let out = std::fs::canonicalize(repo).unwrap().join("generated");
    modelops::output::index::index_path(&test_cache(), &out)
}

/// The output index of the cache folder, as the last run left it.
fn output_index(repo: &Path) -> Option<modelops::output::index::Loaded> {
    modelops::output::index::load(&output_index_file(repo))
}

#[test]
fn the_output_index_never_hides_a_change() {
    let repo = copy_example();
    let out = repo.path().join("generated");
    assert_eq!(modelops_in(repo.path(), &["compile"]).code, 0);
    // Records as new as the index are read again, and the index is then rewritten;
    // wait out the clock's granularity so that the records become trusted.
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(modelops_in(repo.path(), &["compile", "--check"]).code, 0);
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(modelops_in(repo.path(), &["compile", "--check"]).code, 0);
    let old = modelops::output::OldTree::open_with(&out, output_index(repo.path())).unwrap();
    assert!(old.listed_from_index(), "the folders are unchanged");
    assert_eq!(
        old.vouched(),
        old.paths().count(),
        "every file is vouched for"
    );

    // A file edited in place, to the same size: its change time moves.
    let file = out.join("kubernetes/prod/support-bot.yaml");
    let original = std::fs::read_to_string(&file).unwrap();
    let edited = original.replace("replicas: 6", "replicas: 7");
    assert_eq!(edited.len(), original.len());
    std::fs::write(&file, &edited).unwrap();
    let run = modelops_in(repo.path(), &["compile", "--check"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("-  replicas: 7\n+  replicas: 6"),
        "{}",
        run.stdout
    );
    std::fs::write(&file, &original).unwrap();
    assert_eq!(modelops_in(repo.path(), &["compile", "--check"]).code, 0);

    // A file added to a folder: the folder's times move.
    let stray = out.join("kubernetes/prod/stray.yaml");
    std::fs::write(&stray, "kind: Stray\n").unwrap();
    let run = modelops_in(repo.path(), &["compile", "--check"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("stray.yaml"), "{}", run.stdout);
    std::fs::remove_file(&stray).unwrap();
    assert_eq!(modelops_in(repo.path(), &["compile", "--check"]).code, 0);

    // A damaged index is no index: the folder is listed and read again.
    let index = output_index_file(repo.path());
    let mut bytes = std::fs::read(&index).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&index, &bytes).unwrap();
    assert!(output_index(repo.path()).is_none());
    std::fs::write(&file, &edited).unwrap();
    assert_eq!(modelops_in(repo.path(), &["compile", "--check"]).code, 1);
    std::fs::write(&file, &original).unwrap();
    assert_eq!(modelops_in(repo.path(), &["compile", "--check"]).code, 0);

    // A compile that writes leaves an index of what it wrote.
    std::fs::write(&file, &edited).unwrap();
    assert_eq!(modelops_in(repo.path(), &["compile"]).code, 0);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), original);
    let written = output_index(repo.path()).expect("an index after writing");
    assert_eq!(written.index.files.len(), old.paths().count());
}

#[test]
fn a_writing_compile_brings_the_retired_tree_up_to_date_and_swaps_it_in() {
    let repo = copy_example();
    let out = repo.path().join("generated");
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path().join("cache");
    let with_cache = [("MODELOPS_CACHE_DIR", cache.as_os_str())];
    let spare = modelops::output::next::SparePaths::new(
        &cache,
        &std::fs::canonicalize(repo.path())
            .unwrap()
            .join("generated"),
    );
    let model = repo.path().join("models/support-bot.kdl");
    let text = std::fs::read_to_string(&model).unwrap();
    let fresh = |name: &str| {
        let run = modelops_in(repo.path(), &["compile", "--out", name]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        tree(&repo.path().join(name))
    };
    assert_eq!(
        modelops_with(repo.path(), &["compile"], &with_cache).code,
        0
    );
    assert!(!spare.dir.exists(), "a first compile has nothing to retire");
    // Each compile retires the tree it replaces as the spare; the next one brings
    // the spare up to date (some files changed twice, some back to what the spare
    // holds) and leaves exactly what a compile into an empty folder leaves.
    for (round, replicas) in ["5", "4", "6", "4"].into_iter().enumerate() {
        std::fs::write(
            &model,
            text.replace("replicas 6", &format!("replicas {replicas}")),
        )
        .unwrap();
        let run = modelops_with(repo.path(), &["compile"], &with_cache);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            spare.dir.is_dir(),
            "round {round}: the retired tree is the spare"
        );
        assert_eq!(
            tree(&out),
            fresh(&format!("fresh-{round}")),
            "round {round}"
        );
        assert_eq!(
            modelops_with(repo.path(), &["compile", "--check"], &with_cache).code,
            0
        );
    }

    // Another compile holding the spare: this one builds a fresh folder instead.
    let lock = std::fs::File::options()
        .write(true)
        .open(&spare.lock)
        .unwrap();
    lock.try_lock().unwrap();
    std::fs::write(&model, text.replace("replicas 6", "replicas 3")).unwrap();
    let run = modelops_with(repo.path(), &["compile"], &with_cache);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(tree(&out), fresh("fresh-locked"));
    drop(lock);

    // Without a cache there is no spare, and nothing is left behind.
    std::fs::remove_dir_all(&cache).unwrap();
    std::fs::write(&model, &text).unwrap();
    let without_cache = |args: &[&str]| {
        let modelops = Path::new(env!("CARGO_BIN_EXE_modelops"));
        run_tool(
            repo.path(),
            modelops,
            args,
            &[("MODELOPS_NO_CACHE", Path::new("1"))],
        )
    };
    let run = without_cache(&["compile"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!cache.exists());
    let run = without_cache(&["compile", "--check"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(staging_left_in(repo.path()), 0);
}
