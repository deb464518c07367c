//! Writes the JSON view of every KDL file of a config repository, wrapped as the root
//! of `schema/modelops.schema.json` expects, so that other validators can check the
//! same data (`benches/scale.sh` times `check-jsonschema` on them).
//!
//! ```text
//! cargo run --release --example dump-views -- REPO OUT
//! ```

use std::path::{Path, PathBuf};

use modelops::diag::FileId;
use modelops::syntax::{MODEL_FILE, PROJECT_FILE, lower, parse};

fn dump(kdl: &Path, out: &Path, model: bool) -> Result<(), String> {
    let text = std::fs::read_to_string(kdl).map_err(|e| format!("{}: {e}", kdl.display()))?;
    let doc = parse(FileId(0), &text).map_err(|_| format!("{}: not valid KDL", kdl.display()))?;
    let grammar = if model { &MODEL_FILE } else { &PROJECT_FILE };
    let view = lower(&doc, &text, FileId(0), grammar).0.value;
    let wrapped = if model {
        serde_json::json!({ "models": { "m": view } })
    } else {
        serde_json::json!({ "project": view })
    };
    let name = kdl
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let target = out.join(format!("{}{name}.json", if model { "model-" } else { "" }));
    std::fs::write(&target, wrapped.to_string()).map_err(|e| format!("{}: {e}", target.display()))
}

fn main() -> std::process::ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [repo, out] = args.as_slice() else {
        eprintln!("usage: dump-views REPO OUT");
        return std::process::ExitCode::from(2);
    };
    let result = (|| -> Result<usize, String> {
        std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
        dump(&repo.join("modelops.kdl"), out, false)?;
        let mut count = 1;
        let mut models: Vec<PathBuf> = std::fs::read_dir(repo.join("models"))
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "kdl"))
            .collect();
        models.sort();
        for model in models {
            dump(&model, out, true)?;
            count += 1;
        }
        Ok(count)
    })();
    match result {
        Ok(count) => {
            eprintln!("wrote {count} views to {}", out.display());
            std::process::ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            std::process::ExitCode::from(2)
        }
    }
}
