//! Target options: every proxy target's `upstream` template renders, for every
//! deployment and track, to an address a proxy can use; `listen` is an address.

use std::collections::BTreeSet;

use crate::diag::{Code, Diagnostic};
use crate::model::target::{listen, upstream_for};
use crate::rules::Context;

pub fn check(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
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
