//! Observers: one [`Histogram`] per float activation of a graph, fed by
//! running the float graph on the reference interpreter
//! ([`qcc_ir::interp::run_traced`]) one batch at a time.
//!
//! Observed are the graph's f32 inputs and every f32 op result (never a
//! constant): the tensors that get a QuantizeLinear. The histograms merge
//! across batches, so memory is bounded by the number of tensors. Order
//! is [`Graph::canonical_order`], never a hash map's.

use super::calib::{Histogram, Method};
use qcc_ir::interp::{InterpError, run_traced};
use qcc_ir::{Graph, Tensor, ValueId};
use std::collections::BTreeMap;

/// Why a calibration batch was rejected.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ObserveError {
    #[error("input `{input}`: element {index} is {value}: calibration data must be finite")]
    NonFinite {
        input: String,
        index: usize,
        value: f32,
    },
    #[error("the float graph cannot be run: {0}")]
    Run(#[from] InterpError),
}

/// The histograms of one graph's float activations.
#[derive(Clone, Debug)]
pub struct Observers {
    /// In canonical order: the value and its histogram.
    observed: Vec<(ValueId, Histogram)>,
    batches: usize,
}

impl Observers {
    /// An observer of `bins` bins for every f32 input and op result of `graph`.
    pub fn new(graph: &Graph, bins: usize) -> Observers {
        let observed = graph
            .canonical_order()
            .into_iter()
            .filter(|&v| !graph.node(v).op.is_const() && graph.ty(v).elem.is_f32())
            .map(|v| (v, Histogram::new(bins)))
            .collect();
        Observers {
            observed,
            batches: 0,
        }
    }

    /// Runs one batch (inputs in [`Graph::inputs`] order) and adds every
    /// observed value to its histogram. NaN or infinite inputs are refused,
    /// naming the input and the element.
    pub fn observe(&mut self, graph: &Graph, inputs: &[Tensor]) -> Result<(), ObserveError> {
        for (&v, t) in graph.inputs().iter().zip(inputs) {
            if let Some(xs) = t.data.as_f32()
                && let Some((index, &value)) = xs.iter().enumerate().find(|(_, x)| !x.is_finite())
            {
                return Err(ObserveError::NonFinite {
                    input: graph.node(v).name.clone().unwrap_or_default(),
                    index,
                    value,
                });
            }
        }
        let trace: BTreeMap<ValueId, Tensor> = run_traced(graph, inputs)?.into_iter().collect();
        for (v, h) in &mut self.observed {
            if let Some(xs) = trace.get(v).and_then(|t| t.data.as_f32()) {
                h.add(xs);
            }
        }
        self.batches += 1;
        Ok(())
    }

    /// Observers for a second pass over the same batches (see
    /// [`Histogram::refit`]): `bins` bins over each tensor's observed range.
    pub fn refit(&self, bins: usize) -> Observers {
        Observers {
            observed: self
                .observed
                .iter()
                .map(|(v, h)| (*v, h.refit(bins)))
                .collect(),
            batches: 0,
        }
    }

    /// The number of batches observed.
    pub fn batches(&self) -> usize {
        self.batches
    }

    /// The histogram of each observed value, in canonical order.
    pub fn histograms(&self) -> &[(ValueId, Histogram)] {
        &self.observed
    }

    /// The range `method` chooses for every observed value, in canonical
    /// order (codes `qmin..=qmax`).
    pub fn ranges(&self, method: Method, qmin: i64, qmax: i64) -> Vec<(ValueId, f32, f32)> {
        self.observed
            .iter()
            .filter(|(_, h)| h.seen)
            .map(|(v, h)| {
                let (lo, hi) = h.range(method, qmin, qmax);
                (*v, lo, hi)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qcc_ir::{Op, TensorType};

    fn f32ty(shape: &[usize]) -> TensorType {
        TensorType::f32(shape.to_vec())
    }

    #[test]
    fn observes_inputs_and_results_across_batches() {
        // y = relu(x): two batches, the ranges merge.
        let mut g = Graph::new("g");
        let x = g.add_input("x", f32ty(&[2]));
        let y = g.add_node(Op::Relu, &[x], f32ty(&[2]));
        g.add_output("y", y);
        let mut obs = Observers::new(&g, 64);
        obs.observe(&g, &[Tensor::f32(vec![2], vec![-1.0, 0.5])])
            .unwrap();
        obs.observe(&g, &[Tensor::f32(vec![2], vec![-0.25, 3.0])])
            .unwrap();
        assert_eq!(obs.batches(), 2);
        let r = obs.ranges(Method::MinMax, 0, 255);
        assert_eq!(r, vec![(x, -1.0, 3.0), (y, 0.0, 3.0)]);
        let err = obs
            .observe(&g, &[Tensor::f32(vec![2], vec![1.0, f32::NAN])])
            .unwrap_err();
        assert!(
            matches!(err, ObserveError::NonFinite { index: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("`x`"), "{err}");
    }
}
