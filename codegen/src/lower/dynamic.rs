//! The lowering of the ops whose quantization parameters are run-time
//! values: `dynamic_scale`, `dynamic_zero_point`, `quantize_dyn`,
//! `dequantize_dyn`, `matmul_int_dyn`, `conv2d_int_dyn` (see
//! `docs/semantics.md` § Run-time quantization parameters and
//! `qcc_ir::interp`'s `dynamic` module, which this mirrors step for step).
//!
//! Scales and zero points are loaded from their buffers; shapes and
//! strides are still constants. The generic loops are plain scalar loops
//! with exact i64 integer arithmetic and one IEEE operation per f32 step,
//! so the results equal the interpreter's bit for bit.
//!
//! `matmul_int_dyn` and `conv2d_int_dyn` with constant weights and weight
//! zero points run on the int8 kernels of the static ops instead
//! ([`prepare`]): their [`GemmPrep`] (or [`DepthwisePrep`]) is made for
//! `zx = 0`, so that the kernels compute `V = Σ_k x'_k · (w − zw[n])`
//! exactly, where `x'` is `x` and, at a convolution's padding, the run-time
//! zero point `zx` (the padding value is stored at run time); then
//! `y = V − zx · wsum[n]` with the compile-time `wsum[n] = Σ_k (w − zw[n])`
//! is `Σ_valid (x − zx) · (w − zw[n])`, the op's definition. Each of `V`,
//! `zx · wsum[n]` and `y` is at most `255 · Σ_k |w − zw[n]|` in magnitude
//! (`|x'| ≤ 255`, `|zx| ≤ 255`, `|x − zx| ≤ 255` for 8-bit storage), which
//! [`prepare`] checks to fit in i32 (the verifier's bound of these ops,
//! `docs/semantics.md` § Run-time quantization parameters): the kernels'
//! wrapping i32 arithmetic is then exact and no clamp to i32 ever applies.

use super::common::{bcast_strides, numel, strides};
use super::conv::{DynDepthwise, depthwise_emit, depthwise_prep, dyn_geo_bytes};
use super::gemm::{ConvShape, DynZeroPoint, GemmPrep};
use super::ops::DepthwisePrep;
use super::{F32, Fx, I64};
use crate::plan::{Buf, Ek};
use crate::shim::DotPath;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{InstBuilder, Value};
use qcc_ir::op::{Conv2dAttrs, Op};
use qcc_ir::types::{ScalarType, TensorType};
use qcc_ir::{Graph, ValueId};

/// A `matmul_int_dyn` / `conv2d_int_dyn` on the int8 kernels (see the
/// module doc).
#[derive(Clone, Debug)]
pub(crate) struct DynPrep {
    pub kernel: DynKernel,
    /// `Σ_k (w − zw[n])` per output channel.
    pub wsum: Vec<i32>,
}

#[derive(Clone, Debug)]
pub(crate) enum DynKernel {
    /// The GEMM (a matmul, or a convolution of one group through im2col).
    Gemm(GemmPrep),
    /// A depthwise convolution on `qcc_depthwise`.
    Depthwise(DepthwisePrep),
}

impl DynPrep {
    pub fn phases(&self) -> usize {
        match &self.kernel {
            DynKernel::Gemm(g) => g.phases(),
            DynKernel::Depthwise(_) => 1,
        }
    }

    pub fn units(&self, phase: usize) -> usize {
        match &self.kernel {
            DynKernel::Gemm(g) => g.units(phase),
            DynKernel::Depthwise(d) => d.units,
        }
    }

    /// The kernel's temporaries, then the run-time bias and parameters
    /// (one copy per unit for the depthwise kernel, whose units each
    /// store their own).
    pub fn temps(&self) -> Vec<usize> {
        match &self.kernel {
            DynKernel::Gemm(g) => {
                let mut t = g.temps().to_vec();
                t.push(4 * g.n);
                t.push(if g.conv.is_some() { 8 * 19 } else { 0 });
                t
            }
            DynKernel::Depthwise(d) => vec![
                d.geo.scratch() * d.units,
                dyn_geo_bytes(d) * d.units,
                4 * d.geo.c * d.units,
            ],
        }
    }

    pub fn plan_units(&mut self, threads: usize) {
        match &mut self.kernel {
            DynKernel::Gemm(g) => g.plan_units(threads),
            DynKernel::Depthwise(d) => d.plan_units(threads),
        }
    }
}

/// The kernel preparation of `matmul_int_dyn` / `conv2d_int_dyn` node `v`
/// where it applies: a path with kernels, 8-bit activations, constant
/// 8-bit weights and weight zero points, the bound of the module doc in
/// i32, and (convolutions) one group or a depthwise convolution the
/// depthwise kernel covers. Unsigned weights are read as `w − 128` with
/// zero points `zw − 128` (the same differences, in i8).
pub(crate) fn prepare(graph: &Graph, v: ValueId, path: DotPath) -> Option<DynPrep> {
    if path == DotPath::Scalar {
        return None;
    }
    let node = graph.node(v);
    let args = graph.args(v);
    let conv = match &node.op {
        Op::MatMulIntDyn => None,
        Op::Conv2dIntDyn(a) => Some(a),
        _ => return None,
    };
    let (xt, wt, zwt) = (graph.ty(args[0]), graph.ty(args[1]), graph.ty(args[3]));
    let signed_x = match xt.elem.storage() {
        ScalarType::U8 => false,
        ScalarType::I8 => true,
        _ => return None,
    };
    let shift = match wt.elem.storage() {
        ScalarType::I8 => 0,
        ScalarType::U8 => 128,
        _ => return None,
    };
    let wc = graph.node(args[1]).op.as_const()?;
    let zc = graph.node(args[3]).op.as_const()?;
    let wv: Vec<i64> = wc.logical(wt).to_i64s()?;
    let zv: Vec<i64> = zc.logical(zwt).to_i64s()?;
    let channels = if conv.is_some() {
        wt.shape[0]
    } else {
        wt.shape[1]
    };
    let zw: Vec<i64> = match zv.len() {
        1 => vec![zv[0] - shift; channels],
        n if n == channels => zv.iter().map(|z| z - shift).collect(),
        _ => return None,
    };
    let w_at = |kk: usize, col: usize| wv[kk * channels + col] - shift;
    let per = wv.len() / channels.max(1);
    // Σ_k (w − zw) and the bound 255 · Σ_k |w − zw| per channel.
    let mut wsum = Vec::with_capacity(channels);
    for (col, &z) in zw.iter().enumerate() {
        let (mut s, mut a) = (0i64, 0i64);
        for kk in 0..per {
            let w = if conv.is_some() {
                wv[col * per + kk] - shift
            } else {
                w_at(kk, col)
            };
            s += w - z;
            a += (w - z).abs();
        }
        if 255 * a > i32::MAX as i64 {
            return None;
        }
        wsum.push(s as i32);
    }
    let range = node.ty.elem.int_range()?;
    let kernel = match conv {
        None => {
            let (k, n) = (wt.shape[0], wt.shape[1]);
            let m = numel(&xt.shape) / k.max(1);
            DynKernel::Gemm(GemmPrep::new(
                path, m, k, n, signed_x, 0, false, zw, w_at, None, None, range,
            ))
        }
        Some(a) if a.groups > 1 => {
            if zw.iter().any(|&z| z != 0) {
                return None;
            }
            let wv: Vec<i64> = wv.iter().map(|w| w - shift).collect();
            let d = depthwise_prep(
                path, &xt.shape, &wt.shape, &node.ty, a, signed_x, 0, false, &wv,
            )?;
            DynKernel::Depthwise(d)
        }
        Some(a) => {
            let shape = ConvShape::of(&xt.shape, &wt.shape, &node.ty.shape, a)?;
            let (n, c, kh, kw, o, oh, ow) = (
                shape.n, shape.c, shape.kh, shape.kw, shape.o, shape.oh, shape.ow,
            );
            let k = c * kh * kw;
            DynKernel::Gemm(GemmPrep::new(
                path,
                n * oh * ow,
                k,
                o,
                signed_x,
                0,
                false,
                zw,
                // The im2col order `kk = (ky·kw + kx)·c + ci` of weights
                // `[o][c][kh][kw]` (as `super::ops::prepare`).
                |kk, col| wv[col * k + (kk % c) * kh * kw + kk / c] - shift,
                None,
                Some(shape),
                range,
            ))
        }
    };
    Some(DynPrep { kernel, wsum })
}

/// Emits phase `phase` of an op prepared by [`prepare`]: `a` its operands'
/// buffers (`x, w, zx, zw`), `temps` the arena offsets of
/// [`DynPrep::temps`].
pub(crate) fn emit(fx: &mut Fx, d: &DynPrep, a: &[Buf], out: &Buf, temps: &[usize], phase: usize) {
    match &d.kernel {
        DynKernel::Gemm(g) => {
            let dz = DynZeroPoint {
                zx: &a[2],
                wsum: &d.wsum,
                bias_at: temps[4],
                prm_at: temps[5],
            };
            super::gemm::emit(fx, g, &a[0], None, out, temps, phase, Some(&dz));
        }
        DynKernel::Depthwise(k) => {
            let dz = DynDepthwise {
                zx: &a[2],
                wsum: &d.wsum,
            };
            depthwise_emit(fx, k, &a[0], None, out, temps, Some(&dz));
        }
    }
}

/// Lowers one of the ops of this module; `a` / `at` are the operands'
/// buffers and types.
pub(crate) fn lower(
    fx: &mut Fx,
    op: &Op,
    a: &[Buf],
    at: &[&TensorType],
    out: &Buf,
    out_ty: &TensorType,
) -> Result<(), String> {
    match op {
        Op::DynamicScale => dynamic_param(fx, &a[0], numel(&at[0].shape), out, false),
        Op::DynamicZeroPoint => dynamic_param(fx, &a[0], numel(&at[0].shape), out, true),
        Op::QuantizeDyn => quantize_dyn(fx, a, at, out, out_ty),
        Op::DequantizeDyn => dequantize_dyn(fx, a, at, out),
        Op::MatMulIntDyn => matmul_int_dyn(fx, a, at, out),
        Op::Conv2dIntDyn(attrs) => conv2d_int_dyn(fx, a, at, out, out_ty, attrs),
        other => Err(format!("`{}` is not a run-time-parameter op", other.name())),
    }
}

/// `dynamic_scale` / `dynamic_zero_point`: the range `[min(0, min x),
/// max(0, max x)]` by strict comparisons (NaN never wins), then
/// `qcc_ir::quant::dynamic_params` in f32.
fn dynamic_param(
    fx: &mut Fx,
    x: &Buf,
    n: usize,
    out: &Buf,
    zero_point: bool,
) -> Result<(), String> {
    let xb = fx.base(x);
    let ob = fx.base(out);
    let zero = fx.cf(0.0);
    let lo = fx.var(F32, zero);
    let hi = fx.var(F32, zero);
    fx.for_n(n.max(1), |fx, i| {
        let v = fx.ld(Ek::F32, xb, i);
        let l = fx.b.use_var(lo);
        let lt = fx.b.ins().fcmp(FloatCC::LessThan, v, l);
        let l2 = fx.b.ins().select(lt, v, l);
        fx.b.def_var(lo, l2);
        let h = fx.b.use_var(hi);
        let gt = fx.b.ins().fcmp(FloatCC::GreaterThan, v, h);
        let h2 = fx.b.ins().select(gt, v, h);
        fx.b.def_var(hi, h2);
    });
    let (l, h) = (fx.b.use_var(lo), fx.b.use_var(hi));
    // scale = hi == lo ? 1 : (hi − lo) / 255
    let eq = fx.b.ins().fcmp(FloatCC::Equal, h, l);
    let diff = fx.b.ins().fsub(h, l);
    let c255 = fx.cf(255.0);
    let s = fx.b.ins().fdiv(diff, c255);
    let one = fx.cf(1.0);
    let scale = fx.b.ins().select(eq, one, s);
    let z0 = fx.c(0);
    if !zero_point {
        fx.st(Ek::F32, ob, z0, scale);
        return Ok(());
    }
    // zero point = round_half_even(clamp(0 − lo / scale, 0, 255)), NaN → 255.
    let q = fx.b.ins().fdiv(l, scale);
    let zf = fx.b.ins().fsub(zero, q);
    let below = fx.b.ins().fcmp(FloatCC::LessThan, zf, zero);
    let c = fx.b.ins().select(below, zero, zf);
    let above = fx.b.ins().fcmp(FloatCC::GreaterThan, c, c255);
    let c = fx.b.ins().select(above, c255, c);
    let nan = fx.b.ins().fcmp(FloatCC::Unordered, zf, zf);
    let c = fx.b.ins().select(nan, c255, c);
    let r = fx.b.ins().nearest(c);
    let zi = fx.b.ins().fcvt_to_sint_sat(I64, r);
    fx.st(out.ek, ob, z0, zi);
    Ok(())
}

/// Loops over `shape` (rank 0 as one element) with, for every element, its
/// row-major index and the indices into the two parameter operands of
/// shapes `ps` and `pz` broadcast to it.
fn with_params(
    fx: &mut Fx,
    shape: &[usize],
    ps: &[usize],
    pz: &[usize],
    f: &mut dyn FnMut(&mut Fx, Value, Value, Value),
) {
    let (ss, sz, so) = (
        bcast_strides(ps, shape),
        bcast_strides(pz, shape),
        strides(shape),
    );
    let dims: Vec<usize> = if shape.is_empty() {
        vec![1]
    } else {
        shape.to_vec()
    };
    let pad = |v: Vec<i64>| if v.is_empty() { vec![0] } else { v };
    let (ss, sz, so) = (pad(ss), pad(sz), pad(so));
    fx.nest(&dims, &mut |fx, idx| {
        let t = |s: &[i64]| -> Vec<(Value, i64)> {
            idx.iter().copied().zip(s.iter().copied()).collect()
        };
        let io = fx.lin(&t(&so), 0);
        let is = fx.lin(&t(&ss), 0);
        let iz = fx.lin(&t(&sz), 0);
        f(fx, io, is, iz);
    });
}

/// `quantize_dyn x, s, z`: `saturate(round_half_even(x / s) + z)`.
fn quantize_dyn(
    fx: &mut Fx,
    a: &[Buf],
    at: &[&TensorType],
    out: &Buf,
    out_ty: &TensorType,
) -> Result<(), String> {
    let (lo, hi) = out_ty
        .elem
        .int_range()
        .ok_or("the result must be an integer type")?;
    let (xb, sb, zb, ob) = (fx.base(&a[0]), fx.base(&a[1]), fx.base(&a[2]), fx.base(out));
    let ze = a[2].ek;
    with_params(
        fx,
        &at[0].shape,
        &at[1].shape,
        &at[2].shape,
        &mut |fx, i, is, iz| {
            let v = fx.ld(Ek::F32, xb, i);
            let s = fx.ld(Ek::F32, sb, is);
            let z = fx.ld(ze, zb, iz);
            let d = fx.b.ins().fdiv(v, s);
            let r = fx.b.ins().nearest(d);
            let q = fx.b.ins().fcvt_to_sint_sat(I64, r);
            let y = fx.finish_q(q, z, lo, hi);
            fx.st(out.ek, ob, i, y);
        },
    );
    Ok(())
}

/// `dequantize_dyn q, s, z`: `f32(q − z) · s`.
fn dequantize_dyn(fx: &mut Fx, a: &[Buf], at: &[&TensorType], out: &Buf) -> Result<(), String> {
    let (qb, sb, zb, ob) = (fx.base(&a[0]), fx.base(&a[1]), fx.base(&a[2]), fx.base(out));
    let (qe, ze) = (a[0].ek, a[2].ek);
    with_params(
        fx,
        &at[0].shape,
        &at[1].shape,
        &at[2].shape,
        &mut |fx, i, is, iz| {
            let q = fx.ld(qe, qb, i);
            let s = fx.ld(Ek::F32, sb, is);
            let z = fx.ld(ze, zb, iz);
            let d = fx.b.ins().isub(q, z);
            let f = fx.b.ins().fcvt_from_sint(F32, d);
            let y = fx.b.ins().fmul(f, s);
            fx.st(Ek::F32, ob, i, y);
        },
    );
    Ok(())
}

/// The zero point of output channel `c`: `zw` of rank 0 or one per channel.
fn channel_zw(fx: &mut Fx, zwb: Value, ze: Ek, per_channel: bool, c: Value) -> Value {
    if per_channel {
        fx.ld(ze, zwb, c)
    } else {
        let z = fx.c(0);
        fx.ld(ze, zwb, z)
    }
}

/// `matmul_int_dyn x, w, zx, zw`: exact i64 sums, clamped to i32.
fn matmul_int_dyn(fx: &mut Fx, a: &[Buf], at: &[&TensorType], out: &Buf) -> Result<(), String> {
    let (xt, wt) = (at[0], at[1]);
    let (k, n) = (wt.shape[0], wt.shape[1]);
    let m = numel(&xt.shape) / k;
    let per_channel = !at[3].shape.is_empty();
    let (xb, wb, zxb, zwb, ob) = (
        fx.base(&a[0]),
        fx.base(&a[1]),
        fx.base(&a[2]),
        fx.base(&a[3]),
        fx.base(out),
    );
    let (xe, we) = (a[0].ek, a[1].ek);
    let z0 = fx.c(0);
    let zx = fx.ld(a[2].ek, zxb, z0);
    let zwe = a[3].ek;
    fx.nest(&[m, n], &mut |fx, i| {
        let (r, col) = (i[0], i[1]);
        let zero = fx.c(0);
        let acc = fx.var(I64, zero);
        let zw = channel_zw(fx, zwb, zwe, per_channel, col);
        fx.for_n(k, |fx, kk| {
            let xi = fx.lin(&[(r, k as i64), (kk, 1)], 0);
            let wi = fx.lin(&[(kk, n as i64), (col, 1)], 0);
            let xv = fx.ld(xe, xb, xi);
            let wv = fx.ld(we, wb, wi);
            let xc = fx.b.ins().isub(xv, zx);
            let wc = fx.b.ins().isub(wv, zw);
            let p = fx.b.ins().imul(xc, wc);
            let cur = fx.b.use_var(acc);
            let nv = fx.b.ins().iadd(cur, p);
            fx.b.def_var(acc, nv);
        });
        let s = fx.b.use_var(acc);
        let y = fx.sat_i32(s);
        let oi = fx.lin(&[(r, n as i64), (col, 1)], 0);
        fx.st(out.ek, ob, oi, y);
    });
    Ok(())
}

/// `conv2d_int_dyn x, w, zx, zw`: a direct convolution on
/// `(x − zx) · (w − zw[o])`, positions in the padding skipped (they read
/// `zx` and contribute 0), exact i64 sums clamped to i32.
fn conv2d_int_dyn(
    fx: &mut Fx,
    a: &[Buf],
    at: &[&TensorType],
    out: &Buf,
    out_ty: &TensorType,
    attrs: &Conv2dAttrs,
) -> Result<(), String> {
    let (xt, wt) = (at[0], at[1]);
    let [n, c, h, w] = <[usize; 4]>::try_from(xt.shape.as_slice()).map_err(|_| "rank 4 input")?;
    let [o, cg, kh, kw] =
        <[usize; 4]>::try_from(wt.shape.as_slice()).map_err(|_| "rank 4 weights")?;
    let (oh, ow) = (out_ty.shape[2], out_ty.shape[3]);
    let g = attrs.groups;
    let og = o / g;
    let per_channel = !at[3].shape.is_empty();
    let (xb, wb, zxb, zwb, ob) = (
        fx.base(&a[0]),
        fx.base(&a[1]),
        fx.base(&a[2]),
        fx.base(&a[3]),
        fx.base(out),
    );
    let (xe, we, zwe) = (a[0].ek, a[1].ek, a[3].ek);
    let z0 = fx.c(0);
    let zx = fx.ld(a[2].ek, zxb, z0);
    let [sh, sw] = attrs.strides;
    let [dh, dw] = attrs.dilations;
    let (pt, pl) = (attrs.pads[0] as i64, attrs.pads[1] as i64);
    fx.nest(&[n, g, og, oh, ow], &mut |fx, i| {
        let (bn, gi, oo, oy, ox) = (i[0], i[1], i[2], i[3], i[4]);
        let oc = fx.lin(&[(gi, og as i64), (oo, 1)], 0);
        let c0 = fx.b.ins().imul_imm_s(gi, cg as i64);
        let zero = fx.c(0);
        let acc = fx.var(I64, zero);
        let zw = channel_zw(fx, zwb, zwe, per_channel, oc);
        fx.nest(&[cg, kh, kw], &mut |fx, j| {
            let (ci, ky, kx) = (j[0], j[1], j[2]);
            let ih = fx.lin(&[(oy, sh as i64), (ky, dh as i64)], -pt);
            let iw = fx.lin(&[(ox, sw as i64), (kx, dw as i64)], -pl);
            let vh = fx.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, ih, h as i64);
            let vw = fx.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, iw, w as i64);
            let valid = fx.b.ins().band(vh, vw);
            let cin = fx.b.ins().iadd(c0, ci);
            let xi = fx.lin(
                &[
                    (bn, (c * h * w) as i64),
                    (cin, (h * w) as i64),
                    (ih, w as i64),
                    (iw, 1),
                ],
                0,
            );
            let zero = fx.c(0);
            let xi = fx.b.ins().select(valid, xi, zero);
            let wi = fx.lin(
                &[
                    (oc, (cg * kh * kw) as i64),
                    (ci, (kh * kw) as i64),
                    (ky, kw as i64),
                    (kx, 1),
                ],
                0,
            );
            let xv = fx.ld(xe, xb, xi);
            let wv = fx.ld(we, wb, wi);
            let cur = fx.b.use_var(acc);
            let xc = fx.b.ins().isub(xv, zx);
            let wc = fx.b.ins().isub(wv, zw);
            let p = fx.b.ins().imul(xc, wc);
            let s = fx.b.ins().iadd(cur, p);
            let nv = fx.b.ins().select(valid, s, cur);
            fx.b.def_var(acc, nv);
        });
        let s = fx.b.use_var(acc);
        let y = fx.sat_i32(s);
        let oi = fx.lin(
            &[
                (bn, (o * oh * ow) as i64),
                (oc, (oh * ow) as i64),
                (oy, ow as i64),
                (ox, 1),
            ],
            0,
        );
        fx.st(out.ek, ob, oi, y);
    });
    Ok(())
}
