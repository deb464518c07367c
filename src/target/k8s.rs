//! Typed Kubernetes objects: exactly the kinds and fields the `kubernetes` and `istio`
//! targets emit (core ConfigMap, Service, Deployment; Argo Rollouts `Rollout` and
//! `AnalysisTemplate`; Flagger `Canary` and `MetricTemplate`; Istio `VirtualService`
//! and `DestinationRule`), not the whole API.
//!
//! Our own structs rather than `k8s-openapi`: that crate, measured on this project,
//! added 22 s to a debug build and 33 s to a release build and pulls in `jiff`, for a
//! handful of kinds, and it covers none of the custom resources (Argo, Flagger,
//! Istio) anyway.
//!
//! Optional fields are skipped when empty, as the API server would leave them out.
//! Documents are written through `serde_json::Value` ([`crate::target::to_yaml`]), so
//! keys come out sorted whatever the order fields are declared in here.

use std::collections::BTreeMap;

use serde::Serialize;

/// Labels, annotations and selectors: string to string, sorted.
pub type Labels = BTreeMap<String, String>;

/// Any object this module describes, for multi-document files.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Object {
    ConfigMap(ConfigMap),
    Service(Service),
    Deployment(Deployment),
    Rollout(Box<Rollout>),
    AnalysisTemplate(AnalysisTemplate),
    Canary(Box<Canary>),
    MetricTemplate(MetricTemplate),
    VirtualService(VirtualService),
    DestinationRule(DestinationRule),
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    pub name: String,
    pub namespace: String,
    pub labels: Labels,
}

// Core (v1, apps/v1).

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMap {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub data: BTreeMap<String, String>,
}

impl ConfigMap {
    pub fn new(metadata: ObjectMeta, data: BTreeMap<String, String>) -> Self {
        ConfigMap {
            api_version: "v1",
            kind: "ConfigMap",
            metadata,
            data,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: ServiceSpec,
}

impl Service {
    pub fn new(metadata: ObjectMeta, spec: ServiceSpec) -> Self {
        Service {
            api_version: "v1",
            kind: "Service",
            metadata,
            spec,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    pub selector: Labels,
    pub ports: Vec<ServicePort>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    pub name: String,
    pub port: u16,
    /// A named container port.
    pub target_port: String,
    pub protocol: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: DeploymentSpec,
}

impl Deployment {
    pub fn new(metadata: ObjectMeta, workload: WorkloadSpec) -> Self {
        Deployment {
            api_version: "apps/v1",
            kind: "Deployment",
            metadata,
            spec: DeploymentSpec {
                workload,
                strategy: None,
            },
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSpec {
    #[serde(flatten)]
    pub workload: WorkloadSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<DeploymentStrategy>,
}

/// A rolling update: `type: RollingUpdate` with its limits.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStrategy {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub rolling_update: RollingUpdate,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RollingUpdate {
    pub max_surge: String,
    pub max_unavailable: u32,
}

/// A Deployment's spec, and the part of a Rollout's spec they share.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSpec {
    pub replicas: u32,
    pub revision_history_limit: u32,
    pub selector: LabelSelector,
    pub template: PodTemplate,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    pub match_labels: Labels,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplate {
    pub metadata: PodMeta,
    pub spec: PodSpec,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMeta {
    pub labels: Labels,
    pub annotations: Labels,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    pub containers: Vec<Container>,
    pub volumes: Vec<Volume>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    pub image: String,
    pub ports: Vec<ContainerPort>,
    pub env: Vec<EnvVar>,
    pub volume_mounts: Vec<VolumeMount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    pub name: String,
    pub container_port: u16,
    pub protocol: String,
}

/// An environment variable: a literal value, or a reference to a Secret's key.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
}

impl EnvVar {
    pub fn value(name: impl Into<String>, value: impl Into<String>) -> Self {
        EnvVar {
            name: name.into(),
            value: Some(value.into()),
            value_from: None,
        }
    }

    pub fn secret(name: impl Into<String>, secret: &str, key: &str) -> Self {
        EnvVar {
            name: name.into(),
            value: None,
            value_from: Some(EnvVarSource {
                secret_key_ref: SecretKeySelector {
                    name: secret.to_owned(),
                    key: key.to_owned(),
                },
            }),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarSource {
    pub secret_key_ref: SecretKeySelector,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeySelector {
    pub name: String,
    pub key: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    pub name: String,
    pub mount_path: String,
    pub read_only: bool,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    pub requests: BTreeMap<String, String>,
    pub limits: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub name: String,
    pub config_map: ConfigMapVolumeSource,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapVolumeSource {
    pub name: String,
}

// Argo Rollouts (argoproj.io/v1alpha1).

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: RolloutSpec,
}

impl Rollout {
    pub fn new(metadata: ObjectMeta, spec: RolloutSpec) -> Self {
        Rollout {
            api_version: "argoproj.io/v1alpha1",
            kind: "Rollout",
            metadata,
            spec,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    #[serde(flatten)]
    pub workload: WorkloadSpec,
    pub strategy: RolloutStrategy,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RolloutStrategy {
    BlueGreen(BlueGreenStrategy),
    Canary(CanaryStrategy),
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStrategy {
    pub active_service: String,
    pub preview_service: String,
    pub auto_promotion_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_promotion_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_promotion_analysis: Option<RolloutAnalysis>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStrategy {
    pub stable_service: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_service: Option<String>,
    pub steps: Vec<CanaryStep>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_routing: Option<TrafficRouting>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<RolloutAnalysis>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CanaryStep {
    SetWeight(u8),
    Pause(Pause),
    SetMirrorRoute(SetMirrorRoute),
    SetCanaryScale(SetCanaryScale),
}

/// How many canary pods run, independent of the traffic weight: a share of the
/// replicas, or back to following the weight.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetCanaryScale {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_traffic_weight: Option<bool>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pause {
    /// Without a duration the Rollout waits until it is promoted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

/// A mirror route; without `match` it removes the route of that name.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetMirrorRoute {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentage: Option<u8>,
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<RouteMatch>>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteMatch {
    pub path: PathMatch,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PathMatch {
    pub prefix: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficRouting {
    pub istio: IstioRouting,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_routes: Option<Vec<ManagedRoute>>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioRouting {
    pub virtual_service: IstioVirtualServiceRef,
    pub destination_rule: IstioDestinationRuleRef,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioVirtualServiceRef {
    pub name: String,
    pub routes: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioDestinationRuleRef {
    pub name: String,
    pub stable_subset_name: String,
    pub canary_subset_name: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedRoute {
    pub name: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAnalysis {
    pub templates: Vec<AnalysisTemplateRef>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplateRef {
    pub template_name: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplate {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: AnalysisTemplateSpec,
}

impl AnalysisTemplate {
    pub fn new(metadata: ObjectMeta, metrics: Vec<AnalysisMetric>) -> Self {
        AnalysisTemplate {
            api_version: "argoproj.io/v1alpha1",
            kind: "AnalysisTemplate",
            metadata,
            spec: AnalysisTemplateSpec { metrics },
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplateSpec {
    pub metrics: Vec<AnalysisMetric>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisMetric {
    pub name: String,
    pub interval: String,
    /// Measurements to take; none for background analysis, which runs until the
    /// rollout ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    pub failure_limit: u32,
    pub inconclusive_limit: u32,
    pub success_condition: String,
    pub failure_condition: String,
    pub provider: AnalysisProvider,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisProvider {
    pub prometheus: PrometheusQuery,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusQuery {
    pub address: String,
    pub query: String,
}

// Flagger (flagger.app/v1beta1).

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Canary {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: CanarySpec,
}

impl Canary {
    pub fn new(metadata: ObjectMeta, spec: CanarySpec) -> Self {
        Canary {
            api_version: "flagger.app/v1beta1",
            kind: "Canary",
            metadata,
            spec,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CanarySpec {
    /// `istio`, or `kubernetes` (no traffic shifting, only the analysis).
    pub provider: String,
    pub target_ref: TargetRef,
    pub service: CanaryService,
    /// Promote at once, without analysis (a stable-only change).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skip_analysis: bool,
    pub analysis: CanaryAnalysis,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryService {
    pub port: u16,
    pub target_port: u16,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryAnalysis {
    pub interval: String,
    pub threshold: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_weights: Option<Vec<u8>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_weight: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror_weight: Option<u8>,
    pub metrics: Vec<CanaryMetric>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<CanaryWebhook>,
}

/// A Flagger webhook: a gate Flagger asks before it acts.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryWebhook {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryMetric {
    pub name: String,
    pub interval: String,
    pub template_ref: MetricTemplateRef,
    pub threshold_range: ThresholdRange,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricTemplateRef {
    pub name: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThresholdRange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricTemplate {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: MetricTemplateSpec,
}

impl MetricTemplate {
    pub fn new(metadata: ObjectMeta, spec: MetricTemplateSpec) -> Self {
        MetricTemplate {
            api_version: "flagger.app/v1beta1",
            kind: "MetricTemplate",
            metadata,
            spec,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricTemplateSpec {
    pub provider: MetricProvider,
    pub query: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricProvider {
    #[serde(rename = "type")]
    pub kind: String,
    pub address: String,
}

// Istio (networking.istio.io/v1).

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualService {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: VirtualServiceSpec,
}

impl VirtualService {
    pub fn new(metadata: ObjectMeta, spec: VirtualServiceSpec) -> Self {
        VirtualService {
            api_version: "networking.istio.io/v1",
            kind: "VirtualService",
            metadata,
            spec,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualServiceSpec {
    pub hosts: Vec<String>,
    pub http: Vec<HttpRoute>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRoute {
    pub name: String,
    pub route: Vec<HttpRouteDestination>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<Destination>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror_percentage: Option<Percent>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteDestination {
    pub destination: Destination,
    pub weight: u8,
}

/// A subset of the model's Service, or an explicit host and port.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<PortSelector>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortSelector {
    pub number: u16,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Percent {
    pub value: f64,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRule {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: DestinationRuleSpec,
}

impl DestinationRule {
    pub fn new(metadata: ObjectMeta, spec: DestinationRuleSpec) -> Self {
        DestinationRule {
            api_version: "networking.istio.io/v1",
            kind: "DestinationRule",
            metadata,
            spec,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRuleSpec {
    pub host: String,
    pub subsets: Vec<Subset>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subset {
    pub name: String,
    pub labels: Labels,
}
