//! `fold-lookup`: an elementwise computation of one 8-bit tensor becomes a
//! table lookup.
//!
//! A value `y` with 8-bit storage (u8 or i8) that depends on exactly one
//! non-constant value `x`, itself 8-bit, through elementwise ops only
//! (`dequantize`, `quantize`, `requantize`, `clamp`, `clamp_int`, the float
//! unary functions of `qcc_ir::elementwise` (relu, sigmoid, tanh, ...), and
//! its binary ones and `add_int` whose other operands are scalar constants
//! or the same computation of `x`, and `lookup`s of constant tables) is a
//! function of each code of `x`: there are at most 256 of them. The pass computes that function once, with the reference
//! interpreter on a graph of the same ops applied to every code, and
//! replaces `y` with `lookup x, table`. Exact by construction: the table
//! holds what the interpreter computes. Typical catch: the float islands
//! that activations without an integer form leave between a dequantize and
//! a quantize (leaky relu written as relu, mul and add; hard-sigmoid;
//! clamps; hard-swish as `dq(x) · dq(add_int(x, 3))` with the clip in the
//! add's range, as paddle2onnx exports it). An island that meets a second
//! 8-bit value which is itself an elementwise function of the first grows
//! through it: SiLU in QDQ form,
//! `q(dq(x) · dq(q(sigmoid(dq(x)))))`, becomes one lookup of `x`.
//!
//! Only islands with at least one float op are replaced (a lone requantize
//! or clamp is already cheap); the ops of the island that other values
//! still use stay, and the others are removed.

use crate::{PassLog, PassOptions};
use qcc_ir::elementwise::{Binary, Unary};
use qcc_ir::{ElemType, Graph, Op, ScalarType, TensorData, TensorType, ValueId};
use std::collections::{HashMap, HashSet};

/// The most ops one island may hold (they are re-run on 256 codes).
const MAX_ISLAND: usize = 64;

pub fn run(graph: &mut Graph, _options: &PassOptions, log: &mut PassLog) {
    let mut replaced = 0u64;
    let mut order = graph.canonical_order();
    // Outputs first: the largest island of a chain is taken, and its inner
    // 8-bit values then have no users left.
    order.reverse();
    let mut done: HashSet<ValueId> = HashSet::new();
    for y in order {
        if done.contains(&y)
            || !graph.contains(y)
            || graph.users(y).is_empty() && !is_output(graph, y)
        {
            continue;
        }
        let Some(island) = island_of(graph, y) else {
            continue;
        };
        let Some(table) = table_of(graph, &island) else {
            continue;
        };
        let yt = graph.ty(y).clone();
        let st = yt.elem.storage();
        let tv = graph.add_const(
            TensorData::from_i64s(st, &table).expect("the interpreter kept the range"),
            TensorType::new(vec![256], ElemType::Scalar(st)),
        );
        let lv = graph.add_node(Op::Lookup, &[island.x, tv], yt);
        let name = graph.node_mut(y).name.take();
        graph.node_mut(lv).name = name;
        graph.replace_all_uses(y, lv);
        done.extend(island.ops.iter().copied());
        replaced += 1;
    }
    graph.remove_dead();
    log.stat("elementwise islands replaced by a lookup table", replaced);
    let composed = compose_lookups(graph);
    log.stat("lookups of a lookup composed into one", composed);
}

/// `lookup(lookup(x, t1), t2)` becomes `lookup(x, t)` with `t[b] =
/// t2[byte(t1[b])]` where the inner lookup has no other user: islands stop
/// at every 8-bit value, so an activation quantized twice (hard-swish's
/// product, then its `/ 6`) leaves two tables in a row.
fn compose_lookups(graph: &mut Graph) -> u64 {
    let mut n = 0;
    for y in graph.canonical_order() {
        if !graph.contains(y) || !matches!(graph.node(y).op, Op::Lookup) {
            continue;
        }
        let (inner, t2v) = (graph.args(y)[0], graph.args(y)[1]);
        if !matches!(graph.node(inner).op, Op::Lookup)
            || graph.users(inner).len() != 1
            || is_output(graph, inner)
        {
            continue;
        }
        let (x, t1v) = (graph.args(inner)[0], graph.args(inner)[1]);
        let table = |v: ValueId| -> Option<Vec<i64>> {
            let t = graph.node(v).op.as_const()?.data.to_i64s()?;
            (t.len() == 256).then_some(t)
        };
        let (Some(t1), Some(t2)) = (table(t1v), table(t2v)) else {
            continue;
        };
        let t: Vec<i64> = t1.iter().map(|&v| t2[(v as u8) as usize]).collect();
        let tt = graph.ty(t2v).clone();
        let st = tt.elem.storage();
        let tv = graph.add_const(
            TensorData::from_i64s(st, &t).expect("entries of the outer table"),
            tt,
        );
        let yt = graph.ty(y).clone();
        let lv = graph.add_node(Op::Lookup, &[x, tv], yt);
        let name = graph.node_mut(y).name.take();
        graph.node_mut(lv).name = name;
        graph.replace_all_uses(y, lv);
        n += 1;
    }
    graph.remove_dead();
    n
}

fn is_output(graph: &Graph, v: ValueId) -> bool {
    graph.outputs().iter().any(|o| o.value == v)
}

/// One island: its single non-constant leaf `x`, its ops in an order where
/// operands come first (`y` last), and the scalar constants they read.
struct Island {
    x: ValueId,
    ops: Vec<ValueId>,
    consts: Vec<ValueId>,
}

/// 8-bit storage, per tensor (or plain).
fn is_byte(t: &TensorType) -> bool {
    matches!(t.elem.storage(), ScalarType::U8 | ScalarType::I8)
        && t.elem.as_quant().is_none_or(|q| q.axis.is_none())
}

/// A constant that broadcasts as one value: a single element.
fn is_scalar_const(graph: &Graph, v: ValueId) -> bool {
    graph.node(v).op.is_const() && graph.ty(v).num_elements() == Some(1)
}

fn island_of(graph: &Graph, y: ValueId) -> Option<Island> {
    let yt = graph.ty(y);
    if !is_byte(yt) || matches!(graph.node(y).op, Op::Input(_) | Op::Const(_) | Op::Lookup) {
        return None;
    }
    // An island first stops at every 8-bit value below `y`. When it meets
    // two, and one is an elementwise function of the other (SiLU as
    // `x · sigmoid(x)`, whose sigmoid an earlier island or the exporter has
    // already quantized), the island grows through the outer one and tries
    // again: at most a few times, one 8-bit value more each time.
    let mut through: HashSet<ValueId> = HashSet::new();
    for _ in 0..8 {
        let mut walk = Walk {
            graph,
            shape: &yt.shape,
            through: &through,
            ops: Vec::new(),
            consts: Vec::new(),
            leaf: None,
            seen: HashSet::new(),
            float: false,
        };
        match walk.visit(y, true) {
            Ok(()) => {
                let x = walk.leaf?;
                return (walk.float && walk.ops.len() >= 2).then_some(Island {
                    x,
                    ops: walk.ops,
                    consts: walk.consts,
                });
            }
            Err(Stop::Two(a, b)) => {
                let outer = if reaches(graph, b, a, &yt.shape) {
                    b
                } else if reaches(graph, a, b, &yt.shape) {
                    a
                } else {
                    return None;
                };
                through.insert(outer);
            }
            Err(Stop::No) => return None,
        }
    }
    None
}

/// Why a walk stopped: two different 8-bit leaves, or anything else.
enum Stop {
    Two(ValueId, ValueId),
    No,
}

/// One depth-first walk of an island (operands before users).
struct Walk<'a> {
    graph: &'a Graph,
    shape: &'a [usize],
    /// 8-bit values the island passes through instead of stopping at.
    through: &'a HashSet<ValueId>,
    ops: Vec<ValueId>,
    consts: Vec<ValueId>,
    leaf: Option<ValueId>,
    seen: HashSet<ValueId>,
    float: bool,
}

/// The ops an island may hold: one result element from the same element of
/// each operand (a lookup's table, its second operand, is a constant).
fn is_elementwise(op: &Op) -> bool {
    matches!(
        op,
        Op::Dequantize
            | Op::Quantize
            | Op::Requantize { .. }
            | Op::Clamp { .. }
            | Op::ClampInt { .. }
            | Op::AddInt { .. }
            | Op::Lookup
    ) || Unary::of(op).is_some()
        || Binary::of(op).is_some()
}

impl Walk<'_> {
    fn visit(&mut self, v: ValueId, root: bool) -> Result<(), Stop> {
        if self.seen.contains(&v) {
            return Ok(());
        }
        let graph = self.graph;
        let node = graph.node(v);
        let t = graph.ty(v);
        if is_scalar_const(graph, v) && !root {
            self.seen.insert(v);
            self.consts.push(v);
            return Ok(());
        }
        // The leaf: the first 8-bit value below the root (the island stops
        // there; an island of its own may start at it).
        if !root && is_byte(t) && !self.through.contains(&v) {
            if t.shape != self.shape {
                return Err(Stop::No);
            }
            if let Some(x) = self.leaf.filter(|&x| x != v) {
                return Err(Stop::Two(x, v));
            }
            self.leaf = Some(v);
            self.seen.insert(v);
            return Ok(());
        }
        if !is_elementwise(&node.op) || t.shape != self.shape {
            return Err(Stop::No);
        }
        if t.elem.as_quant().is_some_and(|q| q.axis.is_some()) {
            return Err(Stop::No);
        }
        if t.elem == ElemType::F32 {
            self.float = true;
        }
        let args = graph.args(v);
        if matches!(node.op, Op::Lookup) {
            // The table: a constant of 256 entries, copied as it is.
            if !graph.node(args[1]).op.is_const() {
                return Err(Stop::No);
            }
            self.visit(args[0], false)?;
            if self.seen.insert(args[1]) {
                self.consts.push(args[1]);
            }
        } else {
            for a in args {
                self.visit(a, false)?;
            }
        }
        self.seen.insert(v);
        self.ops.push(v);
        if self.ops.len() > MAX_ISLAND {
            return Err(Stop::No);
        }
        Ok(())
    }
}

/// Whether `from` is an elementwise function of `to`: every path down from
/// `from` through ops an island may hold reaches `to` or a constant.
fn reaches(graph: &Graph, from: ValueId, to: ValueId, shape: &[usize]) -> bool {
    let mut stack = vec![from];
    let mut seen: HashSet<ValueId> = HashSet::new();
    let mut budget = MAX_ISLAND;
    while let Some(v) = stack.pop() {
        if v == to || !seen.insert(v) {
            continue;
        }
        let node = graph.node(v);
        if node.op.is_const() && (v != from) {
            continue;
        }
        if budget == 0 || !is_elementwise(&node.op) || graph.ty(v).shape != shape {
            return false;
        }
        budget -= 1;
        stack.extend(graph.args(v));
    }
    true
}

/// The island's 256 results: the interpreter on a copy of the island over
/// every code of `x` ([`qcc_ir::interp::byte_tables`]).
fn table_of(graph: &Graph, island: &Island) -> Option<Vec<i64>> {
    qcc_ir::interp::byte_tables(&graph.ty(island.x).elem, 1, |g, x, shape| {
        let mut map: HashMap<ValueId, ValueId> = HashMap::new();
        map.insert(island.x, x);
        for &c in &island.consts {
            let data = graph.node(c).op.as_const()?.data.clone();
            map.insert(c, g.add_const(data, graph.ty(c).clone()));
        }
        for &v in &island.ops {
            let node = graph.node(v);
            let args: Vec<ValueId> = graph.args(v).iter().map(|a| map[a]).collect();
            let ty = TensorType::new(shape.to_vec(), node.ty.elem.clone());
            map.insert(v, g.add_node(node.op.clone(), &args, ty));
        }
        island.ops.last().map(|y| map[y])
    })
}
