//! The graph: ops over SSA values, stored in a petgraph `StableDiGraph`.
//!
//! Every node is one op producing one value, so a [`ValueId`] names both. An
//! edge runs from the node that produces a value to a node that uses it; its
//! weight is the operand slot. A value used twice by one op has two edges.
//!
//! Names: graph inputs and outputs always have names (they are the graph's
//! interface). Other values keep the name they had in the text they were
//! parsed from, if any; values made by passes have none, and the printer
//! numbers them (`%0`, `%1`, ...) in canonical order. A stored name is never
//! purely numeric, so printed names never collide.
//!
//! Canonical order ([`Graph::canonical_order`]) depends only on the graph's
//! structure, never on petgraph indices: inputs in declaration order, then a
//! post-order walk from the outputs in order (operands in slot order), then
//! any dead nodes in insertion order. The printer uses it, and graph equality
//! ([`Graph::structurally_eq`]) compares graphs walked in that order.

use crate::diag::Span;
use crate::op::{ConstData, Op};
use crate::tensor::TensorData;
use crate::types::TensorType;
use petgraph::Direction;
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;
use std::collections::HashMap;
use std::fmt;

/// A value (equivalently, the node that produces it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub NodeIndex<u32>);

impl fmt::Display for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0.index())
    }
}

/// One op and the value it produces.
#[derive(Clone, Debug)]
pub struct Node {
    pub op: Op,
    /// The type of the value the op produces.
    pub ty: TensorType,
    /// The value's name without `%` (inputs: always set).
    pub name: Option<String>,
    /// Where the op was written in the source text, if it came from text:
    /// the span of the op name (for inputs, of the parameter name).
    pub span: Option<Span>,
}

/// A named graph output.
#[derive(Clone, Debug)]
pub struct Output {
    pub name: String,
    pub value: ValueId,
    /// Where the output was declared in the signature, if parsed.
    pub span: Option<Span>,
}

/// A type alias declared at the top of a text file (`!act = ...`). Aliases are
/// presentation only: they do not take part in graph equality.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeAlias {
    /// Without the leading `!`.
    pub name: String,
    pub elem: crate::types::ElemType,
}

/// A graph of ops with named inputs and outputs.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// Without the leading `@`.
    pub name: String,
    dag: StableDiGraph<Node, u32>,
    inputs: Vec<ValueId>,
    outputs: Vec<Output>,
    pub aliases: Vec<TypeAlias>,
}

impl Graph {
    pub fn new(name: impl Into<String>) -> Graph {
        Graph {
            name: name.into(),
            ..Graph::default()
        }
    }

    /// Appends a graph input.
    pub fn add_input(&mut self, name: impl Into<String>, ty: TensorType) -> ValueId {
        let index = self.inputs.len();
        let v = ValueId(self.dag.add_node(Node {
            op: Op::Input(index),
            ty,
            name: Some(name.into()),
            span: None,
        }));
        self.inputs.push(v);
        v
    }

    /// Adds an op whose operands are `args`, in order.
    pub fn add_node(&mut self, op: Op, args: &[ValueId], ty: TensorType) -> ValueId {
        debug_assert!(!matches!(op, Op::Input(_)), "use add_input");
        let v = ValueId(self.dag.add_node(Node {
            op,
            ty,
            name: None,
            span: None,
        }));
        for (slot, a) in args.iter().enumerate() {
            self.dag.add_edge(a.0, v.0, slot as u32);
        }
        v
    }

    /// Adds a constant (its data, or data shared with another constant).
    pub fn add_const(
        &mut self,
        data: impl Into<std::sync::Arc<TensorData>>,
        ty: TensorType,
    ) -> ValueId {
        let c = ConstData {
            data: data.into(),
            file: None,
        };
        self.add_node(Op::Const(c), &[], ty)
    }

    /// Appends a named output.
    pub fn add_output(&mut self, name: impl Into<String>, value: ValueId) {
        self.outputs.push(Output {
            name: name.into(),
            value,
            span: None,
        });
    }

    pub fn inputs(&self) -> &[ValueId] {
        &self.inputs
    }

    pub fn outputs(&self) -> &[Output] {
        &self.outputs
    }

    pub fn outputs_mut(&mut self) -> &mut [Output] {
        &mut self.outputs
    }

    pub fn node(&self, v: ValueId) -> &Node {
        &self.dag[v.0]
    }

    pub fn node_mut(&mut self, v: ValueId) -> &mut Node {
        &mut self.dag[v.0]
    }

    pub fn contains(&self, v: ValueId) -> bool {
        self.dag.contains_node(v.0)
    }

    /// The value's type.
    pub fn ty(&self, v: ValueId) -> &TensorType {
        &self.dag[v.0].ty
    }

    /// The op's operands in slot order.
    pub fn args(&self, v: ValueId) -> Vec<ValueId> {
        let mut es: Vec<(u32, ValueId)> = self
            .dag
            .edges_directed(v.0, Direction::Incoming)
            .map(|e| (*e.weight(), ValueId(e.source())))
            .collect();
        es.sort();
        es.into_iter().map(|(_, a)| a).collect()
    }

    /// The ops that use `v`, with the slot, sorted (a user appears once per use).
    pub fn users(&self, v: ValueId) -> Vec<(ValueId, u32)> {
        let mut us: Vec<(ValueId, u32)> = self
            .dag
            .edges_directed(v.0, Direction::Outgoing)
            .map(|e| (ValueId(e.target()), *e.weight()))
            .collect();
        us.sort();
        us
    }

    /// Number of live nodes.
    pub fn node_count(&self) -> usize {
        self.dag.node_count()
    }

    /// All live nodes in insertion order.
    pub fn node_ids(&self) -> impl Iterator<Item = ValueId> + '_ {
        self.dag.node_indices().map(ValueId)
    }

    /// Makes every use of `old` (operands and outputs) use `new` instead.
    pub fn replace_all_uses(&mut self, old: ValueId, new: ValueId) {
        if old == new {
            return;
        }
        for (user, slot) in self.users(old) {
            let e = self
                .dag
                .edges_connecting(old.0, user.0)
                .find(|e| *e.weight() == slot)
                .map(|e| e.id())
                .expect("edge exists");
            self.dag.remove_edge(e);
            self.dag.add_edge(new.0, user.0, slot);
        }
        for o in &mut self.outputs {
            if o.value == old {
                o.value = new;
            }
        }
    }

    /// Replaces operand `slot` of `user` with `new`.
    pub fn set_arg(&mut self, user: ValueId, slot: u32, new: ValueId) {
        let e = self
            .dag
            .edges_directed(user.0, Direction::Incoming)
            .find(|e| *e.weight() == slot)
            .map(|e| e.id())
            .expect("operand slot exists");
        self.dag.remove_edge(e);
        self.dag.add_edge(new.0, user.0, slot);
    }

    /// Removes a node that has no users and is not an input or output.
    pub fn remove_node(&mut self, v: ValueId) {
        assert!(
            self.users(v).is_empty(),
            "removing a node that is still used"
        );
        assert!(!self.inputs.contains(&v), "removing a graph input");
        assert!(
            !self.outputs.iter().any(|o| o.value == v),
            "removing a graph output"
        );
        self.dag.remove_node(v.0);
    }

    /// Removes every node that no output depends on (inputs stay).
    /// Returns how many were removed.
    pub fn remove_dead(&mut self) -> usize {
        let live: std::collections::HashSet<ValueId> = self.live_order().into_iter().collect();
        let dead: Vec<ValueId> = self
            .node_ids()
            .filter(|v| !live.contains(v) && !self.inputs.contains(v))
            .collect();
        for &v in &dead {
            self.dag.remove_node(v.0);
        }
        dead.len()
    }

    /// The nodes the outputs depend on, in post order (operands first).
    fn live_order(&self) -> Vec<ValueId> {
        let mut seen = std::collections::HashSet::new();
        let mut order = Vec::new();
        for o in &self.outputs {
            self.post_order(o.value, &mut seen, &mut order);
        }
        order
    }

    fn post_order(
        &self,
        root: ValueId,
        seen: &mut std::collections::HashSet<ValueId>,
        order: &mut Vec<ValueId>,
    ) {
        // Iterative, so that deep chains do not overflow the stack.
        if !seen.insert(root) {
            return;
        }
        let mut stack = vec![(root, self.args(root), 0usize)];
        while let Some((v, args, i)) = stack.last_mut() {
            if *i < args.len() {
                let a = args[*i];
                *i += 1;
                if seen.insert(a) {
                    let aa = self.args(a);
                    stack.push((a, aa, 0));
                }
            } else {
                order.push(*v);
                stack.pop();
            }
        }
    }

    /// The canonical order (see the module doc): every node exactly once,
    /// operands before users. Requires an acyclic graph.
    pub fn canonical_order(&self) -> Vec<ValueId> {
        let mut seen: std::collections::HashSet<ValueId> = self.inputs.iter().copied().collect();
        let mut order: Vec<ValueId> = self.inputs.clone();
        for o in &self.outputs {
            self.post_order(o.value, &mut seen, &mut order);
        }
        let rest: Vec<ValueId> = self.node_ids().collect();
        for v in rest {
            self.post_order(v, &mut seen, &mut order);
        }
        order
    }

    /// True if the edges form a cycle (a graph from text cannot have one; a
    /// graph built or rewritten through this API could).
    pub fn has_cycle(&self) -> bool {
        petgraph::algo::is_cyclic_directed(&self.dag)
    }

    /// Structural equality: same name, same inputs and outputs, and the same
    /// ops with the same types, attributes, names and operands, compared in
    /// canonical order. Spans and aliases are ignored.
    pub fn structurally_eq(&self, other: &Graph) -> bool {
        if self.name != other.name
            || self.inputs.len() != other.inputs.len()
            || self.outputs.len() != other.outputs.len()
            || self.node_count() != other.node_count()
        {
            return false;
        }
        let (oa, ob) = (self.canonical_order(), other.canonical_order());
        if oa.len() != ob.len() {
            return false;
        }
        let pos_a: HashMap<ValueId, usize> = oa.iter().enumerate().map(|(i, v)| (*v, i)).collect();
        let pos_b: HashMap<ValueId, usize> = ob.iter().enumerate().map(|(i, v)| (*v, i)).collect();
        for (&a, &b) in oa.iter().zip(&ob) {
            let (na, nb) = (self.node(a), other.node(b));
            if na.op != nb.op || na.ty != nb.ty || na.name != nb.name {
                return false;
            }
            let args_a: Vec<usize> = self.args(a).iter().map(|v| pos_a[v]).collect();
            let args_b: Vec<usize> = other.args(b).iter().map(|v| pos_b[v]).collect();
            if args_a != args_b {
                return false;
            }
        }
        self.outputs
            .iter()
            .zip(&other.outputs)
            .all(|(x, y)| x.name == y.name && pos_a[&x.value] == pos_b[&y.value])
    }

    /// A short human description of a node for messages without spans:
    /// `` `%name` (conv2d) `` or `` value #3 (conv2d) ``.
    pub fn describe(&self, v: ValueId) -> String {
        let n = self.node(v);
        match &n.name {
            Some(name) => format!("`%{name}` ({})", n.op.name()),
            None => format!("value {v} ({})", n.op.name()),
        }
    }
}

impl PartialEq for Graph {
    fn eq(&self, other: &Self) -> bool {
        self.structurally_eq(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::TensorType;

    fn tiny() -> (Graph, ValueId, ValueId) {
        let mut g = Graph::new("g");
        let x = g.add_input("x", TensorType::f32(vec![2]));
        let r = g.add_node(Op::Relu, &[x], TensorType::f32(vec![2]));
        let y = g.add_node(Op::Add, &[r, x], TensorType::f32(vec![2]));
        g.add_output("y", y);
        (g, x, y)
    }

    #[test]
    fn args_keep_slot_order() {
        let (g, x, y) = tiny();
        let args = g.args(y);
        assert_eq!(args[1], x);
        assert_eq!(g.node(args[0]).op, Op::Relu);
        assert_eq!(g.users(x).len(), 2);
    }

    #[test]
    fn equality_ignores_insertion_order() {
        let (a, _, _) = tiny();
        let mut b = Graph::new("g");
        let x = b.add_input("x", TensorType::f32(vec![2]));
        let dead = b.add_node(Op::Relu, &[x], TensorType::f32(vec![2]));
        b.remove_node(dead);
        let r = b.add_node(Op::Relu, &[x], TensorType::f32(vec![2]));
        let y = b.add_node(Op::Add, &[r, x], TensorType::f32(vec![2]));
        b.add_output("y", y);
        assert_eq!(a, b);
        let mut c = b.clone();
        let y2 = c.add_node(Op::Mul, &[r, x], TensorType::f32(vec![2]));
        c.outputs_mut()[0].value = y2;
        assert_ne!(a, c);
    }

    #[test]
    fn remove_dead_and_replace() {
        let (mut g, x, y) = tiny();
        let extra = g.add_node(Op::Relu, &[x], TensorType::f32(vec![2]));
        assert_eq!(g.remove_dead(), 1);
        assert!(!g.contains(extra));
        let z = g.add_node(Op::Relu, &[x], TensorType::f32(vec![2]));
        g.replace_all_uses(y, z);
        assert_eq!(g.outputs()[0].value, z);
        assert_eq!(g.remove_dead(), 2);
        assert_eq!(g.canonical_order(), vec![x, z]);
    }
}
