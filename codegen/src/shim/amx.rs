//! AMX-INT8 kernels (Intel Xeon since Sapphire Rapids): `tdpbusd` multiplies
//! a 16×64-byte tile of unsigned activations by a 16×64-byte tile of signed
//! weights (16 groups of 4 k × 16 columns) into a 16×16 i32 tile, 16,384
//! multiply-adds per instruction. The weight panels of `super` are already
//! AMX tiles: 16 consecutive k4 rows of a panel, 64 bytes each at the
//! panel's row stride, are one B tile.
//!
//! One call computes a block of rows of one panel: 32 rows × 32 columns at a
//! time in four C tiles (tmm0–3), with two A tiles (tmm4–5) and two B tiles
//! (tmm6–7) per step of 64 k, then stores the C tiles to the stack and
//! applies the fused requantizing store of the zmm kernels
//! (`x86::fused_store`) row by row. The instructions are written as inline
//! assembly: Rust has no stable AMX intrinsics, and the assembler accepts the
//! mnemonics without a target feature. Their only state is the tile
//! registers, which compiled Rust code never touches.

use super::x86::fused_store;
use core::arch::asm;
use core::arch::x86_64::*;

/// Rows of the activation block one AMX step covers (two A tiles).
pub const AMX_ROWS: usize = 32;
/// The k one AMX step covers (one tile row of 64 bytes).
pub const AMX_K: usize = 64;

/// The tile configuration: palette 1, eight tiles of 16 rows × 64 bytes.
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

const fn tile_config() -> TileConfig {
    let mut c = [0u8; 64];
    c[0] = 1;
    let mut t = 0;
    while t < 8 {
        c[16 + 2 * t] = 64;
        c[48 + t] = 16;
        t += 1;
    }
    TileConfig(c)
}

static CONFIG: TileConfig = tile_config();

/// Whether this process can run AMX-INT8: the CPU has AMX-TILE and
/// AMX-INT8, the OS saves the tile state (XCR0 bits 17 and 18), and Linux
/// granted the process the permission to use the tile data
/// (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`), which it asks
/// for here, once.
pub(super) fn detect() -> bool {
    #[cfg(target_os = "linux")]
    {
        let leaf7 = __cpuid_count(7, 0);
        let amx = (leaf7.edx >> 24) & 1 == 1 && (leaf7.edx >> 25) & 1 == 1;
        let osxsave = (__cpuid(1).ecx >> 27) & 1 == 1;
        if !amx || !osxsave {
            return false;
        }
        // SAFETY: OSXSAVE is set, so `xgetbv` is available.
        let xcr0 = unsafe { xgetbv0() };
        if (xcr0 >> 17) & 3 != 3 {
            return false;
        }
        const ARCH_REQ_XCOMP_PERM: usize = 0x1023;
        const XFEATURE_XTILEDATA: usize = 18;
        const SYS_ARCH_PRCTL: usize = 158;
        let ret: isize;
        // SAFETY: the `arch_prctl` system call with a request that only
        // changes this process's permission bits; `syscall` clobbers rcx and
        // r11 and returns in rax.
        unsafe {
            asm!(
                "syscall",
                inlateout("rax") SYS_ARCH_PRCTL as isize => ret,
                in("rdi") ARCH_REQ_XCOMP_PERM,
                in("rsi") XFEATURE_XTILEDATA,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            )
        };
        ret == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// `xgetbv(0)`.
///
/// # Safety
/// The CPU must have OSXSAVE.
#[target_feature(enable = "xsave")]
unsafe fn xgetbv0() -> u64 {
    // SAFETY: the caller checked OSXSAVE.
    unsafe { _xgetbv(0) }
}

/// The fused AMX kernel: rows `row0 .. row0 + rows` of one panel of `width`
/// columns (a multiple of 16) starting at column `col0`, over `ksteps`
/// steps of 64 k, requantized and stored as [`fused_store`] does.
///
/// # Safety
/// The host must have AVX512F/BW/VNNI and AMX-INT8, with the permission
/// granted ([`detect`]). `a` points to row `row0` of packed activations with
/// row stride `lda ≥ 64 · ksteps`, readable for `rows` rounded up to 32 rows;
/// `b` to the panel, readable for `16 · ksteps` rows of `ldb ≥ 4 · width`
/// bytes; `out`, `ep` and `rs` as for [`fused_store`] for every row of the
/// range and every column of the panel.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::too_many_arguments)]
unsafe fn amx_fused<const MODE: u8, const FAST: bool>(
    ksteps: usize,
    a: *const u8,
    lda: usize,
    b: *const i8,
    ldb: usize,
    out: *mut u8,
    row0: usize,
    col0: usize,
    ep: *const i64,
    rs: *const i32,
    rows: usize,
    width: usize,
) {
    #[repr(C, align(64))]
    struct CTiles([[i32; 32]; 32]);
    let mut c = CTiles([[0; 32]; 32]);
    let cp = c.0.as_mut_ptr() as *mut u8;
    const CSTRIDE: usize = 128;
    // SAFETY: `CONFIG` is a valid palette-1 configuration (64 bytes,
    // 64-byte aligned); the host has AMX (the contract).
    unsafe {
        asm!("ldtilecfg [{}]", in(reg) &CONFIG as *const TileConfig, options(nostack, readonly))
    };
    for rb in (0..rows).step_by(AMX_ROWS) {
        for cb in (0..width).step_by(32) {
            let two = cb + 32 <= width;
            // SAFETY: tile registers only.
            unsafe {
                asm!(
                    "tilezero tmm0",
                    "tilezero tmm1",
                    "tilezero tmm2",
                    "tilezero tmm3",
                    options(nostack, nomem)
                )
            };
            for ks in 0..ksteps {
                let a0 = a.wrapping_add(rb * lda + ks * AMX_K);
                let a1 = a0.wrapping_add(16 * lda);
                let b0 = b.wrapping_add(ks * 16 * ldb + cb * 4);
                if two {
                    let b1 = b0.wrapping_add(64);
                    // SAFETY: two A tiles of 16 rows × 64 bytes inside the
                    // padded rows, two B tiles of 16 rows × 64 bytes inside
                    // the panel (the contract).
                    unsafe {
                        asm!(
                            "tileloadd tmm4, [{a0} + {lda}*1]",
                            "tileloadd tmm5, [{a1} + {lda}*1]",
                            "tileloadd tmm6, [{b0} + {ldb}*1]",
                            "tileloadd tmm7, [{b1} + {ldb}*1]",
                            "tdpbusd tmm0, tmm4, tmm6",
                            "tdpbusd tmm1, tmm4, tmm7",
                            "tdpbusd tmm2, tmm5, tmm6",
                            "tdpbusd tmm3, tmm5, tmm7",
                            a0 = in(reg) a0,
                            a1 = in(reg) a1,
                            b0 = in(reg) b0,
                            b1 = in(reg) b1,
                            lda = in(reg) lda,
                            ldb = in(reg) ldb,
                            options(nostack, readonly)
                        )
                    };
                } else {
                    // SAFETY: as above, one B tile.
                    unsafe {
                        asm!(
                            "tileloadd tmm4, [{a0} + {lda}*1]",
                            "tileloadd tmm5, [{a1} + {lda}*1]",
                            "tileloadd tmm6, [{b0} + {ldb}*1]",
                            "tdpbusd tmm0, tmm4, tmm6",
                            "tdpbusd tmm2, tmm5, tmm6",
                            a0 = in(reg) a0,
                            a1 = in(reg) a1,
                            b0 = in(reg) b0,
                            lda = in(reg) lda,
                            ldb = in(reg) ldb,
                            options(nostack, readonly)
                        )
                    };
                }
            }
            // SAFETY: four 16 × 64-byte stores inside `c` (32 rows of 128
            // bytes): tile 0 at (0, 0), 1 at (0, 16), 2 at (16, 0), 3 at
            // (16, 16).
            unsafe {
                asm!(
                    "tilestored [{c0} + {s}*1], tmm0",
                    "tilestored [{c1} + {s}*1], tmm1",
                    "tilestored [{c2} + {s}*1], tmm2",
                    "tilestored [{c3} + {s}*1], tmm3",
                    c0 = in(reg) cp,
                    c1 = in(reg) cp.add(64),
                    c2 = in(reg) cp.add(16 * CSTRIDE),
                    c3 = in(reg) cp.add(16 * CSTRIDE + 64),
                    s = in(reg) CSTRIDE,
                    options(nostack)
                )
            };
            let valid = (rows - rb).min(AMX_ROWS);
            let load = |r: usize, j: usize| {
                // SAFETY: row `r < 32`, 16 lanes at column `16 j < 32`.
                unsafe { _mm512_load_si512(c.0[r].as_ptr().add(16 * j) as *const _) }
            };
            let mut r = 0;
            while r < valid {
                let (row, col) = (row0 + rb + r, col0 + cb);
                // SAFETY: rows and columns of the range the contract covers.
                unsafe {
                    if r + 4 <= valid && two {
                        let acc: [[__m512i; 2]; 4] =
                            core::array::from_fn(|i| [load(r + i, 0), load(r + i, 1)]);
                        fused_store::<4, 2, MODE, FAST>(acc, out, row, col, ep, rs);
                        r += 4;
                        continue;
                    }
                    if two {
                        fused_store::<1, 2, MODE, FAST>(
                            [[load(r, 0), load(r, 1)]],
                            out,
                            row,
                            col,
                            ep,
                            rs,
                        );
                    } else {
                        fused_store::<1, 1, MODE, FAST>([[load(r, 0)]], out, row, col, ep, rs);
                    }
                }
                r += 1;
            }
        }
    }
    // SAFETY: releases the tile state of this thread.
    unsafe { asm!("tilerelease", options(nostack, nomem)) };
}

/// Signature of the fused AMX kernels: the zmm fused kernel's arguments
/// (`ksteps` in place of `kp4`), then `rows` and `width`.
pub type AmxKernelFn = unsafe extern "C" fn(
    usize,
    *const u8,
    usize,
    *const i8,
    usize,
    *mut u8,
    usize,
    usize,
    *const i64,
    *const i32,
    usize,
    usize,
);

/// C-ABI entry point (see [`amx_fused`]'s contract).
///
/// # Safety
/// As [`amx_fused`]'s.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn amx_entry<const MODE: u8, const FAST: bool>(
    ksteps: usize,
    a: *const u8,
    lda: usize,
    b: *const i8,
    ldb: usize,
    out: *mut u8,
    row0: usize,
    col0: usize,
    ep: *const i64,
    rs: *const i32,
    rows: usize,
    width: usize,
) {
    // SAFETY: same contract as this function's.
    unsafe { amx_fused::<MODE, FAST>(ksteps, a, lda, b, ldb, out, row0, col0, ep, rs, rows, width) }
}

/// The fused AMX kernel of `mode` (`0` float, `1` single rounding), general
/// or fast.
pub(super) fn amx_kernel(mode: u8, fast: bool) -> AmxKernelFn {
    match (mode, fast) {
        (0, false) => amx_entry::<0, false>,
        (0, true) => amx_entry::<0, true>,
        (_, false) => amx_entry::<1, false>,
        (_, true) => amx_entry::<1, true>,
    }
}
