//! # qcc-passes: rewrite passes and the pass manager
//!
//! A pass is named once, in [`PASSES`]; a pipeline is a list of pass names
//! ([`parse_pipeline`]: unknown names are an error that lists the valid
//! ones). [`run_pipeline`] runs the passes in order and verifies the graph
//! after each one, so a pass that breaks an invariant is caught at once and
//! named.
//!
//! The rewrites that turn QDQ graphs into integer graphs run on e-graphs
//! ([`egraph`]: the IR graph becomes an e-graph keeping its sharing, named
//! rules with named guards saturate it within explicit limits, a cost model
//! extracts the cheapest graph). Their rules are in [`rules`]:
//! `lower-qdq`, `fuse-requant`, `fold-zero-points`, `fold-constants`,
//! `pick-layout` (constant weights packed for the target's dot-product
//! kernels, [`PassOptions::target`]). The graph-level clean-ups `cse` and
//! `dce` work on the graph directly.

#![forbid(unsafe_code)]

mod cse;
mod dce;
pub mod egraph;
mod egraph_passes;
mod lookup;
pub mod rules;

use qcc_ir::{Diagnostic, Graph, RequantMode};
use std::time::{Duration, Instant};

/// Options every pass can read.
#[derive(Clone, Debug, Default)]
pub struct PassOptions {
    /// The arithmetic given to requantize ops that passes create.
    pub requant: RequantMode,
    /// The dot-product kernels `pick-layout` lays constant weights out for
    /// (default: portable, which keeps them row-major; `qcc compile`
    /// defaults to the host's).
    pub target: LayoutTarget,
    /// Verify the graph after every pass (tests, `qcc compile
    /// --verify-each`). Otherwise [`run_pipeline`] verifies the final graph
    /// only, and runs the pipeline again verifying each pass when that
    /// fails, to name the pass: the same error, without the cost of a
    /// verification per pass on large weights when nothing is wrong.
    pub verify_each: bool,
}

pub use qcc_ir::target::LayoutTarget;

/// What a pass reports: counters (`--stats`) and remarks for the user (for
/// example an op left in float because it has no integer form).
#[derive(Clone, Debug, Default)]
pub struct PassLog {
    pub stats: Vec<(String, u64)>,
    pub remarks: Vec<String>,
}

impl PassLog {
    pub fn stat(&mut self, name: impl Into<String>, value: u64) {
        self.stats.push((name.into(), value));
    }
}

/// A pass: its name (as written in `--passes`), a one-line summary, and the
/// function that rewrites the graph in place.
#[derive(Debug)]
pub struct PassInfo {
    pub name: &'static str,
    pub summary: &'static str,
    pub run: fn(&mut Graph, &PassOptions, &mut PassLog),
}

/// Every pass, by name.
pub static PASSES: &[PassInfo] = &[
    PassInfo {
        name: "lower-qdq",
        summary: "dequantize -> float op -> quantize becomes integer ops with i32 accumulators",
        run: egraph_passes::lower_qdq,
    },
    PassInfo {
        name: "fuse-requant",
        summary: "quantize after dequantize becomes requantize; relu/clamp become clamp bounds",
        run: egraph_passes::fuse_requant,
    },
    PassInfo {
        name: "fold-zero-points",
        summary: "fold constant weights' zero points at compile time",
        run: egraph_passes::fold_zero_points,
    },
    PassInfo {
        name: "fold-constants",
        summary: "compute ops whose operands are all constants at compile time",
        run: egraph_passes::fold_constants,
    },
    PassInfo {
        name: "fold-lookup",
        summary: "an elementwise computation of one 8-bit tensor becomes a 256-entry table lookup",
        run: lookup::run,
    },
    PassInfo {
        name: "pick-layout",
        summary: "pack constant weights in the layout the target's dot-product kernels read",
        run: egraph_passes::pick_layout,
    },
    PassInfo {
        name: "cse",
        summary: "merge ops that compute the same value from the same operands",
        run: cse::run,
    },
    PassInfo {
        name: "dce",
        summary: "remove ops that no output depends on",
        run: dce::run,
    },
];

/// The passes `qcc compile` runs when no `--passes` list is given.
pub const DEFAULT_PIPELINE: &[&str] = &[
    "cse",
    "lower-qdq",
    "fuse-requant",
    "fold-zero-points",
    "fold-constants",
    "fold-lookup",
    "pick-layout",
    "cse",
    "dce",
];

/// Looks a pass up by name.
pub fn find_pass(name: &str) -> Option<&'static PassInfo> {
    PASSES.iter().find(|p| p.name == name)
}

/// Parses a comma-separated pass list. `none` (or an empty list) is the empty
/// pipeline; `default` stands for [`DEFAULT_PIPELINE`].
pub fn parse_pipeline(spec: &str) -> Result<Vec<&'static PassInfo>, String> {
    let mut out = Vec::new();
    for name in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match name {
            "none" => {}
            "default" => out.extend(
                DEFAULT_PIPELINE
                    .iter()
                    .map(|n| find_pass(n).expect("known")),
            ),
            _ => match find_pass(name) {
                Some(p) => out.push(p),
                None => {
                    let valid: Vec<&str> = PASSES.iter().map(|p| p.name).collect();
                    return Err(format!(
                        "unknown pass `{name}`; the passes are: {}, and `none` or `default`",
                        valid.join(", ")
                    ));
                }
            },
        }
    }
    Ok(out)
}

/// What happened in one pass.
#[derive(Clone, Debug)]
pub struct PassRun {
    pub name: &'static str,
    pub time: Duration,
    pub log: PassLog,
}

/// A pass produced a graph that does not verify: a bug in that pass.
#[derive(Clone, Debug)]
pub struct PipelineError {
    pub pass: &'static str,
    pub diagnostics: Vec<Diagnostic>,
}

impl std::fmt::Display for PipelineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "internal error: pass `{}` produced an invalid graph:",
            self.pass
        )?;
        for d in &self.diagnostics {
            write!(f, "\n  {}", d.message)?;
            for n in &d.notes {
                write!(f, "\n    = {n}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for PipelineError {}

/// Runs `passes` in order on a verified graph, verifying the result (after
/// each pass with [`PassOptions::verify_each`]; either way an invalid graph
/// is reported against the first pass that produced one). `after_pass`
/// sees the graph after every pass (for `--print-after-all`).
pub fn run_pipeline(
    graph: Graph,
    passes: &[&'static PassInfo],
    options: &PassOptions,
    after_pass: &mut dyn FnMut(&PassRun, &Graph),
) -> Result<(Graph, Vec<PassRun>), PipelineError> {
    // Constants are shared, so keeping the input for a second run is cheap.
    let input = (!options.verify_each).then(|| graph.clone());
    let (graph, runs) = run_passes(graph, passes, options, after_pass)?;
    if let Some(input) = input
        && let Err(diagnostics) = qcc_ir::verify::verify(&graph)
    {
        // Name the pass that broke the graph.
        let each = PassOptions {
            verify_each: true,
            ..options.clone()
        };
        run_passes(input, passes, &each, &mut |_, _| {})?;
        return Err(PipelineError {
            pass: runs.last().map_or("the pipeline", |r| r.name),
            diagnostics,
        });
    }
    Ok((graph, runs))
}

fn run_passes(
    mut graph: Graph,
    passes: &[&'static PassInfo],
    options: &PassOptions,
    after_pass: &mut dyn FnMut(&PassRun, &Graph),
) -> Result<(Graph, Vec<PassRun>), PipelineError> {
    let mut runs = Vec::new();
    for p in passes {
        let mut log = PassLog::default();
        let start = Instant::now();
        (p.run)(&mut graph, options, &mut log);
        let run = PassRun {
            name: p.name,
            time: start.elapsed(),
            log,
        };
        if options.verify_each {
            qcc_ir::verify::verify(&graph).map_err(|diagnostics| PipelineError {
                pass: p.name,
                diagnostics,
            })?;
        }
        after_pass(&run, &graph);
        runs.push(run);
    }
    Ok((graph, runs))
}

/// Runs the default pipeline, discarding the per-pass records.
pub fn run_default_pipeline(graph: Graph) -> Result<Graph, PipelineError> {
    let passes = parse_pipeline("default").expect("the default pipeline is valid");
    run_pipeline(graph, &passes, &PassOptions::default(), &mut |_, _| {}).map(|(g, _)| g)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pass that breaks the graph (gives the output a shape its op
    /// cannot produce) is named whether the graph is verified after every
    /// pass or only at the end.
    #[test]
    fn the_pass_that_breaks_the_graph_is_named() {
        static BREAK: PassInfo = PassInfo {
            name: "break",
            summary: "",
            run: |g, _, _| {
                let out = g.outputs()[0].value;
                g.node_mut(out).ty.shape = vec![7];
            },
        };
        let text = "graph @g(%x: tensor<2xf32>) -> (%y: tensor<2xf32>) {\n  %r = relu %x : tensor<2xf32>\n  return %r\n}\n";
        let g = qcc_ir::text::parse(text, None).expect("parses");
        qcc_ir::verify::verify(&g).expect("verifies");
        let cse = PASSES.iter().find(|p| p.name == "cse").unwrap();
        let dce = PASSES.iter().find(|p| p.name == "dce").unwrap();
        for verify_each in [false, true] {
            let options = PassOptions {
                verify_each,
                ..PassOptions::default()
            };
            let e = run_pipeline(g.clone(), &[cse, &BREAK, dce], &options, &mut |_, _| {})
                .expect_err("the graph is broken");
            assert_eq!(e.pass, "break", "verify_each = {verify_each}");
        }
    }

    #[test]
    fn pipeline_names() {
        assert_eq!(parse_pipeline("none").unwrap().len(), 0);
        assert_eq!(parse_pipeline("").unwrap().len(), 0);
        let p = parse_pipeline("dce, cse").unwrap();
        assert_eq!(p.iter().map(|p| p.name).collect::<Vec<_>>(), ["dce", "cse"]);
        assert_eq!(
            parse_pipeline("default").unwrap().len(),
            DEFAULT_PIPELINE.len()
        );
        let e = parse_pipeline("dce,lower-qdqq").unwrap_err();
        assert!(
            e.contains("unknown pass `lower-qdqq`") && e.contains("cse, dce"),
            "{e}"
        );
    }
}
