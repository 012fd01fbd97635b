#!/usr/bin/env python3
"""Where qcc and onnxruntime first part ways on a model.

    python3 corpus/first_diff.py MODEL.onnx --input NAME=FILE.npy [--qcc PATH] [--top 10]

Makes every node's output a graph output (after ONNX shape inference, so
each has a type), runs the copy in onnxruntime (graph optimizations off,
so it computes node by node as the file says) and in `qcc run
--output-dir`, and lists the tensors, in node order, where the two differ:
the first one is where to look. Quantized tensors compare their codes.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--input", action="append", default=[], help="NAME=FILE.npy")
    ap.add_argument("--qcc", default=os.path.join(ROOT, "target", "release", "qcc"))
    ap.add_argument("--top", type=int, default=10, help="how many differing tensors to list")
    ap.add_argument("--tol", type=float, default=0.0, help="differences at most this are equal")
    a = ap.parse_args()

    m = onnx.shape_inference.infer_shapes(onnx.load(a.model))
    typed = {v.name: v for v in list(m.graph.value_info) + list(m.graph.output)}
    have = {o.name for o in m.graph.output}
    order = []
    for n in m.graph.node:
        for o in n.output:
            # int64 tensors are shape arithmetic, constants once dims are bound.
            if (o and o in typed and o not in have and n.op_type != "Constant"
                    and typed[o].type.tensor_type.elem_type != onnx.TensorProto.INT64):
                m.graph.output.append(typed[o])
                have.add(o)
                order.append((o, n.name, n.op_type))
    feeds = {}
    args = []
    for spec in a.input:
        k, f = spec.split("=", 1)
        feeds[k] = np.load(f)
        args += ["--input", spec]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "all.onnx")
        onnx.save(m, path, save_as_external_data=m.ByteSize() > 1_500_000_000)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        want = dict(zip([o.name for o in s.get_outputs()], s.run(None, feeds)))
        outd = os.path.join(tmp, "out")
        r = subprocess.run([a.qcc, "run", path, "--output-dir", outd, *args],
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"qcc failed:\n{r.stderr}")
        shown = 0
        for name, node, op in order:
            q = re.sub(r"[^A-Za-z0-9_.$]", "_", name)
            f = next((os.path.join(outd, f"{c}.npy") for c in (name, q, "v_" + q)
                      if os.path.exists(os.path.join(outd, f"{c}.npy"))), None)
            if f is None or name not in want:
                continue
            g, w = np.load(f), want[name]
            if g.shape != w.shape:
                print(f"{node} ({op}) -> {name}: shapes {g.shape} vs {w.shape}")
                continue
            d = np.abs(g.astype(np.float64) - w.astype(np.float64))
            if d.size and d.max() > a.tol:
                i = np.unravel_index(d.argmax(), d.shape)
                print(f"{node} ({op}) -> {name} {w.dtype}{list(w.shape)}: max |diff| {d.max():.4g} "
                      f"at {tuple(int(x) for x in i)} (qcc {g[i]}, ort {w[i]}), "
                      f"{(d > a.tol).mean():.2%} of elements")
                shown += 1
                if shown >= a.top:
                    break
        if shown == 0:
            print(f"all {len(order)} intermediate tensors agree")


if __name__ == "__main__":
    main()
