//! Ahead-of-time objects: a graph compiled into a relocatable object file
//! (`cranelift_object`) for x86-64 or aarch64, with a C header
//! (`aot::header`) describing its interface.
//!
//! The object holds the same op functions as the JIT (phases 1–5 of
//! `compile`, unchanged: one `fn(arena, io, t0, t1)` per op phase) and one
//! exported entry point,
//!
//! ```c
//! int NAME_run(const void *const *inputs, void *const *outputs, void *scratch);
//! ```
//!
//! which builds the I/O table on its stack (the graph's inputs, then its
//! outputs: the code reads and writes the caller's buffers in place), calls
//! the op functions in order on the caller's scratch buffer as the arena
//! (each over all its work units: one thread), copies the outputs the code
//! does not write itself (a constant, an input, an output listed twice) and
//! returns 0 (1 for a null pointer). It allocates nothing and has no mutable
//! global state, so distinct scratch buffers may run at once.
//!
//! The object links with libc and libm only. It cannot call the shim's Rust
//! helpers and kernels, so the code is generated with no helper at all
//! (`Fx::portable`): the dot products on the Cranelift path
//! (`DotPath::Clif128`: the 128-bit dot tree, which aarch64 lowers to
//! `usdot` with FEAT_I8MM, to `sdot` with FEAT_DotProd alone (the
//! activations stored as `u − 128`, `GemmPrep::signed_dot`) and to plain
//! NEON widening multiplies without either; x86-64 to `vpdpbusd` with
//! AVX-VNNI, else SSE4.1 widening multiplies), with the activation
//! packing, im2col and epilogue as generated loops; the byte lookups,
//! quantize, dequantize, relu, add/mul and the float matmul as generated
//! loops, the IEEE unary and binary float functions as generated loops.
//! The float functions the interpreter takes from the `libm` crate (exp,
//! log, sigmoid, tanh, erf, gelu, pow, and softmax's exp) are generated
//! code too: ports of the crate's routines to Cranelift IR
//! (`lower::libm`), bit-exact by construction and checked against the
//! crate (`testsuite/tests/aot_libm.rs`). `dense_nbits` is refused with an
//! error naming the node, as are graphs with 4-bit inputs or outputs (the
//! arena's layout of those differs from the caller's).

pub mod header;

use crate::compile::{self, EmitTarget};
use crate::lower::gemm::GemmPrep;
use crate::lower::ops::Prep;
use crate::shim::PANEL;
use crate::{CodegenError, CodegenOptions, DotPath, OutSrc, jit};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    AbiParam, InstBuilder, MemFlagsData, StackSlotData, StackSlotKind, UserFuncName, types,
};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_module::{Linkage, Module};
use cranelift_object::{ObjectBuilder, ObjectModule};
use qcc_ir::types::{ScalarType, TensorType};
use qcc_ir::{Graph, ValueId};

/// The architecture an object is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AotArch {
    X86_64,
    Aarch64,
}

impl AotArch {
    /// The architecture of the machine running the compiler.
    pub fn host() -> Option<AotArch> {
        if cfg!(target_arch = "x86_64") {
            Some(AotArch::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(AotArch::Aarch64)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AotArch::X86_64 => "x86_64",
            AotArch::Aarch64 => "aarch64",
        }
    }

    fn triple(self) -> &'static str {
        match self {
            AotArch::X86_64 => "x86_64-unknown-linux-gnu",
            AotArch::Aarch64 => "aarch64-unknown-linux-gnu",
        }
    }

    /// The CPU features turned on unless `--cpu-features` says otherwise:
    /// x86-64-v2 (SSE4.2, POPCNT: every x86-64 CPU since 2009) and, on
    /// aarch64, FEAT_DotProd.
    pub fn default_features(self) -> &'static [&'static str] {
        match self {
            AotArch::X86_64 => &["sse3", "ssse3", "sse41", "sse42", "popcnt"],
            AotArch::Aarch64 => &["dotprod"],
        }
    }
}

/// What to build.
#[derive(Clone, Debug)]
pub struct AotOptions {
    pub arch: AotArch,
    /// Use the features of the machine running the compiler (`--target
    /// host`) instead of the architecture's defaults.
    pub native: bool,
    /// Feature changes after the defaults, e.g. `+i8mm`, `-dotprod`: each
    /// name is Cranelift's ISA flag without `has_` (`avx2`, `dotprod`,
    /// `i8mm`, ...).
    pub features: Vec<String>,
    /// The C prefix of every symbol and macro (a C identifier).
    pub name: String,
    /// Cranelift's optimizer (`opt_level = speed`).
    pub optimize: bool,
}

/// One input or output of the compiled graph, as the header describes it.
#[derive(Clone, Debug)]
pub struct AotTensor {
    pub name: String,
    pub ty: TensorType,
    /// Bytes of its dense row-major buffer.
    pub bytes: usize,
}

/// An object file and the interface it implements.
#[derive(Clone, Debug)]
pub struct AotObject {
    /// The relocatable ELF object.
    pub object: Vec<u8>,
    pub name: String,
    pub arch: AotArch,
    /// The CPU features the code may use (Cranelift's flag names).
    pub features: Vec<String>,
    pub inputs: Vec<AotTensor>,
    pub outputs: Vec<AotTensor>,
    /// Bytes of scratch memory `NAME_run` needs (a multiple of 64, ≥ 64).
    pub scratch_bytes: usize,
    /// The ops, in execution order: `(node, op name)`.
    pub steps: Vec<(String, &'static str)>,
}

impl AotObject {
    /// The C header of the object ([`header::render`]).
    pub fn header(&self) -> String {
        header::render(self)
    }
}

/// Whether `s` is a C identifier that is not a keyword (a valid `NAME`).
pub fn is_c_identifier(s: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "auto",
        "break",
        "case",
        "char",
        "const",
        "continue",
        "default",
        "do",
        "double",
        "else",
        "enum",
        "extern",
        "float",
        "for",
        "goto",
        "if",
        "inline",
        "int",
        "long",
        "register",
        "restrict",
        "return",
        "short",
        "signed",
        "sizeof",
        "static",
        "struct",
        "switch",
        "typedef",
        "union",
        "unsigned",
        "void",
        "volatile",
        "while",
        "bool",
        "true",
        "false",
        "alignas",
        "alignof",
        "nullptr",
        "static_assert",
        "thread_local",
        "typeof",
    ];
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&s)
}

/// A C identifier made from `s` (a file stem): other characters become
/// `_`, a leading digit or a keyword gets a `_` before it.
pub fn sanitize_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) || !is_c_identifier(&out) {
        out.insert(0, '_');
    }
    out
}

fn backend(e: impl std::fmt::Display) -> CodegenError {
    CodegenError::Backend(e.to_string())
}

/// The target ISA of an object: position-independent code (objects link
/// into PIE executables and shared libraries).
fn object_isa(options: &AotOptions) -> Result<(OwnedTargetIsa, Vec<String>), CodegenError> {
    let mut flags = settings::builder();
    flags.set("is_pic", "true").map_err(backend)?;
    flags
        .set("opt_level", if options.optimize { "speed" } else { "none" })
        .map_err(backend)?;
    let mut isa = if options.native {
        if AotArch::host() != Some(options.arch) {
            return Err(CodegenError::Target(format!(
                "`host` features are this machine's, not {}'s",
                options.arch.name()
            )));
        }
        cranelift_native::builder().map_err(backend)?
    } else {
        cranelift_codegen::isa::lookup_by_name(options.arch.triple()).map_err(backend)?
    };
    let mut on: Vec<String> = if options.native {
        Vec::new()
    } else {
        options
            .arch
            .default_features()
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    for f in &options.features {
        let (enable, name) = match f.split_at_checked(1) {
            Some(("+", n)) => (true, n),
            Some(("-", n)) => (false, n),
            _ => {
                return Err(CodegenError::Target(format!(
                    "CPU feature `{f}`: expected +NAME or -NAME"
                )));
            }
        };
        on.retain(|x| x != name);
        if enable {
            on.push(name.to_string());
        } else {
            // Validated below like the enabled ones.
            isa.set(&format!("has_{name}"), "false")
                .map_err(|_| unknown_feature(options.arch, name, &isa))?;
        }
    }
    for name in &on {
        isa.set(&format!("has_{name}"), "true")
            .map_err(|_| unknown_feature(options.arch, name, &isa))?;
    }
    let isa = isa.finish(settings::Flags::new(flags)).map_err(backend)?;
    let features = isa
        .isa_flags()
        .iter()
        .filter(|v| v.name.starts_with("has_") && v.as_bool() == Some(true))
        .map(|v| v.name.trim_start_matches("has_").to_string())
        .collect();
    Ok((isa, features))
}

fn unknown_feature(
    arch: AotArch,
    name: &str,
    isa: &cranelift_codegen::isa::Builder,
) -> CodegenError {
    let known: Vec<String> = isa
        .iter()
        .filter(|s| s.name.starts_with("has_"))
        .map(|s| s.name.trim_start_matches("has_").to_string())
        .collect();
    CodegenError::Target(format!(
        "unknown CPU feature `{name}` for {}; known: {}",
        arch.name(),
        known.join(", ")
    ))
}

/// Turns a GEMM to the signed dot tree (`sdot`): the activations are
/// stored as `u − 128`, so every column gains `128 · Σ_k w` back in `colc`
/// (wrapping i32 arithmetic, as the epilogue's).
fn signed_dot(g: &mut GemmPrep) {
    let w = g.packed.as_i8();
    let mut sums = vec![0i64; g.np];
    let mut idx = 0;
    for p0 in (0..g.np).step_by(PANEL) {
        let width = PANEL.min(g.np - p0);
        for _k4 in 0..g.kp / 4 {
            for j in 0..width {
                for _ in 0..4 {
                    sums[p0 + j] += w[idx] as i64;
                    idx += 1;
                }
            }
        }
    }
    for (c, s) in g.colc.iter_mut().zip(&sums) {
        *c = c.wrapping_add((128 * s) as i32);
    }
    g.signed_dot = true;
    g.pack_a = true;
}

fn tensor(graph: &Graph, name: String, v: ValueId) -> AotTensor {
    let ty = graph.ty(v).clone();
    let bytes = compile::elem_bytes(graph, v);
    AotTensor { name, ty, bytes }
}

/// Compiles a graph (verified first) to an object file.
pub fn compile_object(graph: &Graph, options: &AotOptions) -> Result<AotObject, CodegenError> {
    if !is_c_identifier(&options.name) {
        return Err(CodegenError::Target(format!(
            "`{}` is not a C identifier (letters, digits and `_`, not starting with a digit, \
             not a keyword)",
            options.name
        )));
    }
    compile::verified(graph)?;
    for (what, v) in graph
        .inputs()
        .iter()
        .map(|&v| ("input", v))
        .chain(graph.outputs().iter().map(|o| ("output", o.value)))
    {
        if matches!(graph.ty(v).elem.storage(), ScalarType::I4 | ScalarType::U4) {
            return Err(CodegenError::Unsupported {
                node: graph.describe(v),
                op: what,
                reason: "4-bit inputs and outputs are not available in an ahead-of-time object \
                         (their buffers would be packed, the code's are not)"
                    .into(),
            });
        }
    }
    let (isa, features) = object_isa(options)?;
    let copts = CodegenOptions {
        optimize: options.optimize,
        dot_path: Some(DotPath::Clif128),
        keep_text: false,
        threads: 1,
    };
    let path = DotPath::Clif128;
    let sched = compile::schedule(graph);
    let mut plan = compile::node_plan(graph, &sched, path, &copts);
    let has = |f: &str| features.iter().any(|x| x == f);
    let sdot = options.arch == AotArch::Aarch64 && has("dotprod") && !has("i8mm");
    for p in &mut plan.preps {
        match p {
            // Host helpers (chosen by the host's features): the generic loops.
            Prep::Depthwise(_) | Prep::VecRequant | Prep::Dyn(_) => *p = Prep::Plain,
            Prep::Gemm(g) if sdot && !g.prepacked && g.fused.is_none() => signed_dot(g),
            _ => {}
        }
    }
    let io = compile::io_slots(graph);
    let arena = compile::arena_plan(graph, &sched, &plan, &io);
    let builder = ObjectBuilder::new(
        isa,
        options.name.as_bytes().to_vec(),
        cranelift_module::default_libcall_names(),
    )
    .map_err(backend)?;
    let mut module = ObjectModule::new(builder);
    let mut consts = compile::constants(&mut module, graph, &sched, &plan);
    let target = EmitTarget {
        portable: true,
        aarch64: options.arch == AotArch::Aarch64,
    };
    let emitted = compile::emit(
        &mut module,
        graph,
        &sched,
        &plan,
        &io,
        &arena,
        &mut consts,
        &copts,
        target,
    )?;
    let outputs = compile::output_sources(graph, &io, &arena, &consts);
    let scratch_bytes = arena.arena_size.next_multiple_of(64).max(64);
    define_run(
        &mut module,
        &options.name,
        graph,
        &emitted.func_ids,
        &emitted.exec,
        &outputs,
        &consts,
        io.n_in,
    )?;
    let object = module.finish().emit().map_err(backend)?;
    let name_of = |v: ValueId| graph.node(v).name.clone().unwrap_or_default();
    Ok(AotObject {
        object,
        name: options.name.clone(),
        arch: options.arch,
        features,
        inputs: graph
            .inputs()
            .iter()
            .map(|&v| tensor(graph, name_of(v), v))
            .collect(),
        outputs: graph
            .outputs()
            .iter()
            .map(|o| tensor(graph, o.name.clone(), o.value))
            .collect(),
        scratch_bytes,
        steps: emitted.steps,
    })
}

/// Defines the exported `NAME_run`.
#[allow(clippy::too_many_arguments)]
fn define_run(
    module: &mut ObjectModule,
    name: &str,
    graph: &Graph,
    func_ids: &[cranelift_module::FuncId],
    exec: &[(jit::Step, usize)],
    outputs: &[OutSrc],
    consts: &compile::Constants,
    n_in: usize,
) -> Result<(), CodegenError> {
    let ptr = types::I64;
    let mut sig = module.make_signature();
    sig.params.extend([AbiParam::new(ptr); 3]);
    sig.returns.push(AbiParam::new(types::I32));
    let run_id = module
        .declare_function(&format!("{name}_run"), Linkage::Export, &sig)
        .map_err(backend)?;
    let mut op_sig = module.make_signature();
    op_sig.params.extend([AbiParam::new(ptr); 4]);
    let mut ctx = module.make_context();
    ctx.func.signature = sig;
    ctx.func.name = UserFuncName::user(1, 0);
    let n_out = graph.outputs().len();
    let tcfg = module.target_config();
    let mut fctx = FunctionBuilderContext::new();
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let [inputs, outs, scratch] =
            <[_; 3]>::try_from(b.block_params(entry)).expect("three parameters");
        let flags = MemFlagsData::new().with_notrap();
        // A null pointer (where one is read) returns 1.
        let fail = b.create_block();
        let mut checks = vec![scratch];
        if n_in > 0 {
            checks.push(inputs);
        }
        if n_out > 0 {
            checks.push(outs);
        }
        for p in checks {
            let next = b.create_block();
            let null = b.ins().icmp_imm_s(IntCC::Equal, p, 0);
            b.ins().brif(null, fail, &[], next, &[]);
            b.switch_to_block(next);
        }
        // The I/O table: input pointers, then output pointers.
        let slots = (n_in + n_out).max(1);
        let ss = b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            (8 * slots) as u32,
            3,
        ));
        let table = b.ins().stack_addr(ptr, ss, 0);
        let mut in_ptrs = Vec::new();
        for i in 0..n_in {
            let p = b.ins().load(ptr, flags, inputs, (8 * i) as i32);
            b.ins().store(flags, p, table, (8 * i) as i32);
            in_ptrs.push(p);
        }
        let mut out_ptrs = Vec::new();
        for j in 0..n_out {
            let p = b.ins().load(ptr, flags, outs, (8 * j) as i32);
            b.ins().store(flags, p, table, (8 * (n_in + j)) as i32);
            out_ptrs.push(p);
        }
        for &(step, _) in exec {
            let f = module.declare_func_in_func(func_ids[step.func], b.func);
            let t0 = b.ins().iconst(ptr, 0);
            let t1 = b.ins().iconst(ptr, step.tasks as i64);
            b.ins().call(f, &[scratch, table, t0, t1]);
        }
        for (j, src) in outputs.iter().enumerate() {
            let bytes = compile::elem_bytes(graph, graph.outputs()[j].value) as i64;
            let from = match *src {
                OutSrc::Io => continue,
                OutSrc::Arena(off) => b.ins().iadd_imm_s(scratch, off as i64),
                OutSrc::Data(i) => {
                    let gv = module.declare_data_in_func(consts.data_ids[i], b.func);
                    b.ins().symbol_value(ptr, gv)
                }
                OutSrc::Input(i) => in_ptrs[i],
                OutSrc::Output(k) => out_ptrs[k],
            };
            if bytes > 0 {
                let size = b.ins().iconst(ptr, bytes);
                b.call_memcpy(tcfg, out_ptrs[j], from, size);
            }
        }
        let ok = b.ins().iconst(types::I32, 0);
        b.ins().return_(&[ok]);
        b.switch_to_block(fail);
        let one = b.ins().iconst(types::I32, 1);
        b.ins().return_(&[one]);
        b.seal_all_blocks();
        b.finalize(tcfg);
    }
    module
        .define_function(run_id, &mut ctx)
        .map_err(|e| backend(format!("{name}_run: {e:?}")))?;
    Ok(())
}
