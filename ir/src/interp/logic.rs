//! Comparisons, `where`, `cast`, and `add` / `sub` / `mul` on plain
//! integers (`docs/semantics.md` § Comparisons, selection and casts). A
//! boolean is `u8` 0 or 1.

use super::index::{broadcast_offsets, broadcast_shape};
use super::{Arg, Vals, expect_shape};
use crate::op::Op;
use crate::types::{ScalarType, TensorType};

/// `v` wrapped to the two's-complement range of `st` (8, 16 or 32 bits).
pub(crate) fn wrap(v: i64, st: ScalarType) -> i64 {
    match st {
        ScalarType::I32 => v as i32 as i64,
        ScalarType::I16 => v as i16 as i64,
        ScalarType::U16 => v as u16 as i64,
        ScalarType::I8 => v as i8 as i64,
        ScalarType::U8 => v as u8 as i64,
        _ => v,
    }
}

/// `f32` to the integer type `st`: truncated towards zero, saturated to its
/// range, NaN to 0 (Rust's `as`, then a clamp).
pub(crate) fn f32_to_int(x: f32, st: ScalarType) -> i64 {
    let (lo, hi) = st.int_range().unwrap_or((i64::MIN, i64::MAX));
    (x as i64).clamp(lo, hi)
}

fn storage(t: &TensorType) -> ScalarType {
    t.elem.storage()
}

/// `cast x` to the result's element type.
pub(super) fn cast(x: Arg, out: &TensorType) -> Result<Vals, String> {
    expect_shape(out, x.shape())?;
    let to = storage(out);
    Ok(match (x.vals, to) {
        (Vals::F32(v), ScalarType::F32) => Vals::F32(v.clone()),
        (Vals::F32(v), st) => Vals::Int(v.iter().map(|&f| f32_to_int(f, st)).collect()),
        (Vals::Int(v), ScalarType::F32) => Vals::F32(v.iter().map(|&i| i as f32).collect()),
        (Vals::Int(v), st) => Vals::Int(v.iter().map(|&i| wrap(i, st)).collect()),
    })
}

/// The pairs of broadcast offsets of `a` and `b` over the result shape.
fn pairs(a: Arg, b: Arg, out: &TensorType) -> Result<(Vec<usize>, Vec<usize>), String> {
    let shape = broadcast_shape(a.shape(), b.shape())?;
    expect_shape(out, &shape)?;
    Ok((
        broadcast_offsets(a.shape(), &shape),
        broadcast_offsets(b.shape(), &shape),
    ))
}

/// `equal` / `less` / `greater`: 1 where the relation holds, else 0. On
/// `f32` the IEEE comparisons (NaN compares unequal and unordered; −0 = +0).
pub(super) fn compare(op: &Op, a: Arg, b: Arg, out: &TensorType) -> Result<Vals, String> {
    let (ia, ib) = pairs(a, b, out)?;
    let rel = |o: std::cmp::Ordering| match op {
        Op::Equal => o.is_eq(),
        Op::Less => o.is_lt(),
        _ => o.is_gt(),
    };
    let r: Vec<i64> = match (a.vals, b.vals) {
        (Vals::F32(x), Vals::F32(y)) => ia
            .iter()
            .zip(&ib)
            .map(|(&i, &j)| x[i].partial_cmp(&y[j]).is_some_and(rel) as i64)
            .collect(),
        (Vals::Int(x), Vals::Int(y)) => ia
            .iter()
            .zip(&ib)
            .map(|(&i, &j)| rel(x[i].cmp(&y[j])) as i64)
            .collect(),
        _ => return Err("`a` and `b` must have one element type".into()),
    };
    Ok(Vals::Int(r))
}

/// `where c, a, b`.
pub(super) fn select(c: Arg, a: Arg, b: Arg, out: &TensorType) -> Result<Vals, String> {
    let shape = broadcast_shape(c.shape(), a.shape())?;
    let shape = broadcast_shape(&shape, b.shape())?;
    expect_shape(out, &shape)?;
    let cv = c.ints("the condition `c`")?;
    let ic = broadcast_offsets(c.shape(), &shape);
    let ia = broadcast_offsets(a.shape(), &shape);
    let ib = broadcast_offsets(b.shape(), &shape);
    let pick = |k: usize| cv[ic[k]] != 0;
    Ok(match (a.vals, b.vals) {
        (Vals::F32(x), Vals::F32(y)) => Vals::F32(
            (0..ic.len())
                .map(|k| if pick(k) { x[ia[k]] } else { y[ib[k]] })
                .collect(),
        ),
        (Vals::Int(x), Vals::Int(y)) => Vals::Int(
            (0..ic.len())
                .map(|k| if pick(k) { x[ia[k]] } else { y[ib[k]] })
                .collect(),
        ),
        _ => return Err("`a` and `b` must have one element type".into()),
    })
}

/// `add` / `sub` / `mul` of two plain integer tensors: exact in i64, then
/// wrapped to the result's width.
pub(super) fn int_arith(op: &Op, a: Arg, b: Arg, out: &TensorType) -> Result<Vals, String> {
    let (ia, ib) = pairs(a, b, out)?;
    let (x, y) = (a.ints("`a`")?, b.ints("`b`")?);
    let st = storage(out);
    let f = |p: i64, q: i64| match op {
        Op::Add => p.wrapping_add(q),
        Op::Sub => p.wrapping_sub(q),
        _ => p.wrapping_mul(q),
    };
    Ok(Vals::Int(
        ia.iter()
            .zip(&ib)
            .map(|(&i, &j)| wrap(f(x[i], y[j]), st))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casts_truncate_saturate_and_wrap() {
        assert_eq!(f32_to_int(2.9, ScalarType::I32), 2);
        assert_eq!(f32_to_int(-2.9, ScalarType::I32), -2);
        assert_eq!(f32_to_int(1e20, ScalarType::I32), i32::MAX as i64);
        assert_eq!(f32_to_int(-300.0, ScalarType::U8), 0);
        assert_eq!(f32_to_int(f32::NAN, ScalarType::I8), 0);
        assert_eq!(wrap(300, ScalarType::U8), 44);
        assert_eq!(wrap(200, ScalarType::I8), -56);
        assert_eq!(wrap(i32::MAX as i64 + 1, ScalarType::I32), i32::MIN as i64);
        assert_eq!(wrap(-1, ScalarType::U16), 65535);
    }
}
