//! `dense_nbits`: f32 activations times weights kept 4- or 8-bit in memory,
//! dequantized in registers, summed in `qcc_ir::nbits`'s order exactly.
//!
//! The weights arrive as `n` rows of `k` unsigned codes (signed storage is
//! offset by 8 or 128 at compile time, the zero points with it, so
//! `q − z` is unchanged): 4-bit codes two a byte, the lower `k` in the low
//! nibble, each row starting on a byte; 8-bit codes one a byte. Scales
//! (f32) and zero points (u8, offset with the codes) are `[n][k / block]`.
//!
//! Every kernel keeps the 16 lane sums of `qcc_ir::nbits` (lane `l` takes
//! the `k ≡ l mod 16`, one fused multiply-add a step) and ends with its
//! pairwise-halving tree:
//! - AVX-512 (one zmm a sum): a 4-bit block's 16 dequantized values are a
//!   table in one register, built once per block and row
//!   (`f32(q − z)` for q = 0..15, from a table per zero point, times `s`),
//!   and each code picks its value with `vpermps`,
//!   whose index reads only the low 4 bits, so the nibbles need no mask;
//!   8-bit codes are widened, offset, converted and scaled.
//! - AVX2 with FMA (two ymm a sum, lanes 0–7 and 8–15): the codes widened,
//!   offset, converted and scaled.
//! - anything else: scalar lanes ([`portable`]).
//!
//! The vector kernels need `k` and the block size to be multiples of 16;
//! other shapes take the portable loop. Tiles: 4 rows of `x` × 4 weight
//! rows, or 1 × 8 (one activation row: eight independent sums).

use qcc_ir::nbits::{LANES, lane_tree, q8_sum, quant_row};

/// The shapes and the kernel, as the generated code passes them.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct NbitsParams {
    pub m: u64,
    pub n: u64,
    pub k: u64,
    pub block: u64,
    /// 4 or 8.
    pub bits: u64,
    /// [`KERNEL_PORTABLE`], [`KERNEL_AVX2`] or [`KERNEL_AVX512`].
    pub kernel: u64,
    /// 1 for `dense_nbits_q8` (activations quantized to int8 per block).
    pub q8: u64,
}

pub(crate) const KERNEL_PORTABLE: u64 = 0;
pub(crate) const KERNEL_AVX2: u64 = 1;
pub(crate) const KERNEL_AVX512: u64 = 2;

impl NbitsParams {
    pub fn bytes(&self) -> Vec<u8> {
        [
            self.m,
            self.n,
            self.k,
            self.block,
            self.bits,
            self.kernel,
            self.q8,
        ]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect()
    }
}

/// Bytes of one weight row.
pub(crate) fn row_bytes(k: usize, bits: u32) -> usize {
    if bits == 4 { k.div_ceil(2) } else { k }
}

/// The best kernel the host runs for these shapes (`allow_vector` false:
/// the portable one).
pub(crate) fn pick_kernel(k: usize, block: usize, allow_vector: bool, allow_512: bool) -> u64 {
    if !allow_vector || !k.is_multiple_of(16) || !block.is_multiple_of(16) {
        return KERNEL_PORTABLE;
    }
    let f = super::host_features();
    if allow_512 && f.avx512vnni {
        KERNEL_AVX512
    } else if f.avx2 {
        KERNEL_AVX2
    } else {
        KERNEL_PORTABLE
    }
}

/// `out[r, c] = Σ_k x[r, k] · wd[c, k] (+ bias[c])` for the weight rows
/// `c` in `n_lo..n_hi` (a thread's share).
///
/// # Safety
/// `n_lo ≤ n_hi ≤ n`; `p` points to an [`NbitsParams`] with `k ≥ 1`,
/// `block` dividing `k`, `bits` 4 or 8, and a kernel the host runs
/// ([`pick_kernel`]); `x` is readable for `m·k` f32, `w` for
/// `n · row_bytes(k, bits)` bytes, `scales` and `zps` for `n · k / block`
/// elements, `bias` null or readable for `n` f32, `out` writable for `m·n`
/// f32 and overlapping none of them.
pub(crate) unsafe extern "C" fn qcc_dense_nbits(
    x: *const f32,
    w: *const u8,
    scales: *const f32,
    zps: *const u8,
    bias: *const f32,
    out: *mut f32,
    p: *const NbitsParams,
    n_lo: usize,
    n_hi: usize,
) {
    // SAFETY: the contract.
    let p = unsafe { *p };
    let (m, n, k, block) = (p.m as usize, p.n as usize, p.k as usize, p.block as usize);
    let kb = k / block;
    let rb = row_bytes(k, p.bits as u32);
    // SAFETY: the extents of the contract.
    let a = unsafe {
        Args {
            x: std::slice::from_raw_parts(x, m * k),
            w: std::slice::from_raw_parts(w, n * rb),
            scales: std::slice::from_raw_parts(scales, n * kb),
            zps: std::slice::from_raw_parts(zps, n * kb),
            bias: (!bias.is_null()).then(|| std::slice::from_raw_parts(bias, n)),
            out,
            m,
            n,
            k,
            block,
            bits: p.bits as u32,
            rb,
        }
    };
    let rows = n_lo..n_hi;
    if p.q8 != 0 {
        #[cfg(target_arch = "x86_64")]
        if p.kernel == KERNEL_AVX512 && a.bits == 4 && x86::q8_fits(&a) {
            // SAFETY: the contract: the host has AVX-512 with VNNI; the
            // shape checked by `q8_fits`.
            return unsafe { x86::q8_vnni(&a, rows) };
        }
        return q8_portable(&a, rows);
    }
    match p.kernel {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the contract: the host has AVX-512 (F, BW, DQ, VL), and
        // `k` and `block` are multiples of 16.
        KERNEL_AVX512 => unsafe { x86::avx512(&a, rows) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the contract: the host has AVX2 and FMA, and `k` and
        // `block` are multiples of 16.
        KERNEL_AVX2 => unsafe { x86::avx2(&a, rows) },
        _ => portable(&a, rows),
    }
}

/// The operands, as slices.
struct Args<'a> {
    x: &'a [f32],
    w: &'a [u8],
    scales: &'a [f32],
    zps: &'a [u8],
    bias: Option<&'a [f32]>,
    /// Written at `r · n + c` only, each element by one call.
    out: *mut f32,
    m: usize,
    n: usize,
    k: usize,
    block: usize,
    bits: u32,
    rb: usize,
}

impl Args<'_> {
    /// The unsigned code of weight `(c, kk)`.
    fn code(&self, c: usize, kk: usize) -> i32 {
        let row = &self.w[c * self.rb..(c + 1) * self.rb];
        if self.bits == 4 {
            ((row[kk / 2] >> (4 * (kk % 2))) & 0x0f) as i32
        } else {
            row[kk] as i32
        }
    }

    fn store(&self, r: usize, c: usize, mut v: f32) {
        if let Some(b) = self.bias {
            v += b[c];
        }
        assert!(r < self.m && c < self.n);
        // SAFETY: in bounds (checked above) of the `m · n` output, which
        // overlaps no operand.
        unsafe { *self.out.add(r * self.n + c) = v };
    }
}

/// Scalar lanes, on any host and any shape.
fn portable(a: &Args, rows: std::ops::Range<usize>) {
    let kb = a.k / a.block;
    for r in 0..a.m {
        let xr = &a.x[r * a.k..(r + 1) * a.k];
        for c in rows.clone() {
            let mut p = [0.0f32; LANES];
            for (kk, &xv) in xr.iter().enumerate() {
                let b = c * kb + kk / a.block;
                let wd = (a.code(c, kk) - a.zps[b] as i32) as f32 * a.scales[b];
                let l = kk % LANES;
                p[l] = xv.mul_add(wd, p[l]);
            }
            a.store(r, c, lane_tree(p));
        }
    }
}

/// `dense_nbits_q8` in scalar code, on any host and any shape: the
/// activations quantized per block as `qcc_ir::nbits::quant_block` does,
/// the integer dot products exact, summed by `qcc_ir::nbits::q8_sum`.
fn q8_portable(a: &Args, rows: std::ops::Range<usize>) {
    let kb = a.k / a.block;
    let mut qa = vec![0i8; a.k];
    let mut sa = vec![0f32; kb];
    let mut d = vec![0i32; kb];
    for r in 0..a.m {
        let xr = &a.x[r * a.k..(r + 1) * a.k];
        quant_row(xr, a.block, &mut qa, &mut sa);
        for c in rows.clone() {
            for (j, dj) in d.iter_mut().enumerate() {
                let z = a.zps[c * kb + j] as i32;
                *dj = (j * a.block..(j + 1) * a.block)
                    .map(|kk| qa[kk] as i32 * (a.code(c, kk) - z))
                    .sum();
            }
            a.store(r, c, q8_sum(&d, &sa, &a.scales[c * kb..(c + 1) * kb]));
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Args;
    use std::arch::x86_64::*;
    use std::ops::Range;

    /// Whether `q8_vnni` takes the shape: blocks of 32, 64 or a multiple
    /// of 128, 16 blocks a row at a time.
    pub(super) fn q8_fits(a: &Args) -> bool {
        a.block.is_multiple_of(32)
            && (a.block <= 64 || a.block.is_multiple_of(128))
            && a.k.is_multiple_of(a.block)
            && (a.k / a.block).is_multiple_of(16)
    }

    /// Two vectors' 128-bit lanes summed in pairs: `[x0+x1, x2+x3, y0+y1,
    /// y2+y3]`.
    #[target_feature(enable = "avx512f")]
    fn fold2(x: __m512i, y: __m512i) -> __m512i {
        _mm512_add_epi32(
            _mm512_shuffle_i32x4::<0x88>(x, y),
            _mm512_shuffle_i32x4::<0xDD>(x, y),
        )
    }

    /// `dense_nbits_q8` on AVX-512 VNNI, 4-bit weights: the activation
    /// codes split by nibble (the low nibble of weight byte `i` is `k = 2i`,
    /// the high one `2i + 1`), `vpdpbusd` of the unsigned codes with them
    /// (exact; `z · Σ qa` taken off per block), 16 blocks' sums gathered
    /// into one vector (lane `l` = block `16h + l`), then the lane sums of
    /// `q8_sum` in a zmm and its tree.
    ///
    /// # Safety
    /// The host has AVX-512 (F, BW, DQ, VL) and VNNI; `q8_fits(a)`.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,fma")]
    pub(super) unsafe fn q8_vnni(a: &Args, rows: Range<usize>) {
        let (k, bl) = (a.k, a.block);
        let kb = k / bl;
        let half = k / 2;
        // Per row: the codes split by nibble, their block sums, the scales.
        let mut lo = vec![0i8; a.m * half];
        let mut hi = vec![0i8; a.m * half];
        let mut sums = vec![0i32; a.m * kb];
        let mut sa = vec![0f32; a.m * kb];
        let mut qa = vec![0i8; k];
        for r in 0..a.m {
            qcc_ir::nbits::quant_row(
                &a.x[r * k..(r + 1) * k],
                bl,
                &mut qa,
                &mut sa[r * kb..(r + 1) * kb],
            );
            for i in 0..half {
                lo[r * half + i] = qa[2 * i];
                hi[r * half + i] = qa[2 * i + 1];
            }
            for j in 0..kb {
                sums[r * kb + j] = qa[j * bl..(j + 1) * bl].iter().map(|&q| q as i32).sum();
            }
        }
        let m4 = _mm512_set1_epi8(0x0f);
        let perm = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        let cb = bl / 2; // bytes of a block
        for c in rows {
            let wrow = &a.w[c * a.rb..c * a.rb + half];
            for r in 0..a.m {
                let (lr, hr) = (&lo[r * half..(r + 1) * half], &hi[r * half..(r + 1) * half]);
                // One zmm of weight bytes at byte `o` dotted with the codes.
                let dot = |o: usize| -> __m512i {
                    assert!(o + 64 <= half);
                    // SAFETY: in bounds (checked above).
                    let (w, l, h) = unsafe {
                        (
                            _mm512_loadu_si512(wrow.as_ptr().add(o).cast()),
                            _mm512_loadu_si512(lr.as_ptr().add(o).cast()),
                            _mm512_loadu_si512(hr.as_ptr().add(o).cast()),
                        )
                    };
                    let wl = _mm512_and_si512(w, m4);
                    let wh = _mm512_and_si512(_mm512_srli_epi16::<4>(w), m4);
                    let acc = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wl, l);
                    _mm512_dpbusd_epi32(acc, wh, h)
                };
                // Four blocks from `4g`: each 128-bit lane one block's four
                // partial sums.
                let quad = |g: usize| -> __m512i {
                    let o = 4 * g * cb;
                    match bl {
                        32 => dot(o),
                        64 => fold2(dot(o), dot(o + 64)),
                        _ => {
                            let blk = |b: usize| {
                                let mut v = _mm512_setzero_si512();
                                for t in (0..cb).step_by(64) {
                                    v = _mm512_add_epi32(v, dot(o + b * cb + t));
                                }
                                v
                            };
                            fold2(fold2(blk(0), blk(1)), fold2(blk(2), blk(3)))
                        }
                    }
                };
                let mut p = _mm512_setzero_ps();
                for h16 in 0..kb / 16 {
                    let q: [__m512i; 4] = std::array::from_fn(|i| quad(4 * h16 + i));
                    let t01 = _mm512_add_epi32(
                        _mm512_unpacklo_epi32(q[0], q[1]),
                        _mm512_unpackhi_epi32(q[0], q[1]),
                    );
                    let t23 = _mm512_add_epi32(
                        _mm512_unpacklo_epi32(q[2], q[3]),
                        _mm512_unpackhi_epi32(q[2], q[3]),
                    );
                    let u = _mm512_add_epi32(
                        _mm512_unpacklo_epi64(t01, t23),
                        _mm512_unpackhi_epi64(t01, t23),
                    );
                    let d = _mm512_permutexvar_epi32(perm, u);
                    let j0 = h16 * 16;
                    let (zo, so) = (c * kb + j0, r * kb + j0);
                    assert!(zo + 16 <= a.zps.len() && so + 16 <= sums.len());
                    // SAFETY: in bounds (checked above).
                    let (z, sq, s_a, s_w) = unsafe {
                        (
                            _mm512_cvtepu8_epi32(_mm_loadu_si128(a.zps.as_ptr().add(zo).cast())),
                            _mm512_loadu_si512(sums.as_ptr().add(so).cast()),
                            _mm512_loadu_ps(sa.as_ptr().add(so)),
                            _mm512_loadu_ps(a.scales.as_ptr().add(zo)),
                        )
                    };
                    let d = _mm512_sub_epi32(d, _mm512_mullo_epi32(z, sq));
                    let t = _mm512_mul_ps(s_a, s_w);
                    p = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), t, p);
                }
                a.store(r, c, tree512(p));
            }
        }
    }

    /// The tree of one zmm's lanes: `i + 8`, `i + 4`, `i + 2`, `i + 1`.
    #[target_feature(enable = "avx512f,avx512dq")]
    fn tree512(v: __m512) -> f32 {
        let s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps::<1>(v));
        tree256(s8)
    }

    /// The tree of 8 lanes (the last three levels).
    #[target_feature(enable = "avx")]
    fn tree256(s8: __m256) -> f32 {
        let s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps::<1>(s8));
        let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        let s1 = _mm_add_ss(s2, _mm_shuffle_ps::<1>(s2, s2));
        _mm_cvtss_f32(s1)
    }

    /// The 16 codes of weight row `row` at `kk` (a multiple of 16) as
    /// bytes, in lane order; for 4-bit weights the high nibble of each
    /// byte is garbage (the callers mask it, or `vpermps` ignores it).
    #[target_feature(enable = "sse2")]
    unsafe fn codes16(a: &Args, row: *const u8, kk: usize) -> __m128i {
        if a.bits == 4 {
            // SAFETY: 8 bytes at `kk / 2` of a row of `k / 2 ≥ kk / 2 + 8`.
            let v = unsafe { _mm_loadl_epi64(row.add(kk / 2) as *const __m128i) };
            _mm_unpacklo_epi8(v, _mm_srli_epi16::<4>(v))
        } else {
            // SAFETY: 16 bytes at `kk` of a row of `k ≥ kk + 16`.
            unsafe { _mm_loadu_si128(row.add(kk) as *const __m128i) }
        }
    }

    /// One tile: `MB` activation rows from `r0` × `R` weight rows from
    /// `c0`.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,fma")]
    unsafe fn tile512<const MB: usize, const R: usize>(a: &Args, r0: usize, c0: usize) {
        let kb = a.k / a.block;
        let mut acc = [[_mm512_setzero_ps(); R]; MB];
        // `f32(q − z)` for q = 0..15, one row per 4-bit zero point z: a
        // block's table is then one load and one multiplication.
        let mut diffs = [[0.0f32; 16]; 16];
        for (z, row) in diffs.iter_mut().enumerate() {
            for (q, d) in row.iter_mut().enumerate() {
                *d = (q as i32 - z as i32) as f32;
            }
        }
        let rows: [*const u8; R] = std::array::from_fn(|j| a.w[(c0 + j) * a.rb..].as_ptr());
        for b in 0..kb {
            let mut zv = [_mm512_setzero_si512(); R];
            let mut sv = [_mm512_setzero_ps(); R];
            for j in 0..R {
                let pi = (c0 + j) * kb + b;
                zv[j] = _mm512_set1_epi32(a.zps[pi] as i32);
                sv[j] = _mm512_set1_ps(a.scales[pi]);
            }
            // 4-bit: the block's 16 values, `f32(q − z) · s` for q = 0..15.
            let mut table = [_mm512_setzero_ps(); R];
            if a.bits == 4 {
                for j in 0..R {
                    let z = a.zps[(c0 + j) * kb + b] as usize & 15;
                    // SAFETY: 16 floats of a 16-float row.
                    let d = unsafe { _mm512_loadu_ps(diffs[z].as_ptr()) };
                    table[j] = _mm512_mul_ps(d, sv[j]);
                }
            }
            let mut kk = b * a.block;
            let end = kk + a.block;
            if a.bits == 4 && a.block.is_multiple_of(32) {
                // 32 codes a load: the two halves of one 16-byte vector.
                while kk < end {
                    let mut w0 = [_mm512_setzero_ps(); R];
                    let mut w1 = [_mm512_setzero_ps(); R];
                    for j in 0..R {
                        // SAFETY: 16 bytes at `kk / 2` of a row of `k / 2 ≥ kk / 2 + 16`.
                        let v = unsafe { _mm_loadu_si128(rows[j].add(kk / 2) as *const __m128i) };
                        let h = _mm_srli_epi16::<4>(v);
                        let q0 = _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(v, h));
                        let q1 = _mm512_cvtepu8_epi32(_mm_unpackhi_epi8(v, h));
                        w0[j] = _mm512_permutexvar_ps(q0, table[j]);
                        w1[j] = _mm512_permutexvar_ps(q1, table[j]);
                    }
                    for (i, acc_i) in acc.iter_mut().enumerate() {
                        let p = a.x.as_ptr();
                        // SAFETY: row `r0 + i < m`, 32 floats at `kk + 32 ≤ k`.
                        let (x0, x1) = unsafe {
                            (
                                _mm512_loadu_ps(p.add((r0 + i) * a.k + kk)),
                                _mm512_loadu_ps(p.add((r0 + i) * a.k + kk + 16)),
                            )
                        };
                        for j in 0..R {
                            acc_i[j] = _mm512_fmadd_ps(x0, w0[j], acc_i[j]);
                            acc_i[j] = _mm512_fmadd_ps(x1, w1[j], acc_i[j]);
                        }
                    }
                    kk += 32;
                }
            }
            while kk < end {
                let mut wd = [_mm512_setzero_ps(); R];
                for j in 0..R {
                    // SAFETY: `kk + 16 ≤ k` (k and the block are multiples of 16).
                    let c = unsafe { codes16(a, rows[j], kk) };
                    let q = _mm512_cvtepu8_epi32(c);
                    wd[j] = if a.bits == 4 {
                        _mm512_permutexvar_ps(q, table[j])
                    } else {
                        _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(q, zv[j])), sv[j])
                    };
                }
                for (i, acc_i) in acc.iter_mut().enumerate() {
                    // SAFETY: row `r0 + i < m`, 16 floats at `kk + 16 ≤ k`.
                    let xv = unsafe { _mm512_loadu_ps(a.x.as_ptr().add((r0 + i) * a.k + kk)) };
                    for j in 0..R {
                        acc_i[j] = _mm512_fmadd_ps(xv, wd[j], acc_i[j]);
                    }
                }
                kk += 16;
            }
        }
        for (i, acc_i) in acc.iter().enumerate() {
            for (j, &v) in acc_i.iter().enumerate() {
                a.store(r0 + i, c0 + j, tree512(v));
            }
        }
    }

    /// # Safety
    /// The host has AVX-512 F, BW, DQ and VL; `k` and `block` are multiples
    /// of 16; `rows` within `0..n`.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,fma")]
    pub(super) unsafe fn avx512(a: &Args, rows: Range<usize>) {
        let mut r = 0;
        while r + 4 <= a.m {
            let mut c = rows.start;
            while c + 4 <= rows.end {
                // SAFETY: a tile inside `0..m` × `rows`; the features and shapes of the contract.
                unsafe { tile512::<4, 4>(a, r, c) };
                c += 4;
            }
            while c < rows.end {
                // SAFETY: a tile inside `0..m` × `rows`; the features and shapes of the contract.
                unsafe { tile512::<4, 1>(a, r, c) };
                c += 1;
            }
            r += 4;
        }
        while r < a.m {
            let mut c = rows.start;
            while c + 8 <= rows.end {
                // SAFETY: a tile inside `0..m` × `rows`; the features and shapes of the contract.
                unsafe { tile512::<1, 8>(a, r, c) };
                c += 8;
            }
            while c < rows.end {
                // SAFETY: a tile inside `0..m` × `rows`; the features and shapes of the contract.
                unsafe { tile512::<1, 1>(a, r, c) };
                c += 1;
            }
            r += 1;
        }
    }

    /// The AVX2 tile: each sum in two ymm (lanes 0–7, 8–15).
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile256<const MB: usize, const R: usize>(a: &Args, r0: usize, c0: usize) {
        let kb = a.k / a.block;
        let mut lo = [[_mm256_setzero_ps(); R]; MB];
        let mut hi = [[_mm256_setzero_ps(); R]; MB];
        let rows: [*const u8; R] = std::array::from_fn(|j| a.w[(c0 + j) * a.rb..].as_ptr());
        let mask = _mm_set1_epi8(if a.bits == 4 { 0x0f } else { -1 });
        for b in 0..kb {
            let mut zv = [_mm256_setzero_si256(); R];
            let mut sv = [_mm256_setzero_ps(); R];
            for j in 0..R {
                let pi = (c0 + j) * kb + b;
                zv[j] = _mm256_set1_epi32(a.zps[pi] as i32);
                sv[j] = _mm256_set1_ps(a.scales[pi]);
            }
            let mut kk = b * a.block;
            let end = kk + a.block;
            while kk < end {
                let mut wlo = [_mm256_setzero_ps(); R];
                let mut whi = [_mm256_setzero_ps(); R];
                for j in 0..R {
                    // SAFETY: `kk + 16 ≤ k`.
                    let c = _mm_and_si128(unsafe { codes16(a, rows[j], kk) }, mask);
                    let q0 = _mm256_cvtepu8_epi32(c);
                    let q1 = _mm256_cvtepu8_epi32(_mm_srli_si128::<8>(c));
                    wlo[j] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q0, zv[j])), sv[j]);
                    whi[j] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q1, zv[j])), sv[j]);
                }
                for i in 0..MB {
                    let p = a.x.as_ptr();
                    // SAFETY: row `r0 + i < m`, 16 floats at `kk + 16 ≤ k`.
                    let (x0, x1) = unsafe {
                        (
                            _mm256_loadu_ps(p.add((r0 + i) * a.k + kk)),
                            _mm256_loadu_ps(p.add((r0 + i) * a.k + kk + 8)),
                        )
                    };
                    for j in 0..R {
                        lo[i][j] = _mm256_fmadd_ps(x0, wlo[j], lo[i][j]);
                        hi[i][j] = _mm256_fmadd_ps(x1, whi[j], hi[i][j]);
                    }
                }
                kk += 16;
            }
        }
        for i in 0..MB {
            for j in 0..R {
                // Lane i + lane i + 8 first, then the 8-lane tree.
                let s8 = _mm256_add_ps(lo[i][j], hi[i][j]);
                a.store(r0 + i, c0 + j, tree256(s8));
            }
        }
    }

    /// # Safety
    /// The host has AVX2 and FMA; `k` and `block` are multiples of 16;
    /// `rows` within `0..n`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn avx2(a: &Args, rows: Range<usize>) {
        let mut r = 0;
        while r + 2 <= a.m {
            let mut c = rows.start;
            while c + 2 <= rows.end {
                // SAFETY: a tile inside `0..m` × `rows`; the features and shapes of the contract.
                unsafe { tile256::<2, 2>(a, r, c) };
                c += 2;
            }
            while c < rows.end {
                // SAFETY: a tile inside `0..m` × `rows`; the features and shapes of the contract.
                unsafe { tile256::<2, 1>(a, r, c) };
                c += 1;
            }
            r += 2;
        }
        while r < a.m {
            let mut c = rows.start;
            while c + 4 <= rows.end {
                // SAFETY: a tile inside `0..m` × `rows`; the features and shapes of the contract.
                unsafe { tile256::<1, 4>(a, r, c) };
                c += 4;
            }
            while c < rows.end {
                // SAFETY: a tile inside `0..m` × `rows`; the features and shapes of the contract.
                unsafe { tile256::<1, 1>(a, r, c) };
                c += 1;
            }
            r += 1;
        }
    }
}
