//! JIT vs interpreter, bit for bit, on the ops whose quantization
//! parameters are run-time values: `dynamic_scale`, `dynamic_zero_point`,
//! `quantize_dyn`, `dequantize_dyn`, `matmul_int_dyn`, `conv2d_int_dyn`.
//! Scales and zero points are graph inputs (so the generated code reads
//! them at run time) and take their extreme values: zero, negative, NaN and
//! infinite scales, zero points at both ends of the range; data includes
//! NaN, ±∞, −0.0, all zeros and rounding ties. Every case runs on every
//! dot-product path this host can run.

mod jit_common;

use jit_common::{Rng, assert_same, compile_forced};
use qcc_ir::op::{Conv2dAttrs, Op};
use qcc_ir::types::{ElemType, ScalarType, TensorType};
use qcc_ir::{Graph, Tensor, TensorData};

const SPECIAL: [f32; 9] = [
    0.0,
    -0.0,
    f32::NAN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    2.5,
    -2.5,
    1e30,
    -1e-30,
];

/// f32 data: random in [−scale, scale] in steps that make rounding ties
/// likely, with special values mixed in when `special`.
fn floats(n: usize, scale: f32, special: bool, rng: &mut Rng) -> Vec<f32> {
    (0..n)
        .map(|_| {
            if special && rng.next().is_multiple_of(6) {
                rng.pick(&SPECIAL)
            } else {
                rng.range(-64, 64) as f32 / 64.0 * scale
            }
        })
        .collect()
}

fn ints(st: ScalarType, n: usize, rng: &mut Rng) -> TensorData {
    let (lo, hi) = st.int_range().unwrap();
    let (lo, hi) = (lo.max(-(1 << 40)), hi.min(1 << 40));
    let vals: Vec<i64> = (0..n)
        .map(|_| match rng.next() % 5 {
            0 => lo,
            1 => hi,
            _ => rng.range(lo, hi),
        })
        .collect();
    TensorData::from_i64s(st, &vals).unwrap()
}

fn plain(shape: &[usize], st: ScalarType) -> TensorType {
    TensorType::new(shape.to_vec(), ElemType::Scalar(st))
}

/// Runs `g` on `inputs` with the interpreter and on every path.
fn check(g: &Graph, inputs: &[Tensor], what: &str) {
    if let Err(d) = qcc_ir::verify::verify(g) {
        panic!("{what}: does not verify: {}", d[0].message);
    }
    let want = qcc_ir::interp::run(g, inputs).unwrap_or_else(|e| panic!("{what}: {e}"));
    for p in qcc_compiler::model::supported_paths() {
        let got = compile_forced(g, p)
            .run(inputs)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_same(&want, &got, &format!("{what} on path {p}"));
    }
}

/// Random data for every input of `g`: f32 inputs named `s*` are scales
/// (special values included when `bad_scales`), other f32 inputs data.
fn inputs_for(g: &Graph, rng: &mut Rng, special: bool, bad_scales: bool) -> Vec<Tensor> {
    g.inputs()
        .iter()
        .map(|&v| {
            let ty = g.ty(v);
            let n: usize = ty.shape.iter().product();
            let name = g.node(v).name.clone().unwrap_or_default();
            let data = match ty.elem.storage() {
                ScalarType::F32 if name.starts_with('s') => TensorData::F32(
                    (0..n)
                        .map(|_| {
                            if bad_scales && rng.next().is_multiple_of(4) {
                                rng.pick(&[0.0, -0.5, f32::NAN, f32::INFINITY, 1e-38])
                            } else {
                                rng.range(1, 200) as f32 / 256.0
                            }
                        })
                        .collect(),
                ),
                ScalarType::F32 => TensorData::F32(floats(n, 4.0, special, rng)),
                st => ints(st, n, rng),
            };
            Tensor::new(ty.shape.clone(), data)
        })
        .collect()
}

#[test]
fn dynamic_quantize_linear_chain() {
    let mut rng = Rng(0x5eed_0001);
    for shape in [vec![1], vec![7], vec![3, 5], vec![2, 3, 4, 5], vec![64, 33]] {
        let mut g = Graph::new("dql");
        let x = g.add_input("x", TensorType::f32(shape.clone()));
        let s = g.add_node(Op::DynamicScale, &[x], TensorType::f32(vec![]));
        let z = g.add_node(Op::DynamicZeroPoint, &[x], plain(&[], ScalarType::U8));
        let q = g.add_node(Op::QuantizeDyn, &[x, s, z], plain(&shape, ScalarType::U8));
        let d = g.add_node(
            Op::DequantizeDyn,
            &[q, s, z],
            TensorType::f32(shape.clone()),
        );
        g.add_output("q", q);
        g.add_output("s", s);
        g.add_output("z", z);
        g.add_output("d", d);
        let n: usize = shape.iter().product();
        for round in 0..12 {
            let data = match round {
                0 => vec![0.0; n],
                1 => vec![-0.0; n],
                2 => vec![f32::NAN; n],
                3 => vec![-3.25; n],
                4 => vec![1e-40; n],
                5 => floats(n, 1e38, false, &mut rng),
                _ => floats(n, [0.01, 1.0, 300.0][round % 3], round % 2 == 0, &mut rng),
            };
            let x = Tensor::f32(shape.clone(), data);
            check(
                &g,
                &[x],
                &format!("dynamic quantize {shape:?} round {round}"),
            );
        }
    }
}

#[test]
fn quantize_and_dequantize_with_run_time_parameters() {
    let mut rng = Rng(0x5eed_0002);
    let storages = [
        ScalarType::U8,
        ScalarType::I8,
        ScalarType::I16,
        ScalarType::U16,
        ScalarType::I32,
        ScalarType::U4,
        ScalarType::I4,
    ];
    // (data shape, scale shape, zero-point shape)
    let layouts: [(&[usize], &[usize], &[usize]); 5] = [
        (&[6], &[], &[]),
        (&[2, 3], &[3], &[1]),
        (&[2, 3, 4], &[3, 1], &[2, 1, 1]),
        (&[4, 2, 5], &[4, 2, 1], &[]),
        (&[1, 3, 2, 2], &[1, 3, 1, 1], &[3, 1, 1]),
    ];
    for st in storages {
        for (shape, ss, zs) in layouts {
            let mut g = Graph::new("qd");
            let x = g.add_input("x", TensorType::f32(shape.to_vec()));
            let s = g.add_input("s", TensorType::f32(ss.to_vec()));
            let z = g.add_input("z", plain(zs, st));
            let q = g.add_node(Op::QuantizeDyn, &[x, s, z], plain(shape, st));
            let d = g.add_node(
                Op::DequantizeDyn,
                &[q, s, z],
                TensorType::f32(shape.to_vec()),
            );
            g.add_output("q", q);
            g.add_output("d", d);
            for round in 0..6 {
                let inputs = inputs_for(&g, &mut rng, round % 2 == 1, round >= 3);
                check(
                    &g,
                    &inputs,
                    &format!("{st} {shape:?} {ss:?} {zs:?} round {round}"),
                );
            }
        }
    }
}

#[test]
fn matmul_int_dyn_shapes_and_zero_points() {
    let mut rng = Rng(0x5eed_0003);
    let operand_types = [
        (ScalarType::U8, ScalarType::I8),
        (ScalarType::I8, ScalarType::I8),
        (ScalarType::U8, ScalarType::U8),
        (ScalarType::U4, ScalarType::I4),
        (ScalarType::I16, ScalarType::I8),
    ];
    let shapes: [(&[usize], usize); 6] = [
        (&[1, 1], 1),
        (&[1, 16], 3),
        (&[5, 17], 9),
        (&[2, 3, 7], 4),
        (&[64, 64], 10),
        (&[3, 33], 1),
    ];
    for (xs, ws) in operand_types {
        for (xshape, n) in shapes {
            let k = xshape[xshape.len() - 1];
            for per_channel in [false, true] {
                let mut g = Graph::new("mm");
                let x = g.add_input("x", plain(xshape, xs));
                let w = g.add_input("w", plain(&[k, n], ws));
                let zx = g.add_input("zx", plain(&[], xs));
                let zshape = if per_channel { vec![n] } else { vec![] };
                let zw = g.add_input("zw", plain(&zshape, ws));
                let mut oshape = xshape.to_vec();
                *oshape.last_mut().unwrap() = n;
                let y = g.add_node(
                    Op::MatMulIntDyn,
                    &[x, w, zx, zw],
                    plain(&oshape, ScalarType::I32),
                );
                g.add_output("y", y);
                if qcc_ir::verify::verify(&g).is_err() {
                    // i16 activations with large K may not fit i32.
                    continue;
                }
                for round in 0..3 {
                    let inputs = inputs_for(&g, &mut rng, false, false);
                    check(
                        &g,
                        &inputs,
                        &format!("{xs}×{ws} {xshape:?}×[{k}, {n}] {round}"),
                    );
                }
            }
        }
    }
}

#[test]
fn conv2d_int_dyn_geometry() {
    let mut rng = Rng(0x5eed_0004);
    let conv =
        |strides: [usize; 2], pads: [usize; 4], dilations: [usize; 2], groups: usize| Conv2dAttrs {
            strides,
            pads,
            dilations,
            groups,
        };
    // (x shape, out channels, kernel, attrs)
    let cases = [
        (
            [1, 1, 5, 5],
            2,
            [3, 3],
            conv([1, 1], [1, 1, 1, 1], [1, 1], 1),
        ),
        (
            [2, 3, 6, 7],
            4,
            [3, 2],
            conv([2, 1], [0, 1, 2, 0], [1, 2], 1),
        ),
        (
            [1, 4, 5, 5],
            4,
            [3, 3],
            conv([1, 1], [1, 1, 1, 1], [1, 1], 4),
        ),
        (
            [1, 4, 6, 6],
            6,
            [1, 1],
            conv([2, 2], [0, 0, 0, 0], [1, 1], 2),
        ),
        (
            [3, 8, 8, 8],
            16,
            [3, 3],
            conv([1, 1], [1, 1, 1, 1], [1, 1], 1),
        ),
    ];
    for (xshape, o, [kh, kw], attrs) in cases {
        for (xs, ws) in [
            (ScalarType::U8, ScalarType::I8),
            (ScalarType::I8, ScalarType::U8),
        ] {
            for per_channel in [false, true] {
                let cg = xshape[1] / attrs.groups;
                let mut g = Graph::new("conv");
                let x = g.add_input("x", plain(&xshape, xs));
                let w = g.add_input("w", plain(&[o, cg, kh, kw], ws));
                let zx = g.add_input("zx", plain(&[], xs));
                let zshape = if per_channel { vec![o] } else { vec![] };
                let zw = g.add_input("zw", plain(&zshape, ws));
                let out = qcc_ir::verify::infer(
                    &Op::Conv2dIntDyn(attrs.clone()),
                    &[g.ty(x), g.ty(w), g.ty(zx), g.ty(zw)],
                )
                .unwrap()
                .exact_type()
                .unwrap();
                let y = g.add_node(Op::Conv2dIntDyn(attrs.clone()), &[x, w, zx, zw], out);
                g.add_output("y", y);
                for round in 0..3 {
                    let inputs = inputs_for(&g, &mut rng, false, false);
                    check(&g, &inputs, &format!("conv {xshape:?} {attrs:?} {round}"));
                }
            }
        }
    }
}

/// Runs `g` with the interpreter and on every path at 1 and 2 threads.
fn check_threads(g: &Graph, inputs: &[Tensor], what: &str) {
    let want = qcc_ir::interp::run(g, inputs).unwrap_or_else(|e| panic!("{what}: {e}"));
    for p in qcc_compiler::model::supported_paths() {
        for threads in [1, 2] {
            let got = qcc_compiler::model::Compiler::new()
                .run_passes(false)
                .target_features(qcc_compiler::model::TargetFeatures::Force(p))
                .threads(threads)
                .compile(g)
                .unwrap_or_else(|e| panic!("{what}: path {p}: {e}"))
                .run(inputs)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_same(
                &want,
                &got,
                &format!("{what} on path {p}, {threads} threads"),
            );
        }
    }
}

/// Constant weights and weight zero points: the int8 kernels of the static
/// ops with the run-time `zx` folded in (`codegen/src/lower/dynamic.rs`),
/// for matmuls, convolutions of one group and depthwise ones, with shapes
/// large enough to split between two threads.
#[test]
fn dyn_ops_with_constant_weights_on_the_kernels() {
    let mut rng = Rng(0x5eed_0005);
    let operand_types = [
        (ScalarType::U8, ScalarType::I8),
        (ScalarType::I8, ScalarType::I8),
        (ScalarType::U8, ScalarType::U8),
        (ScalarType::I8, ScalarType::U8),
    ];
    let mm: [(&[usize], usize); 4] = [
        (&[5, 17], 9),
        (&[2, 3, 7], 70),
        (&[200, 160], 150),
        (&[1, 300], 130),
    ];
    let conv =
        |strides: [usize; 2], pads: [usize; 4], dilations: [usize; 2], groups: usize| Conv2dAttrs {
            strides,
            pads,
            dilations,
            groups,
        };
    let convs = [
        (
            [1, 3, 9, 11],
            10,
            [3, 3],
            conv([2, 1], [1, 2, 1, 0], [1, 1], 1),
        ),
        (
            [1, 32, 24, 24],
            48,
            [3, 3],
            conv([1, 1], [1, 1, 1, 1], [1, 1], 1),
        ),
        (
            [2, 16, 10, 10],
            20,
            [1, 1],
            conv([1, 1], [0, 0, 0, 0], [1, 1], 1),
        ),
        (
            [1, 24, 40, 40],
            24,
            [3, 3],
            conv([1, 1], [1, 1, 1, 1], [1, 1], 24),
        ),
        (
            [2, 8, 9, 7],
            8,
            [5, 5],
            conv([2, 1], [2, 2, 2, 2], [1, 1], 8),
        ),
        (
            [1, 8, 9, 9],
            8,
            [3, 3],
            conv([1, 1], [2, 1, 2, 1], [2, 2], 8),
        ),
    ];
    for (xs, ws) in operand_types {
        for per_channel in [false, true] {
            // Depthwise kernels need the weights' zero point 0 (128 for
            // u8): half the rounds use it, half a random one.
            for zero_zw in [false, true] {
                let zw_data = |n: usize, rng: &mut Rng| {
                    if zero_zw {
                        let z = if ws == ScalarType::U8 { 128 } else { 0 };
                        TensorData::from_i64s(ws, &vec![z; n]).unwrap()
                    } else {
                        ints(ws, n, rng)
                    }
                };
                for (xshape, n) in mm {
                    let k = xshape[xshape.len() - 1];
                    let mut g = Graph::new("mm");
                    let x = g.add_input("x", plain(xshape, xs));
                    let w = g.add_const(ints(ws, k * n, &mut rng), plain(&[k, n], ws));
                    let zx = g.add_input("zx", plain(&[], xs));
                    let zshape = if per_channel { vec![n] } else { vec![] };
                    let zw = g.add_const(
                        zw_data(zshape.iter().product(), &mut rng),
                        plain(&zshape, ws),
                    );
                    let mut oshape = xshape.to_vec();
                    *oshape.last_mut().unwrap() = n;
                    let y = g.add_node(
                        Op::MatMulIntDyn,
                        &[x, w, zx, zw],
                        plain(&oshape, ScalarType::I32),
                    );
                    g.add_output("y", y);
                    let inputs = inputs_for(&g, &mut rng, false, false);
                    check_threads(&g, &inputs, &format!("{xs}×{ws} {xshape:?}×[{k}, {n}]"));
                }
                for (xshape, o, [kh, kw], attrs) in &convs {
                    let cg = xshape[1] / attrs.groups;
                    let mut g = Graph::new("conv");
                    let x = g.add_input("x", plain(xshape, xs));
                    let wshape = [*o, cg, *kh, *kw];
                    let w = g.add_const(
                        ints(ws, wshape.iter().product(), &mut rng),
                        plain(&wshape, ws),
                    );
                    let zx = g.add_input("zx", plain(&[], xs));
                    let zshape = if per_channel { vec![*o] } else { vec![] };
                    let zw = g.add_const(
                        zw_data(zshape.iter().product(), &mut rng),
                        plain(&zshape, ws),
                    );
                    let out = qcc_ir::verify::infer(
                        &Op::Conv2dIntDyn(attrs.clone()),
                        &[g.ty(x), g.ty(w), g.ty(zx), g.ty(zw)],
                    )
                    .unwrap()
                    .exact_type()
                    .unwrap();
                    let y = g.add_node(Op::Conv2dIntDyn(attrs.clone()), &[x, w, zx, zw], out);
                    g.add_output("y", y);
                    let inputs = inputs_for(&g, &mut rng, false, false);
                    check_threads(&g, &inputs, &format!("{xs}×{ws} conv {xshape:?} {attrs:?}"));
                }
            }
        }
    }
}
