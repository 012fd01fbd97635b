//! `qcc report`: a float model against its quantized twin (a qcc text graph
//! and a QDQ ONNX model from `qcc quantize`), as a table, as JSON and as an
//! SVG bar chart; bad input refused with exit code 1.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn qcc(d: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qcc"))
        .current_dir(d)
        .args(args)
        .output()
        .unwrap()
}

fn setup(name: &str) -> (PathBuf, String) {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("report_{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let xs: Vec<f32> = (0..8 * 64)
        .map(|i| ((i as f32 * 0.37).sin() + 1.0) * 8.0)
        .collect();
    qcc_ir::npy::write(
        &d.join("cal.npy"),
        &qcc_ir::Tensor::f32(vec![8, 1, 8, 8], xs.clone()),
    )
    .unwrap();
    qcc_ir::npy::write(
        &d.join("x.npy"),
        &qcc_ir::Tensor::f32(vec![1, 1, 8, 8], xs[..64].to_vec()),
    )
    .unwrap();
    let model = root().join("onnx/testdata/models/res.onnx");
    (d, model.to_string_lossy().into_owned())
}

#[test]
fn reports_every_quantized_tensor_of_text_and_onnx_outputs() {
    let (d, model) = setup("ok");
    for out in ["q.txt", "q.onnx"] {
        let o = qcc(
            &d,
            &[
                "quantize",
                &model,
                "--dim",
                "N=1",
                "--calib",
                "x=cal.npy",
                "--quiet",
                "-o",
                out,
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let o = qcc(
            &d,
            &["report", &model, out, "--dim", "N=1", "--input", "x=x.npy"],
        );
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{out}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(text.starts_with("name"), "{text}");
        assert!(text.contains("output SQNR"), "{text}");
        assert!(
            text.contains("\nr1 "),
            "the relu output is quantized:\n{text}"
        );
        assert!(
            !text.contains("no float twin"),
            "every tensor has a twin:\n{text}"
        );
        let o = qcc(
            &d,
            &[
                "report", &model, out, "--dim", "N=1", "--input", "x=x.npy", "--json", "--plot",
                "r.svg",
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let json = String::from_utf8_lossy(&o.stdout);
        for key in [
            "\"layers\"",
            "\"name\": \"x\"",
            "\"op\"",
            "\"sqnr_db\"",
            "\"max_abs_err\"",
            "\"saturation\"",
            "\"output_sqnr_db\"",
        ] {
            assert!(json.contains(key), "{key} in {json}");
        }
        let db: f64 = json
            .split("\"output_sqnr_db\": ")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .and_then(|s| s.trim().parse().ok())
            .unwrap();
        assert!(db > 15.0, "{out}: output SQNR {db}");
        // The interpreter traces the same tensors as the JIT: the same
        // report, byte for byte.
        let interp = qcc(
            &d,
            &[
                "report", &model, out, "--dim", "N=1", "--input", "x=x.npy", "--json", "--engine",
                "interp",
            ],
        );
        assert!(
            interp.status.success(),
            "{}",
            String::from_utf8_lossy(&interp.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&interp.stdout),
            json,
            "{out}: jit vs interp"
        );
        let svg = std::fs::read_to_string(d.join("r.svg")).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("SQNR"), "{svg}");
    }
}

#[test]
fn bad_inputs_are_refused() {
    let (d, model) = setup("bad");
    let o = qcc(
        &d,
        &[
            "quantize",
            &model,
            "--dim",
            "N=1",
            "--calib",
            "x=cal.npy",
            "--quiet",
            "-o",
            "q.onnx",
        ],
    );
    assert!(o.status.success());
    for (args, want) in [
        (vec!["--input", "z=x.npy"], "no `--input x=FILE.npy`"),
        (vec!["--input", "x=missing.npy"], "missing.npy"),
        (vec!["--input", "x=cal.npy"], "x"),
    ] {
        let mut a = vec!["report", model.as_str(), "q.onnx", "--dim", "N=1"];
        a.extend(args.iter().copied());
        let o = qcc(&d, &a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: `{want}` in {err}");
    }
}
