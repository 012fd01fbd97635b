//! onnxruntime's QDQ fusions, applied to an imported graph.
//!
//! A QDQ model says "dequantize, compute in float, quantize", and that is
//! what the importer writes. onnxruntime does not run it that way: its graph
//! optimizer replaces `DequantizeLinear → op → QuantizeLinear` groups by the
//! integer kernels of the QOperator form (QLinearConv, QLinearMatMul, QGemm,
//! QLinearAdd, QLinearAveragePool, QLinearGlobalAveragePool), whose
//! results differ from the float form by one quantization step wherever a
//! float result lands near a rounding tie (on quantized grids, often).
//! [`fuse_qdq`] makes the same replacements, so that an imported QDQ model
//! computes what onnxruntime computes; the integer ops are the ones the
//! QOperator import produces (`matmul_int` / `conv2d_int` + `requantize` in
//! float mode, `add_int`, quantized pools).
//!
//! Patterns (`q` is a quantized value, `dq` its `dequantize`, the final
//! `quantize` gives the result type `Y`):
//!
//! - `quantize(conv2d(dq x, dq w[, dq b]))` → `requantize(conv2d_int(x, w[, b]))`
//! - `quantize(dense(dq x, transpose?(dq w)[, dq b]))` → `requantize(matmul_int(x, wᵀ[, b]))`
//! - `quantize(matmul(dq a, transpose?(dq b)))` with a 2-d `b` → `requantize(matmul_int(a, b))`
//! - `quantize(add(dq a, dq b))` → `add_int(a, b)` (`{ort = true}`,
//!   onnxruntime's QLinearAdd arithmetic, for 8-bit values unless
//!   `ImportOptions::ort_arith` is off)
//! - `quantize(avgpool2d(dq x))`, `quantize(global_avgpool(dq x))` → the quantized pool
//!
//! where `x`, `a`, `b` are per tensor, weights per tensor or per output
//! channel, and a bias is an i32 constant whose scale is `sx · sw`. A group
//! that does not fit (or that qcc's typing rules refuse) stays in float.
//! The float ops left without users are removed.

use qcc_ir::{Graph, IntAttrs, Op, RequantMode, ValueId, verify};

/// The operand of a `dequantize`, if `v` is one.
fn dq_source(g: &Graph, v: ValueId) -> Option<ValueId> {
    matches!(g.node(v).op, Op::Dequantize).then(|| g.args(v)[0])
}

/// A per-tensor quantized operand behind a `dequantize`.
fn per_tensor_dq(g: &Graph, v: ValueId) -> Option<ValueId> {
    let s = dq_source(g, v)?;
    let q = g.ty(s).elem.as_quant()?;
    (!q.is_per_axis()).then_some(s)
}

/// Whether `v` is stored in at most 8 bits (where `add_int {ort = true}`,
/// onnxruntime's QLinearAdd arithmetic, is defined).
pub(crate) fn narrow(g: &Graph, v: ValueId) -> bool {
    g.ty(v).elem.storage().bits() <= 8
}

/// Builds `op(args)`, typed by qcc's rules; `None` if they refuse it.
fn try_add(
    g: &mut Graph,
    op: Op,
    args: &[ValueId],
    quant: Option<&qcc_ir::QuantType>,
) -> Option<ValueId> {
    let tys: Vec<&qcc_ir::TensorType> = args.iter().map(|&a| g.ty(a)).collect();
    let ty = verify::result_type(&op, &tys, quant).ok()?;
    Some(g.add_node(op, args, ty))
}

/// The weight of a dense / matmul as a quantized `[K, N]` value.
/// `w_nk` says whether the float operand is `[N, K]` (dense) or `[K, N]`.
fn weight_kn(g: &mut Graph, v: ValueId, w_nk: bool) -> Option<ValueId> {
    // A transpose of the dequantized weight cancels the dense layout.
    let (src, transposed) = match &g.node(v).op {
        Op::Transpose { perm } if perm == &[1, 0] => (dq_source(g, g.args(v)[0])?, true),
        _ => (dq_source(g, v)?, false),
    };
    let q = g.ty(src).elem.as_quant()?.clone();
    if g.ty(src).rank() != 2 {
        return None;
    }
    if w_nk == transposed {
        // Already [K, N].
        return Some(src);
    }
    let mut qt = q;
    qt.axis = qt.axis.map(|a| 1 - a);
    try_add(g, Op::Transpose { perm: vec![1, 0] }, &[src], Some(&qt))
}

/// An i32 bias behind a `dequantize`.
fn bias(g: &Graph, v: ValueId) -> Option<ValueId> {
    let s = dq_source(g, v)?;
    let q = g.ty(s).elem.as_quant()?;
    (q.storage == qcc_ir::ScalarType::I32 && g.node(s).op.is_const()).then_some(s)
}

/// Replaces every fusable group; returns how many were fused.
pub fn fuse_qdq(g: &mut Graph, ort_arith: bool) -> usize {
    let quants: Vec<ValueId> = g
        .node_ids()
        .filter(|&v| matches!(g.node(v).op, Op::Quantize))
        .collect();
    let mut fused = 0;
    for yq in quants {
        let Some(yt) = g.ty(yq).elem.as_quant().cloned() else {
            continue;
        };
        if yt.is_per_axis() {
            continue;
        }
        let f = g.args(yq)[0];
        let args = g.args(f);
        let requant = Op::Requantize {
            mode: RequantMode::Float,
        };
        let new = (|| -> Option<ValueId> {
            match g.node(f).op.clone() {
                Op::Conv2d(attrs) => {
                    let x = per_tensor_dq(g, args[0])?;
                    let w = dq_source(g, args[1])?;
                    g.ty(w).elem.as_quant()?;
                    let mut ops = vec![x, w];
                    if let Some(&b) = args.get(2) {
                        ops.push(bias(g, b)?);
                    }
                    let acc = try_add(g, Op::Conv2dInt(attrs, IntAttrs::default()), &ops, None)?;
                    try_add(g, requant.clone(), &[acc], Some(&yt))
                }
                Op::Dense | Op::MatMul => {
                    let dense = matches!(g.node(f).op, Op::Dense);
                    let x = per_tensor_dq(g, args[0])?;
                    let w = weight_kn(g, args[1], dense)?;
                    let mut ops = vec![x, w];
                    if let Some(&b) = args.get(2) {
                        ops.push(bias(g, b)?);
                    }
                    let acc = try_add(g, Op::MatMulInt(IntAttrs::default()), &ops, None)?;
                    try_add(g, requant.clone(), &[acc], Some(&yt))
                }
                Op::Add => {
                    let a = per_tensor_dq(g, args[0])?;
                    let b = per_tensor_dq(g, args[1])?;
                    let ort = ort_arith && narrow(g, a) && narrow(g, b) && yt.storage.bits() <= 8;
                    let mode = RequantMode::Float;
                    try_add(g, Op::AddInt { mode, ort }, &[a, b], Some(&yt))
                }
                op @ (Op::AvgPool2d(_) | Op::GlobalAvgPool { .. }) => {
                    let x = per_tensor_dq(g, args[0])?;
                    try_add(g, op, &[x], Some(&yt))
                }
                _ => None,
            }
        })();
        if let Some(n) = new {
            let name = g.node_mut(yq).name.take();
            g.node_mut(n).name = name;
            g.replace_all_uses(yq, n);
            fused += 1;
        }
    }
    g.remove_dead();
    fused
}
