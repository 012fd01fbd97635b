//! # qcc-compiler: the library that host applications embed
//!
//! It ties the stages together: load a graph from text ([`load_file`],
//! [`load_str`]), verify it, run the pass pipeline ([`compile`]) and execute
//! it ([`run`]). Every failure is a value: a [`LoadError`] carries the
//! diagnostics and the source they point into, and renders to the
//! rustc-style text that the `qcc` command prints ([`LoadError::render`]).
//!
//! API boundary: this crate prints nothing and parses no command lines (that
//! is `qcc-tools`); it never panics on bad input.
//!
//! ```
//! use qcc_compiler::{load_str, run, Backend};
//! use qcc_ir::Tensor;
//!
//! let text = "graph @g(%x: tensor<2xf32>) -> (%y: tensor<2xf32>) {\n\
//!             %r = relu %x : tensor<2xf32>\n  return %r\n}\n";
//! let graph = load_str(text, "g.txt", None).expect("a valid graph");
//! let out = run(&graph, &[Tensor::f32(vec![2], vec![-1.0, 2.0])], Backend::Interp).unwrap();
//! assert_eq!(out[0], Tensor::f32(vec![2], vec![0.0, 2.0]));
//! ```

#![forbid(unsafe_code)]

pub mod aot;
pub mod inputs;
pub mod model;
pub mod output;
pub mod quantize;
pub mod session;

use qcc_ir::diag::render;
use qcc_ir::{Diagnostic, Graph, Limits, Tensor};
use std::path::{Path, PathBuf};

pub use inputs::random_inputs;
pub use qcc_onnx as onnx;
pub use qcc_onnx::ImportOptions;
pub use session::Session;

/// The text a graph was loaded from, kept so diagnostics can be rendered.
#[derive(Clone, Debug)]
pub struct Source {
    /// The name shown in diagnostics (the path as the user gave it).
    pub name: String,
    pub text: String,
}

/// A graph that could not be loaded: the diagnostics and the source they
/// point into (none when the file itself could not be read).
#[derive(Clone, Debug)]
pub struct LoadError {
    pub diagnostics: Vec<Diagnostic>,
    pub source: Option<Source>,
}

impl LoadError {
    fn without_source(d: Diagnostic) -> LoadError {
        LoadError {
            diagnostics: vec![d],
            source: None,
        }
    }

    /// The diagnostics as plain text, rustc style.
    pub fn render(&self) -> String {
        match &self.source {
            Some(s) => render(&self.diagnostics, &s.name, &s.text),
            None => self
                .diagnostics
                .iter()
                .map(|d| format!("error: {}\n", d.message))
                .collect(),
        }
    }
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for LoadError {}

/// How graphs are loaded.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Resource limits checked before anything is allocated for a value.
    pub limits: Limits,
}

/// Parses and verifies a graph from text. `name` is shown in diagnostics;
/// `base_dir` is where `dense_file<"...">` paths are looked up.
pub fn load_str(text: &str, name: &str, base_dir: Option<&Path>) -> Result<Graph, LoadError> {
    load_str_with(text, name, base_dir, &LoadOptions::default())
}

/// [`load_str`] with options.
pub fn load_str_with(
    text: &str,
    name: &str,
    base_dir: Option<&Path>,
    options: &LoadOptions,
) -> Result<Graph, LoadError> {
    let source = || {
        Some(Source {
            name: name.to_string(),
            text: text.to_string(),
        })
    };
    let graph = qcc_ir::text::parse(text, base_dir).map_err(|diagnostics| LoadError {
        diagnostics,
        source: source(),
    })?;
    qcc_ir::verify::verify_with(&graph, &options.limits).map_err(|diagnostics| LoadError {
        diagnostics,
        source: source(),
    })?;
    Ok(graph)
}

/// Reads, parses and verifies a graph file. External `.npy` constants are
/// found relative to the file's folder.
pub fn load_file(path: &Path) -> Result<Graph, LoadError> {
    load_file_with(path, &LoadOptions::default())
}

/// [`load_file`] with options.
pub fn load_file_with(path: &Path, options: &LoadOptions) -> Result<Graph, LoadError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        LoadError::without_source(Diagnostic::error(format!("cannot read `{name}`: {e}")))
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        LoadError::without_source(Diagnostic::error(format!(
            "`{name}` is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )))
    })?;
    let base: PathBuf = path.parent().map(Path::to_path_buf).unwrap_or_default();
    load_str_with(&text, &name, Some(&base), options)
}

/// Imports an ONNX model (through `qcc-onnx`) and verifies the result with
/// the given limits. Import errors name the node, the op and the reason.
pub fn load_onnx(
    path: &Path,
    options: &LoadOptions,
    onnx: &qcc_onnx::ImportOptions,
) -> Result<Graph, LoadError> {
    let name = path.display().to_string();
    let graph = qcc_onnx::import_file(path, onnx)
        .map_err(|e| LoadError::without_source(Diagnostic::error(format!("`{name}`: {e}"))))?;
    verified(graph, options)
}

/// An imported graph, verified with the limits of `options`.
fn verified(graph: Graph, options: &LoadOptions) -> Result<Graph, LoadError> {
    qcc_ir::verify::verify_with(&graph, &options.limits).map_err(|diagnostics| LoadError {
        diagnostics,
        source: None,
    })?;
    Ok(graph)
}

/// [`load_onnx`] for a model given as its bytes (the Python binding's
/// `qcc.compile(bytes)`): `name` is shown in errors, and external data
/// files are looked up in `base_dir` (none: a model with external data is
/// an error).
pub fn load_onnx_bytes(
    bytes: &[u8],
    name: &str,
    base_dir: Option<&Path>,
    options: &LoadOptions,
    onnx: &qcc_onnx::ImportOptions,
) -> Result<Graph, LoadError> {
    let graph = qcc_onnx::import_bytes(bytes, base_dir, onnx)
        .map_err(|e| LoadError::without_source(Diagnostic::error(format!("`{name}`: {e}"))))?;
    verified(graph, options)
}

/// Loads a model by its file name: `.onnx` files through [`load_onnx`],
/// anything else as a qcc text graph ([`load_file_with`]).
pub fn load_model(
    path: &Path,
    options: &LoadOptions,
    onnx: &qcc_onnx::ImportOptions,
) -> Result<Graph, LoadError> {
    if is_onnx(path) {
        load_onnx(path, options, onnx)
    } else {
        load_file_with(path, options)
    }
}

/// True for a path ending in `.onnx`.
pub fn is_onnx(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}

/// Options of [`compile`].
#[derive(Clone, Debug, Default)]
pub struct CompileOptions {
    /// The pass list, as `qcc compile --passes` takes it (comma-separated
    /// pass names, `none`, `default`); `None` runs the default pipeline.
    pub passes: Option<String>,
    /// The arithmetic of the requantize ops the passes create.
    pub requant: qcc_ir::RequantMode,
    /// The kernels `pick-layout` packs constant weights for; `None`: the
    /// ones this host runs ([`layout_target`] of the JIT's best path).
    pub target: Option<qcc_passes::LayoutTarget>,
    /// Verify the graph after every pass, not only at the end (see
    /// [`qcc_passes::PassOptions::verify_each`]).
    pub verify_each: bool,
}

pub use qcc_passes::LayoutTarget;

/// The weight layout the JIT's dot-product path `path` reads: AMX tiles,
/// the VNNI-style panels (the zmm and ymm micro-kernels and Cranelift's
/// 128-bit tree read the same panels), or row-major for the scalar loops.
pub fn layout_target(path: model::DotPath) -> LayoutTarget {
    use model::DotPath;
    match path {
        DotPath::Amx => LayoutTarget::Amx,
        DotPath::Avx512Vnni | DotPath::AvxVnni | DotPath::Avx2 | DotPath::Clif128 => {
            LayoutTarget::Vnni
        }
        DotPath::Scalar => LayoutTarget::Portable,
    }
}

/// The layout target of this host (its best dot-product path, detected
/// once by `qcc_codegen`).
pub fn host_layout_target() -> LayoutTarget {
    layout_target(model::best_path())
}

/// Why [`compile`] failed: a pass list naming an unknown pass, or a pass
/// that produced an invalid graph (a bug in that pass).
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("{0}")]
    Pipeline(String),
    #[error(transparent)]
    Pass(#[from] qcc_passes::PipelineError),
}

/// Runs the pass pipeline of `options` on a verified graph; the result is
/// verified again (after every pass with `verify_each`), and an invalid
/// graph is reported against the pass that produced it.
pub fn compile(graph: Graph, options: &CompileOptions) -> Result<Graph, CompileError> {
    compile_with(graph, options, &mut |_, _| {}).map(|(g, _)| g)
}

/// What one pass did: its name, time, stats and remarks.
pub use qcc_passes::PassRun;

/// [`compile`], also returning what each pass did (times, stats, remarks);
/// `after_pass` sees the graph after every pass.
pub fn compile_with(
    graph: Graph,
    options: &CompileOptions,
    after_pass: &mut dyn FnMut(&PassRun, &Graph),
) -> Result<(Graph, Vec<PassRun>), CompileError> {
    let spec = options.passes.as_deref().unwrap_or("default");
    let passes = qcc_passes::parse_pipeline(spec).map_err(CompileError::Pipeline)?;
    let pass_options = qcc_passes::PassOptions {
        requant: options.requant,
        target: options.target.unwrap_or_else(host_layout_target),
        verify_each: options.verify_each,
    };
    Ok(qcc_passes::run_pipeline(
        graph,
        &passes,
        &pass_options,
        after_pass,
    )?)
}

/// How a graph is executed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// The reference interpreter.
    #[default]
    Interp,
    /// Machine code from the Cranelift JIT ([`model::Compiler`]), with the
    /// host's best dot-product path, or the one given.
    Jit(Option<model::DotPath>),
}

/// A run-time failure (inputs that do not fit the graph, or an op the backend
/// cannot execute).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Interp(#[from] qcc_ir::interp::InterpError),
    #[error(transparent)]
    Jit(#[from] model::RunError),
    #[error(transparent)]
    Compile(#[from] model::CompileError),
}

/// Executes a verified graph on inputs given in the order of its inputs.
/// No passes run here: both backends execute the graph as given, so their
/// results can be compared bit for bit.
pub fn run(graph: &Graph, inputs: &[Tensor], backend: Backend) -> Result<Vec<Tensor>, RunError> {
    match backend {
        Backend::Interp => Ok(qcc_ir::interp::run(graph, inputs)?),
        Backend::Jit(path) => {
            let features = match path {
                Some(p) => model::TargetFeatures::Force(p),
                None => model::TargetFeatures::Host,
            };
            let m = model::Compiler::new()
                .run_passes(false)
                .target_features(features)
                .compile(graph)?;
            Ok(m.run(inputs)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model's bytes load to the same graph as its file, and bytes that
    /// are no ONNX model are a located error, not a panic.
    #[test]
    fn onnx_bytes_load_like_the_file() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../onnx/testdata/backend/test_neg/model.onnx");
        let (options, onnx) = (LoadOptions::default(), ImportOptions::default());
        let from_file = load_onnx(&path, &options, &onnx).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let from_bytes = load_onnx_bytes(&bytes, "neg.onnx", None, &options, &onnx).unwrap();
        assert_eq!(from_file, from_bytes);
        let err = load_onnx_bytes(b"\xff\xff", "bad.onnx", None, &options, &onnx).unwrap_err();
        assert!(
            err.render().starts_with("error: `bad.onnx`:"),
            "{}",
            err.render()
        );
    }
}
