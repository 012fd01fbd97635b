//! Fuzz target `npy`: see `qcc_testsuite::fuzz::npy` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    qcc_testsuite::fuzz::npy(data);
});
