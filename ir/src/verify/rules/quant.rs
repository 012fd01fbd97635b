//! Typing rules of quantize, dequantize and requantize, and the checks of
//! result quantization parameters (rescale multipliers) of every op that
//! has them.

#[allow(unused_imports)]
use super::*;
use crate::op::{Op, RequantMode};
use crate::quant::{Rescale, RescaleError};
use crate::types::{ElemType, ScalarType, TensorType};

/// Checks a real multiplier: below [`MAX_MULTIPLIER`] (2^31) in every mode,
/// and in the fixed-point modes also with a shift of at most 31 after
/// rounding (a multiplier within 1/2 of 2^31 rounds up to 2^31, which has no
/// fixed-point form).
pub(super) fn check_multiplier(
    what: &str,
    m: f64,
    mode: RequantMode,
    errs: &mut Vec<String>,
) -> bool {
    // The one rule of every stage (`Rescale::check_multiplier`), reported
    // with the verifier's wording, which names the multiplier.
    match Rescale::check_multiplier(mode, m) {
        Ok(()) => {}
        Err(RescaleError::TooLarge { .. } | RescaleError::BadScales { .. }) => {
            errs.push(format!(
                "the rescale multiplier {what} = {m:.6e} must be < 2^31"
            ));
            return false;
        }
        Err(RescaleError::RoundsTo2p31 { .. }) => {
            errs.push(format!(
                "the rescale multiplier {what} = {m} rounds to 2^31 in mode {mode}; it must be \
                 < 2^31 - 1/2"
            ));
            return false;
        }
    }
    true
}

/// The checks of [`check_op`] that need the result's quantization parameters.
/// The operands and the result have valid types.
pub(super) fn result_params(
    op: &Op,
    args: &[&TensorType],
    result: &TensorType,
    errs: &mut Vec<String>,
) {
    let Some(out) = result.elem.as_quant() else {
        return;
    };
    match op {
        Op::Requantize { mode } => {
            let Some(inp) = args.first().and_then(|t| t.elem.as_quant()) else {
                return;
            };
            if inp.axis.is_some() && out.axis.is_some() && inp.axis != out.axis {
                return;
            }
            let n = inp.scales.len().max(out.scales.len());
            for c in 0..n {
                let (Some(&si), Some(&so)) = (
                    inp.scales.get(c).or(inp.scales.first()),
                    out.scales.get(c).or(out.scales.first()),
                ) else {
                    return;
                };
                let what = if n > 1 {
                    format!("s_in / s_out of channel {c}")
                } else {
                    "s_in / s_out".to_string()
                };
                if !check_multiplier(&what, Rescale::real_multiplier(si, so, 1), *mode, errs) {
                    break;
                }
            }
        }
        Op::AvgPool2d(a) => {
            let Some(x) = args.first() else { return };
            if x.rank() != 4 {
                return;
            }
            if let Some((divisor, max_real)) = pool_counts(x.shape[2], x.shape[3], a) {
                pool_params(x, out, divisor, max_real, a.mode, errs);
            }
        }
        Op::GlobalAvgPool { mode } => {
            let Some(x) = args.first() else { return };
            if x.rank() != 4 {
                return;
            }
            let count = (x.shape[2] as u128).saturating_mul(x.shape[3] as u128);
            pool_params(x, out, count, count, *mode, errs);
        }
        Op::AddInt { mode, ort } => {
            if *ort && out.storage.bits() > 8 {
                errs.push(format!(
                    "`ort = true` needs a result of at most 8 bits, found `{}`",
                    out.storage
                ));
            }
            let (Some(a), Some(b)) = (
                args.first().and_then(|t| t.elem.as_quant()),
                args.get(1).and_then(|t| t.elem.as_quant()),
            ) else {
                return;
            };
            let (sa, sb, sy) = (a.scales[0], b.scales[0], out.scales[0]);
            match mode {
                RequantMode::Float => {
                    check_multiplier("sa / sy", Rescale::real_multiplier(sa, sy, 1), *mode, errs);
                    check_multiplier("sb / sy", Rescale::real_multiplier(sb, sy, 1), *mode, errs);
                }
                RequantMode::SingleRound | RequantMode::DoubleRound => {
                    // sa / t and sb / t are at most 1/2 by construction.
                    let t = 2.0 * (sa as f64).max(sb as f64);
                    let m = t / (2f64.powi(ADD_INT_LEFT_SHIFT as i32) * sy as f64);
                    check_multiplier("2·max(sa, sb) / (2^20 · sy)", m, *mode, errs);
                }
            }
        }
        _ => {}
    }
}

impl Rule<'_> {
    // ---- quantization ----

    pub(super) fn quantize(&mut self) -> Option<Inferred> {
        self.want_f32(0).then(|| Inferred {
            shape: ShapeRule::Exact(self.args[0].shape.clone()),
            elem: ElemRule::Quantized(AxisRule::Any),
        })
    }

    pub(super) fn dequantize(&mut self) -> Option<Inferred> {
        self.want_quant(0)
            .then(|| Inferred::exact(self.args[0].shape.clone(), ElemType::F32))
    }

    pub(super) fn requantize(&mut self) -> Option<Inferred> {
        if !self.want_quant(0) {
            return None;
        }
        let x = self.args[0];
        let rule = match x.elem.as_quant().and_then(|q| q.axis) {
            Some(a) => AxisRule::PerTensorOrAxis(a),
            None => AxisRule::Any,
        };
        Some(Inferred {
            shape: ShapeRule::Exact(x.shape.clone()),
            elem: ElemRule::Quantized(rule),
        })
    }
}

/// The largest block of `dense_nbits_q8`: `127 · 255 · 4096 < 2^31`.
pub(crate) const Q8_MAX_BLOCK: usize = 4096;

impl Rule<'_> {
    /// `dense_nbits x, w[, b]`: `x` f32 `[..., K]` (rank ≥ 1), `w` `[N, K]`
    /// quantized in blocks along axis 1 (i4, u4, i8 or u8 storage, the full
    /// range), `b` f32 `[N]`; the result f32 `[..., N]`. `dense_nbits_q8`
    /// (`q8`) also needs a block's integer dot product to fit i32: blocks
    /// of at most 4096.
    pub(super) fn dense_nbits(&mut self, q8: bool) -> Option<Inferred> {
        let mut ok = self.want_f32(0);
        if self.args.len() > 2 {
            ok &= self.want_f32(2);
        }
        let (x, w) = (self.args[0], self.args[1]);
        if x.rank() == 0 {
            self.err("`x` must have rank at least 1 (`[..., K]`), found rank 0");
            ok = false;
        }
        if w.rank() != 2 {
            self.err(format!("`w` must be [N, K], found {:?}", w.shape));
            return None;
        }
        match w.elem.as_quant() {
            Some(q) if q.is_blocked() && q.axis == Some(1) => {
                if q8 && q.block.is_some_and(|b| b > Q8_MAX_BLOCK) {
                    self.err(format!(
                        "`w`'s blocks must hold at most {Q8_MAX_BLOCK} elements of K (a \
                         block's integer dot product must fit i32), found {}",
                        q.block.unwrap_or(0)
                    ));
                    ok = false;
                }
                if !matches!(
                    q.storage,
                    ScalarType::I4 | ScalarType::U4 | ScalarType::I8 | ScalarType::U8
                ) || !q.has_full_range()
                {
                    self.err(format!(
                        "`w` must be stored as i4, u4, i8 or u8 with the full range, found `{}`",
                        q.storage_text()
                    ));
                    ok = false;
                }
            }
            Some(q) if q.is_blocked() => {
                self.err(format!(
                    "`w` [N, K] must be quantized in blocks along K (axis 1), found blocks \
                     along axis {}",
                    q.axis.unwrap_or(0)
                ));
                ok = false;
            }
            _ => {
                self.err(format!(
                    "`w` must be quantized in blocks along K (`!quant.uniform<u4:f32:{{1:32}}, \
                     ...>`), found `{}`",
                    w.elem
                ));
                ok = false;
            }
        }
        if !ok {
            return None;
        }
        let (n, k) = (w.shape[0], w.shape[1]);
        let xk = *x.shape.last()?;
        if xk != k {
            self.err(format!(
                "`w` must be [N, K] with K = {xk} (the last dimension of `x` {:?}), found {:?}",
                x.shape, w.shape
            ));
            return None;
        }
        if !self.bias_shape(n) {
            return None;
        }
        let mut shape = x.shape.clone();
        *shape.last_mut()? = n;
        Some(Inferred::exact(shape, ElemType::F32))
    }
}
