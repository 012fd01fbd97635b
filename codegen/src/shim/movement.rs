//! Strided copies whose innermost destination run is strided in the
//! source (a transpose that moves the last axis): copied in square blocks
//! of the two axes that are contiguous on either side, so that both the
//! reads and the writes stay within a few cache lines. Copies are exact
//! whatever the order, so only the speed differs from the loop nest.

/// The side of one square block, in elements.
const BLOCK: usize = 16;

/// `out[Σ iₖ·dstₖ] = x[Σ iₖ·srcₖ]` over every index `i` of `shape`
/// (`ndim` dimensions), elements of `esize` bytes (1, 2 or 4); `dims`
/// holds `shape`, then `src`, then `dst` (strides in elements, ≥ 0).
///
/// # Safety
/// `dims` readable for `3 · ndim` i64; `x` readable and `out` writable at
/// every offset the strides reach (in elements of `esize`), not
/// overlapping; `ndim ≥ 1`.
pub(crate) unsafe extern "C" fn qcc_copy_strided(
    x: *const u8,
    out: *mut u8,
    esize: usize,
    ndim: usize,
    dims: *const i64,
) {
    // SAFETY: the contract.
    let d = unsafe { std::slice::from_raw_parts(dims, 3 * ndim) };
    let to = |v: &[i64]| v.iter().map(|&s| s as usize).collect::<Vec<_>>();
    let (shape, src, dst) = (to(&d[..ndim]), to(&d[ndim..2 * ndim]), to(&d[2 * ndim..]));
    // SAFETY: the contract, passed on.
    unsafe {
        match esize {
            1 => copy::<u8>(x, out, &shape, &src, &dst),
            2 => copy::<u16>(x as *const u16, out as *mut u16, &shape, &src, &dst),
            _ => copy::<u32>(x as *const u32, out as *mut u32, &shape, &src, &dst),
        }
    }
}

/// # Safety
/// As [`qcc_copy_strided`]'s, in elements of `T`.
unsafe fn copy<T: Copy>(x: *const T, out: *mut T, shape: &[usize], src: &[usize], dst: &[usize]) {
    let last = shape.len() - 1;
    // The axis read contiguously (if any, other than the last); blocks span
    // it and the last axis, every other axis is an outer loop.
    let a = (0..last).rev().find(|&k| src[k] == 1 && shape[k] > 1);
    let outer: Vec<usize> = (0..last).filter(|&k| Some(k) != a).collect();
    let (na, sa, da) = a.map_or((1, 0, 0), |a| (shape[a], src[a], dst[a]));
    let (nl, sl, dl) = (shape[last], src[last], dst[last]);
    let mut idx = vec![0usize; outer.len()];
    loop {
        let (mut xo, mut oo) = (0usize, 0usize);
        for (&k, &i) in outer.iter().zip(&idx) {
            xo += i * src[k];
            oo += i * dst[k];
        }
        for ab in (0..na).step_by(BLOCK) {
            for lb in (0..nl).step_by(BLOCK) {
                #[cfg(target_arch = "x86_64")]
                if size_of::<T>() == 1 && sa == 1 && dl == 1 && ab + 16 <= na && lb + 16 <= nl {
                    // A whole block of bytes: one register transpose.
                    // SAFETY: rows lb..lb + 16 of the block, 16 bytes each,
                    // are inside `x`; its rows i go to out's rows ab + i.
                    unsafe {
                        let base = x.add(xo + ab + lb * sl) as *const u8;
                        let src = std::slice::from_raw_parts(base, 15 * sl + 16);
                        let t = super::im2col::transpose16(src, 0, sl, 0);
                        for (i, row) in t.iter().enumerate() {
                            let o = out.add(oo + (ab + i) * da + lb) as *mut u8;
                            std::ptr::copy_nonoverlapping(row.as_ptr(), o, 16);
                        }
                    }
                    continue;
                }
                for i in ab..(ab + BLOCK).min(na) {
                    for j in lb..(lb + BLOCK).min(nl) {
                        // SAFETY: an index of `shape`, inside both buffers.
                        unsafe {
                            *out.add(oo + i * da + j * dl) = *x.add(xo + i * sa + j * sl);
                        }
                    }
                }
            }
        }
        // The next outer index, row-major.
        let mut k = outer.len();
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            idx[k] += 1;
            if idx[k] < shape[outer[k]] {
                break;
            }
            idx[k] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn transposes_like_the_index_loop() {
        // [2, 3, 37, 19] with perms that move the last axis, on 1, 2 and 4
        // byte elements; and one with no other contiguous axis.
        let shape = [2usize, 3, 37, 19];
        let n: usize = shape.iter().product();
        let x: Vec<u32> = (0..n as u32)
            .map(|v| v.wrapping_mul(2_654_435_761))
            .collect();
        let ins = [3 * 37 * 19, 37 * 19, 19, 1];
        for perm in [[0, 1, 3, 2], [0, 3, 1, 2], [3, 2, 1, 0], [1, 3, 0, 2]] {
            let os: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
            let src: Vec<usize> = perm.iter().map(|&p| ins[p]).collect();
            let dst = [os[1] * os[2] * os[3], os[2] * os[3], os[3], 1];
            let mut want = vec![0u32; n];
            for i0 in 0..os[0] {
                for i1 in 0..os[1] {
                    for i2 in 0..os[2] {
                        for i3 in 0..os[3] {
                            let s = i0 * src[0] + i1 * src[1] + i2 * src[2] + i3 * src[3];
                            want[i0 * dst[0] + i1 * dst[1] + i2 * dst[2] + i3 * dst[3]] = x[s];
                        }
                    }
                }
            }
            let dims: Vec<i64> = os
                .iter()
                .chain(&src)
                .chain(&dst)
                .map(|&v| v as i64)
                .collect();
            for esize in [1usize, 2, 4] {
                let xs: Vec<u8> = x
                    .iter()
                    .flat_map(|v| v.to_le_bytes()[..esize].to_vec())
                    .collect();
                let mut got = vec![0u8; n * esize];
                // SAFETY: the strides stay inside the n elements of each.
                unsafe {
                    super::qcc_copy_strided(xs.as_ptr(), got.as_mut_ptr(), esize, 4, dims.as_ptr())
                };
                let w: Vec<u8> = want
                    .iter()
                    .flat_map(|v| v.to_le_bytes()[..esize].to_vec())
                    .collect();
                assert_eq!(got, w, "perm {perm:?}, {esize} bytes");
            }
        }
    }
}
