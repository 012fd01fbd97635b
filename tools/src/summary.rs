//! The short summary `qcc run` prints for each output.
//!
//! ```text
//! probs: tensor<1x10xf32> -> out/probs.npy
//!   values  [0.0001, 0.0002, ..., 0.9801]
//!   range   min 0.0000  max 0.9801  mean 0.1000
//!   argmax  7
//! ```
//!
//! Quantized outputs show the stored codes and the real values they stand
//! for. Up to 16 values are listed; larger tensors show the first 8. For a
//! rank-2 output `[rows, classes]` (up to 16 rows), `argmax` gives the index
//! of the largest value in each row: the predicted class of a classifier.

use qcc_ir::quant::dequantize_f32;
use qcc_ir::{ElemType, Tensor, TensorType};
use std::fmt::Write;
use std::path::Path;

const MAX_LISTED: usize = 16;

/// Integers as integers; other numbers with 6 significant digits,
/// scientific when small or large.
fn fmt_num(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e9 {
        format!("{x:.0}")
    } else if x.abs() < 1e-3 || x.abs() >= 1e6 {
        format!("{x:.5e}")
    } else {
        let s = format!("{x:.6}");
        s.trim_end_matches('0').to_string()
    }
}

fn listing(vals: &[f64]) -> String {
    let shown: Vec<String> = if vals.len() <= MAX_LISTED {
        vals.iter().map(|&v| fmt_num(v)).collect()
    } else {
        let mut s: Vec<String> = vals[..8].iter().map(|&v| fmt_num(v)).collect();
        s.push(format!("... ({} more)", vals.len() - 8));
        s
    };
    format!("[{}]", shown.join(", "))
}

/// The real values an output stands for (f32 as is, quantized dequantized,
/// plain integers as numbers).
fn real_values(ty: &TensorType, t: &Tensor) -> Vec<f64> {
    if let Some(f) = t.data.as_f32() {
        return f.iter().map(|&x| x as f64).collect();
    }
    let ints = t.data.to_i64s().unwrap_or_default();
    match &ty.elem {
        ElemType::Quant(q) => {
            let axis = q.axis;
            let inner: usize = axis
                .map(|a| ty.shape[a + 1..].iter().product())
                .unwrap_or(1);
            let dim = axis.map(|a| ty.shape[a]).unwrap_or(1);
            ints.iter()
                .enumerate()
                .map(|(i, &v)| {
                    let c = if axis.is_some() { (i / inner) % dim } else { 0 };
                    dequantize_f32(v, q.scale(c), q.zero_point(c)) as f64
                })
                .collect()
        }
        ElemType::Scalar(_) => ints.iter().map(|&v| v as f64).collect(),
    }
}

fn argmax(vals: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in vals.iter().enumerate() {
        if v > vals[best] {
            best = i;
        }
    }
    best
}

/// The summary of one output.
pub fn describe(name: &str, ty: &TensorType, t: &Tensor, written: Option<&Path>) -> String {
    let mut s = String::new();
    let _ = write!(s, "{name}: {ty}");
    if let Some(p) = written {
        let _ = write!(s, " -> {}", p.display());
    }
    s.push('\n');
    let real = real_values(ty, t);
    if ty.elem.as_quant().is_some() {
        let codes: Vec<f64> = t
            .data
            .to_i64s()
            .unwrap_or_default()
            .iter()
            .map(|&v| v as f64)
            .collect();
        let _ = writeln!(s, "  codes   {}", listing(&codes));
        let _ = writeln!(s, "  real    {}", listing(&real));
    } else {
        let _ = writeln!(s, "  values  {}", listing(&real));
    }
    if !real.is_empty() {
        let min = real.iter().copied().fold(f64::INFINITY, f64::min);
        let max = real.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = real.iter().sum::<f64>() / real.len() as f64;
        let _ = writeln!(
            s,
            "  range   min {}  max {}  mean {}",
            fmt_num(min),
            fmt_num(max),
            fmt_num(mean)
        );
    }
    match ty.shape.as_slice() {
        [rows, n] if *n > 1 && *rows <= MAX_LISTED => {
            let per_row: Vec<String> = real.chunks(*n).map(|r| argmax(r).to_string()).collect();
            let _ = writeln!(s, "  argmax  {}", per_row.join(", "));
        }
        _ => {}
    }
    s
}
