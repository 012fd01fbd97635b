//! # ONNX import for qcc
//!
//! Decodes `.onnx` files (protobuf, through `prost`, with the message types
//! of the subset of `onnx.proto` qcc reads declared in [`proto`]) and builds
//! a verified qcc [`Graph`].
//!
//! Both forms onnxruntime writes for quantized models are read:
//!
//! - **QDQ**: `QuantizeLinear` / `DequantizeLinear` become qcc's `quantize` /
//!   `dequantize` (the scale and zero point become the quantized type's
//!   parameters, per tensor or per axis), and the float ops between them
//!   (`MatMul`, `Gemm`, `Conv`, `Add`, `Mul`, `Relu`, `Clip`, pools,
//!   `Reshape`, `Flatten`, `Transpose`, `Concat`, `Softmax`, `Identity`)
//!   become qcc's float ops. Then, unless [`ImportOptions::fuse_qdq`] is
//!   off, the groups onnxruntime fuses into integer kernels are replaced by
//!   the same integer ops as the QOperator form ([`fuse`]).
//! - **QOperator**: `QLinearMatMul`, `QLinearConv`, `QGemm` become
//!   `matmul_int` / `conv2d_int` followed by a `requantize` (float mode, the
//!   arithmetic of onnxruntime's kernels); `MatMulInteger` / `ConvInteger`
//!   give the i32 accumulator; `QLinearAdd` is `add_int` (`{ort = true}`,
//!   onnxruntime's arithmetic, for 8-bit values: `ImportOptions::ort_arith`);
//!   `QLinearGlobalAveragePool` / `QLinearAveragePool` are the quantized
//!   pools; `QLinearConcat` concatenates after rescaling operands with other
//!   parameters; `QLinearMul` goes through float.
//!
//! Scales and zero points known at import time (initializers, `Constant`s,
//! or graph inputs the caller binds to tensors with
//! [`ImportOptions::bindings`]) become the parameters of qcc's quantized
//! types. Where they are only known at run time — `DynamicQuantizeLinear`
//! and the graphs of onnxruntime's `quantize_dynamic`, `MatMulInteger` /
//! `ConvInteger` with run-time zero points, `QuantizeLinear` /
//! `DequantizeLinear` whose parameters are graph inputs — they become
//! operands of qcc's `dynamic_scale`, `dynamic_zero_point`, `quantize_dyn`,
//! `dequantize_dyn`, `matmul_int_dyn` and `conv2d_int_dyn`
//! (`convert/dynamic.rs`). The QOperator ops with static parameters
//! (`QLinearConv`, `QLinearMatMul`, ...) still need theirs at import time.
//! Symbolic dimensions are bound with [`ImportOptions::dims`] or by giving
//! whole input shapes.
//!
//! Anything qcc cannot express is an [`ImportError`] naming the node, the op
//! and the reason; nothing here panics on a malformed file.

#![forbid(unsafe_code)]

mod convert;
pub mod error;
pub mod export;
pub mod fuse;
pub mod proto;
pub mod tensor;

pub use error::ImportError;
pub use tensor::{DType, OnnxTensor};

use prost::Message;
use qcc_ir::{Graph, Tensor};
use std::collections::HashMap;
use std::path::Path;

/// How to import a model.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Sizes of symbolic dimensions (`N=64`).
    pub dims: HashMap<String, usize>,
    /// Whole shapes of graph inputs (for example taken from the `.npy`
    /// files given to `qcc run`); they override the declared shapes, whose
    /// fixed dimensions must agree.
    pub input_shapes: HashMap<String, Vec<usize>>,
    /// Graph inputs replaced by constants (`--bind a_scale=s.npy`): they are
    /// no longer inputs of the qcc graph. This is how models whose scales
    /// and zero points are graph inputs are specialized.
    pub bindings: HashMap<String, Tensor>,
    /// Apply onnxruntime's QDQ fusions ([`fuse::fuse_qdq`]) after import, so
    /// that QDQ models compute what onnxruntime computes (default: on). Off,
    /// the graph is the literal QDQ form: float ops between `dequantize` and
    /// `quantize`.
    pub fuse_qdq: bool,
    /// Import onnxruntime's contrib quantized ops with onnxruntime's own
    /// arithmetic where qcc has it as a dialect (default: on):
    /// `QLinearAdd`, and the `add_int` of a fused QDQ `Add`, become
    /// `add_int {ort = true}` when their operands and result are 8-bit
    /// (docs/semantics.md, "add_int"). Off, they use qcc's float formula
    /// (`add_int {mode = float}`), as before this option existed.
    pub ort_arith: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            dims: HashMap::new(),
            input_shapes: HashMap::new(),
            bindings: HashMap::new(),
            fuse_qdq: true,
            ort_arith: true,
        }
    }
}

impl ImportOptions {
    pub fn new() -> ImportOptions {
        ImportOptions::default()
    }

    /// Binds the symbolic dimension `name` to `size`.
    pub fn dim(mut self, name: impl Into<String>, size: usize) -> ImportOptions {
        self.dims.insert(name.into(), size);
        self
    }

    /// Binds the graph input `name` to a constant tensor.
    pub fn bind(mut self, name: impl Into<String>, t: Tensor) -> ImportOptions {
        self.bindings.insert(name.into(), t);
        self
    }

    /// Gives the shape of the graph input `name`.
    pub fn input_shape(mut self, name: impl Into<String>, shape: Vec<usize>) -> ImportOptions {
        self.input_shapes.insert(name.into(), shape);
        self
    }
}

/// Decodes the protobuf of a model.
pub fn decode_model(bytes: &[u8]) -> Result<proto::ModelProto, ImportError> {
    proto::ModelProto::decode(bytes).map_err(|e| ImportError::Decode(e.to_string()))
}

/// Reads and decodes a `.onnx` file.
pub fn read_model(path: &Path) -> Result<proto::ModelProto, ImportError> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode_model(&bytes)
}

/// Imports a `.onnx` file: external data files are read relative to its
/// folder. The graph passes `qcc_ir::verify::verify`.
pub fn import_file(path: &Path, opts: &ImportOptions) -> Result<Graph, ImportError> {
    let model = read_model(path)?;
    let dir = path.parent().map(|p| {
        if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        }
    });
    import_model(&model, dir, opts)
}

/// Imports a model from its bytes (no external data unless `base_dir` is
/// given).
pub fn import_bytes(
    bytes: &[u8],
    base_dir: Option<&Path>,
    opts: &ImportOptions,
) -> Result<Graph, ImportError> {
    import_model(&decode_model(bytes)?, base_dir, opts)
}

/// The default-domain opset a model imports (the newest listed).
pub fn opset_of(model: &proto::ModelProto) -> Option<i64> {
    model
        .opset_import
        .iter()
        .filter(|o| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx")))
        .filter_map(|o| o.version)
        .max()
}

/// The oldest default-domain opset qcc reads.
pub const MIN_OPSET: i64 = 7;

/// Imports a decoded model.
pub fn import_model(
    model: &proto::ModelProto,
    base_dir: Option<&Path>,
    opts: &ImportOptions,
) -> Result<Graph, ImportError> {
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| ImportError::Model("the model has no graph".into()))?;
    let opset = opset_of(model).unwrap_or(MIN_OPSET.max(21));
    if opset < MIN_OPSET {
        return Err(ImportError::Model(format!(
            "opset {opset} is older than the oldest qcc reads ({MIN_OPSET})"
        )));
    }
    let name = graph.name.clone().unwrap_or_default();
    let mut g = convert::Converter::new(&name, opset, opts, base_dir).convert(graph)?;
    if opts.fuse_qdq && fuse::fuse_qdq(&mut g, opts.ort_arith) > 0 {
        convert::verify_graph(&g)?;
    }
    Ok(g)
}

/// One input of a model as declared: name, ONNX element type and
/// dimensions (`Err(symbol)` for a symbolic one, `Err("")` for unknown).
#[derive(Clone, Debug, PartialEq)]
pub struct InputInfo {
    pub name: String,
    pub dtype: DType,
    pub dims: Vec<Result<usize, String>>,
}

/// The nodes of `model`'s main graph whose operator qcc does not import at
/// all, grouped by operator (`domain::op` for other domains) in the order
/// they first occur: `(operator, node names)`. Nodes of a supported operator
/// may still be refused for an attribute or a type; only an import says so.
pub fn unsupported_nodes(model: &proto::ModelProto) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let Some(g) = model.graph.as_ref() else {
        return out;
    };
    for (i, n) in g.node.iter().enumerate() {
        let op = n.op_type.clone().unwrap_or_default();
        let domain = n.domain.clone().unwrap_or_default();
        if convert::ops_is_registered(&domain, &op) {
            continue;
        }
        let key = if matches!(domain.as_str(), "" | "ai.onnx") {
            op
        } else {
            format!("{domain}::{op}")
        };
        let name = n
            .name
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| n.output.first().cloned())
            .unwrap_or_else(|| format!("#{i}"));
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, names)) => names.push(name),
            None => out.push((key, vec![name])),
        }
    }
    out
}

/// The graph inputs a caller must provide (initializers excluded).
pub fn model_inputs(model: &proto::ModelProto) -> Vec<InputInfo> {
    use proto::tensor_shape_proto::dimension::Value as D;
    let Some(g) = &model.graph else {
        return Vec::new();
    };
    let inits: std::collections::HashSet<&str> = g
        .initializer
        .iter()
        .filter_map(|t| t.name.as_deref())
        .collect();
    g.input
        .iter()
        .filter(|i| !inits.contains(i.name.as_deref().unwrap_or("")))
        .map(|i| {
            let tt = match i.r#type.as_ref().and_then(|t| t.value.as_ref()) {
                Some(proto::type_proto::Value::TensorType(t)) => Some(t),
                _ => None,
            };
            InputInfo {
                name: i.name.clone().unwrap_or_default(),
                dtype: DType::from_code(tt.and_then(|t| t.elem_type).unwrap_or(0)),
                dims: tt
                    .and_then(|t| t.shape.as_ref())
                    .map(|s| {
                        s.dim
                            .iter()
                            .map(|d| match &d.value {
                                Some(D::DimValue(v)) if *v >= 0 => Ok(*v as usize),
                                Some(D::DimParam(p)) => Err(p.clone()),
                                _ => Err(String::new()),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// Slots of quantization parameters (scales and zero points) per op.
fn param_slots(op: &str) -> &'static [usize] {
    match op {
        "QuantizeLinear" | "DequantizeLinear" => &[1, 2],
        "QLinearMatMul" | "QLinearConv" => &[1, 2, 4, 5, 6, 7],
        "MatMulInteger" | "ConvInteger" => &[2, 3],
        "QGemm" => &[1, 2, 4, 5, 7, 8],
        "QLinearAdd" | "QLinearMul" => &[1, 2, 4, 5, 6, 7],
        "QLinearGlobalAveragePool"
        | "QLinearAveragePool"
        | "QLinearLeakyRelu"
        | "QLinearSigmoid" => &[1, 2, 3, 4],
        // The weights and biases of recurrent layers are unrolled at import.
        "LSTM" | "GRU" => &[1, 2, 3],
        "DynamicQuantizeLSTM" => &[1, 2, 3, 8, 9, 10, 11],
        // Shape operands, constants once dims are bound.
        "Resize" => &[1, 2, 3],
        // (GatherElements: int64 indices from a graph input, which qcc can
        // only take as a constant.)
        "Upsample" | "Split" | "Reshape" | "Expand" | "GatherElements" => &[1],
        "Slice" => &[1, 2, 3, 4],
        "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" | "ReduceL1" | "ReduceL2"
        | "ReduceSumSquare" | "ReduceLogSum" | "ReduceLogSumExp" | "ReduceProd" => &[1],
        "Pad" => &[1, 2, 3],
        _ => &[],
    }
}

/// Graph inputs that feed a scale or zero-point slot: the inputs a caller
/// binds (with [`ImportOptions::bindings`]) to specialize the model. The
/// QOperator ops with static parameters need them bound; `QuantizeLinear`,
/// `DequantizeLinear`, `MatMulInteger` and `ConvInteger` also run with them
/// as run-time inputs.
pub fn param_inputs(model: &proto::ModelProto) -> Vec<String> {
    let inputs: Vec<String> = model_inputs(model).into_iter().map(|i| i.name).collect();
    let mut out = Vec::new();
    let Some(g) = &model.graph else {
        return out;
    };
    for n in &g.node {
        let op = n.op_type.as_deref().unwrap_or("");
        let mut slots: Vec<usize> = param_slots(op).to_vec();
        if op == "QLinearConcat" {
            slots = (0..n.input.len())
                .filter(|&i| i < 2 || !(i - 2).is_multiple_of(3))
                .collect();
        }
        for s in slots {
            if let Some(name) = n.input.get(s)
                && inputs.contains(name)
                && !out.contains(name)
            {
                out.push(name.clone());
            }
        }
    }
    out
}

/// The qcc name of an ONNX graph input or output (qcc names are letters,
/// digits, `_`, `.` and `$`; other characters become `_`). Inputs whose
/// names collide after that get a `_1`, `_2`... suffix in order.
pub fn qcc_name(onnx_name: &str) -> String {
    convert::sanitize_name(onnx_name)
}
