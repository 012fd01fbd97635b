//! reshape, flatten, transpose, slice, concat.

use super::*;
use ScalarType::{I8, U8};

fn iota_f(shape: &[usize]) -> Operand {
    let n: usize = shape.iter().product();
    fop(shape, &(0..n).map(|i| i as f32).collect::<Vec<_>>())
}

#[test]
fn reshape_and_flatten_keep_row_major_data() {
    let x = iota_f(&[2, 3, 4]);
    let data: Vec<f32> = (0..24).map(|i| i as f32).collect();
    assert_eq!(
        floats(&eval_ok(Op::Reshape, &[x.clone()], f32ty(&[4, 6]))),
        data
    );
    assert_eq!(
        floats(&eval_ok(
            Op::Flatten { axis: 2 },
            &[x.clone()],
            f32ty(&[6, 4])
        )),
        data
    );
    assert_eq!(
        floats(&eval_ok(
            Op::Flatten { axis: 0 },
            &[x.clone()],
            f32ty(&[1, 24])
        )),
        data
    );
    assert_eq!(
        floats(&eval_ok(
            Op::Flatten { axis: 3 },
            &[x.clone()],
            f32ty(&[24, 1])
        )),
        data
    );
    // Quantized codes are carried unchanged.
    let t = |s: &[usize]| ty(s, qt(U8, 0.5, 7));
    let y = eval_ok(Op::Reshape, &[iop(t(&[2, 2]), &[1, 2, 3, 4])], t(&[4]));
    assert_eq!(ints(&y), [1, 2, 3, 4]);
    // A count mismatch and a per-axis operand are refused.
    let r = eval(Op::Reshape, &[x], f32ty(&[5, 5]));
    assert!(unsupported_reason(r).contains("element counts differ"));
    let pa = ty(&[2, 2], qaxis(I8, 0, &[1.0, 2.0], &[0, 0]));
    let r = eval(
        Op::Flatten { axis: 1 },
        &[iop(pa.clone(), &[1, 2, 3, 4])],
        pa,
    );
    assert!(unsupported_reason(r).contains("per-axis"));
}

#[test]
fn transpose_moves_dimensions() {
    // [2, 3, 4] with perm [2, 0, 1] → [4, 2, 3], y[i, j, k] = x[j, k, i] =
    // 12j + 4k + i.
    let y = eval_ok(
        Op::Transpose {
            perm: vec![2, 0, 1],
        },
        &[iota_f(&[2, 3, 4])],
        f32ty(&[4, 2, 3]),
    );
    #[rustfmt::skip]
    let expected = [
        0.0, 4.0, 8.0, 12.0, 16.0, 20.0,
        1.0, 5.0, 9.0, 13.0, 17.0, 21.0,
        2.0, 6.0, 10.0, 14.0, 18.0, 22.0,
        3.0, 7.0, 11.0, 15.0, 19.0, 23.0,
    ];
    assert_eq!(floats(&y), expected);
    // The identity permutation, and a rank-1 tensor.
    let y = eval_ok(
        Op::Transpose { perm: vec![0] },
        &[iota_f(&[3])],
        f32ty(&[3]),
    );
    assert_eq!(floats(&y), [0.0, 1.0, 2.0]);
    let r = eval(
        Op::Transpose { perm: vec![0, 0] },
        &[iota_f(&[2, 2])],
        f32ty(&[2, 2]),
    );
    assert!(unsupported_reason(r).contains("not a permutation"));
}

#[test]
fn transpose_of_a_per_axis_tensor_moves_its_axis() {
    // [2, 3] per axis on axis 1 (scales 1, 2, 4) → [3, 2] per axis on axis 0.
    // Codes [1 2 3; 4 5 6] → [1 4; 2 5; 3 6]; dequantized row by row with
    // the scales of the moved axis: [1 4; 4 10; 12 24].
    let scales = [1.0, 2.0, 4.0];
    let mut g = Graph::new("t");
    let x = g.add_input("x", ty(&[2, 3], qaxis(I8, 1, &scales, &[0, 0, 0])));
    let t = g.add_node(
        Op::Transpose { perm: vec![1, 0] },
        &[x],
        ty(&[3, 2], qaxis(I8, 0, &scales, &[0, 0, 0])),
    );
    let d = g.add_node(Op::Dequantize, &[t], f32ty(&[3, 2]));
    g.add_output("codes", t);
    g.add_output("real", d);
    let input = tensor(&iop(g.ty(x).clone(), &[1, 2, 3, 4, 5, 6]));
    let y = run(&g, &[input]).unwrap();
    assert_eq!(ints(&y[0]), [1, 4, 2, 5, 3, 6]);
    assert_eq!(floats(&y[1]), [1.0, 4.0, 4.0, 10.0, 12.0, 24.0]);
}

#[test]
fn concat_along_each_axis() {
    // [2, 1] ++ [2, 2] along axis 1: rows [1 | 3 4], [2 | 5 6].
    let y = eval_ok(
        Op::Concat { axis: 1 },
        &[
            fop(&[2, 1], &[1.0, 2.0]),
            fop(&[2, 2], &[3.0, 4.0, 5.0, 6.0]),
        ],
        f32ty(&[2, 3]),
    );
    assert_eq!(floats(&y), [1.0, 3.0, 4.0, 2.0, 5.0, 6.0]);
    // Along axis 0, quantized with the same parameters, three operands.
    let t = |rows: usize| ty(&[rows, 2], qt(U8, 0.25, 3));
    let y = eval_ok(
        Op::Concat { axis: 0 },
        &[
            iop(t(1), &[1, 2]),
            iop(t(2), &[3, 4, 5, 6]),
            iop(t(1), &[7, 8]),
        ],
        t(4),
    );
    assert_eq!(ints(&y), [1, 2, 3, 4, 5, 6, 7, 8]);
    // Middle axis of rank 3: [2, 1, 2] ++ [2, 2, 2] → [2, 3, 2].
    let y = eval_ok(
        Op::Concat { axis: 1 },
        &[fop(&[2, 1, 2], &[0.0, 1.0, 2.0, 3.0]), iota_f(&[2, 2, 2])],
        f32ty(&[2, 3, 2]),
    );
    assert_eq!(
        floats(&y),
        [0.0, 1.0, 0.0, 1.0, 2.0, 3.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    );
    // Different quantization parameters are refused.
    let r = eval(
        Op::Concat { axis: 0 },
        &[
            iop(t(1), &[1, 2]),
            iop(ty(&[1, 2], qt(U8, 0.5, 3)), &[1, 2]),
        ],
        t(2),
    );
    assert!(unsupported_reason(r).contains("operand 1"));
}

#[test]
fn slice_picks_onnx_indices() {
    let s = |starts: &[i64], ends: &[i64], steps: &[i64]| Op::Slice {
        starts: starts.to_vec(),
        ends: ends.to_vec(),
        steps: steps.to_vec(),
    };
    // [3, 4] = 0..12: rows 1.., columns 3 down to 0 by 2 → [[7, 5], [11, 9]].
    let y = eval_ok(
        s(&[1, -1], &[i64::MAX, i64::MIN], &[1, -2]),
        &[iota_f(&[3, 4])],
        f32ty(&[2, 2]),
    );
    assert_eq!(floats(&y), [7.0, 5.0, 11.0, 9.0]);
    // Quantized codes move unchanged; a per-axis operand keeps its axis
    // whole and may be sliced elsewhere.
    let t = |s: &[usize]| ty(s, qt(U8, 0.5, 7));
    let y = eval_ok(
        s(&[0, 1], &[1, 3], &[1, 1]),
        &[iop(t(&[2, 3]), &[1, 2, 3, 4, 5, 6])],
        t(&[1, 2]),
    );
    assert_eq!(ints(&y), [2, 3]);
    let pa = |s: &[usize]| ty(s, qaxis(I8, 1, &[1.0, 2.0], &[0, 0]));
    let y = eval_ok(
        s(&[1, 0], &[2, 2], &[1, 1]),
        &[iop(pa(&[2, 2]), &[1, 2, 3, 4])],
        pa(&[1, 2]),
    );
    assert_eq!(ints(&y), [3, 4]);
    let r = eval(
        s(&[0, 1], &[2, 2], &[1, 1]),
        &[iop(pa(&[2, 2]), &[1, 2, 3, 4])],
        pa(&[2, 1]),
    );
    let why = unsupported_reason(r);
    assert!(
        why.contains("kept whole") || why.contains("scales"),
        "{why}"
    );
    // A step of 0, a list of the wrong length, a wrong result shape.
    let r = eval(s(&[0], &[1], &[0]), &[iota_f(&[3])], f32ty(&[1]));
    assert!(unsupported_reason(r).contains("step of 0"));
    let r = eval(s(&[0], &[1], &[1]), &[iota_f(&[3, 1])], f32ty(&[1, 1]));
    assert!(unsupported_reason(r).contains("rank 2"));
    let r = eval(s(&[0], &[2], &[1]), &[iota_f(&[3])], f32ty(&[3]));
    assert!(unsupported_reason(r).contains("shape"));
}
