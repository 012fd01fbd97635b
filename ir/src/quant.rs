//! Quantization arithmetic: the exact integer and float formulas that the
//! interpreter uses and the code generator must mirror bit for bit.
//!
//! `docs/semantics.md` explains each function; the names here match its
//! section headings. All rescales go through [`Rescale`], built once from the
//! real multiplier and a [`RequantMode`], so the multiplier and shift are
//! derived in exactly one place.

use crate::op::RequantMode;

/// Rounds half to even (2.5 → 2, 3.5 → 4, -2.5 → -2).
#[inline]
pub fn round_half_even(x: f32) -> f32 {
    x.round_ties_even()
}

/// Clamps `v` into `[lo, hi]`.
#[inline]
pub fn saturate(v: i64, lo: i64, hi: i64) -> i64 {
    v.clamp(lo, hi)
}

/// Converts an f32 that is already integral (or ±inf / NaN) to i64,
/// saturating; NaN becomes 0. Used after rounding.
#[inline]
pub fn f32_to_i64_sat(x: f32) -> i64 {
    // `as` saturates and maps NaN to 0, which is the defined behaviour.
    x as i64
}

/// onnxruntime's `QLinearAdd` on 8-bit codes (`add_int {ort = true}`;
/// docs/semantics.md, "add_int"): MLAS's AVX2 kernel adds two fused
/// multiply-adds to a constant that holds every zero point, on the stored
/// codes themselves. Of the two operands one is outer (`x`) and one inner
/// (`y`); [`ort_add_outer_is_a`] says which, from the shapes, as
/// onnxruntime's broadcasting picks its kernel's operand order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OrtAdd {
    /// The outer operand's multiplier `s_x / s_out` (one f32 division).
    pub rx: f32,
    /// The inner operand's multiplier.
    pub ry: f32,
    /// `f32(z_out) − fma(rx, f32(z_x), ry · f32(z_y))`, rounded to f32 at
    /// each step.
    pub k: f32,
}

impl OrtAdd {
    /// From the f32 multipliers `ma = sa / sy`, `mb = sb / sy`, the zero
    /// points and which operand is the outer one.
    pub fn new(ma: f32, mb: f32, za: i64, zb: i64, zy: i64, a_is_outer: bool) -> OrtAdd {
        let ((rx, zx), (ry, zi)) = if a_is_outer {
            ((ma, za), (mb, zb))
        } else {
            ((mb, zb), (ma, za))
        };
        let k = zy as f32 - rx.mul_add(zx as f32, ry * zi as f32);
        OrtAdd { rx, ry, k }
    }

    /// `fma(f32(x), rx, fma(f32(y), ry, k))` for the outer code `x` and the
    /// inner code `y` (stored integers, zero points not subtracted).
    #[inline]
    pub fn sum(&self, x: i64, y: i64) -> f32 {
        (x as f32).mul_add(self.rx, (y as f32).mul_add(self.ry, self.k))
    }

    /// The stored result: the sum rounded half to even, saturated to
    /// `[lo, hi]` (the zero point is inside `k`).
    #[inline]
    pub fn apply(&self, x: i64, y: i64, lo: i64, hi: i64) -> i64 {
        saturate(f32_to_i64_sat(round_half_even(self.sum(x, y))), lo, hi)
    }
}

/// Whether `a` is the outer operand of onnxruntime's add of `a [..]` and
/// `b [..]` (numpy broadcasting). onnxruntime walks the dimensions from the
/// right, over those both shapes have, to the first whose broadcast extent
/// is above 1 (or the leftmost of them): if `a` has extent 1 there, `a` is
/// one value per inner run and `b` is the outer operand; otherwise `a` is.
/// When one shape has rank 0, `b` is outer if `a` has rank 0 or its last
/// extent is 1.
pub fn ort_add_outer_is_a(a: &[usize], b: &[usize]) -> bool {
    let r = a.len().min(b.len());
    if r == 0 {
        return a.last().is_some_and(|&d| d != 1);
    }
    for i in 1..=r {
        let (da, db) = (a[a.len() - i], b[b.len() - i]);
        if da.max(db) > 1 || i == r {
            return da != 1;
        }
    }
    true
}

/// ONNX QuantizeLinear: `saturate(round_half_even(x / scale) + zero_point)`,
/// the division in f32. NaN maps to the zero point.
#[inline]
pub fn quantize_f32(x: f32, scale: f32, zero_point: i64, lo: i64, hi: i64) -> i64 {
    let r = round_half_even(x / scale);
    let q = if r.is_nan() { 0 } else { f32_to_i64_sat(r) };
    saturate(q.saturating_add(zero_point), lo, hi)
}

/// ONNX DequantizeLinear: `f32(q - zero_point) * scale`, one f32 rounding of
/// the integer difference (exact below 2^24) and one of the product.
#[inline]
pub fn dequantize_f32(q: i64, scale: f32, zero_point: i64) -> f32 {
    ((q - zero_point) as f32) * scale
}

/// The range DynamicQuantizeLinear quantizes: `(min(0, min x), max(0,
/// max x))`, with NaN elements ignored (each element is compared with `<`
/// and `>`, so the result does not depend on the order of the elements and
/// a NaN never wins). The ends are +0.0 when no element is below (above) 0.
pub fn dynamic_range(x: &[f32]) -> (f32, f32) {
    let (mut lo, mut hi) = (0.0f32, 0.0f32);
    for &v in x {
        if v < lo {
            lo = v;
        }
        if v > hi {
            hi = v;
        }
    }
    (lo, hi)
}

/// The uint8 scale and zero point of ONNX's DynamicQuantizeLinear for the
/// range `[lo, hi]` (from [`dynamic_range`]), as onnxruntime computes them,
/// every step in f32:
///
/// - `scale = (hi − lo) / 255`, or 1 when `hi == lo` (all elements 0);
/// - `zero_point = round_half_even(clamp(0 − lo / scale, 0, 255))`, where a
///   NaN (only when `x` holds −∞, so that `lo / scale = −∞ / ∞`) clamps to
///   255, as in onnxruntime (`std::min(255.f, NaN)` is 255) and ONNX's
///   reference implementation.
pub fn dynamic_params(lo: f32, hi: f32) -> (f32, i64) {
    let scale = if hi == lo { 1.0 } else { (hi - lo) / 255.0 };
    let z = 0.0 - lo / scale;
    let clamped = if z.is_nan() {
        255.0
    } else {
        z.clamp(0.0, 255.0)
    };
    (scale, round_half_even(clamped) as i64)
}

/// Splits a finite positive `x` into `(q, e)` with `x = q · 2^e` and
/// `q ∈ [0.5, 1)`, like C's `frexp`.
pub fn frexp(x: f64) -> (f64, i32) {
    assert!(x.is_finite() && x > 0.0, "frexp of {x}");
    let bits = x.to_bits();
    let exp_bits = ((bits >> 52) & 0x7ff) as i32;
    if exp_bits == 0 {
        // Subnormal: scale up by 2^64 first.
        let (q, e) = frexp(x * f64::from_bits(0x43f0_0000_0000_0000));
        return (q, e - 64);
    }
    let e = exp_bits - 1022;
    let q = f64::from_bits((bits & !(0x7ff << 52)) | (1022u64 << 52));
    (q, e)
}

/// A real multiplier as a 32-bit fixed-point multiplier and a power of two:
/// `real ≈ multiplier · 2^(shift − 31)`, with `multiplier ∈ [2^30, 2^31)`, or
/// `multiplier == 0` (then the product is 0).
///
/// Derivation (TFLite's `QuantizeMultiplier`): `(q, e) = frexp(real)`;
/// `m = round_half_away(q · 2^31)`; if `m == 2^31` (q rounded up to 1.0) then
/// `m = 2^30, e += 1`; if `e < −31` the multiplier is too small to matter and
/// becomes `(0, 0)`. `shift = e` is the left shift (negative: right shift).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FixedMultiplier {
    pub multiplier: i32,
    pub shift: i32,
}

/// The largest real multiplier a rescale accepts (exclusive): `2^31`. The
/// verifier rejects larger ones.
pub const MAX_MULTIPLIER: f64 = 2147483648.0;

impl FixedMultiplier {
    /// `real` must be finite, ≥ 0 and < [`MAX_MULTIPLIER`].
    pub fn from_real(real: f64) -> FixedMultiplier {
        assert!(
            real.is_finite() && (0.0..MAX_MULTIPLIER).contains(&real),
            "multiplier {real}"
        );
        if real == 0.0 {
            return FixedMultiplier {
                multiplier: 0,
                shift: 0,
            };
        }
        let (q, mut e) = frexp(real);
        let mut m = (q * 2147483648.0).round() as i64; // f64::round is half away from zero
        if m == 1 << 31 {
            m /= 2;
            e += 1;
        }
        if e < -31 {
            return FixedMultiplier {
                multiplier: 0,
                shift: 0,
            };
        }
        FixedMultiplier {
            multiplier: m as i32,
            shift: e,
        }
    }

    /// The real number this fixed-point pair stands for.
    pub fn to_real(self) -> f64 {
        self.multiplier as f64 * 2f64.powi(self.shift - 31)
    }
}

/// TOSA's `apply_scale_32` without double rounding: `(x·m + 2^(s−1)) >> s`
/// with `s = 31 − shift` (arithmetic shift, so ties round towards +∞). The
/// result is exact in i64; callers saturate. `s ≤ 0` cannot occur since the
/// multiplier is < 2^31 (shift ≤ 31), and `s = 0` means no rounding.
pub fn single_round(x: i32, fm: FixedMultiplier) -> i64 {
    let s = 31 - fm.shift; // in [0, 62]
    let prod = x as i64 * fm.multiplier as i64; // |prod| < 2^62
    if s == 0 {
        return prod;
    }
    (prod + (1i64 << (s - 1))) >> s
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: `(a·b + nudge) / 2^31`
/// truncated towards zero, nudge = 2^30 for a non-negative product and
/// 1 − 2^30 otherwise (so ties round away from zero); `MIN·MIN` saturates.
pub fn srdhm(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge = if ab >= 0 {
        1i64 << 30
    } else {
        1 - (1i64 << 30)
    };
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^exponent`, ties away from zero.
pub fn rounding_divide_by_pot(x: i32, exponent: u32) -> i32 {
    assert!(exponent <= 31);
    let mask = ((1i64 << exponent) - 1) as i32 as i64;
    let x = x as i64;
    let remainder = x & mask;
    let threshold = (mask >> 1) + if x < 0 { 1 } else { 0 };
    ((x >> exponent) + if remainder > threshold { 1 } else { 0 }) as i32
}

/// TFLite's `MultiplyByQuantizedMultiplier`: left shift (saturating to i32,
/// where TFLite would overflow), `srdhm`, then rounding right shift.
pub fn double_round(x: i32, fm: FixedMultiplier) -> i64 {
    let left = fm.shift.max(0) as u32;
    let right = (-fm.shift).max(0) as u32;
    let shifted = ((x as i64) << left).clamp(i32::MIN as i64, i32::MAX as i64) as i32;
    rounding_divide_by_pot(srdhm(shifted, fm.multiplier), right) as i64
}

/// A rescale by one real multiplier, ready to apply to integers.
///
/// Build it with [`Rescale::new`] from the two scales (`s_in / s_out`); the
/// float mode keeps the multiplier as the f32 quotient `s_in / s_out`, the
/// fixed-point modes derive a [`FixedMultiplier`] from the f64 quotient.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rescale {
    Float(f32),
    SingleRound(FixedMultiplier),
    DoubleRound(FixedMultiplier),
}

impl Rescale {
    /// The rescale from scale `s_in` to scale `s_out`, divided by `divisor`
    /// (1 except for average pooling, where it is the window size).
    ///
    /// - float: `M = s_in / (s_out · divisor)` computed in f32 (for
    ///   `divisor == 1`, exactly the f32 quotient `s_in / s_out`);
    /// - fixed point: `M = s_in / (s_out · divisor)` computed in f64, then
    ///   [`FixedMultiplier::from_real`].
    pub fn new(mode: RequantMode, s_in: f32, s_out: f32, divisor: u32) -> Rescale {
        match mode {
            RequantMode::Float => {
                let den = if divisor == 1 {
                    s_out
                } else {
                    s_out * divisor as f32
                };
                Rescale::Float(s_in / den)
            }
            RequantMode::SingleRound | RequantMode::DoubleRound => {
                let real = s_in as f64 / (s_out as f64 * divisor as f64);
                let fm = FixedMultiplier::from_real(real);
                if mode == RequantMode::SingleRound {
                    Rescale::SingleRound(fm)
                } else {
                    Rescale::DoubleRound(fm)
                }
            }
        }
    }

    /// [`Rescale::new`] after checking everything it relies on; the one
    /// check every stage (verifier, interpreter, code generator) applies, so
    /// that they accept the same rescales (docs/semantics.md §
    /// Requantization):
    ///
    /// - both scales finite and positive, `divisor ≥ 1`;
    /// - the real multiplier `s_in / (s_out · divisor)` (f64) below 2^31 in
    ///   every mode (in float mode a larger one would only saturate, but the
    ///   fixed-point modes cannot represent it, and one rule for all modes
    ///   keeps a graph valid whatever arithmetic a pass picks);
    /// - in the fixed-point modes, a multiplier that does not round up to
    ///   2^31 (a shift above 31).
    pub fn try_new(
        mode: RequantMode,
        s_in: f32,
        s_out: f32,
        divisor: u32,
    ) -> Result<Rescale, RescaleError> {
        let positive = |s: f32| s.is_finite() && s > 0.0;
        if !positive(s_in) || !positive(s_out) || divisor == 0 {
            return Err(RescaleError::BadScales {
                s_in,
                s_out,
                divisor,
            });
        }
        Rescale::check_multiplier(mode, Rescale::real_multiplier(s_in, s_out, divisor))?;
        Ok(Rescale::new(mode, s_in, s_out, divisor))
    }

    /// The multiplier part of [`Rescale::try_new`], for a real multiplier
    /// already computed (the verifier checks `s_in / s_out` and products of
    /// scales this way): finite, below 2^31, and in the fixed-point modes
    /// not rounding up to 2^31.
    pub fn check_multiplier(mode: RequantMode, real: f64) -> Result<(), RescaleError> {
        if !(real.is_finite() && (0.0..MAX_MULTIPLIER).contains(&real)) {
            return Err(RescaleError::TooLarge { real });
        }
        if mode != RequantMode::Float && FixedMultiplier::from_real(real).shift > 31 {
            return Err(RescaleError::RoundsTo2p31 { real, mode });
        }
        Ok(())
    }

    /// The real multiplier of a rescale from `s_in` to `s_out` (what the
    /// verifier bounds): `s_in / (s_out · divisor)` in f64.
    pub fn real_multiplier(s_in: f32, s_out: f32, divisor: u32) -> f64 {
        s_in as f64 / (s_out as f64 * divisor as f64)
    }

    /// Applies the rescale to `x` (an i32 value: the caller has already
    /// subtracted the input zero point). The result is rounded but not yet
    /// offset or saturated: the caller adds the output zero point and
    /// saturates, in i64.
    ///
    /// Float: `round_half_even(f32(x) · M)` saturated to i64 (NaN cannot
    /// occur; ±inf saturate).
    pub fn apply(self, x: i32) -> i64 {
        match self {
            Rescale::Float(m) => f32_to_i64_sat(round_half_even(x as f32 * m)),
            Rescale::SingleRound(fm) => single_round(x, fm),
            Rescale::DoubleRound(fm) => double_round(x, fm),
        }
    }

    /// `saturate(apply(x) + zero_point)` into `[lo, hi]`.
    pub fn apply_with_zp(self, x: i32, zero_point: i64, lo: i64, hi: i64) -> i64 {
        saturate(self.apply(x).saturating_add(zero_point), lo, hi)
    }
}

/// Why a rescale cannot be built ([`Rescale::try_new`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RescaleError {
    /// A scale is zero, negative, infinite or NaN, or the divisor is 0.
    BadScales { s_in: f32, s_out: f32, divisor: u32 },
    /// The real multiplier is 2^31 or more.
    TooLarge { real: f64 },
    /// A fixed-point multiplier just below 2^31 rounds up to 2^31.
    RoundsTo2p31 { real: f64, mode: RequantMode },
}

impl std::fmt::Display for RescaleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            RescaleError::BadScales {
                s_in,
                s_out,
                divisor,
            } => write!(
                f,
                "cannot rescale from scale {s_in:?} to {s_out:?} (divisor {divisor})"
            ),
            RescaleError::TooLarge { real } => {
                write!(f, "the multiplier {real:e} is not below 2^31")
            }
            RescaleError::RoundsTo2p31 { real, mode } => write!(
                f,
                "the multiplier {real:e} rounds to 2^31 in mode {mode}; it must be < 2^31 - 1/2"
            ),
        }
    }
}

impl std::error::Error for RescaleError {}

/// Scale and zero point for real values in `[min, max]` stored in integers
/// `[qmin, qmax]` (asymmetric, as onnxruntime's quantization tools do):
///
/// 1. widen the range to include 0: `rmin = min(min, 0)`, `rmax = max(max, 0)`;
/// 2. if `rmin == rmax` (all zeros), `scale = 1`, `zero_point = qmin` clamped
///    so that 0 is representable — i.e. 0 if `qmin ≤ 0 ≤ qmax`;
/// 3. `scale = f32((rmax − rmin) / (qmax − qmin))`, the division in f64;
/// 4. `zero_point = round_half_even(qmin − rmin / scale)` in f64 with the f32
///    scale, clamped to `[qmin, qmax]`.
pub fn choose_params(min: f32, max: f32, qmin: i64, qmax: i64) -> (f32, i64) {
    let rmin = (min as f64).min(0.0);
    let rmax = (max as f64).max(0.0);
    if rmin == rmax {
        return (1.0, 0i64.clamp(qmin, qmax));
    }
    let scale = ((rmax - rmin) / (qmax - qmin) as f64) as f32;
    let zp = (qmin as f64 - rmin / scale as f64).round_ties_even() as i64;
    (scale, zp.clamp(qmin, qmax))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_new_is_the_one_rescale_check() {
        use RequantMode::*;
        for mode in RequantMode::ALL {
            assert!(Rescale::try_new(mode, 0.5, 0.25, 1).is_ok());
            for (si, so, d) in [
                (0.0, 1.0, 1),
                (1.0, -1.0, 1),
                (f32::NAN, 1.0, 1),
                (1.0, 1.0, 0),
            ] {
                assert!(matches!(
                    Rescale::try_new(mode, si, so, d),
                    Err(RescaleError::BadScales { .. })
                ));
            }
            // 2^31 and more is refused in every mode, float included.
            assert_eq!(
                Rescale::try_new(mode, 1.0, 2f32.powi(-31), 1),
                Err(RescaleError::TooLarge {
                    real: 2f64.powi(31)
                })
            );
        }
        // Just below 2^31: float keeps it, the fixed-point modes round it
        // up to 2^31 and refuse it.
        let (si, so) = (1.0f32, 1.0 / 2147483520.0f32);
        let real = Rescale::real_multiplier(si, so, 1);
        assert!(real < MAX_MULTIPLIER);
        assert!(Rescale::try_new(Float, si, so, 1).is_ok());
        let fm = FixedMultiplier::from_real(real);
        let fixed = Rescale::try_new(SingleRound, si, so, 1);
        assert_eq!(fixed.is_err(), fm.shift > 31, "{fixed:?} {fm:?}");
    }

    #[test]
    fn ties_round_to_even() {
        assert_eq!(round_half_even(2.5), 2.0);
        assert_eq!(round_half_even(3.5), 4.0);
        assert_eq!(round_half_even(-2.5), -2.0);
        assert_eq!(round_half_even(-3.5), -4.0);
        assert_eq!(round_half_even(0.5), 0.0);
        assert_eq!(round_half_even(1.5), 2.0);
    }

    #[test]
    fn quantize_saturates_and_rounds() {
        // scale 1, zp 0, i8
        assert_eq!(quantize_f32(2.5, 1.0, 0, -128, 127), 2);
        assert_eq!(quantize_f32(-2.5, 1.0, 0, -128, 127), -2);
        assert_eq!(quantize_f32(3.5, 1.0, 0, -128, 127), 4);
        assert_eq!(quantize_f32(1000.0, 1.0, 0, -128, 127), 127);
        assert_eq!(quantize_f32(-1000.0, 1.0, 0, -128, 127), -128);
        assert_eq!(quantize_f32(f32::INFINITY, 1.0, 0, 0, 255), 255);
        assert_eq!(quantize_f32(f32::NEG_INFINITY, 1.0, 10, 0, 255), 0);
        assert_eq!(quantize_f32(f32::NAN, 1.0, 10, 0, 255), 10);
        // u8 with zero point 128: 0.5/0.25 = 2 → 130
        assert_eq!(quantize_f32(0.5, 0.25, 128, 0, 255), 130);
        assert_eq!(dequantize_f32(130, 0.25, 128), 0.5);
    }

    #[test]
    fn worked_example_from_a_range() {
        // Weights in [-1.2, 0.8] to signed int8.
        let (s, z) = choose_params(-1.2, 0.8, -128, 127);
        assert_eq!(s, (2.0f64 / 255.0) as f32);
        assert!((s - 0.0078431).abs() < 1e-7);
        assert_eq!(z, 25);
        assert_eq!(quantize_f32(-1.2, s, z, -128, 127), -128);
        assert_eq!(quantize_f32(0.0, s, z, -128, 127), 25);
        assert_eq!(quantize_f32(0.8, s, z, -128, 127), 127);
        // A range not containing 0 is widened.
        let (s2, z2) = choose_params(0.5, 2.0, 0, 255);
        assert_eq!(s2, (2.0f64 / 255.0) as f32);
        assert_eq!(z2, 0);
        assert_eq!(choose_params(0.0, 0.0, -128, 127), (1.0, 0));
    }

    #[test]
    fn frexp_matches_definition() {
        assert_eq!(frexp(1.0), (0.5, 1));
        assert_eq!(frexp(0.75), (0.75, 0));
        assert_eq!(frexp(2f64.powi(-30)), (0.5, -29));
        assert_eq!(frexp(3.0), (0.75, 2));
        let tiny = f64::from_bits(1); // smallest subnormal = 2^-1074
        assert_eq!(frexp(tiny), (0.5, -1073));
    }

    #[test]
    fn fixed_multiplier_derivation() {
        assert_eq!(
            FixedMultiplier::from_real(0.5),
            FixedMultiplier {
                multiplier: 1 << 30,
                shift: 0
            }
        );
        assert_eq!(
            FixedMultiplier::from_real(256.0),
            FixedMultiplier {
                multiplier: 1 << 30,
                shift: 9
            }
        );
        assert_eq!(
            FixedMultiplier::from_real(2f64.powi(-30)),
            FixedMultiplier {
                multiplier: 1 << 30,
                shift: -29
            }
        );
        // q just below 1 rounds up to 2^31: the corner case halves it.
        let just_below_one = 1.0 - 2f64.powi(-40);
        assert_eq!(
            FixedMultiplier::from_real(just_below_one),
            FixedMultiplier {
                multiplier: 1 << 30,
                shift: 1
            }
        );
        // Below 2^-32 the multiplier vanishes.
        assert_eq!(
            FixedMultiplier::from_real(2f64.powi(-40)),
            FixedMultiplier {
                multiplier: 0,
                shift: 0
            }
        );
        let fm = FixedMultiplier::from_real(0.3);
        assert!((fm.to_real() - 0.3).abs() < 1e-9);
        assert!((1 << 30..=i32::MAX).contains(&fm.multiplier));
    }

    #[test]
    fn gemmlowp_primitives() {
        assert_eq!(srdhm(i32::MIN, i32::MIN), i32::MAX);
        assert_eq!(srdhm(1 << 30, 1 << 30), 1 << 29);
        // 3 · 2^30 / 2^31 = 1.5 → 2, but -1.5 → -1: the nudge 1 − 2^30 and
        // the truncating division make negative ties round towards +∞.
        assert_eq!(srdhm(3, 1 << 30), 2);
        assert_eq!(srdhm(-3, 1 << 30), -1);
        assert_eq!(srdhm(-1, 1 << 30), 0);
        assert_eq!(rounding_divide_by_pot(5, 1), 3); // 2.5 → 3
        assert_eq!(rounding_divide_by_pot(-5, 1), -3); // -2.5 → -3
        assert_eq!(rounding_divide_by_pot(7, 2), 2); // 1.75 → 2
        assert_eq!(rounding_divide_by_pot(-6, 2), -2); // -1.5 → -2
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
    }

    /// Multipliers from 2^-30 to 2^8, with the values where the modes differ.
    #[test]
    fn modes_at_ties() {
        // M = 0.5 : x = 5 → 2.5. float: 2 (even); single: 3 (half up);
        // double: 3. x = -5 → -2.5: float -2, single -2, double -2 (with
        // shift 0 only srdhm rounds, and it rounds ties towards +∞).
        let f = Rescale::new(RequantMode::Float, 1.0, 2.0, 1);
        let s = Rescale::new(RequantMode::SingleRound, 1.0, 2.0, 1);
        let d = Rescale::new(RequantMode::DoubleRound, 1.0, 2.0, 1);
        assert_eq!((f.apply(5), s.apply(5), d.apply(5)), (2, 3, 3));
        assert_eq!((f.apply(-5), s.apply(-5), d.apply(-5)), (-2, -2, -2));
        assert_eq!((f.apply(7), s.apply(7), d.apply(7)), (4, 4, 4)); // 3.5
        assert_eq!((f.apply(-7), s.apply(-7), d.apply(-7)), (-4, -3, -3)); // -3.5
        for k in -30..=8 {
            let m = 2f32.powi(k);
            for mode in RequantMode::ALL {
                let r = Rescale::new(mode, m, 1.0, 1);
                // Exact powers of two: x·M exactly, when integral.
                let x: i32 = 1 << 20;
                let exact = (x as f64 * m as f64).round();
                if (-20..=8).contains(&k) {
                    assert_eq!(r.apply(x) as f64, exact, "mode {mode} k {k}");
                }
                // A half-way case for M = 2^k with k < 0: x = 2^(-k-1) · 3 → 1.5
                if (-30..0).contains(&k) {
                    let x = 3i32 << (-k - 1);
                    let expected = match mode {
                        RequantMode::Float => 2,
                        RequantMode::SingleRound | RequantMode::DoubleRound => 2,
                    };
                    assert_eq!(r.apply(x), expected, "mode {mode} k {k}");
                    // Double rounding: for k = -1 only srdhm rounds (towards
                    // +∞); below, srdhm is exact and the rounding right
                    // shift rounds the tie away from zero.
                    let expected_neg = match mode {
                        RequantMode::Float => -2,
                        RequantMode::SingleRound => -1,
                        RequantMode::DoubleRound if k == -1 => -1,
                        RequantMode::DoubleRound => -2,
                    };
                    assert_eq!(r.apply(-x), expected_neg, "mode {mode} k {k} neg");
                }
            }
        }
    }

    #[test]
    fn double_round_differs_from_single_round() {
        // gemmlowp rounds twice: M = 0.75 (m = 3·2^29, shift 0) at x = 3:
        // exact 2.25 → srdhm(3, 3·2^29) = round(2.25) = 2 → no shift → 2.
        // With M = 0.375 (shift -1): srdhm gives round(3·0.75 = 2.25) = 2,
        // then 2/2 = 1 → rounds to 1 (tie away → 1); single round: 1.125 → 1.
        let d = Rescale::new(RequantMode::DoubleRound, 0.375, 1.0, 1);
        let s = Rescale::new(RequantMode::SingleRound, 0.375, 1.0, 1);
        assert_eq!(d.apply(3), 1);
        assert_eq!(s.apply(3), 1);
        // x = 5, M = 0.3125 (5/16): exact 1.5625. srdhm(5, 0.625·2^31) = round(3.125)=3,
        // 3/2 = 1.5 → 2. Single round: 1.5625 → 2. x = 9: exact 2.8125;
        // srdhm = round(5.625) = 6 → 3; single: 3.
        let d = Rescale::new(RequantMode::DoubleRound, 0.3125, 1.0, 1);
        assert_eq!(d.apply(5), 2);
        assert_eq!(d.apply(9), 3);
        // Single rounding is the exact half-up rounding of x·m/2^s; double
        // rounding is within 1 of it and differs somewhere.
        let mut differ = 0;
        for &m in &[0.3, 0.1234567, 0.70, 1.0 / 3.0, 2.5e-5] {
            let fm = FixedMultiplier::from_real(m);
            let sh = 31 - fm.shift;
            for x in -5000i32..5000 {
                let num = x as i128 * fm.multiplier as i128;
                let exact = (num + (1i128 << (sh - 1))).div_euclid(1i128 << sh) as i64;
                assert_eq!(single_round(x, fm), exact);
                let d = double_round(x, fm);
                assert!((d - exact).abs() <= 1);
                differ += (d != exact) as i32;
            }
        }
        assert!(differ > 0);
    }

    #[test]
    fn saturation_at_both_ends() {
        let r = Rescale::new(RequantMode::Float, 1.0, 1.0, 1);
        assert_eq!(r.apply_with_zp(1000, 0, -128, 127), 127);
        assert_eq!(r.apply_with_zp(-1000, 0, -128, 127), -128);
        assert_eq!(r.apply_with_zp(i32::MAX, 255, 0, 255), 255);
        for mode in [RequantMode::SingleRound, RequantMode::DoubleRound] {
            let r = Rescale::new(mode, 200.0, 1.0, 1);
            assert_eq!(r.apply_with_zp(i32::MAX, 0, -128, 127), 127, "{mode}");
            assert_eq!(r.apply_with_zp(i32::MIN, 0, -128, 127), -128, "{mode}");
        }
    }
}
