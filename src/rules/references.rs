//! References between nodes and to files: environments, releases, prompts, datasets,
//! templates; required fields after inheritance; model file layout.

use crate::diag::{Code, Diagnostic, did_you_mean};
use crate::model::{At, Model};
use crate::rules::Context;
use crate::source::{EntryKind, PathError, RepoPath, SourceError};

pub fn check(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    environments(cx, out);
    for model in &cx.models {
        layout(cx, model, out);
        releases(cx, model, out);
        deployments(cx, model, out);
    }
    for target in cx.project().target.values() {
        if let Some(template) = &target.template {
            file_reference(cx, &target.at, "template", template, "template", out);
        }
    }
}

fn environments(cx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    let names: Vec<&str> = cx
        .project()
        .environment
        .keys()
        .map(String::as_str)
        .collect();
    for env in cx.project().environment.values() {
        let Some(after) = &env.after else { continue };
        if !cx.project().environment.contains_key(after)
            && !cx.left_out.environments.contains(after)
        {
            out.push(unknown_environment(cx, &env.at, "after", after, &names));
        }
    }
    // The promotion order is a functional graph (each environment has at most one
    // `after`): walk each chain once, colouring what is done, and report each cycle
    // once, from its smallest member. Linear however long the chains.
    let environments = &cx.project().environment;
    let mut done: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for start in environments.keys() {
        let mut path: Vec<&str> = Vec::new();
        let mut on_path: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        let mut current = Some(start.as_str());
        while let Some(name) = current {
            if done.contains(name) {
                break;
            }
            if let Some(&index) = on_path.get(name) {
                report_environment_cycle(cx, path.get(index..).unwrap_or_default(), out);
                break;
            }
            on_path.insert(name, path.len());
            path.push(name);
            current = environments
                .get(name)
                .and_then(|env| env.after.as_deref())
                .filter(|after| environments.contains_key(after));
        }
        done.extend(path);
    }
}

/// Reports a promotion-order cycle (`cycle[i]` is after `cycle[i + 1]`, the last
/// after the first), written from its smallest member, at that member's `after`.
fn report_environment_cycle(cx: &Context<'_>, cycle: &[&str], out: &mut Vec<Diagnostic>) {
    let Some(smallest) = (0..cycle.len()).min_by_key(|&i| cycle.get(i)) else {
        return;
    };
    let Some(env) = cycle
        .get(smallest)
        .and_then(|name| cx.project().environment.get(name))
    else {
        return;
    };
    let chain = cycle
        .iter()
        .cycle()
        .skip(smallest)
        .take(cycle.len() + 1)
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(" → ");
    out.push(
        Diagnostic::new(
            Code::ReferenceCycle,
            format!("the promotion order is a cycle: {chain}"),
        )
        .with_label(
            cx.spans.field(&env.at, "after"),
            "this `after` closes the cycle",
        )
        .with_help("the first environment of the promotion order has no `after`"),
    );
}

fn unknown_environment(
    cx: &Context<'_>,
    at: &At,
    field: &str,
    name: &str,
    known: &[&str],
) -> Diagnostic {
    let help = match did_you_mean(name, known.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!(
            "define it in modelops.kdl with `environment \"{name}\" {{ … }}`{}",
            if known.is_empty() {
                String::new()
            } else {
                format!(" (defined: {})", known.join(", "))
            }
        ),
    };
    let span = if field.is_empty() {
        cx.spans.name(at)
    } else {
        cx.spans.field(at, field)
    };
    Diagnostic::new(
        Code::UnknownEnvironment,
        format!("environment `{name}` is not defined in modelops.kdl"),
    )
    .with_label(span, "unknown environment")
    .with_help(help)
}

fn layout(cx: &Context<'_>, model: &Model, out: &mut Vec<Diagnostic>) {
    let path = cx.files.path(model.at.file_id());
    let stem = path
        .rsplit('/')
        .next()
        .and_then(|f| f.strip_suffix(".kdl"))
        .unwrap_or_default();
    if stem != model.name {
        out.push(
            Diagnostic::new(
                Code::ModelFileLayout,
                format!("model `{}` is defined in `{path}`", model.name),
            )
            .with_label(
                cx.spans.name(&model.at),
                format!("expected the model to be named `{stem}`"),
            )
            .with_help(format!(
                "rename the file to `models/{}.kdl`, or the model to `{stem}`",
                model.name
            )),
        );
    }
}

fn releases(cx: &Context<'_>, model: &Model, out: &mut Vec<Diagnostic>) {
    let Some(resolved) = cx.releases.get(&model.name) else {
        return;
    };
    for release in resolved.values() {
        // A broken chain was reported already; missing fields would only echo it.
        if release.broken {
            continue;
        }
        let missing: Vec<&str> = [
            ("base", release.base.is_none()),
            ("image", release.image.is_none()),
            ("prompt", release.prompt.is_none()),
        ]
        .iter()
        .filter(|(_, missing)| *missing)
        .map(|(name, _)| *name)
        .collect();
        if !missing.is_empty() {
            let list = missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ");
            out.push(
                Diagnostic::new(
                    Code::MissingField,
                    format!(
                        "release \"{}\" of `{}` has no {list}",
                        release.version, model.name
                    ),
                )
                .with_label(cx.spans.name(&release.at), "defined here")
                .with_help(format!(
                    "give the release {list}, or inherit {} with `from=\"<version>\"`",
                    if missing.len() == 1 { "it" } else { "them" }
                )),
            );
        }
        if let Some(prompt) = &release.prompt {
            prompt_reference(cx, prompt, out);
        }
    }
}

fn prompt_reference(cx: &Context<'_>, prompt: &crate::model::PromptRef, out: &mut Vec<Diagnostic>) {
    // Checking the index: a version the working tree has but the commit would not
    // is one finding, "stage it", whatever else it leaves unresolved.
    if let Some(version) = prompt.version
        && cx
            .prompts
            .get(&prompt.name)
            .is_none_or(|v| !v.contains_key(&version))
        && let Some(path) = cx
            .unstaged
            .and_then(|files| files.get(&(prompt.name.clone(), version)))
    {
        out.push(
            Diagnostic::new(
                Code::UnknownPrompt,
                format!("prompt `{}` v{version} is not staged", prompt.name),
            )
            .with_label(
                cx.spans.field(&prompt.at, "version"),
                format!("`{path}` is in the working tree, not in the commit"),
            )
            .with_help(format!("stage it: `git add {path}`")),
        );
        return;
    }
    let Some(versions) = cx.prompts.get(&prompt.name) else {
        let known: Vec<&str> = cx.prompts.keys().map(String::as_str).collect();
        let help = match did_you_mean(&prompt.name, known.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("create `prompts/{}/v1.md`", prompt.name),
        };
        out.push(
            Diagnostic::new(
                Code::UnknownPrompt,
                format!("prompt `{}` does not exist", prompt.name),
            )
            .with_label(
                cx.spans.field(&prompt.at, "name"),
                format!("no folder `prompts/{}/`", prompt.name),
            )
            .with_help(help),
        );
        return;
    };
    let Some(version) = prompt.version else {
        return;
    };
    if !versions.contains_key(&version) {
        let known = versions
            .keys()
            .map(|v| format!("{v}"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push(
            Diagnostic::new(
                Code::UnknownPrompt,
                format!("prompt `{}` has no version {version}", prompt.name),
            )
            .with_label(
                cx.spans.field(&prompt.at, "version"),
                format!("no `prompts/{}/v{version}.md` or `.txt`", prompt.name),
            )
            .with_help(if known.is_empty() {
                format!("add `prompts/{}/v{version}.md`", prompt.name)
            } else {
                format!("existing versions: {known}")
            }),
        );
    }
}

fn deployments(cx: &Context<'_>, model: &Model, out: &mut Vec<Diagnostic>) {
    let environments: Vec<&str> = cx
        .project()
        .environment
        .keys()
        .map(String::as_str)
        .collect();
    let versions: Vec<&str> = model.release.keys().map(String::as_str).collect();
    for deploy in model.deploy.values() {
        if !cx.project().environment.contains_key(&deploy.environment)
            && !cx.left_out.environments.contains(&deploy.environment)
        {
            out.push(unknown_environment(
                cx,
                &deploy.at,
                "",
                &deploy.environment,
                &environments,
            ));
        }
        let release_ref = |field_at: &At, field: &str, version: &str| {
            (!model.release.contains_key(version) && !cx.left_out.release(&model.name, version))
                .then(|| {
                    Diagnostic::new(
                        Code::UnknownRelease,
                        format!("model `{}` has no release \"{version}\"", model.name),
                    )
                    .with_label(cx.spans.field(field_at, field), "no such release")
                    .with_help(crate::model::help_for_release(version, &versions))
                })
        };
        match &deploy.stable {
            Some(stable) => out.extend(release_ref(&deploy.at, "stable", stable)),
            None => out.push(
                Diagnostic::new(
                    Code::MissingField,
                    format!(
                        "deploy \"{}\" of `{}` has no `stable` release",
                        deploy.environment, model.name
                    ),
                )
                .with_label(cx.spans.name(&deploy.at), "no `stable` here")
                .with_help("name the release serving all traffic: `stable \"<version>\"`"),
            ),
        }
        if let Some(candidate) = deploy.candidate() {
            out.extend(release_ref(candidate.at(), "release", candidate.release()));
        }
        if let (Some(canary), Some(blue_green)) = (&deploy.canary, &deploy.blue_green) {
            out.extend(release_ref(&blue_green.at, "release", &blue_green.release));
            out.push(
                Diagnostic::new(
                    Code::ConflictingNodes,
                    format!(
                        "deploy \"{}\" of `{}` has both a canary and a blue-green candidate",
                        deploy.environment, model.name
                    ),
                )
                .with_label(cx.spans.name(&blue_green.at), "blue-green here")
                .with_label(cx.spans.name(&canary.at), "canary here")
                .with_help(
                    "a deployment moves traffic one way at a time: keep `canary` or `blue-green`",
                ),
            );
        }
        for gate in deploy.gate.values() {
            if let Some(dataset) = &gate.dataset
                && !dataset.is_remote()
            {
                file_reference(cx, &dataset.at, "path", &dataset.path, "dataset", out);
            }
        }
    }
}

/// Checks that a repository file named in the config exists, is a file, and stays
/// inside the repository.
fn file_reference(
    cx: &Context<'_>,
    at: &At,
    field: &str,
    text: &str,
    what: &str,
    out: &mut Vec<Diagnostic>,
) {
    // Spans are looked up only for a finding: most references are fine.
    let span = || cx.spans.field(at, field);
    let escapes = |why: String| {
        Diagnostic::new(
            Code::PathEscapesRepository,
            format!("the {what} path `{text}` leads outside the repository"),
        )
        .with_label(span(), why)
        .with_help(format!(
            "keep the {what} inside the repository and give its path relative to the root"
        ))
    };
    let path = match RepoPath::parse(text) {
        Ok(path) => path,
        Err(PathError::Empty) => {
            out.push(
                Diagnostic::new(Code::MissingFile, format!("the {what} path is empty"))
                    .with_label(span(), "empty path")
                    .with_help(format!(
                        "give the {what}'s path relative to the repository root"
                    )),
            );
            return;
        }
        Err(error) => {
            out.push(escapes(error.to_string()));
            return;
        }
    };
    match cx.source.kind(&path) {
        Ok(Some(EntryKind::File)) => {}
        Ok(Some(_)) => out.push(
            Diagnostic::new(Code::NotAFile, format!("the {what} `{path}` is not a file"))
                .with_label(span(), "a directory, not a file")
                .with_help(format!("point at the {what} file itself")),
        ),
        Ok(None) => out.push(
            Diagnostic::new(
                Code::MissingFile,
                format!("the {what} `{path}` does not exist"),
            )
            .with_label(span(), format!("not found in {}", cx.source.describe()))
            .with_help("add the file, or fix the path (relative to the repository root)"),
        ),
        Err(SourceError::Escapes { target, .. }) => {
            out.push(escapes(format!("a symlink to `{target}`")));
        }
        Err(error) => out.push(
            Diagnostic::new(Code::MissingFile, error.to_string())
                .with_label(span(), "cannot be read")
                .with_help("check the file's permissions"),
        ),
    }
}
