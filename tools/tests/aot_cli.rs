//! `qcc compile --emit obj|header`: what a user meets: the files written,
//! the default names, and clear errors (exit code 1, nothing written) for a
//! bad `--name`, an unknown target or CPU feature, an unwritable path.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn qcc_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qcc"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("qcc runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("qcc-aot-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn mlp() -> String {
    root()
        .join("examples/digits_mlp.txt")
        .to_string_lossy()
        .into_owned()
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn objects_and_headers_are_written() {
    let dir = tmpdir("ok");
    let m = mlp();
    for target in ["x86_64", "aarch64", "host"] {
        let o = qcc_in(
            &dir,
            &[
                "compile", &m, "--emit", "obj", "--target", target, "-o", "m.o",
            ],
        );
        assert!(o.status.success(), "{target}: {}", stderr(&o));
        let bytes = std::fs::read(dir.join("m.o")).unwrap();
        assert_eq!(&bytes[..4], b"\x7fELF");
    }
    // The header: to standard output without -o, the name from the stem.
    let o = qcc_in(&dir, &["compile", &m, "--emit", "header"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let h = String::from_utf8_lossy(&o.stdout).into_owned();
    for line in [
        "#define digits_mlp_NUM_INPUTS  1",
        "#define digits_mlp_NUM_OUTPUTS 1",
        "#define digits_mlp_SCRATCH_BYTES ",
        "static const size_t digits_mlp_INPUT_BYTES[]  = { 256 };",
        "static const size_t digits_mlp_OUTPUT_BYTES[] = { 40 };",
        "int digits_mlp_run(const void *const *inputs, void *const *outputs, void *scratch);",
        "#define digits_mlp_INPUT_0_NAME \"x\"",
        "#define digits_mlp_OUTPUT_0_SHAPE { 1, 10 }",
    ] {
        assert!(h.contains(line), "missing `{line}` in:\n{h}");
    }
    // An object without -o goes to NAME.o, never to the terminal.
    let o = qcc_in(&dir, &["compile", &m, "--emit", "obj", "--name", "net"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    assert!(dir.join("net.o").exists());
    assert!(stderr(&o).contains("net.o"));
}

#[test]
fn bad_names_targets_features_and_paths_are_clear_errors() {
    let dir = tmpdir("bad");
    let m = mlp();
    let cases: &[(&[&str], &str)] = &[
        (&["--name", "9lives"], "is not a C identifier"),
        (&["--name", "int"], "is not a C identifier"),
        (&["--name", "a-b"], "is not a C identifier"),
        (
            &["--target", "aarch64", "--cpu-features", "+sve9"],
            "unknown CPU feature `sve9`",
        ),
        (
            &["--target", "x86_64", "--cpu-features", "avx2"],
            "expected +NAME or -NAME",
        ),
        (&["--target", "vnni"], "--emit obj|header takes --target"),
    ];
    for (extra, msg) in cases {
        let mut args = vec!["compile", m.as_str(), "--emit", "obj", "-o", "out.o"];
        args.extend_from_slice(extra);
        let o = qcc_in(&dir, &args);
        assert_eq!(o.status.code(), Some(1), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(msg), "{extra:?}: {}", stderr(&o));
    }
    // An unknown target is a usage error (clap lists the values).
    let o = qcc_in(&dir, &["compile", &m, "--emit", "obj", "--target", "sparc"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("aarch64"));
    // The AOT options need --emit obj|header.
    let o = qcc_in(&dir, &["compile", &m, "--target", "aarch64"]);
    assert_eq!(o.status.code(), Some(1));
    let o = qcc_in(&dir, &["compile", &m, "--name", "x"]);
    assert_eq!(o.status.code(), Some(1));
    // An unwritable path: an error, and nothing left behind.
    let o = qcc_in(
        &dir,
        &["compile", &m, "--emit", "obj", "-o", "no/such/dir/m.o"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot write"), "{}", stderr(&o));
    // A graph the object cannot carry (4-bit I/O): named, nothing written.
    std::fs::write(
        dir.join("i4.txt"),
        "graph @g(%x: tensor<4xi4>) -> (%y: tensor<4xi4>) {\n  %r = reshape %x : tensor<4xi4>\n  return %r\n}\n",
    )
    .unwrap();
    let o = qcc_in(&dir, &["compile", "i4.txt", "--emit", "obj", "-o", "i4.o"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("`%x` (input)"), "{}", stderr(&o));
    assert!(stderr(&o).contains("4-bit"), "{}", stderr(&o));
    assert_eq!(files(&dir), ["i4.txt"], "nothing else was written");
}
