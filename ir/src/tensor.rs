//! Tensor data: the stored elements of constants, inputs and outputs.
//!
//! Data is kept in its storage type (a quantized tensor holds its integer
//! codes), row-major. 4-bit types are packed two to a byte, the element with
//! the lower index in the low nibble, as in ONNX.

use crate::types::ScalarType;
use std::hash::{Hash, Hasher};

/// Packed 4-bit elements.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Packed4 {
    pub bytes: Vec<u8>,
    pub len: usize,
}

impl Packed4 {
    fn nibble(&self, i: usize) -> u8 {
        let b = self.bytes[i / 2];
        if i.is_multiple_of(2) {
            b & 0x0f
        } else {
            b >> 4
        }
    }

    fn from_nibbles(vals: impl ExactSizeIterator<Item = u8>) -> Packed4 {
        let len = vals.len();
        let mut bytes = vec![0u8; len.div_ceil(2)];
        for (i, v) in vals.enumerate() {
            bytes[i / 2] |= (v & 0x0f) << (4 * (i % 2));
        }
        Packed4 { bytes, len }
    }
}

/// Row-major elements of one storage type.
#[derive(Clone, Debug)]
pub enum TensorData {
    F32(Vec<f32>),
    I32(Vec<i32>),
    I16(Vec<i16>),
    U16(Vec<u16>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    I4(Packed4),
    U4(Packed4),
}

/// An integer outside the range of the storage type it was to be stored in.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("value {value} at index {index} does not fit in {ty}")]
pub struct OutOfRange {
    pub value: i64,
    pub index: usize,
    pub ty: ScalarType,
}

impl TensorData {
    pub fn scalar_type(&self) -> ScalarType {
        match self {
            TensorData::F32(_) => ScalarType::F32,
            TensorData::I32(_) => ScalarType::I32,
            TensorData::I16(_) => ScalarType::I16,
            TensorData::U16(_) => ScalarType::U16,
            TensorData::I8(_) => ScalarType::I8,
            TensorData::U8(_) => ScalarType::U8,
            TensorData::I4(_) => ScalarType::I4,
            TensorData::U4(_) => ScalarType::U4,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::I16(v) => v.len(),
            TensorData::U16(v) => v.len(),
            TensorData::I8(v) => v.len(),
            TensorData::U8(v) => v.len(),
            TensorData::I4(p) | TensorData::U4(p) => p.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `n` zeros of type `ty`.
    pub fn zeros(ty: ScalarType, n: usize) -> TensorData {
        match ty {
            ScalarType::F32 => TensorData::F32(vec![0.0; n]),
            _ => TensorData::from_i64s(ty, &vec![0; n]).expect("0 fits every type"),
        }
    }

    /// Element `i` as an integer (`None` for f32 data).
    pub fn get_int(&self, i: usize) -> Option<i64> {
        Some(match self {
            TensorData::F32(_) => return None,
            TensorData::I32(v) => v[i] as i64,
            TensorData::I16(v) => v[i] as i64,
            TensorData::U16(v) => v[i] as i64,
            TensorData::I8(v) => v[i] as i64,
            TensorData::U8(v) => v[i] as i64,
            TensorData::I4(p) => ((p.nibble(i) << 4) as i8 >> 4) as i64,
            TensorData::U4(p) => p.nibble(i) as i64,
        })
    }

    /// All elements as integers (`None` for f32 data).
    pub fn to_i64s(&self) -> Option<Vec<i64>> {
        if let TensorData::F32(_) = self {
            return None;
        }
        Some(
            (0..self.len())
                .map(|i| self.get_int(i).expect("integer data"))
                .collect(),
        )
    }

    /// The f32 elements (`None` for integer data).
    pub fn as_f32(&self) -> Option<&[f32]> {
        match self {
            TensorData::F32(v) => Some(v),
            _ => None,
        }
    }

    /// Stores integers as `ty`; an integer outside `ty`'s range is an error.
    /// `ty` must be an integer type.
    pub fn from_i64s(ty: ScalarType, vals: &[i64]) -> Result<TensorData, OutOfRange> {
        let (lo, hi) = ty.int_range().expect("from_i64s needs an integer type");
        // A branch-free scan first (it vectorizes: weights can be large),
        // the position only when something is out of range.
        let in_range = vals.iter().fold(true, |ok, &v| ok & (v >= lo) & (v <= hi));
        if !in_range
            && let Some((index, &value)) =
                vals.iter().enumerate().find(|(_, v)| **v < lo || **v > hi)
        {
            return Err(OutOfRange { value, index, ty });
        }
        Ok(match ty {
            ScalarType::F32 => unreachable!("checked above"),
            ScalarType::I32 => TensorData::I32(vals.iter().map(|&v| v as i32).collect()),
            ScalarType::I16 => TensorData::I16(vals.iter().map(|&v| v as i16).collect()),
            ScalarType::U16 => TensorData::U16(vals.iter().map(|&v| v as u16).collect()),
            ScalarType::I8 => TensorData::I8(vals.iter().map(|&v| v as i8).collect()),
            ScalarType::U8 => TensorData::U8(vals.iter().map(|&v| v as u8).collect()),
            ScalarType::I4 => TensorData::I4(Packed4::from_nibbles(vals.iter().map(|&v| v as u8))),
            ScalarType::U4 => TensorData::U4(Packed4::from_nibbles(vals.iter().map(|&v| v as u8))),
        })
    }

    /// The stored bytes, little-endian, 4-bit types packed (low nibble first).
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            TensorData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::I16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::U16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::I8(v) => v.iter().map(|&x| x as u8).collect(),
            TensorData::U8(v) => v.clone(),
            TensorData::I4(p) | TensorData::U4(p) => p.bytes.clone(),
        }
    }

    /// Reads `n` elements of `ty` from little-endian bytes (the inverse of
    /// [`TensorData::to_le_bytes`]). The byte count must be exact.
    pub fn from_le_bytes(ty: ScalarType, bytes: &[u8], n: usize) -> Result<TensorData, String> {
        let want = ty.storage_bytes(n);
        if bytes.len() != want {
            return Err(format!(
                "expected {want} bytes for {n} elements of {ty}, found {}",
                bytes.len()
            ));
        }
        Ok(match ty {
            ScalarType::F32 => TensorData::F32(
                bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
            ),
            ScalarType::I32 => TensorData::I32(
                bytes
                    .chunks_exact(4)
                    .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
            ),
            ScalarType::I16 => TensorData::I16(
                bytes
                    .chunks_exact(2)
                    .map(|c| i16::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
            ),
            ScalarType::U16 => TensorData::U16(
                bytes
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
            ),
            ScalarType::I8 => TensorData::I8(bytes.iter().map(|&b| b as i8).collect()),
            ScalarType::U8 => TensorData::U8(bytes.to_vec()),
            ScalarType::I4 | ScalarType::U4 => {
                if n % 2 == 1 && bytes[n / 2] >> 4 != 0 {
                    return Err("the unused high nibble of the last byte must be 0".into());
                }
                let p = Packed4 {
                    bytes: bytes.to_vec(),
                    len: n,
                };
                if ty == ScalarType::I4 {
                    TensorData::I4(p)
                } else {
                    TensorData::U4(p)
                }
            }
        })
    }
}

impl PartialEq for TensorData {
    /// Bitwise equality (so that NaN == NaN and 0.0 != -0.0 for f32).
    fn eq(&self, other: &Self) -> bool {
        use TensorData as T;
        match (self, other) {
            (T::F32(a), T::F32(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            (T::I32(a), T::I32(b)) => a == b,
            (T::I16(a), T::I16(b)) => a == b,
            (T::U16(a), T::U16(b)) => a == b,
            (T::I8(a), T::I8(b)) => a == b,
            (T::U8(a), T::U8(b)) => a == b,
            (T::I4(a), T::I4(b)) | (T::U4(a), T::U4(b)) => a.len == b.len && a.bytes == b.bytes,
            _ => false,
        }
    }
}
impl Eq for TensorData {}

impl Hash for TensorData {
    /// The type, the length and a sample of the elements (all of them up to
    /// 256; else the first and last 64 and 128 spread between): equal data
    /// hashes equal, and a constant of many megabytes is not read whole
    /// each time an e-graph or a map looks it up (equality still compares
    /// everything).
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.scalar_type().hash(state);
        let n = self.len();
        n.hash(state);
        let bits = |i: usize| -> u64 {
            match self {
                TensorData::F32(v) => v[i].to_bits() as u64,
                d => d.get_int(i).unwrap_or(0) as u64,
            }
        };
        if n <= 256 {
            (0..n).for_each(|i| bits(i).hash(state));
        } else {
            (0..64).for_each(|i| bits(i).hash(state));
            (n - 64..n).for_each(|i| bits(i).hash(state));
            let step = (n - 128) / 128;
            (0..128).for_each(|j| bits(64 + j * step).hash(state));
        }
    }
}

/// A tensor value: shape and row-major stored data.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: TensorData,
}

impl Tensor {
    /// Panics if the element count does not match the shape.
    pub fn new(shape: impl Into<Vec<usize>>, data: TensorData) -> Tensor {
        let shape = shape.into();
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "shape and data disagree"
        );
        Tensor { shape, data }
    }

    pub fn f32(shape: impl Into<Vec<usize>>, data: Vec<f32>) -> Tensor {
        Tensor::new(shape, TensorData::F32(data))
    }

    pub fn scalar_type(&self) -> ScalarType {
        self.data.scalar_type()
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int4_packs_low_nibble_first() {
        let d = TensorData::from_i64s(ScalarType::I4, &[1, -2, 7, -8, 3]).unwrap();
        assert_eq!(d.to_le_bytes(), vec![0xe1, 0x87, 0x03]);
        assert_eq!(d.to_i64s().unwrap(), vec![1, -2, 7, -8, 3]);
        let u = TensorData::from_i64s(ScalarType::U4, &[15, 0, 9]).unwrap();
        assert_eq!(u.to_le_bytes(), vec![0x0f, 0x09]);
        assert_eq!(u.to_i64s().unwrap(), vec![15, 0, 9]);
        assert!(TensorData::from_i64s(ScalarType::I4, &[8]).is_err());
        assert!(TensorData::from_i64s(ScalarType::U4, &[-1]).is_err());
    }

    #[test]
    fn le_bytes_round_trip() {
        let cases = [
            TensorData::F32(vec![1.5, -0.0, f32::NAN]),
            TensorData::from_i64s(ScalarType::I32, &[i32::MIN as i64, 7]).unwrap(),
            TensorData::from_i64s(ScalarType::I16, &[-300, 300]).unwrap(),
            TensorData::from_i64s(ScalarType::I8, &[-128, 127]).unwrap(),
            TensorData::from_i64s(ScalarType::U8, &[0, 255]).unwrap(),
            TensorData::from_i64s(ScalarType::I4, &[-8, 7, 1]).unwrap(),
        ];
        for d in cases {
            let b = d.to_le_bytes();
            assert_eq!(
                TensorData::from_le_bytes(d.scalar_type(), &b, d.len()).unwrap(),
                d
            );
        }
        assert!(TensorData::from_le_bytes(ScalarType::I32, &[0, 0, 0], 1).is_err());
        assert!(TensorData::from_le_bytes(ScalarType::U4, &[0x10], 1).is_err());
    }
}
