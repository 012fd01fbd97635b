//! Fusion: which requantize, clamp and bias add a GEMM, depthwise or direct
//! convolution takes into its epilogue, and the epilogue parameters it gets.

use super::gemm::GemmPrep;
#[allow(unused_imports)]
use super::*;
use crate::plan::Ek;
use crate::shim::DotPath;
use qcc_ir::op::{Op, RequantMode};
use qcc_ir::quant::Rescale;
use qcc_ir::types::TensorType;
use qcc_ir::{Graph, ValueId};

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
        ort: false,
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
    if !d.may_fuse {
        // The AVX2 kernel stores the i32 result only, and paths without
        // fused GEMMs fuse no depthwise either.
        return false;
    }
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
pub(super) struct FuseInput<'a> {
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
pub(super) fn fuse_params(
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

pub(super) fn graph_mode(m: crate::shim::FusedMode) -> RequantMode {
    match m {
        crate::shim::FusedMode::Float => RequantMode::Float,
        crate::shim::FusedMode::Single => RequantMode::SingleRound,
    }
}
