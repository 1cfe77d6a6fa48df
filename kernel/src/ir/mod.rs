//! The registry (KERNEL.md §3): the data model, its two syntaxes (KDL IR and JSON) and the graph
//! check every syntax goes through.

pub mod build;
pub mod emit;
pub mod json;
pub mod kdl;
pub mod model;

pub use build::ContextDecl;
pub use model::*;
