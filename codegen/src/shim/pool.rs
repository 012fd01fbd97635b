//! `maxpool2d` on 8-bit codes: the maximum is exact and its order free, so
//! each output row is built as the running maximum of the kernel's shifted
//! input rows, a loop over the output columns that the compiler vectorizes
//! (stride 1: one `vpmaxub` per 64 columns with AVX-512). Padded positions
//! take no part (the lowering calls this only when every window holds an
//! input element). f32 keeps the generated loops: the first NaN in window
//! order is the interpreter's answer, an order this would not keep.

/// The window geometry, in the units of the lowering's call.
#[derive(Clone, Copy)]
struct Geom {
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    pt: usize,
    pl: usize,
}

trait Code: Copy + Ord {
    const LEAST: Self;
}
impl Code for u8 {
    const LEAST: u8 = u8::MIN;
}
impl Code for i8 {
    const LEAST: i8 = i8::MIN;
}

/// One plane (`h × w` in, `oh × ow` out).
fn plane<T: Code>(x: &[T], y: &mut [T], g: Geom) {
    // Output columns whose whole window is inside the row.
    let lo = g.pl.div_ceil(g.sw).min(g.ow);
    let hi = if g.w + g.pl >= g.kw {
        ((g.w + g.pl - g.kw) / g.sw + 1).clamp(lo, g.ow)
    } else {
        lo
    };
    for oy in 0..g.oh {
        let row = &mut y[oy * g.ow..(oy + 1) * g.ow];
        row.fill(T::LEAST);
        let top = oy * g.sh;
        for ky in 0..g.kh {
            let Some(iy) = (top + ky).checked_sub(g.pt).filter(|&iy| iy < g.h) else {
                continue;
            };
            let src = &x[iy * g.w..(iy + 1) * g.w];
            for kx in 0..g.kw {
                // Interior columns: `ix = ox·sw + kx − pl` is in the row.
                if g.sw == 1 {
                    let off = lo + kx - g.pl;
                    let (dst, s) = (&mut row[lo..hi], &src[off..off + (hi - lo)]);
                    for (d, &v) in dst.iter_mut().zip(s) {
                        *d = (*d).max(v);
                    }
                } else {
                    for (ox, d) in row.iter_mut().enumerate().take(hi).skip(lo) {
                        *d = (*d).max(src[ox * g.sw + kx - g.pl]);
                    }
                }
                // Border columns: each tap checked.
                for ox in (0..lo).chain(hi..g.ow) {
                    if let Some(ix) = (ox * g.sw + kx).checked_sub(g.pl).filter(|&ix| ix < g.w) {
                        row[ox] = row[ox].max(src[ix]);
                    }
                }
            }
        }
    }
}

fn all_planes<T: Code>(x: &[T], y: &mut [T], planes: usize, g: Geom) {
    for p in 0..planes {
        plane(
            &x[p * g.h * g.w..(p + 1) * g.h * g.w],
            &mut y[p * g.oh * g.ow..(p + 1) * g.oh * g.ow],
            g,
        );
    }
}

/// `maxpool2d` of `planes` planes of u8 (`signed` = 0) or i8 (`signed` = 1)
/// codes. `geom` holds `[h, w, oh, ow, kh, kw, sh, sw, pt, pl]`.
///
/// # Safety
/// `x` readable for `planes · h · w` bytes, `out` writable for
/// `planes · oh · ow`, not overlapping; `geom` readable for 10 `usize`;
/// every window holds at least one input element, and the geometry is the
/// verified one (`(oh − 1)·sh + kh ≤ h + pt + pb`, likewise for the width).
pub(crate) unsafe extern "C" fn qcc_maxpool_8bit(
    x: *const u8,
    planes: usize,
    geom: *const usize,
    signed: usize,
    out: *mut u8,
) {
    // SAFETY: the contract.
    let gv = unsafe { std::slice::from_raw_parts(geom, 10) };
    let g = Geom {
        h: gv[0],
        w: gv[1],
        oh: gv[2],
        ow: gv[3],
        kh: gv[4],
        kw: gv[5],
        sh: gv[6],
        sw: gv[7],
        pt: gv[8],
        pl: gv[9],
    };
    let (n_in, n_out) = (planes * g.h * g.w, planes * g.oh * g.ow);
    if signed != 0 {
        // SAFETY: the contract; i8 and u8 have the same layout.
        let (xs, ys) = unsafe {
            (
                std::slice::from_raw_parts(x.cast::<i8>(), n_in),
                std::slice::from_raw_parts_mut(out.cast::<i8>(), n_out),
            )
        };
        all_planes(xs, ys, planes, g);
    } else {
        // SAFETY: the contract.
        let (xs, ys) = unsafe {
            (
                std::slice::from_raw_parts(x, n_in),
                std::slice::from_raw_parts_mut(out, n_out),
            )
        };
        all_planes(xs, ys, planes, g);
    }
}

/// Whether every window of the geometry holds an input element (the
/// condition of [`qcc_maxpool_8bit`]).
pub(crate) fn windows_hold_elements(geom: &[usize; 10]) -> bool {
    let [h, w, oh, ow, kh, kw, sh, sw, pt, pl] = *geom;
    let axis = |n: usize, o: usize, k: usize, s: usize, p: usize| {
        (0..o).all(|i| {
            let start = i * s;
            // some tap start + j − p in 0..n
            (0..k).any(|j| (start + j).checked_sub(p).is_some_and(|v| v < n))
        })
    };
    sw >= 1 && sh >= 1 && axis(h, oh, kh, sh, pt) && axis(w, ow, kw, sw, pl)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The windows' maxima one by one, as the interpreter takes them.
    fn naive(x: &[u8], g: Geom) -> Vec<u8> {
        let mut y = Vec::new();
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let mut m = None;
                for ky in 0..g.kh {
                    for kx in 0..g.kw {
                        let (iy, ix) = (
                            (oy * g.sh + ky) as i64 - g.pt as i64,
                            (ox * g.sw + kx) as i64 - g.pl as i64,
                        );
                        if (0..g.h as i64).contains(&iy) && (0..g.w as i64).contains(&ix) {
                            let v = x[iy as usize * g.w + ix as usize];
                            m = Some(m.map_or(v, |a: u8| a.max(v)));
                        }
                    }
                }
                y.push(m.unwrap());
            }
        }
        y
    }

    #[test]
    fn equals_the_window_by_window_maximum() {
        let mut seed = 7u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (seed >> 16) as u8
        };
        for (h, w, kh, kw, sh, sw, pt, pl, pb, pr) in [
            (10, 10, 5, 5, 1, 1, 2, 2, 2, 2),
            (7, 9, 3, 3, 2, 2, 1, 1, 1, 1),
            (8, 8, 2, 2, 2, 2, 0, 0, 0, 0),
            (5, 13, 3, 2, 1, 3, 0, 1, 2, 1),
            (1, 1, 1, 1, 1, 1, 0, 0, 0, 0),
            (4, 70, 1, 3, 1, 1, 0, 2, 0, 2),
        ] {
            let oh = (h + pt + pb - kh) / sh + 1;
            let ow = (w + pl + pr - kw) / sw + 1;
            let g = Geom {
                h,
                w,
                oh,
                ow,
                kh,
                kw,
                sh,
                sw,
                pt,
                pl,
            };
            let geom = [h, w, oh, ow, kh, kw, sh, sw, pt, pl];
            assert!(windows_hold_elements(&geom));
            let x: Vec<u8> = (0..2 * h * w).map(|_| next()).collect();
            let mut y = vec![0u8; 2 * oh * ow];
            // SAFETY: the sizes of the contract.
            unsafe { qcc_maxpool_8bit(x.as_ptr(), 2, geom.as_ptr(), 0, y.as_mut_ptr()) };
            for p in 0..2 {
                assert_eq!(
                    &y[p * oh * ow..(p + 1) * oh * ow],
                    naive(&x[p * h * w..(p + 1) * h * w], g),
                    "{geom:?} plane {p}"
                );
            }
        }
        // A window wholly in the padding is refused.
        assert!(!windows_hold_elements(&[2, 2, 3, 3, 1, 1, 1, 1, 1, 1]));
    }
}
