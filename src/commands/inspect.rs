//! `modelops inspect`: the configuration as modelops resolved it — releases after
//! `from=` inheritance with their hashes, and each deployment with the prompt its
//! pods receive (rendered with the environment's and the release's vars), its
//! fingerprints and the files it depends on.
//!
//! The document is built from a check that kept its views
//! ([`crate::check::Options::keep_views`]); it is data for people and scripts, with
//! no stability promise beyond the names documented in `docs/editors.md`. On a
//! repository with errors it holds what resolved, and the errors go to stderr with
//! exit code 1: a part the schema refuses (a model, a release, a deployment, an
//! environment; see `model::prune`) is absent, a deployment whose plan could not be
//! made has no `resolved`, a value a rule refuses is shown as written. Without a
//! valid project file nothing resolves, and nothing is printed.
//!
//! `inspect MODEL --env ENV --track stable|candidate --out DIR` writes instead the
//! files one track's pods read from `/etc/modelops/` ([`track_files`]), the bytes of
//! the kubernetes target's ConfigMap, so that an eval gate can score a release's
//! configuration before anything is deployed. It refuses a repository with errors:
//! files from a broken configuration must not be scored.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::check::Checked;
use crate::model::ResolvedRelease;
use crate::resolve::DeploymentPlan;
use std::path::{Path, PathBuf};

use clap::ValueEnum;

use super::{EXIT_INVALID, EXIT_OK, fail, open_worktree, print_diagnostics, print_stdout};
use crate::check::check;

/// The resolved configuration, restricted to one environment when `environment`
/// is given. `None` when the check has no project or resolution.
pub fn inspect(checked: &Checked, environment: Option<&str>) -> Option<Value> {
    let project = checked.config.project.as_ref()?;
    let resolution = checked.resolution.as_ref()?;
    let project_view = checked
        .views
        .get(crate::layout::PROJECT_FILE_NAME)
        .cloned()
        .unwrap_or(Value::Null);
    let mut environments = project_view
        .get("environment")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(only) = environment {
        environments.retain(|name, _| name == only);
    }

    let mut plans: BTreeMap<(&str, &str), &DeploymentPlan> = BTreeMap::new();
    for plan in &resolution.deployments {
        plans.insert((plan.model.as_str(), plan.environment.as_str()), plan);
    }

    let mut models = Map::new();
    for model in &checked.config.models {
        let view = checked
            .views
            .get(&format!("models/{}.kdl", model.name))
            .and_then(|v| v.get("model"))
            .and_then(|m| m.get(&model.name))
            .cloned()
            .unwrap_or(Value::Null);
        let mut entry = Map::new();
        for field in ["owner", "description"] {
            if let Some(value) = view.get(field) {
                entry.insert(field.into(), value.clone());
            }
        }
        let releases: Map<String, Value> = checked
            .config
            .releases
            .get(&model.name)
            .map(|releases| {
                releases
                    .iter()
                    .map(|(version, release)| {
                        let hash = resolution
                            .releases
                            .get(&(model.name.clone(), version.clone()));
                        (version.clone(), release_json(release, hash, checked))
                    })
                    .collect()
            })
            .unwrap_or_default();
        entry.insert("release".into(), Value::Object(releases));

        let mut deployments = Map::new();
        if let Some(deploys) = view.get("deploy").and_then(Value::as_object) {
            for (env, deploy) in deploys {
                if environment.is_some_and(|only| only != env) {
                    continue;
                }
                let mut deploy = deploy.as_object().cloned().unwrap_or_default();
                if let Some(plan) = plans.get(&(model.name.as_str(), env.as_str())) {
                    deploy.insert("resolved".into(), plan_json(plan));
                }
                deployments.insert(env.clone(), Value::Object(deploy));
            }
        }
        entry.insert("deploy".into(), Value::Object(deployments));
        models.insert(model.name.clone(), Value::Object(entry));
    }

    let mut document = Map::new();
    document.insert("project".into(), json!(project.project));
    document.insert("environment".into(), Value::Object(environments));
    for field in ["policy", "target"] {
        if let Some(value) = project_view.get(field) {
            document.insert(field.into(), value.clone());
        }
    }
    document.insert("model".into(), Value::Object(models));
    Some(Value::Object(document))
}

fn release_json(release: &ResolvedRelease, hash: Option<&String>, checked: &Checked) -> Value {
    let lineage = checked
        .config
        .releases
        .get(&release.model)
        .map(|all| crate::model::lineage(all, &release.version))
        .unwrap_or_else(|| vec![release.version.clone()]);
    let prompt = release.prompt.as_ref().map(|p| {
        let blake3 = p.version.and_then(|v| {
            checked
                .resolution
                .as_ref()?
                .prompts
                .get(&(p.name.clone(), v))
        });
        json!({"name": p.name, "version": p.version, "blake3": blake3})
    });
    let params: Map<String, Value> = release
        .params
        .iter()
        .map(|(k, (v, _))| (k.clone(), v.clone()))
        .collect();
    let vars: Map<String, Value> = release
        .vars
        .iter()
        .map(|(k, (v, _))| (k.clone(), v.clone()))
        .collect();
    let secrets: Map<String, Value> = release
        .secrets
        .iter()
        .map(|(name, s)| (name.clone(), json!({"from": s.from, "key": s.key})))
        .collect();
    json!({
        "lineage": lineage,
        "base": release.base.as_ref().map(|b| json!({"id": b.id, "revision": b.revision})),
        "image": release.image.as_ref().map(|(image, _)| image),
        "prompt": prompt,
        "params": params,
        "vars": vars,
        "secret": secrets,
        "blake3": hash,
    })
}

fn plan_json(plan: &DeploymentPlan) -> Value {
    let tracks: Vec<Value> = plan
        .tracks
        .iter()
        .map(|t| {
            json!({
                "track": t.track,
                "release": t.release,
                "release_hash": t.release_hash,
                "prompt_hash": t.prompt_hash,
                "fingerprint": t.fingerprint,
                "system_prompt": t.rendered_prompt,
            })
        })
        .collect();
    json!({
        "tracks": tracks,
        "fingerprint": plan.fingerprint,
        "dependencies": plan.dependencies,
    })
}

/// A release of a deployment, as `--track` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TrackArg {
    /// The release the deployment's `stable` names.
    Stable,
    /// The release on its way in: the `canary` or the `blue-green` release.
    Candidate,
}

/// The files of one track of a deployment ([`track_files`]).
#[derive(Debug)]
pub struct TrackFiles {
    /// The plan's name of the track: `stable`, `canary` or `preview`.
    pub track: &'static str,
    pub release: String,
    /// `system-prompt.txt`, `params.json` and `release.json`, by file name.
    pub files: BTreeMap<String, String>,
}

/// Why [`track_files`] has nothing to write: a message and a help line.
#[derive(Debug)]
pub struct NoTrack {
    pub message: String,
    pub help: Option<String>,
}

/// The files the pods of `track` of `model`'s deployment in `environment` read from
/// `/etc/modelops/`: the kubernetes target's ConfigMap data
/// ([`crate::target::kubernetes::config_data`]), so the bytes are the ones deployed.
/// `checked` must have kept the rendered prompts
/// ([`crate::check::Options::keep_rendered`]).
pub fn track_files(
    checked: &Checked,
    model: &str,
    environment: &str,
    track: TrackArg,
) -> Result<TrackFiles, NoTrack> {
    let refuse = |message: String, help: Option<String>| NoTrack { message, help };
    let found = match super::find_model(checked, model) {
        Ok(found) => found,
        Err((message, help)) => return Err(refuse(message, Some(help))),
    };
    if !found.deploy.contains_key(environment) {
        let known: Vec<&str> = found.deploy.keys().map(String::as_str).collect();
        return Err(refuse(
            format!("model `{model}` has no deployment in `{environment}`"),
            Some(format!("it is deployed in: {}", known.join(", "))),
        ));
    }
    let cx = crate::target::Context::of(checked)
        .ok_or_else(|| refuse("the repository could not be resolved".into(), None))?;
    let deployment = cx
        .planned_deployments()
        .into_iter()
        .find(|d| d.model.name == model && d.environment.name == environment)
        .ok_or_else(|| {
            refuse(
                format!("the deployment of `{model}` in `{environment}` could not be resolved"),
                None,
            )
        })?;
    let chosen = deployment.plan.tracks.iter().find(|t| match track {
        TrackArg::Stable => t.track == "stable",
        TrackArg::Candidate => t.track != "stable",
    });
    let Some(chosen) = chosen else {
        return Err(match track {
            TrackArg::Stable => refuse(
                format!("deploy \"{environment}\" of `{model}` has no stable release"),
                None,
            ),
            TrackArg::Candidate => refuse(
                format!("deploy \"{environment}\" of `{model}` has no candidate"),
                Some(
                    "a candidate is a `canary` or `blue-green` release; \
                     `--track stable` writes the stable one"
                        .into(),
                ),
            ),
        });
    };
    let release = checked.config.release(model, &chosen.release);
    Ok(TrackFiles {
        track: chosen.track,
        release: chosen.release.clone(),
        files: crate::target::kubernetes::config_data(&deployment, chosen, release),
    })
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// With `--out`: the model whose release files to write.
    #[arg(value_name = "MODEL", requires = "out")]
    pub model: Option<String>,
    /// Only this environment's deployments (with `--out`: the deployment's).
    #[arg(long = "env", value_name = "ENV")]
    pub environment: Option<String>,
    /// With `--out`: the stable release, or the candidate (canary or blue-green).
    #[arg(long, value_enum, requires = "out")]
    pub track: Option<TrackArg>,
    /// Write the files the track's pods read from /etc/modelops/ (system-prompt.txt,
    /// params.json, release.json) into DIR, created if missing, instead of printing
    /// the configuration. Needs MODEL, `--env` and `--track`.
    #[arg(
        long,
        value_name = "DIR",
        requires_all = ["model", "environment", "track"],
        conflicts_with = "format"
    )]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = DataFormat::Json)]
    pub format: DataFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DataFormat {
    Json,
    Yaml,
}

/// Runs `inspect`; returns the exit code.
pub fn run(directory: Option<&Path>, args: &InspectArgs) -> u8 {
    let worktree = match open_worktree(directory) {
        Ok(worktree) => worktree,
        Err(code) => return code,
    };
    let mut options = crate::check::Options::from_environment();
    options.keep_views = args.out.is_none();
    let checked = match check(&worktree, &options) {
        Ok(checked) => checked,
        Err(error) => return fail(&error.to_string(), None),
    };
    let has_errors = checked.has_errors();
    if has_errors {
        print_diagnostics(&checked.diagnostics, &checked.config.files);
    }
    // The files `--out` writes are scored by eval gates: none from a broken
    // configuration.
    if args.out.is_some() && has_errors {
        eprintln!(
            "error: the repository has errors; `inspect --out` writes a track's files only \
             from a configuration without errors"
        );
        eprintln!(
            "  help: eval gates score these files, and a broken configuration must not be \
             scored; fix what `modelops check` reports"
        );
        return EXIT_INVALID;
    }
    if let (Some(environment), Some(project)) = (&args.environment, &checked.config.project)
        && !project.environment.contains_key(environment)
    {
        let known: Vec<&str> = project.environment.keys().map(String::as_str).collect();
        return fail(
            &format!("no environment `{environment}` in modelops.kdl"),
            Some(&format!("environments: {}", known.join(", "))),
        );
    }
    if let (Some(out), Some(model), Some(environment), Some(track)) =
        (&args.out, &args.model, &args.environment, args.track)
    {
        return write_track(&checked, model, environment, track, out);
    }
    let Some(document) = inspect(&checked, args.environment.as_deref()) else {
        eprintln!("error: nothing resolved: `modelops.kdl` is not a valid project file");
        return EXIT_INVALID;
    };
    match args.format {
        DataFormat::Json => super::print_json(&crate::target::to_json(&document)),
        DataFormat::Yaml => print_stdout(&crate::target::to_yaml(&document)),
    }
    if has_errors {
        eprintln!(
            "error: the repository has errors, so the configuration printed is partial: \
             only what resolved"
        );
        return EXIT_INVALID;
    }
    EXIT_OK
}

/// `inspect --out`: writes a track's files into `out` and says so on stderr.
fn write_track(
    checked: &Checked,
    model: &str,
    environment: &str,
    track: TrackArg,
    out: &Path,
) -> u8 {
    let found = match track_files(checked, model, environment, track) {
        Ok(found) => found,
        Err(refused) => return fail(&refused.message, refused.help.as_deref()),
    };
    if let Err(error) = std::fs::create_dir_all(out) {
        return fail(&format!("cannot create `{}`: {error}", out.display()), None);
    }
    for (name, text) in &found.files {
        let path = out.join(name);
        if let Err(error) = crate::output::write::write_file_atomically(&path, text.as_bytes()) {
            return fail(&format!("cannot write `{}`: {error}", path.display()), None);
        }
    }
    let names: Vec<&str> = found.files.keys().map(String::as_str).collect();
    eprintln!(
        "{}",
        crate::diag::clean::text(&format!(
            "wrote release {} of `{model}` in `{environment}` ({} track) to `{}`: {}",
            found.release,
            found.track,
            out.display(),
            names.join(", ")
        ))
    );
    EXIT_OK
}
