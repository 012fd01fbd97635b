//! # qcc-python: `import qcc`
//!
//! The Python binding of `qcc-compiler`, built by maturin (`pip install
//! ./python`). It adds no compiler logic of its own: [`compile`] loads a
//! model as the `qcc` command does (`load_model`, `load_str_with`,
//! `load_onnx_bytes`), runs the pass pipeline (`qcc_compiler::compile`) and
//! generates code for the result (`Compiler` with `run_passes(false)`, as
//! `qcc run` does); a [`Model`] keeps both the compiled graph (for the
//! interpreter and `emit`) and its machine code.
//!
//! What the binding owns is the conversion at the boundary: numpy arrays in
//! and out, every feed checked (names, dtypes, shapes) before anything runs,
//! errors as Python exceptions (`qcc.CompileError` with the CLI's rendered
//! text, `ValueError` / `TypeError` for bad feeds), and the GIL released
//! while a model runs.

use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyString, PyTuple};
use qcc_compiler::model::{CompiledModel, Compiler};
use qcc_compiler::{Backend, CompileOptions, ImportOptions, LayoutTarget, LoadError, LoadOptions};
use qcc_ir::{ElemType, Graph, ScalarType, Tensor, TensorData, TensorType};
use std::path::PathBuf;

pyo3::create_exception!(
    qcc,
    CompileError,
    pyo3::exceptions::PyException,
    "A model that could not be loaded or compiled. The message is the located, \
     rendered text the `qcc` command prints (`file:line:column` for text graphs)."
);

/// Both halves of a model are shared by the Python threads that run it.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<CompiledModel>();
    shared::<Graph>();
};

/// The numpy dtype name of a storage type. 4-bit types have no numpy dtype:
/// they are given and returned unpacked, one value per `int8` / `uint8`.
fn dtype_name(t: ScalarType) -> &'static str {
    match t {
        ScalarType::F32 => "float32",
        ScalarType::I32 => "int32",
        ScalarType::I16 => "int16",
        ScalarType::U16 => "uint16",
        ScalarType::I8 | ScalarType::I4 => "int8",
        ScalarType::U8 | ScalarType::U4 => "uint8",
    }
}

fn storage(ty: &TensorType) -> ScalarType {
    match &ty.elem {
        ElemType::Scalar(s) => *s,
        ElemType::Quant(q) => q.storage,
    }
}

/// A graph input or output: its name, numpy dtype, shape and quantization.
#[pyclass(frozen, module = "qcc", name = "TensorInfo")]
#[derive(Clone, Debug)]
struct TensorInfo {
    /// The tensor's name in the graph.
    #[pyo3(get)]
    name: String,
    /// The numpy dtype of its arrays (`"uint8"`, `"float32"`, ...).
    #[pyo3(get)]
    dtype: &'static str,
    /// qcc's storage type (`"u8"`, `"i4"`, `"f32"`, ...): 4-bit types are
    /// `int8` / `uint8` arrays whose values must fit in 4 bits.
    #[pyo3(get)]
    storage: &'static str,
    /// The values an integer input may hold, `(min, max)` inclusive (a
    /// quantized type's storage range, narrow or full), or None for float.
    #[pyo3(get)]
    range: Option<(i64, i64)>,
    shape: Vec<usize>,
    /// The quantization scale: a float (per tensor), a list of floats (per
    /// axis), or None for an unquantized tensor.
    #[pyo3(get)]
    scale: Option<Scales>,
    /// The zero point: an int, a list of ints (per axis), or None.
    #[pyo3(get)]
    zero_point: Option<ZeroPoints>,
    /// The quantized axis of a per-axis type, else None.
    #[pyo3(get)]
    axis: Option<usize>,
}

#[derive(Clone, Debug, IntoPyObject)]
enum Scales {
    One(f32),
    PerAxis(Vec<f32>),
}

#[derive(Clone, Debug, IntoPyObject)]
enum ZeroPoints {
    One(i64),
    PerAxis(Vec<i64>),
}

impl TensorInfo {
    fn new(name: String, ty: &TensorType) -> TensorInfo {
        let (scale, zero_point, axis) = match &ty.elem {
            ElemType::Scalar(_) => (None, None, None),
            ElemType::Quant(q) => match q.axis {
                None => (
                    q.scales.first().map(|&s| Scales::One(s)),
                    q.zero_points.first().map(|&z| ZeroPoints::One(z)),
                    None,
                ),
                Some(a) => (
                    Some(Scales::PerAxis(q.scales.clone())),
                    Some(ZeroPoints::PerAxis(q.zero_points.clone())),
                    Some(a),
                ),
            },
        };
        TensorInfo {
            name,
            dtype: dtype_name(storage(ty)),
            storage: storage(ty).name(),
            range: ty.elem.int_range(),
            shape: ty.shape.clone(),
            scale,
            zero_point,
            axis,
        }
    }
}

#[pymethods]
impl TensorInfo {
    /// The shape, as a tuple of ints.
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.shape)
    }

    fn __repr__(&self) -> String {
        let mut s = format!(
            "TensorInfo(name={:?}, dtype={:?}, shape={:?}",
            self.name, self.dtype, self.shape
        );
        match (&self.scale, &self.zero_point) {
            (Some(Scales::One(sc)), Some(ZeroPoints::One(z))) => {
                s.push_str(&format!(", scale={sc}, zero_point={z}"));
            }
            (Some(Scales::PerAxis(sc)), Some(ZeroPoints::PerAxis(_))) => {
                s.push_str(&format!(
                    ", axis={}, {} scales",
                    self.axis.unwrap_or_default(),
                    sc.len()
                ));
            }
            _ => {}
        }
        s.push(')');
        s
    }
}

/// A compiled model: the graph after the pass pipeline and its machine
/// code. Run it from as many Python threads as you like: the GIL is
/// released while it runs.
#[pyclass(frozen, module = "qcc", name = "Model")]
#[derive(Debug)]
struct Model {
    /// The graph after the pass pipeline: what the code runs, what the
    /// interpreter runs and what `emit` shows.
    graph: Graph,
    code: CompiledModel,
    threads: usize,
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
}

impl Model {
    /// The feeds as tensors in the graph's input order, every name, dtype
    /// and shape checked first.
    fn tensors(&self, feeds: &Bound<'_, PyAny>) -> PyResult<Vec<Tensor>> {
        let feeds = feeds.cast::<PyDict>().map_err(|_| {
            PyTypeError::new_err(format!(
                "feeds must be a dict of input name -> numpy.ndarray, got {}",
                type_name(feeds)
            ))
        })?;
        let names: Vec<&str> = self.inputs.iter().map(|i| i.name.as_str()).collect();
        for key in feeds.keys() {
            let key: String = key.extract().map_err(|_| {
                PyTypeError::new_err(format!("feed names must be str, got {}", type_name(&key)))
            })?;
            if !names.contains(&key.as_str()) {
                return Err(PyValueError::new_err(format!(
                    "the model has no input `{key}` (its inputs: {})",
                    quoted(&names)
                )));
            }
        }
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !matches!(feeds.contains(n), Ok(true)))
            .collect();
        if !missing.is_empty() {
            return Err(PyValueError::new_err(format!(
                "missing inputs: {} (the model's inputs: {})",
                quoted(&missing),
                quoted(&names)
            )));
        }
        let mut tensors = Vec::with_capacity(self.inputs.len());
        for (info, &v) in self.inputs.iter().zip(self.graph.inputs()) {
            let value = feeds
                .get_item(&info.name)?
                .ok_or_else(|| PyValueError::new_err(format!("missing input `{}`", info.name)))?;
            tensors.push(to_tensor(&value, info, storage(self.graph.ty(v)))?);
        }
        Ok(tensors)
    }

    fn arrays<'py>(&self, py: Python<'py>, outs: Vec<Tensor>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (info, t) in self.outputs.iter().zip(outs) {
            dict.set_item(&info.name, to_array(py, t)?)?;
        }
        Ok(dict)
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Copies the elements of an array of dtype `T` in row-major order.
fn elements<T: numpy::Element + Copy>(
    value: &Bound<'_, PyAny>,
    info: &TensorInfo,
    actual: &str,
) -> PyResult<Vec<T>> {
    let array = value.cast::<PyArrayDyn<T>>().map_err(|_| {
        PyValueError::new_err(format!(
            "input `{}`: dtype {actual}, expected {}",
            info.name, info.dtype
        ))
    })?;
    let ro = array.try_readonly().map_err(|e| {
        PyValueError::new_err(format!("input `{}`: cannot read the array: {e}", info.name))
    })?;
    Ok(ro.as_array().iter().copied().collect())
}

/// One feed as a tensor of storage type `ty`, or a `TypeError` (not an
/// array) / `ValueError` (wrong dtype, shape or value range).
fn to_tensor(value: &Bound<'_, PyAny>, info: &TensorInfo, ty: ScalarType) -> PyResult<Tensor> {
    let untyped = value.cast::<PyUntypedArray>().map_err(|_| {
        PyTypeError::new_err(format!(
            "input `{}`: expected a numpy.ndarray of dtype {}, got {}",
            info.name,
            info.dtype,
            type_name(value)
        ))
    })?;
    let actual = untyped.dtype().to_string();
    // qcc keeps 64-bit integers (an ONNX model's int64 token ids) in i32:
    // an int64 array feeds an int32 input when every value fits.
    let int64_ids = actual == "int64" && ty == ScalarType::I32;
    if actual != info.dtype && !int64_ids {
        return Err(PyValueError::new_err(format!(
            "input `{}`: dtype {actual}, expected {}",
            info.name, info.dtype
        )));
    }
    if untyped.shape() != info.shape.as_slice() {
        return Err(PyValueError::new_err(format!(
            "input `{}`: shape {:?}, expected {:?}",
            info.name,
            untyped.shape(),
            info.shape
        )));
    }
    let data = match ty {
        ScalarType::F32 => TensorData::F32(elements(value, info, &actual)?),
        ScalarType::I32 if int64_ids => {
            let wide: Vec<i64> = elements(value, info, &actual)?;
            let mut narrow = Vec::with_capacity(wide.len());
            for (i, v) in wide.into_iter().enumerate() {
                narrow.push(i32::try_from(v).map_err(|_| {
                    PyValueError::new_err(format!(
                        "input `{}`: int64 value {v} at index {i} does not fit in int32",
                        info.name
                    ))
                })?);
            }
            TensorData::I32(narrow)
        }
        ScalarType::I32 => TensorData::I32(elements(value, info, &actual)?),
        ScalarType::I16 => TensorData::I16(elements(value, info, &actual)?),
        ScalarType::U16 => TensorData::U16(elements(value, info, &actual)?),
        ScalarType::I8 => TensorData::I8(elements(value, info, &actual)?),
        ScalarType::U8 => TensorData::U8(elements(value, info, &actual)?),
        ScalarType::I4 => {
            let v: Vec<i64> = elements::<i8>(value, info, &actual)?
                .into_iter()
                .map(i64::from)
                .collect();
            four_bit(ty, &v, info)?
        }
        ScalarType::U4 => {
            let v: Vec<i64> = elements::<u8>(value, info, &actual)?
                .into_iter()
                .map(i64::from)
                .collect();
            four_bit(ty, &v, info)?
        }
    };
    Ok(Tensor {
        shape: info.shape.clone(),
        data,
    })
}

fn four_bit(ty: ScalarType, v: &[i64], info: &TensorInfo) -> PyResult<TensorData> {
    TensorData::from_i64s(ty, v)
        .map_err(|e| PyValueError::new_err(format!("input `{}`: {e}", info.name)))
}

fn array_of<'py, T: numpy::Element>(
    py: Python<'py>,
    data: Vec<T>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyAny>> {
    Ok(PyArray1::from_vec(py, data)
        .reshape(shape.to_vec())?
        .into_any())
}

/// A tensor as a new numpy array (4-bit values unpacked to int8 / uint8).
fn to_array<'py>(py: Python<'py>, t: Tensor) -> PyResult<Bound<'py, PyAny>> {
    let shape = t.shape;
    match t.data {
        TensorData::F32(v) => array_of(py, v, &shape),
        TensorData::I32(v) => array_of(py, v, &shape),
        TensorData::I16(v) => array_of(py, v, &shape),
        TensorData::U16(v) => array_of(py, v, &shape),
        TensorData::I8(v) => array_of(py, v, &shape),
        TensorData::U8(v) => array_of(py, v, &shape),
        d @ (TensorData::I4(_) | TensorData::U4(_)) => {
            let v = d.to_i64s().unwrap_or_default();
            if matches!(d, TensorData::I4(_)) {
                array_of(py, v.iter().map(|&x| x as i8).collect(), &shape)
            } else {
                array_of(py, v.iter().map(|&x| x as u8).collect(), &shape)
            }
        }
    }
}

/// The model argument of `compile`, sorted out.
enum Source {
    Path(PathBuf),
    Text(String),
    Onnx(Vec<u8>),
}

fn source_of(model: &Bound<'_, PyAny>) -> PyResult<Source> {
    let bytes = if let Ok(b) = model.cast::<PyBytes>() {
        Some(b.as_bytes().to_vec())
    } else if let Ok(b) = model.cast::<PyByteArray>() {
        Some(b.to_vec())
    } else {
        None
    };
    if let Some(bytes) = bytes {
        // A text graph starts with text (a comment or `graph`); an ONNX
        // ModelProto with a tag byte (field 1, `ir_version`, is 0x08).
        let text = std::str::from_utf8(&bytes).ok().filter(|t| {
            t.chars()
                .find(|c| !c.is_whitespace())
                .is_some_and(|c| !c.is_control())
        });
        return Ok(match text {
            Some(t) => Source::Text(t.to_string()),
            None => Source::Onnx(bytes),
        });
    }
    if let Ok(s) = model.cast::<PyString>() {
        let s: String = s.extract()?;
        if s.contains('\n') {
            return Ok(Source::Text(s));
        }
    }
    model.extract::<PathBuf>().map(Source::Path).map_err(|_| {
        PyTypeError::new_err(format!(
            "compile() takes a path (str or os.PathLike), the text of a graph (str) \
             or a model's bytes, got {}",
            type_name(model)
        ))
    })
}

/// `dims` and `passes` as the CLI's `--dim` and `--passes` take them.
fn import_options(dims: Option<&Bound<'_, PyDict>>) -> PyResult<ImportOptions> {
    let mut o = ImportOptions::default();
    for (k, v) in dims.into_iter().flat_map(|d| d.iter()) {
        let name: String = k
            .extract()
            .map_err(|_| PyTypeError::new_err("dims: names must be str"))?;
        let n: usize = v.extract().ok().filter(|&n: &usize| n > 0).ok_or_else(|| {
            PyValueError::new_err(format!("dims[{name:?}]: expected an int >= 1"))
        })?;
        o.dims.insert(name, n);
    }
    Ok(o)
}

fn pass_list(passes: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
    let Some(p) = passes else { return Ok(None) };
    if let Ok(s) = p.extract::<String>() {
        return Ok(Some(s));
    }
    p.extract::<Vec<String>>()
        .map(|v| Some(v.join(",")))
        .map_err(|_| {
            PyTypeError::new_err(format!(
                "passes must be None, a str (comma-separated) or a list of str, got {}",
                type_name(p)
            ))
        })
}

fn layout_target(target: &str) -> PyResult<Option<LayoutTarget>> {
    match target {
        "host" => Ok(None),
        "portable" => Ok(Some(LayoutTarget::Portable)),
        "vnni" => Ok(Some(LayoutTarget::Vnni)),
        "amx" => Ok(Some(LayoutTarget::Amx)),
        t => Err(PyValueError::new_err(format!(
            "unknown target {t:?}; expected \"host\", \"portable\", \"vnni\" or \"amx\""
        ))),
    }
}

fn load_error(e: LoadError) -> PyErr {
    CompileError::new_err(e.render())
}

/// Compile a model for this machine.
///
/// `model` is the path of an ONNX model (ending in `.onnx`) or of a qcc
/// text graph, the bytes of an ONNX model, or the text of a graph (a str
/// with a newline, or bytes of UTF-8 text). `dims` gives the sizes of an
/// ONNX model's symbolic dimensions (`{"N": 1}`, the CLI's `--dim N=1`).
/// `target` is the weight layout the passes pack for (`"host"`,
/// `"portable"`, `"vnni"`, `"amx"`: the CLI's `--target`); `threads` how
/// many threads one run may use; `passes` the pass pipeline (None: the
/// default; a list of pass names or a comma-separated str: the CLI's
/// `--passes`).
///
/// Raises `qcc.CompileError` with the message the `qcc` command prints.
#[pyfunction]
#[pyo3(signature = (model, *, dims=None, target="host", threads=1, passes=None))]
fn compile(
    py: Python<'_>,
    model: &Bound<'_, PyAny>,
    dims: Option<&Bound<'_, PyDict>>,
    target: &str,
    threads: usize,
    passes: Option<&Bound<'_, PyAny>>,
) -> PyResult<Model> {
    let source = source_of(model)?;
    let onnx = import_options(dims)?;
    let options = CompileOptions {
        passes: pass_list(passes)?,
        target: layout_target(target)?,
        ..CompileOptions::default()
    };
    if threads == 0 {
        return Err(PyValueError::new_err("threads must be at least 1"));
    }
    let load = LoadOptions::default();
    py.detach(move || {
        let (graph, name) = match &source {
            Source::Path(p) => (
                qcc_compiler::load_model(p, &load, &onnx).map_err(load_error)?,
                p.display().to_string(),
            ),
            Source::Text(t) => (
                qcc_compiler::load_str_with(t, "<string>", None, &load).map_err(load_error)?,
                "<string>".to_string(),
            ),
            Source::Onnx(b) => (
                qcc_compiler::load_onnx_bytes(b, "<bytes>", None, &load, &onnx)
                    .map_err(load_error)?,
                "<bytes>".to_string(),
            ),
        };
        let graph = qcc_compiler::compile(graph, &options)
            .map_err(|e| CompileError::new_err(format!("error: {name}: {e}\n")))?;
        let code = Compiler::new()
            .run_passes(false)
            .threads(threads)
            .compile(&graph)
            .map_err(|e| CompileError::new_err(format!("error: {e}\n")))?;
        let inputs = graph
            .inputs()
            .iter()
            .map(|&v| TensorInfo::new(graph.node(v).name.clone().unwrap_or_default(), graph.ty(v)))
            .collect();
        let outputs = graph
            .outputs()
            .iter()
            .map(|o| TensorInfo::new(o.name.clone(), graph.ty(o.value)))
            .collect();
        Ok(Model {
            graph,
            code,
            threads,
            inputs,
            outputs,
        })
    })
}

#[pymethods]
impl Model {
    /// The graph's inputs, in order (`TensorInfo`: name, dtype, shape,
    /// scale, zero_point, axis).
    #[getter]
    fn inputs(&self) -> Vec<TensorInfo> {
        self.inputs.clone()
    }

    /// The graph's outputs, in order.
    #[getter]
    fn outputs(&self) -> Vec<TensorInfo> {
        self.outputs.clone()
    }

    /// Run the compiled code: `feeds` maps every input name to a numpy array
    /// of its dtype and shape; returns a dict of output name -> new array.
    /// Bad feeds raise ValueError (names, dtypes, shapes, values outside a
    /// narrow storage range) or TypeError (not a dict, not an array). The
    /// GIL is released while the model runs.
    fn run<'py>(&self, py: Python<'py>, feeds: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        let inputs = self.tensors(feeds)?;
        self.code
            .check_inputs(&inputs)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let outs = py
            .detach(|| self.code.run(&inputs))
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        self.arrays(py, outs)
    }

    /// `run` through the reference interpreter (the specification) on the
    /// same compiled graph: the two agree bit for bit.
    fn run_interpreter<'py>(
        &self,
        py: Python<'py>,
        feeds: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let inputs = self.tensors(feeds)?;
        let outs = py
            .detach(|| qcc_compiler::run(&self.graph, &inputs, Backend::Interp))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        self.arrays(py, outs)
    }

    /// The compiled model as text, as `qcc compile --emit KIND` prints it:
    /// `"graph"` (the graph after the passes, in qcc's text format),
    /// `"dot"` (a Graphviz picture, fused epilogues drawn inside their
    /// GEMM), `"clif"` (Cranelift IR per op) or `"asm"` (disassembly).
    fn emit(&self, py: Python<'_>, kind: &str) -> PyResult<String> {
        match kind {
            "graph" => Ok(qcc_ir::text::print(&self.graph)),
            "dot" => {
                let options = qcc_ir::dot::DotOptions {
                    title: Some(format!("@{} (compiled)", self.graph.name)),
                    fused: self.code.fused_groups().to_vec(),
                };
                Ok(qcc_ir::dot::to_dot(&self.graph, &options))
            }
            "clif" | "asm" => py.detach(|| {
                let m = Compiler::new()
                    .run_passes(false)
                    .threads(self.threads)
                    .keep_text(true)
                    .compile(&self.graph)
                    .map_err(|e| CompileError::new_err(format!("error: {e}\n")))?;
                let mut text = String::new();
                for oc in m.op_code() {
                    let body = if kind == "clif" { &oc.clif } else { &oc.asm };
                    text.push_str(&format!("// ---- {} ----\n{}\n", oc.node, body.trim_end()));
                }
                Ok(text)
            }),
            k => Err(PyValueError::new_err(format!(
                "unknown kind {k:?}; expected \"graph\", \"dot\", \"clif\" or \"asm\""
            ))),
        }
    }

    fn __repr__(&self) -> String {
        let names = |v: &[TensorInfo]| v.iter().map(|i| i.name.clone()).collect::<Vec<_>>();
        format!(
            "Model(@{}, inputs={:?}, outputs={:?}, dot_path={:?}, threads={})",
            self.graph.name,
            names(&self.inputs),
            names(&self.outputs),
            self.code.dot_path().name(),
            self.threads
        )
    }
}

/// qcc: a compiler for quantized neural-network graphs.
///
/// `qcc.compile(path_or_bytes)` loads an ONNX model or a qcc text graph and
/// compiles it; `Model.run(feeds)` runs it on numpy arrays.
#[pymodule]
fn qcc(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(compile, m)?)?;
    m.add_class::<Model>()?;
    m.add_class::<TensorInfo>()?;
    m.add("CompileError", m.py().get_type::<CompileError>())?;
    Ok(())
}
