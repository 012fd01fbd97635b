//! The `libm` crate's `expf`, `logf` and `tanhf` (and sigmoid, `1 / (1 +
//! expf(−x))`) as vector kernels that give the crate's bits for every f32.
//!
//! The crate's routines (FreeBSD's, in f32 arithmetic) branch on ranges of
//! the argument. Here each lane function computes every branch it needs
//! and picks the taken one by selection: the same constants, the same f32
//! operations in the crate's order (Rust never contracts a multiply and an
//! add into FMA), the float-to-int conversions made only on values where
//! they are exact truncations. With no branch left, a loop over lanes is
//! what LLVM vectorizes; the kernels are that loop built with AVX-512 and
//! with AVX2, each IEEE operation one lane-wise instruction (a division is
//! `vdivps`, correctly rounded like `divss`), so every lane gets the
//! crate's result. NaN lanes go through the same operations as the crate's
//! scalar code on x86, so even their payloads agree (the spec asks only
//! for NaN-ness).
//!
//! Nothing here is approximated further: the ranges the crate sends to
//! other code (`expf`'s overflow, underflow and `scalbnf` beyond the normal
//! exponents; `logf`'s zeros, negatives, subnormals, infinities and NaN;
//! `tanhf`'s large, tiny and subnormal arguments) are selected lanes too.
//! The JIT calls these kernels on the paths that run the vector
//! micro-kernels (`DotPath::uses_kernels`: AVX-512 kernels on the `amx` and
//! `avx512vnni` paths, AVX2 on `avxvnni` and `avx2`); `clif128` and
//! `scalar` keep `qcc_unary_f32`'s calls of the crate's scalar functions,
//! so the run cases compare both with the interpreter.

use super::super::fmatmul::rows_with;
use qcc_ir::elementwise::{Unary, UnaryFn};

/// `expf`'s constants (the crate's bits).
mod e {
    pub const LN2_HI: f32 = f32::from_bits(0x3f31_7200);
    pub const LN2_LO: f32 = f32::from_bits(0x35bf_be8e);
    pub const INV_LN2: f32 = f32::from_bits(0x3fb8_aa3b);
    pub const P1: f32 = f32::from_bits(0x3e2a_aa8f);
    pub const P2: f32 = f32::from_bits(0xbb35_5215);
    /// 2^127.
    pub const X1P127: f32 = f32::from_bits(0x7f00_0000);
}

/// `expm1f`'s constants.
mod m {
    pub const LN2_HI: f32 = f32::from_bits(0x3f31_7180);
    pub const LN2_LO: f32 = f32::from_bits(0x3717_f7d1);
    pub const INV_LN2: f32 = f32::from_bits(0x3fb8_aa3b);
    pub const Q1: f32 = f32::from_bits(0xbd08_8868);
    pub const Q2: f32 = f32::from_bits(0x3acf_3010);
}

/// `logf`'s constants.
mod l {
    pub const LN2_HI: f32 = f32::from_bits(0x3f31_7180);
    pub const LN2_LO: f32 = f32::from_bits(0x3717_f7d1);
    pub const LG1: f32 = f32::from_bits(0x3f2a_aaaa);
    pub const LG2: f32 = f32::from_bits(0x3ecc_ce13);
    pub const LG3: f32 = f32::from_bits(0x3e91_e9ee);
    pub const LG4: f32 = f32::from_bits(0x3e78_9e26);
}

/// `f` if `c`, else `g` (both already computed: a select).
#[inline(always)]
fn sel(c: bool, f: f32, g: f32) -> f32 {
    if c { f } else { g }
}

#[inline(always)]
fn seli(c: bool, f: i32, g: i32) -> i32 {
    if c { f } else { g }
}

/// `2^n` for `n` in `[−126, 127]`.
#[inline(always)]
fn pow2(n: i32) -> f32 {
    f32::from_bits(((0x7f + n) as u32) << 23)
}

/// The truncation of `v` toward zero, for `|v| < 2^31` (where Rust's `as
/// i32` is the same).
#[inline(always)]
fn trunc_i32(v: f32) -> i32 {
    debug_assert!(v.abs() < 2.0e9);
    // SAFETY: every caller passes a value of magnitude below 2^31 (its
    // argument bound is in its comment), where the conversion is defined.
    unsafe { v.to_int_unchecked::<i32>() }
}

/// `libm::expf(x)`, branch-free.
#[inline(always)]
pub(crate) fn expf(x: f32) -> f32 {
    use e::*;
    let b = x.to_bits();
    let hx = b & 0x7fff_ffff;
    let neg = (b >> 31) != 0;
    let nan = hx > 0x7f80_0000;
    let over = !neg && hx >= 0x42b1_7218 && !nan;
    let under = neg && hx >= 0x42cf_f1b5 && !nan;
    let tiny = hx <= 0x3900_0000;
    // Every other lane is in (−103.98, 88.73): the crate's reduction.
    let xs = sel(nan || over || under, 0.0, x);
    let half = sel(neg, -0.5, 0.5);
    // |INV_LN2 · xs + half| < 150.5.
    let kr = trunc_i32(INV_LN2 * xs + half);
    let k = seli(
        hx > 0x3f85_1592,
        kr,
        seli(hx > 0x3eb1_7218, 1 - 2 * neg as i32, 0),
    );
    // k = 0: hi = xs − 0 = xs, lo = +0, r = xs, as the crate's `hi = x,
    // lo = 0`.
    let kf = k as f32;
    let hi = xs - kf * LN2_HI;
    let lo = kf * LN2_LO;
    let r = hi - lo;
    let xx = r * r;
    let c = r - xx * (P1 + xx * P2);
    let y = 1.0 + (r * c / (2.0 - c) - lo + hi);
    // `scalbnf(y, k)` for k in [−150, 128]: one prescale by 2^127 or
    // 2^−102 where 2^k is not a normal f32 (the crate's first step), then
    // the product with 2^k'. For k = 0 both factors are 1 (the crate
    // returns y).
    let (pre, kn) = if k > 127 {
        (X1P127, k - 127)
    } else if k < -126 {
        (f32::from_bits(0x0c80_0000), k + 102)
    } else {
        (1.0, k)
    };
    let v = (y * pre) * pow2(kn);
    let v = sel(tiny, 1.0 + x, v);
    let v = sel(under, 0.0, v);
    let v = sel(over, x * X1P127, v);
    sel(nan, x, v)
}

/// `1 / (1 + expf(−x))`, the spec's sigmoid.
#[inline(always)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + expf(-x))
}

/// `libm::expm1f(x)` for the arguments `tanhf` passes: |x| ≤ 20, not NaN
/// (so `k` is in [−29, 29] and the crate's overflow, `−1` and `k = 128`
/// branches are not reached).
#[inline(always)]
fn expm1f_tanh(x: f32) -> f32 {
    use m::*;
    let b = x.to_bits();
    let hx = b & 0x7fff_ffff;
    let neg = (b >> 31) != 0;
    debug_assert!(hx <= 0x41a0_0000);
    let reduce = hx > 0x3eb1_7218;
    // |INV_LN2 · x ± 0.5| < 29.4.
    let kr = trunc_i32(INV_LN2 * x + sel(neg, -0.5, 0.5));
    let k = seli(reduce, seli(hx < 0x3f85_1592, 1 - 2 * neg as i32, kr), 0);
    // k = ±1: t · LN2_HI and t · LN2_LO are ±LN2_HI and ±LN2_LO exactly,
    // the crate's `x ∓ LN2_HI`, `±LN2_LO`.
    let t = k as f32;
    let hi = x - t * LN2_HI;
    let lo = t * LN2_LO;
    let xr = sel(reduce, hi - lo, x);
    let c = sel(reduce, (hi - xr) - lo, 0.0);
    let hfx = 0.5 * xr;
    let hxs = xr * hfx;
    let r1 = 1.0 + hxs * (Q1 + hxs * Q2);
    let tt = 3.0 - r1 * hfx;
    let e = hxs * ((r1 - tt) / (6.0 - xr * tt));
    let y0 = xr - (xr * e - hxs);
    let e = xr * (e - c) - c;
    let e = e - hxs;
    let ym1 = 0.5 * (xr - e) - 0.5;
    let yp1 = sel(xr < -0.25, -2.0 * (e - (xr + 0.5)), 1.0 + 2.0 * (xr - e));
    let twopk = pow2(k);
    // 2^−k for k in [0, 29]; a placeholder 1.0 elsewhere (unused).
    let uf = pow2(seli((0..=56).contains(&k), -k, 0));
    let yout = ((xr - e + 1.0) * twopk) - 1.0;
    let ylt23 = (xr - e + (1.0 - uf)) * twopk;
    let yge23 = (xr - (e + uf) + 1.0) * twopk;
    let y = sel(k < 23, ylt23, yge23);
    let y = sel((0..=56).contains(&k), y, yout);
    let y = sel(k == 1, yp1, y);
    let y = sel(k == -1, ym1, y);
    let y = sel(k == 0, y0, y);
    sel(hx < 0x3300_0000, x, y)
}

/// `libm::tanhf(x)`, branch-free.
#[inline(always)]
pub(crate) fn tanhf(x: f32) -> f32 {
    let b = x.to_bits();
    let w = b & 0x7fff_ffff;
    let neg = (b >> 31) != 0;
    let ax = f32::from_bits(w);
    let large = w > 0x4120_0000;
    let above = w > 0x3f0c_9f54;
    let mid = w > 0x3e82_c578;
    let normal = w >= 0x0080_0000;
    let arg = sel(large, 0.0, sel(mid, 2.0 * ax, -2.0 * ax));
    let t = expm1f_tanh(arg);
    let tt = sel(normal, -t / (t + 2.0), ax);
    let tt = sel(mid, t / (t + 2.0), tt);
    let tt = sel(above, 1.0 - 2.0 / (t + 2.0), tt);
    let tt = sel(large, 1.0 + 0.0 / ax, tt);
    sel(neg, -tt, tt)
}

/// `libm::logf(x)`, branch-free.
#[inline(always)]
pub(crate) fn logf(x: f32) -> f32 {
    use l::*;
    let ix = x.to_bits();
    let zero = ix << 1 == 0;
    let neg = (ix >> 31) != 0;
    let sub = ix < 0x0080_0000;
    let top = ix >= 0x7f80_0000 && !neg;
    let one = ix == 0x3f80_0000;
    // Subnormals scaled by 2^25 (k starts at −25).
    let xs = sel(sub, x * f32::from_bits(0x4c00_0000), x);
    let k0 = seli(sub, -25, 0);
    let ix = xs.to_bits().wrapping_add(0x3f80_0000 - 0x3f35_04f3);
    let k = k0 + ((ix >> 23) as i32) - 0x7f;
    let ix = (ix & 0x007f_ffff) + 0x3f35_04f3;
    let xr = f32::from_bits(ix);
    let f = xr - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG2 + w * LG4);
    let t2 = z * (LG1 + w * LG3);
    let r = t2 + t1;
    let hfsq = 0.5 * f * f;
    let dk = k as f32;
    let v = s * (hfsq + r) + dk * LN2_LO - hfsq + f + dk * LN2_HI;
    let v = sel(one, 0.0, v);
    let v = sel(top, x, v);
    // The crate's NaN of a negative argument, its payload included.
    #[allow(clippy::eq_op)]
    let v = sel(neg, (x - x) / 0.0, v);
    sel(zero, -1.0 / (x * x), v)
}

/// A lane function, as a type: a static call that always inlines (a
/// function passed as a value may stay a call, and then nothing
/// vectorizes).
trait Lane {
    fn f(x: f32) -> f32;
}

macro_rules! lanes {
    ($($t:ident => $f:ident),*) => {
        $(
            struct $t;
            impl Lane for $t {
                #[inline(always)]
                fn f(x: f32) -> f32 {
                    $f(x)
                }
            }
        )*
    };
}
lanes!(Exp => expf, Sigmoid => sigmoid, Tanh => tanhf, Log => logf);

/// `out[i] = L::f(x[i])`, the loop LLVM vectorizes.
#[inline(always)]
fn each<L: Lane>(x: &[f32], out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = L::f(v);
    }
}

/// [`each`] built with AVX-512.
///
/// # Safety
/// The host must have AVX512F/BW/VL/DQ.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
unsafe fn each_zmm<L: Lane>(x: &[f32], out: &mut [f32]) {
    each::<L>(x, out)
}

/// [`each`] built with AVX2.
///
/// # Safety
/// The host must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn each_ymm<L: Lane>(x: &[f32], out: &mut [f32]) {
    each::<L>(x, out)
}

/// [`each`] for `w` (a width the host has: [`Width::from_code`]).
#[inline(always)]
fn each_at<L: Lane>(w: Width, x: &[f32], out: &mut [f32]) {
    match w {
        // SAFETY: `Width::from_code` gives Zmm only on AVX-512 hosts.
        #[cfg(target_arch = "x86_64")]
        Width::Zmm => unsafe { each_zmm::<L>(x, out) },
        // SAFETY: and Ymm only on AVX2 + FMA hosts.
        #[cfg(target_arch = "x86_64")]
        Width::Ymm => unsafe { each_ymm::<L>(x, out) },
        _ => each::<L>(x, out),
    }
}

/// The vector width a kernel runs at (the number the generated code
/// passes: `lower::ops::vmath` picks it from the dot path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Width {
    /// The plain build (no kernel: not passed by the JIT).
    Plain = 0,
    /// AVX2, 8 lanes.
    Ymm = 1,
    /// AVX-512, 16 lanes.
    Zmm = 2,
}

impl Width {
    /// `code` back, falling back to the widest build the host has at most
    /// (a width the host lacks is never run).
    pub(crate) fn from_code(code: usize) -> Width {
        #[cfg(target_arch = "x86_64")]
        {
            let f = super::super::host_features();
            if code >= 2 && f.avx512vnni {
                return Width::Zmm;
            }
            if code >= 1 && f.avx2 {
                return Width::Ymm;
            }
        }
        let _ = code;
        Width::Plain
    }
}

/// `out[i] = f(x[i])` for `f` the unary function of `code` (exp, sigmoid,
/// tanh or log; any other is applied by
/// [`Unary::apply`] without attributes), on the kernel of `width` (a
/// [`Width`] code).
///
/// # Safety
/// `x` readable and `out` writable for `n` f32; not overlapping.
pub(crate) unsafe extern "C" fn qcc_vmath_f32(
    x: *const f32,
    n: usize,
    code: usize,
    width: usize,
    out: *mut f32,
) {
    let Some(f) = u32::try_from(code).ok().and_then(UnaryFn::from_code) else {
        return;
    };
    // SAFETY: the extents of the contract.
    let (x, out) = unsafe {
        (
            std::slice::from_raw_parts(x, n),
            std::slice::from_raw_parts_mut(out, n),
        )
    };
    let w = Width::from_code(width);
    match f {
        UnaryFn::Exp => each_at::<Exp>(w, x, out),
        UnaryFn::Sigmoid => each_at::<Sigmoid>(w, x, out),
        UnaryFn::Tanh => each_at::<Tanh>(w, x, out),
        UnaryFn::Log => each_at::<Log>(w, x, out),
        _ => {
            let u = Unary {
                f,
                alpha: 0.0,
                beta: 0.0,
            };
            for (o, &v) in out.iter_mut().zip(x) {
                *o = u.apply(v);
            }
        }
    }
}

/// IEEE `maximum` as `qcc_ir::elementwise::maximum` defines it (a NaN
/// operand is the result, the first one; −0 < +0), branch-free.
#[inline(always)]
fn maximum(a: f32, b: f32) -> f32 {
    let pick_a = a.is_nan() || (!b.is_nan() && (a > b || (a == b && a.is_sign_positive())));
    sel(pick_a, a, b)
}

/// `softmax` over rows of `len` (the last axis), with the vector
/// [`expf`]: per row the maximum (`fmatmul::row_max`), `e = expf(x − m)`,
/// then the sums of `fmatmul::GROUP` rows interleaved, each from +0.0 in index
/// order, then the divisions: the interpreter's operations per row.
pub(crate) fn softmax_rows(w: Width, x: &[f32], y: &mut [f32], len: usize) {
    /// `fmatmul`'s row loop with this module's `expf` (inlined, so each
    /// build below vectorizes it).
    #[inline(always)]
    fn body(x: &[f32], y: &mut [f32], len: usize) {
        rows_with(x, y, len, &mut expf)
    }
    /// # Safety
    /// The host must have AVX512F/BW/VL/DQ.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
    unsafe fn zmm(x: &[f32], y: &mut [f32], len: usize) {
        body(x, y, len)
    }
    /// # Safety
    /// The host must have AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn ymm(x: &[f32], y: &mut [f32], len: usize) {
        body(x, y, len)
    }
    match w {
        // SAFETY: `Width::from_code` gives Zmm only on AVX-512 hosts.
        #[cfg(target_arch = "x86_64")]
        Width::Zmm => unsafe { zmm(x, y, len) },
        // SAFETY: and Ymm only on AVX2 + FMA hosts.
        #[cfg(target_arch = "x86_64")]
        Width::Ymm => unsafe { ymm(x, y, len) },
        _ => body(x, y, len),
    }
}

/// `softmax` over `[outer, len, inner]` along the middle axis (`inner >
/// 1`), with the vector [`expf`], vectorized across `inner`: for a block of
/// positions `i` the running maxima `m[i]` from `x[o, 0, i]` by IEEE
/// `maximum` in index order, then `e = expf(x − m[i])` and the sums from
/// +0.0 in index order, then the divisions; each position's operations
/// are the interpreter's.
pub(crate) fn softmax_strided(
    w: Width,
    x: &[f32],
    y: &mut [f32],
    outer: usize,
    len: usize,
    inner: usize,
) {
    #[inline(always)]
    fn body(x: &[f32], y: &mut [f32], outer: usize, len: usize, inner: usize) {
        const B: usize = 256;
        for o in 0..outer {
            let base = o * len * inner;
            let mut i0 = 0;
            while i0 < inner {
                let nb = B.min(inner - i0);
                let (mut mb, mut sb) = ([0.0f32; B], [0.0f32; B]);
                let (m, s) = (&mut mb[..nb], &mut sb[..nb]);
                m.copy_from_slice(&x[base + i0..base + i0 + nb]);
                for k in 1..len {
                    let at = base + k * inner + i0;
                    for (mi, &v) in m.iter_mut().zip(&x[at..at + nb]) {
                        *mi = maximum(*mi, v);
                    }
                }
                for k in 0..len {
                    let at = base + k * inner + i0;
                    let yr = &mut y[at..at + nb];
                    for ((e, &v), (&mi, si)) in yr
                        .iter_mut()
                        .zip(&x[at..at + nb])
                        .zip(m.iter().zip(s.iter_mut()))
                    {
                        let ev = expf(v - mi);
                        *e = ev;
                        *si += ev;
                    }
                }
                for k in 0..len {
                    let at = base + k * inner + i0;
                    for (e, &si) in y[at..at + nb].iter_mut().zip(s.iter()) {
                        *e /= si;
                    }
                }
                i0 += nb;
            }
        }
    }
    /// # Safety
    /// The host must have AVX512F/BW/VL/DQ.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
    unsafe fn zmm(x: &[f32], y: &mut [f32], outer: usize, len: usize, inner: usize) {
        body(x, y, outer, len, inner)
    }
    /// # Safety
    /// The host must have AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn ymm(x: &[f32], y: &mut [f32], outer: usize, len: usize, inner: usize) {
        body(x, y, outer, len, inner)
    }
    match w {
        // SAFETY: `Width::from_code` gives Zmm only on AVX-512 hosts.
        #[cfg(target_arch = "x86_64")]
        Width::Zmm => unsafe { zmm(x, y, outer, len, inner) },
        // SAFETY: and Ymm only on AVX2 + FMA hosts.
        #[cfg(target_arch = "x86_64")]
        Width::Ymm => unsafe { ymm(x, y, outer, len, inner) },
        _ => body(x, y, outer, len, inner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `step`-th f32 bit pattern (from `offset`), and the patterns at
    /// the crate's range boundaries and their neighbours.
    fn patterns(step: u64, offset: u64) -> Vec<f32> {
        let mut v: Vec<f32> = (0..(1u64 << 32) / step)
            .map(|i| f32::from_bits((i * step + offset) as u32))
            .collect();
        let edges = [
            0x42ae_ac50u32,
            0x42b1_7218,
            0x42cf_f1b5,
            0x3f85_1592,
            0x3eb1_7218,
            0x3900_0000,
            0x4120_0000,
            0x3f0c_9f54,
            0x3e82_c578,
            0x0080_0000,
            0x3f80_0000,
            0x7f80_0000,
            0x3300_0000,
            0x4195_b844,
            0,
        ];
        for e in edges {
            for d in 0..5u32 {
                for s in [0, 0x8000_0000] {
                    v.push(f32::from_bits(e.wrapping_add(d) ^ s));
                    v.push(f32::from_bits(e.wrapping_sub(d) ^ s));
                }
            }
        }
        v
    }

    fn same(a: f32, b: f32) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    /// Each kernel (every build this host runs, and the lane functions
    /// called one at a time) equals the interpreter's function on every
    /// 256th f32 and the boundaries, on all 2^32 with
    /// `QCC_LIBM_EXHAUSTIVE=1`. NaN equals any NaN, as the spec says.
    #[test]
    fn kernels_equal_the_crate_bit_for_bit() {
        let all = std::env::var("QCC_LIBM_EXHAUSTIVE").is_ok_and(|v| v == "1");
        // Chunks of 2^24 patterns, so all 2^32 fit in memory.
        let (step, parts) = if all { (1u64, 256u64) } else { (256, 1) };
        let widths = [Width::Plain, Width::Ymm, Width::Zmm];
        for f in [UnaryFn::Exp, UnaryFn::Sigmoid, UnaryFn::Tanh, UnaryFn::Log] {
            let u = Unary {
                f,
                alpha: 0.0,
                beta: 0.0,
            };
            for part in 0..parts {
                let x = if all {
                    (0..1u64 << 24)
                        .map(|i| f32::from_bits(((part << 24) + i) as u32))
                        .collect()
                } else {
                    patterns(step, 0)
                };
                let want: Vec<f32> = x.iter().map(|&v| u.apply(v)).collect();
                for (w, code) in widths.iter().zip(0usize..) {
                    if Width::from_code(code) != *w {
                        continue;
                    }
                    let mut got = vec![0.0f32; x.len()];
                    // SAFETY: the extents as allocated.
                    unsafe {
                        qcc_vmath_f32(x.as_ptr(), x.len(), f as usize, code, got.as_mut_ptr())
                    };
                    for (i, (&g, &e)) in got.iter().zip(&want).enumerate() {
                        assert!(
                            same(g, e),
                            "{f:?} {w:?} at {:#010x}: {:#010x}, want {:#010x}",
                            x[i].to_bits(),
                            g.to_bits(),
                            e.to_bits()
                        );
                    }
                }
                if !all {
                    let lane = |v: f32| match f {
                        UnaryFn::Exp => expf(v),
                        UnaryFn::Sigmoid => sigmoid(v),
                        UnaryFn::Tanh => tanhf(v),
                        _ => logf(v),
                    };
                    for (&v, &e) in x.iter().zip(&want) {
                        let g = std::hint::black_box(lane(std::hint::black_box(v)));
                        assert!(same(g, e), "{f:?} lane at {:#010x}", v.to_bits());
                    }
                }
            }
        }
    }

    /// Short runs and every tail length: the loop's remainder lanes.
    #[test]
    fn every_length() {
        let x: Vec<f32> = (0..70).map(|i| i as f32 * 0.37 - 11.0).collect();
        for n in 0..x.len() {
            for code in 0..3 {
                let mut got = vec![f32::NAN; n];
                // SAFETY: the extents as allocated.
                unsafe {
                    qcc_vmath_f32(
                        x.as_ptr(),
                        n,
                        UnaryFn::Sigmoid as usize,
                        code,
                        got.as_mut_ptr(),
                    )
                };
                for (g, &v) in got.iter().zip(&x) {
                    assert_eq!(
                        g.to_bits(),
                        (1.0 / (1.0 + qcc_ir::elementwise::expf(-v))).to_bits()
                    );
                }
            }
        }
    }

    /// ns per element at 1M elements: the scalar helper (`qcc_unary_f32`,
    /// the crate's functions one call each) against each kernel. Run with
    /// `cargo test --release -p qcc-codegen --lib vmath_throughput --
    /// --ignored --nocapture`.
    #[test]
    #[ignore]
    fn vmath_throughput() {
        let n = 1 << 20;
        let x: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 20011) as f32 / 1000.0 - 10.0)
            .collect();
        let mut out = vec![0.0f32; n];
        let time = |run: &mut dyn FnMut()| {
            let mut best = f64::INFINITY;
            for _ in 0..15 {
                let t = std::time::Instant::now();
                run();
                best = best.min(t.elapsed().as_secs_f64());
            }
            best * 1e9 / n as f64
        };
        for f in [UnaryFn::Exp, UnaryFn::Sigmoid, UnaryFn::Tanh, UnaryFn::Log] {
            let xs: Vec<f32> = if f == UnaryFn::Log {
                x.iter().map(|v| v.abs() + 0.01).collect()
            } else {
                x.clone()
            };
            let scalar = time(&mut || {
                // SAFETY: the extents as allocated.
                unsafe {
                    super::super::qcc_unary_f32(xs.as_ptr(), n, f as usize, 0, out.as_mut_ptr())
                }
            });
            let mut line = format!("{f:?}: scalar {scalar:.2} ns/element");
            for (name, code) in [("plain", 0usize), ("avx2", 1), ("avx512", 2)] {
                let t = time(&mut || {
                    // SAFETY: the extents as allocated.
                    unsafe { qcc_vmath_f32(xs.as_ptr(), n, f as usize, code, out.as_mut_ptr()) }
                });
                line += &format!(", {name} {t:.2}");
            }
            println!("{line}");
        }
    }
}
