//! Prompt templates: one handlebars parse per prompt version, kept as an analysis that
//! later stages reuse — the variables it uses (for the rules), and, for templates
//! that only insert variables, the literal/variable segments they render from (so
//! rendering needs no second parse).

use handlebars::template::{HelperTemplate, Parameter, Template, TemplateElement};
use handlebars::{Path, PathSeg};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One use of a variable: its name and where it stands (1-based).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableUse {
    pub name: String,
    pub line: usize,
    pub column: usize,
}

/// A piece of a simple template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Segment {
    Text(String),
    /// Text that is the template's own bytes `start..end`, not copied.
    Slice {
        start: usize,
        end: usize,
    },
    Variable(String),
}

/// A template that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateProblem {
    pub reason: String,
    pub position: Option<(usize, usize)>,
}

/// What a prompt template is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateAnalysis {
    pub uses: Vec<VariableUse>,
    /// The template as text and variables, when that is all it is.
    pub segments: Option<Vec<Segment>>,
    pub problem: Option<TemplateProblem>,
}

/// Helpers handlebars provides; their arguments are variables, their names are not.
const BUILTIN_HELPERS: &[&str] = &[
    "if", "unless", "each", "with", "lookup", "log", "eq", "ne", "gt", "gte", "lt", "lte", "and",
    "or", "not", "len",
];

/// The deepest nesting of template blocks accepted: handlebars parses and renders
/// blocks recursively; prompts need two or three levels.
pub use crate::layout::MAX_TEMPLATE_NESTING as MAX_BLOCK_NESTING;

/// The most expressions (`{{…}}`) a template that needs handlebars' parser may have
/// (about 1 s for 1,000 blocks in a debug build).
pub use crate::layout::MAX_TEMPLATE_EXPRESSIONS as MAX_PARSED_EXPRESSIONS;

/// Parses a template once.
pub fn analyze(text: &str) -> TemplateAnalysis {
    let refused = |problem| TemplateAnalysis {
        uses: Vec::new(),
        segments: None,
        problem: Some(problem),
    };
    let expressions = match bounds(text) {
        Ok(expressions) => expressions,
        Err(problem) => return refused(problem),
    };
    if let Some(simple) = simple_scan(text) {
        return simple;
    }
    if expressions > MAX_PARSED_EXPRESSIONS {
        return refused(too_many(expressions));
    }
    analyze_with_handlebars(text)
}

fn too_many(expressions: usize) -> TemplateProblem {
    TemplateProblem {
        reason: format!(
            "{expressions} expressions with blocks or helpers, more than the {MAX_PARSED_EXPRESSIONS} a template may have"
        ),
        position: None,
    }
}

/// Counts the expressions (`{{`) of a template, and finds where blocks first nest
/// deeper than [`MAX_BLOCK_NESTING`] — one linear scan of the `{{#…}}` openings and
/// `{{/…}}` closings (with `~` and any number of braces), before handlebars'
/// recursive parser sees the text.
fn bounds(text: &str) -> Result<usize, TemplateProblem> {
    let bytes = text.as_bytes();
    let mut expressions = 0usize;
    let mut depth = 0usize;
    let mut line = 1usize;
    let mut line_start = 0usize;
    let mut i = 0usize;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'\n' {
            line += 1;
            line_start = i + 1;
            i += 1;
            continue;
        }
        if byte != b'{' || bytes.get(i + 1) != Some(&b'{') {
            i += 1;
            continue;
        }
        let start = i;
        expressions += 1;
        while bytes.get(i) == Some(&b'{') {
            i += 1;
        }
        while matches!(bytes.get(i), Some(b'~' | b' ' | b'\t')) {
            i += 1;
        }
        match bytes.get(i) {
            Some(b'#') => {
                depth += 1;
                if depth > MAX_BLOCK_NESTING {
                    return Err(TemplateProblem {
                        reason: format!(
                            "blocks are nested more than {MAX_BLOCK_NESTING} levels deep"
                        ),
                        position: Some((line, text[line_start..start].chars().count() + 1)),
                    });
                }
            }
            Some(b'/') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(expressions)
}

/// The common case without handlebars' parser: text with `{{name}}` insertions only
/// (name: a letter or `_`, then letters, digits, `_` or `-`; spaces inside the braces
/// allowed). Anything else — a backslash before `{{`, a `#`, `/`, `!`, `>`, `~`,
/// `else`, triple braces, paths — returns `None`, and handlebars decides.
fn simple_scan(text: &str) -> Option<TemplateAnalysis> {
    let bytes = text.as_bytes();
    let mut segments = Vec::new();
    let mut uses = Vec::new();
    let mut literal_start = 0;
    let mut i = 0;
    // Lines are counted up to `counted` only when a variable needs its position.
    let (mut line, mut line_start, mut counted) = (1usize, 0usize, 0usize);
    while let Some(found) = bytes
        .get(i..)
        .and_then(|rest| memchr::memchr2(b'{', b'\\', rest))
    {
        let at = i + found;
        let (found, next) = (bytes.get(at), bytes.get(at + 1));
        if found == Some(&b'\\') && next == Some(&b'{') {
            return None;
        }
        if found != Some(&b'{') || next != Some(&b'{') {
            i = at + 1;
            continue;
        }
        let open = at;
        let before = bytes.get(counted..open).unwrap_or_default();
        for newline in memchr::memchr_iter(b'\n', before) {
            line += 1;
            line_start = counted + newline + 1;
        }
        counted = open;
        let mut j = open + 2;
        while bytes.get(j) == Some(&b' ') {
            j += 1;
        }
        let name_start = j;
        match bytes.get(j) {
            Some(b) if b.is_ascii_alphabetic() || *b == b'_' => j += 1,
            _ => return None,
        }
        while bytes
            .get(j)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
        {
            j += 1;
        }
        let name = &text[name_start..j];
        while bytes.get(j) == Some(&b' ') {
            j += 1;
        }
        if bytes.get(j..j + 2) != Some(b"}}") || bytes.get(j + 2) == Some(&b'}') {
            return None;
        }
        if BUILTIN_HELPERS.contains(&name) || name == "else" || name == "this" {
            return None;
        }
        if literal_start < open {
            segments.push(Segment::Slice {
                start: literal_start,
                end: open,
            });
        }
        let column = text[line_start..open].chars().count() + 1;
        uses.push(VariableUse {
            name: name.to_owned(),
            line,
            column,
        });
        segments.push(Segment::Variable(name.to_owned()));
        i = j + 2;
        literal_start = i;
    }
    if literal_start < text.len() {
        segments.push(Segment::Slice {
            start: literal_start,
            end: text.len(),
        });
    }
    Some(TemplateAnalysis {
        uses,
        segments: Some(segments),
        problem: None,
    })
}

fn analyze_with_handlebars(text: &str) -> TemplateAnalysis {
    match Template::compile(text) {
        Ok(template) => {
            let mut uses = Vec::new();
            collect(&template, &mut uses);
            TemplateAnalysis {
                uses,
                segments: segments(&template),
                problem: None,
            }
        }
        Err(error) => TemplateAnalysis {
            uses: Vec::new(),
            segments: None,
            problem: Some(TemplateProblem {
                reason: error.reason().to_string(),
                position: error.pos(),
            }),
        },
    }
}

fn simple_variable(helper: &HelperTemplate) -> Option<String> {
    if !helper.params.is_empty() || !helper.hash.is_empty() || helper.block {
        return None;
    }
    match &helper.name {
        Parameter::Name(name) if !BUILTIN_HELPERS.contains(&name.as_str()) => Some(name.clone()),
        Parameter::Path(Path::Relative((segments, _))) => match segments.as_slice() {
            [PathSeg::Named(name)] if name != "this" => Some(name.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn segments(template: &Template) -> Option<Vec<Segment>> {
    let mut out = Vec::new();
    for element in &template.elements {
        match element {
            TemplateElement::RawString(text) => out.push(Segment::Text(text.clone())),
            TemplateElement::Comment(_) => {}
            TemplateElement::Expression(helper) | TemplateElement::HtmlExpression(helper) => {
                out.push(Segment::Variable(simple_variable(helper)?));
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Renders simple segments with `vars`; `None` when a variable is missing or a value
/// is not a scalar (the caller then renders with handlebars, or reports).
pub fn render_segments(
    template: &str,
    segments: &[Segment],
    vars: &serde_json::Map<String, Value>,
) -> Option<String> {
    let mut out = String::with_capacity(template.len() + 256);
    for segment in segments {
        match segment {
            Segment::Text(text) => out.push_str(text),
            Segment::Slice { start, end } => out.push_str(template.get(*start..*end)?),
            Segment::Variable(name) => match vars.get(name)? {
                Value::String(s) => out.push_str(s),
                Value::Number(n) => out.push_str(&n.to_string()),
                Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                Value::Null => {}
                _ => return None,
            },
        }
    }
    Some(out)
}

/// Renders `template` with text variables and no escaping, for the emitters' own
/// templates (queries, commands, addresses): by splicing when it only inserts
/// variables, else with handlebars — strict (a missing variable is an error) when
/// `strict` is set. The text is the same either way; splicing needs no registry and
/// no second parse.
pub fn render_text(
    template: &str,
    vars: &[(&str, &str)],
    strict: bool,
) -> Result<String, handlebars::RenderError> {
    let vars: serde_json::Map<String, Value> = vars
        .iter()
        .map(|(name, value)| ((*name).to_owned(), Value::String((*value).to_owned())))
        .collect();
    let refused = |problem: TemplateProblem| -> handlebars::RenderError {
        handlebars::RenderErrorReason::Other(problem.reason).into()
    };
    let expressions = bounds(template).map_err(refused)?;
    if let Some(segments) = simple_scan(template).and_then(|analysis| analysis.segments)
        && let Some(text) = render_segments(template, &segments, &vars)
    {
        return Ok(text);
    }
    if expressions > MAX_PARSED_EXPRESSIONS {
        return Err(refused(too_many(expressions)));
    }
    text_registry(strict).render_template(template, &vars)
}

/// A handlebars registry for text, not HTML: values are inserted as they are (no
/// escaping); in strict mode a missing variable is an error. Every template the
/// tool renders with handlebars — prompts and the emitters' own — goes through one.
pub fn text_registry<'r>(strict: bool) -> handlebars::Handlebars<'r> {
    let mut registry = handlebars::Handlebars::new();
    registry.set_strict_mode(strict);
    registry.register_escape_fn(handlebars::no_escape);
    registry
}

fn collect(template: &Template, uses: &mut Vec<VariableUse>) {
    for (index, element) in template.elements.iter().enumerate() {
        let (line, column) = template.mapping.get(index).map_or((1, 1), |m| (m.0, m.1));
        let mut add = |name: String| uses.push(VariableUse { name, line, column });
        match element {
            TemplateElement::Expression(helper) | TemplateElement::HtmlExpression(helper) => {
                expression(helper, &mut add);
            }
            TemplateElement::HelperBlock(helper) => {
                for param in &helper.params {
                    parameter(param, &mut add);
                }
                // Inside `each` and `with`, names refer to the item, not to vars.
                let scoped =
                    matches!(&helper.name, Parameter::Name(n) if n == "each" || n == "with");
                if !scoped && let Some(inner) = &helper.template {
                    collect(inner, uses);
                }
                if let Some(inverse) = &helper.inverse {
                    collect(inverse, uses);
                }
            }
            _ => {}
        }
    }
}

fn expression(helper: &HelperTemplate, add: &mut impl FnMut(String)) {
    match &helper.name {
        Parameter::Name(name) if helper.params.is_empty() && helper.hash.is_empty() => {
            if !BUILTIN_HELPERS.contains(&name.as_str()) {
                add(name.clone());
            }
        }
        Parameter::Path(path) => path_variable(path, add),
        _ => {
            for param in &helper.params {
                parameter(param, add);
            }
        }
    }
}

fn parameter(param: &Parameter, add: &mut impl FnMut(String)) {
    match param {
        Parameter::Path(path) => path_variable(path, add),
        Parameter::Name(name) => add(name.clone()),
        Parameter::Subexpression(sub) => {
            for inner in sub.params().into_iter().flatten() {
                parameter(inner, add);
            }
        }
        _ => {}
    }
}

fn path_variable(path: &Path, add: &mut impl FnMut(String)) {
    if let Path::Relative((segments, _)) = path
        && let Some(PathSeg::Named(first)) = segments.first()
        && first != "this"
    {
        add(first.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        analyze(text).uses.into_iter().map(|u| u.name).collect()
    }

    #[test]
    fn deep_blocks_are_refused_before_handlebars_parses_them() {
        let within = "{{#if a}}".repeat(MAX_BLOCK_NESTING) + &"{{/if}}".repeat(MAX_BLOCK_NESTING);
        assert_eq!(analyze(&within).problem, None);
        // Closed blocks do not nest, however many there are; but past a thousand
        // expressions handlebars is not asked to parse them (variables alone are).
        let many = "{{#if a}}x{{/if}}".repeat(MAX_PARSED_EXPRESSIONS / 2);
        assert_eq!(analyze(&many).problem, None);
        let more = many.clone() + "{{#if a}}x{{/if}}";
        assert!(analyze(&more).problem.unwrap().reason.contains("more than"));
        assert!(render_text(&more, &[("a", "1")], false).is_err());
        let variables = "{{a}} ".repeat(20_000);
        assert_eq!(analyze(&variables).problem, None);
        let past = format!("line\n  {}", "{{~ #if a}}".repeat(MAX_BLOCK_NESTING + 1));
        let problem = analyze(&(past.clone() + "{{/if}}")).problem.unwrap();
        assert!(problem.reason.contains("nested more than"), "{problem:?}");
        assert_eq!(problem.position, Some((2, 3 + 11 * MAX_BLOCK_NESTING)));
        assert!(render_text(&past, &[("a", "1")], false).is_err());
        // Unclosed, twenty thousand deep: refused at once, never parsed.
        assert!(analyze(&"{{#each x}}".repeat(20_000)).problem.is_some());
    }

    #[test]
    fn finds_variables_and_helper_arguments() {
        assert_eq!(
            names("Hi {{product}}.\n{{#if vip}}VIP{{else}}{{tier}}{{/if}}"),
            ["product", "vip", "tier"]
        );
        assert_eq!(names("{{#each items}}{{name}}{{/each}}"), ["items"]);
        assert_eq!(names("plain text, no braces"), Vec::<String>::new());
        let uses = analyze("a\n  {{x}}").uses;
        assert_eq!((uses[0].line, uses[0].column), (2, 3));
        assert!(analyze("{{#if x}}unclosed").problem.is_some());
    }

    #[test]
    fn simple_templates_render_from_segments_like_handlebars() {
        let vars: serde_json::Map<String, Value> =
            serde_json::from_str(r#"{"product": "Acme", "n": 1.0, "ok": true}"#).unwrap();
        for text in [
            "Hi {{product}} \\{{literal}} {{n}} {{ok}} {{{product}}} {{!-- note --}}end",
            "no vars at all",
        ] {
            let analysis = analyze(text);
            let ours = render_segments(text, analysis.segments.as_ref().unwrap(), &vars).unwrap();
            let mut registry = handlebars::Handlebars::new();
            registry.set_strict_mode(true);
            registry.register_escape_fn(handlebars::no_escape);
            let theirs = registry.render_template(text, &vars).unwrap();
            assert_eq!(ours, theirs);
        }
        // Text with plain insertions is the scanner's, wherever they sit.
        for text in [
            "Hi {{product}}.",
            "# Title\n\nYou help {{ product }} users.\n{{a}}{{b}} and {x} \\ done",
            "{{product}}",
        ] {
            assert!(simple_scan(text).is_some(), "{text:?} went to handlebars");
        }
        assert!(analyze("{{#if x}}y{{/if}}").segments.is_none());
        assert!(analyze("{{{product}}}").segments.is_some());
        assert!(analyze("{{a.b}}").segments.is_none());
        assert_eq!(
            render_segments(
                "{{missing}}",
                &analyze("{{missing}}").segments.unwrap(),
                &vars
            ),
            None
        );
    }

    /// Wherever the fast scanner answers, it answers exactly as handlebars does.
    #[test]
    fn the_fast_scanner_agrees_with_handlebars() {
        const PIECES: &[&str] = &[
            "text ",
            "{{a}}",
            "{{ b }}",
            "{{c-d}}",
            "{{e_1}}",
            "{",
            "}",
            "}}",
            "{ {",
            "\n",
            "é ",
            "{{a",
            "x}}",
            "{{}}",
            "{{ }}",
            "{{1x}}",
            "{{a b}}",
            "{{{a}}}",
            "{{#if a}}y{{/if}}",
            "\\{{a}}",
            "\\",
            "a\\b",
            "{{!c}}",
            "{{else}}",
        ];
        let vars: serde_json::Map<String, Value> =
            serde_json::from_str(r#"{"a": "A", "b": "B", "c-d": "CD", "e_1": "E"}"#).unwrap();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut agreed = 0;
        for _ in 0..3000 {
            let mut text = String::new();
            for _ in 0..(state % 9) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(PIECES[(state % PIECES.len() as u64) as usize]);
            }
            let Some(fast) = simple_scan(&text) else {
                continue;
            };
            let slow = analyze_with_handlebars(&text);
            assert_eq!(
                slow.problem, None,
                "{text:?}: the scanner accepted what handlebars rejects"
            );
            assert_eq!(fast.uses, slow.uses, "{text:?}");
            let mut registry = handlebars::Handlebars::new();
            registry.set_strict_mode(true);
            registry.register_escape_fn(handlebars::no_escape);
            let theirs = registry.render_template(&text, &vars).ok();
            let ours = render_segments(&text, fast.segments.as_deref().unwrap_or_default(), &vars);
            assert_eq!(ours, theirs, "{text:?}");
            agreed += 1;
        }
        assert!(agreed > 1000, "only {agreed} templates took the fast path");
    }

    #[test]
    fn render_text_gives_what_handlebars_gives() {
        let vars = [("endpoint", "\"$E\""), ("model", "m-1")];
        let json: serde_json::Map<String, Value> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect();
        for text in [
            "run --url {{endpoint}} --model {{ model }}",
            "{{missing}} then {{model}}",
            "{{#if model}}{{model}}{{/if}}",
            "<{{{endpoint}}}> & {{endpoint}}",
            "no placeholders",
        ] {
            for strict in [false, true] {
                let mut registry = handlebars::Handlebars::new();
                registry.set_strict_mode(strict);
                registry.register_escape_fn(handlebars::no_escape);
                let theirs = registry.render_template(text, &json).ok();
                let ours = render_text(text, &vars, strict).ok();
                assert_eq!(ours, theirs, "{text:?}, strict: {strict}");
            }
        }
        assert!(render_text("{{missing}}", &vars, true).is_err());
        assert_eq!(render_text("{{missing}}x", &vars, false).unwrap(), "x");
    }
}
