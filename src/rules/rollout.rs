//! Rollout and gates: how a candidate reaches live traffic.
//!
//! The `require-*` rules of an environment apply to every candidate that gets live
//! traffic there, canary and blue-green alike. Steps, pauses, guards and promotion
//! order are judged per deployment.

use crate::diag::{Code, Diagnostic};
use crate::model::target::Shadow;
use crate::model::{Candidate, Deploy, Environment, Guard, Model, Threshold};
use crate::rules::Context;

/// Guards modelops knows the query for; any other guard needs `query=`.
pub const BUILTIN_GUARDS: &[&str] = &[
    "error-rate",
    "latency-p50",
    "latency-p90",
    "latency-p95",
    "latency-p99",
];

pub fn check(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    for (model, deploy) in cx.deployments() {
        let Some(env) = cx.project().environment.get(&deploy.environment) else {
            continue;
        };
        guards(cx, deploy, out);
        let Some(candidate) = deploy.candidate() else {
            continue;
        };
        requirements(cx, model, deploy, env, candidate, out);
        gate_regressions(cx, deploy, env, out);
        match candidate {
            Candidate::Canary(canary) => steps(cx, deploy, env, canary, out),
            Candidate::BlueGreen(blue_green) if blue_green.preview.is_none() => out.push(
                Diagnostic::new(
                    Code::BlueGreenWithoutPreview,
                    format!("blue-green \"{}\" switches without a preview window", blue_green.release),
                )
                .with_label(cx.spans.node(&blue_green.at), "no `preview` here")
                .with_help("give the new stack a window to answer smoke and eval traffic first: `preview \"30m\"`"),
            ),
            Candidate::BlueGreen(_) => {}
        }
        shadow_support(cx, deploy, candidate, out);
        if deploy.stable.as_deref() == Some(candidate.release()) {
            out.push(
                Diagnostic::new(
                    Code::CandidateIsStable,
                    format!(
                        "the {} release \"{}\" is already stable",
                        candidate.kind(),
                        candidate.release()
                    ),
                )
                .with_label(cx.spans.field(candidate.at(), "release"), "candidate")
                .with_label(cx.spans.field(&deploy.at, "stable"), "stable")
                .with_help(format!(
                    "remove the `{}` block, or name a new release",
                    candidate.kind()
                )),
            );
        }
        promotion_order(cx, model, env, candidate, out);
    }
}

fn requirements(
    cx: &Context<'_>,
    model: &Model,
    deploy: &Deploy,
    env: &Environment,
    candidate: Candidate<'_>,
    out: &mut Vec<Diagnostic>,
) {
    let here = cx.spans.name(candidate.at());
    let kind = candidate.kind();
    for (index, gate) in env.require_gate.iter().enumerate() {
        if !deploy.gate.contains_key(gate) {
            out.push(
                Diagnostic::new(
                    Code::MissingGate,
                    format!("the {kind} of `{}` into `{}` has no `{gate}` gate", model.name, env.name),
                )
                .with_label(here, format!("goes live without gate `{gate}`"))
                .with_label(
                    cx.spans.value_at(env.at.file_id(), &env.at.child("require-gate").index(index)),
                    "required here",
                )
                .with_help(format!("add `gate \"{gate}\" {{ run …; dataset …; judge …; metric … }}` to deploy \"{}\"", env.name)),
            );
        }
    }
    if let Some(required) = &env.require_shadow {
        match candidate.shadow() {
            None => out.push(
                Diagnostic::new(
                    Code::ShadowTooShort,
                    format!(
                        "the {kind} of `{}` into `{}` has no shadow stage",
                        model.name, env.name
                    ),
                )
                .with_label(here, "no `shadow` before live traffic")
                .with_label(cx.spans.field(&required.at, "min"), "required here")
                .with_help(format!(
                    "mirror live traffic first: `shadow \"{}\" percent=100`",
                    required.min
                )),
            ),
            Some(shadow) if shadow.duration < required.min => out.push(
                Diagnostic::new(
                    Code::ShadowTooShort,
                    format!(
                        "the shadow stage lasts {}, less than the {} `{}` requires",
                        shadow.duration, required.min, env.name
                    ),
                )
                .with_label(cx.spans.field(&shadow.at, "duration"), "too short")
                .with_label(cx.spans.field(&required.at, "min"), "minimum set here")
                .with_help(format!("shadow for at least {}", required.min)),
            ),
            Some(_) => {}
        }
    }
    for (index, guard) in env.require_guard.iter().enumerate() {
        if !deploy.guard.contains_key(guard) {
            out.push(
                Diagnostic::new(
                    Code::MissingGuard,
                    format!(
                        "the {kind} of `{}` into `{}` has no `{guard}` guard",
                        model.name, env.name
                    ),
                )
                .with_label(here, format!("no `{guard}` guard watches it"))
                .with_label(
                    cx.spans.value_at(
                        env.at.file_id(),
                        &env.at.child("require-guard").index(index),
                    ),
                    "required here",
                )
                .with_help(format!(
                    "add `guard \"{guard}\" max=…` to deploy \"{}\"",
                    env.name
                )),
            );
        }
    }
    if env.require_rollback && deploy.rollback.is_none() {
        out.push(
            Diagnostic::new(
                Code::MissingRollback,
                format!(
                    "the {kind} of `{}` into `{}` has no rollback rule",
                    model.name, env.name
                ),
            )
            .with_label(here, "no `rollback` in this deployment")
            .with_label(
                cx.spans.field_name(&env.at, "require-rollback"),
                "required here",
            )
            .with_help("add `rollback on=\"guard-breach\"` to the deployment"),
        );
    }
}

fn gate_regressions(
    cx: &Context<'_>,
    deploy: &Deploy,
    env: &Environment,
    out: &mut Vec<Diagnostic>,
) {
    let Some(limit) = env.max_regression else {
        return;
    };
    for gate in deploy.gate.values() {
        if let Some(allowed) = gate.max_regression
            && allowed.fraction > limit.fraction
        {
            out.push(
                Diagnostic::new(
                    Code::LooseRegression,
                    format!("gate `{}` allows a {allowed} regression, more than the {limit} `{}` allows", gate.name, env.name),
                )
                .with_label(cx.spans.field(&gate.at, "max-regression"), "looser than the environment")
                .with_label(cx.spans.field(&env.at, "max-regression"), "environment limit")
                .with_help(format!("a gate may be stricter than its environment, never looser: use at most \"{limit}\"")),
            );
        }
    }
}

fn steps(
    cx: &Context<'_>,
    deploy: &Deploy,
    env: &Environment,
    canary: &crate::model::Canary,
    out: &mut Vec<Diagnostic>,
) {
    if canary.step.is_empty() {
        out.push(
            Diagnostic::new(
                Code::InvalidSteps,
                format!("canary \"{}\" has no steps", canary.release),
            )
            .with_label(cx.spans.name(&canary.at), "never reaches 100%")
            .with_help("add traffic steps ending at 100: `step 10 pause=\"1h\"` … `step 100`"),
        );
        return;
    }
    let mut previous: Option<u8> = None;
    for step in &canary.step {
        if let Some(before) = previous
            && step.weight <= before
        {
            out.push(
                Diagnostic::new(
                    Code::InvalidSteps,
                    format!(
                        "canary step {}% does not increase on the step before it ({before}%)",
                        step.weight
                    ),
                )
                .with_label(
                    cx.spans.field(&step.at, "weight"),
                    "not more than the previous step",
                )
                .with_help("list steps in strictly increasing order of traffic"),
            );
        }
        previous = Some(step.weight);
    }
    if let Some(last) = canary.step.last()
        && last.weight != 100
    {
        out.push(
            Diagnostic::new(
                Code::InvalidSteps,
                format!("the last canary step is {}%, not 100%", last.weight),
            )
            .with_label(cx.spans.field(&last.at, "weight"), "the rollout stops here")
            .with_help("end with `step 100` so the candidate is fully promoted"),
        );
    }
    let non_final = canary.step.len().saturating_sub(1);
    for step in canary.step.iter().take(non_final) {
        let Some(pause) = step.pause else {
            out.push(
                Diagnostic::new(
                    Code::StepPause,
                    format!("canary step {}% has no pause", step.weight),
                )
                .with_label(cx.spans.node(&step.at), "traffic moves on at once")
                .with_help(format!(
                    "hold the step long enough to watch it: `step {} pause=\"{}\"`",
                    step.weight,
                    env.min_step_pause
                        .map_or_else(|| "1h".to_owned(), |d| d.to_string())
                )),
            );
            continue;
        };
        if let Some(min) = env.min_step_pause
            && pause < min
        {
            out.push(
                Diagnostic::new(
                    Code::StepPause,
                    format!(
                        "canary step {}% pauses {pause}, less than the {min} `{}` requires",
                        step.weight, env.name
                    ),
                )
                .with_label(cx.spans.field(&step.at, "pause"), "too short")
                .with_label(
                    cx.spans.field(&env.at, "min-step-pause"),
                    "minimum set here",
                )
                .with_help(format!("pause at least {min}")),
            );
        }
        // The slowest guard must be able to see a breach before traffic moves on.
        if let Some(guard) = deploy
            .guard
            .values()
            .max_by_key(|g| g.interval().millis.saturating_mul(u64::from(g.failures())))
        {
            let window = guard
                .interval()
                .millis
                .saturating_mul(u64::from(guard.failures()));
            if pause.millis < window {
                out.push(
                    Diagnostic::new(
                        Code::GuardWindow,
                        format!(
                            "canary step {}% pauses {pause}, but guard `{}` needs {} to see a breach",
                            step.weight,
                            guard.name,
                            crate::model::Duration::from_millis(window)
                        ),
                    )
                    .with_label(cx.spans.field(&step.at, "pause"), "traffic moves on before the guard can fire")
                    .with_label(cx.spans.name(&guard.at), format!("checks every {} and fires after {} failures", guard.interval(), guard.failures()))
                    .with_help("pause at least interval × failures, or make the guard's `interval=` shorter"),
                );
            }
        }
    }
}

fn is_rate(name: &str) -> bool {
    name.ends_with("-rate")
}

fn guards(cx: &Context<'_>, deploy: &Deploy, out: &mut Vec<Diagnostic>) {
    for guard in deploy.guard.values() {
        guard_thresholds(cx, guard, out);
        if !BUILTIN_GUARDS.contains(&guard.name.as_str()) && guard.query.is_none() {
            out.push(
                Diagnostic::new(
                    Code::GuardWithoutQuery,
                    format!("guard `{}` is not built in and has no query", guard.name),
                )
                .with_label(cx.spans.node(&guard.at), "what should it measure?")
                .with_help(format!(
                    "give it a PromQL query: `guard \"{}\" max=… query=\"…\"` (built-in guards: {})",
                    guard.name,
                    BUILTIN_GUARDS.join(", ")
                )),
            );
        }
    }
}

fn guard_thresholds(cx: &Context<'_>, guard: &Guard, out: &mut Vec<Diagnostic>) {
    if guard.max.is_none() && guard.min.is_none() {
        out.push(
            Diagnostic::new(
                Code::GuardThreshold,
                format!("guard `{}` has no threshold", guard.name),
            )
            .with_label(cx.spans.node(&guard.at), "nothing to compare against")
            .with_help(format!(
                "give it `max=` (or `min=`): `guard \"{}\" max=…`",
                guard.name
            )),
        );
        return;
    }
    for (field, threshold) in [("max", guard.max), ("min", guard.min)] {
        let Some(threshold) = threshold else { continue };
        let span = cx.spans.field(&guard.at, field);
        let problem = match threshold {
            // `max=2` on a rate most likely means 2 %.
            Threshold::Number(n) if is_rate(&guard.name) && n > 1.0 && n <= 100.0 => Some((
                "a rate is a fraction from 0 to 1",
                "out of range",
                format!("`{field}={}` ({n}% written as a fraction)", n / 100.0),
            )),
            Threshold::Number(n) if is_rate(&guard.name) && !(0.0..=1.0).contains(&n) => Some((
                "a rate is a fraction from 0 to 1",
                "out of range",
                format!("`{field}=0.01`"),
            )),
            Threshold::Number(n) if guard.name.starts_with("latency") => Some((
                "a latency threshold is a duration",
                "no unit",
                format!("`{field}=\"{}s\"`", n.abs()),
            )),
            Threshold::Number(n) if n < 0.0 => Some((
                "a threshold cannot be negative",
                "negative",
                format!("`{field}={}`", n.abs()),
            )),
            Threshold::Duration(_) if is_rate(&guard.name) => Some((
                "a rate is a fraction from 0 to 1, not a duration",
                "a duration",
                format!("`{field}=0.01`"),
            )),
            _ => None,
        };
        if let Some((why, label, example)) = problem {
            out.push(
                Diagnostic::new(
                    Code::GuardThreshold,
                    format!(
                        "guard `{}` has an invalid `{field}` threshold: {why}",
                        guard.name
                    ),
                )
                .with_label(span, label)
                .with_help(format!("for example {example}")),
            );
        }
    }
}

fn shadow_support(
    cx: &Context<'_>,
    deploy: &Deploy,
    candidate: Candidate<'_>,
    out: &mut Vec<Diagnostic>,
) {
    let Some(shadow) = candidate.shadow() else {
        return;
    };
    // Istio, Envoy and Argo Rollouts sample mirrors natively; nginx samples by
    // mirroring into an internal location that `split_clients` lets through or drops.
    for target_node in cx.project().target.values() {
        let Shadow::Cannot(reason) = target_node.kind.capabilities().shadow else {
            continue;
        };
        out.push(
            Diagnostic::new(
                Code::ShadowUnsupported,
                format!(
                    "target `{}` cannot honour the {}% shadow of deploy \"{}\"",
                    target_node.name(),
                    shadow.percent(),
                    deploy.environment
                ),
            )
            .with_label(cx.spans.node(&shadow.at), reason)
            .with_label(cx.spans.name(&target_node.at), "this target")
            .with_help(
                "the shadow stage runs through the other traffic targets; this one keeps serving stable only",
            ),
        );
    }
}

fn promotion_order(
    cx: &Context<'_>,
    model: &Model,
    env: &Environment,
    candidate: Candidate<'_>,
    out: &mut Vec<Diagnostic>,
) {
    let Some(after) = &env.after else { return };
    // Where it ran before is not known when that deployment was left out.
    if cx.left_out.deploy(&model.name, after) {
        return;
    }
    let version = candidate.release();
    let ran_there = model.deploy.get(after).is_some_and(|d| {
        d.stable.as_deref() == Some(version)
            || d.candidate().is_some_and(|c| c.release() == version)
    });
    // Or it ran there in an earlier commit of the default branch.
    let ran_before = || {
        cx.deployed.is_some_and(|deployed| {
            deployed(&model.name).contains(&(after.clone(), version.to_owned()))
        })
    };
    if !ran_there && !ran_before() {
        out.push(
            Diagnostic::new(
                Code::PromotionOrder,
                format!("release \"{version}\" goes to `{}` before it ran in `{after}`", env.name),
            )
            .with_label(cx.spans.field(candidate.at(), "release"), format!("not deployed in `{after}`"))
            .with_label(cx.spans.field(&env.at, "after"), "promotion order set here")
            .with_help(format!(
                "deploy \"{version}\" to `{after}` first (as `stable` or as a candidate), then promote it"
            )),
        );
    }
}
