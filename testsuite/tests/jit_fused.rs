//! JIT vs interpreter on `matmul_int` / `conv2d_int` followed by a
//! `requantize` that is the accumulator's only user, so that the AVX512-VNNI
//! path fuses the requantize into the GEMM's tile store: every mode (double
//! rounding stays apart), per-tensor and per-channel scales and zero points,
//! biases that saturate the accumulator, accumulator zero points, multipliers
//! that make ties, output zero points at the ends of the range, M and N not
//! multiples of the tile, K not a multiple of 4, signed activations, weight
//! zero points, batched padded convolutions (transposed stores). Every case
//! runs on every path this host can run, and the fusion is checked to happen
//! where it should (the AVX512-VNNI and AMX paths).

#![allow(clippy::type_complexity)]

mod jit_common;

use jit_common::{Rng, assert_same, compile_forced};
use qcc_compiler::model::DotPath;
use qcc_ir::op::{Conv2dAttrs, IntAttrs, Op, RequantMode};
use qcc_ir::types::{ElemType, QuantType, ScalarType, TensorType};
use qcc_ir::{Graph, Tensor, TensorData};

fn fill(st: ScalarType, n: usize, how: usize, rng: &mut Rng) -> TensorData {
    let (lo, hi) = st.int_range().unwrap();
    let vals: Vec<i64> = (0..n)
        .map(|i| match how {
            0 => rng.range(lo, hi),
            1 => hi,
            2 => lo,
            _ => {
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

/// Runs `g` on every path and fill; returns whether the verifier accepted
/// it, and asserts whether the AVX512-VNNI path fused its requantize.
fn check(g: &Graph, what: &str, fuse: bool, rng: &mut Rng) -> bool {
    if let Err(d) = qcc_ir::verify::verify(g) {
        eprintln!("{what}: skipped: {}", d[0].message);
        return false;
    }
    let models: Vec<_> = qcc_compiler::model::supported_paths()
        .into_iter()
        .map(|p| (p, compile_forced(g, p)))
        .collect();
    for (p, m) in &models {
        let fused = m.fused_requantizes().len();
        if matches!(p, DotPath::Avx512Vnni | DotPath::Amx) {
            assert_eq!(fused, fuse as usize, "{what}: fusion on {p}");
        } else {
            assert_eq!(fused, 0, "{what}: fusion on {p}");
        }
    }
    for how in 0..4 {
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
            assert_same(&want, &got, &format!("{what} fill {how} path {p}"));
        }
    }
    true
}

#[derive(Clone, Copy, Debug)]
struct Case {
    m: usize,
    k: usize,
    n: usize,
    xs: ScalarType,
    zx: i64,
    /// Weight zero points per column (cycled), 0 for none.
    zw: &'static [i64],
    /// 0: none, 1: small, 2: at the verifier's overflow bound.
    bias: u8,
    per_channel: bool,
    mode: RequantMode,
    out: ScalarType,
    zo: i64,
    /// Accumulator zero point.
    zi: i64,
    /// Output scale: the multipliers are `s_in / s_out`.
    s_out: f32,
}

fn matmul_graph(c: &Case, rng: &mut Rng) -> Graph {
    let mut g = Graph::new("mm");
    let (m, k, n) = (c.m, c.k, c.n);
    let x = g.add_input(
        "x",
        TensorType::new(
            vec![m, k],
            ElemType::quant(QuantType::per_tensor(c.xs, 1.0, c.zx)),
        ),
    );
    // Scales: powers of two (ties) and odd values, 2^-20 .. 2^4.
    let sw: Vec<f32> = (0..n)
        .map(|col| {
            if !c.per_channel {
                return 0.5;
            }
            let e = -20 + (col as i32 * 7) % 25;
            let base = 2f32.powi(e);
            if col % 3 == 2 { base * 0.7371 } else { base }
        })
        .collect();
    let zw: Vec<i64> = (0..n).map(|col| c.zw[col % c.zw.len()]).collect();
    let wq = if c.per_channel || c.zw.len() > 1 {
        QuantType::per_axis(ScalarType::I8, 1, sw.clone(), zw)
    } else {
        QuantType::per_tensor(ScalarType::I8, sw[0], zw[0])
    };
    let wvals: Vec<i64> = (0..k * n).map(|_| rng.range(-127, 127)).collect();
    let w = g.add_const(
        TensorData::from_i64s(ScalarType::I8, &wvals).unwrap(),
        TensorType::new(vec![k, n], ElemType::quant(wq.clone())),
    );
    let per_axis = wq.is_per_axis();
    let acc_q = if per_axis {
        QuantType::per_axis(ScalarType::I32, 1, sw.clone(), vec![c.zi; n])
    } else {
        QuantType::per_tensor(ScalarType::I32, sw[0], c.zi)
    };
    let mut args = vec![x, w];
    if c.bias > 0 {
        let bq = if per_axis {
            QuantType::per_axis(ScalarType::I32, 0, sw.clone(), vec![0; n])
        } else {
            QuantType::per_tensor(ScalarType::I32, sw[0], 0)
        };
        // As large as the verifier's overflow bound allows.
        let edge = i32::MAX as i64 - (k as i64) * 256 * 256 - 1;
        let big = [edge, -edge, edge - 100, 7 - edge];
        let bvals: Vec<i64> = (0..n)
            .map(|col| {
                if c.bias == 2 && col % 2 == 0 {
                    big[(col / 2) % 4]
                } else {
                    rng.range(-5000, 5000)
                }
            })
            .collect();
        args.push(g.add_const(
            TensorData::from_i64s(ScalarType::I32, &bvals).unwrap(),
            TensorType::new(vec![n], ElemType::quant(bq)),
        ));
    }
    // Every other shape with x's zero point folded into the bias.
    let acc = g.add_node(
        Op::MatMulInt(IntAttrs {
            zx_in_bias: k % 2 == 1,
        }),
        &args,
        TensorType::new(vec![m, n], ElemType::quant(acc_q)),
    );
    let oq = if c.per_channel {
        let (lo, hi) = c.out.int_range().unwrap();
        let zos: Vec<i64> = (0..n).map(|col| [c.zo, lo, hi][col % 3]).collect();
        let sos: Vec<f32> = (0..n)
            .map(|col| c.s_out * [1.0, 0.5, 3.0][col % 3])
            .collect();
        QuantType::per_axis(c.out, 1, sos, zos)
    } else {
        QuantType::per_tensor(c.out, c.s_out, c.zo)
    };
    let y = g.add_node(
        Op::Requantize { mode: c.mode },
        &[acc],
        TensorType::new(vec![m, n], ElemType::quant(oq)),
    );
    g.add_output("y", y);
    g
}

#[test]
fn fused_matmul_requantize() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let shapes = [
        (1, 1, 1),
        (1, 3, 5),
        (2, 5, 16),
        (3, 4, 64),
        (5, 64, 65),
        (7, 33, 70),
        (4, 100, 130),
        (9, 19, 129),
        (13, 256, 200),
        (6, 40, 64),
        (11, 17, 200),
        (12, 64, 128),
    ];
    let xs = [
        (ScalarType::U8, 0),
        (ScalarType::U8, 255),
        (ScalarType::U8, 131),
        (ScalarType::I8, -128),
        (ScalarType::I8, 5),
    ];
    let zws: [&[i64]; 3] = [&[0], &[-128, 127, 3], &[4]];
    let mut ran = 0;
    let mut fused = 0;
    for (i, &(m, k, n)) in shapes.iter().enumerate() {
        for (j, &(xst, zx)) in xs.iter().enumerate() {
            for mode in RequantMode::ALL {
                let t = i + j;
                let (out, zo) = if t % 2 == 0 {
                    (ScalarType::U8, [0, 255, 128][t % 3])
                } else {
                    (ScalarType::I8, [-128, 127, 0][t % 3])
                };
                let c = Case {
                    m,
                    k,
                    n,
                    xs: xst,
                    zx,
                    zw: zws[t % 3],
                    bias: (t % 3) as u8,
                    per_channel: (t / 2) % 2 == 0,
                    mode,
                    out,
                    zo,
                    zi: 0,
                    // Multipliers 0.5 / 0.25 / 2^-k: ties in every mode.
                    s_out: [1.0, 2.0, 0.25, 37.0][(t + 1) % 4],
                };
                let g = matmul_graph(&c, &mut rng);
                let fuse = mode != RequantMode::DoubleRound;
                if check(&g, &format!("{c:?}"), fuse, &mut rng) {
                    ran += 1;
                    fused += fuse as usize;
                }
            }
        }
    }
    assert!(
        ran >= 100 && fused >= 60,
        "only {ran} cases ran, {fused} fused"
    );
}

/// The AMX GEMM's blocks: every row count a 32-row block can be left with
/// (a block of at most 16 rows takes the whole panel a step, one A tile
/// against up to four B tiles; a larger one 32 × 32), every width of the last
/// panel (16, 32, 48, 64 columns, and 64 with padded columns), K padded to
/// 64, row sums and saturating biases; on every path, so the other paths
/// check the same shapes.
#[test]
fn amx_gemm_blocks_match_the_interpreter() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let ns = [208, 224, 240, 256, 250];
    let ms = [8, 13, 15, 16, 17, 24, 31, 32, 33, 45, 48, 49, 63, 64, 80];
    for (i, &m) in ms.iter().enumerate() {
        let c = Case {
            m,
            k: 200,
            n: ns[i % ns.len()],
            xs: if i % 2 == 0 {
                ScalarType::U8
            } else {
                ScalarType::I8
            },
            zx: [3, -7][i % 2],
            zw: [&[0][..], &[-128, 127, 3][..], &[0][..]][i % 3],
            bias: (i % 3) as u8,
            per_channel: i % 4 != 3,
            mode: [RequantMode::Float, RequantMode::SingleRound][(i / 2) % 2],
            out: [ScalarType::U8, ScalarType::I8][(i / 3) % 2],
            zo: [128, -3][(i / 3) % 2],
            zi: 0,
            s_out: 37.0,
        };
        let g = matmul_graph(&c, &mut rng);
        assert!(check(&g, &format!("{c:?}"), true, &mut rng), "{c:?}");
    }
}

/// An accumulator with a second user, or that is an output, stays apart.
#[test]
fn no_fusion_when_the_accumulator_is_shared() {
    let mut rng = Rng(77);
    let c = Case {
        m: 5,
        k: 12,
        n: 20,
        xs: ScalarType::U8,
        zx: 3,
        zw: &[0],
        bias: 1,
        per_channel: false,
        mode: RequantMode::Float,
        out: ScalarType::U8,
        zo: 128,
        zi: 0,
        s_out: 2.0,
    };
    let mut g = matmul_graph(&c, &mut rng);
    let acc = g.args(g.outputs()[0].value)[0];
    g.add_output("acc", acc);
    check(&g, "acc is an output", false, &mut rng);
    let mut g = matmul_graph(&c, &mut rng);
    let acc = g.args(g.outputs()[0].value)[0];
    let ty = g.ty(g.outputs()[0].value).clone();
    let y2 = g.add_node(
        Op::Requantize {
            mode: RequantMode::SingleRound,
        },
        &[acc],
        ty,
    );
    g.add_output("y2", y2);
    check(&g, "two requantizes", false, &mut rng);
}

#[test]
fn fused_conv_requantize() {
    let mut rng = Rng(0x1357_9bdf_2468_ace0);
    let attrs = |s: [usize; 2], p: [usize; 4]| Conv2dAttrs {
        strides: s,
        pads: p,
        dilations: [1, 1],
        groups: 1,
    };
    let dilated = |s: [usize; 2], p: [usize; 4], d: [usize; 2]| Conv2dAttrs {
        strides: s,
        pads: p,
        dilations: d,
        groups: 1,
    };
    // Cases 5.. have weight zero points 0 and channels a multiple of 4:
    // on AVX512-VNNI the direct convolution (`shim/direct.rs`, no im2col
    // rows): strides, dilations, asymmetric pads, rows of 13 pixels (tiles
    // 5, 4, 4), 96 channels (a 64- and a 32-column panel), two images.
    let cases = [
        ([1, 3, 6, 6], 5, [3, 3], attrs([1, 1], [1, 1, 1, 1])),
        ([2, 3, 7, 6], 20, [3, 3], attrs([2, 2], [1, 0, 2, 1])),
        ([3, 4, 5, 5], 70, [1, 1], attrs([1, 1], [0, 0, 0, 0])),
        ([2, 5, 4, 5], 16, [2, 3], attrs([1, 1], [0, 1, 1, 0])),
        // Images of 22·21 pixels (not a multiple of the tile's rows) and 40
        // channels: the transposed store of whole columns, and its fallback
        // where a tile spans two images.
        ([2, 32, 22, 21], 40, [1, 1], attrs([1, 1], [0, 0, 0, 0])),
        ([1, 8, 9, 11], 40, [3, 3], attrs([1, 1], [1, 1, 1, 1])),
        ([2, 12, 10, 7], 24, [3, 3], attrs([2, 2], [1, 0, 1, 1])),
        ([1, 16, 13, 13], 96, [3, 3], attrs([1, 1], [1, 1, 1, 1])),
        ([1, 4, 6, 5], 16, [2, 3], attrs([1, 1], [0, 1, 1, 0])),
        (
            [1, 8, 11, 12],
            20,
            [3, 3],
            dilated([1, 2], [2, 2, 2, 2], [2, 2]),
        ),
    ];
    let mut ran = 0;
    for (i, (xsh, o, kern, a)) in cases.iter().enumerate() {
        let (xsh, o, kern) = (*xsh, *o, *kern);
        for mode in RequantMode::ALL {
            for (xs, zx) in [(ScalarType::U8, 200), (ScalarType::I8, -3)] {
                let [n, c, h, w] = xsh;
                let oh = (h + a.pads[0] + a.pads[2] - kern[0]) / a.strides[0] + 1;
                let ow = (w + a.pads[1] + a.pads[3] - kern[1]) / a.strides[1] + 1;
                let mut g = Graph::new("conv");
                let x = g.add_input(
                    "x",
                    TensorType::new(
                        xsh.to_vec(),
                        ElemType::quant(QuantType::per_tensor(xs, 0.5, zx)),
                    ),
                );
                let sw: Vec<f32> = (0..o).map(|q| 2f32.powi(-(q as i32 % 13)) * 1.25).collect();
                let zw: Vec<i64> = (0..o)
                    .map(|q| {
                        if i >= 5 {
                            0
                        } else {
                            [0, -128, 127, 5][(q + i) % 4]
                        }
                    })
                    .collect();
                let wq = QuantType::per_axis(ScalarType::I8, 0, sw.clone(), zw);
                let wn = o * c * kern[0] * kern[1];
                let wvals: Vec<i64> = (0..wn).map(|_| rng.range(-127, 127)).collect();
                let wv = g.add_const(
                    TensorData::from_i64s(ScalarType::I8, &wvals).unwrap(),
                    TensorType::new(vec![o, c, kern[0], kern[1]], ElemType::quant(wq)),
                );
                let acc_s: Vec<f32> = sw.iter().map(|s| 0.5 * s).collect();
                let bq = QuantType::per_axis(ScalarType::I32, 0, acc_s.clone(), vec![0; o]);
                let bvals: Vec<i64> = (0..o).map(|_| rng.range(-3000, 3000)).collect();
                let b = g.add_const(
                    TensorData::from_i64s(ScalarType::I32, &bvals).unwrap(),
                    TensorType::new(vec![o], ElemType::quant(bq)),
                );
                let accq = QuantType::per_axis(ScalarType::I32, 1, acc_s, vec![0; o]);
                let acc = g.add_node(
                    Op::Conv2dInt(
                        a.clone(),
                        IntAttrs {
                            zx_in_bias: i % 2 == 1,
                        },
                    ),
                    &[x, wv, b],
                    TensorType::new(vec![n, o, oh, ow], ElemType::quant(accq)),
                );
                let y = g.add_node(
                    Op::Requantize { mode },
                    &[acc],
                    TensorType::new(
                        vec![n, o, oh, ow],
                        ElemType::quant(QuantType::per_tensor(ScalarType::U8, 0.75, 7)),
                    ),
                );
                g.add_output("y", y);
                let fuse = mode != RequantMode::DoubleRound;
                ran += check(&g, &format!("conv {i} {mode} {xs}"), fuse, &mut rng) as usize;
            }
        }
    }
    assert!(ran >= 20, "only {ran} cases ran");
}

/// A `clamp_int` after the fused requantize folds into the output bounds;
/// one that does not (the requantize is an output too) stays apart.
#[test]
fn fused_requantize_then_clamp_int() {
    let mut rng = Rng(0xdead_beef_1234_5678);
    let mut folded = 0;
    for (i, &(m, k, n)) in [(5, 40, 70), (1, 17, 3), (9, 64, 128), (4, 7, 16)]
        .iter()
        .enumerate()
    {
        for mode in RequantMode::ALL {
            for (out, zo, lo, hi) in [
                (ScalarType::U8, 128, 128, 255),
                (ScalarType::U8, 3, 10, 100),
                (ScalarType::I8, -5, -5, 127),
                (ScalarType::I8, 0, -128, 127),
                (ScalarType::I8, 20, 30, 30),
            ] {
                let c = Case {
                    m,
                    k,
                    n,
                    xs: if i % 2 == 0 {
                        ScalarType::U8
                    } else {
                        ScalarType::I8
                    },
                    zx: if i % 2 == 0 { 100 } else { -1 },
                    zw: &[0, 2],
                    bias: 1,
                    per_channel: i % 2 == 1,
                    mode,
                    out,
                    zo,
                    zi: 0,
                    s_out: [1.0, 0.25, 37.0][i % 3],
                };
                let mut g = matmul_graph(&c, &mut rng);
                let y = g.outputs()[0].value;
                let ty = g.ty(y).clone();
                let cl = g.add_node(Op::ClampInt { min: lo, max: hi }, &[y], ty);
                g.outputs_mut()[0].value = cl;
                let fuse = mode != RequantMode::DoubleRound;
                let what = format!("{c:?} clamp {lo}..={hi}");
                if fuse && !DotPath::Avx512Vnni.is_supported() {
                    check(&g, &what, false, &mut rng);
                    continue;
                }
                // Requantize and clamp both fused: two entries.
                if qcc_ir::verify::verify(&g).is_err() {
                    continue;
                }
                for p in qcc_compiler::model::supported_paths() {
                    let model = compile_forced(&g, p);
                    let want = if matches!(p, DotPath::Avx512Vnni | DotPath::Amx) && fuse {
                        2
                    } else {
                        0
                    };
                    assert_eq!(model.fused_requantizes().len(), want, "{what} on {p}");
                }
                for how in 0..4 {
                    let inputs: Vec<Tensor> = g
                        .inputs()
                        .iter()
                        .map(|&v| {
                            let ty = g.ty(v);
                            let n = ty.shape.iter().product();
                            Tensor::new(ty.shape.clone(), fill(ty.elem.storage(), n, how, &mut rng))
                        })
                        .collect();
                    let want = qcc_ir::interp::run(&g, &inputs).unwrap();
                    for p in qcc_compiler::model::supported_paths() {
                        let got = compile_forced(&g, p).run(&inputs).unwrap();
                        assert_same(&want, &got, &format!("{what} fill {how} path {p}"));
                    }
                }
                folded += fuse as usize;
                // The requantize is also an output: only it fuses.
                g.add_output("y", y);
                check(&g, &format!("{what}, y an output"), fuse, &mut rng);
            }
        }
    }
    // Fusion needs the AVX-512 helpers; elsewhere every case took the
    // unfused path above and was still checked.
    if DotPath::Avx512Vnni.is_supported() {
        assert!(folded >= 20, "only {folded} folded");
    }
}

/// The requantize that is not fused (an i32 input): per tensor and per
/// channel on every axis (the AVX-512 helper has a vector-parameter case for
/// the last axis), multipliers with ties, zero points at the range ends,
/// inputs at the i32 extremes.
#[test]
fn standalone_requantize_every_axis() {
    let mut rng = Rng(0x0bad_cafe_f00d_0001);
    let shape = vec![3, 37, 5];
    for axis in [None, Some(0), Some(1), Some(2)] {
        for mode in RequantMode::ALL {
            for (out, zo) in [
                (ScalarType::U8, 255),
                (ScalarType::I8, -128),
                (ScalarType::U8, 7),
            ] {
                let mut g = Graph::new("rq");
                let qi = match axis {
                    None => QuantType::per_tensor(ScalarType::I32, 0.5, 0),
                    Some(a) => QuantType::per_axis(
                        ScalarType::I32,
                        a,
                        (0..shape[a])
                            .map(|c| 2f32.powi(c as i32 % 25 - 20) * [1.0, 0.75][c % 2])
                            .collect(),
                        vec![0; shape[a]],
                    ),
                };
                let x = g.add_input("x", TensorType::new(shape.clone(), ElemType::quant(qi)));
                let y = g.add_node(
                    Op::Requantize { mode },
                    &[x],
                    TensorType::new(
                        shape.clone(),
                        ElemType::quant(QuantType::per_tensor(out, 0.25, zo)),
                    ),
                );
                g.add_output("y", y);
                let n: usize = shape.iter().product();
                for how in 0..4 {
                    let vals: Vec<i64> = (0..n)
                        .map(|i| match how {
                            0 => rng.range(-3000, 3000),
                            1 => [i32::MAX as i64, i32::MIN as i64][i % 2],
                            2 => (i as i64 - 300) * 2 + 1,
                            _ => rng.range(i32::MIN as i64, i32::MAX as i64),
                        })
                        .collect();
                    let inputs = vec![Tensor::new(
                        shape.clone(),
                        TensorData::from_i64s(ScalarType::I32, &vals).unwrap(),
                    )];
                    let want = qcc_ir::interp::run(&g, &inputs).unwrap();
                    for p in qcc_compiler::model::supported_paths() {
                        let got = compile_forced(&g, p).run(&inputs).unwrap();
                        assert_same(
                            &want,
                            &got,
                            &format!("axis {axis:?} {mode} {out}:{zo} fill {how} path {p}"),
                        );
                    }
                }
            }
        }
    }
}

/// GEMMs large enough to be split into work units, run by 1, 2 and 3
/// threads (and the same model from several threads at once): every split
/// gives the interpreter's bytes. Shapes leave remainders in the rows (the
/// last chunk), in the panels (a narrow last panel) and in K.
#[test]
fn threaded_fused_gemms_match_the_interpreter() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let shapes = [
        (64, 256, 320),
        (37, 510, 300),
        (6, 1024, 1000),
        (131, 96, 700),
    ];
    for (i, &(m, k, n)) in shapes.iter().enumerate() {
        let c = Case {
            m,
            k,
            n,
            xs: if i % 2 == 0 {
                ScalarType::U8
            } else {
                ScalarType::I8
            },
            zx: [3, -7][i % 2],
            zw: [&[0][..], &[-128, 127, 3][..]][i % 2],
            bias: (i % 3) as u8,
            per_channel: true,
            mode: [RequantMode::Float, RequantMode::SingleRound][i % 2],
            out: ScalarType::U8,
            zo: 128,
            zi: 0,
            s_out: 37.0,
        };
        let g = matmul_graph(&c, &mut rng);
        qcc_ir::verify::verify(&g).unwrap_or_else(|d| panic!("{c:?}: {}", d[0].message));
        let inputs: Vec<Tensor> = g
            .inputs()
            .iter()
            .map(|&v| {
                let ty = g.ty(v);
                let n = ty.shape.iter().product();
                Tensor::new(ty.shape.clone(), fill(ty.elem.storage(), n, 0, &mut rng))
            })
            .collect();
        let want = qcc_ir::interp::run(&g, &inputs).unwrap();
        for threads in [1, 2, 3] {
            let model = qcc_compiler::model::Compiler::new()
                .run_passes(false)
                .threads(threads)
                .compile(&g)
                .unwrap();
            let got = model.run(&inputs).unwrap();
            assert_same(&want, &got, &format!("{c:?} on {threads} threads"));
            std::thread::scope(|s| {
                for _ in 0..3 {
                    s.spawn(|| {
                        for _ in 0..3 {
                            let got = model.run(&inputs).unwrap();
                            assert_same(
                                &want,
                                &got,
                                &format!("{c:?}, {threads} threads, concurrent"),
                            );
                        }
                    });
                }
            });
        }
    }
}

/// On every path, 2 and 3 threads give the bytes of 1 thread.
fn threads_match_one_thread(g: &Graph, inputs: &[Tensor]) {
    for p in qcc_compiler::model::supported_paths() {
        let compile = |threads: usize| {
            qcc_compiler::model::Compiler::new()
                .run_passes(false)
                .target_features(qcc_compiler::model::TargetFeatures::Force(p))
                .threads(threads)
                .compile(g)
                .unwrap()
        };
        let want = compile(1).run(inputs).unwrap();
        for threads in [2, 3] {
            let got = compile(threads).run(inputs).unwrap();
            assert_same(&want, &got, &format!("path {p}, {threads} threads"));
        }
    }
}

/// A GEMM large enough for the AMX path to split it (2^29 MACs and more:
/// 520×1024×1030, rows and panels with remainders): 2 and 3 threads give
/// the bytes of 1 thread, on every path (the 1-thread kernels are checked
/// against the interpreter above; the interpreter is too slow for this size
/// in a debug build).
#[test]
fn large_gemms_split_like_one_thread() {
    let mut rng = Rng(0x51ed_270b_27d4_eb2f);
    let c = Case {
        m: 520,
        k: 1024,
        n: 1030,
        xs: ScalarType::U8,
        zx: 3,
        zw: &[0],
        bias: 1,
        per_channel: true,
        mode: RequantMode::Float,
        out: ScalarType::U8,
        zo: 128,
        zi: 0,
        s_out: 370.0,
    };
    let g = matmul_graph(&c, &mut rng);
    qcc_ir::verify::verify(&g).unwrap_or_else(|d| panic!("{}", d[0].message));
    let inputs: Vec<Tensor> = g
        .inputs()
        .iter()
        .map(|&v| {
            let ty = g.ty(v);
            let n = ty.shape.iter().product();
            Tensor::new(ty.shape.clone(), fill(ty.elem.storage(), n, 0, &mut rng))
        })
        .collect();
    threads_match_one_thread(&g, &inputs);
}

/// A stride-1 convolution large enough for the direct AMX kernel to split
/// its pixels between threads (2^29 MACs and more: 3×3, 128 → 96 channels
/// at 62×62, batch 2): 2 and 3 threads give the bytes of 1 thread on every
/// path.
#[test]
fn large_convs_split_like_one_thread() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (n, c, h, o) = (2, 128, 62, 96);
    let mut g = Graph::new("conv");
    let x = g.add_input(
        "x",
        TensorType::new(
            vec![n, c, h, h],
            ElemType::quant(QuantType::per_tensor(ScalarType::U8, 0.5, 9)),
        ),
    );
    let sw: Vec<f32> = (0..o).map(|q| 2f32.powi(-(q as i32 % 7)) * 0.01).collect();
    let wq = QuantType::per_axis(ScalarType::I8, 0, sw.clone(), vec![0; o]);
    let wvals: Vec<i64> = (0..o * c * 9).map(|_| rng.range(-127, 127)).collect();
    let wv = g.add_const(
        TensorData::from_i64s(ScalarType::I8, &wvals).unwrap(),
        TensorType::new(vec![o, c, 3, 3], ElemType::quant(wq)),
    );
    let acc_s: Vec<f32> = sw.iter().map(|s| 0.5 * s).collect();
    let bq = QuantType::per_axis(ScalarType::I32, 0, acc_s.clone(), vec![0; o]);
    let bvals: Vec<i64> = (0..o).map(|_| rng.range(-3000, 3000)).collect();
    let b = g.add_const(
        TensorData::from_i64s(ScalarType::I32, &bvals).unwrap(),
        TensorType::new(vec![o], ElemType::quant(bq)),
    );
    let accq = QuantType::per_axis(ScalarType::I32, 1, acc_s, vec![0; o]);
    let attrs = Conv2dAttrs {
        pads: [1, 1, 1, 1],
        ..Conv2dAttrs::default()
    };
    let acc = g.add_node(
        Op::Conv2dInt(attrs, IntAttrs::default()),
        &[x, wv, b],
        TensorType::new(vec![n, o, h, h], ElemType::quant(accq)),
    );
    let y = g.add_node(
        Op::Requantize {
            mode: RequantMode::Float,
        },
        &[acc],
        TensorType::new(
            vec![n, o, h, h],
            ElemType::quant(QuantType::per_tensor(ScalarType::U8, 3.0, 7)),
        ),
    );
    g.add_output("y", y);
    let inputs = vec![Tensor::new(
        vec![n, c, h, h],
        fill(ScalarType::U8, n * c * h * h, 0, &mut rng),
    )];
    threads_match_one_thread(&g, &inputs);
}

/// Depthwise convolutions (one channel per group) on every path: the
/// AVX-512 depthwise kernel where the host has it, with strides, pads on
/// every side, dilations, kernels of 1 to 7 taps a row, signed and unsigned
/// activations with zero points at the ends, biases, batches, widths that
/// leave a tail of the 16-pixel vectors; weights with a zero point stay on
/// the generic path and must agree too.
#[test]
fn depthwise_convs_match_the_interpreter() {
    let mut rng = Rng(0x0bad_cafe_f00d_d00d);
    let cases: [([usize; 4], [usize; 2], [usize; 2], [usize; 4], [usize; 2]); 6] = [
        ([1, 4, 12, 12], [3, 3], [1, 1], [1, 1, 1, 1], [1, 1]),
        ([2, 3, 9, 37], [3, 3], [2, 2], [0, 1, 2, 1], [1, 1]),
        ([1, 5, 8, 20], [5, 5], [1, 1], [2, 2, 2, 2], [1, 1]),
        ([1, 2, 10, 18], [3, 3], [1, 1], [2, 2, 2, 2], [2, 2]),
        ([1, 3, 7, 7], [1, 7], [1, 3], [0, 3, 0, 3], [1, 1]),
        ([1, 6, 16, 33], [3, 3], [1, 1], [1, 1, 1, 1], [1, 1]),
    ];
    let mut ran = 0;
    for (i, &(xsh, kern, strides, pads, dil)) in cases.iter().enumerate() {
        for (j, (xs, zx)) in [
            (ScalarType::U8, 255),
            (ScalarType::U8, 0),
            (ScalarType::I8, -128),
            (ScalarType::I8, 9),
        ]
        .into_iter()
        .enumerate()
        {
            // j = 0, 2: the accumulator is an output too (nothing fuses);
            // j = 1, 3: the requantize fuses into the depthwise kernel.
            let fused = j % 2 == 1;
            let mode = [RequantMode::Float, RequantMode::SingleRound][(i + j / 2) % 2];
            let [n, c, h, w] = xsh;
            let a = Conv2dAttrs {
                strides,
                pads,
                dilations: dil,
                groups: c,
            };
            let oh = (h + pads[0] + pads[2] - dil[0] * (kern[0] - 1) - 1) / strides[0] + 1;
            let ow = (w + pads[1] + pads[3] - dil[1] * (kern[1] - 1) - 1) / strides[1] + 1;
            let mut g = Graph::new("dw");
            let x = g.add_input(
                "x",
                TensorType::new(
                    xsh.to_vec(),
                    ElemType::quant(QuantType::per_tensor(xs, 0.5, zx)),
                ),
            );
            let sw: Vec<f32> = (0..c).map(|q| 2f32.powi(-(q as i32 % 7)) * 0.75).collect();
            let zw: Vec<i64> = (0..c)
                .map(|q| if i == 3 && q == 1 { 3 } else { 0 })
                .collect();
            let wq = QuantType::per_axis(ScalarType::I8, 0, sw.clone(), zw);
            let wn = c * kern[0] * kern[1];
            let wvals: Vec<i64> = (0..wn).map(|_| rng.range(-128, 127)).collect();
            let wv = g.add_const(
                TensorData::from_i64s(ScalarType::I8, &wvals).unwrap(),
                TensorType::new(vec![c, 1, kern[0], kern[1]], ElemType::quant(wq)),
            );
            let acc_s: Vec<f32> = sw.iter().map(|s| 0.5 * s).collect();
            let bq = QuantType::per_axis(ScalarType::I32, 0, acc_s.clone(), vec![0; c]);
            // Case 5: biases at the saturating end (the kernel's general
            // form); the others fit (its fast form).
            let bvals: Vec<i64> = (0..c)
                .map(|q| {
                    if i == 5 && q % 2 == 0 {
                        -2_100_000_000
                    } else {
                        rng.range(-3000, 3000)
                    }
                })
                .collect();
            let b = g.add_const(
                TensorData::from_i64s(ScalarType::I32, &bvals).unwrap(),
                TensorType::new(vec![c], ElemType::quant(bq)),
            );
            let accq = QuantType::per_axis(ScalarType::I32, 1, acc_s, vec![0; c]);
            let int = IntAttrs {
                zx_in_bias: i % 2 == 1,
            };
            let acc = g.add_node(
                Op::Conv2dInt(a, int),
                &[x, wv, b],
                TensorType::new(vec![n, c, oh, ow], ElemType::quant(accq)),
            );
            if !fused {
                g.add_output("acc", acc);
            }
            let y = g.add_node(
                Op::Requantize { mode },
                &[acc],
                TensorType::new(
                    vec![n, c, oh, ow],
                    ElemType::quant(QuantType::per_tensor(ScalarType::U8, 0.75, 7)),
                ),
            );
            g.add_output("y", y);
            // The kernel needs AVX512-VBMI and weights of zero point 0.
            #[cfg(target_arch = "x86_64")]
            let kernel = std::is_x86_feature_detected!("avx512vbmi") && i != 3;
            #[cfg(not(target_arch = "x86_64"))]
            let kernel = false;
            let what = format!("depthwise {i} {xs} {zx} {mode} fused {fused}");
            ran += check(&g, &what, fused && kernel, &mut rng) as usize;
        }
    }
    assert!(ran >= 20, "only {ran} cases ran");
}

/// Depthwise convolutions large enough to be split into ranges of planes
/// (26 and 12 planes: uneven ranges for 4 and 6 units), fused and not, run
/// by 1, 2 and 3 threads: every split gives the interpreter's bytes.
#[test]
fn threaded_depthwise_convs_match_the_interpreter() {
    let mut rng = Rng(0x7157_d00d_0ddb_a115);
    for (xsh, fused) in [([2usize, 13, 30, 30], true), ([1, 12, 41, 37], false)] {
        let [n, c, h, w] = xsh;
        let a = Conv2dAttrs {
            strides: [1, 1],
            pads: [1, 1, 1, 1],
            dilations: [1, 1],
            groups: c,
        };
        let mut g = Graph::new("dw");
        let xq = QuantType::per_tensor(ScalarType::U8, 0.5, 3);
        let x = g.add_input("x", TensorType::new(xsh.to_vec(), ElemType::quant(xq)));
        let sw: Vec<f32> = (0..c).map(|q| 2f32.powi(-(q as i32 % 5)) * 0.75).collect();
        let wq = QuantType::per_axis(ScalarType::I8, 0, sw.clone(), vec![0; c]);
        let wvals: Vec<i64> = (0..c * 9).map(|_| rng.range(-128, 127)).collect();
        let wv = g.add_const(
            TensorData::from_i64s(ScalarType::I8, &wvals).unwrap(),
            TensorType::new(vec![c, 1, 3, 3], ElemType::quant(wq)),
        );
        let acc_s: Vec<f32> = sw.iter().map(|s| 0.5 * s).collect();
        let accq = QuantType::per_axis(ScalarType::I32, 1, acc_s, vec![0; c]);
        let acc = g.add_node(
            Op::Conv2dInt(a, IntAttrs::default()),
            &[x, wv],
            TensorType::new(vec![n, c, h, w], ElemType::quant(accq)),
        );
        if !fused {
            g.add_output("acc", acc);
        }
        let yq = QuantType::per_tensor(ScalarType::U8, 0.75, 7);
        let y = g.add_node(
            Op::Requantize {
                mode: RequantMode::Float,
            },
            &[acc],
            TensorType::new(vec![n, c, h, w], ElemType::quant(yq)),
        );
        g.add_output("y", y);
        qcc_ir::verify::verify(&g).unwrap_or_else(|d| panic!("{}", d[0].message));
        let inputs: Vec<Tensor> = g
            .inputs()
            .iter()
            .map(|&v| {
                let ty = g.ty(v);
                let n = ty.shape.iter().product();
                Tensor::new(ty.shape.clone(), fill(ty.elem.storage(), n, 0, &mut rng))
            })
            .collect();
        let want = qcc_ir::interp::run(&g, &inputs).unwrap();
        for threads in [1, 2, 3] {
            let model = qcc_compiler::model::Compiler::new()
                .run_passes(false)
                .threads(threads)
                .compile(&g)
                .unwrap();
            let got = model.run(&inputs).unwrap();
            assert_same(
                &want,
                &got,
                &format!("depthwise {xsh:?} on {threads} threads"),
            );
        }
    }
}

/// Stride-1 convolutions with weights of zero point 0 and a fused
/// requantize: on AMX hosts the direct kernel (input laid out in 4-channel
/// planes, pixels numbered over the padded width) computes them. Channels
/// not multiples of 64 (in) or 32 (out), kernels from 1x1 to 5x5 and 1x3,
/// pads on every side, dilations, small and odd images, batches, both
/// fused modes, signed and unsigned activations, 1 and 2 threads.
#[test]
fn stride_one_convs_match_the_interpreter() {
    let mut rng = Rng(0x5eed_1e55_c0de_ba5e);
    let cases: [([usize; 4], usize, [usize; 2], [usize; 4], [usize; 2]); 7] = [
        ([1, 64, 12, 12], 64, [3, 3], [1, 1, 1, 1], [1, 1]),
        ([2, 3, 9, 13], 40, [3, 3], [1, 0, 2, 1], [1, 1]),
        ([1, 128, 7, 7], 96, [1, 1], [0, 0, 0, 0], [1, 1]),
        ([1, 70, 10, 6], 33, [5, 5], [2, 2, 2, 2], [1, 1]),
        ([1, 16, 11, 11], 20, [3, 3], [2, 2, 2, 2], [2, 2]),
        ([2, 8, 3, 3], 5, [1, 3], [0, 1, 0, 1], [1, 1]),
        ([1, 32, 30, 30], 64, [3, 3], [1, 1, 1, 1], [1, 1]),
    ];
    let mut ran = 0;
    for (i, &(xsh, o, kern, pads, dil)) in cases.iter().enumerate() {
        for (j, (xs, zx)) in [(ScalarType::U8, 200), (ScalarType::I8, -3)]
            .into_iter()
            .enumerate()
        {
            let mode = [RequantMode::Float, RequantMode::SingleRound][(i + j) % 2];
            let [n, c, h, w] = xsh;
            let a = Conv2dAttrs {
                strides: [1, 1],
                pads,
                dilations: dil,
                groups: 1,
            };
            let oh = h + pads[0] + pads[2] - dil[0] * (kern[0] - 1);
            let ow = w + pads[1] + pads[3] - dil[1] * (kern[1] - 1);
            let mut g = Graph::new("conv");
            let x = g.add_input(
                "x",
                TensorType::new(
                    xsh.to_vec(),
                    ElemType::quant(QuantType::per_tensor(xs, 0.5, zx)),
                ),
            );
            let sw: Vec<f32> = (0..o).map(|q| 2f32.powi(-(q as i32 % 9)) * 0.01).collect();
            let wq = QuantType::per_axis(ScalarType::I8, 0, sw.clone(), vec![0; o]);
            let wn = o * c * kern[0] * kern[1];
            let wvals: Vec<i64> = (0..wn).map(|_| rng.range(-128, 127)).collect();
            let wv = g.add_const(
                TensorData::from_i64s(ScalarType::I8, &wvals).unwrap(),
                TensorType::new(vec![o, c, kern[0], kern[1]], ElemType::quant(wq)),
            );
            let acc_s: Vec<f32> = sw.iter().map(|s| 0.5 * s).collect();
            let bq = QuantType::per_axis(ScalarType::I32, 0, acc_s.clone(), vec![0; o]);
            // Case 3: biases at the saturating end (the general form).
            let bvals: Vec<i64> = (0..o)
                .map(|q| {
                    if i == 3 && q % 2 == 0 {
                        2_000_000_000
                    } else {
                        rng.range(-30000, 30000)
                    }
                })
                .collect();
            let b = g.add_const(
                TensorData::from_i64s(ScalarType::I32, &bvals).unwrap(),
                TensorType::new(vec![o], ElemType::quant(bq)),
            );
            let accq = QuantType::per_axis(ScalarType::I32, 1, acc_s, vec![0; o]);
            // x's zero point in the bias on some (not the saturating case 3).
            let int = IntAttrs {
                zx_in_bias: i % 2 == 0,
            };
            let acc = g.add_node(
                Op::Conv2dInt(a, int),
                &[x, wv, b],
                TensorType::new(vec![n, o, oh, ow], ElemType::quant(accq)),
            );
            let out = if (i + j) % 3 == 0 {
                ScalarType::I8
            } else {
                ScalarType::U8
            };
            let zo = if out == ScalarType::I8 { -5 } else { 130 };
            let y = g.add_node(
                Op::Requantize { mode },
                &[acc],
                TensorType::new(
                    vec![n, o, oh, ow],
                    ElemType::quant(QuantType::per_tensor(out, 0.4, zo)),
                ),
            );
            g.add_output("y", y);
            let what = format!("stride-1 conv {i} {xs} {mode}");
            if !check(&g, &what, true, &mut rng) {
                continue;
            }
            ran += 1;
            // Two threads split the pixels (the larger cases).
            let inputs: Vec<Tensor> = g
                .inputs()
                .iter()
                .map(|&v| {
                    let ty = g.ty(v);
                    let k = ty.shape.iter().product();
                    Tensor::new(ty.shape.clone(), fill(ty.elem.storage(), k, 1, &mut rng))
                })
                .collect();
            let want = qcc_ir::interp::run(&g, &inputs).unwrap();
            let model = qcc_compiler::model::Compiler::new()
                .run_passes(false)
                .threads(2)
                .compile(&g)
                .unwrap();
            assert_same(
                &want,
                &model.run(&inputs).unwrap(),
                &format!("{what}, 2 threads"),
            );
        }
    }
    assert!(ran >= 12, "only {ran} cases ran");
}

/// An `add_int` (float mode) of a per-column constant after the fused
/// requantize (the bias onnxruntime's quantizer adds after a MatMul), and a
/// `clamp_int` after it, fuse into the tile store too: constants of shape
/// `[n]`, `[1, n]` and `[1]`, either operand first, signed and unsigned
/// operands and results, scales that saturate, tiles of 16 and 32 rows
/// (AMX) and ragged columns. Where the add is an output or its result is
/// broadcast, it stays apart (and the results still match).
#[test]
fn fused_bias_add_after_requantize() {
    let mut rng = Rng(0xb1a5_add0_0000_0001);
    let mut fused_cases = 0;
    for (i, &(m, k, n)) in [(5, 40, 70), (33, 64, 96), (1, 17, 3), (40, 130, 200)]
        .iter()
        .enumerate()
    {
        for mode in RequantMode::ALL {
            let c = Case {
                m,
                k,
                n,
                xs: ScalarType::U8,
                zx: 100,
                zw: &[0, 2],
                bias: 1,
                per_channel: false,
                mode,
                out: if i % 2 == 0 {
                    ScalarType::U8
                } else {
                    ScalarType::I8
                },
                zo: if i % 2 == 0 { 128 } else { -3 },
                zi: 0,
                s_out: [1.0, 0.25, 37.0, 4.0][i],
            };
            for (j, cshape) in [vec![n], vec![1, n], vec![1]].into_iter().enumerate() {
                for (cs, ys, sy, clamp) in [
                    (ScalarType::U8, ScalarType::U8, 0.7f32, None),
                    (ScalarType::I8, ScalarType::I8, 0.02, Some((-20, 90))),
                    (ScalarType::U8, ScalarType::I8, 3.0, None),
                    (ScalarType::I8, ScalarType::U8, 0.5, Some((0, 255))),
                ] {
                    let swap = (i + j) % 2 == 1;
                    let mut g = matmul_graph(&c, &mut rng);
                    let y = g.outputs()[0].value;
                    let (lo, hi) = cs.int_range().unwrap();
                    let cn: usize = cshape.iter().product();
                    let cvals: Vec<i64> = (0..cn)
                        .map(|t| match t % 5 {
                            0 => lo,
                            1 => hi,
                            _ => rng.range(lo, hi),
                        })
                        .collect();
                    let zc = if cs == ScalarType::U8 { 77 } else { -9 };
                    let cv = g.add_const(
                        TensorData::from_i64s(cs, &cvals).unwrap(),
                        TensorType::new(
                            cshape.clone(),
                            ElemType::quant(QuantType::per_tensor(cs, 1.5 * c.s_out, zc)),
                        ),
                    );
                    let zy = if ys == ScalarType::U8 { 10 } else { 0 };
                    let yt = TensorType::new(
                        vec![m, n],
                        ElemType::quant(QuantType::per_tensor(ys, sy * c.s_out, zy)),
                    );
                    let args = if swap { [cv, y] } else { [y, cv] };
                    let add = g.add_node(
                        Op::AddInt {
                            mode: RequantMode::Float,
                            ort: false,
                        },
                        &args,
                        yt.clone(),
                    );
                    let mut last = add;
                    if let Some((a, b)) = clamp {
                        last = g.add_node(Op::ClampInt { min: a, max: b }, &[add], yt);
                    }
                    g.outputs_mut()[0].value = last;
                    let what = format!("{c:?} + {cs}{cshape:?} -> {ys} {sy} {clamp:?} swap {swap}");
                    if qcc_ir::verify::verify(&g).is_err() {
                        continue;
                    }
                    let fuse = mode != RequantMode::DoubleRound;
                    let want = if fuse {
                        2 + clamp.is_some() as usize
                    } else {
                        0
                    };
                    run_fused(&g, &what, want, &mut rng);
                    fused_cases += fuse as usize;
                    // The add is an output too: the requantize and the add
                    // fuse, the clamp after it does not.
                    if clamp.is_some() {
                        g.add_output("sum", add);
                        let want = if fuse { 2 } else { 0 };
                        run_fused(&g, &format!("{what}, the add an output"), want, &mut rng);
                    }
                }
            }
        }
    }
    assert!(fused_cases >= 60, "only {fused_cases} fused");
}

/// Runs `g` on every path and fill against the interpreter, asserting that
/// the AVX512-VNNI and AMX paths fused `want` ops into the GEMM.
fn run_fused(g: &Graph, what: &str, want: usize, rng: &mut Rng) {
    let models: Vec<_> = qcc_compiler::model::supported_paths()
        .into_iter()
        .map(|p| (p, compile_forced(g, p)))
        .collect();
    for (p, model) in &models {
        let w = if matches!(p, DotPath::Avx512Vnni | DotPath::Amx) {
            want
        } else {
            0
        };
        assert_eq!(model.fused_requantizes().len(), w, "{what} on {p}");
    }
    for how in 0..4 {
        let inputs: Vec<Tensor> = g
            .inputs()
            .iter()
            .map(|&v| {
                let ty = g.ty(v);
                let n = ty.shape.iter().product();
                Tensor::new(ty.shape.clone(), fill(ty.elem.storage(), n, how, rng))
            })
            .collect();
        let expect = qcc_ir::interp::run(g, &inputs).unwrap();
        for (p, model) in &models {
            let got = model.run(&inputs).unwrap();
            assert_same(&expect, &got, &format!("{what} fill {how} path {p}"));
        }
    }
}
