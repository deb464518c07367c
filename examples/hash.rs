//! Prints the BLAKE3 hash of each file named on the command line, through the same
//! code path as `modelops lock` (`modelops::source::hash_files` over a working tree).
//! Used by `benches/hash-vs-b3sum.sh` to compare with `b3sum` on identical inputs.
//!
//! Usage: `hash ROOT PATH...` (paths relative to ROOT).

use std::io::Write;

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(root) = args.next() else {
        eprintln!("usage: hash ROOT PATH...");
        return std::process::ExitCode::from(2);
    };
    let tree = match modelops::source::WorkTree::new(&root) {
        Ok(tree) => tree,
        Err(e) => {
            eprintln!("error: {root}: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut paths = Vec::new();
    for arg in args {
        match modelops::source::RepoPath::parse(&arg) {
            Ok(path) => paths.push(path),
            Err(e) => {
                eprintln!("error: {arg}: {e}");
                return std::process::ExitCode::from(2);
            }
        }
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed = false;
    for (path, hash) in paths
        .iter()
        .zip(modelops::source::hash_files(&tree, &paths))
    {
        match hash {
            Ok(hash) => {
                let _ = writeln!(out, "{}  {path}", hash.to_hex());
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
            }
        }
    }
    std::process::ExitCode::from(u8::from(failed))
}
