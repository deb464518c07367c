//! The `custom` target: a user's handlebars template, rendered with the resolved data
//! into `generated/custom/<output>`.
//!
//! Registered so that a project may declare it (the rules check its `template=` file
//! exists), but not rendered yet: compiling says so, and the other targets' files are
//! written as usual.

use crate::diag::{Code, Diagnostic};
use crate::model::TargetKind;
use crate::model::target::Driver;
use crate::target::Context;
use crate::target::registry::{Apply, Emitted, Layout, Part, Per, Target};

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
        Emitted {
            files: Default::default(),
            diagnostics: vec![
                Diagnostic::new(
                    Code::TargetNotEmitted,
                    format!(
                        "this version of modelops does not emit the `{}` target yet",
                        declared.name()
                    ),
                )
                .with_label(cx.spans.name(&declared.at), "no files for this target yet")
                .with_help("its files are not generated; the other targets are"),
            ],
        }
    }
}
