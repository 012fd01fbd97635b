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
use super::parser::{
    AttrAst, AttrValueAst, ConstAst, ElemAst, FileAst, ListAst, ListItem, Lit, LitKind, Name,
    QuantAst, StmtKind, TensorTypeAst,
};
use crate::diag::{Diagnostic, Span};
use crate::graph::{Graph, TypeAlias, ValueId};
use crate::npy::{self, NpyError};
use crate::op::{AttrKind, AttrSet, AttrValue, OpSchema};
use crate::op::{ConstData, OP_NAMES, RequantMode};
use crate::tensor::TensorData;
use crate::types::{ElemType, QuantType, ScalarType, TensorType};
use std::collections::HashMap;
use std::path::Path;

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

    // ---- types ----

    fn alias(&mut self, name: Name<'a>, elem: &ElemAst<'a>) {
        if name.text == "quant" || name.text.starts_with("quant.") {
            self.error(
                Diagnostic::error(format!("`!{}` cannot be an alias name", name.text))
                    .with_span(name.span, "reserved for quantized types"),
            );
            return;
        }
        let Some(ty) = self.elem(elem) else {
            self.broken_aliases.insert(name.text);
            return;
        };
        if let Some((_, first)) = self.aliases.get(name.text) {
            let first = *first;
            self.error(
                Diagnostic::error(format!("type alias `!{}` is declared twice", name.text))
                    .with_span(name.span, "declared again here")
                    .with_secondary(first, "first declared here"),
            );
            return;
        }
        self.aliases.insert(name.text, (ty.clone(), name.span));
        self.graph.aliases.push(TypeAlias {
            name: name.text.to_string(),
            elem: ty,
        });
    }

    fn elem(&mut self, e: &ElemAst<'a>) -> Option<ElemType> {
        match e {
            ElemAst::Scalar(n) => match ScalarType::from_name(n.text) {
                Some(s) => Some(ElemType::Scalar(s)),
                None => {
                    let names: Vec<&str> = ScalarType::ALL.iter().map(|s| s.name()).collect();
                    let mut d = Diagnostic::error(format!("unknown element type `{}`", n.text))
                        .with_span(n.span, "not an element type");
                    if let Some(c) = ops::closest(n.text, names.iter().copied()) {
                        d = d.with_note(format!("did you mean `{c}`?"));
                    }
                    self.error(d.with_note(format!(
                        "element types are {}, `!quant.uniform<...>` or a `!alias`",
                        names.join(", ")
                    )));
                    None
                }
            },
            ElemAst::Alias(n) => {
                if n.text == "quant" || n.text.starts_with("quant.") {
                    self.error(
                        Diagnostic::error(format!("unknown quantized type `!{}`", n.text))
                            .with_span(n.span, "expected `!quant.uniform`"),
                    );
                    return None;
                }
                if let Some((ty, _)) = self.aliases.get(n.text) {
                    return Some(ty.clone());
                }
                if self.broken_aliases.contains(n.text) {
                    return None;
                }
                let mut d = Diagnostic::error(format!("unknown type alias `!{}`", n.text))
                    .with_span(n.span, "not declared");
                if let Some(c) = ops::closest(n.text, self.aliases.keys().copied()) {
                    d = d.with_note(format!("did you mean `!{c}`?"));
                }
                d = d.with_note(
                    "aliases are declared at the top of the file, before their use: `!name = <element type>`",
                );
                self.error(d);
                None
            }
            ElemAst::Quant(q) => self.quant(q).map(ElemType::quant),
        }
    }

    fn quant(&mut self, q: &QuantAst<'a>) -> Option<QuantType> {
        let storage = match ScalarType::from_name(q.storage.text) {
            Some(s) if s.is_int() => s,
            Some(s) => {
                self.error(
                    Diagnostic::error(format!(
                        "quantized storage type must be an integer type, found `{s}`"
                    ))
                    .with_span(q.storage.span, "expected i32, i16, u16, i8, u8, i4 or u4"),
                );
                return None;
            }
            None => {
                self.error(
                    Diagnostic::error(format!("unknown storage type `{}`", q.storage.text))
                        .with_span(q.storage.span, "expected i32, i16, u16, i8, u8, i4 or u4"),
                );
                return None;
            }
        };
        if q.expressed.text != "f32" {
            self.error(
                Diagnostic::error(format!(
                    "the expressed type of a quantized type must be `f32`, found `{}`",
                    q.expressed.text
                ))
                .with_span(q.expressed.span, "expected `f32`"),
            );
            return None;
        }
        let (mut lo, mut hi) = storage.int_range().unwrap_or((0, 0));
        if let Some((l, h)) = q.range {
            lo = self.int_lit(l)?;
            hi = self.int_lit(h)?;
        }
        let axis = match q.axis {
            Some(a) => Some(self.size_lit(a, "axis")?),
            None => None,
        };
        match (axis.is_some(), q.braced) {
            (true, false) => {
                self.error(
                    Diagnostic::error("a per-axis quantized type lists its parameters in braces")
                        .with_span(q.params_span, "expected `{scale:zero_point, ...}`")
                        .with_note(
                            "a per-tensor type names no axis: `!quant.uniform<i8:f32, 0.5:0>`",
                        ),
                );
                return None;
            }
            (false, true) => {
                self.error(
                    Diagnostic::error("per-axis parameters need an axis")
                        .with_span(q.params_span, "braces mean one parameter pair per index")
                        .with_note(
                            "name the axis after the expressed type: \
                             `!quant.uniform<i8:f32:0, {0.5:0, 0.25:0}>`",
                        ),
                );
                return None;
            }
            _ => {}
        }
        let mut scales = Vec::with_capacity(q.params.len());
        let mut zero_points = Vec::with_capacity(q.params.len());
        let mut bad = false;
        for (s, z) in &q.params {
            match self.f32_lit(*s) {
                Some(v) => scales.push(v),
                None => bad = true,
            }
            match z.map(|z| self.int_lit(z)) {
                None => zero_points.push(0),
                Some(Some(v)) => zero_points.push(v),
                Some(None) => bad = true,
            }
        }
        if bad {
            return None;
        }
        let qt = QuantType {
            storage,
            storage_min: lo,
            storage_max: hi,
            axis,
            scales,
            zero_points,
        };
        if let Err(msg) = qt.check() {
            // Point at the part that breaks the invariant.
            let (full_lo, full_hi) = storage.int_range().unwrap_or((lo, hi));
            let (span, label) = if lo > hi || lo < full_lo || hi > full_hi {
                let span = q.range.map_or(q.storage.span, |(l, h)| l.span.to(h.span));
                (span, "invalid storage range")
            } else if let Some(i) = qt.scales.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
                (q.params[i].0.span, "invalid scale")
            } else if let Some(i) = qt.zero_points.iter().position(|z| *z < lo || *z > hi) {
                let (s, z) = q.params[i];
                (z.map_or(s.span, |z| z.span), "zero point out of range")
            } else {
                (q.span, "invalid quantized type")
            };
            self.error(
                Diagnostic::error(format!("invalid quantized type: {msg}")).with_span(span, label),
            );
            return None;
        }
        Some(qt)
    }

    fn tensor_type(&mut self, t: &TensorTypeAst<'a>) -> Option<TensorType> {
        let mut shape = Vec::with_capacity(t.dims.len());
        let mut ok = true;
        for d in &t.dims {
            match d.text.parse::<usize>() {
                Ok(0) => {
                    self.error(
                        Diagnostic::error("zero-sized dimension")
                            .with_span(d.span, "dimensions must be at least 1"),
                    );
                    ok = false;
                }
                Ok(n) => shape.push(n),
                Err(_) => {
                    self.error(
                        Diagnostic::error(format!("dimension `{}` is too large", d.text))
                            .with_span(d.span, "too large"),
                    );
                    ok = false;
                }
            }
        }
        let elem = self.elem(&t.elem)?;
        let mut layout = crate::Layout::RowMajor;
        if let Some(l) = &t.layout {
            match crate::Layout::from_name(l.text) {
                Some(found) => layout = found,
                None => {
                    let names: Vec<String> = crate::Layout::PACKED
                        .iter()
                        .map(|l| l.to_string())
                        .collect();
                    self.error(
                        Diagnostic::error(format!("unknown layout `#{}`", l.text))
                            .with_span(l.span, "not a layout")
                            .with_note(format!(
                                "the layouts are: {} (row-major is written without one)",
                                names.join(", ")
                            )),
                    );
                    return None;
                }
            }
        }
        if !ok {
            return None;
        }
        let ty = TensorType::new(shape, elem).with_layout(layout);
        if let Err(msg) = ty.check() {
            let mut d = Diagnostic::error(format!("invalid tensor type: {msg}"))
                .with_span(t.span, "in this type");
            if let ElemAst::Alias(n) = &t.elem
                && let Some((_, decl)) = self.aliases.get(n.text)
            {
                d = d.with_secondary(*decl, "the alias is declared here");
            }
            self.error(d);
            return None;
        }
        Some(ty)
    }

    // ---- constants ----

    fn const_data(
        &mut self,
        c: &ConstAst<'a>,
        ty: &TensorType,
        ty_span: Span,
    ) -> Option<ConstData> {
        // A packed layout stores its padded data, in packed order.
        let n = ty.storage_len()?;
        let storage = ty.elem.storage();
        let data = match c {
            ConstAst::Splat(l) => {
                if n > MAX_INLINE_ELEMENTS {
                    self.error(
                        Diagnostic::error(format!(
                            "a splat of {n} elements is too large for inline data"
                        ))
                        .with_span(l.span, format!("at most {MAX_INLINE_ELEMENTS} elements"))
                        .with_secondary(ty_span, "the constant's type")
                        .with_note("store large constants in a `.npy` file: `dense_file<\"...\">`"),
                    );
                    return None;
                }
                if self.splat_elements + n > MAX_INLINE_ELEMENTS {
                    self.error(
                        Diagnostic::error(format!(
                            "the inline splats of this file expand to more than {MAX_INLINE_ELEMENTS} elements"
                        ))
                        .with_span(l.span, format!("{n} more elements"))
                        .with_note("store large constants in `.npy` files: `dense_file<\"...\">`"),
                    );
                    return None;
                }
                self.splat_elements += n;
                match self.elements(&[*l], ty)? {
                    Elems::F32(v) => Elems::F32(vec![v.first().copied().unwrap_or(0.0); n]),
                    Elems::Int(v) => Elems::Int(vec![v.first().copied().unwrap_or(0); n]),
                }
            }
            ConstAst::List(list) => {
                let leaves = self.list_leaves(list, &ty.storage_shape())?;
                if leaves.len() != n {
                    let mut d = Diagnostic::error(format!(
                        "expected {n} element{} for `{ty}`, found {}",
                        if n == 1 { "" } else { "s" },
                        leaves.len()
                    ))
                    .with_span(list.span, format!("{} elements", leaves.len()))
                    .with_secondary(ty_span, format!("{n} elements declared here"));
                    if ty.layout.is_packed() {
                        d = d.with_note(packed_note(ty));
                    }
                    self.error(d);
                    return None;
                }
                self.elements(&leaves, ty)?
            }
            ConstAst::Hex(s) => return self.hex(*s, ty, ty_span),
            ConstAst::File(s) => return self.file_data(*s, ty, ty_span),
        };
        let data = match data {
            Elems::F32(v) => TensorData::F32(v),
            Elems::Int(v) => match TensorData::from_i64s(storage, &v) {
                Ok(d) => d,
                Err(e) => {
                    self.error(
                        Diagnostic::error(format!("constant value out of range: {e}"))
                            .with_span(ty_span, "in a constant of this type"),
                    );
                    return None;
                }
            },
        };
        Some(ConstData::new(data))
    }

    /// Converts literals to the constant's element type, checking the range.
    fn elements(&mut self, lits: &[Lit<'a>], ty: &TensorType) -> Option<Elems> {
        match ty.elem.int_range() {
            None => {
                let mut out = Vec::with_capacity(lits.len());
                let mut ok = true;
                for l in lits {
                    match self.f32_lit(*l) {
                        Some(v) => out.push(v),
                        None => ok = false,
                    }
                }
                ok.then_some(Elems::F32(out))
            }
            Some((lo, hi)) => {
                let mut out = Vec::with_capacity(lits.len());
                for l in lits {
                    if l.kind != LitKind::Int {
                        let what = if ty.elem.as_quant().is_some() {
                            "the elements of a quantized constant are its stored integers"
                        } else {
                            "the elements of an integer constant are integers"
                        };
                        self.error(
                            Diagnostic::error(format!("expected an integer, found `{}`", l.text))
                                .with_span(l.span, "expected an integer")
                                .with_note(what),
                        );
                        return None;
                    }
                    let v = self.int_lit(*l)?;
                    if v < lo || v > hi {
                        self.error(
                            Diagnostic::error(format!(
                                "value {v} is outside the storage range {lo}..={hi}"
                            ))
                            .with_span(
                                l.span,
                                format!("does not fit in `{}`", storage_name(&ty.elem)),
                            ),
                        );
                        return None;
                    }
                    out.push(v);
                }
                Some(Elems::Int(out))
            }
        }
    }

    /// The numbers of a flat list, or of a nested list whose nesting matches
    /// the shape, in row-major order.
    fn list_leaves(&mut self, list: &ListAst<'a>, shape: &[usize]) -> Option<Vec<Lit<'a>>> {
        let flat: Option<Vec<Lit<'a>>> = list
            .items
            .iter()
            .map(|i| match i {
                ListItem::Num(l) => Some(*l),
                ListItem::List(_) => None,
            })
            .collect();
        if let Some(flat) = flat {
            return Some(flat);
        }
        let mut out = Vec::new();
        self.nested(list, shape, 0, &mut out).then_some(out)
    }

    fn nested(
        &mut self,
        list: &ListAst<'a>,
        shape: &[usize],
        depth: usize,
        out: &mut Vec<Lit<'a>>,
    ) -> bool {
        let Some(&len) = shape.get(depth) else {
            self.error(
                Diagnostic::error("constant list is nested deeper than the tensor's rank")
                    .with_span(
                        list.span,
                        format!(
                            "a tensor of rank {} has no level {}",
                            shape.len(),
                            depth + 1
                        ),
                    ),
            );
            return false;
        };
        if list.items.len() != len {
            let shape_text: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            self.error(
                Diagnostic::error(format!(
                    "nested list does not match the shape [{}]",
                    shape_text.join(", ")
                ))
                .with_span(
                    list.span,
                    format!(
                        "expected {len} items at nesting level {}, found {}",
                        depth + 1,
                        list.items.len()
                    ),
                ),
            );
            return false;
        }
        let leaf_level = depth + 1 == shape.len();
        for item in &list.items {
            match (item, leaf_level) {
                (ListItem::Num(l), true) => out.push(*l),
                (ListItem::List(inner), false) => {
                    if !self.nested(inner, shape, depth + 1, out) {
                        return false;
                    }
                }
                (ListItem::Num(l), false) => {
                    self.error(
                        Diagnostic::error("nested list does not match the shape").with_span(
                            l.span,
                            format!("expected a list at nesting level {}", depth + 2),
                        ),
                    );
                    return false;
                }
                (ListItem::List(inner), true) => {
                    self.error(
                        Diagnostic::error("constant list is nested deeper than the tensor's rank")
                            .with_span(inner.span, "expected a number"),
                    );
                    return false;
                }
            }
        }
        true
    }

    /// `dense<"0x...">`: raw little-endian bytes.
    fn hex(&mut self, s: Name<'a>, ty: &TensorType, ty_span: Span) -> Option<ConstData> {
        // `s.span` covers the quotes; the contents start one byte in.
        let base = s.span.start as usize + 1;
        let Some(digits) = s.text.strip_prefix("0x") else {
            self.error(
                Diagnostic::error("hex data must start with `0x`")
                    .with_span(s.span, "expected \"0x...\"")
                    .with_note("a string in `dense<...>` holds the raw little-endian bytes in hex"),
            );
            return None;
        };
        let mut nibbles = Vec::with_capacity(digits.len());
        for (i, c) in digits.char_indices() {
            match c.to_digit(16) {
                Some(v) => nibbles.push(v as u8),
                None => {
                    let at = base + 2 + i;
                    self.error(
                        Diagnostic::error(format!("invalid hex digit {c:?}"))
                            .with_span(Span::new(at, at + c.len_utf8()), "not a hex digit"),
                    );
                    return None;
                }
            }
        }
        if nibbles.len() % 2 != 0 {
            self.error(
                Diagnostic::error("hex data has an odd number of digits")
                    .with_span(s.span, "expected two digits per byte"),
            );
            return None;
        }
        let bytes: Vec<u8> = nibbles
            .chunks_exact(2)
            .map(|p| (p[0] << 4) | p[1])
            .collect();
        let n = ty.storage_len()?;
        let storage = ty.elem.storage();
        // Compare the byte count first, without overflow for huge types.
        let want = (n as u128 * storage.bits() as u128).div_ceil(8);
        if want != bytes.len() as u128 {
            let mut d = Diagnostic::error(format!(
                "wrong hex data for `{ty}`: expected {want} bytes for {n} elements of {storage}, found {}",
                bytes.len()
            ))
            .with_span(s.span, format!("{} bytes", bytes.len()))
            .with_secondary(ty_span, "the constant's type");
            if ty.layout.is_packed() {
                d = d.with_note(packed_note(ty));
            }
            self.error(d);
            return None;
        }
        let data = match TensorData::from_le_bytes(storage, &bytes, n) {
            Ok(d) => d,
            Err(msg) => {
                self.error(
                    Diagnostic::error(format!("wrong hex data for `{ty}`: {msg}"))
                        .with_span(s.span, format!("{} bytes", bytes.len()))
                        .with_secondary(ty_span, "the constant's type"),
                );
                return None;
            }
        };
        if let (Some((lo, hi)), Some(vals)) = (ty.elem.int_range(), data.to_i64s())
            && let Some((i, v)) = vals.iter().enumerate().find(|(_, v)| **v < lo || **v > hi)
        {
            self.error(
                Diagnostic::error(format!(
                    "value {v} at index {i} is outside the storage range {lo}..={hi}"
                ))
                .with_span(
                    s.span,
                    format!("does not fit in `{}`", storage_name(&ty.elem)),
                ),
            );
            return None;
        }
        Some(ConstData::new(data))
    }

    /// `dense_file<"path.npy">`.
    fn file_data(&mut self, s: Name<'a>, ty: &TensorType, ty_span: Span) -> Option<ConstData> {
        let Some(base) = self.base_dir else {
            self.error(
                Diagnostic::error("external constant data is not allowed here")
                    .with_span(s.span, "cannot load this file")
                    .with_note(
                        "`dense_file` paths are relative to the graph file's folder, \
                         and this graph was not read from a file",
                    ),
            );
            return None;
        };
        match npy::read_as(&base.join(s.text), ty) {
            Ok(t) => Some(ConstData {
                data: t.data.into(),
                file: Some(s.text.to_string()),
            }),
            Err(e) => {
                let label = match &e {
                    NpyError::Io { .. } => "cannot read this file",
                    NpyError::Format { .. } => "not a valid .npy file",
                    NpyError::Dtype { .. } => "wrong dtype",
                    NpyError::Shape { .. } => "wrong shape",
                    NpyError::Values { .. } => "values out of range",
                };
                self.error(
                    Diagnostic::error(format!("cannot load constant data: {e}"))
                        .with_span(s.span, label)
                        .with_secondary(ty_span, format!("the constant is declared as `{ty}`")),
                );
                None
            }
        }
    }
}

/// Why a packed constant stores more elements than its shape has.
fn packed_note(ty: &TensorType) -> String {
    match ty.layout.geometry(&ty.shape) {
        Some(g) => format!(
            "layout `{}` stores the [K, N] = [{}, {}] weights padded to [{}, {}], in packed order \
             (docs/format.md, \"Layouts\")",
            ty.layout, g.k, g.n, g.kp, g.np
        ),
        None => format!(
            "layout `{}` stores its data padded, in packed order",
            ty.layout
        ),
    }
}

/// `u8`, or `i8<-127:127>` for a narrow quantized storage.
fn storage_name(elem: &ElemType) -> String {
    match elem {
        ElemType::Scalar(s) => s.name().to_string(),
        ElemType::Quant(q) => q.storage_text(),
    }
}
