//! The reference serving container (`serving/`) against the serving contract
//! (docs/serving.md), on what modelops really renders: the example's `support-bot`
//! canary in `prod`, its ConfigMap written out as the pod would see
//! `/etc/modelops/`, and the container's env as its Deployment sets it.
//!
//! `serving/entrypoint.py --config-only` needs only `python3`. The live test runs
//! the real LiteLLM proxy with the config it writes, in front of a stub
//! OpenAI-compatible upstream on loopback: it needs a `python3` on PATH with LiteLLM
//! and its proxy server's dependencies (CI installs them; see .ci/run). Without them
//! the tests say so and pass, except in CI where they fail.

mod support;

use support::net::free_port;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{copy_example, example_repo, external_tool, modelops_in};

/// The model, release and base model of the example's `prod` canary.
const MODEL: &str = "support-bot";
const RELEASE: &str = "1.5.0";
const BASE: &str = "openai/gpt-4o-2024-08-06";

/// The vendor key the tests hand the container: not a credential, only a value to
/// recognise upstream.
const VENDOR_KEY: &str = "test-vendor-key";

/// The placeholder the LiteLLM gateway target sends (src/target/litellm.rs,
/// `IN_CLUSTER_API_KEY`).
const GATEWAY_KEY: &str = "modelops-in-cluster";

/// What a track's pods get: the ConfigMap's files in a folder standing for
/// `/etc/modelops/`, and the container's plain env.
struct Pod {
    config_dir: tempfile::TempDir,
    files: BTreeMap<String, String>,
    env: Vec<(String, String)>,
}

impl Pod {
    fn file(&self, name: &str) -> &str {
        self.files.get(name).map(String::as_str).unwrap_or_default()
    }
}

/// Compiles a copy of the example and returns the `prod` canary pod of
/// `support-bot`: the ConfigMap its Deployment mounts, and its env.
fn canary_pod() -> Pod {
    let repo = copy_example();
    let run = modelops_in(
        repo.path(),
        &["compile", "--target", "kubernetes", "--env", "prod"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(
        repo.path()
            .join("generated/kubernetes/prod/support-bot.yaml"),
    )
    .expect("the prod manifests of support-bot");
    let documents: Vec<Value> = serde_saphyr::from_multiple(&text).expect("generated YAML parses");
    let deployment = documents
        .iter()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == "support-bot-canary")
        .expect("the canary's Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["ports"][0]["containerPort"], 8080);
    assert_eq!(container["ports"][0]["name"], "http");
    let mount = &container["volumeMounts"][0];
    assert_eq!(mount["mountPath"], "/etc/modelops");
    let volume = pod["volumes"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["name"] == mount["name"]))
        .expect("the mounted volume");
    let config_map = documents
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == volume["configMap"]["name"])
        .expect("the mounted ConfigMap");
    let files: BTreeMap<String, String> = config_map["data"]
        .as_object()
        .expect("ConfigMap data")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, ["params.json", "release.json", "system-prompt.txt"]);
    let config_dir = tempfile::tempdir().expect("temp dir");
    for (name, contents) in &files {
        std::fs::write(config_dir.path().join(name), contents).expect("write");
    }
    // The plain env; the secrets (`valueFrom`) are the test's to give.
    let env = container["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_owned(),
                e["value"].as_str()?.to_owned(),
            ))
        })
        .collect();
    Pod {
        config_dir,
        files,
        env,
    }
}

fn entrypoint() -> PathBuf {
    example_repo().join("serving/entrypoint.py")
}

/// `python3 serving/entrypoint.py ARGS` with the pod's env (its config dir the test's
/// folder) plus `extra`, and nothing of the caller's MODELOPS_* or vendor keys.
fn entrypoint_command(python: &Path, pod: &Pod, args: &[&str], extra: &[(&str, &str)]) -> Command {
    let mut command = Command::new(python);
    command.arg(entrypoint()).args(args);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("MODELOPS_")
            || key.ends_with("_API_KEY")
            || key == "HF_TOKEN"
            || key == "LITELLM_MASTER_KEY"
        {
            command.env_remove(key.as_ref());
        }
    }
    for (key, value) in &pod.env {
        command.env(key, value);
    }
    command.env("MODELOPS_CONFIG_DIR", pod.config_dir.path());
    // LiteLLM imports serving/modelops_callbacks.py: no __pycache__ in the checkout.
    command.env("PYTHONDONTWRITEBYTECODE", "1");
    for (key, value) in extra {
        command.env(key, value);
    }
    command
}

/// The LiteLLM config the entrypoint writes for `pod` with `extra` env, or its exit
/// code and stderr when it refuses.
fn generated_config(
    python: &Path,
    pod: &Pod,
    extra: &[(&str, &str)],
) -> Result<Value, (i32, String)> {
    let out = entrypoint_command(python, pod, &["--config-only", "-"], extra)
        .output()
        .expect("run the entrypoint");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err((out.status.code().unwrap_or(-1), stderr));
    }
    Ok(serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}")))
}

#[test]
fn the_entrypoint_serves_the_canary_as_rendered() {
    let Some(python) = external_tool("python3") else {
        return;
    };
    let pod = canary_pod();
    let release: Value = serde_json::from_str(pod.file("release.json")).unwrap();
    assert_eq!(release["model"], MODEL);
    assert_eq!(release["release"], RELEASE);
    assert_eq!(release["base"]["id"], BASE);
    let params: Value = serde_json::from_str(pod.file("params.json")).unwrap();
    assert_eq!(
        params,
        json!({"max-tokens": 800, "temperature": 0.2, "top-p": 0.9})
    );
    let prompt = pod.file("system-prompt.txt");
    assert!(
        prompt.contains("Acme Cloud"),
        "rendered, not a template: {prompt}"
    );

    let config = generated_config(&python, &pod, &[]).unwrap_or_else(|(_, e)| panic!("{e}"));
    assert_eq!(
        config["model_list"],
        json!([{
            "model_name": MODEL,
            "litellm_params": {
                "model": BASE,
                "max_tokens": 800,
                "temperature": 0.2,
                "top_p": 0.9,
                "api_key": "os.environ/OPENAI_API_KEY",
                "litellm_system_prompt": prompt,
            },
            "model_info": {"id": "support-bot-1.5.0"},
        }])
    );
    assert_eq!(
        config["litellm_settings"],
        json!({
            "callbacks": ["prometheus", "modelops_callbacks.handler"],
            "require_auth_for_metrics_endpoint": false,
        })
    );
    assert_eq!(
        config["general_settings"],
        json!({"dangerously_permit_weak_or_unset_master_key": true})
    );

    // An OpenAI-compatible API of one's own: the base model by its id there.
    let config = generated_config(
        &python,
        &pod,
        &[("MODELOPS_PROVIDER_URL", "http://127.0.0.1:9/v1/")],
    )
    .unwrap_or_else(|(_, e)| panic!("{e}"));
    let params = &config["model_list"][0]["litellm_params"];
    assert_eq!(params["model"], "openai/gpt-4o-2024-08-06");
    assert_eq!(params["api_base"], "http://127.0.0.1:9/v1");
    assert_eq!(params["api_key"], "os.environ/OPENAI_API_KEY");

    // A pod whose env names another release than its files is refused.
    let (code, stderr) = generated_config(&python, &pod, &[("MODELOPS_RELEASE", "1.4.2")])
        .expect_err("a mismatched release");
    assert_eq!(code, 2);
    assert!(stderr.contains("MODELOPS_RELEASE=1.4.2"), "{stderr}");

    // Serving without the key the release's secret provides stops at once.
    let out = entrypoint_command(&python, &pod, &[], &[])
        .output()
        .expect("run the entrypoint");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("OPENAI_API_KEY is not set"), "{stderr}");
}

#[test]
fn the_entrypoint_maps_each_provider_and_refuses_what_it_cannot_serve() {
    let Some(python) = external_tool("python3") else {
        return;
    };
    let pod = canary_pod();
    let release: Value = serde_json::from_str(pod.file("release.json")).unwrap();
    let with_base = |id: &str, revision: Option<&str>| {
        let mut changed = release.clone();
        changed["base"] = json!({"id": id, "revision": revision});
        std::fs::write(
            pod.config_dir.path().join("release.json"),
            serde_json::to_string_pretty(&changed).unwrap(),
        )
        .unwrap();
    };
    for (base, model, key) in [
        (
            "anthropic/claude-sonnet-4-5-20250929",
            "anthropic/claude-sonnet-4-5-20250929",
            Some("os.environ/ANTHROPIC_API_KEY"),
        ),
        (
            "azure-openai/gpt-4o-2024-08-06",
            "azure/gpt-4o-2024-08-06",
            Some("os.environ/AZURE_API_KEY"),
        ),
        (
            "vertex/gemini-2.5-pro-002",
            "vertex_ai/gemini-2.5-pro-002",
            None,
        ),
        (
            "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0",
            "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0",
            None,
        ),
        (
            "huggingface/meta-llama/Llama-3.1-8B-Instruct",
            "huggingface/meta-llama/Llama-3.1-8B-Instruct",
            Some("os.environ/HF_TOKEN"),
        ),
    ] {
        with_base(base, None);
        let config =
            generated_config(&python, &pod, &[]).unwrap_or_else(|(_, e)| panic!("{base}: {e}"));
        let params = &config["model_list"][0]["litellm_params"];
        assert_eq!(params["model"], model, "{base}");
        assert_eq!(params.get("api_key").and_then(Value::as_str), key, "{base}");
        assert!(params.get("api_base").is_none(), "{base}");
    }

    // A key under another name than the provider's usual one.
    with_base("openai/gpt-4o-2024-08-06", None);
    let config = generated_config(
        &python,
        &pod,
        &[("MODELOPS_API_KEY_ENV", "ACME_OPENAI_KEY")],
    )
    .unwrap_or_else(|(_, e)| panic!("{e}"));
    assert_eq!(
        config["model_list"][0]["litellm_params"]["api_key"],
        "os.environ/ACME_OPENAI_KEY"
    );

    // What LiteLLM cannot call as pinned is refused, with the way out.
    let revision = "0123456789abcdef0123456789abcdef01234567";
    for (base, revision, says) in [
        ("self-hosted/llama-3-8b", None, "MODELOPS_PROVIDER_URL"),
        (
            "huggingface/meta-llama/Llama-3.1-8B-Instruct",
            Some(revision),
            revision,
        ),
        (
            "mystery/model-1",
            None,
            "no LiteLLM provider known for `mystery`",
        ),
    ] {
        with_base(base, revision);
        let (code, stderr) = generated_config(&python, &pod, &[]).expect_err(base);
        assert_eq!(code, 2, "{base}");
        assert!(stderr.starts_with("modelops serving: "), "{stderr}");
        assert!(stderr.contains(says), "{base}: {stderr}");
    }
    // ... unless a server of one's own runs it: no key needed, none forwarded.
    with_base("self-hosted/llama-3-8b", None);
    let config = generated_config(
        &python,
        &pod,
        &[("MODELOPS_PROVIDER_URL", "http://127.0.0.1:8000/v1")],
    )
    .unwrap_or_else(|(_, e)| panic!("{e}"));
    let params = &config["model_list"][0]["litellm_params"];
    assert_eq!(params["model"], "openai/llama-3-8b");
    assert_eq!(params["api_base"], "http://127.0.0.1:8000/v1");
    assert_eq!(params["api_key"], "modelops-no-key");

    // Params under their OpenAI names; an empty prompt adds no system message.
    with_base("openai/gpt-4o-2024-08-06", None);
    std::fs::write(
        pod.config_dir.path().join("params.json"),
        r#"{"frequency-penalty": 0.5, "max-output-tokens": 100, "seed": 7, "stop-sequences": ["END"], "top-k": 40}"#,
    )
    .unwrap();
    std::fs::write(pod.config_dir.path().join("system-prompt.txt"), "").unwrap();
    let config = generated_config(&python, &pod, &[]).unwrap_or_else(|(_, e)| panic!("{e}"));
    assert_eq!(
        config["model_list"][0]["litellm_params"],
        json!({
            "model": "openai/gpt-4o-2024-08-06",
            "frequency_penalty": 0.5,
            "max_tokens": 100,
            "seed": 7,
            "stop": ["END"],
            "top_k": 40,
            "api_key": "os.environ/OPENAI_API_KEY",
        })
    );
    // A provider-specific param cannot reach the deployment's own settings.
    std::fs::write(
        pod.config_dir.path().join("params.json"),
        r#"{"api-base": "http://elsewhere/v1"}"#,
    )
    .unwrap();
    let (code, stderr) = generated_config(&python, &pod, &[]).expect_err("a reserved param");
    assert_eq!(code, 2);
    assert!(stderr.contains("params.json sets `api_base`"), "{stderr}");
}

/// A `python3` on PATH that can run LiteLLM's proxy server.
fn litellm_proxy_python() -> Option<PathBuf> {
    let python = external_tool("python3")?;
    // Looked up, not imported: importing the proxy takes seconds.
    let probe = "import importlib.util as u, sys\n\
                 sys.exit(any(u.find_spec(m) is None for m in \
                 ('litellm', 'fastapi', 'uvicorn', 'prometheus_client', 'websockets')))";
    let found = Command::new(&python)
        .args(["-c", probe])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "LiteLLM's proxy server is required in CI (.ci/run installs it)"
        );
        eprintln!("skipping: the python3 on PATH cannot run LiteLLM's proxy server");
        return None;
    }
    Some(python)
}

/// One request the stub upstream received.
#[derive(Debug)]
struct Seen {
    path: String,
    authorization: Option<String>,
    body: Value,
}

/// A stub OpenAI-compatible API on loopback: answers every chat completion with
/// "ok" (500 when the last message says `please fail`) and records it, and lists
/// one model. It stops when dropped.
struct Upstream {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

fn answer(mut stream: TcpStream, seen: &Mutex<Vec<Seen>>) {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut request = Vec::new();
    let mut buffer = [0u8; 65536];
    let (head, body) = loop {
        if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..at]).into_owned();
            let length: usize = header(&head, "content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if request.len() >= at + 4 + length {
                break (head, request[at + 4..at + 4 + length].to_vec());
            }
        }
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    };
    let path = head
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let fail = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .is_some_and(|m| m["content"] == "please fail");
    let model = body["model"].clone();
    let listing = path.ends_with("/models");
    // LiteLLM lists the upstream's models when it starts; only completions count.
    if !listing {
        seen.lock().unwrap().push(Seen {
            path,
            authorization: header(&head, "authorization").map(str::to_owned),
            body,
        });
    }
    let (status, reply) = if listing {
        (
            "200 OK",
            json!({"object": "list", "data": [{"id": "gpt-4o-2024-08-06", "object": "model"}]}),
        )
    } else if fail {
        (
            "500 Internal Server Error",
            json!({"error": {"message": "stub failure", "type": "server_error"}}),
        )
    } else {
        (
            "200 OK",
            json!({
                "id": "chatcmpl-stub",
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok"},
                    "finish_reason": "stop",
                }],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }),
        )
    };
    let reply = reply.to_string();
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

impl Upstream {
    fn start() -> Upstream {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (record, halt) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).ok();
                        let record = record.clone();
                        std::thread::spawn(move || answer(stream, &record));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Upstream { port, seen, stop }
    }

    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The proxy, killed when dropped; its output goes to `log`.
struct Proxy {
    child: Child,
    log: PathBuf,
}

impl Proxy {
    fn log(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(6000);
        text.get(start..).unwrap_or(&text).to_owned()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// POSTs a chat completion; returns the status and the body.
fn chat(port: u16, body: &Value, key: Option<&str>) -> (u16, String) {
    let mut request = agent()
        .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .header("Content-Type", "application/json");
    if let Some(key) = key {
        request = request.header("Authorization", format!("Bearer {key}"));
    }
    let mut response = request.send(body.to_string()).expect("the proxy answers");
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut response = agent()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .call()
        .ok()?;
    let status = response.status().as_u16();
    Some((
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    ))
}

/// The samples of a Prometheus text exposition: name, labels, value.
fn samples(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap_or((line, ""));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let labels = labels
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
            .collect();
        out.push((name.to_owned(), labels, value.parse().unwrap_or(f64::NAN)));
    }
    out
}

/// The value of the sample `name` whose labels include `want`.
fn sample(text: &str, name: &str, want: &[(&str, &str)]) -> Option<f64> {
    samples(text)
        .into_iter()
        .find(|(n, labels, _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, value)| value)
}

#[test]
fn litellm_serves_the_canary_with_its_prompt_params_key_and_metrics() {
    let Some(python) = litellm_proxy_python() else {
        return;
    };
    let pod = canary_pod();
    let upstream = Upstream::start();
    let port = free_port();
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("proxy.log");
    let provider = format!("http://127.0.0.1:{}/v1", upstream.port);
    let config = work.path().join("litellm/config.yaml");
    let mut command = entrypoint_command(
        &python,
        &pod,
        &["--host", "127.0.0.1", "--port", &port.to_string()],
        &[
            ("MODELOPS_PROVIDER_URL", &provider),
            ("MODELOPS_LITELLM_CONFIG", &config.to_string_lossy()),
            ("OPENAI_API_KEY", VENDOR_KEY),
            ("LITELLM_LOCAL_MODEL_COST_MAP", "True"),
        ],
    );
    // The proxy's own PATH: `litellm` sits next to the python that runs it.
    if let Some(bin) = python.parent() {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let paths = std::iter::once(bin.to_path_buf()).chain(std::env::split_paths(&path));
        command.env("PATH", std::env::join_paths(paths).unwrap());
    }
    let file = std::fs::File::create(&log).unwrap();
    let child = command
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("start the entrypoint");
    let mut proxy = Proxy { child, log };

    // Ready: the contract's health endpoint answers 200. LiteLLM takes a while to
    // import on a busy machine.
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        if let Some(status) = proxy.child.try_wait().unwrap() {
            panic!("the proxy exited ({status}):\n{}", proxy.log());
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok()
            && get(port, "/health/readiness").is_some_and(|(s, _)| s == 200)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the proxy never got ready:\n{}",
            proxy.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // A smoke request, byte for byte what the pipelines send (no key), and the same
    // through the LiteLLM gateway target (its placeholder key).
    let smoke = json!({"messages": [{"content": "Hello", "role": "user"}], "model": MODEL});
    for key in [None, Some(GATEWAY_KEY)] {
        let (status, body) = chat(port, &smoke, key);
        assert_eq!(status, 200, "{key:?}: {body}\n{}", proxy.log());
        let reply: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(reply["choices"][0]["message"]["content"], "ok", "{body}");
    }
    let seen = upstream.take();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    let prompt = pod.file("system-prompt.txt");
    for request in &seen {
        assert_eq!(request.path, "/v1/chat/completions");
        // The vendor key from the secret's variable; never the gateway's placeholder.
        assert_eq!(
            request.authorization.as_deref(),
            Some(format!("Bearer {VENDOR_KEY}").as_str())
        );
        let body = &request.body;
        assert_eq!(body["model"], "gpt-4o-2024-08-06", "{body:#}");
        assert_eq!(
            body["messages"],
            json!([
                {"role": "system", "content": prompt},
                {"role": "user", "content": "Hello"},
            ]),
            "{body:#}"
        );
        assert_eq!(body["temperature"], 0.2, "{body:#}");
        assert_eq!(body["top_p"], 0.9, "{body:#}");
        assert_eq!(body["max_tokens"], 800, "{body:#}");
    }

    // A caller's own system message and params: the release's prompt comes first,
    // the caller's values win over the release's defaults.
    let own = json!({
        "model": MODEL,
        "temperature": 1.0,
        "messages": [
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "Hello"},
        ],
    });
    let (status, body) = chat(port, &own, Some(GATEWAY_KEY));
    assert_eq!(status, 200, "{body}");
    let seen = upstream.take();
    let body = &seen[0].body;
    let system = body["messages"][0]["content"].as_str().unwrap_or_default();
    assert!(system.starts_with(prompt.trim()), "{body:#}");
    assert!(system.ends_with("Answer in French."), "{body:#}");
    assert_eq!(body["temperature"], 1.0, "{body:#}");
    assert_eq!(body["top_p"], 0.9, "{body:#}");

    // Failures count under the status the caller got: a vendor error (however many
    // times LiteLLM retried it) and a model this container does not serve.
    let failing = json!({"model": MODEL, "messages": [{"role": "user", "content": "please fail"}]});
    let (status, body) = chat(port, &failing, None);
    assert_eq!(status, 500, "{body}");
    let other = json!({"model": "triage", "messages": [{"role": "user", "content": "Hello"}]});
    let (status, body) = chat(port, &other, None);
    assert_eq!(status, 400, "{body}");

    // The guards' metrics, labelled with the model and the release.
    let labels = [("model", MODEL), ("release", RELEASE)];
    let with_code = |code| [labels[0], labels[1], ("code", code)];
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let (status, text) = get(port, "/metrics").expect("GET /metrics");
        assert_eq!(status, 200, "{text}");
        // Success is logged just after the answer: wait for the last one.
        if sample(&text, "modelops_requests_total", &with_code("200")) == Some(3.0)
            || Instant::now() > deadline
        {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let modelops: Vec<&str> = text.lines().filter(|l| l.contains("modelops_")).collect();
    let shown = modelops.join("\n");
    assert_eq!(
        sample(&text, "modelops_requests_total", &with_code("200")),
        Some(3.0),
        "{shown}"
    );
    assert_eq!(
        sample(&text, "modelops_requests_total", &with_code("500")),
        Some(1.0),
        "{shown}"
    );
    assert_eq!(
        sample(&text, "modelops_requests_total", &with_code("400")),
        Some(1.0),
        "{shown}"
    );
    assert!(
        text.contains("# TYPE modelops_request_duration_seconds histogram"),
        "{shown}"
    );
    // Every request that reached the proxy's hooks is timed.
    assert_eq!(
        sample(&text, "modelops_request_duration_seconds_count", &labels),
        Some(5.0),
        "{shown}"
    );
    let le_inf = [labels[0], labels[1], ("le", "+Inf")];
    assert_eq!(
        sample(&text, "modelops_request_duration_seconds_bucket", &le_inf),
        Some(5.0),
        "{shown}"
    );
    let le_2s = [labels[0], labels[1], ("le", "2.0")];
    assert!(
        sample(&text, "modelops_request_duration_seconds_bucket", &le_2s).is_some(),
        "a bucket at the example's latency guard: {shown}"
    );
    drop(proxy);
}
