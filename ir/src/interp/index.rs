//! Index arithmetic shared by the ops, written once: row-major strides,
//! broadcasting, coordinates along an axis, matmul dimensions and the 2-d
//! window geometry of convolutions and pools.
//!
//! Every function here checks what it relies on and returns a reason string
//! instead of panicking; the op implementations turn that into an
//! `InterpError::Unsupported`.

use crate::op::Conv2dAttrs;
use crate::window::Window;

/// Number of elements of a shape (1 for rank 0).
pub(super) fn num_elements(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major strides: `strides[d]` is the distance between consecutive
/// indices along dimension `d`.
pub(super) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

/// For every element of a tensor of shape `out_shape`, in row-major order,
/// the offset `Σ_d index[d] · source_strides[d]` into a source tensor. With
/// the source's own strides permuted this is a transpose; with zeros on
/// broadcast dimensions it is numpy broadcasting.
pub(super) fn gather_offsets(out_shape: &[usize], source_strides: &[usize]) -> Vec<usize> {
    debug_assert_eq!(out_shape.len(), source_strides.len());
    let n = num_elements(out_shape);
    let rank = out_shape.len();
    let mut index = vec![0usize; rank];
    let mut offset = 0usize;
    let mut offsets = Vec::with_capacity(n);
    for _ in 0..n {
        offsets.push(offset);
        // Advance the row-major odometer by one.
        for d in (0..rank).rev() {
            index[d] += 1;
            offset += source_strides[d];
            if index[d] < out_shape[d] {
                break;
            }
            offset -= source_strides[d] * out_shape[d];
            index[d] = 0;
        }
    }
    offsets
}

/// The numpy (multidirectional) broadcast shape of `a` and `b`: aligned at
/// the right, each pair of dimensions equal or one of them 1.
pub(super) fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for (i, o) in out.iter_mut().enumerate() {
        // Dimension i of the result, counted from the left; missing leading
        // dimensions of the shorter shape count as 1.
        let da = (i + a.len()).checked_sub(rank).map_or(1, |j| a[j]);
        let db = (i + b.len()).checked_sub(rank).map_or(1, |j| b[j]);
        *o = match (da, db) {
            _ if da == db => da,
            (1, _) => db,
            (_, 1) => da,
            _ => {
                return Err(format!(
                    "shapes {a:?} and {b:?} do not broadcast (dimension {da} against {db})"
                ));
            }
        };
    }
    Ok(out)
}

/// For every element of the broadcast result of shape `out_shape`, the
/// row-major index of the element of an operand of shape `from` it reads.
/// `from` must broadcast to `out_shape`.
pub(super) fn broadcast_offsets(from: &[usize], out_shape: &[usize]) -> Vec<usize> {
    let own = strides(from);
    let lead = out_shape.len() - from.len();
    let source_strides: Vec<usize> = (0..out_shape.len())
        .map(|d| match d.checked_sub(lead) {
            Some(j) if from[j] != 1 => own[j],
            _ => 0,
        })
        .collect();
    gather_offsets(out_shape, &source_strides)
}

/// The coordinate along one axis of an element given by its row-major index:
/// `(index / inner) % dim`. Built for a per-axis quantized type's axis; for a
/// per-tensor type (no axis) every element has coordinate 0.
#[derive(Clone, Copy, Debug)]
pub(super) struct AxisCoord {
    inner: usize,
    dim: usize,
}

impl AxisCoord {
    pub(super) fn new(shape: &[usize], axis: Option<usize>) -> Result<AxisCoord, String> {
        match axis {
            None => Ok(AxisCoord { inner: 1, dim: 1 }),
            Some(a) if a < shape.len() => Ok(AxisCoord {
                inner: num_elements(&shape[a + 1..]),
                dim: shape[a],
            }),
            Some(a) => Err(format!(
                "quantized axis {a} is out of range for shape {shape:?}"
            )),
        }
    }

    pub(super) fn of(self, index: usize) -> usize {
        (index / self.inner) % self.dim
    }
}

/// Dimensions of a (batched) matrix product `a [..., M, K] × b [K, N]` or
/// `b [..., K, N]` with the same batch dimensions.
#[derive(Clone, Debug)]
pub(super) struct MatDims {
    pub batch_dims: Vec<usize>,
    pub batch: usize,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    /// Whether `b` has its own batch dimensions (else one `[K, N]` matrix is
    /// used for every batch).
    pub b_batched: bool,
}

impl MatDims {
    /// `allow_batched_b`: whether `b` may be `[..., K, N]` (matmul) or must be
    /// `[K, N]` (matmul_int).
    pub(super) fn new(a: &[usize], b: &[usize], allow_batched_b: bool) -> Result<MatDims, String> {
        let r = a.len();
        if r < 2 {
            return Err(format!(
                "the first operand must have rank ≥ 2, found shape {a:?}"
            ));
        }
        let batch_dims = a[..r - 2].to_vec();
        let (m, k) = (a[r - 2], a[r - 1]);
        let b_batched = if b.len() == 2 {
            false
        } else if allow_batched_b && b.len() == r && b[..r - 2] == batch_dims[..] {
            true
        } else if allow_batched_b {
            return Err(format!(
                "the second operand must be [K, N] or have the batch dimensions {batch_dims:?} of the first, found shape {b:?}"
            ));
        } else {
            return Err(format!(
                "the second operand must be [K, N], found shape {b:?}"
            ));
        };
        let (k2, n) = (b[b.len() - 2], b[b.len() - 1]);
        if k2 != k {
            return Err(format!(
                "inner dimensions differ: {a:?} × {b:?} (K = {k} against {k2})"
            ));
        }
        Ok(MatDims {
            batch: num_elements(&batch_dims),
            batch_dims,
            m,
            k,
            n,
            b_batched,
        })
    }

    pub(super) fn out_shape(&self) -> Vec<usize> {
        let mut s = self.batch_dims.clone();
        s.extend([self.m, self.n]);
        s
    }

    /// Row-major index of `a[batch, i, k]`.
    pub(super) fn a_index(&self, batch: usize, i: usize, k: usize) -> usize {
        (batch * self.m + i) * self.k + k
    }

    /// Row-major index of `b[batch, k, j]` (batch ignored for a 2-d `b`).
    pub(super) fn b_index(&self, batch: usize, k: usize, j: usize) -> usize {
        let base = if self.b_batched {
            batch * self.k * self.n
        } else {
            0
        };
        base + k * self.n + j
    }
}

/// Row-major index of `[n, c, h, w]` in a tensor of shape `[_, C, H, W]`.
pub(super) fn nchw(
    c_dim: usize,
    h_dim: usize,
    w_dim: usize,
    n: usize,
    c: usize,
    h: usize,
    w: usize,
) -> usize {
    ((n * c_dim + c) * h_dim + h) * w_dim + w
}

/// Calls `f(n, c, oy, ox)` for every position of an `[N, C, OH, OW]`
/// result, in row-major order.
pub(super) fn for_each_nchw(shape: [usize; 4], mut f: impl FnMut(usize, usize, usize, usize)) {
    let [n_dim, c_dim, h_dim, w_dim] = shape;
    for n in 0..n_dim {
        for c in 0..c_dim {
            for y in 0..h_dim {
                for x in 0..w_dim {
                    f(n, c, y, x);
                }
            }
        }
    }
}

/// Returns the four dimensions of a rank-4 shape.
pub(super) fn rank4(shape: &[usize], what: &str) -> Result<[usize; 4], String> {
    <[usize; 4]>::try_from(shape)
        .map_err(|_| format!("{what} must have rank 4 (N, C, H, W), found shape {shape:?}"))
}

/// The geometry of a 2-d convolution: `x [N, C, H, W]`, `w [O, C/g, KH, KW]`.
#[derive(Clone, Debug)]
pub(super) struct ConvGeom {
    pub n: usize,
    pub c: usize,
    pub o: usize,
    /// Input channels per group (`C / g`).
    pub c_per_group: usize,
    /// Output channels per group (`O / g`).
    pub o_per_group: usize,
    pub win: Window,
}

impl ConvGeom {
    pub(super) fn new(x: &[usize], w: &[usize], attrs: &Conv2dAttrs) -> Result<ConvGeom, String> {
        let [n, c, h, wd] = rank4(x, "the input")?;
        let [o, cg, kh, kw] = rank4(w, "the weights")?;
        let g = attrs.groups;
        if g == 0 || c % g != 0 || o % g != 0 {
            return Err(format!(
                "groups = {g} must divide the input channels {c} and the output channels {o}"
            ));
        }
        if cg != c / g {
            return Err(format!(
                "the weights have {cg} input channels per group, expected C / groups = {c} / {g} = {}",
                c / g
            ));
        }
        let win = Window::new(
            [h, wd],
            [kh, kw],
            attrs.strides,
            attrs.pads,
            attrs.dilations,
        )?;
        Ok(ConvGeom {
            n,
            c,
            o,
            c_per_group: cg,
            o_per_group: o / g,
            win,
        })
    }

    pub(super) fn out_shape(&self) -> [usize; 4] {
        [self.n, self.o, self.win.oh, self.win.ow]
    }

    /// Calls `f(x_index, w_index)` for every term of output
    /// `[n, o, oy, ox]`, in the documented order (input channel of the group,
    /// then kernel row, then kernel column); `x_index` is `None` for a
    /// position in the padding.
    pub(super) fn for_each_tap(
        &self,
        n: usize,
        o: usize,
        oy: usize,
        ox: usize,
        mut f: impl FnMut(Option<usize>, usize),
    ) {
        let win = &self.win;
        let first_channel = (o / self.o_per_group) * self.c_per_group;
        for c in 0..self.c_per_group {
            for ky in 0..win.kh {
                for kx in 0..win.kw {
                    let x_index = win
                        .position(oy, ox, ky, kx)
                        .map(|(r, col)| nchw(self.c, win.h, win.w, n, first_channel + c, r, col));
                    let w_index = nchw(self.c_per_group, win.kh, win.kw, o, c, ky, kx);
                    f(x_index, w_index);
                }
            }
        }
    }
}
