//! Import tests on models built here from the prost messages: tensor
//! encodings (typed fields, raw data, external files), symbolic dimensions,
//! bindings, error messages, and robustness against malformed files.

use prost::Message;
use qcc_ir::{Tensor, TensorData, interp, text};
use qcc_onnx::proto::tensor_shape_proto::{Dimension, dimension};
use qcc_onnx::proto::*;
use qcc_onnx::{ImportError, ImportOptions, import_bytes, import_file};
use std::path::Path;

fn dim_v(v: i64) -> Dimension {
    Dimension {
        value: Some(dimension::Value::DimValue(v)),
    }
}

fn dim_p(p: &str) -> Dimension {
    Dimension {
        value: Some(dimension::Value::DimParam(p.into())),
    }
}

fn vi(name: &str, elem: i32, dims: Vec<Dimension>) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(elem),
                shape: Some(TensorShapeProto { dim: dims }),
            })),
        }),
    }
}

fn node(op: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        name: Some(format!("{op}_0")),
        op_type: Some(op.into()),
        domain: None,
        attribute: attrs,
    }
}

fn attr_i(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_type::INT),
        i: Some(i),
        ..Default::default()
    }
}

fn tensor(name: &str, dt: i32, dims: &[i64]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        data_type: Some(dt),
        dims: dims.to_vec(),
        ..Default::default()
    }
}

fn model(
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
) -> ModelProto {
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(13),
        }],
        graph: Some(GraphProto {
            node: nodes,
            name: Some("t".into()),
            initializer: inits,
            input: inputs,
            output: outputs,
            ..Default::default()
        }),
        ..Default::default()
    }
}

const FLOAT: i32 = 1;
const UINT8: i32 = 2;
const INT8: i32 = 3;
const INT4: i32 = 22;

/// x [N, 4] f32 → QuantizeLinear(s, z) → DequantizeLinear → y.
fn qdq_model(scale: TensorProto, zp: TensorProto) -> ModelProto {
    model(
        vec![
            node("QuantizeLinear", &["x", "s", "z"], &["q"], vec![]),
            node("DequantizeLinear", &["q", "s", "z"], &["y"], vec![]),
        ],
        vec![scale, zp],
        vec![vi("x", FLOAT, vec![dim_p("N"), dim_v(4)])],
        vec![vi("y", FLOAT, vec![dim_p("N"), dim_v(4)])],
    )
}

fn scale_t(v: f32) -> TensorProto {
    let mut t = tensor("s", FLOAT, &[]);
    t.float_data = vec![v];
    t
}

fn zp_u8(v: i32) -> TensorProto {
    let mut t = tensor("z", UINT8, &[]);
    t.int32_data = vec![v];
    t
}

fn run1(g: &qcc_ir::Graph, x: Vec<f32>, shape: Vec<usize>) -> Vec<f32> {
    let out = interp::run(g, &[Tensor::f32(shape, x)]).expect("runs");
    out[0].data.as_f32().unwrap().to_vec()
}

#[test]
fn qdq_round_trip_with_a_symbolic_batch() {
    let m = qdq_model(scale_t(0.5), zp_u8(10)).encode_to_vec();
    let err = import_bytes(&m, None, &ImportOptions::new()).unwrap_err();
    assert!(err.to_string().contains("--dim N="), "{err}");
    let g = import_bytes(&m, None, &ImportOptions::new().dim("N", 2)).unwrap();
    let printed = text::print(&g);
    assert!(
        printed.contains("!quant.uniform<u8:f32, 0.5:10>"),
        "{printed}"
    );
    let y = run1(
        &g,
        vec![0.0, 0.3, -100.0, 1000.0, 1.25, -0.25, 0.75, 2.0],
        vec![2, 4],
    );
    assert_eq!(y, vec![0.0, 0.5, -5.0, 122.5, 1.0, -0.0, 1.0, 2.0]);
}

#[test]
fn raw_data_and_typed_fields_agree() {
    let mut s = tensor("s", FLOAT, &[]);
    s.raw_data = Some(0.5f32.to_le_bytes().to_vec());
    let mut z = tensor("z", UINT8, &[]);
    z.raw_data = Some(vec![10]);
    let a = import_bytes(
        &qdq_model(s, z).encode_to_vec(),
        None,
        &ImportOptions::new().dim("N", 1),
    )
    .unwrap();
    let b = import_bytes(
        &qdq_model(scale_t(0.5), zp_u8(10)).encode_to_vec(),
        None,
        &ImportOptions::new().dim("N", 1),
    )
    .unwrap();
    assert_eq!(text::print(&a), text::print(&b));
}

#[test]
fn int4_weights_from_int32_data_and_raw_data() {
    // w: int4 [2, 3] = [[1, -2, 7], [-8, 0, 3]], DequantizeLinear → output.
    let vals = [1i64, -2, 7, -8, 0, 3];
    let mut packed = vec![0u8; 3];
    for (i, v) in vals.iter().enumerate() {
        packed[i / 2] |= ((*v as u8) & 0x0f) << (4 * (i % 2));
    }
    for raw in [false, true] {
        let mut w = tensor("w", INT4, &[2, 3]);
        if raw {
            w.raw_data = Some(packed.clone());
        } else {
            w.int32_data = packed.iter().map(|&b| b as i32).collect();
        }
        let mut z = tensor("z", INT4, &[]);
        z.int32_data = vec![1];
        let m = model(
            vec![node("DequantizeLinear", &["w", "s", "z"], &["y"], vec![])],
            vec![w, scale_t(0.25), z],
            vec![],
            vec![vi("y", FLOAT, vec![dim_v(2), dim_v(3)])],
        );
        let g = import_bytes(&m.encode_to_vec(), None, &ImportOptions::new()).unwrap();
        let out = interp::run(&g, &[]).unwrap();
        let want: Vec<f32> = vals.iter().map(|&v| (v - 1) as f32 * 0.25).collect();
        assert_eq!(out[0].data.as_f32().unwrap(), &want[..], "raw={raw}");
    }
}

#[test]
fn external_data_loads_and_may_not_leave_the_folder() {
    let dir = std::env::temp_dir().join(format!("qcc_onnx_ext_{}", std::process::id()));
    let sub = dir.join("model");
    std::fs::create_dir_all(&sub).unwrap();
    let mut bytes = vec![0u8; 8];
    bytes.extend_from_slice(&0.5f32.to_le_bytes());
    std::fs::write(sub.join("w.bin"), &bytes).unwrap();
    std::fs::write(dir.join("outside.bin"), &bytes).unwrap();
    let ext = |loc: &str| {
        let mut s = tensor("s", FLOAT, &[]);
        s.data_location = Some(1);
        s.external_data = vec![
            StringStringEntryProto {
                key: Some("location".into()),
                value: Some(loc.into()),
            },
            StringStringEntryProto {
                key: Some("offset".into()),
                value: Some("8".into()),
            },
            StringStringEntryProto {
                key: Some("length".into()),
                value: Some("4".into()),
            },
        ];
        s
    };
    let path = sub.join("m.onnx");
    let opts = ImportOptions::new().dim("N", 1);
    std::fs::write(&path, qdq_model(ext("w.bin"), zp_u8(0)).encode_to_vec()).unwrap();
    let g = import_file(&path, &opts).unwrap();
    assert!(text::print(&g).contains("0.5"));
    for bad in ["../outside.bin", "/etc/passwd", ""] {
        std::fs::write(&path, qdq_model(ext(bad), zp_u8(0)).encode_to_vec()).unwrap();
        let e = import_file(&path, &opts).unwrap_err().to_string();
        assert!(
            e.contains("inside the model's folder") || e.contains("leaves"),
            "{bad}: {e}"
        );
    }
    // Past the end of the file.
    let mut s = ext("w.bin");
    s.external_data[1].value = Some("10".into());
    std::fs::write(&path, qdq_model(s, zp_u8(0)).encode_to_vec()).unwrap();
    assert!(
        import_file(&path, &opts)
            .unwrap_err()
            .to_string()
            .contains("past its end")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn runtime_scales_run_or_can_be_bound() {
    let m = model(
        vec![node("QuantizeLinear", &["x", "s", "z"], &["y"], vec![])],
        vec![zp_u8(3)],
        vec![vi("x", FLOAT, vec![dim_v(3)]), vi("s", FLOAT, vec![])],
        vec![vi("y", UINT8, vec![dim_v(3)])],
    )
    .encode_to_vec();
    let x = Tensor::f32(vec![3], vec![0.25, -1.0, 100.0]);
    // The scale as a run-time input: quantize_dyn.
    let g = import_bytes(&m, None, &ImportOptions::new()).unwrap();
    assert_eq!(g.inputs().len(), 2);
    assert!(text::print(&g).contains("quantize_dyn"));
    let s = Tensor::f32(vec![], vec![0.25]);
    let out = interp::run(&g, &[x.clone(), s]).unwrap();
    assert_eq!(out[0].data, TensorData::U8(vec![4, 0, 255]));
    // Bound: a static quantized type, the same result.
    let opts = ImportOptions::new().bind("s", Tensor::f32(vec![], vec![0.25]));
    let g = import_bytes(&m, None, &opts).unwrap();
    assert_eq!(g.inputs().len(), 1);
    let out = interp::run(&g, &[x]).unwrap();
    assert_eq!(out[0].data, TensorData::U8(vec![4, 0, 255]));
    let bad = ImportOptions::new().bind("nope", Tensor::f32(vec![], vec![1.0]));
    assert!(matches!(
        import_bytes(&m, None, &bad).unwrap_err(),
        ImportError::Bind { .. }
    ));
    // QOperator ops still need static parameters: refused by name.
    let mut inits = Vec::new();
    for (name, v) in [("bs", 0.5f32), ("ys", 0.25)] {
        let mut t = tensor(name, FLOAT, &[]);
        t.float_data = vec![v];
        inits.push(t);
    }
    for name in ["az", "bz", "yz"] {
        let mut t = tensor(name, UINT8, &[]);
        t.int32_data = vec![0];
        inits.push(t);
    }
    let mut b = tensor("b", UINT8, &[2, 1]);
    b.int32_data = vec![1, 2];
    inits.push(b);
    let m = model(
        vec![node(
            "QLinearMatMul",
            &["a", "as", "az", "b", "bs", "bz", "ys", "yz"],
            &["y"],
            vec![],
        )],
        inits,
        vec![
            vi("a", UINT8, vec![dim_v(1), dim_v(2)]),
            vi("as", FLOAT, vec![]),
        ],
        vec![vi("y", UINT8, vec![dim_v(1), dim_v(1)])],
    )
    .encode_to_vec();
    let e = import_bytes(&m, None, &ImportOptions::new()).unwrap_err();
    assert!(matches!(e, ImportError::RuntimeParam { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("`QLinearMatMul_0`") && msg.contains("QLinearMatMul") && msg.contains("`as`"),
        "{msg}"
    );
}

#[test]
fn unsupported_ops_name_the_node_and_the_op() {
    let m = model(
        vec![node("NonMaxSuppression", &["x"], &["y"], vec![])],
        vec![],
        vec![vi("x", FLOAT, vec![dim_v(3)])],
        vec![vi("y", FLOAT, vec![dim_v(3)])],
    );
    let e = import_bytes(&m.encode_to_vec(), None, &ImportOptions::new()).unwrap_err();
    assert!(e.is_unsupported());
    assert!(
        e.to_string()
            .starts_with("node `NonMaxSuppression_0` (NonMaxSuppression): unsupported"),
        "{e}"
    );
    // A blocked QuantizeLinear of a run-time value: quantize_dyn over
    // [rows, blocks, block]; rows scaled by 1 and 2: [1, 2; 3/2 → 2, 2].
    let blocked = |cols: i64, s: TensorProto, z: TensorProto| {
        model(
            vec![node(
                "QuantizeLinear",
                &["x", "s", "z"],
                &["y"],
                vec![attr_i("block_size", 2), attr_i("axis", 1)],
            )],
            vec![s, z],
            vec![vi("x", FLOAT, vec![dim_v(2), dim_v(cols)])],
            vec![vi("y", INT8, vec![dim_v(2), dim_v(cols)])],
        )
        .encode_to_vec()
    };
    let mut s = tensor("s", FLOAT, &[2, 1]);
    s.float_data = vec![1.0, 2.0];
    let mut z = tensor("z", INT8, &[2, 1]);
    z.int32_data = vec![0, 0];
    let g = import_bytes(&blocked(2, s, z), None, &ImportOptions::new()).unwrap();
    let x = Tensor::f32(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]);
    let out = interp::run(&g, &[x]).unwrap();
    assert_eq!(out[0].data, TensorData::I8(vec![1, 2, 2, 2]));
    // Run-time parameters whose sizes do not fit: an error, not a panic.
    let m = model(
        vec![node(
            "QuantizeLinear",
            &["x", "s", "z"],
            &["y"],
            vec![attr_i("axis", 1)],
        )],
        vec![{
            let mut z = tensor("z", UINT8, &[2]);
            z.int32_data = vec![1, 2];
            z
        }],
        vec![
            vi("x", FLOAT, vec![dim_v(2), dim_v(3)]),
            vi("s", FLOAT, vec![dim_v(3)]),
        ],
        vec![vi("y", UINT8, vec![dim_v(2), dim_v(3)])],
    );
    let e = import_bytes(&m.encode_to_vec(), None, &ImportOptions::new()).unwrap_err();
    assert!(
        e.to_string()
            .contains("the zero point has 2 elements where 3 are needed"),
        "{e}"
    );
    // A partial last block (3 columns in blocks of 2) is not supported.
    let mut s = tensor("s", FLOAT, &[2, 2]);
    s.float_data = vec![1.0; 4];
    let mut z = tensor("z", INT8, &[2, 2]);
    z.int32_data = vec![0; 4];
    let e = import_bytes(&blocked(3, s, z), None, &ImportOptions::new()).unwrap_err();
    assert!(e.is_unsupported(), "{e}");
    assert!(e.to_string().contains("partial last block"), "{e}");
}

#[test]
fn bad_tensors_are_errors() {
    // Huge dimensions.
    let mut s = tensor("s", FLOAT, &[1 << 40, 1 << 40]);
    s.float_data = vec![1.0];
    let e = import_bytes(
        &qdq_model(s, zp_u8(0)).encode_to_vec(),
        None,
        &ImportOptions::new().dim("N", 1),
    );
    assert!(e.unwrap_err().to_string().contains("too large"));
    // Wrong element count.
    let mut s = tensor("s", FLOAT, &[2]);
    s.float_data = vec![1.0];
    let e = import_bytes(
        &qdq_model(s, zp_u8(0)).encode_to_vec(),
        None,
        &ImportOptions::new().dim("N", 1),
    );
    assert!(e.unwrap_err().to_string().contains("elements"));
    // Zero point outside the range.
    let e = import_bytes(
        &qdq_model(scale_t(1.0), zp_u8(300)).encode_to_vec(),
        None,
        &ImportOptions::new().dim("N", 1),
    );
    assert!(e.is_err());
    // Zero scale.
    let e = import_bytes(
        &qdq_model(scale_t(0.0), zp_u8(0)).encode_to_vec(),
        None,
        &ImportOptions::new().dim("N", 1),
    );
    assert!(e.unwrap_err().to_string().contains("scale"));
}

/// Every prefix and many corrupted versions of every bundled model give an
/// error or a graph, never a panic.
#[test]
fn malformed_files_never_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut files = Vec::new();
    for sub in ["models", "backend"] {
        for e in std::fs::read_dir(root.join(sub)).unwrap().flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "onnx") {
                files.push(p);
            } else if p.join("model.onnx").is_file() {
                files.push(p.join("model.onnx"));
            }
        }
    }
    files.sort();
    let opts = ImportOptions::new().dim("N", 2);
    let mut seed = 0x1234_5678u64;
    for f in files.iter().step_by(3) {
        let bytes = std::fs::read(f).unwrap();
        let step = (bytes.len() / 64).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            let _ = import_bytes(&bytes[..cut], None, &opts);
        }
        for _ in 0..64 {
            let mut b = bytes.clone();
            for _ in 0..4 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let i = (seed >> 33) as usize % b.len();
                b[i] = (seed >> 17) as u8;
            }
            let _ = import_bytes(&b, None, &opts);
        }
    }
}

fn attr_s(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_type::STRING),
        s: Some(s.as_bytes().to_vec()),
        ..Default::default()
    }
}

/// One node from `x` (f32 NCHW) to `y`, imported and run on 0, 1, 2, ...
fn run_movement(
    n: NodeProto,
    inits: Vec<TensorProto>,
    shape: [usize; 4],
    out: [usize; 4],
) -> Vec<f32> {
    let dims = |s: [usize; 4]| s.iter().map(|&d| dim_v(d as i64)).collect();
    let m = model(
        vec![n],
        inits,
        vec![vi("x", FLOAT, dims(shape))],
        vec![vi("y", FLOAT, dims(out))],
    );
    let g = import_bytes(&m.encode_to_vec(), None, &ImportOptions::new()).expect("imports");
    assert_eq!(g.ty(g.outputs()[0].value).shape, out.to_vec());
    let len: usize = shape.iter().product();
    run1(&g, (0..len).map(|v| v as f32).collect(), shape.to_vec())
}

#[test]
fn resize_nearest_repeats_each_pixel() {
    // 1x2x2x3 → scales [1, 1, 2, 3] (asymmetric, floor): y[c, i, j] =
    // x[c, i / 2, j / 3].
    let mut sc = tensor("scales", FLOAT, &[4]);
    sc.float_data = vec![1.0, 1.0, 2.0, 3.0];
    let roi = tensor("roi", FLOAT, &[0]);
    for (ctm, nm) in [
        ("asymmetric", "floor"),
        ("half_pixel", "round_prefer_floor"),
    ] {
        let n = node(
            "Resize",
            &["x", "roi", "scales"],
            &["y"],
            vec![
                attr_s("mode", "nearest"),
                attr_s("coordinate_transformation_mode", ctm),
                attr_s("nearest_mode", nm),
            ],
        );
        let y = run_movement(n, vec![roi.clone(), sc.clone()], [1, 2, 2, 3], [1, 2, 4, 9]);
        for c in 0..2 {
            for i in 0..4 {
                for j in 0..9 {
                    let want = (c * 6 + (i / 2) * 3 + j / 3) as f32;
                    assert_eq!(y[(c * 4 + i) * 9 + j], want, "{ctm} c{c} i{i} j{j}");
                }
            }
        }
    }
    // Linear (half_pixel): on a ramp, the clamped source coordinates
    // themselves: y[c, i, j] = 6c + 3·clamp((i + ½)/2 − ½) + clamp((j + ½)/3 − ½).
    let n = node(
        "Resize",
        &["x", "roi", "scales"],
        &["y"],
        vec![attr_s("mode", "linear")],
    );
    let y = run_movement(n, vec![roi.clone(), sc], [1, 2, 2, 3], [1, 2, 4, 9]);
    let coord = |o: usize, s: f32, last: f32| ((o as f32 + 0.5) / s - 0.5).clamp(0.0, last);
    for c in 0..2 {
        for i in 0..4 {
            for j in 0..9 {
                let want = (c * 6) as f32 + 3.0 * coord(i, 2.0, 1.0) + coord(j, 3.0, 2.0);
                let got = y[(c * 4 + i) * 9 + j];
                assert!(
                    (got - want).abs() < 1e-5,
                    "linear c{c} i{i} j{j}: {got} vs {want}"
                );
            }
        }
    }
    // Nearest downsampling by 1/2 (asymmetric, floor): every other pixel.
    let mut half = tensor("scales", FLOAT, &[4]);
    half.float_data = vec![1.0, 1.0, 0.5, 0.5];
    let n = node(
        "Resize",
        &["x", "roi", "scales"],
        &["y"],
        vec![
            attr_s("coordinate_transformation_mode", "asymmetric"),
            attr_s("nearest_mode", "floor"),
        ],
    );
    let y = run_movement(n, vec![roi.clone(), half], [1, 1, 4, 6], [1, 1, 2, 3]);
    assert_eq!(y, vec![0.0, 2.0, 4.0, 12.0, 14.0, 16.0]);
    // An unknown mode: refused with the reason.
    let mut sc = tensor("scales", FLOAT, &[4]);
    sc.float_data = vec![1.0, 1.0, 2.0, 3.0];
    let n = node(
        "Resize",
        &["x", "roi", "scales"],
        &["y"],
        vec![attr_s("mode", "bicubic")],
    );
    let m = model(
        vec![n],
        vec![roi, sc],
        vec![vi("x", FLOAT, vec![dim_v(1), dim_v(2), dim_v(2), dim_v(3)])],
        vec![vi("y", FLOAT, vec![dim_v(1), dim_v(2), dim_v(4), dim_v(9)])],
    );
    let e = import_bytes(&m.encode_to_vec(), None, &ImportOptions::new()).unwrap_err();
    assert!(e.to_string().contains("mode = bicubic"), "{e}");
}

#[test]
fn space_to_depth_and_back_round_trip() {
    // SpaceToDepth (DCR) by ONNX's definition, then DepthToSpace (DCR)
    // restores the input.
    let n = node("SpaceToDepth", &["x"], &["y"], vec![attr_i("blocksize", 2)]);
    let y = run_movement(n, vec![], [1, 2, 4, 6], [1, 8, 2, 3]);
    for c in 0..2 {
        for by in 0..2 {
            for bx in 0..2 {
                for h in 0..2 {
                    for w in 0..3 {
                        let oc = (by * 2 + bx) * 2 + c;
                        let got = y[(oc * 2 + h) * 3 + w];
                        let want = ((c * 4 + h * 2 + by) * 6 + w * 2 + bx) as f32;
                        assert_eq!(got, want, "c{c} by{by} bx{bx} h{h} w{w}");
                    }
                }
            }
        }
    }
    let m = model(
        vec![
            node("SpaceToDepth", &["x"], &["t"], vec![attr_i("blocksize", 2)]),
            node("DepthToSpace", &["t"], &["y"], vec![attr_i("blocksize", 2)]),
        ],
        vec![],
        vec![vi("x", FLOAT, vec![dim_v(1), dim_v(2), dim_v(4), dim_v(6)])],
        vec![vi("y", FLOAT, vec![dim_v(1), dim_v(2), dim_v(4), dim_v(6)])],
    );
    let g = import_bytes(&m.encode_to_vec(), None, &ImportOptions::new()).expect("imports");
    let x: Vec<f32> = (0..48).map(|v| v as f32).collect();
    assert_eq!(run1(&g, x.clone(), vec![1, 2, 4, 6]), x);
}

#[test]
fn gather_of_a_run_time_value_at_constant_indices() {
    // The channel shuffle onnxruntime writes after YOLO's SpaceToDepth.
    let mut ix = tensor("ix", 7, &[5]);
    ix.int64_data = vec![2, 3, 0, -1, 1];
    let n = node("Gather", &["x", "ix"], &["y"], vec![attr_i("axis", 1)]);
    let y = run_movement(n, vec![ix], [1, 5, 2, 2], [1, 5, 2, 2]);
    for (k, c) in [2usize, 3, 0, 4, 1].into_iter().enumerate() {
        for p in 0..4 {
            assert_eq!(y[k * 4 + p], (c * 4 + p) as f32, "k{k}");
        }
    }
}

#[test]
fn conv_transpose_with_kernel_equal_to_stride() {
    // 1x2x2x2 input, 2 → 3 channels, kernel = stride = 2, with a bias:
    // y[co, 2i + a, 2j + b] = Σ_ci x[ci, i, j] · w[ci, co, a, b] + bias[co].
    let wv: Vec<f32> = (0..2 * 3 * 4).map(|v| (v as f32) * 0.5 - 3.0).collect();
    let mut w = tensor("w", FLOAT, &[2, 3, 2, 2]);
    w.float_data = wv.clone();
    let mut b = tensor("b", FLOAT, &[3]);
    b.float_data = vec![0.25, -1.0, 2.0];
    let n = node(
        "ConvTranspose",
        &["x", "w", "b"],
        &["y"],
        vec![AttributeProto {
            name: Some("strides".into()),
            r#type: Some(attribute_type::INTS),
            ints: vec![2, 2],
            ..Default::default()
        }],
    );
    let y = run_movement(n, vec![w, b], [1, 2, 2, 2], [1, 3, 4, 4]);
    let x: Vec<f32> = (0..8).map(|v| v as f32).collect();
    for co in 0..3 {
        for oy in 0..4 {
            for ox in 0..4 {
                let (i, a, j, bb) = (oy / 2, oy % 2, ox / 2, ox % 2);
                let mut want = [0.25f32, -1.0, 2.0][co];
                let mut acc = 0.0f32;
                for ci in 0..2 {
                    acc += x[(ci * 2 + i) * 2 + j] * wv[((ci * 3 + co) * 2 + a) * 2 + bb];
                }
                want += acc;
                let got = y[(co * 4 + oy) * 4 + ox];
                assert!(
                    (got - want).abs() < 1e-5,
                    "co{co} oy{oy} ox{ox}: {got} vs {want}"
                );
            }
        }
    }
}

#[test]
fn unsupported_nodes_are_listed_all_at_once() {
    let mut sc = tensor("s", FLOAT, &[1]);
    sc.float_data = vec![1.0];
    let mut ms = node("Foo", &["x"], &["a"], vec![]);
    ms.domain = Some("com.example".into());
    let m = model(
        vec![
            node("NonMaxSuppression", &["x"], &["b"], vec![]),
            ms,
            node("Relu", &["x"], &["c"], vec![]),
            node("NonMaxSuppression", &["c"], &["d"], vec![]),
        ],
        vec![sc],
        vec![vi("x", FLOAT, vec![dim_v(2)])],
        vec![vi("d", FLOAT, vec![dim_v(2)])],
    );
    let got = qcc_onnx::unsupported_nodes(&m);
    assert_eq!(
        got,
        vec![
            (
                "NonMaxSuppression".to_string(),
                vec![
                    "NonMaxSuppression_0".to_string(),
                    "NonMaxSuppression_0".to_string()
                ]
            ),
            ("com.example::Foo".to_string(), vec!["Foo_0".to_string()]),
        ]
    );
}

#[test]
fn expand_and_reductions_import() {
    // Expand [1, 2, 1, 3] to [2, 1, 4, 1] → [2, 2, 4, 3]; then ReduceSum
    // over axis 2 (opset 13: axes as an input) and GlobalMaxPool.
    let mut shape = tensor("shape", 7, &[4]);
    shape.int64_data = vec![2, 1, 4, 1];
    let mut axes = tensor("axes", 7, &[1]);
    axes.int64_data = vec![2];
    let m = model(
        vec![
            node("Expand", &["x", "shape"], &["e"], vec![]),
            node(
                "ReduceSum",
                &["e", "axes"],
                &["s"],
                vec![attr_i("keepdims", 0)],
            ),
            node("GlobalMaxPool", &["e"], &["y"], vec![]),
        ],
        vec![shape, axes],
        vec![vi("x", FLOAT, vec![dim_v(1), dim_v(2), dim_v(1), dim_v(3)])],
        vec![
            vi("s", FLOAT, vec![dim_v(2), dim_v(2), dim_v(3)]),
            vi("y", FLOAT, vec![dim_v(2), dim_v(2), dim_v(1), dim_v(1)]),
        ],
    );
    let g = import_bytes(&m.encode_to_vec(), None, &ImportOptions::new()).expect("imports");
    let x: Vec<f32> = vec![1.0, -2.0, 3.5, 0.5, 4.0, -1.0];
    let out = interp::run(&g, &[Tensor::f32(vec![1, 2, 1, 3], x.clone())]).expect("runs");
    assert_eq!(out[0].shape, vec![2, 2, 3]);
    let s = out[0].data.as_f32().unwrap();
    for b in 0..2 {
        for c in 0..2 {
            for w in 0..3 {
                assert_eq!(s[(b * 2 + c) * 3 + w], 4.0 * x[c * 3 + w]);
            }
        }
    }
    assert_eq!(out[1].data.as_f32().unwrap(), &[3.5, 4.0, 3.5, 4.0]);
}

#[test]
fn hostile_movement_nodes_are_errors_not_panics() {
    let x4 = || vi("x", FLOAT, vec![dim_v(1), dim_v(2), dim_v(4), dim_v(4)]);
    let y4 = || vi("y", FLOAT, vec![dim_v(1), dim_v(2), dim_v(4), dim_v(4)]);
    let ints = |name: &str, v: Vec<i64>| {
        let mut t = tensor(name, 7, &[v.len() as i64]);
        t.int64_data = v;
        t
    };
    let floats = |name: &str, v: Vec<f32>| {
        let mut t = tensor(name, FLOAT, &[v.len() as i64]);
        t.float_data = v;
        t
    };
    let cases: Vec<(&str, NodeProto, Vec<TensorProto>, &str)> = vec![
        (
            "Resize to nothing",
            node(
                "Resize",
                &["x", "", "sc"],
                &["y"],
                vec![
                    attr_s("coordinate_transformation_mode", "asymmetric"),
                    attr_s("nearest_mode", "floor"),
                ],
            ),
            vec![floats("sc", vec![1.0, 1.0, 0.1, 0.5])],
            "an output size of 0",
        ),
        (
            "huge Resize scale",
            node(
                "Resize",
                &["x", "", "sc"],
                &["y"],
                vec![
                    attr_s("coordinate_transformation_mode", "asymmetric"),
                    attr_s("nearest_mode", "floor"),
                ],
            ),
            vec![floats("sc", vec![1.0, 1.0, 1e9, 1.0])],
            "an output size of 4000000000",
        ),
        (
            "Resize scales of the wrong length",
            node(
                "Resize",
                &["x", "", "sc"],
                &["y"],
                vec![
                    attr_s("coordinate_transformation_mode", "asymmetric"),
                    attr_s("nearest_mode", "floor"),
                ],
            ),
            vec![floats("sc", vec![2.0, 2.0])],
            "values for 4 axes",
        ),
        (
            "Gather index out of range",
            node("Gather", &["x", "ix"], &["y"], vec![attr_i("axis", 1)]),
            vec![ints("ix", vec![0, 7])],
            "out of range",
        ),
        (
            "Gather axis out of range",
            node("Gather", &["x", "ix"], &["y"], vec![attr_i("axis", -9)]),
            vec![ints("ix", vec![0])],
            "axis",
        ),
        (
            "SpaceToDepth blocksize 0",
            node("SpaceToDepth", &["x"], &["y"], vec![attr_i("blocksize", 0)]),
            vec![],
            "blocksize",
        ),
        (
            "SpaceToDepth blocksize not dividing",
            node("SpaceToDepth", &["x"], &["y"], vec![attr_i("blocksize", 3)]),
            vec![],
            "multiples of the blocksize",
        ),
        (
            "DepthToSpace channels not dividing",
            node("DepthToSpace", &["x"], &["y"], vec![attr_i("blocksize", 2)]),
            vec![],
            "multiple of blocksize",
        ),
        (
            "Expand to an incompatible shape",
            node("Expand", &["x", "sh"], &["y"], vec![]),
            vec![ints("sh", vec![1, 3, 4, 4])],
            "cannot broadcast",
        ),
        (
            "Expand to a huge shape",
            node("Expand", &["x", "sh"], &["y"], vec![]),
            vec![ints("sh", vec![1 << 40, 2, 4, 4])],
            "cannot broadcast",
        ),
        (
            "ReduceMean axis out of range",
            node(
                "ReduceMean",
                &["x"],
                &["y"],
                vec![AttributeProto {
                    name: Some("axes".into()),
                    r#type: Some(attribute_type::INTS),
                    ints: vec![7],
                    ..Default::default()
                }],
            ),
            vec![],
            "out of range",
        ),
    ];
    for (what, n, inits, want) in cases {
        let m = model(vec![n], inits, vec![x4()], vec![y4()]);
        match import_bytes(&m.encode_to_vec(), None, &ImportOptions::new()) {
            Ok(_) => panic!("{what}: imported"),
            Err(e) => assert!(e.to_string().contains(want), "{what}: {e}"),
        }
    }
}

#[test]
fn hostile_logic_pad_and_recurrent_nodes_are_errors_not_panics() {
    let x4 = || vi("x", FLOAT, vec![dim_v(1), dim_v(2), dim_v(4), dim_v(4)]);
    let y4 = || vi("y", FLOAT, vec![dim_v(1), dim_v(2), dim_v(4), dim_v(4)]);
    let ints = |name: &str, v: Vec<i64>| {
        let mut t = tensor(name, 7, &[v.len() as i64]);
        t.int64_data = v;
        t
    };
    let floats = |name: &str, dims: &[i64]| {
        let n: i64 = dims.iter().product();
        let mut t = tensor(name, FLOAT, dims);
        t.float_data = vec![0.5; n as usize];
        t
    };
    let cases: Vec<(&str, NodeProto, Vec<TensorProto>, &str)> = vec![
        (
            "reflect Pad as wide as the dimension",
            node("Pad", &["x", "p"], &["y"], vec![attr_s("mode", "reflect")]),
            vec![ints("p", vec![0, 0, 4, 0, 0, 0, 0, 0])],
            "below the dimension",
        ),
        (
            "Pad with the wrong number of pads",
            node("Pad", &["x", "p"], &["y"], vec![]),
            vec![ints("p", vec![1, 1])],
            "values for 4 axes",
        ),
        (
            "Pad axis out of range",
            node("Pad", &["x", "p", "", "ax"], &["y"], vec![]),
            vec![ints("p", vec![1, 1]), ints("ax", vec![9])],
            "out of range",
        ),
        (
            "Pad mode unknown",
            node("Pad", &["x", "p"], &["y"], vec![attr_s("mode", "wrap")]),
            vec![ints("p", vec![0, 0, 1, 1, 0, 0, 1, 1])],
            "Pad mode",
        ),
        (
            "ConstantOfShape huge",
            node("ConstantOfShape", &["sh"], &["y"], vec![]),
            vec![ints("sh", vec![1 << 20, 1 << 20])],
            "2^28",
        ),
        (
            "ConstantOfShape negative",
            node("ConstantOfShape", &["sh"], &["y"], vec![]),
            vec![ints("sh", vec![2, -1])],
            "negative",
        ),
        (
            "If on a run-time condition",
            node("If", &["x"], &["y"], vec![]),
            vec![],
            "run-time condition",
        ),
        (
            "Where with a float condition",
            node("Where", &["x", "x", "x"], &["y"], vec![]),
            vec![],
            "u8",
        ),
        (
            "Equal of incompatible shapes",
            node("Equal", &["x", "c"], &["y"], vec![]),
            vec![floats("c", &[3])],
            "broadcast",
        ),
        (
            "LSTM on a 4-d input",
            node(
                "LSTM",
                &["x", "w", "r"],
                &["y"],
                vec![attr_i("hidden_size", 2)],
            ),
            vec![floats("w", &[1, 8, 4]), floats("r", &[1, 8, 2])],
            "[seq, batch, input]",
        ),
        (
            "LSTM without hidden_size",
            node("LSTM", &["x", "w", "r"], &["y"], vec![]),
            vec![floats("w", &[1, 8, 4]), floats("r", &[1, 8, 2])],
            "hidden_size",
        ),
    ];
    for (what, n, inits, want) in cases {
        let m = model(vec![n], inits, vec![x4()], vec![y4()]);
        match import_bytes(&m.encode_to_vec(), None, &ImportOptions::new()) {
            Ok(_) => panic!("{what}: imported"),
            Err(e) => assert!(e.to_string().contains(want), "{what}: {e}"),
        }
    }
    // An LSTM whose weights have the wrong shape, on a proper 3-d input.
    let x3 = vi("x", FLOAT, vec![dim_v(3), dim_v(1), dim_v(4)]);
    let n = node(
        "LSTM",
        &["x", "w", "r"],
        &["y"],
        vec![attr_i("hidden_size", 2)],
    );
    let m = model(
        vec![n],
        vec![floats("w", &[1, 8, 5]), floats("r", &[1, 8, 2])],
        vec![x3],
        vec![vi("y", FLOAT, vec![dim_v(3), dim_v(1), dim_v(1), dim_v(2)])],
    );
    let e = import_bytes(&m.encode_to_vec(), None, &ImportOptions::new()).unwrap_err();
    assert!(e.to_string().contains("must be [1, 8, 4]"), "{e}");
}

#[test]
fn split_cuts_an_axis_into_slices() {
    // x [1, 5, 2, 2] = 0, 1, 2, ...; split along the channels.
    let dims = |c: i64| vec![dim_v(1), dim_v(c), dim_v(2), dim_v(2)];
    let x: Vec<f32> = (0..20).map(|v| v as f32).collect();
    let mut sizes = tensor("s", 7, &[2]);
    sizes.int64_data = vec![2, 3];
    // opset 13: sizes from the input; opset 18: `num_outputs` (the last
    // part smaller).
    for (opset, n, inits) in [
        (
            13,
            node("Split", &["x", "s"], &["a", "b"], vec![attr_i("axis", 1)]),
            vec![sizes],
        ),
        (
            18,
            node(
                "Split",
                &["x"],
                &["b", "a"],
                vec![attr_i("axis", -3), attr_i("num_outputs", 2)],
            ),
            vec![],
        ),
    ] {
        let (first, second): (usize, usize) = if opset == 13 { (2, 3) } else { (3, 2) };
        let outs = if opset == 13 { ["a", "b"] } else { ["b", "a"] };
        let mut m = model(
            vec![n],
            inits,
            vec![vi("x", FLOAT, dims(5))],
            vec![
                vi(outs[0], FLOAT, dims(first as i64)),
                vi(outs[1], FLOAT, dims(second as i64)),
            ],
        );
        m.opset_import[0].version = Some(opset);
        let g = import_bytes(&m.encode_to_vec(), None, &ImportOptions::new()).expect("imports");
        let out = interp::run(&g, &[Tensor::f32(vec![1, 5, 2, 2], x.clone())]).expect("runs");
        assert_eq!(
            out[0].data.as_f32().unwrap(),
            &x[..first * 4],
            "opset {opset}"
        );
        assert_eq!(
            out[1].data.as_f32().unwrap(),
            &x[first * 4..],
            "opset {opset}"
        );
    }
}

#[test]
fn range_folds_on_constants() {
    let scalar = |name: &str, dt: i32, v: f64| {
        let mut t = tensor(name, dt, &[]);
        if dt == FLOAT {
            t.float_data = vec![v as f32];
        } else {
            t.int64_data = vec![v as i64];
        }
        t
    };
    // Range(1, 9, 3) = [1, 4, 7], added to x [3].
    for dt in [FLOAT, 7] {
        let mut inits = vec![
            scalar("a", dt, 1.0),
            scalar("b", dt, 9.0),
            scalar("d", dt, 3.0),
        ];
        let mut nodes = vec![node("Range", &["a", "b", "d"], &["r"], vec![])];
        if dt != FLOAT {
            nodes.push(node("Cast", &["r"], &["rf"], vec![attr_i("to", 1)]));
        } else {
            nodes.push(node("Identity", &["r"], &["rf"], vec![]));
        }
        nodes.push(node("Add", &["x", "rf"], &["y"], vec![]));
        let m = model(
            nodes,
            std::mem::take(&mut inits),
            vec![vi("x", FLOAT, vec![dim_v(3)])],
            vec![vi("y", FLOAT, vec![dim_v(3)])],
        );
        let g = import_bytes(&m.encode_to_vec(), None, &ImportOptions::new()).expect("imports");
        assert_eq!(
            run1(&g, vec![0.5; 3], vec![3]),
            vec![1.5, 4.5, 7.5],
            "type {dt}"
        );
    }
}

#[test]
fn hostile_split_and_range_are_errors_not_panics() {
    let x = || vi("x", FLOAT, vec![dim_v(1), dim_v(5), dim_v(2), dim_v(2)]);
    let y = |n: &str| vi(n, FLOAT, vec![dim_v(1), dim_v(2), dim_v(2), dim_v(2)]);
    let ints = |name: &str, v: Vec<i64>| {
        let mut t = tensor(name, 7, &[v.len() as i64]);
        t.int64_data = v;
        t
    };
    let scalar = |name: &str, v: i64| {
        let mut t = tensor(name, 7, &[]);
        t.int64_data = vec![v];
        t
    };
    let cases: Vec<(&str, NodeProto, Vec<TensorProto>, &str)> = vec![
        (
            "sizes that do not add up",
            node("Split", &["x", "s"], &["a", "b"], vec![attr_i("axis", 1)]),
            vec![ints("s", vec![2, 2])],
            "does not cut axis 1 of 5",
        ),
        (
            "a negative size",
            node("Split", &["x", "s"], &["a", "b"], vec![attr_i("axis", 1)]),
            vec![ints("s", vec![6, -1])],
            "does not cut",
        ),
        (
            "unequal parts without sizes",
            node("Split", &["x"], &["a", "b"], vec![attr_i("axis", 1)]),
            vec![],
            "equal parts",
        ),
        (
            "num_outputs against the outputs",
            node("Split", &["x"], &["a", "b"], vec![attr_i("num_outputs", 3)]),
            vec![],
            "num_outputs",
        ),
        (
            "axis out of range",
            node("Split", &["x"], &["a", "b"], vec![attr_i("axis", 7)]),
            vec![],
            "out of range",
        ),
        (
            "Range with delta 0",
            node("Range", &["a", "b", "d"], &["a"], vec![]),
            vec![scalar("a", 0), scalar("b", 4), scalar("d", 0)],
            "`delta` is 0",
        ),
        (
            "Range of 2^40 elements",
            node("Range", &["a", "b", "d"], &["a"], vec![]),
            vec![scalar("a", 0), scalar("b", 1 << 40), scalar("d", 1)],
            "a range of",
        ),
        (
            "Range of a vector",
            node("Range", &["a", "b", "d"], &["a"], vec![]),
            vec![ints("a", vec![0, 1]), scalar("b", 4), scalar("d", 1)],
            "scalar",
        ),
    ];
    for (what, n, inits, want) in cases {
        let m = model(vec![n], inits, vec![x()], vec![y("a"), y("b")]);
        match import_bytes(&m.encode_to_vec(), None, &ImportOptions::new()) {
            Ok(_) => panic!("{what}: imported"),
            Err(e) => assert!(e.to_string().contains(want), "{what}: {e}"),
        }
    }
}

#[test]
fn gather_at_matrix_and_run_time_indices() {
    // Constant indices of rank 2 on a run-time value: [1, 5, 2, 2] along
    // the channels at [[4, 0], [-1, 2]] → [1, 2, 2, 2, 2].
    let mut ix = tensor("ix", 7, &[2, 2]);
    ix.int64_data = vec![4, 0, -1, 2];
    let m = model(
        vec![node(
            "Gather",
            &["x", "ix"],
            &["y"],
            vec![attr_i("axis", 1)],
        )],
        vec![ix],
        vec![vi("x", FLOAT, vec![dim_v(1), dim_v(5), dim_v(2), dim_v(2)])],
        vec![vi(
            "y",
            FLOAT,
            vec![dim_v(1), dim_v(2), dim_v(2), dim_v(2), dim_v(2)],
        )],
    );
    let g = import_bytes(&m.encode_to_vec(), None, &ImportOptions::new()).expect("imports");
    let y = run1(&g, (0..20).map(|v| v as f32).collect(), vec![1, 5, 2, 2]);
    for (k, c) in [4usize, 0, 4, 2].into_iter().enumerate() {
        for p in 0..4 {
            assert_eq!(y[k * 4 + p], (c * 4 + p) as f32, "k{k}");
        }
    }
    // Run-time indices: a constant table looked up at Cast(x) (int32).
    let mut table = tensor("t", FLOAT, &[4, 2]);
    table.float_data = (0..8).map(|v| v as f32 * 10.0).collect();
    let m = model(
        vec![
            node("Cast", &["x"], &["i"], vec![attr_i("to", 6)]),
            node("Gather", &["t", "i"], &["y"], vec![]),
        ],
        vec![table],
        vec![vi("x", FLOAT, vec![dim_v(3)])],
        vec![vi("y", FLOAT, vec![dim_v(3), dim_v(2)])],
    );
    let g = import_bytes(&m.encode_to_vec(), None, &ImportOptions::new()).expect("imports");
    let y = run1(&g, vec![3.0, 0.0, -3.0], vec![3]);
    assert_eq!(y, vec![60.0, 70.0, 0.0, 10.0, 20.0, 30.0]);
}

#[test]
fn if_on_a_run_time_condition_selects_between_both_branches() {
    // y = sum(x) > 0 ? x · 2 : −x, on x [2, 3].
    let branch = |name: &str, n: NodeProto, out: &str| GraphProto {
        node: vec![n],
        name: Some(name.into()),
        output: vec![vi(out, FLOAT, vec![dim_v(2), dim_v(3)])],
        ..Default::default()
    };
    let mut two = tensor("two", FLOAT, &[]);
    two.float_data = vec![2.0];
    let mut zero = tensor("zero", FLOAT, &[]);
    zero.float_data = vec![0.0];
    let g_attr = |name: &str, g: GraphProto| AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_type::GRAPH),
        g: Some(g),
        ..Default::default()
    };
    let m = model(
        vec![
            node("ReduceSum", &["x"], &["s"], vec![attr_i("keepdims", 0)]),
            node("Greater", &["s", "zero"], &["c"], vec![]),
            node(
                "If",
                &["c"],
                &["y"],
                vec![
                    g_attr(
                        "then_branch",
                        branch("t", node("Mul", &["x", "two"], &["a"], vec![]), "a"),
                    ),
                    g_attr(
                        "else_branch",
                        branch("e", node("Neg", &["x"], &["b"], vec![]), "b"),
                    ),
                ],
            ),
        ],
        vec![two, zero],
        vec![vi("x", FLOAT, vec![dim_v(2), dim_v(3)])],
        vec![vi("y", FLOAT, vec![dim_v(2), dim_v(3)])],
    );
    let g = import_bytes(&m.encode_to_vec(), None, &ImportOptions::new()).expect("imports");
    let pos = vec![1.0, 2.0, -0.5, 0.0, 3.0, 1.0];
    assert_eq!(
        run1(&g, pos.clone(), vec![2, 3]),
        pos.iter().map(|v| v * 2.0).collect::<Vec<_>>()
    );
    let neg: Vec<f32> = pos.iter().map(|v| -v - 1.0).collect();
    assert_eq!(
        run1(&g, neg.clone(), vec![2, 3]),
        neg.iter().map(|v| -v).collect::<Vec<_>>()
    );
}

#[test]
fn gather_elements_at_run_time_indices() {
    // y[i][j] = t[idx[i][j]][j], t = [[0, 1], [10, 11], [20, 21]], idx =
    // Cast(x) (int32, −1 counts from the end).
    let mut table = tensor("t", FLOAT, &[3, 2]);
    table.float_data = vec![0.0, 1.0, 10.0, 11.0, 20.0, 21.0];
    let m = model(
        vec![
            node("Cast", &["x"], &["i"], vec![attr_i("to", 6)]),
            node(
                "GatherElements",
                &["t", "i"],
                &["y"],
                vec![attr_i("axis", 0)],
            ),
        ],
        vec![table],
        vec![vi("x", FLOAT, vec![dim_v(2), dim_v(2)])],
        vec![vi("y", FLOAT, vec![dim_v(2), dim_v(2)])],
    );
    let g = import_bytes(&m.encode_to_vec(), None, &ImportOptions::new()).expect("imports");
    let y = run1(&g, vec![2.0, 0.0, -1.0, 1.0], vec![2, 2]);
    assert_eq!(y, vec![20.0, 1.0, 20.0, 11.0]);
}

#[test]
fn hostile_matmul_nbits_nodes_are_errors_not_panics() {
    // x [1, 32] → MatMulNBits (N = 2, K = 32) → y [1, 2].
    let bytes = |name: &str, dims: &[i64], n: usize| {
        let mut t = tensor(name, UINT8, dims);
        t.raw_data = Some(vec![0x98; n]);
        t
    };
    let scales = |n: usize| {
        let mut t = tensor("s", FLOAT, &[n as i64]);
        t.float_data = vec![0.5; n];
        t
    };
    let attrs = |bits: i64, block: i64, level: i64| {
        vec![
            attr_i("K", 32),
            attr_i("N", 2),
            attr_i("bits", bits),
            attr_i("block_size", block),
            attr_i("accuracy_level", level),
        ]
    };
    let mk = |attrs: Vec<AttributeProto>, inits: Vec<TensorProto>, inputs: &[&str]| {
        let mut n = node("MatMulNBits", inputs, &["y"], attrs);
        n.domain = Some("com.microsoft".into());
        model(
            vec![n],
            inits,
            vec![vi("x", FLOAT, vec![dim_v(1), dim_v(32)])],
            vec![vi("y", FLOAT, vec![dim_v(1), dim_v(2)])],
        )
    };
    let good = || vec![bytes("b", &[2, 2, 8], 32), scales(4)];
    // The well-formed node imports, its weights a blocked u4 constant.
    let m = mk(attrs(4, 16, 0), good(), &["x", "b", "s"]);
    let g = import_bytes(&m.encode_to_vec(), None, &ImportOptions::new()).expect("imports");
    let y = run1(&g, vec![1.0; 32], vec![1, 32]);
    // Codes 8 and 9 alternate, zero point 8: (0 + 1) · 0.5 per pair, 16 pairs.
    assert_eq!(y, vec![8.0, 8.0]);
    // At accuracy_level 4 the activations are quantized per block: all ones
    // are code 127 at scale 1/127, so the integer sums 127 · 8 per block of
    // 16, times 0.5/127 each, make the same 8.
    let m = mk(attrs(4, 16, 4), good(), &["x", "b", "s"]);
    let g = import_bytes(&m.encode_to_vec(), None, &ImportOptions::new()).expect("imports");
    assert!(
        g.node_ids()
            .any(|v| matches!(g.node(v).op, qcc_ir::Op::DenseNbitsQ8))
    );
    let y = run1(&g, vec![1.0; 32], vec![1, 32]);
    assert!(y.iter().all(|v| (v - 8.0).abs() < 1e-5), "{y:?}");
    type Case<'a> = (
        &'a str,
        Vec<AttributeProto>,
        Vec<TensorProto>,
        &'a [&'a str],
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "3 bits",
            attrs(3, 16, 0),
            good(),
            &["x", "b", "s"],
            "bits = 3",
        ),
        (
            "block 8",
            attrs(4, 8, 0),
            good(),
            &["x", "b", "s"],
            "block_size = 8",
        ),
        (
            "block 24",
            attrs(4, 24, 0),
            good(),
            &["x", "b", "s"],
            "power of two",
        ),
        (
            "level 5",
            attrs(4, 16, 5),
            good(),
            &["x", "b", "s"],
            "accuracy_level = 5",
        ),
        (
            "short B",
            attrs(4, 16, 0),
            vec![bytes("b", &[2, 2, 7], 28), scales(4)],
            &["x", "b", "s"],
            "B must be uint8 [2, 2, 8]",
        ),
        (
            "too few scales",
            attrs(4, 16, 0),
            vec![bytes("b", &[2, 2, 8], 32), scales(3)],
            &["x", "b", "s"],
            "scales must be 4 floats",
        ),
        (
            "short zero points",
            attrs(4, 16, 0),
            vec![bytes("b", &[2, 2, 8], 32), scales(4), bytes("z", &[1], 1)],
            &["x", "b", "s", "z"],
            "zero_points must be 2 bytes",
        ),
        (
            "g_idx",
            attrs(4, 16, 0),
            vec![bytes("b", &[2, 2, 8], 32), scales(4), bytes("g", &[32], 32)],
            &["x", "b", "s", "", "g"],
            "g_idx",
        ),
        (
            "no scales",
            attrs(4, 16, 0),
            good(),
            &["x", "b"],
            "scales is missing",
        ),
    ];
    for (what, attrs, inits, inputs, want) in cases {
        let m = mk(attrs, inits, inputs);
        match import_bytes(&m.encode_to_vec(), None, &ImportOptions::new()) {
            Ok(_) => panic!("{what}: imported"),
            Err(e) => assert!(e.to_string().contains(want), "{what}: {e}"),
        }
    }
}

#[test]
fn cast_to_int64_of_a_run_time_value_is_kept_in_i32() {
    // Gather(t, Cast<int64>(x)): the indices stay i32 in qcc.
    let mut table = tensor("t", FLOAT, &[3]);
    table.float_data = vec![5.0, 6.0, 7.0];
    let m = model(
        vec![
            node("Cast", &["x"], &["i"], vec![attr_i("to", 7)]),
            node("Gather", &["t", "i"], &["y"], vec![]),
        ],
        vec![table],
        vec![vi("x", FLOAT, vec![dim_v(4)])],
        vec![vi("y", FLOAT, vec![dim_v(4)])],
    );
    let g = import_bytes(&m.encode_to_vec(), None, &ImportOptions::new()).expect("imports");
    assert_eq!(
        run1(&g, vec![2.9, 0.0, 1.5, -1.0], vec![4]),
        vec![7.0, 5.0, 6.0, 7.0]
    );
}

#[test]
fn an_int64_graph_input_is_taken_as_i32() {
    // Token ids as BERT-style models take them: Gather(table, ids: int64).
    let mut table = tensor("t", FLOAT, &[3, 2]);
    table.float_data = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let m = model(
        vec![node("Gather", &["t", "ids"], &["y"], vec![])],
        vec![table],
        vec![vi("ids", 7, vec![dim_v(1), dim_p("seq")])],
        vec![vi("y", FLOAT, vec![dim_v(1), dim_p("seq"), dim_v(2)])],
    );
    let mut opts = ImportOptions::new();
    opts.dims.insert("seq".into(), 3);
    let g = import_bytes(&m.encode_to_vec(), None, &opts).expect("imports");
    let ty = g.ty(g.inputs()[0]).clone();
    assert_eq!(ty.elem.storage(), qcc_ir::ScalarType::I32);
    assert_eq!(ty.shape, vec![1, 3]);
    // An int64 `.npy` file reads as i32 when its values fit, and names the
    // first value that does not.
    let npy = |vals: &[i64]| {
        let mut h = format!(
            "{{'descr': '<i8', 'fortran_order': False, 'shape': (1, {}), }}",
            vals.len()
        );
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend((h.len() as u16).to_le_bytes());
        b.extend(h.as_bytes());
        for v in vals {
            b.extend(v.to_le_bytes());
        }
        b
    };
    let t = qcc_ir::npy::read_bytes(&npy(&[2, 0, 1]), "ids.npy").expect("fits");
    let t = qcc_ir::npy::conform(t, &ty, "ids.npy").expect("conforms");
    let out = qcc_ir::interp::run(&g, &[t]).expect("runs");
    assert_eq!(
        out[0].data.as_f32().unwrap(),
        [5.0, 6.0, 1.0, 2.0, 3.0, 4.0]
    );
    let e = qcc_ir::npy::read_bytes(&npy(&[0, 1 << 40, 1]), "ids.npy").unwrap_err();
    assert!(e.to_string().contains("1099511627776 at index 1"), "{e}");
}
