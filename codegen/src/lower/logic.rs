//! Comparisons, `where`, `cast` and integer `add` / `sub` / `mul`: scalar
//! loop nests of one Cranelift instruction per element (these ops carry
//! masks, indices and run-time biases in real models, small tensors), with
//! the interpreter's definitions (`qcc_ir::interp`, semantics.md
//! § Comparisons, selection and casts).

use super::elementwise::{binary, nary, unary};
#[allow(unused_imports)]
use super::*;
use super::{Fx, I64};
use crate::plan::{Buf, Ek};
use cranelift_codegen::ir::InstBuilder;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::F32;
use qcc_ir::op::Op;
use qcc_ir::types::TensorType;

/// `add` / `sub` / `mul` of plain integers: exact on the i64 loads, wrapped
/// to the result's width by the store.
pub(super) fn int_arith(
    fx: &mut Fx,
    a: &[Buf],
    at: &[&TensorType],
    out: &Buf,
    out_ty: &TensorType,
    op: &Op,
) {
    let op = op.clone();
    binary(fx, a, at, out, out_ty, &mut |fx, x, y| match op {
        Op::Add => fx.b.ins().iadd(x, y),
        Op::Sub => fx.b.ins().isub(x, y),
        _ => fx.b.ins().imul(x, y),
    });
}

/// `cast x` over `n` elements: `f32` to an integer truncates and saturates
/// (NaN gives 0), integers to `f32` round to nearest even, integers to
/// integers wrap (the store keeps the low bits).
pub(super) fn cast(fx: &mut Fx, x: &Buf, out: &Buf, n: usize) {
    let (from, to) = (x.ek, out.ek);
    let range = match to {
        Ek::I32 => (i32::MIN as i64, i32::MAX as i64),
        Ek::I16 => (i16::MIN as i64, i16::MAX as i64),
        Ek::U16 => (0, u16::MAX as i64),
        Ek::I8 => (i8::MIN as i64, i8::MAX as i64),
        Ek::U8 => (0, u8::MAX as i64),
        Ek::F32 => (0, 0),
    };
    unary(fx, x, out, n, &mut |fx, v| match (from, to) {
        (Ek::F32, Ek::F32) => v,
        (Ek::F32, _) => {
            let i = fx.b.ins().fcvt_to_sint_sat(I64, v);
            fx.clamp(i, range.0, range.1)
        }
        (_, Ek::F32) => fx.b.ins().fcvt_from_sint(F32, v),
        _ => v,
    });
}

/// `equal` / `less` / `greater`: 1 or 0 stored as `u8`; IEEE comparisons on
/// `f32` (NaN is unordered), signed comparisons of the integer loads (sign-
/// or zero-extended to i64, so unsigned values compare correctly too).
pub(super) fn compare(
    fx: &mut Fx,
    a: &[Buf],
    at: &[&TensorType],
    out: &Buf,
    out_ty: &TensorType,
    op: &Op,
) {
    let float = a[0].ek == Ek::F32;
    let (fcc, icc) = match op {
        Op::Equal => (FloatCC::Equal, IntCC::Equal),
        Op::Less => (FloatCC::LessThan, IntCC::SignedLessThan),
        _ => (FloatCC::GreaterThan, IntCC::SignedGreaterThan),
    };
    binary(fx, a, at, out, out_ty, &mut |fx, x, y| {
        let c = if float {
            fx.b.ins().fcmp(fcc, x, y)
        } else {
            fx.b.ins().icmp(icc, x, y)
        };
        fx.b.ins().uextend(I64, c)
    });
}

/// `where c, a, b` over the broadcast result shape.
pub(super) fn select(fx: &mut Fx, a: &[Buf], at: &[&TensorType], out: &Buf, out_ty: &TensorType) {
    nary::<3>(fx, a, at, out, out_ty, &mut |fx, [c, x, y]| {
        fx.b.ins().select(c, x, y)
    });
}
