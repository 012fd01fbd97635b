//! Typing rules of the data-movement ops: reshape, flatten, transpose,
//! slice, concat.

#[allow(unused_imports)]
use super::*;
use crate::types::ElemType;

impl Rule<'_> {
    // ---- data movement ----

    pub(super) fn reshape(&mut self) -> Option<Inferred> {
        if !self.want_not_per_axis(0, "per-axis tensors cannot be reshaped") {
            return None;
        }
        let x = self.args[0];
        Some(Inferred {
            shape: ShapeRule::Elements(x.num_elements()?),
            elem: ElemRule::Exact(x.elem.clone()),
        })
    }

    pub(super) fn flatten(&mut self, axis: usize) -> Option<Inferred> {
        let ok = self.want_not_per_axis(0, "per-axis tensors cannot be flattened");
        let x = self.args[0];
        if axis > x.rank() {
            self.err(format!(
                "`axis` = {axis} must be at most the rank {}",
                x.rank()
            ));
            return None;
        }
        let outer = x.shape[..axis]
            .iter()
            .try_fold(1usize, |p, &d| p.checked_mul(d))?;
        let inner = x.shape[axis..]
            .iter()
            .try_fold(1usize, |p, &d| p.checked_mul(d))?;
        ok.then(|| Inferred::exact(vec![outer, inner], x.elem.clone()))
    }

    pub(super) fn transpose(&mut self, perm: &[usize]) -> Option<Inferred> {
        let x = self.args[0];
        let rank = x.rank();
        let mut seen = vec![false; rank];
        let is_perm = perm.len() == rank
            && perm
                .iter()
                .all(|&p| p < rank && !std::mem::replace(&mut seen[p], true));
        if !is_perm {
            self.err(format!(
                "`perm` = {perm:?} is not a permutation of 0..{rank}"
            ));
            return None;
        }
        let shape: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
        let elem = match &x.elem {
            ElemType::Quant(q) if q.axis.is_some() => {
                let old = q.axis?;
                let new = perm.iter().position(|&p| p == old)?;
                let mut q2 = (**q).clone();
                q2.axis = Some(new);
                ElemType::quant(q2)
            }
            e => e.clone(),
        };
        Some(Inferred::exact(shape, elem))
    }

    pub(super) fn slice(
        &mut self,
        starts: &[i64],
        ends: &[i64],
        steps: &[i64],
    ) -> Option<Inferred> {
        let x = self.args[0];
        let plan = match crate::slicing::slice_plan(&x.shape, starts, ends, steps) {
            Ok(p) => p,
            Err(e) => {
                self.err(e);
                return None;
            }
        };
        if let ElemType::Quant(q) = &x.elem
            && let Some(a) = q.axis
            && !plan[a].is_identity(x.shape[a])
        {
            self.err(format!(
                "the operand is quantized per axis {a}, which must be kept whole"
            ));
            return None;
        }
        let shape = plan.iter().map(|p| p.len).collect();
        Some(Inferred::exact(shape, x.elem.clone()))
    }

    /// `argmax` / `argmin`: `i32` indices, `axis` kept with extent 1.
    pub(super) fn arg(&mut self, axis: usize) -> Option<Inferred> {
        let x = self.args[0];
        if !self.want_axis("`axis`", axis, x.rank()) {
            return None;
        }
        if matches!(x.elem.storage(), ScalarType::I4 | ScalarType::U4) {
            self.err(format!(
                "`x` may not be a packed 4-bit tensor, found `{}`",
                x.elem
            ));
            return None;
        }
        if let Some(q) = x.elem.as_quant()
            && (q.axis.is_some() || q.scales.iter().any(|&s| s.is_nan() || s <= 0.0))
        {
            self.err(format!(
                "a quantized `x` must be per tensor with a positive scale (its codes are \
                 compared), found `{}`",
                x.elem
            ));
            return None;
        }
        let mut shape = x.shape.clone();
        shape[axis] = 1;
        Some(Inferred::exact(shape, ElemType::Scalar(ScalarType::I32)))
    }

    pub(super) fn gather(&mut self, axis: usize) -> Option<Inferred> {
        let (x, idx) = (self.args[0], self.args[1]);
        let before = self.errs.len();
        if !self.want_axis("`axis`", axis, x.rank()) {
            return None;
        }
        if idx.elem != ElemType::Scalar(ScalarType::I32) {
            self.err(format!(
                "the indices `idx` must be `i32`, found `{}`",
                idx.elem
            ));
        }
        if matches!(x.elem.storage(), ScalarType::I4 | ScalarType::U4) {
            self.err(format!(
                "`x` may not be a packed 4-bit tensor, found `{}`",
                x.elem
            ));
        }
        if x.shape[axis] == 0 {
            self.err(format!(
                "axis {axis} of `x` is empty: there is nothing to gather"
            ));
        }
        if let Some(a) = x.elem.as_quant().and_then(|q| q.axis)
            && (a == axis || (a > axis && idx.rank() != 1))
        {
            self.err(format!(
                "`x` is quantized per axis {a}, which a gather along axis {axis} at indices \
                 of rank {} would cut or move",
                idx.rank()
            ));
        }
        if self.errs.len() > before {
            return None;
        }
        let mut shape = x.shape[..axis].to_vec();
        shape.extend_from_slice(&idx.shape);
        shape.extend_from_slice(&x.shape[axis + 1..]);
        Some(Inferred::exact(shape, x.elem.clone()))
    }

    pub(super) fn concat(&mut self, axis: usize) -> Option<Inferred> {
        let first = self.args[0];
        let before = self.errs.len();
        self.want_not_per_axis(0, "per-axis tensors cannot be concatenated");
        let rank = first.rank();
        self.want_axis("`axis`", axis, rank);
        let mut total = first.shape.get(axis).copied().unwrap_or(0);
        for i in 1..self.args.len() {
            let t = self.args[i];
            if t.elem != first.elem {
                self.err(format!(
                    "operand {i} has element type `{}` but operand 0 has `{}`; all operands \
                     of concat must have exactly the same element type",
                    t.elem, first.elem
                ));
            }
            if t.rank() != rank {
                self.err(format!(
                    "operand {i} has rank {} ({:?}) but operand 0 has rank {rank} ({:?})",
                    t.rank(),
                    t.shape,
                    first.shape
                ));
                continue;
            }
            let differs = (0..rank).any(|d| d != axis && t.shape[d] != first.shape[d]);
            if differs {
                self.err(format!(
                    "operand {i} is {:?} but operand 0 is {:?}; only the dimension of axis \
                     {axis} may differ",
                    t.shape, first.shape
                ));
            }
            if let Some(&d) = t.shape.get(axis) {
                total = total.saturating_add(d);
            }
        }
        if self.errs.len() > before {
            return None;
        }
        let mut shape = first.shape.clone();
        shape[axis] = total;
        Some(Inferred::exact(shape, first.elem.clone()))
    }
}
