//! The `custom` target: a user's handlebars template, rendered with the resolved data
//! into `generated/custom/<output>`.
//!
//! The template was read and parsed by the load stage ([`crate::model::load`]), which
//! reports one that does not parse (MO909); here it is rendered in strict mode, so a
//! value the data does not have is MO909 at its place in the template, never an empty
//! string. The data is the content of `plan.json` ([`plan::plan`]):
//!
//! - `project`, `format` (the plan's format, `1`);
//! - `deployments`, one per model and environment, sorted by environment then model:
//!   `model`, `environment`, `namespace`, `strategy` (`none`, `canary` or
//!   `blue-green`), `fingerprint`, `tracks` (each `track`, `release`, `release_hash`,
//!   `prompt_hash`, `fingerprint`), `stages` (each tagged by `stage`), `guards` and
//!   `dependencies`.
//!
//! Inserted values (`{{…}}`) are escaped for the output's format, chosen by its
//! extension: `.json` escapes them for a JSON string (the template writes the quotes),
//! `.yaml` and `.yml` write each as a double-quoted YAML scalar, `.html`, `.htm` and
//! `.xml` escape HTML, anything else inserts them as they are. `{{{…}}}` never escapes.

use handlebars::{Handlebars, RenderError, RenderErrorReason};

use crate::diag::{Code, Diagnostic, Span};
use crate::model::TargetKind;
use crate::model::load::TemplateFile;
use crate::model::target::Driver;
use crate::target::registry::{Apply, Emitted, Layout, Part, Per, Target};
use crate::target::{Context, plan};

/// The largest file a custom template may render: past it, the template is runaway
/// (loops inside loops), not a deployment file.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024 * 1024;

/// The `custom` target.
pub struct Custom;

impl Target for Custom {
    fn kind(&self) -> TargetKind {
        TargetKind::Custom
    }

    fn layout(&self, _driver: Driver) -> Layout {
        Layout {
            per: Per::Project,
            path: "custom/{output}",
        }
    }

    fn apply(&self) -> Apply {
        Apply::Nothing
    }

    fn emit(&self, cx: &Context<'_>, part: &Part<'_, '_>) -> Emitted {
        let declared = part.declared;
        let mut emitted = Emitted::default();
        // The registry answers for a kind it does not list with this target (every
        // kind is listed; tested): say that nothing is generated for it.
        if declared.kind != TargetKind::Custom {
            emitted.diagnostics.push(
                Diagnostic::new(
                    Code::TargetNotEmitted,
                    format!(
                        "this version of modelops does not emit the `{}` target yet",
                        declared.name()
                    ),
                )
                .with_label(cx.spans.name(&declared.at), "no files for this target yet")
                .with_help("its files are not generated; the other targets are"),
            );
            return emitted;
        }
        match render(cx, declared) {
            Ok((output, bytes)) => {
                let layout = self.layout(cx.project.driver());
                emitted
                    .files
                    .insert(layout.path(&[("output", &output)]), bytes);
            }
            Err(diagnostic) => emitted.diagnostics.push(*diagnostic),
        }
        emitted
    }
}

/// What rendering each `custom` target finds wrong (no `template=`, an output
/// outside `generated/custom`, data the template asks for that the plan does not
/// hold), without keeping the files: `check` reports what `compile` would.
pub fn verify(cx: &Context<'_>) -> Vec<Diagnostic> {
    cx.project
        .target
        .values()
        .filter(|declared| declared.kind == TargetKind::Custom)
        .filter_map(|declared| render(cx, declared).err().map(|d| *d))
        .collect()
}

/// The output path and the rendered bytes of a custom target.
fn render(
    cx: &Context<'_>,
    declared: &crate::model::Target,
) -> Result<(String, Vec<u8>), Box<Diagnostic>> {
    let Some(written) = declared.template.as_deref() else {
        return Err(Box::new(
            Diagnostic::new(
                Code::MissingField,
                "the `custom` target has no `template=`",
            )
            .with_label(cx.spans.name(&declared.at), "which template?")
            .with_help(
                "name a handlebars template in the repository: `target \"custom\" template=\"templates/summary.json.hbs\" output=\"summary.json\"`",
            ),
        ));
    };
    let output = match &declared.output {
        Some(output) => output_path(output).map_err(|why| {
            Box::new(invalid_output(
                cx.spans.field(&declared.at, "output"),
                output,
                why,
            ))
        })?,
        // Without `output=`, the template's name without `.hbs`.
        None => output_path(&default_output(written)).map_err(|why| {
            Box::new(invalid_output(
                cx.spans.field(&declared.at, "template"),
                &default_output(written),
                why,
            ))
        })?,
    };
    let Some(loaded) = cx.config.templates.get(written) else {
        // The reference rules say why (missing, outside the repository, a folder),
        // and compile stops on them; this is a read that failed in between.
        return Err(Box::new(
            Diagnostic::new(
                Code::MissingFile,
                format!("the template `{written}` could not be read"),
            )
            .with_label(cx.spans.field(&declared.at, "template"), "not read")
            .with_help("check that the file exists and is readable, then compile again"),
        ));
    };
    let Some(template) = &loaded.template else {
        // Reported where it was parsed (MO909); compile stops on it.
        return Err(Box::new(
            Diagnostic::new(
                Code::CustomTemplate,
                format!("the custom template `{}` does not parse", loaded.path),
            )
            .with_label(Span::new(loaded.file, 0, 0), "this template")
            .with_help("run `modelops check` to see where it breaks"),
        ));
    };
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(escape_for(&output));
    let name = loaded.path.as_str();
    registry.register_template(name, template.clone());
    let mut bytes = Bounded(Vec::new());
    registry
        .render_to_write(name, &plan::plan(cx), &mut bytes)
        .map_err(|error| Box::new(render_problem(cx, loaded, &error)))?;
    Ok((output, bytes.0))
}

/// The file a template writes when `output=` is not given: its name without `.hbs`
/// or `.handlebars` (`templates/summary.json.hbs` writes `summary.json`).
fn default_output(template: &str) -> String {
    let name = template.rsplit('/').next().unwrap_or(template);
    name.strip_suffix(".hbs")
        .or_else(|| name.strip_suffix(".handlebars"))
        .unwrap_or(name)
        .to_owned()
}

/// A path under `generated/custom/`: `/`-separated names, none empty, `.` or `..`,
/// without backslashes or control characters.
fn output_path(text: &str) -> Result<String, &'static str> {
    if text.starts_with('/') {
        return Err("an absolute path");
    }
    for part in text.split('/') {
        match part {
            "" => return Err("an empty folder or file name"),
            "." | ".." => return Err("`.` and `..` are not allowed"),
            _ if part.contains('\\') => return Err("`\\` is not a separator here"),
            _ if part.chars().any(char::is_control) => {
                return Err("control characters are not allowed");
            }
            _ => {}
        }
    }
    Ok(text.to_owned())
}

fn invalid_output(span: Span, text: &str, why: &str) -> Diagnostic {
    Diagnostic::new(
        Code::InvalidValue,
        format!("`{text}` is not a path under generated/custom: {why}"),
    )
    .with_label(span, "not a relative file path")
    .with_help(
        "give `output=` a relative path such as `\"summary.json\"` or `\"reports/prod.yaml\"`",
    )
}

/// How inserted values are escaped, by the output's extension.
fn escape_for(output: &str) -> fn(&str) -> String {
    let name = output.rsplit('/').next().unwrap_or(output);
    let extension = name
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "json" => json_escape,
        "yaml" | "yml" => yaml_quote,
        "html" | "htm" | "xml" => handlebars::html_escape,
        _ => handlebars::no_escape,
    }
}

/// A value escaped for the inside of a JSON string: `"`, `\` and control characters.
pub fn json_escape(value: &str) -> String {
    let quoted = serde_json::Value::String(value.to_owned()).to_string();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_default()
        .to_owned()
}

/// A value as a YAML double-quoted scalar: one line whatever it holds, read back as
/// the same string by any YAML 1.1 or 1.2 reader.
pub fn yaml_quote(value: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            // Printable in YAML (less the byte-order mark and the YAML 1.1 line and
            // paragraph separators), written as is.
            ' '..='~' | '\u{a0}'..='\u{2027}' | '\u{202a}'..='\u{d7ff}' => out.push(c),
            '\u{e000}'..='\u{fefe}' | '\u{ff00}'..='\u{fffd}' | '\u{10000}'.. => out.push(c),
            c if u32::from(c) <= 0xff => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

/// A writer that refuses to grow past [`MAX_OUTPUT_BYTES`].
struct Bounded(Vec<u8>);

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len().saturating_add(buf.len()) > MAX_OUTPUT_BYTES {
            return Err(std::io::Error::other(TooLarge));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The rendered file outgrew [`MAX_OUTPUT_BYTES`].
#[derive(Debug)]
struct TooLarge;

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "it renders more than {} MiB", MAX_OUTPUT_BYTES >> 20)
    }
}

impl std::error::Error for TooLarge {}

/// A template that does not render, at the expression that failed.
fn render_problem(cx: &Context<'_>, loaded: &TemplateFile, error: &RenderError) -> Diagnostic {
    let span = error
        .line_no
        .zip(error.column_no)
        .and_then(|(line, column)| expression_span(cx, loaded, line, column))
        .unwrap_or_else(|| Span::new(loaded.file, 0, 0));
    let (reason, label, help) = match error.reason() {
        RenderErrorReason::MissingVariable(path) => (
            format!(
                "`{}` is not in the data",
                path.as_deref().unwrap_or("this value")
            ),
            "no such value here".to_owned(),
            "the template sees the data of plan.json: `project`, `format` and `deployments`, each with `model`, `environment`, `namespace`, `strategy`, `fingerprint`, `tracks`, `stages`, `guards` and `dependencies` (inside `{{#each deployments}}` name them directly, and reach the rest with `../`, as in `{{../project}}`); test a value that may be absent with `{{#if name}}`",
        ),
        RenderErrorReason::HelperNotFound(name) => (
            format!("there is no helper `{name}`"),
            "unknown helper".to_owned(),
            "the helpers are handlebars' own: `if`, `unless`, `each`, `with`, `lookup`, `eq`, `ne`, `gt`, `gte`, `lt`, `lte`, `and`, `or`, `not`, `len`",
        ),
        RenderErrorReason::IOError(io) => (
            io.to_string(),
            "the output grows past the limit here".to_owned(),
            "a custom file is a summary of the project: render each deployment once, not inside another loop over them",
        ),
        other => (
            other.to_string(),
            "this expression fails".to_owned(),
            "see `modelops explain MO909` for the data and helpers a custom template can use",
        ),
    };
    Diagnostic::new(
        Code::CustomTemplate,
        format!(
            "the custom template `{}` does not render: {reason}",
            loaded.path
        ),
    )
    .with_label(span, label)
    .with_help(help)
}

/// The span of the expression starting at a 1-based line and column: up to its
/// closing `}}` on that line, or to the line's end.
fn expression_span(
    cx: &Context<'_>,
    loaded: &TemplateFile,
    line: usize,
    column: usize,
) -> Option<Span> {
    let file = cx.files.get(loaded.file)?;
    let start = file.offset_of(line, column)?;
    let (_, line_end) = file.line_span(line)?;
    let rest = file.text.get(start..line_end.max(start))?;
    let end = rest.find("}}").map_or(line_end, |at| start + at + 2);
    Some(Span::new(loaded.file, start, end.max(start)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_paths_stay_under_the_folder() {
        assert_eq!(output_path("summary.json"), Ok("summary.json".to_owned()));
        assert_eq!(
            output_path("reports/prod.yaml"),
            Ok("reports/prod.yaml".to_owned())
        );
        for bad in [
            "",
            "/etc/x",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\\b",
            "a\nb",
            "a/",
        ] {
            assert!(output_path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(default_output("templates/summary.json.hbs"), "summary.json");
        assert_eq!(default_output("x.handlebars"), "x");
        assert_eq!(default_output("templates/notes.txt"), "notes.txt");
    }

    #[test]
    fn escaping_follows_the_extension() {
        let hostile = "a \"b\" \\ {{c}}\n<d> & 'e'\u{7}\u{85}\u{2028}\u{feff}é🦀";
        let json = format!("\"{}\"", escape_for("x/Summary.JSON")(hostile));
        let back: String = serde_json::from_str(&json).unwrap();
        assert_eq!(back, hostile);
        let yaml = format!("key: {}\n", escape_for("a.yml")(hostile));
        assert!(!yaml.trim_end().contains('\n'), "{yaml}");
        let back: std::collections::BTreeMap<String, String> =
            serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(back["key"], hostile);
        assert_eq!(escape_for("page.html")("<a>"), "&lt;a&gt;");
        assert_eq!(escape_for("notes.txt")("<a>\n"), "<a>\n");
        assert_eq!(escape_for("Makefile")("\"x\""), "\"x\"");
    }
}
