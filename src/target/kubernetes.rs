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

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::model::target::Driver;
use crate::model::target::Mesh;
use crate::model::{self, Candidate, Flavor, Guard, ResolvedRelease, TargetKind};
use crate::resolve::Track;
use crate::target::guards::{self, QueryScope, guard_query, threshold_value};
use crate::target::k8s::{self, Labels, Object, ObjectMeta};
use crate::target::registry::{Apply, Emitted, Layout, Part, Per, Target};
use crate::target::{Context, Deployment, to_yaml_documents};

/// The `kubernetes` target.
pub struct Kubernetes;

const LAYOUT: Layout = Layout {
    per: Per::Deployment,
    path: "kubernetes/{environment}/{model}.yaml",
};

impl Target for Kubernetes {
    fn kind(&self) -> TargetKind {
        TargetKind::Kubernetes
    }

    fn layout(&self, _driver: Driver) -> Layout {
        LAYOUT
    }

    fn apply(&self) -> Apply {
        Apply::Kubectl
    }

    fn emit(&self, cx: &Context<'_>, part: &Part<'_, '_>) -> Emitted {
        emit(cx, part.declared, part.deployments)
    }
}

/// Where the serving container finds its configuration.
pub const MOUNT_PATH: &str = "/etc/modelops";
/// The serving container's port, and the Services'.
pub const PORT: u16 = 8080;
/// The Prometheus server the analysis queries when the target names none.
pub const DEFAULT_PROMETHEUS: &str = "http://prometheus.monitoring.svc.cluster.local:9090";

fn flavor(target: &model::Target) -> Flavor {
    target.flavor.unwrap_or_default()
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

fn common_labels(cx: &Context<'_>, d: &Deployment<'_>) -> Labels {
    let mut labels = Labels::new();
    labels.insert("app.kubernetes.io/name".into(), d.model.name.clone());
    labels.insert("app.kubernetes.io/instance".into(), d.model.name.clone());
    labels.insert(
        "app.kubernetes.io/part-of".into(),
        label_value(&cx.project.project),
    );
    labels.insert("app.kubernetes.io/managed-by".into(), "modelops".into());
    labels.insert(
        "modelops.dev/environment".into(),
        label_value(&d.environment.name),
    );
    labels
}

fn metadata(cx: &Context<'_>, d: &Deployment<'_>, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: name.to_owned(),
        namespace: d.namespace().to_owned(),
        labels: common_labels(cx, d),
    }
}

/// `release.json`: what a track's pods run. Fields without a value are `null`.
#[derive(Serialize)]
struct ReleaseJson<'a> {
    model: &'a str,
    release: &'a str,
    environment: &'a str,
    base: Option<BaseJson<'a>>,
    image: Option<&'a str>,
    prompt: Option<PromptJson<'a>>,
    release_blake3: &'a Option<crate::resolve::HashHex>,
    fingerprint: &'a Option<crate::resolve::HashHex>,
}

#[derive(Serialize)]
struct BaseJson<'a> {
    id: &'a str,
    revision: &'a Option<String>,
}

#[derive(Serialize)]
struct PromptJson<'a> {
    name: &'a str,
    version: Option<u32>,
    blake3: &'a Option<crate::resolve::HashHex>,
}

/// The data a track's pods read from `/etc/modelops/`.
pub fn config_data(
    d: &Deployment<'_>,
    track: &Track,
    release: Option<&ResolvedRelease>,
) -> BTreeMap<String, String> {
    let params: BTreeMap<&str, &Value> = release
        .map(|r| r.params.iter().map(|(k, (v, _))| (k.as_str(), v)).collect())
        .unwrap_or_default();
    let release_json = ReleaseJson {
        model: &d.model.name,
        release: &track.release,
        environment: &d.environment.name,
        base: release.and_then(|r| r.base.as_ref()).map(|b| BaseJson {
            id: &b.id,
            revision: &b.revision,
        }),
        image: release
            .and_then(|r| r.image.as_ref())
            .map(|(image, _)| image.as_str()),
        prompt: release.and_then(|r| r.prompt.as_ref()).map(|p| PromptJson {
            name: &p.name,
            version: p.version,
            blake3: &track.prompt_hash,
        }),
        release_blake3: &track.release_hash,
        fingerprint: &track.fingerprint,
    };
    let mut data = BTreeMap::new();
    data.insert(
        "system-prompt.txt".into(),
        track.rendered_prompt.clone().unwrap_or_default(),
    );
    data.insert("params.json".into(), crate::target::to_json(&params));
    // Through a `Value`, so that the keys are sorted.
    data.insert(
        "release.json".into(),
        crate::target::to_json(&crate::target::to_value(&release_json)),
    );
    data
}

/// The ConfigMap's name: model, release and a hash of its data.
fn config_map_name(d: &Deployment<'_>, track: &Track, data: &BTreeMap<String, String>) -> String {
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
    config_map: k8s::ConfigMap,
    pod_template: k8s::PodTemplate,
}

fn track_objects(
    cx: &Context<'_>,
    d: &Deployment<'_>,
    track: &Track,
    extra_labels: &[(&str, &str)],
) -> TrackObjects {
    let release = cx.release(&d.model.name, &track.release);
    let data = config_data(d, track, release);
    let name = config_map_name(d, track, &data);
    let mut cm_meta = metadata(cx, d, &name);
    cm_meta.labels.insert(
        "app.kubernetes.io/version".into(),
        label_value(&track.release),
    );
    let config_map = k8s::ConfigMap::new(cm_meta, data);

    let mut labels = Labels::new();
    labels.insert("app.kubernetes.io/name".into(), d.model.name.clone());
    labels.insert("app.kubernetes.io/instance".into(), d.model.name.clone());
    labels.insert(
        "app.kubernetes.io/version".into(),
        label_value(&track.release),
    );
    labels.insert(
        "app.kubernetes.io/part-of".into(),
        label_value(&cx.project.project),
    );
    labels.insert("app.kubernetes.io/managed-by".into(), "modelops".into());
    for (key, value) in extra_labels {
        labels.insert((*key).into(), (*value).into());
    }
    let mut annotations = Labels::new();
    annotations.insert("modelops.dev/release".into(), track.release.clone());
    if let Some(fingerprint) = &track.fingerprint {
        annotations.insert("modelops.dev/fingerprint".into(), fingerprint.clone());
    }
    if let Some(hash) = &track.prompt_hash {
        annotations.insert("modelops.dev/prompt-blake3".into(), hash.clone());
    }
    let mut env = vec![
        k8s::EnvVar::value("MODELOPS_MODEL", &d.model.name),
        k8s::EnvVar::value("MODELOPS_RELEASE", &track.release),
        k8s::EnvVar::value("MODELOPS_ENVIRONMENT", &d.environment.name),
        k8s::EnvVar::value("MODELOPS_CONFIG_DIR", MOUNT_PATH),
    ];
    if let Some(release) = release {
        for secret in release.secrets.values() {
            env.push(k8s::EnvVar::secret(&secret.name, &secret.from, &secret.key));
        }
    }
    let resources = d.deploy.resources.as_ref().map(|resources| {
        let mut requests = BTreeMap::new();
        let mut limits = BTreeMap::new();
        if let Some(cpu) = &resources.cpu {
            let cpu = match cpu {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            requests.insert("cpu".into(), cpu);
        }
        if let Some(memory) = &resources.memory {
            requests.insert("memory".into(), memory.clone());
            limits.insert("memory".into(), memory.clone());
        }
        k8s::Resources { requests, limits }
    });
    let container = k8s::Container {
        name: "model-server".into(),
        image: release
            .and_then(|r| r.image.as_ref())
            .map(|(i, _)| i.clone())
            .unwrap_or_default(),
        ports: vec![k8s::ContainerPort {
            name: "http".into(),
            container_port: PORT,
            protocol: "TCP".into(),
        }],
        env,
        volume_mounts: vec![k8s::VolumeMount {
            name: "modelops-config".into(),
            mount_path: MOUNT_PATH.into(),
            read_only: true,
        }],
        resources,
    };
    let pod_template = k8s::PodTemplate {
        metadata: k8s::PodMeta {
            labels,
            annotations,
        },
        spec: k8s::PodSpec {
            containers: vec![container],
            volumes: vec![k8s::Volume {
                name: "modelops-config".into(),
                config_map: k8s::ConfigMapVolumeSource { name },
            }],
        },
    };
    TrackObjects {
        config_map,
        pod_template,
    }
}

fn http_port() -> k8s::ServicePort {
    k8s::ServicePort {
        name: "http".into(),
        port: PORT,
        target_port: "http".into(),
        protocol: "TCP".into(),
    }
}

/// The Service every track's pods are behind: the host clients and the Istio routes use.
fn model_service(cx: &Context<'_>, d: &Deployment<'_>) -> Object {
    let mut selector = Labels::new();
    selector.insert("app.kubernetes.io/name".into(), d.model.name.clone());
    Object::Service(k8s::Service::new(
        metadata(cx, d, &d.model.name),
        k8s::ServiceSpec {
            selector,
            ports: vec![http_port()],
        },
    ))
}

fn service(
    cx: &Context<'_>,
    d: &Deployment<'_>,
    track: &str,
    selector_track: Option<&str>,
) -> Object {
    Object::Service(k8s::Service::new(
        metadata(cx, d, &format!("{}-{track}", d.model.name)),
        k8s::ServiceSpec {
            selector: track_selector(d, selector_track),
            ports: vec![http_port()],
        },
    ))
}

/// The pods of a model, or of one of its tracks.
fn track_selector(d: &Deployment<'_>, selector_track: Option<&str>) -> Labels {
    let mut selector = Labels::new();
    selector.insert("app.kubernetes.io/name".into(), d.model.name.clone());
    if let Some(track) = selector_track {
        selector.insert("modelops.dev/track".into(), track.into());
    }
    selector
}

fn replicas(d: &Deployment<'_>) -> u32 {
    d.deploy.replicas.unwrap_or(1)
}

/// Flagger takes durations in minutes or seconds only (`60m`, `90s`).
fn flagger_duration(duration: crate::model::Duration) -> String {
    if duration.millis.is_multiple_of(60_000) {
        format!("{}m", duration.millis / 60_000)
    } else {
        format!("{}s", duration.millis.div_ceil(1000))
    }
}

fn prometheus_address(target: &model::Target) -> String {
    target
        .prometheus
        .clone()
        .unwrap_or_else(|| DEFAULT_PROMETHEUS.to_owned())
}

/// The Flagger load tester whose gates hold a canary's steps and promotion and
/// open its rollback: the target's `loadtester=`, else the one in the deployment's
/// namespace.
pub fn loadtester(target: &model::Target, d: &Deployment<'_>) -> String {
    match &target.loadtester {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("http://flagger-loadtester.{}", d.namespace()),
    }
}

/// The shortest interval of a deployment's guards: how often a controller reads
/// them.
pub fn analysis_interval(d: &Deployment<'_>) -> crate::model::Duration {
    d.deploy
        .guard
        .values()
        .map(Guard::interval)
        .min()
        .unwrap_or(Guard::DEFAULT_INTERVAL)
}

/// The Argo `AnalysisTemplate` of a deployment's guards: the shared query, `NaN`
/// read as Inconclusive (neither condition holds), a breach as Failed.
/// `window` gives blue-green pre-promotion analysis a `count`, without which Argo
/// rejects it as running indefinitely (argo-rollouts
/// `pkg/apis/rollouts/validation/validation_references.go`,
/// `ValidateAnalysisTemplateWithType`); background analysis runs until the rollout
/// ends.
fn analysis_template(
    cx: &Context<'_>,
    d: &Deployment<'_>,
    target: &model::Target,
    candidate: &str,
    window: Option<crate::model::Duration>,
) -> Option<Object> {
    if d.deploy.guard.is_empty() {
        return None;
    }
    let metrics: Vec<k8s::AnalysisMetric> = d
        .deploy
        .guard
        .values()
        .filter_map(|guard| {
            let query = guard_query(&QueryScope::of(d, candidate), guard)?;
            let limit = guard.failures().saturating_sub(1);
            let (success_condition, failure_condition) = guards::argo_conditions(guard);
            // Argo requires count >= failureLimit and >= inconclusiveLimit
            // (`utils/analysis/factory.go`, `ValidateMetric`).
            let count = window.map(|window| {
                window
                    .millis
                    .div_ceil(guard.interval().millis.max(1))
                    .max(u64::from(limit) + 1)
            });
            Some(k8s::AnalysisMetric {
                name: guard.name.clone(),
                interval: guard.interval().to_string(),
                count,
                failure_limit: limit,
                inconclusive_limit: limit,
                success_condition,
                failure_condition,
                provider: k8s::AnalysisProvider {
                    prometheus: k8s::PrometheusQuery {
                        address: prometheus_address(target),
                        query,
                    },
                },
            })
        })
        .collect();
    Some(Object::AnalysisTemplate(k8s::AnalysisTemplate::new(
        metadata(cx, d, &format!("{}-guards", d.model.name)),
        metrics,
    )))
}

/// Where a controller flavor's bootstrap and rollback file goes: the deployment's
/// objects with the stable release's pod template. A controller skips every step
/// on a workload's first creation (argo-rollouts `rollout/sync.go`,
/// `shouldFullPromote`: "Initial deploy"; Flagger bootstraps its primary from the
/// first template it sees), so the pipeline creates the workload from this file
/// before the candidate's, and re-applies it after an abort to revert the template.
pub const STABLE_LAYOUT: Layout = Layout {
    per: Per::Deployment,
    path: "kubernetes/{environment}/{model}.stable.yaml",
};

/// Emits the target's files for `deployments`.
fn emit(cx: &Context<'_>, target: &model::Target, deployments: &[Deployment<'_>]) -> Emitted {
    // Deployments are independent: built and serialised on every core, collected in
    // order (the largest target, so the other targets' threads are not left idle).
    use rayon::prelude::*;
    let emitted: Vec<Vec<(String, String)>> = deployments
        .par_iter()
        .map(|d| {
            let (stable, candidate) = tracks(d);
            let templates = Templates::of(cx, d);
            let build = |template: Option<k8s::PodTemplate>| {
                let mut documents = match flavor(target) {
                    Flavor::ArgoRollouts => argo(cx, target, d, &templates.config_maps, template),
                    Flavor::Flagger => flagger(cx, target, d, &templates.config_maps, template),
                    Flavor::Deployment => plain(cx, d),
                };
                // Flagger creates the Services of its target itself.
                if flavor(target) != Flavor::Flagger {
                    documents.insert(0, model_service(cx, d));
                }
                to_yaml_documents(&documents)
            };
            let mut files = vec![(LAYOUT.deployment_path(d), build(templates.desired.clone()))];
            if flavor(target).driver().is_controller() && candidate.is_some() && stable.is_some() {
                files.push((
                    STABLE_LAYOUT.deployment_path(d),
                    build(templates.stable.clone()),
                ));
            }
            files
        })
        .collect();
    let mut out = Emitted::default();
    for (path, yaml) in emitted.into_iter().flatten() {
        out.files.insert(path, yaml);
    }
    out
}

fn tracks<'a>(d: &Deployment<'a>) -> (Option<&'a Track>, Option<&'a Track>) {
    let stable = d.plan.tracks.iter().find(|t| t.track == "stable");
    let candidate = d.plan.tracks.iter().find(|t| t.track != "stable");
    (stable, candidate)
}

fn guards_analysis(name: &str) -> k8s::RolloutAnalysis {
    k8s::RolloutAnalysis {
        templates: vec![k8s::AnalysisTemplateRef {
            template_name: format!("{name}-guards"),
        }],
    }
}

/// What a controller flavor's workload starts from: the ConfigMap of each track,
/// and the pod templates of the desired state (the candidate when there is one) and
/// of the stable release.
struct Templates {
    config_maps: Vec<Object>,
    desired: Option<k8s::PodTemplate>,
    stable: Option<k8s::PodTemplate>,
}

impl Templates {
    fn of(cx: &Context<'_>, d: &Deployment<'_>) -> Self {
        let (stable, candidate) = tracks(d);
        let mut out = Templates {
            config_maps: Vec::new(),
            desired: None,
            stable: None,
        };
        for track in stable.iter().chain(candidate.iter()) {
            let objects = track_objects(cx, d, track, &[]);
            out.config_maps.push(Object::ConfigMap(objects.config_map));
            if track.track == "stable" {
                out.stable = Some(objects.pod_template.clone());
            }
            out.desired = Some(objects.pod_template);
        }
        out
    }
}

/// The Service Argo Rollouts switches between releases in a blue-green rollout: the
/// model's own Service, so that clients addressing the model reach the active
/// release and never the preview.
pub fn active_service(d: &Deployment<'_>) -> String {
    d.model.name.clone()
}

/// The managed route Argo Rollouts mirrors the shadow stage through.
pub const SHADOW_ROUTE: &str = "shadow";

/// The steps of an Argo canary: the shadow (canary pods scaled to the mirrored
/// share, the mirror route, its pause, its removal), the approval `pause: {}` before
/// live traffic, then each weight with its pause.
fn canary_steps(d: &Deployment<'_>, mesh: Option<Mesh>) -> Vec<k8s::CanaryStep> {
    let canary = match d.deploy.candidate() {
        Some(Candidate::Canary(canary)) => Some(canary),
        _ => None,
    };
    let shadow = canary
        .and_then(|c| c.shadow.as_ref())
        .filter(|_| mesh.is_some());
    let mut steps = Vec::new();
    if let Some(shadow) = shadow {
        steps.push(k8s::CanaryStep::SetCanaryScale(k8s::SetCanaryScale {
            weight: Some(shadow.percent()),
            replicas: None,
            match_traffic_weight: None,
        }));
        steps.push(k8s::CanaryStep::SetMirrorRoute(k8s::SetMirrorRoute {
            name: SHADOW_ROUTE.into(),
            percentage: Some(shadow.percent()),
            matches: Some(vec![k8s::RouteMatch {
                path: k8s::PathMatch { prefix: "/".into() },
            }]),
        }));
        steps.push(k8s::CanaryStep::Pause(k8s::Pause {
            duration: Some(shadow.duration.to_string()),
        }));
        // A mirror route without `match` removes it.
        steps.push(k8s::CanaryStep::SetMirrorRoute(k8s::SetMirrorRoute {
            name: SHADOW_ROUTE.into(),
            percentage: None,
            matches: None,
        }));
    }
    let weights = canary.map(|c| c.step.as_slice()).unwrap_or_default();
    if !weights.is_empty() {
        // The approval before live traffic: the Rollout waits here until the
        // pipeline promotes it. With traffic routing and no shadow, one
        // canary pod runs meanwhile for the smoke requests.
        if mesh.is_some() && shadow.is_none() {
            steps.push(k8s::CanaryStep::SetCanaryScale(k8s::SetCanaryScale {
                weight: None,
                replicas: Some(1),
                match_traffic_weight: None,
            }));
        }
        steps.push(k8s::CanaryStep::Pause(k8s::Pause { duration: None }));
        if mesh.is_some() {
            steps.push(k8s::CanaryStep::SetCanaryScale(k8s::SetCanaryScale {
                weight: None,
                replicas: None,
                match_traffic_weight: Some(true),
            }));
        }
    }
    for step in weights {
        steps.push(k8s::CanaryStep::SetWeight(step.weight));
        if let Some(pause) = step.pause {
            steps.push(k8s::CanaryStep::Pause(k8s::Pause {
                duration: Some(pause.to_string()),
            }));
        }
    }
    steps
}

/// The index of the Rollout's approval pause (`pause: {}` before its first weight),
/// which the pipeline waits for; `None` when the deployment has no canary steps.
pub fn argo_approval_step(d: &Deployment<'_>, mesh: Option<Mesh>) -> Option<usize> {
    canary_steps(d, mesh)
        .iter()
        .position(|step| matches!(step, k8s::CanaryStep::Pause(k8s::Pause { duration: None })))
}

/// The Argo Rollout of a deployment, with its Services and `AnalysisTemplate`.
///
/// Canary: the controller walks the steps; with the `istio` target it shifts
/// weights on the managed VirtualService route `primary` and mirrors through a
/// managed route `shadow`. Mirrored requests need canary pods: a `setCanaryScale`
/// to the shadow's share comes before `setMirrorRoute`, and the scale follows the
/// weights again after it (argo-rollouts `utils/replicaset/canary.go`,
/// `GetCanaryReplicasOrWeight`: no weight, no pods; `rollout/trafficrouting.go`,
/// `reconcileTrafficRouting`: managed routes are removed while the canary has no
/// available pods).
fn argo(
    cx: &Context<'_>,
    target: &model::Target,
    d: &Deployment<'_>,
    config_maps: &[Object],
    template: Option<k8s::PodTemplate>,
) -> Vec<Object> {
    let (stable, candidate) = tracks(d);
    let mut documents = config_maps.to_vec();
    let Some(template) = template else {
        return documents;
    };
    let mesh = cx.project.mesh();
    let name = d.model.name.clone();
    let workload = k8s::WorkloadSpec {
        replicas: replicas(d),
        revision_history_limit: 3,
        selector: k8s::LabelSelector {
            match_labels: track_selector(d, None),
        },
        template,
    };
    let candidate_release = candidate
        .map(|t| t.release.clone())
        .unwrap_or_else(|| stable.map(|t| t.release.clone()).unwrap_or_default());
    let strategy = match d.deploy.candidate() {
        Some(Candidate::BlueGreen(blue_green)) => {
            documents.push(service(cx, d, "preview", None));
            let window = blue_green.preview.unwrap_or(Guard::DEFAULT_INTERVAL);
            let analysis = analysis_template(cx, d, target, &candidate_release, Some(window));
            // The switch waits for the pipeline, which promotes after the
            // environment's approval (a person's, for `promote "manual"`).
            let strategy = k8s::RolloutStrategy::BlueGreen(k8s::BlueGreenStrategy {
                active_service: active_service(d),
                preview_service: format!("{name}-preview"),
                auto_promotion_enabled: false,
                auto_promotion_seconds: None,
                scale_down_delay_seconds: blue_green.keep_old.map(|keep_old| keep_old.as_secs()),
                pre_promotion_analysis: analysis.is_some().then(|| guards_analysis(&name)),
            });
            documents.extend(analysis);
            strategy
        }
        candidate => {
            documents.push(service(cx, d, "stable", None));
            documents.push(service(cx, d, "canary", None));
            let canary = match candidate {
                Some(Candidate::Canary(canary)) => Some(canary),
                _ => None,
            };
            let shadow = canary
                .and_then(|c| c.shadow.as_ref())
                .filter(|_| mesh.is_some());
            let steps = canary_steps(d, mesh);
            let traffic_routing = mesh.map(|Mesh::Istio| k8s::TrafficRouting {
                istio: k8s::IstioRouting {
                    virtual_service: k8s::IstioVirtualServiceRef {
                        name: name.clone(),
                        routes: vec![crate::target::istio::PRIMARY_ROUTE.into()],
                    },
                    destination_rule: k8s::IstioDestinationRuleRef {
                        name: name.clone(),
                        stable_subset_name: "stable".into(),
                        canary_subset_name: "canary".into(),
                    },
                },
                managed_routes: shadow.map(|_| {
                    vec![k8s::ManagedRoute {
                        name: SHADOW_ROUTE.into(),
                    }]
                }),
            });
            let analysis =
                canary.and_then(|_| analysis_template(cx, d, target, &candidate_release, None));
            let strategy = k8s::RolloutStrategy::Canary(k8s::CanaryStrategy {
                stable_service: format!("{name}-stable"),
                canary_service: Some(format!("{name}-canary")),
                steps,
                traffic_routing,
                analysis: analysis.is_some().then(|| guards_analysis(&name)),
            });
            documents.extend(analysis);
            strategy
        }
    };
    documents.push(Object::Rollout(Box::new(k8s::Rollout::new(
        metadata(cx, d, &name),
        k8s::RolloutSpec { workload, strategy },
    ))));
    documents
}

fn deployment_object(
    cx: &Context<'_>,
    d: &Deployment<'_>,
    name: &str,
    template: k8s::PodTemplate,
    selector_track: Option<&str>,
) -> Object {
    Object::Deployment(k8s::Deployment::new(
        metadata(cx, d, name),
        k8s::WorkloadSpec {
            replicas: replicas(d),
            revision_history_limit: 3,
            selector: k8s::LabelSelector {
                match_labels: track_selector(d, selector_track),
            },
            template,
        },
    ))
}

/// The Flagger `Canary` of a deployment, its target Deployment and a
/// `MetricTemplate` per guard.
///
/// Flagger reads the guards every analysis interval: the shortest guard interval,
/// never a step's pause. It holds each weight for one interval and has no timed
/// hold (flagger `pkg/controller/scheduler.go`, `advanceCanary`), so a step that
/// pauses longer waits at a `confirm-traffic-increase` gate of the load tester,
/// which the pipeline opens once the pause is over; a manual blue-green promotion
/// waits at a `confirm-promotion` gate; a `rollback` gate lets the pipeline abort.
/// A blue-green shadow mirrors for every iteration.
fn flagger(
    cx: &Context<'_>,
    target: &model::Target,
    d: &Deployment<'_>,
    config_maps: &[Object],
    template: Option<k8s::PodTemplate>,
) -> Vec<Object> {
    let (stable, candidate) = tracks(d);
    let mut documents = config_maps.to_vec();
    let Some(template) = template else {
        return documents;
    };
    let name = d.model.name.clone();
    // Flagger owns the primary copy and the Services; the Deployment is its target.
    documents.push(deployment_object(cx, d, &name, template, None));
    let mesh = cx.project.mesh();
    let guards = &d.deploy.guard;
    let interval = analysis_interval(d);
    let threshold = guards
        .values()
        .map(|g| g.failures())
        .max()
        .unwrap_or(Guard::DEFAULT_FAILURES);
    let watched = candidate
        .or(stable)
        .map(|t| t.release.clone())
        .unwrap_or_default();
    let metrics: Vec<k8s::CanaryMetric> = guards
        .values()
        .filter_map(|guard| {
            guard_query(&QueryScope::of(d, &watched), guard)?;
            Some(k8s::CanaryMetric {
                name: guard.name.clone(),
                // Always given: a template metric without one renders
                // `{{ interval }}` empty (flagger `scheduler_metrics.go`).
                interval: flagger_duration(guard.interval()),
                template_ref: k8s::MetricTemplateRef {
                    name: format!("{name}-{}", guard.name),
                },
                threshold_range: k8s::ThresholdRange {
                    min: guard.min.map(threshold_value),
                    max: guard.max.map(threshold_value),
                },
            })
        })
        .collect();
    let gates = loadtester(target, d);
    let mut analysis = k8s::CanaryAnalysis {
        interval: flagger_duration(interval),
        threshold,
        iterations: None,
        step_weights: None,
        max_weight: None,
        mirror: None,
        mirror_weight: None,
        metrics,
        webhooks: vec![k8s::CanaryWebhook {
            name: "modelops-rollback".into(),
            kind: "rollback".into(),
            url: format!("{gates}/rollback/check"),
        }],
    };
    let mut skip_analysis = false;
    match d.deploy.candidate() {
        Some(Candidate::Canary(canary)) => {
            let weights: Vec<u8> = canary
                .step
                .iter()
                .map(|s| s.weight)
                .filter(|w| *w < 100)
                .collect();
            analysis.step_weights = Some(if weights.is_empty() {
                vec![100]
            } else {
                weights
            });
            if let Some(shadow) = &canary.shadow {
                analysis.mirror = Some(true);
                analysis.mirror_weight = Some(shadow.percent());
            }
            // The approval opens the rollout; each step's hold ends when the
            // pipeline opens the gate again.
            analysis.webhooks.push(k8s::CanaryWebhook {
                name: "modelops-approval".into(),
                kind: "confirm-rollout".into(),
                url: format!("{gates}/gate/check"),
            });
            analysis.webhooks.push(k8s::CanaryWebhook {
                name: "modelops-hold".into(),
                kind: "confirm-traffic-increase".into(),
                url: format!("{gates}/gate/check"),
            });
        }
        Some(Candidate::BlueGreen(blue_green)) => {
            let window = blue_green
                .preview
                .into_iter()
                .chain(blue_green.shadow.as_ref().map(|s| s.duration))
                .max()
                .unwrap_or(interval);
            analysis.iterations = Some(window.millis.div_ceil(interval.millis.max(1)).max(1));
            if let Some(shadow) = &blue_green.shadow {
                analysis.mirror = Some(true);
                analysis.mirror_weight = Some(shadow.percent());
            }
            // The switch waits for the pipeline's approval.
            analysis.webhooks.push(k8s::CanaryWebhook {
                name: "modelops-promotion".into(),
                kind: "confirm-promotion".into(),
                url: format!("{gates}/gate/check"),
            });
        }
        None => {
            // A stable-only change is released as it is: no candidate to judge.
            analysis.iterations = Some(1);
            skip_analysis = true;
        }
    }
    for guard in guards.values() {
        if let Some(query) = guard_query(&QueryScope::of(d, &watched), guard) {
            documents.push(Object::MetricTemplate(k8s::MetricTemplate::new(
                metadata(cx, d, &format!("{name}-{}", guard.name)),
                k8s::MetricTemplateSpec {
                    provider: k8s::MetricProvider {
                        kind: "prometheus".into(),
                        address: prometheus_address(target),
                    },
                    query,
                },
            )));
        }
    }
    let provider = match mesh {
        Some(Mesh::Istio) => "istio",
        None => "kubernetes",
    };
    documents.push(Object::Canary(Box::new(k8s::Canary::new(
        metadata(cx, d, &name),
        k8s::CanarySpec {
            provider: provider.into(),
            target_ref: k8s::TargetRef {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: name.clone(),
            },
            service: k8s::CanaryService {
                port: PORT,
                target_port: PORT,
            },
            skip_analysis,
            analysis,
        },
    ))));
    documents
}

/// Plain Deployments per track, each behind its Service; the pipeline moves traffic
/// through the proxy targets. A track's pods keep their `modelops.dev/track` label
/// across releases, and a rolling update adds a pod before it removes one
/// (`maxUnavailable: 0`), so updating a track never leaves its route without pods.
fn plain(cx: &Context<'_>, d: &Deployment<'_>) -> Vec<Object> {
    let (stable, candidate) = tracks(d);
    let mut documents = Vec::new();
    for track in stable.iter().chain(candidate.iter()) {
        let objects = track_objects(cx, d, track, &[("modelops.dev/track", track.track)]);
        documents.push(Object::ConfigMap(objects.config_map));
        documents.push(service(cx, d, track.track, Some(track.track)));
        let mut workload = deployment_object(
            cx,
            d,
            &format!("{}-{}", d.model.name, track.track),
            objects.pod_template,
            Some(track.track),
        );
        if let Object::Deployment(deployment) = &mut workload {
            deployment.spec.strategy = Some(k8s::DeploymentStrategy {
                kind: "RollingUpdate",
                rolling_update: k8s::RollingUpdate {
                    max_surge: "25%".into(),
                    max_unavailable: 0,
                },
            });
        }
        documents.push(workload);
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
