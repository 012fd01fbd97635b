#!/usr/bin/env python3
"""Whole models: qcc against onnxruntime and OpenVINO (issue 15, Benchmarks).

Builds six float ONNX models from seeded numpy data in bench/models/
(git-ignored), quantizes each with onnxruntime.quantization.quantize_static
(MinMax calibration on seeded random inputs; per-channel int8 weights, uint8
activations) in two forms, QDQ and QOperator, and runs every model x form x
thread count (1 and 2) in the three engines:

  mlp        batch-1 MLP 1024 -> 4096 -> 4096 -> 1000 (Gemm transB=1, Relu)
  ffn        transformer FFN on 128x768: MatMul 768x3072 + bias, Relu,
             MatMul 3072x768 + bias (Relu for Gelu: qcc has no Gelu yet)
  encoder    a transformer encoder layer, seq 128, d 768, 12 heads: Q/K/V
             projections, heads by Reshape/Transpose, QK^T, scale, Softmax,
             times V, heads merged, output projection, residual Add, then the
             FFN above with its residual Add (no LayerNorm)
  encoder_ln the same with the two LayerNormalizations of a BERT layer
  mbv2       MobileNetV2 inverted-residual block on 1x32x56x56: 1x1 expand
             to 192 + Clip(0,6), 3x3 depthwise + Clip(0,6), 1x1 project to
             32, residual Add
  resnet     ResNet stage on 1x64x56x56: two basic blocks (3x3 conv + Relu,
             3x3 conv, residual Add, Relu)

For each model x form x threads T:

  * onnxruntime: CPUExecutionProvider, intra_op_num_threads=T, inter_op 1,
    ORT_ENABLE_ALL (the session of compare_ort.py);
  * OpenVINO: Core().compile_model(path, "CPU", {INFERENCE_NUM_THREADS: T,
    PERFORMANCE_HINT: LATENCY}); a model it does not read or compile gets
    "—" and the reason in the notes;
  * qcc: `qcc bench MODEL --json --threads T --input x=FILE.npy`; a model qcc
    does not import gets "qcc: does not import: <first line of the error>".

The quantizer folds each Relu and Clip that follows a quantized op into that
op's output range (the int8 models have none).

First each engine runs once on the same input: "exact vs ort" is the share
of qcc's output elements exactly equal to onnxruntime's (when not all are,
the notes add the share equal to onnxruntime's with its graph optimizations
off, i.e. the QDQ graph run as written, without ORT's fused int8 kernels);
the notes give the largest difference from OpenVINO's output, in steps of
the output's quantization scale (OpenVINO runs the float parts in its
default inference precision, bf16 on an AMX CPU).

Then the timing goes in rounds with the engines interleaved (an onnxruntime
trial, an OpenVINO trial, one `qcc bench` invocation, again), so that noise
on the machine hits all three alike. The figures are medians: of all timed
calls for onnxruntime and OpenVINO, of the invocations' medians for qcc.
GOPS = 2 x MACs / latency, with the MACs of the model's MatMul, Gemm and Conv
nodes (from ONNX shape inference); % of the peak: the peak this machine
measures in the same run (`qcc peak --json`: the int8 instruction of the
path qcc's JIT picks, on independent register accumulators), per thread,
times T; --peak-amx / --peak-vnni / --peak-avx2 give a fixed figure instead
(the one of the CPU's best path is used). The models are rebuilt each time (deterministic: the same files) unless
--reuse.

    python3 bench/compare_models.py                        # everything, 1T and 2T
    python3 bench/compare_models.py --quick                # shorter trials
    python3 bench/compare_models.py --cases mlp,ffn --threads 1 --json out.json
    python3 bench/compare_models.py --qcc /path/to/qcc --list

Needs numpy, onnx, onnxruntime and openvino (pip install numpy onnx
onnxruntime openvino) and a release build of qcc (default:
target/release/qcc beside this directory).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare_ort as co  # noqa: E402  (shared helpers: ORT session, qcc calls, formatting)

ROOT = co.ROOT
OPSET = 17        # LayerNormalization needs 17; onnxruntime and OpenVINO read it
IR_VERSION = 8    # the IR of opset 17
FORMS = ("qdq", "qop")
FORM_NAMES = {"qdq": "QDQ", "qop": "QOperator"}


# ---------------------------------------------------------------- float models
#
# Each builder takes a numpy Generator and returns (graph nodes, initializers,
# input shape, output shape). Weights are normal with a He-style standard
# deviation so that the activations stay in a steady range through the layers.

def weight(rng, shape, fan_in, gain=2.0):
    return (rng.standard_normal(shape) * np.sqrt(gain / fan_in)).astype(np.float32)


def bias(rng, n):
    return (rng.standard_normal(n) * 0.05).astype(np.float32)


class Graph:
    """A small helper to write a graph node by node with fresh tensor names."""

    def __init__(self, rng):
        self.rng = rng
        self.nodes = []
        self.inits = []
        self.count = 0

    def name(self, stem):
        self.count += 1
        return f"{stem}_{self.count}"

    def const(self, stem, array):
        n = self.name(stem)
        self.inits.append(numpy_helper.from_array(array, n))
        return n

    def op(self, op_type, inputs, stem=None, **attrs):
        out = self.name(stem or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def linear(self, x, k, n, gain=2.0):
        """MatMul by a k x n weight, then Add of a bias (the transformer form)."""
        w = self.const("w", weight(self.rng, (k, n), k, gain))
        b = self.const("b", bias(self.rng, n))
        return self.op("Add", [self.op("MatMul", [x, w]), b])

    def layer_norm(self, x, d):
        g = self.const("ln_scale", (1.0 + 0.1 * self.rng.standard_normal(d)).astype(np.float32))
        b = self.const("ln_bias", bias(self.rng, d))
        return self.op("LayerNormalization", [x, g, b], axis=-1, epsilon=1e-5)

    def conv(self, x, c_in, c_out, k, group=1, gain=2.0):
        w = self.const("w", weight(self.rng, (c_out, c_in // group, k, k), c_in // group * k * k, gain))
        b = self.const("b", bias(self.rng, c_out))
        return self.op("Conv", [x, w, b], kernel_shape=[k, k], pads=[k // 2] * 4,
                       strides=[1, 1], group=group)

    def relu6(self, x):
        lo = self.const("clip_min", np.array(0.0, np.float32))
        hi = self.const("clip_max", np.array(6.0, np.float32))
        return self.op("Clip", [x, lo, hi])


def build_mlp(g, x):
    """(a) 1x1024 -> Gemm 4096 + Relu -> Gemm 4096 + Relu -> Gemm 1000."""
    sizes = [1024, 4096, 4096, 1000]
    h = x
    for i, (k, n) in enumerate(zip(sizes, sizes[1:])):
        w = g.const("w", weight(g.rng, (n, k), k))      # [N, K]: transB=1
        b = g.const("b", bias(g.rng, n))
        h = g.op("Gemm", [h, w, b], transB=1)
        if i < len(sizes) - 2:
            h = g.op("Relu", [h])
    return h, [1, 1024], [1, 1000]


def ffn(g, x, d=768, hidden=3072):
    h = g.op("Relu", [g.linear(x, d, hidden)])
    return g.linear(h, hidden, d, gain=1.0)


def build_ffn(g, x):
    """(b) 128x768 -> MatMul 768x3072 + bias, Relu, MatMul 3072x768 + bias."""
    return ffn(g, x), [128, 768], [128, 768]


def encoder(g, x, layer_norm, seq=128, d=768, heads=12):
    """(c) one encoder layer on [1, seq, d]; post-LN (BERT) when layer_norm."""
    dh = d // heads
    to_heads = g.const("shape_heads", np.array([1, seq, heads, dh], np.int64))
    merged = g.const("shape_merged", np.array([1, seq, d], np.int64))
    q = g.op("Transpose", [g.op("Reshape", [g.linear(x, d, d, gain=1.0), to_heads])],
             perm=[0, 2, 1, 3])                                   # [1, h, seq, dh]
    k = g.op("Transpose", [g.op("Reshape", [g.linear(x, d, d, gain=1.0), to_heads])],
             perm=[0, 2, 3, 1])                                   # [1, h, dh, seq]
    v = g.op("Transpose", [g.op("Reshape", [g.linear(x, d, d, gain=1.0), to_heads])],
             perm=[0, 2, 1, 3])                                   # [1, h, seq, dh]
    scores = g.op("MatMul", [q, k])                               # [1, h, seq, seq]
    scale = g.const("scale", np.array(1.0 / np.sqrt(dh), np.float32))
    probs = g.op("Softmax", [g.op("Mul", [scores, scale])], axis=-1)
    ctx = g.op("MatMul", [probs, v])                              # [1, h, seq, dh]
    ctx = g.op("Reshape", [g.op("Transpose", [ctx], perm=[0, 2, 1, 3]), merged])
    h = g.op("Add", [x, g.linear(ctx, d, d, gain=1.0)])           # residual
    if layer_norm:
        h = g.layer_norm(h, d)
    y = g.op("Add", [h, ffn(g, h, d)])                            # residual
    if layer_norm:
        y = g.layer_norm(y, d)
    return y


def build_encoder(g, x):
    return encoder(g, x, layer_norm=False), [1, 128, 768], [1, 128, 768]


def build_encoder_ln(g, x):
    return encoder(g, x, layer_norm=True), [1, 128, 768], [1, 128, 768]


def build_mbv2(g, x, c=32, expand=6, hw=56):
    """(d) 1x1 expand + Relu6, 3x3 depthwise + Relu6, 1x1 project, residual."""
    e = c * expand
    h = g.relu6(g.conv(x, c, e, 1))
    h = g.relu6(g.conv(h, e, e, 3, group=e))
    h = g.conv(h, e, c, 1, gain=1.0)
    return g.op("Add", [x, h]), [1, c, hw, hw], [1, c, hw, hw]


def build_resnet(g, x, c=64, hw=56, blocks=2):
    """(e) `blocks` basic blocks: conv3x3 + Relu, conv3x3, Add input, Relu."""
    h = x
    for _ in range(blocks):
        r = g.op("Relu", [g.conv(h, c, c, 3)])
        r = g.conv(r, c, c, 3, gain=0.5)
        h = g.op("Relu", [g.op("Add", [h, r])])
    return h, [1, c, hw, hw], [1, c, hw, hw]


# name -> (builder, input distribution, description). "relu" inputs are
# non-negative, as after a ReLU (the ResNet stage's input).
MODELS = {
    "mlp": (build_mlp, "normal", "MLP 1024-4096-4096-1000, batch 1, Gemm transB=1 + Relu"),
    "ffn": (build_ffn, "normal", "FFN 128x768 -> 3072 (Relu) -> 768, MatMul + bias"),
    "encoder": (build_encoder, "normal",
                "encoder layer seq 128, d 768, 12 heads, FFN 3072, no LayerNorm"),
    "encoder_ln": (build_encoder_ln, "normal", "the encoder layer with 2 LayerNorms (BERT)"),
    "mbv2": (build_mbv2, "normal", "MobileNetV2 block 1x32x56x56, expand 6, Relu6, residual"),
    "resnet": (build_resnet, "relu", "ResNet stage 1x64x56x56, 2 basic blocks"),
}


def model_seed(name):
    """A fixed seed per model (its position in MODELS), for the weights, the
    calibration data and the benchmark input."""
    return list(MODELS).index(name) + 1


def sample(name, shape, which):
    """Deterministic input data: `which` is the calibration sample number, or
    -1 for the benchmark input (a sample the calibration did not see)."""
    rng = np.random.default_rng([15, model_seed(name), which + 1000])
    x = rng.standard_normal(shape).astype(np.float32)
    if MODELS[name][1] == "relu":
        x = np.maximum(x, 0.0)
    return x


def build_float(name, path):
    builder = MODELS[name][0]
    g = Graph(np.random.default_rng([15, model_seed(name)]))
    out, in_shape, out_shape = builder(g, "x")
    # The graph output is called "y": rename the last node's output.
    g.nodes[-1].output[0] = "y"
    graph = helper.make_graph(g.nodes, name,
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
                              g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              ir_version=IR_VERSION, producer_name="qcc bench/compare_models.py")
    co._save(model, path)
    return in_shape


# ---------------------------------------------------------------- quantization

class RandomReader(CalibrationDataReader):
    """Calibration data for quantize_static: `n` seeded random inputs."""

    def __init__(self, name, shape, n):
        self.samples = [{"x": sample(name, shape, i)} for i in range(n)]
        self.pos = 0

    def get_next(self):
        if self.pos >= len(self.samples):
            return None
        self.pos += 1
        return self.samples[self.pos - 1]

    def rewind(self):
        self.pos = 0


def quantize(name, float_path, out_path, form, in_shape, n_calib):
    quantize_static(float_path, out_path, RandomReader(name, in_shape, n_calib),
                    quant_format=QuantFormat.QDQ if form == "qdq" else QuantFormat.QOperator,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8)
    # quantize_static keeps the float model's opset and IR; make sure of it
    # (OpenVINO and onnxruntime both read IR 8 with opset 17).
    m = onnx.load(out_path)
    if m.ir_version != IR_VERSION:
        m.ir_version = IR_VERSION
        co._save(m, out_path)


def build_all(names, models_dir, n_calib, rebuild):
    """Writes the float and the two quantized models of each name (unless
    they exist and `rebuild` is false) and the benchmark input. Returns
    {name: {"float": path, "qdq": path, "qop": path, "input": .npy path}}."""
    import logging
    logging.getLogger().setLevel(logging.ERROR)  # the quantizer's pre-processing advice
    os.makedirs(os.path.join(models_dir, "inputs"), exist_ok=True)
    files = {}
    for name in names:
        f = {"float": os.path.join(models_dir, f"{name}.float.onnx")}
        for form in FORMS:
            f[form] = os.path.join(models_dir, f"{name}.{form}.onnx")
        f["input"] = os.path.join(models_dir, "inputs", f"{name}.x.npy")
        if rebuild or not all(os.path.exists(p) for p in f.values()):
            print(f"  building {name} ...", file=sys.stderr, flush=True)
            in_shape = build_float(name, f["float"])
            for form in FORMS:
                quantize(name, f["float"], f[form], form, in_shape, n_calib)
            np.save(f["input"], sample(name, in_shape, -1))
        files[name] = f
    return files


# ---------------------------------------------------------------- MAC count

def count_macs(path):
    """MACs of the MatMul, Gemm and Conv nodes of the (float) model, from the
    shapes ONNX shape inference gives."""
    m = onnx.shape_inference.infer_shapes(onnx.load(path))
    shapes = {}
    for vi in list(m.graph.input) + list(m.graph.value_info) + list(m.graph.output):
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        shapes[vi.name] = dims
    for t in m.graph.initializer:
        shapes[t.name] = list(t.dims)
    total = 0
    for node in m.graph.node:
        if node.op_type == "MatMul":
            a, b = shapes[node.input[0]], shapes[node.input[1]]
            out = shapes[node.output[0]]
            batch = int(np.prod(out[:-2])) if len(out) > 2 else 1
            total += batch * a[-2] * a[-1] * b[-1]
        elif node.op_type == "Gemm":
            a, out = shapes[node.input[0]], shapes[node.output[0]]
            trans_a = any(at.name == "transA" and at.i for at in node.attribute)
            k = a[0] if trans_a else a[1]
            total += out[0] * out[1] * k
        elif node.op_type == "Conv":
            w, out = shapes[node.input[1]], shapes[node.output[0]]
            # out [N, C_out, H, W], w [C_out, C_in / group, kh, kw]
            total += int(np.prod(out)) * int(np.prod(w[1:]))
    return total


def output_scale(path):
    """The scale of the DequantizeLinear that gives the graph output, as a
    float (a difference divided by it is in quantization steps), or None."""
    m = onnx.load(path, load_external_data=False)
    inits = {t.name: t for t in m.graph.initializer}
    out = m.graph.output[0].name
    for node in m.graph.node:
        if node.op_type == "DequantizeLinear" and node.output[0] == out:
            t = inits.get(node.input[1])
            if t is not None:
                s = numpy_helper.to_array(t)
                if s.size == 1:
                    return float(s.reshape(()))
    return None


# ---------------------------------------------------------------- engines

def first_line(e, limit=200):
    text = str(e).strip()
    line = text.splitlines()[0] if text else type(e).__name__
    return line[:limit]


def ov_reason(e):
    """The useful part of an OpenVINO exception: its text starts with lines
    of source locations ("Exception from src/..."); the frontend's summary of
    the operations it could not convert, and the first detailed message,
    come later."""
    lines = [ln.strip() for ln in str(e).splitlines()]
    summary, detail = [], None
    if "Summary:" in lines:
        summary = [ln.lstrip("- ") for ln in lines[lines.index("Summary:") + 1:] if ln]
    # A detailed log has blocks "-- OP with a message:" ... "<reason>" "".
    for i, ln in enumerate(lines):
        if ln.startswith("-- ") and ln.endswith("with a message:"):
            block = []
            for later in lines[i + 1:]:
                if not later:
                    break
                block.append(later)
            if block:
                detail = block[-1]
            break
    if not summary:
        noise = ("Exception from", "Check '", "FrontEnd API failed")
        kept = [ln for ln in lines if ln and not ln.startswith(noise)]
        summary = kept[:1] or [first_line(e)]
    text = "; ".join(summary)
    if detail:
        text += f" (first: {detail})"
    return text[:300]


def qcc_failure(message, path):
    """("does not import", reason) for an import error, which the qcc CLI
    prints as "error: `MODEL`: reason"; ("fails", message) for any other."""
    prefix = f"error: `{path}`: "
    if message.startswith(prefix):
        return "does not import", message[len(prefix):]
    return "fails", message


class Ort:
    name = "onnxruntime"

    def __init__(self, path, threads):
        self.sess, self.load_s = co.ort_session(path, threads)
        self.out_names = [o.name for o in self.sess.get_outputs()]

    def run(self, feeds):
        return self.sess.run(None, feeds)

    def infer(self, feeds):
        """The timed call."""
        self.sess.run(None, feeds)


def ort_reference_outputs(path, feeds):
    """onnxruntime's outputs with its graph optimizations off: the QDQ model
    run node by node as written (float ops between DequantizeLinear and
    QuantizeLinear), without the fused int8 kernels ORT_ENABLE_ALL picks
    (QLinearSoftmax's table, QLinearMatMul, ...), whose arithmetic differs."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


class OpenVino:
    name = "OpenVINO"
    core = None

    def __init__(self, path, threads):
        import openvino as ov
        if OpenVino.core is None:
            OpenVino.core = ov.Core()
        t0 = time.perf_counter()
        self.compiled = OpenVino.core.compile_model(
            path, "CPU", {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"})
        self.load_s = time.perf_counter() - t0
        self.request = self.compiled.create_infer_request()
        try:
            hint = self.compiled.get_property("INFERENCE_PRECISION_HINT")
            self.precision = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)
        except Exception:  # noqa: BLE001 (only informative)
            self.precision = "?"

    def run(self, feeds):
        self.infer(feeds)
        return [self.request.get_output_tensor(i).data
                for i in range(len(self.compiled.outputs))]

    def infer(self, feeds):
        """The timed call. share_inputs/outputs: no copies in the Python
        wrapper (like onnxruntime's run on numpy arrays)."""
        self.request.infer(feeds, share_inputs=True, share_outputs=True)


def warm_up(engine, feeds, seconds):
    n, t0 = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - t0 < seconds:
        engine.infer(feeds)
        n += 1
    return (time.perf_counter() - t0) / n


def trial(engine, feeds, seconds, per_call):
    """Back-to-back calls for about `seconds` (at least 3), each call timed;
    returns the list of call times in seconds."""
    calls = max(3, int(seconds / max(per_call, 1e-7)))
    clock = time.perf_counter_ns
    times = []
    for _ in range(calls):
        t0 = clock()
        engine.infer(feeds)
        times.append((clock() - t0) * 1e-9)
    return times


# ---------------------------------------------------------------- comparing outputs

def max_diff(a, b):
    if a is None or b is None or a.shape != b.shape:
        return None
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0


def fmt_diff(d, scale):
    """A difference of float outputs, in quantization steps when the output
    scale is known (a difference of whole steps is printed as an integer)."""
    if d is None:
        return "?"
    if scale:
        steps = d / scale
        return f"{steps:.0f} step{'s' if round(steps) != 1 else ''}" \
            if abs(steps - round(steps)) < 1e-3 else f"{steps:.3g} steps"
    return f"{d:.3g}"


# ---------------------------------------------------------------- one model x form

def run_case(name, form, files, args):
    """All thread counts of one model in one form. Returns one result per
    thread count."""
    path = files[form]
    feeds = {"x": np.load(files["input"])}
    in_files = {"x": files["input"]}
    macs = args.macs[name]
    scale = output_scale(path)
    base = {"model": name, "form": FORM_NAMES[form], "path": os.path.relpath(path, ROOT),
            "macs": macs, "output_scale": scale}
    common_notes = []

    # --- loading: one session / compiled model per thread count
    engines = {}  # (who, T) -> engine
    failed = {}   # who -> reason (the same for every T)
    for t in args.threads:
        for who, cls in (("ort", Ort), ("ov", OpenVino)):
            if who in failed:
                continue
            try:
                engines[who, t] = cls(path, t)
            except Exception as e:  # noqa: BLE001 (report and go on)
                failed[who] = ov_reason(e) if who == "ov" else first_line(e)

    # --- outputs: each engine once on the same input
    outs = {}
    for who in ("ort", "ov"):
        e = engines.get((who, args.threads[0]))
        if e is None:
            continue
        try:
            outs[who] = [np.array(o) for o in e.run(feeds)]
        except Exception as ex:  # noqa: BLE001
            failed[who] = "run failed: " + first_line(ex)
    qcc_error = None
    try:
        out_names = engines["ort", args.threads[0]].out_names if ("ort", args.threads[0]) in engines \
            else ["y"]
        qouts, qcc_run_s = co.qcc_outputs(args.qcc, path, in_files, out_names)
        outs["qcc"] = qouts
        base["qcc_run_process_s"] = qcc_run_s
    except Exception as ex:  # noqa: BLE001
        qcc_error = qcc_failure(first_line(ex, 300), path)
        failed["qcc"] = qcc_error

    check = {}
    if "qcc" in outs and "ort" in outs:
        ref, got = outs["ort"][0], outs["qcc"][0]
        eq, diff, note = co.compare(ref, got)
        check["exact_vs_ort"] = eq
        check["max_diff_vs_ort"] = diff
        if note:
            common_notes.append(note)
        if eq is not None and eq < 1:
            common_notes.append(f"qcc vs ORT: {100 * (1 - eq):.2f}% of elements differ, "
                                f"max {fmt_diff(diff, scale)}")
            # Is the difference ORT's fused kernels, or qcc's? Compare with
            # ORT running the graph as written.
            try:
                plain = ort_reference_outputs(path, feeds)[0]
                eq0, diff0, _ = co.compare(plain, got)
                check["exact_vs_ort_unoptimized"] = eq0
                check["max_diff_vs_ort_unoptimized"] = diff0
                common_notes.append("vs ORT without graph optimizations: "
                                    + ("100% equal" if eq0 == 1 else
                                       f"{100 * eq0:.2f}% equal, max {fmt_diff(diff0, scale)}"))
            except Exception as ex:  # noqa: BLE001
                common_notes.append("ORT without graph optimizations failed: " + first_line(ex))
    if "ov" in outs:
        if "qcc" in outs:
            check["max_diff_qcc_vs_ov"] = max_diff(outs["qcc"][0], outs["ov"][0])
        if "ort" in outs:
            check["max_diff_ort_vs_ov"] = max_diff(outs["ort"][0], outs["ov"][0])
            check["exact_ort_vs_ov"] = float(np.mean(outs["ort"][0] == outs["ov"][0])) \
                if outs["ort"][0].shape == outs["ov"][0].shape else None
        parts = []
        if "max_diff_qcc_vs_ov" in check:
            parts.append(f"qcc {fmt_diff(check['max_diff_qcc_vs_ov'], scale)}")
        if "max_diff_ort_vs_ov" in check:
            parts.append(f"ORT {fmt_diff(check['max_diff_ort_vs_ov'], scale)}")
        if parts:
            common_notes.append("max |diff| vs OV: " + ", ".join(parts))
    base["check"] = check
    if ("ov", args.threads[0]) in engines and "ov" not in failed:
        base["ov_precision_hint"] = engines["ov", args.threads[0]].precision

    # --- timing, the engines interleaved round by round
    results = []
    for t in args.threads:
        r = dict(base, threads=t, notes=list(common_notes))
        peak = args.peak * t
        r["peak_gops"] = peak
        timed = [(who, engines[who, t]) for who in ("ort", "ov")
                 if (who, t) in engines and who not in failed]
        per_call = {}
        for who, e in timed:
            per_call[who] = warm_up(e, feeds, args.warmup_s)
        times = {who: [] for who, _ in timed}
        qcc_recs = []
        qcc_runs = None
        if "qcc" not in failed:
            try:
                # A short probe for the run count of the timed invocations.
                probe = co.qcc_bench(args.qcc, path, in_files, t, 5, 2, peak)
                est = max(probe["median_ns"] * 1e-9, 1e-7)
                qcc_runs = int(min(100_000, max(args.qcc_min_runs, args.trial_s / est)))
            except Exception as ex:  # noqa: BLE001
                failed["qcc"] = "bench failed: " + first_line(ex)
        for _ in range(args.rounds):
            for who, e in timed:
                times[who] += trial(e, feeds, args.trial_s, per_call[who])
            if qcc_runs is not None:
                try:
                    qcc_recs.append(co.qcc_bench(args.qcc, path, in_files, t, qcc_runs,
                                                 max(3, qcc_runs // 10), peak))
                except Exception as ex:  # noqa: BLE001
                    r["notes"].append("a qcc bench invocation failed: " + first_line(ex))
        for who in ("ort", "ov"):
            if times.get(who):
                r[who] = {"median_s": statistics.median(times[who]), "min_s": min(times[who]),
                          "calls": len(times[who]), "load_s": engines[who, t].load_s}
        if qcc_recs:
            r["qcc"] = {"median_s": statistics.median(x["median_ns"] for x in qcc_recs) * 1e-9,
                        "min_s": min(x["min_ns"] for x in qcc_recs) * 1e-9,
                        "medians_s": [x["median_ns"] * 1e-9 for x in qcc_recs],
                        "runs": qcc_runs, "invocations": len(qcc_recs),
                        "compile_s": statistics.median(x["compile_ns"] for x in qcc_recs) * 1e-9,
                        "load_s": statistics.median(x["load_ns"] for x in qcc_recs) * 1e-9,
                        "dot_path": qcc_recs[0].get("dot_path"), "macs": qcc_recs[0].get("macs")}
            if qcc_recs[0].get("macs") not in (None, macs):
                r["notes"].append(f"qcc counts {qcc_recs[0]['macs']} MACs")
            if r["qcc"]["compile_s"] + r["qcc"]["load_s"] > 0.5:
                r["notes"].append(f"qcc import + compile {r['qcc']['load_s']:.2f} + "
                                  f"{r['qcc']['compile_s']:.2f} s")
            if args.amx and qcc_recs[0].get("dot_path") != "amx":
                r["notes"].append(f"qcc dot path {qcc_recs[0].get('dot_path')}")
        for who in ("ort", "ov", "qcc"):
            if who in r:
                s = r[who]["median_s"]
                r[who]["gops"] = 2 * macs / s / 1e9
                r[who]["peak_share"] = r[who]["gops"] / peak
        # qcc against the faster of the other two (> 1: qcc is faster)
        others = [(r[w]["median_s"], w) for w in ("ort", "ov") if w in r]
        if others and "qcc" in r:
            best_s, best = min(others)
            r["vs_best"] = {"ratio": best_s / r["qcc"]["median_s"], "best": best}
        r["failed"] = dict(failed)
        if "ov" in failed:
            r["notes"].insert(0, f"OpenVINO: {failed['ov']}")
        if "ort" in failed:
            r["notes"].insert(0, f"onnxruntime: {failed['ort']}")
        if "qcc" in failed and failed["qcc"] != qcc_error:
            r["notes"].insert(0, f"qcc {failed['qcc']}")
        r["qcc_error"] = qcc_error
        results.append(r)
    return results


# ---------------------------------------------------------------- the table

def fmt_engine(d):
    if not d:
        return "—"
    return f"{co.fmt_us(d['median_s'])} µs, {d['gops']:.0f} GOPS ({100 * d['peak_share']:.1f}%)"


def table(results):
    head = ["model", "form", "threads", "onnxruntime", "OpenVINO", "qcc", "qcc vs best",
            "exact vs ort", "notes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    names = {"ort": "ORT", "ov": "OV"}
    for r in results:
        if r.get("qcc_error"):
            qcc_cell = "qcc: {}: {}".format(*r["qcc_error"])
        else:
            qcc_cell = fmt_engine(r.get("qcc"))
        vb = r.get("vs_best")
        vs = f"{vb['ratio']:.2f}× ({names[vb['best']]})" if vb else "—"
        eq = r["check"].get("exact_vs_ort")
        exact = "—" if eq is None else ("100%" if eq == 1 else f"{100 * eq:.2f}%")
        model = f"{r['model']} ({co.fmt_macs(r['macs'])} MACs)"
        notes = "; ".join(r["notes"]).replace("|", "\\|")
        lines.append("| " + " | ".join([model, r["form"], str(r["threads"]), fmt_engine(r.get("ort")),
                                        fmt_engine(r.get("ov")), qcc_cell.replace("|", "\\|"), vs,
                                        exact, notes]) + " |")
    return "\n".join(lines)


def qcc_version(qcc):
    try:
        v = subprocess.run([qcc, "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        v = ""
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(qcc)))
    return f"{v or 'qcc'} ({qcc}, built {stamp})"



def measured_peak(qcc):
    """One thread's int8 peak on this machine, as `qcc peak` measures it for
    the path its JIT picks (median of 5 runs of 0.2 s)."""
    r = subprocess.run([qcc, "peak", "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"error: `qcc peak --json` failed: {r.stderr.strip()}")
    g = json.loads(r.stdout).get("best_gops_per_thread")
    if not g:
        sys.exit("error: `qcc peak` has no probe for this host's path; give --peak-vnni / "
                 "--peak-avx2 / --peak-amx")
    return float(g)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qcc", default=os.path.join(ROOT, "target", "release", "qcc"),
                    help="the qcc binary (default: target/release/qcc)")
    ap.add_argument("--cases", default="", help="comma-separated model names (default: all); "
                    "a name matches the models that contain it")
    ap.add_argument("--forms", default="qdq,qop", help="qdq, qop or both (default)")
    ap.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    ap.add_argument("--quick", action="store_true", help="fewer and shorter trials")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--models-dir", default=os.path.join(HERE, "models"),
                    help="where the models and inputs go (default bench/models, git-ignored)")
    ap.add_argument("--reuse", action="store_true",
                    help="keep the models of bench/models when they exist (default: rebuild "
                         "them; they come out the same)")
    ap.add_argument("--peak-amx", type=float, metavar="GOPS",
                    help="one thread's int8 peak with AMX (default: measured, `qcc peak`)")
    ap.add_argument("--peak-vnni", type=float, metavar="GOPS",
                    help="one thread's int8 peak with AVX512-VNNI (default: measured)")
    ap.add_argument("--peak-avx2", type=float, metavar="GOPS",
                    help="one thread's int8 peak on a CPU with AVX2 but no VNNI "
                         "(default: measured)")
    ap.add_argument("--list", action="store_true", help="list the models and exit")
    args = ap.parse_args()

    if args.list:
        for name, (_, _, desc) in MODELS.items():
            print(f"{name:12} {desc}")
        return 0
    names = list(MODELS)
    if args.cases:
        pats = [p.strip() for p in args.cases.split(",") if p.strip()]
        names = [n for n in names if any(p in n for p in pats)]
        if not names:
            ap.error(f"--cases {args.cases}: no such model (see --list)")
    forms = [f for f in FORMS if f in args.forms.split(",")]
    if not forms:
        ap.error("--forms: qdq, qop or qdq,qop")
    args.threads = sorted({int(t) for t in args.threads.split(",") if t.strip()})
    if not args.threads or args.threads[0] < 1:
        ap.error("--threads: e.g. 1 or 1,2")
    if not os.access(args.qcc, os.X_OK):
        sys.exit(f"error: no qcc binary at {args.qcc} (cargo build --release --bin qcc, "
                 "or give --qcc PATH)")
    if args.quick:
        args.warmup_s, args.rounds, args.trial_s, args.qcc_min_runs = 0.1, 3, 0.05, 10
    else:
        args.warmup_s, args.rounds, args.trial_s, args.qcc_min_runs = 0.3, 7, 0.15, 20
    cpus = len(os.sched_getaffinity(0))
    if cpus < max(args.threads):
        print(f"warning: this process may use {cpus} CPU(s); the {max(args.threads)}-thread "
              "figures will be wrong", file=sys.stderr)

    cpu = co.cpu_info()
    args.amx = "amx_int8" in cpu["flags"]
    args.vnni = "avx512_vnni" in cpu["flags"] or "avx_vnni" in cpu["flags"]
    given = args.peak_amx if args.amx else args.peak_vnni if args.vnni else args.peak_avx2
    args.peak_measured = given is None
    args.peak = given if given is not None else measured_peak(args.qcc)

    import onnxruntime
    import openvino
    os.makedirs(os.path.join(args.models_dir, "inputs"), exist_ok=True)
    files = build_all(names, args.models_dir, n_calib=8, rebuild=not args.reuse)
    args.macs = {n: count_macs(files[n]["float"]) for n in names}

    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "cpu": cpu, "amx": args.amx,
            "peak_gops_per_thread": args.peak, "peak_measured": args.peak_measured,
            "onnxruntime": onnxruntime.__version__,
            "openvino": openvino.__version__, "onnx": onnx.__version__, "numpy": np.__version__,
            "qcc": qcc_version(args.qcc), "threads": args.threads, "quick": args.quick,
            "cpus_allowed": sorted(os.sched_getaffinity(0)),
            "method": {"warmup_s": args.warmup_s, "rounds": args.rounds,
                       "trial_s": args.trial_s, "qcc_min_runs": args.qcc_min_runs},
            "models": {n: MODELS[n][2] for n in names}}

    meta["load_average_start"] = os.getloadavg()
    t_start = time.time()
    results = []
    for name in names:
        for form in forms:
            print(f"  {name} {form} ...", file=sys.stderr, flush=True)
            try:
                results += run_case(name, form, files[name], args)
            except Exception as e:  # noqa: BLE001 (a bug here must not lose the other rows)
                results.append({"model": name, "form": FORM_NAMES[form], "threads": "-",
                                "macs": args.macs[name], "check": {},
                                "notes": [f"script error: {type(e).__name__}: {first_line(e)}"]})
    meta["elapsed_s"] = time.time() - t_start
    meta["load_average_end"] = os.getloadavg()

    hints = sorted({r["ov_precision_hint"] for r in results if r.get("ov_precision_hint")})
    print(f"{cpu['model']}{' (AMX-INT8)' if args.amx else ''}, {cpus} CPUs allowed; "
          f"onnxruntime {meta['onnxruntime']}, OpenVINO {meta['openvino']}"
          f"{' (inference precision hint ' + '/'.join(hints) + ')' if hints else ''}, "
          f"{meta['qcc']}; {meta['date']}; {'quick' if args.quick else 'full'} run, "
          f"{meta['elapsed_s']:.0f} s; load average "
          f"{meta['load_average_start'][0]:.2f} before, {meta['load_average_end'][0]:.2f} after")
    print()
    print(table(results))
    print(f"\nLatency: median per run, engines interleaved in {args.rounds} rounds "
          f"(trials of {args.trial_s:g} s; qcc: median of {args.rounds} `qcc bench` invocations). "
          f"GOPS = 2·MACs/latency (MACs of MatMul/Gemm/Conv); % of the "
          f"{'AMX' if args.amx else 'VNNI' if args.vnni else 'AVX2 (no VNNI)'} peak, "
          f"{args.peak:.0f} GOPS per thread × threads"
          f"{' (measured in this run, `qcc peak`)' if args.peak_measured else ' (given)'}. "
          "qcc vs best: the faster other engine's latency / qcc's (> 1: qcc is faster). "
          "exact vs ort: share of qcc's output elements equal to onnxruntime's on the same "
          "input. Steps: multiples of the output's quantization scale.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
