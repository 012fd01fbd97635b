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
    /// The AVX2 build of the same body (wider copies and row sums).
    ///
    /// # Safety
    /// As [`qcc_im2col`]'s; the host must have AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn wide(x: *const u8, prm: *const i64, a: *mut u8, rs: *mut i32, hwc: *mut u8) {
        // SAFETY: the contract.
        unsafe { im2col(x, prm, a, rs, hwc) }
    }
    #[cfg(target_arch = "x86_64")]
    if host_features().avx2 {
        // SAFETY: the contract; the host has AVX2.
        unsafe { wide(x, prm, a, rs, hwc) };
        return;
    }
    // SAFETY: the contract.
    unsafe { im2col(x, prm, a, rs, hwc) }
}

/// The padded HWC images of a convolution's NCHW input, as [`qcc_im2col`]
/// makes each one (`ua` around the image, `x ^ 0x80` when `flip`), all `n`
/// of them: image `i` at `hwc + i·hp·wp·c` (`hp = pt + h + pb`,
/// `wp = pl + w + pr`). The direct convolution reads its rows from them.
/// `prm` as [`qcc_im2col`]'s.
///
/// # Safety
/// `prm` readable for 19 i64 describing a valid geometry, `x` readable for
/// `n·c·h·w` bytes, `hwc` writable for `n·hp·wp·c` bytes; not overlapping.
pub(crate) unsafe extern "C" fn qcc_conv_hwc(x: *const u8, prm: *const i64, hwc: *mut u8) {
    /// The AVX2 build of the same body.
    ///
    /// # Safety
    /// As [`qcc_conv_hwc`]'s; the host must have AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn wide(x: *const u8, prm: *const i64, hwc: *mut u8) {
        // SAFETY: the contract.
        unsafe { conv_hwc(x, prm, hwc) }
    }
    #[cfg(target_arch = "x86_64")]
    if host_features().avx2 {
        // SAFETY: the contract; the host has AVX2.
        unsafe { wide(x, prm, hwc) };
        return;
    }
    // SAFETY: the contract.
    unsafe { conv_hwc(x, prm, hwc) }
}

/// The body of [`qcc_conv_hwc`].
///
/// # Safety
/// As [`qcc_conv_hwc`]'s.
#[inline(always)]
unsafe fn conv_hwc(x: *const u8, prm: *const i64, hwc: *mut u8) {
    // SAFETY: 19 parameters (the contract).
    let p = unsafe { std::slice::from_raw_parts(prm, 19) };
    let g = |i: usize| p[i] as usize;
    let (n, c, h, w, pt, pl) = (g(0), g(1), g(2), g(3), g(8), g(9));
    let flip = if p[15] != 0 { 0x80u8 } else { 0 };
    let ua = p[16] as u8;
    let (hp, wp) = (pt + h + g(17), pl + w + g(18));
    let img = hp * wp * c;
    // SAFETY: the extents the contract guarantees.
    let (xs, t) = unsafe {
        (
            std::slice::from_raw_parts(x, n * c * h * w),
            std::slice::from_raw_parts_mut(hwc, n * img),
        )
    };
    for i in 0..n {
        let xi = &xs[i * c * h * w..(i + 1) * c * h * w];
        hwc_image(
            xi,
            [c, h, w, pt, pl, hp, wp],
            flip,
            ua,
            &mut t[i * img..(i + 1) * img],
        );
    }
}

/// `dst[p·C + ci] = src[ci][p] ^ flip` for the pixels of `src` (`dst`
/// holds `C` channels per pixel). Blocks of 16 pixels go through a fixed
/// array, which the compiler turns into byte shuffles.
#[inline(always)]
fn interleave<const C: usize>(src: &[&[u8]; C], flip: u8, dst: &mut [u8]) {
    let n = src[0].len();
    let mut p = 0;
    while p + 16 <= n {
        let cols: [&[u8; 16]; C] =
            std::array::from_fn(|ci| src[ci][p..p + 16].try_into().expect("16 pixels"));
        let out: &mut [u8] = &mut dst[p * C..(p + 16) * C];
        for q in 0..16 {
            for ci in 0..C {
                out[q * C + ci] = cols[ci][q] ^ flip;
            }
        }
        p += 16;
    }
    for (q, d) in dst[p * C..].chunks_exact_mut(C).enumerate() {
        for ci in 0..C {
            d[ci] = src[ci][p + q] ^ flip;
        }
    }
}

/// The body of [`qcc_im2col`] (inlined into each build).
///
/// # Safety
/// As [`qcc_im2col`]'s.
#[inline(always)]
unsafe fn im2col(x: *const u8, prm: *const i64, a: *mut u8, rs: *mut i32, hwc: *mut u8) {
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
    // A 1×1 convolution of stride 1 without padding: each packed row is a
    // pixel's channels, transposed straight from CHW into the rows.
    let pointwise = kh == 1 && kw == 1 && sh == 1 && sw == 1 && hp == h && wp == w;
    for img in 0..n {
        if pointwise {
            let xi = &xs[img * c * h * w..(img + 1) * c * h * w];
            let rows = &mut dst_ext[r * kp..(r + h * w) * kp];
            pointwise_rows(xi, c, h * w, kp, flip, rows);
            for (i, row) in rows.chunks_exact_mut(kp).enumerate() {
                if kp > k {
                    row[k..].fill(0);
                }
                if !rs.is_null() {
                    let sum: u32 = row[..k].iter().map(|&v| v as u32).sum();
                    // SAFETY: `r + i < rows` (the contract).
                    unsafe { rs.add(r + i).write(sum as i32) };
                }
            }
            r += h * w;
            continue;
        }
        // CHW → padded HWC, with the sign flip.
        let xi = &xs[img * c * h * w..(img + 1) * c * h * w];
        hwc_image(
            xi,
            [c, h, w, pt, pl, hp, wp],
            flip,
            ua,
            &mut t[..hp * wp * c],
        );
        if short {
            let geo = ShortRows {
                c,
                k,
                kp,
                kh,
                kw,
                sh,
                sw,
                dh,
                dw,
                wp,
                oh,
                ow,
                runs,
            };
            match chunk {
                16 => short_rows::<16>(&geo, dst_ext, t, r),
                32 => short_rows::<32>(&geo, dst_ext, t, r),
                _ => short_rows::<64>(&geo, dst_ext, t, r),
            }
            if !rs.is_null() {
                for i in 0..oh * ow {
                    let at = (r + i) * kp;
                    // The row's own `k` bytes (the rows written after it
                    // follow its tail).
                    let sum: u32 = dst_ext[at..at + k].iter().map(|&v| v as u32).sum();
                    // SAFETY: `r + i < rows` (the contract).
                    unsafe { rs.add(r + i).write(sum as i32) };
                }
            }
            r += oh * ow;
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

/// One image's CHW bytes `xi` (`c × h × w`) as the padded HWC image `t`
/// (`hp × wp` pixels of `c` bytes, `ua` around the image at `pt`, `pl`),
/// each byte `x ^ flip`.
#[inline(always)]
fn hwc_image(xi: &[u8], [c, h, w, pt, pl, hp, wp]: [usize; 7], flip: u8, ua: u8, t: &mut [u8]) {
    t[..hp * wp * c].fill(ua);
    // NCHW to HWC in blocks of 32 pixels of a row, so that the block's
    // `32 · c` destination bytes stay in L1 while every channel's 32
    // source bytes are read.
    for y in 0..h {
        for x0 in (0..w).step_by(32) {
            let x1 = (x0 + 32).min(w);
            let dst = &mut t[((pt + y) * wp + pl + x0) * c..((pt + y) * wp + pl + x1) * c];
            // Blocks of 16 channels × 16 pixels by a register transpose.
            // A block of 16 to 31 pixels (a row's tail) takes two
            // overlapping transposes: the second ends at the block's end
            // and rewrites some pixels with the same bytes.
            let mut c0 = 0;
            #[cfg(target_arch = "x86_64")]
            if x1 - x0 >= 16 {
                let starts = [x0, x1 - 16];
                while c0 + 16 <= c {
                    for &px in &starts {
                        let cols = transpose16(xi, (c0 * h + y) * w + px, h * w, flip);
                        for (p, col) in cols.iter().enumerate() {
                            let at = (px - x0 + p) * c + c0;
                            dst[at..at + 16].copy_from_slice(col);
                        }
                    }
                    c0 += 16;
                }
            }
            let plane = |ci: usize| &xi[(ci * h + y) * w + x0..(ci * h + y) * w + x1];
            match (c0, c) {
                // An image's 1, 3 or 4 channels: each pixel's channels
                // in one step, which the compiler unrolls.
                (0, 1) => interleave::<1>(&[plane(0)], flip, dst),
                (0, 2) => interleave::<2>(&[plane(0), plane(1)], flip, dst),
                (0, 3) => interleave::<3>(&[plane(0), plane(1), plane(2)], flip, dst),
                (0, 4) => interleave::<4>(&[plane(0), plane(1), plane(2), plane(3)], flip, dst),
                _ => {
                    for ci in c0..c {
                        for (d, &v) in dst.iter_mut().skip(ci).step_by(c).zip(plane(ci)) {
                            *d = v ^ flip;
                        }
                    }
                }
            }
        }
    }
}

/// One image's `c × pix` CHW bytes as `pix` rows of `kp` bytes (channels
/// first in each row, sign-flipped by `flip`; the rows' tails untouched):
/// blocks of 16 channels × 16 pixels by a register transpose (the last
/// block of a row of blocks overlapping its neighbour), the rest byte by
/// byte.
#[inline(always)]
fn pointwise_rows(xi: &[u8], c: usize, pix: usize, kp: usize, flip: u8, rows: &mut [u8]) {
    let mut c0 = 0;
    #[cfg(target_arch = "x86_64")]
    if pix >= 16 {
        while c0 + 16 <= c {
            let mut p0 = 0;
            while p0 < pix {
                let p = p0.min(pix - 16);
                let cols = transpose16(xi, c0 * pix + p, pix, flip);
                for (q, col) in cols.iter().enumerate() {
                    let at = (p + q) * kp + c0;
                    rows[at..at + 16].copy_from_slice(col);
                }
                p0 += 16;
            }
            c0 += 16;
        }
    }
    for ci in c0..c {
        let src = &xi[ci * pix..(ci + 1) * pix];
        for (q, &v) in src.iter().enumerate() {
            rows[q * kp + ci] = v ^ flip;
        }
    }
}

/// Rows of `qcc_im2col` up to this many bytes are written with fixed-size
/// copies.
const SHORT_ROW: usize = 256;

/// The bytes past the end of `qcc_im2col`'s packed rows and of its HWC
/// image that it may write or read (the caller allocates them).
pub(crate) const IM2COL_SLACK: usize = 64;

/// The geometry [`short_rows`] reads: a convolution's, `runs` copies of
/// `c` (or one of `kw·c`) bytes per kernel row.
struct ShortRows {
    c: usize,
    k: usize,
    kp: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    dh: usize,
    dw: usize,
    wp: usize,
    oh: usize,
    ow: usize,
    runs: usize,
}

/// One image's short packed rows (`kp` bytes each, from row `r0` of
/// `dst`), copied from the padded HWC image `t` in runs of `N` bytes (the
/// excess of a copy is overwritten by the next copy or the row's zeroed
/// tail, or lands in the next row, which is written after, or in the
/// slack), then 64 zero bytes from `k` on. The extents of the last row's
/// copies are checked once; the loop itself has no bounds checks (the
/// bounds-checked loop spent most of its time on them).
#[inline(always)]
fn short_rows<const N: usize>(g: &ShortRows, dst: &mut [u8], t: &[u8], r0: usize) {
    if g.oh * g.ow == 0 {
        return;
    }
    let tap_max = ((g.kh - 1) * g.kw + g.runs - 1) * g.c;
    let src_max = (((g.oh - 1) * g.sh + (g.kh - 1) * g.dh) * g.wp + (g.ow - 1) * g.sw) * g.c
        + (g.runs - 1) * g.dw * g.c;
    let last = (r0 + g.oh * g.ow - 1) * g.kp;
    assert!(src_max + N <= t.len(), "im2col source extent");
    assert!(
        last + (tap_max + N).max(g.k + 64) <= dst.len(),
        "im2col row extent"
    );
    let (tp, dp) = (t.as_ptr(), dst.as_mut_ptr());
    let mut at = r0 * g.kp;
    for oy in 0..g.oh {
        let mut src_px = oy * g.sh * g.wp * g.c;
        for _ in 0..g.ow {
            for ky in 0..g.kh {
                let src0 = src_px + ky * g.dh * g.wp * g.c;
                for j in 0..g.runs {
                    let src = src0 + j * g.dw * g.c;
                    let pos = at + (ky * g.kw + j) * g.c;
                    // SAFETY: `src + N ≤ src_max + N ≤ t.len()` and
                    // `pos + N ≤ last + tap_max + N ≤ dst.len()` (checked
                    // above; every row's offsets are at most the last's);
                    // `t` and `dst` are distinct slices.
                    unsafe { core::ptr::copy_nonoverlapping(tp.add(src), dp.add(pos), N) };
                }
            }
            // SAFETY: `at + k + 64 ≤ last + k + 64 ≤ dst.len()` (checked).
            unsafe { core::ptr::write_bytes(dp.add(at + g.k), 0, 64) };
            at += g.kp;
            src_px += g.sw * g.c;
        }
    }
}

/// The 16×16 byte block whose row `i` is `x[base + i·stride ..][..16]`,
/// transposed (`out[p][i] = row_i[p] ^ flip`), by four rounds of SSE2
/// unpacks.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) fn transpose16(x: &[u8], base: usize, stride: usize, flip: u8) -> [[u8; 16]; 16] {
    use core::arch::x86_64::*;
    let mut r = [unsafe_zero(); 16];
    // SAFETY: SSE2 is part of x86-64.
    let f = unsafe { _mm_set1_epi8(flip as i8) };
    for (i, ri) in r.iter_mut().enumerate() {
        let at = base + i * stride;
        let row: &[u8; 16] = x[at..at + 16].try_into().expect("16 bytes");
        // SAFETY: SSE2 is part of x86-64; a 16-byte load from a 16-byte array.
        *ri = unsafe { _mm_xor_si128(_mm_loadu_si128(row.as_ptr() as *const __m128i), f) };
    }
    // SAFETY: SSE2 is part of x86-64; every store is of 16 bytes to a
    // 16-byte array.
    unsafe {
        // Round 1: bytes of row pairs (i, i+1); 2: 16-bit pairs of (i, i+2);
        // 3: 32-bit of (i, i+4); 4: 64-bit of (i, i+8).
        let mut t = [_mm_setzero_si128(); 16];
        for i in 0..8 {
            t[2 * i] = _mm_unpacklo_epi8(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm_unpackhi_epi8(r[2 * i], r[2 * i + 1]);
        }
        for g in 0..4 {
            let b = 4 * g;
            r[b] = _mm_unpacklo_epi16(t[b], t[b + 2]);
            r[b + 1] = _mm_unpackhi_epi16(t[b], t[b + 2]);
            r[b + 2] = _mm_unpacklo_epi16(t[b + 1], t[b + 3]);
            r[b + 3] = _mm_unpackhi_epi16(t[b + 1], t[b + 3]);
        }
        for g in 0..2 {
            let b = 8 * g;
            for j in 0..4 {
                t[b + 2 * j] = _mm_unpacklo_epi32(r[b + j], r[b + 4 + j]);
                t[b + 2 * j + 1] = _mm_unpackhi_epi32(r[b + j], r[b + 4 + j]);
            }
        }
        let mut out = [[0u8; 16]; 16];
        for j in 0..8 {
            let lo = _mm_unpacklo_epi64(t[j], t[8 + j]);
            let hi = _mm_unpackhi_epi64(t[j], t[8 + j]);
            _mm_storeu_si128(out[2 * j].as_mut_ptr() as *mut __m128i, lo);
            _mm_storeu_si128(out[2 * j + 1].as_mut_ptr() as *mut __m128i, hi);
        }
        out
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn unsafe_zero() -> core::arch::x86_64::__m128i {
    // SAFETY: SSE2 is part of x86-64.
    unsafe { core::arch::x86_64::_mm_setzero_si128() }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    #[test]
    fn transpose16_transposes_and_flips() {
        // Rows 20 bytes apart, from byte 3.
        let x: Vec<u8> = (0..400).map(|i| (i * 7 % 251) as u8).collect();
        for flip in [0u8, 0x80] {
            let t = super::transpose16(&x, 3, 20, flip);
            for p in 0..16 {
                for i in 0..16 {
                    assert_eq!(t[p][i], x[3 + 20 * i + p] ^ flip, "pixel {p} channel {i}");
                }
            }
        }
    }
}
