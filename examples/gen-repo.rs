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

use std::path::PathBuf;

#[path = "support/synthetic.rs"]
mod synthetic;

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

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("error: {message}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = synthetic::generate(
        &args.out,
        args.models,
        args.releases,
        args.prompt_versions,
        args.seed,
    );
    match result {
        Ok(()) => {
            eprintln!(
                "wrote {} models × {} releases, {} prompt versions to {}",
                args.models,
                args.releases,
                args.models * (args.prompt_versions / args.models).max(1),
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
