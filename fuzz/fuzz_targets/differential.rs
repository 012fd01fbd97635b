//! Fuzz target `differential`: see `qcc_testsuite::fuzz::differential` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    qcc_testsuite::fuzz::differential(data);
});
