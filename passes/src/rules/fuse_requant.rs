//! `fuse-requant`: requantize and clamp clean-ups.
//!
//! | rule | from | to | exact? |
//! |---|---|---|---|
//! | `qdq-to-requantize` | `quantize[Q2](dequantize(x: Q1))` | `x` if Q1 = Q2, else `requantize[Q2](x)` | exact when equal; else within 1 step |
//! | `fuse-relu` / `fuse-clamp` | `quantize[Qy](relu(dequantize(x)))` | `clamp_int[Zy, hi](requantize[Qy](x))` | as `qdq-to-requantize` |
//! | `requantize-identity` | `requantize[Q](x: Q)`, storage ≤ 16 bits | `x` | exact (multiplier 1 in every mode) |
//! | `requantize-chain` | `requantize[Q2](requantize[Q1](x: Qx))`, `s1 = sx`, no saturation in the first | `requantize[Q2](x)` | exact |
//! | `clamp-through-requantize` | `requantize[Q2](clamp_int[a, b](x))` | `clamp_int[r(a), r(b)](requantize[Q2](x))` | exact (every rescale is monotone) |
//! | `clamp-of-clamp` | `clamp_int[a, b](clamp_int[c, d](x))` | `clamp_int[clamp(c, a, b), clamp(d, a, b)](x)` | exact |
//! | `clamp-full-range` | `clamp_int[a, b](x)` with `[a, b]` ⊇ x's range | `x` | exact |
//!
//! A requantize chain is fused only where the result is provably the same
//! (the first requantize only moves the zero point, without saturating); in
//! general two roundings differ from one, and the chain is kept.

use super::lower_qdq::{relu_or_clamp, search_qdq};
use super::{per_tensor, requant_to};
use crate::egraph::{
    Match, QEGraph, QNode, Reject, Rule, add_op, entry, guard, nodes_where, push_nested,
};
use egg::Id;
use qcc_ir::quant::{Rescale, saturate};
use qcc_ir::{Op, QuantType};
use std::sync::Arc;

pub fn rules() -> Vec<Arc<dyn Rule>> {
    vec![
        Arc::new(QdqToRequantize),
        Arc::new(FuseActivation { clamp: false }),
        Arc::new(FuseActivation { clamp: true }),
        Arc::new(RequantizeIdentity),
        Arc::new(RequantizeChain),
        Arc::new(ClampThroughRequantize),
        Arc::new(ClampOfClamp),
        Arc::new(ClampFullRange),
    ]
}

/// The clean-up rules that are exact, also run by other passes.
pub fn exact_rules() -> Vec<Arc<dyn Rule>> {
    vec![Arc::new(ClampOfClamp), Arc::new(ClampFullRange)]
}

#[derive(Debug)]
pub struct QdqToRequantize;

impl Rule for QdqToRequantize {
    fn name(&self) -> &'static str {
        "qdq-to-requantize"
    }

    fn search(&self, eg: &QEGraph, node: &QNode, out: &mut Vec<Match>) {
        if !matches!(entry(eg, node).op, Op::Quantize) {
            return;
        }
        if let Some(x) = crate::egraph::dequantized_source(eg, node.children[0]) {
            out.push(Match {
                ops: vec![node.op],
                ids: vec![x],
            });
        }
    }

    fn apply(&self, eg: &mut QEGraph, m: &Match) -> Result<Id, Reject> {
        let root = eg.analysis.table.get(m.ops[0]).clone();
        let q2 = root
            .ty
            .elem
            .as_quant()
            .cloned()
            .ok_or_else(|| Reject::new("typing", "not quantized"))?;
        requant_to(eg, m.ids[0], &q2)
    }
}

#[derive(Debug)]
pub struct FuseActivation {
    clamp: bool,
}

impl Rule for FuseActivation {
    fn name(&self) -> &'static str {
        if self.clamp {
            "fuse-clamp"
        } else {
            "fuse-relu"
        }
    }

    fn search(&self, eg: &QEGraph, node: &QNode, out: &mut Vec<Match>) {
        let clamp = self.clamp;
        search_qdq(
            eg,
            node,
            |op| {
                if clamp {
                    matches!(op, Op::Clamp { .. })
                } else {
                    matches!(op, Op::Relu)
                }
            },
            |_| false,
            out,
        );
    }

    fn apply(&self, eg: &mut QEGraph, m: &Match) -> Result<Id, Reject> {
        let root = eg.analysis.table.get(m.ops[0]).clone();
        let mid = eg.analysis.table.get(m.ops[1]).clone();
        let qy = root
            .ty
            .elem
            .as_quant()
            .cloned()
            .ok_or_else(|| Reject::new("typing", "not quantized"))?;
        let bounds = match mid.op {
            Op::Clamp { min, max } => Some((min.0, max.0)),
            _ => None,
        };
        relu_or_clamp(eg, m.ids[0], &qy, bounds)
    }
}

/// Matches `op(x)` where `op` satisfies `pred`: `ops = [op]`, `ids = [x]`.
fn search_unary(eg: &QEGraph, node: &QNode, pred: impl Fn(&Op) -> bool, out: &mut Vec<Match>) {
    if pred(&entry(eg, node).op) {
        out.push(Match {
            ops: vec![node.op],
            ids: vec![eg.find(node.children[0])],
        });
    }
}

#[derive(Debug)]
pub struct RequantizeIdentity;

impl Rule for RequantizeIdentity {
    fn name(&self) -> &'static str {
        "requantize-identity"
    }

    fn search(&self, eg: &QEGraph, node: &QNode, out: &mut Vec<Match>) {
        search_unary(eg, node, |op| matches!(op, Op::Requantize { .. }), out);
    }

    fn apply(&self, eg: &mut QEGraph, m: &Match) -> Result<Id, Reject> {
        let root = eg.analysis.table.get(m.ops[0]).clone();
        let x = m.ids[0];
        let xty = &eg[x].data.ty;
        guard("same-type", *xty == root.ty, || {
            format!("`{}` and `{}` differ", xty.elem, root.ty.elem)
        })?;
        guard(
            "storage-at-most-16-bits",
            xty.elem.storage().bits() <= 16,
            || {
                format!(
                    "`{}` codes need not survive a rescale by 1 exactly",
                    xty.elem.storage()
                )
            },
        )?;
        Ok(x)
    }
}

#[derive(Debug)]
pub struct RequantizeChain;

impl Rule for RequantizeChain {
    fn name(&self) -> &'static str {
        "requantize-chain"
    }

    fn search(&self, eg: &QEGraph, node: &QNode, out: &mut Vec<Match>) {
        if !matches!(entry(eg, node).op, Op::Requantize { .. }) {
            return;
        }
        let inner = node.children[0];
        for n in nodes_where(eg, inner, |op| matches!(op, Op::Requantize { .. })) {
            out.push(Match {
                ops: vec![node.op, n.op],
                ids: vec![eg.find(n.children[0])],
            });
        }
    }

    fn apply(&self, eg: &mut QEGraph, m: &Match) -> Result<Id, Reject> {
        let outer = eg.analysis.table.get(m.ops[0]).clone();
        let inner = eg.analysis.table.get(m.ops[1]).clone();
        let x = m.ids[0];
        let qx = super::quant_of(eg, x, "quantized", "the first requantize's operand")?;
        let q1 = inner
            .ty
            .elem
            .as_quant()
            .cloned()
            .ok_or_else(|| Reject::new("typing", "not quantized"))?;
        let q2 = outer
            .ty
            .elem
            .as_quant()
            .cloned()
            .ok_or_else(|| Reject::new("typing", "not quantized"))?;
        per_tensor(&qx, "the first requantize's operand")?;
        per_tensor(&q1, "the middle type")?;
        guard(
            "same-scale",
            qx.scales[0].to_bits() == q1.scales[0].to_bits(),
            || {
                format!(
                    "the first requantize rescales ({} to {}), so the chain rounds twice",
                    qx.scales[0], q1.scales[0]
                )
            },
        )?;
        guard("storage-at-most-16-bits", qx.storage.bits() <= 16, || {
            format!(
                "`{}` codes need not survive a rescale by 1 exactly",
                qx.storage
            )
        })?;
        let shift = q1.zero_points[0] - qx.zero_points[0];
        let (lo, hi) = (qx.storage_min + shift, qx.storage_max + shift);
        guard(
            "no-saturation",
            lo >= q1.storage_min && hi <= q1.storage_max,
            || {
                format!(
                    "the first requantize maps {}..={} to {lo}..={hi}, outside {}..={}",
                    qx.storage_min, qx.storage_max, q1.storage_min, q1.storage_max
                )
            },
        )?;
        let Op::Requantize { mode } = outer.op else {
            return Err(Reject::new("typing", "not a requantize"));
        };
        add_op(eg, Op::Requantize { mode }, &[x], Some(&q2))
    }
}

/// `requantize(x)` of the code `a` (what the interpreter computes for one
/// element whose code is `a`).
fn requantize_code(a: i64, mode: qcc_ir::RequantMode, qin: &QuantType, qout: &QuantType) -> i64 {
    let r = Rescale::new(mode, qin.scales[0], qout.scales[0], 1);
    let d = saturate(a - qin.zero_points[0], i32::MIN as i64, i32::MAX as i64) as i32;
    r.apply_with_zp(d, qout.zero_points[0], qout.storage_min, qout.storage_max)
}

#[derive(Debug)]
pub struct ClampThroughRequantize;

impl Rule for ClampThroughRequantize {
    fn name(&self) -> &'static str {
        "clamp-through-requantize"
    }

    fn search(&self, eg: &QEGraph, node: &QNode, out: &mut Vec<Match>) {
        if !matches!(entry(eg, node).op, Op::Requantize { .. }) {
            return;
        }
        push_nested(eg, node, |op| matches!(op, Op::ClampInt { .. }), out);
    }

    fn apply(&self, eg: &mut QEGraph, m: &Match) -> Result<Id, Reject> {
        let outer = eg.analysis.table.get(m.ops[0]).clone();
        let inner = eg.analysis.table.get(m.ops[1]).clone();
        let x = m.ids[0];
        let (Op::Requantize { mode }, Op::ClampInt { min, max }) = (&outer.op, &inner.op) else {
            return Err(Reject::new("typing", "not requantize(clamp_int)"));
        };
        let qin = super::quant_of(eg, x, "quantized", "the clamp's operand")?;
        let qout = outer
            .ty
            .elem
            .as_quant()
            .cloned()
            .ok_or_else(|| Reject::new("typing", "not quantized"))?;
        per_tensor(&qin, "the clamp's operand")?;
        per_tensor(&qout, "the result")?;
        let (a, b) = (
            requantize_code(*min, *mode, &qin, &qout),
            requantize_code(*max, *mode, &qin, &qout),
        );
        let r = add_op(eg, Op::Requantize { mode: *mode }, &[x], Some(&qout))?;
        add_op(eg, Op::ClampInt { min: a, max: b }, &[r], None)
    }
}

#[derive(Debug)]
pub struct ClampOfClamp;

impl Rule for ClampOfClamp {
    fn name(&self) -> &'static str {
        "clamp-of-clamp"
    }

    fn search(&self, eg: &QEGraph, node: &QNode, out: &mut Vec<Match>) {
        if !matches!(entry(eg, node).op, Op::ClampInt { .. }) {
            return;
        }
        push_nested(eg, node, |op| matches!(op, Op::ClampInt { .. }), out);
    }

    fn apply(&self, eg: &mut QEGraph, m: &Match) -> Result<Id, Reject> {
        let outer = eg.analysis.table.get(m.ops[0]).clone();
        let inner = eg.analysis.table.get(m.ops[1]).clone();
        let (Op::ClampInt { min: a, max: b }, Op::ClampInt { min: c, max: d }) =
            (&outer.op, &inner.op)
        else {
            return Err(Reject::new("typing", "not clamp_int(clamp_int)"));
        };
        let (lo, hi) = (saturate(*c, *a, *b), saturate(*d, *a, *b));
        add_op(eg, Op::ClampInt { min: lo, max: hi }, &[m.ids[0]], None)
    }
}

#[derive(Debug)]
pub struct ClampFullRange;

impl Rule for ClampFullRange {
    fn name(&self) -> &'static str {
        "clamp-full-range"
    }

    fn search(&self, eg: &QEGraph, node: &QNode, out: &mut Vec<Match>) {
        search_unary(eg, node, |op| matches!(op, Op::ClampInt { .. }), out);
    }

    fn apply(&self, eg: &mut QEGraph, m: &Match) -> Result<Id, Reject> {
        let root = eg.analysis.table.get(m.ops[0]).clone();
        let Op::ClampInt { min, max } = root.op else {
            return Err(Reject::new("typing", "not clamp_int"));
        };
        let x = m.ids[0];
        let range = eg[x].data.ty.elem.int_range();
        let Some((lo, hi)) = range else {
            return Err(Reject::new("typing", "not an integer type"));
        };
        guard("covers-range", min <= lo && max >= hi, || {
            format!("the bounds {min}..={max} cut the range {lo}..={hi}")
        })?;
        Ok(x)
    }
}
