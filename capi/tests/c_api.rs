//! The C API from C: `include/qcc.h` against `src/lib.rs`, and a C program
//! (`tests/c/capi_test.c`, built with the system `cc` and linked with the
//! `libqcc_capi.so` cargo built for this test) that runs models from two
//! threads and takes every error path.
//!
//! - `header_declares_what_the_library_exports`: every `extern "C"` function
//!   of the crate is declared in the header with the same parameter and
//!   result types (and the header declares no other), every `QCC_*`
//!   constant has the same value on both sides.
//! - `tensor_info_has_the_same_layout_in_c`: `sizeof` / `offsetof` of
//!   `qcc_tensor_info`, printed by the C program, against the Rust struct.
//! - `c_runs_models_like_the_interpreter`: text graphs and ONNX models
//!   (path and memory buffer, two threads at once) give, byte for byte,
//!   what the interpreter computes on the graph `qcc run` compiles, and
//!   report the inputs' and outputs' names, types, shapes and
//!   quantization as the graph has them.
//! - `c_error_paths_are_error_codes`: NULL pointers, wrong counts and
//!   sizes, bad option values, bad models with their `file:line:column`.

use qcc_compiler::{CompileOptions, ImportOptions, LoadOptions};
use qcc_ir::{ElemType, Graph, Tensor, TensorData};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The folder with the `libqcc_capi.so` that cargo built for this test:
/// this test's `deps/` (`target/<profile>/` holds a copy only after
/// `cargo build`, and it may be older).
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let deps = exe.parent().expect("deps/");
    for dir in [deps, deps.parent().expect("target/<profile>/")] {
        if dir.join("libqcc_capi.so").exists() {
            return dir.to_path_buf();
        }
    }
    panic!("libqcc_capi.so not found beside {}", exe.display());
}

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("qcc-capi-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The C program, built once (`None`, with a note, where there is no `cc`).
fn program() -> Option<&'static Path> {
    static PROGRAM: OnceLock<Option<PathBuf>> = OnceLock::new();
    PROGRAM
        .get_or_init(|| {
            if !Command::new("cc")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
            {
                eprintln!("note: no system `cc`: the C program is not built or run");
                return None;
            }
            let out = scratch("build").join("capi_test");
            let lib = lib_dir();
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
            let status = Command::new("cc")
                .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1"])
                .arg("-I")
                .arg(manifest.join("include"))
                .arg(manifest.join("tests/c/capi_test.c"))
                .arg("-L")
                .arg(&lib)
                .arg(format!("-Wl,-rpath,{}", lib.display()))
                .args(["-lqcc_capi", "-lpthread", "-o"])
                .arg(&out)
                .status()
                .expect("cc runs");
            assert!(status.success(), "cc failed on tests/c/capi_test.c");
            Some(out)
        })
        .as_deref()
}

/// Runs the C program; its stdout, or a panic with its stderr.
fn c(args: &[&str]) -> String {
    // Cargo's LD_LIBRARY_PATH may list an older uplifted copy of the
    // library first: the program's rpath names the one built for this test.
    let out = Command::new(program().expect("built"))
        .env_remove("LD_LIBRARY_PATH")
        .args(args)
        .output()
        .expect("the C program runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.ends_with("ok\n"),
        "capi_test {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

// ---- The header against the code ----------------------------------------

/// The C spelling of a Rust type of the API.
fn c_type(rust: &str) -> String {
    let rust = rust.trim();
    if let Some(rest) = rust.strip_prefix("*const ") {
        return pointer_to(&c_type(rest), true);
    }
    if let Some(rest) = rust.strip_prefix("*mut ") {
        return pointer_to(&c_type(rest), false);
    }
    match rust {
        "c_int" => "int",
        "c_char" => "char",
        "c_void" => "void",
        "usize" => "size_t",
        "i32" => "int32_t",
        "i64" => "int64_t",
        "f32" => "float",
        "" | "()" => "void",
        "QccModel" => "qcc_model",
        "QccOptions" => "qcc_options",
        "QccTensorInfo" => "qcc_tensor_info",
        other => panic!("no C spelling for Rust type `{other}`"),
    }
    .to_string()
}

/// `T *` or `const T *` (C puts `const` before a pointee that is not a
/// pointer, and after the `*` of one that is).
fn pointer_to(pointee: &str, constant: bool) -> String {
    match (constant, pointee.ends_with('*')) {
        (false, _) => format!("{pointee} *"),
        (true, false) => format!("const {pointee} *"),
        (true, true) => format!("{pointee}const *"),
    }
}

/// Spaces normalized: `const char *`, `void *const *`.
fn normalize(c: &str) -> String {
    let mut s = c.split_whitespace().collect::<Vec<_>>().join(" ");
    s = s.replace(" *", "*").replace('*', " *");
    s = s.replace("* ", "*").replace("*const", "*const ");
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

type Signature = (String, Vec<String>);

/// The `extern "C"` functions of `src/lib.rs`: result and parameter types.
fn rust_functions(src: &str) -> BTreeMap<String, Signature> {
    let mut out = BTreeMap::new();
    for chunk in src.split("#[unsafe(no_mangle)]").skip(1) {
        let sig = &chunk[..chunk.find('{').expect("a body")];
        let name_at = sig.find("fn ").expect("fn") + 3;
        let open = sig.find('(').unwrap();
        let close = sig.rfind(')').unwrap();
        let name = sig[name_at..open].trim().to_string();
        let params = sig[open + 1..close]
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| normalize(&c_type(p.split_once(':').expect("name: type").1)))
            .collect();
        let ret = sig[close + 1..].trim().trim_start_matches("->").trim();
        out.insert(name, (normalize(&c_type(ret)), params));
    }
    out
}

/// The function prototypes of the header.
fn c_functions(header: &str) -> BTreeMap<String, Signature> {
    // Comments and preprocessor lines out, then one declaration per `;`.
    let mut text = String::new();
    let mut rest = header;
    while let Some(i) = rest.find("/*") {
        text.push_str(&rest[..i]);
        rest = &rest[i + rest[i..].find("*/").expect("closed comment") + 2..];
    }
    text.push_str(rest);
    let text: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeMap::new();
    for decl in text.split(';') {
        let decl = decl.trim();
        if !decl.starts_with("int ")
            && !decl.starts_with("void ")
            && !decl.starts_with("const char *")
        {
            continue;
        }
        let open = decl.find('(').unwrap();
        let head = &decl[..open];
        let name_at = head
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap()
            + 1;
        let params: Vec<String> = decl[open + 1..decl.rfind(')').unwrap()]
            .split(',')
            .map(str::trim)
            .filter(|p| *p != "void" && !p.is_empty())
            .map(|p| {
                // Drop the parameter's name.
                let cut = p
                    .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap()
                    + 1;
                normalize(&p[..cut])
            })
            .collect();
        out.insert(
            head[name_at..].to_string(),
            (normalize(&head[..name_at]), params),
        );
    }
    out
}

/// `QCC_*` constants: `pub const NAME: T = V;` and `#define NAME V`.
fn constants(text: &str, rust: bool) -> BTreeMap<String, i64> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let (name, value) = if rust {
                let rest = l.strip_prefix("pub const QCC_")?;
                let (name, v) = rest.split_once(':')?;
                (name, v.split_once('=')?.1.trim().trim_end_matches(';'))
            } else {
                let rest = l.strip_prefix("#define QCC_")?;
                let mut parts = rest.split_whitespace();
                (parts.next()?, parts.next()?)
            };
            Some((format!("QCC_{name}"), value.parse().ok()?))
        })
        .collect()
}

#[test]
fn header_declares_what_the_library_exports() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(manifest.join("src/lib.rs")).unwrap();
    let header = std::fs::read_to_string(manifest.join("include/qcc.h")).unwrap();
    let (rust, c) = (rust_functions(&src), c_functions(&header));
    assert!(rust.len() >= 20, "found only {rust:?}");
    assert_eq!(
        rust.keys().collect::<Vec<_>>(),
        c.keys().collect::<Vec<_>>(),
        "the functions of src/lib.rs and include/qcc.h"
    );
    for (name, sig) in &rust {
        assert_eq!(
            sig, &c[name],
            "`{name}`: Rust (left) and the header (right)"
        );
    }
    let (rust_consts, c_consts) = (constants(&src, true), constants(&header, false));
    assert!(rust_consts.len() >= 20, "{rust_consts:?}");
    assert_eq!(
        rust_consts, c_consts,
        "QCC_* constants: Rust (left), header (right)"
    );
    // The constants the test read are the crate's.
    assert_eq!(
        rust_consts["QCC_ERR_PANIC"],
        i64::from(qcc_capi::QCC_ERR_PANIC)
    );
    assert_eq!(
        rust_consts["QCC_DTYPE_U4"],
        i64::from(qcc_capi::QCC_DTYPE_U4)
    );
}

/// The signature reader itself, on a declaration that must not match.
#[test]
fn a_changed_signature_is_noticed() {
    let rust = rust_functions(
        "#[unsafe(no_mangle)]\npub unsafe extern \"C\" fn qcc_f(a: *const *mut c_void, n: usize) -> c_int {",
    );
    let c =
        c_functions("int qcc_f(void *const *a, size_t n);\nint qcc_g(const void **a, size_t n);");
    assert_eq!(rust["qcc_f"], c["qcc_f"]);
    assert_ne!(rust["qcc_f"].1, c["qcc_g"].1);
}

#[test]
fn tensor_info_has_the_same_layout_in_c() {
    if program().is_none() {
        return;
    }
    use qcc_capi::QccTensorInfo as T;
    use std::mem::offset_of;
    let want = [
        ("size", size_of::<T>()),
        ("name", offset_of!(T, name)),
        ("dtype", offset_of!(T, dtype)),
        ("quant", offset_of!(T, quant)),
        ("rank", offset_of!(T, rank)),
        ("shape", offset_of!(T, shape)),
        ("num_elements", offset_of!(T, num_elements)),
        ("num_bytes", offset_of!(T, num_bytes)),
        ("min_value", offset_of!(T, min_value)),
        ("max_value", offset_of!(T, max_value)),
        ("axis", offset_of!(T, axis)),
        ("num_scales", offset_of!(T, num_scales)),
        ("scales", offset_of!(T, scales)),
        ("zero_points", offset_of!(T, zero_points)),
    ];
    let mut expected: String = want.iter().map(|(f, n)| format!("{f} {n}\n")).collect();
    expected.push_str("ok\n");
    assert_eq!(c(&["layout"]), expected);
}

// ---- Running models -------------------------------------------------------

/// The bytes of a tensor as a C buffer holds them (4-bit values one per
/// byte).
fn c_bytes(t: &Tensor) -> Vec<u8> {
    match &t.data {
        TensorData::F32(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
        TensorData::I32(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
        TensorData::I16(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
        TensorData::U16(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
        TensorData::I8(v) => v.iter().map(|&x| x as u8).collect(),
        TensorData::U8(v) => v.clone(),
        d => d.to_i64s().unwrap().into_iter().map(|x| x as u8).collect(),
    }
}

fn elem_bytes(t: qcc_ir::ScalarType) -> usize {
    use qcc_ir::ScalarType::*;
    match t {
        F32 | I32 => 4,
        I16 | U16 => 2,
        I8 | U8 | I4 | U4 => 1,
    }
}

/// What the C program prints for a tensor (`print_info`).
fn info_line(kind: &str, i: usize, name: &str, ty: &qcc_ir::TensorType) -> String {
    let (storage, quant) = match &ty.elem {
        ElemType::Scalar(s) => (*s, None),
        ElemType::Quant(q) => (q.storage, Some(q)),
    };
    let bytes = ty.shape.iter().product::<usize>() * elem_bytes(storage);
    let (lo, hi) = ty.elem.int_range().unwrap_or((0, 0));
    let shape: Vec<String> = ty.shape.iter().map(|d| d.to_string()).collect();
    let mut s = format!(
        "{kind} {i} {name} {} [{}] bytes={bytes} range={lo}..{hi}",
        storage.name(),
        shape.join(",")
    );
    match quant {
        Some(q) if q.axis.is_none() => {
            s += &format!(
                " scale={:08x} zp={}",
                q.scales[0].to_bits(),
                q.zero_points[0]
            );
        }
        Some(q) => {
            s += &format!(
                " axis={} scales={} last={:08x} zp_last={}",
                q.axis.unwrap(),
                q.scales.len(),
                q.scales.last().unwrap().to_bits(),
                q.zero_points.last().unwrap()
            );
        }
        None => {}
    }
    s
}

/// Runs `model` through the C program with `dims` and checks it against
/// the interpreter on the graph `qcc run` compiles.
fn check_model(model: &Path, dims: &[(&str, usize)]) {
    let name = model.file_name().unwrap().to_string_lossy().into_owned();
    let mut onnx = ImportOptions::default();
    for (n, v) in dims {
        onnx.dims.insert(n.to_string(), *v);
    }
    let graph = qcc_compiler::load_model(model, &LoadOptions::default(), &onnx)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let graph: Graph = qcc_compiler::compile(graph, &CompileOptions::default()).unwrap();
    let inputs = qcc_compiler::random_inputs(&graph, 7);
    let want = qcc_compiler::run(&graph, &inputs, qcc_compiler::Backend::Interp).unwrap();
    let dir = scratch(&name);
    for (i, t) in inputs.iter().enumerate() {
        std::fs::write(dir.join(format!("in{i}.bin")), c_bytes(t)).unwrap();
    }
    let mut args = vec![
        "run".to_string(),
        model.display().to_string(),
        dir.display().to_string(),
        dir.display().to_string(),
    ];
    args.extend(dims.iter().map(|(n, v)| format!("{n}={v}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let stdout = c(&args);
    let mut expected: Vec<String> = graph
        .inputs()
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            info_line(
                "input",
                i,
                graph.node(v).name.as_deref().unwrap(),
                graph.ty(v),
            )
        })
        .collect();
    for (i, o) in graph.outputs().iter().enumerate() {
        expected.push(info_line("output", i, &o.name, graph.ty(o.value)));
    }
    let printed: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("input ") || l.starts_with("output "))
        .collect();
    assert_eq!(printed, expected, "{name}: the tensors as C sees them");
    for (i, t) in want.iter().enumerate() {
        let got = std::fs::read(dir.join(format!("out{i}.bin"))).unwrap();
        assert!(
            got == c_bytes(t),
            "{name}: output {i} from C differs from the interpreter's"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn c_runs_models_like_the_interpreter() {
    if program().is_none() {
        return;
    }
    let models = root().join("onnx/testdata/models");
    // Text graphs: a per-channel QDQ MLP and a CNN with .npy weights beside it.
    check_model(&root().join("examples/digits_mlp_per_channel.txt"), &[]);
    check_model(&root().join("examples/digits_cnn.txt"), &[]);
    // ONNX: QDQ u8, per-channel i8 QOperator, dynamic quantization; the
    // batch is a symbolic dimension set with a dim.
    check_model(&models.join("mlp.qdq_u8.onnx"), &[("N", 3)]);
    check_model(&models.join("cnn.qop_i8_pc.onnx"), &[("N", 2)]);
    check_model(&models.join("res.dyn.onnx"), &[("N", 1)]);
}

#[test]
fn c_error_paths_are_error_codes() {
    if program().is_none() {
        return;
    }
    let dir = scratch("errors");
    let good = dir.join("good.txt");
    std::fs::write(
        &good,
        "graph @good(%x: tensor<4x!quant.uniform<u8<1:255>:f32, 0.5:128>>) \
         -> (%y: tensor<4x!quant.uniform<u8<1:255>:f32, 0.25:128>>) {\n\
         \x20 %d = dequantize %x : tensor<4xf32>\n\
         \x20 %y = quantize %d : tensor<4x!quant.uniform<u8<1:255>:f32, 0.25:128>>\n\
         \x20 return %y\n}\n",
    )
    .unwrap();
    let bad = dir.join("bad.txt");
    std::fs::write(
        &bad,
        "graph @bad(%x: tensor<4xf32>) -> (%y: tensor<4xf32>) {\n  return %z\n}\n",
    )
    .unwrap();
    c(&["errors", good.to_str().unwrap(), bad.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
}
