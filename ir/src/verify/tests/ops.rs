//! One bad graph per typing rule, asserting the message.

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
fn float_op_on_quantized_operand() {
    let g = single(
        Op::MatMul,
        &[ty(&[2, 3], qt(U8, 0.1, 0)), f32t(&[3, 4])],
        f32t(&[2, 4]),
    );
    assert_one(
        &g,
        "`matmul`: `a` must be `f32`, found `!quant.uniform<u8:f32, 0.1>`",
    );
}

#[test]
fn matmul_inner_dimensions() {
    let g = single(Op::MatMul, &[f32t(&[2, 3]), f32t(&[4, 5])], f32t(&[2, 5]));
    assert_one(
        &g,
        "inner dimensions differ: `a` is [2, 3] (K = 3) but `b` is [4, 5] (K = 4)",
    );
}

#[test]
fn matmul_rank_of_a() {
    let g = single(Op::MatMul, &[f32t(&[3]), f32t(&[3, 5])], f32t(&[5]));
    assert_one(
        &g,
        "`a` must have rank 2 or more ([..., M, K]), found rank 1",
    );
}

#[test]
fn matmul_rank_of_b() {
    let g = single(
        Op::MatMul,
        &[f32t(&[2, 2, 3]), f32t(&[1, 2, 3, 5])],
        f32t(&[2, 2, 5]),
    );
    assert_one(
        &g,
        "`b` must have rank 2 ([K, N]) or the rank 3 of `a`, found rank 4",
    );
}

#[test]
fn matmul_batch_dimensions() {
    let g = single(
        Op::MatMul,
        &[f32t(&[2, 2, 3]), f32t(&[3, 3, 5])],
        f32t(&[2, 2, 5]),
    );
    assert_one(
        &g,
        "`b` [3, 3, 5] must have the batch dimensions [2] of `a` [2, 2, 3]",
    );
}

#[test]
fn matmul_result_shape() {
    let g = single(Op::MatMul, &[f32t(&[2, 3]), f32t(&[3, 5])], f32t(&[2, 4]));
    assert_one(&g, "`matmul`: result shape must be [2, 5], found [2, 4]");
}

#[test]
fn dense_weight_shape() {
    let g = single(Op::Dense, &[f32t(&[1, 4]), f32t(&[2, 3])], f32t(&[1, 2]));
    assert_one(
        &g,
        "`w` must be [N, K] with K = 4 (from `x` [1, 4]), found [2, 3]",
    );
}

#[test]
fn dense_bias_shape() {
    let g = single(
        Op::Dense,
        &[f32t(&[1, 4]), f32t(&[2, 4]), f32t(&[3])],
        f32t(&[1, 2]),
    );
    assert_one(&g, "`b` must be [2] (one per output channel), found [3]");
}

#[test]
fn conv_groups_divide_input_channels() {
    let g = single(
        Op::Conv2d(conv([1, 1], [0; 4], [1, 1], 4)),
        &[f32t(&[1, 6, 4, 4]), f32t(&[4, 1, 3, 3])],
        f32t(&[1, 4, 2, 2]),
    );
    assert_one(&g, "groups = 4 does not divide the 6 input channels of `x`");
}

#[test]
fn conv_groups_divide_output_channels() {
    let g = single(
        Op::Conv2d(conv([1, 1], [0; 4], [1, 1], 2)),
        &[f32t(&[1, 4, 4, 4]), f32t(&[3, 2, 3, 3])],
        f32t(&[1, 3, 2, 2]),
    );
    assert_one(
        &g,
        "groups = 2 does not divide the 3 output channels of `w`",
    );
}

#[test]
fn conv_weight_channels() {
    let g = single(
        Op::Conv2d(Conv2dAttrs::default()),
        &[f32t(&[1, 3, 4, 4]), f32t(&[2, 2, 3, 3])],
        f32t(&[1, 2, 2, 2]),
    );
    assert_one(
        &g,
        "`w` [2, 2, 3, 3] must have C / groups = 3 input channels (dimension 1), found 2",
    );
}

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
fn conv_output_size() {
    let g = single(
        Op::Conv2d(conv([1, 1], [0; 4], [2, 1], 1)),
        &[f32t(&[1, 1, 4, 4]), f32t(&[1, 1, 3, 3])],
        f32t(&[1, 1, 1, 2]),
    );
    assert_one(
        &g,
        "the output height would be less than 1: input height 4 with pads 0 + 0 is smaller \
         than the kernel's extent (dilation 2 · (3 − 1) + 1)",
    );
}

#[test]
fn conv_result_shape() {
    let g = single(
        Op::Conv2d(conv([2, 2], [1, 1, 1, 1], [1, 1], 1)),
        &[f32t(&[1, 3, 8, 8]), f32t(&[4, 3, 3, 3])],
        f32t(&[1, 4, 3, 3]),
    );
    assert_one(
        &g,
        "`conv2d`: result shape must be [1, 4, 4, 4], found [1, 4, 3, 3]",
    );
}

#[test]
fn conv_bias_shape() {
    let g = single(
        Op::Conv2d(Conv2dAttrs::default()),
        &[f32t(&[1, 3, 4, 4]), f32t(&[2, 3, 3, 3]), f32t(&[1, 2])],
        f32t(&[1, 2, 2, 2]),
    );
    assert_one(&g, "`b` must be [2] (one per output channel), found [1, 2]");
}

#[test]
fn add_does_not_broadcast() {
    let g = single(Op::Add, &[f32t(&[2, 3]), f32t(&[2])], f32t(&[2, 3]));
    assert_one(&g, "shapes [2, 3] and [2] do not broadcast");
}

#[test]
fn mul_result_is_the_broadcast_shape() {
    let g = single(Op::Mul, &[f32t(&[2, 1]), f32t(&[3])], f32t(&[2, 1]));
    assert_one(&g, "`mul`: result shape must be [2, 3], found [2, 1]");
}

#[test]
fn relu_result_type() {
    let g = single(Op::Relu, &[f32t(&[4])], int(&[4], I8));
    assert_one(&g, "`relu`: result element type must be `f32`, found `i8`");
}

#[test]
fn relu_on_integers() {
    let g = single(Op::Relu, &[int(&[4], I8)], int(&[4], I8));
    assert_one(&g, "`relu`: `x` must be `f32`, found `i8`");
}

#[test]
fn clamp_min_above_max() {
    let g = single(clamp(6.0, 0.0), &[f32t(&[4])], f32t(&[4]));
    assert_one(&g, "`clamp`: `min` = 6 is greater than `max` = 0");
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
fn pool_pad_not_smaller_than_kernel() {
    let g = single(
        Op::MaxPool2d(pool([2, 2], [1, 1], [0, 2, 0, 0])),
        &[f32t(&[1, 1, 4, 4])],
        f32t(&[1, 1, 3, 5]),
    );
    assert_one(
        &g,
        "the left pad 2 must be smaller than the kernel size 2 along its dimension",
    );
}

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
fn pool_output_size() {
    let g = single(
        Op::MaxPool2d(pool([5, 1], [1, 1], [0; 4])),
        &[f32t(&[1, 1, 4, 4])],
        f32t(&[1, 1, 1, 4]),
    );
    assert_one(
        &g,
        "the output height would be less than 1: input height 4 with pads 0 + 0 is smaller \
         than the kernel size 5",
    );
}

#[test]
fn pool_rank() {
    let g = single(
        Op::MaxPool2d(Pool2dAttrs::new([2, 2])),
        &[f32t(&[4, 4])],
        f32t(&[3, 3]),
    );
    assert_one(&g, "`x` must have rank 4, found rank 2 ([4, 4])");
}

#[test]
fn maxpool_keeps_the_element_type() {
    let g = single(
        Op::MaxPool2d(Pool2dAttrs::new([2, 2])),
        &[ty(&[1, 1, 4, 4], qt(U8, 0.1, 3))],
        ty(&[1, 1, 3, 3], qt(U8, 0.1, 4)),
    );
    assert_one(
        &g,
        "`maxpool2d`: result element type must be `!quant.uniform<u8:f32, 0.1:3>`",
    );
}

#[test]
fn maxpool_per_axis_on_a_spatial_axis() {
    let x = ty(&[1, 1, 2, 4], qax(I8, 2, &[0.1, 0.2], &[0, 0]));
    let g = single(
        Op::MaxPool2d(pool([1, 2], [1, 2], [0; 4])),
        &[x.clone()],
        x.with_shape(vec![1, 1, 2, 2]),
    );
    assert_one(
        &g,
        "`x` is quantized per axis on axis 2: a window would compare codes",
    );
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

#[test]
fn avgpool_on_plain_integers() {
    let g = single(
        Op::AvgPool2d(Pool2dAttrs::new([2, 2])),
        &[int(&[1, 1, 4, 4], I8)],
        int(&[1, 1, 3, 3], I8),
    );
    assert_one(&g, "`x` must be f32 or quantized per tensor, found `i8`");
}

#[test]
fn avgpool_per_axis_operand() {
    let g = single(
        Op::AvgPool2d(Pool2dAttrs::new([2, 2])),
        &[ty(&[1, 2, 4, 4], qax(U8, 1, &[0.1, 0.2], &[0, 0]))],
        ty(&[1, 2, 3, 3], qt(U8, 0.1, 0)),
    );
    assert_one(
        &g,
        "`x` must be f32 or quantized per tensor, found per axis (axis 1)",
    );
}

#[test]
fn avgpool_per_axis_result() {
    let g = single(
        Op::AvgPool2d(Pool2dAttrs::new([2, 2])),
        &[ty(&[1, 2, 4, 4], qt(U8, 0.1, 0))],
        ty(&[1, 2, 3, 3], qax(U8, 1, &[0.1, 0.2], &[0, 0])),
    );
    assert_one(
        &g,
        "`avgpool2d`: result must be quantized per tensor, found per axis (axis 1)",
    );
}

#[test]
fn avgpool_float_in_quantized_out() {
    let g = single(
        Op::AvgPool2d(Pool2dAttrs::new([2, 2])),
        &[f32t(&[1, 1, 4, 4])],
        ty(&[1, 1, 3, 3], qt(U8, 0.1, 0)),
    );
    assert_one(&g, "result element type must be `f32`");
}

#[test]
fn avgpool_multiplier_at_the_smallest_window() {
    // s_in / s_out = 1e10; with pads 1 on a 3x3 kernel the corner windows
    // hold 2x2 real elements, so M = 1e10 / 4 > 2^31.
    let a = Pool2dAttrs {
        pads: [1; 4],
        ..Pool2dAttrs::new([3, 3])
    };
    let x = ty(&[1, 1, 4, 4], qt(I16, 1.0e5, 0));
    let out = ty(&[1, 1, 4, 4], qt(I8, 1.0e-5, 0));
    let g = single(Op::AvgPool2d(a.clone()), &[x.clone()], out.clone());
    assert_one(
        &g,
        "`avgpool2d`: the rescale multiplier s_in / (s_out · 4) = ",
    );
    assert_has(&g, "must be < 2^31");
    // Counting the padding, every window divides by 9: M ≈ 1.1e9 is fine.
    let b = Pool2dAttrs {
        count_include_pad: true,
        ..a
    };
    assert_ok(&single(Op::AvgPool2d(b), &[x], out));
}

#[test]
fn avgpool_window_sum_overflow() {
    let x = ty(&[1, 1, 2, 2], qt(I32, 1.0, 0));
    let g = single(
        Op::AvgPool2d(Pool2dAttrs::new([2, 2])),
        &[x.clone()],
        x.with_shape(vec![1, 1, 1, 1]),
    );
    assert_one(
        &g,
        "the window sum may overflow i32: up to 4 elements of magnitude up to 2147483648",
    );
}

#[test]
fn global_avgpool_rank() {
    let g = single(
        Op::GlobalAvgPool {
            mode: RequantMode::Float,
        },
        &[f32t(&[1, 3, 4])],
        f32t(&[1, 3, 1, 1]),
    );
    assert_one(&g, "`global_avgpool`: `x` must have rank 4, found rank 3");
}

#[test]
fn global_avgpool_multiplier() {
    let g = single(
        Op::GlobalAvgPool {
            mode: RequantMode::SingleRound,
        },
        &[ty(&[1, 3, 2, 2], qt(U8, 1.0e5, 0))],
        ty(&[1, 3, 1, 1], qt(U8, 1.0e-5, 0)),
    );
    assert_one(&g, "the rescale multiplier s_in / (s_out · 4) = ");
}

#[test]
fn global_avgpool_result_shape() {
    let g = single(
        Op::GlobalAvgPool {
            mode: RequantMode::Float,
        },
        &[f32t(&[1, 3, 4, 4])],
        f32t(&[1, 3]),
    );
    assert_one(&g, "result shape must be [1, 3, 1, 1], found [1, 3]");
}

// ---- data movement ----

#[test]
fn reshape_element_count() {
    let g = single(Op::Reshape, &[f32t(&[2, 3])], f32t(&[5]));
    assert_one(
        &g,
        "`reshape`: result must have 6 elements like the operand, found shape [5]",
    );
}

#[test]
fn reshape_keeps_the_element_type() {
    let g = single(Op::Reshape, &[ty(&[2, 3], qt(U8, 0.5, 1))], int(&[6], U8));
    assert_one(
        &g,
        "result element type must be `!quant.uniform<u8:f32, 0.5:1>`, found `u8`",
    );
}

#[test]
fn reshape_per_axis() {
    let x = ty(&[2, 3], qax(I8, 0, &[0.1, 0.2], &[0, 0]));
    let g = single(Op::Reshape, &[x], f32t(&[6]));
    assert_one(
        &g,
        "`x` is quantized per axis (axis 0); per-axis tensors cannot be reshaped",
    );
}

#[test]
fn flatten_axis_beyond_rank() {
    let g = single(Op::Flatten { axis: 3 }, &[f32t(&[2, 3])], f32t(&[6, 1]));
    assert_one(&g, "`axis` = 3 must be at most the rank 2");
}

#[test]
fn flatten_result_shape() {
    let g = single(Op::Flatten { axis: 2 }, &[f32t(&[2, 3, 4])], f32t(&[2, 12]));
    assert_one(&g, "result shape must be [6, 4], found [2, 12]");
}

#[test]
fn flatten_per_axis() {
    let x = ty(&[2, 3], qax(I8, 1, &[0.1, 0.2, 0.3], &[0, 0, 0]));
    let g = single(Op::Flatten { axis: 1 }, &[x.clone()], x);
    assert_one(&g, "per-axis tensors cannot be flattened");
}

#[test]
fn transpose_not_a_permutation() {
    let g = single(
        Op::Transpose {
            perm: vec![0, 0, 1],
        },
        &[f32t(&[2, 3, 4])],
        f32t(&[2, 2, 3]),
    );
    assert_one(&g, "`perm` = [0, 0, 1] is not a permutation of 0..3");
    let g = single(
        Op::Transpose { perm: vec![1, 0] },
        &[f32t(&[2, 3, 4])],
        f32t(&[3, 2, 4]),
    );
    assert_one(&g, "`perm` = [1, 0] is not a permutation of 0..3");
}

#[test]
fn transpose_moves_the_quantized_axis() {
    let x = ty(&[2, 2], qax(I8, 0, &[0.1, 0.2], &[0, 0]));
    // The axis must move with its dimension: written with axis 0 it is wrong.
    let g = single(Op::Transpose { perm: vec![1, 0] }, &[x.clone()], x.clone());
    assert_one(
        &g,
        "result element type must be `!quant.uniform<i8:f32:1, {0.1:0, 0.2:0}>`",
    );
}

#[test]
fn concat_element_types() {
    let g = single(
        Op::Concat { axis: 0 },
        &[ty(&[2], qt(U8, 0.1, 0)), ty(&[2], qt(U8, 0.2, 0))],
        ty(&[4], qt(U8, 0.1, 0)),
    );
    assert_one(
        &g,
        "operand 1 has element type `!quant.uniform<u8:f32, 0.2>` but operand 0 has \
         `!quant.uniform<u8:f32, 0.1>`",
    );
}

#[test]
fn concat_dimensions() {
    let g = single(
        Op::Concat { axis: 0 },
        &[f32t(&[2, 3]), f32t(&[4, 2])],
        f32t(&[6, 3]),
    );
    assert_one(
        &g,
        "operand 1 is [4, 2] but operand 0 is [2, 3]; only the dimension of axis 0 may differ",
    );
}

#[test]
fn concat_ranks() {
    let g = single(
        Op::Concat { axis: 0 },
        &[f32t(&[2, 3]), f32t(&[6])],
        f32t(&[8, 3]),
    );
    assert_one(
        &g,
        "operand 1 has rank 1 ([6]) but operand 0 has rank 2 ([2, 3])",
    );
}

#[test]
fn concat_axis() {
    let g = single(
        Op::Concat { axis: 2 },
        &[f32t(&[2, 3]), f32t(&[2, 3])],
        f32t(&[2, 3]),
    );
    assert_one(&g, "`concat`: `axis` 2 is out of range for rank 2");
}

#[test]
fn concat_result_sums_the_axis() {
    let g = single(
        Op::Concat { axis: 1 },
        &[f32t(&[2, 3]), f32t(&[2, 1]), f32t(&[2, 2])],
        f32t(&[2, 5]),
    );
    assert_one(&g, "result shape must be [2, 6], found [2, 5]");
}

#[test]
fn concat_per_axis() {
    let x = ty(&[2, 2], qax(I8, 0, &[0.1, 0.2], &[0, 0]));
    let g = single(
        Op::Concat { axis: 1 },
        &[x.clone(), x],
        ty(&[2, 4], qax(I8, 0, &[0.1, 0.2], &[0, 0])),
    );
    assert_one(&g, "per-axis tensors cannot be concatenated");
}

#[test]
fn softmax_axis() {
    let g = single(Op::Softmax { axis: 2 }, &[f32t(&[1, 4])], f32t(&[1, 4]));
    assert_one(&g, "`softmax`: `axis` 2 is out of range for rank 2");
}

#[test]
fn softmax_on_quantized() {
    let x = ty(&[4], qt(U8, 0.1, 0));
    let g = single(Op::Softmax { axis: 0 }, &[x.clone()], x);
    assert_one(&g, "`softmax`: `x` must be `f32`");
}

// ---- quantization ----

#[test]
fn quantize_from_integers() {
    let g = single(Op::Quantize, &[int(&[4], I8)], ty(&[4], qt(U8, 0.1, 128)));
    assert_one(&g, "`quantize`: `x` must be `f32`, found `i8`");
}

#[test]
fn quantize_to_a_plain_type() {
    let g = single(Op::Quantize, &[f32t(&[4])], int(&[4], U8));
    assert_one(&g, "`quantize`: result must be quantized, found `u8`");
}

#[test]
fn quantize_shape() {
    let g = single(Op::Quantize, &[f32t(&[4])], ty(&[2, 2], qt(U8, 0.1, 0)));
    assert_one(&g, "result shape must be [4], found [2, 2]");
}

#[test]
fn dequantize_from_float() {
    let g = single(Op::Dequantize, &[f32t(&[4])], f32t(&[4]));
    assert_one(&g, "`dequantize`: `x` must be quantized, found `f32`");
}

#[test]
fn dequantize_result() {
    let g = single(Op::Dequantize, &[ty(&[4], qt(U8, 0.1, 0))], int(&[4], I32));
    assert_one(
        &g,
        "`dequantize`: result element type must be `f32`, found `i32`",
    );
}

#[test]
fn requantize_from_plain_integers() {
    let g = single(
        Op::Requantize {
            mode: RequantMode::Float,
        },
        &[int(&[4], I32)],
        ty(&[4], qt(U8, 0.1, 0)),
    );
    assert_one(&g, "`requantize`: `x` must be quantized, found `i32`");
}

#[test]
fn requantize_axes_differ() {
    let x = ty(&[2, 2], qax(I32, 0, &[0.1, 0.2], &[0, 0]));
    let out = ty(&[2, 2], qax(I8, 1, &[0.1, 0.2], &[0, 0]));
    let g = single(
        Op::Requantize {
            mode: RequantMode::Float,
        },
        &[x],
        out,
    );
    assert_one(
        &g,
        "result is per axis on axis 1 but the operand is per axis on axis 0; both must use the \
         same axis",
    );
}

#[test]
fn requantize_multiplier_too_large() {
    let g = single(
        Op::Requantize {
            mode: RequantMode::DoubleRound,
        },
        &[ty(&[4], qt(I32, 1.0e5, 0))],
        ty(&[4], qt(U8, 1.0e-5, 0)),
    );
    let d = assert_one(
        &g,
        "`requantize`: the rescale multiplier s_in / s_out = 1.000000e10 must be < 2^31",
    );
    assert!(d.message.ends_with("must be < 2^31"), "{}", d.message);
}

#[test]
fn requantize_multiplier_per_channel() {
    let x = ty(&[2, 3], qax(I32, 0, &[1.0, 1.0e4], &[0, 0]));
    let g = single(
        Op::Requantize {
            mode: RequantMode::Float,
        },
        &[x],
        ty(&[2, 3], qt(I8, 1.0e-6, 0)),
    );
    assert_one(&g, "the rescale multiplier s_in / s_out of channel 1 = ");
}

#[test]
fn requantize_just_below_the_limit() {
    // M = 2^31 is rejected, the next f32 below it is fine.
    let below = f32::from_bits(2147483648f32.to_bits() - 1);
    let out = ty(&[4], qt(I8, 1.0, 0));
    let ok = single(
        Op::Requantize {
            mode: RequantMode::SingleRound,
        },
        &[ty(&[4], qt(I32, below, 0))],
        out.clone(),
    );
    assert_ok(&ok);
    let bad = single(
        Op::Requantize {
            mode: RequantMode::SingleRound,
        },
        &[ty(&[4], qt(I32, 2147483648.0, 0))],
        out,
    );
    assert_one(&bad, "must be < 2^31");
}

// ---- integer ops ----

fn mm_int(x: TensorType, w: TensorType, bias: Option<TensorType>, out: TensorType) -> Graph {
    let mut ins = vec![x, w];
    ins.extend(bias);
    single(Op::MatMulInt(crate::op::IntAttrs::default()), &ins, out)
}

#[test]
fn matmul_int_float_operand() {
    let g = mm_int(
        f32t(&[1, 4]),
        ty(&[4, 2], qt(I8, 0.01, 0)),
        None,
        int(&[1, 2], I32),
    );
    assert_one(&g, "`x` must be quantized or an integer type, found `f32`");
}

#[test]
fn matmul_int_per_axis_x() {
    let g = mm_int(
        ty(&[2, 4], qax(U8, 0, &[0.1, 0.2], &[0, 0])),
        ty(&[4, 2], qt(I8, 0.01, 0)),
        None,
        int(&[2, 2], I32),
    );
    assert_one(
        &g,
        "`x` is quantized per axis (axis 0); `x` must be quantized per tensor",
    );
}

#[test]
fn matmul_int_weights_on_the_wrong_axis() {
    let g = mm_int(
        ty(&[1, 4], qt(U8, 0.02, 128)),
        ty(&[4, 2], qax(I8, 0, &[0.01, 0.02, 0.03, 0.04], &[0; 4])),
        None,
        int(&[1, 2], I32),
    );
    assert_one(
        &g,
        "`w` may be quantized per axis only on axis 1 (the N dimension of [K, N]), found axis 0",
    );
}

#[test]
fn matmul_int_inner_dimensions() {
    let g = mm_int(
        ty(&[1, 4], qt(U8, 0.02, 128)),
        ty(&[3, 2], qt(I8, 0.01, 0)),
        None,
        int(&[1, 2], I32),
    );
    assert_one(
        &g,
        "inner dimensions differ: `x` is [1, 4] (K = 4) but `w` is [3, 2] (K = 3)",
    );
}

#[test]
fn matmul_int_weight_rank() {
    let g = mm_int(
        ty(&[2, 1, 4], qt(U8, 0.02, 128)),
        ty(&[2, 4, 2], qt(I8, 0.01, 0)),
        None,
        int(&[2, 1, 2], I32),
    );
    assert_one(&g, "`w` must have rank 2, found rank 3");
}

#[test]
fn matmul_int_accumulator_scale() {
    let g = mm_int(
        ty(&[1, 16], qt(U8, 0.02, 128)),
        ty(&[16, 8], qt(I8, 0.01, 0)),
        None,
        ty(&[1, 8], qt(I32, 0.5, 0)),
    );
    assert_one(
        &g,
        "`matmul_int`: result scale 0.5 must equal sx · sw = 0.0002 (within a relative 2^-20)",
    );
}

#[test]
fn matmul_int_accumulator_scale_tolerance() {
    let p = 0.02f32 * 0.01f32;
    let close = (p as f64 * (1.0 + 5.0e-7)) as f32;
    let far = (p as f64 * (1.0 + 2.0e-6)) as f32;
    let x = ty(&[1, 16], qt(U8, 0.02, 128));
    let w = ty(&[16, 8], qt(I8, 0.01, 0));
    assert_ok(&mm_int(
        x.clone(),
        w.clone(),
        None,
        ty(&[1, 8], qt(I32, close, 0)),
    ));
    assert_one(
        &mm_int(x, w, None, ty(&[1, 8], qt(I32, far, 0))),
        "must equal sx · sw",
    );
}

#[test]
fn matmul_int_accumulator_zero_point() {
    let g = mm_int(
        ty(&[1, 4], qt(U8, 0.02, 128)),
        ty(&[4, 2], qt(I8, 0.01, 0)),
        None,
        ty(&[1, 2], qt(I32, 0.02 * 0.01, 5)),
    );
    assert_one(&g, "the accumulator's zero point must be 0, found 5");
}

#[test]
fn matmul_int_accumulator_storage() {
    let g = mm_int(
        ty(&[1, 4], qt(U8, 0.02, 128)),
        ty(&[4, 2], qt(I8, 0.01, 0)),
        None,
        ty(&[1, 2], qt(I16, 0.02 * 0.01, 0)),
    );
    assert_one(
        &g,
        "result must be `i32` or a quantized i32 accumulator (`!quant.uniform<i32:f32, sx·sw>`), \
         found `!quant.uniform<i16:f32, 0.0002>`",
    );
}

#[test]
fn matmul_int_per_tensor_result_for_per_axis_weights() {
    let g = mm_int(
        ty(&[1, 4], qt(U8, 0.5, 128)),
        ty(&[4, 2], qax(I8, 1, &[0.25, 0.125], &[0, 0])),
        None,
        ty(&[1, 2], qt(I32, 0.125, 0)),
    );
    assert_one(
        &g,
        "result must be per axis on axis 1 because `w` is per axis, found per tensor",
    );
}

#[test]
fn matmul_int_per_axis_result_for_per_tensor_weights() {
    let g = mm_int(
        ty(&[1, 4], qt(U8, 0.5, 128)),
        ty(&[4, 2], qt(I8, 0.25, 0)),
        None,
        ty(&[1, 2], qax(I32, 1, &[0.125, 0.125], &[0, 0])),
    );
    assert_one(
        &g,
        "result must be per tensor because `w` is per tensor, found per axis (axis 1)",
    );
}

#[test]
fn matmul_int_per_axis_result_scale_of_one_channel() {
    let g = mm_int(
        ty(&[1, 4], qt(U8, 0.5, 128)),
        ty(&[4, 2], qax(I8, 1, &[0.25, 0.125], &[0, 0])),
        None,
        ty(&[1, 2], qax(I32, 1, &[0.125, 0.125], &[0, 0])),
    );
    assert_one(
        &g,
        "result scale 0.125 (channel 1) must equal sx · sw = 0.0625",
    );
}

#[test]
fn matmul_int_plain_operand_gives_plain_result() {
    let g = mm_int(
        int(&[1, 4], I8),
        ty(&[4, 2], qt(I8, 0.25, 0)),
        None,
        ty(&[1, 2], qt(I32, 0.25, 0)),
    );
    assert_one(
        &g,
        "result element type must be `i32`, found `!quant.uniform<i32:f32, 0.25>`",
    );
}

#[test]
fn matmul_int_bias_shape() {
    let g = mm_int(
        ty(&[1, 4], qt(U8, 0.5, 128)),
        ty(&[4, 2], qt(I8, 0.25, 0)),
        Some(int(&[3], I32)),
        int(&[1, 2], I32),
    );
    assert_one(&g, "`bias` must be [2] (one per output channel), found [3]");
}

#[test]
fn matmul_int_bias_type() {
    let g = mm_int(
        ty(&[1, 4], qt(U8, 0.5, 128)),
        ty(&[4, 2], qt(I8, 0.25, 0)),
        Some(int(&[2], I8)),
        int(&[1, 2], I32),
    );
    assert_one(
        &g,
        "`bias` must be `i32` or `!quant.uniform<i32:f32, s>`, found `i8`",
    );
}

#[test]
fn matmul_int_bias_zero_point() {
    let g = mm_int(
        ty(&[1, 4], qt(U8, 0.5, 128)),
        ty(&[4, 2], qt(I8, 0.25, 0)),
        Some(ty(&[2], qt(I32, 0.125, 1))),
        int(&[1, 2], I32),
    );
    assert_one(&g, "`bias` must have zero point 0, found 1");
}

#[test]
fn matmul_int_bias_scale() {
    let g = mm_int(
        ty(&[1, 4], qt(U8, 0.5, 128)),
        ty(&[4, 2], qax(I8, 1, &[0.25, 0.5], &[0, 0])),
        Some(ty(&[2], qax(I32, 0, &[0.125, 0.125], &[0, 0]))),
        int(&[1, 2], I32),
    );
    assert_one(
        &g,
        "`bias` scale 0.125 (channel 1) must equal sx · sw = 0.25 (within a relative 2^-20)",
    );
}

#[test]
fn matmul_int_quantized_bias_needs_quantized_operands() {
    let g = mm_int(
        int(&[1, 4], U8),
        ty(&[4, 2], qt(I8, 0.25, 0)),
        Some(ty(&[2], qt(I32, 0.25, 0))),
        int(&[1, 2], I32),
    );
    assert_one(&g, "a quantized `bias` needs quantized `x` and `w`");
}

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
fn conv2d_int_weights_on_the_wrong_axis() {
    let g = conv_int(
        ty(&[1, 2, 3, 3], qt(U8, 0.5, 128)),
        ty(&[1, 2, 1, 1], qax(I8, 1, &[0.25, 0.5], &[0, 0])),
        None,
        int(&[1, 1, 3, 3], I32),
    );
    assert_one(
        &g,
        "`w` may be quantized per axis only on axis 0 (the output channels of [O, C/groups, KH, \
         KW]), found axis 1",
    );
}

#[test]
fn conv2d_int_result_axis() {
    let g = conv_int(
        ty(&[1, 2, 3, 3], qt(U8, 0.5, 128)),
        ty(&[3, 2, 1, 1], qax(I8, 0, &[0.25, 0.5, 0.5], &[0, 0, 0])),
        None,
        ty(&[1, 3, 3, 3], qax(I32, 2, &[0.125, 0.25, 0.25], &[0, 0, 0])),
    );
    assert_one(&g, "result must be per axis on axis 1, found axis 2");
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

#[test]
fn add_int_plain_operand() {
    let g = single(
        Op::AddInt {
            mode: RequantMode::Float,
        },
        &[int(&[4], I8), ty(&[4], qt(I8, 0.1, 0))],
        ty(&[4], qt(I8, 0.1, 0)),
    );
    assert_one(&g, "`add_int`: `a` must be quantized, found `i8`");
}

#[test]
fn add_int_per_axis_operand() {
    let g = single(
        Op::AddInt {
            mode: RequantMode::Float,
        },
        &[
            ty(&[2, 2], qt(I8, 0.1, 0)),
            ty(&[2, 2], qax(I8, 0, &[0.1, 0.2], &[0, 0])),
        ],
        ty(&[2, 2], qt(I8, 0.1, 0)),
    );
    assert_one(
        &g,
        "`b` is quantized per axis (axis 0); add_int needs per-tensor operands",
    );
}

#[test]
fn add_int_fixed_point_needs_8_bits() {
    let g = single(
        Op::AddInt {
            mode: RequantMode::SingleRound,
        },
        &[ty(&[4], qt(I16, 0.1, 0)), ty(&[4], qt(I8, 0.1, 0))],
        ty(&[4], qt(I8, 0.1, 0)),
    );
    assert_one(
        &g,
        "mode single_round needs operands of at most 8 bits, but `a` is `i16`",
    );
    // The float mode has no such limit.
    let g = single(
        Op::AddInt {
            mode: RequantMode::Float,
        },
        &[ty(&[4], qt(I16, 0.1, 0)), ty(&[4], qt(I8, 0.1, 0))],
        ty(&[4], qt(I8, 0.1, 0)),
    );
    assert_ok(&g);
}

#[test]
fn add_int_float_multiplier() {
    let g = single(
        Op::AddInt {
            mode: RequantMode::Float,
        },
        &[ty(&[4], qt(I8, 1.0e10, 0)), ty(&[4], qt(I8, 1.0, 0))],
        ty(&[4], qt(I8, 1.0, 0)),
    );
    assert_one(
        &g,
        "the rescale multiplier sa / sy = 1.000000e10 must be < 2^31",
    );
}

#[test]
fn add_int_fixed_point_multiplier() {
    let g = single(
        Op::AddInt {
            mode: RequantMode::DoubleRound,
        },
        &[ty(&[4], qt(I8, 1.0, 0)), ty(&[4], qt(I8, 1.0, 0))],
        ty(&[4], qt(I8, 1.0e-16, 0)),
    );
    assert_one(&g, "the rescale multiplier 2·max(sa, sb) / (2^20 · sy) = ");
}

#[test]
fn add_int_broadcast_and_result() {
    let g = single(
        Op::AddInt {
            mode: RequantMode::Float,
        },
        &[ty(&[2, 3], qt(I8, 0.1, 0)), ty(&[4], qt(I8, 0.1, 0))],
        ty(&[2, 3], qt(I8, 0.1, 0)),
    );
    assert_one(&g, "shapes [2, 3] and [4] do not broadcast");
    let g = single(
        Op::AddInt {
            mode: RequantMode::Float,
        },
        &[ty(&[2, 2], qt(I8, 0.1, 0)), ty(&[2], qt(I8, 0.1, 0))],
        ty(&[2, 2], qax(I8, 1, &[0.1, 0.1], &[0, 0])),
    );
    assert_one(
        &g,
        "result must be quantized per tensor, found per axis (axis 1)",
    );
}

#[test]
fn clamp_int_bounds() {
    let x = ty(&[4], qt(U8, 0.1, 0));
    let g = single(Op::ClampInt { min: 10, max: 5 }, &[x.clone()], x);
    assert_one(&g, "`clamp_int`: `min` = 10 is greater than `max` = 5");
}

#[test]
fn clamp_int_on_float() {
    let g = single(Op::ClampInt { min: 0, max: 5 }, &[f32t(&[4])], f32t(&[4]));
    assert_one(&g, "`x` must be quantized or an integer type, found `f32`");
}

#[test]
fn clamp_int_same_type() {
    let g = single(
        Op::ClampInt { min: 0, max: 5 },
        &[ty(&[4], qt(U8, 0.1, 0))],
        ty(&[4], qt(U8, 0.1, 1)),
    );
    assert_one(
        &g,
        "result element type must be `!quant.uniform<u8:f32, 0.1>`",
    );
}

#[test]
fn pool_multiplier_rounding_to_2_pow_31() {
    // M = s_in / (s_out · 513) = 2^31 · (1 − ε) with 2^31 · ε ≈ 0.499: below
    // 2^31, but its 31-bit fixed-point multiplier rounds up to 2^31 (shift
    // 32), so only the float mode can apply it. (A quotient of two f32
    // scales cannot come this close to 2^31; a window count can.)
    let s_in = 8404993.0f32 / 8.0;
    let s_out = ((1.0 + 2f64.powi(-23)) * 2f64.powi(-20)) as f32;
    let m = crate::quant::Rescale::real_multiplier(s_in, s_out, 513);
    let max = crate::quant::MAX_MULTIPLIER;
    assert!((max - 0.5..max).contains(&m), "{m}");
    let x = ty(&[1, 1, 27, 19], qt(U8, s_in, 0));
    let out = ty(&[1, 1, 1, 1], qt(I8, s_out, 0));
    let float = single(
        Op::GlobalAvgPool {
            mode: RequantMode::Float,
        },
        &[x.clone()],
        out.clone(),
    );
    assert_ok(&float);
    let fixed = single(
        Op::GlobalAvgPool {
            mode: RequantMode::SingleRound,
        },
        &[x],
        out,
    );
    assert_one(
        &fixed,
        "rounds to 2^31 in mode single_round; it must be < 2^31 - 1/2",
    );
}

// ---- run-time quantization parameters ----

#[test]
fn quantize_dyn_zero_point_must_be_plain() {
    let g = single(
        Op::QuantizeDyn,
        &[f32t(&[2, 3]), f32t(&[]), ty(&[], qt(U8, 0.5, 0))],
        int(&[2, 3], U8),
    );
    assert_one(
        &g,
        "`quantize_dyn`: `z` must be a plain integer type (its quantization parameters are \
         operands), found `!quant.uniform<u8:f32, 0.5>`",
    );
}

#[test]
fn quantize_dyn_scale_must_broadcast_to_x() {
    let g = single(
        Op::QuantizeDyn,
        &[f32t(&[2, 3]), f32t(&[2]), int(&[], U8)],
        int(&[2, 3], U8),
    );
    assert_one(
        &g,
        "`quantize_dyn`: `s` [2] must broadcast to the shape [2, 3] of `x`",
    );
    // Growing x is not broadcasting to it.
    let g = single(
        Op::QuantizeDyn,
        &[f32t(&[3]), f32t(&[2, 1]), int(&[], U8)],
        int(&[3], U8),
    );
    assert_has(&g, "`s` [2, 1] must broadcast to the shape [3] of `x`");
}

#[test]
fn quantize_dyn_result_has_z_type() {
    let g = single(
        Op::QuantizeDyn,
        &[f32t(&[4]), f32t(&[]), int(&[], I8)],
        int(&[4], U8),
    );
    assert_one(&g, "result element type must be `i8`, found `u8`");
}

#[test]
fn dequantize_dyn_zero_point_storage() {
    let g = single(
        Op::DequantizeDyn,
        &[int(&[4], U8), f32t(&[]), int(&[], I8)],
        f32t(&[4]),
    );
    assert_one(
        &g,
        "`dequantize_dyn`: `z` must have the storage type `u8` of `q`, found `i8`",
    );
}

#[test]
fn dynamic_scale_needs_f32() {
    let g = single(Op::DynamicScale, &[int(&[4], U8)], f32t(&[]));
    assert_one(&g, "`dynamic_scale`: `x` must be `f32`, found `u8`");
    let g = single(Op::DynamicZeroPoint, &[f32t(&[4])], int(&[], I8));
    assert_one(&g, "result element type must be `u8`, found `i8`");
}

#[test]
fn matmul_int_dyn_zero_point_shapes() {
    let g = single(
        Op::MatMulIntDyn,
        &[
            int(&[2, 3], U8),
            int(&[3, 4], I8),
            int(&[2], U8),
            int(&[4], I8),
        ],
        int(&[2, 4], I32),
    );
    assert_one(
        &g,
        "`matmul_int_dyn`: `zx` must have rank 0 (one zero point for all of `x`), found shape [2]",
    );
    let g = single(
        Op::MatMulIntDyn,
        &[
            int(&[2, 3], U8),
            int(&[3, 4], I8),
            int(&[], U8),
            int(&[3], I8),
        ],
        int(&[2, 4], I32),
    );
    assert_one(
        &g,
        "`zw` must have rank 0 or shape [4] (one per output channel)",
    );
    let g = single(
        Op::MatMulIntDyn,
        &[
            int(&[2, 3], U8),
            int(&[3, 4], I8),
            int(&[], I8),
            int(&[], I8),
        ],
        int(&[2, 4], I32),
    );
    assert_one(
        &g,
        "`zx` must have the storage type `u8` of `x`, found `i8`",
    );
    let g = single(
        Op::MatMulIntDyn,
        &[
            ty(&[2, 3], qt(U8, 0.1, 0)),
            int(&[3, 4], I8),
            int(&[], U8),
            int(&[], I8),
        ],
        int(&[2, 4], I32),
    );
    assert_one(&g, "`x` must be a plain integer type");
}

#[test]
fn conv2d_int_dyn_shapes() {
    let g = single(
        Op::Conv2dIntDyn(conv([1, 1], [0; 4], [1, 1], 1)),
        &[
            int(&[1, 2, 4, 4], U8),
            int(&[3, 2, 3, 3], I8),
            int(&[], U8),
            int(&[2], I8),
        ],
        int(&[1, 3, 2, 2], I32),
    );
    assert_one(&g, "`zw` must have rank 0 or shape [3]");
    let g = single(
        Op::Conv2dIntDyn(conv([1, 1], [0; 4], [1, 1], 1)),
        &[
            int(&[1, 2, 4, 4], U8),
            int(&[3, 2, 3, 3], I8),
            int(&[], U8),
            int(&[3], I8),
        ],
        int(&[1, 3, 2, 2], I32),
    );
    assert_ok(&g);
}
