//! The epilogue a fused GEMM applies in its registers (requantize, clamp,
//! bias add) and its byte encoding for the kernels.

#[allow(unused_imports)]
use super::*;

/// The rescale a fused kernel applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FusedMode {
    /// `round_half_even(f32(d) · M)`.
    Float,
    /// `(d · m + 2^(s−1)) >> s` in i64.
    Single,
}

/// Everything a fused kernel needs besides the operands, per output column
/// `c` (`0 ≤ c < np`, padding columns hold anything harmless):
///
/// `y = clamp(R(clamp(sat_i32(acc − rs[row]·zw[c] + colc[c] + bc[c]), lo[c], hi[c])), flo[c], fhi[c]) + zo[c]`
///
/// with `R` the rescale (`m[c]`: f32 bits in the float mode, the fixed-point
/// multiplier otherwise; `s[c]` its right shift, single mode only) and the
/// output bounds `flo`/`fhi` (the output range less `zo`) as f32 bits in the
/// float mode, as i32 otherwise. The output element `(row, c)` is the byte at
/// `(row / pix) · img_stride + (row % pix) · row_stride + c · col_stride`.
#[derive(Clone, Debug, Default)]
pub struct FusedParams {
    pub ncols: usize,
    pub pix: usize,
    pub img_stride: usize,
    pub row_stride: usize,
    pub col_stride: usize,
    /// The output is signed (i8/i4 storage), else unsigned.
    pub signed_out: bool,
    /// Proven at compile time: `acc + bc` never saturates and `lo`/`hi`
    /// never bind, for every column. The kernels then skip both, and `bc`
    /// must already be added into `colc` (see [`FusedParams::make_fast`]).
    pub fast: bool,
    pub colc: Vec<i32>,
    pub zw: Vec<i32>,
    pub bc: Vec<i32>,
    pub lo: Vec<i32>,
    pub hi: Vec<i32>,
    pub m: Vec<i32>,
    pub flo: Vec<i32>,
    pub fhi: Vec<i32>,
    pub zo: Vec<i32>,
    pub s: Vec<i32>,
    /// An `add_int` (float mode) of a per-column constant applied to the
    /// requantized value before it is stored (a bias added after the
    /// GEMM's own requantize, as onnxruntime's quantizer writes it).
    pub add: Option<AddStage>,
    /// A `lookup` of a constant 256-entry table applied last: the stored
    /// byte is `lut[byte(y)]` (`y`'s two's-complement byte), and
    /// `signed_out` is then the table's signedness. Only where the host
    /// has AVX512-VBMI ([`has_fused_lookup`]).
    pub lut: Option<[u8; 256]>,
}

/// Whether the fused store may end with a table lookup here (it uses
/// `vpermi2b`, AVX512-VBMI).
pub fn has_fused_lookup() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512vbmi")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The second stage of a fused store: with `q` the requantized output
/// (zero point included), `y = saturate(round_half_even(f32(q − zx) · mx +
/// cb[c]) + zy, lo, hi)`, NaN giving `saturate(zy, lo, hi)`: `add_int`'s
/// float formula, `cb[c]` being the constant operand's product
/// `f32(b[c] − zb) · mb`, already rounded to f32 as the formula rounds it.
#[derive(Clone, Debug, Default)]
pub struct AddStage {
    pub mx: f32,
    pub zx: i32,
    pub zy: i32,
    pub lo: i32,
    pub hi: i32,
    pub cb: Vec<f32>,
}

impl FusedParams {
    /// Switches to the fast form (the caller proved its condition): the
    /// bias joins the column constant (wrapping; exact, since the true sum
    /// fits in i32) and the unused tables are zeroed.
    pub fn make_fast(&mut self) {
        for (c, b) in self.colc.iter_mut().zip(&self.bc) {
            *c = c.wrapping_add(*b);
        }
        self.bc.fill(0);
        self.fast = true;
    }

    /// The block the kernels read: 8 i64 (`np, ncols, pix, img_stride,
    /// row_stride, col_stride, signed_out, stages`; `stages` bit 0: an
    /// [`AddStage`], bit 1: a lookup), then the 10 arrays, each padded with
    /// zeros to `np` i32; with an [`AddStage`], then 8 i64 (`mx` bits,
    /// `zx`, `zy`, `lo − zy` and `hi − zy` as f32 bits, the NaN result, 0,
    /// 0) and `cb` as `np` f32; with a lookup, then its 256 bytes.
    pub fn bytes(&self, np: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let head = [
            np,
            self.ncols,
            self.pix,
            self.img_stride,
            self.row_stride,
            self.col_stride,
            self.signed_out as usize,
            self.add.is_some() as usize | (self.lut.is_some() as usize) << 1,
        ];
        for h in head {
            out.extend_from_slice(&(h as i64).to_le_bytes());
        }
        for t in [
            &self.colc, &self.zw, &self.bc, &self.lo, &self.hi, &self.m, &self.flo, &self.fhi,
            &self.zo, &self.s,
        ] {
            for c in 0..np {
                let v = t.get(c).copied().unwrap_or(0);
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        if let Some(a) = &self.add {
            let nan_y = a.zy.clamp(a.lo, a.hi);
            let head = [
                a.mx.to_bits() as i64,
                a.zx as i64,
                a.zy as i64,
                ((a.lo - a.zy) as f32).to_bits() as i64,
                ((a.hi - a.zy) as f32).to_bits() as i64,
                nan_y as i64,
                0,
                0,
            ];
            for h in head {
                out.extend_from_slice(&h.to_le_bytes());
            }
            for c in 0..np {
                let v = a.cb.get(c).copied().unwrap_or(0.0);
                out.extend_from_slice(&v.to_bits().to_le_bytes());
            }
        }
        if let Some(t) = &self.lut {
            out.extend_from_slice(t);
        }
        out
    }
}
