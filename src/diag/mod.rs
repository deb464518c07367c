//! Diagnostics: the one facade every stage reports through.
//!
//! Stages build [`Diagnostic`]s (a stable [`Code`], a severity, a one-line message,
//! labels on exact source spans, a help line). Only this module knows how they are
//! rendered (`human` through miette, `json`); stages never print.

pub mod clean;
mod codes;
mod files;
pub mod render;

pub use codes::{Code, Family};
pub use files::{FileId, Files, LineCol, SourceFile, Span};

/// How serious a finding is. Errors fail the command; warnings do not, unless the
/// caller denies them.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A label: a span and what to say about it. The first label of a diagnostic is its
/// primary location.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// One finding, owned by the project (not by miette or any renderer).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
    pub notes: Vec<String>,
    /// The labelled text is sensitive (a credential): renderers that show source
    /// mask it.
    pub redact: bool,
}

impl Diagnostic {
    /// A diagnostic with the code's default severity.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: code.default_severity(),
            message: message.into(),
            labels: Vec::new(),
            help: None,
            notes: Vec::new(),
            redact: false,
        }
    }

    /// Marks the labelled text as sensitive (see [`Diagnostic::redact`]).
    pub fn redacted(mut self) -> Self {
        self.redact = true;
        self
    }

    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    /// Adds a label when the span is known; lets callers pass `Option<Span>` through.
    pub fn with_label_opt(self, span: Option<Span>, message: impl Into<String>) -> Self {
        match span {
            Some(span) => self.with_label(span, message),
            None => self,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn primary_span(&self) -> Option<Span> {
        self.labels.first().map(|label| label.span)
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The same diagnostic with every label moved to `file` (for diagnostics of one
    /// file, analysed earlier under another id).
    pub fn in_file(mut self, file: FileId) -> Self {
        for label in &mut self.labels {
            label.span.file = file;
        }
        self
    }
}

/// Everything a run found, in a stable order for output.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(other);
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// The diagnostics, in their order.
    pub fn as_slice(&self) -> &[Diagnostic] {
        &self.items
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.items.len() - self.error_count()
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// Sorts by file path, position, then code, and drops exact duplicates, so output
    /// does not depend on the order in which stages ran.
    pub fn sort(&mut self, files: &Files) {
        self.items.sort_by(|a, b| {
            let key = |d: &Diagnostic| {
                d.primary_span()
                    .map(|s| (files.path(s.file).to_owned(), s.start, s.end))
            };
            key(a)
                .cmp(&key(b))
                .then_with(|| a.code.id().cmp(b.code.id()))
                .then_with(|| a.message.cmp(&b.message))
        });
        self.items.dedup();
    }

    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// The closest candidate to `input` by edit distance, for "did you mean" help.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let input_lower = input.to_ascii_lowercase().replace('_', "-");
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let distance = edit_distance(&input_lower, &candidate.to_ascii_lowercase());
        let limit = candidate
            .chars()
            .count()
            .max(input.chars().count())
            .div_ceil(3);
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["stable", "canary", "blue-green", "replicas"];
        assert_eq!(did_you_mean("stabel", names), Some("stable"));
        assert_eq!(did_you_mean("blue_green", names), Some("blue-green"));
        assert_eq!(did_you_mean("zzz", names), None);
        assert_eq!(did_you_mean("pace", ["pause", "weight"]), Some("pause"));
        assert_eq!(did_you_mean("x", ["pause", "weight"]), None);
    }
}
