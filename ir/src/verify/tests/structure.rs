//! Graph structure, names, value types, constants, and where diagnostics point.

use super::*;
use crate::op::ConstData;
use crate::tensor::Packed4;
use petgraph::stable_graph::NodeIndex;

fn relu_graph() -> (Graph, ValueId, ValueId) {
    let mut g = Graph::new("t");
    let x = g.add_input("x", f32t(&[4]));
    let y = g.add_node(Op::Relu, &[x], f32t(&[4]));
    g.add_output("y", y);
    (g, x, y)
}

#[test]
fn empty_graph_is_valid() {
    assert_ok(&Graph::new("empty"));
}

// ---- structure ----

// Kept as an API test: the text parser rejects it first, with its own message.
#[test]
fn cycle() {
    let mut g = Graph::new("t");
    let x = g.add_input("x", f32t(&[4]));
    let a = g.add_node(Op::Relu, &[x], f32t(&[4]));
    let b = g.add_node(Op::Relu, &[a], f32t(&[4]));
    g.set_arg(a, 0, b);
    g.node_mut(a).name = Some("a".into());
    g.node_mut(b).name = Some("b".into());
    g.add_output("y", b);
    let d = assert_one(&g, "the graph has a cycle: ");
    assert!(
        d.message
            .contains("`%a` (relu) -> `%b` (relu) -> `%a` (relu)")
            || d.message
                .contains("`%b` (relu) -> `%a` (relu) -> `%b` (relu)"),
        "{}",
        d.message
    );
}

#[test]
fn self_loop_and_downstream_report_one_cycle() {
    let mut g = Graph::new("t");
    let x = g.add_input("x", f32t(&[4]));
    let a = g.add_node(Op::Add, &[x, x], f32t(&[4]));
    g.set_arg(a, 1, a);
    let b = g.add_node(Op::Relu, &[a], f32t(&[4]));
    g.add_output("y", b);
    let msgs = messages(&g);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(msgs[0].contains("cycle"), "{msgs:?}");
}

// Kept as an API test: the text format cannot express it (the printed graph parses to a valid one).
#[test]
fn input_node_not_among_inputs() {
    let (mut g, _, _) = relu_graph();
    let c = g.add_const(TensorData::F32(vec![1.0]), f32t(&[1]));
    g.node_mut(c).op = Op::Input(1);
    assert_one(
        &g,
        "an `input` node (number 1) that is not the graph's input 1",
    );
}

// Kept as an API test: the text parser rejects it first, with its own message.
#[test]
fn graph_input_that_is_not_an_input_node() {
    let mut g = Graph::new("t");
    let x = g.add_input("x", f32t(&[4]));
    g.node_mut(x).op = Op::Const(ConstData {
        data: TensorData::F32(vec![0.0; 4]).into(),
        file: None,
    });
    g.add_output("y", x);
    assert_one(&g, "graph input 0 is a `const` node, not an input");
}

// Kept as an API test: the text format cannot express it (the printed graph parses to a valid one).
#[test]
fn inputs_out_of_order() {
    let mut g = Graph::new("t");
    let a = g.add_input("a", f32t(&[4]));
    let b = g.add_input("b", f32t(&[4]));
    g.node_mut(a).op = Op::Input(1);
    g.node_mut(b).op = Op::Input(0);
    g.add_output("y", a);
    assert_has(&g, "graph input 0 is the node of input 1");
    assert_has(&g, "graph input 1 is the node of input 0");
}

// Kept as an API test: the text parser rejects it first, with its own message.
#[test]
fn unnamed_input() {
    let (mut g, x, _) = relu_graph();
    g.node_mut(x).name = None;
    assert_one(&g, "graph input 0 has no name");
}

#[test]
fn output_of_a_missing_value() {
    let (mut g, _, _) = relu_graph();
    g.add_output("z", ValueId(NodeIndex::new(99)));
    assert_one(&g, "output `z` refers to v99, which is not in the graph");
}

// Kept as an API test: the text parser rejects it first, with its own message.
#[test]
fn duplicate_output_names() {
    let (mut g, x, _) = relu_graph();
    g.add_output("y", x);
    let d = assert_one(&g, "output name `y` is declared twice");
    assert!(d.notes.iter().any(|n| n == "output 0 has the same name"));
}

// Kept as an API test: the text parser rejects it first, with its own message.
#[test]
fn invalid_output_name() {
    let (mut g, x, _) = relu_graph();
    g.add_output("a b", x);
    assert_one(&g, "output name `a b` is not a valid name");
}

// Kept as an API test: the text parser rejects it first, with its own message.
#[test]
fn duplicate_value_names() {
    let (mut g, _, y) = relu_graph();
    g.node_mut(y).name = Some("x".into());
    assert_one(&g, "the value name `%x` is defined twice");
}

// Kept as an API test: the text format cannot express it (the printed graph parses to a valid one).
#[test]
fn numeric_value_name() {
    let (mut g, _, y) = relu_graph();
    g.node_mut(y).name = Some("12".into());
    assert_one(&g, "the stored value name `%12` is purely numeric");
}

// Kept as an API test: the text parser rejects it first, with its own message.
#[test]
fn invalid_value_name() {
    let (mut g, _, y) = relu_graph();
    g.node_mut(y).name = Some("a-b".into());
    assert_one(&g, "the value name `%a-b` is not valid");
    g.node_mut(y).name = Some(String::new());
    assert_one(&g, "the value name `%` is not valid");
}

// ---- types ----

// Kept as an API test: the text parser rejects it first, with its own message.
#[test]
fn zero_scale() {
    let g = single(Op::Relu, &[ty(&[4], qt(U8, 0.0, 0))], f32t(&[4]));
    // The operand's type is the one error: the relu rule is not applied.
    assert_one(&g, "invalid type: scale must be finite and > 0, found 0.0");
}

// Kept as an API test: the text parser reports the bad type too, so the text form gives two diagnostics.
#[test]
fn nan_scale() {
    let g = single(Op::Quantize, &[f32t(&[4])], ty(&[4], qt(U8, f32::NAN, 128)));
    assert_one(&g, "scale must be finite and > 0, found NaN");
}

// Kept as an API test: the text parser reports the bad type too, so the text form gives two diagnostics.
#[test]
fn infinite_scale() {
    let g = single(
        Op::Quantize,
        &[f32t(&[4])],
        ty(&[4], qt(U8, f32::INFINITY, 0)),
    );
    assert_one(&g, "scale must be finite and > 0, found infinite");
}

// Kept as an API test: the text parser reports the bad type too, so the text form gives two diagnostics.
#[test]
fn zero_point_out_of_range() {
    let g = single(Op::Quantize, &[f32t(&[4])], ty(&[4], qt(I8, 0.5, 128)));
    assert_one(&g, "zero point 128 is outside the storage range -128..=127");
}

// Kept as an API test: the text parser reports the bad type too, so the text form gives two diagnostics.
#[test]
fn zero_point_outside_narrow_range() {
    let mut q = QuantType::per_tensor(I8, 0.5, -128);
    q.storage_min = -127;
    let g = single(Op::Quantize, &[f32t(&[4])], ty(&[4], ElemType::quant(q)));
    assert_one(
        &g,
        "zero point -128 is outside the storage range -127..=127",
    );
}

#[test]
fn zero_sized_dimension() {
    let g = single(Op::Relu, &[f32t(&[2, 0])], f32t(&[2, 0]));
    let msgs = messages(&g);
    // Both values have the bad type; each is reported once.
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(msgs.iter().all(|m| m.contains("dimension 1 has size 0")));
}

// ---- constants ----

fn const_graph(data: TensorData, t: TensorType) -> Graph {
    let mut g = Graph::new("t");
    let c = g.add_const(data, t);
    g.add_output("y", c);
    g
}

// Kept as an API test: the text parser rejects it first, with its own message.
#[test]
fn const_element_count() {
    let g = const_graph(ints(I8, &[1, 2, 3]), int(&[4], I8));
    assert_one(&g, "the constant has 3 elements but its shape [4] has 4");
}

// Kept as an API test: the text format cannot express it (the printed graph parses to a valid one).
#[test]
fn const_storage_type() {
    let g = const_graph(ints(I8, &[1, 2]), ty(&[2], qt(U8, 0.1, 0)));
    assert_one(&g, "the constant's data is `i8` but its type stores `u8`");
}

// Kept as an API test: the text parser rejects it first, with its own message.
#[test]
fn const_out_of_narrow_range() {
    let mut q = QuantType::per_tensor(I8, 0.5, 0);
    q.storage_min = -127;
    let g = const_graph(ints(I8, &[1, -128, 3, -128]), ty(&[4], ElemType::quant(q)));
    let d = assert_one(
        &g,
        "constant element 1 is -128, outside the storage range -127..=127",
    );
    assert!(
        d.notes
            .iter()
            .any(|n| n == "1 more elements are out of range")
    );
}

#[test]
fn const_packed_bytes() {
    let data = TensorData::I4(Packed4 {
        bytes: vec![0x11],
        len: 5,
    });
    let g = const_graph(data, int(&[5], I4));
    assert_one(&g, "packed 4-bit data for 5 elements needs 3 bytes");
}

// Kept as an API test: the text format cannot express it (the printed graph parses to a valid one).
#[test]
fn const_packed_high_nibble() {
    let data = TensorData::U4(Packed4 {
        bytes: vec![0x21, 0x53],
        len: 3,
    });
    let g = const_graph(data, int(&[3], U4));
    assert_one(
        &g,
        "the unused high nibble of the last byte of packed 4-bit data must be 0",
    );
}

#[test]
fn const_4bit_ok() {
    let g = const_graph(ints(I4, &[-8, 7, 1]), ty(&[3], qt(I4, 0.5, 0)));
    assert_ok(&g);
}

// ---- diagnostics ----

#[test]
fn collects_every_error() {
    let mut g = Graph::new("t");
    let x = g.add_input("x", f32t(&[4]));
    let a = g.add_node(Op::Relu, &[x], int(&[4], I8));
    let b = g.add_node(
        Op::Clamp {
            min: crate::op::F32Attr(2.0),
            max: crate::op::F32Attr(1.0),
        },
        &[x],
        f32t(&[4]),
    );
    let c = g.add_const(ints(I8, &[1]), int(&[2], I8));
    g.add_output("a", a);
    g.add_output("b", b);
    g.add_output("c", c);
    g.add_output("a", c);
    let msgs = messages(&g);
    assert_eq!(msgs.len(), 4, "{msgs:#?}");
    // Graph-level problems first, then nodes in canonical order.
    assert!(msgs[0].contains("output name `a` is declared twice"));
    assert!(msgs[1].contains("`relu`: result element type must be `f32`, found `i8`"));
    assert!(msgs[2].contains("`clamp`: `min` = 2 is greater than `max` = 1"));
    assert!(msgs[3].contains("the constant has 1 elements but its shape [2] has 2"));
}

// Kept as an API test: the text parser rejects it first, with its own message.
#[test]
fn numeric_output_name() {
    let (mut g, x, _) = relu_graph();
    g.add_output("007", x);
    assert_one(
        &g,
        "output name `007` is purely numeric; output names must not be",
    );
}

#[test]
fn output_name_may_equal_a_value_name() {
    let (mut g, x, _) = relu_graph();
    g.add_output("x", x);
    assert_ok(&g);
}
