//! Memory planning: where every value lives while generated code runs.
//!
//! Constants live in read-only data objects of the JIT module, in their
//! in-memory layout (below). Everything else (inputs, intermediate values,
//! the outputs, and each op's temporary buffers) lives in one scratch arena
//! whose offsets are chosen here, at compile time, from value lifetimes: a
//! value occupies its bytes from the step that defines it to its last use,
//! and later values reuse freed space (first fit, 64-byte aligned).
//!
//! In-memory element layout ([`Ek`]): f32, i32, i16, u16 in their native width;
//! i8 and u8 as bytes; 4-bit types unpacked, one element per byte (i4 sign
//! extended). The runner converts inputs and outputs at the boundary.

use cranelift_module::DataId;
use qcc_ir::types::ScalarType;

/// How an element is stored in generated code's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ek {
    F32,
    I32,
    I16,
    U16,
    I8,
    U8,
}

impl Ek {
    pub fn of(st: ScalarType) -> Ek {
        match st {
            ScalarType::F32 => Ek::F32,
            ScalarType::I32 => Ek::I32,
            ScalarType::I16 => Ek::I16,
            ScalarType::U16 => Ek::U16,
            ScalarType::I8 | ScalarType::I4 => Ek::I8,
            ScalarType::U8 | ScalarType::U4 => Ek::U8,
        }
    }

    pub fn size(self) -> usize {
        match self {
            Ek::F32 | Ek::I32 => 4,
            Ek::I16 | Ek::U16 => 2,
            Ek::I8 | Ek::U8 => 1,
        }
    }
}

/// Where a buffer lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Loc {
    /// Byte offset in the arena.
    Arena(usize),
    /// A read-only data object.
    Data(DataId),
    /// Entry `i` of the run's I/O table: a graph input (read-only) or
    /// output buffer, outside the arena.
    Io(usize),
}

/// A tensor's memory: location and element layout.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Buf {
    pub loc: Loc,
    pub ek: Ek,
}

/// One block to place: its size and the steps it is live in (inclusive).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Request {
    pub size: usize,
    pub start: usize,
    pub end: usize,
}

/// Places every request in the arena so that blocks live at the same time
/// never overlap; returns the offsets and the arena size.
pub(crate) fn place(requests: &[Request]) -> (Vec<usize>, usize) {
    let mut placed: Vec<(usize, usize, Request)> = Vec::new(); // (offset, size, req)
    let mut offsets = Vec::with_capacity(requests.len());
    let mut total = 0usize;
    for req in requests {
        let size = req.size.max(1).next_multiple_of(64);
        let mut conflicts: Vec<(usize, usize)> = placed
            .iter()
            .filter(|(_, _, r)| r.start <= req.end && req.start <= r.end)
            .map(|&(o, s, _)| (o, o + s))
            .collect();
        conflicts.sort_unstable();
        let mut off = 0usize;
        for &(lo, hi) in &conflicts {
            if off + size <= lo {
                break;
            }
            off = off.max(hi);
        }
        placed.push((off, size, *req));
        offsets.push(off);
        total = total.max(off + size);
    }
    (offsets, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disjoint_lifetimes_share_space() {
        let r = |size, start, end| Request { size, start, end };
        let (offs, total) = place(&[r(100, 0, 1), r(100, 1, 2), r(100, 2, 3)]);
        assert_eq!(offs, vec![0, 128, 0]);
        assert_eq!(total, 256);
    }

    #[test]
    fn overlapping_lifetimes_never_overlap_in_memory() {
        let reqs: Vec<Request> = (0..50)
            .map(|i| Request {
                size: 10 + (i * 37) % 200,
                start: i % 7,
                end: i % 7 + (i % 3),
            })
            .collect();
        let (offs, total) = place(&reqs);
        for i in 0..reqs.len() {
            for j in 0..i {
                let (a, b) = (reqs[i], reqs[j]);
                if a.start <= b.end && b.start <= a.end {
                    let (ai, bi) = (offs[i], offs[j]);
                    assert!(
                        ai + a.size <= bi || bi + b.size <= ai,
                        "{i} and {j} overlap"
                    );
                }
            }
            assert!(offs[i] + reqs[i].size <= total);
        }
    }
}
