//! A graph as a Graphviz picture (`qcc compile --emit dot`).
//!
//! One box per op, labelled with the op's name and its attributes; one
//! ellipse per graph input and output. Edges carry the value's type,
//! shortened: `1x64 u8(0.0235, 128)` for `tensor<1x64x!quant.uniform<u8:f32,
//! 0.0235:128>>`, `64x32 i8(axis 0, 64 scales)` for a per-axis type.
//! Constants get no node of their own: each appears as a line in the label
//! of every op that uses it (`w = const 64x32 i8(...)`; a few elements are
//! shown by value). Ops that the code generator fused into the GEMM before
//! them ([`DotOptions::fused`]) are drawn inside that GEMM's box, as its
//! epilogue.
//!
//! Like the text printer, the output depends only on the graph's structure
//! (nodes are numbered in [`Graph::canonical_order`]), so it is stable
//! enough to snapshot.

use crate::graph::{Graph, ValueId};
use crate::op::{ConstData, Op, printed_attrs};
use crate::tensor::TensorData;
use crate::types::{ElemType, TensorType, fmt_f32};
use std::collections::HashMap;
use std::fmt::Write;

/// Constants of at most this many elements are shown by value.
const MAX_SHOWN_ELEMENTS: usize = 4;
/// Attribute values longer than this are cut (with `…`).
const MAX_ATTR_CHARS: usize = 48;

/// What to draw besides the graph itself.
#[derive(Clone, Debug, Default)]
pub struct DotOptions {
    /// The graph's title (Graphviz `label`); the graph's name by default.
    pub title: Option<String>,
    /// Fused epilogues: a GEMM (or depthwise conv) and, in order, the ops
    /// the code generator folded into it. Each group is drawn as one box.
    pub fused: Vec<(ValueId, Vec<ValueId>)>,
}

/// The graph in the Graphviz `dot` language.
pub fn to_dot(g: &Graph, options: &DotOptions) -> String {
    let order = g.canonical_order();
    let names = crate::text::printer::value_names(g, &order);
    let name_of = |v: ValueId| names.get(&v).map_or("?", String::as_str);
    let index: HashMap<ValueId, usize> = order.iter().enumerate().map(|(i, &v)| (v, i)).collect();

    // Each fused op is drawn as part of its group's head.
    let mut head_of: HashMap<ValueId, ValueId> = HashMap::new();
    let mut members: HashMap<ValueId, &[ValueId]> = HashMap::new();
    for (head, rest) in &options.fused {
        if !g.contains(*head) || rest.iter().any(|&r| !g.contains(r)) {
            continue;
        }
        for &r in rest {
            head_of.insert(r, *head);
        }
        members.insert(*head, rest);
    }
    let drawn = |v: ValueId| head_of.get(&v).copied().unwrap_or(v);
    let id = |v: ValueId| format!("n{}", index.get(&drawn(v)).copied().unwrap_or(usize::MAX));
    let is_const = |v: ValueId| matches!(g.node(v).op, Op::Const(_));
    let outputs: Vec<ValueId> = g.outputs().iter().map(|o| o.value).collect();

    let mut out = String::new();
    let title = options
        .title
        .clone()
        .unwrap_or_else(|| format!("@{}", g.name));
    let _ = writeln!(out, "digraph {} {{", quote(&title));
    let _ = writeln!(out, "  label={};", quote(&title));
    out.push_str("  labelloc=t;\n  rankdir=TB;\n");
    out.push_str("  node [shape=box, style=\"rounded,filled\", fillcolor=\"#eef3fb\", fontname=\"Helvetica\", fontsize=11];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=9, color=\"#555555\"];\n");

    // Nodes.
    for &v in &order {
        let node = g.node(v);
        if head_of.contains_key(&v) {
            continue;
        }
        match &node.op {
            Op::Input(_) => {
                let label = format!("%{}\n{}", name_of(v), short_type(&node.ty));
                let _ = writeln!(
                    out,
                    "  {} [shape=ellipse, fillcolor=\"#e3f4e1\", label={}];",
                    id(v),
                    quote(&label)
                );
            }
            // Drawn inside their users, unless nothing but the outputs uses them.
            Op::Const(c) => {
                if g.users(v).is_empty() {
                    let label = format!("%{} = {}", name_of(v), const_summary(c, &node.ty));
                    let _ = writeln!(
                        out,
                        "  {} [shape=note, fillcolor=\"#f5f5f5\", label={}];",
                        id(v),
                        quote(&label)
                    );
                }
            }
            op => {
                let mut lines = vec![op_line(g, v, op, &name_of, &is_const)];
                let fused = members.get(&v).copied().unwrap_or(&[]);
                for &f in fused {
                    let fop = &g.node(f).op;
                    lines.push(format!(
                        "↳ {}",
                        op_line(g, f, fop, &name_of, &|a| is_const(a)
                            || a == v
                            || fused.contains(&a))
                    ));
                }
                for a in const_args(g, v, fused) {
                    if let Op::Const(c) = &g.node(a).op {
                        lines.push(format!("%{} = {}", name_of(a), const_summary(c, g.ty(a))));
                    }
                }
                let style = if fused.is_empty() {
                    String::new()
                } else {
                    ", fillcolor=\"#fdf0dc\", peripheries=2".to_string()
                };
                let _ = writeln!(
                    out,
                    "  {} [label={}{}];",
                    id(v),
                    quote(&lines.join("\n")),
                    style
                );
            }
        }
    }
    for (i, o) in g.outputs().iter().enumerate() {
        let _ = writeln!(
            out,
            "  out{i} [shape=ellipse, fillcolor=\"#fbe3e3\", label={}];",
            quote(&format!("return %{}", o.name))
        );
    }

    // Edges: from each non-constant operand to its (drawn) user.
    for &v in &order {
        if matches!(g.node(v).op, Op::Input(_) | Op::Const(_)) {
            continue;
        }
        let group_internal: &[ValueId] = match head_of.get(&v) {
            Some(h) => members.get(h).copied().unwrap_or(&[]),
            None => members.get(&v).copied().unwrap_or(&[]),
        };
        let head = drawn(v);
        for a in g.args(v) {
            if is_const(a) || a == head || group_internal.contains(&a) {
                continue;
            }
            let _ = writeln!(
                out,
                "  {} -> {} [label={}];",
                id(a),
                id(v),
                quote(&short_type(g.ty(a)))
            );
        }
    }
    for (i, &o) in outputs.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {} -> out{i} [label={}];",
            id(o),
            quote(&short_type(g.ty(o)))
        );
    }
    out.push_str("}\n");
    out
}

/// The constant operands of `v` and of the ops fused into it, each once.
fn const_args(g: &Graph, v: ValueId, fused: &[ValueId]) -> Vec<ValueId> {
    let mut seen = Vec::new();
    for u in std::iter::once(v).chain(fused.iter().copied()) {
        for a in g.args(u) {
            if matches!(g.node(a).op, Op::Const(_)) && !seen.contains(&a) {
                seen.push(a);
            }
        }
    }
    seen
}

/// `%name = op {attrs}`; operands that are constants are named, others not
/// (their edges show them).
fn op_line<'a>(
    g: &Graph,
    v: ValueId,
    op: &Op,
    name_of: &dyn Fn(ValueId) -> &'a str,
    folded: &dyn Fn(ValueId) -> bool,
) -> String {
    let mut s = format!("%{} = {}", name_of(v), op.name());
    let consts: Vec<String> = g
        .args(v)
        .into_iter()
        .filter(|&a| folded(a) && matches!(g.node(a).op, Op::Const(_)))
        .map(|a| format!("%{}", name_of(a)))
        .collect();
    if !consts.is_empty() {
        let _ = write!(s, " (…, {})", consts.join(", "));
    }
    let attrs = printed_attrs(op);
    if !attrs.is_empty() {
        let attrs: Vec<String> = attrs
            .iter()
            .map(|(n, val)| format!("{n}={}", cut(&val.to_string())))
            .collect();
        let _ = write!(s, "\n{{{}}}", attrs.join(", "));
    }
    s
}

/// `const 64x32 i8(axis 0, 64 scales)`, with the values when there are few.
fn const_summary(c: &ConstData, ty: &TensorType) -> String {
    let mut s = format!("const {}", short_type(ty));
    let d = &c.data;
    if d.len() <= MAX_SHOWN_ELEMENTS {
        let items: Vec<String> = (0..d.len()).map(|i| element(d, i)).collect();
        let _ = write!(s, " [{}]", items.join(", "));
    } else if let Some(f) = &c.file {
        let _ = write!(s, " ({})", cut(f));
    }
    s
}

fn element(d: &TensorData, i: usize) -> String {
    match d.as_f32() {
        Some(v) => v.get(i).map_or_else(String::new, |x| fmt_f32(*x)),
        None => d.get_int(i).map_or_else(String::new, |x| x.to_string()),
    }
}

/// `1x64 u8(0.0235, 128)`, `64x32 i8(axis 0, 64 scales)`, `4 f32`; a packed
/// layout follows its name (`, #vnni`).
pub fn short_type(t: &TensorType) -> String {
    let mut s: String = t
        .shape
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join("x");
    if s.is_empty() {
        s.push_str("scalar");
    }
    s.push(' ');
    s.push_str(&short_elem(&t.elem));
    if t.layout.is_packed() {
        let _ = write!(s, ", {}", t.layout);
    }
    s
}

fn short_elem(e: &ElemType) -> String {
    match e {
        ElemType::Scalar(s) => s.to_string(),
        ElemType::Quant(q) => match q.axis {
            Some(axis) => format!("{}(axis {axis}, {} scales)", q.storage, q.scales.len()),
            None => format!(
                "{}({}, {})",
                q.storage,
                q.scales.first().map_or_else(String::new, |s| fmt_f32(*s)),
                q.zero_points.first().copied().unwrap_or(0)
            ),
        },
    }
}

fn cut(s: &str) -> String {
    if s.chars().count() <= MAX_ATTR_CHARS {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX_ATTR_CHARS - 1).collect();
        t.push('…');
        t
    }
}

/// A `dot` double-quoted string; `\n` becomes a centred line break.
fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for ch in s.chars() {
        match ch {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse;

    const G: &str = "!act = !quant.uniform<u8:f32, 0.5:128>\n\
        graph @g(%x: tensor<1x4x!act>) -> (%y: tensor<1x2x!act>) {\n\
        \x20 %w = const dense<[1, 2, 3, 4, 5, 6, 7, 8]> : tensor<2x4xi8>\n\
        \x20 %b = const dense<[7, -7]> : tensor<2xi32>\n\
        \x20 %wt = transpose %w {perm = [1, 0]} : tensor<4x2xi8>\n\
        \x20 %acc = matmul_int %x, %wt, %b : tensor<1x2xi32>\n\
        \x20 %y = requantize %acc : tensor<1x2x!act>\n\
        \x20 return %y\n}\n";

    #[test]
    fn shortens_types_and_folds_constants() {
        let g = parse(G, None).unwrap();
        let dot = to_dot(&g, &DotOptions::default());
        assert!(dot.starts_with("digraph \"@g\" {"), "{dot}");
        assert!(dot.contains("\"%x\\n1x4 u8(0.5, 128)\""), "{dot}");
        // Constants are labels, not nodes: `%b` shown by value in the matmul's box.
        assert!(dot.contains("%b = const 2 i32 [7, -7]"), "{dot}");
        assert!(!dot.contains("label=\"%b"), "{dot}");
        assert!(dot.contains("[label=\"1x2 i32\"]"), "{dot}");
        assert!(dot.contains("perm=[1, 0]"), "{dot}");
        assert!(dot.ends_with("}\n"));
    }

    #[test]
    fn draws_a_fused_epilogue_inside_its_gemm() {
        let g = parse(G, None).unwrap();
        let order = g.canonical_order();
        let find = |n: &str| {
            *order
                .iter()
                .find(|&&v| g.node(v).name.as_deref() == Some(n))
                .unwrap()
        };
        let options = DotOptions {
            title: Some("after fusion".into()),
            fused: vec![(find("acc"), vec![find("y")])],
        };
        let dot = to_dot(&g, &options);
        assert!(dot.contains("↳ %y = requantize"), "{dot}");
        // No edge carries the fused accumulator any more.
        assert!(!dot.contains("[label=\"1x2 i32\"]"), "{dot}");
        assert!(dot.contains("peripheries=2"), "{dot}");
        assert!(dot.contains("label=\"after fusion\""), "{dot}");
    }

    #[test]
    fn quotes_what_dot_would_misread() {
        assert_eq!(quote("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
    }
}
