//! Measures the micro-kernels alone on L1/L2-resident packed panels (the
//! method of `shared/anchors/int8-perf-this-machine.md`): `M = 96`,
//! `N = 384`, `K` from the command line (default 512), best of 9 runs.
//!
//! ```sh
//! cargo run --release -p qcc-codegen --example kernel_peak -- 512
//! ```

use qcc_codegen::shim::{self, DotPath, NR, PANEL};
use std::time::Instant;

fn main() {
    let k: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(512);
    let path = DotPath::Avx512Vnni;
    if !path.is_supported() {
        eprintln!("this host has no AVX512-VNNI");
        return;
    }
    let (m, n) = (96usize, 384usize);
    let kp4 = k / 4;
    let a: Vec<u8> = (0..m * k).map(|i| (i * 7 % 251) as u8).collect();
    let b: Vec<i8> = (0..k * n).map(|i| (i * 13 % 255) as i8).collect();
    let mut c = vec![0i32; m * n];
    let lda: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(k);
    for (mr, nb) in [(4, 4), (6, 4), (8, 2), (6, 3), (5, 4)] {
        let Some(kern) = shim::kernel(path, mr, nb) else {
            continue;
        };
        let width = nb * NR;
        let panels = n / width;
        let reps = 200;
        let mut best = f64::MAX;
        for _ in 0..9 {
            let t0 = Instant::now();
            for _ in 0..reps {
                for p in 0..panels {
                    let bp = &b[p * k * width..];
                    for t in 0..m / mr {
                        // SAFETY: inside the buffers (the kernel's contract:
                        // rows `t·mr..` of `a`, panel `p` of `b`, the tile of `c`).
                        unsafe {
                            kern(
                                kp4,
                                a.as_ptr().add(t * mr * k),
                                lda,
                                bp.as_ptr(),
                                4 * width,
                                c.as_mut_ptr().add(t * mr * n + p * width),
                                n,
                            )
                        };
                    }
                }
            }
            best = best.min(t0.elapsed().as_secs_f64());
        }
        let macs = (reps * (m / mr) * mr * panels * width * k) as f64;
        println!("{mr}x{} K={k}: {:.0} GOPS", width, 2.0 * macs / best / 1e9);
    }
    let _ = PANEL;
}
