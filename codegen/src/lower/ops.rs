//! The lowering of each op: a direct transcription of its rule in
//! `docs/semantics.md` (and of `qcc_ir::interp`) into loops whose bounds,
//! strides and quantization parameters are constants.

use super::gemm::{self, ConvShape, GemmPrep};
use super::{F32, Fx, I64, RescaleVals};
use crate::CodegenError;
use crate::plan::{Buf, Ek};
use crate::shim::DotPath;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, Value};
use qcc_ir::elementwise::{Binary, Unary};
use qcc_ir::op::{Conv2dAttrs, IntAttrs, Op, Pool2dAttrs, RequantMode};
use qcc_ir::quant::Rescale;
use qcc_ir::types::{QuantType, ScalarType, TensorType};
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
}

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
}

impl Prep {
    /// Functions the op compiles to (none for a fused requantize).
    pub fn phases(&self) -> usize {
        match self {
            Prep::Fused => 0,
            Prep::Gemm(g) => g.phases(),
            Prep::Plain | Prep::VecRequant | Prep::Depthwise(_) => 1,
            Prep::DirectConv(_) => 2,
        }
    }

    /// Work units of `phase` (split between threads when several).
    pub fn units(&self, phase: usize) -> usize {
        match self {
            Prep::Gemm(g) => g.units(phase),
            #[cfg(target_arch = "x86_64")]
            Prep::DirectConv(d) if phase == 1 => d.geo.n * d.chunks,
            _ => 1,
        }
    }

    pub fn temps(&self) -> Vec<usize> {
        match self {
            Prep::Plain | Prep::Fused | Prep::VecRequant => vec![],
            Prep::Depthwise(d) => vec![d.geo.scratch()],
            #[cfg(target_arch = "x86_64")]
            Prep::DirectConv(d) => vec![d.geo.n * d.geo.image_bytes()],
            #[cfg(not(target_arch = "x86_64"))]
            Prep::DirectConv(_) => vec![],
            Prep::Gemm(g) => g.temps().to_vec(),
        }
    }
}

fn err(graph: &Graph, v: ValueId, reason: impl Into<String>) -> CodegenError {
    CodegenError::Unsupported {
        node: graph.describe(v),
        op: graph.node(v).op.name(),
        reason: reason.into(),
    }
}

/// The rescale by `s_in / (s_out · divisor)`, checked as in every stage
/// ([`Rescale::try_new`]).
fn rescale(mode: RequantMode, s_in: f32, s_out: f32, divisor: u32) -> Result<Rescale, String> {
    Rescale::try_new(mode, s_in, s_out, divisor).map_err(|e| e.to_string())
}

fn strides(shape: &[usize]) -> Vec<i64> {
    let mut s = vec![1i64; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1] as i64;
    }
    s
}

/// Strides of `from` broadcast to `to` (aligned right, 0 on broadcast dims).
fn bcast_strides(from: &[usize], to: &[usize]) -> Vec<i64> {
    let fs = strides(from);
    let off = to.len() - from.len();
    (0..to.len())
        .map(|i| {
            if i < off || from[i - off] == 1 {
                0
            } else {
                fs[i - off]
            }
        })
        .collect()
}

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Decides how an op is lowered (only `matmul_int` / `conv2d_int` have a
/// choice: the GEMM path when the weights are constant 8-bit-or-narrower
/// values that fit i8, the activations 8-bit or narrower, and the path is
/// not the scalar fallback).
pub(crate) fn prepare(graph: &Graph, v: ValueId, path: DotPath) -> Prep {
    if path == DotPath::Scalar {
        return Prep::Plain;
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
        Op::Requantize { .. } if crate::shim::host_features().avx512vnni => {
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
        let [n, c, h, w] = <[usize; 4]>::try_from(xt.shape.as_slice()).expect("rank 4");
        let [o, _, kh, kw] = <[usize; 4]>::try_from(wt.shape.as_slice()).expect("rank 4");
        let (oh, ow) = (node.ty.shape[2], node.ty.shape[3]);
        let shape = ConvShape {
            n,
            c,
            h,
            w,
            o,
            kh,
            kw,
            strides: attrs.strides,
            pads: attrs.pads,
            dil: attrs.dilations,
            oh,
            ow,
        };
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

/// Tries to fuse the requantize `req` (the only user of the GEMM-lowered
/// `acc`) into `g`'s tile store; on success `g.fused` is set. Only on the
/// AVX512-VNNI path, for the float and single-rounding modes, a constant
/// (or absent) bias, one-byte outputs, per-tensor or per-column parameters,
/// and when the folded bounds stay exact in i32 (else the ops stay apart).
/// `clamp` is a `clamp_int` after the requantize to fold into the output
/// bounds (`y = clamp(q + zo, max(lo, min), min(hi, max))`, exact when the
/// two ranges overlap; otherwise the fusion is refused).
pub(crate) fn try_fuse_requant(
    graph: &Graph,
    acc: ValueId,
    req: ValueId,
    clamp: Option<(i64, i64)>,
    g: &mut GemmPrep,
) -> bool {
    if !matches!(g.path, DotPath::Avx512Vnni | DotPath::Amx) {
        return false;
    }
    let view = FuseInput {
        channels: g.n,
        conv: g.conv.is_some(),
        colc: &g.colc,
        zw: &g.zw,
        lo: g.lo,
        hi: g.hi,
        colbound: &g.colbound,
    };
    let Some((mode, mut fp)) = fuse_params(graph, acc, req, clamp, &view) else {
        return false;
    };
    match &g.conv {
        None => {
            fp.pix = g.m.max(1);
            fp.img_stride = 0;
            fp.row_stride = g.n;
            fp.col_stride = 1;
        }
        Some(cs) => {
            let pix = cs.oh * cs.ow;
            fp.pix = pix.max(1);
            fp.img_stride = cs.o * pix;
            fp.row_stride = 1;
            fp.col_stride = pix;
        }
    }
    g.fused = Some((mode, fp));
    true
}

/// Tries to fuse the `add_int` `add` of a per-column constant (and then
/// `clamp`, a `clamp_int` after it) into `g`'s fused store, after the
/// requantize already fused (`q`, the value the add reads): the store then
/// writes the add's result ([`crate::shim::AddStage`]). Only in float mode,
/// per-tensor parameters, 8-bit operands and result, the add's result of
/// `q`'s shape, and a constant that varies along the GEMM's columns only
/// (the last axis of a matmul, the channel axis of a convolution).
pub(crate) fn try_fuse_add(
    graph: &Graph,
    q: ValueId,
    add: ValueId,
    clamp: Option<(i64, i64)>,
    g: &mut GemmPrep,
) -> bool {
    let Some((_, fp)) = g.fused.as_mut() else {
        return false;
    };
    let Op::AddInt {
        mode: RequantMode::Float,
    } = graph.node(add).op
    else {
        return false;
    };
    let args = graph.args(add);
    // Either operand order: the two products are summed once, and f32
    // addition is commutative.
    let c = match args[..] {
        [a, b] if a == q && b != q => b,
        [a, b] if b == q && a != q => a,
        _ => return false,
    };
    let (qt, ct, yt) = (graph.ty(q), graph.ty(c), graph.ty(add));
    if yt.shape != qt.shape || Ek::of(yt.elem.storage()).size() != 1 {
        return false;
    }
    let per_tensor = |t: &TensorType| t.elem.as_quant().filter(|q| !q.is_per_axis()).cloned();
    let (Some(qx), Some(qc), Some(qy)) = (per_tensor(qt), per_tensor(ct), per_tensor(yt)) else {
        return false;
    };
    if Ek::of(ct.elem.storage()).size() != 1 {
        return false;
    }
    let Some(cdata) = graph
        .node(c)
        .op
        .as_const()
        .and_then(|k| k.logical(ct).to_i64s())
    else {
        return false;
    };
    // The constant's values per column: it may vary along the column axis
    // only (right-aligned broadcasting).
    let rank = qt.shape.len();
    let col_axis = if g.conv.is_some() { 1 } else { rank - 1 };
    if ct.shape.len() > rank {
        return false;
    }
    let off = rank - ct.shape.len();
    let mut per_col = false;
    for (d, &n) in ct.shape.iter().enumerate() {
        if n == 1 {
            continue;
        }
        if d + off != col_axis || n != qt.shape[col_axis] {
            return false;
        }
        per_col = true;
    }
    let (Ok(Rescale::Float(mx)), Ok(Rescale::Float(mc))) = (
        rescale(RequantMode::Float, qx.scales[0], qy.scales[0], 1),
        rescale(RequantMode::Float, qc.scales[0], qy.scales[0], 1),
    ) else {
        return false;
    };
    let (mut lo, mut hi) = (qy.storage_min, qy.storage_max);
    if let Some((cmin, cmax)) = clamp {
        lo = lo.max(cmin);
        hi = hi.min(cmax);
        if lo > hi {
            return false;
        }
    }
    let zc = qc.zero_points[0];
    let cb: Vec<f32> = (0..g.n)
        .map(|col| {
            let v = if per_col { cdata[col] } else { cdata[0] };
            ((v - zc) as f32) * mc
        })
        .collect();
    let fits = |v: i64| i32::try_from(v).is_ok();
    let zy = qy.zero_points[0];
    if !fits(zy) || !fits(qx.zero_points[0]) || !mx.is_finite() {
        return false;
    }
    fp.add = Some(crate::shim::AddStage {
        mx,
        zx: qx.zero_points[0] as i32,
        zy: zy as i32,
        lo: lo as i32,
        hi: hi as i32,
        cb,
    });
    fp.signed_out = yt.elem.storage().is_signed();
    true
}

/// The fusion of a requantize into the depthwise kernel before it (see
/// [`try_fuse_requant`]); the kernel stores bytes, one channel at a time.
pub(crate) fn try_fuse_depthwise(
    graph: &Graph,
    acc: ValueId,
    req: ValueId,
    clamp: Option<(i64, i64)>,
    d: &mut DepthwisePrep,
) -> bool {
    let view = FuseInput {
        channels: d.geo.c,
        conv: true,
        colc: &d.colc,
        zw: &vec![0; d.geo.c],
        lo: d.geo.lo,
        hi: d.geo.hi,
        colbound: &d.colbound,
    };
    let Some((mode, fp)) = fuse_params(graph, acc, req, clamp, &view) else {
        return false;
    };
    d.geo.out_mode = match mode {
        crate::shim::FusedMode::Float => 1,
        crate::shim::FusedMode::Single => 2,
    };
    d.geo.signed_out = fp.signed_out as usize;
    d.geo.fast = fp.fast as usize;
    d.fused = Some(fp);
    true
}

/// What [`fuse_params`] needs of the op the requantize follows.
struct FuseInput<'a> {
    channels: usize,
    conv: bool,
    colc: &'a [i32],
    zw: &'a [i64],
    lo: i64,
    hi: i64,
    colbound: &'a [i64],
}

/// The per-channel tables of a requantize (then an optional clamp) fused
/// into the op computing its accumulator, or `None` where it cannot fuse.
fn fuse_params(
    graph: &Graph,
    acc: ValueId,
    req: ValueId,
    clamp: Option<(i64, i64)>,
    g: &FuseInput,
) -> Option<(crate::shim::FusedMode, crate::shim::FusedParams)> {
    use crate::shim::{FusedMode, FusedParams};
    let mode = match graph.node(req).op {
        Op::Requantize {
            mode: RequantMode::Float,
        } => FusedMode::Float,
        Op::Requantize {
            mode: RequantMode::SingleRound,
        } => FusedMode::Single,
        _ => return None,
    };
    let (at, rt) = (graph.ty(acc), graph.ty(req));
    let (Some(qi), Some(qo)) = (at.elem.as_quant(), rt.elem.as_quant()) else {
        return None;
    };
    if Ek::of(rt.elem.storage()).size() != 1 {
        return None;
    }
    let col_axis = if g.conv { 1 } else { at.shape.len() - 1 };
    let axis = match (qi.axis, qo.axis) {
        (Some(a), Some(b)) if a != b => return None,
        (a, b) => a.or(b),
    };
    if axis.is_some_and(|a| a != col_axis) {
        return None;
    }
    let args = graph.args(acc);
    let bias: Vec<i64> = match args.get(2) {
        None => vec![0; g.channels],
        Some(&b) => match graph.node(b).op.as_const().and_then(|c| c.data.to_i64s()) {
            Some(v) if v.len() == g.channels => v,
            _ => return None,
        },
    };
    let fits = |v: i64| i32::try_from(v).is_ok();
    let (mut lo_o, mut hi_o) = (qo.storage_min, qo.storage_max);
    if let Some((cmin, cmax)) = clamp {
        lo_o = lo_o.max(cmin);
        hi_o = hi_o.min(cmax);
        if lo_o > hi_o {
            return None;
        }
    }
    let mut fp = FusedParams::default();
    for (c, &b) in bias.iter().enumerate() {
        let ch = if axis.is_some() { c } else { 0 };
        let Ok(r) = rescale(graph_mode(mode), qi.scale(ch), qo.scale(ch), 1) else {
            return None;
        };
        let (zi, zo) = (qi.zero_point(ch), qo.zero_point(ch));
        let bc = b - zi;
        let lo = (g.lo - zi).max(i32::MIN as i64);
        let hi = (g.hi - zi).min(i32::MAX as i64);
        let (flo, fhi) = (lo_o - zo, hi_o - zo);
        if !fits(bc) || lo > hi || flo.abs() >= 1 << 24 || fhi.abs() >= 1 << 24 || !fits(zo) {
            return None;
        }
        let (m, s, flo, fhi) = match r {
            Rescale::Float(m) if m.is_finite() => (
                m.to_bits() as i32,
                0,
                (flo as f32).to_bits() as i32,
                (fhi as f32).to_bits() as i32,
            ),
            Rescale::SingleRound(fm) if (0..=62).contains(&(31 - fm.shift)) => {
                (fm.multiplier, 31 - fm.shift, flo as i32, fhi as i32)
            }
            _ => return None,
        };
        fp.colc.push(g.colc[c]);
        fp.zw.push(g.zw[c] as i32);
        fp.bc.push(bc as i32);
        fp.lo.push(lo as i32);
        fp.hi.push(hi as i32);
        fp.m.push(m);
        fp.flo.push(flo);
        fp.fhi.push(fhi);
        fp.zo.push(zo as i32);
        fp.s.push(s);
    }
    fp.ncols = g.channels;
    fp.signed_out = rt.elem.storage().is_signed();
    // The fast form: `acc + bc` stays inside `lo..=hi` (so inside i32) for
    // every accumulator value the column can produce.
    let fast = (0..g.channels).all(|c| {
        let (b, bound) = (fp.bc[c] as i64, g.colbound[c]);
        b - bound >= fp.lo[c] as i64 && b + bound <= fp.hi[c] as i64
    });
    if fast {
        fp.make_fast();
    }
    Some((mode, fp))
}

fn graph_mode(m: crate::shim::FusedMode) -> RequantMode {
    match m {
        crate::shim::FusedMode::Float => RequantMode::Float,
        crate::shim::FusedMode::Single => RequantMode::SingleRound,
    }
}

/// The depthwise helper's preparation, where it applies: one input channel
/// per group and one output per channel, constant 8-bit weights of zero
/// point 0, 8-bit per-tensor activations, an i32 result and a host with the
/// kernel.
fn depthwise(
    graph: &Graph,
    v: ValueId,
    path: DotPath,
    a: &Conv2dAttrs,
    int: &IntAttrs,
) -> Option<Prep> {
    use crate::shim::DepthwiseGeometry;
    if !matches!(path, DotPath::Avx512Vnni | DotPath::Amx) || !crate::shim::has_depthwise_kernel() {
        return None;
    }
    let node = graph.node(v);
    let args = graph.args(v);
    let (xt, wt) = (graph.ty(args[0]), graph.ty(args[1]));
    let [n, c, h, w] = <[usize; 4]>::try_from(xt.shape.as_slice()).ok()?;
    let [o, cg, kh, kw] = <[usize; 4]>::try_from(wt.shape.as_slice()).ok()?;
    if a.groups != c || o != c || cg != 1 || node.ty.elem.storage() != ScalarType::I32 {
        return None;
    }
    if let Some(&b) = args.get(2)
        && graph.ty(b).elem.storage() != ScalarType::I32
    {
        return None;
    }
    let signed = match xt.elem.storage() {
        ScalarType::U8 => false,
        ScalarType::I8 => true,
        _ => return None,
    };
    let zx = match xt.elem.as_quant() {
        None => 0,
        Some(q) if !q.is_per_axis() => q.zero_points[0],
        Some(_) => return None,
    };
    if wt
        .elem
        .as_quant()
        .is_some_and(|q| q.zero_points.iter().any(|&z| z != 0))
    {
        return None;
    }
    let wc = graph.node(args[1]).op.as_const()?;
    let wv = wc.logical(graph.ty(args[1])).to_i64s()?;
    if wv.iter().any(|&x| !(-128..=127).contains(&x)) {
        return None;
    }
    let (lo, hi) = node.ty.elem.int_range()?;
    let ua = zx + if signed { 128 } else { 0 };
    // What the sums subtract: `ua` itself, or only the flip of signed
    // inputs when x's zero point is in the bias (padding still holds `ua`).
    let ua_sub = if int.zx_in_bias { ua - zx } else { ua };
    let mut geo = DepthwiseGeometry {
        n,
        c,
        h,
        w,
        kh,
        kw,
        sh: a.strides[0],
        sw: a.strides[1],
        dh: a.dilations[0],
        dw: a.dilations[1],
        pt: a.pads[0],
        pl: a.pads[1],
        oh: node.ty.shape[2],
        ow: node.ty.shape[3],
        flip: signed as usize,
        ua: ua as usize,
        lo,
        hi,
        ..Default::default()
    };
    if !(0..=255).contains(&ua) || kh == 0 || kw == 0 || !geo.supported() {
        return None;
    }
    geo.plane(a.pads[2], a.pads[3]);
    let groups = kw.div_ceil(4);
    let mut w4 = Vec::with_capacity(c * kh * groups);
    let mut colc = Vec::with_capacity(c);
    let mut colbound = Vec::with_capacity(c);
    for ch in 0..c {
        let taps = &wv[ch * kh * kw..(ch + 1) * kh * kw];
        for ky in 0..kh {
            for t in 0..groups {
                let mut b = [0u8; 4];
                for (q, bq) in b.iter_mut().enumerate() {
                    if 4 * t + q < kw {
                        *bq = taps[ky * kw + 4 * t + q] as i8 as u8;
                    }
                }
                w4.push(i32::from_le_bytes(b));
            }
        }
        colc.push((-ua_sub * taps.iter().sum::<i64>()) as i32);
        colbound.push(ua_sub.max(255 - ua_sub) * taps.iter().map(|w| w.abs()).sum::<i64>());
    }
    Some(Prep::Depthwise(Box::new(DepthwisePrep {
        geo,
        w4,
        colc,
        colbound,
        fused: None,
        fused_into: None,
    })))
}

/// Emits phase `phase` of the direct convolution: `0` lays out the input,
/// `1` runs the units `t0..t1` (image `u / chunks`, pixel chunk
/// `u % chunks`).
#[cfg(target_arch = "x86_64")]
fn direct_conv_emit(
    fx: &mut Fx,
    d: &DirectConvPrep,
    x: &Buf,
    out: &Buf,
    temps: &[usize],
    phase: usize,
) {
    let geo = fx.rodata(d.geo.bytes());
    let x4 = fx.b.ins().iadd_imm_s(fx.arena, temps[0] as i64);
    if phase == 0 {
        let xb = fx.base(x);
        let sig = fx.sig(&[I64; 3], &[]);
        let f = fx.import("qcc_conv_amx_input", sig);
        fx.b.ins().call(f, &[xb, geo, x4]);
        return;
    }
    let name = match (d.mode, d.fp.fast) {
        (crate::shim::FusedMode::Float, false) => "qcc_conv_amx_float",
        (crate::shim::FusedMode::Float, true) => "qcc_conv_amx_float_fast",
        (crate::shim::FusedMode::Single, false) => "qcc_conv_amx_single",
        (crate::shim::FusedMode::Single, true) => "qcc_conv_amx_single_fast",
    };
    let sig = fx.sig(&[I64; 7], &[]);
    let f = fx.import(name, sig);
    let w = fx.rodata(d.wpack.clone());
    let ep = fx.rodata(d.fp.bytes(d.geo.o));
    let ob = fx.base(out);
    let q = d.geo.q();
    let per = q.div_ceil(32).div_ceil(d.chunks) * 32;
    let chunks = d.chunks as i64;
    let (t0, t1) = (fx.t0, fx.t1);
    fx.for_range(t0, t1, |fx, u| {
        let img = fx.b.ins().udiv_imm_u(u, chunks);
        let chunk = fx.b.ins().urem_imm_u(u, chunks);
        let q0 = fx.b.ins().imul_imm_s(chunk, per as i64);
        let end = fx.b.ins().iadd_imm_s(q0, per as i64);
        let qmax = fx.c(q as i64);
        let q1 = fx.b.ins().smin(end, qmax);
        let nonempty = fx.b.ins().icmp(IntCC::SignedLessThan, q0, q1);
        fx.if_else(
            nonempty,
            |fx| {
                let xoff = fx.b.ins().imul_imm_s(img, d.geo.image_bytes() as i64);
                let xi = fx.b.ins().iadd(x4, xoff);
                let ooff =
                    fx.b.ins()
                        .imul_imm_s(img, (d.geo.o * d.geo.oh * d.geo.ow) as i64);
                let oi = fx.b.ins().iadd(ob, ooff);
                fx.b.ins().call(f, &[xi, geo, w, oi, ep, q0, q1]);
            },
            |_| {},
        );
    });
}

/// The direct AMX form of a fused GEMM-lowered convolution, where it
/// applies: stride 1, weight zero points 0, 8-bit activations, a host with
/// the kernel.
#[cfg(target_arch = "x86_64")]
pub(crate) fn direct_conv(
    graph: &Graph,
    v: ValueId,
    g: &GemmPrep,
    threads: usize,
) -> Option<DirectConvPrep> {
    use crate::shim::ConvGeometry;
    let cs = g.conv.as_ref()?;
    let (mode, fp) = g.fused.clone()?;
    if fp.add.is_some()
        || !crate::shim::has_direct_conv()
        || g.path != DotPath::Amx
        || cs.strides != [1, 1]
        // Fewer channels waste most of each 64-channel block.
        || cs.c < 32
        || g.need_rowsum
        || g.zw.iter().any(|&z| z != 0)
        || !(0..=255).contains(&g.ua)
    {
        return None;
    }
    let wv_id = graph.args(v)[1];
    let wc = graph.node(wv_id).op.as_const()?;
    let wv = wc.logical(graph.ty(wv_id)).to_i64s()?;
    let cp = cs.c.next_multiple_of(64);
    let op = cs.o.next_multiple_of(32);
    let kp = cs.kh * cs.kw * cp;
    let hp = cs.pads[0] + cs.h + cs.pads[2];
    let wp = cs.pads[1] + cs.w + cs.pads[3];
    let reach = 63 + (cs.kw - 1) * cs.dil[1];
    let geo = ConvGeometry {
        n: cs.n,
        c: cs.c,
        cp,
        h: cs.h,
        w: cs.w,
        o: cs.o,
        op,
        kh: cs.kh,
        kw: cs.kw,
        dh: cs.dil[0],
        dw: cs.dil[1],
        pt: cs.pads[0],
        pl: cs.pads[1],
        oh: cs.oh,
        ow: cs.ow,
        hp2: hp + reach.div_ceil(wp.max(1)) + 1,
        wp,
        flip: g.signed_x as usize,
        ua: g.ua as usize,
        kp,
        mode: match mode {
            crate::shim::FusedMode::Float => 1,
            crate::shim::FusedMode::Single => 2,
        },
        fast: fp.fast as usize,
    };
    // Stride 1: the padded numbering reaches every output pixel.
    if hp < (cs.kh - 1) * cs.dil[0] + cs.oh || wp < (cs.kw - 1) * cs.dil[1] + cs.ow {
        return None;
    }
    let mut wpack = vec![0u8; op * kp];
    let (c, kh, kw) = (cs.c, cs.kh, cs.kw);
    for oc in 0..cs.o {
        for ci in 0..c {
            for ky in 0..kh {
                for kx in 0..kw {
                    let wq = wv[((oc * c + ci) * kh + ky) * kw + kx];
                    wpack[oc * kp + (ky * kw + kx) * cp + ci] = wq as i8 as u8;
                }
            }
        }
    }
    let blocks = geo.q().div_ceil(32);
    let macs = cs.n * cs.o * cs.oh * cs.ow * kh * kw * c;
    let chunks = if threads > 1 && macs >= super::gemm::AMX_SPLIT_MACS {
        blocks.min(4 * threads)
    } else {
        1
    };
    Some(DirectConvPrep {
        geo,
        wpack,
        fp,
        mode,
        fused_into: g.fused_into?,
        chunks,
    })
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
                gemm::emit(fx, g, &a[0], a.get(2), &out, temps, phase);
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
                let to_bytes =
                    |v: &[i32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
                let xb = fx.base(&a[0]);
                let geo = fx.rodata(d.geo.bytes());
                let w4 = fx.rodata(to_bytes(&d.w4));
                let colc = fx.rodata(to_bytes(&d.colc));
                let bias = match a.get(2) {
                    Some(b) => fx.base(b),
                    None => fx.c(0),
                };
                let ob = fx.base(&out);
                let tmp = fx.b.ins().iadd_imm_s(fx.arena, temps[0] as i64);
                let ep = match &d.fused {
                    Some(fp) => fx.rodata(fp.bytes(d.geo.c)),
                    None => fx.c(0),
                };
                let sig = fx.sig(&[I64; 8], &[]);
                let f = fx.import("qcc_depthwise", sig);
                fx.b.ins().call(f, &[xb, geo, w4, colc, bias, ob, tmp, ep]);
                Ok(())
            }
            Prep::Gemm(g) => {
                gemm::emit(fx, g, &a[0], a.get(2), &out, temps, phase);
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
        Op::Add | Op::Mul if at[0].shape == out_ty.shape && at[1].shape == out_ty.shape => {
            // Same shapes: the helper (one f32 operation per element).
            let (ab, bb, ob) = (fx.base(&a[0]), fx.base(&a[1]), fx.base(&out));
            let n = fx.c(numel(&out_ty.shape) as i64);
            let mul = fx.c(matches!(node.op, Op::Mul) as i64);
            let sig = fx.sig(&[I64; 5], &[]);
            let f = fx.import("qcc_binary_f32", sig);
            fx.b.ins().call(f, &[ab, bb, n, mul, ob]);
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
        | Op::Gelu => unary_code(fx, &a[0], &out, out_ty, &node.op).map_err(e),
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
            softmax(fx, &a[0], &out, &out_ty.shape, *axis);
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
        Op::Reshape | Op::Flatten { .. } => {
            unary(fx, &a[0], &out, numel(&out_ty.shape), &mut |_, x| x);
            Ok(())
        }
        Op::Transpose { perm } => {
            let ins = strides(&at[0].shape);
            let src: Vec<i64> = perm.iter().map(|&p| ins[p]).collect();
            let dst = strides(&out_ty.shape);
            copy_strided(fx, &a[0], &out, &out_ty.shape, &src, &dst, 0);
            Ok(())
        }
        Op::Concat { axis } => {
            let dst = strides(&out_ty.shape);
            let mut start = 0i64;
            for (buf, ty) in a.iter().zip(&at) {
                let src = strides(&ty.shape);
                copy_strided(fx, buf, &out, &ty.shape, &src, &dst, start * dst[*axis]);
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
        Op::AddInt { mode } => add_int(fx, &a, &at, &out, out_ty, *mode).map_err(e),
        Op::DynamicScale
        | Op::DynamicZeroPoint
        | Op::QuantizeDyn
        | Op::DequantizeDyn
        | Op::MatMulIntDyn
        | Op::Conv2dIntDyn(_) => {
            super::dynamic::lower(fx, &node.op, &a, &at, &out, out_ty).map_err(e)
        }
    }
}

/// `y[i] = f(x[i])` over `n` elements (same index).
fn unary(fx: &mut Fx, x: &Buf, out: &Buf, n: usize, f: &mut dyn FnMut(&mut Fx, Value) -> Value) {
    let xb = fx.base(x);
    let ob = fx.base(out);
    fx.for_n(n, |fx, i| {
        let v = fx.ld(x.ek, xb, i);
        let y = f(fx, v);
        fx.st(out.ek, ob, i, y);
    });
}

fn copy_strided(
    fx: &mut Fx,
    x: &Buf,
    out: &Buf,
    shape: &[usize],
    src: &[i64],
    dst: &[i64],
    dst_off: i64,
) {
    let xb = fx.base(x);
    let ob = fx.base(out);
    let (shape, [src, dst]) = collapse(shape, [src.to_vec(), dst.to_vec()]);
    let inner = *shape.last().expect("collapse gives a dim");
    let contiguous = src.last() == Some(&1) && dst.last() == Some(&1) && x.ek == out.ek;
    if contiguous && inner * x.ek.size() >= 64 {
        // Rows of at least 64 contiguous bytes on both sides: one `memcpy`
        // per row.
        let outer = &shape[..shape.len() - 1];
        let cfg = cranelift_module::Module::target_config(&*fx.module);
        let size = x.ek.size() as i64;
        let nbytes = fx.c(inner as i64 * size);
        let row = |fx: &mut Fx, idx: &[Value]| {
            let s: Vec<_> = idx.iter().copied().zip(src.iter().copied()).collect();
            let d: Vec<_> = idx.iter().copied().zip(dst.iter().copied()).collect();
            let si = fx.lin(&s, 0);
            let di = fx.lin(&d, dst_off);
            let so = fx.b.ins().imul_imm_s(si, size);
            let dof = fx.b.ins().imul_imm_s(di, size);
            let sp = fx.b.ins().iadd(xb, so);
            let dp = fx.b.ins().iadd(ob, dof);
            fx.b.call_memcpy(cfg, dp, sp, nbytes);
        };
        if outer.is_empty() {
            row(fx, &[]);
        } else {
            fx.nest(outer, &mut |fx, idx| row(fx, idx));
        }
        return;
    }
    fx.nest(&shape, &mut |fx, idx| {
        let s: Vec<_> = idx.iter().copied().zip(src.iter().copied()).collect();
        let d: Vec<_> = idx.iter().copied().zip(dst.iter().copied()).collect();
        let si = fx.lin(&s, 0);
        let di = fx.lin(&d, dst_off);
        let v = fx.ld(x.ek, xb, si);
        fx.st(out.ek, ob, di, v);
    });
}

/// Broadcast binary op over the result shape.
fn binary(
    fx: &mut Fx,
    a: &[Buf],
    at: &[&TensorType],
    out: &Buf,
    out_ty: &TensorType,
    f: &mut dyn FnMut(&mut Fx, Value, Value) -> Value,
) {
    let shape = &out_ty.shape;
    let (dims, [sa, sb, so]) = collapse(
        shape,
        [
            bcast_strides(&at[0].shape, shape),
            bcast_strides(&at[1].shape, shape),
            strides(shape),
        ],
    );
    let (ab, bb, ob) = (fx.base(&a[0]), fx.base(&a[1]), fx.base(out));
    fx.nest(&dims, &mut |fx, idx| {
        let t = |s: &[i64]| -> Vec<(Value, i64)> {
            idx.iter().copied().zip(s.iter().copied()).collect()
        };
        let ia = fx.lin(&t(&sa), 0);
        let ib = fx.lin(&t(&sb), 0);
        let io = fx.lin(&t(&so), 0);
        let x = fx.ld(a[0].ek, ab, ia);
        let y = fx.ld(a[1].ek, bb, ib);
        let r = f(fx, x, y);
        fx.st(out.ek, ob, io, r);
    });
}

/// A float unary elementwise op: the shim's `qcc_unary_f32` over the
/// tensor, which applies the interpreter's function
/// (`qcc_ir::elementwise::Unary`).
fn unary_code(fx: &mut Fx, x: &Buf, out: &Buf, out_ty: &TensorType, op: &Op) -> Result<(), String> {
    let u =
        Unary::of(op).ok_or_else(|| format!("`{}` is not a unary elementwise op", op.name()))?;
    let ab = (u.alpha.to_bits() as u64 | ((u.beta.to_bits() as u64) << 32)) as i64;
    let (xb, ob) = (fx.base(x), fx.base(out));
    let n = fx.c(numel(&out_ty.shape) as i64);
    let code = fx.c(u.f as i64);
    let ab = fx.c(ab);
    let sig = fx.sig(&[I64; 5], &[]);
    let f = fx.import("qcc_unary_f32", sig);
    fx.b.ins().call(f, &[xb, n, code, ab, ob]);
    Ok(())
}

/// A float binary elementwise op with broadcasting: the shim's
/// `qcc_binary_code_f32` on each innermost run of the collapsed loop nest
/// (after `collapse`, every operand walks the innermost dimension with
/// stride 0 or 1).
fn binary_code(
    fx: &mut Fx,
    a: &[Buf],
    at: &[&TensorType],
    out: &Buf,
    out_ty: &TensorType,
    op: &Op,
) -> Result<(), String> {
    let code =
        Binary::of(op).ok_or_else(|| format!("`{}` is not a binary elementwise op", op.name()))?;
    let shape = &out_ty.shape;
    let (dims, [sa, sb, so]) = collapse(
        shape,
        [
            bcast_strides(&at[0].shape, shape),
            bcast_strides(&at[1].shape, shape),
            strides(shape),
        ],
    );
    let last = dims.len() - 1;
    let inner = dims[last] as i64;
    // A run of one element: its strides do not matter.
    let step = |s: i64| if inner == 1 { 0 } else { s };
    let (sa_last, sb_last) = (step(sa[last]), step(sb[last]));
    if !(matches!(sa_last, 0 | 1) && matches!(sb_last, 0 | 1) && (inner == 1 || so[last] == 1)) {
        return Err("an innermost dimension that is not contiguous".into());
    }
    let (ab, bb, ob) = (fx.base(&a[0]), fx.base(&a[1]), fx.base(out));
    let sig = fx.sig(&[I64; 7], &[]);
    let f = fx.import("qcc_binary_code_f32", sig);
    let mut run = |fx: &mut Fx, idx: &[Value]| {
        let t = |s: &[i64]| -> Vec<(Value, i64)> {
            idx.iter().copied().zip(s.iter().copied()).collect()
        };
        let ia = fx.lin(&t(&sa), 0);
        let ib = fx.lin(&t(&sb), 0);
        let io = fx.lin(&t(&so), 0);
        let pa = fx.b.ins().imul_imm_s(ia, 4);
        let pb = fx.b.ins().imul_imm_s(ib, 4);
        let po = fx.b.ins().imul_imm_s(io, 4);
        let pa = fx.b.ins().iadd(ab, pa);
        let pb = fx.b.ins().iadd(bb, pb);
        let po = fx.b.ins().iadd(ob, po);
        let (sa1, sb1, n, c) = (
            fx.c(sa[last]),
            fx.c(sb[last]),
            fx.c(inner),
            fx.c(code as i64),
        );
        fx.b.ins().call(f, &[pa, sa1, pb, sb1, n, c, po]);
    };
    if last == 0 {
        run(fx, &[]);
    } else {
        fx.nest(&dims[..last], &mut run);
    }
    Ok(())
}

/// Merges adjacent dimensions that every operand walks contiguously (or
/// broadcasts along both), so that a loop nest over `shape` needs as few
/// loops as possible (one for same-shape operands). A scalar shape becomes
/// `[1]`.
fn collapse<const N: usize>(
    shape: &[usize],
    strides: [Vec<i64>; N],
) -> (Vec<usize>, [Vec<i64>; N]) {
    let mut dims: Vec<usize> = Vec::new();
    let mut out: [Vec<i64>; N] = std::array::from_fn(|_| Vec::new());
    for (d, &n) in shape.iter().enumerate() {
        if n == 1 {
            continue;
        }
        let mergeable = !dims.is_empty()
            && (0..N).all(|k| {
                let prev = *out[k].last().expect("one per dim");
                prev == strides[k][d] * n as i64
            });
        if mergeable {
            *dims.last_mut().expect("a dim") *= n;
            for (k, o) in out.iter_mut().enumerate() {
                *o.last_mut().expect("one per dim") = strides[k][d];
            }
        } else {
            dims.push(n);
            for (k, o) in out.iter_mut().enumerate() {
                o.push(strides[k][d]);
            }
        }
    }
    if dims.is_empty() {
        dims.push(1);
        for o in out.iter_mut() {
            o.push(0);
        }
    }
    (dims, out)
}

/// Loops `[outer, channels, inner]` for parameters per channel along `axis`
/// (or one loop over all elements); `f(fx, index, channel)`.
fn chan_loop(
    fx: &mut Fx,
    shape: &[usize],
    axis: Option<usize>,
    f: &mut dyn FnMut(&mut Fx, Value, Option<Value>),
) {
    match axis {
        None => fx.for_n(numel(shape).max(1), |fx, i| f(fx, i, None)),
        Some(ax) => {
            let outer = numel(&shape[..ax]);
            let ch = shape[ax];
            let inner = numel(&shape[ax + 1..]);
            fx.nest(&[outer, ch, inner], &mut |fx, i| {
                let idx = fx.lin(
                    &[(i[0], (ch * inner) as i64), (i[1], inner as i64), (i[2], 1)],
                    0,
                );
                f(fx, idx, Some(i[1]));
            });
        }
    }
}

/// Per-channel (scale f32, zero point) table, or constants.
fn scale_zp_table(fx: &mut Fx, q: &QuantType) -> Option<Value> {
    q.is_per_axis().then(|| {
        let mut bytes = Vec::new();
        for c in 0..q.scales.len() {
            bytes.extend_from_slice(&(q.scales[c].to_bits() as u64).to_le_bytes());
            bytes.extend_from_slice(&q.zero_points[c].to_le_bytes());
        }
        fx.rodata(bytes)
    })
}

fn scale_zp(fx: &mut Fx, q: &QuantType, tab: Option<Value>, c: Option<Value>) -> (Value, Value) {
    match (tab, c) {
        (Some(t), Some(c)) => {
            let off = fx.b.ins().imul_imm_s(c, 16);
            let p = fx.b.ins().iadd(t, off);
            let s = fx.b.ins().load(F32, super::flags(), p, 0);
            let z = fx.b.ins().load(I64, super::flags(), p, 8);
            (s, z)
        }
        _ => {
            let s = fx.cf(q.scales[0]);
            let z = fx.c(q.zero_points[0]);
            (s, z)
        }
    }
}

fn quantize(fx: &mut Fx, x: &Buf, out: &Buf, out_ty: &TensorType) -> Result<(), String> {
    let q = out_ty
        .elem
        .as_quant()
        .ok_or("the result must be quantized")?
        .clone();
    if q.axis.is_none() && matches!(out.ek, Ek::U8 | Ek::I8) && x.ek == Ek::F32 {
        // Per tensor to bytes: the helper.
        let prm: Vec<u8> = [
            q.scales[0].to_bits() as i64,
            q.zero_points[0],
            q.storage_min,
            q.storage_max,
        ]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
        let prm = fx.rodata(prm);
        let (xb, ob) = (fx.base(x), fx.base(out));
        let n = fx.c(numel(&out_ty.shape) as i64);
        let sig = fx.sig(&[I64; 4], &[]);
        let f = fx.import("qcc_quantize_8", sig);
        fx.b.ins().call(f, &[xb, n, prm, ob]);
        return Ok(());
    }
    let tab = scale_zp_table(fx, &q);
    let (xb, ob) = (fx.base(x), fx.base(out));
    chan_loop(fx, &out_ty.shape, q.axis, &mut |fx, i, c| {
        let (s, z) = scale_zp(fx, &q, tab, c);
        let v = fx.ld(Ek::F32, xb, i);
        let d = fx.b.ins().fdiv(v, s);
        let r = fx.b.ins().nearest(d);
        let qi = fx.b.ins().fcvt_to_sint_sat(I64, r);
        let y = fx.finish_q(qi, z, q.storage_min, q.storage_max);
        fx.st(out.ek, ob, i, y);
    });
    Ok(())
}

fn dequantize(fx: &mut Fx, x: &Buf, xt: &TensorType, out: &Buf) -> Result<(), String> {
    let q = xt
        .elem
        .as_quant()
        .ok_or("the operand must be quantized")?
        .clone();
    if q.axis.is_none() && matches!(x.ek, Ek::U8 | Ek::I8) && out.ek == Ek::F32 {
        // Per tensor from bytes: the helper.
        let prm: Vec<u8> = [q.scales[0].to_bits() as i64, q.zero_points[0]]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let prm = fx.rodata(prm);
        let (xb, ob) = (fx.base(x), fx.base(out));
        let n = fx.c(numel(&xt.shape) as i64);
        let signed = fx.c((x.ek == Ek::I8) as i64);
        let sig = fx.sig(&[I64; 5], &[]);
        let f = fx.import("qcc_dequantize_8", sig);
        fx.b.ins().call(f, &[xb, n, signed, prm, ob]);
        return Ok(());
    }
    let tab = scale_zp_table(fx, &q);
    let (xb, ob) = (fx.base(x), fx.base(out));
    chan_loop(fx, &xt.shape, q.axis, &mut |fx, i, c| {
        let (s, z) = scale_zp(fx, &q, tab, c);
        let v = fx.ld(x.ek, xb, i);
        let d = fx.b.ins().isub(v, z);
        let f = fx.b.ins().fcvt_from_sint(F32, d);
        let y = fx.b.ins().fmul(f, s);
        fx.st(Ek::F32, ob, i, y);
    });
    Ok(())
}

fn requantize(
    fx: &mut Fx,
    x: &Buf,
    xt: &TensorType,
    out: &Buf,
    out_ty: &TensorType,
    mode: RequantMode,
    vec: bool,
) -> Result<(), String> {
    let qi = xt
        .elem
        .as_quant()
        .ok_or("the operand must be quantized")?
        .clone();
    let qo = out_ty
        .elem
        .as_quant()
        .ok_or("the result must be quantized")?
        .clone();
    let axis = qi.axis.or(qo.axis);
    let channels = axis.map_or(1, |a| xt.shape[a]);
    let mut entries = Vec::with_capacity(channels);
    for c in 0..channels {
        let r =
            rescale(mode, qi.scale(c), qo.scale(c), 1).map_err(|e| format!("channel {c}: {e}"))?;
        entries.push((r, c));
    }
    let (lo, hi) = (qo.storage_min, qo.storage_max);
    if let Some(tables) = requant_tables(xt, out_ty, mode) {
        // 8-bit in and out: one table of 256 results per channel, then a
        // byte lookup per element.
        let tp = fx.rodata(tables);
        call_channel_helper(fx, "qcc_lut8", x, out, &xt.shape, axis, tp);
        return Ok(());
    }
    if vec && x.ek == Ek::I32 && out.ek.size() == 1 {
        // The AVX-512 helper: float mode, input zero points 0, bounds exact
        // in f32.
        let mut tab: Vec<[i32; 4]> = Vec::with_capacity(channels);
        for (c, &(r, _)) in entries.iter().enumerate() {
            let zo = qo.zero_point(c);
            let (flo, fhi) = (lo - zo, hi - zo);
            match r {
                Rescale::Float(m)
                    if m.is_finite()
                        && qi.zero_point(c) == 0
                        && flo.abs() < 1 << 24
                        && fhi.abs() < 1 << 24 =>
                {
                    tab.push([
                        m.to_bits() as i32,
                        (flo as f32).to_bits() as i32,
                        (fhi as f32).to_bits() as i32,
                        zo as i32,
                    ]);
                }
                _ => break,
            }
        }
        if tab.len() == channels && numel(&xt.shape) > 0 {
            let bytes: Vec<u8> = (0..4)
                .flat_map(|t| tab.iter().map(move |e| e[t]))
                .flat_map(|v| v.to_le_bytes())
                .collect();
            let tp = fx.rodata(bytes);
            call_channel_helper(fx, "qcc_requant_f32", x, out, &xt.shape, axis, tp);
            return Ok(());
        }
    }
    let (xb, ob) = (fx.base(x), fx.base(out));
    if axis.is_none() {
        let r = fx.rescale_const(entries[0].0);
        let (zi, zo) = (qi.zero_points[0], qo.zero_points[0]);
        chan_loop(fx, &xt.shape, None, &mut |fx, i, _| {
            let v = fx.ld(x.ek, xb, i);
            let zi = fx.c(zi);
            let zo = fx.c(zo);
            requant_one(fx, r, v, zi, zo, lo, hi, out, ob, i);
        });
    } else {
        // Table entry: the rescale, and the two zero points packed as extra
        // data in a second table.
        let kind = entries[0].0;
        let tab = fx.rescale_table(
            &entries
                .iter()
                .map(|&(r, c)| (r, qo.zero_point(c)))
                .collect::<Vec<_>>(),
        );
        let zi_bytes: Vec<u8> = (0..channels)
            .flat_map(|c| qi.zero_point(c).to_le_bytes())
            .collect();
        let zit = fx.rodata(zi_bytes);
        chan_loop(fx, &xt.shape, axis, &mut |fx, i, c| {
            let c = c.expect("channel");
            let (r, zo) = fx.rescale_entry(kind, tab, c);
            let off = fx.b.ins().imul_imm_s(c, 8);
            let p = fx.b.ins().iadd(zit, off);
            let zi = fx.b.ins().load(I64, super::flags(), p, 0);
            let v = fx.ld(x.ek, xb, i);
            requant_one(fx, r, v, zi, zo, lo, hi, out, ob, i);
        });
    }
    Ok(())
}

/// The `requantize` of 8-bit input and output as tables: for each channel
/// (one when neither side is per axis) the 256 results indexed by the
/// input byte, computed by the reference interpreter
/// ([`qcc_ir::interp::byte_tables`]), so the lookup is its semantics by
/// construction. `None` when the types do not qualify or the interpreter
/// refuses the op.
fn requant_tables(xt: &TensorType, out_ty: &TensorType, mode: RequantMode) -> Option<Vec<u8>> {
    let byte = |t: ScalarType| matches!(t, ScalarType::U8 | ScalarType::I8);
    let (qi, qo) = (xt.elem.as_quant()?, out_ty.elem.as_quant()?);
    if !byte(qi.storage) || !byte(qo.storage) || numel(&xt.shape) < 64 {
        return None;
    }
    let channels = qi.axis.or(qo.axis).map_or(1, |a| xt.shape[a]);
    // The table graph is `[channels, codes]`: per axis on 0 where the op is.
    let on_rows = |q: &QuantType| {
        let mut q = q.clone();
        if q.axis.is_some() {
            q.axis = Some(0);
        }
        qcc_ir::ElemType::quant(q)
    };
    let tables = qcc_ir::interp::byte_tables(&on_rows(qi), channels, |g, x, shape| {
        let ty = TensorType::new(shape.to_vec(), on_rows(qo));
        Some(g.add_node(Op::Requantize { mode }, &[x], ty))
    })?;
    Some(tables.into_iter().map(|v| v as u8).collect())
}

/// Calls the shim helper `name(x, outer, channels, inner, table, out)` over
/// `shape` split around `axis` (`outer = 1` and `channels = 1` without one):
/// the elementwise helpers with a table per channel.
#[allow(clippy::too_many_arguments)]
fn call_channel_helper(
    fx: &mut Fx,
    name: &str,
    x: &Buf,
    out: &Buf,
    shape: &[usize],
    axis: Option<usize>,
    table: Value,
) {
    let (outer, channels, inner) = match axis {
        None => (1, 1, numel(shape)),
        Some(a) => (numel(&shape[..a]), shape[a], numel(&shape[a + 1..])),
    };
    let (xb, ob) = (fx.base(x), fx.base(out));
    let sig = fx.sig(&[I64; 6], &[]);
    let f = fx.import(name, sig);
    let (o, c, i) = (
        fx.c(outer as i64),
        fx.c(channels as i64),
        fx.c(inner as i64),
    );
    fx.b.ins().call(f, &[xb, o, c, i, table, ob]);
}

#[allow(clippy::too_many_arguments)]
fn requant_one(
    fx: &mut Fx,
    r: RescaleVals,
    v: Value,
    zi: Value,
    zo: Value,
    lo: i64,
    hi: i64,
    out: &Buf,
    ob: Value,
    i: Value,
) {
    let d = fx.b.ins().isub(v, zi);
    let d = fx.sat_i32(d);
    let y = fx.apply_rescale(r, d);
    let y = fx.finish_q(y, zo, lo, hi);
    fx.st(out.ek, ob, i, y);
}

const ADD_LEFT_SHIFT: i64 = 20;

/// The parameter block of the `qcc_add_int_8` helpers.
#[allow(clippy::too_many_arguments)]
fn add_int_8_params(
    ma: f32,
    mb: f32,
    za: i64,
    zb: i64,
    zy: i64,
    lo: i64,
    hi: i64,
    ea: Ek,
    eb: Ek,
) -> Vec<u8> {
    [
        ma.to_bits() as i64,
        mb.to_bits() as i64,
        za,
        zb,
        zy,
        lo,
        hi,
        (ea == Ek::I8) as i64,
        (eb == Ek::I8) as i64,
    ]
    .iter()
    .flat_map(|v| v.to_le_bytes())
    .collect()
}

fn add_int(
    fx: &mut Fx,
    a: &[Buf],
    at: &[&TensorType],
    out: &Buf,
    out_ty: &TensorType,
    mode: RequantMode,
) -> Result<(), String> {
    let pt = |t: &TensorType| -> Result<QuantType, String> {
        match t.elem.as_quant() {
            Some(q) if !q.is_per_axis() => Ok(q.clone()),
            _ => Err(format!("`{}` must be quantized per tensor", t.elem)),
        }
    };
    let (qa, qb, qy) = (pt(at[0])?, pt(at[1])?, pt(out_ty)?);
    let (sa, sb, sy) = (qa.scales[0], qb.scales[0], qy.scales[0]);
    let (za, zb, zy) = (qa.zero_points[0], qb.zero_points[0], qy.zero_points[0]);
    let (lo, hi) = (qy.storage_min, qy.storage_max);
    match mode {
        RequantMode::Float => {
            let (Rescale::Float(ma), Rescale::Float(mb)) =
                (rescale(mode, sa, sy, 1)?, rescale(mode, sb, sy, 1)?)
            else {
                return Err("float mode must give a float multiplier".into());
            };
            let bytes = |e: Ek| matches!(e, Ek::U8 | Ek::I8);
            if at[0].shape == out_ty.shape
                && at[1].shape == out_ty.shape
                && bytes(a[0].ek)
                && bytes(a[1].ek)
                && bytes(out.ek)
            {
                // Same shapes, bytes: the helper.
                let prm = add_int_8_params(ma, mb, za, zb, zy, lo, hi, a[0].ek, a[1].ek);
                let prm = fx.rodata(prm);
                let (ab, bb, ob) = (fx.base(&a[0]), fx.base(&a[1]), fx.base(out));
                let n = fx.c(numel(&out_ty.shape) as i64);
                let sig = fx.sig(&[I64; 5], &[]);
                let f = fx.import("qcc_add_int_8", sig);
                fx.b.ins().call(f, &[ab, bb, n, prm, ob]);
                return Ok(());
            }
            if bytes(a[0].ek) && bytes(a[1].ek) && bytes(out.ek) {
                let shape = &out_ty.shape;
                let (dims, [sa_, sb_, so]) = collapse(
                    shape,
                    [
                        bcast_strides(&at[0].shape, shape),
                        bcast_strides(&at[1].shape, shape),
                        strides(shape),
                    ],
                );
                let last = dims.len() - 1;
                let inner = dims[last];
                let unit = |s: &[i64]| matches!(s[last], 0 | 1);
                if inner >= 16 && unit(&sa_) && unit(&sb_) && so[last] == 1 {
                    // A broadcast along the outer dimensions (a per-channel
                    // bias, a row added to every row): the helper on each
                    // innermost run.
                    let prm = add_int_8_params(ma, mb, za, zb, zy, lo, hi, a[0].ek, a[1].ek);
                    let prm = fx.rodata(prm);
                    let (ab, bb, ob) = (fx.base(&a[0]), fx.base(&a[1]), fx.base(out));
                    let sig = fx.sig(&[I64; 7], &[]);
                    let f = fx.import("qcc_add_int_8_bcast", sig);
                    fx.nest(&dims[..last], &mut |fx, idx| {
                        let t = |s: &[i64]| -> Vec<(Value, i64)> {
                            idx.iter().copied().zip(s.iter().copied()).collect()
                        };
                        let ia = fx.lin(&t(&sa_), 0);
                        let ib = fx.lin(&t(&sb_), 0);
                        let io = fx.lin(&t(&so), 0);
                        let pa = fx.b.ins().iadd(ab, ia);
                        let pb = fx.b.ins().iadd(bb, ib);
                        let po = fx.b.ins().iadd(ob, io);
                        let (sa1, sb1, n) = (fx.c(sa_[last]), fx.c(sb_[last]), fx.c(inner as i64));
                        fx.b.ins().call(f, &[pa, sa1, pb, sb1, n, prm, po]);
                    });
                    return Ok(());
                }
            }
            binary(fx, a, at, out, out_ty, &mut |fx, x, y| {
                let da = fx.b.ins().iadd_imm_s(x, -za);
                let db = fx.b.ins().iadd_imm_s(y, -zb);
                let fa = fx.b.ins().fcvt_from_sint(F32, da);
                let fb = fx.b.ins().fcvt_from_sint(F32, db);
                let ma = fx.cf(ma);
                let mb = fx.cf(mb);
                let pa = fx.b.ins().fmul(fa, ma);
                let pb = fx.b.ins().fmul(fb, mb);
                let s = fx.b.ins().fadd(pa, pb);
                let r = fx.b.ins().nearest(s);
                let r = fx.b.ins().fcvt_to_sint_sat(I64, r);
                let z = fx.c(zy);
                fx.finish_q(r, z, lo, hi)
            });
        }
        RequantMode::SingleRound | RequantMode::DoubleRound => {
            if qa.storage.bits() > 8 || qb.storage.bits() > 8 {
                return Err(format!(
                    "in {mode} mode the operands' storage must be at most 8 bits wide"
                ));
            }
            let t = 2.0 * sa.max(sb);
            if !t.is_finite() {
                return Err("2·max(sa, sb) overflows f32".into());
            }
            let ra = rescale(mode, sa, t, 1)?;
            let rb = rescale(mode, sb, t, 1)?;
            let ry = rescale(mode, t, sy, 1 << ADD_LEFT_SHIFT)?;
            binary(fx, a, at, out, out_ty, &mut |fx, x, y| {
                let (ra, rb, ry) = (
                    fx.rescale_const(ra),
                    fx.rescale_const(rb),
                    fx.rescale_const(ry),
                );
                let da = fx.b.ins().iadd_imm_s(x, -za);
                let da = fx.b.ins().ishl_imm_s(da, ADD_LEFT_SHIFT);
                let da = fx.sat_i32(da);
                let db = fx.b.ins().iadd_imm_s(y, -zb);
                let db = fx.b.ins().ishl_imm_s(db, ADD_LEFT_SHIFT);
                let db = fx.sat_i32(db);
                let a1 = fx.apply_rescale(ra, da);
                let b1 = fx.apply_rescale(rb, db);
                let s = fx.b.ins().iadd(a1, b1);
                let s = fx.sat_i32(s);
                let r = fx.apply_rescale(ry, s);
                let z = fx.c(zy);
                fx.finish_q(r, z, lo, hi)
            });
        }
    }
    Ok(())
}

/// Generic `matmul_int` (the scalar path, and weights that are not constant
/// or not narrow): exact i64 sums. With row sums (`a[3]`) the weights' zero
/// points are not subtracted in the sum; `zw · rs` is, after it.
fn matmul_int(
    fx: &mut Fx,
    a: &[Buf],
    at: &[&TensorType],
    out: &Buf,
    out_ty: &TensorType,
    int: &IntAttrs,
) -> Result<(), String> {
    let (xt, wt) = (at[0], at[1]);
    let (k, n) = (wt.shape[0], wt.shape[1]);
    let m = numel(&xt.shape) / k;
    let zx = match xt.elem.as_quant() {
        None => 0,
        Some(_) if int.zx_in_bias => 0,
        Some(q) if !q.is_per_axis() => q.zero_points[0],
        Some(_) => return Err("the input must be per tensor".into()),
    };
    let zw_type: Vec<i64> = match wt.elem.as_quant() {
        None => vec![0; n],
        Some(q) => (0..n).map(|c| q.zero_point(c)).collect(),
    };
    let rows = a.get(3).map(|rs| (fx.base(rs), rs.ek));
    let zw = if rows.is_some() {
        vec![0; n]
    } else {
        zw_type.clone()
    };
    let zt_tab = per_channel_i64(fx, &zw_type);
    let (lo, hi) = out_ty
        .elem
        .int_range()
        .ok_or("the result must be an integer")?;
    let zw_tab = per_channel_i64(fx, &zw);
    let (xb, wb, ob) = (fx.base(&a[0]), fx.base(&a[1]), fx.base(out));
    let bias = a.get(2).map(|b| (fx.base(b), b.ek));
    let (xe, we) = (a[0].ek, a[1].ek);
    fx.nest(&[m, n], &mut |fx, i| {
        let (r, col) = (i[0], i[1]);
        let z = fx.c(0);
        let acc = fx.var(I64, z);
        let zwv = channel_value(fx, &zw, zw_tab, col);
        fx.for_n(k, |fx, kk| {
            let xi = fx.lin(&[(r, k as i64), (kk, 1)], 0);
            let wi = fx.lin(&[(kk, n as i64), (col, 1)], 0);
            let xv = fx.ld(xe, xb, xi);
            let wv = fx.ld(we, wb, wi);
            let xc = fx.b.ins().iadd_imm_s(xv, -zx);
            let wc = fx.b.ins().isub(wv, zwv);
            let p = fx.b.ins().imul(xc, wc);
            let cur = fx.b.use_var(acc);
            let nv = fx.b.ins().iadd(cur, p);
            fx.b.def_var(acc, nv);
        });
        let mut s = fx.b.use_var(acc);
        if let Some((rb, re)) = rows {
            let rv = fx.ld(re, rb, r);
            let zt = channel_value(fx, &zw_type, zt_tab, col);
            let t = fx.b.ins().imul(rv, zt);
            s = fx.b.ins().isub(s, t);
        }
        if let Some((bb, be)) = bias {
            let bv = fx.ld(be, bb, col);
            s = fx.b.ins().iadd(s, bv);
        }
        let y = fx.clamp(s, lo, hi);
        let oi = fx.lin(&[(r, n as i64), (col, 1)], 0);
        fx.st(out.ek, ob, oi, y);
    });
    Ok(())
}

/// `row_sums`: `Σ_k (x − zx)` per row, exact (the verifier proves it fits
/// i32).
fn row_sums(fx: &mut Fx, x: &Buf, xt: &TensorType, out: &Buf) -> Result<(), String> {
    let k = *xt.shape.last().ok_or("rank 0 input")?;
    let m = numel(&xt.shape) / k.max(1);
    let zx = match xt.elem.as_quant() {
        None => 0,
        Some(q) if !q.is_per_axis() => q.zero_points[0],
        Some(_) => return Err("the input must be per tensor".into()),
    };
    let (xb, ob) = (fx.base(x), fx.base(out));
    fx.nest(&[m], &mut |fx, i| {
        let r = i[0];
        let z = fx.c(0);
        let acc = fx.var(I64, z);
        fx.for_n(k, |fx, kk| {
            let xi = fx.lin(&[(r, k as i64), (kk, 1)], 0);
            let xv = fx.ld(x.ek, xb, xi);
            let xc = fx.b.ins().iadd_imm_s(xv, -zx);
            let cur = fx.b.use_var(acc);
            let nv = fx.b.ins().iadd(cur, xc);
            fx.b.def_var(acc, nv);
        });
        let s = fx.b.use_var(acc);
        fx.st(out.ek, ob, r, s);
    });
    Ok(())
}

/// A table of per-channel i64 values when they differ, else `None`.
fn per_channel_i64(fx: &mut Fx, vals: &[i64]) -> Option<Value> {
    (vals.iter().any(|&v| v != vals[0])).then(|| {
        let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        fx.rodata(bytes)
    })
}

fn channel_value(fx: &mut Fx, vals: &[i64], tab: Option<Value>, c: Value) -> Value {
    match tab {
        Some(t) => {
            let off = fx.b.ins().imul_imm_s(c, 8);
            let p = fx.b.ins().iadd(t, off);
            fx.b.ins().load(I64, super::flags(), p, 0)
        }
        None => fx.c(vals[0]),
    }
}

/// Direct convolution, float or integer (the integer form is the scalar
/// path and the lowering of grouped / depthwise convolutions).
fn conv(
    fx: &mut Fx,
    a: &[Buf],
    at: &[&TensorType],
    out: &Buf,
    out_ty: &TensorType,
    attrs: &Conv2dAttrs,
    int: Option<&IntAttrs>,
) -> Result<(), String> {
    let zx_in_bias = int.is_some_and(|i| i.zx_in_bias);
    let int = int.is_some();
    let (xt, wt) = (at[0], at[1]);
    let [n, c, h, w] = <[usize; 4]>::try_from(xt.shape.as_slice()).map_err(|_| "rank 4 input")?;
    let [o, cg, kh, kw] =
        <[usize; 4]>::try_from(wt.shape.as_slice()).map_err(|_| "rank 4 weights")?;
    let (oh, ow) = (out_ty.shape[2], out_ty.shape[3]);
    let g = attrs.groups;
    let og = o / g;
    let zx = if int {
        match xt.elem.as_quant() {
            None => 0,
            Some(q) if !q.is_per_axis() => q.zero_points[0],
            Some(_) => return Err("the input must be per tensor".into()),
        }
    } else {
        0
    };
    let zw: Vec<i64> = match wt.elem.as_quant() {
        None => vec![0; o],
        Some(q) => (0..o).map(|ch| q.zero_point(ch)).collect(),
    };
    let range = out_ty.elem.int_range();
    let zw_tab = if int { per_channel_i64(fx, &zw) } else { None };
    let (xb, wb, ob) = (fx.base(&a[0]), fx.base(&a[1]), fx.base(out));
    let bias = a.get(2).map(|b| (fx.base(b), b.ek));
    let (xe, we) = (a[0].ek, a[1].ek);
    let [sh, sw] = attrs.strides;
    let [dh, dw] = attrs.dilations;
    let (pt, pl) = (attrs.pads[0] as i64, attrs.pads[1] as i64);
    fx.nest(&[n, g, og, oh, ow], &mut |fx, i| {
        let (bn, gi, oo, oy, ox) = (i[0], i[1], i[2], i[3], i[4]);
        let oc = fx.lin(&[(gi, og as i64), (oo, 1)], 0);
        let c0 = fx.b.ins().imul_imm_s(gi, cg as i64);
        let init = if int { fx.c(0) } else { fx.cf(0.0) };
        let acc = fx.var(if int { I64 } else { F32 }, init);
        let zwv = if int {
            Some(channel_value(fx, &zw, zw_tab, oc))
        } else {
            None
        };
        fx.nest(&[cg, kh, kw], &mut |fx, j| {
            let (ci, ky, kx) = (j[0], j[1], j[2]);
            let ih = fx.lin(&[(oy, sh as i64), (ky, dh as i64)], -pt);
            let iw = fx.lin(&[(ox, sw as i64), (kx, dw as i64)], -pl);
            let vh = fx.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, ih, h as i64);
            let vw = fx.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, iw, w as i64);
            let valid = fx.b.ins().band(vh, vw);
            let cin = fx.b.ins().iadd(c0, ci);
            let xi = fx.lin(
                &[
                    (bn, (c * h * w) as i64),
                    (cin, (h * w) as i64),
                    (ih, w as i64),
                    (iw, 1),
                ],
                0,
            );
            let zero = fx.c(0);
            let xi = fx.b.ins().select(valid, xi, zero);
            let wi = fx.lin(
                &[
                    (oc, (cg * kh * kw) as i64),
                    (ci, (kh * kw) as i64),
                    (ky, kw as i64),
                    (kx, 1),
                ],
                0,
            );
            let xv = fx.ld(xe, xb, xi);
            let wv = fx.ld(we, wb, wi);
            let cur = fx.b.use_var(acc);
            let nv = if int {
                // Padding reads zx: it contributes 0, or zx·(w − zw)
                // when x's zero point is in the bias.
                let zxv = fx.c(zx);
                let xv = fx.b.ins().select(valid, xv, zxv);
                let xc = fx.b.ins().iadd_imm_s(xv, if zx_in_bias { 0 } else { -zx });
                let wc = fx.b.ins().isub(wv, zwv.expect("zw"));
                let p = fx.b.ins().imul(xc, wc);
                fx.b.ins().iadd(cur, p)
            } else {
                // Padding reads 0.0 and still takes part in the sum.
                let z = fx.cf(0.0);
                let xv = fx.b.ins().select(valid, xv, z);
                let p = fx.b.ins().fmul(xv, wv);
                fx.b.ins().fadd(cur, p)
            };
            fx.b.def_var(acc, nv);
        });
        let mut s = fx.b.use_var(acc);
        if let Some((bb, be)) = bias {
            let bv = fx.ld(be, bb, oc);
            s = if int {
                fx.b.ins().iadd(s, bv)
            } else {
                fx.b.ins().fadd(s, bv)
            };
        }
        if let Some((lo, hi)) = range {
            s = fx.clamp(s, lo, hi);
        }
        let oi = fx.lin(
            &[
                (bn, (o * oh * ow) as i64),
                (oc, (oh * ow) as i64),
                (oy, ow as i64),
                (ox, 1),
            ],
            0,
        );
        fx.st(out.ek, ob, oi, s);
    });
    Ok(())
}

fn matmul_f32(
    fx: &mut Fx,
    a: &[Buf],
    at: &[&TensorType],
    out: &Buf,
    out_ty: &TensorType,
) -> Result<(), CodegenError> {
    let (xs, ws) = (&at[0].shape, &at[1].shape);
    let (m, k) = (xs[xs.len() - 2], xs[xs.len() - 1]);
    let n = ws[ws.len() - 1];
    let batch = numel(&xs[..xs.len() - 2]);
    let b_batched = ws.len() > 2;
    let _ = out_ty;
    let (xb, wb, ob) = (fx.base(&a[0]), fx.base(&a[1]), fx.base(out));
    fx.nest(&[batch, m, n], &mut |fx, i| {
        let (bi, r, col) = (i[0], i[1], i[2]);
        let z = fx.cf(0.0);
        let acc = fx.var(F32, z);
        fx.for_n(k, |fx, kk| {
            let xi = fx.lin(&[(bi, (m * k) as i64), (r, k as i64), (kk, 1)], 0);
            let bs = if b_batched { (k * n) as i64 } else { 0 };
            let wi = fx.lin(&[(bi, bs), (kk, n as i64), (col, 1)], 0);
            let xv = fx.ld(Ek::F32, xb, xi);
            let wv = fx.ld(Ek::F32, wb, wi);
            let p = fx.b.ins().fmul(xv, wv);
            let cur = fx.b.use_var(acc);
            let nv = fx.b.ins().fadd(cur, p);
            fx.b.def_var(acc, nv);
        });
        let s = fx.b.use_var(acc);
        let oi = fx.lin(&[(bi, (m * n) as i64), (r, n as i64), (col, 1)], 0);
        fx.st(Ek::F32, ob, oi, s);
    });
    Ok(())
}

fn dense(fx: &mut Fx, a: &[Buf], at: &[&TensorType], out: &Buf) -> Result<(), CodegenError> {
    let (m, k) = (at[0].shape[0], at[0].shape[1]);
    let n = at[1].shape[0];
    let (xb, wb, ob) = (fx.base(&a[0]), fx.base(&a[1]), fx.base(out));
    let bias = a.get(2).map(|b| fx.base(b));
    fx.nest(&[m, n], &mut |fx, i| {
        let (r, col) = (i[0], i[1]);
        let z = fx.cf(0.0);
        let acc = fx.var(F32, z);
        fx.for_n(k, |fx, kk| {
            let xi = fx.lin(&[(r, k as i64), (kk, 1)], 0);
            let wi = fx.lin(&[(col, k as i64), (kk, 1)], 0);
            let xv = fx.ld(Ek::F32, xb, xi);
            let wv = fx.ld(Ek::F32, wb, wi);
            let p = fx.b.ins().fmul(xv, wv);
            let cur = fx.b.use_var(acc);
            let nv = fx.b.ins().fadd(cur, p);
            fx.b.def_var(acc, nv);
        });
        let mut s = fx.b.use_var(acc);
        if let Some(bb) = bias {
            let bv = fx.ld(Ek::F32, bb, col);
            s = fx.b.ins().fadd(s, bv);
        }
        let oi = fx.lin(&[(r, n as i64), (col, 1)], 0);
        fx.st(Ek::F32, ob, oi, s);
    });
    Ok(())
}

fn softmax(fx: &mut Fx, x: &Buf, out: &Buf, shape: &[usize], axis: usize) {
    let len = shape[axis];
    let inner = numel(&shape[axis + 1..]);
    let outer = numel(&shape[..axis]);
    let sig = fx.sig(&[F32], &[F32]);
    let expf = fx.import("qcc_expf", sig);
    let (xb, ob) = (fx.base(x), fx.base(out));
    fx.nest(&[outer, inner], &mut |fx, i| {
        let (o, ii) = (i[0], i[1]);
        let at = |fx: &mut Fx, k: Value| {
            fx.lin(&[(o, (len * inner) as i64), (k, inner as i64), (ii, 1)], 0)
        };
        let zero = fx.c(0);
        let first = at(fx, zero);
        let x0 = fx.ld(Ek::F32, xb, first);
        let m = fx.var(F32, x0);
        fx.for_n(len, |fx, k| {
            let idx = at(fx, k);
            let v = fx.ld(Ek::F32, xb, idx);
            let cur = fx.b.use_var(m);
            let nv = fx.b.ins().fmax(cur, v);
            fx.b.def_var(m, nv);
        });
        let mv = fx.b.use_var(m);
        let z = fx.cf(0.0);
        let sum = fx.var(F32, z);
        fx.for_n(len, |fx, k| {
            let idx = at(fx, k);
            let v = fx.ld(Ek::F32, xb, idx);
            let d = fx.b.ins().fsub(v, mv);
            let call = fx.b.ins().call(expf, &[d]);
            let e = fx.b.inst_results(call)[0];
            fx.st(Ek::F32, ob, idx, e);
            let cur = fx.b.use_var(sum);
            let nv = fx.b.ins().fadd(cur, e);
            fx.b.def_var(sum, nv);
        });
        let sv = fx.b.use_var(sum);
        fx.for_n(len, |fx, k| {
            let idx = at(fx, k);
            let e = fx.ld(Ek::F32, ob, idx);
            let y = fx.b.ins().fdiv(e, sv);
            fx.st(Ek::F32, ob, idx, y);
        });
    });
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PoolKind {
    Max,
    Avg,
}

fn pool(
    fx: &mut Fx,
    x: &Buf,
    xt: &TensorType,
    out: &Buf,
    out_ty: &TensorType,
    attrs: &Pool2dAttrs,
    kind: PoolKind,
) -> Result<(), String> {
    let [n, c, h, w] = <[usize; 4]>::try_from(xt.shape.as_slice()).map_err(|_| "rank 4 input")?;
    let (oh, ow) = (out_ty.shape[2], out_ty.shape[3]);
    let [kh, kw] = attrs.kernel;
    let [sh, sw] = attrs.strides;
    let (pt, pl) = (attrs.pads[0] as i64, attrs.pads[1] as i64);
    let is_f32 = xt.elem.is_f32();
    let full = kh * kw;
    let mut full_entry: Option<Rescale> = None;
    // Quantized average: one rescale per possible window count.
    let quant = if kind == PoolKind::Avg && !is_f32 {
        let qx = xt
            .elem
            .as_quant()
            .filter(|q| !q.is_per_axis())
            .ok_or("the operand must be quantized per tensor")?;
        let qy = out_ty
            .elem
            .as_quant()
            .filter(|q| !q.is_per_axis())
            .ok_or("the result must be quantized per tensor")?;
        let mut entries = Vec::with_capacity(full + 1);
        for cnt in 1..=full {
            let r = rescale(attrs.mode, qx.scales[0], qy.scales[0], cnt as u32)?;
            entries.push((r, 0));
        }
        // Entry 0 (a count that never occurs) repeats entry 1.
        entries.insert(0, entries[0]);
        full_entry = Some(entries[full].0);
        let kind_r = entries[1].0;
        let tab = fx.rescale_table(&entries);
        Some((
            kind_r,
            tab,
            qx.zero_points[0],
            qy.zero_points[0],
            qy.storage_min,
            qy.storage_max,
        ))
    } else {
        None
    };
    let (xb, ob) = (fx.base(x), fx.base(out));
    let ek = x.ek;
    // Every window inside the image (no padding reached): no bounds checks,
    // and the count of an average is the constant window size.
    let inside = attrs.pads.iter().all(|&p| p == 0)
        && oh > 0
        && ow > 0
        && (oh - 1) * sh + kh <= h
        && (ow - 1) * sw + kw <= w;
    // The compile-time rescale of a full window.
    let full_rescale = quant.map(|_| full);
    fx.nest(&[n, c, oh, ow], &mut |fx, i| {
        let (bn, ch, oy, ox) = (i[0], i[1], i[2], i[3]);
        let init = match (kind, is_f32) {
            (PoolKind::Max, true) => fx.cf(f32::NEG_INFINITY),
            (PoolKind::Max, false) => fx.c(i64::MIN),
            (PoolKind::Avg, true) => fx.cf(0.0),
            (PoolKind::Avg, false) => fx.c(0),
        };
        let acc = fx.var(if is_f32 { F32 } else { I64 }, init);
        let zero = fx.c(0);
        let cnt = fx.var(I64, zero);
        let tap = |fx: &mut Fx, j: &[Value]| {
            let ih = fx.lin(&[(oy, sh as i64), (j[0], 1)], -pt);
            let iw = fx.lin(&[(ox, sw as i64), (j[1], 1)], -pl);
            let valid = if inside {
                fx.b.ins().iconst(cranelift_codegen::ir::types::I8, 1)
            } else {
                let vh = fx.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, ih, h as i64);
                let vw = fx.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, iw, w as i64);
                fx.b.ins().band(vh, vw)
            };
            let xi = fx.lin(
                &[
                    (bn, (c * h * w) as i64),
                    (ch, (h * w) as i64),
                    (ih, w as i64),
                    (iw, 1),
                ],
                0,
            );
            let xi = if inside {
                xi
            } else {
                let zero = fx.c(0);
                fx.b.ins().select(valid, xi, zero)
            };
            let v = fx.ld(ek, xb, xi);
            let cur = fx.b.use_var(acc);
            let nv = match (kind, is_f32) {
                (PoolKind::Max, true) => fx.b.ins().fmax(cur, v),
                (PoolKind::Max, false) => fx.b.ins().smax(cur, v),
                (PoolKind::Avg, true) => fx.b.ins().fadd(cur, v),
                (PoolKind::Avg, false) => {
                    let zx = quant.map_or(0, |q| q.2);
                    let d = fx.b.ins().iadd_imm_s(v, -zx);
                    fx.b.ins().iadd(cur, d)
                }
            };
            if inside {
                fx.b.def_var(acc, nv);
            } else {
                let nv = fx.b.ins().select(valid, nv, cur);
                fx.b.def_var(acc, nv);
                let cc = fx.b.use_var(cnt);
                let one = fx.b.ins().uextend(I64, valid);
                let nc = fx.b.ins().iadd(cc, one);
                fx.b.def_var(cnt, nc);
            }
        };
        if kh * kw <= 16 {
            // Small windows: straight-line code, constant offsets.
            for ky in 0..kh {
                for kx in 0..kw {
                    let j = [fx.c(ky as i64), fx.c(kx as i64)];
                    tap(fx, &j);
                }
            }
        } else {
            fx.nest(&[kh, kw], &mut |fx, j| tap(fx, j));
        }
        let s = fx.b.use_var(acc);
        let count = if attrs.count_include_pad || inside {
            fx.c(full as i64)
        } else {
            fx.b.use_var(cnt)
        };
        let y = match (kind, quant) {
            (PoolKind::Max, _) => s,
            (PoolKind::Avg, None) => {
                let cf = fx.b.ins().fcvt_from_sint(F32, count);
                fx.b.ins().fdiv(s, cf)
            }
            (PoolKind::Avg, Some((kind_r, tab, _, zy, lo, hi))) => {
                let r = match (inside || attrs.count_include_pad, full_rescale) {
                    (true, Some(_)) => fx.rescale_const(full_entry.expect("quantized")),
                    _ => fx.rescale_entry(kind_r, tab, count).0,
                };
                let s = fx.sat_i32(s);
                let y = fx.apply_rescale(r, s);
                let z = fx.c(zy);
                fx.finish_q(y, z, lo, hi)
            }
        };
        let oi = fx.lin(
            &[
                (bn, (c * oh * ow) as i64),
                (ch, (oh * ow) as i64),
                (oy, ow as i64),
                (ox, 1),
            ],
            0,
        );
        fx.st(out.ek, ob, oi, y);
    });
    Ok(())
}
