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

mod jit;
mod lower;
mod plan;
pub mod shim;

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

/// Compiles a graph (verified first) to machine code.
pub fn compile(graph: &Graph, options: &CodegenOptions) -> Result<Executable, CodegenError> {
    qcc_ir::verify::verify(graph).map_err(|d| {
        CodegenError::Invalid(
            d.iter()
                .map(|d| d.message.clone())
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    let path = options.dot_path.unwrap_or_else(best_path);
    if !path.is_supported() {
        return Err(CodegenError::PathUnsupported(path));
    }

    // Live values, in canonical order; every input is kept (the runner
    // writes it).
    let mut live = HashSet::new();
    let mut stack: Vec<ValueId> = graph.outputs().iter().map(|o| o.value).collect();
    while let Some(v) = stack.pop() {
        if live.insert(v) {
            stack.extend(graph.args(v));
        }
    }
    live.extend(graph.inputs().iter().copied());
    let order: Vec<ValueId> = graph
        .canonical_order()
        .into_iter()
        .filter(|v| live.contains(v))
        .collect();
    let is_op = |v: ValueId| !matches!(graph.node(v).op, Op::Input(_) | Op::Const(_));
    let mut step = HashMap::new();
    let mut ops_order = Vec::new();
    for &v in &order {
        if is_op(v) {
            ops_order.push(v);
            step.insert(v, ops_order.len());
        } else {
            step.insert(v, 0);
        }
    }
    const FOREVER: usize = usize::MAX / 2;
    let mut last: HashMap<ValueId, usize> = order.iter().map(|&v| (v, step[&v])).collect();
    for &v in &ops_order {
        for a in graph.args(v) {
            let e = last.entry(a).or_default();
            *e = (*e).max(step[&v]);
        }
    }
    for o in graph.outputs() {
        last.insert(o.value, FOREVER);
    }

    let mut preps: Vec<Prep> = ops_order
        .iter()
        .map(|&v| ops::prepare(graph, v, path))
        .collect();

    // Fusion of a requantize into the GEMM that feeds it (its only user;
    // the accumulator is not an output): the GEMM writes the requantize's
    // result, which then lives from the GEMM's step on, and the i32
    // accumulator takes no memory.
    let outputs: HashSet<ValueId> = graph.outputs().iter().map(|o| o.value).collect();
    let mut fused_acc: HashSet<ValueId> = HashSet::new();
    let mut fused_start: HashMap<ValueId, usize> = HashMap::new();
    let mut fused_names: Vec<String> = Vec::new();
    for i in 0..ops_order.len() {
        let v = ops_order[i];
        if !matches!(preps[i], Prep::Gemm(_) | Prep::Depthwise(_)) {
            continue;
        }
        if outputs.contains(&v) {
            continue;
        }
        let users: Vec<ValueId> = ops_order
            .iter()
            .copied()
            .filter(|&u| graph.args(u).contains(&v))
            .collect();
        let [r] = users[..] else {
            continue;
        };
        if graph.args(r).len() != 1 {
            continue;
        }
        // A `clamp_int` that is the requantize's only user folds in too.
        let clamp = if outputs.contains(&r) {
            None
        } else {
            let cu: Vec<ValueId> = ops_order
                .iter()
                .copied()
                .filter(|&u| graph.args(u).contains(&r))
                .collect();
            match cu[..] {
                [c] => match graph.node(c).op {
                    Op::ClampInt { min, max } if graph.args(c).len() == 1 => Some((c, min, max)),
                    _ => None,
                },
                _ => None,
            }
        };
        let fuse = |prep: &mut Prep, clamp: Option<(i64, i64)>| match prep {
            Prep::Gemm(g) => ops::try_fuse_requant(graph, v, r, clamp, g),
            Prep::Depthwise(d) => ops::try_fuse_depthwise(graph, v, r, clamp, d),
            _ => false,
        };
        let mut last_value = r;
        if let Some((c, min, max)) = clamp
            && fuse(&mut preps[i], Some((min, max)))
        {
            last_value = c;
            fused_acc.insert(r);
        } else if !fuse(&mut preps[i], None) {
            continue;
        }
        match &mut preps[i] {
            Prep::Gemm(g) => g.fused_into = Some(last_value),
            Prep::Depthwise(d) => d.fused_into = Some(last_value),
            _ => {}
        }
        fused_names.push(graph.describe(r));
        if last_value != r {
            fused_names.push(graph.describe(last_value));
        }
        // Then an `add_int` of a per-column constant (a bias the quantizer
        // put after the requantize), and a `clamp_int` after that.
        if matches!(preps[i], Prep::Gemm(_)) && !outputs.contains(&last_value) {
            let only_user = |x: ValueId| -> Option<ValueId> {
                let us: Vec<ValueId> = ops_order
                    .iter()
                    .copied()
                    .filter(|&u| graph.args(u).contains(&x))
                    .collect();
                match us[..] {
                    [u] => Some(u),
                    _ => None,
                }
            };
            if let Some(add) = only_user(last_value)
                && matches!(graph.node(add).op, Op::AddInt { .. })
            {
                let clamp = (!outputs.contains(&add))
                    .then(|| only_user(add))
                    .flatten()
                    .and_then(|c| match graph.node(c).op {
                        Op::ClampInt { min, max } if graph.args(c).len() == 1 => {
                            Some((c, min, max))
                        }
                        _ => None,
                    });
                let Prep::Gemm(g) = &mut preps[i] else {
                    unreachable!("checked above")
                };
                let saved = g.fused.clone();
                let mut end = None;
                if let Some((c, min, max)) = clamp
                    && ops::try_fuse_add(graph, last_value, add, Some((min, max)), g)
                {
                    end = Some(c);
                } else {
                    g.fused = saved;
                    if ops::try_fuse_add(graph, last_value, add, None, g) {
                        end = Some(add);
                    }
                }
                if let Some(end) = end {
                    g.fused_into = Some(end);
                    fused_acc.insert(last_value);
                    fused_names.push(graph.describe(add));
                    preps[step[&add] - 1] = Prep::Fused;
                    if end != add {
                        fused_names.push(graph.describe(end));
                        fused_acc.insert(add);
                        preps[step[&end] - 1] = Prep::Fused;
                    }
                    preps[step[&last_value] - 1] = Prep::Fused;
                    last_value = end;
                }
            }
        }
        fused_acc.insert(v);
        fused_start.insert(last_value, step[&v]);
        preps[step[&r] - 1] = Prep::Fused;
        preps[step[&last_value] - 1] = Prep::Fused;
    }

    for (i, p) in preps.iter_mut().enumerate() {
        if let Prep::Gemm(g) = p {
            #[cfg(target_arch = "x86_64")]
            if let Some(d) = ops::direct_conv(graph, ops_order[i], g, options.threads.max(1)) {
                *p = Prep::DirectConv(Box::new(d));
                continue;
            }
            let _ = i;
            g.plan_units(options.threads.max(1));
        }
    }
    let prepacked: Vec<String> = preps
        .iter()
        .zip(&ops_order)
        .filter(|(p, _)| matches!(p, Prep::Gemm(g) if g.prepacked))
        .map(|(_, &v)| graph.describe(v))
        .collect();

    // Inputs and outputs whose tensors have the arena's layout are read and
    // written in place through the I/O table (no copy in or out).
    let in_place = |v: ValueId| {
        matches!(
            graph.ty(v).elem.storage(),
            ScalarType::F32
                | ScalarType::I32
                | ScalarType::I16
                | ScalarType::U16
                | ScalarType::I8
                | ScalarType::U8
        )
    };
    let n_in = graph.inputs().len();
    let mut io_slot: HashMap<ValueId, usize> = HashMap::new();
    for (i, &v) in graph.inputs().iter().enumerate() {
        if in_place(v) {
            io_slot.insert(v, i);
        }
    }
    for (j, o) in graph.outputs().iter().enumerate() {
        if is_op(o.value) && in_place(o.value) && !io_slot.contains_key(&o.value) {
            io_slot.insert(o.value, n_in + j);
        }
    }

    // Memory plan.
    let elem_bytes = |v: ValueId| {
        let ty = graph.ty(v);
        ty.shape.iter().product::<usize>() * Ek::of(ty.elem.storage()).size()
    };
    let mut requests = Vec::new();
    let mut owner: Vec<(ValueId, Option<usize>)> = Vec::new(); // (value, temp index)
    for &v in &order {
        if matches!(graph.node(v).op, Op::Const(_)) {
            continue;
        }
        requests.push(Request {
            size: if fused_acc.contains(&v) || io_slot.contains_key(&v) {
                0
            } else {
                elem_bytes(v)
            },
            start: fused_start.get(&v).copied().unwrap_or(step[&v]),
            end: last[&v],
        });
        owner.push((v, None));
        if is_op(v) {
            let i = step[&v] - 1;
            for (t, size) in preps[i].temps().into_iter().enumerate() {
                requests.push(Request {
                    size,
                    start: step[&v],
                    end: step[&v],
                });
                owner.push((v, Some(t)));
            }
        }
    }
    let (offsets, arena_size) = plan::place(&requests);
    let mut value_off = HashMap::new();
    let mut temps: HashMap<ValueId, Vec<usize>> = HashMap::new();
    for (&(v, t), &off) in owner.iter().zip(&offsets) {
        match t {
            None => {
                value_off.insert(v, off);
            }
            Some(_) => temps.entry(v).or_default().push(off),
        }
    }

    // The module, constants and functions.
    let isa = jit::host_isa(options.optimize, path != DotPath::Scalar)?;
    let mut module = jit::new_module(isa);
    let mut data_ids: Vec<DataId> = Vec::new();
    let mut counter = 0usize;
    let mut const_data: HashMap<ValueId, (DataId, usize)> = HashMap::new();
    // Constants that only GEMMs read as weights are never read as written:
    // the GEMM has its own packed copy.
    let mut read_as_is: HashSet<ValueId> = graph.outputs().iter().map(|o| o.value).collect();
    for (i, &v) in ops_order.iter().enumerate() {
        for (j, a) in graph.args(v).into_iter().enumerate() {
            if !(j == 1 && matches!(preps[i], Prep::Gemm(_))) {
                read_as_is.insert(a);
            }
        }
    }
    for &v in &order {
        if let Op::Const(c) = &graph.node(v).op
            && read_as_is.contains(&v)
        {
            // Read as written: in logical order (a packed constant that is
            // not only a GEMM's weights is unpacked).
            let data = c.logical(graph.ty(v));
            let id = lower::declare_rodata(&mut module, &mut counter, ek_bytes(&data));
            const_data.insert(v, (id, data_ids.len()));
            data_ids.push(id);
        }
    }
    let bufs = |v: ValueId| -> Buf {
        let ek = Ek::of(graph.ty(v).elem.storage());
        if let Some(&i) = io_slot.get(&v) {
            return Buf {
                loc: Loc::Io(i),
                ek,
            };
        }
        match const_data.get(&v) {
            Some(&(id, _)) => Buf {
                loc: Loc::Data(id),
                ek,
            },
            // A GEMM's weights (see `read_as_is`): never dereferenced.
            None if matches!(graph.node(v).op, Op::Const(_)) => Buf {
                loc: Loc::Arena(0),
                ek,
            },
            None => Buf {
                loc: Loc::Arena(value_off[&v]),
                ek,
            },
        }
    };
    let mut fctx = FunctionBuilderContext::new();
    let mut ctx = module.make_context();
    let mut func_ids: Vec<FuncId> = Vec::new();
    let mut text = Vec::new();
    let mut steps = Vec::new();
    let mut extra_data = Vec::new();
    let mut exec = Vec::new();
    for (i, &v) in ops_order.iter().enumerate() {
        let node = graph.node(v);
        steps.push((graph.describe(v), node.op.name()));
        for phase in 0..preps[i].phases() {
            let name = format!("qcc_op_{i}_{phase}");
            let mut sig = module.make_signature();
            sig.params.extend([AbiParam::new(lower::I64); 4]);
            let fid = module
                .declare_function(&name, Linkage::Local, &sig)
                .map_err(|e| CodegenError::Backend(e.to_string()))?;
            ctx.func.signature = sig;
            ctx.func.name = UserFuncName::user(0, func_ids.len() as u32);
            let tcfg = module.target_config();
            {
                let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
                let entry = b.create_block();
                b.append_block_params_for_function_params(entry);
                b.switch_to_block(entry);
                let [arena, io, t0, t1] =
                    <[_; 4]>::try_from(b.block_params(entry)).expect("four parameters");
                let mut fx = Fx {
                    b,
                    arena,
                    io,
                    t0,
                    t1,
                    module: &mut module,
                    new_data: &mut extra_data,
                    data_counter: &mut counter,
                };
                let t = temps.get(&v).cloned().unwrap_or_default();
                ops::lower(&mut fx, graph, v, &bufs, &preps[i], &t, phase)?;
                fx.b.ins().return_(&[]);
                fx.b.seal_all_blocks();
                fx.b.finalize(tcfg);
            }
            let clif = if options.keep_text {
                ctx.func.display().to_string()
            } else {
                String::new()
            };
            ctx.set_disasm(options.keep_text);
            module
                .define_function(fid, &mut ctx)
                .map_err(|e| CodegenError::Backend(format!("{}: {e:?}", graph.describe(v))))?;
            if options.keep_text {
                let cc = ctx.compiled_code();
                text.push(OpCode {
                    node: graph.describe(v),
                    op: node.op.name(),
                    clif,
                    asm: cc.and_then(|c| c.vcode.clone()).unwrap_or_default(),
                    code: cc.map(|c| c.code_buffer().to_vec()).unwrap_or_default(),
                });
            }
            module.clear_context(&mut ctx);
            exec.push((
                jit::Step {
                    func: func_ids.len(),
                    tasks: preps[i].units(phase),
                },
                i,
            ));
            func_ids.push(fid);
        }
    }
    let code = JitCode::finalize(module, &func_ids, &data_ids, arena_size)?;

    let inputs = graph
        .inputs()
        .iter()
        .map(|&v| {
            let node = graph.node(v);
            let ty = &node.ty;
            InputSlot {
                sig: qcc_ir::signature::InputSig {
                    name: node.name.clone().unwrap_or_default(),
                    ty: ty.clone(),
                },
                offset: (!io_slot.contains_key(&v)).then(|| value_off[&v]),
            }
        })
        .collect();
    let outputs = graph
        .outputs()
        .iter()
        .enumerate()
        .map(|(j, o)| {
            let ty = graph.ty(o.value);
            let first = graph.outputs().iter().position(|p| p.value == o.value);
            OutputSlot {
                src: match (const_data.get(&o.value), io_slot.get(&o.value)) {
                    (Some(&(_, i)), _) => OutSrc::Data(i),
                    (None, Some(&i)) if i < n_in => OutSrc::Input(i),
                    (None, Some(&i)) if i == n_in + j => OutSrc::Io,
                    (None, Some(_)) => OutSrc::Output(first.unwrap_or(0)),
                    (None, None) => OutSrc::Arena(value_off[&o.value]),
                },
                storage: ty.elem.storage(),
                shape: ty.shape.clone(),
                len: ty.shape.iter().product(),
            }
        })
        .collect();
    let io_sizes = graph
        .inputs()
        .iter()
        .copied()
        .chain(graph.outputs().iter().map(|o| o.value))
        .enumerate()
        .map(|(i, v)| {
            if io_slot.get(&v) == Some(&i) {
                elem_bytes(v)
            } else {
                0
            }
        })
        .collect();
    Ok(Executable {
        code,
        steps,
        exec: exec.iter().map(|&(s, _)| s).collect(),
        exec_op: exec.iter().map(|&(_, op)| op).collect(),
        io_sizes,
        threads: options.threads.max(1),
        thread_pool: std::sync::OnceLock::new(),
        inputs,
        outputs,
        arena_size,
        pool: Mutex::new(Vec::new()),
        text,
        path,
        fused: fused_names,
        prepacked,
    })
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
