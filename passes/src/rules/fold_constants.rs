//! `fold-constants`: an op whose operands are all constants becomes a
//! constant, computed by the reference interpreter (so it is exact by
//! definition). Guards: `not-widening` (a `dequantize` of constant codes is
//! kept: its f32 result is four times the storage of the codes, and
//! `lower-qdq` reads the codes) and `size` (a fold may not grow the
//! constants: its result has at most as many elements as its operands
//! together, or at most [`FOLD_LIMIT`]). So a weight's transpose, reshape
//! or requantize always folds, whatever the weight's size, and
//! `pick-layout` can then pack it; a broadcast of a scalar to a huge tensor
//! is kept as an op.

use crate::egraph::{Match, QEGraph, QNode, Reject, Rule, add_const, entry, guard};
use egg::Id;
use qcc_ir::{Graph, Layout, Op};
use std::sync::Arc;

/// A fold whose result has more elements than its operands together is
/// refused when the result also has more elements than this.
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
        let operands: usize = m
            .ids
            .iter()
            .map(|&c| eg[c].data.ty.num_elements().unwrap_or(usize::MAX))
            .fold(0, usize::saturating_add);
        guard("size", n <= FOLD_LIMIT.max(operands), || {
            format!("{n} elements from {operands}")
        })?;
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

#[cfg(test)]
mod tests {
    use crate::{PassOptions, parse_pipeline, run_pipeline};
    use qcc_ir::Op;

    fn fold(text: &str) -> qcc_ir::Graph {
        let g = qcc_ir::text::parse(text, None).expect("parses");
        qcc_ir::verify::verify(&g).expect("verifies");
        let p = parse_pipeline("fold-constants").unwrap();
        run_pipeline(g, &p, &PassOptions::default(), &mut |_, _| {})
            .expect("runs")
            .0
    }

    fn count(g: &qcc_ir::Graph, f: impl Fn(&Op) -> bool) -> usize {
        g.node_ids().filter(|&n| f(&g.node(n).op)).count()
    }

    /// A weight transpose bigger than `FOLD_LIMIT` still folds: it does not
    /// grow the constants (the batch-1 MLP of issue 15 ran its 4096×4096
    /// weight transposes at run time).
    #[test]
    fn a_large_weight_transpose_folds() {
        let text = "!a = !quant.uniform<u8:f32, 0.05:128>\n!w = !quant.uniform<i8:f32, 0.01>\n!acc = !quant.uniform<i32:f32, 0.0005>\n\
            graph @g(%x: tensor<1x1100x!a>) -> (%y: tensor<1x1024x!acc>) {\n\
            %w = const dense<3> : tensor<1024x1100x!w>\n\
            %t = transpose %w {perm = [1, 0]} : tensor<1100x1024x!w>\n\
            %m = matmul_int %x, %t : tensor<1x1024x!acc>\n  return %m\n}\n";
        let g = fold(text);
        const { assert!(1024 * 1100 > super::FOLD_LIMIT) };
        assert_eq!(count(&g, |op| matches!(op, Op::Transpose { .. })), 0);
    }

    /// A fold that would turn a few constants into more than `FOLD_LIMIT`
    /// elements stays an op.
    #[test]
    fn a_growing_fold_beyond_the_limit_is_kept() {
        let text = "graph @g() -> (%y: tensor<2048x1024xf32>) {\n\
            %c = const dense<1.5> : tensor<1xf32>\n\
            %z = const dense<0.0> : tensor<2048x1024xf32>\n\
            %s = add %z, %c : tensor<2048x1024xf32>\n  return %s\n}\n";
        let g = fold(text);
        assert_eq!(
            count(&g, |op| matches!(op, Op::Add)),
            0,
            "same size as an operand: folds"
        );
        let text = "graph @g() -> (%y: tensor<2048x1024xf32>) {\n\
            %a = const dense<1.5> : tensor<2048x1xf32>\n\
            %b = const dense<2.0> : tensor<1x1024xf32>\n\
            %m = matmul %a, %b : tensor<2048x1024xf32>\n  return %m\n}\n";
        let g = fold(text);
        assert_eq!(
            count(&g, |op| matches!(op, Op::MatMul)),
            1,
            "an outer product grows"
        );
    }
}
