//! The fast parser of the plain KDL subset gives the same documents as the kdl crate:
//! the same names, values, value text and spans, on every KDL file of the project, on
//! synthetic repositories, and on thousands of mutated files, where it must also never
//! accept what the kdl crate rejects.

#[allow(dead_code)]
#[path = "../examples/support/synthetic.rs"]
mod synthetic;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use kdl::{KdlDocument, KdlNode};
use modelops::syntax::parse_fast;

/// Everything lowering reads of a document, one line per item.
fn dump(document: &KdlDocument) -> String {
    fn walk(out: &mut String, node: &KdlNode, depth: usize) {
        let name = node.name();
        let _ = writeln!(
            out,
            "{:depth$}node {:?} name@{:?} span@{:?}",
            "",
            name.value(),
            name.span(),
            node.span(),
        );
        for entry in node.entries() {
            let _ = writeln!(
                out,
                "{:depth$}  entry {:?}@{:?} = {:?} repr {:?} span@{:?} ty {:?}",
                "",
                entry.name().map(|n| n.value()),
                entry.name().map(|n| n.span()),
                entry.value(),
                entry.format().map(|f| f.value_repr.as_str()),
                entry.span(),
                entry.ty().map(|t| t.value()),
            );
        }
        if let Some(children) = node.children() {
            let _ = writeln!(out, "{:depth$}  children span@{:?}", "", children.span());
            for child in children.nodes() {
                walk(out, child, depth + 4);
            }
        }
    }
    let mut out = format!("document span@{:?}\n", document.span());
    for n in document.nodes() {
        walk(&mut out, n, 0);
    }
    out
}

/// When the fast parser accepts `text`, the kdl crate accepts it too, with the same
/// document. Returns whether the fast parser accepted it.
fn agrees(text: &str, what: &str) -> bool {
    let Some(fast) = parse_fast(text) else {
        return false;
    };
    let full = KdlDocument::parse_v2(text).unwrap_or_else(|e| {
        panic!("{what}: the fast parser accepted what kdl rejects: {e:?}\n{text}")
    });
    assert_eq!(dump(&fast), dump(&full), "{what}:\n{text}");
    true
}

fn kdl_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            kdl_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "kdl") {
            out.push(path);
        }
    }
}

fn project_files() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = vec![root.join("modelops.kdl")];
    for dir in ["models", "tests", "docs"] {
        kdl_files(&root.join(dir), &mut paths);
    }
    paths
        .into_iter()
        .filter_map(|p| Some((p.clone(), std::fs::read_to_string(&p).ok()?)))
        .collect()
}

#[test]
fn agrees_with_kdl_on_every_project_file() {
    let files = project_files();
    assert!(files.len() > 100, "found {} files", files.len());
    let accepted = files
        .iter()
        .filter(|(path, text)| agrees(text, &path.display().to_string()))
        .count();
    // Most files are in the subset; the rest (syntax-error fixtures, raw strings…)
    // go to the kdl crate.
    assert!(accepted * 2 > files.len(), "{accepted} of {}", files.len());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for example in [
        "modelops.kdl",
        "models/support-bot.kdl",
        "models/triage.kdl",
    ] {
        let text = std::fs::read_to_string(root.join(example)).unwrap();
        assert!(agrees(&text, example), "{example} takes the fast path");
    }
}

#[test]
fn agrees_with_kdl_on_a_synthetic_repository() {
    let dir = tempfile::tempdir().unwrap();
    synthetic::generate(dir.path(), 40, 3, 120, 7).unwrap();
    let mut paths = Vec::new();
    kdl_files(dir.path(), &mut paths);
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            agrees(&text, &path.display().to_string()),
            "{}",
            path.display()
        );
    }
}

/// The benchmarks' synthetic repository is one the rules accept (besides its lock,
/// which `gen-repo` users write with `modelops lock`), so that they time real work.
#[test]
fn the_synthetic_repository_passes_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    synthetic::generate(dir.path(), 10, 3, 30, 1).unwrap();
    let tree = modelops::source::WorkTree::new(dir.path()).unwrap();
    let checked =
        modelops::check::check(&tree, &modelops::check::Options::from_environment()).unwrap();
    let errors: Vec<&str> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.as_str())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

/// Small edits of real files: inserted, deleted and replaced characters, chosen from
/// the ones KDL gives meaning to.
#[test]
fn never_accepts_what_kdl_rejects_and_agrees_on_what_both_accept() {
    const PIECES: &[&str] = &[
        " ", "\t", "\n", "\r\n", "\r", ";", "{", "}", "=", "\"", "\\", "#", "/", "//", "/*", "/-",
        "(", ")", "-", "+", ".", "_", "0", "1", "e", "E", "x", "#true", "#null", "true", "inf",
        "\u{a0}", "\u{feff}", "é", "\\n", "\\u", "\"\"", "a=", "=1", "1.", ".5", "1e", "00", "-1",
        "--", "k=\"v\"", "[", "]", ",", "'", ":", "@",
    ];
    let files = project_files();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut accepted, mut tried) = (0, 0);
    for (path, text) in files.iter().filter(|(_, t)| parse_fast(t).is_some()) {
        for _ in 0..40 {
            let mut mutated = text.clone();
            for _ in 0..=(next() % 2) {
                let mut at = (next() % (mutated.len() as u64 + 1)) as usize;
                while !mutated.is_char_boundary(at) {
                    at -= 1;
                }
                let piece = PIECES[(next() % PIECES.len() as u64) as usize];
                match next() % 3 {
                    0 => mutated.insert_str(at, piece),
                    1 => {
                        let mut end = (at + 1 + (next() % 3) as usize).min(mutated.len());
                        while !mutated.is_char_boundary(end) {
                            end += 1;
                        }
                        mutated.replace_range(at..end, "");
                    }
                    _ => {
                        let mut end = (at + 1).min(mutated.len());
                        while !mutated.is_char_boundary(end) {
                            end += 1;
                        }
                        mutated.replace_range(at..end, piece);
                    }
                }
            }
            tried += 1;
            if agrees(&mutated, &format!("a mutation of {}", path.display())) {
                accepted += 1;
            }
        }
    }
    assert!(tried > 2000, "tried {tried}");
    assert!(
        accepted > tried / 10,
        "only {accepted} of {tried} took the fast path"
    );
}
