//! The `litellm` target: per deployment and traffic state,
//! `litellm/<environment>/<model>/<state>.yaml`, a LiteLLM proxy `config.yaml`.
//!
//! Stable and candidate are `model_list` entries under one `model_name` (the model's
//! name) with `weight`s; a second group, `<model>-stable`, holds the stable release
//! alone and is the `fallbacks` target. LiteLLM cannot mirror traffic, so a shadow
//! state routes like `stable` (and the rules warn).
//!
//! Serving contract: requests go to each track's serving container, an
//! OpenAI-compatible endpoint at the rendered `upstream` (`http://<upstream>/v1`),
//! through LiteLLM's OpenAI-compatible client (`openai/…`). The request's `model` is
//! the modelops model name (`openai/support-bot` sends `"model": "support-bot"`): the
//! container knows which release and base model it serves from
//! `/etc/modelops/release.json` (whose `model` field is that same name), so the
//! gateway never names a vendor model. The container holds the vendor credentials
//! itself (from the release's `secret`s); the in-cluster hop carries none, only the
//! fixed placeholder [`IN_CLUSTER_API_KEY`].
//!
//! Every entry has its own `model_info.id`, `<model_name>-<track>-<release>` (so
//! `support-bot-stable-1.4.2` in the weighted group and
//! `support-bot-stable-stable-1.4.2` in the fallback group): LiteLLM's router indexes
//! deployments, cooldowns and per-deployment state by that id, so the stable release
//! listed in both groups must not share one.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::target::Driver;
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

    fn layout(&self, _driver: Driver) -> Layout {
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

/// The `api_key` of every entry: a fixed value that is not a secret.
///
/// LiteLLM's OpenAI client refuses to send a request without a key, and without one in
/// the config it falls back to the proxy's own `OPENAI_API_KEY`, which would forward a
/// vendor key to the serving container. Pinning this placeholder keeps the in-cluster
/// hop free of credentials and lets the proxy run with no vendor key at all; the
/// serving container ignores it.
pub const IN_CLUSTER_API_KEY: &str = "modelops-in-cluster";

#[derive(Serialize)]
struct LiteLlmParams {
    model: String,
    api_base: String,
    /// Always [`IN_CLUSTER_API_KEY`].
    api_key: &'static str,
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
    cx.release(&d.model.name, &release.release)?;
    let address = traffic::upstream(target, d, track).ok()?;
    Some(ModelEntry {
        model_name: group.to_owned(),
        litellm_params: LiteLlmParams {
            // `openai/` selects LiteLLM's OpenAI-compatible client, which sends the rest
            // as the request's `model`: the model's name, per the serving contract.
            model: format!("openai/{}", d.model.name),
            api_base: format!("http://{address}/v1"),
            api_key: IN_CLUSTER_API_KEY,
            weight,
        },
        model_info: ModelInfo {
            // The group makes the id unique within the config: the stable release is
            // listed in the weighted group and again in `<model>-stable`.
            id: format!("{group}-{track}-{}", release.release),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_in_cluster_key_is_not_a_credential() {
        assert!(crate::syntax::credentials::find_credentials(IN_CLUSTER_API_KEY).is_empty());
        assert!(!IN_CLUSTER_API_KEY.starts_with("os.environ/"));
    }
}
