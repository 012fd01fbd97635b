//! Verifier tests: good graphs of every op, the public typing API,
//! robustness on malformed graphs, and the bad graphs the text format cannot
//! express. Graphs are built through the `Graph` API. A bad graph that can be
//! written as text belongs in `testsuite/errors/` instead, where its rendered
//! diagnostic is a snapshot.

// `&[x.clone()]` reads better in a test than `std::slice::from_ref(&x)`.
#![allow(clippy::cloned_ref_to_slice_refs)]

mod api;
mod bounds;
mod good;
mod ops;
mod robust;
mod structure;

use crate::diag::Diagnostic;
use crate::graph::{Graph, ValueId};
use crate::op::Op;
use crate::tensor::TensorData;
use crate::types::{ElemType, QuantType, ScalarType, TensorType};

pub(super) use ScalarType::{I4, I8, I16, I32, U4, U8};

/// A per-tensor quantized element type.
pub(super) fn qt(storage: ScalarType, scale: f32, zp: i64) -> ElemType {
    ElemType::quant(QuantType::per_tensor(storage, scale, zp))
}

/// A per-axis quantized element type.
pub(super) fn qax(storage: ScalarType, axis: usize, scales: &[f32], zps: &[i64]) -> ElemType {
    ElemType::quant(QuantType::per_axis(
        storage,
        axis,
        scales.to_vec(),
        zps.to_vec(),
    ))
}

pub(super) fn ty(shape: &[usize], elem: ElemType) -> TensorType {
    TensorType::new(shape.to_vec(), elem)
}

pub(super) fn f32t(shape: &[usize]) -> TensorType {
    TensorType::f32(shape.to_vec())
}

pub(super) fn int(shape: &[usize], s: ScalarType) -> TensorType {
    TensorType::new(shape.to_vec(), ElemType::Scalar(s))
}

pub(super) fn ints(s: ScalarType, vals: &[i64]) -> TensorData {
    TensorData::from_i64s(s, vals).expect("test data fits")
}

/// A graph `y = op(inputs...)` with one input per operand type.
pub(super) fn single(op: Op, ins: &[TensorType], out: TensorType) -> Graph {
    let mut g = Graph::new("t");
    let args: Vec<ValueId> = ins
        .iter()
        .enumerate()
        .map(|(i, t)| g.add_input(format!("x{i}"), t.clone()))
        .collect();
    let y = g.add_node(op, &args, out);
    g.add_output("y", y);
    g
}

/// Verifies `g` and panics with every diagnostic if it fails.
#[track_caller]
pub(super) fn assert_ok(g: &Graph) {
    if let Err(ds) = super::verify(g) {
        let msgs: Vec<&str> = ds.iter().map(|d| d.message.as_str()).collect();
        panic!("expected a valid graph, got {msgs:#?}");
    }
}

/// The messages of every diagnostic (empty for a valid graph).
pub(super) fn messages(g: &Graph) -> Vec<String> {
    match super::verify(g) {
        Ok(()) => Vec::new(),
        Err(ds) => ds.into_iter().map(|d| d.message).collect(),
    }
}

/// Exactly one diagnostic, whose message contains `needle`.
#[track_caller]
pub(super) fn assert_one(g: &Graph, needle: &str) -> Diagnostic {
    let ds = super::verify(g).expect_err("expected the graph to be rejected");
    let msgs: Vec<&str> = ds.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(ds.len(), 1, "expected one diagnostic, got {msgs:#?}");
    assert!(
        ds[0].message.contains(needle),
        "expected {needle:?} in {:?}",
        ds[0].message
    );
    ds[0].clone()
}

/// At least one diagnostic contains `needle`.
#[track_caller]
pub(super) fn assert_has(g: &Graph, needle: &str) {
    let msgs = messages(g);
    assert!(
        msgs.iter().any(|m| m.contains(needle)),
        "expected {needle:?} among {msgs:#?}"
    );
}
