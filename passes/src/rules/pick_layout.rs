//! `pick-layout`: constant weights in the layout the target's dot-product
//! kernels read (`qcc_ir::layout`), packed at compile time.
//!
//! - `pack-weights`: for `matmul_int(x, w[, b])` and `conv2d_int(x, w[, b])`
//!   (`groups = 1`) whose weights `w` are a row-major `i8` constant, adds
//!   the same op reading `w` packed in [`preferred_layout`] to the op's
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

use crate::LayoutTarget;
use crate::egraph::{
    Match, QEGraph, QNode, Reject, Rule, add_checked, add_stored_const, entry, guard,
};
use egg::Id;
use qcc_ir::{Layout, Op, ScalarType, TensorType};
use std::sync::Arc;

pub fn rules() -> Vec<Arc<dyn Rule>> {
    vec![Arc::new(PackWeights)]
}

/// Whether the JIT runs a GEMM of `m × k × n` on AMX tiles (else on the
/// VNNI micro-kernels): the rule of `qcc_codegen`'s `amx_gemm_pays`, kept
/// equal to it by a test in `testsuite/tests/jit_layout.rs`.
pub fn amx_gemm_pays(m: usize, k: usize, n: usize) -> bool {
    m >= 8 && k >= 48 && m.saturating_mul(k).saturating_mul(n) >= 1 << 18
}

/// The layout `target`'s kernels read the weights `w` of `op` in, for
/// activations `x` and the result `y`; row-major where they read no packed
/// layout. A `Reject` names the guard that keeps row-major.
pub fn preferred_layout(
    target: LayoutTarget,
    op: &Op,
    x: &TensorType,
    w: &TensorType,
    y: &TensorType,
) -> Result<Layout, Reject> {
    let conv = match op {
        Op::MatMulInt(_) => false,
        Op::Conv2dInt(a, _) if a.groups == 1 => true,
        _ => {
            return Err(Reject::new(
                "op",
                "not a matmul_int or a conv2d_int of one group",
            ));
        }
    };
    guard("target", target != LayoutTarget::Portable, || {
        "the portable target reads row-major weights".into()
    })?;
    let x_ok = matches!(
        x.elem.storage(),
        ScalarType::U8 | ScalarType::I8 | ScalarType::U4 | ScalarType::I4
    ) && x.elem.as_quant().is_none_or(|q| !q.is_per_axis());
    guard(
        "kernel-reads-it",
        x_ok && w.elem.storage() == ScalarType::I8 && y.elem.int_range().is_some(),
        || {
            format!(
                "the GEMM kernels take 8-bit per-tensor activations and i8 weights, not `{}` × `{}`",
                x.elem, w.elem
            )
        },
    )?;
    let geo = Layout::panels(conv, 4)
        .geometry(&w.shape)
        .ok_or_else(|| Reject::new("kernel-reads-it", "weights of the wrong rank"))?;
    // Rows of the GEMM: matmul x [..., M, K]; conv N·OH·OW (y is [N, O, OH, OW]).
    let rows = y.num_elements().unwrap_or(0) / geo.n.max(1);
    let k_align = if target == LayoutTarget::Amx && amx_gemm_pays(rows, geo.k, geo.n) {
        64
    } else {
        4
    };
    Ok(Layout::panels(conv, k_align))
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
        let layout =
            preferred_layout(eg.analysis.target, &root.op, &eg[x].data.ty, &wty, &root.ty)?;
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
