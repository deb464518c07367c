//! Rules: judgements over the typed, resolved configuration.
//!
//! Each rule module reads a [`Context`] and pushes diagnostics; rules never print, never
//! stop at the first finding, and stay silent on what they cannot judge (a release
//! missing its base is reported once, as missing, not again by every rule that would
//! have looked at the base).

pub mod catalogue;
mod params;
mod pinning;
mod prompts;
mod references;
mod rollout;
mod secrets;
mod targets;

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::diag::{Diagnostic, Files};
use crate::model::load::PromptVersion;
use crate::model::{Date, Deploy, Model, NameMap, Project, ResolvedRelease, SpanIndex};
use crate::source::Source;

pub use prompts::template_variables;
pub use secrets::find_credentials;

/// Everything a rule may look at.
pub struct Context<'a> {
    pub project: &'a Project,
    pub models: &'a [Model],
    /// Resolved releases by model name, then version.
    pub releases: &'a BTreeMap<String, NameMap<ResolvedRelease>>,
    pub prompts: &'a BTreeMap<String, BTreeMap<u32, PromptVersion>>,
    pub spans: &'a SpanIndex,
    pub files: &'a Files,
    pub source: &'a dyn Source,
    /// The date snapshot retirements are judged against.
    pub today: Date,
}

impl<'a> Context<'a> {
    pub fn release(&self, model: &str, version: &str) -> Option<&'a ResolvedRelease> {
        self.releases.get(model)?.get(version)
    }

    /// Every (model, deployment) pair whose environment exists.
    pub fn deployments(&self) -> impl Iterator<Item = (&'a Model, &'a Deploy)> + '_ {
        self.models.iter().flat_map(move |model| {
            model
                .deploy
                .values()
                .filter(|d| self.project.environment.contains_key(&d.environment))
                .map(move |deploy| (model, deploy))
        })
    }

    /// The prompt text a resolved release uses, if it resolves to a readable version.
    pub fn prompt_of(&self, release: &ResolvedRelease) -> Option<&'a PromptVersion> {
        let prompt = release.prompt.as_ref()?;
        self.prompts.get(&prompt.name)?.get(&prompt.version?)
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
