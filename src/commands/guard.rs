//! `modelops guard`: evaluate a deployment's guards against metrics.

use std::path::{Path, PathBuf};

use super::{EXIT_ERROR, EXIT_INVALID, EXIT_OK, ReportFormat, fail, load_deployment, print_stdout};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["metrics", "prometheus"])))]
pub struct GuardArgs {
    /// The model whose deployment is guarded.
    pub model: String,
    /// The environment of the deployment.
    #[arg(long = "env", value_name = "ENV")]
    pub environment: String,
    /// A metrics snapshot: a JSON object from guard name to value.
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
    /// A Prometheus server (`http://host:port`), queried with the guards' PromQL.
    #[arg(long, value_name = "URL")]
    pub prometheus: Option<String>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
}

/// Runs `guard`; returns the exit code.
pub fn run(directory: Option<&Path>, args: &GuardArgs) -> u8 {
    let (checked, model) = match load_deployment(directory, &args.model, &args.environment) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let Some(deploy) = checked
        .config
        .models
        .iter()
        .find(|m| m.name == model)
        .and_then(|m| m.deploy.get(&args.environment))
    else {
        return EXIT_ERROR;
    };
    if deploy.guard.is_empty() {
        return fail(
            &format!("deploy \"{}\" of `{model}` has no guards", args.environment),
            None,
        );
    }
    // The guards watch the release receiving new traffic: the candidate, else stable.
    let release = deploy
        .candidate()
        .map(|c| c.release().to_owned())
        .or_else(|| deploy.stable.clone())
        .unwrap_or_default();
    let source = match (&args.metrics, &args.prometheus) {
        (Some(path), _) => {
            let text =
                match crate::runtime::read_bounded(path, crate::runtime::guard::MAX_SNAPSHOT_BYTES)
                {
                    Ok(text) => text,
                    Err(e) => return fail(&format!("cannot read `{}`: {e}", path.display()), None),
                };
            match crate::runtime::guard::parse_snapshot(&text) {
                Ok(values) => crate::runtime::guard::MetricSource::Snapshot(values),
                Err(e) => {
                    return fail(
                        &format!(
                            "`{}` is not a JSON object of guard values: {e}",
                            path.display()
                        ),
                        None,
                    );
                }
            }
        }
        (None, Some(url)) => match crate::runtime::http::Url::parse(url) {
            Ok(url) => crate::runtime::guard::MetricSource::Prometheus(url),
            Err(e) => return fail(&e, None),
        },
        (None, None) => return fail("give `--metrics FILE` or `--prometheus URL`", None),
    };
    let namespace = checked
        .config
        .project
        .as_ref()
        .and_then(|p| p.environment.get(&args.environment))
        .map_or(args.environment.as_str(), |e| {
            e.namespace.as_deref().unwrap_or(&e.name)
        });
    let scope = crate::target::guards::QueryScope {
        model: &model,
        release: &release,
        namespace,
        track: crate::target::guards::candidate_track(deploy),
    };
    let results = match crate::runtime::guard::evaluate(&scope, &deploy.guard, &source) {
        Ok(results) => results,
        Err(error) => return fail(&error.to_string(), None),
    };
    match args.format {
        ReportFormat::Human => print_stdout(&crate::runtime::guard::human(&results, &deploy.guard)),
        ReportFormat::Json => super::print_json(
            &serde_json::to_string_pretty(&crate::runtime::guard::json(&results))
                .unwrap_or_default(),
        ),
    }
    let breaches: Vec<&crate::runtime::guard::GuardResult> =
        results.iter().filter(|r| r.breached).collect();
    let inconclusive: Vec<&crate::runtime::guard::GuardResult> = results
        .iter()
        .filter(|r| r.verdict == crate::target::guards::Verdict::Inconclusive)
        .collect();
    for result in &inconclusive {
        let guard = deploy.guard.get(&result.guard);
        let why = match guard.and_then(crate::target::guards::min_samples) {
            Some(n) => format!(
                "release {release} served fewer than {n} requests in the last {} (or there is no data)",
                crate::target::guards::WINDOW
            ),
            None => "its query found no data".to_owned(),
        };
        eprintln!(
            "error: guard `{}` is inconclusive: {why}; a candidate without enough traffic is never judged healthy",
            result.guard
        );
    }
    if breaches.is_empty() && inconclusive.is_empty() {
        EXIT_OK
    } else if breaches.is_empty() {
        EXIT_INVALID
    } else {
        for breach in breaches {
            let limit = breach
                .max
                .map(|m| format!("max {m}"))
                .or_else(|| breach.min.map(|m| format!("min {m}")))
                .unwrap_or_default();
            let series = breach
                .series
                .as_deref()
                .map(|labels| format!(" in series {labels}"))
                .unwrap_or_default();
            eprintln!(
                "error: guard `{}` breached: {} (threshold {limit}){series}",
                breach.guard, breach.value
            );
        }
        EXIT_INVALID
    }
}
