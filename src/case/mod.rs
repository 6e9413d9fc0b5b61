//! Case files: the model, the YAML parser, load-time validation, matchers and templates.

pub mod builtin;
pub mod load;
pub mod matcher;
pub mod model;
pub mod parse;
pub mod template;
pub mod unresolved;
pub mod validate;

pub use load::{CaseRoot, Suite, load, load_from};
pub use model::Case;
