//! The interpreter against the reference outputs that
//! `examples/make_examples.py` computed with an independent numpy
//! implementation of the same graphs (docs/semantics.md's formulas). Codes
//! must match exactly; float outputs within a tolerance (numpy's `exp` and
//! Rust's `f32::exp` may differ in the last bit); predicted classes exactly.

use qcc_compiler::{Backend, load_file, run};
use qcc_ir::{Graph, Tensor, npy};
use std::path::{Path, PathBuf};

fn ex(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(rel)
}

fn read(rel: &str) -> Tensor {
    npy::read(&ex(rel)).unwrap_or_else(|e| panic!("{e}"))
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b })
}

#[test]
fn worked_example_matches_exactly() {
    let g = load_file(&ex("worked_example.txt")).unwrap();
    let out = run(&g, &[read("worked_example/x.npy")], Backend::Interp).unwrap();
    assert_eq!(out[0].data.to_i64s().unwrap(), vec![-128, -39, 25, 76, 127]);
    assert_eq!(out[0], read("worked_example/expected_q.npy"));
    assert_eq!(out[1], read("worked_example/expected_dq.npy"));
    assert_eq!(out[2], read("worked_example/expected_err.npy"));
}

#[test]
fn residual_block_matches_reference() {
    let g = load_file(&ex("residual.txt")).unwrap();
    let out = run(&g, &[read("residual/x.npy")], Backend::Interp).unwrap();
    let want = read("residual/expected_y.npy");
    let (a, b) = (out[0].data.as_f32().unwrap(), want.data.as_f32().unwrap());
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= 1e-6, "{x} vs {y}");
    }
}

/// Runs a digits model on every held-out image (reshaped to the model's
/// input shape) and returns the predicted classes.
fn predictions(g: &Graph, images: &Tensor) -> Vec<usize> {
    let in_shape = g.ty(g.inputs()[0]).shape.clone();
    let pixels = images.data.as_f32().unwrap();
    pixels
        .chunks(64)
        .map(|img| {
            let x = Tensor::f32(in_shape.clone(), img.to_vec());
            let out = run(g, &[x], Backend::Interp).unwrap();
            argmax(out[0].data.as_f32().unwrap())
        })
        .collect()
}

fn check_digits_model(name: &str, input_prefix: &str, min_accuracy: f64) {
    let g = load_file(&ex(&format!("{name}.txt"))).unwrap();
    // The ten sample images: probabilities close to the reference.
    let expected = read(&format!("{name}/expected_probs.npy"));
    let expected = expected.data.as_f32().unwrap();
    let samples = std::fs::read_to_string(ex("digits/samples.txt")).unwrap();
    for (k, sample) in samples.lines().enumerate() {
        let file = format!(
            "digits/{input_prefix}{}.npy",
            sample.trim_start_matches("digit_")
        );
        let out = run(&g, &[read(&file)], Backend::Interp).unwrap();
        let got = out[0].data.as_f32().unwrap();
        let want = &expected[k * 10..k * 10 + 10];
        for (x, y) in got.iter().zip(want) {
            assert!(
                (x - y).abs() <= 1e-5,
                "{name} {sample}: {got:?} vs {want:?}"
            );
        }
    }
    // The whole held-out split: the same predicted class as the reference.
    let preds = predictions(&g, &read("digits/test_x.npy"));
    let want = read(&format!("{name}/expected_test_pred.npy"))
        .data
        .to_i64s()
        .unwrap();
    let labels = read("digits/test_y.npy").data.to_i64s().unwrap();
    let agree = preds
        .iter()
        .zip(&want)
        .filter(|(p, w)| **p as i64 == **w)
        .count();
    assert_eq!(
        agree,
        want.len(),
        "{name}: predictions differ from the numpy reference"
    );
    let correct = preds
        .iter()
        .zip(&labels)
        .filter(|(p, l)| **p as i64 == **l)
        .count();
    let acc = correct as f64 / labels.len() as f64;
    assert!(acc >= min_accuracy, "{name}: accuracy {acc}");
}

#[test]
fn digits_mlp_matches_reference() {
    check_digits_model("digits_mlp", "digit_", 0.95);
}

#[test]
fn digits_mlp_per_channel_matches_reference() {
    check_digits_model("digits_mlp_per_channel", "digit_", 0.95);
}

#[test]
fn digits_cnn_matches_reference() {
    check_digits_model("digits_cnn", "cnn_digit_", 0.95);
}
