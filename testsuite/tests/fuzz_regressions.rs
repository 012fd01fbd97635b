//! Inputs the fuzzers (`fuzz/`) once crashed, hung or found a mismatch on,
//! minimized: `fuzz_regressions/<target>/*` is replayed through the same
//! check as the target (`qcc_testsuite::fuzz`), so each must now give a
//! result or a clean error (and, for `differential`, matching results).
//! Add a file to add a case; the folder name picks the check.

use qcc_testsuite::fuzz;
use std::path::Path;
use std::time::{Duration, Instant};

/// Replays every file of one folder; returns how many there were.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz_regressions")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.retain(|p: &std::path::PathBuf| p.is_file() && !p.ends_with("README.md"));
    files.sort();
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let t0 = Instant::now();
        let r = std::panic::catch_unwind(|| check(&data));
        assert!(r.is_ok(), "{}: the check failed (see above)", f.display());
        // The fuzzers ran with -timeout=10; a case that once hung must now be quick.
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{}: took {:?}",
            f.display(),
            t0.elapsed()
        );
    }
    files.len()
}

#[test]
fn parse_verify() {
    replay("parse_verify", fuzz::text);
}

#[test]
fn onnx_raw() {
    replay("onnx_raw", fuzz::onnx_bytes);
}

#[test]
fn onnx_mutate() {
    replay("onnx_mutate", fuzz::onnx_mutate);
}

#[test]
fn npy() {
    assert!(replay("npy", fuzz::npy) >= 1);
}

#[test]
fn differential() {
    replay("differential", fuzz::differential);
}

/// The seed corpora of the fuzz targets pass their checks too (a quick
/// smoke of every target without a fuzzer; `.ci/run` also runs the real
/// fuzzers briefly where it can).
#[test]
fn seed_corpora() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for (target, check) in [
        ("parse_verify", fuzz::text as fn(&[u8])),
        ("onnx_raw", fuzz::onnx_bytes),
        ("onnx_mutate", fuzz::onnx_mutate),
        ("npy", fuzz::npy),
        ("differential", fuzz::differential),
    ] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(target))
            .unwrap_or_else(|e| panic!("{target}: {e}"))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{target}: empty seed corpus");
        for f in files {
            let data = std::fs::read(&f).unwrap();
            let r = std::panic::catch_unwind(|| check(&data));
            assert!(r.is_ok(), "{}: the check failed (see above)", f.display());
        }
    }
}

/// The structure-aware ONNX target finds its bundled models.
#[test]
fn onnx_seed_models_load() {
    let seeds = fuzz::seed_models();
    assert!(seeds.len() >= 18, "{} seed models", seeds.len());
    assert!(seeds.iter().any(|s| s.name.contains("qdq")));
}
