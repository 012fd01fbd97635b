//! Packed layouts of constant weights (`qcc_ir::layout`): text syntax and
//! round trips, the interpreter reading packed constants in logical order
//! (identical results), the verifier's diagnostics where a packed layout
//! does not belong, and `.npy` data of packed constants.

use qcc_ir::diag::render;
use qcc_ir::layout::{self, Layout};
use qcc_ir::{Graph, Op, Tensor, TensorData, interp, text, verify};

fn parse_ok(src: &str) -> Graph {
    match text::parse(src, None) {
        Ok(g) => g,
        Err(d) => panic!("unexpected errors:\n{}", render(&d, "t.txt", src)),
    }
}

/// The rendered diagnostics of parsing and verifying `src` (which must fail).
fn errors(src: &str) -> String {
    let g = match text::parse(src, None) {
        Ok(g) => g,
        Err(d) => return render(&d, "t.txt", src),
    };
    match verify::verify(&g) {
        Ok(()) => panic!("expected an error, verified:\n{}", text::print(&g)),
        Err(d) => {
            for e in &d {
                assert!(e.span().is_some(), "diagnostic without a span: {e:?}");
            }
            render(&d, "t.txt", src)
        }
    }
}

#[track_caller]
fn assert_has(text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "missing {n:?} in:\n{text}");
    }
}

/// Deterministic i8 values.
fn vals(n: usize, seed: usize) -> Vec<i64> {
    (0..n)
        .map(|i| ((i * 37 + seed * 11) % 255) as i64 - 127)
        .collect()
}

fn list(v: &[i64]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Packs every constant read as the weights of a `matmul_int` or a
/// `conv2d_int` (groups 1) in `layout` of the right kind.
fn pack_weights(g: &Graph, k_align: usize) -> Graph {
    let mut g = g.clone();
    let ids: Vec<_> = g.node_ids().collect();
    for v in ids {
        let conv = match g.node(v).op {
            Op::MatMulInt(_) => false,
            Op::Conv2dInt(..) => true,
            _ => continue,
        };
        let w = g.args(v)[1];
        if g.ty(w).layout.is_packed() {
            continue;
        }
        let lay = Layout::panels(conv, k_align);
        let ty = g.ty(w).with_layout(lay);
        let Op::Const(c) = &g.node(w).op else {
            continue;
        };
        let data = layout::pack(lay, &ty.shape, &c.data).expect("packs");
        let node = g.node_mut(w);
        node.ty = ty;
        node.op = Op::Const(qcc_ir::ConstData::new(data));
    }
    g
}

/// A matmul of [3, K] u8 activations by per-column [K, N] i8 weights, and
/// a convolution, both with remainders (K not a multiple of 4, N not of 16).
fn model(k: usize, n: usize) -> String {
    let scales: Vec<String> = (0..n)
        .map(|i| format!("{}:{}", 0.01 + i as f32 * 0.001, 0))
        .collect();
    format!(
        "!x = !quant.uniform<u8:f32, 0.05:7>\n\
         !w = !quant.uniform<i8:f32:1, {{{}}}>\n\
         !c = !quant.uniform<i8:f32, 0.02:3>\n\
         graph @g(%x: tensor<3x{k}x!x>, %img: tensor<1x3x4x4xu8>) -> (%y: tensor<3x{n}xi32>, %z: tensor<1x5x4x4xi32>) {{\n\
           %w = const dense<[{}]> : tensor<{k}x{n}x!w>\n\
           %y = matmul_int %x, %w : tensor<3x{n}xi32>\n\
           %cw = const dense<[{}]> : tensor<5x3x3x3x!c>\n\
           %z = conv2d_int %img, %cw {{pads = [1, 1, 1, 1]}} : tensor<1x5x4x4xi32>\n\
           return %y, %z\n\
         }}\n",
        scales.join(", "),
        list(&vals(k * n, 1)),
        list(&vals(135, 2)),
    )
}

fn inputs(g: &Graph) -> Vec<Tensor> {
    g.inputs()
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let ty = g.ty(v);
            let n = ty.num_elements().unwrap();
            let data: Vec<i64> = (0..n).map(|j| ((j * 53 + i * 7) % 256) as i64).collect();
            Tensor::new(
                ty.shape.clone(),
                TensorData::from_i64s(ty.elem.storage(), &data).unwrap(),
            )
        })
        .collect()
}

#[test]
fn packed_constants_round_trip_and_compute_the_same() {
    for (k, n) in [(5, 20), (7, 70), (64, 16), (1, 1)] {
        let src = model(k, n);
        let g = parse_ok(&src);
        verify::verify(&g).unwrap();
        let want = interp::run(&g, &inputs(&g)).unwrap();
        for k_align in [4, 64] {
            let p = pack_weights(&g, k_align);
            verify::verify(&p).unwrap_or_else(|d| panic!("{d:?}"));
            let printed = text::print(&p);
            let suffix = if k_align == 64 { "_k64" } else { "" };
            assert!(printed.contains(&format!(", #k4n64{suffix}>")), "{printed}");
            assert!(
                printed.contains(&format!(", #hwc_k4n64{suffix}>")),
                "{printed}"
            );
            let back = parse_ok(&printed);
            assert!(back == p, "round trip changed the graph:\n{printed}");
            assert_eq!(text::print(&back), printed, "printing is a fixed point");
            verify::verify(&back).unwrap();
            let got = interp::run(&back, &inputs(&back)).unwrap();
            assert_eq!(got, want, "k={k} n={n} k_align={k_align}");
            // The logical accessor gives the row-major data back.
            for v in g.node_ids() {
                if let Op::Const(c) = &g.node(v).op {
                    let Op::Const(pc) = &p.node(v).op else {
                        panic!()
                    };
                    assert_eq!(*pc.logical(p.ty(v)), *c.data);
                }
            }
        }
    }
}

#[test]
fn layout_syntax() {
    // Every padding byte must be zero; K = 1, N = 1 packs into 4 × 16 bytes.
    let mut bytes = vec!["00"; 64];
    bytes[0] = "fb";
    let src = format!(
        "graph @g(%x: tensor<2x1xi8>) -> (%y: tensor<2x1xi32>) {{\n  \
           %w = const dense<\"0x{}\"> : tensor<1x1xi8, #k4n64>\n  \
           %y = matmul_int %x, %w : tensor<2x1xi32>\n  \
           return %y\n}}\n",
        bytes.concat()
    );
    let g = parse_ok(&src);
    verify::verify(&g).unwrap();
    let w = g.args(g.outputs()[0].value)[1];
    assert_eq!(g.ty(w).to_string(), "tensor<1x1xi8, #k4n64>");
    assert_eq!(g.ty(w).storage_len(), Some(64));
    let x = Tensor::new(vec![2, 1], TensorData::I8(vec![3, -2]));
    let y = interp::run(&g, &[x]).unwrap();
    assert_eq!(y[0].data, TensorData::I32(vec![-15, 10]));
    // A splat is the packed size too.
    let splat = src.replace(&format!("\"0x{}\"", bytes.concat()), "0");
    verify::verify(&parse_ok(&splat)).unwrap();
}

#[test]
fn unknown_layout_and_bad_syntax() {
    let e = errors("graph @g(%x: tensor<4xi8, #k8n32>) -> (%y: tensor<4xi8>) {\n  return %x\n}\n");
    assert_has(
        &e,
        &[
            "unknown layout `#k8n32`",
            "not a layout",
            "the layouts are: #k4n64",
        ],
    );
    let e = errors("graph @g(%x: tensor<4xi8, k4n64>) -> (%y: tensor<4xi8>) {\n  return %x\n}\n");
    assert_has(&e, &["a layout (`#k4n64`) after `,`"]);
}

const MM: &str = "graph @g(%x: tensor<2x3xi8>) -> (%y: tensor<2x5xi32>) {\n  \
    %w = const dense<0> : tensor<3x5xi8, #k4n64>\n  \
    %y = matmul_int %x, %w : tensor<2x5xi32>\n  \
    return %y\n}\n";

#[test]
fn verifier_rejects_misplaced_layouts() {
    verify::verify(&parse_ok(MM)).unwrap();
    // On an input.
    let e = errors(
        "graph @g(%x: tensor<2x3xi8>, %w: tensor<3x5xi8, #k4n64>) -> (%y: tensor<2x5xi32>) {\n  \
           %y = matmul_int %x, %w : tensor<2x5xi32>\n  return %y\n}\n",
    );
    assert_has(
        &e,
        &["a graph input cannot be in layout `#k4n64`: only constants are packed"],
    );
    // On an op's result.
    let e = errors(
        "graph @g(%x: tensor<2x3xi8>, %v: tensor<3x5xi8>) -> (%y: tensor<2x5xi32>) {\n  \
           %w = clamp_int %v {min = 0, max = 1} : tensor<3x5xi8, #k4n64>\n  \
           %y = matmul_int %x, %w : tensor<2x5xi32>\n  return %y\n}\n",
    );
    assert_has(
        &e,
        &["the result of `clamp_int` cannot be in layout `#k4n64`"],
    );
    // Read by an op that does not take it.
    let e = errors(
        "graph @g(%x: tensor<3x5xi8>) -> (%y: tensor<3x5xi8>) {\n  \
           %w = const dense<0> : tensor<3x5xi8, #k4n64>\n  \
           %y = clamp_int %w {min = 0, max = 1} : tensor<3x5xi8>\n  return %y\n}\n",
    );
    assert_has(
        &e,
        &[
            "`clamp_int`: operand 0 is in layout `#k4n64`; only the weights `w` of `matmul_int` may be packed in it",
            "3 |",
        ],
    );
    // A conv layout on matmul weights, and the reverse.
    let e = errors(&MM.replace("#k4n64", "#hwc_k4n64"));
    assert_has(&e, &["layout `#hwc_k4n64` is for `conv2d_int` weights"]);
    // The wrong storage type.
    let e = errors(&MM.replace("3x5xi8, #k4n64", "3x5xu8, #k4n64"));
    assert_has(&e, &["holds `i8` storage only"]);
    // Per-axis parameters on the wrong axis.
    let e = errors(&MM.replace(
        "tensor<3x5xi8, #k4n64>",
        "tensor<3x5x!quant.uniform<i8:f32:0, {1.0:0, 1.0:0, 1.0:0}>, #k4n64>",
    ));
    assert_has(&e, &["per-axis parameters must be on axis 1"]);
    // The wrong data length (the logical count instead of the packed one).
    let e = errors(&MM.replace(
        "dense<0>",
        "dense<[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]>",
    ));
    assert_has(
        &e,
        &["expected 64 elements", "padded to [4, 16], in packed order"],
    );
    // A packed constant returned as an output.
    let e = errors(
        "graph @g(%x: tensor<2x3xi8>) -> (%y: tensor<3x5xi8, #k4n64>) {\n  \
           %w = const dense<0> : tensor<3x5xi8, #k4n64>\n  return %w\n}\n",
    );
    assert_has(&e, &["output `y` is a constant in layout `#k4n64`"]);
}

#[test]
fn verifier_rejects_nonzero_padding() {
    let mut g = parse_ok(MM);
    let w = g.args(g.outputs()[0].value)[1];
    if let Op::Const(c) = &mut g.node_mut(w).op {
        let TensorData::I8(v) = std::sync::Arc::make_mut(&mut c.data) else {
            panic!()
        };
        // Row k = 3 of column 0 is padding (K = 3).
        v[3] = 1;
    }
    let e = verify::verify(&g).unwrap_err();
    assert!(e[0].message.contains("padding element 3"), "{e:?}");
    // A graph built in code with data of the wrong length: a diagnostic, no panic.
    if let Op::Const(c) = &mut g.node_mut(w).op {
        c.data = TensorData::I8(vec![0; 15]).into();
    }
    let e = verify::verify(&g).unwrap_err();
    assert!(
        e[0].message.contains("has 15 elements but needs 64"),
        "{e:?}"
    );
    assert!(interp::run(&g, &[Tensor::new(vec![2, 3], TensorData::I8(vec![0; 6]))]).is_err());
}

#[test]
fn npy_data_of_packed_constants() {
    let dir = std::env::temp_dir().join(format!("qcc-layout-npy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let packed: Vec<i8> = {
        let mut v = vec![0i8; 64];
        v[0] = 5;
        v
    };
    // The file holds the packed data, one dimension.
    qcc_ir::npy::write(
        &dir.join("w.npy"),
        &Tensor::new(vec![64], TensorData::I8(packed.clone())),
    )
    .unwrap();
    let src = MM.replace("dense<0>", "dense_file<\"w.npy\">");
    let g = text::parse(&src, Some(&dir)).unwrap();
    verify::verify(&g).unwrap();
    let w = g.args(g.outputs()[0].value)[1];
    assert_eq!(
        g.node(w).op.as_const().unwrap().data,
        TensorData::I8(packed).into()
    );
    // The logical shape is refused, naming the packed one.
    qcc_ir::npy::write(
        &dir.join("w.npy"),
        &Tensor::new(vec![3, 5], TensorData::I8(vec![0; 15])),
    )
    .unwrap();
    let d = text::parse(&src, Some(&dir)).unwrap_err();
    let e = render(&d, "t.txt", &src);
    assert_has(&e, &["wrong shape", "[64]"]);
    let _ = std::fs::remove_dir_all(&dir);
}
