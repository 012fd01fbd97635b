//! The rewrite rules, one file per pass, and helpers they share.
//!
//! Every rule is named; every condition a rule checks before it fires is a
//! named guard (`egraph::guard`), so a rule that does not fire says which
//! guard stopped it. Constant data, types and quant parameters come from the
//! e-class analysis; new nodes are typed by the verifier's own rules
//! (`egraph::add_op`), so a rewrite can never build an ill-typed node: the
//! typing error becomes the guard `typing`.

pub mod fold_constants;
pub mod fold_zero_points;
pub mod fuse_requant;
pub mod lower_qdq;
pub mod pick_layout;

use crate::egraph::{QEGraph, Reject, add_op, guard};
use egg::Id;
use qcc_ir::{ElemType, Op, QuantType, RequantMode, TensorData, TensorType};

/// The quantized type of class `c`, or the guard `name` fails.
pub fn quant_of(eg: &QEGraph, c: Id, name: &'static str, what: &str) -> Result<QuantType, Reject> {
    match &eg[c].data.ty.elem {
        ElemType::Quant(q) => Ok((**q).clone()),
        e => Err(Reject::new(name, format!("{what} is `{e}`, not quantized"))),
    }
}

/// `x` converted to the quantized type `q` (same shape): `x` itself when its
/// type already is that, else a `requantize` in the pipeline's mode.
pub fn requant_to(eg: &mut QEGraph, x: Id, q: &QuantType) -> Result<Id, Reject> {
    let want = ElemType::quant(q.clone());
    if eg[x].data.ty.elem == want {
        return Ok(x);
    }
    let mode = eg.analysis.mode;
    add_op(eg, Op::Requantize { mode }, &[x], Some(q))
}

/// Guard `per-tensor`: `q` has one scale and one zero point.
pub fn per_tensor(q: &QuantType, what: &str) -> Result<(), Reject> {
    guard("per-tensor", !q.is_per_axis(), || {
        format!("{what} is quantized per axis ({q})")
    })
}

/// The stored integers of a constant class (`None` for f32 or non-constants).
pub fn const_ints(eg: &QEGraph, c: Id) -> Option<Vec<i64>> {
    eg[c].data.const_data().and_then(TensorData::to_i64s)
}

/// The mode requantizes get.
pub fn mode(eg: &QEGraph) -> RequantMode {
    eg.analysis.mode
}

/// The type `ty` with a new element type.
pub fn with_elem(ty: &TensorType, q: QuantType) -> TensorType {
    ty.with_elem(ElemType::quant(q))
}
