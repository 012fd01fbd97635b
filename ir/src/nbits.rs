//! The arithmetic of `dense_nbits` (weight-only blocked quantization,
//! onnxruntime's `MatMulNBits` at `accuracy_level` 0), in one place: the
//! interpreter computes with it and the code generator's kernels reproduce
//! it bit for bit (`docs/semantics.md`, "dense_nbits").
//!
//! Each output is a sum over K of `x[k] · wd[k]`, where `wd` is the
//! dequantized weight `f32(q − z) · s`. The sum runs in [`LANES`] lanes:
//! lane `l` takes the `k` with `k mod LANES = l`, in increasing `k`, each
//! step one fused multiply-add (one rounding) into an accumulator that
//! starts at +0.0; then [`lane_tree`] adds the lanes pairwise, halving
//! (lane `i` plus lane `i + 8`, then `i + 4`, `i + 2`, `i + 1`): what a
//! 16-lane vector register computes, and what two 8-lane ones or four
//! 4-lane ones compute when they hold the lanes in order.

/// The number of partial sums over K.
pub const LANES: usize = 16;

/// A dequantized weight: the integer difference (exact in f32 for the
/// 4- and 8-bit storage types) times the scale, one f32 multiplication.
#[inline]
pub fn dequant(q: i64, z: i64, s: f32) -> f32 {
    (q - z) as f32 * s
}

/// The fixed reduction of the lane sums: pairwise, halving.
#[inline]
pub fn lane_tree(mut p: [f32; LANES]) -> f32 {
    let mut w = LANES / 2;
    while w > 0 {
        for i in 0..w {
            p[i] += p[i + w];
        }
        w /= 2;
    }
    p[0]
}

/// One output: `Σ_k x[k] · wd[k]` in the lane order, `x` and `wd` of one
/// length.
pub fn dot(x: &[f32], wd: &[f32]) -> f32 {
    let mut p = [0.0f32; LANES];
    for (k, (&a, &b)) in x.iter().zip(wd).enumerate() {
        let l = k % LANES;
        p[l] = a.mul_add(b, p[l]);
    }
    lane_tree(p)
}

/// The largest magnitude of an activation code (`dense_nbits_q8`):
/// symmetric int8 without −128, as onnxruntime's MLAS `CompInt8`.
pub const Q8_MAX: f32 = 127.0;

/// Quantizes one block of activations to int8 (`dense_nbits_q8`): `amax`
/// is the largest `|x|` (NaN skipped, 0 for none), the scale
/// `amax / 127` and the multiplier `127 / amax` (each one f32 division;
/// the multiplier 0 when `amax` is 0), and each code
/// `round_half_even(x · multiplier)` (one f32 multiplication), clamped to
/// ±127, NaN to 0. Writes the codes to `q` (one per element of `x`) and
/// returns the scale.
pub fn quant_block(x: &[f32], q: &mut [i8]) -> f32 {
    let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let scale = amax / Q8_MAX;
    let inv = if amax != 0.0 { Q8_MAX / amax } else { 0.0 };
    for (o, &v) in q.iter_mut().zip(x) {
        *o = quant_code(v * inv);
    }
    scale
}

/// Quantizes a row of activations in blocks of `block` ([`quant_block`]):
/// the codes to `q` (as long as `x`), block `j`'s scale to `scales[j]`.
pub fn quant_row(x: &[f32], block: usize, q: &mut [i8], scales: &mut [f32]) {
    for ((xb, qb), s) in x.chunks(block).zip(q.chunks_mut(block)).zip(scales) {
        *s = quant_block(xb, qb);
    }
}

/// One activation code from its scaled value.
#[inline]
pub fn quant_code(v: f32) -> i8 {
    if v.is_nan() {
        0
    } else {
        v.round_ties_even().clamp(-Q8_MAX, Q8_MAX) as i8
    }
}

/// One output of `dense_nbits_q8` from its blocks, in increasing block
/// order: `d[j]` is block `j`'s exact integer dot product
/// `Σ qa · (q − z)`, `sa[j]` its activation scale and `sw[j]` its weight
/// scale. Block `j` goes to lane `j mod 16`, one fused multiply-add
/// `p = fma(f32(d), sa · sw, p)` (the product of the scales rounded
/// once, `f32(d)` rounded to nearest), then [`lane_tree`].
pub fn q8_sum(d: &[i32], sa: &[f32], sw: &[f32]) -> f32 {
    let mut p = [0.0f32; LANES];
    for (j, ((&d, &a), &w)) in d.iter().zip(sa).zip(sw).enumerate() {
        let l = j % LANES;
        p[l] = (d as f32).mul_add(a * w, p[l]);
    }
    lane_tree(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_is_pairwise_halving() {
        // 2^24 + 1 is not an f32: which pairs meet first decides the result.
        let mut p = [0.0f32; LANES];
        p[0] = 16_777_216.0;
        p[8] = 1.0;
        p[4] = 1.0;
        // (p0 + p8) rounds back to 2^24, then + (p4 + p12) = + 1 rounds again.
        assert_eq!(lane_tree(p), 16_777_216.0);
        p[12] = 1.0;
        // (p4 + p12) = 2 survives.
        assert_eq!(lane_tree(p), 16_777_218.0);
    }

    #[test]
    fn lanes_take_every_sixteenth_k_with_one_rounding() {
        // a · a = 1 + 2^-11 + 2^-24 rounds to 1 + 2^-11 alone; fused with the
        // earlier term of lane 0 (k = 0) it leaves 2^-24.
        let a = 1.0 + f32::EPSILON * 2048.0;
        let mut x = vec![0.0f32; 17];
        let mut wd = vec![0.0f32; 17];
        x[0] = -(1.0 + f32::EPSILON * 4096.0);
        wd[0] = 1.0;
        x[16] = a;
        wd[16] = a;
        assert_eq!(dot(&x, &wd), f32::EPSILON / 2.0);
        assert_eq!(dequant(3, 8, 0.5), -2.5);
    }

    #[test]
    fn activations_round_half_even_on_the_block_maximum() {
        // amax 2.54: multiplier 127 / 2.54 = 50; 0.01 · 50 = 0.5 rounds to 0,
        // 0.03 · 50 = 1.5 to 2, −2.54 to −127.
        let x = [0.01f32, 0.03, -2.54, f32::NAN];
        let mut q = [9i8; 4];
        let s = quant_block(&x, &mut q);
        assert_eq!(s, 2.54f32 / 127.0);
        assert_eq!(
            q,
            [
                (0.01f32 * (127.0 / 2.54f32)).round_ties_even() as i8,
                2,
                -127,
                0
            ]
        );
        let mut z = [9i8; 2];
        assert_eq!(quant_block(&[0.0, -0.0], &mut z), 0.0);
        assert_eq!(z, [0, 0]);
        // Blocks 0 and 16 share lane 0.
        let d: Vec<i32> = (0..17).map(|j| if j == 16 { 3 } else { 0 }).collect();
        assert_eq!(q8_sum(&d, &[1.0; 17], &[0.5; 17]), 1.5);
    }
}
