//! What the generated pipelines delegate to modelops while a release runs: the
//! evaluation gate ([`gate`]), the metric guards ([`guard`]), and the HTTP client
//! guards read Prometheus with ([`http`]).

pub mod gate;
pub mod guard;
pub mod http;
