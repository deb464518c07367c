//! Target kinds and what each can honour, and the addresses proxy targets route to.
//!
//! A target's name is parsed into a [`TargetKind`] once, when the project is typed
//! (the schema has already rejected unknown names), so no later stage matches on
//! strings. The rules judge a project against these capabilities; the emitters (the
//! `target` module, a later stage) implement them. This module does not know how a
//! target's files look: that is the emitters' business.

use std::fmt;

use serde::Deserialize;

/// Every kind of target modelops knows (the schema's `target-name`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    Kubernetes,
    Istio,
    Envoy,
    Nginx,
    #[serde(rename = "litellm")]
    LiteLlm,
    GithubActions,
    GitlabCi,
    /// User templates rendered into `generated/custom/`.
    Custom,
}

/// How a target treats a shadow stage (mirrored live traffic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shadow {
    /// Mirrors any share of live traffic to the candidate.
    Mirrors,
    /// Routes live traffic but cannot mirror it; the reason is said to the user.
    Cannot(&'static str),
    /// Does not route live traffic itself (a workload, a pipeline, a template); what
    /// it can do depends on its options and is said when it is emitted.
    NotRouting,
}

/// The service mesh a target is, which the Kubernetes workloads' controllers (Argo
/// Rollouts, Flagger) drive to shift and mirror traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mesh {
    Istio,
}

/// The CI system whose pipeline definitions a target writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CiSystem {
    GitHub,
    GitLab,
}

impl CiSystem {
    /// How long a job may run when the target does not say: GitHub-hosted runners'
    /// limit (6 h), GitLab's default project timeout (1 h).
    pub fn job_limit(self) -> super::Duration {
        match self {
            CiSystem::GitHub => super::Duration::from_millis(6 * 3_600_000),
            CiSystem::GitLab => super::Duration::from_millis(3_600_000),
        }
    }
}

/// What a target can honour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Routes live traffic between tracks, one file per traffic state, and takes
    /// `upstream=` (the proxy targets).
    pub routes_traffic: bool,
    /// Takes `listen=`: the proxy runs as its own process.
    pub listens: bool,
    pub shadow: Shadow,
    pub mesh: Option<Mesh>,
    pub ci: Option<CiSystem>,
}

impl TargetKind {
    /// Every kind, in the order targets are listed in documentation.
    pub const ALL: [TargetKind; 8] = [
        TargetKind::Kubernetes,
        TargetKind::Istio,
        TargetKind::Envoy,
        TargetKind::Nginx,
        TargetKind::LiteLlm,
        TargetKind::GithubActions,
        TargetKind::GitlabCi,
        TargetKind::Custom,
    ];

    /// The name a project writes: `target "<name>"`, and the output folder.
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Kubernetes => "kubernetes",
            TargetKind::Istio => "istio",
            TargetKind::Envoy => "envoy",
            TargetKind::Nginx => "nginx",
            TargetKind::LiteLlm => "litellm",
            TargetKind::GithubActions => "github-actions",
            TargetKind::GitlabCi => "gitlab-ci",
            TargetKind::Custom => "custom",
        }
    }

    pub fn capabilities(self) -> Capabilities {
        let none = Capabilities {
            routes_traffic: false,
            listens: false,
            shadow: Shadow::NotRouting,
            mesh: None,
            ci: None,
        };
        let proxy = Capabilities {
            routes_traffic: true,
            shadow: Shadow::Mirrors,
            ..none
        };
        match self {
            TargetKind::Kubernetes | TargetKind::Custom => none,
            TargetKind::Istio => Capabilities {
                mesh: Some(Mesh::Istio),
                ..proxy
            },
            TargetKind::Envoy | TargetKind::Nginx => Capabilities {
                listens: true,
                ..proxy
            },
            TargetKind::LiteLlm => Capabilities {
                shadow: Shadow::Cannot("the LiteLLM proxy cannot mirror traffic to a second model"),
                ..proxy
            },
            TargetKind::GithubActions => Capabilities {
                ci: Some(CiSystem::GitHub),
                ..none
            },
            TargetKind::GitlabCi => Capabilities {
                ci: Some(CiSystem::GitLab),
                ..none
            },
        }
    }

    /// Routes live traffic and takes `upstream=`: istio, envoy, nginx, litellm.
    pub fn is_proxy(self) -> bool {
        self.capabilities().routes_traffic
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The workload kind the `kubernetes` target emits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flavor {
    /// An Argo `Rollout` walks the rollout in the cluster.
    #[default]
    ArgoRollouts,
    /// A Deployment with a Flagger `Canary`.
    Flagger,
    /// Plain Deployments per track; the proxy targets move traffic.
    Deployment,
}

impl Flavor {
    /// Who moves live traffic under this flavor.
    pub fn driver(self) -> Driver {
        match self {
            Flavor::ArgoRollouts => Driver::ArgoRollouts,
            Flavor::Flagger => Driver::Flagger,
            Flavor::Deployment => Driver::Pipeline,
        }
    }
}

/// Who moves live traffic between a deployment's tracks: exactly one driver per
/// project, chosen by the `kubernetes` target's flavor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    /// The generated pipelines walk the traffic states, applying each proxy target's
    /// file per state (`flavor="deployment"`, or no `kubernetes` target).
    Pipeline,
    /// Argo Rollouts' controller walks shadow, steps, holds and analysis, shifting
    /// traffic through the Istio routes it manages.
    ArgoRollouts,
    /// Flagger's controller walks them from its `Canary`, through the Istio routes
    /// it generates.
    Flagger,
}

impl Driver {
    /// The flavor's name, as a project writes it.
    pub fn flavor(self) -> &'static str {
        match self {
            Driver::Pipeline => "deployment",
            Driver::ArgoRollouts => "argo-rollouts",
            Driver::Flagger => "flagger",
        }
    }

    /// An in-cluster controller, not the pipeline, moves traffic.
    pub fn is_controller(self) -> bool {
        self != Driver::Pipeline
    }

    /// The controller's name for people.
    pub fn controller(self) -> &'static str {
        match self {
            Driver::Pipeline => "the pipeline",
            Driver::ArgoRollouts => "Argo Rollouts",
            Driver::Flagger => "Flagger",
        }
    }
}

/// Why a target cannot work under a driver, and what to use instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub why: &'static str,
    pub instead: &'static str,
}

impl TargetKind {
    /// Whether the target can work when `driver` moves traffic.
    ///
    /// Under a controller, traffic moves when the controller decides, through the
    /// routes it manages: a file per traffic state that a pipeline applies on its
    /// own clock would move the same traffic a second time. Only the mesh the
    /// controller drives (Istio) takes part, as the controller's routing.
    pub fn conflict_under(self, driver: Driver) -> Option<Conflict> {
        if !driver.is_controller() || !self.is_proxy() || self.capabilities().mesh.is_some() {
            return None;
        }
        Some(Conflict {
            why: "its files are static traffic states that only a pipeline can walk, and the controller moves traffic on its own clock",
            instead: "use `flavor=\"deployment\"` to have the pipelines walk this target's traffic states, or remove the target and let the controller route through `target \"istio\"`",
        })
    }
}

/// The default address template of a track.
pub const DEFAULT_UPSTREAM: &str = "{{model}}-{{track}}.{{namespace}}.svc.cluster.local:8080";

/// The default address proxies listen on.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";

/// A network address: host (name, IPv4, or bracketed IPv6) and port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl Address {
    /// The host as a socket address wants it (IPv6 without brackets).
    pub fn bare_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }

    /// Parses `host:port`, rejecting anything a proxy would misread.
    pub fn parse(text: &str) -> Result<Address, String> {
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| format!("`{text}` has no `:port`"))?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("`{port}` is not a port from 1 to 65535"))?;
        let valid_host =
            if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
                inner.parse::<std::net::Ipv6Addr>().is_ok()
            } else {
                !host.is_empty()
                    && host.len() <= 253
                    && host.split('.').all(|label| {
                        !label.is_empty()
                            && label.len() <= 63
                            && label
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                            && !label.starts_with('-')
                            && !label.ends_with('-')
                    })
            };
        if !valid_host {
            return Err(format!("`{host}` is not a host name or IP address"));
        }
        Ok(Address {
            host: host.to_owned(),
            port,
        })
    }
}

/// Renders a target's `upstream` template (handlebars, strict, no escaping) for one
/// track of a deployment, and parses the result.
pub fn upstream_for(
    target: &super::Target,
    model: &str,
    track: &str,
    namespace: &str,
    environment: &str,
) -> Result<Address, String> {
    let template = target.upstream.as_deref().unwrap_or(DEFAULT_UPSTREAM);
    let vars = [
        ("model", model),
        ("track", track),
        ("namespace", namespace),
        ("environment", environment),
    ];
    let rendered = crate::syntax::template::render_text(template, &vars, true).map_err(|e| {
        match e.reason() {
            handlebars::RenderErrorReason::MissingVariable(Some(name)) => format!(
                "the template uses `{{{{{name}}}}}`, which is not one of model, track, namespace, environment"
            ),
            other => other.to_string(),
        }
    })?;
    Address::parse(rendered.trim())
        .map_err(|why| format!("it renders to `{rendered}` for track `{track}`: {why}"))
}

/// The address a proxy target listens on.
pub fn listen(target: &super::Target) -> Result<Address, String> {
    Address::parse(target.listen.as_deref().unwrap_or(DEFAULT_LISTEN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_strictly() {
        assert_eq!(
            Address::parse("bot-stable.ns.svc.cluster.local:8080")
                .unwrap()
                .port,
            8080
        );
        assert_eq!(Address::parse("127.0.0.1:9").unwrap().host, "127.0.0.1");
        assert_eq!(Address::parse("[::1]:80").unwrap().bare_host(), "::1");
        assert!(Address::parse("bot stable:80").is_err());
        assert!(Address::parse("bot:0").is_err());
        assert!(Address::parse("bot:99999").is_err());
        assert!(Address::parse("bot").is_err());
        assert!(Address::parse("-bad-.x:80").is_err());
        assert!(Address::parse("a;b:80").is_err());
    }

    #[test]
    fn names_round_trip_through_the_schema_spelling() {
        for kind in TargetKind::ALL {
            let parsed: TargetKind =
                serde_json::from_value(serde_json::Value::String(kind.name().into())).unwrap();
            assert_eq!(parsed, kind);
        }
    }

    #[test]
    fn the_schema_lists_every_kind() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schema/modelops.schema.json")).unwrap();
        let names: Vec<&str> = schema["$defs"]["target-name"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        let kinds: Vec<&str> = TargetKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names, kinds);
    }
}

/// One stretch a single CI job spends waiting: a pause, a shadow, a preview, or
/// under a controller the steps it walks between two approvals.
#[derive(Clone, Copy, Debug)]
pub struct Hold<'a> {
    pub duration: super::Duration,
    /// Where the hold is written: the stage, or the candidate for a sum of pauses.
    pub at: &'a super::At,
    pub what: &'static str,
}

impl Driver {
    /// The holds of a deployment's release jobs, one per job that waits.
    ///
    /// Under the pipeline each shadow, pause and preview is a job of its own. Under
    /// a controller the pipeline waits on it: for the shadow (or the blue-green
    /// preview) before the approval, then for every step after it in one job.
    pub fn holds(self, deploy: &super::Deploy) -> Vec<Hold<'_>> {
        use super::Candidate;
        let mut holds = Vec::new();
        let Some(candidate) = deploy.candidate() else {
            return holds;
        };
        if let Some(shadow) = candidate.shadow() {
            holds.push(Hold {
                duration: shadow.duration,
                at: &shadow.at,
                what: "shadow",
            });
        }
        match candidate {
            Candidate::Canary(canary) => {
                let pauses = canary
                    .step
                    .iter()
                    .filter_map(|s| s.pause.map(|p| (p, &s.at)));
                if self.is_controller() {
                    let total = pauses.map(|(p, _)| p.millis).sum::<u64>();
                    if total > 0 {
                        holds.push(Hold {
                            duration: super::Duration::from_millis(total),
                            at: &canary.at,
                            what: "canary steps",
                        });
                    }
                } else {
                    holds.extend(pauses.map(|(duration, at)| Hold {
                        duration,
                        at,
                        what: "step pause",
                    }));
                }
            }
            Candidate::BlueGreen(blue_green) => {
                if let Some(preview) = blue_green.preview {
                    holds.push(Hold {
                        duration: preview,
                        at: &blue_green.at,
                        what: "preview",
                    });
                }
            }
        }
        holds
    }
}
