//! Layouts: how the elements of a tensor are ordered in memory.
//!
//! Every value is row-major ([`Layout::RowMajor`]) except constant weights
//! that a pass (`pick-layout`) packed into the order a dot-product kernel
//! reads. A packed constant keeps its *logical* shape in its type
//! (`tensor<KxNxi8, #k4n64>` is still a `[K, N]` matrix); only the order of
//! its stored bytes differs, and [`unpack`] gives the row-major elements
//! back, so the interpreter and every pass read packed constants through
//! [`crate::ConstData::logical`] and compute exactly what they compute on
//! the row-major constant.
//!
//! # The panel layouts
//!
//! All packed layouts view the weights as a GEMM operand `B` of `K` rows
//! (the reduction) and `N` columns (the output channels), `w(k, n)`:
//!
//! - `#k4n64`, `#k4n64_k64`: `matmul_int` weights `[K, N]`,
//!   `w(k, n) = W[k, n]`;
//! - `#hwc_k4n64`, `#hwc_k4n64_k64`: `conv2d_int` weights `[O, C, KH, KW]`
//!   (groups 1) as the im2col matrix with `K = KH·KW·C`, `N = O`, rows in
//!   `(ky, kx, c)` order: `w(k, n) = W[n, k mod C, (k / C) / KW, (k / C) mod KW]`.
//!
//! `K` is padded with zero rows to `Kp`, the next multiple of 4 (64 for the
//! `_k64` forms, which AMX tiles need), and `N` with zero columns to `Np`,
//! the next multiple of 16. The columns are cut into panels of 64 (the last
//! panel holds the remaining 16, 32 or 48). Panel `p` (columns
//! `p0 = 64·p .. p0 + width`, `width = min(64, Np − p0)`) starts at byte
//! `p0 · Kp`; inside it, the rows come in groups of 4, each group holding
//! for every column of the panel its 4 consecutive `k` values. So
//!
//! ```text
//! offset(k, n) = p0·Kp + (k / 4)·(4·width) + (n − p0)·4 + k mod 4
//! ```
//!
//! and the data holds `Kp · Np` bytes, every padding byte 0. This is the
//! `B` layout of the `vpdpbusd` micro-kernels (a 4-byte group of one column
//! is one 32-bit lane) and, with `Kp` a multiple of 64, of AMX `B` tiles (16
//! groups of 4 rows × 64 bytes). Packed layouts hold 8-bit `i8` storage
//! only (quantized or plain, any narrow range).

use crate::tensor::TensorData;
use crate::types::{ElemType, ScalarType};
use std::fmt;

/// How the elements of a tensor are laid out in memory (see the module
/// doc). A non-default layout is printed after the element type:
/// `tensor<64x128xi8, #k4n64>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layout {
    /// Dense row-major: the only layout of values that are not constants.
    #[default]
    RowMajor,
    /// `#k4n64`: `matmul_int` weights in panels, `K` padded to 4.
    K4N64,
    /// `#k4n64_k64`: as [`Layout::K4N64`] with `K` padded to 64 (AMX).
    K4N64K64,
    /// `#hwc_k4n64`: `conv2d_int` weights as the im2col panels, `K` padded to 4.
    HwcK4N64,
    /// `#hwc_k4n64_k64`: as [`Layout::HwcK4N64`] with `K` padded to 64 (AMX).
    HwcK4N64K64,
}

/// Columns of one panel.
pub const PANEL_COLS: usize = 64;
/// `N` is padded to a multiple of this (one 16-lane register of i32).
pub const COL_ALIGN: usize = 16;
/// Rows of `K` interleaved per column (4-way dot products).
pub const K_GROUP: usize = 4;

impl Layout {
    /// Every packed layout.
    pub const PACKED: [Layout; 4] = [
        Layout::K4N64,
        Layout::K4N64K64,
        Layout::HwcK4N64,
        Layout::HwcK4N64K64,
    ];

    /// The name in the text format, without the `#` (`None` for row-major,
    /// which is never written).
    pub fn name(self) -> Option<&'static str> {
        match self {
            Layout::RowMajor => None,
            Layout::K4N64 => Some("k4n64"),
            Layout::K4N64K64 => Some("k4n64_k64"),
            Layout::HwcK4N64 => Some("hwc_k4n64"),
            Layout::HwcK4N64K64 => Some("hwc_k4n64_k64"),
        }
    }

    /// The layout named `name` (without the `#`).
    pub fn from_name(name: &str) -> Option<Layout> {
        Layout::PACKED.into_iter().find(|l| l.name() == Some(name))
    }

    pub fn is_packed(self) -> bool {
        self != Layout::RowMajor
    }

    /// Whether this is a layout of `conv2d_int` weights (else of
    /// `matmul_int` weights, or row-major).
    pub fn is_conv(self) -> bool {
        matches!(self, Layout::HwcK4N64 | Layout::HwcK4N64K64)
    }

    /// The panel layout of `matmul_int` (or `conv` = `conv2d_int`)
    /// weights with `K` padded to `k_align` (4 or 64).
    pub fn panels(conv: bool, k_align: usize) -> Layout {
        match (conv, k_align >= 64) {
            (false, false) => Layout::K4N64,
            (false, true) => Layout::K4N64K64,
            (true, false) => Layout::HwcK4N64,
            (true, true) => Layout::HwcK4N64K64,
        }
    }

    /// What `K` is padded to: 4 or 64 (1 for row-major).
    pub fn k_align(self) -> usize {
        match self {
            Layout::RowMajor => 1,
            Layout::K4N64 | Layout::HwcK4N64 => 4,
            Layout::K4N64K64 | Layout::HwcK4N64K64 => 64,
        }
    }

    /// The rank of the logical shape a packed layout applies to.
    pub fn rank(self) -> Option<usize> {
        match self {
            Layout::RowMajor => None,
            Layout::K4N64 | Layout::K4N64K64 => Some(2),
            Layout::HwcK4N64 | Layout::HwcK4N64K64 => Some(4),
        }
    }

    /// The axis of the logical shape that holds the GEMM's columns `N`
    /// (the output channels: where per-axis parameters must be).
    pub fn channel_axis(self) -> Option<usize> {
        match self {
            Layout::RowMajor => None,
            Layout::K4N64 | Layout::K4N64K64 => Some(1),
            Layout::HwcK4N64 | Layout::HwcK4N64K64 => Some(0),
        }
    }

    /// The panel geometry of a packed layout on the logical `shape`
    /// (`None` for row-major or a shape of the wrong rank).
    pub fn geometry(self, shape: &[usize]) -> Option<Panels> {
        if self.rank() != Some(shape.len()) {
            return None;
        }
        let (k, n, conv) = match *shape {
            [k, n] => (k, n, None),
            [o, c, kh, kw] => (c.checked_mul(kh)?.checked_mul(kw)?, o, Some((c, kh, kw))),
            _ => return None,
        };
        let kp = k.checked_next_multiple_of(self.k_align())?;
        let np = n.checked_next_multiple_of(COL_ALIGN)?;
        kp.checked_mul(np)?;
        Some(Panels { k, n, kp, np, conv })
    }

    /// Checks that the layout fits a tensor of this shape and element type:
    /// the rank its kind needs, `i8` storage, per-axis parameters on the
    /// channel axis. The error is worded for a diagnostic.
    pub fn check(self, shape: &[usize], elem: &ElemType) -> Result<(), String> {
        let Some(name) = self.name() else {
            return Ok(());
        };
        let rank = self.rank().expect("packed");
        let what = if self.is_conv() {
            "`conv2d_int` weights [O, C, KH, KW]"
        } else {
            "`matmul_int` weights [K, N]"
        };
        if shape.len() != rank {
            return Err(format!(
                "layout `#{name}` is for {what}, a tensor of rank {rank}, not {}",
                shape.len()
            ));
        }
        if elem.storage() != ScalarType::I8 {
            return Err(format!(
                "layout `#{name}` holds `i8` storage only, not `{}`",
                elem.storage()
            ));
        }
        if let Some(q) = elem.as_quant()
            && let Some(axis) = q.axis
            && Some(axis) != self.channel_axis()
        {
            return Err(format!(
                "layout `#{name}` packs {what}: per-axis parameters must be on axis {}, \
                 the output channels, not {axis}",
                self.channel_axis().expect("packed")
            ));
        }
        if self.geometry(shape).is_none() {
            return Err(format!("layout `#{name}`: the packed size overflows"));
        }
        Ok(())
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "#{n}"),
            None => f.write_str("row-major"),
        }
    }
}

/// The GEMM view of a packed tensor (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Panels {
    /// Rows (the reduction).
    pub k: usize,
    /// Columns (the output channels).
    pub n: usize,
    /// `k` padded (to 4 or 64).
    pub kp: usize,
    /// `n` padded to 16.
    pub np: usize,
    /// For conv weights: `(C, KH, KW)`.
    conv: Option<(usize, usize, usize)>,
}

impl Panels {
    /// The panels of a `[K, N]` GEMM operand with `K` padded to a multiple
    /// of `k_align` (4 or 64); `None` if the sizes overflow.
    pub fn matmul(k: usize, n: usize, k_align: usize) -> Option<Panels> {
        let kp = k.checked_next_multiple_of(k_align.max(1))?;
        let np = n.checked_next_multiple_of(COL_ALIGN)?;
        kp.checked_mul(np)?;
        Some(Panels {
            k,
            n,
            kp,
            np,
            conv: None,
        })
    }

    /// `(p0, width, bytes)` of every panel of `packed` (the packed data of
    /// this geometry), in memory order.
    pub fn panels<'a, T>(&self, packed: &'a [T]) -> impl Iterator<Item = (usize, usize, &'a [T])> {
        let (kp, np) = (self.kp, self.np);
        (0..np).step_by(PANEL_COLS).map(move |p0| {
            let width = PANEL_COLS.min(np - p0);
            (
                p0,
                width,
                packed.get(p0 * kp..(p0 + width) * kp).unwrap_or(&[]),
            )
        })
    }

    /// Calls `f(logical index, packed offset, column)` for every element
    /// (padding skipped), in packed order.
    pub fn for_each_element(&self, mut f: impl FnMut(usize, usize, usize)) {
        let (row_off, col_step) = self.logical_strides();
        let mut p = 0;
        for p0 in (0..self.np).step_by(PANEL_COLS) {
            let width = PANEL_COLS.min(self.np - p0);
            let cols = width.min(self.n.saturating_sub(p0));
            for k4 in (0..self.kp).step_by(K_GROUP) {
                let rows = K_GROUP.min(self.k.saturating_sub(k4));
                for j in 0..cols {
                    let base = (p0 + j) * col_step;
                    for q in 0..rows {
                        f(row_off[k4 + q] + base, p + K_GROUP * j + q, p0 + j);
                    }
                }
                p += K_GROUP * width;
            }
        }
    }

    /// Bytes of the packed data: `Kp · Np`.
    pub fn len(&self) -> usize {
        self.kp * self.np
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where `w(k, n)` is stored (`k < Kp`, `n < Np`).
    pub fn offset(&self, k: usize, n: usize) -> usize {
        let p0 = n / PANEL_COLS * PANEL_COLS;
        let width = PANEL_COLS.min(self.np - p0);
        p0 * self.kp + (k / K_GROUP) * (K_GROUP * width) + (n - p0) * K_GROUP + k % K_GROUP
    }

    /// The row-major index of `w(k, n)` in the logical tensor (`k < K`,
    /// `n < N`).
    pub fn logical_index(&self, k: usize, n: usize) -> usize {
        match self.conv {
            None => k * self.n + n,
            Some((c, kh, kw)) => {
                let (tap, ci) = (k / c, k % c);
                n * (c * kh * kw) + ci * (kh * kw) + tap
            }
        }
    }

    /// The logical offset of row `k` at column 0, and the logical stride
    /// from one column to the next.
    fn logical_strides(&self) -> (Vec<usize>, usize) {
        match self.conv {
            None => ((0..self.k).map(|k| k * self.n).collect(), 1),
            Some((c, kh, kw)) => (
                (0..self.k).map(|k| (k % c) * (kh * kw) + k / c).collect(),
                self.k,
            ),
        }
    }

    /// Calls `f(logical index, packed offset)` for every element, in
    /// packed order (no division per element: large weights pack fast).
    #[inline]
    fn for_each(&self, mut f: impl FnMut(usize, usize)) {
        self.for_each_element(|l, p, _| f(l, p));
    }

    /// Packs row-major `i8` elements.
    pub fn pack_i8(&self, logical: &[i8]) -> Vec<i8> {
        let mut out = vec![0i8; self.len()];
        if self.conv.is_none() {
            self.matmul_groups(
                |rows, p0, cols, group| {
                    if let &[r0, r1, r2, r3] = rows {
                        // A full group: one 4-byte store per column.
                        let row = |r: usize| &logical[r + p0..r + p0 + cols];
                        let (a, b, c, d) = (row(r0), row(r1), row(r2), row(r3));
                        for (j, dst) in group.chunks_exact_mut(K_GROUP).take(cols).enumerate() {
                            dst.copy_from_slice(&[a[j], b[j], c[j], d[j]]);
                        }
                        return;
                    }
                    for (q, &r) in rows.iter().enumerate() {
                        let src = &logical[r + p0..r + p0 + cols];
                        for (d, &v) in group.chunks_exact_mut(K_GROUP).zip(src) {
                            d[q] = v;
                        }
                    }
                },
                &mut out,
            );
        } else {
            self.for_each(|l, p| out[p] = logical[l]);
        }
        out
    }

    /// The row-major elements of packed `i8` data.
    pub fn unpack_i8(&self, packed: &[i8]) -> Vec<i8> {
        let mut out = vec![0i8; self.k * self.n];
        if self.conv.is_none() {
            // The same walk, copying the other way.
            let mut p = 0;
            for p0 in (0..self.np).step_by(PANEL_COLS) {
                let width = PANEL_COLS.min(self.np - p0);
                let cols = width.min(self.n.saturating_sub(p0));
                for k4 in (0..self.kp).step_by(K_GROUP) {
                    let group = &packed[p..p + K_GROUP * width];
                    for q in 0..K_GROUP.min(self.k.saturating_sub(k4)) {
                        let r = (k4 + q) * self.n + p0;
                        for (d, s) in out[r..r + cols].iter_mut().zip(group.chunks_exact(K_GROUP)) {
                            *d = s[q];
                        }
                    }
                    p += K_GROUP * width;
                }
            }
        } else {
            self.for_each(|l, p| out[l] = packed[p]);
        }
        out
    }

    /// For matmul weights: calls `f(row starts, p0, cols, group)` for every
    /// group of 4 rows of every panel, with the logical offsets of its rows
    /// (fewer than 4 at the end of `K`) and its packed bytes.
    fn matmul_groups(&self, mut f: impl FnMut(&[usize], usize, usize, &mut [i8]), out: &mut [i8]) {
        let mut p = 0;
        let mut rows = Vec::with_capacity(K_GROUP);
        for p0 in (0..self.np).step_by(PANEL_COLS) {
            let width = PANEL_COLS.min(self.np - p0);
            let cols = width.min(self.n.saturating_sub(p0));
            for k4 in (0..self.kp).step_by(K_GROUP) {
                rows.clear();
                rows.extend((k4..self.k.min(k4 + K_GROUP)).map(|k| k * self.n));
                f(&rows, p0, cols, &mut out[p..p + K_GROUP * width]);
                p += K_GROUP * width;
            }
        }
    }

    /// The first padding byte of packed data (of the packed length) that
    /// is not 0.
    pub fn nonzero_padding(&self, packed: &[i8]) -> Option<usize> {
        let full_groups = self.k / K_GROUP;
        let nonzero = |from: usize, to: usize| -> Option<usize> {
            let bytes = packed.get(from..to.min(packed.len()))?;
            bytes.iter().position(|&b| b != 0).map(|i| from + i)
        };
        let mut p = 0;
        for p0 in (0..self.np).step_by(PANEL_COLS) {
            let width = PANEL_COLS.min(self.np - p0);
            let cols = width.min(self.n.saturating_sub(p0));
            let group = K_GROUP * width;
            for g in 0..self.kp / K_GROUP {
                let at = p + g * group;
                if g < full_groups {
                    // Only the padding columns of a full group.
                    if cols < width
                        && let Some(i) = nonzero(at + K_GROUP * cols, at + group)
                    {
                        return Some(i);
                    }
                    continue;
                }
                let rows = K_GROUP.min(self.k.saturating_sub(K_GROUP * g));
                for j in 0..width {
                    let used = if j < cols { rows } else { 0 };
                    let col = at + K_GROUP * j;
                    if let Some(i) = nonzero(col + used, col + K_GROUP) {
                        return Some(i);
                    }
                }
            }
            p += self.kp * width;
        }
        None
    }
}

/// Packs row-major data of the logical `shape` into `layout` (row-major:
/// a copy). `None` if the layout does not fit (see [`Layout::check`]) or
/// the data is not `i8` of the shape's size.
pub fn pack(layout: Layout, shape: &[usize], data: &TensorData) -> Option<TensorData> {
    if layout == Layout::RowMajor {
        return Some(data.clone());
    }
    let g = layout.geometry(shape)?;
    match data {
        TensorData::I8(v) if v.len() == g.k * g.n => Some(TensorData::I8(g.pack_i8(v))),
        _ => None,
    }
}

/// The row-major elements of data stored in `layout` (row-major: a copy).
/// `None` if the data does not have the packed size or is not `i8`.
pub fn unpack(layout: Layout, shape: &[usize], data: &TensorData) -> Option<TensorData> {
    if layout == Layout::RowMajor {
        return Some(data.clone());
    }
    let g = layout.geometry(shape)?;
    match data {
        TensorData::I8(v) if v.len() == g.len() => Some(TensorData::I8(g.unpack_i8(v))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for l in Layout::PACKED {
            assert_eq!(Layout::from_name(l.name().unwrap()), Some(l));
        }
        assert_eq!(Layout::from_name("row_major"), None);
    }

    #[test]
    fn matmul_offsets() {
        // K = 5, N = 70: Kp = 8, Np = 80; panels of 64 and 16 columns.
        let g = Layout::K4N64.geometry(&[5, 70]).unwrap();
        assert_eq!((g.kp, g.np, g.len()), (8, 80, 640));
        assert_eq!(g.offset(0, 0), 0);
        assert_eq!(g.offset(3, 0), 3);
        assert_eq!(g.offset(0, 1), 4);
        assert_eq!(g.offset(4, 0), 256);
        assert_eq!(g.offset(0, 64), 64 * 8);
        assert_eq!(g.offset(4, 65), 64 * 8 + 64 + 4);
        let g64 = Layout::K4N64K64.geometry(&[5, 70]).unwrap();
        assert_eq!((g64.kp, g64.np), (64, 80));
    }

    #[test]
    fn pack_unpack_round_trip() {
        for (layout, shape) in [
            (Layout::K4N64, vec![7, 130]),
            (Layout::K4N64K64, vec![3, 16]),
            (Layout::HwcK4N64, vec![5, 3, 3, 2]),
            (Layout::HwcK4N64K64, vec![70, 2, 1, 3]),
        ] {
            let n: usize = shape.iter().product();
            let vals: Vec<i8> = (0..n).map(|i| (i * 37 % 255) as i8).collect();
            let d = TensorData::I8(vals);
            let p = pack(layout, &shape, &d).unwrap();
            let g = layout.geometry(&shape).unwrap();
            assert_eq!(p.len(), g.len());
            let TensorData::I8(pv) = &p else { panic!() };
            assert_eq!(g.nonzero_padding(pv), None);
            assert_eq!(unpack(layout, &shape, &p).unwrap(), d);
        }
    }

    /// Every padding byte, and no element byte, is reported when it alone
    /// is not zero.
    #[test]
    fn nonzero_padding_finds_every_padding_byte() {
        for (layout, shape) in [
            (Layout::K4N64, vec![7, 130]),
            (Layout::K4N64, vec![8, 64]),
            (Layout::K4N64K64, vec![70, 50]),
            (Layout::HwcK4N64, vec![17, 3, 2, 3]),
            (Layout::HwcK4N64K64, vec![16, 4, 1, 1]),
        ] {
            let g = layout.geometry(&shape).unwrap();
            let mut real = vec![false; g.len()];
            g.for_each_element(|_, p, _| real[p] = true);
            let mut bytes = vec![0i8; g.len()];
            for i in 0..g.len() {
                bytes[i] = 1;
                let want = (!real[i]).then_some(i);
                assert_eq!(
                    g.nonzero_padding(&bytes),
                    want,
                    "{layout:?} {shape:?} byte {i}"
                );
                bytes[i] = 0;
            }
        }
    }

    #[test]
    fn packing_follows_the_offset_formula() {
        for (layout, shape) in [
            (Layout::K4N64, vec![7, 130]),
            (Layout::K4N64K64, vec![70, 50]),
            (Layout::HwcK4N64, vec![17, 3, 2, 3]),
        ] {
            let g = layout.geometry(&shape).unwrap();
            let n: usize = shape.iter().product();
            let vals: Vec<i8> = (0..n).map(|i| (i % 251) as i8).collect();
            let p = g.pack_i8(&vals);
            for k in 0..g.k {
                for c in 0..g.n {
                    assert_eq!(p[g.offset(k, c)], vals[g.logical_index(k, c)], "{k} {c}");
                }
            }
        }
    }

    #[test]
    fn conv_rows_are_tap_major() {
        // [O=1, C=2, KH=1, KW=2]: W[0, c, 0, x] = 10·c + x; rows k = x·C + c.
        let g = Layout::HwcK4N64.geometry(&[1, 2, 1, 2]).unwrap();
        let w = [0i8, 1, 10, 11];
        let p = g.pack_i8(&w);
        assert_eq!(&p[..4], &[0, 10, 1, 11]);
    }

    #[test]
    fn check_rejects_misfits() {
        let i8t = ElemType::Scalar(ScalarType::I8);
        assert!(Layout::K4N64.check(&[4, 4], &i8t).is_ok());
        assert!(Layout::K4N64.check(&[4, 4, 4], &i8t).is_err());
        assert!(
            Layout::K4N64
                .check(&[4, 4], &ElemType::Scalar(ScalarType::U8))
                .unwrap_err()
                .contains("`i8` storage")
        );
        assert!(Layout::HwcK4N64.check(&[4, 4], &i8t).is_err());
    }
}
