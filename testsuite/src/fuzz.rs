//! The checks behind the fuzz targets (`fuzz/fuzz_targets/`) and their
//! regression tests (`tests/fuzz_regressions.rs`): each takes a fuzzer's
//! bytes and panics only on a bug in qcc (a panic inside qcc, a rejected
//! graph that qcc itself produced, a JIT result that differs from the
//! interpreter, a rewrite that changed a result beyond the bound of
//! `docs/semantics.md`). A clean error is a pass.
//!
//! - [`text`]: bytes as a graph file: parse, verify (default limits),
//!   render the diagnostics; a graph that loads prints, parses back equal,
//!   and, if small, [`exercise`]s.
//! - [`onnx_bytes`]: bytes as a `.onnx` file: decode, import; an imported
//!   graph must verify, and, if small, is exercised.
//! - [`onnx_mutate`]: the first byte picks a bundled model (ONNX backend
//!   node cases and the onnxruntime-quantized models under
//!   `onnx/testdata`), the rest is a program of mutations of its decoded
//!   protobuf (dims, types, raw data, attributes, node inputs and outputs,
//!   op types, graph inputs, opset); then import as in [`onnx_bytes`].
//! - [`npy`]: bytes as a `.npy` file: read, and conform to a few types.
//! - [`differential`]: bytes as the choices of the graph generators
//!   ([`crate::r#gen::build_graph`], [`crate::gen_qdq::build_qdq_graph`]):
//!   the JIT on one dot-product path equals the interpreter bit for bit,
//!   each exact pass keeps the interpreter's outputs bit for bit, the
//!   rewrites that may change a result change one-block QDQ graphs by at
//!   most one output step, and the default pipeline leaves a graph that
//!   runs and that the JIT computes bit for bit.

use crate::r#gen::{GenConfig, build_graph};
use crate::gen_qdq::build_qdq_graph;
use qcc_compiler::model::{CodegenError, CompileError as JitError, Compiler, TargetFeatures};
use qcc_compiler::onnx::proto::{self, ModelProto};
use qcc_compiler::onnx::{ImportOptions, import_model};
use qcc_compiler::{CompileOptions, LoadOptions, compile};
use qcc_ir::diag::render;
use qcc_ir::types::{ElemType, QuantType, ScalarType, TensorType};
use qcc_ir::{Graph, RequantMode, Tensor, TensorData, interp};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The largest value (in elements) of a graph that the checks execute:
/// bigger graphs are only loaded and verified, so that one input cannot
/// make a fuzzer spend seconds in the interpreter.
pub const MAX_RUN_ELEMENTS: usize = 1 << 12;

/// The most nodes of a graph that the checks execute.
pub const MAX_RUN_NODES: usize = 256;

/// True if `g` is small enough to execute in a fuzz iteration.
pub fn small(g: &Graph) -> bool {
    g.node_count() <= MAX_RUN_NODES
        && g.node_ids().all(|v| {
            g.ty(v)
                .num_elements()
                .is_some_and(|n| n <= MAX_RUN_ELEMENTS)
        })
}

/// Equal bit for bit, except that any NaN equals any NaN.
pub fn same_tensor(a: &Tensor, b: &Tensor) -> bool {
    if a.shape != b.shape {
        return false;
    }
    match (&a.data, &b.data) {
        (TensorData::F32(x), TensorData::F32(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(p, q)| p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan()))
        }
        _ => a == b,
    }
}

fn assert_same(want: &[Tensor], got: &[Tensor], what: &str, g: &Graph) {
    assert_eq!(want.len(), got.len(), "{what}: output count");
    for (i, (w, x)) in want.iter().zip(got).enumerate() {
        assert!(
            same_tensor(w, x),
            "{what}: output {i} differs\nwant {:?}\n got {:?}\ngraph:\n{}",
            w.data,
            x.data,
            qcc_ir::text::print(g)
        );
    }
}

/// The largest difference between two outputs: in codes for integer data;
/// for f32 data 0 if equal (NaN equals NaN), infinite otherwise.
pub fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.shape, b.shape);
    match (&a.data, &b.data) {
        (TensorData::F32(x), TensorData::F32(y)) => x
            .iter()
            .zip(y)
            .map(|(p, q)| {
                if p.is_nan() && q.is_nan() || p.to_bits() == q.to_bits() {
                    0.0
                } else {
                    f64::INFINITY
                }
            })
            .fold(0.0, f64::max),
        (x, y) => {
            let (x, y) = (x.to_i64s().unwrap(), y.to_i64s().unwrap());
            x.iter()
                .zip(&y)
                .map(|(p, q)| (p - q).abs() as f64)
                .fold(0.0, f64::max)
        }
    }
}

/// Runs the pass list `passes` (a bug if it fails: every pass must keep a
/// verified graph valid).
fn passes(g: &Graph, passes: &str, requant: RequantMode) -> Graph {
    let options = CompileOptions {
        passes: Some(passes.into()),
        requant,
        // The host's layouts: the JIT then reads packed weights.
        target: None,
        verify_each: true,
    };
    match compile(g.clone(), &options) {
        Ok(out) => out,
        Err(e) => panic!("{passes}: {e}\ngraph:\n{}", qcc_ir::text::print(g)),
    }
}

/// Compiles `g` as it is (no passes) on the host's dot-product path, or on
/// `path`: `None` if the code generator does not support one of its ops (a
/// clean refusal); any other failure is a bug.
fn jit(
    g: &Graph,
    path: Option<qcc_compiler::model::DotPath>,
) -> Option<qcc_compiler::model::CompiledModel> {
    let c = Compiler::new().run_passes(false);
    let c = match path {
        Some(p) => c.target_features(TargetFeatures::Force(p)),
        None => c,
    };
    match c.compile(g) {
        Ok(m) => Some(m),
        Err(JitError::Codegen(CodegenError::Unsupported { .. })) => None,
        Err(e) => panic!("the JIT fails: {e}\ngraph:\n{}", qcc_ir::text::print(g)),
    }
}

/// The JIT (on `path`, or the host's) computes what the interpreter
/// computed (`want`, on `inputs`), bit for bit.
fn jit_matches(
    g: &Graph,
    inputs: &[Tensor],
    want: &[Tensor],
    path: Option<qcc_compiler::model::DotPath>,
) {
    if let Some(m) = jit(g, path) {
        match m.run(inputs) {
            Ok(got) => assert_same(want, &got, &format!("JIT ({})", m.dot_path()), g),
            Err(e) => panic!(
                "the JIT refuses inputs the interpreter ran: {e}\ngraph:\n{}",
                qcc_ir::text::print(g)
            ),
        }
    }
}

/// Runs a verified graph that came from outside (a fuzzed file or model):
/// the default pipeline succeeds and, where the interpreter runs the
/// graph on deterministic inputs, the rewritten graph runs too and the JIT
/// computes the interpreter's results on both graphs. Only for [`small`]
/// graphs.
pub fn exercise(g: &Graph, seed: u64) {
    let inputs = qcc_compiler::random_inputs(g, seed);
    let want = interp::run(g, &inputs).ok();
    let after = passes(g, "default", RequantMode::Float);
    if let Some(want) = want {
        let after_out = match interp::run(&after, &inputs) {
            Ok(o) => o,
            Err(e) => panic!(
                "the graph runs but not after the passes: {e}\nbefore:\n{}\nafter:\n{}",
                qcc_ir::text::print(g),
                qcc_ir::text::print(&after)
            ),
        };
        jit_matches(g, &inputs, &want, None);
        jit_matches(&after, &inputs, &after_out, None);
    }
}

/// Target `parse_verify`: the bytes as a graph file.
pub fn text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let g = match qcc_compiler::load_str_with(&text, "fuzz.txt", None, &LoadOptions::default()) {
        Ok(g) => g,
        Err(e) => {
            let r = e.render();
            assert!(r.starts_with("error"), "a diagnostic renders oddly:\n{r}");
            return;
        }
    };
    // A graph that loads survives the text format.
    let printed = qcc_ir::text::print(&g);
    let back = match qcc_ir::text::parse(&printed, None) {
        Ok(b) => b,
        Err(d) => panic!(
            "the printed graph does not parse:\n{}\n{printed}",
            render(&d, "printed.txt", &printed)
        ),
    };
    assert!(back == g, "the round trip changed the graph:\n{printed}");
    assert_eq!(
        qcc_ir::text::print(&back),
        printed,
        "printing is not a fixed point"
    );
    if small(&g) {
        exercise(&g, data.len() as u64);
    }
}

/// Imports a decoded model; a graph that imports must verify and, if
/// small, is exercised.
fn import_and_run(model: &ModelProto, opts: &ImportOptions, seed: u64) {
    let g = match import_model(model, None, opts) {
        Ok(g) => g,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    if let Err(d) = qcc_ir::verify::verify(&g) {
        let printed = qcc_ir::text::print(&g);
        panic!(
            "an imported graph does not verify:\n{}\n{printed}",
            d.iter()
                .map(|d| d.message.clone())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    if small(&g) {
        exercise(&g, seed);
    }
}

/// Target `onnx_raw`: the bytes as a `.onnx` file.
pub fn onnx_bytes(data: &[u8]) {
    if let Ok(m) = qcc_compiler::onnx::decode_model(data) {
        import_and_run(&m, &ImportOptions::new().dim("N", 1), 0);
    }
}

/// A bundled model the structure-aware target starts from, with the
/// bindings of its scale and zero-point inputs (ONNX backend cases).
#[derive(Debug)]
pub struct SeedModel {
    pub name: String,
    pub model: ModelProto,
    pub bindings: Vec<(String, Tensor)>,
}

/// The folder of the ONNX test data.
pub fn onnx_testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../onnx/testdata")
}

/// Every bundled model, in a fixed order: `models/*.onnx`, then
/// `backend/*/model.onnx`.
pub fn seed_models() -> &'static [SeedModel] {
    static SEEDS: OnceLock<Vec<SeedModel>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let root = onnx_testdata();
        let mut paths = Vec::new();
        let mut models: Vec<PathBuf> = std::fs::read_dir(root.join("models"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        models.retain(|p| p.extension().is_some_and(|e| e == "onnx"));
        models.sort();
        paths.extend(models);
        let mut cases: Vec<PathBuf> = std::fs::read_dir(root.join("backend"))
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path().join("model.onnx")))
                    .collect()
            })
            .unwrap_or_default();
        cases.retain(|p| p.exists());
        cases.sort();
        paths.extend(cases);
        paths
            .iter()
            .filter_map(|p| {
                let model = qcc_compiler::onnx::read_model(p).ok()?;
                let dir = p.parent()?;
                let params = qcc_compiler::onnx::param_inputs(&model);
                let mut bindings = Vec::new();
                for (i, inp) in qcc_compiler::onnx::model_inputs(&model).iter().enumerate() {
                    if params.contains(&inp.name)
                        && let Ok(t) = qcc_ir::npy::read(&dir.join(format!("input_{i}.npy")))
                    {
                        bindings.push((inp.name.clone(), t));
                    }
                }
                let name = p.strip_prefix(&root).unwrap_or(p).display().to_string();
                Some(SeedModel {
                    name,
                    model,
                    bindings,
                })
            })
            .collect()
    })
}

/// The fuzzer's bytes read as a stream of small decisions; past the end
/// every read is 0.
struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bytes<'_> {
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// `0..n` (0 for n = 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            self.u8();
            0
        } else {
            self.u8() as usize % n
        }
    }

    /// A number a field might hold: the edges (0, ±1, 2^31, 2^32, 2^40,
    /// i64 extremes) and small values.
    fn int(&mut self) -> i64 {
        match self.u8() % 16 {
            0 => 0,
            1 => 1,
            2 => -1,
            3 => 2,
            4 => 3,
            5 => i32::MAX as i64,
            6 => 1 << 31,
            7 => 1 << 32,
            8 => 1 << 40,
            9 => i64::MAX,
            10 => i64::MIN,
            11 => -2,
            12 => 4096,
            13 => 65536,
            _ => self.u8() as i64,
        }
    }

    fn float(&mut self) -> f32 {
        match self.u8() % 12 {
            0 => 0.0,
            1 => -0.0,
            2 => 1.0,
            3 => -1.0,
            4 => f32::NAN,
            5 => f32::INFINITY,
            6 => f32::NEG_INFINITY,
            7 => f32::MIN_POSITIVE,
            8 => 1e-30,
            9 => 3e38,
            10 => 0.5,
            _ => self.u8() as f32 / 16.0,
        }
    }
}

const OP_TYPES: &[&str] = &[
    "Conv",
    "ConvInteger",
    "QLinearConv",
    "MatMul",
    "MatMulInteger",
    "QLinearMatMul",
    "Gemm",
    "QGemm",
    "Add",
    "QLinearAdd",
    "Mul",
    "Relu",
    "LeakyRelu",
    "QLinearLeakyRelu",
    "Clip",
    "MaxPool",
    "AveragePool",
    "QLinearAveragePool",
    "GlobalAveragePool",
    "QLinearGlobalAveragePool",
    "Flatten",
    "Reshape",
    "Transpose",
    "Concat",
    "QLinearConcat",
    "Softmax",
    "QuantizeLinear",
    "DequantizeLinear",
    "DynamicQuantizeLinear",
    "Cast",
    "Constant",
    "Identity",
    "Sigmoid",
];

const ATTR_NAMES: &[&str] = &[
    "axis",
    "group",
    "strides",
    "pads",
    "kernel_shape",
    "dilations",
    "transA",
    "transB",
    "alpha",
    "beta",
    "auto_pad",
    "perm",
    "keepdims",
    "to",
    "saturate",
    "block_size",
    "ceil_mode",
    "count_include_pad",
    "min",
    "max",
    "value",
    "output_dtype",
];

/// Every value name of the graph: inputs, initializers, node outputs.
fn value_names(g: &proto::GraphProto) -> Vec<String> {
    let mut v: Vec<String> = g.input.iter().filter_map(|i| i.name.clone()).collect();
    v.extend(g.initializer.iter().filter_map(|t| t.name.clone()));
    v.extend(g.node.iter().flat_map(|n| n.output.iter().cloned()));
    v
}

fn mutate_tensor(t: &mut proto::TensorProto, b: &mut Bytes) {
    match b.u8() % 8 {
        0 => {
            if t.dims.is_empty() {
                t.dims.push(b.int());
            } else {
                let i = b.below(t.dims.len());
                t.dims[i] = b.int();
            }
        }
        1 => {
            if b.u8().is_multiple_of(2) {
                t.dims.pop();
            } else {
                t.dims.push(b.int());
            }
        }
        2 => t.data_type = Some(b.u8() as i32 % 26),
        3 => {
            let raw = t.raw_data.get_or_insert_with(Vec::new);
            let n = match b.u8() % 4 {
                0 => 0,
                1 => raw.len() / 2,
                2 => raw.len() + 1 + b.below(8),
                _ => b.below(64),
            };
            raw.resize(n, b.u8());
        }
        4 => {
            if let Some(raw) = t.raw_data.as_mut().filter(|r| !r.is_empty()) {
                let i = b.below(raw.len());
                raw[i] = b.u8();
            }
        }
        5 => {
            // Move the data to a typed field (or give both).
            let n = b.below(6);
            match b.u8() % 4 {
                0 => t.float_data = (0..n).map(|_| b.float()).collect(),
                1 => t.int32_data = (0..n).map(|_| b.int() as i32).collect(),
                2 => t.int64_data = (0..n).map(|_| b.int()).collect(),
                _ => t.raw_data = None,
            }
        }
        6 => {
            // External data, which a model read from bytes cannot have.
            t.data_location = Some(proto::tensor_proto::EXTERNAL);
            let location = ["../x.bin", "/etc/passwd", "w.bin", ""][b.below(4)];
            t.external_data = vec![proto::StringStringEntryProto {
                key: Some("location".into()),
                value: Some(location.into()),
            }];
        }
        _ => {
            t.segment = Some(proto::tensor_proto::Segment {
                begin: Some(b.int()),
                end: Some(b.int()),
            })
        }
    }
}

fn mutate_attribute(a: &mut proto::AttributeProto, b: &mut Bytes) {
    match b.u8() % 7 {
        0 => a.i = Some(b.int()),
        1 => a.f = Some(b.float()),
        2 => {
            if a.ints.is_empty() || b.u8().is_multiple_of(4) {
                a.ints.push(b.int());
            } else {
                let i = b.below(a.ints.len());
                a.ints[i] = b.int();
            }
        }
        3 => {
            a.ints.pop();
        }
        4 => a.r#type = Some(b.u8() as i32 % 12),
        5 => {
            a.s = Some(
                ["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID", "", "bogus"][b.below(6)]
                    .as_bytes()
                    .to_vec(),
            )
        }
        _ => {
            if let Some(t) = a.t.as_mut() {
                mutate_tensor(t, b);
            } else {
                a.floats.push(b.float());
            }
        }
    }
}

/// Applies one mutation chosen by the bytes.
fn mutate(m: &mut ModelProto, b: &mut Bytes) {
    let Some(g) = m.graph.as_mut() else { return };
    match b.u8() % 14 {
        0 | 1 => {
            if !g.initializer.is_empty() {
                let i = b.below(g.initializer.len());
                mutate_tensor(&mut g.initializer[i], b);
            }
        }
        2 => {
            // A node input becomes another value, nothing, or an unknown name.
            let names = value_names(g);
            if !g.node.is_empty() {
                let n = b.below(g.node.len());
                let node = &mut g.node[n];
                let new = match b.u8() % 4 {
                    0 => String::new(),
                    1 => "no_such_value".into(),
                    _ if !names.is_empty() => names[b.below(names.len())].clone(),
                    _ => String::new(),
                };
                match b.u8() % 3 {
                    0 if !node.input.is_empty() => {
                        let i = b.below(node.input.len());
                        node.input[i] = new;
                    }
                    1 => node.input.push(new),
                    _ => {
                        node.input.pop();
                    }
                }
            }
        }
        3 | 4 => {
            if !g.node.is_empty() {
                let n = b.below(g.node.len());
                let node = &mut g.node[n];
                if node.attribute.is_empty() || b.u8().is_multiple_of(4) {
                    let name = ATTR_NAMES[b.below(ATTR_NAMES.len())];
                    node.attribute.push(proto::AttributeProto {
                        name: Some(name.into()),
                        r#type: Some(proto::attribute_type::INT),
                        i: Some(b.int()),
                        ..Default::default()
                    });
                } else {
                    let i = b.below(node.attribute.len());
                    mutate_attribute(&mut node.attribute[i], b);
                }
            }
        }
        5 => {
            if !g.node.is_empty() {
                let n = b.below(g.node.len());
                let node = &mut g.node[n];
                if !node.attribute.is_empty() {
                    let i = b.below(node.attribute.len());
                    node.attribute.remove(i);
                }
            }
        }
        6 => {
            if !g.node.is_empty() {
                let n = b.below(g.node.len());
                match b.u8() % 3 {
                    0 => {
                        g.node.remove(n);
                    }
                    1 => {
                        let dup = g.node[n].clone();
                        g.node.push(dup);
                    }
                    _ => {
                        let k = b.below(g.node.len());
                        g.node.swap(n, k);
                    }
                }
            }
        }
        7 => {
            if !g.node.is_empty() {
                let n = b.below(g.node.len());
                g.node[n].op_type = Some(OP_TYPES[b.below(OP_TYPES.len())].into());
            }
        }
        8 => {
            // A node output renamed: to an existing value, or a new name.
            let names = value_names(g);
            if !g.node.is_empty() {
                let n = b.below(g.node.len());
                let node = &mut g.node[n];
                let new = if names.is_empty() || b.u8().is_multiple_of(2) {
                    format!("fresh{}", b.u8())
                } else {
                    names[b.below(names.len())].clone()
                };
                if node.output.is_empty() {
                    node.output.push(new);
                } else {
                    let i = b.below(node.output.len());
                    node.output[i] = new;
                }
            }
        }
        9 | 10 => {
            // A graph input's or output's declared type.
            let list = if b.u8().is_multiple_of(3) {
                &mut g.output
            } else {
                &mut g.input
            };
            if list.is_empty() {
                return;
            }
            let i = b.below(list.len());
            let vi = &mut list[i];
            let Some(proto::TypeProto {
                value: Some(proto::type_proto::Value::TensorType(t)),
            }) = vi.r#type.as_mut()
            else {
                return;
            };
            match b.u8() % 4 {
                0 => t.elem_type = Some(b.u8() as i32 % 26),
                1 => {
                    if let Some(s) = t.shape.as_mut() {
                        s.dim.pop();
                    }
                }
                _ => {
                    use proto::tensor_shape_proto::{Dimension, dimension::Value};
                    let value = match b.u8() % 4 {
                        0 => None,
                        1 => Some(Value::DimParam(["N", "M", ""][b.below(3)].into())),
                        _ => Some(Value::DimValue(b.int())),
                    };
                    let s = t.shape.get_or_insert_with(Default::default);
                    if s.dim.is_empty() || b.u8().is_multiple_of(4) {
                        s.dim.push(Dimension { value });
                    } else {
                        let k = b.below(s.dim.len());
                        s.dim[k] = Dimension { value };
                    }
                }
            }
        }
        11 => {
            if !g.output.is_empty() {
                let i = b.below(g.output.len());
                match b.u8() % 3 {
                    0 => {
                        g.output.remove(i);
                    }
                    _ => {
                        let names = value_names(g);
                        if !names.is_empty() {
                            g.output[i].name = Some(names[b.below(names.len())].clone());
                        }
                    }
                }
            }
        }
        12 => {
            // Constant nodes' tensors.
            let consts: Vec<usize> = (0..g.node.len())
                .filter(|&n| g.node[n].attribute.iter().any(|a| a.t.is_some()))
                .collect();
            if !consts.is_empty() {
                let n = consts[b.below(consts.len())];
                if let Some(t) = g.node[n].attribute.iter_mut().find_map(|a| a.t.as_mut()) {
                    mutate_tensor(t, b);
                }
            }
        }
        _ => {
            let v = b.int();
            match m.opset_import.first_mut() {
                Some(o) => o.version = Some(v),
                None => m.opset_import.push(proto::OperatorSetIdProto {
                    domain: None,
                    version: Some(v),
                }),
            }
        }
    }
}

/// Target `onnx_mutate`: byte 0 picks a bundled model, byte 1 the size of
/// its symbolic dimension `N` and whether its parameter inputs are bound,
/// the rest is a program of mutations.
pub fn onnx_mutate(data: &[u8]) {
    let seeds = seed_models();
    if seeds.is_empty() || data.len() < 2 {
        return;
    }
    let seed = &seeds[data[0] as usize % seeds.len()];
    let mut m = seed.model.clone();
    let mut opts = ImportOptions::new().dim("N", 1 + (data[1] as usize & 3));
    if data[1] & 4 == 0 {
        for (name, t) in &seed.bindings {
            opts = opts.bind(name.clone(), t.clone());
        }
    }
    let mut b = Bytes { data, pos: 2 };
    let mut count = 0;
    while !b.done() && count < 64 {
        mutate(&mut m, &mut b);
        count += 1;
    }
    import_and_run(&m, &opts, data[1] as u64);
}

/// Target `npy`: the bytes as a `.npy` file, read, then conformed to a few
/// types of its shape.
pub fn npy(data: &[u8]) {
    let t = match qcc_ir::npy::read_bytes(data, "fuzz.npy") {
        Ok(t) => t,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert_eq!(
        t.len(),
        t.shape.iter().product::<usize>(),
        "data length and shape disagree"
    );
    let u8q = ElemType::quant(QuantType::per_tensor(ScalarType::U8, 0.5, 3));
    for elem in [
        ElemType::Scalar(ScalarType::F32),
        ElemType::Scalar(ScalarType::I32),
        u8q,
    ] {
        let ty = TensorType::new(t.shape.clone(), elem);
        if let Ok(c) = qcc_ir::npy::conform(t.clone(), &ty, "fuzz.npy") {
            // What conforms round-trips through the writer.
            let bytes = qcc_ir::npy::to_bytes(&c);
            let back = qcc_ir::npy::read_bytes(&bytes, "again.npy").expect("a written .npy reads");
            assert!(
                same_tensor(&back, &c),
                "the .npy round trip changed the tensor"
            );
        }
    }
}

/// The exact passes (`docs/semantics.md`, "What rewrites may change").
pub const EXACT_PASSES: &[&str] = &["fold-zero-points", "fold-constants", "cse", "dce"];

/// Every pass alone, then the default pipeline.
pub const ALL_PASSES: &[&str] = &[
    "lower-qdq",
    "fuse-requant",
    "fold-zero-points",
    "fold-constants",
    "cse",
    "dce",
    "default",
];

static COMPARED: AtomicU64 = AtomicU64::new(0);
static SKIPPED: AtomicU64 = AtomicU64::new(0);

/// How many graphs [`differential`] compared, and how many it skipped
/// because the interpreter refused the generated inputs, in this process.
pub fn differential_counts() -> (u64, u64) {
    (
        COMPARED.load(Ordering::Relaxed),
        SKIPPED.load(Ordering::Relaxed),
    )
}

fn count(compared: bool) {
    let (c, s) = if compared {
        (
            COMPARED.fetch_add(1, Ordering::Relaxed) + 1,
            SKIPPED.load(Ordering::Relaxed),
        )
    } else {
        (
            COMPARED.load(Ordering::Relaxed),
            SKIPPED.fetch_add(1, Ordering::Relaxed) + 1,
        )
    };
    let n = c + s;
    if std::env::var_os("QCC_FUZZ_COUNTS").is_some() && (n.is_power_of_two() || n % 100_000 == 0) {
        eprintln!("differential: {c} graphs compared with no mismatch, {s} skipped");
    }
}

/// Target `differential`: byte 0 picks the generator, the requantize mode
/// and the dot-product path, byte 1 the input seed; the rest are the
/// generator's choices (little-endian `u32`s).
pub fn differential(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let choices: Vec<u32> = data[2..]
        .chunks(4)
        .map(|c| {
            let mut b = [0u8; 4];
            b[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(b)
        })
        .collect();
    let paths = qcc_compiler::model::supported_paths();
    let path = paths[(data[0] >> 3) as usize % paths.len()];
    let seed = data[1] as u64;
    if data[0] & 1 == 0 {
        let g = build_graph(&choices, GenConfig::default());
        differential_general(&g, seed, path);
    } else {
        let mode = RequantMode::ALL[(data[0] >> 1) as usize % 3];
        let g = build_qdq_graph(&choices);
        differential_qdq(&g, seed, mode, path);
    }
}

fn generated_verifies(g: &Graph) {
    if let Err(d) = qcc_ir::verify::verify(g) {
        panic!(
            "a generated graph does not verify: {}\n{}",
            d.iter()
                .map(|d| d.message.clone())
                .collect::<Vec<_>>()
                .join("\n"),
            qcc_ir::text::print(g)
        );
    }
}

/// A random well-typed graph: JIT = interpreter; exact passes bit for bit;
/// the default pipeline's result runs and JIT = interpreter on it.
pub fn differential_general(g: &Graph, seed: u64, path: qcc_compiler::model::DotPath) {
    generated_verifies(g);
    let inputs = qcc_compiler::random_inputs(g, seed);
    let Ok(want) = interp::run(g, &inputs) else {
        count(false);
        return;
    };
    jit_matches(g, &inputs, &want, Some(path));
    for p in EXACT_PASSES {
        let after = passes(g, p, RequantMode::Float);
        let got = interp::run(&after, &inputs).unwrap_or_else(|e| {
            panic!("{p} broke the graph: {e}\n{}", qcc_ir::text::print(&after))
        });
        assert_same(&want, &got, &format!("the interpreter after {p}"), g);
    }
    let after = passes(g, "default", RequantMode::Float);
    let got = interp::run(&after, &inputs).unwrap_or_else(|e| {
        panic!(
            "the default pipeline broke the graph: {e}\nbefore:\n{}\nafter:\n{}",
            qcc_ir::text::print(g),
            qcc_ir::text::print(&after)
        )
    });
    jit_matches(&after, &inputs, &got, Some(path));
    count(true);
}

/// A one-block QDQ graph: every pass alone and the default pipeline keep
/// the output within one code (exact passes: bit for bit); JIT = interpreter
/// before and after the pipeline.
pub fn differential_qdq(
    g: &Graph,
    seed: u64,
    mode: RequantMode,
    path: qcc_compiler::model::DotPath,
) {
    generated_verifies(g);
    let inputs = qcc_compiler::random_inputs(g, seed);
    let Ok(want) = interp::run(g, &inputs) else {
        count(false);
        return;
    };
    jit_matches(g, &inputs, &want, Some(path));
    for p in ALL_PASSES {
        let after = passes(g, p, mode);
        let got = interp::run(&after, &inputs).unwrap_or_else(|e| {
            panic!(
                "{p} ({mode}) broke the graph: {e}\n{}",
                qcc_ir::text::print(&after)
            )
        });
        let bound = if EXACT_PASSES.contains(p) { 0.0 } else { 1.0 };
        for (a, b) in want.iter().zip(&got) {
            let d = max_diff(a, b);
            assert!(
                d <= bound,
                "{p} ({mode}): outputs differ by {d} (bound {bound})\nbefore:\n{}\nafter:\n{}",
                qcc_ir::text::print(g),
                qcc_ir::text::print(&after)
            );
        }
        if *p == "default" {
            jit_matches(&after, &inputs, &got, Some(path));
        }
    }
    count(true);
}
