//! `maxpool2d` on u8, i8 and f32: each output row is built as the running
//! maximum of the kernel's shifted input rows, a loop over the output
//! columns that the compiler vectorizes (stride 1: one `vpmaxub` per 64
//! columns with AVX-512). Each output element still meets its window's
//! taps in the interpreter's order (kernel rows, then columns) starting
//! from the least value (−inf for f32, which IEEE `maximum` gives back the
//! first operand over), so f32 gets the interpreter's answer bit for bit,
//! NaN payload and signed zeros included. Padded positions take no part
//! (the lowering calls this only when every window holds an input element).
//! Small integer planes (SPPF's 10×10) go separably over the whole padded
//! plane at once instead, so that no loop is a few columns long.

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

trait Code: Copy {
    const LEAST: Self;
    /// Whether the maximum is exact in any order (integers: yes; f32: no,
    /// the first NaN met decides the payload).
    const ANY_ORDER: bool;
    /// The interpreter's maximum of two values.
    fn max(self, other: Self) -> Self;
}
impl Code for u8 {
    const LEAST: u8 = u8::MIN;
    const ANY_ORDER: bool = true;
    fn max(self, other: u8) -> u8 {
        Ord::max(self, other)
    }
}
impl Code for i8 {
    const LEAST: i8 = i8::MIN;
    const ANY_ORDER: bool = true;
    fn max(self, other: i8) -> i8 {
        Ord::max(self, other)
    }
}
impl Code for f32 {
    const LEAST: f32 = f32::NEG_INFINITY;
    const ANY_ORDER: bool = false;
    fn max(self, other: f32) -> f32 {
        qcc_ir::elementwise::maximum(self, other)
    }
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
                        *d = Code::max(*d, v);
                    }
                } else {
                    for (ox, d) in row.iter_mut().enumerate().take(hi).skip(lo) {
                        *d = Code::max(*d, src[ox * g.sw + kx - g.pl]);
                    }
                }
                // Border columns: each tap checked.
                for ox in (0..lo).chain(hi..g.ow) {
                    if let Some(ix) = (ox * g.sw + kx).checked_sub(g.pl).filter(|&ix| ix < g.w) {
                        row[ox] = Code::max(row[ox], src[ix]);
                    }
                }
            }
        }
    }
}

/// The most elements of a padded plane that [`small_plane`] takes (its two
/// buffers live on the stack).
const SMALL_PLANE: usize = 4096;

/// One small plane of integers (`(pt + h + pb)·(pl + w + pr) ≤
/// SMALL_PLANE`, the late stages of a detector: SPPF's 5×5 pools over
/// 10×10), separably and over the whole padded plane at once, so that
/// every loop is long: the plane is copied into a buffer padded with the
/// least value, each padded row's stride-1 horizontal maxima are taken
/// with the plane as one run (a window that starts in the first `ow'`
/// columns of a padded row stays in it), then the vertical maxima of
/// those, and the strided outputs picked out. Exact because integer
/// maxima do not depend on their order and the padding's least value never
/// wins over the window's input element.
fn small_plane<T: Code>(x: &[T], y: &mut [T], g: Geom, hp: usize, wp: usize) {
    let n = hp * wp;
    let mut pad = [T::LEAST; SMALL_PLANE];
    for iy in 0..g.h {
        let at = (g.pt + iy) * wp + g.pl;
        pad[at..at + g.w].copy_from_slice(&x[iy * g.w..(iy + 1) * g.w]);
    }
    // Horizontal: `hm[i] = max pad[i + kx]` for every start `i` whose
    // window fits in the buffer.
    let hn = n + 1 - g.kw;
    let mut hm = [T::LEAST; SMALL_PLANE];
    for kx in 0..g.kw {
        for (d, &v) in hm[..hn].iter_mut().zip(&pad[kx..kx + hn]) {
            *d = Code::max(*d, v);
        }
    }
    // Vertical, into `pad` (no longer needed): `vm[i] = max hm[i + ky·wp]`.
    let vn = hn - (g.kh - 1) * wp;
    let vm = &mut pad;
    vm[..vn].fill(T::LEAST);
    for ky in 0..g.kh {
        for (d, &v) in vm[..vn].iter_mut().zip(&hm[ky * wp..ky * wp + vn]) {
            *d = Code::max(*d, v);
        }
    }
    for oy in 0..g.oh {
        let src = oy * g.sh * wp;
        for (ox, o) in y[oy * g.ow..(oy + 1) * g.ow].iter_mut().enumerate() {
            *o = vm[src + ox * g.sw];
        }
    }
}

fn all_planes<T: Code>(x: &[T], y: &mut [T], planes: usize, g: Geom) {
    // The padded plane holds every window (the verified geometry).
    let hp = ((g.oh - 1) * g.sh + g.kh).max(g.pt + g.h);
    let wp = ((g.ow - 1) * g.sw + g.kw).max(g.pl + g.w);
    if T::ANY_ORDER && hp * wp <= SMALL_PLANE && g.oh > 0 && g.ow > 0 {
        for p in 0..planes {
            small_plane(
                &x[p * g.h * g.w..(p + 1) * g.h * g.w],
                &mut y[p * g.oh * g.ow..(p + 1) * g.oh * g.ow],
                g,
                hp,
                wp,
            );
        }
        return;
    }
    for p in 0..planes {
        plane(
            &x[p * g.h * g.w..(p + 1) * g.h * g.w],
            &mut y[p * g.oh * g.ow..(p + 1) * g.oh * g.ow],
            g,
        );
    }
}

/// `maxpool2d` of `planes` planes of u8 (`kind` = 0), i8 (1) or f32 (2).
/// `geom` holds `[h, w, oh, ow, kh, kw, sh, sw, pt, pl]`.
///
/// # Safety
/// `x` readable for `planes · h · w` elements, `out` writable for
/// `planes · oh · ow`, not overlapping; `geom` readable for 10 `usize`;
/// every window holds at least one input element, and the geometry is the
/// verified one (`(oh − 1)·sh + kh ≤ h + pt + pb`, likewise for the width).
pub(crate) unsafe extern "C" fn qcc_maxpool(
    x: *const u8,
    planes: usize,
    geom: *const usize,
    kind: usize,
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
    match kind {
        1 => {
            // SAFETY: the contract.
            let (xs, ys) = unsafe {
                (
                    std::slice::from_raw_parts(x.cast::<i8>(), n_in),
                    std::slice::from_raw_parts_mut(out.cast::<i8>(), n_out),
                )
            };
            all_planes(xs, ys, planes, g);
        }
        2 => {
            // SAFETY: the contract (the buffers are 64-byte aligned).
            let (xs, ys) = unsafe {
                (
                    std::slice::from_raw_parts(x.cast::<f32>(), n_in),
                    std::slice::from_raw_parts_mut(out.cast::<f32>(), n_out),
                )
            };
            all_planes(xs, ys, planes, g);
        }
        _ => {
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
}

/// Whether every window of the geometry holds an input element (the
/// condition of [`qcc_maxpool`]).
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
                            m = Some(m.map_or(v, |a: u8| Ord::max(a, v)));
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
            // Planes over `SMALL_PLANE`: the row-by-row path.
            (80, 90, 3, 3, 1, 1, 1, 1, 1, 1),
            (61, 70, 5, 5, 2, 2, 2, 2, 2, 2),
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
            unsafe { qcc_maxpool(x.as_ptr(), 2, geom.as_ptr(), 0, y.as_mut_ptr()) };
            for p in 0..2 {
                assert_eq!(
                    &y[p * oh * ow..(p + 1) * oh * ow],
                    naive(&x[p * h * w..(p + 1) * h * w], g),
                    "{geom:?} plane {p}"
                );
            }
        }
        // f32 in the interpreter's window order: the first NaN's payload,
        // +0.0 over −0.0.
        let nan1 = f32::from_bits(0x7fc0_0001);
        let nan2 = f32::from_bits(0xffc0_0002);
        let x = [0.5, nan1, -0.0, 0.0, nan2, 1.0, -0.0, -1.0, 3.0];
        let geom = [3, 3, 3, 3, 2, 2, 1, 1, 0, 0];
        let mut y = [0f32; 9];
        // SAFETY: the sizes of the contract.
        unsafe {
            qcc_maxpool(
                x.as_ptr().cast(),
                1,
                geom.as_ptr(),
                2,
                y.as_mut_ptr().cast(),
            )
        };
        let mut want = Vec::new();
        for oy in 0..3 {
            for ox in 0..3 {
                let taps = (oy..(oy + 2).min(3))
                    .flat_map(|iy| (ox..(ox + 2).min(3)).map(move |ix| x[iy * 3 + ix]));
                want.push(taps.reduce(qcc_ir::elementwise::maximum).unwrap().to_bits());
            }
        }
        assert_eq!(y.map(f32::to_bits).to_vec(), want);
        assert_eq!(y[0].to_bits(), nan1.to_bits());
        assert_eq!(y[3].to_bits(), nan2.to_bits());
        // A window wholly in the padding is refused.
        assert!(!windows_hold_elements(&[2, 2, 3, 3, 1, 1, 1, 1, 1, 1]));
    }
}
