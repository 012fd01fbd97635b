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

use crate::op::{Conv2dAttrs, Op, Pool2dAttrs, RequantMode};
use crate::quant::{FixedMultiplier, MAX_MULTIPLIER, Rescale};
use crate::types::{ElemType, QuantType, ScalarType, TensorType, fmt_f32};

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

fn check_accumulator_elem(acc: &QuantType, written: &ElemType, errs: &mut Vec<String>) {
    let q = match written {
        ElemType::Scalar(ScalarType::I32) => return,
        ElemType::Quant(q) if q.storage == ScalarType::I32 && q.has_full_range() => q,
        other => {
            errs.push(format!(
                "result must be `i32` or a quantized i32 accumulator \
                 (`!quant.uniform<i32:f32, sx·sw>`), found `{other}`"
            ));
            return;
        }
    };
    if let Some(z) = q.zero_points.iter().find(|z| **z != 0) {
        errs.push(format!("the accumulator's zero point must be 0, found {z}"));
    }
    match (acc.axis, q.axis) {
        (Some(a), None) => errs.push(format!(
            "result must be per axis on axis {a} because `w` is per axis, found per tensor"
        )),
        (None, Some(b)) => errs.push(format!(
            "result must be per tensor because `w` is per tensor, found per axis (axis {b})"
        )),
        (Some(a), Some(b)) if a != b => errs.push(format!(
            "result must be per axis on axis {a}, found axis {b}"
        )),
        _ => {
            if q.scales.len() == acc.scales.len()
                && let Some(m) = scale_mismatch("result", &q.scales, &acc.scales)
            {
                errs.push(m);
            }
        }
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

/// The smallest and largest number of real (not padding) elements in a
/// pooling window along one dimension, over all output positions. Requires
/// the window geometry to be valid (pads smaller than the kernel).
fn window_real_counts(
    input: usize,
    pad_begin: usize,
    pad_end: usize,
    kernel: usize,
    stride: usize,
) -> Option<(u128, u128)> {
    let out = window_output_size(input, pad_begin, pad_end, kernel, stride, 1)?;
    let count = |i: usize| -> Option<u128> {
        let start = (i as i128).checked_mul(stride as i128)? - pad_begin as i128;
        let end = start.checked_add(kernel as i128)?;
        let c = end.min(input as i128) - start.max(0);
        u128::try_from(c).ok()
    };
    // The count is a minimum of linear functions of the position (concave),
    // so its smallest value is at one end.
    let (first, last) = (count(0)?, count(out - 1)?);
    Some((first.min(last), (kernel as u128).min(input as u128)))
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
        Op::Add | Op::Mul | Op::Sub | Op::Div | Op::Pow | Op::Max | Op::Min => r.elementwise_f32(),
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
        Op::Concat { axis } => r.concat(*axis),
        Op::Softmax { axis } => r.softmax(*axis),
        Op::Quantize => r.quantize(),
        Op::Dequantize => r.dequantize(),
        Op::Requantize { .. } => r.requantize(),
        Op::MatMulInt(_) => r.matmul_int(),
        Op::Conv2dInt(a, _) => r.conv2d_int(a),
        Op::RowSums => r.row_sums(),
        Op::Lookup => r.lookup(),
        Op::AddInt { mode } => r.add_int(*mode),
        Op::ClampInt { min, max } => r.clamp_int(*min, *max),
        Op::DynamicScale => r.dynamic_param(ElemType::F32),
        Op::DynamicZeroPoint => r.dynamic_param(ElemType::Scalar(ScalarType::U8)),
        Op::QuantizeDyn => r.quantize_dyn(),
        Op::DequantizeDyn => r.dequantize_dyn(),
        Op::MatMulIntDyn => r.matmul_int_dyn(),
        Op::Conv2dIntDyn(a) => r.conv2d_int_dyn(a),
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

/// Checks a real multiplier: below [`MAX_MULTIPLIER`] (2^31) in every mode,
/// and in the fixed-point modes also with a shift of at most 31 after
/// rounding (a multiplier within 1/2 of 2^31 rounds up to 2^31, which has no
/// fixed-point form).
fn check_multiplier(what: &str, m: f64, mode: RequantMode, errs: &mut Vec<String>) -> bool {
    if !(m.is_finite() && (0.0..MAX_MULTIPLIER).contains(&m)) {
        errs.push(format!(
            "the rescale multiplier {what} = {m:.6e} must be < 2^31"
        ));
        return false;
    }
    if mode != RequantMode::Float && FixedMultiplier::from_real(m).shift > 31 {
        errs.push(format!(
            "the rescale multiplier {what} = {m} rounds to 2^31 in mode {mode}; it must be \
             < 2^31 - 1/2"
        ));
        return false;
    }
    true
}

/// The checks of [`check_op`] that need the result's quantization parameters.
/// The operands and the result have valid types.
fn result_params(op: &Op, args: &[&TensorType], result: &TensorType, errs: &mut Vec<String>) {
    let Some(out) = result.elem.as_quant() else {
        return;
    };
    match op {
        Op::Requantize { mode } => {
            let Some(inp) = args.first().and_then(|t| t.elem.as_quant()) else {
                return;
            };
            if inp.axis.is_some() && out.axis.is_some() && inp.axis != out.axis {
                return;
            }
            let n = inp.scales.len().max(out.scales.len());
            for c in 0..n {
                let (Some(&si), Some(&so)) = (
                    inp.scales.get(c).or(inp.scales.first()),
                    out.scales.get(c).or(out.scales.first()),
                ) else {
                    return;
                };
                let what = if n > 1 {
                    format!("s_in / s_out of channel {c}")
                } else {
                    "s_in / s_out".to_string()
                };
                if !check_multiplier(&what, Rescale::real_multiplier(si, so, 1), *mode, errs) {
                    break;
                }
            }
        }
        Op::AvgPool2d(a) => {
            let Some(x) = args.first() else { return };
            if x.rank() != 4 {
                return;
            }
            if let Some((divisor, max_real)) = pool_counts(x.shape[2], x.shape[3], a) {
                pool_params(x, out, divisor, max_real, a.mode, errs);
            }
        }
        Op::GlobalAvgPool { mode } => {
            let Some(x) = args.first() else { return };
            if x.rank() != 4 {
                return;
            }
            let count = (x.shape[2] as u128).saturating_mul(x.shape[3] as u128);
            pool_params(x, out, count, count, *mode, errs);
        }
        Op::AddInt { mode } => {
            let (Some(a), Some(b)) = (
                args.first().and_then(|t| t.elem.as_quant()),
                args.get(1).and_then(|t| t.elem.as_quant()),
            ) else {
                return;
            };
            let (sa, sb, sy) = (a.scales[0], b.scales[0], out.scales[0]);
            match mode {
                RequantMode::Float => {
                    check_multiplier("sa / sy", Rescale::real_multiplier(sa, sy, 1), *mode, errs);
                    check_multiplier("sb / sy", Rescale::real_multiplier(sb, sy, 1), *mode, errs);
                }
                RequantMode::SingleRound | RequantMode::DoubleRound => {
                    // sa / t and sb / t are at most 1/2 by construction.
                    let t = 2.0 * (sa as f64).max(sb as f64);
                    let m = t / (2f64.powi(ADD_INT_LEFT_SHIFT as i32) * sy as f64);
                    check_multiplier("2·max(sa, sb) / (2^20 · sy)", m, *mode, errs);
                }
            }
        }
        _ => {}
    }
}

/// Quantized average pooling: the sum of at most `max_real` deviations fits
/// in i32, and the multiplier `s_in / (s_out · divisor)` is below 2^31.
fn pool_params(
    x: &TensorType,
    out: &QuantType,
    divisor: u128,
    max_real: u128,
    mode: RequantMode,
    errs: &mut Vec<String>,
) {
    let Some(inp) = x.elem.as_quant() else { return };
    let dev = max_deviation(&x.elem, 0).unwrap_or(0);
    let sum = dev.saturating_mul(max_real);
    if sum > I32_MAX || divisor > I32_MAX {
        errs.push(format!(
            "the window sum may overflow i32: up to {max_real} elements of magnitude up to {dev} \
             (bound {sum} > 2^31 - 1 = {I32_MAX})"
        ));
        return;
    }
    let m = Rescale::real_multiplier(inp.scales[0], out.scales[0], divisor as u32);
    let what = if divisor > 1 {
        format!("s_in / (s_out · {divisor})")
    } else {
        "s_in / s_out".to_string()
    };
    check_multiplier(&what, m, mode, errs);
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
            | Op::AddInt { .. } => &["a", "b"],
            Op::Dense | Op::Conv2d(_) => &["x", "w", "b"],
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

    // ---- float ops ----

    fn matmul(&mut self) -> Option<Inferred> {
        let ok = self.want_all_f32();
        let (a, b) = (self.args[0], self.args[1]);
        let ra = a.rank();
        if ra < 2 {
            self.err(format!(
                "`a` must have rank 2 or more ([..., M, K]), found rank {ra}"
            ));
            return None;
        }
        let (m, k) = (a.shape[ra - 2], a.shape[ra - 1]);
        let batch = &a.shape[..ra - 2];
        let rb = b.rank();
        let n = if rb == 2 || rb == ra {
            if rb > 2 && b.shape[..rb - 2] != *batch {
                self.err(format!(
                    "`b` {:?} must have the batch dimensions {batch:?} of `a` {:?}",
                    b.shape, a.shape
                ));
            }
            if b.shape[rb - 2] != k {
                self.err(format!(
                    "inner dimensions differ: `a` is {:?} (K = {k}) but `b` is {:?} (K = {})",
                    a.shape,
                    b.shape,
                    b.shape[rb - 2]
                ));
            }
            b.shape[rb - 1]
        } else {
            self.err(format!(
                "`b` must have rank 2 ([K, N]) or the rank {ra} of `a`, found rank {rb}"
            ));
            return None;
        };
        let mut shape = batch.to_vec();
        shape.extend([m, n]);
        ok.then(|| Inferred::exact(shape, ElemType::F32))
    }

    fn dense(&mut self) -> Option<Inferred> {
        let mut ok = self.want_all_f32();
        ok &= self.want_rank(0, 2) & self.want_rank(1, 2);
        if !ok {
            return None;
        }
        let (x, w) = (self.args[0], self.args[1]);
        let (m, k, n) = (x.shape[0], x.shape[1], w.shape[0]);
        if w.shape[1] != k {
            self.err(format!(
                "`w` must be [N, K] with K = {k} (from `x` {:?}), found {:?}",
                x.shape, w.shape
            ));
        }
        self.bias_shape(n);
        Some(Inferred::exact(vec![m, n], ElemType::F32))
    }

    /// The optional third operand must be `[n]`.
    fn bias_shape(&mut self, n: usize) -> bool {
        match self.args.get(2) {
            Some(b) if b.shape != [n] => {
                self.err(format!(
                    "{} must be [{n}] (one per output channel), found {:?}",
                    self.opnd(2),
                    b.shape
                ));
                false
            }
            _ => true,
        }
    }

    /// Shapes and attributes shared by `conv2d` and `conv2d_int`: the result
    /// shape `[N, O, OH, OW]`.
    fn conv_shape(&mut self, a: &Conv2dAttrs) -> Option<Vec<usize>> {
        let before = self.errs.len();
        let ranks = self.want_rank(0, 4) & self.want_rank(1, 4);
        if a.strides.contains(&0) {
            self.err(format!("strides must be at least 1, found {:?}", a.strides));
        }
        if a.dilations.contains(&0) {
            self.err(format!(
                "dilations must be at least 1, found {:?}",
                a.dilations
            ));
        }
        if a.groups == 0 {
            self.err("groups must be at least 1, found 0");
        }
        if !ranks {
            return None;
        }
        let (x, w) = (self.args[0], self.args[1]);
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]);
        let g = a.groups;
        if g > 0 {
            if !c.is_multiple_of(g) {
                self.err(format!(
                    "groups = {g} does not divide the {c} input channels of `x`"
                ));
            } else if cg != c / g {
                self.err(format!(
                    "`w` {:?} must have C / groups = {} input channels (dimension 1), found {cg}",
                    w.shape,
                    c / g
                ));
            }
            if !o.is_multiple_of(g) {
                self.err(format!(
                    "groups = {g} does not divide the {o} output channels of `w`"
                ));
            }
        }
        let mut out = [0usize; 2];
        if !a.strides.contains(&0) && !a.dilations.contains(&0) {
            let dims = [("height", h, kh, 0usize), ("width", wd, kw, 1usize)];
            for (what, size, k, d) in dims {
                let (pb, pe) = (a.pads[d], a.pads[d + 2]);
                match window_output_size(size, pb, pe, k, a.strides[d], a.dilations[d]) {
                    Some(s) => out[d] = s,
                    None => self.err(format!(
                        "the output {what} would be less than 1: input {what} {size} with pads \
                         {pb} + {pe} is smaller than the kernel's extent \
                         (dilation {} · ({k} − 1) + 1)",
                        a.dilations[d]
                    )),
                }
            }
        }
        (self.errs.len() == before).then(|| vec![n, o, out[0], out[1]])
    }

    fn conv2d(&mut self, a: &Conv2dAttrs) -> Option<Inferred> {
        let mut ok = self.want_all_f32();
        let shape = self.conv_shape(a)?;
        ok &= self.bias_shape(shape[1]);
        ok.then(|| Inferred::exact(shape, ElemType::F32))
    }

    fn elementwise_f32(&mut self) -> Option<Inferred> {
        let ok = self.want_all_f32();
        let shape = self.broadcast()?;
        ok.then(|| Inferred::exact(shape, ElemType::F32))
    }

    fn broadcast(&mut self) -> Option<Vec<usize>> {
        let (a, b) = (self.args[0], self.args[1]);
        let s = broadcast_shapes(&a.shape, &b.shape);
        if s.is_none() {
            self.err(format!(
                "shapes {:?} and {:?} do not broadcast (aligned at the right, each pair of \
                 dimensions must be equal or one of them 1)",
                a.shape, b.shape
            ));
        }
        s
    }

    fn unary_f32(&mut self) -> Option<Inferred> {
        self.want_f32(0).then(|| self.same_type())
    }

    /// A unary f32 op whose float attributes must be finite.
    fn unary_f32_finite(&mut self, attrs: &[(&str, f32)]) -> Option<Inferred> {
        let ok = self.want_f32(0);
        let mut finite = true;
        for &(name, v) in attrs {
            if !v.is_finite() {
                self.err(format!("`{name}` must be finite, found {v}"));
                finite = false;
            }
        }
        (ok && finite).then(|| self.same_type())
    }

    fn clamp(&mut self, min: f32, max: f32) -> Option<Inferred> {
        let ok = self.want_f32(0);
        let mut attrs = true;
        for (name, v) in [("min", min), ("max", max)] {
            if !v.is_finite() {
                self.err(format!("`{name}` must be finite, found {v}"));
                attrs = false;
            }
        }
        if attrs && min > max {
            self.err(format!("`min` = {min} is greater than `max` = {max}"));
            attrs = false;
        }
        (ok && attrs).then(|| self.same_type())
    }

    // ---- pooling ----

    /// Shapes and attributes shared by the 2-d pools: `[N, C, OH, OW]`.
    fn pool_shape(&mut self, a: &Pool2dAttrs) -> Option<Vec<usize>> {
        let before = self.errs.len();
        let rank = self.want_rank(0, 4);
        if a.kernel.contains(&0) {
            self.err(format!("kernel must be at least 1, found {:?}", a.kernel));
        }
        if a.strides.contains(&0) {
            self.err(format!("strides must be at least 1, found {:?}", a.strides));
        }
        for (i, &p) in a.pads.iter().enumerate() {
            let k = a.kernel[i % 2];
            if p >= k && k > 0 {
                let side = ["top", "left", "bottom", "right"][i];
                self.err(format!(
                    "the {side} pad {p} must be smaller than the kernel size {k} along its \
                     dimension (pads {:?}, kernel {:?})",
                    a.pads, a.kernel
                ));
            }
        }
        if !rank || self.errs.len() > before {
            return None;
        }
        let x = self.args[0];
        let mut out = [0usize; 2];
        for (d, what) in [(0usize, "height"), (1, "width")] {
            let size = x.shape[2 + d];
            let (pb, pe) = (a.pads[d], a.pads[d + 2]);
            match window_output_size(size, pb, pe, a.kernel[d], a.strides[d], 1) {
                Some(s) => out[d] = s,
                None => self.err(format!(
                    "the output {what} would be less than 1: input {what} {size} with pads \
                     {pb} + {pe} is smaller than the kernel size {}",
                    a.kernel[d]
                )),
            }
        }
        (self.errs.len() == before).then(|| vec![x.shape[0], x.shape[1], out[0], out[1]])
    }

    fn maxpool(&mut self, a: &Pool2dAttrs) -> Option<Inferred> {
        if a.count_include_pad {
            self.err("`count_include_pad` is an attribute of avgpool2d, not maxpool2d");
        }
        if a.mode != RequantMode::Float {
            self.err(format!(
                "`mode` is not an attribute of maxpool2d (found mode = {})",
                a.mode
            ));
        }
        let x = self.args[0];
        if let Some(ax) = x.elem.as_quant().and_then(|q| q.axis)
            && ax >= 2
        {
            self.err(format!(
                "`x` is quantized per axis on axis {ax}: a window would compare codes of \
                 different scales (per axis is allowed on axis 0 or 1 only)"
            ));
        }
        let shape = self.pool_shape(a)?;
        Some(Inferred::exact(shape, x.elem.clone()))
    }

    /// Element rule shared by the average pools: f32, or per-tensor quantized.
    fn avg_elem(&mut self) -> Option<ElemRule> {
        let x = self.args[0];
        match &x.elem {
            ElemType::Scalar(ScalarType::F32) => Some(ElemRule::Exact(ElemType::F32)),
            ElemType::Quant(q) => match q.axis {
                None => Some(ElemRule::Quantized(AxisRule::PerTensor)),
                Some(a) => {
                    self.err(format!(
                        "`x` must be f32 or quantized per tensor, found per axis (axis {a})"
                    ));
                    None
                }
            },
            other => {
                self.err(format!(
                    "`x` must be f32 or quantized per tensor, found `{other}`"
                ));
                None
            }
        }
    }

    fn avgpool(&mut self, a: &Pool2dAttrs) -> Option<Inferred> {
        let elem = self.avg_elem();
        let shape = self.pool_shape(a)?;
        Some(Inferred {
            shape: ShapeRule::Exact(shape),
            elem: elem?,
        })
    }

    fn global_avgpool(&mut self) -> Option<Inferred> {
        let elem = self.avg_elem();
        if !self.want_rank(0, 4) {
            return None;
        }
        let x = self.args[0];
        Some(Inferred {
            shape: ShapeRule::Exact(vec![x.shape[0], x.shape[1], 1, 1]),
            elem: elem?,
        })
    }

    // ---- data movement ----

    fn reshape(&mut self) -> Option<Inferred> {
        if !self.want_not_per_axis(0, "per-axis tensors cannot be reshaped") {
            return None;
        }
        let x = self.args[0];
        Some(Inferred {
            shape: ShapeRule::Elements(x.num_elements()?),
            elem: ElemRule::Exact(x.elem.clone()),
        })
    }

    fn flatten(&mut self, axis: usize) -> Option<Inferred> {
        let ok = self.want_not_per_axis(0, "per-axis tensors cannot be flattened");
        let x = self.args[0];
        if axis > x.rank() {
            self.err(format!(
                "`axis` = {axis} must be at most the rank {}",
                x.rank()
            ));
            return None;
        }
        let outer = x.shape[..axis]
            .iter()
            .try_fold(1usize, |p, &d| p.checked_mul(d))?;
        let inner = x.shape[axis..]
            .iter()
            .try_fold(1usize, |p, &d| p.checked_mul(d))?;
        ok.then(|| Inferred::exact(vec![outer, inner], x.elem.clone()))
    }

    fn transpose(&mut self, perm: &[usize]) -> Option<Inferred> {
        let x = self.args[0];
        let rank = x.rank();
        let mut seen = vec![false; rank];
        let is_perm = perm.len() == rank
            && perm
                .iter()
                .all(|&p| p < rank && !std::mem::replace(&mut seen[p], true));
        if !is_perm {
            self.err(format!(
                "`perm` = {perm:?} is not a permutation of 0..{rank}"
            ));
            return None;
        }
        let shape: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
        let elem = match &x.elem {
            ElemType::Quant(q) if q.axis.is_some() => {
                let old = q.axis?;
                let new = perm.iter().position(|&p| p == old)?;
                let mut q2 = (**q).clone();
                q2.axis = Some(new);
                ElemType::quant(q2)
            }
            e => e.clone(),
        };
        Some(Inferred::exact(shape, elem))
    }

    fn concat(&mut self, axis: usize) -> Option<Inferred> {
        let first = self.args[0];
        let before = self.errs.len();
        self.want_not_per_axis(0, "per-axis tensors cannot be concatenated");
        let rank = first.rank();
        self.want_axis("`axis`", axis, rank);
        let mut total = first.shape.get(axis).copied().unwrap_or(0);
        for i in 1..self.args.len() {
            let t = self.args[i];
            if t.elem != first.elem {
                self.err(format!(
                    "operand {i} has element type `{}` but operand 0 has `{}`; all operands \
                     of concat must have exactly the same element type",
                    t.elem, first.elem
                ));
            }
            if t.rank() != rank {
                self.err(format!(
                    "operand {i} has rank {} ({:?}) but operand 0 has rank {rank} ({:?})",
                    t.rank(),
                    t.shape,
                    first.shape
                ));
                continue;
            }
            let differs = (0..rank).any(|d| d != axis && t.shape[d] != first.shape[d]);
            if differs {
                self.err(format!(
                    "operand {i} is {:?} but operand 0 is {:?}; only the dimension of axis \
                     {axis} may differ",
                    t.shape, first.shape
                ));
            }
            if let Some(&d) = t.shape.get(axis) {
                total = total.saturating_add(d);
            }
        }
        if self.errs.len() > before {
            return None;
        }
        let mut shape = first.shape.clone();
        shape[axis] = total;
        Some(Inferred::exact(shape, first.elem.clone()))
    }

    fn softmax(&mut self, axis: usize) -> Option<Inferred> {
        let ok = self.want_f32(0);
        let ax = self.want_axis("`axis`", axis, self.args[0].rank());
        (ok && ax).then(|| self.same_type())
    }

    // ---- quantization ----

    fn quantize(&mut self) -> Option<Inferred> {
        self.want_f32(0).then(|| Inferred {
            shape: ShapeRule::Exact(self.args[0].shape.clone()),
            elem: ElemRule::Quantized(AxisRule::Any),
        })
    }

    fn dequantize(&mut self) -> Option<Inferred> {
        self.want_quant(0)
            .then(|| Inferred::exact(self.args[0].shape.clone(), ElemType::F32))
    }

    fn requantize(&mut self) -> Option<Inferred> {
        if !self.want_quant(0) {
            return None;
        }
        let x = self.args[0];
        let rule = match x.elem.as_quant().and_then(|q| q.axis) {
            Some(a) => AxisRule::PerTensorOrAxis(a),
            None => AxisRule::Any,
        };
        Some(Inferred {
            shape: ShapeRule::Exact(x.shape.clone()),
            elem: ElemRule::Quantized(rule),
        })
    }

    // ---- integer ops ----

    /// `x` and `w` of `matmul_int` / `conv2d_int`: integer or quantized,
    /// `x` per tensor, `w` per tensor or per axis on `w_axis`.
    fn int_operands(&mut self, w_axis: usize, w_dim: &str) -> bool {
        let mut ok = self.want_int(0) & self.want_int(1);
        ok &= self.want_not_per_axis(0, "`x` must be quantized per tensor");
        if let Some(a) = self.args[1].elem.as_quant().and_then(|q| q.axis)
            && a != w_axis
        {
            self.err(format!(
                "`w` may be quantized per axis only on axis {w_axis} ({w_dim}), found axis {a}"
            ));
            ok = false;
        }
        ok
    }

    /// The accumulator of `matmul_int` / `conv2d_int` with `n` output
    /// channels, on `out_axis` when `w` is per axis; checks a bias's type.
    fn accumulator(&mut self, n: usize, out_axis: usize) -> Option<ElemRule> {
        let (x, w) = (self.args[0], self.args[1]);
        let acc = match (x.elem.as_quant(), w.elem.as_quant()) {
            (Some(qx), Some(qw)) => {
                let sx = qx.scales[0];
                let scales: Vec<f32> = qw
                    .scales
                    .iter()
                    .map(|&sw| accumulator_scale(sx, sw))
                    .collect();
                if scales.iter().all(|s| s.is_finite() && *s > 0.0) {
                    let q = match qw.axis {
                        Some(_) => QuantType::per_axis(
                            ScalarType::I32,
                            out_axis,
                            scales,
                            vec![0; qw.scales.len()],
                        ),
                        None => QuantType::per_tensor(ScalarType::I32, scales[0], 0),
                    };
                    Some(q)
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some(b) = self.args.get(2) {
            // The shape is checked by the caller (`bias_shape`).
            let shape_ok = b.shape == [n];
            match &b.elem {
                ElemType::Scalar(ScalarType::I32) => {}
                ElemType::Quant(qb) if qb.storage == ScalarType::I32 => {
                    if let Some(z) = qb.zero_points.iter().find(|z| **z != 0) {
                        self.err(format!("`bias` must have zero point 0, found {z}"));
                    }
                    match &acc {
                        None => self.err(
                            "a quantized `bias` needs quantized `x` and `w` (its scale must be \
                             sx · sw); use a plain `i32` bias",
                        ),
                        Some(acc) if shape_ok => {
                            if let Some(m) = scale_mismatch("`bias`", &qb.scales, &acc.scales) {
                                self.err(m);
                            }
                        }
                        Some(_) => {}
                    }
                }
                other => self.err(format!(
                    "`bias` must be `i32` or `!quant.uniform<i32:f32, s>`, found `{other}`"
                )),
            }
        }
        Some(match acc {
            Some(q) => ElemRule::Accumulator(Arc::new(q)),
            None => ElemRule::Exact(ElemType::I32),
        })
    }

    fn matmul_int(&mut self) -> Option<Inferred> {
        let before = self.errs.len();
        let ok = self.int_operands(1, "the N dimension of [K, N]");
        let (x, w) = (self.args[0], self.args[1]);
        let rx = x.rank();
        if rx < 2 {
            self.err(format!(
                "`x` must have rank 2 or more ([..., M, K]), found rank {rx}"
            ));
        }
        let w_rank = self.want_rank(1, 2);
        if !ok || rx < 2 || !w_rank {
            return None;
        }
        let k = x.shape[rx - 1];
        let n = w.shape[1];
        if w.shape[0] != k {
            self.err(format!(
                "inner dimensions differ: `x` is {:?} (K = {k}) but `w` is {:?} (K = {})",
                x.shape, w.shape, w.shape[0]
            ));
        }
        self.bias_shape(n);
        if let Some(rs) = self.args.get(3) {
            let mut rows = x.shape[..rx - 1].to_vec();
            rows.push(1);
            if rs.shape != rows {
                self.err(format!(
                    "`rs` (the row sums of `x`) must have shape {rows:?}, found {:?}",
                    rs.shape
                ));
            }
            if rs.elem != ElemType::I32 {
                self.err(format!("`rs` must be plain `i32`, found `{}`", rs.elem));
            }
        }
        let elem = self.accumulator(n, rx - 1)?;
        let mut shape = x.shape[..rx - 1].to_vec();
        shape.push(n);
        (self.errs.len() == before).then_some(Inferred {
            shape: ShapeRule::Exact(shape),
            elem,
        })
    }

    fn conv2d_int(&mut self, a: &Conv2dAttrs) -> Option<Inferred> {
        let before = self.errs.len();
        let ok = self.int_operands(0, "the output channels of [O, C/groups, KH, KW]");
        if !ok {
            return None;
        }
        let shape = self.conv_shape(a)?;
        if !self.bias_shape(shape[1]) {
            return None;
        }
        let elem = self.accumulator(shape[1], 1)?;
        (self.errs.len() == before).then_some(Inferred {
            shape: ShapeRule::Exact(shape),
            elem,
        })
    }

    /// `lookup x, table`: x 8-bit, table plain `[256]` of the result's
    /// 8-bit storage; the result has x's shape.
    fn lookup(&mut self) -> Option<Inferred> {
        let byte = |t: ScalarType| matches!(t, ScalarType::U8 | ScalarType::I8);
        let (x, t) = (self.args[0], self.args[1]);
        let mut ok = true;
        if !byte(x.elem.storage()) || x.elem.is_f32() {
            self.err(format!(
                "`x` must have 8-bit storage (u8 or i8), found `{}`",
                x.elem
            ));
            ok = false;
        }
        if t.shape != [256] || !matches!(t.elem, ElemType::Scalar(st) if byte(st)) {
            self.err(format!(
                "`table` must be a plain `u8` or `i8` tensor of shape [256], found `tensor<{:?} x {}>`",
                t.shape, t.elem
            ));
            ok = false;
        }
        let storage = t.elem.storage();
        ok.then(|| Inferred {
            shape: ShapeRule::Exact(x.shape.clone()),
            elem: ElemRule::Storage(storage),
        })
    }

    /// `row_sums x`: `[..., K]` → `[..., 1]` in plain i32; the sums must fit
    /// i32 for every value `x`'s type allows.
    fn row_sums(&mut self) -> Option<Inferred> {
        let ok =
            self.want_int(0) & self.want_not_per_axis(0, "the row sums subtract one zero point");
        let x = self.args[0];
        let Some((&k, rest)) = x.shape.split_last() else {
            self.err("`x` must have rank 1 or more");
            return None;
        };
        let (lo, hi) = x.elem.int_range()?;
        let z = x.elem.as_quant().map_or(0, |q| q.zero_points[0]);
        let dev = (lo as i128 - z as i128)
            .abs()
            .max((hi as i128 - z as i128).abs());
        if dev * k as i128 > i32::MAX as i128 {
            self.err(format!(
                "the row sums of `x` could overflow i32: K = {k} values of up to {dev} in magnitude"
            ));
            return None;
        }
        let mut shape = rest.to_vec();
        shape.push(1);
        ok.then_some(Inferred {
            shape: ShapeRule::Exact(shape),
            elem: ElemRule::Exact(ElemType::I32),
        })
    }

    fn add_int(&mut self, mode: RequantMode) -> Option<Inferred> {
        let mut ok = true;
        for i in 0..2 {
            if self.want_quant(i) {
                ok &= self.want_not_per_axis(i, "add_int needs per-tensor operands");
                let t = self.args[i];
                if mode != RequantMode::Float && t.elem.storage().bits() > 8 {
                    self.err(format!(
                        "mode {mode} needs operands of at most 8 bits, but {} is `{}`",
                        self.opnd(i),
                        t.elem.storage()
                    ));
                    ok = false;
                }
            } else {
                ok = false;
            }
        }
        let shape = self.broadcast()?;
        ok.then_some(Inferred {
            shape: ShapeRule::Exact(shape),
            elem: ElemRule::Quantized(AxisRule::PerTensor),
        })
    }

    fn clamp_int(&mut self, min: i64, max: i64) -> Option<Inferred> {
        let ok = self.want_int(0);
        if min > max {
            self.err(format!("`min` = {min} is greater than `max` = {max}"));
            return None;
        }
        ok.then(|| self.same_type())
    }

    // ---- run-time quantization parameters ----

    /// Operand `i` must be a plain integer type (its zero point is an
    /// operand, so it carries no quantization parameters).
    fn want_plain_int(&mut self, i: usize) -> bool {
        match &self.args[i].elem {
            ElemType::Scalar(s) if s.is_int() => true,
            other => {
                self.err(format!(
                    "{} must be a plain integer type (its quantization parameters are \
                     operands), found `{other}`",
                    self.opnd(i)
                ));
                false
            }
        }
    }

    /// Operand `p` (a scale or zero point) must broadcast to the shape of
    /// operand `data` without growing it.
    fn want_broadcasts_to(&mut self, p: usize, data: usize) -> bool {
        let (pt, dt) = (self.args[p], self.args[data]);
        if broadcast_shapes(&pt.shape, &dt.shape).as_deref() == Some(&dt.shape[..]) {
            true
        } else {
            self.err(format!(
                "{} {:?} must broadcast to the shape {:?} of {} (aligned at the right, each \
                 dimension equal or 1)",
                self.opnd(p),
                pt.shape,
                dt.shape,
                self.opnd(data)
            ));
            false
        }
    }

    /// Operand `z` must have the storage type of operand `of`.
    fn want_same_storage(&mut self, z: usize, of: usize) -> bool {
        let (a, b) = (self.args[z].elem.storage(), self.args[of].elem.storage());
        if a == b {
            true
        } else {
            self.err(format!(
                "{} must have the storage type `{b}` of {}, found `{a}`",
                self.opnd(z),
                self.opnd(of)
            ));
            false
        }
    }

    /// `dynamic_scale` / `dynamic_zero_point`: an f32 operand of any shape,
    /// a rank-0 result of type `elem`.
    fn dynamic_param(&mut self, elem: ElemType) -> Option<Inferred> {
        self.want_f32(0).then(|| Inferred::exact(Vec::new(), elem))
    }

    fn quantize_dyn(&mut self) -> Option<Inferred> {
        let mut ok = self.want_f32(0) & self.want_f32(1) & self.want_plain_int(2);
        ok &= self.want_broadcasts_to(1, 0) & self.want_broadcasts_to(2, 0);
        let (x, z) = (self.args[0], self.args[2]);
        ok.then(|| Inferred::exact(x.shape.clone(), z.elem.clone()))
    }

    fn dequantize_dyn(&mut self) -> Option<Inferred> {
        let mut ok = self.want_plain_int(0) & self.want_f32(1) & self.want_plain_int(2);
        ok &= self.want_broadcasts_to(1, 0) & self.want_broadcasts_to(2, 0);
        if ok {
            ok &= self.want_same_storage(2, 0);
        }
        ok.then(|| Inferred::exact(self.args[0].shape.clone(), ElemType::F32))
    }

    /// The operands of `matmul_int_dyn` / `conv2d_int_dyn`: plain integers,
    /// `zx` of rank 0 with `x`'s storage, `zw` of rank 0 or `[channels]`
    /// with `w`'s storage.
    fn dyn_zero_points(&mut self, channels: usize) -> bool {
        let mut ok = true;
        for i in 0..4 {
            ok &= self.want_plain_int(i);
        }
        if !ok {
            return false;
        }
        ok &= self.want_same_storage(2, 0) & self.want_same_storage(3, 1);
        let (zx, zw) = (self.args[2], self.args[3]);
        if !zx.shape.is_empty() {
            self.err(format!(
                "`zx` must have rank 0 (one zero point for all of `x`), found shape {:?}",
                zx.shape
            ));
            ok = false;
        }
        if !(zw.shape.is_empty() || zw.shape == [channels]) {
            self.err(format!(
                "`zw` must have rank 0 or shape [{channels}] (one per output channel), found \
                 shape {:?}",
                zw.shape
            ));
            ok = false;
        }
        ok
    }

    fn matmul_int_dyn(&mut self) -> Option<Inferred> {
        let (x, w) = (self.args[0], self.args[1]);
        let rx = x.rank();
        if rx < 2 {
            self.err(format!(
                "`x` must have rank 2 or more ([..., M, K]), found rank {rx}"
            ));
        }
        if !self.want_rank(1, 2) || rx < 2 {
            return None;
        }
        let (k, n) = (x.shape[rx - 1], w.shape[1]);
        let mut ok = self.dyn_zero_points(n);
        if w.shape[0] != k {
            self.err(format!(
                "inner dimensions differ: `x` is {:?} (K = {k}) but `w` is {:?} (K = {})",
                x.shape, w.shape, w.shape[0]
            ));
            ok = false;
        }
        let mut shape = x.shape[..rx - 1].to_vec();
        shape.push(n);
        ok.then(|| Inferred::exact(shape, ElemType::I32))
    }

    fn conv2d_int_dyn(&mut self, a: &Conv2dAttrs) -> Option<Inferred> {
        let shape = self.conv_shape(a)?;
        self.dyn_zero_points(shape[1])
            .then(|| Inferred::exact(shape, ElemType::I32))
    }
}
