//! Prompt files: emptiness, template syntax, and template variables per environment.
//!
//! Prompts are handlebars templates. A variable is a `{{name}}` (or a helper argument
//! such as `{{#if name}}`); it gets its value from the release's `vars`, falling back
//! to the environment's `vars` (release wins). Nothing else in a prompt is interpreted.

use std::collections::{BTreeMap, BTreeSet};

use crate::diag::{Code, Diagnostic, Span};
use crate::model::load::PromptVersion;
use crate::rules::Context;
pub use crate::syntax::template::VariableUse;
use crate::syntax::template::{TemplateProblem, analyze};

/// The variables a template uses, in order of appearance, or why it does not parse.
pub fn template_variables(text: &str) -> Result<Vec<VariableUse>, TemplateProblem> {
    let analysis = analyze(text);
    match analysis.problem {
        Some(problem) => Err(problem),
        None => Ok(analysis.uses),
    }
}

pub fn check(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    // Variables each readable, valid prompt version uses.
    let mut used: BTreeMap<(&str, u32), Vec<VariableUse>> = BTreeMap::new();
    for (name, versions) in &cx.prompts {
        for (version, prompt) in versions {
            let Some(text) = &prompt.text else { continue };
            if text.trim().is_empty() {
                out.push(
                    Diagnostic::new(
                        Code::EmptyPrompt,
                        format!("prompt `{name}` v{version} is empty"),
                    )
                    .with_label(Span::new(prompt.file, 0, text.len()), "no text")
                    .with_help(
                        "write the system prompt, or delete the file if the version was never used",
                    ),
                );
                continue;
            }
            let Some(analysis) = &prompt.analysis else {
                continue;
            };
            match &analysis.problem {
                None => {
                    used.insert((name.as_str(), *version), analysis.uses.clone());
                }
                Some(problem) => out.push(syntax_error(cx, prompt, problem)),
            }
        }
    }
    undefined_variables(cx, &used, out);
    unused_variables(cx, &used, out);
}

fn syntax_error(cx: &Context<'_>, prompt: &PromptVersion, error: &TemplateProblem) -> Diagnostic {
    let text = prompt.text.as_deref().unwrap_or_default();
    let title = format!(
        "prompt `{}` v{} is not a valid template",
        prompt.name, prompt.version
    );
    // The parser reports an unclosed block at the end of the text; the useful place
    // is the block that was opened.
    if let Some((start, end, name)) = unclosed_block(text) {
        return Diagnostic::new(
            Code::TemplateSyntax,
            format!("{title}: `{{{{#{name}}}}}` is never closed"),
        )
        .with_label(Span::new(prompt.file, start, end), "opened here")
        .with_help(format!("close the block with `{{{{/{name}}}}}`"));
    }
    let file = cx.files.get(prompt.file);
    let span = error
        .position
        .and_then(|(line, column)| {
            let file = file?;
            let start = file.offset_of(line, column)?;
            let (_, line_end) = file.line_span(line)?;
            Some(Span::new(prompt.file, start, line_end.max(start)))
        })
        .unwrap_or_else(|| Span::new(prompt.file, 0, 0));
    let reason = error.reason.clone();
    // The grammar's list of expected rules means nothing to a prompt author.
    let reason = if reason.contains("expected ") && reason.contains("expression") {
        "a `{{` does not start a valid expression".to_owned()
    } else {
        reason
    };
    Diagnostic::new(Code::TemplateSyntax, format!("{title}: {reason}"))
        .with_label(span, "the template breaks here")
        .with_help(
            "prompts are handlebars templates: `{{name}}` inserts a variable, `{{#if name}}…{{/if}}` is a block; write `\\{{` for a literal `{{`",
        )
}

/// The last `{{#name …}}` block left open, by a scan of block tags.
fn unclosed_block(text: &str) -> Option<(usize, usize, String)> {
    let mut open: Vec<(usize, usize, String)> = Vec::new();
    let mut rest = 0usize;
    while let Some(found) = text[rest..].find("{{") {
        let start = rest + found;
        let after = &text[start + 2..];
        let end = after.find("}}").map_or(text.len(), |e| start + 2 + e + 2);
        let tag = after.trim_start_matches('~');
        let name = |t: &str| {
            t.split(|c: char| c.is_whitespace() || c == '}' || c == '~')
                .next()
                .unwrap_or_default()
                .to_owned()
        };
        let escaped = start > 0 && text.as_bytes().get(start - 1) == Some(&b'\\');
        if escaped {
            // `\{{` is literal text.
        } else if let Some(block) = tag.strip_prefix('#') {
            open.push((start, end, name(block.trim_start_matches('>'))));
        } else if let Some(close) = tag.strip_prefix('/') {
            let close = name(close);
            if let Some(index) = open.iter().rposition(|(_, _, n)| *n == close) {
                open.truncate(index);
            }
        }
        rest = start + 2;
    }
    open.pop()
}

/// The span of the `{{…}}` expression starting at a line and column of a prompt.
fn use_span(cx: &Context<'_>, prompt: &PromptVersion, use_: &VariableUse) -> Span {
    let Some(file) = cx.files.get(prompt.file) else {
        return Span::new(prompt.file, 0, 0);
    };
    let start = file.offset_of(use_.line, use_.column).unwrap_or(0);
    let end = file.text[start..]
        .find("}}")
        .map_or(start, |i| start + i + 2);
    Span::new(prompt.file, start, end)
}

fn undefined_variables(
    cx: &Context<'_>,
    used: &BTreeMap<(&str, u32), Vec<VariableUse>>,
    out: &mut Vec<Diagnostic>,
) {
    // One diagnostic per (prompt version, variable, environment).
    let mut reported: BTreeSet<(String, u32, String, String)> = BTreeSet::new();
    for (model, deploy) in cx.deployments() {
        let Some(environment) = cx.project().environment.get(&deploy.environment) else {
            continue;
        };
        let mut versions: Vec<(&str, &crate::model::At, &str)> = Vec::new();
        if let Some(stable) = &deploy.stable {
            versions.push((stable.as_str(), &deploy.at, "stable"));
        }
        if let Some(candidate) = deploy.candidate() {
            versions.push((candidate.release(), candidate.at(), "release"));
        }
        for (version, at, field) in versions {
            let Some(release) = cx.release(&model.name, version) else {
                continue;
            };
            let Some(prompt) = cx.prompt_of(release) else {
                continue;
            };
            let Some(uses) = used.get(&(prompt.name.as_str(), prompt.version)) else {
                continue;
            };
            for use_ in uses {
                if release.vars.contains_key(&use_.name)
                    || environment.vars.contains_key(&use_.name)
                {
                    continue;
                }
                let key = (
                    prompt.name.clone(),
                    prompt.version,
                    use_.name.clone(),
                    environment.name.clone(),
                );
                if !reported.insert(key) {
                    continue;
                }
                out.push(
                    Diagnostic::new(
                        Code::UndefinedVariable,
                        format!(
                            "`{{{{{}}}}}` has no value in environment `{}`",
                            use_.name, environment.name
                        ),
                    )
                    .with_label(use_span(cx, prompt, use_), "used here")
                    .with_label(
                        cx.spans.field(at, field),
                        format!("release \"{version}\" of `{}` is deployed here", model.name),
                    )
                    .with_help(format!(
                        "define it in the release (`vars {{ {} \"…\" }}`) or in `environment \"{}\"` in modelops.kdl",
                        use_.name, environment.name
                    )),
                );
            }
        }
    }
}

fn unused_variables(
    cx: &Context<'_>,
    used: &BTreeMap<(&str, u32), Vec<VariableUse>>,
    out: &mut Vec<Diagnostic>,
) {
    let uses_var = |release: &crate::model::ResolvedRelease, var: &str| {
        cx.prompt_of(release)
            .and_then(|p| used.get(&(p.name.as_str(), p.version)))
            .is_some_and(|uses| uses.iter().any(|u| u.name == var))
    };
    // Release vars: used when some release that got the variable from this release
    // (itself, or one inheriting it without overriding it) uses it. One pass over
    // the resolved releases: linear however long the `from=` chains.
    for model in &cx.models {
        let Some(resolved) = cx.releases.get(&model.name) else {
            continue;
        };
        // (the release that set a variable, the variable) → (used by a release that
        // got it, every release that got it has a prompt that can be read).
        let mut got: std::collections::HashMap<(&crate::model::At, &str), (bool, bool)> =
            std::collections::HashMap::new();
        for r in resolved.values() {
            let readable = cx
                .prompt_of(r)
                .is_some_and(|p| used.contains_key(&(p.name.as_str(), p.version)));
            for (var, (_, at)) in r.vars.iter() {
                let entry = got.entry((at, var.as_str())).or_insert((false, true));
                entry.0 |= uses_var(r, var);
                entry.1 &= readable;
            }
        }
        for release in model.release.values() {
            for var in release.vars.keys() {
                // Releases whose prompt cannot be read are not judged.
                let (used_somewhere, judgeable) = got
                    .get(&(&release.at, var.as_str()))
                    .copied()
                    .unwrap_or((false, true));
                if !used_somewhere && judgeable {
                    let vars_at = crate::model::At {
                        file: release.at.file,
                        ptr: release.at.child("vars").as_str().to_owned(),
                    };
                    out.push(
                        Diagnostic::new(
                            Code::UnusedVariable,
                            format!(
                                "variable `{var}` of release \"{}\" is not used by its prompt",
                                release.version
                            ),
                        )
                        .with_label(cx.spans.field_name(&vars_at, var), "defined here")
                        .with_help(format!(
                            "remove `{var}`, or use it in the prompt as `{{{{{var}}}}}`"
                        )),
                    );
                }
            }
        }
    }
    // Environment vars: used when some release deployed there uses the variable.
    for environment in cx.project().environment.values() {
        if environment.vars.is_empty() {
            continue;
        }
        let deployed: Vec<&crate::model::ResolvedRelease> = cx
            .deployments()
            .filter(|(_, d)| d.environment == environment.name)
            .flat_map(|(model, deploy)| {
                deploy
                    .stable
                    .iter()
                    .map(String::as_str)
                    .chain(deploy.candidate().map(|c| c.release()))
                    .filter_map(|v| cx.release(&model.name, v))
                    .collect::<Vec<_>>()
            })
            .collect();
        for var in environment.vars.keys() {
            if !deployed.iter().any(|r| uses_var(r, var)) {
                let vars_at = crate::model::At {
                    file: environment.at.file,
                    ptr: environment.at.child("vars").as_str().to_owned(),
                };
                out.push(
                    Diagnostic::new(
                        Code::UnusedVariable,
                        format!("variable `{var}` of environment `{}` is not used by any prompt deployed there", environment.name),
                    )
                    .with_label(cx.spans.field_name(&vars_at, var), "defined here")
                    .with_help(format!("remove `{var}`, or use it in a prompt as `{{{{{var}}}}}`")),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_unclosed_blocks_where_they_open() {
        assert!(template_variables("{{#if x}}unclosed").is_err());
        let (start, _, name) = unclosed_block("a\n{{#if x}}\n{{#each y}}{{/each}}\n").unwrap();
        assert_eq!((start, name.as_str()), (2, "if"));
        assert_eq!(unclosed_block("{{#if x}}{{/if}} \\{{#if}}"), None);
    }
}
