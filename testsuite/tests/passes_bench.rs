//! Compile time of the whole pipeline on CNN-shaped QDQ graphs of 10, 25
//! and 50 layers (conv2d 3x3 + relu + quantize/dequantize per layer, 8
//! channels on 8x8). Ignored by default; run with
//! `cargo test -p qcc-testsuite --test passes_bench -- --ignored --nocapture`.

use qcc_ir::op::Conv2dAttrs;
use qcc_ir::{ElemType, Graph, Op, QuantType, ScalarType, TensorData, TensorType};
use std::time::Instant;

/// A QDQ CNN of `layers` conv + relu layers.
pub fn cnn(layers: usize) -> Graph {
    let c = 8;
    let act = |s: f32, z: i64| ElemType::quant(QuantType::per_tensor(ScalarType::U8, s, z));
    let t = |e: &ElemType| TensorType::new(vec![1, c, 8, 8], e.clone());
    let f = TensorType::f32(vec![1, c, 8, 8]);
    let mut g = Graph::new("cnn");
    let x = g.add_input("x", f.clone());
    let a0 = act(0.02, 128);
    let mut cur = g.add_node(Op::Quantize, &[x], t(&a0));
    let mut cur_ty = a0;
    for l in 0..layers {
        let xd = g.add_node(Op::Dequantize, &[cur], f.clone());
        let wq = ElemType::quant(QuantType::per_axis(
            ScalarType::I8,
            0,
            vec![0.01; c],
            vec![0; c],
        ));
        let vals: Vec<i64> = (0..c * c * 9)
            .map(|i| ((i * 37 + l * 11) % 255) as i64 - 127)
            .collect();
        let w = g.add_const(
            TensorData::from_i64s(ScalarType::I8, &vals).unwrap(),
            TensorType::new(vec![c, c, 3, 3], wq),
        );
        let wd = g.add_node(Op::Dequantize, &[w], TensorType::f32(vec![c, c, 3, 3]));
        let conv = Op::Conv2d(Conv2dAttrs {
            pads: [1, 1, 1, 1],
            ..Conv2dAttrs::default()
        });
        let y = g.add_node(conv, &[xd, wd], f.clone());
        let a1 = act(0.5, 120);
        let yq = g.add_node(Op::Quantize, &[y], t(&a1));
        let yd = g.add_node(Op::Dequantize, &[yq], f.clone());
        let r = g.add_node(Op::Relu, &[yd], f.clone());
        let a2 = act(0.25, 0);
        cur = g.add_node(Op::Quantize, &[r], t(&a2));
        cur_ty = a2;
    }
    let _ = cur_ty;
    let out = g.add_node(Op::Dequantize, &[cur], f);
    g.add_output("y", out);
    g
}

#[test]
#[ignore]
fn pipeline_time_grows_linearly() {
    let mut rows = Vec::new();
    for layers in [10, 25, 50] {
        let g = cnn(layers);
        qcc_ir::verify::verify(&g).unwrap();
        let options = qcc_compiler::CompileOptions::default();
        let mut best = f64::MAX;
        for _ in 0..3 {
            let start = Instant::now();
            let out = qcc_compiler::compile(g.clone(), &options).unwrap();
            best = best.min(start.elapsed().as_secs_f64());
            assert!(
                out.node_ids()
                    .all(|v| !matches!(out.node(v).op, Op::Conv2d(_) | Op::Relu))
            );
        }
        rows.push((layers, g.node_count(), best));
    }
    for (l, n, t) in &rows {
        println!(
            "{l:>3} layers, {n:>4} nodes: {:>8.2} ms, {:.3} ms/layer",
            t * 1e3,
            t * 1e3 / *l as f64
        );
    }
    let per_layer: Vec<f64> = rows.iter().map(|(l, _, t)| t / *l as f64).collect();
    assert!(
        per_layer[2] < per_layer[0] * 3.0,
        "time per layer grows: {per_layer:?}"
    );
}
