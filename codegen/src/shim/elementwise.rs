//! Elementwise helpers that generated code calls for the common cases of
//! contiguous operands with per-tensor parameters: each computes exactly
//! the interpreter's formula (the functions of `qcc_ir::quant`, or the same
//! f32 expressions in the same order) in a plain loop. Each is compiled
//! twice, plainly and with AVX-512 enabled (where the loops vectorize and
//! `round_ties_even` is one instruction instead of a library call; the
//! results are the same IEEE roundings), and picks the second on hosts that
//! have it. The generated scalar loops remain for the other cases
//! (broadcasts other than along the innermost run, per-axis parameters,
//! other storage types).

pub(crate) mod vmath;

use qcc_ir::elementwise::{Binary, Unary, UnaryFn, maximum};
use qcc_ir::quant::{dequantize_f32, f32_to_i64_sat, quantize_f32, round_half_even, saturate};

/// `quantize_f32` for 8-bit storage, in a form that vectorizes: the
/// rounded quotient is clamped in f32 to `[lo − z, hi − z]` (integers,
/// exact in f32) before the conversion, which gives `saturate(q + z, lo,
/// hi)` for every q, ±inf included; NaN gives `saturate(z, lo, hi)`, as
/// `quantize_f32` does (q = 0).
#[inline(always)]
fn quantize_8(x: &[f32], p: &[i64], out: &mut [u8]) {
    let s = f32::from_bits(p[0] as u32);
    let (z, lo, hi) = (p[1], p[2], p[3]);
    let (flo, fhi) = ((lo - z) as f32, (hi - z) as f32);
    let nan_q = saturate(z, lo, hi);
    let z = z as i32;
    for (o, &v) in out.iter_mut().zip(x) {
        let r = round_half_even(v / s);
        let q = if r.is_nan() {
            nan_q as i32
        } else {
            // SAFETY: an integer (rounded) within `[lo − z, hi − z]`, so
            // within i32: the unchecked conversion is exact (and, unlike
            // the saturating `as`, vectorizes).
            (unsafe { r.clamp(flo, fhi).to_int_unchecked::<i32>() }) + z
        };
        *o = q as u8;
    }
    debug_assert!(
        x.iter()
            .zip(out.iter())
            .all(|(&v, &o)| o == quantize_f32(v, s, p[1], lo, hi) as u8)
    );
}

#[inline(always)]
fn dequantize_8(x: &[u8], signed: bool, p: &[i64], out: &mut [f32]) {
    let s = f32::from_bits(p[0] as u32);
    for (o, &v) in out.iter_mut().zip(x) {
        let q = if signed { v as i8 as i64 } else { v as i64 };
        *o = dequantize_f32(q, s, p[1]);
    }
}

#[inline(always)]
fn relu_f32(x: &[f32], out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = maximum(v, 0.0);
    }
}

#[inline(always)]
fn binary_f32(a: &[f32], b: &[f32], mul: bool, out: &mut [f32]) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = if mul { x * y } else { x + y };
    }
}

/// `out[i] = f(x[i])` for the unary function of `code` (a
/// [`UnaryFn`] code) with its attributes `alpha` (the low 32 bits of `ab`)
/// and `beta` (the high 32): [`Unary::apply`], the interpreter's function.
/// One loop per function, so that the simple ones vectorize.
#[inline(always)]
fn unary_f32(x: &[f32], code: usize, ab: usize, out: &mut [f32]) {
    let Some(f) = u32::try_from(code).ok().and_then(UnaryFn::from_code) else {
        return;
    };
    let u = Unary {
        f,
        alpha: f32::from_bits(ab as u32),
        beta: f32::from_bits((ab as u64 >> 32) as u32),
    };
    macro_rules! per_fn {
        ($($f:ident),*) => {
            match f {
                $(UnaryFn::$f => {
                    let u = Unary { f: UnaryFn::$f, ..u };
                    for (o, &v) in out.iter_mut().zip(x) {
                        *o = u.apply(v);
                    }
                })*
            }
        };
    }
    per_fn!(
        Relu,
        Neg,
        Abs,
        Sqrt,
        Reciprocal,
        Exp,
        Log,
        Floor,
        Ceil,
        Round,
        Erf,
        Tanh,
        Sigmoid,
        HardSigmoid,
        HardSwish,
        LeakyRelu,
        Gelu
    );
}

/// `out[i] = f(a[i·a_step], b[i·b_step])` for the binary function of
/// `code` (a [`Binary`] code), each step 0 (one value repeated) or 1: a
/// same-shape op, or the innermost run of a broadcasting one.
#[inline(always)]
fn binary_code_f32(a: &[f32], a_step: bool, b: &[f32], b_step: bool, code: usize, out: &mut [f32]) {
    let Some(f) = u32::try_from(code).ok().and_then(Binary::from_code) else {
        return;
    };
    macro_rules! per_fn {
        ($($f:ident),*) => {
            match f {
                $(Binary::$f => {
                    let f = Binary::$f;
                    match (a_step, b_step) {
                        (true, true) => {
                            for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                                *o = f.apply(x, y);
                            }
                        }
                        (true, false) => {
                            let y = b[0];
                            for (o, &x) in out.iter_mut().zip(a) {
                                *o = f.apply(x, y);
                            }
                        }
                        (false, true) => {
                            let x = a[0];
                            for (o, &y) in out.iter_mut().zip(b) {
                                *o = f.apply(x, y);
                            }
                        }
                        (false, false) => {
                            let r = f.apply(a[0], b[0]);
                            out.fill(r);
                        }
                    }
                })*
            }
        };
    }
    per_fn!(Add, Mul, Sub, Div, Pow, Max, Min);
}

#[inline(always)]
fn add_int_8(a: &[u8], b: &[u8], p: &[i64], out: &mut [u8]) {
    add_int_8_iter(a.iter().copied(), b.iter().copied(), p, out);
}

/// `add_int_8` where `a` (`a_step = 0`) or `b` (`b_step = 0`) is one value
/// repeated, or both step through `n` bytes: the inner loop of a
/// broadcasting add (a per-channel bias, a residual of one row).
#[inline(always)]
fn add_int_8_bcast(a: &[u8], a_step: bool, b: &[u8], b_step: bool, p: &[i64], out: &mut [u8]) {
    let rep = |v: &[u8]| std::iter::repeat(v[0]);
    match (a_step, b_step) {
        (true, true) => add_int_8_iter(a.iter().copied(), b.iter().copied(), p, out),
        (true, false) => add_int_8_iter(a.iter().copied(), rep(b), p, out),
        (false, true) => add_int_8_iter(rep(a), b.iter().copied(), p, out),
        (false, false) => add_int_8_iter(rep(a), rep(b), p, out),
    }
}

#[inline(always)]
fn add_int_8_iter(
    a: impl Iterator<Item = u8> + Clone,
    b: impl Iterator<Item = u8> + Clone,
    p: &[i64],
    out: &mut [u8],
) {
    let (ma, mb) = (f32::from_bits(p[0] as u32), f32::from_bits(p[1] as u32));
    let (za, zb, zy, lo, hi) = (p[2], p[3], p[4], p[5], p[6]);
    let (sa, sb) = (p[7] != 0, p[8] != 0);
    // `saturate(f32_to_i64_sat(r) + zy, lo, hi)` as in `quantize_8`: the
    // rounded sum clamped in f32 to `[lo − zy, hi − zy]`; NaN gives `zy`
    // saturated.
    let (flo, fhi) = ((lo - zy) as f32, (hi - zy) as f32);
    let nan_y = saturate(zy, lo, hi) as i32;
    // In i32 lanes (so the loop vectorizes 16 wide): a signed byte is its
    // bits with the top one flipped, less 128, and that 128 joins the zero
    // point (`|v − z|` stays far inside i32, and its f32 is the same).
    let (fa, fb) = ((sa as u8) << 7, (sb as u8) << 7);
    let za = za as i32 + 128 * sa as i32;
    let zb = zb as i32 + 128 * sb as i32;
    for ((o, x), y) in out.iter_mut().zip(a.clone()).zip(b.clone()) {
        let da = (x ^ fa) as i32 - za;
        let db = (y ^ fb) as i32 - zb;
        let sum = (da as f32) * ma + (db as f32) * mb;
        let r = round_half_even(sum);
        let q = if r.is_nan() {
            nan_y
        } else {
            // SAFETY: as in `quantize_8`.
            (unsafe { r.clamp(flo, fhi).to_int_unchecked::<i32>() }) + zy as i32
        };
        *o = q as u8;
    }
    let val = |v: u8, signed: bool| if signed { v as i8 as i64 } else { v as i64 };
    let (za, zb) = (p[2], p[3]);
    debug_assert!(a.zip(b).zip(out.iter()).all(|((x, y), &o)| {
        let sum = ((val(x, sa) - za) as f32) * ma + ((val(y, sb) - zb) as f32) * mb;
        o == saturate(
            f32_to_i64_sat(round_half_even(sum)).saturating_add(zy),
            lo,
            hi,
        ) as u8
    }));
}

/// `add_int {ort = true}` on bytes: `x` the outer operand's codes, `y` the
/// inner one's, each stepping (`*_step`) or one value repeated.
#[inline(always)]
fn add_int_ort_8_bcast(x: &[u8], x_step: bool, y: &[u8], y_step: bool, p: &[i64], out: &mut [u8]) {
    let rep = |v: &[u8]| std::iter::repeat(v[0]);
    match (x_step, y_step) {
        (true, true) => add_int_ort_8_iter(x.iter().copied(), y.iter().copied(), p, out),
        (true, false) => add_int_ort_8_iter(x.iter().copied(), rep(y), p, out),
        (false, true) => add_int_ort_8_iter(rep(x), y.iter().copied(), p, out),
        (false, false) => add_int_ort_8_iter(rep(x), rep(y), p, out),
    }
}

/// `OrtAdd::apply` on bytes, in i32 and f32 lanes: `p = [rx, ry, k (f32
/// bits), lo, hi, x signed, y signed]`. `f32::mul_add` is one rounding (an
/// FMA instruction in the AVX2 and AVX-512 builds), as `OrtAdd::sum`'s.
#[inline(always)]
fn add_int_ort_8_iter(
    x: impl Iterator<Item = u8> + Clone,
    y: impl Iterator<Item = u8> + Clone,
    p: &[i64],
    out: &mut [u8],
) {
    let f = qcc_ir::quant::OrtAdd {
        rx: f32::from_bits(p[0] as u32),
        ry: f32::from_bits(p[1] as u32),
        k: f32::from_bits(p[2] as u32),
    };
    let (lo, hi) = (p[3], p[4]);
    let (sx, sy) = (p[5] != 0, p[6] != 0);
    let (flo, fhi) = (lo as f32, hi as f32);
    // A signed byte is its bits with the top one flipped, less 128.
    let (fa, fb) = ((sx as u8) << 7, (sy as u8) << 7);
    let (ox, oy) = (128 * sx as i32, 128 * sy as i32);
    for ((o, a), b) in out.iter_mut().zip(x.clone()).zip(y.clone()) {
        let xv = ((a ^ fa) as i32 - ox) as f32;
        let yv = ((b ^ fb) as i32 - oy) as f32;
        let r = round_half_even(xv.mul_add(f.rx, yv.mul_add(f.ry, f.k)));
        // The sum is finite (verified multipliers, codes of 8 bits), so
        // the clamped value is an integer in [lo, hi].
        // SAFETY: an integer within `[lo, hi]` ⊂ i32; NaN cannot occur.
        let q = unsafe { r.clamp(flo, fhi).to_int_unchecked::<i32>() };
        *o = q as u8;
    }
    let val = |v: u8, signed: bool| if signed { v as i8 as i64 } else { v as i64 };
    debug_assert!(
        x.zip(y)
            .zip(out.iter())
            .all(|((a, b), &o)| o == f.apply(val(a, sx), val(b, sy), lo, hi) as u8)
    );
}

/// `out = table[c][x]` over `[outer, channels, inner]` bytes: a requantize
/// (or any function of one byte) as a lookup, `table` holding 256 bytes per
/// channel.
#[inline(always)]
fn lut8(x: &[u8], outer: usize, channels: usize, inner: usize, table: &[u8], out: &mut [u8]) {
    let mut i = 0;
    for _ in 0..outer {
        for c in 0..channels {
            let t: &[u8; 256] = table[c * 256..(c + 1) * 256]
                .try_into()
                .expect("256 entries");
            for (o, &v) in out[i..i + inner].iter_mut().zip(&x[i..i + inner]) {
                *o = t[v as usize];
            }
            i += inner;
        }
    }
}

/// AVX512-VBMI (`vpermt2b`), detected once.
#[cfg(target_arch = "x86_64")]
fn has_vbmi() -> bool {
    static VBMI: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *VBMI.get_or_init(|| {
        super::host_features().avx512vnni && std::is_x86_feature_detected!("avx512vbmi")
    })
}

/// [`lut8`] 64 bytes at a time: two `vpermt2b` look the code up in each
/// half of the table (bit 6 picks the 64-byte quarter within a half, bits
/// 0–5 the byte) and bit 7 picks the half. The same table entries, so the
/// same bytes.
///
/// # Safety
/// As `qcc_lut8`'s; the host must have AVX512F/BW and AVX512-VBMI.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
unsafe fn lut8_vbmi(
    x: *const u8,
    outer: usize,
    channels: usize,
    inner: usize,
    table: *const u8,
    out: *mut u8,
) {
    use std::arch::x86_64::*;
    let mut i = 0usize;
    for _ in 0..outer {
        for c in 0..channels {
            // SAFETY: `table` holds `channels · 256` bytes; `x` and `out`
            // hold `outer · channels · inner`, and every access below is
            // inside row `i..i + inner` (the tail through a byte mask).
            unsafe {
                let t = table.add(c * 256);
                let t0 = _mm512_loadu_si512(t as *const _);
                let t1 = _mm512_loadu_si512(t.add(64) as *const _);
                let t2 = _mm512_loadu_si512(t.add(128) as *const _);
                let t3 = _mm512_loadu_si512(t.add(192) as *const _);
                let look = |v: __m512i| {
                    let lo = _mm512_permutex2var_epi8(t0, v, t1);
                    let hi = _mm512_permutex2var_epi8(t2, v, t3);
                    _mm512_mask_blend_epi8(_mm512_movepi8_mask(v), lo, hi)
                };
                let (src, dst) = (x.add(i), out.add(i));
                let mut j = 0usize;
                while j + 64 <= inner {
                    let v = _mm512_loadu_si512(src.add(j) as *const _);
                    _mm512_storeu_si512(dst.add(j) as *mut _, look(v));
                    j += 64;
                }
                if j < inner {
                    let m: __mmask64 = (1u64 << (inner - j)) - 1;
                    let v = _mm512_maskz_loadu_epi8(m, src.add(j) as *const i8);
                    _mm512_mask_storeu_epi8(dst.add(j) as *mut i8, m, look(v));
                }
            }
            i += inner;
        }
    }
}

/// Declares each helper: the C entry point, which checks the host once and
/// calls the body built with AVX-512, with AVX2 or the plain one (the same
/// Rust code; the builds differ only in the instructions LLVM may use, and
/// none contracts into FMA: Rust never fuses a multiply and an add).
macro_rules! helpers {
    ($(
        $(#[$doc:meta])*
        fn $name:ident / $wide:ident ($($a:ident: $t:ty),*) => $body:expr;
    )*) => {
        $(
            $(#[$doc])*
            pub(crate) unsafe extern "C" fn $name($($a: $t),*) {
                #[cfg(target_arch = "x86_64")]
                if super::host_features().avx512vnni {
                    // SAFETY: the contract; the host has AVX-512.
                    unsafe { $wide($($a),*) };
                    return;
                }
                #[cfg(target_arch = "x86_64")]
                if super::host_features().avx2 {
                    /// The AVX2 build (SSE4.1 rounding, 256-bit loops).
                    ///
                    /// # Safety
                    /// As the helper's; the host must have AVX2 and FMA.
                    #[target_feature(enable = "avx2,fma,sse4.1")]
                    unsafe fn narrow($($a: $t),*) {
                        // SAFETY: the contract.
                        unsafe { $body }
                    }
                    // SAFETY: the contract; the host has AVX2.
                    unsafe { narrow($($a),*) };
                    return;
                }
                // SAFETY: the contract.
                unsafe { $body }
            }

            /// The AVX-512 build of the helper of the same contract.
            ///
            /// # Safety
            /// As the helper's; the host must have AVX512F/BW/VL/DQ.
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,sse4.1")]
            unsafe fn $wide($($a: $t),*) {
                // SAFETY: the contract.
                unsafe { $body }
            }
        )*
    };
}

use std::slice::{from_raw_parts as rd, from_raw_parts_mut as wr};

helpers! {
    /// `out[i] = quantize_f32(x[i], s, z, lo, hi)` as one byte (8-bit
    /// storage); `prm = [s as f32 bits, z, lo, hi]`.
    ///
    /// # Safety
    /// `x` readable for `n` f32, `out` writable for `n` bytes, `prm` for 4
    /// i64; not overlapping.
    fn qcc_quantize_8 / quantize_8_wide(x: *const f32, n: usize, prm: *const i64, out: *mut u8)
        => quantize_8(rd(x, n), rd(prm, 4), wr(out, n));

    /// `out[i] = dequantize_f32(x[i], s, z)` from bytes (`signed`: i8, else
    /// u8); `prm = [s as f32 bits, z]`.
    ///
    /// # Safety
    /// `x` readable for `n` bytes, `out` writable for `n` f32, `prm` for 2
    /// i64; not overlapping.
    fn qcc_dequantize_8 / dequantize_8_wide(x: *const u8, n: usize, signed: usize, prm: *const i64, out: *mut f32)
        => dequantize_8(rd(x, n), signed != 0, rd(prm, 2), wr(out, n));

    /// `out[i] = maximum(x[i], +0.0)` (relu).
    ///
    /// # Safety
    /// `x` readable and `out` writable for `n` f32; not overlapping.
    fn qcc_relu_f32 / relu_f32_wide(x: *const f32, n: usize, out: *mut f32)
        => relu_f32(rd(x, n), wr(out, n));

    /// `out[i] = a[i] + b[i]` (`mul = 0`) or `a[i] · b[i]`, one f32 operation
    /// each.
    ///
    /// # Safety
    /// `a`, `b` readable and `out` writable for `n` f32; `out` overlapping
    /// neither.
    fn qcc_binary_f32 / binary_f32_wide(a: *const f32, b: *const f32, n: usize, mul: usize, out: *mut f32)
        => binary_f32(rd(a, n), rd(b, n), mul != 0, wr(out, n));

    /// `out[i] = f(x[i])`, `f` the float unary function of `code` with its
    /// attributes packed in `ab` (see `unary_f32`).
    ///
    /// # Safety
    /// `x` readable and `out` writable for `n` f32; not overlapping.
    fn qcc_unary_f32 / unary_f32_wide(x: *const f32, n: usize, code: usize, ab: usize, out: *mut f32)
        => unary_f32(rd(x, n), code, ab, wr(out, n));

    /// `out[i] = f(a[i·a_step], b[i·b_step])`, `f` the float binary
    /// function of `code`, each step 0 or 1.
    ///
    /// # Safety
    /// `a` readable for `n` f32 (one when `a_step = 0`), `b` likewise,
    /// `out` writable for `n` f32, overlapping neither; `n ≥ 1`.
    fn qcc_binary_code_f32 / binary_code_f32_wide(a: *const f32, a_step: usize, b: *const f32, b_step: usize, n: usize, code: usize, out: *mut f32)
        => {
            let len = |step: usize| if step != 0 { n } else { 1 };
            binary_code_f32(rd(a, len(a_step)), a_step != 0, rd(b, len(b_step)), b_step != 0, code, wr(out, n))
        };

    /// `add_int` in float mode on 8-bit operands of the same shape:
    /// `saturate(round_half_even(f32(a − za) · ma + f32(b − zb) · mb) + zy,
    /// lo, hi)`; `prm = [ma bits, mb bits, za, zb, zy, lo, hi, a signed, b
    /// signed]`.
    ///
    /// # Safety
    /// `a`, `b` readable and `out` writable for `n` bytes, `prm` for 9 i64;
    /// `out` overlapping neither.
    fn qcc_add_int_8 / add_int_8_wide(a: *const u8, b: *const u8, n: usize, prm: *const i64, out: *mut u8)
        => add_int_8(rd(a, n), rd(b, n), rd(prm, 9), wr(out, n));

    /// `qcc_add_int_8` on `n` output bytes where `a` steps through `n`
    /// bytes (`a_step = 1`) or is one byte repeated (`a_step = 0`), and
    /// likewise `b`: the innermost loop of a broadcasting add.
    ///
    /// # Safety
    /// `a` readable for `n` bytes (one when `a_step = 0`), `b` likewise,
    /// `out` writable for `n` bytes, overlapping neither, `prm` for 9 i64;
    /// `n ≥ 1`.
    fn qcc_add_int_8_bcast / add_int_8_bcast_wide(a: *const u8, a_step: usize, b: *const u8, b_step: usize, n: usize, prm: *const i64, out: *mut u8)
        => {
            let len = |step: usize| if step != 0 { n } else { 1 };
            add_int_8_bcast(rd(a, len(a_step)), a_step != 0, rd(b, len(b_step)), b_step != 0, rd(prm, 9), wr(out, n))
        };

    /// `add_int {ort = true}` on 8-bit operands of the result's shape:
    /// `OrtAdd::apply` of the outer code `x[i]` and the inner code `y[i]`;
    /// `prm = [rx, ry, k (f32 bits), lo, hi, x signed, y signed]`.
    ///
    /// # Safety
    /// `x`, `y` readable and `out` writable for `n` bytes, `prm` for 7 i64;
    /// `out` overlapping neither.
    fn qcc_add_int_ort_8 / add_int_ort_8_wide(x: *const u8, y: *const u8, n: usize, prm: *const i64, out: *mut u8)
        => add_int_ort_8_iter(rd(x, n).iter().copied(), rd(y, n).iter().copied(), rd(prm, 7), wr(out, n));

    /// `qcc_add_int_ort_8` where `x` steps through `n` bytes (`x_step =
    /// 1`) or is one byte repeated (`x_step = 0`), and likewise `y`.
    ///
    /// # Safety
    /// `x` readable for `n` bytes (one when `x_step = 0`), `y` likewise,
    /// `out` writable for `n` bytes, overlapping neither, `prm` for 7 i64;
    /// `n ≥ 1`.
    fn qcc_add_int_ort_8_bcast / add_int_ort_8_bcast_wide(x: *const u8, x_step: usize, y: *const u8, y_step: usize, n: usize, prm: *const i64, out: *mut u8)
        => {
            let len = |step: usize| if step != 0 { n } else { 1 };
            add_int_ort_8_bcast(rd(x, len(x_step)), x_step != 0, rd(y, len(y_step)), y_step != 0, rd(prm, 7), wr(out, n))
        };

    /// `out[o, c, i] = table[c · 256 + x[o, c, i]]` over bytes.
    ///
    /// # Safety
    /// `x` readable and `out` writable for `outer · channels · inner` bytes
    /// (not overlapping), `table` readable for `channels · 256`.
    fn qcc_lut8 / lut8_wide(x: *const u8, outer: usize, channels: usize, inner: usize, table: *const u8, out: *mut u8)
        => {
            let n = outer * channels * inner;
            #[cfg(target_arch = "x86_64")]
            if has_vbmi() {
                // The contract holds, and the host has AVX512-VBMI (the
                // body runs inside the helper's `unsafe` block).
                lut8_vbmi(x, outer, channels, inner, table, out);
                return;
            }
            lut8(rd(x, n), outer, channels, inner, rd(table, channels * 256), wr(out, n))
        };
}

/// The helpers' symbols, to register with the JIT.
pub(crate) fn symbols() -> Vec<(String, *const u8)> {
    vec![
        ("qcc_quantize_8".into(), qcc_quantize_8 as *const u8),
        ("qcc_dequantize_8".into(), qcc_dequantize_8 as *const u8),
        ("qcc_relu_f32".into(), qcc_relu_f32 as *const u8),
        ("qcc_binary_f32".into(), qcc_binary_f32 as *const u8),
        ("qcc_unary_f32".into(), qcc_unary_f32 as *const u8),
        (
            "qcc_binary_code_f32".into(),
            qcc_binary_code_f32 as *const u8,
        ),
        ("qcc_add_int_8".into(), qcc_add_int_8 as *const u8),
        (
            "qcc_add_int_8_bcast".into(),
            qcc_add_int_8_bcast as *const u8,
        ),
        ("qcc_add_int_ort_8".into(), qcc_add_int_ort_8 as *const u8),
        (
            "qcc_add_int_ort_8_bcast".into(),
            qcc_add_int_ort_8_bcast as *const u8,
        ),
        ("qcc_lut8".into(), qcc_lut8 as *const u8),
        ("qcc_vmath_f32".into(), vmath::qcc_vmath_f32 as *const u8),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The helper (VBMI where the host has it) equals the plain loop on
    /// every row length around the 64-byte steps, several channels.
    #[test]
    fn lut8_helper_equals_the_plain_loop() {
        let mut seed = 0x9e37_79b9_u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as u8
        };
        for &(outer, channels, inner) in &[
            (1, 1, 0),
            (1, 1, 1),
            (2, 3, 63),
            (1, 2, 64),
            (3, 1, 65),
            (1, 4, 200),
            (2, 1, 1000),
        ] {
            let n = outer * channels * inner;
            let x: Vec<u8> = (0..n).map(|_| next()).collect();
            let table: Vec<u8> = (0..channels * 256).map(|_| next()).collect();
            let mut want = vec![0u8; n];
            lut8(&x, outer, channels, inner, &table, &mut want);
            let mut got = vec![0u8; n];
            // SAFETY: the buffers have the sizes the contract asks for.
            unsafe {
                qcc_lut8(
                    x.as_ptr(),
                    outer,
                    channels,
                    inner,
                    table.as_ptr(),
                    got.as_mut_ptr(),
                )
            };
            assert_eq!(got, want, "{outer}x{channels}x{inner}");
        }
    }
}
