//! `dense_nbits`: f32 activations times weights kept 4- or 8-bit in memory,
//! dequantized in registers, summed in `qcc_ir::nbits`'s order exactly.
//!
//! The weights arrive as `n` rows of `k` unsigned codes (signed storage is
//! offset by 8 or 128 at compile time, the zero points with it, so
//! `q − z` is unchanged): 4-bit codes two a byte, each row starting on a
//! byte; 8-bit codes one a byte. Scales (f32) and zero points (u8, offset
//! with the codes) are `[n][k / block]`. Within a 4-bit row the nibbles are
//! in the order of the kernel that reads them ([`pack`]):
//! - natural (the portable, AVX2 and 8-bit kernels): code `kk` in byte
//!   `kk / 2`, the low nibble for even `kk`;
//! - halves ([`KERNEL_AVX512_HALVES`], `dense_nbits` on AVX-512, `k` a
//!   multiple of 32): chunk `i` of 32 codes is 16 bytes, byte `b` holding
//!   code `32i + b` low and `32i + 16 + b` high, so one `vpmovzxbd` of the
//!   16 bytes gives the 16 lanes of the first half and a shift by 4 those
//!   of the second;
//! - lanes ([`KERNEL_VNNI_Q8`], `dense_nbits_q8` on AVX-512 VNNI): groups
//!   of 16 blocks (the last group `g ≤ 16`), each group `block / 8` steps
//!   of `4g` bytes, the 4 bytes of lane `l` at step `t` holding codes
//!   `8t + b` (low) and `8t + 4 + b` (high), `b < 4`, of the group's block
//!   `l`: one `vpdpbusd` then adds 4 codes of each of 16 blocks into the
//!   block's own i32 lane, so a group's 16 exact block sums end in one zmm
//!   with no reduction.
//!
//! The two packed orders also interleave rows in panels of the kernel's
//! tile width ([`panel_width`]: 4 or 8 rows, the last panel narrower): in a
//! panel of `w` rows, chunk `i` (halves) or step `t` of a group (lanes) of
//! its rows `0..w` follow each other, and the scales and zero points of a
//! block (halves) or a group (lanes) likewise ([`pack_params`]), so a tile
//! reads three sequential streams, not three per weight row.
//!
//! Every `dense_nbits` kernel keeps the 16 lane sums of `qcc_ir::nbits`
//! (lane `l` takes the `k ≡ l mod 16`, one fused multiply-add a step) and
//! ends with its pairwise-halving tree:
//! - AVX-512 (one zmm a sum): a 4-bit block's 16 dequantized values are a
//!   table in one register, built once per block and weight row
//!   (`f32(q − z)` for q = 0..15, from a table per zero point, times `s`),
//!   and each code picks its value with `vpermps`, whose index reads only
//!   the low 4 bits, so the nibbles need no mask; tiles of 8 weight rows ×
//!   1 activation row, or 4 × 4 (each dequantized vector used against the
//!   4 rows); the weight rows are the outer loop, so a tile's weights stay
//!   in L1 while all activation rows pass. 8-bit codes (natural order) are
//!   widened, offset, converted and scaled.
//! - AVX2 with FMA (two ymm a sum, lanes 0–7 and 8–15): the codes widened,
//!   offset, converted and scaled.
//! - anything else: scalar lanes ([`portable`]).
//!
//! `dense_nbits_q8` on AVX-512 VNNI quantizes the activations once per
//! call (vectorized, the same codes as `qcc_ir::nbits::quant_block`) into
//! the lanes order, then runs tiles of up to 4 activation rows × 4 weight
//! rows, each weight vector unpacked once for all the tile's rows.
//!
//! The vector kernels need `k` and the block size to be multiples of 16
//! (8 for `dense_nbits_q8`); other shapes take the portable loop.

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
    /// One of the `KERNEL_*` constants ([`pick_kernel`]); it also fixes the
    /// order of the nibbles in a row ([`pack`]).
    pub kernel: u64,
    /// 1 for `dense_nbits_q8` (activations quantized to int8 per block).
    pub q8: u64,
    /// Weight rows a panel ([`panel_width`]).
    pub panel: u64,
}

pub(crate) const KERNEL_PORTABLE: u64 = 0;
pub(crate) const KERNEL_AVX2: u64 = 1;
pub(crate) const KERNEL_AVX512: u64 = 2;
/// `dense_nbits`, 4-bit weights in the halves order, on AVX-512.
pub(crate) const KERNEL_AVX512_HALVES: u64 = 3;
/// `dense_nbits_q8`, 4-bit weights in the lanes order, on AVX-512 VNNI.
pub(crate) const KERNEL_VNNI_Q8: u64 = 4;

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
            self.panel,
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
pub(crate) fn pick_kernel(
    k: usize,
    block: usize,
    bits: u32,
    q8: bool,
    allow_vector: bool,
    allow_512: bool,
) -> u64 {
    let f = super::host_features();
    if !allow_vector {
        return KERNEL_PORTABLE;
    }
    if q8 {
        // Only the VNNI kernel is vectorized; 8-bit weights and other hosts
        // run the portable loop.
        return if allow_512 && f.avx512vnni && bits == 4 && block.is_multiple_of(8) {
            KERNEL_VNNI_Q8
        } else {
            KERNEL_PORTABLE
        };
    }
    if !k.is_multiple_of(16) || !block.is_multiple_of(16) {
        KERNEL_PORTABLE
    } else if allow_512 && f.avx512vnni {
        if bits == 4 && k.is_multiple_of(32) {
            KERNEL_AVX512_HALVES
        } else {
            KERNEL_AVX512
        }
    } else if f.avx2 {
        KERNEL_AVX2
    } else {
        KERNEL_PORTABLE
    }
}

/// Weight rows a panel for `kernel` and `m` activation rows: the tile
/// width of the kernel's main loop (1: rows one after the other).
pub(crate) fn panel_width(kernel: u64, m: usize) -> usize {
    match kernel {
        KERNEL_VNNI_Q8 => 4,
        KERNEL_AVX512_HALVES if m >= 4 => 4,
        KERNEL_AVX512_HALVES => 8,
        _ => 1,
    }
}

/// Where the packed layout of `kernel` keeps row `c`'s panel: its first
/// row, its width, and `c`'s place in it (the last panel may be narrower).
fn panel_of(c: usize, n: usize, panel: usize) -> (usize, usize, usize) {
    let c0 = c / panel * panel;
    (c0, panel.min(n - c0), c - c0)
}

/// The index of block `j` of weight row `c` among the packed scales and
/// zero points ([`pack_params`]).
fn param_index(kernel: u64, panel: usize, n: usize, kb: usize, c: usize, j: usize) -> usize {
    let (c0, pw, ci) = panel_of(c, n, panel);
    let base = c0 * kb;
    match kernel {
        KERNEL_AVX512_HALVES => base + j * pw + ci,
        KERNEL_VNNI_Q8 => {
            let j0 = j / 16 * 16;
            let gl = (kb - j0).min(16);
            base + pw * j0 + ci * gl + (j - j0)
        }
        _ => c * kb + j,
    }
}

/// The byte and nibble (0 low, 1 high) of code `kk` of row `c` of 4-bit
/// weights packed for `kernel` (the module doc), `rb` bytes a row.
fn code_place(
    kernel: u64,
    (panel, n, k, block): (usize, usize, usize, usize),
    c: usize,
    kk: usize,
) -> (usize, usize) {
    let rb = row_bytes(k, 4);
    let (c0, pw, ci) = panel_of(c, n, panel);
    let base = c0 * rb;
    match kernel {
        KERNEL_AVX512_HALVES => {
            let (i, o) = (kk / 32, kk % 32);
            (base + (i * pw + ci) * 16 + o % 16, o / 16)
        }
        KERNEL_VNNI_Q8 => {
            let kb = k / block;
            let j = kk / block;
            let j0 = j / 16 * 16;
            let gl = (kb - j0).min(16);
            let (t, u) = ((kk % block) / 8, kk % 8);
            let off = pw * j0 * block / 2 + (t * pw + ci) * 4 * gl + 4 * (j - j0) + u % 4;
            (base + off, u / 4)
        }
        _ => (c * rb + kk / 2, kk % 2),
    }
}

/// `n` rows of 4-bit codes in the natural order rewritten in the order
/// `kernel` reads (the module doc), in panels of `panel` rows; other
/// kernels' rows are unchanged.
pub(crate) fn pack(
    kernel: u64,
    panel: usize,
    w: &[u8],
    (n, k, block): (usize, usize, usize),
) -> Vec<u8> {
    if !matches!(kernel, KERNEL_AVX512_HALVES | KERNEL_VNNI_Q8) {
        return w.to_vec();
    }
    let rb = row_bytes(k, 4);
    let mut out = vec![0u8; w.len()];
    for c in 0..n {
        for kk in 0..k {
            let v = (w[c * rb + kk / 2] >> (4 * (kk % 2))) & 0x0f;
            let (b, h) = code_place(kernel, (panel, n, k, block), c, kk);
            out[b] |= v << (4 * h);
        }
    }
    out
}

/// The `[n][kb]` scales or zero points in the order `kernel` reads them.
pub(crate) fn pack_params<T: Copy>(
    kernel: u64,
    panel: usize,
    v: &[T],
    n: usize,
    kb: usize,
) -> Vec<T> {
    let mut out = v.to_vec();
    for c in 0..n {
        for j in 0..kb {
            out[param_index(kernel, panel, n, kb, c, j)] = v[c * kb + j];
        }
    }
    out
}

/// `out[r, c] = Σ_k x[r, k] · wd[c, k] (+ bias[c])` for the weight rows
/// `c` in `n_lo..n_hi` (a thread's share).
///
/// # Safety
/// `n_lo ≤ n_hi ≤ n`; `p` points to an [`NbitsParams`] with `k ≥ 1`,
/// `block` dividing `k`, `bits` 4 or 8, and a kernel the host runs
/// ([`pick_kernel`]) with the weights in its order ([`pack`]); `x` is readable for `m·k` f32, `w` for
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
            panel: (p.panel as usize).max(1),
        }
    };
    let rows = n_lo..n_hi;
    match (p.q8 != 0, p.kernel) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the contract: the host has AVX-512 (F, BW, DQ, VL) and
        // VNNI, 4-bit weights in the lanes order, `block` a multiple of 8.
        (true, KERNEL_VNNI_Q8) => unsafe { x86::q8_vnni(&a, rows) },
        (true, _) => q8_portable(&a, rows),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the contract: the host has AVX-512 (F, BW, DQ, VL), 4-bit
        // weights in the halves order, `k` a multiple of 32 and `block` of
        // 16.
        (false, KERNEL_AVX512_HALVES) => unsafe { x86::halves512(&a, rows) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the contract: the host has AVX-512 (F, BW, DQ, VL), and
        // `k` and `block` are multiples of 16.
        (false, KERNEL_AVX512) => unsafe { x86::avx512(&a, rows) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the contract: the host has AVX2 and FMA, and `k` and
        // `block` are multiples of 16.
        (false, KERNEL_AVX2) => unsafe { x86::avx2(&a, rows) },
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
    /// Weight rows a panel of the packed layouts ([`panel_width`]).
    panel: usize,
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

    /// `f32(q − z)` for q = 0..15, one row per 4-bit zero point `z`.
    const DIFFS: [[f32; 16]; 16] = {
        let mut t = [[0.0f32; 16]; 16];
        let mut z = 0;
        while z < 16 {
            let mut q = 0;
            while q < 16 {
                t[z][q] = (q as i32 - z as i32) as f32;
                q += 1;
            }
            z += 1;
        }
        t
    };

    /// The activations of `dense_nbits_q8`, all `m` rows quantized per
    /// block: each row's codes in the lanes order (`stride` bytes: `ng`
    /// groups of `block / 8` steps of 64 bytes of low codes, lane `l` the 4
    /// codes `8t..8t + 4` of the group's block `l`, then 64 of the codes
    /// `8t + 4..8t + 8`; lanes past the last block zero), and per row
    /// `16 · ng` block code sums and scales (zero past the last block).
    struct Act {
        codes: Vec<i8>,
        sums: Vec<i32>,
        scales: Vec<f32>,
        stride: usize,
        ng: usize,
    }

    /// `qcc_ir::nbits::quant_block` on 16 floats at a time: the same amax
    /// (`vmaxps` returns its second operand when the first is NaN, so NaNs
    /// are skipped), the same scale and multiplier, each code the product
    /// rounded half to even, clamped, NaN to 0. Returns the scale and the
    /// codes' sum.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
    fn quant_block512(x: &[f32], q: &mut [i8]) -> (f32, i32) {
        assert!(x.len() == q.len() && x.len().is_multiple_of(16));
        let mut m = _mm512_setzero_ps();
        for c in x.chunks_exact(16) {
            // SAFETY: 16 floats.
            let v = unsafe { _mm512_loadu_ps(c.as_ptr()) };
            m = _mm512_max_ps(_mm512_abs_ps(v), m);
        }
        let amax = _mm512_reduce_max_ps(m);
        let scale = amax / qcc_ir::nbits::Q8_MAX;
        let inv = if amax != 0.0 {
            qcc_ir::nbits::Q8_MAX / amax
        } else {
            0.0
        };
        let iv = _mm512_set1_ps(inv);
        let (lo, hi) = (_mm512_set1_ps(-127.0), _mm512_set1_ps(127.0));
        let mut s = _mm512_setzero_si512();
        for (c, o) in x.chunks_exact(16).zip(q.chunks_exact_mut(16)) {
            // SAFETY: 16 floats.
            let v = _mm512_mul_ps(unsafe { _mm512_loadu_ps(c.as_ptr()) }, iv);
            let ord = _mm512_cmp_ps_mask::<_CMP_ORD_Q>(v, v);
            let r = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(v);
            let r = _mm512_min_ps(_mm512_max_ps(r, lo), hi);
            let c = _mm512_maskz_cvtps_epi32(ord, r);
            s = _mm512_add_epi32(s, c);
            // SAFETY: 16 bytes.
            unsafe { _mm_storeu_si128(o.as_mut_ptr().cast(), _mm512_cvtepi32_epi8(c)) };
        }
        (scale, _mm512_reduce_add_epi32(s))
    }

    /// Quantizes the `m` activation rows once for the call ([`Act`]).
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
    fn quantize(a: &Args) -> Act {
        let (k, bl) = (a.k, a.block);
        let kb = k / bl;
        let ng = kb.div_ceil(16);
        let stride = ng * 16 * bl;
        let mut act = Act {
            codes: vec![0; a.m * stride],
            sums: vec![0; a.m * ng * 16],
            scales: vec![0.0; a.m * ng * 16],
            stride,
            ng,
        };
        let mut qa = vec![0i8; k];
        for r in 0..a.m {
            let xr = &a.x[r * k..(r + 1) * k];
            let pr = r * ng * 16..(r + 1) * ng * 16;
            let (sums, scales) = (&mut act.sums[pr.clone()], &mut act.scales[pr]);
            for j in 0..kb {
                let (xb, qb) = (&xr[j * bl..(j + 1) * bl], &mut qa[j * bl..(j + 1) * bl]);
                if bl.is_multiple_of(16) {
                    (scales[j], sums[j]) = quant_block512(xb, qb);
                } else {
                    scales[j] = qcc_ir::nbits::quant_block(xb, qb);
                    sums[j] = qb.iter().map(|&q| q as i32).sum();
                }
            }
            let row = &mut act.codes[r * stride..(r + 1) * stride];
            for j in 0..kb {
                let (g, l) = (j / 16, j % 16);
                for t in 0..bl / 8 {
                    let (o, s) = (g * 16 * bl + t * 128 + 4 * l, j * bl + 8 * t);
                    row[o..o + 4].copy_from_slice(&qa[s..s + 4]);
                    row[o + 64..o + 68].copy_from_slice(&qa[s + 4..s + 8]);
                }
            }
        }
        act
    }

    /// One `dense_nbits_q8` tile: `MB` activation rows from `r0` × `NR`
    /// weight rows from `c0`. Per group of 16 blocks each weight vector is
    /// unpacked once (low nibbles, high nibbles) and `vpdpbusd`ed with every
    /// row's codes, each (row, weight row) pair's 16 block sums in one zmm
    /// (exact); then `d = Σ qa·q − z·Σ qa` and lane `l` of the lane sums
    /// takes `fma(f32(d), sa · sw, p)` for block `16g + l`, `q8_sum`'s order.
    ///
    /// # Safety
    /// The host has AVX-512 (F, BW, DQ, VL) and VNNI; the weights are in the
    /// lanes order; `act` is [`quantize`]`(a)`.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,fma")]
    unsafe fn q8_tile<const MB: usize, const NR: usize>(a: &Args, act: &Act, r0: usize, c0: usize) {
        let (k, bl) = (a.k, a.block);
        let kb = k / bl;
        let steps = bl / 8;
        assert!(r0 + MB <= a.m && c0 + NR <= a.n && bl.is_multiple_of(8) && k == kb * bl);
        assert!(act.codes.len() >= a.m * act.stride && act.sums.len() >= a.m * act.ng * 16);
        let m4 = _mm512_set1_epi8(0x0f);
        let mut p = [[_mm512_setzero_ps(); NR]; MB];
        let (p0, pw, ci) = super::panel_of(c0, a.n, a.panel);
        assert!(ci + NR <= pw);
        let wp = a.w[p0 * a.rb..(p0 + pw) * a.rb].as_ptr();
        let (zp, sp) = (a.zps[p0 * kb..].as_ptr(), a.scales[p0 * kb..].as_ptr());
        let x: [*const i8; MB] =
            std::array::from_fn(|r| act.codes[(r0 + r) * act.stride..].as_ptr());
        for g in 0..act.ng {
            let j0 = 16 * g;
            let gl = (kb - j0).min(16);
            let mask: __mmask16 = if gl == 16 { !0 } else { (1u16 << gl) - 1 };
            let (wo, ao) = (pw * j0 * bl / 2, 16 * g * bl);
            let mut acc = [[_mm512_setzero_si512(); NR]; MB];
            for t in 0..steps {
                let mut wl = [_mm512_setzero_si512(); NR];
                let mut wh = [_mm512_setzero_si512(); NR];
                for c in 0..NR {
                    // SAFETY: the `4 · gl` bytes of row `ci + c` at step `t`
                    // of group `g` in the panel of `pw` rows from `p0`
                    // (`code_place`); the masked lanes are not read.
                    let v = unsafe {
                        _mm512_maskz_loadu_epi32(
                            mask,
                            wp.add(wo + 4 * gl * (t * pw + ci + c)).cast(),
                        )
                    };
                    wl[c] = _mm512_and_si512(v, m4);
                    wh[c] = _mm512_and_si512(_mm512_srli_epi16::<4>(v), m4);
                }
                for r in 0..MB {
                    // SAFETY: 128 bytes of step `t` of group `g`, inside the
                    // row's `stride`.
                    let (l, h) = unsafe {
                        let o = x[r].add(ao + 128 * t);
                        (
                            _mm512_loadu_si512(o.cast()),
                            _mm512_loadu_si512(o.add(64).cast()),
                        )
                    };
                    for c in 0..NR {
                        acc[r][c] = _mm512_dpbusd_epi32(acc[r][c], wl[c], l);
                        acc[r][c] = _mm512_dpbusd_epi32(acc[r][c], wh[c], h);
                    }
                }
            }
            let mut z = [_mm512_setzero_si512(); NR];
            let mut sw = [_mm512_setzero_ps(); NR];
            for c in 0..NR {
                let o = pw * j0 + (ci + c) * gl;
                // SAFETY: the `gl` parameters of row `ci + c` of group `g`
                // in the panel (`param_index`); the masked lanes are not read.
                unsafe {
                    z[c] = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask, zp.add(o).cast()));
                    sw[c] = _mm512_maskz_loadu_ps(mask, sp.add(o));
                }
            }
            for r in 0..MB {
                let o = (r0 + r) * act.ng * 16 + 16 * g;
                // SAFETY: 16 of the row's `16 · ng` sums and scales.
                let (sq, sa) = unsafe {
                    (
                        _mm512_loadu_si512(act.sums.as_ptr().add(o).cast()),
                        _mm512_loadu_ps(act.scales.as_ptr().add(o)),
                    )
                };
                for c in 0..NR {
                    let d = _mm512_sub_epi32(acc[r][c], _mm512_mullo_epi32(z[c], sq));
                    // Lanes past the last block: d = 0 and sa · sw = 0 add an
                    // exact zero (the sums are never −0).
                    p[r][c] =
                        _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_mul_ps(sa, sw[c]), p[r][c]);
                }
            }
        }
        for (r, pr) in p.iter().enumerate() {
            for (c, &v) in pr.iter().enumerate() {
                a.store(r0 + r, c0 + c, tree512(v));
            }
        }
    }

    /// `dense_nbits_q8` on AVX-512 VNNI, 4-bit weights in the lanes order:
    /// the activations quantized once, then tiles of 4 weight rows (the
    /// outer loop, so they stay in L1) × 4 activation rows.
    ///
    /// # Safety
    /// The host has AVX-512 (F, BW, DQ, VL) and VNNI; the weights are in the
    /// lanes order; `block` is a multiple of 8; `rows` within `0..n`.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,fma")]
    pub(super) unsafe fn q8_vnni(a: &Args, rows: Range<usize>) {
        let act = quantize(a);
        let mut c = rows.start;
        while c < rows.end {
            let wide = c.is_multiple_of(Q8_NR) && rows.end - c >= Q8_NR;
            let mut r = 0;
            while r < a.m {
                let tall = a.m - r >= Q8_MB;
                // SAFETY: tiles inside `0..m` × `rows`; the contract.
                unsafe {
                    match (tall, wide) {
                        (true, true) => q8_tile::<Q8_MB, Q8_NR>(a, &act, r, c),
                        (false, true) => q8_tile::<1, Q8_NR>(a, &act, r, c),
                        (true, false) => q8_tile::<Q8_MB, 1>(a, &act, r, c),
                        (false, false) => q8_tile::<1, 1>(a, &act, r, c),
                    }
                }
                r += if tall { Q8_MB } else { 1 };
            }
            c += if wide { Q8_NR } else { 1 };
        }
    }

    /// The `dense_nbits_q8` tile: activation rows, weight rows.
    const Q8_MB: usize = 4;
    const Q8_NR: usize = 4;

    /// One `dense_nbits` tile on 4-bit weights in the halves order: `MB`
    /// activation rows from `r0` × `NR` weight rows from `c0`. A chunk of 32
    /// codes is one `vpmovzxbd` (lane `b` = code `b` in the low nibble,
    /// code `16 + b` in the high one) and two `vpermps` from the block's
    /// table, each result used against all `MB` rows.
    ///
    /// # Safety
    /// The host has AVX-512 F, BW, DQ and VL; the weights are 4-bit in the
    /// halves order; `k` is a multiple of 32, `block` of 16.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,fma")]
    unsafe fn halves_tile<const MB: usize, const NR: usize>(a: &Args, r0: usize, c0: usize) {
        let (k, bl) = (a.k, a.block);
        let kb = k / bl;
        assert!(r0 + MB <= a.m && c0 + NR <= a.n && k.is_multiple_of(32) && bl.is_multiple_of(16));
        let (p0, pw, ci) = super::panel_of(c0, a.n, a.panel);
        assert!(ci + NR <= pw);
        let wp = a.w[p0 * a.rb..(p0 + pw) * a.rb].as_ptr();
        // The panel's parameters: block `b` of its row `ci + c` at
        // `b · pw + ci + c` (`param_index`).
        let pr = p0 * kb..(p0 + pw) * kb;
        let (zp, sp) = (a.zps[pr.clone()].as_ptr(), a.scales[pr].as_ptr());
        let diffs = DIFFS.as_ptr().cast::<f32>();
        // Block `b`'s tables of the tile's rows.
        let tables = |b: usize| -> [__m512; NR] {
            let (zb, sb) = (b * pw + ci, b * pw + ci);
            std::array::from_fn(|c| {
                // SAFETY: `b < kb` and `ci + c < pw`: inside the panel's
                // `pw · kb` parameters; the zero point masked to a row of
                // `DIFFS`. The volatile read keeps the zero point a scalar
                // byte load: LLVM otherwise loads a tile's zero points as
                // one vector and extracts each byte, two shuffles a table.
                unsafe {
                    let z = std::ptr::read_volatile(zp.add(zb + c)) & 15;
                    let d = _mm512_loadu_ps(diffs.add(16 * z as usize));
                    _mm512_mul_ps(d, _mm512_set1_ps(*sp.add(sb + c)))
                }
            })
        };
        let mut acc = [[_mm512_setzero_ps(); NR]; MB];
        let x: [*const f32; MB] = std::array::from_fn(|r| a.x[(r0 + r) * k..].as_ptr());
        // Chunk `i`: its 16 bytes of the tile's first row at `wq`, the
        // next rows' after them.
        let mut chunk = |i: usize, wq: *const u8, t0: &[__m512; NR], t1: &[__m512; NR]| {
            // SAFETY: 32 floats at `32i + 32 ≤ k` of each row `r0 + r < m`.
            let xs: [(__m512, __m512); MB] = std::array::from_fn(|r| unsafe {
                let o = x[r].add(32 * i);
                (_mm512_loadu_ps(o), _mm512_loadu_ps(o.add(16)))
            });
            for c in 0..NR {
                // SAFETY: chunk `i`'s 16 bytes of row `ci + c` in the panel
                // of `pw` rows from `p0` (`code_place`).
                let q = _mm512_cvtepu8_epi32(unsafe { _mm_loadu_si128(wq.add(16 * c).cast()) });
                let w0 = _mm512_permutexvar_ps(q, t0[c]);
                let w1 = _mm512_permutexvar_ps(_mm512_srli_epi32::<4>(q), t1[c]);
                for (r, &(x0, x1)) in xs.iter().enumerate() {
                    acc[r][c] = _mm512_fmadd_ps(x0, w0, acc[r][c]);
                    acc[r][c] = _mm512_fmadd_ps(x1, w1, acc[r][c]);
                }
            }
        };
        // Chunk `i` of row `ci` of the panel starts at `16 · (i · pw + ci)`
        // (`code_place`); `wq` walks the chunks.
        // SAFETY: row `ci < pw` of the panel's `pw · k / 2` bytes.
        let mut wq = unsafe { wp.add(16 * ci) };
        let step = 16 * pw;
        let chunks = k / 32;
        if bl == 16 {
            // Two blocks a chunk: the halves' own tables.
            for i in 0..chunks {
                chunk(i, wq, &tables(2 * i), &tables(2 * i + 1));
                wq = wq.wrapping_add(step);
            }
        } else {
            let per = bl / 32;
            for b in 0..kb {
                let t = tables(b);
                for i in b * per..(b + 1) * per {
                    chunk(i, wq, &t, &t);
                    wq = wq.wrapping_add(step);
                }
            }
        }
        for (r, ar) in acc.iter().enumerate() {
            for (c, &v) in ar.iter().enumerate() {
                a.store(r0 + r, c0 + c, tree512(v));
            }
        }
    }

    /// `dense_nbits` on 4-bit weights in the halves order: tiles of 4 weight
    /// rows (the outer loop, so they stay in L1) × 4 activation rows, or of
    /// 8 weight rows × 1 activation row when `m < 4`.
    ///
    /// # Safety
    /// As [`halves_tile`]; `rows` within `0..n`.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,fma")]
    pub(super) unsafe fn halves512(a: &Args, rows: Range<usize>) {
        let cw = a.panel;
        let mut c = rows.start;
        while c < rows.end {
            let wide = c.is_multiple_of(cw) && rows.end - c >= cw;
            let mut r = 0;
            while r < a.m {
                let tall = a.m - r >= 4;
                // SAFETY: tiles inside `0..m` × `rows`; the contract.
                unsafe {
                    match (tall, wide, cw) {
                        (true, true, 4) => halves_tile::<4, 4>(a, r, c),
                        (true, true, _) => halves_tile::<4, 8>(a, r, c),
                        (false, true, 4) => halves_tile::<1, 4>(a, r, c),
                        (false, true, _) => halves_tile::<1, 8>(a, r, c),
                        (true, false, _) => halves_tile::<4, 1>(a, r, c),
                        (false, false, _) => halves_tile::<1, 1>(a, r, c),
                    }
                }
                r += if tall { 4 } else { 1 };
            }
            c += if wide { cw } else { 1 };
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic generator.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) as u32
        }
    }

    /// `qcc_dense_nbits` with `kernel` over rows `n_lo..n_hi` (the rest of
    /// the output left NaN), the weights given in the natural order.
    #[allow(clippy::too_many_arguments)]
    fn run(
        kernel: u64,
        q8: bool,
        (m, n, k, block): (usize, usize, usize, usize),
        x: &[f32],
        w: &[u8],
        scales: &[f32],
        zps: &[u8],
        bias: Option<&[f32]>,
        rows: (usize, usize),
    ) -> Vec<f32> {
        let p = NbitsParams {
            m: m as u64,
            n: n as u64,
            k: k as u64,
            block: block as u64,
            bits: 4,
            kernel,
            q8: q8 as u64,
            panel: panel_width(kernel, m) as u64,
        };
        let panel = p.panel as usize;
        let wp = pack(kernel, panel, w, (n, k, block));
        let kb = k / block;
        let (scales, zps) = (
            pack_params(kernel, panel, scales, n, kb),
            pack_params(kernel, panel, zps, n, kb),
        );
        let mut out = vec![f32::NAN; m * n];
        // SAFETY: the extents of the contract, and a kernel this host runs
        // (the callers check the features).
        unsafe {
            qcc_dense_nbits(
                x.as_ptr(),
                wp.as_ptr(),
                scales.as_ptr(),
                zps.as_ptr(),
                bias.map_or(std::ptr::null(), |b| b.as_ptr()),
                out.as_mut_ptr(),
                &p,
                rows.0,
                rows.1,
            )
        };
        out
    }

    /// Every vector kernel of 4-bit weights against the portable loop, bit
    /// for bit, over shapes with tails (weight rows not a multiple of the
    /// tile, a last group of fewer than 16 blocks, one activation row and
    /// several), blocks 8 to 256, and activations with NaN, infinities,
    /// subnormals and all-zero blocks.
    #[test]
    fn vector_kernels_equal_the_portable_loop() {
        if !crate::shim::host_features().avx512vnni {
            eprintln!("skipped: the host has no AVX-512 VNNI");
            return;
        }
        let mut g = Lcg(7);
        let shapes = [
            (1, 9, 512, 32),
            (1, 13, 4096, 128),
            (3, 5, 96, 16),
            (4, 8, 1024, 64),
            (5, 11, 640, 32),
            (9, 6, 256, 256),
            (2, 7, 48, 16),
            (6, 9, 2048 + 128, 128),
            (1, 3, 40, 8),
            (7, 5, 72, 24),
        ];
        for (si, &(m, n, k, block)) in shapes.iter().enumerate() {
            let kb = k / block;
            let w: Vec<u8> = (0..n * k / 2).map(|_| g.next() as u8).collect();
            let scales: Vec<f32> = (0..n * kb)
                .map(|_| (g.next() % 64) as f32 / 512.0 - 0.03)
                .collect();
            let zps: Vec<u8> = (0..n * kb).map(|_| (g.next() % 16) as u8).collect();
            let mut x: Vec<f32> = (0..m * k)
                .map(|_| (g.next() % 2001) as f32 / 1000.0 - 1.0)
                .collect();
            if si % 2 == 1 {
                // Special values, and one all-zero block.
                x[1] = f32::NAN;
                x[k / 2] = f32::INFINITY;
                x[m * k - 1] = -1e-44;
                x[block..2 * block].fill(0.0);
                if m > 1 {
                    x[k..k + block].fill(1e-45);
                }
            }
            let bias: Vec<f32> = (0..n).map(|i| i as f32 * 0.25).collect();
            let b = (si % 3 == 0).then_some(&bias[..]);
            for q8 in [false, true] {
                let kernel = pick_kernel(k, block, 4, q8, true, true);
                let dims = (m, n, k, block);
                let want = run(KERNEL_PORTABLE, q8, dims, &x, &w, &scales, &zps, b, (0, n));
                for rows in [(0, n), (1, n - 1)] {
                    let got = run(kernel, q8, dims, &x, &w, &scales, &zps, b, rows);
                    for r in 0..m {
                        for c in rows.0..rows.1 {
                            let (gv, wv) = (got[r * n + c], want[r * n + c]);
                            assert!(
                                // Any NaN equals any NaN (docs/semantics.md).
                                gv.to_bits() == wv.to_bits() || (gv.is_nan() && wv.is_nan()),
                                "kernel {kernel}, q8 {q8}, {dims:?}, rows {rows:?}: \
                                 ({r}, {c}) is {gv} ({:#x}), the portable loop {wv} ({:#x})",
                                gv.to_bits(),
                                wv.to_bits()
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_kernels_picked_for_the_shapes() {
        if !crate::shim::host_features().avx512vnni {
            return;
        }
        assert_eq!(
            pick_kernel(4096, 32, 4, false, true, true),
            KERNEL_AVX512_HALVES
        );
        assert_eq!(
            pick_kernel(4096 + 16, 16, 4, false, true, true),
            KERNEL_AVX512
        );
        assert_eq!(pick_kernel(4096, 32, 8, false, true, true), KERNEL_AVX512);
        assert_eq!(pick_kernel(4096, 32, 4, true, true, true), KERNEL_VNNI_Q8);
        assert_eq!(pick_kernel(4096, 32, 8, true, true, true), KERNEL_PORTABLE);
        assert_eq!(pick_kernel(4096, 32, 4, true, false, true), KERNEL_PORTABLE);
    }

    #[test]
    fn packing_moves_each_nibble_once() {
        // Codes 0..15 repeating: every (row, k) is found where the layout says.
        let (n, k, block) = (2usize, 96usize, 32usize);
        let code = |c: usize, kk: usize| ((c * 7 + kk * 3) % 16) as u8;
        let mut w = vec![0u8; n * k / 2];
        for c in 0..n {
            for kk in 0..k {
                w[c * k / 2 + kk / 2] |= code(c, kk) << (4 * (kk % 2));
            }
        }
        let h = pack(KERNEL_AVX512_HALVES, 1, &w, (n, k, block));
        // Row 1, chunk 2, byte 5: codes 69 (low) and 85 (high).
        assert_eq!(h[k / 2 + 32 + 5], code(1, 69) | code(1, 85) << 4);
        // In one panel of the 2 rows: chunk 2 of row 1 is the 6th 16 bytes.
        let h2 = pack(KERNEL_AVX512_HALVES, 8, &w, (n, k, block));
        assert_eq!(h2[16 * 5 + 5], code(1, 69) | code(1, 85) << 4);
        let l = pack(KERNEL_VNNI_Q8, 1, &w, (n, k, block));
        // Three blocks, one group of 3 lanes: step 1, lane 2, byte 3 holds
        // block 2's codes 8 + 3 and 8 + 4 + 3.
        assert_eq!(l[4 * (3 + 2) + 3], code(0, 64 + 11) | code(0, 64 + 15) << 4);
        // Two rows a panel: step 1 of row 1 follows step 1 of row 0.
        let l2 = pack(KERNEL_VNNI_Q8, 4, &w, (n, k, block));
        assert_eq!(
            l2[12 * 3 + 4 * 2 + 3],
            code(1, 64 + 11) | code(1, 64 + 15) << 4
        );
        let p = pack_params(KERNEL_VNNI_Q8, 4, &[0, 1, 2, 10, 11, 12], n, 3);
        assert_eq!(p, [0, 1, 2, 10, 11, 12]);
        let p = pack_params(KERNEL_AVX512_HALVES, 8, &[0, 1, 2, 10, 11, 12], n, 3);
        assert_eq!(p, [0, 10, 1, 11, 2, 12]);
    }
}
