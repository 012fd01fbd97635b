#!/usr/bin/env python3
"""qcc's dense_nbits against onnxruntime's MatMulNBits, side by side (issue 19).

For each case M×K×N with block B it writes a float MatMul model with random
weights, quantizes it with onnxruntime's own weight-only quantizer
(`matmul_nbits_quantizer.MatMulNBitsQuantizer`, 4 bits, asymmetric, the
default accuracy level) to bench/models/ (git-ignored), then:

  * checks first that both compute the same thing: one run of each on the
    same input (`qcc run --output-dir`), the largest difference relative to
    the largest output (float rounding only: the two sum in different
    orders);
  * times them interleaved, `--rounds` times: onnxruntime in-process
    (intra_op_num_threads = T, a warm-up, then back-to-back `sess.run` for
    >= 0.2 s, each call timed, the median call), then
    `qcc bench MODEL --json --threads T` on the same input (its median);
    the figure of each engine is the median over the rounds;
  * measures, in the same rounds, the machine's read bandwidth for a
    buffer of the size of qcc's weights (a numpy max over it on one
    thread, its median), and prints the weight bandwidth qcc's median
    reaches and its share of that;
  * prints the weights' bytes: the float MatMul's f32 weights, the
    MatMulNBits model file, and what qcc's compiled code keeps
    (`n · k/2` bytes of codes plus an f32 scale and a u8 zero point per
    block: `codegen/src/lower/nbits.rs`).

    python3 bench/nbits_ort.py                       # the issue's eight cases, 1 thread
    python3 bench/nbits_ort.py --threads 1,2 --rounds 5
    python3 bench/nbits_ort.py --accuracy-level 4    # int8 activations (dense_nbits_q8)
    python3 bench/nbits_ort.py --cases 1x4096x4096x32 --qcc target/release/qcc

Needs numpy, onnx, onnxruntime and onnx_ir (the quantizer imports it), and
a release build of qcc. Timings on a shared machine are noisy: the load
average is printed with the table.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import matmul_nbits_quantizer as mnq

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CASES = [
    "1x4096x4096x32", "1x4096x4096x128", "1x4096x11008x32", "1x4096x11008x128",
    "16x4096x4096x32", "16x4096x4096x128", "128x4096x4096x32", "128x4096x4096x128",
]


def make(path, m, k, n, block, level=0):
    rng = np.random.default_rng(k * 7 + n + block)
    w = (rng.standard_normal((k, n), dtype=np.float32) / np.sqrt(k)).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "mm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    cfg = mnq.DefaultWeightOnlyQuantConfig(
        block_size=block, is_symmetric=False, bits=4, accuracy_level=level or None
    )
    q = mnq.MatMulNBitsQuantizer(model, algo_config=cfg)
    q.process()
    qm = q.model.model if hasattr(q.model, "model") else q.model
    assert [nd.op_type for nd in qm.graph.node] == ["MatMulNBits"], qm.graph.node
    onnx.save(qm, path)
    return k * n * 4


def ort_time(sess, x, budget=0.2):
    for _ in range(5):
        sess.run(None, {"x": x})
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < budget or len(times) < 20:
        t0 = time.perf_counter_ns()
        sess.run(None, {"x": x})
        times.append(time.perf_counter_ns() - t0)
    return statistics.median(times)


def read_bandwidth(buf, budget=0.2):
    """Bytes a second one thread reads from `buf` (a numpy max over it as
    u64: SIMD, streaming), the median call over >= 0.2 s. One thread: numpy
    threads contend for the GIL, and on a shared 2-CPU machine the second
    core is rarely idle."""
    words = buf.view(np.uint64)
    words.max()
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < budget or len(times) < 10:
        t0 = time.perf_counter_ns()
        words.max()
        times.append(time.perf_counter_ns() - t0)
    return buf.nbytes / statistics.median(times) * 1e9


def qcc_time(qcc, path, xpath, threads):
    out = subprocess.run(
        [qcc, "bench", path, "-i", f"x={xpath}", "--json", "--threads", str(threads), "--runs", "200"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)["median_ns"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qcc", default=os.path.join(ROOT, "target", "release", "qcc"))
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--threads", default="1")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--accuracy-level",
        type=int,
        default=0,
        help="MatMulNBits accuracy_level: 0 (f32 activations) or 4 (int8 per block: qcc's dense_nbits_q8)",
    )
    args = ap.parse_args()
    models = os.path.join(HERE, "models")
    os.makedirs(models, exist_ok=True)
    tmp = tempfile.mkdtemp()
    rows = []
    for case in args.cases.split(","):
        m, k, n, block = map(int, case.split("x"))
        path = os.path.join(models, f"nbits_{case}_acc{args.accuracy_level}.onnx")
        f32_bytes = make(path, m, k, n, block, args.accuracy_level)
        x = np.random.default_rng(1).standard_normal((m, k), dtype=np.float32)
        xpath = os.path.join(tmp, f"{case}.x.npy")
        np.save(xpath, x)
        # Outputs first.
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        (want,) = sess.run(None, {"x": x})
        od = os.path.join(tmp, case)
        subprocess.run([args.qcc, "run", path, "-i", f"x={xpath}", "--output-dir", od],
                       check=True, capture_output=True)
        got = np.load(os.path.join(od, "y.npy"))
        rel = float(np.abs(got - want).max() / np.abs(want).max())
        assert rel < 1e-5, f"{case}: qcc and onnxruntime differ by {rel} (relative)"
        qcc_bytes = n * (k // 2) + 5 * n * (k // block)
        buf = np.random.default_rng(2).integers(0, 255, qcc_bytes // 8 * 8, dtype=np.uint8)
        for t in map(int, args.threads.split(",")):
            so = ort.SessionOptions()
            so.intra_op_num_threads = t
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
            o, q, bw = [], [], []
            for _ in range(args.rounds):
                o.append(ort_time(sess, x))
                q.append(qcc_time(args.qcc, path, xpath, t))
                bw.append(read_bandwidth(buf))
            o, q, bw = statistics.median(o), statistics.median(q), statistics.median(bw)
            print(f"{case} {t} thread(s): onnxruntime {o / 1e3:.0f} µs, qcc {q / 1e3:.0f} µs, "
                  f"ratio {o / q:.2f}, read {bw / 1e9:.1f} GB/s", file=sys.stderr, flush=True)
            rows.append((case, t, o, q, rel, f32_bytes, os.path.getsize(path), qcc_bytes, bw))
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, {os.cpu_count()} CPUs")
    print("| M×K×N×block | threads | onnxruntime µs | qcc µs | ort/qcc | qcc weight GB/s "
          "| 1-thread read GB/s | share | max rel diff | f32 weights MB | MatMulNBits .onnx MB | qcc weights MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for case, t, o, q, rel, fb, ob, qb, bw in rows:
        print(f"| {case} | {t} | {o / 1e3:.0f} | {q / 1e3:.0f} | {o / q:.2f} | {qb / q:.1f} "
              f"| {bw / 1e9:.1f} | {qb / q * 1e9 / bw:.0%} "
              f"| {rel:.1e} | {fb / 1e6:.1f} | {ob / 1e6:.1f} | {qb / 1e6:.1f} |")


if __name__ == "__main__":
    main()
