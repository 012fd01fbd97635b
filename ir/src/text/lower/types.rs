//! Lowering of types: aliases, element types, quantized types (their
//! invariants checked at the type's span), tensor types.

#[allow(unused_imports)]
use super::*;
use crate::diag::Diagnostic;
use crate::graph::TypeAlias;
use crate::text::ops;
use crate::text::parser::{ElemAst, Name, QuantAst, TensorTypeAst};
use crate::types::{ElemType, QuantType, ScalarType, TensorType};

impl<'a> Lowerer<'a, '_> {
    // ---- types ----

    pub(super) fn alias(&mut self, name: Name<'a>, elem: &ElemAst<'a>) {
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

    pub(super) fn elem(&mut self, e: &ElemAst<'a>) -> Option<ElemType> {
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

    pub(super) fn quant(&mut self, q: &QuantAst<'a>) -> Option<QuantType> {
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
        let block = match q.block {
            Some(b) => Some(self.size_lit(b, "block size")?),
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
            block,
        };
        if let Err(msg) = qt.check() {
            // Point at the part that breaks the invariant.
            let (full_lo, full_hi) = storage.int_range().unwrap_or((lo, hi));
            let (span, label) = if lo > hi || lo < full_lo || hi > full_hi {
                let span = q.range.map_or(q.storage.span, |(l, h)| l.span.to(h.span));
                (span, "invalid storage range")
            } else if let (Some(b), Some(0)) = (q.block, block) {
                (b.span, "invalid block size")
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

    pub(super) fn tensor_type(&mut self, t: &TensorTypeAst<'a>) -> Option<TensorType> {
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
}
