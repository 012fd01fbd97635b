//! Compiled models (the JIT backend). Not written yet: see the issue
//! "Cranelift JIT: specialized int8 kernels, the VNNI/NEON shim, and the
//! embedding API".
