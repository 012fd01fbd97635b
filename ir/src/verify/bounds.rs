//! Accumulator bounds of `matmul_int` and `conv2d_int`
//! (`docs/semantics.md` § Accumulator bounds).
//!
//! For each output channel `n` the bound is
//! `Σ_k max|x − zx| · |w[k, n] − zw[n]|`, where `max|x − zx|` is
//! `max(zx − lo_x, hi_x − zx)` over x's storage range, and `|w − zw|` comes
//! from the constant data when `w` is a constant, else is its largest
//! possible value. The bias is not part of the bound: it is added to the
//! exact sum with saturation (`|bias[n]|` is kept, for the passes that fold
//! terms into the bias and must bound the sum with it). A graph whose bound
//! exceeds 2^31 − 1 on some channel is rejected. Arithmetic is in
//! `u128`, saturating, so no bound overflows.
//!
//! With `zx_in_bias`, `max|x|` (deviation from 0) replaces `max|x − zx|`;
//! with row sums (`matmul_int`'s fourth operand), `|w|` replaces
//! `|w − zw|` (the term `zw · rs` is added exactly after the sum).
//!
//! `matmul_int_dyn` and `conv2d_int_dyn` take their zero points as
//! operands: `max|x − zx|` is then `hi_x − lo_x` (any `zx` of x's type), and
//! `|w[k, n] − zw[n]|` comes from the data when both `w` and `zw` are
//! constants, is `max(|w − lo_w|, |w − hi_w|)` per element when only `w` is,
//! and `hi_w − lo_w` otherwise.

use super::rules::{I32_MAX, max_deviation, max_deviation_from};
use crate::graph::{Graph, ValueId};
use crate::op::Op;
use crate::tensor::TensorData;
use crate::types::{ElemType, TensorType};
use crate::weights::WeightView;

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
    /// `x_dev · w_sum`, saturating: the bound of the sum of products. The
    /// bias is not part of it: its addition saturates (semantics.md
    /// § Accumulator bounds).
    pub fn total(&self) -> u128 {
        self.x_dev.saturating_mul(self.w_sum)
    }
}

/// The bounds of a `matmul_int` / `conv2d_int` node.
///
/// `per_channel` holds one bound per output channel, or a single bound that
/// holds for all `channel_count` channels when they cannot differ (weights
/// per tensor and not constant), so that no bound needs memory the graph
/// does not already use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccumulatorBounds {
    pub per_channel: Vec<ChannelBound>,
    pub channel_count: usize,
    /// Whether the weight terms come from constant data.
    pub w_from_data: bool,
}

impl AccumulatorBounds {
    /// The bound of output channel `n`.
    pub fn channel(&self, n: usize) -> Option<ChannelBound> {
        if n >= self.channel_count {
            return None;
        }
        match self.per_channel.as_slice() {
            [one] => Some(*one),
            all => all.get(n).copied(),
        }
    }

    /// The first channel whose bound exceeds 2^31 − 1, its bound, and how
    /// many channels exceed it in all.
    pub fn first_overflow(&self) -> Option<(usize, ChannelBound, usize)> {
        if let [one] = self.per_channel.as_slice() {
            return (one.total() > I32_MAX).then_some((0, *one, self.channel_count));
        }
        let mut over = self
            .per_channel
            .iter()
            .enumerate()
            .filter(|(_, b)| b.total() > I32_MAX);
        let (n, b) = over.next()?;
        Some((n, *b, 1 + over.count()))
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

/// The integer data of `v`, in logical order (unpacked from a packed
/// layout), when it is a constant whose data matches its type (element
/// count and storage); `None` otherwise.
fn const_ints<'g>(
    graph: &'g Graph,
    v: ValueId,
    ty: &TensorType,
) -> Option<std::borrow::Cow<'g, TensorData>> {
    let c = graph.node(v).op.as_const()?;
    const_stored(graph, v, ty).map(|_| c.logical(ty))
}

/// The integer data of `v` as stored (packed or not), under the same
/// conditions as [`const_ints`].
fn const_stored<'g>(graph: &'g Graph, v: ValueId, ty: &TensorType) -> Option<&'g TensorData> {
    let d: &TensorData = &graph.node(v).op.as_const()?.data;
    let ok = d.scalar_type() == ty.elem.storage()
        && ty.elem.storage().is_int()
        && Some(d.len()) == ty.storage_len()
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

/// The accumulator bounds of `v`, a `matmul_int` or `conv2d_int` node.
/// `None` for other nodes, and when the node does not pass its typing rule
/// ([`super::check_op`]).
pub fn accumulator_bounds(graph: &Graph, v: ValueId) -> Option<AccumulatorBounds> {
    bounds(graph, v, true)
}

/// [`accumulator_bounds`] from the types alone (`|w − zw|` at its largest
/// for `w`'s type, even for constant weights): looser, but free of a pass
/// over the weights. When these bounds fit, so do the data's.
pub fn type_bounds(graph: &Graph, v: ValueId) -> Option<AccumulatorBounds> {
    bounds(graph, v, false)
}

fn bounds(graph: &Graph, v: ValueId, from_data: bool) -> Option<AccumulatorBounds> {
    if !graph.contains(v) {
        return None;
    }
    let node = graph.node(v);
    let args = graph.args(v);
    let tys: Vec<&TensorType> = args.iter().map(|&a| graph.ty(a)).collect();
    let dynamic = matches!(node.op, Op::MatMulIntDyn | Op::Conv2dIntDyn(_));
    if !(dynamic || matches!(node.op, Op::MatMulInt(_) | Op::Conv2dInt(..)))
        || super::check_op(&node.op, &tys, &node.ty).is_err()
    {
        return None;
    }
    if dynamic {
        return dynamic_bounds(graph, &node.op, &args);
    }
    let (&xv, &wv) = (args.first()?, args.get(1)?);
    let (x, w) = (graph.ty(xv), graph.ty(wv));
    // Output channels and the weight terms per channel (a row of a
    // convolution's weights, a column of a matmul's).
    let (channels, per_channel, conv) = geometry(&node.op, w)?;
    // `zx_in_bias`: x's zero point is not subtracted. Row sums `rs`: the
    // weights' zero point is not subtracted in the sum (the term `zw · rs`
    // is added in i64 after it, exactly).
    let (zx_in_bias, has_rs) = match &node.op {
        Op::MatMulInt(i) => (i.zx_in_bias, args.len() > 3),
        Op::Conv2dInt(_, i) => (i.zx_in_bias, false),
        _ => (false, false),
    };
    let x_dev = if zx_in_bias {
        max_deviation_from(&x.elem, 0)?
    } else {
        max_deviation(&x.elem, 0)?
    };
    let w_zero_point = |n: usize| if has_rs { 0 } else { zero_point(&w.elem, n) };
    let w_data = const_stored(graph, wv, w).filter(|_| from_data);
    let bias_owned = args.get(2).and_then(|&b| {
        let bt = graph.ty(b);
        const_ints(graph, b, bt).filter(|d| d.len() == channels)
    });
    let bias_data = bias_owned.as_deref();
    let w_per_axis = w.elem.as_quant().is_some_and(|q| q.axis.is_some());
    // Channels differ only through data or per-axis zero points; both have
    // one entry per channel in memory already.
    let distinct = if w_data.is_some() || w_per_axis || bias_data.is_some() {
        channels
    } else {
        1
    };
    // Σ_k |w − zw| of every channel, in one pass over the data as stored
    // (packed or not; see `crate::weights`).
    let sums: Option<Vec<u128>> = w_data.and_then(|d| {
        let zws: Vec<i64> = (0..channels).map(w_zero_point).collect();
        let s = crate::weights::channel_sums(d, WeightView::of(w, conv), &zws)?;
        Some(s.abs.into_iter().map(u128::from).collect())
    });
    let mut out = Vec::new();
    for n in 0..distinct {
        let w_sum = match &sums {
            Some(s) => s[n],
            None if has_rs => max_deviation_from(&w.elem, 0)?.saturating_mul(per_channel as u128),
            None => max_deviation(&w.elem, n)?.saturating_mul(per_channel as u128),
        };
        let bias = match bias_data {
            Some(d) => (d.get_int(n)? as i128).unsigned_abs(),
            None => 0,
        };
        out.push(ChannelBound { x_dev, w_sum, bias });
    }
    Some(AccumulatorBounds {
        per_channel: out,
        channel_count: channels,
        w_from_data: w_data.is_some(),
    })
}

/// `(output channels, weights per channel, is a convolution)` of a
/// matmul-like (`w [K, N]`) or conv-like (`w [O, C/g, KH, KW]`) op.
fn geometry(op: &Op, w: &TensorType) -> Option<(usize, usize, bool)> {
    match op {
        Op::MatMulInt(_) | Op::MatMulIntDyn if w.rank() == 2 => {
            Some((w.shape[1], w.shape[0], false))
        }
        Op::Conv2dInt(..) | Op::Conv2dIntDyn(_) if w.rank() == 4 => {
            let per = w.shape[1]
                .checked_mul(w.shape[2])?
                .checked_mul(w.shape[3])?;
            Some((w.shape[0], per, true))
        }
        _ => None,
    }
}

/// The row-major index of the k-th weight of output channel `n`.
fn weight_index(conv: bool, channels: usize, per_channel: usize, n: usize, k: usize) -> usize {
    if conv {
        n * per_channel + k
    } else {
        k * channels + n
    }
}

/// The bounds of `matmul_int_dyn` / `conv2d_int_dyn` (see the module doc).
fn dynamic_bounds(graph: &Graph, op: &Op, args: &[ValueId]) -> Option<AccumulatorBounds> {
    let (&xv, &wv, &zwv) = (args.first()?, args.get(1)?, args.get(3)?);
    let (x, w, zw) = (graph.ty(xv), graph.ty(wv), graph.ty(zwv));
    let (channels, per_channel, conv) = geometry(op, w)?;
    let (xlo, xhi) = x.elem.int_range()?;
    let (wlo, whi) = w.elem.int_range()?;
    let x_dev = (xhi as i128 - xlo as i128).unsigned_abs();
    let w_owned = const_ints(graph, wv, w);
    let w_data = w_owned.as_deref();
    let zw_owned = const_ints(graph, zwv, zw);
    let zw_data = zw_owned.as_deref();
    let distinct = if w_data.is_some() { channels } else { 1 };
    let mut out = Vec::with_capacity(distinct);
    for n in 0..distinct {
        let w_sum = match (w_data, zw_data) {
            (Some(d), zd) => {
                let z = match zd {
                    Some(z) if z.len() == 1 => Some(z.get_int(0)?),
                    Some(z) => Some(z.get_int(n)?),
                    None => None,
                };
                let mut s: u128 = 0;
                for k in 0..per_channel {
                    let q = d.get_int(weight_index(conv, channels, per_channel, n, k))? as i128;
                    let dev = match z {
                        Some(z) => (q - z as i128).unsigned_abs(),
                        None => (q - wlo as i128)
                            .unsigned_abs()
                            .max((whi as i128 - q).unsigned_abs()),
                    };
                    s = s.saturating_add(dev);
                }
                s
            }
            (None, _) => (whi as i128 - wlo as i128)
                .unsigned_abs()
                .saturating_mul(per_channel as u128),
        };
        out.push(ChannelBound {
            x_dev,
            w_sum,
            bias: 0,
        });
    }
    Some(AccumulatorBounds {
        per_channel: out,
        channel_count: channels,
        w_from_data: w_data.is_some(),
    })
}
