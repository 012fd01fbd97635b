//! Conversion of a decoded ONNX graph into a qcc [`Graph`].
//!
//! The value model: every ONNX value name maps to a [`Val`], either a
//! constant known at import time (initializers, `Constant` nodes, inputs the
//! caller bound, and values folded from them) or a qcc value. Constants are
//! added to the qcc graph only when an op needs them as operands, with the
//! type that op wants (a quantized weight gets its scales and zero points as
//! type parameters).
//!
//! Integer ONNX tensors are quantized tensors in qcc: their scale and zero
//! point live in the type. An integer graph input starts with the "raw" type
//! (scale 1, zero point 0) and takes the parameters of the first op that
//! reads it (a `DequantizeLinear`, or a QOperator op's `x_scale`); after that
//! its type is fixed.
//!
//! Shapes are static: graph inputs get theirs from the model, with symbolic
//! dimensions bound by the caller ([`crate::ImportOptions`]), and every other
//! shape follows from the ops.

use crate::ImportOptions;
use crate::error::ImportError;
use crate::proto::tensor_shape_proto::dimension::Value as DimValue;
use crate::proto::{AttributeProto, GraphProto, NodeProto, type_proto};
use crate::tensor::{DType, OnnxData, OnnxTensor, decode};
use qcc_ir::quant;
use qcc_ir::verify;
use qcc_ir::{
    Conv2dAttrs, ElemType, F32Attr, Graph, Op, Pool2dAttrs, QuantType, RequantMode, ScalarType,
    TensorType, ValueId,
};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::rc::Rc;

/// What an ONNX value name stands for.
#[derive(Clone, Debug)]
enum Val {
    Const(Rc<OnnxTensor>),
    Node(ValueId),
}

/// The node being converted, for error messages.
#[derive(Clone, Debug)]
struct At {
    node: String,
    op: String,
}

impl At {
    fn unsupported(&self, reason: impl Into<String>) -> ImportError {
        ImportError::Unsupported {
            node: self.node.clone(),
            op: self.op.clone(),
            reason: reason.into(),
        }
    }

    fn invalid(&self, reason: impl Into<String>) -> ImportError {
        ImportError::Invalid {
            node: self.node.clone(),
            op: self.op.clone(),
            reason: reason.into(),
        }
    }
}

/// How quantization parameters apply to a tensor.
#[derive(Clone, Debug, PartialEq)]
enum QKind {
    PerTensor,
    PerAxis(usize),
    /// ONNX blocked quantization: `block` consecutive elements along `axis`
    /// share one parameter; the scale has the data's rank.
    Blocked {
        axis: usize,
        block: usize,
    },
}

/// Scales and zero points read from constants.
#[derive(Clone, Debug)]
struct QParams {
    storage: ScalarType,
    kind: QKind,
    scales: Rc<OnnxTensor>,
    zero_points: Vec<i64>,
}

impl QParams {
    fn scale_values(&self) -> &[f32] {
        self.scales.floats().unwrap_or(&[])
    }

    /// The qcc type (per tensor or per axis). `None` for blocked parameters.
    fn quant_type(&self, at: &At) -> Result<Option<QuantType>, ImportError> {
        let s = self.scale_values().to_vec();
        let q = match self.kind {
            QKind::PerTensor => QuantType::per_tensor(self.storage, s[0], self.zero_points[0]),
            QKind::PerAxis(a) => QuantType::per_axis(self.storage, a, s, self.zero_points.clone()),
            QKind::Blocked { .. } => return Ok(None),
        };
        q.check()
            .map_err(|m| at.invalid(format!("bad quantization parameters: {m}")))?;
        Ok(Some(q))
    }
}

/// The raw view of an integer tensor: scale 1, zero point `zp`.
fn raw_type(storage: ScalarType, zp: i64) -> QuantType {
    QuantType::per_tensor(storage, 1.0, zp)
}

fn is_raw(q: &QuantType) -> bool {
    q.scales.iter().all(|&s| s == 1.0) && q.zero_points.iter().all(|&z| z == 0)
}

/// Letters, digits, `_`, `.`, `$`, not purely numeric (qcc's name rules).
/// [`verify::verify`], its diagnostics as an [`ImportError::Verify`].
pub(crate) fn verify_graph(g: &Graph) -> Result<(), ImportError> {
    verify::verify(g).map_err(|diags| {
        ImportError::Verify(
            diags
                .iter()
                .map(|d| {
                    let mut m = d.message.clone();
                    for n in &d.notes {
                        m.push_str(" (");
                        m.push_str(n);
                        m.push(')');
                    }
                    m
                })
                .collect(),
        )
    })
}

pub(crate) fn sanitize_name(name: &str) -> String {
    sanitize(name)
}

fn sanitize(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.chars().all(|c| c.is_ascii_digit()) {
        s.insert_str(0, "v_");
    }
    s
}

fn dims_product(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

/// Normalises a possibly negative axis for a rank.
fn norm_axis(axis: i64, rank: usize, at: &At) -> Result<usize, ImportError> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(at.invalid(format!("axis {axis} is out of range for rank {rank}")));
    }
    Ok(a as usize)
}

/// Strides of a row-major shape.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Transposes constant data.
fn transpose_const(t: &OnnxTensor, perm: &[usize]) -> OnnxTensor {
    let shape: Vec<usize> = perm.iter().map(|&p| t.shape[p]).collect();
    let in_strides = strides(&t.shape);
    let n = t.len();
    let mut src = vec![0usize; n];
    let out_strides = strides(&shape);
    for (o, slot) in src.iter_mut().enumerate() {
        let mut rem = o;
        let mut i = 0;
        for (k, &os) in out_strides.iter().enumerate() {
            let c = rem / os;
            rem %= os;
            i += c * in_strides[perm[k]];
        }
        *slot = i;
    }
    let data = match &t.data {
        OnnxData::F32(v) => OnnxData::F32(src.iter().map(|&i| v[i]).collect()),
        OnnxData::Int(v) => OnnxData::Int(src.iter().map(|&i| v[i]).collect()),
    };
    OnnxTensor {
        dtype: t.dtype,
        shape,
        data,
    }
}

pub(crate) struct Converter<'a> {
    g: Graph,
    vals: HashMap<String, Val>,
    /// Integer graph inputs whose type has not been fixed by a use yet.
    retypable: HashSet<ValueId>,
    consts: HashMap<(usize, TensorType), ValueId>,
    keep: Vec<Rc<OnnxTensor>>,
    /// Blocked `DequantizeLinear`s of constant 2-d weights, by output name:
    /// folded to f32 for every other reader, read blocked by a `MatMul`
    /// (`nbits.rs`).
    blocked_dq: HashMap<String, Rc<nbits::BlockedWeight>>,
    used_names: HashSet<String>,
    opset: i64,
    opts: &'a ImportOptions,
    base_dir: Option<&'a Path>,
}

impl<'a> Converter<'a> {
    pub(crate) fn new(
        name: &str,
        opset: i64,
        opts: &'a ImportOptions,
        base_dir: Option<&'a Path>,
    ) -> Converter<'a> {
        Converter {
            g: Graph::new(sanitize(if name.is_empty() { "main" } else { name })),
            vals: HashMap::new(),
            retypable: HashSet::new(),
            consts: HashMap::new(),
            keep: Vec::new(),
            blocked_dq: HashMap::new(),
            used_names: HashSet::new(),
            opset,
            opts,
            base_dir,
        }
    }

    fn unique_name(&mut self, base: &str) -> String {
        let s = sanitize(base);
        let mut name = s.clone();
        let mut i = 1;
        while self.used_names.contains(&name) {
            name = format!("{s}_{i}");
            i += 1;
        }
        self.used_names.insert(name.clone());
        name
    }

    // ------------------------------------------------------------------
    // The graph's interface

    pub(crate) fn convert(mut self, gp: &GraphProto) -> Result<Graph, ImportError> {
        let mut inits = HashSet::new();
        for tp in &gp.initializer {
            let name = tp.name.clone().unwrap_or_default();
            let t = decode(tp, self.base_dir)?;
            inits.insert(name.clone());
            self.vals.insert(name, Val::Const(Rc::new(t)));
        }
        if let Some(sp) = gp.sparse_initializer.first() {
            let name = sp
                .values
                .as_ref()
                .and_then(|v| v.name.clone())
                .unwrap_or_default();
            return Err(ImportError::Tensor {
                name,
                reason: "sparse initializers are not supported".into(),
            });
        }
        let graph_inputs: HashSet<&str> =
            gp.input.iter().filter_map(|i| i.name.as_deref()).collect();
        for b in self.opts.bindings.keys() {
            if !graph_inputs.contains(b.as_str()) || inits.contains(b) {
                return Err(ImportError::Bind {
                    name: b.clone(),
                    reason: "the model has no graph input of that name".into(),
                });
            }
        }
        for vi in &gp.input {
            let name = vi.name.clone().unwrap_or_default();
            if inits.contains(&name) {
                continue;
            }
            self.add_graph_input(&name, vi.r#type.as_ref())?;
        }
        for node in &gp.node {
            self.node(node)?;
        }
        let mut out_names = HashSet::new();
        for vo in &gp.output {
            let name = vo.name.clone().unwrap_or_default();
            let v = self.materialize_output(&name)?;
            let mut oname = sanitize(&name);
            let base = oname.clone();
            let mut i = 1;
            while !out_names.insert(oname.clone()) {
                oname = format!("{base}_{i}");
                i += 1;
            }
            self.g.add_output(oname, v);
        }
        verify_graph(&self.g)?;
        Ok(self.g)
    }

    fn add_graph_input(
        &mut self,
        name: &str,
        ty: Option<&crate::proto::TypeProto>,
    ) -> Result<(), ImportError> {
        let err = |reason: String| ImportError::Input {
            input: name.to_string(),
            reason,
        };
        let tt = match ty.and_then(|t| t.value.as_ref()) {
            Some(type_proto::Value::TensorType(t)) => t,
            Some(_) => return Err(err("only tensor inputs are supported".into())),
            None => return Err(err("the input has no type".into())),
        };
        let dtype = DType::from_code(tt.elem_type.unwrap_or(0));
        let declared: Option<Vec<Option<(i64, String)>>> = tt.shape.as_ref().map(|s| {
            s.dim
                .iter()
                .map(|d| match &d.value {
                    Some(DimValue::DimValue(v)) => Some((*v, String::new())),
                    Some(DimValue::DimParam(p)) => Some((-1, p.clone())),
                    None => None,
                })
                .collect()
        });
        if dtype.scalar().is_none() && !(dtype.is_int() || dtype.is_float()) {
            return Err(ImportError::UnsupportedType {
                name: name.to_string(),
                dtype: dtype.name(),
            });
        }
        if let Some(t) = self.opts.bindings.get(name) {
            if let Some(dims) = &declared {
                let fits = dims.len() == t.shape.len()
                    && dims.iter().zip(&t.shape).all(|(d, &s)| match d {
                        Some((v, _)) if *v >= 0 => *v as usize == s,
                        _ => true,
                    });
                if !fits {
                    return Err(ImportError::Bind {
                        name: name.to_string(),
                        reason: format!("shape {:?} does not match the declared shape", t.shape),
                    });
                }
            }
            let ot = OnnxTensor::from_tensor(t, dtype).map_err(|reason| ImportError::Bind {
                name: name.to_string(),
                reason,
            })?;
            self.vals.insert(name.to_string(), Val::Const(Rc::new(ot)));
            return Ok(());
        }
        let shape: Vec<usize> = if let Some(s) = self.opts.input_shapes.get(name) {
            if let Some(dims) = &declared
                && (dims.len() != s.len()
                    || dims
                        .iter()
                        .zip(s)
                        .any(|(d, &x)| matches!(d, Some((v, _)) if *v >= 0 && *v as usize != x)))
            {
                return Err(err(format!(
                    "the given shape {s:?} does not match the declared shape"
                )));
            }
            s.clone()
        } else {
            let Some(dims) = declared else {
                return Err(err("the input has no declared shape; give its shape".into()));
            };
            let mut shape = Vec::new();
            for (i, d) in dims.iter().enumerate() {
                match d {
                    Some((v, _)) if *v >= 1 => shape.push(*v as usize),
                    Some((v, _)) if *v >= 0 => {
                        return Err(ImportError::Unsupported {
                            node: name.to_string(),
                            op: "graph input".into(),
                            reason: format!("dimension {i} has size {v}: qcc has no empty tensors"),
                        });
                    }
                    Some((_, p)) => match self.opts.dims.get(p) {
                        Some(&n) => shape.push(n),
                        None => {
                            return Err(err(format!(
                                "dimension {i} is the symbol `{p}`; bind it (`--dim {p}=<size>`)"
                            )));
                        }
                    },
                    None => {
                        return Err(err(format!(
                            "dimension {i} is unknown; give the input's shape"
                        )));
                    }
                }
            }
            shape
        };
        if shape.contains(&0) {
            return Err(ImportError::Unsupported {
                node: name.to_string(),
                op: "graph input".into(),
                reason: "a dimension is 0: qcc has no empty tensors".into(),
            });
        }
        if dims_product(&shape).is_none_or(|n| n > crate::tensor::MAX_ELEMENTS) {
            return Err(err(format!("shape {shape:?} is too large")));
        }
        let elem = match dtype.scalar() {
            Some(ScalarType::F32) => ElemType::F32,
            Some(s) => ElemType::quant(raw_type(s, 0)),
            // qcc has no 64-bit integers: an int64 input (token ids,
            // indices) is kept in i32, as a run-time Cast to int64 is; the
            // `.npy` reader takes int64 files and refuses a value outside
            // i32's range.
            None if dtype == DType::Int64 => ElemType::I32,
            None => {
                return Err(ImportError::UnsupportedType {
                    name: name.to_string(),
                    dtype: dtype.name(),
                });
            }
        };
        let uname = self.unique_name(name);
        let v = self
            .g
            .add_input(uname, TensorType::new(shape, elem.clone()));
        if !elem.is_f32() && elem != ElemType::I32 {
            self.retypable.insert(v);
        }
        self.vals.insert(name.to_string(), Val::Node(v));
        Ok(())
    }

    fn materialize_output(&mut self, name: &str) -> Result<ValueId, ImportError> {
        let at = At {
            node: name.to_string(),
            op: "graph output".into(),
        };
        match self.vals.get(name).cloned() {
            Some(Val::Node(v)) => {
                self.retypable.remove(&v);
                Ok(v)
            }
            Some(Val::Const(t)) => {
                let elem = match t.dtype.scalar() {
                    Some(ScalarType::F32) => ElemType::F32,
                    Some(ScalarType::I32) => ElemType::I32,
                    Some(s) => ElemType::quant(raw_type(s, 0)),
                    None if t.dtype.is_float() => ElemType::F32,
                    None => {
                        return Err(
                            at.unsupported(format!("a constant output of type {}", t.dtype.name()))
                        );
                    }
                };
                self.const_value(&at, &t, elem)
            }
            None => Err(ImportError::Model(format!(
                "graph output `{name}` is not produced by any node"
            ))),
        }
    }

    // ------------------------------------------------------------------
    // Values

    fn input_name(n: &NodeProto, i: usize) -> Option<&str> {
        n.input.get(i).map(|s| s.as_str()).filter(|s| !s.is_empty())
    }

    fn val(&self, at: &At, n: &NodeProto, i: usize) -> Result<Val, ImportError> {
        let Some(name) = Self::input_name(n, i) else {
            return Err(at.invalid(format!("input {i} is missing")));
        };
        self.vals
            .get(name)
            .cloned()
            .ok_or_else(|| at.invalid(format!("input `{name}` is not defined before its use")))
    }

    fn opt_val(&self, at: &At, n: &NodeProto, i: usize) -> Result<Option<Val>, ImportError> {
        match Self::input_name(n, i) {
            None => Ok(None),
            Some(_) => self.val(at, n, i).map(Some),
        }
    }

    /// A constant input (scales, zero points, shapes); `None` if absent.
    fn konst(
        &self,
        at: &At,
        n: &NodeProto,
        i: usize,
        role: &str,
    ) -> Result<Option<Rc<OnnxTensor>>, ImportError> {
        match self.opt_val(at, n, i)? {
            None => Ok(None),
            Some(Val::Const(t)) => Ok(Some(t)),
            Some(Val::Node(_)) => Err(ImportError::RuntimeParam {
                node: at.node.clone(),
                op: at.op.clone(),
                input: Self::input_name(n, i).unwrap_or_default().to_string(),
                role: role.to_string(),
            }),
        }
    }

    fn shape_of(&self, v: &Val) -> Vec<usize> {
        match v {
            Val::Const(t) => t.shape.clone(),
            Val::Node(id) => self.g.ty(*id).shape.clone(),
        }
    }

    /// The ONNX element type of a value.
    fn dtype_of(&self, v: &Val) -> DType {
        match v {
            Val::Const(t) => t.dtype,
            Val::Node(id) => DType::of_scalar(self.g.ty(*id).elem.storage()),
        }
    }

    fn set(&mut self, n: &NodeProto, i: usize, v: Val) {
        let Some(name) = n.output.get(i).filter(|s| !s.is_empty()) else {
            return;
        };
        if let Val::Node(id) = v
            && self.g.node(id).name.is_none()
        {
            let s = sanitize(name);
            if !self.used_names.contains(&s) {
                self.used_names.insert(s.clone());
                self.g.node_mut(id).name = Some(s);
            }
        }
        self.vals.insert(name.clone(), v);
    }

    fn const_value(
        &mut self,
        at: &At,
        t: &Rc<OnnxTensor>,
        elem: ElemType,
    ) -> Result<ValueId, ImportError> {
        let ty = TensorType::new(t.shape.clone(), elem);
        let key = (Rc::as_ptr(t) as usize, ty.clone());
        if let Some(&v) = self.consts.get(&key) {
            return Ok(v);
        }
        if t.shape.contains(&0) {
            return Err(at.unsupported("a constant with a dimension of size 0"));
        }
        let data = t
            .to_data(ty.elem.storage())
            .map_err(|m| at.invalid(format!("constant: {m}")))?;
        if let Some((lo, hi)) = ty.elem.int_range()
            && let Some(v) = t.ints()
            && !v.iter().fold(true, |ok, &x| ok & (x >= lo) & (x <= hi))
            && let Some(x) = v.iter().find(|x| **x < lo || **x > hi)
        {
            return Err(at.invalid(format!(
                "constant value {x} is outside the range {lo}..={hi}"
            )));
        }
        let v = self.g.add_const(data, ty.clone());
        // The cache is keyed by the tensor's address: keep it alive.
        self.keep.push(t.clone());
        self.consts.insert(key, v);
        Ok(v)
    }

    /// Input `i` as an f32 value.
    fn f32_in(&mut self, at: &At, n: &NodeProto, i: usize) -> Result<ValueId, ImportError> {
        let v = self.val(at, n, i)?;
        self.f32_of(at, &v)
    }

    fn f32_of(&mut self, at: &At, v: &Val) -> Result<ValueId, ImportError> {
        match v {
            Val::Const(t) if t.dtype.is_float() => self.const_value(at, t, ElemType::F32),
            Val::Node(id) if self.g.ty(*id).elem.is_f32() => Ok(*id),
            _ => Err(at.unsupported(format!(
                "expects a float tensor, found {}",
                self.dtype_of(v).name()
            ))),
        }
    }

    /// Input `i` as a value of the quantized type `q`: constants get the
    /// type, an integer graph input not used yet is given it, other values
    /// must have it already.
    fn quant_in(
        &mut self,
        at: &At,
        n: &NodeProto,
        i: usize,
        q: &QuantType,
    ) -> Result<ValueId, ImportError> {
        let v = self.val(at, n, i)?;
        self.quant_of(at, &v, q)
    }

    fn quant_of(&mut self, at: &At, v: &Val, q: &QuantType) -> Result<ValueId, ImportError> {
        let dtype = self.dtype_of(v);
        if dtype.scalar() != Some(q.storage) {
            return Err(at.invalid(format!(
                "an operand of type {} is read with parameters of type {}",
                dtype.name(),
                DType::of_scalar(q.storage).name()
            )));
        }
        match v {
            Val::Const(t) => self.const_value(at, t, ElemType::quant(q.clone())),
            Val::Node(id) => {
                let ty = self.g.ty(*id).clone();
                let want = ty.with_elem(ElemType::quant(q.clone()));
                if ty == want {
                    self.retypable.remove(id);
                    return Ok(*id);
                }
                if self.retypable.remove(id) {
                    want.check().map_err(|m| at.invalid(m))?;
                    self.g.node_mut(*id).ty = want;
                    return Ok(*id);
                }
                Err(at.unsupported(format!(
                    "the operand has type `{}` but is read as `{}`: qcc cannot reinterpret \
                     stored integers with other parameters",
                    ty.elem, q
                )))
            }
        }
    }

    /// Adds a node whose result type follows from the rule (`quant` for
    /// results whose parameters are the writer's).
    fn add(
        &mut self,
        at: &At,
        op: Op,
        args: &[ValueId],
        quant: Option<&QuantType>,
    ) -> Result<ValueId, ImportError> {
        for a in args {
            self.retypable.remove(a);
        }
        let tys: Vec<&TensorType> = args.iter().map(|&a| self.g.ty(a)).collect();
        let name = op.name();
        let ty = verify::result_type(&op, &tys, quant)
            .map_err(|e| at.unsupported(format!("qcc's `{name}` cannot take it: {e}")))?;
        Ok(self.g.add_node(op, args, ty))
    }

    fn add_reshape(
        &mut self,
        at: &At,
        x: ValueId,
        shape: Vec<usize>,
    ) -> Result<ValueId, ImportError> {
        self.retypable.remove(&x);
        let ty = self.g.ty(x).with_shape(shape);
        if ty.shape == self.g.ty(x).shape {
            return Ok(x);
        }
        let xt = self.g.ty(x).clone();
        verify::check_op(&Op::Reshape, &[&xt], &ty)
            .map_err(|e| at.unsupported(format!("qcc's `reshape` cannot take it: {e}")))?;
        Ok(self.g.add_node(Op::Reshape, &[x], ty))
    }

    fn f32_scalar(&mut self, at: &At, x: f32) -> Result<ValueId, ImportError> {
        let t = Rc::new(OnnxTensor::from_f32(vec![], vec![x]));
        self.const_value(at, &t, ElemType::F32)
    }

    // ------------------------------------------------------------------
    // Attributes

    fn attr<'n>(n: &'n NodeProto, name: &str) -> Option<&'n AttributeProto> {
        n.attribute.iter().find(|a| a.name.as_deref() == Some(name))
    }

    fn attr_i(n: &NodeProto, name: &str, default: i64) -> i64 {
        Self::attr(n, name).and_then(|a| a.i).unwrap_or(default)
    }

    fn attr_f(n: &NodeProto, name: &str, default: f32) -> f32 {
        Self::attr(n, name).and_then(|a| a.f).unwrap_or(default)
    }

    fn attr_ints(n: &NodeProto, name: &str) -> Option<Vec<i64>> {
        Self::attr(n, name).map(|a| a.ints.clone())
    }

    fn attr_s(n: &NodeProto, name: &str) -> Option<String> {
        Self::attr(n, name)
            .and_then(|a| a.s.as_ref())
            .map(|s| String::from_utf8_lossy(s).into_owned())
    }

    // ------------------------------------------------------------------
    // Quantization parameters

    /// Reads the scale (input `si`) and zero point (input `zi`) of an
    /// operand of shape `data_shape`; `axis` is the node's axis attribute
    /// (already normalised), `block` its block size, `default_storage` the
    /// storage when there is no zero point.
    #[allow(clippy::too_many_arguments)]
    fn qparams(
        &self,
        at: &At,
        n: &NodeProto,
        si: usize,
        zi: usize,
        data_shape: &[usize],
        axis: Option<usize>,
        block: usize,
        default_storage: DType,
    ) -> Result<QParams, ImportError> {
        let Some(scale) = self.konst(at, n, si, "scale")? else {
            return Err(at.invalid("the scale is missing"));
        };
        if !scale.dtype.is_float() {
            return Err(at.invalid(format!(
                "the scale has type {}, a float type is needed",
                scale.dtype.name()
            )));
        }
        let zp = self.konst(at, n, zi, "zero point")?;
        let dtype = zp.as_ref().map(|z| z.dtype).unwrap_or(default_storage);
        let storage = dtype
            .scalar()
            .filter(|s| *s != ScalarType::F32)
            .ok_or_else(|| {
                at.unsupported(format!(
                    "quantized type {} has no qcc storage type (qcc has i32, i16, u16, i8, u8, i4, u4)",
                    dtype.name()
                ))
            })?;
        let ns = scale.len();
        let needs_axis = || {
            axis.ok_or_else(|| {
                at.invalid(format!(
                    "the axis attribute is out of range for data of shape {data_shape:?}"
                ))
            })
        };
        let kind = if block > 0 {
            let axis = needs_axis()?;
            if scale.shape.len() != data_shape.len() {
                return Err(at.invalid("a blocked scale must have the data's rank"));
            }
            QKind::Blocked { axis, block }
        } else if ns == 1 && scale.shape.len() <= 1 {
            QKind::PerTensor
        } else if scale.shape.len() == 1 {
            let axis = needs_axis()?;
            if data_shape.get(axis) != Some(&ns) {
                return Err(at.invalid(format!(
                    "{ns} scales, but the data has shape {data_shape:?} (axis {axis})"
                )));
            }
            QKind::PerAxis(axis)
        } else {
            return Err(at.invalid(format!(
                "a scale of shape {:?} needs the block_size attribute",
                scale.shape
            )));
        };
        let zero_points = match &zp {
            Some(z) => {
                if z.len() != ns {
                    return Err(at.invalid(format!("{} zero points for {ns} scales", z.len())));
                }
                z.ints()
                    .ok_or_else(|| at.unsupported("float zero points (float8 types)"))?
                    .to_vec()
            }
            None => vec![0; ns],
        };
        if let QKind::Blocked { axis, block } = kind {
            for (i, (&d, &s)) in data_shape.iter().zip(&scale.shape).enumerate() {
                let want = if i == axis { d.div_ceil(block) } else { d };
                if s != want {
                    return Err(at.invalid(format!(
                        "blocked scale has shape {:?}; with block size {block} on axis {axis} \
                         it must be {:?}",
                        scale.shape,
                        data_shape
                            .iter()
                            .enumerate()
                            .map(|(j, &d)| if j == axis { d.div_ceil(block) } else { d })
                            .collect::<Vec<_>>()
                    )));
                }
            }
        }
        let scales = if scale.dtype == DType::Float {
            scale
        } else {
            Rc::new(OnnxTensor::from_f32(
                scale.shape.clone(),
                scale.floats().unwrap_or(&[]).to_vec(),
            ))
        };
        Ok(QParams {
            storage,
            kind,
            scales,
            zero_points,
        })
    }

    /// Per-tensor parameters of a QOperator operand (scale at `si`, zero
    /// point at `zi`), with `dtype` the operand's storage when the zero point
    /// is absent.
    fn per_tensor(
        &self,
        at: &At,
        n: &NodeProto,
        si: usize,
        zi: usize,
        dtype: DType,
        what: &str,
    ) -> Result<QuantType, ImportError> {
        let p = self.qparams(at, n, si, zi, &[], None, 0, dtype)?;
        if p.kind != QKind::PerTensor {
            return Err(at.unsupported(format!("per-channel parameters for {what}")));
        }
        Ok(p.quant_type(at)?.expect("per tensor"))
    }
}

// The op conversions.
mod control;
mod dynamic;
mod float;
mod logic;
mod movement;
mod nbits;
mod ops;
mod qdq;
mod qoperator;
mod recurrent;

/// Whether qcc imports `op_type` of `domain` (see `ops::is_registered`).
pub(crate) fn ops_is_registered(domain: &str, op_type: &str) -> bool {
    ops::is_registered(domain, op_type)
}
