//! Helpers shared by the integration tests: temporary config repositories and running
//! the real `modelops` binary.

#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The project's own example repository (the crate root).
pub fn example_repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A valid minimal repository in a temporary folder, to be broken by a test.
pub struct TempRepo {
    pub dir: tempfile::TempDir,
}

impl TempRepo {
    pub fn new() -> Self {
        let repo = TempRepo {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        repo.write(
            "modelops.kdl",
            "project \"t\"\nenvironment \"prod\" namespace=\"llm-prod\"\n",
        );
        repo.write(
            "models/assistant.kdl",
            concat!(
                "model \"assistant\" {\n",
                "    release \"1.0.0\" {\n",
                "        base \"openai/gpt-4o-2024-08-06\"\n",
                "        image \"ghcr.io/acme/gateway@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"\n",
                "        prompt \"assistant\" version=1\n",
                "    }\n",
                "    deploy \"prod\" {\n",
                "        stable \"1.0.0\"\n",
                "    }\n",
                "}\n"
            ),
        );
        repo.write("prompts/assistant/v1.md", "You are a helpful assistant.\n");
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, relative: &str, contents: impl AsRef<[u8]>) {
        let path = self.dir.path().join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
    }

    pub fn remove(&self, relative: &str) {
        let path = self.dir.path().join(relative);
        if path.is_dir() {
            std::fs::remove_dir_all(path).expect("rm -r");
        } else {
            std::fs::remove_file(path).expect("rm");
        }
    }

    pub fn modelops(&self, args: &[&str]) -> Run {
        modelops_in(self.path(), args)
    }
}

/// The outcome of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Runs `modelops ARGS` with `dir` as the working directory.
pub fn modelops_in(dir: &Path, args: &[&str]) -> Run {
    Command::new(env!("CARGO_BIN_EXE_modelops"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("COLUMNS")
        .output()
        .expect("run modelops")
        .into()
}
