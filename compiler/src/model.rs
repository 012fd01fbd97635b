//! Compiled models: the JIT backend behind a small embedding API.
//!
//! A [`Compiler`] holds the options (optimization level, target features,
//! threads); [`Compiler::compile`] runs the pass pipeline on a verified
//! graph and generates machine code for it. The [`CompiledModel`] it returns
//! is `Send + Sync` and may be run from several threads at once; it checks
//! its inputs (count, storage type, shape, data length, storage range)
//! before any generated code runs, and frees its code when dropped.
//!
//! ```
//! use qcc_compiler::{load_str, model::Compiler};
//! use qcc_ir::Tensor;
//!
//! let text = "graph @g(%x: tensor<2xf32>) -> (%y: tensor<2xf32>) {\n\
//!             %r = relu %x : tensor<2xf32>\n  return %r\n}\n";
//! let graph = load_str(text, "g.txt", None).expect("a valid graph");
//! let model = Compiler::new().compile(&graph).expect("compiles");
//! let x = Tensor::f32(vec![2], vec![-1.0, 2.0]);
//! let y = model.run(&[x.clone()]).unwrap();
//! assert_eq!(y[0], Tensor::f32(vec![2], vec![0.0, 2.0]));
//!
//! // Allocation-free in steady state: reuse the output tensors.
//! let mut out = model.new_outputs();
//! model.run_into(&[x], &mut out).unwrap();
//! assert_eq!(out, y);
//!
//! // Wrong inputs are errors, not crashes.
//! let err = model.run(&[Tensor::f32(vec![3], vec![0.0; 3])]).unwrap_err();
//! assert!(err.to_string().contains("shape"));
//! ```

use qcc_ir::{Graph, Tensor};
use std::time::{Duration, Instant};

/// The machine's measured peak per dot path (`qcc peak`).
pub use qcc_codegen::shim::peak;
pub use qcc_codegen::{
    CodegenError, DotPath, HostFeatures, OpCode, RunError, best_path, host_features,
    supported_paths,
};

/// How hard the code generator optimizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OptLevel {
    /// No Cranelift optimization (fastest compile).
    None,
    /// Cranelift's `speed` level.
    #[default]
    Speed,
}

/// Which CPU features code generation may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TargetFeatures {
    /// Detect the host's features once and use the best path.
    #[default]
    Host,
    /// Force one dot-product path (an error if the host cannot run it).
    Force(DotPath),
}

/// A failure to compile a graph.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The pass pipeline failed (an unknown pass, or a bug in a pass).
    #[error(transparent)]
    Pipeline(#[from] crate::CompileError),
    #[error(transparent)]
    Codegen(#[from] CodegenError),
}

/// Compiles graphs to [`CompiledModel`]s.
#[derive(Clone, Debug)]
pub struct Compiler {
    opt_level: OptLevel,
    features: TargetFeatures,
    threads: usize,
    run_passes: bool,
    pipeline: crate::CompileOptions,
    keep_text: bool,
}

impl Default for Compiler {
    fn default() -> Self {
        Compiler::new()
    }
}

impl Compiler {
    /// Default options: `Speed`, the host's features, 1 thread, the default
    /// pass pipeline.
    pub fn new() -> Compiler {
        Compiler {
            opt_level: OptLevel::Speed,
            features: TargetFeatures::Host,
            threads: 1,
            run_passes: true,
            pipeline: crate::CompileOptions::default(),
            keep_text: false,
        }
    }

    pub fn opt_level(mut self, level: OptLevel) -> Compiler {
        self.opt_level = level;
        self
    }

    pub fn target_features(mut self, features: TargetFeatures) -> Compiler {
        self.features = features;
        self
    }

    /// The number of threads one run may use (at least 1; default 1).
    /// With more than one, large GEMMs split their tiles between the calling
    /// thread and a pool of the other `threads − 1`, owned by the compiled
    /// model. Separate runs may go in parallel either way.
    pub fn threads(mut self, threads: usize) -> Compiler {
        self.threads = threads.max(1);
        self
    }

    /// Whether to run the default pass pipeline first (default: yes).
    /// Switch it off to compile a graph exactly as given, e.g. to compare
    /// with the interpreter on the same graph.
    pub fn run_passes(mut self, yes: bool) -> Compiler {
        self.run_passes = yes;
        self
    }

    /// The pass pipeline's options (pass list, requantize mode).
    pub fn pipeline(mut self, options: crate::CompileOptions) -> Compiler {
        self.pipeline = options;
        self
    }

    /// Keep the CLIF and disassembly of every op ([`CompiledModel::op_code`]),
    /// for `qcc compile --emit clif|asm`.
    pub fn keep_text(mut self, yes: bool) -> Compiler {
        self.keep_text = yes;
        self
    }

    /// Runs the pipeline (if enabled) and generates code.
    pub fn compile(&self, graph: &Graph) -> Result<CompiledModel, CompileError> {
        let t0 = Instant::now();
        let g = if self.run_passes {
            // Weights are packed for the path the code will use.
            let mut pipeline = self.pipeline.clone();
            if let (None, TargetFeatures::Force(p)) = (pipeline.target, self.features) {
                pipeline.target = Some(crate::layout_target(p));
            }
            crate::compile(graph.clone(), &pipeline)?
        } else {
            graph.clone()
        };
        let options = qcc_codegen::CodegenOptions {
            optimize: self.opt_level == OptLevel::Speed,
            dot_path: match self.features {
                TargetFeatures::Host => None,
                TargetFeatures::Force(p) => Some(p),
            },
            keep_text: self.keep_text,
            threads: self.threads,
        };
        let exe = qcc_codegen::compile(&g, &options)?;
        Ok(CompiledModel {
            exe,
            threads: self.threads,
            compile_time: t0.elapsed(),
        })
    }
}

/// Machine code for one graph. `Send + Sync`; frees its code when dropped.
#[derive(Debug)]
pub struct CompiledModel {
    exe: qcc_codegen::Executable,
    threads: usize,
    compile_time: Duration,
}

impl CompiledModel {
    /// Runs the model on `inputs` (in the graph's input order).
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, RunError> {
        self.exe.run(inputs)
    }

    /// Runs the model into `outputs` (see [`CompiledModel::new_outputs`]);
    /// with outputs of the right types and shapes nothing is allocated.
    pub fn run_into(&self, inputs: &[Tensor], outputs: &mut [Tensor]) -> Result<(), RunError> {
        self.exe.run_into(inputs, outputs)
    }

    /// Zeroed output tensors of the right storage types and shapes.
    pub fn new_outputs(&self) -> Vec<Tensor> {
        self.exe.new_outputs()
    }

    /// Checks inputs without running.
    pub fn check_inputs(&self, inputs: &[Tensor]) -> Result<(), RunError> {
        self.exe.check_inputs(inputs)
    }

    /// The dot-product path the code uses.
    pub fn dot_path(&self) -> DotPath {
        self.exe.dot_path()
    }

    /// The thread count the model was compiled for.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Time spent in the pipeline and code generation.
    pub fn compile_time(&self) -> Duration {
        self.compile_time
    }

    /// The GEMMs whose weights the code generator took as they were packed
    /// (`pick-layout`), without repacking them.
    pub fn prepacked_weights(&self) -> &[String] {
        self.exe.prepacked_weights()
    }

    /// The requantizes the code generator fused into the GEMM before them
    /// (AVX512-VNNI path only).
    pub fn fused_requantizes(&self) -> &[String] {
        self.exe.fused_requantizes()
    }

    /// The same fusions as values of the compiled graph (the one given to
    /// [`Compiler::compile`] with `run_passes(false)`): each GEMM and the
    /// ops folded into its epilogue (`qcc_ir::dot::DotOptions::fused`).
    pub fn fused_groups(&self) -> &[(qcc_ir::ValueId, Vec<qcc_ir::ValueId>)] {
        self.exe.fused_groups()
    }

    /// Scratch bytes per run.
    pub fn arena_size(&self) -> usize {
        self.exe.arena_size()
    }

    /// CLIF text and disassembly per op (needs [`Compiler::keep_text`]).
    pub fn op_code(&self) -> &[OpCode] {
        self.exe.op_code()
    }

    /// One run with per-op timings: `(node, op, time)`.
    pub fn run_profiled(
        &self,
        inputs: &[Tensor],
    ) -> Result<Vec<(String, &'static str, Duration)>, RunError> {
        let mut out = self.new_outputs();
        self.exe.run_profiled(inputs, &mut out)
    }

    /// Times `runs` runs after `warmup` runs (each with `run_into`).
    pub fn bench(
        &self,
        inputs: &[Tensor],
        warmup: usize,
        runs: usize,
    ) -> Result<BenchStats, RunError> {
        let mut out = self.new_outputs();
        for _ in 0..warmup {
            self.run_into(inputs, &mut out)?;
        }
        let mut times = Vec::with_capacity(runs.max(1));
        for _ in 0..runs.max(1) {
            let t0 = Instant::now();
            self.run_into(inputs, &mut out)?;
            times.push(t0.elapsed());
        }
        Ok(BenchStats::from_times(times))
    }
}

/// Latency statistics of repeated runs.
#[derive(Clone, Debug)]
pub struct BenchStats {
    pub median: Duration,
    pub min: Duration,
    pub max: Duration,
    /// The sorted run times.
    pub times: Vec<Duration>,
}

impl BenchStats {
    pub fn from_times(mut times: Vec<Duration>) -> BenchStats {
        times.sort();
        BenchStats {
            median: times[times.len() / 2],
            min: times[0],
            max: times[times.len() - 1],
            times,
        }
    }
}

/// Multiply-accumulates of the graph's `matmul`, `dense`, `conv2d`,
/// `matmul_int` and `conv2d_int` ops (GOPS = 2 · MACs / seconds).
pub fn count_macs(graph: &Graph) -> u64 {
    use qcc_ir::op::Op;
    let mut total = 0u64;
    for v in graph.node_ids() {
        let node = graph.node(v);
        let args = graph.args(v);
        let out: u64 = node.ty.shape.iter().product::<usize>() as u64;
        let per = match &node.op {
            Op::MatMul | Op::MatMulInt(_) => {
                let s = &graph.ty(args[0]).shape;
                s[s.len() - 1] as u64
            }
            Op::Dense => graph.ty(args[0]).shape[1] as u64,
            Op::Conv2d(_) | Op::Conv2dInt(..) => {
                let w = &graph.ty(args[1]).shape;
                (w[1] * w[2] * w[3]) as u64
            }
            _ => 0,
        };
        total += out * per;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn compiled_models_are_send_and_sync() {
        assert_send_sync::<CompiledModel>();
    }
}
