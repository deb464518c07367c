//! A bounded mutation run over the loader, inside the test suite: a fixed seed, a
//! fixed number of inputs, seconds of work. Each input is a fixture's KDL file,
//! prompt or lock, mutated (bytes flipped, inserted, deleted, chunks repeated,
//! tokens the parsers recurse on spliced in, two files spliced together), then
//! checked, emitted and rendered in-process on a 2 MiB thread stack: any panic fails
//! the test with the input that caused it, and a stack overflow aborts it (the input
//! is then in `target/tmp/mutation-current`, written before each run). The
//! coverage-guided fuzzer (`fuzz/`, `cargo fuzz run loader`) runs the same harness
//! for as long as one cares to wait.

use std::panic::AssertUnwindSafe;
use std::path::Path;

#[path = "harness/loader.rs"]
mod harness;

use harness::{FILES, base_repo, exercise};

/// How many mutated inputs one run tries.
const INPUTS: usize = 1500;

/// xorshift64*: a small deterministic generator, so every run tries the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Tokens the parsers and renderers treat specially.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "/-",
    "/*",
    "*/",
    "//",
    "\"",
    "\"\"\"",
    "#\"",
    "\"#",
    "\\",
    "\\\n",
    "(t)",
    "=",
    ";",
    "#true",
    "#null",
    "\\u{73}",
    "\u{feff}",
    "\r\n",
    "\0",
    "{{",
    "}}",
    "{{#if product}}",
    "{{/if}}",
    "{{#each x}}",
    "{{else}}",
    "{{> p}}",
    "{{{x}}}",
    "release \"1.0.0\" from=\"1.0.0\"",
    "after \"prod\"",
    "version=",
    "blake3=",
    "<<<<<<< HEAD\n",
    "\u{202e}",
    "\u{1b}[2J",
    "::error::x",
    "${{ secrets.X }}",
];

fn seeds() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check");
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(&root).sort_by_file_name() {
        let entry = entry.unwrap();
        let path = entry.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if entry.file_type().is_file()
            && (name.ends_with(".kdl") || name.ends_with(".md") || name == "modelops.lock")
        {
            let relative = path.strip_prefix(&root).unwrap();
            // Inside a fixture: drop the fixture's own folder.
            let in_repo: String = relative
                .components()
                .skip(1)
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((in_repo, std::fs::read(path).unwrap()));
        }
    }
    assert!(out.len() > 100, "the fixtures are the seed corpus");
    out
}

fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..=rng.below(6) {
        let at = rng.below(data.len() + 1);
        match rng.below(7) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 => data.insert(at, rng.next() as u8),
            2 if !data.is_empty() => {
                let end = (at + rng.below(64)).min(data.len());
                data.drain(at.min(end)..end);
            }
            3 if !data.is_empty() => {
                // Repeat a chunk many times: the shape of the recursion bugs.
                let start = rng.below(data.len());
                let end = (start + 1 + rng.below(8)).min(data.len());
                let chunk = data[start..end].to_vec();
                let times = 1 + rng.below(400);
                for _ in 0..times {
                    data.splice(at..at, chunk.iter().copied());
                }
            }
            4 | 5 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                let times = if rng.below(4) == 0 {
                    1 + rng.below(300)
                } else {
                    1
                };
                for _ in 0..times {
                    data.splice(at..at, token.iter().copied());
                }
            }
            _ => {
                let from = rng.below(other.len() + 1);
                let to = (from + rng.below(256)).min(other.len());
                data.splice(at..at, other[from..to].iter().copied());
            }
        }
    }
    data
}

#[test]
fn mutated_fixtures_never_panic_or_overflow() {
    let seeds = seeds();
    let current = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mutation-current");
    eprintln!(
        "each input is written to {} before it runs",
        current.display()
    );
    let worker = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
            for index in 0..INPUTS {
                let (path, seed) = &seeds[rng.below(seeds.len())];
                let (_, other) = &seeds[rng.below(seeds.len())];
                let input = mutate(&mut rng, seed, other);
                // The mutated file takes its place in a small valid repository.
                let mut source = base_repo();
                let target = if path.starts_with("prompts/") {
                    FILES[2]
                } else if path == FILES[0] || path == FILES[3] {
                    path.as_str()
                } else {
                    FILES[1]
                };
                source.insert(target, input.clone());
                // An overflow aborts the process: the input is on disk first.
                let _ = std::fs::write(&current, [target.as_bytes(), b"\n", &input].concat());
                let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| exercise(&source)));
                if outcome.is_err() {
                    return Err(format!(
                        "input {index} ({target}, from {path}) panicked: {:?}",
                        String::from_utf8_lossy(&input)
                    ));
                }
            }
            Ok(())
        })
        .unwrap();
    if let Err(failure) = worker.join().unwrap() {
        panic!("{failure}");
    }
}
