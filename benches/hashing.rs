//! Hashing throughput: prompt-sized files and one large dataset, through the same
//! `Source` path `modelops lock` uses. Compare with b3sum: `benches/hash-vs-b3sum.sh`.
//!
//! Sizes can be reduced for a quick run: `MODELOPS_BENCH_DATASET_MIB=64 cargo bench --bench hashing`.

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use modelops::source::{RepoPath, WorkTree, hash_files};

const PROMPTS: usize = 6_000;
const PROMPT_BYTES: usize = 4 * 1024;

/// Deterministic, incompressible-looking bytes (a xorshift stream).
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn write_inputs(root: &Path, dataset_mib: usize) -> (Vec<RepoPath>, RepoPath) {
    let mut prompts = Vec::with_capacity(PROMPTS);
    for i in 0..PROMPTS {
        let relative = format!("prompts/p{:04}/v1.md", i);
        let path = root.join(&relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes(i as u64, PROMPT_BYTES)).unwrap();
        prompts.push(RepoPath::parse(&relative).unwrap());
    }
    let dataset = root.join("datasets/large.jsonl");
    std::fs::create_dir_all(dataset.parent().unwrap()).unwrap();
    let chunk = bytes(7, 1024 * 1024);
    let mut file = std::fs::File::create(&dataset).unwrap();
    for _ in 0..dataset_mib {
        std::io::Write::write_all(&mut file, &chunk).unwrap();
    }
    (prompts, RepoPath::parse("datasets/large.jsonl").unwrap())
}

fn hashing(c: &mut Criterion) {
    let dataset_mib: usize = std::env::var("MODELOPS_BENCH_DATASET_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let dir = tempfile::tempdir().unwrap();
    let (prompts, dataset) = write_inputs(dir.path(), dataset_mib);
    let tree = WorkTree::new(dir.path()).unwrap();

    let mut group = c.benchmark_group("hashing");
    group.sample_size(10);
    group.throughput(Throughput::Bytes((PROMPTS * PROMPT_BYTES) as u64));
    group.bench_function("6000 prompt files of 4 KiB", |b| {
        b.iter(|| hash_files(&tree, &prompts))
    });
    group.throughput(Throughput::Bytes((dataset_mib * 1024 * 1024) as u64));
    group.bench_function(format!("one {dataset_mib} MiB dataset"), |b| {
        b.iter(|| hash_files(&tree, std::slice::from_ref(&dataset)))
    });
    group.finish();
}

criterion_group!(benches, hashing);
criterion_main!(benches);
