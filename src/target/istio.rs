//! The `istio` target: per deployment and traffic state,
//! `istio/<environment>/<model>/<state>.yaml` with a VirtualService (weighted routes
//! to the track subsets, `mirror` + `mirrorPercentage` for shadow) and a
//! DestinationRule (subsets by the pods' `app.kubernetes.io/version` label).
//!
//! The VirtualService is named after the model and its route `primary`: the names the
//! Argo Rollout's Istio traffic router refers to. Clients address the `<model>` Service.
//! With an explicit `upstream=` on the target, routes go to each track's rendered host
//! and port instead of subsets.

use serde_json::{Map, Value, json};

use crate::model::Target;
use crate::target::traffic::{self, TrafficState};
use crate::target::{Deployment, EmitContext, FileSet, to_yaml_documents};

fn metadata(cx: &EmitContext<'_>, d: &Deployment<'_>) -> Value {
    json!({
        "name": d.model.name,
        "namespace": d.namespace(),
        "labels": {
            "app.kubernetes.io/name": d.model.name,
            "app.kubernetes.io/part-of": cx.project.project,
            "app.kubernetes.io/managed-by": "modelops",
        },
    })
}

fn release_of<'a>(d: &'a Deployment<'_>, track: &str) -> Option<&'a str> {
    d.plan
        .tracks
        .iter()
        .find(|t| t.track == track)
        .map(|t| t.release.as_str())
}

fn destination(target: &Target, d: &Deployment<'_>, track: &str) -> Value {
    if target.upstream.is_some()
        && let Ok(address) = traffic::upstream(target, d, track)
    {
        return json!({"host": address.host, "port": {"number": address.port}});
    }
    json!({"host": d.model.name, "subset": track})
}

fn virtual_service(
    cx: &EmitContext<'_>,
    target: &Target,
    d: &Deployment<'_>,
    state: &TrafficState,
) -> Value {
    let route: Vec<Value> = state
        .weights
        .iter()
        .map(|(track, weight)| json!({"destination": destination(target, d, track), "weight": weight}))
        .collect();
    let mut http = Map::new();
    http.insert("name".into(), json!("primary"));
    http.insert("route".into(), Value::Array(route));
    if let Some((track, percent)) = state.mirror {
        http.insert("mirror".into(), destination(target, d, track));
        http.insert(
            "mirrorPercentage".into(),
            json!({"value": f64::from(percent)}),
        );
    }
    json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": metadata(cx, d),
        "spec": {
            "hosts": [d.model.name],
            "http": [Value::Object(http)],
        },
    })
}

fn destination_rule(cx: &EmitContext<'_>, d: &Deployment<'_>) -> Value {
    let subsets: Vec<Value> = traffic::tracks(d)
        .into_iter()
        .filter_map(|track| {
            let release = release_of(d, track)?;
            Some(json!({
                "name": track,
                "labels": {
                    "app.kubernetes.io/name": d.model.name,
                    "app.kubernetes.io/version": crate::target::kubernetes::label_value(release),
                },
            }))
        })
        .collect();
    json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": metadata(cx, d),
        "spec": {"host": d.model.name, "subsets": subsets},
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
            let mut documents = vec![virtual_service(cx, target, d, &state)];
            if target.upstream.is_none() {
                documents.push(destination_rule(cx, d));
            }
            files.insert(
                format!(
                    "istio/{}/{}/{}.yaml",
                    d.environment.name, d.model.name, state.name
                ),
                to_yaml_documents(&documents),
            );
        }
    }
}
