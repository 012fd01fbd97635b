//! `cse`: common-subexpression elimination. Two ops are the same value when
//! they have the same op (attributes and constant data included), the same
//! result type and the same operands; all uses of the later one are moved to
//! the first (in canonical order), which keeps its name. Walking in
//! canonical order makes operands canonical before their users are looked up,
//! so one walk merges whole duplicated chains.

use crate::{PassLog, PassOptions};
use qcc_ir::{Graph, Op, TensorType, ValueId};
use std::collections::HashMap;

pub fn run(graph: &mut Graph, _options: &PassOptions, log: &mut PassLog) {
    let mut seen: HashMap<(Op, TensorType, Vec<ValueId>), ValueId> = HashMap::new();
    let mut merged = 0u64;
    for v in graph.canonical_order() {
        let node = graph.node(v);
        if matches!(node.op, Op::Input(_)) {
            continue;
        }
        let key = (node.op.clone(), node.ty.clone(), graph.args(v));
        match seen.get(&key) {
            Some(&first) => {
                graph.replace_all_uses(v, first);
                merged += 1;
            }
            None => {
                seen.insert(key, v);
            }
        }
    }
    // Dead ops are removed too (merged ops, and any that were dead before).
    graph.remove_dead();
    log.stat("ops merged", merged);
}

#[cfg(test)]
mod tests {
    use super::*;
    use qcc_ir::TensorData;

    #[test]
    fn merges_duplicate_chains_and_constants() {
        let mut g = Graph::new("g");
        let t = TensorType::f32(vec![2]);
        let x = g.add_input("x", t.clone());
        let c1 = g.add_const(TensorData::F32(vec![1.0, 2.0]), t.clone());
        let c2 = g.add_const(TensorData::F32(vec![1.0, 2.0]), t.clone());
        let a1 = g.add_node(Op::Add, &[x, c1], t.clone());
        let a2 = g.add_node(Op::Add, &[x, c2], t.clone());
        let r1 = g.add_node(Op::Relu, &[a1], t.clone());
        let r2 = g.add_node(Op::Relu, &[a2], t.clone());
        let m = g.add_node(Op::Mul, &[r1, r2], t.clone());
        // Different operand order: not merged (no commutativity).
        let m2 = g.add_node(Op::Add, &[r2, r1], t.clone());
        g.add_output("y", m);
        g.add_output("z", m2);
        let mut log = PassLog::default();
        run(&mut g, &PassOptions::default(), &mut log);
        assert_eq!(log.stats, vec![("ops merged".to_string(), 3)]);
        // x, c, add, relu, mul, add
        assert_eq!(g.node_count(), 6);
        let args = g.args(g.outputs()[0].value);
        assert_eq!(args[0], args[1]);
    }

    #[test]
    fn different_types_or_data_are_not_merged() {
        let mut g = Graph::new("g");
        let t = TensorType::f32(vec![2]);
        let c1 = g.add_const(TensorData::F32(vec![1.0, 2.0]), t.clone());
        let c2 = g.add_const(TensorData::F32(vec![1.0, -0.0]), t.clone());
        let c3 = g.add_const(TensorData::F32(vec![1.0, 0.0]), t.clone());
        g.add_output("a", c1);
        g.add_output("b", c2);
        g.add_output("c", c3);
        let mut log = PassLog::default();
        run(&mut g, &PassOptions::default(), &mut log);
        assert_eq!(g.node_count(), 3, "-0.0 and 0.0 differ bit for bit");
    }
}
