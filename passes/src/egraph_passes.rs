//! The e-graph passes: each runs its rule set through `egraph::rewrite` and
//! words the remarks.

use crate::egraph::{self, Remark, Rule};
use crate::rules::{fold_constants, fold_zero_points, fuse_requant, lower_qdq, pick_layout};
use crate::{PassLog, PassOptions};
use qcc_ir::{ElemType, Graph, Op, TensorData, TensorType, ValueId};
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

/// `pick-layout`. A packed constant is a new value; it takes the name of
/// the row-major constant it replaced (when that one is gone), so that
/// `%w` stays `%w`. (Names are matched on the type and a sample of the
/// elements: a name is a label, and copying large weights to compare them
/// in full would cost more than the pass.)
pub fn pick_layout(graph: &mut Graph, options: &PassOptions, log: &mut PassLog) {
    // Named row-major constants read as weights: what a packed copy may
    // be named after, with a sample of their elements.
    #[allow(clippy::type_complexity)]
    let named: Vec<(
        ValueId,
        String,
        TensorType,
        Vec<(usize, i64)>,
        Option<qcc_ir::Span>,
    )> = graph
        .node_ids()
        .filter(|&v| {
            !graph.ty(v).layout.is_packed()
                && graph.users(v).iter().any(|&(u, slot)| {
                    slot == 1 && matches!(graph.node(u).op, Op::MatMulInt(_) | Op::Conv2dInt(..))
                })
        })
        .filter_map(|v| {
            let n = graph.node(v);
            let c = n.op.as_const()?;
            Some((v, n.name.clone()?, n.ty.clone(), sample(&c.data), n.span))
        })
        .collect();
    run(graph, &pick_layout::rules(), options, log);
    let mut packed = 0;
    let mut bytes = 0;
    let mut taken: std::collections::HashSet<String> = graph
        .node_ids()
        .filter_map(|v| graph.node(v).name.clone())
        .collect();
    let ids: Vec<ValueId> = graph.node_ids().collect();
    for v in ids {
        let n = graph.node(v);
        let Op::Const(c) = &n.op else { continue };
        if !n.ty.layout.is_packed() {
            continue;
        }
        packed += 1;
        bytes += c.data.len() as u64;
        if n.name.is_some() {
            continue;
        }
        let Some(geo) = n.ty.layout.geometry(&n.ty.shape) else {
            continue;
        };
        let source = named.iter().find(|(old, name, ty, sample, _)| {
            !graph.contains(*old)
                && !taken.contains(name)
                && ty.with_layout(n.ty.layout) == n.ty
                && sample.iter().all(|&(i, x)| {
                    let (k, col) = logical_coords(&n.ty.shape, i);
                    c.data.get_int(geo.offset(k, col)) == Some(x)
                })
        });
        if let Some((_, name, _, _, span)) = source {
            taken.insert(name.clone());
            let node = graph.node_mut(v);
            node.name = Some(name.clone());
            node.span = *span;
        }
    }
    log.stat("packed constants", packed);
    log.stat("packed bytes", bytes);
}

/// About 1024 elements `(row-major index, value)` spread over the data.
fn sample(d: &TensorData) -> Vec<(usize, i64)> {
    let n = d.len();
    let step = (n / 1024).max(1);
    (0..n)
        .step_by(step)
        .filter_map(|i| d.get_int(i).map(|x| (i, x)))
        .collect()
}

/// The GEMM coordinates `(k, n)` of row-major element `i` of weights of
/// logical `shape` (`[K, N]`, or `[O, C, KH, KW]` with rows `(ky, kx, c)`).
fn logical_coords(shape: &[usize], i: usize) -> (usize, usize) {
    match *shape {
        [_, n] => (i / n, i % n),
        [_, c, kh, kw] => {
            let (o, rest) = (i / (c * kh * kw), i % (c * kh * kw));
            let (ci, tap) = (rest / (kh * kw), rest % (kh * kw));
            (tap * c + ci, o)
        }
        _ => (0, 0),
    }
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
            Op::Softmax { .. }
            | Op::ReduceMean { .. }
            | Op::ReduceSum { .. }
            | Op::ReduceMax { .. }
            | Op::ReduceMin { .. }
            | Op::ReduceProd { .. }
            | Op::Mul => "it has no integer form",
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
