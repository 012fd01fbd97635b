//! Helpers shared by the JIT differential tests.
#![allow(dead_code)]

use qcc_compiler::model::{CompiledModel, Compiler, DotPath, TargetFeatures};
use qcc_ir::{Graph, Tensor, TensorData};

/// Compiles exactly the given graph (no passes) for one dot-product path.
pub fn compile_forced(g: &Graph, p: DotPath) -> CompiledModel {
    Compiler::new()
        .run_passes(false)
        .target_features(TargetFeatures::Force(p))
        .compile(g)
        .unwrap_or_else(|e| panic!("path {p}: {e}"))
}

/// Equal bit for bit, except that any NaN equals any NaN.
pub fn same_tensor(a: &Tensor, b: &Tensor) -> bool {
    if a.shape != b.shape {
        return false;
    }
    match (&a.data, &b.data) {
        (TensorData::F32(x), TensorData::F32(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(p, q)| p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan()))
        }
        _ => a == b,
    }
}

pub fn assert_same(want: &[Tensor], got: &[Tensor], what: &str) {
    assert_eq!(want.len(), got.len(), "{what}: output count");
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        if !same_tensor(w, g) {
            let detail = match (w.data.to_i64s(), g.data.to_i64s()) {
                (Some(a), Some(b)) => {
                    let first = a.iter().zip(&b).position(|(x, y)| x != y);
                    format!(
                        "first difference at {first:?}: want {:?} got {:?}",
                        first.map(|f| a[f]),
                        first.map(|f| b[f])
                    )
                }
                _ => format!("want {:?}\n got {:?}", w.data, g.data),
            };
            panic!("{what}: output {i} differs: {detail}");
        }
    }
}

/// A small deterministic generator (xorshift).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }

    /// One of the values.
    pub fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.next() as usize % v.len()]
    }
}
