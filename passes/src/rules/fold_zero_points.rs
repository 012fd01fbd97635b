//! `fold-zero-points`: the zero-point terms of integer matmuls and
//! convolutions.
//!
//! `Σ (x − Zx)(w − Zw) = Σ x·w − Zw·Σx − Zx·Σw + K·Zx·Zw`.
//!
//! - `fold-weight-zero-point`: for constant weights, `w − Zw` is computed
//!   at compile time and stored with zero point 0 (in `i8`, when every
//!   value fits; per channel for per-axis weights). Then `Zw = 0`, so the
//!   run-time term `Zw·Σx` and the constant `K·Zx·Zw` vanish. Exact: the
//!   op computes the same products.
//! - `fold-input-zero-point`: for constant weights, the term
//!   `−Zx·Σ_k (w − Zw)` (one constant per output channel) is added to the
//!   bias at compile time and the op gets `zx_in_bias`, so that it sums
//!   `x·(w − Zw)` and no kernel handles `Zx` again. A convolution's padding
//!   keeps reading `Zx` (`conv2d_int`'s semantics), so the border outputs
//!   stay exact too. Guards: the bias is constant (or absent), the new bias
//!   fits i32, and the accumulator bound with `max|x|` in place of
//!   `max|x − Zx|` still fits i32.
//! - `row-sums`: asymmetric weights that are not constant need the row sums
//!   `Σ (x − Zx)` at run time: the `matmul_int` gets them as an explicit
//!   operand, `row_sums x`, which every matmul of the same `x` shares (the
//!   e-graph holds one `row_sums` per `x`). A zero bias is added when there
//!   was none (the row sums come fourth).
//! - `window-sums-needed`: a convolution with such weights needs a sum per
//!   output window; the IR has no op for that, so it stays as it is and
//!   the pass says so.

use crate::egraph::{
    Match, QEGraph, QNode, Reject, Rule, add_checked, add_const, add_op, entry, guard,
};
use egg::Id;
use qcc_ir::weights::{ChannelSums, WeightView};
use qcc_ir::{ElemType, IntAttrs, Op, QuantType, ScalarType, TensorData, TensorType};
use std::sync::Arc;

pub fn rules() -> Vec<Arc<dyn Rule>> {
    vec![
        Arc::new(FoldWeightZeroPoint),
        Arc::new(FoldInputZeroPoint),
        Arc::new(RowSums),
        Arc::new(WindowSumsNeeded),
    ]
}

/// Matches `matmul_int(x, w[, b])` and `conv2d_int(x, w[, b])` whose
/// weights have a non-zero zero point: `ops = [op]`, `ids = operands`.
/// Nodes that already take row sums are left alone.
fn search_asymmetric(eg: &QEGraph, node: &QNode, constant: bool, out: &mut Vec<Match>) {
    if !matches!(entry(eg, node).op, Op::MatMulInt(_) | Op::Conv2dInt(..))
        || node.children.len() > 3
    {
        return;
    }
    let w = &eg[node.children[1]].data;
    let asym = w
        .quant()
        .is_some_and(|q| q.zero_points.iter().any(|&z| z != 0));
    if asym && w.konst.is_some() == constant {
        out.push(Match::node(eg, node));
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
            block: qw.block,
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
pub struct FoldInputZeroPoint;

impl Rule for FoldInputZeroPoint {
    fn name(&self) -> &'static str {
        "fold-input-zero-point"
    }

    fn reports(&self) -> bool {
        true
    }

    fn search(&self, eg: &QEGraph, node: &QNode, out: &mut Vec<Match>) {
        let folded = match &entry(eg, node).op {
            Op::MatMulInt(i) | Op::Conv2dInt(_, i) => i.zx_in_bias,
            _ => return,
        };
        if folded || node.children.len() > 3 || eg[node.children[1]].data.konst.is_none() {
            return;
        }
        let zx = eg[node.children[0]]
            .data
            .quant()
            .is_some_and(|q| !q.is_per_axis() && q.zero_points[0] != 0);
        if zx {
            out.push(Match::node(eg, node));
        }
    }

    fn apply(&self, eg: &mut QEGraph, m: &Match) -> Result<Id, Reject> {
        let root = eg.analysis.table.get(m.ops[0]).clone();
        let (x, w) = (m.ids[0], m.ids[1]);
        let (xty, wty) = (eg[x].data.ty.clone(), eg[w].data.ty.clone());
        let conv = matches!(root.op, Op::Conv2dInt(..));
        let qx = xty
            .elem
            .as_quant()
            .ok_or_else(|| Reject::new("typing", "x not quantized"))?;
        let zx = qx.zero_points[0];
        let channels = if conv { wty.shape[0] } else { wty.shape[1] };
        let zws: Vec<i64> = (0..channels)
            .map(|c| wty.elem.as_quant().map_or(0, |q| q.zero_point(c)))
            .collect();
        // Σ_k (w − zw) and Σ_k |w − zw| per channel, in one pass over the
        // data as it is stored (weights can be many megabytes).
        let stored = eg[w]
            .data
            .konst
            .as_ref()
            .and_then(|k| k.op.as_const())
            .map(|c| c.data.clone())
            .ok_or_else(|| Reject::new("constant", "w is not constant"))?;
        let view = WeightView::of(&wty, conv);
        let ChannelSums { sum, abs } = qcc_ir::weights::channel_sums(&stored, view, &zws)
            .ok_or_else(|| Reject::new("constant", "w is not integer data of its type"))?;
        let old: Vec<i64> = match m.ids.get(2) {
            Some(&b) => super::const_ints(eg, b).ok_or_else(|| {
                Reject::new(
                    "constant-bias",
                    "the bias is not constant: nothing to fold into",
                )
            })?,
            None => vec![0; channels],
        };
        let bias: Vec<i64> = old.iter().zip(&sum).map(|(b, s)| b - zx * s).collect();
        let (lo, hi) = xty.elem.int_range().unwrap_or((0, 0));
        let dev = lo.abs().max(hi.abs());
        for c in 0..channels {
            let b = bias[c];
            guard("bias-fits-i32", i32::try_from(b).is_ok(), || {
                format!(
                    "channel {c}: the bias with −Zx·Σ(w − Zw) would be {b}, which does not fit in i32"
                )
            })?;
            let bound = dev as i128 * abs[c] as i128 + (b as i128).abs();
            guard("accumulator-bound", bound <= i32::MAX as i128, || {
                format!(
                    "channel {c}: with x's zero point in the bias the accumulator bound is {bound}, past 2^31 − 1"
                )
            })?;
        }
        let bias_ty = match m.ids.get(2) {
            Some(&b) => eg[b].data.ty.clone(),
            None => TensorType::new(vec![channels], ElemType::I32),
        };
        let td = TensorData::from_i64s(ScalarType::I32, &bias)
            .map_err(|e| Reject::new("bias-fits-i32", e.to_string()))?;
        let b = add_const(eg, td, bias_ty);
        let op = match &root.op {
            Op::Conv2dInt(a, _) => Op::Conv2dInt(a.clone(), IntAttrs::ZX_IN_BIAS),
            _ => Op::MatMulInt(IntAttrs::ZX_IN_BIAS),
        };
        add_checked(eg, op, &[x, w, b], root.ty.clone())
    }
}

#[derive(Debug)]
pub struct RowSums;

impl Rule for RowSums {
    fn name(&self) -> &'static str {
        "row-sums"
    }

    fn search(&self, eg: &QEGraph, node: &QNode, out: &mut Vec<Match>) {
        if matches!(entry(eg, node).op, Op::MatMulInt(_)) {
            search_asymmetric(eg, node, false, out);
        }
    }

    fn apply(&self, eg: &mut QEGraph, m: &Match) -> Result<Id, Reject> {
        let root = eg.analysis.table.get(m.ops[0]).clone();
        let (x, w) = (m.ids[0], m.ids[1]);
        let n = eg[w].data.ty.shape[1];
        let rs = add_op(eg, Op::RowSums, &[x], None)?;
        let b = match m.ids.get(2) {
            Some(&b) => b,
            None => {
                let td = TensorData::from_i64s(ScalarType::I32, &vec![0; n])
                    .map_err(|e| Reject::new("typing", e.to_string()))?;
                add_const(eg, td, TensorType::new(vec![n], ElemType::I32))
            }
        };
        add_checked(eg, root.op.clone(), &[x, w, b, rs], root.ty.clone())
    }
}

#[derive(Debug)]
pub struct WindowSumsNeeded;

impl Rule for WindowSumsNeeded {
    fn name(&self) -> &'static str {
        "window-sums-needed"
    }

    fn reports(&self) -> bool {
        true
    }

    fn search(&self, eg: &QEGraph, node: &QNode, out: &mut Vec<Match>) {
        if matches!(entry(eg, node).op, Op::Conv2dInt(..)) {
            search_asymmetric(eg, node, false, out);
        }
    }

    fn apply(&self, _eg: &mut QEGraph, _m: &Match) -> Result<Id, Reject> {
        Err(Reject::new(
            "ir-has-no-window-sum-op",
            "the convolution's weights are not constant and have a non-zero zero point: \
             Zw·Σx needs a sum of x over every window at run time, which the IR cannot \
             express; left to the kernel",
        ))
    }
}
