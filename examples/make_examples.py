#!/usr/bin/env python3
"""Generate qcc's bundled examples (graphs, .npy constants, sample inputs,
expected outputs and examples/README.md).

    python3 examples/make_examples.py

Deterministic: every random source is seeded, so a rerun on the same machine
(same numpy / scikit-learn) rewrites byte-identical files.

Quantization follows docs/semantics.md exactly:
  * parameters from a range: `choose_params` ("Choosing parameters from a
    range"): widen to include 0, scale = f32((rmax - rmin) / (qmax - qmin)) in
    f64, zero point = clamp(round_half_even(qmin - rmin / scale)) in f64;
  * quantize(x) = saturate(round_half_even(x / s) + z) with one f32 division;
  * dequantize(q) = f32(q - z) * s, one f32 multiplication.
Activations are u8 (asymmetric, calibrated with min/max over the training
split on the float model). Per-tensor weights are i8 from choose_params over
[min(w), max(w)] (asymmetric, as in the worked example); per-channel weights
are symmetric: choose_params over [-max|w_c|, max|w_c|] with qmin = -127,
qmax = 127, which gives zero point 0 (onnxruntime's symmetric int8 range).
Biases follow onnxruntime's QDQ convention: i32 codes round(b / (sx * sw))
with sx * sw the f32 product, stored with type !quant.uniform<i32:f32, sx*sw>.

The expected outputs come from a small numpy interpreter (`Graph.run`) that
evaluates the very statements written to the graph files, following
docs/semantics.md: float ops in f32, and dense / conv2d / global_avgpool /
softmax sums accumulated one f32 addition at a time in the documented order.
They are still approximate references: numpy's f32 `exp` need not be
bit-identical to Rust's `f32::exp`, and an implementation that sums in a
different order (as a plain numpy float32 matmul would) can differ in the last
bits and, rarely, flip a quantization code downstream.  Compare with a small
tolerance.
"""

import os
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

STORAGE = {
    "i8": (-128, 127, np.int8),
    "u8": (0, 255, np.uint8),
    "i32": (-(2**31), 2**31 - 1, np.int32),
}


# ---------------------------------------------------------------------------
# Numbers and quantization helpers (docs/semantics.md)
# ---------------------------------------------------------------------------

def fmt_f32(v):
    """Shortest text that parses back to the same f32 (always with a '.')."""
    v = np.float32(v)
    assert np.isfinite(v)
    return np.format_float_positional(v, unique=True, trim="0")


def choose_params(mn, mx, qmin, qmax):
    """quant::choose_params: reals in [mn, mx] -> (f32 scale, zero point)."""
    rmin = min(float(np.float32(mn)), 0.0)
    rmax = max(float(np.float32(mx)), 0.0)
    if rmin == rmax:
        return np.float32(1.0), int(min(max(0, qmin), qmax))
    scale = np.float32((rmax - rmin) / (qmax - qmin))
    zp = int(np.rint(qmin - rmin / float(scale)))
    return scale, int(min(max(zp, qmin), qmax))


class QType:
    """!quant.uniform<storage:f32[:axis], params>."""

    def __init__(self, storage, scales, zps, axis=None):
        self.storage = storage
        self.scales = np.atleast_1d(np.asarray(scales, dtype=np.float32))
        self.zps = np.atleast_1d(np.asarray(zps, dtype=np.int64))
        self.axis = axis
        lo, hi, _ = STORAGE[storage]
        assert len(self.scales) == len(self.zps)
        assert axis is not None or len(self.scales) == 1
        assert np.all(np.isfinite(self.scales)) and np.all(self.scales > 0)
        assert np.all((self.zps >= lo) & (self.zps <= hi))

    @property
    def lo(self):
        return STORAGE[self.storage][0]

    @property
    def hi(self):
        return STORAGE[self.storage][1]

    def key(self):
        return (self.storage, self.axis, self.scales.tobytes(), self.zps.tobytes())

    def _param(self, s, z):
        # Zero points of i32 (bias) types are 0 and left to their default.
        if self.storage == "i32" and z == 0:
            return fmt_f32(s)
        return f"{fmt_f32(s)}:{int(z)}"

    def text(self, per_line=4, indent="    "):
        params = [self._param(s, z) for s, z in zip(self.scales, self.zps)]
        if self.axis is None:
            return f"!quant.uniform<{self.storage}:f32, {params[0]}>"
        if len(params) <= per_line:
            body = ", ".join(params)
            return f"!quant.uniform<{self.storage}:f32:{self.axis}, {{{body}}}>"
        rows = [", ".join(params[i:i + per_line]) for i in range(0, len(params), per_line)]
        body = (",\n" + indent).join(rows)
        return f"!quant.uniform<{self.storage}:f32:{self.axis}, {{\n{indent}{body}}}>"

    def _bcast(self, arr, rank):
        if self.axis is None:
            return arr[0]
        shape = [1] * rank
        shape[self.axis] = len(arr)
        return arr.reshape(shape)

    def quantize(self, x):
        x = np.asarray(x, dtype=np.float32)
        s = self._bcast(self.scales, x.ndim)
        z = self._bcast(self.zps, x.ndim)
        r = np.rint(x / s)  # one f32 division, ties to even
        r = np.clip(r, -(2.0**40), 2.0**40).astype(np.int64)
        return np.clip(r + z, self.lo, self.hi).astype(np.int64)

    def dequantize(self, q):
        q = np.asarray(q, dtype=np.int64)
        s = self._bcast(self.scales, q.ndim)
        z = self._bcast(self.zps, q.ndim)
        return (q - z).astype(np.float32) * s


def act_type(mn, mx, storage="u8"):
    lo, hi, _ = STORAGE[storage]
    s, z = choose_params(mn, mx, lo, hi)
    return QType(storage, s, z)


def weight_per_tensor(w):
    """Asymmetric per-tensor i8 from choose_params over [min(w), max(w)]."""
    s, z = choose_params(w.min(), w.max(), -128, 127)
    return QType("i8", s, z)


def weight_per_channel(w, axis=0):
    """Symmetric per-channel i8 (zero point 0), range [-127, 127]."""
    other = tuple(i for i in range(w.ndim) if i != axis)
    absmax = np.abs(w).max(axis=other)
    scales, zps = [], []
    for a in absmax:
        s, z = choose_params(-a, a, -127, 127)
        assert z == 0, (a, s, z)
        scales.append(s)
        zps.append(z)
    return QType("i8", scales, zps, axis=axis)


def bias_type(sx, wt):
    """onnxruntime's QDQ bias scale: the f32 product sx * sw (per channel)."""
    prod = np.float32(sx) * wt.scales  # f32 * f32 -> f32
    return QType("i32", prod, np.zeros(len(prod)), axis=None if wt.axis is None else 0)


def quantize_bias(b, bt):
    b = np.asarray(b, dtype=np.float32)
    s = bt.scales if bt.axis is not None else bt.scales[0]
    r = np.rint(b / s).astype(np.float64)  # f32 division, as onnxruntime's numpy code
    return np.clip(r, bt.lo, bt.hi).astype(np.int64)


# ---------------------------------------------------------------------------
# Reference float ops, summing in the order semantics.md prescribes
# ---------------------------------------------------------------------------

F32 = np.float32


def ref_dense(x, w, b=None):
    M, K = x.shape
    N = w.shape[0]
    acc = np.zeros((M, N), F32)
    for k in range(K):
        acc = acc + x[:, k:k + 1] * w[None, :, k]
    if b is not None:
        acc = acc + b[None, :]
    return acc


def ref_conv2d(x, w, b, strides, pads, dilations, groups):
    assert groups == 1 and tuple(dilations) == (1, 1)
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    sh, sw = strides
    pt, pl, pb, pr = pads
    OH = (H + pt + pb - (KH - 1) - 1) // sh + 1
    OW = (W + pl + pr - (KW - 1) - 1) // sw + 1
    xp = np.zeros((N, C, H + pt + pb, W + pl + pr), F32)
    xp[:, :, pt:pt + H, pl:pl + W] = x
    acc = np.zeros((N, O, OH, OW), F32)
    for c in range(C):
        for kh in range(KH):
            for kw in range(KW):
                patch = xp[:, c, kh:kh + (OH - 1) * sh + 1:sh, kw:kw + (OW - 1) * sw + 1:sw]
                acc = acc + patch[:, None, :, :] * w[None, :, c, kh, kw, None, None]
    if b is not None:
        acc = acc + b[None, :, None, None]
    return acc


def ref_maxpool2d(x, kernel, strides, pads):
    assert tuple(pads) == (0, 0, 0, 0)
    N, C, H, W = x.shape
    kh, kw = kernel
    sh, sw = strides
    OH = (H - kh) // sh + 1
    OW = (W - kw) // sw + 1
    out = None
    for i in range(kh):
        for j in range(kw):
            v = x[:, :, i:i + (OH - 1) * sh + 1:sh, j:j + (OW - 1) * sw + 1:sw]
            out = v if out is None else np.maximum(out, v)
    return out


def ref_global_avgpool(x):
    N, C, H, W = x.shape
    acc = np.zeros((N, C), F32)
    for i in range(H):
        for j in range(W):
            acc = acc + x[:, :, i, j]
    return (acc / F32(H * W)).reshape(N, C, 1, 1)


def ref_softmax(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp((x - m).astype(F32)).astype(F32)
    e_m = np.moveaxis(e, axis, 0)
    s = np.zeros(e_m.shape[1:], F32)
    for i in range(e_m.shape[0]):
        s = s + e_m[i]
    return (e / np.expand_dims(s, axis)).astype(F32)


# ---------------------------------------------------------------------------
# A tiny graph builder: writes the text format and evaluates the same
# statements with the reference ops above.
# ---------------------------------------------------------------------------

ATTR_ORDER = ["kernel", "strides", "pads", "dilations", "groups",
              "count_include_pad", "mode", "min", "max", "axis", "perm"]


def fmt_attr(v):
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(str(int(i)) for i in v) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return fmt_f32(v)
    return str(v)


class Graph:
    def __init__(self, name, data_dir):
        self.name = name
        self.data_dir = data_dir  # relative to examples/, holds the .npy constants
        self.aliases = []  # (name, QType)
        self.inputs = []  # (name, shape)
        self.stmts = []  # dicts
        self.types = {}  # value -> (shape, elem)
        self.outputs = []  # (out_name, value)
        self.consts = {}

    # -- types --
    def alias(self, name, qt):
        assert not name.startswith("!quant")
        assert all(n != name for n, _ in self.aliases)
        self.aliases.append((name, qt))
        return qt

    def elem_text(self, elem):
        if isinstance(elem, str):
            return elem
        for n, qt in self.aliases:
            if qt.key() == elem.key():
                return n
        assert elem.axis is None, "per-axis types get an alias"
        return elem.text()

    def type_text(self, shape, elem):
        dims = "".join(f"{d}x" for d in shape)
        return f"tensor<{dims}{self.elem_text(elem)}>"

    def _define(self, name, shape, elem):
        assert name not in self.types, f"duplicate value {name}"
        assert all(isinstance(d, int) and d >= 1 for d in shape)
        if isinstance(elem, QType) and elem.axis is not None:
            assert elem.axis < len(shape) and len(elem.scales) == shape[elem.axis]
        self.types[name] = (tuple(shape), elem)

    # -- statements --
    def input(self, name, shape):
        self._define(name, shape, "f32")
        self.inputs.append((name, tuple(shape)))
        return name

    def const_file(self, name, fname, data, elem):
        """A constant stored as <data_dir>/<fname> in its storage dtype."""
        shape = data.shape
        self._define(name, shape, elem)
        storage = "f32" if elem == "f32" else elem.storage
        if storage == "f32":
            arr = np.asarray(data, dtype=np.float32)
        else:
            lo, hi, dt = STORAGE[storage]
            assert data.min() >= lo and data.max() <= hi
            arr = np.asarray(data).astype(dt)
        rel = f"{self.data_dir}/{fname}"
        write_npy(rel, arr)
        self.consts[name] = np.asarray(data)
        self.stmts.append(dict(name=name, op="const", file=rel, data=arr))
        return name

    def const_inline(self, name, data, elem, splat=False):
        data = np.asarray(data)
        self._define(name, data.shape, elem)
        if elem == "f32":
            nums = [fmt_f32(v) for v in data.reshape(-1)]
        else:
            lo, hi, _ = STORAGE[elem.storage]
            assert data.min() >= lo and data.max() <= hi
            nums = [str(int(v)) for v in data.reshape(-1)]
        if splat:
            assert len(set(nums)) == 1
            body = nums[0]
        else:
            body = "[" + ", ".join(nums) + "]"
        self.consts[name] = data
        self.stmts.append(dict(name=name, op="const", inline=body, data=data))
        return name

    def op(self, name, op, operands, elem="f32", **attrs):
        shapes = [self.types[o][0] for o in operands]
        elems = [self.types[o][1] for o in operands]
        shape = self._infer(op, shapes, elems, elem, attrs)
        self._define(name, shape, elem)
        self.stmts.append(dict(name=name, op=op, operands=list(operands), attrs=attrs))
        return name

    def _infer(self, op, shapes, elems, elem, attrs):
        isq = lambda e: isinstance(e, QType)
        if op == "quantize":
            assert elems[0] == "f32" and isq(elem)
            return shapes[0]
        if op == "dequantize":
            assert isq(elems[0]) and elem == "f32"
            return shapes[0]
        assert all(e == "f32" for e in elems) and elem == "f32", op
        if op in ("relu", "softmax"):
            return shapes[0]
        if op == "dense":
            (M, K), (N, K2) = shapes[0], shapes[1]
            assert K == K2 and (len(shapes) < 3 or shapes[2] == (N,))
            return (M, N)
        if op == "conv2d":
            (N, C, H, W), (O, C2, KH, KW) = shapes[0], shapes[1]
            assert C == C2 and (len(shapes) < 3 or shapes[2] == (O,))
            sh, sw = attrs.get("strides", [1, 1])
            pt, pl, pb, pr = attrs.get("pads", [0, 0, 0, 0])
            return (N, O, (H + pt + pb - KH) // sh + 1, (W + pl + pr - KW) // sw + 1)
        if op == "maxpool2d":
            N, C, H, W = shapes[0]
            kh, kw = attrs["kernel"]
            sh, sw = attrs.get("strides", [1, 1])
            return (N, C, (H - kh) // sh + 1, (W - kw) // sw + 1)
        if op == "global_avgpool":
            N, C, _, _ = shapes[0]
            return (N, C, 1, 1)
        if op == "flatten":
            a = attrs.get("axis", 1)
            s = shapes[0]
            return (int(np.prod(s[:a])), int(np.prod(s[a:])))
        if op in ("add", "mul"):
            return tuple(np.broadcast_shapes(shapes[0], shapes[1]))
        raise ValueError(op)

    def ret(self, *outs):
        """outs: (output name, value) pairs."""
        for out, val in outs:
            assert out not in self.types and all(out != o for o, _ in self.outputs)
        self.outputs = list(outs)

    # -- text --
    def text(self, header):
        lines = ["// " + l if l else "//" for l in header.strip("\n").split("\n")]
        lines.append("")
        if self.aliases:
            w = max(len(n) for n, _ in self.aliases)
            for n, qt in self.aliases:
                lines.append(f"{n.ljust(w)} = {qt.text()}")
            lines.append("")
        ins = ", ".join(f"{n}: {self.type_text(*self.types[n])}" for n, _ in self.inputs)
        outs = ", ".join(f"{o}: {self.type_text(*self.types[v])}" for o, v in self.outputs)
        lines.append(f"graph @{self.name}({ins}) -> ({outs}) {{")
        w = max(len(s["name"]) for s in self.stmts)
        for s in self.stmts:
            n = s["name"].ljust(w)
            ty = self.type_text(*self.types[s["name"]])
            if s["op"] == "const":
                if "file" in s:
                    data = f'dense_file<"{rel_to_graph(s["file"])}">'
                else:
                    data = f"dense<{s['inline']}>"
                lines.append(f"  {n} = const {data} : {ty}")
                continue
            attrs = ""
            if s["attrs"]:
                items = sorted(s["attrs"].items(), key=lambda kv: ATTR_ORDER.index(kv[0]))
                attrs = " {" + ", ".join(f"{k} = {fmt_attr(v)}" for k, v in items) + "}"
            lines.append(f"  {n} = {s['op']} {', '.join(s['operands'])}{attrs} : {ty}")
        lines.append("  return " + ", ".join(v for _, v in self.outputs))
        lines.append("}")
        return "\n".join(lines) + "\n"

    # -- reference evaluation --
    def run(self, feeds):
        """feeds: input name -> f32 array. The leading (batch) dimension may
        differ from the declared one: every op here treats rows independently."""
        env = {}
        for n, _ in self.inputs:
            env[n] = np.asarray(feeds[n], dtype=np.float32)
        for s in self.stmts:
            n, op = s["name"], s["op"]
            elem = self.types[n][1]
            if op == "const":
                d = s["data"]
                env[n] = d.astype(np.float32) if elem == "f32" else d.astype(np.int64)
                continue
            a = [env[o] for o in s["operands"]]
            at = s["attrs"]
            if op == "quantize":
                r = elem.quantize(a[0])
            elif op == "dequantize":
                r = self.types[s["operands"][0]][1].dequantize(a[0])
            elif op == "relu":
                r = np.maximum(a[0], F32(0)) + F32(0)  # +0.0 for -0.0
            elif op == "add":
                r = a[0] + a[1]
            elif op == "mul":
                r = a[0] * a[1]
            elif op == "dense":
                r = ref_dense(a[0], a[1], a[2] if len(a) > 2 else None)
            elif op == "conv2d":
                r = ref_conv2d(a[0], a[1], a[2] if len(a) > 2 else None,
                               at.get("strides", [1, 1]), at.get("pads", [0, 0, 0, 0]),
                               at.get("dilations", [1, 1]), at.get("groups", 1))
            elif op == "maxpool2d":
                r = ref_maxpool2d(a[0], at["kernel"], at.get("strides", [1, 1]),
                                  at.get("pads", [0, 0, 0, 0]))
            elif op == "global_avgpool":
                r = ref_global_avgpool(a[0])
            elif op == "flatten":
                ax = at.get("axis", 1)
                r = a[0].reshape(int(np.prod(a[0].shape[:ax])), -1)
            elif op == "softmax":
                r = ref_softmax(a[0], at["axis"])
            else:
                raise ValueError(op)
            if elem == "f32":
                assert r.dtype == np.float32, (op, r.dtype)
            env[n] = r
        return {o: env[v] for o, v in self.outputs}


def rel_to_graph(rel):
    # Graph files live directly in examples/, so a path relative to examples/
    # is also relative to the graph file's folder.
    return rel


def write_npy(rel, arr):
    path = os.path.join(HERE, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, arr, allow_pickle=False)


def write_text(rel, text):
    with open(os.path.join(HERE, rel), "w") as f:
        f.write(text)


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------

def load_data():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    X = (d.data / 16.0).astype(np.float32)  # [1797, 64] in [0, 1]
    y = d.target.astype(np.int64)
    idx = np.arange(len(y))
    itr, ite = train_test_split(idx, test_size=0.2, random_state=0, stratify=y)
    itr, ite = np.sort(itr), np.sort(ite)
    return X, y, itr, ite


def pick_samples(y, ite):
    """The first held-out image of each class: list of (label, dataset index)."""
    out = []
    for c in range(10):
        i = int(ite[np.nonzero(y[ite] == c)[0][0]])
        out.append((c, i))
    return out


# ---------------------------------------------------------------------------
# 1. Worked example
# ---------------------------------------------------------------------------

def make_worked_example():
    x = np.array([-1.2, -0.5, 0.0, 0.4, 0.8], dtype=np.float32)
    s, z = choose_params(x.min(), x.max(), -128, 127)
    assert s == np.float32(2.0 / 255) and z == 25
    qt = QType("i8", s, z)
    g = Graph("worked_example", "worked_example")
    g.input("%x", [5])
    g.op("%xq", "quantize", ["%x"], qt)
    g.op("%xdq", "dequantize", ["%xq"])
    g.const_inline("%minus_one", np.array([-1.0], np.float32), "f32", splat=True)
    g.op("%negx", "mul", ["%x", "%minus_one"])
    g.op("%e", "add", ["%xdq", "%negx"])
    g.ret(("%q", "%xq"), ("%dq", "%xdq"), ("%err", "%e"))
    res = g.run({"%x": x})
    codes = res["%q"]
    assert list(codes) == [-128, -39, 25, 76, 127], codes
    assert np.all(np.abs(res["%err"]) <= s / 2 * (1 + 1e-6))
    write_npy("worked_example/x.npy", x)
    write_npy("worked_example/expected_q.npy", codes.astype(np.int8))
    write_npy("worked_example/expected_dq.npy", res["%dq"])
    write_npy("worked_example/expected_err.npy", res["%err"])
    S = fmt_f32(s)
    header = f"""\
Worked example from docs/semantics.md ("Choosing parameters from a range").
Generated by examples/make_examples.py; input in worked_example/x.npy.

Reals in [-1.2, 0.8] stored as signed int8 (qmin = -128, qmax = 127):
  scale      = f32((0.8 - (-1.2)) / (127 - (-128))) = f32(2.0 / 255) = {S}
  zero_point = round_half_even(-128 - (-1.2) / scale) = round(-128 + 153) = 25
quantize(x)   = saturate(round_half_even(x / scale) + 25, -128, 127)
dequantize(q) = f32(q - 25) * scale
  x       : -1.2   -0.5        0.0   0.4         0.8
  x/scale : -153   -63.749996  0     50.999996   101.99999
  q       : -128   -39         25    76          127
Outputs: %q (the codes), %dq (dequantized), %err = %dq - %x, computed as
%dq + (%x * -1.0) since there is no sub op. Expected values are in
worked_example/expected_{{q,dq,err}}.npy; |err| <= scale / 2 for every value."""
    write_text("worked_example.txt", g.text(header))
    return dict(codes=codes, dq=res["%dq"], err=res["%err"], scale=S)


# ---------------------------------------------------------------------------
# 2./3. Digits MLP
# ---------------------------------------------------------------------------

def train_mlp(X, y, itr):
    from sklearn.neural_network import MLPClassifier
    from sklearn.exceptions import ConvergenceWarning
    clf = MLPClassifier(hidden_layer_sizes=(32,), activation="relu", solver="adam",
                        alpha=1e-4, batch_size=64, learning_rate_init=1e-3,
                        max_iter=300, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X[itr], y[itr])
    w1 = clf.coefs_[0].T.astype(np.float32)  # [32, 64]  (dense: w is [N, K])
    b1 = clf.intercepts_[0].astype(np.float32)
    w2 = clf.coefs_[1].T.astype(np.float32)  # [10, 32]
    b2 = clf.intercepts_[1].astype(np.float32)
    return w1, b1, w2, b2


def mlp_float(X, w1, b1, w2, b2):
    h = X @ w1.T + b1
    r = np.maximum(h, 0)
    logits = r @ w2.T + b2
    return h, r, logits


def build_mlp(name, X, itr, params, per_channel):
    w1, b1, w2, b2 = params
    h, r, logits = mlp_float(X[itr], w1, b1, w2, b2)
    a0 = act_type(X[itr].min(), X[itr].max())
    a1 = act_type(h.min(), h.max())
    a2 = act_type(r.min(), r.max())
    a3 = act_type(logits.min(), logits.max())
    if per_channel:
        qw1, qw2 = weight_per_channel(w1), weight_per_channel(w2)
    else:
        qw1, qw2 = weight_per_tensor(w1), weight_per_tensor(w2)
    qb1, qb2 = bias_type(a0.scales[0], qw1), bias_type(a2.scales[0], qw2)

    g = Graph(name, name)
    g.alias("!act0", a0)
    g.alias("!act1", a1)
    g.alias("!act2", a2)
    g.alias("!act3", a3)
    g.alias("!w1", qw1)
    g.alias("!b1", qb1)
    g.alias("!w2", qw2)
    g.alias("!b2", qb2)
    g.input("%x", [1, 64])
    g.op("%xq", "quantize", ["%x"], a0)
    g.op("%xd", "dequantize", ["%xq"])
    g.const_file("%w1", "w1.npy", qw1.quantize(w1), qw1)
    g.op("%w1d", "dequantize", ["%w1"])
    g.const_file("%b1", "b1.npy", quantize_bias(b1, qb1), qb1)
    g.op("%b1d", "dequantize", ["%b1"])
    g.op("%h1", "dense", ["%xd", "%w1d", "%b1d"])
    g.op("%h1q", "quantize", ["%h1"], a1)
    g.op("%h1d", "dequantize", ["%h1q"])
    g.op("%r1", "relu", ["%h1d"])
    g.op("%r1q", "quantize", ["%r1"], a2)
    g.op("%r1d", "dequantize", ["%r1q"])
    g.const_file("%w2", "w2.npy", qw2.quantize(w2), qw2)
    g.op("%w2d", "dequantize", ["%w2"])
    g.const_file("%b2", "b2.npy", quantize_bias(b2, qb2), qb2)
    g.op("%b2d", "dequantize", ["%b2"])
    g.op("%h2", "dense", ["%r1d", "%w2d", "%b2d"])
    g.op("%h2q", "quantize", ["%h2"], a3)
    g.op("%h2d", "dequantize", ["%h2q"])
    g.op("%p", "softmax", ["%h2d"], axis=1)
    g.ret(("%probs", "%p"))
    ranges = dict(act0=(X[itr].min(), X[itr].max()), act1=(h.min(), h.max()),
                  act2=(r.min(), r.max()), act3=(logits.min(), logits.max()))
    return g, ranges


# ---------------------------------------------------------------------------
# 4. Digits CNN (trained by hand with numpy)
# ---------------------------------------------------------------------------

def im2col(x, k=3, pad=1):
    """x [B, C, H, W] -> cols [B, H*W, C*k*k] (stride 1, 'same' padding)."""
    B, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((B, C, k, k, H, W), x.dtype)
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = xp[:, :, i:i + H, j:j + W]
    return cols.reshape(B, C * k * k, H * W).transpose(0, 2, 1)


def col2im(dcols, shape, k=3, pad=1):
    B, C, H, W = shape
    d = dcols.transpose(0, 2, 1).reshape(B, C, k, k, H, W)
    dxp = np.zeros((B, C, H + 2 * pad, W + 2 * pad), dcols.dtype)
    for i in range(k):
        for j in range(k):
            dxp[:, :, i:i + H, j:j + W] += d[:, :, i, j]
    return dxp[:, :, pad:pad + H, pad:pad + W]


def cnn_forward(p, x, cache=False):
    B = x.shape[0]
    c1 = im2col(x)                                   # [B, 64, 9]
    z1 = c1 @ p["w1"].reshape(8, -1).T + p["b1"]     # [B, 64, 8]
    z1 = z1.transpose(0, 2, 1).reshape(B, 8, 8, 8)
    r1 = np.maximum(z1, 0)
    r1w = r1.reshape(B, 8, 4, 2, 4, 2)
    m1 = r1w.max(axis=(3, 5))                        # [B, 8, 4, 4]
    c2 = im2col(m1)                                  # [B, 16, 72]
    z2 = c2 @ p["w2"].reshape(16, -1).T + p["b2"]    # [B, 16, 16]
    z2 = z2.transpose(0, 2, 1).reshape(B, 16, 4, 4)
    r2 = np.maximum(z2, 0)
    g = r2.mean(axis=(2, 3))                         # [B, 16]
    logits = g @ p["w3"].T + p["b3"]
    if not cache:
        return dict(z1=z1, r1=r1, m1=m1, z2=z2, r2=r2, g=g, logits=logits)
    return logits, (x, c1, z1, r1, r1w, m1, c2, z2, r2, g)


def cnn_backward(p, cache, dlogits):
    x, c1, z1, r1, r1w, m1, c2, z2, r2, g = cache
    B = x.shape[0]
    grads = {}
    grads["w3"] = dlogits.T @ g
    grads["b3"] = dlogits.sum(0)
    dg = dlogits @ p["w3"]
    dr2 = np.broadcast_to(dg[:, :, None, None] / 16.0, r2.shape)
    dz2 = dr2 * (z2 > 0)
    dz2f = dz2.reshape(B, 16, 16).transpose(0, 2, 1)         # [B, 16pos, 16ch]
    grads["w2"] = np.einsum("bpo,bpk->ok", dz2f, c2).reshape(p["w2"].shape)
    grads["b2"] = dz2f.sum((0, 1))
    dc2 = dz2f @ p["w2"].reshape(16, -1)                     # [B, 16, 72]
    dm1 = col2im(dc2, m1.shape)
    mask = (r1w == m1[:, :, :, None, :, None])
    # route each window's gradient to its first maximum
    m = mask.transpose(0, 1, 2, 4, 3, 5).reshape(B, 8, 4, 4, 4)
    pick = np.argmax(m, axis=-1)
    onehot = np.eye(4, dtype=bool)[pick]                      # [B, 8, 4, 4, 4]
    onehot = onehot.reshape(B, 8, 4, 4, 2, 2).transpose(0, 1, 2, 4, 3, 5)
    dr1 = (onehot * dm1[:, :, :, None, :, None]).reshape(r1.shape)
    dz1 = dr1 * (z1 > 0)
    dz1f = dz1.reshape(B, 8, 64).transpose(0, 2, 1)
    grads["w1"] = np.einsum("bpo,bpk->ok", dz1f, c1).reshape(p["w1"].shape)
    grads["b1"] = dz1f.sum((0, 1))
    return grads


CNN_EPOCHS = 100
CNN_LR = 1e-2


def train_cnn(X, y, itr, epochs=CNN_EPOCHS, lr=CNN_LR, seed=0):
    rng = np.random.default_rng(seed)
    he = lambda shape, fan_in: rng.normal(0, np.sqrt(2.0 / fan_in), shape)
    p = dict(w1=he((8, 1, 3, 3), 9), b1=np.zeros(8),
             w2=he((16, 8, 3, 3), 72), b2=np.zeros(16),
             w3=he((10, 16), 16) * 0.5, b3=np.zeros(10))
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(v) for k, v in p.items()}
    Xtr = X[itr].reshape(-1, 1, 8, 8).astype(np.float64)
    ytr = y[itr]
    b1_, b2_, eps, wd, bs = 0.9, 0.999, 1e-8, 1e-4, 32
    t = 0
    for ep in range(epochs):
        order = rng.permutation(len(ytr))
        lr_ep = lr * (0.5 * (1 + np.cos(np.pi * ep / epochs)))  # cosine decay
        for s in range(0, len(order), bs):
            bi = order[s:s + bs]
            logits, cache = cnn_forward(p, Xtr[bi], cache=True)
            z = logits - logits.max(1, keepdims=True)
            pr = np.exp(z)
            pr /= pr.sum(1, keepdims=True)
            pr[np.arange(len(bi)), ytr[bi]] -= 1
            grads = cnn_backward(p, cache, pr / len(bi))
            t += 1
            for k in p:
                gk = grads[k] + (wd * p[k] if k.startswith("w") else 0)
                m[k] = b1_ * m[k] + (1 - b1_) * gk
                v[k] = b2_ * v[k] + (1 - b2_) * gk * gk
                mh = m[k] / (1 - b1_ ** t)
                vh = v[k] / (1 - b2_ ** t)
                p[k] = p[k] - lr_ep * mh / (np.sqrt(vh) + eps)
    return {k: val.astype(np.float32) for k, val in p.items()}


def build_cnn(X, itr, p):
    Xtr = X[itr].reshape(-1, 1, 8, 8)
    f = cnn_forward({k: v.astype(np.float32) for k, v in p.items()}, Xtr)
    a0 = act_type(Xtr.min(), Xtr.max())
    a1 = act_type(f["z1"].min(), f["z1"].max())
    a2 = act_type(f["r1"].min(), f["r1"].max())
    a3 = act_type(f["z2"].min(), f["z2"].max())
    a4 = act_type(f["r2"].min(), f["r2"].max())
    a5 = act_type(f["g"].min(), f["g"].max())
    a6 = act_type(f["logits"].min(), f["logits"].max())
    qw1 = weight_per_channel(p["w1"])
    qw2 = weight_per_channel(p["w2"])
    qw3 = weight_per_channel(p["w3"])
    qb1 = bias_type(a0.scales[0], qw1)
    qb2 = bias_type(a2.scales[0], qw2)
    qb3 = bias_type(a5.scales[0], qw3)

    g = Graph("digits_cnn", "digits_cnn")
    for n, t in [("!act0", a0), ("!act1", a1), ("!act2", a2), ("!act3", a3),
                 ("!act4", a4), ("!act5", a5), ("!act6", a6),
                 ("!w1", qw1), ("!b1", qb1), ("!w2", qw2), ("!b2", qb2),
                 ("!w3", qw3), ("!b3", qb3)]:
        g.alias(n, t)
    g.input("%x", [1, 1, 8, 8])
    g.op("%xq", "quantize", ["%x"], a0)
    g.op("%xd", "dequantize", ["%xq"])
    g.const_file("%w1", "w1.npy", qw1.quantize(p["w1"]), qw1)
    g.op("%w1d", "dequantize", ["%w1"])
    g.const_file("%b1", "b1.npy", quantize_bias(p["b1"], qb1), qb1)
    g.op("%b1d", "dequantize", ["%b1"])
    g.op("%c1", "conv2d", ["%xd", "%w1d", "%b1d"], pads=[1, 1, 1, 1])
    g.op("%c1q", "quantize", ["%c1"], a1)
    g.op("%c1d", "dequantize", ["%c1q"])
    g.op("%r1", "relu", ["%c1d"])
    g.op("%r1q", "quantize", ["%r1"], a2)
    g.op("%r1d", "dequantize", ["%r1q"])
    g.op("%p1", "maxpool2d", ["%r1d"], kernel=[2, 2], strides=[2, 2])
    g.op("%p1q", "quantize", ["%p1"], a2)  # same params as its input: exact
    g.op("%p1d", "dequantize", ["%p1q"])
    g.const_file("%w2", "w2.npy", qw2.quantize(p["w2"]), qw2)
    g.op("%w2d", "dequantize", ["%w2"])
    g.const_file("%b2", "b2.npy", quantize_bias(p["b2"], qb2), qb2)
    g.op("%b2d", "dequantize", ["%b2"])
    g.op("%c2", "conv2d", ["%p1d", "%w2d", "%b2d"], pads=[1, 1, 1, 1])
    g.op("%c2q", "quantize", ["%c2"], a3)
    g.op("%c2d", "dequantize", ["%c2q"])
    g.op("%r2", "relu", ["%c2d"])
    g.op("%r2q", "quantize", ["%r2"], a4)
    g.op("%r2d", "dequantize", ["%r2q"])
    g.op("%gap", "global_avgpool", ["%r2d"])
    g.op("%gapq", "quantize", ["%gap"], a5)
    g.op("%gapd", "dequantize", ["%gapq"])
    g.op("%flat", "flatten", ["%gapd"])
    g.const_file("%w3", "w3.npy", qw3.quantize(p["w3"]), qw3)
    g.op("%w3d", "dequantize", ["%w3"])
    g.const_file("%b3", "b3.npy", quantize_bias(p["b3"], qb3), qb3)
    g.op("%b3d", "dequantize", ["%b3"])
    g.op("%logits", "dense", ["%flat", "%w3d", "%b3d"])
    g.op("%lq", "quantize", ["%logits"], a6)
    g.op("%ld", "dequantize", ["%lq"])
    g.op("%p", "softmax", ["%ld"], axis=1)
    g.ret(("%probs", "%p"))
    return g


# ---------------------------------------------------------------------------
# 5. Residual block
# ---------------------------------------------------------------------------

def make_residual():
    rng = np.random.default_rng(1234)
    w = (rng.normal(0, 0.25, (4, 4, 3, 3))).astype(np.float32)
    b = (rng.normal(0, 0.1, 4)).astype(np.float32)
    calib = rng.normal(0, 1, (64, 4, 6, 6)).astype(np.float32)
    x = rng.normal(0, 1, (1, 4, 6, 6)).astype(np.float32)

    # Float model on the calibration inputs (ranges for the activations).
    def conv(v):
        return ref_conv2d(v, w, b, [1, 1], [1, 1, 1, 1], [1, 1], 1)
    c = conv(calib)
    r = np.maximum(c, 0)
    s = calib + r
    a_in = act_type(calib.min(), calib.max(), "i8")
    a_c = act_type(c.min(), c.max(), "u8")
    a_r = act_type(r.min(), r.max(), "u8")
    a_out = act_type(s.min(), s.max(), "i8")
    qw = weight_per_channel(w)
    qb = bias_type(a_in.scales[0], qw)

    g = Graph("residual", "residual")
    for n, t in [("!in", a_in), ("!conv", a_c), ("!relu", a_r), ("!out", a_out),
                 ("!w", qw), ("!b", qb)]:
        g.alias(n, t)
    g.input("%x", [1, 4, 6, 6])
    g.op("%xq", "quantize", ["%x"], a_in)
    g.op("%xd", "dequantize", ["%xq"])
    g.const_file("%w", "w.npy", qw.quantize(w), qw)
    g.op("%wd", "dequantize", ["%w"])
    g.const_inline("%b", quantize_bias(b, qb), qb)  # 4 codes: written inline
    g.op("%bd", "dequantize", ["%b"])
    g.op("%c", "conv2d", ["%xd", "%wd", "%bd"], pads=[1, 1, 1, 1])
    g.op("%cq", "quantize", ["%c"], a_c)
    g.op("%cd", "dequantize", ["%cq"])
    g.op("%r", "relu", ["%cd"])
    g.op("%rq", "quantize", ["%r"], a_r)
    g.op("%rd", "dequantize", ["%rq"])
    g.op("%s", "add", ["%xd", "%rd"])
    g.op("%sq", "quantize", ["%s"], a_out)
    g.op("%sd", "dequantize", ["%sq"])
    g.ret(("%y", "%sd"))

    res = g.run({"%x": x})
    write_npy("residual/x.npy", x)
    write_npy("residual/expected_y.npy", res["%y"])
    # float (unquantized) block on the same input, for comparison
    yf = x + np.maximum(conv(x), 0)
    err = float(np.abs(res["%y"] - yf).max())
    header = f"""\
A residual block in QDQ form: y = x + relu(conv3x3(x)), 4 -> 4 channels.
Generated by examples/make_examples.py. The weights are NOT trained: they
are fixed pseudo-random values (numpy default_rng(1234), N(0, 0.25) weights,
N(0, 0.1) biases); activation ranges were calibrated on 64 N(0, 1) inputs
from the same generator.
The add joins two tensors of different quantization: the block input
(!in, i8) and the relu branch (!relu, u8), both dequantized to f32, added in
f32, then quantized to a third type (!out, i8). The conv weights are
per-channel (axis 0 of OIHW, symmetric, zero point 0); the bias codes are
i32 with per-channel scales s_in * s_w[o] and are written inline.
Sample input residual/x.npy; reference output residual/expected_y.npy
(max |quantized - float| on it: {err:.4f})."""
    write_text("residual.txt", g.text(header))
    return dict(err=err, scales=(a_in, a_r, a_out))


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

def accuracy(pred, y):
    return float(np.mean(pred == y))


def main():
    t0 = time.time()
    os.chdir(HERE)
    X, y, itr, ite = load_data()
    samples = pick_samples(y, ite)

    # -- sample inputs --
    names = []
    for c, i in samples:
        write_npy(f"digits/digit_{c}_{i}.npy", X[i].reshape(1, 64))
        write_npy(f"digits/cnn_digit_{c}_{i}.npy", X[i].reshape(1, 1, 8, 8))
        names.append(f"digit_{c}_{i}")
    sx = np.stack([X[i] for _, i in samples]).astype(np.float32)  # [10, 64]
    write_npy("digits/samples_x.npy", sx)
    write_npy("digits/samples_y.npy", np.array([c for c, _ in samples], np.int32))
    write_npy("digits/test_x.npy", X[ite])
    write_npy("digits/test_y.npy", y[ite].astype(np.int32))
    write_text("digits/samples.txt", "\n".join(names) + "\n")

    info = {}
    info["worked"] = make_worked_example()

    # -- MLPs --
    params = train_mlp(X, y, itr)
    _, _, lf = mlp_float(X[ite], *params)
    mlp_float_acc = accuracy(lf.argmax(1), y[ite])
    for name, per_channel in [("digits_mlp", False), ("digits_mlp_per_channel", True)]:
        g, ranges = build_mlp(name, X, itr, params, per_channel)
        q_test = g.run({"%x": X[ite]})["%probs"]
        q_acc = accuracy(q_test.argmax(1), y[ite])
        agree = accuracy(q_test.argmax(1), lf.argmax(1))
        probs = g.run({"%x": sx})["%probs"]
        write_npy(f"{name}/expected_probs.npy", probs.reshape(10, 1, 10))
        write_npy(f"{name}/expected_test_pred.npy", q_test.argmax(1).astype(np.int32))
        kind = ("per-channel int8 weights\n(symmetric, zero point 0, one scale per output "
                "row of the [N, K] weight:\naxis 0) and per-channel i32 bias scales"
                if per_channel else
                "per-tensor int8 weights\n(asymmetric: choose_params over [min(w), max(w)]) "
                "and per-tensor i32 bias\nscales")
        rng_txt = "\n".join(f"  {k}: [{fmt_f32(a)}, {fmt_f32(b)}]" for k, (a, b) in ranges.items())
        header = f"""\
Digits MLP (64 -> 32 -> 10, relu) in QDQ form with {kind}.
Generated by examples/make_examples.py: sklearn MLPClassifier(hidden=(32,),
random_state=0) trained on load_digits() / 16 (80/20 stratified split,
random_state=0). Weights: dense takes w as [N, K] (sklearn's coefs_
transposed), stored as int8 .npy; biases as int32 codes with scale sx * sw
(onnxruntime's QDQ convention: the f32 product of the input activation scale
and the weight scale).
Activations are u8, calibrated (min/max over the training split):
{rng_txt}
Test accuracy: float {mlp_float_acc:.4f}, this graph (numpy reference) {q_acc:.4f}.
Output %probs: softmax over the 10 classes."""
        write_text(f"{name}.txt", g.text(header))
        info[name] = dict(acc=q_acc, agree=agree, probs=probs)
    info["mlp_float_acc"] = mlp_float_acc

    # -- CNN --
    tc = time.time()
    p = train_cnn(X, y, itr)
    train_s = time.time() - tc
    f = cnn_forward(p, X[ite].reshape(-1, 1, 8, 8))
    cnn_float_acc = accuracy(f["logits"].argmax(1), y[ite])
    g = build_cnn(X, itr, p)
    q_test = g.run({"%x": X[ite].reshape(-1, 1, 8, 8)})["%probs"]
    cnn_q_acc = accuracy(q_test.argmax(1), y[ite])
    cnn_agree = accuracy(q_test.argmax(1), f["logits"].argmax(1))
    probs = g.run({"%x": sx.reshape(-1, 1, 8, 8)})["%probs"]
    write_npy("digits_cnn/expected_probs.npy", probs.reshape(10, 1, 10))
    write_npy("digits_cnn/expected_test_pred.npy", q_test.argmax(1).astype(np.int32))
    header = f"""\
Digits CNN in QDQ form, input 1x1x8x8 (load_digits() / 16):
conv2d 3x3 pad 1 (1 -> 8) -> relu -> maxpool2d 2x2 stride 2
-> conv2d 3x3 pad 1 (8 -> 16) -> relu -> global_avgpool -> flatten
-> dense (16 -> 10) -> softmax.
Generated by examples/make_examples.py: trained with numpy (im2col
forward/backward, Adam, cosine learning rate, {CNN_EPOCHS} epochs, seed 0) on the same
80/20 split as the MLPs. Weights OIHW, int8 per channel (axis 0, symmetric,
zero point 0), the dense weight [N, K] likewise; i32 biases with per-channel
scales sx * sw[o]. Activations u8, min/max-calibrated on the training split.
The quantize/dequantize after maxpool2d uses the same parameters as its
input, so it is exact (it only marks the tensor as quantized).
Test accuracy: float {cnn_float_acc:.4f}, this graph (numpy reference) {cnn_q_acc:.4f}."""
    write_text("digits_cnn.txt", g.text(header))
    info["digits_cnn"] = dict(acc=cnn_q_acc, agree=cnn_agree, probs=probs,
                              float_acc=cnn_float_acc, train_s=train_s)

    info["residual"] = make_residual()
    write_text("README.md", readme(info, samples))
    print(f"MLP float {mlp_float_acc:.4f}, per-tensor {info['digits_mlp']['acc']:.4f}, "
          f"per-channel {info['digits_mlp_per_channel']['acc']:.4f}")
    print(f"CNN float {cnn_float_acc:.4f}, quantized {cnn_q_acc:.4f} "
          f"(trained in {train_s:.1f}s)")
    print(f"done in {time.time() - t0:.1f}s")


def readme(info, samples):
    def pred_table(model):
        probs = info[model]["probs"]
        rows = ["| input | label | predicted | p(predicted) |", "|---|---|---|---|"]
        for k, (c, i) in enumerate(samples):
            pr = probs[k]
            prefix = "cnn_" if model == "digits_cnn" else ""
            rows.append(f"| `digits/{prefix}digit_{c}_{i}.npy` | {c} | {int(pr.argmax())} "
                        f"| {float(pr.max()):.4f} |")
        return "\n".join(rows)

    seven = [i for c, i in samples if c == 7][0]
    w = info["worked"]
    mf = info["mlp_float_acc"]
    m1, m2, cn = info["digits_mlp"], info["digits_mlp_per_channel"], info["digits_cnn"]
    p7 = lambda m: int(info[m]["probs"][7].argmax())
    return f"""\
# qcc examples

Small quantized models in qcc's text format (`docs/format.md`), with their
`.npy` constants, sample inputs and reference outputs. Everything here is
generated by one deterministic script (fixed seeds; needs numpy and
scikit-learn):

    python3 examples/make_examples.py

The quantization parameters follow `docs/semantics.md` ("Choosing parameters
from a range", quantize/dequantize). The reference outputs
(`expected_*.npy`) come from a numpy interpreter in the script that evaluates
the same statements as the graph files, in f32, summing dense/conv2d/pool/
softmax terms in the order semantics.md prescribes. They are approximate:
numpy's f32 `exp` need not match Rust's `f32::exp` bit for bit, and
differently ordered sums can differ in the last bits (and rarely flip a
quantization code). Compare with a small tolerance (e.g. 1e-5 absolute on
probabilities) and expect exact agreement on the predicted class.

Shared data in `digits/`: the held-out split is 20% of `load_digits()`
(stratified, `random_state=0`), pixels divided by 16.

- `digit_<label>_<index>.npy`: the first held-out image of each class, f32
  `[1, 64]` (MLP input); `<index>` is the image's index in `load_digits()`.
- `cnn_digit_<label>_<index>.npy`: the same images as f32 `[1, 1, 8, 8]`.
- `samples.txt` (their names, in order), `samples_x.npy` `[10, 64]`,
  `samples_y.npy` `[10]` i32.
- `test_x.npy` `[360, 64]` f32 and `test_y.npy` `[360]` i32: the whole
  held-out split.

Each digits model folder has `expected_probs.npy` `[10, 1, 10]` (row `k` is
the output `probs` for the `k`-th sample of `samples.txt`) and
`expected_test_pred.npy` `[360]` (the reference's predicted class on
`test_x.npy`, row by row).

## worked_example.txt

The worked example of `docs/semantics.md`: `[-1.2, -0.5, 0.0, 0.4, 0.8]`
quantized to `!quant.uniform<i8:f32, {w['scale']}:25>` (scale `f32(2/255)`,
zero point 25), dequantized, and the error `dq - x`. No model, no training.
Expected codes `{list(int(c) for c in w['codes'])}`; the references are
`worked_example/expected_q.npy` (i8), `expected_dq.npy`, `expected_err.npy`.

    qcc run examples/worked_example.txt --input x=examples/worked_example/x.npy

Outputs `q`, `dq`, `err`.

## digits_mlp.txt

An MLP 64 → 32 → 10 (relu) trained with scikit-learn's `MLPClassifier`
(`random_state=0`) on the digits training split, in QDQ form: u8 activations
(min/max calibration on the training split), per-tensor int8 weights
(`digits_mlp/w1.npy`, `w2.npy`, `[N, K]`), int32 biases with scale
`sx * sw` (`b1.npy`, `b2.npy`), softmax output `probs` `[1, 10]`.

Test accuracy (360 images): float model {mf:.4f}, quantized graph (numpy
reference) {m1['acc']:.4f}; the two agree on {m1['agree']:.4f} of the
predictions.

    qcc run examples/digits_mlp.txt --input x=examples/digits/digit_7_{seven}.npy

Expected prediction: {p7('digits_mlp')} (label 7). All samples:

{pred_table('digits_mlp')}

## digits_mlp_per_channel.txt

The same trained MLP with per-channel int8 weights (symmetric, zero point 0,
one scale per output row: axis 0 of the `[N, K]` weight) and per-channel i32
bias scales `sx * sw[n]`; activation types as in `digits_mlp.txt`.

Test accuracy: float model {mf:.4f}, quantized graph {m2['acc']:.4f}
(agreement with float {m2['agree']:.4f}).

    qcc run examples/digits_mlp_per_channel.txt --input x=examples/digits/digit_7_{seven}.npy

Expected prediction: {p7('digits_mlp_per_channel')} (label 7). All samples:

{pred_table('digits_mlp_per_channel')}

## digits_cnn.txt

A small CNN on 1x1x8x8 digits: conv2d 3x3 pad 1 (1 → 8) → relu → maxpool2d
2x2/2 → conv2d 3x3 pad 1 (8 → 16) → relu → global_avgpool → flatten → dense
(16 → 10) → softmax. Trained by hand in numpy (im2col, Adam, {CNN_EPOCHS} epochs,
about ten seconds on one core). QDQ form with u8 activations,
per-channel int8 weights (OIHW, axis 0; the dense weight per row as well)
and per-channel i32 biases. Constants in `digits_cnn/`.

Test accuracy: float model {cn['float_acc']:.4f}, quantized graph
{cn['acc']:.4f} (agreement with float {cn['agree']:.4f}).

    qcc run examples/digits_cnn.txt --input x=examples/digits/cnn_digit_7_{seven}.npy

Expected prediction: {p7('digits_cnn')} (label 7). All samples:

{pred_table('digits_cnn')}

## residual.txt

A residual block `y = x + relu(conv3x3(x))` (4 → 4 channels, 6x6) in QDQ
form whose `add` joins tensors of different quantization: the block input
(i8) and the relu branch (u8), dequantized, added in f32 and quantized to a
third type (i8). Conv weights per channel (symmetric), bias codes inline.
The weights are fixed pseudo-random values (seeded), not trained; ranges are
calibrated on seeded random inputs. Reference output
`residual/expected_y.npy` for `residual/x.npy` (max |quantized − float|
there: {info['residual']['err']:.4f}).

    qcc run examples/residual.txt --input x=examples/residual/x.npy

Output `y` `[1, 4, 6, 6]`.
"""


if __name__ == "__main__":
    main()
