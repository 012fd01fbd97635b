//! Fuzz target `parse_verify`: see `qcc_testsuite::fuzz::text` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    qcc_testsuite::fuzz::text(data);
});
