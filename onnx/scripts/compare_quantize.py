#!/usr/bin/env python3
"""`qcc quantize` beside onnxruntime's quantize_static (QDQ, per_channel=True,
u8 activations, s8 weights, default options) on the same float models and
calibration data: output SQNR against the float model per method, time per
calibration sample, and the parity of scales and zero points.

    python3 onnx/scripts/compare_quantize.py MODEL.onnx [MODEL2.onnx ...]
        [--samples N] [--methods minmax,entropy,percentile,mse] [--check]

Both quantized models are QDQ ONNX files run by onnxruntime. Parity
(method minmax): every QuantizeLinear of both models is matched by the name
of the tensor it quantizes, every quantized initializer by its name; for
each matched tensor the scales are compared in units in the last place
(ulp) of the f32 scale, zero points exactly, weight codes exactly. With
--check the exit code is 1 when a matched scale differs by more than 1 ulp,
a zero point or a weight code differs, or nothing matched (--ulps N widens
the scale tolerance: the activations of the two engines differ in their last
bits where their MatMul / Conv sum in another order, and so do their ranges).

Calibration data: seeded random normal samples (--samples batches of the
input's first dimension, 1 where it is symbolic), the same for
both tools; the SQNR is measured on one more sample. The first input of the
model is calibrated (models with one float input).
"""
import argparse, os, subprocess, sys, tempfile, time
import numpy as np

try:
    import onnx
    from onnx import numpy_helper
    import onnxruntime as ort
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod,
                                          QuantFormat, QuantType, quantize_static)
except ImportError:
    print("skip: onnxruntime is not installed")
    sys.exit(0)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QCC = os.environ.get("QCC", os.path.join(ROOT, "target", "release", "qcc"))
METHODS = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
           "percentile": CalibrationMethod.Percentile, "mse": None}


def sqnr(ref, y):
    return 10 * np.log10((ref.astype(np.float64) ** 2).sum()
                         / max(((ref.astype(np.float64) - y) ** 2).sum(), 1e-30))


def run(path, feed):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, feed)[0]


def qparams(path):
    """{tensor: (scales, zero points)} of every QuantizeLinear, and
    {initializer: (scales, zero points, codes)} of every DequantizeLinear of
    an initializer."""
    m = onnx.load(path)
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    acts, consts = {}, {}
    for n in m.graph.node:
        if n.op_type == "QuantizeLinear" and n.input[1] in init:
            acts[n.input[0]] = (init[n.input[1]].astype(np.float32).reshape(-1),
                                init[n.input[2]].astype(np.int64).reshape(-1))
        elif n.op_type == "DequantizeLinear" and n.input[0] in init:
            consts[n.output[0].removesuffix("_DequantizeLinear_Output")] = (
                init[n.input[1]].astype(np.float32).reshape(-1),
                init[n.input[2]].astype(np.int64).reshape(-1),
                init[n.input[0]].astype(np.int64).reshape(-1))
    return acts, consts


def ulps(a, b):
    a = a.astype(np.float32).view(np.int32).astype(np.int64)
    b = b.astype(np.float32).view(np.int32).astype(np.int64)
    return np.abs(a - b)


def parity(ours, theirs):
    """(matched tensors, worst scale ulp, zero-point mismatches, code
    mismatches, names only in one model)."""
    (qa, qc), (ta, tc) = ours, theirs
    n = worst = bad_zp = bad_codes = 0
    details = []
    for name in sorted(set(qa) & set(ta)):
        (s1, z1), (s2, z2) = qa[name], ta[name]
        n += 1
        u = int(ulps(s1, s2).max()) if s1.shape == s2.shape else 1 << 30
        worst = max(worst, u)
        if u > 1:
            details.append((u, f"  activation {name}: scale {s1} vs {s2} ({u} ulp)"))
        if s1.shape != s2.shape or (z1 != z2).any():
            bad_zp += 1
            details.append((1 << 31, f"  activation {name}: zero point {z1} vs {z2}"))
    for name in sorted(set(qc) & set(tc)):
        (s1, z1, c1), (s2, z2, c2) = qc[name], tc[name]
        n += 1
        same = s1.shape == s2.shape and c1.shape == c2.shape
        u = int(ulps(s1, s2).max()) if same else 1 << 30
        worst = max(worst, u)
        if u > 1:
            details.append((u, f"  initializer {name}: scales differ by {u} ulp"))
        if not same or (z1 != z2).any():
            bad_zp += 1
            details.append((1 << 31, f"  initializer {name}: zero points differ"))
        elif (c1 != c2).any():
            bad_codes += 1
            details.append((1 << 30, f"  initializer {name}: {(c1 != c2).sum()} of {c1.size} codes differ "
                                     f"(by at most {np.abs(c1 - c2).max()})"))
    only = sorted((set(qa) ^ set(ta)) | (set(qc) ^ set(tc)))
    return n, worst, bad_zp, bad_codes, only, details


def compare(model, a, tmp):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    dims = []
    shape = []
    for i, d in enumerate(inp.shape):
        if isinstance(d, int):
            shape.append(d)
        else:
            shape.append(1)
            if isinstance(d, str):
                dims += ["--dim", f"{d}=1"]
    b = shape[0]
    r = np.random.RandomState(0)
    cal = r.randn(a.samples * b, *shape[1:]).astype(np.float32)
    test = r.randn(b, *shape[1:]).astype(np.float32)
    ref = sess.run(None, {inp.name: test})[0]
    base = os.path.splitext(os.path.basename(model))[0]
    np.save(os.path.join(tmp, "cal.npy"), cal)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{inp.name: cal[i * b:(i + 1) * b]} for i in range(a.samples)])

        def get_next(self):
            return next(self.it, None)

    print(f"{model} ({a.samples} calibration samples)")
    print(f"  {'method':12} {'ort dB':>8} {'ort s/sample':>13} {'qcc dB':>8} {'qcc s/sample':>13}")
    ok = True
    results = {}
    for name in a.methods.split(","):
        m = METHODS[name]
        ort_db = ort_t = float("nan")
        ort_out = os.path.join(tmp, f"{base}.ort_{name}.onnx")
        if m is not None:
            t0 = time.perf_counter()
            quantize_static(model, ort_out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=m)
            ort_t = (time.perf_counter() - t0) / a.samples
            try:
                ort_db = sqnr(ref, run(ort_out, {inp.name: test}))
            except Exception as e:  # onnxruntime cannot run its own model
                print(f"  {name}: onnxruntime does not run its quantized model: {str(e).splitlines()[0]}")
        out = os.path.join(tmp, f"{base}.qcc_{name}.onnx")
        t0 = time.perf_counter()
        subprocess.run([QCC, "quantize", model, *dims, "--calib", f"{inp.name}={tmp}/cal.npy",
                        "--method", name, "--quiet", "-o", out], check=True)
        qcc_t = (time.perf_counter() - t0) / a.samples
        qcc_db = sqnr(ref, run(out, {inp.name: test}))
        results[name] = qcc_db
        print(f"  {name:12} {ort_db:8.2f} {ort_t:13.4f} {qcc_db:8.2f} {qcc_t:13.4f}")
        if name == "minmax":
            n, worst, bad_zp, bad_codes, only, details = parity(qparams(out), qparams(ort_out))
            print(f"  parity (minmax): {n} tensors matched by name, worst scale {worst} ulp, "
                  f"{bad_zp} zero-point and {bad_codes} weight-code mismatches"
                  + (f"; only in one model: {', '.join(only)}" if only else ""))
            for _, d in sorted(details, key=lambda d: -d[0])[:a.details]:
                print(d)
            if n == 0 or worst > a.ulps or bad_zp or bad_codes:
                ok = False
    if "mse" in results and "minmax" in results and results["mse"] < results["minmax"] - 0.05:
        print(f"  note: mse {results['mse']:.2f} dB below minmax {results['minmax']:.2f} dB")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--methods", default="minmax,entropy,percentile,mse")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--details", type=int, default=10, help="the worst N differences printed")
    ap.add_argument("--ulps", type=int, default=1,
                    help="the largest scale difference --check accepts (default 1)")
    a = ap.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for model in a.models:
            ok &= compare(model, a, tmp)
    if a.check and not ok:
        print("parity check failed")
        sys.exit(1)


if __name__ == "__main__":
    main()
