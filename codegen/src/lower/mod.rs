//! Lowering to Cranelift IR: one function per op (two for a GEMM that packs
//! its activations first), `fn(arena: *mut u8, io: *const *mut u8, t0: i64,
//! t1: i64)`: `io` lists the graph's input and output buffers, and an op
//! whose work is split into units does the units `t0..t1`.
//!
//! Every shape, stride, zero point, multiplier, shift and clamp bound is a
//! constant in the emitted code (per-channel parameters are constant tables
//! in read-only data). Loops are counted loops with constant bounds; indices
//! are i64; integer elements are computed in i64 (exact) and stored in their
//! storage width; f32 ops are one IEEE operation each, as the interpreter.
//!
//! This file: the function-building helpers ([`Fx`]: loops, loads, stores,
//! constants) and the rescale arithmetic, a mirror of `qcc_ir::quant`.

mod arg;
mod common;
mod conv;
pub(crate) mod dynamic;
mod elementwise;
mod fuse;
pub(crate) mod gemm;
mod libm;
mod logic;
mod matmul;
mod movement;
pub(crate) mod nbits;
pub(crate) mod ops;
mod pool;
mod quant;
mod softmax;

#[allow(unused_imports)]
use ops::{DepthwisePrep, DirectConvPrep, Prep};
#[allow(unused_imports)]
use {
    common::*, conv::*, elementwise::*, fuse::*, matmul::*, movement::*, pool::*, quant::*,
    softmax::*,
};

use crate::plan::{Buf, Ek};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    AbiParam, BlockArg, InstBuilder, MemFlagsData, Signature, Type, Value, types,
};
use cranelift_frontend::FunctionBuilder;
use cranelift_module::{DataDescription, DataId, Linkage, Module};
use qcc_ir::quant::{FixedMultiplier, Rescale};

pub(crate) const I64: Type = types::I64;
pub(crate) const F32: Type = types::F32;

/// What lowering one op needs besides the builder.
pub(crate) struct Fx<'a, 'b> {
    pub b: FunctionBuilder<'b>,
    pub arena: Value,
    /// The I/O table (`Loc::Io`).
    pub io: Value,
    /// The range of work units this call does (`t0..t1`).
    pub t0: Value,
    pub t1: Value,
    /// The JIT's module, or an object file's (`crate::aot`).
    pub module: &'a mut dyn Module,
    /// No Rust helper can be called (an object file, `crate::aot`): ops
    /// whose JIT lowering calls a shim helper take their generated loops,
    /// or are refused.
    pub portable: bool,
    /// The code is for aarch64 (the operand order of [`crate::shim::emit_dot4`]).
    pub aarch64: bool,
    /// Data objects created while lowering (tables, packed weights).
    pub new_data: &'a mut Vec<DataId>,
    pub data_counter: &'a mut usize,
}

pub(crate) fn flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

impl<'a, 'b> Fx<'a, 'b> {
    pub fn c(&mut self, v: i64) -> Value {
        self.b.ins().iconst(I64, v)
    }

    pub fn cf(&mut self, v: f32) -> Value {
        self.b.ins().f32const(v)
    }

    /// Read-only data (64-byte aligned) and a pointer to it, valid in the
    /// rest of the op's function.
    pub fn rodata(&mut self, bytes: Vec<u8>) -> Value {
        let id = declare_rodata(self.module, self.data_counter, bytes);
        self.new_data.push(id);
        self.data_ptr(id)
    }

    pub fn data_ptr(&mut self, id: DataId) -> Value {
        let gv = self.module.declare_data_in_func(id, self.b.func);
        self.b.ins().symbol_value(I64, gv)
    }

    /// The base pointer of a buffer (emit at the op's top level).
    pub fn base(&mut self, buf: &Buf) -> Value {
        match buf.loc {
            crate::plan::Loc::Arena(off) => self.b.ins().iadd_imm_s(self.arena, off as i64),
            crate::plan::Loc::Data(id) => self.data_ptr(id),
            crate::plan::Loc::Io(i) => {
                self.b
                    .ins()
                    .load(I64, flags().with_readonly(), self.io, (8 * i) as i32)
            }
        }
    }

    fn addr(&mut self, base: Value, idx: Value, size: usize) -> Value {
        let off = if size == 1 {
            idx
        } else {
            self.b.ins().imul_imm_s(idx, size as i64)
        };
        self.b.ins().iadd(base, off)
    }

    /// Loads element `idx` (i64) of a buffer of kind `ek`: f32 as `F32`,
    /// integers as i64 (sign- or zero-extended by the storage type).
    pub fn ld(&mut self, ek: Ek, base: Value, idx: Value) -> Value {
        let p = self.addr(base, idx, ek.size());
        let f = flags();
        match ek {
            Ek::F32 => self.b.ins().load(F32, f, p, 0),
            Ek::I32 => self.b.ins().sload32(f, p, 0),
            Ek::I16 => self.b.ins().sload16(I64, f, p, 0),
            Ek::U16 => self.b.ins().uload16(I64, f, p, 0),
            Ek::I8 => self.b.ins().sload8(I64, f, p, 0),
            Ek::U8 => self.b.ins().uload8(I64, f, p, 0),
        }
    }

    /// Stores `v` (`F32`, or an i64 that fits the storage) as element `idx`.
    pub fn st(&mut self, ek: Ek, base: Value, idx: Value, v: Value) {
        let p = self.addr(base, idx, ek.size());
        let f = flags();
        match ek {
            Ek::F32 => {
                self.b.ins().store(f, v, p, 0);
            }
            Ek::I32 => {
                self.b.ins().istore32(f, v, p, 0);
            }
            Ek::I16 | Ek::U16 => {
                self.b.ins().istore16(f, v, p, 0);
            }
            Ek::I8 | Ek::U8 => {
                self.b.ins().istore8(f, v, p, 0);
            }
        }
    }

    /// `Σ idx[i] · strides[i] + offset`, skipping zero strides.
    pub fn lin(&mut self, terms: &[(Value, i64)], offset: i64) -> Value {
        let mut acc: Option<Value> = None;
        for &(v, s) in terms {
            if s == 0 {
                continue;
            }
            let t = if s == 1 {
                v
            } else {
                self.b.ins().imul_imm_s(v, s)
            };
            acc = Some(match acc {
                None => t,
                Some(a) => self.b.ins().iadd(a, t),
            });
        }
        match acc {
            None => self.c(offset),
            Some(a) if offset == 0 => a,
            Some(a) => self.b.ins().iadd_imm_s(a, offset),
        }
    }

    /// A counted loop `for i in 0..n` (`n ≥ 1`), the body emitted by `f`.
    pub fn for_n(&mut self, n: usize, mut f: impl FnMut(&mut Self, Value)) {
        if n == 1 {
            let z = self.c(0);
            f(self, z);
            return;
        }
        let body = self.b.create_block();
        self.b.append_block_param(body, I64);
        let exit = self.b.create_block();
        let z = self.c(0);
        self.b.ins().jump(body, &[BlockArg::Value(z)]);
        self.b.switch_to_block(body);
        let i = self.b.block_params(body)[0];
        f(self, i);
        let next = self.b.ins().iadd_imm_s(i, 1);
        let more = self
            .b
            .ins()
            .icmp_imm_s(IntCC::SignedLessThan, next, n as i64);
        self.b
            .ins()
            .brif(more, body, &[BlockArg::Value(next)], exit, &[]);
        self.b.switch_to_block(exit);
    }

    /// A loop over `lo..hi` (values of the emitted code; no iteration when
    /// `hi ≤ lo`).
    pub fn for_range(&mut self, lo: Value, hi: Value, mut f: impl FnMut(&mut Self, Value)) {
        let head = self.b.create_block();
        self.b.append_block_param(head, I64);
        let body = self.b.create_block();
        let exit = self.b.create_block();
        self.b.ins().jump(head, &[BlockArg::Value(lo)]);
        self.b.switch_to_block(head);
        let i = self.b.block_params(head)[0];
        let more = self.b.ins().icmp(IntCC::SignedLessThan, i, hi);
        self.b.ins().brif(more, body, &[], exit, &[]);
        self.b.switch_to_block(body);
        f(self, i);
        let next = self.b.ins().iadd_imm_s(i, 1);
        self.b.ins().jump(head, &[BlockArg::Value(next)]);
        self.b.switch_to_block(exit);
    }

    /// `if cond { then } else { els }` (no values flow out).
    pub fn if_else(
        &mut self,
        cond: Value,
        then: impl FnOnce(&mut Self),
        els: impl FnOnce(&mut Self),
    ) {
        let (bt, be, join) = (
            self.b.create_block(),
            self.b.create_block(),
            self.b.create_block(),
        );
        self.b.ins().brif(cond, bt, &[], be, &[]);
        self.b.switch_to_block(bt);
        then(self);
        self.b.ins().jump(join, &[]);
        self.b.switch_to_block(be);
        els(self);
        self.b.ins().jump(join, &[]);
        self.b.switch_to_block(join);
    }

    /// Nested counted loops over `dims` (outermost first).
    pub fn nest(&mut self, dims: &[usize], f: &mut dyn FnMut(&mut Self, &[Value])) {
        let mut idx = Vec::with_capacity(dims.len());
        self.nest_rec(dims, &mut idx, f);
    }

    fn nest_rec(
        &mut self,
        dims: &[usize],
        idx: &mut Vec<Value>,
        f: &mut dyn FnMut(&mut Self, &[Value]),
    ) {
        match dims.split_first() {
            None => f(self, idx),
            Some((&d, rest)) => self.for_n(d, |fx, i| {
                idx.push(i);
                fx.nest_rec(rest, idx, f);
                idx.pop();
            }),
        }
    }

    pub fn var(&mut self, ty: Type, init: Value) -> cranelift_frontend::Variable {
        let v = self.b.declare_var(ty);
        self.b.def_var(v, init);
        v
    }

    pub fn clamp(&mut self, v: Value, lo: i64, hi: i64) -> Value {
        let lo = self.c(lo);
        let hi = self.c(hi);
        let v = self.b.ins().smax(v, lo);
        self.b.ins().smin(v, hi)
    }

    pub fn sat_i32(&mut self, v: Value) -> Value {
        self.clamp(v, i32::MIN as i64, i32::MAX as i64)
    }

    /// `saturate(r + zp, lo, hi)` for a rescaled `r` (any i64): `r` is first
    /// clamped to ±2^40, which changes nothing after the final saturation
    /// (`lo..=hi` lies within i32) and keeps the addition exact.
    pub fn finish_q(&mut self, r: Value, zp: Value, lo: i64, hi: i64) -> Value {
        let r = self.clamp(r, -(1 << 40), 1 << 40);
        let v = self.b.ins().iadd(r, zp);
        self.clamp(v, lo, hi)
    }

    /// `2^s` rounding etc. are done on i64 values; see [`RescaleVals`].
    pub fn rescale_const(&mut self, r: Rescale) -> RescaleVals {
        match r {
            Rescale::Float(m) => RescaleVals::Float(self.cf(m)),
            Rescale::SingleRound(fm) => {
                let (s, rnd) = single_params(fm);
                RescaleVals::Single {
                    m: self.c(fm.multiplier as i64),
                    s: self.c(s),
                    rnd: self.c(rnd),
                }
            }
            Rescale::DoubleRound(fm) => {
                let (l, r) = double_params(fm);
                RescaleVals::Double {
                    m: self.c(fm.multiplier as i64),
                    left: self.c(l),
                    right: self.c(r),
                }
            }
        }
    }

    /// A table of rescales (plus one extra i64 per entry, e.g. a zero
    /// point): returns the table pointer. Entry layout: 4 × i64
    /// `[m (f32 bits for float), a, b, extra]`.
    pub fn rescale_table(&mut self, entries: &[(Rescale, i64)]) -> Value {
        let mut bytes = Vec::with_capacity(entries.len() * 32);
        for &(r, extra) in entries {
            let (m, a, b) = match r {
                Rescale::Float(m) => (m.to_bits() as i64, 0, 0),
                Rescale::SingleRound(fm) => {
                    let (s, rnd) = single_params(fm);
                    (fm.multiplier as i64, s, rnd)
                }
                Rescale::DoubleRound(fm) => {
                    let (l, r) = double_params(fm);
                    (fm.multiplier as i64, l, r)
                }
            };
            for v in [m, a, b, extra] {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
        }
        self.rodata(bytes)
    }

    /// Entry `i` of a rescale table of `mode` (see [`Fx::rescale_table`]):
    /// the rescale and the extra value.
    pub fn rescale_entry(&mut self, kind: Rescale, table: Value, i: Value) -> (RescaleVals, Value) {
        let off = self.b.ins().imul_imm_s(i, 32);
        let p = self.b.ins().iadd(table, off);
        let f = flags();
        let extra = self.b.ins().load(I64, f, p, 24);
        let r = match kind {
            Rescale::Float(_) => RescaleVals::Float(self.b.ins().load(F32, f, p, 0)),
            Rescale::SingleRound(_) => RescaleVals::Single {
                m: self.b.ins().load(I64, f, p, 0),
                s: self.b.ins().load(I64, f, p, 8),
                rnd: self.b.ins().load(I64, f, p, 16),
            },
            Rescale::DoubleRound(_) => RescaleVals::Double {
                m: self.b.ins().load(I64, f, p, 0),
                left: self.b.ins().load(I64, f, p, 8),
                right: self.b.ins().load(I64, f, p, 16),
            },
        };
        (r, extra)
    }

    /// `Rescale::apply` on `x` (an i64 within i32), giving an i64 (not yet
    /// offset or saturated).
    pub fn apply_rescale(&mut self, r: RescaleVals, x: Value) -> Value {
        match r {
            RescaleVals::Float(m) => {
                // round_half_even(f32(x) · M), saturating to i64 (NaN → 0).
                let xf = self.b.ins().fcvt_from_sint(F32, x);
                let p = self.b.ins().fmul(xf, m);
                let r = self.b.ins().nearest(p);
                self.b.ins().fcvt_to_sint_sat(I64, r)
            }
            RescaleVals::Single { m, s, rnd } => {
                // (x·m + 2^(s−1)) >> s, exact in i64 (rnd = 0 when s = 0).
                let p = self.b.ins().imul(x, m);
                let p = self.b.ins().iadd(p, rnd);
                self.b.ins().sshr(p, s)
            }
            RescaleVals::Double { m, left, right } => {
                // Saturating left shift to i32.
                let sh = self.b.ins().ishl(x, left);
                let a = self.sat_i32(sh);
                // srdhm(a, m): m ≥ 0, so MIN·MIN cannot occur.
                let ab = self.b.ins().imul(a, m);
                let nonneg = self
                    .b
                    .ins()
                    .icmp_imm_s(IntCC::SignedGreaterThanOrEqual, ab, 0);
                let pos = self.c(1 << 30);
                let neg = self.c(1 - (1 << 30));
                let nudge = self.b.ins().select(nonneg, pos, neg);
                let v = self.b.ins().iadd(ab, nudge);
                // Division by 2^31 truncating towards zero.
                let sign = self.b.ins().sshr_imm_s(v, 63);
                let bias = self.b.ins().band_imm_s(sign, (1i64 << 31) - 1);
                let v = self.b.ins().iadd(v, bias);
                let q = self.b.ins().sshr_imm_s(v, 31);
                // rounding_divide_by_pot(q, right): ties away from zero.
                let one = self.c(1);
                let pow = self.b.ins().ishl(one, right);
                let mask = self.b.ins().iadd_imm_s(pow, -1);
                let rem = self.b.ins().band(q, mask);
                let half = self.b.ins().sshr_imm_s(mask, 1);
                let isneg = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, q, 0);
                let isneg = self.b.ins().uextend(I64, isneg);
                let thr = self.b.ins().iadd(half, isneg);
                let up = self.b.ins().icmp(IntCC::SignedGreaterThan, rem, thr);
                let up = self.b.ins().uextend(I64, up);
                let sh = self.b.ins().sshr(q, right);
                self.b.ins().iadd(sh, up)
            }
        }
    }

    /// Declares an imported function (a shim kernel or helper) for calls.
    pub fn import(&mut self, name: &str, sig: Signature) -> cranelift_codegen::ir::FuncRef {
        let id = self
            .module
            .declare_function(name, Linkage::Import, &sig)
            .expect("declaring an imported function");
        self.module.declare_func_in_func(id, self.b.func)
    }

    pub fn sig(&self, params: &[Type], returns: &[Type]) -> Signature {
        let mut s = self.module.make_signature();
        s.params.extend(params.iter().map(|&t| AbiParam::new(t)));
        s.returns.extend(returns.iter().map(|&t| AbiParam::new(t)));
        s
    }
}

/// A rescale's parameters as values of the emitted code (constants or
/// loaded from a table).
#[derive(Clone, Copy)]
pub(crate) enum RescaleVals {
    Float(Value),
    Single { m: Value, s: Value, rnd: Value },
    Double { m: Value, left: Value, right: Value },
}

/// `(s, 2^(s−1))` with `s = 31 − shift` (`rnd = 0` for `s = 0`).
fn single_params(fm: FixedMultiplier) -> (i64, i64) {
    let s = (31 - fm.shift) as i64;
    (s, (1i64 << s) >> 1)
}

/// `(left, right)` shifts of `double_round`.
fn double_params(fm: FixedMultiplier) -> (i64, i64) {
    (fm.shift.max(0) as i64, (-fm.shift).max(0) as i64)
}

/// Declares and defines a read-only, 64-byte-aligned data object.
pub(crate) fn declare_rodata(
    module: &mut dyn Module,
    counter: &mut usize,
    bytes: Vec<u8>,
) -> DataId {
    let name = format!("qcc_data_{}", *counter);
    *counter += 1;
    let id = module
        .declare_data(&name, Linkage::Local, false, false)
        .expect("declaring a data object");
    let mut desc = DataDescription::new();
    let mut bytes = bytes;
    if bytes.is_empty() {
        bytes.push(0);
    }
    desc.define(bytes.into_boxed_slice());
    desc.set_align(64);
    module
        .define_data(id, &desc)
        .expect("defining a data object");
    id
}
