//! Times the AVX512-VNNI micro-kernels alone (4×64 tile) on L1-resident
//! panels, against the loop a 512³ GEMM runs (a B panel in L1, A rows
//! streamed), to split the GEMM's time between the kernel and the memory.
//! `cargo run --release -p qcc-compiler --example kernel_probe [K]`

use qcc_codegen::shim::{self, DotPath};
use std::time::Instant;

fn main() {
    let k: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(512);
    let Some(kern) = shim::kernel(DotPath::Avx512Vnni, 4, 4) else {
        println!("no AVX512-VNNI");
        return;
    };
    let kp4 = k / 4;
    let m = 512;
    let a: Vec<u8> = (0..m * k).map(|i| (i * 31 % 251) as u8).collect();
    let b: Vec<i8> = (0..k * 64).map(|i| (i * 17 % 251) as i8).collect();
    let mut c = vec![0i32; 4 * 64];
    let reps = 2000;
    // Same A rows every call: all in L1.
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t0 = Instant::now();
        for _ in 0..reps {
            // SAFETY: the buffers hold the tile the kernel reads and writes.
            unsafe { kern(kp4, a.as_ptr(), k, b.as_ptr(), 256, c.as_mut_ptr(), 64) };
        }
        best = best.min(t0.elapsed().as_secs_f64());
    }
    let ops = 2.0 * (4 * 64 * k) as f64 * reps as f64;
    println!("4x64 K={k} L1: {:.1} GOPS", ops / best / 1e9);
    // A streamed over 512 rows (as the GEMM does per panel).
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t0 = Instant::now();
        for _ in 0..reps / 128 {
            for t in 0..m / 4 {
                // SAFETY: as above, rows `4t .. 4t + 4` of A.
                unsafe {
                    kern(kp4, a.as_ptr().add(4 * t * k), k, b.as_ptr(), 256, c.as_mut_ptr(), 64)
                };
            }
        }
        best = best.min(t0.elapsed().as_secs_f64());
    }
    let ops = 2.0 * (4 * 64 * k) as f64 * (reps / 128 * 128) as f64;
    println!("4x64 K={k} A streamed: {:.1} GOPS", ops / best / 1e9);
}
