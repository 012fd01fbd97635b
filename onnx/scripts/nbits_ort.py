#!/usr/bin/env python3
"""Makes small float MLPs, quantizes their MatMuls with onnxruntime's
weight-only quantizer (`matmul_nbits_quantizer`, MatMulNBits nodes) and
writes, per model, into DIR (the `_qdq` models hold DequantizeLinear with
block_size before each MatMul instead of MatMulNBits):

    <name>.onnx   the quantized model
    <name>.x.npy  an input
    <name>.y.npy  onnxruntime's output for it (CPU, one thread)

    python3 onnx/scripts/nbits_ort.py DIR

The Rust test testsuite/tests/onnx_nbits.rs runs it and compares qcc with
the outputs. Exit code 3: onnxruntime (or its quantizer's dependencies) is
not installed, and the caller skips.
"""

import os
import sys

import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    import onnxruntime as ort
    from onnxruntime.quantization import QuantFormat
    from onnxruntime.quantization import matmul_nbits_quantizer as mnq
except Exception as e:  # noqa: BLE001 - any import failure means "skip"
    print(f"onnxruntime's weight-only quantizer is not available: {e}")
    sys.exit(3)

# name, x shape, layer widths (K first), bits, block, symmetric[, format]
# ("qdq": DequantizeLinear with block_size before each MatMul; "acc4":
# MatMulNBits at accuracy_level 4, activations quantized to int8 per block)
MODELS = [
    ("mlp_b32_asym_qdq", [3, 128], [128, 96, 64], 4, 32, False, "qdq"),
    ("mlp_b16_sym_qdq", [2, 64], [64, 80, 48], 4, 16, True, "qdq"),
    ("mlp_b32_asym", [3, 128], [128, 96, 64], 4, 32, False),
    ("mlp_b16_sym", [1, 64], [64, 80, 48], 4, 16, True),
    ("mlp_b128_asym_rank3", [2, 3, 256], [256, 128, 40], 4, 128, False),
    ("mlp_b64_8bit", [5, 128], [128, 64, 32], 8, 64, False),
    ("mlp_b32_8bit_sym", [2, 64], [64, 96, 32], 8, 32, True),
    ("mlp_b32_asym_acc4", [3, 128], [128, 96, 64], 4, 32, False, "acc4"),
    ("mlp_b16_sym_acc4", [1, 64], [64, 80, 48], 4, 16, True, "acc4"),
    ("mlp_b128_sym_acc4_rank3", [2, 3, 256], [256, 128, 40], 4, 128, True, "acc4"),
]


def mlp(name, xs, widths, rng):
    nodes, inits = [], []
    cur = "x"
    for i, (k, n) in enumerate(zip(widths, widths[1:])):
        w = (rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32)
        b = (rng.standard_normal(n) * 0.1).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes.append(helper.make_node("MatMul", [cur, f"w{i}"], [f"m{i}"]))
        out = "y" if i == len(widths) - 2 else f"a{i}"
        nodes.append(helper.make_node("Add", [f"m{i}", f"b{i}"], [out if out == "y" else f"s{i}"]))
        if out != "y":
            nodes.append(helper.make_node("Relu", [f"s{i}"], [out]))
        cur = out
    ys = xs[:-1] + [widths[-1]]
    g = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, xs)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ys)],
        inits,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    for i, (name, xs, widths, bits, block, sym, *fmt) in enumerate(MODELS):
        rng = np.random.default_rng(100 + i)
        model = mlp(name, xs, widths, rng)
        qdq = fmt == ["qdq"]
        cfg = mnq.DefaultWeightOnlyQuantConfig(
            block_size=block,
            is_symmetric=sym,
            bits=bits,
            quant_format=QuantFormat.QDQ if qdq else QuantFormat.QOperator,
            accuracy_level=4 if fmt == ["acc4"] else None,
        )
        q = mnq.MatMulNBitsQuantizer(model, algo_config=cfg)
        q.process()
        qm = q.model.model if hasattr(q.model, "model") else q.model
        ops = [n.op_type for n in qm.graph.node]
        if ("DequantizeLinear" if qdq else "MatMulNBits") not in ops:
            print(f"{name}: the quantizer wrote no MatMulNBits ({ops})")
            sys.exit(1)
        path = os.path.join(out, f"{name}.onnx")
        onnx.save(qm, path)
        x = rng.standard_normal(xs).astype(np.float32)
        # QDQ models run at ORT_ENABLE_BASIC: at ENABLE_ALL onnxruntime fuses
        # DequantizeLinear + MatMul into a MatMulNBits whose accuracy level
        # comes from a session option, and its results then leave the
        # ONNX definition (1e-2 on mlp_b16_sym_qdq, where the ONNX reference
        # evaluator and the unfused graph agree with qcc to 4e-7).
        so.graph_optimization_level = (
            ort.GraphOptimizationLevel.ORT_ENABLE_BASIC if qdq else ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        )
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        (y,) = sess.run(None, {"x": x})
        np.save(os.path.join(out, f"{name}.x.npy"), x)
        np.save(os.path.join(out, f"{name}.y.npy"), y)
        print(f"{name}: {ops}")


if __name__ == "__main__":
    main()
