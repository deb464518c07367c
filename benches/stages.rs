//! The pipeline's stages on synthetic repositories of several sizes (criterion).
//!
//! ```text
//! cargo bench --bench stages                                # 100 and 1,000 models
//! MODELOPS_BENCH_SIZES=10,100,1000,2000 cargo bench --bench stages
//! ```
//!
//! Each size is generated once (3 releases a model, 3 prompt versions a model of
//! ~4 KiB, both rollout strategies, every target) by the same generator as
//! `cargo run --example gen-repo`. Whole commands, with process start and output
//! writing, are measured by `benches/scale.sh` (hyperfine).

#[path = "../examples/support/synthetic.rs"]
mod synthetic;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use modelops::cache::DirCache;
use modelops::check::{Options, check};
use modelops::emit::EmitContext;
use modelops::model::Date;
use modelops::model::load::{load, load_with_cache};
use modelops::source::WorkTree;

fn sizes() -> Vec<usize> {
    std::env::var("MODELOPS_BENCH_SIZES")
        .ok()
        .map(|text| {
            text.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|| vec![100, 1000])
}

/// Options as a run of `modelops check` has them: the cache opened afresh (its pack
/// read from disk), rendered prompts let go.
fn options(cache_dir: Option<&std::path::Path>) -> Options {
    Options {
        today: Date::parse("2026-06-01").expect("a date"),
        base: None,
        cache: cache_dir.map(|dir| std::sync::Arc::new(DirCache::new(dir)) as _),
        keep_views: false,
        keep_rendered: false,
    }
}

fn stages(c: &mut Criterion) {
    let mut group = c.benchmark_group("stages");
    group.sample_size(10);
    for models in sizes() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        synthetic::generate(dir.path(), models, 3, models * 3, 1).expect("generated");
        let tree = WorkTree::new(dir.path()).expect("the repository opens");
        let cache_dir = dir.path().join(".modelops-cache");

        group.bench_with_input(BenchmarkId::new("load, no cache", models), &(), |b, _| {
            b.iter(|| load(&tree).expect("loads"))
        });
        // Warm the cache once, then measure the load a pre-commit run does.
        load_with_cache(&tree, Some(&DirCache::new(&cache_dir)), false).expect("loads");
        group.bench_with_input(BenchmarkId::new("load, warm cache", models), &(), |b, _| {
            b.iter(|| {
                load_with_cache(&tree, Some(&DirCache::new(&cache_dir)), false).expect("loads")
            })
        });
        group.bench_with_input(
            BenchmarkId::new("check, warm cache", models),
            &(),
            |b, _| b.iter(|| check(&tree, &options(Some(&cache_dir))).expect("checks")),
        );
        let mut emitting = options(Some(&cache_dir));
        emitting.keep_rendered = true;
        let checked = check(&tree, &emitting).expect("checks");
        assert!(!checked.has_errors(), "the synthetic repository is valid");
        let context = EmitContext::from_checked(&checked).expect("a resolved repository");
        group.bench_with_input(BenchmarkId::new("emit all targets", models), &(), |b, _| {
            b.iter(|| modelops::emit::emit(&context, None, None))
        });
    }
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
