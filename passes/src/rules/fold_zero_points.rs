//! `fold-zero-points`: the zero-point terms of integer matmuls and
//! convolutions.
//!
//! `Σ (x − Zx)(w − Zw) = Σ x·w − Zw·Σx − Zx·Σw + K·Zx·Zw`.
//!
//! - `fold-weight-zero-point`: for constant weights, `w − Zw` is computed
//!   at compile time and stored with zero point 0 (in `i8`, when every
//!   value fits; per channel for per-axis weights). Then `Zw = 0`, so the
//!   run-time term `Zw·Σx` and the constant `K·Zx·Zw` vanish, and what
//!   remains of `Zx` is `Zx·Σ(w − Zw)`, one constant per output channel
//!   that the kernel adds to its bias. Exact: the op computes the same
//!   products. Conv padding keeps reading `Zx` (`conv2d_int`'s semantics),
//!   so padded positions still contribute 0.
//! - `row-sums-needed`: asymmetric weights that are not constant need the
//!   row sums `Σx` at run time; the IR has no op to express them, so such
//!   ops stay as they are and the pass says so.
//!
//! The IR has no way either to state that `Zx·Σw` has moved into the bias
//! (`matmul_int` always subtracts `Zx` by its semantics); the pass counts
//! these compile-time terms in its stats for the kernel to fold.

use crate::egraph::{Match, QEGraph, QNode, Reject, Rule, add_const, add_op, entry, guard};
use egg::Id;
use qcc_ir::{ElemType, Op, QuantType, ScalarType, TensorData, TensorType};
use std::sync::Arc;

pub fn rules() -> Vec<Arc<dyn Rule>> {
    vec![Arc::new(FoldWeightZeroPoint), Arc::new(RowSumsNeeded)]
}

/// Matches `matmul_int(x, w[, b])` and `conv2d_int(x, w[, b])` whose
/// weights have a non-zero zero point: `ops = [op]`, `ids = operands`.
fn search_asymmetric(eg: &QEGraph, node: &QNode, constant: bool, out: &mut Vec<Match>) {
    if !matches!(entry(eg, node).op, Op::MatMulInt | Op::Conv2dInt(_)) {
        return;
    }
    let w = &eg[node.children[1]].data;
    let asym = w
        .quant()
        .is_some_and(|q| q.zero_points.iter().any(|&z| z != 0));
    if asym && w.konst.is_some() == constant {
        out.push(Match {
            ops: vec![node.op],
            ids: node.children.iter().map(|&c| eg.find(c)).collect(),
        });
    }
}

#[derive(Debug)]
pub struct FoldWeightZeroPoint;

impl Rule for FoldWeightZeroPoint {
    fn name(&self) -> &'static str {
        "fold-weight-zero-point"
    }

    fn reports(&self) -> bool {
        true
    }

    fn search(&self, eg: &QEGraph, node: &QNode, out: &mut Vec<Match>) {
        search_asymmetric(eg, node, true, out);
    }

    fn apply(&self, eg: &mut QEGraph, m: &Match) -> Result<Id, Reject> {
        let root = eg.analysis.table.get(m.ops[0]).clone();
        let w = m.ids[1];
        let wty = eg[w].data.ty.clone();
        let qw = wty
            .elem
            .as_quant()
            .cloned()
            .ok_or_else(|| Reject::new("typing", "w not quantized"))?;
        let data =
            super::const_ints(eg, w).ok_or_else(|| Reject::new("constant", "w is not constant"))?;
        // The channel of element i: matmul_int's w [K, N] per axis 1,
        // conv2d_int's w [O, ...] per axis 0.
        let channel = |i: usize| -> usize {
            match qw.axis {
                None => 0,
                Some(a) => {
                    let inner: usize = wty.shape[a + 1..].iter().product();
                    (i / inner) % wty.shape[a]
                }
            }
        };
        let folded: Vec<i64> = data
            .iter()
            .enumerate()
            .map(|(i, &v)| v - qw.zero_point(channel(i)))
            .collect();
        let (lo, hi) = (
            folded.iter().copied().min().unwrap_or(0),
            folded.iter().copied().max().unwrap_or(0),
        );
        guard("fits-i8", lo >= -128 && hi <= 127, || {
            format!(
                "w − Zw spans {lo}..={hi}, which does not fit in i8; the weights keep their zero point"
            )
        })?;
        let q = QuantType {
            storage: ScalarType::I8,
            storage_min: -128,
            storage_max: 127,
            axis: qw.axis,
            scales: qw.scales.clone(),
            zero_points: vec![0; qw.zero_points.len()],
        };
        let td = TensorData::from_i64s(ScalarType::I8, &folded)
            .map_err(|e| Reject::new("fits-i8", e.to_string()))?;
        let w2 = add_const(
            eg,
            td,
            TensorType::new(wty.shape.clone(), ElemType::quant(q)),
        );
        let mut args = m.ids.clone();
        args[1] = w2;
        let _ = &root;
        add_op(eg, root.op.clone(), &args, None)
    }
}

#[derive(Debug)]
pub struct RowSumsNeeded;

impl Rule for RowSumsNeeded {
    fn name(&self) -> &'static str {
        "row-sums-needed"
    }

    fn reports(&self) -> bool {
        true
    }

    fn search(&self, eg: &QEGraph, node: &QNode, out: &mut Vec<Match>) {
        search_asymmetric(eg, node, false, out);
    }

    fn apply(&self, _eg: &mut QEGraph, _m: &Match) -> Result<Id, Reject> {
        Err(Reject::new(
            "ir-has-no-row-sum-op",
            "the weights are not constant and have a non-zero zero point: Zw·Σx needs the row \
             sums of x at run time, which the IR cannot express; left unfolded",
        ))
    }
}
