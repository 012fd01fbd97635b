//! `dce`: removes every op that no output depends on. Inputs stay (they are
//! the graph's signature).

use crate::{PassLog, PassOptions};
use qcc_ir::Graph;

pub fn run(graph: &mut Graph, _options: &PassOptions, log: &mut PassLog) {
    let removed = graph.remove_dead();
    log.stat("ops removed", removed as u64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use qcc_ir::{Op, TensorType};

    #[test]
    fn removes_only_dead_ops() {
        let mut g = Graph::new("g");
        let x = g.add_input("x", TensorType::f32(vec![2]));
        let live = g.add_node(Op::Relu, &[x], TensorType::f32(vec![2]));
        let dead = g.add_node(Op::Relu, &[live], TensorType::f32(vec![2]));
        let _dead2 = g.add_node(Op::Relu, &[dead], TensorType::f32(vec![2]));
        g.add_output("y", live);
        let mut log = PassLog::default();
        run(&mut g, &PassOptions::default(), &mut log);
        assert_eq!(g.node_count(), 2);
        assert_eq!(log.stats, vec![("ops removed".to_string(), 2)]);
    }
}
