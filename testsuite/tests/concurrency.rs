//! One compiled model shared by 8 threads, each running it on different
//! inputs many times: every result equals the sequential run's. And many
//! models compiled at once from several threads give the same code results.

use qcc_compiler::model::{CompiledModel, Compiler};
use qcc_ir::{Graph, Tensor};
use std::path::Path;

fn example(name: &str) -> Graph {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name);
    qcc_compiler::load_file(&p).unwrap_or_else(|e| panic!("{}", e.render()))
}

#[test]
fn one_model_from_eight_threads() {
    let g = example("digits_cnn.txt");
    let model: CompiledModel = Compiler::new().compile(&g).unwrap();
    let inputs: Vec<Vec<Tensor>> = (0..64)
        .map(|s| qcc_compiler::random_inputs(&g, s))
        .collect();
    let expected: Vec<Vec<Tensor>> = inputs.iter().map(|i| model.run(i).unwrap()).collect();
    // The sequential results differ between inputs (the test can tell them apart).
    assert!(expected.iter().any(|e| *e != expected[0]));
    // QCC_CONCURRENCY_RUNS lowers the count for slow checkers (helgrind, drd).
    let runs_per_thread = std::env::var("QCC_CONCURRENCY_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    std::thread::scope(|s| {
        for t in 0..8usize {
            let (model, inputs, expected) = (&model, &inputs, &expected);
            s.spawn(move || {
                let mut out = model.new_outputs();
                for i in 0..runs_per_thread {
                    let k = (t * 7 + i * 13) % inputs.len();
                    if i % 2 == 0 {
                        model.run_into(&inputs[k], &mut out).unwrap();
                        assert_eq!(out, expected[k], "thread {t}, run {i}, input {k}");
                    } else {
                        assert_eq!(model.run(&inputs[k]).unwrap(), expected[k]);
                    }
                }
            });
        }
    });
}

#[test]
fn many_models_compiled_at_once() {
    let names = [
        "digits_mlp.txt",
        "digits_mlp_per_channel.txt",
        "digits_cnn.txt",
        "residual.txt",
    ];
    let graphs: Vec<Graph> = names.iter().map(|n| example(n)).collect();
    let expected: Vec<Vec<Tensor>> = graphs
        .iter()
        .map(|g| {
            let m = Compiler::new().compile(g).unwrap();
            m.run(&qcc_compiler::random_inputs(g, 9)).unwrap()
        })
        .collect();
    std::thread::scope(|s| {
        for t in 0..8usize {
            let (graphs, expected) = (&graphs, &expected);
            s.spawn(move || {
                for r in 0..4 {
                    let k = (t + r) % graphs.len();
                    let m = Compiler::new().compile(&graphs[k]).unwrap();
                    let got = m.run(&qcc_compiler::random_inputs(&graphs[k], 9)).unwrap();
                    assert_eq!(got, expected[k], "thread {t}, model {}", names[k]);
                }
            });
        }
    });
}
