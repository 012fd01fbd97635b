//! Integer ops: exact integer arithmetic on stored codes minus zero points
//! (a plain integer operand counts as zero point 0). Sums of products are
//! exact (in `i128`, wide enough for any 32-bit operands); results saturate
//! to the result type's storage range.

use super::index::{ConvGeom, MatDims, broadcast_offsets, broadcast_shape, for_each_nchw};
use super::{Arg, Vals, expect_shape, rescale, saturate_i32, saturate_wide};
use crate::op::{Conv2dAttrs, IntAttrs, RequantMode};
use crate::quant::{Rescale, f32_to_i64_sat, round_half_even, saturate};
use crate::types::{ScalarType, TensorType};

/// The storage range of an accumulator result (`i32` or
/// `!quant.uniform<i32:f32, ...>`).
fn accumulator_range(out: &TensorType) -> Result<(i64, i64), String> {
    match out.elem.int_range() {
        Some(range) if out.elem.storage() == ScalarType::I32 => Ok(range),
        _ => Err(format!(
            "the result must be i32 or quantized with i32 storage, found `{}`",
            out.elem
        )),
    }
}

/// The weights' zero point for each of `channels` output channels: plain
/// integer (0), per tensor, or per axis on `axis` (the output-channel axis).
fn weight_zero_points(w: Arg, axis: usize, channels: usize) -> Result<Vec<i64>, String> {
    match w.quant() {
        None => Ok(vec![0; channels]),
        Some(q) if q.axis.is_none() => Ok(vec![q.zero_points[0]; channels]),
        Some(q) if q.axis == Some(axis) && q.zero_points.len() == channels => {
            Ok(q.zero_points.clone())
        }
        Some(_) => Err(format!(
            "the weights must be plain integers, quantized per tensor, or per axis on axis {axis}, found `{}`",
            w.ty.elem
        )),
    }
}

/// An optional integer bias of shape `[channels]` with zero point 0.
fn int_bias(b: Option<Arg<'_>>, channels: usize) -> Result<Option<&[i64]>, String> {
    let Some(b) = b else { return Ok(None) };
    if b.shape() != [channels] {
        return Err(format!(
            "the bias must have shape [{channels}], found {:?}",
            b.shape()
        ));
    }
    if b.quant()
        .is_some_and(|q| q.zero_points.iter().any(|&z| z != 0))
    {
        return Err(format!(
            "the bias must have zero point 0, found `{}`",
            b.ty.elem
        ));
    }
    b.ints("the bias").map(Some)
}

/// `matmul_int x, w[, bias[, rs]] {zx_in_bias}`:
/// `y[.., i, n] = saturate(Σ_k (x[.., i, k] − zx') · (w[k, n] − zw'[n]) − t + bias[n])`
/// with `zx' = 0` when `zx_in_bias` (else `zx`), and with row sums `rs`:
/// `zw' = 0` and `t = zw[n] · rs[.., i, 0]` (else `zw' = zw`, `t = 0`).
pub(super) fn matmul_int(
    x: Arg,
    w: Arg,
    bias: Option<Arg>,
    rs: Option<Arg>,
    attrs: &IntAttrs,
    out: &TensorType,
) -> Result<Vals, String> {
    let (xv, wv) = (x.ints("the input")?, w.ints("the weights")?);
    let zx = x.int_zero_point("the input")?;
    let zx = if attrs.zx_in_bias { 0 } else { zx };
    let d = MatDims::new(x.shape(), w.shape(), false)?;
    let zw = weight_zero_points(w, 1, d.n)?;
    let bias = int_bias(bias, d.n)?;
    let range = accumulator_range(out)?;
    expect_shape(out, &d.out_shape())?;
    let Some(rs) = rs else {
        return Ok(Vals::Int(matmul_sums(xv, wv, zx, &zw, bias, &d, range)));
    };
    let mut rows = d.out_shape();
    *rows.last_mut().expect("rank ≥ 2") = 1;
    if rs.shape() != rows {
        return Err(format!(
            "the row sums must have shape {rows:?}, found {:?}",
            rs.shape()
        ));
    }
    if rs.quant().is_some() || rs.ty.elem.storage() != ScalarType::I32 {
        return Err(format!(
            "the row sums must be plain i32, found `{}`",
            rs.ty.elem
        ));
    }
    let rv = rs.ints("the row sums")?;
    // Without the zero points, wide enough (i64 of i32 saturated values is
    // not: the raw sums can pass i32), then the row term, then saturate.
    let wide = matmul_sums(xv, wv, zx, &vec![0; d.n], None, &d, (i64::MIN, i64::MAX));
    Ok(Vals::Int(
        wide.iter()
            .enumerate()
            .map(|(j, &acc)| {
                let (row, n) = (j / d.n, j % d.n);
                let b = bias.map_or(0, |b| b[n]) as i128;
                let t = zw[n] as i128 * rv[row] as i128;
                saturate_wide(acc as i128 - t + b, range.0, range.1)
            })
            .collect(),
    ))
}

/// `saturate(Σ_k (x[.., i, k] − zx) · (w[k, n] − zw[n]) + bias[n], lo, hi)` for
/// every output element, the sums exact (shared by `matmul_int` and
/// `matmul_int_dyn`).
pub(super) fn matmul_sums(
    xv: &[i64],
    wv: &[i64],
    zx: i64,
    zw: &[i64],
    bias: Option<&[i64]>,
    d: &MatDims,
    (lo, hi): (i64, i64),
) -> Vec<i64> {
    let mut y = Vec::with_capacity(d.batch * d.m * d.n);
    for batch in 0..d.batch {
        for i in 0..d.m {
            for n in 0..d.n {
                let mut acc: i128 = 0;
                for k in 0..d.k {
                    let xc = xv[d.a_index(batch, i, k)] - zx;
                    let wc = wv[d.b_index(batch, k, n)] - zw[n];
                    acc += xc as i128 * wc as i128;
                }
                let b = bias.map_or(0, |b| b[n]);
                y.push(saturate_wide(acc + b as i128, lo, hi));
            }
        }
    }
    y
}

/// `row_sums x`: `Σ_k (x[.., i, k] − zx)` as `[.., i, 1]`, exact.
pub(super) fn row_sums(x: Arg, out: &TensorType) -> Result<Vals, String> {
    let xv = x.ints("the input")?;
    let zx = x.int_zero_point("the input")?;
    let Some((&k, rest)) = x.shape().split_last() else {
        return Err("the input must have rank ≥ 1".into());
    };
    let mut shape = rest.to_vec();
    shape.push(1);
    expect_shape(out, &shape)?;
    let range = accumulator_range(out)?;
    if out.elem.as_quant().is_some() {
        return Err(format!(
            "the result must be plain i32, found `{}`",
            out.elem
        ));
    }
    if k == 0 {
        return Ok(Vals::Int(vec![0; shape.iter().product()]));
    }
    Ok(Vals::Int(
        xv.chunks(k)
            .map(|row| {
                let s: i128 = row.iter().map(|&v| (v - zx) as i128).sum();
                saturate_wide(s, range.0, range.1)
            })
            .collect(),
    ))
}

/// `conv2d_int x, w[, bias] {zx_in_bias}`: `conv2d` on `(x − zx') · (w −
/// zw[o])`, exact, padding reading `zx`; then the bias, saturating. `zx' =
/// 0` when `zx_in_bias` (padding then contributes `zx · (w − zw[o])`),
/// else `zx` (padding contributes 0).
pub(super) fn conv2d_int(
    x: Arg,
    w: Arg,
    bias: Option<Arg>,
    attrs: &Conv2dAttrs,
    int: &IntAttrs,
    out: &TensorType,
) -> Result<Vals, String> {
    let (xv, wv) = (x.ints("the input")?, w.ints("the weights")?);
    let zx = x.int_zero_point("the input")?;
    let zx_sub = if int.zx_in_bias { 0 } else { zx };
    let g = ConvGeom::new(x.shape(), w.shape(), attrs)?;
    let zw = weight_zero_points(w, 0, g.o)?;
    let bias = int_bias(bias, g.o)?;
    let range = accumulator_range(out)?;
    expect_shape(out, &g.out_shape())?;
    Ok(Vals::Int(conv_sums(
        xv, wv, zx, zx_sub, &zw, bias, &g, range,
    )))
}

/// The integer convolution of `conv2d_int` and `conv2d_int_dyn`: for every
/// output element `saturate(Σ (x − zx_sub) · (w − zw[o]) + bias[o], lo, hi)`,
/// the sum exact, positions in the padding reading `zx` (so contributing 0
/// when `zx_sub = zx`).
#[allow(clippy::too_many_arguments)]
pub(super) fn conv_sums(
    xv: &[i64],
    wv: &[i64],
    zx: i64,
    zx_sub: i64,
    zw: &[i64],
    bias: Option<&[i64]>,
    g: &ConvGeom,
    (lo, hi): (i64, i64),
) -> Vec<i64> {
    let mut y = Vec::with_capacity(g.out_shape().iter().product());
    for_each_nchw(g.out_shape(), |n, o, oy, ox| {
        let mut acc: i128 = 0;
        g.for_each_tap(n, o, oy, ox, |xi, wi| {
            // A position in the padding reads zx.
            let xq = xi.map_or(zx, |xi| xv[xi]);
            acc += (xq - zx_sub) as i128 * (wv[wi] - zw[o]) as i128;
        });
        let b = bias.map_or(0, |b| b[o]);
        y.push(saturate_wide(acc + b as i128, lo, hi));
    });
    y
}

/// `lookup x, table`: `y[i] = table[byte(x[i])]`, the byte of an i8 code
/// in two's complement.
pub(super) fn lookup(x: Arg, table: Arg, out: &TensorType) -> Result<Vals, String> {
    let byte = |t: ScalarType| matches!(t, ScalarType::U8 | ScalarType::I8);
    if !byte(x.ty.elem.storage()) || !byte(out.elem.storage()) {
        return Err("the operand and the result must have 8-bit storage (u8 or i8)".into());
    }
    if table.shape() != [256] || table.ty.elem != crate::types::ElemType::Scalar(out.elem.storage())
    {
        return Err(format!(
            "the table must be a plain `{}` tensor of shape [256], found `{}` {:?}",
            out.elem.storage(),
            table.ty.elem,
            table.shape()
        ));
    }
    expect_shape(out, x.shape())?;
    let (xv, tv) = (x.ints("the operand")?, table.ints("the table")?);
    let (lo, hi) = out.elem.int_range().unwrap_or((i64::MIN, i64::MAX));
    let mut y = Vec::with_capacity(xv.len());
    for &q in xv {
        let v = tv[(q as u8) as usize];
        if v < lo || v > hi {
            return Err(format!(
                "table entry {} = {v} lies outside the result's range {lo}..={hi}",
                q as u8
            ));
        }
        y.push(v);
    }
    Ok(Vals::Int(y))
}

/// TFLite's left shift of the operands in the fixed-point modes of `add_int`.
const ADD_LEFT_SHIFT: u32 = 20;

/// `add_int a, b {mode}`, broadcast like `add`; see `docs/semantics.md`.
pub(super) fn add_int(
    a: Arg,
    b: Arg,
    mode: RequantMode,
    ort: bool,
    out: &TensorType,
) -> Result<Vals, String> {
    let (av, bv) = (a.ints("the first operand")?, b.ints("the second operand")?);
    let qa = a.per_tensor_quant("the first operand")?;
    let qb = b.per_tensor_quant("the second operand")?;
    let qy = match out.elem.as_quant() {
        Some(q) if !q.is_per_axis() => q,
        _ => {
            return Err(format!(
                "the result must be quantized per tensor, found `{}`",
                out.elem
            ));
        }
    };
    let shape = broadcast_shape(a.shape(), b.shape())?;
    expect_shape(out, &shape)?;
    let (sa, sb, sy) = (qa.scales[0], qb.scales[0], qy.scales[0]);
    let (za, zb, zy) = (qa.zero_points[0], qb.zero_points[0], qy.zero_points[0]);
    let (lo, hi) = (qy.storage_min, qy.storage_max);
    let ia = broadcast_offsets(a.shape(), &shape);
    let ib = broadcast_offsets(b.shape(), &shape);

    if ort {
        // onnxruntime's dialect: float multipliers, two fused multiply-adds
        // on the stored codes (`quant::OrtAdd`).
        if mode != RequantMode::Float {
            return Err(format!("`ort = true` needs float mode, found {mode}"));
        }
        for (q, which) in [
            (qa, "first operand"),
            (qb, "second operand"),
            (qy, "result"),
        ] {
            if q.storage.bits() > 8 {
                return Err(format!(
                    "with `ort = true` the {which} must be stored in at most 8 bits, found {}",
                    q.storage
                ));
            }
        }
        let (Rescale::Float(ma), Rescale::Float(mb)) =
            (rescale(mode, sa, sy, 1)?, rescale(mode, sb, sy, 1)?)
        else {
            return Err("float mode must give a float multiplier".into());
        };
        let a_outer = crate::quant::ort_add_outer_is_a(a.shape(), b.shape());
        let f = crate::quant::OrtAdd::new(ma, mb, za, zb, zy, a_outer);
        return Ok(Vals::Int(
            ia.iter()
                .zip(&ib)
                .map(|(&i, &j)| {
                    let (x, y) = if a_outer {
                        (av[i], bv[j])
                    } else {
                        (bv[j], av[i])
                    };
                    f.apply(x, y, lo, hi)
                })
                .collect(),
        ));
    }

    // The rule for one pair of centered operands, derived once.
    let add: Box<dyn Fn(i64, i64) -> i64> = match mode {
        RequantMode::Float => {
            // Ma = sa / sy and Mb = sb / sy, each one f32 division.
            let (Rescale::Float(ma), Rescale::Float(mb)) =
                (rescale(mode, sa, sy, 1)?, rescale(mode, sb, sy, 1)?)
            else {
                return Err("float mode must give a float multiplier".into());
            };
            Box::new(move |da, db| {
                let sum = (da as f32) * ma + (db as f32) * mb;
                saturate(
                    f32_to_i64_sat(round_half_even(sum)).saturating_add(zy),
                    lo,
                    hi,
                )
            })
        }
        RequantMode::SingleRound | RequantMode::DoubleRound => {
            for (q, which) in [(qa, "first"), (qb, "second")] {
                if q.storage.bits() > 8 {
                    return Err(format!(
                        "in {mode} mode the operands' storage must be at most 8 bits wide; the {which} operand is stored as {}",
                        q.storage
                    ));
                }
            }
            // t = 2·max(sa, sb) is exact in f32 when finite (a doubling).
            let t = 2.0 * sa.max(sb);
            if !t.is_finite() {
                return Err(format!("2·max({sa:?}, {sb:?}) overflows f32"));
            }
            let ra = rescale(mode, sa, t, 1)?;
            let rb = rescale(mode, sb, t, 1)?;
            let ry = rescale(mode, t, sy, 1 << ADD_LEFT_SHIFT)?;
            Box::new(move |da, db| {
                let a1 = ra.apply(saturate_i32(da << ADD_LEFT_SHIFT));
                let b1 = rb.apply(saturate_i32(db << ADD_LEFT_SHIFT));
                ry.apply_with_zp(saturate_i32(a1 + b1), zy, lo, hi)
            })
        }
    };
    Ok(Vals::Int(
        ia.iter()
            .zip(&ib)
            .map(|(&i, &j)| add(av[i] - za, bv[j] - zb))
            .collect(),
    ))
}

/// `clamp_int x {min, max}`: `min(max(x, min), max)` on the stored integers.
pub(super) fn clamp_int(x: Arg, min: i64, max: i64, out: &TensorType) -> Result<Vals, String> {
    let xv = x.ints("the operand")?;
    if min > max {
        return Err(format!("min = {min} must be ≤ max = {max}"));
    }
    if out.elem != x.ty.elem {
        return Err(format!(
            "the result type `{}` must equal the operand's `{}`",
            out.elem, x.ty.elem
        ));
    }
    expect_shape(out, x.shape())?;
    Ok(Vals::Int(xv.iter().map(|&v| v.max(min).min(max)).collect()))
}
