//! The closed set of operations.
//!
//! Every op produces exactly one value. Its typing rule is enforced by the
//! verifier (`crate::verify`) and its meaning is defined by the reference
//! interpreter (`crate::interp`) and written down in `docs/semantics.md`; the
//! one-line summaries here are reminders, not the specification.
//!
//! Attribute conventions: all axes are non-negative (front ends normalise
//! negative axes); 2-d pads are `[top, left, bottom, right]` (ONNX's
//! `[x1_begin, x2_begin, x1_end, x2_end]`); strides and dilations are
//! `[height, width]`.

pub(crate) mod attrs;

use crate::tensor::TensorData;
use attrs::{
    ADD_INT, ARG, AVGPOOL, AXES, AXIS, CLAMP, CLAMP_INT, CONV, CONV_INT, FLATTEN, HARD_SIGMOID,
    INT, LEAKY_RELU, MAXPOOL, MODE, NONE, PERM, SLICE,
};
pub use attrs::{AttrDefault, AttrKind, AttrSpec, AttrValue};
pub(crate) use attrs::{AttrSet, printed_attrs};
use std::fmt;

/// How a rescale by a real multiplier `M` is carried out on integers. See
/// `docs/semantics.md` § Requantization and `crate::quant`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequantMode {
    /// `round_half_even(f32(x) * M_f32)`: ONNX / onnxruntime (MLAS).
    #[default]
    Float,
    /// Int32 multiplier and shift, one rounding (half up): TOSA RESCALE,
    /// TFLite's single-rounding build.
    SingleRound,
    /// gemmlowp: saturating rounding doubling high multiply, then rounding
    /// right shift (both half away from zero): TFLite's reference kernels.
    DoubleRound,
}

impl RequantMode {
    pub const ALL: [RequantMode; 3] = [
        RequantMode::Float,
        RequantMode::SingleRound,
        RequantMode::DoubleRound,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RequantMode::Float => "float",
            RequantMode::SingleRound => "single_round",
            RequantMode::DoubleRound => "double_round",
        }
    }

    pub fn from_name(s: &str) -> Option<RequantMode> {
        RequantMode::ALL.into_iter().find(|m| m.name() == s)
    }
}

impl fmt::Display for RequantMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Attributes of `conv2d` and `conv2d_int` (NCHW activations, OIHW weights).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Conv2dAttrs {
    /// `[height, width]`, default `[1, 1]`.
    pub strides: [usize; 2],
    /// `[top, left, bottom, right]`, default zeros.
    pub pads: [usize; 4],
    /// `[height, width]`, default `[1, 1]`.
    pub dilations: [usize; 2],
    /// Default 1; equal to the channel count for depthwise.
    pub groups: usize,
}

impl Default for Conv2dAttrs {
    fn default() -> Self {
        Conv2dAttrs {
            strides: [1, 1],
            pads: [0; 4],
            dilations: [1, 1],
            groups: 1,
        }
    }
}

/// Attributes of `matmul_int` and `conv2d_int`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IntAttrs {
    /// The input's zero-point term is in the bias already: the op sums
    /// `x · (w − zw)`, not `(x − zx) · (w − zw)`, and the bias carries
    /// `−zx · Σ (w − zw)` (computed at compile time by `fold-zero-points`).
    /// A convolution's padding still reads `zx`. Default false.
    pub zx_in_bias: bool,
}

impl IntAttrs {
    /// `zx_in_bias = true`.
    pub const ZX_IN_BIAS: IntAttrs = IntAttrs { zx_in_bias: true };
}

/// Attributes of `maxpool2d` and `avgpool2d`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pool2dAttrs {
    /// `[height, width]`; required.
    pub kernel: [usize; 2],
    /// Default `[1, 1]`.
    pub strides: [usize; 2],
    /// `[top, left, bottom, right]`, default zeros.
    pub pads: [usize; 4],
    /// avgpool2d only: whether padded positions count in the divisor
    /// (default false, as ONNX).
    pub count_include_pad: bool,
    /// avgpool2d on quantized tensors only: how the mean is rescaled.
    pub mode: RequantMode,
}

impl Pool2dAttrs {
    pub fn new(kernel: [usize; 2]) -> Pool2dAttrs {
        Pool2dAttrs {
            kernel,
            strides: [1, 1],
            pads: [0; 4],
            count_include_pad: false,
            mode: RequantMode::Float,
        }
    }
}

/// A constant tensor. The type is the node's type; `data` holds the stored
/// elements (storage type of a quantized type), row-major, or in the packed
/// order of the type's layout (`crate::layout`): read the elements in
/// logical order with [`ConstData::logical`].
///
/// Equality and hashing look at the data only: `file` says where the data
/// is kept, not what the constant is.
///
/// The data is shared: cloning a constant (as the passes and their e-graphs
/// do, once per pass) copies a pointer, never the elements.
#[derive(Clone, Debug)]
pub struct ConstData {
    pub data: std::sync::Arc<TensorData>,
    /// Where the data came from when it was not inline: a `.npy` path,
    /// relative to the graph file. The printer writes the reference back.
    pub file: Option<String>,
}

impl ConstData {
    /// A constant holding `data`, not read from a file.
    pub fn new(data: TensorData) -> ConstData {
        ConstData {
            data: std::sync::Arc::new(data),
            file: None,
        }
    }

    /// The elements in the logical (row-major) order of `ty`, the
    /// constant's type: the data itself, or unpacked from a packed layout.
    /// Data that does not fit the layout (a graph the verifier rejects) is
    /// returned as it is.
    pub fn logical(&self, ty: &crate::TensorType) -> std::borrow::Cow<'_, TensorData> {
        if !ty.layout.is_packed() {
            return std::borrow::Cow::Borrowed(&self.data);
        }
        match crate::layout::unpack(ty.layout, &ty.shape, &self.data) {
            Some(d) => std::borrow::Cow::Owned(d),
            None => std::borrow::Cow::Borrowed(&self.data),
        }
    }
}

impl PartialEq for ConstData {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.data, &other.data) || self.data == other.data
    }
}
impl Eq for ConstData {}
impl std::hash::Hash for ConstData {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.data.hash(state)
    }
}

/// Which part of the op set an op belongs to. The verifier's rules are
/// filed by family (`verify/rules/{float, quant, int, movement, dynamic}.rs`),
/// and `qcc` lists ops by family in its documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpFamily {
    /// Graph inputs and constants.
    Structure,
    /// Float arithmetic (some of it also defined on quantized tensors, as
    /// the pools).
    Float,
    /// Data movement: the values are unchanged, only their places.
    Movement,
    /// Conversions between float and quantized values, and between scales.
    Quant,
    /// Integer arithmetic on stored values and i32 accumulators.
    Int,
    /// Quantization parameters computed at run time (ONNX dynamic
    /// quantization).
    Dynamic,
    /// Comparisons, selection and conversions between element types
    /// (booleans are `u8` 0 / 1).
    Logic,
}

impl OpFamily {
    pub const ALL: [OpFamily; 7] = [
        OpFamily::Structure,
        OpFamily::Float,
        OpFamily::Movement,
        OpFamily::Quant,
        OpFamily::Int,
        OpFamily::Dynamic,
        OpFamily::Logic,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OpFamily::Structure => "structure",
            OpFamily::Float => "float",
            OpFamily::Movement => "movement",
            OpFamily::Quant => "quant",
            OpFamily::Int => "int",
            OpFamily::Dynamic => "dynamic",
            OpFamily::Logic => "logic",
        }
    }
}

/// What the op table says about one op: everything about it that is not
/// its typing rule (the verifier), its meaning (the interpreter) or its
/// machine code (codegen).
#[derive(Debug)]
pub struct OpSchema {
    pub kind: OpKind,
    /// The name in the text format.
    pub name: &'static str,
    pub family: OpFamily,
    pub arity: Arity,
    /// Its attributes, in the order the printer writes them.
    pub attrs: &'static [AttrSpec],
    /// Builds the op from validated attributes; `None` for the ops that have
    /// no `%v = name ...` form (`input`, and `const` with its own syntax).
    pub(crate) build: Option<BuildOp>,
    /// The op's doc comment, one line per `///` line.
    pub doc: &'static str,
}

/// Builds an op from its validated attributes.
pub(crate) type BuildOp = fn(&AttrSet) -> Op;

/// Declares every op once: its variant of [`Op`] (with its payload and doc
/// comment), its text name, family, arity, attribute schema and how the
/// parser builds it. [`Op`], [`OpKind`], [`Op::kind`] and [`SCHEMA`] are
/// generated from this one list; `Op::name`, `Op::arity`, [`OP_NAMES`], the
/// parser's op table and the printer's defaults all read [`SCHEMA`].
macro_rules! declare_ops {
    (
        $(
            $(#[doc = $doc:literal])*
            $variant:ident $( ( $($tuple:ty),* ) )? $( { $($field:ident : $fty:ty),* $(,)? } )?
                => $name:literal, $family:ident, $arity:expr, $attrs:expr, $build:expr;
        )*
    ) => {
        /// An operation. Operands are the node's arguments in order (see
        /// [`crate::Graph::args`]); the result type is the node's type.
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum Op {
            $( $(#[doc = $doc])* $variant $( ( $($tuple),* ) )? $( { $($field : $fty),* } )?, )*
        }

        /// The op without its attributes: an index into [`SCHEMA`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum OpKind {
            $( $variant, )*
        }

        impl Op {
            pub fn kind(&self) -> OpKind {
                match self {
                    $( Op::$variant { .. } => OpKind::$variant, )*
                }
            }
        }

        /// The op table, in [`OpKind`] order.
        pub const SCHEMA: &[OpSchema] = &[
            $(
                OpSchema {
                    kind: OpKind::$variant,
                    name: $name,
                    family: OpFamily::$family,
                    arity: {
                        #[allow(unused_imports)]
                        use Arity::{AtLeast, Exactly, Range};
                        $arity
                    },
                    attrs: $attrs,
                    build: $build,
                    doc: concat!($($doc, "\n",)*),
                },
            )*
        ];
    };
}

declare_ops! {
    // ---- graph structure ----
    /// The graph's input number `n` (its name is the node's name).
    Input(usize) => "input", Structure, Exactly(0), NONE, None;
    /// A constant.
    Const(ConstData) => "const", Structure, Exactly(0), NONE, None;

    // ---- float ops (f32 in, f32 out) ----
    /// `matmul a, b`: a `[..., M, K]` × b `[K, N]` or `[..., K, N]` (same
    /// batch dims) → `[..., M, N]`.
    MatMul => "matmul", Float, Exactly(2), NONE, Some(|_| Op::MatMul);
    /// `dense x, w[, b]`: x `[M, K]`, w `[N, K]`, b `[N]` → `x·wᵀ + b`, `[M, N]`.
    Dense => "dense", Float, Range(2, 3), NONE, Some(|_| Op::Dense);
    /// `conv2d x, w[, b]`: x `[N, C, H, W]`, w `[O, C/groups, KH, KW]`, b `[O]`.
    Conv2d(Conv2dAttrs) => "conv2d", Float, Range(2, 3), CONV, Some(|a| Op::Conv2d(a.conv()));
    /// Elementwise with numpy broadcasting.
    Add => "add", Float, Exactly(2), NONE, Some(|_| Op::Add);
    /// Elementwise with numpy broadcasting.
    Mul => "mul", Float, Exactly(2), NONE, Some(|_| Op::Mul);
    /// `max(x, 0)`.
    Relu => "relu", Float, Exactly(1), NONE, Some(|_| Op::Relu);
    /// `min(max(x, min), max)`.
    Clamp { min: F32Attr, max: F32Attr } => "clamp", Float, Exactly(1), CLAMP,
        Some(|a| Op::Clamp { min: a.float("min"), max: a.float("max") });
    /// `sub a, b`: `a − b`, broadcast like `add`.
    Sub => "sub", Float, Exactly(2), NONE, Some(|_| Op::Sub);
    /// `div a, b`: `a / b` (one IEEE division), broadcast like `add`.
    Div => "div", Float, Exactly(2), NONE, Some(|_| Op::Div);
    /// `pow a, b`: `powf(a, b)` (the `libm` crate's), broadcast like `add`.
    Pow => "pow", Float, Exactly(2), NONE, Some(|_| Op::Pow);
    /// `max a, b`: IEEE `maximum` (NaN wins, +0 > −0), broadcast like `add`.
    Max => "max", Float, Exactly(2), NONE, Some(|_| Op::Max);
    /// `min a, b`: IEEE `minimum` (NaN wins, −0 < +0), broadcast like `add`.
    Min => "min", Float, Exactly(2), NONE, Some(|_| Op::Min);
    /// `−x` (the sign bit flipped).
    Neg => "neg", Float, Exactly(1), NONE, Some(|_| Op::Neg);
    /// `|x|` (the sign bit cleared).
    Abs => "abs", Float, Exactly(1), NONE, Some(|_| Op::Abs);
    /// IEEE square root (correctly rounded).
    Sqrt => "sqrt", Float, Exactly(1), NONE, Some(|_| Op::Sqrt);
    /// `1 / x` (one IEEE division).
    Reciprocal => "reciprocal", Float, Exactly(1), NONE, Some(|_| Op::Reciprocal);
    /// `expf(x)` (the `libm` crate's).
    Exp => "exp", Float, Exactly(1), NONE, Some(|_| Op::Exp);
    /// `logf(x)`, the natural logarithm (the `libm` crate's).
    Log => "log", Float, Exactly(1), NONE, Some(|_| Op::Log);
    /// Rounds towards −∞ (exact).
    Floor => "floor", Float, Exactly(1), NONE, Some(|_| Op::Floor);
    /// Rounds towards +∞ (exact).
    Ceil => "ceil", Float, Exactly(1), NONE, Some(|_| Op::Ceil);
    /// Rounds to the nearest integer, ties to even (exact), as ONNX Round.
    Round => "round", Float, Exactly(1), NONE, Some(|_| Op::Round);
    /// `erff(x)` (the `libm` crate's).
    Erf => "erf", Float, Exactly(1), NONE, Some(|_| Op::Erf);
    /// `tanhf(x)` (the `libm` crate's).
    Tanh => "tanh", Float, Exactly(1), NONE, Some(|_| Op::Tanh);
    /// `1 / (1 + expf(−x))`.
    Sigmoid => "sigmoid", Float, Exactly(1), NONE, Some(|_| Op::Sigmoid);
    /// `minimum(maximum(alpha·x + beta, 0), 1)`.
    HardSigmoid { alpha: F32Attr, beta: F32Attr } => "hard_sigmoid", Float, Exactly(1),
        HARD_SIGMOID, Some(|a| Op::HardSigmoid { alpha: a.float("alpha"), beta: a.float("beta") });
    /// `x · hard_sigmoid(x) {alpha = 1/6, beta = 1/2}`.
    HardSwish => "hard_swish", Float, Exactly(1), NONE, Some(|_| Op::HardSwish);
    /// `x` where `x ≥ 0` (and NaN), else `alpha·x`.
    LeakyRelu { alpha: F32Attr } => "leaky_relu", Float, Exactly(1), LEAKY_RELU,
        Some(|a| Op::LeakyRelu { alpha: a.float("alpha") });
    /// `(0.5·x) · erfcf(−x · (1/√2))`: the exact (erf-based) GELU, written
    /// with erfc so that large negative `x` keeps its precision.
    Gelu => "gelu", Float, Exactly(1), NONE, Some(|_| Op::Gelu);
    /// Also on quantized and integer tensors (same type in and out).
    MaxPool2d(Pool2dAttrs) => "maxpool2d", Float, Exactly(1), MAXPOOL,
        Some(|a| Op::MaxPool2d(a.pool()));
    /// f32, or quantized in and out (sum of `q - zp` in i32, then rescaled).
    AvgPool2d(Pool2dAttrs) => "avgpool2d", Float, Exactly(1), AVGPOOL,
        Some(|a| Op::AvgPool2d(a.pool()));
    /// `[N, C, H, W]` → `[N, C, 1, 1]`; f32, or quantized like avgpool2d.
    GlobalAvgPool { mode: RequantMode } => "global_avgpool", Float, Exactly(1), MODE,
        Some(|a| Op::GlobalAvgPool { mode: a.mode("mode") });

    // ---- data movement (any element type) ----
    /// Any element type; the target shape is the result type's shape.
    Reshape => "reshape", Movement, Exactly(1), NONE, Some(|_| Op::Reshape);
    /// Any element type; `[d0..d(axis-1)] × [d(axis)..]` → 2-d.
    Flatten { axis: usize } => "flatten", Movement, Exactly(1), FLATTEN,
        Some(|a| Op::Flatten { axis: a.size("axis") });
    /// Any element type.
    Transpose { perm: Vec<usize> } => "transpose", Movement, Exactly(1), PERM,
        Some(|a| Op::Transpose { perm: a.sizes("perm") });
    /// Any element type; quantized inputs must all have the result's params.
    Concat { axis: usize } => "concat", Movement, AtLeast(1), AXIS,
        Some(|a| Op::Concat { axis: a.size("axis") });
    /// Any element type: ONNX `Slice` with every axis listed (negative
    /// starts and ends count from the end, then clamp; see `crate::slicing`).
    /// A per-axis quantized operand keeps its quantized axis whole.
    Slice { starts: Vec<i64>, ends: Vec<i64>, steps: Vec<i64> } => "slice", Movement, Exactly(1),
        SLICE, Some(|a| Op::Slice { starts: a.ints("starts"), ends: a.ints("ends"), steps: a.ints("steps") });
    /// Any element type but 4-bit: ONNX `Gather` along `axis` at the `i32`
    /// indices `idx` (any shape; negative ones count from the end, then
    /// each is clamped into the axis). `x[..axis] ++ idx ++ x[axis+1..]`.
    Gather { axis: usize } => "gather", Movement, Exactly(2), AXIS,
        Some(|a| Op::Gather { axis: a.size("axis") });
    /// Softmax along `axis` (f32; listed here to keep the documented order).
    Softmax { axis: usize } => "softmax", Float, Exactly(1), AXIS,
        Some(|a| Op::Softmax { axis: a.size("axis") });
    /// The index (`i32`) of the greatest element along `axis`, kept as an
    /// axis of extent 1: `f32` (a NaN counts as greater than any number),
    /// or integers and quantized codes (ordered as stored; the real values
    /// have the codes' order). The first such index, or the last with
    /// `last = true`.
    ArgMax { axis: usize, last: bool } => "argmax", Float, Exactly(1), ARG,
        Some(|a| Op::ArgMax { axis: a.size("axis"), last: a.bool("last") });
    /// As `argmax`, for the least element (a NaN counts as less than any
    /// number).
    ArgMin { axis: usize, last: bool } => "argmin", Float, Exactly(1), ARG,
        Some(|a| Op::ArgMin { axis: a.size("axis"), last: a.bool("last") });
    /// The mean over `axes` (f32, distinct and increasing), kept as axes of
    /// size 1: each output is the f32 sum of its inputs in row-major order,
    /// divided by their count.
    ReduceMean { axes: Vec<usize> } => "reduce_mean", Float, Exactly(1), AXES,
        Some(|a| Op::ReduceMean { axes: a.sizes("axes") });
    /// The sum over `axes` (as `reduce_mean`, without the division).
    ReduceSum { axes: Vec<usize> } => "reduce_sum", Float, Exactly(1), AXES,
        Some(|a| Op::ReduceSum { axes: a.sizes("axes") });
    /// The IEEE `maximum` over `axes` (NaN if any input is), from −inf.
    ReduceMax { axes: Vec<usize> } => "reduce_max", Float, Exactly(1), AXES,
        Some(|a| Op::ReduceMax { axes: a.sizes("axes") });
    /// The IEEE `minimum` over `axes` (NaN if any input is), from +inf.
    ReduceMin { axes: Vec<usize> } => "reduce_min", Float, Exactly(1), AXES,
        Some(|a| Op::ReduceMin { axes: a.sizes("axes") });
    /// The product over `axes` (as `reduce_sum`, by `·` from 1.0).
    ReduceProd { axes: Vec<usize> } => "reduce_prod", Float, Exactly(1), AXES,
        Some(|a| Op::ReduceProd { axes: a.sizes("axes") });

    // ---- quantization ----
    /// f32 → quantized: `saturate(round_half_even(x / s) + z)`.
    Quantize => "quantize", Quant, Exactly(1), NONE, Some(|_| Op::Quantize);
    /// quantized → f32: `(q - z) * s`.
    Dequantize => "dequantize", Quant, Exactly(1), NONE, Some(|_| Op::Dequantize);
    /// `dense_nbits x, w[, b]`: weight-only quantized dense (onnxruntime's
    /// `MatMulNBits`): x f32 `[..., K]`, w `[N, K]` quantized in blocks
    /// along K (4- or 8-bit storage), b f32 `[N]` → f32 `[..., N]`, the
    /// dequantized weights summed in 16 lanes over K (fused multiply-adds),
    /// then a fixed tree.
    DenseNbits => "dense_nbits", Quant, Range(2, 3), NONE, Some(|_| Op::DenseNbits);
    /// `dense_nbits_q8 x, w[, b]`: as `dense_nbits`, but `x` is quantized
    /// to int8 per block of K on the fly (symmetric, scale `amax / 127`,
    /// onnxruntime's `MatMulNBits` at `accuracy_level` 4); each block's
    /// integer dot product times both scales is summed in 16 lanes over
    /// the blocks, then a fixed tree.
    DenseNbitsQ8 => "dense_nbits_q8", Quant, Range(2, 3), NONE, Some(|_| Op::DenseNbitsQ8);
    /// quantized (or i32 accumulator type) → quantized, by the real multiplier
    /// `s_in / s_out` (per axis if either is), with the given arithmetic.
    Requantize { mode: RequantMode } => "requantize", Quant, Exactly(1), MODE,
        Some(|a| Op::Requantize { mode: a.mode("mode") });

    // ---- integer ops ----
    /// `matmul_int x, w[, bias[, rs]]`: Σ (x − zx)(w − zw) + bias, exact in
    /// i32. x quantized `[..., M, K]`, w quantized `[K, N]` (per axis: axis
    /// 1), bias i32 `[N]`; result i32 or `!quant.uniform<i32:f32, sx·sw>`.
    /// With `rs` (the row sums of x, i32 `[..., M, 1]`, see [`Op::RowSums`])
    /// the weight zero-point term is `zw · rs` instead:
    /// `Σ (x − zx)·w − zw·rs + bias`. With [`IntAttrs::zx_in_bias`], x's
    /// zero point is not subtracted.
    MatMulInt(IntAttrs) => "matmul_int", Int, Range(2, 4), INT,
        Some(|a| Op::MatMulInt(a.int_attrs()));
    /// `conv2d_int x, w[, bias]`: like `conv2d` on `q − z`; padding reads zx.
    Conv2dInt(Conv2dAttrs, IntAttrs) => "conv2d_int", Int, Range(2, 3), CONV_INT,
        Some(|a| Op::Conv2dInt(a.conv(), a.int_attrs()));
    /// `row_sums x`: `Σ_k (x[..., m, k] − zx)` over the last axis, exact,
    /// as i32 `[..., M, 1]` (the run-time term `zw · Σx` of a `matmul_int`
    /// whose weights are not constant and have a zero point).
    RowSums => "row_sums", Int, Exactly(1), NONE, Some(|_| Op::RowSums);
    /// `lookup x, table`: `table[x as byte]` elementwise: `x` 8-bit (u8 or
    /// i8, quantized or plain), `table` 256 values of the result's 8-bit
    /// storage indexed by x's stored byte (two's complement for i8).
    Lookup => "lookup", Int, Exactly(2), NONE, Some(|_| Op::Lookup);
    /// `add_int a, b`: both sides rescaled to the result's scale, summed,
    /// rounded once per `mode` (see semantics.md), broadcast like `add`;
    /// `ort = true` (float mode, 8-bit storage): onnxruntime's arithmetic
    /// (two fused multiply-adds on the stored codes, `crate::quant::OrtAdd`).
    AddInt { mode: RequantMode, ort: bool } => "add_int", Int, Exactly(2), ADD_INT,
        Some(|a| Op::AddInt { mode: a.mode("mode"), ort: a.bool("ort") });
    /// Clamp of stored integer values (same type in and out).
    ClampInt { min: i64, max: i64 } => "clamp_int", Int, Exactly(1), CLAMP_INT,
        Some(|a| Op::ClampInt { min: a.int("min"), max: a.int("max") });

    // ---- run-time quantization parameters (ONNX dynamic quantization) ----
    /// `dynamic_scale x`: the f32 scale (rank 0) ONNX's
    /// DynamicQuantizeLinear computes from the data of `x` (u8 range).
    DynamicScale => "dynamic_scale", Dynamic, Exactly(1), NONE, Some(|_| Op::DynamicScale);
    /// `dynamic_zero_point x`: the u8 zero point (rank 0) that goes with
    /// [`Op::DynamicScale`].
    DynamicZeroPoint => "dynamic_zero_point", Dynamic, Exactly(1), NONE,
        Some(|_| Op::DynamicZeroPoint);
    /// `quantize_dyn x, s, z`: quantize with scale and zero point operands
    /// (broadcast to `x`'s shape) into a plain integer tensor of `z`'s type.
    QuantizeDyn => "quantize_dyn", Dynamic, Exactly(3), NONE, Some(|_| Op::QuantizeDyn);
    /// `dequantize_dyn q, s, z`: `f32(q − z) · s` with scale and zero point
    /// operands broadcast to `q`'s shape.
    DequantizeDyn => "dequantize_dyn", Dynamic, Exactly(3), NONE, Some(|_| Op::DequantizeDyn);
    /// `matmul_int_dyn x, w, zx, zw`: `Σ (x − zx)(w − zw)` exact in i32, plain
    /// integer operands, the zero points operands (`zx` rank 0, `zw` rank 0
    /// or `[N]`).
    MatMulIntDyn => "matmul_int_dyn", Dynamic, Exactly(4), NONE, Some(|_| Op::MatMulIntDyn);
    /// `conv2d_int_dyn x, w, zx, zw`: `conv2d` on `(x − zx)(w − zw[o])`,
    /// the zero points operands; padding reads `zx`.
    Conv2dIntDyn(Conv2dAttrs) => "conv2d_int_dyn", Dynamic, Exactly(4), CONV,
        Some(|a| Op::Conv2dIntDyn(a.conv()));

    // ---- comparisons, selection and casts (a boolean is `u8` 0 or 1) ----
    /// `cast x`: `f32` or a plain integer type to the result's (`f32` or
    /// plain integer): integers to `f32` round to nearest even, `f32` to an
    /// integer truncates towards zero and saturates (NaN gives 0), integers
    /// to integers wrap (two's complement).
    Cast => "cast", Logic, Exactly(1), NONE, Some(|_| Op::Cast);
    /// `equal a, b`: 1 where `a = b`, else 0, as `u8`; `a` and `b` of one
    /// type (`f32` or plain integer), broadcast like `add`.
    Equal => "equal", Logic, Exactly(2), NONE, Some(|_| Op::Equal);
    /// `less a, b`: 1 where `a < b`, else 0 (`u8`), like `equal`.
    Less => "less", Logic, Exactly(2), NONE, Some(|_| Op::Less);
    /// `greater a, b`: 1 where `a > b`, else 0 (`u8`), like `equal`.
    Greater => "greater", Logic, Exactly(2), NONE, Some(|_| Op::Greater);
    /// `where c, a, b`: `a` where `c ≠ 0`, else `b`; `c` plain `u8`, `a` and
    /// `b` of one type; the three broadcast together.
    Where => "where", Logic, Exactly(3), NONE, Some(|_| Op::Where);
}

/// An `f32` attribute compared, ordered and hashed by its bits.
#[derive(Clone, Copy, Debug)]
pub struct F32Attr(pub f32);

impl PartialEq for F32Attr {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}
impl Eq for F32Attr {}
impl std::hash::Hash for F32Attr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state)
    }
}

/// How many operands an op takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    Exactly(usize),
    /// Between the two bounds, inclusive.
    Range(usize, usize),
    AtLeast(usize),
}

impl Arity {
    pub fn accepts(self, n: usize) -> bool {
        match self {
            Arity::Exactly(k) => n == k,
            Arity::Range(lo, hi) => (lo..=hi).contains(&n),
            Arity::AtLeast(k) => n >= k,
        }
    }
}

impl fmt::Display for Arity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arity::Exactly(1) => f.write_str("1 operand"),
            Arity::Exactly(k) => write!(f, "{k} operands"),
            Arity::Range(lo, hi) => write!(f, "{lo} or {hi} operands"),
            Arity::AtLeast(k) => write!(f, "at least {k} operands"),
        }
    }
}

/// Names of all ops that may appear in the text format, in the order they are
/// documented. (`input` is not written as an op: inputs are the graph's
/// parameters.)
pub const OP_NAMES: &[&str] = &{
    let mut names = [""; SCHEMA.len() - 1];
    let mut i = 1;
    while i < SCHEMA.len() {
        names[i - 1] = SCHEMA[i].name;
        i += 1;
    }
    names
};

impl OpKind {
    /// Every op kind, in table order.
    pub fn all() -> impl Iterator<Item = OpKind> {
        SCHEMA.iter().map(|s| s.kind)
    }

    /// The op's entry in the table.
    pub fn schema(self) -> &'static OpSchema {
        &SCHEMA[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.schema().name
    }

    pub fn family(self) -> OpFamily {
        self.schema().family
    }
}

impl Op {
    /// The op's entry in the table.
    pub fn schema(&self) -> &'static OpSchema {
        self.kind().schema()
    }

    /// The op's name in the text format.
    pub fn name(&self) -> &'static str {
        self.schema().name
    }

    /// How many operands the op takes.
    pub fn arity(&self) -> Arity {
        self.schema().arity
    }

    pub fn family(&self) -> OpFamily {
        self.schema().family
    }

    pub fn is_const(&self) -> bool {
        matches!(self, Op::Const(_))
    }

    pub fn as_const(&self) -> Option<&ConstData> {
        match self {
            Op::Const(c) => Some(c),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_kind_order() {
        for (i, s) in SCHEMA.iter().enumerate() {
            assert_eq!(s.kind as usize, i, "{}", s.name);
            assert!(!s.doc.trim().is_empty(), "{} has no doc line", s.name);
        }
        assert_eq!(OP_NAMES.len() + 1, SCHEMA.len());
        assert_eq!(SCHEMA[0].kind, OpKind::Input);
    }

    #[test]
    fn names_are_unique_and_listed() {
        let mut seen = std::collections::HashSet::new();
        for n in OP_NAMES {
            assert!(seen.insert(*n), "duplicate op name {n}");
        }
        assert!(
            OP_NAMES.contains(&Op::Conv2dInt(Conv2dAttrs::default(), IntAttrs::default()).name())
        );
        assert!(
            OP_NAMES.contains(
                &Op::GlobalAvgPool {
                    mode: RequantMode::Float
                }
                .name()
            )
        );
    }

    #[test]
    fn modes_round_trip_names() {
        for m in RequantMode::ALL {
            assert_eq!(RequantMode::from_name(m.name()), Some(m));
        }
        assert_eq!(RequantMode::from_name("nearest"), None);
    }
}
