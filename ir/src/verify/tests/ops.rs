//! Typing rules whose bad graphs need the API: several diagnostics from one
//! graph, or attributes the text format cannot carry. The rest are
//! `testsuite/errors/` cases.

use super::*;
use crate::op::{Conv2dAttrs, F32Attr, Pool2dAttrs, RequantMode};

fn conv(
    strides: [usize; 2],
    pads: [usize; 4],
    dilations: [usize; 2],
    groups: usize,
) -> Conv2dAttrs {
    Conv2dAttrs {
        strides,
        pads,
        dilations,
        groups,
    }
}

fn pool(kernel: [usize; 2], strides: [usize; 2], pads: [usize; 4]) -> Pool2dAttrs {
    Pool2dAttrs {
        strides,
        pads,
        ..Pool2dAttrs::new(kernel)
    }
}

fn clamp(min: f32, max: f32) -> Op {
    Op::Clamp {
        min: F32Attr(min),
        max: F32Attr(max),
    }
}

// ---- float ops ----

#[test]
fn conv_zero_attributes() {
    let g = single(
        Op::Conv2d(conv([0, 1], [0; 4], [1, 0], 0)),
        &[f32t(&[1, 3, 4, 4]), f32t(&[2, 3, 3, 3])],
        f32t(&[1, 2, 2, 2]),
    );
    let msgs = messages(&g);
    assert_eq!(msgs.len(), 3, "{msgs:#?}");
    assert!(msgs[0].contains("strides must be at least 1, found [0, 1]"));
    assert!(msgs[1].contains("dilations must be at least 1, found [1, 0]"));
    assert!(msgs[2].contains("groups must be at least 1, found 0"));
}

#[test]
fn clamp_not_finite() {
    let g = single(clamp(f32::NAN, f32::INFINITY), &[f32t(&[4])], f32t(&[4]));
    let msgs = messages(&g);
    assert_eq!(msgs.len(), 2, "{msgs:#?}");
    assert!(msgs[0].contains("`min` must be finite, found NaN"));
    assert!(msgs[1].contains("`max` must be finite, found inf"));
}

// ---- pools ----

#[test]
fn pool_zero_kernel_and_stride() {
    let g = single(
        Op::MaxPool2d(pool([0, 2], [1, 0], [0; 4])),
        &[f32t(&[1, 1, 4, 4])],
        f32t(&[1, 1, 4, 4]),
    );
    let msgs = messages(&g);
    assert_eq!(msgs.len(), 2, "{msgs:#?}");
    assert!(msgs[0].contains("kernel must be at least 1, found [0, 2]"));
    assert!(msgs[1].contains("strides must be at least 1, found [1, 0]"));
}

#[test]
fn maxpool_takes_no_avgpool_attributes() {
    let mut a = Pool2dAttrs::new([2, 2]);
    a.count_include_pad = true;
    a.mode = RequantMode::DoubleRound;
    let g = single(
        Op::MaxPool2d(a),
        &[f32t(&[1, 1, 4, 4])],
        f32t(&[1, 1, 3, 3]),
    );
    let msgs = messages(&g);
    assert_eq!(msgs.len(), 2, "{msgs:#?}");
    assert!(msgs[0].contains("`count_include_pad` is an attribute of avgpool2d, not maxpool2d"));
    assert!(
        msgs[1].contains("`mode` is not an attribute of maxpool2d (found mode = double_round)")
    );
}

// ---- integer ops ----

fn conv_int(x: TensorType, w: TensorType, bias: Option<TensorType>, out: TensorType) -> Graph {
    let mut ins = vec![x, w];
    ins.extend(bias);
    single(
        Op::Conv2dInt(Conv2dAttrs::default(), crate::op::IntAttrs::default()),
        &ins,
        out,
    )
}

#[test]
fn conv2d_int_geometry() {
    let g = conv_int(
        ty(&[1, 2, 3, 3], qt(U8, 0.5, 128)),
        ty(&[3, 1, 5, 1], qt(I8, 0.25, 0)),
        None,
        int(&[1, 3, 1, 3], I32),
    );
    let msgs = messages(&g);
    assert_eq!(msgs.len(), 2, "{msgs:#?}");
    assert!(msgs[0].contains("must have C / groups = 2 input channels (dimension 1), found 1"));
    assert!(msgs[1].contains("the output height would be less than 1"));
}

// ---- run-time quantization parameters ----
