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
use cranelift_codegen::ir::condcodes::IntCC;
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
    let lt =
        fx.b.ins()
            .fcmp(cranelift_codegen::ir::condcodes::FloatCC::LessThan, xr, q4);
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
