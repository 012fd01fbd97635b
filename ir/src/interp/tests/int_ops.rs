//! matmul_int, conv2d_int, add_int, clamp_int.

use super::*;
use crate::op::Conv2dAttrs;
use crate::op::RequantMode::{self, DoubleRound, Float, SingleRound};
use ScalarType::{I4, I8, I16, I32, U4, U8};

/// x: u8 scale 0.5 zp 128, [2, 3]; w: i8 per axis on axis 1, scales
/// [0.25, 0.125], zps [1, −2], [3, 2]; bias: i32 per axis, scales
/// [0.125, 0.0625] = sx · sw[n]; result i32 per axis on axis 1.
fn matmul_int_case() -> (Operand, Operand, Operand, TensorType) {
    let x = iop(ty(&[2, 3], qt(U8, 0.5, 128)), &[130, 127, 128, 0, 255, 129]);
    let w = iop(
        ty(&[3, 2], qaxis(I8, 1, &[0.25, 0.125], &[1, -2])),
        &[3, -2, 1, 0, -1, 5],
    );
    let b = iop(
        ty(&[2], qaxis(I32, 0, &[0.125, 0.0625], &[0, 0])),
        &[10, -20],
    );
    let out = ty(&[2, 2], qaxis(I32, 1, &[0.125, 0.0625], &[0, 0]));
    (x, w, b, out)
}

#[test]
fn matmul_int_zero_points_and_per_channel_weights() {
    // x − 128 = [2 −1 0; −128 127 1]; w − zw: column 0 (zp 1) = [2 0 −2],
    // column 1 (zp −2) = [0 2 7].
    // y00 = 4 + 0 + 0 = 4, + 10 = 14;     y01 = 0 − 2 + 0 = −2, − 20 = −22;
    // y10 = −256 + 0 − 2 = −258, + 10 = −248; y11 = 0 + 254 + 7 = 261, − 20 = 241.
    let (x, w, b, out) = matmul_int_case();
    let y = eval_ok(
        Op::MatMulInt(crate::op::IntAttrs::default()),
        &[x.clone(), w.clone(), b],
        out.clone(),
    );
    assert_eq!(ints(&y), [14, -22, -248, 241]);
    // Without the bias.
    let y = eval_ok(Op::MatMulInt(crate::op::IntAttrs::default()), &[x, w], out);
    assert_eq!(ints(&y), [4, -2, -258, 261]);
}

#[test]
fn matmul_int_equals_the_qdq_float_computation() {
    // With power-of-two scales every float step below is exact, so
    // dequantize(matmul_int(x, w) + bias) == matmul(dq(x), dq(w)) + dq(bias).
    let (x, w, b, out) = matmul_int_case();
    let mut g = Graph::new("qdq");
    let xv = g.add_input("x", x.0.clone());
    let wv = g.add_const(w.1.clone(), w.0.clone());
    let bv = g.add_const(b.1.clone(), b.0.clone());
    let acc = g.add_node(
        Op::MatMulInt(crate::op::IntAttrs::default()),
        &[xv, wv, bv],
        out,
    );
    let int_path = g.add_node(Op::Dequantize, &[acc], f32ty(&[2, 2]));
    let xd = g.add_node(Op::Dequantize, &[xv], f32ty(&[2, 3]));
    let wd = g.add_node(Op::Dequantize, &[wv], f32ty(&[3, 2]));
    let bd = g.add_node(Op::Dequantize, &[bv], f32ty(&[2]));
    let mm = g.add_node(Op::MatMul, &[xd, wd], f32ty(&[2, 2]));
    let float_path = g.add_node(Op::Add, &[mm, bd], f32ty(&[2, 2]));
    g.add_output("int", int_path);
    g.add_output("float", float_path);
    let y = run(&g, &[tensor(&x)]).unwrap();
    // 14·0.125, −22·0.0625, −248·0.125, 241·0.0625.
    assert_eq!(floats(&y[0]), [1.75, -1.375, -31.0, 15.0625]);
    assert_eq!(y[0], y[1]);
}

#[test]
fn matmul_int_bias_addition_saturates() {
    // 2^30 · 2 = 2^31 fits in i64; + 2^30 saturates to i32::MAX; the
    // negative side to i32::MIN.
    let x = iop(ty(&[1, 1], scalar(I32)), &[1 << 30]);
    let out = ty(&[1, 1], scalar(I32));
    let y = eval_ok(
        Op::MatMulInt(crate::op::IntAttrs::default()),
        &[
            x.clone(),
            iop(ty(&[1, 1], scalar(I32)), &[2]),
            iop(ty(&[1], scalar(I32)), &[1 << 30]),
        ],
        out.clone(),
    );
    assert_eq!(ints(&y), [i32::MAX as i64]);
    let y = eval_ok(
        Op::MatMulInt(crate::op::IntAttrs::default()),
        &[
            x,
            iop(ty(&[1, 1], scalar(I32)), &[-2]),
            iop(ty(&[1], scalar(I32)), &[-(1 << 30)]),
        ],
        out,
    );
    assert_eq!(ints(&y), [i32::MIN as i64]);
}

#[test]
fn matmul_int_sums_wide_operands_exactly() {
    // Plain i32 operands: 2 · (−2^31)·(−2^31) = 2^63 overflows i64 but not
    // the exact sum; it saturates to i32::MAX. With x = [−2^31, 2^31 − 1]:
    // 2^62 − (2^62 − 2^31) = 2^31 → i32::MAX; with a bias of −1 it is
    // 2^31 − 1 exactly.
    let w = iop(
        ty(&[2, 1], scalar(I32)),
        &[i32::MIN as i64, i32::MIN as i64],
    );
    let out = ty(&[1, 1], scalar(I32));
    let x = iop(
        ty(&[1, 2], scalar(I32)),
        &[i32::MIN as i64, i32::MIN as i64],
    );
    assert_eq!(
        ints(&eval_ok(
            Op::MatMulInt(crate::op::IntAttrs::default()),
            &[x, w.clone()],
            out.clone()
        )),
        [i32::MAX as i64]
    );
    let x = iop(
        ty(&[1, 2], scalar(I32)),
        &[i32::MIN as i64, i32::MAX as i64],
    );
    let minus_one = iop(ty(&[1], scalar(I32)), &[-1]);
    assert_eq!(
        ints(&eval_ok(
            Op::MatMulInt(crate::op::IntAttrs::default()),
            &[x, w, minus_one],
            out
        )),
        [i32::MAX as i64]
    );
}

#[test]
fn matmul_int_four_bit_and_batched() {
    // x i8 [3, −4] × w i4 zp −1 [−8; 7] → 3·(−7) + (−4)·8 = −53.
    let y = eval_ok(
        Op::MatMulInt(crate::op::IntAttrs::default()),
        &[
            iop(ty(&[1, 2], scalar(I8)), &[3, -4]),
            iop(ty(&[2, 1], qt(I4, 0.5, -1)), &[-8, 7]),
        ],
        ty(&[1, 1], scalar(I32)),
    );
    assert_eq!(ints(&y), [-53]);
    // x u4 zp 8: [15, 0] → [7, −8]; · [1; 1] = −1.
    let y = eval_ok(
        Op::MatMulInt(crate::op::IntAttrs::default()),
        &[
            iop(ty(&[1, 2], qt(U4, 1.0, 8)), &[15, 0]),
            iop(ty(&[2, 1], scalar(I8)), &[1, 1]),
        ],
        ty(&[1, 1], scalar(I32)),
    );
    assert_eq!(ints(&y), [-1]);
    // Batched x [2, 1, 2] with one w [2, 1]: [1 2]·[1 10] = 21, [3 4]·[1 10] = 43.
    let y = eval_ok(
        Op::MatMulInt(crate::op::IntAttrs::default()),
        &[
            iop(ty(&[2, 1, 2], scalar(I8)), &[1, 2, 3, 4]),
            iop(ty(&[2, 1], scalar(I8)), &[1, 10]),
        ],
        ty(&[2, 1, 1], scalar(I32)),
    );
    assert_eq!(ints(&y), [21, 43]);
}

/// x: u8 zp 100 (scale 1), [1, 1, 2, 2], centered [1 2; 3 4]; w: i8 per axis
/// on axis 0, zps [0, 1], scales [0.5, 0.25]: output channel 0 centered
/// [1 0; 0 1], channel 1 codes [3 1; 1 0] → centered [2 0; 0 −1].
fn conv_int_case() -> (Operand, Operand) {
    let x = iop(ty(&[1, 1, 2, 2], qt(U8, 1.0, 100)), &[101, 102, 103, 104]);
    let w = iop(
        ty(&[2, 1, 2, 2], qaxis(I8, 0, &[0.5, 0.25], &[0, 1])),
        &[1, 0, 0, 1, 3, 1, 1, 0],
    );
    (x, w)
}

#[test]
fn conv2d_int_padding_reads_the_input_zero_point() {
    // Pads 1 all round, 2×2 kernel: OH = OW = 3; output (r, c) reads
    // X[r−1..r][c−1..c] of the centered X = [1 2; 3 4], padding 0.
    // Channel 0: X[r−1][c−1] + X[r][c]:
    //   (0,0) 0+1, (0,1) 0+2, (0,2) 0+0, (1,0) 0+3, (1,1) 1+4, (1,2) 2+0,
    //   (2,0) 0, (2,1) 3, (2,2) 4.
    // Channel 1: 2·X[r−1][c−1] − X[r][c]:
    //   −1, −2, 0, −3, 2−4 = −2, 4, 0, 6, 8.
    let (x, w) = conv_int_case();
    let attrs = Conv2dAttrs {
        pads: [1, 1, 1, 1],
        ..Conv2dAttrs::default()
    };
    let out = ty(&[1, 2, 3, 3], qaxis(I32, 1, &[0.5, 0.25], &[0, 0]));
    let y = eval_ok(
        Op::Conv2dInt(attrs.clone(), crate::op::IntAttrs::default()),
        &[x.clone(), w.clone()],
        out.clone(),
    );
    #[rustfmt::skip]
    assert_eq!(ints(&y), [
        1, 2, 0, 3, 5, 2, 0, 3, 4,
        -1, -2, 0, -3, -2, 4, 0, 6, 8,
    ]);
    // With a bias [100, −100].
    let b = iop(ty(&[2], qaxis(I32, 0, &[0.5, 0.25], &[0, 0])), &[100, -100]);
    let y = eval_ok(
        Op::Conv2dInt(attrs, crate::op::IntAttrs::default()),
        &[x, w, b],
        out,
    );
    #[rustfmt::skip]
    assert_eq!(ints(&y), [
        101, 102, 100, 103, 105, 102, 100, 103, 104,
        -101, -102, -100, -103, -102, -96, -100, -94, -92,
    ]);
}

#[test]
fn conv2d_int_equals_the_qdq_float_computation() {
    // dequantize(conv2d_int(x, w)) == conv2d(dq(x), dq(w)): the float conv
    // pads with 0.0, which is what reading zx means. Exact with these scales.
    let (x, w) = conv_int_case();
    let attrs = Conv2dAttrs {
        pads: [1, 0, 0, 1],
        strides: [1, 1],
        ..Conv2dAttrs::default()
    };
    let mut g = Graph::new("qdq");
    let xv = g.add_input("x", x.0.clone());
    let wv = g.add_const(w.1.clone(), w.0.clone());
    // OH = 2 + 1 + 0 − 2 + 1 = 2, OW = 2 + 0 + 1 − 2 + 1 = 2.
    let out = ty(&[1, 2, 2, 2], qaxis(I32, 1, &[0.5, 0.25], &[0, 0]));
    let acc = g.add_node(
        Op::Conv2dInt(attrs.clone(), crate::op::IntAttrs::default()),
        &[xv, wv],
        out,
    );
    let int_path = g.add_node(Op::Dequantize, &[acc], f32ty(&[1, 2, 2, 2]));
    let xd = g.add_node(Op::Dequantize, &[xv], f32ty(&[1, 1, 2, 2]));
    let wd = g.add_node(Op::Dequantize, &[wv], f32ty(&[2, 1, 2, 2]));
    let float_path = g.add_node(Op::Conv2d(attrs), &[xd, wd], f32ty(&[1, 2, 2, 2]));
    g.add_output("int", int_path);
    g.add_output("float", float_path);
    let y = run(&g, &[tensor(&x)]).unwrap();
    // Output (r, c) reads X[r−1..r][c..c+1]. Channel 0 (·0.5):
    // (0,0) X[−1][0] + X[0][1] = 2; (0,1) 0 + X[0][2] = 0; (1,0) 1 + 4 = 5;
    // (1,1) 2 + 0 = 2. Channel 1 (·0.25): 2·X[r−1][c] − X[r][c+1]:
    // (0,0) −2; (0,1) 0; (1,0) 2 − 4 = −2; (1,1) 4.
    assert_eq!(floats(&y[0]), [1.0, 0.0, 2.5, 1.0, -0.5, 0.0, -0.5, 1.0]);
    assert_eq!(y[0], y[1]);
}

#[test]
fn conv2d_int_depthwise_strides_and_per_tensor_weights() {
    // Depthwise (groups 2), x i8 zp −1 [1, 2, 3, 3], w i8 zp 2 per tensor
    // [2, 1, 1, 1] codes [3, 5] (centered 1, 3), strides 2: OH = OW = 2,
    // reading positions (0,0), (0,2), (2,0), (2,2).
    // Channel 0 codes 0..8 → centered 1..9 → corners 1, 3, 7, 9, ·1.
    // Channel 1 codes 9..17 → centered 10..18 → corners 10, 12, 16, 18, ·3.
    let codes: Vec<i64> = (0..18).collect();
    let x = iop(ty(&[1, 2, 3, 3], qt(I8, 1.0, -1)), &codes);
    let w = iop(ty(&[2, 1, 1, 1], qt(I8, 1.0, 2)), &[3, 5]);
    let attrs = Conv2dAttrs {
        strides: [2, 2],
        groups: 2,
        ..Conv2dAttrs::default()
    };
    let y = eval_ok(
        Op::Conv2dInt(attrs, crate::op::IntAttrs::default()),
        &[x, w],
        ty(&[1, 2, 2, 2], scalar(I32)),
    );
    assert_eq!(ints(&y), [1, 3, 7, 9, 30, 36, 48, 54]);
}

#[test]
fn conv2d_int_dilation() {
    // 2×2 kernel dilated by 2 on 3×3 plain i8 1..9 reads the corners 1, 3,
    // 7, 9; weights [1 −1; −1 2].
    let x = iop(ty(&[1, 1, 3, 3], scalar(I8)), &[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let w = iop(ty(&[1, 1, 2, 2], scalar(I8)), &[1, -1, -1, 2]);
    let attrs = Conv2dAttrs {
        dilations: [2, 2],
        ..Conv2dAttrs::default()
    };
    let b = iop(ty(&[1], scalar(I32)), &[5]);
    let y = eval_ok(
        Op::Conv2dInt(attrs, crate::op::IntAttrs::default()),
        &[x, w, b],
        ty(&[1, 1, 1, 1], scalar(I32)),
    );
    // 1 − 3 − 7 + 2·9 = 9, + 5.
    assert_eq!(ints(&y), [14]);
}

fn add_int(a: Operand, b: Operand, out: TensorType, mode: RequantMode) -> Vec<i64> {
    ints(&eval_ok(Op::AddInt { mode, ort: false }, &[a, b], out))
}

#[test]
fn add_int_modes_with_different_input_scales() {
    // a: i8 scale 0.5 zp 0, [2, 1]; b: i8 scale 0.25 zp 10, [3]; y: i8 scale 1.
    // Real sum v = da/2 + db/4 (every fixed-point step before the last
    // rescale is exact here: a' = da·2^19, b' = db·2^18, the last
    // multiplier is 2^−20).
    // da = 5: db 0 → 2.5, db 2 → 3, db −2 → 2; da = −5: −2.5, −2, −3.
    // float rounds ties to even, single_round half up, double_round half
    // away from zero (srdhm is exact, the rounding shift rounds).
    let a = iop(ty(&[2, 1], qt(I8, 0.5, 0)), &[5, -5]);
    let b = iop(ty(&[3], qt(I8, 0.25, 10)), &[10, 12, 8]);
    let out = ty(&[2, 3], qt(I8, 1.0, 0));
    assert_eq!(
        add_int(a.clone(), b.clone(), out.clone(), Float),
        [2, 3, 2, -2, -2, -3]
    );
    assert_eq!(
        add_int(a.clone(), b.clone(), out.clone(), SingleRound),
        [3, 3, 2, -2, -2, -3]
    );
    assert_eq!(add_int(a, b, out, DoubleRound), [3, 3, 2, -3, -2, -3]);

    // Saturation and an output zero point of −100: v = da/2 with db = 0:
    // 63.5 → 64 (all) → −36; −64 → −164 → −128; 1.5 → 2 → −98;
    // −1.5 → float −2, single −1, double −2 → −102, −101, −102.
    let a = iop(ty(&[4], qt(I8, 0.5, 0)), &[127, -128, 3, -3]);
    let b = iop(ty(&[1], qt(I8, 0.25, 10)), &[10]);
    let out = ty(&[4], qt(I8, 1.0, -100));
    assert_eq!(
        add_int(a.clone(), b.clone(), out.clone(), Float),
        [-36, -128, -98, -102]
    );
    assert_eq!(
        add_int(a.clone(), b.clone(), out.clone(), SingleRound),
        [-36, -128, -98, -101]
    );
    assert_eq!(add_int(a, b, out, DoubleRound), [-36, -128, -98, -102]);
}

#[test]
fn add_int_float_mode_rounds_each_step_to_f32() {
    // u8 scale 0.1 zp 3, u8 scale 0.2 zp 0 → u8 scale 0.3 zp 7.
    // Ma = f32(0.1/0.3), Mb = f32(0.2/0.3); (da, db) = (3, 0) → 1.0000...,
    // (6, 3) → 2 + 2 = 4, (0, 15) → 10; then + 7.
    let a = iop(ty(&[3], qt(U8, 0.1, 3)), &[6, 9, 3]);
    let b = iop(ty(&[3], qt(U8, 0.2, 0)), &[0, 3, 15]);
    let out = ty(&[3], qt(U8, 0.3, 7));
    for mode in RequantMode::ALL {
        assert_eq!(
            add_int(a.clone(), b.clone(), out.clone(), mode),
            [8, 11, 17],
            "{mode}"
        );
    }
    // All modes stay within one step of the exact real sum.
    let codes: Vec<i64> = (0..=255).step_by(5).collect();
    let n = codes.len();
    let a = iop(ty(&[n, 1], qt(U8, 0.037, 100)), &codes);
    let b = iop(ty(&[n], qt(U8, 0.061, 3)), &codes);
    let (sa, sb, sy, zy) = (0.037f64, 0.061f64, 0.05f64, 128i64);
    let out = ty(&[n, n], qt(U8, sy as f32, zy));
    for mode in RequantMode::ALL {
        let y = add_int(a.clone(), b.clone(), out.clone(), mode);
        for (i, &qa) in codes.iter().enumerate() {
            for (j, &qb) in codes.iter().enumerate() {
                let exact = ((qa - 100) as f64 * sa + (qb - 3) as f64 * sb) / sy + zy as f64;
                let exact = exact.clamp(0.0, 255.0);
                let got = y[i * n + j] as f64;
                assert!(
                    (got - exact).abs() <= 1.0,
                    "{mode}: {qa} + {qb}: {got} vs {exact}"
                );
            }
        }
    }
}

#[test]
fn add_int_fixed_modes_need_narrow_operands() {
    let a = iop(ty(&[1], qt(I16, 0.5, 0)), &[1000]);
    let b = iop(ty(&[1], qt(I16, 0.5, 0)), &[1000]);
    let out = ty(&[1], qt(I16, 1.0, 0));
    for mode in [SingleRound, DoubleRound] {
        let r = eval(
            Op::AddInt { mode, ort: false },
            &[a.clone(), b.clone()],
            out.clone(),
        );
        assert!(unsupported_reason(r).contains("at most 8 bits"));
    }
    // Float mode takes any storage: 500 + 500.
    assert_eq!(add_int(a, b, out, Float), [1000]);
}

#[test]
fn clamp_int_on_stored_codes() {
    let t = ty(&[5], qt(I8, 0.1, 3));
    let y = eval_ok(
        Op::ClampInt { min: -10, max: 10 },
        &[iop(t.clone(), &[-128, -5, 0, 5, 127])],
        t,
    );
    assert_eq!(ints(&y), [-10, -5, 0, 5, 10]);
    let t = ty(&[3], scalar(U8));
    let y = eval_ok(
        Op::ClampInt { min: 0, max: 6 },
        &[iop(t.clone(), &[0, 6, 255])],
        t,
    );
    assert_eq!(ints(&y), [0, 6, 6]);
}

#[test]
fn matmul_int_zx_in_bias_and_row_sums_give_the_same_sums() {
    // Σ_k (w − zw) per column: [2 + 0 − 2, 0 + 2 + 7] = [0, 9]; with zx =
    // 128 in the bias: [10 − 0, −20 − 128·9] = [10, −1172].
    let (x, w, _, out) = matmul_int_case();
    let bq = ty(&[2], qaxis(I32, 0, &[0.125, 0.0625], &[0, 0]));
    let folded = iop(bq.clone(), &[10, -1172]);
    let y = eval_ok(
        Op::MatMulInt(crate::op::IntAttrs::ZX_IN_BIAS),
        &[x.clone(), w.clone(), folded],
        out.clone(),
    );
    assert_eq!(ints(&y), [14, -22, -248, 241]);
    // Row sums of x − 128: [2 − 1 + 0, −128 + 127 + 1] = [1, 0].
    let rs = eval_ok(Op::RowSums, &[x.clone()], ty(&[2, 1], scalar(I32)));
    assert_eq!(ints(&rs), [1, 0]);
    // Σ (x − zx)·w − zw·rs + bias, the weights' zero point out of the sum.
    let rs = iop(ty(&[2, 1], scalar(I32)), &[1, 0]);
    let b = iop(bq, &[10, -20]);
    let y = eval_ok(
        Op::MatMulInt(crate::op::IntAttrs::default()),
        &[x, w, b, rs],
        out,
    );
    assert_eq!(ints(&y), [14, -22, -248, 241]);
}

#[test]
fn conv2d_int_zx_in_bias_keeps_the_padding_exact() {
    // Σ (w − zw) per channel: [2, 1]; zx = 100: bias [100 − 200, −100 − 100].
    // Padded positions read zx, so they contribute zx·(w − zw), which the
    // folded bias takes back: the same outputs as without the flag.
    let (x, w) = conv_int_case();
    let attrs = Conv2dAttrs {
        pads: [1, 1, 1, 1],
        ..Conv2dAttrs::default()
    };
    let out = ty(&[1, 2, 3, 3], qaxis(I32, 1, &[0.5, 0.25], &[0, 0]));
    let b = iop(
        ty(&[2], qaxis(I32, 0, &[0.5, 0.25], &[0, 0])),
        &[-100, -200],
    );
    let y = eval_ok(
        Op::Conv2dInt(attrs, crate::op::IntAttrs::ZX_IN_BIAS),
        &[x, w, b],
        out,
    );
    #[rustfmt::skip]
    assert_eq!(ints(&y), [
        101, 102, 100, 103, 105, 102, 100, 103, 104,
        -101, -102, -100, -103, -102, -96, -100, -94, -92,
    ]);
}

#[test]
fn row_sums_need_a_per_tensor_input_and_an_i32_result() {
    let x = iop(ty(&[1, 3], qt(I8, 1.0, -5)), &[-128, 0, 127]);
    // (−128 + 5) + 5 + (127 + 5) = 14.
    let y = eval_ok(Op::RowSums, &[x.clone()], ty(&[1, 1], scalar(I32)));
    assert_eq!(ints(&y), [14]);
    let e = unsupported_reason(eval(Op::RowSums, &[x], ty(&[1, 3], scalar(I32))));
    assert!(e.contains("shape"), "{e}");
}

#[test]
fn lookup_indexes_by_the_stored_byte() {
    // i8 codes −128, −1, 0, 5 index bytes 128, 255, 0, 5.
    let x = iop(ty(&[4], qt(I8, 0.5, 0)), &[-128, -1, 0, 5]);
    let table: Vec<i64> = (0..256).map(|i| (i as i64 * 7) % 200).collect();
    let t = iop(ty(&[256], scalar(U8)), &table);
    let y = eval_ok(Op::Lookup, &[x.clone(), t], ty(&[4], qt(U8, 1.0, 3)));
    assert_eq!(ints(&y), [128 * 7 % 200, 255 * 7 % 200, 0, 35]);
    // A table entry outside the result's range is an error when it is read.
    let mut bad = table.clone();
    bad[5] = 300;
    let t = iop(ty(&[256], scalar(I32)), &bad);
    let e = unsupported_reason(eval(Op::Lookup, &[x, t], ty(&[4], qt(U8, 1.0, 3))));
    assert!(e.contains("table"), "{e}");
}
