//! `lower-qdq`: dequantize → float op → quantize becomes integer ops.
//!
//! Every rule matches `quantize[Qy](op(dequantize(x1), ...))` and builds the
//! integer form on `x1, ...` (a float constant bias is accepted in place of
//! a dequantized one):
//!
//! | rule | float op | integer form |
//! |---|---|---|
//! | `lower-matmul` | matmul | `requantize(matmul_int(x, w))` |
//! | `lower-dense` | dense | `requantize(matmul_int(x, wᵀ, b))`, `wᵀ` a constant `[K, N]` (or a `transpose` of non-constant weights) |
//! | `lower-conv2d` | conv2d | `requantize(conv2d_int(x, w, b))` |
//! | `lower-add` | add | `add_int` |
//! | `lower-relu` / `lower-clamp` | relu, clamp | `clamp_int(requantize(x))` (no requantize when the types are equal) |
//! | `lower-maxpool` | maxpool2d | `maxpool2d` on codes, then `requantize` if the types differ |
//! | `lower-avgpool` | avgpool2d, global_avgpool | the quantized pool |
//! | `lower-movement` | reshape, flatten, transpose | the same op on codes, then `requantize` if needed |
//! | `lower-concat` | concat | operands requantized to Qy, then concat |
//!
//! A float bias becomes i32 at scale `sx · sw[n]` (per channel for per-axis
//! weights): an `i32` bias already at that scale is used as is, any other
//! constant bias is rescaled at compile time (rounded half to even). The
//! accumulator must provably fit in i32 (`accumulator-fits-i32`).
//!
//! Exactness (docs/semantics.md § What rewrites may change): the integer
//! sums are exact where the float ones round; the one rounding that remains
//! is the final rescale, so results agree within one quantization step of
//! Qy. Relu, clamp, maxpool and data movement on equal types are exact.

use super::{const_ints, mode, per_tensor, quant_of, requant_to};
use crate::egraph::{Match, QEGraph, QNode, Reject, Rule, add_const, add_op, entry, guard};
use egg::Id;
use qcc_ir::quant::quantize_f32;
use qcc_ir::verify::rules::{accumulator_scale, max_deviation, scale_matches};
use qcc_ir::{ElemType, IntAttrs, Op, QuantType, ScalarType, TensorData, TensorType};
use std::sync::Arc;

/// Which float ops a rule lowers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    MatMul,
    Dense,
    Conv2d,
    Add,
    Relu,
    Clamp,
    MaxPool,
    AvgPool,
    Movement,
    Concat,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::MatMul => "lower-matmul",
            Kind::Dense => "lower-dense",
            Kind::Conv2d => "lower-conv2d",
            Kind::Add => "lower-add",
            Kind::Relu => "lower-relu",
            Kind::Clamp => "lower-clamp",
            Kind::MaxPool => "lower-maxpool",
            Kind::AvgPool => "lower-avgpool",
            Kind::Movement => "lower-movement",
            Kind::Concat => "lower-concat",
        }
    }

    fn accepts(self, op: &Op) -> bool {
        matches!(
            (self, op),
            (Kind::MatMul, Op::MatMul)
                | (Kind::Dense, Op::Dense)
                | (Kind::Conv2d, Op::Conv2d(_))
                | (Kind::Add, Op::Add)
                | (Kind::Relu, Op::Relu)
                | (Kind::Clamp, Op::Clamp { .. })
                | (Kind::MaxPool, Op::MaxPool2d(_))
                | (Kind::AvgPool, Op::AvgPool2d(_) | Op::GlobalAvgPool { .. })
                | (
                    Kind::Movement,
                    Op::Reshape | Op::Flatten { .. } | Op::Transpose { .. } | Op::Slice { .. }
                )
                | (Kind::Concat, Op::Concat { .. })
        )
    }

    /// Whether operand `slot` may be a float constant instead of a
    /// dequantize (the bias of dense and conv2d).
    fn float_const_ok(self, slot: usize) -> bool {
        slot == 2 && matches!(self, Kind::Dense | Kind::Conv2d)
    }
}

/// One lowering rule.
#[derive(Debug)]
pub struct Lower(pub Kind);

/// All rules of `lower-qdq`.
pub fn rules() -> Vec<Arc<dyn Rule>> {
    [
        Kind::MatMul,
        Kind::Dense,
        Kind::Conv2d,
        Kind::Add,
        Kind::Relu,
        Kind::Clamp,
        Kind::MaxPool,
        Kind::AvgPool,
        Kind::Movement,
        Kind::Concat,
    ]
    .into_iter()
    .map(|k| Arc::new(Lower(k)) as Arc<dyn Rule>)
    .chain([Arc::new(SinkDequantize) as Arc<dyn Rule>])
    .collect()
}

/// `sink-dequantize`: `op(dequantize(x))` → `dequantize(op(x))` for data
/// movement (reshape, flatten, transpose) and maxpool2d, which commute with
/// the increasing map `q ↦ s·(q − z)`. Exact. It lets a dequantize reach
/// the op that lowering matches (a `flatten` before a `dense`).
#[derive(Debug)]
pub struct SinkDequantize;

impl Rule for SinkDequantize {
    fn name(&self) -> &'static str {
        "sink-dequantize"
    }

    fn search(&self, eg: &QEGraph, node: &QNode, out: &mut Vec<Match>) {
        let e = entry(eg, node);
        if !matches!(
            e.op,
            Op::Reshape
                | Op::Flatten { .. }
                | Op::Transpose { .. }
                | Op::Slice { .. }
                | Op::MaxPool2d(_)
        ) || e.ty.elem != ElemType::F32
        {
            return;
        }
        if let Some(x) = crate::egraph::dequantized_source(eg, node.children[0]) {
            out.push(Match {
                ops: vec![node.op],
                ids: vec![x],
            });
        }
    }

    fn apply(&self, eg: &mut QEGraph, m: &Match) -> Result<Id, Reject> {
        let e = eg.analysis.table.get(m.ops[0]).clone();
        let x = m.ids[0];
        let moved = match e.op {
            Op::Reshape => {
                let ty = e.ty.with_elem(eg[x].data.ty.elem.clone());
                crate::egraph::add_checked(eg, Op::Reshape, &[x], ty)?
            }
            _ => add_op(eg, e.op.clone(), &[x], None)?,
        };
        add_op(eg, Op::Dequantize, &[moved], None)
    }
}

/// Matches `quantize(op(a1, ..., an))` where `op` satisfies `accepts` and
/// every `ai` is a dequantize (or, where `float_const_ok(i)`, a float
/// constant). The match is `ops = [quantize, op]`, `ids = [sources]`.
pub fn search_qdq(
    eg: &QEGraph,
    node: &QNode,
    accepts: impl Fn(&Op) -> bool,
    float_const_ok: impl Fn(usize) -> bool,
    out: &mut Vec<Match>,
) {
    if !matches!(entry(eg, node).op, Op::Quantize) {
        return;
    }
    let inner = node.children[0];
    'nodes: for n in eg[inner].iter() {
        if !accepts(&eg.analysis.table.get(n.op).op) {
            continue;
        }
        let mut ids = Vec::with_capacity(n.children.len());
        for (slot, &c) in n.children.iter().enumerate() {
            if let Some(src) = crate::egraph::dequantized_source(eg, c) {
                ids.push(src);
            } else if float_const_ok(slot)
                && eg[c].data.konst.is_some()
                && eg[c].data.ty.elem == ElemType::F32
            {
                ids.push(eg.find(c));
            } else {
                continue 'nodes;
            }
        }
        out.push(Match {
            ops: vec![node.op, n.op],
            ids,
        });
    }
}

impl Rule for Lower {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn reports(&self) -> bool {
        true
    }

    fn search(&self, eg: &QEGraph, node: &QNode, out: &mut Vec<Match>) {
        let k = self.0;
        search_qdq(eg, node, |op| k.accepts(op), |s| k.float_const_ok(s), out);
    }

    fn apply(&self, eg: &mut QEGraph, m: &Match) -> Result<Id, Reject> {
        let root = eg.analysis.table.get(m.ops[0]).clone();
        let mid = eg.analysis.table.get(m.ops[1]).clone();
        let qy = root
            .ty
            .elem
            .as_quant()
            .cloned()
            .ok_or_else(|| Reject::new("typing", "quantize without a quantized result"))?;
        let xs = &m.ids;
        match (&mid.op, self.0) {
            (Op::MatMul | Op::Dense | Op::Conv2d(_), _) => lower_linear(eg, &mid.op, &qy, xs),
            (Op::Add, _) => {
                let (qa, qb) = (
                    quant_of(eg, xs[0], "quantized", "`a`")?,
                    quant_of(eg, xs[1], "quantized", "`b`")?,
                );
                per_tensor(&qa, "`a`")?;
                per_tensor(&qb, "`b`")?;
                add_op(
                    eg,
                    Op::AddInt {
                        mode: mode(eg),
                        ort: false,
                    },
                    &[xs[0], xs[1]],
                    Some(&qy),
                )
            }
            (Op::Relu, _) => relu_or_clamp(eg, xs[0], &qy, None),
            (Op::Clamp { min, max }, _) => relu_or_clamp(eg, xs[0], &qy, Some((min.0, max.0))),
            (Op::MaxPool2d(a), _) => {
                let p = add_op(eg, Op::MaxPool2d(a.clone()), &[xs[0]], None)?;
                requant_to(eg, p, &qy)
            }
            (Op::AvgPool2d(a), _) => {
                let mut a = a.clone();
                a.mode = mode(eg);
                add_op(eg, Op::AvgPool2d(a), &[xs[0]], Some(&qy))
            }
            (Op::GlobalAvgPool { .. }, _) => add_op(
                eg,
                Op::GlobalAvgPool { mode: mode(eg) },
                &[xs[0]],
                Some(&qy),
            ),
            (Op::Reshape, _) => {
                let ty = mid.ty.with_elem(eg[xs[0]].data.ty.elem.clone());
                let r = crate::egraph::add_checked(eg, Op::Reshape, &[xs[0]], ty)?;
                requant_to(eg, r, &qy)
            }
            (Op::Flatten { .. } | Op::Transpose { .. } | Op::Slice { .. }, _) => {
                let r = add_op(eg, mid.op.clone(), &[xs[0]], None)?;
                requant_to(eg, r, &qy)
            }
            (Op::Concat { axis }, _) => {
                let mut parts = Vec::with_capacity(xs.len());
                for &x in xs {
                    parts.push(requant_to(eg, x, &qy)?);
                }
                add_op(eg, Op::Concat { axis: *axis }, &parts, None)
            }
            _ => Err(Reject::new(
                "op",
                format!("`{}` has no integer form", mid.op.name()),
            )),
        }
    }
}

/// `quantize[Qy](relu(dequantize(x)))` (or clamp): quantizing is monotone,
/// so the clamp moves after the conversion to Qy, with the bounds quantized:
/// `clamp_int[q(lo), q(hi)](requantize[Qy](x))`, relu's lower bound being
/// `Zy`. Exact when `x` already has type Qy (no requantize).
pub fn relu_or_clamp(
    eg: &mut QEGraph,
    x: Id,
    qy: &QuantType,
    bounds: Option<(f32, f32)>,
) -> Result<Id, Reject> {
    per_tensor(qy, "the result")?;
    let (sy, zy, lo, hi) = (
        qy.scales[0],
        qy.zero_points[0],
        qy.storage_min,
        qy.storage_max,
    );
    let (min, max) = match bounds {
        None => (zy, hi),
        Some((a, b)) => (
            quantize_f32(a, sy, zy, lo, hi),
            quantize_f32(b, sy, zy, lo, hi),
        ),
    };
    let base = requant_to(eg, x, qy)?;
    add_op(eg, Op::ClampInt { min, max }, &[base], None)
}

/// How the weights of a linear op are laid out: the index of output channel
/// `n` and reduction index `k` in the weight data.
#[derive(Clone, Copy)]
enum WeightLayout {
    /// dense: `[N, K]`.
    NK { n: usize, k: usize },
    /// matmul: `[K, N]`.
    KN { k: usize, n: usize },
    /// conv2d: `[O, C/g, KH, KW]`: channel `o` owns `k` consecutive elements.
    Oihw { o: usize, k: usize },
}

impl WeightLayout {
    fn channels(self) -> usize {
        match self {
            WeightLayout::NK { n, .. } | WeightLayout::KN { n, .. } => n,
            WeightLayout::Oihw { o, .. } => o,
        }
    }

    fn reduction(self) -> usize {
        match self {
            WeightLayout::NK { k, .. }
            | WeightLayout::KN { k, .. }
            | WeightLayout::Oihw { k, .. } => k,
        }
    }

    fn index(self, ch: usize, i: usize) -> usize {
        match self {
            WeightLayout::NK { k, .. } | WeightLayout::Oihw { k, .. } => ch * k + i,
            WeightLayout::KN { n, .. } => i * n + ch,
        }
    }
}

/// matmul, dense, conv2d → `requantize(matmul_int | conv2d_int)`.
fn lower_linear(eg: &mut QEGraph, op: &Op, qy: &QuantType, xs: &[Id]) -> Result<Id, Reject> {
    let (x, w) = (xs[0], xs[1]);
    let qx = quant_of(eg, x, "quantized", "`x`")?;
    per_tensor(&qx, "`x`")?;
    let qw = quant_of(eg, w, "quantized", "`w`")?;
    let wty = eg[w].data.ty.clone();
    let w_const = const_ints(eg, w);
    // The channel axis the integer op needs, and the weight layout.
    let (layout, want_axis, what) = match op {
        Op::Dense => {
            guard("rank", wty.rank() == 2, || {
                format!("`w` has rank {}", wty.rank())
            })?;
            (
                WeightLayout::NK {
                    n: wty.shape[0],
                    k: wty.shape[1],
                },
                0,
                "axis 0 (N) of dense's `w [N, K]`",
            )
        }
        Op::MatMul => {
            guard("w-rank-2", wty.rank() == 2, || {
                format!("`w` has shape {:?}; matmul_int takes `w [K, N]`", wty.shape)
            })?;
            (
                WeightLayout::KN {
                    k: wty.shape[0],
                    n: wty.shape[1],
                },
                1,
                "axis 1 (N) of matmul's `w [K, N]`",
            )
        }
        _ => {
            guard("rank", wty.rank() == 4, || {
                format!("`w` has rank {}", wty.rank())
            })?;
            let k = wty.shape[1] * wty.shape[2] * wty.shape[3];
            (
                WeightLayout::Oihw { o: wty.shape[0], k },
                0,
                "axis 0 (O) of conv2d's `w`",
            )
        }
    };
    if let Some(a) = qw.axis {
        guard("per-axis-on-output-channels", a == want_axis, || {
            format!("`w` is quantized per axis on axis {a}; only {what} is supported")
        })?;
    }
    let n = layout.channels();
    let sx = qx.scales[0];
    let acc_scales: Vec<f32> = (0..if qw.is_per_axis() { n } else { 1 })
        .map(|c| accumulator_scale(sx, qw.scale(c)))
        .collect();

    // The bias, as i32 codes at the accumulator scale.
    let bias = match xs.get(2) {
        None => None,
        Some(&b) => Some(bias_codes(eg, b, &acc_scales, n, qw.is_per_axis())?),
    };

    // Accumulator bound, per channel.
    let x_dev = max_deviation(&ElemType::quant(qx.clone()), 0).unwrap_or(u128::MAX) as i128;
    let w_dev_max = (0..n.max(1))
        .map(|c| max_deviation(&ElemType::quant(qw.clone()), c).unwrap_or(u128::MAX) as i128)
        .collect::<Vec<_>>();
    for ch in 0..n {
        let zw = qw.zero_point(ch) as i128;
        let w_sum: i128 = match &w_const {
            Some(data) => (0..layout.reduction())
                .map(|i| (data[layout.index(ch, i)] as i128 - zw).abs())
                .sum(),
            None => w_dev_max[ch.min(w_dev_max.len() - 1)] * layout.reduction() as i128,
        };
        let b = bias
            .as_ref()
            .map_or(0, |(codes, _)| codes[ch.min(codes.len() - 1)].abs() as i128);
        let total = x_dev.saturating_mul(w_sum).saturating_add(b);
        guard("accumulator-fits-i32", total <= i32::MAX as i128, || {
            format!("channel {ch}: the sum of products can reach {total}, more than 2^31 - 1")
        })?;
    }

    // Weights in the integer op's layout.
    let w_int = match (op, &w_const) {
        (Op::Dense, Some(data)) => {
            let (nn, k) = (wty.shape[0], wty.shape[1]);
            let mut t = vec![0i64; data.len()];
            for r in 0..nn {
                for c in 0..k {
                    t[c * nn + r] = data[r * k + c];
                }
            }
            let mut q = qw.clone();
            if q.axis.is_some() {
                q.axis = Some(1);
            }
            let td = TensorData::from_i64s(qw.storage, &t)
                .map_err(|e| Reject::new("weights", e.to_string()))?;
            add_const(eg, td, TensorType::new(vec![k, nn], ElemType::quant(q)))
        }
        (Op::Dense, None) => add_op(eg, Op::Transpose { perm: vec![1, 0] }, &[w], None)?,
        _ => w,
    };
    let mut args = vec![x, w_int];
    if let Some((codes, bq)) = bias {
        let b = match codes_are_source(eg, xs[2], &codes, &bq) {
            true => xs[2],
            false => {
                let td = TensorData::from_i64s(ScalarType::I32, &codes)
                    .map_err(|e| Reject::new("bias-fits-i32", e.to_string()))?;
                add_const(eg, td, TensorType::new(vec![n], ElemType::quant(bq)))
            }
        };
        args.push(b);
    }
    let int_op = match op {
        Op::Conv2d(a) => Op::Conv2dInt(a.clone(), IntAttrs::default()),
        _ => Op::MatMulInt(IntAttrs::default()),
    };
    let acc = add_op(eg, int_op, &args, None)?;
    requant_to(eg, acc, qy)
}

/// True when the bias class `b` already holds exactly `codes` with type
/// `bq` (an i32 bias at the accumulator scale: used as it is).
fn codes_are_source(eg: &QEGraph, b: Id, codes: &[i64], bq: &QuantType) -> bool {
    eg[b].data.ty.elem == ElemType::quant(bq.clone())
        && const_ints(eg, b).is_some_and(|c| c == codes)
}

/// The bias `b` (a quantized constant, or a float constant) as i32 codes at
/// the accumulator scales, and the quantized type they have. An i32 bias
/// with zero point 0 whose scales match the accumulator's keeps its codes
/// and type; any other is rescaled at compile time: `round_half_even(b / s)`.
fn bias_codes(
    eg: &QEGraph,
    b: Id,
    acc_scales: &[f32],
    n: usize,
    per_axis: bool,
) -> Result<(Vec<i64>, QuantType), Reject> {
    let data = eg[b]
        .data
        .const_data()
        .cloned()
        .ok_or_else(|| Reject::new("bias-constant", "the bias is not a constant"))?;
    let bty = eg[b].data.ty.clone();
    guard("bias-shape", bty.shape == [n], || {
        format!("the bias has shape {:?}, expected [{n}]", bty.shape)
    })?;
    let acc_q = |scales: &[f32]| -> QuantType {
        if !per_axis {
            QuantType::per_tensor(ScalarType::I32, scales[0], 0)
        } else {
            QuantType::per_axis(ScalarType::I32, 0, scales.to_vec(), vec![0; scales.len()])
        }
    };
    let scale = |c: usize| acc_scales[c.min(acc_scales.len() - 1)];
    if let Some(q) = bty.elem.as_quant()
        && q.storage == ScalarType::I32
        && q.has_full_range()
        && q.zero_points.iter().all(|&z| z == 0)
        && (0..n).all(|c| scale_matches(q.scale(c), scale(c)))
        && q.is_per_axis() == per_axis
    {
        let codes = data.to_i64s().unwrap_or_default();
        return Ok((codes, q.clone()));
    }
    let reals: Vec<f64> = match (&bty.elem, &data) {
        (ElemType::Scalar(ScalarType::F32), TensorData::F32(v)) => {
            v.iter().map(|&x| x as f64).collect()
        }
        (ElemType::Quant(q), d) => {
            let ints = d.to_i64s().unwrap_or_default();
            ints.iter()
                .enumerate()
                .map(|(c, &v)| qcc_ir::quant::dequantize_f32(v, q.scale(c), q.zero_point(c)) as f64)
                .collect()
        }
        _ => {
            return Err(Reject::new(
                "bias-type",
                format!("a bias of type `{}`", bty.elem),
            ));
        }
    };
    let mut codes = Vec::with_capacity(n);
    for (c, r) in reals.iter().enumerate() {
        let v = (r / scale(c) as f64).round_ties_even();
        guard(
            "bias-fits-i32",
            v.is_finite() && v.abs() <= i32::MAX as f64,
            || format!("bias {r} at scale {} does not fit in i32", scale(c)),
        )?;
        codes.push(v as i64);
    }
    Ok((codes, acc_q(acc_scales)))
}
