//! Lowering of constant data: inline literals (nested lists, splats), hex
//! blobs and `.npy` files, checked against the constant's type.

#[allow(unused_imports)]
use super::*;
use crate::diag::{Diagnostic, Span};
use crate::npy::{self, NpyError};
use crate::op::ConstData;
use crate::tensor::TensorData;
use crate::text::parser::{ConstAst, ListAst, ListItem, Lit, LitKind, Name};
use crate::types::{ElemType, TensorType};

/// Why a packed constant stores more elements than its shape has.
pub(super) fn packed_note(ty: &TensorType) -> String {
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
pub(super) fn storage_name(elem: &ElemType) -> String {
    match elem {
        ElemType::Scalar(s) => s.name().to_string(),
        ElemType::Quant(q) => q.storage_text(),
    }
}

impl<'a> Lowerer<'a, '_> {
    // ---- constants ----

    pub(super) fn const_data(
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
    pub(super) fn elements(&mut self, lits: &[Lit<'a>], ty: &TensorType) -> Option<Elems> {
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
    pub(super) fn list_leaves(
        &mut self,
        list: &ListAst<'a>,
        shape: &[usize],
    ) -> Option<Vec<Lit<'a>>> {
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

    pub(super) fn nested(
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
    pub(super) fn hex(&mut self, s: Name<'a>, ty: &TensorType, ty_span: Span) -> Option<ConstData> {
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
    pub(super) fn file_data(
        &mut self,
        s: Name<'a>,
        ty: &TensorType,
        ty_span: Span,
    ) -> Option<ConstData> {
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
