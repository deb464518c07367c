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
    /// Poll Prometheus every analysis interval (the shortest guard interval) for
    /// DURATION (such as `30m` or `1h`): fail at once when a guard breaches its
    /// `failures` polls in a row, and at the end when a guard's last reading is
    /// inconclusive.
    #[arg(long, value_name = "DURATION", conflicts_with = "metrics")]
    pub watch: Option<String>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
}

/// Overrides the interval between the polls of `--watch`, in milliseconds: for
/// testing only.
pub const WATCH_INTERVAL_VARIABLE: &str = "MODELOPS_WATCH_INTERVAL_MS";

/// Runs `guard`; returns the exit code.
pub fn run(directory: Option<&Path>, args: &GuardArgs) -> u8 {
    let watch = match &args.watch {
        None => None,
        Some(text) => match watch_duration(text) {
            Ok(duration) => Some(duration),
            Err(code) => return code,
        },
    };
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
    if let Some(duration) = watch {
        let interval = match watch_interval(&deploy.guard) {
            Ok(interval) => interval,
            Err(code) => return code,
        };
        let plan = crate::runtime::guard::Watch { duration, interval };
        let end = crate::runtime::guard::watch(&scope, &deploy.guard, &source, plan, &mut |poll| {
            eprintln!(
                "{}",
                crate::diag::clean::text(&crate::runtime::guard::progress(poll))
            );
        });
        return match end {
            crate::runtime::guard::WatchEnd::Failed(error) => fail(&error.to_string(), None),
            crate::runtime::guard::WatchEnd::Breached { results, guards } => {
                report(args.format, &results, &deploy.guard);
                breached(results.iter().filter(|r| guards.contains(&r.guard)));
                EXIT_INVALID
            }
            crate::runtime::guard::WatchEnd::Ran { results, streaks } => {
                report(args.format, &results, &deploy.guard);
                if inconclusive(&results, &deploy.guard, &release) {
                    return EXIT_INVALID;
                }
                for streak in streaks.iter().filter(|s| s.breaches > 0) {
                    eprintln!(
                        "warning: guard `{}` breached in the last {} poll(s), fewer in a row than its failures={}: the watch passes",
                        crate::diag::clean::text(&streak.guard),
                        streak.breaches,
                        streak.limit
                    );
                }
                EXIT_OK
            }
        };
    }
    let results = match crate::runtime::guard::evaluate(&scope, &deploy.guard, &source) {
        Ok(results) => results,
        Err(error) => return fail(&error.to_string(), None),
    };
    report(args.format, &results, &deploy.guard);
    let breaches: Vec<&crate::runtime::guard::GuardResult> =
        results.iter().filter(|r| r.breached).collect();
    let inconclusive = inconclusive(&results, &deploy.guard, &release);
    if breaches.is_empty() && !inconclusive {
        EXIT_OK
    } else if breaches.is_empty() {
        EXIT_INVALID
    } else {
        breached(breaches);
        EXIT_INVALID
    }
}

/// The duration of `--watch`.
fn watch_duration(text: &str) -> Result<std::time::Duration, u8> {
    match crate::model::Duration::parse(text) {
        Some(d) if d.millis > 0 => Ok(std::time::Duration::from_millis(d.millis)),
        _ => Err(fail(
            &format!("`--watch {text}` is not a duration longer than zero"),
            Some("give one such as `30m`, `1h` or `1h30m`"),
        )),
    }
}

/// The interval between the polls of a watch: the guards' analysis interval, or
/// [`WATCH_INTERVAL_VARIABLE`] when set.
fn watch_interval(
    guards: &crate::model::NameMap<crate::model::Guard>,
) -> Result<std::time::Duration, u8> {
    match std::env::var_os(WATCH_INTERVAL_VARIABLE) {
        None => Ok(crate::runtime::guard::Watch::interval_of(guards)),
        Some(value) => match value.to_str().and_then(|v| v.parse::<u64>().ok()) {
            Some(millis) if millis > 0 => Ok(std::time::Duration::from_millis(millis)),
            _ => Err(fail(
                &format!(
                    "{WATCH_INTERVAL_VARIABLE} is `{}`, not a number of milliseconds",
                    value.to_string_lossy()
                ),
                Some("unset it to poll at the guards' interval"),
            )),
        },
    }
}

fn report(
    format: ReportFormat,
    results: &[crate::runtime::guard::GuardResult],
    guards: &crate::model::NameMap<crate::model::Guard>,
) {
    match format {
        ReportFormat::Human => print_stdout(&crate::runtime::guard::human(results, guards)),
        ReportFormat::Json => super::print_json(
            &serde_json::to_string_pretty(&crate::runtime::guard::json(results))
                .unwrap_or_default(),
        ),
    }
}

/// Says why each inconclusive guard fails; whether there was one.
fn inconclusive(
    results: &[crate::runtime::guard::GuardResult],
    guards: &crate::model::NameMap<crate::model::Guard>,
    release: &str,
) -> bool {
    let inconclusive: Vec<&crate::runtime::guard::GuardResult> = results
        .iter()
        .filter(|r| r.verdict == crate::target::guards::Verdict::Inconclusive)
        .collect();
    for result in &inconclusive {
        let guard = guards.get(&result.guard);
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
    !inconclusive.is_empty()
}

/// Says how each breached guard breached.
fn breached<'r>(breaches: impl IntoIterator<Item = &'r crate::runtime::guard::GuardResult>) {
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
}
