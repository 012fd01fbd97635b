//! ONNX element types and constant tensors: decoding a `TensorProto`
//! (typed fields, `raw_data`, external data files) into an [`OnnxTensor`].

use crate::error::ImportError;
use crate::proto::{TensorProto, tensor_proto};
use qcc_ir::{ScalarType, Tensor, TensorData};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path};

/// The largest number of elements a constant may have (2^31): a malformed
/// file with huge dimensions is refused before anything is allocated.
pub const MAX_ELEMENTS: usize = 1 << 31;

/// `TensorProto.DataType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    Float,
    Uint8,
    Int8,
    Uint16,
    Int16,
    Int32,
    Int64,
    String,
    Bool,
    Float16,
    Double,
    Uint32,
    Uint64,
    BFloat16,
    Uint4,
    Int4,
    /// Any other code (complex, float8, float4, 2-bit, ...), kept by number.
    Other(i32),
}

impl DType {
    pub fn from_code(c: i32) -> DType {
        match c {
            1 => DType::Float,
            2 => DType::Uint8,
            3 => DType::Int8,
            4 => DType::Uint16,
            5 => DType::Int16,
            6 => DType::Int32,
            7 => DType::Int64,
            8 => DType::String,
            9 => DType::Bool,
            10 => DType::Float16,
            11 => DType::Double,
            12 => DType::Uint32,
            13 => DType::Uint64,
            16 => DType::BFloat16,
            21 => DType::Uint4,
            22 => DType::Int4,
            c => DType::Other(c),
        }
    }

    /// The ONNX name (`UINT8`, `FLOAT8E4M3FN`, ...).
    pub fn name(self) -> String {
        match self {
            DType::Float => "FLOAT".into(),
            DType::Uint8 => "UINT8".into(),
            DType::Int8 => "INT8".into(),
            DType::Uint16 => "UINT16".into(),
            DType::Int16 => "INT16".into(),
            DType::Int32 => "INT32".into(),
            DType::Int64 => "INT64".into(),
            DType::String => "STRING".into(),
            DType::Bool => "BOOL".into(),
            DType::Float16 => "FLOAT16".into(),
            DType::Double => "DOUBLE".into(),
            DType::Uint32 => "UINT32".into(),
            DType::Uint64 => "UINT64".into(),
            DType::BFloat16 => "BFLOAT16".into(),
            DType::Uint4 => "UINT4".into(),
            DType::Int4 => "INT4".into(),
            DType::Other(c) => match c {
                0 => "UNDEFINED".into(),
                14 => "COMPLEX64".into(),
                15 => "COMPLEX128".into(),
                17 => "FLOAT8E4M3FN".into(),
                18 => "FLOAT8E4M3FNUZ".into(),
                19 => "FLOAT8E5M2".into(),
                20 => "FLOAT8E5M2FNUZ".into(),
                23 => "FLOAT4E2M1".into(),
                24 => "FLOAT8E8M0".into(),
                25 => "UINT2".into(),
                26 => "INT2".into(),
                27 => "FLOAT6E2M3".into(),
                28 => "FLOAT6E3M2".into(),
                c => format!("data type {c}"),
            },
        }
    }

    /// The qcc storage type of this ONNX type, if qcc has one.
    pub fn scalar(self) -> Option<ScalarType> {
        Some(match self {
            DType::Float => ScalarType::F32,
            DType::Uint8 => ScalarType::U8,
            DType::Int8 => ScalarType::I8,
            DType::Int16 => ScalarType::I16,
            DType::Uint16 => ScalarType::U16,
            DType::Int32 => ScalarType::I32,
            // A boolean is a u8 holding 0 or 1.
            DType::Bool => ScalarType::U8,
            DType::Uint4 => ScalarType::U4,
            DType::Int4 => ScalarType::I4,
            _ => return None,
        })
    }

    /// The ONNX type of a qcc storage type.
    pub fn of_scalar(s: ScalarType) -> DType {
        match s {
            ScalarType::F32 => DType::Float,
            ScalarType::U8 => DType::Uint8,
            ScalarType::I8 => DType::Int8,
            ScalarType::I16 => DType::Int16,
            ScalarType::U16 => DType::Uint16,
            ScalarType::I32 => DType::Int32,
            ScalarType::U4 => DType::Uint4,
            ScalarType::I4 => DType::Int4,
        }
    }

    /// Integer types whose values fit in an i64 (bool included).
    pub fn is_int(self) -> bool {
        matches!(
            self,
            DType::Uint8
                | DType::Int8
                | DType::Uint16
                | DType::Int16
                | DType::Int32
                | DType::Int64
                | DType::Bool
                | DType::Uint32
                | DType::Uint64
                | DType::Uint4
                | DType::Int4
        )
    }

    /// Float types read as f32 (float16 and bfloat16 exactly, double rounded).
    pub fn is_float(self) -> bool {
        matches!(
            self,
            DType::Float | DType::Float16 | DType::BFloat16 | DType::Double
        )
    }

    /// The value range of an integer type.
    pub fn int_range(self) -> Option<(i64, i64)> {
        Some(match self {
            DType::Uint8 => (0, 255),
            DType::Int8 => (-128, 127),
            DType::Uint16 => (0, 65535),
            DType::Int16 => (-32768, 32767),
            DType::Int32 => (i32::MIN as i64, i32::MAX as i64),
            DType::Int64 | DType::Uint64 => (i64::MIN, i64::MAX),
            DType::Uint32 => (0, u32::MAX as i64),
            DType::Bool => (0, 1),
            DType::Uint4 => (0, 15),
            DType::Int4 => (-8, 7),
            _ => return None,
        })
    }

    /// Bytes of `n` elements in `raw_data`, if this type can be read.
    fn raw_bytes(self, n: usize) -> Option<usize> {
        let per = match self {
            DType::Uint4 | DType::Int4 => return Some(n.div_ceil(2)),
            DType::Uint8 | DType::Int8 | DType::Bool => 1,
            DType::Uint16 | DType::Int16 | DType::Float16 | DType::BFloat16 => 2,
            DType::Float | DType::Int32 | DType::Uint32 => 4,
            DType::Int64 | DType::Uint64 | DType::Double => 8,
            _ => return None,
        };
        n.checked_mul(per)
    }
}

/// The elements of a constant: floats as f32, integers as i64.
#[derive(Clone, Debug, PartialEq)]
pub enum OnnxData {
    F32(Vec<f32>),
    Int(Vec<i64>),
}

/// A constant ONNX tensor (an initializer, a `Constant`, a bound input or a
/// folded value).
#[derive(Clone, Debug, PartialEq)]
pub struct OnnxTensor {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub data: OnnxData,
}

impl OnnxTensor {
    pub fn len(&self) -> usize {
        match &self.data {
            OnnxData::F32(v) => v.len(),
            OnnxData::Int(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn ints(&self) -> Option<&[i64]> {
        match &self.data {
            OnnxData::Int(v) => Some(v),
            OnnxData::F32(_) => None,
        }
    }

    pub fn floats(&self) -> Option<&[f32]> {
        match &self.data {
            OnnxData::F32(v) => Some(v),
            OnnxData::Int(_) => None,
        }
    }

    pub fn from_ints(dtype: DType, shape: Vec<usize>, v: Vec<i64>) -> OnnxTensor {
        OnnxTensor {
            dtype,
            shape,
            data: OnnxData::Int(v),
        }
    }

    pub fn from_f32(shape: Vec<usize>, v: Vec<f32>) -> OnnxTensor {
        OnnxTensor {
            dtype: DType::Float,
            shape,
            data: OnnxData::F32(v),
        }
    }

    /// The data in a qcc storage type (integers range-checked).
    pub fn to_data(&self, storage: ScalarType) -> Result<TensorData, String> {
        match (&self.data, storage) {
            (OnnxData::F32(v), ScalarType::F32) => Ok(TensorData::F32(v.clone())),
            (OnnxData::Int(v), s) if s != ScalarType::F32 => {
                TensorData::from_i64s(s, v).map_err(|e| e.to_string())
            }
            _ => Err(format!(
                "{} data cannot be stored as {storage}",
                self.dtype.name()
            )),
        }
    }

    /// A caller's tensor (`--bind name=file.npy`) as a constant of the
    /// declared ONNX type.
    pub fn from_tensor(t: &Tensor, dtype: DType) -> Result<OnnxTensor, String> {
        let data = match (&t.data, dtype.is_float(), dtype.is_int()) {
            (TensorData::F32(v), true, _) => OnnxData::F32(v.clone()),
            (d, _, true) if d.scalar_type() != ScalarType::F32 => {
                let v = d.to_i64s().unwrap_or_default();
                let (lo, hi) = dtype.int_range().unwrap_or((i64::MIN, i64::MAX));
                if let Some(x) = v.iter().find(|x| **x < lo || **x > hi) {
                    return Err(format!("value {x} does not fit in {}", dtype.name()));
                }
                OnnxData::Int(v)
            }
            (d, _, _) => {
                return Err(format!(
                    "{} data given for an input of type {}",
                    d.scalar_type(),
                    dtype.name()
                ));
            }
        };
        Ok(OnnxTensor {
            dtype,
            shape: t.shape.clone(),
            data,
        })
    }
}

/// Converts IEEE binary16 bits to f32 (exact).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = if h >> 15 == 1 { -1.0f32 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let mant = (h & 0x3ff) as u32;
    match exp {
        0 => sign * (mant as f32) * f32::from_bits(0x3380_0000), // 2^-24
        31 => {
            let bits = ((h as u32 >> 15) << 31) | 0x7f80_0000 | (mant << 13);
            f32::from_bits(bits)
        }
        e => {
            let bits = ((h as u32 >> 15) << 31) | (((e + 112) as u32) << 23) | (mant << 13);
            f32::from_bits(bits)
        }
    }
}

/// Decodes a `TensorProto`. `base_dir` is the model's folder (for external
/// data); without it external data is refused.
pub fn decode(tp: &TensorProto, base_dir: Option<&Path>) -> Result<OnnxTensor, ImportError> {
    let name = tp.name.clone().unwrap_or_default();
    let err = |reason: String| ImportError::Tensor {
        name: name.clone(),
        reason,
    };
    let mut shape = Vec::with_capacity(tp.dims.len());
    let mut n: usize = 1;
    for &d in &tp.dims {
        let d = usize::try_from(d).map_err(|_| err(format!("negative dimension {d}")))?;
        n = n
            .checked_mul(d)
            .filter(|&n| n <= MAX_ELEMENTS)
            .ok_or_else(|| err(format!("dimensions {:?} are too large", tp.dims)))?;
        shape.push(d);
    }
    let dtype = DType::from_code(tp.data_type.unwrap_or(0));
    if tp.segment.is_some() {
        return Err(err("segmented tensors are not supported".into()));
    }
    if !(dtype.is_int() || dtype.is_float()) {
        return Err(err(format!(
            "element type {} is not supported",
            dtype.name()
        )));
    }
    let raw: Option<Vec<u8>> = if tp.data_location == Some(tensor_proto::EXTERNAL) {
        Some(read_external(tp, base_dir).map_err(err)?)
    } else {
        tp.raw_data.clone()
    };
    let data = match raw {
        Some(bytes) => from_raw(dtype, &bytes, n).map_err(err)?,
        None => from_typed(tp, dtype, n).map_err(err)?,
    };
    Ok(OnnxTensor { dtype, shape, data })
}

fn from_raw(dtype: DType, b: &[u8], n: usize) -> Result<OnnxData, String> {
    let want = dtype
        .raw_bytes(n)
        .ok_or_else(|| format!("{} cannot be read", dtype.name()))?;
    if b.len() != want {
        return Err(format!(
            "raw data has {} bytes, but {n} elements of {} need {want}",
            b.len(),
            dtype.name()
        ));
    }
    fn le<const K: usize>(b: &[u8]) -> impl Iterator<Item = [u8; K]> + '_ {
        b.chunks_exact(K).map(|c| {
            let mut a = [0u8; K];
            a.copy_from_slice(c);
            a
        })
    }
    Ok(match dtype {
        DType::Float => OnnxData::F32(le::<4>(b).map(f32::from_le_bytes).collect()),
        DType::Float16 => OnnxData::F32(
            le::<2>(b)
                .map(|a| f16_to_f32(u16::from_le_bytes(a)))
                .collect(),
        ),
        DType::BFloat16 => OnnxData::F32(
            le::<2>(b)
                .map(|a| f32::from_bits((u16::from_le_bytes(a) as u32) << 16))
                .collect(),
        ),
        DType::Double => OnnxData::F32(le::<8>(b).map(|a| f64::from_le_bytes(a) as f32).collect()),
        DType::Uint8 | DType::Bool => OnnxData::Int(b.iter().map(|&x| x as i64).collect()),
        DType::Int8 => OnnxData::Int(b.iter().map(|&x| x as i8 as i64).collect()),
        DType::Uint16 => OnnxData::Int(le::<2>(b).map(|a| u16::from_le_bytes(a) as i64).collect()),
        DType::Int16 => OnnxData::Int(le::<2>(b).map(|a| i16::from_le_bytes(a) as i64).collect()),
        DType::Int32 => OnnxData::Int(le::<4>(b).map(|a| i32::from_le_bytes(a) as i64).collect()),
        DType::Uint32 => OnnxData::Int(le::<4>(b).map(|a| u32::from_le_bytes(a) as i64).collect()),
        DType::Int64 => OnnxData::Int(le::<8>(b).map(i64::from_le_bytes).collect()),
        DType::Uint64 => {
            let v: Vec<i64> = le::<8>(b)
                .map(|a| i64::try_from(u64::from_le_bytes(a)).unwrap_or(-1))
                .collect();
            if v.contains(&-1) {
                return Err("a UINT64 value does not fit in i64".into());
            }
            OnnxData::Int(v)
        }
        DType::Uint4 | DType::Int4 => OnnxData::Int(unpack4(dtype, b.iter().copied(), n)),
        _ => return Err(format!("{} cannot be read", dtype.name())),
    })
}

fn unpack4(dtype: DType, bytes: impl Iterator<Item = u8>, n: usize) -> Vec<i64> {
    let mut out = Vec::with_capacity(n);
    for b in bytes {
        for nib in [b & 0x0f, b >> 4] {
            if out.len() < n {
                out.push(if dtype == DType::Int4 {
                    ((nib << 4) as i8 >> 4) as i64
                } else {
                    nib as i64
                });
            }
        }
    }
    out
}

fn from_typed(tp: &TensorProto, dtype: DType, n: usize) -> Result<OnnxData, String> {
    let count = |len: usize, field: &str| {
        if len == n {
            Ok(())
        } else {
            Err(format!(
                "{field} has {len} elements, but the dimensions need {n}"
            ))
        }
    };
    Ok(match dtype {
        DType::Float => {
            count(tp.float_data.len(), "float_data")?;
            OnnxData::F32(tp.float_data.clone())
        }
        DType::Double => {
            count(tp.double_data.len(), "double_data")?;
            OnnxData::F32(tp.double_data.iter().map(|&x| x as f32).collect())
        }
        DType::Float16 | DType::BFloat16 => {
            count(tp.int32_data.len(), "int32_data")?;
            OnnxData::F32(
                tp.int32_data
                    .iter()
                    .map(|&x| {
                        if dtype == DType::Float16 {
                            f16_to_f32(x as u16)
                        } else {
                            f32::from_bits((x as u32 & 0xffff) << 16)
                        }
                    })
                    .collect(),
            )
        }
        DType::Int64 => {
            count(tp.int64_data.len(), "int64_data")?;
            OnnxData::Int(tp.int64_data.clone())
        }
        DType::Uint32 | DType::Uint64 => {
            count(tp.uint64_data.len(), "uint64_data")?;
            let v: Result<Vec<i64>, _> = tp.uint64_data.iter().map(|&x| i64::try_from(x)).collect();
            OnnxData::Int(v.map_err(|_| "a UINT64 value does not fit in i64".to_string())?)
        }
        DType::Uint4 | DType::Int4 => {
            if tp.int32_data.len() != n.div_ceil(2) {
                return Err(format!(
                    "int32_data has {} entries, but {n} 4-bit elements need {} (two per entry)",
                    tp.int32_data.len(),
                    n.div_ceil(2)
                ));
            }
            OnnxData::Int(unpack4(dtype, tp.int32_data.iter().map(|&x| x as u8), n))
        }
        _ => {
            count(tp.int32_data.len(), "int32_data")?;
            let (lo, hi) = dtype.int_range().unwrap_or((i64::MIN, i64::MAX));
            let v: Vec<i64> = tp.int32_data.iter().map(|&x| x as i64).collect();
            if let Some(x) = v.iter().find(|x| **x < lo || **x > hi) {
                return Err(format!("value {x} does not fit in {}", dtype.name()));
            }
            OnnxData::Int(v)
        }
    })
}

/// Reads an external data file: `location` relative to the model's folder
/// (absolute paths and paths that leave the folder are refused), `offset`
/// and `length` in bytes.
fn read_external(tp: &TensorProto, base_dir: Option<&Path>) -> Result<Vec<u8>, String> {
    let Some(base) = base_dir else {
        return Err("external data needs the model's path (import from a file)".into());
    };
    let mut location = None;
    let mut offset: u64 = 0;
    let mut length: Option<u64> = None;
    for e in &tp.external_data {
        let v = e.value.clone().unwrap_or_default();
        match e.key.as_deref().unwrap_or("") {
            "location" => location = Some(v),
            "offset" => offset = v.parse().map_err(|_| format!("bad offset `{v}`"))?,
            "length" => length = Some(v.parse().map_err(|_| format!("bad length `{v}`"))?),
            _ => {}
        }
    }
    let location = location.ok_or("external data without a `location`")?;
    let rel = Path::new(&location);
    if rel.as_os_str().is_empty()
        || rel
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!(
            "external data location `{location}` must be a relative path inside the model's folder"
        ));
    }
    let path = base.join(rel);
    // Symbolic links must not lead out of the folder either.
    let canon_base = base
        .canonicalize()
        .map_err(|e| format!("cannot resolve `{}`: {e}", base.display()))?;
    let canon = path
        .canonicalize()
        .map_err(|e| format!("cannot open external data `{location}`: {e}"))?;
    if !canon.starts_with(&canon_base) {
        return Err(format!(
            "external data location `{location}` leaves the model's folder"
        ));
    }
    let mut f = std::fs::File::open(&canon)
        .map_err(|e| format!("cannot open external data `{location}`: {e}"))?;
    let size = f
        .metadata()
        .map_err(|e| format!("cannot read `{location}`: {e}"))?
        .len();
    let len = length.unwrap_or(size.saturating_sub(offset));
    if offset.checked_add(len).is_none_or(|end| end > size) {
        return Err(format!(
            "external data `{location}` has {size} bytes; offset {offset} + length {len} is past its end"
        ));
    }
    if len > (MAX_ELEMENTS as u64) * 8 {
        return Err(format!("external data of {len} bytes is too large"));
    }
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| format!("cannot read `{location}`: {e}"))?;
    let mut buf = vec![0u8; len as usize];
    f.read_exact(&mut buf)
        .map_err(|e| format!("cannot read `{location}`: {e}"))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_floats() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0xfc00), f32::NEG_INFINITY);
    }

    #[test]
    fn int4_unpacks_low_nibble_first() {
        assert_eq!(
            unpack4(DType::Int4, [0xe1u8, 0x07].into_iter(), 3),
            vec![1, -2, 7]
        );
        assert_eq!(unpack4(DType::Uint4, [0xf0u8].into_iter(), 2), vec![0, 15]);
    }
}
