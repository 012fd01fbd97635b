//! Meaning is preserved (`docs/semantics.md` § What rewrites may change):
//! the interpreter's outputs before and after each pass alone, and after
//! the whole pipeline, agree: exactly for the pure integer rewrites
//! (`fold-zero-points`, `fold-constants`, `fold-lookup`, `pick-layout`, `cse`,
//! `dce`) and
//! within one
//! quantization step of the output for the rewrites that turn a float
//! computation or rescale into integers (`lower-qdq`, `fuse-requant`).

use proptest::prelude::*;
use qcc_compiler::{CompileOptions, LayoutTarget, compile};
use qcc_ir::{Graph, RequantMode, Tensor, TensorData, interp};
use qcc_testsuite::arb_graph;
use qcc_testsuite::gen_qdq::arb_qdq_graph;

const PASSES: &[&str] = &[
    "lower-qdq",
    "fuse-requant",
    "fold-zero-points",
    "fold-constants",
    "fold-lookup",
    "pick-layout",
    "cse",
    "dce",
    "default",
];

const EXACT: &[&str] = &[
    "fold-zero-points",
    "fold-constants",
    "fold-lookup",
    "pick-layout",
    "cse",
    "dce",
];

fn run_pipeline(g: &Graph, passes: &str, mode: RequantMode) -> Graph {
    run_for(g, passes, mode, LayoutTarget::Amx)
}

/// [`run_pipeline`] with weights packed for `target` (the default target
/// above: AMX, so that both K paddings appear on every host).
fn run_for(g: &Graph, passes: &str, mode: RequantMode, target: LayoutTarget) -> Graph {
    let options = CompileOptions {
        passes: Some(passes.into()),
        requant: mode,
        target: Some(target),
        verify_each: true,
    };
    match compile(g.clone(), &options) {
        Ok(out) => out,
        Err(e) => panic!("{passes}: {e}\n{}", qcc_ir::text::print(g)),
    }
}

/// The largest difference between two outputs: in codes for integer data,
/// in units of `step` for f32 data (NaN equals NaN).
fn max_diff(a: &Tensor, b: &Tensor, step: f32) -> f64 {
    assert_eq!(a.shape, b.shape);
    match (&a.data, &b.data) {
        (TensorData::F32(x), TensorData::F32(y)) => x
            .iter()
            .zip(y)
            .map(|(p, q)| {
                if p.is_nan() && q.is_nan() || p.to_bits() == q.to_bits() {
                    0.0
                } else {
                    ((p - q).abs() / step) as f64
                }
            })
            .fold(0.0, f64::max),
        (x, y) => {
            let (x, y) = (x.to_i64s().unwrap(), y.to_i64s().unwrap());
            x.iter()
                .zip(&y)
                .map(|(p, q)| (p - q).abs() as f64)
                .fold(0.0, f64::max)
        }
    }
}

/// Runs both graphs on `seeds` random inputs; returns the largest
/// difference over all outputs.
fn compare(before: &Graph, after: &Graph, seeds: u64) -> f64 {
    let mut worst = 0.0f64;
    for seed in 0..seeds {
        let inputs = qcc_compiler::random_inputs(before, seed);
        let a = interp::run(before, &inputs).expect("the original runs");
        let b = match interp::run(after, &inputs) {
            Ok(b) => b,
            Err(e) => panic!("rewritten graph fails: {e}\n{}", qcc_ir::text::print(after)),
        };
        for (x, y) in a.iter().zip(&b) {
            worst = worst.max(max_diff(x, y, f32::MIN_POSITIVE));
        }
    }
    worst
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Every pass alone and the default pipeline, in every requantize mode,
    /// on one-block QDQ graphs: the output codes differ by at most 1.
    #[test]
    fn qdq_blocks_within_one_step(g in arb_qdq_graph(), m in 0usize..3) {
        let mode = RequantMode::ALL[m];
        for p in PASSES {
            let after = run_pipeline(&g, p, mode);
            let d = compare(&g, &after, 3);
            let bound = if EXACT.contains(p) { 0.0 } else { 1.0 };
            prop_assert!(d <= bound, "{p} ({mode}): codes differ by {d}\nbefore:\n{}\nafter:\n{}",
                qcc_ir::text::print(&g), qcc_ir::text::print(&after));
        }
    }

    /// `pick-layout` on lowered QDQ graphs, for every target: bit for bit
    /// (a layout orders bytes, never changes a value), and the packed
    /// result loads back from its printed text.
    #[test]
    fn pick_layout_is_exact(g in arb_qdq_graph(), m in 0usize..3) {
        let mode = RequantMode::ALL[m];
        let lowered = run_pipeline(&g, "lower-qdq,fuse-requant,fold-zero-points,fold-constants", mode);
        for target in LayoutTarget::ALL {
            let packed = run_for(&lowered, "pick-layout", mode, target);
            let d = compare(&lowered, &packed, 3);
            prop_assert!(d == 0.0, "pick-layout ({target:?}): outputs differ\nbefore:\n{}\nafter:\n{}",
                qcc_ir::text::print(&lowered), qcc_ir::text::print(&packed));
            let text = qcc_ir::text::print(&packed);
            let back = qcc_compiler::load_str(&text, "packed.txt", None).map_err(|e| e.render());
            prop_assert!(back.as_ref().is_ok_and(|b| *b == packed), "{back:?}\n{text}");
            if target == LayoutTarget::Portable {
                prop_assert!(!text.contains(", #"), "portable packed something:\n{text}");
            }
        }
    }

    /// The exact passes on general random graphs: bit for bit.
    #[test]
    fn exact_passes_on_random_graphs(g in arb_graph()) {
        for p in EXACT {
            let after = run_pipeline(&g, p, RequantMode::Float);
            let d = compare(&g, &after, 2);
            prop_assert!(d == 0.0, "{p}: outputs differ\nbefore:\n{}\nafter:\n{}",
                qcc_ir::text::print(&g), qcc_ir::text::print(&after));
        }
    }

    /// Every pass keeps general random graphs valid (the pipeline verifies
    /// after each pass) and runnable.
    #[test]
    fn passes_keep_random_graphs_valid(g in arb_graph()) {
        for p in PASSES {
            let after = run_pipeline(&g, p, RequantMode::Float);
            let inputs = qcc_compiler::random_inputs(&g, 1);
            if interp::run(&g, &inputs).is_ok() {
                prop_assert!(interp::run(&after, &inputs).is_ok(), "{p} broke:\n{}", qcc_ir::text::print(&after));
            }
        }
    }
}

/// The generator exercises the rules: on most one-block graphs the default
/// pipeline leaves no float op at all.
#[test]
fn lowering_fires_on_most_generated_blocks() {
    let (mut lowered, total) = (0, 300u32);
    for s in 0..total {
        let choices: Vec<u32> = (0..40u32)
            .map(|i| (s.wrapping_mul(2654435761) ^ i.wrapping_mul(40503)).rotate_left(i % 31))
            .collect();
        let g = qcc_testsuite::gen_qdq::build_qdq_graph(&choices);
        let after = run_pipeline(&g, "default", RequantMode::Float);
        let float_ops = after
            .node_ids()
            .filter(|&v| {
                after.ty(v).elem.is_f32() && !matches!(after.node(v).op, qcc_ir::Op::Input(_))
            })
            .count();
        if float_ops == 0 {
            lowered += 1;
        }
    }
    assert!(
        lowered * 10 >= total * 8,
        "only {lowered} of {total} blocks lowered"
    );
}

/// A sample input for each bundled example.
fn example_inputs(name: &str, g: &Graph) -> Vec<Vec<Tensor>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let read = |p: &str| qcc_ir::npy::read_as(&root.join(p), g.ty(g.inputs()[0])).unwrap();
    match name {
        "worked_example" => vec![vec![read("worked_example/x.npy")]],
        "residual" => vec![vec![read("residual/x.npy")]],
        "digits_cnn" => std::fs::read_to_string(root.join("digits/samples.txt"))
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| vec![read(&format!("digits/cnn_{}.npy", l.trim()))])
            .collect(),
        _ => std::fs::read_to_string(root.join("digits/samples.txt"))
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| vec![read(&format!("digits/{}.npy", l.trim()))])
            .collect(),
    }
}

/// Every bundled example: the default pipeline in each mode leaves no float
/// op between the input quantize and the output dequantize except softmax
/// (and the worked example's float arithmetic on the input), and the
/// outputs agree: digit classes identical, probabilities within 0.03,
/// dequantized outputs within 2 output steps (a one-step difference inside
/// can move the output by a step after the next op).
#[test]
fn examples_keep_their_meaning() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for name in [
        "worked_example",
        "residual",
        "digits_mlp",
        "digits_mlp_per_channel",
        "digits_cnn",
    ] {
        let g = qcc_compiler::load_file(&root.join(format!("{name}.txt"))).unwrap();
        for mode in RequantMode::ALL {
            let after = run_pipeline(&g, "default", mode);
            for v in after.node_ids() {
                let n = after.node(v);
                let allowed = matches!(
                    n.op,
                    qcc_ir::Op::Input(_)
                        | qcc_ir::Op::Const(_)
                        | qcc_ir::Op::Quantize
                        | qcc_ir::Op::Dequantize
                        | qcc_ir::Op::Softmax { .. }
                ) || name == "worked_example";
                assert!(
                    allowed || !n.ty.elem.is_f32(),
                    "{name}: float op {} left",
                    n.op.name()
                );
            }
            for inputs in example_inputs(name, &g) {
                let a = interp::run(&g, &inputs).unwrap();
                let b = interp::run(&after, &inputs).unwrap();
                for (x, y) in a.iter().zip(&b) {
                    let (x, y) = (x.data.as_f32(), y.data.as_f32());
                    let (Some(x), Some(y)) = (x, y) else { continue };
                    let worst = x
                        .iter()
                        .zip(y)
                        .map(|(p, q)| (p - q).abs())
                        .fold(0.0, f32::max);
                    let bound = match name {
                        "residual" => 2.0 * 0.046512987,
                        "worked_example" => 0.0,
                        _ => 0.03,
                    };
                    assert!(worst <= bound, "{name} ({mode}): outputs differ by {worst}");
                    if name.starts_with("digits") {
                        let am = |v: &[f32]| {
                            v.iter()
                                .enumerate()
                                .fold(0, |m, (i, p)| if *p > v[m] { i } else { m })
                        };
                        assert_eq!(am(x), am(y), "{name} ({mode}): the predicted class changed");
                    }
                }
            }
        }
    }
}
