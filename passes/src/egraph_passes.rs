//! The e-graph passes: each runs its rule set through `egraph::rewrite` and
//! words the remarks.

use crate::egraph::{self, Remark, Rule};
use crate::rules::{fold_constants, fold_zero_points, fuse_requant, lower_qdq, pick_layout};
use crate::{PassLog, PassOptions};
use qcc_ir::{ElemType, Graph, Op, ValueId};
use std::collections::HashMap;
use std::sync::Arc;

/// `lower-qdq`.
pub fn lower_qdq(graph: &mut Graph, options: &PassOptions, log: &mut PassLog) {
    let mut rules = lower_qdq::rules();
    rules.extend(fuse_requant::exact_rules());
    run(graph, &rules, options, log);
    report_float_ops(graph, log);
}

/// `fuse-requant`.
pub fn fuse_requant(graph: &mut Graph, options: &PassOptions, log: &mut PassLog) {
    run(graph, &fuse_requant::rules(), options, log);
}

/// `fold-zero-points`.
pub fn fold_zero_points(graph: &mut Graph, options: &PassOptions, log: &mut PassLog) {
    run(graph, &fold_zero_points::rules(), options, log);
    let (mut folded, mut left) = (0, 0);
    for v in graph.node_ids() {
        let n = graph.node(v);
        let in_bias = match &n.op {
            Op::MatMulInt(i) | Op::Conv2dInt(_, i) => i.zx_in_bias,
            _ => continue,
        };
        let args = graph.args(v);
        let zx = graph
            .ty(args[0])
            .elem
            .as_quant()
            .is_some_and(|q| q.zero_points[0] != 0);
        if in_bias {
            folded += 1;
        } else if zx {
            left += 1;
        }
    }
    log.stat("ops with Zx·Σw folded into the bias", folded);
    log.stat("ops whose kernel still subtracts Zx", left);
}

/// `fold-constants`.
pub fn fold_constants(graph: &mut Graph, options: &PassOptions, log: &mut PassLog) {
    run(graph, &fold_constants::rules(), options, log);
}

/// `pick-layout`.
pub fn pick_layout(graph: &mut Graph, options: &PassOptions, log: &mut PassLog) {
    run(graph, &pick_layout::rules(), options, log);
    let mut packed = 0;
    let mut bytes = 0;
    for v in graph.node_ids() {
        let n = graph.node(v);
        if let Op::Const(c) = &n.op
            && n.ty.layout.is_packed()
        {
            packed += 1;
            bytes += c.data.len() as u64;
        }
    }
    log.stat("packed constants", packed);
    log.stat("packed bytes", bytes);
}

fn run(graph: &mut Graph, rules: &[Arc<dyn Rule>], options: &PassOptions, log: &mut PassLog) {
    let remarks = egraph::rewrite(graph, rules, options, log);
    let labels = labels(graph);
    for Remark { value, text } in remarks {
        if graph.contains(value) {
            log.remarks
                .push(format!("{}: {text}", describe(graph, &labels, value)));
        }
    }
}

/// Every float op left that computes (not quantize, dequantize or data
/// movement) is reported: it had no integer form, or was not in a
/// dequantize → op → quantize sandwich that lowering could rewrite.
fn report_float_ops(graph: &Graph, log: &mut PassLog) {
    let labels = labels(graph);
    for v in graph.canonical_order() {
        let n = graph.node(v);
        if n.ty.elem != ElemType::F32 {
            continue;
        }
        let why = match n.op {
            Op::Softmax { .. } | Op::Mul => "it has no integer form",
            Op::MatMul
            | Op::Dense
            | Op::Conv2d(_)
            | Op::Add
            | Op::Relu
            | Op::Clamp { .. }
            | Op::MaxPool2d(_)
            | Op::AvgPool2d(_)
            | Op::GlobalAvgPool { .. } => {
                "it is not between dequantized operands and a quantize, or a guard turned it down"
            }
            _ => continue,
        };
        log.remarks.push(format!(
            "{}: stays in float: {why}",
            describe(graph, &labels, v)
        ));
    }
}

/// The printer's names: stored names, and numbers for unnamed values in
/// canonical order.
fn labels(graph: &Graph) -> HashMap<ValueId, String> {
    let mut next = 0usize;
    let mut m = HashMap::new();
    for v in graph.canonical_order() {
        let name = match &graph.node(v).name {
            Some(n) => n.clone(),
            None => {
                next += 1;
                (next - 1).to_string()
            }
        };
        m.insert(v, name);
    }
    m
}

fn describe(graph: &Graph, labels: &HashMap<ValueId, String>, v: ValueId) -> String {
    let name = labels.get(&v).map_or("?", String::as_str);
    format!("`%{name}` ({})", graph.node(v).op.name())
}
