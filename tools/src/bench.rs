//! `qcc bench`: compile time, latency, throughput and GOPS of the JIT.
//!
//! Latency: `--warmup` untimed runs, then `--runs` timed runs of `run_into`
//! (no tensor allocation), reported as median, min and max, for a model
//! compiled for `--threads N` (one run using N threads; with N > 1 the
//! one-thread figures are measured too and reported beside). With
//! `--concurrent N`, N threads then run the model at once and the
//! throughput of all of them together is reported beside one thread's. GOPS
//! count 2 operations per multiply-accumulate of the graph's matmul and conv
//! ops.

use crate::{BenchArgs, Ctx, Failure, Prepared, dot_path, error, prepare};
use qcc_compiler::model::{BenchStats, CompiledModel, Compiler, TargetFeatures, count_macs};
use qcc_ir::Tensor;
use std::fmt::Write;
use std::time::{Duration, Instant};

/// Runs per second of `threads` threads sharing `model`, over `total` runs.
fn throughput(
    model: &CompiledModel,
    inputs: &[Tensor],
    threads: usize,
    total: usize,
) -> Result<f64, Failure> {
    let per = total.div_ceil(threads).max(1);
    let t0 = Instant::now();
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut out = model.new_outputs();
                    for _ in 0..per {
                        model
                            .run_into(inputs, &mut out)
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a thread panicked".into())))
            .collect()
    });
    let wall = t0.elapsed();
    for r in results {
        r.map_err(error)?;
    }
    Ok((per * threads) as f64 / wall.as_secs_f64())
}

fn fmt_time(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.3} ms", ns / 1e6)
    } else {
        format!("{:.3} s", ns / 1e9)
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_num(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v}"),
        _ => "null".into(),
    }
}

pub fn bench(args: BenchArgs, ctx: &Ctx) -> Result<(), Failure> {
    let forced = dot_path(args.dot_path.as_deref())?;
    let Prepared {
        graph,
        inputs,
        load_time,
        pass_time,
    } = prepare(&args.model, ctx, Some(0), forced)?;
    let features = match forced {
        Some(p) => TargetFeatures::Force(p),
        None => TargetFeatures::Host,
    };
    let threads = args.threads.max(1);
    let compile = |threads: usize| {
        Compiler::new()
            .run_passes(false)
            .target_features(features)
            .threads(threads)
            .compile(&graph)
            .map_err(error)
    };
    let model = compile(threads)?;
    // Compile time is the pass pipeline and code generation, from the
    // loaded and verified graph to machine code.
    let codegen_time = model.compile_time();
    let compile_time = pass_time + codegen_time;
    let stats: BenchStats = model
        .bench(&inputs, args.warmup, args.runs)
        .map_err(error)?;
    let macs = count_macs(&graph);
    let gops_of = |d: Duration| {
        let secs = d.as_secs_f64();
        (macs > 0 && secs > 0.0).then(|| 2.0 * macs as f64 / secs / 1e9)
    };
    let gops = gops_of(stats.median);
    let share = gops.zip(args.peak_gops).map(|(g, p)| g / p);
    let one_thread = if threads > 1 {
        Some(
            compile(1)?
                .bench(&inputs, args.warmup, args.runs)
                .map_err(error)?,
        )
    } else {
        None
    };
    let total = args.runs.max(1);
    let one = throughput(&model, &inputs, 1, total)?;
    let concurrent = args.concurrent.filter(|&n| n > 1);
    let many = match concurrent {
        Some(n) => Some(throughput(&model, &inputs, n, total * n)?),
        None => None,
    };
    let interp = if args.interp {
        let n = 5;
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let t0 = Instant::now();
            qcc_ir::interp::run(&graph, &inputs).map_err(error)?;
            times.push(t0.elapsed());
        }
        Some(BenchStats::from_times(times))
    } else {
        None
    };
    let path = model.dot_path().name();
    if args.json {
        let mut j = String::from("{");
        let _ = write!(
            j,
            "\"graph\": {}",
            json_str(&args.model.graph.display().to_string())
        );
        let _ = write!(
            j,
            ", \"backend\": \"jit\", \"dot_path\": {}",
            json_str(path)
        );
        let _ = write!(j, ", \"compile_ns\": {}", compile_time.as_nanos());
        let _ = write!(
            j,
            ", \"passes_ns\": {}, \"codegen_ns\": {}, \"load_ns\": {}",
            pass_time.as_nanos(),
            codegen_time.as_nanos(),
            load_time.as_nanos()
        );
        let _ = write!(
            j,
            ", \"runs\": {}, \"warmup\": {}",
            stats.times.len(),
            args.warmup
        );
        let _ = write!(j, ", \"median_ns\": {}", stats.median.as_nanos());
        let _ = write!(j, ", \"min_ns\": {}", stats.min.as_nanos());
        let _ = write!(j, ", \"max_ns\": {}", stats.max.as_nanos());
        let _ = write!(j, ", \"macs\": {macs}, \"gops\": {}", json_num(gops));
        let _ = write!(j, ", \"peak_gops\": {}", json_num(args.peak_gops));
        let _ = write!(j, ", \"peak_share\": {}", json_num(share));
        let _ = write!(j, ", \"threads\": {threads}");
        if let Some(s1) = &one_thread {
            let _ = write!(j, ", \"median_ns_1t\": {}", s1.median.as_nanos());
            let _ = write!(j, ", \"min_ns_1t\": {}", s1.min.as_nanos());
            let _ = write!(j, ", \"max_ns_1t\": {}", s1.max.as_nanos());
            let _ = write!(j, ", \"gops_1t\": {}", json_num(gops_of(s1.median)));
            let _ = write!(
                j,
                ", \"speedup_vs_1t\": {}",
                json_num(Some(
                    s1.median.as_secs_f64() / stats.median.as_secs_f64().max(1e-12)
                ))
            );
        }
        let _ = write!(j, ", \"throughput_per_s\": {}", json_num(Some(one)));
        let _ = write!(
            j,
            ", \"concurrent\": {}, \"throughput_concurrent_per_s\": {}",
            concurrent.unwrap_or(1),
            json_num(many)
        );
        let _ = write!(
            j,
            ", \"interp_median_ns\": {}",
            interp
                .as_ref()
                .map_or("null".to_string(), |s| s.median.as_nanos().to_string())
        );
        j.push('}');
        println!("{j}");
        return Ok(());
    }
    let mut o = String::new();
    let _ = writeln!(
        o,
        "bench {} (jit, {path}, {threads} thread{})",
        args.model.graph.display(),
        if threads == 1 { "" } else { "s" }
    );
    let _ = writeln!(
        o,
        "  compile      {}   (passes {}, code generation {}; loading the file took {})",
        fmt_time(compile_time),
        fmt_time(pass_time),
        fmt_time(codegen_time),
        fmt_time(load_time)
    );
    let _ = writeln!(
        o,
        "  latency      median {}   min {}   max {}   ({} runs after {} warm-up)",
        fmt_time(stats.median),
        fmt_time(stats.min),
        fmt_time(stats.max),
        stats.times.len(),
        args.warmup
    );
    if let Some(s1) = &one_thread {
        let _ = writeln!(
            o,
            "  1 thread     median {}   min {}   max {}: {threads} threads are {:.2}× faster",
            fmt_time(s1.median),
            fmt_time(s1.min),
            fmt_time(s1.max),
            s1.median.as_secs_f64() / stats.median.as_secs_f64().max(1e-12)
        );
    }
    let _ = writeln!(o, "  throughput   {one:.0} runs/s");
    if let Some(g) = gops {
        let _ = write!(
            o,
            "  work         {macs} multiply-adds per run: {g:.1} GOPS"
        );
        if let Some(sh) = share {
            let _ = write!(
                o,
                " ({:.0}% of {} GOPS peak)",
                100.0 * sh,
                args.peak_gops.unwrap_or(0.0)
            );
        }
        o.push('\n');
    }
    if let (Some(m), Some(n)) = (many, concurrent) {
        let _ = writeln!(
            o,
            "  {n} at once    {m:.0} runs/s together ({:.2}× one at a time)",
            m / one
        );
    }
    if let Some(s) = interp {
        let _ = writeln!(
            o,
            "  interpreter  median {} ({} runs): the JIT is {:.0}× faster",
            fmt_time(s.median),
            s.times.len(),
            s.median.as_secs_f64() / stats.median.as_secs_f64().max(1e-12)
        );
    }
    if args.profile {
        // Per op: the median over the runs of its time.
        let mut per_op: Vec<(String, &'static str, Vec<Duration>)> = Vec::new();
        for _ in 0..args.runs.clamp(1, 1000) {
            let t = model.run_profiled(&inputs).map_err(error)?;
            if per_op.is_empty() {
                per_op = t
                    .iter()
                    .map(|(n, o, _)| (n.clone(), *o, Vec::new()))
                    .collect();
            }
            for (slot, (_, _, d)) in per_op.iter_mut().zip(t) {
                slot.2.push(d);
            }
        }
        let total: f64 = per_op
            .iter()
            .map(|(_, _, t)| BenchStats::from_times(t.clone()).median.as_secs_f64())
            .sum();
        let _ = writeln!(
            o,
            "  per op (median of {} profiled runs):",
            args.runs.clamp(1, 1000)
        );
        for (node, op, t) in per_op {
            let m = BenchStats::from_times(t).median;
            let _ = writeln!(
                o,
                "    {:>10}  {:>5.1}%  {op:<16} {node}",
                fmt_time(m),
                100.0 * m.as_secs_f64() / total.max(1e-12)
            );
        }
    }
    print!("{o}");
    Ok(())
}
