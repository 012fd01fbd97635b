//! Observers: one [`Histogram`] per float activation of a graph, fed by
//! running the float graph one batch at a time, on the reference
//! interpreter ([`qcc_ir::interp::run_traced`]) or, with
//! [`Observers::on_jit`], on the JIT.
//!
//! Observed are the graph's f32 inputs and every f32 op result (never a
//! constant): the tensors that get a QuantizeLinear. The histograms merge
//! across batches, so memory is bounded by the number of tensors. Order
//! is [`Graph::canonical_order`], never a hash map's.
//!
//! On the JIT, the float graph is compiled once as it is (no passes) with
//! every observed op result that the outputs depend on as an extra output
//! (`traced_graph`); the inputs are observed from the batch itself. The
//! JIT computes what the interpreter computes bit for bit, and it sees the
//! same tensors (the interpreter computes only the values the outputs
//! depend on), so the histograms, and every scale chosen from them, are
//! the interpreter's: `tests::the_jit_observes_what_the_interpreter_does`
//! and `qcc quantize --calib-engine` tests check it.

use super::calib::{Histogram, Method};
use crate::model::{CompiledModel, Compiler};
use qcc_ir::interp::{InterpError, run_traced};
use qcc_ir::{Graph, Tensor, ValueId};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

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
    #[error("the float graph cannot be run: {0}")]
    Jit(#[from] crate::model::RunError),
}

/// Where an observed value comes from in a JIT run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// Graph input `i`: the batch's own tensor.
    Input(usize),
    /// Output `i` of the traced graph.
    Output(usize),
    /// Not computed: no output depends on it (nor does the interpreter
    /// compute it).
    Dead,
}

/// The float graph compiled with its observed values as outputs.
#[derive(Debug)]
struct Traced {
    model: CompiledModel,
    /// Per observed value, in the order of `Observers::observed`.
    sources: Vec<Source>,
}

/// The histograms of one graph's float activations.
#[derive(Clone, Debug)]
pub struct Observers {
    /// In canonical order: the value and its histogram.
    observed: Vec<(ValueId, Histogram)>,
    batches: usize,
    /// Run on the JIT ([`Observers::on_jit`]), else on the interpreter.
    jit: Option<Arc<Traced>>,
}

/// `graph` with every value of `observed` that its outputs depend on (and
/// that is neither an input nor an output already) added as an output, and
/// where each observed value is found in a run of it.
fn traced_graph(graph: &Graph, observed: &[ValueId]) -> (Graph, Vec<Source>) {
    let live = qcc_ir::interp::live_nodes(graph);
    let mut traced = graph.clone();
    let mut index: HashMap<ValueId, usize> = HashMap::new();
    for (i, o) in graph.outputs().iter().enumerate() {
        index.entry(o.value).or_insert(i);
    }
    let names: HashSet<&str> = graph.outputs().iter().map(|o| o.name.as_str()).collect();
    let mut sources = Vec::with_capacity(observed.len());
    for (k, &v) in observed.iter().enumerate() {
        let source = if !live.contains(&v) {
            Source::Dead
        } else if let Some(i) = graph.inputs().iter().position(|&x| x == v) {
            Source::Input(i)
        } else {
            Source::Output(*index.entry(v).or_insert_with(|| {
                let mut name = format!("qcc_observed_{k}");
                while names.contains(name.as_str()) {
                    name.push('_');
                }
                traced.add_output(name, v);
                traced.outputs().len() - 1
            }))
        };
        sources.push(source);
    }
    (traced, sources)
}

/// Every value `graph`'s outputs depend on (inputs and op results; not
/// constants), computed on the JIT: the graph compiled once as it is (no
/// passes), with those values as extra outputs. The same tensors as
/// [`run_traced`] gives, bit for bit (the JIT matches the interpreter);
/// `None` when the JIT cannot compile or run the graph (the caller then
/// asks the interpreter, whose error names the problem).
pub fn run_traced_on_jit(graph: &Graph, inputs: &[Tensor]) -> Option<Vec<(ValueId, Tensor)>> {
    let values: Vec<ValueId> = graph
        .canonical_order()
        .into_iter()
        .filter(|&v| !graph.node(v).op.is_const())
        .collect();
    let (traced, sources) = traced_graph(graph, &values);
    let model = Compiler::new().run_passes(false).compile(&traced).ok()?;
    let mut outs: Vec<Option<Tensor>> = model.run(inputs).ok()?.into_iter().map(Some).collect();
    let mut trace = Vec::with_capacity(values.len());
    for (v, source) in values.into_iter().zip(sources) {
        let t = match source {
            Source::Input(i) => inputs.get(i)?.clone(),
            // One output can hold several values only when they are the
            // same value; each appears once in `values`.
            Source::Output(i) => outs.get_mut(i)?.clone()?,
            Source::Dead => continue,
        };
        trace.push((v, t));
    }
    // Free the outputs' copies early (large traces).
    outs.clear();
    Some(trace)
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
            jit: None,
        }
    }

    /// The same observers, fed by the JIT: `graph` (the one given to
    /// [`Observers::new`]) is compiled once, as it is, with the observed
    /// values as extra outputs. The histograms are the interpreter's, bit
    /// for bit; an error if the JIT cannot compile the graph (the
    /// interpreter may still run it).
    pub fn on_jit(mut self, graph: &Graph) -> Result<Observers, crate::model::CompileError> {
        let observed: Vec<ValueId> = self.observed.iter().map(|(v, _)| *v).collect();
        let (traced, sources) = traced_graph(graph, &observed);
        let model = Compiler::new().run_passes(false).compile(&traced)?;
        self.jit = Some(Arc::new(Traced { model, sources }));
        Ok(self)
    }

    /// Whether the observers run on the JIT.
    pub fn runs_on_jit(&self) -> bool {
        self.jit.is_some()
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
        if let Some(jit) = &self.jit {
            let outs = jit.model.run(inputs)?;
            for ((_, h), source) in self.observed.iter_mut().zip(&jit.sources) {
                let t = match *source {
                    Source::Input(i) => &inputs[i],
                    Source::Output(i) => &outs[i],
                    Source::Dead => continue,
                };
                if let Some(xs) = t.data.as_f32() {
                    h.add(xs);
                }
            }
            self.batches += 1;
            return Ok(());
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
            jit: self.jit.clone(),
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

    /// Deterministic calibration batches for `graph`'s f32 inputs.
    fn batches(graph: &Graph, n: usize) -> Vec<Vec<Tensor>> {
        (0..n)
            .map(|b| {
                graph
                    .inputs()
                    .iter()
                    .map(|&v| {
                        let shape = graph.ty(v).shape.clone();
                        let len: usize = shape.iter().product();
                        let xs = (0..len)
                            .map(|i| ((i * 7 + b * 131) as f32 * 0.37).sin() * (1.0 + b as f32))
                            .collect();
                        Tensor::f32(shape, xs)
                    })
                    .collect()
            })
            .collect()
    }

    /// The interpreter and the JIT fill the same histograms (two passes,
    /// as `qcc quantize` calibrates for entropy, percentile and mse), so
    /// every quantized graph written from them is the same text.
    fn same_on_both(graph: &Graph, what: &str) {
        let data = batches(graph, 5);
        let mut interp = Observers::new(graph, 2048);
        let mut jit = Observers::new(graph, 2048).on_jit(graph).unwrap();
        assert!(jit.runs_on_jit() && !interp.runs_on_jit());
        for pass in 0..2 {
            if pass == 1 {
                interp = interp.refit(2048);
                jit = jit.refit(2048);
                assert!(jit.runs_on_jit());
            }
            for b in &data {
                interp.observe(graph, b).unwrap();
                jit.observe(graph, b).unwrap();
            }
            assert_eq!(interp.histograms(), jit.histograms(), "{what}: pass {pass}");
        }
        assert!(interp.histograms().iter().any(|(_, h)| h.seen), "{what}");
        for method in [Method::MinMax, Method::Entropy, Method::Mse] {
            let opts = crate::quantize::rewrite::QuantOptions {
                method,
                ..Default::default()
            };
            let a = crate::quantize::rewrite::insert_qdq(graph, &interp, &opts);
            let b = crate::quantize::rewrite::insert_qdq(graph, &jit, &opts);
            assert_eq!(
                qcc_ir::text::print(&a),
                qcc_ir::text::print(&b),
                "{what}: {method:?}"
            );
        }
    }

    #[test]
    fn the_jit_observes_what_the_interpreter_does() {
        // The float ONNX test models (conv, pools, gemm, residual adds).
        let models =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../onnx/testdata/models");
        for name in ["mlp.onnx", "cnn.onnx", "res.onnx"] {
            let mut import = crate::ImportOptions::default();
            import.dims.insert("N".into(), 2);
            let g = crate::load_onnx(&models.join(name), &crate::LoadOptions::default(), &import)
                .unwrap();
            same_on_both(&g, name);
        }
        // A dead op result (no output depends on it: neither engine
        // computes it), an output that is also an op's operand, and an
        // output that is the input itself.
        let mut g = Graph::new("g");
        let x = g.add_input("x", f32ty(&[3]));
        let r = g.add_node(Op::Relu, &[x], f32ty(&[3]));
        let dead = g.add_node(Op::Neg, &[x], f32ty(&[3]));
        let s = g.add_node(Op::Add, &[r, x], f32ty(&[3]));
        g.add_output("r", r);
        g.add_output("s", s);
        g.add_output("x_again", x);
        qcc_ir::verify::verify(&g).unwrap();
        same_on_both(&g, "hand-made");
        let jit = Observers::new(&g, 64).on_jit(&g).unwrap();
        let (_, sources) = traced_graph(&g, &[x, r, dead, s]);
        assert_eq!(
            sources,
            [
                Source::Input(0),
                Source::Output(0),
                Source::Dead,
                Source::Output(1)
            ]
        );
        assert!(jit.runs_on_jit());
    }

    #[test]
    fn the_jit_traces_every_tensor_as_the_interpreter_does() {
        // Float and quantized (QDQ, kept unfused) models: every tensor the
        // outputs depend on, bit for bit.
        let models =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../onnx/testdata/models");
        for name in ["cnn.onnx", "cnn.qdq_u8.onnx", "res.qdq_i8_pc.onnx"] {
            let path = models.join(name);
            let mut import = crate::ImportOptions::default();
            import.dims.insert("N".into(), 2);
            import.fuse_qdq = false;
            let g = crate::load_onnx(&path, &crate::LoadOptions::default(), &import).unwrap();
            let x = &batches(&g, 1)[0];
            let jit = run_traced_on_jit(&g, x).expect("the JIT compiles it");
            let interp: BTreeMap<ValueId, Tensor> =
                run_traced(&g, x).unwrap().into_iter().collect();
            assert!(jit.len() > 3, "{name}");
            for (v, t) in &jit {
                assert_eq!(Some(t), interp.get(v), "{name}: {}", g.describe(*v));
            }
        }
    }
}
