//! Emitters: one module per target, each turning the resolved configuration into
//! files. Emitters build data (`serde_json::Value`, serialised to YAML or JSON); they
//! never paste strings into a structured format, never read the file system, and
//! produce bytes that depend only on their input.

pub mod envoy;
pub mod github;
pub mod gitlab;
pub mod istio;
pub mod kubernetes;
pub mod litellm;
pub mod nginx;
pub mod pipeline;
pub mod plan;
pub mod traffic;
pub mod yaml;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::check::Checked;
use crate::diag::{Code, Diagnostic};
use crate::model::{
    Deploy, Environment, Model, NameMap, Project, ResolvedRelease, SpanIndex, Target,
};
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

/// Everything an emitter may read.
pub struct EmitContext<'a> {
    pub project: &'a Project,
    pub models: &'a [Model],
    pub resolution: &'a Resolution,
    pub releases: &'a BTreeMap<String, NameMap<ResolvedRelease>>,
    pub spans: &'a SpanIndex,
}

impl<'a> EmitContext<'a> {
    /// Builds the context from a check without errors.
    pub fn from_checked(checked: &'a Checked) -> Option<Self> {
        Some(EmitContext {
            project: checked.config.project.as_ref()?,
            models: &checked.config.models,
            resolution: checked.resolution.as_ref()?,
            releases: &checked.config.releases,
            spans: &checked.config.spans,
        })
    }

    /// A release of a model after inheritance.
    pub fn resolved_release(&self, model: &str, version: &str) -> Option<&'a ResolvedRelease> {
        self.releases.get(model)?.get(version)
    }

    /// Every deployment with its model, environment and plan, in a stable order.
    pub fn deployments(&self) -> Vec<Deployment<'a>> {
        let by_name: BTreeMap<&str, &'a Model> =
            self.models.iter().map(|m| (m.name.as_str(), m)).collect();
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
pub fn to_yaml(value: &Value) -> String {
    to_yaml_documents(std::slice::from_ref(value))
}

/// Several YAML documents, separated by `---`.
pub fn to_yaml_documents(values: &[Value]) -> String {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.folded_wrap_chars = usize::MAX / 2;
    yaml::documents(values, &options)
}

/// Pretty JSON with a trailing newline (keys sorted: serde_json's maps are ordered).
pub fn to_json(value: &impl serde::Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// The targets the compile produces, filtered by name.
pub fn selected_targets<'a>(project: &'a Project, only: Option<&str>) -> Vec<&'a Target> {
    project
        .target
        .values()
        .filter(|t| only.is_none_or(|name| t.name == name))
        .collect()
}

/// Runs every emitter for the selected targets and environments.
pub fn emit(
    cx: &EmitContext<'_>,
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
    cx: &EmitContext<'_>,
    target: Option<&str>,
    environment: Option<&str>,
    sink: &(dyn Fn(FileSet) + Sync),
) -> Vec<Diagnostic> {
    let deployments: Vec<Deployment<'_>> = cx
        .deployments()
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
    let grouped = pipeline::by_model(cx);
    let jobs: Vec<(&Target, Part<'_, '_>)> = selected_targets(cx.project, target)
        .into_iter()
        .flat_map(|selected| {
            let all = Part {
                deployments: &deployments,
                models: cx.models,
            };
            let parts: Vec<Part<'_, '_>> = match selected.name.as_str() {
                "kubernetes" | "istio" | "envoy" | "nginx" | "litellm"
                    if !deployments.is_empty() =>
                {
                    deployments
                        .chunks(CHUNK)
                        .map(|deployments| Part { deployments, ..all })
                        .collect()
                }
                "github-actions" | "gitlab-ci" if !cx.models.is_empty() => cx
                    .models
                    .chunks(CHUNK)
                    .map(|models| Part { models, ..all })
                    .collect(),
                _ => vec![all],
            };
            parts.into_iter().map(move |part| (selected, part))
        })
        .collect();
    // The plan is made alongside, not after, so that no core waits for it at the end.
    let (per_target, ()): (Vec<Vec<Diagnostic>>, ()) = rayon::join(
        || {
            jobs.into_par_iter()
                .map(|(selected, part)| {
                    let mut files = FileSet::default();
                    let mut diagnostics = Vec::new();
                    emit_target(cx, selected, part, &grouped, &mut files, &mut diagnostics);
                    sink(files);
                    diagnostics
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

/// The deployments and models one emitter job covers.
#[derive(Clone, Copy)]
struct Part<'c, 'a> {
    deployments: &'c [Deployment<'a>],
    models: &'a [crate::model::Model],
}

/// One target's files, for one part of the deployments (or, for pipelines, models).
fn emit_target(
    cx: &EmitContext<'_>,
    selected: &Target,
    part: Part<'_, '_>,
    grouped: &pipeline::ByModel<'_>,
    files: &mut FileSet,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let deployments = part.deployments;
    match selected.name.as_str() {
        "kubernetes" => kubernetes::emit(cx, selected, deployments, files, diagnostics),
        "istio" => istio::emit(cx, selected, deployments, files),
        "envoy" => envoy::emit(selected, deployments, files),
        "nginx" => nginx::emit(cx, selected, deployments, files, diagnostics),
        "litellm" => litellm::emit(cx, selected, deployments, files),
        // Pipelines cover every environment of a model; `--env` does not split them.
        "github-actions" => github::emit(cx, part.models, grouped, files),
        "gitlab-ci" => gitlab::emit(cx, part.models, grouped, files),
        // Other targets are emitted by their own modules as they are added; a known
        // target without an emitter yet is said, not skipped silently.
        other => diagnostics.push(
            Diagnostic::new(
                Code::TargetNotEmitted,
                format!("this version of modelops does not emit the `{other}` target yet"),
            )
            .with_label(cx.spans.name(&selected.at), "no files for this target yet")
            .with_help("its files are not generated; the other targets are"),
        ),
    }
}
