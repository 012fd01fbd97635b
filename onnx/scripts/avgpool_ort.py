#!/usr/bin/env python3
"""Why the residual QDQ models differ from onnxruntime: the AveragePool.

    python3 onnx/scripts/avgpool_ort.py [--models DIR]

onnxruntime fuses DequantizeLinear -> AveragePool -> QuantizeLinear into its
QLinearAveragePool kernel (com.microsoft), which works in float:

    d   = x_scale * (x - x_zero_point)                 (f32)
    sum = ((0 + d0) + d1) + ...                        (f32, row-major window)
    y   = sum / count                                  (f32)
    q   = clamp(nearbyint(y / y_scale + y_zero_point)) (f32, zero point added
                                                        before rounding)

qcc (like QLinearAveragePool's integer reading in docs/semantics.md) sums
the integers exactly and rescales once: q = round(f32(acc) * M) + z with
M = x_scale / (y_scale * count). This script taps the pool's input and
output codes from onnxruntime, recomputes both formulas with numpy and
prints the share of pooled values each reproduces. onnxruntime's formula
reproduces it exactly; qcc's misses 0.3-0.4% of them: windows whose exact
mean is a rounding tie (here M = 1/4, and a fifth of the windows sum to
2 mod 4), which qcc rounds to even and onnxruntime's f32 rounding errors
(products, running sum, two divisions) move off the tie before the zero
point is added.
"""

import argparse
import os

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--models", default=os.path.join(here, "..", "testdata", "models"))
    args = ap.parse_args()
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    x = np.load(os.path.join(args.models, "res.inputs.npy"))
    for name in ["res.qdq_u8", "res.qdq_i8_pc"]:
        m = onnx.load(os.path.join(args.models, f"{name}.onnx"))
        inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
        pool = next(n for n in m.graph.node if n.op_type == "AveragePool")
        dq = next(n for n in m.graph.node if pool.input[0] in n.output)
        q = next(n for n in m.graph.node if pool.output[0] in n.input)
        s_in, z_in = inits[dq.input[1]], inits[dq.input[2]]
        s_out, z_out = inits[q.input[1]], inits[q.input[2]]
        elem = onnx.helper.np_dtype_to_tensor_dtype(z_in.dtype)
        for tap in [dq.input[0], q.output[0]]:
            m.graph.output.append(onnx.helper.make_tensor_value_info(tap, elem, None))
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        _, codes_in, codes_out = sess.run(None, {sess.get_inputs()[0].name: x})
        n, c, h, w = codes_in.shape
        lo, hi = np.iinfo(z_in.dtype).min, np.iinfo(z_in.dtype).max
        win = ((codes_in.astype(np.int32) - np.int32(z_in)).astype(np.float32) * np.float32(s_in))
        win = win.reshape(n, c, h // 2, 2, w // 2, 2)
        total = np.zeros((n, c, h // 2, w // 2), np.float32)
        for a in range(2):
            for b in range(2):
                total = (total + win[:, :, :, a, :, b]).astype(np.float32)
        y = (total / np.float32(4)).astype(np.float32)
        ort_formula = np.clip(np.rint((y / np.float32(s_out)).astype(np.float32) + np.float32(z_out)), lo, hi)
        acc = (codes_in.astype(np.int64) - int(z_in)).reshape(n, c, h // 2, 2, w // 2, 2).sum(axis=(3, 5))
        mult = np.float32(s_in) / (np.float32(s_out) * np.float32(4))
        qcc_formula = np.clip(np.rint((acc.astype(np.float32) * mult).astype(np.float32)) + int(z_out), lo, hi)
        ties = float((np.abs((acc.astype(np.float64) * float(mult)) % 1.0 - 0.5) < 1e-9).mean())
        print(
            f"{name}: pooled values reproduced by onnxruntime's formula "
            f"{(ort_formula == codes_out).mean():.4f}, by qcc's {(qcc_formula == codes_out).mean():.4f} "
            f"(M = {mult}, exact ties {ties:.3f})"
        )


if __name__ == "__main__":
    main()
