//! The op table: for every op name, its attributes (name, kind, default) and
//! how to build the [`Op`] from them. The parser validates attributes against
//! the table; the printer lists an op's attributes with [`attrs_of`] and omits
//! those equal to the table's default, so both sides agree on names, order
//! and defaults by construction.

use crate::op::{Conv2dAttrs, F32Attr, IntAttrs, Op, Pool2dAttrs, RequantMode};
use crate::types::fmt_f32;
use std::fmt;

/// What kind of value an attribute takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AttrKind {
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
        }
    }
}

/// An attribute's default. `Required` attributes have none.
#[derive(Clone, Copy, Debug)]
pub(crate) enum AttrDefault {
    Required,
    Size(usize),
    Bool(bool),
    Mode(RequantMode),
    Sizes(&'static [usize]),
}

impl AttrDefault {
    pub fn value(self) -> Option<AttrValue> {
        Some(match self {
            AttrDefault::Required => return None,
            AttrDefault::Size(n) => AttrValue::Size(n),
            AttrDefault::Bool(b) => AttrValue::Bool(b),
            AttrDefault::Mode(m) => AttrValue::Mode(m),
            AttrDefault::Sizes(v) => AttrValue::Sizes(v.to_vec()),
        })
    }
}

/// One attribute of an op.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AttrSpec {
    pub name: &'static str,
    pub kind: AttrKind,
    pub default: AttrDefault,
}

const fn attr(name: &'static str, kind: AttrKind, default: AttrDefault) -> AttrSpec {
    AttrSpec {
        name,
        kind,
        default,
    }
}

/// A parsed attribute value.
#[derive(Clone, Debug)]
pub(crate) enum AttrValue {
    Size(usize),
    Int(i64),
    Float(f32),
    Bool(bool),
    Mode(RequantMode),
    Sizes(Vec<usize>),
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
            AttrValue::Sizes(v) => {
                f.write_str("[")?;
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{x}")?;
                }
                f.write_str("]")
            }
        }
    }
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

    fn get(&self, name: &str) -> Option<&AttrValue> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    // The getters below return a neutral value if the attribute is missing
    // or of another kind; validation against the table rules that out.

    fn size(&self, name: &str) -> usize {
        match self.get(name) {
            Some(AttrValue::Size(n)) => *n,
            _ => 0,
        }
    }

    fn int(&self, name: &str) -> i64 {
        match self.get(name) {
            Some(AttrValue::Int(n)) => *n,
            _ => 0,
        }
    }

    fn float(&self, name: &str) -> F32Attr {
        match self.get(name) {
            Some(AttrValue::Float(x)) => F32Attr(*x),
            _ => F32Attr(0.0),
        }
    }

    fn bool(&self, name: &str) -> bool {
        matches!(self.get(name), Some(AttrValue::Bool(true)))
    }

    fn mode(&self, name: &str) -> RequantMode {
        match self.get(name) {
            Some(AttrValue::Mode(m)) => *m,
            _ => RequantMode::Float,
        }
    }

    fn sizes(&self, name: &str) -> Vec<usize> {
        match self.get(name) {
            Some(AttrValue::Sizes(v)) => v.clone(),
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

    fn conv(&self) -> Conv2dAttrs {
        Conv2dAttrs {
            strides: self.array("strides"),
            pads: self.array("pads"),
            dilations: self.array("dilations"),
            groups: self.size("groups"),
        }
    }

    fn int_attrs(&self) -> IntAttrs {
        IntAttrs {
            zx_in_bias: self.bool("zx_in_bias"),
        }
    }

    fn pool(&self) -> Pool2dAttrs {
        Pool2dAttrs {
            kernel: self.array("kernel"),
            strides: self.array("strides"),
            pads: self.array("pads"),
            count_include_pad: self.bool("count_include_pad"),
            mode: self.mode("mode"),
        }
    }
}

/// One op of the text format.
#[derive(Debug)]
pub(crate) struct OpDef {
    pub name: &'static str,
    /// In the order the printer writes them.
    pub attrs: &'static [AttrSpec],
    pub build: fn(&AttrSet) -> Op,
}

use AttrDefault as D;
use AttrKind as K;

const CONV: &[AttrSpec] = &[
    attr("strides", K::Sizes(Some(2)), D::Sizes(&[1, 1])),
    attr("pads", K::Sizes(Some(4)), D::Sizes(&[0, 0, 0, 0])),
    attr("dilations", K::Sizes(Some(2)), D::Sizes(&[1, 1])),
    attr("groups", K::Size, D::Size(1)),
];
const INT: &[AttrSpec] = &[attr("zx_in_bias", K::Bool, D::Bool(false))];
const CONV_INT: &[AttrSpec] = &[
    attr("strides", K::Sizes(Some(2)), D::Sizes(&[1, 1])),
    attr("pads", K::Sizes(Some(4)), D::Sizes(&[0, 0, 0, 0])),
    attr("dilations", K::Sizes(Some(2)), D::Sizes(&[1, 1])),
    attr("groups", K::Size, D::Size(1)),
    attr("zx_in_bias", K::Bool, D::Bool(false)),
];
const MAXPOOL: &[AttrSpec] = &[
    attr("kernel", K::Sizes(Some(2)), D::Required),
    attr("strides", K::Sizes(Some(2)), D::Sizes(&[1, 1])),
    attr("pads", K::Sizes(Some(4)), D::Sizes(&[0, 0, 0, 0])),
];
const AVGPOOL: &[AttrSpec] = &[
    attr("kernel", K::Sizes(Some(2)), D::Required),
    attr("strides", K::Sizes(Some(2)), D::Sizes(&[1, 1])),
    attr("pads", K::Sizes(Some(4)), D::Sizes(&[0, 0, 0, 0])),
    attr("count_include_pad", K::Bool, D::Bool(false)),
    attr("mode", K::Mode, D::Mode(RequantMode::Float)),
];
const MODE: &[AttrSpec] = &[attr("mode", K::Mode, D::Mode(RequantMode::Float))];
const CLAMP: &[AttrSpec] = &[
    attr("min", K::Float, D::Required),
    attr("max", K::Float, D::Required),
];
const CLAMP_INT: &[AttrSpec] = &[
    attr("min", K::Int, D::Required),
    attr("max", K::Int, D::Required),
];
const FLATTEN: &[AttrSpec] = &[attr("axis", K::Size, D::Size(1))];
const AXIS: &[AttrSpec] = &[attr("axis", K::Size, D::Required)];
const PERM: &[AttrSpec] = &[attr("perm", K::Sizes(None), D::Required)];
const NONE: &[AttrSpec] = &[];

/// Every op written as `%v = name operands {attrs} : type` (all of
/// [`crate::op::OP_NAMES`] except `const`, which has its own syntax).
pub(crate) const OPS: &[OpDef] = &[
    OpDef {
        name: "matmul",
        attrs: NONE,
        build: |_| Op::MatMul,
    },
    OpDef {
        name: "dense",
        attrs: NONE,
        build: |_| Op::Dense,
    },
    OpDef {
        name: "conv2d",
        attrs: CONV,
        build: |a| Op::Conv2d(a.conv()),
    },
    OpDef {
        name: "add",
        attrs: NONE,
        build: |_| Op::Add,
    },
    OpDef {
        name: "mul",
        attrs: NONE,
        build: |_| Op::Mul,
    },
    OpDef {
        name: "relu",
        attrs: NONE,
        build: |_| Op::Relu,
    },
    OpDef {
        name: "clamp",
        attrs: CLAMP,
        build: |a| Op::Clamp {
            min: a.float("min"),
            max: a.float("max"),
        },
    },
    OpDef {
        name: "maxpool2d",
        attrs: MAXPOOL,
        build: |a| Op::MaxPool2d(a.pool()),
    },
    OpDef {
        name: "avgpool2d",
        attrs: AVGPOOL,
        build: |a| Op::AvgPool2d(a.pool()),
    },
    OpDef {
        name: "global_avgpool",
        attrs: MODE,
        build: |a| Op::GlobalAvgPool {
            mode: a.mode("mode"),
        },
    },
    OpDef {
        name: "reshape",
        attrs: NONE,
        build: |_| Op::Reshape,
    },
    OpDef {
        name: "flatten",
        attrs: FLATTEN,
        build: |a| Op::Flatten {
            axis: a.size("axis"),
        },
    },
    OpDef {
        name: "transpose",
        attrs: PERM,
        build: |a| Op::Transpose {
            perm: a.sizes("perm"),
        },
    },
    OpDef {
        name: "concat",
        attrs: AXIS,
        build: |a| Op::Concat {
            axis: a.size("axis"),
        },
    },
    OpDef {
        name: "softmax",
        attrs: AXIS,
        build: |a| Op::Softmax {
            axis: a.size("axis"),
        },
    },
    OpDef {
        name: "quantize",
        attrs: NONE,
        build: |_| Op::Quantize,
    },
    OpDef {
        name: "dequantize",
        attrs: NONE,
        build: |_| Op::Dequantize,
    },
    OpDef {
        name: "requantize",
        attrs: MODE,
        build: |a| Op::Requantize {
            mode: a.mode("mode"),
        },
    },
    OpDef {
        name: "matmul_int",
        attrs: INT,
        build: |a| Op::MatMulInt(a.int_attrs()),
    },
    OpDef {
        name: "conv2d_int",
        attrs: CONV_INT,
        build: |a| Op::Conv2dInt(a.conv(), a.int_attrs()),
    },
    OpDef {
        name: "row_sums",
        attrs: NONE,
        build: |_| Op::RowSums,
    },
    OpDef {
        name: "lookup",
        attrs: NONE,
        build: |_| Op::Lookup,
    },
    OpDef {
        name: "add_int",
        attrs: MODE,
        build: |a| Op::AddInt {
            mode: a.mode("mode"),
        },
    },
    OpDef {
        name: "clamp_int",
        attrs: CLAMP_INT,
        build: |a| Op::ClampInt {
            min: a.int("min"),
            max: a.int("max"),
        },
    },
    OpDef {
        name: "dynamic_scale",
        attrs: NONE,
        build: |_| Op::DynamicScale,
    },
    OpDef {
        name: "dynamic_zero_point",
        attrs: NONE,
        build: |_| Op::DynamicZeroPoint,
    },
    OpDef {
        name: "quantize_dyn",
        attrs: NONE,
        build: |_| Op::QuantizeDyn,
    },
    OpDef {
        name: "dequantize_dyn",
        attrs: NONE,
        build: |_| Op::DequantizeDyn,
    },
    OpDef {
        name: "matmul_int_dyn",
        attrs: NONE,
        build: |_| Op::MatMulIntDyn,
    },
    OpDef {
        name: "conv2d_int_dyn",
        attrs: CONV,
        build: |a| Op::Conv2dIntDyn(a.conv()),
    },
];

/// The table entry for an op name.
pub(crate) fn lookup(name: &str) -> Option<&'static OpDef> {
    OPS.iter().find(|d| d.name == name)
}

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
        Op::GlobalAvgPool { mode } | Op::Requantize { mode } | Op::AddInt { mode } => {
            vec![("mode", V::Mode(*mode))]
        }
        Op::Clamp { min, max } => vec![("min", V::Float(min.0)), ("max", V::Float(max.0))],
        Op::ClampInt { min, max } => vec![("min", V::Int(*min)), ("max", V::Int(*max))],
        Op::Flatten { axis } | Op::Concat { axis } | Op::Softmax { axis } => {
            vec![("axis", V::Size(*axis))]
        }
        Op::Transpose { perm } => vec![("perm", V::Sizes(perm.clone()))],
        Op::Input(_)
        | Op::Const(_)
        | Op::MatMul
        | Op::Dense
        | Op::Add
        | Op::Mul
        | Op::Relu
        | Op::Reshape
        | Op::Quantize
        | Op::Dequantize
        | Op::RowSums
        | Op::Lookup
        | Op::DynamicScale
        | Op::DynamicZeroPoint
        | Op::QuantizeDyn
        | Op::DequantizeDyn
        | Op::MatMulIntDyn => Vec::new(),
    }
}

/// The attributes the printer writes: those not equal to their default.
pub(crate) fn printed_attrs(op: &Op) -> Vec<(&'static str, AttrValue)> {
    let specs = lookup(op.name()).map(|d| d.attrs).unwrap_or(&[]);
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

/// The closest candidate to `word` by edit distance, if it is close enough
/// to be a likely typo.
pub(crate) fn closest<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance over characters, counting a swap of two neighbours as one
/// edit (optimal string alignment), so `atc` is one edit from `act`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between a[..i] and b[..j].
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::OP_NAMES;

    #[test]
    fn table_covers_every_op_name() {
        for name in OP_NAMES.iter().filter(|n| **n != "const") {
            assert!(lookup(name).is_some(), "no table entry for {name}");
        }
        for d in OPS {
            assert!(OP_NAMES.contains(&d.name), "{} is not in OP_NAMES", d.name);
        }
    }

    #[test]
    fn table_attrs_match_attrs_of() {
        // Building from defaults (plus required values) and listing the
        // attributes back gives the table's names in the table's order.
        for d in OPS {
            let mut set = AttrSet::default();
            for s in d.attrs {
                let v = s.default.value().unwrap_or(match s.kind {
                    AttrKind::Size => AttrValue::Size(1),
                    AttrKind::Int => AttrValue::Int(-3),
                    AttrKind::Float => AttrValue::Float(0.5),
                    AttrKind::Bool => AttrValue::Bool(true),
                    AttrKind::Mode => AttrValue::Mode(RequantMode::DoubleRound),
                    AttrKind::Sizes(n) => AttrValue::Sizes(vec![2; n.unwrap_or(3)]),
                });
                set.insert(s.name, v);
            }
            let op = (d.build)(&set);
            assert_eq!(op.name(), d.name);
            let names: Vec<_> = attrs_of(&op).into_iter().map(|(n, _)| n).collect();
            let want: Vec<_> = d.attrs.iter().map(|s| s.name).collect();
            assert_eq!(names, want, "{}", d.name);
            for (name, v) in attrs_of(&op) {
                assert_eq!(Some(&v), set.get(name), "{} {name}", d.name);
            }
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(closest("conv3d", OP_NAMES.iter().copied()), Some("conv2d"));
        assert_eq!(
            closest("matmulint", OP_NAMES.iter().copied()),
            Some("matmul_int")
        );
        assert_eq!(closest("xyzzy", OP_NAMES.iter().copied()), None);
        assert_eq!(closest("atc", ["act", "w"]), Some("act"));
        assert_eq!(edit_distance("inptu", "input"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
