//! dynamic_scale, dynamic_zero_point, quantize_dyn, dequantize_dyn,
//! matmul_int_dyn, conv2d_int_dyn.

use super::*;
use crate::op::Conv2dAttrs;
use ScalarType::{I8, I16, I32, U8};

fn param_ops(x: &[f32]) -> (f32, i64) {
    let xs = fop(&[x.len()], x);
    let s = eval_ok(Op::DynamicScale, &[xs.clone()], f32ty(&[]));
    let z = eval_ok(Op::DynamicZeroPoint, &[xs], ty(&[], scalar(U8)));
    (floats(&s)[0], ints(&z)[0])
}

#[test]
fn dynamic_params_of_the_onnx_examples() {
    // [0, 2, −3, −2.5, 1.34, 0.5]: range [−3, 2], scale 5/255 (f32),
    // zero point round(3 / (5/255)) = round(153.0) = 153 (ONNX's "expected
    // scale 0.0196078438 and zero point 153").
    let (s, z) = param_ops(&[0.0, 2.0, -3.0, -2.5, 1.34, 0.5]);
    assert_eq!(s, 5.0f32 / 255.0);
    assert_eq!(z, 153);
    // All negative: range [−4, 0] (widened to 0), scale 4/255, zero point 255.
    let (s, z) = param_ops(&[-1.0, -2.1, -1.3, -2.5, -3.34, -4.0]);
    assert_eq!(s, 4.0f32 / 255.0);
    assert_eq!(z, 255);
    // All positive: range [0, 4], zero point 0.
    let (s, z) = param_ops(&[1.0, 2.1, 4.0]);
    assert_eq!(s, 4.0f32 / 255.0);
    assert_eq!(z, 0);
}

#[test]
fn dynamic_params_edge_cases() {
    // All zeros (and −0.0): scale 1 (onnxruntime), zero point 0.
    assert_eq!(param_ops(&[0.0, -0.0, 0.0]), (1.0, 0));
    // NaN never wins the comparisons: same as without it.
    assert_eq!(param_ops(&[f32::NAN, 1.0, -1.0]), param_ops(&[1.0, -1.0]));
    assert_eq!(param_ops(&[f32::NAN]), (1.0, 0));
    // +∞: scale ∞, zero point 0 − lo/∞ = 0.
    assert_eq!(param_ops(&[f32::INFINITY, -1.0]), (f32::INFINITY, 0));
    // −∞: lo / scale = −∞/∞ = NaN, which clamps to 255.
    assert_eq!(param_ops(&[f32::NEG_INFINITY, 1.0]), (f32::INFINITY, 255));
    // Range [−1, 1.55]: scale (1.55 + 1) / 255 = 0.01 in f32, and 1 / 0.01 is
    // exactly 100.0 in f32: zero point 100.
    let (s, z) = param_ops(&[-1.0, 1.55]);
    assert_eq!((s, z), ((1.55f32 - -1.0f32) / 255.0, 100));
}

#[test]
fn quantize_dyn_per_tensor_and_broadcast() {
    // Per tensor: s = 0.5, z = 10: 1.25/0.5 = 2.5 → 2 (ties to even) + 10 = 12;
    // −0.75/0.5 = −1.5 → −2 → 8; 1000 saturates to 255; NaN gives z = 10.
    let x = fop(&[4], &[1.25, -0.75, 1000.0, f32::NAN]);
    let s = fop(&[], &[0.5]);
    let z = iop(ty(&[], scalar(U8)), &[10]);
    let y = eval_ok(Op::QuantizeDyn, &[x, s, z], ty(&[4], scalar(U8)));
    assert_eq!(ints(&y), [12, 8, 255, 10]);
    // Per row of a [2, 2] (scale [2, 1], zero point [1] broadcast), i8:
    // row 0 (s 1): 1 → 1 + 1 = 2, −300 → −128; row 1 (s 0.25): 1 → 4 + 1 = 5,
    // 0.375 / 0.25 = 1.5 → 2 + 1 = 3.
    let x = fop(&[2, 2], &[1.0, -300.0, 1.0, 0.375]);
    let s = fop(&[2, 1], &[1.0, 0.25]);
    let z = iop(ty(&[1], scalar(I8)), &[1]);
    let y = eval_ok(Op::QuantizeDyn, &[x, s, z], ty(&[2, 2], scalar(I8)));
    assert_eq!(ints(&y), [2, -128, 5, 3]);
    // A zero scale: x / 0 = ±∞ saturates, 0 / 0 = NaN gives z.
    let x = fop(&[3], &[1.0, -1.0, 0.0]);
    let s = fop(&[], &[0.0]);
    let z = iop(ty(&[], scalar(I16)), &[7]);
    let y = eval_ok(Op::QuantizeDyn, &[x, s, z], ty(&[3], scalar(I16)));
    assert_eq!(ints(&y), [32767, -32768, 7]);
}

#[test]
fn dequantize_dyn_per_channel() {
    // q [2, 2] u8, scale [0.5, 2] along the last axis, zero points [[1], [3]]:
    // (5 − 1)·0.5 = 2, (5 − 1)·2 = 8, (0 − 3)·0.5 = −1.5, (3 − 3)·2 = 0.
    let q = iop(ty(&[2, 2], scalar(U8)), &[5, 5, 0, 3]);
    let s = fop(&[2], &[0.5, 2.0]);
    let z = iop(ty(&[2, 1], scalar(U8)), &[1, 3]);
    let y = eval_ok(Op::DequantizeDyn, &[q, s, z], f32ty(&[2, 2]));
    assert_eq!(floats(&y), [2.0, 8.0, -1.5, 0.0]);
    // i32 beyond 2^24: f32(q − z) rounds once (16777217 → 16777216).
    let q = iop(ty(&[1], scalar(I32)), &[16_777_218]);
    let s = fop(&[], &[1.0]);
    let z = iop(ty(&[], scalar(I32)), &[1]);
    let y = eval_ok(Op::DequantizeDyn, &[q, s, z], f32ty(&[1]));
    assert_eq!(floats(&y), [16_777_216.0]);
}

#[test]
fn matmul_int_dyn_run_time_zero_points() {
    // x [2, 3] u8, zx = 128; w [3, 2] i8, zw = [1, −2]:
    // x − 128 = [2 −1 0; −128 127 1]; w − zw: col 0 = [2 0 −2], col 1 = [0 2 7].
    // y = [4, −2; −258, 261] (as matmul_int's hand-computed case).
    let x = iop(ty(&[2, 3], scalar(U8)), &[130, 127, 128, 0, 255, 129]);
    let w = iop(ty(&[3, 2], scalar(I8)), &[3, -2, 1, 0, -1, 5]);
    let zx = iop(ty(&[], scalar(U8)), &[128]);
    let zw = iop(ty(&[2], scalar(I8)), &[1, -2]);
    let y = eval_ok(
        Op::MatMulIntDyn,
        &[x.clone(), w.clone(), zx.clone(), zw],
        ty(&[2, 2], scalar(I32)),
    );
    assert_eq!(ints(&y), [4, -2, -258, 261]);
    // A scalar zw = 0: col 0 = [3 1 −1], col 1 = [−2 0 5].
    // y00 = 6 − 1 + 0 = 5, y01 = −4 + 0 + 0 = −4,
    // y10 = −384 + 127 − 1 = −258, y11 = 256 + 0 + 5 = 261.
    let zw0 = iop(ty(&[], scalar(I8)), &[0]);
    let y = eval_ok(Op::MatMulIntDyn, &[x, w, zx, zw0], ty(&[2, 2], scalar(I32)));
    assert_eq!(ints(&y), [5, -4, -258, 261]);
}

#[test]
fn conv2d_int_dyn_padding_reads_the_zero_point() {
    // x [1, 1, 2, 2] u8 = [1 2; 3 4], zx = 2; w [1, 1, 2, 2] i8 = [1 1; 1 1],
    // zw = 0; pads 1 all round: a 3×3 output of window sums of x − zx =
    // [−1 0; 1 2], padding contributing 0.
    // Row 0: [−1, −1, 0]; row 1: [0, 2, 2]; row 2: [1, 3, 2].
    let x = iop(ty(&[1, 1, 2, 2], scalar(U8)), &[1, 2, 3, 4]);
    let w = iop(ty(&[1, 1, 2, 2], scalar(I8)), &[1, 1, 1, 1]);
    let zx = iop(ty(&[], scalar(U8)), &[2]);
    let zw = iop(ty(&[1], scalar(I8)), &[0]);
    let attrs = Conv2dAttrs {
        pads: [1, 1, 1, 1],
        ..Conv2dAttrs::default()
    };
    let y = eval_ok(
        Op::Conv2dIntDyn(attrs),
        &[x, w, zx, zw],
        ty(&[1, 1, 3, 3], scalar(I32)),
    );
    assert_eq!(ints(&y), [-1, -1, 0, 0, 2, 2, 1, 3, 2]);
}

#[test]
fn dynamic_quantize_linear_end_to_end() {
    // ONNX's first DynamicQuantizeLinear case: scale 5/255, zero point 153;
    // y = [153, 255, 0, 26, 221, 179].
    let mut g = Graph::new("dql");
    let x = g.add_input("x", f32ty(&[6]));
    let s = g.add_node(Op::DynamicScale, &[x], f32ty(&[]));
    let z = g.add_node(Op::DynamicZeroPoint, &[x], ty(&[], scalar(U8)));
    let q = g.add_node(Op::QuantizeDyn, &[x, s, z], ty(&[6], scalar(U8)));
    g.add_output("y", q);
    let xs = Tensor::f32(vec![6], vec![0.0, 2.0, -3.0, -2.5, 1.34, 0.5]);
    let y = run(&g, &[xs]).unwrap();
    assert_eq!(ints(&y[0]), [153, 255, 0, 26, 221, 179]);
}

#[test]
fn operands_that_break_the_rules_are_errors() {
    // A quantized zero point is refused by the interpreter too.
    let x = fop(&[2], &[1.0, 2.0]);
    let s = fop(&[], &[0.5]);
    let z = iop(ty(&[], qt(U8, 1.0, 0)), &[0]);
    let r = eval(Op::QuantizeDyn, &[x, s, z], ty(&[2], scalar(U8)));
    assert!(unsupported_reason(r).contains("plain integer"));
    // A scale that does not broadcast.
    let x = fop(&[2], &[1.0, 2.0]);
    let s = fop(&[3], &[0.5, 0.5, 0.5]);
    let z = iop(ty(&[], scalar(U8)), &[0]);
    let r = eval(Op::QuantizeDyn, &[x, s, z], ty(&[2], scalar(U8)));
    assert!(unsupported_reason(r).contains("broadcast"));
}
