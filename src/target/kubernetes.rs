//! The `kubernetes` target: per environment and deployment, one multi-document file
//! `kubernetes/<environment>/<model>.yaml` with
//!
//! - a ConfigMap per release track, named with a hash of its content, holding
//!   `system-prompt.txt` (rendered), `params.json` and `release.json` — mounted at
//!   `/etc/modelops/` in the serving container (the mount contract);
//! - Services `<model>-stable` and `<model>-canary` (`<model>-preview` for blue-green),
//!   the names the proxy targets' default upstream template points at;
//! - the workload, by `flavor`: an Argo `Rollout` with an `AnalysisTemplate` of the
//!   guards (`argo-rollouts`, the default), a Deployment with a Flagger `Canary`
//!   (`flagger`), or plain Deployments per track (`deployment`).
//!
//! Pod templates carry the standard `app.kubernetes.io/*` labels and, as annotations,
//! the track's fingerprint and prompt hash, so a prompt change alone rolls the pods.
//! Secrets appear only as `secretKeyRef`s.
//!
//! Metrics contract for the built-in guards: the serving container exports
//! `modelops_requests_total{model,release,code}` and
//! `modelops_request_duration_seconds_bucket{model,release,le}`.

use serde_json::{Map, Value, json};

use crate::diag::{Code, Diagnostic};
use crate::model::{Candidate, Guard, Promote, ResolvedRelease, Target, Threshold};
use crate::resolve::Track;
use crate::target::{Deployment, EmitContext, FileSet, to_yaml_documents};

/// Where the serving container finds its configuration.
pub const MOUNT_PATH: &str = "/etc/modelops";
/// The serving container's port, and the Services'.
pub const PORT: u16 = 8080;
/// The Prometheus server the analysis queries when the target names none.
pub const DEFAULT_PROMETHEUS: &str = "http://prometheus.monitoring.svc.cluster.local:9090";

/// The workload flavor of the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavor {
    ArgoRollouts,
    Flagger,
    Deployment,
}

fn flavor(target: &Target) -> Flavor {
    match target.flavor.as_deref() {
        Some("flagger") => Flavor::Flagger,
        Some("deployment") => Flavor::Deployment,
        _ => Flavor::ArgoRollouts,
    }
}

/// A label value: at most 63 characters of `[A-Za-z0-9._-]`, alphanumeric at both ends.
pub fn label_value(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    cleaned
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

/// A DNS-1123 name fragment from a release version (`1.5.0-rc.1` → `1.5.0-rc.1`).
fn name_fragment(text: &str) -> String {
    let cleaned: String = text
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    cleaned
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

fn common_labels(cx: &EmitContext<'_>, d: &Deployment<'_>) -> Map<String, Value> {
    let mut labels = Map::new();
    labels.insert("app.kubernetes.io/name".into(), json!(d.model.name));
    labels.insert("app.kubernetes.io/instance".into(), json!(d.model.name));
    labels.insert(
        "app.kubernetes.io/part-of".into(),
        json!(label_value(&cx.project.project)),
    );
    labels.insert("app.kubernetes.io/managed-by".into(), json!("modelops"));
    labels.insert(
        "modelops.dev/environment".into(),
        json!(label_value(&d.environment.name)),
    );
    labels
}

fn metadata(cx: &EmitContext<'_>, d: &Deployment<'_>, name: &str) -> Value {
    json!({
        "name": name,
        "namespace": d.namespace(),
        "labels": Value::Object(common_labels(cx, d)),
    })
}

/// The data a track's pods read from `/etc/modelops/`.
fn config_data(
    d: &Deployment<'_>,
    track: &Track,
    release: Option<&ResolvedRelease>,
) -> Map<String, Value> {
    let params: Map<String, Value> = release
        .map(|r| {
            r.params
                .iter()
                .map(|(k, (v, _))| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let release_json = json!({
        "model": d.model.name,
        "release": track.release,
        "environment": d.environment.name,
        "base": release.and_then(|r| r.base.as_ref()).map(|b| json!({"id": b.id, "revision": b.revision})),
        "image": release.and_then(|r| r.image.as_ref()).map(|(image, _)| image),
        "prompt": release.and_then(|r| r.prompt.as_ref()).map(|p| json!({
            "name": p.name,
            "version": p.version,
            "blake3": track.prompt_hash,
        })),
        "release_blake3": track.release_hash,
        "fingerprint": track.fingerprint,
    });
    let mut data = Map::new();
    data.insert(
        "system-prompt.txt".into(),
        json!(track.rendered_prompt.clone().unwrap_or_default()),
    );
    data.insert(
        "params.json".into(),
        json!(crate::target::to_json(&Value::Object(params))),
    );
    data.insert(
        "release.json".into(),
        json!(crate::target::to_json(&release_json)),
    );
    data
}

/// The ConfigMap's name: model, release and a hash of its data.
fn config_map_name(d: &Deployment<'_>, track: &Track, data: &Map<String, Value>) -> String {
    let bytes = serde_json::to_vec(data).unwrap_or_default();
    let hash = blake3::hash(&bytes).to_hex();
    format!(
        "{}-{}-{}",
        d.model.name,
        name_fragment(&track.release),
        &hash.as_str()[..10]
    )
}

struct TrackObjects {
    config_map: Value,
    pod_template: Value,
}

fn track_objects(
    cx: &EmitContext<'_>,
    d: &Deployment<'_>,
    track: &Track,
    extra_labels: &[(&str, &str)],
) -> TrackObjects {
    let release = cx.resolved_release(&d.model.name, &track.release);
    let data = config_data(d, track, release);
    let name = config_map_name(d, track, &data);
    let mut cm_meta = metadata(cx, d, &name);
    cm_meta["labels"]["app.kubernetes.io/version"] = json!(label_value(&track.release));
    let config_map = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": cm_meta,
        "data": Value::Object(data),
    });

    let mut labels = Map::new();
    labels.insert("app.kubernetes.io/name".into(), json!(d.model.name));
    labels.insert("app.kubernetes.io/instance".into(), json!(d.model.name));
    labels.insert(
        "app.kubernetes.io/version".into(),
        json!(label_value(&track.release)),
    );
    labels.insert(
        "app.kubernetes.io/part-of".into(),
        json!(label_value(&cx.project.project)),
    );
    labels.insert("app.kubernetes.io/managed-by".into(), json!("modelops"));
    for (key, value) in extra_labels {
        labels.insert((*key).into(), json!(value));
    }
    let mut annotations = Map::new();
    annotations.insert("modelops.dev/release".into(), json!(track.release));
    if let Some(fingerprint) = &track.fingerprint {
        annotations.insert("modelops.dev/fingerprint".into(), json!(fingerprint));
    }
    if let Some(hash) = &track.prompt_hash {
        annotations.insert("modelops.dev/prompt-blake3".into(), json!(hash));
    }
    let mut env = vec![
        json!({"name": "MODELOPS_MODEL", "value": d.model.name}),
        json!({"name": "MODELOPS_RELEASE", "value": track.release}),
        json!({"name": "MODELOPS_ENVIRONMENT", "value": d.environment.name}),
        json!({"name": "MODELOPS_CONFIG_DIR", "value": MOUNT_PATH}),
    ];
    if let Some(release) = release {
        for secret in release.secrets.values() {
            env.push(json!({
                "name": secret.name,
                "valueFrom": {"secretKeyRef": {"name": secret.from, "key": secret.key}},
            }));
        }
    }
    let mut container = json!({
        "name": "model-server",
        "image": release.and_then(|r| r.image.as_ref()).map(|(i, _)| i.clone()).unwrap_or_default(),
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": env,
        "volumeMounts": [{"name": "modelops-config", "mountPath": MOUNT_PATH, "readOnly": true}],
    });
    if let Some(resources) = &d.deploy.resources {
        let mut requests = Map::new();
        let mut limits = Map::new();
        if let Some(cpu) = &resources.cpu {
            let cpu = match cpu {
                Value::String(s) => json!(s),
                other => json!(other.to_string()),
            };
            requests.insert("cpu".into(), cpu);
        }
        if let Some(memory) = &resources.memory {
            requests.insert("memory".into(), json!(memory));
            limits.insert("memory".into(), json!(memory));
        }
        container["resources"] = json!({"requests": requests, "limits": limits});
    }
    let pod_template = json!({
        "metadata": {"labels": labels, "annotations": annotations},
        "spec": {
            "containers": [container],
            "volumes": [{"name": "modelops-config", "configMap": {"name": name}}],
        },
    });
    TrackObjects {
        config_map,
        pod_template,
    }
}

/// The Service every track's pods are behind: the host clients and the Istio routes use.
fn model_service(cx: &EmitContext<'_>, d: &Deployment<'_>) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(cx, d, &d.model.name),
        "spec": {
            "selector": {"app.kubernetes.io/name": d.model.name},
            "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    })
}

fn service(
    cx: &EmitContext<'_>,
    d: &Deployment<'_>,
    track: &str,
    selector_track: Option<&str>,
) -> Value {
    let mut selector = Map::new();
    selector.insert("app.kubernetes.io/name".into(), json!(d.model.name));
    if let Some(track) = selector_track {
        selector.insert("modelops.dev/track".into(), json!(track));
    }
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(cx, d, &format!("{}-{track}", d.model.name)),
        "spec": {
            "selector": selector,
            "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    })
}

fn replicas(d: &Deployment<'_>) -> u32 {
    d.deploy.replicas.unwrap_or(1)
}

/// What a guard's query is about: the release under watch and where it runs.
#[derive(Clone, Copy, Debug)]
pub struct QueryScope<'a> {
    pub model: &'a str,
    pub release: &'a str,
    pub namespace: &'a str,
    /// `canary`, `preview` or `stable`: the track whose release is watched.
    pub track: &'a str,
}

impl<'a> QueryScope<'a> {
    /// The scope of a deployment's guards: its candidate when it has one, else stable.
    pub fn of(d: &'a Deployment<'_>, release: &'a str) -> Self {
        QueryScope {
            model: &d.model.name,
            release,
            namespace: d.namespace(),
            track: candidate_track(d.deploy),
        }
    }
}

/// The track the guards watch in a deployment.
pub fn candidate_track(deploy: &crate::model::Deploy) -> &'static str {
    match deploy.candidate() {
        Some(crate::model::Candidate::Canary(_)) => "canary",
        Some(crate::model::Candidate::BlueGreen(_)) => "preview",
        None => "stable",
    }
}

/// The PromQL a guard evaluates, for the release under watch.
pub fn guard_query(scope: &QueryScope<'_>, guard: &Guard) -> Option<String> {
    if let Some(query) = &guard.query {
        return Some(render_query(query, scope));
    }
    let (model, release) = (scope.model, scope.release);
    let selector = format!("model=\"{model}\",release=\"{release}\"");
    match guard.name.as_str() {
        "error-rate" => Some(format!(
            "sum(rate(modelops_requests_total{{{selector},code=~\"5..\"}}[5m])) / sum(rate(modelops_requests_total{{{selector}}}[5m]))"
        )),
        name => name.strip_prefix("latency-p").and_then(|q| q.parse::<u32>().ok()).map(|q| {
            format!(
                "histogram_quantile(0.{q:02}, sum by (le) (rate(modelops_request_duration_seconds_bucket{{{selector}}}[5m])))"
            )
        }),
    }
}

/// Fills `{{model}}`, `{{release}}`, `{{namespace}}` and `{{track}}` in a user's
/// query. Handlebars, strict, no escaping (PromQL is not HTML); a query that does
/// not render is used as written (the rules report template problems).
fn render_query(query: &str, scope: &QueryScope<'_>) -> String {
    let vars = [
        ("model", scope.model),
        ("release", scope.release),
        ("namespace", scope.namespace),
        ("track", scope.track),
    ];
    crate::syntax::template::render_text(query, &vars, true).unwrap_or_else(|_| query.to_owned())
}

/// Replaces a gate command's `{{endpoint}}`, `{{scores}}`, `{{dataset}}` and
/// `{{judge}}` placeholders with quoted shell variables (`"$MODELOPS_ENDPOINT"`, …),
/// so that pipelines pass values through the environment, never into the script.
pub fn render_placeholders(command: &str) -> String {
    let vars = [
        ("endpoint", "\"$MODELOPS_ENDPOINT\""),
        ("scores", "\"$MODELOPS_SCORES\""),
        ("dataset", "\"$MODELOPS_DATASET\""),
        ("judge", "\"$MODELOPS_JUDGE\""),
    ];
    crate::syntax::template::render_text(command, &vars, false)
        .unwrap_or_else(|_| command.to_owned())
}

/// A guard's threshold as the number its query returns (durations in seconds).
pub fn threshold_value(threshold: Threshold) -> f64 {
    match threshold {
        Threshold::Number(n) => n,
        Threshold::Duration(d) => d.millis as f64 / 1000.0,
    }
}

fn success_condition(guard: &Guard) -> String {
    let mut parts = Vec::new();
    if let Some(max) = guard.max {
        parts.push(format!("result[0] <= {}", threshold_value(max)));
    }
    if let Some(min) = guard.min {
        parts.push(format!("result[0] >= {}", threshold_value(min)));
    }
    // No traffic yet gives NaN: not a breach.
    format!("isNaN(result[0]) || ({})", parts.join(" && "))
}

/// Flagger takes durations in minutes or seconds only (`60m`, `90s`).
fn flagger_duration(duration: crate::model::Duration) -> String {
    if duration.millis.is_multiple_of(60_000) {
        format!("{}m", duration.millis / 60_000)
    } else {
        format!("{}s", duration.millis.div_ceil(1000))
    }
}

fn prometheus_address(target: &Target) -> String {
    target
        .prometheus
        .clone()
        .unwrap_or_else(|| DEFAULT_PROMETHEUS.to_owned())
}

fn analysis_template(
    cx: &EmitContext<'_>,
    d: &Deployment<'_>,
    target: &Target,
    candidate: &str,
) -> Option<Value> {
    if d.deploy.guard.is_empty() {
        return None;
    }
    let metrics: Vec<Value> = d
        .deploy
        .guard
        .values()
        .filter_map(|guard| {
            let query = guard_query(&QueryScope::of(d, candidate), guard)?;
            Some(json!({
                "name": guard.name,
                "interval": guard.interval().to_string(),
                "failureLimit": guard.failures().saturating_sub(1),
                "successCondition": success_condition(guard),
                "provider": {"prometheus": {"address": prometheus_address(target), "query": query}},
            }))
        })
        .collect();
    Some(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": metadata(cx, d, &format!("{}-guards", d.model.name)),
        "spec": {"metrics": metrics},
    }))
}

fn limitation(
    cx: &EmitContext<'_>,
    target: &Target,
    d: &Deployment<'_>,
    what: String,
    help: &str,
) -> Diagnostic {
    Diagnostic::new(Code::TargetLimitation, what)
        .with_label(
            cx.spans.name(&target.at),
            format!("target `{}`", target.name),
        )
        .with_label(
            cx.spans.name(&d.deploy.at),
            format!("deploy \"{}\" of `{}`", d.environment.name, d.model.name),
        )
        .with_help(help.to_owned())
}

/// Emits the target's files for `deployments`.
pub fn emit(
    cx: &EmitContext<'_>,
    target: &Target,
    deployments: &[Deployment<'_>],
    files: &mut FileSet,
    diagnostics: &mut Vec<Diagnostic>,
) {
    // Deployments are independent: built and serialised on every core, collected in
    // order (the largest target, so the other targets' threads are not left idle).
    use rayon::prelude::*;
    let emitted: Vec<(String, String, Vec<Diagnostic>)> = deployments
        .par_iter()
        .map(|d| {
            let mut found = Vec::new();
            let mut documents = match flavor(target) {
                Flavor::ArgoRollouts => argo(cx, target, d, &mut found),
                Flavor::Flagger => flagger(cx, target, d, &mut found),
                Flavor::Deployment => plain(cx, d),
            };
            // Flagger creates the Services of its target itself.
            if flavor(target) != Flavor::Flagger {
                documents.insert(0, model_service(cx, d));
            }
            (
                format!("kubernetes/{}/{}.yaml", d.environment.name, d.model.name),
                to_yaml_documents(&documents),
                found,
            )
        })
        .collect();
    for (path, yaml, found) in emitted {
        files.insert(path, yaml);
        diagnostics.extend(found);
    }
}

fn tracks<'a>(d: &Deployment<'a>) -> (Option<&'a Track>, Option<&'a Track>) {
    let stable = d.plan.tracks.iter().find(|t| t.track == "stable");
    let candidate = d.plan.tracks.iter().find(|t| t.track != "stable");
    (stable, candidate)
}

fn argo(
    cx: &EmitContext<'_>,
    target: &Target,
    d: &Deployment<'_>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Value> {
    let (stable, candidate) = tracks(d);
    let mut documents = Vec::new();
    let mut templates = Vec::new();
    for track in stable.iter().chain(candidate.iter()) {
        let objects = track_objects(cx, d, track, &[]);
        documents.push(objects.config_map);
        templates.push((track.track, objects.pod_template));
    }
    // The Rollout's template is the desired state: the candidate when there is one.
    // Argo keeps the previous (stable) ReplicaSet running until promotion.
    let Some((_, template)) = templates.last().cloned() else {
        return documents;
    };
    let istio = cx.project.target.contains_key("istio");
    let name = d.model.name.clone();
    let mut spec = json!({
        "replicas": replicas(d),
        "revisionHistoryLimit": 3,
        "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
        "template": template,
    });
    let candidate_release = candidate
        .map(|t| t.release.clone())
        .unwrap_or_else(|| stable.map(|t| t.release.clone()).unwrap_or_default());
    let analysis = analysis_template(cx, d, target, &candidate_release);
    match d.deploy.candidate() {
        Some(Candidate::BlueGreen(blue_green)) => {
            documents.push(service(cx, d, "stable", None));
            documents.push(service(cx, d, "preview", None));
            let mut strategy = json!({
                "activeService": format!("{name}-stable"),
                "previewService": format!("{name}-preview"),
                "autoPromotionEnabled": blue_green.promote.unwrap_or_default() == Promote::Auto,
            });
            if let (Some(preview), Some(Promote::Auto)) = (blue_green.preview, blue_green.promote) {
                strategy["autoPromotionSeconds"] = json!(preview.as_secs());
            }
            if let Some(keep_old) = blue_green.keep_old {
                strategy["scaleDownDelaySeconds"] = json!(keep_old.as_secs());
            }
            if analysis.is_some() {
                strategy["prePromotionAnalysis"] =
                    json!({"templates": [{"templateName": format!("{name}-guards")}]});
            }
            if blue_green.shadow.is_some() {
                diagnostics.push(limitation(
                    cx,
                    target,
                    d,
                    format!("Argo Rollouts cannot mirror traffic during a blue-green rollout; the shadow stage of `{}` in `{}` runs through the proxy targets only", d.model.name, d.environment.name),
                    "the istio, envoy and nginx targets emit a `shadow` traffic state for this stage",
                ));
            }
            spec["strategy"] = json!({"blueGreen": strategy});
        }
        Some(Candidate::Canary(canary)) => {
            documents.push(service(cx, d, "stable", None));
            documents.push(service(cx, d, "canary", None));
            let mut steps = Vec::new();
            if let Some(shadow) = &canary.shadow {
                if istio {
                    steps.push(json!({"setMirrorRoute": {
                        "name": "shadow",
                        "percentage": shadow.percent(),
                        "match": [{"path": {"prefix": "/"}}],
                    }}));
                    steps.push(json!({"pause": {"duration": shadow.duration.to_string()}}));
                    // A mirror route without `match` removes it.
                    steps.push(json!({"setMirrorRoute": {"name": "shadow"}}));
                } else {
                    diagnostics.push(limitation(
                        cx,
                        target,
                        d,
                        format!("without an `istio` target, Argo Rollouts cannot mirror traffic; the shadow stage of `{}` in `{}` is left out of the Rollout", d.model.name, d.environment.name),
                        "add `target \"istio\"` so the Rollout mirrors through Istio, or run the shadow stage through a proxy target",
                    ));
                }
            }
            for step in &canary.step {
                steps.push(json!({"setWeight": step.weight}));
                if let Some(pause) = step.pause {
                    steps.push(json!({"pause": {"duration": pause.to_string()}}));
                }
            }
            let mut strategy = json!({
                "stableService": format!("{name}-stable"),
                "canaryService": format!("{name}-canary"),
                "steps": steps,
            });
            if istio {
                let mut routing = json!({"istio": {
                    "virtualService": {"name": name, "routes": ["primary"]},
                    "destinationRule": {"name": name, "stableSubsetName": "stable", "canarySubsetName": "canary"},
                }});
                if canary.shadow.is_some() {
                    routing["managedRoutes"] = json!([{"name": "shadow"}]);
                }
                strategy["trafficRouting"] = routing;
            }
            if analysis.is_some() {
                strategy["analysis"] =
                    json!({"templates": [{"templateName": format!("{name}-guards")}]});
            }
            spec["strategy"] = json!({"canary": strategy});
        }
        None => {
            documents.push(service(cx, d, "stable", None));
            spec["strategy"] =
                json!({"canary": {"stableService": format!("{name}-stable"), "steps": []}});
        }
    }
    documents.extend(analysis);
    documents.push(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": metadata(cx, d, &name),
        "spec": spec,
    }));
    documents
}

fn deployment_object(
    cx: &EmitContext<'_>,
    d: &Deployment<'_>,
    name: &str,
    template: Value,
    selector_track: Option<&str>,
) -> Value {
    let mut selector = Map::new();
    selector.insert("app.kubernetes.io/name".into(), json!(d.model.name));
    if let Some(track) = selector_track {
        selector.insert("modelops.dev/track".into(), json!(track));
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(cx, d, name),
        "spec": {
            "replicas": replicas(d),
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": selector},
            "template": template,
        },
    })
}

fn flagger(
    cx: &EmitContext<'_>,
    target: &Target,
    d: &Deployment<'_>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Value> {
    let (stable, candidate) = tracks(d);
    let mut documents = Vec::new();
    let mut template = None;
    for track in stable.iter().chain(candidate.iter()) {
        let objects = track_objects(cx, d, track, &[]);
        documents.push(objects.config_map);
        template = Some(objects.pod_template);
    }
    let Some(template) = template else {
        return documents;
    };
    let name = d.model.name.clone();
    // Flagger owns the primary copy and the Services; the Deployment is its target.
    documents.push(deployment_object(cx, d, &name, template, None));
    let istio = cx.project.target.contains_key("istio");
    let guards = &d.deploy.guard;
    let threshold = guards
        .values()
        .map(|g| g.failures())
        .max()
        .unwrap_or(Guard::DEFAULT_FAILURES);
    let candidate_release = candidate.map(|t| t.release.clone()).unwrap_or_default();
    let metrics: Vec<Value> = guards
        .values()
        .filter_map(|guard| {
            guard_query(&QueryScope::of(d, &candidate_release), guard)?;
            let mut metric = json!({
                "name": guard.name,
                "interval": flagger_duration(guard.interval()),
                "templateRef": {"name": format!("{name}-{}", guard.name)},
            });
            let mut range = Map::new();
            if let Some(max) = guard.max {
                range.insert("max".into(), json!(threshold_value(max)));
            }
            if let Some(min) = guard.min {
                range.insert("min".into(), json!(threshold_value(min)));
            }
            metric["thresholdRange"] = Value::Object(range);
            Some(metric)
        })
        .collect();
    let mut analysis = json!({"threshold": threshold, "metrics": metrics});
    match d.deploy.candidate() {
        Some(Candidate::Canary(canary)) => {
            let pauses: Vec<_> = canary.step.iter().filter_map(|s| s.pause).collect();
            let interval = pauses
                .iter()
                .max()
                .copied()
                .unwrap_or(Guard::DEFAULT_INTERVAL);
            if pauses.iter().any(|p| *p != interval) {
                diagnostics.push(limitation(
                    cx,
                    target,
                    d,
                    format!("Flagger holds every canary step for the same interval; `{}` in `{}` uses the longest pause, {interval}, for all steps", d.model.name, d.environment.name),
                    "give every step the same pause to keep Flagger's timing exact",
                ));
            }
            analysis["interval"] = json!(flagger_duration(interval));
            let weights: Vec<u8> = canary
                .step
                .iter()
                .map(|s| s.weight)
                .filter(|w| *w < 100)
                .collect();
            analysis["stepWeights"] = json!(weights);
            analysis["maxWeight"] = json!(weights.last().copied().unwrap_or(100));
            if let Some(shadow) = &canary.shadow {
                analysis["mirror"] = json!(true);
                analysis["mirrorWeight"] = json!(shadow.percent());
            }
            if !istio {
                diagnostics.push(limitation(
                    cx,
                    target,
                    d,
                    format!("Flagger needs a mesh to shift traffic in steps; without an `istio` target the canary of `{}` in `{}` cannot be weighted", d.model.name, d.environment.name),
                    "add `target \"istio\"`, or use `flavor=\"argo-rollouts\"` or `flavor=\"deployment\"`",
                ));
            }
        }
        Some(Candidate::BlueGreen(blue_green)) => {
            let interval = Guard::DEFAULT_INTERVAL;
            let preview = blue_green.preview.unwrap_or(interval);
            analysis["interval"] = json!(flagger_duration(interval));
            analysis["iterations"] = json!((preview.millis / interval.millis).max(1));
        }
        None => {
            analysis["interval"] = json!(flagger_duration(Guard::DEFAULT_INTERVAL));
            analysis["iterations"] = json!(1);
        }
    }
    for guard in guards.values() {
        if let Some(query) = guard_query(&QueryScope::of(d, &candidate_release), guard) {
            documents.push(json!({
                "apiVersion": "flagger.app/v1beta1",
                "kind": "MetricTemplate",
                "metadata": metadata(cx, d, &format!("{name}-{}", guard.name)),
                "spec": {"provider": {"type": "prometheus", "address": prometheus_address(target)}, "query": query},
            }));
        }
    }
    documents.push(json!({
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": metadata(cx, d, &name),
        "spec": {
            "provider": if istio { "istio" } else { "kubernetes" },
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "service": {"port": PORT, "targetPort": PORT},
            "analysis": analysis,
        },
    }));
    documents
}

fn plain(cx: &EmitContext<'_>, d: &Deployment<'_>) -> Vec<Value> {
    let (stable, candidate) = tracks(d);
    let mut documents = Vec::new();
    for track in stable.iter().chain(candidate.iter()) {
        let objects = track_objects(cx, d, track, &[("modelops.dev/track", track.track)]);
        documents.push(objects.config_map);
        documents.push(service(cx, d, track.track, Some(track.track)));
        documents.push(deployment_object(
            cx,
            d,
            &format!("{}-{}", d.model.name, track.track),
            objects.pod_template,
            Some(track.track),
        ));
    }
    documents
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_names_are_valid_for_kubernetes() {
        assert_eq!(label_value("1.5.0+build.7"), "1.5.0_build.7");
        assert_eq!(name_fragment("2.0.0-RC.1"), "2.0.0-rc.1");
        assert_eq!(label_value(&"a".repeat(80)).len(), 63);
    }
}
