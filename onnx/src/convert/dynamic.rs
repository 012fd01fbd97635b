//! Scales and zero points known only at run time: `DynamicQuantizeLinear`
//! of a run-time value, `MatMulInteger` / `ConvInteger` whose zero points
//! are run-time values, `QuantizeLinear` / `DequantizeLinear` whose scale
//! or zero point is a graph input (or that are blocked), and `Cast` of
//! such integers to float.
//!
//! These become qcc's `dynamic_scale`, `dynamic_zero_point`,
//! `quantize_dyn`, `dequantize_dyn`, `matmul_int_dyn` and
//! `conv2d_int_dyn`, whose integer operands are plain integer tensors and
//! whose parameters are operands. Per-axis parameters are reshaped to
//! broadcast along their axis; blocked parameters split the data's axis
//! into `[blocks, block]` so that they broadcast along the block.

use super::*;

/// How parameters of a given shape apply to data: the shape the data is
/// viewed in, the shape the parameters are viewed in (they broadcast to the
/// first), and whether the data is reshaped back afterwards.
struct ParamView {
    data: Vec<usize>,
    params: Vec<usize>,
}

impl Converter<'_> {
    /// True when input `i` is present and a run-time value.
    pub(super) fn is_runtime(&self, n: &NodeProto, i: usize) -> bool {
        Self::input_name(n, i).is_some_and(|name| matches!(self.vals.get(name), Some(Val::Node(_))))
    }

    /// True when `v` is a run-time value of a plain integer type.
    pub(super) fn is_plain_node(&self, v: &Val) -> bool {
        match v {
            Val::Node(id) => matches!(self.g.ty(*id).elem, ElemType::Scalar(s) if s.is_int()),
            Val::Const(_) => false,
        }
    }

    /// An integer value as a plain integer tensor (its zero point is an
    /// operand elsewhere): constants get the plain type, an integer graph
    /// input not used yet is given it.
    pub(super) fn plain_of(&mut self, at: &At, v: &Val) -> Result<ValueId, ImportError> {
        match v {
            Val::Const(t) => {
                let st = t.dtype.scalar().filter(|s| s.is_int()).ok_or_else(|| {
                    at.unsupported(format!("an integer operand of type {}", t.dtype.name()))
                })?;
                self.const_value(at, t, ElemType::Scalar(st))
            }
            Val::Node(id) => {
                let ty = self.g.ty(*id).clone();
                match &ty.elem {
                    ElemType::Scalar(s) if s.is_int() => Ok(*id),
                    ElemType::Quant(q) if self.retypable.remove(id) => {
                        self.g.node_mut(*id).ty = ty.with_elem(ElemType::Scalar(q.storage));
                        Ok(*id)
                    }
                    other => Err(at.unsupported(format!(
                        "the operand has type `{other}`, but here it is read as plain integers \
                         with run-time zero points; qcc cannot reinterpret quantized codes"
                    ))),
                }
            }
        }
    }

    /// A zero-point operand of storage `storage` viewed in `shape` (the
    /// same number of elements): absent means 0.
    fn zp_operand(
        &mut self,
        at: &At,
        v: Option<&Val>,
        storage: ScalarType,
        shape: Vec<usize>,
    ) -> Result<ValueId, ImportError> {
        match v {
            None => {
                let n = dims_product(&shape).unwrap_or(1);
                let t = Rc::new(OnnxTensor::from_ints(
                    DType::of_scalar(storage),
                    shape,
                    vec![0; n],
                ));
                self.const_value(at, &t, ElemType::Scalar(storage))
            }
            Some(v) => {
                let (have, want) = (
                    dims_product(&self.shape_of(v)).unwrap_or(0),
                    dims_product(&shape).unwrap_or(0),
                );
                if have != want {
                    return Err(at.invalid(format!(
                        "the zero point has {have} elements where {want} are needed (shape \
                         {:?})",
                        self.shape_of(v)
                    )));
                }
                let dt = self.dtype_of(v);
                if dt.scalar() != Some(storage) {
                    return Err(at.invalid(format!(
                        "the zero point has type {}, but the data is {}",
                        dt.name(),
                        DType::of_scalar(storage).name()
                    )));
                }
                let id = match v {
                    Val::Const(t) => {
                        let mut r = (**t).clone();
                        r.shape = shape.clone();
                        self.plain_of(at, &Val::Const(Rc::new(r)))?
                    }
                    Val::Node(_) => self.plain_of(at, v)?,
                };
                self.add_reshape(at, id, shape)
            }
        }
    }

    /// A scale operand (f32) viewed in `shape`.
    fn scale_operand(
        &mut self,
        at: &At,
        v: &Val,
        shape: Vec<usize>,
    ) -> Result<ValueId, ImportError> {
        let (have, want) = (
            dims_product(&self.shape_of(v)).unwrap_or(0),
            dims_product(&shape).unwrap_or(0),
        );
        if have != want {
            return Err(at.invalid(format!(
                "the scale has {have} elements where {want} are needed"
            )));
        }
        let id = match v {
            Val::Const(t) => {
                let xs = t
                    .floats()
                    .ok_or_else(|| at.invalid("the scale must be a float tensor"))?;
                let r = Rc::new(OnnxTensor::from_f32(shape.clone(), xs.to_vec()));
                self.const_value(at, &r, ElemType::F32)?
            }
            Val::Node(_) => self.f32_of(at, v)?,
        };
        self.add_reshape(at, id, shape)
    }

    /// How parameters of shape `pshape` apply to data of shape `shape`
    /// (ONNX's rules: a scalar or one-element tensor is per tensor, a 1-d
    /// tensor of `shape[axis]` elements is per axis, `block > 0` is blocked).
    fn param_view(
        &self,
        at: &At,
        pshape: &[usize],
        shape: &[usize],
        axis: Option<usize>,
        block: usize,
    ) -> Result<ParamView, ImportError> {
        let np = dims_product(pshape).unwrap_or(0);
        let axis_of = || {
            axis.ok_or_else(|| {
                at.invalid(format!(
                    "the axis attribute is out of range for data of shape {shape:?}"
                ))
            })
        };
        if block > 0 {
            let a = axis_of()?;
            let want: Vec<usize> = shape
                .iter()
                .enumerate()
                .map(|(j, &d)| if j == a { d.div_ceil(block) } else { d })
                .collect();
            if pshape != want {
                return Err(at.invalid(format!(
                    "blocked scale has shape {pshape:?}; with block size {block} on axis {a} it \
                     must be {want:?}"
                )));
            }
            if !shape[a].is_multiple_of(block) {
                return Err(at.unsupported(format!(
                    "blocked quantization with a partial last block ({} is not a multiple of \
                     {block})",
                    shape[a]
                )));
            }
            let mut data = shape[..a].to_vec();
            data.extend([shape[a] / block, block]);
            data.extend_from_slice(&shape[a + 1..]);
            let mut params = data.clone();
            params[a + 1] = 1;
            return Ok(ParamView { data, params });
        }
        if np == 1 && pshape.len() <= 1 {
            return Ok(ParamView {
                data: shape.to_vec(),
                params: vec![],
            });
        }
        if pshape.len() == 1 {
            let a = axis_of()?;
            if shape[a] != np {
                return Err(at.invalid(format!(
                    "{np} scales, but the data has shape {shape:?} (axis {a})"
                )));
            }
            let mut params = vec![1; shape.len() - a];
            params[0] = np;
            return Ok(ParamView {
                data: shape.to_vec(),
                params,
            });
        }
        Err(at.invalid(format!(
            "a scale of shape {pshape:?} needs the block_size attribute"
        )))
    }

    /// `DynamicQuantizeLinear` of a run-time value: `quantize_dyn` with
    /// `dynamic_scale` and `dynamic_zero_point` of the same data.
    pub(super) fn dynamic_quantize_runtime(
        &mut self,
        at: &At,
        n: &NodeProto,
        x: &Val,
    ) -> Result<(), ImportError> {
        let x = self.f32_of(at, x)?;
        let s = self.add(at, Op::DynamicScale, &[x], None)?;
        let z = self.add(at, Op::DynamicZeroPoint, &[x], None)?;
        let q = self.add(at, Op::QuantizeDyn, &[x, s, z], None)?;
        self.set(n, 0, Val::Node(q));
        self.set(n, 1, Val::Node(s));
        self.set(n, 2, Val::Node(z));
        Ok(())
    }

    /// `QuantizeLinear` with run-time (or blocked) parameters:
    /// `quantize_dyn`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn quantize_linear_dyn(
        &mut self,
        at: &At,
        n: &NodeProto,
        x: &Val,
        shape: &[usize],
        axis: Option<usize>,
        block: usize,
        out_dtype: DType,
    ) -> Result<(), ImportError> {
        let s = self.val(at, n, 1)?;
        let z = self.opt_val(at, n, 2)?;
        let zdt = z.as_ref().map(|z| self.dtype_of(z)).unwrap_or(out_dtype);
        let storage = zdt.scalar().filter(|s| s.is_int()).ok_or_else(|| {
            at.unsupported(format!(
                "quantized type {} has no qcc storage type (qcc has i32, i16, u16, i8, u8, i4, u4)",
                zdt.name()
            ))
        })?;
        let view = self.param_view(at, &self.shape_of(&s), shape, axis, block)?;
        let xv = self.f32_of(at, x)?;
        let xr = self.add_reshape(at, xv, view.data.clone())?;
        let sv = self.scale_operand(at, &s, view.params.clone())?;
        let zv = self.zp_operand(at, z.as_ref(), storage, view.params)?;
        let q = self.add(at, Op::QuantizeDyn, &[xr, sv, zv], None)?;
        let q = self.add_reshape(at, q, shape.to_vec())?;
        self.set(n, 0, Val::Node(q));
        Ok(())
    }

    /// `DequantizeLinear` with run-time (or blocked) parameters, or of a
    /// plain integer value: `dequantize_dyn`.
    pub(super) fn dequantize_linear_dyn(
        &mut self,
        at: &At,
        n: &NodeProto,
        x: &Val,
        shape: &[usize],
        axis: Option<usize>,
        block: usize,
    ) -> Result<(), ImportError> {
        let s = self.val(at, n, 1)?;
        let z = self.opt_val(at, n, 2)?;
        let q = self.plain_of(at, x)?;
        let storage = self.g.ty(q).elem.storage();
        let view = self.param_view(at, &self.shape_of(&s), shape, axis, block)?;
        let qr = self.add_reshape(at, q, view.data.clone())?;
        let sv = self.scale_operand(at, &s, view.params.clone())?;
        let zv = self.zp_operand(at, z.as_ref(), storage, view.params)?;
        let y = self.add(at, Op::DequantizeDyn, &[qr, sv, zv], None)?;
        let y = self.add_reshape(at, y, shape.to_vec())?;
        self.set(n, 0, Val::Node(y));
        Ok(())
    }

    /// A plain integer value as f32 (ONNX `Cast` to float): `dequantize_dyn`
    /// with scale 1 and zero point 0, that is `f32(q)`.
    pub(super) fn int_to_float(&mut self, at: &At, id: ValueId) -> Result<ValueId, ImportError> {
        let storage = self.g.ty(id).elem.storage();
        let one = self.f32_scalar(at, 1.0)?;
        let zero = self.zp_operand(at, None, storage, vec![])?;
        self.add(at, Op::DequantizeDyn, &[id, one, zero], None)
    }

    /// `Mul` of an integer-to-float cast (`dequantize_dyn q, 1, 0`) by `s`
    /// (either operand order), where `s` broadcasts to the cast's shape:
    /// `dequantize_dyn q, s, 0`, which computes `f32(q) · s` with the same
    /// two roundings in one pass (the `Cast` → `Mul` of `quantize_dynamic`
    /// graphs). `None` when the operands are not of that form.
    pub(super) fn scaled_cast(
        &mut self,
        at: &At,
        a: ValueId,
        b: ValueId,
    ) -> Result<Option<ValueId>, ImportError> {
        for (c, s) in [(a, b), (b, a)] {
            if self.g.node(c).op != Op::DequantizeDyn {
                continue;
            }
            let args = self.g.args(c);
            let is_const = |v: ValueId, want: &qcc_ir::TensorData| {
                self.g
                    .node(v)
                    .op
                    .as_const()
                    .is_some_and(|k| *k.data == *want)
            };
            let zero_ty = self.g.ty(args[2]).elem.storage();
            let zero = qcc_ir::TensorData::zeros(zero_ty, 1);
            let (cs, ss) = (&self.g.ty(c).shape, &self.g.ty(s).shape);
            if is_const(args[1], &qcc_ir::TensorData::F32(vec![1.0]))
                && is_const(args[2], &zero)
                && verify::broadcast_shapes(ss, cs).as_ref() == Some(cs)
            {
                let (q, z) = (args[0], args[2]);
                return Ok(Some(self.add(at, Op::DequantizeDyn, &[q, s, z], None)?));
            }
        }
        Ok(None)
    }

    /// True when `MatMulInteger` / `ConvInteger` must use run-time zero
    /// points: a zero point is a run-time value, or an operand is already a
    /// plain integer tensor (the output of `quantize_dyn`).
    pub(super) fn needs_dyn_integer(&self, at: &At, n: &NodeProto) -> Result<bool, ImportError> {
        let a = self.val(at, n, 0)?;
        let b = self.val(at, n, 1)?;
        Ok(self.is_runtime(n, 2)
            || self.is_runtime(n, 3)
            || self.is_plain_node(&a)
            || self.is_plain_node(&b))
    }

    /// The four operands of `matmul_int_dyn` / `conv2d_int_dyn`: `x`, `w`,
    /// `zx` (rank 0) and `zw` (rank 0 or one per output channel
    /// `channels`).
    fn dyn_integer_operands(
        &mut self,
        at: &At,
        n: &NodeProto,
        channels: usize,
    ) -> Result<[ValueId; 4], ImportError> {
        let xv = self.val(at, n, 0)?;
        let wv = self.val(at, n, 1)?;
        let x = self.plain_of(at, &xv)?;
        let w = self.plain_of(at, &wv)?;
        let (xs, ws) = (self.g.ty(x).elem.storage(), self.g.ty(w).elem.storage());
        let za = self.opt_val(at, n, 2)?;
        if let Some(z) = &za {
            let len = dims_product(&self.shape_of(z)).unwrap_or(0);
            if len != 1 {
                return Err(at.unsupported(format!(
                    "{len} zero points for the first operand (per-row zero points are not \
                     supported)"
                )));
            }
        }
        let zx = self.zp_operand(at, za.as_ref(), xs, vec![])?;
        let zb = self.opt_val(at, n, 3)?;
        let zshape = match &zb {
            None => vec![],
            Some(z) => match dims_product(&self.shape_of(z)).unwrap_or(0) {
                1 => vec![],
                len if len == channels => vec![channels],
                len => {
                    return Err(at.invalid(format!(
                        "{len} zero points for the second operand, which has {channels} output \
                         channels"
                    )));
                }
            },
        };
        let zw = self.zp_operand(at, zb.as_ref(), ws, zshape)?;
        Ok([x, w, zx, zw])
    }

    /// `MatMulInteger` with run-time zero points: `matmul_int_dyn`.
    pub(super) fn matmul_integer_dyn(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let bshape = self.shape_of(&self.val(at, n, 1)?);
        if bshape.len() != 2 {
            return Err(at.unsupported(format!(
                "a batched second operand {bshape:?} with run-time zero points (qcc's \
                 matmul_int_dyn takes B as [K, N])"
            )));
        }
        let ops = self.dyn_integer_operands(at, n, bshape[1])?;
        let v = self.add(at, Op::MatMulIntDyn, &ops, None)?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    /// `ConvInteger` with run-time zero points: `conv2d_int_dyn`.
    pub(super) fn conv_integer_dyn(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let wshape = self.shape_of(&self.val(at, n, 1)?);
        let k = self.kernel_hw(at, &wshape)?;
        let ops = self.dyn_integer_operands(at, n, wshape[0])?;
        let attrs = self.conv_attrs(at, n, &self.g.ty(ops[0]).shape.clone(), k)?;
        let v = self.add(at, Op::Conv2dIntDyn(attrs), &ops, None)?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }
}
