//! x86-64 micro-kernels: `vpdpbusd` on zmm (AVX512-VNNI) and on ymm
//! (AVX-VNNI), register-tiled `MR × 16·NB`, on the packed layouts described
//! in `super`. They are only ever called (by JIT code or tests) after
//! `super::host_features` has confirmed the features they are compiled for.

use super::KernelFn;
use core::arch::x86_64::*;

/// The `MR × 16·NB` i32 tile `A · B` over `kp4` groups of 4 k, in
/// registers: per k4 step, `NB` panel loads, `MR` broadcasts and
/// `MR · NB` `vpdpbusd`. A macro, so that it is expanded inside each
/// `target_feature` function (a helper function would not be inlined).
/// Callers guarantee the reads (see their contracts).
macro_rules! zmm_accumulate {
    ($mr:expr, $nb:expr, $kp4:expr, $a:expr, $lda:expr, $b:expr, $ldb:expr) => {{
        let mut acc = [[_mm512_setzero_si512(); $nb]; $mr];
        zmm_accumulate_into!(acc, $nb, $kp4, $a, $lda, $b, $ldb);
        acc
    }};
}

/// [`zmm_accumulate`] adding into the tile `$acc` (`[[__m512i; NB]; MR]`).
macro_rules! zmm_accumulate_into {
    ($acc:ident, $nb:expr, $kp4:expr, $a:expr, $lda:expr, $b:expr, $ldb:expr) => {{
        for k in 0..$kp4 {
            // SAFETY: `k < kp4`, so these reads are inside the panel and the
            // rows the caller guarantees (see the function's contract).
            unsafe {
                let bp = $b.add(k * $ldb);
                let mut bv = [_mm512_setzero_si512(); $nb];
                for (j, v) in bv.iter_mut().enumerate() {
                    *v = _mm512_loadu_si512(bp.add(64 * j) as *const _);
                }
                for (r, row) in $acc.iter_mut().enumerate() {
                    let quad = ($a.add(r * $lda + 4 * k) as *const i32).read_unaligned();
                    let av = _mm512_set1_epi32(quad);
                    for (j, v) in row.iter_mut().enumerate() {
                        *v = _mm512_dpbusd_epi32(*v, av, bv[j]);
                    }
                }
            }
        }
    }};
}

/// The zmm kernel body: `MR` rows, `NB` registers of 16 columns.
///
/// # Safety
/// The host must have AVX512F, AVX512BW and AVX512VNNI. `a` must be
/// readable for `MR` rows of `lda` bytes with `4 · kp4 ≤ lda`; `b` for
/// `kp4` groups of `ldb` bytes with `64 · NB ≤ ldb`; `c` writable for `MR`
/// rows of `ldc` i32 with `16 · NB ≤ ldc`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn zmm_tile<const MR: usize, const NB: usize>(
    kp4: usize,
    a: *const u8,
    lda: usize,
    b: *const i8,
    ldb: usize,
    c: *mut i32,
    ldc: usize,
) {
    let acc = zmm_accumulate!(MR, NB, kp4, a, lda, b, ldb);
    for (r, row) in acc.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            // SAFETY: inside the `MR × 16·NB` tile the caller owns.
            unsafe { _mm512_storeu_si512(c.add(r * ldc + 16 * j) as *mut _, *v) };
        }
    }
}

/// The ymm kernel body: `MR` rows, `NB` blocks of 16 columns, each block two
/// ymm accumulators per row (so at most 8 accumulators live at once).
///
/// # Safety
/// The host must have AVX2 and AVX-VNNI; pointers as for [`zmm_tile`].
#[target_feature(enable = "avx2,avxvnni")]
unsafe fn ymm_tile<const MR: usize, const NB: usize>(
    kp4: usize,
    a: *const u8,
    lda: usize,
    b: *const i8,
    ldb: usize,
    c: *mut i32,
    ldc: usize,
) {
    for j in 0..NB {
        let mut acc = [[_mm256_setzero_si256(); 2]; MR];
        for k in 0..kp4 {
            // SAFETY: inside the panel and rows (see the contract).
            unsafe {
                let bp = b.add(k * ldb + 64 * j);
                let b0 = _mm256_loadu_si256(bp as *const __m256i);
                let b1 = _mm256_loadu_si256(bp.add(32) as *const __m256i);
                for (r, row) in acc.iter_mut().enumerate() {
                    let quad = (a.add(r * lda + 4 * k) as *const i32).read_unaligned();
                    let av = _mm256_set1_epi32(quad);
                    row[0] = _mm256_dpbusd_avx_epi32(row[0], av, b0);
                    row[1] = _mm256_dpbusd_avx_epi32(row[1], av, b1);
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            // SAFETY: inside the tile the caller owns.
            unsafe {
                let cp = c.add(r * ldc + 16 * j);
                _mm256_storeu_si256(cp as *mut __m256i, row[0]);
                _mm256_storeu_si256(cp.add(8) as *mut __m256i, row[1]);
            }
        }
    }
}

/// k4 groups per chunk of [`avx2_tile`]'s split activation rows.
const AVX2_KC: usize = 64;

/// The AVX2 kernel body: the tiles of [`ymm_tile`] without VNNI. Each 4-way
/// dot of a u8 quad `a` and an i8 quad `b` is split by byte parity: the even
/// bytes of each 16-bit lane widened to i16 (`a & 0xff`, `(b << 8) >> 8`)
/// and the odd ones (`a >> 8` logical, `b >> 8` arithmetic), then
/// `vpmaddwd` of the even pairs plus `vpmaddwd` of the odd pairs is
/// `a0·b0 + a2·b2 + a1·b1 + a3·b3` in i32, exactly (`|255 · −128 · 2| <
/// 2^31`; no i16 sum is formed, unlike `vpmaddubsw`, which saturates).
///
/// The activation rows are split once per chunk of [`AVX2_KC`] k4 groups
/// into two stack arrays (even and odd halves, one dword per k4, ready to
/// broadcast); then each 8-column half block keeps `MR` accumulators, two
/// split panel registers and two broadcasts live (at most 10 of the 16 ymm
/// registers), the partial sums of later chunks added to the tile in `c`.
///
/// # Safety
/// The host must have AVX2; pointers as for [`zmm_tile`].
#[target_feature(enable = "avx2")]
unsafe fn avx2_tile<const MR: usize, const NB: usize>(
    kp4: usize,
    a: *const u8,
    lda: usize,
    b: *const i8,
    ldb: usize,
    c: *mut i32,
    ldc: usize,
) {
    let low = _mm256_set1_epi16(0xff);
    let mut even = [[0u32; AVX2_KC]; MR];
    let mut odd = [[0u32; AVX2_KC]; MR];
    let mut kc = 0;
    while kc < kp4 {
        let n = (kp4 - kc).min(AVX2_KC);
        for r in 0..MR {
            // SAFETY: k4 groups `kc .. kc + n ≤ kp4` of row `r` (the contract).
            let row = unsafe { a.add(r * lda + 4 * kc) };
            let mut k = 0;
            while k + 8 <= n {
                // SAFETY: 8 groups inside the row; `k + 8 ≤ n ≤ AVX2_KC`.
                unsafe {
                    let v = _mm256_loadu_si256(row.add(4 * k) as *const __m256i);
                    _mm256_storeu_si256(
                        even[r].as_mut_ptr().add(k) as *mut __m256i,
                        _mm256_and_si256(v, low),
                    );
                    _mm256_storeu_si256(
                        odd[r].as_mut_ptr().add(k) as *mut __m256i,
                        _mm256_srli_epi16(v, 8),
                    );
                }
                k += 8;
            }
            for k in k..n {
                // SAFETY: group `kc + k < kp4` of the row.
                let q = unsafe { (row.add(4 * k) as *const u32).read_unaligned() };
                even[r][k] = q & 0x00ff_00ff;
                odd[r][k] = (q >> 8) & 0x00ff_00ff;
            }
        }
        if MR == 1 {
            // One row (GEMV): all `2 · NB` half blocks in one pass over the
            // panel, so each panel row is read once (the panel does not fit
            // L1 at large k).
            let mut acc = [_mm256_setzero_si256(); 8];
            for k in 0..n {
                // SAFETY: group `kc + k < kp4` of the panel, its `16 · NB`
                // columns inside `ldb`; the split row holds `n` groups.
                unsafe {
                    let ae = _mm256_set1_epi32(*even[0].get_unchecked(k) as i32);
                    let ao = _mm256_set1_epi32(*odd[0].get_unchecked(k) as i32);
                    let bp = b.add((kc + k) * ldb);
                    for (h, v) in acc.iter_mut().enumerate().take(2 * NB) {
                        let bv = _mm256_loadu_si256(bp.add(32 * h) as *const __m256i);
                        let be = _mm256_srai_epi16(_mm256_slli_epi16(bv, 8), 8);
                        let bo = _mm256_srai_epi16(bv, 8);
                        *v = _mm256_add_epi32(*v, _mm256_madd_epi16(ae, be));
                        *v = _mm256_add_epi32(*v, _mm256_madd_epi16(ao, bo));
                    }
                }
            }
            for (h, v) in acc.iter().enumerate().take(2 * NB) {
                // SAFETY: inside the tile the caller owns (row 0).
                unsafe {
                    let cp = c.add(8 * h) as *mut __m256i;
                    let sum = if kc == 0 {
                        *v
                    } else {
                        _mm256_add_epi32(_mm256_loadu_si256(cp), *v)
                    };
                    _mm256_storeu_si256(cp, sum);
                }
            }
            kc += n;
            continue;
        }
        for h in 0..2 * NB {
            let mut acc = [_mm256_setzero_si256(); MR];
            for k in 0..n {
                // SAFETY: group `kc + k < kp4` of the panel, its 8 columns
                // `8·h ..` inside `64 · NB ≤ ldb` bytes; the split rows hold
                // `n` groups.
                unsafe {
                    let bv = _mm256_loadu_si256(b.add((kc + k) * ldb + 32 * h) as *const __m256i);
                    let be = _mm256_srai_epi16(_mm256_slli_epi16(bv, 8), 8);
                    let bo = _mm256_srai_epi16(bv, 8);
                    for (r, v) in acc.iter_mut().enumerate() {
                        let ae = _mm256_set1_epi32(*even[r].get_unchecked(k) as i32);
                        let ao = _mm256_set1_epi32(*odd[r].get_unchecked(k) as i32);
                        *v = _mm256_add_epi32(*v, _mm256_madd_epi16(ae, be));
                        *v = _mm256_add_epi32(*v, _mm256_madd_epi16(ao, bo));
                    }
                }
            }
            for (r, v) in acc.iter().enumerate() {
                // SAFETY: inside the tile the caller owns.
                unsafe {
                    let cp = c.add(r * ldc + 8 * h) as *mut __m256i;
                    let sum = if kc == 0 {
                        *v
                    } else {
                        _mm256_add_epi32(_mm256_loadu_si256(cp), *v)
                    };
                    _mm256_storeu_si256(cp, sum);
                }
            }
        }
        kc += n;
    }
}

/// `match (mr, nb)` over every tile shape (`1..=6` rows, `1..=4`
/// registers of 16 columns), instantiating the generic entry point `$f`
/// (with the extra const arguments) for each.
macro_rules! tile_table {
    ($f:ident, $mr:expr, $nb:expr $(, $extra:expr)*) => {
        match ($mr, $nb) {
            (1, 1) => $f::<1, 1 $(, $extra)*>, (1, 2) => $f::<1, 2 $(, $extra)*>,
            (1, 3) => $f::<1, 3 $(, $extra)*>, (1, 4) => $f::<1, 4 $(, $extra)*>,
            (2, 1) => $f::<2, 1 $(, $extra)*>, (2, 2) => $f::<2, 2 $(, $extra)*>,
            (2, 3) => $f::<2, 3 $(, $extra)*>, (2, 4) => $f::<2, 4 $(, $extra)*>,
            (3, 1) => $f::<3, 1 $(, $extra)*>, (3, 2) => $f::<3, 2 $(, $extra)*>,
            (3, 3) => $f::<3, 3 $(, $extra)*>, (3, 4) => $f::<3, 4 $(, $extra)*>,
            (4, 1) => $f::<4, 1 $(, $extra)*>, (4, 2) => $f::<4, 2 $(, $extra)*>,
            (4, 3) => $f::<4, 3 $(, $extra)*>, (4, 4) => $f::<4, 4 $(, $extra)*>,
            (5, 1) => $f::<5, 1 $(, $extra)*>, (5, 2) => $f::<5, 2 $(, $extra)*>,
            (5, 3) => $f::<5, 3 $(, $extra)*>, (5, 4) => $f::<5, 4 $(, $extra)*>,
            (6, 1) => $f::<6, 1 $(, $extra)*>, (6, 2) => $f::<6, 2 $(, $extra)*>,
            (6, 3) => $f::<6, 3 $(, $extra)*>, (6, 4) => $f::<6, 4 $(, $extra)*>,
            (mr, nb) => panic!("no {mr}x{nb} kernel"),
        }
    };
}

/// C-ABI entry point of one zmm tile shape (see [`zmm_tile`]'s contract).
///
/// # Safety
/// As [`zmm_tile`]'s.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe extern "C" fn zmm_entry<const MR: usize, const NB: usize>(
    kp4: usize,
    a: *const u8,
    lda: usize,
    b: *const i8,
    ldb: usize,
    c: *mut i32,
    ldc: usize,
) {
    // SAFETY: same contract as this function's.
    unsafe { zmm_tile::<MR, NB>(kp4, a, lda, b, ldb, c, ldc) }
}

/// C-ABI entry point of one ymm tile shape (see [`ymm_tile`]'s contract).
///
/// # Safety
/// As [`ymm_tile`]'s.
#[target_feature(enable = "avx2,avxvnni")]
unsafe extern "C" fn ymm_entry<const MR: usize, const NB: usize>(
    kp4: usize,
    a: *const u8,
    lda: usize,
    b: *const i8,
    ldb: usize,
    c: *mut i32,
    ldc: usize,
) {
    // SAFETY: same contract as this function's.
    unsafe { ymm_tile::<MR, NB>(kp4, a, lda, b, ldb, c, ldc) }
}

/// C-ABI entry point of one AVX2 tile shape (see [`avx2_tile`]'s contract).
///
/// # Safety
/// As [`avx2_tile`]'s.
#[target_feature(enable = "avx2")]
unsafe extern "C" fn avx2_entry<const MR: usize, const NB: usize>(
    kp4: usize,
    a: *const u8,
    lda: usize,
    b: *const i8,
    ldb: usize,
    c: *mut i32,
    ldc: usize,
) {
    // SAFETY: same contract as this function's.
    unsafe { avx2_tile::<MR, NB>(kp4, a, lda, b, ldb, c, ldc) }
}

pub(super) fn avx2_kernel(mr: usize, nb: usize) -> KernelFn {
    tile_table!(avx2_entry, mr, nb)
}

pub(super) fn zmm_kernel(mr: usize, nb: usize) -> KernelFn {
    tile_table!(zmm_entry, mr, nb)
}

pub(super) fn ymm_kernel(mr: usize, nb: usize) -> KernelFn {
    tile_table!(ymm_entry, mr, nb)
}

/// The fused epilogue parameters (see `super::FusedParams` for the layout
/// of the block `ep` points to).
const EP_HEADER: usize = 8;

/// The zmm kernel with the requantizing epilogue fused into its tile store:
/// the `MR × 16·NB` i32 tile never leaves the registers; each lane gets the
/// zero-point corrections, the saturating bias, the accumulator clamp, the
/// rescale of `MODE` (`0`: float, `1`: single rounding), the output zero
/// point and the output clamp, and is stored as one byte. `FAST` is the form
/// for layers where the compiler proved that the bias addition cannot
/// saturate and the accumulator clamp cannot bind (`FusedParams::fast`): the
/// bias is then part of `colc` and neither step is emitted.
///
/// # Safety
/// As [`zmm_tile`] for `a` and `b`; `ep` points to a block laid out as
/// `super::FusedParams::bytes` describes (header then 10 arrays of `np` i32),
/// with `col0 + 16 · NB ≤ np`; `rs` is null or readable at
/// `row0 .. row0 + MR`; every output position of the valid columns of the
/// tile (`col < ncols`) is writable.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::too_many_arguments)]
unsafe fn zmm_fused<const MR: usize, const NB: usize, const MODE: u8, const FAST: bool>(
    kp4: usize,
    a: *const u8,
    lda: usize,
    b: *const i8,
    ldb: usize,
    out: *mut u8,
    row0: usize,
    col0: usize,
    ep: *const i64,
    rs: *const i32,
) {
    let acc = zmm_accumulate!(MR, NB, kp4, a, lda, b, ldb);
    // SAFETY: the contract of this function covers `fused_store`'s.
    unsafe { fused_store::<MR, NB, MODE, FAST>(acc, out, row0, col0, ep, rs) }
}

/// Signature of the direct convolution's tile kernels (see [`zmm_direct`]):
/// `(taps, ntaps, c4, a, lda, b, ldb, out, row0, col0, ep)`.
pub(super) type DirectKernelFn = unsafe fn(
    *const usize,
    usize,
    usize,
    *const u8,
    usize,
    *const i8,
    usize,
    *mut u8,
    usize,
    usize,
    *const i64,
);

/// One tile of the direct convolution (`super::direct`): `MR` output
/// pixels × `16·NB` channels, the sum over the `ntaps` taps of
/// [`zmm_accumulate`] on a padded HWC image, then [`zmm_fused`]'s store
/// (no row sums). Tap `i` reads the `c4` groups of 4 channels of row `r`
/// at `a + taps[i] + r·lda`, against the `c4` groups of the panel from
/// `b + i·c4·ldb`: the GEMM's `A` rows, read where the image holds them
/// rather than copied out first.
///
/// # Safety
/// The host must have AVX512F/BW/VL/VNNI; `taps` readable for `ntaps`
/// offsets, each row `r < MR` of each tap readable for `4·c4` bytes at
/// `a + taps[i] + r·lda`; `b` readable for `ntaps·c4` groups of `ldb ≥
/// 64·NB` bytes; `out`, `row0`, `col0` and `ep` as for [`zmm_fused`], with
/// the tile's rows consecutive pixels.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::too_many_arguments)]
unsafe fn zmm_direct<const MR: usize, const NB: usize, const MODE: u8, const FAST: bool>(
    taps: *const usize,
    ntaps: usize,
    c4: usize,
    a: *const u8,
    lda: usize,
    b: *const i8,
    ldb: usize,
    out: *mut u8,
    row0: usize,
    col0: usize,
    ep: *const i64,
) {
    let mut acc = [[_mm512_setzero_si512(); NB]; MR];
    for i in 0..ntaps {
        // SAFETY: `i < ntaps` (the contract).
        let at = a.wrapping_add(unsafe { taps.add(i).read() });
        let bt = b.wrapping_add(i * c4 * ldb);
        zmm_accumulate_into!(acc, NB, c4, at, lda, bt, ldb);
    }
    // SAFETY: the contract of this function covers `fused_store`'s.
    unsafe { fused_store::<MR, NB, MODE, FAST>(acc, out, row0, col0, ep, core::ptr::null()) }
}

/// The direct convolution's tile kernel of `mode` (`0` float, `1` single
/// rounding), general or `fast`, for an `mr × 16·nb` tile.
pub(super) fn direct_kernel(mode: u8, fast: bool, mr: usize, nb: usize) -> DirectKernelFn {
    match (mode, fast) {
        (0, false) => tile_table!(zmm_direct, mr, nb, 0, false),
        (0, true) => tile_table!(zmm_direct, mr, nb, 0, true),
        (_, false) => tile_table!(zmm_direct, mr, nb, 1, false),
        (_, true) => tile_table!(zmm_direct, mr, nb, 1, true),
    }
}

/// The requantizing store of an `MR × 16·NB` i32 tile held in registers
/// (see [`zmm_fused`]), shared with the AMX kernels.
///
/// # Safety
/// As [`zmm_fused`] for `out`, `row0`, `col0`, `ep` and `rs`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
pub(super) unsafe fn fused_store<
    const MR: usize,
    const NB: usize,
    const MODE: u8,
    const FAST: bool,
>(
    mut acc: [[__m512i; NB]; MR],
    out: *mut u8,
    row0: usize,
    col0: usize,
    ep: *const i64,
    rs: *const i32,
) {
    // SAFETY: the header and the tables are inside the block (the contract).
    let h = unsafe { core::slice::from_raw_parts(ep, EP_HEADER) };
    let (np, ncols, pix, img_stride, row_stride, col_stride) = (
        h[0] as usize,
        h[1] as usize,
        h[2] as usize,
        h[3] as usize,
        h[4] as usize,
        h[5] as usize,
    );
    // SAFETY: past the header, 10 arrays of `np` i32.
    let tab = unsafe { (ep.add(EP_HEADER) as *const i32).add(col0) };
    // SAFETY: `t < 10` and `col0 + 16·NB ≤ np`: inside the array.
    let ld =
        |t: usize, j: usize| unsafe { _mm512_loadu_si512(tab.add(t * np + 16 * j) as *const _) };
    let has_rs = !rs.is_null();
    let mut rows = [0i32; MR];
    if has_rs {
        for (r, v) in rows.iter_mut().enumerate() {
            // SAFETY: `rs` is readable for the tile's rows (the contract).
            *v = unsafe { rs.add(row0 + r).read() };
        }
    }
    // One division per tile (none for a matmul, one "image":
    // `img_stride = 0`), then the rows step through the image.
    let (mut img, mut at) = if img_stride == 0 {
        (0, row0)
    } else {
        (row0 / pix, row0 % pix)
    };
    // Whether the tile's rows are consecutive pixels of one image.
    let one_image = img_stride == 0 || at + MR <= pix;
    let mut obase = [out; MR];
    for o in obase.iter_mut() {
        *o = out.wrapping_add(img * img_stride + at * row_stride);
        at += 1;
        if img_stride != 0 && at == pix {
            (img, at) = (img + 1, 0);
        }
    }
    let signed_out = h[6] != 0;
    // The add stage (`super::AddStage`), after the 10 arrays.
    let has_add = h[7] & 1 != 0;
    let has_lut = h[7] & 2 != 0;
    // SAFETY: with `has_add`, the block holds 8 i64 and `np` f32 past the
    // arrays (the contract).
    let add_at = unsafe { (ep.add(EP_HEADER) as *const i32).add(10 * np) as *const i64 };
    let add_h: [i64; 6] = if has_add {
        // SAFETY: as above.
        core::array::from_fn(|i| unsafe { add_at.add(i).read() })
    } else {
        [0; 6]
    };
    let add_v = [
        _mm512_set1_epi32(add_h[0] as i32),
        _mm512_set1_epi32(add_h[1] as i32),
        _mm512_set1_epi32(add_h[2] as i32),
        _mm512_set1_epi32(add_h[3] as i32),
        _mm512_set1_epi32(add_h[4] as i32),
        _mm512_set1_epi32(add_h[5] as i32),
    ];
    // SAFETY: `col0 + 16·NB ≤ np`: inside the `cb` array.
    let ld_cb =
        |j: usize| unsafe { _mm512_loadu_ps((add_at.add(8) as *const f32).add(col0 + 16 * j)) };
    // The requantized lanes of `v` (row `r`), as i32 within the output
    // range; `t` holds the ten per-column vectors of its column block.
    let epi = |r: usize, v: __m512i, t: &[__m512i; 10]| -> __m512i {
        let mut v = v;
        if has_rs {
            let t = _mm512_mullo_epi32(_mm512_set1_epi32(rows[r]), t[1]);
            v = _mm512_sub_epi32(v, t);
        }
        // SAFETY: same features as this function.
        unsafe { requant_lanes::<MODE, FAST>(v, t) }
    };
    // Column block by column block: its tables are loaded once, and the
    // results replace the accumulators (no register beyond the tile's).
    for j in 0..NB {
        let t: [__m512i; 10] = core::array::from_fn(|t| {
            if FAST && matches!(t, 2..=4) || MODE == 0 && t == 9 {
                _mm512_setzero_si512()
            } else {
                ld(t, j)
            }
        });
        for (r, row) in acc.iter_mut().enumerate() {
            row[j] = epi(r, row[j], &t);
        }
        if has_add {
            let cb = ld_cb(j);
            for row in acc.iter_mut() {
                // SAFETY: same features as this function.
                row[j] = unsafe { add_lanes(row[j], cb, &add_v) };
            }
        }
    }
    if has_lut {
        // The table's 256 bytes end the block: past the add stage's 8 i64
        // and `np` f32 when it is there, else past the arrays.
        let lut = if has_add {
            // SAFETY: inside the block (the contract).
            unsafe { (add_at.add(8) as *const u8).add(4 * np) }
        } else {
            add_at as *const u8
        };
        // SAFETY: the host has AVX512-VBMI (the fusion is only planned
        // there, `super::has_fused_lookup`) and the 256 bytes are readable.
        unsafe { lut_tile::<MR, NB>(&mut acc, lut, signed_out) };
    }
    if NB == 4 && col_stride == 1 && col0 + 64 <= ncols {
        // A full row of 64 contiguous bytes: pack the four vectors (exact,
        // every lane is within the output range) and store once.
        let idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        for (row, o) in acc.iter().zip(&obase) {
            let ab = _mm512_packs_epi32(row[0], row[1]);
            let cd = _mm512_packs_epi32(row[2], row[3]);
            let bytes = if signed_out {
                _mm512_packs_epi16(ab, cd)
            } else {
                _mm512_packus_epi16(ab, cd)
            };
            let y = _mm512_permutexvar_epi32(idx, bytes);
            // SAFETY: the 64 bytes at `o + col0` are output positions of
            // this tile (the contract; all 64 columns are valid).
            unsafe { _mm512_storeu_si512(o.wrapping_add(col0) as *mut _, y) };
        }
        return;
    }
    // Channels-first output (a convolution's NCHW: `col_stride` = the
    // image's pixels) with the tile's rows consecutive pixels of one image:
    // each column's MR bytes are contiguous, so they are gathered and
    // stored together (16 stores per column block, not 16·MR).
    if col_stride != 1 && row_stride == 1 && one_image {
        #[allow(clippy::needless_range_loop)] // `j` picks a register of every row
        for j in 0..NB {
            let col = col0 + 16 * j;
            if col >= ncols {
                break;
            }
            let valid = (ncols - col).min(16);
            let rows: [__m128i; MR] = core::array::from_fn(|r| _mm512_cvtepi32_epi8(acc[r][j]));
            let o = obase[0].wrapping_add(col * col_stride);
            // SAFETY: the MR bytes at `o + l·col_stride` (`l < valid`) are
            // the output positions of column `col + l` for the tile's
            // consecutive rows (the contract; `row_stride` = 1 within one
            // image).
            unsafe { store_columns::<MR>(rows, o, col_stride, valid) };
        }
        return;
    }
    for j in 0..NB {
        let col = col0 + 16 * j;
        if col >= ncols {
            break;
        }
        let valid = (ncols - col).min(16);
        let mask: __mmask16 = if valid == 16 {
            0xffff
        } else {
            (1u16 << valid) - 1
        };
        for (row, &ob) in acc.iter().zip(&obase) {
            let y = row[j];
            let o = ob.wrapping_add(col * col_stride);
            if col_stride == 1 {
                // SAFETY: the `valid` bytes at `o` are output positions of
                // this tile (the contract).
                unsafe { store_bytes16(o, mask, y) };
            } else {
                let mut tmp = [0u8; 16];
                // SAFETY: `tmp` holds 16 bytes.
                unsafe { _mm512_mask_cvtepi32_storeu_epi8(tmp.as_mut_ptr() as *mut _, 0xffff, y) };
                for (l, &t) in tmp.iter().enumerate().take(valid) {
                    // SAFETY: an output position of the tile (the contract).
                    unsafe { o.wrapping_add(l * col_stride).write(t) };
                }
            }
        }
    }
}

/// The lookup stage of a fused store: every lane `v` of the tile (a code
/// within the previous stage's 8-bit range) becomes `lut[byte(v)]`,
/// sign-extended when `signed` (the table's storage), else zero-extended.
/// Once per tile, not inlined: the callers need not have VBMI.
///
/// # Safety
/// The host must have AVX512F/BW and VBMI; `lut` readable for 256 bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi")]
#[inline(never)]
unsafe fn lut_tile<const MR: usize, const NB: usize>(
    acc: &mut [[__m512i; NB]; MR],
    lut: *const u8,
    signed: bool,
) {
    // SAFETY: 4 × 64 readable bytes (the contract).
    let t: [__m512i; 4] =
        core::array::from_fn(|i| unsafe { _mm512_loadu_si512(lut.add(64 * i) as *const _) });
    for row in acc.iter_mut() {
        for v in row.iter_mut() {
            // SAFETY: same features.
            *v = unsafe { lut_lanes(*v, &t, signed) };
        }
    }
}

/// 16 lanes `v` (codes within an 8-bit range) through the 256-byte table
/// `t`: `t[byte(v)]`, sign-extended when `signed`, else zero-extended.
///
/// # Safety
/// The host must have AVX512F/BW and VBMI.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi")]
#[inline]
unsafe fn lut_lanes(v: __m512i, t: &[__m512i; 4], signed: bool) -> __m512i {
    // The low byte of each lane: the code's stored byte; its bit 7 picks
    // the table's upper half.
    let idx = _mm512_castsi128_si512(_mm512_cvtepi32_epi8(v));
    let lo = _mm512_permutex2var_epi8(t[0], idx, t[1]);
    let hi = _mm512_permutex2var_epi8(t[2], idx, t[3]);
    let y = _mm512_castsi512_si128(_mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), lo, hi));
    if signed {
        _mm512_cvtepi8_epi32(y)
    } else {
        _mm512_cvtepu8_epi32(y)
    }
}

/// The add stage of a fused store (`super::AddStage`) on 16 requantized
/// lanes `q`: `p = [mx, zx, zy, lo − zy, hi − zy, NaN result]` (f32 bits
/// where f32), `cb` the lanes' constant products.
///
/// # Safety
/// The host must have AVX512F.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
unsafe fn add_lanes(q: __m512i, cb: __m512, p: &[__m512i; 6]) -> __m512i {
    let d = _mm512_cvtepi32_ps(_mm512_sub_epi32(q, p[1]));
    // Two roundings, as the formula: the product, then the sum.
    let s = _mm512_add_ps(_mm512_mul_ps(d, _mm512_castsi512_ps(p[0])), cb);
    let ord = _mm512_cmp_ps_mask::<_CMP_ORD_Q>(s, s);
    let r = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(s);
    let r = _mm512_min_ps(
        _mm512_max_ps(r, _mm512_castsi512_ps(p[3])),
        _mm512_castsi512_ps(p[4]),
    );
    let y = _mm512_add_epi32(_mm512_cvtps_epi32(r), p[2]);
    _mm512_mask_mov_epi32(p[5], ord, y)
}

/// Stores an `MR × 16` byte block transposed: byte `l` of `rows[r]` goes
/// to `dst + l·stride + r`, for the first `valid` columns `l` (an 8×16
/// transpose by three rounds of unpacks, rows past `MR` zero, then `MR`
/// bytes per column).
///
/// # Safety
/// The host must have SSE4.1; the `MR` bytes at `dst + l·stride` writable
/// for every `l < valid`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
unsafe fn store_columns<const MR: usize>(
    rows: [__m128i; MR],
    dst: *mut u8,
    stride: usize,
    valid: usize,
) {
    const { assert!(MR <= 8) };
    let r: [__m128i; 8] =
        core::array::from_fn(|i| if i < MR { rows[i] } else { _mm_setzero_si128() });
    // Bytes of row pairs, then 16-bit pairs, then 32-bit: `v[c / 2]` holds
    // column `c`'s eight rows in its 64-bit lane `c % 2`.
    let t: [__m128i; 8] = core::array::from_fn(|i| {
        let (a, b) = (r[2 * (i / 2)], r[2 * (i / 2) + 1]);
        if i % 2 == 0 {
            _mm_unpacklo_epi8(a, b)
        } else {
            _mm_unpackhi_epi8(a, b)
        }
    });
    // u[0..4]: rows 0–3 of columns 0–3, 4–7, 8–11, 12–15; u[4..8]: rows 4–7.
    let u: [__m128i; 8] = core::array::from_fn(|i| {
        let base = if i < 4 { 0 } else { 4 };
        let q = i % 4;
        let (a, b) = (t[base + q / 2], t[base + 2 + q / 2]);
        if q % 2 == 0 {
            _mm_unpacklo_epi16(a, b)
        } else {
            _mm_unpackhi_epi16(a, b)
        }
    });
    let v: [__m128i; 8] = core::array::from_fn(|i| {
        let (a, b) = (u[i / 2], u[4 + i / 2]);
        if i % 2 == 0 {
            _mm_unpacklo_epi32(a, b)
        } else {
            _mm_unpackhi_epi32(a, b)
        }
    });
    for l in 0..valid.min(16) {
        let x = if l % 2 == 0 {
            _mm_cvtsi128_si64(v[l / 2])
        } else {
            _mm_extract_epi64::<1>(v[l / 2])
        };
        let bytes = x.to_le_bytes();
        // SAFETY: `MR ≤ 8` bytes of `bytes`; the destination is writable
        // (the contract).
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), dst.wrapping_add(l * stride), MR) };
    }
}

/// Stores the low bytes of the 16 lanes of `y` (each within the byte's
/// range) to the first `mask` positions at `dst`: a register narrowing and
/// a plain or masked 16-byte store (the narrowing store with a mask is
/// several times slower on Intel cores).
///
/// # Safety
/// The host must have AVX512F/BW/VL; the bytes of `mask` at `dst` writable.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
unsafe fn store_bytes16(dst: *mut u8, mask: __mmask16, y: __m512i) {
    let b = _mm512_cvtepi32_epi8(y);
    // SAFETY: the contract.
    unsafe {
        if mask == 0xffff {
            _mm_storeu_si128(dst as *mut __m128i, b);
        } else {
            _mm_mask_storeu_epi8(dst as *mut i8, mask, b);
        }
    }
}

/// The fused requantization of 16 lanes of the exact accumulator less the
/// row-sum term: `+ colc`, then (unless `FAST`) the saturating bias and the
/// accumulator clamp, the rescale of `MODE`, the output clamp and zero
/// point. `t` holds the ten per-lane parameter vectors in the order of
/// `super::FusedParams::bytes` (`colc, zw, bc, lo, hi, m, flo, fhi, zo, s`).
///
/// # Safety
/// The host must have AVX512F/BW.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
pub(super) unsafe fn requant_lanes<const MODE: u8, const FAST: bool>(
    v: __m512i,
    t: &[__m512i; 10],
) -> __m512i {
    let [colc, _zw, bc, lo, hi, m, flo, fhi, zo, sv] = *t;
    let v = _mm512_add_epi32(v, colc);
    let d = if FAST {
        v
    } else {
        // Saturating `v + bc`: on overflow both operands have the sign
        // the sum lacks.
        let s = _mm512_add_epi32(v, bc);
        let ov = _mm512_and_si512(_mm512_xor_si512(v, s), _mm512_xor_si512(bc, s));
        let ovm = _mm512_cmplt_epi32_mask(ov, _mm512_setzero_si512());
        let satv = _mm512_xor_si512(_mm512_srai_epi32(v, 31), _mm512_set1_epi32(i32::MAX));
        let s = _mm512_mask_mov_epi32(s, ovm, satv);
        _mm512_min_epi32(_mm512_max_epi32(s, lo), hi)
    };
    let q = if MODE == 0 {
        // round_half_even(f32(d) · M), clamped (in float: exact, the
        // bounds are integers) to the output range less `zo`.
        let p = _mm512_mul_ps(_mm512_cvtepi32_ps(d), _mm512_castsi512_ps(m));
        let p = _mm512_min_ps(
            _mm512_max_ps(p, _mm512_castsi512_ps(flo)),
            _mm512_castsi512_ps(fhi),
        );
        _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(p)
    } else {
        // (d · m + 2^(s−1)) >> s in i64, even and odd lanes apart.
        let one = _mm512_set1_epi64(1);
        let lo64 = _mm512_set1_epi64(0xffff_ffff);
        let half = |sh: __m512i| _mm512_srli_epi64::<1>(_mm512_sllv_epi64(one, sh));
        let lane = |dv: __m512i, mv: __m512i, sv: __m512i, fl: __m512i, fh: __m512i| {
            let sh = _mm512_and_si512(sv, lo64);
            let p = _mm512_mul_epi32(dv, mv);
            let p = _mm512_add_epi64(p, half(sh));
            let p = _mm512_srav_epi64(p, sh);
            // Bounds: sign-extend the 32-bit lane.
            let fl = _mm512_srai_epi64::<32>(_mm512_slli_epi64::<32>(fl));
            let fh = _mm512_srai_epi64::<32>(_mm512_slli_epi64::<32>(fh));
            _mm512_min_epi64(_mm512_max_epi64(p, fl), fh)
        };
        let even = lane(d, m, sv, flo, fhi);
        let odd = lane(
            _mm512_srli_epi64::<32>(d),
            _mm512_srli_epi64::<32>(m),
            _mm512_srli_epi64::<32>(sv),
            _mm512_srli_epi64::<32>(flo),
            _mm512_srli_epi64::<32>(fhi),
        );
        _mm512_or_si512(_mm512_and_si512(even, lo64), _mm512_slli_epi64::<32>(odd))
    };
    _mm512_add_epi32(q, zo)
}

/// C-ABI entry point of one fused tile shape (see [`zmm_fused`]'s
/// contract).
///
/// # Safety
/// As [`zmm_fused`]'s.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn fused_entry<
    const MR: usize,
    const NB: usize,
    const MODE: u8,
    const FAST: bool,
>(
    kp4: usize,
    a: *const u8,
    lda: usize,
    b: *const i8,
    ldb: usize,
    out: *mut u8,
    row0: usize,
    col0: usize,
    ep: *const i64,
    rs: *const i32,
) {
    // SAFETY: same contract as this function's.
    unsafe { zmm_fused::<MR, NB, MODE, FAST>(kp4, a, lda, b, ldb, out, row0, col0, ep, rs) }
}

/// The fused kernel of `mode` (`0` float, `1` single rounding), in its
/// general or its `fast` form (see [`zmm_fused`]).
pub(super) fn zmm_fused_kernel(mode: u8, fast: bool, mr: usize, nb: usize) -> super::FusedKernelFn {
    match (mode, fast) {
        (0, false) => tile_table!(fused_entry, mr, nb, 0, false),
        (0, true) => tile_table!(fused_entry, mr, nb, 0, true),
        (_, false) => tile_table!(fused_entry, mr, nb, 1, false),
        (_, true) => tile_table!(fused_entry, mr, nb, 1, true),
    }
}

/// `super::qcc_pack_rows` with AVX-512: 64 bytes per step (sign flip by
/// `xor`, row sums by `vpsadbw`), the last partial step masked.
///
/// # Safety
/// The host must have AVX512F and AVX512BW; the pointers as
/// `super::qcc_pack_rows` requires (`kp` a multiple of 4, `k ≤ kp < k + 4`).
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn pack_rows_zmm(
    x: *const u8,
    rows: usize,
    k: usize,
    kp: usize,
    flip: bool,
    a: *mut u8,
    rs: *mut i32,
) {
    let f = _mm512_set1_epi8(if flip { 0x80u8 as i8 } else { 0 });
    let zero = _mm512_setzero_si512();
    for r in 0..rows {
        // SAFETY: row `r < rows` of both buffers (the contract).
        let (s, d) = unsafe { (x.add(r * k), a.add(r * kp)) };
        let mut sum = _mm512_setzero_si512();
        let mut i = 0;
        while i + 64 <= k {
            // SAFETY: bytes `i .. i + 64 ≤ k` of the row.
            unsafe {
                let v = _mm512_xor_si512(_mm512_loadu_si512(s.add(i) as *const _), f);
                _mm512_storeu_si512(d.add(i) as *mut _, v);
                sum = _mm512_add_epi64(sum, _mm512_sad_epu8(v, zero));
            }
            i += 64;
        }
        if i < kp {
            // `kp − i` is a multiple of 4 below 64 + 4, so at most 64.
            let (nk, nkp) = (k - i, kp - i);
            let mk: u64 = if nk >= 64 { !0 } else { (1u64 << nk) - 1 };
            let mkp: u64 = if nkp >= 64 { !0 } else { (1u64 << nkp) - 1 };
            // SAFETY: the masked lanes are bytes `i .. k` of the source row and
            // `i .. kp` of the destination row.
            unsafe {
                let v = _mm512_maskz_loadu_epi8(mk, s.add(i) as *const i8);
                let v = _mm512_maskz_mov_epi8(mk, _mm512_xor_si512(v, f));
                _mm512_mask_storeu_epi8(d.add(i) as *mut i8, mkp, v);
                sum = _mm512_add_epi64(sum, _mm512_sad_epu8(v, zero));
            }
        }
        if !rs.is_null() {
            // SAFETY: `r < rows` (the contract).
            unsafe { rs.add(r).write(_mm512_reduce_add_epi64(sum) as i32) };
        }
    }
}

/// `super::qcc_requant_f32` with AVX-512: 16 lanes per step, the tail
/// masked.
///
/// # Safety
/// The host must have AVX512F and AVX512BW; the pointers as
/// `super::qcc_requant_f32` requires.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn requant_f32_zmm(
    x: *const i32,
    outer: usize,
    ch: usize,
    inner: usize,
    tab: *const i32,
    out: *mut u8,
) {
    let one_lane = |t: usize, c: usize| -> __m512i {
        // SAFETY: `t < 4`, `c < ch`: inside the table.
        _mm512_set1_epi32(unsafe { tab.add(t * ch + c).read() })
    };
    let step = |src: *const i32, dst: *mut u8, mask: __mmask16, p: [__m512i; 4]| {
        // SAFETY: the masked lanes are elements of `x` and `out` (the
        // contract of the callers below).
        unsafe {
            let d = _mm512_maskz_loadu_epi32(mask, src as *const _);
            let v = _mm512_mul_ps(_mm512_cvtepi32_ps(d), _mm512_castsi512_ps(p[0]));
            let v = _mm512_min_ps(
                _mm512_max_ps(v, _mm512_castsi512_ps(p[1])),
                _mm512_castsi512_ps(p[2]),
            );
            let q =
                _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(v);
            let y = _mm512_add_epi32(q, p[3]);
            store_bytes16(dst, mask, y);
        }
    };
    if inner == 1 {
        // Parameters per element along the last axis: vector loads.
        for o in 0..outer {
            let mut c = 0;
            while c < ch {
                let n = (ch - c).min(16);
                let mask: __mmask16 = if n == 16 { 0xffff } else { (1u16 << n) - 1 };
                // SAFETY: lanes `c .. c + n` of the four tables.
                let p = [0, 1, 2, 3].map(|t| unsafe {
                    _mm512_maskz_loadu_epi32(mask, tab.add(t * ch + c) as *const _)
                });
                let i = o * ch + c;
                step(x.wrapping_add(i), out.wrapping_add(i), mask, p);
                c += 16;
            }
        }
    } else {
        for o in 0..outer {
            for c in 0..ch {
                let p = [0, 1, 2, 3].map(|t| one_lane(t, c));
                let base = (o * ch + c) * inner;
                let mut i = 0;
                while i < inner {
                    let n = (inner - i).min(16);
                    let mask: __mmask16 = if n == 16 { 0xffff } else { (1u16 << n) - 1 };
                    step(
                        x.wrapping_add(base + i),
                        out.wrapping_add(base + i),
                        mask,
                        p,
                    );
                    i += 16;
                }
            }
        }
    }
}

/// `super::qcc_gemm_epilogue_i32` with AVX-512: 16 columns per step, the
/// tail masked.
///
/// # Safety
/// The host must have AVX512F; the pointers as
/// `super::qcc_gemm_epilogue_i32` requires.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm_epilogue_zmm(
    c: *const i32,
    np: usize,
    m: usize,
    n: usize,
    rs: *const i32,
    zw: *const i32,
    colc: *const i32,
    bias: *const i32,
    lo: i32,
    hi: i32,
    out: *mut i32,
) {
    let (lov, hiv) = (_mm512_set1_epi32(lo), _mm512_set1_epi32(hi));
    for r in 0..m {
        let rsv = _mm512_set1_epi32(if rs.is_null() {
            0
        } else {
            // SAFETY: `r < m` (the contract).
            unsafe { rs.add(r).read() }
        });
        let mut col = 0;
        while col < n {
            let k = (n - col).min(16);
            let mask: __mmask16 = if k == 16 { 0xffff } else { (1u16 << k) - 1 };
            // SAFETY: the masked lanes are columns `col .. col + k < n` of
            // row `r` and of the tables (the contract).
            unsafe {
                let v = _mm512_maskz_loadu_epi32(mask, c.add(r * np + col) as *const _);
                let z = _mm512_maskz_loadu_epi32(mask, zw.add(col) as *const _);
                let cc = _mm512_maskz_loadu_epi32(mask, colc.add(col) as *const _);
                let v = _mm512_add_epi32(_mm512_sub_epi32(v, _mm512_mullo_epi32(rsv, z)), cc);
                let b = if bias.is_null() {
                    _mm512_setzero_si512()
                } else {
                    _mm512_maskz_loadu_epi32(mask, bias.add(col) as *const _)
                };
                // Saturating `v + b`, then the clamp (within i32): exact.
                let s = _mm512_add_epi32(v, b);
                let ov = _mm512_and_si512(_mm512_xor_si512(v, s), _mm512_xor_si512(b, s));
                let ovm = _mm512_cmplt_epi32_mask(ov, _mm512_setzero_si512());
                let satv = _mm512_xor_si512(_mm512_srai_epi32(v, 31), _mm512_set1_epi32(i32::MAX));
                let s = _mm512_mask_mov_epi32(s, ovm, satv);
                let y = _mm512_min_epi32(_mm512_max_epi32(s, lov), hiv);
                _mm512_mask_storeu_epi32(out.add(r * n + col) as *mut _, mask, y);
            }
            col += 16;
        }
    }
}

/// `super::qcc_depthwise` with AVX-512: per channel plane, a padded copy
/// (the zero point `ua` around it), then 16 output pixels at a time: per
/// kernel row one 64-byte load, one `vpermb` per group of 4 taps that
/// gathers each pixel's taps into a 4-byte group (zeros past the kernel's
/// width), and one `vpdpbusd` with the group's 4 weights broadcast; the i32
/// result, or (`ep` not null) the fused requantize's bytes.
///
/// # Safety
/// The host must have AVX512F/BW/VNNI/VBMI; the pointers as
/// `super::qcc_depthwise` requires.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn depthwise_zmm(
    x: *const u8,
    g: &super::DepthwiseGeometry,
    w4: *const i32,
    colc: *const i32,
    bias: *const i32,
    out: *mut u8,
    tmp: *mut u8,
    ep: *const i64,
    planes: core::ops::Range<usize>,
) {
    macro_rules! go {
        ($kh:expr, $groups:expr) => {
            // SAFETY: the contract of this function.
            unsafe {
                match (g.out_mode, g.fast != 0) {
                    (0, _) => dw::<$kh, $groups, 0, false>(
                        x,
                        g,
                        w4,
                        colc,
                        bias,
                        out,
                        tmp,
                        ep,
                        planes.clone(),
                    ),
                    (1, false) => dw::<$kh, $groups, 1, false>(
                        x,
                        g,
                        w4,
                        colc,
                        bias,
                        out,
                        tmp,
                        ep,
                        planes.clone(),
                    ),
                    (1, true) => dw::<$kh, $groups, 1, true>(
                        x,
                        g,
                        w4,
                        colc,
                        bias,
                        out,
                        tmp,
                        ep,
                        planes.clone(),
                    ),
                    (_, false) => dw::<$kh, $groups, 2, false>(
                        x,
                        g,
                        w4,
                        colc,
                        bias,
                        out,
                        tmp,
                        ep,
                        planes.clone(),
                    ),
                    (_, true) => dw::<$kh, $groups, 2, true>(
                        x,
                        g,
                        w4,
                        colc,
                        bias,
                        out,
                        tmp,
                        ep,
                        planes.clone(),
                    ),
                }
            }
        };
    }
    match (g.kh, g.kw.div_ceil(4)) {
        (3, 1) => go!(3, 1),
        (5, 2) => go!(5, 2),
        (7, 2) => go!(7, 2),
        (1, 1) => go!(1, 1),
        _ => go!(0, 0),
    }
}

/// [`depthwise_zmm`] for `KH` kernel rows of `G` tap groups (`0, 0`: read
/// from the geometry) and output `OUT` (`0`: i32, `1`: fused float
/// requantize, `2`: fused single rounding).
///
/// # Safety
/// As [`depthwise_zmm`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")]
#[allow(clippy::too_many_arguments)]
unsafe fn dw<const KH: usize, const G: usize, const OUT: u8, const FAST: bool>(
    x: *const u8,
    g: &super::DepthwiseGeometry,
    w4: *const i32,
    colc: *const i32,
    bias: *const i32,
    out: *mut u8,
    tmp: *mut u8,
    ep: *const i64,
    planes: core::ops::Range<usize>,
) {
    let kh = if KH == 0 { g.kh } else { KH };
    let groups = if G == 0 { g.kw.div_ceil(4) } else { G };
    // Byte `4 i + q` of group `t`'s index: pixel `i`'s tap `4 t + q`.
    let mut idx = [_mm512_setzero_si512(); 4];
    let mut msk = [0u64; 4];
    for t in 0..groups {
        let mut b = [0u8; 64];
        for i in 0..16 {
            for q in 0..4 {
                let tap = 4 * t + q;
                if tap < g.kw {
                    b[4 * i + q] = (i * g.sw + tap * g.dw) as u8;
                    msk[t] |= 1 << (4 * i + q);
                }
            }
        }
        // SAFETY: 64 bytes.
        idx[t] = unsafe { _mm512_loadu_si512(b.as_ptr() as *const _) };
    }
    let flip = _mm512_set1_epi8(if g.flip != 0 { 0x80u8 as i8 } else { 0 });
    let (lo, hi) = (
        _mm512_set1_epi32(g.lo as i32),
        _mm512_set1_epi32(g.hi as i32),
    );
    let plane = g.hp * g.wp;
    let np = g.c;
    for img in 0..g.n {
        for ch in 0..g.c {
            // Only this call's planes (a thread's share).
            if !planes.contains(&(img * g.c + ch)) {
                continue;
            }
            // SAFETY: `tmp` holds `plane + 64` bytes (the contract).
            unsafe { core::ptr::write_bytes(tmp, g.ua as u8, plane + 64) };
            for y in 0..g.h {
                // SAFETY: row `y` of plane `(img, ch)` of `x`, and row
                // `pt + y` of `tmp` from column `pl` (`pl + w ≤ wp`).
                unsafe {
                    let src = x.add(((img * g.c + ch) * g.h + y) * g.w);
                    let dst = tmp.add((g.pt + y) * g.wp + g.pl);
                    let mut i = 0;
                    while i < g.w {
                        let n = (g.w - i).min(64);
                        let m: u64 = if n == 64 { !0 } else { (1u64 << n) - 1 };
                        let v = _mm512_maskz_loadu_epi8(m, src.add(i) as *const i8);
                        _mm512_mask_storeu_epi8(
                            dst.add(i) as *mut i8,
                            m,
                            _mm512_xor_si512(v, flip),
                        );
                        i += 64;
                    }
                }
            }
            let mut wv = [[_mm512_setzero_si512(); 4]; 16];
            for (ky, row) in wv.iter_mut().enumerate().take(kh) {
                for (t, w) in row.iter_mut().enumerate().take(groups) {
                    // SAFETY: inside the `c · kh · groups` table.
                    *w = _mm512_set1_epi32(unsafe { w4.add((ch * kh + ky) * groups + t).read() });
                }
            }
            // The fused requantize's parameters of the channel, or the
            // i32 epilogue's.
            let tab: [__m512i; 10] = core::array::from_fn(|t| {
                if OUT == 0 {
                    _mm512_setzero_si512()
                } else {
                    // SAFETY: past the 8-i64 header, 10 arrays of `np` i32.
                    _mm512_set1_epi32(unsafe { (ep.add(8) as *const i32).add(t * np + ch).read() })
                }
            });
            // SAFETY: `ch < c`: inside the tables.
            let cc = _mm512_set1_epi32(unsafe { colc.add(ch).read() });
            let bv = _mm512_set1_epi32(if bias.is_null() {
                0
            } else {
                // SAFETY: as above.
                unsafe { bias.add(ch).read() }
            });
            let signed_out = g.signed_out != 0;
            let obase = ((img * g.c + ch) * g.oh) * g.ow;
            // A fused lookup (`FusedParams::lut`): its table after the 10
            // arrays (a depthwise has no add stage).
            // SAFETY: with a fused requantize, the 8-i64 header is there.
            let lut: Option<[__m512i; 4]> = (OUT != 0 && unsafe { ep.add(7).read() } & 2 != 0)
                .then(|| {
                    // SAFETY: the table's 256 bytes end the block.
                    let t = unsafe { (ep.add(8) as *const i32).add(10 * np) as *const u8 };
                    core::array::from_fn(|i| {
                        // SAFETY: inside the table's 256 bytes.
                        unsafe { _mm512_loadu_si512(t.add(64 * i) as *const _) }
                    })
                });
            // The store of 16 accumulators (`n` valid) at output offset `at`.
            let store = |acc: __m512i, at: usize, n: usize| {
                let m: __mmask16 = if n == 16 { 0xffff } else { (1u16 << n) - 1 };
                if OUT == 0 {
                    // Exact in wrapping i32 (the verifier's bound), then the
                    // saturating bias and the clamp, as the GEMM epilogue.
                    let v = _mm512_add_epi32(acc, cc);
                    let s = _mm512_add_epi32(v, bv);
                    let ov = _mm512_and_si512(_mm512_xor_si512(v, s), _mm512_xor_si512(bv, s));
                    let ovm = _mm512_cmplt_epi32_mask(ov, _mm512_setzero_si512());
                    let satv =
                        _mm512_xor_si512(_mm512_srai_epi32(v, 31), _mm512_set1_epi32(i32::MAX));
                    let s = _mm512_mask_mov_epi32(s, ovm, satv);
                    let y = _mm512_min_epi32(_mm512_max_epi32(s, lo), hi);
                    // SAFETY: `n` pixels of a row of output plane `(img,
                    // ch)` (i32 elements).
                    unsafe { _mm512_mask_storeu_epi32((out as *mut i32).add(at) as *mut _, m, y) };
                } else {
                    // SAFETY: same features.
                    let y = unsafe {
                        if OUT == 1 {
                            requant_lanes::<0, FAST>(acc, &tab)
                        } else {
                            requant_lanes::<1, FAST>(acc, &tab)
                        }
                    };
                    let y = match &lut {
                        // SAFETY: same features (VBMI included).
                        Some(t) => unsafe { lut_lanes(y, t, signed_out) },
                        None => y,
                    };
                    // SAFETY: `n` pixels of a row of output plane `(img,
                    // ch)` (bytes; every lane is in range).
                    unsafe { store_bytes16(out.add(at), m, y) };
                }
            };
            // The taps of input row `iy` for the 16 pixels from `ox`.
            let taps = |iy: usize, ox: usize| -> [__m512i; 4] {
                // SAFETY: 64 bytes from column `ox · sw` of row `iy < hp`:
                // inside `tmp` (its rows are `wp ≥ ow16 · sw + 64` bytes,
                // plus 64 after).
                let v = unsafe { _mm512_loadu_si512(tmp.add(iy * g.wp + ox * g.sw) as *const _) };
                core::array::from_fn(|t| {
                    if t < groups {
                        _mm512_maskz_permutexvar_epi8(msk[t], idx[t], v)
                    } else {
                        _mm512_setzero_si512()
                    }
                })
            };
            // Two output rows at a time share their input rows (stride and
            // dilation 1 in height, a specialised kernel height).
            let pair = KH != 0 && g.sh == 1 && g.dh == 1;
            let mut oy = 0;
            while oy < g.oh {
                let rows = if pair && oy + 1 < g.oh { 2 } else { 1 };
                let mut ox = 0;
                while ox < g.ow {
                    let n = (g.ow - ox).min(16);
                    let at = obase + oy * g.ow + ox;
                    if rows == 2 {
                        let mut a0 = _mm512_setzero_si512();
                        let mut a1 = _mm512_setzero_si512();
                        for i in 0..=kh {
                            let p = taps(oy + i, ox);
                            for t in 0..groups {
                                if i < kh {
                                    a0 = _mm512_dpbusd_epi32(a0, p[t], wv[i][t]);
                                }
                                if i > 0 {
                                    a1 = _mm512_dpbusd_epi32(a1, p[t], wv[i - 1][t]);
                                }
                            }
                        }
                        store(a0, at, n);
                        store(a1, at + g.ow, n);
                    } else {
                        let mut acc = _mm512_setzero_si512();
                        for (ky, wk) in wv.iter().enumerate().take(kh) {
                            let p = taps(oy * g.sh + ky * g.dh, ox);
                            for t in 0..groups {
                                acc = _mm512_dpbusd_epi32(acc, p[t], wk[t]);
                            }
                        }
                        store(acc, at, n);
                    }
                    ox += 16;
                }
                oy += rows;
            }
        }
    }
}

/// The low byte of each of the 8 i32 lanes of `y`, stored at `dst` (8 bytes).
///
/// # Safety
/// The host must have AVX2; `dst` writable for 8 bytes.
#[target_feature(enable = "avx2")]
unsafe fn store_bytes8(dst: *mut u8, y: __m256i) {
    let pick = _mm256_setr_epi8(
        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1,
    );
    let b = _mm256_shuffle_epi8(y, pick);
    let b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 1, 1, 1, 1, 1));
    // SAFETY: the contract.
    unsafe { _mm_storel_epi64(dst as *mut __m128i, _mm256_castsi256_si128(b)) };
}

/// One element of `super::qcc_requant_f32` (the tails of the vector loops):
/// the same f32 operations as the lanes.
fn requant_f32_one(d: i32, p: [i32; 4]) -> u8 {
    let v = d as f32 * f32::from_bits(p[0] as u32);
    let v = v
        .max(f32::from_bits(p[1] as u32))
        .min(f32::from_bits(p[2] as u32));
    (v.round_ties_even() as i32).wrapping_add(p[3]) as u8
}

/// `super::qcc_requant_f32` with AVX2: 8 lanes per step, the tail one
/// element at a time with the same f32 operations (`vcvtps2dq` rounds half
/// to even under the default MXCSR, as `round_ties_even`).
///
/// # Safety
/// The host must have AVX2; the pointers as `super::qcc_requant_f32`
/// requires.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn requant_f32_ymm(
    x: *const i32,
    outer: usize,
    ch: usize,
    inner: usize,
    tab: *const i32,
    out: *mut u8,
) {
    let lane = |t: usize, c: usize| {
        // SAFETY: the callers pass `t < 4`, `c < ch`: inside the table.
        unsafe { tab.add(t * ch + c).read() }
    };
    let step = |src: *const i32, dst: *mut u8, p: [__m256i; 4]| {
        // SAFETY: 8 elements of `x` and `out` (the callers' bounds).
        unsafe {
            let d = _mm256_loadu_si256(src as *const __m256i);
            let v = _mm256_mul_ps(_mm256_cvtepi32_ps(d), _mm256_castsi256_ps(p[0]));
            let v = _mm256_min_ps(
                _mm256_max_ps(v, _mm256_castsi256_ps(p[1])),
                _mm256_castsi256_ps(p[2]),
            );
            let y = _mm256_add_epi32(_mm256_cvtps_epi32(v), p[3]);
            store_bytes8(dst, y);
        }
    };
    for o in 0..outer {
        if inner == 1 {
            // Parameters per element along the last axis: vector loads.
            let mut c = 0;
            while c + 8 <= ch {
                // SAFETY: lanes `c .. c + 8 ≤ ch` of the four tables.
                let p = [0, 1, 2, 3]
                    .map(|t| unsafe { _mm256_loadu_si256(tab.add(t * ch + c) as *const __m256i) });
                let i = o * ch + c;
                step(x.wrapping_add(i), out.wrapping_add(i), p);
                c += 8;
            }
            for c in c..ch {
                let i = o * ch + c;
                // SAFETY: element `i` of `x` and `out`.
                unsafe {
                    *out.add(i) = requant_f32_one(x.add(i).read(), [0, 1, 2, 3].map(|t| lane(t, c)))
                };
            }
        } else {
            for c in 0..ch {
                let ps = [0, 1, 2, 3].map(|t| lane(t, c));
                let p = ps.map(|v| _mm256_set1_epi32(v));
                let base = (o * ch + c) * inner;
                let mut i = 0;
                while i + 8 <= inner {
                    step(x.wrapping_add(base + i), out.wrapping_add(base + i), p);
                    i += 8;
                }
                for i in i..inner {
                    // SAFETY: element `base + i` of `x` and `out`.
                    unsafe { *out.add(base + i) = requant_f32_one(x.add(base + i).read(), ps) };
                }
            }
        }
    }
}

/// `clamp(sat_i32(v + b), lo, hi)` per i32 lane: the GEMM epilogue's
/// saturating bias add (on overflow, the sign of both operands differs from
/// the sum's, and the result is the bound of `v`'s sign), then the clamp.
#[target_feature(enable = "avx2")]
fn sat_bias_clamp_ymm(v: __m256i, b: __m256i, lo: __m256i, hi: __m256i) -> __m256i {
    let s = _mm256_add_epi32(v, b);
    let ov = _mm256_and_si256(_mm256_xor_si256(v, s), _mm256_xor_si256(b, s));
    let satv = _mm256_xor_si256(_mm256_srai_epi32(v, 31), _mm256_set1_epi32(i32::MAX));
    let s = _mm256_castps_si256(_mm256_blendv_ps(
        _mm256_castsi256_ps(s),
        _mm256_castsi256_ps(satv),
        _mm256_castsi256_ps(ov),
    ));
    _mm256_min_epi32(_mm256_max_epi32(s, lo), hi)
}

/// `super::qcc_gemm_epilogue_i32` with AVX2: 8 columns per step, the tail
/// one element at a time.
///
/// # Safety
/// The host must have AVX2; the pointers as `super::qcc_gemm_epilogue_i32`
/// requires.
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm_epilogue_ymm(
    c: *const i32,
    np: usize,
    m: usize,
    n: usize,
    rs: *const i32,
    zw: *const i32,
    colc: *const i32,
    bias: *const i32,
    lo: i32,
    hi: i32,
    out: *mut i32,
) {
    let (lov, hiv) = (_mm256_set1_epi32(lo), _mm256_set1_epi32(hi));
    for r in 0..m {
        let rsr = if rs.is_null() {
            0
        } else {
            // SAFETY: `r < m` (the contract).
            unsafe { rs.add(r).read() }
        };
        let rsv = _mm256_set1_epi32(rsr);
        let mut col = 0;
        while col + 8 <= n {
            // SAFETY: columns `col .. col + 8 ≤ n` of row `r` and of the
            // tables (the contract).
            unsafe {
                let ld = |p: *const i32| _mm256_loadu_si256(p as *const __m256i);
                let v = ld(c.add(r * np + col));
                let z = ld(zw.add(col));
                let cc = ld(colc.add(col));
                let v = _mm256_add_epi32(_mm256_sub_epi32(v, _mm256_mullo_epi32(rsv, z)), cc);
                let b = if bias.is_null() {
                    _mm256_setzero_si256()
                } else {
                    ld(bias.add(col))
                };
                let y = sat_bias_clamp_ymm(v, b, lov, hiv);
                _mm256_storeu_si256(out.add(r * n + col) as *mut __m256i, y);
            }
            col += 8;
        }
        for col in col..n {
            // SAFETY: column `col < n` of row `r` and of the tables.
            unsafe {
                let b = if bias.is_null() {
                    0
                } else {
                    bias.add(col).read()
                };
                *out.add(r * n + col) = super::epilogue_one(
                    c.add(r * np + col).read(),
                    rsr,
                    zw.add(col).read(),
                    colc.add(col).read(),
                    b,
                    lo,
                    hi,
                );
            }
        }
    }
}

/// `super::qcc_depthwise` with AVX2, for the i32 result only (the fused
/// forms are AVX-512's): the same padded plane per channel, then 8 output
/// pixels at a time, per tap the pixels widened to i32 (`vpmovzxbd`; for
/// strides above 1 gathered by `vpshufb` from 16 bytes, or one by one past
/// stride 2) times the weight (`vpmulld`, exact: `|255 · −128| < 2^15`),
/// summed in wrapping i32; the epilogue as [`gemm_epilogue_ymm`]'s.
///
/// # Safety
/// The host must have AVX2; the pointers as `super::qcc_depthwise`
/// requires with `ep` null.
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn depthwise_ymm(
    x: *const u8,
    g: &super::DepthwiseGeometry,
    w4: *const i32,
    colc: *const i32,
    bias: *const i32,
    out: *mut u8,
    tmp: *mut u8,
    planes: core::ops::Range<usize>,
) {
    let groups = g.kw.div_ceil(4);
    let flip = if g.flip != 0 { 0x80u8 } else { 0 };
    let (lo, hi) = (
        _mm256_set1_epi32(g.lo as i32),
        _mm256_set1_epi32(g.hi as i32),
    );
    let plane = g.hp * g.wp;
    let outp = out as *mut i32;
    for img in 0..g.n {
        for ch in 0..g.c {
            // Only this call's planes (a thread's share).
            if !planes.contains(&(img * g.c + ch)) {
                continue;
            }
            // SAFETY: `tmp` holds `plane + 64` bytes; rows `pt + y` of it
            // from column `pl` hold row `y` of plane `(img, ch)` of `x`
            // (`pl + w ≤ wp`), as the contract's geometry says.
            unsafe {
                core::ptr::write_bytes(tmp, g.ua as u8, plane + 64);
                for y in 0..g.h {
                    let src = x.add(((img * g.c + ch) * g.h + y) * g.w);
                    let dst = tmp.add((g.pt + y) * g.wp + g.pl);
                    for i in 0..g.w {
                        *dst.add(i) = *src.add(i) ^ flip;
                    }
                }
            }
            // The taps' weights, broadcast.
            let mut wv = [_mm256_setzero_si256(); 256];
            for ky in 0..g.kh {
                for kx in 0..g.kw {
                    // SAFETY: inside the `c · kh · groups` table.
                    let quad = unsafe { w4.add((ch * g.kh + ky) * groups + kx / 4).read() };
                    let wq = (quad >> (8 * (kx % 4))) as i8 as i32;
                    wv[ky * g.kw + kx] = _mm256_set1_epi32(wq);
                }
            }
            // SAFETY: `ch < c`: inside the tables.
            let cc = _mm256_set1_epi32(unsafe { colc.add(ch).read() });
            let bv = _mm256_set1_epi32(if bias.is_null() {
                0
            } else {
                // SAFETY: as above.
                unsafe { bias.add(ch).read() }
            });
            let obase = ((img * g.c + ch) * g.oh) * g.ow;
            let ep = [cc, bv, lo, hi];
            // SAFETY: the plane and output as above (the contract).
            unsafe {
                match (g.kh, g.kw, g.sw) {
                    (3, 3, 1) => dw_plane_ymm::<3, 3, 1>(g, tmp, &wv, ep, outp.add(obase)),
                    (3, 3, 2) => dw_plane_ymm::<3, 3, 2>(g, tmp, &wv, ep, outp.add(obase)),
                    (5, 5, 1) => dw_plane_ymm::<5, 5, 1>(g, tmp, &wv, ep, outp.add(obase)),
                    (5, 5, 2) => dw_plane_ymm::<5, 5, 2>(g, tmp, &wv, ep, outp.add(obase)),
                    _ => dw_plane_ymm::<0, 0, 0>(g, tmp, &wv, ep, outp.add(obase)),
                }
            }
        }
    }
}

/// One output plane of [`depthwise_ymm`] from the padded plane `tmp`:
/// `KH × KW` taps at stride `SW` in width (`0, 0, 0`: from the geometry),
/// 16 pixels per step in two accumulators; `ep` holds `colc`, the bias and
/// the bounds, broadcast.
///
/// # Safety
/// As [`depthwise_ymm`]; `out` is the plane's first output element.
#[target_feature(enable = "avx2")]
unsafe fn dw_plane_ymm<const KH: usize, const KW: usize, const SW: usize>(
    g: &super::DepthwiseGeometry,
    tmp: *const u8,
    wv: &[__m256i; 256],
    ep: [__m256i; 4],
    out: *mut i32,
) {
    let kh = if KH == 0 { g.kh } else { KH };
    let kw = if KW == 0 { g.kw } else { KW };
    let sw = if SW == 0 { g.sw } else { SW };
    // Byte `i` of the gather: pixel `i`'s offset at stride 2.
    let even = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, -1, -1, -1, -1, -1, -1, -1, -1);
    // The 8 pixels from `p` at stride `sw`, widened to i32.
    let pixels = |p: *const u8| -> __m256i {
        // SAFETY: 16 bytes from a column of a row of `tmp` below
        // `ow16 · sw + (kw − 1) · dw + 16` (rows of `wp ≥ ow16 · sw + 64`
        // bytes, 64 more after the plane; `supported`).
        let px = unsafe {
            match sw {
                1 => _mm_loadl_epi64(p as *const __m128i),
                2 => _mm_shuffle_epi8(_mm_loadu_si128(p as *const __m128i), even),
                s => {
                    let mut b = [0u8; 16];
                    for (i, v) in b.iter_mut().take(8).enumerate() {
                        *v = *p.add(i * s);
                    }
                    _mm_loadu_si128(b.as_ptr() as *const __m128i)
                }
            }
        };
        _mm256_cvtepu8_epi32(px)
    };
    let [cc, bv, lo, hi] = ep;
    let finish = |acc: __m256i| -> __m256i {
        // Exact in wrapping i32 (the verifier's bound), then the saturating
        // bias and the clamp, as the GEMM epilogue.
        sat_bias_clamp_ymm(_mm256_add_epi32(acc, cc), bv, lo, hi)
    };
    let store = |y: __m256i, at: usize, n: usize| {
        if n == 8 {
            // SAFETY: 8 pixels of a row of the output plane.
            unsafe { _mm256_storeu_si256(out.add(at) as *mut __m256i, y) };
        } else {
            let mut lanes = [0i32; 8];
            // SAFETY: 8 i32; then `n` pixels of the row.
            unsafe {
                _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, y);
                core::ptr::copy_nonoverlapping(lanes.as_ptr(), out.add(at), n);
            }
        }
    };
    for oy in 0..g.oh {
        let mut ox = 0;
        while ox < g.ow {
            let mut a0 = _mm256_setzero_si256();
            let mut a1 = _mm256_setzero_si256();
            for ky in 0..kh {
                let row = (oy * g.sh + ky * g.dh) * g.wp + ox * sw;
                for kx in 0..kw {
                    let w = wv[ky * kw + kx];
                    // SAFETY: inside `tmp` (see `pixels`).
                    let p = unsafe { tmp.add(row + kx * g.dw) };
                    a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(pixels(p), w));
                    // SAFETY: as above, 8 pixels further.
                    let p1 = unsafe { p.add(8 * sw) };
                    a1 = _mm256_add_epi32(a1, _mm256_mullo_epi32(pixels(p1), w));
                }
            }
            let at = oy * g.ow + ox;
            let n = (g.ow - ox).min(16);
            store(finish(a0), at, n.min(8));
            if n > 8 {
                store(finish(a1), at + 8, n - 8);
            }
            ox += 16;
        }
    }
}

/// Transposes the 8×8 i32 block `r` (row `i` in `r[i]`) in registers.
#[target_feature(enable = "avx2")]
fn transpose8(r: [__m256i; 8]) -> [__m256i; 8] {
    let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
    let t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    let t2 = _mm256_unpacklo_epi32(r[2], r[3]);
    let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    let t4 = _mm256_unpacklo_epi32(r[4], r[5]);
    let t5 = _mm256_unpackhi_epi32(r[4], r[5]);
    let t6 = _mm256_unpacklo_epi32(r[6], r[7]);
    let t7 = _mm256_unpackhi_epi32(r[6], r[7]);
    let u0 = _mm256_unpacklo_epi64(t0, t2);
    let u1 = _mm256_unpackhi_epi64(t0, t2);
    let u2 = _mm256_unpacklo_epi64(t1, t3);
    let u3 = _mm256_unpackhi_epi64(t1, t3);
    let u4 = _mm256_unpacklo_epi64(t4, t6);
    let u5 = _mm256_unpackhi_epi64(t4, t6);
    let u6 = _mm256_unpacklo_epi64(t5, t7);
    let u7 = _mm256_unpackhi_epi64(t5, t7);
    [
        _mm256_permute2x128_si256(u0, u4, 0x20),
        _mm256_permute2x128_si256(u1, u5, 0x20),
        _mm256_permute2x128_si256(u2, u6, 0x20),
        _mm256_permute2x128_si256(u3, u7, 0x20),
        _mm256_permute2x128_si256(u0, u4, 0x31),
        _mm256_permute2x128_si256(u1, u5, 0x31),
        _mm256_permute2x128_si256(u2, u6, 0x31),
        _mm256_permute2x128_si256(u3, u7, 0x31),
    ]
}

/// The full 8×8 blocks of `super::qcc_conv_epilogue_i32` with AVX2 (8
/// pixel rows of 8 channels loaded, transposed, each channel's 8 pixels
/// finished and stored); returns the pixel and channel counts covered
/// (multiples of 8), the caller finishing the rest.
///
/// # Safety
/// The host must have AVX2; the pointers as
/// `super::qcc_conv_epilogue_i32` requires.
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn conv_epilogue_ymm(
    c: *const i32,
    np: usize,
    nimg: usize,
    pix: usize,
    o: usize,
    rs: *const i32,
    zw: *const i32,
    colc: *const i32,
    bias: *const i32,
    lo: i32,
    hi: i32,
    out: *mut i32,
) -> (usize, usize) {
    let (pix8, o8) = (pix / 8 * 8, o / 8 * 8);
    let (lov, hiv) = (_mm256_set1_epi32(lo), _mm256_set1_epi32(hi));
    for n in 0..nimg {
        for q0 in (0..pix8).step_by(8) {
            let r0 = n * pix + q0;
            let rsv = if rs.is_null() {
                _mm256_setzero_si256()
            } else {
                // SAFETY: rows `r0 .. r0 + 8` of `rs` (`q0 + 8 ≤ pix`).
                unsafe { _mm256_loadu_si256(rs.add(r0) as *const __m256i) }
            };
            for j0 in (0..o8).step_by(8) {
                // SAFETY: rows `r0 + i` and channels `j0 .. j0 + 8 ≤ o ≤ np`.
                let rows: [__m256i; 8] = core::array::from_fn(|i| unsafe {
                    _mm256_loadu_si256(c.add((r0 + i) * np + j0) as *const __m256i)
                });
                let cols = transpose8(rows);
                for (jj, &v) in cols.iter().enumerate() {
                    let j = j0 + jj;
                    // SAFETY: `j < o`: inside the tables and the output.
                    unsafe {
                        let z = _mm256_set1_epi32(zw.add(j).read());
                        let cc = _mm256_set1_epi32(colc.add(j).read());
                        let b = _mm256_set1_epi32(if bias.is_null() {
                            0
                        } else {
                            bias.add(j).read()
                        });
                        let v =
                            _mm256_add_epi32(_mm256_sub_epi32(v, _mm256_mullo_epi32(rsv, z)), cc);
                        let y = sat_bias_clamp_ymm(v, b, lov, hiv);
                        _mm256_storeu_si256(out.add((n * o + j) * pix + q0) as *mut __m256i, y);
                    }
                }
            }
        }
    }
    (pix8, o8)
}
