//! Hyperparameter ranges and names.

use serde_json::Value;

use crate::diag::{Code, Diagnostic, did_you_mean};
use crate::model::At;
use crate::rules::Context;

/// A known parameter: what it accepts, in words and as a test.
struct Requirement {
    name: &'static str,
    expected: &'static str,
    accepts: fn(&Value) -> bool,
}

fn number_in(value: &Value, low: f64, high: f64) -> bool {
    value.as_f64().is_some_and(|v| v >= low && v <= high)
}

fn integer_at_least_one(value: &Value) -> bool {
    value.as_i64().is_some_and(|v| v >= 1)
}

const PARAMS: &[Requirement] = &[
    Requirement {
        name: "temperature",
        expected: "a number from 0 to 2",
        accepts: |v| number_in(v, 0.0, 2.0),
    },
    Requirement {
        name: "top-p",
        expected: "a number more than 0 and at most 1",
        accepts: |v| v.as_f64().is_some_and(|v| v > 0.0 && v <= 1.0),
    },
    Requirement {
        name: "top-k",
        expected: "an integer of at least 1",
        accepts: integer_at_least_one,
    },
    Requirement {
        name: "max-tokens",
        expected: "an integer of at least 1",
        accepts: integer_at_least_one,
    },
    Requirement {
        name: "presence-penalty",
        expected: "a number from -2 to 2",
        accepts: |v| number_in(v, -2.0, 2.0),
    },
    Requirement {
        name: "frequency-penalty",
        expected: "a number from -2 to 2",
        accepts: |v| number_in(v, -2.0, 2.0),
    },
    Requirement {
        name: "seed",
        expected: "an integer",
        accepts: |v| v.is_i64() || v.is_u64(),
    },
    Requirement {
        name: "stop",
        expected: "a string, or at most 4 strings",
        accepts: |v| match v {
            Value::String(_) => true,
            Value::Array(items) => items.len() <= 4 && items.iter().all(Value::is_string),
            _ => false,
        },
    },
];

/// The names of the parameters modelops knows.
pub fn known_params() -> impl Iterator<Item = &'static str> {
    PARAMS.iter().map(|p| p.name)
}

pub fn check(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    for model in &cx.models {
        for release in model.release.values() {
            let params_at = At {
                file: release.at.file,
                ptr: release.at.child("params").as_str().to_owned(),
            };
            for (name, value) in &release.params {
                check_param(cx, &params_at, name, value, out);
            }
        }
    }
}

fn check_param(
    cx: &Context<'_>,
    params_at: &At,
    name: &str,
    value: &Value,
    out: &mut Vec<Diagnostic>,
) {
    match PARAMS.iter().find(|p| p.name == name) {
        Some(requirement) if (requirement.accepts)(value) => {}
        Some(requirement) => out.push(
            Diagnostic::new(
                Code::ParamOutOfRange,
                format!(
                    "`{name}` is {}, which is not {}",
                    show(value),
                    requirement.expected
                ),
            )
            .with_label(
                cx.spans.field(params_at, name),
                format!("expected {}", requirement.expected),
            )
            .with_help(format!("set `{name}` to {}", requirement.expected)),
        ),
        None => {
            let help = match did_you_mean(name, known_params()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "known parameters: {}",
                    known_params().collect::<Vec<_>>().join(", ")
                ),
            };
            out.push(
                Diagnostic::new(Code::UnknownParam, format!("unknown parameter `{name}`"))
                    .with_label(
                        cx.spans.field_name(params_at, name),
                        "not a parameter modelops knows",
                    )
                    .with_help(help)
                    .with_note(
                        "unknown parameters are still passed to the serving container as written",
                    ),
            );
        }
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("\"{s}\""),
        Value::Array(items) => format!("{} values", items.len()),
        other => other.to_string(),
    }
}
