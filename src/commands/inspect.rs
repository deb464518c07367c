//! `modelops inspect`: the configuration as modelops resolved it — releases after
//! `from=` inheritance with their hashes, and each deployment with the prompt its
//! pods receive (rendered with the environment's and the release's vars), its
//! fingerprints and the files it depends on.
//!
//! The document is built from a check without errors that kept its views
//! ([`crate::check::Options::keep_views`]); it is data for people and scripts, with
//! no stability promise beyond the names documented in `docs/editors.md`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::check::Checked;
use crate::model::ResolvedRelease;
use crate::resolve::DeploymentPlan;
use std::path::Path;

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

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Only this environment's deployments.
    #[arg(long = "env", value_name = "ENV")]
    pub environment: Option<String>,
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
    options.keep_views = true;
    let checked = match check(&worktree, &options) {
        Ok(checked) => checked,
        Err(error) => return fail(&error.to_string(), None),
    };
    if checked.has_errors() {
        print_diagnostics(&checked.diagnostics, &checked.config.files);
        eprintln!("error: the repository has errors; fix them to see it resolved");
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
    let Some(document) = crate::commands::inspect::inspect(&checked, args.environment.as_deref())
    else {
        return fail("the repository could not be resolved", None);
    };
    match args.format {
        DataFormat::Json => super::print_json(&crate::target::to_json(&document)),
        DataFormat::Yaml => print_stdout(&crate::target::to_yaml(&document)),
    }
    EXIT_OK
}
