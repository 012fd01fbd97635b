//! Reading and writing tensors as NumPy `.npy` files (through `npyz`).
//!
//! dtypes: `f32` ↔ `<f4`, `i32` ↔ `<i4`, `i16` ↔ `<i2`, `i8` ↔ `|i1`,
//! `u8` ↔ `|u1`; `<i8` (int64) reads as `i32` when every value fits (qcc
//! keeps 64-bit integers in i32). NumPy has no 4-bit types: `i4` tensors are stored as `|i1`
//! and `u4` tensors as `|u1`, one element per byte, and loading checks that
//! every value fits in 4 bits. Fortran-ordered arrays are reordered.

use crate::tensor::{Tensor, TensorData};
use crate::types::{ScalarType, TensorType};
use npyz::{DType, NpyFile, WriterBuilder};
use std::path::Path;

/// Why a `.npy` file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("`{path}` is not a valid .npy file: {reason}")]
    Format { path: String, reason: String },
    #[error("`{path}` holds {found} data, but {expected} is needed")]
    Dtype {
        path: String,
        found: String,
        expected: String,
    },
    #[error("`{path}` has shape {found:?}, but {expected:?} is needed")]
    Shape {
        path: String,
        found: Vec<u64>,
        expected: Vec<usize>,
    },
    #[error("`{path}`: {reason}")]
    Values { path: String, reason: String },
}

/// The npy type string for a storage type.
fn descr(ty: ScalarType) -> &'static str {
    match ty {
        ScalarType::F32 => "<f4",
        ScalarType::I32 => "<i4",
        ScalarType::I16 => "<i2",
        ScalarType::U16 => "<u2",
        ScalarType::I8 | ScalarType::I4 => "|i1",
        ScalarType::U8 | ScalarType::U4 => "|u1",
    }
}

/// The storage type a dtype string reads as, if qcc reads it at all.
fn scalar_of(d: &DType) -> Option<ScalarType> {
    let s = d.descr();
    let s = s.trim_matches('\'');
    Some(match s {
        "<f4" | "=f4" => ScalarType::F32,
        "<i4" | "=i4" => ScalarType::I32,
        "<i2" | "=i2" => ScalarType::I16,
        "<u2" | "=u2" => ScalarType::U16,
        "|i1" | "<i1" | "=i1" => ScalarType::I8,
        "|u1" | "<u1" | "=u1" => ScalarType::U8,
        _ => return None,
    })
}

/// The deepest nesting of brackets a `.npy` header may have (a plain
/// dtype's header has 2: `{'shape': (1, 64), ...}`; structured dtypes,
/// which qcc does not read, go deeper). At 8 levels a fuzzer still found
/// 400-byte headers (`{` and `(` mixed, five deep) that npyz took 0.6 s
/// over.
const MAX_HEADER_DEPTH: usize = 3;

/// The deepest nesting of `[`, `(` and `{` in the header of a `.npy` file
/// (0 if the bytes are too short to hold the header they announce: npyz
/// then reports the error).
fn header_depth(bytes: &[u8]) -> usize {
    let (len, start): (usize, usize) = match bytes.get(6) {
        Some(1) if bytes.len() >= 10 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        Some(2 | 3) if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return 0,
    };
    let header = &bytes[start..bytes.len().min(start.saturating_add(len))];
    let (mut depth, mut deepest) = (0usize, 0usize);
    for &b in header {
        match b {
            b'[' | b'(' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b')' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Reads a `.npy` file from bytes; `path` names it in errors.
pub fn read_bytes(bytes: &[u8], path: &str) -> Result<Tensor, NpyError> {
    let fmt = |reason: String| NpyError::Format {
        path: path.to_string(),
        reason,
    };
    // npyz parses the header with a backtracking parser whose time grows
    // exponentially with the nesting of brackets (found by fuzzing: 40 `[`
    // take minutes); no dtype qcc reads nests deeper than a few levels.
    if header_depth(bytes) > MAX_HEADER_DEPTH {
        return Err(fmt(format!(
            "the header nests brackets deeper than {MAX_HEADER_DEPTH} levels"
        )));
    }
    let npy = NpyFile::new(bytes).map_err(|e| fmt(e.to_string()))?;
    let fortran = npy.order() == npyz::Order::Fortran;
    let shape: Vec<usize> = npy
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| fmt(format!("dimension {d} is too large"))))
        .collect::<Result<_, _>>()?;
    // The declared shape must fit in the file before anything is allocated
    // for it (a hostile header can declare any shape).
    let n_declared = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let item = match npy.dtype() {
        DType::Plain(t) => t.size_field() as usize,
        _ => 0,
    };
    if n_declared
        .and_then(|n| n.checked_mul(item))
        .is_none_or(|b| b > bytes.len())
    {
        return Err(fmt(format!(
            "the header declares shape {shape:?}, more data than the file's {} bytes hold",
            bytes.len()
        )));
    }
    let dtype = npy.dtype();
    // qcc keeps 64-bit integers (ONNX's int64 token ids and indices) in i32:
    // an int64 file reads as i32 when every value fits.
    if matches!(dtype.descr().trim_matches('\''), "<i8" | "=i8") {
        let wide = npy.into_vec::<i64>().map_err(|e| fmt(e.to_string()))?;
        if wide.len() != n_declared.unwrap_or(0) {
            return Err(fmt(format!(
                "expected {} elements, found {}",
                n_declared.unwrap_or(0),
                wide.len()
            )));
        }
        let mut narrow = Vec::with_capacity(wide.len());
        for (i, &v) in wide.iter().enumerate() {
            narrow.push(i32::try_from(v).map_err(|_| NpyError::Values {
                path: path.to_string(),
                reason: format!(
                    "int64 value {v} at index {i} does not fit in i32 (qcc keeps 64-bit integers in i32)"
                ),
            })?);
        }
        let data = TensorData::I32(narrow);
        let data = if fortran && shape.len() > 1 {
            fortran_to_c(&data, &shape)
        } else {
            data
        };
        return Ok(Tensor { shape, data });
    }
    let Some(st) = scalar_of(&dtype) else {
        return Err(NpyError::Dtype {
            path: path.to_string(),
            found: dtype.descr(),
            expected: "one of f32 (<f4), i32 (<i4), i64 (<i8, read as i32), i16 (<i2), u16 (<u2), i8 (|i1), u8 (|u1)"
                .into(),
        });
    };
    let n: usize = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| fmt("the number of elements overflows".into()))?;
    let data = match st {
        ScalarType::F32 => TensorData::F32(npy.into_vec::<f32>().map_err(|e| fmt(e.to_string()))?),
        ScalarType::I32 => TensorData::I32(npy.into_vec::<i32>().map_err(|e| fmt(e.to_string()))?),
        ScalarType::I16 => TensorData::I16(npy.into_vec::<i16>().map_err(|e| fmt(e.to_string()))?),
        ScalarType::U16 => TensorData::U16(npy.into_vec::<u16>().map_err(|e| fmt(e.to_string()))?),
        ScalarType::I8 => TensorData::I8(npy.into_vec::<i8>().map_err(|e| fmt(e.to_string()))?),
        ScalarType::U8 => TensorData::U8(npy.into_vec::<u8>().map_err(|e| fmt(e.to_string()))?),
        ScalarType::I4 | ScalarType::U4 => unreachable!("npy has no 4-bit dtype"),
    };
    if data.len() != n {
        return Err(fmt(format!("expected {n} elements, found {}", data.len())));
    }
    let data = if fortran && shape.len() > 1 {
        fortran_to_c(&data, &shape)
    } else {
        data
    };
    Ok(Tensor { shape, data })
}

/// Reorders column-major (Fortran) data to row-major. NumPy writes a
/// transposed array (`np.save(w.T)`) in Fortran order.
fn fortran_to_c(data: &TensorData, shape: &[usize]) -> TensorData {
    let n = data.len();
    // For each row-major index, the column-major index of the same element.
    let mut src = Vec::with_capacity(n);
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..n {
        let mut f = 0;
        for d in (0..shape.len()).rev() {
            f = f * shape[d] + idx[d];
        }
        src.push(f);
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    fn pick<T: Copy>(v: &[T], src: &[usize]) -> Vec<T> {
        src.iter().map(|&i| v[i]).collect()
    }
    match data {
        TensorData::F32(v) => TensorData::F32(pick(v, &src)),
        TensorData::I32(v) => TensorData::I32(pick(v, &src)),
        TensorData::I16(v) => TensorData::I16(pick(v, &src)),
        TensorData::U16(v) => TensorData::U16(pick(v, &src)),
        TensorData::I8(v) => TensorData::I8(pick(v, &src)),
        TensorData::U8(v) => TensorData::U8(pick(v, &src)),
        TensorData::I4(_) | TensorData::U4(_) => unreachable!("npy has no 4-bit dtype"),
    }
}

/// Reads a `.npy` file.
pub fn read(path: &Path) -> Result<Tensor, NpyError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| NpyError::Io {
        path: name.clone(),
        source,
    })?;
    read_bytes(&bytes, &name)
}

/// Converts a tensor read from a file to the storage of `ty`: the dtype must
/// match the storage type (`|i1` for i4, `|u1` for u4, whose values must fit
/// in 4 bits, or in the narrow range of a quantized type), and the shape must
/// be equal. `path` names the file in errors.
pub fn conform(t: Tensor, ty: &TensorType, path: &str) -> Result<Tensor, NpyError> {
    let want = ty.elem.storage();
    let file_ty = t.data.scalar_type();
    let carrier = match want {
        ScalarType::I4 => ScalarType::I8,
        ScalarType::U4 => ScalarType::U8,
        other => other,
    };
    if file_ty != carrier {
        return Err(NpyError::Dtype {
            path: path.to_string(),
            found: format!("{file_ty} ({})", descr(file_ty)),
            expected: format!("{want} ({})", descr(want)),
        });
    }
    // A packed layout's data is one dimension of its padded size.
    let want_shape = ty.storage_shape();
    if t.shape != want_shape {
        return Err(NpyError::Shape {
            path: path.to_string(),
            found: t.shape.iter().map(|&d| d as u64).collect(),
            expected: want_shape,
        });
    }
    let data = if want != carrier {
        let vals = t.data.to_i64s().expect("integer data");
        TensorData::from_i64s(want, &vals).map_err(|e| NpyError::Values {
            path: path.to_string(),
            reason: e.to_string(),
        })?
    } else {
        t.data
    };
    if let (Some((lo, hi)), Some(vals)) = (ty.elem.int_range(), data.to_i64s())
        && let Some((i, v)) = vals.iter().enumerate().find(|(_, v)| **v < lo || **v > hi)
    {
        return Err(NpyError::Values {
            path: path.to_string(),
            reason: format!("value {v} at index {i} is outside the storage range {lo}..={hi}"),
        });
    }
    Ok(Tensor {
        shape: t.shape,
        data,
    })
}

/// Reads a `.npy` file as the storage of `ty` (see [`conform`]).
pub fn read_as(path: &Path, ty: &TensorType) -> Result<Tensor, NpyError> {
    let t = read(path)?;
    conform(t, ty, &path.display().to_string())
}

/// Encodes a tensor as `.npy` bytes (4-bit types widen to one byte each).
pub fn to_bytes(t: &Tensor) -> Vec<u8> {
    let shape: Vec<u64> = t.shape.iter().map(|&d| d as u64).collect();
    let mut out = Vec::new();
    fn write<T: npyz::Serialize + npyz::AutoSerialize + Copy>(
        out: &mut Vec<u8>,
        shape: &[u64],
        vals: impl IntoIterator<Item = T>,
    ) {
        let mut w = npyz::WriteOptions::<T>::new()
            .default_dtype()
            .shape(shape)
            .writer(out)
            .begin_nd()
            .expect("writing to memory cannot fail");
        w.extend(vals).expect("writing to memory cannot fail");
        w.finish().expect("writing to memory cannot fail");
    }
    match &t.data {
        TensorData::F32(v) => write(&mut out, &shape, v.iter().copied()),
        TensorData::I32(v) => write(&mut out, &shape, v.iter().copied()),
        TensorData::I16(v) => write(&mut out, &shape, v.iter().copied()),
        TensorData::U16(v) => write(&mut out, &shape, v.iter().copied()),
        TensorData::I8(v) => write(&mut out, &shape, v.iter().copied()),
        TensorData::U8(v) => write(&mut out, &shape, v.iter().copied()),
        d @ TensorData::I4(_) => write(
            &mut out,
            &shape,
            d.to_i64s().unwrap().into_iter().map(|x| x as i8),
        ),
        d @ TensorData::U4(_) => write(
            &mut out,
            &shape,
            d.to_i64s().unwrap().into_iter().map(|x| x as u8),
        ),
    }
    out
}

/// Writes a tensor to a `.npy` file.
pub fn write(path: &Path, t: &Tensor) -> std::io::Result<()> {
    std::fs::write(path, to_bytes(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ElemType, QuantType};

    /// A header of `depth` nested brackets (a fuzzer's find: npyz's parser
    /// takes time exponential in the depth).
    fn nested_header(depth: usize) -> Vec<u8> {
        let dict = format!(
            "{{'descr': {}'<f4'{}, 'fortran_order': False, 'shape': (1,), }}",
            "[".repeat(depth - 2),
            "]".repeat(depth - 2)
        );
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(dict.len() as u16 + 1).to_le_bytes());
        b.extend_from_slice(dict.as_bytes());
        b.push(b'\n');
        b.extend_from_slice(&1.0f32.to_le_bytes());
        b
    }

    #[test]
    fn deeply_nested_headers_are_refused_at_once() {
        let t0 = std::time::Instant::now();
        let e = read_bytes(&nested_header(40), "deep.npy").unwrap_err();
        assert!(e.to_string().contains("deeper than 3 levels"), "{e}");
        // The deepest header still handed to npyz is parsed quickly.
        assert!(read_bytes(&nested_header(MAX_HEADER_DEPTH), "deep.npy").is_err());
        assert!(t0.elapsed().as_secs() < 2, "{:?}", t0.elapsed());
    }

    #[test]
    fn mixed_brackets_count_towards_the_depth() {
        // The fuzzer's slow input nested `{` and `(` five deep.
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': {((1,),)}, }";
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(dict.len() as u16 + 1).to_le_bytes());
        b.extend_from_slice(dict.as_bytes());
        b.push(b'\n');
        let e = read_bytes(&b, "mixed.npy").unwrap_err();
        assert!(e.to_string().contains("deeper than 3 levels"), "{e}");
    }

    #[test]
    fn round_trip_each_dtype() {
        let ts = [
            Tensor::f32(vec![2, 2], vec![1.0, -2.5, 0.0, 3.25]),
            Tensor::new(
                vec![3],
                TensorData::from_i64s(ScalarType::I32, &[1, -2, 3]).unwrap(),
            ),
            Tensor::new(
                vec![1],
                TensorData::from_i64s(ScalarType::I16, &[-7]).unwrap(),
            ),
            Tensor::new(
                vec![3],
                TensorData::from_i64s(ScalarType::U16, &[0, 40000, 65535]).unwrap(),
            ),
            Tensor::new(
                vec![2],
                TensorData::from_i64s(ScalarType::I8, &[-128, 127]).unwrap(),
            ),
            Tensor::new(
                vec![2, 1],
                TensorData::from_i64s(ScalarType::U8, &[0, 255]).unwrap(),
            ),
            Tensor::new(vec![], TensorData::F32(vec![7.0])),
        ];
        for t in ts {
            let b = to_bytes(&t);
            assert_eq!(read_bytes(&b, "t.npy").unwrap(), t);
        }
    }

    #[test]
    fn four_bit_through_one_byte() {
        let t = Tensor::new(
            vec![3],
            TensorData::from_i64s(ScalarType::I4, &[-8, 7, 0]).unwrap(),
        );
        let back = read_bytes(&to_bytes(&t), "t.npy").unwrap();
        assert_eq!(back.data.scalar_type(), ScalarType::I8);
        let ty = TensorType::new(vec![3], ElemType::Scalar(ScalarType::I4));
        assert_eq!(conform(back, &ty, "t.npy").unwrap(), t);
        let wide = Tensor::new(
            vec![3],
            TensorData::from_i64s(ScalarType::I8, &[9, 0, 0]).unwrap(),
        );
        assert!(matches!(
            conform(wide, &ty, "t.npy"),
            Err(NpyError::Values { .. })
        ));
    }

    #[test]
    fn conform_checks_dtype_shape_and_range() {
        let t = Tensor::new(
            vec![2],
            TensorData::from_i64s(ScalarType::I8, &[-128, 5]).unwrap(),
        );
        let f = TensorType::f32(vec![2]);
        assert!(matches!(
            conform(t.clone(), &f, "x"),
            Err(NpyError::Dtype { .. })
        ));
        let i8ty = TensorType::new(vec![3], ElemType::Scalar(ScalarType::I8));
        assert!(matches!(
            conform(t.clone(), &i8ty, "x"),
            Err(NpyError::Shape { .. })
        ));
        let mut q = QuantType::per_tensor(ScalarType::I8, 0.5, 0);
        q.storage_min = -127;
        let narrow = TensorType::new(vec![2], ElemType::quant(q));
        assert!(matches!(
            conform(t, &narrow, "x"),
            Err(NpyError::Values { .. })
        ));
        assert!(read_bytes(b"not a npy", "x").is_err());
    }

    #[test]
    fn a_header_larger_than_the_file_is_refused() {
        let t = Tensor::f32(vec![2, 3], vec![0.0; 6]);
        let mut b = to_bytes(&t);
        let key = b"(2, 3";
        let at = b.windows(key.len()).position(|w| w == key).expect("header");
        b[at..at + 5].copy_from_slice(b"(9, 9");
        let e = read_bytes(&b, "big.npy").unwrap_err().to_string();
        assert!(e.contains("declares shape [9, 9], more data than"), "{e}");
    }

    #[test]
    fn fortran_order_is_reordered() {
        // A 2x3 array [[0, 1, 2], [3, 4, 5]] saved in Fortran order stores
        // 0 3 1 4 2 5 (as numpy's `np.save(a.T.copy().T)` does).
        let t = Tensor::new(
            vec![2, 3],
            TensorData::F32(vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]),
        );
        let mut b = to_bytes(&t);
        let key = b"'fortran_order': False";
        let at = b.windows(key.len()).position(|w| w == key).expect("header");
        b[at..at + 22].copy_from_slice(b"'fortran_order': True ");
        let back = read_bytes(&b, "f.npy").unwrap();
        assert_eq!(back.shape, vec![2, 3]);
        assert_eq!(back.data.as_f32().unwrap(), &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }
}
