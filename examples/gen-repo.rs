//! Generates a synthetic, valid config repository for benchmarks and scale tests.
//!
//! ```text
//! cargo run --release --example gen-repo -- --models 2000 --releases 3 \
//!     --prompt-versions 6000 --out /tmp/big [--seed 1]
//! ```
//!
//! Every model has its own prompt with `prompt-versions / models` versions of about
//! 4 KiB (with a `{{product}}` variable), `releases` releases chained by `from=`, a
//! stable deployment in staging, and in prod either a canary with a shadow stage and
//! steps (even models) or a blue-green switch (odd models), with smoke requests, an
//! eval gate on a dataset, guards and a rollback rule. Output is deterministic for a
//! seed. Run `modelops lock` in the result to write its lock file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

struct Args {
    models: usize,
    releases: usize,
    prompt_versions: usize,
    out: PathBuf,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        models: 10,
        releases: 3,
        prompt_versions: 0,
        out: PathBuf::from("synthetic-repo"),
        seed: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--models" => args.models = value()?.parse().map_err(|_| "--models takes a number")?,
            "--releases" => {
                args.releases = value()?.parse().map_err(|_| "--releases takes a number")?
            }
            "--prompt-versions" => {
                args.prompt_versions = value()?
                    .parse()
                    .map_err(|_| "--prompt-versions takes a number")?;
            }
            "--out" => args.out = PathBuf::from(value()?),
            "--seed" => args.seed = value()?.parse().map_err(|_| "--seed takes a number")?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.models == 0 || args.releases == 0 {
        return Err("--models and --releases must be at least 1".into());
    }
    if args.prompt_versions == 0 {
        args.prompt_versions = args.models * args.releases;
    }
    Ok(args)
}

/// xorshift64*: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const WORDS: &[&str] = &[
    "customer",
    "answer",
    "account",
    "billing",
    "careful",
    "brief",
    "policy",
    "refund",
    "escalate",
    "ticket",
    "politely",
    "explain",
    "never",
    "always",
    "product",
    "support",
    "status",
    "incident",
    "verify",
    "identity",
    "summarise",
    "context",
    "language",
    "clear",
    "steps",
    "help",
    "article",
    "limits",
    "privacy",
    "secure",
    "request",
    "agent",
    "handover",
    "tone",
    "friendly",
    "precise",
];

fn prompt(rng: &mut Rng, model: usize, version: usize) -> String {
    let mut text = format!(
        "# Assistant {model}, prompt version {version}\n\nYou help customers of {{{{product}}}}.\n\n"
    );
    while text.len() < 4096 {
        let words = 8 + rng.below(10);
        let sentence: Vec<&str> = (0..words).map(|_| WORDS[rng.below(WORDS.len())]).collect();
        let _ = writeln!(text, "- {}.", sentence.join(" "));
    }
    text
}

fn digest(rng: &mut Rng) -> String {
    (0..4).map(|_| format!("{:016x}", rng.next())).collect()
}

fn model_file(rng: &mut Rng, index: usize, releases: usize, versions: usize) -> String {
    let name = format!("m-{index:05}");
    let prompt = format!("p-{index:05}");
    let mut out = format!(
        "// Synthetic model {index}.\nmodel \"{name}\" {{\n    owner \"team-{}\"\n    description \"Synthetic assistant {index}\"\n\n",
        index % 17
    );
    for r in 0..releases {
        let version = format!("1.{r}.0");
        let prompt_version = (r % versions) + 1;
        if r == 0 {
            let _ = write!(
                out,
                "    release \"{version}\" {{\n        base \"openai/gpt-4o-2024-08-06\"\n        image \"ghcr.io/acme/gateway@sha256:{}\"\n        prompt \"{prompt}\" version={prompt_version}\n        params {{\n            temperature 0.2\n            top-p 0.9\n            max-tokens 800\n        }}\n        secret \"OPENAI_API_KEY\" from=\"llm-keys\" key=\"openai\"\n        vars {{\n            product \"Product {index}\"\n        }}\n    }}\n\n",
                digest(rng)
            );
        } else {
            let _ = write!(
                out,
                "    release \"{version}\" from=\"1.{}.0\" {{\n        prompt \"{prompt}\" version={prompt_version}\n        params {{\n            temperature 0.{}\n        }}\n    }}\n\n",
                r - 1,
                (r % 9) + 1
            );
        }
    }
    let latest = format!("1.{}.0", releases - 1);
    let previous = format!("1.{}.0", releases.saturating_sub(2));
    let _ = write!(
        out,
        "    deploy \"staging\" {{\n        stable \"{latest}\"\n    }}\n\n"
    );
    let candidate = if releases < 2 {
        String::new()
    } else if index.is_multiple_of(2) {
        format!(
            "        canary \"{latest}\" {{\n            shadow \"1h\" percent=100\n            step 10 pause=\"1h\"\n            step 50 pause=\"1h\"\n            step 100\n        }}\n"
        )
    } else {
        format!(
            "        blue-green \"{latest}\" {{\n            preview \"30m\"\n            promote \"manual\"\n            keep-old \"10m\"\n        }}\n"
        )
    };
    let stable = if releases < 2 {
        latest.clone()
    } else {
        previous
    };
    let _ = write!(
        out,
        "    deploy \"prod\" {{\n        replicas 3\n        stable \"{stable}\"\n{candidate}        smoke {{\n            request \"Hello\" expect-status=200\n        }}\n        gate \"eval\" {{\n            run \"python evals/run.py --endpoint {{{{endpoint}}}} --out {{{{scores}}}}\"\n            dataset \"datasets/golden.jsonl\"\n            judge \"openai/gpt-4o-2024-08-06\"\n            metric \"judge-score\"\n            max-regression \"1%\"\n        }}\n        guard \"error-rate\" max=0.02\n        guard \"latency-p99\" max=\"2s\"\n        rollback on=\"guard-breach\"\n    }}\n}}\n"
    );
    out
}

const PROJECT: &str = r#"// Synthetic project generated by `cargo run --example gen-repo`.
project "synthetic"

environment "staging" namespace="llm-staging" {
    pinning "strict"
}

environment "prod" namespace="llm-prod" {
    pinning "strict"
    after "staging"
    require-gate "eval"
    require-guard "error-rate" "latency-p99"
    require-rollback
    max-regression "1%"
    min-step-pause "1h"
}

target "kubernetes" flavor="argo-rollouts"
target "istio"
target "envoy"
target "nginx"
target "litellm"
target "github-actions"
target "gitlab-ci"
"#;

fn write(path: &Path, text: &str) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("error: {message}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut rng = Rng(args.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let versions = (args.prompt_versions / args.models).max(1);
    let result = (|| -> Result<(), String> {
        write(&args.out.join("modelops.kdl"), PROJECT)?;
        let mut dataset = String::new();
        for i in 0..200 {
            let _ = writeln!(
                dataset,
                "{{\"id\": \"q{i}\", \"input\": \"question {i}\", \"expected\": \"answer {i}\"}}"
            );
        }
        write(&args.out.join("datasets/golden.jsonl"), &dataset)?;
        for index in 1..=args.models {
            write(
                &args.out.join(format!("models/m-{index:05}.kdl")),
                &model_file(&mut rng, index, args.releases, versions),
            )?;
            for version in 1..=versions {
                write(
                    &args.out.join(format!("prompts/p-{index:05}/v{version}.md")),
                    &prompt(&mut rng, index, version),
                )?;
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => {
            eprintln!(
                "wrote {} models × {} releases, {} prompt versions to {}",
                args.models,
                args.releases,
                args.models * versions,
                args.out.display()
            );
            std::process::ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            std::process::ExitCode::from(2)
        }
    }
}
