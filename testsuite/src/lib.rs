//! Shared helpers for qcc's file-driven, differential and conformance tests.

#![forbid(unsafe_code)]

/// Random well-typed graphs (`gen.rs`; `gen` is a reserved word in Rust 2024,
/// hence `r#gen`: use the re-exports below).
pub mod r#gen;

pub use r#gen::{GenConfig, arb_graph, arb_graph_with, build_graph};

/// Random QDQ graphs (dequantize → float op → quantize) for the passes.
pub mod gen_qdq;

/// The checks behind the fuzz targets and their regression tests.
pub mod fuzz;

/// The value of a `// key: value` line in the leading comment block of a
/// test file (the header of the file-driven cases).
pub fn header<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .take_while(|l| l.starts_with("//"))
        .find_map(|l| {
            l.strip_prefix("//")?
                .trim()
                .strip_prefix(key)?
                .strip_prefix(':')
        })
        .map(str::trim)
}
