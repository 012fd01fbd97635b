//! # qcc-codegen: Cranelift JIT for qcc graphs
//!
//! [`compile`] turns a verified [`Graph`] into an [`Executable`]: one
//! Cranelift function per op, `extern "C" fn(arena: *mut u8)`, in which every
//! shape, stride, zero point, multiplier, shift and clamp bound is a
//! constant; constants (weights, packed weight panels, per-channel tables)
//! are read-only data of the JIT module; every other tensor lives in one
//! scratch arena whose offsets are planned at compile time from value
//! lifetimes (`plan`).
//!
//! The results equal the reference interpreter's (`qcc_ir::interp`) bit for
//! bit: integer arithmetic is exact and every rounding mirrors
//! `qcc_ir::quant` (multipliers and shifts are derived through it at compile
//! time); float ops are one IEEE operation each, in the interpreter's order.
//!
//! The int8 dot products go through the [`shim`]: AVX512-VNNI or AVX-VNNI
//! micro-kernels called from the generated loop nest, Cranelift's own
//! 128-bit dot-product tree, or portable scalar loops ([`DotPath`]).
//!
//! On the AVX512-VNNI path a `requantize` (float or single-rounding mode)
//! that is the only user of a `matmul_int` / `conv2d_int` accumulator is
//! fused into the GEMM's tile store (`shim::FusedParams`): the micro-kernel
//! applies the corrections, the bias, the rescale, the output zero point and
//! the clamp (with a following `clamp_int` folded in) to its registers and
//! stores bytes, so the i32 accumulator never goes to memory
//! ([`Executable::fused_requantizes`] lists what was fused). Where fusion
//! does not apply, the activation packing, the GEMM epilogue and the float
//! requantize still run vectorized helpers on AVX-512 hosts.
//!
//! Architecture invariant: this is the only crate of qcc with `unsafe`; it
//! is confined to `jit` (calling generated code, freeing it) and
//! `shim::x86` (the intrinsics kernels), each block with a `SAFETY` comment.
//! Kernels know nothing of graphs.
//!
//! ```
//! use qcc_ir::{Tensor, text::parse};
//! let g = parse("graph @g(%x: tensor<2xf32>) -> (%y: tensor<2xf32>) {\n\
//!                %r = relu %x : tensor<2xf32>\n  return %r\n}\n", None).unwrap();
//! let exe = qcc_codegen::compile(&g, &qcc_codegen::CodegenOptions::default()).unwrap();
//! let out = exe.run(&[Tensor::f32(vec![2], vec![-1.0, 2.0])]).unwrap();
//! assert_eq!(out[0], Tensor::f32(vec![2], vec![0.0, 2.0]));
//! ```

pub mod aot;
mod compile;
mod jit;
mod lower;
mod plan;
pub mod shim;

pub use compile::compile;
pub use lower::gemm::amx_gemm_pays;
pub use shim::{DotPath, HostFeatures, best_path, host_features, supported_paths};

use cranelift_codegen::ir::{AbiParam, InstBuilder, UserFuncName};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_module::{DataId, FuncId, Linkage, Module};
use jit::{Arena, JitCode};
use lower::Fx;
use lower::ops::{self, Prep};
use plan::{Buf, Ek, Loc, Request};
use qcc_ir::op::Op;
use qcc_ir::tensor::{Packed4, TensorData};
use qcc_ir::types::ScalarType;
use qcc_ir::{Graph, Tensor, ValueId};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

/// Code generation options.
#[derive(Clone, Debug)]
pub struct CodegenOptions {
    /// Run Cranelift's optimizer (`opt_level = speed`); off gives `none`.
    pub optimize: bool,
    /// Force a dot-product path; `None` takes [`best_path`]. Forcing a path
    /// the host cannot run is an error.
    pub dot_path: Option<DotPath>,
    /// Keep the CLIF text and the disassembly of every op ([`Executable::op_code`]).
    pub keep_text: bool,
    /// Threads one run may use: large GEMMs split their tiles into units
    /// that run on the calling thread and a pool of `threads − 1` (1: no
    /// pool, no split).
    pub threads: usize,
}

impl Default for CodegenOptions {
    fn default() -> Self {
        CodegenOptions {
            optimize: true,
            dot_path: None,
            keep_text: false,
            threads: 1,
        }
    }
}

/// A compile-time failure.
#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    /// The graph does not verify (the messages of the verifier).
    #[error("the graph does not verify: {0}")]
    Invalid(String),
    /// An op the code generator cannot lower (names the node and the op).
    #[error("{node}: cannot compile `{op}`: {reason}")]
    Unsupported {
        node: String,
        op: &'static str,
        reason: String,
    },
    #[error("the dot-product path `{0}` cannot run on this host")]
    PathUnsupported(DotPath),
    /// An ahead-of-time target, CPU feature or symbol name that is not valid.
    #[error("{0}")]
    Target(String),
    /// Cranelift failed (a bug in the lowering).
    #[error("code generation failed: {0}")]
    Backend(String),
}

/// A run-time failure: inputs or outputs that do not fit the graph.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The inputs do not fit the graph's signature: the interpreter's
    /// check and message ([`qcc_ir::signature::check_inputs`]).
    #[error(transparent)]
    Input(#[from] qcc_ir::signature::InputError),
    #[error("the graph has {expected} outputs but {found} tensors were given to write them")]
    OutputCount { expected: usize, found: usize },
}

/// The CLIF text and disassembly of one op's function.
#[derive(Clone, Debug)]
pub struct OpCode {
    /// The node, as `Graph::describe` names it.
    pub node: String,
    pub op: &'static str,
    /// Cranelift IR before optimization.
    pub clif: String,
    /// Cranelift's disassembly of the final machine code (VCode listing).
    pub asm: String,
    /// The machine code bytes.
    pub code: Vec<u8>,
}

#[derive(Clone, Debug)]
struct InputSlot {
    /// The input's name and type, for the run-time check.
    sig: qcc_ir::signature::InputSig,
    /// Where the runner copies the input (storage types whose arena layout
    /// differs from the tensor's); `None`: the code reads the tensor's own
    /// memory through the I/O table.
    offset: Option<usize>,
}

#[derive(Clone, Debug)]
enum OutSrc {
    /// The code writes the output tensor's memory (I/O table).
    Io,
    Arena(usize),
    Data(usize),
    /// The graph returns input `i` itself.
    Input(usize),
    /// The same value as the earlier output `j`.
    Output(usize),
}

#[derive(Clone, Debug)]
struct OutputSlot {
    src: OutSrc,
    storage: ScalarType,
    shape: Vec<usize>,
    len: usize,
}

/// A compiled graph: machine code, its memory plan and a pool of arenas.
/// `Send + Sync`: several threads may run it at once (each run takes its own
/// arena). Dropping it frees the code.
#[derive(Debug)]
pub struct Executable {
    code: JitCode,
    steps: Vec<(String, &'static str)>,
    /// The calls of a run.
    exec: Vec<jit::Step>,
    /// The index in `steps` of the op of each call.
    exec_op: Vec<usize>,
    /// Bytes the code reads or writes through each I/O table entry.
    io_sizes: Vec<usize>,
    threads: usize,
    thread_pool: std::sync::OnceLock<Option<rayon::ThreadPool>>,
    inputs: Vec<InputSlot>,
    outputs: Vec<OutputSlot>,
    arena_size: usize,
    pool: Mutex<Vec<Arena>>,
    text: Vec<OpCode>,
    path: DotPath,
    fused: Vec<String>,
    fused_groups: Vec<(ValueId, Vec<ValueId>)>,
    prepacked: Vec<String>,
}

fn ek_bytes(data: &TensorData) -> Vec<u8> {
    match data {
        TensorData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::I16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::U16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::I8(v) => v.iter().map(|&x| x as u8).collect(),
        TensorData::U8(v) => v.clone(),
        TensorData::I4(_) | TensorData::U4(_) => data
            .to_i64s()
            .unwrap_or_default()
            .into_iter()
            .map(|x| x as u8)
            .collect(),
    }
}

impl Executable {
    /// The dot-product path the code was generated for.
    pub fn dot_path(&self) -> DotPath {
        self.path
    }

    /// The requantizes (and `clamp_int`s after them) fused into the GEMM
    /// before them (their nodes, as `Graph::describe` names them): their
    /// steps do nothing, the GEMM writes their results.
    pub fn fused_requantizes(&self) -> &[String] {
        &self.fused
    }

    /// The same fusions as values of the compiled graph: each GEMM (or
    /// depthwise conv) and the ops folded into its epilogue, in order.
    pub fn fused_groups(&self) -> &[(ValueId, Vec<ValueId>)] {
        &self.fused_groups
    }

    /// The GEMM-lowered ops whose weights were constants already packed
    /// the way their kernel reads them (`pick-layout`): their bytes went
    /// into the code as they are, without repacking.
    pub fn prepacked_weights(&self) -> &[String] {
        &self.prepacked
    }

    /// Bytes of scratch memory one run uses.
    pub fn arena_size(&self) -> usize {
        self.arena_size
    }

    /// The ops, in execution order: `(node, op name)`.
    pub fn steps(&self) -> &[(String, &'static str)] {
        &self.steps
    }

    /// CLIF and disassembly per op (empty unless compiled with `keep_text`).
    pub fn op_code(&self) -> &[OpCode] {
        &self.text
    }

    /// Zeroed tensors of the outputs' storage types and shapes, for
    /// [`Executable::run_into`].
    pub fn new_outputs(&self) -> Vec<Tensor> {
        self.outputs
            .iter()
            .map(|o| Tensor::new(o.shape.clone(), TensorData::zeros(o.storage, o.len)))
            .collect()
    }

    /// Checks the inputs against the signature (count, storage type, shape,
    /// data length, storage range).
    pub fn check_inputs(&self, inputs: &[Tensor]) -> Result<(), RunError> {
        if inputs.len() != self.inputs.len() {
            return Err(qcc_ir::signature::InputError::Count {
                expected: self.inputs.len(),
                found: inputs.len(),
            }
            .into());
        }
        for (slot, t) in self.inputs.iter().zip(inputs) {
            qcc_ir::signature::check_input(&slot.sig, t)?;
        }
        Ok(())
    }

    /// Runs the code on `inputs` (in the graph's input order) and returns
    /// the outputs.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, RunError> {
        let mut out = self.new_outputs();
        self.run_into(inputs, &mut out)?;
        Ok(out)
    }

    /// Runs the code, writing the outputs into `outputs` (one per graph
    /// output). Tensors of the right type and shape (from
    /// [`Executable::new_outputs`] or an earlier run) are overwritten in
    /// place (the code writes them directly), so a steady-state call
    /// allocates no tensor memory; others are replaced.
    pub fn run_into(&self, inputs: &[Tensor], outputs: &mut [Tensor]) -> Result<(), RunError> {
        self.run_with(inputs, outputs, None)
    }

    /// Runs once, timing every op: `(node, op, time)` in execution order
    /// (a fused requantize shows zero: the GEMM before it did its work).
    pub fn run_profiled(
        &self,
        inputs: &[Tensor],
        outputs: &mut [Tensor],
    ) -> Result<Vec<(String, &'static str, Duration)>, RunError> {
        let mut times = Vec::with_capacity(self.exec.len());
        self.run_with(inputs, outputs, Some(&mut times))?;
        let mut per_op = vec![Duration::ZERO; self.steps.len()];
        for (&op, t) in self.exec_op.iter().zip(times) {
            per_op[op] += t;
        }
        Ok(self
            .steps
            .iter()
            .zip(per_op)
            .map(|((n, o), t)| (n.clone(), *o, t))
            .collect())
    }

    /// The threads a run uses (see [`CodegenOptions::threads`]).
    pub fn threads(&self) -> usize {
        self.threads
    }

    fn pool(&self) -> Option<&rayon::ThreadPool> {
        self.thread_pool
            .get_or_init(|| {
                let parallel = self.exec.iter().any(|s| s.tasks > 1);
                (self.threads > 1 && parallel)
                    .then(|| {
                        // The calling thread runs a share itself: the
                        // pool holds the other `threads − 1`.
                        rayon::ThreadPoolBuilder::new()
                            .num_threads(self.threads - 1)
                            .thread_name(|i| format!("qcc-worker-{i}"))
                            .build()
                            .ok()
                    })
                    .flatten()
            })
            .as_ref()
    }

    fn run_with(
        &self,
        inputs: &[Tensor],
        outputs: &mut [Tensor],
        times: Option<&mut Vec<Duration>>,
    ) -> Result<(), RunError> {
        self.check_inputs(inputs)?;
        if outputs.len() != self.outputs.len() {
            return Err(RunError::OutputCount {
                expected: self.outputs.len(),
                found: outputs.len(),
            });
        }
        for (slot, t) in self.outputs.iter().zip(outputs.iter_mut()) {
            if t.shape != slot.shape
                || t.data.scalar_type() != slot.storage
                || t.data.len() != slot.len
            {
                *t = Tensor::new(
                    slot.shape.clone(),
                    TensorData::zeros(slot.storage, slot.len),
                );
            }
        }
        let mut arena = self
            .pool
            .lock()
            .map(|mut p| p.pop())
            .unwrap_or(None)
            .unwrap_or_else(|| Arena::new(self.arena_size));
        {
            let bytes = arena.bytes();
            for (slot, t) in self.inputs.iter().zip(inputs) {
                if let Some(off) = slot.offset {
                    write_input(&mut bytes[off..], &t.data);
                }
            }
        }
        {
            let mut io = jit::Io {
                inputs: inputs
                    .iter()
                    .zip(&self.inputs)
                    .map(|(t, s)| match s.offset {
                        None => jit::data_bytes(&t.data),
                        Some(_) => &[][..],
                    })
                    .collect(),
                outputs: Vec::with_capacity(outputs.len()),
            };
            for (slot, t) in self.outputs.iter().zip(outputs.iter_mut()) {
                io.outputs.push(match slot.src {
                    OutSrc::Io => jit::data_bytes_mut(&mut t.data),
                    _ => &mut [][..],
                });
            }
            self.code.run(
                &self.exec,
                &mut arena,
                &mut io,
                &self.io_sizes,
                self.pool(),
                times,
            );
        }
        for j in 0..self.outputs.len() {
            let slot = &self.outputs[j];
            match slot.src {
                OutSrc::Io => {}
                OutSrc::Arena(off) => read_output(&arena.bytes()[off..], &mut outputs[j].data),
                OutSrc::Data(i) => read_output(self.code.data(i), &mut outputs[j].data),
                OutSrc::Input(i) => outputs[j].data.clone_from(&inputs[i].data),
                OutSrc::Output(k) => {
                    let (a, b) = outputs.split_at_mut(j);
                    b[0].data.clone_from(&a[k].data);
                }
            }
        }
        if let Ok(mut p) = self.pool.lock() {
            p.push(arena);
        }
        Ok(())
    }
}

fn write_input(dst: &mut [u8], data: &TensorData) {
    match data {
        TensorData::F32(v) => {
            for (d, x) in dst.chunks_exact_mut(4).zip(v) {
                d.copy_from_slice(&x.to_le_bytes());
            }
        }
        TensorData::I32(v) => {
            for (d, x) in dst.chunks_exact_mut(4).zip(v) {
                d.copy_from_slice(&x.to_le_bytes());
            }
        }
        TensorData::I16(v) => {
            for (d, x) in dst.chunks_exact_mut(2).zip(v) {
                d.copy_from_slice(&x.to_le_bytes());
            }
        }
        TensorData::U16(v) => {
            for (d, x) in dst.chunks_exact_mut(2).zip(v) {
                d.copy_from_slice(&x.to_le_bytes());
            }
        }
        TensorData::I8(v) => {
            for (d, &x) in dst.iter_mut().zip(v) {
                *d = x as u8;
            }
        }
        TensorData::U8(v) => dst[..v.len()].copy_from_slice(v),
        TensorData::I4(p) => {
            for (i, d) in dst[..p.len].iter_mut().enumerate() {
                let nib = (p.bytes[i / 2] >> (4 * (i % 2))) & 0xf;
                *d = (((nib << 4) as i8) >> 4) as u8;
            }
        }
        TensorData::U4(p) => {
            for (i, d) in dst[..p.len].iter_mut().enumerate() {
                *d = (p.bytes[i / 2] >> (4 * (i % 2))) & 0xf;
            }
        }
    }
}

fn read_output(src: &[u8], data: &mut TensorData) {
    match data {
        TensorData::F32(v) => {
            for (x, s) in v.iter_mut().zip(src.chunks_exact(4)) {
                *x = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
            }
        }
        TensorData::I32(v) => {
            for (x, s) in v.iter_mut().zip(src.chunks_exact(4)) {
                *x = i32::from_le_bytes([s[0], s[1], s[2], s[3]]);
            }
        }
        TensorData::I16(v) => {
            for (x, s) in v.iter_mut().zip(src.chunks_exact(2)) {
                *x = i16::from_le_bytes([s[0], s[1]]);
            }
        }
        TensorData::U16(v) => {
            for (x, s) in v.iter_mut().zip(src.chunks_exact(2)) {
                *x = u16::from_le_bytes([s[0], s[1]]);
            }
        }
        TensorData::I8(v) => {
            for (x, &s) in v.iter_mut().zip(src) {
                *x = s as i8;
            }
        }
        TensorData::U8(v) => {
            let n = v.len();
            v.copy_from_slice(&src[..n]);
        }
        TensorData::I4(p) | TensorData::U4(p) => {
            let Packed4 { bytes, len } = p;
            bytes.iter_mut().for_each(|b| *b = 0);
            for (i, &s) in src[..*len].iter().enumerate() {
                bytes[i / 2] |= (s & 0xf) << (4 * (i % 2));
            }
        }
    }
}
