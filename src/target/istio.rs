//! The `istio` target. What it writes depends on who moves traffic:
//!
//! - **pipeline** (`flavor="deployment"`, or no `kubernetes` target): per deployment
//!   and traffic state, `istio/<environment>/<model>/<state>.yaml`, a VirtualService
//!   (weighted routes to the track subsets, `mirror` + `mirrorPercentage` for shadow)
//!   and a DestinationRule whose subsets select the pods' `modelops.dev/track` label
//!   (never the release: during a rolling update old and new pods of a track both
//!   stay routable). With `upstream=`, routes go to each track's rendered host and
//!   port instead of subsets.
//! - **argo-rollouts**: per deployment, once, `istio/<environment>/<model>.yaml` in
//!   the shape the controller manages (argo-rollouts
//!   `rollout/trafficrouting/istio/istio.go`): the route `primary` has both the
//!   `stable` and `canary` destinations at weights 100/0, and the DestinationRule's
//!   subsets select only the model, since the controller adds each ReplicaSet's
//!   `rollouts-pod-template-hash`. The controller sets the weights and the mirror
//!   route; nothing else writes them. A blue-green deployment routes the model's
//!   host to its active Service.
//! - **flagger**: nothing of its own. Flagger generates the VirtualService and the
//!   DestinationRules from the `Canary` and replaces any it finds
//!   (flagger `pkg/router/istio.go`, `reconcileVirtualService`); the target only
//!   selects Flagger's `istio` provider.
//!
//! Clients address the `<model>` Service; the VirtualService is named after it.

use crate::model::target::Driver;
use crate::model::{self, Candidate, TargetKind};
use crate::target::k8s::{self, Labels, Object, ObjectMeta};
use crate::target::registry::{Apply, Emitted, Layout, Part, Per, Target};
use crate::target::traffic::{self, TrafficState};
use crate::target::{Context, Deployment, to_yaml_documents};

/// The `istio` target.
pub struct Istio;

/// Under the pipeline: one file per traffic state.
const PER_STATE: Layout = Layout {
    per: Per::TrafficState,
    path: "istio/{environment}/{model}/{state}.yaml",
};

/// Under Argo Rollouts: the routes the controller manages, once per deployment.
const MANAGED: Layout = Layout {
    per: Per::Deployment,
    path: "istio/{environment}/{model}.yaml",
};

/// Under Flagger: the controller generates the routes.
const GENERATED_BY_FLAGGER: Layout = Layout {
    per: Per::Nothing,
    path: "istio/{environment}/{model}.yaml",
};

/// The name of the route the controller shifts weights on.
pub const PRIMARY_ROUTE: &str = "primary";

impl Target for Istio {
    fn kind(&self) -> TargetKind {
        TargetKind::Istio
    }

    fn layout(&self, driver: Driver) -> Layout {
        match driver {
            Driver::Pipeline => PER_STATE,
            Driver::ArgoRollouts => MANAGED,
            Driver::Flagger => GENERATED_BY_FLAGGER,
        }
    }

    fn apply(&self) -> Apply {
        Apply::Kubectl
    }

    fn emit(&self, cx: &Context<'_>, part: &Part<'_, '_>) -> Emitted {
        let mut out = Emitted::default();
        match cx.project.driver() {
            Driver::Pipeline => {
                for d in part.deployments {
                    for state in traffic::states(d) {
                        let mut documents = vec![Object::VirtualService(virtual_service(
                            cx,
                            part.declared,
                            d,
                            &state,
                        ))];
                        if part.declared.upstream.is_none() {
                            documents.push(Object::DestinationRule(destination_rule(cx, d, true)));
                        }
                        out.files.insert(
                            PER_STATE.state_path(&d.environment.name, &d.model.name, &state.name),
                            to_yaml_documents(&documents),
                        );
                    }
                }
            }
            Driver::ArgoRollouts => {
                for d in part.deployments {
                    out.files.insert(
                        MANAGED.deployment_path(d),
                        to_yaml_documents(&managed_by_argo(cx, d)),
                    );
                }
            }
            Driver::Flagger => {}
        }
        out
    }
}

/// The VirtualService and DestinationRule an Argo Rollout manages.
///
/// Canary (argo-rollouts `rollout/trafficrouting/istio/istio.go`,
/// `ValidateHTTPRoutes`): every route the Rollout names must have exactly two
/// destinations, the stable and the canary subset of one host. Blue-green uses no
/// traffic routing: the model's host goes to the active Service, whose selector the
/// controller switches.
fn managed_by_argo(cx: &Context<'_>, d: &Deployment<'_>) -> Vec<Object> {
    let blue_green = matches!(d.deploy.candidate(), Some(Candidate::BlueGreen(_)));
    let route = if blue_green {
        vec![k8s::HttpRouteDestination {
            destination: k8s::Destination {
                host: crate::target::kubernetes::active_service(d),
                subset: None,
                port: None,
            },
            weight: 100,
        }]
    } else {
        ["stable", "canary"]
            .into_iter()
            .map(|track| k8s::HttpRouteDestination {
                destination: k8s::Destination {
                    host: d.model.name.clone(),
                    subset: Some(track.to_owned()),
                    port: None,
                },
                weight: if track == "stable" { 100 } else { 0 },
            })
            .collect()
    };
    let virtual_service = k8s::VirtualService::new(
        metadata(cx, d),
        k8s::VirtualServiceSpec {
            hosts: vec![d.model.name.clone()],
            http: vec![k8s::HttpRoute {
                name: PRIMARY_ROUTE.into(),
                route,
                mirror: None,
                mirror_percentage: None,
            }],
        },
    );
    let mut documents = vec![Object::VirtualService(virtual_service)];
    if !blue_green {
        documents.push(Object::DestinationRule(destination_rule(cx, d, false)));
    }
    documents
}

fn metadata(cx: &Context<'_>, d: &Deployment<'_>) -> ObjectMeta {
    let mut labels = Labels::new();
    labels.insert("app.kubernetes.io/name".into(), d.model.name.clone());
    labels.insert(
        "app.kubernetes.io/part-of".into(),
        cx.project.project.clone(),
    );
    labels.insert("app.kubernetes.io/managed-by".into(), "modelops".into());
    ObjectMeta {
        name: d.model.name.clone(),
        namespace: d.namespace().to_owned(),
        labels,
    }
}

fn destination(target: &model::Target, d: &Deployment<'_>, track: &str) -> k8s::Destination {
    if target.upstream.is_some()
        && let Ok(address) = traffic::upstream(target, d, track)
    {
        return k8s::Destination {
            host: address.host,
            subset: None,
            port: Some(k8s::PortSelector {
                number: address.port,
            }),
        };
    }
    k8s::Destination {
        host: d.model.name.clone(),
        subset: Some(track.to_owned()),
        port: None,
    }
}

fn virtual_service(
    cx: &Context<'_>,
    target: &model::Target,
    d: &Deployment<'_>,
    state: &TrafficState,
) -> k8s::VirtualService {
    let route = state
        .weights
        .iter()
        .map(|(track, weight)| k8s::HttpRouteDestination {
            destination: destination(target, d, track),
            weight: *weight,
        })
        .collect();
    let (mirror, mirror_percentage) = match state.mirror {
        Some((track, percent)) => (
            Some(destination(target, d, track)),
            Some(k8s::Percent {
                value: f64::from(percent),
            }),
        ),
        None => (None, None),
    };
    k8s::VirtualService::new(
        metadata(cx, d),
        k8s::VirtualServiceSpec {
            hosts: vec![d.model.name.clone()],
            http: vec![k8s::HttpRoute {
                name: "primary".into(),
                route,
                mirror,
                mirror_percentage,
            }],
        },
    )
}

/// The subsets of the model's Service. Under the pipeline each selects its track's
/// pods by `modelops.dev/track`; for Argo Rollouts only the model, to which the
/// controller adds the ReplicaSet's `rollouts-pod-template-hash` (argo-rollouts
/// `rollout/trafficrouting/istio/istio.go`, `UpdateHash`). A release label would
/// keep selecting the old release after a promotion and match no pod.
fn destination_rule(cx: &Context<'_>, d: &Deployment<'_>, by_track: bool) -> k8s::DestinationRule {
    let tracks = if by_track {
        traffic::tracks(d)
    } else {
        vec!["stable", "canary"]
    };
    let subsets = tracks
        .into_iter()
        .map(|track| {
            let mut labels = Labels::new();
            labels.insert("app.kubernetes.io/name".into(), d.model.name.clone());
            if by_track {
                labels.insert("modelops.dev/track".into(), track.to_owned());
            }
            k8s::Subset {
                name: track.to_owned(),
                labels,
            }
        })
        .collect();
    k8s::DestinationRule::new(
        metadata(cx, d),
        k8s::DestinationRuleSpec {
            host: d.model.name.clone(),
            subsets,
        },
    )
}
