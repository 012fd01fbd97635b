//! End to end: the models of `onnx/testdata/models/` (float and quantized
//! by onnxruntime's tools, built by `onnx/scripts/make_models.py`) are
//! imported with the batch bound from the input file, run with the
//! reference interpreter and the JIT (which must agree bit for bit) on the
//! 360 test images, and compared with
//! onnxruntime by `onnx/scripts/compare_ort.py`, which prints the exact-match
//! share, the largest difference in quantization steps and the argmax
//! agreement per model. Without python3 and onnxruntime the comparison is
//! skipped with a message saying so; the import and the run are still
//! checked.
//!
//! `onnx/testdata/models/expected.txt` says which models must import and
//! run (`runs`) and which are known to be unsupported (`unsupported`).

use qcc_ir::{interp, npy};
use qcc_onnx::{ImportOptions, import_file, model_inputs, read_model};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../onnx/testdata/models")
}

/// Imports and runs one model; writes its first output to `out`.
fn run_model(path: &Path, out: &Path) -> Result<(), String> {
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    let base = file.split('.').next().unwrap_or_default();
    let x =
        npy::read(&path.with_file_name(format!("{base}.inputs.npy"))).map_err(|e| e.to_string())?;
    let model = read_model(path).map_err(|e| e.to_string())?;
    let inputs = model_inputs(&model);
    let first = inputs.first().ok_or("the model has no inputs")?;
    let opts = ImportOptions::new().input_shape(first.name.clone(), x.shape.clone());
    let g = import_file(path, &opts).map_err(|e| format!("import: {e}"))?;
    let outs = interp::run(&g, std::slice::from_ref(&x)).map_err(|e| format!("run: {e}"))?;
    // The JIT on the same graph (no passes) must agree bit for bit.
    let m = qcc_compiler::model::Compiler::new()
        .run_passes(false)
        .compile(&g)
        .map_err(|e| format!("jit compile: {e}"))?;
    let j = m.run(&[x]).map_err(|e| format!("jit run: {e}"))?;
    if j != outs {
        return Err("the JIT's outputs differ from the interpreter's".into());
    }
    npy::write(out, &outs[0]).map_err(|e| e.to_string())?;
    Ok(())
}

#[test]
fn onnx_models_against_onnxruntime() {
    let dir = models_dir();
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("onnx_models");
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut models: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    models.sort();
    let expected: BTreeMap<String, String> = std::fs::read_to_string(dir.join("expected.txt"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.next()?.to_string()))
        })
        .collect();
    let mut problems = Vec::new();
    for m in &models {
        let name = m.file_stem().unwrap().to_string_lossy().into_owned();
        let r = run_model(m, &out_dir.join(format!("{name}.npy")));
        match &r {
            Ok(()) => println!("runs         {name}"),
            Err(e) => println!("unsupported  {name}: {e}"),
        }
        let got = if r.is_ok() { "runs" } else { "unsupported" };
        if let (Some("runs"), Err(e)) = (expected.get(&name).map(|s| s.as_str()), &r) {
            problems.push(format!("{name} no longer runs: {e}"));
        } else if expected.get(&name).is_none_or(|e| e != got) {
            println!(
                "note: {name} is now {got} (expected.txt says {:?})",
                expected.get(&name)
            );
        }
    }
    let script = dir.join("../../scripts/compare_ort.py");
    match Command::new("python3")
        .arg(&script)
        .arg("--qcc")
        .arg(&out_dir)
        .arg("--check")
        .output()
    {
        Err(e) => println!("comparison with onnxruntime skipped: python3 is not available ({e})"),
        Ok(o) => {
            print!("{}", String::from_utf8_lossy(&o.stdout));
            eprint!("{}", String::from_utf8_lossy(&o.stderr));
            match o.status.code() {
                Some(0) => {}
                Some(3) => {
                    println!("comparison with onnxruntime skipped: onnxruntime is not installed")
                }
                _ => problems.push("the comparison with onnxruntime missed its targets".into()),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
