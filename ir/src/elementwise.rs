//! The scalar functions of the float elementwise ops: the one definition
//! that the interpreter applies and the code generator's helpers call, so
//! that compiled code equals the interpreter bit for bit
//! (`docs/semantics.md` § Float elementwise ops). Transcendental functions
//! are the `libm` crate's (a pure-Rust port of musl's), the same on every
//! host and target.

use crate::op::{Op, OpKind};

/// The `exp` of the spec: the `libm` crate's `expf` (musl's algorithm, the
/// same bits on every platform), for the `exp` and `sigmoid` ops and
/// `softmax` alike. Generated code computes it with a port of the same
/// routine (`qcc_codegen`'s `lower::libm`).
#[inline]
pub fn expf(x: f32) -> f32 {
    libm::expf(x)
}

/// IEEE 754-2019 `maximum`: NaN if either operand is NaN, and −0.0 < +0.0.
pub fn maximum(a: f32, b: f32) -> f32 {
    if a.is_nan() {
        a
    } else if b.is_nan() {
        b
    } else if a > b || (a == b && a.is_sign_positive()) {
        a
    } else {
        b
    }
}

/// IEEE 754-2019 `minimum`: NaN if either operand is NaN, and −0.0 < +0.0.
pub fn minimum(a: f32, b: f32) -> f32 {
    if a.is_nan() {
        a
    } else if b.is_nan() {
        b
    } else if a < b || (a == b && a.is_sign_negative()) {
        a
    } else {
        b
    }
}

/// A float binary elementwise op, as a small code the generated code passes
/// to its helper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Binary {
    Add = 0,
    Mul = 1,
    Sub = 2,
    Div = 3,
    Pow = 4,
    Max = 5,
    Min = 6,
}

impl Binary {
    pub const ALL: [Binary; 7] = [
        Binary::Add,
        Binary::Mul,
        Binary::Sub,
        Binary::Div,
        Binary::Pow,
        Binary::Max,
        Binary::Min,
    ];

    /// The binary function of `op`, if it is a float binary elementwise op.
    pub fn of(op: &Op) -> Option<Binary> {
        Some(match op.kind() {
            OpKind::Add => Binary::Add,
            OpKind::Mul => Binary::Mul,
            OpKind::Sub => Binary::Sub,
            OpKind::Div => Binary::Div,
            OpKind::Pow => Binary::Pow,
            OpKind::Max => Binary::Max,
            OpKind::Min => Binary::Min,
            _ => return None,
        })
    }

    pub fn from_code(code: u32) -> Option<Binary> {
        Binary::ALL.into_iter().find(|b| *b as u32 == code)
    }

    #[inline]
    pub fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            Binary::Add => a + b,
            Binary::Mul => a * b,
            Binary::Sub => a - b,
            Binary::Div => a / b,
            Binary::Pow => libm::powf(a, b),
            Binary::Max => maximum(a, b),
            Binary::Min => minimum(a, b),
        }
    }
}

/// A float unary elementwise op with its (up to two) float attributes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Unary {
    pub f: UnaryFn,
    pub alpha: f32,
    pub beta: f32,
}

/// Which unary function; the code is what generated code passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum UnaryFn {
    Relu = 0,
    Neg = 1,
    Abs = 2,
    Sqrt = 3,
    Reciprocal = 4,
    Exp = 5,
    Log = 6,
    Floor = 7,
    Ceil = 8,
    Round = 9,
    Erf = 10,
    Tanh = 11,
    Sigmoid = 12,
    HardSigmoid = 13,
    HardSwish = 14,
    LeakyRelu = 15,
    Gelu = 16,
}

impl UnaryFn {
    pub const ALL: [UnaryFn; 17] = [
        UnaryFn::Relu,
        UnaryFn::Neg,
        UnaryFn::Abs,
        UnaryFn::Sqrt,
        UnaryFn::Reciprocal,
        UnaryFn::Exp,
        UnaryFn::Log,
        UnaryFn::Floor,
        UnaryFn::Ceil,
        UnaryFn::Round,
        UnaryFn::Erf,
        UnaryFn::Tanh,
        UnaryFn::Sigmoid,
        UnaryFn::HardSigmoid,
        UnaryFn::HardSwish,
        UnaryFn::LeakyRelu,
        UnaryFn::Gelu,
    ];

    pub fn from_code(code: u32) -> Option<UnaryFn> {
        UnaryFn::ALL.into_iter().find(|f| *f as u32 == code)
    }
}

impl Unary {
    /// The unary function of `op`, if it is a float unary elementwise op
    /// (`clamp` is not: it keeps its own lowering).
    pub fn of(op: &Op) -> Option<Unary> {
        let f = |f| Unary {
            f,
            alpha: 0.0,
            beta: 0.0,
        };
        Some(match *op {
            Op::Relu => f(UnaryFn::Relu),
            Op::Neg => f(UnaryFn::Neg),
            Op::Abs => f(UnaryFn::Abs),
            Op::Sqrt => f(UnaryFn::Sqrt),
            Op::Reciprocal => f(UnaryFn::Reciprocal),
            Op::Exp => f(UnaryFn::Exp),
            Op::Log => f(UnaryFn::Log),
            Op::Floor => f(UnaryFn::Floor),
            Op::Ceil => f(UnaryFn::Ceil),
            Op::Round => f(UnaryFn::Round),
            Op::Erf => f(UnaryFn::Erf),
            Op::Tanh => f(UnaryFn::Tanh),
            Op::Sigmoid => f(UnaryFn::Sigmoid),
            Op::HardSigmoid { alpha, beta } => Unary {
                f: UnaryFn::HardSigmoid,
                alpha: alpha.0,
                beta: beta.0,
            },
            Op::HardSwish => f(UnaryFn::HardSwish),
            Op::LeakyRelu { alpha } => Unary {
                f: UnaryFn::LeakyRelu,
                alpha: alpha.0,
                beta: 0.0,
            },
            Op::Gelu => f(UnaryFn::Gelu),
            _ => return None,
        })
    }

    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self.f {
            UnaryFn::Relu => maximum(x, 0.0),
            UnaryFn::Neg => -x,
            UnaryFn::Abs => x.abs(),
            UnaryFn::Sqrt => x.sqrt(),
            UnaryFn::Reciprocal => 1.0 / x,
            UnaryFn::Exp => expf(x),
            UnaryFn::Log => libm::logf(x),
            UnaryFn::Floor => x.floor(),
            UnaryFn::Ceil => x.ceil(),
            UnaryFn::Round => x.round_ties_even(),
            UnaryFn::Erf => libm::erff(x),
            UnaryFn::Tanh => libm::tanhf(x),
            UnaryFn::Sigmoid => 1.0 / (1.0 + expf(-x)),
            UnaryFn::HardSigmoid => hard_sigmoid(x, self.alpha, self.beta),
            UnaryFn::HardSwish => x * hard_sigmoid(x, 1.0 / 6.0, 0.5),
            UnaryFn::LeakyRelu => {
                if x < 0.0 {
                    self.alpha * x
                } else {
                    x
                }
            }
            UnaryFn::Gelu => (0.5 * x) * libm::erfcf(-x * std::f32::consts::FRAC_1_SQRT_2),
        }
    }
}

/// `minimum(maximum(alpha·x + beta, 0), 1)`, each step rounded to f32.
fn hard_sigmoid(x: f32, alpha: f32, beta: f32) -> f32 {
    minimum(maximum(alpha * x + beta, 0.0), 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::F32Attr;

    #[test]
    fn codes_round_trip() {
        for b in Binary::ALL {
            assert_eq!(Binary::from_code(b as u32), Some(b));
        }
        for f in UnaryFn::ALL {
            assert_eq!(UnaryFn::from_code(f as u32), Some(f));
        }
        assert_eq!(UnaryFn::from_code(99), None);
    }

    #[test]
    fn values_at_the_edges() {
        let u = |op: Op, x: f32| Unary::of(&op).unwrap().apply(x);
        assert_eq!(u(Op::Round, 2.5), 2.0);
        assert_eq!(u(Op::Round, -3.5), -4.0);
        assert_eq!(u(Op::Relu, -0.0).to_bits(), 0.0f32.to_bits());
        assert!(u(Op::Sqrt, -1.0).is_nan());
        assert_eq!(u(Op::Reciprocal, 0.0), f32::INFINITY);
        assert_eq!(u(Op::Sigmoid, 0.0), 0.5);
        assert_eq!(u(Op::HardSwish, 3.0), 3.0);
        assert_eq!(u(Op::HardSwish, -3.0), -0.0);
        assert_eq!(
            u(
                Op::LeakyRelu {
                    alpha: F32Attr(0.1)
                },
                -2.0
            ),
            0.1 * -2.0
        );
        assert_eq!(
            u(
                Op::LeakyRelu {
                    alpha: F32Attr(0.1)
                },
                -0.0
            )
            .to_bits(),
            (-0.0f32).to_bits()
        );
        assert_eq!(u(Op::Gelu, 0.0), 0.0);
        assert_eq!(u(Op::Erf, f32::INFINITY), 1.0);
        let b = |op: Op, x: f32, y: f32| Binary::of(&op).unwrap().apply(x, y);
        assert!(b(Op::Max, f32::NAN, 1.0).is_nan());
        assert_eq!(b(Op::Min, 0.0, -0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(b(Op::Pow, 2.0, 10.0), 1024.0);
        assert_eq!(Unary::of(&Op::Add), None);
        assert_eq!(Binary::of(&Op::Relu), None);
    }
}
