//! The geometry of 2-d sliding windows (convolutions and pools), shared by
//! the verifier (result shapes), the interpreter (which input each tap
//! reads) and the code generator's kernels: one definition of the output
//! size and of the padding.

/// Output size of a convolution or pooling window along one dimension:
/// `⌊(input + pad_begin + pad_end − dilation·(kernel − 1) − 1) / stride⌋ + 1`.
/// `None` when that is < 1, when kernel, stride or dilation is 0, or when
/// the padded input passes `usize::MAX / 4` (so that no index computed from
/// the geometry can overflow).
pub fn output_size(
    input: usize,
    pad_begin: usize,
    pad_end: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
) -> Option<usize> {
    if kernel == 0 || stride == 0 || dilation == 0 {
        return None;
    }
    let padded = input.checked_add(pad_begin)?.checked_add(pad_end)?;
    if padded > usize::MAX / 4 {
        return None;
    }
    let span = dilation.checked_mul(kernel - 1)?.checked_add(1)?;
    let room = padded.checked_sub(span)?;
    Some(room / stride + 1)
}

/// The geometry of a 2-d sliding window over an `H × W` plane (convolution or
/// pooling): kernel, strides, pads `[top, left, bottom, right]`, dilations,
/// and the output size `OH × OW` with
/// `OH = ⌊(H + pt + pb − dh·(KH − 1) − 1) / sh⌋ + 1` (pooling: `dh = 1`).
#[derive(Clone, Debug)]
pub struct Window {
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
}

impl Window {
    pub fn new(
        plane: [usize; 2],
        kernel: [usize; 2],
        strides: [usize; 2],
        pads: [usize; 4],
        dilations: [usize; 2],
    ) -> Result<Window, String> {
        if kernel.contains(&0) {
            return Err(format!("kernel size {kernel:?} must be ≥ 1"));
        }
        if strides.contains(&0) {
            return Err(format!("strides {strides:?} must be ≥ 1"));
        }
        if dilations.contains(&0) {
            return Err(format!("dilations {dilations:?} must be ≥ 1"));
        }
        let [pt, pl, pb, pr] = pads;
        let oh = output_size(plane[0], pt, pb, kernel[0], strides[0], dilations[0]);
        let ow = output_size(plane[1], pl, pr, kernel[1], strides[1], dilations[1]);
        let (Some(oh), Some(ow)) = (oh, ow) else {
            return Err(format!(
                "the window (kernel {kernel:?}, dilations {dilations:?}) does not fit the padded input {plane:?} with pads {pads:?}"
            ));
        };
        Ok(Window {
            h: plane[0],
            w: plane[1],
            kh: kernel[0],
            kw: kernel[1],
            sh: strides[0],
            sw: strides[1],
            dh: dilations[0],
            dw: dilations[1],
            pt,
            pl,
            oh,
            ow,
        })
    }

    /// The input position `(row, column)` read by kernel tap `(ky, kx)` of
    /// output position `(oy, ox)`: `(oy·sh − pt + ky·dh, ox·sw − pl + kx·dw)`,
    /// or `None` when it lies in the padding.
    pub fn position(&self, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
        let row = (oy * self.sh + ky * self.dh).checked_sub(self.pt)?;
        let col = (ox * self.sw + kx * self.dw).checked_sub(self.pl)?;
        (row < self.h && col < self.w).then_some((row, col))
    }

    /// The kernel taps `k` (along one dimension) whose input coordinate
    /// `base + k·d` lies in `0..size`, where `base = o·s − p` may be
    /// negative: the taps that read real elements.
    fn real_taps(
        o: usize,
        s: usize,
        p: usize,
        d: usize,
        k: usize,
        size: usize,
    ) -> std::ops::Range<usize> {
        let base = (o * s) as i128 - p as i128;
        let d = d as i128;
        // First tap with base + k·d ≥ 0, last with base + k·d ≤ size − 1.
        let lo = if base >= 0 { 0 } else { (-base + d - 1) / d };
        let hi = if size as i128 - 1 - base < 0 {
            0
        } else {
            (size as i128 - 1 - base) / d + 1
        };
        let lo = lo.min(k as i128) as usize;
        let hi = hi.min(k as i128) as usize;
        lo..hi.max(lo)
    }

    /// Calls `f(row, column)` for every kernel tap of output `(oy, ox)` that
    /// reads a real element (not the padding), in row-major kernel order.
    /// Only those taps are visited, so the cost does not depend on the pads.
    pub fn for_each_real_position(&self, oy: usize, ox: usize, mut f: impl FnMut(usize, usize)) {
        let rows = Self::real_taps(oy, self.sh, self.pt, self.dh, self.kh, self.h);
        let cols = Self::real_taps(ox, self.sw, self.pl, self.dw, self.kw, self.w);
        for ky in rows {
            for kx in cols.clone() {
                // The taps are real, so the subtractions cannot underflow.
                f(
                    oy * self.sh + ky * self.dh - self.pt,
                    ox * self.sw + kx * self.dw - self.pl,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_sizes() {
        assert_eq!(output_size(8, 1, 1, 3, 2, 1), Some(4));
        assert_eq!(output_size(5, 0, 0, 3, 1, 2), Some(1));
        assert_eq!(output_size(4, 0, 0, 3, 1, 2), None);
        assert_eq!(output_size(4, 0, 0, 3, 0, 1), None);
        assert_eq!(output_size(usize::MAX / 4, 1, 0, 1, 1, 1), None);
    }

    #[test]
    fn positions_skip_the_padding() {
        let w = Window::new([3, 3], [3, 3], [1, 1], [1, 1, 1, 1], [1, 1]).unwrap();
        assert_eq!((w.oh, w.ow), (3, 3));
        assert_eq!(w.position(0, 0, 0, 0), None);
        assert_eq!(w.position(0, 0, 1, 1), Some((0, 0)));
        let mut n = 0;
        w.for_each_real_position(0, 0, |_, _| n += 1);
        assert_eq!(n, 4);
    }
}
