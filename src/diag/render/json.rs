//! The `json` format: one object per diagnostic, positions as 1-based line/column.

use serde_json::{Value, json};

use crate::diag::{Diagnostic, Diagnostics, Files};

/// One diagnostic as JSON (also used inside `check --format json`).
pub fn json_diagnostic(diagnostic: &Diagnostic, files: &Files) -> Value {
    let labels: Vec<Value> = diagnostic
        .labels
        .iter()
        .map(|label| {
            let (start, end) = files.line_col(label.span);
            json!({
                "file": files.path(label.span.file),
                "line": start.line,
                "column": start.column,
                "end_line": end.line,
                "end_column": end.column,
                "byte_start": label.span.start,
                "byte_end": label.span.end,
                "message": label.message,
            })
        })
        .collect();
    let primary = diagnostic.primary_span().map(|span| {
        let (start, _) = files.line_col(span);
        (files.path(span.file).to_owned(), start.line, start.column)
    });
    json!({
        "code": diagnostic.code.id(),
        "name": diagnostic.code.name(),
        "severity": diagnostic.severity.as_str(),
        "message": diagnostic.message,
        "file": primary.as_ref().map(|p| p.0.clone()),
        "line": primary.as_ref().map(|p| p.1),
        "column": primary.as_ref().map(|p| p.2),
        "labels": labels,
        "help": diagnostic.help,
        "notes": diagnostic.notes,
    })
}

/// All diagnostics as a JSON array.
pub fn render_json(diagnostics: &Diagnostics, files: &Files) -> Value {
    Value::Array(
        diagnostics
            .iter()
            .map(|d| json_diagnostic(d, files))
            .collect(),
    )
}
