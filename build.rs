//! Puts the git revision the binary is built from into `--version`, when the build
//! happens in a git checkout (a build from a source package has the version alone).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn main() {
    let version = env!("CARGO_PKG_VERSION");
    let mut text = version.to_owned();
    if let Some(revision) = git(&["rev-parse", "--short=12", "HEAD"]) {
        text = format!("{version} ({revision})");
    }
    // Rebuild when HEAD moves; the paths exist only in a git checkout.
    if let Some(git_dir) = git(&["rev-parse", "--git-dir"]) {
        let head = std::path::Path::new(&git_dir).join("HEAD");
        if head.exists() {
            println!("cargo:rerun-if-changed={}", head.display());
        }
        if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
            let path = std::path::Path::new(&git_dir).join(reference);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-env=MODELOPS_VERSION_STRING={text}");
}
