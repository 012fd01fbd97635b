//! Accumulator bounds of matmul_int and conv2d_int.

use super::*;
use crate::op::Conv2dAttrs;
use crate::verify::accumulator_bounds;

/// `x [1, K]` u8 (zero point `zx`) times `w [K, N]`, as an input or a constant.
fn matmul(
    k: usize,
    n: usize,
    zx: i64,
    w: Option<Vec<i64>>,
    bias: Option<Vec<i64>>,
) -> (Graph, ValueId) {
    let mut g = Graph::new("t");
    let x = g.add_input("x", ty(&[1, k], qt(U8, 0.02, zx)));
    let wt = ty(&[k, n], qt(I8, 0.01, 0));
    let w = match w {
        Some(data) => g.add_const(ints(I8, &data), wt),
        None => g.add_input("w", wt),
    };
    let mut args = vec![x, w];
    if let Some(b) = bias {
        args.push(g.add_const(ints(I32, &b), int(&[n], I32)));
    }
    let y = g.add_node(
        Op::MatMulInt(crate::op::IntAttrs::default()),
        &args,
        int(&[1, n], I32),
    );
    g.add_output("y", y);
    (g, y)
}

#[test]
fn zero_point_in_the_middle_halves_the_bound() {
    // max|x − 128| = 128: 128 · 128 · 70000 = 1146880000 fits.
    let (g, _) = matmul(70000, 2, 128, None, None);
    assert_ok(&g);
}

#[test]
fn constant_weights_give_a_tighter_bound() {
    // Same K, but every weight is 1: 255 · 70000 fits.
    let (g, y) = matmul(70000, 2, 0, Some(vec![1; 140000]), None);
    assert_ok(&g);
    let b = accumulator_bounds(&g, y).unwrap();
    assert!(b.w_from_data);
    assert_eq!(b.channel(0).unwrap().total(), 255 * 70000);
}

#[test]
fn per_axis_zero_points_of_the_weights() {
    // Weights u8 per axis with zero points 0 and 128: the largest |w − zw|
    // is 255 and 128.
    let mut g = Graph::new("t");
    let x = g.add_input("x", ty(&[1, 4], qt(U8, 0.02, 0)));
    let w = g.add_input("w", ty(&[4, 2], qax(U8, 1, &[0.01, 0.01], &[0, 128])));
    let y = g.add_node(
        Op::MatMulInt(crate::op::IntAttrs::default()),
        &[x, w],
        int(&[1, 2], I32),
    );
    g.add_output("y", y);
    let b = accumulator_bounds(&g, y).unwrap();
    assert_eq!(b.channel(0).unwrap().total(), 255 * 255 * 4);
    assert_eq!(b.channel(1).unwrap().total(), 255 * 128 * 4);
}

#[test]
fn conv2d_int_constant_weights_per_output_channel() {
    // Channel o reads w[o, .., .., ..]; channel 1's weights are 0.
    let mut g = Graph::new("t");
    let x = g.add_input("x", ty(&[1, 2, 2, 2], qt(I8, 0.5, 0)));
    let mut data = vec![3i64; 8];
    data.extend([0; 8]);
    let w = g.add_const(ints(I8, &data), ty(&[2, 2, 2, 2], qt(I8, 0.25, 0)));
    let y = g.add_node(
        Op::Conv2dInt(Conv2dAttrs::default(), crate::op::IntAttrs::default()),
        &[x, w],
        int(&[1, 2, 1, 1], I32),
    );
    g.add_output("y", y);
    assert_ok(&g);
    let b = accumulator_bounds(&g, y).unwrap();
    assert_eq!(b.channel(0).unwrap().total(), 128 * 3 * 8);
    assert_eq!(b.channel(1).unwrap().total(), 0);
}

/// `matmul_int_dyn x [1, K] u8, w [K, N] i8` with run-time `zx`; `w` and
/// `zw` constants or inputs.
fn matmul_dyn(k: usize, w: Option<Vec<i64>>, zw: Option<i64>) -> (Graph, ValueId) {
    let mut g = Graph::new("t");
    let x = g.add_input("x", int(&[1, k], U8));
    let zx = g.add_input("zx", int(&[], U8));
    let w = match w {
        Some(data) => g.add_const(ints(I8, &data), int(&[k, 1], I8)),
        None => g.add_input("w", int(&[k, 1], I8)),
    };
    let zw = match zw {
        Some(z) => g.add_const(ints(I8, &[z]), int(&[], I8)),
        None => g.add_input("zw", int(&[], I8)),
    };
    let y = g.add_node(Op::MatMulIntDyn, &[x, w, zx, zw], int(&[1, 1], I32));
    g.add_output("y", y);
    (g, y)
}

#[test]
fn dynamic_bounds_from_constant_weights() {
    // w = 3 everywhere: with zw = 1 constant, |w − zw| = 2; with zw a
    // run-time value, max(|3 − (−128)|, |127 − 3|) = 131.
    let (g, y) = matmul_dyn(4, Some(vec![3; 4]), Some(1));
    assert_eq!(
        accumulator_bounds(&g, y).unwrap().channel(0).unwrap().w_sum,
        8
    );
    let (g, y) = matmul_dyn(4, Some(vec![3; 4]), None);
    assert_eq!(
        accumulator_bounds(&g, y).unwrap().channel(0).unwrap().w_sum,
        4 * 131
    );
    assert_eq!(
        accumulator_bounds(&g, y).unwrap().channel(0).unwrap().x_dev,
        255
    );
}

#[test]
fn constant_weight_sums_are_exact_across_row_blocks() {
    // K = 70000 rows cross the 2^16-row blocks of narrow sums; column 0
    // holds −128 and 127 alternately, column 1 the row number mod 256 as i8.
    let k = 70000;
    let data: Vec<i64> = (0..k)
        .flat_map(|r| [if r % 2 == 0 { -128 } else { 127 }, (r % 256) as i8 as i64])
        .collect();
    let want: [u128; 2] = [
        data.iter()
            .step_by(2)
            .map(|v| v.unsigned_abs() as u128)
            .sum(),
        data.iter()
            .skip(1)
            .step_by(2)
            .map(|v| v.unsigned_abs() as u128)
            .sum(),
    ];
    let (g, y) = matmul(k, 2, 0, Some(data), None);
    let b = accumulator_bounds(&g, y).unwrap();
    assert_eq!(b.channel(0).unwrap().w_sum, want[0]);
    assert_eq!(b.channel(1).unwrap().w_sum, want[1]);
}
