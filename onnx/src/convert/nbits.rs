//! Weight-only blocked quantization: `com.microsoft.MatMulNBits` becomes
//! `dense_nbits`, its weights a constant of a blocked type that stays 4- or
//! 8-bit (never folded to f32).
//!
//! `B` is `[N, K/block, block·bits/8]` bytes: row `n`'s K codes, unsigned,
//! two a byte for 4 bits (the lower `k` in the low nibble), which is the
//! row-major packing of a `[N, K]` `u4` tensor when K is even. `scales` are
//! `[N · K/block]` (f32, or f16 converted exactly). `zero_points` are
//! `uint8`, packed like the codes, each row's `K/block` values starting on
//! a byte; absent, they are `2^(bits−1)` (onnxruntime's default). At
//! `accuracy_level` 0 to 3 onnxruntime's CPU kernel computes in f32, which
//! `dense_nbits` defines (its summation order differs: float rounding
//! only); at level 4 it quantizes the activations to int8 per block of K
//! (MLAS `CompInt8`), which `dense_nbits_q8` defines: the same codes as
//! onnxruntime's quantizer (scale `amax / 127`, multiplier `127 / amax`,
//! ties to even), the integer parts exact, the float sum of the blocks in
//! another order.
//!
//! `MatMul(x, DequantizeLinear(w, s, z, axis = 0, block_size = B))` of a
//! constant `[K, N]` int4/uint4/int8/uint8 `w` is the same computation (the
//! dequantized weights summed over K); it becomes `dense_nbits` too, the
//! weights transposed to `[N, K]` and kept narrow.

use super::ops::Registry;
use super::*;
use qcc_ir::tensor::{Packed4, TensorData};

/// Registers this family's ONNX operators.
pub(super) fn register(r: &mut Registry) {
    r.add("MatMulNBits", |c, at, n| c.matmul_nbits(at, n));
}

impl Converter<'_> {
    pub(super) fn matmul_nbits(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let k = Self::attr_i(n, "K", 0);
        let nn = Self::attr_i(n, "N", 0);
        let bits = Self::attr_i(n, "bits", 4);
        let block = Self::attr_i(n, "block_size", 0);
        let level = Self::attr_i(n, "accuracy_level", 0);
        if k < 1 || nn < 1 {
            return Err(at.invalid(format!("K = {k} and N = {nn} must be at least 1")));
        }
        if bits != 4 && bits != 8 {
            return Err(at.unsupported(format!("bits = {bits} (qcc takes 4 and 8)")));
        }
        if !(16..=256).contains(&block) || !(block as u64).is_power_of_two() {
            return Err(at.invalid(format!(
                "block_size = {block} must be a power of two from 16 to 256"
            )));
        }
        if !(0..=4).contains(&level) {
            return Err(at.invalid(format!("accuracy_level = {level}")));
        }
        let (k, nn, bits, block) = (k as usize, nn as usize, bits as u32, block as usize);
        if !k.is_multiple_of(block) {
            return Err(at.unsupported(format!(
                "K = {k} is not a multiple of block_size = {block} (a partial last block)"
            )));
        }
        if Self::input_name(n, 4).is_some() {
            return Err(at.unsupported("g_idx (act-order) is not supported"));
        }
        let kb = k / block;
        let blob = block * bits as usize / 8;
        let b = self
            .konst(at, n, 1, "the weights B")?
            .ok_or_else(|| at.invalid("input B is missing"))?;
        let codes = b.ints().ok_or_else(|| at.invalid("B must be uint8"))?;
        if b.dtype != DType::Uint8 || codes.len() != nn * kb * blob {
            return Err(at.invalid(format!(
                "B must be uint8 [{nn}, {kb}, {blob}], found {} {:?}",
                b.dtype.name(),
                b.shape
            )));
        }
        let s = self
            .konst(at, n, 2, "the scales")?
            .ok_or_else(|| at.invalid("input scales is missing"))?;
        let scales = s
            .floats()
            .filter(|v| v.len() == nn * kb)
            .ok_or_else(|| at.invalid(format!("scales must be {} floats ([N, K/block])", nn * kb)))?
            .to_vec();
        let zp_default = 1i64 << (bits - 1);
        let zero_points: Vec<i64> = match self.konst(at, n, 3, "the zero points")? {
            None => vec![zp_default; nn * kb],
            Some(z) if z.dtype != DType::Uint8 => {
                return Err(at.unsupported(format!(
                    "zero points of type {} (qcc takes packed uint8)",
                    z.dtype.name()
                )));
            }
            Some(z) => {
                let zv = z.ints().unwrap_or(&[]);
                let per_row = if bits == 4 { kb.div_ceil(2) } else { kb };
                if zv.len() != nn * per_row {
                    return Err(at.invalid(format!(
                        "zero_points must be {} bytes, found {}",
                        nn * per_row,
                        zv.len()
                    )));
                }
                (0..nn * kb)
                    .map(|i| {
                        let (r, blk) = (i / kb, i % kb);
                        if bits == 4 {
                            (zv[r * per_row + blk / 2] >> (4 * (blk % 2))) & 0x0f
                        } else {
                            zv[r * per_row + blk]
                        }
                    })
                    .collect()
            }
        };
        let (storage, data) = if bits == 4 {
            let bytes: Vec<u8> = if k.is_multiple_of(2) {
                codes.iter().map(|&c| c as u8).collect()
            } else {
                // Odd K: rows of codes are byte-aligned in B but not in a
                // row-major u4 tensor.
                let mut out = vec![0u8; (nn * k).div_ceil(2)];
                for r in 0..nn {
                    for kk in 0..k {
                        let c = (codes[r * kb * blob + kk / 2] as u8 >> (4 * (kk % 2))) & 0x0f;
                        let i = r * k + kk;
                        out[i / 2] |= c << (4 * (i % 2));
                    }
                }
                out
            };
            (
                ScalarType::U4,
                TensorData::U4(Packed4 { bytes, len: nn * k }),
            )
        } else {
            (
                ScalarType::U8,
                TensorData::U8(codes.iter().map(|&c| c as u8).collect()),
            )
        };
        let q = QuantType::blocked(storage, 1, block, scales, zero_points);
        let wt = TensorType::new(vec![nn, k], ElemType::quant(q));
        wt.check()
            .map_err(|m| at.invalid(format!("the weights' parameters: {m}")))?;
        let w = self.g.add_const(data, wt);
        let a = self.val(at, n, 0)?;
        if self.shape_of(&a).last() != Some(&k) {
            return Err(at.invalid(format!("A {:?} must end in K = {k}", self.shape_of(&a))));
        }
        let av = self.f32_of(at, &a)?;
        let mut args = vec![av, w];
        if let Some(bias) = self.opt_val(at, n, 5)? {
            args.push(self.f32_of(at, &bias)?);
        }
        let op = if level == 4 {
            Op::DenseNbitsQ8
        } else {
            Op::DenseNbits
        };
        let y = self.add(at, op, &args, None)?;
        self.set(n, 0, Val::Node(y));
        Ok(())
    }
}

/// The codes and parameters of a blocked `DequantizeLinear` of a constant
/// `[K, N]` weight, blocked along K (axis 0), as ONNX writes them.
#[derive(Debug)]
pub(super) struct BlockedWeight {
    pub storage: ScalarType,
    pub k: usize,
    pub n: usize,
    pub block: usize,
    /// `[K, N]`.
    pub codes: Vec<i64>,
    /// `[K / block, N]`.
    pub scales: Vec<f32>,
    pub zero_points: Vec<i64>,
}

impl Converter<'_> {
    /// `MatMul(x, DequantizeLinear(w))` with `w` blocked along K: `dense_nbits`
    /// on `wᵀ`.
    pub(super) fn matmul_blocked(
        &mut self,
        at: &At,
        n: &NodeProto,
        w: &BlockedWeight,
    ) -> Result<(), ImportError> {
        let (k, nn, kb) = (w.k, w.n, w.k / w.block);
        let codes: Vec<i64> = (0..nn * k).map(|i| w.codes[(i % k) * nn + i / k]).collect();
        let tr =
            |v: &[f32]| -> Vec<f32> { (0..nn * kb).map(|i| v[(i % kb) * nn + i / kb]).collect() };
        let scales = tr(&w.scales);
        let zero_points: Vec<i64> = (0..nn * kb)
            .map(|i| w.zero_points[(i % kb) * nn + i / kb])
            .collect();
        let q = QuantType::blocked(w.storage, 1, w.block, scales, zero_points);
        let wt = TensorType::new(vec![nn, k], ElemType::quant(q));
        wt.check()
            .map_err(|m| at.invalid(format!("the weights' parameters: {m}")))?;
        let data = TensorData::from_i64s(w.storage, &codes)
            .map_err(|e| at.invalid(format!("the weights: {e}")))?;
        let wv = self.g.add_const(data, wt);
        let a = self.val(at, n, 0)?;
        let av = self.f32_of(at, &a)?;
        let y = self.add(at, Op::DenseNbits, &[av, wv], None)?;
        self.set(n, 0, Val::Node(y));
        Ok(())
    }
}
