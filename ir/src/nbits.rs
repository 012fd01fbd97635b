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
}
