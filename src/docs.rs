//! The generated parts of the user guide: the language reference (from the JSON
//! Schema) and the diagnostic codes (from the code registry). `docs/reference.md`
//! and `docs/diagnostics.md` are these functions' output, committed; a test fails
//! when they are stale (`MODELOPS_BLESS=1 cargo test --test docs` rewrites them).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::diag::{Code, Family};

/// `docs/reference.md`: every node, property and value type of the language.
pub fn reference_markdown() -> String {
    let schema: Value = serde_json::from_str(crate::schema::SCHEMA_TEXT).unwrap_or_default();
    let empty = Map::new();
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut out = String::from(
        "# Language reference\n\n\
         <!-- Generated from schema/modelops.schema.json by `modelops::docs`; do not edit. -->\n\n\
         Every node of the language, in the shape of the JSON view that KDL files lower to\n\
         (see [`schema/README.md`](../schema/README.md) for the lowering and\n\
         [concepts](concepts.md) for what the nodes mean). A *field* is a child node or a\n\
         property; positional arguments appear under the names the lowering gives them.\n\
         `modelops schema` prints the schema itself.\n",
    );
    // Objects, in the order a reader meets them: depth-first from the two files.
    let mut order = Vec::new();
    let mut seen = BTreeSet::new();
    for root in ["project-file", "model-file"] {
        visit(defs, root, &mut order, &mut seen);
    }
    let _ = writeln!(out, "\n## Nodes\n");
    for name in &order {
        let Some(def) = defs.get(name.as_str()) else {
            continue;
        };
        let _ = writeln!(out, "### `{name}`\n");
        if let Some(description) = def.get("description").and_then(Value::as_str) {
            let _ = writeln!(out, "{}\n", sentence(description));
        }
        let required: BTreeSet<&str> = def
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(properties) = def.get("properties").and_then(Value::as_object) {
            let _ = writeln!(out, "| field | value | required | meaning |");
            let _ = writeln!(out, "|---|---|---|---|");
            for (field, spec) in properties {
                let _ = writeln!(
                    out,
                    "| `{field}` | {} | {} | {} |",
                    kind(spec),
                    if required.contains(field.as_str()) {
                        "yes"
                    } else {
                        ""
                    },
                    cell(
                        spec.get("description")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                    ),
                );
            }
            out.push('\n');
        } else if let Some(values) = def.get("additionalProperties") {
            let _ = writeln!(out, "Entries: any name, each {}.\n", kind(values));
        }
    }
    let _ = writeln!(out, "## Value types\n");
    let _ = writeln!(out, "| type | what | accepted |");
    let _ = writeln!(out, "|---|---|---|");
    for (name, def) in defs {
        if seen.contains(name) {
            continue;
        }
        let _ = writeln!(
            out,
            "| <a id=\"{name}\"></a>`{name}` | {} | {} |",
            cell(def.get("description").and_then(Value::as_str).unwrap_or("")),
            constraints(def),
        );
    }
    out
}

/// Collects object definitions reachable from `name`, depth-first.
fn visit(
    defs: &Map<String, Value>,
    name: &str,
    order: &mut Vec<String>,
    seen: &mut BTreeSet<String>,
) {
    let Some(def) = defs.get(name) else { return };
    if !is_object(def) || !seen.insert(name.to_owned()) {
        return;
    }
    order.push(name.to_owned());
    for child in references(def) {
        visit(defs, &child, order, seen);
    }
}

fn is_object(def: &Value) -> bool {
    def.get("type").and_then(Value::as_str) == Some("object")
        && (def.get("properties").is_some() || def.get("additionalProperties").is_some())
}

/// Every `$ref` target inside `value`, in document order.
fn references(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key == "$ref" {
                    if let Some(target) = inner.as_str().and_then(|r| r.strip_prefix("#/$defs/")) {
                        out.push(target.to_owned());
                    }
                } else {
                    out.extend(references(inner));
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                out.extend(references(item));
            }
        }
        _ => {}
    }
    out
}

/// How a field's value is written, linking named types.
fn kind(spec: &Value) -> String {
    if let Some(target) = spec
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
    {
        return format!("[`{target}`](#{target})");
    }
    if spec.get("type").and_then(Value::as_str) == Some("object") {
        if let Some(values) = spec.get("additionalProperties")
            && values.is_object()
        {
            return format!("map of {}", kind(values));
        }
        return "object".into();
    }
    if spec.get("type").and_then(Value::as_str) == Some("array") {
        return match spec.get("items") {
            Some(items) => format!("list of {}", kind(items)),
            None => "list".into(),
        };
    }
    let mut text = match spec.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".into(),
    };
    let extra = constraints(spec);
    if !extra.is_empty() {
        let _ = write!(text, " ({extra})");
    }
    text
}

/// Enumerations, ranges and patterns of a value.
fn constraints(def: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(values) = def.get("enum").and_then(Value::as_array) {
        let list: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
        parts.push(format!("one of {}", list.join(", ")));
    }
    for (key, label) in [
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
        ("minLength", "length ≥"),
        ("maxLength", "length ≤"),
        ("maxItems", "items ≤"),
    ] {
        if let Some(n) = def.get(key) {
            parts.push(format!("{label} {n}"));
        }
    }
    if let Some(pattern) = def.get("pattern").and_then(Value::as_str) {
        parts.push(format!("matches `{}`", pattern.replace('|', "\\|")));
    }
    parts.join("; ")
}

fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => {
            let mut out: String = first.to_uppercase().collect();
            out.push_str(chars.as_str());
            if !out.ends_with('.') {
                out.push('.');
            }
            out
        }
        None => String::new(),
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// `docs/diagnostics.md`: every code, by family, with its long explanation.
pub fn diagnostics_markdown() -> String {
    let mut out = String::from(
        "# Diagnostic codes\n\n\
         <!-- Generated from the code registry (src/diag/codes.rs, src/diag/explain/) by\n\
         `modelops::docs`; do not edit. -->\n\n\
         Every finding carries one of these stable codes. `modelops explain CODE` prints\n\
         the same text in a terminal. Errors fail a command; warnings fail it only under\n\
         `--deny warnings`.\n",
    );
    let families = [
        Family::Structure,
        Family::References,
        Family::Pinning,
        Family::Rollout,
        Family::Hyperparameters,
        Family::Prompts,
        Family::Lock,
        Family::Secrets,
        Family::Targets,
    ];
    let _ = writeln!(out, "\n## Index\n");
    let _ = writeln!(out, "| code | name | severity | catches |");
    let _ = writeln!(out, "|---|---|---|---|");
    for code in Code::ALL {
        let _ = writeln!(
            out,
            "| [{id}](#{anchor}) | `{}` | {} | {} |",
            code.name(),
            code.default_severity().as_str(),
            cell(code.summary()),
            id = code.id(),
            anchor = anchor(*code),
        );
    }
    for family in families {
        let _ = writeln!(out, "\n## {}", family.title());
        for code in Code::ALL.iter().filter(|c| c.family() == family) {
            out.push('\n');
            // Each explanation is a document of its own: demote its headings by two.
            let mut in_code = false;
            for line in code.explanation().lines() {
                if line.starts_with("```") {
                    in_code = !in_code;
                }
                if !in_code && line.starts_with('#') {
                    let _ = writeln!(out, "##{line}");
                } else {
                    let _ = writeln!(out, "{line}");
                }
            }
        }
    }
    out
}

/// The anchor GitHub gives the heading `### MO101 kdl-syntax`.
fn anchor(code: Code) -> String {
    format!("{}-{}", code.id().to_lowercase(), code.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_covers_every_definition() {
        let text = reference_markdown();
        let schema: Value = serde_json::from_str(crate::schema::SCHEMA_TEXT).unwrap();
        for name in schema["$defs"].as_object().unwrap().keys() {
            assert!(text.contains(&format!("`{name}`")), "{name} is missing");
        }
    }

    #[test]
    fn the_diagnostics_page_covers_every_code() {
        let text = diagnostics_markdown();
        for code in Code::ALL {
            assert!(text.contains(&format!("### {} {}", code.id(), code.name())));
        }
    }
}
