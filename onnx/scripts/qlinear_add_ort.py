"""Random 8-bit QLinearAdd models (com.microsoft) and QDQ Add groups, with
onnxruntime's outputs, for testsuite/tests/onnx_qlinear_add.rs.

    python3 onnx/scripts/qlinear_add_ort.py OUT_DIR

Writes NAME.onnx, NAME.a.npy, NAME.b.npy and NAME.y.npy (onnxruntime's
output at its default optimization level, one thread). Scales are picked
near halves and quarters of the output scale, so many sums land near a
rounding tie, where onnxruntime's arithmetic and qcc's float formula part.
Exits with 3 (and says why) when onnxruntime or onnx is missing.
"""
import os
import sys

try:
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper
except ImportError as e:  # pragma: no cover
    print(f"onnxruntime, onnx or numpy is not installed ({e})")
    sys.exit(3)

SHAPES = [([2, 8, 9, 16], [2, 8, 9, 16]), ([2, 8, 9, 16], [1, 8, 1, 1]), ([1, 8, 1, 1], [2, 8, 9, 16]),
          ([3, 40], [40]), ([40], [3, 40]), ([2, 5, 17], []), ([], [2, 5, 17]), ([7, 1], [1, 9]),
          ([5, 1], [1]), ([4, 33], [4, 1]), ([1, 33], [4, 33])]


def model(kind, sa, za, sb, zb, sc, zc, ash, bsh, t):
    inits = [helper.make_tensor(n, TensorProto.FLOAT, [], [v]) for n, v in [("sa", sa), ("sb", sb), ("sc", sc)]]
    inits += [helper.make_tensor(n, t, [], [int(v)]) for n, v in [("za", za), ("zb", zb), ("zc", zc)]]
    if kind == "qop":
        nodes = [helper.make_node("QLinearAdd", ["a", "sa", "za", "b", "sb", "zb", "sc", "zc"], ["y"],
                                  domain="com.microsoft")]
    else:
        nodes = [helper.make_node("DequantizeLinear", ["a", "sa", "za"], ["fa"]),
                 helper.make_node("DequantizeLinear", ["b", "sb", "zb"], ["fb"]),
                 helper.make_node("Add", ["fa", "fb"], ["s"]),
                 helper.make_node("QuantizeLinear", ["s", "sc", "zc"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("a", t, ash),
                                       helper.make_tensor_value_info("b", t, bsh)],
                          [helper.make_tensor_value_info("y", t, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])


def main(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(14)
    k = 0
    for kind in ("qop", "qdq"):
        for dt, t in ((np.uint8, TensorProto.UINT8), (np.int8, TensorProto.INT8)):
            lo, hi = (0, 255) if dt == np.uint8 else (-128, 127)
            for ash, bsh in SHAPES:
                sc = float(np.float32(10 ** rng.uniform(-3, 0)))
                pick = lambda: float(np.float32(sc * 2.0 ** -int(rng.integers(0, 4))
                                                * (1 + int(rng.integers(-40, 40)) * 2.0 ** -22)))
                sa, sb = pick(), pick()
                za, zb, zc = [int(rng.integers(lo, hi + 1)) for _ in range(3)]
                a = rng.integers(lo, hi + 1, size=ash).astype(dt)
                b = rng.integers(lo, hi + 1, size=bsh).astype(dt)
                name = f"{k:02}_{kind}_{dt.__name__}"
                m = model(kind, sa, za, sb, zb, sc, zc, ash, bsh, t)
                path = os.path.join(out, name + ".onnx")
                with open(path, "wb") as f:
                    f.write(m.SerializeToString())
                so = ort.SessionOptions()
                so.intra_op_num_threads = 1
                y = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, {"a": a, "b": b})[0]
                np.save(os.path.join(out, name + ".a.npy"), a)
                np.save(os.path.join(out, name + ".b.npy"), b)
                np.save(os.path.join(out, name + ".y.npy"), y)
                k += 1


if __name__ == "__main__":
    main(sys.argv[1])
