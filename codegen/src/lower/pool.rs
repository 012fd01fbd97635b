//! Max and average pooling (f32 and quantized) and global average pooling.

#[allow(unused_imports)]
use super::*;
use super::{F32, Fx, I64};
use crate::plan::{Buf, Ek};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, Value};
use qcc_ir::op::Pool2dAttrs;
use qcc_ir::quant::Rescale;
use qcc_ir::types::TensorType;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum PoolKind {
    Max,
    Avg,
}

pub(super) fn pool(
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
    // A maximum: the shim's vectorized row maxima (each window in the
    // interpreter's order, so f32's NaN and signed zeros come out alike).
    let geom = [h, w, oh, ow, kh, kw, sh, sw, attrs.pads[0], attrs.pads[1]];
    if kind == PoolKind::Max
        && !fx.portable
        && matches!(x.ek, Ek::U8 | Ek::I8 | Ek::F32)
        && x.ek == out.ek
        && crate::shim::pool_windows_hold_elements(&geom)
    {
        let bytes: Vec<u8> = geom
            .iter()
            .flat_map(|&g| (g as u64).to_le_bytes())
            .collect();
        let gp = fx.rodata(bytes);
        let (xb, ob) = (fx.base(x), fx.base(out));
        let sig = fx.sig(&[I64; 5], &[]);
        let f = fx.import("qcc_maxpool", sig);
        let kind = match x.ek {
            Ek::U8 => 0,
            Ek::I8 => 1,
            _ => 2,
        };
        let (pv, sv) = (fx.c((n * c) as i64), fx.c(kind));
        fx.b.ins().call(f, &[xb, pv, gp, sv, ob]);
        return Ok(());
    }
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
