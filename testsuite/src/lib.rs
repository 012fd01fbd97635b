//! Shared helpers for qcc's file-driven, differential and conformance tests.

#![forbid(unsafe_code)]
