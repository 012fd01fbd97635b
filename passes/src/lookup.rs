//! `fold-lookup`: an elementwise computation of one 8-bit tensor becomes a
//! table lookup.
//!
//! A value `y` with 8-bit storage (u8 or i8) that depends on exactly one
//! non-constant value `x`, itself 8-bit, through elementwise ops only
//! (`dequantize`, `quantize`, `requantize`, `clamp`, `clamp_int`, the float
//! unary functions of `qcc_ir::elementwise` (relu, sigmoid, tanh, ...), and
//! its binary ones whose other operands are scalar constants or the same
//! computation of `x`) is a function of each code of `x`: there are at most
//! 256 of them. The pass computes that function once, with the reference
//! interpreter on a graph of the same ops applied to every code, and
//! replaces `y` with `lookup x, table`. Exact by construction: the table
//! holds what the interpreter computes. Typical catch: the float islands
//! that activations without an integer form leave between a dequantize and
//! a quantize (leaky relu written as relu, mul and add; hard-sigmoid;
//! clamps).
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
    let shape = yt.shape.clone();
    let mut ops: Vec<ValueId> = Vec::new();
    let mut consts: Vec<ValueId> = Vec::new();
    let mut leaf: Option<ValueId> = None;
    let mut seen: HashSet<ValueId> = HashSet::new();
    let mut float = false;
    // Depth-first, operands before users.
    fn visit(
        graph: &Graph,
        v: ValueId,
        shape: &[usize],
        root: bool,
        st: &mut (
            &mut Vec<ValueId>,
            &mut Vec<ValueId>,
            &mut Option<ValueId>,
            &mut HashSet<ValueId>,
            &mut bool,
        ),
    ) -> Option<()> {
        if st.3.contains(&v) {
            return Some(());
        }
        let node = graph.node(v);
        let t = graph.ty(v);
        if is_scalar_const(graph, v) && !root {
            st.3.insert(v);
            st.1.push(v);
            return Some(());
        }
        let elementwise = matches!(
            node.op,
            Op::Dequantize
                | Op::Quantize
                | Op::Requantize { .. }
                | Op::Clamp { .. }
                | Op::ClampInt { .. }
        ) || Unary::of(&node.op).is_some()
            || Binary::of(&node.op).is_some();
        // The leaf: the first 8-bit value below the root (the island stops
        // there; an island of its own may start at it).
        if !root && is_byte(t) {
            if t.shape != shape || st.2.is_some_and(|x| x != v) {
                return None;
            }
            *st.2 = Some(v);
            st.3.insert(v);
            return Some(());
        }
        if !elementwise || t.shape != shape {
            return None;
        }
        if t.elem.as_quant().is_some_and(|q| q.axis.is_some()) {
            return None;
        }
        if t.elem == ElemType::F32 {
            *st.4 = true;
        }
        for a in graph.args(v) {
            visit(graph, a, shape, false, st)?;
        }
        st.3.insert(v);
        st.0.push(v);
        if st.0.len() > MAX_ISLAND {
            return None;
        }
        Some(())
    }
    visit(
        graph,
        y,
        &shape,
        true,
        &mut (&mut ops, &mut consts, &mut leaf, &mut seen, &mut float),
    )?;
    let x = leaf?;
    (float && ops.len() >= 2).then_some(Island { x, ops, consts })
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
