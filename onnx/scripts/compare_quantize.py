#!/usr/bin/env python3
"""Output SQNR of `qcc quantize` per method beside onnxruntime's quantize_static
(QDQ, per_channel=True, u8 activations, s8 weights) on the same float model and
calibration data, and the calibration time of each.

    python3 onnx/scripts/compare_quantize.py MODEL.onnx INPUT_NAME [--samples N]

Not yet checked here: scale / zero-point parity (qcc's quantize nodes carry no
ONNX tensor names until the QDQ ONNX writer exists).
"""
import argparse, os, subprocess, sys, tempfile, time
import numpy as np

try:
    import onnxruntime as ort
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod,
                                          QuantFormat, QuantType, quantize_static)
except ImportError:
    print("skip: onnxruntime is not installed")
    sys.exit(0)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QCC = os.environ.get("QCC", os.path.join(ROOT, "target", "release", "qcc"))


def sqnr(ref, y):
    return 10 * np.log10((ref ** 2).sum() / max(((ref - y) ** 2).sum(), 1e-30))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("input")
    ap.add_argument("--samples", type=int, default=16)
    a = ap.parse_args()
    sess = ort.InferenceSession(a.model, providers=["CPUExecutionProvider"])
    shape = [d if isinstance(d, int) else 1 for d in sess.get_inputs()[0].shape]
    r = np.random.RandomState(0)
    cal = r.randn(a.samples, *shape[1:]).astype(np.float32)
    test = r.randn(1, *shape[1:]).astype(np.float32)
    ref = sess.run(None, {a.input: test})[0]
    tmp = tempfile.mkdtemp()
    np.save(os.path.join(tmp, "cal.npy"), cal)
    np.save(os.path.join(tmp, "test.npy"), test)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{a.input: cal[i:i + 1]} for i in range(len(cal))])

        def get_next(self):
            return next(self.it, None)

    print(f"{'method':12} {'ort dB':>8} {'ort s/sample':>13} {'qcc dB':>8} {'qcc s/sample':>13}")
    for name, m in [("minmax", CalibrationMethod.MinMax), ("entropy", CalibrationMethod.Entropy),
                    ("percentile", CalibrationMethod.Percentile), ("mse", None)]:
        ort_db = ort_t = float("nan")
        if m is not None:
            out = os.path.join(tmp, f"ort_{name}.onnx")
            t0 = time.perf_counter()
            quantize_static(a.model, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=m)
            ort_t = (time.perf_counter() - t0) / len(cal)
            y = ort.InferenceSession(out, providers=["CPUExecutionProvider"]).run(None, {a.input: test})[0]
            ort_db = sqnr(ref, y)
        out = os.path.join(tmp, f"qcc_{name}.txt")
        t0 = time.perf_counter()
        subprocess.run([QCC, "quantize", a.model, "--calib", f"{a.input}={tmp}/cal.npy",
                        "--method", name, "--quiet", "-o", out], check=True)
        qcc_t = (time.perf_counter() - t0) / len(cal)
        od = os.path.join(tmp, f"out_{name}")
        subprocess.run([QCC, "run", out, "--input", f"{a.input}={tmp}/test.npy", "--output-dir", od],
                       check=True, capture_output=True)
        y = np.load(os.path.join(od, sorted(os.listdir(od))[0]))
        print(f"{name:12} {ort_db:8.2f} {ort_t:13.4f} {sqnr(ref, y):8.2f} {qcc_t:13.4f}")


if __name__ == "__main__":
    main()
