//! Per-channel sums of constant weights: `Σ_k (w − zw)` and `Σ_k |w − zw|`
//! over the reduction of each output channel.
//!
//! Three users need them, on the same constants: the verifier's accumulator
//! bounds (`|·|` sums), the `fold-input-zero-point` rewrite (both) and code
//! generation's zero-point corrections (both, on its packed panels). Weights
//! can be many megabytes, so the sums are computed here once per use in one
//! pass over the data *in the order it is stored*, never converted to `i64`
//! or unpacked first, with 8-bit data in narrow lanes that the compiler
//! vectorizes.
//!
//! The geometry ([`WeightView`]) names where each channel's weights are:
//! - [`WeightView::Columns`]: `[K, N]` row-major, channel = column (a
//!   `matmul_int`'s `w`);
//! - [`WeightView::Rows`]: `[O, per]` row-major, channel = row (a
//!   `conv2d_int`'s `w [O, C, KH, KW]`);
//! - [`WeightView::Panels`]: a packed layout (`crate::layout`), channel =
//!   panel column, padding skipped.

use crate::layout::Panels;
use crate::tensor::TensorData;

/// How a weight tensor's elements map to output channels.
#[derive(Clone, Copy, Debug)]
pub enum WeightView {
    /// `[K, N]` row-major: channel `n` is column `n`.
    Columns { n: usize },
    /// `[O, per]` row-major: channel `o` is the `per` elements of row `o`.
    Rows { o: usize },
    /// A packed panel layout.
    Panels(Panels),
}

/// `Σ_k (w − zw)` and `Σ_k |w − zw|` of every output channel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelSums {
    pub sum: Vec<i64>,
    pub abs: Vec<u64>,
}

impl ChannelSums {
    /// All sums 0, for `channels` channels.
    pub fn zeros(channels: usize) -> ChannelSums {
        ChannelSums {
            sum: vec![0; channels],
            abs: vec![0; channels],
        }
    }

    /// Adds the term `d = w − zw` to channel `c` (the exact, slow paths).
    fn add(&mut self, c: usize, d: i64) {
        self.sum[c] += d;
        self.abs[c] += d.unsigned_abs();
    }
}

impl WeightView {
    /// The view of constant weights of type `ty`: its packed panels, or
    /// row-major `[O, ...]` (a convolution's, `conv`) or `[K, N]`.
    pub fn of(ty: &crate::TensorType, conv: bool) -> WeightView {
        match ty.layout.geometry(&ty.shape) {
            Some(p) => WeightView::Panels(p),
            None if conv => WeightView::Rows {
                o: ty.shape.first().copied().unwrap_or(0),
            },
            None => WeightView::Columns {
                n: ty.shape.get(1).copied().unwrap_or(0),
            },
        }
    }

    /// The number of output channels.
    pub fn channels(&self) -> usize {
        match *self {
            WeightView::Columns { n } => n,
            WeightView::Rows { o } => o,
            WeightView::Panels(p) => p.n,
        }
    }
}

/// The sums of `data` seen through `view`, with zero point `zws[c]` for
/// channel `c` (`zws` has one entry per channel). `None` when the data does
/// not fit the view (length, or non-integer data).
pub fn channel_sums(data: &TensorData, view: WeightView, zws: &[i64]) -> Option<ChannelSums> {
    let channels = view.channels();
    if zws.len() != channels || !data.scalar_type().is_int() {
        return None;
    }
    let small_zw = zws.iter().all(|z| (-255..=255).contains(z));
    match (data, view) {
        (TensorData::I8(v), WeightView::Panels(p)) => packed_sums(&p, v, zws),
        (TensorData::I8(v), WeightView::Columns { n }) if small_zw && n > 0 => {
            (v.len() % n == 0).then(|| column_sums(v, zws))
        }
        (TensorData::I8(v), WeightView::Rows { o }) if small_zw && o > 0 => {
            (v.len() % o == 0).then(|| row_sums(v, zws))
        }
        (d, WeightView::Panels(p)) => (d.len() == p.len()).then(|| {
            let mut s = ChannelSums::zeros(channels);
            p.for_each_element(|_, off, col| s.add(col, d.get_int(off).unwrap_or(0) - zws[col]));
            s
        }),
        (d, WeightView::Columns { n: c } | WeightView::Rows { o: c }) => {
            if c == 0 || d.len() % c != 0 {
                return (d.is_empty() || c == 0).then(|| ChannelSums::zeros(c));
            }
            let per = d.len() / c;
            let columns = matches!(view, WeightView::Columns { .. });
            let mut s = ChannelSums::zeros(c);
            for i in 0..d.len() {
                let ch = if columns { i % c } else { i / per };
                s.add(ch, d.get_int(i).unwrap_or(0) - zws[ch]);
            }
            Some(s)
        }
    }
}

/// The sums of `i8` data packed in the panels `p` (the bytes of a packed
/// layout, or of a kernel's own packing of the same geometry). `None` if
/// the lengths do not match.
pub fn packed_sums(p: &Panels, v: &[i8], zws: &[i64]) -> Option<ChannelSums> {
    if v.len() != p.len() || zws.len() != p.n {
        return None;
    }
    if zws.iter().all(|z| (-255..=255).contains(z)) {
        return Some(panel_sums(p, v, zws));
    }
    let mut s = ChannelSums::zeros(p.n);
    p.for_each_element(|_, off, col| s.add(col, v[off] as i64 - zws[col]));
    Some(s)
}

/// Rows added in 16-bit lanes between flushes into the 64-bit sums: each
/// term `q − z` lies in `−383..=383`, so 64 of them fit `i16` (and their
/// absolute values `u16`).
const FLUSH_ROWS: usize = 64;

/// Lane-wise sums of rows of `i8`: row `r` adds `row[l] − z[l]` and
/// `|row[l] − z[l]|` to lane `l`, in 16-bit lanes flushed every
/// [`FLUSH_ROWS`] rows into exact 64-bit totals. The inner loop is plain
/// lane arithmetic on equal-length slices, which the compiler vectorizes.
struct Lanes {
    z: Vec<i16>,
    s16: Vec<i16>,
    a16: Vec<u16>,
    rows: usize,
    sum: Vec<i64>,
    abs: Vec<u64>,
}

impl Lanes {
    fn new(z: Vec<i16>) -> Lanes {
        let n = z.len();
        Lanes {
            z,
            s16: vec![0; n],
            a16: vec![0; n],
            rows: 0,
            sum: vec![0; n],
            abs: vec![0; n],
        }
    }

    #[inline]
    fn add(&mut self, row: &[i8]) {
        let n = self.z.len();
        let (row, z) = (&row[..n], &self.z[..n]);
        let (s16, a16) = (&mut self.s16[..n], &mut self.a16[..n]);
        for l in 0..n {
            let d = row[l] as i16 - z[l];
            s16[l] += d;
            a16[l] += d.unsigned_abs();
        }
        self.rows += 1;
        if self.rows == FLUSH_ROWS {
            self.flush();
        }
    }

    fn flush(&mut self) {
        for (t, s) in self.sum.iter_mut().zip(&mut self.s16) {
            *t += *s as i64;
            *s = 0;
        }
        for (t, a) in self.abs.iter_mut().zip(&mut self.a16) {
            *t += *a as u64;
            *a = 0;
        }
        self.rows = 0;
    }

    /// The totals per lane.
    fn finish(mut self) -> (Vec<i64>, Vec<u64>) {
        self.flush();
        (self.sum, self.abs)
    }
}

/// `[K, N]` `i8`, channel = column: one lane per column.
fn column_sums(v: &[i8], zws: &[i64]) -> ChannelSums {
    let n = zws.len();
    let mut lanes = Lanes::new(zws.iter().map(|&z| z as i16).collect());
    for row in v.chunks_exact(n) {
        lanes.add(row);
    }
    let (sum, abs) = lanes.finish();
    ChannelSums { sum, abs }
}

/// `[O, per]` `i8`, channel = row: each row cut into rows of 64 lanes
/// (the tail on its own), the lanes folded per channel.
fn row_sums(v: &[i8], zws: &[i64]) -> ChannelSums {
    const W: usize = 64;
    let per = v.len() / zws.len();
    let mut out = ChannelSums::zeros(zws.len());
    for (c, row) in v.chunks_exact(per.max(1)).take(zws.len()).enumerate() {
        let mut lanes = Lanes::new(vec![zws[c] as i16; W]);
        let mut chunks = row.chunks_exact(W);
        for chunk in &mut chunks {
            lanes.add(chunk);
        }
        let (sum, abs) = lanes.finish();
        out.sum[c] = sum.iter().sum();
        out.abs[c] = abs.iter().sum();
        for &q in chunks.remainder() {
            let d = q as i64 - zws[c];
            out.sum[c] += d;
            out.abs[c] += d.unsigned_abs();
        }
    }
    out
}

/// A packed panel layout: every group of 4 rows of a panel is `4·width`
/// bytes, column `j`'s 4 values at `4j..4j + 4`; one lane per byte, folded
/// per column at the end. Only the `K` real rows are read (the padding
/// rows and columns hold zeros and are skipped).
fn panel_sums(p: &Panels, v: &[i8], zws: &[i64]) -> ChannelSums {
    const G: usize = crate::layout::K_GROUP;
    let mut out = ChannelSums::zeros(p.n);
    let full_groups = p.k / G;
    let tail_rows = p.k % G;
    for (p0, width, panel) in p.panels(v) {
        let cols = width.min(p.n.saturating_sub(p0));
        // The zero point of every byte lane (one per column, 4 lanes each).
        let z = (0..G * width)
            .map(|l| zws.get(p0 + l / G).map_or(0, |&z| z as i16))
            .collect();
        let mut lanes = Lanes::new(z);
        for group in panel[..full_groups * G * width].chunks_exact(G * width) {
            lanes.add(group);
        }
        let (sum, abs) = lanes.finish();
        for j in 0..cols {
            out.sum[p0 + j] = sum[G * j..G * j + G].iter().sum();
            out.abs[p0 + j] = abs[G * j..G * j + G].iter().sum();
        }
        if tail_rows > 0 {
            let group = &panel[full_groups * G * width..(full_groups + 1) * G * width];
            for j in 0..cols {
                for &q in &group[G * j..G * j + tail_rows] {
                    let d = q as i64 - zws[p0 + j];
                    out.sum[p0 + j] += d;
                    out.abs[p0 + j] += d.unsigned_abs();
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{Layout, pack};

    /// The sums straight from the definition, on row-major `[K, N]` data.
    fn reference(k: usize, n: usize, w: &[i64], zws: &[i64]) -> ChannelSums {
        let mut s = ChannelSums::zeros(n);
        for kk in 0..k {
            for c in 0..n {
                s.add(c, w[kk * n + c] - zws[c]);
            }
        }
        s
    }

    fn data(k: usize, n: usize, seed: u64) -> Vec<i8> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..k * n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as i8
            })
            .collect()
    }

    #[test]
    fn every_view_matches_the_definition() {
        for &(k, n) in &[
            (1, 1),
            (3, 5),
            (4, 16),
            (7, 17),
            (65, 70),
            (130, 129),
            (256, 64),
        ] {
            let w = data(k, n, (k * 1000 + n) as u64);
            let wi: Vec<i64> = w.iter().map(|&q| q as i64).collect();
            let zws: Vec<i64> = (0..n).map(|c| (c as i64 * 37) % 255 - 127).collect();
            let want = reference(k, n, &wi, &zws);
            let td = TensorData::I8(w.clone());
            let cols = channel_sums(&td, WeightView::Columns { n }, &zws);
            assert_eq!(cols.as_ref(), Some(&want), "columns {k}x{n}");
            // The transpose, channel = row.
            let t: Vec<i8> = (0..n)
                .flat_map(|c| (0..k).map(move |kk| (c, kk)))
                .map(|(c, kk)| w[kk * n + c])
                .collect();
            let rows = channel_sums(&TensorData::I8(t), WeightView::Rows { o: n }, &zws);
            assert_eq!(rows.as_ref(), Some(&want), "rows {k}x{n}");
            for layout in [Layout::K4N64, Layout::K4N64K64] {
                let packed = pack(layout, &[k, n], &td).expect("packs");
                let p = layout.geometry(&[k, n]).expect("geometry");
                let got = channel_sums(&packed, WeightView::Panels(p), &zws);
                assert_eq!(got.as_ref(), Some(&want), "{layout:?} {k}x{n}");
            }
            // The general path (i32 data) agrees too.
            let wide = TensorData::I32(wi.iter().map(|&q| q as i32).collect());
            assert_eq!(
                channel_sums(&wide, WeightView::Columns { n }, &zws).as_ref(),
                Some(&want)
            );
        }
    }

    #[test]
    fn packed_conv_weights_sum_like_their_rows() {
        for &(o, c, kh, kw) in &[(5, 3, 3, 3), (70, 8, 1, 1), (16, 17, 3, 2)] {
            let per = c * kh * kw;
            let w = data(o, per, (o * 100 + per) as u64);
            let zws: Vec<i64> = (0..o).map(|ch| (ch as i64 * 29) % 200 - 100).collect();
            let td = TensorData::I8(w);
            let want = channel_sums(&td, WeightView::Rows { o }, &zws).expect("rows");
            for layout in [Layout::HwcK4N64, Layout::HwcK4N64K64] {
                let shape = [o, c, kh, kw];
                let packed = pack(layout, &shape, &td).expect("packs");
                let p = layout.geometry(&shape).expect("geometry");
                let got = channel_sums(&packed, WeightView::Panels(p), &zws);
                assert_eq!(got.as_ref(), Some(&want), "{layout:?} {shape:?}");
            }
        }
    }

    #[test]
    fn flushes_keep_large_sums_exact() {
        // −128 against a zero point of 255: every term is −383, the largest
        // a 16-bit lane takes; rows past several flushes.
        let k = 5 * FLUSH_ROWS + 3;
        let (n, zw) = (70, 255);
        let td = TensorData::I8(vec![-128; k * n]);
        let want = ChannelSums {
            sum: vec![-383 * k as i64; n],
            abs: vec![383 * k as u64; n],
        };
        let zws = vec![zw; n];
        assert_eq!(
            channel_sums(&td, WeightView::Columns { n }, &zws).as_ref(),
            Some(&want)
        );
        let p = Layout::K4N64.geometry(&[k, n]).unwrap();
        let packed = pack(Layout::K4N64, &[k, n], &td).unwrap();
        assert_eq!(
            channel_sums(&packed, WeightView::Panels(p), &zws).as_ref(),
            Some(&want)
        );
        // Channel = row, 64-lane chunks past several flushes.
        assert_eq!(
            channel_sums(&td, WeightView::Rows { o: n }, &zws).as_ref(),
            Some(&want)
        );
    }

    #[test]
    fn mismatched_data_is_refused() {
        let td = TensorData::I8(vec![0; 10]);
        assert_eq!(
            channel_sums(&td, WeightView::Columns { n: 3 }, &[0; 3]),
            None
        );
        assert_eq!(
            channel_sums(&td, WeightView::Columns { n: 2 }, &[0; 3]),
            None
        );
        assert_eq!(
            channel_sums(
                &TensorData::F32(vec![0.0; 4]),
                WeightView::Rows { o: 2 },
                &[0; 2]
            ),
            None
        );
    }
}
