//! The direct convolution on the AVX512-VNNI fused kernels: the GEMM of
//! an im2col-lowered convolution whose `A` rows are read where the padded
//! HWC image holds them (`super::qcc_conv_hwc`) instead of being copied
//! out into packed rows first. With `c` a multiple of 4, the packed
//! weights' `k = (ky·kw + kx)·c + ci` order puts each tap's channels in
//! whole groups of 4, so tap `(ky, kx)` of output pixel `(oy, ox)` is
//! `c / 4` groups at `((oy·sh + ky·dh)·wp + ox·sw + kx·dw)·c` in the image,
//! and the pixels of one output row are `sw·c` bytes apart: the same dot
//! products, in the same order, as the im2col rows give the GEMM kernel,
//! hence the same i32 sums and the same bytes.

use super::x86::{DirectKernelFn, direct_kernel};
use super::{MR, NR, PANEL};

/// The geometry of a direct convolution (all 64-bit, in this order, so
/// that the JIT can emit it as data).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirectGeometry {
    pub n: usize,
    /// Input channels (a multiple of 4).
    pub c: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub dh: usize,
    pub dw: usize,
    pub oh: usize,
    pub ow: usize,
    /// The padded image's rows and row length (pixels).
    pub hp: usize,
    pub wp: usize,
    /// Row length of the packed weights (`kh·kw·c` padded), and columns
    /// (output channels padded to 16).
    pub kp: usize,
    pub np: usize,
    /// Chunks of output rows (`n·oh` in all): the work units are
    /// `chunks × panels`, chunk-major.
    pub chunks: usize,
    /// `0`: float requantize, `1`: single rounding; the tables' fast form.
    pub mode: usize,
    pub fast: usize,
}

impl DirectGeometry {
    /// Bytes of one padded HWC image.
    pub fn image_bytes(&self) -> usize {
        self.hp * self.wp * self.c
    }

    /// Work units: row chunks × weight panels.
    pub fn units(&self) -> usize {
        self.chunks * self.np.div_ceil(PANEL)
    }

    pub fn bytes(&self) -> Vec<u8> {
        [
            self.n,
            self.c,
            self.kh,
            self.kw,
            self.sh,
            self.sw,
            self.dh,
            self.dw,
            self.oh,
            self.ow,
            self.hp,
            self.wp,
            self.kp,
            self.np,
            self.chunks,
            self.mode,
            self.fast,
        ]
        .iter()
        .flat_map(|&v| (v as u64).to_le_bytes())
        .collect()
    }
}

/// Tiles of an output row of `ow` pixels: as few as [`MR`]-row tiles need,
/// their sizes as even as possible (13 pixels: 5, 4, 4 rather than 6, 6, 1).
fn row_tiles(ow: usize) -> impl Iterator<Item = (usize, usize)> {
    let tiles = ow.div_ceil(MR);
    let (base, extra) = ow.checked_div(tiles).map_or((0, 0), |b| (b, ow % tiles));
    (0..tiles).scan(0, move |at, t| {
        let mr = base + usize::from(t < extra);
        let start = *at;
        *at += mr;
        Some((start, mr))
    })
}

/// The direct convolution's units `u0..u1` (see [`DirectGeometry`]): for
/// each, the panel's tiles over the chunk's output rows, each tile
/// requantized into `out` by the fused store.
///
/// # Safety
/// The host must have AVX512F/BW/VL/VNNI; `g` points to a valid geometry;
/// `hwc` holds the `n` padded images ([`super::qcc_conv_hwc`]), `b` the
/// packed weights (`np / 16` … panels of `kp` groups, as `GemmPrep` packs
/// them), `ep` the fused parameters (`FusedParams::bytes` of `np`
/// columns, with the convolution's output strides), `out` the output;
/// `u1 ≤ units()`.
pub(crate) unsafe extern "C" fn qcc_conv_direct(
    hwc: *const u8,
    g: *const DirectGeometry,
    b: *const i8,
    out: *mut u8,
    ep: *const i64,
    u0: usize,
    u1: usize,
) {
    // SAFETY: the contract.
    let g = unsafe { &*g };
    let taps: Vec<usize> = (0..g.kh * g.kw)
        .map(|t| ((t / g.kw) * g.dh * g.wp + (t % g.kw) * g.dw) * g.c)
        .collect();
    let (c4, lda) = (g.c / 4, g.sw * g.c);
    let npan = g.np.div_ceil(PANEL);
    let rows = g.n * g.oh;
    let per = rows.div_ceil(g.chunks.max(1));
    let fast = g.fast != 0;
    let mode = g.mode as u8;
    for u in u0..u1 {
        let (chunk, pan) = (u / npan, u % npan);
        let col0 = pan * PANEL;
        let width = PANEL.min(g.np - col0);
        let nb = width / NR;
        let bp = b.wrapping_add(col0 * g.kp);
        let ldb = width * 4;
        let kernels: [DirectKernelFn; MR] =
            core::array::from_fn(|i| direct_kernel(mode, fast, i + 1, nb));
        for row in chunk * per..((chunk + 1) * per).min(rows) {
            let (img, oy) = (row / g.oh, row % g.oh);
            let base = hwc.wrapping_add(img * g.image_bytes() + oy * g.sh * g.wp * g.c);
            for (ox, mr) in row_tiles(g.ow) {
                // SAFETY: the tile's rows and taps are inside image `img`
                // (the padded image covers every tap of every output
                // pixel), the panel holds `kh·kw·c / 4 ≤ kp / 4` groups,
                // and the tile's output positions are the pixels
                // `row·ow + ox ..` of the output (the contract).
                unsafe {
                    kernels[mr - 1](
                        taps.as_ptr(),
                        taps.len(),
                        c4,
                        base.wrapping_add(ox * lda),
                        lda,
                        bp,
                        ldb,
                        out,
                        row * g.ow + ox,
                        col0,
                        ep,
                    )
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn row_tiles_cover_the_row_evenly() {
        for ow in 0..100 {
            let t: Vec<(usize, usize)> = super::row_tiles(ow).collect();
            assert_eq!(t.len(), ow.div_ceil(super::MR), "{ow}");
            let mut at = 0;
            for &(start, mr) in &t {
                assert_eq!(start, at);
                assert!((1..=super::MR).contains(&mr), "{ow}: {t:?}");
                at += mr;
            }
            assert_eq!(at, ow);
            let (lo, hi) = t
                .iter()
                .fold((usize::MAX, 0), |(l, h), &(_, m)| (l.min(m), h.max(m)));
            assert!(t.is_empty() || hi - lo <= 1, "{ow}: {t:?}");
        }
    }
}
