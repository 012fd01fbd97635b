//! `argmax` / `argmin`: one scalar pass along the axis per output element,
//! the interpreter's comparisons in its order (`qcc_ir::interp`).

#[allow(unused_imports)]
use super::*;
use super::{F32, Fx, I64};
use crate::plan::{Buf, Ek};
use cranelift_codegen::ir::InstBuilder;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};

/// `out[o, 0, i]` = the index `k` along `axis` of the greatest (`max`) or
/// least element `x[o, k, i]`: a candidate replaces the best so far when it
/// is strictly better (or equal, with `last`); for f32 a NaN beats every
/// number, and once the best is a NaN only a later NaN (with `last`)
/// replaces it.
#[allow(clippy::too_many_arguments)]
pub(super) fn arg_extreme(
    fx: &mut Fx,
    x: &Buf,
    out: &Buf,
    shape: &[usize],
    axis: usize,
    last: bool,
    max: bool,
) {
    let d = shape[axis];
    let inner = numel(&shape[axis + 1..]);
    let outer = numel(&shape[..axis]);
    if outer * inner == 0 {
        return;
    }
    let (xb, ob) = (fx.base(x), fx.base(out));
    let float = x.ek == Ek::F32;
    fx.nest(&[outer, inner], &mut |fx, oi| {
        let (o, i) = (oi[0], oi[1]);
        let first = fx.lin(&[(o, (d * inner) as i64), (i, 1)], 0);
        let v0 = fx.ld(x.ek, xb, first);
        let best = fx.var(if float { F32 } else { I64 }, v0);
        let zero = fx.c(0);
        let best_k = fx.var(I64, zero);
        if d > 1 {
            fx.for_n(d - 1, |fx, k0| {
                let k = fx.b.ins().iadd_imm_s(k0, 1);
                let off = fx.b.ins().imul_imm_s(k, inner as i64);
                let at = fx.b.ins().iadd(first, off);
                let v = fx.ld(x.ek, xb, at);
                let b = fx.b.use_var(best);
                let better = if float {
                    let (gt, ge) = if max {
                        (FloatCC::GreaterThan, FloatCC::GreaterThanOrEqual)
                    } else {
                        (FloatCC::LessThan, FloatCC::LessThanOrEqual)
                    };
                    let cmp = fx.b.ins().fcmp(if last { ge } else { gt }, v, b);
                    let v_nan = fx.b.ins().fcmp(FloatCC::Unordered, v, v);
                    let b_nan = fx.b.ins().fcmp(FloatCC::Unordered, b, b);
                    // b a number: v NaN or v better; b NaN: (last and v NaN).
                    let num = fx.b.ins().bor(cmp, v_nan);
                    let on_nan = if last {
                        v_nan
                    } else {
                        fx.b.ins().iconst(cranelift_codegen::ir::types::I8, 0)
                    };
                    fx.b.ins().select(b_nan, on_nan, num)
                } else {
                    let cc = match (max, last) {
                        (true, false) => IntCC::SignedGreaterThan,
                        (true, true) => IntCC::SignedGreaterThanOrEqual,
                        (false, false) => IntCC::SignedLessThan,
                        (false, true) => IntCC::SignedLessThanOrEqual,
                    };
                    fx.b.ins().icmp(cc, v, b)
                };
                let nb = fx.b.ins().select(better, v, b);
                fx.b.def_var(best, nb);
                let bk = fx.b.use_var(best_k);
                let nk = fx.b.ins().select(better, k, bk);
                fx.b.def_var(best_k, nk);
            });
        }
        let k = fx.b.use_var(best_k);
        let oidx = fx.lin(&[(o, inner as i64), (i, 1)], 0);
        fx.st(out.ek, ob, oidx, k);
    });
}
