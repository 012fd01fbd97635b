//! Fuzz target `onnx_mutate`: see `qcc_testsuite::fuzz::onnx_mutate` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    qcc_testsuite::fuzz::onnx_mutate(data);
});
