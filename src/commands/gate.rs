//! `modelops gate`: compare a candidate's evaluation scores with the baseline's.

use std::path::{Path, PathBuf};

use clap::ValueEnum;

use super::{EXIT_INVALID, EXIT_OK, ReportFormat, fail, load_deployment, print_stdout};

#[derive(Debug, clap::Args)]
pub struct GateArgs {
    /// Read the threshold and direction from this model's gate (with `--env`).
    pub model: Option<String>,
    /// The environment of the deployment whose gate applies.
    #[arg(long = "env", value_name = "ENV", requires = "model")]
    pub environment: Option<String>,
    /// Which gate, when the deployment has several.
    #[arg(long = "gate", value_name = "NAME", requires = "model")]
    pub gate: Option<String>,
    /// Per-item scores of the current production model (JSON array or JSON Lines).
    #[arg(long, value_name = "FILE")]
    pub baseline: PathBuf,
    /// Per-item scores of the candidate, on the same dataset and judge.
    #[arg(long, value_name = "FILE")]
    pub candidate: PathBuf,
    /// The largest allowed relative regression, e.g. `1%` (default: the gate's, or 1%).
    #[arg(long, value_name = "PERCENT")]
    pub max_regression: Option<String>,
    /// Whether higher or lower scores are better (default: the gate's, or higher).
    #[arg(long, value_enum)]
    pub better: Option<BetterArg>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BetterArg {
    Higher,
    Lower,
}

/// Runs `gate`; returns the exit code.
pub fn run(directory: Option<&Path>, args: &GateArgs) -> u8 {
    use crate::model::{Better, Regression};
    let mut max_regression = Regression { fraction: 0.01 };
    let mut better = Better::Higher;
    if let Some(model) = &args.model {
        let Some(environment) = &args.environment else {
            return fail("`gate MODEL` needs `--env ENV`", None);
        };
        let (checked, _) = match load_deployment(directory, model, environment) {
            Ok(found) => found,
            Err(code) => return code,
        };
        let deploy = checked
            .config
            .models
            .iter()
            .find(|m| &m.name == model)
            .and_then(|m| m.deploy.get(environment));
        let gates: Vec<&crate::model::Gate> = deploy
            .map(|d| d.gate.values().collect())
            .unwrap_or_default();
        let gate = match (&args.gate, gates.as_slice()) {
            (Some(name), _) => gates.iter().find(|g| &g.name == name).copied(),
            (None, [only]) => Some(*only),
            (None, []) => {
                return fail(
                    &format!("deploy \"{environment}\" of `{model}` has no gate"),
                    None,
                );
            }
            (None, _) => {
                let names: Vec<&str> = gates.iter().map(|g| g.name.as_str()).collect();
                return fail(
                    "the deployment has several gates",
                    Some(&format!("name one with `--gate`: {}", names.join(", "))),
                );
            }
        };
        let Some(gate) = gate else {
            return fail(
                &format!("deploy \"{environment}\" of `{model}` has no such gate"),
                None,
            );
        };
        let env_limit = checked
            .config
            .project
            .as_ref()
            .and_then(|p| p.environment.get(environment))
            .and_then(|e| e.max_regression);
        if let Some(limit) = gate.max_regression.or(env_limit) {
            max_regression = limit;
        }
        better = gate.metric.better;
    }
    if let Some(text) = &args.max_regression {
        match Regression::parse(text) {
            Some(r) => max_regression = r,
            None => return fail(&format!("`{text}` is not a regression such as `1%`"), None),
        }
    }
    if let Some(arg) = args.better {
        better = match arg {
            BetterArg::Higher => Better::Higher,
            BetterArg::Lower => Better::Lower,
        };
    }
    let scores = crate::runtime::gate::read_scores(&args.baseline)
        .and_then(|base| Ok((base, crate::runtime::gate::read_scores(&args.candidate)?)))
        .and_then(|(base, cand)| {
            crate::runtime::gate::evaluate(&base, &cand, max_regression, better)
        });
    let report = match scores {
        Ok(report) => report,
        Err(error) => return fail(&error.to_string(), None),
    };
    match args.format {
        ReportFormat::Human => print_stdout(&report.human()),
        ReportFormat::Json => {
            super::print_json(&serde_json::to_string_pretty(&report.json()).unwrap_or_default())
        }
    }
    if report.passed { EXIT_OK } else { EXIT_INVALID }
}
