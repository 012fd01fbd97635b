//! Extraction: the cheapest e-node of every needed e-class (egg's
//! `Extractor` with [`QCost`]) written back into the IR graph.
//!
//! Every e-class becomes at most one graph node, so values shared in the
//! e-graph stay shared in the graph. A new node takes the name of the first
//! original value (in canonical order) of its class, so `%h1q` keeps its
//! name when its `quantize` becomes a `requantize`.

use super::cost::QCost;
use super::{QEGraph, Remark};
use egg::{Extractor, Id};
use qcc_ir::{Graph, Op, ValueId};
use std::collections::{HashMap, HashSet};

/// Builds the extracted nodes of `roots` into `graph` and moves every use of
/// each root value (operands and outputs) to its new node. Leaf e-nodes
/// (`input` number `i`) stand for `leaves[i]`. `names` gives, per e-class,
/// the original value whose name (and span) the new node takes. Returns
/// remarks on the rejected matches whose op was kept.
pub(super) fn splice(
    graph: &mut Graph,
    eg: &QEGraph,
    leaves: &[ValueId],
    names: &HashMap<Id, ValueId>,
    roots: &[(ValueId, Id)],
) -> Vec<Remark> {
    let extractor = Extractor::new(eg, QCost { eg });
    let mut built: HashMap<Id, ValueId> = HashMap::new();
    let mut renames: Vec<(ValueId, ValueId)> = Vec::new();
    for &(_, root) in roots {
        if build(
            graph,
            eg,
            &extractor,
            leaves,
            names,
            root,
            &mut built,
            &mut renames,
        )
        .is_none()
        {
            // A cycle among the cheapest nodes (never expected: costs grow
            // strictly from operands to users). Leave the region unchanged;
            // what was built is dead and removed by the caller.
            return vec![];
        }
    }
    for (old, new) in renames {
        let old_node = graph.node_mut(old);
        let name = old_node.name.take();
        let span = old_node.span;
        let new_node = graph.node_mut(new);
        new_node.name = name;
        new_node.span = span;
    }
    for &(old, root) in roots {
        let new = built[&eg.find(root)];
        graph.replace_all_uses(old, new);
    }
    // Remarks: a rejected match whose matched op is still the chosen node.
    let mut remarks = Vec::new();
    let mut seen = HashSet::new();
    for r in &eg.analysis.rejections {
        let c = eg.find(r.class);
        let Some(&v) = built.get(&c) else { continue };
        if extractor.find_best_node(c).op != r.root || !seen.insert((c, r.rule, r.guard)) {
            continue;
        }
        remarks.push(Remark {
            value: v,
            text: format!(
                "rule `{}` not applied: guard `{}`: {}",
                r.rule, r.guard, r.detail
            ),
        });
    }
    remarks
}

#[allow(clippy::too_many_arguments)]
fn build(
    graph: &mut Graph,
    eg: &QEGraph,
    extractor: &Extractor<'_, QCost<'_>, super::QNode, super::QAnalysis>,
    leaves: &[ValueId],
    names: &HashMap<Id, ValueId>,
    root: Id,
    built: &mut HashMap<Id, ValueId>,
    renames: &mut Vec<(ValueId, ValueId)>,
) -> Option<ValueId> {
    let root = eg.find(root);
    let mut on_stack: HashSet<Id> = HashSet::new();
    // Iterative post order, so that deep chains do not overflow the stack.
    let mut stack: Vec<(Id, bool)> = vec![(root, false)];
    while let Some((c, expanded)) = stack.pop() {
        if built.contains_key(&c) {
            continue;
        }
        let node = extractor.find_best_node(c);
        let children: Vec<Id> = node.children.iter().map(|&k| eg.find(k)).collect();
        if !expanded {
            if !on_stack.insert(c) {
                return None;
            }
            stack.push((c, true));
            for &k in children.iter().rev() {
                if !built.contains_key(&k) {
                    if on_stack.contains(&k) {
                        return None;
                    }
                    stack.push((k, false));
                }
            }
            continue;
        }
        on_stack.remove(&c);
        let entry = eg.analysis.table.get(node.op);
        let v = match entry.op {
            Op::Input(i) => *leaves.get(i)?,
            _ => {
                let args: Option<Vec<ValueId>> =
                    children.iter().map(|k| built.get(k).copied()).collect();
                let v = graph.add_node(entry.op.clone(), &args?, entry.ty.clone());
                if let Some(&old) = names.get(&c) {
                    renames.push((old, v));
                }
                v
            }
        };
        built.insert(c, v);
    }
    built.get(&root).copied()
}
