//! The e-graph language: one e-node per IR op.
//!
//! An e-node is an interned op ([`OpId`]: the [`Op`] with its attributes and
//! constant data, and the result [`TensorType`]) and its operand e-classes.
//! Interning keeps the payload a plain integer, so it is `Hash + Ord` and
//! cheap to compare; the table ([`OpTable`]) lives in the analysis and
//! compares ops and types bit for bit (scales are `f32` compared by their
//! bits in `qcc_ir::types`, never as floats). Ids are handed out in the order
//! ops are first seen, which is deterministic (graphs are walked in
//! canonical order and rules run in a fixed order), so extraction and
//! printing do not depend on hashing.

use egg::{Id, Language};
use qcc_ir::{Op, TensorType};
use std::collections::HashMap;
use std::sync::Arc;

/// An interned `(op, result type)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u32);

/// One op applied to operand e-classes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QNode {
    pub op: OpId,
    pub children: Vec<Id>,
}

impl Language for QNode {
    type Discriminant = OpId;

    fn discriminant(&self) -> OpId {
        self.op
    }

    fn matches(&self, other: &Self) -> bool {
        self.op == other.op && self.children.len() == other.children.len()
    }

    fn children(&self) -> &[Id] {
        &self.children
    }

    fn children_mut(&mut self) -> &mut [Id] {
        &mut self.children
    }
}

/// An interned op and its result type.
#[derive(Debug)]
pub struct OpEntry {
    pub op: Op,
    pub ty: TensorType,
}

/// The intern table of `(op, type)` pairs.
#[derive(Debug, Default)]
pub struct OpTable {
    entries: Vec<Arc<OpEntry>>,
    index: HashMap<(Op, TensorType), OpId>,
}

impl OpTable {
    pub fn intern(&mut self, op: Op, ty: TensorType) -> OpId {
        let key = (op, ty);
        if let Some(&id) = self.index.get(&key) {
            return id;
        }
        let id = OpId(self.entries.len() as u32);
        let (op, ty) = key.clone();
        self.entries.push(Arc::new(OpEntry { op, ty }));
        self.index.insert(key, id);
        id
    }

    pub fn get(&self, id: OpId) -> &Arc<OpEntry> {
        &self.entries[id.0 as usize]
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
