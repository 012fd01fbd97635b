//! Generated well-typed graphs survive the text format: `parse(print(g)) ==
//! g`, and printing the parsed graph gives the same text. They also pass the
//! verifier, which is what makes them usable for differential tests.

use proptest::prelude::*;
use qcc_ir::diag::render;
use qcc_ir::text::{parse, print};
use qcc_testsuite::arb_graph;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn generated_graphs_round_trip(g in arb_graph()) {
        let text = print(&g);
        let back = match parse(&text, None) {
            Ok(b) => b,
            Err(d) => panic!("printed graph does not parse:\n{}", render(&d, "gen.txt", &text)),
        };
        prop_assert!(back == g, "round trip changed the graph:\n{}", text);
        prop_assert_eq!(print(&back), text);
    }

    #[test]
    fn generated_graphs_verify(g in arb_graph()) {
        let text = print(&g);
        if let Err(d) = qcc_ir::verify::verify(&g) {
            // Render against the printed text: the parsed graph has spans.
            let parsed = parse(&text, None).unwrap_or(g);
            let d = qcc_ir::verify::verify(&parsed).err().unwrap_or(d);
            panic!("generated graph is rejected:\n{}\n{text}", render(&d, "gen.txt", &text));
        }
    }
}
