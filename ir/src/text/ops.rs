//! The text format's view of the op table ([`crate::op::SCHEMA`]): looking
//! an op up by the name written in a file, and suggesting the closest name
//! for a typo. Attribute kinds, defaults and values live with the ops, in
//! [`crate::op`].

use crate::op::{BuildOp, OpSchema, SCHEMA};

/// The table entry for an op name written as `%v = name ...`, and the
/// function that builds the op from its validated attributes. `None` for
/// unknown names and for `input` and `const`, which have no such form.
pub(crate) fn lookup(name: &str) -> Option<(&'static OpSchema, BuildOp)> {
    SCHEMA
        .iter()
        .find(|d| d.name == name)
        .and_then(|d| Some((d, d.build?)))
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
    use crate::op::attrs::attrs_of;
    use crate::op::{AttrKind, AttrSet, AttrValue, OP_NAMES, RequantMode};

    #[test]
    fn table_covers_every_op_name() {
        for name in OP_NAMES.iter().filter(|n| **n != "const") {
            assert!(lookup(name).is_some(), "no table entry for {name}");
        }
        assert!(lookup("const").is_none() && lookup("input").is_none());
    }

    #[test]
    fn table_attrs_match_attrs_of() {
        // Building from defaults (plus required values) and listing the
        // attributes back gives the table's names in the table's order.
        for d in SCHEMA.iter().filter(|d| d.build.is_some()) {
            let (_, build) = lookup(d.name).unwrap();
            let mut set = AttrSet::default();
            for s in d.attrs {
                let v = s.default.value().unwrap_or(match s.kind {
                    AttrKind::Size => AttrValue::Size(1),
                    AttrKind::Int => AttrValue::Int(-3),
                    AttrKind::Float => AttrValue::Float(0.5),
                    AttrKind::Bool => AttrValue::Bool(true),
                    AttrKind::Mode => AttrValue::Mode(RequantMode::DoubleRound),
                    AttrKind::Sizes(n) => AttrValue::Sizes(vec![2; n.unwrap_or(3)]),
                    AttrKind::Ints => AttrValue::Ints(vec![-1, 0, 5]),
                });
                set.insert(s.name, v);
            }
            let op = build(&set);
            assert_eq!(op.name(), d.name);
            assert_eq!(op.kind(), d.kind);
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
