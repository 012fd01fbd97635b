//! One function per ONNX operator (or family).

use super::*;

/// Whether a node's outputs after the first are used (an optional output
/// qcc does not compute).
fn extra_outputs(n: &NodeProto) -> bool {
    n.output.iter().skip(1).any(|s| !s.is_empty())
}

/// Computes `DynamicQuantizeLinear` on constant data: the same formula as
/// qcc's `dynamic_scale`, `dynamic_zero_point` and `quantize_dyn`
/// (`qcc_ir::quant::dynamic_params`).
pub(crate) fn dynamic_quantize(x: &[f32]) -> (Vec<i64>, f32, i64) {
    let (lo, hi) = quant::dynamic_range(x);
    let (scale, zp) = quant::dynamic_params(lo, hi);
    let q = x
        .iter()
        .map(|&v| quant::quantize_f32(v, scale, zp, 0, 255))
        .collect();
    (q, scale, zp)
}

/// Output size of a window along one dimension (with ceil_mode).
fn pooled(size: usize, k: usize, s: usize, pad: usize, dil: usize, ceil: bool) -> Option<usize> {
    let eff = dil * (k - 1) + 1;
    let span = (size + pad).checked_sub(eff)?;
    Some(if ceil { span.div_ceil(s) } else { span / s } + 1)
}

impl Converter<'_> {
    pub(super) fn node(&mut self, n: &NodeProto) -> Result<(), ImportError> {
        let op = n.op_type.clone().unwrap_or_default();
        let domain = n.domain.clone().unwrap_or_default();
        let node = n
            .name
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| n.output.first().cloned())
            .unwrap_or_else(|| "?".into());
        let at = At {
            node,
            op: op.clone(),
        };
        if !matches!(domain.as_str(), "" | "ai.onnx" | "com.microsoft") {
            return Err(at.unsupported(format!("operator domain `{domain}`")));
        }
        match op.as_str() {
            "Constant" => self.constant(&at, n),
            "Identity" | "Dropout" => {
                if extra_outputs(n) {
                    return Err(at.unsupported("the mask output of Dropout"));
                }
                let v = self.val(&at, n, 0)?;
                self.set(n, 0, v);
                Ok(())
            }
            "QuantizeLinear" => self.quantize_linear(&at, n),
            "DequantizeLinear" => self.dequantize_linear(&at, n),
            "DynamicQuantizeLinear" => self.dynamic_quantize_linear(&at, n),
            "MatMul" => self.matmul(&at, n),
            "Gemm" => self.gemm(&at, n),
            "Conv" => self.conv(&at, n),
            "Add" | "Mul" | "Sub" => self.binary(&at, n, &op),
            "Div" | "Pow" => {
                let a = self.f32_in(&at, n, 0)?;
                let b = self.f32_in(&at, n, 1)?;
                let f = if op == "Div" { Op::Div } else { Op::Pow };
                let v = self.add(&at, f, &[a, b], None)?;
                self.set(n, 0, Val::Node(v));
                Ok(())
            }
            "BatchNormalization" => self.batch_norm(&at, n),
            "Max" | "Min" => self.variadic(&at, n, if op == "Max" { Op::Max } else { Op::Min }),
            "Relu" | "Neg" | "Abs" | "Sqrt" | "Reciprocal" | "Exp" | "Log" | "Floor" | "Ceil"
            | "Round" | "Erf" | "Tanh" | "Sigmoid" | "HardSwish" | "HardSigmoid" | "Gelu" => {
                let f = match op.as_str() {
                    "Relu" => Op::Relu,
                    "Neg" => Op::Neg,
                    "Abs" => Op::Abs,
                    "Sqrt" => Op::Sqrt,
                    "Reciprocal" => Op::Reciprocal,
                    "Exp" => Op::Exp,
                    "Log" => Op::Log,
                    "Floor" => Op::Floor,
                    "Ceil" => Op::Ceil,
                    "Round" => Op::Round,
                    "Erf" => Op::Erf,
                    "Tanh" => Op::Tanh,
                    "Sigmoid" => Op::Sigmoid,
                    "HardSwish" => Op::HardSwish,
                    "HardSigmoid" => Op::HardSigmoid {
                        alpha: F32Attr(Self::attr_f(n, "alpha", 0.2)),
                        beta: F32Attr(Self::attr_f(n, "beta", 0.5)),
                    },
                    _ => {
                        let approx = Self::attr(n, "approximate")
                            .and_then(|a| a.s.clone())
                            .unwrap_or_default();
                        if !approx.is_empty() && approx != b"none" {
                            return Err(at.unsupported(format!(
                                "Gelu with approximate = \"{}\" (qcc has the exact, erf-based Gelu)",
                                String::from_utf8_lossy(&approx)
                            )));
                        }
                        Op::Gelu
                    }
                };
                let x = self.f32_in(&at, n, 0)?;
                let v = self.add(&at, f, &[x], None)?;
                self.set(n, 0, Val::Node(v));
                Ok(())
            }
            "Clip" => self.clip(&at, n),
            "MaxPool" | "AveragePool" => self.pool(&at, n, op == "MaxPool"),
            "GlobalAveragePool" => {
                let x = self.f32_in(&at, n, 0)?;
                let v = self.add(
                    &at,
                    Op::GlobalAvgPool {
                        mode: RequantMode::Float,
                    },
                    &[x],
                    None,
                )?;
                self.set(n, 0, Val::Node(v));
                Ok(())
            }
            "ReduceMean" => self.reduce_mean(&at, n),
            "Reshape" => self.reshape(&at, n),
            "Flatten" => self.flatten(&at, n),
            "Squeeze" | "Unsqueeze" => self.squeeze(&at, n, op == "Unsqueeze"),
            "Transpose" => self.transpose(&at, n),
            "Concat" => self.concat(&at, n),
            "Softmax" => self.softmax(&at, n),
            "Shape" => self.shape(&at, n),
            "Gather" => self.gather(&at, n),
            "Cast" => self.cast(&at, n),
            "QLinearMatMul" => self.qlinear_matmul(&at, n),
            "QLinearConv" => self.qlinear_conv(&at, n),
            "MatMulInteger" => self.matmul_integer(&at, n),
            "ConvInteger" => self.conv_integer(&at, n),
            "QGemm" => self.qgemm(&at, n),
            "QLinearAdd" => self.qlinear_add(&at, n),
            "QLinearMul" => self.qlinear_mul(&at, n),
            "QLinearGlobalAveragePool" => self.qlinear_global_avgpool(&at, n),
            "QLinearAveragePool" => self.qlinear_avgpool(&at, n),
            "QLinearConcat" => self.qlinear_concat(&at, n),
            "LeakyRelu" => {
                let x = self.f32_in(&at, n, 0)?;
                let v = self.leaky_relu(&at, x, Self::attr_f(n, "alpha", 0.01))?;
                self.set(n, 0, Val::Node(v));
                Ok(())
            }
            "QLinearLeakyRelu" => self.qlinear_leaky_relu(&at, n),
            "QLinearSigmoid" => self.qlinear_unary(&at, n, Op::Sigmoid),
            _ => Err(at.unsupported("qcc does not import this operator")),
        }
    }

    // ------------------------------------------------------------------
    // Constants and shape computations (folded at import time)

    fn constant(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
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

    fn shape(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
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

    fn gather(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let (Val::Const(data), Val::Const(idx)) = (self.val(at, n, 0)?, self.val(at, n, 1)?) else {
            return Err(at.unsupported("Gather on run-time values (only constants are folded)"));
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

    fn cast(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
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
    // Quantization

    /// The axis (`None` when out of range: only an error if parameters are
    /// per axis or blocked) and block size of a Q/DQ node.
    fn q_axis_block(
        &self,
        at: &At,
        n: &NodeProto,
        rank: usize,
    ) -> Result<(Option<usize>, usize), ImportError> {
        let axis = norm_axis(Self::attr_i(n, "axis", 1), rank, at).ok();
        let block = Self::attr_i(n, "block_size", 0);
        if block < 0 {
            return Err(at.invalid("negative block_size"));
        }
        Ok((axis, block as usize))
    }

    fn quantize_linear(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let x = self.val(at, n, 0)?;
        let shape = self.shape_of(&x);
        let (axis, block) = self.q_axis_block(at, n, shape.len())?;
        let out_dtype = match Self::attr_i(n, "output_dtype", 0) {
            0 => DType::Uint8,
            c => DType::from_code(c as i32),
        };
        let precision = Self::attr_i(n, "precision", 0);
        if precision != 0 && precision != 1 {
            return Err(at.unsupported(format!(
                "precision {}",
                DType::from_code(precision as i32).name()
            )));
        }
        if self.is_runtime(n, 1) || self.is_runtime(n, 2) {
            return self.quantize_linear_dyn(at, n, &x, &shape, axis, block, out_dtype);
        }
        let p = self.qparams(at, n, 1, 2, &shape, axis, block, out_dtype)?;
        if let Val::Const(t) = &x {
            // Fold: the codes are known now.
            let xs = t
                .floats()
                .ok_or_else(|| at.invalid("QuantizeLinear of integers"))?;
            let (lo, hi) = p.storage.int_range().unwrap_or((0, 0));
            let idx = self.param_index(&p, &shape);
            let q: Vec<i64> = xs
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let c = idx(i);
                    quant::quantize_f32(v, p.scale_values()[c], p.zero_points[c], lo, hi)
                })
                .collect();
            let t = OnnxTensor::from_ints(DType::of_scalar(p.storage), shape, q);
            self.set(n, 0, Val::Const(Rc::new(t)));
            return Ok(());
        }
        let Some(q) = p.quant_type(at)? else {
            // Blocked: the parameters are operands of `quantize_dyn`.
            return self.quantize_linear_dyn(at, n, &x, &shape, axis, block, out_dtype);
        };
        let xv = self.f32_of(at, &x)?;
        let v = self.add(at, Op::Quantize, &[xv], Some(&q))?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    /// Maps a flat element index of data of `shape` to its parameter index.
    fn param_index(&self, p: &QParams, shape: &[usize]) -> impl Fn(usize) -> usize + use<> {
        let st = strides(shape);
        let shape = shape.to_vec();
        let kind = p.kind.clone();
        let pshape = p.scales.shape.clone();
        let pst = strides(&pshape);
        move |i: usize| match kind {
            QKind::PerTensor => 0,
            QKind::PerAxis(a) => (i / st[a]) % shape[a],
            QKind::Blocked { axis, block } => {
                let mut j = 0;
                for k in 0..shape.len() {
                    let mut c = (i / st[k]) % shape[k];
                    if k == axis {
                        c /= block;
                    }
                    j += c * pst[k];
                }
                j
            }
        }
    }

    fn dequantize_linear(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let x = self.val(at, n, 0)?;
        let shape = self.shape_of(&x);
        let (axis, block) = self.q_axis_block(at, n, shape.len())?;
        let xdtype = self.dtype_of(&x);
        if self.is_runtime(n, 1) || self.is_runtime(n, 2) || self.is_plain_node(&x) {
            return self.dequantize_linear_dyn(at, n, &x, &shape, axis, block);
        }
        let p = self.qparams(at, n, 1, 2, &shape, axis, block, xdtype)?;
        if xdtype.scalar() != Some(p.storage) {
            return Err(at.invalid(format!(
                "x has type {} but the zero point has type {}",
                xdtype.name(),
                DType::of_scalar(p.storage).name()
            )));
        }
        if let Some(o) = Self::attr(n, "output_dtype").and_then(|a| a.i)
            && o != 0
            && o != 1
        {
            return Err(
                at.unsupported(format!("output type {}", DType::from_code(o as i32).name()))
            );
        }
        let q = p.quant_type(at)?;
        // The direct form: the operand takes the parameters as its type.
        if let Some(q) = &q {
            let direct = match &x {
                Val::Const(_) => true,
                Val::Node(id) => {
                    self.retypable.contains(id) || self.g.ty(*id).elem.as_quant() == Some(q)
                }
            };
            if direct {
                let xv = self.quant_of(at, &x, q)?;
                let v = self.add(at, Op::Dequantize, &[xv], None)?;
                self.set(n, 0, Val::Node(v));
                return Ok(());
            }
        }
        if let Val::Const(t) = &x {
            // Blocked constant: fold.
            let xs = t
                .ints()
                .ok_or_else(|| at.invalid("DequantizeLinear of floats"))?;
            let idx = self.param_index(&p, &shape);
            let y: Vec<f32> = xs
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let c = idx(i);
                    quant::dequantize_f32(v, p.scale_values()[c], p.zero_points[c])
                })
                .collect();
            self.set(n, 0, Val::Const(Rc::new(OnnxTensor::from_f32(shape, y))));
            return Ok(());
        }
        // The float form: read the codes through the raw view (exact), then
        // (q + (−z)) · s in f32, which equals f32(q − z) · s for these ranges.
        let raw = raw_type(p.storage, 0);
        let xv = self.quant_of(at, &x, &raw).map_err(|_| {
            at.unsupported("x already has other quantization parameters; qcc cannot reinterpret it")
        })?;
        let f = self.add(at, Op::Dequantize, &[xv], None)?;
        let rank = shape.len();
        let (work, pshape, back) = match p.kind {
            QKind::PerTensor => (f, vec![], None),
            QKind::PerAxis(a) => {
                let mut ps = vec![1; rank - a];
                ps[0] = shape[a];
                (f, ps, None)
            }
            QKind::Blocked { axis, block } => {
                if !shape[axis].is_multiple_of(block) {
                    return Err(at.unsupported(format!(
                        "blocked quantization with a partial last block ({} is not a multiple \
                         of {block})",
                        shape[axis]
                    )));
                }
                let mut split = shape[..axis].to_vec();
                split.push(shape[axis] / block);
                split.push(block);
                split.extend_from_slice(&shape[axis + 1..]);
                let mut ps = split.clone();
                ps[axis + 1] = 1;
                let r = self.add_reshape(at, f, split)?;
                (r, ps, Some(shape.clone()))
            }
        };
        let mut y = work;
        if p.zero_points.iter().any(|&z| z != 0) {
            let negz: Vec<f32> = p.zero_points.iter().map(|&z| -(z as f32)).collect();
            let zt = Rc::new(OnnxTensor::from_f32(pshape.clone(), negz));
            let zc = self.const_value(at, &zt, ElemType::F32)?;
            y = self.add(at, Op::Add, &[y, zc], None)?;
        }
        let st = Rc::new(OnnxTensor::from_f32(pshape, p.scale_values().to_vec()));
        let sc = self.const_value(at, &st, ElemType::F32)?;
        y = self.add(at, Op::Mul, &[y, sc], None)?;
        if let Some(s) = back {
            y = self.add_reshape(at, y, s)?;
        }
        self.set(n, 0, Val::Node(y));
        Ok(())
    }

    fn dynamic_quantize_linear(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let x = self.val(at, n, 0)?;
        let Val::Const(t) = x else {
            return self.dynamic_quantize_runtime(at, n, &x);
        };
        let xs = t.floats().ok_or_else(|| at.invalid("x must be float"))?;
        let (q, s, z) = dynamic_quantize(xs);
        self.set(
            n,
            0,
            Val::Const(Rc::new(OnnxTensor::from_ints(
                DType::Uint8,
                t.shape.clone(),
                q,
            ))),
        );
        self.set(
            n,
            1,
            Val::Const(Rc::new(OnnxTensor::from_f32(vec![], vec![s]))),
        );
        self.set(
            n,
            2,
            Val::Const(Rc::new(OnnxTensor::from_ints(
                DType::Uint8,
                vec![],
                vec![z],
            ))),
        );
        Ok(())
    }

    // ------------------------------------------------------------------
    // Float ops

    fn matmul(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let a = self.f32_in(at, n, 0)?;
        let b = self.f32_in(at, n, 1)?;
        let v = self.add(at, Op::MatMul, &[a, b], None)?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    /// A 2-d value `[K, N]` as `[N, K]` (folded for constants).
    fn transposed_2d(&mut self, at: &At, v: &Val) -> Result<Val, ImportError> {
        Ok(match v {
            Val::Const(t) if t.shape.len() == 2 => Val::Const(Rc::new(transpose_const(t, &[1, 0]))),
            Val::Node(id) => Val::Node(self.add(
                at,
                Op::Transpose { perm: vec![1, 0] },
                &[*id],
                self.g.ty(*id).elem.as_quant().cloned().as_ref(),
            )?),
            _ => return Err(at.invalid("a 2-d operand is needed")),
        })
    }

    fn gemm(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let alpha = Self::attr_f(n, "alpha", 1.0);
        let beta = Self::attr_f(n, "beta", 1.0);
        let a = self.val(at, n, 0)?;
        let a = if Self::attr_i(n, "transA", 0) != 0 {
            self.transposed_2d(at, &a)?
        } else {
            a
        };
        let b = self.val(at, n, 1)?;
        // dense wants w [N, K]: B itself when transB, else Bᵀ.
        let w = if Self::attr_i(n, "transB", 0) != 0 {
            b
        } else {
            self.transposed_2d(at, &b)?
        };
        let x = self.f32_of(at, &a)?;
        let w = self.f32_of(at, &w)?;
        let nn = self.g.ty(w).shape.first().copied().unwrap_or(0);
        let c = self.opt_val(at, n, 2)?;
        let mut bias = None;
        if alpha == 1.0
            && beta == 1.0
            && let Some(cv) = &c
        {
            let cs = self.shape_of(cv);
            if cs == [nn] || cs == [1, nn] {
                let cf = self.f32_of(at, cv)?;
                bias = Some(self.add_reshape(at, cf, vec![nn])?);
            }
        }
        let mut args = vec![x, w];
        args.extend(bias);
        let mut y = self.add(at, Op::Dense, &args, None)?;
        if alpha != 1.0 {
            let s = self.f32_scalar(at, alpha)?;
            y = self.add(at, Op::Mul, &[y, s], None)?;
        }
        if bias.is_none()
            && let Some(cv) = c
        {
            let cf = match (&cv, beta) {
                (_, 1.0) => self.f32_of(at, &cv)?,
                (Val::Const(t), _) => {
                    let v: Vec<f32> = t
                        .floats()
                        .ok_or_else(|| at.invalid("C must be float"))?
                        .iter()
                        .map(|&x| beta * x)
                        .collect();
                    let t = Rc::new(OnnxTensor::from_f32(t.shape.clone(), v));
                    self.const_value(at, &t, ElemType::F32)?
                }
                (Val::Node(_), _) => {
                    let cf = self.f32_of(at, &cv)?;
                    let s = self.f32_scalar(at, beta)?;
                    self.add(at, Op::Mul, &[cf, s], None)?
                }
            };
            y = self.add(at, Op::Add, &[y, cf], None)?;
        }
        self.set(n, 0, Val::Node(y));
        Ok(())
    }

    /// Strides, pads, dilations and groups of a 2-d Conv-like node whose
    /// input has shape `x` and whose kernel is `k`.
    pub(super) fn conv_attrs(
        &self,
        at: &At,
        n: &NodeProto,
        x: &[usize],
        k: [usize; 2],
    ) -> Result<Conv2dAttrs, ImportError> {
        if x.len() != 4 {
            return Err(at.unsupported(format!(
                "only 2-d convolutions (NCHW inputs) are supported; the input has shape {x:?}"
            )));
        }
        let two = |name: &str| -> Result<[usize; 2], ImportError> {
            match Self::attr_ints(n, name) {
                None => Ok([1, 1]),
                Some(v) if v.len() == 2 && v.iter().all(|&s| s >= 1) => {
                    Ok([v[0] as usize, v[1] as usize])
                }
                Some(v) => Err(at.invalid(format!("`{name}` must be two values ≥ 1, found {v:?}"))),
            }
        };
        let strides = two("strides")?;
        let dilations = two("dilations")?;
        let group = Self::attr_i(n, "group", 1);
        if group < 1 {
            return Err(at.invalid("group must be ≥ 1"));
        }
        let pads = self.pads(at, n, x, k, strides, dilations)?;
        Ok(Conv2dAttrs {
            strides,
            pads,
            dilations,
            groups: group as usize,
        })
    }

    fn pads(
        &self,
        at: &At,
        n: &NodeProto,
        x: &[usize],
        k: [usize; 2],
        strides: [usize; 2],
        dil: [usize; 2],
    ) -> Result<[usize; 4], ImportError> {
        let auto = Self::attr_s(n, "auto_pad").unwrap_or_else(|| "NOTSET".into());
        match auto.as_str() {
            "NOTSET" => match Self::attr_ints(n, "pads") {
                None => Ok([0; 4]),
                Some(p) if p.len() == 4 && p.iter().all(|&v| v >= 0) => {
                    Ok([p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize])
                }
                Some(p) => Err(at.invalid(format!("`pads` must be four values ≥ 0, found {p:?}"))),
            },
            "VALID" => Ok([0; 4]),
            "SAME_UPPER" | "SAME_LOWER" => {
                let mut pads = [0; 4];
                for d in 0..2 {
                    let size = x[2 + d];
                    let out = size.div_ceil(strides[d]);
                    let need =
                        ((out - 1) * strides[d] + (k[d] - 1) * dil[d] + 1).saturating_sub(size);
                    let (small, big) = (need / 2, need - need / 2);
                    if auto == "SAME_UPPER" {
                        pads[d] = small;
                        pads[d + 2] = big;
                    } else {
                        pads[d] = big;
                        pads[d + 2] = small;
                    }
                }
                Ok(pads)
            }
            other => Err(at.invalid(format!("auto_pad `{other}`"))),
        }
    }

    pub(super) fn kernel_hw(&self, at: &At, w: &[usize]) -> Result<[usize; 2], ImportError> {
        if w.len() != 4 {
            return Err(at.unsupported(format!(
                "only 2-d convolutions are supported; the weight has shape {w:?}"
            )));
        }
        Ok([w[2], w[3]])
    }

    fn conv(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let x = self.f32_in(at, n, 0)?;
        let w = self.f32_in(at, n, 1)?;
        let xs = self.g.ty(x).shape.clone();
        let k = self.kernel_hw(at, &self.g.ty(w).shape.clone())?;
        let attrs = self.conv_attrs(at, n, &xs, k)?;
        let mut args = vec![x, w];
        if Self::input_name(n, 2).is_some() {
            args.push(self.f32_in(at, n, 2)?);
        }
        let v = self.add(at, Op::Conv2d(attrs), &args, None)?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    fn binary(&mut self, at: &At, n: &NodeProto, op: &str) -> Result<(), ImportError> {
        let a = self.f32_in(at, n, 0)?;
        let bv = self.val(at, n, 1)?;
        let (qop, b) = match op {
            "Sub" => {
                // a − b is a + (−b) exactly in IEEE arithmetic: a constant
                // b becomes an add (which the QDQ rules know).
                let Val::Const(t) = &bv else {
                    let b = self.f32_of(at, &bv)?;
                    let v = self.add(at, Op::Sub, &[a, b], None)?;
                    self.set(n, 0, Val::Node(v));
                    return Ok(());
                };
                let v: Vec<f32> = t
                    .floats()
                    .ok_or_else(|| at.unsupported("integer Sub"))?
                    .iter()
                    .map(|&x| -x)
                    .collect();
                let t = Rc::new(OnnxTensor::from_f32(t.shape.clone(), v));
                (Op::Add, self.const_value(at, &t, ElemType::F32)?)
            }
            "Add" => (Op::Add, self.f32_of(at, &bv)?),
            _ => (Op::Mul, self.f32_of(at, &bv)?),
        };
        if qop == Op::Mul
            && let Some(v) = self.scaled_cast(at, a, b)?
        {
            self.set(n, 0, Val::Node(v));
            return Ok(());
        }
        let v = self.add(at, qop, &[a, b], None)?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    fn clip(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let x = self.f32_in(at, n, 0)?;
        let bound = |this: &Self, i: usize, attr: &str| -> Result<Option<f32>, ImportError> {
            if this.opset < 11 {
                return Ok(Self::attr(n, attr).and_then(|a| a.f));
            }
            match this.konst(at, n, i, attr)? {
                None => Ok(None),
                Some(t) => t
                    .floats()
                    .and_then(|v| v.first().copied())
                    .map(Some)
                    .ok_or_else(|| at.invalid(format!("`{attr}` must be a float scalar"))),
            }
        };
        let lo = bound(self, 1, "min")?;
        let hi = bound(self, 2, "max")?;
        let v = match (lo, hi) {
            (Some(l), None) if l == 0.0 && l.is_sign_positive() => {
                self.add(at, Op::Relu, &[x], None)?
            }
            (None, None) => x,
            _ => {
                let l = lo.unwrap_or(f32::MIN);
                let h = hi.unwrap_or(f32::MAX);
                if !(l.is_finite() && h.is_finite()) {
                    return Err(at.unsupported("infinite Clip bounds"));
                }
                self.add(
                    at,
                    Op::Clamp {
                        min: F32Attr(l),
                        max: F32Attr(h),
                    },
                    &[x],
                    None,
                )?
            }
        };
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    fn pool_attrs(&self, at: &At, n: &NodeProto, x: &[usize]) -> Result<Pool2dAttrs, ImportError> {
        if x.len() != 4 {
            return Err(at.unsupported(format!("only 2-d pooling (NCHW); input shape {x:?}")));
        }
        let k = match Self::attr_ints(n, "kernel_shape") {
            Some(v) if v.len() == 2 && v.iter().all(|&s| s >= 1) => [v[0] as usize, v[1] as usize],
            other => {
                return Err(at.invalid(format!(
                    "kernel_shape must be two values ≥ 1, found {other:?}"
                )));
            }
        };
        let two = |name: &str| -> Result<[usize; 2], ImportError> {
            match Self::attr_ints(n, name) {
                None => Ok([1, 1]),
                Some(v) if v.len() == 2 && v.iter().all(|&s| s >= 1) => {
                    Ok([v[0] as usize, v[1] as usize])
                }
                Some(v) => Err(at.invalid(format!("`{name}` must be two values ≥ 1, found {v:?}"))),
            }
        };
        let strides = two("strides")?;
        let dil = two("dilations")?;
        if dil != [1, 1] {
            return Err(at.unsupported("dilated pooling"));
        }
        let pads = self.pads(at, n, x, k, strides, dil)?;
        if Self::attr_i(n, "ceil_mode", 0) != 0 {
            for d in 0..2 {
                let size = x[2 + d];
                let p = pads[d] + pads[d + 2];
                if pooled(size, k[d], strides[d], p, 1, true)
                    != pooled(size, k[d], strides[d], p, 1, false)
                {
                    return Err(at.unsupported("ceil_mode that adds a partial window"));
                }
            }
        }
        let mut a = Pool2dAttrs::new(k);
        a.strides = strides;
        a.pads = pads;
        Ok(a)
    }

    fn pool(&mut self, at: &At, n: &NodeProto, max: bool) -> Result<(), ImportError> {
        if extra_outputs(n) {
            return Err(at.unsupported("the Indices output of MaxPool"));
        }
        let xv = self.val(at, n, 0)?;
        let xs = self.shape_of(&xv);
        let mut a = self.pool_attrs(at, n, &xs)?;
        let v = if max {
            let x = match &xv {
                Val::Node(id) => *id,
                Val::Const(_) => self.f32_of(at, &xv)?,
            };
            let q = self.g.ty(x).elem.as_quant().cloned();
            self.add(at, Op::MaxPool2d(a), &[x], q.as_ref())?
        } else {
            a.count_include_pad = Self::attr_i(n, "count_include_pad", 0) != 0;
            let x = self.f32_of(at, &xv)?;
            self.add(at, Op::AvgPool2d(a), &[x], None)?
        };
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    // ------------------------------------------------------------------
    // Data movement

    fn move_val(&mut self, at: &At, n: &NodeProto, shape: Vec<usize>) -> Result<(), ImportError> {
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

    fn reshape(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
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

    fn flatten(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
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

    fn squeeze(&mut self, at: &At, n: &NodeProto, unsqueeze: bool) -> Result<(), ImportError> {
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

    fn transpose(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
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

    fn concat(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
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

    fn softmax(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let x = self.f32_in(at, n, 0)?;
        let s = self.g.ty(x).shape.clone();
        let r = s.len();
        let default = if self.opset >= 13 { -1 } else { 1 };
        let axis = norm_axis(Self::attr_i(n, "axis", default), r, at)?;
        let v = if self.opset >= 13 || axis == r - 1 {
            self.add(at, Op::Softmax { axis }, &[x], None)?
        } else {
            // Before opset 13: softmax over the flattened trailing dims.
            let f = self.add(at, Op::Flatten { axis }, &[x], None)?;
            let y = self.add(at, Op::Softmax { axis: 1 }, &[f], None)?;
            self.add_reshape(at, y, s)?
        };
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    // ------------------------------------------------------------------
    // QOperator ops

    /// Parameters of a weight-like operand: per tensor, or per axis on
    /// `axis` when the scale has one value per index.
    #[allow(clippy::too_many_arguments)]
    fn weight_type(
        &self,
        at: &At,
        n: &NodeProto,
        wi: usize,
        si: usize,
        zi: usize,
        axis: usize,
    ) -> Result<QuantType, ImportError> {
        let w = self.val(at, n, wi)?;
        let shape = self.shape_of(&w);
        let dt = self.dtype_of(&w);
        let p = self.qparams(at, n, si, zi, &shape, Some(axis), 0, dt)?;
        p.quant_type(at)?
            .ok_or_else(|| at.unsupported("blocked weights"))
    }

    fn requant_out(
        &mut self,
        at: &At,
        n: &NodeProto,
        acc: ValueId,
        si: usize,
        zi: usize,
    ) -> Result<(), ImportError> {
        let y = self.per_tensor(at, n, si, zi, DType::Uint8, "the output")?;
        let v = self.add(
            at,
            Op::Requantize {
                mode: RequantMode::Float,
            },
            &[acc],
            Some(&y),
        )?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    fn qlinear_matmul(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let av = self.val(at, n, 0)?;
        let bv = self.val(at, n, 3)?;
        let adt = self.dtype_of(&av);
        let aq = self.per_tensor(at, n, 1, 2, adt, "a")?;
        let bshape = self.shape_of(&bv);
        let bq = self.weight_type(at, n, 3, 4, 5, bshape.len().saturating_sub(1))?;
        let a = self.quant_of(at, &av, &aq)?;
        let b = self.quant_of(at, &bv, &bq)?;
        if bshape.len() == 2 {
            let acc = self.add(
                at,
                Op::MatMulInt(qcc_ir::IntAttrs::default()),
                &[a, b],
                None,
            )?;
            return self.requant_out(at, n, acc, 6, 7);
        }
        // Batched b: qcc's matmul_int takes a 2-d b, so go through float
        // (dequantize, matmul, quantize): equal to the integer form except
        // where an f32 sum lands on a rounding tie.
        let af = self.add(at, Op::Dequantize, &[a], None)?;
        let bf = self.add(at, Op::Dequantize, &[b], None)?;
        let y = self.add(at, Op::MatMul, &[af, bf], None)?;
        let yq = self.per_tensor(at, n, 6, 7, DType::Uint8, "the output")?;
        let v = self.add(at, Op::Quantize, &[y], Some(&yq))?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    /// An int32 bias as a plain i32 operand.
    fn bias_in(
        &mut self,
        at: &At,
        n: &NodeProto,
        i: usize,
    ) -> Result<Option<ValueId>, ImportError> {
        let Some(v) = self.opt_val(at, n, i)? else {
            return Ok(None);
        };
        match &v {
            Val::Const(t) if t.dtype == DType::Int32 => {
                Ok(Some(self.const_value(at, t, ElemType::I32)?))
            }
            _ => Err(at.unsupported("a bias that is not a constant int32 tensor")),
        }
    }

    fn qlinear_conv(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let xv = self.val(at, n, 0)?;
        let xq = self.per_tensor(at, n, 1, 2, self.dtype_of(&xv), "x")?;
        let wq = self.weight_type(at, n, 3, 4, 5, 0)?;
        let x = self.quant_of(at, &xv, &xq)?;
        let w = self.quant_in(at, n, 3, &wq)?;
        let k = self.kernel_hw(at, &self.g.ty(w).shape.clone())?;
        let attrs = self.conv_attrs(at, n, &self.g.ty(x).shape.clone(), k)?;
        let mut args = vec![x, w];
        args.extend(self.bias_in(at, n, 8)?);
        let acc = self.add(
            at,
            Op::Conv2dInt(attrs, qcc_ir::IntAttrs::default()),
            &args,
            None,
        )?;
        self.requant_out(at, n, acc, 6, 7)
    }

    /// Zero points of MatMulInteger / ConvInteger as raw types (scale 1).
    fn raw_operand(
        &mut self,
        at: &At,
        n: &NodeProto,
        vi: usize,
        zi: usize,
        axis: Option<usize>,
    ) -> Result<ValueId, ImportError> {
        let v = self.val(at, n, vi)?;
        let dt = self.dtype_of(&v);
        let storage = dt
            .scalar()
            .filter(|s| *s != ScalarType::F32)
            .ok_or_else(|| at.unsupported(format!("operand type {}", dt.name())))?;
        let zp = self.konst(at, n, zi, "zero point")?;
        let q = match zp {
            None => raw_type(storage, 0),
            Some(z) => {
                let zs = z.ints().ok_or_else(|| at.invalid("float zero point"))?;
                if zs.len() == 1 {
                    raw_type(storage, zs[0])
                } else if let Some(a) = axis
                    && self.shape_of(&v).get(a) == Some(&zs.len())
                {
                    QuantType::per_axis(storage, a, vec![1.0; zs.len()], zs.to_vec())
                } else {
                    return Err(at.unsupported(format!(
                        "{} zero points for this operand (per-row zero points of the \
                         activation are not supported)",
                        zs.len()
                    )));
                }
            }
        };
        q.check().map_err(|m| at.invalid(m))?;
        self.quant_of(at, &v, &q)
    }

    fn matmul_integer(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        if self.needs_dyn_integer(at, n)? {
            return self.matmul_integer_dyn(at, n);
        }
        let a = self.raw_operand(at, n, 0, 2, None)?;
        let brank = self.shape_of(&self.val(at, n, 1)?).len();
        let b = self.raw_operand(at, n, 1, 3, Some(brank.saturating_sub(1)))?;
        let v = self.add(
            at,
            Op::MatMulInt(qcc_ir::IntAttrs::default()),
            &[a, b],
            None,
        )?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    fn conv_integer(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        if self.needs_dyn_integer(at, n)? {
            return self.conv_integer_dyn(at, n);
        }
        let x = self.raw_operand(at, n, 0, 2, None)?;
        let w = self.raw_operand(at, n, 1, 3, Some(0))?;
        let k = self.kernel_hw(at, &self.g.ty(w).shape.clone())?;
        let attrs = self.conv_attrs(at, n, &self.g.ty(x).shape.clone(), k)?;
        let v = self.add(
            at,
            Op::Conv2dInt(attrs, qcc_ir::IntAttrs::default()),
            &[x, w],
            None,
        )?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    fn qgemm(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        if Self::attr_f(n, "alpha", 1.0) != 1.0 {
            return Err(at.unsupported("alpha ≠ 1"));
        }
        let av = self.val(at, n, 0)?;
        let aq = self.per_tensor(at, n, 1, 2, self.dtype_of(&av), "A")?;
        let mut a = self.quant_of(at, &av, &aq)?;
        if Self::attr_i(n, "transA", 0) != 0 {
            a = self.add(at, Op::Transpose { perm: vec![1, 0] }, &[a], Some(&aq))?;
        }
        let trans_b = Self::attr_i(n, "transB", 0) != 0;
        // matmul_int wants w [K, N]; per-column parameters are on N.
        let bq = self.weight_type(at, n, 3, 4, 5, if trans_b { 0 } else { 1 })?;
        let bv = self.val(at, n, 3)?;
        let b = if trans_b {
            match &bv {
                Val::Const(t) if t.shape.len() == 2 => {
                    let tt = Rc::new(transpose_const(t, &[1, 0]));
                    let mut q = bq.clone();
                    q.axis = q.axis.map(|_| 1);
                    self.const_value(at, &tt, ElemType::quant(q))?
                }
                _ => {
                    let b = self.quant_of(at, &bv, &bq)?;
                    let mut q = bq.clone();
                    q.axis = q.axis.map(|_| 1);
                    self.add(at, Op::Transpose { perm: vec![1, 0] }, &[b], Some(&q))?
                }
            }
        } else {
            self.quant_of(at, &bv, &bq)?
        };
        let mut args = vec![a, b];
        args.extend(self.bias_in(at, n, 6)?);
        let acc = self.add(at, Op::MatMulInt(qcc_ir::IntAttrs::default()), &args, None)?;
        if Self::input_name(n, 7).is_some() {
            self.requant_out(at, n, acc, 7, 8)
        } else {
            let v = self.add(at, Op::Dequantize, &[acc], None)?;
            self.set(n, 0, Val::Node(v));
            Ok(())
        }
    }

    fn qlinear_add(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let av = self.val(at, n, 0)?;
        let bv = self.val(at, n, 3)?;
        let aq = self.per_tensor(at, n, 1, 2, self.dtype_of(&av), "A")?;
        let bq = self.per_tensor(at, n, 4, 5, self.dtype_of(&bv), "B")?;
        let cq = self.per_tensor(at, n, 6, 7, DType::Uint8, "C")?;
        let a = self.quant_of(at, &av, &aq)?;
        let b = self.quant_of(at, &bv, &bq)?;
        let v = self.add(
            at,
            Op::AddInt {
                mode: RequantMode::Float,
            },
            &[a, b],
            Some(&cq),
        )?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    fn qlinear_mul(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        // No integer multiply in qcc: through float.
        let av = self.val(at, n, 0)?;
        let bv = self.val(at, n, 3)?;
        let aq = self.per_tensor(at, n, 1, 2, self.dtype_of(&av), "A")?;
        let bq = self.per_tensor(at, n, 4, 5, self.dtype_of(&bv), "B")?;
        let cq = self.per_tensor(at, n, 6, 7, DType::Uint8, "C")?;
        let a = self.quant_of(at, &av, &aq)?;
        let b = self.quant_of(at, &bv, &bq)?;
        let af = self.add(at, Op::Dequantize, &[a], None)?;
        let bf = self.add(at, Op::Dequantize, &[b], None)?;
        let y = self.add(at, Op::Mul, &[af, bf], None)?;
        let v = self.add(at, Op::Quantize, &[y], Some(&cq))?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    fn qlinear_global_avgpool(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        if Self::attr_i(n, "channels_last", 0) != 0 {
            return Err(at.unsupported("channels_last"));
        }
        let xv = self.val(at, n, 0)?;
        let xq = self.per_tensor(at, n, 1, 2, self.dtype_of(&xv), "X")?;
        let yq = self.per_tensor(at, n, 3, 4, DType::of_scalar(xq.storage), "Y")?;
        let x = self.quant_of(at, &xv, &xq)?;
        let v = self.add(
            at,
            Op::GlobalAvgPool {
                mode: RequantMode::Float,
            },
            &[x],
            Some(&yq),
        )?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    fn qlinear_avgpool(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        if Self::attr_i(n, "channels_last", 0) != 0 {
            return Err(at.unsupported("channels_last"));
        }
        let xv = self.val(at, n, 0)?;
        let xq = self.per_tensor(at, n, 1, 2, self.dtype_of(&xv), "X")?;
        let yq = self.per_tensor(at, n, 3, 4, DType::of_scalar(xq.storage), "Y")?;
        let x = self.quant_of(at, &xv, &xq)?;
        let mut a = self.pool_attrs(at, n, &self.g.ty(x).shape.clone())?;
        a.count_include_pad = Self::attr_i(n, "count_include_pad", 0) != 0;
        let v = self.add(at, Op::AvgPool2d(a), &[x], Some(&yq))?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    /// `relu(x) + (−alpha) · relu(−x)`: for x < 0 that is `alpha · x`
    /// exactly (negations are exact, and `(−a)·(−x)` rounds like `a·x`), for
    /// x ≥ 0 it is x; only the sign of a zero result can differ from
    /// ONNX's definition.
    fn leaky_relu(&mut self, at: &At, x: ValueId, alpha: f32) -> Result<ValueId, ImportError> {
        self.add(
            at,
            Op::LeakyRelu {
                alpha: F32Attr(alpha),
            },
            &[x],
            None,
        )
    }

    /// Inference-mode `BatchNormalization` with constant statistics:
    /// `y = x·a + b` per channel (axis 1), with `a = scale / sqrt(var + ε)`
    /// and `b = B − mean·a` computed in f32 at import, as onnxruntime's
    /// kernel precomputes them; `fold-constants` and the QDQ rules then see
    /// a `mul` and an `add` of constants.
    fn batch_norm(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        if extra_outputs(n) || Self::attr_i(n, "training_mode", 0) != 0 {
            return Err(at.unsupported("BatchNormalization in training mode"));
        }
        let x = self.f32_in(at, n, 0)?;
        let rank = self.g.ty(x).shape.len();
        let c = *self
            .g
            .ty(x)
            .shape
            .get(1)
            .ok_or_else(|| at.invalid("the input has no channel axis"))?;
        let eps = Self::attr_f(n, "epsilon", 1e-5);
        let mut p = Vec::new();
        for (i, role) in ["scale", "B", "input_mean", "input_var"].iter().enumerate() {
            let t = self
                .konst(at, n, i + 1, role)?
                .ok_or_else(|| at.invalid(format!("missing input `{role}`")))?;
            let v = t
                .floats()
                .filter(|v| v.len() == c)
                .ok_or_else(|| at.unsupported(format!("`{role}` must be {c} f32 values")))?
                .to_vec();
            p.push(v);
        }
        let a: Vec<f32> = (0..c).map(|k| p[0][k] / (p[3][k] + eps).sqrt()).collect();
        let b: Vec<f32> = (0..c).map(|k| p[1][k] - p[2][k] * a[k]).collect();
        let mut shape = vec![c];
        shape.resize(rank.saturating_sub(1).max(1), 1);
        let ta = Rc::new(OnnxTensor::from_f32(shape.clone(), a));
        let tb = Rc::new(OnnxTensor::from_f32(shape, b));
        let va = self.const_value(at, &ta, ElemType::F32)?;
        let vb = self.const_value(at, &tb, ElemType::F32)?;
        let m = self.add(at, Op::Mul, &[x, va], None)?;
        let v = self.add(at, Op::Add, &[m, vb], None)?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    /// `ReduceMean` over the two spatial axes of an NCHW tensor with
    /// `keepdims = 1` (the squeeze-and-excitation pooling exporters write
    /// instead of GlobalAveragePool): `global_avgpool`, the same sum in
    /// row-major order divided once by `H·W`. Other reductions are not yet
    /// imported.
    fn reduce_mean(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let x = self.f32_in(at, n, 0)?;
        let rank = self.g.ty(x).shape.len() as i64;
        let axes: Vec<i64> = if self.opset >= 18 {
            match self.konst(at, n, 1, "axes")? {
                Some(t) => t.ints().map(|v| v.to_vec()).unwrap_or_default(),
                None => Vec::new(),
            }
        } else {
            Self::attr(n, "axes")
                .map(|a| a.ints.clone())
                .unwrap_or_default()
        };
        let mut axes: Vec<i64> = axes
            .iter()
            .map(|&a| if a < 0 { a + rank } else { a })
            .collect();
        axes.sort_unstable();
        if rank != 4 || axes != [2, 3] || Self::attr_i(n, "keepdims", 1) != 1 {
            return Err(at.unsupported(format!(
                "ReduceMean over axes {axes:?} of a rank-{rank} tensor (qcc imports the mean over \
                 the spatial axes [2, 3] of NCHW with keepdims = 1)"
            )));
        }
        let v = self.add(
            at,
            Op::GlobalAvgPool {
                mode: RequantMode::Float,
            },
            &[x],
            None,
        )?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    /// `Max` / `Min` of one or more inputs (numpy broadcasting), folded
    /// left to right into binary ops.
    fn variadic(&mut self, at: &At, n: &NodeProto, f: Op) -> Result<(), ImportError> {
        let count = n.input.iter().filter(|s| !s.is_empty()).count();
        if count == 0 {
            return Err(at.invalid("no inputs"));
        }
        let mut acc = self.f32_in(at, n, 0)?;
        for i in 1..count {
            let b = self.f32_in(at, n, i)?;
            acc = self.add(at, f.clone(), &[acc, b], None)?;
        }
        self.set(n, 0, Val::Node(acc));
        Ok(())
    }

    /// A com.microsoft QLinear unary op (`QLinearSigmoid`): dequantize, the
    /// float function, quantize, as onnxruntime defines it (its kernel is a
    /// table built from that float computation; `fold-lookup` builds qcc's
    /// from the interpreter's).
    fn qlinear_unary(&mut self, at: &At, n: &NodeProto, f: Op) -> Result<(), ImportError> {
        let xv = self.val(at, n, 0)?;
        let xq = self.per_tensor(at, n, 1, 2, self.dtype_of(&xv), "X")?;
        let yq = self.per_tensor(at, n, 3, 4, DType::of_scalar(xq.storage), "Y")?;
        let x = self.quant_of(at, &xv, &xq)?;
        let d = self.add(at, Op::Dequantize, &[x], None)?;
        let y = self.add(at, f, &[d], None)?;
        let v = self.add(at, Op::Quantize, &[y], Some(&yq))?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    fn qlinear_leaky_relu(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        // onnxruntime builds a table from dequantize → leaky relu →
        // quantize in f32; the float path computes the same per element.
        let xv = self.val(at, n, 0)?;
        let xq = self.per_tensor(at, n, 1, 2, self.dtype_of(&xv), "X")?;
        let yq = self.per_tensor(at, n, 3, 4, DType::of_scalar(xq.storage), "Y")?;
        let x = self.quant_of(at, &xv, &xq)?;
        let f = self.add(at, Op::Dequantize, &[x], None)?;
        let y = self.leaky_relu(at, f, Self::attr_f(n, "alpha", 0.01))?;
        let v = self.add(at, Op::Quantize, &[y], Some(&yq))?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    fn qlinear_concat(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        if n.input.len() < 5 || !(n.input.len() - 2).is_multiple_of(3) {
            return Err(at.invalid("inputs must be Y_scale, Y_zero_point, then triples"));
        }
        let first = self.val(at, n, 2)?;
        let yq = self.per_tensor(at, n, 0, 1, self.dtype_of(&first), "Y")?;
        let r = self.shape_of(&first).len();
        let axis = norm_axis(Self::attr_i(n, "axis", 0), r, at)?;
        let mut args = Vec::new();
        for k in 0..(n.input.len() - 2) / 3 {
            let i = 2 + 3 * k;
            let v = self.val(at, n, i)?;
            let q = self.per_tensor(at, n, i + 1, i + 2, self.dtype_of(&v), "an input")?;
            let x = self.quant_of(at, &v, &q)?;
            let x = if q == yq {
                x
            } else {
                // Other parameters: onnxruntime rescales through the real
                // value; dequantize + quantize computes exactly that.
                let f = self.add(at, Op::Dequantize, &[x], None)?;
                self.add(at, Op::Quantize, &[f], Some(&yq))?
            };
            args.push(x);
        }
        let v = self.add(at, Op::Concat { axis }, &args, Some(&yq))?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }
}
