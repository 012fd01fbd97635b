//! qcc's code generator (Cranelift lowering, the dot-product shim, the JIT
//! owner). Not written yet: see the issue "Cranelift JIT: specialized int8
//! kernels, the VNNI/NEON shim, and the embedding API". This is the only crate
//! that will contain `unsafe`.

/// The backends that exist today.
pub const AVAILABLE: &[&str] = &[];
