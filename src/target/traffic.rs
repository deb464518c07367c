//! What the proxy targets share: the traffic states a rollout walks through, and the
//! address of each track.
//!
//! States, in order: `stable` (all traffic to stable), `shadow` (stable serves, the
//! candidate receives a mirror), `step-<weight>` per canary step, `promoted` (all
//! traffic to the candidate). A pipeline applies them in order; a rollback applies
//! `stable`, which is always precomputed.

use std::fmt;

use crate::model::{Candidate, Target};
use crate::target::Deployment;

/// The default address template of a track.
pub const DEFAULT_UPSTREAM: &str = "{{model}}-{{track}}.{{namespace}}.svc.cluster.local:8080";

/// The default address proxies listen on.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";

/// One traffic state: how live traffic is split between tracks, and what is mirrored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrafficState {
    pub name: String,
    /// (track, percent of live traffic), summing to 100, largest share first.
    pub weights: Vec<(&'static str, u8)>,
    /// (track, percent of requests mirrored).
    pub mirror: Option<(&'static str, u8)>,
}

/// The candidate's track: `canary` or `preview` (blue-green).
pub fn candidate_track(candidate: &Candidate<'_>) -> &'static str {
    match candidate {
        Candidate::Canary(_) => "canary",
        Candidate::BlueGreen(_) => "preview",
    }
}

/// Every traffic state of a deployment, in rollout order.
pub fn states(d: &Deployment<'_>) -> Vec<TrafficState> {
    let mut states = vec![TrafficState {
        name: "stable".into(),
        weights: vec![("stable", 100)],
        mirror: None,
    }];
    let Some(candidate) = d.deploy.candidate() else {
        return states;
    };
    let track = candidate_track(&candidate);
    if let Some(shadow) = candidate.shadow() {
        states.push(TrafficState {
            name: "shadow".into(),
            weights: vec![("stable", 100)],
            mirror: Some((track, shadow.percent())),
        });
    }
    if let Candidate::Canary(canary) = candidate {
        for step in &canary.step {
            let weights = match step.weight {
                100 => vec![(track, 100)],
                w => vec![("stable", 100 - w), (track, w)],
            };
            states.push(TrafficState {
                name: format!("step-{}", step.weight),
                weights,
                mirror: None,
            });
        }
    }
    states.push(TrafficState {
        name: "promoted".into(),
        weights: vec![(track, 100)],
        mirror: None,
    });
    states
}

/// The tracks a deployment runs.
pub fn tracks(d: &Deployment<'_>) -> Vec<&'static str> {
    let mut tracks = vec!["stable"];
    if let Some(candidate) = d.deploy.candidate() {
        tracks.push(candidate_track(&candidate));
    }
    tracks
}

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

/// Renders a target's `upstream` template for one track of a deployment.
pub fn upstream(target: &Target, d: &Deployment<'_>, track: &str) -> Result<Address, String> {
    upstream_for(
        target,
        &d.model.name,
        track,
        d.namespace(),
        &d.environment.name,
    )
}

/// Renders a target's `upstream` template (handlebars, strict, no escaping) and parses
/// the result.
pub fn upstream_for(
    target: &Target,
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
pub fn listen(target: &Target) -> Result<Address, String> {
    Address::parse(target.listen.as_deref().unwrap_or(DEFAULT_LISTEN))
}

/// Targets that route traffic and take `upstream=`.
pub const PROXY_TARGETS: &[&str] = &["istio", "envoy", "nginx", "litellm"];

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
}
