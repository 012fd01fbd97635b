//! The e-graph framework shared by the rewrite passes.
//!
//! One concept per file, as in egg itself:
//! - [`lang`]: the e-node ([`QNode`]: an interned op and type, and operand
//!   e-classes) and the intern table;
//! - this file: the e-class analysis ([`QAnalysis`]: per class the type,
//!   constant data and so quant parameters), the rule interface ([`Rule`]:
//!   a named custom searcher and applier whose named guards can reject a
//!   match, with the reason kept for remarks), the runner limits and the
//!   driver [`rewrite`] (graph → e-graph → saturate → extract → graph);
//! - [`cost`]: the cost model;
//! - [`extract`]: extraction back to a [`Graph`], keeping DAG sharing and
//!   value names.
//!
//! Graph → e-graph: every node becomes one e-node whose children are the
//! e-classes of its operands, so a value used twice is one e-class with two
//! parents (the DAG's sharing is kept, nothing is unfolded into a tree).
//! Identical nodes are hash-consed into one class on the way in.
//!
//! Saturation is bounded by explicit limits ([`ITER_LIMIT`], [`NODE_LIMIT`])
//! and never by time: the time limit is set far beyond any run, so results do
//! not depend on the machine. The reason saturation stopped is reported in
//! the pass's stats. Rules follow Cranelift's rewrite hygiene: every rule
//! rewrites towards cheaper integer code; there are no general commutativity
//! or associativity rules.

pub mod cost;
pub mod extract;
pub mod lang;

use crate::{LayoutTarget, PassLog, PassOptions};
use egg::{Analysis, DidMerge, EGraph, Id, Rewrite, Runner, SearchMatches, Subst, Var};
pub use lang::{OpEntry, OpId, OpTable, QNode};
use qcc_ir::{Graph, Op, QuantType, RequantMode, TensorData, TensorType, ValueId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// At most this many iterations of all rules per e-graph.
pub const ITER_LIMIT: usize = 16;
/// Saturation stops when the e-graph holds this many e-nodes.
pub const NODE_LIMIT: usize = 200_000;
/// Graphs with more live nodes than this are rewritten region by region
/// (consecutive slices of the canonical order), each region its own e-graph.
pub const REGION_NODES: usize = 4_000;
/// Not a limit: saturation is bounded by iterations and nodes only, so that
/// results never depend on the machine's speed.
const NO_TIME_LIMIT: Duration = Duration::from_secs(24 * 3600);

pub type QEGraph = EGraph<QNode, QAnalysis>;

/// What the analysis knows about an e-class.
#[derive(Clone, Debug)]
pub struct ClassData {
    /// The type every e-node of the class produces.
    pub ty: TensorType,
    /// A constant e-node of the class (its data), if any.
    pub konst: Option<Arc<OpEntry>>,
    /// For a constant in a packed layout: its elements in logical order,
    /// unpacked when a rule first asks (shared by the clones).
    logical: Option<Arc<std::sync::OnceLock<TensorData>>>,
}

impl ClassData {
    /// The constant's elements in logical (row-major) order, whatever the
    /// layout it is stored in: rules read constants through this, so they
    /// work the same on packed constants.
    pub fn const_data(&self) -> Option<&TensorData> {
        let konst = self.konst.as_ref()?;
        let c = konst.op.as_const()?;
        match &self.logical {
            Some(l) => Some(l.get_or_init(|| c.logical(&konst.ty).into_owned())),
            None => Some(&c.data),
        }
    }

    pub fn quant(&self) -> Option<&QuantType> {
        self.ty.elem.as_quant()
    }
}

/// A match a guard turned down, kept to explain why an op was not rewritten.
#[derive(Clone, Debug)]
pub struct Rejection {
    pub class: Id,
    pub root: OpId,
    pub rule: &'static str,
    pub guard: &'static str,
    pub detail: String,
}

/// The e-class analysis: types, constants and quant parameters per class,
/// plus the op intern table and the pass options the appliers need.
#[derive(Debug, Default)]
pub struct QAnalysis {
    pub table: OpTable,
    pub mode: RequantMode,
    /// The kernels constant weights are laid out for (`pick-layout`; the
    /// cost model charges weights in another layout).
    pub target: LayoutTarget,
    pub rejections: Vec<Rejection>,
}

impl Analysis<QNode> for QAnalysis {
    type Data = ClassData;

    fn make(egraph: &mut QEGraph, enode: &QNode, _id: Id) -> ClassData {
        let entry = egraph.analysis.table.get(enode.op).clone();
        let konst = entry.op.is_const().then(|| entry.clone());
        let logical = (entry.op.is_const() && entry.ty.layout.is_packed())
            .then(|| Arc::new(std::sync::OnceLock::new()));
        ClassData {
            ty: entry.ty.clone(),
            konst,
            logical,
        }
    }

    fn merge(&mut self, to: &mut ClassData, from: ClassData) -> DidMerge {
        debug_assert_eq!(to.ty, from.ty, "merged e-classes of different types");
        let take = to.konst.is_none() && from.konst.is_some();
        let other_gains = to.konst.is_some() && from.konst.is_none();
        if take {
            to.konst = from.konst;
            to.logical = from.logical;
        }
        DidMerge(take, other_gains)
    }
}

/// Why a guard turned a match down: the guard's name and the details.
#[derive(Clone, Debug)]
pub struct Reject {
    pub guard: &'static str,
    pub detail: String,
}

impl Reject {
    pub fn new(guard: &'static str, detail: impl Into<String>) -> Reject {
        Reject {
            guard,
            detail: detail.into(),
        }
    }
}

/// A named guard: `Ok` when `cond` holds, else a [`Reject`] with the detail.
pub fn guard(
    name: &'static str,
    cond: bool,
    detail: impl FnOnce() -> String,
) -> Result<(), Reject> {
    if cond {
        Ok(())
    } else {
        Err(Reject::new(name, detail()))
    }
}

/// What a searcher found: the matched ops (the root first) and the e-classes
/// the applier needs, in an order each rule defines.
#[derive(Clone, Debug, Default)]
pub struct Match {
    pub ops: Vec<OpId>,
    pub ids: Vec<Id>,
}

impl Match {
    /// A match of the one e-node `node`: its op and its operand classes.
    pub fn node(eg: &QEGraph, node: &QNode) -> Match {
        Match {
            ops: vec![node.op],
            ids: node.children.iter().map(|&c| eg.find(c)).collect(),
        }
    }
}

/// Most ops and classes one match may carry.
const MATCH_SLOTS: usize = 12;

/// A rewrite rule: a searcher over one e-node at a time and an applier that
/// checks the rule's guards and builds the replacement, which is then made
/// equivalent to the matched class.
pub trait Rule: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// Adds the matches rooted at `node` (an e-node of some class) to `out`.
    fn search(&self, eg: &QEGraph, node: &QNode, out: &mut Vec<Match>);
    /// Builds the replacement of a match, or says which guard failed.
    fn apply(&self, eg: &mut QEGraph, m: &Match) -> Result<Id, Reject>;
    /// Whether a guard that turns a match down is worth a remark to the
    /// user (true for rules whose not firing leaves float or slower code).
    fn reports(&self) -> bool {
        false
    }
}

/// Adapts a [`Rule`] to egg's `Searcher` and `Applier`. A match travels in
/// an egg `Subst`: e-classes under the variables `?i0`, `?i1`, ... and
/// interned op ids under `?o0`, `?o1`, ... (op ids are not e-classes; they
/// are only ever decoded by [`RuleAdapter::decode`]).
struct RuleAdapter {
    rule: Arc<dyn Rule>,
    op_vars: Vec<Var>,
    id_vars: Vec<Var>,
}

impl RuleAdapter {
    fn new(rule: Arc<dyn Rule>) -> RuleAdapter {
        let var = |p: &str, i: usize| format!("?{p}{i}").parse::<Var>().expect("valid variable");
        RuleAdapter {
            rule,
            op_vars: (0..MATCH_SLOTS).map(|i| var("o", i)).collect(),
            id_vars: (0..MATCH_SLOTS).map(|i| var("i", i)).collect(),
        }
    }

    fn encode(&self, m: &Match) -> Subst {
        let mut s = Subst::with_capacity(m.ops.len() + m.ids.len());
        for (v, op) in self.op_vars.iter().zip(&m.ops) {
            s.insert(*v, Id::from(op.0 as usize));
        }
        for (v, id) in self.id_vars.iter().zip(&m.ids) {
            s.insert(*v, *id);
        }
        s
    }

    fn decode(&self, s: &Subst) -> Match {
        let ops = self
            .op_vars
            .iter()
            .map_while(|v| s.get(*v))
            .map(|id| OpId(usize::from(*id) as u32))
            .collect();
        let ids = self
            .id_vars
            .iter()
            .map_while(|v| s.get(*v))
            .copied()
            .collect();
        Match { ops, ids }
    }
}

impl egg::Searcher<QNode, QAnalysis> for RuleAdapter {
    fn search_eclass_with_limit(
        &self,
        egraph: &QEGraph,
        eclass: Id,
        limit: usize,
    ) -> Option<SearchMatches<'_, QNode>> {
        let mut found = Vec::new();
        for node in egraph[eclass].iter() {
            self.rule.search(egraph, node, &mut found);
        }
        found.retain(|m| m.ops.len() <= MATCH_SLOTS && m.ids.len() <= MATCH_SLOTS);
        found.truncate(limit);
        if found.is_empty() {
            return None;
        }
        Some(SearchMatches {
            eclass,
            substs: found.iter().map(|m| self.encode(m)).collect(),
            ast: None,
        })
    }

    fn vars(&self) -> Vec<Var> {
        Vec::new()
    }
}

impl egg::Applier<QNode, QAnalysis> for RuleAdapter {
    fn apply_one(
        &self,
        egraph: &mut QEGraph,
        eclass: Id,
        subst: &Subst,
        _searcher_ast: Option<&egg::PatternAst<QNode>>,
        _rule_name: egg::Symbol,
    ) -> Vec<Id> {
        let m = self.decode(subst);
        let root = m.ops.first().copied().unwrap_or(OpId(0));
        let result = self.rule.apply(egraph, &m).and_then(|new| {
            let (want, got) = (&egraph[eclass].data.ty, &egraph[new].data.ty);
            if want == got {
                Ok(new)
            } else {
                Err(Reject::new(
                    "same-type",
                    format!("internal: the replacement has type {got}, not {want}"),
                ))
            }
        });
        match result {
            Ok(new) => {
                if egraph.union(eclass, new) {
                    vec![eclass]
                } else {
                    Vec::new()
                }
            }
            Err(_) if !self.rule.reports() => Vec::new(),
            Err(r) => {
                let already = egraph.analysis.rejections.iter().any(|x| {
                    x.class == eclass
                        && x.root == root
                        && x.rule == self.rule.name()
                        && x.guard == r.guard
                });
                if !already {
                    egraph.analysis.rejections.push(Rejection {
                        class: eclass,
                        root,
                        rule: self.rule.name(),
                        guard: r.guard,
                        detail: r.detail,
                    });
                }
                Vec::new()
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Helpers for appliers: reading classes and adding typed nodes.

/// The interned op and type of an e-node.
pub fn entry(eg: &QEGraph, node: &QNode) -> Arc<OpEntry> {
    eg.analysis.table.get(node.op).clone()
}

/// The e-nodes of class `c` whose op satisfies `pred`, in the class's order.
pub fn nodes_where<'a>(
    eg: &'a QEGraph,
    c: Id,
    pred: impl Fn(&Op) -> bool + 'a,
) -> impl Iterator<Item = &'a QNode> + 'a {
    eg[c]
        .iter()
        .filter(move |n| pred(&eg.analysis.table.get(n.op).op))
}

/// For a two-op pattern `outer(inner(x))` rooted at `node`: one match per
/// e-node of `node`'s first operand class whose op satisfies `inner`, with
/// `ops = [node's op, inner's op]` and `ids = [x]`.
pub fn push_nested(eg: &QEGraph, node: &QNode, inner: impl Fn(&Op) -> bool, out: &mut Vec<Match>) {
    for n in nodes_where(eg, node.children[0], inner) {
        out.push(Match {
            ops: vec![node.op, n.op],
            ids: vec![eg.find(n.children[0])],
        });
    }
}

/// The operand of the first `dequantize` e-node in class `c`.
pub fn dequantized_source(eg: &QEGraph, c: Id) -> Option<Id> {
    nodes_where(eg, c, |op| matches!(op, Op::Dequantize))
        .next()
        .map(|n| eg.find(n.children[0]))
}

/// Adds `op` applied to `args`, typed by the verifier's rule
/// (`qcc_ir::verify::result_type`) with the quantized parameters `quant`
/// where the rule leaves them to the writer. A typing error is a [`Reject`]
/// of the guard `typing`.
pub fn add_op(
    eg: &mut QEGraph,
    op: Op,
    args: &[Id],
    quant: Option<&QuantType>,
) -> Result<Id, Reject> {
    let tys: Vec<TensorType> = args.iter().map(|&a| eg[a].data.ty.clone()).collect();
    let refs: Vec<&TensorType> = tys.iter().collect();
    let ty = qcc_ir::verify::result_type(&op, &refs, quant)
        .map_err(|e| Reject::new("typing", format!("`{}` cannot be typed: {e}", op.name())))?;
    Ok(add_typed(eg, op, args, ty))
}

/// Adds `op` applied to `args` with the written type `ty`, checked against
/// the op's whole typing rule (`qcc_ir::verify::check_op`).
pub fn add_checked(eg: &mut QEGraph, op: Op, args: &[Id], ty: TensorType) -> Result<Id, Reject> {
    let tys: Vec<TensorType> = args.iter().map(|&a| eg[a].data.ty.clone()).collect();
    let refs: Vec<&TensorType> = tys.iter().collect();
    qcc_ir::verify::check_op(&op, &refs, &ty)
        .map_err(|e| Reject::new("typing", format!("`{}` cannot be typed: {e}", op.name())))?;
    Ok(add_typed(eg, op, args, ty))
}

/// Adds a constant of type `ty` from its elements in logical (row-major)
/// order: data for a packed layout is packed here (`qcc_ir::layout`).
pub fn add_const(eg: &mut QEGraph, data: TensorData, ty: TensorType) -> Id {
    let data = if ty.layout.is_packed() {
        qcc_ir::layout::pack(ty.layout, &ty.shape, &data).unwrap_or(data)
    } else {
        data
    };
    add_typed(eg, Op::Const(qcc_ir::ConstData::new(data)), &[], ty)
}

/// Adds a constant of type `ty` whose data is already in the stored order
/// of its layout (packed for a packed layout).
pub fn add_stored_const(eg: &mut QEGraph, data: TensorData, ty: TensorType) -> Id {
    add_typed(eg, Op::Const(qcc_ir::ConstData::new(data)), &[], ty)
}

fn add_typed(eg: &mut QEGraph, op: Op, args: &[Id], ty: TensorType) -> Id {
    let op = eg.analysis.table.intern(op, ty);
    eg.add(QNode {
        op,
        children: args.to_vec(),
    })
}

// ---------------------------------------------------------------------------
// The driver.

/// What one e-graph run did, for `--stats`.
#[derive(Debug, Default)]
struct RunStats {
    regions: u64,
    nodes_in: u64,
    nodes_max: u64,
    classes_max: u64,
    iterations: u64,
    stops: Vec<(String, u64)>,
    applied: Vec<(&'static str, u64)>,
}

fn stop_name(r: &Option<egg::StopReason>) -> String {
    match r {
        Some(egg::StopReason::Saturated) => "saturated".into(),
        Some(egg::StopReason::IterationLimit(n)) => format!("iteration limit ({n})"),
        Some(egg::StopReason::NodeLimit(n)) => format!("node limit ({n})"),
        Some(egg::StopReason::TimeLimit(_)) => "time limit".into(),
        Some(egg::StopReason::Other(s)) => s.clone(),
        None => "not run".into(),
    }
}

/// A remark the driver produces: a rejected match on a value that kept the
/// matched op.
#[derive(Clone, Debug)]
pub struct Remark {
    pub value: ValueId,
    pub text: String,
}

/// Rewrites `graph` with `rules`: builds the e-graph (region by region for
/// big graphs), saturates within the limits, extracts the cheapest graph
/// and replaces `graph` with it. Stats go to `log`; the remarks about
/// rejected matches are returned (with the value they concern in the new
/// graph) so that the pass can word them.
pub fn rewrite(
    graph: &mut Graph,
    rules: &[Arc<dyn Rule>],
    options: &PassOptions,
    log: &mut PassLog,
) -> Vec<Remark> {
    let rewrites: Vec<Rewrite<QNode, QAnalysis>> = rules
        .iter()
        .map(|r| {
            let a = RuleAdapter::new(r.clone());
            let b = RuleAdapter::new(r.clone());
            Rewrite::new(r.name(), a, b).expect("custom rules bind no variables")
        })
        .collect();
    let mut stats = RunStats {
        applied: rules.iter().map(|r| (r.name(), 0)).collect(),
        ..RunStats::default()
    };
    let order: Vec<ValueId> = live_order(graph);
    let mut remarks = Vec::new();
    let regions: Vec<&[ValueId]> = if order.len() > REGION_NODES {
        order.chunks(REGION_NODES).collect()
    } else {
        vec![&order[..]]
    };
    for region in regions {
        let r = rewrite_region(graph, region, &rewrites, options, &mut stats);
        remarks.extend(r);
    }
    graph.remove_dead();
    if stats.regions > 1 {
        log.stat("e-graph regions", stats.regions);
    }
    log.stat("e-graph nodes in", stats.nodes_in);
    log.stat("e-graph nodes at most", stats.nodes_max);
    log.stat("e-graph classes at most", stats.classes_max);
    log.stat("iterations", stats.iterations);
    for (s, n) in stats.stops {
        log.stat(format!("stop: {s}"), n);
    }
    for (r, n) in stats.applied {
        log.stat(format!("rule {r}"), n);
    }
    remarks
}

/// The live non-input nodes in canonical order.
fn live_order(graph: &Graph) -> Vec<ValueId> {
    let mut g = graph.clone();
    g.remove_dead();
    g.canonical_order()
        .into_iter()
        .filter(|&v| !matches!(g.node(v).op, Op::Input(_)))
        .collect()
}

/// Rewrites the nodes of `region` (in canonical order; operands outside it
/// are leaves) in place in `graph`.
fn rewrite_region(
    graph: &mut Graph,
    region: &[ValueId],
    rewrites: &[Rewrite<QNode, QAnalysis>],
    options: &PassOptions,
    stats: &mut RunStats,
) -> Vec<Remark> {
    let mut eg: QEGraph = EGraph::new(QAnalysis {
        mode: options.requant,
        target: options.target,
        ..QAnalysis::default()
    });
    // Leaves: values used by the region but defined outside it (graph
    // inputs, or nodes of earlier regions) become `input` e-nodes with
    // their own numbering; `leaf_values[i]` is the value of leaf `i`.
    let in_region: std::collections::HashSet<ValueId> = region.iter().copied().collect();
    let mut leaf_values: Vec<ValueId> = Vec::new();
    let mut class_of: HashMap<ValueId, Id> = HashMap::new();
    let mut names: HashMap<Id, ValueId> = HashMap::new();
    for &v in region {
        let mut children = Vec::new();
        for a in graph.args(v) {
            let c = match class_of.get(&a) {
                Some(&c) => c,
                None => {
                    debug_assert!(!in_region.contains(&a));
                    let i = leaf_values.len();
                    leaf_values.push(a);
                    let c = add_typed(&mut eg, Op::Input(i), &[], graph.ty(a).clone());
                    class_of.insert(a, c);
                    c
                }
            };
            children.push(c);
        }
        let node = graph.node(v);
        let c = add_typed(&mut eg, node.op.clone(), &children, node.ty.clone());
        class_of.insert(v, c);
        names.entry(c).or_insert(v);
    }
    // Roots: region values used outside the region or as outputs.
    let mut roots: Vec<ValueId> = Vec::new();
    for &v in region {
        let used_outside = graph.users(v).iter().any(|(u, _)| !in_region.contains(u))
            || graph.outputs().iter().any(|o| o.value == v);
        if used_outside {
            roots.push(v);
        }
    }
    eg.rebuild();
    stats.regions += 1;
    stats.nodes_in += eg.total_number_of_nodes() as u64;
    let runner: Runner<QNode, QAnalysis, ()> = Runner::new(QAnalysis::default())
        .with_egraph(eg)
        .with_iter_limit(ITER_LIMIT)
        .with_node_limit(NODE_LIMIT)
        .with_time_limit(NO_TIME_LIMIT)
        .with_scheduler(egg::SimpleScheduler)
        .run(rewrites);
    for it in &runner.iterations {
        stats.nodes_max = stats.nodes_max.max(it.egraph_nodes as u64);
        stats.classes_max = stats.classes_max.max(it.egraph_classes as u64);
        for (name, n) in &it.applied {
            if let Some(s) = stats.applied.iter_mut().find(|(r, _)| *r == name.as_str()) {
                s.1 += *n as u64;
            }
        }
    }
    let eg = runner.egraph;
    stats.nodes_max = stats.nodes_max.max(eg.total_number_of_nodes() as u64);
    stats.classes_max = stats.classes_max.max(eg.number_of_classes() as u64);
    stats.iterations += runner.iterations.len() as u64;
    let stop = stop_name(&runner.stop_reason);
    match stats.stops.iter_mut().find(|(s, _)| *s == stop) {
        Some(s) => s.1 += 1,
        None => stats.stops.push((stop, 1)),
    }
    let names: HashMap<Id, ValueId> = {
        // The first value (in canonical order) of each final class names it.
        let mut m = HashMap::new();
        for &v in region {
            m.entry(eg.find(class_of[&v])).or_insert(v);
        }
        let _ = names;
        m
    };
    let root_classes: Vec<(ValueId, Id)> =
        roots.iter().map(|&v| (v, eg.find(class_of[&v]))).collect();
    extract::splice(graph, &eg, &leaf_values, &names, &root_classes)
}
