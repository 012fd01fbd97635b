//! Executable cases, in the manner of Cranelift's `test run`: every file
//! under `testsuite/run/` (any depth) is a graph whose header says how to
//! run it:
//!
//! - `// test: run` (required);
//! - `// pipeline: <pass list>` or `// pipeline: default`, named as in
//!   `testsuite/passes/`; without it the graph is compiled as written;
//! - `// requant: float|single_round|double_round` for the pipeline's
//!   rounding dialect (as in `testsuite/passes/`);
//! - `// inputs: seed=N` for the random inputs of `random_inputs`, or
//!   `// inputs: x=a.npy, w=b.npy` with paths relative to the case (seed 0
//!   when not given).
//!
//! Each case runs on the reference interpreter and, compiled through its
//! pipeline, on the JIT for every dot-product path this machine has; the
//! outputs must be equal bit for bit. Add a case by adding a file.

use qcc_compiler::model::{Compiler, DotPath, TargetFeatures, supported_paths};
use qcc_compiler::{CompileOptions, compile_with, load_str};
use qcc_ir::{Graph, RequantMode, Tensor, TensorData};
use qcc_testsuite::header;
use std::path::{Path, PathBuf};

fn cases(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            cases(&p, out);
        } else if p.extension().is_some_and(|e| e == "txt") {
            out.push(p);
        }
    }
}

/// The inputs a case's `// inputs:` header asks for.
fn inputs(name: &str, text: &str, g: &Graph, dir: &Path) -> Vec<Tensor> {
    let spec = header(text, "inputs").unwrap_or("seed=0");
    if let Some(seed) = spec.strip_prefix("seed=") {
        let seed = seed
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}: bad seed in `// inputs: {spec}`"));
        return qcc_compiler::random_inputs(g, seed);
    }
    let mut files = std::collections::HashMap::new();
    for item in spec.split(',') {
        let (k, v) = item
            .split_once('=')
            .unwrap_or_else(|| panic!("{name}: `{item}` is not `name=path.npy`"));
        files.insert(k.trim().trim_start_matches('%'), v.trim());
    }
    let ins: Vec<Tensor> = g
        .inputs()
        .iter()
        .map(|&v| {
            let input = g.node(v).name.as_deref().unwrap_or_default();
            let file = files
                .remove(input)
                .unwrap_or_else(|| panic!("{name}: no file for input `{input}`"));
            qcc_ir::npy::read_as(&dir.join(file), g.ty(v)).unwrap_or_else(|e| panic!("{name}: {e}"))
        })
        .collect();
    assert!(
        files.is_empty(),
        "{name}: no inputs named {:?}",
        files.keys()
    );
    ins
}

/// The first element where two outputs differ, for the failure message.
fn first_difference(want: &Tensor, got: &Tensor) -> String {
    if want.shape != got.shape {
        return format!("shape {:?} != {:?}", got.shape, want.shape);
    }
    if let (TensorData::F32(a), TensorData::F32(b)) = (&want.data, &got.data) {
        let i = a
            .iter()
            .zip(b)
            .position(|(p, q)| p.to_bits() != q.to_bits() && !(p.is_nan() && q.is_nan()));
        return match i {
            Some(i) => format!("element {i}: interpreter {} JIT {}", a[i], b[i]),
            None => "equal".into(),
        };
    }
    match (want.data.to_i64s(), got.data.to_i64s()) {
        (Some(a), Some(b)) => match a.iter().zip(&b).position(|(x, y)| x != y) {
            Some(i) => format!("element {i}: interpreter {} JIT {}", a[i], b[i]),
            None => "equal".into(),
        },
        _ => "element types differ".into(),
    }
}

/// Runs one case; `Err` says what differed.
fn run_case(path: &Path, paths: &[DotPath]) -> Result<(), String> {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
        .display()
        .to_string();
    if header(&text, "test") != Some("run") {
        return Err(format!("{name}: no `// test: run` header"));
    }
    let dir = path.parent().unwrap();
    let g = load_str(&text, &name, Some(dir)).map_err(|e| e.render())?;
    let ins = inputs(&name, &text, &g, dir);
    let want = qcc_ir::interp::run(&g, &ins).map_err(|e| format!("{name}: interpreter: {e}"))?;
    let compiled = match header(&text, "pipeline") {
        None => g,
        Some(pipeline) => {
            let requant = match header(&text, "requant") {
                None => RequantMode::Float,
                Some(m) => RequantMode::from_name(m)
                    .ok_or_else(|| format!("{name}: rounding dialect `{m}`"))?,
            };
            let options = CompileOptions {
                passes: Some(pipeline.to_string()),
                requant,
                // The host's layouts, which the JIT reads as they are.
                target: None,
                verify_each: true,
            };
            compile_with(g, &options, &mut |_, _| {})
                .map_err(|e| format!("{name}: {e}"))?
                .0
        }
    };
    for &p in paths {
        let m = Compiler::new()
            .run_passes(false)
            .target_features(TargetFeatures::Force(p))
            .compile(&compiled)
            .map_err(|e| format!("{name} (dot path {p}): {e}"))?;
        let got = m
            .run(&ins)
            .map_err(|e| format!("{name} (dot path {p}): {e}"))?;
        if got.len() != want.len() {
            return Err(format!("{name} (dot path {p}): output count"));
        }
        for (i, (w, o)) in want.iter().zip(&got).enumerate() {
            if !qcc_testsuite::fuzz::same_tensor(w, o) {
                return Err(format!(
                    "{name} (dot path {p}): output {i} differs from the interpreter at {}",
                    first_difference(w, o)
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn run_cases_equal_the_interpreter_on_every_dot_path() {
    let mut files = Vec::new();
    cases(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("run"),
        &mut files,
    );
    files.sort();
    assert!(files.len() >= 25, "{} run cases", files.len());
    let paths = supported_paths();
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| run_case(f, &paths).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} run cases failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
