//! Every graph the pass tests produce (the output of each file's pipeline
//! under `testsuite/passes/`, and the input graph itself) runs on the JIT,
//! on every dot-product path this machine has, with the interpreter's
//! results bit for bit.

use qcc_compiler::model::{Compiler, TargetFeatures, supported_paths};
use qcc_compiler::{CompileOptions, compile_with, load_str};
use qcc_ir::{Graph, RequantMode};
use qcc_testsuite::header;
use std::path::{Path, PathBuf};

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("passes");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    v.sort();
    assert!(v.len() >= 40, "{} pass cases", v.len());
    v
}

fn check(name: &str, g: &Graph, seed: u64) {
    let inputs = qcc_compiler::random_inputs(g, seed);
    let want = qcc_ir::interp::run(g, &inputs).unwrap_or_else(|e| panic!("{name}: {e}"));
    for path in supported_paths() {
        let m = Compiler::new()
            .run_passes(false)
            .target_features(TargetFeatures::Force(path))
            .compile(g)
            .unwrap_or_else(|e| panic!("{name} ({path}): {e}"));
        let got = m
            .run(&inputs)
            .unwrap_or_else(|e| panic!("{name} ({path}): {e}"));
        assert_eq!(
            got, want,
            "{name}: the JIT ({path}) differs from the interpreter"
        );
    }
}

#[test]
fn pass_test_graphs_run_bit_exact_on_the_jit() {
    for path in cases() {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let dir = path.parent().unwrap();
        let g = load_str(&text, &name, Some(dir)).unwrap_or_else(|e| panic!("{}", e.render()));
        let requant = header(&text, "requant")
            .and_then(RequantMode::from_name)
            .unwrap_or(RequantMode::Float);
        let options = CompileOptions {
            passes: Some(header(&text, "pipeline").unwrap_or("default").to_string()),
            requant,
            // The host's layouts, which the JIT reads as they are.
            target: None,
            verify_each: true,
        };
        let (out, _) = compile_with(g.clone(), &options, &mut |_, _| {})
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for seed in 0..3 {
            check(&format!("{name} (input)"), &g, seed);
            check(&format!("{name} (after the pipeline)"), &out, seed);
        }
    }
}
