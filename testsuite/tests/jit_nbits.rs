//! `dense_nbits` and `dense_nbits_q8` large enough that the JIT splits its
//! weight rows into units of work (N·K ≥ 2^20): on 1 and 2 threads and
//! every dot path, equal to the interpreter bit for bit, including the
//! last, partial chunk and a last panel of packed weights narrower than the
//! others (N = 301), with fewer activation rows than a tile (M = 3) and more
//! (M = 9).

use qcc_ir::tensor::Packed4;
use qcc_ir::{ElemType, Graph, Op, QuantType, ScalarType, Tensor, TensorData, TensorType};

#[test]
fn split_weight_rows_match_the_interpreter() {
    for (op, m, block) in [
        (Op::DenseNbits, 3, 64),
        (Op::DenseNbits, 9, 32),
        (Op::DenseNbitsQ8, 3, 128),
        (Op::DenseNbitsQ8, 9, 32),
    ] {
        check(op, m, block);
    }
}

fn check(op: Op, m: usize, block: usize) {
    let (k, n) = (4096usize, 301usize);
    let mut g = Graph::new("nbits");
    let x = g.add_input("x", TensorType::f32(vec![m, k]));
    let mut state = 12345u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u32
    };
    let bytes: Vec<u8> = (0..n * k / 2).map(|_| next() as u8).collect();
    let blocks = n * k / block;
    let scales: Vec<f32> = (0..blocks)
        .map(|_| (1 + next() % 64) as f32 / 512.0)
        .collect();
    let zps: Vec<i64> = (0..blocks).map(|_| (next() % 16) as i64).collect();
    let q = QuantType::blocked(ScalarType::U4, 1, block, scales, zps);
    let w = g.add_const(
        TensorData::U4(Packed4 { bytes, len: n * k }),
        TensorType::new(vec![n, k], ElemType::quant(q)),
    );
    let y = g.add_node(op.clone(), &[x, w], TensorType::f32(vec![m, n]));
    g.add_output("y", y);
    qcc_ir::verify::verify(&g).expect("verifies");
    let xs: Vec<f32> = (0..m * k)
        .map(|_| (next() % 2001) as f32 / 1000.0 - 1.0)
        .collect();
    let inputs = [Tensor::f32(vec![m, k], xs)];
    let want = qcc_ir::interp::run(&g, &inputs).unwrap();
    for path in qcc_codegen::supported_paths() {
        for threads in [1, 2] {
            let opts = qcc_codegen::CodegenOptions {
                dot_path: Some(path),
                threads,
                ..Default::default()
            };
            let got = qcc_codegen::compile(&g, &opts)
                .unwrap()
                .run(&inputs)
                .unwrap();
            assert!(
                got == want,
                "{op:?}, m {m}, block {block}, path {path}, {threads} threads: differs from the interpreter"
            );
        }
    }
}
