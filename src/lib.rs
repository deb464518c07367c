//! modelops: a compiler and validator for model configuration kept as code.
//!
//! The modules follow the data: [`source`] (where bytes come from) → [`syntax`] (KDL →
//! spanned JSON view) → [`schema`] → [`model`] (typed, inherited; [`model::load`] runs
//! these first stages file by file) → [`rules`] → [`resolve`] (hashes, rendered
//! prompts, fingerprints) → [`lock`] → [`check`] (the validation pipeline end to end)
//! → [`emit`] (one module per target) → [`compile`] (writing the output folder) →
//! [`runtime`] (`gate`, `guard`) → [`commands`] and [`cli`]. [`diag`] is the one
//! diagnostics facade; [`layout`] names the repository's files and limits; [`audit`]
//! answers questions from git history.

pub mod audit;
pub mod check;
pub mod cli;
pub mod commands;
pub mod diag;
pub mod docs;
pub mod layout;
pub mod lock;
pub mod model;
pub mod output;
pub mod resolve;
pub mod rules;
pub mod runtime;
pub mod schema;
pub mod source;
pub mod syntax;
pub mod target;
