//! The machine's measured int8 peak (`qcc peak`): each dot path's
//! multiply-accumulate instruction run back to back on independent
//! accumulators held in registers, with no loads and no stores, so the
//! figure is what the core's execution units deliver and nothing else.
//! Benchmarks report their GOPS as a share of this figure, measured on the
//! machine they run on, rather than of a number from another machine (the
//! same `vpdpbusd zmm` gives about 890 GOPS per core on one AMD EPYC and
//! half that on another that splits 512-bit operations in two).
//!
//! One op is a multiply or an add: a `u8·i8` multiply-accumulate is 2 ops.
//! The probes per path:
//! - AMX: 4 independent `tdpbusd` into tiles 0–3 from tiles 4–7 (16 × 16 ×
//!   64 multiply-accumulates each);
//! - AVX512-VNNI: 12 independent `vpdpbusd zmm` chains (64 each);
//! - AVX-VNNI: 12 independent VEX `vpdpbusd ymm` chains (32 each);
//! - AVX2: 5 independent `vpmaddubsw` + `vpmaddwd` + `vpaddd` ymm chains
//!   (32 each), the sequence the AVX2 kernels use;
//! - f32 FMA (for reference, in GFLOPS): 12 `vfmadd231ps zmm` chains with
//!   AVX-512, else ymm.
//!
//! The Cranelift 128-bit tree and the scalar loops have no register-only
//! form worth timing; they have no probe.

use super::DotPath;
use std::time::Instant;

/// A probe: its name, and the ops one call of `iters` iterations does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    Amx,
    Avx512Vnni,
    AvxVnni,
    Avx2,
    /// f32 FMA on the widest vectors the host has (GFLOPS).
    FmaF32,
}

impl Probe {
    pub const ALL: [Probe; 5] = [
        Probe::Amx,
        Probe::Avx512Vnni,
        Probe::AvxVnni,
        Probe::Avx2,
        Probe::FmaF32,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Probe::Amx => "amx",
            Probe::Avx512Vnni => "avx512vnni",
            Probe::AvxVnni => "avxvnni",
            Probe::Avx2 => "avx2",
            Probe::FmaF32 => "fma-f32",
        }
    }

    /// The instructions timed, for the report.
    pub fn instruction(self) -> &'static str {
        match self {
            Probe::Amx => "tdpbusd (4 tiles)",
            Probe::Avx512Vnni => "vpdpbusd zmm",
            Probe::AvxVnni => "vpdpbusd ymm (VEX)",
            Probe::Avx2 => "vpmaddubsw + vpmaddwd + vpaddd ymm",
            Probe::FmaF32 => {
                if super::host_features().avx512vnni {
                    "vfmadd231ps zmm"
                } else {
                    "vfmadd231ps ymm"
                }
            }
        }
    }

    /// The probe of a dot path's kernels (none for the paths without
    /// micro-kernels).
    pub fn of_path(path: DotPath) -> Option<Probe> {
        match path {
            DotPath::Amx => Some(Probe::Amx),
            DotPath::Avx512Vnni => Some(Probe::Avx512Vnni),
            DotPath::AvxVnni => Some(Probe::AvxVnni),
            DotPath::Avx2 => Some(Probe::Avx2),
            DotPath::Clif128 | DotPath::Scalar => None,
        }
    }

    /// Whether this host can run the probe.
    pub fn is_supported(self) -> bool {
        let f = super::host_features();
        match self {
            Probe::Amx => f.amx,
            Probe::Avx512Vnni => f.avx512vnni,
            Probe::AvxVnni => f.avxvnni,
            Probe::Avx2 | Probe::FmaF32 => f.avx2,
        }
    }

    /// Ops (2 per multiply-accumulate) of one loop iteration.
    fn ops_per_iter(self) -> f64 {
        match self {
            Probe::Amx => 4.0 * 16.0 * 16.0 * 64.0 * 2.0,
            Probe::Avx512Vnni => 12.0 * 64.0 * 2.0,
            Probe::AvxVnni => 12.0 * 32.0 * 2.0,
            Probe::Avx2 => 5.0 * 32.0 * 2.0,
            Probe::FmaF32 => {
                let lanes = if super::host_features().avx512vnni {
                    16.0
                } else {
                    8.0
                };
                12.0 * lanes * 2.0
            }
        }
    }

    /// Runs `iters` iterations of the probe's loop.
    fn run(self, iters: u64) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: each probe runs only where `is_supported` found its
        // features (checked by `measure`); the loops touch registers only
        // (AMX: tiles configured here and released before returning).
        unsafe {
            match self {
                Probe::Amx => x86::amx(iters),
                Probe::Avx512Vnni => x86::vnni_zmm(iters),
                Probe::AvxVnni => x86::vnni_ymm(iters),
                Probe::Avx2 => x86::avx2(iters),
                Probe::FmaF32 => {
                    if super::host_features().avx512vnni {
                        x86::fma_zmm(iters)
                    } else {
                        x86::fma_ymm(iters)
                    }
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = iters;
    }
}

/// One probe's figure: the median over `repeats` timed runs, with the
/// least and the most, in GOPS (GFLOPS for [`Probe::FmaF32`]) summed over
/// the threads.
#[derive(Clone, Copy, Debug)]
pub struct PeakFigure {
    pub probe: Probe,
    pub threads: usize,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

/// Times `probe` on `threads` threads (each running the same loop at once),
/// each run lasting about `seconds`; `None` when the host lacks it.
pub fn measure(probe: Probe, threads: usize, seconds: f64, repeats: usize) -> Option<PeakFigure> {
    if !probe.is_supported() || cfg!(not(target_arch = "x86_64")) {
        return None;
    }
    let threads = threads.max(1);
    // Calibrate the iteration count on one thread.
    let mut iters = 1u64 << 12;
    loop {
        let t = Instant::now();
        probe.run(iters);
        let dt = t.elapsed().as_secs_f64();
        if dt > 0.02 || iters > 1 << 40 {
            iters = ((iters as f64) * (seconds / dt.max(1e-9))).max(1.0) as u64;
            break;
        }
        iters *= 4;
    }
    let mut runs: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let t = Instant::now();
            std::thread::scope(|s| {
                for _ in 1..threads {
                    s.spawn(|| probe.run(iters));
                }
                probe.run(iters);
            });
            let dt = t.elapsed().as_secs_f64();
            probe.ops_per_iter() * iters as f64 * threads as f64 / dt / 1e9
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    Some(PeakFigure {
        probe,
        threads,
        median: runs[runs.len() / 2],
        min: runs[0],
        max: runs[runs.len() - 1],
    })
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::asm;

    /// # Safety
    /// The host must have AVX512-VNNI.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub(super) unsafe fn vnni_zmm(iters: u64) {
        // SAFETY: registers only; the caller checked the features.
        unsafe {
            asm!(
                "vpxord zmm12, zmm12, zmm12",
                "vpternlogd zmm13, zmm13, zmm13, 0xff",
                "2:",
                "vpdpbusd zmm0, zmm12, zmm13",
                "vpdpbusd zmm1, zmm12, zmm13",
                "vpdpbusd zmm2, zmm12, zmm13",
                "vpdpbusd zmm3, zmm12, zmm13",
                "vpdpbusd zmm4, zmm12, zmm13",
                "vpdpbusd zmm5, zmm12, zmm13",
                "vpdpbusd zmm6, zmm12, zmm13",
                "vpdpbusd zmm7, zmm12, zmm13",
                "vpdpbusd zmm8, zmm12, zmm13",
                "vpdpbusd zmm9, zmm12, zmm13",
                "vpdpbusd zmm10, zmm12, zmm13",
                "vpdpbusd zmm11, zmm12, zmm13",
                "dec {n}",
                "jnz 2b",
                n = inout(reg) iters.max(1) => _,
                out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _,
                out("zmm4") _, out("zmm5") _, out("zmm6") _, out("zmm7") _,
                out("zmm8") _, out("zmm9") _, out("zmm10") _, out("zmm11") _,
                out("zmm12") _, out("zmm13") _,
                options(nostack, nomem),
            );
        }
    }

    /// # Safety
    /// The host must have AVX-VNNI.
    #[target_feature(enable = "avx2,avxvnni")]
    pub(super) unsafe fn vnni_ymm(iters: u64) {
        // SAFETY: registers only; the caller checked the features.
        unsafe {
            asm!(
                "vpxor ymm12, ymm12, ymm12",
                "vpcmpeqd ymm13, ymm13, ymm13",
                "2:",
                "{{vex}} vpdpbusd ymm0, ymm12, ymm13",
                "{{vex}} vpdpbusd ymm1, ymm12, ymm13",
                "{{vex}} vpdpbusd ymm2, ymm12, ymm13",
                "{{vex}} vpdpbusd ymm3, ymm12, ymm13",
                "{{vex}} vpdpbusd ymm4, ymm12, ymm13",
                "{{vex}} vpdpbusd ymm5, ymm12, ymm13",
                "{{vex}} vpdpbusd ymm6, ymm12, ymm13",
                "{{vex}} vpdpbusd ymm7, ymm12, ymm13",
                "{{vex}} vpdpbusd ymm8, ymm12, ymm13",
                "{{vex}} vpdpbusd ymm9, ymm12, ymm13",
                "{{vex}} vpdpbusd ymm10, ymm12, ymm13",
                "{{vex}} vpdpbusd ymm11, ymm12, ymm13",
                "dec {n}",
                "jnz 2b",
                n = inout(reg) iters.max(1) => _,
                out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _,
                out("ymm4") _, out("ymm5") _, out("ymm6") _, out("ymm7") _,
                out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
                out("ymm12") _, out("ymm13") _,
                options(nostack, nomem),
            );
        }
    }

    /// # Safety
    /// The host must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn avx2(iters: u64) {
        // SAFETY: registers only; the caller checked the features.
        unsafe {
            asm!(
                "vpxor ymm10, ymm10, ymm10",
                "vpcmpeqd ymm11, ymm11, ymm11",
                "vpcmpeqw ymm12, ymm12, ymm12",
                "2:",
                "vpmaddubsw ymm5, ymm10, ymm11",
                "vpmaddubsw ymm6, ymm10, ymm11",
                "vpmaddubsw ymm7, ymm10, ymm11",
                "vpmaddubsw ymm8, ymm10, ymm11",
                "vpmaddubsw ymm9, ymm10, ymm11",
                "vpmaddwd ymm5, ymm5, ymm12",
                "vpmaddwd ymm6, ymm6, ymm12",
                "vpmaddwd ymm7, ymm7, ymm12",
                "vpmaddwd ymm8, ymm8, ymm12",
                "vpmaddwd ymm9, ymm9, ymm12",
                "vpaddd ymm0, ymm0, ymm5",
                "vpaddd ymm1, ymm1, ymm6",
                "vpaddd ymm2, ymm2, ymm7",
                "vpaddd ymm3, ymm3, ymm8",
                "vpaddd ymm4, ymm4, ymm9",
                "dec {n}",
                "jnz 2b",
                n = inout(reg) iters.max(1) => _,
                out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _,
                out("ymm4") _, out("ymm5") _, out("ymm6") _, out("ymm7") _,
                out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
                out("ymm12") _,
                options(nostack, nomem),
            );
        }
    }

    /// # Safety
    /// The host must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn fma_zmm(iters: u64) {
        // SAFETY: registers only; the caller checked the features.
        unsafe {
            asm!(
                "vpxord zmm12, zmm12, zmm12",
                "vpxord zmm13, zmm13, zmm13",
                "2:",
                "vfmadd231ps zmm0, zmm12, zmm13",
                "vfmadd231ps zmm1, zmm12, zmm13",
                "vfmadd231ps zmm2, zmm12, zmm13",
                "vfmadd231ps zmm3, zmm12, zmm13",
                "vfmadd231ps zmm4, zmm12, zmm13",
                "vfmadd231ps zmm5, zmm12, zmm13",
                "vfmadd231ps zmm6, zmm12, zmm13",
                "vfmadd231ps zmm7, zmm12, zmm13",
                "vfmadd231ps zmm8, zmm12, zmm13",
                "vfmadd231ps zmm9, zmm12, zmm13",
                "vfmadd231ps zmm10, zmm12, zmm13",
                "vfmadd231ps zmm11, zmm12, zmm13",
                "dec {n}",
                "jnz 2b",
                n = inout(reg) iters.max(1) => _,
                out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _,
                out("zmm4") _, out("zmm5") _, out("zmm6") _, out("zmm7") _,
                out("zmm8") _, out("zmm9") _, out("zmm10") _, out("zmm11") _,
                out("zmm12") _, out("zmm13") _,
                options(nostack, nomem),
            );
        }
    }

    /// # Safety
    /// The host must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn fma_ymm(iters: u64) {
        // SAFETY: registers only; the caller checked the features.
        unsafe {
            asm!(
                "vxorps ymm12, ymm12, ymm12",
                "vxorps ymm13, ymm13, ymm13",
                "2:",
                "vfmadd231ps ymm0, ymm12, ymm13",
                "vfmadd231ps ymm1, ymm12, ymm13",
                "vfmadd231ps ymm2, ymm12, ymm13",
                "vfmadd231ps ymm3, ymm12, ymm13",
                "vfmadd231ps ymm4, ymm12, ymm13",
                "vfmadd231ps ymm5, ymm12, ymm13",
                "vfmadd231ps ymm6, ymm12, ymm13",
                "vfmadd231ps ymm7, ymm12, ymm13",
                "vfmadd231ps ymm8, ymm12, ymm13",
                "vfmadd231ps ymm9, ymm12, ymm13",
                "vfmadd231ps ymm10, ymm12, ymm13",
                "vfmadd231ps ymm11, ymm12, ymm13",
                "dec {n}",
                "jnz 2b",
                n = inout(reg) iters.max(1) => _,
                out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _,
                out("ymm4") _, out("ymm5") _, out("ymm6") _, out("ymm7") _,
                out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
                out("ymm12") _, out("ymm13") _,
                options(nostack, nomem),
            );
        }
    }

    /// # Safety
    /// The process must be allowed AMX (`super::super::host_features().amx`).
    pub(super) unsafe fn amx(iters: u64) {
        #[repr(C, align(64))]
        struct Tiles([u8; 1024]);
        let zeros = Tiles([0; 1024]);
        // SAFETY: the tiles are configured here (8 tiles of 16 rows × 64
        // bytes), loaded from a 1 KiB buffer with a 64-byte stride, and
        // released before returning; the caller checked AMX.
        unsafe {
            asm!(
                "ldtilecfg [{cfg}]",
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                "tileloadd tmm4, [{buf} + {stride}]",
                "tileloadd tmm5, [{buf} + {stride}]",
                "tileloadd tmm6, [{buf} + {stride}]",
                "tileloadd tmm7, [{buf} + {stride}]",
                "2:",
                "tdpbusd tmm0, tmm4, tmm6",
                "tdpbusd tmm1, tmm4, tmm7",
                "tdpbusd tmm2, tmm5, tmm6",
                "tdpbusd tmm3, tmm5, tmm7",
                "dec {n}",
                "jnz 2b",
                "tilerelease",
                cfg = in(reg) super::super::amx::config_ptr(),
                buf = in(reg) zeros.0.as_ptr(),
                stride = in(reg) 64usize,
                n = inout(reg) iters.max(1) => _,
                options(nostack, readonly),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_probe_measures_a_positive_figure() {
        for p in Probe::ALL {
            match measure(p, 1, 0.002, 1) {
                Some(f) => assert!(f.median > 0.0 && f.min <= f.max, "{p:?}: {f:?}"),
                None => assert!(!p.is_supported() || cfg!(not(target_arch = "x86_64"))),
            }
        }
    }
}
