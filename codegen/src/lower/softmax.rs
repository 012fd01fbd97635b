//! Softmax along one axis.

#[allow(unused_imports)]
use super::*;
use super::{F32, Fx};
use crate::plan::{Buf, Ek};
use cranelift_codegen::ir::{InstBuilder, Value};

pub(super) fn softmax(fx: &mut Fx, x: &Buf, out: &Buf, shape: &[usize], axis: usize) {
    let len = shape[axis];
    let inner = numel(&shape[axis + 1..]);
    let outer = numel(&shape[..axis]);
    let sig = fx.sig(&[F32], &[F32]);
    let expf = fx.import("qcc_expf", sig);
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
            let call = fx.b.ins().call(expf, &[d]);
            let e = fx.b.inst_results(call)[0];
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
