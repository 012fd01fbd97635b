//! The `qcc` command as users and scripts meet it: exit codes, messages,
//! files written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn qcc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qcc"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("qcc runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("qcc-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const GOOD: &str = "\
!q = !quant.uniform<u8:f32, 0.5:10>
graph @g(%x: tensor<2x3xf32>) -> (%codes: tensor<2x3x!q>, %back: tensor<2x3xf32>) {
  %c = quantize %x : tensor<2x3x!q>
  %d = dequantize %c : tensor<2x3xf32>
  return %c, %d
}
";

#[test]
fn help_and_usage_errors() {
    let o = qcc(&["--help"]);
    assert!(o.status.success());
    for cmd in ["compile", "run", "check", "fmt"] {
        assert!(stdout(&o).contains(cmd), "--help lists {cmd}");
    }
    let o = qcc(&["run", "--help"]);
    assert!(stdout(&o).contains("--random-inputs") && stdout(&o).contains("--output-dir"));
    // Usage errors exit with 2.
    assert_eq!(qcc(&[]).status.code(), Some(2));
    assert_eq!(qcc(&["run"]).status.code(), Some(2));
    assert_eq!(qcc(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn every_error_case_exits_1_with_a_diagnostic() {
    let dir = root().join("testsuite/errors");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "txt") {
            continue;
        }
        n += 1;
        for cmd in ["check", "compile", "fmt"] {
            let o = qcc(&[cmd, p.to_str().unwrap()]);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(1), "{cmd} {}: {err}", p.display());
            assert!(err.starts_with("error: "), "{cmd} {}: {err}", p.display());
            assert!(!err.contains("panicked"), "{cmd} {}: {err}", p.display());
        }
    }
    assert!(n >= 25, "only {n} error cases");
}

#[test]
fn unreadable_files_are_errors() {
    let o = qcc(&["check", "no/such/graph.txt"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot read `no/such/graph.txt`"),
        "{}",
        stderr(&o)
    );
    let d = tmpdir("binary");
    let p = d.join("bin.txt");
    std::fs::write(&p, [0xff, 0xfe, 0x00, 0x41]).unwrap();
    let o = qcc(&["check", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not UTF-8"), "{}", stderr(&o));
}

#[test]
fn run_writes_outputs_and_prints_summaries() {
    let d = tmpdir("run");
    let g = d.join("g.txt");
    std::fs::write(&g, GOOD).unwrap();
    let x = d.join("x.npy");
    let t = qcc_ir::Tensor::f32(vec![2, 3], vec![-10.0, 0.0, 0.25, 0.75, 1.0, 200.0]);
    qcc_ir::npy::write(&x, &t).unwrap();
    let out = d.join("out");
    let o = qcc(&[
        "run",
        g.to_str().unwrap(),
        "--input",
        &format!("x={}", x.display()),
        "--output-dir",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    // -10/0.5 = -20 + 10 → saturates at 0; 0.25/0.5 = 0.5 → 0 (even) + 10;
    // 0.75/0.5 = 1.5 → 2 + 10; 200/0.5 + 10 saturates at 255.
    assert!(s.contains("codes   [0, 10, 10, 12, 12, 255]"), "{s}");
    assert!(s.contains("argmax  1, 2"), "{s}");
    let codes = qcc_ir::npy::read(&out.join("codes.npy")).unwrap();
    assert_eq!(codes.data.to_i64s().unwrap(), vec![0, 10, 10, 12, 12, 255]);
    let back = qcc_ir::npy::read(&out.join("back.npy")).unwrap();
    assert_eq!(
        back.data.as_f32().unwrap(),
        &[-5.0, 0.0, 0.0, 1.0, 1.0, 122.5]
    );
}

#[test]
fn run_input_errors_exit_1() {
    let d = tmpdir("inputs");
    let g = d.join("g.txt");
    std::fs::write(&g, GOOD).unwrap();
    let gs = g.to_str().unwrap();
    let wrong_shape = d.join("shape.npy");
    qcc_ir::npy::write(&wrong_shape, &qcc_ir::Tensor::f32(vec![3, 2], vec![0.0; 6])).unwrap();
    let wrong_dtype = d.join("dtype.npy");
    let i8s = qcc_ir::TensorData::from_i64s(qcc_ir::ScalarType::I8, &[0; 6]).unwrap();
    qcc_ir::npy::write(&wrong_dtype, &qcc_ir::Tensor::new(vec![2, 3], i8s)).unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![], "missing inputs: `x`"),
        (
            vec!["--input".into(), format!("x={}", wrong_shape.display())],
            "has shape [3, 2]",
        ),
        (
            vec!["--input".into(), format!("x={}", wrong_dtype.display())],
            "holds i8",
        ),
        (
            vec!["--input".into(), "y=whatever.npy".into()],
            "the graph has no input `y`",
        ),
        (vec!["--input".into(), "x".into()], "expected NAME=FILE.npy"),
        (
            vec![
                "--input".into(),
                format!("x={}", d.join("nope.npy").display()),
            ],
            "cannot read",
        ),
    ];
    for (extra, want) in cases {
        let mut args = vec!["run", gs];
        args.extend(extra.iter().map(String::as_str));
        let o = qcc(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn random_inputs_are_deterministic() {
    let d = tmpdir("random");
    let g = d.join("g.txt");
    std::fs::write(&g, GOOD).unwrap();
    let a = qcc(&["run", g.to_str().unwrap(), "--random-inputs", "5"]);
    let b = qcc(&["run", g.to_str().unwrap(), "--random-inputs", "5"]);
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(stdout(&a), stdout(&b));
    let c = qcc(&["run", g.to_str().unwrap(), "--random-inputs", "6"]);
    assert_ne!(stdout(&a), stdout(&c));
}

#[test]
fn fmt_and_compile_print_canonical_text() {
    let d = tmpdir("fmt");
    let g = d.join("g.txt");
    std::fs::write(&g, GOOD).unwrap();
    let o = qcc(&["fmt", g.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let canon = d.join("canon.txt");
    std::fs::write(&canon, stdout(&o)).unwrap();
    let o2 = qcc(&["fmt", "--check", canon.to_str().unwrap()]);
    assert!(o2.status.success(), "{}", stderr(&o2));
    let out = d.join("compiled.txt");
    let o3 = qcc(&["compile", g.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(o3.status.success(), "{}", stderr(&o3));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), stdout(&o));
    let o4 = qcc(&["check", g.to_str().unwrap()]);
    assert!(
        stdout(&o4).contains("ok (graph @g: 1 inputs, 2 outputs, 2 ops)"),
        "{}",
        stdout(&o4)
    );
}

#[test]
fn resource_limits_can_be_raised() {
    let case = "testsuite/errors/tensor_too_large.txt";
    let o = qcc(&["check", case]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("more than the limit of 268435456"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("--max-tensor-elements N"),
        "{}",
        stderr(&o)
    );
    // Checking a graph allocates nothing for its inputs: with the limit
    // raised, the 2^40-element signature verifies.
    let o = qcc(&["check", case, "--max-tensor-elements", "2000000000000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = qcc(&["check", "examples/digits_cnn.txt", "--max-nodes", "10"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("more than the limit of 10"),
        "{}",
        stderr(&o)
    );
    let o = qcc(&[
        "check",
        "examples/digits_cnn.txt",
        "--max-constant-bytes",
        "100",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--max-constant-bytes N"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn compile_pass_flags() {
    let g = "examples/digits_mlp.txt";
    let o = qcc(&[
        "compile",
        g,
        "--passes",
        "lower-qdq,fuse-requant",
        "--stats",
        "--time-passes",
        "--print-after-all",
        "--requant",
        "single_round",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(
        out.contains("matmul_int") && out.contains("{mode = single_round}"),
        "{out}"
    );
    assert!(!out.contains("dense %"), "{out}");
    assert!(
        err.contains("// ----- after lower-qdq -----")
            && err.contains("// ----- after fuse-requant -----"),
        "{err}"
    );
    assert!(
        err.contains("stop: saturated: 1") && err.contains("rule lower-dense: 2"),
        "{err}"
    );
    assert!(err.contains("time:") && err.contains("total"), "{err}");
    assert!(
        err.contains("remark: lower-qdq: `%p` (softmax): stays in float"),
        "{err}"
    );
    // An unknown pass is an error naming the valid ones.
    let o = qcc(&["compile", g, "--passes", "lower-qdqq"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("unknown pass `lower-qdqq`"),
        "{}",
        stderr(&o)
    );
    // `run --passes none` executes the graph as written; the default
    // pipeline gives the same class on this digit.
    let x = "x=examples/digits/digit_7_81.npy";
    let a = qcc(&["run", g, "--input", x, "--passes", "none"]);
    let b = qcc(&["run", g, "--input", x]);
    assert!(
        a.status.success() && b.status.success(),
        "{}{}",
        stderr(&a),
        stderr(&b)
    );
    let argmax = |s: &str| s.lines().find(|l| l.contains("argmax")).map(str::to_string);
    assert_eq!(argmax(&stdout(&a)), argmax(&stdout(&b)));
    assert!(
        argmax(&stdout(&a)).is_some_and(|l| l.contains('7')),
        "{}",
        stdout(&a)
    );
}

#[test]
fn packed_output_checks_and_runs() {
    // `--target` fixes the layouts; the packed constants go to .npy files
    // beside the output (one dimension: the packed data), and `qcc check`
    // and `qcc run` (JIT on every path, and the interpreter) take the file
    // and compute what the original computes.
    let d = tmpdir("packed");
    let x = "x=examples/digits/cnn_digit_7_81.npy";
    for (model, input) in [
        (
            "examples/digits_mlp.txt",
            "x=examples/digits/digit_7_81.npy",
        ),
        ("examples/digits_cnn.txt", x),
    ] {
        let want = qcc(&[
            "run",
            model,
            "--input",
            input,
            "--passes",
            "none",
            "--backend",
            "interp",
        ]);
        assert!(want.status.success(), "{}", stderr(&want));
        for target in ["vnni", "amx", "portable"] {
            let out = d.join(format!("{target}.txt"));
            let o = qcc(&[
                "compile",
                model,
                "--target",
                target,
                "-o",
                out.to_str().unwrap(),
            ]);
            assert!(o.status.success(), "{}", stderr(&o));
            let text = std::fs::read_to_string(&out).unwrap();
            assert_eq!(text.contains(", #k4n64"), target != "portable", "{text}");
            if model.contains("cnn") {
                assert_eq!(
                    text.contains(", #hwc_k4n64"),
                    target != "portable",
                    "{text}"
                );
            }
            let c = qcc(&["check", out.to_str().unwrap()]);
            assert!(c.status.success(), "{}", stderr(&c));
            let run = |extra: &[&str]| {
                let mut args = vec![
                    "run",
                    out.to_str().unwrap(),
                    "--input",
                    input,
                    "--passes",
                    "none",
                ];
                args.extend_from_slice(extra);
                let r = qcc(&args);
                assert!(r.status.success(), "{target} {extra:?}: {}", stderr(&r));
                stdout(&r)
            };
            let interp = run(&["--backend", "interp"]);
            assert!(interp.contains("argmax"), "{interp}");
            for path in ["scalar", "clif128"] {
                assert_eq!(
                    run(&["--dot-path", path]),
                    interp,
                    "{model} {target} {path}"
                );
            }
            assert_eq!(run(&[]), interp, "{model} {target} host path");
        }
        // The same top class as the original graph.
        let first = |s: &str| s.lines().find(|l| l.contains("argmax")).map(str::to_string);
        let o = qcc(&[
            "run",
            d.join("vnni.txt").to_str().unwrap(),
            "--input",
            input,
            "--passes",
            "none",
        ]);
        assert_eq!(first(&stdout(&o)), first(&stdout(&want)));
    }
    // A packed .npy holds the packed data in one dimension.
    let files: Vec<_> = std::fs::read_dir(d.join("vnni_data")).unwrap().collect();
    assert!(!files.is_empty());
    let bad = qcc(&["compile", "examples/digits_mlp.txt", "--target", "risc"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}

#[test]
fn compiled_output_loads_from_another_folder() {
    // The input's constants live in .npy files beside it; the output is
    // written elsewhere, with its constants beside it.
    let d = tmpdir("outdir");
    let out = d.join("mlp_int.txt");
    let o = qcc(&[
        "compile",
        "examples/digits_mlp.txt",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("dense_file<\"mlp_int_data/"), "{text}");
    let x = "x=examples/digits/digit_7_81.npy";
    let a = qcc(&[
        "run",
        out.to_str().unwrap(),
        "--input",
        x,
        "--passes",
        "none",
    ]);
    assert!(a.status.success(), "{}", stderr(&a));
    let b = qcc(&["run", "examples/digits_mlp.txt", "--input", x]);
    assert_eq!(stdout(&a), stdout(&b));
    assert!(stdout(&a).contains("argmax  7"), "{}", stdout(&a));
}

#[test]
fn onnx_models_import_check_and_run() {
    let model = "onnx/testdata/models/cnn.qop_u8.onnx";
    // The batch dimension is symbolic: it must be bound.
    let o = qcc(&["check", model]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("bind it (`--dim N=<size>`)"),
        "{}",
        stderr(&o)
    );
    let o = qcc(&["check", model, "--dim", "N=2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Every operator is one qcc imports; without the batch bound the
    // import itself stops, and the report says where.
    let o = qcc(&["import", "--report-unsupported", model, "--dim", "N=2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("every operator of its"),
        "{}",
        stdout(&o)
    );
    let o = qcc(&["import", "--report-unsupported", model]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("the import stops at"), "{}", stdout(&o));
    assert_eq!(
        qcc(&["check", model, "--dim", "N=x"]).status.code(),
        Some(1)
    );
    // Import to text, with the weights beside it, then run the text.
    let d = tmpdir("import");
    let out = d.join("cnn.txt");
    let o = qcc(&["import", model, "--dim", "N=1", "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .contains("dense_file<\"cnn_data/")
    );
    let a = qcc(&["run", out.to_str().unwrap(), "--random-inputs", "3"]);
    let b = qcc(&["run", model, "--dim", "N=1", "--random-inputs", "3"]);
    assert!(
        a.status.success() && b.status.success(),
        "{}{}",
        stderr(&a),
        stderr(&b)
    );
    assert_eq!(stdout(&a), stdout(&b));
    // `run` binds the batch from the input file's shape.
    let o = qcc(&[
        "run",
        "onnx/testdata/models/mlp.qdq_u8.onnx",
        "--input",
        "x=onnx/testdata/models/mlp.inputs.npy",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("tensor<360x10xf32>"), "{}", stdout(&o));
    // Dynamic quantization: scales and zero points computed at run time.
    let o = qcc(&[
        "run",
        "onnx/testdata/models/mlp.dyn.onnx",
        "--input",
        "x=onnx/testdata/models/mlp.inputs.npy",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("tensor<360x10xf32>"), "{}", stdout(&o));
    // Unsupported models are refused with the node, the op and the reason
    // (a QOperator op whose scale is a graph input).
    let o = qcc(&[
        "check",
        "onnx/testdata/backend/test_qlinearmatmul_2D_uint8_float32/model.onnx",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("(QLinearMatMul): input `a_scale` (scale) must be a constant"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn jit_and_interpreter_agree_and_bench_reports() {
    for ex in [
        "examples/digits_cnn.txt",
        "examples/residual.txt",
        "examples/digits_mlp_per_channel.txt",
    ] {
        let jit = qcc(&["run", ex, "--random-inputs", "4"]);
        let interp = qcc(&["run", ex, "--random-inputs", "4", "--backend", "interp"]);
        assert!(jit.status.success(), "{}", stderr(&jit));
        assert_eq!(stdout(&jit), stdout(&interp), "{ex}");
        let scalar = qcc(&["run", ex, "--random-inputs", "4", "--dot-path", "scalar"]);
        assert_eq!(stdout(&scalar), stdout(&interp), "{ex}");
    }
    let o = qcc(&[
        "run",
        "examples/digits_mlp.txt",
        "--random-inputs",
        "1",
        "--dot-path",
        "nope",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("unknown dot-product path `nope`"),
        "{}",
        stderr(&o)
    );
    let o = qcc(&[
        "bench",
        "examples/digits_cnn.txt",
        "--runs",
        "20",
        "--warmup",
        "2",
        "--threads",
        "2",
        "--concurrent",
        "2",
        "--interp",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for want in [
        "compile",
        "latency      median",
        "1 thread     median",
        "runs/s",
        "GOPS",
        "2 threads",
        "2 at once",
        "interpreter",
    ] {
        assert!(stdout(&o).contains(want), "{want}: {}", stdout(&o));
    }
    let o = qcc(&[
        "bench",
        "examples/digits_mlp.txt",
        "--runs",
        "10",
        "--json",
        "--peak-gops",
        "885",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = stdout(&o);
    for key in [
        "\"compile_ns\": ",
        "\"median_ns\": ",
        "\"min_ns\": ",
        "\"max_ns\": ",
        "\"gops\": ",
        "\"peak_share\": 0.",
    ] {
        assert!(j.contains(key), "{key}: {j}");
    }
    let o = qcc(&[
        "compile",
        "testsuite/passes/default_mlp.txt",
        "--emit",
        "clif",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("// ---- value") || stdout(&o).contains("// ---- `%"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("function"), "{}", stdout(&o));
}

/// Whether Graphviz's `dot` runs here (`.ci/run` installs it).
fn have_graphviz() -> bool {
    Command::new("dot")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn emit_dot_of_every_example_renders_with_graphviz() {
    let mut examples: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 4, "{examples:?}");
    let graphviz = have_graphviz();
    if !graphviz {
        eprintln!("skipped rendering: Graphviz `dot` is not installed (apt-get install graphviz)");
    }
    let dir = tmpdir("dot");
    for ex in &examples {
        let ex = ex.to_str().unwrap();
        let o = qcc(&["compile", ex, "--emit", "dot"]);
        assert!(o.status.success(), "{ex}: {}", stderr(&o));
        let text = stdout(&o);
        assert!(text.starts_with("digraph "), "{ex}: {text}");
        // Every op of the compiled graph is drawn; constants are not nodes.
        assert!(!text.contains("label=\"%w"), "{ex}: {text}");
        if graphviz {
            let f = dir.join("g.dot");
            std::fs::write(&f, &text).unwrap();
            let r = Command::new("dot").arg("-Tsvg").arg(&f).output().unwrap();
            assert!(r.status.success(), "{ex}: dot: {}", stderr(&r));
            assert!(stdout(&r).contains("<svg"), "{ex}");
        }
    }
}

#[test]
fn emit_dot_snapshot_of_the_digits_classifier() {
    // Row-major weights and the portable path: the same text on every host.
    let o = qcc(&[
        "compile",
        "examples/digits_cnn.txt",
        "--target",
        "portable",
        "--emit",
        "dot",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    insta::assert_snapshot!(stdout(&o));
}

#[test]
fn emit_dot_after_all_writes_one_picture_per_pass() {
    let dir = tmpdir("dot-after-all");
    let out = dir.join("g.dot");
    let o = qcc(&[
        "compile",
        "examples/digits_mlp.txt",
        "--emit",
        "dot",
        "--print-after-all",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.contains(&"g.dot".to_string()), "{names:?}");
    assert!(names.contains(&"g.00-input.dot".to_string()), "{names:?}");
    assert!(
        names.iter().any(|n| n.ends_with("-lower-qdq.dot")),
        "{names:?}"
    );
    let lowered = names
        .iter()
        .find(|n| n.ends_with("-lower-qdq.dot"))
        .unwrap();
    let text = std::fs::read_to_string(dir.join(lowered)).unwrap();
    assert!(text.contains("(after lower-qdq)"), "{text}");
    // The input picture still has the float dense the passes lower.
    let input = std::fs::read_to_string(dir.join("g.00-input.dot")).unwrap();
    assert_ne!(input, text);
}

#[test]
fn emit_svg_without_graphviz_fails_and_writes_nothing() {
    let dir = tmpdir("svg-missing");
    let out = dir.join("g.svg");
    let o = Command::new(env!("CARGO_BIN_EXE_qcc"))
        .args(["compile", "examples/digits_mlp.txt", "--emit", "svg", "-o"])
        .arg(&out)
        .env("QCC_DOT", dir.join("no-such-dot"))
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("needs Graphviz"), "{}", stderr(&o));
    assert!(!out.exists());
    if have_graphviz() {
        let o = qcc(&["compile", "examples/digits_mlp.txt", "--emit", "svg"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("<svg"));
    }
}

#[test]
fn peak_measures_the_host_and_refuses_bad_arguments() {
    let o = qcc(&["peak", "--json", "--seconds", "0.01", "--repeats", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = stdout(&o);
    assert!(j.starts_with('{') && j.contains("\"best_path\""), "{j}");
    // Every probe the host has gives a positive figure.
    if cfg!(target_arch = "x86_64") && std::arch::is_x86_feature_detected!("avx2") {
        assert!(j.contains("\"probe\": \"avx2\""), "{j}");
        assert!(!j.contains("\"median\": 0.0,"), "{j}");
    }
    for bad in [
        &["peak", "--seconds", "0"][..],
        &["peak", "--threads", "0"],
        &["peak", "--probe", "sse9"],
    ] {
        let o = qcc(bad);
        assert_eq!(o.status.code(), Some(1), "{bad:?}");
        assert!(stderr(&o).contains("error"), "{bad:?}: {}", stderr(&o));
    }
}
