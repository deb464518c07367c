//! The loader, the rules, resolution, emission and every renderer on one mutated
//! file in a small valid repository: the first byte picks the file (project, model,
//! prompt or lock), the rest is its content. The seed corpus is the fixtures
//! (`fuzz/seed.sh`); `tests/mutations.rs` runs a fixed sample of the same in
//! `cargo test`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use modelops::source::MemorySource;

fn base_repo() -> MemorySource {
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

fuzz_target!(|data: &[u8]| {
    let Some((&which, content)) = data.split_first() else {
        return;
    };
    let target = match which % 4 {
        0 => "modelops.kdl",
        1 => "models/assistant.kdl",
        2 => "prompts/assistant/v1.md",
        _ => "modelops.lock",
    };
    let mut source = base_repo();
    source.insert(target, content.to_vec());
    let options = modelops::check::Options::from_environment();
    let Ok(checked) = modelops::check::check(&source, &options) else {
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
});
