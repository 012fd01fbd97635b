//! Quantization ops: `quantize`, `dequantize`, `requantize`, per tensor or
//! per axis. Each element uses the parameters of its channel (its coordinate
//! along the quantized axis).

use super::index::AxisCoord;
use super::{Arg, Vals, expect_shape, rescale, saturate_i32};
use crate::op::RequantMode;
use crate::quant::{dequantize_f32, quantize_f32};
use crate::types::{QuantType, TensorType};

/// The result's quantized type.
fn quant_result<'a>(out: &'a TensorType, op: &str) -> Result<&'a QuantType, String> {
    out.elem.as_quant().ok_or_else(|| {
        format!(
            "the result of `{op}` must be quantized, found `{}`",
            out.elem
        )
    })
}

/// `quantize x`: `saturate(round_half_even(x / s[c]) + z[c], lo, hi)`.
pub(super) fn quantize(x: Arg, out: &TensorType) -> Result<Vals, String> {
    let xv = x.f32s("the operand")?;
    let q = quant_result(out, "quantize")?;
    expect_shape(out, x.shape())?;
    let channel = AxisCoord::new(x.shape(), q.axis)?;
    Ok(Vals::Int(
        xv.iter()
            .enumerate()
            .map(|(i, &v)| {
                let c = channel.of(i);
                quantize_f32(v, q.scale(c), q.zero_point(c), q.storage_min, q.storage_max)
            })
            .collect(),
    ))
}

/// `dequantize x`: `f32(q − z[c]) · s[c]`.
pub(super) fn dequantize(x: Arg, out: &TensorType) -> Result<Vals, String> {
    let xv = x.ints("the operand")?;
    let Some(q) = x.quant() else {
        return Err(format!(
            "the operand must be quantized, found `{}`",
            x.ty.elem
        ));
    };
    expect_shape(out, x.shape())?;
    let channel = AxisCoord::new(x.shape(), q.axis)?;
    Ok(Vals::F32(
        xv.iter()
            .enumerate()
            .map(|(i, &v)| {
                let c = channel.of(i);
                dequantize_f32(v, q.scale(c), q.zero_point(c))
            })
            .collect(),
    ))
}

/// `requantize x {mode}`:
/// `y = saturate(rescale_c(saturate_i32(x − z_in[c])) + z_out[c], lo, hi)`,
/// the rescale of channel `c` built once from `s_in[c] / s_out[c]`.
pub(super) fn requantize(x: Arg, mode: RequantMode, out: &TensorType) -> Result<Vals, String> {
    let xv = x.ints("the operand")?;
    let Some(qi) = x.quant() else {
        return Err(format!(
            "the operand must be quantized, found `{}`",
            x.ty.elem
        ));
    };
    let qo = quant_result(out, "requantize")?;
    expect_shape(out, x.shape())?;
    let axis = match (qi.axis, qo.axis) {
        (Some(a), Some(b)) if a != b => {
            return Err(format!(
                "the operand is quantized on axis {a} but the result on axis {b}"
            ));
        }
        (a, b) => a.or(b),
    };
    let channel = AxisCoord::new(x.shape(), axis)?;
    let channels = axis.map_or(1, |a| x.shape()[a]);
    let rescales = (0..channels)
        .map(|c| {
            rescale(mode, qi.scale(c), qo.scale(c), 1).map_err(|e| format!("channel {c}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Vals::Int(
        xv.iter()
            .enumerate()
            .map(|(i, &v)| {
                let c = channel.of(i);
                let centered = saturate_i32(v - qi.zero_point(c));
                rescales[c].apply_with_zp(
                    centered,
                    qo.zero_point(c),
                    qo.storage_min,
                    qo.storage_max,
                )
            })
            .collect(),
    ))
}
