//! Typing rules of the integer ops: matmul_int, conv2d_int (accumulator
//! types), lookup, row_sums, add_int, clamp_int.

#[allow(unused_imports)]
use super::*;
use crate::op::{Conv2dAttrs, RequantMode};
use crate::types::{ElemType, QuantType, ScalarType};
use std::sync::Arc;

pub(super) fn check_accumulator_elem(acc: &QuantType, written: &ElemType, errs: &mut Vec<String>) {
    let q = match written {
        ElemType::Scalar(ScalarType::I32) => return,
        ElemType::Quant(q) if q.storage == ScalarType::I32 && q.has_full_range() => q,
        other => {
            errs.push(format!(
                "result must be `i32` or a quantized i32 accumulator \
                 (`!quant.uniform<i32:f32, sx·sw>`), found `{other}`"
            ));
            return;
        }
    };
    if let Some(z) = q.zero_points.iter().find(|z| **z != 0) {
        errs.push(format!("the accumulator's zero point must be 0, found {z}"));
    }
    match (acc.axis, q.axis) {
        (Some(a), None) => errs.push(format!(
            "result must be per axis on axis {a} because `w` is per axis, found per tensor"
        )),
        (None, Some(b)) => errs.push(format!(
            "result must be per tensor because `w` is per tensor, found per axis (axis {b})"
        )),
        (Some(a), Some(b)) if a != b => errs.push(format!(
            "result must be per axis on axis {a}, found axis {b}"
        )),
        _ => {
            if q.scales.len() == acc.scales.len()
                && let Some(m) = scale_mismatch("result", &q.scales, &acc.scales)
            {
                errs.push(m);
            }
        }
    }
}

impl Rule<'_> {
    // ---- integer ops ----

    /// `x` and `w` of `matmul_int` / `conv2d_int`: integer or quantized,
    /// `x` per tensor, `w` per tensor or per axis on `w_axis`.
    pub(super) fn int_operands(&mut self, w_axis: usize, w_dim: &str) -> bool {
        let mut ok = self.want_int(0) & self.want_int(1);
        ok &= self.want_not_per_axis(0, "`x` must be quantized per tensor");
        if let Some(a) = self.args[1].elem.as_quant().and_then(|q| q.axis)
            && a != w_axis
        {
            self.err(format!(
                "`w` may be quantized per axis only on axis {w_axis} ({w_dim}), found axis {a}"
            ));
            ok = false;
        }
        ok
    }

    /// The accumulator of `matmul_int` / `conv2d_int` with `n` output
    /// channels, on `out_axis` when `w` is per axis; checks a bias's type.
    pub(super) fn accumulator(&mut self, n: usize, out_axis: usize) -> Option<ElemRule> {
        let (x, w) = (self.args[0], self.args[1]);
        let acc = match (x.elem.as_quant(), w.elem.as_quant()) {
            (Some(qx), Some(qw)) => {
                let sx = qx.scales[0];
                let scales: Vec<f32> = qw
                    .scales
                    .iter()
                    .map(|&sw| accumulator_scale(sx, sw))
                    .collect();
                if scales.iter().all(|s| s.is_finite() && *s > 0.0) {
                    let q = match qw.axis {
                        Some(_) => QuantType::per_axis(
                            ScalarType::I32,
                            out_axis,
                            scales,
                            vec![0; qw.scales.len()],
                        ),
                        None => QuantType::per_tensor(ScalarType::I32, scales[0], 0),
                    };
                    Some(q)
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some(b) = self.args.get(2) {
            // The shape is checked by the caller (`bias_shape`).
            let shape_ok = b.shape == [n];
            match &b.elem {
                ElemType::Scalar(ScalarType::I32) => {}
                ElemType::Quant(qb) if qb.storage == ScalarType::I32 => {
                    if let Some(z) = qb.zero_points.iter().find(|z| **z != 0) {
                        self.err(format!("`bias` must have zero point 0, found {z}"));
                    }
                    match &acc {
                        None => self.err(
                            "a quantized `bias` needs quantized `x` and `w` (its scale must be \
                             sx · sw); use a plain `i32` bias",
                        ),
                        Some(acc) if shape_ok => {
                            if let Some(m) = scale_mismatch("`bias`", &qb.scales, &acc.scales) {
                                self.err(m);
                            }
                        }
                        Some(_) => {}
                    }
                }
                other => self.err(format!(
                    "`bias` must be `i32` or `!quant.uniform<i32:f32, s>`, found `{other}`"
                )),
            }
        }
        Some(match acc {
            Some(q) => ElemRule::Accumulator(Arc::new(q)),
            None => ElemRule::Exact(ElemType::I32),
        })
    }

    pub(super) fn matmul_int(&mut self) -> Option<Inferred> {
        let before = self.errs.len();
        let ok = self.int_operands(1, "the N dimension of [K, N]");
        let (x, w) = (self.args[0], self.args[1]);
        let rx = x.rank();
        if rx < 2 {
            self.err(format!(
                "`x` must have rank 2 or more ([..., M, K]), found rank {rx}"
            ));
        }
        let w_rank = self.want_rank(1, 2);
        if !ok || rx < 2 || !w_rank {
            return None;
        }
        let k = x.shape[rx - 1];
        let n = w.shape[1];
        if w.shape[0] != k {
            self.err(format!(
                "inner dimensions differ: `x` is {:?} (K = {k}) but `w` is {:?} (K = {})",
                x.shape, w.shape, w.shape[0]
            ));
        }
        self.bias_shape(n);
        if let Some(rs) = self.args.get(3) {
            let mut rows = x.shape[..rx - 1].to_vec();
            rows.push(1);
            if rs.shape != rows {
                self.err(format!(
                    "`rs` (the row sums of `x`) must have shape {rows:?}, found {:?}",
                    rs.shape
                ));
            }
            if rs.elem != ElemType::I32 {
                self.err(format!("`rs` must be plain `i32`, found `{}`", rs.elem));
            }
        }
        let elem = self.accumulator(n, rx - 1)?;
        let mut shape = x.shape[..rx - 1].to_vec();
        shape.push(n);
        (self.errs.len() == before).then_some(Inferred {
            shape: ShapeRule::Exact(shape),
            elem,
        })
    }

    pub(super) fn conv2d_int(&mut self, a: &Conv2dAttrs) -> Option<Inferred> {
        let before = self.errs.len();
        let ok = self.int_operands(0, "the output channels of [O, C/groups, KH, KW]");
        if !ok {
            return None;
        }
        let shape = self.conv_shape(a)?;
        if !self.bias_shape(shape[1]) {
            return None;
        }
        let elem = self.accumulator(shape[1], 1)?;
        (self.errs.len() == before).then_some(Inferred {
            shape: ShapeRule::Exact(shape),
            elem,
        })
    }

    /// `lookup x, table`: x 8-bit, table plain `[256]` of the result's
    /// 8-bit storage; the result has x's shape.
    pub(super) fn lookup(&mut self) -> Option<Inferred> {
        let byte = |t: ScalarType| matches!(t, ScalarType::U8 | ScalarType::I8);
        let (x, t) = (self.args[0], self.args[1]);
        let mut ok = true;
        if !byte(x.elem.storage()) || x.elem.is_f32() {
            self.err(format!(
                "`x` must have 8-bit storage (u8 or i8), found `{}`",
                x.elem
            ));
            ok = false;
        }
        if t.shape != [256] || !matches!(t.elem, ElemType::Scalar(st) if byte(st)) {
            self.err(format!(
                "`table` must be a plain `u8` or `i8` tensor of shape [256], found `tensor<{:?} x {}>`",
                t.shape, t.elem
            ));
            ok = false;
        }
        let storage = t.elem.storage();
        ok.then(|| Inferred {
            shape: ShapeRule::Exact(x.shape.clone()),
            elem: ElemRule::Storage(storage),
        })
    }

    /// `row_sums x`: `[..., K]` → `[..., 1]` in plain i32; the sums must fit
    /// i32 for every value `x`'s type allows.
    pub(super) fn row_sums(&mut self) -> Option<Inferred> {
        let ok =
            self.want_int(0) & self.want_not_per_axis(0, "the row sums subtract one zero point");
        let x = self.args[0];
        let Some((&k, rest)) = x.shape.split_last() else {
            self.err("`x` must have rank 1 or more");
            return None;
        };
        let (lo, hi) = x.elem.int_range()?;
        let z = x.elem.as_quant().map_or(0, |q| q.zero_points[0]);
        let dev = (lo as i128 - z as i128)
            .abs()
            .max((hi as i128 - z as i128).abs());
        if dev * k as i128 > i32::MAX as i128 {
            self.err(format!(
                "the row sums of `x` could overflow i32: K = {k} values of up to {dev} in magnitude"
            ));
            return None;
        }
        let mut shape = rest.to_vec();
        shape.push(1);
        ok.then_some(Inferred {
            shape: ShapeRule::Exact(shape),
            elem: ElemRule::Exact(ElemType::I32),
        })
    }

    pub(super) fn add_int(&mut self, mode: RequantMode, ort: bool) -> Option<Inferred> {
        let mut ok = true;
        if ort && mode != RequantMode::Float {
            self.err(format!(
                "`ort = true` (onnxruntime's arithmetic) is a float-mode dialect, but mode is {mode}"
            ));
            ok = false;
        }
        for i in 0..2 {
            if self.want_quant(i) {
                ok &= self.want_not_per_axis(i, "add_int needs per-tensor operands");
                let t = self.args[i];
                if ort && t.elem.storage().bits() > 8 {
                    self.err(format!(
                        "`ort = true` needs operands of at most 8 bits, but {} is `{}`",
                        self.opnd(i),
                        t.elem.storage()
                    ));
                    ok = false;
                } else if mode != RequantMode::Float && t.elem.storage().bits() > 8 {
                    self.err(format!(
                        "mode {mode} needs operands of at most 8 bits, but {} is `{}`",
                        self.opnd(i),
                        t.elem.storage()
                    ));
                    ok = false;
                }
            } else {
                ok = false;
            }
        }
        let shape = self.broadcast()?;
        ok.then_some(Inferred {
            shape: ShapeRule::Exact(shape),
            elem: ElemRule::Quantized(AxisRule::PerTensor),
        })
    }

    pub(super) fn clamp_int(&mut self, min: i64, max: i64) -> Option<Inferred> {
        let ok = self.want_int(0);
        if min > max {
            self.err(format!("`min` = {min} is greater than `max` = {max}"));
            return None;
        }
        ok.then(|| self.same_type())
    }
}
