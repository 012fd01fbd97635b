//! Tests of the text format: round trips (`parse(print(g)) == g`, printing is
//! a fixed point), the exact canonical text, one test per error class
//! (asserting on the rendered diagnostic), and property tests on random
//! graphs built through the `Graph` API and on mangled input.

use super::*;
use crate::diag::render;
use crate::graph::{Graph, TypeAlias, ValueId};
use crate::npy;
use crate::op::{ConstData, Conv2dAttrs, F32Attr, Op, Pool2dAttrs, RequantMode};
use crate::tensor::{Tensor, TensorData};
use crate::types::{ElemType, QuantType, ScalarType, TensorType};
use std::path::{Path, PathBuf};

// ---- helpers ----

fn parse_in(src: &str, dir: Option<&Path>) -> Graph {
    match parse(src, dir) {
        Ok(g) => g,
        Err(d) => panic!("unexpected errors:\n{}", render(&d, "test.txt", src)),
    }
}

fn parse_ok(src: &str) -> Graph {
    parse_in(src, None)
}

/// The rendered diagnostics for a source that must fail.
fn errors_in(src: &str, dir: Option<&Path>) -> String {
    match parse(src, dir) {
        Ok(g) => panic!("expected an error, parsed:\n{}", print(&g)),
        Err(d) => {
            assert!(!d.is_empty());
            for e in &d {
                assert!(e.span().is_some(), "diagnostic without a span: {e:?}");
            }
            render(&d, "test.txt", src)
        }
    }
}

fn errors(src: &str) -> String {
    errors_in(src, None)
}

/// Asserts that every needle occurs in the rendered text.
#[track_caller]
fn assert_has(text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "missing {n:?} in:\n{text}");
    }
}

/// `parse(print(g)) == g` and `print(parse(print(g))) == print(g)`.
#[track_caller]
fn round_trip_in(g: &Graph, dir: Option<&Path>) -> String {
    let text = print(g);
    let back = match parse(&text, dir) {
        Ok(b) => b,
        Err(d) => panic!(
            "printed text does not parse:\n{}\n{text}",
            render(&d, "printed.txt", &text)
        ),
    };
    if back != *g {
        let diff: Vec<String> = g
            .canonical_order()
            .iter()
            .zip(back.canonical_order())
            .filter(|(a, b)| {
                let (na, nb) = (g.node(**a), back.node(*b));
                na.op != nb.op || na.ty != nb.ty || na.name != nb.name
            })
            .map(|(a, b)| format!("{:?}\n  vs {:?}", g.node(*a), back.node(b)))
            .collect();
        panic!("round trip changed the graph:\n{text}\nfirst differences: {diff:#?}");
    }
    let again = print(&back);
    assert_eq!(again, text, "printing is not a fixed point");
    text
}

#[track_caller]
fn round_trip(g: &Graph) -> String {
    round_trip_in(g, None)
}

/// Parses, prints, and checks the round trip of the result.
#[track_caller]
fn text_round_trip(src: &str) -> String {
    let g = parse_ok(src);
    round_trip(&g)
}

/// A fresh empty folder under the system temp dir.
fn temp_dir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("qcc-text-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

fn ints(ty: ScalarType, v: &[i64]) -> TensorData {
    TensorData::from_i64s(ty, v).expect("in range")
}

const MLP: &str = r#"// A two-layer MLP in QDQ form.
!act = !quant.uniform<u8:f32, 0.0235:128>
!w1  = !quant.uniform<i8:f32:0, {0.012:0, 0.0098:0}>

graph @mlp(%x: tensor<1x4xf32>) -> (%y: tensor<1x2xf32>) {
  %xq = quantize %x : tensor<1x4x!act>
  %xd = dequantize %xq : tensor<1x4xf32>
  %w  = const dense<[1, -2, 3, 4, 5, 6, -7, 8]> : tensor<2x4x!w1>
  %wd = dequantize %w : tensor<2x4xf32>
  %b  = const dense<[0.5, -0.25]> : tensor<2xf32>
  %h  = dense %xd, %wd, %b : tensor<1x2xf32>
  %r  = relu %h : tensor<1x2xf32>
  return %r
}
"#;

// ---- round trips and the canonical form ----

#[test]
fn format_doc_example_prints_canonically() {
    let g = parse_ok(MLP);
    assert_eq!(g.name, "mlp");
    assert_eq!(g.aliases.len(), 2);
    let text = round_trip(&g);
    let want = "\
!act = !quant.uniform<u8:f32, 0.0235:128>
!w1 = !quant.uniform<i8:f32:0, {0.012:0, 0.0098:0}>

graph @mlp(%x: tensor<1x4xf32>) -> (%y: tensor<1x2xf32>) {
  %xq = quantize %x : tensor<1x4x!act>
  %xd = dequantize %xq : tensor<1x4xf32>
  %w = const dense<[1, -2, 3, 4, 5, 6, -7, 8]> : tensor<2x4x!w1>
  %wd = dequantize %w : tensor<2x4xf32>
  %b = const dense<[0.5, -0.25]> : tensor<2xf32>
  %h = dense %xd, %wd, %b : tensor<1x2xf32>
  %r = relu %h : tensor<1x2xf32>
  return %r
}
";
    assert_eq!(text, want);
}

#[test]
fn names_spans_and_outputs() {
    let g = parse_ok(MLP);
    let x = g.inputs()[0];
    assert_eq!(g.node(x).name.as_deref(), Some("x"));
    let xs = g.node(x).span.expect("input span");
    assert_eq!(&MLP[xs.range()], "%x");
    let out = &g.outputs()[0];
    assert_eq!(out.name, "y");
    assert_eq!(&MLP[out.span.expect("output span").range()], "%y");
    let r = out.value;
    assert_eq!(g.node(r).name.as_deref(), Some("r"));
    assert_eq!(g.node(r).op, Op::Relu);
    assert_eq!(&MLP[g.node(r).span.expect("op span").range()], "relu");
    let w = g
        .node_ids()
        .find(|v| g.node(*v).name.as_deref() == Some("w"))
        .expect("w");
    assert_eq!(&MLP[g.node(w).span.expect("const span").range()], "const");
}

#[test]
fn numeric_names_resolve_but_are_not_stored() {
    let src = "graph @g(%x: tensor<2xf32>) -> (%y: tensor<2xf32>) {
  %0 = relu %x : tensor<2xf32>
  %007 = add %0, %x : tensor<2xf32>
  %n1 = mul %007, %0 : tensor<2xf32>
  return %n1
}
";
    let g = parse_ok(src);
    let names: Vec<Option<String>> = g.node_ids().map(|v| g.node(v).name.clone()).collect();
    assert_eq!(names, vec![Some("x".into()), None, None, Some("n1".into())]);
    let text = round_trip(&g);
    assert_has(
        &text,
        &[
            "  %0 = relu %x : tensor<2xf32>\n",
            "  %1 = add %0, %x : tensor<2xf32>\n",
            "  %n1 = mul %1, %0 : tensor<2xf32>\n",
        ],
    );
}

#[test]
fn unnamed_values_are_numbered_in_canonical_order() {
    // Built in a scrambled order through the API, with a dead node.
    let mut g = Graph::new("api");
    let t = TensorType::f32(vec![3]);
    let x = g.add_input("x", t.clone());
    let dead = g.add_node(Op::Relu, &[x], t.clone());
    let c = g.add_const(TensorData::F32(vec![1.0, 2.0, 3.0]), t.clone());
    let a = g.add_node(Op::Add, &[x, c], t.clone());
    let m = g.add_node(Op::Mul, &[a, a], t.clone());
    g.node_mut(m).name = Some("m".into());
    g.add_output("out", m);
    g.add_output("sum", a);
    let _ = dead;
    let text = round_trip(&g);
    assert_eq!(
        text,
        "\
graph @api(%x: tensor<3xf32>) -> (%out: tensor<3xf32>, %sum: tensor<3xf32>) {
  %0 = const dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %1 = add %x, %0 : tensor<3xf32>
  %m = mul %1, %1 : tensor<3xf32>
  %2 = relu %x : tensor<3xf32>
  return %m, %1
}
"
    );
}

#[test]
fn empty_signature_and_input_returned_directly() {
    text_round_trip("graph @e() -> () {\n  return\n}\n");
    let text = text_round_trip(
        "graph @id(%x: tensor<f32>) -> (%x: tensor<f32>, %z: tensor<f32>) { return %x, %x }",
    );
    assert_eq!(
        text,
        "graph @id(%x: tensor<f32>) -> (%x: tensor<f32>, %z: tensor<f32>) {\n  return %x, %x\n}\n"
    );
}

/// Every op, every attribute with a non-default value.
const ALL_OPS: &str = r#"
!q = !quant.uniform<u8:f32, 0.5:10>
!acc = !quant.uniform<i32:f32, 0.25>
graph @all(%x: tensor<1x2x4x4xf32>, %m: tensor<4x4xf32>, %i: tensor<1x2x4x4x!q>) -> (%o: tensor<1x2x4x4xf32>) {
  %w = const dense<0.5> : tensor<2x1x3x3xf32>
  %b = const dense<[0.0, 1.0]> : tensor<2xf32>
  %c1 = conv2d %x, %w, %b {strides = [2, 1], pads = [1, 2, 3, 4], dilations = [1, 2], groups = 2} : tensor<1x2x3x4xf32>
  %c2 = conv2d %x, %w : tensor<1x2x2x2xf32>
  %mm = matmul %m, %m : tensor<4x4xf32>
  %d = dense %m, %m : tensor<4x4xf32>
  %wq = const dense<[1, 2, 3, 4, 5, 6, 7, 8]> : tensor<2x4x!quant.uniform<u4:f32:{1:2}, {0.5:8, 0.25:0, 1.0:3, 0.125:15}>>
  %dnb = dense_nbits %m, %wq, %b : tensor<4x2xf32>
  %dnq = dense_nbits_q8 %m, %wq : tensor<4x2xf32>
  %a = add %x, %x : tensor<1x2x4x4xf32>
  %mu = mul %x, %x : tensor<1x2x4x4xf32>
  %r = relu %x : tensor<1x2x4x4xf32>
  %e_sub = sub %x, %x : tensor<1x2x4x4xf32>
  %e_div = div %x, %x : tensor<1x2x4x4xf32>
  %e_pow = pow %x, %x : tensor<1x2x4x4xf32>
  %e_max = max %x, %x : tensor<1x2x4x4xf32>
  %e_min = min %x, %x : tensor<1x2x4x4xf32>
  %e_neg = neg %x : tensor<1x2x4x4xf32>
  %e_abs = abs %x : tensor<1x2x4x4xf32>
  %e_sqrt = sqrt %x : tensor<1x2x4x4xf32>
  %e_reciprocal = reciprocal %x : tensor<1x2x4x4xf32>
  %e_exp = exp %x : tensor<1x2x4x4xf32>
  %e_log = log %x : tensor<1x2x4x4xf32>
  %e_floor = floor %x : tensor<1x2x4x4xf32>
  %e_ceil = ceil %x : tensor<1x2x4x4xf32>
  %e_round = round %x : tensor<1x2x4x4xf32>
  %e_erf = erf %x : tensor<1x2x4x4xf32>
  %e_tanh = tanh %x : tensor<1x2x4x4xf32>
  %e_sigmoid = sigmoid %x : tensor<1x2x4x4xf32>
  %e_hard_swish = hard_swish %x : tensor<1x2x4x4xf32>
  %e_gelu = gelu %x : tensor<1x2x4x4xf32>
  %hs1 = hard_sigmoid %x : tensor<1x2x4x4xf32>
  %hs2 = hard_sigmoid %x {alpha = 0.25, beta = 0.0} : tensor<1x2x4x4xf32>
  %lr1 = leaky_relu %x : tensor<1x2x4x4xf32>
  %lr2 = leaky_relu %x {alpha = 0.5} : tensor<1x2x4x4xf32>
  %cl = clamp %x {min = -1.5, max = 6} : tensor<1x2x4x4xf32>
  %mp = maxpool2d %x {kernel = [2, 2], strides = [2, 2], pads = [0, 1, 0, 1]} : tensor<1x2x2x3xf32>
  %ap = avgpool2d %i {kernel = [3, 1], count_include_pad = true, mode = double_round} : tensor<1x2x2x4x!q>
  %gp = global_avgpool %i {mode = single_round} : tensor<1x2x1x1x!q>
  %gf = global_avgpool %x : tensor<1x2x1x1xf32>
  %rs = reshape %x : tensor<2x16xf32>
  %fl = flatten %x {axis = 2} : tensor<8x4xf32>
  %f1 = flatten %x : tensor<1x32xf32>
  %tr = transpose %x {perm = [0, 2, 3, 1]} : tensor<1x4x4x2xf32>
  %cc = concat %x, %x, %x {axis = 1} : tensor<1x6x4x4xf32>
  %rm = reduce_mean %x {axes = [1, 3]} : tensor<1x1x4x1xf32>
  %rsum = reduce_sum %x {axes = [0]} : tensor<1x2x4x4xf32>
  %rx = reduce_max %x {axes = [2, 3]} : tensor<1x2x1x1xf32>
  %rn = reduce_min %x {axes = [3]} : tensor<1x2x4x1xf32>
  %rp = reduce_prod %x {axes = [1, 3]} : tensor<1x1x4x1xf32>
  %sl = slice %x {starts = [0, 0, 1, 3], ends = [1, 2, 4, -9223372036854775808], steps = [1, 1, 2, -2]} : tensor<1x2x2x2xf32>
  %sm = softmax %x {axis = 3} : tensor<1x2x4x4xf32>
  %qz = quantize %x : tensor<1x2x4x4x!q>
  %dq = dequantize %qz : tensor<1x2x4x4xf32>
  %rq = requantize %qz {mode = single_round} : tensor<1x2x4x4x!quant.uniform<i8:f32, 0.125:-3>>
  %rq2 = requantize %qz : tensor<1x2x4x4x!q>
  %mi = matmul_int %i, %i : tensor<1x2x4x4x!acc>
  %wi = const dense<[1, 2]> : tensor<2x1x1x1xi8>
  %ci = conv2d_int %i, %wi {groups = 2} : tensor<1x2x4x4xi32>
  %cz = conv2d_int %i, %wi {pads = [1, 1, 1, 1], groups = 2, zx_in_bias = true} : tensor<1x2x6x6xi32>
  %ro = row_sums %i : tensor<1x2x4x1xi32>
  %bz = const dense<7> : tensor<4xi32>
  %mz = matmul_int %i, %i, %bz, %ro {zx_in_bias = true} : tensor<1x2x4x4x!acc>
  %lt = const dense<3> : tensor<256xu8>
  %lk = lookup %i, %lt : tensor<1x2x4x4x!q>
  %ai = add_int %i, %i {mode = double_round} : tensor<1x2x4x4x!q>
  %ai2 = add_int %i, %i : tensor<1x2x4x4x!q>
  %ai3 = add_int %i, %i {ort = true} : tensor<1x2x4x4x!q>
  %ki = clamp_int %i {min = -9223372036854775808, max = 9223372036854775807} : tensor<1x2x4x4x!q>
  %ds = dynamic_scale %x : tensor<f32>
  %dz = dynamic_zero_point %x : tensor<u8>
  %qd = quantize_dyn %x, %ds, %dz : tensor<1x2x4x4xu8>
  %dd = dequantize_dyn %qd, %ds, %dz : tensor<1x2x4x4xf32>
  %wd = const dense<[1, -2, 3, 4]> : tensor<4x1xi8>
  %zw = const dense<[-1]> : tensor<1xi8>
  %md = matmul_int_dyn %qd, %wd, %dz, %zw : tensor<1x2x4x1xi32>
  %zw0 = const dense<0> : tensor<i8>
  %cd = conv2d_int_dyn %qd, %wi, %dz, %zw0 {pads = [1, 0, 1, 0], groups = 2} : tensor<1x2x6x4xi32>
  %ct = cast %x : tensor<1x2x4x4xi32>
  %eq = equal %ct, %ct : tensor<1x2x4x4xu8>
  %ls = less %x, %x : tensor<1x2x4x4xu8>
  %gr = greater %x, %x : tensor<1x2x4x4xu8>
  %wh = where %eq, %x, %x : tensor<1x2x4x4xf32>
  %gi = const dense<[3, -1, 9]> : tensor<3xi32>
  %ga = gather %x, %gi {axis = 2} : tensor<1x2x3x4xf32>
  %am = argmax %x {axis = 1} : tensor<1x1x4x4xi32>
  %an = argmin %i {axis = 3, last = true} : tensor<1x2x4x1xi32>
  %ia = add %ct, %ct : tensor<1x2x4x4xi32>
  return %a
}
"#;

#[test]
fn every_op_and_attribute_round_trips() {
    let g = parse_ok(ALL_OPS);
    let text = round_trip(&g);
    assert_has(
        &text,
        &[
            "conv2d %x, %w, %b {strides = [2, 1], pads = [1, 2, 3, 4], dilations = [1, 2], groups = 2}",
            "conv2d %x, %w : ",
            "clamp %x {min = -1.5, max = 6.0}",
            "hard_sigmoid %x : ",
            "hard_sigmoid %x {alpha = 0.25, beta = 0.0}",
            "leaky_relu %x : ",
            "leaky_relu %x {alpha = 0.5}",
            "pow %x, %x : ",
            "gelu %x : ",
            "maxpool2d %x {kernel = [2, 2], strides = [2, 2], pads = [0, 1, 0, 1]}",
            "avgpool2d %i {kernel = [3, 1], count_include_pad = true, mode = double_round}",
            "global_avgpool %i {mode = single_round}",
            "global_avgpool %x : ",
            "flatten %x {axis = 2}",
            "flatten %x : ",
            "transpose %x {perm = [0, 2, 3, 1]}",
            "concat %x, %x, %x {axis = 1}",
            "reduce_mean %x {axes = [1, 3]} : tensor<1x1x4x1xf32>",
            "reduce_sum %x {axes = [0]} : tensor<1x2x4x4xf32>",
            "reduce_max %x {axes = [2, 3]} : tensor<1x2x1x1xf32>",
            "reduce_min %x {axes = [3]} : tensor<1x2x4x1xf32>",
            "slice %x {starts = [0, 0, 1, 3], ends = [1, 2, 4, -9223372036854775808], steps = [1, 1, 2, -2]}",
            "softmax %x {axis = 3}",
            "requantize %qz {mode = single_round}",
            "requantize %qz : ",
            "matmul_int %i, %i : ",
            "conv2d_int %i, %wi {groups = 2}",
            "conv2d_int %i, %wi {pads = [1, 1, 1, 1], groups = 2, zx_in_bias = true}",
            "row_sums %i : tensor<1x2x4x1xi32>",
            "lookup %i, %lt : tensor<1x2x4x4x!q>",
            "matmul_int %i, %i, %bz, %ro {zx_in_bias = true}",
            "add_int %i, %i {mode = double_round}",
            "add_int %i, %i : ",
            "add_int %i, %i {ort = true}",
            "clamp_int %i {min = -9223372036854775808, max = 9223372036854775807}",
            "dynamic_scale %x : tensor<f32>",
            "dynamic_zero_point %x : tensor<u8>",
            "quantize_dyn %x, %ds, %dz : tensor<1x2x4x4xu8>",
            "dequantize_dyn %qd, %ds, %dz : tensor<1x2x4x4xf32>",
            "matmul_int_dyn %qd, %wd, %dz, %zw : tensor<1x2x4x1xi32>",
            "conv2d_int_dyn %qd, %wi, %dz, %zw0 {pads = [1, 0, 1, 0], groups = 2}",
        ],
    );
    // Check the parsed attribute values themselves.
    let by_name = |n: &str| {
        let v = g
            .node_ids()
            .find(|v| g.node(*v).name.as_deref() == Some(n))
            .expect(n);
        g.node(v).op.clone()
    };
    assert_eq!(
        by_name("c1"),
        Op::Conv2d(Conv2dAttrs {
            strides: [2, 1],
            pads: [1, 2, 3, 4],
            dilations: [1, 2],
            groups: 2
        })
    );
    assert_eq!(by_name("c2"), Op::Conv2d(Conv2dAttrs::default()));
    let mut ap = Pool2dAttrs::new([3, 1]);
    ap.count_include_pad = true;
    ap.mode = RequantMode::DoubleRound;
    assert_eq!(by_name("ap"), Op::AvgPool2d(ap));
    assert_eq!(
        by_name("cl"),
        Op::Clamp {
            min: F32Attr(-1.5),
            max: F32Attr(6.0)
        }
    );
    assert_eq!(by_name("f1"), Op::Flatten { axis: 1 });
    assert_eq!(
        by_name("ki"),
        Op::ClampInt {
            min: i64::MIN,
            max: i64::MAX
        }
    );
    // Every op name of the table occurs.
    for name in crate::op::OP_NAMES {
        assert!(
            g.node_ids().any(|v| g.node(v).op.name() == *name),
            "{name} not covered"
        );
    }
}

#[test]
fn defaults_written_explicitly_are_omitted() {
    let text = text_round_trip(
        "graph @g(%x: tensor<1x1x4x4xf32>) -> (%y: tensor<1x1x4x4xf32>) {
  %c = avgpool2d %x {mode = float, kernel = [1, 1], pads = [0, 0, 0, 0], strides = [1, 1], count_include_pad = false} : tensor<1x1x4x4xf32>
  %f = flatten %c {axis = 1} : tensor<1x16xf32>
  %k = clamp %x {max = inf, min = -inf} : tensor<1x1x4x4xf32>
  return %c
}",
    );
    assert_has(
        &text,
        &[
            "avgpool2d %x {kernel = [1, 1]} : ",
            "flatten %c : ",
            // Attributes print in table order whatever order they were written in.
            "clamp %x {min = -inf, max = inf} : ",
        ],
    );
}

#[test]
fn type_forms_round_trip() {
    let src = r#"
!a = !quant.uniform<i8<-127:127>:f32, 0.5>
!b = !quant.uniform<u4:f32, 1.5e-3:7>
!c = !quant.uniform<i4:f32:1, {0.5:-8, 0.25:7, 1:0}>
!f = f32
graph @types(%s: tensor<f32>, %n: tensor<3x!a>, %i4: tensor<2x3xi4>, %u4: tensor<5xu4>,
             %p: tensor<2x3x!c>, %q: tensor<7x!b>, %g: tensor<2x!quant.uniform<i16:f32:0, {3.0:-5, 1e-7:32767}>>,
             %h: tensor<1x!quant.uniform<i32:f32, 1e30:-2147483648>>, %k: tensor<2x2x!quant.uniform<u8<1:254>:f32:1, {0.1:1, 0.2:254}>>,
             %w: tensor<3x!quant.uniform<u16:f32, 0.5:40000>>, %v: tensor<2xu16>) -> () {
  return
}
"#;
    let g = parse_ok(src);
    let ty = |i: usize| g.ty(g.inputs()[i]).clone();
    assert_eq!(ty(0), TensorType::f32(vec![]));
    let mut narrow = QuantType::per_tensor(ScalarType::I8, 0.5, 0);
    narrow.storage_min = -127;
    assert_eq!(ty(1), TensorType::new(vec![3], ElemType::quant(narrow)));
    assert_eq!(
        ty(2),
        TensorType::new(vec![2, 3], ElemType::Scalar(ScalarType::I4))
    );
    assert_eq!(
        ty(4).elem,
        ElemType::quant(QuantType::per_axis(
            ScalarType::I4,
            1,
            vec![0.5, 0.25, 1.0],
            vec![-8, 7, 0]
        ))
    );
    let text = round_trip(&g);
    assert_eq!(
        text,
        "\
!a = !quant.uniform<i8<-127:127>:f32, 0.5>
!b = !quant.uniform<u4:f32, 0.0015:7>
!c = !quant.uniform<i4:f32:1, {0.5:-8, 0.25:7, 1.0:0}>
!f = f32
!q0 = !quant.uniform<i16:f32:0, {3.0:-5, 1e-7:32767}>
!q1 = !quant.uniform<u8<1:254>:f32:1, {0.1:1, 0.2:254}>

graph @types(%s: tensor<!f>, %n: tensor<3x!a>, %i4: tensor<2x3xi4>, %u4: tensor<5xu4>, \
%p: tensor<2x3x!c>, %q: tensor<7x!b>, %g: tensor<2x!q0>, \
%h: tensor<1x!quant.uniform<i32:f32, 1e30:-2147483648>>, %k: tensor<2x2x!q1>, \
%w: tensor<3x!quant.uniform<u16:f32, 0.5:40000>>, %v: tensor<2xu16>) -> () {
  return
}
"
    );
}

#[test]
fn made_up_alias_names_avoid_declared_ones() {
    let mut g = Graph::new("g");
    let pa = ElemType::quant(QuantType::per_axis(
        ScalarType::I8,
        0,
        vec![1.0, 2.0],
        vec![0, 0],
    ));
    g.aliases.push(TypeAlias {
        name: "q0".into(),
        elem: ElemType::Scalar(ScalarType::I8),
    });
    let x = g.add_input("x", TensorType::new(vec![2], pa));
    g.add_output("y", x);
    let text = round_trip(&g);
    assert!(
        text.starts_with("!q0 = i8\n!q1 = !quant.uniform<i8:f32:0, {1.0:0, 2.0:0}>\n\n"),
        "{text}"
    );
}

#[test]
fn constant_forms() {
    let src = r#"graph @c() -> () {
  %list = const dense<[1, -2, 3, 4]> : tensor<4xi8>
  %nested = const dense<[[1, 2, 3], [4, 5, 6]]> : tensor<2x3xi16>
  %nested3 = const dense<[[[1.5], [2]], [[-0.0], [inf]]]> : tensor<2x2x1xf32>
  %splat = const dense<7> : tensor<3x5xu8>
  %splatf = const dense<-inf> : tensor<2xf32>
  %one = const dense<[5]> : tensor<i32>
  %onesplat = const dense<nan> : tensor<1x1xf32>
  %hex = const dense<"0x0100000002000000"> : tensor<2xi32>
  %hex4 = const dense<"0xE187"> : tensor<4xi4>
  %hex4odd = const dense<"0x0f09"> : tensor<3xu4>
  %u4list = const dense<[15, 0, 9]> : tensor<3xu4>
  %big = const dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]> : tensor<17xi8>
  %q = const dense<[-127, 127]> : tensor<2x!quant.uniform<i8<-127:127>:f32, 0.5>>
  return
}
"#;
    let g = parse_ok(src);
    let data = |n: &str| {
        let v = g
            .node_ids()
            .find(|v| g.node(*v).name.as_deref() == Some(n))
            .expect(n);
        g.node(v)
            .op
            .as_const()
            .expect("const")
            .data
            .as_ref()
            .clone()
    };
    assert_eq!(data("nested"), ints(ScalarType::I16, &[1, 2, 3, 4, 5, 6]));
    assert_eq!(
        data("nested3"),
        TensorData::F32(vec![1.5, 2.0, -0.0, f32::INFINITY])
    );
    assert_eq!(data("splat"), ints(ScalarType::U8, &[7; 15]));
    assert_eq!(data("hex"), ints(ScalarType::I32, &[1, 2]));
    assert_eq!(data("hex4"), ints(ScalarType::I4, &[1, -2, 7, -8]));
    assert_eq!(data("hex4odd"), data("u4list"));
    let text = round_trip(&g);
    assert_has(
        &text,
        &[
            "%list = const dense<[1, -2, 3, 4]> : tensor<4xi8>",
            "%nested = const dense<[1, 2, 3, 4, 5, 6]> : tensor<2x3xi16>",
            "%nested3 = const dense<[1.5, 2.0, -0.0, inf]> : tensor<2x2x1xf32>",
            "%splat = const dense<7> : tensor<3x5xu8>",
            "%splatf = const dense<-inf> : tensor<2xf32>",
            "%one = const dense<[5]> : tensor<i32>",
            "%onesplat = const dense<[nan]> : tensor<1x1xf32>",
            "%hex = const dense<[1, 2]> : tensor<2xi32>",
            "%hex4 = const dense<[1, -2, 7, -8]> : tensor<4xi4>",
            "%hex4odd = const dense<[15, 0, 9]> : tensor<3xu4>",
            "%big = const dense<\"0x000102030405060708090a0b0c0d0e0f10\"> : tensor<17xi8>",
        ],
    );
}

#[test]
fn hex_for_nan_payloads_and_large_data() {
    let mut g = Graph::new("nan");
    let odd = f32::from_bits(0x7fc0_0001);
    let neg = f32::from_bits(0xffc0_0000);
    let c = g.add_const(TensorData::F32(vec![odd, 1.0]), TensorType::f32(vec![2]));
    let s = g.add_const(TensorData::F32(vec![neg; 3]), TensorType::f32(vec![3]));
    let big: Vec<i64> = (0..40).map(|i| (i * 37) % 16 - 8).collect();
    let b = g.add_const(
        ints(ScalarType::I4, &big),
        TensorType::new(vec![5, 8], ElemType::Scalar(ScalarType::I4)),
    );
    let f: Vec<f32> = (0..20).map(|i| i as f32 * 0.1).collect();
    let fb = g.add_const(TensorData::F32(f), TensorType::f32(vec![4, 5]));
    for (i, v) in [c, s, b, fb].into_iter().enumerate() {
        g.add_output(format!("o{i}"), v);
    }
    let text = round_trip(&g);
    assert_has(
        &text,
        &[
            "%0 = const dense<\"0x0100c07f0000803f\"> : tensor<2xf32>",
            "%1 = const dense<\"0x0000c0ff0000c0ff0000c0ff\"> : tensor<3xf32>",
        ],
    );
}

#[test]
fn dense_file_constants() {
    let dir = temp_dir("npy");
    std::fs::create_dir_all(dir.join("w")).expect("mkdir");
    let cases: Vec<(&str, &str, Tensor)> = vec![
        (
            "w/a.npy",
            "tensor<2x3xf32>",
            Tensor::f32(vec![2, 3], vec![1.0, -2.0, 0.5, 0.0, 3.25, -0.0]),
        ),
        (
            "b.npy",
            "tensor<4x!quant.uniform<i8:f32, 0.1>>",
            Tensor::new(vec![4], ints(ScalarType::I8, &[-128, 0, 5, 127])),
        ),
        (
            "c.npy",
            "tensor<3xi4>",
            Tensor::new(vec![3], ints(ScalarType::I4, &[-8, 7, 1])),
        ),
        (
            "d.npy",
            "tensor<2x2xu4>",
            Tensor::new(vec![2, 2], ints(ScalarType::U4, &[0, 15, 3, 4])),
        ),
        (
            "e.npy",
            "tensor<i32>",
            Tensor::new(vec![], ints(ScalarType::I32, &[-5])),
        ),
        (
            "f.npy",
            "tensor<2xi16>",
            Tensor::new(vec![2], ints(ScalarType::I16, &[-300, 300])),
        ),
        (
            "g.npy",
            "tensor<2xu8>",
            Tensor::new(vec![2], ints(ScalarType::U8, &[0, 255])),
        ),
    ];
    let mut src = String::from("graph @files() -> () {\n");
    for (i, (path, ty, t)) in cases.iter().enumerate() {
        npy::write(&dir.join(path), t).expect("write npy");
        src.push_str(&format!("  %c{i} = const dense_file<\"{path}\"> : {ty}\n"));
    }
    src.push_str("  return\n}\n");
    let g = parse_in(&src, Some(&dir));
    for (i, (path, _, t)) in cases.iter().enumerate() {
        let v = g
            .node_ids()
            .find(|v| g.node(*v).name.as_deref() == Some(&format!("c{i}")))
            .expect("const");
        let c = g.node(v).op.as_const().expect("const");
        assert_eq!(c.file.as_deref(), Some(*path));
        assert_eq!(*c.data, t.data, "{path}");
    }
    let text = round_trip_in(&g, Some(&dir));
    assert_eq!(text, src);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- errors: one test per class ----

#[test]
fn error_unexpected_token() {
    let src = "graph @g(%x tensor<2xf32>) -> () { return }";
    let e = errors(src);
    assert_has(
        &e,
        &[
            "error: expected `:`, found `tensor`",
            "test.txt:1:13",
            "^^^^^^ expected `:`",
        ],
    );
    let e = errors("graph @g() -> () {\n  %y = relu %x,\n  return\n}");
    assert_has(
        &e,
        &[
            "expected a value name (`%name`), found `return`",
            "test.txt:3:3",
        ],
    );
    let e = errors("graph @g(%x: tensor<2x4>) -> () { return }");
    assert_has(
        &e,
        &[
            "expected an element type, found `4`",
            "every dimension is followed by `x`",
        ],
    );
}

#[test]
fn error_unexpected_end_of_file() {
    let full = "graph @g(%x: tensor<2xf32>) -> (%y: tensor<2xf32>) {\n  %r = relu %x : tensor<2xf32>\n  return %r\n}\n";
    // Every truncation of a valid file is an error, never a panic.
    for cut in 0..full.len() - 2 {
        let part = &full[..cut];
        assert!(parse(part, None).is_err(), "{part:?} parsed");
    }
    let e =
        errors("graph @g(%x: tensor<2xf32>) -> (%y: tensor<2xf32>) {\n  %r = relu %x : tensor<2x");
    assert_has(
        &e,
        &[
            "error: unexpected end of file, expected an element type",
            "test.txt:2:27",
            "the file ends in the middle of the graph",
        ],
    );
    let e = errors("graph @g() -> () {\n  return\n");
    assert_has(&e, &["unexpected end of file, expected `}`"]);
    let e = errors("");
    assert_has(&e, &["unexpected end of file, expected `graph`"]);
    let e = errors("graph @g() -> () { return } graph");
    assert_has(
        &e,
        &[
            "expected end of file, found `graph`",
            "a file holds one graph",
        ],
    );
}

#[test]
fn error_lexical() {
    let e = errors("graph @g() -> () { return } #");
    assert_has(&e, &["unexpected character '#'", "no token starts here"]);
    let e = errors("graph @g() -> () {\n  %c = const dense<\"0x01> : tensor<1xi8>\n  return\n}");
    assert_has(&e, &["unterminated string", "test.txt:2:20"]);
    let e = errors("graph @g() -> () { return }\n%é");
    assert_has(&e, &["unexpected character '%'"]);
}

#[test]
fn error_unknown_op() {
    let src = "graph @g(%x: tensor<2xf32>) -> () {\n  %y = conv3d %x : tensor<2xf32>\n  return\n}";
    let e = errors(src);
    assert_has(
        &e,
        &[
            "error: unknown op `conv3d`",
            "test.txt:2:8",
            "^^^^^^ not an op",
            "did you mean `conv2d`?",
            "the ops are: const, matmul, dense, conv2d, add",
            "clamp_int",
        ],
    );
    let e = errors(
        "graph @g(%x: tensor<2xf32>) -> () {\n  %y = frobnicate %x : tensor<2xf32>\n  return\n}",
    );
    assert!(!e.contains("did you mean"), "{e}");
    let e = errors("graph @g() -> () {\n  %y = input : tensor<2xf32>\n  return\n}");
    assert_has(
        &e,
        &[
            "unknown op `input`",
            "inputs are declared in the graph's signature",
        ],
    );
}

#[test]
fn error_wrong_operand_count() {
    let src = "graph @g(%x: tensor<2xf32>) -> () {\n  %y = add %x : tensor<2xf32>\n  %z = conv2d %x, %x, %x, %x : tensor<2xf32>\n  %c = concat {axis = 0} : tensor<2xf32>\n  return\n}";
    let e = errors(src);
    assert_has(
        &e,
        &[
            "error: `add` takes 2 operands, found 1",
            "^^^^^^ expected 2 operands",
            "error: `conv2d` takes 2 or 3 operands, found 4",
            "expected 2 or 3 operands",
            "error: `concat` takes at least 1 operands, found 0",
        ],
    );
}

#[test]
fn error_unknown_value() {
    let src = "graph @g(%input: tensor<2xf32>) -> () {\n  %y = relu %inptu : tensor<2xf32>\n  %z = relu %w : tensor<2xf32>\n  %w = relu %input : tensor<2xf32>\n  return %nope\n}";
    let e = errors(src);
    assert_has(
        &e,
        &[
            "error: unknown value `%inptu`",
            "^^^^^^ not defined",
            "did you mean `%input`?",
            "error: unknown value `%w`",
            "used before it is defined",
            "defined later here",
            "statements must be in dependency order",
            "error: unknown value `%nope`",
        ],
    );
    // An error in one statement does not cascade into its users.
    let src = "graph @g(%x: tensor<2xf32>) -> (%o: tensor<2xf32>) {\n  %y = relu %q : tensor<2xf32>\n  %z = relu %y : tensor<2xf32>\n  return %z\n}";
    let d = parse(src, None).unwrap_err();
    assert_eq!(d.len(), 1, "{}", render(&d, "t", src));
}

#[test]
fn error_redefinition() {
    let src = "graph @g(%x: tensor<2xf32>) -> () {\n  %y = relu %x : tensor<2xf32>\n  %y = relu %x : tensor<2xf32>\n  return\n}";
    let e = errors(src);
    assert_has(
        &e,
        &[
            "error: `%y` is defined twice",
            "test.txt:3:3",
            "defined again here",
            "first defined here",
        ],
    );
    let e =
        errors("graph @g(%x: tensor<2xf32>) -> () {\n  %x = relu %x : tensor<2xf32>\n  return\n}");
    assert_has(&e, &["`%x` is defined twice"]);
}

#[test]
fn error_duplicate_input_and_output_names() {
    let e = errors("graph @g(%x: tensor<2xf32>, %x: tensor<2xf32>) -> () { return }");
    assert_has(&e, &["`%x` is defined twice", "first defined here"]);
    let e = errors(
        "graph @g(%x: tensor<2xf32>) -> (%y: tensor<2xf32>, %y: tensor<2xf32>) { return %x, %x }",
    );
    assert_has(
        &e,
        &[
            "duplicate output name `%y`",
            "declared again here",
            "first declared here",
        ],
    );
    let e = errors("graph @g(%0: tensor<2xf32>) -> (%1: tensor<2xf32>) { return %0 }");
    assert_has(
        &e,
        &[
            "input name `%0` is purely numeric",
            "output name `%1` is purely numeric",
        ],
    );
}

#[test]
fn error_aliases() {
    let e = errors("!a = i8\n!a = u8\ngraph @g(%x: tensor<2x!b>) -> () { return }");
    assert_has(
        &e,
        &[
            "error: type alias `!a` is declared twice",
            "test.txt:2:1",
            "first declared here",
            "error: unknown type alias `!b`",
            "not declared",
        ],
    );
    let e = errors("!act = u8\ngraph @g(%x: tensor<2x!atc>) -> () { return }");
    assert_has(&e, &["unknown type alias `!atc`", "did you mean `!act`?"]);
    let e = errors("!quant.x = u8\ngraph @g() -> () { return }");
    assert_has(
        &e,
        &[
            "`!quant.x` cannot be an alias name",
            "reserved for quantized types",
        ],
    );
    let e = errors("graph @g(%x: tensor<2x!quant.int<i8>>) -> () { return }");
    assert_has(
        &e,
        &[
            "unknown quantized type `!quant.int`",
            "expected `!quant.uniform`",
        ],
    );
    // Used before declared (aliases come first, and in order).
    let e = errors("!a = !b\n!b = i8\ngraph @g() -> () { return }");
    assert_has(&e, &["unknown type alias `!b`"]);
    let e = errors("graph @g(%x: tensor<2xf23>) -> () { return }");
    assert_has(&e, &["unknown element type `f23`", "did you mean `f32`?"]);
}

#[test]
fn error_attributes() {
    let head = "graph @g(%x: tensor<1x1x4x4xf32>) -> () {\n";
    let case = |stmt: &str| errors(&format!("{head}  {stmt}\n  return\n}}"));
    assert_has(
        &case("%y = conv2d %x, %x {stride = [2, 2]} : tensor<1x1x4x4xf32>"),
        &[
            "error: unknown attribute `stride` of `conv2d`",
            "did you mean `strides`?",
            "`conv2d` takes: strides, pads, dilations, groups",
        ],
    );
    assert_has(
        &case("%y = relu %x {axis = 1} : tensor<1x1x4x4xf32>"),
        &[
            "unknown attribute `axis` of `relu`",
            "`relu` takes no attributes",
        ],
    );
    assert_has(
        &case("%y = maxpool2d %x {strides = [1, 1]} : tensor<1x1x4x4xf32>"),
        &[
            "error: missing attribute `kernel` of `maxpool2d`",
            "`kernel` is required here",
            "a list of 2 non-negative integers",
        ],
    );
    assert_has(
        &case("%y = clamp %x : tensor<1x1x4x4xf32>"),
        &[
            "missing attribute `min` of `clamp`",
            "missing attribute `max` of `clamp`",
        ],
    );
    assert_has(
        &case("%y = softmax %x {axis = 1, axis = 2} : tensor<1x1x4x4xf32>"),
        &["attribute `axis` is given twice", "first given here"],
    );
    assert_has(
        &case("%y = conv2d %x, %x {strides = 2} : tensor<1x1x4x4xf32>"),
        &["attribute `strides` of `conv2d` must be a list of 2 non-negative integers, found `2`"],
    );
    assert_has(
        &case("%y = conv2d %x, %x {pads = [1, 1]} : tensor<1x1x4x4xf32>"),
        &["attribute `pads` of `conv2d` needs 4 values, found 2"],
    );
    assert_has(
        &case("%y = clamp_int %x {min = 0.5, max = 1} : tensor<1x1x4x4xf32>"),
        &["attribute `min` of `clamp_int` must be an integer, found `0.5`"],
    );
    assert_has(
        &case("%y = avgpool2d %x {kernel = [1, 1], count_include_pad = 1} : tensor<1x1x4x4xf32>"),
        &["must be `true` or `false`, found `1`"],
    );
    assert_has(
        &case("%y = requantize %x {mode = double} : tensor<1x1x4x4xf32>"),
        &[
            "unknown rounding mode `double`",
            "the modes are: float, single_round, double_round",
        ],
    );
    assert_has(
        &case("%y = flatten %x {axis = -1} : tensor<1x1x4x4xf32>"),
        &["`axis` must not be negative, found -1"],
    );
    assert_has(
        &case("%y = transpose %x {perm = [0, 1.5]} : tensor<1x1x4x4xf32>"),
        &["expected an integer, found `1.5`"],
    );
    assert_has(
        &case("%y = flatten %x {axis = 99999999999999999999999} : tensor<1x1x4x4xf32>"),
        &["`axis` value `99999999999999999999999` is too large"],
    );
    assert_has(
        &case("%y = clamp %x {min = 1e39, max = 0} : tensor<1x1x4x4xf32>"),
        &[
            "number `1e39` is too large for f32",
            "write `inf` or `-inf`",
        ],
    );
}

#[test]
fn error_quant_syntax() {
    let ty = |t: &str| errors(&format!("graph @g(%x: tensor<2x2x{t}>) -> () {{ return }}"));
    assert_has(
        &ty("!quant.uniform<i8:f32:0, 0.5:1>"),
        &[
            "a per-axis quantized type lists its parameters in braces",
            "expected `{scale:zero_point, ...}`",
        ],
    );
    assert_has(
        &ty("!quant.uniform<i8:f32, {0.5:1, 0.5:1}>"),
        &["per-axis parameters need an axis"],
    );
    assert_has(
        &ty("!quant.uniform<f32:f32, 0.5>"),
        &["quantized storage type must be an integer type, found `f32`"],
    );
    assert_has(
        &ty("!quant.uniform<i8:f16, 0.5>"),
        &["the expressed type of a quantized type must be `f32`, found `f16`"],
    );
    assert_has(
        &ty("!quant.uniform<i8:f32 0.5>"),
        &["expected `,` and `scale[:zero_point]`"],
    );
    assert_has(
        &ty("!quant.uniform<i8:f32, 0.5:1.5>"),
        &["expected a zero point (an integer)"],
    );
    assert_has(
        &ty("!quant.uniform<i8:f32, {}>"),
        &["expected a scale (a number)"],
    );
    assert_has(&ty("!quant.uniform<i8<-1 2>:f32, 0.5>"), &["expected `:`"]);
    assert_has(
        &ty("!quant.uniform<i9:f32, 0.5>"),
        &["unknown storage type `i9`"],
    );
}

#[test]
fn error_quant_invariants() {
    let ty = |t: &str| errors(&format!("graph @g(%x: tensor<2x3x{t}>) -> () {{ return }}"));
    assert_has(
        &ty("!quant.uniform<u8:f32, 0.0:128>"),
        &[
            "error: invalid quantized type: scale must be finite and > 0, found 0.0",
            "^^^ invalid scale",
        ],
    );
    assert_has(
        &ty("!quant.uniform<u8:f32, nan>"),
        &[
            "scale must be finite and > 0, found NaN",
            "^^^ invalid scale",
        ],
    );
    assert_has(&ty("!quant.uniform<u8:f32, -inf>"), &["found infinite"]);
    assert_has(
        &ty("!quant.uniform<u8:f32, 0.5:256>"),
        &[
            "zero point 256 is outside the storage range 0..=255 of `u8`",
            "^^^ zero point out of range",
        ],
    );
    assert_has(
        &ty("!quant.uniform<i8<-127:127>:f32, 0.5:-128>"),
        &["zero point -128 is outside the storage range -127..=127 of `i8<-127:127>`"],
    );
    assert_has(
        &ty("!quant.uniform<i8<-200:127>:f32, 0.5>"),
        &[
            "storage range <-200:127> does not fit in `i8`",
            "invalid storage range",
        ],
    );
    assert_has(
        &ty("!quant.uniform<i8<5:1>:f32, 0.5>"),
        &["storage range <5:1> is empty"],
    );
    assert_has(
        &ty("!quant.uniform<i8:f32:1, {0.5:0, 0.25:0}>"),
        &[
            "error: invalid tensor type: per-axis type has 2 scales but dimension 1 has size 3",
            "in this type",
        ],
    );
    assert_has(
        &ty("!quant.uniform<i8:f32:2, {0.5:0}>"),
        &["quantized axis 2 is out of range for a tensor of rank 2"],
    );
    assert_has(
        &ty("!quant.uniform<i8:f32:1, {0.5:0, 1e-50:0, 1:0}>"),
        &["number `1e-50` is too small for f32"],
    );
    // Through an alias: the alias declaration is pointed at too.
    let e = errors(
        "!w = !quant.uniform<i8:f32:0, {0.5:0, 0.5:0}>\ngraph @g(%x: tensor<3x!w>) -> () { return }",
    );
    assert_has(
        &e,
        &[
            "per-axis type has 2 scales but dimension 0 has size 3",
            "the alias is declared here",
        ],
    );
    // An invalid alias is reported once, at the alias.
    let e = errors("!w = !quant.uniform<i8:f32, 0.0>\ngraph @g() -> () { return }");
    assert_has(&e, &["test.txt:1:29", "invalid scale"]);
}

#[test]
fn error_dimensions() {
    let e = errors("graph @g(%x: tensor<2x0x3xf32>) -> () { return }");
    assert_has(
        &e,
        &[
            "error: zero-sized dimension",
            "test.txt:1:23",
            "dimensions must be at least 1",
        ],
    );
    let e = errors("graph @g(%x: tensor<99999999999999999999999x3xf32>) -> () { return }");
    assert_has(&e, &["dimension `99999999999999999999999` is too large"]);
    let e = errors("graph @g(%x: tensor<4294967296x4294967296x4294967296xf32>) -> () { return }");
    assert_has(&e, &["the number of elements overflows"]);
}

#[test]
fn error_constant_data() {
    let c = |data: &str, ty: &str| {
        errors(&format!(
            "graph @g() -> () {{\n  %c = const {data} : {ty}\n  return\n}}"
        ))
    };
    assert_has(
        &c("dense<[1, 2, 3]>", "tensor<2x2xi8>"),
        &[
            "error: expected 4 elements for `tensor<2x2xi8>`, found 3",
            "4 elements declared here",
        ],
    );
    assert_has(
        &c("dense<[1, 300]>", "tensor<2xu8>"),
        &[
            "value 300 is outside the storage range 0..=255",
            "does not fit in `u8`",
        ],
    );
    assert_has(
        &c(
            "dense<[-1, 127]>",
            "tensor<2x!quant.uniform<i8<0:127>:f32, 0.5>>",
        ),
        &[
            "value -1 is outside the storage range 0..=127",
            "does not fit in `i8<0:127>`",
        ],
    );
    assert_has(
        &c("dense<[8, 0]>", "tensor<2xi4>"),
        &["value 8 is outside the storage range -8..=7"],
    );
    assert_has(
        &c("dense<[1.5, 2]>", "tensor<2xi8>"),
        &[
            "expected an integer, found `1.5`",
            "the elements of an integer constant are integers",
        ],
    );
    assert_has(
        &c("dense<[9223372036854775808]>", "tensor<1xi32>"),
        &["integer literal `9223372036854775808` is out of range"],
    );
    assert_has(
        &c("dense<[1e39]>", "tensor<1xf32>"),
        &["number `1e39` is too large for f32"],
    );
    assert_has(
        &c("dense<[[1, 2, 3], [4, 5, 6]]>", "tensor<3x2xi8>"),
        &[
            "nested list does not match the shape [3, 2]",
            "expected 3 items at nesting level 1, found 2",
        ],
    );
    assert_has(
        &c("dense<[[1, 2], 3, 4]>", "tensor<3x2xi8>"),
        &["nested list does not match the shape"],
    );
    assert_has(
        &c("dense<[[[1]], [[2]]]>", "tensor<2x1xi8>"),
        &["constant list is nested deeper than the tensor's rank"],
    );
    assert_has(
        &c("dense<\"0102\">", "tensor<2xi8>"),
        &["hex data must start with `0x`"],
    );
    assert_has(
        &c("dense<\"0x01zz\">", "tensor<2xi8>"),
        &["invalid hex digit 'z'", "test.txt:2:25"],
    );
    assert_has(
        &c("dense<\"0x012\">", "tensor<2xi8>"),
        &["hex data has an odd number of digits"],
    );
    assert_has(
        &c("dense<\"0x010203\">", "tensor<2xi16>"),
        &["wrong hex data for `tensor<2xi16>`: expected 4 bytes for 2 elements of i16, found 3"],
    );
    assert_has(
        &c("dense<\"0x1f\">", "tensor<1xu4>"),
        &["the unused high nibble of the last byte must be 0"],
    );
    assert_has(
        &c(
            "dense<\"0x80\">",
            "tensor<1x!quant.uniform<i8<-127:127>:f32, 1.0>>",
        ),
        &["value -128 at index 0 is outside the storage range -127..=127"],
    );
    assert_has(
        &c("dense<0>", "tensor<65536x65536xf32>"),
        &[
            "a splat of 4294967296 elements is too large for inline data",
            "dense_file",
        ],
    );
    let deep = format!("dense<{}1{}>", "[".repeat(100_000), "]".repeat(100_000));
    assert_has(
        &c(&deep, "tensor<1xi8>"),
        &["constant lists are nested too deeply"],
    );
    assert_has(&c("dense<>", "tensor<1xi8>"), &["expected constant data"]);
    assert_has(&c("dense[1]", "tensor<1xi8>"), &["expected `<`"]);
    assert_has(
        &c("splat<1>", "tensor<1xi8>"),
        &["expected `dense<...>` or `dense_file<\"...\">`"],
    );
}

#[test]
fn error_dense_file() {
    let src = |path: &str, ty: &str| {
        format!("graph @g() -> () {{\n  %c = const dense_file<\"{path}\"> : {ty}\n  return\n}}")
    };
    let e = errors_in(&src("w.npy", "tensor<2xf32>"), None);
    assert_has(
        &e,
        &[
            "external constant data is not allowed here",
            "relative to the graph file's folder",
        ],
    );
    let dir = temp_dir("bad-npy");
    let e = errors_in(&src("missing.npy", "tensor<2xf32>"), Some(&dir));
    assert_has(
        &e,
        &[
            "cannot load constant data: cannot read",
            "missing.npy",
            "cannot read this file",
        ],
    );

    npy::write(
        &dir.join("i8.npy"),
        &Tensor::new(vec![2], ints(ScalarType::I8, &[1, -128])),
    )
    .expect("write");
    let e = errors_in(&src("i8.npy", "tensor<2xf32>"), Some(&dir));
    assert_has(
        &e,
        &[
            "holds i8 (|i1) data, but f32 (<f4) is needed",
            "wrong dtype",
            "the constant is declared as `tensor<2xf32>`",
        ],
    );
    let e = errors_in(&src("i8.npy", "tensor<1x2xi8>"), Some(&dir));
    assert_has(&e, &["has shape [2], but [1, 2] is needed", "wrong shape"]);
    let e = errors_in(&src("i8.npy", "tensor<2xi4>"), Some(&dir));
    assert_has(
        &e,
        &[
            "value -128 at index 1 does not fit in i4",
            "values out of range",
        ],
    );
    let e = errors_in(
        &src("i8.npy", "tensor<2x!quant.uniform<i8<-127:127>:f32, 1.0>>"),
        Some(&dir),
    );
    assert_has(&e, &["outside the storage range -127..=127"]);
    std::fs::write(dir.join("junk.npy"), b"not numpy").expect("write");
    let e = errors_in(&src("junk.npy", "tensor<2xi8>"), Some(&dir));
    assert_has(&e, &["is not a valid .npy file", "not a valid .npy file"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn error_return() {
    let e = errors(
        "graph @g(%x: tensor<2xf32>) -> (%a: tensor<2xf32>, %b: tensor<2xf32>) {\n  return %x\n}",
    );
    assert_has(
        &e,
        &[
            "error: `return` gives 1 value but the graph declares 2 outputs",
            "1 value returned",
            "2 outputs declared here",
        ],
    );
    let e = errors("graph @g(%x: tensor<2xf32>) -> () {\n  return %x\n}");
    assert_has(
        &e,
        &["`return` gives 1 value but the graph declares 0 outputs"],
    );
    let e = errors(
        "graph @g(%x: tensor<2xf32>) -> (%y: tensor<2xi8>) {\n  %r = relu %x : tensor<2xf32>\n  return %r\n}",
    );
    assert_has(
        &e,
        &[
            "error: returned value `%r` does not have the type of output `%y`",
            "this has type `tensor<2xf32>`",
            "output declared as `tensor<2xi8>`",
        ],
    );
    let e = errors("graph @g() -> (%y: tensor<2xf32>) {\n  return\n}");
    assert_has(
        &e,
        &["`return` gives 0 values but the graph declares 1 output"],
    );
    let e = errors("graph @g() -> () {\n  %c = const dense<1> : tensor<2xf32>\n}");
    assert_has(
        &e,
        &["expected a statement (`%name = ...`) or `return`, found `}`"],
    );
}

#[test]
fn errors_are_collected() {
    let src = "graph @g(%x: tensor<2xf32>) -> (%o: tensor<2xf32>) {
  %a = relu %nope : tensor<2xf32>
  %b = frob %x : tensor<2xf32>
  %c = relu %x : tensor<2x!missing>
  %d = relu %x {axis = 1} : tensor<2xf32>
  return %x
}";
    let d = parse(src, None).unwrap_err();
    assert_eq!(d.len(), 4, "{}", render(&d, "t", src));
}

// ---- property tests ----

mod props {
    use super::*;
    use proptest::prelude::*;

    fn storage() -> impl Strategy<Value = ScalarType> {
        prop::sample::select(vec![
            ScalarType::I32,
            ScalarType::I16,
            ScalarType::I8,
            ScalarType::U8,
            ScalarType::I4,
            ScalarType::U4,
        ])
    }

    /// Any positive finite f32 (subnormals included).
    fn scale() -> impl Strategy<Value = f32> {
        prop_oneof![
            (1u32..0x7f80_0000).prop_map(f32::from_bits),
            (1e-4f32..10.0f32),
        ]
    }

    /// A value in `[lo, hi]` chosen from a random seed.
    fn pick(seed: u64, lo: i64, hi: i64) -> i64 {
        let span = (hi - lo) as u64 + 1;
        lo + (seed % span) as i64
    }

    /// A valid quantized type; per axis with `channels` entries if given.
    fn quant(channels: Option<(usize, usize)>) -> impl Strategy<Value = QuantType> {
        let n = channels.map_or(1, |(_, c)| c);
        (
            storage(),
            any::<bool>(),
            any::<u64>(),
            any::<u64>(),
            prop::collection::vec((scale(), any::<u64>()), n),
        )
            .prop_map(move |(st, narrow, a, b, params)| {
                let (flo, fhi) = st.int_range().unwrap_or((0, 0));
                let (lo, hi) = if narrow {
                    let lo = pick(a, flo, fhi);
                    (lo, pick(b, lo, fhi))
                } else {
                    (flo, fhi)
                };
                QuantType {
                    storage: st,
                    storage_min: lo,
                    storage_max: hi,
                    axis: channels.map(|(axis, _)| axis),
                    scales: params.iter().map(|p| p.0).collect(),
                    zero_points: params.iter().map(|p| pick(p.1, lo, hi)).collect(),
                    block: None,
                }
            })
    }

    fn elem_for(shape: Vec<usize>) -> BoxedStrategy<ElemType> {
        let scalar = prop::sample::select(ScalarType::ALL.to_vec()).prop_map(ElemType::Scalar);
        if shape.is_empty() {
            prop_oneof![scalar, quant(None).prop_map(ElemType::quant)].boxed()
        } else {
            let axes = shape.len();
            prop_oneof![
                2 => scalar,
                2 => quant(None).prop_map(ElemType::quant),
                1 => (0..axes).prop_flat_map(move |axis| {
                    quant(Some((axis, shape[axis]))).prop_map(ElemType::quant)
                }),
            ]
            .boxed()
        }
    }

    fn tensor_type() -> impl Strategy<Value = TensorType> {
        prop::collection::vec(1usize..5, 0..4).prop_flat_map(|shape| {
            elem_for(shape.clone()).prop_map(move |e| TensorType::new(shape.clone(), e))
        })
    }

    fn sizes<const N: usize>() -> impl Strategy<Value = [usize; N]> {
        prop::array::uniform(prop_oneof![4 => 0usize..5, 1 => any::<usize>()])
    }

    fn mode() -> impl Strategy<Value = RequantMode> {
        prop::sample::select(RequantMode::ALL.to_vec())
    }

    /// f32 attributes: anything `fmt_f32` writes back exactly (any NaN
    /// becomes the canonical one).
    fn f32_attr() -> impl Strategy<Value = F32Attr> {
        any::<u32>().prop_map(|b| {
            let x = f32::from_bits(b);
            F32Attr(if x.is_nan() { f32::NAN } else { x })
        })
    }

    fn conv() -> impl Strategy<Value = Conv2dAttrs> {
        (sizes::<2>(), sizes::<4>(), sizes::<2>(), any::<usize>()).prop_map(
            |(strides, pads, dilations, groups)| Conv2dAttrs {
                strides,
                pads,
                dilations,
                groups,
            },
        )
    }

    fn pool() -> impl Strategy<Value = Pool2dAttrs> {
        (
            sizes::<2>(),
            sizes::<2>(),
            sizes::<4>(),
            any::<bool>(),
            mode(),
        )
            .prop_map(
                |(kernel, strides, pads, count_include_pad, mode)| Pool2dAttrs {
                    kernel,
                    strides,
                    pads,
                    count_include_pad,
                    mode,
                },
            )
    }

    fn op() -> impl Strategy<Value = Op> {
        let axis = prop_oneof![4 => 0usize..5, 1 => any::<usize>()];
        prop_oneof![
            Just(Op::MatMul),
            Just(Op::Dense),
            conv().prop_map(Op::Conv2d),
            Just(Op::Add),
            Just(Op::Mul),
            Just(Op::Relu),
            (f32_attr(), f32_attr()).prop_map(|(min, max)| Op::Clamp { min, max }),
            // maxpool2d has no `count_include_pad` or `mode` in the text
            // format: those fields of its attributes are always the defaults.
            pool().prop_map(|p| Op::MaxPool2d(Pool2dAttrs {
                count_include_pad: false,
                mode: RequantMode::Float,
                ..p
            })),
            pool().prop_map(Op::AvgPool2d),
            mode().prop_map(|mode| Op::GlobalAvgPool { mode }),
            Just(Op::Reshape),
            axis.clone().prop_map(|axis| Op::Flatten { axis }),
            prop::collection::vec(0usize..6, 0..5).prop_map(|perm| Op::Transpose { perm }),
            axis.clone().prop_map(|axis| Op::Concat { axis }),
            axis.clone().prop_map(|axis| Op::Gather { axis }),
            (axis.clone(), any::<bool>()).prop_map(|(axis, last)| Op::ArgMax { axis, last }),
            (axis.clone(), any::<bool>()).prop_map(|(axis, last)| Op::ArgMin { axis, last }),
            (
                prop::collection::vec(any::<i64>(), 0..4),
                prop::collection::vec(any::<i64>(), 0..4),
                prop::collection::vec(any::<i64>(), 0..4)
            )
                .prop_map(|(starts, ends, steps)| Op::Slice {
                    starts,
                    ends,
                    steps
                }),
            axis.prop_map(|axis| Op::Softmax { axis }),
            prop::collection::vec(0usize..6, 0..5).prop_map(|axes| Op::ReduceMean { axes }),
            prop::collection::vec(0usize..6, 0..5).prop_map(|axes| Op::ReduceSum { axes }),
            prop::collection::vec(0usize..6, 0..5).prop_map(|axes| Op::ReduceMax { axes }),
            prop::collection::vec(0usize..6, 0..5).prop_map(|axes| Op::ReduceMin { axes }),
            prop::collection::vec(0usize..6, 0..5).prop_map(|axes| Op::ReduceProd { axes }),
            Just(Op::Quantize),
            Just(Op::Dequantize),
            mode().prop_map(|mode| Op::Requantize { mode }),
            any::<bool>().prop_map(|zx_in_bias| Op::MatMulInt(crate::op::IntAttrs { zx_in_bias })),
            (conv(), any::<bool>())
                .prop_map(|(c, zx_in_bias)| Op::Conv2dInt(c, crate::op::IntAttrs { zx_in_bias })),
            Just(Op::RowSums),
            Just(Op::Lookup),
            (mode(), any::<bool>()).prop_map(|(mode, ort)| Op::AddInt {
                mode,
                ort: ort && mode == RequantMode::Float,
            }),
            (any::<i64>(), any::<i64>()).prop_map(|(min, max)| Op::ClampInt { min, max }),
        ]
    }

    /// Constant data for a type, from seeds: all equal (splat) or random.
    fn const_data(ty: &TensorType, splat: bool, seeds: &[u64]) -> TensorData {
        let n = ty.num_elements().unwrap_or(1);
        let seed = |i: usize| {
            let k = if splat { 0 } else { i };
            seeds
                .get(k % seeds.len().max(1))
                .copied()
                .unwrap_or(0)
                .rotate_left(i as u32 % 7)
                ^ (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        };
        match ty.elem.int_range() {
            None => TensorData::F32((0..n).map(|i| f32::from_bits(seed(i) as u32)).collect()),
            Some((lo, hi)) => {
                let vals: Vec<i64> = (0..n).map(|i| pick(seed(i), lo, hi)).collect();
                ints(ty.elem.storage(), &vals)
            }
        }
    }

    #[derive(Debug, Clone)]
    struct NodeRecipe {
        op: Op,
        is_const: bool,
        ty: TensorType,
        splat: bool,
        seeds: Vec<u64>,
        operands: Vec<u32>,
        extra: u32,
        name: Option<u8>,
        use_alias: Option<u8>,
    }

    fn node() -> impl Strategy<Value = NodeRecipe> {
        (
            op(),
            prop::bool::weighted(0.3),
            tensor_type(),
            any::<bool>(),
            prop::collection::vec(any::<u64>(), 1..4),
            prop::collection::vec(any::<u32>(), 3),
            any::<u32>(),
            prop::option::of(0u8..6),
            prop::option::weighted(0.2, any::<u8>()),
        )
            .prop_map(
                |(op, is_const, ty, splat, seeds, operands, extra, name, use_alias)| NodeRecipe {
                    op,
                    is_const,
                    ty,
                    splat,
                    seeds,
                    operands,
                    extra,
                    name,
                    use_alias,
                },
            )
    }

    #[derive(Debug, Clone)]
    struct GraphRecipe {
        name: String,
        aliases: Vec<(u8, ElemType)>,
        inputs: Vec<TensorType>,
        nodes: Vec<NodeRecipe>,
        outputs: Vec<u32>,
    }

    fn graph_recipe() -> impl Strategy<Value = GraphRecipe> {
        let alias_elem = prop_oneof![
            prop::sample::select(ScalarType::ALL.to_vec()).prop_map(ElemType::Scalar),
            quant(None).prop_map(ElemType::quant),
            (0usize..3, 1usize..4).prop_flat_map(|c| quant(Some(c)).prop_map(ElemType::quant)),
        ];
        (
            "[a-z_][a-zA-Z0-9_.$]{0,8}",
            prop::collection::vec((0u8..3, alias_elem), 0..4),
            prop::collection::vec(tensor_type(), 0..4),
            prop::collection::vec(node(), 0..14),
            prop::collection::vec(any::<u32>(), 0..4),
        )
            .prop_map(|(name, aliases, inputs, nodes, outputs)| GraphRecipe {
                name,
                aliases,
                inputs,
                nodes,
                outputs,
            })
    }

    /// Builds the graph through the API. Operands are earlier values, with
    /// a count the op's arity accepts; names are unique and never numeric.
    fn build(r: &GraphRecipe) -> Graph {
        let mut g = Graph::new(r.name.clone());
        for (i, (k, elem)) in r.aliases.iter().enumerate() {
            let prefix = ["q", "act", "w."][*k as usize % 3];
            g.aliases.push(TypeAlias {
                name: format!("{prefix}{i}"),
                elem: elem.clone(),
            });
        }
        let mut values: Vec<ValueId> = Vec::new();
        for (i, ty) in r.inputs.iter().enumerate() {
            values.push(g.add_input(format!("in{i}"), ty.clone()));
        }
        for (i, n) in r.nodes.iter().enumerate() {
            let mut ty = n.ty.clone();
            // Sometimes use a declared alias's element type.
            if let Some(k) = n.use_alias
                && let Some((_, e)) = r.aliases.get(k as usize % r.aliases.len().max(1))
            {
                let candidate = ty.with_elem(e.clone());
                if candidate.check().is_ok() {
                    ty = candidate;
                }
            }
            let v = if n.is_const || values.is_empty() {
                let data = const_data(&ty, n.splat, &n.seeds);
                g.add_const(data, ty)
            } else {
                let count = match n.op.arity() {
                    crate::op::Arity::Exactly(k) => k,
                    crate::op::Arity::Range(lo, hi) => lo + (n.extra as usize % (hi - lo + 1)),
                    crate::op::Arity::AtLeast(k) => k + (n.extra as usize % 3),
                };
                let args: Vec<ValueId> = (0..count)
                    .map(|j| {
                        let s = n
                            .operands
                            .get(j % n.operands.len().max(1))
                            .copied()
                            .unwrap_or(0);
                        values[(s as usize).wrapping_add(j) % values.len()]
                    })
                    .collect();
                g.add_node(n.op.clone(), &args, ty)
            };
            if let Some(k) = n.name {
                let prefix = ["n", "h.", "$t", "_", "0a", "x"][k as usize % 6];
                g.node_mut(v).name = Some(format!("{prefix}{i}"));
            }
            values.push(v);
        }
        if !values.is_empty() {
            for (i, s) in r.outputs.iter().enumerate() {
                g.add_output(format!("out{i}"), values[*s as usize % values.len()]);
            }
        }
        g
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn random_graphs_round_trip(r in graph_recipe()) {
            let g = build(&r);
            round_trip(&g);
        }

        #[test]
        fn mangled_text_never_panics(
            cut in 0usize..2000,
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<char>()), 0..4),
        ) {
            let mut text: Vec<char> = ALL_OPS.chars().chain(MLP.chars()).collect();
            text.truncate(cut.max(1) * text.len() / 2000);
            for (at, c) in edits {
                if !text.is_empty() {
                    let i = at.index(text.len());
                    text[i] = c;
                }
            }
            let text: String = text.into_iter().collect();
            if let Err(d) = parse(&text, None) {
                let _ = render(&d, "m.txt", &text);
            }
        }

        #[test]
        fn token_soup_never_panics(
            toks in prop::collection::vec(prop::sample::select(vec![
                "graph", "@g", "(", ")", "->", "{", "}", "%x", "%0", ":", ",", "=", "tensor",
                "<", ">", "2x", "1x64x", "f32", "i8", "!a", "!quant.uniform", "const", "dense",
                "dense_file", "[", "]", "0.5", "-3", "99999999999999999999", "nan", "-inf",
                "\"0x01\"", "relu", "conv2d", "return", "!a = i8\n", "// c\n",
            ]), 0..60),
        ) {
            let text = toks.join(" ");
            if let Err(d) = parse(&text, None) {
                let _ = render(&d, "m.txt", &text);
            }
        }
    }
}

#[test]
fn constant_data_struct_from_api_round_trips() {
    // A `file` reference that cannot be written (a quote in the path) falls
    // back to inline data.
    let mut g = Graph::new("g");
    let ty = TensorType::f32(vec![2]);
    let c = g.add_node(
        Op::Const(ConstData {
            data: TensorData::F32(vec![1.0, 2.0]).into(),
            file: Some("a\"b.npy".into()),
        }),
        &[],
        ty,
    );
    g.add_output("y", c);
    let text = print(&g);
    assert!(text.contains("const dense<[1.0, 2.0]>"), "{text}");
}

#[test]
fn huge_types_with_small_data_are_errors() {
    let e = errors(
        "graph @g() -> () {\n  %c = const dense<\"0x00\"> : tensor<4611686018427387904xf32>\n  return\n}",
    );
    assert_has(&e, &["wrong hex data"]);
    let e = errors(
        "graph @g() -> () {\n  %c = const dense<[1]> : tensor<4611686018427387904xi4>\n  return\n}",
    );
    assert_has(&e, &["expected 4611686018427387904 elements"]);
}

/// Many splats, each within the bound, cannot add up to gigabytes: a 1 KB
/// file of twenty 2^26-element splats once made the parser allocate 5 GiB
/// before the verifier's constant limit was checked.
#[test]
fn splats_are_bounded_per_file() {
    let splats = |k: usize, n: usize| {
        let mut src = String::from("graph @g(%x: tensor<1xi8>) -> (%y: tensor<1xi8>) {\n");
        for i in 0..k {
            src += &format!("  %c{i} = const dense<0> : tensor<{n}xi8>\n");
        }
        src + "  return %x\n}\n"
    };
    parse_ok(&splats(4, 1 << 20));
    assert_has(
        &errors(&splats(3, (1 << 25) + 1)),
        &[
            "the inline splats of this file expand to more than 67108864 elements",
            "33554433 more elements",
            "dense_file",
        ],
    );
}
