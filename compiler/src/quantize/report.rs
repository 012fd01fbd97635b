//! `qcc report`: a float model and its quantized twin run on the same inputs
//! (on the reference interpreter, every value traced), compared tensor by
//! tensor.
//!
//! One row per `quantize` of the quantized graph, in canonical order: the
//! tensor it quantizes is matched to the float graph's value of the same
//! name (a graph output's `NAME_QuantizeLinear_Input`, as onnxruntime and
//! `qcc quantize -o .onnx` name it, matches `NAME`); the dequantized value
//! (the `dequantize` of its codes) is compared with the float twin:
//!
//! - `sqnr_db`: `10·log10(Σ f² / Σ (f − d)²)` (∞ printed as 999 when equal);
//! - `max_abs_err`: `max |f − d|`;
//! - `saturation`: the fraction of values clipped, i.e. whose code before
//!   the clamp (`round(x / s) + z`) lies outside the type's codes;
//! - `outlier_channel`: along axis 1 (rank ≥ 2), the channel whose range
//!   (holding 0, as a quantization range does) of the float twin is the
//!   largest, and that range over the median channel range.

use qcc_ir::interp::{InterpError, run_traced};
use qcc_ir::quant::quantize_f32;
use qcc_ir::{Graph, Op, Tensor, ValueId};
use std::collections::HashMap;

/// One quantized tensor compared with its float twin.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerRow {
    pub name: String,
    /// The op producing the quantized tensor (`input` for a graph input).
    pub op: String,
    /// `None` when the float graph has no value of that name or shape.
    pub sqnr_db: Option<f64>,
    pub max_abs_err: Option<f64>,
    pub saturation: f64,
    /// `(channel, its range / the median channel range)`.
    pub outlier_channel: Option<(usize, f64)>,
}

/// The whole comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub layers: Vec<LayerRow>,
    /// Output SQNR of the first output, in dB.
    pub output_sqnr_db: f64,
    /// The fraction of rows (last axis) whose argmax agrees.
    pub top1_agreement: f64,
}

/// Which engine computes the traced tensors: the JIT (the default; a graph
/// it cannot compile falls back to the interpreter) or the interpreter.
/// Both give the same tensors bit for bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Jit,
    Interp,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("the float model cannot be run: {0}")]
    Float(InterpError),
    #[error("the quantized model cannot be run: {0}")]
    Quant(InterpError),
    #[error("{0}")]
    Mismatch(String),
}

/// SQNR of `y` against `reference`, in dB (`f64::INFINITY` when equal).
pub fn sqnr_db(reference: &[f32], y: &[f32]) -> f64 {
    let (mut s, mut n) = (0f64, 0f64);
    for (&a, &b) in reference.iter().zip(y) {
        s += (a as f64) * (a as f64);
        n += (a as f64 - b as f64) * (a as f64 - b as f64);
    }
    if n == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (s / n).log10()
    }
}

fn outlier(t: &Tensor) -> Option<(usize, f64)> {
    let xs = t.data.as_f32()?;
    if t.shape.len() < 2 || t.shape[1] < 2 {
        return None;
    }
    let c = t.shape[1];
    let inner: usize = t.shape[2..].iter().product();
    let mut lo = vec![0f32; c];
    let mut hi = vec![0f32; c];
    for (i, &x) in xs.iter().enumerate() {
        let ch = (i / inner) % c;
        lo[ch] = lo[ch].min(x);
        hi[ch] = hi[ch].max(x);
    }
    let ranges: Vec<f64> = lo.iter().zip(&hi).map(|(&l, &h)| (h - l) as f64).collect();
    let mut sorted = ranges.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[c / 2];
    let (ch, &r) = ranges
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))?;
    (median > 0.0).then(|| (ch, r / median))
}

/// Runs both graphs on `inputs` (in each graph's input order, matched by
/// name) and compares them.
pub fn compare(
    float: &Graph,
    quant: &Graph,
    inputs: &HashMap<String, Tensor>,
    engine: Engine,
) -> Result<Report, ReportError> {
    let feed = |g: &Graph| -> Result<Vec<Tensor>, ReportError> {
        g.inputs()
            .iter()
            .map(|&v| {
                let n = g.node(v).name.clone().unwrap_or_default();
                inputs
                    .get(&n)
                    .cloned()
                    .ok_or_else(|| ReportError::Mismatch(format!("no `--input {n}=FILE.npy`")))
            })
            .collect()
    };
    // On the JIT when it compiles the graph (the same tensors, faster), else
    // on the interpreter.
    let trace = |g: &Graph, x: Vec<Tensor>| -> Result<HashMap<ValueId, Tensor>, InterpError> {
        if engine == Engine::Jit
            && let Some(t) = super::observe::run_traced_on_jit(g, &x)
        {
            return Ok(t.into_iter().collect());
        }
        Ok(run_traced(g, &x)?.into_iter().collect())
    };
    let ft = trace(float, feed(float)?).map_err(ReportError::Float)?;
    let qt = trace(quant, feed(quant)?).map_err(ReportError::Quant)?;
    let by_name: HashMap<&str, ValueId> = float
        .node_ids()
        .filter_map(|v| Some((float.node(v).name.as_deref()?, v)))
        .collect();
    let mut layers = Vec::new();
    for q in quant.canonical_order() {
        if !matches!(quant.node(q).op, Op::Quantize) {
            continue;
        }
        let Some(&x) = quant.args(q).first() else {
            continue;
        };
        let name = quant.node(x).name.clone().unwrap_or_else(|| "?".into());
        let op = match &quant.node(x).op {
            Op::Input(_) => "input".to_string(),
            o => o.name().to_string(),
        };
        let mut name = name;
        let mut twin = by_name.get(name.as_str());
        if twin.is_none()
            && let Some(n) = name.strip_suffix("_QuantizeLinear_Input")
            && let Some(v) = by_name.get(n)
        {
            twin = Some(v);
            name = n.to_string();
        }
        let twin = twin.and_then(|v| ft.get(v));
        let dq = quant
            .users(q)
            .into_iter()
            .find(|(u, _)| matches!(quant.node(*u).op, Op::Dequantize))
            .and_then(|(u, _)| qt.get(&u));
        let saturation = match (
            quant.ty(q).elem.as_quant(),
            qt.get(&x).and_then(|t| t.data.as_f32()),
        ) {
            (Some(qty), Some(xs)) if !xs.is_empty() && qty.axis.is_none() => {
                let (s, z) = (qty.scale(0), qty.zero_point(0));
                let (lo, hi) = (qty.storage_min, qty.storage_max);
                let clipped = xs
                    .iter()
                    .filter(|&&v| {
                        let c = quantize_f32(v, s, z, i64::MIN / 2, i64::MAX / 2);
                        c < lo || c > hi
                    })
                    .count();
                clipped as f64 / xs.len() as f64
            }
            _ => 0.0,
        };
        let (mut sqnr, mut err, mut out) = (None, None, None);
        if let (Some(f), Some(d)) = (twin, dq)
            && f.shape == d.shape
            && let (Some(fs), Some(ds)) = (f.data.as_f32(), d.data.as_f32())
        {
            sqnr = Some(sqnr_db(fs, ds));
            err = Some(
                fs.iter()
                    .zip(ds)
                    .map(|(a, b)| (a - b).abs() as f64)
                    .fold(0.0, f64::max),
            );
            out = outlier(f);
        }
        layers.push(LayerRow {
            name,
            op,
            sqnr_db: sqnr,
            max_abs_err: err,
            saturation,
            outlier_channel: out,
        });
    }
    let fo = float
        .outputs()
        .first()
        .and_then(|o| ft.get(&o.value))
        .ok_or_else(|| ReportError::Mismatch("the float model has no output".into()))?;
    let qo = quant
        .outputs()
        .first()
        .and_then(|o| qt.get(&o.value))
        .ok_or_else(|| ReportError::Mismatch("the quantized model has no output".into()))?;
    let (Some(fs), Some(qs)) = (fo.data.as_f32(), qo.data.as_f32()) else {
        return Err(ReportError::Mismatch(
            "the first outputs must both be float".into(),
        ));
    };
    if fo.shape != qo.shape {
        return Err(ReportError::Mismatch(format!(
            "the first outputs have shapes {:?} and {:?}",
            fo.shape, qo.shape
        )));
    }
    let row = fo.shape.last().copied().unwrap_or(1).max(1);
    let argmax = |xs: &[f32]| {
        xs.iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
            .map(|(i, _)| i)
    };
    let rows = fs.len() / row;
    let agree = fs
        .chunks(row)
        .zip(qs.chunks(row))
        .filter(|(a, b)| argmax(a) == argmax(b))
        .count();
    Ok(Report {
        layers,
        output_sqnr_db: sqnr_db(fs, qs),
        top1_agreement: if rows == 0 {
            1.0
        } else {
            agree as f64 / rows as f64
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqnr_and_outliers_on_known_values() {
        assert_eq!(sqnr_db(&[1.0, 1.0], &[1.0, 1.0]), f64::INFINITY);
        // signal 2, noise 0.02: 20 dB
        let s = sqnr_db(&[1.0, 1.0], &[1.1, 0.9]);
        assert!((s - 20.0).abs() < 1e-4, "{s}");
        // [1, 3, 2]: channel ranges (holding 0) 1, 10, 2 -> channel 1, 10 / 2
        let t = Tensor::f32(vec![1, 3, 2], vec![0.5, 1.0, -5.0, 5.0, 0.0, 2.0]);
        assert_eq!(outlier(&t), Some((1, 5.0)));
    }
}
