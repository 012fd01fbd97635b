//! Input validation, `run_named`, and graphs the interpreter cannot run
//! (errors, never panics).

use super::*;
use crate::op::{Conv2dAttrs, F32Attr, Pool2dAttrs, RequantMode};
use crate::signature::InputError;
use ScalarType::{F32, I4, I8, I32, U4, U8};

/// `y = relu(x)` on f32 `[4]`, and `q` (i8<−127:127>, `[2]`) passed through.
fn two_input_graph() -> Graph {
    let mut g = Graph::new("g");
    let x = g.add_input("x", f32ty(&[4]));
    let q = g.add_input("q", ty(&[2], qnarrow(I8, -127, 127, 0.5, 0)));
    let y = g.add_node(Op::Relu, &[x], f32ty(&[4]));
    g.add_output("y", y);
    g.add_output("q", q);
    g
}

fn good_inputs() -> Vec<Tensor> {
    vec![
        Tensor::f32(vec![4], vec![-1.0, 2.0, -3.0, 4.0]),
        Tensor::new(vec![2], TensorData::from_i64s(I8, &[-127, 127]).unwrap()),
    ]
}

#[test]
fn inputs_are_checked_before_anything_runs() {
    let g = two_input_graph();
    let out = run(&g, &good_inputs()).unwrap();
    assert_eq!(floats(&out[0]), [0.0, 2.0, 0.0, 4.0]);
    assert_eq!(ints(&out[1]), [-127, 127]);

    // Count.
    assert_eq!(
        run(&g, &good_inputs()[..1]),
        Err(InterpError::Input(InputError::Count {
            expected: 2,
            found: 1
        }))
    );
    // Storage type.
    let mut bad = good_inputs();
    bad[1] = Tensor::new(vec![2], TensorData::from_i64s(U8, &[1, 2]).unwrap());
    let e = run(&g, &bad).unwrap_err();
    assert!(
        matches!(&e, InterpError::Input(InputError::Type { name, expected: I8, found: U8, .. }) if name == "q")
    );
    assert_eq!(
        e.to_string(),
        "input `%q` has type `tensor<2x!quant.uniform<i8<-127:127>:f32, 0.5>>`, stored as i8, but the tensor holds u8"
    );
    // Shape.
    let mut bad = good_inputs();
    bad[0] = Tensor::f32(vec![2, 2], vec![0.0; 4]);
    assert_eq!(
        run(&g, &bad),
        Err(InterpError::Input(InputError::Shape {
            name: "x".into(),
            expected: vec![4],
            found: vec![2, 2]
        }))
    );
    // Data that disagrees with the tensor's own shape.
    let mut bad = good_inputs();
    bad[0] = Tensor {
        shape: vec![4],
        data: TensorData::F32(vec![0.0; 3]),
    };
    assert!(matches!(
        run(&g, &bad),
        Err(InterpError::Input(InputError::DataLength {
            expected: 4,
            found: 3,
            ..
        }))
    ));
    // A code outside the narrow range −127..=127.
    let mut bad = good_inputs();
    bad[1] = Tensor::new(vec![2], TensorData::from_i64s(I8, &[0, -128]).unwrap());
    let e = run(&g, &bad).unwrap_err();
    assert_eq!(
        e,
        InterpError::Input(InputError::OutOfRange {
            name: "q".into(),
            ty: "!quant.uniform<i8<-127:127>:f32, 0.5>".into(),
            index: 1,
            value: -128,
            lo: -127,
            hi: 127
        })
    );
    assert!(
        e.to_string()
            .contains("element 1 is -128, outside the storage range -127..=127")
    );
}

#[test]
fn four_bit_inputs_are_checked_against_narrow_ranges() {
    let mut g = Graph::new("g");
    let x = g.add_input("x", ty(&[3], qnarrow(U4, 0, 7, 1.0, 0)));
    g.add_output("x", x);
    let t = Tensor::new(vec![3], TensorData::from_i64s(U4, &[0, 7, 9]).unwrap());
    assert!(matches!(
        run(&g, &[t]),
        Err(InterpError::Input(InputError::OutOfRange {
            index: 2,
            value: 9,
            ..
        }))
    ));
    let t = Tensor::new(vec![3], TensorData::from_i64s(I4, &[0, 7, 1]).unwrap());
    assert!(matches!(
        run(&g, &[t]),
        Err(InterpError::Input(InputError::Type {
            expected: U4,
            found: I4,
            ..
        }))
    ));
}

#[test]
fn malformed_packed_data_and_empty_shapes_are_errors() {
    // 4-bit data whose byte count does not match its length.
    let mut g = Graph::new("g");
    let x = g.add_input("x", ty(&[4], scalar(I4)));
    g.add_output("x", x);
    let mut data = TensorData::from_i64s(I4, &[1, 2, 3, 4]).unwrap();
    if let TensorData::I4(p) = &mut data {
        p.bytes.pop();
    }
    let t = Tensor {
        shape: vec![4],
        data,
    };
    assert!(matches!(
        run(&g, &[t]),
        Err(InterpError::Input(InputError::Packing {
            expected: 2,
            found: 1,
            ..
        }))
    ));
    // A dimension 0 (the verifier rejects it; the interpreter refuses it).
    let r = eval(Op::Relu, &[fop(&[0], &[])], f32ty(&[0]));
    assert!(unsupported_reason(r).contains("dimension 0"));
}

#[test]
fn run_named_matches_inputs_by_name() {
    let g = two_input_graph();
    let ins = good_inputs();
    let named = vec![
        ("q".to_string(), ins[1].clone()),
        ("x".to_string(), ins[0].clone()),
    ];
    let out = run_named(&g, &named).unwrap();
    assert_eq!(out[0].0, "y");
    assert_eq!(out[1].0, "q");
    assert_eq!(floats(&out[0].1), [0.0, 2.0, 0.0, 4.0]);

    assert_eq!(
        run_named(&g, &named[..1]),
        Err(InterpError::MissingInput { name: "x".into() })
    );
    let mut extra = named.clone();
    extra.push(("z".to_string(), ins[0].clone()));
    let e = run_named(&g, &extra).unwrap_err();
    assert_eq!(
        e.to_string(),
        "`%z` is not an input of the graph (its inputs are: `%x`, `%q`)"
    );
    let mut dup = named.clone();
    dup.push(("x".to_string(), ins[0].clone()));
    assert_eq!(
        run_named(&g, &dup),
        Err(InterpError::DuplicateInput { name: "x".into() })
    );
}

#[test]
fn malformed_graphs_are_errors() {
    // A cycle made through the mutation API.
    let mut g = Graph::new("g");
    let x = g.add_input("x", f32ty(&[1]));
    let a = g.add_node(Op::Relu, &[x], f32ty(&[1]));
    let b = g.add_node(Op::Relu, &[a], f32ty(&[1]));
    g.set_arg(a, 0, b);
    g.add_output("y", b);
    let r = run(&g, &[Tensor::f32(vec![1], vec![1.0])]);
    assert!(matches!(r, Err(InterpError::Malformed { .. })), "{r:?}");

    // Wrong arity, a result type that disagrees, an op on the wrong kind.
    let x = fop(&[2], &[1.0, 2.0]);
    assert!(unsupported_reason(eval(Op::Add, &[x.clone()], f32ty(&[2]))).contains("2 operands"));
    assert!(unsupported_reason(eval(Op::Relu, &[x.clone()], f32ty(&[3]))).contains("shape"));
    assert!(
        unsupported_reason(eval(Op::Relu, &[x.clone()], ty(&[2], scalar(I8))))
            .contains("result type")
    );
    let i = iop(ty(&[2], scalar(I8)), &[1, 2]);
    assert!(unsupported_reason(eval(Op::Relu, &[i], ty(&[2], scalar(I8)))).contains("must be f32"));
    // A result type whose per-axis parameters do not fit its shape.
    let r = eval(Op::Quantize, &[x], ty(&[2], qaxis(I8, 0, &[1.0], &[0])));
    assert!(unsupported_reason(r).contains("invalid result type"));
    // A constant whose data is not its type's storage.
    let mut g = Graph::new("g");
    let c = g.add_const(TensorData::F32(vec![1.0]), ty(&[1], scalar(I8)));
    g.add_output("c", c);
    assert!(matches!(run(&g, &[]), Err(InterpError::Unsupported { .. })));
    // A convolution whose kernel does not fit the input.
    let r = eval(
        Op::Conv2d(Conv2dAttrs::default()),
        &[fop(&[1, 1, 2, 2], &[0.0; 4]), fop(&[1, 1, 3, 3], &[0.0; 9])],
        f32ty(&[1, 1, 1, 1]),
    );
    assert!(unsupported_reason(r).contains("does not fit"));
    // matmul_int with a per-axis input.
    let r = eval(
        Op::MatMulInt(crate::op::IntAttrs::default()),
        &[
            iop(ty(&[1, 2], qaxis(I8, 1, &[1.0, 1.0], &[0, 0])), &[1, 2]),
            iop(ty(&[2, 1], scalar(I8)), &[1, 1]),
        ],
        ty(&[1, 1], scalar(I32)),
    );
    assert!(unsupported_reason(r).contains("per tensor"));
}

#[test]
fn dead_nodes_are_not_evaluated() {
    // A node no output depends on is never run, even one that would fail.
    let mut g = Graph::new("g");
    let x = g.add_input("x", f32ty(&[1]));
    let _dead = g.add_node(Op::Relu, &[x], f32ty(&[7]));
    g.add_output("y", x);
    g.add_output("y_again", x);
    let out = run(&g, &[Tensor::f32(vec![1], vec![3.0])]).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0], out[1]);
}

/// Every op on a spread of operand and result types, with sensible and
/// absurd attributes: the interpreter returns `Ok` or an error, never
/// panics.
#[test]
fn never_panics_on_graphs_it_cannot_run() {
    let types = [
        f32ty(&[1, 2, 3, 3]),
        f32ty(&[3]),
        f32ty(&[]),
        ty(&[1, 2, 3, 3], qt(U8, 0.1, 128)),
        ty(&[2, 3], qaxis(I8, 1, &[0.5, 1.0, 2.0], &[0, 1, 2])),
        ty(&[2, 1, 1, 1], qaxis(I8, 0, &[1e-30, 1e30], &[0, 0])),
        ty(&[2], qt(I32, 1e-38, 0)),
        ty(&[2, 3], scalar(I4)),
        ty(&[3], qt(I32, 3e38, 0)),
        ty(&[2, 2, 1, 1], qt(I8, 1.0, 0)),
    ];
    let conv_attrs = [
        Conv2dAttrs::default(),
        Conv2dAttrs {
            groups: 0,
            strides: [0, 1],
            ..Conv2dAttrs::default()
        },
        Conv2dAttrs {
            pads: [usize::MAX, 1, usize::MAX, 0],
            dilations: [usize::MAX, 2],
            groups: 2,
            ..Conv2dAttrs::default()
        },
    ];
    let pool_attrs = [
        Pool2dAttrs::new([2, 2]),
        Pool2dAttrs::new([0, 1]),
        Pool2dAttrs {
            strides: [0, 0],
            pads: [1, 1, 1, 1],
            count_include_pad: true,
            mode: RequantMode::DoubleRound,
            ..Pool2dAttrs::new([usize::MAX, 3])
        },
    ];
    let mut ops = vec![
        Op::MatMul,
        Op::Dense,
        Op::Add,
        Op::Mul,
        Op::Relu,
        Op::Clamp {
            min: F32Attr(f32::NAN),
            max: F32Attr(1.0),
        },
        Op::Reshape,
        Op::Flatten { axis: 9 },
        Op::Flatten { axis: 1 },
        Op::Transpose {
            perm: vec![3, 2, 1, 0],
        },
        Op::Transpose { perm: vec![7] },
        Op::Concat { axis: 0 },
        Op::Concat { axis: 5 },
        Op::Softmax { axis: 3 },
        Op::Quantize,
        Op::Dequantize,
        Op::MatMulInt(crate::op::IntAttrs::default()),
        Op::ClampInt { min: 5, max: -5 },
        Op::ClampInt {
            min: i64::MIN,
            max: i64::MAX,
        },
    ];
    for mode in RequantMode::ALL {
        ops.push(Op::Requantize { mode });
        ops.push(Op::AddInt { mode, ort: false });
        ops.push(Op::GlobalAvgPool { mode });
    }
    for a in &conv_attrs {
        ops.push(Op::Conv2d(a.clone()));
        ops.push(Op::Conv2dInt(a.clone(), crate::op::IntAttrs::default()));
    }
    for a in &pool_attrs {
        ops.push(Op::MaxPool2d(a.clone()));
        ops.push(Op::AvgPool2d(a.clone()));
    }
    let operand = |t: &TensorType| -> Operand {
        let n: usize = t.shape.iter().product();
        if t.elem.storage() == F32 {
            fop(
                &t.shape,
                &(0..n).map(|i| i as f32 - 2.0).collect::<Vec<_>>(),
            )
        } else {
            let (lo, hi) = t.elem.int_range().unwrap();
            let codes: Vec<i64> = (0..n as i64)
                .map(|i| if i % 2 == 0 { lo } else { hi })
                .collect();
            iop(t.clone(), &codes)
        }
    };
    let mut runs = 0;
    for op in &ops {
        for out in &types {
            for a in &types {
                let _ = eval(op.clone(), &[operand(a)], out.clone());
                for b in &types {
                    let _ = eval(op.clone(), &[operand(a), operand(b)], out.clone());
                    runs += 1;
                }
                let _ = eval(
                    op.clone(),
                    &[operand(a), operand(a), operand(&types[1])],
                    out.clone(),
                );
            }
        }
    }
    assert!(runs > 1000);
}
