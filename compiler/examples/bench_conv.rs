//! Times a 3×3 int8 `conv2d_int` (u8 NCHW activations, i8 per-channel
//! weights, bias, pad 1) requantized to u8, on the kernel paths, one thread.
//! `cargo run --release -p qcc-compiler --example bench_conv [C O H W]`

use qcc_compiler::model::{Compiler, TargetFeatures, supported_paths};
use qcc_ir::op::{Conv2dAttrs, Op, RequantMode};
use qcc_ir::types::{ElemType, QuantType, ScalarType, TensorType};
use qcc_ir::{Graph, TensorData};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|s| s.parse().ok())
        .collect();
    let (c, o, h, w) = if a.len() == 4 {
        (a[0], a[1], a[2], a[3])
    } else {
        (64, 64, 56, 56)
    };
    let mut g = Graph::new("conv");
    let x = g.add_input(
        "x",
        TensorType::new(
            vec![1, c, h, w],
            ElemType::quant(QuantType::per_tensor(ScalarType::U8, 0.02, 128)),
        ),
    );
    let wv: Vec<i64> = (0..o * c * 9)
        .map(|i| ((i * 7919) % 255) as i64 - 127)
        .collect();
    let ws: Vec<f32> = (0..o).map(|i| 0.01 + 0.0001 * i as f32).collect();
    let w_ = g.add_const(
        TensorData::from_i64s(ScalarType::I8, &wv)?,
        TensorType::new(
            vec![o, c, 3, 3],
            ElemType::quant(QuantType::per_axis(
                ScalarType::I8,
                0,
                ws.clone(),
                vec![0; o],
            )),
        ),
    );
    let accs: Vec<f32> = ws.iter().map(|s| s * 0.02).collect();
    let b = g.add_const(
        TensorData::from_i64s(
            ScalarType::I32,
            &(0..o as i64).map(|i| i * 37 - 900).collect::<Vec<_>>(),
        )?,
        TensorType::new(
            vec![o],
            ElemType::quant(QuantType::per_axis(
                ScalarType::I32,
                0,
                accs.clone(),
                vec![0; o],
            )),
        ),
    );
    let attrs = Conv2dAttrs {
        strides: [1, 1],
        pads: [1, 1, 1, 1],
        dilations: [1, 1],
        groups: 1,
    };
    let acc = g.add_node(
        Op::Conv2dInt(attrs, qcc_ir::IntAttrs::default()),
        &[x, w_, b],
        TensorType::new(
            vec![1, o, h, w],
            ElemType::quant(QuantType::per_axis(ScalarType::I32, 1, accs, vec![0; o])),
        ),
    );
    let y = g.add_node(
        Op::Requantize {
            mode: RequantMode::Float,
        },
        &[acc],
        TensorType::new(
            vec![1, o, h, w],
            ElemType::quant(QuantType::per_tensor(ScalarType::U8, 0.5, 128)),
        ),
    );
    g.add_output("y", y);
    let inputs = qcc_compiler::random_inputs(&g, 1);
    let ops = 2.0 * (o * c * 9 * h * w) as f64;
    println!("conv 3x3 {c}->{o} {h}x{w} pad 1:");
    let mut want = None;
    for p in supported_paths() {
        if !p.uses_kernels() {
            continue;
        }
        let model = Compiler::new()
            .run_passes(false)
            .target_features(TargetFeatures::Force(p))
            .compile(&g)?;
        let got = model.run(&inputs)?;
        match &want {
            None => want = Some(got),
            Some(w) => assert_eq!(&got, w),
        }
        let s = model.bench(&inputs, 3, 100)?;
        println!(
            "  {p:>10}: median {:?} (min {:?}, max {:?}) = {:.1} GOPS",
            s.median,
            s.min,
            s.max,
            ops / s.median.as_secs_f64() / 1e9
        );
        for (node, op, t) in model.run_profiled(&inputs)? {
            println!("      {op:<12} {t:>12?}  {node}");
        }
    }
    Ok(())
}
