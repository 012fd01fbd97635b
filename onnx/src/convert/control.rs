//! `If` whose condition is a constant once dims and bindings are known
//! (inlined: the taken branch's nodes are imported in the outer scope), and
//! `Pad` (constant, reflect and edge modes as slices and concatenations).

use super::ops::Registry;
use super::*;

/// Registers this family's ONNX operators.
pub(super) fn register(r: &mut Registry) {
    r.add("If", |c, at, n| c.if_node(at, n));
    r.add("Pad", |c, at, n| c.pad(at, n));
    r.add("Size", |c, at, n| c.size(at, n));
}

impl Converter<'_> {
    /// `If`: a condition that is a constant once dims are bound inlines
    /// the taken branch; a run-time condition (a `u8` boolean of one
    /// element) inlines both branches and selects each output with
    /// `where`, so both are computed (ONNX branches have no side effects);
    /// the two branches' outputs must then agree in shape and type.
    fn if_node(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let cond = match self.val(at, n, 0)? {
            Val::Const(t) => {
                let v: Vec<bool> = match (t.ints(), t.floats()) {
                    (Some(i), _) => i.iter().map(|&x| x != 0).collect(),
                    (None, Some(f)) => f.iter().map(|&x| x != 0.0).collect(),
                    _ => Vec::new(),
                };
                match v.as_slice() {
                    [c] => *c,
                    _ => return Err(at.invalid("the condition must hold one element")),
                }
            }
            Val::Node(c) => return self.if_runtime(at, n, c),
        };
        let outs = self.inline_branch(at, n, if cond { "then_branch" } else { "else_branch" })?;
        for (i, v) in outs.into_iter().enumerate() {
            self.set(n, i, v);
        }
        Ok(())
    }

    /// The values of a branch's outputs, its nodes imported in place.
    fn inline_branch(
        &mut self,
        at: &At,
        n: &NodeProto,
        which: &str,
    ) -> Result<Vec<Val>, ImportError> {
        let g = Self::attr(n, which)
            .and_then(|a| a.g.clone())
            .ok_or_else(|| at.invalid(format!("`{which}` is missing")))?;
        for t in &g.initializer {
            let name = t.name.clone().unwrap_or_default();
            let v = decode(t, self.base_dir)?;
            self.vals.insert(name, Val::Const(Rc::new(v)));
        }
        for node in &g.node {
            self.node(node)?;
        }
        if g.output.len() != n.output.len() {
            return Err(at.invalid(format!(
                "`{which}` has {} outputs, the If {}",
                g.output.len(),
                n.output.len()
            )));
        }
        g.output
            .iter()
            .map(|o| {
                let name = o.name.clone().unwrap_or_default();
                self.vals
                    .get(&name)
                    .cloned()
                    .ok_or_else(|| at.invalid(format!("branch output `{name}` is not computed")))
            })
            .collect()
    }

    fn if_runtime(
        &mut self,
        at: &At,
        n: &NodeProto,
        c: qcc_ir::ValueId,
    ) -> Result<(), ImportError> {
        let ct = self.g.ty(c).clone();
        if ct.elem != ElemType::Scalar(ScalarType::U8) || ct.shape.iter().product::<usize>() != 1 {
            return Err(at.unsupported(format!(
                "If on a run-time condition of type `{}` and shape {:?} (qcc selects on a \
                 boolean of one element)",
                ct.elem, ct.shape
            )));
        }
        let then = self.inline_branch(at, n, "then_branch")?;
        let els = self.inline_branch(at, n, "else_branch")?;
        for (i, (a, b)) in then.into_iter().zip(els).enumerate() {
            let (sa, sb) = (self.shape_of(&a), self.shape_of(&b));
            if sa != sb {
                return Err(at.unsupported(format!(
                    "If on a run-time condition whose branches give output {i} different \
                     shapes ({sa:?} and {sb:?})"
                )));
            }
            let (x, y) = match (&a, &b) {
                (Val::Node(x), Val::Node(y)) if self.g.ty(*x).elem == self.g.ty(*y).elem => {
                    (*x, *y)
                }
                _ => (self.f32_of(at, &a)?, self.f32_of(at, &b)?),
            };
            let cc = self.add_reshape(at, c, vec![1; sa.len()])?;
            let q = self.g.ty(x).elem.as_quant().cloned();
            let v = self.add(at, Op::Where, &[cc, x, y], q.as_ref())?;
            self.set(n, i, Val::Node(v));
        }
        Ok(())
    }

    /// `Size`: the element count, a constant once dims are bound.
    fn size(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let v = self.val(at, n, 0)?;
        let count: usize = self.shape_of(&v).iter().product();
        let t = OnnxTensor::from_ints(DType::Int64, vec![], vec![count as i64]);
        self.set(n, 0, Val::Const(Rc::new(t)));
        Ok(())
    }

    fn pad(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let mode = Self::attr_s(n, "mode").unwrap_or_else(|| "constant".into());
        let xv = self.val(at, n, 0)?;
        let x = match &xv {
            Val::Node(id) => *id,
            Val::Const(_) => self.f32_of(at, &xv)?,
        };
        let shape = self.g.ty(x).shape.clone();
        let r = shape.len();
        let pads: Vec<i64> = if self.opset < 11 {
            Self::attr(n, "pads")
                .map(|a| a.ints.clone())
                .ok_or_else(|| at.invalid("`pads` is missing"))?
        } else {
            self.konst(at, n, 1, "pads")?
                .ok_or_else(|| at.invalid("input 1 (`pads`) is missing"))?
                .ints()
                .ok_or_else(|| at.invalid("`pads` must be integers"))?
                .to_vec()
        };
        let axes: Vec<usize> = match self.konst(at, n, 3, "axes")? {
            None => (0..r).collect(),
            Some(t) => t
                .ints()
                .ok_or_else(|| at.invalid("`axes` must be integers"))?
                .iter()
                .map(|&a| {
                    let a = if a < 0 { a + r as i64 } else { a };
                    if (0..r as i64).contains(&a) {
                        Ok(a as usize)
                    } else {
                        Err(at.invalid(format!("axis {a} is out of range for rank {r}")))
                    }
                })
                .collect::<Result<_, _>>()?,
        };
        if pads.len() != 2 * axes.len() {
            return Err(at.invalid(format!(
                "`pads` has {} values for {} axes",
                pads.len(),
                axes.len()
            )));
        }
        if pads.iter().any(|&p| p < 0) {
            return Err(at.unsupported("negative pads (cropping)"));
        }
        let value = match self.konst(at, n, 2, "constant_value")? {
            Some(t) => t.floats().and_then(|f| f.first().copied()).unwrap_or(0.0),
            None => Self::attr_f(n, "value", 0.0),
        };
        if !self.g.ty(x).elem.is_f32() && (mode != "constant" || value != 0.0) {
            // Quantized values pad with their zero point, not a real value.
            if mode == "constant" {
                return Err(at.unsupported("a constant Pad of a non-f32 value"));
            }
        }
        let mut cur = x;
        for (k, &axis) in axes.iter().enumerate() {
            let (before, after) = (pads[k] as usize, pads[k + axes.len()] as usize);
            if before == 0 && after == 0 {
                continue;
            }
            let d = self.g.ty(cur).shape[axis];
            if mode == "reflect" && (before >= d || after >= d) {
                return Err(at.invalid(format!(
                    "reflect pads {before}, {after} must be below the dimension {d}"
                )));
            }
            if mode == "edge" && d == 0 {
                return Err(at.invalid("edge Pad of an empty dimension"));
            }
            let rank = self.g.ty(cur).shape.len();
            let piece = |c: &mut Self, start: i64, end: i64, step: i64| {
                let mut starts = vec![0i64; rank];
                let mut ends = vec![i64::MAX; rank];
                let mut steps = vec![1i64; rank];
                starts[axis] = start;
                ends[axis] = end;
                steps[axis] = step;
                let q = c.g.ty(cur).elem.as_quant().cloned();
                c.add(
                    at,
                    Op::Slice {
                        starts,
                        ends,
                        steps,
                    },
                    &[cur],
                    q.as_ref(),
                )
            };
            let mut parts = Vec::new();
            match mode.as_str() {
                "reflect" => {
                    if before > 0 {
                        // x[before], ..., x[1]
                        parts.push(piece(self, before as i64, 0, -1)?);
                    }
                    parts.push(cur);
                    if after > 0 {
                        // x[d−2], ..., x[d−1−after]
                        let end = d as i64 - 2 - after as i64;
                        // An end of −1 would count from the back: to the front.
                        let end = if end < 0 { i64::MIN } else { end };
                        parts.push(piece(self, d as i64 - 2, end, -1)?);
                    }
                }
                "edge" => {
                    let first = piece(self, 0, 1, 1)?;
                    let last = piece(self, d as i64 - 1, d as i64, 1)?;
                    parts.extend(std::iter::repeat_n(first, before));
                    parts.push(cur);
                    parts.extend(std::iter::repeat_n(last, after));
                }
                "constant" => {
                    let fill = |c: &mut Self, len: usize| -> Result<ValueId, ImportError> {
                        let mut s = c.g.ty(cur).shape.clone();
                        s[axis] = len;
                        let count: usize = s.iter().product();
                        let t = Rc::new(OnnxTensor::from_f32(s, vec![value; count]));
                        c.const_value(at, &t, ElemType::F32)
                    };
                    if before > 0 {
                        parts.push(fill(self, before)?);
                    }
                    parts.push(cur);
                    if after > 0 {
                        parts.push(fill(self, after)?);
                    }
                }
                other => return Err(at.unsupported(format!("Pad mode `{other}`"))),
            }
            let q = self.g.ty(cur).elem.as_quant().cloned();
            cur = self.add(at, Op::Concat { axis }, &parts, q.as_ref())?;
        }
        self.set(n, 0, Val::Node(cur));
        Ok(())
    }
}
