//! The typing API that passes use to build nodes.

use super::*;
use crate::op::{Conv2dAttrs, RequantMode};
use crate::verify::{
    AxisRule, ElemRule, ShapeRule, broadcast_shapes, check_op, infer, infer_value, scale_matches,
    window_output_size,
};

#[test]
fn infer_gives_the_whole_float_type() {
    let a = Conv2dAttrs {
        strides: [2, 2],
        pads: [1, 1, 1, 1],
        ..Conv2dAttrs::default()
    };
    let (x, w) = (f32t(&[1, 3, 8, 8]), f32t(&[4, 3, 3, 3]));
    let inf = infer(&Op::Conv2d(a), &[&x, &w]).unwrap();
    assert_eq!(inf.exact_type(), Some(f32t(&[1, 4, 4, 4])));
    assert_eq!(inf.shape(), Some(&[1, 4, 4, 4][..]));
    assert_eq!(inf.accumulator_type(), None);
}

#[test]
fn infer_gives_the_accumulator() {
    let x = ty(&[2, 16], qt(U8, 0.02, 128));
    let w = ty(&[16, 4], qax(I8, 1, &[0.01, 0.02, 0.03, 0.04], &[0; 4]));
    let inf = infer(&Op::MatMulInt(crate::op::IntAttrs::default()), &[&x, &w]).unwrap();
    let acc = inf.accumulator_type().unwrap();
    let scales: Vec<f32> = [0.01f32, 0.02, 0.03, 0.04]
        .iter()
        .map(|s| 0.02f32 * s)
        .collect();
    assert_eq!(acc, ty(&[2, 4], qax(I32, 1, &scales, &[0; 4])));
    assert_eq!(inf.exact_type(), None);
    // Both the accumulator and plain i32 pass.
    assert!(inf.check(&acc).is_ok());
    assert!(inf.check(&int(&[2, 4], I32)).is_ok());
    // With a plain operand the result is plain i32.
    let xi = int(&[2, 16], I8);
    let inf = infer(&Op::MatMulInt(crate::op::IntAttrs::default()), &[&xi, &w]).unwrap();
    assert_eq!(inf.exact_type(), Some(int(&[2, 4], I32)));
}

#[test]
fn quantized_results_take_the_writers_parameters() {
    let x = f32t(&[2, 3]);
    let inf = infer(&Op::Quantize, &[&x]).unwrap();
    assert_eq!(inf.elem, ElemRule::Quantized(AxisRule::Any));
    let t = inf.with_elem(qt(U8, 0.1, 128)).unwrap();
    assert_eq!(t, ty(&[2, 3], qt(U8, 0.1, 128)));
    let e = inf.with_elem(ElemType::F32).unwrap_err();
    assert_eq!(e.to_string(), "result must be quantized, found `f32`");

    let xa = ty(&[2, 3], qax(I32, 0, &[0.1, 0.2], &[0, 0]));
    let inf = infer(
        &Op::Requantize {
            mode: RequantMode::Float,
        },
        &[&xa],
    )
    .unwrap();
    assert_eq!(inf.elem, ElemRule::Quantized(AxisRule::PerTensorOrAxis(0)));
}

#[test]
fn reshape_leaves_the_shape_to_the_caller() {
    let x = f32t(&[2, 3, 4]);
    let inf = infer(&Op::Reshape, &[&x]).unwrap();
    assert_eq!(inf.shape, ShapeRule::Elements(24));
    assert_eq!(inf.shape(), None);
    assert!(inf.check(&f32t(&[6, 4])).is_ok());
    assert!(inf.check(&f32t(&[6, 5])).is_err());
    assert!(inf.with_elem(ElemType::F32).is_err());
}

#[test]
fn errors_collect_and_display() {
    let x = f32t(&[1, 6, 4, 4]);
    let w = f32t(&[3, 1, 3, 3]);
    let a = Conv2dAttrs {
        groups: 4,
        strides: [0, 1],
        ..Conv2dAttrs::default()
    };
    let e = infer(&Op::Conv2d(a), &[&x, &w]).unwrap_err();
    assert_eq!(e.messages.len(), 3, "{e:?}");
    assert_eq!(
        e.to_string(),
        "strides must be at least 1, found [0, 1]; groups = 4 does not divide the 6 input \
         channels of `x`; groups = 4 does not divide the 3 output channels of `w`"
    );
}

#[test]
fn infer_checks_operand_count_and_types() {
    let x = f32t(&[2]);
    let e = infer(&Op::Relu, &[&x, &x]).unwrap_err();
    assert_eq!(e.to_string(), "takes 1 operand, found 2");
    let bad = ty(&[2], qt(U8, -1.0, 0));
    let e = infer(&Op::Dequantize, &[&bad]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "operand 0 has an invalid type: scale must be finite and > 0, found -1.0"
    );
    let e = infer(&Op::Input(0), &[]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "`input` has no typing rule: its type is the one written"
    );
}

#[test]
fn check_op_includes_the_result_parameters() {
    let x = ty(&[4], qt(I32, 1.0e5, 0));
    let out = ty(&[4], qt(U8, 1.0e-5, 0));
    let e = check_op(
        &Op::Requantize {
            mode: RequantMode::Float,
        },
        &[&x],
        &out,
    )
    .unwrap_err();
    assert!(e.to_string().contains("must be < 2^31"), "{e}");
    // Infer alone does not see the result, so it accepts the operand.
    assert!(
        infer(
            &Op::Requantize {
                mode: RequantMode::Float
            },
            &[&x]
        )
        .is_ok()
    );
    let bad_result = ty(&[4], qt(U8, 0.0, 0));
    let e = check_op(
        &Op::Requantize {
            mode: RequantMode::Float,
        },
        &[&x],
        &bad_result,
    )
    .unwrap_err();
    assert!(
        e.to_string().starts_with("the result type is invalid"),
        "{e}"
    );
}

#[test]
fn infer_value_reads_the_graph() {
    let mut g = Graph::new("t");
    let x = g.add_input("x", f32t(&[2, 3]));
    let y = g.add_node(Op::Transpose { perm: vec![1, 0] }, &[x], f32t(&[3, 2]));
    assert_eq!(
        infer_value(&g, y).unwrap().exact_type(),
        Some(f32t(&[3, 2]))
    );
    assert_eq!(
        infer_value(&g, x).unwrap().exact_type(),
        Some(f32t(&[2, 3]))
    );
}

#[test]
fn shape_helpers() {
    assert_eq!(broadcast_shapes(&[2, 1, 4], &[3, 1]), Some(vec![2, 3, 4]));
    assert_eq!(broadcast_shapes(&[], &[5]), Some(vec![5]));
    assert_eq!(broadcast_shapes(&[2, 3], &[2]), None);
    assert_eq!(window_output_size(8, 1, 1, 3, 2, 1), Some(4));
    assert_eq!(window_output_size(5, 0, 0, 3, 1, 2), Some(1));
    assert_eq!(window_output_size(4, 0, 0, 3, 1, 2), None);
    assert_eq!(window_output_size(4, 0, 0, 3, 0, 1), None);
    assert_eq!(window_output_size(usize::MAX, usize::MAX, 0, 1, 1, 1), None);
    let p = 0.02f32 * 0.01f32;
    assert!(scale_matches(p, p));
    assert!(scale_matches((p as f64 * (1.0 + 9.0e-7)) as f32, p));
    assert!(!scale_matches((p as f64 * (1.0 + 1.2e-6)) as f32, p));
}

#[test]
fn result_type_for_building_nodes() {
    use crate::verify::result_type;
    let x = f32t(&[1, 4]);
    let w = f32t(&[2, 4]);
    assert_eq!(result_type(&Op::Dense, &[&x, &w], None), Ok(f32t(&[1, 2])));
    // Quantized results need the caller's parameters.
    let q = QuantType::per_tensor(U8, 0.1, 128);
    assert_eq!(
        result_type(&Op::Quantize, &[&x], Some(&q)),
        Ok(ty(&[1, 4], qt(U8, 0.1, 128)))
    );
    let e = result_type(&Op::Quantize, &[&x], None).unwrap_err();
    assert!(e.to_string().contains("none were given"), "{e}");
    // The accumulator comes out whole.
    let xq = ty(&[1, 4], qt(U8, 0.5, 128));
    let wq = ty(&[4, 2], qt(I8, 0.25, 0));
    assert_eq!(
        result_type(
            &Op::MatMulInt(crate::op::IntAttrs::default()),
            &[&xq, &wq],
            None
        ),
        Ok(ty(&[1, 2], qt(I32, 0.125, 0)))
    );
    // The parameters are checked with the whole rule: M = 1e10 is too large.
    let acc = ty(&[4], qt(I32, 1.0e5, 0));
    let out = QuantType::per_tensor(U8, 1.0e-5, 0);
    let e = result_type(
        &Op::Requantize {
            mode: RequantMode::Float,
        },
        &[&acc],
        Some(&out),
    )
    .unwrap_err();
    assert!(e.to_string().contains("must be < 2^31"), "{e}");
    // Reshape's shape is the caller's.
    assert!(result_type(&Op::Reshape, &[&x], None).is_err());
}
