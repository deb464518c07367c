//! `modelops guard`: evaluates a deployment's guards — against a metrics snapshot
//! (`{"guard-name": value}`) or a Prometheus server's instant-query API with the same
//! PromQL the Argo `AnalysisTemplate` and the Flagger `MetricTemplate` use — and
//! reports each guard's value, threshold and verdict ([`crate::target::guards`]).
//! A breach fails (exit 1); so does an inconclusive guard (too little traffic, or no
//! data: never a pass). An unreachable server or a refused query is an error
//! (exit 2).

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::model::{Guard, NameMap, Threshold};
use crate::target::guards::{QueryScope, Verdict, guard_query, threshold_value};

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
    /// The labels of the series the value is from, when the query gave several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    pub max: Option<f64>,
    pub min: Option<f64>,
    pub verdict: Verdict,
    pub breached: bool,
}

/// A guard's value in a snapshot; `null` says there was no data (inconclusive).
fn snapshot_value(name: &str, values: &BTreeMap<String, Value>) -> Result<f64, GuardError> {
    match values.get(name) {
        Some(Value::Null) => Ok(f64::NAN),
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

/// The reply of Prometheus' instant-query API (`/api/v1/query`).
#[derive(serde::Deserialize)]
struct Reply {
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    data: Option<ReplyData>,
}

#[derive(serde::Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum ReplyData {
    Vector(Vec<Series>),
    Scalar((f64, String)),
    Matrix(serde::de::IgnoredAny),
    String(serde::de::IgnoredAny),
}

#[derive(serde::Deserialize)]
struct Series {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

/// One series' value, with the labels that name it.
struct Sample {
    labels: String,
    value: f64,
}

/// Every sample of the query's result, `NaN` included (too little traffic, which
/// the verdict reads as inconclusive); an empty result is no samples.
fn prometheus_samples(
    url: &crate::runtime::http::Url,
    query: &str,
    guard: &str,
    deadline: Instant,
) -> Result<Vec<Sample>, GuardError> {
    let address = url.join(&format!(
        "/api/v1/query?query={}",
        crate::runtime::http::encode(query)
    ));
    let mut limits = crate::runtime::http::Limits::default();
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(GuardError(format!(
            "the guards took longer than {} s in all; guard `{guard}` was not read",
            OVERALL.as_secs()
        )));
    }
    limits.overall = limits.overall.min(left);
    let response = crate::runtime::http::get(&address, "application/json", &limits)
        .map_err(|e| GuardError(format!("Prometheus at {url} cannot be reached: {e}")))?;
    let status = response.status;
    let reply: Reply = match serde_json::from_slice(&response.body) {
        Ok(reply) => reply,
        Err(e) if response.is_success() => {
            return Err(GuardError(format!(
                "Prometheus at {url} answered {status} with something that is not its query API's JSON: {e}"
            )));
        }
        Err(_) => {
            return Err(GuardError(format!(
                "Prometheus at {url} answered {status}: {}",
                response.excerpt()
            )));
        }
    };
    if reply.status != "success" || !response.is_success() {
        return Err(GuardError(format!(
            "Prometheus refused the query of guard `{guard}` ({status}{}): {}",
            reply
                .error_type
                .as_deref()
                .map(|t| format!(", {t}"))
                .unwrap_or_default(),
            reply.error.as_deref().unwrap_or("no error message")
        )));
    }
    let samples: Vec<Sample> = match reply.data {
        Some(ReplyData::Vector(series)) => series
            .into_iter()
            .map(|s| {
                let labels = s
                    .metric
                    .iter()
                    .map(|(k, v)| format!("{k}={v:?}"))
                    .collect::<Vec<_>>()
                    .join(",");
                (format!("{{{labels}}}"), s.value.1)
            })
            .map(|(labels, text)| sample(guard, query, labels, &text))
            .collect::<Result<_, _>>()?,
        Some(ReplyData::Scalar((_, text))) => vec![sample(guard, query, String::new(), &text)?],
        Some(ReplyData::Matrix(_) | ReplyData::String(_)) | None => {
            return Err(GuardError(format!(
                "the query of guard `{guard}` does not give an instant vector or a scalar (query: {query})"
            )));
        }
    };
    Ok(samples)
}

fn sample(guard: &str, query: &str, labels: String, text: &str) -> Result<Sample, GuardError> {
    // Prometheus writes `NaN`, `+Inf` and `-Inf`, which Rust's parser reads.
    let value: f64 = text.parse().map_err(|_| {
        GuardError(format!(
            "Prometheus gave `{text}` for guard `{guard}`, which is not a number (query: {query})"
        ))
    })?;
    Ok(Sample { labels, value })
}

/// How long all the guards of one run may take together.
pub const OVERALL: Duration = Duration::from_secs(60);

pub use crate::layout::MAX_SNAPSHOT_BYTES;

/// Reads a metrics snapshot: a JSON object from guard name to value (a number, or a
/// duration string). A leading UTF-8 byte-order mark is skipped; a name given twice
/// is an error, since either value could be the one meant.
pub fn parse_snapshot(text: &str) -> Result<BTreeMap<String, Value>, String> {
    struct Strict(BTreeMap<String, Value>);
    impl<'de> serde::Deserialize<'de> for Strict {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visit;
            impl<'de> serde::de::Visitor<'de> for Visit {
                type Value = Strict;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a JSON object from guard name to value")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Strict, A::Error> {
                    let mut out = BTreeMap::new();
                    while let Some((key, value)) = map.next_entry::<String, Value>()? {
                        if out.contains_key(&key) {
                            return Err(serde::de::Error::custom(format!(
                                "`{key}` is given more than once"
                            )));
                        }
                        out.insert(key, value);
                    }
                    Ok(Strict(out))
                }
            }
            d.deserialize_map(Visit)
        }
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    serde_json::from_str::<Strict>(text)
        .map(|s| s.0)
        .map_err(|e| e.to_string())
}

/// Evaluates `guards` for the release `scope` describes.
pub fn evaluate(
    scope: &QueryScope<'_>,
    guards: &NameMap<Guard>,
    source: &MetricSource,
) -> Result<Vec<GuardResult>, GuardError> {
    let deadline = Instant::now() + OVERALL;
    let mut results = Vec::new();
    for guard in guards.values() {
        let query = guard_query(scope, guard);
        let max = guard.max.map(threshold_value);
        let min = guard.min.map(threshold_value);
        let samples = match source {
            MetricSource::Snapshot(values) => vec![Sample {
                labels: String::new(),
                value: snapshot_value(&guard.name, values)?,
            }],
            MetricSource::Prometheus(url) => {
                let text = query.as_deref().ok_or_else(|| {
                    GuardError(format!(
                        "guard `{}` has no query to send to Prometheus",
                        guard.name
                    ))
                })?;
                prometheus_samples(url, text, &guard.name, deadline)?
            }
        };
        let verdict = crate::target::guards::verdict(guard, samples.iter().map(|s| s.value));
        // The sample that stands for the guard: a breaching one, else one without
        // data, else the one closest to its threshold.
        let worst = samples
            .iter()
            .find(|s| crate::target::guards::breaches(guard, s.value))
            .or_else(|| samples.iter().find(|s| s.value.is_nan()))
            .or_else(|| {
                samples.iter().max_by(|a, b| {
                    let (a, b) = if max.is_some() || min.is_none() {
                        (a.value, b.value)
                    } else {
                        (-a.value, -b.value)
                    };
                    a.total_cmp(&b)
                })
            });
        results.push(GuardResult {
            guard: guard.name.clone(),
            query,
            value: worst.map_or(f64::NAN, |s| s.value),
            series: worst
                .map(|s| s.labels.clone())
                .filter(|l| !l.is_empty() && samples.len() > 1),
            max,
            min,
            verdict,
            breached: verdict == Verdict::Breach,
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
        let series = result
            .series
            .as_deref()
            .map(|labels| format!(", worst series {labels}"))
            .unwrap_or_default();
        let (mark, value) = match result.verdict {
            Verdict::Pass => ("ok          ", result.value.to_string()),
            Verdict::Breach => ("BREACH      ", result.value.to_string()),
            Verdict::Inconclusive => ("INCONCLUSIVE", "no data".to_owned()),
        };
        out.push_str(&format!(
            "{mark} {}: {value} ({limit}{series})\n",
            result.guard
        ));
    }
    out
}

pub fn json(results: &[GuardResult]) -> Value {
    json!({
        "guards": results,
        "breached": results.iter().any(|r| r.breached),
        "inconclusive": results.iter().any(|r| r.verdict == Verdict::Inconclusive),
    })
}

/// How `guard --watch` polls: every `interval` from the start (the first poll at
/// once), and a last time when `duration` has passed.
#[derive(Clone, Copy, Debug)]
pub struct Watch {
    pub duration: Duration,
    pub interval: Duration,
}

impl Watch {
    /// The analysis interval of a deployment's guards: the shortest guard interval.
    pub fn interval_of(guards: &NameMap<Guard>) -> Duration {
        let millis = guards
            .values()
            .map(|g| g.interval().millis)
            .min()
            .unwrap_or(Guard::DEFAULT_INTERVAL.millis);
        Duration::from_millis(millis.max(1))
    }
}

/// The most polls in a row that may fail (Prometheus unreachable, a refused
/// query) before a watch gives up.
pub const MAX_POLL_ERRORS: u32 = 3;

/// One guard's run of breaches during a watch.
#[derive(Clone, Debug)]
pub struct Streak {
    pub guard: String,
    /// Breaching polls in a row, up to and including the last.
    pub breaches: u32,
    /// The guard's `failures`: breaching polls in a row that fail it.
    pub limit: u32,
}

/// One poll of a watch, as it is reported.
pub struct Poll<'a> {
    /// When the poll ran, from the start of the watch.
    pub offset: Duration,
    pub outcome: Result<&'a [GuardResult], &'a GuardError>,
    pub streaks: &'a [Streak],
    /// Failed polls in a row, this one included.
    pub errors: u32,
}

/// How a watch ended.
#[derive(Debug)]
pub enum WatchEnd {
    /// Every poll ran: the readings of the last poll that succeeded, and the
    /// streaks after it (a breach shorter than its guard's `failures` is allowed).
    Ran {
        results: Vec<GuardResult>,
        streaks: Vec<Streak>,
    },
    /// A guard breached `failures` polls in a row: the readings of that poll and
    /// the guards that reached their limit.
    Breached {
        results: Vec<GuardResult>,
        guards: Vec<String>,
    },
    /// More than [`MAX_POLL_ERRORS`] polls in a row failed, or none succeeded.
    Failed(GuardError),
}

/// Polls `guards` as `watch` says until the duration has passed, a guard has
/// breached `failures` polls in a row, or the polls keep failing; `on_poll` hears
/// of every poll.
pub fn watch(
    scope: &QueryScope<'_>,
    guards: &NameMap<Guard>,
    source: &MetricSource,
    watch: Watch,
    on_poll: &mut dyn FnMut(&Poll<'_>),
) -> WatchEnd {
    let interval = watch.interval.max(Duration::from_millis(1));
    let mut streaks: Vec<Streak> = guards
        .values()
        .map(|g| Streak {
            guard: g.name.clone(),
            breaches: 0,
            limit: g.failures().max(1),
        })
        .collect();
    let mut last: Option<Vec<GuardResult>> = None;
    let mut last_error: Option<GuardError> = None;
    let mut errors = 0u32;
    let start = Instant::now();
    let mut next = Duration::ZERO;
    loop {
        let now = start.elapsed();
        if next > now {
            std::thread::sleep(next - now);
        }
        let offset = start.elapsed();
        match evaluate(scope, guards, source) {
            Ok(results) => {
                errors = 0;
                for streak in &mut streaks {
                    let breached = results
                        .iter()
                        .any(|r| r.guard == streak.guard && r.breached);
                    streak.breaches = if breached { streak.breaches + 1 } else { 0 };
                }
                on_poll(&Poll {
                    offset,
                    outcome: Ok(&results),
                    streaks: &streaks,
                    errors,
                });
                let failed: Vec<String> = streaks
                    .iter()
                    .filter(|s| s.breaches >= s.limit)
                    .map(|s| s.guard.clone())
                    .collect();
                if !failed.is_empty() {
                    return WatchEnd::Breached {
                        results,
                        guards: failed,
                    };
                }
                last = Some(results);
            }
            Err(error) => {
                errors += 1;
                on_poll(&Poll {
                    offset,
                    outcome: Err(&error),
                    streaks: &streaks,
                    errors,
                });
                if errors > MAX_POLL_ERRORS {
                    return WatchEnd::Failed(GuardError(format!(
                        "{errors} polls in a row failed; the last: {error}"
                    )));
                }
                last_error = Some(error);
            }
        }
        if next >= watch.duration {
            break;
        }
        // The next tick of the interval after now (ticks a slow poll ran over are
        // skipped), or the end of the watch.
        let elapsed = start.elapsed().as_millis();
        let step = interval.as_millis().max(1);
        let tick = (elapsed / step + 1).saturating_mul(step);
        next = Duration::from_millis(u64::try_from(tick).unwrap_or(u64::MAX)).min(watch.duration);
    }
    match last {
        Some(results) => WatchEnd::Ran { results, streaks },
        None => WatchEnd::Failed(GuardError(format!(
            "no poll of the watch succeeded; the last: {}",
            last_error.map(|e| e.0).unwrap_or_default()
        ))),
    }
}

/// One line for people about a poll: its time and each guard's value and verdict.
pub fn progress(poll: &Poll<'_>) -> String {
    // Whole seconds past ten seconds, tenths of one before.
    let millis = u64::try_from(poll.offset.as_millis()).unwrap_or(u64::MAX);
    let grain = if millis >= 10_000 { 1000 } else { 100 };
    let at = crate::model::Duration::from_millis(millis - millis % grain);
    match poll.outcome {
        Ok(results) => {
            let guards: Vec<String> = results
                .iter()
                .map(|r| {
                    let streak = poll
                        .streaks
                        .iter()
                        .find(|s| s.guard == r.guard)
                        .filter(|s| s.breaches > 0)
                        .map(|s| format!(" {}/{}", s.breaches, s.limit))
                        .unwrap_or_default();
                    match r.verdict {
                        Verdict::Pass => format!("{} {} ok", r.guard, r.value),
                        Verdict::Breach => format!("{} {} BREACH{streak}", r.guard, r.value),
                        Verdict::Inconclusive => format!("{} no data INCONCLUSIVE", r.guard),
                    }
                })
                .collect();
            format!("watch +{at}: {}", guards.join(", "))
        }
        Err(error) => format!(
            "watch +{at}: poll failed ({} in a row; {} in a row end the watch): {error}",
            poll.errors,
            MAX_POLL_ERRORS + 1
        ),
    }
}
