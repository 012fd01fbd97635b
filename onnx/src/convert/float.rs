//! Float ops: MatMul, Gemm, Conv, the elementwise ops and functions,
//! Clip, the pools, Softmax, BatchNormalization, ReduceMean.

use super::ops::{Registry, extra_outputs};
use super::*;

/// Registers this family's ONNX operators.
pub(super) fn register(r: &mut Registry) {
    r.add("MatMul", |c, at, n| c.matmul(at, n));
    r.add("Gemm", |c, at, n| c.gemm(at, n));
    r.add("Conv", |c, at, n| c.conv(at, n));
    r.add("Add", |c, at, n| c.binary(at, n, "Add"));
    r.add("Mul", |c, at, n| c.binary(at, n, "Mul"));
    r.add("Sub", |c, at, n| c.binary(at, n, "Sub"));
    r.add("Div", |c, at, n| {
        if c.const_int_binary(at, n, "Div")? {
            return Ok(());
        }
        c.binary_op(at, n, Op::Div)
    });
    r.add("Pow", |c, at, n| c.binary_op(at, n, Op::Pow));
    r.add("Max", |c, at, n| c.variadic(at, n, Op::Max));
    r.add("Min", |c, at, n| c.variadic(at, n, Op::Min));
    r.add("Relu", |c, at, n| c.unary(at, n, Op::Relu));
    r.add("Neg", |c, at, n| c.unary(at, n, Op::Neg));
    r.add("Abs", |c, at, n| c.unary(at, n, Op::Abs));
    r.add("Sqrt", |c, at, n| c.unary(at, n, Op::Sqrt));
    r.add("Reciprocal", |c, at, n| c.unary(at, n, Op::Reciprocal));
    r.add("Exp", |c, at, n| c.unary(at, n, Op::Exp));
    r.add("Log", |c, at, n| c.unary(at, n, Op::Log));
    r.add("Floor", |c, at, n| c.unary(at, n, Op::Floor));
    r.add("Ceil", |c, at, n| c.unary(at, n, Op::Ceil));
    r.add("Round", |c, at, n| c.unary(at, n, Op::Round));
    r.add("Erf", |c, at, n| c.unary(at, n, Op::Erf));
    r.add("Tanh", |c, at, n| c.unary(at, n, Op::Tanh));
    r.add("Sigmoid", |c, at, n| c.unary(at, n, Op::Sigmoid));
    r.add("HardSwish", |c, at, n| c.unary(at, n, Op::HardSwish));
    r.add("HardSigmoid", |c, at, n| {
        let f = Op::HardSigmoid {
            alpha: F32Attr(Converter::attr_f(n, "alpha", 0.2)),
            beta: F32Attr(Converter::attr_f(n, "beta", 0.5)),
        };
        c.unary(at, n, f)
    });
    r.add("Gelu", |c, at, n| c.gelu(at, n));
    r.add("LeakyRelu", |c, at, n| {
        let x = c.f32_in(at, n, 0)?;
        let v = c.leaky_relu(at, x, Converter::attr_f(n, "alpha", 0.01))?;
        c.set(n, 0, Val::Node(v));
        Ok(())
    });
    r.add("Clip", |c, at, n| c.clip(at, n));
    r.add("MaxPool", |c, at, n| c.pool(at, n, true));
    r.add("AveragePool", |c, at, n| c.pool(at, n, false));
    r.add("GlobalAveragePool", |c, at, n| {
        let f = Op::GlobalAvgPool {
            mode: RequantMode::Float,
        };
        c.unary(at, n, f)
    });
    r.add("ReduceMean", |c, at, n| c.reduce_mean(at, n));
    r.add("ReduceSum", |c, at, n| c.reduce_mean(at, n));
    r.add("ReduceMax", |c, at, n| c.reduce_mean(at, n));
    r.add("ReduceMin", |c, at, n| c.reduce_mean(at, n));
    for op in [
        "ReduceL1",
        "ReduceL2",
        "ReduceSumSquare",
        "ReduceLogSum",
        "ReduceLogSumExp",
        "ReduceProd",
    ] {
        r.add(op, |c, at, n| c.reduce_mean(at, n));
    }
    r.add("InstanceNormalization", |c, at, n| c.instance_norm(at, n));
    r.add("GlobalMaxPool", |c, at, n| c.global_max_pool(at, n));
    r.add("Softmax", |c, at, n| c.softmax(at, n));
    r.add("LayerNormalization", |c, at, n| c.layer_norm(at, n));
    r.add("ConvTranspose", |c, at, n| c.conv_transpose(at, n));
    r.add("BatchNormalization", |c, at, n| c.batch_norm(at, n));
}

/// Output size of a window along one dimension (with ceil_mode).
pub(super) fn pooled(
    size: usize,
    k: usize,
    s: usize,
    pad: usize,
    dil: usize,
    ceil: bool,
) -> Option<usize> {
    let eff = dil * (k - 1) + 1;
    let span = (size + pad).checked_sub(eff)?;
    Some(if ceil { span.div_ceil(s) } else { span / s } + 1)
}

impl Converter<'_> {
    /// A float unary op of input 0.
    pub(super) fn unary(&mut self, at: &At, n: &NodeProto, f: Op) -> Result<(), ImportError> {
        let x = self.f32_in(at, n, 0)?;
        let v = self.add(at, f, &[x], None)?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    /// A float binary op of inputs 0 and 1 (numpy broadcasting).
    pub(super) fn binary_op(&mut self, at: &At, n: &NodeProto, f: Op) -> Result<(), ImportError> {
        let a = self.f32_in(at, n, 0)?;
        let b = self.f32_in(at, n, 1)?;
        let v = self.add(at, f, &[a, b], None)?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    /// `Gelu` (opset 20, and com.microsoft's): the exact, erf-based form;
    /// the tanh approximation is refused by name.
    pub(super) fn gelu(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let approx = Self::attr(n, "approximate")
            .and_then(|a| a.s.clone())
            .unwrap_or_default();
        if !approx.is_empty() && approx != b"none" {
            return Err(at.unsupported(format!(
                "Gelu with approximate = \"{}\" (qcc has the exact, erf-based Gelu)",
                String::from_utf8_lossy(&approx)
            )));
        }
        self.unary(at, n, Op::Gelu)
    }

    // ------------------------------------------------------------------
    // Float ops

    pub(super) fn matmul(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        if let Some(w) = Self::input_name(n, 1)
            .and_then(|b| self.blocked_dq.get(b))
            .cloned()
        {
            return self.matmul_blocked(at, n, &w);
        }
        let a = self.f32_in(at, n, 0)?;
        let b = self.f32_in(at, n, 1)?;
        let v = self.add(at, Op::MatMul, &[a, b], None)?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    /// A 2-d value `[K, N]` as `[N, K]` (folded for constants).
    pub(super) fn transposed_2d(&mut self, at: &At, v: &Val) -> Result<Val, ImportError> {
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

    pub(super) fn gemm(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
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

    pub(super) fn pads(
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

    pub(super) fn conv(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let x = self.f32_in(at, n, 0)?;
        let w = self.f32_in(at, n, 1)?;
        if self.g.ty(x).shape.len() == 3 && self.g.ty(w).shape.len() == 3 {
            return self.conv1d(at, n, x, w);
        }
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

    /// A 1-d `Conv` (`x [N, C, L]`, `w [O, C/g, K]`) as a 2-d one of height
    /// 1: the same sums in the same order.
    fn conv1d(
        &mut self,
        at: &At,
        n: &NodeProto,
        x: ValueId,
        w: ValueId,
    ) -> Result<(), ImportError> {
        let mut m = n.clone();
        for a in &mut m.attribute {
            let name = a.name.as_deref().unwrap_or("");
            match name {
                "strides" | "dilations" | "kernel_shape" if a.ints.len() == 1 => {
                    a.ints = vec![1, a.ints[0]];
                }
                "pads" if a.ints.len() == 2 => a.ints = vec![0, a.ints[0], 0, a.ints[1]],
                "strides" | "dilations" | "kernel_shape" | "pads" => {
                    return Err(at.invalid(format!("`{name}` of a 1-d Conv: {:?}", a.ints)));
                }
                _ => {}
            }
        }
        let (xs, ws) = (self.g.ty(x).shape.clone(), self.g.ty(w).shape.clone());
        let x4 = self.add_reshape(at, x, vec![xs[0], xs[1], 1, xs[2]])?;
        let w4 = self.add_reshape(at, w, vec![ws[0], ws[1], 1, ws[2]])?;
        let attrs = self.conv_attrs(at, &m, &[xs[0], xs[1], 1, xs[2]], [1, ws[2]])?;
        let mut args = vec![x4, w4];
        if Self::input_name(n, 2).is_some() {
            args.push(self.f32_in(at, n, 2)?);
        }
        let y = self.add(at, Op::Conv2d(attrs), &args, None)?;
        let ys = self.g.ty(y).shape.clone();
        let y3 = self.add_reshape(at, y, vec![ys[0], ys[1], ys[3]])?;
        self.set(n, 0, Val::Node(y3));
        Ok(())
    }

    /// `ConvTranspose` whose kernel equals its stride (no padding,
    /// dilation 1, one group, no output padding: the upsampling of FPN and
    /// DBNet heads). Each input pixel then owns an `s × s` output block:
    /// `y[co, s·i + a, s·j + b] = Σ_ci x[ci, i, j] · w[ci, co, a, b]`, a 1×1
    /// `conv2d` to `cout · s · s` channels (weights `[co, a, b] × ci`, the
    /// bias repeated) followed by `DepthToSpace` in `CRD` order (reshape,
    /// transpose, reshape). Constant weights, float or `DequantizeLinear`
    /// of constant codes (their rows take their output channel's scale), so
    /// the QDQ lowering sees an ordinary convolution.
    pub(super) fn conv_transpose(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let x = self.f32_in(at, n, 0)?;
        let w = self.f32_in(at, n, 1)?;
        let xs = self.g.ty(x).shape.clone();
        let ws = self.g.ty(w).shape.clone();
        let ([nb, cin, h, wd], [wci, cout, kh, kw]) = (
            <[usize; 4]>::try_from(xs.as_slice())
                .map_err(|_| at.unsupported("ConvTranspose of a non-NCHW input"))?,
            <[usize; 4]>::try_from(ws.as_slice())
                .map_err(|_| at.unsupported("ConvTranspose with a non-2-d kernel"))?,
        );
        let ints = |name: &str, d: Vec<i64>| Self::attr(n, name).map_or(d, |a| a.ints.clone());
        let strides = ints("strides", vec![1, 1]);
        let pads = ints("pads", vec![0; 4]);
        let dil = ints("dilations", vec![1, 1]);
        let opad = ints("output_padding", vec![0, 0]);
        let group = Self::attr_i(n, "group", 1);
        let auto = Self::attr(n, "auto_pad")
            .and_then(|a| a.s.clone())
            .unwrap_or_else(|| b"NOTSET".to_vec());
        let fits = wci == cin
            && kh == kw
            && strides == [kh as i64, kw as i64]
            && pads.iter().all(|&p| p == 0)
            && dil == [1, 1]
            && opad.iter().all(|&p| p == 0)
            && group == 1
            && auto == b"NOTSET"
            && Self::attr(n, "output_shape").is_none();
        if !fits {
            return Err(at.unsupported(format!(
                "ConvTranspose with kernel {kh}x{kw}, strides {strides:?}, pads {pads:?}, \
                 group {group} (qcc imports a kernel equal to its stride, without padding, \
                 dilation or groups)"
            )));
        }
        let s = kh;
        // Row `(co·s + a)·s + b`, column `ci` of the 1×1 kernel from
        // `w[ci, co, a, b]`.
        let src = |r: usize, ci: usize| {
            let (co, ab) = (r / (s * s), r % (s * s));
            ((ci * cout + co) * s + ab / s) * s + ab % s
        };
        let rows = cout * s * s;
        let k1 = vec![rows, cin, 1, 1];
        let wnode = self.g.node(w);
        let w1 = if let Some(c) = wnode.op.as_const() {
            let v = c
                .logical(self.g.ty(w))
                .as_f32()
                .ok_or_else(|| at.invalid("float weights expected"))?
                .to_vec();
            let data: Vec<f32> = (0..rows)
                .flat_map(|r| (0..cin).map(move |ci| (r, ci)))
                .map(|(r, ci)| v[src(r, ci)])
                .collect();
            let t = Rc::new(OnnxTensor::from_f32(k1.clone(), data));
            self.const_value(at, &t, ElemType::F32)?
        } else if wnode.op == Op::Dequantize
            && let Some(&q) = self.g.args(w).first()
            && let Some(c) = self.g.node(q).op.as_const()
            && let Some(qt) = self.g.ty(q).elem.as_quant().cloned()
            && qt.axis.is_none_or(|a| a == 1)
        {
            let codes = c
                .logical(self.g.ty(q))
                .to_i64s()
                .ok_or_else(|| at.invalid("integer weight codes expected"))?;
            let data: Vec<i64> = (0..rows)
                .flat_map(|r| (0..cin).map(move |ci| (r, ci)))
                .map(|(r, ci)| codes[src(r, ci)])
                .collect();
            let mut q2 = qt.clone();
            if qt.axis.is_some() {
                q2.axis = Some(0);
                q2.scales = (0..rows).map(|r| qt.scales[r / (s * s)]).collect();
                q2.zero_points = (0..rows).map(|r| qt.zero_points[r / (s * s)]).collect();
            }
            let ty = TensorType::new(k1.clone(), ElemType::quant(q2));
            let td = qcc_ir::TensorData::from_i64s(qt.storage, &data)
                .map_err(|e| at.invalid(format!("weight codes: {e:?}")))?;
            let qc = self.g.add_const(td, ty);
            self.add(at, Op::Dequantize, &[qc], None)?
        } else {
            return Err(at.unsupported(
                "ConvTranspose with run-time weights (qcc imports constant weights, float or \
                 dequantized)",
            ));
        };
        let mut args = vec![x, w1];
        if Self::input_name(n, 2).is_some() {
            let Val::Const(b) = self.val(at, n, 2)? else {
                return Err(at.unsupported("ConvTranspose with a run-time bias"));
            };
            let bv = b
                .floats()
                .filter(|v| v.len() == cout)
                .ok_or_else(|| at.unsupported(format!("the bias must be {cout} f32 values")))?;
            let rep: Vec<f32> = (0..rows).map(|r| bv[r / (s * s)]).collect();
            let t = Rc::new(OnnxTensor::from_f32(vec![rows], rep));
            args.push(self.const_value(at, &t, ElemType::F32)?);
        }
        let z = self.add(at, Op::Conv2d(Conv2dAttrs::default()), &args, None)?;
        let six = self.add_reshape(at, z, vec![nb, cout, s, s, h, wd])?;
        let t = self.add(
            at,
            Op::Transpose {
                perm: vec![0, 1, 4, 2, 5, 3],
            },
            &[six],
            None,
        )?;
        let y = self.add_reshape(at, t, vec![nb, cout, h * s, wd * s])?;
        self.set(n, 0, Val::Node(y));
        Ok(())
    }

    pub(super) fn binary(&mut self, at: &At, n: &NodeProto, op: &str) -> Result<(), ImportError> {
        if self.const_int_binary(at, n, op)? {
            return Ok(());
        }
        let int_op = match op {
            "Add" => Op::Add,
            "Sub" => Op::Sub,
            _ => Op::Mul,
        };
        if let Some(v) = self.int_binary(at, n, int_op)? {
            self.set(n, 0, Val::Node(v));
            return Ok(());
        }
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

    pub(super) fn clip(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
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

    pub(super) fn pool_attrs(
        &self,
        at: &At,
        n: &NodeProto,
        x: &[usize],
    ) -> Result<Pool2dAttrs, ImportError> {
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

    pub(super) fn pool(&mut self, at: &At, n: &NodeProto, max: bool) -> Result<(), ImportError> {
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

    pub(super) fn softmax(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
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

    /// `relu(x) + (−alpha) · relu(−x)`: for x < 0 that is `alpha · x`
    /// exactly (negations are exact, and `(−a)·(−x)` rounds like `a·x`), for
    /// x ≥ 0 it is x; only the sign of a zero result can differ from
    /// ONNX's definition.
    pub(super) fn leaky_relu(
        &mut self,
        at: &At,
        x: ValueId,
        alpha: f32,
    ) -> Result<ValueId, ImportError> {
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
    pub(super) fn batch_norm(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
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
    /// `ReduceMean` / `ReduceSum` / `ReduceMax` / `ReduceMin` over any
    /// axes (the attribute, or the `axes` input from opset 18, 13 for
    /// ReduceSum), `keepdims` either way.
    pub(super) fn reduce_mean(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let x = self.f32_in(at, n, 0)?;
        let rank = self.g.ty(x).shape.len() as i64;
        let op_type = n.op_type.clone().unwrap_or_default();
        let axes_input = self.opset >= 18 || (op_type == "ReduceSum" && self.opset >= 13);
        let axes: Vec<i64> = if axes_input {
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
        axes.dedup();
        if axes.is_empty() {
            if Self::attr_i(n, "noop_with_empty_axes", 0) != 0 {
                self.set(n, 0, Val::Node(x));
                return Ok(());
            }
            axes = (0..rank).collect();
        }
        if axes.iter().any(|&a| a < 0 || a >= rank) {
            return Err(at.invalid(format!("`axes` {axes:?} out of range for rank {rank}")));
        }
        let keep = Self::attr_i(n, "keepdims", 1) != 0;
        let make = |axes: Vec<usize>| match op_type.as_str() {
            "ReduceMax" => Op::ReduceMax { axes },
            "ReduceMin" => Op::ReduceMin { axes },
            "ReduceProd" => Op::ReduceProd { axes },
            "ReduceMean" => Op::ReduceMean { axes },
            _ => Op::ReduceSum { axes },
        };
        let uaxes: Vec<usize> = axes.iter().map(|&a| a as usize).collect();
        // The sums of ONNX's composite reductions: of |x|, of x·x, of
        // exp(x − max x) (then log, plus the maximum, as onnxruntime
        // computes ReduceLogSumExp without overflow).
        let mut shift = None;
        let x = match op_type.as_str() {
            "ReduceL1" => self.add(at, Op::Abs, &[x], None)?,
            "ReduceL2" | "ReduceSumSquare" => self.add(at, Op::Mul, &[x, x], None)?,
            "ReduceLogSumExp" => {
                let m = self.add(
                    at,
                    Op::ReduceMax {
                        axes: uaxes.clone(),
                    },
                    &[x],
                    None,
                )?;
                shift = Some(m);
                let d = self.add(at, Op::Sub, &[x, m], None)?;
                self.add(at, Op::Exp, &[d], None)?
            }
            _ => x,
        };
        let v = if op_type != "ReduceMean" {
            let s = self.add(at, make(uaxes), &[x], None)?;
            match op_type.as_str() {
                "ReduceL2" => self.add(at, Op::Sqrt, &[s], None)?,
                "ReduceLogSum" => self.add(at, Op::Log, &[s], None)?,
                "ReduceLogSumExp" => {
                    let l = self.add(at, Op::Log, &[s], None)?;
                    let m = shift.expect("set above");
                    self.add(at, Op::Add, &[l, m], None)?
                }
                _ => s,
            }
        } else if rank == 4 && axes == [2, 3] {
            // The spatial mean of NCHW: the pool (same sum order).
            self.add(
                at,
                Op::GlobalAvgPool {
                    mode: RequantMode::Float,
                },
                &[x],
                None,
            )?
        } else {
            let axes: Vec<usize> = axes.iter().map(|&a| a as usize).collect();
            self.add(at, Op::ReduceMean { axes }, &[x], None)?
        };
        let v = if keep {
            v
        } else {
            let s: Vec<usize> = self
                .g
                .ty(x)
                .shape
                .iter()
                .enumerate()
                .filter(|(d, _)| !axes.contains(&(*d as i64)))
                .map(|(_, &e)| e)
                .collect();
            self.add_reshape(at, v, s)?
        };
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    /// `GlobalMaxPool`: the maximum over every axis after the channel one.
    pub(super) fn global_max_pool(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let x = self.f32_in(at, n, 0)?;
        let rank = self.g.ty(x).shape.len();
        if rank < 3 {
            return Err(at.invalid(format!("GlobalMaxPool of a rank-{rank} input")));
        }
        let v = self.add(
            at,
            Op::ReduceMax {
                axes: (2..rank).collect(),
            },
            &[x],
            None,
        )?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    /// `LayerNormalization` (opset 17), decomposed into float ops:
    /// `d = x − mean(x)`, `y = d / sqrt(mean(d · d) + epsilon) · scale + B`
    /// over the axes from `axis` on (the mean as `reduce_mean`).
    pub(super) fn layer_norm(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let x = self.f32_in(at, n, 0)?;
        let rank = self.g.ty(x).shape.len();
        let axis = norm_axis(Self::attr_i(n, "axis", -1), rank, at)?;
        let eps = Self::attr_f(n, "epsilon", 1e-5);
        let axes: Vec<usize> = (axis..rank).collect();
        let mean = self.add(at, Op::ReduceMean { axes: axes.clone() }, &[x], None)?;
        let d = self.add(at, Op::Sub, &[x, mean], None)?;
        let d2 = self.add(at, Op::Mul, &[d, d], None)?;
        let var = self.add(at, Op::ReduceMean { axes }, &[d2], None)?;
        let te = Rc::new(OnnxTensor::from_f32(vec![1], vec![eps]));
        let ve = self.const_value(at, &te, ElemType::F32)?;
        let ve = self.add(at, Op::Add, &[var, ve], None)?;
        let sd = self.add(at, Op::Sqrt, &[ve], None)?;
        // The optional outputs: the mean and `1 / sqrt(var + epsilon)`.
        if n.output.get(1).is_some_and(|o| !o.is_empty()) {
            self.set(n, 1, Val::Node(mean));
        }
        if n.output.get(2).is_some_and(|o| !o.is_empty()) {
            let inv = self.add(at, Op::Reciprocal, &[sd], None)?;
            self.set(n, 2, Val::Node(inv));
        }
        let mut y = self.add(at, Op::Div, &[d, sd], None)?;
        let scale = self.f32_in(at, n, 1)?;
        y = self.add(at, Op::Mul, &[y, scale], None)?;
        if n.input.get(2).is_some_and(|s| !s.is_empty()) {
            let b = self.f32_in(at, n, 2)?;
            y = self.add(at, Op::Add, &[y, b], None)?;
        }
        self.set(n, 0, Val::Node(y));
        Ok(())
    }

    /// `InstanceNormalization`: per sample and channel of `[N, C, ...]`,
    /// `d = x − mean(x)`, `y = d / sqrt(mean(d · d) + epsilon) · scale[c] +
    /// B[c]` over the axes after the channel one (as `layer_norm`).
    pub(super) fn instance_norm(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let x = self.f32_in(at, n, 0)?;
        let shape = self.g.ty(x).shape.clone();
        let rank = shape.len();
        if rank < 3 {
            return Err(at.invalid(format!(
                "InstanceNormalization of a rank-{rank} input (it needs [N, C, D1, ...])"
            )));
        }
        let eps = Self::attr_f(n, "epsilon", 1e-5);
        let axes: Vec<usize> = (2..rank).collect();
        let mean = self.add(at, Op::ReduceMean { axes: axes.clone() }, &[x], None)?;
        let d = self.add(at, Op::Sub, &[x, mean], None)?;
        let d2 = self.add(at, Op::Mul, &[d, d], None)?;
        let var = self.add(at, Op::ReduceMean { axes }, &[d2], None)?;
        let te = Rc::new(OnnxTensor::from_f32(vec![1], vec![eps]));
        let ve = self.const_value(at, &te, ElemType::F32)?;
        let ve = self.add(at, Op::Add, &[var, ve], None)?;
        let sd = self.add(at, Op::Sqrt, &[ve], None)?;
        let mut y = self.add(at, Op::Div, &[d, sd], None)?;
        let mut per_channel = vec![shape[1]];
        per_channel.extend(std::iter::repeat_n(1, rank - 2));
        for (i, op) in [(1, Op::Mul), (2, Op::Add)] {
            let p = self.f32_in(at, n, i)?;
            if self.g.ty(p).shape != [shape[1]] {
                return Err(at.invalid(format!(
                    "input {i} has shape {:?}; it must be [{}] (one value per channel)",
                    self.g.ty(p).shape,
                    shape[1]
                )));
            }
            let p = self.add_reshape(at, p, per_channel.clone())?;
            y = self.add(at, op, &[y, p], None)?;
        }
        self.set(n, 0, Val::Node(y));
        Ok(())
    }

    /// `Max` / `Min` of one or more inputs (numpy broadcasting), folded
    /// left to right into binary ops.
    pub(super) fn variadic(&mut self, at: &At, n: &NodeProto, f: Op) -> Result<(), ImportError> {
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
}
