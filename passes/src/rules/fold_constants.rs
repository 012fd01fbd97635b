//! `fold-constants`: an op whose operands are all constants becomes a
//! constant, computed by the reference interpreter (so it is exact by
//! definition). Guards: `not-widening` (a `dequantize` of constant codes is
//! kept: its f32 result is four times the storage of the codes, and
//! `lower-qdq` reads the codes) and `size` (at most [`FOLD_LIMIT`]
//! elements).

use crate::egraph::{Match, QEGraph, QNode, Reject, Rule, add_const, entry, guard};
use egg::Id;
use qcc_ir::{Graph, Layout, Op};
use std::sync::Arc;

/// Results with more elements than this are not folded.
pub const FOLD_LIMIT: usize = 1 << 20;

pub fn rules() -> Vec<Arc<dyn Rule>> {
    vec![Arc::new(FoldConstant)]
}

#[derive(Debug)]
pub struct FoldConstant;

impl Rule for FoldConstant {
    fn name(&self) -> &'static str {
        "fold-constant"
    }

    fn search(&self, eg: &QEGraph, node: &QNode, out: &mut Vec<Match>) {
        let e = entry(eg, node);
        if matches!(e.op, Op::Input(_) | Op::Const(_)) {
            return;
        }
        if node.children.iter().all(|&c| eg[c].data.konst.is_some()) {
            out.push(Match::node(eg, node));
        }
    }

    fn apply(&self, eg: &mut QEGraph, m: &Match) -> Result<Id, Reject> {
        let e = eg.analysis.table.get(m.ops[0]).clone();
        guard("not-widening", !matches!(e.op, Op::Dequantize), || {
            "a dequantized constant would take four times the storage".into()
        })?;
        let n = e.ty.num_elements().unwrap_or(usize::MAX);
        guard("size", n <= FOLD_LIMIT, || format!("{n} elements"))?;
        let mut g = Graph::new("fold");
        let mut args = Vec::new();
        for &c in &m.ids {
            let d = eg[c]
                .data
                .const_data()
                .cloned()
                .ok_or_else(|| Reject::new("constant", "operand"))?;
            // `const_data` is in logical order: the row-major type.
            let ty = eg[c].data.ty.with_layout(Layout::RowMajor);
            args.push(g.add_const(d, ty));
        }
        let v = g.add_node(e.op.clone(), &args, e.ty.clone());
        g.add_output("y", v);
        let out = qcc_ir::interp::run(&g, &[])
            .map_err(|err| Reject::new("interpreter", err.to_string()))?;
        let t = out
            .into_iter()
            .next()
            .ok_or_else(|| Reject::new("interpreter", "no output"))?;
        Ok(add_const(eg, t.data, e.ty.clone()))
    }
}
