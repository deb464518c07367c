//! The `envoy` target: per deployment and traffic state,
//! `envoy/<environment>/<model>/<state>.yaml`, a complete static bootstrap (listener,
//! route configuration, clusters) that `envoy -c FILE` loads as it is. Live traffic is
//! split with `weighted_clusters`; a shadow stage mirrors with
//! `request_mirror_policies`, sampling by `runtime_fraction`.

use serde::Serialize;

use crate::model::target::Driver;
use crate::model::{self, TargetKind};
use crate::target::registry::{Apply, Emitted, Layout, Part, Per, Target};
use crate::target::traffic::{self, TrafficState};
use crate::target::{Context, Deployment, to_yaml};

/// The `envoy` target.
pub struct Envoy;

const LAYOUT: Layout = Layout {
    per: Per::TrafficState,
    path: "envoy/{environment}/{model}/{state}.yaml",
};

impl Target for Envoy {
    fn kind(&self) -> TargetKind {
        TargetKind::Envoy
    }

    fn layout(&self, _driver: Driver) -> Layout {
        LAYOUT
    }

    fn apply(&self) -> Apply {
        Apply::EnvoyFileSwap
    }

    fn emit(&self, _cx: &Context<'_>, part: &Part<'_, '_>) -> Emitted {
        let mut out = Emitted::default();
        for d in part.deployments {
            for state in traffic::states(d) {
                out.files.insert(
                    LAYOUT.state_path(&d.environment.name, &d.model.name, &state.name),
                    to_yaml(&bootstrap(part.declared, d, &state)),
                );
            }
        }
        out
    }
}

/// How long a request may take: LLM answers are slow, so far above Envoy's 15 s default.
const ROUTE_TIMEOUT: &str = "300s";

const HTTP_CONNECTION_MANAGER: &str = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER: &str = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

// The parts of Envoy's v3 bootstrap this target writes (Envoy's own snake_case names).

#[derive(Serialize)]
struct Bootstrap {
    node: Node,
    static_resources: StaticResources,
}

#[derive(Serialize)]
struct Node {
    id: String,
    cluster: String,
}

#[derive(Serialize)]
struct StaticResources {
    listeners: Vec<Listener>,
    clusters: Vec<Cluster>,
}

#[derive(Serialize)]
struct Listener {
    name: String,
    address: SocketAddressHolder,
    filter_chains: Vec<FilterChain>,
}

#[derive(Serialize)]
struct SocketAddressHolder {
    socket_address: SocketAddress,
}

#[derive(Serialize)]
struct SocketAddress {
    address: String,
    port_value: u16,
}

#[derive(Serialize)]
struct FilterChain {
    filters: Vec<NetworkFilter>,
}

#[derive(Serialize)]
struct NetworkFilter {
    name: String,
    typed_config: HttpConnectionManager,
}

#[derive(Serialize)]
struct HttpConnectionManager {
    #[serde(rename = "@type")]
    type_url: &'static str,
    stat_prefix: String,
    route_config: RouteConfiguration,
    http_filters: Vec<HttpFilter>,
}

#[derive(Serialize)]
struct RouteConfiguration {
    name: String,
    virtual_hosts: Vec<VirtualHost>,
}

#[derive(Serialize)]
struct VirtualHost {
    name: String,
    domains: Vec<String>,
    routes: Vec<Route>,
}

#[derive(Serialize)]
struct Route {
    #[serde(rename = "match")]
    matches: RouteMatch,
    route: RouteAction,
}

#[derive(Serialize)]
struct RouteMatch {
    prefix: String,
}

#[derive(Serialize)]
struct RouteAction {
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    weighted_clusters: Option<WeightedClusters>,
    timeout: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_mirror_policies: Option<Vec<RequestMirrorPolicy>>,
}

#[derive(Serialize)]
struct WeightedClusters {
    clusters: Vec<ClusterWeight>,
}

#[derive(Serialize)]
struct ClusterWeight {
    name: String,
    weight: u8,
}

#[derive(Serialize)]
struct RequestMirrorPolicy {
    cluster: String,
    runtime_fraction: RuntimeFraction,
}

#[derive(Serialize)]
struct RuntimeFraction {
    default_value: FractionalPercent,
}

#[derive(Serialize)]
struct FractionalPercent {
    numerator: u8,
    denominator: &'static str,
}

#[derive(Serialize)]
struct HttpFilter {
    name: String,
    typed_config: TypeOnly,
}

#[derive(Serialize)]
struct TypeOnly {
    #[serde(rename = "@type")]
    type_url: &'static str,
}

#[derive(Serialize)]
struct Cluster {
    name: String,
    #[serde(rename = "type")]
    discovery: &'static str,
    connect_timeout: &'static str,
    lb_policy: &'static str,
    load_assignment: ClusterLoadAssignment,
}

#[derive(Serialize)]
struct ClusterLoadAssignment {
    cluster_name: String,
    endpoints: Vec<LocalityLbEndpoints>,
}

#[derive(Serialize)]
struct LocalityLbEndpoints {
    lb_endpoints: Vec<LbEndpoint>,
}

#[derive(Serialize)]
struct LbEndpoint {
    endpoint: Endpoint,
}

#[derive(Serialize)]
struct Endpoint {
    address: SocketAddressHolder,
}

fn socket_address(address: &traffic::Address) -> SocketAddressHolder {
    SocketAddressHolder {
        socket_address: SocketAddress {
            address: address.bare_host().to_owned(),
            port_value: address.port,
        },
    }
}

fn cluster(target: &model::Target, d: &Deployment<'_>, track: &str) -> Cluster {
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
    Cluster {
        name: track.to_owned(),
        discovery,
        connect_timeout: "5s",
        lb_policy: "ROUND_ROBIN",
        load_assignment: ClusterLoadAssignment {
            cluster_name: track.to_owned(),
            endpoints: vec![LocalityLbEndpoints {
                lb_endpoints: vec![LbEndpoint {
                    endpoint: Endpoint {
                        address: socket_address(&address),
                    },
                }],
            }],
        },
    }
}

fn route_action(state: &TrafficState) -> RouteAction {
    let (cluster, weighted_clusters) = match state.weights.as_slice() {
        [(track, _)] => (Some((*track).to_owned()), None),
        weights => (
            None,
            Some(WeightedClusters {
                clusters: weights
                    .iter()
                    .map(|(track, weight)| ClusterWeight {
                        name: (*track).to_owned(),
                        weight: *weight,
                    })
                    .collect(),
            }),
        ),
    };
    RouteAction {
        cluster,
        weighted_clusters,
        timeout: ROUTE_TIMEOUT,
        request_mirror_policies: state.mirror.map(|(track, percent)| {
            vec![RequestMirrorPolicy {
                cluster: track.to_owned(),
                runtime_fraction: RuntimeFraction {
                    default_value: FractionalPercent {
                        numerator: percent,
                        denominator: "HUNDRED",
                    },
                },
            }]
        }),
    }
}

fn bootstrap(target: &model::Target, d: &Deployment<'_>, state: &TrafficState) -> Bootstrap {
    let listen = traffic::listen(target).unwrap_or(traffic::Address {
        host: "0.0.0.0".into(),
        port: 8080,
    });
    let name = format!("{}-{}", d.model.name, d.environment.name);
    Bootstrap {
        node: Node {
            id: name.clone(),
            cluster: d.model.name.clone(),
        },
        static_resources: StaticResources {
            listeners: vec![Listener {
                name: "ingress".into(),
                address: socket_address(&listen),
                filter_chains: vec![FilterChain {
                    filters: vec![NetworkFilter {
                        name: "envoy.filters.network.http_connection_manager".into(),
                        typed_config: HttpConnectionManager {
                            type_url: HTTP_CONNECTION_MANAGER,
                            stat_prefix: "ingress".into(),
                            route_config: RouteConfiguration {
                                name,
                                virtual_hosts: vec![VirtualHost {
                                    name: d.model.name.clone(),
                                    domains: vec!["*".into()],
                                    routes: vec![Route {
                                        matches: RouteMatch { prefix: "/".into() },
                                        route: route_action(state),
                                    }],
                                }],
                            },
                            http_filters: vec![HttpFilter {
                                name: "envoy.filters.http.router".into(),
                                typed_config: TypeOnly { type_url: ROUTER },
                            }],
                        },
                    }],
                }],
            }],
            clusters: traffic::tracks(d)
                .into_iter()
                .map(|track| cluster(target, d, track))
                .collect(),
        },
    }
}
