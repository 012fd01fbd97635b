//! `dense_nbits`: f32 activations times weights quantized in blocks along
//! K, dequantized and summed as [`crate::nbits`] defines.

#[allow(unused_imports)]
use super::*;
use super::{Arg, Vals, expect_shape};

/// `dense_nbits x, w[, b]`: `y[.., n] = Σ_k x[.., k] · wd[n, k] + b[n]`;
/// with `q8` (`dense_nbits_q8`) `x` is quantized to int8 per block first
/// and the sum runs over blocks ([`crate::nbits::q8_sum`]).
pub(super) fn dense_nbits(
    x: Arg,
    w: Arg,
    b: Option<Arg>,
    out: &TensorType,
    q8: bool,
) -> Result<Vals, String> {
    let xv = x.f32s("the input")?;
    let wq = w.ints("the weights")?;
    let q = match w.quant() {
        Some(q) if q.is_blocked() && q.axis == Some(1) => q,
        _ => {
            return Err(format!(
                "the weights must be quantized in blocks along axis 1, found `{}`",
                w.ty.elem
            ));
        }
    };
    let [n, k] =
        <[usize; 2]>::try_from(w.shape()).map_err(|_| "the weights must be [N, K]".to_string())?;
    if x.shape().last() != Some(&k) || k == 0 {
        return Err(format!(
            "the input {:?} and the weights {:?} disagree on K",
            x.shape(),
            w.shape()
        ));
    }
    let blocks = q
        .param_shape(w.shape())
        .map(|p| p.iter().product::<usize>());
    if blocks.is_none_or(|b| b != q.scales.len() || b != q.zero_points.len()) || wq.len() != n * k {
        return Err("the weights' blocks do not fit their shape".into());
    }
    let bias = match b {
        None => None,
        Some(b) if b.shape() == [n] => Some(b.f32s("the bias")?),
        Some(b) => return Err(format!("the bias must be [{n}], found {:?}", b.shape())),
    };
    let mut shape = x.shape().to_vec();
    *shape.last_mut().unwrap_or(&mut 0) = n;
    expect_shape(out, &shape)?;
    let shp = w.shape();
    if q8 {
        let block = q.block.unwrap_or(k);
        return Ok(Vals::F32(q8_rows(
            xv,
            wq,
            &q.scales,
            &q.zero_points,
            n,
            k,
            block,
            bias,
        )));
    }
    // The dequantized weights, once.
    let wd: Vec<f32> = (0..n * k)
        .map(|i| {
            let p = q.param_index(shp, i);
            crate::nbits::dequant(wq[i], q.zero_points[p], q.scales[p])
        })
        .collect();
    let m = xv.len() / k;
    let mut y = Vec::with_capacity(m * n);
    for r in 0..m {
        let xr = &xv[r * k..(r + 1) * k];
        for c in 0..n {
            let mut s = crate::nbits::dot(xr, &wd[c * k..(c + 1) * k]);
            if let Some(bv) = bias {
                s += bv[c];
            }
            y.push(s);
        }
    }
    Ok(Vals::F32(y))
}

/// `dense_nbits_q8` on checked operands: `x` `[m, k]` (flat), the codes
/// `[n, k]`, the parameters `[n, k / block]`.
#[allow(clippy::too_many_arguments)]
fn q8_rows(
    xv: &[f32],
    wq: &[i64],
    scales: &[f32],
    zps: &[i64],
    n: usize,
    k: usize,
    block: usize,
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let (m, kb) = (xv.len() / k, k / block);
    let mut y = Vec::with_capacity(m * n);
    let mut qa = vec![0i8; k];
    let mut sa = vec![0f32; kb];
    let mut d = vec![0i32; kb];
    for r in 0..m {
        let xr = &xv[r * k..(r + 1) * k];
        crate::nbits::quant_row(xr, block, &mut qa, &mut sa);
        for c in 0..n {
            for (j, dj) in d.iter_mut().enumerate() {
                let z = zps[c * kb + j];
                *dj = (j * block..(j + 1) * block)
                    .map(|kk| qa[kk] as i64 * (wq[c * k + kk] - z))
                    .sum::<i64>() as i32;
            }
            let mut s = crate::nbits::q8_sum(&d, &sa, &scales[c * kb..(c + 1) * kb]);
            if let Some(bv) = bias {
                s += bv[c];
            }
            y.push(s);
        }
    }
    y
}
