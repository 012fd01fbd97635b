//! The JIT owner: the one place that turns finished Cranelift code into
//! callable function pointers, and frees the code and data when dropped.
//!
//! Every `unsafe` needed to *call* generated code lives here (the kernels in
//! `shim` have their own). Generated functions have the signature
//! `extern "C" fn(arena: *mut u8)`; they read and write only inside
//! `arena[..arena_size]` (offsets planned at compile time, see `plan`) and
//! their own read-only data, so calling them is sound whenever the arena is
//! at least `arena_size` bytes long, which [`JitCode::call`] checks.

use crate::CodegenError;
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{DataId, FuncId};

/// The signature of every generated op function.
type OpFn = unsafe extern "C" fn(*mut u8);

/// Builds the target ISA for the host, with the features a forced path
/// needs turned off (`vnni = false` hides AVX-VNNI / AVX512-VNNI from
/// Cranelift, so its lowering cannot fold the dot-product tree).
pub(crate) fn host_isa(opt_speed: bool, vnni: bool) -> Result<OwnedTargetIsa, CodegenError> {
    let err = |e: String| CodegenError::Backend(e);
    let mut flags = settings::builder();
    flags
        .set("use_colocated_libcalls", "false")
        .map_err(|e| err(e.to_string()))?;
    flags
        .set("is_pic", "false")
        .map_err(|e| err(e.to_string()))?;
    flags
        .set("opt_level", if opt_speed { "speed" } else { "none" })
        .map_err(|e| err(e.to_string()))?;
    let mut isa = cranelift_native::builder().map_err(|e| err(e.to_string()))?;
    if !vnni && cfg!(target_arch = "x86_64") {
        for f in ["has_avx_vnni", "has_avx512vnni"] {
            isa.set(f, "false").map_err(|e| err(e.to_string()))?;
        }
    }
    isa.finish(settings::Flags::new(flags))
        .map_err(|e| err(e.to_string()))
}

/// `expf` for generated code (softmax): Rust's `f32::exp`, as the
/// interpreter uses.
extern "C" fn qcc_expf(x: f32) -> f32 {
    x.exp()
}

/// A JIT module with the shim's kernels and the helper functions registered.
pub(crate) fn new_module(isa: OwnedTargetIsa) -> JITModule {
    let mut jb = JITBuilder::with_isa(isa, cranelift_module::default_libcall_names());
    jb.symbol("qcc_expf", qcc_expf as *const u8);
    for (name, ptr) in crate::shim::kernel_symbols() {
        jb.symbol(name, ptr);
    }
    JITModule::new(jb)
}

/// Finished machine code: the op functions in execution order and the
/// read-only data the runner reads outputs from. Frees everything on drop.
pub(crate) struct JitCode {
    module: Option<JITModule>,
    fns: Vec<OpFn>,
    data: Vec<(*const u8, usize)>,
    arena_size: usize,
}

// SAFETY: after `finalize_definitions` the code and data are immutable; the
// module is touched again only in `drop` (which has `&mut self`). The raw
// pointers point into that immutable memory, so sharing them between threads
// is sound. Each call gets its own arena (`&mut [u8]`).
unsafe impl Send for JitCode {}
// SAFETY: see `Send`: nothing reachable through `&JitCode` is mutated.
unsafe impl Sync for JitCode {}

impl std::fmt::Debug for JitCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitCode")
            .field("functions", &self.fns.len())
            .field("data_objects", &self.data.len())
            .field("arena_size", &self.arena_size)
            .finish()
    }
}

impl JitCode {
    /// Finalizes `module` and takes the addresses of `funcs` (each defined
    /// with the op-function signature) and `data`.
    pub(crate) fn finalize(
        mut module: JITModule,
        funcs: &[FuncId],
        data: &[DataId],
        arena_size: usize,
    ) -> Result<JitCode, CodegenError> {
        module
            .finalize_definitions()
            .map_err(|e| CodegenError::Backend(e.to_string()))?;
        let fns = funcs
            .iter()
            .map(|&id| {
                let p = module.get_finalized_function(id);
                // SAFETY: every id in `funcs` was declared and defined with
                // the signature `fn(i64 pointer)` and the host's default call
                // convention, which is `extern "C"`.
                unsafe { std::mem::transmute::<*const u8, OpFn>(p) }
            })
            .collect();
        let data = data
            .iter()
            .map(|&id| module.get_finalized_data(id))
            .collect();
        Ok(JitCode {
            module: Some(module),
            fns,
            data,
            arena_size,
        })
    }

    /// The number of op functions.
    pub(crate) fn len(&self) -> usize {
        self.fns.len()
    }

    /// Runs op function `i` on `arena`.
    pub(crate) fn call(&self, i: usize, arena: &mut [u8]) {
        assert!(
            arena.len() >= self.arena_size,
            "arena of {} bytes, the code needs {}",
            arena.len(),
            self.arena_size
        );
        // SAFETY: the function was generated for an arena of `arena_size`
        // bytes and touches nothing else but its own immutable data and
        // kernels whose features were checked when it was compiled; the
        // arena is long enough and exclusively borrowed for the call.
        unsafe { (self.fns[i])(arena.as_mut_ptr()) }
    }

    /// The bytes of data object `i`.
    pub(crate) fn data(&self, i: usize) -> &[u8] {
        let (p, len) = self.data[i];
        // SAFETY: the JIT module keeps the data alive and immutable until
        // `drop`, which cannot happen while `&self` is borrowed.
        unsafe { std::slice::from_raw_parts(p, len) }
    }
}

impl Drop for JitCode {
    fn drop(&mut self) {
        if let Some(m) = self.module.take() {
            // SAFETY: no function pointer or data slice outlives `self`: they
            // are only handed out for the duration of a `&self` borrow.
            unsafe { m.free_memory() };
        }
    }
}

/// Scratch memory for one run: 64-byte aligned.
#[derive(Clone, Debug)]
pub(crate) struct Arena {
    lines: Vec<Line>,
}

#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Line([u8; 64]);

impl Arena {
    pub(crate) fn new(bytes: usize) -> Arena {
        Arena {
            lines: vec![Line([0; 64]); bytes.div_ceil(64).max(1)],
        }
    }

    pub(crate) fn bytes(&mut self) -> &mut [u8] {
        let len = self.lines.len() * 64;
        // SAFETY: `Line` is `repr(C)` around `[u8; 64]` (no padding), so the
        // vector's storage is `len` initialized bytes, exclusively borrowed.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr() as *mut u8, len) }
    }
}
