//! What a guard measures and how its value is judged: one definition, used by the
//! Argo `AnalysisTemplate`, the Flagger `MetricTemplate` and `modelops guard` alike.
//!
//! A guard's query gives one sample per series it watches, always a number:
//!
//! - the guard's value (a healthy candidate that never failed reads `0`, not an
//!   empty result: the error count defaults to zero with `or on() vector(0)`);
//! - `NaN` when the release served fewer than the guard's `min-samples` requests
//!   in the query's window, or when the query found nothing at all.
//!
//! The verdict over the samples: **breach** when any sample is outside the
//! threshold; else **inconclusive** when any sample is `NaN` (too little traffic to
//! judge — never a pass); else **pass**.
//!
//! Metrics contract for the built-in guards: the serving container exports
//! `modelops_requests_total{model,release,code}` and the histogram
//! `modelops_request_duration_seconds{model,release}` (`_bucket` with `le`).

use crate::model::{Guard, Threshold};
use crate::target::Deployment;

/// The window every built-in query looks back over.
pub const WINDOW: &str = "5m";

/// The requests a release must have served in the window before a built-in guard
/// judges it; fewer is inconclusive.
pub const DEFAULT_MIN_SAMPLES: u32 = 10;

/// What a guard's query is about: the release under watch and where it runs.
#[derive(Clone, Copy, Debug)]
pub struct QueryScope<'a> {
    pub model: &'a str,
    pub release: &'a str,
    pub namespace: &'a str,
    /// `canary`, `preview` or `stable`: the track whose release is watched.
    pub track: &'a str,
}

impl<'a> QueryScope<'a> {
    /// The scope of a deployment's guards: its candidate when it has one, else stable.
    pub fn of(d: &'a Deployment<'_>, release: &'a str) -> Self {
        QueryScope {
            model: &d.model.name,
            release,
            namespace: d.namespace(),
            track: candidate_track(d.deploy),
        }
    }
}

/// The track the guards watch in a deployment.
pub fn candidate_track(deploy: &crate::model::Deploy) -> &'static str {
    match deploy.candidate() {
        Some(crate::model::Candidate::Canary(_)) => "canary",
        Some(crate::model::Candidate::BlueGreen(_)) => "preview",
        None => "stable",
    }
}

/// Whether modelops knows the guard's query (the rules' list of built-in guards).
pub fn is_builtin(name: &str) -> bool {
    crate::rules::BUILTIN_GUARDS.contains(&name)
}

/// The built-in value query of a guard, for the series `selector` picks.
fn builtin_value(name: &str, selector: &str) -> Option<String> {
    match name {
        "error-rate" => Some(format!(
            "(sum(rate(modelops_requests_total{{{selector},code=~\"5..\"}}[{WINDOW}])) or on() vector(0)) / sum(rate(modelops_requests_total{{{selector}}}[{WINDOW}]))"
        )),
        name => name
            .strip_prefix("latency-p")
            .filter(|q| q.len() == 2 && q.bytes().all(|b| b.is_ascii_digit()))
            .map(|q| {
                format!(
                    "histogram_quantile(0.{q}, sum by (le) (rate(modelops_request_duration_seconds_bucket{{{selector}}}[{WINDOW}])))"
                )
            }),
    }
}

/// The minimum number of requests a guard needs in the window, if it has one:
/// built-in guards default to [`DEFAULT_MIN_SAMPLES`]; a custom query only counts
/// requests when its guard says `min-samples=`.
pub fn min_samples(guard: &Guard) -> Option<u32> {
    guard.min_samples.or_else(|| {
        (guard.query.is_none() && is_builtin(&guard.name)).then_some(DEFAULT_MIN_SAMPLES)
    })
}

/// The PromQL a guard evaluates, for the release under watch: its value, `NaN`
/// when too little traffic (or nothing) was measured.
pub fn guard_query(scope: &QueryScope<'_>, guard: &Guard) -> Option<String> {
    let selector = format!(
        "model=\"{}\",release=\"{}\"",
        promql_string(scope.model),
        promql_string(scope.release)
    );
    let value = match &guard.query {
        Some(query) => render_query(query, scope),
        None if is_builtin(&guard.name) => builtin_value(&guard.name, &selector)?,
        None => return None,
    };
    let gated = match min_samples(guard) {
        Some(n) => format!(
            "({value}) and on() (sum(increase(modelops_requests_total{{{selector}}}[{WINDOW}])) >= {n})"
        ),
        None => format!("({value})"),
    };
    Some(format!("{gated} or on() vector(NaN)"))
}

/// `text` as the inside of a double-quoted PromQL string.
fn promql_string(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Fills `{{model}}`, `{{release}}`, `{{namespace}}` and `{{track}}` in a user's
/// query. Handlebars, strict, no escaping (PromQL is not HTML); a query that does
/// not render is used as written (the rules report template problems).
fn render_query(query: &str, scope: &QueryScope<'_>) -> String {
    let vars = [
        ("model", scope.model),
        ("release", scope.release),
        ("namespace", scope.namespace),
        ("track", scope.track),
    ];
    crate::syntax::template::render_text(query, &vars, true).unwrap_or_else(|_| query.to_owned())
}

/// A guard's threshold as the number its query returns (durations in seconds).
pub fn threshold_value(threshold: Threshold) -> f64 {
    match threshold {
        Threshold::Number(n) => n,
        Threshold::Duration(d) => d.millis as f64 / 1000.0,
    }
}

/// What the samples of one guard say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Breach,
    /// Too little traffic (or no data) to judge: never a pass.
    Inconclusive,
}

/// Whether one sample is outside the guard's threshold (`NaN` never is).
pub fn breaches(guard: &Guard, value: f64) -> bool {
    guard.max.map(threshold_value).is_some_and(|m| value > m)
        || guard.min.map(threshold_value).is_some_and(|m| value < m)
}

/// The verdict over every sample of a guard's query.
pub fn verdict(guard: &Guard, samples: impl IntoIterator<Item = f64>) -> Verdict {
    let mut seen = false;
    let mut unknown = false;
    for value in samples {
        seen = true;
        if breaches(guard, value) {
            return Verdict::Breach;
        }
        unknown |= value.is_nan();
    }
    if unknown || !seen {
        Verdict::Inconclusive
    } else {
        Verdict::Pass
    }
}

/// The verdict as Argo Rollouts' expressions over `result` (the query's samples):
/// `(successCondition, failureCondition)`. A measurement meeting neither is
/// Inconclusive, which is how `NaN` reads.
pub fn argo_conditions(guard: &Guard) -> (String, String) {
    let mut within = Vec::new();
    let mut outside = Vec::new();
    if let Some(max) = guard.max.map(threshold_value) {
        within.push(format!("# <= {max}"));
        outside.push(format!("# > {max}"));
    }
    if let Some(min) = guard.min.map(threshold_value) {
        within.push(format!("# >= {min}"));
        outside.push(format!("# < {min}"));
    }
    let within = if within.is_empty() {
        "true".to_owned()
    } else {
        within.join(" && ")
    };
    let outside = if outside.is_empty() {
        "false".to_owned()
    } else {
        outside.join(" || ")
    };
    (
        format!("len(result) > 0 && all(result, {{!isNaN(#) && {within}}})"),
        format!("any(result, {{!isNaN(#) && ({outside})}})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(name: &str, max: f64) -> Guard {
        Guard {
            at: Default::default(),
            name: name.into(),
            max: Some(Threshold::Number(max)),
            min: None,
            query: None,
            interval: None,
            failures: None,
            min_samples: None,
        }
    }

    #[test]
    fn nan_is_inconclusive_and_a_breach_outranks_it() {
        let g = guard("error-rate", 0.02);
        assert_eq!(verdict(&g, [0.0]), Verdict::Pass);
        assert_eq!(verdict(&g, [f64::NAN]), Verdict::Inconclusive);
        assert_eq!(verdict(&g, []), Verdict::Inconclusive);
        assert_eq!(verdict(&g, [f64::NAN, 0.5]), Verdict::Breach);
        assert_eq!(verdict(&g, [0.01, 0.03]), Verdict::Breach);
    }

    #[test]
    fn every_query_falls_back_to_nan_never_to_nothing() {
        let scope = QueryScope {
            model: "m",
            release: "1.0.0",
            namespace: "ns",
            track: "canary",
        };
        for name in ["error-rate", "latency-p99", "latency-p50"] {
            let q = guard_query(&scope, &guard(name, 1.0)).unwrap_or_default();
            assert!(q.ends_with(" or on() vector(NaN)"), "{q}");
            assert!(q.contains(">= 10)"), "{q}");
        }
        let mut custom = guard("rude-rate", 0.1);
        custom.query = Some("sum(rate(x{app=\"{{model}}\"}[5m]))".into());
        let q = guard_query(&scope, &custom).unwrap_or_default();
        assert_eq!(q, "(sum(rate(x{app=\"m\"}[5m]))) or on() vector(NaN)");
        assert!(guard_query(&scope, &guard("latency-p999", 1.0)).is_none());
    }
}
