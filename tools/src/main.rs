//! `qcc`: the command-line front end of the qcc compiler.
//!
//! This is the only crate that parses arguments and writes diagnostics to a
//! terminal. Exit codes: 0 success, 1 bad input (a diagnostic was printed),
//! 2 usage error (clap's own).

#![forbid(unsafe_code)]

mod summary;

use clap::{Parser, Subcommand, ValueEnum};
use qcc_compiler::{Backend, CompileOptions, LoadError};
use qcc_ir::{Graph, Tensor};
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
                  qcc fmt examples/residual.txt"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse, verify and compile a graph, and print the result.
    ///
    /// Today the pipeline verifies and prints the graph in canonical form; the
    /// rewrite passes come next.
    Compile {
        /// The graph file (`graph.txt`).
        graph: PathBuf,
        /// Write the result here instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Run a graph on inputs and print a summary of each output.
    Run(RunArgs),
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

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// The graph file.
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
    /// Write each output to DIR/<output name>.npy.
    #[arg(long, value_name = "DIR")]
    output_dir: Option<PathBuf>,
    /// How to execute the graph.
    #[arg(long, value_enum, default_value_t = BackendArg::Interp)]
    backend: BackendArg,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BackendArg {
    /// The reference interpreter.
    Interp,
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
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(text)) => {
            eprint!("{text}");
            ExitCode::from(1)
        }
    }
}

fn dispatch(cmd: Command) -> Result<(), Failure> {
    match cmd {
        Command::Compile { graph, output } => {
            let g = qcc_compiler::load_file(&graph)?;
            let g = compile(g, &graph)?;
            emit(&qcc_ir::text::print(&g), output.as_deref())
        }
        Command::Check { graph } => {
            let g = qcc_compiler::load_file(&graph)?;
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
            let g = qcc_compiler::load_file(&graph)?;
            let text = qcc_ir::text::print(&g);
            if check {
                let original = std::fs::read_to_string(&graph).map_err(error)?;
                if original != text {
                    return Err(error(format!(
                        "`{}` is not in canonical form (run `qcc fmt` to see it)",
                        graph.display()
                    )));
                }
                return Ok(());
            }
            emit(&text, output.as_deref())
        }
        Command::Run(args) => run(args),
    }
}

fn compile(g: Graph, path: &Path) -> Result<Graph, Failure> {
    qcc_compiler::compile(g, &CompileOptions::default())
        .map_err(|e| error(format!("{}: {e}", path.display())))
}

fn emit(text: &str, output: Option<&Path>) -> Result<(), Failure> {
    match output {
        Some(p) => std::fs::write(p, text)
            .map_err(|e| error(format!("cannot write `{}`: {e}", p.display()))),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// Parses `NAME=FILE` pairs.
fn parse_input_args(args: &[String]) -> Result<Vec<(String, PathBuf)>, Failure> {
    args.iter()
        .map(|a| match a.split_once('=') {
            Some((n, p)) if !n.is_empty() && !p.is_empty() => Ok((n.to_string(), PathBuf::from(p))),
            _ => Err(error(format!("`--input {a}`: expected NAME=FILE.npy"))),
        })
        .collect()
}

fn run(args: RunArgs) -> Result<(), Failure> {
    let graph = qcc_compiler::load_file(&args.graph)?;
    let graph = compile(graph, &args.graph)?;
    let given = parse_input_args(&args.inputs)?;
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
        } else if let Some(seed) = args.random_inputs {
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
    let backend = match args.backend {
        BackendArg::Interp => Backend::Interp,
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
