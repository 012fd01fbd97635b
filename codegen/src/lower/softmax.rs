//! Softmax along one axis.

#[allow(unused_imports)]
use super::*;
use super::{F32, Fx};
use crate::plan::{Buf, Ek};
use cranelift_codegen::ir::{InstBuilder, Value};

/// `width`: the vector kernels' width (a `shim::elementwise::vmath::Width` code, 0 for
/// the crate's scalar `expf`).
pub(super) fn softmax(fx: &mut Fx, x: &Buf, out: &Buf, shape: &[usize], axis: usize, width: u8) {
    let len = shape[axis];
    let inner = numel(&shape[axis + 1..]);
    let outer = numel(&shape[..axis]);
    if !fx.portable && len > 0 && outer * inner > 0 {
        // The shim's loop (the same operations in the same order).
        let (xb, ob) = (fx.base(x), fx.base(out));
        let sig = fx.sig(&[super::I64; 6], &[]);
        let f = fx.import("qcc_softmax_f32", sig);
        let (o, l, i) = (fx.c(outer as i64), fx.c(len as i64), fx.c(inner as i64));
        let w = fx.c(width as i64);
        fx.b.ins().call(f, &[xb, o, l, i, w, ob]);
        return;
    }
    // `exp` is the `libm` crate's `expf` (`qcc_ir::elementwise::expf`),
    // inlined as its port (`lower::libm`).
    let (xb, ob) = (fx.base(x), fx.base(out));
    fx.nest(&[outer, inner], &mut |fx, i| {
        let (o, ii) = (i[0], i[1]);
        let at = |fx: &mut Fx, k: Value| {
            fx.lin(&[(o, (len * inner) as i64), (k, inner as i64), (ii, 1)], 0)
        };
        let zero = fx.c(0);
        let first = at(fx, zero);
        let x0 = fx.ld(Ek::F32, xb, first);
        let m = fx.var(F32, x0);
        fx.for_n(len, |fx, k| {
            let idx = at(fx, k);
            let v = fx.ld(Ek::F32, xb, idx);
            let cur = fx.b.use_var(m);
            let nv = fx.b.ins().fmax(cur, v);
            fx.b.def_var(m, nv);
        });
        let mv = fx.b.use_var(m);
        let z = fx.cf(0.0);
        let sum = fx.var(F32, z);
        fx.for_n(len, |fx, k| {
            let idx = at(fx, k);
            let v = fx.ld(Ek::F32, xb, idx);
            let d = fx.b.ins().fsub(v, mv);
            let e = super::libm::expf(fx, d);
            fx.st(Ek::F32, ob, idx, e);
            let cur = fx.b.use_var(sum);
            let nv = fx.b.ins().fadd(cur, e);
            fx.b.def_var(sum, nv);
        });
        let sv = fx.b.use_var(sum);
        fx.for_n(len, |fx, k| {
            let idx = at(fx, k);
            let e = fx.ld(Ek::F32, ob, idx);
            let y = fx.b.ins().fdiv(e, sv);
            fx.st(Ek::F32, ob, idx, y);
        });
    });
}

/// The reductions of `qcc_ir`'s `reduce_*` ops over `axes` of `x` (shape
/// `shape`), per output element a fold in row-major order of the reduced
/// indices (the interpreter's order): `kind` 0 mean (the sum from +0.0, then
/// one division by the count), 1 sum, 2 max (IEEE `maximum`, Cranelift's
/// `fmax`, from −inf), 3 min.
pub(super) fn reduce(fx: &mut Fx, x: &Buf, out: &Buf, shape: &[usize], axes: &[usize], kind: u8) {
    // A sum or mean over the trailing axes, in order: contiguous runs, the
    // shim's interleaved rows (the same additions in the same order).
    let r = shape.len() - axes.len();
    if !fx.portable
        && kind <= 1
        && axes.iter().copied().eq(r..shape.len())
        && numel(&shape[r..]) > 0
    {
        let (rows, len) = (numel(&shape[..r]), numel(&shape[r..]));
        let (xb, ob) = (fx.base(x), fx.base(out));
        let sig = fx.sig(&[super::I64; 5], &[]);
        let f = fx.import("qcc_reduce_rows_f32", sig);
        let (rv, lv, mv) = (
            fx.c(rows as i64),
            fx.c(len as i64),
            fx.c((kind == 0) as i64),
        );
        fx.b.ins().call(f, &[xb, rv, lv, mv, ob]);
        return;
    }
    let st = super::common::strides(shape);
    let mut oshape = shape.to_vec();
    for &a in axes {
        oshape[a] = 1;
    }
    let ost = super::common::strides(&oshape);
    let kept: Vec<usize> = (0..shape.len()).filter(|d| !axes.contains(d)).collect();
    let kdims: Vec<usize> = kept.iter().map(|&d| shape[d]).collect();
    let rdims: Vec<usize> = axes.iter().map(|&a| shape[a]).collect();
    let count: usize = rdims.iter().product();
    let (xb, ob) = (fx.base(x), fx.base(out));
    fx.nest(&kdims, &mut |fx, i| {
        let z = fx.cf(match kind {
            2 => f32::NEG_INFINITY,
            3 => f32::INFINITY,
            4 => 1.0,
            _ => 0.0,
        });
        let sum = fx.var(F32, z);
        let ko: Vec<(Value, i64)> = i.iter().zip(&kept).map(|(&v, &d)| (v, st[d])).collect();
        let oo: Vec<(Value, i64)> = i.iter().zip(&kept).map(|(&v, &d)| (v, ost[d])).collect();
        fx.nest(&rdims, &mut |fx, r| {
            let mut terms = ko.clone();
            terms.extend(r.iter().zip(axes).map(|(&v, &a)| (v, st[a])));
            let idx = fx.lin(&terms, 0);
            let v = fx.ld(Ek::F32, xb, idx);
            let cur = fx.b.use_var(sum);
            let nv = match kind {
                2 => fx.b.ins().fmax(cur, v),
                3 => fx.b.ins().fmin(cur, v),
                4 => fx.b.ins().fmul(cur, v),
                _ => fx.b.ins().fadd(cur, v),
            };
            fx.b.def_var(sum, nv);
        });
        let s = fx.b.use_var(sum);
        let y = if kind == 0 {
            let n = fx.cf(count as f32);
            fx.b.ins().fdiv(s, n)
        } else {
            s
        };
        let oi = fx.lin(&oo, 0);
        fx.st(Ek::F32, ob, oi, y);
    });
}
