//! Tests of the reference interpreter against hand-computed values.
//!
//! Every expected value here was worked out by hand from the rule in
//! `docs/semantics.md` (the derivation is in the comment next to it), never
//! by running the interpreter. Graphs are built through the `Graph` API.

#![allow(clippy::cloned_ref_to_slice_refs)] // `&[x.clone()]` reads better in tests

mod cnn;
mod dynamic;
mod errors;
mod float_ops;
mod int_ops;
mod movement;
mod pool;
mod quant_ops;
mod traced;

use super::*;
use crate::op::Op;
use crate::types::{ElemType, QuantType, ScalarType, TensorType};

/// A per-tensor quantized element type with the storage's full range.
pub(super) fn qt(storage: ScalarType, scale: f32, zero_point: i64) -> ElemType {
    ElemType::quant(QuantType::per_tensor(storage, scale, zero_point))
}

/// A per-axis quantized element type with the storage's full range.
pub(super) fn qaxis(
    storage: ScalarType,
    axis: usize,
    scales: &[f32],
    zero_points: &[i64],
) -> ElemType {
    ElemType::quant(QuantType::per_axis(
        storage,
        axis,
        scales.to_vec(),
        zero_points.to_vec(),
    ))
}

/// A per-tensor quantized type with a narrow storage range.
pub(super) fn qnarrow(
    storage: ScalarType,
    lo: i64,
    hi: i64,
    scale: f32,
    zero_point: i64,
) -> ElemType {
    let mut q = QuantType::per_tensor(storage, scale, zero_point);
    q.storage_min = lo;
    q.storage_max = hi;
    ElemType::quant(q)
}

pub(super) fn ty(shape: &[usize], elem: ElemType) -> TensorType {
    TensorType::new(shape.to_vec(), elem)
}

pub(super) fn f32ty(shape: &[usize]) -> TensorType {
    TensorType::f32(shape.to_vec())
}

pub(super) fn scalar(s: ScalarType) -> ElemType {
    ElemType::Scalar(s)
}

/// An operand: its type and its stored data.
pub(super) type Operand = (TensorType, TensorData);

pub(super) fn fop(shape: &[usize], vals: &[f32]) -> Operand {
    (f32ty(shape), TensorData::F32(vals.to_vec()))
}

/// An integer or quantized operand from its stored codes.
pub(super) fn iop(t: TensorType, codes: &[i64]) -> Operand {
    let data = TensorData::from_i64s(t.elem.storage(), codes).expect("codes fit the storage");
    (t, data)
}

pub(super) fn tensor(op: &Operand) -> Tensor {
    Tensor::new(op.0.shape.clone(), op.1.clone())
}

/// Runs a graph whose only op is `op`, applied to `args` given as graph
/// inputs, and returns its one output.
pub(super) fn eval(op: Op, args: &[Operand], out: TensorType) -> Result<Tensor, InterpError> {
    let mut g = Graph::new("t");
    let vs: Vec<ValueId> = args
        .iter()
        .enumerate()
        .map(|(i, a)| g.add_input(format!("a{i}"), a.0.clone()))
        .collect();
    let y = g.add_node(op, &vs, out);
    g.add_output("y", y);
    let inputs: Vec<Tensor> = args.iter().map(tensor).collect();
    run(&g, &inputs).map(|mut v| v.remove(0))
}

/// Like [`eval`], with the operands as constants.
pub(super) fn eval_const(op: Op, args: &[Operand], out: TensorType) -> Result<Tensor, InterpError> {
    let mut g = Graph::new("t");
    let vs: Vec<ValueId> = args
        .iter()
        .map(|a| g.add_const(a.1.clone(), a.0.clone()))
        .collect();
    let y = g.add_node(op, &vs, out);
    g.add_output("y", y);
    run(&g, &[]).map(|mut v| v.remove(0))
}

/// [`eval`] that must succeed; also checks that constant operands give the
/// same result.
pub(super) fn eval_ok(op: Op, args: &[Operand], out: TensorType) -> Tensor {
    let t = eval(op.clone(), args, out.clone()).unwrap_or_else(|e| panic!("{e}"));
    let c = eval_const(op, args, out.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t, c, "inputs and constants disagree");
    assert_eq!(t.shape, out.shape);
    t
}

pub(super) fn floats(t: &Tensor) -> Vec<f32> {
    t.data.as_f32().expect("f32 result").to_vec()
}

pub(super) fn ints(t: &Tensor) -> Vec<i64> {
    t.data.to_i64s().expect("integer result")
}

/// The reason of an `Unsupported` error (panics on anything else).
pub(super) fn unsupported_reason(r: Result<Tensor, InterpError>) -> String {
    match r {
        Err(InterpError::Unsupported { reason, .. }) => reason,
        other => panic!("expected Unsupported, got {other:?}"),
    }
}
