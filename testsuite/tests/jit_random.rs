//! JIT vs interpreter, bit for bit, on random well-typed graphs
//! (`qcc_testsuite::arb_graph`) and on random QDQ graphs after the default
//! pass pipeline (which turns them into integer ops), on every dot-product
//! path this host can run.

mod jit_common;

use jit_common::{assert_same, compile_forced};
use proptest::prelude::*;
use qcc_ir::Graph;
use qcc_testsuite::gen_qdq::arb_qdq_graph;
use qcc_testsuite::{GenConfig, arb_graph, arb_graph_with};

fn check(g: &Graph, seed: u64) -> Result<(), TestCaseError> {
    let inputs = qcc_compiler::random_inputs(g, seed);
    let want = match qcc_ir::interp::run(g, &inputs) {
        Ok(w) => w,
        // A generated graph the interpreter refuses is not a JIT question.
        Err(_) => return Ok(()),
    };
    for p in qcc_compiler::model::supported_paths() {
        let m = compile_forced(g, p);
        let got = m
            .run(&inputs)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        assert_same(
            &want,
            &got,
            &format!("path {p}:\n{}", qcc_ir::text::print(g)),
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn random_graphs_match_the_interpreter(g in arb_graph(), seed in 0u64..1000) {
        check(&g, seed)?;
    }

    #[test]
    fn random_graphs_with_blocked_weights_match_the_interpreter(
        g in arb_graph_with(GenConfig { blocked: true, ..GenConfig::default() }),
        seed in 0u64..1000,
    ) {
        check(&g, seed)?;
    }

    #[test]
    fn random_qdq_graphs_after_the_passes_match_the_interpreter(g in arb_qdq_graph(), seed in 0u64..1000) {
        let lowered = qcc_compiler::compile(g, &Default::default())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        check(&lowered, seed)?;
    }
}
