//! Tidy checks over the op table (`qcc_ir::op::SCHEMA`): every declared op
//! is handled by each stage and exercised by at least one file-driven test.
//!
//! The stage dispatchers are exhaustive `match`es, so a new variant of `Op`
//! without an arm does not compile; these checks catch what the compiler
//! does not: an op reaching a stage only through a wildcard arm, and an op no
//! test file ever writes.

use qcc_ir::op::{OpKind, SCHEMA};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The text of every `.rs` file under `dir`, excluding `tests` folders.
fn sources(dir: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "tests") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push_str(&std::fs::read_to_string(&p).unwrap());
                out.push('\n');
            }
        }
    }
    out
}

/// All text-graph files under `dir` (recursively).
fn graph_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            graph_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "txt") {
            out.push(p);
        }
    }
}

fn variant(kind: OpKind) -> String {
    format!("Op::{kind:?}")
}

fn mentions(src: &str, kind: OpKind) -> bool {
    let v = variant(kind);
    src.match_indices(&v).any(|(i, _)| {
        // `Op::Conv2d` must not count as a mention of `Op::Conv2dInt`.
        !src[i + v.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

#[test]
fn every_op_has_an_interpreter_arm_a_verifier_rule_and_a_lowering() {
    let root = repo();
    let stages = [
        ("interpreter", sources(&root.join("ir/src/interp"))),
        ("verifier", sources(&root.join("ir/src/verify"))),
        ("code generator", sources(&root.join("codegen/src/lower"))),
    ];
    let mut missing = Vec::new();
    for s in SCHEMA {
        for (stage, src) in &stages {
            if !mentions(src, s.kind) {
                missing.push(format!(
                    "{} ({}): no arm in the {stage}",
                    s.name,
                    variant(s.kind)
                ));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn every_op_is_written_by_a_file_driven_test() {
    let root = repo();
    let mut files = Vec::new();
    for dir in ["testsuite", "examples"] {
        graph_files(&root.join(dir), &mut files);
    }
    let texts: Vec<String> = files
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect();
    let mut missing = Vec::new();
    for s in SCHEMA
        .iter()
        .filter(|s| !matches!(s.kind, OpKind::Input | OpKind::Const))
    {
        let written = format!("= {} ", s.name);
        if !texts.iter().any(|t| t.contains(&written)) {
            missing.push(s.name);
        }
    }
    assert!(
        missing.is_empty(),
        "ops no file under testsuite/ or examples/ writes: {}",
        missing.join(", ")
    );
}

#[test]
fn the_checks_can_fail() {
    assert!(!mentions("Op::Conv2dInt(a)", OpKind::Conv2d));
    assert!(mentions("Op::Conv2d(a)", OpKind::Conv2d));
}
