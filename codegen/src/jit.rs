//! The JIT owner: the one place that turns finished Cranelift code into
//! callable function pointers, and frees the code and data when dropped.
//!
//! Every `unsafe` needed to *call* generated code lives here (the kernels in
//! `shim` have their own). Generated functions have the signature
//! `extern "C" fn(arena: *mut u8, io: *const *mut u8, t0: i64, t1: i64)`;
//! they read and write only inside `arena[..arena_size]` (offsets planned at
//! compile time, see `plan`), the graph's input and output buffers whose
//! addresses `io` lists (inputs read-only), and their own read-only data.
//! A function whose step has several tasks does the units `t0..t1` of its
//! work, and units write disjoint memory. So calling them is sound whenever
//! the arena is at least `arena_size` bytes long and each I/O buffer at
//! least as long as the code expects, which [`JitCode::run`] checks.

use crate::CodegenError;
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{DataId, FuncId};

/// The signature of every generated op function.
type OpFn = unsafe extern "C" fn(*mut u8, *const *mut u8, i64, i64);

/// One call of the run: function `func`, over `tasks` units of work
/// (split between threads when there are several).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Step {
    pub func: usize,
    pub tasks: usize,
}

/// The I/O buffers of one run: the inputs (read-only) and the outputs, as
/// bytes, in the order of the code's `io` table.
#[derive(Debug)]
pub(crate) struct Io<'a> {
    pub inputs: Vec<&'a [u8]>,
    pub outputs: Vec<&'a mut [u8]>,
}

/// The raw addresses a task needs, sent to the worker threads.
#[derive(Clone, Copy)]
struct TaskPtrs {
    f: OpFn,
    arena: *mut u8,
    io: *const *mut u8,
}

// SAFETY: the pointers are only used during `JitCode::run`, which waits for
// every task before it returns (the borrows they come from outlive it), and
// the tasks of a step write disjoint memory (see the module doc).
unsafe impl Send for TaskPtrs {}
// SAFETY: as `Send`; nothing is mutated through `&TaskPtrs`.
unsafe impl Sync for TaskPtrs {}

impl TaskPtrs {
    fn call(self, t0: usize, t1: usize) {
        // SAFETY: `JitCode::run` checked the arena and the I/O buffers
        // against what the code expects before creating `self`.
        unsafe { (self.f)(self.arena, self.io, t0 as i64, t1 as i64) }
    }
}

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

/// A JIT module with the shim's kernels and the helper functions registered.
pub(crate) fn new_module(isa: OwnedTargetIsa) -> JITModule {
    let mut jb = JITBuilder::with_isa(isa, cranelift_module::default_libcall_names());
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
                // the signature `fn(i64, i64, i64, i64)` (two pointers, two
                // counts) and the host's default call convention, which is
                // `extern "C"`.
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

    /// Runs `steps` in order on `arena` and the I/O buffers, timing each
    /// step into `times` when given. A step with several tasks is split
    /// into `pool`'s thread count of contiguous task ranges.
    ///
    /// Panics if the arena or an I/O buffer is shorter than the code needs
    /// (`io_sizes`, in bytes, inputs then outputs), which would be a bug of
    /// the caller: `Executable` checks tensors against its signature first.
    pub(crate) fn run(
        &self,
        steps: &[Step],
        arena: &mut Arena,
        io: &mut Io<'_>,
        io_sizes: &[usize],
        pool: Option<&rayon::ThreadPool>,
        mut times: Option<&mut Vec<std::time::Duration>>,
    ) {
        // The table of I/O addresses lives with the arena (no allocation in
        // the steady state).
        let mut table = std::mem::take(&mut arena.table);
        table.clear();
        for (b, &need) in io.inputs.iter().zip(io_sizes) {
            assert!(
                b.len() >= need,
                "input buffer of {} bytes, the code needs {need}",
                b.len()
            );
            // The code never writes an input (the module doc).
            table.push(b.as_ptr() as usize);
        }
        for (b, &need) in io.outputs.iter_mut().zip(&io_sizes[io.inputs.len()..]) {
            assert!(
                b.len() >= need,
                "output buffer of {} bytes, the code needs {need}",
                b.len()
            );
            table.push(b.as_mut_ptr() as usize);
        }
        assert_eq!(table.len(), io_sizes.len(), "one buffer per I/O slot");
        let bytes = arena.bytes();
        assert!(
            bytes.len() >= self.arena_size,
            "arena of {} bytes, the code needs {}",
            bytes.len(),
            self.arena_size
        );
        let arena_ptr = bytes.as_mut_ptr();
        for s in steps {
            let t0 = times.as_ref().map(|_| std::time::Instant::now());
            let task = TaskPtrs {
                f: self.fns[s.func],
                arena: arena_ptr,
                io: table.as_ptr() as *const *mut u8,
            };
            match pool {
                Some(pool) if s.tasks > 1 => {
                    // The pool's threads and the calling thread.
                    let n = (pool.current_num_threads() + 1).min(s.tasks);
                    // The calling thread runs the first share itself (its
                    // caches are warm, and one pool thread fewer is woken).
                    pool.in_place_scope(|sc| {
                        for i in 1..n {
                            let (lo, hi) = (s.tasks * i / n, s.tasks * (i + 1) / n);
                            sc.spawn(move |_| task.call(lo, hi));
                        }
                        task.call(0, s.tasks / n);
                    });
                }
                _ => task.call(0, s.tasks),
            }
            if let (Some(t), Some(t0)) = (times.as_mut(), t0) {
                t.push(t0.elapsed());
            }
        }
        arena.table = table;
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

/// The memory of a tensor's elements as bytes, for the element types whose
/// in-memory layout is the code's (`None` for packed 4-bit data).
pub(crate) fn data_bytes(d: &qcc_ir::tensor::TensorData) -> &[u8] {
    use qcc_ir::tensor::TensorData as D;
    fn raw<T>(v: &[T]) -> &[u8] {
        // SAFETY: `T` is a primitive integer or float (no padding, every
        // byte initialized); the slice covers exactly the vector's elements.
        unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
    }
    match d {
        D::F32(v) => raw(v),
        D::I32(v) => raw(v),
        D::I16(v) => raw(v),
        D::U16(v) => raw(v),
        D::I8(v) => raw(v),
        D::U8(v) => v,
        D::I4(_) | D::U4(_) => &[],
    }
}

/// [`data_bytes`], writable.
pub(crate) fn data_bytes_mut(d: &mut qcc_ir::tensor::TensorData) -> &mut [u8] {
    use qcc_ir::tensor::TensorData as D;
    fn raw<T>(v: &mut [T]) -> &mut [u8] {
        // SAFETY: as in `data_bytes`; and every byte pattern is a valid
        // value of these types, so writes through the bytes are sound.
        unsafe {
            std::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut u8, std::mem::size_of_val(v))
        }
    }
    match d {
        D::F32(v) => raw(v),
        D::I32(v) => raw(v),
        D::I16(v) => raw(v),
        D::U16(v) => raw(v),
        D::I8(v) => raw(v),
        D::U8(v) => v,
        D::I4(_) | D::U4(_) => &mut [],
    }
}

/// Scratch memory for one run: 64-byte aligned.
#[derive(Clone, Debug)]
pub(crate) struct Arena {
    lines: Vec<Line>,
    /// The I/O address table of the run in progress (see [`JitCode::run`]).
    table: Vec<usize>,
}

#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Line([u8; 64]);

impl Arena {
    pub(crate) fn new(bytes: usize) -> Arena {
        Arena {
            lines: vec![Line([0; 64]); bytes.div_ceil(64).max(1)],
            table: Vec::new(),
        }
    }

    pub(crate) fn bytes(&mut self) -> &mut [u8] {
        let len = self.lines.len() * 64;
        // SAFETY: `Line` is `repr(C)` around `[u8; 64]` (no padding), so the
        // vector's storage is `len` initialized bytes, exclusively borrowed.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr() as *mut u8, len) }
    }
}
