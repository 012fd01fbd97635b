#!/usr/bin/env python3
"""Compares qcc's outputs with onnxruntime's on the models of
onnx/testdata/models/ (see make_models.py).

    python3 onnx/scripts/compare_ort.py --qcc DIR [--check]

DIR holds qcc's output for each model as <model>.npy (written by the Rust
test testsuite/tests/onnx_models.rs, which runs this script). For every
model the table gives: whether qcc ran it, the share of output values equal
to onnxruntime's, the largest difference in quantization steps of the
output (the scale of the DequantizeLinear that produces it; float models
show the largest absolute difference instead), and the argmax agreement
per image (and each side's accuracy on the labels).

With --check the exit code is 1 when a quantized model that qcc runs misses
the targets: every output within 1 quantization step, argmax agreement at
least 99.5%. Models quantized by quantize_dynamic (`*.dyn.onnx`) have float
outputs (the integer accumulator times the run-time scale, plus the bias):
for them the table gives the largest absolute difference, and the target is
the argmax agreement.

On an x86-64 host without VNNI (no avx512_vnni or avx_vnni flag) onnxruntime
multiplies u8 by s8 with `vpmaddubsw`, which saturates the i16 sum of each
pair of products (onnxruntime's quantization docs name this and suggest
reduce_range); its quantized outputs are then not exact and cannot be a bit
target. There a quantized model that misses the step target passes if qcc's
accuracy on the labels is at least onnxruntime's minus 0.01, and the table
says so. Exit code 3: onnxruntime is not installed (the caller
skips).
"""

import argparse
import glob
import os
import sys

import numpy as np


def output_scale(model):
    from onnx import numpy_helper

    out = model.graph.output[0].name
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for n in model.graph.node:
        if out in n.output and n.op_type == "DequantizeLinear" and n.input[1] in inits:
            s = inits[n.input[1]]
            if s.size == 1:
                return float(s.reshape(()))
    return None


def host_has_vnni():
    """Whether onnxruntime's u8*s8 kernels are exact here (see the docstring)."""
    import platform

    if platform.machine() not in ("x86_64", "AMD64"):
        return True
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return True
    return " avx512_vnni" in flags or " avx_vnni" in flags


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qcc", required=True)
    ap.add_argument("--models", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "models"))
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    try:
        import onnx
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime is not installed: comparison skipped")
        return 3
    labels = np.load(os.path.join(args.models, "labels.npy"))
    rows = []
    failed = []
    saturating = []
    vnni = host_has_vnni()
    for path in sorted(glob.glob(os.path.join(args.models, "*.onnx"))):
        name = os.path.basename(path)[: -len(".onnx")]
        base = name.split(".")[0]
        x = np.load(os.path.join(args.models, f"{base}.inputs.npy"))
        model = onnx.load(path)
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        ref = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        qpath = os.path.join(args.qcc, f"{name}.npy")
        acc_ort = float((ref.argmax(1) == labels).mean())
        if not os.path.exists(qpath):
            rows.append((name, "no", "", "", "", f"{acc_ort:.3f}", ""))
            continue
        got = np.load(qpath)
        exact = float((got == ref).mean())
        scale = output_scale(model)
        diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
        if scale is not None:
            steps = int(np.rint(diff / scale).max())
            maxd = f"{steps} steps"
        else:
            steps = None
            maxd = f"{diff.max():.2e} abs"
        agree = float((got.argmax(1) == ref.argmax(1)).mean())
        acc_qcc = float((got.argmax(1) == labels).mean())
        rows.append((name, "yes", f"{exact:.4f}", maxd, f"{agree:.4f}", f"{acc_ort:.3f}", f"{acc_qcc:.3f}"))
        if scale is not None and (steps > 1 or agree < 0.995):
            if not vnni and acc_qcc >= acc_ort - 0.01:
                saturating.append(name)
            else:
                failed.append(name)
        elif name.endswith(".dyn") and agree < 0.995:
            failed.append(name)
    head = ("model", "qcc runs", "exact share", "max diff", "argmax agree", "acc ort", "acc qcc")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
    print(line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    if saturating:
        print(
            "this host has no VNNI, so onnxruntime's u8*s8 kernels saturate (vpmaddubsw);",
            "these differ from it but are as accurate or better on the labels:",
            ", ".join(saturating),
        )
    if failed:
        print("missed the targets (within 1 step, argmax >= 99.5%):", ", ".join(failed))
    return 1 if (args.check and failed) else 0


if __name__ == "__main__":
    sys.exit(main())
