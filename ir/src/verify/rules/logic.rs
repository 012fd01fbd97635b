//! Typing rules of the comparisons, `where` and `cast`: plain element types
//! only (`f32` and the byte-addressed integers), a boolean being `u8` 0 / 1.

#[allow(unused_imports)]
use super::*;
use crate::types::{ElemType, ScalarType};

/// `f32` and the plain integer types whose elements have their own bytes
/// (not the packed 4-bit ones): what `cast` and the comparisons take.
pub(super) fn is_plain_value(e: &ElemType) -> bool {
    matches!(
        e,
        ElemType::Scalar(
            ScalarType::F32
                | ScalarType::I32
                | ScalarType::I16
                | ScalarType::U16
                | ScalarType::I8
                | ScalarType::U8
        )
    )
}

impl Rule<'_> {
    fn want_plain(&mut self, i: usize) -> bool {
        let t = self.args[i];
        if is_plain_value(&t.elem) {
            return true;
        }
        self.err(format!(
            "{} must be `f32` or a plain 8-, 16- or 32-bit integer type, found `{}` \
             (dequantize a quantized value first)",
            self.opnd(i),
            t.elem
        ));
        false
    }

    /// `cast`: the operand plain (or quantized, read as its stored integers);
    /// the result any plain type of its shape.
    pub(super) fn cast(&mut self) -> Option<Inferred> {
        // A quantized operand is read as its stored integers.
        let stored = matches!(&self.args[0].elem, ElemType::Quant(q)
            if !matches!(q.storage, ScalarType::I4 | ScalarType::U4));
        (stored || self.want_plain(0)).then(|| Inferred {
            shape: ShapeRule::Exact(self.args[0].shape.clone()),
            elem: ElemRule::Plain,
        })
    }

    /// `equal` / `less` / `greater`: two operands of one plain type,
    /// broadcast; the result `u8`.
    pub(super) fn compare(&mut self) -> Option<Inferred> {
        let ok = self.want_plain(0) & self.want_plain(1);
        let (a, b) = (self.args[0], self.args[1]);
        if ok && a.elem != b.elem {
            self.err(format!(
                "`a` and `b` must have one element type, found `{}` and `{}`",
                a.elem, b.elem
            ));
            return None;
        }
        let shape = self.broadcast()?;
        ok.then(|| Inferred::exact(shape, ElemType::Scalar(ScalarType::U8)))
    }

    /// `where c, a, b`: `c` plain `u8`, `a` and `b` of one type; the result
    /// has that type and the broadcast shape of all three.
    pub(super) fn select(&mut self) -> Option<Inferred> {
        let (c, a, b) = (self.args[0], self.args[1], self.args[2]);
        let mut ok = true;
        if c.elem != ElemType::Scalar(ScalarType::U8) {
            self.err(format!(
                "the condition `c` must be `u8` (0 or 1, a boolean), found `{}`",
                c.elem
            ));
            ok = false;
        }
        if a.elem != b.elem {
            self.err(format!(
                "`a` and `b` must have one element type, found `{}` and `{}`",
                a.elem, b.elem
            ));
            ok = false;
        }
        if matches!(a.elem.storage(), ScalarType::I4 | ScalarType::U4) {
            self.err(format!(
                "`a` and `b` may not be packed 4-bit values, found `{}`",
                a.elem
            ));
            ok = false;
        }
        let shape =
            broadcast_shapes(&c.shape, &a.shape).and_then(|s| broadcast_shapes(&s, &b.shape));
        if shape.is_none() {
            self.err(format!(
                "shapes {:?}, {:?} and {:?} do not broadcast (aligned at the right, each \
                 dimension equal or 1)",
                c.shape, a.shape, b.shape
            ));
        }
        let shape = shape?;
        ok.then(|| Inferred::exact(shape, a.elem.clone()))
    }
}
