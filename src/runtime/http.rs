//! The HTTP client `guard` reads Prometheus with: `ureq` over rustls (ring, with the
//! Mozilla roots of `webpki-roots`), wrapped in the limits a CI job needs.
//!
//! - An overall deadline for the whole exchange (connect, TLS, redirects, body), and
//!   separate connect and response timeouts, so a server that accepts and then stalls
//!   ends the run instead of holding the job.
//! - Every address a name resolves to is tried in turn (`ureq`'s connector).
//! - Redirects are followed at most [`Limits::max_redirects`] times, only to the same
//!   scheme or from `http` to `https`, and never carry credentials to another host.
//! - The body is read up to [`Limits::max_body`] bytes; a larger one is an error.
//! - `http://` and `https://`, with IPv6 literals (`http://[::1]:9090`). Proxies named
//!   by `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` are used as `ureq` reads them.
//! - Messages never contain the credentials a URL may carry.

use std::fmt;
use std::time::Duration;

use ureq::http::Uri;

/// The bounds of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The whole exchange, from resolving the name to the last byte of the body.
    pub overall: Duration,
    /// Opening the connection (per attempt, across the addresses tried).
    pub connect: Duration,
    /// Waiting for the response head, and then for the body.
    pub read: Duration,
    /// The largest body accepted, in bytes.
    pub max_body: u64,
    /// How many redirects are followed (0: none).
    pub max_redirects: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            overall: Duration::from_secs(30),
            connect: Duration::from_secs(10),
            read: Duration::from_secs(15),
            max_body: 16 * 1024 * 1024,
            max_redirects: 3,
        }
    }
}

/// A base URL: `http(s)://host[:port][/path]`, checked once when given.
#[derive(Clone, PartialEq, Eq)]
pub struct Url {
    /// The URL as given, without a trailing `/`.
    base: String,
    /// The URL for messages: credentials removed.
    shown: String,
}

impl Url {
    /// Parses a base URL; the error says what is wrong with it (without credentials).
    pub fn parse(text: &str) -> Result<Url, String> {
        let text = text.trim();
        let uri: Uri = text
            .parse()
            .map_err(|e| format!("`{}` is not a URL: {e}", redact(text)))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            Some(other) => {
                return Err(format!(
                    "`{}` uses `{other}:`; give an http:// or https:// URL",
                    redact(text)
                ));
            }
            None => {
                return Err(format!(
                    "`{}` has no scheme; give an http:// or https:// URL",
                    redact(text)
                ));
            }
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(format!("`{}` has no host", redact(text)));
        }
        if uri.query().is_some() {
            return Err(format!(
                "`{}` has a query; give the server's base URL",
                redact(text)
            ));
        }
        let base = text.trim_end_matches('/').to_owned();
        let shown = redact(&base);
        Ok(Url { base, shown })
    }

    /// This URL with `path_and_query` appended (it starts with `/`).
    pub fn join(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Url({})", self.shown)
    }
}

/// Why a request gave no response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// A limit of [`Limits`] was reached: which one.
    Timeout(String),
    /// The body is larger than [`Limits::max_body`].
    TooLarge(u64),
    /// More redirects than [`Limits::max_redirects`], or one that is not allowed.
    Redirect(String),
    /// Name resolution, connection, TLS or protocol failure.
    Transport(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Timeout(what) => write!(f, "timed out ({what})"),
            HttpError::TooLarge(limit) => {
                write!(f, "the response body is larger than {limit} bytes")
            }
            HttpError::Redirect(what) => write!(f, "{what}"),
            HttpError::Transport(what) => write!(f, "{what}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// A response: its status (any, including 4xx and 5xx) and its whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The start of the body as text, for messages: at most 4 KiB, lossy.
    pub fn excerpt(&self) -> String {
        let end = self.body.len().min(4096);
        let text = String::from_utf8_lossy(self.body.get(..end).unwrap_or_default());
        text.trim().to_owned()
    }
}

/// GETs `url` (a full URL) accepting `accept`, within `limits`.
pub fn get(url: &str, accept: &str, limits: &Limits) -> Result<Response, HttpError> {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(limits.overall))
        .timeout_connect(Some(limits.connect))
        .timeout_recv_response(Some(limits.read))
        .timeout_recv_body(Some(limits.read))
        .max_redirects(limits.max_redirects)
        .max_redirects_will_error(true)
        .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost)
        .http_status_as_error(false)
        .user_agent(format!("modelops/{}", env!("CARGO_PKG_VERSION")))
        .build();
    let agent: ureq::Agent = config.into();
    let mut response = agent
        .get(url)
        .header("Accept", accept)
        .call()
        .map_err(|e| classify(e, limits, url))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(limits.max_body)
        .read_to_vec()
        .map_err(|e| classify(e, limits, url))?;
    Ok(Response { status, body })
}

fn classify(error: ureq::Error, limits: &Limits, url: &str) -> HttpError {
    use ureq::Error as E;
    match error {
        E::Timeout(which) => HttpError::Timeout(format!(
            "{which}; limits: {} s overall, {} s to connect, {} s to read",
            limits.overall.as_secs_f64(),
            limits.connect.as_secs_f64(),
            limits.read.as_secs_f64()
        )),
        E::BodyExceedsLimit(limit) => HttpError::TooLarge(limit),
        E::TooManyRedirects => HttpError::Redirect(format!(
            "more than {} redirects from {}",
            limits.max_redirects,
            redact(url)
        )),
        E::RedirectFailed => HttpError::Redirect(format!(
            "a redirect from {} that is not followed (only to the same scheme or from http to https)",
            redact(url)
        )),
        other => HttpError::Transport(redact(&other.to_string())),
    }
}

/// `text` with any `user:password@` of a URL in it replaced by `…@`.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end = tail
            .find(['/', '?', '#', ' ', '"', '\''])
            .unwrap_or(tail.len());
        let (authority, after) = tail.split_at(authority_end);
        match authority.rfind('@') {
            Some(i) => {
                out.push_str("…@");
                out.push_str(authority.get(i + 1..).unwrap_or_default());
            }
            None => out.push_str(authority),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Percent-encodes a query parameter value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_base_urls() {
        let url = Url::parse("http://prom.monitoring:9090/prometheus/").unwrap();
        assert_eq!(
            url.join("/api/v1/query"),
            "http://prom.monitoring:9090/prometheus/api/v1/query"
        );
        assert_eq!(
            Url::parse("http://[::1]:9090").unwrap().join("/x"),
            "http://[::1]:9090/x"
        );
        assert!(Url::parse("https://prom.example.com").is_ok());
        assert!(Url::parse("ftp://x").unwrap_err().contains("ftp:"));
        assert!(Url::parse("prom:9090").is_err());
        assert!(Url::parse("http://x/?a=1").unwrap_err().contains("query"));
        assert_eq!(encode("a b{x=\"1\"}"), "a%20b%7Bx%3D%221%22%7D");
    }

    #[test]
    fn credentials_never_reach_messages() {
        let url = Url::parse("https://admin:s3cret@prom.example.com/p").unwrap();
        assert_eq!(url.to_string(), "https://…@prom.example.com/p");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(
            redact("error for http://u:p@h:1/x and http://h2/y"),
            "error for http://…@h:1/x and http://h2/y"
        );
        let error = Url::parse("gopher://u:s3cret@h").unwrap_err();
        assert!(!error.contains("s3cret"), "{error}");
    }
}
