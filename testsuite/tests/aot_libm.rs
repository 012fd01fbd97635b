//! The `libm` routines that ahead-of-time objects carry as generated code
//! (`qcc_codegen`'s `lower::libm`: exp, log, sigmoid, tanh) against the `libm`
//! crate, which the interpreter calls (`qcc_ir::elementwise`), bit for bit.
//!
//! One object computes every function over a chunk of f32s;
//! `testsuite/aot/libm_driver.c` sweeps bit patterns through it and prints
//! an FNV-1a hash of each function's results (any NaN as one: the spec
//! compares NaNs by NaN-ness), which must equal the hash of
//! `Unary::apply` over the same inputs. x86-64 natively: every 256th bit
//! pattern by default, all 2³² with `QCC_LIBM_EXHAUSTIVE=1`; aarch64 under
//! `qemu-aarch64-static -cpu max` (where installed): every 4096th.

use qcc_compiler::aot::{self, AotArch, AotOptions};
use qcc_ir::elementwise::{Unary, UnaryFn};
use std::path::Path;
use std::process::Command;

const FNS: [(UnaryFn, &str); 4] = [
    (UnaryFn::Exp, "exp"),
    (UnaryFn::Log, "log"),
    (UnaryFn::Sigmoid, "sigmoid"),
    (UnaryFn::Tanh, "tanh"),
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

fn check(arch: AotArch, cc: &str, cflags: &[&str], runner: Option<&str>, stride: u64) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("aot_libm")
        .join(arch.name());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let options = AotOptions {
        arch,
        native: false,
        features: vec![],
        name: "lm".into(),
        optimize: true,
    };
    let obj = aot::compile_object(&graph(), &options).expect("compiling the libm object");
    std::fs::write(dir.join("lm.o"), &obj.object).unwrap();
    std::fs::write(dir.join("lm.h"), obj.header()).unwrap();
    let exe = dir.join("driver");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("aot/libm_driver.c");
    let out = Command::new(cc)
        .args(["-std=c11", "-O2", "-Wall", "-Werror", "-I"])
        .arg(&dir)
        .arg(&src)
        .arg(dir.join("lm.o"))
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
    let want = std::thread::spawn(move || want(stride));
    let out = match runner {
        Some(r) => Command::new(r)
            .args(["-cpu", "max"])
            .arg(&exe)
            .arg(stride.to_string())
            .output(),
        None => Command::new(&exe).arg(stride.to_string()).output(),
    }
    .expect("running the driver");
    assert!(
        out.status.success(),
        "driver: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
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
