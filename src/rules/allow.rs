//! `allow "MO901" reason="…"`: warnings accepted on purpose.
//!
//! An `allow` applies where it is written: in `policy`, to every warning of its code;
//! in a `target`, to those that point at the target (a label on its node); in a
//! `deploy`, to those inside that deployment. Only warnings are accepted — errors
//! stay. Accepted warnings leave the report and are counted per `allow`, with its
//! reason ([`Allowed`]), so a thousand identical lines become one. An `allow` that
//! names no code is an error (MO112); one that accepts nothing, in a run without
//! errors, is a warning (MO113).

use crate::diag::{Code, Diagnostic, FileId, Severity, Span};
use crate::model::{Allow, Config};

/// The warnings one `allow` accepted in a run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Allowed {
    /// The code, as `MO901`.
    pub code: &'static str,
    pub count: usize,
    /// Where the `allow` applies: `policy`, `target "nginx"`, `deploy "prod" of
    /// `support-bot``.
    pub scope: String,
    pub reason: String,
    /// Where it is written, as `path:line:column`.
    pub location: String,
    #[serde(skip)]
    pub span: Span,
    /// The warnings it accepted (for formats that list them as suppressed).
    #[serde(skip)]
    pub accepted: Vec<Diagnostic>,
}

impl Allowed {
    /// One line for people: `3 MO901 warnings allowed in target "nginx"
    /// (modelops.kdl:30:5): <reason>`.
    pub fn line(&self) -> String {
        format!(
            "{} {} warning{} allowed in {} ({}): {}",
            self.count,
            self.code,
            if self.count == 1 { "" } else { "s" },
            self.scope,
            self.location,
            self.reason
        )
    }
}

/// Where an `allow` applies.
#[derive(Clone, Copy, Debug)]
enum Scope {
    Everywhere,
    /// Findings with a label inside `start..end` of `file`.
    Within {
        file: FileId,
        start: usize,
        end: usize,
    },
}

impl Scope {
    fn covers(self, diagnostic: &Diagnostic) -> bool {
        match self {
            Scope::Everywhere => true,
            Scope::Within { file, start, end } => diagnostic.labels.iter().any(|label| {
                label.span.file == file && label.span.start >= start && label.span.end <= end
            }),
        }
    }
}

struct Entry<'c> {
    allow: &'c Allow,
    code: Option<Code>,
    scope: Scope,
    described: String,
    count: usize,
    accepted: Vec<Diagnostic>,
    /// Errors of its code in its scope: they stay, and say why it accepted nothing.
    errors: usize,
}

/// Every `allow` of a configuration, the most specific first (deployments, then
/// targets, then the policy): a warning is counted once, by the first that takes it.
pub struct Allows<'c> {
    entries: Vec<Entry<'c>>,
}

impl<'c> Allows<'c> {
    pub fn of(config: &'c Config) -> Allows<'c> {
        let mut entries = Vec::new();
        let mut push = |allow: &'c Allow, scope: Scope, described: String| {
            entries.push(Entry {
                allow,
                code: Code::lookup(&allow.code),
                scope,
                described,
                count: 0,
                accepted: Vec::new(),
                errors: 0,
            });
        };
        for model in &config.models {
            if model.deploy.values().all(|deploy| deploy.allow.is_empty()) {
                continue;
            }
            // A deployment's block runs from its node to the next release or
            // deployment of the model (or the end of the file).
            let mut starts: Vec<usize> = model
                .release
                .values()
                .map(|r| config.spans.node(&r.at).start)
                .chain(
                    model
                        .deploy
                        .values()
                        .map(|d| config.spans.node(&d.at).start),
                )
                .collect();
            starts.sort_unstable();
            for deploy in model.deploy.values() {
                let file = deploy.at.file_id();
                let start = config.spans.node(&deploy.at).start;
                let end = starts
                    .iter()
                    .copied()
                    .find(|s| *s > start)
                    .unwrap_or_else(|| config.files.text(file).len());
                for allow in deploy.allow.values() {
                    push(
                        allow,
                        Scope::Within { file, start, end },
                        format!("deploy \"{}\" of `{}`", deploy.environment, model.name),
                    );
                }
            }
        }
        let project = config.project();
        for target in project.target.values() {
            let head = config.spans.node(&target.at);
            for allow in target.allow.values() {
                push(
                    allow,
                    Scope::Within {
                        file: head.file,
                        start: head.start,
                        end: head.end,
                    },
                    format!("target \"{}\"", target.name()),
                );
            }
        }
        for allow in project.policy.allow.values() {
            push(allow, Scope::Everywhere, "policy".to_owned());
        }
        Allows { entries }
    }

    /// Takes the warnings an `allow` accepts out of `diagnostics`.
    pub fn apply(&mut self, diagnostics: &mut Vec<Diagnostic>) {
        if self.entries.is_empty() {
            return;
        }
        diagnostics.retain(|diagnostic| {
            if diagnostic.severity != Severity::Warning {
                for entry in &mut self.entries {
                    if entry.code == Some(diagnostic.code) && entry.scope.covers(diagnostic) {
                        entry.errors += 1;
                    }
                }
                return true;
            }
            let taken = self.entries.iter_mut().find(|entry| {
                entry.code == Some(diagnostic.code) && entry.scope.covers(diagnostic)
            });
            match taken {
                Some(entry) => {
                    entry.count += 1;
                    entry.accepted.push(diagnostic.clone());
                    false
                }
                None => true,
            }
        });
    }

    /// What each `allow` accepted, and the findings about the `allow`s themselves:
    /// one naming no code (MO112), one that accepted nothing (MO113: where its code
    /// is an error, or anywhere when `judged`, a run without errors — an error can
    /// keep warnings from being found).
    pub fn finish(self, config: &Config, judged: bool, out: &mut Vec<Diagnostic>) -> Vec<Allowed> {
        let mut allowed = Vec::new();
        for entry in self.entries {
            let name_span = config.spans.name(&entry.allow.at);
            let Some(code) = entry.code else {
                out.push(
                    Diagnostic::new(
                        Code::InvalidAllow,
                        format!("`{}` is not a modelops code", entry.allow.code),
                    )
                    .with_label(name_span, "no such code")
                    .with_help(
                        match crate::diag::did_you_mean(
                            &entry.allow.code,
                            Code::ALL.iter().map(|c| c.id()),
                        ) {
                            Some(code) => format!("did you mean `{code}`?"),
                            None => "`modelops explain --list` lists every code".to_owned(),
                        },
                    ),
                );
                continue;
            };
            if entry.count == 0 {
                // Errors of its code where it applies say why it took nothing; else
                // an error elsewhere may have kept its warning from being found.
                if judged || entry.errors > 0 {
                    let why = if entry.errors > 0 {
                        format!(
                            "{} is an error here: errors are fixed, not allowed",
                            code.id()
                        )
                    } else {
                        format!("no {} warning points here", code.id())
                    };
                    out.push(
                        Diagnostic::new(
                            Code::UnusedAllow,
                            format!("`allow \"{}\"` in {} accepts no warning", entry.allow.code, entry.described),
                        )
                        .with_label(name_span, why)
                        .with_help(if entry.errors > 0 {
                            "remove it and fix the error: `allow` accepts warnings only"
                        } else {
                            "remove it; if the warning comes back, it is reported and can be allowed again with its new reason"
                        }),
                    );
                }
                continue;
            }
            let (at, _) = config.files.line_col(name_span);
            allowed.push(Allowed {
                location: format!(
                    "{}:{}:{}",
                    config.files.path(name_span.file),
                    at.line,
                    at.column
                ),
                code: code.id(),
                count: entry.count,
                scope: entry.described,
                reason: entry.allow.reason.clone(),
                span: name_span,
                accepted: entry.accepted,
            });
        }
        allowed
    }
}
