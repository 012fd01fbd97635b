//! The int8 GEMM lowering of `matmul_int` and `conv2d_int` (groups = 1)
//! with constant weights: the JIT code owns the loop nest, packs the
//! activations, and calls the shim (micro-kernels or the Cranelift dot tree)
//! per register tile, then applies the exact corrections and the bias.
//!
//! Arithmetic (all in wrapping i32, which is exact because the verifier
//! proves the true sum fits in i32): activations `x` become unsigned
//! `u = x + 128` when signed (`ua = zx + 128` is then their zero point,
//! else `u = x`, `ua = zx`), and
//! `Σ_k (u − ua)(w − zw[n]) = Σ u·w − zw[n]·Σ_k u + colc[n]` with the
//! compile-time column constant `colc[n] = −ua·Σ_k w[k, n] + K·ua·zw[n]`.
//! Padding positions of a convolution hold `ua`, so they contribute 0.
//! With `zx_in_bias` the sums subtract `ua − zx` (the flip only) instead:
//! the bias holds the rest, and padding contributes `zx·(w − zw)`.
//! The bias is then added in i64 and the result saturated, as the
//! interpreter does.

use super::{Fx, I64, flags};
use crate::plan::{Buf, Ek};
use crate::shim::{self, DotPath, FusedMode, FusedParams, MR, NR, PANEL};
use qcc_ir::TensorData;
use std::sync::Arc;

// The kernels' panels are the packed layouts of `qcc_ir::layout`.
const _: () = assert!(PANEL == qcc_ir::layout::PANEL_COLS && NR == qcc_ir::layout::COL_ALIGN);
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, Value, types};

/// The fewest multiply-adds of an AMX op (GEMM or direct convolution) that
/// is split between threads. AMX does 2^29 MACs in about 0.3 ms on one
/// thread; below that, on the hosts measured, waking the second thread cost
/// more than its share of the work saved (512³, 256×1024×1024 and the
/// 3×3 64→64 conv at 56×56 were no faster or slower on 2 threads; 1024³:
/// 1.2 → 0.65 ms at best).
pub(crate) const AMX_SPLIT_MACS: usize = 1 << 29;

/// Convolution geometry for the im2col packing.
#[derive(Clone, Debug)]
pub(crate) struct ConvShape {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub kh: usize,
    pub kw: usize,
    pub strides: [usize; 2],
    pub pads: [usize; 4],
    pub dil: [usize; 2],
    pub oh: usize,
    pub ow: usize,
}

impl ConvShape {
    /// The geometry of a convolution of `x` (NCHW) by `w` (OIHW) into
    /// `out`; `None` unless both are rank 4.
    pub(crate) fn of(
        x: &[usize],
        w: &[usize],
        out: &[usize],
        attrs: &qcc_ir::op::Conv2dAttrs,
    ) -> Option<ConvShape> {
        let [n, c, h, wd] = <[usize; 4]>::try_from(x).ok()?;
        let [o, _, kh, kw] = <[usize; 4]>::try_from(w).ok()?;
        Some(ConvShape {
            n,
            c,
            h,
            w: wd,
            o,
            kh,
            kw,
            strides: attrs.strides,
            pads: attrs.pads,
            dil: attrs.dilations,
            oh: *out.get(2)?,
            ow: *out.get(3)?,
        })
    }
}

pub use qcc_ir::target::amx_gemm_pays;

/// The path a GEMM of `m × k × n` runs on when `path` is asked for.
fn gemm_path(path: DotPath, m: usize, k: usize, n: usize) -> DotPath {
    if path == DotPath::Amx && !amx_gemm_pays(m, k, n) {
        DotPath::Avx512Vnni
    } else {
        path
    }
}

/// Whether [`GemmPrep::new`] takes `len` bytes of weights packed with `K`
/// padded to `pre_align` as they are: every path reads `K` padded to 64,
/// AMX needs it.
pub(crate) fn takes_prepacked(
    path: DotPath,
    m: usize,
    k: usize,
    n: usize,
    pre_align: usize,
    len: usize,
) -> bool {
    let k_align = if gemm_path(path, m, k, n) == DotPath::Amx {
        shim::AMX_K
    } else {
        4
    };
    pre_align.is_multiple_of(k_align)
        && len == k.next_multiple_of(pre_align) * n.next_multiple_of(NR)
}

/// Everything decided at compile time for one GEMM-lowered op.
#[derive(Clone, Debug)]
pub(crate) struct GemmPrep {
    pub path: DotPath,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub kp: usize,
    pub np: usize,
    pub signed_x: bool,
    pub ua: i64,
    pub packed: PanelBytes,
    pub colc: Vec<i32>,
    /// A bound on `|Σ_k (u − ua)(w − zw)|` per column (the exact
    /// accumulator before the bias).
    pub colbound: Vec<i64>,
    pub zw: Vec<i64>,
    pub need_rowsum: bool,
    pub pack_a: bool,
    pub conv: Option<ConvShape>,
    pub lo: i64,
    pub hi: i64,
    /// The requantize fused into the tile store (AVX512-VNNI only): the op
    /// then writes the requantize's result, never its own i32 tensor.
    pub fused: Option<(FusedMode, FusedParams)>,
    /// The requantize whose result the fused op writes.
    pub fused_into: Option<qcc_ir::ValueId>,
    /// Row chunks of the fused tile loop: its work units are
    /// `chunks × panels` (chunk-major), split between threads.
    pub chunks: usize,
    /// The unfused kernel loop is split into units too (`chunks × panels`,
    /// into the i32 tile), with the epilogue as a phase after it.
    pub split: bool,
    /// The weights were a constant already in this packing (`pick-layout`),
    /// used as they are.
    pub prepacked: bool,
    /// The Cranelift dot tree multiplies signed activations (`u ^ 0x80`,
    /// that is `u − 128`) by the weights, for aarch64's `sdot`
    /// (FEAT_DotProd without FEAT_I8MM); `colc` then holds `+128 · Σ_k w`
    /// besides (set by `crate::aot`). Row sums stay those of `u`.
    pub signed_dot: bool,
    /// A convolution run on the direct kernel (`shim::qcc_conv_direct`):
    /// phase 0 lays out the padded HWC images, the fused tile loop reads
    /// its rows from them (no im2col rows). See [`GemmPrep::plan_direct`].
    pub direct: bool,
}

/// The `B` panels a GEMM reads: a packed constant's own data (shared with
/// the graph, not copied until the JIT places it), or packed here.
#[derive(Clone, Debug)]
pub enum PanelBytes {
    /// `TensorData::I8` in the panel layout (checked when made).
    Shared(Arc<TensorData>),
    Packed(Vec<i8>),
}

impl PanelBytes {
    pub fn as_i8(&self) -> &[i8] {
        match self {
            PanelBytes::Shared(d) => match &**d {
                TensorData::I8(v) => v,
                _ => &[],
            },
            PanelBytes::Packed(v) => v,
        }
    }

    /// The same bytes as `u8` (the kernels' view of the weights' bits).
    pub fn as_u8(&self) -> &[u8] {
        let v = self.as_i8();
        // SAFETY: `i8` and `u8` have the same size and alignment and every
        // bit pattern is valid for both; the slice keeps `v`'s lifetime.
        unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), v.len()) }
    }
}

impl GemmPrep {
    /// `m × k` activations against the constant weights `w(k, n)` with
    /// per-column zero points `zw`. `pre`: the weights already packed by
    /// the `pick-layout` pass (a constant in a panel layout of
    /// `qcc_ir::layout`, which is this packing with `K` padded to the given
    /// alignment, 4 or 64); they are used as they are when that padding
    /// suits the path (any path reads `K` padded to 64; AMX needs 64), and
    /// packed again from `w` otherwise.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        path: DotPath,
        m: usize,
        k: usize,
        n: usize,
        signed_x: bool,
        zx: i64,
        zx_in_bias: bool,
        zw: Vec<i64>,
        w: impl Fn(usize, usize) -> i64,
        pre: Option<(&Arc<TensorData>, usize)>,
        conv: Option<ConvShape>,
        (lo, hi): (i64, i64),
    ) -> GemmPrep {
        // AMX tiles are 16 rows high: a GEMM of few rows (a GEMV) is
        // faster on the zmm kernels.
        // Short dot products (k < 48) waste most of a 64-byte tile row, and
        // a small GEMM does not repay the tile configuration of each call.
        let path = gemm_path(path, m, k, n);
        // AMX steps through k 64 at a time (the packed rows are padded).
        let k_align = if path == DotPath::Amx { shim::AMX_K } else { 4 };
        let np = n.next_multiple_of(NR);
        let ua = zx + if signed_x { 128 } else { 0 };
        let pre =
            pre.filter(|&(data, pre_align)| takes_prepacked(path, m, k, n, pre_align, data.len()));
        let pre = pre.and_then(|(data, align)| match &**data {
            TensorData::I8(_) => Some((data.clone(), align)),
            _ => None,
        });
        let prepacked = pre.is_some();
        let (kp, packed) = match pre {
            // The constant's bytes as they are, shared with the graph.
            Some((data, pre_align)) => (k.next_multiple_of(pre_align), PanelBytes::Shared(data)),
            None => {
                let kp = k.next_multiple_of(k_align);
                let mut packed = Vec::with_capacity(kp * np);
                for p0 in (0..np).step_by(PANEL) {
                    let width = PANEL.min(np - p0);
                    for k4 in 0..kp / 4 {
                        for j in 0..width {
                            for q in 0..4 {
                                let (kk, col) = (4 * k4 + q, p0 + j);
                                let v = if kk < k && col < n { w(kk, col) } else { 0 };
                                packed.push(v as i8);
                            }
                        }
                    }
                }
                (kp, PanelBytes::Packed(packed))
            }
        };
        // Σ_k w and Σ_k |w − zw| per column, in one pass over the packed
        // bytes in memory order (padding skipped).
        let geometry = qcc_ir::layout::Panels::matmul(k, n, kp).expect("the packed size fits");
        let sums = qcc_ir::weights::packed_sums(&geometry, packed.as_i8(), &zw)
            .expect("packed weights of the geometry");
        let wsum: Vec<i64> = (0..n).map(|c| sums.sum[c] + k as i64 * zw[c]).collect();
        let wabs = sums.abs;
        // What the sums subtract from `u`: `ua`, or only the flip of signed
        // inputs when x's zero point is in the bias (`zx_in_bias`; padding
        // still holds `ua`, so it contributes `zx · (w − zw)`).
        let ua_sub = if zx_in_bias { ua - zx } else { ua };
        let colc = (0..n)
            .map(|col| (-ua_sub * wsum[col] + k as i64 * ua_sub * zw[col]) as i32)
            .collect();
        let dev = ua_sub.max(255 - ua_sub);
        let colbound = wabs.iter().map(|&a| dev.saturating_mul(a as i64)).collect();
        let need_rowsum = zw.iter().any(|&z| z != 0);
        let pack_a = conv.is_some() || signed_x || need_rowsum || k != kp || path == DotPath::Amx;
        GemmPrep {
            path,
            m,
            k,
            n,
            kp,
            np,
            signed_x,
            ua,
            packed,
            colc,
            colbound,
            zw,
            need_rowsum,
            pack_a,
            conv,
            lo,
            hi,
            fused: None,
            fused_into: None,
            chunks: 1,
            split: false,
            prepacked,
            signed_dot: false,
            direct: false,
        }
    }

    /// Panels of `PANEL` columns (the last may be narrower).
    pub fn panels(&self) -> usize {
        self.np.div_ceil(PANEL)
    }

    /// Functions the op compiles to: the activation packing runs once
    /// before the tile loop when the tiles are split into units.
    pub fn phases(&self) -> usize {
        if self.fused.is_some() {
            1 + self.pack_a as usize
        } else if self.split {
            // Packing, the split kernel loop, the epilogue.
            2 + self.pack_a as usize
        } else {
            1
        }
    }

    /// Work units of `phase` (only the tile loops have several).
    pub fn units(&self, phase: usize) -> usize {
        let tiles = if self.fused.is_some() {
            phase + 1 == self.phases()
        } else {
            self.split && phase + 2 == self.phases()
        };
        if tiles {
            self.panels() * self.chunks
        } else {
            1
        }
    }

    /// Runs a convolution on the direct kernel (`shim::qcc_conv_direct`)
    /// where it applies: the AVX512-VNNI path with the requantize fused, no
    /// row sums (weight zero points 0), input channels a multiple of 4 (so
    /// each tap's channels are whole groups of 4 of the packed `k`), and a
    /// kernel of more than one tap (a 1×1 convolution's im2col rows are its
    /// HWC image already). The same dot products in the same order as the
    /// im2col rows give, so the same bytes (`shim/direct.rs`).
    pub fn plan_direct(&mut self) {
        let Some(g) = &self.conv else { return };
        if self.path == DotPath::Avx512Vnni
            && self.fused.is_some()
            && !self.need_rowsum
            && !self.signed_dot
            && g.c.is_multiple_of(4)
            && g.kh * g.kw > 1
            && self.kp >= g.kh * g.kw * g.c
        {
            self.direct = true;
        }
    }

    /// Splits the fused tile loop into enough units for `threads` threads
    /// when the op is large enough to gain from it (a split costs a few
    /// microseconds of synchronization).
    pub fn plan_units(&mut self, threads: usize) {
        const MIN_MACS: usize = 1 << 22;
        let macs = self.m * self.kp * self.n;
        let min = if self.path == DotPath::Amx {
            AMX_SPLIT_MACS
        } else {
            MIN_MACS
        };
        let unfused = self.fused.is_none();
        if (unfused && !self.path.uses_kernels()) || threads <= 1 || macs < min {
            return;
        }
        // At least 4 units per thread, so that uneven units still balance.
        let want = 4 * threads;
        let amx = self.path == DotPath::Amx && !unfused;
        let tiles = if amx {
            self.m.div_ceil(shim::AMX_ROWS)
        } else if let (true, Some(g)) = (self.direct, &self.conv) {
            // The direct kernel's chunks are of output rows.
            g.n * g.oh
        } else {
            self.m / MR
        };
        self.chunks = want.div_ceil(self.panels()).clamp(1, tiles.max(1));
        if unfused {
            // The unfused loop: one row chunk per thread at least, so that
            // each thread's rows of A stay in its cache.
            self.chunks = self.chunks.max(threads).min(tiles.max(1));
            self.split = true;
            return;
        }
        if amx {
            // Units are chunk-major, so with at least one row chunk per
            // thread each thread takes its own rows over every panel (its
            // rows of A stay in its cache) rather than all rows of some
            // panels.
            self.chunks = self.chunks.max(threads).min(tiles.max(1));
        }
    }

    /// Sizes of the temporaries: packed activations, row sums, i32 tile,
    /// and (convolutions) one image in HWC order.
    pub fn temps(&self) -> [usize; 4] {
        if let (true, Some(g)) = (self.direct, &self.conv) {
            // The `n` padded HWC images, nothing else.
            let image = (g.pads[0] + g.h + g.pads[2]) * (g.pads[1] + g.w + g.pads[3]) * g.c;
            return [g.n * image + shim::IM2COL_SLACK, 0, 0, 0];
        }
        [
            if self.pack_a {
                // AMX reads whole blocks of rows (the extra rows are never
                // stored).
                let rows = if self.path == DotPath::Amx {
                    self.m.next_multiple_of(shim::AMX_ROWS)
                } else {
                    self.m
                };
                // Slack that the im2col's 64-byte row stores may write.
                rows * self.kp
                    + if self.conv.is_some() {
                        shim::IM2COL_SLACK
                    } else {
                        0
                    }
            } else {
                0
            },
            if self.need_rowsum { self.m * 4 } else { 0 },
            if self.fused.is_some() {
                0
            } else {
                self.m * self.np * 4
            },
            // One padded image in HWC order, plus the slack `qcc_im2col`
            // reads.
            self.conv.as_ref().map_or(0, |g| {
                (g.pads[0] + g.h + g.pads[2]) * (g.pads[1] + g.w + g.pads[3]) * g.c
                    + shim::IM2COL_SLACK
            }),
        ]
    }
}

/// The run-time zero point of a dynamic GEMM's activations
/// (`matmul_int_dyn`, `conv2d_int_dyn` on the kernels, see
/// `super::dynamic`): the [`GemmPrep`] is made for `zx = 0`, padding then
/// holds `zx` (plus the flip of signed inputs), and the epilogue adds the
/// bias `−zx · wsum[n]`, computed at run time into the arena.
pub(crate) struct DynZeroPoint<'a> {
    /// The rank-0 buffer holding `zx`.
    pub zx: &'a Buf,
    /// `Σ_k (w − zw[n])` per column.
    pub wsum: &'a [i32],
    /// Arena offsets of the bias (`n` i32) and of the im2col parameters
    /// (19 i64, convolutions).
    pub bias_at: usize,
    pub prm_at: usize,
}

/// Emits phase `phase` of the op (see [`GemmPrep::phases`]). `temps` are
/// the arena offsets of [`GemmPrep::temps`]. `dz`: the activations' zero
/// point is a run-time value (and `bias` is `None`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn emit(
    fx: &mut Fx,
    p: &GemmPrep,
    x: &Buf,
    bias: Option<&Buf>,
    out: &Buf,
    temps: &[usize],
    phase: usize,
    dz: Option<&DynZeroPoint>,
) {
    // The bias of a dynamic zero point, written by the epilogue's phase.
    let dyn_bias = dz.map(|d| Buf {
        loc: crate::plan::Loc::Arena(d.bias_at),
        ek: Ek::I32,
    });
    let bias = dyn_bias.as_ref().or(bias);
    let xb = fx.base(x);
    let a = if p.pack_a {
        fx.b.ins().iadd_imm_s(fx.arena, temps[0] as i64)
    } else {
        xb
    };
    let rs = fx.b.ins().iadd_imm_s(fx.arena, temps[1] as i64);
    let cb = fx.b.ins().iadd_imm_s(fx.arena, temps[2] as i64);
    if p.direct && phase == 0 {
        assert!(
            dz.is_none() && !fx.portable,
            "the direct convolution is the JIT's"
        );
        let g = p.conv.as_ref().expect("a convolution");
        let prm = fx.rodata(
            im2col_params(p, g)
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        );
        let sig = fx.sig(&[I64; 3], &[]);
        let f = fx.import("qcc_conv_hwc", sig);
        fx.b.ins().call(f, &[xb, prm, a]);
        return;
    }
    if p.pack_a && phase == 0 {
        let hwc = fx.b.ins().iadd_imm_s(fx.arena, temps[3] as i64);
        // A run-time zero point: the padding value `zx + flip`, stored
        // with the other im2col parameters.
        let pad = dz.map(|d| {
            let zb = fx.base(d.zx);
            let z0 = fx.c(0);
            let zx = fx.ld(d.zx.ek, zb, z0);
            let ua = fx.b.ins().iadd_imm_s(zx, if p.signed_x { 128 } else { 0 });
            let at = fx.b.ins().iadd_imm_s(fx.arena, d.prm_at as i64);
            (ua, at)
        });
        pack_activations(fx, p, x.ek, xb, a, rs, hwc, pad);
    }
    let finish = |fx: &mut Fx, rs: Value, cb: Value| {
        if let Some(d) = dz {
            dyn_bias_of(fx, d);
        }
        epilogue(fx, p, rs, cb, bias, out);
    };
    if p.split && p.fused.is_none() {
        // The split unfused form: the kernel units, then the epilogue.
        let tile_phase = p.pack_a as usize;
        if phase == tile_phase {
            let bptr = fx.rodata(p.packed.as_u8().to_vec());
            unfused_units(fx, p, a, bptr, cb);
        } else if phase == tile_phase + 1 {
            finish(fx, rs, cb);
        }
        return;
    }
    if phase + 1 < p.phases() {
        return;
    }
    let bptr = fx.rodata(p.packed.as_u8().to_vec());
    if let Some((mode, fp)) = &p.fused {
        let rs = if p.need_rowsum { rs } else { fx.c(0) };
        let ob = fx.base(out);
        #[cfg(target_arch = "x86_64")]
        if p.direct {
            direct_units(fx, p, *mode, fp, a, bptr, ob);
            return;
        }
        fused_units(fx, p, *mode, fp, a, bptr, rs, ob);
        return;
    }
    match p.path {
        DotPath::Amx | DotPath::Avx512Vnni | DotPath::AvxVnni | DotPath::Avx2 => {
            kernel_calls(fx, p, a, bptr, cb)
        }
        _ => clif_dot(fx, p, a, bptr, cb),
    }
    finish(fx, rs, cb);
}

/// Stores the bias `−zx · wsum[n]` of a run-time zero point (`zx` loaded
/// from its buffer) at `d.bias_at`: wrapped to i32, exact because
/// `|zx · wsum[n]| ≤ 255 · Σ_k |w − zw[n]|`, which the caller checked to
/// fit in i32 (`super::dynamic`).
fn dyn_bias_of(fx: &mut Fx, d: &DynZeroPoint) {
    let zb = fx.base(d.zx);
    let z0 = fx.c(0);
    let zx = fx.ld(d.zx.ek, zb, z0);
    let nzx = fx.b.ins().ineg(zx);
    let ws: Vec<u8> = d.wsum.iter().flat_map(|v| v.to_le_bytes()).collect();
    let ws = fx.rodata(ws);
    let bb = fx.b.ins().iadd_imm_s(fx.arena, d.bias_at as i64);
    fx.for_n(d.wsum.len().max(1), |fx, j| {
        let w = fx.ld(Ek::I32, ws, j);
        let v = fx.b.ins().imul(w, nzx);
        fx.st(Ek::I32, bb, j, v);
    });
}

/// Packs the activations (and their row sums) for the kernels. `pad`: the
/// padding value of a convolution as a run-time value, and where to store
/// the im2col parameters holding it (else `p.ua`, in read-only data).
#[allow(clippy::too_many_arguments)]
fn pack_activations(
    fx: &mut Fx,
    p: &GemmPrep,
    ek: Ek,
    xb: Value,
    a: Value,
    rs: Value,
    hwc: Value,
    pad: Option<(Value, Value)>,
) {
    let off = if p.signed_x { 128 } else { 0 };
    let (kp, k) = (p.kp as i64, p.k);
    let finish_row = |fx: &mut Fx, r: Value, sum: Option<cranelift_frontend::Variable>| {
        let row = fx.b.ins().imul_imm_s(r, kp);
        let row = fx.b.ins().iadd(a, row);
        let z = fx.c(0);
        for kk in p.k..p.kp {
            fx.b.ins().istore8(flags(), z, row, kk as i32);
        }
        if let Some(s) = sum {
            let s = fx.b.use_var(s);
            fx.st(Ek::I32, rs, r, s);
        }
    };
    match &p.conv {
        None if !fx.portable && matches!(ek, Ek::U8 | Ek::I8) && p.m * p.k > 0 => {
            // Row copies with the sign flip and the row sums: a helper
            // the compiler vectorizes.
            let sig = fx.sig(&[I64; 7], &[]);
            let f = fx.import("qcc_pack_rows", sig);
            let rows = fx.c(p.m as i64);
            let kv = fx.c(k as i64);
            let kpv = fx.c(kp);
            let flip = fx.c(p.signed_x as i64);
            let rsv = if p.need_rowsum { rs } else { fx.c(0) };
            fx.b.ins().call(f, &[xb, rows, kv, kpv, flip, a, rsv]);
        }
        None => fx.for_n(p.m, |fx, r| {
            let zero = fx.c(0);
            let sum = p.need_rowsum.then(|| fx.var(I64, zero));
            fx.for_n(k, |fx, kk| {
                let src = fx.lin(&[(r, k as i64), (kk, 1)], 0);
                let v = fx.ld(ek, xb, src);
                let u = fx.b.ins().iadd_imm_s(v, off);
                let dst = fx.lin(&[(r, kp), (kk, 1)], 0);
                let stored = signed_dot_byte(fx, p, u);
                fx.st(Ek::U8, a, dst, stored);
                if let Some(s) = sum {
                    let cur = fx.b.use_var(s);
                    let nv = fx.b.ins().iadd(cur, u);
                    fx.b.def_var(s, nv);
                }
            });
            finish_row(fx, r, sum);
        }),
        Some(g) if fx.portable => im2col_loop(fx, p, g, ek, xb, a, rs),
        Some(g) => {
            // The im2col helper, in the `kk = (ky·kw + kx)·c + ci` order of
            // the packed weights (`GemmPrep` of a convolution): one image at
            // a time is first transposed to a padded HWC copy, then each
            // pixel's row is `kh` runs of `kw·c` contiguous bytes.
            let prm = im2col_params(p, g);
            let prm = match pad {
                None => fx.rodata(prm.iter().flat_map(|v| v.to_le_bytes()).collect()),
                Some((ua, at)) => {
                    // Entry 16 is the padding value.
                    for (i, &v) in prm.iter().enumerate() {
                        let v = if i == 16 { ua } else { fx.c(v) };
                        fx.b.ins().store(flags(), v, at, (8 * i) as i32);
                    }
                    at
                }
            };
            let sig = fx.sig(&[I64; 5], &[]);
            let f = fx.import("qcc_im2col", sig);
            let rsv = if p.need_rowsum { rs } else { fx.c(0) };
            fx.b.ins().call(f, &[xb, prm, a, rsv, hwc]);
        }
    }
}

/// The 19 parameters of `shim::qcc_im2col` (and `qcc_conv_hwc`) for the
/// convolution `g` of `p`: `[n, c, h, w, kh, kw, sh, sw, pt, pl, dh, dw,
/// oh, ow, kp, flip, ua, pb, pr]`.
fn im2col_params(p: &GemmPrep, g: &ConvShape) -> Vec<i64> {
    [
        g.n,
        g.c,
        g.h,
        g.w,
        g.kh,
        g.kw,
        g.strides[0],
        g.strides[1],
        g.pads[0],
        g.pads[1],
        g.dil[0],
        g.dil[1],
        g.oh,
        g.ow,
        p.kp,
    ]
    .iter()
    .map(|&v| v as i64)
    .chain([p.signed_x as i64, p.ua, g.pads[2] as i64, g.pads[3] as i64])
    .collect()
}

/// The direct convolution's units `t0..t1` of the call (see
/// [`GemmPrep::plan_direct`]): one call of `qcc_conv_direct`, which loops
/// over the units' row chunks, panels and tiles.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
fn direct_units(
    fx: &mut Fx,
    p: &GemmPrep,
    mode: FusedMode,
    fp: &FusedParams,
    hwc: Value,
    bptr: Value,
    ob: Value,
) {
    let g = p.conv.as_ref().expect("a convolution");
    let geo = shim::DirectGeometry {
        n: g.n,
        c: g.c,
        kh: g.kh,
        kw: g.kw,
        sh: g.strides[0],
        sw: g.strides[1],
        dh: g.dil[0],
        dw: g.dil[1],
        oh: g.oh,
        ow: g.ow,
        hp: g.pads[0] + g.h + g.pads[2],
        wp: g.pads[1] + g.w + g.pads[3],
        kp: p.kp,
        np: p.np,
        chunks: p.chunks,
        mode: match mode {
            FusedMode::Float => 0,
            FusedMode::Single => 1,
        },
        fast: fp.fast as usize,
    };
    debug_assert_eq!(geo.units(), p.units(p.phases() - 1));
    let geo = fx.rodata(geo.bytes());
    let ep = fx.rodata(fp.bytes(p.np));
    let sig = fx.sig(&[I64; 7], &[]);
    let f = fx.import("qcc_conv_direct", sig);
    let (t0, t1) = (fx.t0, fx.t1);
    fx.b.ins().call(f, &[hwc, geo, bptr, ob, ep, t0, t1]);
}

/// The byte the dot tree reads for the unsigned activation `u`: `u`, or
/// `u ^ 0x80` (`u − 128` as i8) for [`GemmPrep::signed_dot`].
fn signed_dot_byte(fx: &mut Fx, p: &GemmPrep, u: Value) -> Value {
    if p.signed_dot {
        let m = fx.c(0x80);
        fx.b.ins().bxor(u, m)
    } else {
        u
    }
}

/// The im2col packing as a generated loop (objects, which cannot call
/// `qcc_im2col`): the helper's rows exactly, `kk = (ky·kw + kx)·c + ci`,
/// padding positions `ua`, the tail `k..kp` zeroed, the row sums of `u`.
#[allow(clippy::too_many_arguments)]
fn im2col_loop(fx: &mut Fx, p: &GemmPrep, g: &ConvShape, ek: Ek, xb: Value, a: Value, rs: Value) {
    let off = if p.signed_x { 128 } else { 0 };
    let (c, h, w) = (g.c, g.h as i64, g.w as i64);
    let (kh, kw) = (g.kh, g.kw);
    let [sh, sw] = g.strides;
    let [dh, dw] = g.dil;
    let (pt, pl) = (g.pads[0] as i64, g.pads[1] as i64);
    let kp = p.kp as i64;
    fx.nest(&[g.n, g.oh, g.ow], &mut |fx, i| {
        let (n, oy, ox) = (i[0], i[1], i[2]);
        let r = fx.lin(&[(n, (g.oh * g.ow) as i64), (oy, g.ow as i64), (ox, 1)], 0);
        let row = fx.b.ins().imul_imm_s(r, kp);
        let row = fx.b.ins().iadd(a, row);
        let zero = fx.c(0);
        let sum = p.need_rowsum.then(|| fx.var(I64, zero));
        fx.nest(&[kh, kw, c], &mut |fx, j| {
            let (ky, kx, ci) = (j[0], j[1], j[2]);
            let iy = fx.lin(&[(oy, sh as i64), (ky, dh as i64)], -pt);
            let ix = fx.lin(&[(ox, sw as i64), (kx, dw as i64)], -pl);
            // Unsigned compares: a negative coordinate is out of range too.
            let yin = fx.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, iy, h);
            let xin = fx.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, ix, w);
            let inside = fx.b.ins().band(yin, xin);
            let src = fx.lin(&[(n, (c as i64) * h * w), (ci, h * w), (iy, w), (ix, 1)], 0);
            let zero = fx.c(0);
            let src = fx.b.ins().select(inside, src, zero);
            let v = fx.ld(ek, xb, src);
            let v = fx.b.ins().iadd_imm_s(v, off);
            let pad = fx.c(p.ua);
            let u = fx.b.ins().select(inside, v, pad);
            let kk = fx.lin(&[(ky, (kw * c) as i64), (kx, c as i64), (ci, 1)], 0);
            let dst = fx.b.ins().iadd(row, kk);
            let stored = signed_dot_byte(fx, p, u);
            fx.b.ins().istore8(flags(), stored, dst, 0);
            if let Some(s) = sum {
                let cur = fx.b.use_var(s);
                let nv = fx.b.ins().iadd(cur, u);
                fx.b.def_var(s, nv);
            }
        });
        let z = fx.c(0);
        for kk in p.k..p.kp {
            fx.b.ins().istore8(flags(), z, row, kk as i32);
        }
        if let Some(s) = sum {
            let s = fx.b.use_var(s);
            fx.st(Ek::I32, rs, r, s);
        }
    });
}

/// Panel groups: `(count, width, first panel index)`.
fn panel_groups(np: usize) -> Vec<(usize, usize, usize)> {
    let full = np / PANEL;
    let last = np % PANEL;
    let mut g = Vec::new();
    if full > 0 {
        g.push((full, PANEL, 0));
    }
    if last > 0 {
        g.push((1, last, full));
    }
    g
}

fn kernel_calls(fx: &mut Fx, p: &GemmPrep, a: Value, bptr: Value, cb: Value) {
    let lda = if p.pack_a { p.kp } else { p.k } as i64;
    let sig = fx.sig(&[I64; 7], &[]);
    let full_tiles = p.m / MR;
    let rem = p.m % MR;
    for (count, width, first) in panel_groups(p.np) {
        let nb = width / NR;
        let kfull = fx.import(&shim::kernel_name(p.path, MR, nb), sig.clone());
        let krem = (rem > 0).then(|| fx.import(&shim::kernel_name(p.path, rem, nb), sig.clone()));
        fx.for_n(count, |fx, pi| {
            let col0 = fx.lin(&[(pi, PANEL as i64)], (first * PANEL) as i64);
            let boff = fx.b.ins().imul_imm_s(col0, p.kp as i64);
            let b = fx.b.ins().iadd(bptr, boff);
            let coff = fx.b.ins().imul_imm_s(col0, 4);
            let cbase = fx.b.ins().iadd(cb, coff);
            let kp4 = fx.c((p.kp / 4) as i64);
            let ldav = fx.c(lda);
            let ldb = fx.c((width * 4) as i64);
            let ldc = fx.c(p.np as i64);
            if full_tiles > 0 {
                fx.for_n(full_tiles, |fx, t| {
                    let aoff = fx.b.ins().imul_imm_s(t, MR as i64 * lda);
                    let at = fx.b.ins().iadd(a, aoff);
                    let coff = fx.b.ins().imul_imm_s(t, (MR * p.np * 4) as i64);
                    let ct = fx.b.ins().iadd(cbase, coff);
                    fx.b.ins().call(kfull, &[kp4, at, ldav, b, ldb, ct, ldc]);
                });
            }
            if let Some(kr) = krem {
                let at = fx.b.ins().iadd_imm_s(a, (full_tiles * MR) as i64 * lda);
                let ct =
                    fx.b.ins()
                        .iadd_imm_s(cbase, (full_tiles * MR * p.np * 4) as i64);
                fx.b.ins().call(kr, &[kp4, at, ldav, b, ldb, ct, ldc]);
            }
        });
    }
}

/// The unfused kernel loop over the units `t0..t1` of the call (unit `u`
/// is panel `u % panels` of row chunk `u / panels`, as [`fused_units`]),
/// each tile into the i32 buffer `cb` (row stride `np`).
fn unfused_units(fx: &mut Fx, p: &GemmPrep, a: Value, bptr: Value, cb: Value) {
    let lda = if p.pack_a { p.kp } else { p.k } as i64;
    let sig = fx.sig(&[I64; 7], &[]);
    let full_tiles = p.m / MR;
    let rem = p.m % MR;
    let npan = p.panels();
    let full_pan = p.np / PANEL;
    let last_w = p.np % PANEL;
    let chunks = p.chunks;
    let per_chunk = full_tiles.div_ceil(chunks).max(1);
    let (t0, t1) = (fx.t0, fx.t1);
    fx.for_range(t0, t1, |fx, u| {
        let (chunk, pan) = if chunks == 1 {
            (fx.c(0), u)
        } else {
            (
                fx.b.ins().udiv_imm_u(u, npan as i64),
                fx.b.ins().urem_imm_u(u, npan as i64),
            )
        };
        let col0 = fx.b.ins().imul_imm_s(pan, PANEL as i64);
        let boff = fx.b.ins().imul_imm_s(col0, p.kp as i64);
        let b = fx.b.ins().iadd(bptr, boff);
        let coff = fx.b.ins().imul_imm_s(col0, 4);
        let cbase = fx.b.ins().iadd(cb, coff);
        let tile_lo = fx.b.ins().imul_imm_s(chunk, per_chunk as i64);
        let end = fx.b.ins().iadd_imm_s(tile_lo, per_chunk as i64);
        let cap = fx.c(full_tiles as i64);
        let tile_hi = fx.b.ins().smin(end, cap);
        let mut width_body = |fx: &mut Fx, width: usize| {
            let nb = width / NR;
            let kfull = fx.import(&shim::kernel_name(p.path, MR, nb), sig.clone());
            let kp4 = fx.c((p.kp / 4) as i64);
            let ldav = fx.c(lda);
            let ldb = fx.c((width * 4) as i64);
            let ldc = fx.c(p.np as i64);
            fx.for_range(tile_lo, tile_hi, |fx, t| {
                let aoff = fx.b.ins().imul_imm_s(t, MR as i64 * lda);
                let at = fx.b.ins().iadd(a, aoff);
                let coff = fx.b.ins().imul_imm_s(t, (MR * p.np * 4) as i64);
                let ct = fx.b.ins().iadd(cbase, coff);
                fx.b.ins().call(kfull, &[kp4, at, ldav, b, ldb, ct, ldc]);
            });
            if rem > 0 {
                let kr = fx.import(&shim::kernel_name(p.path, rem, nb), sig.clone());
                let call_rem = |fx: &mut Fx| {
                    let at = fx.b.ins().iadd_imm_s(a, (full_tiles * MR) as i64 * lda);
                    let ct =
                        fx.b.ins()
                            .iadd_imm_s(cbase, (full_tiles * MR * p.np * 4) as i64);
                    fx.b.ins().call(kr, &[kp4, at, ldav, b, ldb, ct, ldc]);
                };
                if chunks == 1 {
                    call_rem(fx);
                } else {
                    let last =
                        fx.b.ins()
                            .icmp_imm_s(IntCC::Equal, chunk, (chunks - 1) as i64);
                    fx.if_else(last, call_rem, |_| {});
                }
            }
        };
        if last_w == 0 {
            width_body(fx, PANEL);
        } else if full_pan == 0 {
            width_body(fx, last_w);
        } else {
            let full =
                fx.b.ins()
                    .icmp_imm_s(IntCC::UnsignedLessThan, pan, full_pan as i64);
            let wb = std::cell::RefCell::new(&mut width_body);
            fx.if_else(
                full,
                |fx| (wb.borrow_mut())(fx, PANEL),
                |fx| (wb.borrow_mut())(fx, last_w),
            );
        }
    });
}

/// The fused tile loop over the units `t0..t1` of the call: unit `u` is
/// panel `u % panels` of row chunk `u / panels`.
#[allow(clippy::too_many_arguments)]
fn fused_units(
    fx: &mut Fx,
    p: &GemmPrep,
    mode: FusedMode,
    fp: &FusedParams,
    a: Value,
    bptr: Value,
    rs: Value,
    ob: Value,
) {
    let lda = if p.pack_a { p.kp } else { p.k } as i64;
    let ep = fx.rodata(fp.bytes(p.np));
    if p.path == DotPath::Amx {
        amx_units(fx, p, mode, fp.fast, a, bptr, rs, ob, ep);
        return;
    }
    let sig = fx.sig(&[I64; 10], &[]);
    let full_tiles = p.m / MR;
    let rem = p.m % MR;
    let npan = p.panels();
    let full_pan = p.np / PANEL;
    let last_w = p.np % PANEL;
    let chunks = p.chunks;
    let per_chunk = full_tiles.div_ceil(chunks).max(1);
    let (t0, t1) = (fx.t0, fx.t1);
    fx.for_range(t0, t1, |fx, u| {
        let (chunk, pan) = if chunks == 1 {
            (fx.c(0), u)
        } else {
            (
                fx.b.ins().udiv_imm_u(u, npan as i64),
                fx.b.ins().urem_imm_u(u, npan as i64),
            )
        };
        let col0 = fx.b.ins().imul_imm_s(pan, PANEL as i64);
        let boff = fx.b.ins().imul_imm_s(col0, p.kp as i64);
        let b = fx.b.ins().iadd(bptr, boff);
        let tile_lo = fx.b.ins().imul_imm_s(chunk, per_chunk as i64);
        let end = fx.b.ins().iadd_imm_s(tile_lo, per_chunk as i64);
        let cap = fx.c(full_tiles as i64);
        let tile_hi = fx.b.ins().smin(end, cap);
        let mut width_body = |fx: &mut Fx, width: usize| {
            let nb = width / NR;
            let kfull = fx.import(&shim::fused_kernel_name(mode, fp.fast, MR, nb), sig.clone());
            let kp4 = fx.c((p.kp / 4) as i64);
            let ldav = fx.c(lda);
            let ldb = fx.c((width * 4) as i64);
            fx.for_range(tile_lo, tile_hi, |fx, t| {
                let aoff = fx.b.ins().imul_imm_s(t, MR as i64 * lda);
                let at = fx.b.ins().iadd(a, aoff);
                let row0 = fx.b.ins().imul_imm_s(t, MR as i64);
                fx.b.ins()
                    .call(kfull, &[kp4, at, ldav, b, ldb, ob, row0, col0, ep, rs]);
            });
            if rem > 0 {
                let kr = fx.import(
                    &shim::fused_kernel_name(mode, fp.fast, rem, nb),
                    sig.clone(),
                );
                let call_rem = |fx: &mut Fx| {
                    let at = fx.b.ins().iadd_imm_s(a, (full_tiles * MR) as i64 * lda);
                    let row0 = fx.c((full_tiles * MR) as i64);
                    fx.b.ins()
                        .call(kr, &[kp4, at, ldav, b, ldb, ob, row0, col0, ep, rs]);
                };
                if chunks == 1 {
                    call_rem(fx);
                } else {
                    let last =
                        fx.b.ins()
                            .icmp_imm_s(IntCC::Equal, chunk, (chunks - 1) as i64);
                    fx.if_else(last, call_rem, |_| {});
                }
            }
        };
        if last_w == 0 {
            width_body(fx, PANEL);
        } else if full_pan == 0 {
            width_body(fx, last_w);
        } else {
            let full =
                fx.b.ins()
                    .icmp_imm_s(IntCC::UnsignedLessThan, pan, full_pan as i64);
            // Two closures over one `width_body`: run it through a cell.
            let wb = std::cell::RefCell::new(&mut width_body);
            fx.if_else(
                full,
                |fx| (wb.borrow_mut())(fx, PANEL),
                |fx| (wb.borrow_mut())(fx, last_w),
            );
        }
    });
}

/// The AMX form of [`fused_units`]: one kernel call per row chunk among the
/// units `t0..t1`, for the chunk's rows (blocks of `AMX_ROWS`) and its
/// panels in the range (units are chunk-major: unit `u` is panel
/// `u % panels` of chunk `u / panels`), so that the kernel configures the
/// tiles once and reads the panels in memory order.
#[allow(clippy::too_many_arguments)]
fn amx_units(
    fx: &mut Fx,
    p: &GemmPrep,
    mode: FusedMode,
    fast: bool,
    a: Value,
    bptr: Value,
    rs: Value,
    ob: Value,
    ep: Value,
) {
    let sig = fx.sig(&[I64; 12], &[]);
    let kern = fx.import(&shim::amx_kernel_name(mode, fast), sig);
    let npan = p.panels() as i64;
    let chunks = p.chunks;
    let blocks = p.m.div_ceil(shim::AMX_ROWS);
    let per_chunk = blocks.div_ceil(chunks).max(1) * shim::AMX_ROWS;
    let (t0, t1) = (fx.t0, fx.t1);
    let call = |fx: &mut Fx, chunk: Value, p0: Value, p1: Value| {
        let row0 = fx.b.ins().imul_imm_s(chunk, per_chunk as i64);
        let end = fx.b.ins().iadd_imm_s(row0, per_chunk as i64);
        let m = fx.c(p.m as i64);
        let end = fx.b.ins().smin(end, m);
        let rows = fx.b.ins().isub(end, row0);
        // A chunk past the last row (more chunks than row blocks) has none.
        let zero = fx.c(0);
        let rows = fx.b.ins().smax(rows, zero);
        let aoff = fx.b.ins().imul_imm_s(row0, p.kp as i64);
        let at = fx.b.ins().iadd(a, aoff);
        let ksteps = fx.c((p.kp / shim::AMX_K) as i64);
        let lda = fx.c(p.kp as i64);
        let np = fx.c(p.np as i64);
        fx.b.ins().call(
            kern,
            &[ksteps, at, lda, bptr, np, ob, row0, ep, rs, rows, p0, p1],
        );
    };
    if chunks == 1 {
        let zero = fx.c(0);
        call(fx, zero, t0, t1);
        return;
    }
    // The chunks the units touch, each with its range of panels.
    let c_lo = fx.b.ins().udiv_imm_u(t0, npan);
    let t1_up = fx.b.ins().iadd_imm_s(t1, npan - 1);
    let c_hi = fx.b.ins().udiv_imm_u(t1_up, npan);
    fx.for_range(c_lo, c_hi, |fx, chunk| {
        let first = fx.b.ins().imul_imm_s(chunk, npan);
        let zero = fx.c(0);
        let p0 = fx.b.ins().isub(t0, first);
        let p0 = fx.b.ins().smax(p0, zero);
        let p1 = fx.b.ins().isub(t1, first);
        let all = fx.c(npan);
        let p1 = fx.b.ins().smin(p1, all);
        call(fx, chunk, p0, p1);
    });
}

fn clif_dot(fx: &mut Fx, p: &GemmPrep, a: Value, bptr: Value, cb: Value) {
    let lda = if p.pack_a { p.kp } else { p.k } as i64;
    for (count, width, first) in panel_groups(p.np) {
        fx.for_n(count, |fx, pi| {
            let col0 = fx.lin(&[(pi, PANEL as i64)], (first * PANEL) as i64);
            let boff = fx.b.ins().imul_imm_s(col0, p.kp as i64);
            let bpan = fx.b.ins().iadd(bptr, boff);
            fx.for_n(p.m, |fx, r| {
                let aoff = fx.b.ins().imul_imm_s(r, lda);
                let arow = fx.b.ins().iadd(a, aoff);
                for g in 0..width / NR {
                    let z32 = fx.b.ins().iconst(types::I32, 0);
                    let zv = fx.b.ins().splat(types::I32X4, z32);
                    let accs: Vec<_> = (0..4).map(|_| fx.var(types::I32X4, zv)).collect();
                    fx.for_n(p.kp / 4, |fx, k4| {
                        let ap = fx.lin(&[(k4, 4)], 0);
                        let ap = fx.b.ins().iadd(arow, ap);
                        let av = shim::emit_broadcast4(&mut fx.b, ap);
                        let bo = fx.lin(&[(k4, (width * 4) as i64)], (g * NR * 4) as i64);
                        let bp = fx.b.ins().iadd(bpan, bo);
                        for (q, &acc) in accs.iter().enumerate() {
                            let w = fx.b.ins().load(types::I8X16, flags(), bp, (16 * q) as i32);
                            let cur = fx.b.use_var(acc);
                            let nv = if p.signed_dot {
                                shim::emit_sdot4(&mut fx.b, cur, av, w)
                            } else {
                                shim::emit_dot4(&mut fx.b, cur, av, w, fx.aarch64)
                            };
                            fx.b.def_var(acc, nv);
                        }
                    });
                    let ci = fx.lin(&[(r, p.np as i64), (col0, 1)], (g * NR) as i64);
                    let co = fx.b.ins().imul_imm_s(ci, 4);
                    let cp = fx.b.ins().iadd(cb, co);
                    for (q, &acc) in accs.iter().enumerate() {
                        let v = fx.b.use_var(acc);
                        fx.b.ins().store(flags(), v, cp, (16 * q) as i32);
                    }
                }
            });
        });
    }
}

fn epilogue(fx: &mut Fx, p: &GemmPrep, rs: Value, cb: Value, bias: Option<&Buf>, out: &Buf) {
    let colc: Vec<u8> = p.colc.iter().flat_map(|c| c.to_le_bytes()).collect();
    let colc = fx.rodata(colc);
    let i32_range = i32::MIN as i64 <= p.lo && p.lo <= p.hi && p.hi <= i32::MAX as i64;
    if p.conv.is_none()
        && out.ek == Ek::I32
        && bias.is_none_or(|b| b.ek == Ek::I32)
        && i32_range
        && !fx.portable
        && shim::has_vector_helpers()
    {
        // The AVX-512 helper (a matmul's row-major i32 result).
        let zw: Vec<u8> =
            p.zw.iter()
                .flat_map(|&z| (z as i32).to_le_bytes())
                .collect();
        let zw = fx.rodata(zw);
        let rsv = if p.need_rowsum { rs } else { fx.c(0) };
        let bb = match bias {
            Some(b) => fx.base(b),
            None => fx.c(0),
        };
        let ob = fx.base(out);
        let sig = fx.sig(&[I64; 11], &[]);
        let f = fx.import("qcc_gemm_epilogue_i32", sig);
        let args = [
            fx.c(p.np as i64),
            fx.c(p.m as i64),
            fx.c(p.n as i64),
            fx.c(p.lo),
            fx.c(p.hi),
        ];
        fx.b.ins().call(
            f,
            &[
                cb, args[0], args[1], args[2], rsv, zw, colc, bb, args[3], args[4], ob,
            ],
        );
        return;
    }
    if let Some(g) = &p.conv
        && !fx.portable
        && out.ek == Ek::I32
        && bias.is_none_or(|b| b.ek == Ek::I32)
        && i32_range
    {
        // The blocked helper: the GEMM's pixel rows to NCHW.
        let zw: Vec<u8> = (0..g.o)
            .flat_map(|j| (p.zw.get(j).copied().unwrap_or(p.zw[0]) as i32).to_le_bytes())
            .collect();
        let zw = fx.rodata(zw);
        let rsv = if p.need_rowsum { rs } else { fx.c(0) };
        let bb = match bias {
            Some(b) => fx.base(b),
            None => fx.c(0),
        };
        let ob = fx.base(out);
        let sig = fx.sig(&[I64; 12], &[]);
        let f = fx.import("qcc_conv_epilogue_i32", sig);
        let args = [
            fx.c(p.np as i64),
            fx.c(g.n as i64),
            fx.c((g.oh * g.ow) as i64),
            fx.c(g.o as i64),
            fx.c(p.lo),
            fx.c(p.hi),
        ];
        fx.b.ins().call(
            f,
            &[
                cb, args[0], args[1], args[2], args[3], rsv, zw, colc, bb, args[4], args[5], ob,
            ],
        );
        return;
    }
    let per_col_zw = p.need_rowsum && p.zw.iter().any(|&z| z != p.zw[0]);
    let zw_tab = per_col_zw.then(|| {
        let bytes: Vec<u8> =
            p.zw.iter()
                .flat_map(|&z| (z as i32).to_le_bytes())
                .collect();
        fx.rodata(bytes)
    });
    let bias_base = bias.map(|b| (fx.base(b), b.ek));
    let ob = fx.base(out);
    let body = |fx: &mut Fx, r: Value, col: Value, cidx: Value, oidx: Value| {
        let v = fx.ld(Ek::I32, cb, cidx);
        let v = if p.need_rowsum {
            let s = fx.ld(Ek::I32, rs, r);
            let z = match zw_tab {
                Some(t) => fx.ld(Ek::I32, t, col),
                None => fx.c(p.zw[0]),
            };
            let t = fx.b.ins().imul(s, z);
            fx.b.ins().isub(v, t)
        } else {
            v
        };
        let cc = fx.ld(Ek::I32, colc, col);
        let v = fx.b.ins().iadd(v, cc);
        // Wrap to i32: exact, the true sum fits.
        let v = fx.b.ins().ireduce(types::I32, v);
        let v = fx.b.ins().sextend(I64, v);
        let v = match bias_base {
            Some((bb, ek)) => {
                let bv = fx.ld(ek, bb, col);
                fx.b.ins().iadd(v, bv)
            }
            None => v,
        };
        let v = fx.clamp(v, p.lo, p.hi);
        fx.st(out.ek, ob, oidx, v);
    };
    match &p.conv {
        None => fx.nest(&[p.m, p.n], &mut |fx, i| {
            let cidx = fx.lin(&[(i[0], p.np as i64), (i[1], 1)], 0);
            let oidx = fx.lin(&[(i[0], p.n as i64), (i[1], 1)], 0);
            body(fx, i[0], i[1], cidx, oidx);
        }),
        Some(g) => {
            let pix = g.oh * g.ow;
            fx.nest(&[g.n, g.o, pix], &mut |fx, i| {
                let (n, o, q) = (i[0], i[1], i[2]);
                let r = fx.lin(&[(n, pix as i64), (q, 1)], 0);
                let cidx = fx.lin(&[(r, p.np as i64), (o, 1)], 0);
                let oidx = fx.lin(&[(n, (g.o * pix) as i64), (o, pix as i64), (q, 1)], 0);
                body(fx, r, o, cidx, oidx);
            });
        }
    }
}
