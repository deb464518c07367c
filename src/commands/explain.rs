//! `modelops explain`: the long explanation of a diagnostic code, or the list of
//! every code.

use super::{EXIT_OK, ReportFormat, fail, print_json, print_stdout};
use crate::diag::{Code, did_you_mean};

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// A code such as MO101, or its name such as kdl-syntax.
    #[arg(required_unless_present = "list", conflicts_with = "list")]
    pub code: Option<String>,

    /// List every code, one per line: its id, name, default severity and what it
    /// catches.
    #[arg(long)]
    pub list: bool,

    /// Output format: `json` prints the same fields as an object (a list of them with
    /// `--list`; with the long explanation, as Markdown, for one code).
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
}

/// Runs `explain`; returns the exit code.
pub fn run(args: &ExplainArgs) -> u8 {
    if args.list {
        match args.format {
            ReportFormat::Human => print_stdout(&list_text()),
            ReportFormat::Json => {
                let codes: Vec<serde_json::Value> = Code::ALL.iter().map(|c| entry(*c)).collect();
                print_json(&to_json(&serde_json::Value::Array(codes)));
            }
        }
        return EXIT_OK;
    }
    let code = args.code.as_deref().unwrap_or_default();
    match Code::lookup(code) {
        Some(code) => {
            match args.format {
                ReportFormat::Human => print_stdout(code.explanation()),
                ReportFormat::Json => {
                    let mut object = entry(code);
                    object["explanation"] = code.explanation().into();
                    print_json(&to_json(&object));
                }
            }
            EXIT_OK
        }
        None => {
            let ids: Vec<&str> = Code::ALL.iter().map(|c| c.id()).collect();
            let upper = code.to_ascii_uppercase();
            let help = match did_you_mean(&upper, ids.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "codes are {} … {}; `modelops explain --list` lists them",
                    ids.first().unwrap_or(&""),
                    ids.last().unwrap_or(&"")
                ),
            };
            fail(&format!("unknown diagnostic code `{code}`"), Some(&help))
        }
    }
}

/// One line per code, in registry order, in aligned columns:
/// `MO101  kdl-syntax  error    the file is not valid KDL v2`.
pub fn list_text() -> String {
    let name_width = Code::ALL.iter().map(|c| c.name().len()).max().unwrap_or(0);
    let severity_width = "warning".len();
    let mut out = String::new();
    for code in Code::ALL {
        out.push_str(&format!(
            "{}  {:name_width$}  {:severity_width$}  {}\n",
            code.id(),
            code.name(),
            code.default_severity().as_str(),
            code.summary(),
        ));
    }
    out
}

fn entry(code: Code) -> serde_json::Value {
    serde_json::json!({
        "code": code.id(),
        "name": code.name(),
        "severity": code.default_severity().as_str(),
        "family": code.family().title(),
        "summary": code.summary(),
    })
}

fn to_json(value: &serde_json::Value) -> String {
    // Serialising a Value cannot fail.
    serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
}
