//! The verifier never panics: random graphs of every op over well-formed and
//! malformed types, extreme attributes and broken constants.

use super::*;
use crate::op::{Conv2dAttrs, F32Attr, Pool2dAttrs, RequantMode};
use crate::tensor::Packed4;
use crate::verify::{accumulator_bounds, check_op, infer, verify};

/// A small deterministic generator (64-bit LCG).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Clone>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())].clone()
    }

    fn size(&mut self) -> usize {
        self.pick(&[0, 1, 1, 2, 2, 3, 4, 5, 8, usize::MAX])
    }
}

fn random_elem(r: &mut Rng, shape: &[usize]) -> ElemType {
    let storage = r.pick(&[I8, U8, I32, I16, I4, U4, ScalarType::F32]);
    match r.below(8) {
        0 | 1 => ElemType::F32,
        2 => ElemType::Scalar(storage),
        3 | 4 => qt(
            storage,
            r.pick(&[0.5, 1.0e-30, 1.0e30, 0.0, -1.0, f32::NAN]),
            r.pick(&[0, 1, 128, -129]),
        ),
        5 => {
            let axis = r.below(shape.len() + 2);
            let n = shape.get(axis).copied().unwrap_or(2).min(6);
            let n = if r.below(4) == 0 { n + 1 } else { n };
            ElemType::quant(QuantType::per_axis(
                storage,
                axis,
                vec![0.25; n],
                vec![0; n],
            ))
        }
        6 => {
            // Malformed parameter lists.
            let mut q = QuantType::per_tensor(storage, 0.5, 0);
            match r.below(4) {
                0 => q.scales.clear(),
                1 => q.zero_points.clear(),
                2 => {
                    q.storage_min = 5;
                    q.storage_max = -5;
                }
                _ => q.axis = Some(r.below(5)),
            }
            ElemType::quant(q)
        }
        _ => {
            let mut q = QuantType::per_tensor(storage, 0.125, 0);
            q.storage_min = q.storage_min.saturating_add(1);
            ElemType::quant(q)
        }
    }
}

fn random_type(r: &mut Rng) -> TensorType {
    let rank = r.pick(&[0, 1, 2, 2, 3, 4, 4, 4, 5]);
    let shape: Vec<usize> = (0..rank)
        .map(|_| {
            if r.below(12) == 0 {
                r.size()
            } else {
                1 + r.below(4)
            }
        })
        .collect();
    let elem = random_elem(r, &shape);
    TensorType::new(shape, elem)
}

fn random_op(r: &mut Rng) -> Op {
    let mut two = || [r.size(), r.size()];
    let strides = two();
    let dilations = two();
    let kernel = two();
    let pads = [r.size(), r.size(), r.size(), r.size()];
    let mode = r.pick(&RequantMode::ALL);
    let conv = Conv2dAttrs {
        strides,
        pads,
        dilations,
        groups: r.size(),
    };
    let pool = Pool2dAttrs {
        kernel,
        strides,
        pads,
        count_include_pad: r.below(2) == 0,
        mode,
    };
    let axis = r.size();
    match r.below(23) {
        0 => Op::MatMul,
        1 => Op::Dense,
        2 => Op::Conv2d(conv),
        3 => Op::Add,
        4 => Op::Mul,
        5 => Op::Relu,
        6 => Op::Clamp {
            min: F32Attr(r.pick(&[0.0, 6.0, f32::NAN, f32::NEG_INFINITY])),
            max: F32Attr(r.pick(&[0.0, 6.0, f32::INFINITY])),
        },
        7 => Op::MaxPool2d(pool),
        8 => Op::AvgPool2d(pool),
        9 => Op::GlobalAvgPool { mode },
        10 => Op::Reshape,
        11 => Op::Flatten { axis },
        12 => Op::Transpose {
            perm: (0..r.below(5)).map(|_| r.size()).collect(),
        },
        13 => Op::Concat { axis },
        14 => Op::Softmax { axis },
        15 => Op::Quantize,
        16 => Op::Dequantize,
        17 => Op::Requantize { mode },
        18 => Op::MatMulInt(crate::op::IntAttrs::default()),
        19 => Op::Conv2dInt(conv, crate::op::IntAttrs::default()),
        20 => Op::AddInt { mode, ort: false },
        21 => Op::ClampInt {
            min: r.pick(&[i64::MIN, 0, 5]),
            max: r.pick(&[i64::MAX, 0, 3]),
        },
        _ => Op::Input(r.below(3)),
    }
}

fn random_data(r: &mut Rng, t: &TensorType) -> TensorData {
    let n = t.num_elements().unwrap_or(3).min(64);
    let n = match r.below(5) {
        0 => n + 1,
        1 => n.saturating_sub(1),
        _ => n,
    };
    let s = if r.below(6) == 0 {
        r.pick(&ScalarType::ALL)
    } else {
        t.elem.storage()
    };
    match s {
        ScalarType::F32 => TensorData::F32(vec![1.5; n]),
        ScalarType::I4 | ScalarType::U4 if r.below(3) == 0 => {
            let p = Packed4 {
                bytes: vec![0xff; r.below(4)],
                len: n,
            };
            if s == ScalarType::I4 {
                TensorData::I4(p)
            } else {
                TensorData::U4(p)
            }
        }
        _ => {
            let (lo, hi) = s.int_range().unwrap_or((0, 0));
            let vals: Vec<i64> = (0..n).map(|i| if i % 2 == 0 { lo } else { hi }).collect();
            ints(s, &vals)
        }
    }
}

#[test]
fn random_graphs_never_panic() {
    let mut r = Rng(0x5eed);
    let mut rejected = 0;
    for _ in 0..20000 {
        let mut g = Graph::new("fuzz");
        let mut values = Vec::new();
        for i in 0..1 + r.below(3) {
            let t = random_type(&mut r);
            values.push(g.add_input(format!("in{i}"), t));
        }
        for _ in 0..1 + r.below(4) {
            let t = random_type(&mut r);
            let v = if r.below(4) == 0 {
                let data = random_data(&mut r, &t);
                g.add_const(data, t)
            } else {
                let op = random_op(&mut r);
                let n = r.below(4);
                let args: Vec<ValueId> = (0..n).map(|_| r.pick(&values)).collect();
                let v = g.add_node(Op::Relu, &args, t);
                g.node_mut(v).op = op;
                v
            };
            values.push(v);
        }
        if r.below(10) == 0 {
            let (a, b) = (r.pick(&values), r.pick(&values));
            if !g.args(b).is_empty() {
                g.set_arg(b, 0, a);
            }
        }
        let out = r.pick(&values);
        g.add_output(if r.below(8) == 0 { "1 x" } else { "y" }, out);
        for v in g.node_ids().collect::<Vec<_>>() {
            let tys: Vec<&TensorType> = g.args(v).iter().map(|&a| g.ty(a)).collect();
            let _ = infer(&g.node(v).op, &tys);
            let _ = check_op(&g.node(v).op, &tys, g.ty(v));
            let _ = accumulator_bounds(&g, v);
        }
        if verify(&g).is_err() {
            rejected += 1;
        }
    }
    assert!(rejected > 0);
}

/// Typed ops on matching operand types: the rules and the multiplier and
/// bound checks see valid types with extreme parameters.
#[test]
fn extreme_but_valid_parameters() {
    let scales = [1.0e-38f32, 1.0e-45, 1.0, 3.0e38];
    for &sx in &scales {
        for &sw in &scales {
            let x = ty(&[1, 2, 3, 3], qt(I32, sx, i32::MIN as i64));
            let w = ty(&[2, 2, 3, 3], qt(I32, sw, i32::MAX as i64));
            let out = ty(&[1, 2, 1, 1], qt(I32, sx * sw, 0));
            let g = single(
                Op::Conv2dInt(Conv2dAttrs::default(), crate::op::IntAttrs::default()),
                &[x.clone(), w],
                out.clone(),
            );
            let _ = verify(&g);
            for mode in RequantMode::ALL {
                let g = single(
                    Op::Requantize { mode },
                    &[x.clone()],
                    x.with_elem(qt(I8, sw, 0)),
                );
                let _ = verify(&g);
                let p = Pool2dAttrs {
                    mode,
                    pads: [2, 2, 2, 2],
                    ..Pool2dAttrs::new([3, 3])
                };
                let g = single(Op::AvgPool2d(p), &[x.clone()], x.with_elem(qt(I8, sw, 0)));
                let _ = verify(&g);
                let g = single(
                    Op::AddInt { mode, ort: false },
                    &[x.clone(), x.clone()],
                    x.with_elem(qt(I8, sw, 0)),
                );
                let _ = verify(&g);
            }
        }
    }
}
