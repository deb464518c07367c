//! `modelops apply`: apply one state of a deployment from the committed output
//! folder with each target's own mechanism, and verify it.

use std::path::Path;

use crate::runtime::apply::{Event, Failure, Request};

use super::{
    EXIT_ERROR, EXIT_INVALID, EXIT_OK, fail, load_deployment, open_worktree, print_stdout,
};

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The model whose deployment is applied.
    pub model: String,
    /// The environment of the deployment.
    #[arg(long = "env", value_name = "ENV")]
    pub environment: String,
    /// The state to apply: `base` (the Kubernetes objects), `stable-base` (the
    /// controller flavors' bootstrap with the stable release), or a traffic state:
    /// `stable`, `shadow`, `step-<weight>`, `promoted`.
    #[arg(long, value_name = "STATE")]
    pub state: String,
    /// Print each action (target, file, command) and run nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `apply`; returns the exit code.
pub fn run(directory: Option<&Path>, args: &ApplyArgs) -> u8 {
    let worktree = match open_worktree(directory) {
        Ok(worktree) => worktree,
        Err(code) => return code,
    };
    let (checked, model) = match load_deployment(directory, &args.model, &args.environment) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let Some(project) = checked.config.project.as_ref() else {
        return fail(
            "modelops.kdl cannot be read as a project, so its targets are unknown",
            Some("`modelops check` says what is wrong with it"),
        );
    };
    let request = Request {
        root: worktree.root(),
        project,
        model: &model,
        environment: &args.environment,
        state: &args.state,
    };
    let plan = match crate::runtime::apply::plan(&request) {
        Ok(plan) => plan,
        Err(error) => return failed(&error),
    };
    let line = |action: &crate::runtime::apply::Action, step: &crate::runtime::apply::Step| {
        format!("{}: {step}", action.target)
    };
    if args.dry_run {
        for action in &plan.actions {
            for step in &action.steps {
                print_stdout(&line(action, step));
            }
        }
        eprintln!("dry run: nothing was run");
        return EXIT_OK;
    }
    let outcome = crate::runtime::apply::execute(&plan, &mut |event| match event {
        Event::Step(action, step) => print_stdout(&line(action, step)),
        Event::Output(text) => {
            let text = crate::diag::clean::text(text);
            eprint!("{text}");
            if !text.ends_with('\n') {
                eprintln!();
            }
        }
    });
    match outcome {
        Ok(()) => EXIT_OK,
        Err(error) => failed(&error),
    }
}

fn failed(error: &crate::runtime::apply::ApplyError) -> u8 {
    fail(&error.message, error.help.as_deref());
    match error.failure {
        Failure::Refused => EXIT_INVALID,
        Failure::Error => EXIT_ERROR,
    }
}
