//! The canonical printer (`docs/format.md` § Canonical printing).
//!
//! The text depends only on the graph's structure: values are listed in
//! [`Graph::canonical_order`], unnamed values are numbered in that order, and
//! nothing depends on petgraph indices. Parsing the text gives back an equal
//! graph, and printing that graph gives the same text.

use crate::graph::{Graph, ValueId};
use crate::op::printed_attrs;
use crate::op::{ConstData, Op};
use crate::tensor::TensorData;
use crate::types::{ElemType, TensorType, fmt_f32};
use std::collections::HashMap;
use std::fmt::Write;

/// Constants with at most this many elements (and not a splat) are printed
/// as a list; bigger ones as hex bytes.
pub(crate) const MAX_LIST_ELEMENTS: usize = 16;

pub(crate) fn print(g: &Graph) -> String {
    let order = g.canonical_order();
    let names = value_names(g, &order);
    let name_of = |v: ValueId| names.get(&v).map_or("?", String::as_str);

    // Aliases: the declared ones, then one for each per-axis type not
    // covered, in order of first use in the text.
    let mut aliases: Vec<(String, ElemType)> = g
        .aliases
        .iter()
        .map(|a| (a.name.clone(), a.elem.clone()))
        .collect();
    let mut used_types: Vec<&TensorType> = Vec::new();
    used_types.extend(g.inputs().iter().map(|&v| g.ty(v)));
    used_types.extend(g.outputs().iter().map(|o| g.ty(o.value)));
    used_types.extend(
        order
            .iter()
            .filter(|v| !matches!(g.node(**v).op, Op::Input(_)))
            .map(|&v| g.ty(v)),
    );
    let mut fresh = 0usize;
    for ty in used_types {
        let per_axis = ty.elem.as_quant().is_some_and(|q| q.is_per_axis());
        if per_axis && !aliases.iter().any(|(_, e)| *e == ty.elem) {
            let name = loop {
                let candidate = format!("q{fresh}");
                fresh += 1;
                if !aliases.iter().any(|(n, _)| *n == candidate) {
                    break candidate;
                }
            };
            aliases.push((name, ty.elem.clone()));
        }
    }
    let p = Printer { aliases: &aliases };

    let mut out = String::new();
    for (name, elem) in &aliases {
        let _ = writeln!(out, "!{name} = {elem}");
    }
    if !aliases.is_empty() {
        out.push('\n');
    }

    let params = |vals: Vec<(&str, &TensorType)>| -> String {
        vals.into_iter()
            .map(|(n, ty)| format!("%{n}: {}", p.ty(ty)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let inputs = params(g.inputs().iter().map(|&v| (name_of(v), g.ty(v))).collect());
    let outputs = params(
        g.outputs()
            .iter()
            .map(|o| (o.name.as_str(), g.ty(o.value)))
            .collect(),
    );
    let _ = writeln!(out, "graph @{}({inputs}) -> ({outputs}) {{", g.name);

    for &v in &order {
        let node = g.node(v);
        if matches!(node.op, Op::Input(_)) {
            // Inputs are declared in the signature.
            continue;
        }
        let _ = write!(out, "  %{} = ", name_of(v));
        match &node.op {
            Op::Const(c) => {
                out.push_str("const ");
                out.push_str(&const_text(c));
            }
            op => {
                out.push_str(op.name());
                let args: Vec<String> = g
                    .args(v)
                    .into_iter()
                    .map(|a| format!("%{}", name_of(a)))
                    .collect();
                if !args.is_empty() {
                    out.push(' ');
                    out.push_str(&args.join(", "));
                }
                let attrs = printed_attrs(op);
                if !attrs.is_empty() {
                    let attrs: Vec<String> = attrs
                        .iter()
                        .map(|(n, val)| format!("{n} = {val}"))
                        .collect();
                    let _ = write!(out, " {{{}}}", attrs.join(", "));
                }
            }
        }
        let _ = writeln!(out, " : {}", p.ty(&node.ty));
    }

    out.push_str("  return");
    let rets: Vec<String> = g
        .outputs()
        .iter()
        .map(|o| format!("%{}", name_of(o.value)))
        .collect();
    if !rets.is_empty() {
        out.push(' ');
        out.push_str(&rets.join(", "));
    }
    out.push_str("\n}\n");
    out
}

/// Value names as printed: stored names, then numbers for the unnamed, in
/// `order` (the canonical order). The Graphviz writer uses them too.
pub(crate) fn value_names(g: &Graph, order: &[ValueId]) -> HashMap<ValueId, String> {
    let mut names = HashMap::new();
    let mut next = 0usize;
    for &v in order {
        let name = match &g.node(v).name {
            Some(n) => n.clone(),
            None => {
                next += 1;
                (next - 1).to_string()
            }
        };
        names.insert(v, name);
    }
    names
}

struct Printer<'a> {
    aliases: &'a [(String, ElemType)],
}

impl Printer<'_> {
    fn elem(&self, e: &ElemType) -> String {
        match self.aliases.iter().find(|(_, a)| a == e) {
            Some((name, _)) => format!("!{name}"),
            None => e.to_string(),
        }
    }

    fn ty(&self, t: &TensorType) -> String {
        let mut s = String::from("tensor<");
        for d in &t.shape {
            let _ = write!(s, "{d}x");
        }
        s.push_str(&self.elem(&t.elem));
        if t.layout.is_packed() {
            let _ = write!(s, ", {}", t.layout);
        }
        s.push('>');
        s
    }
}

/// `dense_file<"...">`, `dense<splat>`, `dense<[list]>` or `dense<"0x...">`.
fn const_text(c: &ConstData) -> String {
    if let Some(f) = &c.file
        && !f.contains(['"', '\n'])
    {
        return format!("dense_file<\"{f}\">");
    }
    let d = &c.data;
    let n = d.len();
    // A NaN other than the one `nan` parses to cannot be written as a
    // number: such data is printed as bytes.
    let odd_nan = d.as_f32().is_some_and(|v| {
        v.iter()
            .any(|x| x.is_nan() && x.to_bits() != f32::NAN.to_bits())
    });
    if !odd_nan && n > 1 && all_equal(d) {
        return format!("dense<{}>", element(d, 0));
    }
    if !odd_nan && n <= MAX_LIST_ELEMENTS {
        let items: Vec<String> = (0..n).map(|i| element(d, i)).collect();
        return format!("dense<[{}]>", items.join(", "));
    }
    let mut hex = String::with_capacity(4 + 2 * d.to_le_bytes().len());
    hex.push_str("\"0x");
    for b in d.to_le_bytes() {
        let _ = write!(hex, "{b:02x}");
    }
    hex.push('"');
    format!("dense<{hex}>")
}

/// Bitwise equality of all elements.
fn all_equal(d: &TensorData) -> bool {
    match d.as_f32() {
        Some(v) => v.windows(2).all(|w| w[0].to_bits() == w[1].to_bits()),
        None => {
            let first = d.get_int(0);
            (1..d.len()).all(|i| d.get_int(i) == first)
        }
    }
}

fn element(d: &TensorData, i: usize) -> String {
    match d.as_f32() {
        Some(v) => v.get(i).map_or_else(String::new, |x| fmt_f32(*x)),
        None => d.get_int(i).map_or_else(String::new, |x| x.to_string()),
    }
}
