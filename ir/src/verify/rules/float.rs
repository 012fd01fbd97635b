//! Typing rules of the float ops: matmul, dense, conv2d, the elementwise
//! ops (add, mul, sub, ..., relu, clamp and the float functions), the pools
//! (f32 and quantized, with their result parameters) and softmax.

#[allow(unused_imports)]
use super::*;
use crate::op::{Conv2dAttrs, Pool2dAttrs, RequantMode};
use crate::quant::Rescale;
use crate::types::{ElemType, QuantType, ScalarType, TensorType};

/// The smallest and largest number of real (not padding) elements in a
/// pooling window along one dimension, over all output positions. Requires
/// the window geometry to be valid (pads smaller than the kernel).
pub(super) fn window_real_counts(
    input: usize,
    pad_begin: usize,
    pad_end: usize,
    kernel: usize,
    stride: usize,
) -> Option<(u128, u128)> {
    let out = window_output_size(input, pad_begin, pad_end, kernel, stride, 1)?;
    let count = |i: usize| -> Option<u128> {
        let start = (i as i128).checked_mul(stride as i128)? - pad_begin as i128;
        let end = start.checked_add(kernel as i128)?;
        let c = end.min(input as i128) - start.max(0);
        u128::try_from(c).ok()
    };
    // The count is a minimum of linear functions of the position (concave),
    // so its smallest value is at one end.
    let (first, last) = (count(0)?, count(out - 1)?);
    Some((first.min(last), (kernel as u128).min(input as u128)))
}

/// Quantized average pooling: the sum of at most `max_real` deviations fits
/// in i32, and the multiplier `s_in / (s_out · divisor)` is below 2^31.
pub(super) fn pool_params(
    x: &TensorType,
    out: &QuantType,
    divisor: u128,
    max_real: u128,
    mode: RequantMode,
    errs: &mut Vec<String>,
) {
    let Some(inp) = x.elem.as_quant() else { return };
    let dev = max_deviation(&x.elem, 0).unwrap_or(0);
    let sum = dev.saturating_mul(max_real);
    if sum > I32_MAX || divisor > I32_MAX {
        errs.push(format!(
            "the window sum may overflow i32: up to {max_real} elements of magnitude up to {dev} \
             (bound {sum} > 2^31 - 1 = {I32_MAX})"
        ));
        return;
    }
    let m = Rescale::real_multiplier(inp.scales[0], out.scales[0], divisor as u32);
    let what = if divisor > 1 {
        format!("s_in / (s_out · {divisor})")
    } else {
        "s_in / s_out".to_string()
    };
    check_multiplier(&what, m, mode, errs);
}

impl Rule<'_> {
    // ---- float ops ----

    pub(super) fn matmul(&mut self) -> Option<Inferred> {
        let ok = self.want_all_f32();
        let (a, b) = (self.args[0], self.args[1]);
        let ra = a.rank();
        if ra < 2 {
            self.err(format!(
                "`a` must have rank 2 or more ([..., M, K]), found rank {ra}"
            ));
            return None;
        }
        let (m, k) = (a.shape[ra - 2], a.shape[ra - 1]);
        let batch = &a.shape[..ra - 2];
        let rb = b.rank();
        let n = if rb == 2 || rb == ra {
            if rb > 2 && b.shape[..rb - 2] != *batch {
                self.err(format!(
                    "`b` {:?} must have the batch dimensions {batch:?} of `a` {:?}",
                    b.shape, a.shape
                ));
            }
            if b.shape[rb - 2] != k {
                self.err(format!(
                    "inner dimensions differ: `a` is {:?} (K = {k}) but `b` is {:?} (K = {})",
                    a.shape,
                    b.shape,
                    b.shape[rb - 2]
                ));
            }
            b.shape[rb - 1]
        } else {
            self.err(format!(
                "`b` must have rank 2 ([K, N]) or the rank {ra} of `a`, found rank {rb}"
            ));
            return None;
        };
        let mut shape = batch.to_vec();
        shape.extend([m, n]);
        ok.then(|| Inferred::exact(shape, ElemType::F32))
    }

    pub(super) fn dense(&mut self) -> Option<Inferred> {
        let mut ok = self.want_all_f32();
        ok &= self.want_rank(0, 2) & self.want_rank(1, 2);
        if !ok {
            return None;
        }
        let (x, w) = (self.args[0], self.args[1]);
        let (m, k, n) = (x.shape[0], x.shape[1], w.shape[0]);
        if w.shape[1] != k {
            self.err(format!(
                "`w` must be [N, K] with K = {k} (from `x` {:?}), found {:?}",
                x.shape, w.shape
            ));
        }
        self.bias_shape(n);
        Some(Inferred::exact(vec![m, n], ElemType::F32))
    }

    /// The optional third operand must be `[n]`.
    pub(super) fn bias_shape(&mut self, n: usize) -> bool {
        match self.args.get(2) {
            Some(b) if b.shape != [n] => {
                self.err(format!(
                    "{} must be [{n}] (one per output channel), found {:?}",
                    self.opnd(2),
                    b.shape
                ));
                false
            }
            _ => true,
        }
    }

    /// Shapes and attributes shared by `conv2d` and `conv2d_int`: the result
    /// shape `[N, O, OH, OW]`.
    pub(super) fn conv_shape(&mut self, a: &Conv2dAttrs) -> Option<Vec<usize>> {
        let before = self.errs.len();
        let ranks = self.want_rank(0, 4) & self.want_rank(1, 4);
        if a.strides.contains(&0) {
            self.err(format!("strides must be at least 1, found {:?}", a.strides));
        }
        if a.dilations.contains(&0) {
            self.err(format!(
                "dilations must be at least 1, found {:?}",
                a.dilations
            ));
        }
        if a.groups == 0 {
            self.err("groups must be at least 1, found 0");
        }
        if !ranks {
            return None;
        }
        let (x, w) = (self.args[0], self.args[1]);
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]);
        let g = a.groups;
        if g > 0 {
            if !c.is_multiple_of(g) {
                self.err(format!(
                    "groups = {g} does not divide the {c} input channels of `x`"
                ));
            } else if cg != c / g {
                self.err(format!(
                    "`w` {:?} must have C / groups = {} input channels (dimension 1), found {cg}",
                    w.shape,
                    c / g
                ));
            }
            if !o.is_multiple_of(g) {
                self.err(format!(
                    "groups = {g} does not divide the {o} output channels of `w`"
                ));
            }
        }
        let mut out = [0usize; 2];
        if !a.strides.contains(&0) && !a.dilations.contains(&0) {
            let dims = [("height", h, kh, 0usize), ("width", wd, kw, 1usize)];
            for (what, size, k, d) in dims {
                let (pb, pe) = (a.pads[d], a.pads[d + 2]);
                match window_output_size(size, pb, pe, k, a.strides[d], a.dilations[d]) {
                    Some(s) => out[d] = s,
                    None => self.err(format!(
                        "the output {what} would be less than 1: input {what} {size} with pads \
                         {pb} + {pe} is smaller than the kernel's extent \
                         (dilation {} · ({k} − 1) + 1)",
                        a.dilations[d]
                    )),
                }
            }
        }
        (self.errs.len() == before).then(|| vec![n, o, out[0], out[1]])
    }

    pub(super) fn conv2d(&mut self, a: &Conv2dAttrs) -> Option<Inferred> {
        let mut ok = self.want_all_f32();
        let shape = self.conv_shape(a)?;
        ok &= self.bias_shape(shape[1]);
        ok.then(|| Inferred::exact(shape, ElemType::F32))
    }

    pub(super) fn elementwise_f32(&mut self) -> Option<Inferred> {
        let ok = self.want_all_f32();
        let shape = self.broadcast()?;
        ok.then(|| Inferred::exact(shape, ElemType::F32))
    }

    /// `add` / `sub` / `mul`: `f32`, or two operands of one plain integer
    /// type (the arithmetic wraps in that width, as ONNX's integer ops).
    pub(super) fn arithmetic(&mut self) -> Option<Inferred> {
        let (a, b) = (self.args[0], self.args[1]);
        let int = |e: &ElemType| is_plain_value(e) && !e.is_f32();
        if int(&a.elem) && a.elem == b.elem {
            let shape = self.broadcast()?;
            return Some(Inferred::exact(shape, a.elem.clone()));
        }
        self.elementwise_f32()
    }

    pub(super) fn broadcast(&mut self) -> Option<Vec<usize>> {
        let (a, b) = (self.args[0], self.args[1]);
        let s = broadcast_shapes(&a.shape, &b.shape);
        if s.is_none() {
            self.err(format!(
                "shapes {:?} and {:?} do not broadcast (aligned at the right, each pair of \
                 dimensions must be equal or one of them 1)",
                a.shape, b.shape
            ));
        }
        s
    }

    pub(super) fn unary_f32(&mut self) -> Option<Inferred> {
        self.want_f32(0).then(|| self.same_type())
    }

    /// A unary f32 op whose float attributes must be finite.
    pub(super) fn unary_f32_finite(&mut self, attrs: &[(&str, f32)]) -> Option<Inferred> {
        let ok = self.want_f32(0);
        let mut finite = true;
        for &(name, v) in attrs {
            if !v.is_finite() {
                self.err(format!("`{name}` must be finite, found {v}"));
                finite = false;
            }
        }
        (ok && finite).then(|| self.same_type())
    }

    pub(super) fn clamp(&mut self, min: f32, max: f32) -> Option<Inferred> {
        let ok = self.want_f32(0);
        let mut attrs = true;
        for (name, v) in [("min", min), ("max", max)] {
            if !v.is_finite() {
                self.err(format!("`{name}` must be finite, found {v}"));
                attrs = false;
            }
        }
        if attrs && min > max {
            self.err(format!("`min` = {min} is greater than `max` = {max}"));
            attrs = false;
        }
        (ok && attrs).then(|| self.same_type())
    }

    // ---- pooling ----

    /// Shapes and attributes shared by the 2-d pools: `[N, C, OH, OW]`.
    pub(super) fn pool_shape(&mut self, a: &Pool2dAttrs) -> Option<Vec<usize>> {
        let before = self.errs.len();
        let rank = self.want_rank(0, 4);
        if a.kernel.contains(&0) {
            self.err(format!("kernel must be at least 1, found {:?}", a.kernel));
        }
        if a.strides.contains(&0) {
            self.err(format!("strides must be at least 1, found {:?}", a.strides));
        }
        for (i, &p) in a.pads.iter().enumerate() {
            let k = a.kernel[i % 2];
            if p >= k && k > 0 {
                let side = ["top", "left", "bottom", "right"][i];
                self.err(format!(
                    "the {side} pad {p} must be smaller than the kernel size {k} along its \
                     dimension (pads {:?}, kernel {:?})",
                    a.pads, a.kernel
                ));
            }
        }
        if !rank || self.errs.len() > before {
            return None;
        }
        let x = self.args[0];
        let mut out = [0usize; 2];
        for (d, what) in [(0usize, "height"), (1, "width")] {
            let size = x.shape[2 + d];
            let (pb, pe) = (a.pads[d], a.pads[d + 2]);
            match window_output_size(size, pb, pe, a.kernel[d], a.strides[d], 1) {
                Some(s) => out[d] = s,
                None => self.err(format!(
                    "the output {what} would be less than 1: input {what} {size} with pads \
                     {pb} + {pe} is smaller than the kernel size {}",
                    a.kernel[d]
                )),
            }
        }
        (self.errs.len() == before).then(|| vec![x.shape[0], x.shape[1], out[0], out[1]])
    }

    pub(super) fn maxpool(&mut self, a: &Pool2dAttrs) -> Option<Inferred> {
        if a.count_include_pad {
            self.err("`count_include_pad` is an attribute of avgpool2d, not maxpool2d");
        }
        if a.mode != RequantMode::Float {
            self.err(format!(
                "`mode` is not an attribute of maxpool2d (found mode = {})",
                a.mode
            ));
        }
        let x = self.args[0];
        if let Some(ax) = x.elem.as_quant().and_then(|q| q.axis)
            && ax >= 2
        {
            self.err(format!(
                "`x` is quantized per axis on axis {ax}: a window would compare codes of \
                 different scales (per axis is allowed on axis 0 or 1 only)"
            ));
        }
        let shape = self.pool_shape(a)?;
        Some(Inferred::exact(shape, x.elem.clone()))
    }

    /// Element rule shared by the average pools: f32, or per-tensor quantized.
    pub(super) fn avg_elem(&mut self) -> Option<ElemRule> {
        let x = self.args[0];
        match &x.elem {
            ElemType::Scalar(ScalarType::F32) => Some(ElemRule::Exact(ElemType::F32)),
            ElemType::Quant(q) => match q.axis {
                None => Some(ElemRule::Quantized(AxisRule::PerTensor)),
                Some(a) => {
                    self.err(format!(
                        "`x` must be f32 or quantized per tensor, found per axis (axis {a})"
                    ));
                    None
                }
            },
            other => {
                self.err(format!(
                    "`x` must be f32 or quantized per tensor, found `{other}`"
                ));
                None
            }
        }
    }

    pub(super) fn avgpool(&mut self, a: &Pool2dAttrs) -> Option<Inferred> {
        let elem = self.avg_elem();
        let shape = self.pool_shape(a)?;
        Some(Inferred {
            shape: ShapeRule::Exact(shape),
            elem: elem?,
        })
    }

    pub(super) fn global_avgpool(&mut self) -> Option<Inferred> {
        let elem = self.avg_elem();
        if !self.want_rank(0, 4) {
            return None;
        }
        let x = self.args[0];
        Some(Inferred {
            shape: ShapeRule::Exact(vec![x.shape[0], x.shape[1], 1, 1]),
            elem: elem?,
        })
    }

    pub(super) fn softmax(&mut self, axis: usize) -> Option<Inferred> {
        let ok = self.want_f32(0);
        let ax = self.want_axis("`axis`", axis, self.args[0].rank());
        (ok && ax).then(|| self.same_type())
    }

    pub(super) fn reduce_mean(&mut self, axes: &[usize]) -> Option<Inferred> {
        let ok = self.want_f32(0);
        let x = self.args[0];
        let rank = x.rank();
        if axes.is_empty() || !axes.windows(2).all(|w| w[0] < w[1]) || axes[axes.len() - 1] >= rank
        {
            self.err(format!(
                "`axes` = {axes:?} must be distinct increasing axes of the rank-{rank} operand"
            ));
            return None;
        }
        let mut shape = x.shape.clone();
        for &a in axes {
            shape[a] = 1;
        }
        ok.then(|| Inferred::exact(shape, x.elem.clone()))
    }
}
