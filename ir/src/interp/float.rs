//! Float ops: every operation rounds to f32, sums run in the documented
//! order starting from +0.0, and there is no fused multiply-add (each step is
//! written `acc = acc + a * b`).

// `acc = acc + a * b` is written out on purpose: it spells the one
// rounding per operation that the semantics requires.
#![allow(clippy::assign_op_pattern)]

use super::index::{ConvGeom, MatDims, broadcast_offsets, broadcast_shape, for_each_nchw};
use super::{Arg, Vals, expect_shape};
use crate::elementwise::{Binary, Unary, expf};
use crate::op::{Conv2dAttrs, Op};
use crate::types::TensorType;

pub(super) use crate::elementwise::{maximum, minimum};

/// `matmul a, b`: `y[.., i, j] = Σ_k a[.., i, k] · b[.., k, j]`, summed in
/// increasing `k` from +0.0.
pub(super) fn matmul(a: Arg, b: Arg, out: &TensorType) -> Result<Vals, String> {
    let (av, bv) = (a.f32s("the first operand")?, b.f32s("the second operand")?);
    let d = MatDims::new(a.shape(), b.shape(), true)?;
    expect_shape(out, &d.out_shape())?;
    let mut y = Vec::with_capacity(d.batch * d.m * d.n);
    for batch in 0..d.batch {
        for i in 0..d.m {
            for j in 0..d.n {
                let mut acc = 0.0f32;
                for k in 0..d.k {
                    acc = acc + av[d.a_index(batch, i, k)] * bv[d.b_index(batch, k, j)];
                }
                y.push(acc);
            }
        }
    }
    Ok(Vals::F32(y))
}

/// `dense x, w[, b]`: `y[i, j] = (Σ_k x[i, k] · w[j, k]) + b[j]`.
pub(super) fn dense(x: Arg, w: Arg, b: Option<Arg>, out: &TensorType) -> Result<Vals, String> {
    let (xv, wv) = (x.f32s("the input")?, w.f32s("the weights")?);
    let ([m, k], [n, k2]) = (
        <[usize; 2]>::try_from(x.shape()).map_err(|_| "the input must be [M, K]".to_string())?,
        <[usize; 2]>::try_from(w.shape()).map_err(|_| "the weights must be [N, K]".to_string())?,
    );
    if k != k2 {
        return Err(format!(
            "the input {:?} and the weights {:?} disagree on K",
            x.shape(),
            w.shape()
        ));
    }
    let bias = bias_f32(b, n)?;
    expect_shape(out, &[m, n])?;
    let mut y = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f32;
            for kk in 0..k {
                acc = acc + xv[i * k + kk] * wv[j * k + kk];
            }
            if let Some(bv) = bias {
                acc = acc + bv[j];
            }
            y.push(acc);
        }
    }
    Ok(Vals::F32(y))
}

/// An optional f32 bias of shape `[n]`.
fn bias_f32(b: Option<Arg<'_>>, n: usize) -> Result<Option<&[f32]>, String> {
    let Some(b) = b else { return Ok(None) };
    if b.shape() != [n] {
        return Err(format!(
            "the bias must have shape [{n}], found {:?}",
            b.shape()
        ));
    }
    b.f32s("the bias").map(Some)
}

/// `conv2d x, w[, b]`: the sum over the group's input channels, kernel rows
/// and kernel columns (in that order, from +0.0; padding reads 0.0 and still
/// takes part), then the bias.
pub(super) fn conv2d(
    x: Arg,
    w: Arg,
    b: Option<Arg>,
    attrs: &Conv2dAttrs,
    out: &TensorType,
) -> Result<Vals, String> {
    let (xv, wv) = (x.f32s("the input")?, w.f32s("the weights")?);
    let g = ConvGeom::new(x.shape(), w.shape(), attrs)?;
    let bias = bias_f32(b, g.o)?;
    expect_shape(out, &g.out_shape())?;
    let mut y = Vec::with_capacity(out.shape.iter().product());
    for_each_nchw(g.out_shape(), |n, o, oy, ox| {
        let mut acc = 0.0f32;
        g.for_each_tap(n, o, oy, ox, |xi, wi| {
            let xval = xi.map_or(0.0, |i| xv[i]);
            acc = acc + xval * wv[wi];
        });
        if let Some(bv) = bias {
            acc = acc + bv[o];
        }
        y.push(acc);
    });
    Ok(Vals::F32(y))
}

/// One f32 operation per element of the broadcast shape.
pub(super) fn binary(
    a: Arg,
    b: Arg,
    out: &TensorType,
    f: impl Fn(f32, f32) -> f32,
) -> Result<Vals, String> {
    let (av, bv) = (a.f32s("the first operand")?, b.f32s("the second operand")?);
    let shape = broadcast_shape(a.shape(), b.shape())?;
    expect_shape(out, &shape)?;
    let ia = broadcast_offsets(a.shape(), &shape);
    let ib = broadcast_offsets(b.shape(), &shape);
    Ok(Vals::F32(
        ia.iter().zip(&ib).map(|(&i, &j)| f(av[i], bv[j])).collect(),
    ))
}

/// The float binary elementwise ops (`add`, `mul`, `sub`, `div`, `pow`,
/// `max`, `min`): [`Binary::apply`] per element of the broadcast shape.
pub(super) fn binary_op(op: &Op, a: Arg, b: Arg, out: &TensorType) -> Result<Vals, String> {
    let Some(f) = Binary::of(op) else {
        return Err(format!("`{}` is not a binary elementwise op", op.name()));
    };
    binary(a, b, out, |x, y| f.apply(x, y))
}

/// The float unary elementwise ops (`relu`, `exp`, `sigmoid`, ...):
/// [`Unary::apply`] per element (`relu(−0.0) = +0.0`, NaN stays NaN).
pub(super) fn unary_op(op: &Op, x: Arg, out: &TensorType) -> Result<Vals, String> {
    let Some(f) = Unary::of(op) else {
        return Err(format!("`{}` is not a unary elementwise op", op.name()));
    };
    let xv = x.f32s("the operand")?;
    expect_shape(out, x.shape())?;
    Ok(Vals::F32(xv.iter().map(|&v| f.apply(v)).collect()))
}

/// `clamp x {min, max} = minimum(maximum(x, min), max)`.
pub(super) fn clamp(x: Arg, min: f32, max: f32, out: &TensorType) -> Result<Vals, String> {
    let xv = x.f32s("the operand")?;
    if !(min.is_finite() && max.is_finite() && min <= max) {
        return Err(format!(
            "min = {min:?} and max = {max:?} must be finite with min ≤ max"
        ));
    }
    expect_shape(out, x.shape())?;
    Ok(Vals::F32(
        xv.iter().map(|&v| minimum(maximum(v, min), max)).collect(),
    ))
}

/// `softmax x {axis}`: along `axis`, `m = max x`, `e_i = exp(x_i − m)`,
/// `y_i = e_i / Σ e` (the sum in index order from +0.0).
/// Which reduction [`reduce`] computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Reduce {
    Mean,
    Sum,
    Max,
    Min,
    Prod,
}

/// `reduce_mean` / `reduce_sum` / `reduce_max` / `reduce_min`: per output
/// element, its inputs in row-major order folded from +0.0 by `+` (the mean
/// then divided by their count as f32), or from −inf / +inf by IEEE
/// `maximum` / `minimum`.
pub(super) fn reduce(
    x: Arg,
    axes: &[usize],
    kind: Reduce,
    out: &TensorType,
) -> Result<Vals, String> {
    let xv = x.f32s("the operand")?;
    let shape = x.shape();
    if axes.iter().any(|&a| a >= shape.len()) {
        return Err(format!(
            "axes {axes:?} are out of range for shape {shape:?}"
        ));
    }
    let mut oshape = shape.to_vec();
    for &a in axes {
        oshape[a] = 1;
    }
    expect_shape(out, &oshape)?;
    let count: usize = axes.iter().map(|&a| shape[a]).product();
    let strides = super::index::strides(shape);
    // The reduced dims and their strides, for the inner walk.
    let red: Vec<(usize, usize)> = axes.iter().map(|&a| (shape[a], strides[a])).collect();
    let n_out: usize = oshape.iter().product();
    let ostrides = super::index::strides(&oshape);
    let mut y = vec![0.0f32; n_out];
    for (o, yo) in y.iter_mut().enumerate() {
        // The input offset of the output's first element.
        let mut base = 0;
        let mut rem = o;
        for (d, &os) in ostrides.iter().enumerate() {
            base += rem / os * strides[d];
            rem %= os;
        }
        let mut acc = match kind {
            Reduce::Mean | Reduce::Sum => 0.0f32,
            Reduce::Max => f32::NEG_INFINITY,
            Reduce::Min => f32::INFINITY,
            Reduce::Prod => 1.0,
        };
        for k in 0..count {
            let mut off = base;
            let mut r = k;
            for &(len, st) in red.iter().rev() {
                off += r % len * st;
                r /= len;
            }
            acc = match kind {
                Reduce::Mean | Reduce::Sum => acc + xv[off],
                Reduce::Max => crate::elementwise::maximum(acc, xv[off]),
                Reduce::Min => crate::elementwise::minimum(acc, xv[off]),
                Reduce::Prod => acc * xv[off],
            };
        }
        *yo = if kind == Reduce::Mean {
            acc / count as f32
        } else {
            acc
        };
    }
    Ok(Vals::F32(y))
}

pub(super) fn softmax(x: Arg, axis: usize, out: &TensorType) -> Result<Vals, String> {
    let xv = x.f32s("the operand")?;
    let shape = x.shape();
    if axis >= shape.len() {
        return Err(format!("axis {axis} is out of range for shape {shape:?}"));
    }
    expect_shape(out, shape)?;
    let len = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let outer: usize = shape[..axis].iter().product();
    let mut y = vec![0.0f32; xv.len()];
    for o in 0..outer {
        for i in 0..inner {
            // The elements of one softmax, `len` of them, `inner` apart.
            let at = |k: usize| (o * len + k) * inner + i;
            let m = (1..len).fold(xv[at(0)], |m, k| maximum(m, xv[at(k)]));
            let mut sum = 0.0f32;
            for k in 0..len {
                let e = expf(xv[at(k)] - m);
                y[at(k)] = e;
                sum = sum + e;
            }
            for k in 0..len {
                y[at(k)] = y[at(k)] / sum;
            }
        }
    }
    Ok(Vals::F32(y))
}

/// `argmax` / `argmin` along `axis`: per output element, the index of the
/// greatest (least) input in index order, the first one found (`last`:
/// the last one); for `f32` a NaN beats every number (the first NaN, or
/// the last), as numpy's `argmax` / `argmin`. Integers and quantized
/// codes are compared as stored.
pub(super) fn arg_extreme(
    x: Arg,
    axis: usize,
    last: bool,
    max: bool,
    out: &TensorType,
) -> Result<Vals, String> {
    let shape = x.shape();
    if axis >= shape.len() {
        return Err(format!("axis {axis} is out of range for shape {shape:?}"));
    }
    let mut oshape = shape.to_vec();
    oshape[axis] = 1;
    expect_shape(out, &oshape)?;
    let d = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let outer: usize = shape[..axis].iter().product();
    // Whether candidate `v` replaces the best `b` so far.
    let f_better = |v: f32, b: f32| -> bool {
        if b.is_nan() {
            last && v.is_nan()
        } else if v.is_nan() {
            true
        } else if max {
            v > b || (last && v == b)
        } else {
            v < b || (last && v == b)
        }
    };
    let i_better = |v: i64, b: i64| -> bool {
        if max {
            v > b || (last && v == b)
        } else {
            v < b || (last && v == b)
        }
    };
    let mut y = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| (o * d + k) * inner + i;
            let mut best = 0usize;
            match x.vals {
                Vals::F32(v) => {
                    for k in 1..d {
                        if f_better(v[at(k)], v[at(best)]) {
                            best = k;
                        }
                    }
                }
                Vals::Int(v) => {
                    for k in 1..d {
                        if i_better(v[at(k)], v[at(best)]) {
                            best = k;
                        }
                    }
                }
            }
            y.push(best as i64);
        }
    }
    Ok(Vals::Int(y))
}
