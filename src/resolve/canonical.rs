//! Canonical forms: the exact bytes that release hashes and fingerprints are computed
//! over, so that another tool can reproduce them.
//!
//! # Format 1
//!
//! Each form is a JSON object serialised compactly (no whitespace), keys sorted by
//! their UTF-8 bytes, strings escaped as JSON requires, numbers as written by the
//! shortest round-trip representation (integers without a fraction: `800`; floats
//! with one: `0.3`, `1.0`). Absent values are `null`. The hash is BLAKE3 over those
//! UTF-8 bytes, written as 64 lower-case hex characters.
//!
//! **Release** (after `from=` inheritance):
//!
//! ```json
//! {"base":{"id":"openai/gpt-4o-2024-08-06","revision":null},
//!  "format":1,"image":"ghcr.io/acme/llm-gateway@sha256:…","model":"support-bot",
//!  "params":{"temperature":0.2,"top-p":0.9},
//!  "prompt":{"blake3":"<hash of the prompt file's bytes, CRLF read as LF>","name":"support-system","version":4},
//!  "secrets":{"OPENAI_API_KEY":{"from":"llm-keys","key":"openai"}},
//!  "vars":{"product":"Acme Cloud"},"version":"1.5.0"}
//! ```
//!
//! **Track fingerprint** (what reaches one track's pods in one environment): the
//! rendered prompt, not its template, so an environment variable change rolls the pods.
//!
//! ```json
//! {"base":{…},"format":1,"image":"…","params":{…},"prompt":"<rendered text>",
//!  "secrets":["OPENAI_API_KEY"]}
//! ```
//!
//! **Deployment fingerprint**: BLAKE3 over the track fingerprints' hex strings, each
//! followed by `\n`, in track order (stable first).
//!
//! Compatibility: the format number is part of every form. A change to any form
//! raises it, and the lock file's format with it (see `crate::lock`).

use serde_json::{Value, json};

use crate::model::ResolvedRelease;

/// The version of the canonical forms.
pub const FORMAT: u64 = 1;

/// BLAKE3 over the compact JSON of `value` (serde_json's maps are BTreeMaps, with
/// no `preserve_order`: keys come out sorted). The bytes stream into the hasher through
/// a buffer instead of being collected first: a fingerprint's form holds a whole
/// rendered prompt.
fn hash_serialized(value: &impl serde::Serialize) -> String {
    let mut hasher = blake3::Hasher::new();
    {
        let mut writer = std::io::BufWriter::with_capacity(16 * 1024, &mut hasher);
        // Writing into a hasher cannot fail, nor can serialising these forms.
        let _ = serde_json::to_writer(&mut writer, value);
        let _ = std::io::Write::flush(&mut writer);
    }
    hasher.finalize().to_hex().to_string()
}

fn base(release: &ResolvedRelease) -> Value {
    release.base.as_ref().map_or(
        Value::Null,
        |b| json!({ "id": b.id, "revision": b.revision }),
    )
}

fn params(release: &ResolvedRelease) -> Value {
    Value::Object(
        release
            .params
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect(),
    )
}

/// The canonical form of a resolved release.
pub fn release_form(release: &ResolvedRelease, prompt_hash: Option<&str>) -> Value {
    json!({
        "format": FORMAT,
        "model": release.model,
        "version": release.version,
        "base": base(release),
        "image": release.image.as_ref().map(|(image, _)| image),
        "prompt": release.prompt.as_ref().map(|p| json!({
            "name": p.name,
            "version": p.version,
            "blake3": prompt_hash,
        })),
        "params": params(release),
        "vars": Value::Object(release.vars.iter().map(|(k, (v, _))| (k.clone(), v.clone())).collect()),
        "secrets": Value::Object(release.secrets.values().map(|s| {
            (s.name.clone(), json!({ "from": s.from, "key": s.key }))
        }).collect()),
    })
}

/// The hash of a resolved release's canonical form.
pub fn release_hash(release: &ResolvedRelease, prompt_hash: Option<&str>) -> String {
    hash_serialized(&release_form(release, prompt_hash))
}

/// The fingerprint of one track: what its pods receive.
pub fn fingerprint(release: &ResolvedRelease, rendered_prompt: &str) -> String {
    /// The track form, fields in key order; borrowed, so the rendered prompt is not
    /// copied into a `Value` first.
    #[derive(serde::Serialize)]
    struct TrackForm<'a> {
        base: Value,
        format: u64,
        image: Option<&'a str>,
        params: Value,
        prompt: &'a str,
        secrets: Vec<&'a str>,
    }
    hash_serialized(&TrackForm {
        base: base(release),
        format: FORMAT,
        image: release.image.as_ref().map(|(image, _)| image.as_str()),
        params: params(release),
        prompt: rendered_prompt,
        secrets: release.secrets.keys().map(String::as_str).collect(),
    })
}

/// The fingerprint of a deployment, over its tracks' fingerprints.
pub fn deployment_fingerprint(tracks: &[String]) -> String {
    let mut hasher = blake3::Hasher::new();
    for track in tracks {
        hasher.update(track.as_bytes());
        hasher.update(b"\n");
    }
    hasher.finalize().to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{At, Base, Secret};

    #[test]
    fn canonical_json_is_compact_and_sorted() {
        let value = json!({"b": 1, "a": {"d": 0.3, "c": 1.0}, "e": 800});
        assert_eq!(
            serde_json::to_string(&value).unwrap(),
            r#"{"a":{"c":1.0,"d":0.3},"b":1,"e":800}"#
        );
        assert_eq!(hash_serialized(&value).len(), 64);
    }

    #[test]
    fn track_fingerprint_is_the_hash_of_its_documented_form() {
        let release = ResolvedRelease {
            model: "bot".into(),
            version: "1.0.0".into(),
            at: At::default(),
            parent: None,
            broken: false,
            base: Some(Base {
                at: At::default(),
                id: "openai/gpt-4o-2024-08-06".into(),
                revision: None,
            }),
            image: Some(("ghcr.io/acme/gw@sha256:00".into(), At::default())),
            prompt: None,
            params: [("temperature".to_owned(), (json!(0.2), At::default()))].into(),
            vars: Default::default(),
            secrets: [(
                "OPENAI_API_KEY".to_owned(),
                Secret {
                    at: At::default(),
                    name: "OPENAI_API_KEY".into(),
                    from: "llm-keys".into(),
                    key: "openai".into(),
                },
            )]
            .into(),
        };
        let rendered = "Say \"hi\" to {user}\n\u{e9}";
        let documented = json!({
            "format": FORMAT,
            "base": {"id": "openai/gpt-4o-2024-08-06", "revision": null},
            "image": "ghcr.io/acme/gw@sha256:00",
            "params": {"temperature": 0.2},
            "prompt": rendered,
            "secrets": ["OPENAI_API_KEY"],
        });
        let bytes = serde_json::to_vec(&documented).unwrap();
        assert_eq!(
            fingerprint(&release, rendered),
            blake3::hash(&bytes).to_hex().to_string()
        );
    }
}
