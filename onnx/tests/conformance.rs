//! The conformance runner of testsuite/, built here too so that it runs with `cargo test -p qcc-onnx`.
#[path = "../../testsuite/tests/onnx_conformance.rs"]
mod onnx_conformance;
#[path = "../../testsuite/tests/onnx_models.rs"]
mod onnx_models;
