//! The library API that host applications embed: load a graph, verify it,
//! run the pipeline, execute it.

#![forbid(unsafe_code)]
