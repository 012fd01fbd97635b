//! AMX-INT8 kernels (Intel Xeon since Sapphire Rapids): `tdpbusd` multiplies
//! a 16×64-byte tile of unsigned activations by a 16×64-byte tile of signed
//! weights (16 groups of 4 k × 16 columns) into a 16×16 i32 tile, 16,384
//! multiply-adds per instruction. The weight panels of `super` are already
//! AMX tiles: 16 consecutive k4 rows of a panel, 64 bytes each at the
//! panel's row stride, are one B tile.
//!
//! One call computes a block of rows of a range of panels (the tile
//! configuration loaded once per call): 32 rows × 32 columns at a time in
//! four C tiles (tmm0–3), with two A tiles (tmm4–5) and two B tiles
//! (tmm6–7) per step of 64 k; a block of at most 16 rows (a GEMM of 16
//! rows, the last rows of a larger one) takes one A tile against the whole
//! panel width instead (four B tiles, 4 KB of the panel in memory order per
//! step). The C tiles go to the stack, then through the fused requantizing
//! store of the zmm kernels (`x86::fused_store`) row by row. The
//! instructions are written as inline assembly: Rust has no stable AMX
//! intrinsics, and the assembler accepts the mnemonics without a target
//! feature. Their only state is the tile
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

/// The tile configuration's address, for `ldtilecfg` (also used by the
/// peak probe, `super::peak`).
pub(super) fn config_ptr() -> *const u8 {
    (&raw const CONFIG).cast()
}

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

/// One panel of [`amx_fused`] (the tiles configured): rows `row0 .. row0 +
/// rows` of the panel of `width` columns (a multiple of 16) starting at
/// column `col0`, over `ksteps` steps of 64 k, requantized and stored as
/// [`fused_store`] does.
///
/// # Safety
/// The host must have AVX512F/BW/VNNI and AMX-INT8, with the tile
/// configuration loaded. `a` points to row `row0` of packed activations with
/// row stride `lda ≥ 64 · ksteps`, readable for `rows` rounded up to 32 rows;
/// `b` to the panel, readable for `16 · ksteps` rows of `ldb ≥ 4 · width`
/// bytes; `out`, `ep` and `rs` as for [`fused_store`] for every row of the
/// range and every column of the panel.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::too_many_arguments)]
unsafe fn amx_panel<const MODE: u8, const FAST: bool>(
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
    for rb in (0..rows).step_by(AMX_ROWS) {
        if rows - rb <= 16 {
            // SAFETY: the contract, for this block of at most 16 rows.
            unsafe {
                amx_block16::<MODE, FAST>(
                    ksteps,
                    a.wrapping_add(rb * lda),
                    lda,
                    b,
                    ldb,
                    out,
                    row0 + rb,
                    col0,
                    ep,
                    rs,
                    rows - rb,
                    width,
                    &mut c.0,
                )
            };
            continue;
        }
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
            // SAFETY: `valid` rows of `c` (128 bytes each) hold the block's
            // 32 (or 16) columns; rows and columns of the contract's range.
            unsafe {
                amx_store::<MODE, FAST>(
                    cp,
                    CSTRIDE,
                    valid,
                    if two { 32 } else { 16 },
                    out,
                    row0 + rb,
                    col0 + cb,
                    ep,
                    rs,
                )
            };
        }
    }
}

/// The fused store of C tiles stored to the stack: `rows` rows of `c` at
/// `cstride` bytes, `width` columns (a multiple of 16), for output rows
/// `row0 ..` and columns `col0 ..`: [`fused_store`] on 4 rows × 32 columns
/// at a time. Out of line, so that the tile loops around it stay small and
/// each `fused_store` here is inlined (as in the zmm kernels, which use the
/// same three forms).
///
/// # Safety
/// As [`fused_store`]'s for every row and column of the block; `c`
/// readable for `rows` rows of `4 · width` bytes, 64-byte aligned.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::too_many_arguments)]
#[inline(never)]
unsafe fn amx_store<const MODE: u8, const FAST: bool>(
    c: *const u8,
    cstride: usize,
    rows: usize,
    width: usize,
    out: *mut u8,
    row0: usize,
    col0: usize,
    ep: *const i64,
    rs: *const i32,
) {
    let load = |r: usize, j: usize| {
        // SAFETY: row `r < rows`, 16 lanes at column `16 j < width`.
        unsafe { _mm512_load_si512(c.add(r * cstride + 64 * j) as *const _) }
    };
    for cb in (0..width).step_by(32) {
        let two = cb + 32 <= width;
        let j0 = cb / 16;
        let mut r = 0;
        while r < rows {
            let (row, col) = (row0 + r, col0 + cb);
            // SAFETY: rows and columns of the range the contract covers.
            unsafe {
                if r + 4 <= rows && two {
                    let acc: [[__m512i; 2]; 4] =
                        core::array::from_fn(|i| [load(r + i, j0), load(r + i, j0 + 1)]);
                    fused_store::<4, 2, MODE, FAST>(acc, out, row, col, ep, rs);
                    r += 4;
                    continue;
                }
                if two {
                    fused_store::<1, 2, MODE, FAST>(
                        [[load(r, j0), load(r, j0 + 1)]],
                        out,
                        row,
                        col,
                        ep,
                        rs,
                    );
                } else {
                    fused_store::<1, 1, MODE, FAST>([[load(r, j0)]], out, row, col, ep, rs);
                }
            }
            r += 1;
        }
    }
}

/// The fused AMX kernel: rows `row0 .. row0 + rows` of the panels `p0 ..
/// p1` of the packed weights (`np` columns in panels of `PANEL`, the last
/// one narrower when `np` is not a multiple; panel `p` at byte `64 p ·
/// 64 ksteps`), requantized and stored as [`fused_store`] does. One call
/// covers a range of panels, so the tile configuration is loaded once per
/// range and the panels are read in memory order.
///
/// # Safety
/// The host must have AVX512F/BW/VNNI and AMX-INT8, with the permission
/// granted ([`detect`]). `a` points to row `row0` of packed activations with
/// row stride `lda ≥ 64 · ksteps`, readable for `rows` rounded up to 32 rows;
/// `b` to the packed weights, readable for `np · 64 · ksteps` bytes; `out`,
/// `ep` and `rs` as for [`fused_store`] for every row of the range and every
/// column of the panels.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::too_many_arguments)]
unsafe fn amx_fused<const MODE: u8, const FAST: bool>(
    ksteps: usize,
    a: *const u8,
    lda: usize,
    b: *const i8,
    np: usize,
    out: *mut u8,
    row0: usize,
    ep: *const i64,
    rs: *const i32,
    rows: usize,
    p0: usize,
    p1: usize,
) {
    if rows == 0 || p0 >= p1 {
        return;
    }
    // SAFETY: `CONFIG` is a valid palette-1 configuration (64 bytes,
    // 64-byte aligned); the host has AMX (the contract).
    unsafe {
        asm!("ldtilecfg [{}]", in(reg) &CONFIG as *const TileConfig, options(nostack, readonly))
    };
    for p in p0..p1 {
        let col0 = p * super::PANEL;
        let width = super::PANEL.min(np - col0);
        let bp = b.wrapping_add(col0 * ksteps * AMX_K);
        // SAFETY: the contract, for panel `p`.
        unsafe {
            amx_panel::<MODE, FAST>(
                ksteps,
                a,
                lda,
                bp,
                4 * width,
                out,
                row0,
                col0,
                ep,
                rs,
                rows,
                width,
            )
        };
    }
    // SAFETY: releases the tile state of this thread.
    unsafe { asm!("tilerelease", options(nostack, nomem)) };
}

/// A block of at most 16 rows of [`amx_panel`] (the tiles configured): one
/// A tile and the whole panel at once, 16 rows × `width` columns in up to
/// four C tiles (tmm0–3), with the B tiles of each step (tmm5–7, the fourth
/// reloading tmm5) reading `16 · ldb` consecutive bytes of the panel, then
/// the fused store of the valid rows. `c` is the stack buffer for the C
/// tiles (read as 16 rows of 64 i32).
///
/// # Safety
/// As [`amx_panel`]'s for rows `row0 .. row0 + rows` (`rows ≤ 16`, `a`
/// readable for 16 rows).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::too_many_arguments)]
unsafe fn amx_block16<const MODE: u8, const FAST: bool>(
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
    c: &mut [[i32; 32]; 32],
) {
    let cp = c.as_mut_ptr() as *mut u8;
    const CSTRIDE: usize = 256;
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
    let nt = width / 16;
    for ks in 0..ksteps {
        let a0 = a.wrapping_add(ks * AMX_K);
        let b0 = b.wrapping_add(ks * 16 * ldb);
        // SAFETY: one A tile of 16 rows × 64 bytes inside the padded rows;
        // `nt` B tiles of 16 rows × 64 bytes at columns `16 j < width` of
        // the panel's rows (the contract).
        unsafe {
            match nt {
                4 => asm!(
                    "tileloadd tmm4, [{a0} + {lda}*1]",
                    "tileloadd tmm5, [{b0} + {ldb}*1]",
                    "tileloadd tmm6, [{b0} + {ldb}*1 + 64]",
                    "tileloadd tmm7, [{b0} + {ldb}*1 + 128]",
                    "tdpbusd tmm0, tmm4, tmm5",
                    "tdpbusd tmm1, tmm4, tmm6",
                    "tileloadd tmm5, [{b0} + {ldb}*1 + 192]",
                    "tdpbusd tmm2, tmm4, tmm7",
                    "tdpbusd tmm3, tmm4, tmm5",
                    a0 = in(reg) a0,
                    b0 = in(reg) b0,
                    lda = in(reg) lda,
                    ldb = in(reg) ldb,
                    options(nostack, readonly)
                ),
                3 => asm!(
                    "tileloadd tmm4, [{a0} + {lda}*1]",
                    "tileloadd tmm5, [{b0} + {ldb}*1]",
                    "tileloadd tmm6, [{b0} + {ldb}*1 + 64]",
                    "tileloadd tmm7, [{b0} + {ldb}*1 + 128]",
                    "tdpbusd tmm0, tmm4, tmm5",
                    "tdpbusd tmm1, tmm4, tmm6",
                    "tdpbusd tmm2, tmm4, tmm7",
                    a0 = in(reg) a0,
                    b0 = in(reg) b0,
                    lda = in(reg) lda,
                    ldb = in(reg) ldb,
                    options(nostack, readonly)
                ),
                2 => asm!(
                    "tileloadd tmm4, [{a0} + {lda}*1]",
                    "tileloadd tmm5, [{b0} + {ldb}*1]",
                    "tileloadd tmm6, [{b0} + {ldb}*1 + 64]",
                    "tdpbusd tmm0, tmm4, tmm5",
                    "tdpbusd tmm1, tmm4, tmm6",
                    a0 = in(reg) a0,
                    b0 = in(reg) b0,
                    lda = in(reg) lda,
                    ldb = in(reg) ldb,
                    options(nostack, readonly)
                ),
                _ => asm!(
                    "tileloadd tmm4, [{a0} + {lda}*1]",
                    "tileloadd tmm5, [{b0} + {ldb}*1]",
                    "tdpbusd tmm0, tmm4, tmm5",
                    a0 = in(reg) a0,
                    b0 = in(reg) b0,
                    lda = in(reg) lda,
                    ldb = in(reg) ldb,
                    options(nostack, readonly)
                ),
            }
        }
    }
    // SAFETY: four 16 × 64-byte stores inside `c` (16 rows of 256 bytes):
    // tile `j` at column `16 j`.
    unsafe {
        asm!(
            "tilestored [{c0} + {s}*1], tmm0",
            "tilestored [{c0} + {s}*1 + 64], tmm1",
            "tilestored [{c0} + {s}*1 + 128], tmm2",
            "tilestored [{c0} + {s}*1 + 192], tmm3",
            c0 = in(reg) cp,
            s = in(reg) CSTRIDE,
            options(nostack)
        )
    };
    // SAFETY: `rows ≤ 16` rows of 256 bytes of `c` hold the panel's
    // `width` columns; rows and columns of the contract's range.
    unsafe { amx_store::<MODE, FAST>(cp, CSTRIDE, rows, width, out, row0, col0, ep, rs) };
}

/// Signature of the fused AMX kernels: `(ksteps, a, lda, b, np, out, row0,
/// ep, rs, rows, p0, p1)` (see [`amx_fused`]).
pub type AmxKernelFn = unsafe extern "C" fn(
    usize,
    *const u8,
    usize,
    *const i8,
    usize,
    *mut u8,
    usize,
    *const i64,
    *const i32,
    usize,
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
    np: usize,
    out: *mut u8,
    row0: usize,
    ep: *const i64,
    rs: *const i32,
    rows: usize,
    p0: usize,
    p1: usize,
) {
    // SAFETY: same contract as this function's.
    unsafe { amx_fused::<MODE, FAST>(ksteps, a, lda, b, np, out, row0, ep, rs, rows, p0, p1) }
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

/// The geometry of a stride-1 convolution on the AMX direct kernel (all
/// fields 64-bit, in this order, so that the JIT can emit it as data). The
/// input is first laid out as `n` images of `cp / 4` planes of `hp2 × wp`
/// pixels of 4 channels (`[n][cp/4][hp2][wp][4]`, the zero point `ua`
/// around the image and in the padding channels), so that 16 consecutive
/// pixels of 4 channels are one 64-byte row of a B tile, and the 16
/// channel groups of a 64-channel block are 16 such rows a plane apart.
/// Output pixels are numbered over the padded width (`q = oy · wp + ox`),
/// so a tap `(ky, kx)` reads pixel `q + ky · dh · wp + kx · dw`: a linear
/// shift; the lanes with `ox ≥ ow` are computed and dropped.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ConvGeometry {
    pub n: usize,
    pub c: usize,
    /// Channels rounded up to 64.
    pub cp: usize,
    pub h: usize,
    pub w: usize,
    /// Output channels, and rounded up to 32.
    pub o: usize,
    pub op: usize,
    pub kh: usize,
    pub kw: usize,
    pub dh: usize,
    pub dw: usize,
    pub pt: usize,
    pub pl: usize,
    pub oh: usize,
    pub ow: usize,
    /// Rows (with slack below) and row length of a padded plane.
    pub hp2: usize,
    pub wp: usize,
    /// Signed input (`x ^ 0x80`).
    pub flip: usize,
    pub ua: usize,
    /// `kh · kw · cp`: the row length of the packed weights.
    pub kp: usize,
    /// `1`: float requantize, `2`: single rounding; the tables' fast form.
    pub mode: usize,
    pub fast: usize,
}

impl ConvGeometry {
    /// Bytes of one 4-channel plane.
    pub fn plane(&self) -> usize {
        self.hp2 * self.wp * 4
    }

    /// Bytes of the laid-out input of one image.
    pub fn image_bytes(&self) -> usize {
        self.cp / 4 * self.plane()
    }

    /// Output pixels numbered over the padded width.
    pub fn q(&self) -> usize {
        self.oh * self.wp
    }

    pub fn bytes(&self) -> Vec<u8> {
        [
            self.n, self.c, self.cp, self.h, self.w, self.o, self.op, self.kh, self.kw, self.dh,
            self.dw, self.pt, self.pl, self.oh, self.ow, self.hp2, self.wp, self.flip, self.ua,
            self.kp, self.mode, self.fast,
        ]
        .iter()
        .flat_map(|&v| (v as u64).to_le_bytes())
        .collect()
    }
}

/// Lays out the NCHW input `x` for [`conv_amx`] (see [`ConvGeometry`]):
/// `ua` everywhere, then per image, channel group and row, 16 pixels of 4
/// channels interleaved by one `vpermb`.
///
/// # Safety
/// The host must have AVX512F/BW/VL/VBMI; `x` readable for `n·c·h·w` bytes,
/// `x4` writable for `n · image_bytes()` bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi")]
pub(super) unsafe fn conv_amx_input(x: *const u8, g: &ConvGeometry, x4: *mut u8) {
    // SAFETY: the contract.
    unsafe { core::ptr::write_bytes(x4, g.ua as u8, g.n * g.image_bytes()) };
    let flip = _mm_set1_epi8(if g.flip != 0 { 0x80u8 as i8 } else { 0 });
    let fill = _mm_set1_epi8(g.ua as u8 as i8);
    // Byte `4 p + j` of the result is pixel `p` of channel `j`: byte
    // `16 j + p` of the four 16-byte rows.
    let mut ib = [0u8; 64];
    for p in 0..16 {
        for j in 0..4 {
            ib[4 * p + j] = (16 * j + p) as u8;
        }
    }
    // SAFETY: 64 bytes.
    let idx = unsafe { _mm512_loadu_si512(ib.as_ptr() as *const _) };
    for img in 0..g.n {
        for grp in 0..g.cp / 4 {
            for y in 0..g.h {
                let mut xo = 0;
                while xo < g.w {
                    let n = (g.w - xo).min(16);
                    let m: __mmask16 = if n == 16 { 0xffff } else { (1u16 << n) - 1 };
                    let rows: [__m128i; 4] = core::array::from_fn(|j| {
                        let ch = 4 * grp + j;
                        if ch < g.c {
                            // SAFETY: `n` bytes of row `y` of channel `ch`.
                            let v = unsafe {
                                _mm_maskz_loadu_epi8(
                                    m,
                                    x.add(((img * g.c + ch) * g.h + y) * g.w + xo) as *const i8,
                                )
                            };
                            _mm_xor_si128(v, flip)
                        } else {
                            fill
                        }
                    });
                    let z = _mm512_inserti32x4::<3>(
                        _mm512_inserti32x4::<2>(
                            _mm512_inserti32x4::<1>(_mm512_castsi128_si512(rows[0]), rows[1]),
                            rows[2],
                        ),
                        rows[3],
                    );
                    let v = _mm512_permutexvar_epi8(idx, z);
                    let at = img * g.image_bytes()
                        + grp * g.plane()
                        + ((g.pt + y) * g.wp + g.pl + xo) * 4;
                    let mm: u64 = if n == 16 { !0 } else { (1u64 << (4 * n)) - 1 };
                    // SAFETY: `4 n` bytes of row `pt + y` of the plane.
                    unsafe { _mm512_mask_storeu_epi8(x4.add(at) as *mut i8, mm, v) };
                    xo += 16;
                }
            }
        }
    }
}

/// The direct AMX convolution (stride 1, weight zero points 0, a fused
/// requantize): output pixels `q0 .. q1` (padded numbering) of one image,
/// every output channel, in blocks of 32 channels × 32 pixels: per step of
/// 64 k (one tap, one 64-channel block) two A tiles of weights, two B tiles
/// of laid-out input, four `tdpbsud` (signed weights × unsigned
/// activations). The C tiles go to the stack; each channel row is
/// requantized (`requant_lanes` with the channel's parameters) and its
/// valid pixels stored to the NCHW output with a compressing store.
///
/// # Safety
/// The host must have AVX512F/BW/VL/VNNI/VBMI2 and AMX-INT8 with the
/// permission granted; `x4` the laid-out image ([`conv_amx_input`]), `w`
/// the weights (`op` rows of `kp` bytes), `out` the image's output
/// (`o · oh · ow` bytes), `ep` `FusedParams::bytes` of the `o` channels;
/// `q0 < q1 ≤ q()`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi2")]
#[allow(clippy::too_many_arguments)]
unsafe fn conv_amx<const MODE: u8, const FAST: bool>(
    x4: *const u8,
    g: &ConvGeometry,
    w: *const i8,
    out: *mut u8,
    ep: *const i64,
    q0: usize,
    q1: usize,
) {
    #[repr(C, align(64))]
    struct CTiles([[i32; 32]; 32]);
    let mut c = CTiles([[0; 32]; 32]);
    let cp_ = c.0.as_mut_ptr() as *mut u8;
    const CSTRIDE: usize = 128;
    let plane = g.plane();
    let ksteps = g.kp / AMX_K;
    let cblocks = g.cp / 64;
    let np = g.o;
    let pix = g.oh * g.ow;
    // SAFETY: a valid palette-1 configuration; AMX present (the contract).
    unsafe {
        asm!("ldtilecfg [{}]", in(reg) &CONFIG as *const TileConfig, options(nostack, readonly))
    };
    let mut qb = q0;
    while qb < q1 {
        // The valid lanes of the two 16-pixel halves and the output
        // offset of each half's first valid pixel.
        let mut mask = [0u16; 2];
        let mut start = [0usize; 2];
        for (h, (mk, st)) in mask.iter_mut().zip(start.iter_mut()).enumerate() {
            for l in 0..16 {
                let q = qb + 16 * h + l;
                let (oy, ox) = (q / g.wp, q % g.wp);
                if q < q1 && oy < g.oh && ox < g.ow {
                    if *mk == 0 {
                        *st = oy * g.ow + ox;
                    }
                    *mk |= 1 << l;
                }
            }
        }
        for cb in (0..g.op).step_by(32) {
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
                let k0 = ks * AMX_K;
                let tap = k0 / g.cp;
                let blk = (k0 % g.cp) / 64;
                let (ky, kx) = (tap / g.kw, tap % g.kw);
                let a0 = w.wrapping_add(cb * g.kp + k0);
                let a1 = a0.wrapping_add(16 * g.kp);
                let b0 =
                    x4.wrapping_add(blk * 16 * plane + (qb + ky * g.dh * g.wp + kx * g.dw) * 4);
                let b1 = b0.wrapping_add(64);
                // SAFETY: A: 16 rows of 64 bytes of the weights (rows
                // `cb .. cb + 32 ≤ op`); B: 16 rows a plane apart, 64 bytes
                // each, inside the image's planes (the slack rows of
                // `hp2` cover the last block's reach).
                unsafe {
                    asm!(
                        "tileloadd tmm4, [{a0} + {kp}*1]",
                        "tileloadd tmm5, [{a1} + {kp}*1]",
                        "tileloadd tmm6, [{b0} + {pl}*1]",
                        "tileloadd tmm7, [{b1} + {pl}*1]",
                        "tdpbsud tmm0, tmm4, tmm6",
                        "tdpbsud tmm1, tmm4, tmm7",
                        "tdpbsud tmm2, tmm5, tmm6",
                        "tdpbsud tmm3, tmm5, tmm7",
                        a0 = in(reg) a0,
                        a1 = in(reg) a1,
                        b0 = in(reg) b0,
                        b1 = in(reg) b1,
                        kp = in(reg) g.kp,
                        pl = in(reg) plane,
                        options(nostack, readonly)
                    )
                };
            }
            let _ = cblocks;
            // SAFETY: four 16 × 64-byte stores inside `c`.
            unsafe {
                asm!(
                    "tilestored [{c0} + {s}*1], tmm0",
                    "tilestored [{c1} + {s}*1], tmm1",
                    "tilestored [{c2} + {s}*1], tmm2",
                    "tilestored [{c3} + {s}*1], tmm3",
                    c0 = in(reg) cp_,
                    c1 = in(reg) cp_.add(64),
                    c2 = in(reg) cp_.add(16 * CSTRIDE),
                    c3 = in(reg) cp_.add(16 * CSTRIDE + 64),
                    s = in(reg) CSTRIDE,
                    options(nostack)
                )
            };
            for r in 0..32 {
                let ch = cb + r;
                if ch >= g.o {
                    break;
                }
                let tab: [__m512i; 10] = core::array::from_fn(|t| {
                    // SAFETY: past the 8-i64 header, 10 arrays of `np` i32.
                    _mm512_set1_epi32(unsafe { (ep.add(8) as *const i32).add(t * np + ch).read() })
                });
                for h in 0..2 {
                    if mask[h] == 0 {
                        continue;
                    }
                    // SAFETY: row `r`, 16 lanes at `16 h`.
                    let acc = unsafe { _mm512_load_si512(c.0[r].as_ptr().add(16 * h) as *const _) };
                    // SAFETY: same features.
                    let y = unsafe { super::x86::requant_lanes::<MODE, FAST>(acc, &tab) };
                    let b = _mm512_cvtepi32_epi8(y);
                    let m = mask[h];
                    let tz = m.trailing_zeros() as usize;
                    let dst = out.wrapping_add(ch * pix + start[h]);
                    if (m >> tz) & ((m >> tz).wrapping_add(1)) == 0 {
                        // One run of valid lanes from lane `tz`: a masked
                        // store puts lane `l` at `dst + l − tz`, as the
                        // compressing store would, at a fraction of its cost.
                        // SAFETY: only the valid lanes are written (masked
                        // lanes never touch memory), to the same bytes as
                        // below.
                        unsafe { _mm_mask_storeu_epi8(dst.wrapping_sub(tz) as *mut i8, m, b) };
                    } else {
                        // SAFETY: the valid lanes go to consecutive pixels
                        // of channel `ch`'s plane from `start[h]`.
                        unsafe { _mm_mask_compressstoreu_epi8(dst as *mut i8, m, b) };
                    }
                }
            }
        }
        qb += 32;
    }
    // SAFETY: releases this thread's tile state.
    unsafe { asm!("tilerelease", options(nostack, nomem)) };
}

/// C-ABI entry point of the direct AMX convolution: `(x4, g, w, out, ep,
/// q0, q1)` (see [`conv_amx`]).
///
/// # Safety
/// As [`conv_amx`]'s.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi2")]
unsafe extern "C" fn conv_amx_entry<const MODE: u8, const FAST: bool>(
    x4: *const u8,
    g: *const ConvGeometry,
    w: *const i8,
    out: *mut u8,
    ep: *const i64,
    q0: usize,
    q1: usize,
) {
    // SAFETY: same contract; `g` points to a geometry.
    unsafe { conv_amx::<MODE, FAST>(x4, &*g, w, out, ep, q0, q1) }
}

/// C-ABI entry point of [`conv_amx_input`]: `(x, g, x4)`.
///
/// # Safety
/// As [`conv_amx_input`]'s; `g` points to a geometry.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi")]
unsafe extern "C" fn conv_amx_input_entry(x: *const u8, g: *const ConvGeometry, x4: *mut u8) {
    // SAFETY: same contract.
    unsafe { conv_amx_input(x, &*g, x4) }
}

/// The direct convolution's symbols: the input layout, then the kernel of
/// each mode (`float`, `single`) and form (general, `fast`).
pub(super) fn conv_symbols() -> Vec<(String, *const u8)> {
    let mut v = vec![(
        "qcc_conv_amx_input".to_string(),
        conv_amx_input_entry as *const u8,
    )];
    let k: [(&str, *const u8); 4] = [
        ("float", conv_amx_entry::<0, false> as *const u8),
        ("float_fast", conv_amx_entry::<0, true> as *const u8),
        ("single", conv_amx_entry::<1, false> as *const u8),
        ("single_fast", conv_amx_entry::<1, true> as *const u8),
    ];
    for (name, p) in k {
        v.push((format!("qcc_conv_amx_{name}"), p));
    }
    v
}
