//! The `libm` crate's float functions (musl's algorithms, `libm` 0.2) as
//! Cranelift IR, for ahead-of-time objects, which cannot call Rust
//! (`crate::aot`). Each function is a faithful port of the crate's source:
//! the same constants and the same f32 operations in the same order, so
//! the result equals `libm`'s bit for bit (IEEE arithmetic is
//! deterministic; Cranelift neither contracts to FMA nor reassociates).
//! The branches of the original become selects: every path is computed and
//! the taken one chosen, which changes no bits since each path is pure
//! arithmetic (no traps: float-to-int conversions saturate as Rust's `as`
//! does). The code is inlined into the op's element loop (no call, no
//! symbol). `testsuite/tests/aot_libm.rs` checks each function against the
//! crate over all 2³² inputs (sampled by default).

#![allow(clippy::excessive_precision)] // the constants as the crate writes them

use super::Fx;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types};

const I32: types::Type = types::I32;
const F32: types::Type = types::F32;

impl Fx<'_, '_> {
    fn ci(&mut self, v: u32) -> Value {
        self.b.ins().iconst(I32, v as i32 as i64)
    }

    fn bits(&mut self, x: Value) -> Value {
        self.b.ins().bitcast(I32, MemFlagsData::new(), x)
    }

    fn f32_of_bits(&mut self, i: Value) -> Value {
        self.b.ins().bitcast(F32, MemFlagsData::new(), i)
    }

    fn cmp_u(&mut self, cc: IntCC, a: Value, k: u32) -> Value {
        let k = self.ci(k);
        self.b.ins().icmp(cc, a, k)
    }
}

/// `libm::scalbnf(x, n)` (`generic::scalbn` for f32): prescales by 2¹²⁷ or
/// 2⁻¹⁰² (up to twice), clamps `n`, then multiplies by 2ⁿ.
fn scalbnf(fx: &mut Fx, x: Value, n: Value) -> Value {
    let (mut x, mut n) = (x, n);
    let up = fx.cf(f32::from_bits(0x7f00_0000)); // 2^127
    let down = fx.cf(f32::from_bits(0x0080_0000) * f32::from_bits(0x4b80_0000)); // 2^-126 · 2^24
    for _ in 0..2 {
        let big = fx.cmp_u(IntCC::SignedGreaterThan, n, 127);
        let xs = fx.b.ins().fmul(x, up);
        let ns = fx.b.ins().iadd_imm_s(n, -127);
        x = fx.b.ins().select(big, xs, x);
        n = fx.b.ins().select(big, ns, n);
    }
    let max = fx.ci(127);
    n = fx.b.ins().smin(n, max);
    for _ in 0..2 {
        let small = fx.cmp_u(IntCC::SignedLessThan, n, (-126i32) as u32);
        let xs = fx.b.ins().fmul(x, down);
        let ns = fx.b.ins().iadd_imm_s(n, 102);
        x = fx.b.ins().select(small, xs, x);
        n = fx.b.ins().select(small, ns, n);
    }
    let min = fx.ci((-126i32) as u32);
    n = fx.b.ins().smax(n, min);
    let e = fx.b.ins().iadd_imm_s(n, 127);
    let e = fx.b.ins().ishl_imm_u(e, 23);
    let p = fx.f32_of_bits(e);
    fx.b.ins().fmul(x, p)
}

/// `libm::expf` (FreeBSD's `e_expf.c`).
pub(crate) fn expf(fx: &mut Fx, x: Value) -> Value {
    const LN2_HI: f32 = 6.9314575195e-01;
    const LN2_LO: f32 = 1.4286067653e-06;
    const INV_LN2: f32 = 1.4426950216e+00;
    const P1: f32 = 1.6666625440e-1;
    const P2: f32 = -2.7667332906e-3;
    let hx0 = fx.bits(x);
    let sign = fx.b.ins().ushr_imm_u(hx0, 31);
    let signb = fx.b.ins().icmp_imm_s(IntCC::NotEqual, sign, 0);
    let mask = fx.ci(0x7fff_ffff);
    let hx = fx.b.ins().band(hx0, mask);
    // k: the reduction's multiple of ln 2.
    let half = {
        let (p, m) = (fx.cf(0.5), fx.cf(-0.5));
        fx.b.ins().select(signb, m, p)
    };
    let inv = fx.cf(INV_LN2);
    let t = fx.b.ins().fmul(inv, x);
    let t = fx.b.ins().fadd(t, half);
    let k_far = fx.b.ins().fcvt_to_sint_sat(I32, t);
    // 1 - sign - sign
    let two_sign = fx.b.ins().iadd(sign, sign);
    let one = fx.ci(1);
    let k_near = fx.b.ins().isub(one, two_sign);
    let zero_i = fx.ci(0);
    let far = fx.cmp_u(IntCC::UnsignedGreaterThan, hx, 0x3f85_1592);
    let mid = fx.cmp_u(IntCC::UnsignedGreaterThan, hx, 0x3eb1_7218);
    let k = fx.b.ins().select(far, k_far, k_near);
    let k = fx.b.ins().select(mid, k, zero_i);
    // With k = 0 (|x| ≤ 0.5 ln 2), hi = x − 0·LN2_HI = x and lo = 0 exactly,
    // as the original's `hi = x; lo = 0`.
    let kf = fx.b.ins().fcvt_from_sint(F32, k);
    let c_hi = fx.cf(LN2_HI);
    let c_lo = fx.cf(LN2_LO);
    let khi = fx.b.ins().fmul(kf, c_hi);
    let hi = fx.b.ins().fsub(x, khi);
    let lo = fx.b.ins().fmul(kf, c_lo);
    let xr = fx.b.ins().fsub(hi, lo);
    let xx = fx.b.ins().fmul(xr, xr);
    let (p1, p2) = (fx.cf(P1), fx.cf(P2));
    let q = fx.b.ins().fmul(xx, p2);
    let q = fx.b.ins().fadd(p1, q);
    let q = fx.b.ins().fmul(xx, q);
    let c = fx.b.ins().fsub(xr, q);
    let two = fx.cf(2.0);
    let xc = fx.b.ins().fmul(xr, c);
    let d = fx.b.ins().fsub(two, c);
    let y = fx.b.ins().fdiv(xc, d);
    let y = fx.b.ins().fsub(y, lo);
    let y = fx.b.ins().fadd(y, hi);
    let onef = fx.cf(1.0);
    let y = fx.b.ins().fadd(onef, y);
    // scalbnf(y, 0) = y · 1 = y: the original's `k == 0` case.
    let mut r = scalbnf(fx, y, k);
    // The special cases, lowest priority first.
    let tiny = fx.cmp_u(IntCC::UnsignedLessThanOrEqual, hx, 0x3900_0000);
    let one_x = fx.b.ins().fadd(onef, x);
    r = fx.b.ins().select(tiny, one_x, r);
    let under = fx.cmp_u(IntCC::UnsignedGreaterThanOrEqual, hx, 0x42cf_f1b5);
    let under = fx.b.ins().band(under, signb);
    let zero = fx.cf(0.0);
    r = fx.b.ins().select(under, zero, r);
    let over = fx.cmp_u(IntCC::UnsignedGreaterThanOrEqual, hx, 0x42b1_7218);
    let pos = fx.b.ins().icmp_imm_s(IntCC::Equal, sign, 0);
    let over = fx.b.ins().band(over, pos);
    let up = fx.cf(f32::from_bits(0x7f00_0000));
    let big = fx.b.ins().fmul(x, up);
    r = fx.b.ins().select(over, big, r);
    let nan = fx.cmp_u(IntCC::UnsignedGreaterThan, hx, 0x7f80_0000);
    fx.b.ins().select(nan, x, r)
}

/// `1 / (1 + libm::expf(−x))`, as `qcc_ir::elementwise::Unary::apply`.
pub(crate) fn sigmoid(fx: &mut Fx, x: Value) -> Value {
    let nx = fx.b.ins().fneg(x);
    let e = expf(fx, nx);
    let one = fx.cf(1.0);
    let d = fx.b.ins().fadd(one, e);
    fx.b.ins().fdiv(one, d)
}

/// `libm::logf` (FreeBSD's `e_logf.c`).
pub(crate) fn logf(fx: &mut Fx, x0: Value) -> Value {
    const LN2_HI: f32 = 6.9313812256e-01;
    const LN2_LO: f32 = 9.0580006145e-06;
    const LG1: f32 = 0.66666662693;
    const LG2: f32 = 0.40000972152;
    const LG3: f32 = 0.28498786688;
    const LG4: f32 = 0.24279078841;
    let ix0 = fx.bits(x0);
    // A positive subnormal: scaled up by 2^25.
    let sub = fx.cmp_u(IntCC::UnsignedLessThan, ix0, 0x0080_0000);
    let s25 = fx.cf(f32::from_bits(0x4c00_0000));
    let xs = fx.b.ins().fmul(x0, s25);
    let x = fx.b.ins().select(sub, xs, x0);
    let (m25, z) = (fx.ci((-25i32) as u32), fx.ci(0));
    let k0 = fx.b.ins().select(sub, m25, z);
    let ix = fx.bits(x);
    // Reduce x into [sqrt(2)/2, sqrt(2)].
    let ix = fx.b.ins().iadd_imm_s(ix, 0x3f80_0000 - 0x3f35_04f3);
    let e = fx.b.ins().ushr_imm_u(ix, 23);
    let k = fx.b.ins().iadd(k0, e);
    let k = fx.b.ins().iadd_imm_s(k, -0x7f);
    let m = fx.ci(0x007f_ffff);
    let ix = fx.b.ins().band(ix, m);
    let ix = fx.b.ins().iadd_imm_s(ix, 0x3f35_04f3);
    let x = fx.f32_of_bits(ix);
    let one = fx.cf(1.0);
    let f = fx.b.ins().fsub(x, one);
    let two = fx.cf(2.0);
    let d = fx.b.ins().fadd(two, f);
    let s = fx.b.ins().fdiv(f, d);
    let zz = fx.b.ins().fmul(s, s);
    let w = fx.b.ins().fmul(zz, zz);
    let (lg1, lg2, lg3, lg4) = (fx.cf(LG1), fx.cf(LG2), fx.cf(LG3), fx.cf(LG4));
    let t1 = fx.b.ins().fmul(w, lg4);
    let t1 = fx.b.ins().fadd(lg2, t1);
    let t1 = fx.b.ins().fmul(w, t1);
    let t2 = fx.b.ins().fmul(w, lg3);
    let t2 = fx.b.ins().fadd(lg1, t2);
    let t2 = fx.b.ins().fmul(zz, t2);
    let r = fx.b.ins().fadd(t2, t1);
    let h = fx.cf(0.5);
    let hfsq = fx.b.ins().fmul(h, f);
    let hfsq = fx.b.ins().fmul(hfsq, f);
    let dk = fx.b.ins().fcvt_from_sint(F32, k);
    let (c_hi, c_lo) = (fx.cf(LN2_HI), fx.cf(LN2_LO));
    let a = fx.b.ins().fadd(hfsq, r);
    let a = fx.b.ins().fmul(s, a);
    let b = fx.b.ins().fmul(dk, c_lo);
    let a = fx.b.ins().fadd(a, b);
    let a = fx.b.ins().fsub(a, hfsq);
    let a = fx.b.ins().fadd(a, f);
    let b = fx.b.ins().fmul(dk, c_hi);
    let mut r = fx.b.ins().fadd(a, b);
    // The special cases, lowest priority first.
    let is_one = fx.cmp_u(IntCC::Equal, ix0, 0x3f80_0000);
    let zf = fx.cf(0.0);
    r = fx.b.ins().select(is_one, zf, r);
    let inf_nan = fx.cmp_u(IntCC::UnsignedGreaterThanOrEqual, ix0, 0x7f80_0000);
    r = fx.b.ins().select(inf_nan, x0, r);
    let neg = fx.cmp_u(IntCC::UnsignedGreaterThanOrEqual, ix0, 0x8000_0000);
    let xx = fx.b.ins().fsub(x0, x0);
    let nan = fx.b.ins().fdiv(xx, zf);
    r = fx.b.ins().select(neg, nan, r);
    let twice = fx.b.ins().ishl_imm_u(ix0, 1);
    let zero = fx.b.ins().icmp_imm_s(IntCC::Equal, twice, 0);
    let m1 = fx.cf(-1.0);
    let sq = fx.b.ins().fmul(x0, x0);
    let ninf = fx.b.ins().fdiv(m1, sq);
    fx.b.ins().select(zero, ninf, r)
}

/// `libm::expm1f` (FreeBSD's `s_expm1f.c`).
fn expm1f(fx: &mut Fx, x: Value) -> Value {
    const LN2_HI: f32 = 6.9313812256e-01;
    const LN2_LO: f32 = 9.0580006145e-06;
    const INV_LN2: f32 = 1.4426950216e+00;
    const Q1: f32 = -3.3333212137e-2;
    const Q2: f32 = 1.5807170421e-3;
    let hx0 = fx.bits(x);
    let sign = fx.b.ins().ushr_imm_u(hx0, 31);
    let signb = fx.b.ins().icmp_imm_s(IntCC::NotEqual, sign, 0);
    let mask = fx.ci(0x7fff_ffff);
    let hx = fx.b.ins().band(hx0, mask);
    // k: ±1 for 0.5 ln 2 < |x| < 1.5 ln 2 (where `x ∓ LN2_HI` equals the
    // general `x − k·LN2_HI`), else rounded; 0 for |x| ≤ 0.5 ln 2 (where
    // hi = x − 0·LN2_HI = x, lo = 0 and c = 0 exactly).
    let half = {
        let (p, m) = (fx.cf(0.5), fx.cf(-0.5));
        fx.b.ins().select(signb, m, p)
    };
    let inv = fx.cf(INV_LN2);
    let t = fx.b.ins().fmul(inv, x);
    let t = fx.b.ins().fadd(t, half);
    let k_far = fx.b.ins().fcvt_to_sint_sat(I32, t);
    let two_sign = fx.b.ins().iadd(sign, sign);
    let one_i = fx.ci(1);
    let k_near = fx.b.ins().isub(one_i, two_sign);
    let near = fx.cmp_u(IntCC::UnsignedLessThan, hx, 0x3f85_1592);
    let mid = fx.cmp_u(IntCC::UnsignedGreaterThan, hx, 0x3eb1_7218);
    let zero_i = fx.ci(0);
    let k = fx.b.ins().select(near, k_near, k_far);
    let k = fx.b.ins().select(mid, k, zero_i);
    let kf = fx.b.ins().fcvt_from_sint(F32, k);
    let (c_hi, c_lo) = (fx.cf(LN2_HI), fx.cf(LN2_LO));
    let khi = fx.b.ins().fmul(kf, c_hi);
    let hi = fx.b.ins().fsub(x, khi);
    let lo = fx.b.ins().fmul(kf, c_lo);
    let xr = fx.b.ins().fsub(hi, lo);
    let c = fx.b.ins().fsub(hi, xr);
    let c = fx.b.ins().fsub(c, lo);
    // The primary range.
    let h = fx.cf(0.5);
    let hfx = fx.b.ins().fmul(h, xr);
    let hxs = fx.b.ins().fmul(xr, hfx);
    let (q1, q2) = (fx.cf(Q1), fx.cf(Q2));
    let r1 = fx.b.ins().fmul(hxs, q2);
    let r1 = fx.b.ins().fadd(q1, r1);
    let r1 = fx.b.ins().fmul(hxs, r1);
    let one = fx.cf(1.0);
    let r1 = fx.b.ins().fadd(one, r1);
    let three = fx.cf(3.0);
    let rh = fx.b.ins().fmul(r1, hfx);
    let t = fx.b.ins().fsub(three, rh);
    let six = fx.cf(6.0);
    let xt = fx.b.ins().fmul(xr, t);
    let d = fx.b.ins().fsub(six, xt);
    let n = fx.b.ins().fsub(r1, t);
    let q = fx.b.ins().fdiv(n, d);
    let e = fx.b.ins().fmul(hxs, q);
    // k = 0
    let xe = fx.b.ins().fmul(xr, e);
    let xe = fx.b.ins().fsub(xe, hxs);
    let r_k0 = fx.b.ins().fsub(xr, xe);
    let ec = fx.b.ins().fsub(e, c);
    let e2 = fx.b.ins().fmul(xr, ec);
    let e2 = fx.b.ins().fsub(e2, c);
    let e2 = fx.b.ins().fsub(e2, hxs);
    // k = −1
    let xme = fx.b.ins().fsub(xr, e2);
    let r_m1 = fx.b.ins().fmul(h, xme);
    let r_m1 = fx.b.ins().fsub(r_m1, h);
    // k = 1
    let x5 = fx.b.ins().fadd(xr, h);
    let a = fx.b.ins().fsub(e2, x5);
    let m2 = fx.cf(-2.0);
    let r_p1_lo = fx.b.ins().fmul(m2, a);
    let two = fx.cf(2.0);
    let b2 = fx.b.ins().fmul(two, xme);
    let r_p1_hi = fx.b.ins().fadd(one, b2);
    let q4 = fx.cf(-0.25);
    let lt = fx.b.ins().fcmp(FloatCC::LessThan, xr, q4);
    let r_p1 = fx.b.ins().select(lt, r_p1_lo, r_p1_hi);
    // 2^k and 2^−k (only the lanes with k in range use them).
    let e_k = fx.b.ins().iadd_imm_s(k, 0x7f);
    let e_k = fx.b.ins().ishl_imm_u(e_k, 23);
    let twopk = fx.f32_of_bits(e_k);
    let c7f = fx.ci(0x7f);
    let e_u = fx.b.ins().isub(c7f, k);
    let e_u = fx.b.ins().ishl_imm_u(e_u, 23);
    let uf = fx.f32_of_bits(e_u);
    // k < 0 or k > 56
    let y = fx.b.ins().fadd(xme, one);
    let up = fx.cf(f32::from_bits(0x7f00_0000));
    let y2 = fx.b.ins().fmul(y, two);
    let y2 = fx.b.ins().fmul(y2, up);
    let yk = fx.b.ins().fmul(y, twopk);
    let k128 = fx.b.ins().icmp_imm_s(IntCC::Equal, k, 128);
    let y = fx.b.ins().select(k128, y2, yk);
    let r_big = fx.b.ins().fsub(y, one);
    // 0 ≤ k ≤ 56
    let omu = fx.b.ins().fsub(one, uf);
    let a = fx.b.ins().fadd(xme, omu);
    let r_lt23 = fx.b.ins().fmul(a, twopk);
    let eu = fx.b.ins().fadd(e2, uf);
    let a = fx.b.ins().fsub(xr, eu);
    let a = fx.b.ins().fadd(a, one);
    let r_ge23 = fx.b.ins().fmul(a, twopk);
    let lt23 = fx.cmp_u(IntCC::SignedLessThan, k, 23);
    let mut r = fx.b.ins().select(lt23, r_lt23, r_ge23);
    let kneg = fx.cmp_u(IntCC::SignedLessThan, k, 0);
    let kbig = fx.cmp_u(IntCC::SignedGreaterThan, k, 56);
    let out = fx.b.ins().bor(kneg, kbig);
    r = fx.b.ins().select(out, r_big, r);
    let is1 = fx.b.ins().icmp_imm_s(IntCC::Equal, k, 1);
    r = fx.b.ins().select(is1, r_p1, r);
    let ism1 = fx.b.ins().icmp_imm_s(IntCC::Equal, k, -1);
    r = fx.b.ins().select(ism1, r_m1, r);
    let is0 = fx.b.ins().icmp_imm_s(IntCC::Equal, k, 0);
    r = fx.b.ins().select(is0, r_k0, r);
    // The special cases, lowest priority first.
    let tiny = fx.cmp_u(IntCC::UnsignedLessThan, hx, 0x3300_0000);
    r = fx.b.ins().select(tiny, x, r);
    let over = fx.cmp_u(IntCC::UnsignedGreaterThan, hx, 0x42b1_7217);
    let pos = fx.b.ins().icmp_imm_s(IntCC::Equal, sign, 0);
    let over = fx.b.ins().band(over, pos);
    let xb = fx.b.ins().fmul(x, up);
    r = fx.b.ins().select(over, xb, r);
    let huge = fx.cmp_u(IntCC::UnsignedGreaterThanOrEqual, hx, 0x4195_b844);
    let neg_huge = fx.b.ins().band(huge, signb);
    let m1 = fx.cf(-1.0);
    r = fx.b.ins().select(neg_huge, m1, r);
    let nan = fx.cmp_u(IntCC::UnsignedGreaterThan, hx, 0x7f80_0000);
    fx.b.ins().select(nan, x, r)
}

/// `libm::tanhf` (musl's, over `expm1f`): one `expm1f` of ±2|x|.
pub(crate) fn tanhf(fx: &mut Fx, x: Value) -> Value {
    let ix0 = fx.bits(x);
    let mask = fx.ci(0x7fff_ffff);
    let w = fx.b.ins().band(ix0, mask);
    let ax = fx.f32_of_bits(w);
    let big = fx.cmp_u(IntCC::UnsignedGreaterThan, w, 0x4120_0000);
    let b = fx.cmp_u(IntCC::UnsignedGreaterThan, w, 0x3f0c_9f54);
    let c = fx.cmp_u(IntCC::UnsignedGreaterThan, w, 0x3e82_c578);
    let d = fx.cmp_u(IntCC::UnsignedGreaterThanOrEqual, w, 0x0080_0000);
    let (two, m2) = (fx.cf(2.0), fx.cf(-2.0));
    let k = fx.b.ins().select(c, two, m2);
    let arg = fx.b.ins().fmul(k, ax);
    let t = expm1f(fx, arg);
    let t2 = fx.b.ins().fadd(t, two);
    let one = fx.cf(1.0);
    let q = fx.b.ins().fdiv(two, t2);
    let r_b = fx.b.ins().fsub(one, q);
    let r_c = fx.b.ins().fdiv(t, t2);
    let nt = fx.b.ins().fneg(t);
    let r_d = fx.b.ins().fdiv(nt, t2);
    let zero = fx.cf(0.0);
    let z = fx.b.ins().fdiv(zero, ax);
    let r_big = fx.b.ins().fadd(one, z);
    let r = fx.b.ins().select(d, r_d, ax);
    let r = fx.b.ins().select(c, r_c, r);
    let r = fx.b.ins().select(b, r_b, r);
    let r = fx.b.ins().select(big, r_big, r);
    let sign = fx.cmp_u(IntCC::UnsignedGreaterThanOrEqual, ix0, 0x8000_0000);
    let nr = fx.b.ins().fneg(r);
    fx.b.ins().select(sign, nr, r)
}

/// `c₀ + s·(c₁ + s·(c₂ + … + s·cₙ))`, innermost first, as the crate writes
/// its polynomials.
fn horner(fx: &mut Fx, s: Value, c: &[f32]) -> Value {
    let (last, rest) = c.split_last().expect("a coefficient");
    let mut acc = fx.cf(*last);
    for &k in rest.iter().rev() {
        let m = fx.b.ins().fmul(s, acc);
        let k = fx.cf(k);
        acc = fx.b.ins().fadd(k, m);
    }
    acc
}

/// `bits(x) & m` as an f32 (the crate's truncations of the low bits).
fn mask_bits(fx: &mut Fx, x: Value, m: u32) -> Value {
    let i = fx.bits(x);
    let m = fx.ci(m);
    let i = fx.b.ins().band(i, m);
    fx.f32_of_bits(i)
}

/// The coefficients of `erff.rs` (FreeBSD's `s_erff.c`).
mod erf_c {
    pub const ERX: f32 = 8.4506291151e-01;
    pub const EFX8: f32 = 1.0270333290e+00;
    pub const PP: [f32; 5] = [
        1.2837916613e-01,
        -3.2504209876e-01,
        -2.8481749818e-02,
        -5.7702702470e-03,
        -2.3763017452e-05,
    ];
    pub const QQ: [f32; 6] = [
        1.0,
        3.9791721106e-01,
        6.5022252500e-02,
        5.0813062117e-03,
        1.3249473704e-04,
        -3.9602282413e-06,
    ];
    pub const PA: [f32; 7] = [
        -2.3621185683e-03,
        4.1485610604e-01,
        -3.7220788002e-01,
        3.1834661961e-01,
        -1.1089469492e-01,
        3.5478305072e-02,
        -2.1663755178e-03,
    ];
    pub const QA: [f32; 7] = [
        1.0,
        1.0642088205e-01,
        5.4039794207e-01,
        7.1828655899e-02,
        1.2617121637e-01,
        1.3637083583e-02,
        1.1984500103e-02,
    ];
    pub const RA: [f32; 8] = [
        -9.8649440333e-03,
        -6.9385856390e-01,
        -1.0558626175e+01,
        -6.2375331879e+01,
        -1.6239666748e+02,
        -1.8460508728e+02,
        -8.1287437439e+01,
        -9.8143291473e+00,
    ];
    pub const SA: [f32; 9] = [
        1.0,
        1.9651271820e+01,
        1.3765776062e+02,
        4.3456588745e+02,
        6.4538726807e+02,
        4.2900814819e+02,
        1.0863500214e+02,
        6.5702495575e+00,
        -6.0424413532e-02,
    ];
    pub const RB: [f32; 7] = [
        -9.8649431020e-03,
        -7.9928326607e-01,
        -1.7757955551e+01,
        -1.6063638306e+02,
        -6.3756646729e+02,
        -1.0250950928e+03,
        -4.8351919556e+02,
    ];
    pub const SB: [f32; 8] = [
        1.0,
        3.0338060379e+01,
        3.2579251099e+02,
        1.5367296143e+03,
        3.1998581543e+03,
        2.5530502930e+03,
        4.7452853394e+02,
        -2.2440952301e+01,
    ];
}

/// `erff.rs`'s `erfc2(ix, x)` (with `erfc1` for |x| < 1.25), `ix` the bits
/// of |x|: erfc(|x|) for 0.84375 ≤ |x| < 28.
fn erfc2(fx: &mut Fx, ix: Value, x: Value) -> Value {
    use erf_c::*;
    let ax = fx.b.ins().fabs(x);
    let one = fx.cf(1.0);
    // erfc1: |x| < 1.25.
    let s1 = fx.b.ins().fsub(ax, one);
    let p = horner(fx, s1, &PA);
    let q = horner(fx, s1, &QA);
    let pq = fx.b.ins().fdiv(p, q);
    let c = fx.cf(1.0 - ERX);
    let r1 = fx.b.ins().fsub(c, pq);
    // |x| ≥ 1.25.
    let xx = fx.b.ins().fmul(ax, ax);
    let s = fx.b.ins().fdiv(one, xx);
    let ra = horner(fx, s, &RA);
    let sa = horner(fx, s, &SA);
    let rb = horner(fx, s, &RB);
    let sb = horner(fx, s, &SB);
    let near = fx.cmp_u(IntCC::UnsignedLessThan, ix, 0x4036_db6d);
    let r = fx.b.ins().select(near, ra, rb);
    let big_s = fx.b.ins().select(near, sa, sb);
    let z = mask_bits(fx, ax, 0xffff_e000);
    let nz = fx.b.ins().fneg(z);
    let a = fx.b.ins().fmul(nz, z);
    let k = fx.cf(0.5625);
    let a = fx.b.ins().fsub(a, k);
    let ea = expf(fx, a);
    let zm = fx.b.ins().fsub(z, ax);
    let zp = fx.b.ins().fadd(z, ax);
    let b = fx.b.ins().fmul(zm, zp);
    let rs = fx.b.ins().fdiv(r, big_s);
    let b = fx.b.ins().fadd(b, rs);
    let eb = expf(fx, b);
    let e = fx.b.ins().fmul(ea, eb);
    let r2 = fx.b.ins().fdiv(e, ax);
    let lt = fx.cmp_u(IntCC::UnsignedLessThan, ix, 0x3fa0_0000);
    fx.b.ins().select(lt, r1, r2)
}

/// The sign bit of `x` as a condition, the bits of |x|, and
/// `r / s` of `erff.rs`'s rational approximation on |x| < 0.84375 (in `x·x`).
fn erf_small(fx: &mut Fx, x: Value) -> (Value, Value, Value) {
    use erf_c::*;
    let hx = fx.bits(x);
    let neg = fx.cmp_u(IntCC::UnsignedGreaterThanOrEqual, hx, 0x8000_0000);
    let mask = fx.ci(0x7fff_ffff);
    let ix = fx.b.ins().band(hx, mask);
    let z = fx.b.ins().fmul(x, x);
    let r = horner(fx, z, &PP);
    let s = horner(fx, z, &QQ);
    let y = fx.b.ins().fdiv(r, s);
    (neg, ix, y)
}

/// `libm::erff` (FreeBSD's `s_erff.c`).
pub(crate) fn erff(fx: &mut Fx, x: Value) -> Value {
    let (neg, ix, y) = erf_small(fx, x);
    // |x| < 0.84375: x + x·y.
    let xy = fx.b.ins().fmul(x, y);
    let small = fx.b.ins().fadd(x, xy);
    // |x| < 2⁻²⁸: 0.125·(8x + EFX8·x).
    let (c8, ce, c125) = (fx.cf(8.0), fx.cf(erf_c::EFX8), fx.cf(0.125));
    let a = fx.b.ins().fmul(c8, x);
    let b = fx.b.ins().fmul(ce, x);
    let t = fx.b.ins().fadd(a, b);
    let tiny = fx.b.ins().fmul(c125, t);
    // |x| < 6: ±(1 − erfc2); else ±(1 − 2⁻¹²⁰).
    let one = fx.cf(1.0);
    let e = erfc2(fx, ix, x);
    let mid = fx.b.ins().fsub(one, e);
    let big = fx.cf(1.0 - f32::from_bits(0x0380_0000));
    let lt6 = fx.cmp_u(IntCC::UnsignedLessThan, ix, 0x40c0_0000);
    let y = fx.b.ins().select(lt6, mid, big);
    let ny = fx.b.ins().fneg(y);
    let mut r = fx.b.ins().select(neg, ny, y);
    let lt = fx.cmp_u(IntCC::UnsignedLessThan, ix, 0x3f58_0000);
    r = fx.b.ins().select(lt, small, r);
    let lt = fx.cmp_u(IntCC::UnsignedLessThan, ix, 0x3180_0000);
    r = fx.b.ins().select(lt, tiny, r);
    // NaN and ±inf: 1 − 2·sign + 1/x.
    let (zero, two) = (fx.cf(0.0), fx.cf(2.0));
    let sf = fx.b.ins().select(neg, one, zero);
    let ts = fx.b.ins().fmul(two, sf);
    let a = fx.b.ins().fsub(one, ts);
    let inv = fx.b.ins().fdiv(one, x);
    let special = fx.b.ins().fadd(a, inv);
    let inf_nan = fx.cmp_u(IntCC::UnsignedGreaterThanOrEqual, ix, 0x7f80_0000);
    fx.b.ins().select(inf_nan, special, r)
}

/// `libm::erfcf` (FreeBSD's `s_erff.c`).
pub(crate) fn erfcf(fx: &mut Fx, x: Value) -> Value {
    let (neg, ix, y) = erf_small(fx, x);
    let (one, half, two, zero) = (fx.cf(1.0), fx.cf(0.5), fx.cf(2.0), fx.cf(0.0));
    // |x| < 0.84375: 1 − (x + x·y) for x < 1/4, else 0.5 − ((x − 0.5) + x·y).
    let xy = fx.b.ins().fmul(x, y);
    let a = fx.b.ins().fadd(x, xy);
    let lo = fx.b.ins().fsub(one, a);
    let b = fx.b.ins().fsub(x, half);
    let b = fx.b.ins().fadd(b, xy);
    let hi = fx.b.ins().fsub(half, b);
    let quarter = fx.cmp_u(IntCC::UnsignedLessThan, ix, 0x3e80_0000);
    let use_lo = fx.b.ins().bor(neg, quarter);
    let small = fx.b.ins().select(use_lo, lo, hi);
    // |x| < 2⁻⁵⁶: 1 − x.
    let tiny = fx.b.ins().fsub(one, x);
    // |x| < 28: erfc2, or 2 − erfc2 for x < 0.
    let e = erfc2(fx, ix, x);
    let ne = fx.b.ins().fsub(two, e);
    let mid = fx.b.ins().select(neg, ne, e);
    // Else 2 − 2⁻¹²⁰ or 2⁻¹²⁰·2⁻¹²⁰.
    let t = f32::from_bits(0x0380_0000);
    let (bn, bp) = (fx.cf(2.0 - t), fx.cf(t * t));
    let big = fx.b.ins().select(neg, bn, bp);
    let lt = fx.cmp_u(IntCC::UnsignedLessThan, ix, 0x41e0_0000);
    let mut r = fx.b.ins().select(lt, mid, big);
    let lt = fx.cmp_u(IntCC::UnsignedLessThan, ix, 0x3f58_0000);
    r = fx.b.ins().select(lt, small, r);
    let lt = fx.cmp_u(IntCC::UnsignedLessThan, ix, 0x2380_0000);
    r = fx.b.ins().select(lt, tiny, r);
    // NaN and ±inf: 2·sign + 1/x.
    let sf = fx.b.ins().select(neg, one, zero);
    let ts = fx.b.ins().fmul(two, sf);
    let inv = fx.b.ins().fdiv(one, x);
    let special = fx.b.ins().fadd(ts, inv);
    let inf_nan = fx.cmp_u(IntCC::UnsignedGreaterThanOrEqual, ix, 0x7f80_0000);
    fx.b.ins().select(inf_nan, special, r)
}

/// `(0.5·x) · erfcf(−x · (1/√2))`, as `qcc_ir::elementwise::Unary::apply`.
pub(crate) fn gelu(fx: &mut Fx, x: Value) -> Value {
    let h = fx.cf(0.5);
    let hx = fx.b.ins().fmul(h, x);
    let nx = fx.b.ins().fneg(x);
    let c = fx.cf(std::f32::consts::FRAC_1_SQRT_2);
    let a = fx.b.ins().fmul(nx, c);
    let e = erfcf(fx, a);
    fx.b.ins().fmul(hx, e)
}

/// `libm::powf` (FreeBSD's `e_powf.c`): log₂|x| in two pieces, times `y`
/// in two pieces, then 2^that; every special case of the original as a
/// select over the general result, highest priority last.
pub(crate) fn powf(fx: &mut Fx, x: Value, y: Value) -> Value {
    const BP1: f32 = 1.5;
    const DP_H1: f32 = 5.84960938e-01;
    const DP_L1: f32 = 1.56322085e-06;
    const TWO24: f32 = 16777216.0;
    const HUGE: f32 = 1.0e30;
    const TINY: f32 = 1.0e-30;
    const L: [f32; 6] = [
        6.0000002384e-01,
        4.2857143283e-01,
        3.3333334327e-01,
        2.7272811532e-01,
        2.3066075146e-01,
        2.0697501302e-01,
    ];
    const P: [f32; 5] = [
        1.6666667163e-01,
        -2.7777778450e-03,
        6.6137559770e-05,
        -1.6533901999e-06,
        4.1381369442e-08,
    ];
    const LG2: f32 = 6.9314718246e-01;
    const LG2_H: f32 = 6.93145752e-01;
    const LG2_L: f32 = 1.42860654e-06;
    const OVT: f32 = 4.2995665694e-08;
    const CP: f32 = 9.6179670095e-01;
    const CP_H: f32 = 9.6191406250e-01;
    const CP_L: f32 = -1.1736857402e-04;
    const IVLN2: f32 = 1.4426950216e+00;
    const IVLN2_H: f32 = 1.4426879883e+00;
    const IVLN2_L: f32 = 7.0526075433e-06;
    use IntCC::{Equal as Eq, SignedGreaterThan as Gt, SignedLessThan as Lt};
    let (hx, hy) = (fx.bits(x), fx.bits(y));
    let mask = fx.ci(0x7fff_ffff);
    let ix = fx.b.ins().band(hx, mask);
    let iy = fx.b.ins().band(hy, mask);
    let xneg = fx.cmp_u(Lt, hx, 0);
    let yneg = fx.cmp_u(Lt, hy, 0);
    let (zero, one) = (fx.cf(0.0), fx.cf(1.0));
    let (zi, onei, twoi) = (fx.ci(0), fx.ci(1), fx.ci(2));

    // yisint (used only for x < 0): 0 not an integer, 1 odd, 2 even.
    let k = fx.b.ins().ushr_imm_u(iy, 23);
    let k = fx.b.ins().iadd_imm_s(k, -0x7f);
    let c23 = fx.ci(23);
    let sh = fx.b.ins().isub(c23, k);
    let j = fx.b.ins().sshr(iy, sh);
    let back = fx.b.ins().ishl(j, sh);
    let exact = fx.b.ins().icmp(Eq, back, iy);
    let odd = fx.b.ins().band(j, onei);
    let par = fx.b.ins().isub(twoi, odd);
    let yisint = fx.b.ins().select(exact, par, zi);
    let ge1 = fx.cmp_u(IntCC::SignedGreaterThanOrEqual, iy, 0x3f80_0000);
    let yisint = fx.b.ins().select(ge1, yisint, zi);
    let big = fx.cmp_u(IntCC::SignedGreaterThanOrEqual, iy, 0x4b80_0000);
    let yisint = fx.b.ins().select(big, twoi, yisint);
    let y_odd = fx.b.ins().icmp_imm_s(Eq, yisint, 1);
    let y_nonint = fx.b.ins().icmp_imm_s(Eq, yisint, 0);
    // sn: the sign of the result.
    let neg_odd = fx.b.ins().band(xneg, y_odd);
    let m1 = fx.cf(-1.0);
    let sn = fx.b.ins().select(neg_odd, m1, one);
    let (huge, tiny) = (fx.cf(HUGE), fx.cf(TINY));
    let sh_ = fx.b.ins().fmul(sn, huge);
    let over = fx.b.ins().fmul(sh_, huge);
    let st_ = fx.b.ins().fmul(sn, tiny);
    let under = fx.b.ins().fmul(st_, tiny);

    // log₂|x| = t1 + t2, for |y| > 2²⁷ with x near 1.
    let ax0 = fx.b.ins().fabs(x);
    let t = fx.b.ins().fsub(ax0, one);
    let tt = fx.b.ins().fmul(t, t);
    let (c3, c4, c5) = (fx.cf(0.333333333333), fx.cf(0.25), fx.cf(0.5));
    let a = fx.b.ins().fmul(t, c4);
    let a = fx.b.ins().fsub(c3, a);
    let a = fx.b.ins().fmul(t, a);
    let a = fx.b.ins().fsub(c5, a);
    let w = fx.b.ins().fmul(tt, a);
    let c = fx.cf(IVLN2_H);
    let u = fx.b.ins().fmul(c, t);
    let c = fx.cf(IVLN2_L);
    let v = fx.b.ins().fmul(t, c);
    let c = fx.cf(IVLN2);
    let wi = fx.b.ins().fmul(w, c);
    let v = fx.b.ins().fsub(v, wi);
    let t1 = fx.b.ins().fadd(u, v);
    let t1_near = mask_bits(fx, t1, 0xffff_f000);
    let d = fx.b.ins().fsub(t1_near, u);
    let t2_near = fx.b.ins().fsub(v, d);

    // log₂|x| = t1 + t2 otherwise.
    let sub = fx.cmp_u(Lt, ix, 0x0080_0000);
    let c = fx.cf(TWO24);
    let axs = fx.b.ins().fmul(ax0, c);
    let ixs = fx.bits(axs);
    let ixl = fx.b.ins().select(sub, ixs, ix);
    let m24 = fx.ci((-24i32) as u32);
    let n = fx.b.ins().select(sub, m24, zi);
    let e = fx.b.ins().sshr_imm_s(ixl, 23);
    let n = fx.b.ins().iadd(n, e);
    let n = fx.b.ins().iadd_imm_s(n, -0x7f);
    let mm = fx.ci(0x007f_ffff);
    let jm = fx.b.ins().band(ixl, mm);
    let c1 = fx.ci(0x3f80_0000);
    let ixn = fx.b.ins().bor(jm, c1);
    let k0 = fx.cmp_u(IntCC::SignedLessThanOrEqual, jm, 0x1c_c471);
    let k1 = fx.cmp_u(Lt, jm, 0x5d_b3d7);
    let nk0 = fx_not(fx, k0);
    let k1 = fx.b.ins().band(k1, nk0);
    let wrap = fx.b.ins().bor(k0, k1);
    // Not k0 and not k1: k = 0 with n + 1 and ix − 2²³.
    let n1 = fx.b.ins().iadd_imm_s(n, 1);
    let n = fx.b.ins().select(wrap, n, n1);
    let ixd = fx.b.ins().iadd_imm_s(ixn, -0x0080_0000);
    let ixn = fx.b.ins().select(wrap, ixn, ixd);
    let ax = fx.f32_of_bits(ixn);
    let sel = |fx: &mut Fx, v1: f32, v0: f32| {
        let (a, b) = (fx.cf(v1), fx.cf(v0));
        fx.b.ins().select(k1, a, b)
    };
    let bp = sel(fx, BP1, 1.0);
    let dp_h = sel(fx, DP_H1, 0.0);
    let dp_l = sel(fx, DP_L1, 0.0);
    let u = fx.b.ins().fsub(ax, bp);
    let apb = fx.b.ins().fadd(ax, bp);
    let v = fx.b.ins().fdiv(one, apb);
    let s = fx.b.ins().fmul(u, v);
    let s_h = mask_bits(fx, s, 0xffff_f000);
    let is = fx.b.ins().ushr_imm_u(ixn, 1);
    let m = fx.ci(0xffff_f000);
    let is = fx.b.ins().band(is, m);
    let m = fx.ci(0x2000_0000);
    let is = fx.b.ins().bor(is, m);
    let is = fx.b.ins().iadd_imm_s(is, 0x0040_0000);
    let kk = fx.b.ins().select(k1, onei, zi);
    let kk = fx.b.ins().ishl_imm_u(kk, 21);
    let is = fx.b.ins().iadd(is, kk);
    let t_h = fx.f32_of_bits(is);
    let a = fx.b.ins().fsub(t_h, bp);
    let t_l = fx.b.ins().fsub(ax, a);
    let a = fx.b.ins().fmul(s_h, t_h);
    let a = fx.b.ins().fsub(u, a);
    let b = fx.b.ins().fmul(s_h, t_l);
    let a = fx.b.ins().fsub(a, b);
    let s_l = fx.b.ins().fmul(v, a);
    let s2 = fx.b.ins().fmul(s, s);
    let s4 = fx.b.ins().fmul(s2, s2);
    let pl = horner(fx, s2, &L);
    let r = fx.b.ins().fmul(s4, pl);
    let a = fx.b.ins().fadd(s_h, s);
    let a = fx.b.ins().fmul(s_l, a);
    let r = fx.b.ins().fadd(r, a);
    let s2 = fx.b.ins().fmul(s_h, s_h);
    let three = fx.cf(3.0);
    let a = fx.b.ins().fadd(three, s2);
    let a = fx.b.ins().fadd(a, r);
    let t_h = mask_bits(fx, a, 0xffff_f000);
    let a = fx.b.ins().fsub(t_h, three);
    let a = fx.b.ins().fsub(a, s2);
    let t_l = fx.b.ins().fsub(r, a);
    let u = fx.b.ins().fmul(s_h, t_h);
    let a = fx.b.ins().fmul(s_l, t_h);
    let b = fx.b.ins().fmul(t_l, s);
    let v = fx.b.ins().fadd(a, b);
    let p_h = fx.b.ins().fadd(u, v);
    let p_h = mask_bits(fx, p_h, 0xffff_f000);
    let a = fx.b.ins().fsub(p_h, u);
    let p_l = fx.b.ins().fsub(v, a);
    let c = fx.cf(CP_H);
    let z_h = fx.b.ins().fmul(c, p_h);
    let c = fx.cf(CP_L);
    let a = fx.b.ins().fmul(c, p_h);
    let c = fx.cf(CP);
    let b = fx.b.ins().fmul(p_l, c);
    let a = fx.b.ins().fadd(a, b);
    let z_l = fx.b.ins().fadd(a, dp_l);
    let tn = fx.b.ins().fcvt_from_sint(F32, n);
    let a = fx.b.ins().fadd(z_h, z_l);
    let a = fx.b.ins().fadd(a, dp_h);
    let a = fx.b.ins().fadd(a, tn);
    let t1_log = mask_bits(fx, a, 0xffff_f000);
    let a = fx.b.ins().fsub(t1_log, tn);
    let a = fx.b.ins().fsub(a, dp_h);
    let a = fx.b.ins().fsub(a, z_h);
    let t2_log = fx.b.ins().fsub(z_l, a);

    let huge_y = fx.cmp_u(Gt, iy, 0x4d00_0000);
    let t1 = fx.b.ins().select(huge_y, t1_near, t1_log);
    let t2 = fx.b.ins().select(huge_y, t2_near, t2_log);

    // (y1 + y2)·(t1 + t2).
    let y1 = mask_bits(fx, y, 0xffff_f000);
    let a = fx.b.ins().fsub(y, y1);
    let a = fx.b.ins().fmul(a, t1);
    let b = fx.b.ins().fmul(y, t2);
    let p_l = fx.b.ins().fadd(a, b);
    let p_h = fx.b.ins().fmul(y1, t1);
    let z0 = fx.b.ins().fadd(p_l, p_h);
    let p_h0 = p_h;
    let j = fx.bits(z0);

    // 2^(p_h + p_l).
    let i = fx.b.ins().band(j, mask);
    let k = fx.b.ins().ushr_imm_u(i, 23);
    let k = fx.b.ins().iadd_imm_s(k, -0x7f);
    let k1p = fx.b.ins().iadd_imm_s(k, 1);
    let c = fx.ci(0x0080_0000);
    let q = fx.b.ins().sshr(c, k1p);
    let nr = fx.b.ins().iadd(j, q);
    let a = fx.b.ins().band(nr, mask);
    let k = fx.b.ins().ushr_imm_u(a, 23);
    let k = fx.b.ins().iadd_imm_s(k, -0x7f);
    let c = fx.ci(0x007f_ffff);
    let mk = fx.b.ins().sshr(c, k);
    let mk = fx.b.ins().bnot(mk);
    let tb = fx.b.ins().band(nr, mk);
    let tr = fx.f32_of_bits(tb);
    let a = fx.b.ins().band(nr, c);
    let b = fx.ci(0x0080_0000);
    let a = fx.b.ins().bor(a, b);
    let sh = fx.b.ins().isub(c23, k);
    let nn = fx.b.ins().sshr(a, sh);
    let nneg = fx.b.ins().ineg(nn);
    let jneg = fx.cmp_u(Lt, j, 0);
    let nn = fx.b.ins().select(jneg, nneg, nn);
    let ph_r = fx.b.ins().fsub(p_h, tr);
    let half_up = fx.cmp_u(Gt, i, 0x3f00_0000);
    let n = fx.b.ins().select(half_up, nn, zi);
    let p_h = fx.b.ins().select(half_up, ph_r, p_h);
    let t = fx.b.ins().fadd(p_l, p_h);
    let t = mask_bits(fx, t, 0xffff_8000);
    let c = fx.cf(LG2_H);
    let u = fx.b.ins().fmul(t, c);
    let a = fx.b.ins().fsub(t, p_h);
    let a = fx.b.ins().fsub(p_l, a);
    let c = fx.cf(LG2);
    let a = fx.b.ins().fmul(a, c);
    let c = fx.cf(LG2_L);
    let b = fx.b.ins().fmul(t, c);
    let v = fx.b.ins().fadd(a, b);
    let z = fx.b.ins().fadd(u, v);
    let a = fx.b.ins().fsub(z, u);
    let w = fx.b.ins().fsub(v, a);
    let t = fx.b.ins().fmul(z, z);
    let pp = horner(fx, t, &P);
    let a = fx.b.ins().fmul(t, pp);
    let t1 = fx.b.ins().fsub(z, a);
    let a = fx.b.ins().fmul(z, t1);
    let two = fx.cf(2.0);
    let b = fx.b.ins().fsub(t1, two);
    let a = fx.b.ins().fdiv(a, b);
    let b = fx.b.ins().fmul(z, w);
    let b = fx.b.ins().fadd(w, b);
    let r = fx.b.ins().fsub(a, b);
    let a = fx.b.ins().fsub(r, z);
    let z = fx.b.ins().fsub(one, a);
    let jz = fx.bits(z);
    let n23 = fx.b.ins().ishl_imm_u(n, 23);
    let jz = fx.b.ins().iadd(jz, n23);
    let e = fx.b.ins().sshr_imm_s(jz, 23);
    let subn = fx.cmp_u(IntCC::SignedLessThanOrEqual, e, 0);
    let zs = scalbnf(fx, z, n);
    let zb = fx.f32_of_bits(jz);
    let z = fx.b.ins().select(subn, zs, zb);
    let mut res = fx.b.ins().fmul(sn, z);

    // Over- and underflow (the tests are exclusive: z = 128 that does not
    // overflow takes the general result).
    let zp = fx.b.ins().fsub(z0, p_h0);
    let ju = fx.cmp_u(Eq, j, 0xc316_0000);
    let le = fx.b.ins().fcmp(FloatCC::LessThanOrEqual, p_l, zp);
    let uf = fx.b.ins().band(ju, le);
    res = fx.b.ins().select(uf, under, res);
    let ja = fx.b.ins().band(j, mask);
    let uf = fx.cmp_u(Gt, ja, 0x4316_0000);
    res = fx.b.ins().select(uf, under, res);
    let j128 = fx.cmp_u(Eq, j, 0x4300_0000);
    let c = fx.cf(OVT);
    let a = fx.b.ins().fadd(p_l, c);
    let of = fx.b.ins().fcmp(FloatCC::GreaterThan, a, zp);
    let of = fx.b.ins().band(j128, of);
    res = fx.b.ins().select(of, over, res);
    let of = fx.cmp_u(Gt, j, 0x4300_0000);
    res = fx.b.ins().select(of, over, res);

    // |y| > 2²⁷ with x not near 1.
    let lo = fx.cmp_u(Lt, ix, 0x3f7f_fff8);
    let lo_r = fx.b.ins().select(yneg, over, under);
    let hi = fx.cmp_u(Gt, ix, 0x3f80_0007);
    let ypos = fx.cmp_u(Gt, hy, 0);
    let hi_r = fx.b.ins().select(ypos, over, under);
    let r = fx.b.ins().select(hi, hi_r, res);
    let r = fx.b.ins().select(lo, lo_r, r);
    res = fx.b.ins().select(huge_y, r, res);

    // (x < 0)^(not an integer): NaN.
    let xx = fx.b.ins().fsub(x, x);
    let nan = fx.b.ins().fdiv(xx, xx);
    let c = fx.b.ins().band(xneg, y_nonint);
    res = fx.b.ins().select(c, nan, res);

    // x = ±0, ±inf, ±1.
    let inv = fx.b.ins().fdiv(one, ax0);
    let zx = fx.b.ins().select(yneg, inv, ax0);
    let zz = fx.b.ins().fsub(zx, zx);
    let znan = fx.b.ins().fdiv(zz, zz);
    let zneg = fx.b.ins().fneg(zx);
    let m1_nonint = {
        let d = fx.b.ins().iadd_imm_s(ix, -0x3f80_0000);
        let d = fx.b.ins().bor(d, yisint);
        fx.b.ins().icmp_imm_s(Eq, d, 0)
    };
    let zo = fx.b.ins().select(y_odd, zneg, zx);
    let zo = fx.b.ins().select(m1_nonint, znan, zo);
    let zx = fx.b.ins().select(xneg, zo, zx);
    let sx = fx.cmp_u(Eq, ix, 0x7f80_0000);
    let s0 = fx.cmp_u(Eq, ix, 0);
    let s1 = fx.cmp_u(Eq, ix, 0x3f80_0000);
    let sx = fx.b.ins().bor(sx, s0);
    let sx = fx.b.ins().bor(sx, s1);
    res = fx.b.ins().select(sx, zx, res);

    // y = 0.5 with x ≥ +0: sqrt.
    let sq = fx.b.ins().sqrt(x);
    let c = fx.cmp_u(Eq, hy, 0x3f00_0000);
    let xpos = fx.cmp_u(IntCC::SignedGreaterThanOrEqual, hx, 0);
    let c = fx.b.ins().band(c, xpos);
    res = fx.b.ins().select(c, sq, res);
    // y = 2: x·x.
    let x2 = fx.b.ins().fmul(x, x);
    let c = fx.cmp_u(Eq, hy, 0x4000_0000);
    res = fx.b.ins().select(c, x2, res);
    // y = ±1: x or 1/x.
    let rx = fx.b.ins().fdiv(one, x);
    let r = fx.b.ins().select(yneg, rx, x);
    let c = fx.cmp_u(Eq, iy, 0x3f80_0000);
    res = fx.b.ins().select(c, r, res);
    // y = ±inf.
    let ny = fx.b.ins().fneg(y);
    let gt = fx.b.ins().select(yneg, zero, y);
    let lt = fx.b.ins().select(yneg, ny, zero);
    let c = fx.cmp_u(Gt, ix, 0x3f80_0000);
    let r = fx.b.ins().select(c, gt, lt);
    let c = fx.cmp_u(Eq, ix, 0x3f80_0000);
    let r = fx.b.ins().select(c, one, r);
    let c = fx.cmp_u(Eq, iy, 0x7f80_0000);
    res = fx.b.ins().select(c, r, res);
    // A NaN operand: x + y.
    let xy = fx.b.ins().fadd(x, y);
    let c = fx.cmp_u(Gt, ix, 0x7f80_0000);
    let d = fx.cmp_u(Gt, iy, 0x7f80_0000);
    let c = fx.b.ins().bor(c, d);
    res = fx.b.ins().select(c, xy, res);
    // x = 1 or y = ±0: 1.
    let c = fx.cmp_u(Eq, hx, 0x3f80_0000);
    let d = fx.cmp_u(Eq, iy, 0);
    let c = fx.b.ins().bor(c, d);
    fx.b.ins().select(c, one, res)
}

/// The complement of an `icmp` result (0 or 1).
fn fx_not(fx: &mut Fx, c: Value) -> Value {
    fx.b.ins().bxor_imm_u(c, 1)
}
