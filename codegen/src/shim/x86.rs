//! x86-64 micro-kernels: `vpdpbusd` on zmm (AVX512-VNNI) and on ymm
//! (AVX-VNNI), register-tiled `MR × 16·NB`, on the packed layouts described
//! in `super`. They are only ever called (by JIT code or tests) after
//! `super::host_features` has confirmed the features they are compiled for.

use super::KernelFn;
use core::arch::x86_64::*;

/// The zmm kernel body: `MR` rows, `NB` registers of 16 columns.
///
/// # Safety
/// The host must have AVX512F, AVX512BW and AVX512VNNI. `a` must be
/// readable for `MR` rows of `lda` bytes with `4 · kp4 ≤ lda`; `b` for
/// `kp4` groups of `ldb` bytes with `64 · NB ≤ ldb`; `c` writable for `MR`
/// rows of `ldc` i32 with `16 · NB ≤ ldc`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn zmm_tile<const MR: usize, const NB: usize>(
    kp4: usize,
    a: *const u8,
    lda: usize,
    b: *const i8,
    ldb: usize,
    c: *mut i32,
    ldc: usize,
) {
    let mut acc = [[_mm512_setzero_si512(); NB]; MR];
    for k in 0..kp4 {
        // SAFETY: `k < kp4`, so these reads are inside the panel and the rows
        // the caller guarantees (see the function's contract).
        unsafe {
            let bp = b.add(k * ldb);
            let mut bv = [_mm512_setzero_si512(); NB];
            for (j, v) in bv.iter_mut().enumerate() {
                *v = _mm512_loadu_si512(bp.add(64 * j) as *const _);
            }
            for (r, row) in acc.iter_mut().enumerate() {
                let quad = (a.add(r * lda + 4 * k) as *const i32).read_unaligned();
                let av = _mm512_set1_epi32(quad);
                for (j, v) in row.iter_mut().enumerate() {
                    *v = _mm512_dpbusd_epi32(*v, av, bv[j]);
                }
            }
        }
    }
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

macro_rules! kernels {
    ($table:ident, $body:ident, $feat:literal, $( ($mr:literal, $nb:literal, $name:ident) ),* $(,)?) => {
        $(
            /// C-ABI entry point of one tile shape (see the body's contract).
            ///
            /// # Safety
            /// As the body's.
            #[target_feature(enable = $feat)]
            unsafe extern "C" fn $name(
                kp4: usize, a: *const u8, lda: usize, b: *const i8, ldb: usize, c: *mut i32, ldc: usize,
            ) {
                // SAFETY: same contract as this function's.
                unsafe { $body::<$mr, $nb>(kp4, a, lda, b, ldb, c, ldc) }
            }
        )*
        pub(super) fn $table(mr: usize, nb: usize) -> KernelFn {
            match (mr, nb) {
                $( ($mr, $nb) => $name, )*
                _ => panic!("no {mr}x{nb} kernel"),
            }
        }
    };
}

kernels!(
    zmm_kernel,
    zmm_tile,
    "avx512f,avx512bw,avx512vnni",
    (1, 1, zmm_1x1),
    (1, 2, zmm_1x2),
    (1, 3, zmm_1x3),
    (1, 4, zmm_1x4),
    (2, 1, zmm_2x1),
    (2, 2, zmm_2x2),
    (2, 3, zmm_2x3),
    (2, 4, zmm_2x4),
    (3, 1, zmm_3x1),
    (3, 2, zmm_3x2),
    (3, 3, zmm_3x3),
    (3, 4, zmm_3x4),
    (4, 1, zmm_4x1),
    (4, 2, zmm_4x2),
    (4, 3, zmm_4x3),
    (4, 4, zmm_4x4),
);

kernels!(
    ymm_kernel,
    ymm_tile,
    "avx2,avxvnni",
    (1, 1, ymm_1x1),
    (1, 2, ymm_1x2),
    (1, 3, ymm_1x3),
    (1, 4, ymm_1x4),
    (2, 1, ymm_2x1),
    (2, 2, ymm_2x2),
    (2, 3, ymm_2x3),
    (2, 4, ymm_2x4),
    (3, 1, ymm_3x1),
    (3, 2, ymm_3x2),
    (3, 3, ymm_3x3),
    (3, 4, ymm_3x4),
    (4, 1, ymm_4x1),
    (4, 2, ymm_4x2),
    (4, 3, ymm_4x3),
    (4, 4, ymm_4x4),
);
