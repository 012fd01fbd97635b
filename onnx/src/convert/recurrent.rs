//! Recurrent layers: ONNX `LSTM`, `GRU` and com.microsoft `DynamicQuantizeLSTM`,
//! unrolled at import over the bound sequence length into qcc's matmul,
//! add, sigmoid, tanh, mul, slice and concat (so their meaning is those
//! ops'). The input projection of all time steps is one matrix product;
//! each step adds `H_{t−1} · Rᵀ`, in ONNX's gate order i, o, f, c:
//! `i = σ(g_i)`, `o = σ(g_o)`, `f = σ(g_f)`, `c̃ = tanh(g_c)`,
//! `C_t = f ⊙ C_{t−1} + i ⊙ c̃`, `H_t = o ⊙ tanh(C_t)`.
//!
//! `DynamicQuantizeLSTM` (int8 weights `[dirs, I, 4H]` with per-direction
//! or per-channel scales and zero points) quantizes each product's left
//! operand at run time to u8 as `DynamicQuantizeLinear` does (`X` once for
//! all steps, `H_{t−1}` at each step), multiplies exactly in i32 and scales
//! the product by `s_x · s_w`, as onnxruntime's quantized LSTM does.

use super::ops::Registry;
use super::*;

/// Registers this family's ONNX operators.
pub(super) fn register(r: &mut Registry) {
    r.add("LSTM", |c, at, n| c.lstm(at, n, false));
    r.add("DynamicQuantizeLSTM", |c, at, n| c.lstm(at, n, true));
    r.add("GRU", |c, at, n| c.gru(at, n));
}

/// Rows `[lo, hi)` of a 2-d constant.
fn rows(t: &OnnxTensor, lo: usize, hi: usize) -> OnnxTensor {
    let k = t.shape[1];
    let f = t.floats().expect("checked float");
    OnnxTensor::from_f32(vec![hi - lo, k], f[lo * k..hi * k].to_vec())
}

/// Element `d` of `t` along axis 0.
fn take0(t: &OnnxTensor, d: usize) -> OnnxTensor {
    let inner: usize = t.shape[1..].iter().product();
    let shape = t.shape[1..].to_vec();
    match (t.floats(), t.ints()) {
        (Some(f), _) => OnnxTensor::from_f32(shape, f[d * inner..(d + 1) * inner].to_vec()),
        (None, Some(i)) => {
            OnnxTensor::from_ints(t.dtype, shape, i[d * inner..(d + 1) * inner].to_vec())
        }
        _ => unreachable!("tensors hold floats or integers"),
    }
}

/// The shape of a recurrent layer, from [`Converter::rnn_header`].
struct Rnn {
    h: usize,
    dirs: &'static [bool],
    batch_first: bool,
    /// `X` as `[seq, batch, input]`.
    x: ValueId,
    t_len: usize,
    batch: usize,
    input: usize,
}

/// A weight of one direction, ready for `x · w`: `[K, N]`.
enum Weight {
    Float(ValueId),
    /// Plain i8 / u8 `[K, N]`, its scale (rank 0 or `[N]`) and zero point.
    Quant {
        w: ValueId,
        scale: ValueId,
        zp: ValueId,
    },
}

impl Converter<'_> {
    fn lstm(&mut self, at: &At, n: &NodeProto, quantized: bool) -> Result<(), ImportError> {
        if Self::attr_i(n, "input_forget", 0) != 0 {
            return Err(at.unsupported("LSTM with input_forget = 1"));
        }
        let rnn = self.rnn_header(at, n, &["sigmoid", "tanh", "tanh"])?;
        let Rnn {
            h,
            dirs,
            batch_first,
            x,
            t_len,
            batch,
            input,
        } = rnn;
        let nd = dirs.len();
        let w_t = self
            .konst(at, n, 1, "W")?
            .ok_or_else(|| at.invalid("`W` is missing"))?;
        let r_t = self
            .konst(at, n, 2, "R")?
            .ok_or_else(|| at.invalid("`R` is missing"))?;
        let b_t = self.konst(at, n, 3, "B")?;
        // Inputs 4..: sequence_lens, initial_h, initial_c, P (LSTM) or
        // the weights' scales and zero points (DynamicQuantizeLSTM).
        self.rnn_full_sequences(at, n, t_len)?;
        if self.opt_val(at, n, 7)?.is_some() && !quantized {
            return Err(at.unsupported("LSTM peepholes (`P`)"));
        }
        let (w_shape, r_shape) = if quantized {
            (vec![nd, input, 4 * h], vec![nd, h, 4 * h])
        } else {
            (vec![nd, 4 * h, input], vec![nd, 4 * h, h])
        };
        if w_t.shape != w_shape || r_t.shape != r_shape {
            return Err(at.invalid(format!(
                "`W` {:?} and `R` {:?} must be {w_shape:?} and {r_shape:?}",
                w_t.shape, r_t.shape
            )));
        }
        if let Some(b) = &b_t
            && b.shape != [nd, 8 * h]
        {
            return Err(at.invalid(format!("`B` {:?} must be [{nd}, {}]", b.shape, 8 * h)));
        }
        let h0 = self.rnn_state(at, n, 5, &rnn)?;
        let c0 = self.rnn_state(at, n, 6, &rnn)?;
        let x2 = self.add_reshape(at, x, vec![t_len * batch, input])?;
        let mut ys = Vec::new();
        let mut yh = Vec::new();
        let mut yc = Vec::new();
        for (d, &reverse) in dirs.iter().enumerate() {
            let w = self.lstm_weight(at, n, &w_t, d, quantized, 8)?;
            let r = self.lstm_weight(at, n, &r_t, d, quantized, 10)?;
            // The input projection of every step, with both biases.
            let mut xw = self.lstm_product(at, x2, &w)?;
            if let Some(b) = &b_t {
                let bd = take0(b, d);
                let f = bd.floats().ok_or_else(|| at.invalid("`B` must be float"))?;
                let sum: Vec<f32> = (0..4 * h).map(|k| f[k] + f[4 * h + k]).collect();
                let bt = Rc::new(OnnxTensor::from_f32(vec![4 * h], sum));
                let bv = self.const_value(at, &bt, ElemType::F32)?;
                xw = self.add(at, Op::Add, &[xw, bv], None)?;
            }
            let state =
                |c: &mut Self, s: Option<ValueId>| -> Result<Option<ValueId>, ImportError> {
                    s.map(|s| {
                        let sl = c.slice_rows(at, s, 0, d, d + 1, 3)?;
                        c.add_reshape(at, sl, vec![batch, h])
                    })
                    .transpose()
                };
            let mut hp = state(self, h0)?;
            let mut cp = state(self, c0)?;
            let mut outs = vec![None; t_len];
            let steps: Vec<usize> = if reverse {
                (0..t_len).rev().collect()
            } else {
                (0..t_len).collect()
            };
            for &t in &steps {
                let mut g = self.slice_rows(at, xw, 0, t * batch, (t + 1) * batch, 2)?;
                if let Some(hv) = hp {
                    let hr = self.lstm_product(at, hv, &r)?;
                    g = self.add(at, Op::Add, &[g, hr], None)?;
                }
                let gate = |c: &mut Self, k: usize, op: Op| -> Result<ValueId, ImportError> {
                    let s = c.slice_rows(at, g, 1, k * h, (k + 1) * h, 2)?;
                    c.add(at, op, &[s], None)
                };
                let i = gate(self, 0, Op::Sigmoid)?;
                let o = gate(self, 1, Op::Sigmoid)?;
                let f = gate(self, 2, Op::Sigmoid)?;
                let cc = gate(self, 3, Op::Tanh)?;
                let ic = self.add(at, Op::Mul, &[i, cc], None)?;
                let ct = match cp {
                    Some(cv) => {
                        let fc = self.add(at, Op::Mul, &[f, cv], None)?;
                        self.add(at, Op::Add, &[fc, ic], None)?
                    }
                    None => ic,
                };
                let tc = self.add(at, Op::Tanh, &[ct], None)?;
                let ht = self.add(at, Op::Mul, &[o, tc], None)?;
                outs[t] = Some(ht);
                hp = Some(ht);
                cp = Some(ct);
            }
            ys.push(self.rnn_stack_steps(at, outs, &rnn)?);
            yh.push(self.add_reshape(at, hp.expect("one step at least"), vec![1, batch, h])?);
            yc.push(self.add_reshape(at, cp.expect("one step at least"), vec![1, batch, h])?);
        }
        self.rnn_outputs(at, n, ys, vec![yh, yc], batch_first)
    }

    /// `GRU` (float; forward, reverse, bidirectional, `layout`, both
    /// `linear_before_reset`), unrolled like `lstm`, in ONNX's gate order
    /// z, r, h: `z = σ(g_z)`, `r = σ(g_r)`,
    /// `h̃ = tanh(X·W_hᵀ + (r ⊙ H)·R_hᵀ + Rb_h + Wb_h)` (or
    /// `… + r ⊙ (H·R_hᵀ + Rb_h) …` with `linear_before_reset`), `H_t = (1 − z) ⊙ h̃ + z ⊙ H_{t−1}`; a missing
    /// initial state is zeros (its terms are left out).
    fn gru(&mut self, at: &At, n: &NodeProto) -> Result<(), ImportError> {
        let lbr = Self::attr_i(n, "linear_before_reset", 0) != 0;
        let rnn = self.rnn_header(at, n, &["sigmoid", "tanh"])?;
        let Rnn {
            h,
            dirs,
            batch_first,
            x,
            t_len,
            batch,
            input,
        } = rnn;
        let nd = dirs.len();
        let w_t = self
            .konst(at, n, 1, "W")?
            .ok_or_else(|| at.invalid("`W` is missing"))?;
        let r_t = self
            .konst(at, n, 2, "R")?
            .ok_or_else(|| at.invalid("`R` is missing"))?;
        let b_t = self.konst(at, n, 3, "B")?;
        if w_t.shape != [nd, 3 * h, input] || r_t.shape != [nd, 3 * h, h] {
            return Err(at.invalid(format!(
                "`W` {:?} and `R` {:?} must be [{nd}, {}, {input}] and [{nd}, {}, {h}]",
                w_t.shape,
                r_t.shape,
                3 * h,
                3 * h
            )));
        }
        if w_t.floats().is_none() || r_t.floats().is_none() {
            return Err(at.invalid("GRU weights must be float"));
        }
        if let Some(b) = &b_t
            && (b.shape != [nd, 6 * h] || b.floats().is_none())
        {
            return Err(at.invalid(format!("`B` {:?} must be float [{nd}, {}]", b.shape, 6 * h)));
        }
        self.rnn_full_sequences(at, n, t_len)?;
        let h0 = self.rnn_state(at, n, 5, &rnn)?;
        let x2 = self.add_reshape(at, x, vec![t_len * batch, input])?;
        let (mut ys, mut yh) = (Vec::new(), Vec::new());
        let konst = |c: &mut Self, t: OnnxTensor| c.const_value(at, &Rc::new(t), ElemType::F32);
        let one = konst(self, OnnxTensor::from_f32(vec![], vec![1.0]))?;
        for (d, &reverse) in dirs.iter().enumerate() {
            let (wd, rd) = (take0(&w_t, d), take0(&r_t, d));
            let w = konst(self, transpose_const(&wd, &[1, 0]))?;
            let r_zr = konst(self, transpose_const(&rows(&rd, 0, 2 * h), &[1, 0]))?;
            let r_h = konst(self, transpose_const(&rows(&rd, 2 * h, 3 * h), &[1, 0]))?;
            let mut xw = self.add(at, Op::MatMul, &[x2, w], None)?;
            // Biases: Wb + Rb for z and r, Wb_h (+ Rb_h unless it is
            // applied inside the reset).
            let mut rb_h = None;
            if let Some(b) = &b_t {
                let f = take0(b, d).floats().expect("checked float").to_vec();
                let sum: Vec<f32> = (0..3 * h)
                    .map(|k| {
                        if k < 2 * h || !lbr {
                            f[k] + f[3 * h + k]
                        } else {
                            f[k]
                        }
                    })
                    .collect();
                let bv = konst(self, OnnxTensor::from_f32(vec![3 * h], sum))?;
                xw = self.add(at, Op::Add, &[xw, bv], None)?;
                if lbr {
                    let rb = f[5 * h..6 * h].to_vec();
                    rb_h = Some(konst(self, OnnxTensor::from_f32(vec![h], rb))?);
                }
            }
            let mut hp = match h0 {
                Some(s) => {
                    let sl = self.slice_rows(at, s, 0, d, d + 1, 3)?;
                    Some(self.add_reshape(at, sl, vec![batch, h])?)
                }
                None => None,
            };
            let mut outs = vec![None; t_len];
            let steps: Vec<usize> = if reverse {
                (0..t_len).rev().collect()
            } else {
                (0..t_len).collect()
            };
            for &t in &steps {
                let g = self.slice_rows(at, xw, 0, t * batch, (t + 1) * batch, 2)?;
                let mut gzr = self.slice_rows(at, g, 1, 0, 2 * h, 2)?;
                let mut gh = self.slice_rows(at, g, 1, 2 * h, 3 * h, 2)?;
                if let Some(hv) = hp {
                    let hr = self.add(at, Op::MatMul, &[hv, r_zr], None)?;
                    gzr = self.add(at, Op::Add, &[gzr, hr], None)?;
                }
                let zr = self.add(at, Op::Sigmoid, &[gzr], None)?;
                let z = self.slice_rows(at, zr, 1, 0, h, 2)?;
                let r = self.slice_rows(at, zr, 1, h, 2 * h, 2)?;
                // The reset's term of h̃.
                let reset = match (hp, lbr) {
                    (Some(hv), false) => {
                        let rh = self.add(at, Op::Mul, &[r, hv], None)?;
                        Some(self.add(at, Op::MatMul, &[rh, r_h], None)?)
                    }
                    (hv, true) => {
                        let lin = match (hv, rb_h) {
                            (Some(hv), Some(b)) => {
                                let p = self.add(at, Op::MatMul, &[hv, r_h], None)?;
                                Some(self.add(at, Op::Add, &[p, b], None)?)
                            }
                            (Some(hv), None) => Some(self.add(at, Op::MatMul, &[hv, r_h], None)?),
                            (None, Some(b)) => Some(b),
                            (None, None) => None,
                        };
                        match lin {
                            Some(l) => Some(self.add(at, Op::Mul, &[r, l], None)?),
                            None => None,
                        }
                    }
                    (None, false) => None,
                };
                if let Some(rt) = reset {
                    gh = self.add(at, Op::Add, &[gh, rt], None)?;
                }
                let ht_cand = self.add(at, Op::Tanh, &[gh], None)?;
                let omz = self.add(at, Op::Sub, &[one, z], None)?;
                let mut ht = self.add(at, Op::Mul, &[omz, ht_cand], None)?;
                if let Some(hv) = hp {
                    let zh = self.add(at, Op::Mul, &[z, hv], None)?;
                    ht = self.add(at, Op::Add, &[ht, zh], None)?;
                }
                outs[t] = Some(ht);
                hp = Some(ht);
            }
            ys.push(self.rnn_stack_steps(at, outs, &rnn)?);
            yh.push(self.add_reshape(at, hp.expect("one step at least"), vec![1, batch, h])?);
        }
        self.rnn_outputs(at, n, ys, vec![yh], batch_first)
    }

    /// What LSTM and GRU share before their weights: `hidden_size`, the
    /// directions, `layout`, no `clip`, the standard activations (`acts`
    /// per direction), and `X` as `[seq, batch, input]` (transposed from
    /// batch-first).
    fn rnn_header(&mut self, at: &At, n: &NodeProto, acts: &[&str]) -> Result<Rnn, ImportError> {
        let op = n.op_type.clone().unwrap_or_default();
        let hidden = Self::attr_i(n, "hidden_size", 0);
        if hidden <= 0 {
            return Err(at.invalid("`hidden_size` must be given and positive"));
        }
        let dirs: &'static [bool] = match Self::attr_s(n, "direction").as_deref() {
            None | Some("forward") => &[false],
            Some("reverse") => &[true],
            Some("bidirectional") => &[false, true],
            Some(other) => return Err(at.invalid(format!("unknown direction `{other}`"))),
        };
        // layout = 1: X [batch, seq, input], states [batch, dirs, hidden],
        // Y [batch, seq, dirs, hidden]; transposed around the unrolled body.
        let batch_first = Self::attr_i(n, "layout", 0) != 0;
        if Self::attr(n, "clip").is_some() {
            return Err(at.unsupported(format!("{op} with `clip`")));
        }
        if let Some(a) = Self::attr(n, "activations") {
            let names: Vec<String> = a
                .strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
                .collect();
            if names.chunks(acts.len()).any(|c| c != acts) {
                let has: Vec<String> = acts
                    .iter()
                    .map(|a| a[..1].to_uppercase() + &a[1..])
                    .collect();
                return Err(at.unsupported(format!(
                    "{op} activations {names:?} (qcc has {})",
                    has.join(", ")
                )));
            }
        }
        let mut x = self.f32_in(at, n, 0)?;
        if batch_first {
            x = self.permute(at, x, &[1, 0, 2])?;
        }
        let xs = self.g.ty(x).shape.clone();
        if xs.len() != 3 {
            return Err(at.invalid(format!("`X` must be [seq, batch, input], found {xs:?}")));
        }
        Ok(Rnn {
            h: hidden as usize,
            dirs,
            batch_first,
            x,
            t_len: xs[0],
            batch: xs[1],
            input: xs[2],
        })
    }

    /// `sequence_lens`, when given, must be the whole sequence for every
    /// batch entry.
    fn rnn_full_sequences(&self, at: &At, n: &NodeProto, t_len: usize) -> Result<(), ImportError> {
        if let Some(sl) = self.konst(at, n, 4, "sequence_lens")?
            && !sl
                .ints()
                .is_some_and(|v| v.iter().all(|&l| l == t_len as i64))
        {
            return Err(at.unsupported("sequence_lens shorter than the sequence"));
        }
        Ok(())
    }

    /// An initial state (input `i`) as `[dirs, batch, hidden]`, if given.
    fn rnn_state(
        &mut self,
        at: &At,
        n: &NodeProto,
        i: usize,
        rnn: &Rnn,
    ) -> Result<Option<ValueId>, ImportError> {
        let Some(v) = self.opt_val(at, n, i)? else {
            return Ok(None);
        };
        let mut id = self.f32_of(at, &v)?;
        if rnn.batch_first {
            id = self.permute(at, id, &[1, 0, 2])?;
        }
        let want = [rnn.dirs.len(), rnn.batch, rnn.h];
        if self.g.ty(id).shape != want {
            return Err(at.invalid(format!(
                "input {i} must be {want:?}, found {:?}",
                self.g.ty(id).shape
            )));
        }
        Ok(Some(id))
    }

    /// One direction's step outputs `[B, H]` (indexed by time) as
    /// `[T, 1, B, H]`.
    fn rnn_stack_steps(
        &mut self,
        at: &At,
        outs: Vec<Option<ValueId>>,
        rnn: &Rnn,
    ) -> Result<ValueId, ImportError> {
        let outs: Vec<ValueId> = outs.into_iter().map(|o| o.expect("every step")).collect();
        let y = if outs.len() == 1 {
            outs[0]
        } else {
            self.add(at, Op::Concat { axis: 0 }, &outs, None)?
        };
        self.add_reshape(at, y, vec![rnn.t_len, 1, rnn.batch, rnn.h])
    }

    /// Output 0 (`Y`, the directions joined on axis 1) and the final
    /// states `states[k]` as output `k + 1` (joined on axis 0), in the
    /// batch-first layout when asked.
    fn rnn_outputs(
        &mut self,
        at: &At,
        n: &NodeProto,
        ys: Vec<ValueId>,
        states: Vec<Vec<ValueId>>,
        batch_first: bool,
    ) -> Result<(), ImportError> {
        let cat = |c: &mut Self, v: Vec<ValueId>, axis: usize| -> Result<ValueId, ImportError> {
            if v.len() == 1 {
                Ok(v[0])
            } else {
                c.add(at, Op::Concat { axis }, &v, None)
            }
        };
        let mut y = cat(self, ys, 1)?;
        if batch_first {
            y = self.permute(at, y, &[2, 0, 1, 3])?;
        }
        self.set(n, 0, Val::Node(y));
        for (k, parts) in states.into_iter().enumerate() {
            if n.output.get(k + 1).is_some_and(|s| !s.is_empty()) {
                let mut v = cat(self, parts, 0)?;
                if batch_first {
                    v = self.permute(at, v, &[1, 0, 2])?;
                }
                self.set(n, k + 1, Val::Node(v));
            }
        }
        Ok(())
    }

    fn permute(&mut self, at: &At, x: ValueId, perm: &[usize]) -> Result<ValueId, ImportError> {
        let op = Op::Transpose {
            perm: perm.to_vec(),
        };
        self.add(at, op, &[x], None)
    }

    /// Rows `[lo, hi)` of `x` along `axis` (of rank `rank`).
    fn slice_rows(
        &mut self,
        at: &At,
        x: ValueId,
        axis: usize,
        lo: usize,
        hi: usize,
        rank: usize,
    ) -> Result<ValueId, ImportError> {
        let mut starts = vec![0i64; rank];
        let mut ends = vec![i64::MAX; rank];
        starts[axis] = lo as i64;
        ends[axis] = hi as i64;
        let op = Op::Slice {
            starts,
            ends,
            steps: vec![1; rank],
        };
        self.add(at, op, &[x], None)
    }

    /// One direction's `W` or `R` as `[K, 4H]` (float: transposed from
    /// ONNX's `[4H, K]`; quantized: as stored, with its scale and zero
    /// point from inputs `first` and `first + 1`).
    fn lstm_weight(
        &mut self,
        at: &At,
        n: &NodeProto,
        t: &OnnxTensor,
        d: usize,
        quantized: bool,
        first: usize,
    ) -> Result<Weight, ImportError> {
        let td = take0(t, d);
        if !quantized {
            if td.floats().is_none() {
                return Err(at.invalid("float LSTM weights must be float"));
            }
            let tr = Rc::new(transpose_const(&td, &[1, 0]));
            return Ok(Weight::Float(self.const_value(at, &tr, ElemType::F32)?));
        }
        let st = td
            .dtype
            .scalar()
            .filter(|s| matches!(s, ScalarType::I8 | ScalarType::U8))
            .ok_or_else(|| {
                at.unsupported(format!(
                    "quantized LSTM weights of type {}",
                    td.dtype.name()
                ))
            })?;
        let cols = td.shape[1];
        let w = self.const_value(at, &Rc::new(td), ElemType::Scalar(st))?;
        let s_t = self
            .konst(at, n, first, "scale")?
            .ok_or_else(|| at.invalid(format!("input {first} (a weight scale) is missing")))?;
        let z_t = self.konst(at, n, first + 1, "zero point")?;
        // Per direction ([dirs]) or per channel ([dirs, 4H]).
        let per_channel = s_t.shape.len() == 2;
        let sd = take0(&s_t, d);
        let sf = sd
            .floats()
            .ok_or_else(|| at.invalid("weight scales must be float"))?
            .to_vec();
        if per_channel && sf.len() != cols || sf.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(at.invalid(
                "weight scales must be positive and finite, one per channel or per direction",
            ));
        }
        let sshape = if per_channel { vec![cols] } else { vec![] };
        let scale = self.const_value(
            at,
            &Rc::new(OnnxTensor::from_f32(sshape.clone(), sf)),
            ElemType::F32,
        )?;
        let zv: Vec<i64> = match &z_t {
            Some(z) => take0(z, d)
                .ints()
                .ok_or_else(|| at.invalid("zero points must be integers"))?
                .to_vec(),
            None => vec![0; if per_channel { cols } else { 1 }],
        };
        let zdt = DType::of_scalar(st);
        let zp = self.const_value(
            at,
            &Rc::new(OnnxTensor::from_ints(zdt, sshape, zv)),
            ElemType::Scalar(st),
        )?;
        Ok(Weight::Quant { w, scale, zp })
    }

    /// `x · w` for a 2-d f32 `x`: a float matmul, or the dynamic int8
    /// product `dequantize_dyn(matmul_int_dyn(quantize_dyn x), s_x · s_w)`.
    fn lstm_product(&mut self, at: &At, x: ValueId, w: &Weight) -> Result<ValueId, ImportError> {
        match *w {
            Weight::Float(wv) => self.add(at, Op::MatMul, &[x, wv], None),
            Weight::Quant { w, scale, zp } => {
                let sx = self.add(at, Op::DynamicScale, &[x], None)?;
                let zx = self.add(at, Op::DynamicZeroPoint, &[x], None)?;
                let xq = self.add(at, Op::QuantizeDyn, &[x, sx, zx], None)?;
                let acc = self.add(at, Op::MatMulIntDyn, &[xq, w, zx, zp], None)?;
                let s = self.add(at, Op::Mul, &[sx, scale], None)?;
                let zero = Rc::new(OnnxTensor::from_ints(DType::Int32, vec![], vec![0]));
                let z = self.const_value(at, &zero, ElemType::I32)?;
                self.add(at, Op::DequantizeDyn, &[acc, s, z], None)
            }
        }
    }
}
