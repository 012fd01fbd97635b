//! The cost model used for extraction.
//!
//! Each op has a base cost that stands for its run-time price: float ops
//! (and quantize / dequantize, which are float arithmetic) are dear,
//! integer ops cheap, a constant costs almost nothing (it is folded at
//! compile time), and a `matmul_int` / `conv2d_int` whose weights keep a
//! zero point pays for the run-time row sums it needs (less when they are
//! an explicit, shareable `row_sums` operand), and one whose input's zero
//! point is not in the bias pays a little for the term the kernel folds.
//!
//! A `matmul_int` / `conv2d_int` whose constant weights are not in the
//! layout the target's kernels read (`qcc_ir::target::preferred_layout`)
//! costs one more, so that `pick-layout`'s packed alternative wins.
//!
//! The cost of an e-node is a pair compared lexicographically: the most
//! expensive path from it down to the leaves (`base + max(children)`), then
//! the tree sum as a tie-breaker. Paths, unlike tree sums, do not count a
//! shared value once per use, so the costs of deep DAGs (residual blocks)
//! stay small and keep telling alternatives apart; both saturate.

use super::{QEGraph, QNode};
use egg::{CostFunction, Id};
use qcc_ir::{ElemType, Op, TensorType};

#[allow(missing_debug_implementations)]
pub struct QCost<'a> {
    pub eg: &'a QEGraph,
}

/// The cost of one e-node.
pub type Cost = (u64, u64);

/// The base cost of `op` producing `ty` from operands of types `args`.
pub fn base_cost(op: &Op, ty: &TensorType, args: &[&TensorType]) -> u64 {
    let float = ty.elem == ElemType::F32;
    match op {
        Op::Input(_) => 0,
        Op::Const(_) => 1,
        Op::MatMul | Op::Dense | Op::Conv2d(_) | Op::DenseNbits | Op::DenseNbitsQ8 => 100,
        Op::Softmax { .. } => 50,
        Op::ReduceMean { .. }
        | Op::ReduceSum { .. }
        | Op::ReduceMax { .. }
        | Op::ReduceMin { .. }
        | Op::ReduceProd { .. } => 20,
        Op::Add
        | Op::Mul
        | Op::Sub
        | Op::Div
        | Op::Max
        | Op::Min
        | Op::Relu
        | Op::Clamp { .. }
        | Op::Neg
        | Op::Abs
        | Op::Sqrt
        | Op::Reciprocal
        | Op::Floor
        | Op::Ceil
        | Op::Round
        | Op::HardSigmoid { .. }
        | Op::HardSwish
        | Op::LeakyRelu { .. } => 40,
        // A library call per element.
        Op::Pow | Op::Exp | Op::Log | Op::Erf | Op::Tanh | Op::Sigmoid | Op::Gelu => 60,
        Op::Quantize | Op::Dequantize => 30,
        Op::MaxPool2d(_) if float => 40,
        Op::MaxPool2d(_) => 5,
        Op::AvgPool2d(_) | Op::GlobalAvgPool { .. } if float => 40,
        Op::AvgPool2d(_) | Op::GlobalAvgPool { .. } => 12,
        Op::Reshape | Op::Flatten { .. } if float => 2,
        Op::Reshape | Op::Flatten { .. } => 1,
        Op::Transpose { .. } | Op::Slice { .. } | Op::Concat { .. } | Op::Gather { .. }
            if float =>
        {
            8
        }
        Op::Transpose { .. } | Op::Slice { .. } | Op::Concat { .. } | Op::Gather { .. } => 4,
        Op::Requantize { .. } => 8,
        Op::MatMulInt(_) | Op::Conv2dInt(..) => {
            let mut c = 20;
            let zx_in_bias = matches!(op, Op::MatMulInt(i) | Op::Conv2dInt(_, i) if i.zx_in_bias);
            if !zx_in_bias
                && args
                    .first()
                    .and_then(|x| x.elem.as_quant())
                    .is_some_and(|q| q.zero_points.iter().any(|&z| z != 0))
            {
                // Zx · Σw: a term per channel the kernel must fold.
                c += 1;
            }
            if let Some(w) = args.get(1) {
                if let Some(q) = w.elem.as_quant()
                    && q.zero_points.iter().any(|&z| z != 0)
                    && args.len() < 4
                {
                    // Zw · Σx: row sums of x inside the kernel, at run time.
                    c += 6;
                }
                if w.elem.storage().bits() > 8 {
                    c += 2;
                }
            }
            c
        }
        Op::AddInt { .. } => 10,
        Op::RowSums => 4,
        Op::Lookup => 2,
        Op::ClampInt { .. } => 2,
        // Run-time quantization parameters: no rule produces or removes
        // them; the costs only place them among the others.
        Op::DynamicScale | Op::DynamicZeroPoint => 30,
        Op::QuantizeDyn | Op::DequantizeDyn => 30,
        Op::MatMulIntDyn | Op::Conv2dIntDyn(_) => 26,
        // Scalar loops of one operation per element.
        Op::Cast | Op::Equal | Op::Less | Op::Greater | Op::Where => 10,
        Op::ArgMax { .. } | Op::ArgMin { .. } => 10,
    }
}

impl CostFunction<QNode> for QCost<'_> {
    type Cost = Cost;

    fn cost<C>(&mut self, enode: &QNode, mut costs: C) -> Cost
    where
        C: FnMut(Id) -> Cost,
    {
        let entry = self.eg.analysis.table.get(enode.op);
        let args: Vec<&TensorType> = enode
            .children
            .iter()
            .map(|&c| &self.eg[c].data.ty)
            .collect();
        let mut base = base_cost(&entry.op, &entry.ty, &args);
        if matches!(entry.op, Op::MatMulInt(_) | Op::Conv2dInt(..))
            && args.len() >= 2
            && self.eg[enode.children[1]].data.konst.is_some()
            && qcc_ir::target::preferred_layout(
                self.eg.analysis.target,
                &entry.op,
                args[0],
                args[1],
                &entry.ty,
            )
            .is_ok_and(|want| want != args[1].layout)
        {
            base += 1;
        }
        let mut path = 0u64;
        let mut sum = base;
        for &c in &enode.children {
            let (p, s) = costs(c);
            path = path.max(p);
            sum = sum.saturating_add(s);
        }
        (base.saturating_add(path), sum)
    }
}
