//! Times the AVX512-VNNI 4×64 micro-kernel alone, on a 64-byte-aligned
//! L1-resident B panel (as the JIT lays it out), with the same A rows every
//! call or A streamed over 512 rows (as a 512³ GEMM runs one panel), to
//! split the GEMM's time between the kernel and the rest.
//! `cargo run --release -p qcc-compiler --example kernel_probe [K]`

use qcc_codegen::shim::{self, DotPath};
use std::time::Instant;

fn main() {
    let k: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(512usize)
        .next_multiple_of(4);
    if shim::kernel(DotPath::Avx512Vnni, 4, 4).is_none() {
        println!("no AVX512-VNNI");
        return;
    }
    let kp4 = k / 4;
    let m = 512;
    let a: Vec<u8> = (0..m * k).map(|i| (i * 31 % 251) as u8).collect();
    let braw: Vec<i8> = (0..k * 64 + 64).map(|i| (i * 17 % 251) as i8).collect();
    let off = braw.as_ptr().align_offset(64);
    let b = &braw[off..off + k * 64];
    let mut c = vec![0i32; 4 * 64];
    let reps = 2048;
    let run = |rows: usize, c: &mut [i32]| {
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t0 = Instant::now();
            for i in 0..reps {
                let t = (i % (rows / 4)) * 4;
                shim::run_kernel(
                    DotPath::Avx512Vnni,
                    4,
                    4,
                    kp4,
                    &a[t * k..],
                    k,
                    b,
                    256,
                    c,
                    64,
                );
            }
            best = best.min(t0.elapsed().as_secs_f64());
        }
        2.0 * (4 * 64 * k) as f64 * reps as f64 / best / 1e9
    };
    println!("4x64 K={k}, A in L1: {:.1} GOPS", run(4, &mut c));
    println!(
        "4x64 K={k}, A streamed over {m} rows: {:.1} GOPS",
        run(m, &mut c)
    );
}
