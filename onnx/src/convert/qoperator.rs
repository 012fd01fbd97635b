//! QOperator: the QLinear* ops and QGemm (onnxruntime's quantized
//! operators), MatMulInteger and ConvInteger.

use super::ops::Registry;
use super::*;

/// Registers this family's ONNX operators.
pub(super) fn register(r: &mut Registry) {
    r.add("QLinearMatMul", |c, at, n| c.qlinear_matmul(at, n));
    r.add("QLinearConv", |c, at, n| c.qlinear_conv(at, n));
    r.add("MatMulInteger", |c, at, n| c.matmul_integer(at, n));
    r.add("ConvInteger", |c, at, n| c.conv_integer(at, n));
    r.add("QGemm", |c, at, n| c.qgemm(at, n));
    r.add("QLinearAdd", |c, at, n| c.qlinear_add(at, n));
    r.add("QLinearMul", |c, at, n| c.qlinear_mul(at, n));
    r.add("QLinearGlobalAveragePool", |c, at, n| {
        c.qlinear_global_avgpool(at, n)
    });
    r.add("QLinearAveragePool", |c, at, n| c.qlinear_avgpool(at, n));
    r.add("QLinearConcat", |c, at, n| c.qlinear_concat(at, n));
    r.add("QLinearLeakyRelu", |c, at, n| c.qlinear_leaky_relu(at, n));
    r.add("QLinearSigmoid", |c, at, n| {
        c.qlinear_unary(at, n, Op::Sigmoid)
    });
    r.add("QLinearSoftmax", |c, at, n| c.qlinear_softmax(at, n));
}

impl Converter<'_> {
    // ------------------------------------------------------------------
    // QOperator ops

    /// Parameters of a weight-like operand: per tensor, or per axis on
    /// `axis` when the scale has one value per index.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn weight_type(
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

    pub(super) fn requant_out(
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

    pub(super) fn qlinear_matmul(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
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
    pub(super) fn bias_in(
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

    pub(super) fn qlinear_conv(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
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
    pub(super) fn raw_operand(
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

    pub(super) fn matmul_integer(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
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

    pub(super) fn conv_integer(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
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

    pub(super) fn qgemm(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
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

    pub(super) fn qlinear_add(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let av = self.val(at, n, 0)?;
        let bv = self.val(at, n, 3)?;
        let aq = self.per_tensor(at, n, 1, 2, self.dtype_of(&av), "A")?;
        let bq = self.per_tensor(at, n, 4, 5, self.dtype_of(&bv), "B")?;
        let cq = self.per_tensor(at, n, 6, 7, DType::Uint8, "C")?;
        let a = self.quant_of(at, &av, &aq)?;
        let b = self.quant_of(at, &bv, &bq)?;
        // onnxruntime's arithmetic for 8-bit codes (its u16 kernel is the
        // plain float formula's cousin; qcc's float formula stays there).
        let ort = self.opts.ort_arith
            && crate::fuse::narrow(&self.g, a)
            && crate::fuse::narrow(&self.g, b)
            && cq.storage.bits() <= 8;
        let mode = RequantMode::Float;
        let v = self.add(at, Op::AddInt { mode, ort }, &[a, b], Some(&cq))?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    pub(super) fn qlinear_mul(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
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

    pub(super) fn qlinear_global_avgpool(
        &mut self,
        at: &At,
        n: &NodeProto,
    ) -> Result<(), ImportError> {
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

    pub(super) fn qlinear_avgpool(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
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

    /// A com.microsoft QLinear unary op (`QLinearSigmoid`): dequantize, the
    /// float function, quantize, as onnxruntime defines it (its kernel is a
    /// table built from that float computation; `fold-lookup` builds qcc's
    /// from the interpreter's).
    pub(super) fn qlinear_unary(
        &mut self,
        at: &At,
        n: &NodeProto,
        f: Op,
    ) -> Result<(), ImportError> {
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

    /// com.microsoft `QLinearSoftmax`: dequantize, `softmax` along `axis`
    /// (with its `opset` attribute below 13, over the flattened trailing
    /// dims, as `Softmax` then), quantize. onnxruntime's kernel reads
    /// `exp` from a table of the input codes' differences from the row's
    /// maximum: its codes agree with this float form within a step.
    pub(super) fn qlinear_softmax(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let xv = self.val(at, n, 0)?;
        let xq = self.per_tensor(at, n, 1, 2, self.dtype_of(&xv), "X")?;
        let yq = self.per_tensor(at, n, 3, 4, DType::of_scalar(xq.storage), "Y")?;
        let x = self.quant_of(at, &xv, &xq)?;
        let d = self.add(at, Op::Dequantize, &[x], None)?;
        let s = self.g.ty(d).shape.clone();
        let r = s.len();
        let old = Self::attr_i(n, "opset", 13) < 13;
        let axis = super::norm_axis(Self::attr_i(n, "axis", if old { 1 } else { -1 }), r, at)?;
        let y = if !old || axis == r - 1 {
            self.add(at, Op::Softmax { axis }, &[d], None)?
        } else {
            let f = self.add(at, Op::Flatten { axis }, &[d], None)?;
            let y = self.add(at, Op::Softmax { axis: 1 }, &[f], None)?;
            self.add_reshape(at, y, s)?
        };
        let v = self.add(at, Op::Quantize, &[y], Some(&yq))?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    pub(super) fn qlinear_leaky_relu(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
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

    pub(super) fn qlinear_concat(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
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
