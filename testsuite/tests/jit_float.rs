//! JIT vs interpreter on the float elementwise ops (`qcc_ir::elementwise`):
//! every unary op on values that hit the edges (NaN, ±0, ±inf, subnormals,
//! ties of `round`, the kinks of `hard_sigmoid`), every binary op with the
//! broadcast forms exporters write (a row, a column, a scalar, both sides),
//! bit for bit on every dot path of the host.

mod jit_common;

use jit_common::{Rng, assert_same, compile_forced};
use qcc_ir::op::{F32Attr, Op};
use qcc_ir::types::{ElemType, TensorType};
use qcc_ir::{Graph, Tensor};

fn f32t(shape: &[usize]) -> TensorType {
    TensorType::new(shape.to_vec(), ElemType::F32)
}

/// Edge values first, then random values in [−12, 12] and a few wide ones.
fn values(n: usize, rng: &mut Rng) -> Vec<f32> {
    let edges = [
        f32::NAN,
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        1e-40,
        -1e-40,
        0.5,
        -0.5,
        1.5,
        2.5,
        -2.5,
        3.0,
        -3.0,
        1.0,
        -1.0,
        88.8,
        -104.0,
        f32::MAX,
        f32::MIN_POSITIVE,
    ];
    (0..n)
        .map(|i| {
            if i < edges.len() {
                edges[i]
            } else if i % 7 == 0 {
                (rng.range(-1000, 1000) as f32) * 0.37
            } else {
                (rng.range(-12_000, 12_000) as f32) / 1000.0
            }
        })
        .collect()
}

fn check(g: &Graph, inputs: &[Tensor], what: &str) {
    qcc_ir::verify::verify(g).unwrap_or_else(|d| panic!("{what}: {}", d[0].message));
    let want = qcc_ir::interp::run(g, inputs).unwrap_or_else(|e| panic!("{what}: {e}"));
    for p in qcc_compiler::model::supported_paths() {
        let got = compile_forced(g, p).run(inputs).unwrap();
        assert_same(&want, &got, &format!("{what} path {p}"));
    }
}

fn unary_ops() -> Vec<Op> {
    vec![
        Op::Relu,
        Op::Neg,
        Op::Abs,
        Op::Sqrt,
        Op::Reciprocal,
        Op::Exp,
        Op::Log,
        Op::Floor,
        Op::Ceil,
        Op::Round,
        Op::Erf,
        Op::Tanh,
        Op::Sigmoid,
        Op::HardSigmoid {
            alpha: F32Attr(0.2),
            beta: F32Attr(0.5),
        },
        Op::HardSigmoid {
            alpha: F32Attr(-1.0 / 3.0),
            beta: F32Attr(0.25),
        },
        Op::HardSwish,
        Op::LeakyRelu {
            alpha: F32Attr(0.01),
        },
        Op::LeakyRelu {
            alpha: F32Attr(-2.5),
        },
        Op::Gelu,
    ]
}

#[test]
fn unary_ops_match_the_interpreter() {
    let mut rng = Rng(0xf10a7);
    for op in unary_ops() {
        for shape in [&[3, 37][..], &[1], &[2, 1, 70]] {
            let mut g = Graph::new("unary");
            let x = g.add_input("x", f32t(shape));
            let y = g.add_node(op.clone(), &[x], f32t(shape));
            g.add_output("y", y);
            let n = shape.iter().product();
            let input = Tensor::f32(shape.to_vec(), values(n, &mut rng));
            check(&g, &[input], &format!("{} {shape:?}", op.name()));
        }
    }
}

#[test]
fn binary_ops_broadcast_like_the_interpreter() {
    let mut rng = Rng(0xb1a4);
    let shapes: [(&[usize], &[usize]); 7] = [
        (&[3, 37], &[3, 37]),
        (&[3, 37], &[37]),
        (&[2, 3, 5], &[3, 1]),
        (&[4, 1], &[1, 6]),
        (&[5], &[]),
        (&[], &[2, 9]),
        (&[1, 1], &[1]),
    ];
    for op in [
        Op::Add,
        Op::Mul,
        Op::Sub,
        Op::Div,
        Op::Pow,
        Op::Max,
        Op::Min,
    ] {
        for (sa, sb) in shapes {
            let out = qcc_ir::verify::broadcast_shapes(sa, sb).unwrap();
            let mut g = Graph::new("binary");
            let a = g.add_input("a", f32t(sa));
            let b = g.add_input("b", f32t(sb));
            let y = g.add_node(op.clone(), &[a, b], f32t(&out));
            g.add_output("y", y);
            let ta = Tensor::f32(sa.to_vec(), values(sa.iter().product(), &mut rng));
            let mut vb = values(sb.iter().product(), &mut rng);
            vb.reverse();
            let tb = Tensor::f32(sb.to_vec(), vb);
            check(&g, &[ta, tb], &format!("{} {sa:?} {sb:?}", op.name()));
        }
    }
}

/// The checks can fail: a graph whose compiled code differs from the
/// interpreter's answer is caught (here, by comparing two different ops).
#[test]
fn a_difference_is_caught() {
    let mut g = Graph::new("u");
    let x = g.add_input("x", f32t(&[4]));
    let y = g.add_node(Op::Exp, &[x], f32t(&[4]));
    g.add_output("y", y);
    let mut h = Graph::new("u");
    let x = h.add_input("x", f32t(&[4]));
    let y = h.add_node(Op::Tanh, &[x], f32t(&[4]));
    h.add_output("y", y);
    let input = [Tensor::f32(vec![4], vec![0.5, 1.0, 2.0, 3.0])];
    let want = qcc_ir::interp::run(&g, &input).unwrap();
    let got = compile_forced(&h, qcc_compiler::model::supported_paths()[0])
        .run(&input)
        .unwrap();
    let r = std::panic::catch_unwind(|| assert_same(&want, &got, "exp vs tanh"));
    assert!(r.is_err());
}
