//! Op attributes: their kinds, defaults and values, the attribute schema of
//! each op (referenced by the op table in [`super::SCHEMA`]), and
//! [`attrs_of`], which lists an op's attributes back. The text parser
//! validates attributes against the schema and the printer omits those equal
//! to their default, so both agree on names, order and defaults by
//! construction.

use super::{Conv2dAttrs, F32Attr, IntAttrs, Op, Pool2dAttrs, RequantMode};
use crate::types::fmt_f32;
use std::fmt;

/// What kind of value an attribute takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrKind {
    /// A non-negative integer (an axis, a count).
    Size,
    /// Any integer that fits in i64.
    Int,
    /// A float (integers accepted), or `inf`, `-inf`, `nan`.
    Float,
    Bool,
    /// `float`, `single_round` or `double_round`.
    Mode,
    /// A list of non-negative integers, of a fixed length if given.
    Sizes(Option<usize>),
    /// A list of integers that fit in i64.
    Ints,
}

impl AttrKind {
    pub fn describe(self) -> String {
        match self {
            AttrKind::Size => "a non-negative integer".into(),
            AttrKind::Int => "an integer".into(),
            AttrKind::Float => "a float".into(),
            AttrKind::Bool => "`true` or `false`".into(),
            AttrKind::Mode => "a rounding mode (`float`, `single_round` or `double_round`)".into(),
            AttrKind::Sizes(Some(n)) => format!("a list of {n} non-negative integers"),
            AttrKind::Sizes(None) => "a list of non-negative integers".into(),
            AttrKind::Ints => "a list of integers".into(),
        }
    }
}

/// An attribute's default. `Required` attributes have none.
#[derive(Clone, Copy, Debug)]
pub enum AttrDefault {
    Required,
    Size(usize),
    Bool(bool),
    Mode(RequantMode),
    Sizes(&'static [usize]),
    Float(f32),
}

impl AttrDefault {
    pub fn value(self) -> Option<AttrValue> {
        Some(match self {
            AttrDefault::Required => return None,
            AttrDefault::Size(n) => AttrValue::Size(n),
            AttrDefault::Bool(b) => AttrValue::Bool(b),
            AttrDefault::Mode(m) => AttrValue::Mode(m),
            AttrDefault::Sizes(v) => AttrValue::Sizes(v.to_vec()),
            AttrDefault::Float(x) => AttrValue::Float(x),
        })
    }
}

/// One attribute of an op.
#[derive(Clone, Copy, Debug)]
pub struct AttrSpec {
    pub name: &'static str,
    pub kind: AttrKind,
    pub default: AttrDefault,
}

pub(super) const fn attr(name: &'static str, kind: AttrKind, default: AttrDefault) -> AttrSpec {
    AttrSpec {
        name,
        kind,
        default,
    }
}

/// A parsed attribute value.
#[derive(Clone, Debug)]
pub enum AttrValue {
    Size(usize),
    Int(i64),
    Float(f32),
    Bool(bool),
    Mode(RequantMode),
    Sizes(Vec<usize>),
    Ints(Vec<i64>),
}

impl PartialEq for AttrValue {
    /// Floats compare by bits, as in [`F32Attr`].
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (AttrValue::Size(a), AttrValue::Size(b)) => a == b,
            (AttrValue::Int(a), AttrValue::Int(b)) => a == b,
            (AttrValue::Float(a), AttrValue::Float(b)) => a.to_bits() == b.to_bits(),
            (AttrValue::Bool(a), AttrValue::Bool(b)) => a == b,
            (AttrValue::Mode(a), AttrValue::Mode(b)) => a == b,
            (AttrValue::Sizes(a), AttrValue::Sizes(b)) => a == b,
            (AttrValue::Ints(a), AttrValue::Ints(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for AttrValue {
    /// The text form of the value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::Size(n) => write!(f, "{n}"),
            AttrValue::Int(n) => write!(f, "{n}"),
            AttrValue::Float(x) => f.write_str(&fmt_f32(*x)),
            AttrValue::Bool(b) => write!(f, "{b}"),
            AttrValue::Mode(m) => f.write_str(m.name()),
            AttrValue::Sizes(v) => write_list(f, v),
            AttrValue::Ints(v) => write_list(f, v),
        }
    }
}

fn write_list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, v: &[T]) -> fmt::Result {
    f.write_str("[")?;
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{x}")?;
    }
    f.write_str("]")
}

/// Validated attributes of one op, complete with defaults.
#[derive(Debug, Default)]
pub(crate) struct AttrSet {
    values: Vec<(&'static str, AttrValue)>,
}

impl AttrSet {
    pub fn insert(&mut self, name: &'static str, value: AttrValue) {
        self.values.push((name, value));
    }

    pub(crate) fn get(&self, name: &str) -> Option<&AttrValue> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    // The getters below return a neutral value if the attribute is missing
    // or of another kind; validation against the table rules that out.

    pub(super) fn size(&self, name: &str) -> usize {
        match self.get(name) {
            Some(AttrValue::Size(n)) => *n,
            _ => 0,
        }
    }

    pub(super) fn int(&self, name: &str) -> i64 {
        match self.get(name) {
            Some(AttrValue::Int(n)) => *n,
            _ => 0,
        }
    }

    pub(super) fn float(&self, name: &str) -> F32Attr {
        match self.get(name) {
            Some(AttrValue::Float(x)) => F32Attr(*x),
            _ => F32Attr(0.0),
        }
    }

    pub(super) fn bool(&self, name: &str) -> bool {
        matches!(self.get(name), Some(AttrValue::Bool(true)))
    }

    pub(super) fn mode(&self, name: &str) -> RequantMode {
        match self.get(name) {
            Some(AttrValue::Mode(m)) => *m,
            _ => RequantMode::Float,
        }
    }

    pub(super) fn sizes(&self, name: &str) -> Vec<usize> {
        match self.get(name) {
            Some(AttrValue::Sizes(v)) => v.clone(),
            _ => Vec::new(),
        }
    }

    pub(super) fn ints(&self, name: &str) -> Vec<i64> {
        match self.get(name) {
            Some(AttrValue::Ints(v)) => v.clone(),
            _ => Vec::new(),
        }
    }

    fn array<const N: usize>(&self, name: &str) -> [usize; N] {
        let mut out = [0; N];
        for (o, v) in out.iter_mut().zip(self.sizes(name)) {
            *o = v;
        }
        out
    }

    pub(super) fn conv(&self) -> Conv2dAttrs {
        Conv2dAttrs {
            strides: self.array("strides"),
            pads: self.array("pads"),
            dilations: self.array("dilations"),
            groups: self.size("groups"),
        }
    }

    pub(super) fn int_attrs(&self) -> IntAttrs {
        IntAttrs {
            zx_in_bias: self.bool("zx_in_bias"),
        }
    }

    pub(super) fn pool(&self) -> Pool2dAttrs {
        Pool2dAttrs {
            kernel: self.array("kernel"),
            strides: self.array("strides"),
            pads: self.array("pads"),
            count_include_pad: self.bool("count_include_pad"),
            mode: self.mode("mode"),
        }
    }
}

use AttrDefault as D;
use AttrKind as K;

pub(super) const CONV: &[AttrSpec] = &[
    attr("strides", K::Sizes(Some(2)), D::Sizes(&[1, 1])),
    attr("pads", K::Sizes(Some(4)), D::Sizes(&[0, 0, 0, 0])),
    attr("dilations", K::Sizes(Some(2)), D::Sizes(&[1, 1])),
    attr("groups", K::Size, D::Size(1)),
];
pub(super) const INT: &[AttrSpec] = &[attr("zx_in_bias", K::Bool, D::Bool(false))];
pub(super) const CONV_INT: &[AttrSpec] = &[
    attr("strides", K::Sizes(Some(2)), D::Sizes(&[1, 1])),
    attr("pads", K::Sizes(Some(4)), D::Sizes(&[0, 0, 0, 0])),
    attr("dilations", K::Sizes(Some(2)), D::Sizes(&[1, 1])),
    attr("groups", K::Size, D::Size(1)),
    attr("zx_in_bias", K::Bool, D::Bool(false)),
];
pub(super) const MAXPOOL: &[AttrSpec] = &[
    attr("kernel", K::Sizes(Some(2)), D::Required),
    attr("strides", K::Sizes(Some(2)), D::Sizes(&[1, 1])),
    attr("pads", K::Sizes(Some(4)), D::Sizes(&[0, 0, 0, 0])),
];
pub(super) const AVGPOOL: &[AttrSpec] = &[
    attr("kernel", K::Sizes(Some(2)), D::Required),
    attr("strides", K::Sizes(Some(2)), D::Sizes(&[1, 1])),
    attr("pads", K::Sizes(Some(4)), D::Sizes(&[0, 0, 0, 0])),
    attr("count_include_pad", K::Bool, D::Bool(false)),
    attr("mode", K::Mode, D::Mode(RequantMode::Float)),
];
pub(super) const MODE: &[AttrSpec] = &[attr("mode", K::Mode, D::Mode(RequantMode::Float))];
pub(super) const ADD_INT: &[AttrSpec] = &[
    attr("mode", K::Mode, D::Mode(RequantMode::Float)),
    attr("ort", K::Bool, D::Bool(false)),
];
pub(super) const CLAMP: &[AttrSpec] = &[
    attr("min", K::Float, D::Required),
    attr("max", K::Float, D::Required),
];
pub(super) const HARD_SIGMOID: &[AttrSpec] = &[
    attr("alpha", K::Float, D::Float(0.2)),
    attr("beta", K::Float, D::Float(0.5)),
];
pub(super) const LEAKY_RELU: &[AttrSpec] = &[attr("alpha", K::Float, D::Float(0.01))];
pub(super) const CLAMP_INT: &[AttrSpec] = &[
    attr("min", K::Int, D::Required),
    attr("max", K::Int, D::Required),
];
pub(super) const FLATTEN: &[AttrSpec] = &[attr("axis", K::Size, D::Size(1))];
pub(super) const AXIS: &[AttrSpec] = &[attr("axis", K::Size, D::Required)];
pub(super) const PERM: &[AttrSpec] = &[attr("perm", K::Sizes(None), D::Required)];
pub(super) const AXES: &[AttrSpec] = &[attr("axes", K::Sizes(None), D::Required)];
pub(super) const SLICE: &[AttrSpec] = &[
    attr("starts", K::Ints, D::Required),
    attr("ends", K::Ints, D::Required),
    attr("steps", K::Ints, D::Required),
];
pub(super) const ARG: &[AttrSpec] = &[
    attr("axis", K::Size, D::Required),
    attr("last", K::Bool, D::Bool(false)),
];
pub(super) const NONE: &[AttrSpec] = &[];

/// All attributes of an op with their values (defaults included), in the
/// table's order. The inverse of [`OpDef::build`].
pub(crate) fn attrs_of(op: &Op) -> Vec<(&'static str, AttrValue)> {
    use AttrValue as V;
    let conv = |c: &Conv2dAttrs| {
        vec![
            ("strides", V::Sizes(c.strides.to_vec())),
            ("pads", V::Sizes(c.pads.to_vec())),
            ("dilations", V::Sizes(c.dilations.to_vec())),
            ("groups", V::Size(c.groups)),
        ]
    };
    let pool = |p: &Pool2dAttrs, avg: bool| {
        let mut v = vec![
            ("kernel", V::Sizes(p.kernel.to_vec())),
            ("strides", V::Sizes(p.strides.to_vec())),
            ("pads", V::Sizes(p.pads.to_vec())),
        ];
        if avg {
            v.push(("count_include_pad", V::Bool(p.count_include_pad)));
            v.push(("mode", V::Mode(p.mode)));
        }
        v
    };
    match op {
        Op::Conv2d(c) | Op::Conv2dIntDyn(c) => conv(c),
        Op::Conv2dInt(c, i) => {
            let mut v = conv(c);
            v.push(("zx_in_bias", V::Bool(i.zx_in_bias)));
            v
        }
        Op::MatMulInt(i) => vec![("zx_in_bias", V::Bool(i.zx_in_bias))],
        Op::MaxPool2d(p) => pool(p, false),
        Op::AvgPool2d(p) => pool(p, true),
        Op::GlobalAvgPool { mode } | Op::Requantize { mode } => {
            vec![("mode", V::Mode(*mode))]
        }
        Op::AddInt { mode, ort } => vec![("mode", V::Mode(*mode)), ("ort", V::Bool(*ort))],
        Op::Clamp { min, max } => vec![("min", V::Float(min.0)), ("max", V::Float(max.0))],
        Op::HardSigmoid { alpha, beta } => {
            vec![("alpha", V::Float(alpha.0)), ("beta", V::Float(beta.0))]
        }
        Op::LeakyRelu { alpha } => vec![("alpha", V::Float(alpha.0))],
        Op::ClampInt { min, max } => vec![("min", V::Int(*min)), ("max", V::Int(*max))],
        Op::Flatten { axis } | Op::Concat { axis } | Op::Gather { axis } | Op::Softmax { axis } => {
            vec![("axis", V::Size(*axis))]
        }
        Op::ArgMax { axis, last } | Op::ArgMin { axis, last } => {
            vec![("axis", V::Size(*axis)), ("last", V::Bool(*last))]
        }
        Op::Transpose { perm } => vec![("perm", V::Sizes(perm.clone()))],
        Op::ReduceMean { axes }
        | Op::ReduceSum { axes }
        | Op::ReduceMax { axes }
        | Op::ReduceMin { axes }
        | Op::ReduceProd { axes } => vec![("axes", V::Sizes(axes.clone()))],
        Op::Slice {
            starts,
            ends,
            steps,
        } => vec![
            ("starts", V::Ints(starts.clone())),
            ("ends", V::Ints(ends.clone())),
            ("steps", V::Ints(steps.clone())),
        ],
        // Ops without attributes (the table test checks that every op's
        // listed attributes are its schema's).
        _ => Vec::new(),
    }
}

/// The attributes the printer writes: those not equal to their default.
pub(crate) fn printed_attrs(op: &Op) -> Vec<(&'static str, AttrValue)> {
    let specs = op.schema().attrs;
    attrs_of(op)
        .into_iter()
        .filter(|(name, value)| {
            let default = specs
                .iter()
                .find(|s| s.name == *name)
                .and_then(|s| s.default.value());
            default.as_ref() != Some(value)
        })
        .collect()
}
