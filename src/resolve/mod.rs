//! Resolution: from the validated configuration to what runs — content hashes,
//! rendered prompts, fingerprints and the files each deployment depends on.
//!
//! Everything here is a pure function of the repository's content; the emitters and
//! the lock file are built from a [`Resolution`].

pub mod canonical;

use std::collections::{BTreeMap, BTreeSet};

use handlebars::Handlebars;
use rayon::prelude::*;
use serde_json::Value;

use crate::diag::{Code, Diagnostic};
use crate::layout::PROJECT_FILE_NAME;
use crate::model::load::PromptVersion;
use crate::model::{Config, Deploy, Environment, Model, ResolvedRelease};
use crate::source::{RepoPath, Source, SourceError};

/// A BLAKE3 hash as 64 lower-case hex characters.
pub type HashHex = String;

/// What a deployment runs on one track.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Track {
    /// `stable`, `canary` (a canary candidate) or `preview` (a blue-green candidate).
    pub track: &'static str,
    pub release: String,
    /// The release's hash (its canonical form, see [`canonical`]).
    pub release_hash: Option<HashHex>,
    pub prompt_hash: Option<HashHex>,
    /// The prompt as the pods receive it, when it renders.
    #[serde(skip)]
    pub rendered_prompt: Option<String>,
    /// BLAKE3 over everything that reaches the pods (see [`canonical::fingerprint`]).
    pub fingerprint: Option<HashHex>,
}

/// One model in one environment.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DeploymentPlan {
    pub model: String,
    pub environment: String,
    pub tracks: Vec<Track>,
    /// BLAKE3 over the tracks' fingerprints, in track order.
    pub fingerprint: Option<HashHex>,
    /// Repository files whose change can change this deployment, sorted.
    pub dependencies: Vec<String>,
}

/// Hashes and plans of a whole repository.
#[derive(Clone, Debug, Default)]
pub struct Resolution {
    /// Prompt hashes by (name, version).
    pub prompts: BTreeMap<(String, u32), HashHex>,
    /// Local dataset hashes by repository path.
    pub datasets: BTreeMap<String, HashHex>,
    /// Release hashes by (model, version).
    pub releases: BTreeMap<(String, String), HashHex>,
    pub deployments: Vec<DeploymentPlan>,
}

/// Hashes every prompt version, local dataset and release, and plans every
/// deployment. Datasets that cannot be read are reported (the reference rules have
/// already said why when the path is wrong; this covers I/O failures).
/// Datasets are read through `source`; `keep_rendered` keeps each track's rendered
/// prompt ([`Track::rendered_prompt`]), otherwise only its fingerprint is kept.
pub fn resolve(
    config: &Config,
    source: &dyn Source,
    keep_rendered: bool,
    diagnostics: &mut Vec<Diagnostic>,
) -> Resolution {
    // Every hash, rendering and plan below is independent of the others: they are
    // computed on every core and collected in input order, so output is unchanged.
    let prompts = config
        .prompts
        .iter()
        .flat_map(|(name, versions)| versions.iter().map(move |(v, p)| (name, *v, p)))
        .collect::<Vec<_>>()
        .into_par_iter()
        .filter_map(|(name, version, prompt)| {
            let text = prompt.text.as_ref()?;
            let hash = blake3::hash(text.as_bytes()).to_hex().to_string();
            Some(((name.clone(), version), hash))
        })
        .collect();
    let mut resolution = Resolution {
        prompts,
        ..Resolution::default()
    };
    hash_datasets(config, source, &mut resolution, diagnostics);
    resolution.releases = config
        .releases
        .iter()
        .flat_map(|(model, releases)| releases.iter().map(move |(v, r)| (model, v, r)))
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|(model, version, release)| {
            let prompt_hash = prompt_hash_of(&resolution, release);
            let hash = canonical::release_hash(release, prompt_hash.as_deref());
            ((model.clone(), version.clone()), hash)
        })
        .collect();
    let renderer = Renderer::new(&config.prompts);
    let deployments: Vec<(&Model, &Deploy, &Environment)> = config
        .models
        .iter()
        .flat_map(|model| model.deploy.values().map(move |deploy| (model, deploy)))
        .filter_map(|(model, deploy)| {
            let environment = config.project().environment.get(&deploy.environment)?;
            Some((model, deploy, environment))
        })
        .collect();
    let planned: Vec<(DeploymentPlan, Vec<Diagnostic>)> = deployments
        .into_par_iter()
        .map(|(model, deploy, environment)| {
            plan(
                config,
                keep_rendered,
                &resolution,
                &renderer,
                model,
                deploy,
                environment,
            )
        })
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for (plan, found) in planned {
        resolution.deployments.push(plan);
        for diagnostic in found {
            if seen.insert(diagnostic.message.clone()) {
                diagnostics.push(diagnostic);
            }
        }
    }
    resolution
}

/// Credentials a rendered prompt holds that neither its template nor any one of
/// its variables holds: put together from several variables (`{{a}}{{b}}`), and so
/// seen by no scan of what was written.
fn assembled_credentials(
    config: &Config,
    release: &ResolvedRelease,
    environment: &Environment,
    template: Option<&str>,
    rendered: &str,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (start, end, what) in crate::syntax::credentials::find_credentials(rendered) {
        let Some(found) = rendered.get(start..end) else {
            continue;
        };
        let written = |value: &Value| value.as_str().is_some_and(|s| s.contains(found));
        if template.is_some_and(|t| t.contains(found))
            || release.vars.values().any(|(v, _)| written(v))
            || environment.vars.values().any(written)
        {
            continue;
        }
        out.push(
            Diagnostic::new(
                Code::CredentialLiteral,
                format!(
                    "the prompt of release \"{}\" of `{}` renders what looks like {what}, put together from its variables",
                    release.version, release.model
                ),
            )
            .with_label(config.spans.name(&release.at), "its variables are joined here")
            .with_help(crate::syntax::credentials::help(true)),
        );
    }
    out
}

fn prompt_hash_of(resolution: &Resolution, release: &ResolvedRelease) -> Option<HashHex> {
    let prompt = release.prompt.as_ref()?;
    resolution
        .prompts
        .get(&(prompt.name.clone(), prompt.version?))
        .cloned()
}

fn local_datasets(models: &[Model]) -> BTreeSet<String> {
    models
        .iter()
        .flat_map(|m| m.deploy.values())
        .flat_map(|d| d.gate.values())
        .filter_map(|g| g.dataset.as_ref())
        .filter(|d| !d.is_remote())
        .filter_map(|d| RepoPath::parse(&d.path).ok())
        .map(|p| p.as_str().to_owned())
        .collect()
}

fn hash_datasets(
    config: &Config,
    source: &dyn Source,
    resolution: &mut Resolution,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let paths: Vec<RepoPath> = local_datasets(&config.models)
        .iter()
        .filter_map(|p| RepoPath::parse(p).ok())
        .collect();
    let hashes = crate::source::hash_files(source, &paths);
    for (repo_path, hashed) in paths.iter().zip(hashes) {
        let path = repo_path.as_str().to_owned();
        match hashed {
            Ok(hash) => {
                resolution.datasets.insert(path, hash.to_hex().to_string());
            }
            // Missing, escaping or not a file: the reference rules report these.
            Err(
                SourceError::NotFound(_) | SourceError::Escapes { .. } | SourceError::NotAFile(_),
            ) => {}
            Err(error) => {
                let at = config
                    .models
                    .iter()
                    .flat_map(|m| m.deploy.values())
                    .flat_map(|d| d.gate.values())
                    .filter_map(|g| g.dataset.as_ref())
                    .find(|d| RepoPath::parse(&d.path).is_ok_and(|p| p.as_str() == path))
                    .map(|d| config.spans.field(&d.at, "path"));
                diagnostics.push(
                    Diagnostic::new(
                        Code::MissingFile,
                        format!("the dataset `{path}` cannot be hashed: {error}"),
                    )
                    .with_label_opt(at, "this dataset")
                    .with_help("check that the file is readable"),
                );
            }
        }
    }
}

/// Renders prompt versions: plain-text splicing for templates that only insert
/// variables (from their analysis, no second parse); handlebars (strict, no escaping:
/// prompts are plain text) for the templates that use helpers.
struct Renderer<'a> {
    prompts: &'a BTreeMap<String, BTreeMap<u32, PromptVersion>>,
    registry: Handlebars<'static>,
}

impl<'a> Renderer<'a> {
    fn template_name(name: &str, version: u32) -> String {
        format!("{name}/v{version}")
    }

    fn new(prompts: &'a BTreeMap<String, BTreeMap<u32, PromptVersion>>) -> Self {
        let mut registry = crate::syntax::template::text_registry(true);
        for (name, versions) in prompts {
            for (version, prompt) in versions {
                // Simple templates render from their segments; templates that do
                // not compile (or nest too deep) are reported by the prompt rules and
                // never reach handlebars.
                let renders = prompt
                    .analysis
                    .as_ref()
                    .is_some_and(|a| a.segments.is_none() && a.problem.is_none());
                if let (true, Some(text)) = (renders, &prompt.text) {
                    let _ = registry.register_template_string(
                        &Self::template_name(name, *version),
                        text.as_ref(),
                    );
                }
            }
        }
        Renderer { prompts, registry }
    }

    /// The prompt of `release` in `environment`: environment vars overlaid by the
    /// release's own.
    fn render(&self, release: &ResolvedRelease, environment: &Environment) -> Option<String> {
        let prompt = release.prompt.as_ref()?;
        let version = prompt.version?;
        let mut vars: serde_json::Map<String, Value> = environment
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (key, (value, _)) in &release.vars {
            vars.insert(key.clone(), value.clone());
        }
        let file = self.prompts.get(&prompt.name).and_then(|v| v.get(&version));
        let simple = file.and_then(|p| {
            let segments = p.analysis.as_ref()?.segments.as_ref()?;
            Some((p.text.as_deref()?, segments))
        });
        match simple {
            Some((text, segments)) => {
                crate::syntax::template::render_segments(text, segments, &vars)
            }
            None => self
                .registry
                .render(
                    &Self::template_name(&prompt.name, version),
                    &Value::Object(vars),
                )
                .ok(),
        }
    }
}

fn plan(
    config: &Config,
    keep_rendered: bool,
    resolution: &Resolution,
    renderer: &Renderer,
    model: &Model,
    deploy: &Deploy,
    environment: &Environment,
) -> (DeploymentPlan, Vec<Diagnostic>) {
    let mut found = Vec::new();
    let mut tracks = Vec::new();
    if let Some(stable) = &deploy.stable {
        tracks.push(("stable", stable.clone()));
    }
    if let Some(canary) = &deploy.canary {
        tracks.push(("canary", canary.release.clone()));
    } else if let Some(blue_green) = &deploy.blue_green {
        tracks.push(("preview", blue_green.release.clone()));
    }
    let mut dependencies: BTreeSet<String> = BTreeSet::new();
    dependencies.insert(PROJECT_FILE_NAME.to_owned());
    dependencies.insert(config.files.path(model.at.file_id()).to_owned());
    let tracks: Vec<Track> = tracks
        .into_iter()
        .map(|(track, version)| {
            let release = config
                .releases
                .get(&model.name)
                .and_then(|r| r.get(&version));
            let prompt_file = release.and_then(|r| {
                let prompt = r.prompt.as_ref()?;
                config.prompts.get(&prompt.name)?.get(&prompt.version?)
            });
            if let Some(prompt) = prompt_file {
                dependencies.insert(prompt.path.as_str().to_owned());
            }
            let rendered = release.and_then(|r| renderer.render(r, environment));
            if let (Some(release), Some(text)) = (release, &rendered) {
                let template = prompt_file.and_then(|p| p.text.as_deref());
                found.extend(assembled_credentials(
                    config,
                    release,
                    environment,
                    template,
                    text,
                ));
            }
            let fingerprint = match (release, &rendered) {
                (Some(release), Some(text)) => Some(canonical::fingerprint(release, text)),
                _ => None,
            };
            Track {
                track,
                release_hash: resolution
                    .releases
                    .get(&(model.name.clone(), version.clone()))
                    .cloned(),
                prompt_hash: release.and_then(|r| prompt_hash_of(resolution, r)),
                release: version,
                rendered_prompt: rendered.filter(|_| keep_rendered),
                fingerprint,
            }
        })
        .collect();
    for gate in deploy.gate.values() {
        if let Some(dataset) = gate.dataset.as_ref().filter(|d| !d.is_remote())
            && let Ok(path) = RepoPath::parse(&dataset.path)
        {
            dependencies.insert(path.as_str().to_owned());
        }
    }
    let fingerprint = tracks
        .iter()
        .map(|t| t.fingerprint.clone())
        .collect::<Option<Vec<_>>>()
        .map(|prints| canonical::deployment_fingerprint(&prints));
    let plan = DeploymentPlan {
        model: model.name.clone(),
        environment: environment.name.clone(),
        tracks,
        fingerprint,
        dependencies: dependencies.into_iter().collect(),
    };
    (plan, found)
}
