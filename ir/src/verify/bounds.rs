//! Accumulator bounds of `matmul_int` and `conv2d_int`
//! (`docs/semantics.md` § Accumulator bounds).
//!
//! For each output channel `n` the bound is
//! `Σ_k max|x − zx| · |w[k, n] − zw[n]|`, where `max|x − zx|` is
//! `max(zx − lo_x, hi_x − zx)` over x's storage range, and `|w − zw|` comes
//! from the constant data when `w` is a constant, else is its largest
//! possible value; `|bias[n]|` is added for a constant bias. A graph whose
//! bound exceeds 2^31 − 1 on some channel is rejected. Arithmetic is in
//! `u128`, saturating, so no bound overflows.

use super::rules::{I32_MAX, max_deviation};
use crate::graph::{Graph, ValueId};
use crate::op::Op;
use crate::tensor::TensorData;
use crate::types::{ElemType, TensorType};

/// One output channel's bound, split into its terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelBound {
    /// `max|x − zx|`.
    pub x_dev: u128,
    /// `Σ_k |w[k, n] − zw[n]|` (from the data, or its largest possible value).
    pub w_sum: u128,
    /// `|bias[n]|` for a constant bias, else 0.
    pub bias: u128,
}

impl ChannelBound {
    /// `x_dev · w_sum + bias`, saturating.
    pub fn total(&self) -> u128 {
        self.x_dev
            .saturating_mul(self.w_sum)
            .saturating_add(self.bias)
    }
}

/// The bounds of a `matmul_int` / `conv2d_int` node, one per output channel.
/// `w_from_data` says whether the weight terms come from constant data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccumulatorBounds {
    pub channels: Vec<ChannelBound>,
    pub w_from_data: bool,
}

impl AccumulatorBounds {
    /// The channels whose bound exceeds 2^31 − 1.
    pub fn overflowing(&self) -> impl Iterator<Item = (usize, u128)> + '_ {
        self.channels
            .iter()
            .enumerate()
            .map(|(n, b)| (n, b.total()))
            .filter(|(_, t)| *t > I32_MAX)
    }
}

/// True when the data can be read element by element without panicking
/// (packed 4-bit data has enough bytes).
pub(super) fn data_is_sound(d: &TensorData) -> bool {
    match d {
        TensorData::I4(p) | TensorData::U4(p) => p.bytes.len() == p.len.div_ceil(2),
        _ => true,
    }
}

/// The integer data of `v` when it is a constant whose data matches its type
/// (element count and storage); `None` otherwise.
fn const_ints<'g>(graph: &'g Graph, v: ValueId, ty: &TensorType) -> Option<&'g TensorData> {
    let c = graph.node(v).op.as_const()?;
    let d = &c.data;
    let ok = d.scalar_type() == ty.elem.storage()
        && ty.elem.storage().is_int()
        && Some(d.len()) == ty.num_elements()
        && data_is_sound(d);
    ok.then_some(d)
}

/// The zero point of channel `n` (0 for a plain integer type).
fn zero_point(elem: &ElemType, n: usize) -> i64 {
    match elem {
        ElemType::Quant(q) => q
            .zero_points
            .get(n)
            .or(q.zero_points.first())
            .copied()
            .unwrap_or(0),
        ElemType::Scalar(_) => 0,
    }
}

/// The accumulator bounds of `v`, a `matmul_int` or `conv2d_int` node that
/// has passed its typing rule. `None` for other nodes or when the operand
/// shapes do not fit the rule.
pub fn accumulator_bounds(graph: &Graph, v: ValueId) -> Option<AccumulatorBounds> {
    if !graph.contains(v) {
        return None;
    }
    let args = graph.args(v);
    let (&xv, &wv) = (args.first()?, args.get(1)?);
    let (x, w) = (graph.ty(xv), graph.ty(wv));
    // Output channels, and the weight terms per channel: `index(n, k)` is
    // the row-major index of the k-th weight of channel n.
    let (channels, per_channel, conv) = match graph.node(v).op {
        Op::MatMulInt if w.rank() == 2 => (w.shape[1], w.shape[0], false),
        Op::Conv2dInt(_) if w.rank() == 4 => {
            let per = w.shape[1]
                .checked_mul(w.shape[2])?
                .checked_mul(w.shape[3])?;
            (w.shape[0], per, true)
        }
        _ => return None,
    };
    let index = |n: usize, k: usize| {
        if conv {
            n * per_channel + k
        } else {
            k * channels + n
        }
    };
    let x_dev = max_deviation(&x.elem, 0)?;
    let w_data = const_ints(graph, wv, w);
    let bias_data = args.get(2).and_then(|&b| {
        let bt = graph.ty(b);
        const_ints(graph, b, bt).filter(|d| d.len() == channels)
    });
    let mut out = Vec::with_capacity(channels);
    for n in 0..channels {
        let w_sum = match w_data {
            Some(d) => {
                let zw = zero_point(&w.elem, n) as i128;
                let mut s: u128 = 0;
                for k in 0..per_channel {
                    let q = d.get_int(index(n, k))? as i128;
                    s = s.saturating_add((q - zw).unsigned_abs());
                }
                s
            }
            None => max_deviation(&w.elem, n)?.saturating_mul(per_channel as u128),
        };
        let bias = match bias_data {
            Some(d) => (d.get_int(n)? as i128).unsigned_abs(),
            None => 0,
        };
        out.push(ChannelBound { x_dev, w_sum, bias });
    }
    Some(AccumulatorBounds {
        channels: out,
        w_from_data: w_data.is_some(),
    })
}
