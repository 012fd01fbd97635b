//! # qcc's typed graph IR
//!
//! A qcc program is a [`Graph`]: named inputs, named outputs, and ops over SSA
//! values. Every value has a static [`TensorType`] whose element type is a
//! plain scalar (`f32`, `i32`, `i16`, `i8`, `u8`, `i4`, `u4`) or a quantized
//! type ([`QuantType`]) carrying the affine map `real = scale · (q − zero_point)`
//! per tensor or per axis. The set of ops is closed ([`Op`]); each op's typing
//! rule lives in [`verify`] and its meaning in [`interp`], the reference
//! interpreter, which is the executable specification written out in
//! `docs/semantics.md`. All rounding and rescaling arithmetic is in [`quant`],
//! derived once and shared by the interpreter and (mirrored) by code generation.
//!
//! Flow: text ([`text::parse`]) → [`Graph`] → [`verify::verify`] → passes /
//! code generation, or [`interp::run`]. [`text::print`] writes a graph back as
//! text; `parse(print(g)) == g` and printing is a fixed point.
//!
//! Architecture invariants: this crate knows nothing of e-graphs or Cranelift;
//! it contains no `unsafe`; nothing here panics on bad input — every problem
//! in text, types or run-time inputs is a [`Diagnostic`] or a typed error.

#![forbid(unsafe_code)]

pub mod diag;
pub mod dot;
pub mod elementwise;
pub mod graph;
pub mod interp;
pub mod layout;
pub mod limits;
pub mod nbits;
pub mod npy;
pub mod op;
pub mod quant;
pub mod signature;
pub mod slicing;
pub mod target;
pub mod tensor;
pub mod text;
pub mod types;
pub mod verify;
pub mod weights;
pub mod window;

pub use diag::{Diagnostic, Span};
pub use graph::{Graph, Node, Output, TypeAlias, ValueId};
pub use limits::Limits;
pub use op::{ConstData, Conv2dAttrs, F32Attr, IntAttrs, Op, Pool2dAttrs, RequantMode};
pub use tensor::{Tensor, TensorData};
pub use types::{ElemType, Layout, QuantType, ScalarType, TensorType};
