//! Data movement and constants: Constant, Identity, Shape, Gather, Cast,
//! Reshape, Flatten, Squeeze/Unsqueeze, Transpose, Slice, Split, Concat.

use super::ops::{Registry, extra_outputs};
use super::*;

/// Registers this family's ONNX operators.
pub(super) fn register(r: &mut Registry) {
    r.add("Constant", |c, at, n| c.constant(at, n));
    r.add("Identity", |c, at, n| c.identity(at, n));
    r.add("Dropout", |c, at, n| c.identity(at, n));
    r.add("Reshape", |c, at, n| c.reshape(at, n));
    r.add("Flatten", |c, at, n| c.flatten(at, n));
    r.add("Squeeze", |c, at, n| c.squeeze(at, n, false));
    r.add("Unsqueeze", |c, at, n| c.squeeze(at, n, true));
    r.add("Transpose", |c, at, n| c.transpose(at, n));
    r.add("Concat", |c, at, n| c.concat(at, n));
    r.add("Slice", |c, at, n| c.slice(at, n));
    r.add("Split", |c, at, n| c.split(at, n));
    r.add("Range", |c, at, n| c.range(at, n));
    r.add("Resize", |c, at, n| c.resize(at, n));
    r.add("Expand", |c, at, n| c.expand(at, n));
    r.add("SpaceToDepth", |c, at, n| c.space_depth(at, n, true));
    r.add("DepthToSpace", |c, at, n| c.space_depth(at, n, false));
    r.add("Upsample", |c, at, n| c.resize(at, n));
    r.add("Shape", |c, at, n| c.shape(at, n));
    r.add("Gather", |c, at, n| c.gather(at, n));
    r.add("GatherElements", |c, at, n| c.gather_elements(at, n));
    r.add("Cast", |c, at, n| c.cast(at, n));
    r.add("ConstantOfShape", |c, at, n| c.constant_of_shape(at, n));
}

impl Converter<'_> {
    /// `Identity`, and `Dropout` at inference (its mask output refused).
    pub(super) fn identity(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        if extra_outputs(n) {
            return Err(at.unsupported("the mask output of Dropout"));
        }
        let v = self.val(at, n, 0)?;
        self.set(n, 0, v);
        Ok(())
    }

    // ------------------------------------------------------------------
    // Constants and shape computations (folded at import time)

    pub(super) fn constant(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let a = n
            .attribute
            .first()
            .ok_or_else(|| at.invalid("Constant without a value"))?;
        let name = a.name.as_deref().unwrap_or("");
        let t = match name {
            "value" => {
                let tp =
                    a.t.as_ref()
                        .ok_or_else(|| at.invalid("`value` is not a tensor"))?;
                decode(tp, self.base_dir)?
            }
            "value_float" => OnnxTensor::from_f32(vec![], vec![a.f.unwrap_or(0.0)]),
            "value_floats" => OnnxTensor::from_f32(vec![a.floats.len()], a.floats.clone()),
            "value_int" => OnnxTensor::from_ints(DType::Int64, vec![], vec![a.i.unwrap_or(0)]),
            "value_ints" => OnnxTensor::from_ints(DType::Int64, vec![a.ints.len()], a.ints.clone()),
            other => return Err(at.unsupported(format!("Constant attribute `{other}`"))),
        };
        self.set(n, 0, Val::Const(Rc::new(t)));
        Ok(())
    }

    /// `ConstantOfShape`: a constant (the shape must be known at import,
    /// as shape subgraphs are once dims are bound).
    pub(super) fn constant_of_shape(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let shape_t = self
            .konst(at, n, 0, "shape")?
            .ok_or_else(|| at.invalid("input 0 (`shape`) is missing"))?;
        let dims = shape_t
            .ints()
            .ok_or_else(|| at.invalid("`shape` must be an integer tensor"))?;
        if let Some(d) = dims.iter().find(|&&d| d < 0) {
            return Err(at.invalid(format!("`shape` has a negative dimension {d}")));
        }
        let shape: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
        let count = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .filter(|&c| c <= 1 << 28)
            .ok_or_else(|| {
                at.unsupported(format!(
                    "a constant of shape {shape:?} (more than 2^28 elements)"
                ))
            })?;
        let value = match Self::attr(n, "value").and_then(|a| a.t.as_ref()) {
            Some(tp) => decode(tp, self.base_dir)?,
            None => OnnxTensor::from_f32(vec![], vec![0.0]),
        };
        if value.len() != 1 {
            return Err(at.invalid(format!(
                "`value` must hold one element, found {}",
                value.len()
            )));
        }
        let t = match (value.floats(), value.ints()) {
            (Some(f), _) => OnnxTensor::from_f32(shape, vec![f[0]; count]),
            (None, Some(i)) => OnnxTensor::from_ints(value.dtype, shape, vec![i[0]; count]),
            _ => return Err(at.unsupported("a `value` of this type")),
        };
        self.set(n, 0, Val::Const(Rc::new(t)));
        Ok(())
    }

    /// `Range` on constant `start`, `limit` and `delta` (shape subgraphs,
    /// anchor grids once dims are bound): folded, accumulating `delta` as
    /// the operator's ONNX function body does.
    pub(super) fn range(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let mut scalars = Vec::new();
        for (i, role) in ["start", "limit", "delta"].into_iter().enumerate() {
            let t = self
                .konst(at, n, i, role)?
                .ok_or_else(|| at.invalid(format!("input {i} (`{role}`) is missing")))?;
            if t.len() != 1 {
                return Err(at.invalid(format!("`{role}` must be a scalar")));
            }
            scalars.push(t);
        }
        let count = |n: f64| -> Result<usize, ImportError> {
            if !n.is_finite() || n > (1u64 << 28) as f64 {
                return Err(at.unsupported(format!("a range of {n} elements")));
            }
            Ok(n.max(0.0) as usize)
        };
        let dtype = scalars[0].dtype;
        let t = match (scalars[0].ints(), scalars[1].ints(), scalars[2].ints()) {
            (Some(&[a]), Some(&[b]), Some(&[d])) => {
                if d == 0 {
                    return Err(at.invalid("`delta` is 0"));
                }
                let len = count(((b - a) as f64 / d as f64).ceil())?;
                let v: Vec<i64> = (0..len as i64).map(|i| a + i * d).collect();
                OnnxTensor::from_ints(dtype, vec![len], v)
            }
            _ => {
                let f = |t: &OnnxTensor| t.floats().map(|v| v[0]);
                let (Some(a), Some(b), Some(d)) = (f(&scalars[0]), f(&scalars[1]), f(&scalars[2]))
                else {
                    return Err(at.invalid("`start`, `limit` and `delta` differ in type"));
                };
                if d == 0.0 {
                    return Err(at.invalid("`delta` is 0"));
                }
                let len = count(((b - a) / d).ceil() as f64)?;
                let mut v = Vec::with_capacity(len);
                let mut x = a;
                for _ in 0..len {
                    v.push(x);
                    x += d;
                }
                OnnxTensor::from_f32(vec![len], v)
            }
        };
        self.set(n, 0, Val::Const(Rc::new(t)));
        Ok(())
    }

    pub(super) fn shape(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let v = self.val(at, n, 0)?;
        let s = self.shape_of(&v);
        let r = s.len() as i64;
        let clampi = |x: i64| (if x < 0 { x + r } else { x }).clamp(0, r) as usize;
        let start = clampi(Self::attr_i(n, "start", 0));
        let end = clampi(Self::attr_i(n, "end", r));
        let dims: Vec<i64> = s[start..end.max(start)].iter().map(|&d| d as i64).collect();
        let t = OnnxTensor::from_ints(DType::Int64, vec![dims.len()], dims);
        self.set(n, 0, Val::Const(Rc::new(t)));
        Ok(())
    }

    pub(super) fn gather(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let (data, idx) = (self.val(at, n, 0)?, self.val(at, n, 1)?);
        if let (Val::Node(x), Val::Const(idx)) = (&data, &idx) {
            return self.gather_runtime(at, n, *x, idx);
        }
        if let Val::Node(i) = idx {
            // Run-time indices (`i32` in qcc): the `gather` op, which clamps
            // an index out of range (semantics.md).
            if self.g.ty(i).elem != ElemType::Scalar(ScalarType::I32) {
                return Err(at.unsupported(format!(
                    "Gather at run-time indices of type `{}` (qcc gathers at i32 indices)",
                    self.g.ty(i).elem
                )));
            }
            let x = match &data {
                Val::Node(x) => *x,
                Val::Const(t) if t.dtype.is_float() => self.f32_of(at, &data)?,
                Val::Const(t) => {
                    let st = t
                        .dtype
                        .scalar()
                        .ok_or_else(|| at.unsupported(format!("Gather of {}", t.dtype.name())))?;
                    self.const_value(at, t, ElemType::Scalar(st))?
                }
            };
            let r = self.g.ty(x).shape.len();
            let axis = norm_axis(Self::attr_i(n, "axis", 0), r, at)?;
            let q = self.g.ty(x).elem.as_quant().cloned();
            let v = self.add(at, Op::Gather { axis }, &[x, i], q.as_ref())?;
            self.set(n, 0, Val::Node(v));
            return Ok(());
        }
        let (Val::Const(data), Val::Const(idx)) = (data, idx) else {
            unreachable!("run-time operands are handled above")
        };
        let axis = norm_axis(Self::attr_i(n, "axis", 0), data.shape.len(), at)?;
        let ix = idx.ints().ok_or_else(|| at.invalid("float indices"))?;
        let d = data.shape[axis] as i64;
        let outer: usize = data.shape[..axis].iter().product();
        let inner: usize = data.shape[axis + 1..].iter().product();
        let mut pick = Vec::new();
        for o in 0..outer {
            for &i in ix {
                let i = if i < 0 { i + d } else { i };
                if !(0..d).contains(&i) {
                    return Err(at.invalid(format!("index {i} out of range")));
                }
                for k in 0..inner {
                    pick.push((o * data.shape[axis] + i as usize) * inner + k);
                }
            }
        }
        let mut shape = data.shape[..axis].to_vec();
        shape.extend_from_slice(&idx.shape);
        shape.extend_from_slice(&data.shape[axis + 1..]);
        let data = match &data.data {
            OnnxData::F32(v) => OnnxData::F32(pick.iter().map(|&i| v[i]).collect()),
            OnnxData::Int(v) => OnnxData::Int(pick.iter().map(|&i| v[i]).collect()),
        };
        let t = OnnxTensor {
            dtype: if matches!(data, OnnxData::F32(_)) {
                DType::Float
            } else {
                self.dtype_of(&self.val(at, n, 0)?)
            },
            shape,
            data,
        };
        self.set(n, 0, Val::Const(Rc::new(t)));
        Ok(())
    }

    /// `GatherElements`: `y[p] = x[p with p[axis] = idx[p]]`, as one
    /// `gather` of the flattened `x` at flat offsets: computed at import
    /// for constant indices (checked against `[−d, d)`); for run-time
    /// `i32` indices, `idx + d` where negative, times the axis's stride,
    /// plus the constant offset of the other coordinates (integer `where`,
    /// `mul`, `add`). A run-time index out of range reads another element
    /// of `x` (the flat offset is clamped into `x`), not an error.
    pub(super) fn gather_elements(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let xv = self.val(at, n, 0)?;
        let iv = self.val(at, n, 1)?;
        let x = match &xv {
            Val::Node(x) => *x,
            Val::Const(_) => self.f32_of(at, &xv)?,
        };
        let xs = self.g.ty(x).shape.clone();
        let ts = self.shape_of(&iv);
        let r = xs.len();
        let axis = norm_axis(Self::attr_i(n, "axis", 0), r, at)?;
        if ts.len() != r || (0..r).any(|k| k != axis && ts[k] > xs[k]) {
            return Err(at.invalid(format!(
                "indices of shape {ts:?} do not fit data of shape {xs:?} off axis {axis}"
            )));
        }
        if let Some(q) = self.g.ty(x).elem.as_quant()
            && q.axis.is_some()
        {
            return Err(at.unsupported("GatherElements of a per-axis quantized tensor"));
        }
        let xst = strides(&xs);
        let d = xs[axis] as i64;
        let total: usize = ts.iter().product();
        // The flat offset of every index position, without its axis term.
        let tst = strides(&ts);
        let base: Vec<i64> = (0..total)
            .map(|f| {
                (0..r)
                    .filter(|&k| k != axis)
                    .map(|k| (f / tst[k] % ts[k]) as i64 * xst[k] as i64)
                    .sum()
            })
            .collect();
        let numel: usize = xs.iter().product();
        let flat = self.add_reshape(at, x, vec![numel])?;
        let q = self.g.ty(x).elem.as_quant().cloned();
        let i32t = ElemType::Scalar(ScalarType::I32);
        let offs = match &iv {
            Val::Const(t) => {
                let ix = t.ints().ok_or_else(|| at.invalid("float indices"))?;
                let mut v = Vec::with_capacity(total);
                for (k, &i) in ix.iter().enumerate() {
                    if !(-d..d).contains(&i) {
                        return Err(at.invalid(format!("index {i} out of range for dimension {d}")));
                    }
                    let i = if i < 0 { i + d } else { i };
                    v.push(base[k] + i * xst[axis] as i64);
                }
                let t = Rc::new(OnnxTensor::from_ints(DType::Int32, ts.clone(), v));
                self.const_value(at, &t, i32t)?
            }
            Val::Node(i) => {
                if self.g.ty(*i).elem != i32t {
                    return Err(at.unsupported(format!(
                        "GatherElements at run-time indices of type `{}` (qcc gathers at i32)",
                        self.g.ty(*i).elem
                    )));
                }
                let scalar = |c: &mut Self, v: i64| -> Result<qcc_ir::ValueId, ImportError> {
                    let t = Rc::new(OnnxTensor::from_ints(DType::Int32, vec![1], vec![v]));
                    c.const_value(at, &t, i32t.clone())
                };
                let (z, dd, st) = (
                    scalar(self, 0)?,
                    scalar(self, d)?,
                    scalar(self, xst[axis] as i64)?,
                );
                let neg = self.add(at, Op::Less, &[*i, z], None)?;
                let up = self.add(at, Op::Add, &[*i, dd], None)?;
                let w = self.add(at, Op::Where, &[neg, up, *i], None)?;
                let m = self.add(at, Op::Mul, &[w, st], None)?;
                let bt = Rc::new(OnnxTensor::from_ints(DType::Int32, ts.clone(), base));
                let b = self.const_value(at, &bt, i32t.clone())?;
                self.add(at, Op::Add, &[m, b], None)?
            }
        };
        let y = self.add(at, Op::Gather { axis: 0 }, &[flat, offs], q.as_ref())?;
        self.set(n, 0, Val::Node(y));
        Ok(())
    }

    /// `Gather` of a run-time value at constant indices: each run of
    /// consecutive indices is one `slice` along the axis, the runs joined
    /// by a `concat` (a scalar index then drops the axis by a reshape).
    /// Only data movement: quantized operands keep their codes.
    fn gather_runtime(
        &mut self,
        at: &At,
        n: &NodeProto,
        x: qcc_ir::ValueId,
        idx: &OnnxTensor,
    ) -> Result<(), ImportError> {
        let shape = self.g.ty(x).shape.clone();
        let r = shape.len();
        let axis = norm_axis(Self::attr_i(n, "axis", 0), r, at)?;
        let ix = idx.ints().ok_or_else(|| at.invalid("float indices"))?;
        if ix.is_empty() {
            return Err(at.unsupported("Gather at no indices (qcc has no empty tensors)"));
        }
        let d = shape[axis] as i64;
        if idx.shape.len() > 1 {
            // Indices of rank 2 or more (embedding lookups): `gather`.
            if let Some(&i) = ix.iter().find(|&&i| !(-d..d).contains(&i)) {
                return Err(at.invalid(format!("index {i} out of range for dimension {d}")));
            }
            let t = Rc::new(OnnxTensor::from_ints(
                DType::Int32,
                idx.shape.clone(),
                ix.to_vec(),
            ));
            let c = self.const_value(at, &t, ElemType::Scalar(ScalarType::I32))?;
            let q = self.g.ty(x).elem.as_quant().cloned();
            let v = self.add(at, Op::Gather { axis }, &[x, c], q.as_ref())?;
            self.set(n, 0, Val::Node(v));
            return Ok(());
        }
        let mut runs: Vec<(i64, i64)> = Vec::new();
        for &i in ix {
            let i = if i < 0 { i + d } else { i };
            if !(0..d).contains(&i) {
                return Err(at.invalid(format!("index {i} out of range for dimension {d}")));
            }
            match runs.last_mut() {
                Some((_, end)) if *end == i => *end += 1,
                _ => runs.push((i, i + 1)),
            }
        }
        let q = self.g.ty(x).elem.as_quant().cloned();
        let mut parts = Vec::new();
        for &(s, e) in &runs {
            let mut starts = vec![0i64; r];
            let mut ends: Vec<i64> = shape.iter().map(|&v| v as i64).collect();
            starts[axis] = s;
            ends[axis] = e;
            let part = self.add(
                at,
                Op::Slice {
                    starts,
                    ends,
                    steps: vec![1; r],
                },
                &[x],
                q.as_ref(),
            )?;
            parts.push(part);
        }
        let mut v = if parts.len() == 1 {
            parts[0]
        } else {
            self.add(at, Op::Concat { axis }, &parts, q.as_ref())?
        };
        if idx.shape.is_empty() {
            let mut s = shape.clone();
            s.remove(axis);
            v = self.add_reshape(at, v, s)?;
        }
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    pub(super) fn cast(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let to = DType::from_code(Self::attr_i(n, "to", 0) as i32);
        let v = self.val(at, n, 0)?;
        let from = self.dtype_of(&v);
        match &v {
            Val::Const(t) => {
                let out = match (&t.data, to.is_float(), to.is_int()) {
                    (OnnxData::F32(x), true, _) => OnnxTensor::from_f32(t.shape.clone(), x.clone()),
                    (OnnxData::Int(x), true, _) => {
                        OnnxTensor::from_f32(t.shape.clone(), x.iter().map(|&i| i as f32).collect())
                    }
                    (OnnxData::Int(x), _, true) if to == DType::Bool => OnnxTensor::from_ints(
                        to,
                        t.shape.clone(),
                        x.iter().map(|&i| (i != 0) as i64).collect(),
                    ),
                    (OnnxData::F32(x), _, true) if to == DType::Bool => OnnxTensor::from_ints(
                        to,
                        t.shape.clone(),
                        x.iter().map(|&f| (f != 0.0) as i64).collect(),
                    ),
                    (OnnxData::Int(x), _, true) => {
                        let (lo, hi) = to.int_range().unwrap_or((i64::MIN, i64::MAX));
                        if x.iter().any(|&i| i < lo || i > hi) {
                            return Err(at.unsupported("a wrapping integer Cast"));
                        }
                        OnnxTensor::from_ints(to, t.shape.clone(), x.clone())
                    }
                    _ => return Err(at.unsupported(format!("Cast to {}", to.name()))),
                };
                self.set(n, 0, Val::Const(Rc::new(out)));
                Ok(())
            }
            Val::Node(id) => {
                if from == to {
                    self.set(n, 0, v.clone());
                    return Ok(());
                }
                let elem = self.g.ty(*id).elem.clone();
                if to == DType::Float && matches!(elem, ElemType::Scalar(st) if st.is_int()) {
                    let f = self.int_to_float(at, *id)?;
                    self.set(n, 0, Val::Node(f));
                    return Ok(());
                }
                if let Some(c) = self.cast_to_int(at, *id, to)? {
                    self.set(n, 0, Val::Node(c));
                    return Ok(());
                }
                if to == DType::Float
                    && let Some(q) = elem.as_quant()
                    && is_raw(q)
                {
                    // Integer to float: the raw view dequantizes exactly.
                    let d = self.add(at, Op::Dequantize, &[*id], None)?;
                    self.set(n, 0, Val::Node(d));
                    return Ok(());
                }
                Err(at.unsupported(format!(
                    "Cast from {} to {} of a run-time value",
                    from.name(),
                    to.name()
                )))
            }
        }
    }

    // ------------------------------------------------------------------
    // Data movement

    pub(super) fn move_val(
        &mut self,
        at: &At,
        n: &NodeProto,
        shape: Vec<usize>,
    ) -> Result<(), ImportError> {
        let v = self.val(at, n, 0)?;
        let out = match v {
            Val::Const(t) => {
                if dims_product(&shape) != Some(t.len()) {
                    return Err(at.invalid(format!("cannot reshape {:?} to {shape:?}", t.shape)));
                }
                let mut t = (*t).clone();
                t.shape = shape;
                Val::Const(Rc::new(t))
            }
            Val::Node(id) => Val::Node(self.add_reshape(at, id, shape)?),
        };
        self.set(n, 0, out);
        Ok(())
    }

    pub(super) fn reshape(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let v = self.val(at, n, 0)?;
        let ins = self.shape_of(&v);
        let target: Vec<i64> = if self.opset < 5 {
            Self::attr_ints(n, "shape").ok_or_else(|| at.invalid("no `shape`"))?
        } else {
            let t = self
                .konst(at, n, 1, "shape")?
                .ok_or_else(|| at.invalid("the shape is missing"))?;
            t.ints()
                .ok_or_else(|| at.invalid("the shape must be integers"))?
                .to_vec()
        };
        let allowzero = Self::attr_i(n, "allowzero", 0) != 0;
        let total = dims_product(&ins).unwrap_or(0);
        let mut out = Vec::with_capacity(target.len());
        let mut infer = None;
        for (i, &d) in target.iter().enumerate() {
            match d {
                0 if !allowzero => out.push(
                    *ins.get(i)
                        .ok_or_else(|| at.invalid("a 0 in the shape past the input's rank"))?,
                ),
                -1 if infer.is_none() => {
                    infer = Some(i);
                    out.push(1);
                }
                d if d >= 1 => out.push(d as usize),
                d => return Err(at.invalid(format!("bad target dimension {d} in {target:?}"))),
            }
        }
        if let Some(i) = infer {
            let known = dims_product(&out).unwrap_or(0);
            if known == 0 || !total.is_multiple_of(known) {
                return Err(at.invalid(format!("cannot reshape {ins:?} to {target:?}")));
            }
            out[i] = total / known;
        }
        self.move_val(at, n, out)
    }

    pub(super) fn flatten(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let v = self.val(at, n, 0)?;
        let s = self.shape_of(&v);
        let r = s.len() as i64;
        let mut axis = Self::attr_i(n, "axis", 1);
        if axis < 0 {
            axis += r;
        }
        if !(0..=r).contains(&axis) {
            return Err(at.invalid(format!("axis {axis} out of range")));
        }
        let a = axis as usize;
        let out = vec![s[..a].iter().product(), s[a..].iter().product()];
        self.move_val(at, n, out)
    }

    pub(super) fn squeeze(
        &mut self,
        at: &At,
        n: &NodeProto,
        unsqueeze: bool,
    ) -> Result<(), ImportError> {
        let v = self.val(at, n, 0)?;
        let s = self.shape_of(&v);
        let axes: Option<Vec<i64>> = if self.opset >= 13 {
            self.konst(at, n, 1, "axes")?
                .map(|t| {
                    t.ints()
                        .map(|v| v.to_vec())
                        .ok_or_else(|| at.invalid("float axes"))
                })
                .transpose()?
        } else {
            Self::attr_ints(n, "axes")
        };
        let out = if unsqueeze {
            let axes = axes.ok_or_else(|| at.invalid("Unsqueeze needs axes"))?;
            let r = s.len() + axes.len();
            let mut ax = Vec::new();
            for a in axes {
                ax.push(norm_axis(a, r, at)?);
            }
            let mut out = Vec::with_capacity(r);
            let mut it = s.iter();
            for i in 0..r {
                if ax.contains(&i) {
                    out.push(1);
                } else {
                    out.push(*it.next().ok_or_else(|| at.invalid("duplicate axes"))?);
                }
            }
            out
        } else {
            match axes {
                None => s.iter().copied().filter(|&d| d != 1).collect(),
                Some(axes) => {
                    let mut ax = Vec::new();
                    for a in axes {
                        ax.push(norm_axis(a, s.len(), at)?);
                    }
                    s.iter()
                        .enumerate()
                        .filter(|(i, _)| !ax.contains(i))
                        .map(|(_, &d)| d)
                        .collect()
                }
            }
        };
        self.move_val(at, n, out)
    }

    pub(super) fn transpose(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let v = self.val(at, n, 0)?;
        let r = self.shape_of(&v).len();
        let perm: Vec<usize> = match Self::attr_ints(n, "perm") {
            Some(p) => {
                let mut out = Vec::new();
                for a in p {
                    out.push(norm_axis(a, r, at)?);
                }
                out
            }
            None => (0..r).rev().collect(),
        };
        let mut seen = perm.clone();
        seen.sort();
        if seen != (0..r).collect::<Vec<_>>() {
            return Err(at.invalid(format!("perm {perm:?} is not a permutation")));
        }
        let out = match v {
            Val::Const(t) => Val::Const(Rc::new(transpose_const(&t, &perm))),
            Val::Node(id) => {
                let q = self.g.ty(id).elem.as_quant().map(|q| {
                    let mut q = q.clone();
                    q.axis = q.axis.and_then(|a| perm.iter().position(|&p| p == a));
                    q
                });
                Val::Node(self.add(at, Op::Transpose { perm }, &[id], q.as_ref())?)
            }
        };
        self.set(n, 0, out);
        Ok(())
    }

    /// `Slice` (opset 1's attributes or opset 10's inputs, which must be
    /// constants once dims are bound): folded on constants, else qcc's
    /// `slice` over every axis.
    pub(super) fn slice(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let v = self.val(at, n, 0)?;
        let shape = self.shape_of(&v);
        let r = shape.len();
        let list =
            |c: &Self, i: usize, attr: &str, role: &str| -> Result<Option<Vec<i64>>, ImportError> {
                if c.opset < 10 {
                    return Ok(Self::attr_ints(n, attr));
                }
                match c.konst(at, n, i, role)? {
                    None => Ok(None),
                    Some(t) => t
                        .ints()
                        .map(|v| Some(v.to_vec()))
                        .ok_or_else(|| at.invalid(format!("`{role}` must be integers"))),
                }
            };
        let starts = list(self, 1, "starts", "starts")?.ok_or_else(|| at.invalid("no `starts`"))?;
        let ends = list(self, 2, "ends", "ends")?.ok_or_else(|| at.invalid("no `ends`"))?;
        let axes = match list(self, 3, "axes", "axes")? {
            Some(a) => a,
            None => (0..starts.len() as i64).collect(),
        };
        let steps = match (self.opset >= 10)
            .then(|| list(self, 4, "", "steps"))
            .transpose()?
        {
            Some(Some(s)) => s,
            _ => vec![1; starts.len()],
        };
        if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
            return Err(at.invalid("`starts`, `ends`, `axes` and `steps` differ in length"));
        }
        let (mut fs, mut fe, mut ft) = (vec![0i64; r], vec![i64::MAX; r], vec![1i64; r]);
        let mut seen = vec![false; r];
        for (k, &a) in axes.iter().enumerate() {
            let a = norm_axis(a, r, at)?;
            if std::mem::replace(&mut seen[a], true) {
                return Err(at.invalid(format!("axis {a} is listed twice")));
            }
            (fs[a], fe[a], ft[a]) = (starts[k], ends[k], steps[k]);
        }
        let out = self.slice_val(at, v, &fs, &fe, &ft)?;
        self.set(n, 0, out);
        Ok(())
    }

    /// `v[fs:fe:ft]` over every axis: folded on a constant, the operand
    /// itself when nothing is cut, else qcc's `slice`.
    fn slice_val(
        &mut self,
        at: &At,
        v: Val,
        fs: &[i64],
        fe: &[i64],
        ft: &[i64],
    ) -> Result<Val, ImportError> {
        let shape = self.shape_of(&v);
        let r = shape.len();
        let plan = qcc_ir::slicing::slice_plan(&shape, fs, fe, ft).map_err(|e| at.invalid(e))?;
        Ok(match v {
            _ if plan.iter().zip(&shape).all(|(p, &d)| p.is_identity(d)) => v,
            Val::Const(t) => {
                let out_shape: Vec<usize> = plan.iter().map(|p| p.len).collect();
                let st = strides(&shape);
                let total: usize = out_shape.iter().product();
                let mut pick = Vec::with_capacity(total);
                let mut index = vec![0usize; r];
                for _ in 0..total {
                    let off: i64 = (0..r)
                        .map(|a| {
                            (plan[a].start as i64 + index[a] as i64 * plan[a].step) * st[a] as i64
                        })
                        .sum();
                    pick.push(off as usize);
                    for d in (0..r).rev() {
                        index[d] += 1;
                        if index[d] < out_shape[d] {
                            break;
                        }
                        index[d] = 0;
                    }
                }
                let data = match &t.data {
                    OnnxData::F32(v) => OnnxData::F32(pick.iter().map(|&i| v[i]).collect()),
                    OnnxData::Int(v) => OnnxData::Int(pick.iter().map(|&i| v[i]).collect()),
                };
                Val::Const(Rc::new(OnnxTensor {
                    dtype: t.dtype,
                    shape: out_shape,
                    data,
                }))
            }
            Val::Node(id) => {
                let q = self.g.ty(id).elem.as_quant().cloned();
                // Written out plainly: the first index kept and the one
                // just past the last (`i64::MIN` for "down through 0").
                let ends = plan
                    .iter()
                    .map(|p| match p.len {
                        0 => p.start as i64,
                        l => match p.start as i64 + (l as i64 - 1) * p.step + p.step.signum() {
                            -1 => i64::MIN,
                            e => e,
                        },
                    })
                    .collect();
                let op = Op::Slice {
                    starts: plan.iter().map(|p| p.start as i64).collect(),
                    ends,
                    steps: plan.iter().map(|p| p.step).collect(),
                };
                Val::Node(self.add(at, op, &[id], q.as_ref())?)
            }
        })
    }

    /// `Split` into the sizes of its `split` input (opset 13) or attribute
    /// (earlier), else into `num_outputs` parts (opset 18: all of
    /// `ceil(d / n)` but a smaller last one) or as many equal parts as it
    /// has outputs; each part is a slice along the axis.
    pub(super) fn split(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let v = self.val(at, n, 0)?;
        let shape = self.shape_of(&v);
        let r = shape.len();
        let axis = norm_axis(Self::attr_i(n, "axis", 0), r, at)?;
        let d = shape[axis] as i64;
        let outs = n.output.len();
        let given = if self.opset >= 13 {
            match self.konst(at, n, 1, "split")? {
                None => None,
                Some(t) => Some(
                    t.ints()
                        .map(<[i64]>::to_vec)
                        .ok_or_else(|| at.invalid("`split` must be integers"))?,
                ),
            }
        } else {
            Self::attr_ints(n, "split")
        };
        let sizes = match given {
            Some(s) => {
                if s.len() != outs || s.iter().any(|&x| x < 0) || s.iter().sum::<i64>() != d {
                    return Err(at.invalid(format!(
                        "`split` {s:?} does not cut axis {axis} of {d} into {outs} parts"
                    )));
                }
                s
            }
            None => {
                let parts = Self::attr_i(n, "num_outputs", outs as i64);
                if parts != outs as i64 || parts <= 0 {
                    return Err(at.invalid(format!(
                        "`num_outputs` is {parts} but the node has {outs} outputs"
                    )));
                }
                let each = if n
                    .attribute
                    .iter()
                    .any(|a| a.name.as_deref() == Some("num_outputs"))
                {
                    (d + parts - 1) / parts
                } else if d % parts == 0 {
                    d / parts
                } else {
                    return Err(at.invalid(format!(
                        "axis {axis} of {d} does not split into {parts} equal parts"
                    )));
                };
                (0..parts).map(|k| each.min(d - k * each).max(0)).collect()
            }
        };
        let mut start = 0;
        for (k, &len) in sizes.iter().enumerate() {
            let (mut fs, mut fe, ft) = (vec![0i64; r], vec![i64::MAX; r], vec![1i64; r]);
            (fs[axis], fe[axis]) = (start, start + len);
            start += len;
            if n.output.get(k).is_none_or(|s| s.is_empty()) {
                continue;
            }
            let part = self.slice_val(at, v.clone(), &fs, &fe, &ft)?;
            self.set(n, k, part);
        }
        Ok(())
    }

    pub(super) fn concat(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let vals: Vec<Val> = (0..n.input.len())
            .filter(|&i| Self::input_name(n, i).is_some())
            .map(|i| self.val(at, n, i))
            .collect::<Result<_, _>>()?;
        let first = vals.first().ok_or_else(|| at.invalid("no inputs"))?;
        let r = self.shape_of(first).len();
        let axis = norm_axis(Self::attr_i(n, "axis", 0), r, at)?;
        if vals.iter().all(|v| matches!(v, Val::Const(_))) {
            // Fold (shape computations).
            let ts: Vec<Rc<OnnxTensor>> = vals
                .iter()
                .map(|v| match v {
                    Val::Const(t) => t.clone(),
                    Val::Node(_) => unreachable!(),
                })
                .collect();
            for t in &ts {
                let fits =
                    t.shape.len() == r && (0..r).all(|k| k == axis || t.shape[k] == ts[0].shape[k]);
                if !fits {
                    return Err(at.invalid(format!(
                        "operand shapes {:?} and {:?} differ off axis {axis}",
                        ts[0].shape, t.shape
                    )));
                }
            }
            let outer: usize = ts[0].shape[..axis].iter().product();
            let mut shape = ts[0].shape.clone();
            shape[axis] = ts
                .iter()
                .map(|t| t.shape.get(axis).copied().unwrap_or(0))
                .sum();
            let mut fl = Vec::new();
            let mut it = Vec::new();
            for o in 0..outer {
                for t in &ts {
                    if t.shape.len() != r {
                        return Err(at.invalid("operands of different ranks"));
                    }
                    let chunk: usize = t.shape[axis..].iter().product();
                    match &t.data {
                        OnnxData::F32(v) => fl.extend_from_slice(&v[o * chunk..(o + 1) * chunk]),
                        OnnxData::Int(v) => it.extend_from_slice(&v[o * chunk..(o + 1) * chunk]),
                    }
                }
            }
            let t = if !fl.is_empty() && it.is_empty() {
                OnnxTensor::from_f32(shape, fl)
            } else if fl.is_empty() {
                OnnxTensor::from_ints(ts[0].dtype, shape, it)
            } else {
                return Err(at.invalid("operands of different types"));
            };
            self.set(n, 0, Val::Const(Rc::new(t)));
            return Ok(());
        }
        // The element type of the first run-time operand.
        let elem = vals
            .iter()
            .find_map(|v| match v {
                Val::Node(id) => Some(self.g.ty(*id).elem.clone()),
                Val::Const(_) => None,
            })
            .expect("a run-time operand");
        let mut args = Vec::new();
        for v in &vals {
            args.push(match (v, elem.as_quant()) {
                (_, None) => self.f32_of(at, v)?,
                (_, Some(q)) => self.quant_of(at, v, &q.clone())?,
            });
        }
        let out = self.add(at, Op::Concat { axis }, &args, elem.as_quant())?;
        self.set(n, 0, Val::Node(out));
        Ok(())
    }

    /// `Resize` (and the older `Upsample`) in `nearest` mode with integer
    /// scales, where the source index is `floor(out / s)` (coordinate mode
    /// `asymmetric` with `nearest_mode = floor`, as YOLO and PaddleOCR
    /// export it; `Upsample` and opset-10 `Resize` always are): per scaled
    /// axis `d`, a reshape that adds a unit axis after `d`, a `concat` of
    /// `s` copies along it and a reshape that merges the two. Only data
    /// movement, so quantized operands keep their codes and parameters.
    pub(super) fn resize(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let s_attr = |name: &str, default: &str| -> String {
            Self::attr(n, name)
                .and_then(|a| a.s.clone())
                .map(|s| String::from_utf8_lossy(&s).into_owned())
                .unwrap_or_else(|| default.to_string())
        };
        let mode = s_attr("mode", "nearest");
        let old = n.op_type.as_deref() == Some("Upsample") || self.opset < 11;
        let (ctm, nm) = if old {
            ("asymmetric".to_string(), "floor".to_string())
        } else {
            (
                s_attr("coordinate_transformation_mode", "half_pixel"),
                s_attr("nearest_mode", "round_prefer_floor"),
            )
        };
        // With an integer scale `s`, output `s·k + j` (`j < s`) maps to
        // source `k` under `asymmetric` + `floor`; under `half_pixel` the
        // source coordinate is `k + (j − (s − 1)/2)/s`, strictly within
        // half a step of `k`, so either rounding mode gives `k`; under
        // `asymmetric` + `round_prefer_floor` it is `k + j/s`, which rounds
        // to `k` only for `s ≤ 2` (checked below).
        let half = matches!(ctm.as_str(), "half_pixel" | "pytorch_half_pixel")
            && matches!(nm.as_str(), "round_prefer_floor" | "round_prefer_ceil");
        let asym_floor = ctm == "asymmetric" && nm == "floor";
        let asym_round = ctm == "asymmetric" && nm == "round_prefer_floor";
        if !matches!(mode.as_str(), "nearest" | "linear" | "cubic") {
            return Err(at.invalid(format!("Resize with mode = {mode}")));
        }
        if Self::attr_i(n, "antialias", 0) != 0 {
            return Err(at.unsupported("Resize with antialias = 1"));
        }
        let repeat = mode == "nearest" && (half || asym_floor || asym_round);
        let xv = self.val(at, n, 0)?;
        let Val::Node(x) = xv else {
            return Err(at.unsupported("Resize of a constant"));
        };
        let shape = self.g.ty(x).shape.clone();
        let r = shape.len();
        let (si, zi) = if old { (1, usize::MAX) } else { (2, 3) };
        // Opset 18's `axes`: the scales or sizes given are for those axes.
        let axes: Option<Vec<usize>> = Self::attr(n, "axes")
            .map(|a| {
                a.ints
                    .iter()
                    .map(|&v| norm_axis(v, r, at))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let full_shape = shape.clone();
        let shape: Vec<usize> = match &axes {
            Some(ax) => ax.iter().map(|&a| full_shape[a]).collect(),
            None => full_shape.clone(),
        };
        let r_given = shape.len();
        // The scale of each given axis and, when `sizes` is given, the
        // output sizes (else `floor(d · scale)`).
        let mut given_sizes: Option<Vec<usize>> = None;
        let scales: Vec<f32> = match self.konst(at, n, si, "scales")? {
            Some(t) if t.shape.iter().product::<usize>() > 0 => t
                .floats()
                .ok_or_else(|| at.invalid("`scales` must be f32"))?
                .to_vec(),
            _ if zi != usize::MAX => {
                let t = self
                    .konst(at, n, zi, "sizes")?
                    .ok_or_else(|| at.invalid("neither `scales` nor `sizes` is given"))?;
                let sizes = t
                    .ints()
                    .ok_or_else(|| at.invalid("`sizes` must be integers"))?;
                if sizes.len() != r_given {
                    return Err(at.invalid(format!(
                        "`sizes` has {} values for {r_given} axes",
                        sizes.len()
                    )));
                }
                if let Some(o) = sizes.iter().find(|&&o| !(1..=1 << 20).contains(&o)) {
                    return Err(at.unsupported(format!("Resize to a size of {o}")));
                }
                let policy = s_attr("keep_aspect_ratio_policy", "stretch");
                let ratios = sizes.iter().zip(&shape).map(|(&o, &i)| o as f32 / i as f32);
                // `not_larger` / `not_smaller`: one scale for every given
                // axis (the least or the greatest ratio), the sizes
                // rounded from it.
                let one = match policy.as_str() {
                    "stretch" => None,
                    "not_larger" => Some(ratios.clone().fold(f32::INFINITY, f32::min)),
                    "not_smaller" => Some(ratios.clone().fold(0.0, f32::max)),
                    other => {
                        return Err(at.invalid(format!("keep_aspect_ratio_policy = {other}")));
                    }
                };
                match one {
                    None => {
                        given_sizes = Some(sizes.iter().map(|&o| o as usize).collect());
                        ratios.collect()
                    }
                    Some(r) => {
                        let out: Vec<usize> = shape
                            .iter()
                            .map(|&i| ((r * i as f32).round() as usize).max(1))
                            .collect();
                        given_sizes = Some(out);
                        vec![r; shape.len()]
                    }
                }
            }
            _ => return Err(at.invalid("`scales` is not given")),
        };
        if scales.len() != r_given {
            return Err(at.invalid(format!(
                "`scales` has {} values for {r_given} axes",
                scales.len()
            )));
        }
        let mut per_axis = vec![1.0f32; r];
        let mut out_size = full_shape.clone();
        for (i, &s) in scales.iter().enumerate() {
            let d = axes.as_ref().map_or(i, |ax| ax[i]);
            per_axis[d] = s;
            out_size[d] = match &given_sizes {
                Some(o) => o[i],
                None => {
                    let o = (full_shape[d] as f64 * s as f64).floor();
                    if !(s.is_finite() && s > 0.0 && (1.0..=(1 << 20) as f64).contains(&o)) {
                        return Err(at.unsupported(format!(
                            "Resize with scale {s} on axis {d} (an output size of {o})"
                        )));
                    }
                    o as usize
                }
            };
        }
        let integer =
            per_axis
                .iter()
                .zip(full_shape.iter().zip(&out_size))
                .all(|(&s, (&i, &o))| {
                    s >= 1.0 && s.fract() == 0.0 && s <= 4096.0 && o == i * s as usize
                });
        if !(repeat && integer && !(asym_round && per_axis.iter().any(|&s| s > 2.0))) {
            let spec = ResizeSpec {
                linear: mode != "nearest",
                cubic: (mode == "cubic").then(|| {
                    (
                        Self::attr_f(n, "cubic_coeff_a", -0.75),
                        Self::attr_i(n, "exclude_outside", 0) != 0,
                    )
                }),
                ctm: &ctm,
                nearest: &nm,
            };
            let y = self.resize_by_gather(at, x, &per_axis, &out_size, &spec)?;
            self.set(n, 0, Val::Node(y));
            return Ok(());
        }
        if asym_round && per_axis.iter().any(|&s| s > 2.0) {
            return Err(at.unsupported(
                "Resize asymmetric with round_prefer_floor at a scale above 2 (not a repeat)",
            ));
        }
        let mut v = x;
        let mut cur = full_shape;
        for (d, &s) in per_axis.iter().enumerate() {
            if !(s >= 1.0 && s.fract() == 0.0 && s <= 4096.0) {
                return Err(at.unsupported(format!(
                    "Resize with scale {s} on axis {d} (qcc imports integer scales from 1)"
                )));
            }
            let s = s as usize;
            if s == 1 {
                continue;
            }
            let mut unit = cur.clone();
            unit.insert(d + 1, 1);
            let u = self.add_reshape(at, v, unit)?;
            let q = self.g.ty(u).elem.as_quant().cloned();
            let c = self.add(at, Op::Concat { axis: d + 1 }, &vec![u; s], q.as_ref())?;
            cur[d] *= s;
            v = self.add_reshape(at, c, cur.clone())?;
        }
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    /// Resize by ONNX's definition, one axis at a time: each output index
    /// `o` of an axis of extent `d` maps to the source coordinate `c(o)` of
    /// the coordinate transformation mode (computed in f32, as onnxruntime
    /// does); nearest takes the row `round(c)` (by `nearest_mode`) clamped
    /// into `0..d`, a `gather`; linear clamps `c` into `[0, d − 1]` and
    /// takes `x[i0] · (1 − f) + x[i1] · f` with `i0 = floor(c)`, `i1 =
    /// min(i0 + 1, d − 1)`, `f = c − i0`: two gathers, two multiplies by
    /// constant weights and an add. A quantized operand keeps its codes
    /// under nearest; under linear it is dequantized and the result
    /// quantized back with the operand's parameters (round half to even).
    fn resize_by_gather(
        &mut self,
        at: &At,
        x: qcc_ir::ValueId,
        scales: &[f32],
        out_size: &[usize],
        spec: &ResizeSpec,
    ) -> Result<qcc_ir::ValueId, ImportError> {
        let q = self.g.ty(x).elem.as_quant().cloned();
        if let Some(q) = &q
            && q.axis.is_some()
        {
            return Err(at.unsupported("Resize of a per-axis quantized tensor"));
        }
        let mut v = x;
        if spec.linear && q.is_some() {
            v = self.add(at, Op::Dequantize, &[v], None)?;
        }
        let r = out_size.len();
        for d in 0..r {
            let i_len = self.g.ty(v).shape[d];
            let o_len = out_size[d];
            if i_len == o_len && scales[d] == 1.0 {
                continue;
            }
            let s = scales[d];
            let coord = |o: usize| -> Result<f32, ImportError> {
                let (o, s, i, n) = (o as f32, s, i_len as f32, o_len as f32);
                Ok(match spec.ctm {
                    "half_pixel" => (o + 0.5) / s - 0.5,
                    "pytorch_half_pixel" if o_len > 1 => (o + 0.5) / s - 0.5,
                    "pytorch_half_pixel" => 0.0,
                    "align_corners" if o_len > 1 => o * (i - 1.0) / (n - 1.0),
                    "align_corners" => 0.0,
                    "asymmetric" => o / s,
                    "tf_half_pixel_for_nn" => (o + 0.5) / s,
                    "half_pixel_symmetric" => {
                        let adj = n / (s * i);
                        let offset = i / 2.0 * (1.0 - adj);
                        offset + (o + 0.5) / s - 0.5
                    }
                    other => {
                        return Err(at.unsupported(format!(
                            "Resize with coordinate_transformation_mode = {other}"
                        )));
                    }
                })
            };
            let last = i_len as i64 - 1;
            let mut shape = self.g.ty(v).shape.clone();
            shape[d] = o_len;
            let idx_const = |c: &mut Self, ix: Vec<i64>| -> Result<qcc_ir::ValueId, ImportError> {
                let t = Rc::new(OnnxTensor::from_ints(DType::Int32, vec![o_len], ix));
                c.const_value(at, &t, ElemType::Scalar(ScalarType::I32))
            };
            if !spec.linear {
                let mut ix = Vec::with_capacity(o_len);
                for o in 0..o_len {
                    let c = coord(o)?;
                    let k = match spec.nearest {
                        "round_prefer_floor" if c.fract().abs() == 0.5 => c.floor(),
                        "round_prefer_ceil" if c.fract().abs() == 0.5 => c.ceil(),
                        "round_prefer_floor" | "round_prefer_ceil" => c.round(),
                        "floor" => c.floor(),
                        "ceil" => c.ceil(),
                        other => {
                            return Err(
                                at.unsupported(format!("Resize with nearest_mode = {other}"))
                            );
                        }
                    };
                    ix.push((k as i64).clamp(0, last));
                }
                let idx = idx_const(self, ix)?;
                v = self.add(at, Op::Gather { axis: d }, &[v, idx], q.as_ref())?;
                continue;
            }
            // The taps: per output index, source rows and their weights.
            let ntaps = if spec.cubic.is_some() { 4 } else { 2 };
            let mut idx: Vec<Vec<i64>> = vec![Vec::with_capacity(o_len); ntaps];
            let mut wts: Vec<Vec<f32>> = vec![Vec::with_capacity(o_len); ntaps];
            for o in 0..o_len {
                match spec.cubic {
                    None => {
                        let c = coord(o)?.clamp(0.0, last as f32);
                        let k = (c.floor() as i64).min(last);
                        let f = c - k as f32;
                        idx[0].push(k);
                        idx[1].push((k + 1).min(last));
                        wts[0].push(1.0 - f);
                        wts[1].push(f);
                    }
                    Some((a, exclude)) => {
                        // Keys' cubic convolution with coefficient `a` at
                        // the four rows around `c`; rows outside the axis
                        // read the edge, or with `exclude_outside` get
                        // weight 0 and the others are renormalized.
                        let c = coord(o)?;
                        let k = c.floor();
                        let t = c - k;
                        let k = k as i64;
                        let near = |x: f32| ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
                        let far = |x: f32| ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
                        let mut w = [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)];
                        if exclude {
                            for (j, wj) in w.iter_mut().enumerate() {
                                let src = k - 1 + j as i64;
                                if !(0..=last).contains(&src) {
                                    *wj = 0.0;
                                }
                            }
                            let sum: f32 = w.iter().sum();
                            if sum != 0.0 {
                                for wj in &mut w {
                                    *wj /= sum;
                                }
                            }
                        }
                        for j in 0..4 {
                            idx[j].push((k - 1 + j as i64).clamp(0, last));
                            wts[j].push(w[j]);
                        }
                    }
                }
            }
            let mut wshape = vec![o_len];
            wshape.extend(std::iter::repeat_n(1, r - d - 1));
            let mut acc: Option<qcc_ir::ValueId> = None;
            for (ix, w) in idx.into_iter().zip(wts) {
                let ic = idx_const(self, ix)?;
                let g = self.add(at, Op::Gather { axis: d }, &[v, ic], None)?;
                let wt = Rc::new(OnnxTensor::from_f32(wshape.clone(), w));
                let wc = self.const_value(at, &wt, ElemType::F32)?;
                let p = self.add(at, Op::Mul, &[g, wc], None)?;
                acc = Some(match acc {
                    None => p,
                    Some(a) => self.add(at, Op::Add, &[a, p], None)?,
                });
            }
            v = acc.expect("two taps at least");
            debug_assert_eq!(self.g.ty(v).shape, shape);
        }
        if spec.linear
            && let Some(q) = &q
        {
            v = self.add(at, Op::Quantize, &[v], Some(q))?;
        }
        Ok(v)
    }

    /// `SpaceToDepth` (`to_depth`) and `DepthToSpace` on NCHW, as the ONNX
    /// operator definitions write them: a reshape to 6 axes, a transpose,
    /// a reshape back (DepthToSpace in its `DCR` and `CRD` modes).
    pub(super) fn space_depth(
        &mut self,
        at: &At,
        n: &NodeProto,
        to_depth: bool,
    ) -> Result<(), ImportError> {
        let Val::Node(x) = self.val(at, n, 0)? else {
            return Err(at.unsupported("SpaceToDepth / DepthToSpace of a constant"));
        };
        let b = Self::attr_i(n, "blocksize", 0);
        let shape = self.g.ty(x).shape.clone();
        let [nb, c, h, w] = <[usize; 4]>::try_from(shape.as_slice())
            .map_err(|_| at.invalid(format!("the input must be NCHW, found {shape:?}")))?;
        if b < 1 {
            return Err(at.invalid(format!("`blocksize` = {b} must be at least 1")));
        }
        let b = b as usize;
        let (six, perm, out) = if to_depth {
            if h % b != 0 || w % b != 0 {
                return Err(at.invalid(format!(
                    "the spatial dims {h}x{w} are not multiples of the blocksize {b}"
                )));
            }
            // `DCR` (the default) puts the block offsets first, `CRD`
            // (a later opset's mode) after the channel.
            let crd = Self::attr(n, "mode")
                .and_then(|a| a.s.clone())
                .is_some_and(|s| s == b"CRD");
            let perm = if crd {
                vec![0, 1, 3, 5, 2, 4]
            } else {
                vec![0, 3, 5, 1, 2, 4]
            };
            (
                vec![nb, c, h / b, b, w / b, b],
                perm,
                vec![nb, c * b * b, h / b, w / b],
            )
        } else {
            if c % (b * b) != 0 {
                return Err(at.invalid(format!(
                    "the {c} channels are not a multiple of blocksize² = {}",
                    b * b
                )));
            }
            let cc = c / (b * b);
            let out = vec![nb, cc, h * b, w * b];
            let crd = Self::attr(n, "mode")
                .and_then(|a| a.s.clone())
                .is_some_and(|s| s == b"CRD");
            if crd {
                (vec![nb, cc, b, b, h, w], vec![0, 1, 4, 2, 5, 3], out)
            } else {
                (vec![nb, b, b, cc, h, w], vec![0, 3, 4, 1, 5, 2], out)
            }
        };
        let v = self.add_reshape(at, x, six)?;
        let q = self.g.ty(v).elem.as_quant().cloned();
        let t = self.add(at, Op::Transpose { perm }, &[v], q.as_ref())?;
        let y = self.add_reshape(at, t, out)?;
        self.set(n, 0, Val::Node(y));
        Ok(())
    }

    /// `Expand` of a run-time value to a constant shape (numpy
    /// broadcasting): a reshape that adds the leading unit axes, then per
    /// axis of size 1 that grows, a `concat` of that many copies along it.
    /// Only data movement.
    pub(super) fn expand(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let Val::Node(x) = self.val(at, n, 0)? else {
            return Err(at.unsupported("Expand of a constant"));
        };
        let t = self
            .konst(at, n, 1, "shape")?
            .ok_or_else(|| at.unsupported("Expand to a run-time shape"))?;
        let want = t
            .ints()
            .ok_or_else(|| at.invalid("`shape` must be integers"))?
            .to_vec();
        let xs = self.g.ty(x).shape.clone();
        let r = xs.len().max(want.len());
        let mut cur: Vec<usize> = vec![1; r - xs.len()];
        cur.extend_from_slice(&xs);
        let mut tgt: Vec<i64> = vec![1; r - want.len()];
        tgt.extend_from_slice(&want);
        let mut out = cur.clone();
        for d in 0..r {
            let (a, b) = (cur[d] as i64, tgt[d]);
            out[d] = if b == 1 || a == b {
                a as usize
            } else if a == 1 && b > 1 && b <= 1 << 16 {
                b as usize
            } else {
                return Err(at.invalid(format!(
                    "cannot broadcast shape {xs:?} to {want:?} (axis {d}: {a} vs {b}; qcc \
                     grows an axis of size 1 to at most 65536)"
                )));
            };
        }
        let mut v = self.add_reshape(at, x, cur.clone())?;
        let q = self.g.ty(v).elem.as_quant().cloned();
        for d in 0..r {
            if out[d] != cur[d] {
                v = self.add(at, Op::Concat { axis: d }, &vec![v; out[d]], q.as_ref())?;
                cur[d] = out[d];
            }
        }
        self.set(n, 0, Val::Node(v));
        Ok(())
    }
}

/// How a Resize maps output indices to source rows.
struct ResizeSpec<'a> {
    /// Linear or cubic: values are interpolated (in f32).
    linear: bool,
    /// Cubic: `cubic_coeff_a` and `exclude_outside`.
    cubic: Option<(f32, bool)>,
    ctm: &'a str,
    nearest: &'a str,
}
