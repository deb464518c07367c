//! `plan.json`: a machine-readable summary of every deployment — its releases and
//! fingerprints, the stages its rollout walks through, and the repository files it
//! depends on (the paths a pipeline triggers on).

use serde::Serialize;
use serde::ser::SerializeSeq;

use crate::model::{Better, Candidate, Promote};
use crate::resolve::Track;
use crate::target::{Context, Deployment, to_value};

/// One stage of a rollout, tagged by `stage`. Fields without a value are `null`.
#[derive(Serialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage<'a> {
    Smoke {
        requests: usize,
    },
    Gate {
        name: &'a str,
        metric: &'a str,
        better: &'static str,
        max_regression: Option<String>,
    },
    Shadow {
        duration: String,
        percent: u8,
    },
    Step {
        weight: u8,
        pause: Option<String>,
    },
    Preview {
        duration: Option<String>,
    },
    Switch {
        promote: &'static str,
        keep_old: Option<String>,
    },
    Promoted,
}

/// The stages a deployment's rollout passes through, in order.
pub fn stages<'a>(d: &Deployment<'a>) -> Vec<Stage<'a>> {
    let mut stages = Vec::new();
    let Some(candidate) = d.deploy.candidate() else {
        return stages;
    };
    if let Some(smoke) = &d.deploy.smoke {
        stages.push(Stage::Smoke {
            requests: smoke.request.len(),
        });
    }
    for gate in d.deploy.gate.values() {
        stages.push(Stage::Gate {
            name: &gate.name,
            metric: &gate.metric.name,
            better: match gate.metric.better {
                Better::Higher => "higher",
                Better::Lower => "lower",
            },
            max_regression: gate
                .max_regression
                .or(d.environment.max_regression)
                .map(|r| r.to_string()),
        });
    }
    if let Some(shadow) = candidate.shadow() {
        stages.push(Stage::Shadow {
            duration: shadow.duration.to_string(),
            percent: shadow.percent(),
        });
    }
    match candidate {
        Candidate::Canary(canary) => {
            for step in &canary.step {
                stages.push(Stage::Step {
                    weight: step.weight,
                    pause: step.pause.map(|p| p.to_string()),
                });
            }
        }
        Candidate::BlueGreen(blue_green) => {
            stages.push(Stage::Preview {
                duration: blue_green.preview.map(|p| p.to_string()),
            });
            stages.push(Stage::Switch {
                promote: match blue_green.promote.unwrap_or_default() {
                    Promote::Auto => "auto",
                    Promote::Manual => "manual",
                },
                keep_old: blue_green.keep_old.map(|k| k.to_string()),
            });
        }
    }
    stages.push(Stage::Promoted);
    stages
}

/// The whole plan, serialised as it is written: each deployment's entry is built
/// and let go in turn, so that a plan of thousands of deployments is never held as
/// one tree of values.
pub fn plan<'a>(cx: &'a Context<'a>) -> impl Serialize + 'a {
    // Fields in the order of their names, as the maps of `json!` write them.
    #[derive(Serialize)]
    struct Plan<'a> {
        deployments: Entries<'a>,
        format: u32,
        project: &'a str,
    }
    struct Entries<'a>(Vec<Deployment<'a>>);
    impl Serialize for Entries<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
            for d in &self.0 {
                seq.serialize_element(&entry(d))?;
            }
            seq.end()
        }
    }
    Plan {
        deployments: Entries(cx.planned_deployments()),
        format: 1,
        project: &cx.project.project,
    }
}

/// One deployment's entry in the plan.
#[derive(Serialize)]
struct Entry<'a> {
    model: &'a str,
    environment: &'a str,
    namespace: &'a str,
    strategy: &'static str,
    fingerprint: &'a Option<crate::resolve::HashHex>,
    tracks: &'a [Track],
    stages: Vec<Stage<'a>>,
    guards: Vec<&'a String>,
    dependencies: &'a [String],
}

/// One deployment's entry, as data with sorted keys (the `Value` the plan writes).
fn entry(d: &Deployment<'_>) -> serde_json::Value {
    to_value(&Entry {
        model: &d.model.name,
        environment: &d.environment.name,
        namespace: d.namespace(),
        strategy: d.deploy.candidate().map_or("none", |c| c.kind()),
        fingerprint: &d.plan.fingerprint,
        tracks: &d.plan.tracks,
        stages: stages(d),
        guards: d.deploy.guard.keys().collect(),
        dependencies: &d.plan.dependencies,
    })
}
