//! `qcc quantize`: post-training quantization of a float model with
//! calibration data (`qcc_compiler::quantize`). Writes a qcc text graph
//! (`.txt`, constants in `<stem>_data/`) or, from an ONNX model, a QDQ ONNX
//! model (`.onnx`, `qcc_compiler::quantize::onnx`).

use crate::{Ctx, Failure, error, parse_input_args};
use qcc_compiler::quantize::calib::{DEFAULT_BINS, Method};
use qcc_compiler::quantize::observe::Observers;
use qcc_compiler::quantize::onnx::{plan_qdq, write_qdq};
use qcc_compiler::quantize::rewrite::{QuantOptions, insert_qdq};
use qcc_ir::{ScalarType, Tensor, TensorData};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct QuantizeArgs {
    /// The float model (`.onnx` or a qcc text graph).
    model: PathBuf,
    /// Calibration data for an input, as NAME=FILE.npy (repeatable); the
    /// first axis holds the samples.
    #[arg(long = "calib", value_name = "NAME=FILE", required = true)]
    calib: Vec<String>,
    /// minmax | percentile[=P] (default 99.999) | entropy[=BINS] (default 128 bins, as onnxruntime) | mse.
    #[arg(long, default_value = "minmax")]
    method: String,
    /// u8 (default) or i8 activations, asymmetric.
    #[arg(long, default_value = "u8")]
    activations: String,
    /// Weight precision: i8 or i4 (symmetric; i4 in an ONNX output needs
    /// opset 21).
    #[arg(long, default_value = "i8")]
    weights: String,
    /// One weight scale per tensor instead of per output channel.
    #[arg(long)]
    per_tensor: bool,
    /// Node names or op names to keep in float (repeatable).
    #[arg(long, num_args = 1..)]
    exclude: Vec<String>,
    /// Use at most N calibration samples.
    #[arg(long, value_name = "N")]
    calib_limit: Option<usize>,
    /// Choose each layer's weights among i4, i8 and float so that the
    /// average bits per weight is at most B (B >= 4; `.txt` output only).
    #[arg(long, value_name = "B")]
    budget_bits: Option<f64>,
    /// What runs the float graph to observe its tensors: the JIT (the
    /// default; compiled once with the observed tensors as extra outputs)
    /// or the reference interpreter. Both observe the same values bit for
    /// bit, so the output is the same; a graph the JIT cannot compile falls
    /// back to the interpreter, with a note.
    #[arg(long, value_enum, value_name = "ENGINE", default_value_t = CalibEngine::Jit)]
    calib_engine: CalibEngine,
    /// No progress output.
    #[arg(long)]
    quiet: bool,
    /// The quantized model: a qcc text graph (`.txt`) or a QDQ ONNX model (`.onnx`).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum CalibEngine {
    Jit,
    Interp,
}

/// The method and the number of histogram bins it calibrates with: 2048,
/// but `entropy` takes onnxruntime's default of 128 (`entropy=BINS` for
/// another count, e.g. TensorRT's 2048).
fn parse_method(m: &str) -> Result<(Method, usize), Failure> {
    let bad = || {
        error(format!(
            "`--method {m}`: expected minmax, percentile[=P] with 0 < P <= 100, entropy[=BINS] with BINS >= 128, or mse"
        ))
    };
    match m {
        "minmax" => Ok((Method::MinMax, DEFAULT_BINS)),
        "entropy" => Ok((Method::Entropy, ENTROPY_BINS)),
        "mse" => Ok((Method::Mse, DEFAULT_BINS)),
        "percentile" => Ok((Method::Percentile(99.999), DEFAULT_BINS)),
        _ => {
            if let Some(b) = m.strip_prefix("entropy=") {
                return match b.parse::<usize>() {
                    Ok(b) if (128..=1 << 20).contains(&b) => Ok((Method::Entropy, b)),
                    _ => Err(bad()),
                };
            }
            match m.strip_prefix("percentile=").map(str::parse::<f64>) {
                Some(Ok(p)) if p > 0.0 && p <= 100.0 => Ok((Method::Percentile(p), DEFAULT_BINS)),
                _ => Err(bad()),
            }
        }
    }
}

/// onnxruntime's `EntropyCalibrater` default (`num_bins = 128`, as
/// `quantize_static` uses it).
const ENTROPY_BINS: usize = 128;

pub fn quantize(args: QuantizeArgs, ctx: &Ctx) -> Result<(), Failure> {
    let (method, bins) = parse_method(&args.method)?;
    let activations = match args.activations.as_str() {
        "u8" => ScalarType::U8,
        "i8" => ScalarType::I8,
        a => return Err(error(format!("`--activations {a}`: expected u8 or i8"))),
    };
    let weights = match args.weights.as_str() {
        "i8" => ScalarType::I8,
        "i4" => ScalarType::I4,
        w => return Err(error(format!("`--weights {w}`: expected i8 or i4"))),
    };
    let out = &args.output;
    let model = &args.model;
    if let Some(b) = args.budget_bits
        && !(b >= 4.0 && b.is_finite())
    {
        return Err(error(format!(
            "`--budget-bits {b}`: the budget must be at least 4 bits per weight (all weights i4)"
        )));
    }
    let ext = |p: &Path| {
        p.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
    };
    let onnx_out = match ext(out).as_deref() {
        Some("txt") => false,
        Some("onnx") => {
            if ext(model).as_deref() != Some("onnx") {
                return Err(error(format!(
                    "`{}`: a `.onnx` output is written from an ONNX model only (`{}` is a qcc text graph; write a `.txt` instead)",
                    out.display(),
                    model.display()
                )));
            }
            true
        }
        _ => {
            return Err(error(format!(
                "`{}`: the output must end in `.txt` (a qcc text graph) or `.onnx` (a QDQ ONNX model)",
                out.display()
            )));
        }
    };
    let g = ctx.load(model)?;
    let names: Vec<String> = g
        .inputs()
        .iter()
        .map(|&v| g.node(v).name.clone().unwrap_or_default())
        .collect();
    let mut given: Vec<Option<(PathBuf, Tensor)>> = vec![None; names.len()];
    for (name, path) in parse_input_args(&args.calib, "--calib")? {
        let Some(i) = names.iter().position(|n| *n == name) else {
            return Err(error(format!(
                "`--calib {name}={}`: `{name}` is not an input of `{}` (its inputs are: {})",
                path.display(),
                model.display(),
                names.join(", ")
            )));
        };
        let t =
            qcc_ir::npy::read(&path).map_err(|e| error(format!("`{}`: {e}", path.display())))?;
        given[i] = Some((path, t));
    }
    let mut per_input = Vec::new();
    let mut count: Option<usize> = None;
    for (i, &v) in g.inputs().iter().enumerate() {
        let name = &names[i];
        let Some((path, t)) = given[i].take() else {
            return Err(error(format!(
                "no `--calib {name}=FILE.npy` for the input `{name}`"
            )));
        };
        let ty = g.ty(v);
        let bad = |why: String| error(format!("`{}` (input `{name}`): {why}", path.display()));
        let TensorData::F32(data) = t.data else {
            return Err(bad("calibration data must be float32".into()));
        };
        // samples on the first axis: the file is [n, rest...] with the
        // input's shape [b, rest...]; b must divide the batch
        let Some((&b, rest)) = ty.shape.split_first() else {
            return Err(bad("a scalar input cannot be calibrated".into()));
        };
        if t.shape.len() != ty.shape.len() || t.shape[1..] != *rest {
            return Err(bad(format!(
                "shape {:?} does not hold samples of the input's shape {:?} on its first axis",
                t.shape, ty.shape
            )));
        }
        let n = t.shape[0];
        if n == 0 {
            return Err(bad("the calibration set is empty".into()));
        }
        if n % b != 0 {
            return Err(bad(format!("{n} samples are not whole batches of {b}")));
        }
        if let Some((j, x)) = data.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(bad(format!(
                "element {j} is {x}: calibration data must be finite"
            )));
        }
        match count {
            Some(c) if c != n / b => {
                return Err(bad(format!(
                    "{} batches, but the other inputs have {c}",
                    n / b
                )));
            }
            _ => count = Some(n / b),
        }
        per_input.push((ty.shape.clone(), data));
    }
    let mut batches = count.unwrap_or(0);
    if let Some(l) = args.calib_limit {
        batches = batches.min(l.max(1));
    }
    // entropy, percentile and mse: a first pass finds each tensor's range, a
    // second fills histograms over it, as onnxruntime's collector bins all
    // samples at once (the merged histogram of one pass grows bins instead;
    // with it entropy clipped where onnxruntime does not, and mse fell below
    // minmax on the mlp)
    let two_pass = matches!(
        method,
        Method::Entropy | Method::Percentile(_) | Method::Mse
    );
    let passes = if two_pass { 2 } else { 1 };
    let mut obs = Observers::new(&g, bins);
    if args.calib_engine == CalibEngine::Jit {
        obs = match obs.clone().on_jit(&g) {
            Ok(o) => o,
            Err(e) => {
                if !args.quiet {
                    eprintln!(
                        "note: `{}`: calibrating on the interpreter (the JIT cannot compile the float graph: {e})",
                        model.display()
                    );
                }
                obs
            }
        };
    }
    let bar = progress(passes * batches as u64, args.quiet);
    for pass in 0..passes {
        if pass == 1 {
            obs = obs.refit(bins);
        }
        for k in 0..batches {
            let inputs: Vec<Tensor> = per_input
                .iter()
                .map(|(shape, data)| {
                    let per: usize = shape.iter().product();
                    Tensor::f32(shape.clone(), data[k * per..(k + 1) * per].to_vec())
                })
                .collect();
            obs.observe(&g, &inputs)
                .map_err(|e| error(format!("`{}`: {e}", model.display())))?;
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let mut opts = QuantOptions {
        method,
        activations,
        per_channel: !args.per_tensor,
        exclude: args.exclude,
        weights,
        layer_weights: Default::default(),
    };
    let proto = if onnx_out {
        let proto = qcc_compiler::onnx::read_model(model)
            .map_err(|e| error(format!("`{}`: {e}", model.display())))?;
        let proto = qcc_compiler::onnx::export::constants_to_initializers(&proto);
        if opts.per_channel && qcc_compiler::onnx::opset_of(&proto).is_some_and(|v| v < 13) {
            // per-axis DequantizeLinear needs opset 13; raising the opset
            // would change the meaning of the model's other ops
            eprintln!(
                "note: `{}` imports opset {}, which has no per-axis DequantizeLinear (13+): weights are quantized per tensor",
                model.display(),
                qcc_compiler::onnx::opset_of(&proto).unwrap_or(0)
            );
            opts.per_channel = false;
        }
        Some(proto)
    } else {
        None
    };
    if let Some(b) = args.budget_bits {
        // sensitivities on at most 4 calibration batches
        let samples: Vec<Vec<Tensor>> = (0..batches.min(4))
            .map(|k| {
                per_input
                    .iter()
                    .map(|(shape, data)| {
                        let per: usize = shape.iter().product();
                        Tensor::f32(shape.clone(), data[k * per..(k + 1) * per].to_vec())
                    })
                    .collect()
            })
            .collect();
        // An ONNX output older than opset 21 has no 4-bit codes: i8 or float.
        let allow_i4 = proto
            .as_ref()
            .is_none_or(|p| qcc_compiler::onnx::opset_of(p).is_none_or(|v| v >= 21));
        if !allow_i4 && b < 8.0 {
            return Err(error(format!(
                "`--budget-bits {b}`: `{}` is opset {}, which has no 4-bit weights (opset 21+), so each layer is i8 or float: give a budget of at least 8 bits",
                model.display(),
                proto
                    .as_ref()
                    .and_then(qcc_compiler::onnx::opset_of)
                    .unwrap_or(0)
            )));
        }
        let c = qcc_compiler::quantize::budget::choose(&g, &obs, &opts, &samples, b, allow_i4)
            .map_err(|e| error(format!("`{}`: {e}", model.display())))?;
        println!(
            "{:24} {:>9}  {:>7}  {:>10}  {:>10}",
            "layer", "weights", "choice", "i8 alone", "i4 alone"
        );
        for l in &c.layers {
            let p = match l.precision {
                Some(ScalarType::I4) => "i4",
                Some(_) => "i8",
                None => "float",
            };
            println!(
                "{:24} {:>9}  {:>7}  {:>7.2} dB  {:>7.2} dB",
                l.name,
                l.weights,
                p,
                l.sqnr_i8_db.min(999.0),
                l.sqnr_i4_db.min(999.0)
            );
        }
        println!(
            "average {:.2} bits per weight (budget {b}); output SQNR predicted {:.2} dB, measured {:.2} dB",
            c.average_bits,
            c.predicted_sqnr_db.min(999.0),
            c.measured_sqnr_db.min(999.0)
        );
        c.apply(&mut opts);
    }
    if let Some(proto) = proto {
        let plan = plan_qdq(&proto, model.parent(), &g, &obs, &opts, opts.weight_qmax())
            .map_err(|e| error(format!("`{}`: {e}", model.display())))?;
        let bytes =
            write_qdq(&proto, &plan).map_err(|e| error(format!("`{}`: {e}", model.display())))?;
        return write_bytes_atomically(&bytes, out);
    }
    let q = insert_qdq(&g, &obs, &opts);
    write_atomically(&q, out)
}

fn progress(n: u64, quiet: bool) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(n);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "calibrating {bar:30} {pos}/{len} samples, {per_sec}, ETA {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Writes the graph to a temporary file beside `out`, then renames it, so a
/// failure leaves no partial output.
fn write_atomically(g: &qcc_ir::Graph, out: &Path) -> Result<(), Failure> {
    let cannot = |e: std::io::Error| error(format!("cannot write `{}`: {e}", out.display()));
    let text = qcc_compiler::output::print_to_file(g, out, 16).map_err(cannot)?;
    write_bytes_atomically(text.as_bytes(), out)
}

/// Writes `bytes` to a temporary file beside `out`, then renames it.
fn write_bytes_atomically(bytes: &[u8], out: &Path) -> Result<(), Failure> {
    let cannot = |e: std::io::Error| error(format!("cannot write `{}`: {e}", out.display()));
    let mut tmp = out.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(cannot)?;
    std::fs::rename(&tmp, out).map_err(cannot)
}
