//! A graph's input signature and the one check of run-time inputs against
//! it, shared by the interpreter and the compiled code (`qcc_codegen`), so
//! that a wrong input gets the same error from both.

use crate::graph::Graph;
use crate::tensor::{Tensor, TensorData};
use crate::types::{ScalarType, TensorType};

/// One input of a graph: its name and type.
#[derive(Clone, Debug, PartialEq)]
pub struct InputSig {
    pub name: String,
    pub ty: TensorType,
}

/// The inputs of `graph`, in order.
pub fn of(graph: &Graph) -> Vec<InputSig> {
    graph
        .inputs()
        .iter()
        .map(|&v| {
            let node = graph.node(v);
            InputSig {
                name: node.name.clone().unwrap_or_default(),
                ty: node.ty.clone(),
            }
        })
        .collect()
}

/// Why run-time inputs do not fit the signature.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("the graph has {expected} inputs but {found} were given")]
    Count { expected: usize, found: usize },
    #[error("input `%{name}` has type `{ty}`, stored as {expected}, but the tensor holds {found}")]
    Type {
        name: String,
        ty: String,
        expected: ScalarType,
        found: ScalarType,
    },
    #[error("input `%{name}` has shape {expected:?}, but the tensor has shape {found:?}")]
    Shape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error(
        "input `%{name}`: the tensor's shape {shape:?} has {expected} elements, but its data has {found}"
    )]
    DataLength {
        name: String,
        shape: Vec<usize>,
        expected: usize,
        found: usize,
    },
    #[error(
        "input `%{name}`: element {index} is {value}, outside the storage range {lo}..={hi} of `{ty}`"
    )]
    OutOfRange {
        name: String,
        ty: String,
        index: usize,
        value: i64,
        lo: i64,
        hi: i64,
    },
    #[error(
        "input `%{name}`: {len} elements of {ty} take {expected} bytes, but the data has {found}"
    )]
    Packing {
        name: String,
        ty: ScalarType,
        len: usize,
        expected: usize,
        found: usize,
    },
}

/// Checks `inputs` against `sig`, in order: count, then for each input its
/// storage type, shape, data length, packing (4-bit data) and, for types
/// narrower than their storage, the range of every element. The first
/// problem found is the error.
pub fn check_inputs(sig: &[InputSig], inputs: &[Tensor]) -> Result<(), InputError> {
    if inputs.len() != sig.len() {
        return Err(InputError::Count {
            expected: sig.len(),
            found: inputs.len(),
        });
    }
    for (s, t) in sig.iter().zip(inputs) {
        check_input(s, t)?;
    }
    Ok(())
}

/// [`check_inputs`] for one input.
pub fn check_input(s: &InputSig, t: &Tensor) -> Result<(), InputError> {
    let name = || s.name.clone();
    let ty = &s.ty;
    let storage = ty.elem.storage();
    if t.data.scalar_type() != storage {
        return Err(InputError::Type {
            name: name(),
            ty: ty.to_string(),
            expected: storage,
            found: t.data.scalar_type(),
        });
    }
    if t.shape != ty.shape {
        return Err(InputError::Shape {
            name: name(),
            expected: ty.shape.clone(),
            found: t.shape.clone(),
        });
    }
    let expected = t
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if expected != Some(t.data.len()) {
        return Err(InputError::DataLength {
            name: name(),
            shape: t.shape.clone(),
            expected: expected.unwrap_or(usize::MAX),
            found: t.data.len(),
        });
    }
    if let Some(reason) = packing_error(&t.data) {
        return Err(InputError::Packing {
            name: name(),
            ty: storage,
            len: t.data.len(),
            expected: reason.0,
            found: reason.1,
        });
    }
    if let Some((lo, hi)) = ty.elem.int_range()
        && Some((lo, hi)) != storage.int_range()
    {
        let bad = (0..t.data.len())
            .filter_map(|i| t.data.get_int(i).map(|q| (i, q)))
            .find(|&(_, q)| q < lo || q > hi);
        if let Some((index, value)) = bad {
            return Err(InputError::OutOfRange {
                name: name(),
                ty: ty.elem.to_string(),
                index,
                value,
                lo,
                hi,
            });
        }
    }
    Ok(())
}

/// For packed 4-bit data whose byte count is not the one its length needs
/// (possible only for data built by hand, the fields being public),
/// `(expected, found)` bytes.
pub(crate) fn packing_error(d: &TensorData) -> Option<(usize, usize)> {
    let bytes = match d {
        TensorData::I4(p) | TensorData::U4(p) => p.bytes.len(),
        _ => return None,
    };
    let expected = d.scalar_type().storage_bytes(d.len());
    (bytes != expected).then_some((expected, bytes))
}
