//! `dense_nbits`: the weights stay 4- or 8-bit in read-only data (their
//! codes made unsigned, rows byte-aligned), the scales and zero points
//! beside them, and the op calls `shim::nbits::qcc_dense_nbits`, which
//! dequantizes in registers. Units of work are chunks of weight rows, so
//! threads split N.

use super::{Fx, I64};
use crate::plan::Buf;
use crate::shim::DotPath;
use crate::shim::nbits::{NbitsParams, pack, pack_params, panel_width, pick_kernel, row_bytes};
use cranelift_codegen::ir::InstBuilder;
use qcc_ir::op::Op;
use qcc_ir::tensor::TensorData;
use qcc_ir::types::ScalarType;
use qcc_ir::{Graph, ValueId};

/// Weight rows per unit of work when N is split.
const CHUNK: usize = 64;

/// Everything decided at compile time.
#[derive(Debug)]
pub(crate) struct NbitsPrep {
    pub params: NbitsParams,
    /// `n` rows of `row_bytes(k, bits)` unsigned codes, 4-bit ones in the
    /// order of the kernel (`shim::nbits::pack`).
    pub weights: Vec<u8>,
    /// `[n][k / block]`, in the kernel's order (`shim::nbits::pack_params`).
    pub scales: Vec<f32>,
    /// `[n][k / block]`, offset with the codes (so in 0..=255).
    pub zps: Vec<u8>,
    pub units: usize,
}

/// The preparation of a `dense_nbits` node, `None` if its weights are not a
/// constant of a blocked type (a graph the verifier rejects).
pub(crate) fn prepare(graph: &Graph, v: ValueId, path: DotPath) -> Option<NbitsPrep> {
    let node = graph.node(v);
    if !matches!(node.op, Op::DenseNbits | Op::DenseNbitsQ8) {
        return None;
    }
    let args = graph.args(v);
    let (xt, wt) = (graph.ty(args[0]), graph.ty(args[1]));
    let q = wt.elem.as_quant().filter(|q| q.is_blocked())?;
    let wc = graph.node(args[1]).op.as_const()?;
    let (n, k) = (wt.shape[0], wt.shape[1]);
    let block = q.block?;
    let m = xt.num_elements()? / k.max(1);
    let (bits, offset) = match q.storage {
        ScalarType::U4 => (4u32, 0i64),
        ScalarType::I4 => (4, 8),
        ScalarType::U8 => (8, 0),
        ScalarType::I8 => (8, 128),
        _ => return None,
    };
    let rb = row_bytes(k, bits);
    let weights = match (&*wc.data, bits) {
        // Row-major nibbles are already byte-aligned rows when K is even;
        // `q + 8` of an i4 code is its nibble with the top bit flipped.
        (TensorData::U4(p), _) if k.is_multiple_of(2) => p.bytes.clone(),
        (TensorData::I4(p), _) if k.is_multiple_of(2) => p.bytes.iter().map(|b| b ^ 0x88).collect(),
        (TensorData::U8(d), _) => d.clone(),
        (TensorData::I8(d), _) => d.iter().map(|&b| (b as u8) ^ 0x80).collect(),
        (d, 4) => {
            let mut out = vec![0u8; n * rb];
            for c in 0..n {
                for kk in 0..k {
                    let u = (d.get_int(c * k + kk)? + offset) as u8;
                    out[c * rb + kk / 2] |= (u & 0x0f) << (4 * (kk % 2));
                }
            }
            out
        }
        _ => return None,
    };
    if weights.len() != n * rb {
        return None;
    }
    let allow_512 = matches!(path, DotPath::Amx | DotPath::Avx512Vnni);
    let q8 = matches!(node.op, Op::DenseNbitsQ8);
    let kernel = pick_kernel(k, block, bits, q8, path.uses_kernels(), allow_512);
    let panel = panel_width(kernel, m);
    let weights = if bits == 4 {
        pack(kernel, panel, &weights, (n, k, block))
    } else {
        weights
    };
    let zps: Vec<u8> = q.zero_points.iter().map(|&z| (z + offset) as u8).collect();
    let kb = k / block.max(1);
    let zps = pack_params(kernel, panel, &zps, n, kb);
    let scales = pack_params(kernel, panel, &q.scales, n, kb);
    let params = NbitsParams {
        m: m as u64,
        n: n as u64,
        k: k as u64,
        block: block as u64,
        bits: bits as u64,
        kernel,
        q8: q8 as u64,
        panel: panel as u64,
    };
    let units = if n * k >= 1 << 20 {
        n.div_ceil(CHUNK)
    } else {
        1
    };
    Some(NbitsPrep {
        params,
        weights,
        scales,
        zps,
        units,
    })
}

/// Emits the call for the units `t0..t1`.
pub(super) fn emit(
    fx: &mut Fx,
    p: &NbitsPrep,
    x: &Buf,
    bias: Option<&Buf>,
    out: &Buf,
) -> Result<(), String> {
    if fx.portable {
        return Err(
            "not available in an ahead-of-time object yet (the JIT runs it with the \
                    shim's 4-bit kernels, which an object cannot call)"
                .into(),
        );
    }
    let xb = fx.base(x);
    let wb = fx.rodata(p.weights.clone());
    let sb = fx.rodata(p.scales.iter().flat_map(|s| s.to_le_bytes()).collect());
    let zb = fx.rodata(p.zps.clone());
    let bb = match bias {
        Some(b) => fx.base(b),
        None => fx.c(0),
    };
    let ob = fx.base(out);
    let pb = fx.rodata(p.params.bytes());
    let n = p.params.n as i64;
    let chunk = if p.units > 1 { CHUNK as i64 } else { n };
    let (t0, t1) = (fx.t0, fx.t1);
    let nv = fx.c(n);
    let lo = fx.b.ins().imul_imm_s(t0, chunk);
    let lo = fx.b.ins().smin(lo, nv);
    let hi = fx.b.ins().imul_imm_s(t1, chunk);
    let hi = fx.b.ins().smin(hi, nv);
    let sig = fx.sig(&[I64; 9], &[]);
    let f = fx.import("qcc_dense_nbits", sig);
    fx.b.ins().call(f, &[xb, wb, sb, zb, bb, ob, pb, lo, hi]);
    Ok(())
}
