//! Ahead-of-time objects against the interpreter, byte for byte.
//!
//! Each graph is compiled to an object and a header (`qcc_compiler::aot`);
//! all the objects of a batch are linked with the C driver
//! (`testsuite/aot/driver.c`) and run: natively with the system `cc` on an
//! x86-64 host, and linked statically with `aarch64-linux-gnu-gcc` and run
//! under `qemu-aarch64-static -cpu max` where those are installed (`.ci/run`
//! installs them; without them the aarch64 half is skipped with a note).
//! Inputs and outputs go through raw files; every output byte must equal
//! the interpreter's.
//!
//! The graphs: every bundled example, the ONNX test models (a batch of 4)
//! and the ONNX backend cases, and random graphs from the differential
//! generators (`qcc_testsuite::build_graph`, and QDQ graphs after the
//! default pipeline in each of the three requantize dialects). By default
//! 240 random graphs; `QCC_AOT_RANDOM=N` runs N (the full run: 1200).
//! Graphs the interpreter refuses, or that the object compiler refuses (the
//! float functions it does not carry yet: `qcc_codegen::aot`), are counted
//! and skipped; the test fails if it ran too few.

use qcc_compiler::aot::{self, AotArch, AotOptions};
use qcc_ir::op::RequantMode;
use qcc_ir::tensor::TensorData;
use qcc_ir::{Graph, Tensor};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// How one architecture's programs are built and run.
struct Toolchain {
    arch: AotArch,
    cc: &'static str,
    cflags: &'static [&'static str],
    /// The emulator, if the program does not run natively.
    runner: Option<&'static str>,
    features: Vec<String>,
}

/// The toolchains this machine has; prints a note for each missing one.
fn toolchains() -> Vec<Toolchain> {
    let mut out = Vec::new();
    if cfg!(target_arch = "x86_64") && have("cc") {
        out.push(Toolchain {
            arch: AotArch::X86_64,
            cc: "cc",
            cflags: &[],
            runner: None,
            features: vec![],
        });
    } else {
        eprintln!("note: no native x86-64 `cc`: the x86-64 objects are not run");
    }
    if have("aarch64-linux-gnu-gcc") && have("qemu-aarch64-static") {
        // The three forms of the dot tree: `sdot` (the default, dotprod),
        // `usdot` (i8mm) and the plain NEON widening multiplies.
        for features in [&[][..], &["+i8mm"], &["-dotprod"]] {
            out.push(Toolchain {
                arch: AotArch::Aarch64,
                cc: "aarch64-linux-gnu-gcc",
                cflags: &["-static"],
                runner: Some("qemu-aarch64-static"),
                features: features.iter().map(|f| f.to_string()).collect(),
            });
        }
    } else {
        eprintln!(
            "note: aarch64-linux-gnu-gcc or qemu-aarch64-static is missing \
             (apt-get install gcc-aarch64-linux-gnu qemu-user-static): the aarch64 objects are \
             not run"
        );
    }
    out
}

/// A tensor's bytes as the object reads and writes them (little-endian,
/// one element per storage unit).
fn bytes(t: &Tensor) -> Vec<u8> {
    match &t.data {
        TensorData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::I16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::U16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::I8(v) => v.iter().map(|&x| x as u8).collect(),
        TensorData::U8(v) => v.clone(),
        TensorData::I4(_) | TensorData::U4(_) => unreachable!("4-bit I/O is refused"),
    }
}

/// The object's output bytes against the interpreter's tensors: bit for bit,
/// except that any f32 NaN equals any NaN (docs/semantics.md leaves a NaN's
/// sign and payload open; aarch64's default NaN is positive, x86-64's
/// negative).
fn same_outputs(want: &[Tensor], got: &[u8]) -> bool {
    let mut at = 0;
    for t in want {
        let w = bytes(t);
        let Some(g) = got.get(at..at + w.len()) else {
            return false;
        };
        at += w.len();
        let same = match &t.data {
            TensorData::F32(_) => w.chunks_exact(4).zip(g.chunks_exact(4)).all(|(p, q)| {
                let p = f32::from_le_bytes(p.try_into().unwrap());
                let q = f32::from_le_bytes(q.try_into().unwrap());
                p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan())
            }),
            _ => w == g,
        };
        if !same {
            return false;
        }
    }
    at == got.len()
}

/// A graph to check: its name, the graph (after its passes) and inputs.
struct Case {
    what: String,
    graph: Graph,
    inputs: Vec<Tensor>,
    want: Vec<Tensor>,
}

#[derive(Default, Debug)]
struct Counts {
    checked: usize,
    interp_refused: usize,
    aot_refused: Vec<String>,
}

fn case(what: String, graph: Graph, inputs: Vec<Tensor>, counts: &mut Counts) -> Option<Case> {
    match qcc_ir::interp::run(&graph, &inputs) {
        Ok(want) => Some(Case {
            what,
            graph,
            inputs,
            want,
        }),
        Err(_) => {
            counts.interp_refused += 1;
            None
        }
    }
}

/// Compiles, links and runs `cases` on `tc`, comparing with the interpreter.
fn run_batch(tc: &Toolchain, tag: &str, cases: &[Case], counts: &mut Counts) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("aot")
        .join(format!("{tag}-{}{}", tc.arch.name(), tc.features.join("")));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut linked: Vec<(String, &Case)> = Vec::new();
    let mut inc = String::new();
    for (k, c) in cases.iter().enumerate() {
        let name = format!("m{k}");
        let options = AotOptions {
            arch: tc.arch,
            native: false,
            features: tc.features.clone(),
            name: name.clone(),
            optimize: true,
        };
        let obj = match aot::compile_object(&c.graph, &options) {
            Ok(o) => o,
            Err(e @ qcc_codegen::CodegenError::Unsupported { .. }) => {
                counts.aot_refused.push(format!("{}: {e}", c.what));
                continue;
            }
            Err(e) => panic!("{}: {e}\n{}", c.what, qcc_ir::text::print(&c.graph)),
        };
        std::fs::write(dir.join(format!("{name}.o")), &obj.object).unwrap();
        std::fs::write(dir.join(format!("{name}.h")), obj.header()).unwrap();
        let input: Vec<u8> = c.inputs.iter().flat_map(bytes).collect();
        std::fs::write(dir.join(format!("{name}.in")), input).unwrap();
        inc.push_str(&format!("#include \"{name}.h\"\n"));
        linked.push((name, c));
    }
    if linked.is_empty() {
        return;
    }
    inc.push_str("#define QCC_MODELS");
    for (n, _) in &linked {
        inc.push_str(&format!(" X({n})"));
    }
    inc.push('\n');
    std::fs::write(dir.join("models.inc"), inc).unwrap();
    let exe = dir.join("driver");
    let mut cc = Command::new(tc.cc);
    cc.args(["-std=c11", "-O1", "-Wall", "-Werror", "-I"])
        .arg(&dir)
        .arg(root().join("testsuite/aot/driver.c"))
        .args(linked.iter().map(|(n, _)| dir.join(format!("{n}.o"))))
        .args(tc.cflags)
        .arg("-lm")
        .arg("-o")
        .arg(&exe);
    let out = cc.output().expect("running the C compiler");
    assert!(
        out.status.success(),
        "{} failed:\n{}",
        tc.cc,
        String::from_utf8_lossy(&out.stderr)
    );
    let out = match tc.runner {
        Some(r) => Command::new(r)
            .args(["-cpu", "max"])
            .arg(&exe)
            .arg(&dir)
            .output(),
        None => Command::new(&exe).arg(&dir).output(),
    }
    .expect("running the driver");
    assert!(
        out.status.success(),
        "the {} driver failed ({}):\n{}",
        tc.arch.name(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for (name, c) in &linked {
        let got = std::fs::read(dir.join(format!("{name}.out"))).unwrap();
        let want: Vec<u8> = c.want.iter().flat_map(bytes).collect();
        if !same_outputs(&c.want, &got) {
            let at = got.iter().zip(&want).position(|(a, b)| a != b);
            panic!(
                "{} ({} {:?}): the object's outputs differ from the interpreter's (first \
                 differing byte: {at:?}, {} vs {} bytes)\n{}",
                c.what,
                tc.arch.name(),
                tc.features,
                got.len(),
                want.len(),
                qcc_ir::text::print(&c.graph)
            );
        }
        counts.checked += 1;
    }
}

fn portable() -> qcc_compiler::CompileOptions {
    qcc_compiler::CompileOptions {
        target: Some(qcc_compiler::LayoutTarget::Portable),
        ..Default::default()
    }
}

fn example_cases(counts: &mut Counts) -> Vec<Case> {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    // The executable cases of `testsuite/run/` too (saturating biases,
    // casts and comparisons, ...).
    let mut stack = vec![root().join("testsuite/run")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "txt") {
                files.push(p);
            }
        }
    }
    files.sort();
    for p in files {
        let g = qcc_compiler::load_file(&p).unwrap();
        for (opts, tag) in [(None, "as written"), (Some(portable()), "default pipeline")] {
            let g = match opts {
                None => g.clone(),
                Some(o) => qcc_compiler::compile(g.clone(), &o).unwrap(),
            };
            let inputs = qcc_compiler::random_inputs(&g, 1);
            let what = format!("{} ({tag})", p.display());
            out.extend(case(what, g, inputs, counts));
        }
    }
    out
}

fn onnx_cases(counts: &mut Counts) -> Vec<Case> {
    let mut out = Vec::new();
    let models = root().join("onnx/testdata/models");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&models)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    files.sort();
    for p in files {
        let file = p.file_name().unwrap().to_string_lossy().into_owned();
        let base = file.split('.').next().unwrap_or_default().to_string();
        let x = qcc_ir::npy::read(&models.join(format!("{base}.inputs.npy"))).unwrap();
        // A batch of 4.
        let per: usize = x.shape[1..].iter().product();
        let mut shape = x.shape.clone();
        shape[0] = 4;
        let data = x.data.as_f32().expect("f32 images")[..4 * per].to_vec();
        let x = Tensor::f32(shape.clone(), data);
        let model = qcc_compiler::onnx::read_model(&p).unwrap();
        let first = qcc_compiler::onnx::model_inputs(&model)[0].name.clone();
        let opts = qcc_compiler::ImportOptions::new().input_shape(first, shape);
        let g = qcc_compiler::load_onnx(&p, &Default::default(), &opts).unwrap();
        let g = qcc_compiler::compile(g, &portable()).unwrap();
        out.extend(case(p.display().to_string(), g, vec![x], counts));
    }
    // The backend node cases that import (inputs from their files).
    let backend = root().join("onnx/testdata/backend");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&backend)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.onnx").exists())
        .collect();
    dirs.sort();
    for d in dirs {
        let Ok(g) = qcc_compiler::load_onnx(
            &d.join("model.onnx"),
            &Default::default(),
            &Default::default(),
        ) else {
            continue;
        };
        let mut inputs = Vec::new();
        for (i, &v) in g.inputs().iter().enumerate() {
            match qcc_ir::npy::read_as(&d.join(format!("input_{i}.npy")), g.ty(v)) {
                Ok(t) => inputs.push(t),
                Err(_) => break,
            }
        }
        if inputs.len() != g.inputs().len() {
            continue;
        }
        out.extend(case(d.display().to_string(), g, inputs, counts));
    }
    out
}

/// A small deterministic generator of choice sequences.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 32) as u32
    }
    fn choices(&mut self, max_len: usize) -> Vec<u32> {
        let n = 8 + self.next() as usize % max_len;
        (0..n).map(|_| self.next()).collect()
    }
}

fn random_cases(n: usize, counts: &mut Counts) -> Vec<Case> {
    let mut out = Vec::new();
    let mut rng = Lcg(0x05ee_da07);
    let modes = [
        RequantMode::Float,
        RequantMode::SingleRound,
        RequantMode::DoubleRound,
    ];
    for k in 0..n {
        let (what, g) = if k % 2 == 0 {
            let c = rng.choices(400);
            let g = qcc_testsuite::build_graph(&c, Default::default());
            (format!("random graph {k}"), g)
        } else {
            let mode = modes[(k / 2) % 3];
            let c = rng.choices(40);
            let g = qcc_testsuite::gen_qdq::build_qdq_graph(&c);
            let opts = qcc_compiler::CompileOptions {
                requant: mode,
                ..portable()
            };
            let Ok(g) = qcc_compiler::compile(g, &opts) else {
                counts.interp_refused += 1;
                continue;
            };
            (format!("random QDQ graph {k} ({mode})"), g)
        };
        // 4-bit inputs and outputs are refused by the object compiler.
        let inputs = qcc_compiler::random_inputs(&g, k as u64);
        out.extend(case(what, g, inputs, counts));
    }
    out
}

fn report(what: &str, counts: &Counts) {
    eprintln!(
        "{what}: {} checked byte for byte, {} refused by the interpreter, {} refused by the \
         object compiler",
        counts.checked,
        counts.interp_refused,
        counts.aot_refused.len()
    );
    for r in counts.aot_refused.iter().take(5) {
        eprintln!("  refused: {r}");
    }
}

#[test]
fn examples_and_onnx_models_match_the_interpreter() {
    let mut counts = Counts::default();
    let mut cases = example_cases(&mut counts);
    cases.extend(onnx_cases(&mut counts));
    let tcs = toolchains();
    for tc in &tcs {
        run_batch(tc, "models", &cases, &mut counts);
    }
    report("examples and ONNX models", &counts);
    if !tcs.is_empty() {
        assert!(
            counts.checked >= 20 * tcs.len(),
            "too few models ran: {counts:?}"
        );
    }
}

#[test]
fn random_graphs_match_the_interpreter() {
    let n = std::env::var("QCC_AOT_RANDOM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(240);
    let mut counts = Counts::default();
    let cases = random_cases(n, &mut counts);
    let tcs = toolchains();
    for tc in &tcs {
        // Batches of 200 objects per program.
        for (b, chunk) in cases.chunks(200).enumerate() {
            run_batch(tc, &format!("random{b}"), chunk, &mut counts);
        }
    }
    report(&format!("{n} random graphs"), &counts);
    if !tcs.is_empty() {
        assert!(
            counts.checked * 3 >= cases.len() * tcs.len(),
            "too few random graphs ran: {counts:?}"
        );
    }
}

/// The object of a graph with matmuls (the digits MLP after the default
/// pipeline) for `arch` with `features`, disassembled by `objdump`.
fn disassembly(arch: AotArch, features: &[&str], objdump: &str) -> String {
    let g = qcc_compiler::load_file(&root().join("examples/digits_mlp.txt")).unwrap();
    let g = qcc_compiler::compile(g, &portable()).unwrap();
    let obj = aot::compile_object(
        &g,
        &AotOptions {
            arch,
            native: false,
            features: features.iter().map(|f| f.to_string()).collect(),
            name: "mlp".into(),
            optimize: true,
        },
    )
    .unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("aot-disasm");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("mlp-{}{}.o", arch.name(), features.join("")));
    std::fs::write(&path, &obj.object).unwrap();
    let out = Command::new(objdump).arg("-d").arg(&path).output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn count(asm: &str, mnemonic: &str) -> usize {
    asm.lines()
        .filter(|l| l.split_whitespace().any(|w| w == mnemonic))
        .count()
}

#[test]
fn the_dot_tree_is_one_instruction_where_the_target_has_it() {
    if have("aarch64-linux-gnu-objdump") {
        let objdump = "aarch64-linux-gnu-objdump";
        let asm = disassembly(AotArch::Aarch64, &[], objdump);
        let first: Vec<&str> = asm.lines().filter(|l| l.contains("sdot")).take(4).collect();
        eprintln!("aarch64 (default features: dotprod):\n{}", first.join("\n"));
        assert!(count(&asm, "sdot") > 0, "no sdot:\n{asm}");
        assert_eq!(count(&asm, "usdot"), 0);
        let asm = disassembly(AotArch::Aarch64, &["+i8mm"], objdump);
        assert!(count(&asm, "usdot") > 0, "no usdot with +i8mm:\n{asm}");
        let asm = disassembly(AotArch::Aarch64, &["-dotprod"], objdump);
        assert_eq!(count(&asm, "sdot") + count(&asm, "usdot"), 0);
        // The plain NEON form: widened i16 products, pairwise-added.
        assert!(count(&asm, "saddlp") > 0, "{asm}");
    } else {
        eprintln!(
            "note: aarch64-linux-gnu-objdump is missing: the aarch64 disassembly is not checked"
        );
    }
    if cfg!(target_arch = "x86_64") && have("objdump") {
        let asm = disassembly(AotArch::X86_64, &["+avx", "+avx2", "+avx_vnni"], "objdump");
        assert!(
            count(&asm, "vpdpbusd") > 0,
            "no vpdpbusd with +avx_vnni:\n{asm}"
        );
        let asm = disassembly(AotArch::X86_64, &[], "objdump");
        assert_eq!(count(&asm, "vpdpbusd"), 0);
    }
}

/// `NAME_run` from two threads at once, each with its own scratch: every
/// run gives the single-threaded result (the object has no global state).
#[test]
fn two_threads_run_one_object_at_once() {
    let Some(tc) = toolchains().into_iter().next() else {
        return;
    };
    let g = qcc_compiler::load_file(&root().join("examples/digits_cnn.txt")).unwrap();
    let g = qcc_compiler::compile(g, &portable()).unwrap();
    let obj = aot::compile_object(
        &g,
        &AotOptions {
            arch: tc.arch,
            native: false,
            features: vec![],
            name: "cnn".into(),
            optimize: true,
        },
    )
    .unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("aot-threads");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cnn.o"), &obj.object).unwrap();
    std::fs::write(dir.join("cnn.h"), obj.header()).unwrap();
    let main = r#"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cnn.h"
static float x[64] __attribute__((aligned(64)));
static unsigned char want[4096] __attribute__((aligned(64)));
static void *worker(void *arg) {
    (void)arg;
    void *scratch = aligned_alloc(64, cnn_SCRATCH_BYTES);
    void *out = aligned_alloc(64, (cnn_OUTPUT_BYTES[0] + 63) / 64 * 64);
    const void *in[] = {x};
    void *outs[] = {out};
    for (int r = 0; r < 2000; r++) {
        memset(scratch, r & 0xff, cnn_SCRATCH_BYTES);
        if (cnn_run(in, outs, scratch) != 0 || memcmp(out, want, cnn_OUTPUT_BYTES[0]) != 0)
            return (void *)1;
    }
    return NULL;
}
int main(void) {
    for (int i = 0; i < 64; i++) x[i] = (float)(i % 7) / 7.0f;
    void *scratch = aligned_alloc(64, cnn_SCRATCH_BYTES);
    const void *in[] = {x};
    void *outs[] = {want};
    if (cnn_NUM_OUTPUTS != 1 || cnn_OUTPUT_BYTES[0] > sizeof want || cnn_run(in, outs, scratch) != 0)
        return 2;
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, worker, NULL);
    int bad = 0;
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad |= r != NULL;
    }
    puts(bad ? "differ" : "same");
    return bad;
}
"#;
    std::fs::write(dir.join("main.c"), main).unwrap();
    let exe = dir.join("threads");
    let out = Command::new(tc.cc)
        .args([
            "-std=c11",
            "-O1",
            "-D_POSIX_C_SOURCE=200809L",
            "-pthread",
            "-I",
        ])
        .arg(&dir)
        .arg(dir.join("main.c"))
        .arg(dir.join("cnn.o"))
        .args(tc.cflags)
        .args(["-lm", "-o"])
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = match tc.runner {
        Some(r) => Command::new(r).args(["-cpu", "max"]).arg(&exe).output(),
        None => Command::new(&exe).output(),
    }
    .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("same"),
        "{}: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
}
