//! `run_traced`: every live value, in canonical order.

use super::*;

#[test]
fn run_traced_returns_every_live_value_in_canonical_order() {
    // y = relu(x) + x; a dead relu(x) + 1 branch is not computed.
    let mut g = Graph::new("g");
    let x = g.add_input("x", f32ty(&[3]));
    let r = g.add_node(Op::Relu, &[x], f32ty(&[3]));
    let y = g.add_node(Op::Add, &[r, x], f32ty(&[3]));
    let _dead = g.add_node(Op::Relu, &[y], f32ty(&[3]));
    g.add_output("y", y);
    let xs = Tensor::f32(vec![3], vec![-1.0, 2.0, -3.0]);
    let trace = run_traced(&g, &[xs.clone()]).unwrap();
    let ids: Vec<ValueId> = trace.iter().map(|(v, _)| *v).collect();
    assert_eq!(ids, vec![x, r, y]);
    assert_eq!(trace[0].1, xs);
    // relu(x) = [0, 2, 0]; + x = [-1, 4, -3]
    assert_eq!(trace[1].1, Tensor::f32(vec![3], vec![0.0, 2.0, 0.0]));
    assert_eq!(trace[2].1, Tensor::f32(vec![3], vec![-1.0, 4.0, -3.0]));
    // inputs are checked as `run` checks them
    assert!(run_traced(&g, &[]).is_err());
}
