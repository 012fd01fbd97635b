//! The f32 `matmul` and `softmax` helpers, in `semantics.md`'s order
//! exactly. The matmul adds, per output, the products in increasing `k` to
//! an accumulator starting at +0.0 (a multiply then an add, never fused),
//! register-tiled 4 rows × 16 columns so that the compiler vectorizes the
//! columns, and is built a second time for AVX2. The softmax is the
//! interpreter's loop over `[outer, len, inner]`.

use qcc_ir::elementwise::expf;

/// `out[b, i, j] = Σ_k a[b, i, k] · w[b', k, j]` for `batch` matrices
/// `a [m, k]`, `w [k, n]` (`b' = b` when `w_batched`, else 0).
///
/// # Safety
/// `a` readable for `batch · m · k` f32, `w` for `k · n` (times `batch`
/// when `w_batched`), `out` writable for `batch · m · n`; `out` overlaps
/// neither.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe extern "C" fn qcc_matmul_f32(
    a: *const f32,
    w: *const f32,
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    w_batched: usize,
    out: *mut f32,
) {
    /// The AVX2 build of the same body.
    ///
    /// # Safety
    /// As [`qcc_matmul_f32`]'s; the host must have AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn wide(
        a: *const f32,
        w: *const f32,
        batch: usize,
        m: usize,
        k: usize,
        n: usize,
        wb: usize,
        out: *mut f32,
    ) {
        // SAFETY: the contract.
        unsafe { body(a, w, batch, m, k, n, wb, out) }
    }
    #[cfg(target_arch = "x86_64")]
    if super::host_features().avx512vnni {
        // SAFETY: the contract; the host has AVX-512 (F, BW, VL, DQ).
        unsafe { zmm::matmul(a, w, batch, m, k, n, w_batched, out) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if super::host_features().avx2 {
        // SAFETY: the contract; the host has AVX2.
        unsafe { wide(a, w, batch, m, k, n, w_batched, out) };
        return;
    }
    // SAFETY: the contract.
    unsafe { body(a, w, batch, m, k, n, w_batched, out) }
}

const RT: usize = 4;
const CT: usize = 16;

#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn body(
    a: *const f32,
    w: *const f32,
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    w_batched: usize,
    out: *mut f32,
) {
    // SAFETY: the extents of the contract.
    let (a, w, out) = unsafe {
        (
            std::slice::from_raw_parts(a, batch * m * k),
            std::slice::from_raw_parts(w, if w_batched != 0 { batch } else { 1 } * k * n),
            std::slice::from_raw_parts_mut(out, batch * m * n),
        )
    };
    for b in 0..batch {
        let am = &a[b * m * k..(b + 1) * m * k];
        let wm = if w_batched != 0 {
            &w[b * k * n..(b + 1) * k * n]
        } else {
            w
        };
        let om = &mut out[b * m * n..(b + 1) * m * n];
        let mut i = 0;
        while i < m {
            let rows = (m - i).min(RT);
            let mut j = 0;
            while j + CT <= n && rows == RT {
                let mut acc = [[0.0f32; CT]; RT];
                for kk in 0..k {
                    let wr: &[f32; CT] = wm[kk * n + j..].first_chunk().expect("16 columns");
                    for (r, row) in acc.iter_mut().enumerate() {
                        let av = am[(i + r) * k + kk];
                        for (c, v) in row.iter_mut().enumerate() {
                            *v += av * wr[c];
                        }
                    }
                }
                for (r, row) in acc.iter().enumerate() {
                    om[(i + r) * n + j..(i + r) * n + j + CT].copy_from_slice(row);
                }
                j += CT;
            }
            // The columns left (and every column of a short row block).
            for r in i..i + rows {
                for jj in j..n {
                    let mut acc = 0.0f32;
                    for kk in 0..k {
                        acc += am[r * k + kk] * wm[kk * n + jj];
                    }
                    om[r * n + jj] = acc;
                }
            }
            i += rows;
        }
    }
}

/// The AVX-512 build of the matmul: 6-row × 64-column register tiles
/// (24 zmm accumulators, the weight row loaded once per `k` for all six
/// rows, masked loads and stores at the right edge). Each output is still `((0 + a₀w₀) + a₁w₁) + …`,
/// a multiply then an add per `k`, in increasing `k`.
#[cfg(target_arch = "x86_64")]
mod zmm {
    use std::arch::x86_64::*;

    /// Rows and columns of one register tile.
    const ROWS: usize = 6;
    /// 16-lane vectors per tile row.
    const H: usize = 4;
    const COLS: usize = 16 * H;

    /// The lanes of a 16-lane vector that hold the first `n` of them.
    fn lanes(n: usize) -> __mmask16 {
        if n >= 16 {
            0xffff
        } else {
            ((1u32 << n) - 1) as __mmask16
        }
    }

    /// # Safety
    /// As [`super::qcc_matmul_f32`]'s; the host must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn matmul(
        a: *const f32,
        w: *const f32,
        batch: usize,
        m: usize,
        k: usize,
        n: usize,
        w_batched: usize,
        out: *mut f32,
    ) {
        for b in 0..batch {
            // SAFETY: inside the extents of the contract.
            let (am, wm, om) = unsafe {
                (
                    a.add(b * m * k),
                    w.add(if w_batched != 0 { b * k * n } else { 0 }),
                    out.add(b * m * n),
                )
            };
            let mut j = 0;
            while j < n {
                let cols = (n - j).min(COLS);
                let masks: [__mmask16; H] =
                    std::array::from_fn(|h| lanes(cols.saturating_sub(16 * h)));
                let mut i = 0;
                while i < m {
                    let rows = (m - i).min(ROWS);
                    // SAFETY: rows i..i + rows and columns j..j + cols are
                    // inside the matrices; the masks keep the rest out.
                    unsafe {
                        let (ap, wp, op) = (am.add(i * k), wm.add(j), om.add(i * n + j));
                        match rows {
                            6 => tile::<6>(ap, wp, op, k, n, masks),
                            5 => tile::<5>(ap, wp, op, k, n, masks),
                            4 => tile::<4>(ap, wp, op, k, n, masks),
                            3 => tile::<3>(ap, wp, op, k, n, masks),
                            2 => tile::<2>(ap, wp, op, k, n, masks),
                            _ => tile::<1>(ap, wp, op, k, n, masks),
                        }
                    }
                    i += rows;
                }
                j += cols;
            }
        }
    }

    /// One `R × 64` tile: `a` its first row (rows `k` apart), `w` the weight
    /// rows' first column (rows `n` apart), `out` its first output (rows `n`
    /// apart); `masks` the valid columns of its four 16-lane quarters.
    ///
    /// # Safety
    /// `a` readable for `R` rows of `k`, `w` for `k` rows of the masked
    /// columns, `out` writable for `R` rows of them.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn tile<const R: usize>(
        a: *const f32,
        w: *const f32,
        out: *mut f32,
        k: usize,
        n: usize,
        masks: [__mmask16; H],
    ) {
        let mut acc = [[_mm512_setzero_ps(); H]; R];
        for kk in 0..k {
            // SAFETY: the contract (masked lanes are not read).
            let wv: [__m512; H] = std::array::from_fn(|h| unsafe {
                _mm512_maskz_loadu_ps(masks[h], w.add(kk * n + 16 * h))
            });
            for (r, row) in acc.iter_mut().enumerate() {
                // SAFETY: row r < R of a, column kk < k.
                let av = _mm512_set1_ps(unsafe { *a.add(r * k + kk) });
                for (v, &wh) in row.iter_mut().zip(&wv) {
                    *v = _mm512_add_ps(*v, _mm512_mul_ps(av, wh));
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            for (h, v) in row.iter().enumerate() {
                // SAFETY: row r < R of out, the masked columns.
                unsafe { _mm512_mask_storeu_ps(out.add(r * n + 16 * h), masks[h], *v) };
            }
        }
    }
}

/// `softmax` over `[outer, len, inner]` along the middle axis, the
/// interpreter's order exactly: `m` folded from the first element by IEEE
/// `maximum` in index order, `e = exp(x − m)` (`qcc_ir::elementwise::expf`,
/// the `libm` crate's), the sum from +0.0 in index order, one division per element.
///
/// # Safety
/// `x` readable and `out` writable for `outer · len · inner` f32, not
/// overlapping; `len ≥ 1`.
///
/// `width` (a `vmath::Width` code) picks the exp: 0 the crate's `expf`
/// called per element (through [`ExpCache`] on long rows), else the
/// vector kernel of `vmath` at that width, which gives the same bits
/// (the dot paths that run vector kernels pass it; see `vmath`).
pub(crate) unsafe extern "C" fn qcc_softmax_f32(
    x: *const f32,
    outer: usize,
    len: usize,
    inner: usize,
    width: usize,
    out: *mut f32,
) {
    // SAFETY: the extents of the contract.
    let (x, y) = unsafe {
        (
            std::slice::from_raw_parts(x, outer * len * inner),
            std::slice::from_raw_parts_mut(out, outer * len * inner),
        )
    };
    if width != 0 && len > 0 {
        let w = super::elementwise::vmath::Width::from_code(width);
        if inner == 1 {
            super::elementwise::vmath::softmax_rows(w, x, y, len);
        } else {
            super::elementwise::vmath::softmax_strided(w, x, y, outer, len, inner);
        }
        return;
    }
    if inner == 1 && len > 0 {
        /// The AVX-512 build of [`softmax_rows`].
        ///
        /// # Safety
        /// The host must have AVX-512F.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f")]
        unsafe fn zmm(x: &[f32], y: &mut [f32], len: usize) {
            softmax_rows(x, y, len)
        }
        /// The AVX2 build of [`softmax_rows`].
        ///
        /// # Safety
        /// The host must have AVX2.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        unsafe fn ymm(x: &[f32], y: &mut [f32], len: usize) {
            softmax_rows(x, y, len)
        }
        #[cfg(target_arch = "x86_64")]
        {
            let f = super::host_features();
            if f.avx512vnni {
                // SAFETY: the host has AVX-512F.
                unsafe { zmm(x, y, len) };
                return;
            }
            if f.avx2 {
                // SAFETY: the host has AVX2.
                unsafe { ymm(x, y, len) };
                return;
            }
        }
        softmax_rows(x, y, len);
        return;
    }
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| (o * len + k) * inner + i;
            let m = (1..len).fold(x[at(0)], |m, k| qcc_ir::elementwise::maximum(m, x[at(k)]));
            let mut sum = 0.0f32;
            for k in 0..len {
                let e = expf(x[at(k)] - m);
                y[at(k)] = e;
                sum += e;
            }
            for k in 0..len {
                y[at(k)] /= sum;
            }
        }
    }
}

/// `reduce_sum` (`mean = 0`) or `reduce_mean` (`mean = 1`) of each of
/// `rows` contiguous runs of `len` f32 (the trailing axes reduced): the sum
/// from +0.0 in index order (the interpreter's), then for the mean one
/// division by `len` as f32. Eight rows' sums run interleaved, each in its
/// own order.
///
/// # Safety
/// `x` readable for `rows · len` f32, `out` writable for `rows`, not
/// overlapping; `len ≥ 1`.
pub(crate) unsafe extern "C" fn qcc_reduce_rows_f32(
    x: *const f32,
    rows: usize,
    len: usize,
    mean: usize,
    out: *mut f32,
) {
    // SAFETY: the extents of the contract.
    let (x, y) = unsafe {
        (
            std::slice::from_raw_parts(x, rows * len),
            std::slice::from_raw_parts_mut(out, rows),
        )
    };
    if len == 0 {
        // Not called so (the lowering keeps empty runs in its own loop).
        return;
    }
    let mut xs = x.chunks_exact(GROUP * len);
    let mut ys = y.chunks_exact_mut(GROUP);
    for (xg, yg) in (&mut xs).zip(&mut ys) {
        let mut acc = [0.0f32; GROUP];
        for k in 0..len {
            for (g, a) in acc.iter_mut().enumerate() {
                *a += xg[g * len + k];
            }
        }
        yg.copy_from_slice(&acc);
    }
    for (xr, o) in xs.remainder().chunks_exact(len).zip(ys.into_remainder()) {
        *o = xr.iter().fold(0.0f32, |a, &v| a + v);
    }
    if mean != 0 {
        let n = len as f32;
        for o in y {
            *o /= n;
        }
    }
}

/// Softmaxes over rows (the last axis: `inner` is 1) of `x`, `len` each,
/// into `y`: the same values as the loop of [`qcc_softmax_f32`], faster.
/// The maximum of a row without NaN is its largest element in the total
/// order of floats with −0 < +0, which is what the fold of IEEE `maximum`
/// gives in any order, so it is taken over order keys (a reduction the
/// compiler vectorizes); a row with a NaN takes the fold (its first NaN).
/// Rows go [`GROUP`] at a time so that their sums, each in index order,
/// overlap; `exp` goes through [`ExpCache`] on large inputs (the same
/// function of the same argument); the divisions are elementwise.
#[inline(always)]
fn softmax_rows(x: &[f32], y: &mut [f32], len: usize) {
    if x.len() >= CACHE_MIN {
        let mut cache = ExpCache::new();
        rows_with(x, y, len, &mut |d| cache.exp(d));
    } else {
        rows_with(x, y, len, &mut expf);
    }
}

/// Rows of one softmax whose sums run interleaved.
pub(super) const GROUP: usize = 8;
/// The fewest elements for which [`ExpCache`] pays for its set-up.
const CACHE_MIN: usize = 1 << 14;

#[inline(always)]
pub(super) fn rows_with(x: &[f32], y: &mut [f32], len: usize, exp: &mut impl FnMut(f32) -> f32) {
    let mut xs = x.chunks_exact(GROUP * len);
    let mut ys = y.chunks_exact_mut(GROUP * len);
    for (xg, yg) in (&mut xs).zip(&mut ys) {
        row_group::<GROUP>(xg, yg, len, exp);
    }
    for (xr, yr) in xs
        .remainder()
        .chunks_exact(len)
        .zip(ys.into_remainder().chunks_exact_mut(len))
    {
        row_group::<1>(xr, yr, len, exp);
    }
}

/// `G` rows of `len`: per row the maximum and `e = exp(x − m)`, then the
/// sums, each row's in index order, then the divisions.
#[inline(always)]
fn row_group<const G: usize>(
    x: &[f32],
    y: &mut [f32],
    len: usize,
    exp: &mut impl FnMut(f32) -> f32,
) {
    // Three passes, so that the exps (which may call out) carry no sum.
    for (xr, yr) in x.chunks_exact(len).zip(y.chunks_exact_mut(len)) {
        let m = row_max(xr);
        for (v, e) in xr.iter().zip(yr.iter_mut()) {
            *e = exp(*v - m);
        }
    }
    let mut sum = [0.0f32; G];
    for k in 0..len {
        for g in 0..G {
            sum[g] += y[g * len + k];
        }
    }
    for (row, s) in y.chunks_exact_mut(len).zip(sum) {
        for v in row {
            *v /= s;
        }
    }
}

/// The fold of IEEE `maximum` over a non-empty row, from its first element.
#[inline(always)]
pub(super) fn row_max(x: &[f32]) -> f32 {
    // The order key: the bits as i32, the magnitude bits flipped when negative.
    let key = |b: u32| {
        let i = b as i32;
        i ^ ((i >> 31) & 0x7fff_ffff)
    };
    let mut best = i32::MIN;
    let mut nan = false;
    for &v in x {
        let b = v.to_bits();
        nan |= (b & 0x7fff_ffff) > 0x7f80_0000;
        best = best.max(key(b));
    }
    if nan {
        return (1..x.len()).fold(x[0], |m, k| qcc_ir::elementwise::maximum(m, x[k]));
    }
    // The key is its own inverse.
    f32::from_bits(key(best as u32) as u32)
}

/// A direct-mapped memo of [`expf`] by the argument's bits: softmax's
/// arguments `x − max` of quantized inputs repeat, and `exp` is a pure
/// function, so a hit returns exactly what the call would.
struct ExpCache {
    keys: [u32; ExpCache::SIZE],
    vals: [f32; ExpCache::SIZE],
}

impl ExpCache {
    const BITS: u32 = 11;
    const SIZE: usize = 1 << Self::BITS;

    fn new() -> Self {
        // Every slot starts as +0.0 and its exp.
        Self {
            keys: [0; Self::SIZE],
            vals: [expf(0.0); Self::SIZE],
        }
    }

    #[inline(always)]
    fn exp(&mut self, d: f32) -> f32 {
        let b = d.to_bits();
        let h = (b.wrapping_mul(0x9e37_79b1) >> (32 - Self::BITS)) as usize;
        if self.keys[h] == b {
            self.vals[h]
        } else {
            let e = expf(d);
            self.keys[h] = b;
            self.vals[h] = e;
            e
        }
    }
}

#[cfg(test)]
mod tests {
    use qcc_ir::elementwise::expf;

    #[test]
    fn matches_the_reference_order_bit_for_bit() {
        // Row tails of every size below the 8-row tile, columns below, at
        // and past one 16-lane half and the 32-column tile.
        for (batch, m, k, n) in [
            (2, 6, 37, 35),
            (1, 15, 9, 16),
            (3, 9, 1, 17),
            (1, 17, 64, 64),
            (2, 1, 5, 1),
        ] {
            check_matmul(batch, m, k, n);
        }
    }

    fn check_matmul(batch: usize, m: usize, k: usize, n: usize) {
        let a: Vec<f32> = (0..batch * m * k)
            .map(|i| ((i * 7919) % 1000) as f32 / 37.0 - 13.0)
            .collect();
        let w: Vec<f32> = (0..batch * k * n)
            .map(|i| ((i * 104_729) % 997) as f32 / 91.0 - 5.0)
            .collect();
        for wb in [0usize, 1] {
            let mut out = vec![0.0f32; batch * m * n];
            // SAFETY: the extents as allocated.
            unsafe {
                super::qcc_matmul_f32(a.as_ptr(), w.as_ptr(), batch, m, k, n, wb, out.as_mut_ptr())
            };
            for b in 0..batch {
                for i in 0..m {
                    for j in 0..n {
                        let mut acc = 0.0f32;
                        for kk in 0..k {
                            acc += a[(b * m + i) * k + kk] * w[(b * wb * k + kk) * n + j];
                        }
                        assert_eq!(
                            out[(b * m + i) * n + j].to_bits(),
                            acc.to_bits(),
                            "{b} {i} {j}"
                        );
                    }
                }
            }
        }
    }

    /// The interpreter's softmax loop, as written in `qcc_ir::interp`.
    fn reference(x: &[f32], outer: usize, len: usize, inner: usize) -> Vec<f32> {
        let mut y = vec![0.0f32; x.len()];
        for o in 0..outer {
            for i in 0..inner {
                let at = |k: usize| (o * len + k) * inner + i;
                let m = (1..len).fold(x[at(0)], |m, k| qcc_ir::elementwise::maximum(m, x[at(k)]));
                let mut sum = 0.0f32;
                for k in 0..len {
                    let e = expf(x[at(k)] - m);
                    y[at(k)] = e;
                    sum += e;
                }
                for k in 0..len {
                    y[at(k)] /= sum;
                }
            }
        }
        y
    }

    #[test]
    fn softmax_matches_the_interpreter_bit_for_bit() {
        // Quantized-looking rows (few distinct values: the exp cache hits),
        // arbitrary ones (it misses), rows of ±0 only, rows with NaN (the
        // fold's first NaN), −inf and +inf; row counts that leave a tail
        // after the groups; sizes below and above the cache's threshold.
        let specials = [
            f32::NAN,
            -f32::NAN,
            f32::from_bits(0x7fc1_2345),
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        for (outer, len, inner) in [
            (1536, 128, 1),
            (13, 7, 1),
            (3, 1, 1),
            (9, 300, 1),
            (4, 5, 3),
            (200, 129, 1),
        ] {
            let total = outer * len * inner;
            let x: Vec<f32> = (0..total)
                .map(|i: usize| {
                    let r = (i.wrapping_mul(2_654_435_761) >> 7) % 1000;
                    match (i / len) % 6 {
                        0 => (r % 23) as f32 * 0.173 - 2.0,
                        1 => r as f32 / 37.0 - 13.0,
                        4 => -(r as f32) / 50.0 - 1.0,
                        2 => {
                            if r.is_multiple_of(2) {
                                0.0
                            } else {
                                -0.0
                            }
                        }
                        3 if r.is_multiple_of(97) => specials[r % specials.len()],
                        _ => (r % 200) as f32 * 0.05,
                    }
                })
                .collect();
            let want = reference(&x, outer, len, inner);
            let mut got = vec![0.0f32; total];
            // SAFETY: the extents as allocated; len ≥ 1.
            unsafe { super::qcc_softmax_f32(x.as_ptr(), outer, len, inner, 0, got.as_mut_ptr()) };
            // And on every vector kernel this host has.
            for width in 1..3 {
                let mut vec = vec![0.0f32; total];
                // SAFETY: as above.
                unsafe {
                    super::qcc_softmax_f32(x.as_ptr(), outer, len, inner, width, vec.as_mut_ptr())
                };
                for (i, (g, w)) in vec.iter().zip(&want).enumerate() {
                    assert_eq!(
                        g.to_bits(),
                        w.to_bits(),
                        "[{outer}, {len}, {inner}] width {width} element {i}"
                    );
                }
            }
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(
                    g.to_bits(),
                    w.to_bits(),
                    "[{outer}, {len}, {inner}] element {i}"
                );
            }
            if inner == 1 {
                // The portable build of the row path (no cache), too.
                let mut rows = vec![0.0f32; total];
                super::rows_with(&x, &mut rows, len, &mut expf);
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&rows),
                    bits(&want),
                    "[{outer}, {len}] without the cache"
                );
            }
        }
    }
}
