//! The `nginx` target: per deployment and traffic state,
//! `nginx/<environment>/<model>/<state>.conf`, an `http`-context snippet for
//! `conf.d/`: an upstream per track, `split_clients` for the canary share, and
//! `mirror` for a shadow stage (sampled below 100 % by a second `split_clients` that
//! lets the mirror subrequest through or drops it).
//!
//! Sized for LLM traffic: the server accepts request bodies up to the target's
//! `max-body-size` (default [`DEFAULT_MAX_BODY_SIZE`]; nginx's own default of 1 MB
//! answers long prompts and conversations with 413), and the proxied hops wait
//! [`PROXY_TIMEOUT`] for the serving container (nginx's default of 60 s cuts long
//! completions off with 504).
//!
//! The configuration is built as a tree of directives and rendered with nginx's
//! quoting rules, never pasted together.

use crate::diag::{Code, Diagnostic};
use crate::model::target::Driver;
use crate::model::{self, TargetKind};
use crate::target::registry::{Apply, Emitted, Layout, Part, Per, Target};
use crate::target::traffic::{self, TrafficState};
use crate::target::{Context, Deployment};

/// The `nginx` target.
pub struct Nginx;

const LAYOUT: Layout = Layout {
    per: Per::TrafficState,
    path: "nginx/{environment}/{model}/{state}.conf",
};

impl Target for Nginx {
    fn kind(&self) -> TargetKind {
        TargetKind::Nginx
    }

    fn layout(&self, _driver: Driver) -> Layout {
        LAYOUT
    }

    fn apply(&self) -> Apply {
        Apply::NginxInstallTestReload
    }

    fn emit(&self, cx: &Context<'_>, part: &Part<'_, '_>) -> Emitted {
        let mut out = Emitted::default();
        emit(cx, part.declared, part.deployments, &mut out);
        out
    }
}

/// One item of an nginx configuration.
#[derive(Clone, Debug)]
pub enum Item {
    Comment(String),
    Directive(Vec<String>),
    Block(Vec<String>, Vec<Item>),
    /// `if (<variable> = "")` — the condition names only variables modelops generates,
    /// so it is rendered as it is.
    IfEmpty(String, Vec<Item>),
}

fn directive(words: &[&str]) -> Item {
    Item::Directive(words.iter().map(|w| (*w).to_owned()).collect())
}

fn block(words: &[&str], items: Vec<Item>) -> Item {
    Item::Block(words.iter().map(|w| (*w).to_owned()).collect(), items)
}

/// Quotes a word when nginx would otherwise split or misread it.
fn word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:$@%=*~+[]^?&!|()<>".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// Renders items with four-space indentation.
pub fn render(items: &[Item]) -> String {
    fn go(items: &[Item], depth: usize, out: &mut String) {
        let indent = "    ".repeat(depth);
        for item in items {
            match item {
                Item::Comment(text) => {
                    for line in text.lines() {
                        out.push_str(&format!("{indent}# {line}\n"));
                    }
                }
                Item::Directive(words) => {
                    let words: Vec<String> = words.iter().map(|w| word(w)).collect();
                    out.push_str(&format!("{indent}{};\n", words.join(" ")));
                }
                Item::IfEmpty(variable, children) => {
                    out.push_str(&format!("{indent}if ({variable} = \"\") {{\n"));
                    go(children, depth + 1, out);
                    out.push_str(&format!("{indent}}}\n"));
                }
                Item::Block(words, children) => {
                    let words: Vec<String> = words.iter().map(|w| word(w)).collect();
                    out.push_str(&format!("{indent}{} {{\n", words.join(" ")));
                    go(children, depth + 1, out);
                    out.push_str(&format!("{indent}}}\n"));
                }
            }
        }
    }
    let mut out = String::new();
    go(items, 0, &mut out);
    out
}

/// Where mirrored requests go inside nginx before reaching the shadow upstream.
const MIRROR_LOCATION: &str = "/_modelops_shadow";
/// How long a proxied hop may wait between two reads (`proxy_read_timeout`) or two
/// writes (`proxy_send_timeout`): a model can think for minutes before its first
/// token, and a large request body is written to a busy container slowly.
const PROXY_TIMEOUT: &str = "300s";
/// `client_max_body_size` when the target sets no `max-body-size`.
pub const DEFAULT_MAX_BODY_SIZE: &str = "32m";

fn prefix(d: &Deployment<'_>) -> String {
    format!("modelops_{}_{}", d.model.name, d.environment.name).replace('-', "_")
}

fn snippet(target: &model::Target, d: &Deployment<'_>, state: &TrafficState) -> String {
    let prefix = prefix(d);
    let upstream_name = |track: &str| format!("{prefix}_{track}");
    let mut items = vec![Item::Comment(format!(
        "modelops: `{}` in `{}`, traffic state `{}`.\nGenerated by `modelops compile`; do not edit. Include in the `http` context.",
        d.model.name, d.environment.name, state.name
    ))];
    if state.mirror.is_some() {
        items.push(Item::Comment(
            "Caveat: nginx keeps the client's request open until the mirror subrequest is\nanswered, so a slow shadow upstream (an LLM) adds its latency to mirrored requests."
                .to_owned(),
        ));
    }
    for track in traffic::tracks(d) {
        let address = traffic::upstream(target, d, track)
            .map(|a| a.to_string())
            .unwrap_or_default();
        items.push(block(
            &["upstream", &upstream_name(track)],
            vec![directive(&["server", &address])],
        ));
    }
    let pass = match state.weights.as_slice() {
        [(track, _)] => format!("http://{}", upstream_name(track)),
        weights => {
            let variable = format!("${prefix}_upstream");
            let mut entries: Vec<Item> = weights
                .iter()
                .skip(1)
                .map(|(track, weight)| directive(&[&format!("{weight}%"), &upstream_name(track)]))
                .collect();
            if let Some((track, _)) = weights.first() {
                entries.push(directive(&["*", &upstream_name(track)]));
            }
            items.push(block(
                &["split_clients", "${request_id}", &variable],
                entries,
            ));
            format!("http://{variable}")
        }
    };
    let mut location = Vec::new();
    let mut mirror_location = None;
    if let Some((track, percent)) = state.mirror {
        location.push(directive(&["mirror", MIRROR_LOCATION]));
        location.push(directive(&["mirror_request_body", "on"]));
        let mut inner = vec![directive(&["internal"])];
        if percent < 100 {
            let sample = format!("${prefix}_mirror");
            items.push(block(
                &["split_clients", "${request_id}shadow", &sample],
                vec![
                    directive(&[&format!("{percent}%"), "1"]),
                    directive(&["*", ""]),
                ],
            ));
            inner.push(Item::IfEmpty(sample, vec![directive(&["return", "204"])]));
        }
        inner.push(directive(&["proxy_http_version", "1.1"]));
        inner.push(directive(&["proxy_read_timeout", PROXY_TIMEOUT]));
        inner.push(directive(&["proxy_send_timeout", PROXY_TIMEOUT]));
        inner.push(directive(&[
            "proxy_pass",
            &format!("http://{}$request_uri", upstream_name(track)),
        ]));
        mirror_location = Some(block(&["location", "=", MIRROR_LOCATION], inner));
    }
    location.push(directive(&["proxy_http_version", "1.1"]));
    location.push(directive(&["proxy_set_header", "Host", "$host"]));
    location.push(directive(&["proxy_read_timeout", PROXY_TIMEOUT]));
    location.push(directive(&["proxy_send_timeout", PROXY_TIMEOUT]));
    location.push(directive(&["proxy_pass", &pass]));
    let listen = traffic::listen(target)
        .map(|a| a.to_string())
        .unwrap_or_else(|_| traffic::DEFAULT_LISTEN.to_owned());
    let mut server = vec![
        directive(&["listen", &listen]),
        directive(&[
            "server_name",
            &d.model.name,
            &format!("{}.{}", d.model.name, d.namespace()),
        ]),
        // In the server, so that it covers every location, the mirror's too.
        directive(&[
            "client_max_body_size",
            target
                .max_body_size
                .as_deref()
                .unwrap_or(DEFAULT_MAX_BODY_SIZE),
        ]),
        block(&["location", "/"], location),
    ];
    server.extend(mirror_location);
    items.push(block(&["server"], server));
    render(&items)
}

fn emit(
    cx: &Context<'_>,
    target: &model::Target,
    deployments: &[Deployment<'_>],
    out: &mut Emitted,
) {
    for d in deployments {
        let states = traffic::states(d);
        if states.iter().any(|s| s.mirror.is_some()) {
            out.diagnostics.push(
                Diagnostic::new(
                    Code::TargetLimitation,
                    format!(
                        "nginx holds each mirrored request open until the shadow answers; the shadow stage of `{}` in `{}` adds the candidate's latency to live requests",
                        d.model.name, d.environment.name
                    ),
                )
                .with_label(cx.spans.name(&target.at), "target `nginx`")
                .with_label(cx.spans.name(&d.deploy.at), format!("deploy \"{}\" of `{}`", d.environment.name, d.model.name))
                .with_help("run the shadow stage through istio or envoy, which do not wait for the mirror, or keep the shadow percentage low"),
            );
        }
        for state in states {
            out.files.insert(
                LAYOUT.state_path(&d.environment.name, &d.model.name, &state.name),
                snippet(target, d, &state),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(word("http://up$request_uri"), "http://up$request_uri");
        assert_eq!(word(""), "\"\"");
        assert_eq!(word("a b;c"), "\"a b;c\"");
        assert_eq!(word("say \"hi\""), "\"say \\\"hi\\\"\"");
        let text = render(&[block(&["server"], vec![directive(&["listen", "8080"])])]);
        assert_eq!(text, "server {\n    listen 8080;\n}\n");
    }
}
