//! The `litellm` target: per deployment and traffic state,
//! `litellm/<environment>/<model>/<state>.yaml`, a LiteLLM proxy `config.yaml`.
//!
//! Stable and candidate are `model_list` entries under one `model_name` (the model's
//! name) with `weight`s; a second group, `<model>-stable`, holds the stable release
//! alone and is the `fallbacks` target. Requests go to each track's serving container
//! (an OpenAI-compatible endpoint at the rendered `upstream`), naming the release's
//! base model; keys are `os.environ/…` references, never literals. LiteLLM cannot
//! mirror traffic, so a shadow state routes like `stable` (and the rules warn).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{self, TargetKind};
use crate::target::registry::{Apply, Emitted, Layout, Part, Per, Target};
use crate::target::traffic::{self, TrafficState};
use crate::target::{Context, Deployment, to_yaml};

/// The `litellm` target.
pub struct LiteLlm;

const LAYOUT: Layout = Layout {
    per: Per::TrafficState,
    path: "litellm/{environment}/{model}/{state}.yaml",
};

impl Target for LiteLlm {
    fn kind(&self) -> TargetKind {
        TargetKind::LiteLlm
    }

    fn layout(&self) -> Layout {
        LAYOUT
    }

    fn apply(&self) -> Apply {
        Apply::LiteLlmReload
    }

    fn emit(&self, cx: &Context<'_>, part: &Part<'_, '_>) -> Emitted {
        let mut out = Emitted::default();
        for d in part.deployments {
            for state in traffic::states(d) {
                out.files.insert(
                    LAYOUT.state_path(&d.environment.name, &d.model.name, &state.name),
                    to_yaml(&config(cx, part.declared, d, &state)),
                );
            }
        }
        out
    }
}

/// The parts of the LiteLLM proxy's `config.yaml` this target writes.
#[derive(Serialize)]
struct ProxyConfig {
    model_list: Vec<ModelEntry>,
    router_settings: RouterSettings,
    litellm_settings: LiteLlmSettings,
}

#[derive(Serialize)]
struct ModelEntry {
    model_name: String,
    litellm_params: LiteLlmParams,
    model_info: ModelInfo,
}

#[derive(Serialize)]
struct LiteLlmParams {
    model: String,
    api_base: String,
    /// An `os.environ/…` reference, never a literal key.
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    weight: Option<u8>,
}

#[derive(Serialize)]
struct ModelInfo {
    id: String,
}

#[derive(Serialize)]
struct RouterSettings {
    routing_strategy: &'static str,
    num_retries: u32,
}

#[derive(Serialize)]
struct LiteLlmSettings {
    /// Model group to the groups it falls back to.
    fallbacks: Vec<BTreeMap<String, Vec<String>>>,
}

fn entry(
    cx: &Context<'_>,
    target: &model::Target,
    d: &Deployment<'_>,
    group: &str,
    track: &str,
    weight: Option<u8>,
) -> Option<ModelEntry> {
    let release = d.plan.tracks.iter().find(|t| t.track == track)?;
    let resolved = cx.release(&d.model.name, &release.release)?;
    let base = resolved.base.as_ref()?;
    let address = traffic::upstream(target, d, track).ok()?;
    Some(ModelEntry {
        model_name: group.to_owned(),
        litellm_params: LiteLlmParams {
            // `openai/` selects LiteLLM's OpenAI-compatible client; the rest is the
            // model the serving container is asked for.
            model: format!("openai/{}", base.id),
            api_base: format!("http://{address}/v1"),
            api_key: resolved
                .secrets
                .values()
                .next()
                .map(|secret| format!("os.environ/{}", secret.name)),
            weight,
        },
        model_info: ModelInfo {
            id: format!("{}-{}-{}", d.model.name, track, release.release),
        },
    })
}

fn config(
    cx: &Context<'_>,
    target: &model::Target,
    d: &Deployment<'_>,
    state: &TrafficState,
) -> ProxyConfig {
    let name = d.model.name.clone();
    let stable_group = format!("{name}-stable");
    let mut model_list: Vec<ModelEntry> = state
        .weights
        .iter()
        .filter_map(|(track, weight)| entry(cx, target, d, &name, track, Some(*weight)))
        .collect();
    model_list.extend(entry(cx, target, d, &stable_group, "stable", None));
    ProxyConfig {
        model_list,
        router_settings: RouterSettings {
            routing_strategy: "simple-shuffle",
            num_retries: 0,
        },
        litellm_settings: LiteLlmSettings {
            fallbacks: vec![BTreeMap::from([(name, vec![stable_group])])],
        },
    }
}
