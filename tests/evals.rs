//! The eval gate scores configurations, before anything is deployed:
//! `modelops inspect MODEL --env ENV --track stable|candidate --out DIR` writes the
//! files each track's pods would read (the ConfigMap's bytes), the example's
//! `evals/run.py` asks the release's base model with them and has the judge grade
//! each answer, and `modelops gate` decides. The provider here is a local stub of
//! the OpenAI chat-completions API, so no test touches the network.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use support::{Run, copy_example, example_repo, external_tool, modelops_in};

const FILES: [&str; 3] = ["params.json", "release.json", "system-prompt.txt"];

/// One request the stub answered.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    authorization: Option<String>,
    body: Value,
}

/// What the stub answers: each track's model replies naming the track whose system
/// prompt it was given; the judge replies the score of the track it finds in the
/// answer it grades.
#[derive(Default)]
struct Script {
    /// Track name by the system prompt that track's pods get.
    prompts: BTreeMap<String, String>,
    /// The judge's reply by track name.
    verdicts: BTreeMap<String, String>,
}

impl Script {
    fn reply(&self, body: &Value) -> String {
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        let text = |role: &str| {
            messages
                .iter()
                .find(|m| m["role"] == role)
                .and_then(|m| m["content"].as_str())
                .unwrap_or_default()
                .to_owned()
        };
        if let Some(track) = self.prompts.get(&text("system")) {
            return format!("[{track}] an answer to: {}", text("user"));
        }
        let graded = text("user");
        self.verdicts
            .iter()
            .find(|(track, _)| graded.contains(&format!("[{track}]")))
            .map(|(_, verdict)| verdict.clone())
            .unwrap_or_else(|| "I cannot tell.".into())
    }
}

/// A chat-completions API on a local port, recording what it is asked.
struct Stub {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<Script>>,
}

impl Stub {
    fn start() -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/v1", listener.local_addr().expect("address"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(Script::default()));
        let (log, answers) = (Arc::clone(&seen), Arc::clone(&script));
        // Serves until the test process ends; one request per connection.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = serve(stream, &log, &answers);
            }
        });
        Stub { url, seen, script }
    }

    fn taken(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

fn serve(stream: TcpStream, log: &Mutex<Vec<Seen>>, script: &Mutex<Script>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let (mut length, mut authorization) = (0, None);
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "authorization" => authorization = Some(value.trim().to_owned()),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let content = script.lock().unwrap().reply(&body);
    log.lock().unwrap().push(Seen {
        path,
        authorization,
        body,
    });
    let reply = json!({
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"content": content}}],
    })
    .to_string();
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    )?;
    stream.flush()
}

/// The example repository with its evaluator, in a temporary folder.
fn example_with_evaluator() -> tempfile::TempDir {
    let dir = copy_example();
    std::fs::create_dir_all(dir.path().join("evals")).unwrap();
    std::fs::copy(
        example_repo().join("evals/run.py"),
        dir.path().join("evals/run.py"),
    )
    .unwrap();
    dir
}

fn release_dir(track: &str) -> String {
    format!(".modelops/gate/{track}")
}

/// `modelops inspect MODEL --env ENV --track TRACK --out .modelops/gate/TRACK`.
fn inspect_track(repo: &Path, model: &str, env: &str, track: &str) -> Run {
    modelops_in(
        repo,
        &[
            "inspect",
            model,
            "--env",
            env,
            "--track",
            track,
            "--out",
            &release_dir(track),
        ],
    )
}

fn read(repo: &Path, path: &str) -> String {
    std::fs::read_to_string(repo.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn read_json(repo: &Path, path: &str) -> Value {
    serde_json::from_str(&read(repo, path)).unwrap()
}

/// The gate's placeholders as the pipelines replace them: quoted variables, so no
/// value is pasted into the script.
fn render_placeholders(command: &str) -> String {
    [
        ("scores", "MODELOPS_SCORES"),
        ("dataset", "MODELOPS_DATASET"),
        ("judge", "MODELOPS_JUDGE"),
        ("release_dir", "MODELOPS_RELEASE_DIR"),
        ("prompt", "MODELOPS_PROMPT_FILE"),
        ("params", "MODELOPS_PARAMS_FILE"),
        ("base", "MODELOPS_BASE_MODEL"),
        ("track", "MODELOPS_TRACK"),
    ]
    .iter()
    .fold(command.to_owned(), |command, (name, variable)| {
        command.replace(&format!("{{{{{name}}}}}"), &format!("\"${variable}\""))
    })
}

/// A deployment's gate, as the pipeline job reads it.
struct Gate {
    run: String,
    dataset: String,
    judge: String,
}

fn gate(repo: &Path, model: &str, env: &str, name: &str) -> Gate {
    let inspect = modelops_in(repo, &["inspect", "--env", env]);
    assert_eq!(inspect.code, 0, "{}", inspect.stderr);
    let document: Value = serde_json::from_str(&inspect.stdout).unwrap();
    let gate = &document["model"][model]["deploy"][env]["gate"][name];
    let text = |field: &str| {
        let value = &gate[field];
        value
            .as_str()
            .or_else(|| value["path"].as_str())
            .unwrap_or_else(|| panic!("gate {name}: no {field} in {gate}"))
            .to_owned()
    };
    Gate {
        run: text("run"),
        dataset: text("dataset"),
        judge: text("judge"),
    }
}

/// Runs the gate's command for one track as the pull-request job does: through
/// `sh -c "$MODELOPS_GATE_COMMAND"`, with the track's files and the gate's values in
/// the environment.
fn run_gate_command(repo: &Path, gate: &Gate, track: &str, provider: &str) -> Run {
    let dir = release_dir(track);
    let release = read_json(repo, &format!("{dir}/release.json"));
    let base = release["base"]["id"].as_str().unwrap().to_owned();
    let mut command = Command::new("sh");
    command
        .args(["-c", "sh -c \"$MODELOPS_GATE_COMMAND\""])
        .current_dir(repo)
        .env("MODELOPS_GATE_COMMAND", render_placeholders(&gate.run))
        .env("MODELOPS_TRACK", track)
        .env("MODELOPS_PROMPT_FILE", format!("{dir}/system-prompt.txt"))
        .env("MODELOPS_PARAMS_FILE", format!("{dir}/params.json"))
        .env("MODELOPS_RELEASE_FILE", format!("{dir}/release.json"))
        .env("MODELOPS_RELEASE_DIR", &dir)
        .env("MODELOPS_BASE_MODEL", base)
        .env("MODELOPS_DATASET", &gate.dataset)
        .env("MODELOPS_JUDGE", &gate.judge)
        .env("MODELOPS_SCORES", format!("{track}.jsonl"))
        .env("MODELOPS_PROVIDER_URL", provider)
        .env("OPENAI_API_KEY", "test-key")
        .env("MODELOPS_EVAL_TIMEOUT", "10");
    without_proxies(&mut command);
    command.output().expect("run sh").into()
}

/// The stub is on this machine: no proxy a developer's shell names may stand between.
fn without_proxies(command: &mut Command) {
    for name in ["http_proxy", "https_proxy", "all_proxy"] {
        command
            .env_remove(name)
            .env_remove(name.to_ascii_uppercase());
    }
    command.env("no_proxy", "*").env("NO_PROXY", "*");
}

fn tools() -> Option<(PathBuf, PathBuf)> {
    Some((external_tool("python3")?, external_tool("sh")?))
}

/// The whole gate on the example's prod support-bot: both tracks' files match the
/// ConfigMaps `compile` writes, the provider is asked with each track's model,
/// prompt and params, and `modelops gate` passes when the candidate scores better
/// and fails when it scores worse.
#[test]
fn the_eval_gate_scores_both_tracks_before_deploy() {
    if tools().is_none() {
        return;
    }
    let dir = example_with_evaluator();
    let repo = dir.path();
    for track in ["stable", "candidate"] {
        let run = inspect_track(repo, "support-bot", "prod", track);
        assert_eq!(run.code, 0, "{track}: {}", run.stderr);
        assert_eq!(run.stdout, "", "inspect --out prints nothing on stdout");
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        let mut written: Vec<String> = std::fs::read_dir(repo.join(release_dir(track)))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        written.sort();
        assert_eq!(written, FILES);
    }
    let stable_release = read_json(repo, ".modelops/gate/stable/release.json");
    let candidate_release = read_json(repo, ".modelops/gate/candidate/release.json");
    assert_eq!(stable_release["release"], "1.4.2");
    assert_eq!(candidate_release["release"], "1.5.0");
    assert_eq!(candidate_release["environment"], "prod");

    // The files are the bytes of the ConfigMaps the pods mount.
    let compile = modelops_in(repo, &["compile", "--target", "kubernetes"]);
    assert_eq!(compile.code, 0, "{}", compile.stderr);
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(&read(repo, "generated/kubernetes/prod/support-bot.yaml"))
            .unwrap();
    for track in ["stable", "candidate"] {
        let files: BTreeMap<&str, String> = FILES
            .iter()
            .map(|name| (*name, read(repo, &format!("{}/{name}", release_dir(track)))))
            .collect();
        let expected = serde_json::to_value(&files).unwrap();
        assert!(
            documents
                .iter()
                .any(|d| d["kind"] == "ConfigMap" && d["data"] == expected),
            "{track}: no ConfigMap holds {expected}"
        );
    }

    let gate = gate(repo, "support-bot", "prod", "eval");
    assert!(
        !gate.run.contains("{{endpoint}}"),
        "no endpoint exists before deploy: {}",
        gate.run
    );
    let stub = Stub::start();
    let prompts: BTreeMap<String, String> = ["stable", "candidate"]
        .iter()
        .map(|track| {
            let prompt = read(repo, &format!("{}/system-prompt.txt", release_dir(track)));
            (prompt, (*track).to_owned())
        })
        .collect();
    assert_eq!(prompts.len(), 2, "the tracks' prompts differ");
    *stub.script.lock().unwrap() = Script {
        prompts,
        verdicts: BTreeMap::from([
            ("stable".into(), "0.8".into()),
            ("candidate".into(), "Score: 9/10".into()),
        ]),
    };

    let items: Vec<Value> = read(repo, &gate.dataset)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    for track in ["stable", "candidate"] {
        let run = run_gate_command(repo, &gate, track, &stub.url);
        assert_eq!(run.code, 0, "{track}: {}{}", run.stdout, run.stderr);
        let seen = stub.taken();
        assert_eq!(seen.len(), 2 * items.len(), "{seen:#?}");
        let dir = release_dir(track);
        let release = read_json(repo, &format!("{dir}/release.json"));
        let params = read_json(repo, &format!("{dir}/params.json"));
        let prompt = read(repo, &format!("{dir}/system-prompt.txt"));
        let base = release["base"]["id"].as_str().unwrap();
        let judge = gate.judge.split_once('/').unwrap().1;
        for (item, pair) in items.iter().zip(seen.chunks(2)) {
            let (asked, graded) = (&pair[0], &pair[1]);
            for request in pair {
                assert_eq!(request.path, "/v1/chat/completions");
                assert_eq!(request.authorization.as_deref(), Some("Bearer test-key"));
            }
            // The release's base model, without its provider, with the release's
            // system prompt and params under their OpenAI names.
            assert_eq!(asked.body["model"], base.split_once('/').unwrap().1);
            assert_eq!(asked.body["messages"][0]["role"], "system");
            assert_eq!(asked.body["messages"][0]["content"], prompt.as_str());
            assert_eq!(asked.body["messages"][1]["role"], "user");
            assert_eq!(asked.body["messages"][1]["content"], item["input"]);
            for (name, value) in params.as_object().unwrap() {
                assert_eq!(
                    &asked.body[name.replace('-', "_")],
                    value,
                    "{track}: {name}"
                );
            }
            // The judge sees the expectation and the answer.
            assert_eq!(graded.body["model"], judge);
            assert_eq!(graded.body["temperature"], 0);
            let question = graded.body["messages"][1]["content"].as_str().unwrap();
            assert!(question.contains(item["expected"].as_str().unwrap()));
            assert!(question.contains(&format!("[{track}] an answer to:")));
        }
        let scores: Vec<Value> = read(repo, &format!("{track}.jsonl"))
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let expected = if track == "stable" { 0.8 } else { 0.9 };
        let wanted: Vec<Value> = items
            .iter()
            .map(|item| json!({"id": item["id"], "score": expected}))
            .collect();
        assert_eq!(scores, wanted, "{track}");
    }
    // The example's stable and candidate differ in model, prompt and params.
    assert_ne!(stable_release["base"], candidate_release["base"]);
    assert_ne!(
        read(repo, ".modelops/gate/stable/params.json"),
        read(repo, ".modelops/gate/candidate/params.json")
    );

    let decide = || {
        modelops_in(
            repo,
            &[
                "gate",
                "support-bot",
                "--env",
                "prod",
                "--gate",
                "eval",
                "--baseline",
                "stable.jsonl",
                "--candidate",
                "candidate.jsonl",
            ],
        )
    };
    let passed = decide();
    assert_eq!(passed.code, 0, "{}{}", passed.stdout, passed.stderr);

    // The judge now prefers the stable answers: the candidate regresses.
    stub.script
        .lock()
        .unwrap()
        .verdicts
        .insert("candidate".into(), "0.5".into());
    let run = run_gate_command(repo, &gate, "candidate", &stub.url);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let failed = decide();
    assert_eq!(failed.code, 1, "{}{}", failed.stdout, failed.stderr);
}

/// A blue-green candidate is the candidate too; the placeholders of the new contract
/// reach the command as quoted variables.
#[test]
fn a_blue_green_preview_is_the_candidate() {
    let dir = copy_example();
    let run = inspect_track(dir.path(), "triage", "prod", "candidate");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let release = read_json(dir.path(), ".modelops/gate/candidate/release.json");
    assert_eq!(release["release"], "2.1.0");
    assert_eq!(
        release["base"]["id"],
        "anthropic/claude-3-7-sonnet-20250219"
    );
    assert_eq!(
        render_placeholders("x --in {{release_dir}} --out {{scores}}"),
        "x --in \"$MODELOPS_RELEASE_DIR\" --out \"$MODELOPS_SCORES\""
    );
}

/// What `inspect --out` refuses: a deployment without a candidate, unknown names
/// (exit 2, with what exists) and a repository with errors (exit 1, its
/// diagnostics).
#[test]
fn inspect_out_refuses_what_it_cannot_write() {
    let dir = copy_example();
    let repo = dir.path();
    let run = inspect_track(repo, "support-bot", "staging", "candidate");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("has no candidate"), "{}", run.stderr);
    assert!(run.stderr.contains("--track stable"), "{}", run.stderr);
    assert!(!repo.join(".modelops").exists(), "nothing is written");

    let run = inspect_track(repo, "support-bot", "staging", "stable");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let release = read_json(repo, ".modelops/gate/stable/release.json");
    assert_eq!(release["release"], "1.5.0");

    let run = inspect_track(repo, "nope", "prod", "stable");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("support-bot, triage"), "{}", run.stderr);
    let run = inspect_track(repo, "support-bot", "qa", "stable");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("no environment `qa`"), "{}", run.stderr);
    // --out needs the model, the environment and the track.
    let run = modelops_in(repo, &["inspect", "support-bot", "--out", "x"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = modelops_in(repo, &["inspect", "support-bot"]);
    assert_eq!(run.code, 2, "{}", run.stderr);

    let model = repo.join("models/support-bot.kdl");
    let text = std::fs::read_to_string(&model).unwrap();
    std::fs::write(&model, text.replace("canary \"1.5.0\"", "canary \"9.9.9\"")).unwrap();
    let run = inspect_track(repo, "support-bot", "prod", "stable");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("9.9.9"), "{}", run.stderr);
}

/// The evaluator fails clearly, and writes no scores, when it cannot score (a
/// missing key, a broken dataset); a judge reply without a number scores 0.
#[test]
fn the_evaluator_fails_clearly() {
    let Some((python, _)) = tools() else {
        return;
    };
    let dir = example_with_evaluator();
    let repo = dir.path();
    let run = inspect_track(repo, "support-bot", "prod", "stable");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let evaluate = |env: &[(&str, &str)]| -> Run {
        let mut command = Command::new(&python);
        command
            .args([
                "evals/run.py",
                "--release-dir",
                ".modelops/gate/stable",
                "--dataset",
                "datasets/support-golden.jsonl",
                "--judge",
                "openai/gpt-4o-2024-08-06",
                "--out",
                "scores.jsonl",
            ])
            .current_dir(repo)
            .env_remove("OPENAI_API_KEY")
            .env_remove("MODELOPS_PROVIDER_URL")
            .env("MODELOPS_EVAL_TIMEOUT", "5");
        without_proxies(&mut command);
        for (key, value) in env {
            command.env(key, value);
        }
        command.output().expect("run python3").into()
    };

    let run = evaluate(&[]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("OPENAI_API_KEY is not set"),
        "{}",
        run.stderr
    );
    assert!(!repo.join("scores.jsonl").exists());

    let stub = Stub::start();
    let prompt = read(repo, ".modelops/gate/stable/system-prompt.txt");
    *stub.script.lock().unwrap() = Script {
        prompts: BTreeMap::from([(prompt, "stable".into())]),
        verdicts: BTreeMap::from([("stable".into(), "no idea, sorry".into())]),
    };
    let run = evaluate(&[
        ("OPENAI_API_KEY", "test-key"),
        ("MODELOPS_PROVIDER_URL", &stub.url),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let scores = read(repo, "scores.jsonl");
    assert!(
        scores.lines().all(|line| line.ends_with("\"score\": 0.0}")),
        "{scores}"
    );
    std::fs::remove_file(repo.join("scores.jsonl")).unwrap();

    let dataset = repo.join("datasets/broken.jsonl");
    std::fs::write(&dataset, "{\"id\": \"a\", \"input\": \"hi\"}\n").unwrap();
    let mut run_broken = Command::new(&python);
    run_broken
        .args(["evals/run.py", "--release-dir", ".modelops/gate/stable"])
        .current_dir(repo)
        .env("MODELOPS_DATASET", "datasets/broken.jsonl")
        .env("MODELOPS_JUDGE", "openai/gpt-4o-2024-08-06")
        .env("MODELOPS_SCORES", "scores.jsonl")
        .env("OPENAI_API_KEY", "test-key")
        .env("MODELOPS_PROVIDER_URL", &stub.url);
    let run: Run = run_broken.output().unwrap().into();
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("line 1"), "{}", run.stderr);
    assert!(!repo.join("scores.jsonl").exists());
}
