//! Every bundled example parses, verifies, prints back to an equal graph
//! (and printing is a fixed point), and runs in the interpreter.

use qcc_ir::text::{parse, print};
use std::path::{Path, PathBuf};

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    v.sort();
    assert!(
        v.len() >= 5,
        "expected at least 5 examples, found {}",
        v.len()
    );
    v
}

#[test]
fn examples_verify_and_round_trip() {
    for path in examples() {
        let g = qcc_compiler::load_file(&path).unwrap_or_else(|e| panic!("{}", e.render()));
        let text = print(&g);
        let g2 = parse(&text, path.parent()).unwrap_or_else(|d| {
            panic!(
                "{}: printed text does not parse:\n{}",
                path.display(),
                qcc_ir::diag::render(&d, "printed", &text)
            )
        });
        assert!(g == g2, "{}: parse(print(g)) != g", path.display());
        assert_eq!(
            print(&g2),
            text,
            "{}: printing is not a fixed point",
            path.display()
        );
    }
}

#[test]
fn examples_run_in_the_interpreter() {
    for path in examples() {
        let g = qcc_compiler::load_file(&path).unwrap();
        let inputs = qcc_compiler::random_inputs(&g, 1);
        let out = qcc_compiler::run(&g, &inputs, qcc_compiler::Backend::Interp)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(out.len(), g.outputs().len());
        for (o, t) in g.outputs().iter().zip(&out) {
            assert_eq!(
                t.shape,
                g.ty(o.value).shape,
                "{}: output {}",
                path.display(),
                o.name
            );
        }
    }
}
