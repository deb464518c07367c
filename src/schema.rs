//! The JSON Schema of the language, and validation of a file's JSON view against it.
//!
//! `schema/modelops.schema.json` is the machine-readable truth of the language; it is
//! compiled into the binary. Every schema error is mapped back through the view's span
//! table to the exact KDL node, argument or property, with a message written for
//! people (the schema's own `description`s supply the "expected …" wording).

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{ValidationError, Validator};
use serde_json::{Value, json};

use crate::diag::{Code, Diagnostic, did_you_mean};
use crate::syntax::{KEYED_NODES, Origin, Pointer, SpanTable, View};

/// The schema text, as shipped in `schema/modelops.schema.json`.
pub const SCHEMA_TEXT: &str = include_str!("../schema/modelops.schema.json");

pub use crate::syntax::FileKind;

/// Where a file's view sits in the repository-wide view the root schema describes.
fn wrap(kind: FileKind, view: &Value) -> (Value, &'static str) {
    match kind {
        FileKind::Project => (json!({ "project": view }), "/project"),
        FileKind::Model => (json!({ "models": { "m": view } }), "/models/m"),
    }
}

struct Compiled {
    /// The schema document (for resolving schema paths in errors).
    document: Value,
    validator: Validator,
}

/// The root schema, compiled once per process (compiling is most of a small check's
/// cost, so one validator serves both file kinds).
fn compiled() -> Result<&'static Compiled, String> {
    static COMPILED: OnceLock<Result<Compiled, String>> = OnceLock::new();
    COMPILED.get_or_init(compile).as_ref().map_err(Clone::clone)
}

fn compile() -> Result<Compiled, String> {
    let document: Value = serde_json::from_str(SCHEMA_TEXT).map_err(|e| e.to_string())?;
    // The schema's patterns use no lookaround, so the plain `regex` engine does; it
    // compiles them several times faster than the default backtracking engine, and
    // compiling is most of the cost of checking a small repository.
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .with_pattern_options(jsonschema::PatternOptions::regex())
        .build(&document)
        .map_err(|e| e.to_string())?;
    Ok(Compiled {
        document,
        validator,
    })
}

/// Validates a view; returns one diagnostic per schema error, at its source span.
pub fn validate(view: &View, kind: FileKind) -> Vec<Diagnostic> {
    let compiled = match compiled() {
        Ok(compiled) => compiled,
        Err(message) => {
            // The schema is compiled into the binary and tested; this cannot be the
            // user's fault, so say so rather than blame their file.
            return vec![
                Diagnostic::new(
                    Code::InvalidValue,
                    format!("internal error: the built-in schema does not compile: {message}"),
                )
                .with_label(view.spans.value_or_ancestor(&Pointer::root()), "")
                .with_help("please report this as a bug in modelops"),
            ];
        }
    };
    let (wrapped, prefix) = wrap(kind, &view.value);
    compiled
        .validator
        .iter_errors(&wrapped)
        .filter(|error| !dropped_required(error, prefix, &view.dropped))
        .flat_map(|error| describe(&error, prefix, &view.spans, &compiled.document))
        .collect()
}

/// A required value the lowering dropped from a malformed node (`stable` without
/// its value): its error is reported there, not again as missing.
fn dropped_required(error: &ValidationError<'_>, prefix: &str, dropped: &[Pointer]) -> bool {
    let ValidationErrorKind::Required { property } = error.kind() else {
        return false;
    };
    let path = error.instance_path().as_str();
    let parent = Pointer::from_escaped(path.strip_prefix(prefix).unwrap_or(path));
    let property = property.as_str().unwrap_or_default();
    dropped
        .iter()
        .any(|pointer| pointer.as_str() == parent.push(property).as_str())
}

/// Where each schema error of a file's view is: the failing value's pointer, or
/// for an unknown key the key's own pointer with `true`. `None` when the schema does
/// not compile (which the tests rule out).
pub fn error_locations(view: &Value, kind: FileKind) -> Option<Vec<(Pointer, bool)>> {
    // The dropped values of malformed nodes are the caller's to add.
    let compiled = compiled().ok()?;
    let (wrapped, prefix) = wrap(kind, view);
    let mut locations = Vec::new();
    for error in compiled.validator.iter_errors(&wrapped) {
        let path = error.instance_path().as_str();
        let pointer = Pointer::from_escaped(path.strip_prefix(prefix).unwrap_or(path));
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                locations.extend(unexpected.iter().map(|name| (pointer.push(name), true)));
            }
            _ => locations.push((pointer, false)),
        }
    }
    Some(locations)
}

/// The schema node a schema path points at, following the document (not `$ref`s:
/// jsonschema reports canonical locations).
fn schema_at<'a>(document: &'a Value, path: &str) -> Option<&'a Value> {
    document.pointer(path)
}

/// The `description` of the schema object holding the failing keyword.
fn description_of(document: &Value, schema_path: &str) -> Option<String> {
    let parent = schema_path.rsplit_once('/').map(|(p, _)| p)?;
    let node = schema_at(document, parent)?;
    resolve_description(document, node, 0)
}

fn resolve_description(document: &Value, node: &Value, depth: usize) -> Option<String> {
    if let Some(text) = node.get("description").and_then(Value::as_str) {
        return Some(text.to_owned());
    }
    let reference = node.get("$ref").and_then(Value::as_str)?;
    let target = schema_at(document, reference.strip_prefix('#')?)?;
    (depth < 8).then(|| resolve_description(document, target, depth + 1))?
}

fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "#null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "several values",
        Value::Object(_) => "a block of properties or children",
    }
}

fn expected_type(kind: &TypeKind) -> String {
    let name = |t: &jsonschema::JsonType| match t.to_string().as_str() {
        "integer" => "an integer".to_owned(),
        "number" => "a number".to_owned(),
        "string" => "a string".to_owned(),
        "boolean" => "#true or #false".to_owned(),
        "array" => "a list of values".to_owned(),
        "object" => "a block".to_owned(),
        "null" => "#null".to_owned(),
        other => other.to_owned(),
    };
    match kind {
        TypeKind::Single(t) => name(t),
        TypeKind::Multiple(set) => {
            let names: Vec<String> = set.iter().map(|t| name(&t)).collect();
            names.join(" or ")
        }
    }
}

fn short(value: &Value) -> String {
    let text = match value {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    };
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

fn field_name(pointer: &Pointer) -> String {
    pointer.last().unwrap_or_else(|| "the file".to_owned())
}

fn describe(
    error: &ValidationError<'_>,
    prefix: &str,
    spans: &SpanTable,
    document: &Value,
) -> Vec<Diagnostic> {
    let path = error.instance_path().as_str();
    let pointer = Pointer::from_escaped(path.strip_prefix(prefix).unwrap_or(path));
    let schema_path = error.schema_path().as_str();
    let expected = description_of(document, schema_path);
    let value_span = spans.value_or_ancestor(&pointer);
    let field = field_name(&pointer);
    let origin = spans.get(&pointer).map(|e| e.origin);
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let parent_path = schema_path.rsplit_once('/').map_or("", |(p, _)| p);
            let known: Vec<String> = schema_at(document, &format!("{parent_path}/properties"))
                .and_then(Value::as_object)
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            let context = context_name(&pointer);
            unexpected
                .iter()
                .map(|name| {
                    let key_pointer = pointer.push(name);
                    let entry = spans.get(&key_pointer);
                    let what = match entry.map(|e| e.origin) {
                        Some(Origin::Property) => "property",
                        _ => "node",
                    };
                    let span = spans.key_or_value(&key_pointer);
                    let help = match did_you_mean(name, known.iter().map(String::as_str)) {
                        Some(suggestion) => format!("did you mean `{suggestion}`?"),
                        None if known.is_empty() => format!("remove `{name}`"),
                        None => format!("{context} accepts: {}", list(&known)),
                    };
                    Diagnostic::new(Code::UnknownKey, format!("unknown {what} `{name}`"))
                        .with_label(span, format!("{context} has no {what} `{name}`"))
                        .with_help(help)
                })
                .collect()
        }
        ValidationErrorKind::Required { property } => {
            let property = property.as_str().unwrap_or_default();
            let context = context_name(&pointer);
            let parent_path = schema_path.rsplit_once('/').map_or("", |(p, _)| p);
            let property_description = schema_at(
                document,
                &format!(
                    "{parent_path}/properties/{}",
                    property.replace('~', "~0").replace('/', "~1")
                ),
            )
            .and_then(|node| resolve_description(document, node, 0));
            let help = match property_description {
                Some(text) => format!("add `{property}`: {text}"),
                None => format!("add `{property}`"),
            };
            vec![
                Diagnostic::new(
                    Code::MissingField,
                    format!("{context} is missing `{property}`"),
                )
                .with_label(value_span, format!("`{property}` is required here"))
                .with_help(help),
            ]
        }
        ValidationErrorKind::Type { kind } => {
            let found = json_type_name(error.instance());
            let wanted = expected_type(kind);
            let help = match expected {
                Some(text) => format!("give `{field}` {wanted} ({text})"),
                None => format!("give `{field}` {wanted}"),
            };
            let what = match origin {
                Some(Origin::Property) => "property",
                Some(Origin::Argument) => "argument",
                _ => "value",
            };
            vec![
                Diagnostic::new(
                    Code::WrongType,
                    format!("`{field}` expects {wanted}, found {found}"),
                )
                .with_label(value_span, format!("this {what} is {found}"))
                .with_help(help),
            ]
        }
        ValidationErrorKind::Enum { options } => {
            let options: Vec<String> = options
                .as_array()
                .map(|a| a.iter().map(short).collect())
                .unwrap_or_default();
            let given = error.instance().as_str().unwrap_or_default().to_owned();
            let bare: Vec<String> = options
                .iter()
                .map(|o| o.trim_matches('"').to_owned())
                .collect();
            let help = match did_you_mean(&given, bare.iter().map(String::as_str)) {
                Some(s) => format!(
                    "did you mean \"{s}\"? `{field}` accepts {}",
                    options.join(", ")
                ),
                None => format!("`{field}` accepts {}", options.join(", ")),
            };
            vec![
                Diagnostic::new(
                    Code::InvalidValue,
                    format!("{} is not a valid `{field}`", short(error.instance())),
                )
                .with_label(value_span, "not one of the accepted values")
                .with_help(help),
            ]
        }
        ValidationErrorKind::PropertyNames { error: inner } => {
            let key = inner.instance().as_str().unwrap_or_default().to_owned();
            let key_pointer = pointer.push(&key);
            let span = spans.key_or_value(&key_pointer);
            let inner_expected = description_of(document, inner.schema_path().as_str())
                .or_else(|| description_of(document, &format!("{schema_path}/x")));
            let context = field_name(&pointer);
            vec![
                Diagnostic::new(
                    Code::InvalidValue,
                    format!("invalid {context} name \"{key}\""),
                )
                .with_label(span, "not a valid name here")
                .with_help(match inner_expected {
                    Some(text) => format!("expected {text}"),
                    None => "use a valid name".to_owned(),
                }),
            ]
        }
        other => {
            let detail = match other {
                ValidationErrorKind::Pattern { .. } => "does not have the expected form".to_owned(),
                ValidationErrorKind::Minimum { limit } => format!("is less than {limit}"),
                ValidationErrorKind::Maximum { limit } => format!("is more than {limit}"),
                ValidationErrorKind::ExclusiveMinimum { limit } => {
                    format!("must be more than {limit}")
                }
                ValidationErrorKind::ExclusiveMaximum { limit } => {
                    format!("must be less than {limit}")
                }
                ValidationErrorKind::MinLength { limit } => {
                    format!("is shorter than {limit} characters")
                }
                ValidationErrorKind::MaxLength { limit } => {
                    format!("is longer than {limit} characters")
                }
                ValidationErrorKind::MinItems { limit } => format!("has fewer than {limit} values"),
                ValidationErrorKind::MaxItems { limit } => format!("has more than {limit} values"),
                ValidationErrorKind::MinProperties { limit } => {
                    format!("has fewer than {limit} entries")
                }
                ValidationErrorKind::MaxProperties { limit } => {
                    format!("has more than {limit} entries")
                }
                _ => error.to_string(),
            };
            let help = match expected {
                Some(text) => format!("`{field}` expects {text}"),
                None => format!("check the value of `{field}`"),
            };
            vec![
                Diagnostic::new(
                    Code::InvalidValue,
                    format!("invalid `{field}`: {} {detail}", short(error.instance())),
                )
                .with_label(value_span, detail)
                .with_help(help),
            ]
        }
    }
}

/// A readable name for the object at `pointer`: `deploy "prod"`, `release "1.5.0"`,
/// `shadow`, or `the file`.
fn context_name(pointer: &Pointer) -> String {
    let Some(last) = pointer.last() else {
        return "the file".to_owned();
    };
    let parent = pointer.parent().and_then(|p| p.last());
    if let Some(parent) = &parent
        && KEYED_NODES.contains(&parent.as_str())
    {
        return format!("{parent} \"{last}\"");
    }
    if let Some(parent) = &parent
        && last.chars().all(|c| c.is_ascii_digit())
    {
        return format!("`{parent}` #{}", last.parse::<usize>().unwrap_or(0) + 1);
    }
    format!("`{last}`")
}

fn list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_schema_compiles() {
        assert!(compiled().is_ok());
        let root: Value = serde_json::from_str(SCHEMA_TEXT).unwrap();
        assert_eq!(
            root["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
    }
}
