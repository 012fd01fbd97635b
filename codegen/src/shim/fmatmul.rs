//! The f32 `matmul` and `softmax` helpers, in `semantics.md`'s order
//! exactly. The matmul adds, per output, the products in increasing `k` to
//! an accumulator starting at +0.0 (a multiply then an add, never fused),
//! register-tiled 4 rows × 16 columns so that the compiler vectorizes the
//! columns, and is built a second time for AVX2. The softmax is the
//! interpreter's loop over `[outer, len, inner]`.

/// `out[b, i, j] = Σ_k a[b, i, k] · w[b', k, j]` for `batch` matrices
/// `a [m, k]`, `w [k, n]` (`b' = b` when `w_batched`, else 0).
///
/// # Safety
/// `a` readable for `batch · m · k` f32, `w` for `k · n` (times `batch`
/// when `w_batched`), `out` writable for `batch · m · n`; `out` overlaps
/// neither.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe extern "C" fn qcc_matmul_f32(
    a: *const f32,
    w: *const f32,
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    w_batched: usize,
    out: *mut f32,
) {
    /// The AVX2 build of the same body.
    ///
    /// # Safety
    /// As [`qcc_matmul_f32`]'s; the host must have AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn wide(
        a: *const f32,
        w: *const f32,
        batch: usize,
        m: usize,
        k: usize,
        n: usize,
        wb: usize,
        out: *mut f32,
    ) {
        // SAFETY: the contract.
        unsafe { body(a, w, batch, m, k, n, wb, out) }
    }
    #[cfg(target_arch = "x86_64")]
    if super::host_features().avx2 {
        // SAFETY: the contract; the host has AVX2.
        unsafe { wide(a, w, batch, m, k, n, w_batched, out) };
        return;
    }
    // SAFETY: the contract.
    unsafe { body(a, w, batch, m, k, n, w_batched, out) }
}

const RT: usize = 4;
const CT: usize = 16;

#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn body(
    a: *const f32,
    w: *const f32,
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    w_batched: usize,
    out: *mut f32,
) {
    // SAFETY: the extents of the contract.
    let (a, w, out) = unsafe {
        (
            std::slice::from_raw_parts(a, batch * m * k),
            std::slice::from_raw_parts(w, if w_batched != 0 { batch } else { 1 } * k * n),
            std::slice::from_raw_parts_mut(out, batch * m * n),
        )
    };
    for b in 0..batch {
        let am = &a[b * m * k..(b + 1) * m * k];
        let wm = if w_batched != 0 {
            &w[b * k * n..(b + 1) * k * n]
        } else {
            w
        };
        let om = &mut out[b * m * n..(b + 1) * m * n];
        let mut i = 0;
        while i < m {
            let rows = (m - i).min(RT);
            let mut j = 0;
            while j + CT <= n && rows == RT {
                let mut acc = [[0.0f32; CT]; RT];
                for kk in 0..k {
                    let wr: &[f32; CT] = wm[kk * n + j..].first_chunk().expect("16 columns");
                    for (r, row) in acc.iter_mut().enumerate() {
                        let av = am[(i + r) * k + kk];
                        for (c, v) in row.iter_mut().enumerate() {
                            *v += av * wr[c];
                        }
                    }
                }
                for (r, row) in acc.iter().enumerate() {
                    om[(i + r) * n + j..(i + r) * n + j + CT].copy_from_slice(row);
                }
                j += CT;
            }
            // The columns left (and every column of a short row block).
            for r in i..i + rows {
                for jj in j..n {
                    let mut acc = 0.0f32;
                    for kk in 0..k {
                        acc += am[r * k + kk] * wm[kk * n + jj];
                    }
                    om[r * n + jj] = acc;
                }
            }
            i += rows;
        }
    }
}

/// `softmax` over `[outer, len, inner]` along the middle axis, the
/// interpreter's order exactly: `m` folded from the first element by IEEE
/// `maximum` in index order, `e = exp(x − m)` (Rust's `f32::exp`, as
/// `qcc_expf`), the sum from +0.0 in index order, one division per element.
///
/// # Safety
/// `x` readable and `out` writable for `outer · len · inner` f32, not
/// overlapping; `len ≥ 1`.
pub(crate) unsafe extern "C" fn qcc_softmax_f32(
    x: *const f32,
    outer: usize,
    len: usize,
    inner: usize,
    out: *mut f32,
) {
    // SAFETY: the extents of the contract.
    let (x, y) = unsafe {
        (
            std::slice::from_raw_parts(x, outer * len * inner),
            std::slice::from_raw_parts_mut(out, outer * len * inner),
        )
    };
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| (o * len + k) * inner + i;
            let m = (1..len).fold(x[at(0)], |m, k| qcc_ir::elementwise::maximum(m, x[at(k)]));
            let mut sum = 0.0f32;
            for k in 0..len {
                let e = (x[at(k)] - m).exp();
                y[at(k)] = e;
                sum += e;
            }
            for k in 0..len {
                y[at(k)] /= sum;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_the_reference_order_bit_for_bit() {
        let (batch, m, k, n) = (2, 6, 37, 35);
        let a: Vec<f32> = (0..batch * m * k)
            .map(|i| ((i * 7919) % 1000) as f32 / 37.0 - 13.0)
            .collect();
        let w: Vec<f32> = (0..batch * k * n)
            .map(|i| ((i * 104_729) % 997) as f32 / 91.0 - 5.0)
            .collect();
        for wb in [0usize, 1] {
            let mut out = vec![0.0f32; batch * m * n];
            // SAFETY: the extents as allocated.
            unsafe {
                super::qcc_matmul_f32(a.as_ptr(), w.as_ptr(), batch, m, k, n, wb, out.as_mut_ptr())
            };
            for b in 0..batch {
                for i in 0..m {
                    for j in 0..n {
                        let mut acc = 0.0f32;
                        for kk in 0..k {
                            acc += a[(b * m + i) * k + kk] * w[(b * wb * k + kk) * n + j];
                        }
                        assert_eq!(
                            out[(b * m + i) * n + j].to_bits(),
                            acc.to_bits(),
                            "{b} {i} {j}"
                        );
                    }
                }
            }
        }
    }
}
