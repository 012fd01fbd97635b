//! The lowering of each op: a direct transcription of its rule in
//! `docs/semantics.md` (and of `qcc_ir::interp`) into loops whose bounds,
//! strides and quantization parameters are constants.

use super::gemm::{self, ConvShape, GemmPrep};
#[allow(unused_imports)]
use super::*;
use super::{Fx, I64};
use crate::CodegenError;
use crate::plan::Buf;
use crate::shim::DotPath;
use cranelift_codegen::ir::InstBuilder;
use cranelift_codegen::ir::condcodes::FloatCC;
use qcc_ir::op::{Op, Pool2dAttrs};
use qcc_ir::types::{ScalarType, TensorType};
use qcc_ir::{Graph, ValueId};

/// Compile-time decisions for one op, made before memory is planned.
#[derive(Debug)]
pub(crate) enum Prep {
    Plain,
    Gemm(Box<GemmPrep>),
    /// A requantize whose work the GEMM before it does (nothing to emit).
    Fused,
    /// A requantize that may call the AVX-512 helper (`qcc_requant_f32`).
    VecRequant,
    /// A depthwise `conv2d_int` on the AVX-512 helper
    /// (`qcc_depthwise`).
    Depthwise(Box<DepthwisePrep>),
    /// A stride-1 `conv2d_int` with its requantize fused, on the direct
    /// AMX kernel (`qcc_conv_amx_*`).
    DirectConv(Box<DirectConvPrep>),
    /// `dense_nbits` on `qcc_dense_nbits`, its weights kept packed.
    Nbits(Box<super::nbits::NbitsPrep>),
    /// `matmul_int_dyn` / `conv2d_int_dyn` on the int8 kernels.
    Dyn(Box<super::dynamic::DynPrep>),
    /// `exp`, `sigmoid`, `tanh`, `log` or `softmax` on the vector kernels of
    /// `shim::elementwise::vmath` at `width` (a `Width` code), an elementwise op in
    /// `units` ranges of [`VMATH_UNIT`] elements.
    VecMath {
        width: u8,
        units: usize,
    },
}

/// The elements of one work unit of a [`Prep::VecMath`] elementwise op.
pub(crate) const VMATH_UNIT: usize = 1 << 14;
/// The fewest elements for which such an op is split into units.
const VMATH_SPLIT: usize = 1 << 16;

/// Everything decided at compile time for the direct AMX convolution.
#[derive(Clone, Debug)]
#[cfg(target_arch = "x86_64")]
pub(crate) struct DirectConvPrep {
    pub geo: crate::shim::ConvGeometry,
    /// `op` rows (output channels) of `kp` weight bytes, k = (tap, channel).
    pub wpack: Vec<u8>,
    pub fp: crate::shim::FusedParams,
    pub mode: crate::shim::FusedMode,
    pub fused_into: ValueId,
    /// Pixel chunks per image (work units: images × chunks).
    pub chunks: usize,
}

/// (No direct convolution off x86-64.)
#[derive(Clone, Debug)]
#[cfg(not(target_arch = "x86_64"))]
pub(crate) struct DirectConvPrep;

/// Everything decided at compile time for a depthwise convolution.
#[derive(Clone, Debug)]
pub(crate) struct DepthwisePrep {
    pub geo: crate::shim::DepthwiseGeometry,
    /// Weights per channel and kernel row in groups of 4 taps.
    pub w4: Vec<i32>,
    /// `−ua · Σ w` per channel.
    pub colc: Vec<i32>,
    /// A bound on `|Σ (u − ua) · w|` per channel.
    pub colbound: Vec<i64>,
    /// The requantize fused into the kernel's store.
    pub fused: Option<crate::shim::FusedParams>,
    /// The requantize (or clamp) whose result the fused op writes.
    pub fused_into: Option<ValueId>,
    /// Whether the path fuses requantizes into its kernels (AVX512-VNNI
    /// and AMX, as for GEMMs) and the host has the fused depthwise kernel.
    pub may_fuse: bool,
    /// Work units: ranges of the `n · c` planes, split between threads
    /// (each unit has its own padded-plane scratch).
    pub units: usize,
}

impl DepthwisePrep {
    /// Splits the planes into units for `threads` threads when the
    /// convolution is large enough to gain from it.
    pub fn plan_units(&mut self, threads: usize) {
        const MIN_OUT: usize = 1 << 17;
        let g = &self.geo;
        let planes = g.n * g.c;
        let work = planes * g.oh * g.ow * g.kh * g.kw;
        if threads > 1 && work >= MIN_OUT {
            self.units = (2 * threads).min(planes).max(1);
        }
    }
}

impl Prep {
    /// Functions the op compiles to (none for a fused requantize).
    pub fn phases(&self) -> usize {
        match self {
            Prep::Fused => 0,
            Prep::Gemm(g) => g.phases(),
            Prep::Plain
            | Prep::VecRequant
            | Prep::Depthwise(_)
            | Prep::Nbits(_)
            | Prep::VecMath { .. } => 1,
            Prep::DirectConv(_) => 2,
            Prep::Dyn(d) => d.phases(),
        }
    }

    /// Work units of `phase` (split between threads when several).
    pub fn units(&self, phase: usize) -> usize {
        match self {
            Prep::Gemm(g) => g.units(phase),
            Prep::Nbits(p) => p.units,
            #[cfg(target_arch = "x86_64")]
            Prep::DirectConv(d) if phase == 1 => d.geo.n * d.chunks,
            Prep::Depthwise(d) => d.units,
            Prep::Dyn(d) => d.units(phase),
            Prep::VecMath { units, .. } => *units,
            _ => 1,
        }
    }

    pub fn temps(&self) -> Vec<usize> {
        match self {
            Prep::Plain
            | Prep::Fused
            | Prep::VecRequant
            | Prep::Nbits(_)
            | Prep::VecMath { .. } => vec![],
            Prep::Depthwise(d) => vec![d.geo.scratch() * d.units],
            #[cfg(target_arch = "x86_64")]
            Prep::DirectConv(d) => vec![d.geo.n * d.geo.image_bytes()],
            #[cfg(not(target_arch = "x86_64"))]
            Prep::DirectConv(_) => vec![],
            Prep::Gemm(g) => g.temps().to_vec(),
            Prep::Dyn(d) => d.temps(),
        }
    }
}

/// Decides how an op is lowered (only `matmul_int` / `conv2d_int` have a
/// choice: the GEMM path when the weights are constant 8-bit-or-narrower
/// values that fit i8, the activations 8-bit or narrower, and the path is
/// not the scalar fallback).
pub(crate) fn prepare(graph: &Graph, v: ValueId, path: DotPath) -> Prep {
    if let Some(p) = super::nbits::prepare(graph, v, path) {
        return Prep::Nbits(Box::new(p));
    }
    if let Some(p) = vmath(graph, v, path) {
        return p;
    }
    if path == DotPath::Scalar {
        return Prep::Plain;
    }
    if let Some(d) = super::dynamic::prepare(graph, v, path) {
        return Prep::Dyn(Box::new(d));
    }
    let node = graph.node(v);
    let args = graph.args(v);
    if let Op::Conv2dInt(a, int) = &node.op
        && a.groups > 1
    {
        return depthwise(graph, v, path, a, int).unwrap_or(Prep::Plain);
    }
    let (is_conv, attrs, int) = match &node.op {
        // Row sums as an operand: not constant weights, the generic loop.
        Op::MatMulInt(_) if args.len() > 3 => return Prep::Plain,
        Op::MatMulInt(int) => (false, None, *int),
        Op::Conv2dInt(a, int) if a.groups == 1 => (true, Some(a), *int),
        Op::Requantize { .. } if crate::shim::has_vector_helpers() => {
            return Prep::VecRequant;
        }
        _ => return Prep::Plain,
    };
    let (xt, wt) = (graph.ty(args[0]), graph.ty(args[1]));
    let Some(wc) = graph.node(args[1]).op.as_const() else {
        return Prep::Plain;
    };
    let x_ok = matches!(
        xt.elem.storage(),
        ScalarType::U8 | ScalarType::U4 | ScalarType::I8 | ScalarType::I4
    );
    let w_ok = matches!(
        wt.elem.storage(),
        ScalarType::I8 | ScalarType::I4 | ScalarType::U4
    );
    if !x_ok || !w_ok || xt.elem.as_quant().is_some_and(|q| q.is_per_axis()) {
        return Prep::Plain;
    }
    if wc.data.as_f32().is_some() {
        return Prep::Plain;
    }
    let pre = match &*wc.data {
        qcc_ir::TensorData::I8(_) if wt.layout.is_packed() => Some((&wc.data, wt.layout.k_align())),
        _ => None,
    };
    // The GEMM's rows, reduction and columns.
    let (gm, gk, gn) = if is_conv {
        let o = wt.shape[0];
        (
            numel(&node.ty.shape) / o.max(1),
            numel(&wt.shape) / o.max(1),
            o,
        )
    } else {
        (
            numel(&xt.shape) / wt.shape[0].max(1),
            wt.shape[0],
            wt.shape[1],
        )
    };
    let prepacked = pre
        .is_some_and(|(d, a)| a > 1 && super::gemm::takes_prepacked(path, gm, gk, gn, a, d.len()));
    // The weights as bytes in logical order (i8 data borrowed; 4-bit
    // values fit in i8), not as a vector of i64 eight times their size;
    // not needed when the GEMM takes packed weights (`pick-layout`) as
    // they are.
    let wv: std::borrow::Cow<[i8]> = match &*wc.data {
        _ if prepacked => std::borrow::Cow::Borrowed(&[]),
        qcc_ir::TensorData::I8(v) if !wt.layout.is_packed() => std::borrow::Cow::Borrowed(v),
        _ => match &*wc.logical(wt) {
            qcc_ir::TensorData::I8(v) => std::borrow::Cow::Owned(v.clone()),
            d => match d.to_i64s() {
                Some(v) => std::borrow::Cow::Owned(v.into_iter().map(|x| x as i8).collect()),
                None => return Prep::Plain,
            },
        },
    };
    let pre = pre.filter(|_| prepacked);
    let Some(range) = node.ty.elem.int_range() else {
        return Prep::Plain;
    };
    let zx = xt.elem.as_quant().map_or(0, |q| q.zero_points[0]);
    let signed_x = xt.elem.storage().is_signed();
    let channels = if is_conv { wt.shape[0] } else { wt.shape[1] };
    let zw: Vec<i64> = match wt.elem.as_quant() {
        None => vec![0; channels],
        Some(q) => (0..channels).map(|c| q.zero_point(c)).collect(),
    };
    if !is_conv {
        let (k, n) = (wt.shape[0], wt.shape[1]);
        let m = numel(&xt.shape) / k;
        let g = GemmPrep::new(
            path,
            m,
            k,
            n,
            signed_x,
            zx,
            int.zx_in_bias,
            zw,
            |kk, col| wv[kk * n + col] as i64,
            pre.filter(|_| !wt.layout.is_conv()),
            None,
            range,
        );
        Prep::Gemm(Box::new(g))
    } else {
        let attrs = attrs.expect("conv attrs");
        let shape = ConvShape::of(&xt.shape, &wt.shape, &node.ty.shape, attrs).expect("rank 4");
        let (n, c, kh, kw, o, oh, ow) = (
            shape.n, shape.c, shape.kh, shape.kw, shape.o, shape.oh, shape.ow,
        );
        let k = c * kh * kw;
        let g = GemmPrep::new(
            path,
            n * oh * ow,
            k,
            o,
            signed_x,
            zx,
            int.zx_in_bias,
            zw,
            // Packed in the im2col order `kk = (ky·kw + kx)·c + ci` (see
            // `shim::qcc_im2col`); the weights are `[o][c][kh][kw]`.
            |kk, col| wv[col * k + (kk % c) * kh * kw + kk / c] as i64,
            pre.filter(|_| wt.layout.is_conv()),
            Some(shape),
            range,
        );
        Prep::Gemm(Box::new(g))
    }
}

/// The vector kernels of `shim::elementwise::vmath` for an `exp`, `sigmoid`, `tanh`,
/// `log` or `softmax` on a path that runs vector kernels
/// (`DotPath::uses_kernels`); the other paths keep the calls of the
/// crate's scalar functions, so the run cases compare both with the
/// interpreter.
fn vmath(graph: &Graph, v: ValueId, path: DotPath) -> Option<Prep> {
    // The `shim::elementwise::vmath::Width` codes: zmm, ymm.
    let width = match path {
        DotPath::Amx | DotPath::Avx512Vnni => 2,
        DotPath::AvxVnni | DotPath::Avx2 => 1,
        DotPath::Clif128 | DotPath::Scalar => return None,
    };
    let node = graph.node(v);
    let n = numel(&node.ty.shape);
    match &node.op {
        Op::Softmax { .. } => Some(Prep::VecMath { width, units: 1 }),
        op if qcc_ir::elementwise::Unary::of(op).is_some_and(|u| {
            use qcc_ir::elementwise::UnaryFn as U;
            matches!(u.f, U::Exp | U::Sigmoid | U::Tanh | U::Log)
        }) =>
        {
            let units = if n >= VMATH_SPLIT {
                n.div_ceil(VMATH_UNIT)
            } else {
                1
            };
            Some(Prep::VecMath { width, units })
        }
        _ => None,
    }
}

/// Lowers one op (not an input or constant).
pub(crate) fn lower(
    fx: &mut Fx,
    graph: &Graph,
    v: ValueId,
    bufs: &dyn Fn(ValueId) -> Buf,
    prep: &Prep,
    temps: &[usize],
    phase: usize,
) -> Result<(), CodegenError> {
    let node = graph.node(v);
    let args = graph.args(v);
    let out_ty = &node.ty;
    let out = bufs(v);
    let a: Vec<Buf> = args.iter().map(|&a| bufs(a)).collect();
    let at: Vec<&TensorType> = args.iter().map(|&a| graph.ty(a)).collect();
    let e = |r: String| err(graph, v, r);
    if matches!(prep, Prep::Fused) {
        return Ok(());
    }
    let out = match prep {
        #[cfg(target_arch = "x86_64")]
        Prep::DirectConv(d) => bufs(d.fused_into),
        Prep::Gemm(g) if g.fused.is_some() => bufs(g.fused_into.expect("fused value")),
        Prep::Depthwise(d) if d.fused.is_some() => bufs(d.fused_into.expect("fused value")),
        _ => out,
    };
    match &node.op {
        Op::Input(_) | Op::Const(_) => Ok(()),
        Op::MatMulInt(int) => match prep {
            Prep::Gemm(g) => {
                gemm::emit(fx, g, &a[0], a.get(2), &out, temps, phase, None);
                Ok(())
            }
            _ => matmul_int(fx, &a, &at, &out, out_ty, int).map_err(e),
        },
        Op::Conv2dInt(attrs, int) => match prep {
            #[cfg(target_arch = "x86_64")]
            Prep::DirectConv(d) => {
                direct_conv_emit(fx, d, &a[0], &out, temps, phase);
                Ok(())
            }
            Prep::Depthwise(d) => {
                super::conv::depthwise_emit(fx, d, &a[0], a.get(2), &out, temps, None);
                Ok(())
            }
            Prep::Gemm(g) => {
                gemm::emit(fx, g, &a[0], a.get(2), &out, temps, phase, None);
                Ok(())
            }
            _ => conv(fx, &a, &at, &out, out_ty, attrs, Some(int)).map_err(e),
        },
        Op::Conv2d(attrs) => conv(fx, &a, &at, &out, out_ty, attrs, None).map_err(e),
        Op::RowSums => row_sums(fx, &a[0], at[0], &out).map_err(e),
        Op::Lookup => {
            // The table is the op's second operand: 256 bytes.
            let tb = fx.base(&a[1]);
            call_channel_helper(fx, "qcc_lut8", &a[0], &out, &at[0].shape, None, tb);
            Ok(())
        }
        Op::MatMul => matmul_f32(fx, &a, &at, &out, out_ty),
        Op::Dense => dense(fx, &a, &at, &out),
        Op::DenseNbits | Op::DenseNbitsQ8 => match prep {
            Prep::Nbits(p) => super::nbits::emit(fx, p, &a[0], a.get(2), &out).map_err(e),
            _ => Err(e(
                "the weights must be a constant quantized in blocks".into()
            )),
        },
        Op::Add | Op::Mul | Op::Sub if !out_ty.elem.is_f32() => {
            super::logic::int_arith(fx, &a, &at, &out, out_ty, &node.op);
            Ok(())
        }
        Op::Cast => {
            super::logic::cast(fx, &a[0], &out, numel(&out_ty.shape));
            Ok(())
        }
        Op::Equal | Op::Less | Op::Greater => {
            super::logic::compare(fx, &a, &at, &out, out_ty, &node.op);
            Ok(())
        }
        Op::Where => {
            super::logic::select(fx, &a, &at, &out, out_ty);
            Ok(())
        }
        Op::Add | Op::Mul
            if !fx.portable && at[0].shape == out_ty.shape && at[1].shape == out_ty.shape =>
        {
            // Same shapes: the helper (one f32 operation per element).
            let (ab, bb, ob) = (fx.base(&a[0]), fx.base(&a[1]), fx.base(&out));
            let n = fx.c(numel(&out_ty.shape) as i64);
            let mul = fx.c(matches!(node.op, Op::Mul) as i64);
            let sig = fx.sig(&[I64; 5], &[]);
            let f = fx.import("qcc_binary_f32", sig);
            fx.b.ins().call(f, &[ab, bb, n, mul, ob]);
            Ok(())
        }
        Op::Add | Op::Mul
            if !fx.portable && binary_code(fx, &a, &at, &out, out_ty, &node.op).is_ok() =>
        {
            // Broadcast: the helper on each contiguous innermost run.
            Ok(())
        }
        Op::Add | Op::Mul => {
            let is_add = matches!(node.op, Op::Add);
            binary(fx, &a, &at, &out, out_ty, &mut |fx, x, y| {
                if is_add {
                    fx.b.ins().fadd(x, y)
                } else {
                    fx.b.ins().fmul(x, y)
                }
            });
            Ok(())
        }
        Op::Sub | Op::Div | Op::Pow | Op::Max | Op::Min => {
            binary_code(fx, &a, &at, &out, out_ty, &node.op).map_err(e)
        }
        Op::Neg
        | Op::Abs
        | Op::Sqrt
        | Op::Reciprocal
        | Op::Exp
        | Op::Log
        | Op::Floor
        | Op::Ceil
        | Op::Round
        | Op::Erf
        | Op::Tanh
        | Op::Sigmoid
        | Op::HardSigmoid { .. }
        | Op::HardSwish
        | Op::LeakyRelu { .. }
        | Op::Gelu => {
            let vec = match prep {
                Prep::VecMath { width, units } => Some((*width, *units)),
                _ => None,
            };
            unary_code(fx, &a[0], &out, out_ty, &node.op, vec).map_err(e)
        }
        Op::Relu if fx.portable => {
            // `maximum(x, +0.0)`: Cranelift's `fmax` is IEEE `maximum`; a
            // NaN operand is returned as it is (the interpreter's NaN).
            unary(fx, &a[0], &out, numel(&out_ty.shape), &mut |fx, x| {
                let z = fx.cf(0.0);
                let m = fx.b.ins().fmax(x, z);
                let nan = fx.b.ins().fcmp(FloatCC::Unordered, x, x);
                fx.b.ins().select(nan, x, m)
            });
            Ok(())
        }
        Op::Relu => {
            let (xb, ob) = (fx.base(&a[0]), fx.base(&out));
            let n = fx.c(numel(&out_ty.shape) as i64);
            let sig = fx.sig(&[I64; 3], &[]);
            let f = fx.import("qcc_relu_f32", sig);
            fx.b.ins().call(f, &[xb, n, ob]);
            Ok(())
        }
        Op::Clamp { min, max } => {
            let (lo, hi) = (min.0, max.0);
            unary(fx, &a[0], &out, numel(&out_ty.shape), &mut |fx, x| {
                let l = fx.cf(lo);
                let h = fx.cf(hi);
                let y = fx.b.ins().fmax(x, l);
                fx.b.ins().fmin(y, h)
            });
            Ok(())
        }
        Op::ClampInt { min, max } => {
            let (lo, hi) = (*min, *max);
            unary(fx, &a[0], &out, numel(&out_ty.shape), &mut |fx, x| {
                fx.clamp(x, lo, hi)
            });
            Ok(())
        }
        Op::Softmax { axis } => {
            let width = match prep {
                Prep::VecMath { width, .. } => *width,
                _ => 0,
            };
            softmax(fx, &a[0], &out, &out_ty.shape, *axis, width);
            Ok(())
        }
        Op::ReduceMean { axes }
        | Op::ReduceSum { axes }
        | Op::ReduceMax { axes }
        | Op::ReduceMin { axes }
        | Op::ReduceProd { axes } => {
            let kind = match &node.op {
                Op::ReduceMean { .. } => 0,
                Op::ReduceSum { .. } => 1,
                Op::ReduceMax { .. } => 2,
                Op::ReduceMin { .. } => 3,
                _ => 4,
            };
            super::softmax::reduce(fx, &a[0], &out, &at[0].shape, axes, kind);
            Ok(())
        }
        Op::MaxPool2d(attrs) => {
            pool(fx, &a[0], at[0], &out, out_ty, attrs, PoolKind::Max).map_err(e)
        }
        Op::AvgPool2d(attrs) => {
            pool(fx, &a[0], at[0], &out, out_ty, attrs, PoolKind::Avg).map_err(e)
        }
        Op::GlobalAvgPool { mode } => {
            let s = &at[0].shape;
            let attrs = Pool2dAttrs {
                mode: *mode,
                ..Pool2dAttrs::new([s[2], s[3]])
            };
            pool(fx, &a[0], at[0], &out, out_ty, &attrs, PoolKind::Avg).map_err(e)
        }
        Op::Reshape | Op::Flatten { .. } if a[0].ek == out.ek => {
            // The same bytes in the same order: one contiguous copy (a
            // `memcpy` from 64 bytes on).
            let n = [numel(&out_ty.shape)];
            copy_strided(fx, &a[0], &out, &n, &[1], 0, &[1], 0);
            Ok(())
        }
        Op::Reshape | Op::Flatten { .. } => {
            unary(fx, &a[0], &out, numel(&out_ty.shape), &mut |_, x| x);
            Ok(())
        }
        Op::Transpose { perm } => {
            let ins = strides(&at[0].shape);
            let src: Vec<i64> = perm.iter().map(|&p| ins[p]).collect();
            let dst = strides(&out_ty.shape);
            copy_strided(fx, &a[0], &out, &out_ty.shape, &src, 0, &dst, 0);
            Ok(())
        }
        Op::Slice {
            starts,
            ends,
            steps,
        } => {
            let plan = qcc_ir::slicing::slice_plan(&at[0].shape, starts, ends, steps).map_err(e)?;
            let ins = strides(&at[0].shape);
            let src: Vec<i64> = plan.iter().zip(&ins).map(|(p, &s)| p.step * s).collect();
            let src_off: i64 = plan
                .iter()
                .zip(&ins)
                .map(|(p, &s)| p.start as i64 * s)
                .sum();
            let dst = strides(&out_ty.shape);
            if numel(&out_ty.shape) > 0 {
                copy_strided(fx, &a[0], &out, &out_ty.shape, &src, src_off, &dst, 0);
            }
            Ok(())
        }
        Op::ArgMax { axis, last } | Op::ArgMin { axis, last } => {
            let max = matches!(node.op, Op::ArgMax { .. });
            super::arg::arg_extreme(fx, &a[0], &out, &at[0].shape, *axis, *last, max);
            Ok(())
        }
        Op::Gather { axis } => {
            let count = numel(&at[1].shape);
            super::movement::gather(fx, &a[0], &a[1], &out, &at[0].shape, count, *axis);
            Ok(())
        }
        Op::Concat { axis } => {
            let dst = strides(&out_ty.shape);
            let mut start = 0i64;
            for (buf, ty) in a.iter().zip(&at) {
                let src = strides(&ty.shape);
                copy_strided(fx, buf, &out, &ty.shape, &src, 0, &dst, start * dst[*axis]);
                start += ty.shape[*axis] as i64;
            }
            Ok(())
        }
        Op::Quantize => quantize(fx, &a[0], &out, out_ty).map_err(e),
        Op::Dequantize => dequantize(fx, &a[0], at[0], &out).map_err(e),
        Op::Requantize { mode } => {
            let vec = matches!(prep, Prep::VecRequant);
            requantize(fx, &a[0], at[0], &out, out_ty, *mode, vec).map_err(e)
        }
        Op::AddInt { mode, ort } => add_int(fx, &a, &at, &out, out_ty, *mode, *ort).map_err(e),
        Op::DynamicScale
        | Op::DynamicZeroPoint
        | Op::QuantizeDyn
        | Op::DequantizeDyn
        | Op::MatMulIntDyn
        | Op::Conv2dIntDyn(_) => match prep {
            // The kernels call helpers, which objects cannot (`crate::aot`
            // makes them `Prep::Plain`).
            Prep::Dyn(_) if fx.portable => Err(e("a kernel op in an object".into())),
            Prep::Dyn(d) => {
                super::dynamic::emit(fx, d, &a, &out, temps, phase);
                Ok(())
            }
            _ => super::dynamic::lower(fx, &node.op, &a, &at, &out, out_ty).map_err(e),
        },
    }
}

pub(crate) use super::conv::direct_conv;
pub(crate) use super::fuse::{try_fuse_add, try_fuse_depthwise, try_fuse_requant};
