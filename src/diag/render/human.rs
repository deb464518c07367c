//! The `human` format: rustc-style reports rendered by miette.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan};
use rayon::prelude::*;

use super::excerpt::Excerpt;
use crate::diag::{Diagnostic, Diagnostics, Files, Severity, Span};

/// How to draw human output.
#[derive(Clone, Copy, Debug)]
pub struct HumanOptions {
    /// Colour with ANSI escapes.
    pub color: bool,
    /// The column to wrap messages and help at; `0` for no wrapping (output not read
    /// on a terminal: a CI log keeps each message on one line).
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

/// The most diagnostics of one code a human report shows; the rest are counted in
/// one line (machine formats list every one).
pub const SHOWN_PER_CODE: usize = 20;

/// Renders the diagnostics — at most [`SHOWN_PER_CODE`] of each code, the rest
/// counted — followed by a one-line summary (nothing when there are none).
pub fn render_human(diagnostics: &Diagnostics, files: &Files, options: HumanOptions) -> String {
    let theme = if options.color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_links(false);
    let handler = match options.width {
        0 => handler.with_width(usize::MAX).with_wrap_lines(false),
        width => handler.with_width(width),
    };
    // Spans of sensitive text, masked in every snippet that shows them, whichever
    // diagnostic the snippet belongs to.
    let sensitive: Vec<Span> = diagnostics
        .iter()
        .filter(|d| d.redact)
        .flat_map(|d| d.labels.iter().map(|l| l.span))
        .collect();
    // Each report is rendered on its own (in parallel: a large repository can have
    // thousands), then joined in order.
    let render = |diagnostic: &Diagnostic| {
        let mut text = String::new();
        let report = Report::new(diagnostic, files, &sensitive);
        if handler.render_report(&mut text, &report).is_err() {
            // Rendering into a String only fails if miette itself fails; fall back to
            // the plain message so nothing is lost.
            text = format!(
                "{}[{}]: {}\n",
                diagnostic.severity.as_str(),
                diagnostic.code.id(),
                diagnostic.message
            );
        }
        text.push('\n');
        text
    };
    let mut per_code: std::collections::BTreeMap<&'static str, (usize, &'static str)> =
        std::collections::BTreeMap::new();
    let shown: Vec<&Diagnostic> = diagnostics
        .iter()
        .filter(|d| {
            let seen = per_code
                .entry(d.code.id())
                .or_insert((0, d.severity.as_str()));
            seen.0 += 1;
            seen.0 <= SHOWN_PER_CODE
        })
        .collect();
    let mut out = shown
        .par_iter()
        .map(|d| render(d))
        .collect::<Vec<String>>()
        .concat();
    for (code, (count, severity)) in &per_code {
        if let Some(more) = count.checked_sub(SHOWN_PER_CODE).filter(|m| *m > 0) {
            out.push_str(&format!(
                "… and {} more {code} {severity}{} like the {SHOWN_PER_CODE} above (`--format json` lists every one; `modelops explain {code}`)\n\n",
                thousands(more),
                if more == 1 { "" } else { "s" },
            ));
        }
    }
    // Snippets and messages hold what users wrote: break any workflow command in
    // them (control characters were replaced before rendering).
    if let std::borrow::Cow::Owned(safe) = crate::diag::clean::workflow(&out) {
        out = safe;
    }
    if let Some(summary) = summary_line(diagnostics) {
        out.push_str(&summary);
        out.push('\n');
    }
    out
}

/// `4812` as `4,812`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
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

/// A diagnostic as miette sees it. Labels in the primary label's file are drawn on
/// its source; labels in other files become related notes with their own snippet. A
/// label on an empty file (a file-level finding) is shown as its path, not as an empty
/// source box.
struct Report<'a> {
    message: String,
    code: Option<&'a str>,
    severity: miette::Severity,
    help: Option<String>,
    source: Option<Excerpt>,
    labels: Vec<LabeledSpan>,
    related: Vec<Report<'a>>,
}

impl<'a> Report<'a> {
    fn new(diagnostic: &'a Diagnostic, files: &'a Files, sensitive: &[Span]) -> Self {
        let primary_file = diagnostic
            .primary_span()
            .map(|s| s.file)
            .filter(|id| !files.text(*id).is_empty());
        let mut related = Vec::new();
        let mut footer: Vec<String> = Vec::new();
        // The primary file's labels, in order: the first is the primary one.
        let mut shown: Vec<(bool, Option<String>, Span)> = Vec::new();
        for (index, label) in diagnostic.labels.iter().enumerate() {
            if files.text(label.span.file).is_empty() {
                let what = if label.message.is_empty() {
                    "here"
                } else {
                    &label.message
                };
                footer.push(clean(&format!("{what}: {}", files.path(label.span.file))));
            } else if Some(label.span.file) == primary_file {
                let message = (!label.message.is_empty()).then(|| clean(&label.message));
                shown.push((index == 0, message, label.span));
            } else if let Some((excerpt, spans)) =
                Excerpt::new(files, label.span.file, &[label.span], sensitive)
            {
                related.push(Report {
                    message: clean(&label.message),
                    code: None,
                    severity: miette::Severity::Advice,
                    help: None,
                    source: Some(excerpt),
                    labels: spans
                        .into_iter()
                        .map(|span| LabeledSpan::new_primary_with_span(None, span))
                        .collect(),
                    related: Vec::new(),
                });
            }
        }
        let spans: Vec<Span> = shown.iter().map(|(_, _, span)| *span).collect();
        let (source, labels) =
            match primary_file.and_then(|file| Excerpt::new(files, file, &spans, sensitive)) {
                Some((excerpt, mapped)) => {
                    let labels = shown
                        .into_iter()
                        .zip(mapped)
                        .map(|((primary, message, _), span)| {
                            if primary {
                                LabeledSpan::new_primary_with_span(message, span)
                            } else {
                                LabeledSpan::new_with_span(message, span)
                            }
                        })
                        .collect();
                    (Some(excerpt), labels)
                }
                None => (None, Vec::new()),
            };
        footer.extend(
            diagnostic
                .notes
                .iter()
                .map(|n| format!("note: {}", clean(n))),
        );
        let help = diagnostic.help.as_deref().map(clean);
        let help = match (&help, footer.is_empty()) {
            (Some(help), true) => Some(help.clone()),
            (Some(help), false) => Some(format!("{help}\n{}", footer.join("\n"))),
            (None, false) => Some(footer.join("\n")),
            (None, true) => None,
        };
        Report {
            message: clean(&diagnostic.message),
            code: Some(diagnostic.code.id()),
            severity: match diagnostic.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
            },
            help,
            source,
            labels,
            related,
        }
    }
}

fn clean(text: &str) -> String {
    crate::diag::clean::text(text).into_owned()
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.code.map(|c| Box::new(c) as Box<dyn fmt::Display>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.help
            .as_deref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() || self.source.is_none() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }

    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn miette::Diagnostic> + 'b>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(
                self.related.iter().map(|r| r as &dyn miette::Diagnostic),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Code;

    #[test]
    fn many_diagnostics_of_one_code_are_counted_not_drawn() {
        let mut diagnostics = Diagnostics::new();
        for i in 0..5_000 {
            diagnostics.push(Diagnostic::new(
                Code::UnusedVariable,
                format!("unused {i:05}"),
            ));
        }
        diagnostics.push(Diagnostic::new(Code::KdlSyntax, "one error"));
        let text = render_human(&diagnostics, &Files::new(), HumanOptions::default());
        assert_eq!(text.matches("unused 0").count(), SHOWN_PER_CODE);
        assert!(text.contains("one error"));
        assert!(
            text.contains("… and 4,980 more MO602 warnings like the 20 above"),
            "{text}"
        );
        assert!(text.contains("1 error and 5000 warnings found"), "{text}");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }

    #[test]
    fn width_zero_does_not_wrap() {
        let help = "a help text long enough to be wrapped at forty columns, twice over at least";
        let mut diagnostics = Diagnostics::new();
        diagnostics.push(Diagnostic::new(Code::KdlSyntax, "one error").with_help(help));
        let render = |width| {
            render_human(
                &diagnostics,
                &Files::new(),
                HumanOptions {
                    color: false,
                    width,
                },
            )
        };
        assert!(
            render(0).contains(&format!("help: {help}\n")),
            "{}",
            render(0)
        );
        let wrapped = render(40);
        assert!(!wrapped.contains(help), "{wrapped}");
        assert!(
            wrapped.lines().all(|l| l.chars().count() <= 40),
            "{wrapped}"
        );
    }
}
