//! The typing rule of every op (`docs/semantics.md` § Ops), usable on its own.
//!
//! [`infer`] looks at an op and its operand types and says what the result
//! must be ([`Inferred`]): its shape, and its element type where the rule
//! determines it. For a quantized result the rule gives only the kind
//! (quantized, per tensor or per axis) and the writer chooses the scales and
//! zero points ([`ElemRule::Quantized`]); `matmul_int` and `conv2d_int` give
//! the accumulator type, whose scale is `sx · sw`
//! ([`ElemRule::Accumulator`]). [`check_op`] is the whole rule: it also
//! compares a written result type with the inferred one and checks the
//! parameters that involve the result's scales (rescale multipliers below
//! 2^31, average-pool sums that fit in i32).
//!
//! Nothing here needs the graph, so rewrite passes can type a node before
//! they add it. What needs constant data (the accumulator bounds of
//! `matmul_int` / `conv2d_int`) is in [`super::bounds`].
//!
//! No function here panics, whatever the types: operand types are checked
//! first ([`check_type`]) and all shape arithmetic is checked.

use std::fmt;
use std::sync::Arc;

use crate::op::{Op, Pool2dAttrs};
use crate::types::{ElemType, QuantType, ScalarType, TensorType, fmt_f32};

mod dynamic;
mod float;
mod int;
mod logic;
mod movement;
mod quant;

#[allow(unused_imports)]
use {dynamic::*, float::*, int::*, logic::*, quant::*};

/// Relative tolerance when an accumulator or bias scale is compared with the
/// f32 product `sx · sw`: 2^-20.
pub const SCALE_TOLERANCE: f64 = 1.0 / 1_048_576.0;

/// `L` of `add_int`'s fixed-point modes: operands are shifted left by 2^L
/// before they are rescaled.
pub const ADD_INT_LEFT_SHIFT: u32 = 20;

/// The largest value of an i32 accumulator, as the bounds use it.
pub const I32_MAX: u128 = i32::MAX as u128;

// ---------------------------------------------------------------------------
// Results

/// Why an op cannot be typed: one message per failed check, in words meant
/// for a diagnostic (the op's name is not repeated in them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeError {
    pub messages: Vec<String>,
}

impl TypeError {
    pub fn new(message: impl Into<String>) -> TypeError {
        TypeError {
            messages: vec![message.into()],
        }
    }
}

impl fmt::Display for TypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.messages.join("; "))
    }
}

impl std::error::Error for TypeError {}

/// What an op's typing rule says about its result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inferred {
    pub shape: ShapeRule,
    pub elem: ElemRule,
}

/// The result shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShapeRule {
    /// Exactly this shape.
    Exact(Vec<usize>),
    /// `reshape`: any shape with this many elements (the written one).
    Elements(usize),
}

/// The result element type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElemRule {
    /// Exactly this type: float ops, data movement, `maxpool2d`,
    /// `clamp_int`, `dequantize`, and `matmul_int` / `conv2d_int` with a
    /// plain integer operand (`i32`).
    Exact(ElemType),
    /// A quantized type of any integer storage whose scales and zero points
    /// are the writer's choice, with this constraint on its axis:
    /// `quantize`, `requantize`, quantized `avgpool2d` / `global_avgpool`,
    /// `add_int`.
    Quantized(AxisRule),
    /// `matmul_int` / `conv2d_int` with quantized `x` and `w`: either plain
    /// `i32` or this accumulator type (full i32 range, zero point 0, scales
    /// `sx · sw[n]`; a written scale may differ by a relative
    /// [`SCALE_TOLERANCE`]).
    Accumulator(Arc<QuantType>),
    /// Plain of this storage, or quantized per tensor with it (parameters
    /// the writer's choice): `lookup`.
    Storage(ScalarType),
    /// `f32` or a plain 8-, 16- or 32-bit integer type, the writer's
    /// choice: `cast`.
    Plain,
}

/// Where a quantized result may be per axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AxisRule {
    /// Per tensor only.
    PerTensor,
    /// Per tensor or per axis on any axis.
    Any,
    /// Per tensor, or per axis on this axis only (`requantize` of a per-axis
    /// operand).
    PerTensorOrAxis(usize),
}

impl Inferred {
    fn exact(shape: Vec<usize>, elem: ElemType) -> Inferred {
        Inferred {
            shape: ShapeRule::Exact(shape),
            elem: ElemRule::Exact(elem),
        }
    }

    /// The result shape, unless it is `reshape`'s (the written one).
    pub fn shape(&self) -> Option<&[usize]> {
        match &self.shape {
            ShapeRule::Exact(s) => Some(s),
            ShapeRule::Elements(_) => None,
        }
    }

    /// The result type, when the rule leaves no choice.
    pub fn exact_type(&self) -> Option<TensorType> {
        match (&self.shape, &self.elem) {
            (ShapeRule::Exact(s), ElemRule::Exact(e)) => {
                Some(TensorType::new(s.clone(), e.clone()))
            }
            _ => None,
        }
    }

    /// `matmul_int` / `conv2d_int` with quantized operands: the quantized
    /// accumulator type (scale `sx · sw`, zero point 0). With a plain integer
    /// operand, plain `i32`. `None` for other ops.
    pub fn accumulator_type(&self) -> Option<TensorType> {
        let shape = self.shape()?.to_vec();
        match &self.elem {
            ElemRule::Accumulator(q) => Some(TensorType::new(shape, ElemType::Quant(q.clone()))),
            _ => None,
        }
    }

    /// The result type: the exact type where the rule determines it, the
    /// quantized accumulator for `matmul_int` / `conv2d_int` with quantized
    /// operands, and a quantized type with the parameters `quant` where the
    /// rule leaves them to the writer (`quant` is ignored otherwise). Not for
    /// `reshape`, whose shape is the caller's.
    pub fn result_type(&self, quant: Option<&QuantType>) -> Result<TensorType, TypeError> {
        if let Some(t) = self.exact_type().or_else(|| self.accumulator_type()) {
            return Ok(t);
        }
        match (&self.elem, quant) {
            (ElemRule::Quantized(_), Some(q)) => self.with_elem(ElemType::quant(q.clone())),
            (ElemRule::Quantized(_), None) => Err(TypeError::new(
                "the result is quantized with parameters of the caller's choice; none were given",
            )),
            (ElemRule::Storage(_), Some(q)) => self.with_elem(ElemType::quant(q.clone())),
            (ElemRule::Storage(st), None) => self.with_elem(ElemType::Scalar(*st)),
            (ElemRule::Plain, _) => Err(TypeError::new(
                "the result element type of `cast` is the caller's choice; none was given",
            )),
            _ => self.with_elem(ElemType::F32),
        }
    }

    /// The result type with the given element type (the writer's quantized
    /// parameters), checked against the rule. Not for `reshape`, whose shape
    /// is the caller's.
    pub fn with_elem(&self, elem: ElemType) -> Result<TensorType, TypeError> {
        let Some(shape) = self.shape() else {
            return Err(TypeError::new(
                "the result shape of `reshape` is the caller's choice",
            ));
        };
        let t = TensorType::new(shape.to_vec(), elem);
        self.check(&t)?;
        Ok(t)
    }

    /// Compares a written result type with the rule: the shape, and the
    /// element type as far as the rule determines it.
    pub fn check(&self, written: &TensorType) -> Result<(), TypeError> {
        if let Err(m) = check_type(written) {
            return Err(TypeError::new(format!("the result type is invalid: {m}")));
        }
        let mut errs = Vec::new();
        if written.elem.as_quant().is_some_and(|q| q.is_blocked()) {
            errs.push(format!(
                "the result is quantized in blocks (`{}`); only constants may be",
                short_blocked(&written.elem)
            ));
        }
        match &self.shape {
            ShapeRule::Exact(s) => {
                if written.shape != *s {
                    errs.push(format!(
                        "result shape must be {s:?}, found {:?}",
                        written.shape
                    ));
                }
            }
            ShapeRule::Elements(n) => {
                if written.num_elements() != Some(*n) {
                    errs.push(format!(
                        "result must have {n} elements like the operand, found shape {:?}",
                        written.shape
                    ));
                }
            }
        }
        match &self.elem {
            ElemRule::Exact(e) => {
                if written.elem != *e {
                    errs.push(format!(
                        "result element type must be `{e}`, found `{}`",
                        written.elem
                    ));
                }
            }
            ElemRule::Quantized(rule) => match &written.elem {
                ElemType::Quant(q) => match (*rule, q.axis) {
                    (AxisRule::PerTensor, Some(b)) => errs.push(format!(
                        "result must be quantized per tensor, found per axis (axis {b})"
                    )),
                    (AxisRule::PerTensorOrAxis(a), Some(b)) if a != b => errs.push(format!(
                        "result is per axis on axis {b} but the operand is per axis on axis {a}; \
                         both must use the same axis"
                    )),
                    _ => {}
                },
                other => errs.push(format!("result must be quantized, found `{other}`")),
            },
            ElemRule::Accumulator(acc) => check_accumulator_elem(acc, &written.elem, &mut errs),
            ElemRule::Plain => {
                if !is_plain_value(&written.elem) {
                    errs.push(format!(
                        "result must be `f32` or a plain 8-, 16- or 32-bit integer type, found `{}`",
                        written.elem
                    ));
                }
            }
            ElemRule::Storage(st) => match &written.elem {
                ElemType::Scalar(s) if s == st => {}
                ElemType::Quant(q) if q.storage == *st && q.axis.is_none() => {}
                other => errs.push(format!(
                    "result must be `{st}` or quantized per tensor with `{st}` storage (the \
                     table's), found `{other}`"
                )),
            },
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(TypeError { messages: errs })
        }
    }
}

/// A blocked type for a message: its storage, axis and block size, not its
/// (many) parameters.
pub(crate) fn short_blocked(e: &ElemType) -> String {
    match e.as_quant() {
        Some(q) => format!(
            "!quant.uniform<{}:f32:{{{}:{}}}, ...>",
            q.storage_text(),
            q.axis.unwrap_or(0),
            q.block.unwrap_or(0)
        ),
        None => e.to_string(),
    }
}

/// The first index where `found` is not within [`SCALE_TOLERANCE`] of
/// `expected`, as a message. A one-element list stands for every index.
fn scale_mismatch(what: &str, found: &[f32], expected: &[f32]) -> Option<String> {
    let n = found.len().max(expected.len());
    for i in 0..n {
        let f = *found.get(i).or(found.first())?;
        let e = *expected.get(i).or(expected.first())?;
        if !scale_matches(f, e) {
            let at = if n > 1 {
                format!(" (channel {i})")
            } else {
                String::new()
            };
            return Some(format!(
                "{what} scale {}{at} must equal sx · sw = {} (within a relative 2^-20)",
                fmt_f32(f),
                fmt_f32(e)
            ));
        }
    }
    None
}

/// True when a written accumulator or bias scale "equals" the f32 product
/// `expected = sx · sw`: within a relative [`SCALE_TOLERANCE`].
pub fn scale_matches(found: f32, expected: f32) -> bool {
    let (f, e) = (found as f64, expected as f64);
    f.is_finite() && e.is_finite() && (f - e).abs() <= e.abs() * SCALE_TOLERANCE
}

/// The accumulator scale of `matmul_int` / `conv2d_int`: the f32 product.
pub fn accumulator_scale(sx: f32, sw: f32) -> f32 {
    sx * sw
}

// ---------------------------------------------------------------------------
// Shape helpers (public: passes build shapes with them)

/// Checks a type's invariants: [`TensorType::check`] and every dimension ≥ 1.
pub fn check_type(t: &TensorType) -> Result<(), String> {
    if let Some(i) = t.shape.iter().position(|&d| d == 0) {
        return Err(format!(
            "dimension {i} has size 0; every dimension must be at least 1"
        ));
    }
    t.check()
}

/// Numpy (multidirectional) broadcasting of two shapes, aligned at the right.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i < n - a.len() {
            1
        } else {
            a[i - (n - a.len())]
        };
        let db = if i < n - b.len() {
            1
        } else {
            b[i - (n - b.len())]
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return None;
        };
    }
    Some(out)
}

/// Output size of a convolution or pooling window along one dimension:
/// `⌊(input + pad_begin + pad_end − dilation·(kernel − 1) − 1) / stride⌋ + 1`.
/// `None` when that is < 1, when kernel, stride or dilation is 0, or on
/// overflow: [`crate::window::output_size`], the one definition.
pub fn window_output_size(
    input: usize,
    pad_begin: usize,
    pad_end: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
) -> Option<usize> {
    crate::window::output_size(input, pad_begin, pad_end, kernel, stride, dilation)
}

/// The smallest number of elements a pooling window divides by (the real
/// elements, or the whole kernel with `count_include_pad`), and the largest
/// number of real elements it sums, for an input plane `h × w`.
pub fn pool_counts(h: usize, w: usize, attrs: &Pool2dAttrs) -> Option<(u128, u128)> {
    let [kh, kw] = attrs.kernel;
    let [sh, sw] = attrs.strides;
    let [pt, pl, pb, pr] = attrs.pads;
    let (min_r, max_r) = window_real_counts(h, pt, pb, kh, sh)?;
    let (min_c, max_c) = window_real_counts(w, pl, pr, kw, sw)?;
    let max_real = max_r.saturating_mul(max_c);
    let divisor = if attrs.count_include_pad {
        (kh as u128).checked_mul(kw as u128)?
    } else {
        min_r.saturating_mul(min_c)
    };
    Some((divisor, max_real))
}

/// `max |q − z|` over a type's integer range: `max(z − lo, hi − z)`, with
/// `z = 0` for a plain integer type. `None` for `f32`.
pub fn max_deviation(elem: &ElemType, channel: usize) -> Option<u128> {
    let z = match elem {
        ElemType::Quant(q) => *q.zero_points.get(channel).or(q.zero_points.first())?,
        ElemType::Scalar(_) => 0,
    };
    max_deviation_from(elem, z)
}

/// `max |q − z|` over the storage range of `elem`, for a given `z`.
pub fn max_deviation_from(elem: &ElemType, z: i64) -> Option<u128> {
    let (lo, hi) = elem.int_range()?;
    let d = (z as i128 - lo as i128).max(hi as i128 - z as i128).max(0);
    Some(d as u128)
}

// ---------------------------------------------------------------------------
// The rules

/// What the typing rule of `op` says about its result, given its operand
/// types (in slot order). Checks the operand count, that every operand type
/// is valid, the operands' element types, ranks and shapes, and the
/// attributes. `input` and `const` have no rule (their type is the one
/// written) and give an error.
pub fn infer(op: &Op, args: &[&TensorType]) -> Result<Inferred, TypeError> {
    if !op.arity().accepts(args.len()) {
        return Err(TypeError::new(format!(
            "takes {}, found {}",
            op.arity(),
            args.len()
        )));
    }
    let bad: Vec<String> = args
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            check_type(t)
                .err()
                .map(|m| format!("operand {i} has an invalid type: {m}"))
        })
        .collect();
    if !bad.is_empty() {
        return Err(TypeError { messages: bad });
    }
    let blocked: Vec<String> = args
        .iter()
        .enumerate()
        .filter(|(i, t)| {
            t.elem.as_quant().is_some_and(|q| q.is_blocked())
                && !(*i == 1 && matches!(op, Op::DenseNbits | Op::DenseNbitsQ8))
        })
        .map(|(i, t)| {
            format!(
                "operand {i} is quantized in blocks (`{}`); only the weights `w` of \
                 `dense_nbits` or `dense_nbits_q8` may be",
                short_blocked(&t.elem)
            )
        })
        .collect();
    if !blocked.is_empty() {
        return Err(TypeError { messages: blocked });
    }
    let misplaced: Vec<String> = args
        .iter()
        .enumerate()
        .filter_map(|(i, t)| layout_misplaced(op, i, t.layout))
        .collect();
    if !misplaced.is_empty() {
        return Err(TypeError {
            messages: misplaced,
        });
    }
    let mut r = Rule {
        op,
        args,
        errs: Vec::new(),
    };
    let out = match op {
        Op::Input(_) | Op::Const(_) => {
            r.err(format!(
                "`{}` has no typing rule: its type is the one written",
                op.name()
            ));
            None
        }
        Op::MatMul => r.matmul(),
        Op::Dense => r.dense(),
        Op::Conv2d(a) => r.conv2d(a),
        Op::Add | Op::Mul | Op::Sub => r.arithmetic(),
        Op::Div | Op::Pow | Op::Max | Op::Min => r.elementwise_f32(),
        Op::Relu
        | Op::Neg
        | Op::Abs
        | Op::Sqrt
        | Op::Reciprocal
        | Op::Exp
        | Op::Log
        | Op::Floor
        | Op::Ceil
        | Op::Round
        | Op::Erf
        | Op::Tanh
        | Op::Sigmoid
        | Op::HardSwish
        | Op::Gelu => r.unary_f32(),
        Op::HardSigmoid { alpha, beta } => {
            r.unary_f32_finite(&[("alpha", alpha.0), ("beta", beta.0)])
        }
        Op::LeakyRelu { alpha } => r.unary_f32_finite(&[("alpha", alpha.0)]),
        Op::Clamp { min, max } => r.clamp(min.0, max.0),
        Op::MaxPool2d(a) => r.maxpool(a),
        Op::AvgPool2d(a) => r.avgpool(a),
        Op::GlobalAvgPool { .. } => r.global_avgpool(),
        Op::Reshape => r.reshape(),
        Op::Flatten { axis } => r.flatten(*axis),
        Op::Transpose { perm } => r.transpose(perm),
        Op::Slice {
            starts,
            ends,
            steps,
        } => r.slice(starts, ends, steps),
        Op::Concat { axis } => r.concat(*axis),
        Op::Gather { axis } => r.gather(*axis),
        Op::ArgMax { axis, .. } | Op::ArgMin { axis, .. } => r.arg(*axis),
        Op::Softmax { axis } => r.softmax(*axis),
        Op::ReduceMean { axes }
        | Op::ReduceSum { axes }
        | Op::ReduceMax { axes }
        | Op::ReduceMin { axes }
        | Op::ReduceProd { axes } => r.reduce_mean(axes),
        Op::Quantize => r.quantize(),
        Op::Dequantize => r.dequantize(),
        Op::DenseNbits => r.dense_nbits(false),
        Op::DenseNbitsQ8 => r.dense_nbits(true),
        Op::Requantize { .. } => r.requantize(),
        Op::MatMulInt(_) => r.matmul_int(),
        Op::Conv2dInt(a, _) => r.conv2d_int(a),
        Op::RowSums => r.row_sums(),
        Op::Lookup => r.lookup(),
        Op::AddInt { mode, ort } => r.add_int(*mode, *ort),
        Op::ClampInt { min, max } => r.clamp_int(*min, *max),
        Op::DynamicScale => r.dynamic_param(ElemType::F32),
        Op::DynamicZeroPoint => r.dynamic_param(ElemType::Scalar(ScalarType::U8)),
        Op::QuantizeDyn => r.quantize_dyn(),
        Op::DequantizeDyn => r.dequantize_dyn(),
        Op::MatMulIntDyn => r.matmul_int_dyn(),
        Op::Conv2dIntDyn(a) => r.conv2d_int_dyn(a),
        Op::Cast => r.cast(),
        Op::Equal | Op::Less | Op::Greater => r.compare(),
        Op::Where => r.select(),
    };
    match out {
        Some(inf) if r.errs.is_empty() => Ok(inf),
        _ if r.errs.is_empty() => Err(TypeError::new("cannot be typed")),
        _ => Err(TypeError { messages: r.errs }),
    }
}

/// Why operand `i` of `op` may not be in `layout` (`None`: it may). Packed
/// layouts are read only as the weights `w` of the op their kind is for:
/// `matmul_int` (`#k4n64`, `#k4n64_k64`) and `conv2d_int` with `groups = 1`
/// (`#hwc_k4n64`, `#hwc_k4n64_k64`).
pub fn layout_misplaced(op: &Op, i: usize, layout: crate::Layout) -> Option<String> {
    if !layout.is_packed() {
        return None;
    }
    let fits = i == 1
        && match op {
            Op::MatMulInt(_) => !layout.is_conv(),
            Op::Conv2dInt(a, _) => layout.is_conv() && a.groups == 1,
            _ => false,
        };
    if fits {
        return None;
    }
    let reader = if layout.is_conv() {
        "the weights `w` of `conv2d_int` with `groups = 1`"
    } else {
        "the weights `w` of `matmul_int`"
    };
    Some(format!(
        "operand {i} is in layout `{layout}`; only {reader} may be packed in it"
    ))
}

/// The result type of `op` on `args`, for a pass that builds a node:
/// [`Inferred::result_type`], then the whole rule ([`check_op`]), so that
/// the multipliers that involve `quant` are checked too.
pub fn result_type(
    op: &Op,
    args: &[&TensorType],
    quant: Option<&QuantType>,
) -> Result<TensorType, TypeError> {
    let t = infer(op, args)?.result_type(quant)?;
    check_op(op, args, &t)?;
    Ok(t)
}

/// The whole typing rule of `op` for a written result type: [`infer`], the
/// written type compared with the inferred one ([`Inferred::check`]), and
/// the checks that involve the result's parameters: rescale multipliers
/// below 2^31 (`requantize`, quantized `avgpool2d` / `global_avgpool`,
/// `add_int`) and average-pool sums that fit in i32. Returns what [`infer`]
/// gives.
pub fn check_op(op: &Op, args: &[&TensorType], result: &TensorType) -> Result<Inferred, TypeError> {
    let inf = infer(op, args)?;
    if let Err(m) = check_type(result) {
        return Err(TypeError::new(format!("the result type is invalid: {m}")));
    }
    let mut errs = match inf.check(result) {
        Ok(()) => Vec::new(),
        Err(e) => e.messages,
    };
    result_params(op, args, result, &mut errs);
    if errs.is_empty() {
        Ok(inf)
    } else {
        Err(TypeError { messages: errs })
    }
}

/// One rule application: the op, its operands, the errors found so far.
struct Rule<'a> {
    op: &'a Op,
    args: &'a [&'a TensorType],
    errs: Vec<String>,
}

impl Rule<'_> {
    fn err(&mut self, m: impl Into<String>) {
        self.errs.push(m.into());
    }

    /// How messages name operand `i`: its name in semantics.md, in backticks.
    fn opnd(&self, i: usize) -> String {
        let names: &[&str] = match self.op {
            Op::MatMul
            | Op::Add
            | Op::Mul
            | Op::Sub
            | Op::Div
            | Op::Pow
            | Op::Max
            | Op::Min
            | Op::Equal
            | Op::Less
            | Op::Greater
            | Op::AddInt { .. } => &["a", "b"],
            Op::Where => &["c", "a", "b"],
            Op::Gather { .. } => &["x", "idx"],
            Op::Dense | Op::Conv2d(_) | Op::DenseNbits | Op::DenseNbitsQ8 => &["x", "w", "b"],
            Op::MatMulInt(_) | Op::Conv2dInt(..) => &["x", "w", "bias", "rs"],
            Op::QuantizeDyn => &["x", "s", "z"],
            Op::DequantizeDyn => &["q", "s", "z"],
            Op::MatMulIntDyn | Op::Conv2dIntDyn(_) => &["x", "w", "zx", "zw"],
            Op::Lookup => &["x", "table"],
            Op::Concat { .. } => &[],
            _ => &["x"],
        };
        match names.get(i) {
            Some(n) => format!("`{n}`"),
            None => format!("operand {i}"),
        }
    }

    fn want_f32(&mut self, i: usize) -> bool {
        let t = self.args[i];
        if t.elem.is_f32() {
            true
        } else {
            self.err(format!(
                "{} must be `f32`, found `{}`",
                self.opnd(i),
                t.elem
            ));
            false
        }
    }

    fn want_all_f32(&mut self) -> bool {
        let mut ok = true;
        for i in 0..self.args.len() {
            ok &= self.want_f32(i);
        }
        ok
    }

    fn want_rank(&mut self, i: usize, rank: usize) -> bool {
        let t = self.args[i];
        if t.rank() == rank {
            true
        } else {
            self.err(format!(
                "{} must have rank {rank}, found rank {} ({:?})",
                self.opnd(i),
                t.rank(),
                t.shape
            ));
            false
        }
    }

    fn want_axis(&mut self, what: &str, axis: usize, limit: usize) -> bool {
        if axis < limit {
            true
        } else {
            self.err(format!("{what} {axis} is out of range for rank {limit}"));
            false
        }
    }

    /// Operand `i` must not be per axis (`why` completes the sentence).
    fn want_not_per_axis(&mut self, i: usize, why: &str) -> bool {
        match self.args[i].elem.as_quant().and_then(|q| q.axis) {
            Some(a) => {
                self.err(format!(
                    "{} is quantized per axis (axis {a}); {why}",
                    self.opnd(i)
                ));
                false
            }
            None => true,
        }
    }

    /// Operand `i` must be an integer or quantized type (not f32).
    fn want_int(&mut self, i: usize) -> bool {
        let t = self.args[i];
        if t.elem.is_f32() {
            self.err(format!(
                "{} must be quantized or an integer type, found `f32`",
                self.opnd(i)
            ));
            false
        } else {
            true
        }
    }

    fn want_quant(&mut self, i: usize) -> bool {
        let t = self.args[i];
        if t.elem.as_quant().is_some() {
            true
        } else {
            self.err(format!(
                "{} must be quantized, found `{}`",
                self.opnd(i),
                t.elem
            ));
            false
        }
    }

    fn same_type(&self) -> Inferred {
        let t = self.args[0];
        Inferred::exact(t.shape.clone(), t.elem.clone())
    }
}
