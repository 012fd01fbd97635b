//! Calibration: histograms of observed tensors and the choice of a range
//! (and from it a scale and a zero point) for each method.
//!
//! Definitions (also in `docs/quantize.md`):
//! - a [`Histogram`] covers `[-t, t]` in `bins` equal bins (`t` = the largest
//!   |x| seen); when a later batch holds a larger |x| the histogram grows by
//!   whole bins of the old width on both sides (onnxruntime's
//!   `HistogramCollector.merge_histogram`), so old counts are never
//!   re-binned and the number of bins stays even;
//! - `minmax`: the range is `[min x, max x]`;
//! - `percentile(P)`: `(100 − P)/200` of the distribution is cut on each
//!   side (onnxruntime's non-symmetric percentile), clipped to `[min x, max x]`;
//! - `entropy`: the KL-divergence search of TensorRT / onnxruntime over
//!   symmetric windows of `2i` bins around the middle, `i` from
//!   `target_bins/2` to `bins/2`; the range is the window's edges;
//! - `mse`: the symmetric window (clipped to `[min x, max x]`) whose
//!   quantization, with the scale and zero point it implies, has the least
//!   mean squared error over the histogram's bin centres.

/// How a tensor's range is chosen from its observed values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    MinMax,
    /// The percentile of |x|, in percent (onnxruntime's default 99.999).
    Percentile(f64),
    Entropy,
    Mse,
}

/// The number of histogram bins of a new observer.
pub const DEFAULT_BINS: usize = 2048;
/// The number of target bins of the entropy search for 8-bit codes.
pub const TARGET_BINS_8BIT: usize = 128;

/// The observed values of one tensor: exact min and max and a symmetric
/// histogram of the values.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// The counts, `counts.len()` bins over `[-threshold, threshold]`.
    pub counts: Vec<u64>,
    pub threshold: f32,
    pub min: f32,
    pub max: f32,
    /// Whether any value was seen.
    pub seen: bool,
}

impl Histogram {
    /// An empty histogram of `bins` bins (rounded up to an even number).
    pub fn new(bins: usize) -> Histogram {
        let bins = bins.max(2).next_multiple_of(2);
        Histogram {
            counts: vec![0; bins],
            threshold: 0.0,
            min: 0.0,
            max: 0.0,
            seen: false,
        }
    }

    /// An empty histogram of `bins` bins over the final range of this one
    /// (`[-t, t]`, `t` the largest |x| seen), keeping its min and max: a
    /// second calibration pass into it gives the histogram onnxruntime's
    /// collector builds from all samples at once (one `np.histogram` over
    /// the global range), with no bins grown on the way.
    pub fn refit(&self, bins: usize) -> Histogram {
        let mut h = Histogram::new(bins);
        if self.seen {
            h.threshold = self.min.abs().max(self.max.abs());
            h.min = self.min;
            h.max = self.max;
            h.seen = true;
        }
        h
    }

    /// The lower edge of bin `i` (`i == len` gives the upper edge).
    pub fn edge(&self, i: usize) -> f64 {
        let n = self.counts.len() as f64;
        let t = self.threshold as f64;
        -t + 2.0 * t * i as f64 / n
    }

    /// Adds one batch of finite values.
    pub fn add(&mut self, xs: &[f32]) {
        if xs.is_empty() {
            return;
        }
        let (lo, hi) = xs
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        let t = lo.abs().max(hi.abs());
        if !self.seen {
            self.min = lo;
            self.max = hi;
            self.threshold = t;
            self.seen = true;
        } else {
            self.min = self.min.min(lo);
            self.max = self.max.max(hi);
            if t > self.threshold {
                if self.threshold == 0.0 {
                    self.threshold = t;
                } else {
                    let n = self.counts.len();
                    let stride = 2.0 * self.threshold as f64 / n as f64;
                    let half = ((t as f64 - self.threshold as f64) / stride).floor() as usize + 1;
                    let mut grown = vec![0u64; n + 2 * half];
                    grown[half..half + n].copy_from_slice(&self.counts);
                    self.counts = grown;
                    self.threshold = (half as f64 * stride + self.threshold as f64) as f32;
                }
            }
        }
        let n = self.counts.len();
        let th = self.threshold as f64;
        for &x in xs {
            let i = if th == 0.0 {
                n / 2
            } else {
                let f = (x as f64 + th) / (2.0 * th) * n as f64;
                (f.floor().max(0.0) as usize).min(n - 1)
            };
            self.counts[i] += 1;
        }
    }

    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The range `(lo, hi)` that `method` chooses; `qmin..=qmax` are the
    /// codes (used by `entropy`'s target bins and `mse`'s quantizer).
    pub fn range(&self, method: Method, qmin: i64, qmax: i64) -> (f32, f32) {
        if !self.seen || self.threshold == 0.0 {
            return (self.min, self.max);
        }
        match method {
            Method::MinMax => (self.min, self.max),
            Method::Percentile(p) => self.percentile_range(p),
            Method::Entropy => {
                let levels = (qmax - qmin + 1) as usize;
                let target = (levels / 2).clamp(2, self.counts.len());
                self.entropy_range(target)
            }
            Method::Mse => self.mse_range(qmin, qmax),
        }
    }

    /// onnxruntime's percentile range (not symmetric): `c = (100 − p) / 200`
    /// is cut from each side of the cumulative distribution of the
    /// histogram; `lo` is the lower edge of the first bin whose cumulative
    /// fraction reaches `c`, `hi` the lower edge of the first reaching
    /// `1 − c` (`np.searchsorted` on the cdf), clipped to `[min x, max x]`.
    fn percentile_range(&self, p: f64) -> (f32, f32) {
        let total = self.total() as f64;
        let c = (100.0 - p) / 200.0;
        let mut cdf = 0.0;
        let (mut left, mut right) = (None, None);
        for (i, &n) in self.counts.iter().enumerate() {
            cdf += n as f64 / total;
            if left.is_none() && cdf >= c {
                left = Some(i);
            }
            if right.is_none() && cdf >= 1.0 - c {
                right = Some(i);
            }
        }
        let len = self.counts.len();
        let lo = self.edge(left.unwrap_or(len)) as f32;
        let hi = self.edge(right.unwrap_or(len)) as f32;
        (lo.max(self.min), hi.min(self.max))
    }

    fn entropy_range(&self, target: usize) -> (f32, f32) {
        let n = self.counts.len();
        let zero = n / 2;
        let half_target = target / 2;
        let mut best = (f64::INFINITY, half_target);
        for i in half_target..=zero {
            let start = zero - i;
            let end = (zero + i + 1).min(n);
            let sliced = &self.counts[start..end];
            let mut p: Vec<f64> = sliced.iter().map(|&c| c as f64).collect();
            let left: u64 = self.counts[..start].iter().sum();
            let right: u64 = self.counts[end..].iter().sum();
            p[0] += left as f64;
            let last = p.len() - 1;
            p[last] += right as f64;
            let merged = sliced.len() / target;
            let mut q = vec![0f64; p.len()];
            for b in 0..target {
                let s = b * merged;
                let e = if b + 1 == target {
                    sliced.len()
                } else {
                    s + merged
                };
                let sum: u64 = sliced[s..e].iter().sum();
                // onnxruntime expands over the first `merged` bins only.
                let ee = s + merged;
                let nz = p[s..ee].iter().filter(|&&x| x != 0.0).count();
                if nz != 0 {
                    // integer array in onnxruntime: the share is truncated
                    let share = (sum as f64 / nz as f64).trunc();
                    q[s..ee].fill(share);
                }
            }
            let div = match (smooth(&p), smooth(&q)) {
                // onnxruntime keeps the divergence as f32: nearly equal
                // windows tie, and the first (narrowest) wins.
                (Some(p), Some(q)) => kl(&p, &q) as f32 as f64,
                _ => f64::INFINITY,
            };
            if div < best.0 {
                best = (div, i);
            }
        }
        let i = best.1;
        let start = zero - i;
        let end = (zero + i + 1).min(n);
        (
            (self.edge(start) as f32).max(self.min),
            (self.edge(end) as f32).min(self.max),
        )
    }

    /// The squared error, summed over the bin centres weighted by their
    /// counts, of quantizing with the scale and zero point of `[lo, hi]`
    /// (asymmetric, codes `qmin..=qmax`).
    pub fn quantization_mse(&self, lo: f32, hi: f32, qmin: i64, qmax: i64) -> f64 {
        let (scale, zp) = compute_scale_zp(lo, hi, qmin, qmax, false);
        let s = scale as f64;
        let mut err = 0.0;
        for (b, &c) in self.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let x = 0.5 * (self.edge(b) + self.edge(b + 1));
            let q = ((x / s).round_ties_even() + zp as f64).clamp(qmin as f64, qmax as f64);
            let d = x - (q - zp as f64) * s;
            err += c as f64 * d * d;
        }
        err
    }

    fn mse_range(&self, qmin: i64, qmax: i64) -> (f32, f32) {
        let n = self.counts.len();
        let zero = n / 2;
        let mut best = (f64::INFINITY, (self.min, self.max));
        for i in 1..=zero {
            let e = self.edge(zero + i) as f32;
            let (lo, hi) = ((-e).max(self.min), e.min(self.max));
            let err = self.quantization_mse(lo, hi, qmin, qmax);
            if err < best.0 {
                best = (err, (lo, hi));
            }
        }
        best.1
    }
}

/// onnxruntime's `smooth_distribution` (eps = 1e-4), in f64.
fn smooth(p: &[f64]) -> Option<Vec<f64>> {
    let eps = 1e-4;
    let zeros = p.iter().filter(|&&x| x == 0.0).count();
    let nonzeros = p.len() - zeros;
    if nonzeros == 0 {
        return None;
    }
    let eps1 = eps * zeros as f64 / nonzeros as f64;
    Some(
        p.iter()
            .map(|&x| if x == 0.0 { eps } else { x - eps1 })
            .collect(),
    )
}

/// KL(p || q) of unnormalized distributions (each normalized first), as
/// `scipy.stats.entropy`.
fn kl(p: &[f64], q: &[f64]) -> f64 {
    let sp: f64 = p.iter().sum();
    let sq: f64 = q.iter().sum();
    p.iter()
        .zip(q)
        .map(|(&a, &b)| {
            let a = a / sp;
            let b = b / sq;
            if a > 0.0 { a * (a / b).ln() } else { 0.0 }
        })
        .sum()
}

/// The scale and zero point of the range `[rmin, rmax]` on the codes
/// `qmin..=qmax`, as onnxruntime's `compute_scale_zp`: the range is widened
/// to hold 0; symmetric makes it `[-a, a]`, `a = max(|rmin|, |rmax|)`, and the
/// zero point `round((qmin + qmax) / 2)`; the scale is `(rmax − rmin) /
/// (qmax − qmin)` in f64, stored as f32; otherwise the zero point is
/// `round(qmin − rmin / scale)` (f64, ties to even). A scale below the
/// smallest normal f32 gives scale 1 and zero point 0.
pub fn compute_scale_zp(rmin: f32, rmax: f32, qmin: i64, qmax: i64, symmetric: bool) -> (f32, i64) {
    let mut rmin = rmin.min(0.0);
    let mut rmax = rmax.max(0.0);
    if symmetric {
        let a = rmin.abs().max(rmax.abs());
        rmin = -a;
        rmax = a;
    }
    let scale = (rmax as f64 - rmin as f64) / (qmax as f64 - qmin as f64);
    if scale < f32::MIN_POSITIVE as f64 {
        return (1.0, 0);
    }
    let zp = if symmetric {
        ((qmin + qmax) as f64 / 2.0).round_ties_even() as i64
    } else {
        (qmin as f64 - rmin as f64 / scale).round_ties_even() as i64
    };
    (scale as f32, zp.clamp(qmin, qmax))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(xs: &[f32], bins: usize) -> Histogram {
        let mut h = Histogram::new(bins);
        h.add(xs);
        h
    }

    #[test]
    fn scale_zp_matches_onnxruntime_formula() {
        // u8 asymmetric over [-1, 3]: scale 4/255, zp round(1/(4/255)) = round(63.75) = 64
        let (s, z) = compute_scale_zp(-1.0, 3.0, 0, 255, false);
        assert_eq!(s, (4.0f64 / 255.0) as f32);
        assert_eq!(z, 64);
        // a range above zero is widened to hold 0
        assert_eq!(compute_scale_zp(2.0, 5.1, 0, 255, false).1, 0);
        // s8 symmetric: zp 0, scale 2a/254
        let (s, z) = compute_scale_zp(-0.5, 2.54, -127, 127, true);
        assert_eq!((s, z), ((5.08f32 as f64 / 254.0) as f32, 0));
        // all zeros: scale 1, zp 0
        assert_eq!(compute_scale_zp(0.0, 0.0, 0, 255, false), (1.0, 0));
        // ties to even: qmin - rmin/scale = 127.5 -> 128
        let (s, z) = compute_scale_zp(-127.5, 127.5, 0, 255, false);
        assert_eq!((s, z), (1.0, 128));
    }

    #[test]
    fn histogram_grows_by_whole_bins_and_keeps_counts() {
        let mut h = hist(&[-1.0, 1.0, 0.1], 4);
        assert_eq!(h.counts, vec![1, 0, 1, 1]);
        h.add(&[1.4]);
        // stride 0.5: (1.4 - 1) / 0.5 = 0.8 -> 1 bin each side, threshold 1.5
        assert_eq!(h.threshold, 1.5);
        assert_eq!(h.counts, vec![0, 1, 0, 1, 1, 1]);
        assert_eq!((h.min, h.max), (-1.0, 1.4));
        assert_eq!(h.total(), 4);
    }

    #[test]
    fn minmax_is_the_observed_range() {
        let mut h = hist(&[-0.25, 3.0], 16);
        h.add(&[-2.0]);
        assert_eq!(h.range(Method::MinMax, 0, 255), (-2.0, 3.0));
    }

    #[test]
    fn percentile_cuts_the_outlier() {
        // 995 values at 0.5 and five at 10, P = 98: 1% is cut on each side;
        // the cdf reaches 0.99 in the bin holding 0.5 (bins of width
        // 20/2000 = 0.01), whose lower edge is the top of the range.
        let mut xs = vec![0.5f32; 995];
        xs.extend([10.0; 5]);
        let h = hist(&xs, 2000);
        let (lo, hi) = h.range(Method::Percentile(98.0), 0, 255);
        assert_eq!(lo, 0.5); // clipped to the observed minimum
        assert!((hi - 0.5).abs() < 1e-5, "{hi}");
        // 100 cuts nothing but still ends at the lower edge of the last
        // bin, as onnxruntime's `compute_percentile`
        let hi = h.range(Method::Percentile(100.0), 0, 255).1;
        assert!((hi - 9.99).abs() < 1e-5, "{hi}");
    }

    #[test]
    fn entropy_ignores_a_rare_outlier_and_keeps_a_uniform_range() {
        // uniform on [-1, 1] with one outlier at 8: the window stays near 1
        let mut xs: Vec<f32> = (0..4000)
            .map(|i| -1.0 + 2.0 * (i as f32 + 0.5) / 4000.0)
            .collect();
        xs.push(8.0);
        let h = hist(&xs, 2048);
        let (lo, hi) = h.range(Method::Entropy, 0, 255);
        // onnxruntime 1.2x's `get_entropy_threshold` on the same histogram
        // gives (-0.99975, 4.3203125): the window is cut well below the
        // outlier, the low side clipped to the observed minimum.
        assert_eq!(lo, -0.99975);
        assert!((hi - 4.3203125).abs() <= 16.0 * 16.0 / 2048.0, "{hi}");
        assert!(hi < 8.0);
    }

    #[test]
    fn mse_clips_a_far_outlier_only_when_that_pays() {
        let body = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|i| -1.0 + 2.0 * (i as f32 + 0.5) / n as f32)
                .collect()
        };
        // 10^4 values in [-1, 1] and one at 100: keeping the outlier costs
        // 10^4 · s²/12 ≈ 130 (s = 101/255), clipping it at 1 costs 99² ≈ 9801:
        // mse keeps (nearly) the whole range.
        let mut xs = body(10_000);
        xs.push(100.0);
        let (_, hi) = hist(&xs, 2048).range(Method::Mse, 0, 255);
        assert!(hi > 90.0, "{hi}");
        // with 10^6 values the rounding error outweighs the outlier (over bin
        // centres 0.098 apart the optimum is near 48.6, not at 1)
        let mut xs = body(1_000_000);
        xs.push(100.0);
        let h = hist(&xs, 2048);
        let (lo, hi) = h.range(Method::Mse, 0, 255);
        assert!(hi < 60.0, "{hi}");
        assert!(lo <= -0.99, "{lo}");
        let minmax = h.quantization_mse(h.min, h.max, 0, 255);
        assert!(h.quantization_mse(lo, hi, 0, 255) < minmax);
    }
}

/// The symmetric scales (zero points 0) of a weight tensor quantized per
/// channel along `axis` on the codes `-qmax..=qmax` (`qmax` 127 for i8, as
/// onnxruntime's symmetric int8 range), or per tensor when `axis` is `None`:
/// each channel's `[min, max]` through [`compute_scale_zp`] with
/// `symmetric = true`. `shape` is row-major over `data`.
pub fn weight_scales(data: &[f32], shape: &[usize], axis: Option<usize>, qmax: i64) -> Vec<f32> {
    let Some(axis) = axis else {
        let lo = data.iter().copied().fold(0.0f32, f32::min);
        let hi = data.iter().copied().fold(0.0f32, f32::max);
        return vec![compute_scale_zp(lo, hi, -qmax, qmax, true).0];
    };
    let channels = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let mut lo = vec![0.0f32; channels];
    let mut hi = vec![0.0f32; channels];
    for (i, &x) in data.iter().enumerate() {
        let c = (i / inner) % channels;
        lo[c] = lo[c].min(x);
        hi[c] = hi[c].max(x);
    }
    lo.iter()
        .zip(&hi)
        .map(|(&l, &h)| compute_scale_zp(l, h, -qmax, qmax, true).0)
        .collect()
}

#[cfg(test)]
mod weight_tests {
    use super::*;

    #[test]
    fn per_channel_weight_scales_are_each_channels_absmax_over_127() {
        // [2, 3] along axis 0: rows |max| 2.54 and 0.5; along axis 1:
        // columns |max| 1, 2.54, 0.127.
        let w = [1.0, -2.54, 0.1, 0.5, 0.0, -0.127];
        let s0 = weight_scales(&w, &[2, 3], Some(0), 127);
        assert_eq!(
            s0,
            vec![(5.08f32 as f64 / 254.0) as f32, (1.0f64 / 254.0) as f32]
        );
        let s1 = weight_scales(&w, &[2, 3], Some(1), 127);
        assert_eq!(s1[0], (2.0f64 / 254.0) as f32);
        assert_eq!(s1[1], (5.08f32 as f64 / 254.0) as f32);
        assert_eq!(s1[2], (0.254f32 as f64 / 254.0) as f32);
        let st = weight_scales(&w, &[2, 3], None, 127);
        assert_eq!(st, vec![(5.08f32 as f64 / 254.0) as f32]);
        // an all-zero channel gets scale 1 (onnxruntime's fallback)
        assert_eq!(
            weight_scales(&[0.0, 0.0], &[2, 1], Some(0), 127),
            vec![1.0, 1.0]
        );
    }
}
