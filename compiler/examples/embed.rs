//! Embedding qcc in a host application: load a graph, compile it once to
//! machine code, run it from several threads, reuse the output buffers.
//!
//! `cargo run -p qcc-compiler --example embed [graph.txt]` (default: the
//! bundled digits CNN).

use qcc_compiler::model::{Compiler, OptLevel};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/digits_cnn.txt")
        });
    let graph = qcc_compiler::load_file(&path)?;
    let model = Compiler::new().opt_level(OptLevel::Speed).compile(&graph)?;
    let inputs = qcc_compiler::random_inputs(&graph, 0);

    // One call...
    let outputs = model.run(&inputs)?;
    // ...or allocation-free calls reusing the output tensors.
    let mut reused = model.new_outputs();
    model.run_into(&inputs, &mut reused)?;
    assert_eq!(outputs, reused);

    // The model is Send + Sync: share it between threads.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| assert_eq!(model.run(&inputs).unwrap(), outputs));
        }
    });

    // The JIT and the interpreter agree on the same (compiled) graph.
    let lowered = qcc_compiler::compile(graph.clone(), &Default::default())?;
    let interp = qcc_ir::interp::run(&lowered, &inputs)?;
    assert_eq!(interp, outputs);

    let stats = model.bench(&inputs, 10, 100)?;
    println!(
        "{}: compiled in {:?} (dot path {}), {} outputs, median run {:?} (min {:?}, max {:?})",
        path.display(),
        model.compile_time(),
        model.dot_path(),
        outputs.len(),
        stats.median,
        stats.min,
        stats.max
    );
    for (o, t) in graph.outputs().iter().zip(&outputs) {
        println!("  %{}: shape {:?}", o.name, t.shape);
    }
    Ok(())
}
