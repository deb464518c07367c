//! Output formats for diagnostics: one file per format.

mod human;
mod json;

pub use human::{HumanOptions, render_human};
pub use json::{json_diagnostic, render_json};
