//! Element types, quantized types and tensor types.
//!
//! A value in a qcc graph always has a [`TensorType`]: a static shape, an
//! element type and a layout. The element type is either a plain
//! [`ScalarType`] (`f32`, `i32`, `i8`, ...) or a [`QuantType`], which is an
//! integer storage type plus the affine map to real numbers
//! `real = scale * (q - zero_point)`, per tensor or per axis.
//!
//! Scales are `f32` (as in ONNX); equality, ordering and hashing of types
//! compare scales bit for bit, so that a type is a plain value that can be a
//! key in a map or a payload in an e-graph.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A scalar storage type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScalarType {
    F32,
    I32,
    I16,
    /// Unsigned 16-bit integer (ONNX uint16).
    U16,
    I8,
    U8,
    /// Signed 4-bit integer, stored packed two to a byte (low nibble first).
    I4,
    /// Unsigned 4-bit integer, stored packed two to a byte (low nibble first).
    U4,
}

impl ScalarType {
    pub const ALL: [ScalarType; 8] = [
        ScalarType::F32,
        ScalarType::I32,
        ScalarType::I16,
        ScalarType::U16,
        ScalarType::I8,
        ScalarType::U8,
        ScalarType::I4,
        ScalarType::U4,
    ];

    /// The name used in the text format (`f32`, `i8`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ScalarType::F32 => "f32",
            ScalarType::I32 => "i32",
            ScalarType::I16 => "i16",
            ScalarType::U16 => "u16",
            ScalarType::I8 => "i8",
            ScalarType::U8 => "u8",
            ScalarType::I4 => "i4",
            ScalarType::U4 => "u4",
        }
    }

    pub fn from_name(s: &str) -> Option<ScalarType> {
        ScalarType::ALL.into_iter().find(|t| t.name() == s)
    }

    pub fn is_float(self) -> bool {
        self == ScalarType::F32
    }

    pub fn is_int(self) -> bool {
        !self.is_float()
    }

    pub fn is_signed(self) -> bool {
        matches!(
            self,
            ScalarType::F32 | ScalarType::I32 | ScalarType::I16 | ScalarType::I8 | ScalarType::I4
        )
    }

    /// Width in bits of one element.
    pub fn bits(self) -> u32 {
        match self {
            ScalarType::F32 | ScalarType::I32 => 32,
            ScalarType::I16 | ScalarType::U16 => 16,
            ScalarType::I8 | ScalarType::U8 => 8,
            ScalarType::I4 | ScalarType::U4 => 4,
        }
    }

    /// The full range `[min, max]` of an integer type. `None` for `f32`.
    pub fn int_range(self) -> Option<(i64, i64)> {
        match self {
            ScalarType::F32 => None,
            ScalarType::I32 => Some((i32::MIN as i64, i32::MAX as i64)),
            ScalarType::I16 => Some((i16::MIN as i64, i16::MAX as i64)),
            ScalarType::U16 => Some((0, u16::MAX as i64)),
            ScalarType::I8 => Some((-128, 127)),
            ScalarType::U8 => Some((0, 255)),
            ScalarType::I4 => Some((-8, 7)),
            ScalarType::U4 => Some((0, 15)),
        }
    }

    /// Bytes needed to store `n` elements (4-bit types pack two to a byte).
    pub fn storage_bytes(self, n: usize) -> usize {
        match self.bits() {
            4 => n.div_ceil(2),
            b => n * (b as usize / 8),
        }
    }
}

impl fmt::Display for ScalarType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A uniform quantized type: `real = scale * (q - zero_point)`.
///
/// Text form (MLIR's quant dialect):
/// - per tensor: `!quant.uniform<u8:f32, 0.0235:128>`; the zero point may be
///   omitted (`!quant.uniform<i8:f32, 0.5>` means zero point 0);
/// - narrow storage range: `!quant.uniform<i8<-127:127>:f32, 0.5>`;
/// - per axis: `!quant.uniform<i8:f32:0, {0.012:0, 0.0098:0}>`, the axis after
///   the expressed type and one `scale:zero_point` per index along that axis;
/// - blocked (sub-channel): `!quant.uniform<u4:f32:{1:32}, {0.5:8, 0.25:8, ...}>`,
///   the axis and the block size in braces, then one `scale:zero_point` per
///   block: the parameter tensor has the tensor's shape with the blocked
///   dimension divided by the block size, and is listed flat, row-major
///   ([`QuantType::param_index`]).
///
/// Invariants (checked by [`QuantType::check`], which the parser and the
/// verifier call): `storage` is an integer type; `storage_min <= storage_max`
/// lie inside the storage type's range; there is at least one scale;
/// `scales.len() == zero_points.len()`; per tensor means `axis == None` and
/// exactly one scale; every scale is finite and > 0 (blocked types: finite,
/// of either sign or zero); every zero point lies in
/// `[storage_min, storage_max]`; a blocked type has an axis and a block size
/// ≥ 1. Whether `axis` (and the block size, and the number of scales) fits
/// the tensor is a property of the [`TensorType`] ([`TensorType::check`]).
#[derive(Clone, Debug)]
pub struct QuantType {
    pub storage: ScalarType,
    pub storage_min: i64,
    pub storage_max: i64,
    /// The quantized axis, for per-axis types.
    pub axis: Option<usize>,
    pub scales: Vec<f32>,
    pub zero_points: Vec<i64>,
    /// The block size along `axis`, for blocked (sub-channel) types: the
    /// parameters then form a tensor of the value's shape with dimension
    /// `axis` divided by the block size (flat, row-major).
    pub block: Option<usize>,
}

impl QuantType {
    /// A per-tensor type with the storage type's full range.
    pub fn per_tensor(storage: ScalarType, scale: f32, zero_point: i64) -> QuantType {
        let (lo, hi) = storage.int_range().unwrap_or((0, 0));
        QuantType {
            storage,
            storage_min: lo,
            storage_max: hi,
            axis: None,
            scales: vec![scale],
            zero_points: vec![zero_point],
            block: None,
        }
    }

    /// A per-axis type with the storage type's full range.
    pub fn per_axis(
        storage: ScalarType,
        axis: usize,
        scales: Vec<f32>,
        zero_points: Vec<i64>,
    ) -> QuantType {
        let (lo, hi) = storage.int_range().unwrap_or((0, 0));
        QuantType {
            storage,
            storage_min: lo,
            storage_max: hi,
            axis: Some(axis),
            scales,
            zero_points,
            block: None,
        }
    }

    /// A blocked (sub-channel) type with the storage type's full range:
    /// blocks of `block` elements along `axis`, the parameters flat in
    /// row-major order of the parameter tensor.
    pub fn blocked(
        storage: ScalarType,
        axis: usize,
        block: usize,
        scales: Vec<f32>,
        zero_points: Vec<i64>,
    ) -> QuantType {
        QuantType {
            block: Some(block),
            ..QuantType::per_axis(storage, axis, scales, zero_points)
        }
    }

    /// True for per-axis and blocked types (both have an axis).
    pub fn is_per_axis(&self) -> bool {
        self.axis.is_some()
    }

    /// True for blocked (sub-channel) types.
    pub fn is_blocked(&self) -> bool {
        self.block.is_some()
    }

    /// The shape of a blocked type's parameter tensor for a value of
    /// `shape`: `shape` with dimension `axis` divided by the block size.
    /// `None` unless the type is blocked and the block divides the axis.
    pub fn param_shape(&self, shape: &[usize]) -> Option<Vec<usize>> {
        let (axis, block) = (self.axis?, self.block?);
        let d = *shape.get(axis)?;
        if block == 0 || d % block != 0 {
            return None;
        }
        let mut p = shape.to_vec();
        p[axis] = d / block;
        Some(p)
    }

    /// The index into `scales` / `zero_points` of the element at row-major
    /// position `flat` of a value of `shape`: per tensor 0, per axis its
    /// coordinate along the axis, blocked the parameter tensor's position
    /// of the element's block. Expects a type that fits `shape`
    /// ([`TensorType::check`]).
    pub fn param_index(&self, shape: &[usize], flat: usize) -> usize {
        let Some(axis) = self.axis else { return 0 };
        let inner: usize = shape[axis + 1..].iter().product();
        let d = shape[axis];
        let along = (flat / inner) % d;
        match self.block {
            None => along,
            Some(b) => {
                let outer = flat / (inner * d);
                (outer * (d / b) + along / b) * inner + flat % inner
            }
        }
    }

    /// True when the storage range is the full range of the storage type.
    pub fn has_full_range(&self) -> bool {
        self.storage.int_range() == Some((self.storage_min, self.storage_max))
    }

    /// Scale for index `i` along the quantized axis (per tensor: always the one scale).
    pub fn scale(&self, i: usize) -> f32 {
        if self.axis.is_some() {
            self.scales[i]
        } else {
            self.scales[0]
        }
    }

    /// Zero point for index `i` along the quantized axis.
    pub fn zero_point(&self, i: usize) -> i64 {
        if self.axis.is_some() {
            self.zero_points[i]
        } else {
            self.zero_points[0]
        }
    }

    /// Checks the invariants listed on [`QuantType`]. The error says which one
    /// failed, in words meant for a diagnostic.
    pub fn check(&self) -> Result<(), String> {
        let Some((lo, hi)) = self.storage.int_range() else {
            return Err(format!(
                "quantized storage type must be an integer type, found `{}`",
                self.storage
            ));
        };
        if self.storage_min > self.storage_max {
            return Err(format!(
                "storage range <{}:{}> is empty",
                self.storage_min, self.storage_max
            ));
        }
        if self.storage_min < lo || self.storage_max > hi {
            return Err(format!(
                "storage range <{}:{}> does not fit in `{}` (range {}..={})",
                self.storage_min, self.storage_max, self.storage, lo, hi
            ));
        }
        if self.scales.is_empty() {
            return Err("a quantized type needs at least one scale".into());
        }
        if self.scales.len() != self.zero_points.len() {
            return Err(format!(
                "{} scales but {} zero points",
                self.scales.len(),
                self.zero_points.len()
            ));
        }
        if self.axis.is_none() && self.scales.len() != 1 {
            return Err("a per-tensor type has exactly one scale".into());
        }
        match (self.block, self.axis) {
            (Some(0), _) => return Err("the block size must be at least 1".into()),
            (Some(_), None) => return Err("a blocked type needs an axis".into()),
            _ => {}
        }
        for (i, &s) in self.scales.iter().enumerate() {
            // Blocked types take any finite scale: onnxruntime's symmetric
            // weight-only quantizer writes negative ones (and `dense_nbits`
            // only multiplies by them).
            if self.block.is_some() && !s.is_finite() {
                return Err(format!("scale must be finite, found {s:?} (index {i})"));
            }
            if self.block.is_none() && (!s.is_finite() || s <= 0.0) {
                let what = if s.is_nan() {
                    "NaN".to_string()
                } else if s.is_infinite() {
                    "infinite".to_string()
                } else {
                    format!("{s:?}")
                };
                let at = if self.axis.is_some() {
                    format!(" (index {i})")
                } else {
                    String::new()
                };
                return Err(format!("scale must be finite and > 0, found {what}{at}"));
            }
        }
        for (i, &z) in self.zero_points.iter().enumerate() {
            if z < self.storage_min || z > self.storage_max {
                let at = if self.axis.is_some() {
                    format!(" (index {i})")
                } else {
                    String::new()
                };
                return Err(format!(
                    "zero point {z}{at} is outside the storage range {}..={} of `{}`",
                    self.storage_min,
                    self.storage_max,
                    self.storage_text()
                ));
            }
        }
        Ok(())
    }

    /// The storage part of the text form: `i8` or `i8<-127:127>`.
    pub fn storage_text(&self) -> String {
        if self.has_full_range() {
            self.storage.name().to_string()
        } else {
            format!(
                "{}<{}:{}>",
                self.storage, self.storage_min, self.storage_max
            )
        }
    }

    /// True when both types have the same scale(s) and zero point(s), bit for
    /// bit, and the same axis (storage may differ).
    pub fn same_params(&self, other: &QuantType) -> bool {
        self.axis == other.axis
            && self.block == other.block
            && self.zero_points == other.zero_points
            && self.scales.len() == other.scales.len()
            && self
                .scales
                .iter()
                .zip(&other.scales)
                .all(|(a, b)| a.to_bits() == b.to_bits())
    }

    #[allow(clippy::type_complexity)]
    fn key(
        &self,
    ) -> (
        ScalarType,
        i64,
        i64,
        Option<usize>,
        Option<usize>,
        Vec<u32>,
        &[i64],
    ) {
        (
            self.storage,
            self.storage_min,
            self.storage_max,
            self.axis,
            self.block,
            self.scales.iter().map(|s| s.to_bits()).collect(),
            &self.zero_points,
        )
    }
}

impl PartialEq for QuantType {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for QuantType {}
impl Hash for QuantType {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state)
    }
}
impl PartialOrd for QuantType {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for QuantType {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

/// Formats an `f32` so that parsing the text gives back the same bits
/// (Rust's shortest round-trip form; always with a `.` or exponent).
pub fn fmt_f32(x: f32) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{x:?}")
    }
}

impl fmt::Display for QuantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "!quant.uniform<{}:f32", self.storage_text())?;
        match self.axis {
            None => {
                write!(f, ", {}", fmt_f32(self.scales[0]))?;
                if self.zero_points[0] != 0 {
                    write!(f, ":{}", self.zero_points[0])?;
                }
            }
            Some(axis) => {
                match self.block {
                    Some(b) => write!(f, ":{{{axis}:{b}}}, {{")?,
                    None => write!(f, ":{axis}, {{")?,
                }
                for (i, (s, z)) in self.scales.iter().zip(&self.zero_points).enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}:{}", fmt_f32(*s), z)?;
                }
                f.write_str("}")?;
            }
        }
        f.write_str(">")
    }
}

/// The element type of a tensor: a plain scalar or a quantized type.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ElemType {
    Scalar(ScalarType),
    Quant(Arc<QuantType>),
}

impl ElemType {
    pub const F32: ElemType = ElemType::Scalar(ScalarType::F32);
    pub const I32: ElemType = ElemType::Scalar(ScalarType::I32);

    pub fn quant(q: QuantType) -> ElemType {
        ElemType::Quant(Arc::new(q))
    }

    /// The type the elements are stored as.
    pub fn storage(&self) -> ScalarType {
        match self {
            ElemType::Scalar(s) => *s,
            ElemType::Quant(q) => q.storage,
        }
    }

    pub fn as_quant(&self) -> Option<&QuantType> {
        match self {
            ElemType::Quant(q) => Some(q),
            ElemType::Scalar(_) => None,
        }
    }

    pub fn is_f32(&self) -> bool {
        *self == ElemType::F32
    }

    /// The integer range a stored element may take: the narrow storage range
    /// of a quantized type, the full range of an integer type, `None` for f32.
    pub fn int_range(&self) -> Option<(i64, i64)> {
        match self {
            ElemType::Scalar(s) => s.int_range(),
            ElemType::Quant(q) => Some((q.storage_min, q.storage_max)),
        }
    }
}

impl fmt::Display for ElemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElemType::Scalar(s) => write!(f, "{s}"),
            ElemType::Quant(q) => write!(f, "{q}"),
        }
    }
}

pub use crate::layout::Layout;

/// The type of every value: static shape, element type, layout.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorType {
    pub shape: Vec<usize>,
    pub elem: ElemType,
    pub layout: Layout,
}

impl TensorType {
    pub fn new(shape: impl Into<Vec<usize>>, elem: ElemType) -> TensorType {
        TensorType {
            shape: shape.into(),
            elem,
            layout: Layout::RowMajor,
        }
    }

    pub fn f32(shape: impl Into<Vec<usize>>) -> TensorType {
        TensorType::new(shape, ElemType::F32)
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements, `None` if it overflows `usize`.
    pub fn num_elements(&self) -> Option<usize> {
        self.shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
    }

    /// Same type with another shape.
    pub fn with_shape(&self, shape: impl Into<Vec<usize>>) -> TensorType {
        TensorType {
            shape: shape.into(),
            elem: self.elem.clone(),
            layout: self.layout,
        }
    }

    /// Same shape and layout with another element type.
    pub fn with_elem(&self, elem: ElemType) -> TensorType {
        TensorType {
            shape: self.shape.clone(),
            elem,
            layout: self.layout,
        }
    }

    /// Checks the element type's invariants and that a per-axis type fits the
    /// shape (axis < rank, one scale per index along the axis).
    pub fn check(&self) -> Result<(), String> {
        if let ElemType::Quant(q) = &self.elem {
            q.check()?;
            if let Some(axis) = q.axis {
                if axis >= self.rank() {
                    return Err(format!(
                        "quantized axis {axis} is out of range for a tensor of rank {}",
                        self.rank()
                    ));
                }
                if let Some(b) = q.block {
                    let d = self.shape[axis];
                    if !d.is_multiple_of(b) {
                        return Err(format!(
                            "block size {b} does not divide dimension {axis} (size {d})"
                        ));
                    }
                    let want: Vec<usize> = q.param_shape(&self.shape).unwrap_or_default();
                    let n: usize = want.iter().product();
                    if q.scales.len() != n {
                        return Err(format!(
                            "blocked type has {} scales but a {:?} tensor in blocks of {b} \
                             along axis {axis} has {n} blocks (parameter shape {want:?})",
                            q.scales.len(),
                            self.shape
                        ));
                    }
                    if self.layout.is_packed() {
                        return Err("a blocked type cannot be in a packed layout".into());
                    }
                } else if q.scales.len() != self.shape[axis] {
                    return Err(format!(
                        "per-axis type has {} scales but dimension {axis} has size {}",
                        q.scales.len(),
                        self.shape[axis]
                    ));
                }
            }
        }
        if self.num_elements().is_none() {
            return Err("the number of elements overflows".into());
        }
        self.layout.check(&self.shape, &self.elem)
    }

    /// Same shape and element type, laid out in `layout`.
    pub fn with_layout(&self, layout: Layout) -> TensorType {
        TensorType {
            shape: self.shape.clone(),
            elem: self.elem.clone(),
            layout,
        }
    }

    /// How many elements the data of a value of this type stores: the
    /// element count, or the padded size of a packed layout
    /// (`crate::layout`). `None` on overflow or a layout that does not fit.
    pub fn storage_len(&self) -> Option<usize> {
        match self.layout {
            Layout::RowMajor => self.num_elements(),
            l => l.geometry(&self.shape).map(|g| g.len()),
        }
    }

    /// The shape of the stored data: the shape, or `[storage_len]` for a
    /// packed layout (what a `.npy` file of the data holds).
    pub fn storage_shape(&self) -> Vec<usize> {
        match self.layout {
            Layout::RowMajor => self.shape.clone(),
            _ => vec![self.storage_len().unwrap_or(0)],
        }
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tensor<")?;
        for d in &self.shape {
            write!(f, "{d}x")?;
        }
        write!(f, "{}", self.elem)?;
        if self.layout.is_packed() {
            write!(f, ", {}", self.layout)?;
        }
        f.write_str(">")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_forms() {
        let q = QuantType::per_tensor(ScalarType::U8, 0.0235, 128);
        assert_eq!(q.to_string(), "!quant.uniform<u8:f32, 0.0235:128>");
        let mut n = QuantType::per_tensor(ScalarType::I8, 0.5, 0);
        n.storage_min = -127;
        assert_eq!(n.to_string(), "!quant.uniform<i8<-127:127>:f32, 0.5>");
        let a = QuantType::per_axis(ScalarType::I8, 0, vec![0.012, 0.0098], vec![0, 0]);
        assert_eq!(
            a.to_string(),
            "!quant.uniform<i8:f32:0, {0.012:0, 0.0098:0}>"
        );
        let t = TensorType::new(vec![1, 64], ElemType::quant(q));
        assert_eq!(
            t.to_string(),
            "tensor<1x64x!quant.uniform<u8:f32, 0.0235:128>>"
        );
        assert_eq!(TensorType::f32(vec![]).to_string(), "tensor<f32>");
    }

    #[test]
    fn check_rejects_bad_params() {
        assert!(
            QuantType::per_tensor(ScalarType::U8, 0.0, 0)
                .check()
                .is_err()
        );
        assert!(
            QuantType::per_tensor(ScalarType::U8, f32::NAN, 0)
                .check()
                .is_err()
        );
        assert!(
            QuantType::per_tensor(ScalarType::U8, -1.0, 0)
                .check()
                .is_err()
        );
        assert!(
            QuantType::per_tensor(ScalarType::U8, 1.0, 256)
                .check()
                .is_err()
        );
        assert!(
            QuantType::per_tensor(ScalarType::I8, 1.0, -128)
                .check()
                .is_ok()
        );
        assert!(
            QuantType::per_tensor(ScalarType::F32, 1.0, 0)
                .check()
                .is_err()
        );
        let t = TensorType::new(
            vec![3, 2],
            ElemType::quant(QuantType::per_axis(
                ScalarType::I8,
                0,
                vec![1.0; 2],
                vec![0; 2],
            )),
        );
        assert!(
            t.check()
                .unwrap_err()
                .contains("2 scales but dimension 0 has size 3")
        );
    }

    #[test]
    fn equality_is_bitwise() {
        let a = QuantType::per_tensor(ScalarType::U8, 0.1, 3);
        let b = QuantType::per_tensor(ScalarType::U8, 0.1, 3);
        assert_eq!(a, b);
        let c = QuantType::per_tensor(ScalarType::U8, f32::from_bits(0.1f32.to_bits() + 1), 3);
        assert_ne!(a, c);
    }
}
