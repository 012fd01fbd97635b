//! QDQ export: a float ONNX model with `QuantizeLinear` / `DequantizeLinear`
//! inserted, the form onnxruntime's `quantize_static` writes (and loads).
//!
//! What to quantize is a [`QdqPlan`] decided elsewhere (`qcc quantize`
//! calibrates on qcc's own interpreter); this module only edits the
//! protobuf:
//!
//! - every planned **activation** `t` gets `QuantizeLinear(t, t_scale,
//!   t_zero_point)` → `DequantizeLinear` (per tensor, u8 or i8), inserted right
//!   after the node that produces `t` (or first, for a graph input); the
//!   consumers of `t` read the dequantized value. A graph output keeps its
//!   name: it becomes the `DequantizeLinear`'s output and its producer writes
//!   a fresh name instead;
//! - every planned **constant** (an initializer: weights as i8 or i4, biases
//!   as i32) is replaced by its codes `c_quantized`, its scales `c_scale`
//!   (a scalar, or one per channel with the `axis` attribute) and zero
//!   points 0, and a `DequantizeLinear` whose output has the initializer's
//!   name, so its consumers are unchanged.
//!
//! New names are the onnxruntime spellings (`_quantized`, `_scale`,
//! `_zero_point`, `_QuantizeLinear_Output`, `_DequantizeLinear_Output`) made
//! unique against every name the model already uses. The default-domain
//! opset must be at least 13 when a scale is per axis (10 for per-tensor
//! only, 21 for 4-bit codes); it is never raised, since that would change
//! what other ops of the model mean. Output is deterministic: the plan is ordered, nodes
//! are inserted in the model's order.

use crate::proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    attribute_type,
};
use prost::Message;
use std::collections::{BTreeMap, HashSet};

/// The quantization of one activation tensor (per tensor).
#[derive(Clone, Debug, PartialEq)]
pub struct ActivationQuant {
    pub scale: f32,
    pub zero_point: i32,
    /// i8 codes (`true`) or u8 (`false`).
    pub signed: bool,
}

/// The codes of a quantized constant, row-major in the initializer's shape.
#[derive(Clone, Debug, PartialEq)]
pub enum Codes {
    I8(Vec<i8>),
    /// 4-bit signed codes (−8..=7), one per element; packed two per byte
    /// (low nibble first) in the file.
    I4(Vec<i8>),
    I32(Vec<i32>),
}

impl Codes {
    fn len(&self) -> usize {
        match self {
            Codes::I8(v) | Codes::I4(v) => v.len(),
            Codes::I32(v) => v.len(),
        }
    }
}

/// The quantization of one initializer: codes, scales (one, or one per
/// index of `axis`) and zero points 0.
#[derive(Clone, Debug, PartialEq)]
pub struct ConstQuant {
    pub codes: Codes,
    pub scales: Vec<f32>,
    pub axis: Option<usize>,
}

/// What to quantize, by ONNX tensor name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QdqPlan {
    pub activations: BTreeMap<String, ActivationQuant>,
    pub constants: BTreeMap<String, ConstQuant>,
}

/// Why a plan cannot be applied to a model.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ExportError {
    #[error("the model has no graph")]
    NoGraph,
    #[error("tensor `{0}`: no node output or graph input of that name")]
    UnknownActivation(String),
    #[error("initializer `{name}`: {reason}")]
    Constant { name: String, reason: String },
    #[error("the model's opset {have} has no {what} (opset {need} or later)")]
    Opset {
        have: i64,
        need: i64,
        what: &'static str,
    },
}

/// `TensorProto.DataType` codes written here.
const FLOAT: i32 = 1;
const UINT8: i32 = 2;
const INT8: i32 = 3;
const INT32: i32 = 6;
const INT4: i32 = 22;

fn scalar_or_vec(name: String, data_type: i32, dims: Vec<i64>, raw: Vec<u8>) -> TensorProto {
    TensorProto {
        dims,
        data_type: Some(data_type),
        name: Some(name),
        raw_data: Some(raw),
        ..Default::default()
    }
}

fn f32_tensor(name: String, dims: Vec<i64>, v: &[f32]) -> TensorProto {
    let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    scalar_or_vec(name, FLOAT, dims, raw)
}

fn node(op: &str, name: String, inputs: Vec<String>, outputs: Vec<String>) -> NodeProto {
    NodeProto {
        input: inputs,
        output: outputs,
        name: Some(name),
        op_type: Some(op.to_string()),
        domain: Some(String::new()),
        attribute: Vec::new(),
    }
}

fn int_attr(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_string()),
        r#type: Some(attribute_type::INT),
        i: Some(i),
        ..Default::default()
    }
}

/// Names made unique against every name a graph already uses.
struct Names(HashSet<String>);

impl Names {
    fn of(g: &GraphProto) -> Names {
        let mut s = HashSet::new();
        for n in &g.node {
            s.extend(n.input.iter().cloned());
            s.extend(n.output.iter().cloned());
            s.extend(n.name.iter().cloned());
        }
        s.extend(g.initializer.iter().filter_map(|t| t.name.clone()));
        for v in g.input.iter().chain(&g.output).chain(&g.value_info) {
            s.extend(v.name.iter().cloned());
        }
        Names(s)
    }

    fn fresh(&mut self, base: String) -> String {
        let mut name = base.clone();
        let mut i = 1;
        while self.0.contains(&name) {
            name = format!("{base}_{i}");
            i += 1;
        }
        self.0.insert(name.clone());
        name
    }
}

/// The model with the plan's quantize/dequantize pairs inserted (the input
/// model is not changed).
pub fn insert_qdq(model: &ModelProto, plan: &QdqPlan) -> Result<ModelProto, ExportError> {
    let mut m = model.clone();
    let g = m.graph.as_mut().ok_or(ExportError::NoGraph)?;
    let mut names = Names::of(g);
    let mut prefix: Vec<NodeProto> = Vec::new();
    let mut per_axis = false;
    let mut int4 = false;

    for (name, cq) in &plan.constants {
        let bad = |reason: String| ExportError::Constant {
            name: name.clone(),
            reason,
        };
        let Some(idx) = g
            .initializer
            .iter()
            .position(|t| t.name.as_deref() == Some(name))
        else {
            return Err(bad("no initializer of that name".into()));
        };
        let dims = g.initializer[idx].dims.clone();
        let len: i64 = dims.iter().product();
        if len < 0 || cq.codes.len() != len as usize {
            return Err(bad(format!(
                "{} codes for a tensor of shape {dims:?}",
                cq.codes.len()
            )));
        }
        let channels = match cq.axis {
            Some(a) => *dims
                .get(a)
                .ok_or_else(|| bad(format!("axis {a} of a tensor of rank {}", dims.len())))?,
            None => 1,
        };
        if cq.scales.len() as i64 != channels {
            return Err(bad(format!(
                "{} scales for {channels} channels",
                cq.scales.len()
            )));
        }
        g.initializer.remove(idx);
        g.input.retain(|i| i.name.as_deref() != Some(name));
        let qname = names.fresh(format!("{name}_quantized"));
        let sname = names.fresh(format!("{name}_scale"));
        let zname = names.fresh(format!("{name}_zero_point"));
        let sdims = if cq.axis.is_some() {
            vec![channels]
        } else {
            vec![]
        };
        let n = cq.scales.len();
        let (codes, zeros) = match &cq.codes {
            Codes::I8(v) => (
                scalar_or_vec(
                    qname.clone(),
                    INT8,
                    dims,
                    v.iter().map(|&c| c as u8).collect(),
                ),
                scalar_or_vec(zname.clone(), INT8, sdims.clone(), vec![0; n]),
            ),
            Codes::I4(v) => {
                int4 = true;
                let packed = v
                    .chunks(2)
                    .map(|p| {
                        (p[0] as u8 & 0xf) | ((p.get(1).copied().unwrap_or(0) as u8 & 0xf) << 4)
                    })
                    .collect();
                (
                    scalar_or_vec(qname.clone(), INT4, dims, packed),
                    scalar_or_vec(zname.clone(), INT4, sdims.clone(), vec![0; n.div_ceil(2)]),
                )
            }
            Codes::I32(v) => (
                scalar_or_vec(
                    qname.clone(),
                    INT32,
                    dims,
                    v.iter().flat_map(|c| c.to_le_bytes()).collect(),
                ),
                scalar_or_vec(zname.clone(), INT32, sdims.clone(), vec![0; 4 * n]),
            ),
        };
        g.initializer.push(codes);
        g.initializer
            .push(f32_tensor(sname.clone(), sdims, &cq.scales));
        g.initializer.push(zeros);
        let mut dq = node(
            "DequantizeLinear",
            names.fresh(format!("{name}_DequantizeLinear")),
            vec![qname, sname, zname],
            vec![name.clone()],
        );
        if let Some(a) = cq.axis {
            per_axis = true;
            dq.attribute.push(int_attr("axis", a as i64));
        }
        prefix.push(dq);
    }

    let inits: HashSet<String> = g
        .initializer
        .iter()
        .filter_map(|t| t.name.clone())
        .collect();
    let graph_inputs: HashSet<String> = g
        .input
        .iter()
        .filter_map(|i| i.name.clone())
        .filter(|n| !inits.contains(n))
        .collect();
    let outputs: HashSet<String> = g.output.iter().filter_map(|o| o.name.clone()).collect();
    // after[i]: the pairs inserted after node i; after_inputs: after the graph inputs
    let mut after: Vec<Vec<NodeProto>> = vec![Vec::new(); g.node.len()];
    let mut after_inputs: Vec<NodeProto> = Vec::new();
    for (name, aq) in &plan.activations {
        let producer = g.node.iter().position(|n| n.output.contains(name));
        if producer.is_none() && !graph_inputs.contains(name) {
            return Err(ExportError::UnknownActivation(name.clone()));
        }
        let sname = names.fresh(format!("{name}_scale"));
        let zname = names.fresh(format!("{name}_zero_point"));
        g.initializer
            .push(f32_tensor(sname.clone(), vec![], &[aq.scale]));
        let (zt, zb) = if aq.signed {
            (INT8, aq.zero_point.clamp(-128, 127) as i8 as u8)
        } else {
            (UINT8, aq.zero_point.clamp(0, 255) as u8)
        };
        g.initializer
            .push(scalar_or_vec(zname.clone(), zt, vec![], vec![zb]));
        let qout = names.fresh(format!("{name}_QuantizeLinear_Output"));
        let (src, dqout) = match producer {
            Some(p) if outputs.contains(name) => {
                // the graph output keeps its name, on the dequantized value
                let src = names.fresh(format!("{name}_QuantizeLinear_Input"));
                for o in g.node[p].output.iter_mut().filter(|o| *o == name) {
                    *o = src.clone();
                }
                (src, name.clone())
            }
            _ => {
                let dqout = names.fresh(format!("{name}_DequantizeLinear_Output"));
                for n in &mut g.node {
                    for i in n.input.iter_mut().filter(|i| *i == name) {
                        *i = dqout.clone();
                    }
                }
                for o in g
                    .output
                    .iter_mut()
                    .filter(|o| o.name.as_deref() == Some(name))
                {
                    o.name = Some(dqout.clone());
                }
                (name.clone(), dqout)
            }
        };
        let q = node(
            "QuantizeLinear",
            names.fresh(format!("{name}_QuantizeLinear")),
            vec![src, sname.clone(), zname.clone()],
            vec![qout.clone()],
        );
        let dq = node(
            "DequantizeLinear",
            names.fresh(format!("{name}_DequantizeLinear")),
            vec![qout, sname, zname],
            vec![dqout],
        );
        match producer {
            Some(p) => after[p].extend([q, dq]),
            None => after_inputs.extend([q, dq]),
        }
    }
    let old = std::mem::take(&mut g.node);
    g.node = prefix;
    g.node.append(&mut after_inputs);
    for (n, mut extra) in old.into_iter().zip(after) {
        g.node.push(n);
        g.node.append(&mut extra);
    }

    let need = if int4 {
        21
    } else if per_axis {
        13
    } else {
        10
    };
    // Raising the opset would change the meaning of other ops (`Squeeze`'s
    // axes became an input at 13, ...): an older model is refused instead.
    let default =
        |o: &OperatorSetIdProto| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx"));
    let have = m
        .opset_import
        .iter()
        .filter(|o| default(o))
        .filter_map(|o| o.version)
        .max();
    match have {
        Some(v) if v < need => {
            return Err(ExportError::Opset {
                have: v,
                need,
                what: if int4 {
                    "4-bit codes"
                } else if per_axis {
                    "per-axis scales"
                } else {
                    "QuantizeLinear"
                },
            });
        }
        Some(_) => {}
        None => m.opset_import.push(OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(need),
        }),
    }
    Ok(m)
}

/// The model with every `Constant` node of a `value` tensor turned into an
/// initializer of its output's name (onnxruntime's quantizer does the same
/// first), so constant weights are quantized whichever way they are stored.
pub fn constants_to_initializers(model: &ModelProto) -> ModelProto {
    let mut m = model.clone();
    if let Some(g) = m.graph.as_mut() {
        let mut kept = Vec::with_capacity(g.node.len());
        for n in std::mem::take(&mut g.node) {
            let value = (n.op_type.as_deref() == Some("Constant")
                && matches!(n.domain.as_deref(), None | Some("") | Some("ai.onnx"))
                && n.output.len() == 1)
                .then(|| {
                    n.attribute
                        .iter()
                        .find(|a| a.name.as_deref() == Some("value"))
                        .and_then(|a| a.t.clone())
                })
                .flatten();
            match value {
                Some(mut t) => {
                    t.name = Some(n.output[0].clone());
                    g.initializer.push(t);
                }
                None => kept.push(n),
            }
        }
        g.node = kept;
    }
    m
}

/// The protobuf bytes of a model.
pub fn encode(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::ValueInfoProto;

    fn vi(name: &str) -> ValueInfoProto {
        ValueInfoProto {
            name: Some(name.into()),
            r#type: None,
        }
    }

    #[test]
    fn inserts_pairs_and_dequantized_weights_and_round_trips() {
        // y = Relu(MatMul(x, w))
        let g = GraphProto {
            node: vec![
                node(
                    "MatMul",
                    "mm".into(),
                    vec!["x".into(), "w".into()],
                    vec!["t".into()],
                ),
                node("Relu", "r".into(), vec!["t".into()], vec!["y".into()]),
            ],
            name: Some("g".into()),
            initializer: vec![f32_tensor("w".into(), vec![2, 2], &[1.0, -1.0, 0.5, 0.25])],
            input: vec![vi("x")],
            output: vec![vi("y")],
            ..Default::default()
        };
        let m = ModelProto {
            ir_version: Some(8),
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(13),
            }],
            graph: Some(g),
            ..Default::default()
        };
        let mut plan = QdqPlan::default();
        let aq = |s: f32| ActivationQuant {
            scale: s,
            zero_point: 0,
            signed: false,
        };
        plan.activations.insert("x".into(), aq(0.1));
        plan.activations.insert("y".into(), aq(0.2));
        plan.constants.insert(
            "w".into(),
            ConstQuant {
                codes: Codes::I8(vec![127, -127, 127, 64]),
                scales: vec![1.0 / 127.0, 0.5 / 127.0],
                axis: Some(1),
            },
        );
        let q = insert_qdq(&m, &plan).unwrap();
        let g = q.graph.as_ref().unwrap();
        let ops: Vec<&str> = g
            .node
            .iter()
            .map(|n| n.op_type.as_deref().unwrap())
            .collect();
        assert_eq!(
            ops,
            [
                "DequantizeLinear",
                "QuantizeLinear",
                "DequantizeLinear",
                "MatMul",
                "Relu",
                "QuantizeLinear",
                "DequantizeLinear"
            ]
        );
        assert_eq!(g.node[3].input, ["x_DequantizeLinear_Output", "w"]);
        // the graph output keeps its name
        assert_eq!(g.node[4].output, ["y_QuantizeLinear_Input"]);
        assert_eq!(g.node[6].output, ["y"]);
        assert_eq!(q.opset_import[0].version, Some(13));
        assert!(g.initializer.iter().all(|t| t.name.as_deref() != Some("w")));
        let back = crate::decode_model(&encode(&q)).unwrap();
        assert_eq!(back, q);
        // per-axis scales in an opset-11 model: refused, the opset is kept
        let mut old = m.clone();
        old.opset_import[0].version = Some(11);
        assert_eq!(
            insert_qdq(&old, &plan).unwrap_err().to_string(),
            "the model's opset 11 has no per-axis scales (opset 13 or later)"
        );
        // an unknown activation and a wrong code count are refused by name
        let mut bad = QdqPlan::default();
        bad.activations.insert("nope".into(), aq(1.0));
        assert_eq!(
            insert_qdq(&m, &bad).unwrap_err().to_string(),
            "tensor `nope`: no node output or graph input of that name"
        );
        let mut bad = QdqPlan::default();
        bad.constants.insert(
            "w".into(),
            ConstQuant {
                codes: Codes::I8(vec![1]),
                scales: vec![1.0],
                axis: None,
            },
        );
        assert!(
            insert_qdq(&m, &bad)
                .unwrap_err()
                .to_string()
                .starts_with("initializer `w`: 1 codes")
        );
    }
}
