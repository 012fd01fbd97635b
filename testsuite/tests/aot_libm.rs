//! The `libm` routines that ahead-of-time objects carry as generated code
//! (`qcc_codegen`'s `lower::libm`: exp, log, sigmoid, tanh, erf, gelu, pow)
//! against the `libm` crate, which the interpreter calls
//! (`qcc_ir::elementwise`), bit for bit.
//!
//! The unary functions: one object computes every function over a chunk of
//! f32s; `testsuite/aot/libm_driver.c` sweeps bit patterns through it and
//! prints an FNV-1a hash of each function's results (any NaN as one: the
//! spec compares NaNs by NaN-ness), which must equal the hash of
//! `Unary::apply` over the same inputs. x86-64 natively: every 256th bit
//! pattern by default, all 2³² with `QCC_LIBM_EXHAUSTIVE=1`; aarch64 under
//! `qemu-aarch64-static -cpu max` (where installed): every 4096th.
//!
//! `pow`: `testsuite/aot/pow_driver.c` runs an object of `pow a, b` over
//! pairs written to files (every pair of a list of special values, random
//! bit patterns, and random pairs aimed at each branch of `powf`: x near 1
//! with huge y, negative x with integer y, subnormal x, results near the
//! overflow and underflow thresholds) and the results are compared with
//! `libm::powf` pair by pair: 2²² pairs on x86-64 (2²⁴ with
//! `QCC_LIBM_EXHAUSTIVE=1`), 2²⁰ under qemu.

use qcc_compiler::aot::{self, AotArch, AotOptions};
use qcc_ir::elementwise::{Binary, Unary, UnaryFn};
use std::path::{Path, PathBuf};
use std::process::Command;

const FNS: [(UnaryFn, &str); 6] = [
    (UnaryFn::Exp, "exp"),
    (UnaryFn::Log, "log"),
    (UnaryFn::Sigmoid, "sigmoid"),
    (UnaryFn::Tanh, "tanh"),
    (UnaryFn::Erf, "erf"),
    (UnaryFn::Gelu, "gelu"),
];
const CHUNK: usize = 1 << 16;

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn graph() -> qcc_ir::Graph {
    let t = format!("tensor<{CHUNK}xf32>");
    let outs: Vec<String> = FNS.iter().map(|(_, n)| format!("%o_{n}: {t}")).collect();
    let mut src = format!("graph @lm(%x: {t}) -> ({}) {{\n", outs.join(", "));
    for (_, n) in FNS {
        src.push_str(&format!("  %o_{n} = {n} %x : {t}\n"));
    }
    src.push_str(&format!(
        "  return {}\n}}\n",
        FNS.iter()
            .map(|(_, n)| format!("%o_{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    qcc_ir::text::parse(&src, None).unwrap_or_else(|e| panic!("{e:?}\n{src}"))
}

/// The hashes the driver must print.
fn want(stride: u64) -> Vec<String> {
    let fns: Vec<Unary> = FNS
        .iter()
        .map(|&(f, _)| Unary {
            f,
            alpha: 0.0,
            beta: 0.0,
        })
        .collect();
    let mut h = vec![0xcbf2_9ce4_8422_2325u64; fns.len()];
    for i in 0..(1u64 << 32) / stride {
        let x = f32::from_bits((i * stride) as u32);
        for (h, u) in h.iter_mut().zip(&fns) {
            let y = u.apply(x);
            let y = if y.is_nan() { 0x7fc0_0000 } else { y.to_bits() };
            *h = (*h ^ y as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    h.iter().map(|h| format!("{h:016x}")).collect()
}

/// Compiles `g` into an object named `name` for `arch` and links it with
/// `testsuite/aot/{driver}` in `dir`; the executable's path.
fn build(
    arch: AotArch,
    cc: &str,
    cflags: &[&str],
    dir: &Path,
    name: &str,
    g: &qcc_ir::Graph,
    driver: &str,
) -> PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let options = AotOptions {
        arch,
        native: false,
        features: vec![],
        name: name.into(),
        optimize: true,
    };
    let obj = aot::compile_object(g, &options).expect("compiling the libm object");
    let o = dir.join(format!("{name}.o"));
    std::fs::write(&o, &obj.object).unwrap();
    std::fs::write(dir.join(format!("{name}.h")), obj.header()).unwrap();
    let exe = dir.join("driver");
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("aot")
        .join(driver);
    let out = Command::new(cc)
        .args(["-std=c11", "-O2", "-Wall", "-Werror", "-I"])
        .arg(dir)
        .arg(&src)
        .arg(&o)
        .args(cflags)
        .arg("-lm")
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("running the C compiler");
    assert!(
        out.status.success(),
        "{cc}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// Runs `exe` with `args`, under `runner -cpu max` if given; its stdout.
fn run(runner: Option<&str>, exe: &Path, args: &[&std::ffi::OsStr]) -> String {
    let out = match runner {
        Some(r) => Command::new(r)
            .args(["-cpu", "max"])
            .arg(exe)
            .args(args)
            .output(),
        None => Command::new(exe).args(args).output(),
    }
    .expect("running the driver");
    assert!(
        out.status.success(),
        "driver: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tmp(arch: AotArch, what: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(what)
        .join(arch.name())
}

fn check(arch: AotArch, cc: &str, cflags: &[&str], runner: Option<&str>, stride: u64) {
    let dir = tmp(arch, "aot_libm");
    let exe = build(arch, cc, cflags, &dir, "lm", &graph(), "libm_driver.c");
    let want = std::thread::spawn(move || want(stride));
    let got = run(runner, &exe, &[stride.to_string().as_ref()]);
    let got: Vec<String> = got.lines().map(String::from).collect();
    let want = want.join().unwrap();
    for (k, (_, name)) in FNS.iter().enumerate() {
        assert_eq!(
            got.get(k),
            Some(&want[k]),
            "{}: the object's {name} differs from the libm crate's (every {stride}th f32)",
            arch.name()
        );
    }
    eprintln!(
        "{}: {} f32 inputs through {} functions: equal",
        arch.name(),
        (1u64 << 32) / stride,
        FNS.len()
    );
}

/// xorshift64*: the pairs are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn f32_in(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next() >> 40) as f32 / (1u64 << 24) as f32)
    }

    /// `v` moved by up to ±`ulps` units in the last place (as bits).
    fn nudge(&mut self, v: f32, ulps: u64) -> f32 {
        let d = self.below(2 * ulps + 1) as i64 - ulps as i64;
        f32::from_bits((v.to_bits() as i64 + d) as u32)
    }
}

/// The special values of `powf`'s tests: signed zeros, infinities, NaNs,
/// ±1 and its neighbours, ±0.5, ±2, subnormals, the extremes, integers odd
/// and even around 2²⁴ (where every f32 is an even integer) and 2²⁷ (the
/// huge-`y` threshold).
fn pow_specials() -> Vec<f32> {
    let mut v: Vec<f32> = vec![
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -f32::NAN,
        f32::from_bits(0x7f80_0001),
        1.0,
        -1.0,
        0.5,
        -0.5,
        2.0,
        -2.0,
        3.0,
        -3.0,
        0.25,
        10.0,
        -10.0,
        1.5,
        -1.5,
        f32::from_bits(1),
        f32::from_bits(0x8000_0001),
        f32::from_bits(0x007f_ffff),
        f32::from_bits(0x807f_ffff),
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        f32::MAX,
        f32::MIN,
        16_777_215.0,
        16_777_216.0,
        -16_777_215.0,
        8_388_609.0,
        134_217_728.0,
        134_217_736.0,
        f32::from_bits(0x4d00_0001),
        128.0,
        -128.0,
        150.0,
        -149.0,
        -150.0,
        0.1,
        1e-30,
        1e30,
    ];
    for b in [0x3f7f_fff8u32, 0x3f7f_fff7, 0x3f80_0007, 0x3f80_0008] {
        v.push(f32::from_bits(b));
        v.push(-f32::from_bits(b));
    }
    for d in 1..4 {
        v.push(f32::from_bits(0x3f80_0000 + d));
        v.push(f32::from_bits(0x3f80_0000 - d));
        v.push(-f32::from_bits(0x3f80_0000 + d));
    }
    v
}

/// `n` pairs (a multiple of `CHUNK`): the special values crossed, then
/// random pairs of each kind.
fn pow_pairs(n: usize) -> (Vec<f32>, Vec<f32>) {
    let sp = pow_specials();
    let (mut a, mut b) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for &x in &sp {
        for &y in &sp {
            a.push(x);
            b.push(y);
        }
    }
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    while a.len() < n {
        let (x, y) = match r.below(8) {
            // Any bit patterns.
            0 => (
                f32::from_bits(r.next() as u32),
                f32::from_bits(r.next() as u32),
            ),
            // Moderate positive x and y of either sign.
            1 => (r.f32_in(0.0, 8.0), r.f32_in(-30.0, 30.0)),
            // x near 1, y huge (|y| > 2²⁷) or large.
            2 => {
                let x = r.nudge(1.0, 16);
                let y = f32::from_bits(0x4c00_0000 + r.below(0x0200_0000) as u32);
                let y = if r.below(2) == 0 { y } else { -y };
                (if r.below(4) == 0 { -x } else { x }, y)
            }
            // Negative x, integer y (odd and even, up to beyond 2²⁴).
            3 => {
                let y = if r.below(2) == 0 {
                    r.below(64) as f32 - 32.0
                } else {
                    (r.below(1 << 26) as f32) * if r.below(2) == 0 { 1.0 } else { -1.0 }
                };
                (-r.f32_in(0.0, 4.0), y)
            }
            // Subnormal x.
            4 => (
                f32::from_bits(r.below(0x0080_0000) as u32),
                r.f32_in(-2.0, 2.0),
            ),
            // Results near 2^±128, 2^−126 and 2^−150: y ≈ e / log₂ x.
            5 => {
                let x = r.f32_in(0.05, 20.0);
                let e = [128.0f32, -128.0, -126.0, -149.0, -150.0][r.below(5) as usize];
                let y = e / x.log2();
                let x = if r.below(3) == 0 { -x } else { x };
                let y = r.nudge(y, 64);
                let y = if r.below(3) == 0 { y.round() } else { y };
                (x, y)
            }
            // Any finite x, y of small magnitude.
            6 => (
                f32::from_bits((r.next() as u32) & 0xff7f_ffff),
                r.f32_in(-4.0, 4.0),
            ),
            // Small x, moderate y.
            _ => (r.f32_in(-1.0, 1.0), r.f32_in(-60.0, 60.0)),
        };
        a.push(x);
        b.push(y);
    }
    a.truncate(n);
    b.truncate(n);
    (a, b)
}

fn write_f32s(path: &Path, v: &[f32]) {
    let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn check_pow(arch: AotArch, cc: &str, cflags: &[&str], runner: Option<&str>, n: usize) {
    let dir = tmp(arch, "aot_pow");
    let t = format!("tensor<{CHUNK}xf32>");
    let src = format!(
        "graph @pw(%a: {t}, %b: {t}) -> (%y: {t}) {{\n  %y = pow %a, %b : {t}\n  return %y\n}}\n"
    );
    let g = qcc_ir::text::parse(&src, None).unwrap_or_else(|e| panic!("{e:?}\n{src}"));
    let exe = build(arch, cc, cflags, &dir, "pw", &g, "pow_driver.c");
    let (a, b) = pow_pairs(n);
    let (pa, pb, po) = (dir.join("a.bin"), dir.join("b.bin"), dir.join("y.bin"));
    write_f32s(&pa, &a);
    write_f32s(&pb, &b);
    run(
        runner,
        &exe,
        &[pa.as_os_str(), pb.as_os_str(), po.as_os_str()],
    );
    let got = std::fs::read(&po).unwrap();
    assert_eq!(got.len(), 4 * n, "the driver's output size");
    let mut bad = Vec::new();
    for (i, c) in got.chunks_exact(4).enumerate() {
        let g = f32::from_le_bytes(c.try_into().unwrap());
        let w = Binary::Pow.apply(a[i], b[i]);
        // NaNs compare by NaN-ness (docs/semantics.md).
        if !(g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan())) {
            bad.push(format!(
                "powf({:#010x}, {:#010x}) = {:#010x}, the object gives {:#010x}",
                a[i].to_bits(),
                b[i].to_bits(),
                w.to_bits(),
                g.to_bits()
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{}: {} of {n} pairs differ:\n{}",
        arch.name(),
        bad.len(),
        bad[..bad.len().min(20)].join("\n")
    );
    eprintln!("{}: {n} pairs through pow: equal", arch.name());
}

#[test]
fn x86_64_objects_compute_the_libm_crates_functions() {
    if !(cfg!(target_arch = "x86_64") && have("cc")) {
        eprintln!("note: not an x86-64 host with `cc`: skipped");
        return;
    }
    let stride = if std::env::var_os("QCC_LIBM_EXHAUSTIVE").is_some() {
        1
    } else {
        256
    };
    check(AotArch::X86_64, "cc", &[], None, stride);
}

#[test]
fn aarch64_objects_compute_the_libm_crates_functions() {
    if !(have("aarch64-linux-gnu-gcc") && have("qemu-aarch64-static")) {
        eprintln!(
            "note: aarch64-linux-gnu-gcc or qemu-aarch64-static is missing: the aarch64 libm \
             check is skipped"
        );
        return;
    }
    check(
        AotArch::Aarch64,
        "aarch64-linux-gnu-gcc",
        &["-static"],
        Some("qemu-aarch64-static"),
        4096,
    );
}

#[test]
fn x86_64_objects_compute_the_libm_crates_powf() {
    if !(cfg!(target_arch = "x86_64") && have("cc")) {
        eprintln!("note: not an x86-64 host with `cc`: skipped");
        return;
    }
    let n = if std::env::var_os("QCC_LIBM_EXHAUSTIVE").is_some() {
        1 << 24
    } else {
        1 << 22
    };
    check_pow(AotArch::X86_64, "cc", &[], None, n);
}

#[test]
fn aarch64_objects_compute_the_libm_crates_powf() {
    if !(have("aarch64-linux-gnu-gcc") && have("qemu-aarch64-static")) {
        eprintln!(
            "note: aarch64-linux-gnu-gcc or qemu-aarch64-static is missing: the aarch64 pow \
             check is skipped"
        );
        return;
    }
    check_pow(
        AotArch::Aarch64,
        "aarch64-linux-gnu-gcc",
        &["-static"],
        Some("qemu-aarch64-static"),
        1 << 20,
    );
}
