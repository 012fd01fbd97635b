//! Data movement: strided copies (transpose, slice, concat, reshape of
//! non-contiguous views).

use super::Fx;
#[allow(unused_imports)]
use super::*;
use crate::plan::Buf;
use cranelift_codegen::ir::{InstBuilder, Value};

#[allow(clippy::too_many_arguments)]
pub(super) fn copy_strided(
    fx: &mut Fx,
    x: &Buf,
    out: &Buf,
    shape: &[usize],
    src: &[i64],
    src_off: i64,
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
            let si = fx.lin(&s, src_off);
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
    let moves_last = src.last() != Some(&1) && src.contains(&1);
    if !fx.portable
        && moves_last
        && x.ek == out.ek
        && numel(&shape) >= 1024
        && src.iter().chain(&dst).all(|&s| s >= 0)
    {
        // A transpose that moves the last axis: the shim's blocked copy.
        let mut dims: Vec<u8> = Vec::new();
        for v in shape
            .iter()
            .map(|&n| n as i64)
            .chain(src.iter().copied())
            .chain(dst.iter().copied())
        {
            dims.extend_from_slice(&v.to_le_bytes());
        }
        let dp = fx.rodata(dims);
        let xp = fx.b.ins().iadd_imm_s(xb, src_off * x.ek.size() as i64);
        let op = fx.b.ins().iadd_imm_s(ob, dst_off * out.ek.size() as i64);
        let (es, nd) = (fx.c(x.ek.size() as i64), fx.c(shape.len() as i64));
        let sig = fx.sig(&[super::I64; 5], &[]);
        let f = fx.import("qcc_copy_strided", sig);
        fx.b.ins().call(f, &[xp, op, es, nd, dp]);
        return;
    }
    fx.nest(&shape, &mut |fx, idx| {
        let s: Vec<_> = idx.iter().copied().zip(src.iter().copied()).collect();
        let d: Vec<_> = idx.iter().copied().zip(dst.iter().copied()).collect();
        let si = fx.lin(&s, src_off);
        let di = fx.lin(&d, dst_off);
        let v = fx.ld(x.ek, xb, si);
        fx.st(out.ek, ob, di, v);
    });
}

/// `gather x, idx {axis}` (`x` of shape `[outer, d, inner]` once
/// collapsed): for each outer index and each index `i` of `idx` (wrapped
/// when negative, then clamped into `0..d`, as the interpreter does), the
/// `inner` elements at `i` — one `memcpy` when they fill 64 bytes or more.
pub(super) fn gather(
    fx: &mut Fx,
    x: &Buf,
    idx: &Buf,
    out: &Buf,
    shape: &[usize],
    count: usize,
    axis: usize,
) {
    use cranelift_codegen::ir::condcodes::IntCC;
    let outer: usize = shape[..axis].iter().product();
    let d = shape[axis] as i64;
    let inner: usize = shape[axis + 1..].iter().product();
    if outer * count * inner == 0 {
        return;
    }
    let (xb, ib, ob) = (fx.base(x), fx.base(idx), fx.base(out));
    let size = x.ek.size() as i64;
    let cfg = cranelift_module::Module::target_config(&*fx.module);
    fx.nest(&[outer, count], &mut |fx, oi| {
        let (o, k) = (oi[0], oi[1]);
        let i = fx.ld(idx.ek, ib, k);
        let wrapped = fx.b.ins().iadd_imm_s(i, d);
        let neg = fx.b.ins().icmp_imm_s(IntCC::SignedLessThan, i, 0);
        let i = fx.b.ins().select(neg, wrapped, i);
        let zero = fx.c(0);
        let last = fx.c(d - 1);
        let i = fx.b.ins().smax(i, zero);
        let i = fx.b.ins().smin(i, last);
        // Source row (o·d + i)·inner, destination row (o·count + k)·inner.
        let src_row = fx.lin(&[(o, d), (i, 1)], 0);
        let src = fx.b.ins().imul_imm_s(src_row, inner as i64);
        let dst_row = fx.lin(&[(o, count as i64), (k, 1)], 0);
        let dst = fx.b.ins().imul_imm_s(dst_row, inner as i64);
        if inner as i64 * size >= 64 && x.ek == out.ek {
            let so = fx.b.ins().imul_imm_s(src, size);
            let dof = fx.b.ins().imul_imm_s(dst, size);
            let sp = fx.b.ins().iadd(xb, so);
            let dp = fx.b.ins().iadd(ob, dof);
            let nbytes = fx.c(inner as i64 * size);
            fx.b.call_memcpy(cfg, dp, sp, nbytes);
        } else {
            fx.for_n(inner, |fx, j| {
                let si = fx.b.ins().iadd(src, j);
                let di = fx.b.ins().iadd(dst, j);
                let v = fx.ld(x.ek, xb, si);
                fx.st(out.ek, ob, di, v);
            });
        }
    });
}
