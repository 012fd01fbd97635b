//! Data movement: `reshape`, `flatten`, `transpose`, `slice`, `concat`, `gather`. Any element
//! type; the stored elements are copied unchanged.

use super::index::{gather_offsets, num_elements, strides};
use super::{Arg, Vals, expect_shape};
use crate::types::TensorType;

impl Vals {
    /// The elements at `offsets`, in that order.
    fn gather(&self, offsets: &[usize]) -> Vals {
        match self {
            Vals::F32(v) => Vals::F32(offsets.iter().map(|&i| v[i]).collect()),
            Vals::Int(v) => Vals::Int(offsets.iter().map(|&i| v[i]).collect()),
        }
    }
}

/// Ops that keep the element type: the result's must equal the operand's.
fn same_elem(x: Arg, out: &TensorType) -> Result<(), String> {
    if out.elem == x.ty.elem {
        Ok(())
    } else {
        Err(format!(
            "the result type `{}` must have the operand's element type `{}`",
            out.elem, x.ty.elem
        ))
    }
}

/// Reshape and flatten are not defined on per-axis quantized tensors.
fn not_per_axis(x: Arg) -> Result<(), String> {
    match x.quant() {
        Some(q) if q.is_per_axis() => Err(format!(
            "a per-axis quantized tensor (`{}`) cannot be reshaped",
            x.ty.elem
        )),
        _ => Ok(()),
    }
}

/// `reshape x`: the row-major data under the result type's shape.
pub(super) fn reshape(x: Arg, out: &TensorType) -> Result<Vals, String> {
    not_per_axis(x)?;
    same_elem(x, out)?;
    if num_elements(&out.shape) != num_elements(x.shape()) {
        return Err(format!(
            "cannot reshape {:?} to {:?}: the element counts differ",
            x.shape(),
            out.shape
        ));
    }
    Ok(x.vals.clone())
}

/// `flatten x {axis}`: `[d0·…·d(axis−1), d(axis)·…·d(rank−1)]`.
pub(super) fn flatten(x: Arg, axis: usize, out: &TensorType) -> Result<Vals, String> {
    not_per_axis(x)?;
    same_elem(x, out)?;
    let s = x.shape();
    if axis > s.len() {
        return Err(format!("axis {axis} is out of range for shape {s:?}"));
    }
    expect_shape(out, &[num_elements(&s[..axis]), num_elements(&s[axis..])])?;
    Ok(x.vals.clone())
}

/// `transpose x {perm}`: result dimension `i` is input dimension `perm[i]`.
/// (A per-axis type's axis moves with its dimension; that is a matter of
/// the types, the stored codes just move.)
pub(super) fn transpose(x: Arg, perm: &[usize], out: &TensorType) -> Result<Vals, String> {
    let s = x.shape();
    let mut seen = vec![false; s.len()];
    let is_perm = perm.len() == s.len()
        && perm
            .iter()
            .all(|&p| p < s.len() && !std::mem::replace(&mut seen[p], true));
    if !is_perm {
        return Err(format!(
            "perm {perm:?} is not a permutation of 0..{}",
            s.len()
        ));
    }
    if out.elem.storage() != x.ty.elem.storage() || out.elem.is_f32() != x.ty.elem.is_f32() {
        return Err(format!(
            "the result type `{}` must have the operand's element type `{}`",
            out.elem, x.ty.elem
        ));
    }
    let out_shape: Vec<usize> = perm.iter().map(|&p| s[p]).collect();
    expect_shape(out, &out_shape)?;
    let own = strides(s);
    let source_strides: Vec<usize> = perm.iter().map(|&p| own[p]).collect();
    Ok(x.vals.gather(&gather_offsets(&out_shape, &source_strides)))
}

/// `slice x {starts, ends, steps}`: ONNX `Slice` over every axis (the index
/// rule is `crate::slicing`): result element `i` along axis `a` is operand
/// element `start[a] + i·step[a]`.
pub(super) fn slice(
    x: Arg,
    starts: &[i64],
    ends: &[i64],
    steps: &[i64],
    out: &TensorType,
) -> Result<Vals, String> {
    same_elem(x, out)?;
    let s = x.shape();
    let plan = crate::slicing::slice_plan(s, starts, ends, steps)?;
    if let Some(q) = x.quant()
        && let Some(a) = q.axis
        && !plan[a].is_identity(s[a])
    {
        return Err(format!(
            "the operand is quantized per axis {a}, which must be kept whole"
        ));
    }
    let out_shape: Vec<usize> = plan.iter().map(|p| p.len).collect();
    expect_shape(out, &out_shape)?;
    let own = strides(s);
    let n = num_elements(&out_shape);
    let mut offsets = Vec::with_capacity(n);
    let mut index = vec![0usize; s.len()];
    for _ in 0..n {
        let off: i64 = plan
            .iter()
            .zip(&index)
            .zip(&own)
            .map(|((p, &i), &st)| (p.start as i64 + i as i64 * p.step) * st as i64)
            .sum();
        offsets.push(off as usize);
        for d in (0..s.len()).rev() {
            index[d] += 1;
            if index[d] < out_shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(x.vals.gather(&offsets))
}

/// `gather x, idx {axis}`: for every position of `idx`, the slice of `x`
/// at that index along `axis` (negative indices count from the end; then
/// each index is clamped into `0..d`).
pub(super) fn gather(x: Arg, idx: Arg, axis: usize, out: &TensorType) -> Result<Vals, String> {
    same_elem(x, out)?;
    let s = x.shape();
    if axis >= s.len() || s[axis] == 0 {
        return Err(format!(
            "axis {axis} is out of range or empty for shape {s:?}"
        ));
    }
    let mut want = s[..axis].to_vec();
    want.extend_from_slice(idx.shape());
    want.extend_from_slice(&s[axis + 1..]);
    expect_shape(out, &want)?;
    let ix = idx.ints("the indices `idx`")?;
    let d = s[axis] as i64;
    let outer = num_elements(&s[..axis]);
    let inner = num_elements(&s[axis + 1..]);
    let mut offsets = Vec::with_capacity(outer * ix.len() * inner);
    for o in 0..outer {
        for &i in ix {
            let i = (if i < 0 { i + d } else { i }).clamp(0, d - 1) as usize;
            let base = (o * s[axis] + i) * inner;
            offsets.extend(base..base + inner);
        }
    }
    Ok(x.vals.gather(&offsets))
}

/// `concat x1, ..., xn {axis}`: the operands side by side along `axis`.
pub(super) fn concat(xs: &[Arg], axis: usize, out: &TensorType) -> Result<Vals, String> {
    let first = xs[0];
    let rank = first.shape().len();
    if axis >= rank {
        return Err(format!("axis {axis} is out of range for rank {rank}"));
    }
    let mut out_shape = first.shape().to_vec();
    out_shape[axis] = 0;
    for (i, x) in xs.iter().enumerate() {
        same_elem(*x, out).map_err(|e| format!("operand {i}: {e}"))?;
        if let Some(q) = x.quant().filter(|q| q.is_per_axis()) {
            return Err(format!("operand {i} is quantized per axis (`{q}`)"));
        }
        let s = x.shape();
        let agrees = s.len() == rank && (0..rank).all(|d| d == axis || s[d] == first.shape()[d]);
        if !agrees {
            return Err(format!(
                "operand {i} has shape {s:?}, which does not match {:?} outside axis {axis}",
                first.shape()
            ));
        }
        out_shape[axis] += s[axis];
    }
    expect_shape(out, &out_shape)?;
    let outer = num_elements(&out_shape[..axis]);
    let inner = num_elements(&out_shape[axis + 1..]);
    // For every outer index, each operand contributes its block of
    // `shape[axis] · inner` consecutive elements.
    let blocks: Vec<usize> = xs.iter().map(|x| x.shape()[axis] * inner).collect();
    match first.vals {
        Vals::F32(_) => {
            let parts = xs
                .iter()
                .map(|x| x.f32s("every operand"))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Vals::F32(interleave_blocks(&parts, &blocks, outer)))
        }
        Vals::Int(_) => {
            let parts = xs
                .iter()
                .map(|x| x.ints("every operand"))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Vals::Int(interleave_blocks(&parts, &blocks, outer)))
        }
    }
}

/// For each of `outer` rounds, block number `round` (of size `blocks[i]`)
/// of every part `i`, in order.
fn interleave_blocks<T: Copy>(parts: &[&[T]], blocks: &[usize], outer: usize) -> Vec<T> {
    let mut y = Vec::with_capacity(outer * blocks.iter().sum::<usize>());
    for round in 0..outer {
        for (part, &b) in parts.iter().zip(blocks) {
            y.extend_from_slice(&part[round * b..(round + 1) * b]);
        }
    }
    y
}
