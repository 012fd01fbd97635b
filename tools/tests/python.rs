//! The Python module's tests (`python/tests`, pytest) as part of `cargo
//! test`: they compare `qcc.compile(...).run(...)` with this `qcc` binary on
//! every example and ONNX model. They need the module installed (`pip
//! install ./python`, which `.ci/run` does); without it this test says so
//! and passes.

use std::path::Path;
use std::process::Command;

#[test]
fn python_module_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let importable = Command::new("python3")
        .args(["-c", "import qcc"])
        // Not the source folder `python/qcc` (it has no extension in it).
        .current_dir(std::env::temp_dir())
        .output()
        .is_ok_and(|o| o.status.success());
    if !importable {
        println!("skipped: qcc Python module not installed (pip install ./python)");
        return;
    }
    let out = Command::new("python3")
        .args([
            "-m",
            "pytest",
            "python/tests",
            "-q",
            "-p",
            "no:cacheprovider",
        ])
        .env("QCC_BIN", env!("CARGO_BIN_EXE_qcc"))
        .current_dir(&root)
        .output()
        .expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "python/tests failed:\n{text}");
}
