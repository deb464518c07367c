//! The generated pages of the user guide are current: `docs/reference.md` (from the
//! JSON Schema) and `docs/diagnostics.md` (from the code registry). After changing
//! either source, `MODELOPS_BLESS=1 cargo test --test docs` rewrites them.

use std::path::Path;

fn check_page(name: &str, expected: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(name);
    if std::env::var_os("MODELOPS_BLESS").is_some() {
        std::fs::write(&path, expected).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == expected,
        "docs/{name} is stale; run `MODELOPS_BLESS=1 cargo test --test docs` and commit it"
    );
}

#[test]
fn the_language_reference_is_current() {
    check_page("reference.md", &modelops::docs::reference_markdown());
}

#[test]
fn the_diagnostics_page_is_current() {
    check_page("diagnostics.md", &modelops::docs::diagnostics_markdown());
}

/// Every page the guide links to exists.
#[test]
fn the_guide_links_resolve() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    for entry in std::fs::read_dir(&docs).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = prose(&std::fs::read_to_string(&path).unwrap());
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = rest[..end].split('#').next().unwrap_or("");
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            assert!(
                docs.join(target).exists(),
                "{} links to {target}, which does not exist",
                path.display()
            );
        }
    }
}

/// The text outside code blocks and inline code spans.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        for (i, piece) in line.split('`').enumerate() {
            if i % 2 == 0 {
                out.push_str(piece);
            }
        }
        out.push('\n');
    }
    out
}
