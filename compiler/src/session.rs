//! A model run with inputs of changing shapes: one compilation per shape.
//!
//! Code is specialized to concrete shapes, but ONNX models usually leave
//! the batch symbolic (`N`). A [`Session`] keeps the decoded model and, when
//! it is run with input shapes it has not seen, imports the model with
//! those shapes, compiles it (passes and JIT, with the session's
//! [`Compiler`]) and keeps the [`CompiledModel`] for the next run with the
//! same shapes. It is `Send + Sync`: threads may run it at once; a shape
//! is compiled once however many threads ask for it together (they wait
//! for that one compilation), and different shapes compile in parallel.
//! The cache holds at most [`Session::with_capacity`] shapes (default 16),
//! dropping the least recently used; a model dropped from the cache stays
//! alive for the runs still using it.
//!
//! ```
//! use qcc_compiler::{model::Compiler, session::Session, ImportOptions};
//! use qcc_ir::Tensor;
//!
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../onnx/testdata/models/mlp.qdq_u8.onnx");
//! // x: [N, 64] with a symbolic batch N.
//! let session = Session::from_onnx_file(path.as_ref(), ImportOptions::new(), Compiler::new())?;
//! assert_eq!(session.input_names(), ["x"]);
//! for batch in [1, 8, 1] {
//!     let x = Tensor::f32(vec![batch, 64], vec![0.5; batch * 64]);
//!     let y = session.run(&[x])?;
//!     assert_eq!(y[0].shape, [batch, 10]);
//! }
//! // Two shapes seen, two compilations: the second batch of 1 reused the first.
//! assert_eq!(session.compilations(), 2);
//! assert_eq!(session.cached_shapes().len(), 2);
//! # Ok::<(), qcc_compiler::session::SessionError>(())
//! ```

use crate::model::{CompileError, CompiledModel, Compiler, RunError};
use crate::{LoadError, LoadOptions};
use qcc_ir::Tensor;
use qcc_onnx::proto::ModelProto;
use qcc_onnx::{ImportOptions, InputInfo};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Why a [`Session`] could not run.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The model could not be read, or not imported with these shapes.
    #[error("{0}")]
    Load(#[from] LoadError),
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error(transparent)]
    Run(#[from] RunError),
    /// The inputs do not fit the model (count, or a shape the model's fixed
    /// dimensions rule out).
    #[error("{0}")]
    Inputs(String),
}

/// The input shapes of one compilation, in the order of the inputs.
pub type Shapes = Vec<Vec<usize>>;

/// One cache entry: the compiled model once it exists (its lock is held
/// while it is being compiled) and when it was last used.
#[derive(Debug, Default)]
struct Entry {
    model: Mutex<Option<Arc<CompiledModel>>>,
    last_use: AtomicU64,
}

/// A decoded ONNX model and its compilations per input shape. See the
/// module documentation.
#[derive(Debug)]
pub struct Session {
    model: ModelProto,
    base_dir: Option<PathBuf>,
    name: String,
    import: ImportOptions,
    load: LoadOptions,
    compiler: Compiler,
    inputs: Vec<InputInfo>,
    capacity: usize,
    cache: Mutex<HashMap<Shapes, Arc<Entry>>>,
    clock: AtomicU64,
    compilations: AtomicUsize,
}

/// The default number of shapes a session keeps compiled.
pub const DEFAULT_CAPACITY: usize = 16;

impl Session {
    /// Reads and decodes a `.onnx` file (external data is read relative to
    /// its folder at each compilation). `import` gives bindings and fixed
    /// dimensions as for [`crate::load_onnx`]; its `input_shapes` are
    /// replaced by the shapes of each run.
    pub fn from_onnx_file(
        path: &Path,
        import: ImportOptions,
        compiler: Compiler,
    ) -> Result<Session, SessionError> {
        let name = path.display().to_string();
        let model = qcc_onnx::read_model(path).map_err(|e| {
            LoadError::without_source(qcc_ir::Diagnostic::error(format!("`{name}`: {e}")))
        })?;
        let base_dir = path.parent().map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.to_path_buf()
            }
        });
        Ok(Session::from_onnx_model(
            model, base_dir, &name, import, compiler,
        ))
    }

    /// A session for a decoded model; `base_dir` is where external data
    /// files are looked up, `name` names the model in errors.
    pub fn from_onnx_model(
        model: ModelProto,
        base_dir: Option<PathBuf>,
        name: &str,
        import: ImportOptions,
        compiler: Compiler,
    ) -> Session {
        let inputs = qcc_onnx::model_inputs(&model)
            .into_iter()
            .filter(|i| !import.bindings.contains_key(&i.name))
            .collect();
        Session {
            model,
            base_dir,
            name: name.to_string(),
            import,
            load: LoadOptions::default(),
            compiler,
            inputs,
            capacity: DEFAULT_CAPACITY,
            cache: Mutex::new(HashMap::new()),
            clock: AtomicU64::new(0),
            compilations: AtomicUsize::new(0),
        }
    }

    /// Keep at most `n` compiled shapes (at least 1).
    pub fn with_capacity(mut self, n: usize) -> Session {
        self.capacity = n.max(1);
        self
    }

    /// Resource limits checked on each imported graph.
    pub fn with_load_options(mut self, load: LoadOptions) -> Session {
        self.load = load;
        self
    }

    /// The inputs a run takes, in order, with their declared dimensions
    /// (`Err(symbol)` for a symbolic one).
    pub fn inputs(&self) -> &[InputInfo] {
        &self.inputs
    }

    /// The names of the inputs, in order.
    pub fn input_names(&self) -> Vec<&str> {
        self.inputs.iter().map(|i| i.name.as_str()).collect()
    }

    /// How many compilations the session has made (a shape evicted and seen
    /// again is compiled again).
    pub fn compilations(&self) -> usize {
        self.compilations.load(Ordering::Relaxed)
    }

    /// The input shapes compiled and cached now, in no particular order.
    pub fn cached_shapes(&self) -> Vec<Shapes> {
        self.lock_cache()
            .iter()
            // An entry being compiled (its lock held) is not cached yet.
            .filter(|(_, e)| e.model.try_lock().is_ok_and(|m| m.is_some()))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Runs the model on `inputs` (in the order of [`Session::inputs`]),
    /// compiling it first for their shapes unless that compilation is
    /// cached.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, SessionError> {
        let shapes: Shapes = inputs.iter().map(|t| t.shape.clone()).collect();
        Ok(self.model_for(&shapes)?.run(inputs)?)
    }

    /// The compiled model for these input shapes: from the cache, or
    /// imported and compiled now (and cached).
    pub fn model_for(&self, shapes: &[Vec<usize>]) -> Result<Arc<CompiledModel>, SessionError> {
        self.check_shapes(shapes)?;
        let key: Shapes = shapes.to_vec();
        let entry = {
            let mut cache = self.lock_cache();
            let e = cache.entry(key.clone()).or_default().clone();
            e.last_use.store(
                self.clock.fetch_add(1, Ordering::Relaxed),
                Ordering::Relaxed,
            );
            e
        };
        let mut slot = entry.model.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = slot.as_ref() {
            return Ok(m.clone());
        }
        let compiled = self.compile(&key);
        let m = match compiled {
            Ok(m) => Arc::new(m),
            Err(e) => {
                drop(slot);
                // Forget the failed shape (unless another thread has
                // replaced the entry meanwhile).
                let mut cache = self.lock_cache();
                if cache.get(&key).is_some_and(|e| Arc::ptr_eq(e, &entry)) {
                    cache.remove(&key);
                }
                return Err(e);
            }
        };
        *slot = Some(m.clone());
        drop(slot);
        self.evict(&key);
        Ok(m)
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<Shapes, Arc<Entry>>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops the least recently used shapes beyond the capacity (never
    /// `keep`, just compiled).
    fn evict(&self, keep: &Shapes) {
        let mut cache = self.lock_cache();
        while cache.len() > self.capacity {
            let oldest = cache
                .iter()
                .filter(|(k, _)| *k != keep)
                .min_by_key(|(_, e)| e.last_use.load(Ordering::Relaxed))
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    cache.remove(&k);
                }
                None => break,
            }
        }
    }

    /// The count, and each shape against the declared fixed dimensions.
    fn check_shapes(&self, shapes: &[Vec<usize>]) -> Result<(), SessionError> {
        if shapes.len() != self.inputs.len() {
            return Err(SessionError::Inputs(format!(
                "`{}` takes {} inputs ({}), {} were given",
                self.name,
                self.inputs.len(),
                self.input_names().join(", "),
                shapes.len()
            )));
        }
        for (info, shape) in self.inputs.iter().zip(shapes) {
            let fits = info.dims.is_empty()
                || (info.dims.len() == shape.len()
                    && info.dims.iter().zip(shape).all(|(d, &s)| match d {
                        Ok(v) => *v == s,
                        Err(_) => s >= 1,
                    }));
            if !fits {
                let declared: Vec<String> = info
                    .dims
                    .iter()
                    .map(|d| match d {
                        Ok(v) => v.to_string(),
                        Err(p) if p.is_empty() => "?".into(),
                        Err(p) => p.clone(),
                    })
                    .collect();
                return Err(SessionError::Inputs(format!(
                    "input `{}` has shape {shape:?}, but the model declares [{}]",
                    info.name,
                    declared.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Imports the model with these input shapes and compiles it.
    fn compile(&self, shapes: &[Vec<usize>]) -> Result<CompiledModel, SessionError> {
        let mut import = self.import.clone();
        import.input_shapes = self
            .inputs
            .iter()
            .zip(shapes)
            .map(|(i, s)| (i.name.clone(), s.clone()))
            .collect();
        let graph = qcc_onnx::import_model(&self.model, self.base_dir.as_deref(), &import)
            .map_err(|e| {
                LoadError::without_source(qcc_ir::Diagnostic::error(format!(
                    "`{}`: {e}",
                    self.name
                )))
            })?;
        qcc_ir::verify::verify_with(&graph, &self.load.limits).map_err(|diagnostics| {
            LoadError {
                diagnostics,
                source: None,
            }
        })?;
        let m = self.compiler.compile(&graph)?;
        self.compilations.fetch_add(1, Ordering::Relaxed);
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn models() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../onnx/testdata/models")
    }

    fn batch(n: usize, seed: u32) -> Tensor {
        let v = (0..n * 64)
            .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 17) as f32 / 8.0)
            .collect();
        Tensor::f32(vec![n, 64], v)
    }

    /// The model imported with this batch and compiled on its own.
    fn direct(path: &Path, x: &Tensor) -> Vec<Tensor> {
        let opts = ImportOptions::new().input_shape("x", x.shape.clone());
        let g = crate::load_onnx(path, &LoadOptions::default(), &opts).unwrap();
        Compiler::new()
            .compile(&g)
            .unwrap()
            .run(std::slice::from_ref(x))
            .unwrap()
    }

    #[test]
    fn each_shape_compiles_once_and_matches_a_direct_compilation() {
        for name in ["mlp.qdq_u8.onnx", "mlp.dyn.onnx"] {
            let path = models().join(name);
            let s = Session::from_onnx_file(&path, ImportOptions::new(), Compiler::new()).unwrap();
            for (i, n) in [1, 5, 1, 360, 5].into_iter().enumerate() {
                let x = batch(n, i as u32);
                let y = s.run(std::slice::from_ref(&x)).unwrap();
                assert_eq!(y, direct(&path, &x), "{name} batch {n}");
            }
            assert_eq!(s.compilations(), 3, "{name}");
            let mut shapes = s.cached_shapes();
            shapes.sort();
            assert_eq!(
                shapes,
                [vec![vec![1, 64]], vec![vec![5, 64]], vec![vec![360, 64]]]
            );
        }
    }

    #[test]
    fn threads_share_one_compilation_per_shape() {
        let path = models().join("mlp.qdq_i8_pc.onnx");
        let s = Session::from_onnx_file(&path, ImportOptions::new(), Compiler::new()).unwrap();
        let want: Vec<Vec<Tensor>> = (1..=3).map(|n| direct(&path, &batch(n, 7))).collect();
        std::thread::scope(|sc| {
            for t in 0..6 {
                let (s, want) = (&s, &want);
                sc.spawn(move || {
                    for r in 0..12 {
                        let n = 1 + (t + r) % 3;
                        let y = s.run(&[batch(n, 7)]).unwrap();
                        assert_eq!(y, want[n - 1]);
                    }
                });
            }
        });
        assert_eq!(s.compilations(), 3);
    }

    #[test]
    fn the_least_recently_used_shape_is_dropped() {
        let path = models().join("mlp.qdq_u8.onnx");
        let s = Session::from_onnx_file(&path, ImportOptions::new(), Compiler::new())
            .unwrap()
            .with_capacity(2);
        for n in [1, 2, 1, 3] {
            s.run(&[batch(n, 0)]).unwrap();
        }
        // 2 was used least recently when 3 came.
        let mut shapes = s.cached_shapes();
        shapes.sort();
        assert_eq!(shapes, [vec![vec![1, 64]], vec![vec![3, 64]]]);
        assert_eq!(s.compilations(), 3);
        s.run(&[batch(2, 0)]).unwrap();
        assert_eq!(s.compilations(), 4);
        assert_eq!(s.cached_shapes().len(), 2);
    }

    #[test]
    fn inputs_that_do_not_fit_are_errors() {
        let path = models().join("cnn.qdq_u8.onnx");
        let s = Session::from_onnx_file(&path, ImportOptions::new(), Compiler::new()).unwrap();
        let e = s
            .run(&[Tensor::f32(vec![2, 1, 8, 9], vec![0.0; 144])])
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("input `x` has shape [2, 1, 8, 9], but the model declares [N, 1, 8, 8]"),
            "{e}"
        );
        let e = s.run(&[]).unwrap_err();
        assert!(
            e.to_string().contains("takes 1 inputs (x), 0 were given"),
            "{e}"
        );
        // A wrong element type is the compiled model's error.
        let x = Tensor::new(
            vec![1, 1, 8, 8],
            qcc_ir::TensorData::from_i64s(qcc_ir::ScalarType::U8, &[0; 64]).unwrap(),
        );
        assert!(matches!(s.run(&[x]).unwrap_err(), SessionError::Run(_)));
        assert!(s.cached_shapes().len() == 1);
        let missing = Session::from_onnx_file(
            &models().join("nope.onnx"),
            ImportOptions::new(),
            Compiler::new(),
        );
        assert!(matches!(missing.unwrap_err(), SessionError::Load(_)));
    }
}
