//! Random **well-typed** graphs for property and differential tests.
//!
//! [`arb_graph`] is a proptest [`Strategy`] producing graphs whose every
//! result type follows the typing rules of `docs/semantics.md`: float chains
//! (matmul, dense, conv2d, pools, softmax, ...), quantize / dequantize /
//! requantize per tensor and per axis, `matmul_int` and `conv2d_int` with
//! accumulator types of scale `sx · sw` (per axis when the weights are),
//! `add_int`, `clamp_int`, quantized pools, and data movement (reshape,
//! flatten, transpose, concat) on any element type, and the ops with
//! run-time quantization parameters (`dynamic_scale`, `dynamic_zero_point`,
//! `quantize_dyn` with parameters computed or constant and broadcast,
//! `dequantize_dyn`, `matmul_int_dyn`, `conv2d_int_dyn`). The graphs are meant to
//! be run: by the interpreter, by the JIT, before and after passes.
//!
//! Shape of the graphs: one or two inputs (f32, sometimes quantized), then
//! ops that mostly extend the newest value (chains) and sometimes an older
//! one (DAGs, shared operands, dead branches); constants are made as needed
//! for weights, biases and second operands. The newest value is an output,
//! sometimes with a second one.
//!
//! How it works: the strategy draws a sequence of `u32` choices and
//! [`build_graph`] turns it into a graph deterministically. Every decision
//! reads one choice, and choice 0 is always the simplest option, so
//! proptest's shrinking (shorter sequences, smaller numbers) shrinks graphs
//! towards small, simple ones; an exhausted sequence reads as zeros.
//!
//! Bounds kept on purpose:
//! - every dimension is at most [`GenConfig::max_dim`] (capped at 8);
//! - integer ops take 8-bit (or narrower) operands and constant weights in
//!   `-127..=127`, and biases in `-1000..=1000`, so the accumulator bound of
//!   `matmul_int` / `conv2d_int` stays below 10^7, far from i32 overflow;
//! - quantized pools take operands of at most 16 bits;
//! - scales lie in `[2^-8, 0.5]`, so every rescale multiplier is far from the
//!   2^31 limit.

use proptest::prelude::*;
use qcc_ir::op::{Conv2dAttrs, F32Attr, IntAttrs, Op, Pool2dAttrs, RequantMode};
use qcc_ir::tensor::TensorData;
use qcc_ir::types::{ElemType, QuantType, ScalarType, TensorType};
use qcc_ir::{Graph, ValueId};

/// The largest dimension the generator ever makes.
pub const MAX_DIM: usize = 8;

/// Size limits of generated graphs.
#[derive(Clone, Copy, Debug)]
pub struct GenConfig {
    /// Ops added after the inputs (each may also add constants), at least 1.
    pub max_ops: usize,
    /// Largest dimension; capped at [`MAX_DIM`].
    pub max_dim: usize,
    /// Largest number of graph inputs, at least 1.
    pub max_inputs: usize,
    /// Also `dense_nbits` on blocked constant weights (off by default, so
    /// that recorded choice sequences keep building the graphs they did).
    pub blocked: bool,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            max_ops: 12,
            max_dim: 5,
            max_inputs: 2,
            blocked: false,
        }
    }
}

/// Random well-typed graphs with the default limits.
pub fn arb_graph() -> impl Strategy<Value = Graph> {
    arb_graph_with(GenConfig::default())
}

/// Random well-typed graphs with the given limits.
pub fn arb_graph_with(config: GenConfig) -> impl Strategy<Value = Graph> {
    prop::collection::vec(any::<u32>(), 8..400).prop_map(move |c| build_graph(&c, config))
}

/// Builds a graph from a sequence of choices (see the module doc). The same
/// choices always give the same graph.
pub fn build_graph(choices: &[u32], config: GenConfig) -> Graph {
    let config = GenConfig {
        max_ops: config.max_ops.max(1),
        max_dim: config.max_dim.clamp(1, MAX_DIM),
        max_inputs: config.max_inputs.max(1),
        blocked: config.blocked,
    };
    let mut b = Builder {
        g: Graph::new("gen"),
        ch: Choices {
            data: choices,
            pos: 0,
        },
        cfg: config,
        pool: Vec::new(),
        count: 0,
    };
    b.build();
    b.g
}

/// A stream of choices; past the end every choice is 0.
struct Choices<'a> {
    data: &'a [u32],
    pos: usize,
}

impl Choices<'_> {
    fn next(&mut self) -> u32 {
        let v = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        v
    }

    /// A number in `0..n` (0 if `n <= 1`).
    fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            self.next();
            0
        } else {
            self.next() as usize % n
        }
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            self.next();
            return lo;
        }
        let span = (hi - lo) as u64 + 1;
        lo + (self.next() as u64 % span) as i64
    }

    /// `1..=max`.
    fn dim(&mut self, max: usize) -> usize {
        1 + self.below(max)
    }

    /// True with probability about `1 / n` (false when choices run out).
    fn one_in(&mut self, n: u32) -> bool {
        let v = self.next();
        v != 0 && v.is_multiple_of(n.max(1))
    }

    fn flip(&mut self) -> bool {
        self.next() % 2 == 1
    }
}

/// What kind of value an operand is, for choosing ops.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    F32,
    /// Quantized per tensor.
    QTensor,
    /// Quantized per axis.
    QAxis,
    /// Plain integer.
    Int,
}

fn kind(t: &TensorType) -> Kind {
    match &t.elem {
        ElemType::Scalar(ScalarType::F32) => Kind::F32,
        ElemType::Scalar(_) => Kind::Int,
        ElemType::Quant(q) if q.is_per_axis() => Kind::QAxis,
        ElemType::Quant(_) => Kind::QTensor,
    }
}

/// The ops the generator can add.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Relu,
    Clamp,
    AddMul,
    Softmax,
    MatMul,
    Dense,
    Conv2d,
    MaxPool,
    AvgPool,
    GlobalAvgPool,
    Reshape,
    Flatten,
    Transpose,
    Concat,
    Gather,
    ArgMax,
    Quantize,
    Dequantize,
    Requantize,
    AddInt,
    ClampInt,
    MatMulInt,
    Conv2dInt,
    QuantizeDyn,
    DequantizeDyn,
    MatMulIntDyn,
    Conv2dIntDyn,
    DenseNbits,
}

struct Builder<'c> {
    g: Graph,
    ch: Choices<'c>,
    cfg: GenConfig,
    /// Values ops may use.
    pool: Vec<ValueId>,
    /// Values made so far (for names).
    count: usize,
}

impl Builder<'_> {
    fn ty(&self, v: ValueId) -> TensorType {
        self.g.ty(v).clone()
    }

    fn build(&mut self) {
        let inputs = 1 + self.ch.below(self.cfg.max_inputs);
        for i in 0..inputs {
            let ty = self.input_type();
            let v = self.g.add_input(format!("x{i}"), ty);
            self.pool.push(v);
        }
        let ops = 1 + self.ch.below(self.cfg.max_ops);
        let mut last = self.pool[0];
        for _ in 0..ops {
            // Mostly extend the newest value (chains), else any value (DAGs).
            let x = if self.ch.one_in(3) {
                self.pool[self.ch.below(self.pool.len())]
            } else {
                self.pool[self.pool.len() - 1]
            };
            if let Some(v) = self.step(x) {
                last = v;
            }
        }
        self.g.add_output("out0", last);
        if self.ch.one_in(3) {
            let other = self.pool[self.ch.below(self.pool.len())];
            self.g.add_output("out1", other);
        }
    }

    /// An input: f32 (mostly) or quantized per tensor, of rank 2 or 4.
    fn input_type(&mut self) -> TensorType {
        let d = self.cfg.max_dim;
        let shape = if self.ch.flip() {
            vec![
                self.ch.dim(2.min(d)),
                self.ch.dim(d),
                self.ch.dim(d),
                self.ch.dim(d),
            ]
        } else {
            vec![self.ch.dim(d), self.ch.dim(d)]
        };
        if self.ch.one_in(4) {
            let q = self.quant_per_tensor(&[ScalarType::U8, ScalarType::I8]);
            TensorType::new(shape, ElemType::quant(q))
        } else {
            TensorType::f32(shape)
        }
    }

    /// Adds a node (named now and then) and makes it available as an operand.
    fn push(&mut self, op: Op, args: &[ValueId], ty: TensorType) -> ValueId {
        let v = self.g.add_node(op, args, ty);
        self.named(v);
        self.pool.push(v);
        v
    }

    fn named(&mut self, v: ValueId) {
        self.count += 1;
        if self.ch.flip() {
            self.g.node_mut(v).name = Some(format!("v{}", self.count));
        }
    }

    /// A constant of the type: f32 values in `[-2, 2]` (multiples of 1/8),
    /// integers in the storage range clipped to `-127..=127`.
    fn constant(&mut self, ty: TensorType) -> ValueId {
        let n = ty.num_elements().unwrap_or(1);
        let data = match ty.elem.int_range() {
            None => TensorData::F32(
                (0..n)
                    .map(|_| self.ch.range(-16, 16) as f32 / 8.0)
                    .collect(),
            ),
            Some((lo, hi)) => {
                let vals: Vec<i64> = (0..n)
                    .map(|_| self.ch.range(lo.max(-127), hi.min(127)))
                    .collect();
                int_data(ty.elem.storage(), &vals)
            }
        };
        let v = self.g.add_const(data, ty);
        self.named(v);
        v
    }

    /// An i32 (or i32-accumulator) bias with values in `-1000..=1000`.
    fn bias(&mut self, ty: TensorType) -> ValueId {
        let n = ty.num_elements().unwrap_or(1);
        let vals: Vec<i64> = (0..n).map(|_| self.ch.range(-1000, 1000)).collect();
        let v = self.g.add_const(int_data(ScalarType::I32, &vals), ty);
        self.named(v);
        v
    }

    // ---- types ----

    /// A scale in `[2^-8, 0.5]`.
    fn scale(&mut self) -> f32 {
        if self.ch.flip() {
            0.5f32.powi(1 + self.ch.below(8) as i32)
        } else {
            (4 + self.ch.below(497)) as f32 / 1000.0
        }
    }

    fn storage_range(&mut self, storage: ScalarType) -> (i64, i64) {
        let (lo, hi) = storage.int_range().unwrap_or((0, 0));
        if storage == ScalarType::I8 && self.ch.one_in(4) {
            (-127, 127)
        } else {
            (lo, hi)
        }
    }

    fn quant_per_tensor(&mut self, storages: &[ScalarType]) -> QuantType {
        let storage = storages[self.ch.below(storages.len())];
        let (lo, hi) = self.storage_range(storage);
        let mut q = QuantType::per_tensor(storage, self.scale(), 0);
        q.storage_min = lo;
        q.storage_max = hi;
        q.zero_points[0] = self.zero_point(lo, hi);
        q
    }

    /// A zero point: 0 when it is in range and the choice says so, else
    /// anywhere in the range.
    fn zero_point(&mut self, lo: i64, hi: i64) -> i64 {
        if (lo..=hi).contains(&0) && !self.ch.one_in(2) {
            0
        } else {
            self.ch.range(lo.max(-1000), hi.min(1000))
        }
    }

    fn quant_per_axis(
        &mut self,
        storages: &[ScalarType],
        axis: usize,
        channels: usize,
    ) -> QuantType {
        let storage = storages[self.ch.below(storages.len())];
        let (lo, hi) = self.storage_range(storage);
        let scales = (0..channels).map(|_| self.scale()).collect();
        let zps = (0..channels).map(|_| self.zero_point(lo, hi)).collect();
        let mut q = QuantType::per_axis(storage, axis, scales, zps);
        q.storage_min = lo;
        q.storage_max = hi;
        q
    }

    /// A quantized element type for a value of this shape: per tensor, or
    /// per axis on `axis` if given (or any axis if `any_axis`).
    fn quant_elem(&mut self, shape: &[usize], storages: &[ScalarType], any_axis: bool) -> ElemType {
        if any_axis && !shape.is_empty() && self.ch.one_in(3) {
            let axis = self.ch.below(shape.len());
            ElemType::quant(self.quant_per_axis(storages, axis, shape[axis]))
        } else {
            ElemType::quant(self.quant_per_tensor(storages))
        }
    }

    // ---- steps ----

    /// The ops that can take `x` as their first operand.
    fn candidates(&self, t: &TensorType) -> Vec<Step> {
        use Step::*;
        let rank = t.rank();
        let bits = t.elem.storage().bits();
        let mut s = Vec::new();
        let movable = |s: &mut Vec<Step>| {
            s.push(Reshape);
            s.push(Flatten);
            if rank >= 1 {
                s.push(Transpose);
            }
            if t.shape.iter().any(|&d| d < MAX_DIM) {
                s.push(Concat);
            }
            if rank >= 1 && bits >= 8 {
                s.extend([Gather, ArgMax]);
            }
        };
        match kind(t) {
            Kind::F32 => {
                s.extend([Relu, Clamp, AddMul, Quantize, QuantizeDyn]);
                if rank >= 1 {
                    s.push(Softmax);
                }
                if rank >= 2 {
                    s.push(MatMul);
                }
                if rank == 2 {
                    s.push(Dense);
                }
                if rank >= 1 && self.cfg.blocked {
                    s.push(DenseNbits);
                }
                if rank == 4 {
                    s.extend([Conv2d, MaxPool, AvgPool, GlobalAvgPool]);
                }
                movable(&mut s);
            }
            Kind::QTensor => {
                s.extend([Dequantize, Requantize, ClampInt]);
                if bits <= 8 {
                    s.push(AddInt);
                    if rank >= 2 {
                        s.push(MatMulInt);
                    }
                }
                if rank == 4 {
                    s.push(MaxPool);
                    if bits <= 16 {
                        s.extend([AvgPool, GlobalAvgPool]);
                    }
                    if bits <= 8 {
                        s.push(Conv2dInt);
                    }
                }
                movable(&mut s);
            }
            Kind::QAxis => {
                s.extend([Dequantize, Requantize, ClampInt]);
                if rank >= 1 {
                    s.push(Transpose);
                }
                // A window must not mix channels of different scales.
                let axis = t.elem.as_quant().and_then(|q| q.axis);
                if rank == 4 && matches!(axis, Some(0 | 1)) {
                    s.push(MaxPool);
                }
            }
            Kind::Int => {
                s.extend([ClampInt, DequantizeDyn]);
                if rank == 4 {
                    s.push(MaxPool);
                }
                if bits <= 8 && rank >= 2 {
                    s.extend([MatMulInt, MatMulIntDyn]);
                }
                if bits <= 8 && rank == 4 {
                    s.extend([Conv2dInt, Conv2dIntDyn]);
                }
                movable(&mut s);
            }
        }
        s
    }

    fn step(&mut self, x: ValueId) -> Option<ValueId> {
        let t = self.ty(x);
        let options = self.candidates(&t);
        if options.is_empty() {
            return None;
        }
        let step = options[self.ch.below(options.len())];
        match step {
            Step::Relu => Some(self.push(Op::Relu, &[x], t)),
            Step::Clamp => {
                let a = self.ch.range(-16, 16) as f32 / 4.0;
                let b = self.ch.range(-16, 16) as f32 / 4.0;
                let op = Op::Clamp {
                    min: F32Attr(a.min(b)),
                    max: F32Attr(a.max(b)),
                };
                Some(self.push(op, &[x], t))
            }
            Step::AddMul => {
                let y = self.partner(x, &t);
                let op = if self.ch.flip() { Op::Mul } else { Op::Add };
                let args = if self.ch.flip() { [y, x] } else { [x, y] };
                Some(self.push(op, &args, t))
            }
            Step::Softmax => {
                let axis = self.ch.below(t.rank());
                Some(self.push(Op::Softmax { axis }, &[x], t))
            }
            Step::MatMul => {
                let k = t.shape[t.rank() - 1];
                let n = self.ch.dim(self.cfg.max_dim);
                let w = self.constant(TensorType::f32(vec![k, n]));
                let mut shape = t.shape.clone();
                shape[t.rank() - 1] = n;
                Some(self.push(Op::MatMul, &[x, w], TensorType::f32(shape)))
            }
            Step::Dense => {
                let (m, k) = (t.shape[0], t.shape[1]);
                let n = self.ch.dim(self.cfg.max_dim);
                let w = self.constant(TensorType::f32(vec![n, k]));
                let mut args = vec![x, w];
                if self.ch.flip() {
                    args.push(self.constant(TensorType::f32(vec![n])));
                }
                Some(self.push(Op::Dense, &args, TensorType::f32(vec![m, n])))
            }
            Step::DenseNbits => {
                let k = t.shape[t.rank() - 1];
                let n = self.ch.dim(self.cfg.max_dim);
                let blocks: Vec<usize> = (1..=k).filter(|b| k.is_multiple_of(*b)).collect();
                let block = blocks[self.ch.below(blocks.len())];
                let storages = [
                    ScalarType::U4,
                    ScalarType::I4,
                    ScalarType::U8,
                    ScalarType::I8,
                ];
                let st = storages[self.ch.below(4)];
                let (lo, hi) = st.int_range().unwrap_or((0, 0));
                let count = n * k / block;
                let mut scales = Vec::with_capacity(count);
                let mut zps = Vec::with_capacity(count);
                for _ in 0..count {
                    let s = self.scale();
                    scales.push(if self.ch.one_in(4) { -s } else { s });
                    zps.push(self.ch.range(lo, hi));
                }
                let q = QuantType::blocked(st, 1, block, scales, zps);
                let w = self.constant(TensorType::new(vec![n, k], ElemType::quant(q)));
                let mut args = vec![x, w];
                if self.ch.flip() {
                    args.push(self.constant(TensorType::f32(vec![n])));
                }
                let mut shape = t.shape.clone();
                shape[t.rank() - 1] = n;
                Some(self.push(Op::DenseNbits, &args, TensorType::f32(shape)))
            }
            Step::Conv2d => {
                let (attrs, o, kh, kw, out) = self.conv_params(&t.shape);
                let cg = t.shape[1] / attrs.groups;
                let w = self.constant(TensorType::f32(vec![o, cg, kh, kw]));
                let mut args = vec![x, w];
                if self.ch.flip() {
                    args.push(self.constant(TensorType::f32(vec![o])));
                }
                Some(self.push(Op::Conv2d(attrs), &args, TensorType::f32(out)))
            }
            Step::MaxPool => {
                let (attrs, out) = self.pool_params(&t.shape, false);
                Some(self.push(Op::MaxPool2d(attrs), &[x], t.with_shape(out)))
            }
            Step::AvgPool => {
                let (attrs, out) = self.pool_params(&t.shape, true);
                let ty = self.pool_result(&t, out);
                Some(self.push(Op::AvgPool2d(attrs), &[x], ty))
            }
            Step::GlobalAvgPool => {
                let mode = self.mode();
                let out = vec![t.shape[0], t.shape[1], 1, 1];
                let ty = self.pool_result(&t, out);
                Some(self.push(Op::GlobalAvgPool { mode }, &[x], ty))
            }
            Step::Reshape => {
                let shape = self.reshape_target(&t.shape);
                Some(self.push(Op::Reshape, &[x], t.with_shape(shape)))
            }
            Step::Flatten => {
                let axis = self.ch.below(t.rank() + 1);
                let a: usize = t.shape[..axis].iter().product();
                let b: usize = t.shape[axis..].iter().product();
                Some(self.push(Op::Flatten { axis }, &[x], t.with_shape(vec![a, b])))
            }
            Step::Transpose => {
                let perm = self.permutation(t.rank());
                let shape: Vec<usize> = perm.iter().map(|&p| t.shape[p]).collect();
                let elem = match t.elem.as_quant() {
                    Some(q) if q.is_per_axis() => {
                        let mut q = q.clone();
                        q.axis = q.axis.and_then(|a| perm.iter().position(|&p| p == a));
                        ElemType::quant(q)
                    }
                    _ => t.elem.clone(),
                };
                let op = Op::Transpose { perm };
                Some(self.push(op, &[x], TensorType::new(shape, elem)))
            }
            Step::Concat => self.concat(x, &t),
            Step::Gather => {
                // Indices of rank 1 (sometimes 0 or 2), some out of range
                // (negative ones wrap, the rest clamp).
                let axis = self.ch.below(t.rank());
                let d = t.shape[axis] as i64;
                let ishape = match self.ch.below(4) {
                    0 => vec![],
                    1 => vec![self.ch.dim(3), self.ch.dim(3)],
                    _ => vec![self.ch.dim(self.cfg.max_dim)],
                };
                let count: usize = ishape.iter().product();
                let vals: Vec<i64> = (0..count).map(|_| self.ch.range(-d - 2, d + 1)).collect();
                let idx = self.g.add_const(
                    int_data(ScalarType::I32, &vals),
                    TensorType::new(ishape.clone(), ElemType::Scalar(ScalarType::I32)),
                );
                self.named(idx);
                let mut shape = t.shape[..axis].to_vec();
                shape.extend_from_slice(&ishape);
                shape.extend_from_slice(&t.shape[axis + 1..]);
                if shape.iter().product::<usize>() == 0 || shape.len() > 6 {
                    return None;
                }
                Some(self.push(Op::Gather { axis }, &[x, idx], t.with_shape(shape)))
            }
            Step::ArgMax => {
                let axis = self.ch.below(t.rank());
                let last = self.ch.flip();
                let op = if self.ch.flip() {
                    Op::ArgMax { axis, last }
                } else {
                    Op::ArgMin { axis, last }
                };
                let mut shape = t.shape.clone();
                shape[axis] = 1;
                Some(self.push(
                    op,
                    &[x],
                    TensorType::new(shape, ElemType::Scalar(ScalarType::I32)),
                ))
            }
            Step::Quantize => {
                let elem = self.quant_elem(
                    &t.shape,
                    &[
                        ScalarType::U8,
                        ScalarType::I8,
                        ScalarType::I16,
                        ScalarType::U16,
                        ScalarType::U4,
                        ScalarType::I4,
                    ],
                    true,
                );
                Some(self.push(Op::Quantize, &[x], t.with_elem(elem)))
            }
            Step::Dequantize => Some(self.push(Op::Dequantize, &[x], t.with_elem(ElemType::F32))),
            Step::Requantize => {
                let storages = [
                    ScalarType::U8,
                    ScalarType::I8,
                    ScalarType::I16,
                    ScalarType::U16,
                    ScalarType::U4,
                    ScalarType::I4,
                ];
                let in_axis = t.elem.as_quant().and_then(|q| q.axis);
                let elem = match in_axis {
                    // Per axis in: per tensor out, or per axis on the same axis.
                    Some(axis) if self.ch.flip() => {
                        ElemType::quant(self.quant_per_axis(&storages, axis, t.shape[axis]))
                    }
                    Some(_) => ElemType::quant(self.quant_per_tensor(&storages)),
                    None => self.quant_elem(&t.shape, &storages, true),
                };
                let mode = self.mode();
                Some(self.push(Op::Requantize { mode }, &[x], t.with_elem(elem)))
            }
            Step::AddInt => self.add_int(x, &t),
            Step::ClampInt => {
                let (lo, hi) = t.elem.int_range().unwrap_or((0, 0));
                let a = self.ch.range(lo.max(-200), hi.min(200));
                let b = self.ch.range(lo.max(-200), hi.min(200));
                let op = Op::ClampInt {
                    min: a.min(b),
                    max: a.max(b),
                };
                Some(self.push(op, &[x], t))
            }
            Step::MatMulInt => self.matmul_int(x, &t),
            Step::Conv2dInt => self.conv2d_int(x, &t),
            Step::QuantizeDyn => self.quantize_dyn(x, &t),
            Step::DequantizeDyn => {
                let st = t.elem.storage();
                let s = self.dyn_scales(&t.shape);
                let z = self.dyn_zero_points(&t.shape, st);
                Some(self.push(Op::DequantizeDyn, &[x, s, z], t.with_elem(ElemType::F32)))
            }
            Step::MatMulIntDyn => {
                let (k, n) = (t.shape[t.rank() - 1], self.ch.dim(self.cfg.max_dim));
                let w = self.dyn_weights(vec![k, n]);
                let zx = self.dyn_zero_points(&[], t.elem.storage());
                let zw = self.dyn_weight_zero_points(w, n);
                let mut shape = t.shape.clone();
                shape[t.rank() - 1] = n;
                let ty = TensorType::new(shape, ElemType::I32);
                Some(self.push(Op::MatMulIntDyn, &[x, w, zx, zw], ty))
            }
            Step::Conv2dIntDyn => {
                let (attrs, o, kh, kw, out) = self.conv_params(&t.shape);
                let cg = t.shape[1] / attrs.groups;
                let w = self.dyn_weights(vec![o, cg, kh, kw]);
                let zx = self.dyn_zero_points(&[], t.elem.storage());
                let zw = self.dyn_weight_zero_points(w, o);
                let ty = TensorType::new(out, ElemType::I32);
                Some(self.push(Op::Conv2dIntDyn(attrs), &[x, w, zx, zw], ty))
            }
        }
    }

    /// `quantize_dyn x, s, z`: with the scale and zero point `x`'s own
    /// (`dynamic_scale`, `dynamic_zero_point`), or constants of a shape that
    /// broadcasts to `x`'s.
    fn quantize_dyn(&mut self, x: ValueId, t: &TensorType) -> Option<ValueId> {
        let (s, z, st) = if self.ch.flip() {
            let s = self
                .g
                .add_node(Op::DynamicScale, &[x], TensorType::f32(vec![]));
            self.named(s);
            let zt = TensorType::new(vec![], ElemType::Scalar(ScalarType::U8));
            let z = self.g.add_node(Op::DynamicZeroPoint, &[x], zt);
            self.named(z);
            (s, z, ScalarType::U8)
        } else {
            let storages = [
                ScalarType::U8,
                ScalarType::I8,
                ScalarType::I16,
                ScalarType::U16,
                ScalarType::U4,
                ScalarType::I4,
            ];
            let st = storages[self.ch.below(storages.len())];
            let s = self.dyn_scales(&t.shape);
            let z = self.dyn_zero_points(&t.shape, st);
            (s, z, st)
        };
        Some(self.push(
            Op::QuantizeDyn,
            &[x, s, z],
            t.with_elem(ElemType::Scalar(st)),
        ))
    }

    /// A suffix of `shape` with some dimensions set to 1: a parameter shape
    /// that broadcasts to `shape`.
    fn param_shape(&mut self, shape: &[usize]) -> Vec<usize> {
        let keep = self.ch.below(shape.len() + 1);
        shape[shape.len() - keep..]
            .iter()
            .map(|&d| if self.ch.flip() { 1 } else { d })
            .collect()
    }

    /// Constant scales (in `[2^-8, 0.5]`) broadcasting to `shape`.
    fn dyn_scales(&mut self, shape: &[usize]) -> ValueId {
        let ps = self.param_shape(shape);
        let n = ps.iter().product();
        let vals: Vec<f32> = (0..n).map(|_| self.scale()).collect();
        let v = self.g.add_const(TensorData::F32(vals), TensorType::f32(ps));
        self.named(v);
        v
    }

    /// Constant zero points of `storage` broadcasting to `shape` (rank 0 for
    /// an empty `shape`).
    fn dyn_zero_points(&mut self, shape: &[usize], storage: ScalarType) -> ValueId {
        let ps = self.param_shape(shape);
        let n = ps.iter().product();
        let (lo, hi) = storage.int_range().unwrap_or((0, 0));
        let vals: Vec<i64> = (0..n).map(|_| self.zero_point(lo, hi)).collect();
        let ty = TensorType::new(ps, ElemType::Scalar(storage));
        let v = self.g.add_const(int_data(storage, &vals), ty);
        self.named(v);
        v
    }

    /// Plain `i8` or `u8` constant weights for the `_dyn` integer ops.
    fn dyn_weights(&mut self, shape: Vec<usize>) -> ValueId {
        let st = if self.ch.flip() {
            ScalarType::I8
        } else {
            ScalarType::U8
        };
        self.constant(TensorType::new(shape, ElemType::Scalar(st)))
    }

    /// The weights' zero points: rank 0 or one per output channel.
    fn dyn_weight_zero_points(&mut self, w: ValueId, channels: usize) -> ValueId {
        let st = self.g.ty(w).elem.storage();
        let shape = if self.ch.flip() {
            vec![channels]
        } else {
            vec![]
        };
        let (lo, hi) = st.int_range().unwrap_or((0, 0));
        let vals: Vec<i64> = (0..channels.max(1))
            .take(shape.iter().product())
            .map(|_| self.ch.range(lo.max(-127), hi.min(127)))
            .collect();
        let v = self.g.add_const(
            int_data(st, &vals),
            TensorType::new(shape, ElemType::Scalar(st)),
        );
        self.named(v);
        v
    }

    fn mode(&mut self) -> RequantMode {
        RequantMode::ALL[self.ch.below(RequantMode::ALL.len())]
    }

    /// An f32 operand for `add` / `mul` with `x`: `x` itself, another value
    /// of the same shape, or a constant whose shape broadcasts to `x`'s.
    fn partner(&mut self, x: ValueId, t: &TensorType) -> ValueId {
        match self.ch.below(3) {
            0 => x,
            1 => {
                let same: Vec<ValueId> = self
                    .pool
                    .iter()
                    .copied()
                    .filter(|v| self.g.ty(*v) == t)
                    .collect();
                same[self.ch.below(same.len())]
            }
            _ => {
                // Keep a suffix of the dimensions, some of them set to 1.
                let keep = self.ch.below(t.rank() + 1);
                let shape: Vec<usize> = t.shape[t.rank() - keep..]
                    .iter()
                    .map(|&d| if self.ch.flip() { 1 } else { d })
                    .collect();
                self.constant(TensorType::f32(shape))
            }
        }
    }

    /// Attributes and shapes of a convolution over `x [N, C, H, W]`:
    /// `(attrs, O, KH, KW, result shape)`, with `OH, OW >= 1`.
    fn conv_params(&mut self, x: &[usize]) -> (Conv2dAttrs, usize, usize, usize, Vec<usize>) {
        let (n, c, h, w) = (x[0], x[1], x[2], x[3]);
        let divisors: Vec<usize> = (1..=c).filter(|g| c % g == 0).collect();
        let groups = divisors[self.ch.below(divisors.len())];
        let per_group = 1 + self.ch.below((self.cfg.max_dim / groups).max(1));
        let o = groups * per_group;
        let mut attrs = Conv2dAttrs {
            strides: [1 + self.ch.below(2), 1 + self.ch.below(2)],
            pads: [
                self.ch.below(2),
                self.ch.below(2),
                self.ch.below(2),
                self.ch.below(2),
            ],
            dilations: [1 + self.ch.below(2), 1 + self.ch.below(2)],
            groups,
        };
        let mut kh = 1 + self.ch.below(3);
        let mut kw = 1 + self.ch.below(3);
        let span = |size: usize, pad: usize, k: usize, d: usize| {
            (size + pad) as i64 - (d * (k - 1)) as i64 - 1
        };
        if span(h, attrs.pads[0] + attrs.pads[2], kh, attrs.dilations[0]) < 0 {
            kh = 1;
            attrs.dilations[0] = 1;
        }
        if span(w, attrs.pads[1] + attrs.pads[3], kw, attrs.dilations[1]) < 0 {
            kw = 1;
            attrs.dilations[1] = 1;
        }
        let oh = span(h, attrs.pads[0] + attrs.pads[2], kh, attrs.dilations[0]) as usize
            / attrs.strides[0]
            + 1;
        let ow = span(w, attrs.pads[1] + attrs.pads[3], kw, attrs.dilations[1]) as usize
            / attrs.strides[1]
            + 1;
        (attrs, o, kh, kw, vec![n, o, oh, ow])
    }

    /// Pool attributes over `x [N, C, H, W]` (kernel within the input, pads
    /// smaller than the kernel) and the result shape.
    fn pool_params(&mut self, x: &[usize], avg: bool) -> (Pool2dAttrs, Vec<usize>) {
        let (h, w) = (x[2], x[3]);
        let kh = 1 + self.ch.below(h.min(3));
        let kw = 1 + self.ch.below(w.min(3));
        let mut attrs = Pool2dAttrs::new([kh, kw]);
        attrs.strides = [1 + self.ch.below(2), 1 + self.ch.below(2)];
        attrs.pads = [
            self.ch.below(kh.min(2)),
            self.ch.below(kw.min(2)),
            self.ch.below(kh.min(2)),
            self.ch.below(kw.min(2)),
        ];
        if avg {
            attrs.count_include_pad = self.ch.flip();
            attrs.mode = self.mode();
        }
        let oh = (h + attrs.pads[0] + attrs.pads[2] - kh) / attrs.strides[0] + 1;
        let ow = (w + attrs.pads[1] + attrs.pads[3] - kw) / attrs.strides[1] + 1;
        (attrs, vec![x[0], x[1], oh, ow])
    }

    /// The result type of an average pool: f32 stays f32; quantized gets new
    /// per-tensor parameters.
    fn pool_result(&mut self, t: &TensorType, shape: Vec<usize>) -> TensorType {
        if t.elem.is_f32() {
            TensorType::f32(shape)
        } else {
            let q = self.quant_per_tensor(&[ScalarType::U8, ScalarType::I8, ScalarType::I16]);
            TensorType::new(shape, ElemType::quant(q))
        }
    }

    /// A shape with the same number of elements.
    fn reshape_target(&mut self, shape: &[usize]) -> Vec<usize> {
        let n: usize = shape.iter().product();
        match self.ch.below(4) {
            0 => vec![n],
            1 => vec![1, n],
            2 => shape.iter().rev().copied().collect(),
            _ => {
                let mut s = shape.to_vec();
                let at = self.ch.below(s.len() + 1);
                s.insert(at, 1);
                s
            }
        }
    }

    fn permutation(&mut self, rank: usize) -> Vec<usize> {
        let mut perm: Vec<usize> = (0..rank).collect();
        for i in (1..rank).rev() {
            let j = self.ch.below(i + 1);
            perm.swap(i, j);
        }
        perm
    }

    /// `concat` of `x` with itself or constants of the same element type,
    /// along an axis where the sum stays within [`MAX_DIM`].
    fn concat(&mut self, x: ValueId, t: &TensorType) -> Option<ValueId> {
        let axes: Vec<usize> = (0..t.rank()).filter(|&a| t.shape[a] < MAX_DIM).collect();
        if axes.is_empty() {
            return None;
        }
        let axis = axes[self.ch.below(axes.len())];
        let mut total = t.shape[axis];
        let mut args = vec![x];
        let extra = 1 + self.ch.below(2);
        for _ in 0..extra {
            let room = MAX_DIM - total;
            if room == 0 {
                break;
            }
            if t.shape[axis] <= room && self.ch.flip() {
                args.push(x);
                total += t.shape[axis];
            } else {
                let d = 1 + self.ch.below(room.min(self.cfg.max_dim));
                let mut shape = t.shape.clone();
                shape[axis] = d;
                args.push(self.constant(t.with_shape(shape)));
                total += d;
            }
        }
        let mut shape = t.shape.clone();
        shape[axis] = total;
        Some(self.push(Op::Concat { axis }, &args, t.with_shape(shape)))
    }

    /// `add_int x, y` with `y` a per-tensor 8-bit value of the same shape or
    /// a constant that broadcasts to `x`'s shape.
    fn add_int(&mut self, x: ValueId, t: &TensorType) -> Option<ValueId> {
        let same: Vec<ValueId> = self
            .pool
            .iter()
            .copied()
            .filter(|v| {
                let ty = self.g.ty(*v);
                ty.shape == t.shape && kind(ty) == Kind::QTensor && ty.elem.storage().bits() <= 8
            })
            .collect();
        let y = if self.ch.flip() {
            same[self.ch.below(same.len())]
        } else {
            let keep = self.ch.below(t.rank() + 1);
            let shape: Vec<usize> = t.shape[t.rank() - keep..]
                .iter()
                .map(|&d| if self.ch.flip() { 1 } else { d })
                .collect();
            let q = self.quant_per_tensor(&[ScalarType::U8, ScalarType::I8, ScalarType::I4]);
            self.constant(TensorType::new(shape, ElemType::quant(q)))
        };
        let out = self.quant_per_tensor(&[ScalarType::U8, ScalarType::I8, ScalarType::I16]);
        let mode = self.mode();
        let args = if self.ch.flip() { [y, x] } else { [x, y] };
        // onnxruntime's dialect where it is defined (float mode, 8 bits).
        let narrow = [x, y]
            .iter()
            .all(|&v| self.g.ty(v).elem.storage().bits() <= 8)
            && out.storage.bits() <= 8;
        let ort = mode == RequantMode::Float && narrow && self.ch.flip();
        Some(self.push(
            Op::AddInt { mode, ort },
            &args,
            t.with_elem(ElemType::quant(out)),
        ))
    }

    /// Integer weights for `matmul_int` / `conv2d_int`: plain `i8`, or
    /// quantized 8- or 4-bit per tensor, or per axis on `axis`.
    fn int_weights(&mut self, shape: Vec<usize>, axis: usize) -> ValueId {
        let storages = [ScalarType::I8, ScalarType::U8, ScalarType::I4];
        let elem = match self.ch.below(3) {
            0 => ElemType::quant(self.quant_per_tensor(&storages)),
            1 => ElemType::quant(self.quant_per_axis(&storages, axis, shape[axis])),
            _ => ElemType::Scalar(ScalarType::I8),
        };
        self.constant(TensorType::new(shape, elem))
    }

    /// The accumulator element type of `matmul_int` / `conv2d_int`, and the
    /// matching quantized bias type (per axis on 0 when the weights are per
    /// axis). `None` when an operand is a plain integer: the result is `i32`.
    fn accumulator(
        &self,
        x: &TensorType,
        w: &TensorType,
        out_axis: usize,
    ) -> Option<(QuantType, QuantType)> {
        let (qx, qw) = (x.elem.as_quant()?, w.elem.as_quant()?);
        let sx = qx.scales[0];
        let scales: Vec<f32> = qw.scales.iter().map(|&sw| sx * sw).collect();
        let zeros = vec![0; scales.len()];
        Some(if qw.is_per_axis() {
            (
                QuantType::per_axis(ScalarType::I32, out_axis, scales.clone(), zeros.clone()),
                QuantType::per_axis(ScalarType::I32, 0, scales, zeros),
            )
        } else {
            (
                QuantType::per_tensor(ScalarType::I32, scales[0], 0),
                QuantType::per_tensor(ScalarType::I32, scales[0], 0),
            )
        })
    }

    /// Result type and optional bias for an integer op whose output channels
    /// are `channels` long.
    fn int_result(
        &mut self,
        x: &TensorType,
        w: &TensorType,
        shape: Vec<usize>,
        out_axis: usize,
        channels: usize,
    ) -> (TensorType, Option<ValueId>) {
        let acc = self.accumulator(x, w, out_axis);
        let plain_result = acc.is_none() || self.ch.one_in(4);
        let result = match (&acc, plain_result) {
            (Some((q, _)), false) => TensorType::new(shape, ElemType::quant(q.clone())),
            _ => TensorType::new(shape, ElemType::I32),
        };
        let bias = if self.ch.flip() {
            let elem = match acc {
                Some((_, bq)) if self.ch.flip() => ElemType::quant(bq),
                _ => ElemType::I32,
            };
            Some(self.bias(TensorType::new(vec![channels], elem)))
        } else {
            None
        };
        (result, bias)
    }

    fn matmul_int(&mut self, x: ValueId, t: &TensorType) -> Option<ValueId> {
        let k = t.shape[t.rank() - 1];
        let n = self.ch.dim(self.cfg.max_dim);
        let w = self.int_weights(vec![k, n], 1);
        let wt = self.ty(w);
        let mut shape = t.shape.clone();
        shape[t.rank() - 1] = n;
        let out_axis = shape.len() - 1;
        let (result, bias) = self.int_result(t, &wt, shape, out_axis, n);
        let int = IntAttrs {
            zx_in_bias: self.ch.one_in(3),
        };
        let mut args = vec![x, w];
        args.extend(bias);
        // Sometimes the weights' zero-point term as explicit row sums (which
        // need a bias before them).
        if self.ch.one_in(4) {
            if args.len() == 2 {
                let b = self.bias(TensorType::new(vec![n], ElemType::I32));
                args.push(b);
            }
            let mut rows = t.shape.clone();
            rows[t.rank() - 1] = 1;
            let rs = self.push(Op::RowSums, &[x], TensorType::new(rows, ElemType::I32));
            args.push(rs);
        }
        let v = self.push(Op::MatMulInt(int), &args, result);
        Some(self.maybe_requantize(v))
    }

    fn conv2d_int(&mut self, x: ValueId, t: &TensorType) -> Option<ValueId> {
        let (attrs, o, kh, kw, out) = self.conv_params(&t.shape);
        let cg = t.shape[1] / attrs.groups;
        let w = self.int_weights(vec![o, cg, kh, kw], 0);
        let wt = self.ty(w);
        let (result, bias) = self.int_result(t, &wt, out, 1, o);
        let int = IntAttrs {
            zx_in_bias: self.ch.one_in(3),
        };
        let mut args = vec![x, w];
        args.extend(bias);
        let v = self.push(Op::Conv2dInt(attrs, int), &args, result);
        Some(self.maybe_requantize(v))
    }

    /// Often follows an accumulator with a `requantize` to 8 bits, the
    /// usual pattern of quantized networks.
    fn maybe_requantize(&mut self, acc: ValueId) -> ValueId {
        let t = self.ty(acc);
        if t.elem.as_quant().is_none() || self.ch.one_in(3) {
            return acc;
        }
        let q = self.quant_per_tensor(&[ScalarType::U8, ScalarType::I8]);
        let mode = self.mode();
        self.push(
            Op::Requantize { mode },
            &[acc],
            t.with_elem(ElemType::quant(q)),
        )
    }
}

fn int_data(storage: ScalarType, vals: &[i64]) -> TensorData {
    // Values are generated inside the storage range; clamp anyway so that
    // this can never fail.
    let (lo, hi) = storage.int_range().unwrap_or((0, 0));
    let clamped: Vec<i64> = vals.iter().map(|v| (*v).clamp(lo, hi)).collect();
    TensorData::from_i64s(storage, &clamped)
        .unwrap_or_else(|_| TensorData::zeros(storage, vals.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_choices_give_a_small_graph() {
        let g = build_graph(&[], GenConfig::default());
        assert_eq!(g.inputs().len(), 1);
        assert_eq!(g.outputs().len(), 1);
        assert!(g.node_count() >= 2);
    }

    #[test]
    fn same_choices_same_graph() {
        let c: Vec<u32> = (0..300u32).map(|i| i.wrapping_mul(2_654_435_761)).collect();
        let a = build_graph(&c, GenConfig::default());
        let b = build_graph(&c, GenConfig::default());
        assert!(a == b);
    }

    #[test]
    fn blocked_graphs_have_dense_nbits_and_verify() {
        let mut with = 0;
        for seed in 0..200u32 {
            let c: Vec<u32> = (0..300u32)
                .map(|i| (i ^ seed.wrapping_mul(40_503)).wrapping_mul(2_654_435_761) >> 7)
                .collect();
            let cfg = GenConfig {
                blocked: true,
                ..GenConfig::default()
            };
            let g = build_graph(&c, cfg);
            qcc_ir::verify::verify(&g).expect("generated graphs verify");
            with += g.node_ids().any(|v| matches!(g.node(v).op, Op::DenseNbits)) as usize;
        }
        assert!(with >= 20, "only {with} of 200 graphs have a dense_nbits");
    }
}
