//! Ops whose quantization parameters are run-time values (operands), not
//! type parameters: `dynamic_scale`, `dynamic_zero_point` (ONNX's
//! DynamicQuantizeLinear), `quantize_dyn`, `dequantize_dyn`,
//! `matmul_int_dyn`, `conv2d_int_dyn`. Operands and results are plain
//! integer or f32 tensors; scales and zero points broadcast (numpy rules,
//! towards the data's shape) or are scalars.

use super::index::{ConvGeom, MatDims, broadcast_offsets, broadcast_shape};
use super::int::{conv_sums, matmul_sums};
use super::{Arg, Vals, expect_shape};
use crate::op::Conv2dAttrs;
use crate::quant::{dequantize_f32, dynamic_params, dynamic_range, quantize_f32};
use crate::types::{ElemType, TensorType};

/// The plain integer type of an operand (not f32, not quantized).
fn plain_int<'a>(a: Arg<'a>, what: &str) -> Result<&'a [i64], String> {
    match &a.ty.elem {
        ElemType::Scalar(s) if s.is_int() => a.ints(what),
        other => Err(format!(
            "{what} must be a plain integer type, found `{other}`"
        )),
    }
}

/// For every element of data of shape `shape`, the index of the element of
/// a parameter operand of shape `param` it uses (`param` must broadcast to
/// `shape` without growing it).
fn param_offsets(param: &[usize], shape: &[usize], what: &str) -> Result<Vec<usize>, String> {
    if broadcast_shape(param, shape)? != shape {
        return Err(format!(
            "{what} of shape {param:?} does not broadcast to the data's shape {shape:?}"
        ));
    }
    Ok(broadcast_offsets(param, shape))
}

/// `dynamic_scale x`: the scale of [`dynamic_params`] for the range of `x`.
pub(super) fn dynamic_scale(x: Arg, out: &TensorType) -> Result<Vals, String> {
    let xv = x.f32s("the operand")?;
    expect_shape(out, &[])?;
    let (lo, hi) = dynamic_range(xv);
    Ok(Vals::F32(vec![dynamic_params(lo, hi).0]))
}

/// `dynamic_zero_point x`: the zero point of [`dynamic_params`].
pub(super) fn dynamic_zero_point(x: Arg, out: &TensorType) -> Result<Vals, String> {
    let xv = x.f32s("the operand")?;
    expect_shape(out, &[])?;
    let (lo, hi) = dynamic_range(xv);
    Ok(Vals::Int(vec![dynamic_params(lo, hi).1]))
}

/// `quantize_dyn x, s, z`: `saturate(round_half_even(x / s) + z, lo, hi)`
/// per element, with the `s` and `z` elements broadcast to it and the
/// result's full storage range.
pub(super) fn quantize_dyn(x: Arg, s: Arg, z: Arg, out: &TensorType) -> Result<Vals, String> {
    let xv = x.f32s("`x`")?;
    let sv = s.f32s("the scale")?;
    let zv = plain_int(z, "the zero point")?;
    expect_shape(out, x.shape())?;
    let (lo, hi) = match &out.elem {
        ElemType::Scalar(st) if st.is_int() => st.int_range().unwrap_or((0, 0)),
        other => {
            return Err(format!(
                "the result must be a plain integer type, found `{other}`"
            ));
        }
    };
    let si = param_offsets(s.shape(), x.shape(), "the scale")?;
    let zi = param_offsets(z.shape(), x.shape(), "the zero point")?;
    Ok(Vals::Int(
        xv.iter()
            .zip(si.iter().zip(&zi))
            .map(|(&v, (&a, &b))| quantize_f32(v, sv[a], zv[b], lo, hi))
            .collect(),
    ))
}

/// `dequantize_dyn q, s, z`: `f32(q − z) · s` per element, `s` and `z`
/// broadcast to `q`.
pub(super) fn dequantize_dyn(q: Arg, s: Arg, z: Arg, out: &TensorType) -> Result<Vals, String> {
    let qv = plain_int(q, "`q`")?;
    let sv = s.f32s("the scale")?;
    let zv = plain_int(z, "the zero point")?;
    expect_shape(out, q.shape())?;
    let si = param_offsets(s.shape(), q.shape(), "the scale")?;
    let zi = param_offsets(z.shape(), q.shape(), "the zero point")?;
    Ok(Vals::F32(
        qv.iter()
            .zip(si.iter().zip(&zi))
            .map(|(&v, (&a, &b))| dequantize_f32(v, sv[a], zv[b]))
            .collect(),
    ))
}

/// The scalar zero point `zx` (rank 0).
fn scalar_zero_point(z: Arg, what: &str) -> Result<i64, String> {
    let v = plain_int(z, what)?;
    match (z.shape(), v) {
        ([], [one]) => Ok(*one),
        _ => Err(format!(
            "{what} must have rank 0, found shape {:?}",
            z.shape()
        )),
    }
}

/// The weights' zero point per output channel: `zw` of rank 0 or `[channels]`.
fn channel_zero_points(z: Arg, channels: usize) -> Result<Vec<i64>, String> {
    let v = plain_int(z, "`zw`")?;
    match z.shape() {
        [] => Ok(vec![v[0]; channels]),
        [c] if *c == channels => Ok(v.to_vec()),
        s => Err(format!(
            "`zw` must have rank 0 or shape [{channels}], found {s:?}"
        )),
    }
}

/// `matmul_int_dyn x, w, zx, zw`:
/// `y[.., i, n] = Σ_k (x[.., i, k] − zx) · (w[k, n] − zw[n])`, exact, saturated
/// to i32 (the verifier proves it fits).
pub(super) fn matmul_int_dyn(
    x: Arg,
    w: Arg,
    zx: Arg,
    zw: Arg,
    out: &TensorType,
) -> Result<Vals, String> {
    let (xv, wv) = (plain_int(x, "`x`")?, plain_int(w, "`w`")?);
    let zx = scalar_zero_point(zx, "`zx`")?;
    let d = MatDims::new(x.shape(), w.shape(), false)?;
    let zw = channel_zero_points(zw, d.n)?;
    expect_shape(out, &d.out_shape())?;
    let i32_range = (i32::MIN as i64, i32::MAX as i64);
    Ok(Vals::Int(matmul_sums(xv, wv, zx, &zw, None, &d, i32_range)))
}

/// `conv2d_int_dyn x, w, zx, zw`: `conv2d` on `(x − zx) · (w − zw[o])`,
/// exact, padding contributing 0, saturated to i32.
pub(super) fn conv2d_int_dyn(
    x: Arg,
    w: Arg,
    zx: Arg,
    zw: Arg,
    attrs: &Conv2dAttrs,
    out: &TensorType,
) -> Result<Vals, String> {
    let (xv, wv) = (plain_int(x, "`x`")?, plain_int(w, "`w`")?);
    let zx = scalar_zero_point(zx, "`zx`")?;
    let g = ConvGeom::new(x.shape(), w.shape(), attrs)?;
    let zw = channel_zero_points(zw, g.o)?;
    expect_shape(out, &g.out_shape())?;
    let i32_range = (i32::MIN as i64, i32::MAX as i64);
    Ok(Vals::Int(conv_sums(
        xv, wv, zx, zx, &zw, None, &g, i32_range,
    )))
}
