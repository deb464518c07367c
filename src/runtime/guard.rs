//! `modelops guard`: evaluates a deployment's guards — against a metrics snapshot
//! (`{"guard-name": value}`) or a Prometheus server's instant-query API with the same
//! PromQL the Argo AnalysisTemplate uses — and reports each guard's value and
//! threshold. A breach fails (exit 1); a missing metric or an unreachable server is an
//! error (exit 2), never a pass.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Value, json};

use crate::model::{Guard, NameMap, Threshold};
use crate::target::kubernetes::{QueryScope, guard_query, threshold_value};

/// Where guard values come from.
pub enum MetricSource {
    /// Values by guard name (durations as seconds, or as duration strings).
    Snapshot(BTreeMap<String, Value>),
    /// A Prometheus server's base URL (`http://host:port[/prefix]`).
    Prometheus(crate::runtime::http::Url),
}

/// Why guards could not be evaluated (exit code 2).
#[derive(Debug)]
pub struct GuardError(pub String);

impl fmt::Display for GuardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GuardError {}

/// One guard's verdict.
#[derive(Clone, Debug, serde::Serialize)]
pub struct GuardResult {
    pub guard: String,
    pub query: Option<String>,
    pub value: f64,
    pub max: Option<f64>,
    pub min: Option<f64>,
    pub breached: bool,
}

fn snapshot_value(name: &str, values: &BTreeMap<String, Value>) -> Result<f64, GuardError> {
    match values.get(name) {
        Some(Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| GuardError(format!("the value of `{name}` is not a number"))),
        Some(Value::String(s)) => crate::model::Duration::parse(s)
            .map(|d| d.millis as f64 / 1000.0)
            .ok_or_else(|| {
                GuardError(format!(
                    "the value of `{name}` (`{s}`) is neither a number nor a duration"
                ))
            }),
        Some(_) => Err(GuardError(format!("the value of `{name}` is not a number"))),
        None => Err(GuardError(format!(
            "the metrics snapshot has no value for guard `{name}`"
        ))),
    }
}

fn prometheus_value(
    url: &crate::runtime::http::Url,
    query: &str,
    guard: &str,
) -> Result<f64, GuardError> {
    let address = url.join(&format!(
        "/api/v1/query?query={}",
        crate::runtime::http::encode(query)
    ));
    let limits = crate::runtime::http::Limits::default();
    let response = crate::runtime::http::get(&address, "application/json", &limits)
        .map_err(|e| GuardError(format!("Prometheus at {url} cannot be reached: {e}")))?;
    let status = response.status;
    let reply: Value = match serde_json::from_slice(&response.body) {
        Ok(reply) => reply,
        Err(e) if response.is_success() => {
            return Err(GuardError(format!(
                "Prometheus at {url} answered {status} with something that is not JSON: {e}"
            )));
        }
        Err(_) => {
            return Err(GuardError(format!(
                "Prometheus at {url} answered {status}: {}",
                response.excerpt()
            )));
        }
    };
    if !response.is_success() && reply["status"] == "success" {
        return Err(GuardError(format!(
            "Prometheus at {url} answered {status} for guard `{guard}`"
        )));
    }
    if reply["status"] != "success" {
        return Err(GuardError(format!(
            "Prometheus refused the query of guard `{guard}` ({status}): {}",
            reply["error"].as_str().unwrap_or("no error message")
        )));
    }
    let sample = match reply["data"]["resultType"].as_str() {
        Some("vector") => reply["data"]["result"]
            .get(0)
            .map(|r| r["value"][1].clone()),
        Some("scalar") => Some(reply["data"]["result"][1].clone()),
        _ => None,
    };
    let value = sample
        .and_then(|v| v.as_str().and_then(|s| s.parse::<f64>().ok()))
        .filter(|v| !v.is_nan())
        .ok_or_else(|| {
            GuardError(format!(
                "Prometheus has no data for guard `{guard}` (query: {query})"
            ))
        })?;
    Ok(value)
}

/// Evaluates `guards` for the release `scope` describes.
pub fn evaluate(
    scope: &QueryScope<'_>,
    guards: &NameMap<Guard>,
    source: &MetricSource,
) -> Result<Vec<GuardResult>, GuardError> {
    let mut results = Vec::new();
    for guard in guards.values() {
        let query = guard_query(scope, guard);
        let value = match source {
            MetricSource::Snapshot(values) => snapshot_value(&guard.name, values)?,
            MetricSource::Prometheus(url) => {
                let query = query.as_deref().ok_or_else(|| {
                    GuardError(format!(
                        "guard `{}` has no query to send to Prometheus",
                        guard.name
                    ))
                })?;
                prometheus_value(url, query, &guard.name)?
            }
        };
        let max = guard.max.map(threshold_value);
        let min = guard.min.map(threshold_value);
        let breached = max.is_some_and(|m| value > m) || min.is_some_and(|m| value < m);
        results.push(GuardResult {
            guard: guard.name.clone(),
            query,
            value,
            max,
            min,
            breached,
        });
    }
    Ok(results)
}

fn show(threshold: Option<Threshold>) -> String {
    threshold.map(|t| t.to_string()).unwrap_or_default()
}

/// The report for people: one line per guard.
pub fn human(results: &[GuardResult], guards: &NameMap<Guard>) -> String {
    let mut out = String::new();
    for result in results {
        let guard = guards.get(&result.guard);
        let limit = match (guard.and_then(|g| g.max), guard.and_then(|g| g.min)) {
            (Some(max), _) => format!("max {}", show(Some(max))),
            (None, Some(min)) => format!("min {}", show(Some(min))),
            (None, None) => "no threshold".to_owned(),
        };
        out.push_str(&format!(
            "{} {}: {} ({limit})\n",
            if result.breached { "BREACH" } else { "ok    " },
            result.guard,
            result.value,
        ));
    }
    out
}

pub fn json(results: &[GuardResult]) -> Value {
    json!({"guards": results, "breached": results.iter().any(|r| r.breached)})
}
