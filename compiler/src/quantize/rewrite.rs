//! The QDQ rewrite: a float graph and its calibration ranges become a graph
//! with `quantize` → `dequantize` pairs on every observed activation and
//! quantized constant weights (symmetric i8, per channel by default) behind a
//! `dequantize`, the form qcc's `lower-qdq` lowers to integer ops; the
//! constant bias of a `dense` / `conv2d` whose input is quantized becomes
//! i32 codes at input scale × weight scale behind a `dequantize`.

use super::calib::{Method, compute_scale_zp, weight_scales};
use super::observe::Observers;
use qcc_ir::quant::quantize_f32;
use qcc_ir::{ElemType, Graph, Op, QuantType, ScalarType, TensorData, TensorType, ValueId};
use std::collections::BTreeMap;

/// The choices of `qcc quantize`.
#[derive(Clone, Debug)]
pub struct QuantOptions {
    pub method: Method,
    /// `U8` (asymmetric, the default) or `I8` (asymmetric).
    pub activations: ScalarType,
    /// Weights per channel (the default) or per tensor.
    pub per_channel: bool,
    /// Node names or op names kept in float.
    pub exclude: Vec<String>,
    /// `I8` (codes −127..=127, the default) or `I4` (−7..=7) weights,
    /// symmetric.
    pub weights: ScalarType,
    /// Per op (the value of a dense / conv2d / matmul) a weight precision
    /// other than `weights`: `Some(I8 | I4)`, or `None` to keep its weights
    /// in float (`--budget-bits`).
    pub layer_weights: BTreeMap<ValueId, Option<ScalarType>>,
}

impl QuantOptions {
    /// The largest weight code: 127 for i8, 7 for i4 (symmetric, as
    /// onnxruntime's symmetric ranges).
    pub fn weight_qmax(&self) -> i64 {
        qmax_of(self.weights)
    }

    /// The weight precision of op `v` (`None`: float).
    pub fn weights_of(&self, v: ValueId) -> Option<ScalarType> {
        self.layer_weights
            .get(&v)
            .copied()
            .unwrap_or(Some(self.weights))
    }
}

pub(crate) fn qmax_of(t: ScalarType) -> i64 {
    if t == ScalarType::I4 { 7 } else { 127 }
}

impl Default for QuantOptions {
    fn default() -> QuantOptions {
        QuantOptions {
            method: Method::MinMax,
            activations: ScalarType::U8,
            per_channel: true,
            exclude: Vec::new(),
            weights: ScalarType::I8,
            layer_weights: BTreeMap::new(),
        }
    }
}

fn excluded(g: &Graph, v: ValueId, opts: &QuantOptions) -> bool {
    let n = g.node(v);
    opts.exclude
        .iter()
        .any(|e| n.name.as_deref() == Some(e.as_str()) || n.op.name() == e)
}

/// The weight operand slot of an op and the axis of its output channels.
pub fn weight_axis(g: &Graph, v: ValueId) -> Option<(u32, usize)> {
    match &g.node(v).op {
        Op::Dense | Op::Conv2d(_) => Some((1, 0)),
        Op::MatMul => {
            let w = *g.args(v).get(1)?;
            Some((1, g.ty(w).shape.len().checked_sub(1)?))
        }
        _ => None,
    }
}

/// The rewritten graph (the input graph is not changed).
pub fn insert_qdq(graph: &Graph, observers: &Observers, opts: &QuantOptions) -> Graph {
    let mut g = graph.clone();
    let order = g.canonical_order();
    let (qmin, qmax) = opts.activations.int_range().unwrap_or((0, 255));
    let ranges: Vec<(ValueId, f32, f32)> = observers.ranges(opts.method, qmin, qmax);
    // the scale each activation will get (for the biases' scales)
    let act_scale = |v: ValueId| {
        ranges
            .iter()
            .find(|r| r.0 == v)
            .map(|&(_, lo, hi)| compute_scale_zp(lo, hi, qmin, qmax, false).0)
    };
    for &v in &order {
        if excluded(&g, v, opts) {
            continue;
        }
        let Some((slot, axis)) = weight_axis(&g, v) else {
            continue;
        };
        let Some(&w) = g.args(v).get(slot as usize) else {
            continue;
        };
        let Some(data) = g
            .node(w)
            .op
            .as_const()
            .and_then(|c| c.data.as_f32().map(<[f32]>::to_vec))
        else {
            continue;
        };
        let shape = g.ty(w).shape.clone();
        let axis = opts.per_channel.then_some(axis);
        let Some(wt) = opts.weights_of(v) else {
            continue;
        };
        let wq = qmax_of(wt);
        let scales = weight_scales(&data, &shape, axis, wq);
        let inner: usize = axis.map_or(1, |a| shape[a + 1..].iter().product());
        let codes: Vec<i64> = data
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let c = axis.map_or(0, |a| (i / inner) % shape[a]);
                quantize_f32(x, scales[c], 0, -wq, wq)
            })
            .collect();
        let q = match axis {
            Some(a) => QuantType::per_axis(wt, a, scales.clone(), vec![0; scales.len()]),
            None => QuantType::per_tensor(wt, scales[0], 0),
        };
        let Ok(td) = TensorData::from_i64s(wt, &codes) else {
            continue;
        };
        let wq = g.add_const(td, TensorType::new(shape.clone(), ElemType::quant(q)));
        let wd = g.add_node(Op::Dequantize, &[wq], TensorType::f32(shape));
        g.set_arg(v, slot, wd);
        // the bias of dense / conv2d: i32 codes at input scale × weight
        // scale, zero point 0 (onnxruntime's `quantize_bias_static`), when
        // the input is quantized
        if matches!(g.node(v).op, Op::Dense | Op::Conv2d(_))
            && let Some(&b) = g.args(v).get(2)
            && let Some(bias) = g
                .node(b)
                .op
                .as_const()
                .and_then(|c| c.data.as_f32().map(<[f32]>::to_vec))
            && g.ty(b).shape.len() == 1
            && let Some(&x) = g.args(v).first()
            && !excluded(&g, x, opts)
            && let Some(sx) = act_scale(x)
            && let Some((bscales, bcodes)) = super::onnx::bias_codes(&bias, sx, &scales)
        {
            let n = bscales.len();
            let bq = if n > 1 {
                QuantType::per_axis(ScalarType::I32, 0, bscales, vec![0; n])
            } else {
                QuantType::per_tensor(ScalarType::I32, bscales[0], 0)
            };
            let codes: Vec<i64> = bcodes.iter().map(|&c| c as i64).collect();
            if let Ok(td) = TensorData::from_i64s(ScalarType::I32, &codes) {
                let bshape = g.ty(b).shape.clone();
                let bc = g.add_const(td, TensorType::new(bshape.clone(), ElemType::quant(bq)));
                let bd = g.add_node(Op::Dequantize, &[bc], TensorType::f32(bshape));
                g.set_arg(v, 2, bd);
            }
        }
    }
    for (v, lo, hi) in ranges.iter().copied() {
        if !g.contains(v) || excluded(&g, v, opts) {
            continue;
        }
        let users = g.users(v);
        let is_output = g.outputs().iter().any(|o| o.value == v);
        if users.is_empty() && !is_output {
            continue;
        }
        // As onnxruntime's QDQ placement: a relu's input is not quantized
        // (the relu's output range quantizes both), so no codes are spent
        // on the negative values the relu drops.
        let only_relu =
            !users.is_empty() && users.iter().all(|(u, _)| matches!(g.node(*u).op, Op::Relu));
        if only_relu && !is_output && !matches!(g.node(v).op, Op::Input(_)) {
            continue;
        }
        let (scale, zp) = compute_scale_zp(lo, hi, qmin, qmax, false);
        let shape = g.ty(v).shape.clone();
        let qt = QuantType::per_tensor(opts.activations, scale, zp);
        let q = g.add_node(
            Op::Quantize,
            &[v],
            TensorType::new(shape.clone(), ElemType::quant(qt)),
        );
        let d = g.add_node(Op::Dequantize, &[q], TensorType::f32(shape));
        for (user, slot) in users {
            g.set_arg(user, slot, d);
        }
        for o in g.outputs_mut() {
            if o.value == v {
                o.value = d;
            }
        }
    }
    g.remove_dead();
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use qcc_ir::Tensor;

    #[test]
    fn dense_relu_quantized_runs_close_to_float() {
        // y = relu(dense(x, w, b)), x: [1, 4], w: [3, 4]
        let mut g = Graph::new("g");
        let x = g.add_input("x", TensorType::f32(vec![1, 4]));
        let w = g.add_const(
            TensorData::F32((0..12).map(|i| (i as f32 - 5.5) / 7.0).collect()),
            TensorType::f32(vec![3, 4]),
        );
        let b = g.add_const(
            TensorData::F32(vec![0.1, -0.2, 0.3]),
            TensorType::f32(vec![3]),
        );
        let d = g.add_node(Op::Dense, &[x, w, b], TensorType::f32(vec![1, 3]));
        let y = g.add_node(Op::Relu, &[d], TensorType::f32(vec![1, 3]));
        g.add_output("y", y);
        qcc_ir::verify::verify(&g).unwrap();
        let samples: Vec<Tensor> = (0..8)
            .map(|s| {
                Tensor::f32(
                    vec![1, 4],
                    (0..4).map(|i| ((s * 4 + i) as f32 * 0.37).sin()).collect(),
                )
            })
            .collect();
        let mut obs = Observers::new(&g, 2048);
        for s in &samples {
            obs.observe(&g, std::slice::from_ref(s)).unwrap();
        }
        let q = insert_qdq(&g, &obs, &QuantOptions::default());
        qcc_ir::verify::verify(&q).unwrap();
        let n_quant = q
            .node_ids()
            .filter(|&v| matches!(q.node(v).op, Op::Quantize))
            .count();
        assert_eq!(n_quant, 2, "x and the relu result (not the relu's input)");
        let i32_consts = q
            .node_ids()
            .filter(|&v| q.node(v).op.is_const() && q.ty(v).elem.storage() == ScalarType::I32)
            .count();
        assert_eq!(i32_consts, 1, "the bias is quantized to i32");
        for s in &samples {
            let f = qcc_ir::interp::run(&g, std::slice::from_ref(s)).unwrap();
            let r = qcc_ir::interp::run(&q, std::slice::from_ref(s)).unwrap();
            let (f, r) = (f[0].data.as_f32().unwrap(), r[0].data.as_f32().unwrap());
            for (a, b) in f.iter().zip(r) {
                assert!((a - b).abs() < 0.05, "{f:?} vs {r:?}");
            }
        }
        // compiled (lower-qdq and the rest), the interpreter and the JIT agree
        // bit for bit
        let c = crate::compile(q, &crate::CompileOptions::default()).unwrap();
        for s in &samples {
            let i = crate::run(&c, std::slice::from_ref(s), crate::Backend::Interp).unwrap();
            let j = crate::run(&c, std::slice::from_ref(s), crate::Backend::Jit(None)).unwrap();
            assert_eq!(i, j);
        }
    }
}
