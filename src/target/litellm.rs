//! The `litellm` target: per deployment and traffic state,
//! `litellm/<environment>/<model>/<state>.yaml`, a LiteLLM proxy `config.yaml`.
//!
//! Stable and candidate are `model_list` entries under one `model_name` (the model's
//! name) with `weight`s; a second group, `<model>-stable`, holds the stable release
//! alone and is the `fallbacks` target. Requests go to each track's serving container
//! (an OpenAI-compatible endpoint at the rendered `upstream`), naming the release's
//! base model; keys are `os.environ/…` references, never literals. LiteLLM cannot
//! mirror traffic, so a shadow state routes like `stable` (and the rules warn).

use serde_json::{Value, json};

use crate::model::Target;
use crate::target::traffic::{self, TrafficState};
use crate::target::{Deployment, EmitContext, FileSet, to_yaml};

fn entry(
    cx: &EmitContext<'_>,
    target: &Target,
    d: &Deployment<'_>,
    group: &str,
    track: &str,
    weight: Option<u8>,
) -> Option<Value> {
    let release = d.plan.tracks.iter().find(|t| t.track == track)?;
    let resolved = cx.resolved_release(&d.model.name, &release.release)?;
    let base = resolved.base.as_ref()?;
    let address = traffic::upstream(target, d, track).ok()?;
    let mut params = json!({
        // `openai/` selects LiteLLM's OpenAI-compatible client; the rest is the model
        // the serving container is asked for.
        "model": format!("openai/{}", base.id),
        "api_base": format!("http://{address}/v1"),
    });
    if let Some(secret) = resolved.secrets.values().next() {
        params["api_key"] = json!(format!("os.environ/{}", secret.name));
    }
    if let Some(weight) = weight {
        params["weight"] = json!(weight);
    }
    Some(json!({
        "model_name": group,
        "litellm_params": params,
        "model_info": {"id": format!("{}-{}-{}", d.model.name, track, release.release)},
    }))
}

fn config(
    cx: &EmitContext<'_>,
    target: &Target,
    d: &Deployment<'_>,
    state: &TrafficState,
) -> Value {
    let name = d.model.name.clone();
    let stable_group = format!("{name}-stable");
    let mut model_list: Vec<Value> = state
        .weights
        .iter()
        .filter_map(|(track, weight)| entry(cx, target, d, &name, track, Some(*weight)))
        .collect();
    model_list.extend(entry(cx, target, d, &stable_group, "stable", None));
    json!({
        "model_list": model_list,
        "router_settings": {"routing_strategy": "simple-shuffle", "num_retries": 0},
        "litellm_settings": {"fallbacks": [{name: [stable_group]}]},
    })
}

pub fn emit(
    cx: &EmitContext<'_>,
    target: &Target,
    deployments: &[Deployment<'_>],
    files: &mut FileSet,
) {
    for d in deployments {
        for state in traffic::states(d) {
            files.insert(
                format!(
                    "litellm/{}/{}/{}.yaml",
                    d.environment.name, d.model.name, state.name
                ),
                to_yaml(&config(cx, target, d, &state)),
            );
        }
    }
}
