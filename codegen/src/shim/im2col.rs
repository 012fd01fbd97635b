//! The im2col packing of convolution activations for the GEMM kernels.

#[allow(unused_imports)]
use super::*;

/// The im2col packing of a convolution's activations (NCHW bytes) into
/// rows of `kp` bytes, one per output pixel, in the order
/// `kk = (ky·kw + kx)·c + ci`, as unsigned values (`x ^ 0x80` when `flip`,
/// else `x`), padding positions `ua`, the tail `k..kp` zeroed; `rs[r] = Σ`
/// of the row unless `rs` is null. Each image is first copied to `hwc` in
/// HWC order with its padding (`ua`) around it, so that every tap reads
/// inside it and the `kw` taps of a kernel row (dilation 1) are one run of
/// `kw·c` contiguous bytes.
/// `prm`: 19 i64 `[n, c, h, w, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, kp,
/// flip, ua, pb, pr]`.
///
/// # Safety
/// `prm` readable for 19 i64 describing a valid geometry, `x` readable for
/// `n·c·h·w` bytes, `a` writable for `n·oh·ow·kp + IM2COL_SLACK` bytes
/// (`kp ≥ c·kh·kw`; short rows are stored 64 bytes at a time into the
/// slack), `rs` null or writable for `n·oh·ow` i32, `hwc` writable for
/// `(pt + h + pb)·(pl + w + pr)·c + IM2COL_SLACK` bytes (slack that short
/// runs read past the image); none overlapping.
pub(crate) unsafe extern "C" fn qcc_im2col(
    x: *const u8,
    prm: *const i64,
    a: *mut u8,
    rs: *mut i32,
    hwc: *mut u8,
) {
    // SAFETY: 19 parameters (the contract).
    let p = unsafe { std::slice::from_raw_parts(prm, 19) };
    let p: Vec<usize> = p.iter().map(|&v| v as usize).collect();
    let [
        n,
        c,
        h,
        w,
        kh,
        kw,
        sh,
        sw,
        pt,
        pl,
        dh,
        dw,
        oh,
        ow,
        kp,
        flip,
        ua,
        pb,
        pr,
    ] = <[usize; 19]>::try_from(p).expect("19 parameters");
    let flip = if flip != 0 { 0x80u8 } else { 0 };
    let ua = ua as u8;
    let (hp, wp) = (pt + h + pb, pl + w + pr);
    let k = c * kh * kw;
    let rows = n * oh * ow;
    // SAFETY: the extents the contract guarantees.
    let (xs, dst_ext, t) = unsafe {
        (
            std::slice::from_raw_parts(x, n * c * h * w),
            std::slice::from_raw_parts_mut(a, rows * kp + IM2COL_SLACK),
            std::slice::from_raw_parts_mut(hwc, hp * wp * c + IM2COL_SLACK),
        )
    };
    // A kernel row's taps as one run when the dilation is 1.
    let (run, runs) = if dw == 1 { (kw * c, 1) } else { (c, kw) };
    // Short rows (small convolutions: few channels, small kernels, so a
    // tail under 64 bytes) are written in place with copies of a fixed size
    // (16, 32 or 64 bytes, reading into `hwc`'s slack; the excess of a copy
    // is overwritten by the next copy, the zeroed tail or the next row, or
    // lands in `a`'s slack): no `memcpy` / `memset` calls, and nothing is
    // read back (which would stall on the stores).
    let short = kp <= SHORT_ROW && kp - k < 64 && run <= 64;
    let chunk = if run <= 16 {
        16
    } else if run <= 32 {
        32
    } else {
        64
    };
    let mut r = 0usize;
    for img in 0..n {
        // CHW → padded HWC, with the sign flip.
        t[..hp * wp * c].fill(ua);
        let xi = &xs[img * c * h * w..(img + 1) * c * h * w];
        for ci in 0..c {
            let plane = &xi[ci * h * w..(ci + 1) * h * w];
            for y in 0..h {
                let base = ((pt + y) * wp + pl) * c + ci;
                for (xx, &v) in plane[y * w..(y + 1) * w].iter().enumerate() {
                    t[base + xx * c] = v ^ flip;
                }
            }
        }
        if short {
            for oy in 0..oh {
                for ox in 0..ow {
                    let at = r * kp;
                    for ky in 0..kh {
                        let src0 = ((oy * sh + ky * dh) * wp + ox * sw) * c;
                        for j in 0..runs {
                            let src = src0 + j * dw * c;
                            let pos = at + (ky * kw + j) * c;
                            match chunk {
                                16 => copy_fixed::<16>(dst_ext, pos, t, src),
                                32 => copy_fixed::<32>(dst_ext, pos, t, src),
                                _ => copy_fixed::<64>(dst_ext, pos, t, src),
                            }
                        }
                    }
                    // The row's tail (fewer than 64 bytes) must be zeros;
                    // the store's excess lands in the next row or the slack.
                    *dst_ext[at + k..].first_chunk_mut::<64>().expect("64 bytes") = [0; 64];
                    if !rs.is_null() {
                        let sum: u32 = dst_ext[at..at + k].iter().map(|&v| v as u32).sum();
                        // SAFETY: `r < rows` (the contract).
                        unsafe { rs.add(r).write(sum as i32) };
                    }
                    r += 1;
                }
            }
            continue;
        }
        for oy in 0..oh {
            for ox in 0..ow {
                let row = &mut dst_ext[r * kp..(r + 1) * kp];
                for ky in 0..kh {
                    let src0 = ((oy * sh + ky * dh) * wp + ox * sw) * c;
                    for j in 0..runs {
                        let src = src0 + j * dw * c;
                        let pos = (ky * kw + j) * c;
                        // Runs of fewer than 16 bytes are written as 16
                        // (one vector move, not a `memcpy` call): the excess
                        // is overwritten by the next runs or the zeroed
                        // tail (`pos + 16 ≤ kp`), and reads at most 16
                        // bytes into `hwc`'s slack.
                        if run < 16 && pos + 16 <= kp {
                            row[pos..pos + 16].copy_from_slice(&t[src..src + 16]);
                        } else if run <= 4 {
                            // Byte by byte: a call to `memcpy` costs more.
                            #[allow(clippy::manual_memcpy)]
                            for b in 0..run {
                                row[pos + b] = t[src + b];
                            }
                        } else {
                            row[pos..pos + run].copy_from_slice(&t[src..src + run]);
                        }
                    }
                }
                row[k..].fill(0);
                if !rs.is_null() {
                    let sum: u32 = row[..k].iter().map(|&v| v as u32).sum();
                    // SAFETY: `r < rows` (the contract).
                    unsafe { rs.add(r).write(sum as i32) };
                }
                r += 1;
            }
        }
    }
}

/// Rows of `qcc_im2col` up to this many bytes are written with fixed-size
/// copies.
const SHORT_ROW: usize = 256;

/// The bytes past the end of `qcc_im2col`'s packed rows and of its HWC
/// image that it may write or read (the caller allocates them).
pub(crate) const IM2COL_SLACK: usize = 64;

/// `dst[pos..pos + N] = t[src..src + N]`, a copy of a size known at compile
/// time (vector moves).
#[inline(always)]
fn copy_fixed<const N: usize>(dst: &mut [u8], pos: usize, t: &[u8], src: usize) {
    let from: &[u8; N] = t[src..].first_chunk().expect("N bytes");
    *dst[pos..].first_chunk_mut::<N>().expect("N bytes") = *from;
}
