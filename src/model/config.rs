//! The validated configuration: the one view of a repository that every stage after
//! validation reads — the rules, resolution, the lock checks and the emitters.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use crate::diag::Files;
use crate::model::load::{PromptVersion, TemplateFile};
use crate::model::{At, Deploy, Model, NameMap, Policy, Project, ResolvedRelease, SpanIndex};

/// Every file of a repository that passed the schema, on the typed model, with
/// `from=` inheritance resolved; the files themselves, for spans and text.
///
/// It holds only what the repository says: what is judged of it (diagnostics) and
/// computed from it (hashes, plans) lives beside it in [`crate::check::Checked`].
#[derive(Debug, Default)]
pub struct Config {
    pub files: Files,
    /// Where each typed node came from.
    pub spans: SpanIndex,
    /// `modelops.kdl`; `None` when it could not be read, parsed or validated. The
    /// stages that need it (rules, resolution, lock checks, emitters) are then not run,
    /// and [`Config::project`] is an empty project.
    pub project: Option<Project>,
    /// Models from files that passed the schema, in file order.
    pub models: Vec<Model>,
    /// Resolved releases by model name, then version.
    pub releases: BTreeMap<String, NameMap<ResolvedRelease>>,
    /// Prompt versions by prompt name, then version number.
    pub prompts: BTreeMap<String, BTreeMap<u32, PromptVersion>>,
    /// The `custom` targets' templates that could be read, by `template=` as written.
    pub templates: BTreeMap<String, TemplateFile>,
    /// Parts of files the schema refused, left out of the typed model: what depends
    /// on them is not judged.
    pub left_out: crate::model::prune::LeftOut,
}

/// The project seen when `modelops.kdl` is not valid: no environments, no targets,
/// so nothing that depends on them is found.
static NO_PROJECT: LazyLock<Project> = LazyLock::new(|| Project {
    at: At::default(),
    project: String::new(),
    environment: NameMap::default(),
    policy: Policy::default(),
    target: NameMap::default(),
    pipelines: Default::default(),
});

impl Config {
    /// The project, or an empty one when `modelops.kdl` is not valid.
    pub fn project(&self) -> &Project {
        self.project.as_ref().unwrap_or(&NO_PROJECT)
    }

    /// A release of a model after inheritance.
    pub fn release(&self, model: &str, version: &str) -> Option<&ResolvedRelease> {
        self.releases.get(model)?.get(version)
    }

    /// Every (model, deployment) pair whose environment exists, in model then
    /// environment order.
    pub fn deployments(&self) -> impl Iterator<Item = (&Model, &Deploy)> + '_ {
        let project = self.project();
        self.models.iter().flat_map(move |model| {
            model
                .deploy
                .values()
                .filter(|d| project.environment.contains_key(&d.environment))
                .map(move |deploy| (model, deploy))
        })
    }

    /// The prompt text a resolved release uses, if it resolves to a readable version.
    pub fn prompt_of(&self, release: &ResolvedRelease) -> Option<&PromptVersion> {
        let prompt = release.prompt.as_ref()?;
        self.prompts.get(&prompt.name)?.get(&prompt.version?)
    }
}
