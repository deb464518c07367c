//! `modelops gate`: compares a candidate's per-item evaluation scores with the
//! baseline's (production) on the same dataset and judge, and fails when the
//! candidate's mean regresses by more than the allowed relative amount.
//!
//! Score files are JSON arrays or JSON Lines of `{"id": …, "score": …}` (ids are
//! strings or integers; other fields are ignored). Items are paired by id; a file
//! that is empty, has a duplicate id, a score that is not a number, or ids the other
//! file lacks is refused with an error naming it (exit 2), never half-compared.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde_json::{Value, json};

use crate::model::{Better, Regression};

/// Why scores cannot be compared (exit code 2).
#[derive(Debug, PartialEq)]
pub enum GateError {
    Read {
        path: String,
        message: String,
    },
    Parse {
        path: String,
        line: usize,
        message: String,
    },
    Empty {
        path: String,
    },
    Duplicate {
        path: String,
        id: String,
    },
    NotNumeric {
        path: String,
        line: usize,
        id: String,
    },
    Mismatch {
        only_baseline: Vec<String>,
        only_candidate: Vec<String>,
    },
}

impl fmt::Display for GateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let few = |ids: &[String]| {
            let shown: Vec<&str> = ids.iter().take(5).map(String::as_str).collect();
            let more = if ids.len() > 5 {
                format!(" and {} more", ids.len() - 5)
            } else {
                String::new()
            };
            format!("{}{more}", shown.join(", "))
        };
        match self {
            GateError::Read { path, message } => write!(f, "cannot read `{path}`: {message}"),
            GateError::Parse {
                path,
                line,
                message,
            } => write!(f, "`{path}` line {line}: {message}"),
            GateError::Empty { path } => write!(f, "`{path}` has no scores"),
            GateError::Duplicate { path, id } => write!(f, "`{path}` scores item `{id}` twice"),
            GateError::NotNumeric { path, line, id } => {
                write!(
                    f,
                    "`{path}` line {line}: the score of item `{id}` is not a number"
                )
            }
            GateError::Mismatch {
                only_baseline,
                only_candidate,
            } => {
                write!(f, "the score files cover different items")?;
                if !only_baseline.is_empty() {
                    write!(f, "; only in the baseline: {}", few(only_baseline))?;
                }
                if !only_candidate.is_empty() {
                    write!(f, "; only in the candidate: {}", few(only_candidate))?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for GateError {}

/// Per-item scores of one run, by item id.
pub type Scores = BTreeMap<String, f64>;

fn item(path: &str, line: usize, value: &Value) -> Result<(String, f64), GateError> {
    let parse = |message: &str| GateError::Parse {
        path: path.to_owned(),
        line,
        message: message.to_owned(),
    };
    let object = value
        .as_object()
        .ok_or_else(|| parse("expected an object with `id` and `score`"))?;
    let id = match object.get("id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(parse("`id` must be a string or an integer")),
    };
    let score = object
        .get("score")
        .and_then(Value::as_f64)
        .filter(|s| s.is_finite())
        .ok_or_else(|| GateError::NotNumeric {
            path: path.to_owned(),
            line,
            id: id.clone(),
        })?;
    Ok((id, score))
}

/// Reads a score file (JSON array or JSON Lines).
pub fn parse_scores(path: &str, text: &str) -> Result<Scores, GateError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut items: Vec<(usize, Value)> = Vec::new();
    if text.trim_start().starts_with('[') {
        let value: Value = serde_json::from_str(text).map_err(|e| GateError::Parse {
            path: path.to_owned(),
            line: e.line(),
            message: e.to_string(),
        })?;
        // Line numbers of array items are not tracked; report the item's position.
        if let Value::Array(values) = value {
            items.extend(values.into_iter().enumerate().map(|(i, v)| (i + 1, v)));
        }
    } else {
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(line).map_err(|e| GateError::Parse {
                path: path.to_owned(),
                line: index + 1,
                message: e.to_string(),
            })?;
            items.push((index + 1, value));
        }
    }
    let mut scores = Scores::new();
    for (line, value) in items {
        let (id, score) = item(path, line, &value)?;
        if scores.insert(id.clone(), score).is_some() {
            return Err(GateError::Duplicate {
                path: path.to_owned(),
                id,
            });
        }
    }
    if scores.is_empty() {
        return Err(GateError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(scores)
}

pub use crate::layout::MAX_SCORES_BYTES;

/// Reads a score file from disk.
pub fn read_scores(path: &Path) -> Result<Scores, GateError> {
    let shown = path.display().to_string();
    let text = super::read_bounded(path, MAX_SCORES_BYTES).map_err(|e| GateError::Read {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    parse_scores(&shown, &text)
}

/// One item that got worse.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Worsened {
    pub id: String,
    pub baseline: f64,
    pub candidate: f64,
}

/// The verdict of a gate.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct GateReport {
    pub items: usize,
    pub baseline_mean: f64,
    pub candidate_mean: f64,
    /// candidate mean − baseline mean.
    pub absolute_change: f64,
    /// The change relative to the baseline mean, signed (+ is an improvement).
    pub relative_change: f64,
    /// How much worse the candidate is, relative to the baseline (0 when better).
    pub regression: f64,
    pub max_regression: f64,
    pub better: &'static str,
    pub passed: bool,
    /// The items that got worse, worst first (at most ten).
    pub worst: Vec<Worsened>,
}

/// The mean of finite scores, summed as fractions of the count so that no partial
/// sum overflows (1e308 twice averages to 1e308, not to infinity).
fn mean(scores: &Scores) -> f64 {
    let n = scores.len() as f64;
    scores.values().map(|x| x / n).sum::<f64>()
}

/// Compares candidate with baseline.
pub fn evaluate(
    baseline: &Scores,
    candidate: &Scores,
    max_regression: Regression,
    better: Better,
) -> Result<GateReport, GateError> {
    let only_baseline: Vec<String> = baseline
        .keys()
        .filter(|k| !candidate.contains_key(*k))
        .cloned()
        .collect();
    let only_candidate: Vec<String> = candidate
        .keys()
        .filter(|k| !baseline.contains_key(*k))
        .cloned()
        .collect();
    if !only_baseline.is_empty() || !only_candidate.is_empty() {
        return Err(GateError::Mismatch {
            only_baseline,
            only_candidate,
        });
    }
    let (base, cand) = (mean(baseline), mean(candidate));
    let sign = match better {
        Better::Higher => 1.0,
        Better::Lower => -1.0,
    };
    // Improvement relative to the baseline; with a zero baseline any worsening is
    // an unbounded regression and no change is none.
    let relative = if base != 0.0 {
        sign * (cand - base) / base.abs()
    } else if cand == base {
        0.0
    } else {
        sign * (cand - base).signum() * f64::INFINITY
    };
    let regression = (-relative).max(0.0);
    let mut worst: Vec<Worsened> = baseline
        .iter()
        .filter_map(|(id, b)| {
            let c = candidate.get(id)?;
            (sign * (c - b) < 0.0).then(|| Worsened {
                id: id.clone(),
                baseline: *b,
                candidate: *c,
            })
        })
        .collect();
    worst.sort_by(|a, b| {
        let drop = |w: &Worsened| sign * (w.baseline - w.candidate);
        drop(b).total_cmp(&drop(a)).then_with(|| a.id.cmp(&b.id))
    });
    worst.truncate(10);
    Ok(GateReport {
        items: baseline.len(),
        baseline_mean: base,
        candidate_mean: cand,
        absolute_change: cand - base,
        relative_change: relative,
        regression,
        max_regression: max_regression.fraction,
        better: match better {
            Better::Higher => "higher",
            Better::Lower => "lower",
        },
        // A small tolerance so "exactly at the limit" passes despite float rounding;
        // anything that is not a number fails.
        passed: base.is_finite()
            && cand.is_finite()
            && !relative.is_nan()
            && regression <= max_regression.fraction + 1e-12,
        worst,
    })
}

impl GateReport {
    /// The report for people.
    pub fn human(&self) -> String {
        let pct = |f: f64| {
            if f.is_finite() {
                format!("{:+.3}%", f * 100.0)
            } else {
                format!("{}∞", if f > 0.0 { "+" } else { "-" })
            }
        };
        let mut out = format!(
            "{verdict}: candidate mean {c:.6} vs baseline {b:.6} over {n} items ({better} is better)\n  change: {abs:+.6} absolute, {rel} relative; allowed regression {max:.3}%\n",
            verdict = if self.passed {
                "gate passed"
            } else {
                "gate FAILED"
            },
            c = self.candidate_mean,
            b = self.baseline_mean,
            n = self.items,
            better = self.better,
            abs = self.absolute_change,
            rel = pct(self.relative_change),
            max = self.max_regression * 100.0,
        );
        if !self.worst.is_empty() {
            out.push_str("  items that got worse (worst first):\n");
            for w in &self.worst {
                out.push_str(&format!("    {}: {} → {}\n", w.id, w.baseline, w.candidate));
            }
        }
        out
    }

    pub fn json(&self) -> Value {
        json!(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(pairs: &[(&str, f64)]) -> Scores {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn fails_beyond_the_allowed_relative_drop() {
        let base = scores(&[("a", 0.9), ("b", 0.8)]);
        let one = Regression::parse("1%").unwrap();
        let slightly = scores(&[("a", 0.895), ("b", 0.8)]);
        assert!(
            evaluate(&base, &slightly, one, Better::Higher)
                .unwrap()
                .passed
        );
        let worse = scores(&[("a", 0.8), ("b", 0.8)]);
        let report = evaluate(&base, &worse, one, Better::Higher).unwrap();
        assert!(!report.passed);
        assert_eq!(report.worst[0].id, "a");
        // Lower is better: a higher cost is the regression.
        let cost = scores(&[("a", 1.0), ("b", 1.0)]);
        let pricier = scores(&[("a", 1.1), ("b", 1.0)]);
        assert!(
            !evaluate(&cost, &pricier, one, Better::Lower)
                .unwrap()
                .passed
        );
        assert!(
            evaluate(&pricier, &cost, one, Better::Lower)
                .unwrap()
                .passed
        );
    }

    #[test]
    fn huge_scores_neither_overflow_nor_pass_as_nan() {
        let big = scores(&[("a", 1e308), ("b", 1e308)]);
        let report =
            evaluate(&big, &big, Regression::parse("0%").unwrap(), Better::Higher).unwrap();
        assert_eq!(report.baseline_mean, 1e308);
        assert!(report.passed);
        let worse = scores(&[("a", -1e308), ("b", -1e308)]);
        let report = evaluate(
            &big,
            &worse,
            Regression::parse("50%").unwrap(),
            Better::Higher,
        )
        .unwrap();
        assert!(!report.passed, "{report:?}");
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let parsed = parse_scores("s.jsonl", "\u{feff}{\"id\": 1, \"score\": 0.5}\n").unwrap();
        assert_eq!(parsed.get("1"), Some(&0.5));
    }

    #[test]
    fn refuses_what_cannot_be_compared() {
        assert_eq!(
            parse_scores("f", ""),
            Err(GateError::Empty { path: "f".into() })
        );
        assert!(matches!(
            parse_scores("f", "{\"id\":1,\"score\":1}\n{\"id\":1,\"score\":2}"),
            Err(GateError::Duplicate { .. })
        ));
        assert!(matches!(
            parse_scores("f", "{\"id\":\"x\",\"score\":\"high\"}"),
            Err(GateError::NotNumeric { line: 1, .. })
        ));
        assert!(matches!(
            parse_scores("f", "[{\"id\": \"a\", \"score\": 1}, 7]"),
            Err(GateError::Parse { line: 2, .. })
        ));
        let a = scores(&[("a", 1.0)]);
        let b = scores(&[("b", 1.0)]);
        assert!(matches!(
            evaluate(&a, &b, Regression::parse("1%").unwrap(), Better::Higher),
            Err(GateError::Mismatch { .. })
        ));
    }
}
