//! The `istio` target: per deployment and traffic state,
//! `istio/<environment>/<model>/<state>.yaml` with a VirtualService (weighted routes
//! to the track subsets, `mirror` + `mirrorPercentage` for shadow) and a
//! DestinationRule (subsets by the pods' `app.kubernetes.io/version` label).
//!
//! The VirtualService is named after the model and its route `primary`: the names the
//! Argo Rollout's Istio traffic router refers to. Clients address the `<model>` Service.
//! With an explicit `upstream=` on the target, routes go to each track's rendered host
//! and port instead of subsets.

use crate::model::{self, TargetKind};
use crate::target::k8s::{self, Labels, Object, ObjectMeta};
use crate::target::registry::{Apply, Emitted, Layout, Part, Per, Target};
use crate::target::traffic::{self, TrafficState};
use crate::target::{Context, Deployment, to_yaml_documents};

/// The `istio` target.
pub struct Istio;

const LAYOUT: Layout = Layout {
    per: Per::TrafficState,
    path: "istio/{environment}/{model}/{state}.yaml",
};

impl Target for Istio {
    fn kind(&self) -> TargetKind {
        TargetKind::Istio
    }

    fn layout(&self) -> Layout {
        LAYOUT
    }

    fn apply(&self) -> Apply {
        Apply::Kubectl
    }

    fn emit(&self, cx: &Context<'_>, part: &Part<'_, '_>) -> Emitted {
        let mut out = Emitted::default();
        for d in part.deployments {
            for state in traffic::states(d) {
                let mut documents = vec![Object::VirtualService(virtual_service(
                    cx,
                    part.declared,
                    d,
                    &state,
                ))];
                if part.declared.upstream.is_none() {
                    documents.push(Object::DestinationRule(destination_rule(cx, d)));
                }
                out.files.insert(
                    LAYOUT.state_path(&d.environment.name, &d.model.name, &state.name),
                    to_yaml_documents(&documents),
                );
            }
        }
        out
    }
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

fn release_of<'a>(d: &'a Deployment<'_>, track: &str) -> Option<&'a str> {
    d.plan
        .tracks
        .iter()
        .find(|t| t.track == track)
        .map(|t| t.release.as_str())
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

fn destination_rule(cx: &Context<'_>, d: &Deployment<'_>) -> k8s::DestinationRule {
    let subsets = traffic::tracks(d)
        .into_iter()
        .filter_map(|track| {
            let release = release_of(d, track)?;
            let mut labels = Labels::new();
            labels.insert("app.kubernetes.io/name".into(), d.model.name.clone());
            labels.insert(
                "app.kubernetes.io/version".into(),
                crate::target::kubernetes::label_value(release),
            );
            Some(k8s::Subset {
                name: track.to_owned(),
                labels,
            })
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
