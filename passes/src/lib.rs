//! qcc's rewrite passes (e-graph rewrites with `egg`, pass manager,
//! pipelines). Not written yet: see the issue "E-graph rewrite passes that
//! turn QDQ graphs into integer-only graphs". Today the only pipeline is the
//! empty one.

#![forbid(unsafe_code)]

use qcc_ir::Graph;

/// Runs the default pipeline. Today: no passes, the graph is returned as is.
pub fn run_default_pipeline(graph: Graph) -> Graph {
    graph
}
