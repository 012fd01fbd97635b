//! The shim: the one place that owns the 4-way u8·i8 dot-accumulate into
//! i32 lanes (`acc[lane] += Σ_{j<4} u[4·lane + j] · s[4·lane + j]`).
//!
//! Five paths, chosen once per compiled model ([`DotPath`]):
//!
//! - [`DotPath::Amx`]: on Intel hosts with AMX-INT8, the fused GEMMs run
//!   `tdpbusd` on 16×64-byte tiles (`amx`, 16,384 multiply-adds per
//!   instruction); everything else as on the AVX512-VNNI path;
//! - [`DotPath::Avx512Vnni`]: register-tiled micro-kernels written with
//!   `core::arch` intrinsics (`vpdpbusd zmm`), registered with the JIT as
//!   symbols and called from generated code that owns the loop nest;
//! - [`DotPath::AvxVnni`]: the same kernels on ymm registers (AVX-VNNI) for
//!   hosts without AVX-512;
//! - [`DotPath::Avx2`]: the same ymm kernels for AVX2 hosts without VNNI,
//!   each 4-way dot as two exact `vpmaddwd` on the even and odd bytes
//!   widened to i16 (not `vpmaddubsw`, whose i16 pair sums saturate);
//! - [`DotPath::Clif128`]: 128-bit code emitted by Cranelift as the exact
//!   widening tree that its x64 backend folds into one `vpdpbusd xmm` and its
//!   aarch64 backend into `usdot` ([`emit_dot4`]);
//! - [`DotPath::Scalar`]: the portable fallback, plain scalar integer loops
//!   (the generic lowering of `matmul_int` / `conv2d_int`).
//!
//! Every kernel computes exactly the same integers (wrapping i32 sums of
//! products of u8 and i8), so every path gives the interpreter's results.
//! Kernels know nothing of graphs: they see a packed panel layout only.
//!
//! Packed layouts (see `crate::lower::gemm`):
//! - `A`: `rows × lda` bytes of u8, 4 consecutive k per 32-bit group;
//! - `B`: panels of up to 64 columns; within a panel of width `w`, the bytes
//!   for the k-group `k4` are `w × 4` bytes at `k4 · ldb` (`ldb = 4 · w`),
//!   column `j` at `4 · j` (its 4 consecutive k);
//! - `C`: i32, row stride `ldc` elements; the kernel overwrites its tile.

#[cfg(target_arch = "x86_64")]
mod amx;
#[cfg(target_arch = "x86_64")]
mod direct;
mod elementwise;
mod fconv;
mod fmatmul;
mod fused;
mod im2col;
mod movement;
pub(crate) mod nbits;
pub mod peak;
mod pool;
#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(target_arch = "x86_64")]
pub use amx::{AMX_K, AMX_ROWS, AmxKernelFn, ConvGeometry};
/// Rows of the activation block one AMX step covers.
#[cfg(not(target_arch = "x86_64"))]
pub const AMX_ROWS: usize = 32;
/// The k one AMX step covers.
#[cfg(not(target_arch = "x86_64"))]
pub const AMX_K: usize = 64;

use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types};
use cranelift_frontend::FunctionBuilder;
use std::sync::OnceLock;

#[cfg(target_arch = "x86_64")]
pub use direct::DirectGeometry;
pub(crate) use fconv::CONV_F32_PARAMS;
pub use fused::{AddStage, FusedMode, FusedParams, has_fused_lookup};
pub(crate) use im2col::{IM2COL_SLACK, qcc_conv_hwc, qcc_im2col};

/// Rows of the largest register tile of the micro-kernels: `6 × 64` keeps
/// 24 zmm accumulators, 4 panel registers and a broadcast in the 32
/// registers, and reads 256 panel bytes per 24 `vpdpbusd` (12 cycles), which
/// L2 sustains when a panel does not fit L1.
pub const MR: usize = 6;
/// Columns of one register (16 i32 lanes of a zmm); a tile is 1 to 4 of them.
pub const NR: usize = 16;
/// Widest panel of packed weights (columns).
pub const PANEL: usize = 64;

/// Signature of every micro-kernel: `(kp4, a, lda, b, ldb, c, ldc)`, computing
/// the `mr × (16·nb)` tile `C = A · B` over `kp4` groups of 4 k.
pub type KernelFn =
    unsafe extern "C" fn(usize, *const u8, usize, *const i8, usize, *mut i32, usize);

/// Signature of the fused micro-kernels (AVX512-VNNI only):
/// `(kp4, a, lda, b, ldb, out, row0, col0, ep, rs)` computes the tile at
/// rows `row0..` and columns `col0..` and stores it requantized to bytes
/// (see [`FusedParams`]).
pub type FusedKernelFn = unsafe extern "C" fn(
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
);

/// How `matmul_int` / `conv2d_int` compute their dot products.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DotPath {
    /// AMX-INT8 tile kernels for the fused GEMMs, AVX512-VNNI for the rest.
    Amx,
    /// `vpdpbusd zmm` micro-kernels (AVX512-VNNI + AVX512BW).
    Avx512Vnni,
    /// `vpdpbusd ymm` micro-kernels (AVX-VNNI).
    AvxVnni,
    /// ymm micro-kernels on plain AVX2: `vpmaddwd` of the widened bytes.
    Avx2,
    /// Cranelift-emitted 128-bit dot-product tree (`vpdpbusd xmm`, `usdot`).
    Clif128,
    /// Portable scalar loops.
    Scalar,
}

impl DotPath {
    pub const ALL: [DotPath; 6] = [
        DotPath::Amx,
        DotPath::Avx512Vnni,
        DotPath::AvxVnni,
        DotPath::Avx2,
        DotPath::Clif128,
        DotPath::Scalar,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DotPath::Amx => "amx",
            DotPath::Avx512Vnni => "avx512vnni",
            DotPath::AvxVnni => "avxvnni",
            DotPath::Avx2 => "avx2",
            DotPath::Clif128 => "clif128",
            DotPath::Scalar => "scalar",
        }
    }

    pub fn from_name(s: &str) -> Option<DotPath> {
        DotPath::ALL.into_iter().find(|p| p.name() == s)
    }

    /// Whether this host can run the path.
    pub fn is_supported(self) -> bool {
        let f = host_features();
        match self {
            DotPath::Amx => f.amx && f.avx512vnni,
            DotPath::Avx512Vnni => f.avx512vnni,
            DotPath::AvxVnni => f.avxvnni,
            DotPath::Avx2 => f.avx2,
            DotPath::Clif128 | DotPath::Scalar => true,
        }
    }

    /// Whether the path calls micro-kernels.
    pub fn uses_kernels(self) -> bool {
        matches!(
            self,
            DotPath::Amx | DotPath::Avx512Vnni | DotPath::AvxVnni | DotPath::Avx2
        )
    }
}

impl std::fmt::Display for DotPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// CPU features the shim cares about, detected once.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostFeatures {
    /// AVX512F + AVX512BW + AVX512VL + AVX512DQ + AVX512VNNI.
    pub avx512vnni: bool,
    /// AVX2 + AVX-VNNI (VEX-encoded `vpdpbusd` on ymm).
    pub avxvnni: bool,
    /// AMX-TILE + AMX-INT8, enabled by the OS for this process.
    pub amx: bool,
    /// AVX2 and FMA (the `vpmaddwd` kernels of [`DotPath::Avx2`], the AVX2
    /// builds of the helpers).
    pub avx2: bool,
    /// aarch64 FEAT_DotProd (`sdot`).
    pub dotprod: bool,
    /// aarch64 FEAT_I8MM (`usdot`).
    pub i8mm: bool,
}

/// The host's features, detected on first use and memoized.
pub fn host_features() -> HostFeatures {
    static FEATURES: OnceLock<HostFeatures> = OnceLock::new();
    *FEATURES.get_or_init(detect)
}

#[cfg(target_arch = "x86_64")]
fn detect() -> HostFeatures {
    HostFeatures {
        avx512vnni: std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512dq")
            && std::is_x86_feature_detected!("avx512vnni"),
        avxvnni: std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("avxvnni"),
        amx: amx::detect(),
        avx2: std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"),
        dotprod: false,
        i8mm: false,
    }
}

#[cfg(target_arch = "aarch64")]
fn detect() -> HostFeatures {
    HostFeatures {
        avx512vnni: false,
        avxvnni: false,
        amx: false,
        avx2: false,
        dotprod: std::arch::is_aarch64_feature_detected!("dotprod"),
        i8mm: std::arch::is_aarch64_feature_detected!("i8mm"),
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn detect() -> HostFeatures {
    HostFeatures::default()
}

/// The best path this host runs.
pub fn best_path() -> DotPath {
    let f = host_features();
    if DotPath::Amx.is_supported() {
        DotPath::Amx
    } else if f.avx512vnni {
        DotPath::Avx512Vnni
    } else if f.avxvnni {
        DotPath::AvxVnni
    } else if f.avx2 {
        DotPath::Avx2
    } else if cfg!(target_arch = "x86_64") || f.i8mm {
        DotPath::Clif128
    } else {
        DotPath::Scalar
    }
}

/// Every path this host can run, best first.
pub fn supported_paths() -> Vec<DotPath> {
    DotPath::ALL
        .into_iter()
        .filter(|p| p.is_supported())
        .collect()
}

/// The symbol name of the micro-kernel of `path` for an `mr × 16·nb` tile.
pub(crate) fn kernel_name(path: DotPath, mr: usize, nb: usize) -> String {
    // The AMX path runs its unfused GEMMs on the zmm kernels.
    let path = if path == DotPath::Amx {
        DotPath::Avx512Vnni
    } else {
        path
    };
    format!("qcc_u8i8_{}_{mr}x{nb}", path.name())
}

/// Packs `rows` rows of `k` activation bytes (row stride `k`) into rows of
/// `kp ≥ k` bytes (row stride `kp`, the tail zeroed), as unsigned values:
/// `u = x ^ 0x80` (that is `x + 128`) when `flip` is non-zero, else `u = x`;
/// when `rs` is not null, `rs[r] = Σ_k u` (as i32; exact, `255 · k < 2^31`).
///
/// # Safety
/// `x` readable for `rows · k` bytes, `a` writable for `rows · kp` bytes and
/// not overlapping `x`, `rs` null or writable for `rows` i32; `kp` a
/// multiple of 4 with `k ≤ kp < k + 4`.
pub(crate) unsafe extern "C" fn qcc_pack_rows(
    x: *const u8,
    rows: usize,
    k: usize,
    kp: usize,
    flip: usize,
    a: *mut u8,
    rs: *mut i32,
) {
    #[cfg(target_arch = "x86_64")]
    if host_features().avx512vnni {
        // SAFETY: AVX512F/BW are present (implied by `avx512vnni`, see
        // `detect`); the pointers as this function's contract; `kp` is `k`
        // rounded up to a multiple of 4 (`GemmPrep`).
        unsafe { x86::pack_rows_zmm(x, rows, k, kp, flip != 0, a, rs) };
        return;
    }
    let flip = if flip != 0 { 0x80u8 } else { 0 };
    // SAFETY: the extents the contract guarantees.
    let (src, dst) = unsafe {
        (
            std::slice::from_raw_parts(x, rows * k),
            std::slice::from_raw_parts_mut(a, rows * kp),
        )
    };
    for r in 0..rows {
        let s = &src[r * k..(r + 1) * k];
        let d = &mut dst[r * kp..(r + 1) * kp];
        let mut sum = 0u32;
        for (o, &v) in d[..k].iter_mut().zip(s) {
            let u = v ^ flip;
            *o = u;
            sum += u as u32;
        }
        d[k..].fill(0);
        if !rs.is_null() {
            // SAFETY: `r < rows` (the contract).
            unsafe { rs.add(r).write(sum as i32) };
        }
    }
}

/// The float-mode requantize of i32 values with input zero point 0 to one
/// byte per element, over `[outer, ch, inner]` (parameters per channel `c`):
/// `y = clamp(round_half_even(f32(x) · m[c]), flo[c], fhi[c]) + zo[c]`,
/// where `flo`/`fhi` are the output bounds less `zo` (integers, as f32).
/// `tab` holds four arrays of `ch` 32-bit values: `m` and `flo`, `fhi` as
/// f32 bits, then `zo`. Hosts with AVX-512 or AVX2 only (registered only
/// there: [`has_vector_helpers`]).
///
/// # Safety
/// The host must have AVX512F/BW or AVX2; `x` readable and `out` writable for
/// `outer · ch · inner` elements, `tab` readable for `4 · ch` values.
pub(crate) unsafe extern "C" fn qcc_requant_f32(
    x: *const i32,
    outer: usize,
    ch: usize,
    inner: usize,
    tab: *const i32,
    out: *mut u8,
) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the contract (the symbol is only registered on hosts with
    // the features of the variant called).
    unsafe {
        if host_features().avx512vnni {
            x86::requant_f32_zmm(x, outer, ch, inner, tab, out)
        } else {
            x86::requant_f32_ymm(x, outer, ch, inner, tab, out)
        }
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (x, outer, ch, inner, tab, out);
}

/// The unfused GEMM epilogue of a `matmul_int` with an i32 result:
/// `out[r, j] = clamp(sat_i32(wrap_i32(c[r, j] − rs[r] · zw[j] + colc[j]) + bias[j]), lo, hi)`
/// with `c` of row stride `np` and `out` of row stride `n` (`rs` and `bias`
/// may be null: 0). Hosts with AVX-512 or AVX2 only (registered only there:
/// [`has_vector_helpers`]).
///
/// # Safety
/// The host must have AVX512F/BW or AVX2; `c` readable for `m` rows of `np ≥ n`
/// i32, `out` writable for `m · n` i32, `rs` null or readable for `m`,
/// `zw`, `colc` readable and `bias` null or readable for `n` i32.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe extern "C" fn qcc_gemm_epilogue_i32(
    c: *const i32,
    np: usize,
    m: usize,
    n: usize,
    rs: *const i32,
    zw: *const i32,
    colc: *const i32,
    bias: *const i32,
    lo: i64,
    hi: i64,
    out: *mut i32,
) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the contract; `lo..=hi` lies within i32 (the caller's check).
    unsafe {
        if host_features().avx512vnni {
            x86::gemm_epilogue_zmm(c, np, m, n, rs, zw, colc, bias, lo as i32, hi as i32, out)
        } else {
            x86::gemm_epilogue_ymm(c, np, m, n, rs, zw, colc, bias, lo as i32, hi as i32, out)
        }
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (c, np, m, n, rs, zw, colc, bias, lo, hi, out);
}

/// One element of the GEMM epilogues ([`qcc_gemm_epilogue_i32`],
/// [`qcc_conv_epilogue_i32`]): `clamp(sat_i32(wrap_i32(v − rs · zw + colc)
/// + b), lo, hi)`; the scalar form beside their vector loops.
pub(super) fn epilogue_one(v: i32, rs: i32, zw: i32, colc: i32, b: i32, lo: i32, hi: i32) -> i32 {
    let v = v.wrapping_sub(rs.wrapping_mul(zw)).wrapping_add(colc);
    v.saturating_add(b).clamp(lo, hi)
}

/// The unfused GEMM epilogue of a `conv2d_int` with an i32 result, from the
/// GEMM's `[nimg · pix, np]` layout (pixels as rows) to NCHW:
/// `out[n, j, q] = clamp(sat_i32(wrap_i32(c[r, j] − rs[r] · zw[j] + colc[j]) + bias[j]), lo, hi)`
/// with `r = n · pix + q` (`rs` and `bias` may be null: 0), the formula of
/// [`qcc_gemm_epilogue_i32`]. Blocks of 16 pixels keep the rows read in L1
/// while each channel's 16 outputs are stored contiguously. Every host.
///
/// # Safety
/// `c` readable for `nimg · pix` rows of `np ≥ o` i32, `out` writable for
/// `nimg · o · pix` i32, `rs` null or readable for `nimg · pix`, `zw`,
/// `colc` readable and `bias` null or readable for `o` i32; `lo..=hi`
/// within i32.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe extern "C" fn qcc_conv_epilogue_i32(
    c: *const i32,
    np: usize,
    nimg: usize,
    pix: usize,
    o: usize,
    rs: *const i32,
    zw: *const i32,
    colc: *const i32,
    bias: *const i32,
    lo: i64,
    hi: i64,
    out: *mut i32,
) {
    // The full 8×8 blocks with AVX2, where the host has it.
    #[cfg(target_arch = "x86_64")]
    let (pix8, o8) = if host_features().avx2 {
        // SAFETY: the contract; the host has AVX2.
        unsafe {
            x86::conv_epilogue_ymm(
                c, np, nimg, pix, o, rs, zw, colc, bias, lo as i32, hi as i32, out,
            )
        }
    } else {
        (0, 0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let (pix8, o8) = (0, 0);
    // SAFETY: the extents of the contract.
    let (c, zw, colc, out) = unsafe {
        (
            std::slice::from_raw_parts(c, nimg * pix * np),
            std::slice::from_raw_parts(zw, o),
            std::slice::from_raw_parts(colc, o),
            std::slice::from_raw_parts_mut(out, nimg * o * pix),
        )
    };
    // SAFETY: as above, where not null.
    let rs = (!rs.is_null()).then(|| unsafe { std::slice::from_raw_parts(rs, nimg * pix) });
    // SAFETY: as above, where not null.
    let bias = (!bias.is_null()).then(|| unsafe { std::slice::from_raw_parts(bias, o) });
    let (lo, hi) = (lo as i32, hi as i32);
    const QB: usize = 16;
    for n in 0..nimg {
        for q0 in (0..pix).step_by(QB) {
            let q1 = (q0 + QB).min(pix);
            // The channels the blocks covered, for these pixels.
            let j0 = if q1 <= pix8 { o8 } else { 0 };
            for j in j0..o {
                let (z, cc) = (zw[j], colc[j]);
                let b = bias.map_or(0, |b| b[j]);
                let dst = &mut out[(n * o + j) * pix..][q0..q1];
                for (q, y) in (q0..q1).zip(dst.iter_mut()) {
                    let r = n * pix + q;
                    let s = rs.map_or(0, |rs| rs[r]);
                    *y = epilogue_one(c[r * np + j], s, z, cc, b, lo, hi);
                }
            }
        }
    }
}

/// The geometry of a depthwise convolution for [`qcc_depthwise`] (all
/// fields 64-bit, in this order, so that the JIT can emit it as data).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct DepthwiseGeometry {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub dh: usize,
    pub dw: usize,
    pub pt: usize,
    pub pl: usize,
    pub oh: usize,
    pub ow: usize,
    /// Rows and row length of the padded plane.
    pub hp: usize,
    pub wp: usize,
    /// Signed input (`x ^ 0x80` makes it unsigned).
    pub flip: usize,
    /// The unsigned zero point (the padding value).
    pub ua: usize,
    pub lo: i64,
    pub hi: i64,
    /// `0`: the i32 result; `1`, `2`: a fused requantize (float, single
    /// rounding) whose tables follow `FusedParams::bytes`.
    pub out_mode: usize,
    /// The fused output is signed.
    pub signed_out: usize,
    /// The fused tables are in their fast form (`FusedParams::fast`).
    pub fast: usize,
}

impl DepthwiseGeometry {
    /// The geometry of `n` images of `c` channels under the window `win`
    /// (`qcc_ir::window`, the one definition of sizes and padding); the
    /// kernel parameters (`flip`, `ua`, bounds, output mode) start at 0.
    pub fn from_window(n: usize, c: usize, win: &qcc_ir::window::Window) -> DepthwiseGeometry {
        DepthwiseGeometry {
            n,
            c,
            h: win.h,
            w: win.w,
            kh: win.kh,
            kw: win.kw,
            sh: win.sh,
            sw: win.sw,
            dh: win.dh,
            dw: win.dw,
            pt: win.pt,
            pl: win.pl,
            oh: win.oh,
            ow: win.ow,
            ..Default::default()
        }
    }

    /// Whether [`qcc_depthwise`]'s kernel covers it: at most 16 rows
    /// and 16 columns of taps, and 16 pixels' taps within 64 input bytes.
    pub fn supported(&self) -> bool {
        self.kh <= 16 && self.kw <= 16 && 15 * self.sw + (self.kw - 1) * self.dw <= 63
    }

    /// Sets the padded plane's shape (`hp`, `wp`) for the bottom and right
    /// pads.
    pub fn plane(&mut self, pb: usize, pr: usize) {
        self.hp = self.pt + self.h + pb;
        self.wp = (self.pl + self.w + pr).max(self.ow.next_multiple_of(16) * self.sw + 64);
    }

    /// Bytes of the scratch plane.
    pub fn scratch(&self) -> usize {
        self.hp * self.wp + 64
    }

    pub fn bytes(&self) -> Vec<u8> {
        let f = [
            self.n, self.c, self.h, self.w, self.kh, self.kw, self.sh, self.sw, self.dh, self.dw,
            self.pt, self.pl, self.oh, self.ow, self.hp, self.wp, self.flip, self.ua,
        ];
        let mut out: Vec<u8> = f.iter().flat_map(|&v| (v as u64).to_le_bytes()).collect();
        out.extend_from_slice(&self.lo.to_le_bytes());
        out.extend_from_slice(&self.hi.to_le_bytes());
        for v in [self.out_mode, self.signed_out, self.fast] {
            out.extend_from_slice(&(v as u64).to_le_bytes());
        }
        out
    }
}

/// A depthwise `conv2d_int` (one input channel per output channel) with an
/// i32 result (or, with `ep` not null, the bytes of the requantize fused
/// into it, `ep` pointing to `FusedParams::bytes` of its channels), for
/// unsigned (or flipped signed) activations and weights of
/// zero point 0: `out[n, c, y, x] = clamp(Σ (u − ua) · w + bias[c], lo,
/// hi)` with padding reading `ua` (so contributing 0), computed as
/// `Σ u · w + colc[c]` (`colc[c] = −ua · Σ w[c]`). `w4` holds, per channel
/// and kernel row, the weights in groups of 4 taps (`kw.div_ceil(4)` i32,
/// zero past the kernel's width). Hosts with AVX512-VBMI or AVX2 only
/// (registered only there; `ep` not null only with AVX512-VBMI:
/// [`has_fused_depthwise`]).
///
/// # Safety
/// The host must have AVX512F/BW/VNNI/VBMI, or AVX2 with `ep` null; `g` a
/// valid geometry with
/// [`DepthwiseGeometry::supported`] and the plane of
/// [`DepthwiseGeometry::plane`]; `x` readable for `n·c·h·w` bytes; `w4` for
/// `c·kh·kw.div_ceil(4)` i32, `colc` and `bias` (null: none) for `c` i32;
/// `out` writable for `n·c·oh·ow` i32 (bytes when fused); `tmp` for
/// [`DepthwiseGeometry::scratch`] bytes; none overlapping. Computes the
/// planes `p0..p1` of the `n·c` (a thread's share; the others untouched).
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe extern "C" fn qcc_depthwise(
    x: *const u8,
    g: *const DepthwiseGeometry,
    w4: *const i32,
    colc: *const i32,
    bias: *const i32,
    out: *mut u8,
    tmp: *mut u8,
    ep: *const i64,
    p0: usize,
    p1: usize,
) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the contract (the symbol is only registered on hosts with
    // the features); `g` points to a geometry.
    unsafe {
        let planes = p0..p1.min((*g).n * (*g).c);
        if host_features().avx512vnni && std::is_x86_feature_detected!("avx512vbmi") {
            x86::depthwise_zmm(x, &*g, w4, colc, bias, out, tmp, ep, planes)
        } else {
            debug_assert!(ep.is_null(), "the fused depthwise is AVX-512's");
            x86::depthwise_ymm(x, &*g, w4, colc, bias, out, tmp, planes)
        }
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (x, g, w4, colc, bias, out, tmp, ep, p0, p1);
}

/// Whether this host runs the direct AMX convolution (`qcc_conv_amx_*`):
/// AMX-INT8 and AVX512-VBMI/VBMI2.
pub fn has_direct_conv() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        DotPath::Amx.is_supported()
            && std::is_x86_feature_detected!("avx512vbmi")
            && std::is_x86_feature_detected!("avx512vbmi2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether this host runs the vector elementwise helpers
/// ([`qcc_requant_f32`], [`qcc_gemm_epilogue_i32`]): AVX-512 or AVX2.
pub fn has_vector_helpers() -> bool {
    let f = host_features();
    f.avx512vnni || f.avx2
}

/// Whether [`qcc_depthwise`] runs here: AVX-512 VNNI and VBMI (every
/// output form), or AVX2 (the i32 result; [`has_fused_depthwise`] says
/// which).
pub fn has_depthwise_kernel() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        has_fused_depthwise() || host_features().avx2
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether `qcc_maxpool` may run this pooling geometry
/// (`[h, w, oh, ow, kh, kw, sh, sw, pad top, pad left]`): every window
/// holds an input element.
pub(crate) fn pool_windows_hold_elements(geom: &[usize; 10]) -> bool {
    pool::windows_hold_elements(geom)
}

/// Whether [`qcc_depthwise`] also stores a fused requantize here (its
/// AVX-512 form).
pub fn has_fused_depthwise() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        host_features().avx512vnni && std::is_x86_feature_detected!("avx512vbmi")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The symbol name of a fused AVX512-VNNI micro-kernel.
pub(crate) fn fused_kernel_name(mode: FusedMode, fast: bool, mr: usize, nb: usize) -> String {
    let m = match mode {
        FusedMode::Float => "float",
        FusedMode::Single => "single",
    };
    let f = if fast { "_fast" } else { "" };
    format!("qcc_u8i8_avx512vnni_fused_{m}{f}_{mr}x{nb}")
}

/// The symbol name of a fused AMX kernel.
pub(crate) fn amx_kernel_name(mode: FusedMode, fast: bool) -> String {
    let m = match mode {
        FusedMode::Float => "float",
        FusedMode::Single => "single",
    };
    let f = if fast { "_fast" } else { "" };
    format!("qcc_u8i8_amx_fused_{m}{f}")
}

/// Every micro-kernel this host can run, with its symbol name, to register
/// with the JIT.
pub(crate) fn kernel_symbols() -> Vec<(String, *const u8)> {
    #[allow(unused_mut)]
    let mut out = vec![
        ("qcc_pack_rows".to_string(), qcc_pack_rows as *const u8),
        ("qcc_im2col".to_string(), qcc_im2col as *const u8),
        ("qcc_conv_hwc".to_string(), qcc_conv_hwc as *const u8),
        (
            "qcc_conv2d_f32".to_string(),
            fconv::qcc_conv2d_f32 as *const u8,
        ),
        (
            "qcc_matmul_f32".to_string(),
            fmatmul::qcc_matmul_f32 as *const u8,
        ),
        (
            "qcc_dense_nbits".to_string(),
            nbits::qcc_dense_nbits as *const u8,
        ),
        (
            "qcc_softmax_f32".to_string(),
            fmatmul::qcc_softmax_f32 as *const u8,
        ),
        (
            "qcc_reduce_rows_f32".to_string(),
            fmatmul::qcc_reduce_rows_f32 as *const u8,
        ),
        ("qcc_maxpool".to_string(), pool::qcc_maxpool as *const u8),
        (
            "qcc_copy_strided".to_string(),
            movement::qcc_copy_strided as *const u8,
        ),
        (
            "qcc_conv_epilogue_i32".to_string(),
            qcc_conv_epilogue_i32 as *const u8,
        ),
    ];
    out.extend(elementwise::symbols());
    #[cfg(target_arch = "x86_64")]
    {
        let f = host_features();
        if has_direct_conv() {
            out.extend(amx::conv_symbols());
        }
        if f.avx512vnni {
            out.push((
                "qcc_conv_direct".to_string(),
                direct::qcc_conv_direct as *const u8,
            ));
        }
        if DotPath::Amx.is_supported() {
            for (mode, m) in [(FusedMode::Float, 0), (FusedMode::Single, 1)] {
                for fast in [false, true] {
                    out.push((
                        amx_kernel_name(mode, fast),
                        amx::amx_kernel(m, fast) as *const u8,
                    ));
                }
            }
        }
        for mr in 1..=MR {
            for nb in 1..=PANEL / NR {
                if f.avx512vnni {
                    out.push((
                        kernel_name(DotPath::Avx512Vnni, mr, nb),
                        x86::zmm_kernel(mr, nb) as *const u8,
                    ));
                }
                if mr == 1 && nb == 1 && has_depthwise_kernel() {
                    out.push(("qcc_depthwise".to_string(), qcc_depthwise as *const u8));
                }
                if has_vector_helpers() && mr == 1 && nb == 1 {
                    out.push(("qcc_requant_f32".to_string(), qcc_requant_f32 as *const u8));
                    out.push((
                        "qcc_gemm_epilogue_i32".to_string(),
                        qcc_gemm_epilogue_i32 as *const u8,
                    ));
                }
                if f.avx512vnni {
                    for mode in [FusedMode::Float, FusedMode::Single] {
                        for fast in [false, true] {
                            out.push((
                                fused_kernel_name(mode, fast, mr, nb),
                                fused_kernel(mode, fast, mr, nb).expect("supported") as *const u8,
                            ));
                        }
                    }
                }
                if f.avxvnni {
                    out.push((
                        kernel_name(DotPath::AvxVnni, mr, nb),
                        x86::ymm_kernel(mr, nb) as *const u8,
                    ));
                }
                if f.avx2 {
                    out.push((
                        kernel_name(DotPath::Avx2, mr, nb),
                        x86::avx2_kernel(mr, nb) as *const u8,
                    ));
                }
            }
        }
    }
    out
}

/// The micro-kernel of `path` for an `mr × 16·nb` tile, as a Rust function
/// pointer (for tests and benchmarks of the kernels alone).
pub fn kernel(path: DotPath, mr: usize, nb: usize) -> Option<KernelFn> {
    if !path.is_supported() || !(1..=MR).contains(&mr) || !(1..=PANEL / NR).contains(&nb) {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        match path {
            DotPath::Avx512Vnni => Some(x86::zmm_kernel(mr, nb)),
            DotPath::AvxVnni => Some(x86::ymm_kernel(mr, nb)),
            DotPath::Avx2 => Some(x86::avx2_kernel(mr, nb)),
            _ => None,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// The fused AVX512-VNNI micro-kernel of `mode` for an `mr × 16·nb` tile,
/// in its general or its fast form ([`FusedParams::fast`]).
pub fn fused_kernel(mode: FusedMode, fast: bool, mr: usize, nb: usize) -> Option<FusedKernelFn> {
    if !DotPath::Avx512Vnni.is_supported()
        || !(1..=MR).contains(&mr)
        || !(1..=PANEL / NR).contains(&nb)
    {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let m = match mode {
            FusedMode::Float => 0,
            FusedMode::Single => 1,
        };
        Some(x86::zmm_fused_kernel(m, fast, mr, nb))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// Runs the micro-kernel of `path` for one `mr × 16·nb` tile on slices,
/// after checking that every access stays inside them (for tests and
/// benchmarks of the kernels alone). `None` if the host cannot run it.
#[allow(clippy::too_many_arguments)]
pub fn run_kernel(
    path: DotPath,
    mr: usize,
    nb: usize,
    kp4: usize,
    a: &[u8],
    lda: usize,
    b: &[i8],
    ldb: usize,
    c: &mut [i32],
    ldc: usize,
) -> Option<()> {
    let k = kernel(path, mr, nb)?;
    assert!(kp4 >= 1 && 4 * kp4 <= lda && a.len() >= (mr - 1) * lda + 4 * kp4);
    assert!(64 * nb <= ldb && b.len() >= (kp4 - 1) * ldb + 64 * nb);
    assert!(16 * nb <= ldc && c.len() >= (mr - 1) * ldc + 16 * nb);
    // SAFETY: the kernel's features were checked by `kernel`; the asserts
    // above are exactly its contract on the three buffers.
    unsafe { k(kp4, a.as_ptr(), lda, b.as_ptr(), ldb, c.as_mut_ptr(), ldc) };
    Some(())
}

/// Emits the 4-way dot-accumulate of the Cranelift path:
/// `acc + dot4(u, s)` on `i32x4`, where `u` holds 16 unsigned bytes
/// (activations) and `s` 16 signed bytes (weights), both `i8x16`.
///
/// The tree is exactly the one cranelift-codegen's lowering rules fold into
/// one instruction (x64 `lower.isle`: `vpdpbusd` under `use_avx_vnni` /
/// `use_avx512vnni`, with the signed operand in `swiden` and the unsigned in
/// `uwiden`; aarch64 `lower.isle`: `usdot` under `use_i8mm`, with the
/// unsigned operand first). Any other shape silently lowers to eight or more
/// instructions, still exact: the i16 products cannot overflow
/// (`|255 · −128| < 2^15`) and the pairwise sums are in i32.
/// `aarch64` selects the operand order of aarch64's rule (the target the
/// code is built for, not the host that builds it).
pub fn emit_dot4(b: &mut FunctionBuilder, acc: Value, u: Value, s: Value, aarch64: bool) -> Value {
    let (lo, hi) = if aarch64 {
        let ul = b.ins().uwiden_low(u);
        let sl = b.ins().swiden_low(s);
        let lo = b.ins().imul(ul, sl);
        let uh = b.ins().uwiden_high(u);
        let sh = b.ins().swiden_high(s);
        let hi = b.ins().imul(uh, sh);
        (lo, hi)
    } else {
        let sl = b.ins().swiden_low(s);
        let ul = b.ins().uwiden_low(u);
        let lo = b.ins().imul(sl, ul);
        let sh = b.ins().swiden_high(s);
        let uh = b.ins().uwiden_high(u);
        let hi = b.ins().imul(sh, uh);
        (lo, hi)
    };
    sum_products(b, acc, lo, hi)
}

/// `acc + Σ` of the eight i16 products in `lo` and `hi` (`i16x8` each) by
/// groups of four: the pairwise-sum tail of the trees the lowering rules
/// match (its shape is part of the pattern).
fn sum_products(b: &mut FunctionBuilder, acc: Value, lo: Value, hi: Value) -> Value {
    let lo_l = b.ins().swiden_low(lo);
    let lo_h = b.ins().swiden_high(lo);
    let l = b.ins().iadd_pairwise(lo_l, lo_h);
    let hi_l = b.ins().swiden_low(hi);
    let hi_h = b.ins().swiden_high(hi);
    let h = b.ins().iadd_pairwise(hi_l, hi_h);
    let sum = b.ins().iadd_pairwise(l, h);
    b.ins().iadd(sum, acc)
}

/// [`emit_dot4`] with both operands signed (`i8x16`): the tree aarch64's
/// lowering folds into one `sdot` under FEAT_DotProd (`lower.isle`, the
/// rule before `usdot`'s). Exact for the same reason.
pub fn emit_sdot4(b: &mut FunctionBuilder, acc: Value, a: Value, s: Value) -> Value {
    let al = b.ins().swiden_low(a);
    let sl = b.ins().swiden_low(s);
    let lo = b.ins().imul(al, sl);
    let ah = b.ins().swiden_high(a);
    let sh = b.ins().swiden_high(s);
    let hi = b.ins().imul(ah, sh);
    sum_products(b, acc, lo, hi)
}

/// Loads 4 bytes at `p` and repeats them over the 16 lanes of an `i8x16`.
pub fn emit_broadcast4(b: &mut FunctionBuilder, p: Value) -> Value {
    let flags = MemFlagsData::new().with_notrap();
    let w = b.ins().load(types::I32, flags, p, 0);
    let v = b.ins().splat(types::I32X4, w);
    let le = MemFlagsData::new().with_endianness(cranelift_codegen::ir::Endianness::Little);
    b.ins().bitcast(types::I8X16, le, v)
}

/// Reference semantics of one tile, for tests of the kernels.
pub fn reference_tile(
    mr: usize,
    ncols: usize,
    kp4: usize,
    a: &[u8],
    lda: usize,
    b: &[i8],
    ldb: usize,
) -> Vec<i32> {
    let mut c = vec![0i32; mr * ncols];
    for r in 0..mr {
        for j in 0..ncols {
            let mut acc = 0i32;
            for k4 in 0..kp4 {
                for q in 0..4 {
                    let av = a[r * lda + 4 * k4 + q] as i32;
                    let bv = b[k4 * ldb + 4 * j + q] as i32;
                    acc = acc.wrapping_add(av * bv);
                }
            }
            c[r * ncols + j] = acc;
        }
    }
    c
}
