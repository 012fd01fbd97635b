//! Times a 512×512×512 int8 `matmul_int` (u8 activations, i8 weights,
//! requantized to u8) on every dot-product path this host can run, and the
//! interpreter, on one thread. `cargo run --release -p qcc-compiler --example bench_matmul [M K N] [i8] [noint]`
//! (`i8`: signed activations with zero point −3, and weight zero points
//! per column, so the activations are packed with row sums; `noint`: skip the
//! interpreter and the slow paths, check against the clif128 path instead).

use qcc_compiler::model::{Compiler, TargetFeatures, supported_paths};
use qcc_ir::op::{Op, RequantMode};
use qcc_ir::types::{ElemType, QuantType, ScalarType, TensorType};
use qcc_ir::{Graph, TensorData};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|s| s.parse().ok())
        .collect();
    let flags: Vec<String> = std::env::args().skip(1).collect();
    let signed = flags.iter().any(|f| f == "i8");
    let noint = flags.iter().any(|f| f == "noint");
    let (m, k, n) = if a.len() == 3 {
        (a[0], a[1], a[2])
    } else {
        (512, 512, 512)
    };
    let mut g = Graph::new("mm");
    let x = g.add_input(
        "x",
        TensorType::new(
            vec![m, k],
            if signed {
                ElemType::quant(QuantType::per_tensor(ScalarType::I8, 0.02, -3))
            } else {
                ElemType::quant(QuantType::per_tensor(ScalarType::U8, 0.02, 128))
            },
        ),
    );
    let wv: Vec<i64> = (0..k * n)
        .map(|i| ((i * 7919) % 255) as i64 - 127)
        .collect();
    let w = g.add_const(
        TensorData::from_i64s(ScalarType::I8, &wv)?,
        TensorType::new(
            vec![k, n],
            if signed {
                ElemType::quant(QuantType::per_axis(
                    ScalarType::I8,
                    1,
                    vec![0.01; n],
                    (0..n as i64).map(|c| c % 5 - 2).collect(),
                ))
            } else {
                ElemType::quant(QuantType::per_tensor(ScalarType::I8, 0.01, 0))
            },
        ),
    );
    let acc_t = if signed {
        ElemType::quant(QuantType::per_axis(
            ScalarType::I32,
            1,
            vec![0.02 * 0.01; n],
            vec![0; n],
        ))
    } else {
        ElemType::quant(QuantType::per_tensor(ScalarType::I32, 0.02 * 0.01, 0))
    };
    let acc = g.add_node(
        Op::MatMulInt(qcc_ir::IntAttrs::default()),
        &[x, w],
        TensorType::new(vec![m, n], acc_t),
    );
    let y = g.add_node(
        Op::Requantize {
            mode: RequantMode::Float,
        },
        &[acc],
        TensorType::new(
            vec![m, n],
            ElemType::quant(QuantType::per_tensor(ScalarType::U8, 0.5, 128)),
        ),
    );
    g.add_output("y", y);
    let inputs = qcc_compiler::random_inputs(&g, 1);
    let ops = 2.0 * (m * k * n) as f64;
    let want = if noint {
        println!("{m}x{k}x{n}:");
        Compiler::new()
            .run_passes(false)
            .target_features(TargetFeatures::Force(qcc_compiler::model::DotPath::Clif128))
            .compile(&g)?
            .run(&inputs)?
    } else {
        let t0 = Instant::now();
        let want = qcc_ir::interp::run(&g, &inputs)?;
        let ti = t0.elapsed();
        println!(
            "{m}x{k}x{n}: interpreter {ti:?} ({:.3} GOPS)",
            ops / ti.as_secs_f64() / 1e9
        );
        want
    };
    for p in supported_paths() {
        if noint && !p.uses_kernels() {
            continue;
        }
        let model = Compiler::new()
            .run_passes(false)
            .target_features(TargetFeatures::Force(p))
            .compile(&g)?;
        assert_eq!(model.run(&inputs)?, want);
        let runs = if p.uses_kernels() {
            (2e10 / ops).clamp(50.0, 2000.0) as usize
        } else {
            5
        };
        let s = model.bench(&inputs, 3, runs)?;
        println!(
            "  {p:>10}: compile {:?}, median {:?} (min {:?}, max {:?}) = {:.1} GOPS, fused {}",
            model.compile_time(),
            s.median,
            s.min,
            s.max,
            ops / s.median.as_secs_f64() / 1e9,
            model.fused_requantizes().len()
        );
        for (node, op, t) in model.run_profiled(&inputs)? {
            println!("      {op:<12} {t:>12?}  {node}");
        }
    }
    Ok(())
}
