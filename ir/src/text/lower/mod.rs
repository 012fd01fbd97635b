//! Lowering: the syntax tree to a [`Graph`].
//!
//! This stage resolves value names, type aliases and op names, converts
//! number literals (reporting overflow), validates attributes against the op
//! table ([`super::ops`]), checks the invariants of quantized types
//! ([`QuantType::check`], [`TensorType::check`]), loads constant data, and
//! binds the returned values to the declared outputs. It collects every error
//! it finds; a statement whose operands or type could not be resolved is
//! skipped quietly by its users, so one mistake gives one diagnostic.
//!
//! Op typing rules are not checked here: that is the verifier's job.

use super::ops;
use super::parser::{AttrAst, AttrValueAst, FileAst, Lit, LitKind, Name, StmtKind};
use crate::diag::{Diagnostic, Span};
use crate::graph::{Graph, ValueId};
use crate::op::{AttrKind, AttrSet, AttrValue, OpSchema};
use crate::op::{OP_NAMES, RequantMode};
use crate::types::{ElemType, TensorType};
use std::collections::HashMap;
use std::path::Path;

mod consts;
mod types;

#[allow(unused_imports)]
use consts::*;

/// The most elements an inline splat (`dense<0>`) may expand to, and all
/// the splats of one file together (else a few hundred bytes of text could
/// make the parser allocate gigabytes before the verifier's limits are
/// checked). Bigger constants belong in a `.npy` file.
pub(crate) const MAX_INLINE_ELEMENTS: usize = 1 << 26;

/// True for names that are only digits (`%0`, `%12`): such names resolve
/// within a file but are not stored in the graph.
pub(crate) fn is_numeric(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())
}

pub(crate) fn lower(file: &FileAst<'_>, base_dir: Option<&Path>) -> Result<Graph, Vec<Diagnostic>> {
    let mut l = Lowerer {
        base_dir,
        diags: Vec::new(),
        aliases: HashMap::new(),
        broken_aliases: Default::default(),
        values: HashMap::new(),
        graph: Graph::new(file.graph.name.text),
        splat_elements: 0,
    };
    l.file(file);
    if l.diags.is_empty() {
        Ok(l.graph)
    } else {
        Err(l.diags)
    }
}

/// A value name in scope. `value` is `None` when its definition had an error.
#[derive(Clone, Copy)]
struct Binding {
    value: Option<ValueId>,
    span: Span,
}

struct Lowerer<'a, 'p> {
    base_dir: Option<&'p Path>,
    diags: Vec<Diagnostic>,
    /// Alias name → its type and the span of its name in the declaration.
    aliases: HashMap<&'a str, (ElemType, Span)>,
    /// Aliases whose declaration had an error: uses of them stay silent, so
    /// one bad declaration gives one message.
    broken_aliases: std::collections::HashSet<&'a str>,
    values: HashMap<&'a str, Binding>,
    graph: Graph,
    /// Elements the splats so far expanded to (at most [`MAX_INLINE_ELEMENTS`]).
    splat_elements: usize,
}

/// Numbers of a constant, before they become [`TensorData`].
enum Elems {
    F32(Vec<f32>),
    Int(Vec<i64>),
}

impl<'a> Lowerer<'a, '_> {
    fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn file(&mut self, file: &FileAst<'a>) {
        for decl in &file.aliases {
            self.alias(decl.name, &decl.elem);
        }
        let g = &file.graph;

        // Where each statement name is first defined, for "defined later" notes.
        let mut defined_later: HashMap<&str, Span> = HashMap::new();
        for s in &g.body {
            defined_later.entry(s.result.text).or_insert(s.result.span);
        }

        for p in &g.inputs {
            let ty = self.tensor_type(&p.ty);
            if is_numeric(p.name.text) {
                self.error(
                    Diagnostic::error(format!("input name `%{}` is purely numeric", p.name.text))
                        .with_span(p.name.span, "inputs need a name with a letter or `_`")
                        .with_note(
                            "inputs and outputs are the graph's interface and are named; \
                             numeric names like `%0` are for intermediate values",
                        ),
                );
            }
            let value = ty.map(|ty| {
                let v = self.graph.add_input(p.name.text, ty);
                self.graph.node_mut(v).span = Some(p.name.span);
                v
            });
            self.bind(p.name, value);
        }

        let mut out_types = Vec::new();
        let mut out_names: HashMap<&str, Span> = HashMap::new();
        for p in &g.outputs {
            out_types.push(self.tensor_type(&p.ty));
            if is_numeric(p.name.text) {
                self.error(
                    Diagnostic::error(format!("output name `%{}` is purely numeric", p.name.text))
                        .with_span(p.name.span, "outputs need a name with a letter or `_`")
                        .with_note("`qcc run` writes each output to a file named after it"),
                );
            }
            if let Some(&first) = out_names.get(p.name.text) {
                self.error(
                    Diagnostic::error(format!("duplicate output name `%{}`", p.name.text))
                        .with_span(p.name.span, "declared again here")
                        .with_secondary(first, "first declared here")
                        .with_note("every output needs its own name"),
                );
            } else {
                out_names.insert(p.name.text, p.name.span);
            }
        }

        for s in &g.body {
            let ty = self.tensor_type(&s.ty);
            let value = match &s.kind {
                StmtKind::Op {
                    op,
                    operands,
                    attrs,
                    attrs_span,
                } => self.op_stmt(*op, operands, attrs, *attrs_span, ty, &defined_later),
                StmtKind::Const { keyword, data } => {
                    let data = ty
                        .as_ref()
                        .and_then(|ty| self.const_data(data, ty, s.ty.span));
                    match (ty, data) {
                        (Some(ty), Some(data)) => {
                            let v = self.graph.add_node(crate::op::Op::Const(data), &[], ty);
                            self.graph.node_mut(v).span = Some(*keyword);
                            Some(v)
                        }
                        _ => None,
                    }
                }
            };
            if let Some(v) = value
                && !is_numeric(s.result.text)
            {
                self.graph.node_mut(v).name = Some(s.result.text.to_string());
            }
            self.bind(s.result, value);
        }

        // `return`: bind the returned values to the declared outputs.
        let ret = &g.ret;
        if ret.values.len() != g.outputs.len() {
            let span = ret
                .values
                .last()
                .map_or(ret.keyword, |v| ret.keyword.to(v.span));
            let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
            self.error(
                Diagnostic::error(format!(
                    "`return` gives {} but the graph declares {}",
                    plural(ret.values.len(), "value"),
                    plural(g.outputs.len(), "output"),
                ))
                .with_span(
                    span,
                    format!("{} returned", plural(ret.values.len(), "value")),
                )
                .with_secondary(
                    g.outputs_span,
                    format!("{} declared here", plural(g.outputs.len(), "output")),
                ),
            );
        }
        for (i, name) in ret.values.iter().enumerate() {
            let Some(v) = self.use_value(*name, &defined_later) else {
                continue;
            };
            let (Some(out), Some(Some(out_ty))) = (g.outputs.get(i), out_types.get(i)) else {
                continue;
            };
            let ty = self.graph.ty(v).clone();
            if ty != *out_ty {
                self.error(
                    Diagnostic::error(format!(
                        "returned value `%{}` does not have the type of output `%{}`",
                        name.text, out.name.text
                    ))
                    .with_span(name.span, format!("this has type `{ty}`"))
                    .with_secondary(out.ty.span, format!("output declared as `{out_ty}`")),
                );
                continue;
            }
            self.graph.add_output(out.name.text, v);
            if let Some(o) = self.graph.outputs_mut().last_mut() {
                o.span = Some(out.name.span);
            }
        }
    }

    /// Defines a value name, reporting a redefinition.
    fn bind(&mut self, name: Name<'a>, value: Option<ValueId>) {
        if let Some(first) = self.values.get(name.text) {
            let first = first.span;
            self.error(
                Diagnostic::error(format!("`%{}` is defined twice", name.text))
                    .with_span(name.span, "defined again here")
                    .with_secondary(first, "first defined here")
                    .with_note("a value name may be defined once"),
            );
            return;
        }
        self.values.insert(
            name.text,
            Binding {
                value,
                span: name.span,
            },
        );
    }

    /// Resolves a use of a value. `None` if it is unknown (reported) or its
    /// definition had an error (already reported).
    fn use_value(
        &mut self,
        name: Name<'a>,
        defined_later: &HashMap<&str, Span>,
    ) -> Option<ValueId> {
        if let Some(b) = self.values.get(name.text) {
            return b.value;
        }
        let mut d = Diagnostic::error(format!("unknown value `%{}`", name.text));
        match defined_later.get(name.text) {
            Some(&later) => {
                d = d
                    .with_span(name.span, "used before it is defined")
                    .with_secondary(later, "defined later here")
                    .with_note("statements must be in dependency order");
            }
            None => {
                d = d.with_span(name.span, "not defined");
                if let Some(c) = ops::closest(name.text, self.values.keys().copied()) {
                    d = d.with_note(format!("did you mean `%{c}`?"));
                }
            }
        }
        self.error(d);
        None
    }

    // ---- ops ----

    fn op_stmt(
        &mut self,
        op: Name<'a>,
        operands: &[Name<'a>],
        attrs: &[AttrAst<'a>],
        attrs_span: Option<Span>,
        ty: Option<TensorType>,
        defined_later: &HashMap<&str, Span>,
    ) -> Option<ValueId> {
        let args: Vec<Option<ValueId>> = operands
            .iter()
            .map(|n| self.use_value(*n, defined_later))
            .collect();
        let Some((def, build)) = ops::lookup(op.text) else {
            self.unknown_op(op);
            return None;
        };
        let set = self.attrs(def, op, attrs, attrs_span)?;
        let built = build(&set);
        let arity = built.arity();
        if !arity.accepts(operands.len()) {
            let span = operands.last().map_or(op.span, |l| op.span.to(l.span));
            self.error(
                Diagnostic::error(format!(
                    "`{}` takes {arity}, found {}",
                    op.text,
                    operands.len()
                ))
                .with_span(span, format!("expected {arity}")),
            );
            return None;
        }
        let args: Vec<ValueId> = args.into_iter().collect::<Option<_>>()?;
        let ty = ty?;
        let v = self.graph.add_node(built, &args, ty);
        self.graph.node_mut(v).span = Some(op.span);
        Some(v)
    }

    fn unknown_op(&mut self, op: Name<'a>) {
        let mut d =
            Diagnostic::error(format!("unknown op `{}`", op.text)).with_span(op.span, "not an op");
        if let Some(c) = ops::closest(op.text, OP_NAMES.iter().copied()) {
            d = d.with_note(format!("did you mean `{c}`?"));
        }
        if op.text == "input" {
            d = d.with_note(
                "inputs are declared in the graph's signature: `graph @g(%x: tensor<...>)`",
            );
        }
        d = d.with_note(format!("the ops are: {}", OP_NAMES.join(", ")));
        self.error(d);
    }

    /// Validates written attributes against the op's table entry and fills
    /// in defaults.
    fn attrs(
        &mut self,
        def: &OpSchema,
        op: Name<'a>,
        attrs: &[AttrAst<'a>],
        attrs_span: Option<Span>,
    ) -> Option<AttrSet> {
        let mut ok = true;
        let mut set = AttrSet::default();
        let mut seen: Vec<(&'static str, Span)> = Vec::new();
        for a in attrs {
            let Some(spec) = def.attrs.iter().find(|s| s.name == a.name.text) else {
                let mut d = Diagnostic::error(format!(
                    "unknown attribute `{}` of `{}`",
                    a.name.text, def.name
                ))
                .with_span(a.name.span, "unknown attribute");
                if let Some(c) = ops::closest(a.name.text, def.attrs.iter().map(|s| s.name)) {
                    d = d.with_note(format!("did you mean `{c}`?"));
                }
                d = d.with_note(if def.attrs.is_empty() {
                    format!("`{}` takes no attributes", def.name)
                } else {
                    let names: Vec<&str> = def.attrs.iter().map(|s| s.name).collect();
                    format!("`{}` takes: {}", def.name, names.join(", "))
                });
                self.error(d);
                ok = false;
                continue;
            };
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == spec.name) {
                let first = *first;
                self.error(
                    Diagnostic::error(format!("attribute `{}` is given twice", spec.name))
                        .with_span(a.name.span, "given again here")
                        .with_secondary(first, "first given here"),
                );
                ok = false;
                continue;
            }
            seen.push((spec.name, a.name.span));
            match self.attr_value(def.name, spec.name, spec.kind, &a.value) {
                Some(v) => set.insert(spec.name, v),
                None => ok = false,
            }
        }
        for spec in def.attrs {
            if seen.iter().any(|(n, _)| *n == spec.name) {
                continue;
            }
            match spec.default.value() {
                Some(v) => set.insert(spec.name, v),
                None => {
                    let span = attrs_span.unwrap_or(op.span);
                    self.error(
                        Diagnostic::error(format!(
                            "missing attribute `{}` of `{}`",
                            spec.name, def.name
                        ))
                        .with_span(span, format!("`{}` is required here", spec.name))
                        .with_note(format!(
                            "write it as `{{{} = ...}}`: {}",
                            spec.name,
                            spec.kind.describe()
                        )),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(set)
    }

    fn attr_value(
        &mut self,
        op: &str,
        name: &str,
        kind: AttrKind,
        v: &AttrValueAst<'a>,
    ) -> Option<AttrValue> {
        let value = match (kind, v) {
            (AttrKind::Size, AttrValueAst::Num(l)) if l.kind == LitKind::Int => {
                AttrValue::Size(self.size_lit(*l, name)?)
            }
            (AttrKind::Int, AttrValueAst::Num(l)) if l.kind == LitKind::Int => {
                AttrValue::Int(self.int_lit(*l)?)
            }
            (AttrKind::Float, AttrValueAst::Num(l)) => AttrValue::Float(self.f32_lit(*l)?),
            (AttrKind::Bool, AttrValueAst::Ident(n)) if n.text == "true" || n.text == "false" => {
                AttrValue::Bool(n.text == "true")
            }
            (AttrKind::Mode, AttrValueAst::Ident(n)) => match RequantMode::from_name(n.text) {
                Some(m) => AttrValue::Mode(m),
                None => {
                    let names: Vec<&str> = RequantMode::ALL.iter().map(|m| m.name()).collect();
                    let mut d = Diagnostic::error(format!("unknown rounding mode `{}`", n.text))
                        .with_span(n.span, "not a mode");
                    if let Some(c) = ops::closest(n.text, names.iter().copied()) {
                        d = d.with_note(format!("did you mean `{c}`?"));
                    }
                    self.error(d.with_note(format!("the modes are: {}", names.join(", "))));
                    return None;
                }
            },
            (AttrKind::Sizes(len), AttrValueAst::List(items, span)) => {
                if let Some(len) = len
                    && items.len() != len
                {
                    self.error(
                        Diagnostic::error(format!(
                            "attribute `{name}` of `{op}` needs {len} values, found {}",
                            items.len()
                        ))
                        .with_span(*span, format!("expected {}", kind.describe())),
                    );
                    return None;
                }
                let mut out = Vec::with_capacity(items.len());
                for l in items {
                    out.push(self.size_lit(*l, name)?);
                }
                AttrValue::Sizes(out)
            }
            (AttrKind::Ints, AttrValueAst::List(items, _)) => {
                let mut out = Vec::with_capacity(items.len());
                for l in items {
                    out.push(self.int_lit(*l)?);
                }
                AttrValue::Ints(out)
            }
            _ => {
                let found = match v {
                    AttrValueAst::Num(l) => format!("`{}`", l.text),
                    AttrValueAst::Ident(n) => format!("`{}`", n.text),
                    AttrValueAst::List(..) => "a list".to_string(),
                };
                self.error(
                    Diagnostic::error(format!(
                        "attribute `{name}` of `{op}` must be {}, found {found}",
                        kind.describe()
                    ))
                    .with_span(v.span(), format!("expected {}", kind.describe())),
                );
                return None;
            }
        };
        Some(value)
    }

    // ---- numbers ----

    fn int_lit(&mut self, l: Lit<'a>) -> Option<i64> {
        if l.kind != LitKind::Int {
            self.error(
                Diagnostic::error(format!("expected an integer, found `{}`", l.text))
                    .with_span(l.span, "expected an integer"),
            );
            return None;
        }
        match l.text.parse::<i64>() {
            Ok(v) => Some(v),
            Err(_) => {
                self.error(
                    Diagnostic::error(format!("integer literal `{}` is out of range", l.text))
                        .with_span(l.span, "does not fit in a 64-bit integer"),
                );
                None
            }
        }
    }

    /// A non-negative integer that fits in `usize`; `what` names it.
    fn size_lit(&mut self, l: Lit<'a>, what: &str) -> Option<usize> {
        if l.kind == LitKind::Int && !l.text.starts_with('-') {
            return match l.text.parse::<usize>() {
                Ok(v) => Some(v),
                Err(_) => {
                    self.error(
                        Diagnostic::error(format!("`{what}` value `{}` is too large", l.text))
                            .with_span(l.span, "does not fit in a 64-bit integer"),
                    );
                    None
                }
            };
        }
        let v = self.int_lit(l)?;
        if v == 0 {
            return Some(0); // `-0`
        }
        self.error(
            Diagnostic::error(format!("`{what}` must not be negative, found {v}"))
                .with_span(l.span, "expected a non-negative integer"),
        );
        None
    }

    /// A float (or integer) literal as the nearest f32. A finite literal
    /// that overflows to infinity or a non-zero one that underflows to zero
    /// is an error.
    fn f32_lit(&mut self, l: Lit<'a>) -> Option<f32> {
        let v = match (l.kind, l.text) {
            (LitKind::Special, "inf") => f32::INFINITY,
            (LitKind::Special, "-inf") => f32::NEG_INFINITY,
            (LitKind::Special, _) => f32::NAN,
            _ => match l.text.parse::<f32>() {
                Ok(v) => v,
                Err(_) => {
                    self.error(
                        Diagnostic::error(format!("invalid number `{}`", l.text))
                            .with_span(l.span, "not a number"),
                    );
                    return None;
                }
            },
        };
        if l.kind != LitKind::Special {
            if v.is_infinite() {
                self.error(
                    Diagnostic::error(format!("number `{}` is too large for f32", l.text))
                        .with_span(l.span, "overflows to infinity")
                        .with_note("write `inf` or `-inf` for an infinity"),
                );
                return None;
            }
            let mantissa = l.text.split(['e', 'E']).next().unwrap_or("");
            if v == 0.0 && mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
                self.error(
                    Diagnostic::error(format!("number `{}` is too small for f32", l.text))
                        .with_span(l.span, "underflows to zero"),
                );
                return None;
            }
        }
        Some(v)
    }
}
