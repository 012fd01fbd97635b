//! The f32 `conv2d` helper: im2col with the rows in `(c, kh, kw)` order
//! (padding written as 0.0, so it still takes part), then
//! [`qcc_matmul_f32`](super::fmatmul::qcc_matmul_f32) per group and pixel
//! chunk, then the bias. The matmul adds the products in increasing `k`
//! from +0.0, a multiply then an add each, so every output is the
//! interpreter's sum bit for bit (`semantics.md`, `conv2d`).

/// The column buffer's bound in f32 elements (4 MiB).
const COL_ELEMS: usize = 1 << 20;

/// The geometry [`qcc_conv2d_f32`] reads, in this order, as i64.
pub(crate) const CONV_F32_PARAMS: usize = 16;

/// `out = conv2d(x, w) (+ bias)` in NCHW, f32 throughout.
///
/// `prm` holds `[n, c, h, w, o, groups, kh, kw, oh, ow, sh, sw, dh, dw,
/// pad_top, pad_left]`.
///
/// # Safety
/// `prm` readable for [`CONV_F32_PARAMS`] i64 describing a valid geometry
/// (`groups` divides `c` and `o`, `oh`/`ow` the window's); `x` readable for
/// `n·c·h·w` f32, `w` for `o·(c/groups)·kh·kw`, `bias` null or readable for
/// `o`; `out` writable for `n·o·oh·ow` and overlapping none of them.
pub(crate) unsafe extern "C" fn qcc_conv2d_f32(
    x: *const f32,
    w: *const f32,
    bias: *const f32,
    prm: *const i64,
    out: *mut f32,
) {
    // SAFETY: the contract.
    let raw = unsafe { std::slice::from_raw_parts(prm, CONV_F32_PARAMS) };
    let mut p = [0usize; CONV_F32_PARAMS];
    for (d, &v) in p.iter_mut().zip(raw) {
        *d = v as usize;
    }
    let [n, c, h, wd, o, g, kh, kw, oh, ow, sh, sw, dh, dw, pt, pl] = p;
    let (cg, og) = (c / g, o / g);
    let kk = cg * kh * kw;
    let pix = oh * ow;
    // SAFETY: the extents of the contract.
    let (xs, ws, os) = unsafe {
        (
            std::slice::from_raw_parts(x, n * c * h * wd),
            std::slice::from_raw_parts(w, o * kk),
            std::slice::from_raw_parts_mut(out, n * o * pix),
        )
    };
    // SAFETY: the contract (null or `o` readable f32).
    let bs = (!bias.is_null()).then(|| unsafe { std::slice::from_raw_parts(bias, o) });
    if pix == 0 || o == 0 {
        return;
    }
    // A 1×1, stride-1, unpadded window reads x as the matrix itself.
    let direct =
        kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0 && oh == h && ow == wd;
    let chunk = if direct {
        pix
    } else {
        (COL_ELEMS / kk.max(1)).clamp(64.min(pix), pix)
    };
    let mut col = if direct {
        Vec::new()
    } else {
        vec![0.0f32; kk * chunk]
    };
    let mut tmp = if chunk < pix {
        vec![0.0f32; og * chunk]
    } else {
        Vec::new()
    };
    for b in 0..n {
        for gi in 0..g {
            let xg = &xs[(b * c + gi * cg) * h * wd..(b * c + (gi + 1) * cg) * h * wd];
            let wg = &ws[gi * og * kk..(gi + 1) * og * kk];
            let og_out = &mut os[(b * o + gi * og) * pix..(b * o + (gi + 1) * og) * pix];
            let mut p0 = 0;
            while p0 < pix {
                let pc = chunk.min(pix - p0);
                let src: &[f32] = if direct {
                    xg
                } else {
                    fill_col(
                        xg,
                        &mut col[..kk * pc],
                        [h, wd],
                        [cg, kh, kw],
                        [ow, sh, sw, dh, dw, pt, pl],
                        p0,
                        pc,
                    );
                    &col[..kk * pc]
                };
                let dst: &mut [f32] = if pc == pix {
                    &mut og_out[..]
                } else {
                    &mut tmp[..og * pc]
                };
                // SAFETY: `wg` is `[og, kk]`, `src` `[kk, pc]`, `dst`
                // `[og, pc]`, a separate buffer.
                unsafe {
                    super::fmatmul::qcc_matmul_f32(
                        wg.as_ptr(),
                        src.as_ptr(),
                        1,
                        og,
                        kk,
                        pc,
                        0,
                        dst.as_mut_ptr(),
                    )
                };
                if pc != pix {
                    for r in 0..og {
                        og_out[r * pix + p0..r * pix + p0 + pc]
                            .copy_from_slice(&tmp[r * pc..(r + 1) * pc]);
                    }
                }
                p0 += pc;
            }
            if let Some(bs) = bs {
                for (r, row) in og_out.chunks_exact_mut(pix).enumerate() {
                    let bv = bs[gi * og + r];
                    for v in row {
                        *v += bv;
                    }
                }
            }
        }
    }
}

/// The rows `(ci, ky, kx)` of the column matrix for the output pixels
/// `p0..p0 + pc` of one group: `col[row, p]` is the input the tap reads, or
/// 0.0 where it reads padding.
fn fill_col(
    xg: &[f32],
    col: &mut [f32],
    [h, wd]: [usize; 2],
    [cg, kh, kw]: [usize; 3],
    [ow, sh, sw, dh, dw, pt, pl]: [usize; 7],
    p0: usize,
    pc: usize,
) {
    let mut row = 0;
    for ci in 0..cg {
        let plane = &xg[ci * h * wd..(ci + 1) * h * wd];
        for ky in 0..kh {
            for kx in 0..kw {
                let dst = &mut col[row * pc..(row + 1) * pc];
                let mut p = p0;
                while p < p0 + pc {
                    let (oy, ox0) = (p / ow, p % ow);
                    let run = (ow - ox0).min(p0 + pc - p);
                    let seg = &mut dst[p - p0..p - p0 + run];
                    let ih = (oy * sh + ky * dh).wrapping_sub(pt);
                    if ih >= h {
                        seg.fill(0.0);
                    } else {
                        let line = &plane[ih * wd..(ih + 1) * wd];
                        let off = kx * dw;
                        for (j, v) in seg.iter_mut().enumerate() {
                            let iw = ((ox0 + j) * sw + off).wrapping_sub(pl);
                            *v = if iw < wd { line[iw] } else { 0.0 };
                        }
                    }
                    p += run;
                }
                row += 1;
            }
        }
    }
}
