//! # qcc-capi: the C API of qcc for JIT hosts
//!
//! A C or C++ program links `libqcc_capi.so` (or `libqcc_capi.a`) and
//! includes `include/qcc.h` to compile a model (a qcc text graph or an ONNX
//! model, from a path or a memory buffer) for the machine it runs on, query
//! its inputs and outputs, and run it on its own buffers. The header is
//! written by hand; `tests/c_api.rs` checks it against this file (every
//! function's signature, every constant, the layout of
//! [`QccTensorInfo`]) and drives it from a C program built with the
//! system `cc`.
//!
//! What this crate adds to `qcc-compiler` is only the boundary: C strings
//! and pointers in, status codes and messages out. Models are loaded and
//! compiled exactly as `qcc run` does it (`load_model` / `load_str_with` /
//! `load_onnx_bytes`, the pass pipeline, then the JIT on the result with
//! `run_passes(false)`), so a model gives the same outputs here as there.
//!
//! ## The rules every entry point keeps
//! - It returns a status (`QCC_OK`, or a `QCC_ERR_*` code) and never
//!   crashes on a null pointer, a count or a byte size that does not match
//!   the model, or text that is not UTF-8: those are error codes.
//! - A panic (a bug in qcc) never unwinds into C: [`guard`] catches it and
//!   returns `QCC_ERR_PANIC`. (This needs the default `panic = "unwind"`.)
//! - On failure, `qcc_last_error()` gives the message, on the calling
//!   thread, until that thread's next failure.
//! - What C cannot be checked for is its own part of the contract: a
//!   pointer that is not null must point to what the header says (a
//!   NUL-terminated string, a buffer of at least the byte size passed
//!   beside it, a handle this library made and has not freed).
//!
//! This is the one crate besides `qcc-codegen` with `unsafe` code: reading
//! C strings and buffers and writing through C pointers cannot be done
//! without it. Every block has a `// SAFETY:` comment; the compiler itself
//! is reached through the safe `qcc-compiler` API only.

use qcc_compiler::model::{CompiledModel, Compiler, DotPath, TargetFeatures};
use qcc_compiler::{Backend, CompileOptions, ImportOptions, LayoutTarget, LoadError, LoadOptions};
use qcc_ir::{ElemType, Graph, RequantMode, ScalarType, Tensor, TensorData, TensorType};
use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

// ---- Status codes -------------------------------------------------------

/// Success.
pub const QCC_OK: c_int = 0;
/// A pointer the call needs was null.
pub const QCC_ERR_NULL: c_int = 1;
/// An argument has a value the call does not accept (an unknown target, a
/// thread count of 0, an index out of range, a string that is not UTF-8).
pub const QCC_ERR_ARGUMENT: c_int = 2;
/// A buffer count or byte size differs from the model's.
pub const QCC_ERR_SIZE: c_int = 3;
/// The model could not be read, parsed, imported or verified.
pub const QCC_ERR_LOAD: c_int = 4;
/// The pass pipeline or the code generator failed.
pub const QCC_ERR_COMPILE: c_int = 5;
/// The model refused the input values (outside a narrow storage range,
/// a 4-bit value out of range) or could not run.
pub const QCC_ERR_RUN: c_int = 6;
/// A bug in qcc: a panic, caught at the boundary.
pub const QCC_ERR_PANIC: c_int = 7;

// ---- Element types (`qcc_tensor_info.dtype`) ----------------------------

pub const QCC_DTYPE_F32: i32 = 0;
pub const QCC_DTYPE_I32: i32 = 1;
pub const QCC_DTYPE_I16: i32 = 2;
pub const QCC_DTYPE_U16: i32 = 3;
pub const QCC_DTYPE_I8: i32 = 4;
pub const QCC_DTYPE_U8: i32 = 5;
/// Signed 4-bit values, one per byte (an `int8_t` in -8..=7).
pub const QCC_DTYPE_I4: i32 = 6;
/// Unsigned 4-bit values, one per byte (a `uint8_t` in 0..=15).
pub const QCC_DTYPE_U4: i32 = 7;

// ---- Quantization kinds (`qcc_tensor_info.quant`) -----------------------

/// Not quantized: a float tensor, or a plain integer one.
pub const QCC_QUANT_NONE: i32 = 0;
/// One scale and zero point for the whole tensor.
pub const QCC_QUANT_PER_TENSOR: i32 = 1;
/// One scale and zero point per index of `axis`.
pub const QCC_QUANT_PER_AXIS: i32 = 2;

// ---- Model formats (`qcc_compile_buffer`) -------------------------------

/// Text if the buffer is UTF-8 starting with a printable character (a
/// comment or `graph`), else ONNX (a ModelProto starts with a tag byte).
pub const QCC_FORMAT_AUTO: i32 = 0;
/// A qcc text graph.
pub const QCC_FORMAT_TEXT: i32 = 1;
/// An ONNX model's bytes.
pub const QCC_FORMAT_ONNX: i32 = 2;

// ---- Errors -------------------------------------------------------------

/// A failed call: its status and message.
#[derive(Debug)]
struct Failure {
    status: c_int,
    message: String,
}

fn fail(status: c_int, message: impl Into<String>) -> Failure {
    Failure {
        status,
        message: message.into(),
    }
}

thread_local! {
    /// The message of this thread's last failure.
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

/// Runs the body of an entry point: its failure becomes a status and the
/// thread's last error, and a panic stops here as `QCC_ERR_PANIC`.
fn guard(body: impl FnOnce() -> Result<(), Failure>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => QCC_OK,
        Ok(Err(f)) => {
            set_last_error(&f.message);
            f.status
        }
        Err(payload) => {
            set_last_error(&format!(
                "internal error (a bug in qcc, please report it): {}",
                panic_message(payload.as_ref())
            ));
            QCC_ERR_PANIC
        }
    }
}

/// `p` as a reference, or `QCC_ERR_NULL` naming the argument.
///
/// # Safety
/// A non-null `p` points to a live `T` not written during `'a`.
unsafe fn arg<'a, T>(p: *const T, name: &str) -> Result<&'a T, Failure> {
    // SAFETY: non-null is checked here; the rest is the caller's contract.
    unsafe { p.as_ref() }.ok_or_else(|| fail(QCC_ERR_NULL, format!("`{name}` is NULL")))
}

/// `p` as a mutable reference, or `QCC_ERR_NULL` naming the argument.
///
/// # Safety
/// A non-null `p` points to a live `T` nobody else uses during `'a`.
unsafe fn arg_mut<'a, T>(p: *mut T, name: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: non-null is checked here; the rest is the caller's contract.
    unsafe { p.as_mut() }.ok_or_else(|| fail(QCC_ERR_NULL, format!("`{name}` is NULL")))
}

/// A NUL-terminated UTF-8 string argument.
///
/// # Safety
/// A non-null `p` points to a NUL-terminated string alive during `'a`.
unsafe fn arg_str<'a>(p: *const c_char, name: &str) -> Result<&'a str, Failure> {
    if p.is_null() {
        return Err(fail(QCC_ERR_NULL, format!("`{name}` is NULL")));
    }
    // SAFETY: non-null, and NUL-terminated by the caller's contract.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str()
        .map_err(|e| fail(QCC_ERR_ARGUMENT, format!("`{name}` is not UTF-8: {e}")))
}

/// `len` bytes at `p` (`p` may be null when `len` is 0).
///
/// # Safety
/// A non-null `p` points to at least `len` readable bytes alive during `'a`.
unsafe fn arg_bytes<'a>(p: *const c_void, len: usize, name: &str) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(fail(QCC_ERR_NULL, format!("`{name}` is NULL")));
    }
    if len > isize::MAX as usize {
        return Err(fail(
            QCC_ERR_SIZE,
            format!("`{name}`: {len} bytes is too many"),
        ));
    }
    // SAFETY: non-null, `len` ≤ isize::MAX, and readable by the contract.
    Ok(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) })
}

/// Writes a value to an out-parameter.
///
/// # Safety
/// A non-null `p` points to writable memory for a `T`.
unsafe fn put<T>(p: *mut T, value: T, name: &str) -> Result<(), Failure> {
    if p.is_null() {
        return Err(fail(QCC_ERR_NULL, format!("`{name}` is NULL")));
    }
    // SAFETY: non-null, and writable by the caller's contract. `write`
    // does not drop what was there (uninitialized memory, for C).
    unsafe { p.write(value) };
    Ok(())
}

// ---- Library ------------------------------------------------------------

/// The library's version, a static NUL-terminated string.
#[unsafe(no_mangle)]
pub extern "C" fn qcc_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// A static description of a status code (`"ok"`, `"null pointer"`, ...).
#[unsafe(no_mangle)]
pub extern "C" fn qcc_status_string(status: c_int) -> *const c_char {
    let s: &'static str = match status {
        QCC_OK => "ok\0",
        QCC_ERR_NULL => "null pointer\0",
        QCC_ERR_ARGUMENT => "invalid argument\0",
        QCC_ERR_SIZE => "wrong buffer count or size\0",
        QCC_ERR_LOAD => "the model could not be loaded\0",
        QCC_ERR_COMPILE => "the model could not be compiled\0",
        QCC_ERR_RUN => "the model could not run\0",
        QCC_ERR_PANIC => "internal error\0",
        _ => "unknown status\0",
    };
    s.as_ptr().cast()
}

/// The message of the calling thread's last failed call (an empty string
/// if none failed). It stays valid until this thread's next failure.
#[unsafe(no_mangle)]
pub extern "C" fn qcc_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

// ---- Options ------------------------------------------------------------

/// Options of a compilation (`qcc_options` in C): what `qcc run` takes as
/// `--target`, `--dim`, `--passes`, `--requant` and `--dot-path`, and the
/// threads one run may use.
#[derive(Clone, Debug)]
pub struct QccOptions {
    target: Option<LayoutTarget>,
    threads: usize,
    dims: Vec<(String, usize)>,
    passes: Option<String>,
    requant: RequantMode,
    dot_path: Option<DotPath>,
    base_dir: Option<PathBuf>,
}

impl Default for QccOptions {
    fn default() -> Self {
        QccOptions {
            target: None,
            threads: 1,
            dims: Vec::new(),
            passes: None,
            requant: RequantMode::Float,
            dot_path: None,
            base_dir: None,
        }
    }
}

/// Makes options with the defaults: target `host`, 1 thread, no dims, the
/// default pipeline, `float` requantization, the host's best dot path.
///
/// # Safety
/// `out` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qcc_options_new(out: *mut *mut QccOptions) -> c_int {
    guard(|| {
        let opts = Box::into_raw(Box::default());
        // SAFETY: `out` is null (an error, after which the box is freed) or
        // writable by the contract.
        unsafe { put(out, opts, "out") }.inspect_err(|_| {
            // SAFETY: `opts` came from `Box::into_raw` just above.
            drop(unsafe { Box::from_raw(opts) });
        })
    })
}

/// Frees options (null is allowed and does nothing).
///
/// # Safety
/// `options` is null or from `qcc_options_new`, not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qcc_options_free(options: *mut QccOptions) {
    if !options.is_null() {
        // SAFETY: made by `Box::into_raw` in `qcc_options_new`, freed once.
        let b = unsafe { Box::from_raw(options) };
        let _ = catch_unwind(AssertUnwindSafe(move || drop(b)));
    }
}

/// Runs `set` on the options behind `options`.
///
/// # Safety
/// `options` is null or a live `QccOptions` nobody else uses meanwhile.
unsafe fn with_options(
    options: *mut QccOptions,
    set: impl FnOnce(&mut QccOptions) -> Result<(), Failure>,
) -> c_int {
    guard(|| {
        // SAFETY: by the caller's contract.
        let o = unsafe { arg_mut(options, "options") }?;
        set(o)
    })
}

/// The weight layout the passes pack for: `"host"` (the default: this
/// machine's, or the forced dot path's), `"portable"`, `"vnni"` or `"amx"`.
///
/// # Safety
/// `options` is null or live; `target` is null or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qcc_options_set_target(
    options: *mut QccOptions,
    target: *const c_char,
) -> c_int {
    // SAFETY: by the caller's contract.
    unsafe {
        with_options(options, |o| {
            o.target = match arg_str(target, "target")? {
                "host" => None,
                "portable" => Some(LayoutTarget::Portable),
                "vnni" => Some(LayoutTarget::Vnni),
                "amx" => Some(LayoutTarget::Amx),
                t => {
                    return Err(fail(
                        QCC_ERR_ARGUMENT,
                        format!(
                            "unknown target `{t}`; expected `host`, `portable`, `vnni` or `amx`"
                        ),
                    ));
                }
            };
            Ok(())
        })
    }
}

/// The threads one run may use (at least 1; default 1). Separate runs may
/// go on in parallel either way.
///
/// # Safety
/// `options` is null or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qcc_options_set_threads(
    options: *mut QccOptions,
    threads: usize,
) -> c_int {
    // SAFETY: by the caller's contract.
    unsafe {
        with_options(options, |o| {
            if threads == 0 {
                return Err(fail(QCC_ERR_ARGUMENT, "threads must be at least 1"));
            }
            o.threads = threads;
            Ok(())
        })
    }
}

/// The size of an ONNX model's symbolic dimension (`qcc run --dim
/// NAME=SIZE`); setting a name again replaces its size.
///
/// # Safety
/// `options` is null or live; `name` is null or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qcc_options_set_dim(
    options: *mut QccOptions,
    name: *const c_char,
    size: usize,
) -> c_int {
    // SAFETY: by the caller's contract.
    unsafe {
        with_options(options, |o| {
            let name = arg_str(name, "name")?;
            if name.is_empty() || size == 0 {
                return Err(fail(
                    QCC_ERR_ARGUMENT,
                    format!("dim `{name}={size}`: expected a name and a size of at least 1"),
                ));
            }
            o.dims.retain(|(n, _)| n != name);
            o.dims.push((name.to_string(), size));
            Ok(())
        })
    }
}

/// The pass pipeline (`qcc run --passes`): comma-separated pass names,
/// `"default"` or `"none"`. Unknown names are an error listing the valid
/// ones.
///
/// # Safety
/// `options` is null or live; `passes` is null or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qcc_options_set_passes(
    options: *mut QccOptions,
    passes: *const c_char,
) -> c_int {
    // SAFETY: by the caller's contract.
    unsafe {
        with_options(options, |o| {
            let spec = arg_str(passes, "passes")?;
            qcc_passes::parse_pipeline(spec).map_err(|e| fail(QCC_ERR_ARGUMENT, e))?;
            o.passes = Some(spec.to_string());
            Ok(())
        })
    }
}

/// The arithmetic of the requantize ops the passes create (`qcc run
/// --requant`): `"float"` (the default), `"single_round"` or
/// `"double_round"`.
///
/// # Safety
/// `options` is null or live; `mode` is null or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qcc_options_set_requant(
    options: *mut QccOptions,
    mode: *const c_char,
) -> c_int {
    // SAFETY: by the caller's contract.
    unsafe {
        with_options(options, |o| {
            o.requant = match arg_str(mode, "mode")? {
                "float" => RequantMode::Float,
                "single_round" => RequantMode::SingleRound,
                "double_round" => RequantMode::DoubleRound,
                m => {
                    return Err(fail(
                        QCC_ERR_ARGUMENT,
                        format!(
                            "unknown requantize mode `{m}`; expected `float`, `single_round` \
                             or `double_round`"
                        ),
                    ));
                }
            };
            Ok(())
        })
    }
}

/// Forces the JIT's dot-product path (`qcc run --dot-path`: `amx`,
/// `avx512vnni`, `avxvnni`, `avx2`, `clif128`, `scalar`); one this machine
/// cannot run is an error naming those it can.
///
/// # Safety
/// `options` is null or live; `path` is null or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qcc_options_set_dot_path(
    options: *mut QccOptions,
    path: *const c_char,
) -> c_int {
    // SAFETY: by the caller's contract.
    unsafe {
        with_options(options, |o| {
            let name = arg_str(path, "path")?;
            let supported = qcc_compiler::model::supported_paths();
            match DotPath::from_name(name) {
                Some(p) if supported.contains(&p) => {
                    o.dot_path = Some(p);
                    Ok(())
                }
                _ => {
                    let names: Vec<&str> = supported.iter().map(|p| p.name()).collect();
                    Err(fail(
                        QCC_ERR_ARGUMENT,
                        format!(
                            "unknown dot-product path `{name}`; this machine runs: {}",
                            names.join(", ")
                        ),
                    ))
                }
            }
        })
    }
}

/// The folder where a model compiled from a buffer finds its files: a text
/// graph's `dense_file` constants, an ONNX model's external data (a model
/// compiled from a file finds them beside it). Default: none, and a model
/// that needs such files is an error.
///
/// # Safety
/// `options` is null or live; `dir` is null or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qcc_options_set_base_dir(
    options: *mut QccOptions,
    dir: *const c_char,
) -> c_int {
    // SAFETY: by the caller's contract.
    unsafe {
        with_options(options, |o| {
            if dir.is_null() {
                return Err(fail(QCC_ERR_NULL, "`dir` is NULL"));
            }
            // SAFETY: non-null, NUL-terminated by the contract.
            o.base_dir = Some(path_of(CStr::from_ptr(dir))?);
            Ok(())
        })
    }
}

// ---- Models -------------------------------------------------------------

/// A graph input or output as C sees it (`qcc_tensor_info`). Its pointers
/// belong to the model and live as long as it does.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct QccTensorInfo {
    /// The tensor's name, NUL-terminated.
    pub name: *const c_char,
    /// The element type of its buffers (`QCC_DTYPE_*`).
    pub dtype: i32,
    /// `QCC_QUANT_NONE`, `QCC_QUANT_PER_TENSOR` or `QCC_QUANT_PER_AXIS`.
    pub quant: i32,
    /// The number of dimensions.
    pub rank: usize,
    /// `rank` dimensions, outermost first.
    pub shape: *const usize,
    /// The product of the dimensions.
    pub num_elements: usize,
    /// The size of a buffer for it: `num_elements` times the element size
    /// (1 byte for the 4-bit types).
    pub num_bytes: usize,
    /// The values an integer tensor may hold, inclusive (a quantized type's
    /// storage range, narrow or full); 0 and 0 for f32.
    pub min_value: i64,
    pub max_value: i64,
    /// The quantized axis (`QCC_QUANT_PER_AXIS`), else -1.
    pub axis: i64,
    /// How many scales and zero points: 0, 1, or `shape[axis]`.
    pub num_scales: usize,
    /// `num_scales` scales (NULL when 0).
    pub scales: *const f32,
    /// `num_scales` zero points (NULL when 0).
    pub zero_points: *const i64,
}

/// One input or output, owned by the model.
#[derive(Debug)]
struct Info {
    name: CString,
    storage: ScalarType,
    shape: Vec<usize>,
    elements: usize,
    bytes: usize,
    range: (i64, i64),
    /// `(axis, scales, zero points)` of a quantized tensor.
    quant: Option<(Option<usize>, Vec<f32>, Vec<i64>)>,
}

/// The start of `v`, or NULL for an empty slice.
fn ptr_or_null<T>(v: &[T]) -> *const T {
    if v.is_empty() {
        std::ptr::null()
    } else {
        v.as_ptr()
    }
}

fn dtype_code(t: ScalarType) -> i32 {
    match t {
        ScalarType::F32 => QCC_DTYPE_F32,
        ScalarType::I32 => QCC_DTYPE_I32,
        ScalarType::I16 => QCC_DTYPE_I16,
        ScalarType::U16 => QCC_DTYPE_U16,
        ScalarType::I8 => QCC_DTYPE_I8,
        ScalarType::U8 => QCC_DTYPE_U8,
        ScalarType::I4 => QCC_DTYPE_I4,
        ScalarType::U4 => QCC_DTYPE_U4,
    }
}

/// Bytes per element in a C buffer (the 4-bit types take one byte each).
fn elem_bytes(t: ScalarType) -> usize {
    match t {
        ScalarType::F32 | ScalarType::I32 => 4,
        ScalarType::I16 | ScalarType::U16 => 2,
        ScalarType::I8 | ScalarType::U8 | ScalarType::I4 | ScalarType::U4 => 1,
    }
}

impl Info {
    fn new(name: &str, ty: &TensorType) -> Info {
        let (storage, quant) = match &ty.elem {
            ElemType::Scalar(s) => (*s, None),
            ElemType::Quant(q) => (
                q.storage,
                Some((q.axis, q.scales.clone(), q.zero_points.clone())),
            ),
        };
        let elements = ty.shape.iter().product();
        Info {
            name: CString::new(name.replace('\0', "\\0")).unwrap_or_default(),
            storage,
            shape: ty.shape.clone(),
            elements,
            bytes: elements * elem_bytes(storage),
            range: ty.elem.int_range().unwrap_or((0, 0)),
            quant,
        }
    }

    fn to_c(&self) -> QccTensorInfo {
        let (kind, axis, scales, zps): (i32, i64, &[f32], &[i64]) = match &self.quant {
            None => (QCC_QUANT_NONE, -1, &[], &[]),
            Some((None, s, z)) => (QCC_QUANT_PER_TENSOR, -1, s, z),
            Some((Some(a), s, z)) => (QCC_QUANT_PER_AXIS, *a as i64, s, z),
        };
        QccTensorInfo {
            name: self.name.as_ptr(),
            dtype: dtype_code(self.storage),
            quant: kind,
            rank: self.shape.len(),
            shape: self.shape.as_ptr(),
            num_elements: self.elements,
            num_bytes: self.bytes,
            min_value: self.range.0,
            max_value: self.range.1,
            axis,
            num_scales: scales.len(),
            scales: ptr_or_null(scales),
            zero_points: ptr_or_null(zps),
        }
    }
}

/// The tensors of one run, kept for the next (so that a steady-state run
/// allocates nothing).
#[derive(Debug)]
struct Buffers {
    inputs: Vec<Tensor>,
    outputs: Vec<Tensor>,
}

/// A compiled model (`qcc_model` in C): the graph after the pass pipeline
/// (for `qcc_model_run_interpreter`), its machine code, and its inputs and
/// outputs as C sees them. Runs may go on from many threads at once.
#[derive(Debug)]
pub struct QccModel {
    graph: Graph,
    code: CompiledModel,
    inputs: Vec<Info>,
    outputs: Vec<Info>,
    /// Spare run buffers, one set per run going on at once at most.
    spare: Mutex<Vec<Buffers>>,
}

/// Models are shared by the threads that run them.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<QccModel>();
};

fn load_failure(e: LoadError) -> Failure {
    fail(QCC_ERR_LOAD, e.render())
}

impl QccModel {
    fn compile(graph: Graph, name: &str, options: &QccOptions) -> Result<QccModel, Failure> {
        let pipeline = CompileOptions {
            passes: options.passes.clone(),
            requant: options.requant,
            target: options
                .target
                .or(options.dot_path.map(qcc_compiler::layout_target)),
            verify_each: false,
        };
        let graph = qcc_compiler::compile(graph, &pipeline)
            .map_err(|e| fail(QCC_ERR_COMPILE, format!("error: {name}: {e}\n")))?;
        let features = match options.dot_path {
            Some(p) => TargetFeatures::Force(p),
            None => TargetFeatures::Host,
        };
        let code = Compiler::new()
            .run_passes(false)
            .threads(options.threads)
            .target_features(features)
            .compile(&graph)
            .map_err(|e| fail(QCC_ERR_COMPILE, format!("error: {name}: {e}\n")))?;
        let inputs = graph
            .inputs()
            .iter()
            .map(|&v| Info::new(graph.node(v).name.as_deref().unwrap_or(""), graph.ty(v)))
            .collect();
        let outputs = graph
            .outputs()
            .iter()
            .map(|o| Info::new(&o.name, graph.ty(o.value)))
            .collect();
        Ok(QccModel {
            graph,
            code,
            inputs,
            outputs,
            spare: Mutex::new(Vec::new()),
        })
    }

    fn new_buffers(&self) -> Buffers {
        Buffers {
            inputs: self
                .inputs
                .iter()
                .map(|i| Tensor::new(i.shape.clone(), TensorData::zeros(i.storage, i.elements)))
                .collect(),
            outputs: self.code.new_outputs(),
        }
    }
}

fn import_options(options: &QccOptions) -> ImportOptions {
    let mut o = ImportOptions::default();
    o.dims.extend(options.dims.iter().cloned());
    o
}

/// Hands a compiled model to C.
///
/// # Safety
/// `out` is null or writable.
unsafe fn give_model(out: *mut *mut QccModel, model: QccModel) -> Result<(), Failure> {
    let p = Box::into_raw(Box::new(model));
    // SAFETY: by the caller's contract; on failure the box is freed.
    unsafe { put(out, p, "out") }.inspect_err(|_| {
        // SAFETY: `p` came from `Box::into_raw` just above.
        drop(unsafe { Box::from_raw(p) });
    })
}

/// Compiles a model file for this machine: an ONNX model if `path` ends in
/// `.onnx`, else a qcc text graph (its `dense_file` constants found beside
/// it). `options` may be NULL (the defaults). On success `*out` is the
/// model, to be freed with `qcc_model_free`; on failure `*out` is NULL.
///
/// # Safety
/// `path` is null or a NUL-terminated string; `options` is null or live;
/// `out` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qcc_compile_file(
    path: *const c_char,
    options: *const QccOptions,
    out: *mut *mut QccModel,
) -> c_int {
    guard(|| {
        // SAFETY: by the caller's contract.
        unsafe { put(out, std::ptr::null_mut(), "out") }?;
        if path.is_null() {
            return Err(fail(QCC_ERR_NULL, "`path` is NULL"));
        }
        // SAFETY: non-null and NUL-terminated by the contract.
        let path = path_of(unsafe { CStr::from_ptr(path) })?;
        let default = QccOptions::default();
        // SAFETY: null (the defaults) or live by the contract.
        let options = unsafe { options.as_ref() }.unwrap_or(&default);
        let graph =
            qcc_compiler::load_model(&path, &LoadOptions::default(), &import_options(options))
                .map_err(load_failure)?;
        let model = QccModel::compile(graph, &path.display().to_string(), options)?;
        // SAFETY: by the caller's contract.
        unsafe { give_model(out, model) }
    })
}

#[cfg(unix)]
fn path_of(c: &CStr) -> Result<PathBuf, Failure> {
    use std::os::unix::ffi::OsStrExt;
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(c.to_bytes())))
}

#[cfg(not(unix))]
fn path_of(c: &CStr) -> Result<PathBuf, Failure> {
    c.to_str()
        .map(PathBuf::from)
        .map_err(|e| fail(QCC_ERR_ARGUMENT, format!("`path` is not UTF-8: {e}")))
}

/// Compiles a model held in memory: `len` bytes at `data`, a qcc text
/// graph or an ONNX model as `format` says (`QCC_FORMAT_*`). `name` (NULL:
/// `"<buffer>"`) is the name errors show, `file:line:column` for text.
/// A text graph's `dense_file` constants and an ONNX model's external data
/// are found in the options' base folder (`qcc_options_set_base_dir`;
/// without one they are an error). `options` may be NULL. On success
/// `*out` is the model; on failure NULL.
///
/// # Safety
/// `data` is null or `len` readable bytes; `name` is null or a
/// NUL-terminated string; `options` is null or live; `out` is null or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qcc_compile_buffer(
    data: *const c_void,
    len: usize,
    format: i32,
    name: *const c_char,
    options: *const QccOptions,
    out: *mut *mut QccModel,
) -> c_int {
    guard(|| {
        // SAFETY: by the caller's contract.
        unsafe { put(out, std::ptr::null_mut(), "out") }?;
        if data.is_null() {
            return Err(fail(QCC_ERR_NULL, "`data` is NULL"));
        }
        // SAFETY: non-null, `len` readable bytes by the contract.
        let bytes = unsafe { arg_bytes(data, len, "data") }?;
        let name = if name.is_null() {
            "<buffer>"
        } else {
            // SAFETY: non-null, NUL-terminated by the contract.
            unsafe { arg_str(name, "name") }?
        };
        let default = QccOptions::default();
        // SAFETY: null (the defaults) or live by the contract.
        let options = unsafe { options.as_ref() }.unwrap_or(&default);
        let text = match format {
            QCC_FORMAT_AUTO => std::str::from_utf8(bytes).ok().filter(|t| {
                t.chars()
                    .find(|c| !c.is_whitespace())
                    .is_some_and(|c| !c.is_control())
            }),
            QCC_FORMAT_TEXT => Some(std::str::from_utf8(bytes).map_err(|e| {
                fail(
                    QCC_ERR_LOAD,
                    format!(
                        "error: `{name}` is not UTF-8 text (invalid byte at offset {})\n",
                        e.valid_up_to()
                    ),
                )
            })?),
            QCC_FORMAT_ONNX => None,
            f => {
                return Err(fail(
                    QCC_ERR_ARGUMENT,
                    format!(
                        "unknown format {f}; expected QCC_FORMAT_AUTO (0), QCC_FORMAT_TEXT (1) \
                         or QCC_FORMAT_ONNX (2)"
                    ),
                ));
            }
        };
        let load = LoadOptions::default();
        let base = options.base_dir.as_deref();
        let graph = match text {
            Some(t) => qcc_compiler::load_str_with(t, name, base, &load),
            None => {
                qcc_compiler::load_onnx_bytes(bytes, name, base, &load, &import_options(options))
            }
        }
        .map_err(load_failure)?;
        let model = QccModel::compile(graph, name, options)?;
        // SAFETY: by the caller's contract.
        unsafe { give_model(out, model) }
    })
}

/// Frees a model (null is allowed and does nothing). No run of it may be
/// going on.
///
/// # Safety
/// `model` is null or from `qcc_compile_*`, not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qcc_model_free(model: *mut QccModel) {
    if !model.is_null() {
        // SAFETY: made by `Box::into_raw` in `give_model`, freed once.
        let b = unsafe { Box::from_raw(model) };
        let _ = catch_unwind(AssertUnwindSafe(move || drop(b)));
    }
}

/// The number of inputs.
///
/// # Safety
/// `model` is null or live; `count` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qcc_model_num_inputs(model: *const QccModel, count: *mut usize) -> c_int {
    guard(|| {
        // SAFETY: by the caller's contract.
        let m = unsafe { arg(model, "model") }?;
        // SAFETY: by the caller's contract.
        unsafe { put(count, m.inputs.len(), "count") }
    })
}

/// The number of outputs.
///
/// # Safety
/// `model` is null or live; `count` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qcc_model_num_outputs(model: *const QccModel, count: *mut usize) -> c_int {
    guard(|| {
        // SAFETY: by the caller's contract.
        let m = unsafe { arg(model, "model") }?;
        // SAFETY: by the caller's contract.
        unsafe { put(count, m.outputs.len(), "count") }
    })
}

/// Fills `*info` from input or output `index` of `list`.
///
/// # Safety
/// `model` is null or live; `info` is null or writable.
unsafe fn tensor_info(
    model: *const QccModel,
    index: usize,
    info: *mut QccTensorInfo,
    outputs: bool,
) -> c_int {
    guard(|| {
        // SAFETY: by the caller's contract.
        let m = unsafe { arg(model, "model") }?;
        let (list, what) = if outputs {
            (&m.outputs, "output")
        } else {
            (&m.inputs, "input")
        };
        let t = list.get(index).ok_or_else(|| {
            fail(
                QCC_ERR_ARGUMENT,
                format!(
                    "{what} index {index} is out of range (the model has {} {what}s)",
                    list.len()
                ),
            )
        })?;
        // SAFETY: by the caller's contract.
        unsafe { put(info, t.to_c(), "info") }
    })
}

/// Describes input `index` (name, element type, shape, byte size, storage
/// range, quantization). The pointers in `*info` live as long as the model.
///
/// # Safety
/// `model` is null or live; `info` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qcc_model_input_info(
    model: *const QccModel,
    index: usize,
    info: *mut QccTensorInfo,
) -> c_int {
    // SAFETY: by the caller's contract.
    unsafe { tensor_info(model, index, info, false) }
}

/// Describes output `index`, as `qcc_model_input_info` does an input.
///
/// # Safety
/// `model` is null or live; `info` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qcc_model_output_info(
    model: *const QccModel,
    index: usize,
    info: *mut QccTensorInfo,
) -> c_int {
    // SAFETY: by the caller's contract.
    unsafe { tensor_info(model, index, info, true) }
}

/// The bytes of a tensor's data, as one slice.
fn data_bytes(d: &TensorData) -> Option<&[u8]> {
    fn raw<T: Copy>(v: &[T]) -> &[u8] {
        // SAFETY: only called with primitive integers and f32 (no padding,
        // every byte initialized); u8 has alignment 1; the length is the
        // slice's size in bytes.
        unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
    }
    Some(match d {
        TensorData::F32(v) => raw(v),
        TensorData::I32(v) => raw(v),
        TensorData::I16(v) => raw(v),
        TensorData::U16(v) => raw(v),
        TensorData::I8(v) => raw(v),
        TensorData::U8(v) => v,
        TensorData::I4(_) | TensorData::U4(_) => return None,
    })
}

/// The bytes of a tensor's data, writable.
fn data_bytes_mut(d: &mut TensorData) -> Option<&mut [u8]> {
    fn raw<T: Copy>(v: &mut [T]) -> &mut [u8] {
        // SAFETY: only called with primitive integers and f32, for which
        // every bit pattern is a valid value; u8 has alignment 1; the
        // length is the slice's size in bytes; `v` is borrowed mutably for
        // the result's lifetime.
        unsafe {
            std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(v))
        }
    }
    Some(match d {
        TensorData::F32(v) => raw(v),
        TensorData::I32(v) => raw(v),
        TensorData::I16(v) => raw(v),
        TensorData::U16(v) => raw(v),
        TensorData::I8(v) => raw(v),
        TensorData::U8(v) => v,
        TensorData::I4(_) | TensorData::U4(_) => return None,
    })
}

/// Reads the caller's input buffers into `tensors`, every count and size
/// checked first.
///
/// # Safety
/// `inputs` / `sizes` are null or `count` readable entries; each non-null
/// input points to its size in readable bytes.
unsafe fn read_inputs(
    m: &QccModel,
    inputs: *const *const c_void,
    sizes: *const usize,
    count: usize,
    tensors: &mut [Tensor],
) -> Result<(), Failure> {
    check_count(m.inputs.len(), count, "inputs")?;
    // SAFETY: by the caller's contract (`count` entries each).
    let (ptrs, sizes) = unsafe {
        (
            array(inputs, count, "inputs")?,
            array(sizes, count, "input_sizes")?,
        )
    };
    for (i, info) in m.inputs.iter().enumerate() {
        check_size(info, sizes[i], "input", i)?;
    }
    for (i, (info, t)) in m.inputs.iter().zip(tensors.iter_mut()).enumerate() {
        // SAFETY: the size was checked against the model; the buffer holds
        // that many bytes by the caller's contract.
        let src = unsafe { arg_bytes(ptrs[i], info.bytes, &format!("inputs[{i}]")) }?;
        match data_bytes_mut(&mut t.data) {
            Some(dst) => dst.copy_from_slice(src),
            None => {
                let vals: Vec<i64> = if info.storage == ScalarType::I4 {
                    src.iter().map(|&b| i64::from(b as i8)).collect()
                } else {
                    src.iter().map(|&b| i64::from(b)).collect()
                };
                t.data = TensorData::from_i64s(info.storage, &vals).map_err(|e| {
                    fail(
                        QCC_ERR_RUN,
                        format!("input `{}`: {e}", info.name.to_string_lossy()),
                    )
                })?;
            }
        }
    }
    Ok(())
}

fn check_count(expected: usize, count: usize, what: &str) -> Result<(), Failure> {
    if count != expected {
        return Err(fail(
            QCC_ERR_SIZE,
            format!("the model has {expected} {what}, {count} were given"),
        ));
    }
    Ok(())
}

fn check_size(info: &Info, size: usize, what: &str, i: usize) -> Result<(), Failure> {
    if size != info.bytes {
        return Err(fail(
            QCC_ERR_SIZE,
            format!(
                "{what} {i} (`{}`, {:?} {}): the buffer has {size} bytes, the tensor {}",
                info.name.to_string_lossy(),
                info.shape,
                info.storage.name(),
                info.bytes
            ),
        ));
    }
    Ok(())
}

/// `count` entries at `p` (`p` may be null when `count` is 0).
///
/// # Safety
/// A non-null `p` points to `count` readable entries alive during `'a`.
unsafe fn array<'a, T>(p: *const T, count: usize, name: &str) -> Result<&'a [T], Failure> {
    if count == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(fail(QCC_ERR_NULL, format!("`{name}` is NULL")));
    }
    // SAFETY: non-null and `count` readable entries by the contract (which
    // also bounds the size by isize::MAX: it is an allocation).
    Ok(unsafe { std::slice::from_raw_parts(p, count) })
}

/// Writes `tensors` to the caller's output buffers, every count and size
/// checked first (before anything runs).
///
/// # Safety
/// `outputs` / `sizes` are null or `count` readable entries; each non-null
/// output points to its size in writable bytes.
unsafe fn output_buffers<'a>(
    m: &QccModel,
    outputs: *const *mut c_void,
    sizes: *const usize,
    count: usize,
) -> Result<&'a [*mut c_void], Failure> {
    check_count(m.outputs.len(), count, "outputs")?;
    // SAFETY: by the caller's contract (`count` entries each).
    let (ptrs, sizes) = unsafe {
        (
            array(outputs, count, "outputs")?,
            array(sizes, count, "output_sizes")?,
        )
    };
    for (i, info) in m.outputs.iter().enumerate() {
        check_size(info, sizes[i], "output", i)?;
        if ptrs[i].is_null() && info.bytes > 0 {
            return Err(fail(QCC_ERR_NULL, format!("`outputs[{i}]` is NULL")));
        }
    }
    Ok(ptrs)
}

/// Copies the outputs into the caller's buffers.
///
/// # Safety
/// Each of `ptrs` is checked by `output_buffers`: non-null (or a 0-byte
/// tensor) and as many writable bytes as its tensor has.
unsafe fn write_outputs(m: &QccModel, ptrs: &[*mut c_void], outs: &[Tensor]) {
    for ((info, &p), t) in m.outputs.iter().zip(ptrs).zip(outs) {
        if info.bytes == 0 {
            continue;
        }
        let unpacked;
        let src: &[u8] = match data_bytes(&t.data) {
            Some(b) => b,
            None => {
                unpacked = t
                    .data
                    .to_i64s()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|v| v as u8)
                    .collect::<Vec<u8>>();
                &unpacked
            }
        };
        let n = src.len().min(info.bytes);
        // SAFETY: `p` has `info.bytes` ≥ `n` writable bytes (checked size,
        // the caller's contract); a raw copy makes no reference to the
        // caller's memory, so buffers that overlap others are not UB here.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), p.cast::<u8>(), n) };
    }
}

/// Runs the model's machine code: `num_inputs` input buffers (in the
/// model's input order, `input_sizes[i]` bytes each) and `num_outputs`
/// output buffers (`output_sizes[i]` bytes each). Counts and sizes must be
/// the model's (`qcc_tensor_info.num_bytes`), else `QCC_ERR_SIZE` and
/// nothing runs. Buffers are dense, row-major, in the machine's byte
/// order, with no alignment required. Many threads may run one model at
/// once.
///
/// # Safety
/// `model` is null or live; the arrays are null or have the given number of
/// entries; every buffer pointer is null or points to as many bytes as its
/// size says (readable for inputs, writable for outputs).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qcc_model_run(
    model: *const QccModel,
    inputs: *const *const c_void,
    input_sizes: *const usize,
    num_inputs: usize,
    outputs: *const *mut c_void,
    output_sizes: *const usize,
    num_outputs: usize,
) -> c_int {
    // SAFETY: by the caller's contract.
    unsafe {
        run(
            model,
            (inputs, input_sizes, num_inputs),
            (outputs, output_sizes, num_outputs),
            Backend::Jit(None),
        )
    }
}

/// `qcc_model_run` on the reference interpreter (the specification),
/// running the same compiled graph: the two agree bit for bit. Slow; for
/// checking.
///
/// # Safety
/// As `qcc_model_run`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qcc_model_run_interpreter(
    model: *const QccModel,
    inputs: *const *const c_void,
    input_sizes: *const usize,
    num_inputs: usize,
    outputs: *const *mut c_void,
    output_sizes: *const usize,
    num_outputs: usize,
) -> c_int {
    // SAFETY: by the caller's contract.
    unsafe {
        run(
            model,
            (inputs, input_sizes, num_inputs),
            (outputs, output_sizes, num_outputs),
            Backend::Interp,
        )
    }
}

/// The buffers of one side of a run: pointers, sizes, count.
type Side<P> = (*const P, *const usize, usize);

/// # Safety
/// As `qcc_model_run`.
unsafe fn run(
    model: *const QccModel,
    (inputs, input_sizes, num_inputs): Side<*const c_void>,
    (outputs, output_sizes, num_outputs): Side<*mut c_void>,
    backend: Backend,
) -> c_int {
    guard(|| {
        // SAFETY: by the caller's contract.
        let m = unsafe { arg(model, "model") }?;
        // SAFETY: by the caller's contract.
        let out_ptrs = unsafe { output_buffers(m, outputs, output_sizes, num_outputs) }?;
        let spare = m.spare.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let mut bufs = spare.unwrap_or_else(|| m.new_buffers());
        // SAFETY: by the caller's contract.
        unsafe { read_inputs(m, inputs, input_sizes, num_inputs, &mut bufs.inputs) }?;
        let run_error = |e: &dyn std::fmt::Display| fail(QCC_ERR_RUN, e.to_string());
        match backend {
            Backend::Jit(_) => {
                // `run_into` checks the inputs (their values too) first.
                m.code
                    .run_into(&bufs.inputs, &mut bufs.outputs)
                    .map_err(|e| run_error(&e))?;
                // SAFETY: checked by `output_buffers`.
                unsafe { write_outputs(m, out_ptrs, &bufs.outputs) };
            }
            Backend::Interp => {
                let outs = qcc_compiler::run(&m.graph, &bufs.inputs, Backend::Interp)
                    .map_err(|e| run_error(&e))?;
                // SAFETY: checked by `output_buffers`.
                unsafe { write_outputs(m, out_ptrs, &outs) };
            }
        }
        m.spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(bufs);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_error() -> String {
        // SAFETY: a NUL-terminated string owned by this thread.
        unsafe { CStr::from_ptr(qcc_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    /// A panic inside an entry point's body is a status, not an unwind.
    #[test]
    fn a_panic_stops_at_the_boundary() {
        let status = guard(|| panic!("boom"));
        assert_eq!(status, QCC_ERR_PANIC);
        assert!(last_error().contains("boom"), "{}", last_error());
        let status = guard(|| Err(fail(QCC_ERR_SIZE, "too small")));
        assert_eq!(status, QCC_ERR_SIZE);
        assert_eq!(last_error(), "too small");
    }

    #[test]
    fn every_status_has_a_description() {
        for s in QCC_OK..=QCC_ERR_PANIC {
            // SAFETY: a static NUL-terminated string.
            let d = unsafe { CStr::from_ptr(qcc_status_string(s)) };
            assert_ne!(d.to_str().unwrap(), "unknown status", "status {s}");
        }
    }
}
