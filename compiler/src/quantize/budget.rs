//! Mixed precision under a bit budget (`qcc quantize --budget-bits B`): a
//! weight precision per layer among i4, i8 and float (32 bits) so that the
//! average bits per weight is at most `B`, choosing by measured
//! sensitivity.
//!
//! - The layers are the ops with constant f32 weights that the rewrite
//!   quantizes (dense, conv2d, matmul), not excluded.
//! - Noise is the output's squared error against the float model, summed
//!   over the given samples. `N0` is the noise with every layer's weights in
//!   float (activations quantized); for each layer `l` and precision `p`,
//!   `ΔN_l(p)` is the noise added when only `l` is lowered to `p` (at least
//!   0). The noise of a choice is predicted as `N0 + Σ_l ΔN_l(p_l)` (errors
//!   of different layers taken as independent).
//! - Greedy: every layer starts at i4; the upgrade (i4 → i8, i8 → float,
//!   i4 → float) with the largest predicted noise reduction per added bit
//!   that fits the budget is taken, until none fits or none helps. Ties go
//!   to the earlier layer (canonical order): deterministic.

use super::observe::Observers;
use super::rewrite::{QuantOptions, insert_qdq, weight_axis};
use qcc_ir::interp::{InterpError, run};
use qcc_ir::{Graph, ScalarType, Tensor, ValueId};

/// One layer's choice and what was measured for it.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerChoice {
    pub op: ValueId,
    pub name: String,
    pub weights: usize,
    /// `None`: float.
    pub precision: Option<ScalarType>,
    /// Output SQNR with only this layer at i8 / at i4 (others float).
    pub sqnr_i8_db: f64,
    pub sqnr_i4_db: f64,
}

/// The whole choice.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetChoice {
    pub layers: Vec<LayerChoice>,
    pub average_bits: f64,
    pub predicted_sqnr_db: f64,
    pub measured_sqnr_db: f64,
}

impl BudgetChoice {
    /// The per-layer precisions as [`QuantOptions::layer_weights`] wants.
    pub fn apply(&self, opts: &mut QuantOptions) {
        for l in &self.layers {
            opts.layer_weights.insert(l.op, l.precision);
        }
    }
}

fn bits(p: Option<ScalarType>) -> f64 {
    match p {
        None => 32.0,
        Some(ScalarType::I4) => 4.0,
        Some(_) => 8.0,
    }
}

/// (signal, noise) of the first output over the samples.
fn noise(
    float_out: &[Vec<f32>],
    g: &Graph,
    samples: &[Vec<Tensor>],
) -> Result<(f64, f64), InterpError> {
    let (mut s, mut n) = (0.0, 0.0);
    for (f, x) in float_out.iter().zip(samples) {
        let y = run(g, x)?;
        let y = y.first().and_then(|t| t.data.as_f32()).unwrap_or(&[]);
        for (&a, &b) in f.iter().zip(y) {
            s += (a as f64) * (a as f64);
            n += (a as f64 - b as f64) * (a as f64 - b as f64);
        }
    }
    Ok((s, n))
}

fn db(s: f64, n: f64) -> f64 {
    if n <= 0.0 {
        f64::INFINITY
    } else {
        10.0 * (s / n).log10()
    }
}

/// Chooses the precisions for `budget` bits per weight (≥ 4, or ≥ 8
/// without `allow_i4`) from the sensitivities measured on `samples`
/// (batches in input order). Without `allow_i4` (an ONNX output older than
/// opset 21, which has no 4-bit codes) each layer is i8 or float.
pub fn choose(
    graph: &Graph,
    observers: &Observers,
    opts: &QuantOptions,
    samples: &[Vec<Tensor>],
    budget: f64,
    allow_i4: bool,
) -> Result<BudgetChoice, InterpError> {
    let mut layers: Vec<(ValueId, String, usize)> = Vec::new();
    for v in graph.canonical_order() {
        let n = graph.node(v);
        if opts
            .exclude
            .iter()
            .any(|e| n.name.as_deref() == Some(e.as_str()) || n.op.name() == e)
        {
            continue;
        }
        let Some((slot, _)) = weight_axis(graph, v) else {
            continue;
        };
        let Some(&w) = graph.args(v).get(slot as usize) else {
            continue;
        };
        if let Some(c) = graph.node(w).op.as_const()
            && let Some(d) = c.data.as_f32()
        {
            let name = n.name.clone().unwrap_or_else(|| n.op.name().to_string());
            layers.push((v, name, d.len()));
        }
    }
    let float_out: Vec<Vec<f32>> = samples
        .iter()
        .map(|x| {
            run(graph, x).map(|y| {
                y.first()
                    .and_then(|t| t.data.as_f32())
                    .map(<[f32]>::to_vec)
                    .unwrap_or_default()
            })
        })
        .collect::<Result<_, _>>()?;
    let with = |choice: &[Option<ScalarType>]| {
        let mut o = opts.clone();
        for ((v, _, _), &p) in layers.iter().zip(choice) {
            o.layer_weights.insert(*v, p);
        }
        insert_qdq(graph, observers, &o)
    };
    let all_float = vec![None; layers.len()];
    let (signal, n0) = noise(&float_out, &with(&all_float), samples)?;
    // ΔN per layer: [i4, i8, float]
    let mut delta: Vec<[f64; 3]> = Vec::new();
    let mut sq: Vec<(f64, f64)> = Vec::new();
    for i in 0..layers.len() {
        let mut c = all_float.clone();
        c[i] = Some(ScalarType::I4);
        let n4 = noise(&float_out, &with(&c), samples)?.1;
        c[i] = Some(ScalarType::I8);
        let n8 = noise(&float_out, &with(&c), samples)?.1;
        delta.push([(n4 - n0).max(0.0), (n8 - n0).max(0.0), 0.0]);
        sq.push((db(signal, n8), db(signal, n4)));
    }
    let total: usize = layers.iter().map(|l| l.2).sum();
    let limit = budget * total as f64;
    // level 0 = i4, 1 = i8, 2 = float
    let level_bits = [4.0, 8.0, 32.0];
    let start = if allow_i4 { 0 } else { 1 };
    let mut level = vec![start; layers.len()];
    let mut used: f64 = layers.iter().map(|l| level_bits[start] * l.2 as f64).sum();
    loop {
        let mut best: Option<(f64, usize, usize)> = None;
        for (i, l) in layers.iter().enumerate() {
            for to in level[i] + 1..3 {
                let cost = (level_bits[to] - level_bits[level[i]]) * l.2 as f64;
                let gain = delta[i][level[i]] - delta[i][to];
                if used + cost > limit + 1e-9 || gain <= 0.0 {
                    continue;
                }
                let rate = gain / cost;
                if best.is_none_or(|(r, _, _)| rate > r) {
                    best = Some((rate, i, to));
                }
            }
        }
        let Some((_, i, to)) = best else { break };
        used += (level_bits[to] - level_bits[level[i]]) * layers[i].2 as f64;
        level[i] = to;
    }
    let prec = |lv: usize| match lv {
        0 => Some(ScalarType::I4),
        1 => Some(ScalarType::I8),
        _ => None,
    };
    let choice: Vec<Option<ScalarType>> = level.iter().map(|&l| prec(l)).collect();
    let predicted = n0
        + level
            .iter()
            .enumerate()
            .map(|(i, &l)| delta[i][l])
            .sum::<f64>();
    let measured = noise(&float_out, &with(&choice), samples)?.1;
    let average_bits = if total == 0 {
        0.0
    } else {
        layers
            .iter()
            .zip(&choice)
            .map(|(l, &p)| bits(p) * l.2 as f64)
            .sum::<f64>()
            / total as f64
    };
    Ok(BudgetChoice {
        layers: layers
            .into_iter()
            .zip(choice)
            .zip(sq)
            .map(|(((op, name, weights), precision), (s8, s4))| LayerChoice {
                op,
                name,
                weights,
                precision,
                sqnr_i8_db: s8,
                sqnr_i4_db: s4,
            })
            .collect(),
        average_bits,
        predicted_sqnr_db: db(signal, predicted),
        measured_sqnr_db: db(signal, measured),
    })
}
