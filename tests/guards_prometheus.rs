//! The guards' PromQL proven by a real Prometheus: the queries modelops writes into
//! the Argo `AnalysisTemplate` and the Flagger `MetricTemplate`s (byte for byte the
//! same) and sends from `modelops guard` give one number per guard, and one verdict,
//! for a healthy, a failing, an idle and a barely used candidate.
//!
//! Each scenario runs its own Prometheus (scraping every second) over a test exporter
//! on loopback whose counters grow linearly from its first scrape, so rates, ratios
//! and quantiles are exact. Needs `prometheus` on PATH (CI installs it; see .ci/run).
//! Without it the scenarios say so and pass, except in CI where they fail.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::net::{Exporter, free_port};
use support::{Run, copy_example, external_tool, modelops_in};

/// The release the prod deployment of support-bot watches (its canary).
const CANDIDATE: &str = "1.5.0";
/// Its stable release, serving alongside.
const STABLE: &str = "1.4.2";
/// The guards of the prod deployment, in the order the model declares them.
const GUARDS: [&str; 3] = ["error-rate", "latency-p99", "rude-rate"];

/// What one release serves, per second, counted from the exporter's first scrape.
#[derive(Clone, Copy)]
struct Traffic {
    release: &'static str,
    /// Answers with status 200 per second.
    ok: f64,
    /// Answers with status 500 per second; `0` exports no `code="500"` series at all.
    errors: f64,
    /// The share of requests that took 2.5 s to 5 s; the others took 0.25 s to 0.5 s
    /// (half of them at most 0.25 s).
    slow: f64,
    /// Seconds after the first scrape when the release stops serving.
    active: f64,
}

impl Traffic {
    fn healthy(release: &'static str, ok: f64) -> Traffic {
        Traffic {
            release,
            ok,
            errors: 0.0,
            slow: 0.0,
            active: f64::INFINITY,
        }
    }
}

/// The exporter's page `seconds` after its first scrape: the request counters and
/// the latency histogram of every release, and the app's feedback counters (one
/// rude answer in 400: a rude-rate of 0.0025, under the guard's 0.005).
fn exposition(releases: &[Traffic], seconds: f64) -> String {
    let mut out = String::from("# TYPE modelops_requests_total counter\n");
    for r in releases {
        let t = seconds.min(r.active);
        let labels = format!("model=\"support-bot\",release=\"{}\"", r.release);
        out += &format!(
            "modelops_requests_total{{{labels},code=\"200\"}} {}\n",
            r.ok * t
        );
        if r.errors > 0.0 {
            out += &format!(
                "modelops_requests_total{{{labels},code=\"500\"}} {}\n",
                r.errors * t
            );
        }
    }
    out += "# TYPE modelops_request_duration_seconds histogram\n";
    for r in releases {
        let t = seconds.min(r.active);
        let labels = format!("model=\"support-bot\",release=\"{}\"", r.release);
        let all = (r.ok + r.errors) * t;
        let fast = all * (1.0 - r.slow);
        for (le, count) in [
            ("0.25", fast / 2.0),
            ("0.5", fast),
            ("1", fast),
            ("2.5", fast),
            ("5", all),
            ("+Inf", all),
        ] {
            out += &format!(
                "modelops_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {count}\n"
            );
        }
        let sum = fast * 0.3 + (all - fast) * 3.5;
        out += &format!("modelops_request_duration_seconds_sum{{{labels}}} {sum}\n");
        out += &format!("modelops_request_duration_seconds_count{{{labels}}} {all}\n");
    }
    out += "# TYPE responses_total counter\n";
    out += &format!(
        "responses_total{{app=\"support-bot\"}} {}\n",
        20.0 * seconds
    );
    out += "# TYPE feedback_total counter\n";
    for (verdict, per_second) in [("rude", 0.05), ("kind", 2.0)] {
        out += &format!(
            "feedback_total{{app=\"support-bot\",verdict=\"{verdict}\"}} {}\n",
            per_second * seconds
        );
    }
    out
}

/// A `/metrics` endpoint on loopback serving [`exposition`]. It stops when dropped.
fn exporter(releases: Vec<Traffic>) -> Exporter {
    Exporter::serve(move |_, seconds| exposition(&releases, seconds))
}

/// `GET target` on loopback with HTTP/1.0: the status and the body.
fn http_get(port: u16, target: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {target} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_owned()))
}

/// `text` percent-encoded for a query string.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A Prometheus with a private config and storage, scraping one [`Exporter`] every
/// second. It is killed, and its files removed, when dropped.
struct Prometheus {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    _exporter: Exporter,
}

impl Prometheus {
    fn start(binary: &Path, releases: Vec<Traffic>) -> Prometheus {
        let exporter = exporter(releases);
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: exporter\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
                exporter.port
            ),
        )
        .unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Prometheus {
            child,
            port,
            dir,
            _exporter: exporter,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Waits until `/-/ready` answers 200, then until `scrapes` scrapes of the
    /// exporter succeeded (four give every counter three increases to rate over).
    fn wait_for_samples(&mut self, scrapes: f64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !matches!(http_get(self.port, "/-/ready"), Ok((200, _))) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "prometheus was not ready within 30 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        while self
            .query("sum_over_time(up{job=\"exporter\"}[1m])")
            .first()
            .is_none_or(|&n| n < scrapes)
        {
            assert!(
                Instant::now() < deadline,
                "prometheus did not scrape the exporter {scrapes} times within 30 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The samples of an instant query at the current time (`NaN` included).
    fn query(&self, promql: &str) -> Vec<f64> {
        let (status, body) = http_get(
            self.port,
            &format!("/api/v1/query?query={}", encode(promql)),
        )
        .expect("query prometheus");
        assert_eq!(status, 200, "{promql}: {body}");
        let reply: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(reply["data"]["resultType"], "vector", "{promql}: {body}");
        reply["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["value"][1].as_str().unwrap().parse().unwrap())
            .collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The documents of generated/kubernetes/prod/support-bot.yaml when a copy of the
/// example compiles with the kubernetes target's `flavor`, minus what that
/// controller refuses (`example_under`). The guards are untouched.
fn compile_under(flavor: &str) -> Vec<Value> {
    let repo = support::example_under(flavor);
    let root = repo.path();
    let run = modelops_in(root, &["compile"]);
    assert_eq!(run.code, 0, "compile under {flavor}: {}", run.stderr);
    let text =
        std::fs::read_to_string(root.join("generated/kubernetes/prod/support-bot.yaml")).unwrap();
    serde_saphyr::from_multiple::<Value>(&text).unwrap()
}

/// The query of each guard of support-bot in prod, as the Argo `AnalysisTemplate`
/// carries it; compiled once for every test, after checking that each Flagger
/// `MetricTemplate` carries the very same text.
fn generated_queries() -> &'static BTreeMap<String, String> {
    static QUERIES: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    QUERIES.get_or_init(|| {
        let argo_docs = compile_under("argo-rollouts");
        let template = argo_docs
            .iter()
            .find(|d| d["kind"] == "AnalysisTemplate")
            .expect("an AnalysisTemplate");
        let argo: BTreeMap<String, String> = template["spec"]["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let query = m["provider"]["prometheus"]["query"].as_str().unwrap();
                (m["name"].as_str().unwrap().to_owned(), query.to_owned())
            })
            .collect();
        assert_eq!(argo.keys().collect::<Vec<_>>(), sorted(&GUARDS));

        let flagger_docs = compile_under("flagger");
        let canary = flagger_docs
            .iter()
            .find(|d| d["kind"] == "Canary")
            .expect("a Flagger Canary");
        for metric in canary["spec"]["analysis"]["metrics"].as_array().unwrap() {
            let name = metric["name"].as_str().unwrap();
            let template = metric["templateRef"]["name"].as_str().unwrap();
            let query = flagger_docs
                .iter()
                .find(|d| d["kind"] == "MetricTemplate" && d["metadata"]["name"] == template)
                .and_then(|d| d["spec"]["query"].as_str())
                .unwrap_or_else(|| panic!("no MetricTemplate `{template}` with a query"));
            // One definition: Flagger sends exactly what Argo sends.
            assert_eq!(Some(query), argo.get(name).map(String::as_str), "{name}");
        }
        argo
    })
}

fn sorted<'a>(names: &[&'a str]) -> Vec<&'a str> {
    let mut names = names.to_vec();
    names.sort_unstable();
    names
}

/// A built-in guard's query, `(VALUE) and on() (GATE) or on() vector(NaN)`, in its
/// parts: the value, and the gate (`sum(increase(requests[5m])) >= 10`).
fn parts(query: &str) -> (&str, &str) {
    let gated = query
        .strip_suffix(" or on() vector(NaN)")
        .unwrap_or_else(|| panic!("no NaN fallback: {query}"));
    let (value, gate) = gated
        .split_once(") and on() (")
        .unwrap_or_else(|| panic!("no min-samples gate: {query}"));
    (
        value.strip_prefix('(').unwrap(),
        gate.strip_suffix(')').unwrap(),
    )
}

/// The error-rate value, `(ERRORS or on() vector(0)) / ALL`, in its parts.
fn error_rate_parts(value: &str) -> (&str, &str) {
    value
        .strip_prefix('(')
        .and_then(|v| v.split_once(" or on() vector(0)) / "))
        .unwrap_or_else(|| panic!("not the error-rate value: {value}"))
}

/// One scenario, observed: Prometheus (for further queries), each guard's samples
/// from its generated query, and `modelops guard --format json` against it.
struct Observed {
    prometheus: Prometheus,
    samples: BTreeMap<String, Vec<f64>>,
    cli: Run,
    report: Value,
}

impl Observed {
    /// Each guard's verdict in the CLI's report.
    fn cli_verdicts(&self) -> Vec<(&str, &str)> {
        self.report["guards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["guard"].as_str().unwrap(), g["verdict"].as_str().unwrap()))
            .collect()
    }

    /// The one sample of a guard's query (a query giving anything else fails).
    fn value(&self, guard: &str) -> f64 {
        let samples = &self.samples[guard];
        assert_eq!(samples.len(), 1, "{guard} gave {samples:?}");
        samples[0]
    }
}

/// Runs Prometheus over an exporter serving `releases`, reads every guard's
/// generated query, and runs `modelops guard` against it. `None` when prometheus
/// is not installed (outside CI).
fn observe(releases: Vec<Traffic>) -> Option<Observed> {
    let binary = external_tool("prometheus")?;
    let mut prometheus = Prometheus::start(&binary, releases);
    // Compiling (once for all tests) overlaps Prometheus' start.
    let queries = generated_queries();
    let repo = copy_example();
    prometheus.wait_for_samples(4.0);
    let samples = queries
        .iter()
        .map(|(guard, query)| (guard.clone(), prometheus.query(query)))
        .collect();
    let url = prometheus.url();
    let cli = modelops_in(
        repo.path(),
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
    let report: Value = serde_json::from_str(&cli.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", cli.stdout, cli.stderr));
    for guard in report["guards"].as_array().unwrap() {
        let name = guard["guard"].as_str().unwrap();
        // One definition: the CLI asks Prometheus what the templates ask it.
        assert_eq!(
            guard["query"].as_str(),
            queries.get(name).map(String::as_str),
            "{name}"
        );
    }
    Some(Observed {
        prometheus,
        samples,
        cli,
        report,
    })
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= 1e-9 + expected.abs() * 1e-6,
        "{what}: {actual}, expected {expected}"
    );
}

#[test]
fn argo_and_flagger_carry_one_query_per_guard() {
    let queries = generated_queries();
    for (guard, query) in queries {
        // Every guard falls back to NaN, never to an empty result.
        assert!(query.ends_with(" or on() vector(NaN)"), "{guard}: {query}");
    }
    // The built-in guards only judge a release that served at least 10 requests.
    for guard in ["error-rate", "latency-p99"] {
        let (value, gate) = parts(&queries[guard]);
        assert!(
            value.contains(&format!("release=\"{CANDIDATE}\"")),
            "{value}"
        );
        assert!(gate.ends_with(" >= 10"), "{gate}");
    }
}

#[test]
fn a_healthy_candidate_without_a_single_5xx_series_reads_zero_and_passes() {
    // The candidate never failed, so it exports no code="500" series at all; the
    // stable release fails a third of its requests and is slow, which the
    // candidate's guards must not see.
    let stable = Traffic {
        errors: 5.0,
        slow: 0.5,
        ..Traffic::healthy(STABLE, 10.0)
    };
    let Some(seen) = observe(vec![Traffic::healthy(CANDIDATE, 20.0), stable]) else {
        return;
    };
    let queries = generated_queries();
    let (value, _) = parts(&queries["error-rate"]);
    let (errors, all) = error_rate_parts(value);
    // Why the error count defaults to zero: without a 5xx series it is empty, and
    // empty divided by anything is empty (the historic bug).
    assert_eq!(seen.prometheus.query(errors), Vec::<f64>::new());
    assert!(seen.prometheus.query(all)[0] > 0.0);
    // Pass: error-rate is exactly 0, one number, not an empty result.
    assert_eq!(seen.samples["error-rate"], vec![0.0]);
    // Pass: p99 is in the 0.25–0.5 s bucket (0.25 + 0.25 × 0.49 / 0.5), under 2 s.
    assert_close(seen.value("latency-p99"), 0.495, "latency-p99");
    // Pass: one rude answer in 400, under 0.005.
    assert_close(seen.value("rude-rate"), 0.0025, "rude-rate");
    // Pass: every guard passes, so `modelops guard` exits 0.
    assert_eq!(seen.cli.code, 0, "{}\n{}", seen.cli.stdout, seen.cli.stderr);
    assert_eq!(
        seen.cli_verdicts(),
        [
            ("error-rate", "pass"),
            ("latency-p99", "pass"),
            ("rude-rate", "pass")
        ]
    );
    // Pass: the CLI reads the same 0 for error-rate.
    assert_eq!(seen.report["guards"][0]["value"], 0.0);
}

#[test]
fn a_failing_candidate_reads_its_error_rate_and_breaches() {
    // One request in 20 fails (0.05 > 0.02) and 10 % take 2.5–5 s.
    let candidate = Traffic {
        errors: 1.0,
        slow: 0.1,
        ..Traffic::healthy(CANDIDATE, 19.0)
    };
    let Some(seen) = observe(vec![candidate, Traffic::healthy(STABLE, 20.0)]) else {
        return;
    };
    // Breach: error-rate reads the candidate's own share of 5xx, above 0.02.
    let error_rate = seen.value("error-rate");
    assert!(error_rate > 0.02, "{error_rate}");
    assert_close(error_rate, 0.05, "error-rate");
    // Breach: p99 is in the 2.5–5 s bucket (2.5 + 2.5 × 0.09 / 0.1), above 2 s.
    assert_close(seen.value("latency-p99"), 4.75, "latency-p99");
    // Pass: rude-rate is fine; a breach elsewhere decides the verdict.
    assert_close(seen.value("rude-rate"), 0.0025, "rude-rate");
    // Breach: `modelops guard` exits 1 and says which guards breached.
    assert_eq!(seen.cli.code, 1, "{}\n{}", seen.cli.stdout, seen.cli.stderr);
    assert!(
        seen.cli.stderr.contains("guard `error-rate` breached"),
        "{}",
        seen.cli.stderr
    );
    assert!(
        seen.cli.stderr.contains("guard `latency-p99` breached"),
        "{}",
        seen.cli.stderr
    );
    assert!(
        !seen.cli.stderr.contains("inconclusive"),
        "{}",
        seen.cli.stderr
    );
    assert_eq!(
        seen.cli_verdicts(),
        [
            ("error-rate", "breach"),
            ("latency-p99", "breach"),
            ("rude-rate", "pass")
        ]
    );
    assert_eq!(seen.report["breached"], true);
}

#[test]
fn an_idle_candidate_reads_nan_and_is_inconclusive() {
    // Only stable serves: no series of the candidate exists at all.
    let Some(seen) = observe(vec![Traffic::healthy(STABLE, 20.0)]) else {
        return;
    };
    let queries = generated_queries();
    let (value, _) = parts(&queries["error-rate"]);
    // Why the NaN fallback: the value alone finds nothing (`vector(0) / empty` is empty).
    assert_eq!(seen.prometheus.query(value), Vec::<f64>::new());
    // Inconclusive: both built-in guards read one NaN, not an empty result.
    assert!(seen.value("error-rate").is_nan());
    assert!(seen.value("latency-p99").is_nan());
    // Pass: rude-rate is measured per app, and stable's answers feed it.
    assert_close(seen.value("rude-rate"), 0.0025, "rude-rate");
    // Inconclusive: `modelops guard` exits 1, says why, and reports no breach.
    assert_eq!(seen.cli.code, 1, "{}\n{}", seen.cli.stdout, seen.cli.stderr);
    assert!(
        seen.cli.stderr.contains("inconclusive"),
        "{}",
        seen.cli.stderr
    );
    assert!(!seen.cli.stderr.contains("breached"), "{}", seen.cli.stderr);
    assert_eq!(
        seen.cli_verdicts(),
        [
            ("error-rate", "inconclusive"),
            ("latency-p99", "inconclusive"),
            ("rude-rate", "pass")
        ]
    );
    assert_eq!(seen.report["breached"], false);
    assert_eq!(seen.report["inconclusive"], true);
}

#[test]
fn a_candidate_with_too_few_requests_is_inconclusive_even_when_failing() {
    // Three requests in all, half of them failing, then nothing.
    let candidate = Traffic {
        errors: 0.5,
        active: 3.0,
        ..Traffic::healthy(CANDIDATE, 0.5)
    };
    let Some(seen) = observe(vec![candidate, Traffic::healthy(STABLE, 20.0)]) else {
        return;
    };
    let queries = generated_queries();
    let (value, gate) = parts(&queries["error-rate"]);
    let requests = gate.strip_suffix(" >= 10").unwrap();
    // The candidate did serve, fewer than 10 requests in the window...
    let served = seen.prometheus.query(requests);
    assert!(
        served.len() == 1 && served[0] > 0.0 && served[0] < 10.0,
        "{served:?}"
    );
    // ...and its ungated error rate would breach (half of them failed).
    assert_close(seen.prometheus.query(value)[0], 0.5, "ungated error-rate");
    // Inconclusive, not breach: too little traffic to judge reads NaN.
    assert!(seen.value("error-rate").is_nan());
    assert!(seen.value("latency-p99").is_nan());
    // Pass: rude-rate has no min-samples gate.
    assert_close(seen.value("rude-rate"), 0.0025, "rude-rate");
    // Inconclusive: `modelops guard` exits 1 and names the missing traffic.
    assert_eq!(seen.cli.code, 1, "{}\n{}", seen.cli.stdout, seen.cli.stderr);
    assert!(
        seen.cli.stderr.contains(
            "guard `error-rate` is inconclusive: release 1.5.0 served fewer than 10 requests"
        ),
        "{}",
        seen.cli.stderr
    );
    assert!(!seen.cli.stderr.contains("breached"), "{}", seen.cli.stderr);
    assert_eq!(
        seen.cli_verdicts(),
        [
            ("error-rate", "inconclusive"),
            ("latency-p99", "inconclusive"),
            ("rude-rate", "pass")
        ]
    );
}
