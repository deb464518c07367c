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

/// One driver moves traffic: under a controller flavor, a traffic target that only a
/// pipeline can walk is refused, as is an `istio` target routing to host names
/// instead of the subsets the controller manages.
fn one_driver(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    let driver = cx.project().driver();
    if !driver.is_controller() {
        return;
    }
    let flavor_label = cx
        .project()
        .target
        .values()
        .find(|t| t.kind == crate::model::TargetKind::Kubernetes)
        .map(|t| {
            (
                cx.spans.field(&t.at, "flavor"),
                format!("{} moves traffic", driver.controller()),
            )
        });
    for target in cx.project().target.values() {
        let finding = if let Some(conflict) = target.kind.conflict_under(driver) {
            Some((
                cx.spans.name(&target.at),
                format!(
                    "target `{}` cannot work under `flavor=\"{}\"`: {}",
                    target.name(),
                    driver.flavor(),
                    conflict.why
                ),
                conflict.instead.to_owned(),
            ))
        } else if target.kind.capabilities().mesh.is_some() && target.upstream.is_some() {
            Some((
                cx.spans.field(&target.at, "upstream"),
                format!(
                    "`upstream` on target `{}` cannot work under `flavor=\"{}\"`: {} routes to the subsets of the model's Service, not to host names",
                    target.name(),
                    driver.flavor(),
                    driver.controller()
                ),
                "remove `upstream=`; or use `flavor=\"deployment\"` to route to host names from the pipelines".to_owned(),
            ))
        } else {
            None
        };
        let Some((span, message, help)) = finding else {
            continue;
        };
        let mut diagnostic = Diagnostic::new(Code::DriverConflict, message)
            .with_label(span, "a second driver for the same traffic");
        if let Some((span, label)) = &flavor_label {
            diagnostic = diagnostic.with_label(*span, label.clone());
        }
        out.push(diagnostic.with_help(help));
    }
}

/// Stages a controller cannot run as the deployment writes them. Each is refused
/// rather than emitted in another shape, since a changed stage (a shorter shadow,
/// no mirror) would pass review and then run differently.
fn controller_stages(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    use crate::model::Candidate;
    use crate::model::target::Driver;
    let driver = cx.project().driver();
    if !driver.is_controller() {
        return;
    }
    let mesh = cx.project().mesh().is_some();
    for (model, deploy) in cx.deployments() {
        let Some(candidate) = deploy.candidate() else {
            continue;
        };
        let interval = deploy
            .guard
            .values()
            .map(crate::model::Guard::interval)
            .min()
            .unwrap_or(crate::model::Guard::DEFAULT_INTERVAL);
        let shadow = candidate.shadow();
        let finding: Option<(&crate::model::At, String, String)> = match (driver, candidate) {
            // argo-rollouts `pkg/apis/rollouts/validation/validation.go`,
            // `ValidateRolloutStrategyCanary`: setMirrorRoute needs traffic routing;
            // the blue-green strategy has no mirror step at all.
            (Driver::ArgoRollouts, Candidate::BlueGreen(_)) if shadow.is_some() => Some((
                shadow.map(|s| &s.at).unwrap_or(candidate.at()),
                "Argo Rollouts cannot mirror traffic in a blue-green rollout".into(),
                "run the shadow as a canary (`canary … { shadow … }`, mirrored through istio), or use `flavor=\"flagger\"`, which mirrors every blue-green iteration".into(),
            )),
            (Driver::ArgoRollouts, Candidate::Canary(_)) if shadow.is_some() && !mesh => Some((
                shadow.map(|s| &s.at).unwrap_or(candidate.at()),
                "Argo Rollouts mirrors traffic only through a traffic router, and the project has none".into(),
                "add `target \"istio\"`, whose routes the Rollout manages".into(),
            )),
            // flagger `pkg/router/kubernetes_default.go`: the kubernetes provider
            // switches Services, it cannot weight traffic.
            (Driver::Flagger, Candidate::Canary(_)) if !mesh => Some((
                candidate.at(),
                "Flagger weights canary traffic only through a mesh, and the project has none".into(),
                "add `target \"istio\"`, or release with `blue-green`".into(),
            )),
            (Driver::Flagger, Candidate::BlueGreen(_)) if shadow.is_some() && !mesh => Some((
                shadow.map(|s| &s.at).unwrap_or(candidate.at()),
                "Flagger mirrors traffic only through a mesh, and the project has none".into(),
                "add `target \"istio\"`".into(),
            )),
            // flagger `pkg/controller/scheduler.go`, `runCanary`: a canary is mirrored
            // for one analysis interval, then the first weight follows.
            (Driver::Flagger, Candidate::Canary(_))
                if shadow.is_some_and(|s| s.duration > interval) =>
            {
                let duration = shadow.map(|s| s.duration).unwrap_or(interval);
                Some((
                    shadow.map(|s| &s.at).unwrap_or(candidate.at()),
                    format!(
                        "Flagger mirrors a canary for one analysis interval ({interval}), not for the {duration} this shadow asks"
                    ),
                    "release with `blue-green` (Flagger mirrors for every iteration), or use `flavor=\"argo-rollouts\"`, which holds a mirror for as long as asked".into(),
                ))
            }
            _ => None,
        };
        if let Some((at, message, help)) = finding {
            out.push(
                Diagnostic::new(
                    Code::DriverCannotRun,
                    format!(
                        "{message}: the {} of `{}` in `{}` cannot run as written",
                        candidate.kind(),
                        model.name,
                        deploy.environment
                    ),
                )
                .with_label(
                    cx.spans.node(at),
                    format!("{} cannot run this", driver.controller()),
                )
                .with_help(help),
            );
        }
        if let (Driver::Flagger, Candidate::BlueGreen(blue_green)) = (driver, candidate)
            && let Some(keep_old) = blue_green.keep_old
        {
            out.push(
                Diagnostic::new(
                    Code::TargetLimitation,
                    format!(
                        "Flagger updates its primary in place: the old stack of `{}` in `{}` is not kept warm for {keep_old}",
                        model.name, deploy.environment
                    ),
                )
                .with_label(cx.spans.field(&blue_green.at, "keep-old"), "no instant-rollback window under Flagger")
                .with_help("remove `keep-old`, or use `flavor=\"argo-rollouts\"` (scaleDownDelaySeconds keeps the old ReplicaSet)"),
            );
        }
    }
}

/// The forms a modelops source may take, for help lines.
const SOURCE_FORMS: &str = "write one of: `modelops path=\".\"` (this repository), `modelops git=\"https://…\" rev=\"<40-hex commit>\"` (or `tag=`), `modelops url=\"https://….tar.gz\" sha256=\"<64 hex>\"`, `modelops image=\"registry/modelops@sha256:<64 hex>\"`";

/// `pipelines { modelops … }` names exactly one source, pinned.
fn modelops_source(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    let Some(source) = &cx.project().pipelines.modelops else {
        return;
    };
    let kinds: Vec<&str> = [
        ("path", source.path.is_some()),
        ("git", source.git.is_some()),
        ("url", source.url.is_some()),
        ("image", source.image.is_some()),
    ]
    .iter()
    .filter(|(_, given)| *given)
    .map(|(name, _)| *name)
    .collect();
    let problem = match kinds.as_slice() {
        [] => Some("it names no source".to_owned()),
        [_, _, ..] => Some(format!(
            "it names {} sources at once ({})",
            kinds.len(),
            kinds.join(", ")
        )),
        ["git"] if source.rev.is_some() == source.tag.is_some() => {
            Some("a git source needs exactly one of `rev=` and `tag=`".to_owned())
        }
        ["url"] if source.sha256.is_none() => {
            Some("a downloaded archive needs its `sha256=`".to_owned())
        }
        [kind] if *kind != "git" && (source.rev.is_some() || source.tag.is_some()) => {
            Some("`rev=` and `tag=` belong to a git source".to_owned())
        }
        [kind] if *kind != "url" && source.sha256.is_some() => {
            Some("`sha256=` belongs to a downloaded archive".to_owned())
        }
        _ => None,
    };
    if let Some(problem) = problem {
        out.push(
            Diagnostic::new(
                Code::ModelopsSource,
                format!("the pipelines cannot install modelops: {problem}"),
            )
            .with_label(
                cx.spans.node(&source.at),
                "where the pipelines get modelops",
            )
            .with_help(SOURCE_FORMS),
        );
    }
}

/// How long a job may wait beyond its hold: installing tools, applying, checking.
pub const JOB_MARGIN: crate::model::Duration = crate::model::Duration {
    millis: 15 * 60_000,
};

/// Every hold of a generated pipeline fits in one job of its CI system: GitHub-hosted
/// runners stop a job at 6 h, GitLab at its configured timeout (1 h by default), and a
/// job stopped mid-hold fails into a rollback nobody asked for.
fn job_limits(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    let driver = cx.project().driver();
    for target in cx.project().target.values() {
        let Some(default) = target.kind.capabilities().ci.map(|ci| ci.job_limit()) else {
            continue;
        };
        let limit = target.job_limit.unwrap_or(default);
        for (model, deploy) in cx.deployments() {
            for hold in driver.holds(deploy) {
                if hold.duration.millis + JOB_MARGIN.millis <= limit.millis {
                    continue;
                }
                out.push(
                    Diagnostic::new(
                        Code::JobLimit,
                        format!(
                            "the {} of `{}` in `{}` holds a `{}` job for {} (and {JOB_MARGIN} to apply and check), longer than its jobs may run ({limit})",
                            hold.what,
                            model.name,
                            deploy.environment,
                            target.name(),
                            hold.duration
                        ),
                    )
                    .with_label(cx.spans.node(hold.at), "one job waits this long")
                    .with_label(cx.spans.name(&target.at), format!("jobs stop after {limit}"))
                    .with_help(format!(
                        "shorten the hold or split it into steps; or, if your runners allow longer jobs, say so: `target \"{}\" job-limit=\"…\"`",
                        target.name()
                    )),
                );
            }
        }
    }
}

/// nginx mirrors synchronously: `mirror` holds each live request until the
/// mirrored subrequest answers (ngx_http_mirror_module), so a shadow stage served
/// through nginx adds the candidate's latency to live requests.
fn nginx_mirror(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    // Under a controller, nginx is refused outright (MO905).
    if cx.project().driver() != crate::model::target::Driver::Pipeline {
        return;
    }
    let Some(target) = cx
        .project()
        .target
        .values()
        .find(|t| t.kind == crate::model::TargetKind::Nginx)
    else {
        return;
    };
    for (model, deploy) in cx.deployments() {
        if deploy.candidate().and_then(|c| c.shadow()).is_none() {
            continue;
        }
        out.push(
            Diagnostic::new(
                Code::TargetLimitation,
                format!(
                    "nginx holds each mirrored request open until the shadow answers; the shadow stage of `{}` in `{}` adds the candidate's latency to live requests",
                    model.name, deploy.environment
                ),
            )
            .with_label(cx.spans.name(&target.at), "target `nginx`")
            .with_label(cx.spans.name(&deploy.at), format!("deploy \"{}\" of `{}`", deploy.environment, model.name))
            .with_help("run the shadow stage through istio or envoy, which do not wait for the mirror, or keep the shadow percentage low"),
        );
    }
}

pub fn check(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    service_names(cx, out);
    modelops_source(cx, out);
    // Who moves traffic is read from the `kubernetes` target, and what a controller
    // can run from `istio`: with either left out for its schema errors, the rules
    // that depend on the driver are not judged.
    let driver_known = !["kubernetes", "istio"]
        .iter()
        .any(|name| cx.left_out.targets.contains(*name));
    if driver_known {
        nginx_mirror(cx, out);
        job_limits(cx, out);
        one_driver(cx, out);
        controller_stages(cx, out);
    }
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
