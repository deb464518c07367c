//! The `envoy` target: per deployment and traffic state,
//! `envoy/<environment>/<model>/<state>.yaml`, a complete static bootstrap (listener,
//! route configuration, clusters) that `envoy -c FILE` loads as it is. Live traffic is
//! split with `weighted_clusters`; a shadow stage mirrors with
//! `request_mirror_policies`, sampling by `runtime_fraction`.

use serde_json::{Value, json};

use crate::model::Target;
use crate::target::traffic::{self, TrafficState};
use crate::target::{Deployment, FileSet, to_yaml};

/// How long a request may take: LLM answers are slow, so far above Envoy's 15 s default.
const ROUTE_TIMEOUT: &str = "300s";

fn cluster(target: &Target, d: &Deployment<'_>, track: &str) -> Value {
    // Addresses were validated by the rules; an invalid one is never emitted.
    let address = traffic::upstream(target, d, track).unwrap_or(traffic::Address {
        host: "invalid".into(),
        port: 1,
    });
    let discovery = if address.bare_host().parse::<std::net::IpAddr>().is_ok() {
        "STATIC"
    } else {
        "STRICT_DNS"
    };
    json!({
        "name": track,
        "type": discovery,
        "connect_timeout": "5s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": track,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                "address": address.bare_host(),
                "port_value": address.port,
            }}}}]}],
        },
    })
}

fn route_action(state: &TrafficState) -> Value {
    let mut action = match state.weights.as_slice() {
        [(track, _)] => json!({"cluster": track}),
        weights => json!({"weighted_clusters": {"clusters": weights
            .iter()
            .map(|(track, weight)| json!({"name": track, "weight": weight}))
            .collect::<Vec<_>>()}}),
    };
    action["timeout"] = json!(ROUTE_TIMEOUT);
    if let Some((track, percent)) = state.mirror {
        action["request_mirror_policies"] = json!([{
            "cluster": track,
            "runtime_fraction": {"default_value": {"numerator": percent, "denominator": "HUNDRED"}},
        }]);
    }
    action
}

fn bootstrap(target: &Target, d: &Deployment<'_>, state: &TrafficState) -> Value {
    let listen = traffic::listen(target).unwrap_or(traffic::Address {
        host: "0.0.0.0".into(),
        port: 8080,
    });
    let name = format!("{}-{}", d.model.name, d.environment.name);
    json!({
        "node": {"id": name, "cluster": d.model.name},
        "static_resources": {
            "listeners": [{
                "name": "ingress",
                "address": {"socket_address": {"address": listen.bare_host(), "port_value": listen.port}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": "ingress",
                        "route_config": {
                            "name": name,
                            "virtual_hosts": [{
                                "name": d.model.name,
                                "domains": ["*"],
                                "routes": [{"match": {"prefix": "/"}, "route": route_action(state)}],
                            }],
                        },
                        "http_filters": [{
                            "name": "envoy.filters.http.router",
                            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
                        }],
                    },
                }]}],
            }],
            "clusters": traffic::tracks(d).into_iter().map(|track| cluster(target, d, track)).collect::<Vec<_>>(),
        },
    })
}

pub fn emit(target: &Target, deployments: &[Deployment<'_>], files: &mut FileSet) {
    for d in deployments {
        for state in traffic::states(d) {
            files.insert(
                format!(
                    "envoy/{}/{}/{}.yaml",
                    d.environment.name, d.model.name, state.name
                ),
                to_yaml(&bootstrap(target, d, &state)),
            );
        }
    }
}
