//! onnxruntime's QLinearAdd arithmetic, bit for bit: `onnx/scripts/
//! qlinear_add_ort.py` writes random 8-bit `QLinearAdd` models and QDQ
//! `Add` groups (which onnxruntime's default optimization level fuses into
//! `QLinearAdd`), same shapes and broadcasts both ways, with onnxruntime's
//! outputs. qcc imports each (`add_int {ort = true}`), runs it on the
//! interpreter and the JIT (every dot path of the host) and must equal
//! onnxruntime on every element; imported with `ort_arith = false` (qcc's
//! float formula) the same models must differ somewhere, which shows the
//! cases reach the near-ties where the two formulas part. Without
//! onnxruntime the test is skipped with a message saying so.

use qcc_ir::{Op, interp, npy};
use qcc_onnx::{ImportOptions, import_file};
use std::path::Path;
use std::process::Command;

#[test]
fn qlinear_add_models_equal_onnxruntime() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("onnx_qlinear_add");
    let _ = std::fs::remove_dir_all(&dir);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../onnx/scripts/qlinear_add_ort.py");
    let o = match Command::new("python3").arg(&script).arg(&dir).output() {
        Ok(o) => o,
        Err(e) => {
            println!("skipped: python3 is not available ({e})");
            return;
        }
    };
    match o.status.code() {
        Some(0) => {}
        Some(3) => {
            println!("skipped: {}", String::from_utf8_lossy(&o.stdout).trim());
            return;
        }
        _ => panic!(
            "qlinear_add_ort.py failed:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    }
    let mut models: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    models.sort();
    assert!(
        models.len() >= 40,
        "the script wrote {} models",
        models.len()
    );
    let (mut elems, mut old_diff) = (0usize, 0usize);
    for m in &models {
        let name = m.file_stem().unwrap().to_string_lossy().into_owned();
        let read = |s: &str| npy::read(&dir.join(format!("{name}.{s}.npy"))).unwrap();
        let (a, b, want) = (read("a"), read("b"), read("y"));
        let inputs = [a, b];
        let g = import_file(m, &ImportOptions::new()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            g.node_ids()
                .any(|v| matches!(g.node(v).op, Op::AddInt { ort: true, .. })),
            "{name}: imported without `add_int {{ort = true}}`"
        );
        let got = interp::run(&g, &inputs).unwrap();
        assert_eq!(got[0].shape, want.shape, "{name}");
        assert!(
            got[0].data == want.data,
            "{name}: the interpreter differs from onnxruntime"
        );
        for path in qcc_codegen::supported_paths() {
            let opts = qcc_codegen::CodegenOptions {
                dot_path: Some(path),
                ..Default::default()
            };
            let j = qcc_codegen::compile(&g, &opts)
                .unwrap()
                .run(&inputs)
                .unwrap();
            assert!(
                j == got,
                "{name}: the JIT ({path}) differs from the interpreter"
            );
        }
        let old = ImportOptions {
            ort_arith: false,
            ..ImportOptions::new()
        };
        let g = import_file(m, &old).unwrap_or_else(|e| panic!("{name}: {e}"));
        let y = interp::run(&g, &inputs).unwrap();
        let (p, q) = (y[0].data.to_i64s().unwrap(), want.data.to_i64s().unwrap());
        elems += q.len();
        old_diff += p.iter().zip(&q).filter(|(x, y)| x != y).count();
    }
    println!("qcc's float formula differs from onnxruntime on {old_diff} of {elems} elements");
    assert!(old_diff > 0, "no case separates the two formulas");
}
