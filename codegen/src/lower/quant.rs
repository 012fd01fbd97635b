//! Quantization: quantize, dequantize, requantize (helpers, tables and the
//! per-channel loops) and add_int.

#[allow(unused_imports)]
use super::*;
use super::{F32, Fx, I64, RescaleVals};
use crate::plan::{Buf, Ek};
use cranelift_codegen::ir::{InstBuilder, Value};
use qcc_ir::op::{Op, RequantMode};
use qcc_ir::quant::{OrtAdd, Rescale};
use qcc_ir::types::{QuantType, ScalarType, TensorType};

/// Loops `[outer, channels, inner]` for parameters per channel along `axis`
/// (or one loop over all elements); `f(fx, index, channel)`.
pub(super) fn chan_loop(
    fx: &mut Fx,
    shape: &[usize],
    axis: Option<usize>,
    f: &mut dyn FnMut(&mut Fx, Value, Option<Value>),
) {
    match axis {
        None => fx.for_n(numel(shape).max(1), |fx, i| f(fx, i, None)),
        Some(ax) => {
            let outer = numel(&shape[..ax]);
            let ch = shape[ax];
            let inner = numel(&shape[ax + 1..]);
            fx.nest(&[outer, ch, inner], &mut |fx, i| {
                let idx = fx.lin(
                    &[(i[0], (ch * inner) as i64), (i[1], inner as i64), (i[2], 1)],
                    0,
                );
                f(fx, idx, Some(i[1]));
            });
        }
    }
}

/// Per-channel (scale f32, zero point) table, or constants.
pub(super) fn scale_zp_table(fx: &mut Fx, q: &QuantType) -> Option<Value> {
    q.is_per_axis().then(|| {
        let mut bytes = Vec::new();
        for c in 0..q.scales.len() {
            bytes.extend_from_slice(&(q.scales[c].to_bits() as u64).to_le_bytes());
            bytes.extend_from_slice(&q.zero_points[c].to_le_bytes());
        }
        fx.rodata(bytes)
    })
}

pub(super) fn scale_zp(
    fx: &mut Fx,
    q: &QuantType,
    tab: Option<Value>,
    c: Option<Value>,
) -> (Value, Value) {
    match (tab, c) {
        (Some(t), Some(c)) => {
            let off = fx.b.ins().imul_imm_s(c, 16);
            let p = fx.b.ins().iadd(t, off);
            let s = fx.b.ins().load(F32, super::flags(), p, 0);
            let z = fx.b.ins().load(I64, super::flags(), p, 8);
            (s, z)
        }
        _ => {
            let s = fx.cf(q.scales[0]);
            let z = fx.c(q.zero_points[0]);
            (s, z)
        }
    }
}

pub(super) fn quantize(fx: &mut Fx, x: &Buf, out: &Buf, out_ty: &TensorType) -> Result<(), String> {
    let q = out_ty
        .elem
        .as_quant()
        .ok_or("the result must be quantized")?
        .clone();
    if !fx.portable && q.axis.is_none() && matches!(out.ek, Ek::U8 | Ek::I8) && x.ek == Ek::F32 {
        // Per tensor to bytes: the helper.
        let prm: Vec<u8> = [
            q.scales[0].to_bits() as i64,
            q.zero_points[0],
            q.storage_min,
            q.storage_max,
        ]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
        let prm = fx.rodata(prm);
        let (xb, ob) = (fx.base(x), fx.base(out));
        let n = fx.c(numel(&out_ty.shape) as i64);
        let sig = fx.sig(&[I64; 4], &[]);
        let f = fx.import("qcc_quantize_8", sig);
        fx.b.ins().call(f, &[xb, n, prm, ob]);
        return Ok(());
    }
    let tab = scale_zp_table(fx, &q);
    let (xb, ob) = (fx.base(x), fx.base(out));
    chan_loop(fx, &out_ty.shape, q.axis, &mut |fx, i, c| {
        let (s, z) = scale_zp(fx, &q, tab, c);
        let v = fx.ld(Ek::F32, xb, i);
        let d = fx.b.ins().fdiv(v, s);
        let r = fx.b.ins().nearest(d);
        let qi = fx.b.ins().fcvt_to_sint_sat(I64, r);
        let y = fx.finish_q(qi, z, q.storage_min, q.storage_max);
        fx.st(out.ek, ob, i, y);
    });
    Ok(())
}

pub(super) fn dequantize(fx: &mut Fx, x: &Buf, xt: &TensorType, out: &Buf) -> Result<(), String> {
    let q = xt
        .elem
        .as_quant()
        .ok_or("the operand must be quantized")?
        .clone();
    if !fx.portable && q.axis.is_none() && matches!(x.ek, Ek::U8 | Ek::I8) && out.ek == Ek::F32 {
        // Per tensor from bytes: the helper.
        let prm: Vec<u8> = [q.scales[0].to_bits() as i64, q.zero_points[0]]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let prm = fx.rodata(prm);
        let (xb, ob) = (fx.base(x), fx.base(out));
        let n = fx.c(numel(&xt.shape) as i64);
        let signed = fx.c((x.ek == Ek::I8) as i64);
        let sig = fx.sig(&[I64; 5], &[]);
        let f = fx.import("qcc_dequantize_8", sig);
        fx.b.ins().call(f, &[xb, n, signed, prm, ob]);
        return Ok(());
    }
    let tab = scale_zp_table(fx, &q);
    let (xb, ob) = (fx.base(x), fx.base(out));
    chan_loop(fx, &xt.shape, q.axis, &mut |fx, i, c| {
        let (s, z) = scale_zp(fx, &q, tab, c);
        let v = fx.ld(x.ek, xb, i);
        let d = fx.b.ins().isub(v, z);
        let f = fx.b.ins().fcvt_from_sint(F32, d);
        let y = fx.b.ins().fmul(f, s);
        fx.st(Ek::F32, ob, i, y);
    });
    Ok(())
}

pub(super) fn requantize(
    fx: &mut Fx,
    x: &Buf,
    xt: &TensorType,
    out: &Buf,
    out_ty: &TensorType,
    mode: RequantMode,
    vec: bool,
) -> Result<(), String> {
    let qi = xt
        .elem
        .as_quant()
        .ok_or("the operand must be quantized")?
        .clone();
    let qo = out_ty
        .elem
        .as_quant()
        .ok_or("the result must be quantized")?
        .clone();
    let axis = qi.axis.or(qo.axis);
    let channels = axis.map_or(1, |a| xt.shape[a]);
    let mut entries = Vec::with_capacity(channels);
    for c in 0..channels {
        let r =
            rescale(mode, qi.scale(c), qo.scale(c), 1).map_err(|e| format!("channel {c}: {e}"))?;
        entries.push((r, c));
    }
    let (lo, hi) = (qo.storage_min, qo.storage_max);
    if let Some(tables) = requant_tables(xt, out_ty, mode) {
        // 8-bit in and out: one table of 256 results per channel, then a
        // byte lookup per element.
        let tp = fx.rodata(tables);
        call_channel_helper(fx, "qcc_lut8", x, out, &xt.shape, axis, tp);
        return Ok(());
    }
    if vec && x.ek == Ek::I32 && out.ek.size() == 1 {
        // The AVX-512 helper: float mode, input zero points 0, bounds exact
        // in f32.
        let mut tab: Vec<[i32; 4]> = Vec::with_capacity(channels);
        for (c, &(r, _)) in entries.iter().enumerate() {
            let zo = qo.zero_point(c);
            let (flo, fhi) = (lo - zo, hi - zo);
            match r {
                Rescale::Float(m)
                    if m.is_finite()
                        && qi.zero_point(c) == 0
                        && flo.abs() < 1 << 24
                        && fhi.abs() < 1 << 24 =>
                {
                    tab.push([
                        m.to_bits() as i32,
                        (flo as f32).to_bits() as i32,
                        (fhi as f32).to_bits() as i32,
                        zo as i32,
                    ]);
                }
                _ => break,
            }
        }
        if tab.len() == channels && numel(&xt.shape) > 0 {
            let bytes: Vec<u8> = (0..4)
                .flat_map(|t| tab.iter().map(move |e| e[t]))
                .flat_map(|v| v.to_le_bytes())
                .collect();
            let tp = fx.rodata(bytes);
            call_channel_helper(fx, "qcc_requant_f32", x, out, &xt.shape, axis, tp);
            return Ok(());
        }
    }
    let (xb, ob) = (fx.base(x), fx.base(out));
    if axis.is_none() {
        let r = fx.rescale_const(entries[0].0);
        let (zi, zo) = (qi.zero_points[0], qo.zero_points[0]);
        chan_loop(fx, &xt.shape, None, &mut |fx, i, _| {
            let v = fx.ld(x.ek, xb, i);
            let zi = fx.c(zi);
            let zo = fx.c(zo);
            requant_one(fx, r, v, zi, zo, lo, hi, out, ob, i);
        });
    } else {
        // Table entry: the rescale, and the two zero points packed as extra
        // data in a second table.
        let kind = entries[0].0;
        let tab = fx.rescale_table(
            &entries
                .iter()
                .map(|&(r, c)| (r, qo.zero_point(c)))
                .collect::<Vec<_>>(),
        );
        let zi_bytes: Vec<u8> = (0..channels)
            .flat_map(|c| qi.zero_point(c).to_le_bytes())
            .collect();
        let zit = fx.rodata(zi_bytes);
        chan_loop(fx, &xt.shape, axis, &mut |fx, i, c| {
            let c = c.expect("channel");
            let (r, zo) = fx.rescale_entry(kind, tab, c);
            let off = fx.b.ins().imul_imm_s(c, 8);
            let p = fx.b.ins().iadd(zit, off);
            let zi = fx.b.ins().load(I64, super::flags(), p, 0);
            let v = fx.ld(x.ek, xb, i);
            requant_one(fx, r, v, zi, zo, lo, hi, out, ob, i);
        });
    }
    Ok(())
}

/// The `requantize` of 8-bit input and output as tables: for each channel
/// (one when neither side is per axis) the 256 results indexed by the
/// input byte, computed by the reference interpreter
/// ([`qcc_ir::interp::byte_tables`]), so the lookup is its semantics by
/// construction. `None` when the types do not qualify or the interpreter
/// refuses the op.
pub(super) fn requant_tables(
    xt: &TensorType,
    out_ty: &TensorType,
    mode: RequantMode,
) -> Option<Vec<u8>> {
    let byte = |t: ScalarType| matches!(t, ScalarType::U8 | ScalarType::I8);
    let (qi, qo) = (xt.elem.as_quant()?, out_ty.elem.as_quant()?);
    if !byte(qi.storage) || !byte(qo.storage) || numel(&xt.shape) < 64 {
        return None;
    }
    let channels = qi.axis.or(qo.axis).map_or(1, |a| xt.shape[a]);
    // The table graph is `[channels, codes]`: per axis on 0 where the op is.
    let on_rows = |q: &QuantType| {
        let mut q = q.clone();
        if q.axis.is_some() {
            q.axis = Some(0);
        }
        qcc_ir::ElemType::quant(q)
    };
    let tables = qcc_ir::interp::byte_tables(&on_rows(qi), channels, |g, x, shape| {
        let ty = TensorType::new(shape.to_vec(), on_rows(qo));
        Some(g.add_node(Op::Requantize { mode }, &[x], ty))
    })?;
    Some(tables.into_iter().map(|v| v as u8).collect())
}

/// Calls the shim helper `name(x, outer, channels, inner, table, out)` over
/// `shape` split around `axis` (`outer = 1` and `channels = 1` without one):
/// the elementwise helpers with a table per channel.
#[allow(clippy::too_many_arguments)]
pub(super) fn call_channel_helper(
    fx: &mut Fx,
    name: &str,
    x: &Buf,
    out: &Buf,
    shape: &[usize],
    axis: Option<usize>,
    table: Value,
) {
    let (outer, channels, inner) = match axis {
        None => (1, 1, numel(shape)),
        Some(a) => (numel(&shape[..a]), shape[a], numel(&shape[a + 1..])),
    };
    let (xb, ob) = (fx.base(x), fx.base(out));
    if fx.portable {
        // No helper: the byte lookup as a generated loop (`qcc_lut8`'s
        // loop; the only table helper lowering calls without the JIT).
        assert_eq!(name, "qcc_lut8", "only the lookup runs without helpers");
        fx.nest(&[outer, channels, inner], &mut |fx, idx| {
            let i = fx.lin(
                &[
                    (idx[0], (channels * inner) as i64),
                    (idx[1], inner as i64),
                    (idx[2], 1),
                ],
                0,
            );
            let v = fx.ld(Ek::U8, xb, i);
            let t = fx.lin(&[(idx[1], 256)], 0);
            let t = fx.b.ins().iadd(t, v);
            let y = fx.ld(Ek::U8, table, t);
            fx.st(Ek::U8, ob, i, y);
        });
        return;
    }
    let sig = fx.sig(&[I64; 6], &[]);
    let f = fx.import(name, sig);
    let (o, c, i) = (
        fx.c(outer as i64),
        fx.c(channels as i64),
        fx.c(inner as i64),
    );
    fx.b.ins().call(f, &[xb, o, c, i, table, ob]);
}

#[allow(clippy::too_many_arguments)]
pub(super) fn requant_one(
    fx: &mut Fx,
    r: RescaleVals,
    v: Value,
    zi: Value,
    zo: Value,
    lo: i64,
    hi: i64,
    out: &Buf,
    ob: Value,
    i: Value,
) {
    let d = fx.b.ins().isub(v, zi);
    let d = fx.sat_i32(d);
    let y = fx.apply_rescale(r, d);
    let y = fx.finish_q(y, zo, lo, hi);
    fx.st(out.ek, ob, i, y);
}

pub(super) const ADD_LEFT_SHIFT: i64 = 20;

/// The parameter block of the `qcc_add_int_8` helpers.
#[allow(clippy::too_many_arguments)]
pub(super) fn add_int_8_params(
    ma: f32,
    mb: f32,
    za: i64,
    zb: i64,
    zy: i64,
    lo: i64,
    hi: i64,
    ea: Ek,
    eb: Ek,
) -> Vec<u8> {
    [
        ma.to_bits() as i64,
        mb.to_bits() as i64,
        za,
        zb,
        zy,
        lo,
        hi,
        (ea == Ek::I8) as i64,
        (eb == Ek::I8) as i64,
    ]
    .iter()
    .flat_map(|v| v.to_le_bytes())
    .collect()
}

/// The parameter block of the `qcc_add_int_ort_8` helpers: `OrtAdd`'s
/// `rx`, `ry`, `k` (f32 bits), `lo`, `hi`, and whether the outer and the
/// inner operand are signed bytes.
fn add_int_ort_8_params(f: &OrtAdd, lo: i64, hi: i64, sx: bool, sy: bool) -> Vec<u8> {
    [
        f.rx.to_bits() as i64,
        f.ry.to_bits() as i64,
        f.k.to_bits() as i64,
        lo,
        hi,
        sx as i64,
        sy as i64,
    ]
    .iter()
    .flat_map(|v| v.to_le_bytes())
    .collect()
}

/// `add_int {ort = true}`: onnxruntime's two fused multiply-adds on the
/// codes (`qcc_ir::quant::OrtAdd`), the operands taken in (outer, inner)
/// order. Bytes of the same shape, or broadcast along the outer dimensions
/// only, go to the vectorized helpers; everything else (and objects) to
/// the generated loop, whose `fma` is one rounding as the helpers' is.
#[allow(clippy::too_many_arguments)]
fn add_int_ort(
    fx: &mut Fx,
    a: &[Buf],
    at: &[&TensorType],
    out: &Buf,
    out_ty: &TensorType,
    [ma, mb]: [f32; 2],
    [za, zb, zy]: [i64; 3],
    lo: i64,
    hi: i64,
) -> Result<(), String> {
    let a_outer = qcc_ir::quant::ort_add_outer_is_a(&at[0].shape, &at[1].shape);
    let f = OrtAdd::new(ma, mb, za, zb, zy, a_outer);
    if ![f.rx, f.ry, f.k].iter().all(|v| v.is_finite()) {
        // Verified multipliers are below 2^31, so this is never reached;
        // the helpers rely on finite sums.
        return Err(format!("the multipliers {f:?} must be finite"));
    }
    let (xi, yi) = if a_outer { (0, 1) } else { (1, 0) };
    let bytes = |e: Ek| matches!(e, Ek::U8 | Ek::I8);
    if !fx.portable && bytes(a[0].ek) && bytes(a[1].ek) && bytes(out.ek) {
        let prm = add_int_ort_8_params(&f, lo, hi, a[xi].ek == Ek::I8, a[yi].ek == Ek::I8);
        let shape = &out_ty.shape;
        if at[0].shape == *shape && at[1].shape == *shape {
            let prm = fx.rodata(prm);
            let (xb, yb, ob) = (fx.base(&a[xi]), fx.base(&a[yi]), fx.base(out));
            let n = fx.c(numel(shape) as i64);
            let sig = fx.sig(&[I64; 5], &[]);
            let h = fx.import("qcc_add_int_ort_8", sig);
            fx.b.ins().call(h, &[xb, yb, n, prm, ob]);
            return Ok(());
        }
        let (dims, [sx_, sy_, so]) = collapse(
            shape,
            [
                bcast_strides(&at[xi].shape, shape),
                bcast_strides(&at[yi].shape, shape),
                strides(shape),
            ],
        );
        let last = dims.len() - 1;
        let inner = dims[last];
        let unit = |s: &[i64]| matches!(s[last], 0 | 1);
        if inner >= 16 && unit(&sx_) && unit(&sy_) && so[last] == 1 {
            let prm = fx.rodata(prm);
            let (xb, yb, ob) = (fx.base(&a[xi]), fx.base(&a[yi]), fx.base(out));
            let sig = fx.sig(&[I64; 7], &[]);
            let h = fx.import("qcc_add_int_ort_8_bcast", sig);
            fx.nest(&dims[..last], &mut |fx, idx| {
                let t = |s: &[i64]| -> Vec<(Value, i64)> {
                    idx.iter().copied().zip(s.iter().copied()).collect()
                };
                let ix = fx.lin(&t(&sx_), 0);
                let iy = fx.lin(&t(&sy_), 0);
                let io = fx.lin(&t(&so), 0);
                let px = fx.b.ins().iadd(xb, ix);
                let py = fx.b.ins().iadd(yb, iy);
                let po = fx.b.ins().iadd(ob, io);
                let (s1, s2, n) = (fx.c(sx_[last]), fx.c(sy_[last]), fx.c(inner as i64));
                fx.b.ins().call(h, &[px, s1, py, s2, n, prm, po]);
            });
            return Ok(());
        }
    }
    binary(fx, a, at, out, out_ty, &mut |fx, p, q| {
        let (x, y) = if a_outer { (p, q) } else { (q, p) };
        let fxv = fx.b.ins().fcvt_from_sint(F32, x);
        let fyv = fx.b.ins().fcvt_from_sint(F32, y);
        let (rx, ry, k) = (fx.cf(f.rx), fx.cf(f.ry), fx.cf(f.k));
        let t = fx.b.ins().fma(fyv, ry, k);
        let s = fx.b.ins().fma(fxv, rx, t);
        let r = fx.b.ins().nearest(s);
        let r = fx.b.ins().fcvt_to_sint_sat(I64, r);
        let z = fx.c(0);
        fx.finish_q(r, z, lo, hi)
    });
    Ok(())
}

pub(super) fn add_int(
    fx: &mut Fx,
    a: &[Buf],
    at: &[&TensorType],
    out: &Buf,
    out_ty: &TensorType,
    mode: RequantMode,
    ort: bool,
) -> Result<(), String> {
    let pt = |t: &TensorType| -> Result<QuantType, String> {
        match t.elem.as_quant() {
            Some(q) if !q.is_per_axis() => Ok(q.clone()),
            _ => Err(format!("`{}` must be quantized per tensor", t.elem)),
        }
    };
    let (qa, qb, qy) = (pt(at[0])?, pt(at[1])?, pt(out_ty)?);
    let (sa, sb, sy) = (qa.scales[0], qb.scales[0], qy.scales[0]);
    let (za, zb, zy) = (qa.zero_points[0], qb.zero_points[0], qy.zero_points[0]);
    let (lo, hi) = (qy.storage_min, qy.storage_max);
    if ort {
        if mode != RequantMode::Float {
            return Err(format!("`ort = true` needs float mode, found {mode}"));
        }
        let (Rescale::Float(ma), Rescale::Float(mb)) =
            (rescale(mode, sa, sy, 1)?, rescale(mode, sb, sy, 1)?)
        else {
            return Err("float mode must give a float multiplier".into());
        };
        return add_int_ort(fx, a, at, out, out_ty, [ma, mb], [za, zb, zy], lo, hi);
    }
    match mode {
        RequantMode::Float => {
            let (Rescale::Float(ma), Rescale::Float(mb)) =
                (rescale(mode, sa, sy, 1)?, rescale(mode, sb, sy, 1)?)
            else {
                return Err("float mode must give a float multiplier".into());
            };
            let bytes = |e: Ek| matches!(e, Ek::U8 | Ek::I8);
            if !fx.portable
                && at[0].shape == out_ty.shape
                && at[1].shape == out_ty.shape
                && bytes(a[0].ek)
                && bytes(a[1].ek)
                && bytes(out.ek)
            {
                // Same shapes, bytes: the helper.
                let prm = add_int_8_params(ma, mb, za, zb, zy, lo, hi, a[0].ek, a[1].ek);
                let prm = fx.rodata(prm);
                let (ab, bb, ob) = (fx.base(&a[0]), fx.base(&a[1]), fx.base(out));
                let n = fx.c(numel(&out_ty.shape) as i64);
                let sig = fx.sig(&[I64; 5], &[]);
                let f = fx.import("qcc_add_int_8", sig);
                fx.b.ins().call(f, &[ab, bb, n, prm, ob]);
                return Ok(());
            }
            if bytes(a[0].ek) && bytes(a[1].ek) && bytes(out.ek) {
                let shape = &out_ty.shape;
                let (dims, [sa_, sb_, so]) = collapse(
                    shape,
                    [
                        bcast_strides(&at[0].shape, shape),
                        bcast_strides(&at[1].shape, shape),
                        strides(shape),
                    ],
                );
                let last = dims.len() - 1;
                let inner = dims[last];
                let unit = |s: &[i64]| matches!(s[last], 0 | 1);
                if !fx.portable && inner >= 16 && unit(&sa_) && unit(&sb_) && so[last] == 1 {
                    // A broadcast along the outer dimensions (a per-channel
                    // bias, a row added to every row): the helper on each
                    // innermost run.
                    let prm = add_int_8_params(ma, mb, za, zb, zy, lo, hi, a[0].ek, a[1].ek);
                    let prm = fx.rodata(prm);
                    let (ab, bb, ob) = (fx.base(&a[0]), fx.base(&a[1]), fx.base(out));
                    let sig = fx.sig(&[I64; 7], &[]);
                    let f = fx.import("qcc_add_int_8_bcast", sig);
                    fx.nest(&dims[..last], &mut |fx, idx| {
                        let t = |s: &[i64]| -> Vec<(Value, i64)> {
                            idx.iter().copied().zip(s.iter().copied()).collect()
                        };
                        let ia = fx.lin(&t(&sa_), 0);
                        let ib = fx.lin(&t(&sb_), 0);
                        let io = fx.lin(&t(&so), 0);
                        let pa = fx.b.ins().iadd(ab, ia);
                        let pb = fx.b.ins().iadd(bb, ib);
                        let po = fx.b.ins().iadd(ob, io);
                        let (sa1, sb1, n) = (fx.c(sa_[last]), fx.c(sb_[last]), fx.c(inner as i64));
                        fx.b.ins().call(f, &[pa, sa1, pb, sb1, n, prm, po]);
                    });
                    return Ok(());
                }
            }
            binary(fx, a, at, out, out_ty, &mut |fx, x, y| {
                let da = fx.b.ins().iadd_imm_s(x, -za);
                let db = fx.b.ins().iadd_imm_s(y, -zb);
                let fa = fx.b.ins().fcvt_from_sint(F32, da);
                let fb = fx.b.ins().fcvt_from_sint(F32, db);
                let ma = fx.cf(ma);
                let mb = fx.cf(mb);
                let pa = fx.b.ins().fmul(fa, ma);
                let pb = fx.b.ins().fmul(fb, mb);
                let s = fx.b.ins().fadd(pa, pb);
                let r = fx.b.ins().nearest(s);
                let r = fx.b.ins().fcvt_to_sint_sat(I64, r);
                let z = fx.c(zy);
                fx.finish_q(r, z, lo, hi)
            });
        }
        RequantMode::SingleRound | RequantMode::DoubleRound => {
            if qa.storage.bits() > 8 || qb.storage.bits() > 8 {
                return Err(format!(
                    "in {mode} mode the operands' storage must be at most 8 bits wide"
                ));
            }
            let t = 2.0 * sa.max(sb);
            if !t.is_finite() {
                return Err("2·max(sa, sb) overflows f32".into());
            }
            let ra = rescale(mode, sa, t, 1)?;
            let rb = rescale(mode, sb, t, 1)?;
            let ry = rescale(mode, t, sy, 1 << ADD_LEFT_SHIFT)?;
            binary(fx, a, at, out, out_ty, &mut |fx, x, y| {
                let (ra, rb, ry) = (
                    fx.rescale_const(ra),
                    fx.rescale_const(rb),
                    fx.rescale_const(ry),
                );
                let da = fx.b.ins().iadd_imm_s(x, -za);
                let da = fx.b.ins().ishl_imm_s(da, ADD_LEFT_SHIFT);
                let da = fx.sat_i32(da);
                let db = fx.b.ins().iadd_imm_s(y, -zb);
                let db = fx.b.ins().ishl_imm_s(db, ADD_LEFT_SHIFT);
                let db = fx.sat_i32(db);
                let a1 = fx.apply_rescale(ra, da);
                let b1 = fx.apply_rescale(rb, db);
                let s = fx.b.ins().iadd(a1, b1);
                let s = fx.sat_i32(s);
                let r = fx.apply_rescale(ry, s);
                let z = fx.c(zy);
                fx.finish_q(r, z, lo, hi)
            });
        }
    }
    Ok(())
}

/// A table of per-channel i64 values when they differ, else `None`.
pub(super) fn per_channel_i64(fx: &mut Fx, vals: &[i64]) -> Option<Value> {
    (vals.iter().any(|&v| v != vals[0])).then(|| {
        let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        fx.rodata(bytes)
    })
}

pub(super) fn channel_value(fx: &mut Fx, vals: &[i64], tab: Option<Value>, c: Value) -> Value {
    match tab {
        Some(t) => {
            let off = fx.b.ins().imul_imm_s(c, 8);
            let p = fx.b.ins().iadd(t, off);
            fx.b.ins().load(I64, super::flags(), p, 0)
        }
        None => fx.c(vals[0]),
    }
}
