//! Target options: every proxy target's `upstream` template renders, for every
//! deployment and track, to an address a proxy can use; `listen` is an address. With
//! the `kubernetes` target, every deployed model's name makes valid Service names.

use std::collections::BTreeSet;

use crate::diag::{Code, Diagnostic};
use crate::model::target::{listen, upstream_for};
use crate::rules::Context;

/// The longest suffix a Service name gets: `-preview` (blue-green) and Flagger's
/// `-primary`.
const LONGEST_SERVICE_SUFFIX: usize = "-preview".len();

/// Service names (`<model>-stable`, `-canary`, `-preview`, Flagger's `-primary`)
/// are DNS-1035 labels: a lower-case letter first, at most 63 characters
/// (`ValidateServiceName` in Kubernetes' `pkg/apis/core/validation`). The language's
/// names allow a leading digit and 63 characters, so a model deployed with the
/// `kubernetes` target is held to the stricter form.
fn service_names(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    if !cx
        .project()
        .has_target(crate::model::TargetKind::Kubernetes)
    {
        return;
    }
    let limit = 63 - LONGEST_SERVICE_SUFFIX;
    for model in &cx.models {
        if model.deploy.is_empty() {
            continue;
        }
        let why = if !model.name.starts_with(|c: char| c.is_ascii_lowercase()) {
            "starts with a digit: Service names start with a letter"
        } else if model.name.len() > limit {
            "is too long: Service names have at most 63 characters, `-preview` included"
        } else {
            continue;
        };
        out.push(
            Diagnostic::new(
                Code::KubernetesName,
                format!(
                    "Kubernetes cannot name the Services of model `{}`: `{}-stable` is not a valid Service name",
                    model.name, model.name
                ),
            )
            .with_label(cx.spans.name(&model.at), format!("this name {why}"))
            .with_help(format!(
                "name the model with a lower-case letter first and at most {limit} characters, and rename its file to match"
            )),
        );
    }
}

pub fn check(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    service_names(cx, out);
    for target in cx.project().target.values() {
        if !target.kind.is_proxy() {
            continue;
        }
        let mut reported = BTreeSet::new();
        for (model, deploy) in cx.deployments() {
            let Some(env) = cx.project().environment.get(&deploy.environment) else {
                continue;
            };
            let namespace = env.namespace.as_deref().unwrap_or(&env.name);
            let mut tracks = vec!["stable"];
            match deploy.candidate() {
                Some(crate::model::Candidate::Canary(_)) => tracks.push("canary"),
                Some(crate::model::Candidate::BlueGreen(_)) => tracks.push("preview"),
                None => {}
            }
            for track in tracks {
                if let Err(why) = upstream_for(target, &model.name, track, namespace, &env.name)
                    && reported.insert(why.clone())
                {
                    out.push(
                        Diagnostic::new(
                            Code::InvalidUpstream,
                            format!("the `upstream` of target `{}` is not a usable address", target.name()),
                        )
                        .with_label(cx.spans.field(&target.at, "upstream"), why)
                        .with_help("write `host:port` using {{model}}, {{track}}, {{namespace}} and {{environment}}, e.g. \"{{model}}-{{track}}.{{namespace}}.svc.cluster.local:8080\""),
                    );
                }
            }
        }
        if target.listen.is_some()
            && let Err(why) = listen(target)
        {
            out.push(
                Diagnostic::new(
                    Code::InvalidUpstream,
                    format!(
                        "the `listen` address of target `{}` is not valid",
                        target.name()
                    ),
                )
                .with_label(cx.spans.field(&target.at, "listen"), why)
                .with_help("write `host:port`, e.g. \"0.0.0.0:8080\""),
            );
        }
    }
}
