//! The commands generated pipelines run: `modelops gate` and `modelops guard`,
//! including `guard` against a real Prometheus (Debian's `prometheus`, started on
//! loopback scraping a tiny exporter; CI installs it).

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::net::{Exporter, Running, free_port};
use support::{example_repo, external_tool, modelops_in};

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn gate_passes_fails_and_refuses_by_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(
        dir.path(),
        "base.jsonl",
        "{\"id\": \"q1\", \"score\": 0.90}\n{\"id\": \"q2\", \"score\": 0.80}\n",
    );
    let same = write(
        dir.path(),
        "same.json",
        "[{\"id\": \"q2\", \"score\": 0.80}, {\"id\": \"q1\", \"score\": 0.895}]",
    );
    let worse = write(
        dir.path(),
        "worse.jsonl",
        "{\"id\": \"q1\", \"score\": 0.70}\n{\"id\": \"q2\", \"score\": 0.80}\n",
    );
    let gate = |cand: &str, extra: &[&str]| {
        let mut args = vec!["gate", "--baseline", &base, "--candidate", cand];
        args.extend_from_slice(extra);
        modelops_in(dir.path(), &args)
    };
    assert_eq!(gate(&same, &[]).code, 0);
    let failed = gate(&worse, &[]);
    assert_eq!(failed.code, 1);
    assert!(failed.stdout.contains("gate FAILED"), "{}", failed.stdout);
    assert!(failed.stdout.contains("q1: 0.9 → 0.7"), "{}", failed.stdout);
    assert_eq!(gate(&worse, &["--max-regression", "20%"]).code, 0);
    // Lower is better: the same numbers are an improvement.
    assert_eq!(gate(&worse, &["--better", "lower"]).code, 0);
    let json = gate(&worse, &["--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["passed"], false);
    assert_eq!(report["worst"][0]["id"], "q1");

    for (name, text, message) in [
        ("empty.jsonl", "", "has no scores"),
        (
            "dup.jsonl",
            "{\"id\":\"q1\",\"score\":1}\n{\"id\":\"q1\",\"score\":1}\n",
            "scores item `q1` twice",
        ),
        (
            "text.jsonl",
            "{\"id\":\"q1\",\"score\":\"good\"}\n",
            "line 1: the score of item `q1` is not a number",
        ),
        (
            "other.jsonl",
            "{\"id\":\"q1\",\"score\":1}\n{\"id\":\"q3\",\"score\":1}\n",
            "only in the baseline: q2; only in the candidate: q3",
        ),
        ("broken.jsonl", "{\"id\": \n", "line 1"),
    ] {
        let file = write(dir.path(), name, text);
        let run = gate(&file, &[]);
        assert_eq!(run.code, 2, "{name}: {}", run.stderr);
        assert!(run.stderr.contains(message), "{name}: {}", run.stderr);
    }
}

#[test]
fn gate_reads_threshold_and_direction_from_the_deployment() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(dir.path(), "base.jsonl", "{\"id\": 1, \"score\": 1.0}\n");
    // 0.8 % worse: inside support-bot's 1 %, outside triage's 0.5 %.
    let cand = write(dir.path(), "cand.jsonl", "{\"id\": 1, \"score\": 0.992}\n");
    let root = example_repo();
    let run = |model: &str| {
        modelops_in(
            &root,
            &[
                "gate",
                model,
                "--env",
                "prod",
                "--baseline",
                &base,
                "--candidate",
                &cand,
            ],
        )
    };
    assert_eq!(run("support-bot").code, 0, "{}", run("support-bot").stdout);
    assert_eq!(run("triage").code, 1);
    let unknown = modelops_in(
        &root,
        &[
            "gate",
            "nope",
            "--env",
            "prod",
            "--baseline",
            &base,
            "--candidate",
            &cand,
        ],
    );
    assert_eq!(unknown.code, 2);
}

#[test]
fn guard_judges_a_metrics_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let root = example_repo();
    let guard = |metrics: &str| {
        let file = write(dir.path(), "metrics.json", metrics);
        modelops_in(
            &root,
            &["guard", "support-bot", "--env", "prod", "--metrics", &file],
        )
    };
    let ok = guard("{\"error-rate\": 0.01, \"latency-p99\": \"1500ms\", \"rude-rate\": 0.001}");
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    let breach = guard("{\"error-rate\": 0.05, \"latency-p99\": 1.2, \"rude-rate\": 0.001}");
    assert_eq!(breach.code, 1);
    assert!(
        breach
            .stderr
            .contains("guard `error-rate` breached: 0.05 (threshold max 0.02)"),
        "{}",
        breach.stderr
    );
    let missing = guard("{\"error-rate\": 0.01}");
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("no value for guard `latency-p99`"),
        "{}",
        missing.stderr
    );
    let unreachable = modelops_in(
        &root,
        &[
            "guard",
            "support-bot",
            "--env",
            "prod",
            "--prometheus",
            "http://127.0.0.1:9",
        ],
    );
    assert_eq!(unreachable.code, 2);
    assert!(
        unreachable.stderr.contains("cannot be reached"),
        "{}",
        unreachable.stderr
    );

    // An error status is an error (exit 2) with what the server said, never a verdict.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let body = "<html>upstream overloaded</html>";
            let _ = write!(
                stream,
                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let unavailable = modelops_in(
        &root,
        &[
            "guard",
            "support-bot",
            "--env",
            "prod",
            "--prometheus",
            &format!("http://127.0.0.1:{port}"),
        ],
    );
    assert_eq!(unavailable.code, 2, "{}", unavailable.stderr);
    assert!(
        unavailable.stderr.contains("answered 503")
            && unavailable.stderr.contains("upstream overloaded"),
        "{}",
        unavailable.stderr
    );
}

/// A Prometheus exporter on loopback whose counters grow on every scrape, so that
/// rates are: error rate `errors_per_scrape` / 100, p99 latency about 1 s, rude rate 0.1 %.
fn exporter(errors_per_scrape: u64) -> Exporter {
    Exporter::serve(move |n, _| {
        let labels = "model=\"support-bot\",release=\"1.5.0\"";
        format!(
            "modelops_requests_total{{{labels},code=\"200\"}} {ok}\n\
             modelops_requests_total{{{labels},code=\"500\"}} {err}\n\
             modelops_request_duration_seconds_bucket{{{labels},le=\"0.5\"}} {b05}\n\
             modelops_request_duration_seconds_bucket{{{labels},le=\"1\"}} {b1}\n\
             modelops_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {binf}\n\
             feedback_total{{verdict=\"rude\",app=\"support-bot\"}} {rude}\n\
             responses_total{{app=\"support-bot\"}} {responses}\n",
            ok = n * (100 - errors_per_scrape),
            err = n * errors_per_scrape,
            b05 = n * 90,
            b1 = n * 100,
            binf = n * 100,
            rude = n,
            responses = n * 1000,
        )
    })
}

/// Starts Prometheus scraping `exporter` every second; returns once a query has data.
fn prometheus(
    binary: &std::path::Path,
    exporter: &Exporter,
    dir: &std::path::Path,
) -> (Running, u16) {
    let port = free_port();
    let config = write(
        dir,
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: model\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            exporter.port
        ),
    );
    let child = Command::new(binary)
        .arg(format!("--config.file={config}"))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let running = Running(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let query = "/api/v1/query?query=rate%28modelops_requests_total%5B5m%5D%29";
    loop {
        assert!(
            Instant::now() < deadline,
            "Prometheus did not get data in time"
        );
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.write_all(
                format!("GET {query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            );
            let mut reply = String::new();
            let _ = stream.read_to_string(&mut reply);
            if reply.contains("\"value\"") {
                return (running, port);
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn guard_queries_a_real_prometheus() {
    let Some(binary) = external_tool("prometheus") else {
        return;
    };
    let root = example_repo();
    for (errors, expected) in [(1, 0), (10, 1)] {
        let dir = tempfile::tempdir().unwrap();
        let exporter = exporter(errors);
        let (_server, port) = prometheus(&binary, &exporter, dir.path());
        let url = format!("http://127.0.0.1:{port}");
        let run = modelops_in(
            &root,
            &[
                "guard",
                "support-bot",
                "--env",
                "prod",
                "--prometheus",
                &url,
                "--format",
                "json",
            ],
        );
        assert_eq!(
            run.code, expected,
            "errors {errors}: {}{}",
            run.stdout, run.stderr
        );
        let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let guards = report["guards"].as_array().unwrap();
        let value = |name: &str| {
            guards.iter().find(|g| g["guard"] == name).unwrap()["value"]
                .as_f64()
                .unwrap()
        };
        let error_rate = value("error-rate");
        assert!(
            (error_rate - errors as f64 / 100.0).abs() < 1e-6,
            "error-rate {error_rate}"
        );
        assert!(
            value("latency-p99") > 0.5 && value("latency-p99") <= 1.0,
            "p99 {}",
            value("latency-p99")
        );
        assert!((value("rude-rate") - 0.001).abs() < 1e-6);
        if expected == 1 {
            assert!(
                run.stderr.contains("guard `error-rate` breached"),
                "{}",
                run.stderr
            );
        }
    }
}

/// A stand-in for Prometheus' query API on loopback that answers every query with
/// `status` and `body`; returns its base URL.
fn query_api(status: &'static str, body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buffer = [0u8; 8192];
            let _ = stream.read(&mut buffer);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://127.0.0.1:{port}")
}

fn vector(values: &[(&str, &str)]) -> String {
    let result: Vec<String> = values
        .iter()
        .map(|(pod, value)| {
            format!(r#"{{"metric":{{"pod":"{pod}"}},"value":[1700000000.0,"{value}"]}}"#)
        })
        .collect();
    format!(
        r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
        result.join(",")
    )
}

/// Every series of a result is judged (a breach in the second one fails the guard,
/// naming the series); `NaN` and an empty result are inconclusive (exit 1, never a
/// pass), infinities compare as numbers (as Argo Rollouts and Flagger compare them),
/// and error replies are errors.
#[test]
fn guard_judges_every_series_and_refuses_what_is_not_a_number() {
    let root = example_repo();
    let guard = |url: &str| {
        modelops_in(
            &root,
            &["guard", "support-bot", "--env", "prod", "--prometheus", url],
        )
    };
    let healthy = guard(&query_api(
        "200 OK",
        vector(&[("a", "0.001"), ("b", "0.001")]),
    ));
    assert_eq!(healthy.code, 0, "{}{}", healthy.stdout, healthy.stderr);
    let second = guard(&query_api(
        "200 OK",
        vector(&[("a", "0.001"), ("b", "0.9")]),
    ));
    assert_eq!(second.code, 1, "{}{}", second.stdout, second.stderr);
    assert!(second.stderr.contains(r#"pod="b""#), "{}", second.stderr);
    let nan = guard(&query_api(
        "200 OK",
        vector(&[("a", "0.001"), ("b", "NaN")]),
    ));
    assert_eq!(nan.code, 1, "{}{}", nan.stdout, nan.stderr);
    assert!(nan.stderr.contains("inconclusive"), "{}", nan.stderr);
    assert!(nan.stdout.contains("INCONCLUSIVE"), "{}", nan.stdout);
    // A breach outranks missing data.
    let both = guard(&query_api("200 OK", vector(&[("a", "NaN"), ("b", "0.9")])));
    assert_eq!(both.code, 1, "{}", both.stderr);
    assert!(both.stderr.contains("breached"), "{}", both.stderr);
    let infinite = guard(&query_api(
        "200 OK",
        vector(&[("a", "0.001"), ("b", "+Inf")]),
    ));
    assert_eq!(infinite.code, 1, "{}", infinite.stderr);
    assert!(infinite.stderr.contains("breached"), "{}", infinite.stderr);
    let below = guard(&query_api(
        "200 OK",
        vector(&[("a", "0.001"), ("b", "-Inf")]),
    ));
    assert_eq!(below.code, 0, "{}", below.stderr);
    let garbage = guard(&query_api("200 OK", vector(&[("a", "zero")])));
    assert_eq!(garbage.code, 2, "{}", garbage.stderr);
    assert!(
        garbage.stderr.contains("not a number"),
        "{}",
        garbage.stderr
    );
    let refused = guard(&query_api(
        "400 Bad Request",
        r#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#.to_owned(),
    ));
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("bad_data") && refused.stderr.contains("parse error at char 3"),
        "{}",
        refused.stderr
    );
    let empty = guard(&query_api("200 OK", vector(&[])));
    assert_eq!(empty.code, 1, "{}", empty.stderr);
    assert!(empty.stderr.contains("inconclusive"), "{}", empty.stderr);
}

/// A snapshot that names a guard twice is refused; a byte-order mark is not.
#[test]
fn guard_snapshots_with_duplicate_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = example_repo();
    let guard = |metrics: &str| {
        let file = write(dir.path(), "metrics.json", metrics);
        modelops_in(
            &root,
            &["guard", "support-bot", "--env", "prod", "--metrics", &file],
        )
    };
    let twice = guard(
        "{\"error-rate\": 0.5, \"error-rate\": 0.01, \"latency-p99\": 1, \"rude-rate\": 0.001}",
    );
    assert_eq!(twice.code, 2, "{}", twice.stderr);
    assert!(twice.stderr.contains("more than once"), "{}", twice.stderr);
    let bom = guard("\u{feff}{\"error-rate\": 0.01, \"latency-p99\": 1, \"rude-rate\": 0.001}");
    assert_eq!(bom.code, 0, "{}", bom.stderr);
}

/// A stand-in for Prometheus' query API whose answers change over time: the n-th
/// query (from 0) gets `answer(n)`, a status line and a body.
fn changing_query_api(answer: impl Fn(u64) -> (&'static str, String) + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (n, mut stream) in (0u64..).zip(listener.incoming().flatten()) {
            let mut buffer = [0u8; 8192];
            let _ = stream.read(&mut buffer);
            let (status, body) = answer(n);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://127.0.0.1:{port}")
}

/// `guard --watch` on support-bot in prod (three guards, so three queries a
/// poll), polling every `interval_ms`.
fn watch(url: &str, duration: &str, interval_ms: u64) -> (support::Run, Duration) {
    let started = Instant::now();
    let interval = interval_ms.to_string();
    let run = support::modelops_with(
        &example_repo(),
        &[
            "guard",
            "support-bot",
            "--env",
            "prod",
            "--prometheus",
            url,
            "--watch",
            duration,
        ],
        &[(
            "MODELOPS_WATCH_INTERVAL_MS",
            std::ffi::OsStr::new(&interval),
        )],
    );
    (run, started.elapsed())
}

fn polls(stderr: &str) -> usize {
    stderr.lines().filter(|l| l.starts_with("watch +")).count()
}

/// Healthy for the whole watch: every poll is reported, the final report is on
/// stdout, exit 0.
#[test]
fn guard_watch_passes_a_release_healthy_throughout() {
    let url = changing_query_api(|_| ("200 OK", vector(&[("a", "0.001")])));
    let (run, took) = watch(&url, "1s", 100);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(polls(&run.stderr) >= 5, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("watch +0s: error-rate 0.001 ok, latency-p99 0.001 ok, rude-rate 0.001 ok"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stdout.lines().filter(|l| l.starts_with("ok")).count(),
        3
    );
    // One breach between healthy polls is less than `failures` (2): it passes.
    let url = changing_query_api(|n| {
        let value = if (3..6).contains(&n) { "0.9" } else { "0.001" };
        ("200 OK", vector(&[("a", value)]))
    });
    let (run, _) = watch(&url, "800ms", 100);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("BREACH 1/2"), "{}", run.stderr);
}

/// A guard breaching `failures` polls in a row fails the watch at once, long
/// before its end, with the breach message of a single evaluation.
#[test]
fn guard_watch_fails_early_on_consecutive_breaches() {
    // Two healthy polls, then the error rate climbs.
    let url = changing_query_api(|n| {
        let value = if n < 6 { "0.001" } else { "0.9" };
        ("200 OK", vector(&[("a", value)]))
    });
    let (run, took) = watch(&url, "1h", 50);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(took < Duration::from_secs(60), "{took:?}");
    assert_eq!(polls(&run.stderr), 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("error-rate 0.9 BREACH 2/2"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("error: guard `error-rate` breached: 0.9 (threshold max 0.02)"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("BREACH"), "{}", run.stdout);
}

/// A guard whose last reading is inconclusive fails the watch at its end.
#[test]
fn guard_watch_fails_when_the_last_reading_is_inconclusive() {
    let url = changing_query_api(|n| {
        let value = if n < 3 { "0.001" } else { "NaN" };
        ("200 OK", vector(&[("a", value)]))
    });
    let (run, took) = watch(&url, "600ms", 100);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(took >= Duration::from_millis(600), "{took:?}");
    assert!(
        run.stderr
            .contains("error: guard `error-rate` is inconclusive"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("INCONCLUSIVE"), "{}", run.stdout);
}

/// A poll that fails is retried at the next one; more than three failures in a
/// row end the watch with exit 2.
#[test]
fn guard_watch_retries_failed_polls_and_gives_up_after_three() {
    let unavailable = || {
        (
            "503 Service Unavailable",
            r#"{"status":"error","errorType":"unavailable","error":"starting up"}"#.to_owned(),
        )
    };
    let url = changing_query_api(move |n| {
        if n < 2 {
            unavailable()
        } else {
            ("200 OK", vector(&[("a", "0.001")]))
        }
    });
    let (run, _) = watch(&url, "500ms", 100);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("poll failed (2 in a row"),
        "{}",
        run.stderr
    );
    let url = changing_query_api(move |_| unavailable());
    let (run, took) = watch(&url, "1h", 50);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(took < Duration::from_secs(60), "{took:?}");
    assert_eq!(polls(&run.stderr), 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("error: 4 polls in a row failed"),
        "{}",
        run.stderr
    );
}

/// `--watch` reads Prometheus: with a snapshot, or with something that is not a
/// duration, it is a usage error.
#[test]
fn guard_watch_usage_errors_exit_two() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = write(dir.path(), "metrics.json", "{\"error-rate\": 0.01}");
    let root = example_repo();
    let both = modelops_in(
        &root,
        &[
            "guard",
            "support-bot",
            "--env",
            "prod",
            "--metrics",
            &metrics,
            "--watch",
            "1h",
        ],
    );
    assert_eq!(both.code, 2, "{}", both.stderr);
    assert!(both.stderr.contains("--watch"), "{}", both.stderr);
    let bad = modelops_in(
        &root,
        &[
            "guard",
            "support-bot",
            "--env",
            "prod",
            "--prometheus",
            "http://127.0.0.1:9",
            "--watch",
            "soon",
        ],
    );
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("`--watch soon` is not a duration"),
        "{}",
        bad.stderr
    );
}
