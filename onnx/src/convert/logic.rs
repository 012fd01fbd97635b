//! Comparisons, `Where`, `Not`, and the integer arithmetic and casts of
//! run-time values (qcc's `equal`, `less`, `greater`, `where`, `cast`, and
//! `add` / `sub` / `mul` on plain integers). A `BOOL` tensor is a plain
//! `u8` 0 / 1 in qcc.

use super::ops::Registry;
use super::*;

/// Registers this family's ONNX operators.
pub(super) fn register(r: &mut Registry) {
    r.add("ArgMax", |c, at, n| c.arg_extreme(at, n, true));
    r.add("ArgMin", |c, at, n| c.arg_extreme(at, n, false));
    r.add("Equal", |c, at, n| c.compare(at, n, Op::Equal, false));
    r.add("Less", |c, at, n| c.compare(at, n, Op::Less, false));
    r.add("Greater", |c, at, n| c.compare(at, n, Op::Greater, false));
    // a ≤ b is (a < b) + (a = b), a ≥ b is (a > b) + (a = b): never both
    // 1, and both 0 on NaN, as ONNX says.
    r.add("LessOrEqual", |c, at, n| c.compare(at, n, Op::Less, true));
    r.add("GreaterOrEqual", |c, at, n| {
        c.compare(at, n, Op::Greater, true)
    });
    r.add("Not", |c, at, n| c.not(at, n));
    r.add("Where", |c, at, n| c.select(at, n));
}

impl Converter<'_> {
    /// `ArgMax` / `ArgMin` (`axis`, `keepdims`, `select_last_index`) of an
    /// f32, integer or per-tensor quantized tensor: qcc's `argmax` /
    /// `argmin`, whose indices are `i32` (ONNX's are int64; an axis has
    /// fewer than 2^31 elements), then a reshape without the axis when
    /// `keepdims = 0`.
    pub(super) fn arg_extreme(
        &mut self,
        at: &At,
        n: &NodeProto,
        max: bool,
    ) -> Result<(), ImportError> {
        let v = self.val(at, n, 0)?;
        let x = match &v {
            Val::Node(x) => *x,
            Val::Const(_) => self.f32_of(at, &v)?,
        };
        let shape = self.g.ty(x).shape.clone();
        let axis = norm_axis(Self::attr_i(n, "axis", 0), shape.len(), at)?;
        let last = Self::attr_i(n, "select_last_index", 0) != 0;
        let op = if max {
            Op::ArgMax { axis, last }
        } else {
            Op::ArgMin { axis, last }
        };
        let mut y = self.add(at, op, &[x], None)?;
        if Self::attr_i(n, "keepdims", 1) == 0 {
            let mut s = shape;
            s.remove(axis);
            y = self.add_reshape(at, y, s)?;
        }
        self.set(n, 0, Val::Node(y));
        Ok(())
    }

    /// `v` as a plain value: constants of their own ONNX type (`BOOL` as
    /// `u8`), run-time values that are `f32` or plain integers as they are.
    pub(super) fn plain_value(&mut self, at: &At, v: &Val) -> Result<ValueId, ImportError> {
        match v {
            Val::Const(t) => {
                let st = if t.dtype.is_float() {
                    Some(ScalarType::F32)
                } else {
                    t.dtype.scalar()
                };
                match st {
                    Some(st) if !matches!(st, ScalarType::I4 | ScalarType::U4) => {
                        self.const_value(at, t, ElemType::Scalar(st))
                    }
                    _ => Err(at.unsupported(format!(
                        "a constant of type {} here (qcc computes with f32 and 8-, 16- and \
                         32-bit integers)",
                        t.dtype.name()
                    ))),
                }
            }
            Val::Node(id) => match self.g.ty(*id).elem.clone() {
                ElemType::Scalar(st) if !matches!(st, ScalarType::I4 | ScalarType::U4) => Ok(*id),
                // An integer graph input not used yet: plain integers.
                ElemType::Quant(q) if self.retypable.remove(id) => {
                    let ty = self.g.ty(*id).with_elem(ElemType::Scalar(q.storage));
                    self.g.node_mut(*id).ty = ty;
                    Ok(*id)
                }
                // The integer view of ONNX integers (scale 1, zero point
                // 0): its stored integers, as plain.
                ElemType::Quant(q)
                    if is_raw(&q) && !matches!(q.storage, ScalarType::I4 | ScalarType::U4) =>
                {
                    let x = self.g.ty(*id).clone();
                    let ty = x.with_elem(ElemType::Scalar(q.storage));
                    verify::check_op(&Op::Cast, &[&x], &ty)
                        .map_err(|e| at.unsupported(format!("qcc's `cast` cannot take it: {e}")))?;
                    Ok(self.g.add_node(Op::Cast, &[*id], ty))
                }
                other => Err(at.unsupported(format!(
                    "an operand of type `{other}` (comparisons, Where and integer arithmetic \
                     take f32 and plain integers)"
                ))),
            },
        }
    }

    fn compare(
        &mut self,
        at: &At,
        n: &NodeProto,
        op: Op,
        or_equal: bool,
    ) -> Result<(), ImportError> {
        let (va, vb) = (self.val(at, n, 0)?, self.val(at, n, 1)?);
        if let (Val::Const(a), Val::Const(b)) = (&va, &vb) {
            // Shape arithmetic: folded at import.
            let shape = broadcast(&a.shape, &b.shape).ok_or_else(|| {
                at.invalid(format!(
                    "shapes {:?} and {:?} do not broadcast",
                    a.shape, b.shape
                ))
            })?;
            let (ia, ib) = (offsets(&a.shape, &shape), offsets(&b.shape, &shape));
            let ord: Vec<Option<std::cmp::Ordering>> =
                match (a.ints(), b.ints(), a.floats(), b.floats()) {
                    (Some(x), Some(y), _, _) => ia
                        .iter()
                        .zip(&ib)
                        .map(|(&i, &j)| Some(x[i].cmp(&y[j])))
                        .collect(),
                    (_, _, Some(x), Some(y)) => ia
                        .iter()
                        .zip(&ib)
                        .map(|(&i, &j)| x[i].partial_cmp(&y[j]))
                        .collect(),
                    _ => return Err(at.invalid("the operands must have one type")),
                };
            let v: Vec<i64> = ord
                .iter()
                .map(|o| {
                    let r = o.is_some_and(|o| match op {
                        Op::Equal => o.is_eq(),
                        Op::Less => o.is_lt(),
                        _ => o.is_gt(),
                    });
                    // Or equal: LessOrEqual / GreaterOrEqual, false on NaN.
                    (r || (or_equal && o.is_some_and(|o| o.is_eq()))) as i64
                })
                .collect();
            let t = OnnxTensor::from_ints(DType::Bool, shape, v);
            self.set(n, 0, Val::Const(Rc::new(t)));
            return Ok(());
        }
        let a = self.plain_value(at, &va)?;
        let b = self.plain_value(at, &vb)?;
        let mut v = self.add(at, op, &[a, b], None)?;
        if or_equal {
            let e = self.add(at, Op::Equal, &[a, b], None)?;
            v = self.add(at, Op::Add, &[v, e], None)?;
        }
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    /// `1 − c` of a boolean: `equal c, 0`.
    fn logical_not(&mut self, at: &At, c: ValueId) -> Result<ValueId, ImportError> {
        let zero = Rc::new(OnnxTensor::from_ints(DType::Uint8, vec![], vec![0]));
        let z = self.const_value(at, &zero, ElemType::Scalar(ScalarType::U8))?;
        self.add(at, Op::Equal, &[c, z], None)
    }

    fn not(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let v = self.val(at, n, 0)?;
        if let Val::Const(t) = &v
            && let Some(i) = t.ints()
        {
            let out = i.iter().map(|&x| (x == 0) as i64).collect();
            let t = OnnxTensor::from_ints(DType::Bool, t.shape.clone(), out);
            self.set(n, 0, Val::Const(Rc::new(t)));
            return Ok(());
        }
        let c = self.plain_value(at, &v)?;
        let r = self.logical_not(at, c)?;
        self.set(n, 0, Val::Node(r));
        Ok(())
    }

    fn select(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let vc = self.val(at, n, 0)?;
        let c = self.plain_value(at, &vc)?;
        let (va, vb) = (self.val(at, n, 1)?, self.val(at, n, 2)?);
        let a = self.plain_value(at, &va)?;
        let b = self.plain_value(at, &vb)?;
        let v = self.add(at, Op::Where, &[c, a, b], None)?;
        self.set(n, 0, Val::Node(v));
        Ok(())
    }

    /// `Add` / `Sub` / `Mul` when an operand is a run-time plain integer:
    /// qcc's wrapping integer op. `None` when it is not that case.
    pub(super) fn int_binary(
        &mut self,
        at: &At,
        n: &NodeProto,
        op: Op,
    ) -> Result<Option<ValueId>, ImportError> {
        let (va, vb) = (self.val(at, n, 0)?, self.val(at, n, 1)?);
        let int_node = |v: &Val, c: &Self| match v {
            Val::Node(id) => {
                matches!(c.g.ty(*id).elem, ElemType::Scalar(st) if st.is_int())
                    || c.retypable.contains(id)
            }
            Val::Const(_) => false,
        };
        if !(int_node(&va, self) || int_node(&vb, self)) {
            return Ok(None);
        }
        let a = self.plain_value(at, &va)?;
        let b = self.plain_value(at, &vb)?;
        self.add(at, op, &[a, b], None).map(Some)
    }

    /// `Cast` of a run-time value to an integer type (or `BOOL`): qcc's
    /// `cast` (truncation and saturation from f32, wrapping between
    /// integers). `None` when the target is not one qcc has.
    pub(super) fn cast_to_int(
        &mut self,
        at: &At,
        id: ValueId,
        to: DType,
    ) -> Result<Option<ValueId>, ImportError> {
        let st = match to {
            DType::Bool => ScalarType::U8,
            // qcc has no 64-bit integers: a run-time int64 is kept in i32
            // (indices, ArgMax results, shape arithmetic). A cast from f32
            // saturates at ±2^31 where ONNX's would go on to ±2^63.
            DType::Int64 => ScalarType::I32,
            _ => match to.scalar() {
                Some(st) if st.is_int() && !matches!(st, ScalarType::I4 | ScalarType::U4) => st,
                _ => return Ok(None),
            },
        };
        if !matches!(self.g.ty(id).elem, ElemType::Scalar(s) if !matches!(s, ScalarType::I4 | ScalarType::U4))
        {
            return Ok(None);
        }
        let x = self.g.ty(id).clone();
        if x.elem == ElemType::Scalar(st) {
            return Ok(Some(id));
        }
        let v = if to == DType::Bool {
            // x ≠ 0.
            let zero = if x.elem.is_f32() {
                Rc::new(OnnxTensor::from_f32(vec![], vec![0.0]))
            } else {
                Rc::new(OnnxTensor::from_ints(
                    DType::of_scalar(x.elem.storage()),
                    vec![],
                    vec![0],
                ))
            };
            let z = self.const_value(at, &zero, x.elem.clone())?;
            let e = self.add(at, Op::Equal, &[id, z], None)?;
            self.logical_not(at, e)?
        } else {
            let ty = TensorType::new(x.shape.clone(), ElemType::Scalar(st));
            verify::check_op(&Op::Cast, &[&x], &ty)
                .map_err(|e| at.unsupported(format!("qcc's `cast` cannot take it: {e}")))?;
            self.retypable.remove(&id);
            self.g.add_node(Op::Cast, &[id], ty)
        };
        Ok(Some(v))
    }
}

/// numpy broadcasting of two shapes.
fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    (0..r)
        .map(|i| {
            let da = if i + a.len() >= r {
                a[i + a.len() - r]
            } else {
                1
            };
            let db = if i + b.len() >= r {
                b[i + b.len() - r]
            } else {
                1
            };
            match (da, db) {
                (x, y) if x == y => Some(x),
                (1, y) => Some(y),
                (x, 1) => Some(x),
                _ => None,
            }
        })
        .collect()
}

/// The flat index into a tensor of shape `from` for each element of the
/// broadcast shape `to`.
fn offsets(from: &[usize], to: &[usize]) -> Vec<usize> {
    let n: usize = to.iter().product();
    let lead = to.len() - from.len();
    let mut out = Vec::with_capacity(n);
    for flat in 0..n {
        let (mut rem, mut off, mut stride) = (flat, 0, 1);
        for ax in (0..to.len()).rev() {
            let i = rem % to[ax];
            rem /= to[ax];
            if ax >= lead {
                let d = from[ax - lead];
                if d != 1 {
                    off += i * stride;
                }
                stride *= d;
            }
        }
        out.push(off);
    }
    out
}

impl Converter<'_> {
    /// `Add` / `Sub` / `Mul` / `Div` of two integer constants (shape
    /// arithmetic): folded at import, exact in i64 (Div truncates, as
    /// ONNX's integer Div). `None` when the operands are not that.
    pub(super) fn const_int_binary(
        &mut self,
        at: &At,
        n: &NodeProto,
        op: &str,
    ) -> Result<bool, ImportError> {
        let (Val::Const(a), Val::Const(b)) = (self.val(at, n, 0)?, self.val(at, n, 1)?) else {
            return Ok(false);
        };
        let (Some(x), Some(y)) = (a.ints(), b.ints()) else {
            return Ok(false);
        };
        let shape = broadcast(&a.shape, &b.shape).ok_or_else(|| {
            at.invalid(format!(
                "shapes {:?} and {:?} do not broadcast",
                a.shape, b.shape
            ))
        })?;
        let (ia, ib) = (offsets(&a.shape, &shape), offsets(&b.shape, &shape));
        let mut v = Vec::with_capacity(ia.len());
        for (&i, &j) in ia.iter().zip(&ib) {
            let (p, q) = (x[i], y[j]);
            v.push(match op {
                "Add" => p.wrapping_add(q),
                "Sub" => p.wrapping_sub(q),
                "Mul" => p.wrapping_mul(q),
                _ => {
                    if q == 0 {
                        return Err(at.invalid("integer division by zero in a constant"));
                    }
                    p.wrapping_div(q)
                }
            });
        }
        let t = OnnxTensor::from_ints(a.dtype, shape, v);
        self.set(n, 0, Val::Const(Rc::new(t)));
        Ok(true)
    }
}
