//! The proxy targets proven by the real proxies: every nginx snippet passes `nginx -t`,
//! every Envoy bootstrap passes `envoy --mode validate`, traffic through both splits
//! and mirrors as the deployment says (on loopback, bounded), LiteLLM loads its config
//! and routes by weight with fallback to stable, and every plane agrees with the plan.
//!
//! Needs `nginx`, `envoy` and a Python with `litellm` on PATH (CI installs them; see
//! .ci/run). Without them the tests say so and pass, except in CI where they fail.

mod support;

use support::net::{Running, free_port};

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{copy_example, example_repo, external_tool, modelops_in};

/// A tiny HTTP backend on loopback that answers every request with its name and
/// counts what it served. It reads a request's whole body (by `Content-Length`) and
/// remembers the largest. It stops when dropped.
struct Backend {
    port: u16,
    served: Arc<AtomicUsize>,
    largest_body: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

/// The length a request's headers announce for its body.
fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0)
}

impl Backend {
    fn start(name: &'static str) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = Arc::new(AtomicUsize::new(0));
        let largest_body = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, largest, halt) = (served.clone(), largest_body.clone(), stop.clone());
        std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        stream.set_nonblocking(false).ok();
                        stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
                        let mut request = Vec::new();
                        let mut buffer = [0u8; 65536];
                        let mut body_at = None;
                        loop {
                            if body_at.is_none() {
                                body_at = request
                                    .windows(4)
                                    .position(|w| w == b"\r\n\r\n")
                                    .map(|at| at + 4);
                            }
                            if let Some(at) = body_at
                                && request.len() >= at + content_length(&request[..at])
                            {
                                break;
                            }
                            match stream.read(&mut buffer) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => request.extend_from_slice(&buffer[..n]),
                            }
                        }
                        count.fetch_add(1, Ordering::Relaxed);
                        if let Some(at) = body_at {
                            largest.fetch_max(request.len() - at, Ordering::Relaxed);
                        }
                        let response = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{name}",
                            name.len()
                        );
                        let _ = stream.write_all(response.as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
        });
        Backend {
            port,
            served,
            largest_body,
            stop,
        }
    }

    fn served(&self) -> usize {
        self.served.load(Ordering::Relaxed)
    }

    /// The largest request body this backend has received since the last call, in
    /// bytes.
    fn take_largest_body(&self) -> usize {
        self.largest_body.swap(0, Ordering::Relaxed)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the proxy did not start listening on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `count` requests through the proxy; returns how many each backend answered.
fn send(port: u16, count: usize) -> (usize, usize) {
    let (mut stable, mut canary) = (0, 0);
    for _ in 0..count {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(b"GET /v1/chat HTTP/1.1\r\nHost: support-bot\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        if response.ends_with("stable") {
            stable += 1;
        } else if response.ends_with("canary") {
            canary += 1;
        } else {
            panic!("unexpected response: {response}");
        }
    }
    (stable, canary)
}

/// A chat request whose body is larger than nginx's default `client_max_body_size`
/// (1 MB): a long conversation or a document in the prompt.
const LARGE_BODY: usize = 2 * 1024 * 1024;

/// POSTs a JSON body of `size` bytes through the proxy; returns the whole response.
fn post_large(port: u16, size: usize) -> String {
    let prefix = br#"{"model":"support-bot","messages":[{"role":"user","content":""#;
    let suffix = br#""}]}"#;
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(prefix);
    body.resize(size - suffix.len(), b'a');
    body.extend_from_slice(suffix);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: support-bot\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    // nginx may answer (413) before it has read the body; the response tells.
    let _ = stream.write_all(&body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

/// A copy of the example whose proxy targets point at loopback backends.
fn loopback_repo(stable: u16, canary: u16, listen: u16) -> tempfile::TempDir {
    let repo = copy_example();
    let path = repo.path().join("modelops.kdl");
    let upstream = format!(
        "upstream=#\"127.0.0.1:{{{{#if (eq track \"stable\")}}}}{stable}{{{{else}}}}{canary}{{{{/if}}}}\"# listen=\"127.0.0.1:{listen}\""
    );
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("target \"envoy\"", &format!("target \"envoy\" {upstream}"))
        .replace("target \"nginx\"", &format!("target \"nginx\" {upstream}"))
        .replace(
            "target \"litellm\"",
            &format!("target \"litellm\" {upstream}"),
        );
    std::fs::write(&path, text).unwrap();
    let run = modelops_in(repo.path(), &["compile"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    repo
}

/// nginx's main configuration around one generated snippet, in a private prefix.
fn nginx_main(prefix: &Path, snippet: &Path) -> PathBuf {
    for dir in ["logs", "temp"] {
        std::fs::create_dir_all(prefix.join(dir)).unwrap();
    }
    let main = prefix.join("nginx.conf");
    let p = prefix.display();
    std::fs::write(
        &main,
        format!(
            "daemon off;\nmaster_process off;\npid {p}/nginx.pid;\nerror_log {p}/logs/error.log warn;\nevents {{ worker_connections 256; }}\nhttp {{\n    access_log off;\n    client_body_temp_path {p}/temp/body;\n    proxy_temp_path {p}/temp/proxy;\n    fastcgi_temp_path {p}/temp/fastcgi;\n    uwsgi_temp_path {p}/temp/uwsgi;\n    scgi_temp_path {p}/temp/scgi;\n    include {};\n}}\n",
            snippet.display()
        ),
    )
    .unwrap();
    main
}

#[test]
fn every_nginx_snippet_passes_nginx_t() {
    let Some(nginx) = external_tool("nginx") else {
        return;
    };
    let repo = loopback_repo(free_port(), free_port(), free_port());
    let snippets: Vec<String> = support::tree(&repo.path().join("generated"))
        .into_keys()
        .filter(|p| p.starts_with("nginx/"))
        .collect();
    assert!(snippets.len() >= 10, "{snippets:?}");
    for snippet in snippets {
        let prefix = tempfile::tempdir().unwrap();
        let main = nginx_main(prefix.path(), &repo.path().join("generated").join(&snippet));
        let out = Command::new(&nginx)
            .args(["-t", "-q", "-p"])
            .arg(prefix.path())
            .arg("-c")
            .arg(&main)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{snippet}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn run_nginx(nginx: &Path, repo: &Path, state: &str) -> (Running, tempfile::TempDir) {
    let prefix = tempfile::tempdir().unwrap();
    let snippet = repo.join(format!("generated/nginx/prod/support-bot/{state}.conf"));
    let main = nginx_main(prefix.path(), &snippet);
    let child = Command::new(nginx)
        .arg("-p")
        .arg(prefix.path())
        .arg("-c")
        .arg(&main)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (Running(child), prefix)
}

#[test]
fn nginx_splits_and_mirrors_live_traffic_on_loopback() {
    let Some(nginx) = external_tool("nginx") else {
        return;
    };
    let (stable, canary) = (Backend::start("stable"), Backend::start("canary"));
    let listen = free_port();
    let repo = loopback_repo(stable.port, canary.port, listen);

    let (_proxy, _prefix) = run_nginx(&nginx, repo.path(), "step-10");
    wait_for_port(listen);
    let (to_stable, to_canary) = send(listen, 2000);
    assert_eq!(to_stable + to_canary, 2000);
    // 10 % of 2,000 is 200; σ ≈ 13.4, so ±40 is three σ (and inside the ±2 points asked).
    assert!(
        (160..=240).contains(&to_canary),
        "canary got {to_canary} of 2000"
    );
    // A body over nginx's default limit of 1 MB passes (the snippet raises
    // `client_max_body_size`) and reaches the backend whole.
    let response = post_large(listen, LARGE_BODY);
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "a {LARGE_BODY}-byte request: {}",
        response.lines().next().unwrap_or_default()
    );
    assert_eq!(
        stable.take_largest_body().max(canary.take_largest_body()),
        LARGE_BODY,
        "the backend got the whole body"
    );
    drop(_proxy);

    let before = canary.served();
    let listen = free_port();
    let repo = loopback_repo(stable.port, canary.port, listen);
    let (_proxy, _prefix) = run_nginx(&nginx, repo.path(), "shadow");
    wait_for_port(listen);
    let (to_stable, to_canary) = send(listen, 500);
    assert_eq!(
        (to_stable, to_canary),
        (500, 0),
        "the shadow state serves from stable only"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while canary.served() - before < 500 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        canary.served() - before,
        500,
        "every request is mirrored to the candidate"
    );
    // A large body is served by stable and mirrored, body and all, to the candidate.
    let response = post_large(listen, LARGE_BODY);
    assert!(
        response.starts_with("HTTP/1.1 200") && response.ends_with("stable"),
        "a {LARGE_BODY}-byte request in the shadow state: {}",
        response.lines().next().unwrap_or_default()
    );
    assert_eq!(stable.take_largest_body(), LARGE_BODY);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut mirrored = 0;
    while mirrored < LARGE_BODY && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        mirrored = mirrored.max(canary.take_largest_body());
    }
    assert_eq!(mirrored, LARGE_BODY, "the mirror got the whole body");
}

#[test]
fn every_envoy_bootstrap_passes_envoy_validate() {
    let Some(envoy) = external_tool("envoy") else {
        return;
    };
    let generated = example_repo().join("generated");
    let bootstraps: Vec<String> = support::tree(&generated)
        .into_keys()
        .filter(|p| p.starts_with("envoy/"))
        .collect();
    assert!(bootstraps.len() >= 10);
    for file in bootstraps {
        let out = Command::new(&envoy)
            .args(["--mode", "validate", "--log-level", "error", "-c"])
            .arg(generated.join(&file))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn run_envoy(envoy: &Path, repo: &Path, state: &str) -> Running {
    let config = repo.join(format!("generated/envoy/prod/support-bot/{state}.yaml"));
    let child = Command::new(envoy)
        .args([
            "--log-level",
            "error",
            "--concurrency",
            "1",
            "--disable-hot-restart",
            "--base-id",
        ])
        .arg(free_port().to_string())
        .arg("-c")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Running(child)
}

#[test]
fn envoy_splits_and_mirrors_live_traffic_on_loopback() {
    let Some(envoy) = external_tool("envoy") else {
        return;
    };
    let (stable, canary) = (Backend::start("stable"), Backend::start("canary"));
    let listen = free_port();
    let repo = loopback_repo(stable.port, canary.port, listen);
    let proxy = run_envoy(&envoy, repo.path(), "step-10");
    wait_for_port(listen);
    let (to_stable, to_canary) = send(listen, 2000);
    assert_eq!(to_stable + to_canary, 2000);
    assert!(
        (160..=240).contains(&to_canary),
        "canary got {to_canary} of 2000"
    );
    drop(proxy);

    let before = canary.served();
    let listen = free_port();
    let repo = loopback_repo(stable.port, canary.port, listen);
    let _proxy = run_envoy(&envoy, repo.path(), "shadow");
    wait_for_port(listen);
    let (to_stable, to_canary) = send(listen, 500);
    assert_eq!((to_stable, to_canary), (500, 0));
    let deadline = Instant::now() + Duration::from_secs(10);
    while canary.served() - before < 500 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        canary.served() - before,
        500,
        "every request is mirrored to the candidate"
    );
}

/// The Python that has LiteLLM, when there is one.
fn litellm_python() -> Option<PathBuf> {
    let python = external_tool("python3")?;
    let has_litellm = Command::new(&python)
        .args(["-c", "import litellm, yaml"])
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_litellm {
        assert!(
            std::env::var_os("CI").is_none(),
            "litellm is required in CI (.ci/run installs it)"
        );
        eprintln!("skipping: the python3 on PATH has no litellm");
        return None;
    }
    Some(python)
}

/// Runs tests/proxy/litellm_check.py on `config` with no `OPENAI_API_KEY` in the
/// environment, unless `vendor_key` gives one; `live` sends real completions to stub
/// backends on the config's loopback `api_base`s instead of mocking them.
fn litellm_check(
    python: &Path,
    config: &Path,
    requests: usize,
    live: bool,
    vendor_key: Option<&str>,
) -> Value {
    let script = example_repo().join("tests/proxy/litellm_check.py");
    let mut command = Command::new(python);
    command
        .arg(script)
        .arg(config)
        .args(["support-bot", &requests.to_string()])
        .args(live.then_some("--live"))
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env_remove("OPENAI_API_KEY");
    if let Some(key) = vendor_key {
        command.env("OPENAI_API_KEY", key);
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap()
}

/// A copy of the example, compiled with its proxies on loopback, and the folder of
/// its LiteLLM configs for `support-bot` in `prod`.
fn litellm_repo(stable: u16, canary: u16) -> (tempfile::TempDir, PathBuf) {
    let repo = loopback_repo(stable, canary, free_port());
    let configs = repo.path().join("generated/litellm/prod/support-bot");
    (repo, configs)
}

#[test]
fn litellm_loads_the_config_routes_by_weight_and_falls_back_to_stable() {
    let Some(python) = litellm_python() else {
        return;
    };
    let (_repo, generated) = litellm_repo(free_port(), free_port());
    let result = litellm_check(&python, &generated.join("step-10.yaml"), 1000, false, None);
    let stable_id = "support-bot-stable-1.4.2";
    let canary_id = "support-bot-canary-1.5.0";
    let canary = result["counts"][canary_id].as_u64().unwrap_or(0);
    let stable = result["counts"][stable_id].as_u64().unwrap_or(0);
    assert_eq!(stable + canary, 1000, "{result}");
    // 10 % of 1,000: σ ≈ 9.5, so ±40 is four σ.
    assert!(
        (60..=140).contains(&canary),
        "canary served {canary} of 1000: {result}"
    );
    // The fallback group's own entry answers, not the weighted group's stable entry.
    assert_eq!(
        result["fallback_served_by"], "support-bot-stable-stable-1.4.2",
        "{result}"
    );
    let stable_only = litellm_check(&python, &generated.join("stable.yaml"), 50, false, None);
    assert_eq!(stable_only["counts"][stable_id], 50, "{stable_only}");
}

/// Every LiteLLM config gives each entry its own `model_info.id`, names the modelops
/// model and carries no vendor key.
///
/// LiteLLM's router (BerriAI/litellm, `litellm/router.py`) keys deployments by that
/// id: `Router._add_model_to_list_and_index_map` maps each id to one index in
/// `model_id_to_deployment_index_map` (a repeated id is overwritten), which
/// `Router.get_deployment` and `Router.get_model_info` read, and cooldowns are kept per
/// id (`Router._async_get_healthy_deployments`). `Router.set_model_list` resolves
/// every `os.environ/…` value of `litellm_params` with `get_secret` when the config
/// loads, so a referenced vendor key is sent to whatever `api_base` says, and a proxy
/// without that variable fails every request.
#[test]
fn litellm_configs_have_unique_ids_the_model_name_and_no_vendor_key() {
    let repo = loopback_repo(free_port(), free_port(), free_port());
    let configs: Vec<(String, String)> = support::tree(&repo.path().join("generated"))
        .into_iter()
        .filter(|(path, _)| path.starts_with("litellm/"))
        .map(|(path, bytes)| (path, String::from_utf8(bytes).unwrap()))
        .collect();
    assert!(configs.len() >= 10, "{configs:?}");
    for (path, text) in configs {
        let config: Value = serde_saphyr::from_str(&text).unwrap();
        let model = path.split('/').nth(2).unwrap();
        let entries = config["model_list"].as_array().unwrap();
        let mut ids: Vec<&str> = entries
            .iter()
            .map(|e| e["model_info"]["id"].as_str().unwrap())
            .collect();
        ids.sort_unstable();
        let count = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), count, "{path}: repeated model_info.id");
        for entry in entries {
            let params = &entry["litellm_params"];
            assert_eq!(params["model"], format!("openai/{model}"), "{path}");
            assert_eq!(params["api_key"], "modelops-in-cluster", "{path}");
        }
        assert!(!text.contains("os.environ/"), "{path}");
    }
}

#[test]
fn litellm_calls_the_serving_containers_by_model_name_without_a_vendor_key() {
    let Some(python) = litellm_python() else {
        return;
    };
    let (stable, canary) = (free_port(), free_port());
    let (_repo, generated) = litellm_repo(stable, canary);
    let config = generated.join("step-50.yaml");
    // No vendor key on the proxy at all: every request still succeeds. Then with
    // one: it never reaches the serving containers.
    for vendor_key in [None, Some("sk-VendorKeyOnTheProxy0123456789abcdefXYZ")] {
        let result = litellm_check(&python, &config, 20, true, vendor_key);
        let seen = result["seen"].as_array().unwrap();
        // The 20 requests and the fallback's (the forced failure sends none).
        assert_eq!(seen.len(), 21, "{result}");
        for request in seen {
            assert_eq!(request["path"], "/v1/chat/completions", "{request}");
            assert_eq!(request["model"], "support-bot", "{request}");
            assert_eq!(
                request["authorization"], "Bearer modelops-in-cluster",
                "{request}"
            );
        }
        let ports: std::collections::BTreeSet<u64> =
            seen.iter().filter_map(|r| r["port"].as_u64()).collect();
        assert!(
            ports.is_subset(&[u64::from(stable), u64::from(canary)].into()),
            "{result}"
        );
        assert_eq!(
            result["fallback_served_by"], "support-bot-stable-stable-1.4.2",
            "{result}"
        );
    }
}

fn plan() -> Value {
    serde_json::from_slice(&std::fs::read(example_repo().join("generated/plan.json")).unwrap())
        .unwrap()
}

fn yaml(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(example_repo().join("generated").join(path)).unwrap();
    serde_saphyr::from_multiple::<Value>(&text).unwrap()
}

/// The candidate's share of live traffic in an nginx snippet: the split's percentage,
/// or all or nothing by where the main location's `proxy_pass` goes.
fn nginx_candidate_share(conf: &str) -> u64 {
    if conf.contains("split_clients \"${request_id}\" ") {
        return conf
            .lines()
            .filter_map(|l| l.trim().strip_suffix(';'))
            .filter(|l| l.ends_with("_canary") || l.ends_with("_preview"))
            .filter_map(|l| l.split('%').next()?.parse::<u64>().ok())
            .sum();
    }
    let main_pass = conf
        .lines()
        .find(|l| {
            l.trim().starts_with("proxy_pass http://modelops_") && !l.contains("$request_uri")
        })
        .unwrap_or_default();
    if main_pass.trim_end().ends_with("_stable;") {
        0
    } else {
        100
    }
}

/// The weights and mirror of one state, as (candidate percent, mirror percent).
type Split = (u64, u64);

#[test]
fn every_plane_agrees_with_the_deployment() {
    for deployment in plan()["deployments"].as_array().unwrap() {
        let (env, model) = (
            deployment["environment"].as_str().unwrap(),
            deployment["model"].as_str().unwrap(),
        );
        let mut expected: Vec<(String, Split)> = vec![("stable".into(), (0, 0))];
        for stage in deployment["stages"].as_array().unwrap() {
            match stage["stage"].as_str().unwrap() {
                "shadow" => {
                    expected.push(("shadow".into(), (0, stage["percent"].as_u64().unwrap())))
                }
                "step" => {
                    let w = stage["weight"].as_u64().unwrap();
                    expected.push((format!("step-{w}"), (w, 0)));
                }
                "promoted" => expected.push(("promoted".into(), (100, 0))),
                _ => {}
            }
        }
        for (state, (candidate, mirror)) in &expected {
            let base = format!("{env}/{model}/{state}");
            // Istio.
            let vs = &yaml(&format!("istio/{base}.yaml"))[0]["spec"]["http"][0];
            let istio_candidate: u64 = vs["route"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["destination"]["subset"] != "stable")
                .map(|r| r["weight"].as_u64().unwrap())
                .sum();
            let istio_mirror = vs["mirrorPercentage"]["value"].as_f64().unwrap_or(0.0) as u64;
            assert_eq!(
                (istio_candidate, istio_mirror),
                (*candidate, *mirror),
                "istio {base}"
            );
            // Envoy.
            let bootstrap = &yaml(&format!("envoy/{base}.yaml"))[0];
            let route = &bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"]
                [0]["typed_config"]["route_config"]["virtual_hosts"][0]["routes"][0]["route"];
            let envoy_candidate = match route["cluster"].as_str() {
                Some("stable") => 0,
                Some(_) => 100,
                None => route["weighted_clusters"]["clusters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| c["name"] != "stable")
                    .map(|c| c["weight"].as_u64().unwrap())
                    .sum(),
            };
            let envoy_mirror = route["request_mirror_policies"][0]["runtime_fraction"]["default_value"]["numerator"].as_u64().unwrap_or(0);
            assert_eq!(
                (envoy_candidate, envoy_mirror),
                (*candidate, *mirror),
                "envoy {base}"
            );
            // nginx.
            let conf = std::fs::read_to_string(
                example_repo().join(format!("generated/nginx/{base}.conf")),
            )
            .unwrap();
            let nginx_candidate = nginx_candidate_share(&conf);
            let nginx_mirror = if conf.contains("mirror /_modelops_shadow;") {
                conf.lines()
                    .find_map(|l| l.trim().strip_suffix("% 1;"))
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(100)
            } else {
                0
            };
            assert_eq!(
                (nginx_candidate, nginx_mirror),
                (*candidate, *mirror),
                "nginx {base}"
            );
            // LiteLLM (cannot mirror: its shadow state routes like stable).
            let config = &yaml(&format!("litellm/{base}.yaml"))[0];
            let litellm_candidate: u64 = config["model_list"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| {
                    e["model_name"] == model
                        && !e["model_info"]["id"].as_str().unwrap().contains("-stable-")
                })
                .map(|e| e["litellm_params"]["weight"].as_u64().unwrap())
                .sum();
            assert_eq!(litellm_candidate, *candidate, "litellm {base}");
        }
    }
}
