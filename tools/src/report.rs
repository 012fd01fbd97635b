//! `qcc report FLOAT QUANT --input NAME=FILE.npy [--json] [--plot FILE.svg]`:
//! a float model and its quantized twin (a qcc text graph from `qcc
//! quantize`, or a QDQ ONNX model, imported without onnxruntime's fusions so
//! every quantize/dequantize pair stays) run on the same inputs, every
//! tensor traced (on the JIT, or the interpreter with `--engine interp`:
//! the same tensors bit for bit), and compared tensor by tensor
//! (`qcc_compiler::quantize::report`).

use crate::{Ctx, Failure, error, parse_input_args};
use qcc_compiler::quantize::report::{Engine, LayerRow, Report, compare};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The float model (`.onnx` or a qcc text graph).
    float: PathBuf,
    /// The quantized model (a qcc text graph or a QDQ `.onnx`).
    quant: PathBuf,
    /// An input as NAME=FILE.npy (repeatable), fed to both models.
    #[arg(long = "input", value_name = "NAME=FILE", required = true)]
    inputs: Vec<String>,
    /// Print a JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Draw the per-tensor SQNR as a bar chart (SVG).
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Where the tensors are computed: `jit` (compiled once with every
    /// tensor as an output; a graph it cannot compile falls back to the
    /// interpreter) or `interp` (the reference interpreter). Both give the
    /// same tensors bit for bit, so the same report.
    #[arg(long, value_enum, value_name = "ENGINE", default_value_t = EngineArg::Jit)]
    engine: EngineArg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum EngineArg {
    Jit,
    Interp,
}

/// Infinite SQNR (identical tensors) is printed as this many dB.
const SQNR_CAP: f64 = 999.0;

fn db(x: f64) -> f64 {
    x.min(SQNR_CAP)
}

pub fn report(args: ReportArgs, ctx: &Ctx) -> Result<(), Failure> {
    let float = ctx.load(&args.float)?;
    let mut onnx = ctx.onnx.clone();
    onnx.fuse_qdq = false;
    let quant = qcc_compiler::load_model(&args.quant, &ctx.load, &onnx)?;
    let mut inputs = HashMap::new();
    for (name, path) in parse_input_args(&args.inputs, "--input")? {
        let t =
            qcc_ir::npy::read(&path).map_err(|e| error(format!("`{}`: {e}", path.display())))?;
        inputs.insert(name, t);
    }
    let engine = match args.engine {
        EngineArg::Jit => Engine::Jit,
        EngineArg::Interp => Engine::Interp,
    };
    let r = compare(&float, &quant, &inputs, engine).map_err(|e| {
        error(format!(
            "`{}` vs `{}`: {e}",
            args.float.display(),
            args.quant.display()
        ))
    })?;
    if let Some(p) = &args.plot {
        plot(&r, p)?;
    }
    if args.json {
        println!("{}", json(&r));
    } else {
        print!("{}", table(&r));
    }
    Ok(())
}

fn opt(x: Option<f64>, f: impl Fn(f64) -> String) -> String {
    x.map_or_else(|| "-".into(), f)
}

fn table(r: &Report) -> String {
    let w = r
        .layers
        .iter()
        .map(|l| l.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut s = format!(
        "{:w$}  {:12}  {:>8}  {:>11}  {:>10}  outlier channel\n",
        "name", "op", "SQNR dB", "max abs err", "saturation"
    );
    for l in &r.layers {
        let outlier = match l.outlier_channel {
            Some((c, ratio)) => format!("{c} ({ratio:.1}x median range)"),
            None => "-".into(),
        };
        let (sqnr, note) = match l.sqnr_db {
            Some(x) => (format!("{:8.2}", db(x)), ""),
            None => (format!("{:>8}", "-"), "  (no float twin)"),
        };
        let _ = writeln!(
            s,
            "{:w$}  {:12}  {sqnr}  {:>11}  {:>9.3}%  {outlier}{note}",
            l.name,
            l.op,
            opt(l.max_abs_err, |x| format!("{x:.4}")),
            100.0 * l.saturation,
        );
    }
    let _ = writeln!(
        s,
        "output SQNR {:.2} dB, top-1 agreement {:.1}%",
        db(r.output_sqnr_db),
        100.0 * r.top1_agreement
    );
    s
}

fn json_str(x: &str) -> String {
    let mut s = String::from("\"");
    for c in x.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

fn json_num(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v}"),
        Some(v) if v > 0.0 => format!("{SQNR_CAP}"),
        _ => "null".into(),
    }
}

fn json_layer(l: &LayerRow) -> String {
    let outlier = match l.outlier_channel {
        Some((c, ratio)) => format!(
            "{{\"channel\": {c}, \"range_ratio\": {}}}",
            json_num(Some(ratio))
        ),
        None => "null".into(),
    };
    format!(
        "{{\"name\": {}, \"op\": {}, \"sqnr_db\": {}, \"max_abs_err\": {}, \"saturation\": {}, \"outlier_channel\": {outlier}}}",
        json_str(&l.name),
        json_str(&l.op),
        json_num(l.sqnr_db),
        json_num(l.max_abs_err),
        json_num(Some(l.saturation)),
    )
}

fn json(r: &Report) -> String {
    let layers: Vec<String> = r
        .layers
        .iter()
        .map(|l| format!("    {}", json_layer(l)))
        .collect();
    format!(
        "{{\n  \"layers\": [\n{}\n  ],\n  \"output_sqnr_db\": {},\n  \"top1_agreement\": {}\n}}",
        layers.join(",\n"),
        json_num(Some(r.output_sqnr_db)),
        json_num(Some(r.top1_agreement)),
    )
}

/// The per-tensor SQNR as bars (plotters, SVG backend), written to a
/// temporary file and renamed.
fn plot(r: &Report, out: &Path) -> Result<(), Failure> {
    use plotters::prelude::*;
    let cannot = |e: String| error(format!("cannot write `{}`: {e}", out.display()));
    let vals: Vec<f64> = r.layers.iter().map(|l| l.sqnr_db.map_or(0.0, db)).collect();
    let top = vals
        .iter()
        .copied()
        .fold(r.output_sqnr_db.min(SQNR_CAP), f64::max)
        .max(1.0)
        * 1.1;
    let n = vals.len().max(1);
    let mut svg = String::new();
    {
        let width = (120 + 28 * n as u32).max(480);
        let root = SVGBackend::with_string(&mut svg, (width, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| cannot(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "SQNR per quantized tensor (output {:.2} dB)",
                    db(r.output_sqnr_db)
                ),
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(90)
            .y_label_area_size(50)
            .build_cartesian_2d((0..n).into_segmented(), 0.0..top)
            .map_err(|e| cannot(e.to_string()))?;
        let names: Vec<String> = r.layers.iter().map(|l| l.name.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc("SQNR (dB)")
            .x_labels(n)
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .x_label_style(
                ("sans-serif", 11)
                    .into_font()
                    .transform(FontTransform::Rotate90),
            )
            .draw()
            .map_err(|e| cannot(e.to_string()))?;
        chart
            .draw_series(
                Histogram::vertical(&chart)
                    .style(BLUE.filled())
                    .margin(4)
                    .data(vals.iter().enumerate().map(|(i, &v)| (i, v))),
            )
            .map_err(|e| cannot(e.to_string()))?;
        root.present().map_err(|e| cannot(e.to_string()))?;
    }
    let mut tmp = out.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, svg).map_err(|e| cannot(e.to_string()))?;
    std::fs::rename(&tmp, out).map_err(|e| cannot(e.to_string()))
}
