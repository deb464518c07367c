//! Emitters: one module per target, each turning the validated configuration into
//! files. The [`registry`] lists them; [`emit`] runs the project's targets. Emitters
//! build data (typed documents, serialised to YAML or JSON); they never paste strings
//! into a structured format, never read the file system, and produce bytes that
//! depend only on their input.

pub mod custom;
pub mod envoy;
pub mod github;
pub mod gitlab;
pub mod guards;
pub mod istio;
pub mod k8s;
pub mod kubernetes;
pub mod litellm;
pub mod nginx;
pub mod pipeline;
pub mod plan;
pub mod registry;
pub mod traffic;
pub mod yaml;

use std::collections::BTreeMap;
use std::ops::Deref;

use serde_json::Value;

use crate::check::Checked;
use crate::diag::Diagnostic;
use crate::model::{Config, Deploy, Environment, Model, Project};
use crate::resolve::{DeploymentPlan, Resolution};

/// Output files by path relative to the output folder (`/`-separated).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileSet {
    pub files: BTreeMap<String, Vec<u8>>,
}

impl FileSet {
    pub fn insert(&mut self, path: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.files.insert(path.into(), bytes.into());
    }
}

/// What an emitter reads: the validated configuration (through `Deref`) and what
/// resolution computed from it. It copies nothing.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub config: &'a Config,
    /// The project; emitters run only when `modelops.kdl` is valid.
    pub project: &'a Project,
    pub resolution: &'a Resolution,
}

impl<'a> Context<'a> {
    /// The context of a configuration with a valid project, `None` without one.
    pub fn new(config: &'a Config, resolution: &'a Resolution) -> Option<Self> {
        Some(Context {
            config,
            project: config.project.as_ref()?,
            resolution,
        })
    }

    /// The context of a check that got as far as resolution.
    pub fn of(checked: &'a Checked) -> Option<Self> {
        Context::new(&checked.config, checked.resolution.as_ref()?)
    }

    /// Every deployment with its model, environment and plan, in a stable order.
    pub fn planned_deployments(&self) -> Vec<Deployment<'a>> {
        let by_name: BTreeMap<&str, &'a Model> = self
            .config
            .models
            .iter()
            .map(|m| (m.name.as_str(), m))
            .collect();
        let mut out = Vec::new();
        for plan in &self.resolution.deployments {
            let Some(model) = by_name.get(plan.model.as_str()).copied() else {
                continue;
            };
            let (Some(deploy), Some(environment)) = (
                model.deploy.get(&plan.environment),
                self.project.environment.get(&plan.environment),
            ) else {
                continue;
            };
            out.push(Deployment {
                model,
                deploy,
                environment,
                plan,
            });
        }
        out.sort_by(|a, b| {
            (&a.environment.name, &a.model.name).cmp(&(&b.environment.name, &b.model.name))
        });
        out
    }
}

impl Deref for Context<'_> {
    type Target = Config;

    fn deref(&self) -> &Config {
        self.config
    }
}

/// One model in one environment, with everything resolved about it.
#[derive(Clone, Copy)]
pub struct Deployment<'a> {
    pub model: &'a Model,
    pub deploy: &'a Deploy,
    pub environment: &'a Environment,
    pub plan: &'a DeploymentPlan,
}

impl Deployment<'_> {
    /// The Kubernetes namespace: the environment's, or the environment's name.
    pub fn namespace(&self) -> &str {
        self.environment
            .namespace
            .as_deref()
            .unwrap_or(&self.environment.name)
    }
}

/// Serialises data as YAML: literal block scalars for multi-line text, long single
/// lines kept on one line, strings quoted wherever a YAML 1.1 reader could misread
/// them (serde-saphyr's default).
///
/// Typed documents go through `serde_json::Value` first, so mapping keys come out
/// sorted whatever the order their fields are declared in.
pub fn to_yaml(value: &impl serde::Serialize) -> String {
    to_yaml_documents(std::slice::from_ref(value))
}

/// Several YAML documents, separated by `---`.
pub fn to_yaml_documents<T: serde::Serialize>(documents: &[T]) -> String {
    let values: Vec<Value> = documents.iter().map(to_value).collect();
    let mut options = serde_saphyr::SerializerOptions::default();
    options.folded_wrap_chars = usize::MAX / 2;
    yaml::documents(&values, &options)
}

/// A document as data. Our documents have string keys only, which cannot fail to
/// convert; `null` stands in if one ever did.
pub fn to_value(document: &impl serde::Serialize) -> Value {
    serde_json::to_value(document).unwrap_or_default()
}

/// Pretty JSON with a trailing newline (keys sorted: serde_json's maps are ordered).
pub fn to_json(value: &impl serde::Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// Runs every emitter for the selected targets and environments.
pub fn emit(
    cx: &Context<'_>,
    target: Option<&str>,
    environment: Option<&str>,
) -> (FileSet, Vec<Diagnostic>) {
    let collected = std::sync::Mutex::new(FileSet::default());
    let diagnostics = emit_each(cx, target, environment, &|files| {
        if let Ok(mut all) = collected.lock() {
            all.files.extend(files.files);
        }
    });
    (collected.into_inner().unwrap_or_default(), diagnostics)
}

/// Runs every emitter like [`emit`], handing each target's files to `sink` as soon as
/// they are built (from any thread, in no fixed order), so that a caller comparing or
/// writing them never holds the whole output. Diagnostics come back in target order.
pub fn emit_each(
    cx: &Context<'_>,
    target: Option<&str>,
    environment: Option<&str>,
    sink: &(dyn Fn(FileSet) + Sync),
) -> Vec<Diagnostic> {
    let deployments: Vec<Deployment<'_>> = cx
        .planned_deployments()
        .into_iter()
        .filter(|d| environment.is_none_or(|e| d.environment.name == e))
        .collect();
    // Targets are independent: emit them on every core (files are keyed by path;
    // diagnostics keep the order of the targets).
    // Targets whose files are per deployment (Kubernetes and the proxies) go in
    // chunks of deployments, and pipelines in chunks of models, so that their files
    // reach the sink (and can be let go) while they are still being emitted, and
    // both cores stay busy to the end.
    use rayon::prelude::*;
    const CHUNK: usize = 128;
    let by_model = pipeline::by_model(cx);
    let jobs: Vec<(&dyn registry::Target, registry::Part<'_, '_>)> = cx
        .project
        .target
        .values()
        .filter(|declared| target.is_none_or(|name| declared.name() == name))
        .flat_map(|declared| {
            let emitter = registry::target(declared.kind);
            let all = registry::Part {
                declared,
                deployments: &deployments,
                models: &cx.config.models,
                by_model: &by_model,
            };
            let parts: Vec<registry::Part<'_, '_>> = match emitter.layout(cx.project.driver()).per {
                registry::Per::Deployment | registry::Per::TrafficState
                    if !deployments.is_empty() =>
                {
                    deployments
                        .chunks(CHUNK)
                        .map(|deployments| registry::Part { deployments, ..all })
                        .collect()
                }
                registry::Per::Model if !cx.config.models.is_empty() => cx
                    .config
                    .models
                    .chunks(CHUNK)
                    .map(|models| registry::Part { models, ..all })
                    .collect(),
                _ => vec![all],
            };
            parts.into_iter().map(move |part| (emitter, part))
        })
        .collect();
    // The plan is made alongside, not after, so that no core waits for it at the end.
    let (per_target, ()): (Vec<Vec<Diagnostic>>, ()) = rayon::join(
        || {
            jobs.into_par_iter()
                .map(|(emitter, part)| {
                    let emitted = emitter.emit(cx, &part);
                    sink(emitted.files);
                    emitted.diagnostics
                })
                .collect()
        },
        || {
            let mut plan = FileSet::default();
            plan.insert("plan.json", to_json(&plan::plan(cx)));
            sink(plan);
        },
    );
    per_target.into_iter().flatten().collect()
}
