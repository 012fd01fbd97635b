//! `qcc peak`: this machine's measured int8 peak per dot path (see
//! `qcc_codegen::shim::peak` for what each probe runs), at 1 thread and at
//! `--threads N`, as a table or one JSON record that the benchmark scripts
//! read (`bench/compare_models.py` takes its "% of peak" from it).

use crate::{Failure, error};
use clap::Args;
use qcc_compiler::model::peak::{PeakFigure, Probe, measure};
use qcc_compiler::model::{DotPath, best_path};
use std::fmt::Write;

#[derive(Args, Debug)]
pub struct PeakArgs {
    /// Also measure on N threads at once (their sum); 1 gives one row per
    /// probe.
    #[arg(long, default_value_t = 1, value_name = "N")]
    threads: usize,
    /// Seconds one timed run lasts.
    #[arg(long, default_value_t = 0.2, value_name = "S")]
    seconds: f64,
    /// Timed runs per figure (the median is reported, with the least and
    /// the most).
    #[arg(long, default_value_t = 5, value_name = "N")]
    repeats: usize,
    /// Only this probe (`amx`, `avx512vnni`, `avxvnni`, `avx2`, `fma-f32`).
    #[arg(long, value_name = "PROBE")]
    probe: Option<String>,
    /// Print one JSON record instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn peak(args: PeakArgs) -> Result<(), Failure> {
    if !(args.seconds > 0.0 && args.seconds <= 60.0) {
        return Err(error("--seconds must be in (0, 60]"));
    }
    if args.threads == 0 || args.threads > 256 {
        return Err(error("--threads must be in 1..=256"));
    }
    let probes: Vec<Probe> = match &args.probe {
        Some(name) => match Probe::ALL.into_iter().find(|p| p.name() == name) {
            Some(p) => vec![p],
            None => {
                let names: Vec<_> = Probe::ALL.iter().map(|p| p.name()).collect();
                return Err(error(format!(
                    "unknown probe `{name}` (one of {})",
                    names.join(", ")
                )));
            }
        },
        None => Probe::ALL.to_vec(),
    };
    let mut thread_counts = vec![1];
    if args.threads > 1 {
        thread_counts.push(args.threads);
    }
    let mut rows: Vec<PeakFigure> = Vec::new();
    for &p in &probes {
        for &t in &thread_counts {
            if let Some(f) = measure(p, t, args.seconds, args.repeats) {
                rows.push(f);
            }
        }
    }
    // The probe of the path the JIT picks on this host, for the scripts.
    let best = best_path();
    let best_probe = Probe::of_path(best)
        .or_else(|| Probe::of_path(DotPath::Avx2).filter(|p| p.is_supported()))
        .filter(|p| p.is_supported());
    if args.json {
        let mut j = String::from("{");
        let _ = write!(j, "\"best_path\": \"{}\"", best.name());
        match best_probe.and_then(|p| rows.iter().find(|r| r.probe == p && r.threads == 1)) {
            Some(r) => {
                let _ = write!(j, ", \"best_gops_per_thread\": {:.1}", r.median);
            }
            None => j.push_str(", \"best_gops_per_thread\": null"),
        }
        j.push_str(", \"figures\": [");
        for (i, r) in rows.iter().enumerate() {
            if i > 0 {
                j.push_str(", ");
            }
            let _ = write!(
                j,
                "{{\"probe\": \"{}\", \"instruction\": \"{}\", \"threads\": {}, \
                 \"median\": {:.1}, \"min\": {:.1}, \"max\": {:.1}, \"unit\": \"{}\"}}",
                r.probe.name(),
                r.probe.instruction(),
                r.threads,
                r.median,
                r.min,
                r.max,
                unit(r.probe)
            );
        }
        j.push_str("]}");
        println!("{j}");
        return Ok(());
    }
    if rows.is_empty() {
        println!("no probe runs on this host (the peak probes need x86-64 with AVX2 or better)");
        return Ok(());
    }
    println!("| probe | instruction | threads | median | (min–max) |");
    println!("|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.0} {} | ({:.0}–{:.0}) |",
            r.probe.name(),
            r.probe.instruction(),
            r.threads,
            r.median,
            unit(r.probe),
            r.min,
            r.max
        );
    }
    let skipped: Vec<_> = probes
        .iter()
        .filter(|p| !p.is_supported())
        .map(|p| p.name())
        .collect();
    if !skipped.is_empty() {
        println!("not on this host: {}", skipped.join(", "));
    }
    println!(
        "the JIT's path here: {}; `qcc bench --peak-gops G` reports a model's share of G",
        best.name()
    );
    Ok(())
}

fn unit(p: Probe) -> &'static str {
    if p == Probe::FmaF32 { "GFLOPS" } else { "GOPS" }
}
