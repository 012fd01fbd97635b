//! The verifier: every typing rule and graph invariant, checked on a whole
//! graph. It collects every error as a [`Diagnostic`] (pointing at the
//! node's span when the graph came from text, naming the value in a note
//! otherwise), never stops at the first, and never panics, however
//! malformed the graph.
//!
//! It verifies:
//!
//! Graph structure
//!
//! - The graph has no cycles; each cycle is reported once, naming its values.
//! - Every node has as many operands as its op takes ([`Op::arity`]).
//! - The graph's inputs are exactly its `input` nodes: input `i` is a node of
//!   the graph whose op is `Op::Input(i)`, and every `input` node is listed
//!   there. Every input has a name.
//! - Every output refers to a node of the graph.
//! - Output names are unique, valid names (letters, digits, `_`, `.`, `$`)
//!   and not purely numeric; they may equal a value's name. Stored value
//!   names (inputs included) are unique, valid and not purely numeric (the
//!   printer numbers unnamed values `%0`, `%1`, ...).
//!
//! Types
//!
//! - Every value's type passes [`TensorType::check`]: every scale finite
//!   and positive, zero points inside the (narrow) storage range, a
//!   per-axis axis below the rank with one scale per index along it; a
//!   packed layout on `i8` data of the rank its kind needs, per-axis
//!   parameters on its channel axis (`crate::layout`); a blocked type's
//!   block divides its axis, with one (finite) scale and zero point per
//!   block.
//! - Blocked types only on constants (not graph inputs, not op results),
//!   read only as the weights `w` of `dense_nbits` (`rules::infer`).
//! - Every dimension is at least 1.
//! - Only constants are in a packed layout (not inputs, not op results),
//!   a packed constant is no output, and ops read it only as the weights
//!   its layout is for (`rules::layout_misplaced`).
//!
//! Constants
//!
//! - The data has as many elements as the type (for a packed layout: the
//!   padded size, every padding element 0) and is stored in the type's
//!   storage type (packed 4-bit data has exactly the bytes it needs and a
//!   zero unused high nibble).
//! - Every integer element lies in the storage range (the narrow range of a
//!   quantized type).
//!
//! Ops (`docs/semantics.md` § Ops; the rules are in [`rules`], usable on
//! their own through [`infer`], [`check_op`] and [`result_type`])
//!
//! - Operand element types: f32 for float ops, quantized or integer for
//!   integer ops, per tensor or per axis only where the document allows it
//!   (weights per axis on their output-channel axis; no per axis for
//!   reshape, flatten, concat, average pools, add_int, the `x` of
//!   matmul_int / conv2d_int; maxpool2d only on axis 0 or 1).
//! - Ranks and shapes: matmul's inner and batch dimensions, dense and conv
//!   weights, bias shapes, broadcasting, concat's dimensions.
//! - Attributes: strides, dilations and kernels at least 1, groups dividing
//!   both channel counts, pool pads smaller than the kernel, every output
//!   spatial size at least 1, `perm` a permutation, axes in range, clamp's
//!   `min ≤ max` and finite, no avgpool-only attribute on maxpool2d.
//! - The written result type equals the inferred one: the shape always; the
//!   element type where the rule determines it; for quantized results the
//!   kind (quantized, per tensor or per axis on the right axis, which
//!   transpose moves) with the parameters as written; for `matmul_int` /
//!   `conv2d_int` plain `i32` or the accumulator type with zero point 0 and
//!   scale `sx · sw` within a relative 2^-20 (likewise a quantized bias).
//! - Ops with run-time quantization parameters (`quantize_dyn`,
//!   `dequantize_dyn`, `matmul_int_dyn`, `conv2d_int_dyn`): integer operands
//!   are plain integer types, zero points have their data's storage type,
//!   scales and zero points broadcast to the data (or are rank 0 / one per
//!   output channel for the integer ops); `dynamic_scale` /
//!   `dynamic_zero_point` give rank-0 `f32` / `u8`.
//! - Rescale multipliers are below 2^31 ([`crate::quant::MAX_MULTIPLIER`]):
//!   requantize (every channel), quantized average pools
//!   (`s_in / (s_out · count)` at the smallest count), add_int (every
//!   rescale of its mode), in every mode; in the fixed-point modes the
//!   multiplier must also not round up to 2^31 (shift 32). The fixed-point
//!   modes of add_int need operands of at most 8 bits. The window sum of a
//!   quantized average pool fits in i32.
//!
//! Accumulator bounds (`docs/semantics.md` § Accumulator bounds, in
//! [`bounds`])
//!
//! - For matmul_int and conv2d_int (and their `_dyn` forms, with the zero
//!   points at their worst), per output channel,
//!   `Σ_k max|x − zx| · |w[k, n] − zw[n]|` (from the constant weights when
//!   `w` is a constant) plus `|bias[n]|` for a constant bias is at most
//!   2^31 − 1; the error names the op, the channel and the bound.
//!
//! A node whose own type or an operand's type is invalid, or whose operand
//! count is wrong, is not checked against its op's rule: the invalid type or
//! count is the error reported, so one mistake gives one diagnostic.
//! Diagnostics come in canonical order ([`Graph::canonical_order`]), so
//! they do not depend on petgraph indices.

pub mod bounds;
pub mod rules;

#[cfg(test)]
mod tests;

pub use bounds::{AccumulatorBounds, ChannelBound, accumulator_bounds};
pub use rules::{
    AxisRule, ElemRule, Inferred, ShapeRule, TypeError, broadcast_shapes, check_op, check_type,
    infer, layout_misplaced, result_type, scale_matches, window_output_size,
};

use crate::diag::Diagnostic;
use crate::graph::{Graph, ValueId};
use crate::limits::Limits;
use crate::op::Op;
use crate::tensor::TensorData;
use crate::types::TensorType;
use std::collections::{HashMap, HashSet};

/// Checks the graph. Returns every problem found.
pub fn verify(graph: &Graph) -> Result<(), Vec<Diagnostic>> {
    verify_with(graph, &Limits::default())
}

/// [`verify`] with resource limits other than the defaults: values, node
/// count and constant bytes beyond them are errors that name the limit.
pub fn verify_with(graph: &Graph, limits: &Limits) -> Result<(), Vec<Diagnostic>> {
    let mut v = Verifier {
        graph,
        diags: Vec::new(),
        limits: *limits,
    };
    if !v.check_limits() {
        return Err(v.diags);
    }
    v.run();
    if v.diags.is_empty() {
        Ok(())
    } else {
        Err(v.diags)
    }
}

/// [`infer`] for a node of a graph, from its operands' types. An `input` or
/// `const` gives its written type.
pub fn infer_value(graph: &Graph, v: ValueId) -> Result<Inferred, TypeError> {
    if !graph.contains(v) {
        return Err(TypeError::new(format!("{v} is not in the graph")));
    }
    let node = graph.node(v);
    if matches!(node.op, Op::Input(_) | Op::Const(_)) {
        check_type(&node.ty).map_err(TypeError::new)?;
        return Ok(Inferred {
            shape: ShapeRule::Exact(node.ty.shape.clone()),
            elem: ElemRule::Exact(node.ty.elem.clone()),
        });
    }
    let args = graph.args(v);
    let tys: Vec<&TensorType> = args.iter().map(|&a| graph.ty(a)).collect();
    infer(&node.op, &tys)
}

/// True for a name the text format can write after `%`: letters, digits,
/// `_`, `.`, `$`, at least one character.
fn is_valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$'))
}

/// True for a name of digits only (`0`, `12`, `007`): the printer's numbering.
fn is_numeric(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_digit())
}

struct Verifier<'g> {
    graph: &'g Graph,
    diags: Vec<Diagnostic>,
    limits: Limits,
}

impl Verifier<'_> {
    /// An error located at node `v`: its span, or a note naming it.
    fn at(&self, v: ValueId, message: impl Into<String>) -> Diagnostic {
        let node = self.graph.node(v);
        Diagnostic::error(message).at(node.span, format!("in {}", self.graph.describe(v)))
    }

    fn report(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// The resource limits, checked first and without walking the graph's
    /// structure (so a huge graph is refused cheaply). Returns whether the
    /// graph is within them; the other checks run only if it is.
    fn check_limits(&mut self) -> bool {
        let g = self.graph;
        let l = self.limits;
        let before = self.diags.len();
        if g.node_count() > l.max_nodes {
            self.report(
                Diagnostic::error(format!(
                    "the graph has {} nodes, more than the limit of {}",
                    g.node_count(),
                    l.max_nodes
                ))
                .with_note("raise the limit with `Limits::max_nodes` (qcc: `--max-nodes N`)"),
            );
            return false;
        }
        let mut const_bytes: usize = 0;
        for v in g.node_ids() {
            let node = g.node(v);
            // An element count that overflows is reported by the type check.
            if let Some(count) = node.ty.num_elements()
                && count > l.max_tensor_elements
            {
                let d = self
                    .at(
                        v,
                        format!(
                            "{} has {count} elements, more than the limit of {} for one tensor",
                            g.describe(v),
                            l.max_tensor_elements
                        ),
                    )
                    .with_note(
                        "raise the limit with `Limits::max_tensor_elements` \
                     (qcc: `--max-tensor-elements N`)",
                    );
                self.report(d);
            }
            if let Op::Const(c) = &node.op {
                const_bytes =
                    const_bytes.saturating_add(c.data.scalar_type().storage_bytes(c.data.len()));
            }
        }
        if const_bytes > l.max_constant_bytes {
            self.report(
                Diagnostic::error(format!(
                    "the constants take {const_bytes} bytes, more than the limit of {}",
                    l.max_constant_bytes
                ))
                .with_note(
                    "raise the limit with `Limits::max_constant_bytes` \
                     (qcc: `--max-constant-bytes N`)",
                ),
            );
        }
        self.diags.len() == before
    }

    fn run(&mut self) {
        let g = self.graph;
        let outputs_ok = self.check_outputs();
        self.check_inputs();
        self.check_cycles();
        // Canonical order walks from the outputs, so it needs them to exist.
        let order: Vec<ValueId> = if outputs_ok {
            g.canonical_order()
                .into_iter()
                .filter(|&v| g.contains(v))
                .collect()
        } else {
            g.node_ids().collect()
        };
        self.check_names(&order);
        let valid: HashSet<ValueId> = order
            .iter()
            .copied()
            .filter(|&v| check_type(g.ty(v)).is_ok())
            .collect();
        for &v in &order {
            self.check_node(v, &valid);
        }
    }

    /// Every output refers to a node; output names are unique and valid.
    /// Returns whether every output refers to a node.
    fn check_outputs(&mut self) -> bool {
        let g = self.graph;
        let mut all_exist = true;
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, o) in g.outputs().iter().enumerate() {
            let label = format!("output {i}");
            if !g.contains(o.value) {
                all_exist = false;
                self.report(
                    Diagnostic::error(format!(
                        "output `{}` refers to {}, which is not in the graph",
                        o.name, o.value
                    ))
                    .at(o.span, label.clone()),
                );
            }
            if !is_valid_name(&o.name) {
                self.report(
                    Diagnostic::error(format!(
                        "output name `{}` is not a valid name (letters, digits, `_`, `.`, `$`)",
                        o.name
                    ))
                    .at(o.span, label.clone()),
                );
            } else if is_numeric(&o.name) {
                self.report(
                    Diagnostic::error(format!(
                        "output name `{}` is purely numeric; output names must not be",
                        o.name
                    ))
                    .at(o.span, label.clone()),
                );
            }
            if let Some(&first) = seen.get(o.name.as_str()) {
                self.report(
                    Diagnostic::error(format!("output name `{}` is declared twice", o.name))
                        .at(o.span, label)
                        .with_note(format!("output {first} has the same name")),
                );
            } else {
                seen.insert(&o.name, i);
            }
        }
        all_exist
    }

    /// The graph's inputs are its `input` nodes, in order, and are named.
    fn check_inputs(&mut self) {
        let g = self.graph;
        for (i, &v) in g.inputs().iter().enumerate() {
            if !g.contains(v) {
                self.report(Diagnostic::error(format!(
                    "graph input {i} refers to {v}, which is not in the graph"
                )));
                continue;
            }
            match g.node(v).op {
                Op::Input(j) if j == i => {}
                Op::Input(j) => {
                    let d = self.at(v, format!("graph input {i} is the node of input {j}"));
                    self.report(d);
                }
                ref op => {
                    let d = self.at(
                        v,
                        format!("graph input {i} is a `{}` node, not an input", op.name()),
                    );
                    self.report(d);
                }
            }
            if g.node(v).name.is_none() {
                let d = self.at(v, format!("graph input {i} has no name"));
                self.report(d);
            }
        }
        for v in g.node_ids() {
            if let Op::Input(i) = g.node(v).op
                && g.inputs().get(i) != Some(&v)
            {
                let d = self.at(
                    v,
                    format!("an `input` node (number {i}) that is not the graph's input {i}"),
                );
                self.report(d);
            }
        }
    }

    /// Finds every cycle (Kahn's algorithm, then a walk along operands
    /// through what is left) and reports each once.
    fn check_cycles(&mut self) {
        let g = self.graph;
        let mut pending: HashMap<ValueId, usize> =
            g.node_ids().map(|v| (v, g.args(v).len())).collect();
        let mut ready: Vec<ValueId> = g.node_ids().filter(|v| pending[v] == 0).collect();
        while let Some(v) = ready.pop() {
            pending.remove(&v);
            for (u, _) in g.users(v) {
                if let Some(n) = pending.get_mut(&u) {
                    *n -= 1;
                    if *n == 0 {
                        ready.push(u);
                    }
                }
            }
        }
        if pending.is_empty() {
            return;
        }
        // Every node left has an operand that is left too: walking operands
        // from any of them reaches a cycle.
        let left: Vec<ValueId> = g.node_ids().filter(|v| pending.contains_key(v)).collect();
        let mut done: HashSet<ValueId> = HashSet::new();
        for start in left {
            let mut path: Vec<ValueId> = Vec::new();
            let mut pos: HashMap<ValueId, usize> = HashMap::new();
            let mut cur = start;
            let cycle = loop {
                if done.contains(&cur) {
                    break None;
                }
                if let Some(&p) = pos.get(&cur) {
                    break Some(path[p..].to_vec());
                }
                pos.insert(cur, path.len());
                path.push(cur);
                match g.args(cur).into_iter().find(|a| pending.contains_key(a)) {
                    Some(next) => cur = next,
                    None => break None,
                }
            };
            done.extend(path.iter().copied());
            if let Some(mut cycle) = cycle {
                // The walk went from users to operands; print in data-flow order.
                cycle.reverse();
                let first = cycle[0];
                let mut names: Vec<String> = cycle.iter().map(|&v| g.describe(v)).collect();
                names.push(g.describe(first));
                let d = self.at(
                    first,
                    format!("the graph has a cycle: {}", names.join(" -> ")),
                );
                self.report(d);
            }
        }
    }

    /// Stored names are unique, valid and not purely numeric.
    fn check_names(&mut self, order: &[ValueId]) {
        let g = self.graph;
        let mut first: HashMap<&str, ValueId> = HashMap::new();
        for &v in order {
            let Some(name) = g.node(v).name.as_deref() else {
                continue;
            };
            if !is_valid_name(name) {
                let d = self.at(
                    v,
                    format!(
                        "the value name `%{name}` is not valid (letters, digits, `_`, `.`, `$`)"
                    ),
                );
                self.report(d);
            } else if is_numeric(name) {
                let d = self.at(
                    v,
                    format!(
                        "the stored value name `%{name}` is purely numeric; only the printer \
                         numbers values"
                    ),
                );
                self.report(d);
            }
            match first.get(name) {
                Some(&f) => {
                    let mut d = self.at(v, format!("the value name `%{name}` is defined twice"));
                    match g.node(f).span {
                        Some(s) => d = d.with_secondary(s, "first defined here"),
                        None => d = d.with_note(format!("also the name of {}", g.describe(f))),
                    }
                    self.report(d);
                }
                None => {
                    first.insert(name, v);
                }
            }
        }
    }

    fn check_node(&mut self, v: ValueId, valid: &HashSet<ValueId>) {
        let g = self.graph;
        let node = g.node(v);
        let op = &node.op;
        let own_valid = valid.contains(&v);
        if let Err(m) = check_type(&node.ty) {
            let d = self.at(v, format!("invalid type: {m}"));
            self.report(d);
        }
        let args = g.args(v);
        let arity_ok = op.arity().accepts(args.len());
        if !arity_ok {
            let d = self.at(
                v,
                format!("`{}` takes {}, found {}", op.name(), op.arity(), args.len()),
            );
            self.report(d);
        }
        if node.ty.layout.is_packed() && !matches!(op, Op::Const(_)) {
            let what = match op {
                Op::Input(_) => "a graph input".to_string(),
                op => format!("the result of `{}`", op.name()),
            };
            let d = self
                .at(
                    v,
                    format!(
                        "{what} cannot be in layout `{}`: only constants are packed",
                        node.ty.layout
                    ),
                )
                .with_note("values computed or given at run time are row-major");
            self.report(d);
        }
        if matches!(op, Op::Input(_)) && node.ty.elem.as_quant().is_some_and(|q| q.is_blocked()) {
            let d = self
                .at(
                    v,
                    format!(
                        "a graph input cannot be quantized in blocks (`{}`)",
                        rules::short_blocked(&node.ty.elem)
                    ),
                )
                .with_note("blocked types are for constant weights (`dense_nbits`)");
            self.report(d);
        }
        match op {
            Op::Input(_) => return,
            Op::Const(c) => {
                self.check_const(v, &c.data, own_valid);
                return;
            }
            _ => {}
        }
        if !arity_ok || !own_valid || !args.iter().all(|a| valid.contains(a)) {
            return;
        }
        let tys: Vec<&TensorType> = args.iter().map(|&a| g.ty(a)).collect();
        match check_op(op, &tys, &node.ty) {
            Ok(_) => {}
            Err(e) => {
                for m in e.messages {
                    let d = self.at(v, format!("`{}`: {m}", op.name()));
                    self.report(d);
                }
                return;
            }
        }
        if matches!(
            op,
            Op::MatMulInt(_) | Op::Conv2dInt(..) | Op::MatMulIntDyn | Op::Conv2dIntDyn(_)
        ) {
            self.check_accumulator(v);
        }
    }

    fn check_const(&mut self, v: ValueId, data: &TensorData, type_valid: bool) {
        let ty = self.graph.ty(v);
        let storage = ty.elem.storage();
        let mut sound = true;
        if ty.layout.is_packed() {
            if type_valid {
                self.check_packed(v, data);
            }
        } else if let Some(n) = ty.num_elements()
            && data.len() != n
        {
            sound = false;
            let d = self.at(
                v,
                format!(
                    "the constant has {} elements but its shape {:?} has {n}",
                    data.len(),
                    ty.shape
                ),
            );
            self.report(d);
        }
        if data.scalar_type() != storage {
            sound = false;
            let d = self.at(
                v,
                format!(
                    "the constant's data is `{}` but its type stores `{storage}`",
                    data.scalar_type()
                ),
            );
            self.report(d);
        }
        if !bounds::data_is_sound(data) {
            let d = self.at(
                v,
                format!(
                    "packed 4-bit data for {} elements needs {} bytes",
                    data.len(),
                    data.len().div_ceil(2)
                ),
            );
            self.report(d);
            return;
        }
        if let TensorData::I4(p) | TensorData::U4(p) = data
            && p.len % 2 == 1
            && p.bytes.last().is_some_and(|b| b >> 4 != 0)
        {
            let d = self.at(
                v,
                "the unused high nibble of the last byte of packed 4-bit data must be 0",
            );
            self.report(d);
        }
        if !sound || !type_valid {
            return;
        }
        let Some((lo, hi)) = ty.elem.int_range() else {
            return;
        };
        // Every value of the storage type is in range (the common case of
        // full-range types): nothing to scan.
        if data
            .scalar_type()
            .int_range()
            .is_some_and(|(dlo, dhi)| lo <= dlo && dhi <= hi)
        {
            return;
        }
        let mut bad = (0..data.len())
            .filter_map(|i| data.get_int(i).map(|x| (i, x)))
            .filter(|&(_, x)| x < lo || x > hi);
        if let Some((i, x)) = bad.next() {
            let more = bad.count();
            let mut d = self.at(
                v,
                format!(
                    "constant element {i} is {x}, outside the storage range {lo}..={hi} of `{}`",
                    ty.elem
                ),
            );
            if more > 0 {
                d = d.with_note(format!("{more} more elements are out of range"));
            }
            self.report(d);
        }
    }

    /// A constant in a packed layout: its data has the padded size, the
    /// padding is 0, and it is not an output (that its users read it as
    /// the weights its layout is for is their typing rule's check).
    fn check_packed(&mut self, v: ValueId, data: &TensorData) {
        let g = self.graph;
        let ty = g.ty(v);
        let layout = ty.layout;
        let Some(geo) = layout.geometry(&ty.shape) else {
            return;
        };
        if data.len() != geo.len() {
            let d = self
                .at(
                    v,
                    format!(
                        "the constant in layout `{layout}` has {} elements but needs {}",
                        data.len(),
                        geo.len()
                    ),
                )
                .with_note(format!(
                    "the [K, N] = [{}, {}] weights are stored padded to [{}, {}]",
                    geo.k, geo.n, geo.kp, geo.np
                ));
            self.report(d);
        } else if let TensorData::I8(bytes) = data
            && let Some(i) = geo.nonzero_padding(bytes)
        {
            let d = self.at(
                v,
                format!(
                    "padding element {i} of the constant in layout `{layout}` is {}, not 0",
                    bytes[i]
                ),
            );
            self.report(d);
        }
        if let Some(o) = g.outputs().iter().find(|o| o.value == v) {
            let d = self.at(
                v,
                format!(
                    "output `{}` is a constant in layout `{layout}`; outputs are row-major",
                    o.name
                ),
            );
            self.report(d);
        }
    }

    fn check_accumulator(&mut self, v: ValueId) {
        let g = self.graph;
        // The types' bound first: when it fits, the weights need no pass.
        if bounds::type_bounds(g, v).is_some_and(|b| b.first_overflow().is_none()) {
            return;
        }
        let Some(b) = accumulator_bounds(g, v) else {
            return;
        };
        let Some((n, c, count)) = b.first_overflow() else {
            return;
        };
        let total = c.total();
        let more = count - 1;
        let op = g.node(v).op.name();
        let source = if b.w_from_data {
            "|w - zw| from the constant weights"
        } else {
            "|w - zw| at its largest for `w`'s type (`w` is not a constant)"
        };
        let mut d = self
            .at(
                v,
                format!(
                    "`{op}`: the accumulator of output channel {n} may overflow i32: its bound \
                     {total} exceeds 2^31 - 1 = {}",
                    i32::MAX
                ),
            )
            .with_note(format!(
                "bound = max|x - zx| · Σ_k |w[k, {n}] - zw| = {} · {}, with {source} (the \
                 bias is added after the sum, saturating)",
                c.x_dev, c.w_sum
            ));
        if matches!(g.node(v).op, Op::MatMulIntDyn | Op::Conv2dIntDyn(_)) {
            d = d.with_note(
                "the zero points are run-time values: max|x - zx| is the width of `x`'s range, \
                 and |w - zw| is taken at its largest over `zw`'s range unless `zw` is a constant",
            );
        }
        if more > 0 {
            d = d.with_note(format!(
                "{more} more of the {} output channels exceed the bound",
                b.channel_count
            ));
        }
        self.report(d);
    }
}
