//! Matrix products: matmul_int (through the GEMM preparation), row_sums,
//! float matmul and dense.

#[allow(unused_imports)]
use super::*;
use super::{F32, Fx, I64};
use crate::CodegenError;
use crate::plan::{Buf, Ek};
use cranelift_codegen::ir::InstBuilder;
use qcc_ir::op::IntAttrs;
use qcc_ir::types::TensorType;

/// Generic `matmul_int` (the scalar path, and weights that are not constant
/// or not narrow): exact i64 sums. With row sums (`a[3]`) the weights' zero
/// points are not subtracted in the sum; `zw · rs` is, after it.
pub(super) fn matmul_int(
    fx: &mut Fx,
    a: &[Buf],
    at: &[&TensorType],
    out: &Buf,
    out_ty: &TensorType,
    int: &IntAttrs,
) -> Result<(), String> {
    let (xt, wt) = (at[0], at[1]);
    let (k, n) = (wt.shape[0], wt.shape[1]);
    let m = numel(&xt.shape) / k;
    let zx = match xt.elem.as_quant() {
        None => 0,
        Some(_) if int.zx_in_bias => 0,
        Some(q) if !q.is_per_axis() => q.zero_points[0],
        Some(_) => return Err("the input must be per tensor".into()),
    };
    let zw_type: Vec<i64> = match wt.elem.as_quant() {
        None => vec![0; n],
        Some(q) => (0..n).map(|c| q.zero_point(c)).collect(),
    };
    let rows = a.get(3).map(|rs| (fx.base(rs), rs.ek));
    let zw = if rows.is_some() {
        vec![0; n]
    } else {
        zw_type.clone()
    };
    let zt_tab = per_channel_i64(fx, &zw_type);
    let (lo, hi) = out_ty
        .elem
        .int_range()
        .ok_or("the result must be an integer")?;
    let zw_tab = per_channel_i64(fx, &zw);
    let (xb, wb, ob) = (fx.base(&a[0]), fx.base(&a[1]), fx.base(out));
    let bias = a.get(2).map(|b| (fx.base(b), b.ek));
    let (xe, we) = (a[0].ek, a[1].ek);
    fx.nest(&[m, n], &mut |fx, i| {
        let (r, col) = (i[0], i[1]);
        let z = fx.c(0);
        let acc = fx.var(I64, z);
        let zwv = channel_value(fx, &zw, zw_tab, col);
        fx.for_n(k, |fx, kk| {
            let xi = fx.lin(&[(r, k as i64), (kk, 1)], 0);
            let wi = fx.lin(&[(kk, n as i64), (col, 1)], 0);
            let xv = fx.ld(xe, xb, xi);
            let wv = fx.ld(we, wb, wi);
            let xc = fx.b.ins().iadd_imm_s(xv, -zx);
            let wc = fx.b.ins().isub(wv, zwv);
            let p = fx.b.ins().imul(xc, wc);
            let cur = fx.b.use_var(acc);
            let nv = fx.b.ins().iadd(cur, p);
            fx.b.def_var(acc, nv);
        });
        let mut s = fx.b.use_var(acc);
        if let Some((rb, re)) = rows {
            let rv = fx.ld(re, rb, r);
            let zt = channel_value(fx, &zw_type, zt_tab, col);
            let t = fx.b.ins().imul(rv, zt);
            s = fx.b.ins().isub(s, t);
        }
        if let Some((bb, be)) = bias {
            let bv = fx.ld(be, bb, col);
            s = fx.b.ins().iadd(s, bv);
        }
        let y = fx.clamp(s, lo, hi);
        let oi = fx.lin(&[(r, n as i64), (col, 1)], 0);
        fx.st(out.ek, ob, oi, y);
    });
    Ok(())
}

/// `row_sums`: `Σ_k (x − zx)` per row, exact (the verifier proves it fits
/// i32).
pub(super) fn row_sums(fx: &mut Fx, x: &Buf, xt: &TensorType, out: &Buf) -> Result<(), String> {
    let k = *xt.shape.last().ok_or("rank 0 input")?;
    let m = numel(&xt.shape) / k.max(1);
    let zx = match xt.elem.as_quant() {
        None => 0,
        Some(q) if !q.is_per_axis() => q.zero_points[0],
        Some(_) => return Err("the input must be per tensor".into()),
    };
    let (xb, ob) = (fx.base(x), fx.base(out));
    fx.nest(&[m], &mut |fx, i| {
        let r = i[0];
        let z = fx.c(0);
        let acc = fx.var(I64, z);
        fx.for_n(k, |fx, kk| {
            let xi = fx.lin(&[(r, k as i64), (kk, 1)], 0);
            let xv = fx.ld(x.ek, xb, xi);
            let xc = fx.b.ins().iadd_imm_s(xv, -zx);
            let cur = fx.b.use_var(acc);
            let nv = fx.b.ins().iadd(cur, xc);
            fx.b.def_var(acc, nv);
        });
        let s = fx.b.use_var(acc);
        fx.st(out.ek, ob, r, s);
    });
    Ok(())
}

pub(super) fn matmul_f32(
    fx: &mut Fx,
    a: &[Buf],
    at: &[&TensorType],
    out: &Buf,
    out_ty: &TensorType,
) -> Result<(), CodegenError> {
    let (xs, ws) = (&at[0].shape, &at[1].shape);
    let (m, k) = (xs[xs.len() - 2], xs[xs.len() - 1]);
    let n = ws[ws.len() - 1];
    let batch = numel(&xs[..xs.len() - 2]);
    let b_batched = ws.len() > 2;
    let _ = out_ty;
    let (xb, wb, ob) = (fx.base(&a[0]), fx.base(&a[1]), fx.base(out));
    if !fx.portable && batch * m * n > 0 {
        // The shim's tiled loop (the same order of operations).
        let sig = fx.sig(&[I64; 8], &[]);
        let f = fx.import("qcc_matmul_f32", sig);
        let args = [
            fx.c(batch as i64),
            fx.c(m as i64),
            fx.c(k as i64),
            fx.c(n as i64),
            fx.c(b_batched as i64),
        ];
        fx.b.ins().call(
            f,
            &[xb, wb, args[0], args[1], args[2], args[3], args[4], ob],
        );
        return Ok(());
    }
    fx.nest(&[batch, m, n], &mut |fx, i| {
        let (bi, r, col) = (i[0], i[1], i[2]);
        let z = fx.cf(0.0);
        let acc = fx.var(F32, z);
        fx.for_n(k, |fx, kk| {
            let xi = fx.lin(&[(bi, (m * k) as i64), (r, k as i64), (kk, 1)], 0);
            let bs = if b_batched { (k * n) as i64 } else { 0 };
            let wi = fx.lin(&[(bi, bs), (kk, n as i64), (col, 1)], 0);
            let xv = fx.ld(Ek::F32, xb, xi);
            let wv = fx.ld(Ek::F32, wb, wi);
            let p = fx.b.ins().fmul(xv, wv);
            let cur = fx.b.use_var(acc);
            let nv = fx.b.ins().fadd(cur, p);
            fx.b.def_var(acc, nv);
        });
        let s = fx.b.use_var(acc);
        let oi = fx.lin(&[(bi, (m * n) as i64), (r, n as i64), (col, 1)], 0);
        fx.st(Ek::F32, ob, oi, s);
    });
    Ok(())
}

pub(super) fn dense(
    fx: &mut Fx,
    a: &[Buf],
    at: &[&TensorType],
    out: &Buf,
) -> Result<(), CodegenError> {
    let (m, k) = (at[0].shape[0], at[0].shape[1]);
    let n = at[1].shape[0];
    let (xb, wb, ob) = (fx.base(&a[0]), fx.base(&a[1]), fx.base(out));
    let bias = a.get(2).map(|b| fx.base(b));
    fx.nest(&[m, n], &mut |fx, i| {
        let (r, col) = (i[0], i[1]);
        let z = fx.cf(0.0);
        let acc = fx.var(F32, z);
        fx.for_n(k, |fx, kk| {
            let xi = fx.lin(&[(r, k as i64), (kk, 1)], 0);
            let wi = fx.lin(&[(col, k as i64), (kk, 1)], 0);
            let xv = fx.ld(Ek::F32, xb, xi);
            let wv = fx.ld(Ek::F32, wb, wi);
            let p = fx.b.ins().fmul(xv, wv);
            let cur = fx.b.use_var(acc);
            let nv = fx.b.ins().fadd(cur, p);
            fx.b.def_var(acc, nv);
        });
        let mut s = fx.b.use_var(acc);
        if let Some(bb) = bias {
            let bv = fx.ld(Ek::F32, bb, col);
            s = fx.b.ins().fadd(s, bv);
        }
        let oi = fx.lin(&[(r, n as i64), (col, 1)], 0);
        fx.st(Ek::F32, ob, oi, s);
    });
    Ok(())
}
