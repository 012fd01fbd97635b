//! Random **QDQ graphs**: quantized inputs, then blocks of
//! `dequantize → float op → quantize` with random parameters, the form
//! `lower-qdq` and `fuse-requant` rewrite. Used to check that every pass
//! keeps a graph's meaning within the bound of `docs/semantics.md`
//! ("What rewrites may change").
//!
//! Like [`crate::r#gen`], a graph is built deterministically from a
//! sequence of `u32` choices ([`build_qdq_graph`]); choice 0 is always the
//! simplest option and an exhausted sequence reads as zeros. Constant data
//! comes from a small generator seeded by one choice.
//!
//! Each graph has one block (whose output codes are the graph's output), so
//! the result of one rewritten op is compared directly: the bound is one
//! quantization step of the output. Parameters cover zero points at both
//! ends of the storage range, per-tensor and per-axis weights, biases in
//! i32 at `sx · sw` and in f32, output types equal to the input's, and
//! output scales that make results mid-range as well as saturating.

use proptest::prelude::*;
use qcc_ir::op::{Conv2dAttrs, F32Attr, Op, Pool2dAttrs};
use qcc_ir::tensor::TensorData;
use qcc_ir::types::{ElemType, QuantType, ScalarType, TensorType};
use qcc_ir::{Graph, ValueId};

/// Random one-block QDQ graphs.
pub fn arb_qdq_graph() -> impl Strategy<Value = Graph> {
    prop::collection::vec(any::<u32>(), 4..40).prop_map(|c| build_qdq_graph(&c))
}

struct Choices<'a> {
    c: &'a [u32],
    i: usize,
}

impl Choices<'_> {
    fn next(&mut self, n: u32) -> u32 {
        let v = self.c.get(self.i).copied().unwrap_or(0);
        self.i += 1;
        if n == 0 { 0 } else { v % n }
    }
}

/// A small deterministic generator for constant data.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
}

fn act_type(ch: &mut Choices, scale_hint: f32) -> QuantType {
    let storage = if ch.next(2) == 0 {
        ScalarType::U8
    } else {
        ScalarType::I8
    };
    let (lo, hi) = storage.int_range().unwrap();
    let zp = match ch.next(4) {
        0 => (lo + hi + 1) / 2,
        1 => lo,
        2 => hi,
        _ => lo + ch.next((hi - lo + 1) as u32) as i64,
    };
    let scale = scale_hint * (1.0 + ch.next(16) as f32 / 16.0) / (1u32 << ch.next(3)) as f32;
    QuantType::per_tensor(storage, scale, zp)
}

fn q(shape: &[usize], qt: &QuantType) -> TensorType {
    TensorType::new(shape.to_vec(), ElemType::quant(qt.clone()))
}

/// Builds a one-block QDQ graph from choices (see the module doc).
pub fn build_qdq_graph(choices: &[u32]) -> Graph {
    let mut ch = Choices { c: choices, i: 0 };
    let kind = ch.next(14);
    let mut rng = Lcg(ch.next(u32::MAX) as u64 + 1);
    let dim = |ch: &mut Choices, max: u32| 1 + ch.next(max) as usize;
    let qx = act_type(&mut ch, 1.0 / 64.0);
    let sx = qx.scales[0];
    let mut g = Graph::new("qdq");
    let four_d = matches!(kind, 4 | 6 | 7 | 8 | 11);
    let shape: Vec<usize> = if four_d {
        vec![1, dim(&mut ch, 3), dim(&mut ch, 4) + 1, dim(&mut ch, 4) + 1]
    } else {
        vec![dim(&mut ch, 3), dim(&mut ch, 8)]
    };
    let x = g.add_input("x", q(&shape, &qx));
    let xd = g.add_node(Op::Dequantize, &[x], TensorType::f32(shape.clone()));
    // The output type: sometimes the input's own, else random around `hint`.
    let out_type = |ch: &mut Choices, hint: f32| -> QuantType {
        if ch.next(4) == 0 {
            qx.clone()
        } else {
            act_type(ch, hint)
        }
    };
    let weights = |ch: &mut Choices,
                   rng: &mut Lcg,
                   shape: &[usize],
                   axis: usize|
     -> (QuantType, TensorData) {
        let n: usize = shape.iter().product();
        let (qw, zp) = match ch.next(3) {
            0 => (QuantType::per_tensor(ScalarType::I8, 1.0 / 128.0, 0), 0),
            1 => {
                let z = rng.int(-128, 127);
                (QuantType::per_tensor(ScalarType::I8, 1.0 / 100.0, z), z)
            }
            _ => {
                let c = shape[axis];
                let scales = (0..c).map(|i| (1.0 + i as f32 / 8.0) / 128.0).collect();
                (
                    QuantType::per_axis(ScalarType::I8, axis, scales, vec![0; c]),
                    0,
                )
            }
        };
        let _ = zp;
        let vals: Vec<i64> = (0..n).map(|_| rng.int(-128, 127)).collect();
        (qw, TensorData::from_i64s(ScalarType::I8, &vals).unwrap())
    };
    let result: (ValueId, QuantType) = match kind {
        // relu, clamp
        0 | 1 => {
            let op = if kind == 0 {
                Op::Relu
            } else {
                let a = (ch.next(9) as f32 - 6.0) * sx * 4.0;
                Op::Clamp {
                    min: F32Attr(a),
                    max: F32Attr(a + (1 + ch.next(64)) as f32 * sx),
                }
            };
            let r = g.add_node(op, &[xd], TensorType::f32(shape.clone()));
            (r, out_type(&mut ch, sx))
        }
        // dense, matmul, conv2d
        2..=4 => {
            let (k, n) = (shape[1], dim(&mut ch, 6));
            let (wshape, axis) = match kind {
                2 => (vec![n, k], 0),
                3 => (vec![k, n], 1),
                _ => (
                    vec![
                        n,
                        shape[1],
                        1 + ch.next(2) as usize,
                        1 + ch.next(2) as usize,
                    ],
                    0,
                ),
            };
            let (qw, wd) = weights(&mut ch, &mut rng, &wshape, axis);
            let w = g.add_const(wd, q(&wshape, &qw));
            let wdq = g.add_node(Op::Dequantize, &[w], TensorType::f32(wshape.clone()));
            let mut args = vec![xd, wdq];
            if kind != 3 && ch.next(3) > 0 {
                let sw = |c: usize| qw.scale(c);
                let bias: Vec<i64> = (0..n).map(|_| rng.int(-3000, 3000)).collect();
                let b = if ch.next(2) == 0 {
                    let bq = if qw.is_per_axis() {
                        QuantType::per_axis(
                            ScalarType::I32,
                            0,
                            (0..n).map(|c| sx * sw(c)).collect(),
                            vec![0; n],
                        )
                    } else {
                        QuantType::per_tensor(ScalarType::I32, sx * sw(0), 0)
                    };
                    let b = g.add_const(
                        TensorData::from_i64s(ScalarType::I32, &bias).unwrap(),
                        q(&[n], &bq),
                    );
                    g.add_node(Op::Dequantize, &[b], TensorType::f32(vec![n]))
                } else {
                    let f: Vec<f32> = bias.iter().map(|&v| v as f32 * sx * sw(0)).collect();
                    g.add_const(TensorData::F32(f), TensorType::f32(vec![n]))
                };
                args.push(b);
            }
            let (op, oshape) = match kind {
                2 => (Op::Dense, vec![shape[0], n]),
                3 => (Op::MatMul, vec![shape[0], n]),
                _ => {
                    let pads = [ch.next(2) as usize; 4];
                    let a = Conv2dAttrs {
                        pads,
                        ..Conv2dAttrs::default()
                    };
                    let oh = shape[2] + 2 * pads[0] + 1 - wshape[2];
                    let ow = shape[3] + 2 * pads[0] + 1 - wshape[3];
                    (Op::Conv2d(a), vec![1, n, oh, ow])
                }
            };
            let r = g.add_node(op, &args, TensorType::f32(oshape));
            let kk = if kind == 4 {
                wshape[1] * wshape[2] * wshape[3]
            } else {
                k
            };
            let hint = sx * qw.scale(0) * 128.0 * (kk as f32).sqrt() * 4.0;
            (r, out_type(&mut ch, hint))
        }
        // add
        5 => {
            let qb = act_type(&mut ch, 1.0 / 32.0);
            let b = g.add_input("y", q(&shape, &qb));
            let bd = g.add_node(Op::Dequantize, &[b], TensorType::f32(shape.clone()));
            let r = g.add_node(Op::Add, &[xd, bd], TensorType::f32(shape.clone()));
            (r, out_type(&mut ch, 1.0 / 16.0))
        }
        // maxpool, avgpool, global_avgpool
        6..=8 => {
            let (op, oshape) = if kind == 8 {
                (
                    Op::GlobalAvgPool {
                        mode: Default::default(),
                    },
                    vec![1, shape[1], 1, 1],
                )
            } else {
                let mut a = Pool2dAttrs::new([2, 2]);
                a.pads = [ch.next(2) as usize; 4];
                a.count_include_pad = ch.next(2) == 1;
                let oh = shape[2] + 2 * a.pads[0] - 1;
                let ow = shape[3] + 2 * a.pads[0] - 1;
                let op = if kind == 6 {
                    a.count_include_pad = false;
                    Op::MaxPool2d(a)
                } else {
                    Op::AvgPool2d(a)
                };
                (op, vec![1, shape[1], oh, ow])
            };
            let r = g.add_node(op, &[xd], TensorType::f32(oshape));
            (r, out_type(&mut ch, sx))
        }
        // reshape, flatten, transpose
        9..=11 => {
            let n: usize = shape.iter().product();
            let (op, oshape) = match kind {
                9 => (Op::Reshape, vec![n]),
                10 => (Op::Flatten { axis: 1 }, vec![shape[0], n / shape[0]]),
                _ => (
                    Op::Transpose {
                        perm: vec![0, 2, 3, 1],
                    },
                    vec![1, shape[2], shape[3], shape[1]],
                ),
            };
            let r = g.add_node(op, &[xd], TensorType::f32(oshape));
            (r, out_type(&mut ch, sx))
        }
        // concat of two differently quantized inputs
        12 => {
            let qb = act_type(&mut ch, 1.0 / 64.0);
            let b = g.add_input("y", q(&shape, &qb));
            let bd = g.add_node(Op::Dequantize, &[b], TensorType::f32(shape.clone()));
            let r = g.add_node(
                Op::Concat { axis: 1 },
                &[xd, bd],
                TensorType::f32(vec![shape[0], shape[1] * 2]),
            );
            (r, out_type(&mut ch, sx))
        }
        // dequantize → quantize with new parameters
        _ => (xd, out_type(&mut ch, sx)),
    };
    let (v, qy) = result;
    let oshape = g.ty(v).shape.clone();
    let y = g.add_node(Op::Quantize, &[v], q(&oshape, &qy));
    g.add_output("out", y);
    g
}
