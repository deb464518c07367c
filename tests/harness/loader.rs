//! The harness the mutation run (`tests/mutations.rs`) and the fuzz target
//! (`fuzz/fuzz_targets/loader.rs`) share: one file of a small valid repository
//! replaced by the input, then checked, emitted and rendered in every format.

use modelops::source::MemorySource;

/// Where an input goes, by its selector.
pub const FILES: [&str; 4] = [
    "modelops.kdl",
    "models/assistant.kdl",
    "prompts/assistant/v1.md",
    "modelops.lock",
];

/// A small valid repository: two environments, a model, a prompt, three targets.
pub fn base_repo() -> MemorySource {
    MemorySource::new()
        .with_file(
            "modelops.kdl",
            "project \"t\"\nenvironment \"staging\" namespace=\"s\"\nenvironment \"prod\" namespace=\"p\" {\n    after \"staging\"\n}\ntarget \"kubernetes\" flavor=\"argo-rollouts\"\ntarget \"istio\"\ntarget \"github-actions\"\n",
        )
        .with_file(
            "models/assistant.kdl",
            "model \"assistant\" {\n    release \"1.0.0\" {\n        base \"openai/gpt-4o-2024-08-06\"\n        image \"ghcr.io/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"\n        prompt \"assistant\" version=1\n    }\n    deploy \"prod\" {\n        stable \"1.0.0\"\n    }\n}\n",
        )
        .with_file("prompts/assistant/v1.md", "You are {{product}}'s assistant.\n")
}

/// Checks, emits and renders `source`; a panic propagates to the caller.
pub fn exercise(source: &MemorySource) {
    let options = modelops::check::Options::from_environment();
    let Ok(checked) = modelops::check::check(source, &options) else {
        return;
    };
    let files = &checked.config.files;
    let _ = modelops::diag::render::render_human(
        &checked.diagnostics,
        files,
        modelops::diag::render::HumanOptions::default(),
    );
    let _ = modelops::diag::render::render_github(&checked.diagnostics, files);
    let _ = modelops::diag::render::render_sarif(&checked.diagnostics, files);
    if !checked.has_errors()
        && let Some(cx) = modelops::target::Context::of(&checked)
    {
        let _ = modelops::target::emit(&cx, None, None);
    }
}
