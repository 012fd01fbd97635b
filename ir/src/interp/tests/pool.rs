//! maxpool2d, avgpool2d, global_avgpool.

use super::*;
use crate::op::Pool2dAttrs;
use crate::op::RequantMode::{self, DoubleRound, Float, SingleRound};
use ScalarType::{I8, U8};

fn pool(kernel: [usize; 2], strides: [usize; 2], pads: [usize; 4]) -> Pool2dAttrs {
    Pool2dAttrs {
        strides,
        pads,
        ..Pool2dAttrs::new(kernel)
    }
}

fn nine(from: f32, step: f32) -> Operand {
    let v: Vec<f32> = (0..9).map(|i| from + step * i as f32).collect();
    fop(&[1, 1, 3, 3], &v)
}

#[test]
fn maxpool_f32_ignores_padding() {
    // x = [1 2 3; 4 5 6; 7 8 9], 2×2, stride 1: [5 6; 8 9].
    let y = eval_ok(
        Op::MaxPool2d(pool([2, 2], [1, 1], [0; 4])),
        &[nine(1.0, 1.0)],
        f32ty(&[1, 1, 2, 2]),
    );
    assert_eq!(floats(&y), [5.0, 6.0, 8.0, 9.0]);
    // x = −1..−9 with pads top 1, left 1: OH = OW = 3 + 1 − 2 + 1 = 3.
    // Window (r, c) covers rows r−1..r, cols c−1..c; the padding never wins:
    // (0,0) {−1}; (0,1) {−1,−2}; (0,2) {−2,−3}; (1,0) {−1,−4};
    // (1,1) {−1,−2,−4,−5}; (1,2) {−2,−3,−5,−6}; (2,0) {−4,−7};
    // (2,1) {−4,−5,−7,−8}; (2,2) {−5,−6,−8,−9}.
    let y = eval_ok(
        Op::MaxPool2d(pool([2, 2], [1, 1], [1, 1, 0, 0])),
        &[nine(-1.0, -1.0)],
        f32ty(&[1, 1, 3, 3]),
    );
    assert_eq!(
        floats(&y),
        [-1.0, -1.0, -2.0, -1.0, -1.0, -2.0, -4.0, -4.0, -5.0]
    );
    // NaN wins; +0.0 beats −0.0.
    let y = eval_ok(
        Op::MaxPool2d(pool([1, 2], [1, 2], [0; 4])),
        &[fop(&[1, 1, 1, 4], &[f32::NAN, 1.0, -0.0, 0.0])],
        f32ty(&[1, 1, 1, 2]),
    );
    let y = floats(&y);
    assert!(y[0].is_nan());
    assert!(y[1] == 0.0 && y[1].is_sign_positive());
}

#[test]
fn maxpool_quantized_compares_codes() {
    // u8 zp 128, stride 2: max of each 2×2 block of a 2×4 input.
    let t = |h: usize, w: usize| ty(&[1, 1, h, w], qt(U8, 0.1, 128));
    let y = eval_ok(
        Op::MaxPool2d(pool([2, 2], [2, 2], [0; 4])),
        &[iop(t(2, 4), &[0, 3, 200, 129, 1, 2, 128, 255])],
        t(1, 2),
    );
    assert_eq!(ints(&y), [3, 255]);
}

#[test]
fn avgpool_f32_with_and_without_count_include_pad() {
    // x = [1 2 3; 4 5 6; 7 8 9], 2×2, pads 1: OH = OW = 3 + 2 − 2 + 1 = 4.
    // Window (r, c) covers rows r−1..r, cols c−1..c; real sums / counts:
    // row 0: 1/1, 3/2, 5/2, 3/1;  row 1: 5/2, 12/4, 16/4, 9/2;
    // row 2: 11/2, 24/4, 28/4, 15/2;  row 3: 7/1, 15/2, 17/2, 9/1.
    let mut attrs = pool([2, 2], [1, 1], [1, 1, 1, 1]);
    let y = eval_ok(
        Op::AvgPool2d(attrs.clone()),
        &[nine(1.0, 1.0)],
        f32ty(&[1, 1, 4, 4]),
    );
    #[rustfmt::skip]
    assert_eq!(floats(&y), [
        1.0, 1.5, 2.5, 3.0,
        2.5, 3.0, 4.0, 4.5,
        5.5, 6.0, 7.0, 7.5,
        7.0, 7.5, 8.5, 9.0,
    ]);
    // count_include_pad: every sum divided by 4.
    attrs.count_include_pad = true;
    let y = eval_ok(
        Op::AvgPool2d(attrs),
        &[nine(1.0, 1.0)],
        f32ty(&[1, 1, 4, 4]),
    );
    #[rustfmt::skip]
    assert_eq!(floats(&y), [
        0.25, 0.75, 1.25, 0.75,
        1.25, 3.0, 4.0, 2.25,
        2.75, 6.0, 7.0, 3.75,
        1.75, 3.75, 4.25, 2.25,
    ]);
}

fn qavg(attrs: Pool2dAttrs, x: Operand, out: TensorType) -> Vec<i64> {
    ints(&eval_ok(Op::AvgPool2d(attrs), &[x], out))
}

#[test]
fn avgpool_quantized_in_every_mode() {
    // u8 scale 1 → u8 scale 1, 2×2 on [1 2; 3 4]: 10 / 4 = 2.5:
    // float 2 (even), single 3 (half up), double: srdhm(10, 2^30) = 5, then
    // 5 / 2 = 2.5 → 3.
    let x = iop(ty(&[1, 1, 2, 2], qt(U8, 1.0, 0)), &[1, 2, 3, 4]);
    let out = ty(&[1, 1, 1, 1], qt(U8, 1.0, 0));
    let expect = |mode: RequantMode| match mode {
        Float => 2,
        SingleRound | DoubleRound => 3,
    };
    for mode in RequantMode::ALL {
        let attrs = Pool2dAttrs {
            mode,
            ..Pool2dAttrs::new([2, 2])
        };
        assert_eq!(
            qavg(attrs, x.clone(), out.clone()),
            [expect(mode)],
            "{mode}"
        );
    }
    // Zero points and scales: x zp 1 scale 0.5, y zp 3 scale 0.25:
    // M = 0.5 / (0.25 · 4) = 0.5; [1 2; 3 5] → acc 0+1+2+4 = 7 → 3.5 → 4
    // in every mode (even, half up, srdhm ties up) → + 3 = 7.
    let x = iop(ty(&[1, 1, 2, 2], qt(U8, 0.5, 1)), &[1, 2, 3, 5]);
    for mode in RequantMode::ALL {
        let attrs = Pool2dAttrs {
            mode,
            ..Pool2dAttrs::new([2, 2])
        };
        assert_eq!(
            qavg(attrs, x.clone(), ty(&[1, 1, 1, 1], qt(U8, 0.25, 3))),
            [7],
            "{mode}"
        );
    }
}

#[test]
fn avgpool_quantized_count_include_pad() {
    // [10 20; 30 41], 2×2 window, pads 1, strides 2: each window holds one
    // real element (the four corners).
    // Without count_include_pad the count is 1: the codes come back.
    // With it, count 4: 2.5, 5, 7.5, 10.25 →
    //   float  2, 5, 8, 10;
    //   single 3, 5, 8, 10 (half up; 10.25 → 10);
    //   double 3, 5, 8, 11: srdhm(41, 2^30) = 20.5 → 21, then 21/2 = 10.5 → 11
    //   (double rounding).
    let x = iop(ty(&[1, 1, 2, 2], qt(U8, 1.0, 0)), &[10, 20, 30, 41]);
    let out = ty(&[1, 1, 2, 2], qt(U8, 1.0, 0));
    let expected = |mode: RequantMode| match mode {
        Float => [2, 5, 8, 10],
        SingleRound => [3, 5, 8, 10],
        DoubleRound => [3, 5, 8, 11],
    };
    for mode in RequantMode::ALL {
        let mut attrs = Pool2dAttrs {
            mode,
            ..pool([2, 2], [2, 2], [1, 1, 1, 1])
        };
        assert_eq!(
            qavg(attrs.clone(), x.clone(), out.clone()),
            [10, 20, 30, 41],
            "{mode}"
        );
        attrs.count_include_pad = true;
        assert_eq!(
            qavg(attrs, x.clone(), out.clone()),
            expected(mode),
            "{mode}"
        );
    }
}

#[test]
fn global_avgpool_f32_and_quantized() {
    // Channel means: (1+2+3+4)/4 = 2.5, (1+1+1+2)/4 = 1.25.
    let y = eval_ok(
        Op::GlobalAvgPool { mode: Float },
        &[fop(
            &[1, 2, 2, 2],
            &[1.0, 2.0, 3.0, 4.0, 1.0, 1.0, 1.0, 2.0],
        )],
        f32ty(&[1, 2, 1, 1]),
    );
    assert_eq!(floats(&y), [2.5, 1.25]);
    // u8 scale 0.5 zp 10 → u8 scale 0.25 zp 5, M = 0.5 / (0.25 · 4) = 0.5.
    // Channel 0 [10 11 12 14]: acc 7 → 3.5 → 4 (all modes) → 9.
    // Channel 1 [9 9 9 10]: acc −3 → −1.5 → float −2, single −1,
    // double −1 (srdhm ties towards +∞) → 3, 4, 4.
    let x = iop(
        ty(&[1, 2, 2, 2], qt(U8, 0.5, 10)),
        &[10, 11, 12, 14, 9, 9, 9, 10],
    );
    let out = ty(&[1, 2, 1, 1], qt(U8, 0.25, 5));
    for (mode, expected) in [
        (Float, [9, 3]),
        (SingleRound, [9, 4]),
        (DoubleRound, [9, 4]),
    ] {
        let y = eval_ok(Op::GlobalAvgPool { mode }, &[x.clone()], out.clone());
        assert_eq!(ints(&y), expected, "{mode}");
    }
    // i8 in, i8 out with saturation: 4 × 127 at scale 1 → y scale 0.25:
    // 127 / 0.25 = 508 → 127.
    let x = iop(ty(&[1, 1, 2, 2], qt(I8, 1.0, 0)), &[127; 4]);
    let y = eval_ok(
        Op::GlobalAvgPool { mode: Float },
        &[x],
        ty(&[1, 1, 1, 1], qt(I8, 0.25, 0)),
    );
    assert_eq!(ints(&y), [127]);
}

#[test]
fn pools_refuse_pads_as_large_as_the_kernel() {
    let r = eval(
        Op::MaxPool2d(pool([2, 2], [1, 1], [2, 0, 0, 0])),
        &[nine(1.0, 1.0)],
        f32ty(&[1, 1, 4, 2]),
    );
    assert!(unsupported_reason(r).contains("smaller than the kernel"));
    // A plain-integer average has no scales.
    let r = eval(
        Op::AvgPool2d(pool([1, 1], [1, 1], [0; 4])),
        &[iop(ty(&[1, 1, 1, 1], scalar(I8)), &[1])],
        ty(&[1, 1, 1, 1], scalar(I8)),
    );
    assert!(unsupported_reason(r).contains("quantized per tensor"));
}
