//! QDQ: QuantizeLinear, DequantizeLinear (per tensor, per axis, blocked;
//! static parameters become quant types) and DynamicQuantizeLinear.

use super::ops::{Registry, dynamic_quantize};
use super::*;

/// Registers this family's ONNX operators.
pub(super) fn register(r: &mut Registry) {
    r.add("QuantizeLinear", |c, at, n| c.quantize_linear(at, n));
    r.add("DequantizeLinear", |c, at, n| c.dequantize_linear(at, n));
    r.add("DynamicQuantizeLinear", |c, at, n| {
        c.dynamic_quantize_linear(at, n)
    });
}

impl Converter<'_> {
    // ------------------------------------------------------------------
    // Quantization

    /// The axis (`None` when out of range: only an error if parameters are
    /// per axis or blocked) and block size of a Q/DQ node.
    pub(super) fn q_axis_block(
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

    pub(super) fn quantize_linear(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
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
    pub(super) fn param_index(
        &self,
        p: &QParams,
        shape: &[usize],
    ) -> impl Fn(usize) -> usize + use<> {
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

    pub(super) fn dequantize_linear(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
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
            // Blocked constant: fold (and keep it blocked for a MatMul).
            let xs = t
                .ints()
                .ok_or_else(|| at.invalid("DequantizeLinear of floats"))?;
            if let QKind::Blocked { axis: 0, block } = p.kind
                && let [k, nn] = shape[..]
                && k.is_multiple_of(block)
                && let Some(name) = n.output.first()
            {
                let w = nbits::BlockedWeight {
                    storage: p.storage,
                    k,
                    n: nn,
                    block,
                    codes: xs.to_vec(),
                    scales: p.scale_values().to_vec(),
                    zero_points: p.zero_points.clone(),
                };
                self.blocked_dq.insert(name.clone(), Rc::new(w));
            }
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

    pub(super) fn dynamic_quantize_linear(
        &mut self,
        at: &At,
        n: &NodeProto,
    ) -> Result<(), ImportError> {
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
}
