//! JIT vs interpreter on hand-built integer graphs that hit the edges:
//! K not a multiple of 4 or 16, M = 1, tiny and odd shapes, all-saturating
//! inputs, zero points at the ends of the range, signed and unsigned
//! activations, per-channel weight zero points, per-channel requantize
//! scales from 2^-20 to 2^4 in every mode, convolutions with padding read
//! through non-zero zero points, strides, dilations, groups and depthwise.
//! Every case runs on every dot-product path this host can run.

mod jit_common;

use jit_common::{Rng, assert_same, compile_forced};
use qcc_ir::op::{Conv2dAttrs, Op, Pool2dAttrs, RequantMode};
use qcc_ir::types::{ElemType, QuantType, ScalarType, TensorType};
use qcc_ir::{Graph, Tensor, TensorData};

/// How input values are drawn.
#[derive(Clone, Copy, Debug)]
enum Fill {
    Random,
    AllMax,
    AllMin,
    Alternate,
}

fn fill(st: ScalarType, n: usize, how: Fill, rng: &mut Rng) -> TensorData {
    let (lo, hi) = st.int_range().unwrap();
    let vals: Vec<i64> = (0..n)
        .map(|i| match how {
            Fill::Random => rng.range(lo, hi),
            Fill::AllMax => hi,
            Fill::AllMin => lo,
            Fill::Alternate => {
                if i % 2 == 0 {
                    lo
                } else {
                    hi
                }
            }
        })
        .collect();
    TensorData::from_i64s(st, &vals).unwrap()
}

fn q(st: ScalarType, s: f32, z: i64) -> ElemType {
    ElemType::quant(QuantType::per_tensor(st, s, z))
}

/// Runs `g` on inputs of every fill, on every path; returns whether it ran
/// (a graph the verifier rejects is skipped and reported as `false`).
fn check(g: &Graph, what: &str, rng: &mut Rng) -> bool {
    if let Err(d) = qcc_ir::verify::verify(g) {
        eprintln!("{what}: skipped: {}", d[0].message);
        return false;
    }
    let models: Vec<_> = qcc_compiler::model::supported_paths()
        .into_iter()
        .map(|p| (p, compile_forced(g, p)))
        .collect();
    for how in [Fill::Random, Fill::AllMax, Fill::AllMin, Fill::Alternate] {
        let inputs: Vec<Tensor> = g
            .inputs()
            .iter()
            .map(|&v| {
                let ty = g.ty(v);
                let n = ty.shape.iter().product();
                Tensor::new(ty.shape.clone(), fill(ty.elem.storage(), n, how, rng))
            })
            .collect();
        let want = qcc_ir::interp::run(g, &inputs).unwrap_or_else(|e| panic!("{what}: {e}"));
        for (p, m) in &models {
            let got = m.run(&inputs).unwrap();
            assert_same(&want, &got, &format!("{what} {how:?} path {p}"));
        }
    }
    true
}

/// `x [m, k] → matmul_int (w per axis or per tensor, bias) → requantize per
/// axis with scales 2^-20 .. 2^4 → out`.
#[allow(clippy::too_many_arguments)]
fn matmul_graph(
    m: usize,
    k: usize,
    n: usize,
    xs: ScalarType,
    zx: i64,
    ws: ScalarType,
    zw: &[i64],
    bias: bool,
    mode: RequantMode,
    out: ScalarType,
    zo: i64,
    rng: &mut Rng,
) -> Graph {
    let mut g = Graph::new("mm");
    let sx = 1.0f32;
    let x = g.add_input("x", TensorType::new(vec![m, k], q(xs, sx, zx)));
    // Weight scales: powers of two (ties!) and odd values, 2^-20 .. 2^4.
    let sw: Vec<f32> = (0..n)
        .map(|c| {
            let e = -20 + (24 * c as i32) / (n.max(2) as i32 - 1).max(1);
            let base = 2f32.powi(e.min(4));
            if c % 3 == 2 { base * 0.7371 } else { base }
        })
        .collect();
    let per_axis = zw.len() > 1 || n > 1;
    let wq = if per_axis {
        QuantType::per_axis(
            ws,
            1,
            sw.clone(),
            (0..n).map(|c| zw[c % zw.len()]).collect(),
        )
    } else {
        QuantType::per_tensor(ws, sw[0], zw[0])
    };
    let (wlo, whi) = ws.int_range().unwrap();
    let wvals: Vec<i64> = (0..k * n).map(|_| rng.range(wlo.max(-127), whi)).collect();
    let w = g.add_const(
        TensorData::from_i64s(ws, &wvals).unwrap(),
        TensorType::new(vec![k, n], ElemType::quant(wq)),
    );
    let acc_scales: Vec<f32> = sw.iter().map(|s| sx * s).collect();
    let acc_q = if per_axis {
        QuantType::per_axis(ScalarType::I32, 1, acc_scales.clone(), vec![0; n])
    } else {
        QuantType::per_tensor(ScalarType::I32, acc_scales[0], 0)
    };
    let mut args = vec![x, w];
    if bias {
        let bq = if per_axis {
            QuantType::per_axis(ScalarType::I32, 0, acc_scales.clone(), vec![0; n])
        } else {
            QuantType::per_tensor(ScalarType::I32, acc_scales[0], 0)
        };
        let bvals: Vec<i64> = (0..n).map(|_| rng.range(-5000, 5000)).collect();
        args.push(g.add_const(
            TensorData::from_i64s(ScalarType::I32, &bvals).unwrap(),
            TensorType::new(vec![n], ElemType::quant(bq)),
        ));
    }
    let acc = g.add_node(
        Op::MatMulInt(qcc_ir::IntAttrs::default()),
        &args,
        TensorType::new(vec![m, n], ElemType::quant(acc_q)),
    );
    let y = g.add_node(
        Op::Requantize { mode },
        &[acc],
        TensorType::new(vec![m, n], q(out, 1.0, zo)),
    );
    g.add_output("acc", acc);
    g.add_output("y", y);
    g
}

#[test]
fn matmul_int_edges() {
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let shapes = [
        (1, 1, 1),
        (1, 3, 5),
        (1, 17, 33),
        (2, 5, 16),
        (3, 4, 64),
        (5, 64, 65),
        (7, 33, 70),
        (4, 100, 130),
        (1, 128, 10),
        (9, 19, 129),
    ];
    let xs = [
        (ScalarType::U8, 0),
        (ScalarType::U8, 255),
        (ScalarType::U8, 131),
        (ScalarType::I8, -128),
        (ScalarType::I8, 127),
        (ScalarType::I8, 0),
        (ScalarType::U4, 15),
        (ScalarType::I4, -3),
    ];
    let ws: [(ScalarType, &[i64]); 4] = [
        (ScalarType::I8, &[0]),
        (ScalarType::I8, &[-128, 127, 3]),
        (ScalarType::I4, &[-8, 7]),
        (ScalarType::U4, &[0, 15]),
    ];
    let mut ran = 0;
    for (i, &(m, k, n)) in shapes.iter().enumerate() {
        for (j, &(xst, zx)) in xs.iter().enumerate() {
            let (wst, zw) = ws[(i + j) % ws.len()];
            let mode = RequantMode::ALL[(i + 2 * j) % 3];
            let (out, zo) = if j % 2 == 0 {
                (ScalarType::U8, [0, 255, 128][i % 3])
            } else {
                (ScalarType::I8, [-128, 127, 0][i % 3])
            };
            let g = matmul_graph(
                m,
                k,
                n,
                xst,
                zx,
                wst,
                zw,
                (i + j) % 2 == 0,
                mode,
                out,
                zo,
                &mut rng,
            );
            ran += check(
                &g,
                &format!("matmul {m}x{k}x{n} x {xst}:{zx} w {wst}:{zw:?} {mode}"),
                &mut rng,
            ) as usize;
        }
    }
    assert!(ran >= 70, "only {ran} cases ran");
}

/// `x [n, c, h, w] → conv2d_int → requantize → out`.
#[allow(clippy::too_many_arguments)]
fn conv_graph(
    x_shape: [usize; 4],
    o: usize,
    kernel: [usize; 2],
    attrs: Conv2dAttrs,
    xs: ScalarType,
    zx: i64,
    per_axis_zw: bool,
    mode: RequantMode,
    rng: &mut Rng,
) -> Option<Graph> {
    let [n, c, h, w] = x_shape;
    let cg = c / attrs.groups;
    let eh = attrs.dilations[0] * (kernel[0] - 1) + 1;
    let ew = attrs.dilations[1] * (kernel[1] - 1) + 1;
    let (hp, wp) = (
        h + attrs.pads[0] + attrs.pads[2],
        w + attrs.pads[1] + attrs.pads[3],
    );
    if hp < eh || wp < ew {
        return None;
    }
    let oh = (hp - eh) / attrs.strides[0] + 1;
    let ow = (wp - ew) / attrs.strides[1] + 1;
    let mut g = Graph::new("conv");
    let x = g.add_input("x", TensorType::new(vec![n, c, h, w], q(xs, 0.5, zx)));
    let sw: Vec<f32> = (0..o).map(|i| 2f32.powi(-(i as i32 % 21)) * 1.25).collect();
    let zw: Vec<i64> = (0..o)
        .map(|i| {
            if per_axis_zw {
                [0, -128, 127, 5][i % 4]
            } else {
                0
            }
        })
        .collect();
    let wq = QuantType::per_axis(ScalarType::I8, 0, sw.clone(), zw);
    let wn = o * cg * kernel[0] * kernel[1];
    let wvals: Vec<i64> = (0..wn).map(|_| rng.range(-127, 127)).collect();
    let wv = g.add_const(
        TensorData::from_i64s(ScalarType::I8, &wvals).unwrap(),
        TensorType::new(vec![o, cg, kernel[0], kernel[1]], ElemType::quant(wq)),
    );
    let acc_scales: Vec<f32> = sw.iter().map(|s| 0.5 * s).collect();
    let bq = QuantType::per_axis(ScalarType::I32, 0, acc_scales.clone(), vec![0; o]);
    let bvals: Vec<i64> = (0..o).map(|_| rng.range(-3000, 3000)).collect();
    let b = g.add_const(
        TensorData::from_i64s(ScalarType::I32, &bvals).unwrap(),
        TensorType::new(vec![o], ElemType::quant(bq)),
    );
    let accq = QuantType::per_axis(ScalarType::I32, 1, acc_scales, vec![0; o]);
    let acc = g.add_node(
        Op::Conv2dInt(attrs, qcc_ir::IntAttrs::default()),
        &[x, wv, b],
        TensorType::new(vec![n, o, oh, ow], ElemType::quant(accq)),
    );
    let y = g.add_node(
        Op::Requantize { mode },
        &[acc],
        TensorType::new(vec![n, o, oh, ow], q(ScalarType::U8, 0.75, 7)),
    );
    g.add_output("acc", acc);
    g.add_output("y", y);
    Some(g)
}

#[test]
fn conv2d_int_edges() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let conv = |s: [usize; 2], p: [usize; 4], d: [usize; 2], groups: usize| Conv2dAttrs {
        strides: s,
        pads: p,
        dilations: d,
        groups,
    };
    let cases = [
        (
            [1, 1, 5, 5],
            3,
            [3, 3],
            conv([1, 1], [1, 1, 1, 1], [1, 1], 1),
        ),
        (
            [2, 3, 7, 6],
            5,
            [3, 3],
            conv([2, 2], [1, 0, 2, 1], [1, 1], 1),
        ),
        (
            [1, 4, 6, 6],
            8,
            [1, 1],
            conv([1, 1], [0, 0, 0, 0], [1, 1], 1),
        ),
        (
            [1, 3, 9, 9],
            4,
            [3, 3],
            conv([1, 2], [2, 2, 2, 2], [2, 2], 1),
        ),
        (
            [1, 4, 5, 5],
            4,
            [3, 3],
            conv([1, 1], [1, 1, 1, 1], [1, 1], 4),
        ),
        (
            [1, 4, 5, 5],
            8,
            [3, 3],
            conv([2, 1], [1, 1, 1, 1], [1, 1], 4),
        ),
        (
            [1, 6, 4, 5],
            4,
            [2, 3],
            conv([1, 1], [0, 1, 1, 0], [1, 1], 2),
        ),
        (
            [1, 17, 3, 3],
            33,
            [1, 1],
            conv([1, 1], [0, 0, 0, 0], [1, 1], 1),
        ),
        (
            [1, 5, 8, 8],
            70,
            [3, 3],
            conv([1, 1], [1, 1, 1, 1], [1, 1], 1),
        ),
        (
            [1, 1, 1, 1],
            1,
            [1, 1],
            conv([1, 1], [0, 0, 0, 0], [1, 1], 1),
        ),
        // im2col rows built in 32- and 64-byte pieces (kernel rows of 24,
        // 36 and 60 bytes; 40-byte taps with dilation 2), and rows just
        // past the short-row limit (3·3·29 = 261 bytes).
        (
            [2, 8, 6, 5],
            8,
            [3, 3],
            conv([1, 1], [1, 1, 1, 1], [1, 1], 1),
        ),
        (
            [1, 12, 5, 6],
            6,
            [3, 3],
            conv([1, 1], [1, 1, 1, 1], [1, 1], 1),
        ),
        (
            [1, 20, 4, 4],
            3,
            [2, 3],
            conv([1, 1], [0, 1, 1, 1], [1, 1], 1),
        ),
        (
            [1, 40, 6, 6],
            5,
            [2, 2],
            conv([1, 1], [1, 1, 1, 1], [2, 2], 1),
        ),
        (
            [1, 29, 5, 5],
            7,
            [3, 3],
            conv([1, 1], [1, 1, 1, 1], [1, 1], 1),
        ),
    ];
    let xs = [
        (ScalarType::U8, 37),
        (ScalarType::U8, 255),
        (ScalarType::I8, -128),
        (ScalarType::I8, 127),
        (ScalarType::U8, 0),
    ];
    let mut ran = 0;
    for (i, (shape, o, kernel, attrs)) in cases.iter().enumerate() {
        for (j, &(xst, zx)) in xs.iter().enumerate() {
            let mode = RequantMode::ALL[(i + j) % 3];
            let Some(g) = conv_graph(
                *shape,
                *o,
                *kernel,
                attrs.clone(),
                xst,
                zx,
                (i + j) % 2 == 1,
                mode,
                &mut rng,
            ) else {
                continue;
            };
            ran += check(
                &g,
                &format!("conv {shape:?} o {o} k {kernel:?} {attrs:?} x {xst}:{zx} {mode}"),
                &mut rng,
            ) as usize;
        }
    }
    assert!(ran >= 65, "only {ran} cases ran");
}

#[test]
fn quantized_pools_and_add_edges() {
    let mut rng = Rng(42);
    let mut ran = 0;
    for mode in RequantMode::ALL {
        for (zx, zy) in [(0i64, 255i64), (255, 0), (128, 3)] {
            // avgpool with padding (border windows rescale by their count).
            for include in [false, true] {
                let mut g = Graph::new("pool");
                let x = g.add_input(
                    "x",
                    TensorType::new(vec![1, 2, 5, 7], q(ScalarType::U8, 0.1, zx)),
                );
                let attrs = Pool2dAttrs {
                    kernel: [3, 2],
                    strides: [2, 1],
                    pads: [1, 1, 1, 1],
                    count_include_pad: include,
                    mode,
                };
                let ap = g.add_node(
                    Op::AvgPool2d(attrs.clone()),
                    &[x],
                    TensorType::new(vec![1, 2, 3, 8], q(ScalarType::U8, 0.07, zy)),
                );
                let mp = g.add_node(
                    Op::MaxPool2d(Pool2dAttrs {
                        mode: RequantMode::Float,
                        count_include_pad: false,
                        ..attrs
                    }),
                    &[x],
                    TensorType::new(vec![1, 2, 3, 8], q(ScalarType::U8, 0.1, zx)),
                );
                let gp = g.add_node(
                    Op::GlobalAvgPool { mode },
                    &[x],
                    TensorType::new(vec![1, 2, 1, 1], q(ScalarType::U8, 0.03, zy)),
                );
                g.add_output("ap", ap);
                g.add_output("mp", mp);
                g.add_output("gp", gp);
                ran += check(&g, &format!("pools {mode} {zx} {zy} {include}"), &mut rng) as usize;
            }
            // add_int with broadcasting and saturating results.
            let mut g = Graph::new("add");
            let a = g.add_input(
                "a",
                TensorType::new(vec![2, 3, 4], q(ScalarType::U8, 0.02, zx)),
            );
            let b = g.add_input(
                "b",
                TensorType::new(vec![3, 1], q(ScalarType::I8, 0.5, zy - 128)),
            );
            let y = g.add_node(
                Op::AddInt { mode, ort: false },
                &[a, b],
                TensorType::new(vec![2, 3, 4], q(ScalarType::I8, 0.01, 0)),
            );
            let c = g.add_node(
                Op::ClampInt { min: -100, max: 90 },
                &[y],
                TensorType::new(vec![2, 3, 4], q(ScalarType::I8, 0.01, 0)),
            );
            g.add_output("y", y);
            g.add_output("c", c);
            ran += check(&g, &format!("add_int {mode} {zx} {zy}"), &mut rng) as usize;
        }
    }
    assert_eq!(ran, 27);
}

/// `add_int` in float mode where one operand broadcasts along the outer
/// dimensions or along the innermost run (the helper's broadcast forms: a
/// per-column bias after a GEMM, a per-channel bias over NCHW, a row added
/// to every row, either operand first), with runs long enough for the
/// helper and ragged lengths, signed and unsigned both ways.
#[test]
fn add_int_broadcast_runs() {
    let mut rng = Rng(0x5eed_add1);
    let mut ran = 0;
    let cases: [(&[usize], &[usize]); 6] = [
        (&[5, 67], &[67]),
        (&[3, 4, 33], &[1, 1, 33]),
        (&[2, 3, 40], &[1, 3, 1]),
        (&[1, 6, 7, 9], &[6, 1, 1]),
        (&[4, 17], &[4, 1]),
        (&[2, 19, 16], &[19, 16]),
    ];
    for (xs, ys) in cases {
        for (sx, sy, so) in [
            (ScalarType::U8, ScalarType::U8, ScalarType::U8),
            (ScalarType::I8, ScalarType::U8, ScalarType::I8),
            (ScalarType::U8, ScalarType::I8, ScalarType::U8),
        ] {
            for swap in [false, true] {
                let z = |s: ScalarType| if s == ScalarType::U8 { 131 } else { -5 };
                let mut g = Graph::new("add_bcast");
                let x = g.add_input("x", TensorType::new(xs.to_vec(), q(sx, 0.03, z(sx))));
                let y = g.add_input("y", TensorType::new(ys.to_vec(), q(sy, 0.11, z(sy))));
                let args = if swap { [y, x] } else { [x, y] };
                let r = g.add_node(
                    Op::AddInt {
                        mode: RequantMode::Float,
                        ort: false,
                    },
                    &args,
                    TensorType::new(xs.to_vec(), q(so, 0.05, z(so) / 2)),
                );
                g.add_output("r", r);
                ran += check(
                    &g,
                    &format!("add_int {xs:?} + {ys:?} {sx} {sy} {so} {swap}"),
                    &mut rng,
                ) as usize;
            }
        }
    }
    assert_eq!(ran, 36);
}

/// `requantize` from 8 bits to 8 bits becomes a table lookup: every code of
/// the input (a 2·4·32 tensor holds each u8 code once per channel pair),
/// per tensor and per axis, narrow ranges, every mode, signed and unsigned
/// both ways.
#[test]
fn requantize_8_bit_tables() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut ran = 0;
    let (ns, nc, nw) = (2, 4, 32);
    for mode in RequantMode::ALL {
        for (si, so) in [
            (ScalarType::U8, ScalarType::U8),
            (ScalarType::I8, ScalarType::U8),
            (ScalarType::U8, ScalarType::I8),
            (ScalarType::I8, ScalarType::I8),
        ] {
            for per_axis in [false, true] {
                let zi = if si == ScalarType::U8 { 131 } else { -7 };
                let qi = if per_axis {
                    QuantType::per_axis(
                        si,
                        1,
                        vec![0.02, 0.5, 3e-4, 1.0],
                        vec![zi, 0, 255.min(zi + 100), (-1i64).max(zi)],
                    )
                } else {
                    QuantType::per_tensor(si, 0.037, zi)
                };
                let qo =
                    QuantType::per_tensor(so, 0.05, if so == ScalarType::U8 { 9 } else { 100 });
                let mut g = Graph::new("rq8");
                let x = g.add_input("x", TensorType::new(vec![ns, nc, nw], ElemType::quant(qi)));
                let y = g.add_node(
                    Op::Requantize { mode },
                    &[x],
                    TensorType::new(vec![ns, nc, nw], ElemType::quant(qo)),
                );
                g.add_output("y", y);
                ran += check(
                    &g,
                    &format!("requantize {mode} {si}->{so} per_axis={per_axis}"),
                    &mut rng,
                ) as usize;
            }
        }
    }
    // A narrow input range: codes −127..=127 only.
    let mut g = Graph::new("rq8n");
    let qi = QuantType {
        storage_min: -127,
        ..QuantType::per_tensor(ScalarType::I8, 0.1, 3)
    };
    let x = g.add_input("x", TensorType::new(vec![4, 64], ElemType::quant(qi)));
    let y = g.add_node(
        Op::Requantize {
            mode: RequantMode::Float,
        },
        &[x],
        TensorType::new(vec![4, 64], q(ScalarType::U8, 0.3, 128)),
    );
    g.add_output("y", y);
    let vals: Vec<i64> = (0..256).map(|i| -127 + i % 255).collect();
    let input = Tensor::new(
        vec![4, 64],
        TensorData::from_i64s(ScalarType::I8, &vals).unwrap(),
    );
    let want = qcc_ir::interp::run(&g, std::slice::from_ref(&input)).unwrap();
    for p in qcc_compiler::model::supported_paths() {
        let got = compile_forced(&g, p)
            .run(std::slice::from_ref(&input))
            .unwrap();
        assert_same(&want, &got, &format!("requantize narrow path {p}"));
    }
    assert_eq!(ran, 24, "cases skipped");
}
