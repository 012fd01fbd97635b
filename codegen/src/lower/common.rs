//! Helpers every lowering file uses: errors naming the node, the checked
//! rescale, row-major and broadcast strides.

#[allow(unused_imports)]
use super::*;
use crate::CodegenError;
use qcc_ir::op::RequantMode;
use qcc_ir::quant::Rescale;
use qcc_ir::{Graph, ValueId};

pub(super) fn err(graph: &Graph, v: ValueId, reason: impl Into<String>) -> CodegenError {
    CodegenError::Unsupported {
        node: graph.describe(v),
        op: graph.node(v).op.name(),
        reason: reason.into(),
    }
}

/// The rescale by `s_in / (s_out · divisor)`, checked as in every stage
/// ([`Rescale::try_new`]).
pub(super) fn rescale(
    mode: RequantMode,
    s_in: f32,
    s_out: f32,
    divisor: u32,
) -> Result<Rescale, String> {
    Rescale::try_new(mode, s_in, s_out, divisor).map_err(|e| e.to_string())
}

pub(super) fn strides(shape: &[usize]) -> Vec<i64> {
    let mut s = vec![1i64; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1] as i64;
    }
    s
}

/// Strides of `from` broadcast to `to` (aligned right, 0 on broadcast dims).
pub(super) fn bcast_strides(from: &[usize], to: &[usize]) -> Vec<i64> {
    let fs = strides(from);
    let off = to.len() - from.len();
    (0..to.len())
        .map(|i| {
            if i < off || from[i - off] == 1 {
                0
            } else {
                fs[i - off]
            }
        })
        .collect()
}

pub(super) fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}
