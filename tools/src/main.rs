//! `qcc`: the command-line front end of the qcc compiler.
//!
//! This is the only crate that parses arguments and writes diagnostics to a
//! terminal. Exit codes: 0 success, 1 bad input (a diagnostic was printed),
//! 2 usage error (clap's own).

#![forbid(unsafe_code)]

mod aot;
mod bench;
mod peak;
mod quantize;
mod report;
mod summary;

use clap::{Parser, Subcommand, ValueEnum};
use qcc_compiler::model::{Compiler, DotPath, TargetFeatures};
use qcc_compiler::output::DEFAULT_INLINE_MAX;
use qcc_compiler::{Backend, CompileOptions, ImportOptions, LoadError, LoadOptions};
use qcc_ir::{Graph, Limits, Tensor};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "qcc",
    version,
    about = "A compiler for quantized neural-network graphs",
    long_about = "qcc reads quantized (int8) graphs in its MLIR-like text format, verifies \
                  them, rewrites them and runs them.\n\n\
                  Exit codes: 0 success, 1 bad input (a diagnostic is printed), 2 usage error.",
    after_help = "Examples:\n  \
                  qcc check examples/digits_mlp.txt\n  \
                  qcc run examples/digits_mlp.txt --input x=examples/digits/digit_7_0.npy\n  \
                  qcc run examples/digits_cnn.txt --random-inputs 1 --output-dir out\n  \
                  qcc compile examples/digits_mlp.txt --passes lower-qdq,fuse-requant --stats\n  \
                  qcc fmt examples/residual.txt"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    onnx: OnnxArgs,
}

/// Options for `.onnx` models (ignored for qcc text graphs).
#[derive(clap::Args, Debug)]
struct OnnxArgs {
    /// The size of a symbolic dimension, as NAME=N (repeatable), e.g. `--dim N=64`.
    #[arg(long = "dim", global = true, value_name = "NAME=N")]
    dims: Vec<String>,
    /// Replace a graph input by the contents of a .npy file, as NAME=FILE.npy
    /// (repeatable): scales and zero points given as inputs become constants.
    #[arg(long = "bind", global = true, value_name = "NAME=FILE")]
    binds: Vec<String>,
    /// Import QLinearAdd (and the add of a fused QDQ Add) with qcc's float
    /// formula, not onnxruntime's arithmetic (`add_int {ort = true}`, the
    /// default: bit-exact with onnxruntime).
    #[arg(long = "no-ort-arith", global = true)]
    no_ort_arith: bool,
}

impl OnnxArgs {
    fn import_options(&self) -> Result<ImportOptions, Failure> {
        let mut o = ImportOptions {
            ort_arith: !self.no_ort_arith,
            ..ImportOptions::default()
        };
        for d in &self.dims {
            let parsed = d
                .split_once('=')
                .and_then(|(n, v)| Some((n, v.parse::<usize>().ok()?)))
                .filter(|(n, v)| !n.is_empty() && *v > 0);
            let Some((n, v)) = parsed else {
                return Err(error(format!("`--dim {d}`: expected NAME=N with N ≥ 1")));
            };
            o.dims.insert(n.to_string(), v);
        }
        for (n, p) in parse_input_args(&self.binds, "--bind")? {
            let t = qcc_ir::npy::read(&p).map_err(|e| error(format!("`--bind {n}=...`: {e}")))?;
            o.bindings.insert(n, t);
        }
        Ok(o)
    }
}

/// What every command needs to load a model.
struct Ctx {
    load: LoadOptions,
    onnx: ImportOptions,
}

impl Ctx {
    fn load(&self, path: &Path) -> Result<Graph, Failure> {
        Ok(qcc_compiler::load_model(path, &self.load, &self.onnx)?)
    }
}

/// Resource limits: a graph that declares more is refused before anything
/// is allocated for it.
#[derive(clap::Args, Debug)]
struct LimitArgs {
    /// The most elements one tensor may have.
    #[arg(long, global = true, value_name = "N", default_value_t = Limits::default().max_tensor_elements)]
    max_tensor_elements: usize,
    /// The most bytes all constants together may take.
    #[arg(long, global = true, value_name = "N", default_value_t = Limits::default().max_constant_bytes)]
    max_constant_bytes: usize,
    /// The most nodes a graph may have.
    #[arg(long, global = true, value_name = "N", default_value_t = Limits::default().max_nodes)]
    max_nodes: usize,
}

impl LimitArgs {
    fn load_options(&self) -> LoadOptions {
        LoadOptions {
            limits: Limits {
                max_tensor_elements: self.max_tensor_elements,
                max_constant_bytes: self.max_constant_bytes,
                max_nodes: self.max_nodes,
            },
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse, verify and compile a graph, and print the result.
    ///
    /// Runs the pass pipeline (by default: cse, lower-qdq, fuse-requant,
    /// fold-zero-points, fold-constants, fold-lookup, pick-layout, cse, dce), verifying the graph after
    /// every pass, and prints the result in canonical form. Remarks (ops left
    /// in float, rules that did not apply) go to standard error.
    Compile {
        /// The graph file (`graph.txt`).
        graph: PathBuf,
        /// Write the result here instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        passes: PassArgs,
        /// Print the graph after every pass (to standard error).
        #[arg(long)]
        print_after_all: bool,
        /// Print the time each pass took (to standard error).
        #[arg(long)]
        time_passes: bool,
        /// Print each pass's statistics: e-graph sizes, iterations, why
        /// saturation stopped, how often each rule fired (to standard error).
        #[arg(long)]
        stats: bool,
        /// What to print: the graph, or the JIT's Cranelift IR or machine code
        /// for each op, or an ahead-of-time object (`obj`) or its C header
        /// (`header`) for `--target x86_64|aarch64|host`.
        #[arg(long, value_enum, default_value_t = EmitArg::Graph)]
        emit: EmitArg,
        /// `--emit obj|header`: the C prefix of the object's symbols and
        /// macros (default: the model's file stem, made a C identifier).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// `--emit obj|header`: CPU features to turn on or off after the
        /// target's defaults, e.g. `+i8mm` or `-dotprod` (aarch64 default:
        /// dotprod; x86_64: SSE4.2 and POPCNT).
        #[arg(long, value_name = "LIST")]
        cpu_features: Option<String>,
    },
    /// Run a graph on inputs and print a summary of each output.
    Run(RunArgs),
    /// Time a graph: compile time, then latency over many runs, throughput
    /// and GOPS (inputs: the files given, else random from seed 0).
    Bench(BenchArgs),
    /// Measure this machine's int8 peak per dot path (and f32 FMA's): each
    /// path's multiply-accumulate instruction on independent register
    /// accumulators, the figure benchmarks report their GOPS against.
    Peak(peak::PeakArgs),
    /// Quantize a float model with calibration data (post-training
    /// quantization): writes a qcc text graph with quant types or a QDQ
    /// ONNX model.
    Quantize(quantize::QuantizeArgs),
    /// Compare a float model with its quantized twin tensor by tensor
    /// (SQNR, max error, saturation, outlier channel; output SQNR, top-1).
    Report(report::ReportArgs),
    /// Import an ONNX model (QDQ, QOperator or float) as a qcc graph.
    ///
    /// With `-o`, constants of more than 16 elements are written as .npy
    /// files into `<output stem>_data/` beside the graph.
    Import {
        /// The model (`model.onnx`).
        model: PathBuf,
        /// Write the graph here instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// List every node whose operator qcc does not import (grouped by
        /// operator, with counts and node names), then try the import and
        /// report its first refusal; write no graph. Exit code 1 when
        /// anything is refused.
        #[arg(long)]
        report_unsupported: bool,
    },
    /// Parse and verify a graph; print nothing but errors (and one line on success).
    Check {
        /// The graph file.
        graph: PathBuf,
    },
    /// Print a graph in canonical form.
    Fmt {
        /// The graph file.
        graph: PathBuf,
        /// Write the result here instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Do not print; exit with 1 if the file is not in canonical form.
        #[arg(long, conflicts_with = "output")]
        check: bool,
    },
}

/// The pass pipeline options shared by `compile` and `run`.
#[derive(clap::Args, Debug)]
struct PassArgs {
    /// Comma-separated passes to run, in order (`lower-qdq`, `fuse-requant`,
    /// `fold-zero-points`, `fold-constants`, `fold-lookup`, `pick-layout`, `cse`,
    /// `dce`), or `default`, or
    /// `none` to take the graph exactly as written.
    #[arg(long, value_name = "LIST", default_value = "default")]
    passes: String,
    /// The arithmetic of the requantize ops the passes create.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = RequantArg::Float)]
    requant: RequantArg,
    /// The dot-product kernels `pick-layout` packs constant weights for:
    /// `portable` (row-major), `vnni` (panels, K by 4), `amx` (K by 64 for
    /// the GEMMs AMX runs), or `host` (this machine's; for `qcc run`, the
    /// `--dot-path` when one is given).
    #[arg(long, value_enum, value_name = "TARGET")]
    target: Option<TargetArg>,
    /// Verify the graph after every pass (default: once, after the last;
    /// a pass that breaks the graph is named either way).
    #[arg(long)]
    verify_each: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum TargetArg {
    /// Whatever this machine runs best (the default).
    Host,
    /// Row-major weights, for the portable scalar loops.
    Portable,
    /// Panels of 64 columns with K in groups of 4 (AVX512-VNNI, AVX-VNNI, clif128).
    Vnni,
    /// As `vnni`, with K padded to 64 where the GEMM runs on AMX tiles.
    Amx,
    /// `--emit obj|header`: an x86-64 object (row-major weights).
    #[value(name = "x86_64")]
    X86_64,
    /// `--emit obj|header`: an aarch64 object (row-major weights).
    #[value(name = "aarch64")]
    Aarch64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum RequantArg {
    /// f32 multiplier (ONNX, onnxruntime).
    Float,
    /// int32 multiplier and shift, one rounding (TOSA).
    #[value(name = "single_round")]
    SingleRound,
    /// gemmlowp's two roundings (TFLite reference kernels).
    #[value(name = "double_round")]
    DoubleRound,
}

impl PassArgs {
    /// The pipeline's options; `dot_path`: the JIT path forced with
    /// `--dot-path`, whose layout is the default target.
    fn options(&self, dot_path: Option<DotPath>) -> CompileOptions {
        use qcc_compiler::LayoutTarget;
        CompileOptions {
            passes: Some(self.passes.clone()),
            requant: match self.requant {
                RequantArg::Float => qcc_ir::RequantMode::Float,
                RequantArg::SingleRound => qcc_ir::RequantMode::SingleRound,
                RequantArg::DoubleRound => qcc_ir::RequantMode::DoubleRound,
            },
            target: match self.target {
                None | Some(TargetArg::Host) => dot_path.map(qcc_compiler::layout_target),
                Some(TargetArg::Portable | TargetArg::X86_64 | TargetArg::Aarch64) => {
                    Some(LayoutTarget::Portable)
                }
                Some(TargetArg::Vnni) => Some(LayoutTarget::Vnni),
                Some(TargetArg::Amx) => Some(LayoutTarget::Amx),
            },
            verify_each: self.verify_each,
        }
    }
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    model: ModelInputArgs,
    /// Write each output to DIR/<output name>.npy.
    #[arg(long, value_name = "DIR")]
    output_dir: Option<PathBuf>,
    /// How to execute the graph: machine code from the JIT, or the reference
    /// interpreter. Both execute the same graph (after the passes) and agree
    /// bit for bit.
    #[arg(long, value_enum, default_value_t = BackendArg::Jit)]
    backend: BackendArg,
    /// Force the JIT's dot-product path (`amx`, `avx512vnni`, `avxvnni`, `avx2`, `clif128`,
    /// `scalar`); default: the best this machine runs.
    #[arg(long, value_name = "PATH")]
    dot_path: Option<String>,
}

/// The graph and its inputs, shared by `run` and `bench`.
#[derive(clap::Args, Debug)]
struct ModelInputArgs {
    /// The graph file (`.txt`) or ONNX model (`.onnx`).
    graph: PathBuf,
    /// An input as NAME=FILE.npy (repeat for each input). The .npy dtype must be
    /// the input's storage type (f32 for float inputs, the integer type for
    /// quantized ones) and its shape the input's shape.
    #[arg(short, long = "input", value_name = "NAME=FILE")]
    inputs: Vec<String>,
    /// Fill every input not given with deterministic values from this seed
    /// (derived from the seed, the input's name and its type).
    #[arg(long, value_name = "SEED")]
    random_inputs: Option<u64>,
    /// The passes run before executing (default: the default pipeline).
    #[command(flatten)]
    passes: PassArgs,
}

#[derive(clap::Args, Debug)]
struct BenchArgs {
    #[command(flatten)]
    model: ModelInputArgs,
    /// Timed runs (after the warm-up).
    #[arg(long, default_value_t = 200, value_name = "N")]
    runs: usize,
    /// Untimed runs first.
    #[arg(long, default_value_t = 20, value_name = "N")]
    warmup: usize,
    /// Threads one run may use: the latency, GOPS and JSON figures are those
    /// of this setting (large GEMMs split their tiles between the threads);
    /// with N > 1 the one-thread figures are reported beside them.
    #[arg(long, default_value_t = 1, value_name = "N")]
    threads: usize,
    /// Also measure N runs going on at once (each on its own thread):
    /// their throughput together, beside one thread's.
    #[arg(long, value_name = "N")]
    concurrent: Option<usize>,
    /// Print one JSON record instead of text.
    #[arg(long)]
    json: bool,
    /// The machine's peak in GOPS, to report the share of it.
    #[arg(long, value_name = "GOPS")]
    peak_gops: Option<f64>,
    /// Also time the reference interpreter (a few runs).
    #[arg(long)]
    interp: bool,
    /// Also print the time of each op (the median of `--runs` profiled runs).
    #[arg(long)]
    profile: bool,
    /// Force the JIT's dot-product path (`amx`, `avx512vnni`, `avxvnni`, `avx2`, `clif128`, `scalar`).
    #[arg(long, value_name = "PATH")]
    dot_path: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BackendArg {
    /// Machine code from the Cranelift JIT.
    Jit,
    /// The reference interpreter.
    Interp,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum EmitArg {
    /// The graph in canonical text form.
    Graph,
    /// The Cranelift IR of each op.
    Clif,
    /// The machine code of each op (Cranelift's listing).
    Asm,
    /// A Graphviz picture of the compiled graph (`dot -Tsvg g.dot -o g.svg`
    /// renders it); with `--print-after-all`, one picture per pass.
    Dot,
    /// The Graphviz picture rendered to SVG (needs Graphviz's `dot`).
    Svg,
    /// An ahead-of-time object file (`-o NAME.o`; without `-o`, `NAME.o`
    /// in the current directory).
    Obj,
    /// The object's C header (`-o NAME.h`, or standard output).
    Header,
}

/// A failure to report: already-rendered text, printed to stderr.
struct Failure(String);

impl From<LoadError> for Failure {
    fn from(e: LoadError) -> Self {
        Failure(e.render())
    }
}

fn error(msg: impl std::fmt::Display) -> Failure {
    Failure(format!("error: {msg}\n"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = cli.onnx.import_options().map(|onnx| Ctx {
        load: cli.limits.load_options(),
        onnx,
    });
    match ctx.and_then(|ctx| dispatch(cli.command, &ctx)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(text)) => {
            eprint!("{text}");
            ExitCode::from(1)
        }
    }
}

fn dispatch(cmd: Command, ctx: &Ctx) -> Result<(), Failure> {
    match cmd {
        Command::Compile {
            graph,
            output,
            passes,
            print_after_all,
            time_passes,
            stats,
            emit: what,
            name,
            cpu_features,
        } => {
            let aot_emit = matches!(what, EmitArg::Obj | EmitArg::Header);
            let aot_target = match passes.target {
                None | Some(TargetArg::Host) => Some("host"),
                Some(TargetArg::X86_64) => Some("x86_64"),
                Some(TargetArg::Aarch64) => Some("aarch64"),
                Some(_) => None,
            };
            if aot_emit && aot_target.is_none() {
                return Err(error(
                    "--emit obj|header takes --target x86_64, aarch64 or host",
                ));
            }
            if !aot_emit && matches!(passes.target, Some(TargetArg::X86_64 | TargetArg::Aarch64)) {
                return Err(error(
                    "--target x86_64|aarch64 is for --emit obj|header (the JIT runs on this host)",
                ));
            }
            if !aot_emit && (name.is_some() || cpu_features.is_some()) {
                return Err(error("--name and --cpu-features are for --emit obj|header"));
            }
            let mut passes = passes;
            if aot_emit {
                // The object's dot products are the portable loops: weights
                // row-major.
                passes.target = Some(TargetArg::Portable);
            }
            let g = ctx.load(&graph)?;
            let report = Report {
                print_after_all,
                time_passes,
                stats,
                remarks: true,
                dot_after_all: matches!(what, EmitArg::Dot | EmitArg::Svg),
            };
            let mut snapshots = Vec::new();
            let g = compile(g, &graph, &passes, None, report, &mut snapshots)?;
            match what {
                EmitArg::Obj | EmitArg::Header => aot::emit(
                    &g,
                    aot::AotArgs {
                        header: matches!(what, EmitArg::Header),
                        target: aot_target,
                        name: name.as_deref(),
                        cpu_features: cpu_features.as_deref(),
                        model: &graph,
                        output: output.as_deref(),
                    },
                ),
                EmitArg::Graph => emit(&g, output.as_deref()),
                EmitArg::Dot | EmitArg::Svg => {
                    // Fusion is drawn as the code for the weights' layout makes it.
                    let features = match passes.target {
                        Some(TargetArg::Portable) => TargetFeatures::Force(DotPath::Scalar),
                        _ => TargetFeatures::Host,
                    };
                    let svg = matches!(what, EmitArg::Svg);
                    emit_pictures(&g, features, snapshots, output.as_deref(), svg)
                }
                EmitArg::Clif | EmitArg::Asm => {
                    let m = Compiler::new()
                        .run_passes(false)
                        .keep_text(true)
                        .compile(&g)
                        .map_err(error)?;
                    let mut text = String::new();
                    for oc in m.op_code() {
                        let body = if matches!(what, EmitArg::Clif) {
                            &oc.clif
                        } else {
                            &oc.asm
                        };
                        text.push_str(&format!("// ---- {} ----\n{}\n", oc.node, body.trim_end()));
                    }
                    match output {
                        Some(p) => std::fs::write(&p, text)
                            .map_err(|e| error(format!("cannot write `{}`: {e}", p.display()))),
                        None => {
                            print!("{text}");
                            Ok(())
                        }
                    }
                }
            }
        }
        Command::Check { graph } => {
            let g = ctx.load(&graph)?;
            let ops = g.node_count() - g.inputs().len();
            println!(
                "{}: ok (graph @{}: {} inputs, {} outputs, {} ops)",
                graph.display(),
                g.name,
                g.inputs().len(),
                g.outputs().len(),
                ops
            );
            Ok(())
        }
        Command::Fmt {
            graph,
            output,
            check,
        } => {
            let g = ctx.load(&graph)?;
            if check {
                let text = qcc_ir::text::print(&g);
                let original = std::fs::read_to_string(&graph).map_err(error)?;
                if original != text {
                    return Err(error(format!(
                        "`{}` is not in canonical form (run `qcc fmt` to see it)",
                        graph.display()
                    )));
                }
                return Ok(());
            }
            emit(&g, output.as_deref())
        }
        Command::Run(args) => run(args, ctx),
        Command::Bench(args) => bench::bench(args, ctx),
        Command::Peak(args) => peak::peak(args),
        Command::Quantize(args) => quantize::quantize(args, ctx),
        Command::Report(args) => report::report(args, ctx),
        Command::Import {
            model,
            output,
            report_unsupported,
        } => {
            if report_unsupported {
                return report_unsupported_ops(&model, ctx);
            }
            let g = qcc_compiler::load_onnx(&model, &ctx.load, &ctx.onnx)?;
            emit_with(&g, output.as_deref(), 16)
        }
    }
}

/// What `compile` reports on standard error besides remarks.
#[derive(Clone, Copy, Debug, Default)]
struct Report {
    print_after_all: bool,
    time_passes: bool,
    stats: bool,
    remarks: bool,
    /// With `print_after_all`: keep a Graphviz picture of the graph before
    /// the passes and after each one, instead of printing its text.
    dot_after_all: bool,
}

fn compile(
    g: Graph,
    path: &Path,
    passes: &PassArgs,
    dot_path: Option<DotPath>,
    report: Report,
    snapshots: &mut Vec<(String, String)>,
) -> Result<Graph, Failure> {
    if report.print_after_all && report.dot_after_all {
        snapshots.push(("input".into(), dot_of(&g, "input", &[])));
    }
    let mut after = |run: &qcc_compiler::PassRun, g: &Graph| {
        if report.print_after_all && report.dot_after_all {
            snapshots.push((
                run.name.to_string(),
                dot_of(g, &format!("after {}", run.name), &[]),
            ));
        } else if report.print_after_all {
            eprintln!("// ----- after {} -----", run.name);
            eprint!("{}", qcc_ir::text::print(g));
        }
    };
    let (g, runs) = qcc_compiler::compile_with(g, &passes.options(dot_path), &mut after)
        .map_err(|e| error(format!("{}: {e}", path.display())))?;
    for run in &runs {
        if report.remarks {
            for r in &run.log.remarks {
                eprintln!("remark: {}: {r}", run.name);
            }
        }
    }
    if report.stats {
        for run in &runs {
            eprintln!("stats: {}", run.name);
            for (k, v) in &run.log.stats {
                eprintln!("  {k}: {v}");
            }
        }
    }
    if report.time_passes {
        let mut total = std::time::Duration::ZERO;
        for run in &runs {
            eprintln!(
                "time: {:>10.3} ms  {}",
                run.time.as_secs_f64() * 1e3,
                run.name
            );
            total += run.time;
        }
        eprintln!("time: {:>10.3} ms  total", total.as_secs_f64() * 1e3);
    }
    Ok(g)
}

/// Prints a graph to standard output, or to a file with its large (and
/// file-backed) constants written beside it so that the file loads from
/// where it is (`compiler::output`).
fn emit(g: &Graph, output: Option<&Path>) -> Result<(), Failure> {
    emit_with(g, output, DEFAULT_INLINE_MAX)
}

/// A Graphviz picture of `g`, with `fused` (GEMMs and the ops folded into
/// their epilogues) drawn as one box each.
fn dot_of(g: &Graph, title: &str, fused: &[(qcc_ir::ValueId, Vec<qcc_ir::ValueId>)]) -> String {
    let options = qcc_ir::dot::DotOptions {
        title: Some(format!("@{} ({title})", g.name)),
        fused: fused.to_vec(),
    };
    qcc_ir::dot::to_dot(g, &options)
}

/// `--emit dot|svg`: the compiled graph (its fused epilogues as the code
/// generator for this host makes them) and, after `--print-after-all`, one
/// picture per pass. To standard output one after another, or with `-o
/// g.dot` into `g.dot` and `g.00-input.dot`, `g.01-<pass>.dot`, ... beside it.
fn emit_pictures(
    g: &Graph,
    features: TargetFeatures,
    snapshots: Vec<(String, String)>,
    output: Option<&Path>,
    svg: bool,
) -> Result<(), Failure> {
    // Code generation decides what is fused; a graph it cannot compile is
    // still drawn, without fusion.
    let fused = Compiler::new()
        .target_features(features)
        .run_passes(false)
        .compile(g)
        .map(|m| m.fused_groups().to_vec())
        .unwrap_or_default();
    let last = dot_of(g, "compiled", &fused);
    let render = |dot: String| if svg { render_svg(&dot) } else { Ok(dot) };
    // Everything is rendered before anything is written.
    let mut pictures = Vec::new();
    for (i, (pass, dot)) in snapshots.into_iter().enumerate() {
        pictures.push((Some(format!("{i:02}-{pass}")), render(dot)?));
    }
    pictures.push((None, render(last)?));
    match output {
        None => {
            for (_, text) in pictures {
                print!("{text}");
            }
            Ok(())
        }
        Some(p) => {
            let stem = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let ext = p.extension().map(|s| s.to_string_lossy().into_owned());
            let mut written: Vec<PathBuf> = Vec::new();
            for (tag, text) in pictures {
                let path = match (tag, &ext) {
                    (None, _) => p.to_path_buf(),
                    (Some(t), Some(e)) => p.with_file_name(format!("{stem}.{t}.{e}")),
                    (Some(t), None) => p.with_file_name(format!("{stem}.{t}")),
                };
                if let Err(e) = std::fs::write(&path, text) {
                    for w in &written {
                        let _ = std::fs::remove_file(w);
                    }
                    let _ = std::fs::remove_file(&path);
                    return Err(error(format!("cannot write `{}`: {e}", path.display())));
                }
                written.push(path);
            }
            Ok(())
        }
    }
}

/// Renders dot text to SVG with Graphviz's `dot` (found on `PATH`, or at
/// `$QCC_DOT`).
fn render_svg(dot: &str) -> Result<String, Failure> {
    use std::io::Write as _;
    let exe = std::env::var_os("QCC_DOT").unwrap_or_else(|| "dot".into());
    let mut child = std::process::Command::new(&exe)
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            error(format!(
                "--emit svg needs Graphviz's `dot` ({e}); install Graphviz (apt-get install graphviz), \
                 or write the picture with `--emit dot` and render it elsewhere"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(dot.as_bytes())
            .map_err(|e| error(format!("cannot feed `dot`: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| error(format!("`dot` failed: {e}")))?;
    if !out.status.success() {
        return Err(error(format!(
            "`dot -Tsvg` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    String::from_utf8(out.stdout).map_err(|e| error(format!("`dot` wrote no UTF-8: {e}")))
}

/// [`emit`] with the element count above which constants leave the text.
fn emit_with(g: &Graph, output: Option<&Path>, inline_max: usize) -> Result<(), Failure> {
    match output {
        Some(p) => {
            let cannot = |e: std::io::Error| error(format!("cannot write `{}`: {e}", p.display()));
            let text = qcc_compiler::output::print_to_file(g, p, inline_max).map_err(cannot)?;
            std::fs::write(p, text).map_err(cannot)
        }
        None => {
            print!("{}", qcc_ir::text::print(g));
            Ok(())
        }
    }
}

/// Parses `NAME=FILE` pairs given with `flag`.
fn parse_input_args(args: &[String], flag: &str) -> Result<Vec<(String, PathBuf)>, Failure> {
    args.iter()
        .map(|a| match a.split_once('=') {
            Some((n, p)) if !n.is_empty() && !p.is_empty() => Ok((n.to_string(), PathBuf::from(p))),
            _ => Err(error(format!("`{flag} {a}`: expected NAME=FILE.npy"))),
        })
        .collect()
}

/// Loads the model, runs the passes and gathers the inputs (files given,
/// random values from the seed for the others).
fn prepare(
    args: &ModelInputArgs,
    ctx: &Ctx,
    default_seed: Option<u64>,
    dot_path: Option<DotPath>,
) -> Result<Prepared, Failure> {
    let given = parse_input_args(&args.inputs, "--input")?;
    let t0 = std::time::Instant::now();
    let graph = if qcc_compiler::is_onnx(&args.graph) {
        // Symbolic dimensions are bound from the shapes of the inputs given.
        let mut onnx = ctx.onnx.clone();
        let model = qcc_compiler::onnx::read_model(&args.graph)
            .map_err(|e| error(format!("`{}`: {e}", args.graph.display())))?;
        for info in qcc_compiler::onnx::model_inputs(&model) {
            let qname = qcc_compiler::onnx::qcc_name(&info.name);
            if let Some((_, p)) = given.iter().find(|(n, _)| *n == qname || *n == info.name) {
                let t = qcc_ir::npy::read(p).map_err(|e| error(format!("input `{qname}`: {e}")))?;
                onnx.input_shapes.insert(info.name.clone(), t.shape);
            }
        }
        qcc_compiler::load_onnx(&args.graph, &ctx.load, &onnx)?
    } else {
        ctx.load(&args.graph)?
    };
    let load_time = t0.elapsed();
    let t0 = std::time::Instant::now();
    let graph = compile(
        graph,
        &args.graph,
        &args.passes,
        dot_path,
        Report::default(),
        &mut Vec::new(),
    )?;
    let pass_time = t0.elapsed();
    let names: Vec<String> = graph
        .inputs()
        .iter()
        .map(|&v| graph.node(v).name.clone().unwrap_or_default())
        .collect();
    for (n, _) in &given {
        if !names.contains(n) {
            return Err(error(format!(
                "`--input {n}=...`: the graph has no input `{n}` (its inputs: {})",
                list(&names)
            )));
        }
    }
    for (i, (n, _)) in given.iter().enumerate() {
        if given[..i].iter().any(|(m, _)| m == n) {
            return Err(error(format!("input `{n}` is given twice")));
        }
    }
    let mut inputs: Vec<Tensor> = Vec::new();
    let mut missing = Vec::new();
    for (&v, name) in graph.inputs().iter().zip(&names) {
        let ty = graph.ty(v);
        if let Some((_, path)) = given.iter().find(|(n, _)| n == name) {
            let t = qcc_ir::npy::read_as(path, ty)
                .map_err(|e| error(format!("input `{name}` (type {ty}): {e}")))?;
            inputs.push(t);
        } else if let Some(seed) = args.random_inputs.or(default_seed) {
            inputs.push(qcc_compiler::inputs::random_input(&graph, v, seed));
        } else {
            missing.push(format!("`{name}`: {ty}"));
        }
    }
    if !missing.is_empty() {
        return Err(error(format!(
            "missing inputs: {}\n  = help: give each with `--input NAME=FILE.npy`, or use \
             `--random-inputs SEED`",
            missing.join(", ")
        )));
    }
    Ok(Prepared {
        graph,
        inputs,
        load_time,
        pass_time,
    })
}

/// A graph loaded, verified and through the pass pipeline, with its inputs.
struct Prepared {
    graph: Graph,
    inputs: Vec<Tensor>,
    /// Reading, importing and verifying the file.
    load_time: std::time::Duration,
    /// The pass pipeline (verification included).
    pass_time: std::time::Duration,
}

fn dot_path(name: Option<&str>) -> Result<Option<DotPath>, Failure> {
    match name {
        None => Ok(None),
        Some(n) => DotPath::from_name(n).map(Some).ok_or_else(|| {
            let names: Vec<&str> = qcc_compiler::model::supported_paths()
                .iter()
                .map(|p| p.name())
                .collect();
            error(format!(
                "unknown dot-product path `{n}`; this machine runs: {}",
                names.join(", ")
            ))
        }),
    }
}

fn run(args: RunArgs, ctx: &Ctx) -> Result<(), Failure> {
    let path = match args.backend {
        BackendArg::Interp => None,
        BackendArg::Jit => dot_path(args.dot_path.as_deref())?,
    };
    let Prepared { graph, inputs, .. } = prepare(&args.model, ctx, None, path)?;
    let backend = match args.backend {
        BackendArg::Interp => Backend::Interp,
        BackendArg::Jit => Backend::Jit(path),
    };
    let outputs = qcc_compiler::run(&graph, &inputs, backend).map_err(error)?;
    if let Some(dir) = &args.output_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| error(format!("cannot create `{}`: {e}", dir.display())))?;
    }
    for (out, t) in graph.outputs().iter().zip(&outputs) {
        let ty = graph.ty(out.value);
        let written = match &args.output_dir {
            Some(dir) => {
                let p = dir.join(format!("{}.npy", out.name));
                qcc_ir::npy::write(&p, t)
                    .map_err(|e| error(format!("cannot write `{}`: {e}", p.display())))?;
                Some(p)
            }
            None => None,
        };
        print!(
            "{}",
            summary::describe(&out.name, ty, t, written.as_deref())
        );
    }
    Ok(())
}

fn list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `qcc import --report-unsupported`: every node of an operator qcc does
/// not import, then the import's own verdict.
fn report_unsupported_ops(model: &Path, ctx: &Ctx) -> Result<(), Failure> {
    let m = qcc_compiler::onnx::read_model(model)
        .map_err(|e| error(format!("{}: {e}", model.display())))?;
    let missing = qcc_compiler::onnx::unsupported_nodes(&m);
    let total: usize = m.graph.as_ref().map_or(0, |g| g.node.len());
    if missing.is_empty() {
        println!(
            "{}: every operator of its {total} nodes is one qcc imports",
            model.display()
        );
    } else {
        let n: usize = missing.iter().map(|(_, v)| v.len()).sum();
        println!(
            "{}: {n} of {total} nodes use {} operators qcc does not import:",
            model.display(),
            missing.len()
        );
        for (op, names) in &missing {
            let shown: Vec<&str> = names.iter().take(3).map(|s| s.as_str()).collect();
            let more = if names.len() > 3 {
                format!(", ... ({} more)", names.len() - 3)
            } else {
                String::new()
            };
            println!("  {op:<28} {:>4} × {}{more}", names.len(), shown.join(", "));
        }
    }
    match qcc_compiler::load_onnx(model, &ctx.load, &ctx.onnx) {
        Ok(_) if missing.is_empty() => {
            println!("the import succeeds");
            Ok(())
        }
        Ok(_) => Err(error("the model has operators qcc does not import")),
        Err(e) => {
            println!("the import stops at: {e}");
            Err(error("qcc does not import this model"))
        }
    }
}
