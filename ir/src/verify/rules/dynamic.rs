//! Typing rules of the run-time quantization ops: dynamic_scale,
//! dynamic_zero_point, quantize_dyn, dequantize_dyn, matmul_int_dyn,
//! conv2d_int_dyn.

#[allow(unused_imports)]
use super::*;
use crate::op::Conv2dAttrs;
use crate::types::ElemType;

impl Rule<'_> {
    // ---- run-time quantization parameters ----

    /// Operand `i` must be a plain integer type (its zero point is an
    /// operand, so it carries no quantization parameters).
    pub(super) fn want_plain_int(&mut self, i: usize) -> bool {
        match &self.args[i].elem {
            ElemType::Scalar(s) if s.is_int() => true,
            other => {
                self.err(format!(
                    "{} must be a plain integer type (its quantization parameters are \
                     operands), found `{other}`",
                    self.opnd(i)
                ));
                false
            }
        }
    }

    /// Operand `p` (a scale or zero point) must broadcast to the shape of
    /// operand `data` without growing it.
    pub(super) fn want_broadcasts_to(&mut self, p: usize, data: usize) -> bool {
        let (pt, dt) = (self.args[p], self.args[data]);
        if broadcast_shapes(&pt.shape, &dt.shape).as_deref() == Some(&dt.shape[..]) {
            true
        } else {
            self.err(format!(
                "{} {:?} must broadcast to the shape {:?} of {} (aligned at the right, each \
                 dimension equal or 1)",
                self.opnd(p),
                pt.shape,
                dt.shape,
                self.opnd(data)
            ));
            false
        }
    }

    /// Operand `z` must have the storage type of operand `of`.
    pub(super) fn want_same_storage(&mut self, z: usize, of: usize) -> bool {
        let (a, b) = (self.args[z].elem.storage(), self.args[of].elem.storage());
        if a == b {
            true
        } else {
            self.err(format!(
                "{} must have the storage type `{b}` of {}, found `{a}`",
                self.opnd(z),
                self.opnd(of)
            ));
            false
        }
    }

    /// `dynamic_scale` / `dynamic_zero_point`: an f32 operand of any shape,
    /// a rank-0 result of type `elem`.
    pub(super) fn dynamic_param(&mut self, elem: ElemType) -> Option<Inferred> {
        self.want_f32(0).then(|| Inferred::exact(Vec::new(), elem))
    }

    pub(super) fn quantize_dyn(&mut self) -> Option<Inferred> {
        let mut ok = self.want_f32(0) & self.want_f32(1) & self.want_plain_int(2);
        ok &= self.want_broadcasts_to(1, 0) & self.want_broadcasts_to(2, 0);
        let (x, z) = (self.args[0], self.args[2]);
        ok.then(|| Inferred::exact(x.shape.clone(), z.elem.clone()))
    }

    pub(super) fn dequantize_dyn(&mut self) -> Option<Inferred> {
        let mut ok = self.want_plain_int(0) & self.want_f32(1) & self.want_plain_int(2);
        ok &= self.want_broadcasts_to(1, 0) & self.want_broadcasts_to(2, 0);
        if ok {
            ok &= self.want_same_storage(2, 0);
        }
        ok.then(|| Inferred::exact(self.args[0].shape.clone(), ElemType::F32))
    }

    /// The operands of `matmul_int_dyn` / `conv2d_int_dyn`: plain integers,
    /// `zx` of rank 0 with `x`'s storage, `zw` of rank 0 or `[channels]`
    /// with `w`'s storage.
    pub(super) fn dyn_zero_points(&mut self, channels: usize) -> bool {
        let mut ok = true;
        for i in 0..4 {
            ok &= self.want_plain_int(i);
        }
        if !ok {
            return false;
        }
        ok &= self.want_same_storage(2, 0) & self.want_same_storage(3, 1);
        let (zx, zw) = (self.args[2], self.args[3]);
        if !zx.shape.is_empty() {
            self.err(format!(
                "`zx` must have rank 0 (one zero point for all of `x`), found shape {:?}",
                zx.shape
            ));
            ok = false;
        }
        if !(zw.shape.is_empty() || zw.shape == [channels]) {
            self.err(format!(
                "`zw` must have rank 0 or shape [{channels}] (one per output channel), found \
                 shape {:?}",
                zw.shape
            ));
            ok = false;
        }
        ok
    }

    pub(super) fn matmul_int_dyn(&mut self) -> Option<Inferred> {
        let (x, w) = (self.args[0], self.args[1]);
        let rx = x.rank();
        if rx < 2 {
            self.err(format!(
                "`x` must have rank 2 or more ([..., M, K]), found rank {rx}"
            ));
        }
        if !self.want_rank(1, 2) || rx < 2 {
            return None;
        }
        let (k, n) = (x.shape[rx - 1], w.shape[1]);
        let mut ok = self.dyn_zero_points(n);
        if w.shape[0] != k {
            self.err(format!(
                "inner dimensions differ: `x` is {:?} (K = {k}) but `w` is {:?} (K = {})",
                x.shape, w.shape, w.shape[0]
            ));
            ok = false;
        }
        let mut shape = x.shape[..rx - 1].to_vec();
        shape.push(n);
        ok.then(|| Inferred::exact(shape, ElemType::I32))
    }

    pub(super) fn conv2d_int_dyn(&mut self, a: &Conv2dAttrs) -> Option<Inferred> {
        let shape = self.conv_shape(a)?;
        self.dyn_zero_points(shape[1])
            .then(|| Inferred::exact(shape, ElemType::I32))
    }
}
