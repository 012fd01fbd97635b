//! Convolutions: the float and integer loop nests, the depthwise kernel
//! and the direct (im2col-free) AVX-512 convolution.

use super::gemm::GemmPrep;
#[allow(unused_imports)]
use super::*;
use super::{F32, Fx, I64};
use crate::plan::{Buf, Ek};
use crate::shim::DotPath;
use cranelift_codegen::ir::InstBuilder;
use cranelift_codegen::ir::condcodes::IntCC;
use qcc_ir::op::{Conv2dAttrs, IntAttrs};
use qcc_ir::types::{ScalarType, TensorType};
use qcc_ir::{Graph, ValueId};

/// The depthwise helper's preparation, where it applies: one input channel
/// per group and one output per channel, constant 8-bit weights of zero
/// point 0, 8-bit per-tensor activations, an i32 result and a host with the
/// kernel.
pub(super) fn depthwise(
    graph: &Graph,
    v: ValueId,
    path: DotPath,
    a: &Conv2dAttrs,
    int: &IntAttrs,
) -> Option<Prep> {
    let node = graph.node(v);
    let args = graph.args(v);
    let (xt, wt) = (graph.ty(args[0]), graph.ty(args[1]));
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
    depthwise_prep(
        path,
        &xt.shape,
        &wt.shape,
        &node.ty,
        a,
        signed,
        zx,
        int.zx_in_bias,
        &wv,
    )
    .map(|d| Prep::Depthwise(Box::new(d)))
}

/// The depthwise helper's preparation from the op's parts, where it
/// applies (a host with the kernel, one input channel per group and one
/// output per channel, an i32 result): `x` of `x_shape` (signed when
/// `signed`, zero point `zx`, which the bias holds when `zx_in_bias`), the
/// weights `wv` (row-major, zero point 0) of `w_shape`, the result type
/// `out`.
#[allow(clippy::too_many_arguments)]
pub(super) fn depthwise_prep(
    path: DotPath,
    x_shape: &[usize],
    w_shape: &[usize],
    out: &TensorType,
    a: &Conv2dAttrs,
    signed: bool,
    zx: i64,
    zx_in_bias: bool,
    wv: &[i64],
) -> Option<DepthwisePrep> {
    use crate::shim::DepthwiseGeometry;
    if !matches!(
        path,
        DotPath::Avx512Vnni | DotPath::Amx | DotPath::AvxVnni | DotPath::Avx2
    ) || !crate::shim::has_depthwise_kernel()
    {
        return None;
    }
    let [n, c, h, w] = <[usize; 4]>::try_from(x_shape).ok()?;
    let [o, cg, kh, kw] = <[usize; 4]>::try_from(w_shape).ok()?;
    if a.groups != c || o != c || cg != 1 || out.elem.storage() != ScalarType::I32 {
        return None;
    }
    if wv.len() != c * kh * kw || wv.iter().any(|&x| !(-128..=127).contains(&x)) {
        return None;
    }
    let (lo, hi) = out.elem.int_range()?;
    let ua = zx + if signed { 128 } else { 0 };
    // What the sums subtract: `ua` itself, or only the flip of signed
    // inputs when x's zero point is in the bias (padding still holds `ua`).
    let ua_sub = if zx_in_bias { ua - zx } else { ua };
    let win = qcc_ir::window::Window::new([h, w], [kh, kw], a.strides, a.pads, a.dilations).ok()?;
    if [win.oh, win.ow] != [out.shape[2], out.shape[3]] {
        return None;
    }
    let mut geo = DepthwiseGeometry {
        flip: signed as usize,
        ua: ua as usize,
        lo,
        hi,
        ..DepthwiseGeometry::from_window(n, c, &win)
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
    Some(DepthwisePrep {
        geo,
        w4,
        colc,
        colbound,
        fused: None,
        fused_into: None,
        may_fuse: matches!(path, DotPath::Avx512Vnni | DotPath::Amx)
            && crate::shim::has_fused_depthwise(),
        units: 1,
    })
}

/// The run-time zero point of a dynamic depthwise convolution
/// (`conv2d_int_dyn`, see `super::dynamic`): the [`DepthwisePrep`] is made
/// for `zx = 0`; each call stores, at its first unit's place in two more
/// temporaries (`temps[1]`, `temps[2]`: `units` copies each), the geometry
/// with the padding value `zx + flip` and the bias `−zx · wsum[c]`.
pub(super) struct DynDepthwise<'a> {
    /// The rank-0 buffer holding `zx`.
    pub zx: &'a Buf,
    /// `Σ w` per channel (zero point 0).
    pub wsum: &'a [i32],
}

/// Bytes of one copy of the geometry of a dynamic depthwise convolution.
pub(super) fn dyn_geo_bytes(d: &DepthwisePrep) -> usize {
    d.geo.bytes().len()
}

/// Emits the depthwise convolution on `qcc_depthwise` over the units
/// `t0..t1` of the call (planes `p0..p1`, unit `t0`'s scratch).
pub(super) fn depthwise_emit(
    fx: &mut Fx,
    d: &DepthwisePrep,
    x: &Buf,
    bias: Option<&Buf>,
    out: &Buf,
    temps: &[usize],
    dz: Option<&DynDepthwise>,
) {
    let to_bytes = |v: &[i32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let xb = fx.base(x);
    let w4 = fx.rodata(to_bytes(&d.w4));
    let colc = fx.rodata(to_bytes(&d.colc));
    let ob = fx.base(out);
    let (t0, t1) = (fx.t0, fx.t1);
    let (geo, bias) = match dz {
        None => {
            let geo = fx.rodata(d.geo.bytes());
            let bias = match bias {
                Some(b) => fx.base(b),
                None => fx.c(0),
            };
            (geo, bias)
        }
        Some(dz) => {
            let zb = fx.base(dz.zx);
            let z0 = fx.c(0);
            let zx = fx.ld(dz.zx.ek, zb, z0);
            let flip = if d.geo.flip != 0 { 128 } else { 0 };
            let ua = fx.b.ins().iadd_imm_s(zx, flip);
            let gb = d.geo.bytes();
            let g0 = fx.b.ins().iadd_imm_s(fx.arena, temps[1] as i64);
            let goff = fx.b.ins().imul_imm_s(t0, gb.len() as i64);
            let geo = fx.b.ins().iadd(g0, goff);
            // Entry 17 of the geometry is the padding value `ua`.
            for (i, word) in gb.chunks_exact(8).enumerate() {
                let v = if i == 17 {
                    ua
                } else {
                    let w = i64::from_le_bytes(word.try_into().expect("8 bytes"));
                    fx.c(w)
                };
                fx.b.ins().store(flags(), v, geo, (8 * i) as i32);
            }
            // The bias `−zx · Σ w`: exact in i32 (`super::dynamic` checked
            // `255 · Σ |w|` fits).
            let nzx = fx.b.ins().ineg(zx);
            let ws = fx.rodata(to_bytes(dz.wsum));
            let b0 = fx.b.ins().iadd_imm_s(fx.arena, temps[2] as i64);
            let boff = fx.b.ins().imul_imm_s(t0, (4 * d.geo.c) as i64);
            let bb = fx.b.ins().iadd(b0, boff);
            fx.for_n(d.geo.c.max(1), |fx, j| {
                let w = fx.ld(Ek::I32, ws, j);
                let v = fx.b.ins().imul(w, nzx);
                fx.st(Ek::I32, bb, j, v);
            });
            (geo, bb)
        }
    };
    let tmp = fx.b.ins().iadd_imm_s(fx.arena, temps[0] as i64);
    let toff = fx.b.ins().imul_imm_s(t0, d.geo.scratch() as i64);
    let tmp = fx.b.ins().iadd(tmp, toff);
    let planes = (d.geo.n * d.geo.c) as i64;
    let bound = |fx: &mut Fx, t: Value| {
        let p = fx.b.ins().imul_imm_s(t, planes);
        fx.b.ins().udiv_imm_u(p, d.units as i64)
    };
    let (p0, p1) = (bound(fx, t0), bound(fx, t1));
    let ep = match &d.fused {
        Some(fp) => fx.rodata(fp.bytes(d.geo.c)),
        None => fx.c(0),
    };
    let sig = fx.sig(&[I64; 10], &[]);
    let f = fx.import("qcc_depthwise", sig);
    fx.b.ins()
        .call(f, &[xb, geo, w4, colc, bias, ob, tmp, ep, p0, p1]);
}

/// Emits phase `phase` of the direct convolution: `0` lays out the input,
/// `1` runs the units `t0..t1` (image `u / chunks`, pixel chunk
/// `u % chunks`).
#[cfg(target_arch = "x86_64")]
pub(super) fn direct_conv_emit(
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
        || fp.lut.is_some()
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

/// Direct convolution, float or integer (the integer form is the scalar
/// path and the lowering of grouped / depthwise convolutions).
pub(super) fn conv(
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
    if !int && !fx.portable && a.iter().chain([out]).all(|b| b.ek == Ek::F32) {
        return conv_f32(fx, a, at, out, out_ty, attrs);
    }
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

/// The f32 convolution through the shim's im2col and tiled matmul
/// (`qcc_conv2d_f32`, the interpreter's order of operations).
fn conv_f32(
    fx: &mut Fx,
    a: &[Buf],
    at: &[&TensorType],
    out: &Buf,
    out_ty: &TensorType,
    attrs: &Conv2dAttrs,
) -> Result<(), String> {
    let [n, c, h, w] =
        <[usize; 4]>::try_from(at[0].shape.as_slice()).map_err(|_| "rank 4 input")?;
    let [o, _, kh, kw] =
        <[usize; 4]>::try_from(at[1].shape.as_slice()).map_err(|_| "rank 4 weights")?;
    let (oh, ow) = (out_ty.shape[2], out_ty.shape[3]);
    let [sh, sw] = attrs.strides;
    let [dh, dw] = attrs.dilations;
    let prm: [usize; crate::shim::CONV_F32_PARAMS] = [
        n,
        c,
        h,
        w,
        o,
        attrs.groups,
        kh,
        kw,
        oh,
        ow,
        sh,
        sw,
        dh,
        dw,
        attrs.pads[0],
        attrs.pads[1],
    ];
    let bytes = prm.iter().flat_map(|&v| (v as i64).to_le_bytes()).collect();
    let prm = fx.rodata(bytes);
    let (xb, wb, ob) = (fx.base(&a[0]), fx.base(&a[1]), fx.base(out));
    let bb = match a.get(2) {
        Some(b) => fx.base(b),
        None => fx.c(0),
    };
    let sig = fx.sig(&[I64; 5], &[]);
    let f = fx.import("qcc_conv2d_f32", sig);
    fx.b.ins().call(f, &[xb, wb, bb, prm, ob]);
    Ok(())
}
