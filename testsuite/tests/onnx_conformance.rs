//! Conformance against the ONNX backend test suite's node cases for the
//! quantization ops, exported by `onnx/scripts/export_backend_cases.py` into
//! `onnx/testdata/backend/<case>/` (model, `input_<i>.npy`, `output_<i>.npy`).
//!
//! In these cases scales and zero points arrive as graph inputs. Each case
//! runs twice: with its scale and zero-point inputs bound to constants
//! (`qcc_onnx::param_inputs`, the `--bind` path: static quantized types),
//! and with nothing bound (the parameters are run-time inputs: qcc's
//! `quantize_dyn`, `dequantize_dyn`, `matmul_int_dyn`, ...). Each run imports
//! the case, runs the reference interpreter and compares its outputs bit for
//! bit with the expected ones; the JIT (no passes, the same graph) must give
//! the interpreter's outputs bit for bit. The verdict of every case is
//! printed by name: `pass` (both runs pass; a case without parameter inputs
//! runs once), `pass-bound` (passes with its parameters bound; with
//! run-time parameters qcc says unsupported, e.g. QOperator ops whose
//! parameters must be static), `fail` (a wrong result or an error that is
//! not a missing feature, in either run) or `unsupported` (a type or
//! feature qcc does not have, with the reason).
//!
//! `onnx/testdata/backend/expected.txt` lists the status each case had when
//! it was last reviewed; the test fails if a case does worse than that
//! (`pass` > `pass-bound` > `unsupported` > `fail`). Run with `QCC_BLESS=1`
//! to rewrite the list.

use qcc_ir::{Tensor, TensorData, interp, npy};
use qcc_onnx::{ImportOptions, import_file, param_inputs, read_model};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn backend_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../onnx/testdata/backend")
}

#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    Pass,
    /// Passes with its scale and zero-point inputs bound; with them as
    /// run-time inputs it is unsupported (the reason).
    PassBound(String),
    Fail(String),
    Unsupported(String),
}

impl Verdict {
    fn word(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::PassBound(_) => "pass-bound",
            Verdict::Fail(_) => "fail",
            Verdict::Unsupported(_) => "unsupported",
        }
    }
}

/// The float functions whose reference outputs (numpy, often computed in
/// float64 and rounded) qcc's definitions (semantics.md § Float ops) may
/// miss by a rounding: their expected outputs are compared within
/// [`close`]'s tolerance. qcc's JIT still equals its interpreter bit for
/// bit.
const FLOAT_FNS: &[&str] = &[
    "Pow",
    "Exp",
    "Log",
    "Erf",
    "Tanh",
    "Sigmoid",
    "HardSigmoid",
    "HardSwish",
    "Gelu",
    "Div",
    "Reciprocal",
    "Sqrt",
    "ReduceMean",
    "ReduceSum",
    "LayerNormalization",
    "InstanceNormalization",
    "ReduceL1",
    "ReduceL2",
    "ReduceSumSquare",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceProd",
    "Softmax",
    "LSTM",
    "GRU",
    // Linear Resize: two products and a sum per scaled axis, in an order
    // of qcc's (semantics.md § gather; the importer's decomposition).
    // Nearest Resize is movement and lands exactly anyway.
    //
    // Two cases stay `fail` in expected.txt on purpose:
    // test_resize_downsample_scales_{linear,cubic}_align_corners, whose
    // reference divides by `input × scale − 1` (2.4 − 1) where onnxruntime
    // and qcc divide by `output size − 1` (2 − 1): onnxruntime's output
    // equals qcc's exactly (linear: [1, 4]; the reference [1, 3.142857]).
    "Resize",
];

/// The decompositions whose reference forms the result in another order
/// (LayerNormalization: qcc's mean, difference, mean of squares, sqrt and
/// divide against numpy's; the bias added last cancels near 0): compared
/// within 64 ulps or 1e-6 absolute.
const LOOSE_FNS: &[&str] = &[
    "LayerNormalization",
    "InstanceNormalization",
    "LSTM",
    "GRU",
    // Cubic Resize: four taps whose f32 weights the reference computes in
    // float64 (qcc is nearer onnxruntime than onnxruntime is to it).
    "Resize",
];

/// Equal within `ulps`·2^-23 relative (4: a few ulps) or 1e-30 absolute, with the
/// same NaNs and infinities.
fn close(a: &Tensor, b: &Tensor, ulps: f32, abs: f32) -> Result<(), String> {
    let (TensorData::F32(x), TensorData::F32(y)) = (&a.data, &b.data) else {
        return same(a, b);
    };
    if a.shape != b.shape {
        return Err(format!("shape {:?}, expected {:?}", a.shape, b.shape));
    }
    let ok = |p: f32, q: f32| {
        p.to_bits() == q.to_bits()
            || (p.is_nan() && q.is_nan())
            || (p.is_finite()
                && q.is_finite()
                && (p - q).abs() <= ulps * f32::EPSILON * p.abs().max(q.abs()) + abs)
    };
    let bad: Vec<(f32, f32)> = x
        .iter()
        .zip(y)
        .filter(|(p, q)| !ok(**p, **q))
        .map(|(p, q)| (*p, *q))
        .collect();
    match bad.first() {
        None => Ok(()),
        Some((p, q)) => Err(format!(
            "{} of {} f32 values differ by more than {ulps} ulps (first: {p} vs {q})",
            bad.len(),
            x.len()
        )),
    }
}

fn same(a: &Tensor, b: &Tensor) -> Result<(), String> {
    if a.shape != b.shape {
        return Err(format!("shape {:?}, expected {:?}", a.shape, b.shape));
    }
    match (&a.data, &b.data) {
        (TensorData::F32(x), TensorData::F32(y)) => {
            let bad = x
                .iter()
                .zip(y)
                .filter(|(p, q)| !(p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan())))
                .count();
            if bad > 0 {
                let maxd = x
                    .iter()
                    .zip(y)
                    .map(|(p, q)| (p - q).abs())
                    .fold(0.0f32, f32::max);
                return Err(format!("{bad} f32 values differ (max difference {maxd})"));
            }
            Ok(())
        }
        (p, q) => {
            let (Some(x), Some(y)) = (p.to_i64s(), q.to_i64s()) else {
                return Err(format!(
                    "output type {}, expected {}",
                    p.scalar_type(),
                    q.scalar_type()
                ));
            };
            let bad: Vec<(i64, i64)> = x
                .iter()
                .zip(&y)
                .filter(|(a, b)| a != b)
                .map(|(a, b)| (*a, *b))
                .collect();
            if bad.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{} of {} values differ (first: {} vs expected {})",
                    bad.len(),
                    x.len(),
                    bad[0].0,
                    bad[0].1
                ))
            }
        }
    }
}

fn run_case(dir: &Path) -> Verdict {
    let bound = run_case_with(dir, true);
    let has_params = read_model(&dir.join("model.onnx"))
        .map(|m| !param_inputs(&m).is_empty())
        .unwrap_or(false);
    if !has_params {
        return bound;
    }
    let runtime = run_case_with(dir, false);
    match (bound, runtime) {
        (Verdict::Pass, Verdict::Pass) => Verdict::Pass,
        (Verdict::Pass, Verdict::Unsupported(m)) => Verdict::PassBound(m),
        (Verdict::Fail(m), _) => Verdict::Fail(format!("with parameters bound: {m}")),
        (_, Verdict::Fail(m)) => Verdict::Fail(format!("with run-time parameters: {m}")),
        (b, _) => b,
    }
}

/// Runs a case with its scale and zero-point inputs bound (`bind_params`)
/// or with every input a run-time input.
fn run_case_with(dir: &Path, bind_params: bool) -> Verdict {
    let model_path = dir.join("model.onnx");
    let model = match read_model(&model_path) {
        Ok(m) => m,
        Err(e) => return Verdict::Fail(e.to_string()),
    };
    let inputs = qcc_onnx::model_inputs(&model);
    let params = param_inputs(&model);
    let mut opts = ImportOptions::new();
    let mut data = Vec::new();
    for (i, inp) in inputs.iter().enumerate() {
        let p = dir.join(format!("input_{i}.npy"));
        if bind_params && params.contains(&inp.name) {
            match npy::read(&p) {
                Ok(t) => opts.bindings.insert(inp.name.clone(), t),
                Err(e) => {
                    return Verdict::Unsupported(format!(
                        "input `{}` ({}): {e}",
                        inp.name,
                        inp.dtype.name()
                    ));
                }
            };
        } else {
            data.push(p);
        }
    }
    let graph = match import_file(&model_path, &opts) {
        Ok(g) => g,
        Err(e) if e.is_unsupported() => return Verdict::Unsupported(e.to_string()),
        Err(e) => return Verdict::Fail(e.to_string()),
    };
    let mut ins = Vec::new();
    for (p, &v) in data.iter().zip(graph.inputs()) {
        match npy::read_as(p, graph.ty(v)) {
            Ok(t) => ins.push(t),
            Err(e) => return Verdict::Fail(format!("input: {e}")),
        }
    }
    let outs = match interp::run(&graph, &ins) {
        Ok(o) => o,
        Err(e) => return Verdict::Fail(format!("interpreter: {e}")),
    };
    match qcc_compiler::model::Compiler::new()
        .run_passes(false)
        .compile(&graph)
    {
        Err(e) => println!("  jit: does not compile {}: {e}", dir.display()),
        Ok(m) => match m.run(&ins) {
            Err(e) => return Verdict::Fail(format!("jit run: {e}")),
            Ok(j) => {
                for ((a, b), o) in j.iter().zip(&outs).zip(graph.outputs()) {
                    if let Err(m) = same(a, b) {
                        return Verdict::Fail(format!(
                            "jit output `{}` != interpreter: {m}",
                            o.name
                        ));
                    }
                }
            }
        },
    }
    for (i, (o, out)) in outs.iter().zip(graph.outputs()).enumerate() {
        let p = dir.join(format!("output_{i}.npy"));
        let want = match npy::read_as(&p, graph.ty(out.value)) {
            Ok(t) => t,
            Err(e) => return Verdict::Fail(format!("expected output {i}: {e}")),
        };
        let op = std::fs::read_to_string(dir.join("case.json")).unwrap_or_default();
        let float_fn = FLOAT_FNS
            .iter()
            .any(|f| op.contains(&format!("\"op\": \"{f}\"")));
        let loose = LOOSE_FNS
            .iter()
            .any(|f| op.contains(&format!("\"op\": \"{f}\"")));
        let cmp = if float_fn {
            if loose {
                close(o, &want, 64.0, 1e-6)
            } else {
                close(o, &want, 4.0, 1e-30)
            }
        } else {
            same(o, &want)
        };
        if let Err(m) = cmp {
            return Verdict::Fail(format!("output `{}`: {m}", out.name));
        }
    }
    Verdict::Pass
}

fn read_expected(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.next()?.to_string()))
        })
        .collect()
}

#[test]
fn onnx_backend_node_cases() {
    let root = backend_dir();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("onnx/testdata/backend exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.onnx").is_file())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases under {}", root.display());
    let mut results = BTreeMap::new();
    for c in &cases {
        let name = c.file_name().unwrap().to_string_lossy().into_owned();
        let v = run_case(c);
        match &v {
            Verdict::Pass => println!("pass         {name}"),
            Verdict::PassBound(m) => {
                println!("pass-bound   {name}: with run-time parameters: {m}")
            }
            Verdict::Fail(m) => println!("FAIL         {name}: {m}"),
            Verdict::Unsupported(m) => println!("unsupported  {name}: {m}"),
        }
        results.insert(name, v);
    }
    let count = |w: &str| results.values().filter(|v| v.word() == w).count();
    println!(
        "onnx backend conformance: {} pass (parameters bound and at run time), {} pass with parameters bound only, {} fail, {} unsupported, of {} cases",
        count("pass"),
        count("pass-bound"),
        count("fail"),
        count("unsupported"),
        results.len()
    );
    let exp_path = root.join("expected.txt");
    if std::env::var_os("QCC_BLESS").is_some() {
        let mut s = String::from(
            "# Expected status of each ONNX backend node case (see testsuite/tests/onnx_conformance.rs).\n\
             # Regenerate with QCC_BLESS=1 after reviewing the changes.\n",
        );
        for (n, v) in &results {
            s.push_str(&format!("{n} {}\n", v.word()));
        }
        std::fs::write(&exp_path, s).expect("write expected.txt");
        return;
    }
    let expected = read_expected(&exp_path);
    let rank = |w: &str| match w {
        "pass" => 3,
        "pass-bound" => 2,
        "unsupported" => 1,
        _ => 0,
    };
    let mut regressions = Vec::new();
    for (n, want) in &expected {
        let got = results.get(n).map(|v| v.word()).unwrap_or("missing");
        if rank(got) < rank(want) {
            regressions.push(format!("{n}: expected {want}, got {got}"));
        } else if want != got {
            println!("note: {n} is now {got} (expected.txt says {want})");
        }
    }
    assert!(
        regressions.is_empty(),
        "regressions:\n{}",
        regressions.join("\n")
    );
}
