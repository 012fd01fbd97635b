//! Elementwise loops: unary and broadcasting binary loop nests, the float
//! elementwise ops through the shim's helpers, and the dimension collapsing
//! they share.

#[allow(unused_imports)]
use super::*;
use super::{Fx, I64};
use crate::plan::Buf;
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{InstBuilder, Value};
use qcc_ir::elementwise::{Binary, Unary};
use qcc_ir::op::Op;
use qcc_ir::types::TensorType;

/// IEEE 754-2019 `maximum` / `minimum` as `qcc_ir::elementwise` defines
/// them: a NaN operand is the result (the first one), else Cranelift's
/// `fmax` / `fmin` (−0.0 < +0.0).
fn ieee_minmax(fx: &mut Fx, a: Value, b: Value, max: bool) -> Value {
    let m = if max {
        fx.b.ins().fmax(a, b)
    } else {
        fx.b.ins().fmin(a, b)
    };
    let bn = fx.b.ins().fcmp(FloatCC::Unordered, b, b);
    let r = fx.b.ins().select(bn, b, m);
    let an = fx.b.ins().fcmp(FloatCC::Unordered, a, a);
    fx.b.ins().select(an, a, r)
}

/// The unary functions an object computes itself: one IEEE operation or
/// min/max each, as `qcc_ir::elementwise::Unary::apply`, and exp, log,
/// sigmoid, tanh, erf and gelu through the ports of the `libm` crate's
/// routines (`lower::libm`).
fn portable_unary(fx: &mut Fx, x: &Buf, out: &Buf, n: usize, u: Unary) {
    use qcc_ir::elementwise::UnaryFn as U;
    let hard_sigmoid = |fx: &mut Fx, v: Value, alpha: f32, beta: f32| {
        let (a, b) = (fx.cf(alpha), fx.cf(beta));
        let t = fx.b.ins().fmul(a, v);
        let t = fx.b.ins().fadd(t, b);
        let (zero, one) = (fx.cf(0.0), fx.cf(1.0));
        let t = ieee_minmax(fx, t, zero, true);
        ieee_minmax(fx, t, one, false)
    };
    unary(fx, x, out, n, &mut |fx, v| match u.f {
        U::Relu => {
            let z = fx.cf(0.0);
            ieee_minmax(fx, v, z, true)
        }
        U::Neg => fx.b.ins().fneg(v),
        U::Abs => fx.b.ins().fabs(v),
        U::Sqrt => fx.b.ins().sqrt(v),
        U::Reciprocal => {
            let one = fx.cf(1.0);
            fx.b.ins().fdiv(one, v)
        }
        U::Floor => fx.b.ins().floor(v),
        U::Ceil => fx.b.ins().ceil(v),
        U::Round => fx.b.ins().nearest(v),
        U::HardSigmoid => hard_sigmoid(fx, v, u.alpha, u.beta),
        U::HardSwish => {
            let h = hard_sigmoid(fx, v, 1.0 / 6.0, 0.5);
            fx.b.ins().fmul(v, h)
        }
        U::LeakyRelu => {
            let a = fx.cf(u.alpha);
            let av = fx.b.ins().fmul(a, v);
            let z = fx.cf(0.0);
            let neg = fx.b.ins().fcmp(FloatCC::LessThan, v, z);
            fx.b.ins().select(neg, av, v)
        }
        U::Exp => super::libm::expf(fx, v),
        U::Log => super::libm::logf(fx, v),
        U::Sigmoid => super::libm::sigmoid(fx, v),
        U::Tanh => super::libm::tanhf(fx, v),
        U::Erf => super::libm::erff(fx, v),
        U::Gelu => super::libm::gelu(fx, v),
    });
}

/// `y[i] = f(x[i])` over `n` elements (same index).
pub(super) fn unary(
    fx: &mut Fx,
    x: &Buf,
    out: &Buf,
    n: usize,
    f: &mut dyn FnMut(&mut Fx, Value) -> Value,
) {
    let xb = fx.base(x);
    let ob = fx.base(out);
    fx.for_n(n, |fx, i| {
        let v = fx.ld(x.ek, xb, i);
        let y = f(fx, v);
        fx.st(out.ek, ob, i, y);
    });
}

/// Broadcast binary op over the result shape.
pub(super) fn binary(
    fx: &mut Fx,
    a: &[Buf],
    at: &[&TensorType],
    out: &Buf,
    out_ty: &TensorType,
    f: &mut dyn FnMut(&mut Fx, Value, Value) -> Value,
) {
    nary::<2>(fx, a, at, out, out_ty, &mut |fx, [x, y]| f(fx, x, y));
}

/// `y = f(a₀, …, a_{N−1})` with the operands broadcast to the result shape
/// (one load per operand and one store per element, in row-major order).
pub(super) fn nary<const N: usize>(
    fx: &mut Fx,
    a: &[Buf],
    at: &[&TensorType],
    out: &Buf,
    out_ty: &TensorType,
    f: &mut dyn FnMut(&mut Fx, [Value; N]) -> Value,
) {
    let shape = &out_ty.shape;
    // The operands' strides, then the result's.
    let all: Vec<Vec<i64>> = at
        .iter()
        .take(N)
        .map(|t| bcast_strides(&t.shape, shape))
        .chain(std::iter::once(strides(shape)))
        .collect();
    let (dims, s) = collapse_all(shape, all);
    let bases: Vec<Value> = a.iter().take(N).map(|b| fx.base(b)).collect();
    let ob = fx.base(out);
    fx.nest(&dims, &mut |fx, idx| {
        let t = |s: &[i64]| -> Vec<(Value, i64)> {
            idx.iter().copied().zip(s.iter().copied()).collect()
        };
        let vals: [Value; N] = std::array::from_fn(|k| {
            let i = fx.lin(&t(&s[k]), 0);
            fx.ld(a[k].ek, bases[k], i)
        });
        let io = fx.lin(&t(&s[N]), 0);
        let r = f(fx, vals);
        fx.st(out.ek, ob, io, r);
    });
}

/// A float unary elementwise op: the shim's `qcc_unary_f32` over the
/// tensor, which applies the interpreter's function
/// (`qcc_ir::elementwise::Unary`); with `vec = Some((width, units))`
/// (`Prep::VecMath`) the vector kernel `qcc_vmath_f32` at that width over
/// this call's units of `VMATH_UNIT` elements.
pub(super) fn unary_code(
    fx: &mut Fx,
    x: &Buf,
    out: &Buf,
    out_ty: &TensorType,
    op: &Op,
    vec: Option<(u8, usize)>,
) -> Result<(), String> {
    let u =
        Unary::of(op).ok_or_else(|| format!("`{}` is not a unary elementwise op", op.name()))?;
    let n = numel(&out_ty.shape);
    if fx.portable {
        portable_unary(fx, x, out, n, u);
        return Ok(());
    }
    let (xb, ob) = (fx.base(x), fx.base(out));
    let code = fx.c(u.f as i64);
    if let Some((width, units)) = vec {
        // Elements `[min(t0·U, n), min(t1·U, n))`.
        let unit = if units > 1 {
            super::ops::VMATH_UNIT as i64
        } else {
            n as i64
        };
        let nv = fx.c(n as i64);
        let (t0, t1) = (fx.t0, fx.t1);
        let lo = fx.b.ins().imul_imm_s(t0, unit);
        let hi = fx.b.ins().imul_imm_s(t1, unit);
        let hi = fx.b.ins().umin(hi, nv);
        let lo = fx.b.ins().umin(lo, hi);
        let len = fx.b.ins().isub(hi, lo);
        let off = fx.b.ins().imul_imm_s(lo, 4);
        let xp = fx.b.ins().iadd(xb, off);
        let op = fx.b.ins().iadd(ob, off);
        let w = fx.c(width as i64);
        let sig = fx.sig(&[I64; 5], &[]);
        let f = fx.import("qcc_vmath_f32", sig);
        fx.b.ins().call(f, &[xp, len, code, w, op]);
        return Ok(());
    }
    let ab = (u.alpha.to_bits() as u64 | ((u.beta.to_bits() as u64) << 32)) as i64;
    let nv = fx.c(n as i64);
    let ab = fx.c(ab);
    let sig = fx.sig(&[I64; 5], &[]);
    let f = fx.import("qcc_unary_f32", sig);
    fx.b.ins().call(f, &[xb, nv, code, ab, ob]);
    Ok(())
}

/// A float binary elementwise op with broadcasting: the shim's
/// `qcc_binary_code_f32` on each innermost run of the collapsed loop nest
/// (after `collapse`, every operand walks the innermost dimension with
/// stride 0 or 1).
pub(super) fn binary_code(
    fx: &mut Fx,
    a: &[Buf],
    at: &[&TensorType],
    out: &Buf,
    out_ty: &TensorType,
    op: &Op,
) -> Result<(), String> {
    let code =
        Binary::of(op).ok_or_else(|| format!("`{}` is not a binary elementwise op", op.name()))?;
    if fx.portable {
        // (`add` and `mul` take their own loop in `lower::ops`.)
        binary(fx, a, at, out, out_ty, &mut |fx, x, y| match code {
            Binary::Add => fx.b.ins().fadd(x, y),
            Binary::Mul => fx.b.ins().fmul(x, y),
            Binary::Sub => fx.b.ins().fsub(x, y),
            Binary::Div => fx.b.ins().fdiv(x, y),
            Binary::Pow => super::libm::powf(fx, x, y),
            Binary::Max => ieee_minmax(fx, x, y, true),
            Binary::Min => ieee_minmax(fx, x, y, false),
        });
        return Ok(());
    }
    let shape = &out_ty.shape;
    let (dims, [sa, sb, so]) = collapse(
        shape,
        [
            bcast_strides(&at[0].shape, shape),
            bcast_strides(&at[1].shape, shape),
            strides(shape),
        ],
    );
    let last = dims.len() - 1;
    let inner = dims[last] as i64;
    // A run of one element: its strides do not matter.
    let step = |s: i64| if inner == 1 { 0 } else { s };
    let (sa_last, sb_last) = (step(sa[last]), step(sb[last]));
    if !(matches!(sa_last, 0 | 1) && matches!(sb_last, 0 | 1) && (inner == 1 || so[last] == 1)) {
        return Err("an innermost dimension that is not contiguous".into());
    }
    let (ab, bb, ob) = (fx.base(&a[0]), fx.base(&a[1]), fx.base(out));
    let sig = fx.sig(&[I64; 7], &[]);
    let f = fx.import("qcc_binary_code_f32", sig);
    let mut run = |fx: &mut Fx, idx: &[Value]| {
        let t = |s: &[i64]| -> Vec<(Value, i64)> {
            idx.iter().copied().zip(s.iter().copied()).collect()
        };
        let ia = fx.lin(&t(&sa), 0);
        let ib = fx.lin(&t(&sb), 0);
        let io = fx.lin(&t(&so), 0);
        let pa = fx.b.ins().imul_imm_s(ia, 4);
        let pb = fx.b.ins().imul_imm_s(ib, 4);
        let po = fx.b.ins().imul_imm_s(io, 4);
        let pa = fx.b.ins().iadd(ab, pa);
        let pb = fx.b.ins().iadd(bb, pb);
        let po = fx.b.ins().iadd(ob, po);
        let (sa1, sb1, n, c) = (
            fx.c(sa[last]),
            fx.c(sb[last]),
            fx.c(inner),
            fx.c(code as i64),
        );
        fx.b.ins().call(f, &[pa, sa1, pb, sb1, n, c, po]);
    };
    if last == 0 {
        run(fx, &[]);
    } else {
        fx.nest(&dims[..last], &mut run);
    }
    Ok(())
}

/// Merges adjacent dimensions that every operand walks contiguously (or
/// broadcasts along both), so that a loop nest over `shape` needs as few
/// loops as possible (one for same-shape operands). A scalar shape becomes
/// `[1]`.
pub(super) fn collapse<const N: usize>(
    shape: &[usize],
    strides: [Vec<i64>; N],
) -> (Vec<usize>, [Vec<i64>; N]) {
    let (dims, out) = collapse_all(shape, strides.into());
    let out: [Vec<i64>; N] = out.try_into().expect("one list per operand");
    (dims, out)
}

/// [`collapse`] for any number of stride lists.
fn collapse_all(shape: &[usize], strides: Vec<Vec<i64>>) -> (Vec<usize>, Vec<Vec<i64>>) {
    let mut dims: Vec<usize> = Vec::new();
    let mut out: Vec<Vec<i64>> = vec![Vec::new(); strides.len()];
    for (d, &n) in shape.iter().enumerate() {
        if n == 1 {
            continue;
        }
        let mergeable = !dims.is_empty()
            && out.iter().zip(&strides).all(|(o, st)| {
                let prev = *o.last().expect("one per dim");
                prev == st[d] * n as i64
            });
        if mergeable {
            *dims.last_mut().expect("a dim") *= n;
            for (o, st) in out.iter_mut().zip(&strides) {
                *o.last_mut().expect("one per dim") = st[d];
            }
        } else {
            dims.push(n);
            for (o, st) in out.iter_mut().zip(&strides) {
                o.push(st[d]);
            }
        }
    }
    if dims.is_empty() {
        dims.push(1);
        for o in out.iter_mut() {
            o.push(0);
        }
    }
    (dims, out)
}
