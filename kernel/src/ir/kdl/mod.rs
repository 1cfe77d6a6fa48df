//! The KDL IR parser (KERNEL.md §3; the grammar is documented in `docs/IR.md`): KDL IR text in,
//! a checked [`Registry`] out.
//!
//! Three steps, one file each:
//! - `syntax.rs` reads the text as a generic KDL v2 document (nodes, entries, values, byte
//!   offsets); it knows nothing of the IR.
//! - `walk.rs` walks those nodes into the registry model, enforcing the IR's node, property and
//!   children rules.
//! - [`Registry::build`] then resolves names, refuses duplicates and checks the graph; its
//!   `InvalidRegistry` error is passed through unchanged (the JSON form goes through it too).
//!
//! Every problem found by the first two steps is an [`ErrorCode::InvalidIr`] error whose message
//! says what is wrong and where, and whose `details` is `{"line": L, "column": C}` (1-based; the
//! column counts Unicode scalar values). Parsing stops at the first problem.
//!
//! Nothing here indexes, unwraps or recurses without bound on input: every input yields `Ok` or
//! `Err`, never a panic or a stack overflow, either of which would trap the component instance.
//!
//! [`ErrorCode::InvalidIr`]: crate::error::ErrorCode::InvalidIr

mod syntax;
#[cfg(test)]
mod tests;
mod walk;

use super::model::Registry;
use crate::error::Result;

/// The newest IR version this kernel reads: it reads every version from 1 to this one, and
/// writes the lowest that expresses a registry ([`Registry::ir_version`]).
pub const IR_VERSION: u64 = 2;

impl Registry {
    /// Parse KDL IR text (`mizan-ir version=1` …) into a checked registry.
    pub fn from_kdl(text: &str) -> Result<Registry> {
        let src = walk::Source { text };
        let nodes = syntax::parse(text)
            .map_err(|e| src.error(e.pos, format_args!("KDL syntax error: {}", e.message)))?;
        src.document(&nodes)
    }
}
