//! JIT vs interpreter, bit for bit, on every bundled example and on every
//! dot-product path this host can run.

mod jit_common;

use jit_common::{assert_same, compile_forced};
use std::path::{Path, PathBuf};

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_example_matches_the_interpreter_on_every_path() {
    for path in examples() {
        let raw = qcc_compiler::load_file(&path).unwrap_or_else(|e| panic!("{}", e.render()));
        let lowered = qcc_compiler::compile(raw.clone(), &Default::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for (g, seed) in [
            (&raw, 0),
            (&raw, 1),
            (&lowered, 0),
            (&lowered, 1),
            (&lowered, 2),
        ] {
            let inputs = qcc_compiler::random_inputs(g, seed);
            let want = qcc_ir::interp::run(g, &inputs).unwrap();
            for p in qcc_compiler::model::supported_paths() {
                let m = compile_forced(g, p);
                let got = m.run(&inputs).unwrap();
                assert_same(
                    &want,
                    &got,
                    &format!("{} seed {seed} path {p}", path.display()),
                );
            }
        }
    }
}
