//! matmul, dense, conv2d, add, mul, relu, clamp, softmax.

use super::*;
use crate::op::{Conv2dAttrs, F32Attr};

fn conv(attrs: Conv2dAttrs, args: &[Operand], out: &[usize]) -> Vec<f32> {
    floats(&eval_ok(Op::Conv2d(attrs), args, f32ty(out)))
}

#[test]
fn matmul_2d_and_batched() {
    // [1 2 3; 4 5 6] × [7 8; 9 10; 11 12] = [58 64; 139 154].
    let y = eval_ok(
        Op::MatMul,
        &[
            fop(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            fop(&[3, 2], &[7.0, 8.0, 9.0, 10.0, 11.0, 12.0]),
        ],
        f32ty(&[2, 2]),
    );
    assert_eq!(floats(&y), [58.0, 64.0, 139.0, 154.0]);
    // Batched b: [1 2]·[5 6]ᵀ = 17, [3 4]·[7 8]ᵀ = 53.
    let a = fop(&[2, 1, 2], &[1.0, 2.0, 3.0, 4.0]);
    let y = eval_ok(
        Op::MatMul,
        &[a.clone(), fop(&[2, 2, 1], &[5.0, 6.0, 7.0, 8.0])],
        f32ty(&[2, 1, 1]),
    );
    assert_eq!(floats(&y), [17.0, 53.0]);
    // One [K, N] b for every batch: [1 2]·[1 −1]ᵀ = −1, [3 4]·[1 −1]ᵀ = −1.
    let y = eval_ok(
        Op::MatMul,
        &[a, fop(&[2, 1], &[1.0, -1.0])],
        f32ty(&[2, 1, 1]),
    );
    assert_eq!(floats(&y), [-1.0, -1.0]);
}

#[test]
fn matmul_accumulates_in_increasing_k_from_positive_zero() {
    let ones = fop(&[3, 1], &[1.0, 1.0, 1.0]);
    // ((0 + 1e8) + 1) + −1e8: 1e8 + 1 rounds to 1e8 in f32, so 0.
    let y = eval_ok(
        Op::MatMul,
        &[fop(&[1, 3], &[1e8, 1.0, -1e8]), ones.clone()],
        f32ty(&[1, 1]),
    );
    assert_eq!(floats(&y), [0.0]);
    // ((0 + 1e8) + −1e8) + 1 = 1.
    let y = eval_ok(
        Op::MatMul,
        &[fop(&[1, 3], &[1e8, -1e8, 1.0]), ones],
        f32ty(&[1, 1]),
    );
    assert_eq!(floats(&y), [1.0]);
    // +0.0 + (−0.0 · 1) = +0.0.
    let y = eval_ok(
        Op::MatMul,
        &[fop(&[1, 1], &[-0.0]), fop(&[1, 1], &[1.0])],
        f32ty(&[1, 1]),
    );
    assert!(floats(&y)[0] == 0.0 && floats(&y)[0].is_sign_positive());
}

#[test]
fn dense_with_and_without_bias() {
    // x = [1 2], w rows [1 0], [0 1], [1 1]: 1, 2, 3; + [0.5, −0.5, 10].
    let x = fop(&[1, 2], &[1.0, 2.0]);
    let w = fop(&[3, 2], &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
    let b = fop(&[3], &[0.5, -0.5, 10.0]);
    let y = eval_ok(Op::Dense, &[x.clone(), w.clone(), b], f32ty(&[1, 3]));
    assert_eq!(floats(&y), [1.5, 1.5, 13.0]);
    let y = eval_ok(Op::Dense, &[x, w], f32ty(&[1, 3]));
    assert_eq!(floats(&y), [1.0, 2.0, 3.0]);
}

fn iota(shape: &[usize], from: f32) -> Operand {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|i| from + i as f32).collect();
    fop(shape, &v)
}

#[test]
fn conv2d_plain_and_bias() {
    // x = [1 2 3; 4 5 6; 7 8 9], w = [1 0; 0 1]: x[i][j] + x[i+1][j+1].
    let x = iota(&[1, 1, 3, 3], 1.0);
    let w = fop(&[1, 1, 2, 2], &[1.0, 0.0, 0.0, 1.0]);
    assert_eq!(
        conv(
            Conv2dAttrs::default(),
            &[x.clone(), w.clone()],
            &[1, 1, 2, 2]
        ),
        [6.0, 8.0, 12.0, 14.0]
    );
    let b = fop(&[1], &[0.5]);
    assert_eq!(
        conv(Conv2dAttrs::default(), &[x, w, b], &[1, 1, 2, 2]),
        [6.5, 8.5, 12.5, 14.5]
    );
}

#[test]
fn conv2d_strides_and_symmetric_pads() {
    // x = 0..15 as 4×4, 3×3 ones, pads 1, strides 2: OH = ⌊(4 + 2 − 3)/2⌋ + 1 = 2.
    // (0,0): rows 0–1, cols 0–1: 0+1+4+5 = 10; (0,1): rows 0–1, cols 1–3:
    // 1+2+3+5+6+7 = 24; (1,0): rows 1–3, cols 0–1: 4+5+8+9+12+13 = 51;
    // (1,1): rows 1–3, cols 1–3: 5+6+7+9+10+11+13+14+15 = 90.
    let attrs = Conv2dAttrs {
        strides: [2, 2],
        pads: [1, 1, 1, 1],
        ..Conv2dAttrs::default()
    };
    let y = conv(
        attrs,
        &[iota(&[1, 1, 4, 4], 0.0), fop(&[1, 1, 3, 3], &[1.0; 9])],
        &[1, 1, 2, 2],
    );
    assert_eq!(y, [10.0, 24.0, 51.0, 90.0]);
}

#[test]
fn conv2d_asymmetric_pads() {
    // x = [1 2; 3 4], w = [1 2; 3 4], pads top 0, left 1, bottom 1, right 0.
    // OH = 2 + 0 + 1 − 2 + 1 = 2, OW = 2 + 1 + 0 − 2 + 1 = 2. Output (i, j)
    // reads rows i..i+1 and columns j−1..j:
    // (0,0): 2·x00 + 4·x10 = 2 + 12 = 14; (0,1): 1 + 4 + 9 + 16 = 30;
    // (1,0): 2·x10 = 6; (1,1): 1·x10 + 2·x11 = 3 + 8 = 11.
    let attrs = Conv2dAttrs {
        pads: [0, 1, 1, 0],
        ..Conv2dAttrs::default()
    };
    let y = conv(
        attrs,
        &[iota(&[1, 1, 2, 2], 1.0), iota(&[1, 1, 2, 2], 1.0)],
        &[1, 1, 2, 2],
    );
    assert_eq!(y, [14.0, 30.0, 6.0, 11.0]);
}

#[test]
fn conv2d_dilation() {
    // 2×2 ones dilated by 2 read the corners of the 3×3 input: 1+3+7+9 = 20.
    let attrs = Conv2dAttrs {
        dilations: [2, 2],
        ..Conv2dAttrs::default()
    };
    let y = conv(
        attrs.clone(),
        &[iota(&[1, 1, 3, 3], 1.0), fop(&[1, 1, 2, 2], &[1.0; 4])],
        &[1, 1, 1, 1],
    );
    assert_eq!(y, [20.0]);
    // Dilation along the width only, on a 2×4 input (1..8): kernel 1×2
    // dilated by 3 reads columns j and j+3: 1+4 = 5, 5+8 = 13.
    let attrs = Conv2dAttrs {
        dilations: [1, 3],
        ..Conv2dAttrs::default()
    };
    let y = conv(
        attrs,
        &[iota(&[1, 1, 2, 4], 1.0), fop(&[1, 1, 1, 2], &[1.0, 1.0])],
        &[1, 1, 2, 1],
    );
    assert_eq!(y, [5.0, 13.0]);
}

#[test]
fn conv2d_depthwise_and_groups() {
    // Depthwise with multiplier 2: groups = C = 2, w [4, 1, 1, 1]; output
    // channel o reads input channel o / 2.
    let x = fop(&[1, 2, 2, 2], &[1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0]);
    let w = fop(&[4, 1, 1, 1], &[1.0, -1.0, 2.0, 0.5]);
    let attrs = Conv2dAttrs {
        groups: 2,
        ..Conv2dAttrs::default()
    };
    let y = conv(attrs, &[x, w], &[1, 4, 2, 2]);
    assert_eq!(
        y,
        [
            1.0, 2.0, 3.0, 4.0, // ×1
            -1.0, -2.0, -3.0, -4.0, // ×−1
            20.0, 40.0, 60.0, 80.0, // ×2
            5.0, 10.0, 15.0, 20.0, // ×0.5
        ]
    );
    // Two groups of two channels, 1×1: out 0 = x0 + 2·x1, out 1 = 3·x2 + 4·x3.
    let x = fop(&[1, 4, 1, 1], &[1.0, 10.0, 100.0, 1000.0]);
    let w = fop(&[2, 2, 1, 1], &[1.0, 2.0, 3.0, 4.0]);
    let attrs = Conv2dAttrs {
        groups: 2,
        ..Conv2dAttrs::default()
    };
    assert_eq!(conv(attrs, &[x, w], &[1, 2, 1, 1]), [21.0, 4300.0]);
}

#[test]
fn conv2d_sums_channels_then_rows_then_columns() {
    // Channel 0 gives 1e8 then 1, channel 1 gives −1e8 then 0 (1×2 kernel
    // of ones): ((((0 + 1e8) + 1) + −1e8) + 0) = 0, since 1e8 + 1 = 1e8 in f32.
    let x = fop(&[1, 2, 1, 2], &[1e8, 1.0, -1e8, 0.0]);
    let w = fop(&[1, 2, 1, 2], &[1.0; 4]);
    assert_eq!(conv(Conv2dAttrs::default(), &[x, w], &[1, 1, 1, 1]), [0.0]);
}

#[test]
fn conv2d_padding_reads_zero_and_takes_part() {
    // Left pad 1, w = [inf, 1]: the padded position gives 0 · inf = NaN.
    let attrs = Conv2dAttrs {
        pads: [0, 1, 0, 0],
        ..Conv2dAttrs::default()
    };
    let y = conv(
        attrs,
        &[
            fop(&[1, 1, 1, 1], &[1.0]),
            fop(&[1, 1, 1, 2], &[f32::INFINITY, 1.0]),
        ],
        &[1, 1, 1, 1],
    );
    assert!(y[0].is_nan());
}

#[test]
fn add_broadcasts_numpy_style() {
    // [2, 1, 3] + [4, 1] → [2, 4, 3]: y[i, j, k] = a[i, 0, k] + b[j, 0].
    let a = fop(&[2, 1, 3], &[0.0, 1.0, 2.0, 10.0, 11.0, 12.0]);
    let b = fop(&[4, 1], &[100.0, 200.0, 300.0, 400.0]);
    let y = eval_ok(Op::Add, &[a.clone(), b.clone()], f32ty(&[2, 4, 3]));
    #[rustfmt::skip]
    let expected = [
        100.0, 101.0, 102.0, 200.0, 201.0, 202.0, 300.0, 301.0, 302.0, 400.0, 401.0, 402.0,
        110.0, 111.0, 112.0, 210.0, 211.0, 212.0, 310.0, 311.0, 312.0, 410.0, 411.0, 412.0,
    ];
    assert_eq!(floats(&y), expected);
    // Swapped operands give the same shape and values.
    let y = eval_ok(Op::Add, &[b, a], f32ty(&[2, 4, 3]));
    assert_eq!(floats(&y), expected);
}

#[test]
fn mul_broadcasts_scalars_and_rows() {
    // [2, 2] · scalar 2.
    let y = eval_ok(
        Op::Mul,
        &[fop(&[2, 2], &[1.0, -2.0, 3.0, 0.5]), fop(&[], &[2.0])],
        f32ty(&[2, 2]),
    );
    assert_eq!(floats(&y), [2.0, -4.0, 6.0, 1.0]);
    // [2, 3] · [3] scales the columns.
    let y = eval_ok(
        Op::Mul,
        &[iota(&[2, 3], 1.0), fop(&[3], &[1.0, 10.0, 100.0])],
        f32ty(&[2, 3]),
    );
    assert_eq!(floats(&y), [1.0, 20.0, 300.0, 4.0, 50.0, 600.0]);
    // Incompatible shapes are refused.
    let r = eval(
        Op::Add,
        &[iota(&[2, 3], 0.0), iota(&[2], 0.0)],
        f32ty(&[2, 3]),
    );
    assert!(unsupported_reason(r).contains("do not broadcast"));
}

#[test]
fn relu_and_clamp_edge_cases() {
    let y = floats(&eval_ok(
        Op::Relu,
        &[fop(&[5], &[-1.0, 0.0, -0.0, 2.0, f32::NAN])],
        f32ty(&[5]),
    ));
    assert_eq!(y[..4], [0.0, 0.0, 0.0, 2.0]);
    assert!(y[2].is_sign_positive(), "relu(−0.0) = +0.0");
    assert!(y[4].is_nan());

    let clamp = |min: f32, max: f32, x: &[f32]| {
        floats(&eval_ok(
            Op::Clamp {
                min: F32Attr(min),
                max: F32Attr(max),
            },
            &[fop(&[x.len()], x)],
            f32ty(&[x.len()]),
        ))
    };
    let y = clamp(-1.0, 1.0, &[-5.0, 0.5, 5.0, f32::NAN, -0.0, f32::INFINITY]);
    assert_eq!(y[..3], [-1.0, 0.5, 1.0]);
    assert!(y[3].is_nan());
    assert!(
        y[4] == 0.0 && y[4].is_sign_negative(),
        "−0.0 inside [−1, 1] stays"
    );
    assert_eq!(y[5], 1.0);
    // max(−0.0, +0.0) = +0.0 (IEEE maximum orders −0 below +0).
    let y = clamp(0.0, 6.0, &[-0.0, -3.0, 7.0]);
    assert!(y[0] == 0.0 && y[0].is_sign_positive());
    assert_eq!(y[1..], [0.0, 6.0]);
    // min > max is refused.
    let r = eval(
        Op::Clamp {
            min: F32Attr(1.0),
            max: F32Attr(0.0),
        },
        &[fop(&[1], &[0.5])],
        f32ty(&[1]),
    );
    assert!(unsupported_reason(r).contains("min ≤ max"));
}

#[test]
fn softmax_values_and_sums() {
    let sm = |shape: &[usize], axis: usize, x: &[f32]| {
        floats(&eval_ok(
            Op::Softmax { axis },
            &[fop(shape, x)],
            f32ty(shape),
        ))
    };
    // Equal inputs: exp(0) / n.
    assert_eq!(sm(&[2], 0, &[1.0, 1.0]), [0.5, 0.5]);
    assert_eq!(sm(&[4], 0, &[7.0; 4]), [0.25; 4]);
    // The maximum is subtracted first, so large inputs do not overflow.
    assert_eq!(sm(&[2], 0, &[1000.0, 1000.0]), [0.5, 0.5]);
    // [0, ln 3]: e = [1/3, 1] (after subtracting ln 3), y ≈ [0.25, 0.75].
    let y = sm(&[2], 0, &[0.0, 3f32.ln()]);
    assert!(
        (y[0] - 0.25).abs() < 1e-6 && (y[1] - 0.75).abs() < 1e-6,
        "{y:?}"
    );
    // Along axis 1 and along axis 0 of a [2, 3] tensor, sums are ~1.
    let x = [0.5, -1.0, 2.0, 3.0, 3.0, -7.0];
    let y = sm(&[2, 3], 1, &x);
    for row in y.chunks(3) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6, "{y:?}");
    }
    // Row 1 = [3, 3, −7]: the two equal entries are equal.
    assert_eq!(y[3], y[4]);
    let y = sm(&[2, 3], 0, &x);
    for col in 0..3 {
        assert!((y[col] + y[col + 3] - 1.0).abs() < 1e-6, "{y:?}");
    }
    // Column 1 = [−1, 3]: e = [e^−4, 1].
    let e4 = crate::elementwise::expf(-4.0);
    assert_eq!(y[1], e4 / (e4 + 1.0));
    // Middle axis of [2, 2, 2].
    let y = sm(&[2, 2, 2], 1, &[0.0, 5.0, 0.0, 5.0, 1.0, 2.0, 1.0, 2.0]);
    assert_eq!(y, [0.5; 8]);
}
