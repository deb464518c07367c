//! The emitters' YAML writer (`modelops::target::yaml`) against serde-saphyr, whose
//! output it must reproduce byte for byte: on random documents built from the
//! strings that YAML readers treat specially, and on the documents of the example
//! repository's committed output.

#[allow(dead_code)]
#[path = "../examples/support/synthetic.rs"]
mod synthetic;

use serde_json::{Map, Value};
use synthetic::Rng;

const TOKENS: &[&str] = &[
    "",
    "on",
    "On",
    "yes",
    "No",
    "off",
    "y",
    "N",
    "null",
    "Null",
    "~",
    "true",
    "False",
    "nan",
    "inf",
    ".inf",
    "-.inf",
    "NaN",
    "1",
    "01",
    "1.0",
    "1e3",
    "0x1f",
    "0o7",
    "0b1",
    "1_000",
    "12:30",
    "190:20:30",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "a: b",
    "a:b",
    "a:",
    "::",
    "a #b",
    "a#b",
    "#",
    "-",
    ".",
    "- a",
    "-a",
    "--- x",
    "---",
    "...",
    "?x",
    "? x",
    "@x",
    "x@y",
    "'q'",
    "\"d\"",
    "it's",
    "back\\slash",
    "tab\there",
    "lead ",
    " lead",
    "=",
    "<<",
    "*x",
    "&a",
    "!t",
    "%p",
    "|",
    ">",
    "[x]",
    "{y}",
    "a,b",
    "`",
    "é",
    "ünïcode words",
    "\u{2028}",
    "\u{feff}bom",
    "\u{85}",
    "\u{7}",
    "cr\r\nlf",
    "/etc/modelops/",
    "/",
    "a/b",
    "ok-name_1.2",
    "ghcr.io/acme/gateway@sha256:67f2",
    "app.kubernetes.io/name",
    "plain words here",
    "multi\nline",
    "multi\nline\n",
    "multi\nline\n\n",
    "\n",
    "\n\n",
    "  indented\nx",
    "\nx",
    "\n  x",
    "x\n\n",
    "line\n\tTab",
    "# heading\n\n- item\n",
    "trailing \nspace ",
    "a\u{2029}b\nc",
    "run: |\n  echo hi\n",
    "modelops gate --model m-1 --env prod",
    "${{ secrets.TOKEN }}",
    "$HOME",
    "$",
    "$ x",
    "echo ${X}",
    "a # b",
    "a #",
    "a b:",
    "a :b",
    "x: y z",
    "say \"hi\"",
    "it's ok",
    "100%",
    "a%b c",
    "x|y > z",
    "a [b] {c}",
    "a &b *c !d",
    "Yes please",
    "on call",
    "y n",
    "a\tb c",
    "end\u{7f}",
    "ends with space ",
    "/path with space",
    "ok-",
    "1.0.0",
    "0.0.0.0",
    "10.",
    "1..2",
    "007",
    "5s",
    "30m",
    "4Gi",
    "500m",
    "100ms",
    "7e",
    "1e5",
    "2E",
    "0b",
    "0x",
    "0o",
    "5sec",
    "2h30m",
    "1_000s",
    "*",
    "@type",
    "{\"a\":\"b\\\\c\"}",
    "[1, 2]",
    "ON",
    "nO",
    "Y",
    "|x",
    "> x",
    "!!str",
    "%TAG",
    "'single'",
    "&anchor x",
    ",comma",
];

/// Random documents, from the synthetic generator's deterministic source.
impl Rng {
    fn token(&mut self) -> String {
        TOKENS[self.below(TOKENS.len())].to_owned()
    }

    /// One to three tokens joined by a space or by nothing.
    fn phrase(&mut self) -> String {
        let mut text = self.token();
        for _ in 0..self.below(3) {
            if self.below(2) == 0 {
                text.push(' ');
            }
            text.push_str(&self.token());
        }
        text
    }

    fn scalar(&mut self) -> Value {
        match self.below(12) {
            0 => Value::Null,
            1 => Value::Bool(self.below(2) == 0),
            2 => Value::from(self.next() as i64),
            3 => Value::from(self.below(100_000) as u64),
            4 => Value::from((self.below(1000) as f64) / 8.0 - 60.0),
            5 => Value::from(u64::MAX),
            6..=8 => Value::String(self.phrase()),
            _ => Value::String(self.token()),
        }
    }

    fn value(&mut self, depth: usize) -> Value {
        if depth == 0 {
            return self.scalar();
        }
        match self.below(6) {
            0 | 1 => self.map(depth - 1),
            2 => Value::Array((0..self.below(4)).map(|_| self.value(depth - 1)).collect()),
            _ => self.scalar(),
        }
    }

    fn map(&mut self, depth: usize) -> Value {
        let mut map = Map::new();
        for _ in 0..self.below(5) {
            map.insert(self.token(), self.value(depth));
        }
        Value::Object(map)
    }
}

fn options() -> serde_saphyr::SerializerOptions {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.folded_wrap_chars = usize::MAX / 2;
    options
}

fn saphyr(values: &[Value]) -> String {
    serde_saphyr::to_string_multiple_with_options(values, options()).unwrap()
}

#[test]
fn random_documents_are_written_as_serde_saphyr_writes_them() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..20_000 {
        let documents: Vec<Value> = (0..1 + rng.below(2)).map(|_| rng.map(4)).collect();
        let ours = modelops::target::yaml::documents(&documents, &options());
        let theirs = saphyr(&documents);
        assert_eq!(ours, theirs, "round {round}: {documents:?}");
    }
}

#[test]
fn the_example_outputs_are_written_as_serde_saphyr_writes_them() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("generated");
    let mut seen = 0;
    for entry in walkdir::WalkDir::new(&root) {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "yaml" && e != "yml") {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        let documents: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
        let ours = modelops::target::yaml::documents(&documents, &options());
        assert_eq!(ours, saphyr(&documents), "{}", path.display());
        seen += 1;
    }
    assert!(seen > 20, "only {seen} YAML files under generated/");
}
