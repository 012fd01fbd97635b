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
    fx.nest(&shape, &mut |fx, idx| {
        let s: Vec<_> = idx.iter().copied().zip(src.iter().copied()).collect();
        let d: Vec<_> = idx.iter().copied().zip(dst.iter().copied()).collect();
        let si = fx.lin(&s, src_off);
        let di = fx.lin(&d, dst_off);
        let v = fx.ld(x.ek, xb, si);
        fx.st(out.ek, ob, di, v);
    });
}
