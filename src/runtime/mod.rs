//! What the generated pipelines delegate to modelops while a release runs: applying
//! a state of a deployment ([`apply`]), the evaluation gate ([`gate`]), the metric
//! guards ([`guard`]), and the HTTP client guards read Prometheus with ([`http`]).

pub mod apply;
pub mod gate;
pub mod guard;
pub mod http;

/// Reads a text file of at most `max` bytes: a larger one (or an endless device) is
/// an error after reading `max + 1` bytes, not a run out of memory.
pub fn read_bounded(path: &std::path::Path, max: u64) -> std::io::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than the {max} bytes read"),
        ));
    }
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}
