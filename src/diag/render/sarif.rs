//! The `sarif` format: SARIF 2.1.0, for code-scanning uploads (GitHub, GitLab, …).
//!
//! Every registered code is listed as a rule with its summary and long explanation;
//! results point at 1-based line/column regions of repository-relative paths.

use serde_json::{Value, json};

use crate::diag::{Code, Diagnostic, Diagnostics, Files, Severity};

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn location(files: &Files, span: crate::diag::Span, message: Option<&str>) -> Value {
    let (start, end) = files.line_col(span);
    let mut location = json!({
        "physicalLocation": {
            "artifactLocation": { "uri": files.path(span.file), "uriBaseId": "%SRCROOT%" },
            "region": {
                "startLine": start.line,
                "startColumn": start.column,
                "endLine": end.line,
                "endColumn": end.column,
            },
        },
    });
    if let Some(text) = message.filter(|m| !m.is_empty()) {
        location["message"] = json!({ "text": text });
    }
    location
}

fn result(diagnostic: &Diagnostic, files: &Files) -> Value {
    let rule_index = Code::ALL.iter().position(|c| *c == diagnostic.code);
    let mut text = diagnostic.message.clone();
    if let Some(help) = &diagnostic.help {
        text.push_str("\nhelp: ");
        text.push_str(help);
    }
    let mut labels = diagnostic.labels.iter();
    let primary = labels.next();
    json!({
        "ruleId": diagnostic.code.id(),
        "ruleIndex": rule_index,
        "level": level(diagnostic.severity),
        "message": { "text": text },
        "locations": primary.map(|l| vec![location(files, l.span, None)]).unwrap_or_default(),
        "relatedLocations": labels
            .enumerate()
            .map(|(i, l)| {
                let mut related = location(files, l.span, Some(&l.message));
                related["id"] = json!(i + 1);
                related
            })
            .collect::<Vec<_>>(),
    })
}

/// The whole run as a SARIF log.
pub fn render_sarif(diagnostics: &Diagnostics, files: &Files) -> Value {
    render_sarif_suppressed(diagnostics, &[], files)
}

/// [`render_sarif`], with the warnings accepted on purpose listed too, each as a
/// result suppressed in the source (SARIF `suppressions`, with the reason given as
/// its justification), so code scanning shows them as dismissed, not as new.
pub fn render_sarif_suppressed(
    diagnostics: &Diagnostics,
    suppressed: &[(&crate::diag::Diagnostic, &str)],
    files: &Files,
) -> Value {
    let rules: Vec<Value> = Code::ALL
        .iter()
        .map(|code| {
            json!({
                "id": code.id(),
                "name": code.name(),
                "shortDescription": { "text": code.summary() },
                "fullDescription": { "text": code.summary() },
                "help": { "text": code.explanation(), "markdown": code.explanation() },
                "defaultConfiguration": { "level": level(code.default_severity()) },
                "properties": { "tags": [code.family().title()] },
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "modelops",
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                },
            },
            "columnKind": "unicodeCodePoints",
            "originalUriBaseIds": { "%SRCROOT%": { "description": { "text": "the config repository root" } } },
            "results": diagnostics
                .iter()
                .map(|d| result(d, files))
                .chain(suppressed.iter().map(|(d, reason)| {
                    let mut result = result(d, files);
                    result["suppressions"] = json!([{
                        "kind": "inSource",
                        "status": "accepted",
                        "justification": crate::diag::clean::text(reason),
                    }]);
                    result
                }))
                .collect::<Vec<_>>(),
        }],
    })
}
