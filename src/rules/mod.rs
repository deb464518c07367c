//! Rules: judgements over the typed, resolved configuration.
//!
//! Each rule module reads a [`Context`] and pushes diagnostics; rules never print, never
//! stop at the first finding, and stay silent on what they cannot judge (a release
//! missing its base is reported once, as missing, not again by every rule that would
//! have looked at the base).

pub mod allow;
pub mod catalogue;
mod params;
mod pinning;
mod prompts;
mod references;
mod rollout;
pub use rollout::BUILTIN_GUARDS;
pub use targets::JOB_MARGIN;
mod secrets;
mod targets;

use std::ops::Deref;

use rayon::prelude::*;

use crate::diag::Diagnostic;
use crate::model::{Config, Date};
use crate::source::Source;

pub use crate::syntax::credentials::find_credentials;
pub use prompts::template_variables;

/// What a rule reads: the configuration, and what it is judged against — the
/// repository (for files the configuration names, such as datasets) and today's
/// date (for snapshot retirements). Dereferences to the [`Config`].
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub config: &'a Config,
    pub source: &'a dyn Source,
    /// The date snapshot retirements are judged against.
    pub today: Date,
    /// The deploy record: what ran a model, by (environment, release), in the
    /// default branch's history. Read only when a rule needs it.
    pub deployed: Option<&'a Deployed<'a>>,
    /// When the git index is checked: the prompt version files the working tree
    /// holds, by (prompt, version), so that a reference the index cannot satisfy
    /// says "stage it".
    pub unstaged: Option<&'a std::collections::BTreeMap<(String, u32), String>>,
}

/// Reads the deploy record of one model.
pub type Deployed<'a> = dyn Fn(&str) -> std::collections::BTreeSet<(String, String)> + Sync + 'a;

impl Deref for Context<'_> {
    type Target = Config;

    fn deref(&self) -> &Config {
        self.config
    }
}

/// A family of rules.
type Rule = fn(&Context<'_>, &mut Vec<Diagnostic>);

/// Runs every rule. The families are independent: they run on every core, and their
/// findings are appended in this fixed order.
pub fn run(context: &Context<'_>, diagnostics: &mut Vec<Diagnostic>) {
    const RULES: [Rule; 7] = [
        references::check,
        params::check,
        prompts::check,
        pinning::check,
        rollout::check,
        secrets::check,
        targets::check,
    ];
    let found: Vec<Vec<Diagnostic>> = RULES
        .par_iter()
        .map(|rule| {
            let mut out = Vec::new();
            rule(context, &mut out);
            out
        })
        .collect();
    diagnostics.extend(found.into_iter().flatten());
}
