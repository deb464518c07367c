//! Output formats for diagnostics: one file per format.

mod excerpt;
mod github;
mod human;
mod json;
mod sarif;

pub use github::render_github;
pub use human::{HumanOptions, render_human};
pub use json::{json_diagnostic, render_json};
pub use sarif::{render_sarif, render_sarif_suppressed};
