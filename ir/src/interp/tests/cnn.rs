//! A small quantized CNN end to end, and its float (QDQ) twin: it runs,
//! quickly, deterministically, and the two agree closely.

use super::*;
use crate::op::{Conv2dAttrs, F32Attr, Pool2dAttrs, RequantMode};
use ScalarType::{I8, I32, U8};
use std::time::{Duration, Instant};

/// Deterministic pseudo-random codes in `lo..=hi` (a linear congruential
/// generator; the values only need to be varied).
fn codes(n: usize, lo: i64, hi: i64, seed: u64) -> Vec<i64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            lo + ((s >> 33) as i64).rem_euclid(hi - lo + 1)
        })
        .collect()
}

struct Layer {
    /// The weights' per-output-channel scales.
    sw: Vec<f32>,
    w: ValueId,
    b: ValueId,
}

/// Adds per-axis i8 weights `[o, c, 3, 3]` and an i32 bias whose scales
/// are `sx · sw[o]`.
fn layer(g: &mut Graph, o: usize, c: usize, sx: f32, seed: u64) -> Layer {
    let sw: Vec<f32> = (0..o).map(|i| 0.002 + 0.0004 * i as f32).collect();
    let w_ty = ty(&[o, c, 3, 3], qaxis(I8, 0, &sw, &vec![0; o]));
    let w_data = TensorData::from_i64s(I8, &codes(o * c * 9, -127, 127, seed)).unwrap();
    let w = g.add_const(w_data, w_ty);
    let sb: Vec<f32> = sw.iter().map(|s| sx * s).collect();
    let b_ty = ty(&[o], qaxis(I32, 0, &sb, &vec![0; o]));
    let b = g.add_const(
        TensorData::from_i64s(I32, &codes(o, -500, 500, seed + 1)).unwrap(),
        b_ty,
    );
    Layer { sw, w, b }
}

/// conv2d_int (pad 1, the given groups) then requantize to u8 scale `sy`.
fn conv_block(g: &mut Graph, x: ValueId, l: &Layer, sx: f32, groups: usize, sy: f32) -> ValueId {
    let xs = g.ty(x).shape.clone();
    let o = l.sw.len();
    let acc_scales: Vec<f32> = l.sw.iter().map(|s| sx * s).collect();
    let acc_ty = ty(
        &[xs[0], o, xs[2], xs[3]],
        qaxis(I32, 1, &acc_scales, &vec![0; o]),
    );
    let attrs = Conv2dAttrs {
        pads: [1, 1, 1, 1],
        groups,
        ..Conv2dAttrs::default()
    };
    let acc = g.add_node(
        Op::Conv2dInt(attrs, crate::op::IntAttrs::default()),
        &[x, l.w, l.b],
        acc_ty,
    );
    g.add_node(
        Op::Requantize {
            mode: RequantMode::DoubleRound,
        },
        &[acc],
        ty(&[xs[0], o, xs[2], xs[3]], qt(U8, sy, 0)),
    )
}

/// The float twin of `conv_block`: dequantize the weights and bias, conv2d,
/// then clamp to the range of the u8 activations (zero point 0, scale `sy`).
fn float_conv_block(g: &mut Graph, x: ValueId, l: &Layer, groups: usize, sy: f32) -> ValueId {
    let xs = g.ty(x).shape.clone();
    let o = l.sw.len();
    let wd = g.add_node(Op::Dequantize, &[l.w], f32ty(&g.ty(l.w).shape.clone()));
    let bd = g.add_node(Op::Dequantize, &[l.b], f32ty(&[o]));
    let attrs = Conv2dAttrs {
        pads: [1, 1, 1, 1],
        groups,
        ..Conv2dAttrs::default()
    };
    let y = g.add_node(
        Op::Conv2d(attrs),
        &[x, wd, bd],
        f32ty(&[xs[0], o, xs[2], xs[3]]),
    );
    let clamp = Op::Clamp {
        min: F32Attr(0.0),
        max: F32Attr(255.0 * sy),
    };
    g.add_node(clamp, &[y], f32ty(&[xs[0], o, xs[2], xs[3]]))
}

fn cnn() -> Graph {
    let mut g = Graph::new("cnn");
    let x = g.add_input("x", f32ty(&[1, 1, 8, 8]));
    let (s0, s1, s2, s3) = (0.02f32, 0.05f32, 0.1f32, 0.1f32);
    let xq = g.add_node(Op::Quantize, &[x], ty(&[1, 1, 8, 8], qt(U8, s0, 128)));
    let l1 = layer(&mut g, 16, 1, s0, 1);
    let l2 = layer(&mut g, 16, 16, s1, 2);
    let l3 = layer(&mut g, 16, 1, s2, 3);
    // Quantized path.
    let h1 = conv_block(&mut g, xq, &l1, s0, 1, s1);
    let h2 = conv_block(&mut g, h1, &l2, s1, 1, s2);
    let h3 = conv_block(&mut g, h2, &l3, s2, 16, s3);
    let p = g.add_node(
        Op::MaxPool2d(Pool2dAttrs {
            strides: [2, 2],
            ..Pool2dAttrs::new([2, 2])
        }),
        &[h3],
        ty(&[1, 16, 4, 4], qt(U8, s3, 0)),
    );
    let gap = g.add_node(
        Op::GlobalAvgPool {
            mode: RequantMode::SingleRound,
        },
        &[p],
        ty(&[1, 16, 1, 1], qt(U8, s3, 0)),
    );
    let flat = g.add_node(Op::Flatten { axis: 1 }, &[gap], ty(&[1, 16], qt(U8, s3, 0)));
    let fc_w = g.add_const(
        TensorData::from_i64s(I8, &codes(160, -127, 127, 9)).unwrap(),
        ty(&[16, 10], qt(I8, 0.01, 0)),
    );
    let logits_q = g.add_node(
        Op::MatMulInt(crate::op::IntAttrs::default()),
        &[flat, fc_w],
        ty(&[1, 10], qt(I32, s3 * 0.01, 0)),
    );
    let logits = g.add_node(Op::Dequantize, &[logits_q], f32ty(&[1, 10]));
    let probs = g.add_node(Op::Softmax { axis: 1 }, &[logits], f32ty(&[1, 10]));
    g.add_output("probs", probs);
    g.add_output("logits", logits);
    // Float twin from the same (dequantized) input and weights.
    let xd = g.add_node(Op::Dequantize, &[xq], f32ty(&[1, 1, 8, 8]));
    let f1 = float_conv_block(&mut g, xd, &l1, 1, s1);
    let f2 = float_conv_block(&mut g, f1, &l2, 1, s2);
    let f3 = float_conv_block(&mut g, f2, &l3, 16, s3);
    let fp = g.add_node(
        Op::MaxPool2d(Pool2dAttrs {
            strides: [2, 2],
            ..Pool2dAttrs::new([2, 2])
        }),
        &[f3],
        f32ty(&[1, 16, 4, 4]),
    );
    let fgap = g.add_node(
        Op::GlobalAvgPool {
            mode: RequantMode::Float,
        },
        &[fp],
        f32ty(&[1, 16, 1, 1]),
    );
    let fflat = g.add_node(Op::Flatten { axis: 1 }, &[fgap], f32ty(&[1, 16]));
    let fc_wd = g.add_node(Op::Dequantize, &[fc_w], f32ty(&[16, 10]));
    let flogits = g.add_node(Op::MatMul, &[fflat, fc_wd], f32ty(&[1, 10]));
    g.add_output("float_logits", flogits);
    g
}

#[test]
fn small_cnn_runs_quickly_and_agrees_with_its_float_twin() {
    let g = cnn();
    let x: Vec<f32> = codes(64, -100, 100, 42)
        .iter()
        .map(|&c| c as f32 / 40.0)
        .collect();
    let input = Tensor::f32(vec![1, 1, 8, 8], x);
    let start = Instant::now();
    let out = run(&g, std::slice::from_ref(&input)).unwrap();
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");

    let probs = floats(&out[0]);
    assert_eq!(probs.len(), 10);
    assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{probs:?}");
    // The quantized logits are near the float ones (a few quantization
    // steps of the activations, through three layers).
    let (q, f) = (floats(&out[1]), floats(&out[2]));
    let spread = f.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(spread > 0.0, "degenerate network: {f:?}");
    eprintln!("quantized logits {q:?}\nfloat logits     {f:?}\n({elapsed:?})");
    for (a, b) in q.iter().zip(&f) {
        assert!(
            (a - b).abs() <= 0.1 * spread + 0.05,
            "quantized {q:?} vs float {f:?}"
        );
    }
    // Deterministic.
    assert_eq!(run(&g, &[input]).unwrap(), out);
}
