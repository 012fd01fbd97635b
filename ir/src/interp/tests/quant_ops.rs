//! quantize, dequantize, requantize.

use super::*;
use crate::op::RequantMode::{self, DoubleRound, Float, SingleRound};
use crate::quant::{Rescale, choose_params};
use ScalarType::{I4, I8, I16, I32, U4, U8};

fn quantize(x: &[f32], out: ElemType) -> Vec<i64> {
    let n = x.len();
    ints(&eval_ok(Op::Quantize, &[fop(&[n], x)], ty(&[n], out)))
}

#[test]
fn quantize_rounds_ties_to_even() {
    // x / 1 = x, ties to even.
    assert_eq!(
        quantize(
            &[2.5, 3.5, -2.5, -3.5, 0.5, 1.5, 1.25, -0.75],
            qt(I8, 1.0, 0)
        ),
        [2, 4, -2, -4, 0, 2, 1, -1]
    );
    // x / 0.5: 1.25 → 2.5 → 2; 1.75 → 3.5 → 4; −1.25 → −2.5 → −2; then + zp 10.
    assert_eq!(quantize(&[1.25, 1.75, -1.25], qt(U8, 0.5, 10)), [12, 14, 8]);
}

#[test]
fn quantize_saturates_at_both_ends() {
    let nan = f32::NAN;
    let inf = f32::INFINITY;
    assert_eq!(
        quantize(
            &[1000.0, -1000.0, 127.4, -128.4, inf, -inf, nan],
            qt(I8, 1.0, 0)
        ),
        [127, -128, 127, -128, 127, -128, 0]
    );
    // u8, zp 128, scale 0.5: 100 → 200 + 128 = 328 → 255; −100 → −72 → 0;
    // NaN → the zero point.
    assert_eq!(
        quantize(&[100.0, -100.0, nan], qt(U8, 0.5, 128)),
        [255, 0, 128]
    );
    // A narrow range saturates to its own ends.
    assert_eq!(
        quantize(&[-1000.0, 1000.0, -127.0], qnarrow(I8, -127, 127, 1.0, 0)),
        [-127, 127, -127]
    );
    assert_eq!(
        quantize(&[-5.0, 5.0, 2.0], qnarrow(U8, 1, 3, 1.0, 2)),
        [1, 3, 3]
    );
}

#[test]
fn per_axis_quantize_and_dequantize() {
    // Axis 1 of [2, 3]: channel c = column. scales [0.5, 1, 2], zps [0, 1, −1].
    // Row 0: 1/0.5 = 2; 1/1 + 1 = 2; 1/2 = 0.5 → 0, −1 → −1.
    // Row 1: −3/0.5 = −6; 2.5 → 2 (even), + 1 = 3; 5/2 = 2.5 → 2, −1 → 1.
    let qty = ty(&[2, 3], qaxis(I8, 1, &[0.5, 1.0, 2.0], &[0, 1, -1]));
    let x = fop(&[2, 3], &[1.0, 1.0, 1.0, -3.0, 2.5, 5.0]);
    let q = eval_ok(Op::Quantize, &[x], qty.clone());
    assert_eq!(ints(&q), [2, 2, -1, -6, 3, 1]);
    // Back: (2−0)·0.5, (2−1)·1, (−1+1)·2, (−6)·0.5, (3−1)·1, (1+1)·2.
    let d = eval_ok(Op::Dequantize, &[(qty, q.data)], f32ty(&[2, 3]));
    assert_eq!(floats(&d), [1.0, 1.0, 0.0, -3.0, 2.0, 4.0]);

    // Axis 0: channel = row. scales [0.25, 4]: −6/4 = −1.5 → −2.
    let qty0 = ty(&[2, 3], qaxis(I8, 0, &[0.25, 4.0], &[0, 0]));
    let x = fop(&[2, 3], &[0.25, 0.5, 0.75, 4.0, 8.0, -6.0]);
    assert_eq!(
        ints(&eval_ok(Op::Quantize, &[x], qty0)),
        [1, 2, 3, 1, 2, -2]
    );
}

#[test]
fn four_bit_values() {
    // i4, scale 0.5: 0, 2, 7, 7.5 → 8 → 7, 200 → 7, −8, −200 → −8, 1.5 → 2.
    let q = eval_ok(
        Op::Quantize,
        &[fop(&[8], &[0.0, 1.0, 3.5, 3.75, 100.0, -4.0, -100.0, 0.75])],
        ty(&[8], qt(I4, 0.5, 0)),
    );
    assert_eq!(q.data.scalar_type(), I4);
    assert_eq!(ints(&q), [0, 2, 7, 7, 7, -8, -8, 2]);
    // Packed two to a byte, low nibble first: (0, 2) → 0x20, (7, 7) → 0x77,
    // (7, −8) → 0x87, (−8, 2) → 0x28.
    assert_eq!(q.data.to_le_bytes(), [0x20, 0x77, 0x87, 0x28]);

    // u4, zero point 8: −8 → 0, 7 → 15, 8 → 16 → 15, −9 → −1 → 0, 0.5 → 0 → 8.
    let u = eval_ok(
        Op::Quantize,
        &[fop(&[5], &[-8.0, 7.0, 8.0, -9.0, 0.5])],
        ty(&[5], qt(U4, 1.0, 8)),
    );
    assert_eq!(ints(&u), [0, 15, 15, 0, 8]);

    // Dequantize i4 codes with zp −1, scale 0.25: (−8+1)/4, (7+1)/4, (1+1)/4.
    let d = eval_ok(
        Op::Dequantize,
        &[iop(ty(&[3], qt(I4, 0.25, -1)), &[-8, 7, 1])],
        f32ty(&[3]),
    );
    assert_eq!(floats(&d), [-1.75, 2.0, 0.5]);
    // u4 codes, zp 8, scale 2: (0−8)·2, (15−8)·2.
    let d = eval_ok(
        Op::Dequantize,
        &[iop(ty(&[2], qt(U4, 2.0, 8)), &[0, 15])],
        f32ty(&[2]),
    );
    assert_eq!(floats(&d), [-16.0, 14.0]);
}

#[test]
fn worked_example_weights_to_int8() {
    // Weights in [−1.2, 0.8] to i8: scale 2/255, zero point round(−128 + 153) = 25.
    let (scale, zp) = choose_params(-1.2, 0.8, -128, 127);
    assert_eq!(zp, 25);
    assert!((scale - 0.0078431).abs() < 1e-7);
    assert_eq!(
        quantize(&[-1.2, 0.0, 0.8], qt(I8, scale, zp)),
        [-128, 25, 127]
    );
}

/// Requantizes the i32 accumulator codes `x` (scale `s_in`, zero point 0)
/// to `out` (shape `[n]`) in `mode`.
fn requant(x: &[i64], s_in: f32, out: ElemType, mode: RequantMode) -> Vec<i64> {
    let n = x.len();
    let input = iop(ty(&[n], qt(I32, s_in, 0)), x);
    ints(&eval_ok(Op::Requantize { mode }, &[input], ty(&[n], out)))
}

#[test]
fn requantize_modes_differ_at_ties() {
    // M = 0.375 = 3/8 (fixed point: m = 3·2^29, shift −1).
    //   x  | exact | float (even) | single (half up) | double (srdhm, then ÷2 away)
    //   6  |  2.25 |  2           |  2               | srdhm 4.5 → 5, 2.5 → 3
    //  −6  | −2.25 | −2           | −2               | srdhm −4.5 → −4, −2
    //   4  |  1.5  |  2           |  2               | 3, 1.5 → 2
    //  −4  | −1.5  | −2           | −1               | −3.5 → −3, −1.5 → −2
    //  12  |  4.5  |  4           |  5               | 9, 4.5 → 5
    // −12  | −4.5  | −4           | −4               | −9, −4.5 → −5
    // Then + zero point 10.
    let x = [6, -6, 4, -4, 12, -12];
    let out = qt(I16, 1.0, 10);
    assert_eq!(
        requant(&x, 0.375, out.clone(), Float),
        [12, 8, 12, 8, 14, 6]
    );
    assert_eq!(
        requant(&x, 0.375, out.clone(), SingleRound),
        [12, 8, 12, 9, 15, 6]
    );
    assert_eq!(requant(&x, 0.375, out, DoubleRound), [13, 8, 12, 8, 15, 5]);

    // M = 0.5 (shift 0: only srdhm rounds, ties towards +∞).
    // 2.5, −2.5, 3.5, −3.5.
    let x = [5, -5, 7, -7];
    let out = qt(I8, 1.0, 0);
    assert_eq!(requant(&x, 0.5, out.clone(), Float), [2, -2, 4, -4]);
    assert_eq!(requant(&x, 0.5, out.clone(), SingleRound), [3, -2, 4, -3]);
    assert_eq!(requant(&x, 0.5, out, DoubleRound), [3, -2, 4, -3]);
}

#[test]
fn requantize_multipliers_from_2_pow_minus_30_to_2_pow_8() {
    let out = qt(I32, 1.0, 0);
    for k in -30..=8 {
        let m = 2f32.powi(k);
        for mode in RequantMode::ALL {
            let at = |x: &[i64]| requant(x, m, out.clone(), mode);
            if k >= 0 {
                // Exact products: 3·2^k and −7·2^k.
                assert_eq!(at(&[3, -7]), [3 << k, -7 << k], "{mode} 2^{k}");
                continue;
            }
            // x = 3·2^(−k−1): x·M = 1.5, which every mode rounds to 2; for
            // −1.5: float → −2 (even), single → −1 (half up), double → −1
            // when k = −1 (only srdhm rounds, ties towards +∞), else −2
            // (srdhm exact, the rounding shift rounds ties away from 0).
            let x = 3i64 << (-k - 1);
            let neg = match mode {
                Float => -2,
                SingleRound => -1,
                DoubleRound if k == -1 => -1,
                DoubleRound => -2,
            };
            assert_eq!(at(&[x, -x]), [2, neg], "{mode} 2^{k}");
            // x = 5·2^(−k−1): 2.5 → float 2, single 3, double 3; −2.5 →
            // float −2, single −2, double −2 (k = −1) or −3. (5·2^29 does
            // not fit in i32, so not for k = −30.)
            if k > -30 {
                let x = 5i64 << (-k - 1);
                let expected = match mode {
                    Float => [2, -2],
                    SingleRound => [3, -2],
                    DoubleRound if k == -1 => [3, -2],
                    DoubleRound => [3, -3],
                };
                assert_eq!(at(&[x, -x]), expected, "{mode} 2^{k}");
            }
        }
    }
}

#[test]
fn requantize_saturates_at_both_ends() {
    // M = 256: 2^20·256 = 2^28 → 32767 in i16; −2^20 → −32768. In
    // double_round the left shift by 9 itself saturates to i32 first
    // (2^20 · 2^9 = 2^29 does not; 2^30 · 2^9 does): both end at the i16 ends.
    for mode in RequantMode::ALL {
        assert_eq!(
            requant(
                &[1 << 20, -(1 << 20), 1 << 30, 100],
                256.0,
                qt(I16, 1.0, 0),
                mode
            ),
            [32767, -32768, 32767, 25600],
            "{mode}"
        );
        // u8 with zero point 200: −300·0.5 = −150 + 200 = 50; 300·0.5 + 200 = 350 → 255;
        // −1000·0.5 + 200 → −300 → 0.
        assert_eq!(
            requant(&[-300, 300, -1000], 0.5, qt(U8, 1.0, 200), mode),
            [50, 255, 0],
            "{mode}"
        );
    }
}

#[test]
fn requantize_from_an_i32_accumulator_to_u8() {
    // Accumulator scale 0.001 → u8 scale 0.05, zp 128: M ≈ 0.02.
    // 1000 → 20 → 148; −1000 → −20 → 108; 12345 → 246.9 → 247 → 375 → 255;
    // 0 → 128; −6400 → −128 → 0; 26 → 0.52 → 1 → 129.
    for mode in RequantMode::ALL {
        assert_eq!(
            requant(
                &[1000, -1000, 12345, 0, -6400, 26],
                0.001,
                qt(U8, 0.05, 128),
                mode
            ),
            [148, 108, 255, 128, 0, 129],
            "{mode}"
        );
    }
    // A non-zero input zero point is subtracted first (exactly, then
    // saturated to i32): (1 − (−3))·0.5 = 2; (i32::MIN − 5) saturates to
    // −2^31, ·2^−24 = −128.
    let input = iop(ty(&[1], qt(I32, 0.5, -3)), &[1]);
    let y = eval_ok(
        Op::Requantize { mode: Float },
        &[input],
        ty(&[1], qt(I8, 1.0, 0)),
    );
    assert_eq!(ints(&y), [2]);
    let input = iop(ty(&[1], qt(I32, 2f32.powi(-24), 5)), &[i32::MIN as i64]);
    for mode in RequantMode::ALL {
        let y = eval_ok(
            Op::Requantize { mode },
            &[input.clone()],
            ty(&[1], qt(I16, 1.0, 0)),
        );
        assert_eq!(ints(&y), [-128], "{mode}");
    }
}

#[test]
fn requantize_per_axis() {
    // An NCHW-like accumulator [1, 2, 2], per axis on axis 1 (scales 0.5,
    // 0.25), to i8 per tensor (scale 1): channel 0: 3·0.5 = 1.5 → 2,
    // 4·0.5 = 2; channel 1: 5·0.25 = 1.25 → 1, 6·0.25 = 1.5 → 2. Except
    // double_round at 1.25: M = 0.25 is m = 2^30, shift −1; srdhm(5, 2^30)
    // = 2.5 → 3, then 3 / 2 = 1.5 → 2 (two roundings).
    let input = iop(
        ty(&[1, 2, 2], qaxis(I32, 1, &[0.5, 0.25], &[0, 0])),
        &[3, 4, 5, 6],
    );
    for mode in RequantMode::ALL {
        let y = eval_ok(
            Op::Requantize { mode },
            &[input.clone()],
            ty(&[1, 2, 2], qt(I8, 1.0, 0)),
        );
        let expected = match mode {
            Float | SingleRound => [2, 2, 1, 2],
            DoubleRound => [2, 2, 2, 2],
        };
        assert_eq!(ints(&y), expected, "{mode}");
    }
    // Per tensor in, per axis out (axis 0 of [2, 2]): scale 1 → scales
    // [0.5, 2] with zps [1, −1]: row 0: 3/0.5 + 1 = 7, −1/0.5 + 1 = −1;
    // row 1: 3/2 = 1.5 → 2 − 1 = 1, 5/2 = 2.5 → 2 (even) − 1 = 1.
    let input = iop(ty(&[2, 2], qt(I8, 1.0, 0)), &[3, -1, 3, 5]);
    let y = eval_ok(
        Op::Requantize { mode: Float },
        &[input],
        ty(&[2, 2], qaxis(I8, 0, &[0.5, 2.0], &[1, -1])),
    );
    assert_eq!(ints(&y), [7, -1, 1, 1]);
    // Both per axis on the same axis: channel c uses s_in[c] / s_out[c].
    // Column 0: 0.5/0.25 = 2 → 3·2 = 6; column 1: 1/4 → 8/4 = 2, 6/4 = 1.5 → 2.
    let input = iop(
        ty(&[2, 2], qaxis(I8, 1, &[0.5, 1.0], &[0, 0])),
        &[3, 8, -3, 6],
    );
    let y = eval_ok(
        Op::Requantize { mode: Float },
        &[input],
        ty(&[2, 2], qaxis(I8, 1, &[0.25, 4.0], &[0, 0])),
    );
    assert_eq!(ints(&y), [6, 2, -6, 2]);
}

#[test]
fn requantize_refuses_multipliers_of_2_pow_31_in_every_mode() {
    let input = iop(ty(&[1], qt(I32, 2f32.powi(31), 0)), &[1]);
    for mode in [SingleRound, DoubleRound] {
        let r = eval(
            Op::Requantize { mode },
            &[input.clone()],
            ty(&[1], qt(I32, 1.0, 0)),
        );
        assert!(unsupported_reason(r).contains("not below 2^31"));
    }
    // The same bound in float mode (docs/semantics.md: one rule in every
    // stage), so a float-mode 2^31 is refused too.
    let r = eval(
        Op::Requantize { mode: Float },
        &[input],
        ty(&[1], qt(I32, 1.0, 0)),
    );
    assert!(unsupported_reason(r).contains("not below 2^31"));
}

#[test]
fn dequantize_of_wide_codes() {
    // i32 storage: (q − z) is exact in i64, then rounded once to f32.
    let d = eval_ok(
        Op::Dequantize,
        &[iop(ty(&[2], qt(I32, 1.0, -2)), &[i32::MAX as i64, 7])],
        f32ty(&[2]),
    );
    // 2^31 − 1 + 2 = 2^31 + 1 → nearest f32 is 2^31.
    assert_eq!(floats(&d), [2147483648.0, 9.0]);
}

#[test]
fn the_2_pow_31_corner_of_the_fixed_point_multiplier_is_refused() {
    // M = 2^63 / (1.5 · 2863311531) = 2^63 / (2^32 + 0.5) ≈ 2^31 − 0.25 is
    // below 2^31, but q · 2^31 rounds up to 2^31, so step 3 makes e = 32: no
    // rescale is defined (an average over 2863311531 elements would need it).
    let (s_in, s_out, count) = (2f32.powi(63), 1.5f32, 2863311531u32);
    assert!(Rescale::real_multiplier(s_in, s_out, count) < crate::quant::MAX_MULTIPLIER);
    for mode in [SingleRound, DoubleRound] {
        let e = super::super::rescale(mode, s_in, s_out, count).unwrap_err();
        assert!(e.contains("rounds to 2^31"), "{e}");
    }
    assert!(super::super::rescale(Float, s_in, s_out, count).is_ok());
    // Just below the corner: M = 2^31 − 128 (s_in = 2^31 − 128) is fine.
    let r = super::super::rescale(SingleRound, 2147483520.0, 1.0, 1).unwrap();
    assert_eq!(r.apply(1), 2147483520);
}

#[test]
fn u16_storage() {
    // u16, scale 0.25, zero point 30000: 0.5 → 2 + 30000 = 30002; −1e9 and
    // 1e9 saturate to 0 and 65535; 0.375 / 0.25 = 1.5 → 2 (ties to even).
    let out = ty(&[4], qt(ScalarType::U16, 0.25, 30000));
    let y = eval_ok(
        Op::Quantize,
        &[fop(&[4], &[0.5, -1e9, 1e9, 0.375])],
        out.clone(),
    );
    assert_eq!(ints(&y), [30002, 0, 65535, 30002]);
    assert_eq!(y.data.scalar_type(), ScalarType::U16);
    // Back: (q − 30000) · 0.25.
    let d = eval_ok(
        Op::Dequantize,
        &[iop(out.with_shape(vec![3]), &[30002, 0, 65535])],
        f32ty(&[3]),
    );
    assert_eq!(floats(&d), [0.5, -7500.0, 8883.75]);
}
