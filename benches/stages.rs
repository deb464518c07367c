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
use modelops::check::{Options, check};
use modelops::model::Date;
use modelops::model::load::load;
use modelops::source::WorkTree;
use modelops::target::Context;

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

/// Options as a run of `modelops check` has them: rendered prompts let go.
fn options() -> Options {
    Options {
        today: Date::parse("2026-06-01").expect("a date"),
        base: None,
        keep_views: false,
        keep_rendered: false,
        staging: None,
        history: None,
    }
}

fn stages(c: &mut Criterion) {
    let mut group = c.benchmark_group("stages");
    group.sample_size(10);
    for models in sizes() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        synthetic::generate(dir.path(), models, 3, models * 3, 1).expect("generated");
        let tree = WorkTree::new(dir.path()).expect("the repository opens");

        group.bench_with_input(BenchmarkId::new("load", models), &(), |b, _| {
            b.iter(|| load(&tree, false).expect("loads"))
        });
        group.bench_with_input(BenchmarkId::new("check", models), &(), |b, _| {
            b.iter(|| check(&tree, &options()).expect("checks"))
        });
        let mut emitting = options();
        emitting.keep_rendered = true;
        let checked = check(&tree, &emitting).expect("checks");
        assert!(!checked.has_errors(), "the synthetic repository is valid");
        let context = Context::of(&checked).expect("a resolved repository");
        group.bench_with_input(BenchmarkId::new("emit all targets", models), &(), |b, _| {
            b.iter(|| modelops::target::emit(&context, None, None))
        });
    }
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
