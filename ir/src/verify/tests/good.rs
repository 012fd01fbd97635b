//! Good graphs of every op: each verifies cleanly. They double as examples of
//! correct typing.

use super::*;
use crate::op::{Conv2dAttrs, F32Attr, Pool2dAttrs, RequantMode};

#[test]
fn matmul() {
    assert_ok(&single(
        Op::MatMul,
        &[f32t(&[2, 3]), f32t(&[3, 5])],
        f32t(&[2, 5]),
    ));
    // Batched, with b shared ([K, N]) or batched like a.
    assert_ok(&single(
        Op::MatMul,
        &[f32t(&[4, 2, 3]), f32t(&[3, 5])],
        f32t(&[4, 2, 5]),
    ));
    assert_ok(&single(
        Op::MatMul,
        &[f32t(&[6, 4, 2, 3]), f32t(&[6, 4, 3, 5])],
        f32t(&[6, 4, 2, 5]),
    ));
}

#[test]
fn dense() {
    assert_ok(&single(
        Op::Dense,
        &[f32t(&[1, 4]), f32t(&[2, 4])],
        f32t(&[1, 2]),
    ));
    assert_ok(&single(
        Op::Dense,
        &[f32t(&[3, 4]), f32t(&[2, 4]), f32t(&[2])],
        f32t(&[3, 2]),
    ));
}

#[test]
fn conv2d() {
    let a = Conv2dAttrs {
        strides: [2, 2],
        pads: [1, 1, 1, 1],
        ..Conv2dAttrs::default()
    };
    assert_ok(&single(
        Op::Conv2d(a),
        &[f32t(&[1, 3, 8, 8]), f32t(&[4, 3, 3, 3]), f32t(&[4])],
        f32t(&[1, 4, 4, 4]),
    ));
    // Depthwise with a channel multiplier of 2, dilated, asymmetric pads.
    let dw = Conv2dAttrs {
        strides: [1, 2],
        pads: [2, 0, 2, 1],
        dilations: [2, 1],
        groups: 4,
    };
    // OH = (5 + 4 − 5) / 1 + 1 = 5; OW = (5 + 1 − 3) / 2 + 1 = 2.
    assert_ok(&single(
        Op::Conv2d(dw),
        &[f32t(&[2, 4, 5, 5]), f32t(&[8, 1, 3, 3])],
        f32t(&[2, 8, 5, 2]),
    ));
}

#[test]
fn add_and_mul_broadcast() {
    assert_ok(&single(
        Op::Add,
        &[f32t(&[2, 3]), f32t(&[3])],
        f32t(&[2, 3]),
    ));
    assert_ok(&single(
        Op::Mul,
        &[f32t(&[2, 1, 4]), f32t(&[3, 1])],
        f32t(&[2, 3, 4]),
    ));
    assert_ok(&single(Op::Add, &[f32t(&[]), f32t(&[2])], f32t(&[2])));
}

#[test]
fn relu_and_clamp() {
    assert_ok(&single(Op::Relu, &[f32t(&[4])], f32t(&[4])));
    let c = Op::Clamp {
        min: F32Attr(0.0),
        max: F32Attr(6.0),
    };
    assert_ok(&single(c, &[f32t(&[1, 4])], f32t(&[1, 4])));
}

#[test]
fn maxpool2d() {
    let a = Pool2dAttrs {
        strides: [2, 2],
        pads: [1, 1, 1, 1],
        ..Pool2dAttrs::new([3, 3])
    };
    assert_ok(&single(
        Op::MaxPool2d(a.clone()),
        &[f32t(&[1, 2, 5, 5])],
        f32t(&[1, 2, 3, 3]),
    ));
    let x = ty(&[1, 2, 5, 5], qt(U8, 0.1, 128));
    assert_ok(&single(
        Op::MaxPool2d(a.clone()),
        &[x.clone()],
        x.with_shape(vec![1, 2, 3, 3]),
    ));
    // Per axis on the channel axis compares codes of one channel at a time.
    let xa = ty(&[1, 2, 5, 5], qax(I8, 1, &[0.1, 0.2], &[0, 3]));
    assert_ok(&single(
        Op::MaxPool2d(a),
        &[xa.clone()],
        xa.with_shape(vec![1, 2, 3, 3]),
    ));
    let xi = int(&[1, 1, 4, 4], I16);
    assert_ok(&single(
        Op::MaxPool2d(Pool2dAttrs::new([2, 2])),
        &[xi],
        int(&[1, 1, 3, 3], I16),
    ));
}

#[test]
fn avgpool2d() {
    let a = Pool2dAttrs {
        strides: [2, 2],
        ..Pool2dAttrs::new([2, 2])
    };
    assert_ok(&single(
        Op::AvgPool2d(a.clone()),
        &[f32t(&[1, 2, 4, 4])],
        f32t(&[1, 2, 2, 2]),
    ));
    let q = Pool2dAttrs {
        count_include_pad: true,
        pads: [1, 1, 0, 0],
        mode: RequantMode::SingleRound,
        ..a
    };
    assert_ok(&single(
        Op::AvgPool2d(q),
        &[ty(&[1, 2, 4, 4], qt(U8, 0.1, 128))],
        ty(&[1, 2, 2, 2], qt(I8, 0.05, -3)),
    ));
}

#[test]
fn global_avgpool() {
    assert_ok(&single(
        Op::GlobalAvgPool {
            mode: RequantMode::Float,
        },
        &[f32t(&[1, 3, 7, 7])],
        f32t(&[1, 3, 1, 1]),
    ));
    assert_ok(&single(
        Op::GlobalAvgPool {
            mode: RequantMode::DoubleRound,
        },
        &[ty(&[2, 3, 7, 7], qt(U8, 0.1, 128))],
        ty(&[2, 3, 1, 1], qt(U8, 0.02, 0)),
    ));
}

#[test]
fn data_movement() {
    let q = ty(&[2, 3, 4], qt(U8, 0.5, 7));
    assert_ok(&single(Op::Reshape, &[q.clone()], q.with_shape(vec![6, 4])));
    assert_ok(&single(
        Op::Flatten { axis: 1 },
        &[q.clone()],
        q.with_shape(vec![2, 12]),
    ));
    assert_ok(&single(
        Op::Flatten { axis: 0 },
        &[q.clone()],
        q.with_shape(vec![1, 24]),
    ));
    assert_ok(&single(
        Op::Flatten { axis: 3 },
        &[q.clone()],
        q.with_shape(vec![24, 1]),
    ));
    assert_ok(&single(
        Op::Transpose {
            perm: vec![2, 0, 1],
        },
        &[q.clone()],
        q.with_shape(vec![4, 2, 3]),
    ));
    // A per-axis axis moves with its dimension.
    let w = ty(&[2, 3], qax(I8, 0, &[0.1, 0.2], &[0, 0]));
    assert_ok(&single(
        Op::Transpose { perm: vec![1, 0] },
        &[w],
        ty(&[3, 2], qax(I8, 1, &[0.1, 0.2], &[0, 0])),
    ));
    assert_ok(&single(
        Op::Concat { axis: 1 },
        &[q.clone(), q.with_shape(vec![2, 1, 4])],
        q.with_shape(vec![2, 4, 4]),
    ));
    assert_ok(&single(Op::Concat { axis: 0 }, &[f32t(&[3])], f32t(&[3])));
    assert_ok(&single(
        Op::Softmax { axis: 1 },
        &[f32t(&[2, 10])],
        f32t(&[2, 10]),
    ));
    // Scalars reshape too.
    assert_ok(&single(Op::Reshape, &[f32t(&[1, 1])], f32t(&[])));
}

#[test]
fn quantization() {
    assert_ok(&single(
        Op::Quantize,
        &[f32t(&[4])],
        ty(&[4], qt(U8, 0.02, 128)),
    ));
    let wa = qax(I8, 0, &[0.012, 0.0098], &[0, 0]);
    assert_ok(&single(
        Op::Quantize,
        &[f32t(&[2, 4])],
        ty(&[2, 4], wa.clone()),
    ));
    assert_ok(&single(
        Op::Dequantize,
        &[ty(&[2, 4], wa.clone())],
        f32t(&[2, 4]),
    ));
    let mut narrow = QuantType::per_tensor(I8, 0.5, 0);
    narrow.storage_min = -127;
    assert_ok(&single(
        Op::Dequantize,
        &[ty(&[3], ElemType::quant(narrow))],
        f32t(&[3]),
    ));
    for mode in RequantMode::ALL {
        // The i32 accumulator to u8.
        assert_ok(&single(
            Op::Requantize { mode },
            &[ty(&[1, 8], qt(I32, 2.0e-4, 0))],
            ty(&[1, 8], qt(U8, 0.05, 128)),
        ));
        // Per axis in, per tensor out.
        assert_ok(&single(
            Op::Requantize { mode },
            &[ty(&[2, 4], wa.clone())],
            ty(&[2, 4], qt(U8, 0.1, 128)),
        ));
        // Per tensor in, per axis out; both per axis on the same axis.
        assert_ok(&single(
            Op::Requantize { mode },
            &[ty(&[2, 4], qt(I8, 0.1, 0))],
            ty(&[2, 4], wa.clone()),
        ));
        assert_ok(&single(
            Op::Requantize { mode },
            &[ty(&[2, 4], wa.clone())],
            ty(&[2, 4], qax(I16, 0, &[0.001, 0.002], &[5, -5])),
        ));
    }
}

#[test]
fn matmul_int() {
    let x = ty(&[1, 16], qt(U8, 0.02, 128));
    let w = ty(&[16, 8], qt(I8, 0.01, 0));
    let acc = ty(&[1, 8], qt(I32, 0.02f32 * 0.01f32, 0));
    assert_ok(&single(
        Op::MatMulInt(crate::op::IntAttrs::default()),
        &[x.clone(), w.clone()],
        acc.clone(),
    ));
    // The result may always be plain i32.
    assert_ok(&single(
        Op::MatMulInt(crate::op::IntAttrs::default()),
        &[x.clone(), w.clone()],
        int(&[1, 8], I32),
    ));
    // A plain i32 bias or a quantized one with the accumulator's scale.
    assert_ok(&single(
        Op::MatMulInt(crate::op::IntAttrs::default()),
        &[x.clone(), w.clone(), int(&[8], I32)],
        acc.clone(),
    ));
    assert_ok(&single(
        Op::MatMulInt(crate::op::IntAttrs::default()),
        &[
            x.clone(),
            w.clone(),
            ty(&[8], qt(I32, 0.02f32 * 0.01f32, 0)),
        ],
        acc,
    ));
    // Per-axis weights: a per-axis result on the last dimension.
    let wa = ty(&[16, 2], qax(I8, 1, &[0.01, 0.03], &[0, 0]));
    let scales = [0.02f32 * 0.01f32, 0.02f32 * 0.03f32];
    assert_ok(&single(
        Op::MatMulInt(crate::op::IntAttrs::default()),
        &[
            ty(&[3, 5, 16], qt(U8, 0.02, 128)),
            wa.clone(),
            ty(&[2], qax(I32, 0, &scales, &[0, 0])),
        ],
        ty(&[3, 5, 2], qax(I32, 2, &scales, &[0, 0])),
    ));
    // Plain integers.
    assert_ok(&single(
        Op::MatMulInt(crate::op::IntAttrs::default()),
        &[int(&[2, 16], I8), int(&[16, 2], I4), int(&[2], I32)],
        int(&[2, 2], I32),
    ));
}

#[test]
fn conv2d_int() {
    let a = Conv2dAttrs {
        pads: [1, 1, 1, 1],
        ..Conv2dAttrs::default()
    };
    let x = ty(&[1, 3, 6, 6], qt(U8, 0.02, 128));
    let sw = [0.01f32, 0.02, 0.03, 0.04];
    let w = ty(&[4, 3, 3, 3], qax(I8, 0, &sw, &[0; 4]));
    let acc_scales: Vec<f32> = sw.iter().map(|s| 0.02f32 * s).collect();
    let bias = ty(&[4], qax(I32, 0, &acc_scales, &[0; 4]));
    assert_ok(&single(
        Op::Conv2dInt(a.clone(), crate::op::IntAttrs::default()),
        &[x.clone(), w.clone(), bias],
        ty(&[1, 4, 6, 6], qax(I32, 1, &acc_scales, &[0; 4])),
    ));
    assert_ok(&single(
        Op::Conv2dInt(a, crate::op::IntAttrs::default()),
        &[x, w, int(&[4], I32)],
        int(&[1, 4, 6, 6], I32),
    ));
    // Depthwise, per-tensor weights.
    let dw = Conv2dAttrs {
        groups: 2,
        ..Conv2dAttrs::default()
    };
    assert_ok(&single(
        Op::Conv2dInt(dw, crate::op::IntAttrs::default()),
        &[
            ty(&[1, 2, 3, 3], qt(I8, 0.5, -1)),
            ty(&[2, 1, 3, 3], qt(I8, 0.25, 0)),
        ],
        ty(&[1, 2, 1, 1], qt(I32, 0.125, 0)),
    ));
}

#[test]
fn add_int() {
    for mode in RequantMode::ALL {
        assert_ok(&single(
            Op::AddInt { mode, ort: false },
            &[ty(&[2, 3], qt(U8, 0.1, 128)), ty(&[3], qt(I8, 0.05, 0))],
            ty(&[2, 3], qt(U8, 0.2, 100)),
        ));
    }
}

#[test]
fn clamp_int() {
    let x = ty(&[4], qt(U8, 0.1, 128));
    assert_ok(&single(
        Op::ClampInt { min: 128, max: 255 },
        &[x.clone()],
        x,
    ));
    assert_ok(&single(
        Op::ClampInt { min: -3, max: -3 },
        &[int(&[2], I32)],
        int(&[2], I32),
    ));
}

#[test]
fn constants() {
    let mut g = Graph::new("c");
    let a = g.add_const(TensorData::F32(vec![0.5, f32::NAN]), f32t(&[2]));
    let b = g.add_const(ints(U8, &[0, 255]), ty(&[2], qt(U8, 0.1, 128)));
    let c = g.add_const(ints(U4, &[15, 0, 3]), int(&[3], U4));
    let d = g.add_const(ints(I32, &[i32::MIN as i64]), int(&[], I32));
    for (i, v) in [a, b, c, d].into_iter().enumerate() {
        g.add_output(format!("o{i}"), v);
    }
    assert_ok(&g);
}

/// A QDQ network rewritten to integers: quantize, conv2d_int with constant
/// per-axis weights and bias, requantize, maxpool, add_int with a skip
/// branch, dequantize, flatten, dense, softmax.
#[test]
fn integer_network() {
    let mut g = Graph::new("net");
    let act = qt(U8, 0.02, 128);
    let x = g.add_input("x", f32t(&[1, 2, 4, 4]));
    let xq = g.add_node(Op::Quantize, &[x], ty(&[1, 2, 4, 4], act.clone()));
    let sw = [0.01f32, 0.02, 0.005];
    let w = g.add_const(
        ints(
            I8,
            &(0..18).map(|i| (i * 7 % 255) - 127).collect::<Vec<_>>(),
        ),
        ty(&[3, 2, 1, 3], qax(I8, 0, &sw, &[0; 3])),
    );
    let acc: Vec<f32> = sw.iter().map(|s| 0.02f32 * s).collect();
    let b = g.add_const(
        ints(I32, &[100, -100, 7]),
        ty(&[3], qax(I32, 0, &acc, &[0; 3])),
    );
    let pads = Conv2dAttrs {
        pads: [0, 1, 0, 1],
        ..Conv2dAttrs::default()
    };
    let c = g.add_node(
        Op::Conv2dInt(pads, crate::op::IntAttrs::default()),
        &[xq, w, b],
        ty(&[1, 3, 4, 4], qax(I32, 1, &acc, &[0; 3])),
    );
    let r = g.add_node(
        Op::Requantize {
            mode: RequantMode::DoubleRound,
        },
        &[c],
        ty(&[1, 3, 4, 4], act.clone()),
    );
    let p = g.add_node(
        Op::MaxPool2d(Pool2dAttrs {
            strides: [2, 2],
            ..Pool2dAttrs::new([2, 2])
        }),
        &[r],
        ty(&[1, 3, 2, 2], act.clone()),
    );
    let skip = g.add_input("skip", ty(&[1, 3, 1, 1], qt(U8, 0.04, 120)));
    let s = g.add_node(
        Op::AddInt {
            mode: RequantMode::SingleRound,
            ort: false,
        },
        &[p, skip],
        ty(&[1, 3, 2, 2], act.clone()),
    );
    let d = g.add_node(Op::Dequantize, &[s], f32t(&[1, 3, 2, 2]));
    let f = g.add_node(Op::Flatten { axis: 1 }, &[d], f32t(&[1, 12]));
    let fw = g.add_const(TensorData::F32(vec![0.25; 48]), f32t(&[4, 12]));
    let fb = g.add_const(TensorData::F32(vec![0.0; 4]), f32t(&[4]));
    let h = g.add_node(Op::Dense, &[f, fw, fb], f32t(&[1, 4]));
    let y = g.add_node(Op::Softmax { axis: 1 }, &[h], f32t(&[1, 4]));
    g.node_mut(y).name = Some("probs".into());
    g.add_output("y", y);
    assert_ok(&g);
}
