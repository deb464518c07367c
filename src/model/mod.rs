//! The typed configuration: what the validated JSON views mean.
//!
//! Types are deserialised (serde) from views that already passed the schema, so they
//! hold meaning, not syntax. Every node keeps its [`At`] (file and JSON pointer), so
//! later stages can point diagnostics at the exact source span. Optional fields stay
//! optional: a partially written model is representable, and rules judge what is there.

pub mod config;
mod date;
mod inherit;
pub mod load;
mod names;
pub mod prune;
pub mod target;
mod values;

pub use config::Config;
pub use date::Date;
pub use inherit::{ResolvedRelease, help_for_release, lineage, resolve_releases};
pub use names::NameMap;
pub use target::{Flavor, TargetKind};
pub use values::{Duration, Regression, Threshold};

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::diag::{FileId, Span};
use crate::schema::FileKind;
use crate::syntax::{FREE_MAP_NODES, KEYED_NODES, Pointer, SpanTable};

/// Where a typed node came from: its file and JSON pointer.
///
/// In an annotated view, `$at` holds only the pointer: the file is the one being
/// decoded ([`decode_in_file`]), so an annotated view does not depend on the id its
/// file happens to get, and can be cached as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct At {
    pub file: u32,
    pub ptr: String,
}

thread_local! {
    /// The file whose annotated view is being decoded on this thread.
    static DECODING: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
}

impl<'de> Deserialize<'de> for At {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let ptr = String::deserialize(d)?;
        let file = DECODING.with(std::cell::Cell::get).ok_or_else(|| {
            <D::Error as serde::de::Error>::custom("a node's location was read outside its file")
        })?;
        Ok(At { file, ptr })
    }
}

/// Runs `decode` (a deserialisation of an annotated view of `file`, on this thread),
/// with every [`At`] it reads placed in `file`.
pub fn decode_in_file<T>(file: FileId, decode: impl FnOnce() -> T) -> T {
    /// Puts back the file decoded before, also when `decode` unwinds.
    struct Restore(Option<u32>);
    impl Drop for Restore {
        fn drop(&mut self) {
            DECODING.with(|cell| cell.set(self.0));
        }
    }
    let _restore = Restore(DECODING.with(|cell| cell.replace(Some(file.0))));
    decode()
}

/// A file mapped onto the typed model.
#[derive(Clone, Debug)]
pub enum Typed {
    Project(Box<Project>),
    Models(Vec<Model>),
}

impl Typed {
    /// Maps the annotated view ([`annotate`]) of `file`, a file of `kind`, from what
    /// `d` reads.
    fn decode<'de, D: serde::Deserializer<'de>>(
        kind: FileKind,
        file: FileId,
        d: D,
    ) -> Result<Typed, D::Error> {
        decode_in_file(file, || match kind {
            FileKind::Project => Project::deserialize(d).map(|p| Typed::Project(Box::new(p))),
            FileKind::Model => {
                ModelFile::deserialize(d).map(|f| Typed::Models(f.model.into_values().collect()))
            }
        })
    }

    /// From the annotated view's JSON text.
    pub fn from_json(kind: FileKind, file: FileId, json: &[u8]) -> serde_json::Result<Typed> {
        let mut reader = serde_json::Deserializer::from_slice(json);
        let typed = Self::decode(kind, file, &mut reader)?;
        reader.end()?;
        Ok(typed)
    }

    /// From the annotated view itself.
    pub fn from_value(kind: FileKind, file: FileId, annotated: Value) -> serde_json::Result<Typed> {
        Self::decode(kind, file, annotated)
    }
}

impl At {
    pub fn file_id(&self) -> FileId {
        FileId(self.file)
    }

    pub fn pointer(&self) -> Pointer {
        Pointer::from_escaped(&self.ptr)
    }

    pub fn child(&self, name: &str) -> Pointer {
        self.pointer().push(name)
    }
}

/// The span tables of every loaded file, for turning [`At`]s into spans.
#[derive(Clone, Debug, Default)]
pub struct SpanIndex {
    tables: BTreeMap<FileId, SpanTable>,
}

impl SpanIndex {
    pub fn insert(&mut self, table: SpanTable) {
        self.tables.insert(table.file(), table);
    }

    fn table(&self, file: FileId) -> Option<&SpanTable> {
        self.tables.get(&file)
    }

    /// The node's head (name through its last argument or property).
    pub fn node(&self, at: &At) -> Span {
        self.value_at(at.file_id(), &at.pointer())
    }

    /// The node's name, or a keyed node's name argument.
    pub fn name(&self, at: &At) -> Span {
        match self.table(at.file_id()) {
            Some(table) => table.key_or_value(&at.pointer()),
            None => Span::new(at.file_id(), 0, 0),
        }
    }

    /// The value of a field of the node (an argument, property or child node's value),
    /// falling back to the node itself when the field is absent.
    pub fn field(&self, at: &At, field: &str) -> Span {
        self.value_at(at.file_id(), &at.child(field))
    }

    /// The name of a field (property key or child node name), falling back to its value.
    pub fn field_name(&self, at: &At, field: &str) -> Span {
        match self.table(at.file_id()) {
            Some(table) => table.key_or_value(&at.child(field)),
            None => Span::new(at.file_id(), 0, 0),
        }
    }

    /// A value by explicit pointer.
    pub fn value_at(&self, file: FileId, pointer: &Pointer) -> Span {
        match self.table(file) {
            Some(table) => table.value_or_ancestor(pointer),
            None => Span::new(file, 0, 0),
        }
    }
}

/// Whether pinning findings are errors or warnings in an environment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pinning {
    #[default]
    Strict,
    Relaxed,
}

/// `modelops.kdl`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Project {
    #[serde(rename = "$at")]
    pub at: At,
    pub project: String,
    #[serde(default)]
    pub environment: NameMap<Environment>,
    #[serde(default)]
    pub policy: Policy,
    #[serde(default)]
    pub target: NameMap<Target>,
    #[serde(default)]
    pub pipelines: Pipelines,
}

/// How the generated CI pipelines run.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Pipelines {
    #[serde(rename = "$at", default)]
    pub at: At,
    pub modelops: Option<ModelopsSource>,
    /// The image GitLab jobs run in.
    pub image: Option<String>,
}

/// Where the pipelines get modelops, as written (the rules check it names one
/// pinned source).
#[derive(Clone, Debug, Deserialize)]
pub struct ModelopsSource {
    #[serde(rename = "$at")]
    pub at: At,
    pub path: Option<String>,
    pub git: Option<String>,
    pub rev: Option<String>,
    pub tag: Option<String>,
    pub url: Option<String>,
    pub sha256: Option<String>,
    pub image: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Environment {
    #[serde(rename = "$at")]
    pub at: At,
    #[serde(rename = "$name")]
    pub name: String,
    pub namespace: Option<String>,
    /// `strict` when not given.
    #[serde(default)]
    pub pinning: Pinning,
    pub after: Option<String>,
    #[serde(default)]
    pub require_gate: Vec<String>,
    pub require_shadow: Option<RequireShadow>,
    #[serde(default)]
    pub require_guard: Vec<String>,
    #[serde(default)]
    pub require_rollback: bool,
    pub max_regression: Option<Regression>,
    pub min_step_pause: Option<Duration>,
    #[serde(default)]
    pub vars: NameMap<Value>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RequireShadow {
    #[serde(rename = "$at")]
    pub at: At,
    pub min: Duration,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Policy {
    #[serde(rename = "$at", default)]
    pub at: At,
    #[serde(default)]
    pub floating_tag: Vec<String>,
    #[serde(default)]
    pub alias: Vec<String>,
    #[serde(default)]
    pub snapshot: BTreeMap<String, Snapshot>,
    /// Warnings accepted everywhere.
    #[serde(default)]
    pub allow: NameMap<Allow>,
}

/// `allow "MO901" reason="…"`: a warning accepted on purpose, where it is written
/// (the policy: everywhere; a target: where a finding names it; a deployment: in it).
#[derive(Clone, Debug, Deserialize)]
pub struct Allow {
    #[serde(rename = "$at")]
    pub at: At,
    /// The code or the code's name, as written.
    #[serde(rename = "$name")]
    pub code: String,
    pub reason: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Snapshot {
    #[serde(rename = "$at")]
    pub at: At,
    #[serde(rename = "$name")]
    pub id: String,
    pub retires: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Target {
    #[serde(rename = "$at")]
    pub at: At,
    /// The target's name, parsed (the schema admits only known names).
    #[serde(rename = "$name")]
    pub kind: TargetKind,
    /// The workload kind (kubernetes target); Argo Rollouts when not given.
    pub flavor: Option<Flavor>,
    pub upstream: Option<String>,
    pub template: Option<String>,
    pub output: Option<String>,
    /// The Prometheus server guards are evaluated against (kubernetes target).
    pub prometheus: Option<String>,
    /// The address a proxy listens on (envoy, nginx).
    pub listen: Option<String>,
    /// The Flagger load tester whose gates hold steps, promotion and rollback
    /// (kubernetes target, `flavor="flagger"`).
    pub loadtester: Option<String>,
    /// The longest a CI job may run on the runners (CI targets).
    #[serde(rename = "job-limit")]
    pub job_limit: Option<Duration>,
    /// The largest request body nginx accepts (nginx target), e.g. `"32m"`.
    #[serde(rename = "max-body-size")]
    pub max_body_size: Option<String>,
    /// The command `modelops apply` runs instead of the target's own mechanism, as
    /// words (split without a shell); the file's path is appended.
    pub apply: Option<String>,
    /// The command `modelops apply` runs once the file is in place (envoy, litellm:
    /// required; nginx: instead of `nginx -s reload`).
    pub reload: Option<String>,
    /// Where `modelops apply` installs the file (envoy, nginx, litellm), a template
    /// over `{{model}}` and `{{environment}}`.
    pub path: Option<String>,
    /// Warnings accepted where they name this target.
    #[serde(default)]
    pub allow: NameMap<Allow>,
}

impl Target {
    /// The name as written: `target "<name>"`.
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }
}

impl Project {
    /// Whether the project declares a target of this kind.
    pub fn has_target(&self, kind: TargetKind) -> bool {
        self.target.values().any(|t| t.kind == kind)
    }

    /// Who moves live traffic: the `kubernetes` target's flavor decides; without
    /// one, the pipelines do.
    pub fn driver(&self) -> target::Driver {
        self.target
            .values()
            .find(|t| t.kind == TargetKind::Kubernetes)
            .map_or(target::Driver::Pipeline, |t| {
                t.flavor.unwrap_or_default().driver()
            })
    }

    /// The mesh the project's targets include, if any.
    pub fn mesh(&self) -> Option<target::Mesh> {
        self.target
            .values()
            .find_map(|t| t.kind.capabilities().mesh)
    }
}

/// `models/<name>.kdl` as the schema sees it.
#[derive(Clone, Debug, Deserialize)]
pub struct ModelFile {
    #[serde(default)]
    pub model: BTreeMap<String, Model>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Model {
    #[serde(rename = "$at")]
    pub at: At,
    #[serde(rename = "$name")]
    pub name: String,
    pub owner: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub release: NameMap<Release>,
    #[serde(default)]
    pub deploy: NameMap<Deploy>,
}

/// A release as written (before `from=` inheritance).
#[derive(Clone, Debug, Deserialize)]
pub struct Release {
    #[serde(rename = "$at")]
    pub at: At,
    #[serde(rename = "$name")]
    pub version: String,
    pub from: Option<String>,
    pub base: Option<Base>,
    pub image: Option<String>,
    pub prompt: Option<PromptRef>,
    #[serde(default)]
    pub params: NameMap<Value>,
    #[serde(default)]
    pub vars: NameMap<Value>,
    #[serde(default)]
    pub secret: NameMap<Secret>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Base {
    #[serde(rename = "$at")]
    pub at: At,
    pub id: String,
    pub revision: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct PromptRef {
    #[serde(rename = "$at")]
    pub at: At,
    pub name: String,
    pub version: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Secret {
    #[serde(rename = "$at")]
    pub at: At,
    #[serde(rename = "$name")]
    pub name: String,
    pub from: String,
    pub key: String,
}

/// How a model runs in one environment.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Deploy {
    #[serde(rename = "$at")]
    pub at: At,
    /// The environment's name.
    #[serde(rename = "$name")]
    pub environment: String,
    pub replicas: Option<u32>,
    pub resources: Option<Resources>,
    pub stable: Option<String>,
    pub canary: Option<Canary>,
    pub blue_green: Option<BlueGreen>,
    pub smoke: Option<Smoke>,
    #[serde(default)]
    pub gate: NameMap<Gate>,
    #[serde(default)]
    pub guard: NameMap<Guard>,
    pub rollback: Option<Rollback>,
    /// Warnings accepted in this deployment.
    #[serde(default)]
    pub allow: NameMap<Allow>,
}

impl Deploy {
    /// The release receiving live traffic next to stable, and how.
    pub fn candidate(&self) -> Option<Candidate<'_>> {
        if let Some(canary) = &self.canary {
            return Some(Candidate::Canary(canary));
        }
        self.blue_green.as_ref().map(Candidate::BlueGreen)
    }
}

/// A candidate release of a deployment.
#[derive(Clone, Copy, Debug)]
pub enum Candidate<'a> {
    Canary(&'a Canary),
    BlueGreen(&'a BlueGreen),
}

impl<'a> Candidate<'a> {
    pub fn release(&self) -> &'a str {
        match self {
            Candidate::Canary(c) => &c.release,
            Candidate::BlueGreen(b) => &b.release,
        }
    }

    pub fn at(&self) -> &'a At {
        match self {
            Candidate::Canary(c) => &c.at,
            Candidate::BlueGreen(b) => &b.at,
        }
    }

    pub fn shadow(&self) -> Option<&'a Shadow> {
        match self {
            Candidate::Canary(c) => c.shadow.as_ref(),
            Candidate::BlueGreen(b) => b.shadow.as_ref(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Candidate::Canary(_) => "canary",
            Candidate::BlueGreen(_) => "blue-green",
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct Resources {
    pub cpu: Option<Value>,
    pub memory: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Canary {
    #[serde(rename = "$at")]
    pub at: At,
    pub release: String,
    pub shadow: Option<Shadow>,
    #[serde(default)]
    pub step: Vec<Step>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BlueGreen {
    #[serde(rename = "$at")]
    pub at: At,
    pub release: String,
    pub shadow: Option<Shadow>,
    pub preview: Option<Duration>,
    pub promote: Option<Promote>,
    pub keep_old: Option<Duration>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Promote {
    #[default]
    Manual,
    Auto,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Shadow {
    #[serde(rename = "$at")]
    pub at: At,
    pub duration: Duration,
    /// Share of live traffic mirrored, 1–100; all of it when not given.
    pub percent: Option<u8>,
}

impl Shadow {
    pub fn percent(&self) -> u8 {
        self.percent.unwrap_or(100)
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct Step {
    #[serde(rename = "$at")]
    pub at: At,
    pub weight: u8,
    pub pause: Option<Duration>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Smoke {
    #[serde(rename = "$at")]
    pub at: At,
    #[serde(default)]
    pub request: Vec<SmokeRequest>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SmokeRequest {
    #[serde(rename = "$at")]
    pub at: At,
    pub prompt: String,
    pub expect_status: Option<u16>,
    pub expect_contains: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Gate {
    #[serde(rename = "$at")]
    pub at: At,
    #[serde(rename = "$name")]
    pub name: String,
    pub run: String,
    pub dataset: Option<Dataset>,
    pub judge: Option<String>,
    pub metric: Metric,
    pub max_regression: Option<Regression>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Dataset {
    #[serde(rename = "$at")]
    pub at: At,
    pub path: String,
    pub blake3: Option<String>,
}

impl Dataset {
    /// Remote datasets are fetched by the gate's command; local ones are repository files.
    pub fn is_remote(&self) -> bool {
        self.path.contains("://")
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct Metric {
    #[serde(rename = "$at")]
    pub at: At,
    pub name: String,
    #[serde(default)]
    pub better: Better,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    #[default]
    Higher,
    Lower,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Guard {
    #[serde(rename = "$at")]
    pub at: At,
    #[serde(rename = "$name")]
    pub name: String,
    pub max: Option<Threshold>,
    pub min: Option<Threshold>,
    pub query: Option<String>,
    pub interval: Option<Duration>,
    pub failures: Option<u32>,
    /// Requests the release must serve in the query's window before the guard
    /// judges it; fewer is inconclusive.
    #[serde(rename = "min-samples")]
    pub min_samples: Option<u32>,
}

impl Guard {
    pub const DEFAULT_INTERVAL: Duration = Duration { millis: 60_000 };
    pub const DEFAULT_FAILURES: u32 = 2;

    pub fn interval(&self) -> Duration {
        self.interval.unwrap_or(Self::DEFAULT_INTERVAL)
    }

    pub fn failures(&self) -> u32 {
        self.failures.unwrap_or(Self::DEFAULT_FAILURES)
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct Rollback {
    #[serde(rename = "$at")]
    pub at: At,
    pub on: String,
}

/// Adds `$at` (the JSON pointer) to every object of a view, and `$name` (the key it
/// is stored under), so typed nodes know where they came from. Free maps (`params`,
/// `vars`) hold user data and are left alone. [`strip_annotations`] undoes it.
pub fn annotate(value: &mut Value) {
    /// `name` is the key the value is stored under; `keyed_map` says the value is a
    /// keyed node's map (whose own keys are user-chosen names).
    fn walk(value: &mut Value, pointer: &Pointer, name: Option<&str>, keyed_map: bool) {
        // Only objects are annotated: scalars need no pointer of their own.
        let nested = |child: &Value| matches!(child, Value::Object(_) | Value::Array(_));
        match value {
            Value::Object(map) if keyed_map => {
                for (key, child) in map.iter_mut().filter(|(_, child)| nested(child)) {
                    walk(child, &pointer.push(key), Some(key), false);
                }
            }
            Value::Object(map) => {
                for (key, child) in map.iter_mut().filter(|(_, child)| nested(child)) {
                    if FREE_MAP_NODES.contains(&key.as_str()) {
                        continue;
                    }
                    let keyed = KEYED_NODES.contains(&key.as_str());
                    walk(child, &pointer.push(key), Some(key), keyed);
                }
                map.insert("$at".to_owned(), Value::String(pointer.as_str().to_owned()));
                if let Some(name) = name {
                    map.insert("$name".to_owned(), Value::String(name.to_owned()));
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter_mut().enumerate().filter(|(_, i)| nested(i)) {
                    walk(item, &pointer.index(index), None, false);
                }
            }
            _ => {}
        }
    }
    walk(value, &Pointer::root(), None, false);
}

/// Removes what [`annotate`] added, walking the view the same way: the view as the
/// schema saw it.
pub fn strip_annotations(value: &mut Value) {
    fn walk(value: &mut Value, keyed_map: bool) {
        match value {
            Value::Object(map) if keyed_map => {
                for child in map.values_mut() {
                    walk(child, false);
                }
            }
            Value::Object(map) => {
                map.remove("$at");
                map.remove("$name");
                for (key, child) in map.iter_mut() {
                    if !FREE_MAP_NODES.contains(&key.as_str()) {
                        walk(child, KEYED_NODES.contains(&key.as_str()));
                    }
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(item, false);
                }
            }
            _ => {}
        }
    }
    walk(value, false);
}
