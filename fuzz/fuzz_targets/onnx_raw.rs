//! Fuzz target `onnx_raw`: see `qcc_testsuite::fuzz::onnx_bytes` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    qcc_testsuite::fuzz::onnx_bytes(data);
});
