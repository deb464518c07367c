//! The target registry: every target modelops emits, as one [`Target`] each, listed
//! once in [`TARGETS`].
//!
//! Adding a target means one module implementing [`Target`], one line in [`TARGETS`],
//! a [`TargetKind`] variant with its capabilities, and the name in the schema's
//! `target-name` enum (a test keeps the three lists equal). Nothing else matches on
//! target names: emission, pipelines and rules read the registry and the kind's
//! capabilities.

use crate::diag::Diagnostic;
use crate::model::target::{Capabilities, Driver};
use crate::model::{self, Model, TargetKind};
use crate::target::pipeline::ByModel;
use crate::target::{Context, Deployment, FileSet};

/// One target: what it writes, where, what it honours and how its files are applied.
pub trait Target: Sync {
    fn kind(&self) -> TargetKind;

    /// The name a project writes, `target "<name>"`.
    fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// Which files the target writes, as data, when `driver` moves traffic.
    fn layout(&self, driver: Driver) -> Layout;

    /// What the target can honour (shadow, mesh, CI system, ...).
    fn capabilities(&self) -> Capabilities {
        self.kind().capabilities()
    }

    /// How its files reach the system they configure.
    fn apply(&self) -> Apply;

    /// The target's files for one part of the project (a chunk of deployments or of
    /// models, as its [`Layout`] says), with what it could not honour.
    fn emit(&self, cx: &Context<'_>, part: &Part<'_, '_>) -> Emitted;
}

/// Every target, in the order of the schema's `target-name` enum.
pub static TARGETS: &[&dyn Target] = &[
    &crate::target::kubernetes::Kubernetes,
    &crate::target::istio::Istio,
    &crate::target::envoy::Envoy,
    &crate::target::nginx::Nginx,
    &crate::target::litellm::LiteLlm,
    &crate::target::github::GithubActions,
    &crate::target::gitlab::GitlabCi,
    &crate::target::custom::Custom,
];

/// The registered target of a kind.
pub fn target(kind: TargetKind) -> &'static dyn Target {
    TARGETS
        .iter()
        .copied()
        .find(|t| t.kind() == kind)
        // Every kind is registered (tested). Were one not, `custom` says for it that
        // this version does not emit it, as an unknown target was always told.
        .unwrap_or(&crate::target::custom::Custom)
}

/// What one emitter job covers.
#[derive(Clone, Copy)]
pub struct Part<'p, 'a> {
    /// The target as the project declares it, with its options.
    pub declared: &'a model::Target,
    /// The deployments of this part (all of them for targets not split by deployment).
    pub deployments: &'p [Deployment<'a>],
    /// The models of this part (all of them for targets not split by model).
    pub models: &'a [Model],
    /// Every deployment grouped by model (pipelines cover all environments of a model).
    pub by_model: &'p ByModel<'a>,
}

/// An emitter's output.
#[derive(Debug, Default)]
pub struct Emitted {
    pub files: FileSet,
    pub diagnostics: Vec<Diagnostic>,
}

/// What a target writes one file for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Per {
    /// One file per deployment (model in an environment).
    Deployment,
    /// One file per deployment and traffic state (`stable`, `shadow`, `step-<w>`,
    /// `promoted`).
    TrafficState,
    /// One file per model, covering all its environments.
    Model,
    /// Files named by the target's options (custom templates).
    Project,
    /// No file of its own: under this driver another object carries what the target
    /// says (Flagger generates the Istio routes from its `Canary`).
    Nothing,
}

/// The files a target writes: a path pattern under the output folder, with
/// `{environment}`, `{model}`, `{state}` or `{output}` filled in per file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub per: Per,
    pub path: &'static str,
}

impl Layout {
    /// The path of one file. Values are inserted in one pass, so a value that looks
    /// like a placeholder stays as it is.
    pub fn path(&self, values: &[(&str, &str)]) -> String {
        let mut out = String::with_capacity(self.path.len() + 32);
        let mut rest = self.path;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open..];
            let Some(close) = after.find('}') else {
                break;
            };
            let name = &after[1..close];
            match values.iter().find(|(key, _)| *key == name) {
                Some((_, value)) => out.push_str(value),
                None => out.push_str(&after[..=close]),
            }
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        out
    }

    /// The file of one deployment.
    pub fn deployment_path(&self, d: &Deployment<'_>) -> String {
        self.path(&[
            ("environment", &d.environment.name),
            ("model", &d.model.name),
        ])
    }

    /// The file of one traffic state of a deployment.
    pub fn state_path(&self, environment: &str, model: &str, state: &str) -> String {
        self.path(&[
            ("environment", environment),
            ("model", model),
            ("state", state),
        ])
    }
}

/// How a target's files are applied, as data: the pipelines and a later
/// `modelops apply` act on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Apply {
    /// Kubernetes objects: `kubectl apply --server-side -f FILE`.
    Kubectl,
    /// An nginx `conf.d/` snippet: install it, `nginx -t`, then `nginx -s reload`.
    NginxInstallTestReload,
    /// An Envoy bootstrap: swap the file in, then restart or hot-restart Envoy.
    EnvoyFileSwap,
    /// A LiteLLM proxy `config.yaml`: replace it, then reload the proxy.
    LiteLlmReload,
    /// Pipeline definitions: the CI system reads them from the repository; nothing
    /// to apply.
    CiSystem,
    /// Nothing to apply.
    Nothing,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_registered_once() {
        for kind in TargetKind::ALL {
            let found = TARGETS.iter().filter(|t| t.kind() == kind).count();
            assert_eq!(found, 1, "{kind}");
        }
        assert_eq!(TARGETS.len(), TargetKind::ALL.len());
        let order: Vec<TargetKind> = TARGETS.iter().map(|t| t.kind()).collect();
        assert_eq!(order, TargetKind::ALL);
    }

    #[test]
    fn layouts_fill_placeholders_once() {
        let layout = Layout {
            per: Per::TrafficState,
            path: "envoy/{environment}/{model}/{state}.yaml",
        };
        assert_eq!(
            layout.state_path("prod", "{state}", "shadow"),
            "envoy/prod/{state}/shadow.yaml"
        );
    }

    #[test]
    fn layouts_name_their_target_folder() {
        for target in TARGETS {
            let folder = target
                .layout(Driver::Pipeline)
                .path
                .split('/')
                .next()
                .unwrap_or_default();
            assert_eq!(folder, target.name(), "{}", target.name());
        }
    }

    #[test]
    fn proxies_write_one_file_per_traffic_state() {
        for target in TARGETS {
            assert_eq!(
                target.capabilities().routes_traffic,
                target.layout(Driver::Pipeline).per == Per::TrafficState,
                "{}",
                target.name()
            );
        }
    }
}
