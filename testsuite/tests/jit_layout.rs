//! Packed weights (`pick-layout`, `qcc_ir::layout`) on the JIT: graphs
//! whose `matmul_int` / `conv2d_int` weights are constants in a panel
//! layout compute, on every dot-product path this host runs, exactly what
//! the interpreter computes on the row-major graph, at shapes with
//! remainders (N not a multiple of 16 or 64, K not a multiple of 4),
//! with and without a requantize fused into the kernel; and the code
//! generator takes the packed bytes as they are where its kernel reads
//! that layout.

mod jit_common;

use jit_common::{Rng, assert_same, compile_forced};
use qcc_compiler::model::DotPath;
use qcc_ir::layout::{self, Layout};
use qcc_ir::op::{Conv2dAttrs, Op, RequantMode};
use qcc_ir::types::{ElemType, QuantType, ScalarType, TensorType};
use qcc_ir::{ConstData, Graph, Tensor, TensorData};

/// `g` with the weights of every `matmul_int` / `conv2d_int` (groups 1)
/// packed in the panel layout with `K` padded to `k_align`.
fn pack_weights(g: &Graph, k_align: usize) -> Graph {
    let mut g = g.clone();
    let ids: Vec<_> = g.node_ids().collect();
    for v in ids {
        let conv = match &g.node(v).op {
            Op::MatMulInt(_) => false,
            Op::Conv2dInt(a, _) if a.groups == 1 => true,
            _ => continue,
        };
        let w = g.args(v)[1];
        let Op::Const(c) = &g.node(w).op else {
            continue;
        };
        if g.ty(w).layout.is_packed() {
            continue;
        }
        let lay = Layout::panels(conv, k_align);
        let ty = g.ty(w).with_layout(lay);
        let data = layout::pack(lay, &ty.shape, &c.data).expect("i8 weights pack");
        let node = g.node_mut(w);
        node.ty = ty;
        node.op = Op::Const(ConstData::new(data));
    }
    g
}

fn random(st: ScalarType, n: usize, rng: &mut Rng) -> TensorData {
    let (lo, hi) = st.int_range().unwrap();
    let v: Vec<i64> = (0..n).map(|_| rng.range(lo, hi)).collect();
    TensorData::from_i64s(st, &v).unwrap()
}

fn inputs(g: &Graph, rng: &mut Rng) -> Vec<Tensor> {
    g.inputs()
        .iter()
        .map(|&v| {
            let ty = g.ty(v);
            let n = ty.shape.iter().product();
            Tensor::new(ty.shape.clone(), random(ty.elem.storage(), n, rng))
        })
        .collect()
}

/// Runs the row-major graph `g` in the interpreter and its packed forms
/// (K by 4 and by 64) in the interpreter and on every path; returns the
/// ops whose packed weights each path took as they were.
fn check(g: &Graph, what: &str, rng: &mut Rng) -> Vec<(DotPath, usize, usize)> {
    qcc_ir::verify::verify(g).unwrap_or_else(|d| panic!("{what}: {}", d[0].message));
    let ins = inputs(g, rng);
    let want = qcc_ir::interp::run(g, &ins).unwrap();
    let mut reused = Vec::new();
    for k_align in [4, 64] {
        let p = pack_weights(g, k_align);
        qcc_ir::verify::verify(&p).unwrap_or_else(|d| panic!("{what}: {}", d[0].message));
        let got = qcc_ir::interp::run(&p, &ins).unwrap();
        assert_same(&want, &got, &format!("{what} interpreter, K by {k_align}"));
        for path in qcc_compiler::model::supported_paths() {
            let m = compile_forced(&p, path);
            let got = m.run(&ins).unwrap();
            assert_same(&want, &got, &format!("{what} path {path}, K by {k_align}"));
            reused.push((path, k_align, m.prepacked_weights().len()));
        }
    }
    reused
}

fn q(st: ScalarType, s: f32, z: i64) -> ElemType {
    ElemType::quant(QuantType::per_tensor(st, s, z))
}

/// `x [m, k] → matmul_int (w, per axis or not, with a bias) [→ requantize]`.
#[allow(clippy::too_many_arguments)]
fn matmul(
    m: usize,
    k: usize,
    n: usize,
    x_st: ScalarType,
    zx: i64,
    per_axis: bool,
    requant: bool,
    rng: &mut Rng,
) -> Graph {
    let mut g = Graph::new("mm");
    let sx = 0.05;
    let x = g.add_input("x", TensorType::new(vec![m, k], q(x_st, sx, zx)));
    let sw: Vec<f32> = (0..n).map(|i| 0.01 + 0.001 * (i % 7) as f32).collect();
    let (wq, acc) = if per_axis {
        let zw: Vec<i64> = (0..n).map(|i| (i % 3) as i64 - 1).collect();
        (
            QuantType::per_axis(ScalarType::I8, 1, sw.clone(), zw),
            QuantType::per_axis(
                ScalarType::I32,
                1,
                sw.iter().map(|s| sx * s).collect(),
                vec![0; n],
            ),
        )
    } else {
        (
            QuantType::per_tensor(ScalarType::I8, sw[0], 0),
            QuantType::per_tensor(ScalarType::I32, sx * sw[0], 0),
        )
    };
    let w = g.add_const(
        random(ScalarType::I8, k * n, rng),
        TensorType::new(vec![k, n], ElemType::quant(wq)),
    );
    let mut bq = acc.clone();
    bq.axis = bq.axis.map(|_| 0);
    let b = g.add_const(
        TensorData::from_i64s(
            ScalarType::I32,
            &(0..n).map(|_| rng.range(-5000, 5000)).collect::<Vec<_>>(),
        )
        .unwrap(),
        TensorType::new(vec![n], ElemType::quant(bq)),
    );
    let accv = g.add_node(
        Op::MatMulInt(Default::default()),
        &[x, w, b],
        TensorType::new(vec![m, n], ElemType::quant(acc)),
    );
    let out = if requant {
        g.add_node(
            Op::Requantize {
                mode: RequantMode::Float,
            },
            &[accv],
            TensorType::new(vec![m, n], q(ScalarType::U8, 0.5, 3)),
        )
    } else {
        accv
    };
    g.add_output("y", out);
    g
}

#[test]
fn packed_matmuls_match_the_interpreter() {
    let mut rng = Rng(0x1a7e);
    let mut reused = Vec::new();
    for &(m, k, n) in &[
        (3, 5, 20),
        (1, 4, 16),
        (7, 13, 70),
        (6, 64, 64),
        (9, 100, 130),
        (8, 64, 512),
        (16, 50, 400),
        (33, 200, 97),
    ] {
        for (x_st, zx) in [(ScalarType::U8, 7), (ScalarType::I8, -3)] {
            for per_axis in [false, true] {
                for requant in [false, true] {
                    let g = matmul(m, k, n, x_st, zx, per_axis, requant, &mut rng);
                    let what =
                        format!("{m}x{k}x{n} x {x_st} per_axis {per_axis} requant {requant}");
                    reused.extend(check(&g, &what, &mut rng));
                }
            }
        }
    }
    // The kernels took the packed bytes as they were: every panel path with
    // K padded to 64, and the VNNI-style paths with K padded to 4.
    for path in qcc_compiler::model::supported_paths() {
        let took = |align: usize| {
            reused
                .iter()
                .filter(|&&(p, a, _)| p == path && a == align)
                .map(|&(_, _, n)| n)
                .sum::<usize>()
        };
        match path {
            DotPath::Scalar => assert_eq!(took(4) + took(64), 0, "the scalar path has no panels"),
            DotPath::Amx => assert!(took(64) > 0, "amx never took its packed weights"),
            _ => {
                assert!(took(4) > 0, "{path} never took #k4n64 weights");
                assert!(took(64) > 0, "{path} never took #k4n64_k64 weights");
            }
        }
    }
}

fn conv(
    (n, c, h, w): (usize, usize, usize, usize),
    (o, kh, kw): (usize, usize, usize),
    attrs: Conv2dAttrs,
    requant: bool,
    rng: &mut Rng,
) -> Graph {
    let mut g = Graph::new("conv");
    let sx = 0.05;
    let x = g.add_input(
        "x",
        TensorType::new(vec![n, c, h, w], q(ScalarType::U8, sx, 9)),
    );
    let sw: Vec<f32> = (0..o).map(|i| 0.01 + 0.002 * (i % 5) as f32).collect();
    let wt = g.add_const(
        random(ScalarType::I8, o * c * kh * kw, rng),
        TensorType::new(
            vec![o, c, kh, kw],
            ElemType::quant(QuantType::per_axis(
                ScalarType::I8,
                0,
                sw.clone(),
                vec![0; o],
            )),
        ),
    );
    let oh = (h + attrs.pads[0] + attrs.pads[2] - attrs.dilations[0] * (kh - 1) - 1)
        / attrs.strides[0]
        + 1;
    let ow = (w + attrs.pads[1] + attrs.pads[3] - attrs.dilations[1] * (kw - 1) - 1)
        / attrs.strides[1]
        + 1;
    let acc = QuantType::per_axis(
        ScalarType::I32,
        1,
        sw.iter().map(|s| sx * s).collect(),
        vec![0; o],
    );
    let accv = g.add_node(
        Op::Conv2dInt(attrs, Default::default()),
        &[x, wt],
        TensorType::new(vec![n, o, oh, ow], ElemType::quant(acc)),
    );
    let out = if requant {
        let sy: Vec<f32> = (0..o).map(|i| 0.3 + 0.05 * i as f32).collect();
        g.add_node(
            Op::Requantize {
                mode: RequantMode::Float,
            },
            &[accv],
            TensorType::new(
                vec![n, o, oh, ow],
                ElemType::quant(QuantType::per_axis(ScalarType::U8, 1, sy, vec![2; o])),
            ),
        )
    } else {
        accv
    };
    g.add_output("y", out);
    g
}

#[test]
fn packed_convs_match_the_interpreter() {
    let mut rng = Rng(0xc0c0);
    let padded = Conv2dAttrs {
        pads: [1, 1, 1, 1],
        ..Conv2dAttrs::default()
    };
    let strided = Conv2dAttrs {
        strides: [2, 2],
        pads: [0, 1, 1, 0],
        dilations: [1, 2],
        ..Conv2dAttrs::default()
    };
    let mut reused = Vec::new();
    for (x, wsh, attrs) in [
        ((1, 2, 5, 5), (3, 3, 3), padded.clone()),
        ((2, 3, 6, 7), (17, 3, 3), strided),
        ((1, 5, 4, 4), (70, 1, 1), Conv2dAttrs::default()),
        // Stride 1 with 40 channels: the direct AMX convolution where the
        // host has it (it reads its own weight rows, from the logical data).
        ((1, 40, 8, 8), (36, 3, 3), padded),
    ] {
        for requant in [false, true] {
            let g = conv(x, wsh, attrs.clone(), requant, &mut rng);
            reused.extend(check(
                &g,
                &format!("conv {x:?} {wsh:?} requant {requant}"),
                &mut rng,
            ));
        }
    }
    for path in qcc_compiler::model::supported_paths() {
        if path != DotPath::Scalar {
            let took: usize = reused
                .iter()
                .filter(|&&(p, a, _)| p == path && a == 64)
                .map(|&(_, _, n)| n)
                .sum();
            assert!(took > 0, "{path} never took #hwc_k4n64_k64 weights");
        }
    }
}

/// The default pipeline on this host's target, then the JIT: what
/// `qcc run` does. The result equals the interpreter on the compiled graph,
/// and on an AVX-512 or AMX host the GEMMs took their weights as packed.
#[test]
fn default_pipeline_packs_for_the_host() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let g = qcc_compiler::load_file(&root.join("digits_cnn.txt")).unwrap();
    let opts = qcc_compiler::CompileOptions::default();
    let out = qcc_compiler::compile(g, &opts).unwrap();
    let text = qcc_ir::text::print(&out);
    let host = qcc_compiler::host_layout_target();
    assert_eq!(
        text.contains(", #"),
        host != qcc_compiler::LayoutTarget::Portable,
        "{text}"
    );
    let m = qcc_compiler::model::Compiler::new()
        .run_passes(false)
        .compile(&out)
        .unwrap();
    let ins = qcc_compiler::random_inputs(&out, 5);
    assert_same(
        &qcc_ir::interp::run(&out, &ins).unwrap(),
        &m.run(&ins).unwrap(),
        "digits_cnn",
    );
    if host != qcc_compiler::LayoutTarget::Portable {
        assert!(!m.prepacked_weights().is_empty(), "{text}");
    }
}
