//! Fixture tests: every folder under `tests/fixtures/check/` is a tiny config
//! repository; `expected.snap` beside its files is the reviewed output of
//! `modelops check` on it (exit code, one `CODE file:line:col message` line per
//! diagnostic, then the full human rendering).
//!
//! To accept new output after reviewing it: `MODELOPS_BLESS=1 cargo test --test fixtures`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use modelops::check::check;
use modelops::diag::render::{HumanOptions, render_human};
use modelops::diag::{Code, Diagnostics, Files};
use modelops::source::WorkTree;

/// Fixtures judge snapshot retirement as of this date, so snapshots do not change
/// with the calendar.
const FIXTURE_TODAY: &str = "2026-06-01";

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check")
}

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixtures_root())
        .expect("fixtures folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

/// The snapshot text for one run.
pub fn snapshot(exit: u8, diagnostics: &Diagnostics, files: &Files) -> String {
    let mut out = format!("exit: {exit}\n");
    for d in diagnostics.iter() {
        let location = d
            .primary_span()
            .map(|span| {
                let (start, _) = files.line_col(span);
                format!("{}:{}:{}", files.path(span.file), start.line, start.column)
            })
            .unwrap_or_else(|| "-".to_owned());
        out.push_str(&format!(
            "{} {} {location} {}\n",
            d.code.id(),
            d.severity.as_str(),
            d.message
        ));
    }
    out.push_str("--- human\n");
    out.push_str(&render_human(
        diagnostics,
        files,
        HumanOptions {
            color: false,
            width: 100,
        },
    ));
    out
}

fn run_case(dir: &Path) -> (String, BTreeSet<Code>) {
    let tree = WorkTree::new(dir).expect("fixture folder");
    let options = modelops::check::Options {
        today: modelops::model::Date::parse(FIXTURE_TODAY).expect("date"),
        base: None,
        keep_views: false,
        keep_rendered: true,
        staging: None,
        history: None,
    };
    let checked = check(&tree, &options).expect("fixture loads");
    let exit = u8::from(checked.has_errors());
    let codes = checked.diagnostics.iter().map(|d| d.code).collect();
    let mut snap = snapshot(exit, &checked.diagnostics, &checked.config.files);
    // Warnings accepted by an `allow`, as `check` lists them after the report.
    for allowed in &checked.allowed {
        snap.push_str(&format!("--- allowed\n{}\n", allowed.line()));
    }
    (snap, codes)
}

#[test]
fn fixtures_match_their_snapshots() {
    let bless = std::env::var_os("MODELOPS_BLESS").is_some();
    let mut failures = Vec::new();
    let cases = cases();
    assert!(
        cases.len() >= 30,
        "expected at least 30 fixtures, found {}",
        cases.len()
    );
    for case in &cases {
        let (actual, _) = run_case(case);
        let snap_path = case.join("expected.snap");
        let expected = std::fs::read_to_string(&snap_path).ok();
        if expected.as_deref() == Some(actual.as_str()) {
            continue;
        }
        if bless {
            std::fs::write(&snap_path, &actual).expect("write snapshot");
        } else {
            failures.push(format!(
                "== {}\n-- expected\n{}\n-- actual\n{}",
                case.display(),
                expected.unwrap_or_else(|| "<no snapshot>".to_owned()),
                actual
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture(s) differ (review, then MODELOPS_BLESS=1 to accept):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Fixture names say what they prove: `ok-*` must pass, everything else must report.
#[test]
fn passing_fixtures_pass_and_failing_ones_fail() {
    for case in cases() {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let (snap, codes) = run_case(&case);
        if name.starts_with("ok-") {
            assert!(snap.starts_with("exit: 0\n"), "{name} should pass:\n{snap}");
        } else {
            assert!(!codes.is_empty(), "{name} should report something");
        }
    }
}

/// Every code in the registry is triggered by at least one fixture, and its
/// explanation is not empty. Codes only reachable with input too unwieldy to commit
/// (a file over 1 MiB) are proved by the bad-input tests instead.
#[test]
fn every_code_has_a_fixture() {
    let mut seen = BTreeSet::new();
    for case in cases() {
        seen.extend(run_case(&case).1);
    }
    // MO103 needs a file over 1 MiB; MO704 needs a git base revision (tests/lock.rs);
    // MO902 is for a target this version lists but does not emit, and there is none.
    let proved_elsewhere = [
        Code::InputTooLarge,
        Code::ReleasedContentChanged,
        Code::TargetNotEmitted,
    ];
    let missing: Vec<&str> = Code::ALL
        .iter()
        .filter(|c| !seen.contains(c) && !proved_elsewhere.contains(c))
        .map(|c| c.id())
        .collect();
    assert!(missing.is_empty(), "codes without a fixture: {missing:?}");
}
