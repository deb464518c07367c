//! The `human` format: rustc-style reports rendered by miette.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};

use crate::diag::{Diagnostic, Diagnostics, Files, Severity};

/// How to draw human output.
#[derive(Clone, Copy, Debug)]
pub struct HumanOptions {
    pub color: bool,
    pub width: usize,
}

impl Default for HumanOptions {
    fn default() -> Self {
        HumanOptions {
            color: false,
            width: 100,
        }
    }
}

/// Renders every diagnostic followed by a one-line summary (nothing when there are none).
pub fn render_human(diagnostics: &Diagnostics, files: &Files, options: HumanOptions) -> String {
    let theme = if options.color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(options.width)
        .with_links(false);
    let mut out = String::new();
    for diagnostic in diagnostics.iter() {
        let report = Report::new(diagnostic, files);
        if handler.render_report(&mut out, &report).is_err() {
            // Rendering into a String only fails if miette itself fails; fall back to
            // the plain message so nothing is lost.
            out.push_str(&format!(
                "{}[{}]: {}\n",
                diagnostic.severity.as_str(),
                diagnostic.code.id(),
                diagnostic.message
            ));
        }
        out.push('\n');
    }
    if let Some(summary) = summary_line(diagnostics) {
        out.push_str(&summary);
        out.push('\n');
    }
    out
}

fn summary_line(diagnostics: &Diagnostics) -> Option<String> {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match (diagnostics.error_count(), diagnostics.warning_count()) {
        (0, 0) => None,
        (0, w) => Some(format!("{} found", plural(w, "warning"))),
        (e, 0) => Some(format!("{} found", plural(e, "error"))),
        (e, w) => Some(format!(
            "{} and {} found",
            plural(e, "error"),
            plural(w, "warning")
        )),
    }
}

/// A diagnostic as miette sees it: labels in the primary label's file are drawn on
/// its source; labels in other files are listed as notes with their location.
struct Report<'a> {
    diagnostic: &'a Diagnostic,
    source: Option<NamedSource<String>>,
    labels: Vec<LabeledSpan>,
    footer: Option<String>,
}

impl<'a> Report<'a> {
    fn new(diagnostic: &'a Diagnostic, files: &'a Files) -> Self {
        let primary_file = diagnostic.primary_span().map(|s| s.file);
        let mut labels = Vec::new();
        let mut elsewhere = Vec::new();
        for (index, label) in diagnostic.labels.iter().enumerate() {
            if Some(label.span.file) == primary_file {
                let span = SourceSpan::new(label.span.start.into(), label.span.len());
                let text = (!label.message.is_empty()).then(|| label.message.clone());
                labels.push(if index == 0 {
                    LabeledSpan::new_primary_with_span(text, span)
                } else {
                    LabeledSpan::new_with_span(text, span)
                });
            } else {
                let (start, _) = files.line_col(label.span);
                elsewhere.push(format!(
                    "{}:{}:{}: {}",
                    files.path(label.span.file),
                    start.line,
                    start.column,
                    label.message
                ));
            }
        }
        let source = primary_file.and_then(|id| {
            files
                .get(id)
                .map(|f| NamedSource::new(f.path.clone(), f.text.to_string()))
        });
        let mut footer: Vec<String> = elsewhere;
        footer.extend(diagnostic.notes.iter().map(|n| format!("note: {n}")));
        Report {
            diagnostic,
            source,
            labels,
            footer: (!footer.is_empty()).then(|| footer.join("\n")),
        }
    }
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diagnostic.code.id()))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        let help = self.diagnostic.help.as_deref();
        match (help, &self.footer) {
            (Some(h), Some(footer)) => Some(Box::new(format!("{h}\n{footer}"))),
            (Some(h), None) => Some(Box::new(h)),
            (None, Some(footer)) => Some(Box::new(footer.as_str())),
            (None, None) => None,
        }
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }
}
