//! The QDQ ONNX output of `qcc quantize`: which tensors of a float ONNX
//! model get a quantize/dequantize pair, with which scale and zero point,
//! and the quantized weights and biases, as onnxruntime's `quantize_static`
//! (QDQ format) places them. The protobuf edit itself is
//! [`qcc_onnx::export`].
//!
//! Placement (over the model's nodes in order, skipping excluded nodes and
//! nodes of shape or control ops):
//!
//! - the float activations read or written by a node are quantized, except
//!   the input of a `Relu` / `Clip` whose consumers are all `Relu` / `Clip`
//!   (not a graph input or output): the activation's output range quantizes
//!   both (onnxruntime removes the activation instead; the codes are the
//!   same);
//! - the weight initializer of `Conv` (axis 0), `ConvTranspose` (axis 1),
//!   `Gemm` (axis 0 with `transB = 1`, else 1) and `MatMul` (its last axis)
//!   becomes symmetric i8 (or i4) codes, per channel unless `per_channel` is
//!   off; the bias of `Conv` / `ConvTranspose` / `Gemm` (`beta = 1`) becomes
//!   i32 codes with scale `input scale × weight scale` and zero point 0;
//! - the outputs of the ops that only move codes (`Reshape`, `Transpose`,
//!   `Flatten`, `Squeeze`, `Unsqueeze`, `MaxPool`, `AveragePool`, `Slice`,
//!   `Resize`, `Gather`, `Split`, `Identity`) take their input's scale and
//!   zero point; a `Softmax` output gets the range `[0, 1]`.
//!
//! Ranges come from the observers of the imported qcc graph, matched by
//! tensor name (the importer names each value after its ONNX output,
//! sanitized); a tensor without a unique calibrated twin stays float.

use super::calib::{compute_scale_zp, weight_scales};
use super::observe::Observers;
use super::rewrite::QuantOptions;
use qcc_ir::quant::quantize_f32;
use qcc_ir::{Graph, ValueId};
use qcc_onnx::export::{ActivationQuant, Codes, ConstQuant, QdqPlan};
use qcc_onnx::proto::{ModelProto, NodeProto, TensorProto};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// Why the QDQ model cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum OnnxQuantError {
    #[error("{0}")]
    Export(#[from] qcc_onnx::export::ExportError),
    #[error("initializer `{name}`: {reason}")]
    Initializer { name: String, reason: String },
    #[error("the model has no graph")]
    NoGraph,
    #[error(
        "layer `{0}` of the precision choice has no ONNX node of that output name (write a `.txt` output instead)"
    )]
    UnmappedLayer(String),
}

/// Ops whose inputs and outputs are never quantized (shapes, control flow,
/// quantization itself).
const SKIPPED: &[&str] = &[
    "QuantizeLinear",
    "DequantizeLinear",
    "Cast",
    "Shape",
    "Size",
    "ConstantOfShape",
    "Constant",
    "If",
    "Loop",
    "Scan",
    "NonZero",
    "Range",
    "Equal",
    "Greater",
    "Less",
    "Not",
    "And",
    "Or",
    "ArgMax",
    "ArgMin",
];

/// Ops whose output takes its first input's scale and zero point.
const SHARED: &[&str] = &[
    "Reshape",
    "Transpose",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "MaxPool",
    "AveragePool",
    "Slice",
    "Resize",
    "Gather",
    "Split",
    "Identity",
];

fn attr_i(n: &NodeProto, name: &str) -> Option<i64> {
    n.attribute
        .iter()
        .find(|a| a.name.as_deref() == Some(name))
        .and_then(|a| a.i)
}

fn attr_f(n: &NodeProto, name: &str) -> Option<f32> {
    n.attribute
        .iter()
        .find(|a| a.name.as_deref() == Some(name))
        .and_then(|a| a.f)
}

/// The weight axis of a node's input 1, if it is an op with weights.
fn weight_axis(n: &NodeProto, rank: usize) -> Option<usize> {
    match n.op_type.as_deref()? {
        "Conv" => Some(0),
        "ConvTranspose" => Some(1),
        "Gemm" => Some(if attr_i(n, "transB") == Some(1) { 0 } else { 1 }),
        "MatMul" => rank.checked_sub(1),
        _ => None,
    }
}

/// The value of each ONNX tensor name in the imported graph: the qcc value
/// named after it (sanitized), when no other ONNX name sanitizes the same.
fn twins(model_names: &HashSet<&str>, g: &Graph) -> HashMap<String, ValueId> {
    let mut by_qcc: HashMap<String, Vec<&str>> = HashMap::new();
    for &n in model_names {
        by_qcc.entry(qcc_onnx::qcc_name(n)).or_default().push(n);
    }
    let mut out = HashMap::new();
    for v in g.node_ids() {
        let Some(name) = g.node(v).name.as_deref() else {
            continue;
        };
        if let Some(onnx) = by_qcc.get(name)
            && onnx.len() == 1
        {
            out.insert(onnx[0].to_string(), v);
        }
    }
    out
}

/// The plan of `qcc quantize -o model.onnx`: `graph` is `model` imported,
/// `observers` calibrated on it. `base_dir` is the model's folder (for
/// external initializer data).
pub fn plan_qdq(
    model: &ModelProto,
    base_dir: Option<&Path>,
    graph: &Graph,
    observers: &Observers,
    opts: &QuantOptions,
    weight_qmax: i64,
) -> Result<QdqPlan, OnnxQuantError> {
    let gp = model.graph.as_ref().ok_or(OnnxQuantError::NoGraph)?;
    let inits: HashMap<&str, &TensorProto> = gp
        .initializer
        .iter()
        .filter_map(|t| Some((t.name.as_deref()?, t)))
        .collect();
    let outputs: HashSet<&str> = gp.output.iter().filter_map(|o| o.name.as_deref()).collect();
    let inputs: HashSet<&str> = gp
        .input
        .iter()
        .filter_map(|i| i.name.as_deref())
        .filter(|n| !inits.contains_key(n))
        .collect();
    let mut consumers: HashMap<&str, Vec<&NodeProto>> = HashMap::new();
    let mut names: HashSet<&str> = inputs.clone();
    for n in &gp.node {
        for i in &n.input {
            consumers.entry(i.as_str()).or_default().push(n);
        }
        names.extend(n.output.iter().map(String::as_str));
    }
    let twin = twins(&names, graph);
    let (qmin, qmax) = opts.activations.int_range().unwrap_or((0, 255));
    let signed = qmin < 0;
    let ranges: HashMap<ValueId, (f32, f32)> = observers
        .ranges(opts.method, qmin, qmax)
        .into_iter()
        .map(|(v, lo, hi)| (v, (lo, hi)))
        .collect();
    let params = |lo: f32, hi: f32| {
        let (scale, zp) = compute_scale_zp(lo, hi, qmin, qmax, false);
        ActivationQuant {
            scale,
            zero_point: zp as i32,
            signed,
        }
    };
    let excluded = |n: &NodeProto| {
        opts.exclude.iter().any(|e| {
            n.name.as_deref() == Some(e.as_str())
                || n.op_type.as_deref() == Some(e.as_str())
                || n.output.iter().any(|o| o == e)
        })
    };
    let is_act = |n: &NodeProto| matches!(n.op_type.as_deref(), Some("Relu" | "Clip"));
    let mut plan = QdqPlan::default();
    // The layers of `opts.layer_weights` found among the nodes.
    let mut mapped: HashSet<ValueId> = HashSet::new();
    // an activation's own range, if it is calibrated and placement allows
    let own = |t: &str| -> Option<ActivationQuant> {
        if t.is_empty() || inits.contains_key(t) {
            return None;
        }
        let users = consumers.get(t).map(Vec::as_slice).unwrap_or(&[]);
        if users.is_empty() && !outputs.contains(t) {
            return None;
        }
        if !users.is_empty()
            && users.iter().all(|u| is_act(u))
            && !outputs.contains(t)
            && !inputs.contains(t)
        {
            return None;
        }
        let v = twin.get(t)?;
        if !graph.ty(*v).elem.is_f32() {
            return None;
        }
        let &(lo, hi) = ranges.get(v)?;
        Some(params(lo, hi))
    };
    for n in &gp.node {
        let op = n.op_type.as_deref().unwrap_or("");
        let domain = n.domain.as_deref().unwrap_or("");
        if excluded(n) || SKIPPED.contains(&op) || !matches!(domain, "" | "ai.onnx") {
            continue;
        }
        let mut weight = None;
        for (slot, t) in n.input.iter().enumerate() {
            if let Some(tp) = inits.get(t.as_str()) {
                if slot == 1 && !plan.constants.contains_key(t) {
                    let rank = tp.dims.len();
                    // The layer's own precision (`--budget-bits`), found
                    // through the qcc op named after the node's output;
                    // `None`: its weights stay float.
                    let precision = match n.output.first().and_then(|o| twin.get(o.as_str())) {
                        Some(&v) if opts.layer_weights.contains_key(&v) => {
                            mapped.insert(v);
                            opts.weights_of(v)
                        }
                        _ => Some(opts.weights),
                    };
                    let qmax = match precision {
                        Some(p) if p == opts.weights => weight_qmax,
                        Some(p) => super::rewrite::qmax_of(p),
                        None => 0,
                    };
                    if qmax > 0
                        && let Some(axis) = weight_axis(n, rank)
                    {
                        let q = quantize_weight(tp, base_dir, axis, opts.per_channel, qmax)?;
                        if let Some(q) = q {
                            weight = Some(q.clone());
                            plan.constants.insert(t.clone(), q);
                        }
                    }
                }
                continue;
            }
            if !plan.activations.contains_key(t)
                && let Some(a) = own(t)
            {
                plan.activations.insert(t.clone(), a);
            }
        }
        // the bias, at the scale of input × weight
        if matches!(op, "Conv" | "ConvTranspose" | "Gemm")
            && attr_f(n, "beta").unwrap_or(1.0) == 1.0
            && let (Some(w), Some(x), Some(b)) = (&weight, n.input.first(), n.input.get(2))
            && let Some(xq) = plan.activations.get(x)
            && let Some(tp) = inits.get(b.as_str())
            && !plan.constants.contains_key(b)
            && let Some(q) = quantize_bias(tp, base_dir, xq.scale, &w.scales)?
        {
            plan.constants.insert(b.clone(), q);
        }
        for (i, t) in n.output.iter().enumerate() {
            if t.is_empty() || plan.activations.contains_key(t) {
                continue;
            }
            let shared = if SHARED.contains(&op) {
                n.input
                    .first()
                    .and_then(|x| plan.activations.get(x))
                    .cloned()
            } else {
                None
            };
            let q = match shared {
                Some(s) => own(t).map(|_| s),
                None if op == "Softmax" && i == 0 => own(t).map(|_| params(0.0, 1.0)),
                None => own(t),
            };
            if let Some(q) = q {
                plan.activations.insert(t.clone(), q);
            }
        }
    }
    if let Some(&v) = opts.layer_weights.keys().find(|v| !mapped.contains(v)) {
        return Err(OnnxQuantError::UnmappedLayer(graph.describe(v)));
    }
    Ok(plan)
}

/// A float initializer's shape and values.
type Floats = (Vec<usize>, Vec<f32>);

fn floats(tp: &TensorProto, base_dir: Option<&Path>) -> Result<Option<Floats>, OnnxQuantError> {
    let name = tp.name.clone().unwrap_or_default();
    let t = qcc_onnx::tensor::decode(tp, base_dir).map_err(|e| OnnxQuantError::Initializer {
        name,
        reason: e.to_string(),
    })?;
    if t.dtype != qcc_onnx::DType::Float {
        return Ok(None);
    }
    Ok(t.floats().map(|f| (t.shape.clone(), f.to_vec())))
}

/// Symmetric codes on `-qmax..=qmax` (per channel along `axis`, or per
/// tensor), as [`weight_scales`] and `quantize_f32`.
fn quantize_weight(
    tp: &TensorProto,
    base_dir: Option<&Path>,
    axis: usize,
    per_channel: bool,
    qmax: i64,
) -> Result<Option<ConstQuant>, OnnxQuantError> {
    let Some((shape, data)) = floats(tp, base_dir)? else {
        return Ok(None);
    };
    if axis >= shape.len() {
        return Ok(None);
    }
    let axis = per_channel.then_some(axis);
    let scales = weight_scales(&data, &shape, axis, qmax);
    let inner: usize = axis.map_or(1, |a| shape[a + 1..].iter().product());
    let codes: Vec<i8> = data
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let c = axis.map_or(0, |a| (i / inner) % shape[a]);
            quantize_f32(x, scales[c], 0, -qmax, qmax) as i8
        })
        .collect();
    Ok(Some(ConstQuant {
        codes: if qmax <= 7 {
            Codes::I4(codes)
        } else {
            Codes::I8(codes)
        },
        scales,
        axis,
    }))
}

/// The i32 codes of a bias of one value per output channel, at the scale
/// `input_scale × weight_scale` (f32 product) and zero point 0, as
/// onnxruntime's `quantize_bias_static`: `round(b / scale)` in f64 (ties to
/// even), saturated to i32. `None` (the bias stays float) for a bias of
/// another shape.
pub fn bias_codes(
    bias: &[f32],
    input_scale: f32,
    weight_scales: &[f32],
) -> Option<(Vec<f32>, Vec<i32>)> {
    let per = weight_scales.len() > 1;
    if per && bias.len() != weight_scales.len() {
        return None;
    }
    let scales: Vec<f32> = if per {
        weight_scales.iter().map(|&w| input_scale * w).collect()
    } else {
        vec![input_scale * weight_scales[0]]
    };
    let codes = bias
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            let s = scales[if per { i } else { 0 }] as f64;
            let q = (b as f64 / s).round_ties_even();
            q.clamp(i32::MIN as f64, i32::MAX as f64) as i32
        })
        .collect();
    Some((scales, codes))
}

fn quantize_bias(
    tp: &TensorProto,
    base_dir: Option<&Path>,
    input_scale: f32,
    weight_scales: &[f32],
) -> Result<Option<ConstQuant>, OnnxQuantError> {
    let Some((shape, data)) = floats(tp, base_dir)? else {
        return Ok(None);
    };
    if shape.len() != 1 {
        return Ok(None);
    }
    let Some((scales, codes)) = bias_codes(&data, input_scale, weight_scales) else {
        return Ok(None);
    };
    let axis = (scales.len() > 1).then_some(0);
    Ok(Some(ConstQuant {
        codes: Codes::I32(codes),
        scales,
        axis,
    }))
}

/// The QDQ model's bytes: the plan applied to `model` (see [`plan_qdq`]).
pub fn write_qdq(model: &ModelProto, plan: &QdqPlan) -> Result<Vec<u8>, OnnxQuantError> {
    let q = qcc_onnx::export::insert_qdq(model, plan)?;
    Ok(qcc_onnx::export::encode(&q))
}

/// Per-activation summary (name → scale, zero point) of a plan, sorted.
pub fn activation_params(plan: &QdqPlan) -> BTreeMap<String, (f32, i32)> {
    plan.activations
        .iter()
        .map(|(k, a)| (k.clone(), (a.scale, a.zero_point)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bias_is_quantized_at_input_times_weight_scale() {
        let (s, c) = bias_codes(&[0.5, -0.25], 0.1, &[0.01, 0.02]).unwrap();
        assert_eq!(s, vec![0.1f32 * 0.01, 0.1f32 * 0.02]);
        assert_eq!(c, vec![(0.5f64 / s[0] as f64).round() as i32, -125]);
        // per tensor: one scale
        let (s, c) = bias_codes(&[1.0, 2.0, 3.0], 0.5, &[0.5]).unwrap();
        assert_eq!((s, c), (vec![0.25], vec![4, 8, 12]));
        // a bias of another length stays float
        assert!(bias_codes(&[1.0], 0.5, &[0.5, 0.25]).is_none());
        // saturated to i32
        assert_eq!(
            bias_codes(&[1e30], 1e-3, &[1e-3]).unwrap().1,
            vec![i32::MAX]
        );
    }
}
