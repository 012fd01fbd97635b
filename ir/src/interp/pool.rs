//! Pooling: `maxpool2d` (any element type), `avgpool2d` and
//! `global_avgpool` (f32, or quantized per tensor in and out).

#![allow(clippy::assign_op_pattern)] // sums are written `sum = sum + x`, as in `float`

use super::float::maximum;
use super::index::{for_each_nchw, nchw, rank4};
use super::{Arg, Vals, expect_shape, rescale, saturate_wide};
use crate::op::{Pool2dAttrs, RequantMode};
use crate::quant::Rescale;
use crate::types::TensorType;
use crate::window::Window;
use std::collections::BTreeMap;

/// The input's `[N, C, H, W]` and the window, after checking the pooling
/// rules: every pad smaller than the kernel along its dimension (so that
/// every window holds at least one real element) and the result shape.
fn pool_geometry(
    x: Arg,
    attrs: &Pool2dAttrs,
    out: &TensorType,
) -> Result<([usize; 4], Window), String> {
    let dims = rank4(x.shape(), "the input")?;
    let [pt, pl, pb, pr] = attrs.pads;
    let [kh, kw] = attrs.kernel;
    if pt >= kh || pb >= kh || pl >= kw || pr >= kw {
        return Err(format!(
            "every pad must be smaller than the kernel along its dimension (pads {:?}, kernel {:?})",
            attrs.pads, attrs.kernel
        ));
    }
    let win = Window::new(
        [dims[2], dims[3]],
        attrs.kernel,
        attrs.strides,
        attrs.pads,
        [1, 1],
    )?;
    expect_shape(out, &[dims[0], dims[1], win.oh, win.ow])?;
    if out.elem.is_f32() != x.ty.elem.is_f32() {
        return Err(format!(
            "the operand is `{}` but the result is `{}`",
            x.ty.elem, out.elem
        ));
    }
    Ok((dims, win))
}

/// Calls `f` for every output position, in row-major order, with the
/// row-major indices of the window's real elements, in window order.
fn for_each_window(dims: [usize; 4], win: &Window, mut f: impl FnMut(&[usize])) {
    let [n_dim, c_dim, h, w] = dims;
    let mut offsets = Vec::new();
    for_each_nchw([n_dim, c_dim, win.oh, win.ow], |n, c, oy, ox| {
        offsets.clear();
        win.for_each_real_position(oy, ox, |r, col| {
            offsets.push(nchw(c_dim, h, w, n, c, r, col));
        });
        f(&offsets);
    });
}

/// `maxpool2d`: the maximum over the window's real elements (padding is
/// ignored). f32 takes the IEEE `maximum` (NaN wins, −0.0 < +0.0); integer
/// and quantized tensors compare stored codes.
pub(super) fn maxpool2d(x: Arg, attrs: &Pool2dAttrs, out: &TensorType) -> Result<Vals, String> {
    let (dims, win) = pool_geometry(x, attrs, out)?;
    if out.elem != x.ty.elem {
        return Err(format!(
            "the result type `{}` must equal the operand's `{}`",
            out.elem, x.ty.elem
        ));
    }
    // Every window holds a real element (pads < kernel, H, W ≥ 1); an empty
    // one would be an error rather than a made-up value.
    let empty = || "a pooling window holds no element of the input".to_string();
    match x.vals {
        Vals::F32(xv) => {
            let mut y = Vec::new();
            let mut ok = true;
            for_each_window(dims, &win, |offs| {
                match offs.iter().map(|&i| xv[i]).reduce(maximum) {
                    Some(m) => y.push(m),
                    None => ok = false,
                }
            });
            if ok { Ok(Vals::F32(y)) } else { Err(empty()) }
        }
        Vals::Int(xv) => {
            let mut y = Vec::new();
            let mut ok = true;
            for_each_window(dims, &win, |offs| match offs.iter().map(|&i| xv[i]).max() {
                Some(m) => y.push(m),
                None => ok = false,
            });
            if ok { Ok(Vals::Int(y)) } else { Err(empty()) }
        }
    }
}

/// `avgpool2d`: f32 (sum / count) or quantized (rescaled integer sum).
pub(super) fn avgpool2d(x: Arg, attrs: &Pool2dAttrs, out: &TensorType) -> Result<Vals, String> {
    let (dims, win) = pool_geometry(x, attrs, out)?;
    let full = win
        .kh
        .checked_mul(win.kw)
        .ok_or_else(|| format!("the kernel {:?} is too large", attrs.kernel))?;
    let count = |real: usize| if attrs.count_include_pad { full } else { real };
    match x.vals {
        Vals::F32(xv) => {
            let mut y = Vec::new();
            for_each_window(dims, &win, |offs| {
                let mut sum = 0.0f32;
                for &i in offs {
                    sum = sum + xv[i];
                }
                y.push(sum / count(offs.len()) as f32);
            });
            Ok(Vals::F32(y))
        }
        Vals::Int(xv) => {
            let mut mean = QuantMean::new(x, attrs.mode, out)?;
            let mut y = Vec::new();
            let mut failure = None;
            for_each_window(dims, &win, |offs| {
                let acc: i128 = offs.iter().map(|&i| (xv[i] - mean.zx) as i128).sum();
                match mean.apply(acc, count(offs.len())) {
                    Ok(q) => y.push(q),
                    Err(e) => failure = Some(e),
                }
            });
            match failure {
                Some(e) => Err(e),
                None => Ok(Vals::Int(y)),
            }
        }
    }
}

/// `global_avgpool`: `[N, C, H, W]` → `[N, C, 1, 1]`, as `avgpool2d` with a
/// window covering the whole plane (count `H·W`).
pub(super) fn global_avgpool(x: Arg, mode: RequantMode, out: &TensorType) -> Result<Vals, String> {
    let [_, _, h, w] = rank4(x.shape(), "the input")?;
    let attrs = Pool2dAttrs {
        mode,
        ..Pool2dAttrs::new([h, w])
    };
    avgpool2d(x, &attrs, out)
}

/// A quantized mean: `y = saturate(rescale(saturate_i32(acc)) + z_out)`
/// with `M = s_in / (s_out · count)`, one rescale derived per window count.
struct QuantMean {
    mode: RequantMode,
    s_in: f32,
    s_out: f32,
    /// The input zero point (subtracted from every element of the sum).
    zx: i64,
    zy: i64,
    lo: i64,
    hi: i64,
    by_count: BTreeMap<usize, Rescale>,
}

impl QuantMean {
    fn new(x: Arg, mode: RequantMode, out: &TensorType) -> Result<QuantMean, String> {
        let qx = x.per_tensor_quant("the operand of a quantized average")?;
        let qy = match out.elem.as_quant() {
            Some(q) if !q.is_per_axis() => q,
            _ => {
                return Err(format!(
                    "the result of a quantized average must be quantized per tensor, found `{}`",
                    out.elem
                ));
            }
        };
        Ok(QuantMean {
            mode,
            s_in: qx.scales[0],
            s_out: qy.scales[0],
            zx: qx.zero_points[0],
            zy: qy.zero_points[0],
            lo: qy.storage_min,
            hi: qy.storage_max,
            by_count: BTreeMap::new(),
        })
    }

    /// The mean of a window whose exact sum of `q − zx` is `acc`.
    fn apply(&mut self, acc: i128, count: usize) -> Result<i64, String> {
        let r = match self.by_count.get(&count) {
            Some(r) => *r,
            None => {
                let divisor = u32::try_from(count)
                    .map_err(|_| format!("the window count {count} does not fit in u32"))?;
                let r = rescale(self.mode, self.s_in, self.s_out, divisor)?;
                self.by_count.insert(count, r);
                r
            }
        };
        let acc = saturate_wide(acc, i32::MIN as i64, i32::MAX as i64) as i32;
        Ok(r.apply_with_zp(acc, self.zy, self.lo, self.hi))
    }
}
