//! Weight-only blocked quantization end to end: `onnx/scripts/nbits_ort.py`
//! makes float MLPs, quantizes them with onnxruntime's
//! `matmul_nbits_quantizer` (MatMulNBits, 4 and 8 bits, blocks of 16 to
//! 128, symmetric and asymmetric; and its QDQ form, DequantizeLinear with
//! block_size before MatMul) and runs onnxruntime on them; qcc imports
//! each model, keeps its weights 4- or 8-bit (a blocked constant, never
//! f32), runs it on the interpreter and the JIT (bit for bit, every dot
//! path of the host) and must be within float rounding of onnxruntime
//! (the two sum in different orders). Without onnxruntime (or its
//! quantizer's `onnx_ir`) the test is skipped with a message saying so.

use qcc_ir::{Op, interp, npy};
use qcc_onnx::{ImportOptions, import_file};
use std::path::Path;
use std::process::Command;

#[test]
fn matmul_nbits_models_match_onnxruntime() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("onnx_nbits");
    let _ = std::fs::remove_dir_all(&dir);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../onnx/scripts/nbits_ort.py");
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
            "nbits_ort.py failed:\n{}{}",
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
        models.len() >= 5,
        "the script wrote {} models",
        models.len()
    );
    for m in &models {
        let name = m.file_stem().unwrap().to_string_lossy().into_owned();
        let x = npy::read(&dir.join(format!("{name}.x.npy"))).unwrap();
        let want = npy::read(&dir.join(format!("{name}.y.npy"))).unwrap();
        let g = import_file(m, &ImportOptions::new()).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Every MatMulNBits is a dense_nbits whose weights stay narrow.
        let mut layers = 0;
        for v in g.node_ids() {
            let want_op = if name.contains("acc4") {
                Op::DenseNbitsQ8
            } else {
                Op::DenseNbits
            };
            if g.node(v).op == want_op {
                layers += 1;
                let w = g.ty(g.args(v)[1]);
                let bits8 = name.contains("8bit");
                let st = w.elem.storage();
                assert_eq!(st.bits(), if bits8 { 8 } else { 4 }, "{name}: {st}");
                assert!(w.elem.as_quant().is_some_and(|q| q.is_blocked()), "{name}");
            }
        }
        assert_eq!(layers, 2, "{name}: the two quantized MatMuls");
        let got = interp::run(&g, std::slice::from_ref(&x)).unwrap();
        for path in qcc_codegen::supported_paths() {
            let opts = qcc_codegen::CodegenOptions {
                dot_path: Some(path),
                ..Default::default()
            };
            let exe = qcc_codegen::compile(&g, &opts).unwrap();
            let j = exe.run(std::slice::from_ref(&x)).unwrap();
            assert!(
                j == got,
                "{name}: the JIT ({path}) differs from the interpreter"
            );
        }
        let (a, b) = (got[0].data.as_f32().unwrap(), want.data.as_f32().unwrap());
        assert_eq!(got[0].shape, want.shape, "{name}");
        let mag = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let worst = a
            .iter()
            .zip(b)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0f32, f32::max);
        let exact = a.iter().zip(b).filter(|(p, q)| p == q).count();
        println!(
            "{name}: largest difference from onnxruntime {worst:e} (outputs up to {mag}), \
             {exact} of {} exact",
            a.len()
        );
        // accuracy_level 4: the activation codes are onnxruntime's (a code
        // one step off would cost ~1e-3 of the range); the sums over blocks
        // differ by float rounding only, ~1e-6 of the range.
        let tol = if name.contains("acc4") { 1e-5 } else { 4e-6 };
        assert!(
            worst <= tol * mag,
            "{name}: qcc differs from onnxruntime by {worst} (outputs up to {mag})"
        );
    }
}
