//! The loader, the rules, resolution, emission and every renderer on one mutated
//! file in a small valid repository: the first byte picks the file (project, model,
//! prompt or lock), the rest is its content. The seed corpus is the fixtures
//! (`fuzz/seed.sh`); `tests/mutations.rs` runs a fixed sample of the same in
//! `cargo test`.

#![no_main]

use libfuzzer_sys::fuzz_target;
#[path = "../../tests/harness/loader.rs"]
mod harness;

fuzz_target!(|data: &[u8]| {
    let Some((&which, content)) = data.split_first() else {
        return;
    };
    let target = harness::FILES[usize::from(which % 4)];
    let mut source = harness::base_repo();
    source.insert(target, content.to_vec());
    harness::exercise(&source);
});
