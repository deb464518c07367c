//! modelops: a compiler and validator for model configuration kept as code.
//!
//! The pipeline, one module per stage: [`source`] (where bytes come from) →
//! [`syntax`] (KDL → spanned JSON view) → [`schema`] → [`model`] (typed, resolved) →
//! [`rules`] → outputs. [`diag`] is the one diagnostics facade.

pub mod audit;
pub mod cache;
pub mod check;
pub mod cli;
pub mod compile;
pub mod diag;
pub mod docs;
pub mod emit;
pub mod fmt;
pub mod gate;
pub mod guard;
pub mod http;
pub mod init;
pub mod inspect;
pub mod load;
pub mod lock;
pub mod model;
pub mod resolve;
pub mod rules;
pub mod schema;
pub mod source;
pub mod syntax;
pub mod write;
