//! What the proxy targets share: the traffic states a rollout walks through, and the
//! address of each track.
//!
//! States, in order: `stable` (all traffic to stable), `shadow` (stable serves, the
//! candidate receives a mirror), `step-<weight>` per canary step, `promoted` (all
//! traffic to the candidate). A pipeline applies them in order; a rollback applies
//! `stable`, which is always precomputed.

use crate::model::{Candidate, Target};
use crate::target::Deployment;

pub use crate::model::target::{Address, DEFAULT_LISTEN, DEFAULT_UPSTREAM, listen, upstream_for};

/// One traffic state: how live traffic is split between tracks, and what is mirrored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrafficState {
    pub name: String,
    /// (track, percent of live traffic), summing to 100, largest share first.
    pub weights: Vec<(&'static str, u8)>,
    /// (track, percent of requests mirrored).
    pub mirror: Option<(&'static str, u8)>,
}

/// The candidate's track: `canary` or `preview` (blue-green).
pub fn candidate_track(candidate: &Candidate<'_>) -> &'static str {
    match candidate {
        Candidate::Canary(_) => "canary",
        Candidate::BlueGreen(_) => "preview",
    }
}

/// Every traffic state of a deployment, in rollout order.
pub fn states(d: &Deployment<'_>) -> Vec<TrafficState> {
    let mut states = vec![TrafficState {
        name: "stable".into(),
        weights: vec![("stable", 100)],
        mirror: None,
    }];
    let Some(candidate) = d.deploy.candidate() else {
        return states;
    };
    let track = candidate_track(&candidate);
    if let Some(shadow) = candidate.shadow() {
        states.push(TrafficState {
            name: "shadow".into(),
            weights: vec![("stable", 100)],
            mirror: Some((track, shadow.percent())),
        });
    }
    if let Candidate::Canary(canary) = candidate {
        for step in &canary.step {
            let weights = match step.weight {
                100 => vec![(track, 100)],
                w => vec![("stable", 100 - w), (track, w)],
            };
            states.push(TrafficState {
                name: format!("step-{}", step.weight),
                weights,
                mirror: None,
            });
        }
    }
    states.push(TrafficState {
        name: "promoted".into(),
        weights: vec![(track, 100)],
        mirror: None,
    });
    states
}

/// The tracks a deployment runs.
pub fn tracks(d: &Deployment<'_>) -> Vec<&'static str> {
    let mut tracks = vec!["stable"];
    if let Some(candidate) = d.deploy.candidate() {
        tracks.push(candidate_track(&candidate));
    }
    tracks
}

/// Renders a target's `upstream` template for one track of a deployment.
pub fn upstream(target: &Target, d: &Deployment<'_>, track: &str) -> Result<Address, String> {
    upstream_for(
        target,
        &d.model.name,
        track,
        d.namespace(),
        &d.environment.name,
    )
}
