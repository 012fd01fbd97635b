//! The text format: a logos lexer, a hand-written parser with spans on every
//! token, and the canonical printer. The grammar is in `docs/format.md`.
//!
//! Parsing runs in two stages, as in naga's WGSL front end:
//! - [`parser`] turns tokens ([`lexer`]) into a syntax tree with a span on
//!   every piece; it knows only the grammar and stops at the first syntax
//!   error;
//! - [`lower`] resolves names, aliases and op names, converts literals,
//!   checks attributes and quantized types, loads constant data and builds
//!   the [`Graph`]; it collects every error it finds.
//!
//! [`ops`] is the op table (attribute names, kinds and defaults) shared by
//! the lowering and the [`printer`].

mod lexer;
mod lower;
mod ops;
mod parser;
pub(crate) mod printer;
#[cfg(test)]
mod tests;

use crate::diag::Diagnostic;
use crate::graph::Graph;
use std::path::Path;

/// Parses a graph. `base_dir` is the folder that `dense_file<"...">` paths are
/// relative to (the graph file's folder); `None` refuses external files.
/// Returns every diagnostic found (at least one on failure).
pub fn parse(source: &str, base_dir: Option<&Path>) -> Result<Graph, Vec<Diagnostic>> {
    let file = parser::parse_file(source).map_err(|d| vec![d])?;
    lower::lower(&file, base_dir)
}

/// Prints a graph in canonical form (see `docs/format.md`).
pub fn print(graph: &Graph) -> String {
    printer::print(graph)
}
