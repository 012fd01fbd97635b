//! `pick-layout`: constant weights in the layout the target's dot-product
//! kernels read (`qcc_ir::layout`), packed at compile time.
//!
//! - `pack-weights`: for `matmul_int(x, w[, b])` and `conv2d_int(x, w[, b])`
//!   (`groups = 1`) whose weights `w` are a row-major `i8` constant, adds
//!   the same op reading `w` packed in the target's preferred layout
//!   (`qcc_ir::target::preferred_layout`) to the op's
//!   e-class (the packed constant is a new class: hash-consing makes one
//!   packed copy of a weight that several ops read alike). The cost model
//!   (`egraph::cost`) charges a weight in another layout than the preferred
//!   one, so extraction picks the packed alternative. Guards: `target` (a
//!   portable target keeps row-major), `kernel-reads-it` (8-bit-or-narrower
//!   per-tensor activations, `i8` weights: what the JIT's GEMM takes; other
//!   ops run on the generic loops, which read row-major).
//!
//! Exact: a layout orders the stored bytes, never changes a value
//! (`docs/semantics.md`). Per-channel parameters (per-axis scales and zero
//! points, the bias) stay in logical channel order: they index the logical
//! `N` axis, which the type keeps, and the JIT pads its per-column tables
//! to the panels itself. Runs last in the default pipeline, after
//! `fold-constants` has made the weights final; a pass after it still sees
//! the weights in logical order (`ClassData::const_data`).

use crate::egraph::{Match, QEGraph, QNode, Reject, Rule, add_checked, add_stored_const, entry};
use egg::Id;
use qcc_ir::Op;
use qcc_ir::target::preferred_layout;
use std::sync::Arc;

pub fn rules() -> Vec<Arc<dyn Rule>> {
    vec![Arc::new(PackWeights)]
}

#[derive(Debug)]
pub struct PackWeights;

impl Rule for PackWeights {
    fn name(&self) -> &'static str {
        "pack-weights"
    }

    fn search(&self, eg: &QEGraph, node: &QNode, out: &mut Vec<Match>) {
        let e = entry(eg, node);
        if !matches!(e.op, Op::MatMulInt(_) | Op::Conv2dInt(..)) || node.children.len() < 2 {
            return;
        }
        let w = &eg[node.children[1]].data;
        if w.konst.is_some() && !w.ty.layout.is_packed() {
            out.push(Match::node(eg, node));
        }
    }

    fn apply(&self, eg: &mut QEGraph, m: &Match) -> Result<Id, Reject> {
        let root = eg.analysis.table.get(m.ops[0]).clone();
        let (x, w) = (m.ids[0], m.ids[1]);
        let wty = eg[w].data.ty.clone();
        let layout = preferred_layout(eg.analysis.target, &root.op, &eg[x].data.ty, &wty, &root.ty)
            .map_err(|r| Reject::new(r.guard, r.detail))?;
        let logical = eg[w]
            .data
            .const_data()
            .ok_or_else(|| Reject::new("constant", "w is not constant"))?;
        let data = qcc_ir::layout::pack(layout, &wty.shape, logical)
            .ok_or_else(|| Reject::new("kernel-reads-it", "the weights do not pack"))?;
        let packed = add_stored_const(eg, data, wty.with_layout(layout));
        let mut args = m.ids.clone();
        args[1] = packed;
        add_checked(eg, root.op.clone(), &args, root.ty.clone())
    }
}
