//! Deterministic random inputs (`qcc run --random-inputs SEED`).
//!
//! Each input's values come from a SplitMix64 stream seeded by the seed, the
//! input's name and the text of its type, so two graphs with the same
//! signature get the same inputs, whatever else they contain. The stream
//! gives uniform numbers in [0, 1) that are mapped to a range:
//!
//! - f32 inputs: the real range representable by the first `quantize` the
//!   input reaches (through data-movement ops such as reshape or transpose),
//!   `[s·(lo − z), s·(hi − z)]` (per axis: the widest over the channels);
//!   `[-1, 1]` when the input reaches no quantize;
//! - quantized inputs: the stored integers, uniform over the storage range;
//! - plain integer inputs: uniform over `[-16, 16]` clipped to the type's range.

use qcc_ir::{ElemType, Graph, Op, QuantType, ScalarType, Tensor, TensorData, TensorType, ValueId};
use std::collections::{HashSet, VecDeque};

/// SplitMix64: small, fast, and fully specified, so streams never change.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 bits.
    fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// FNV-1a, to fold the name and type into the seed.
fn fnv1a(bytes: &[u8], mut h: u64) -> u64 {
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn stream(seed: u64, name: &str, ty: &TensorType) -> SplitMix64 {
    let mut h = fnv1a(&seed.to_le_bytes(), 0xcbf2_9ce4_8422_2325);
    h = fnv1a(name.as_bytes(), h);
    h = fnv1a(ty.to_string().as_bytes(), h);
    SplitMix64(h)
}

/// The real range a quantized type represents.
fn real_range(q: &QuantType) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for (s, z) in q.scales.iter().zip(&q.zero_points) {
        lo = lo.min(*s as f64 * (q.storage_min - z) as f64);
        hi = hi.max(*s as f64 * (q.storage_max - z) as f64);
    }
    (lo, hi)
}

/// The type of the first quantize reached from `v` through ops that only move
/// data.
fn first_quantize(graph: &Graph, v: ValueId) -> Option<&QuantType> {
    let mut queue = VecDeque::from([v]);
    let mut seen = HashSet::from([v]);
    while let Some(u) = queue.pop_front() {
        for (user, _) in graph.users(u) {
            let node = graph.node(user);
            match &node.op {
                Op::Quantize => return node.ty.elem.as_quant(),
                Op::Reshape
                | Op::Flatten { .. }
                | Op::Transpose { .. }
                | Op::Slice { .. }
                | Op::Concat { .. }
                    if seen.insert(user) =>
                {
                    queue.push_back(user);
                }
                _ => {}
            }
        }
    }
    None
}

/// One input's values.
fn fill(graph: &Graph, v: ValueId, seed: u64) -> Tensor {
    let node = graph.node(v);
    let ty = &node.ty;
    let name = node.name.as_deref().unwrap_or("");
    let n = ty.num_elements().unwrap_or(0);
    let mut rng = stream(seed, name, ty);
    let data = match &ty.elem {
        ElemType::Scalar(ScalarType::F32) => {
            let (lo, hi) = first_quantize(graph, v)
                .map(real_range)
                .unwrap_or((-1.0, 1.0));
            TensorData::F32(
                (0..n)
                    .map(|_| (lo + (hi - lo) * rng.next_unit()) as f32)
                    .collect(),
            )
        }
        elem => {
            let (lo, hi) = match elem {
                ElemType::Quant(q) => (q.storage_min, q.storage_max),
                _ => {
                    let (a, b) = elem.int_range().unwrap_or((0, 0));
                    (a.max(-16), b.min(16))
                }
            };
            let span = (hi - lo + 1) as u64;
            let vals: Vec<i64> = (0..n)
                .map(|_| lo + (rng.next_u64() % span) as i64)
                .collect();
            TensorData::from_i64s(elem.storage(), &vals).expect("values lie in the range")
        }
    };
    Tensor {
        shape: ty.shape.clone(),
        data,
    }
}

/// Deterministic inputs for every graph input, in input order.
pub fn random_inputs(graph: &Graph, seed: u64) -> Vec<Tensor> {
    graph
        .inputs()
        .iter()
        .map(|&v| fill(graph, v, seed))
        .collect()
}

/// A deterministic value for one input of the graph.
pub fn random_input(graph: &Graph, input: ValueId, seed: u64) -> Tensor {
    fill(graph, input, seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph_with_quantize(scale: f32) -> Graph {
        let mut g = Graph::new("g");
        let x = g.add_input("x", TensorType::f32(vec![64]));
        let q = QuantType::per_tensor(ScalarType::U8, scale, 128);
        let xq = g.add_node(
            Op::Quantize,
            &[x],
            TensorType::new(vec![64], ElemType::quant(q)),
        );
        g.add_output("y", xq);
        g
    }

    #[test]
    fn deterministic_and_in_range() {
        let g = graph_with_quantize(0.05);
        let a = random_inputs(&g, 7);
        assert_eq!(a, random_inputs(&g, 7));
        assert_ne!(a, random_inputs(&g, 8));
        let vals = a[0].data.as_f32().unwrap();
        let (lo, hi) = (0.05 * -128.0, 0.05 * 127.0);
        assert!(vals.iter().all(|&v| v >= lo && v <= hi));
        assert!(vals.iter().any(|&v| v < lo / 2.0) && vals.iter().any(|&v| v > hi / 2.0));
    }

    #[test]
    fn same_signature_same_inputs() {
        // The stream depends on seed, name and type only; the range on the quantize.
        let a = random_inputs(&graph_with_quantize(0.05), 1);
        let b = random_inputs(&graph_with_quantize(0.05), 1);
        assert_eq!(a, b);
    }

    #[test]
    fn quantized_inputs_cover_the_storage_range() {
        let mut g = Graph::new("g");
        let mut q = QuantType::per_tensor(ScalarType::I8, 0.5, 0);
        q.storage_min = -127;
        let x = g.add_input("x", TensorType::new(vec![1000], ElemType::quant(q)));
        g.add_output("y", x);
        let t = &random_inputs(&g, 3)[0];
        let v = t.data.to_i64s().unwrap();
        assert!(v.iter().all(|&x| (-127..=127).contains(&x)));
        assert!(v.contains(&-127) || v.contains(&127));
    }
}
