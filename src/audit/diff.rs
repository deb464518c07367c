//! `modelops diff [FROM [TO]]`: what changes between two revisions of the config, by
//! comparing the resolved models (not the text), and which pipeline stages the change
//! triggers. Both sides load through the same `Source` pipeline as `check`: a git
//! revision's tree (read without a checkout) or the working tree.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::check::Checked;
use crate::model::{Candidate, Deploy, Model, ResolvedRelease};

/// One field that changed: its name, the old and the new value (as written).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FieldChange {
    pub field: String,
    pub old: String,
    pub new: String,
}

/// How one model's deployment in one environment changed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DeploymentChange {
    pub environment: String,
    pub changes: Vec<FieldChange>,
    /// A unified diff of the rendered prompt of the release taking new traffic.
    pub prompt_diff: Option<String>,
    /// What the change sets in motion.
    pub triggers: Vec<String>,
}

/// How one model changed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ModelChange {
    pub model: String,
    /// `added`, `removed` or `changed`.
    pub status: &'static str,
    pub releases_added: Vec<String>,
    pub releases_removed: Vec<String>,
    pub releases_changed: BTreeMap<String, Vec<FieldChange>>,
    pub deployments: Vec<DeploymentChange>,
}

/// The whole comparison.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DiffReport {
    pub from: String,
    pub to: String,
    pub targets_added: Vec<String>,
    pub targets_removed: Vec<String>,
    pub models: Vec<ModelChange>,
}

fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn release_fields(release: &ResolvedRelease) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    if let Some(base) = &release.base {
        fields.insert("base".into(), base.id.clone());
        if let Some(revision) = &base.revision {
            fields.insert("base revision".into(), revision.clone());
        }
    }
    if let Some((image, _)) = &release.image {
        fields.insert("image".into(), image.clone());
    }
    if let Some(prompt) = &release.prompt {
        fields.insert(
            "prompt".into(),
            format!(
                "{} v{}",
                prompt.name,
                prompt.version.map_or("?".into(), |v| v.to_string())
            ),
        );
    }
    for (key, (value, _)) in &release.params {
        fields.insert(format!("params.{key}"), show(value));
    }
    for (key, (value, _)) in &release.vars {
        fields.insert(format!("vars.{key}"), show(value));
    }
    for secret in release.secrets.values() {
        fields.insert(
            format!("secret.{}", secret.name),
            format!("{}/{}", secret.from, secret.key),
        );
    }
    fields
}

fn compare(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Vec<FieldChange> {
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter_map(|key| {
            let (o, n) = (old.get(key), new.get(key));
            (o != n).then(|| FieldChange {
                field: key.clone(),
                old: o.cloned().unwrap_or_else(|| "—".into()),
                new: n.cloned().unwrap_or_else(|| "—".into()),
            })
        })
        .collect()
}

/// The rollout plan of a deployment as comparable fields.
fn plan_fields(deploy: &Deploy) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    match deploy.candidate() {
        Some(Candidate::Canary(canary)) => {
            let steps: Vec<String> = canary
                .step
                .iter()
                .map(|s| match s.pause {
                    Some(p) => format!("{}%/{p}", s.weight),
                    None => format!("{}%", s.weight),
                })
                .collect();
            fields.insert("steps".into(), steps.join(" → "));
        }
        Some(Candidate::BlueGreen(b)) => {
            fields.insert(
                "preview".into(),
                b.preview.map(|p| p.to_string()).unwrap_or_default(),
            );
            fields.insert(
                "keep-old".into(),
                b.keep_old.map(|p| p.to_string()).unwrap_or_default(),
            );
        }
        None => {}
    }
    if let Some(shadow) = deploy.candidate().and_then(|c| c.shadow()) {
        fields.insert(
            "shadow".into(),
            format!("{} at {}%", shadow.duration, shadow.percent()),
        );
    }
    for guard in deploy.guard.values() {
        let limit = guard
            .max
            .map(|m| format!("max {m}"))
            .or_else(|| guard.min.map(|m| format!("min {m}")))
            .unwrap_or_default();
        fields.insert(
            format!("guard.{}", guard.name),
            format!("{limit} every {} ×{}", guard.interval(), guard.failures()),
        );
    }
    for gate in deploy.gate.values() {
        fields.insert(
            format!("gate.{}", gate.name),
            format!(
                "{} on {} judged by {}, max {}",
                gate.metric.name,
                gate.dataset.as_ref().map_or("—", |d| d.path.as_str()),
                gate.judge.as_deref().unwrap_or("—"),
                gate.max_regression
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "environment's".into())
            ),
        );
    }
    if let Some(replicas) = deploy.replicas {
        fields.insert("replicas".into(), replicas.to_string());
    }
    fields
}

fn candidate_label(deploy: &Deploy) -> String {
    deploy
        .candidate()
        .map(|c| format!("{} {}", c.kind(), c.release()))
        .unwrap_or_else(|| "none".into())
}

fn release_hash(side: &Checked, model: &str, version: &str) -> Option<String> {
    side.resolution
        .as_ref()?
        .releases
        .get(&(model.to_owned(), version.to_owned()))
        .cloned()
}

fn rendered(side: &Checked, model: &str, environment: &str) -> Option<String> {
    let plan = side
        .resolution
        .as_ref()?
        .deployments
        .iter()
        .find(|d| d.model == model && d.environment == environment)?;
    // The release taking new traffic: the candidate, else stable.
    plan.tracks.last()?.rendered_prompt.clone()
}

fn deployment_change(
    old: &Checked,
    new: &Checked,
    model: &str,
    a: &Deploy,
    b: &Deploy,
) -> Option<DeploymentChange> {
    let mut changes = Vec::new();
    if a.stable != b.stable {
        changes.push(FieldChange {
            field: "stable".into(),
            old: a.stable.clone().unwrap_or_default(),
            new: b.stable.clone().unwrap_or_default(),
        });
    }
    let (old_candidate, new_candidate) = (candidate_label(a), candidate_label(b));
    if old_candidate != new_candidate {
        changes.push(FieldChange {
            field: "candidate".into(),
            old: old_candidate,
            new: new_candidate,
        });
    }
    let plan_changes = compare(&plan_fields(a), &plan_fields(b));
    // Content: does any track now run different bytes than before?
    let running = |side: &Checked, deploy: &Deploy| -> BTreeSet<Option<String>> {
        deploy
            .stable
            .iter()
            .map(String::as_str)
            .chain(deploy.candidate().map(|c| c.release()))
            .map(|v| release_hash(side, model, v))
            .collect()
    };
    let content_changed = running(old, a) != running(new, b);
    let prompt_diff = match (
        rendered(old, model, &a.environment),
        rendered(new, model, &b.environment),
    ) {
        (Some(x), Some(y)) if x != y => Some(crate::output::write::unified_diff(
            &x,
            &y,
            "prompt (before)",
            "prompt (after)",
        )),
        _ => None,
    };
    changes.extend(plan_changes.iter().cloned());
    if changes.is_empty() && !content_changed {
        return None;
    }
    let mut triggers = Vec::new();
    let old_stables: BTreeSet<&String> = old
        .config
        .models
        .iter()
        .filter(|m| m.name == model)
        .flat_map(|m| m.release.keys())
        .collect();
    // Back to a release that already existed and was not the candidate being promoted.
    let rolled_back = b.candidate().is_none()
        && a.stable != b.stable
        && b.stable.as_ref().is_some_and(|s| old_stables.contains(s))
        && a.candidate().map(|c| c.release()) != b.stable.as_deref();
    if rolled_back {
        triggers.push("stable moved back to a released version → rollback fast path: apply the `stable` traffic state, no eval".to_owned());
    } else if content_changed && b.candidate().is_some() {
        let what = if prompt_diff.is_some() {
            "prompt changed"
        } else {
            "release content changed"
        };
        triggers.push(format!(
            "{what} → full pipeline: smoke, eval gate, shadow, canary steps, promotion"
        ));
    } else if content_changed {
        triggers.push("stable content changed without a candidate → the pods roll with no gate; prefer a canary".to_owned());
    } else if !plan_changes.is_empty() {
        triggers.push("only the rollout plan changed (steps, guards, shadow) → no eval; traffic states are regenerated".to_owned());
    }
    Some(DeploymentChange {
        environment: b.environment.clone(),
        changes,
        prompt_diff,
        triggers,
    })
}

fn model_change(
    old: &Checked,
    new: &Checked,
    a: Option<&Model>,
    b: Option<&Model>,
) -> Option<ModelChange> {
    let name = a.or(b)?.name.clone();
    let releases = |side: &Checked| side.config.releases.get(&name).cloned().unwrap_or_default();
    let (old_releases, new_releases) = (releases(old), releases(new));
    let releases_added: Vec<String> = new_releases
        .keys()
        .filter(|k| !old_releases.contains_key(k))
        .cloned()
        .collect();
    let releases_removed: Vec<String> = old_releases
        .keys()
        .filter(|k| !new_releases.contains_key(k))
        .cloned()
        .collect();
    let mut releases_changed = BTreeMap::new();
    for (version, release) in &new_releases {
        if let Some(before) = old_releases.get(version) {
            let changes = compare(&release_fields(before), &release_fields(release));
            let content = release_hash(old, &name, version) != release_hash(new, &name, version);
            if !changes.is_empty() {
                releases_changed.insert(version.clone(), changes);
            } else if content {
                releases_changed.insert(
                    version.clone(),
                    vec![FieldChange {
                        field: "prompt content".into(),
                        old: "as locked".into(),
                        new: "changed".into(),
                    }],
                );
            }
        }
    }
    let mut deployments = Vec::new();
    let environments: BTreeSet<String> = a
        .iter()
        .chain(b.iter())
        .flat_map(|m| m.deploy.keys().cloned())
        .collect();
    for environment in environments {
        let (x, y) = (
            a.and_then(|m| m.deploy.get(&environment)),
            b.and_then(|m| m.deploy.get(&environment)),
        );
        match (x, y) {
            (Some(x), Some(y)) => deployments.extend(deployment_change(old, new, &name, x, y)),
            (None, Some(y)) => deployments.push(DeploymentChange {
                environment,
                changes: vec![FieldChange {
                    field: "deployment".into(),
                    old: "—".into(),
                    new: format!("stable {}", y.stable.clone().unwrap_or_default()),
                }],
                prompt_diff: None,
                triggers: vec!["new deployment → deploy job".into()],
            }),
            (Some(x), None) => deployments.push(DeploymentChange {
                environment,
                changes: vec![FieldChange {
                    field: "deployment".into(),
                    old: format!("stable {}", x.stable.clone().unwrap_or_default()),
                    new: "—".into(),
                }],
                prompt_diff: None,
                triggers: vec!["deployment removed → its generated files disappear".into()],
            }),
            (None, None) => {}
        }
    }
    let status = match (a, b) {
        (None, Some(_)) => "added",
        (Some(_), None) => "removed",
        _ => "changed",
    };
    if status == "changed"
        && releases_added.is_empty()
        && releases_removed.is_empty()
        && releases_changed.is_empty()
        && deployments.is_empty()
    {
        return None;
    }
    Some(ModelChange {
        model: name,
        status,
        releases_added,
        releases_removed,
        releases_changed,
        deployments,
    })
}

/// Compares two checked sides.
pub fn diff(old: &Checked, new: &Checked, from: &str, to: &str) -> DiffReport {
    let names: BTreeSet<&String> = old
        .config
        .models
        .iter()
        .chain(new.config.models.iter())
        .map(|m| &m.name)
        .collect();
    let models = names
        .into_iter()
        .filter_map(|name| {
            model_change(
                old,
                new,
                old.config.models.iter().find(|m| &m.name == name),
                new.config.models.iter().find(|m| &m.name == name),
            )
        })
        .collect();
    let targets = |side: &Checked| -> BTreeSet<String> {
        side.config
            .project
            .as_ref()
            .map(|p| p.target.keys().cloned().collect())
            .unwrap_or_default()
    };
    let (t_old, t_new) = (targets(old), targets(new));
    DiffReport {
        from: from.to_owned(),
        to: to.to_owned(),
        targets_added: t_new.difference(&t_old).cloned().collect(),
        targets_removed: t_old.difference(&t_new).cloned().collect(),
        models,
    }
}

impl DiffReport {
    pub fn is_empty(&self) -> bool {
        self.models.is_empty() && self.targets_added.is_empty() && self.targets_removed.is_empty()
    }

    pub fn human(&self) -> String {
        let mut out = format!("modelops diff {} → {}\n", self.from, self.to);
        if self.is_empty() {
            out.push_str("no changes to models, deployments or targets\n");
            return out;
        }
        for target in &self.targets_added {
            out.push_str(&format!("+ target {target}\n"));
        }
        for target in &self.targets_removed {
            out.push_str(&format!("- target {target}\n"));
        }
        for model in &self.models {
            out.push_str(&format!("\nmodel {} ({})\n", model.model, model.status));
            for r in &model.releases_added {
                out.push_str(&format!("  + release {r}\n"));
            }
            for r in &model.releases_removed {
                out.push_str(&format!("  - release {r}\n"));
            }
            for (version, changes) in &model.releases_changed {
                out.push_str(&format!("  ~ release {version}\n"));
                for c in changes {
                    out.push_str(&format!("      {}: {} → {}\n", c.field, c.old, c.new));
                }
            }
            for d in &model.deployments {
                out.push_str(&format!("  deploy {}\n", d.environment));
                for c in &d.changes {
                    out.push_str(&format!("      {}: {} → {}\n", c.field, c.old, c.new));
                }
                if let Some(diff) = &d.prompt_diff {
                    for line in diff.lines() {
                        out.push_str(&format!("      {line}\n"));
                    }
                }
                for t in &d.triggers {
                    out.push_str(&format!("    ⇒ {t}\n"));
                }
            }
        }
        out
    }

    /// Markdown for a pull-request comment.
    /// The report as GitHub-flavoured Markdown. Values sit in code spans and the
    /// prompt diff in a fenced block, each delimited by more backticks than it holds,
    /// so no value can end its span or fence and be read as Markdown or HTML.
    pub fn markdown(&self) -> String {
        let mut out = format!("### modelops diff `{}` → `{}`\n\n", self.from, self.to);
        if self.is_empty() {
            out.push_str("No changes to models, deployments or targets.\n");
            return out;
        }
        for target in &self.targets_added {
            out.push_str(&format!("- target `{target}` added\n"));
        }
        for target in &self.targets_removed {
            out.push_str(&format!("- target `{target}` removed\n"));
        }
        let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        for model in &self.models {
            out.push_str(&format!("\n#### `{}` ({})\n\n", model.model, model.status));
            let mut rows = Vec::new();
            for r in &model.releases_added {
                rows.push(format!("| release {r} | — | added |"));
            }
            for r in &model.releases_removed {
                rows.push(format!("| release {r} | removed | — |"));
            }
            for (version, changes) in &model.releases_changed {
                for c in changes {
                    rows.push(format!(
                        "| release {version}: {} | {} | {} |",
                        cell(&c.field),
                        code_span(&cell(&c.old)),
                        code_span(&cell(&c.new))
                    ));
                }
            }
            for d in &model.deployments {
                for c in &d.changes {
                    rows.push(format!(
                        "| {} {} | {} | {} |",
                        d.environment,
                        cell(&c.field),
                        code_span(&cell(&c.old)),
                        code_span(&cell(&c.new))
                    ));
                }
            }
            if !rows.is_empty() {
                out.push_str("| what | before | after |\n|---|---|---|\n");
                for row in rows {
                    out.push_str(&row);
                    out.push('\n');
                }
            }
            for d in &model.deployments {
                for t in &d.triggers {
                    out.push_str(&format!("\n**{}**: {t}\n", d.environment));
                }
                if let Some(diff) = &d.prompt_diff {
                    // A fence longer than any run of backticks in the diff: a prompt
                    // line cannot close it.
                    let fence = "`".repeat(longest_run(diff, '`').max(2) + 1);
                    out.push_str(&format!("\n<details><summary>prompt diff ({})</summary>\n\n{fence}diff\n{diff}{fence}\n\n</details>\n", d.environment));
                }
            }
        }
        out
    }

    pub fn json(&self) -> Value {
        json!(self)
    }
}

/// The longest run of `c` in `text`.
fn longest_run(text: &str, c: char) -> usize {
    let (mut longest, mut current) = (0, 0);
    for x in text.chars() {
        current = if x == c { current + 1 } else { 0 };
        longest = longest.max(current);
    }
    longest
}

/// `text` as a Markdown code span: delimited by one backtick more than its longest
/// run, padded with spaces when it starts or ends with one.
fn code_span(text: &str) -> String {
    let ticks = "`".repeat(longest_run(text, '`') + 1);
    if text.starts_with('`') || text.ends_with('`') {
        format!("{ticks} {text} {ticks}")
    } else {
        format!("{ticks}{text}{ticks}")
    }
}
