#!/usr/bin/env python3
"""qcc against onnxruntime, side by side, on the same ONNX models (issue 6).

Writes single-op int8 ONNX models (QLinearMatMul with per-column weight
scales, QLinearConv with per-channel weights and an int32 bias, u8 in and out,
weights as initializers, deterministic data) to bench/models/ (git-ignored),
adds the small end-to-end models of onnx/testdata/models/ (mlp, cnn, res as
QDQ and QOperator, batch 1 and 64) and a trivial graph (Identity on 1x768 u8)
for the fixed cost per call. Then, for each case:

  * onnxruntime in-process: intra_op_num_threads = 1 and 2, ORT_ENABLE_ALL,
    warm-up >= 0.3 s, then 7 trials of >= 0.15 s of back-to-back sess.run
    (the method of ../shared/anchors/int8-perf-this-machine.md), each call
    timed: the figure is the median call, like qcc's (the median of the
    trials' means, the anchor's figure, is in the JSON; on a core shared with
    other work it counts the time the process was descheduled);
  * qcc: `qcc bench MODEL --json --threads T --peak-gops 885` on the same input
    (.npy), 3 invocations, the median of their figures. With `--threads 2`
    the record's `median_ns` is the latency of one run on 2 threads (qcc
    splits large GEMMs between them, as onnxruntime's intra-op threads do)
    and `median_ns_1t` the one-thread latency;
  * a check that both compute the same thing: one run of each on the same
    input (`qcc run --output-dir`), share of output elements exactly equal
    (any difference is also named in the notes column).

Percentages are of the peak this machine measures in the same run (`qcc peak
--json --threads 2`: the int8 instruction of the path qcc's JIT picks, on
register accumulators, at 1 and 2 threads), or of --peak1/--peak2 when given. On a CPU with AMX-INT8 onnxruntime runs its GEMMs on
AMX tiles, and can pass 100%.

It prints one Markdown table. Batch-1 cases also get the 1T ratio with
onnxruntime's per-call overhead (the trivial graph's time) subtracted.

    taskset -c 1 python3 bench/compare_ort.py --threads 1          # one core
    python3 bench/compare_ort.py                                    # 1T and 2T
    python3 bench/compare_ort.py --quick --cases mm_,conv --json out.json
    python3 bench/compare_ort.py --qcc /path/to/qcc --list

Needs numpy, onnx and onnxruntime (pip install numpy onnx onnxruntime) and
a release build of qcc (cargo build --release --bin qcc).
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
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TESTDATA = os.path.join(ROOT, "onnx", "testdata", "models")
OPSET = 21
IR_VERSION = 10  # opset 21; onnxruntime 1.31 reads IR <= 13, onnx 1.23 writes 14 by default

PEAK = {1: 885.0, 2: 1750.0}

MATMULS = [(16, 768, 3072), (128, 768, 768), (256, 1024, 1024), (512, 512, 512),
           (1024, 1024, 1024), (1, 768, 768), (1, 4096, 4096)]
# (name, C_in, C_out, H=W, kernel, pad, group)
CONVS = [("conv3x3_64x64_56", 64, 64, 56, 3, 1, 1),
         ("conv1x1_128x256_28", 128, 256, 28, 1, 0, 1),
         ("dwconv3x3_32_112", 32, 32, 112, 3, 1, 32)]
E2E = ["mlp", "cnn", "res"]


# ---------------------------------------------------------------- the models

def _save(model, path):
    onnx.checker.check_model(model)
    tmp = path + ".tmp"
    onnx.save(model, tmp)
    os.replace(tmp, path)


def _out_scale(sx, sw, k, spread=74.0, wspread=73.0, codes=40.0):
    """A y scale that puts the requantized outputs ~`codes` codes around
    the zero point (std of a sum of k products of centred uniform values)."""
    acc_std = np.sqrt(k) * spread * wspread
    return np.float32(sx * float(np.mean(sw)) * acc_std / codes)


def make_matmul(path, m, k, n):
    rng = np.random.default_rng([1, m, k, n])
    sx, zx = np.float32(0.02), np.uint8(128)
    sw = (rng.uniform(0.5, 1.5, n) * 0.01).astype(np.float32)
    w = rng.integers(-127, 128, size=(k, n), dtype=np.int8)
    sy, zy = _out_scale(sx, sw, k), np.uint8(128)
    inits = [
        numpy_helper.from_array(np.array(sx), "x_scale"),
        numpy_helper.from_array(np.array(zx), "x_zp"),
        numpy_helper.from_array(w, "w"),
        numpy_helper.from_array(sw, "w_scale"),
        numpy_helper.from_array(np.zeros(n, np.int8), "w_zp"),
        numpy_helper.from_array(np.array(sy), "y_scale"),
        numpy_helper.from_array(np.array(zy), "y_zp"),
    ]
    node = helper.make_node("QLinearMatMul",
                            ["x", "x_scale", "x_zp", "w", "w_scale", "w_zp", "y_scale", "y_zp"],
                            ["y"])
    g = helper.make_graph([node], f"qlinearmatmul_{m}x{k}x{n}",
                          [helper.make_tensor_value_info("x", TensorProto.UINT8, [m, k])],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, [m, n])], inits)
    _save(helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION), path)
    x = rng.integers(0, 256, size=(m, k), dtype=np.uint8)
    return {"x": x}


def make_conv(path, c, mo, hw, ks, pad, group):
    rng = np.random.default_rng([2, c, mo, hw, ks, pad, group])
    cg = c // group
    sx, zx = np.float32(0.02), np.uint8(128)
    sw = (rng.uniform(0.5, 1.5, mo) * 0.01).astype(np.float32)
    w = rng.integers(-127, 128, size=(mo, cg, ks, ks), dtype=np.int8)
    k = cg * ks * ks
    bias = rng.integers(-2000, 2000, size=(mo,), dtype=np.int32)
    sy, zy = _out_scale(sx, sw, k), np.uint8(128)
    inits = [
        numpy_helper.from_array(np.array(sx), "x_scale"),
        numpy_helper.from_array(np.array(zx), "x_zp"),
        numpy_helper.from_array(w, "w"),
        numpy_helper.from_array(sw, "w_scale"),
        numpy_helper.from_array(np.zeros(mo, np.int8), "w_zp"),
        numpy_helper.from_array(np.array(sy), "y_scale"),
        numpy_helper.from_array(np.array(zy), "y_zp"),
        numpy_helper.from_array(bias, "b"),
    ]
    node = helper.make_node("QLinearConv",
                            ["x", "x_scale", "x_zp", "w", "w_scale", "w_zp", "y_scale", "y_zp", "b"],
                            ["y"], kernel_shape=[ks, ks], pads=[pad] * 4, strides=[1, 1],
                            dilations=[1, 1], group=group)
    oh = hw + 2 * pad - ks + 1
    g = helper.make_graph([node], "qlinearconv",
                          [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, c, hw, hw])],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, mo, oh, oh])],
                          inits)
    _save(helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION), path)
    x = rng.integers(0, 256, size=(1, c, hw, hw), dtype=np.uint8)
    return {"x": x}


def make_identity(path, n=768):
    node = helper.make_node("Identity", ["x"], ["y"])
    g = helper.make_graph([node], "identity",
                          [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, n])],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, n])])
    _save(helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION), path)
    x = np.random.default_rng([3, n]).integers(0, 256, size=(1, n), dtype=np.uint8)
    return {"x": x}


def e2e_inputs(name, batch):
    x = np.load(os.path.join(TESTDATA, f"{name}.inputs.npy"))
    reps = -(-batch // x.shape[0])
    x = np.concatenate([x] * reps)[:batch]
    return {"x": np.ascontiguousarray(x)}


def all_cases():
    """(name, kind, macs or None, batch1, maker) with maker(models_dir) ->
    (model path, {input name: array})."""
    cases = [("trivial_identity_1x768", "overhead", 0, True,
              lambda d: _made(d, "identity_1x768", make_identity))]
    for m, k, n in MATMULS:
        cases.append((f"mm_{m}x{k}x{n}", "QLinearMatMul", m * k * n, m == 1,
                      lambda d, m=m, k=k, n=n: _made(d, f"qlinearmatmul_{m}x{k}x{n}",
                                                     make_matmul, m, k, n)))
    for name, c, mo, hw, ks, pad, group in CONVS:
        oh = hw + 2 * pad - ks + 1
        macs = mo * oh * oh * (c // group) * ks * ks
        cases.append((name, "QLinearConv", macs, True,
                      lambda d, a=(name, c, mo, hw, ks, pad, group):
                      _made(d, a[0], make_conv, *a[1:])))
    for name in E2E:
        for fmt in ("qdq_u8", "qop_u8"):
            for batch in (1, 64):
                cases.append((f"{name}.{fmt}_b{batch}", "end-to-end", None, batch == 1,
                              lambda d, name=name, fmt=fmt, batch=batch:
                              (os.path.join(TESTDATA, f"{name}.{fmt}.onnx"),
                               e2e_inputs(name, batch))))
    return cases


def _made(models_dir, stem, fn, *args):
    path = os.path.join(models_dir, stem + ".onnx")
    return path, fn(path, *args)


# ---------------------------------------------------------------- timing

def ort_session(path, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    t0 = time.perf_counter()
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return sess, time.perf_counter() - t0


def time_ort(sess, feeds, warmup_s, trials, trial_s):
    """After a warm-up of at least `warmup_s`, `trials` trials of at least
    `trial_s` of back-to-back sess.run, each call timed. Returns seconds per
    call: the median over all calls (the figure compared with qcc's
    `median_ns`, which is also a median of single runs; robust to the
    process being descheduled on a shared core), min, max, and the median of
    the trials' mean times (the anchor's figure; equal on a quiet core)."""
    run = sess.run
    clock = time.perf_counter_ns
    n, t0 = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - t0 < warmup_s:
        run(None, feeds)
        n += 1
    per = (time.perf_counter() - t0) / n
    calls = max(1, int(trial_s / per))
    times, means = [], []
    for _ in range(trials):
        ts = [0] * (calls + 1)
        ts[0] = clock()
        for i in range(calls):
            run(None, feeds)
            ts[i + 1] = clock()
        times += [(b - a) * 1e-9 for a, b in zip(ts, ts[1:])]
        means.append((ts[-1] - ts[0]) * 1e-9 / calls)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "trial_mean_median_s": statistics.median(means), "calls": len(times)}


def qcc_cmd(qcc, sub, path, inputs):
    cmd = [qcc, sub, path]
    for name, p in inputs.items():
        cmd += ["--input", f"{name}={p}"]
    return cmd


def qcc_bench(qcc, path, inputs, threads, runs, warmup, peak):
    cmd = qcc_cmd(qcc, "bench", path, inputs) + [
        "--json", "--threads", str(threads), "--peak-gops", str(peak),
        "--runs", str(runs), "--warmup", str(warmup)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError((p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[0])
    return json.loads(p.stdout)


def qcc_outputs(qcc, path, inputs, out_names):
    """qcc's outputs on `inputs` (one `qcc run`), and the wall time of that
    process (import, passes, code generation, one run, writing .npy)."""
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        p = subprocess.run(qcc_cmd(qcc, "run", path, inputs) + ["--output-dir", d],
                           capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            raise RuntimeError((p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[0])
        files = sorted(f for f in os.listdir(d) if f.endswith(".npy"))
        outs = []
        for i, name in enumerate(out_names):
            f = name + ".npy"
            if f not in files:
                f = files[i] if len(files) == len(out_names) else None
            outs.append(None if f is None else np.load(os.path.join(d, f)))
        return outs, wall


def compare(ref, got):
    """(share of elements exactly equal, max |difference| in the output's
    units, a note or None)."""
    if got is None:
        return None, None, "qcc output missing"
    if ref.shape != got.shape:
        return 0.0, None, f"shape {got.shape} vs ORT {ref.shape}"
    if ref.dtype != got.dtype:
        note = f"dtype {got.dtype} vs ORT {ref.dtype}"
    else:
        note = None
    a, b = ref.astype(np.float64), got.astype(np.float64)
    eq = float(np.mean(a == b)) if a.size else 1.0
    diff = float(np.max(np.abs(a - b))) if a.size else 0.0
    return eq, diff, note


# ---------------------------------------------------------------- the run

def run_case(case, args, models_dir, inputs_dir, overhead):
    name, kind, macs, batch1, maker = case
    r = {"case": name, "kind": kind, "batch1": batch1, "notes": []}
    path, feeds = maker(models_dir)
    r["model"] = os.path.relpath(path, ROOT)
    in_files = {}
    for k, v in feeds.items():
        f = os.path.join(inputs_dir, f"{name}.{k}.npy")
        np.save(f, v)
        in_files[k] = f

    # onnxruntime
    ort_ref = None
    for t in args.threads:
        try:
            sess, init_s = ort_session(path, t)
            r[f"ort_{t}t"] = time_ort(sess, feeds, args.warmup_s, args.trials, args.trial_s)
            r[f"ort_{t}t"]["session_s"] = init_s
            if ort_ref is None:
                out_names = [o.name for o in sess.get_outputs()]
                ort_ref = (out_names, sess.run(None, feeds))
            del sess
        except Exception as e:  # noqa: BLE001 (report, go on)
            r["notes"].append(f"ORT {t}T failed: {str(e).splitlines()[0][:120]}")

    # qcc: probe once for the run count, then `reps` invocations
    est = r.get("ort_1t", {}).get("median_s")
    try:
        probe = qcc_bench(args.qcc, path, in_files, 1, 5, 1, PEAK[1])
        est = max(probe["median_ns"] * 1e-9, 1e-7)
        if macs is None:
            macs = probe.get("macs")
        runs = int(min(100_000, max(20, args.qcc_budget_s / est)))
        warm = max(3, runs // 10)
        tmax = max(args.threads)
        recs = [qcc_bench(args.qcc, path, in_files, tmax, runs, warm, PEAK[1])
                for _ in range(args.qcc_reps)]
        med = lambda key: statistics.median(x[key] for x in recs if x.get(key) is not None)  # noqa: E731
        r["qcc"] = {"runs": runs, "warmup": warm, "reps": len(recs),
                    "dot_path": recs[0].get("dot_path"), "macs_qcc": recs[0].get("macs"),
                    "compile_s": med("compile_ns") * 1e-9,
                    "compile_s_all": [x["compile_ns"] * 1e-9 for x in recs],
                    # With --threads N > 1 the record's median is N threads'
                    # latency and `median_ns_1t` the one-thread latency.
                    "median_s": med("median_ns_1t" if tmax > 1 else "median_ns") * 1e-9,
                    "min_s": min(x["min_ns"] for x in recs) * 1e-9,
                    "max_s": max(x["max_ns"] for x in recs) * 1e-9,
                    "throughput_1t_per_s": med("throughput_per_s")}
        if tmax > 1:
            r["qcc"][f"median_{tmax}t_s"] = med("median_ns") * 1e-9
            r["qcc"][f"median_{tmax}t_all"] = [x["median_ns"] * 1e-9 for x in recs]
        if macs is not None and recs[0].get("macs") not in (None, macs):
            r["notes"].append(f"qcc counts {recs[0]['macs']} MACs")
    except Exception as e:  # noqa: BLE001
        r["notes"].append(f"qcc bench failed: {str(e)[:160]}")
    r["macs"] = macs

    # same outputs?
    if ort_ref is not None:
        try:
            outs, wall = qcc_outputs(args.qcc, path, in_files, ort_ref[0])
            r["qcc_run_process_s"] = wall
            checks = [compare(a, b) for a, b in zip(ort_ref[1], outs)]
            eqs = [c[0] for c in checks if c[0] is not None]
            r["match"] = {"exact_share": min(eqs) if eqs else None,
                          "max_abs_diff": max((c[1] for c in checks if c[1] is not None),
                                              default=None),
                          "outputs": ort_ref[0]}
            for c in checks:
                if c[2]:
                    r["notes"].append(c[2])
            if r["match"]["exact_share"] is not None and r["match"]["exact_share"] < 1:
                r["notes"].append(f"outputs differ from ORT's on "
                                  f"{100 * (1 - r['match']['exact_share']):.1f}% of elements")
        except Exception as e:  # noqa: BLE001
            r["notes"].append(f"qcc run failed: {str(e)[:160]}")

    # derived figures
    for t in args.threads:
        o = r.get(f"ort_{t}t")
        q = r.get("qcc")
        qs = None
        if q:
            qs = q["median_s"] if t == 1 else q.get(f"median_{t}t_s")
        d = {"ort_s": o["median_s"] if o else None, "qcc_s": qs}
        for who in ("ort", "qcc"):
            s = d[f"{who}_s"]
            d[f"{who}_gops"] = 2 * macs / s / 1e9 if (s and macs) else None
            d[f"{who}_peak_share"] = d[f"{who}_gops"] / PEAK[t] if d[f"{who}_gops"] else None
        d["speedup"] = d["ort_s"] / qs if (d["ort_s"] and qs) else None
        ovh = overhead.get(t)
        if batch1 and kind != "overhead" and ovh is not None and d["ort_s"] and qs:
            d["ort_net_s"] = max(d["ort_s"] - ovh, 0.0)
            d["speedup_net"] = d["ort_net_s"] / qs
        r[f"t{t}"] = d
    return r


def cpu_info():
    model, flags = "unknown CPU", []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                k = k.strip()
                if k == "model name" and model == "unknown CPU":
                    model = v.strip()
                elif k == "flags" and not flags:
                    flags = v.split()
    except OSError:
        pass
    keep = [f for f in flags if "avx512" in f or "vnni" in f or f.startswith("amx")]
    return {"model": model, "flags": keep}


def fmt_us(s):
    if s is None:
        return "–"
    us = s * 1e6
    return f"{us:.2f}" if us < 10 else f"{us:.1f}" if us < 1000 else f"{us:.0f}"


def fmt_gops(g, share):
    if g is None:
        return "–"
    return f"{g:.0f} ({100 * share:.0f}%)" if share is not None else f"{g:.0f}"


def fmt_ratio(x):
    return "–" if x is None else f"{x:.2f}×"


def fmt_macs(m):
    if not m:
        return "0" if m == 0 else "?"
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if m >= div:
            return f"{m / div:.3g}{suf}"
    return str(m)


def table(results, threads):
    head = ["case", "MACs"]
    for t in threads:
        head += [f"ORT {t}T µs", f"ORT {t}T GOPS (% of {PEAK[t]:.0f})",
                 f"qcc {t}T µs", f"qcc {t}T GOPS (%)", f"qcc/ORT speed {t}T"]
    head += ["1T speed, ORT overhead subtracted",
             "ms: qcc compile / `qcc run` process / ORT session",
             "outputs equal", "notes"]
    rows = []
    for r in results:
        row = [r["case"], fmt_macs(r.get("macs"))]
        for t in threads:
            d = r.get(f"t{t}", {})
            row += [fmt_us(d.get("ort_s")), fmt_gops(d.get("ort_gops"), d.get("ort_peak_share")),
                    fmt_us(d.get("qcc_s")), fmt_gops(d.get("qcc_gops"), d.get("qcc_peak_share")),
                    fmt_ratio(d.get("speedup"))]
        d1 = r.get("t1", {})
        row.append(fmt_ratio(d1.get("speedup_net")) if "speedup_net" in d1 else "")
        q, o = r.get("qcc"), r.get(f"ort_{threads[0]}t")
        qr = r.get("qcc_run_process_s")
        row.append(" / ".join([f"{q['compile_s'] * 1e3:.1f}" if q else "–",
                               f"{qr * 1e3:.0f}" if qr else "–",
                               f"{o['session_s'] * 1e3:.1f}" if o else "–"]))
        m = r.get("match")
        if m and m.get("exact_share") is not None:
            s = f"{100 * m['exact_share']:.1f}%" if m["exact_share"] < 1 else "100%"
            if m["exact_share"] < 1 and m.get("max_abs_diff") is not None:
                s += f" (max diff {m['max_abs_diff']:.3g})"
            row.append(s)
        else:
            row.append("–")
        row.append("; ".join(r["notes"]))
        rows.append(row)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)



def measured_peaks(qcc):
    """This machine's int8 peak at 1 and 2 threads, as `qcc peak` measures it
    for the path its JIT picks."""
    r = subprocess.run([qcc, "peak", "--json", "--threads", "2"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"error: `qcc peak --json` failed: {r.stderr.strip()}")
    rec = json.loads(r.stdout)
    probe = {"amx": "amx", "avx512vnni": "avx512vnni", "avxvnni": "avxvnni"}.get(
        rec["best_path"], "avx2")
    fig = {f["threads"]: f["median"] for f in rec["figures"] if f["probe"] == probe}
    if 1 not in fig:
        sys.exit("error: `qcc peak` has no probe for this host's path; give --peak1/--peak2")
    return fig[1], fig.get(2, 2 * fig[1])

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qcc", default=os.path.join(ROOT, "target", "release", "qcc"),
                    help="the qcc binary (default: target/release/qcc)")
    ap.add_argument("--cases", default="",
                    help="comma-separated substrings; run the cases whose name contains one "
                         "(the trivial graph always runs: it gives the per-call overhead)")
    ap.add_argument("--threads", default="1,2",
                    help="thread counts, from 1 and 2 (default 1,2)")
    ap.add_argument("--quick", action="store_true", help="a short run (less precise)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--models-dir", default=os.path.join(HERE, "models"),
                    help="where the models and inputs go (default bench/models, git-ignored)")
    ap.add_argument("--peak1", type=float, metavar="GOPS",
                    help="one-core int8 peak for the %% columns (default: measured, `qcc peak`)")
    ap.add_argument("--peak2", type=float, metavar="GOPS",
                    help="two-core peak (default: measured)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    args = ap.parse_args()

    if args.peak1 is None or args.peak2 is None:
        m1, m2 = measured_peaks(args.qcc)
        args.peak1 = args.peak1 if args.peak1 is not None else m1
        args.peak2 = args.peak2 if args.peak2 is not None else m2
    PEAK[1], PEAK[2] = args.peak1, args.peak2
    args.threads = sorted({int(t) for t in args.threads.split(",") if t.strip()})
    if not args.threads or args.threads[0] != 1 or any(t not in PEAK for t in args.threads):
        ap.error("--threads: 1, or 1,2")
    if args.quick:
        args.warmup_s, args.trials, args.trial_s = 0.1, 3, 0.05
        args.qcc_budget_s, args.qcc_reps = 0.05, 1
    else:
        args.warmup_s, args.trials, args.trial_s = 0.3, 7, 0.15
        args.qcc_budget_s, args.qcc_reps = 0.15, 3

    cases = all_cases()
    if args.list:
        for c in cases:
            print(f"{c[0]:28} {c[1]}")
        return 0
    if args.cases:
        pats = [p for p in args.cases.split(",") if p]
        cases = [c for c in cases if c[1] == "overhead" or any(p in c[0] for p in pats)]
    if not os.access(args.qcc, os.X_OK):
        sys.exit(f"error: no qcc binary at {args.qcc} (cargo build --release --bin qcc, "
                 "or give --qcc PATH)")
    cpus = len(os.sched_getaffinity(0))
    if cpus < max(args.threads):
        print(f"warning: this process may use {cpus} CPU(s); the {max(args.threads)}-thread "
              "figures will be wrong", file=sys.stderr)

    import onnxruntime
    os.makedirs(args.models_dir, exist_ok=True)
    inputs_dir = os.path.join(args.models_dir, "inputs")
    os.makedirs(inputs_dir, exist_ok=True)
    qv = subprocess.run([args.qcc, "--version"], capture_output=True, text=True).stdout.strip()
    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "onnxruntime": onnxruntime.__version__,
            "onnx": onnx.__version__, "numpy": np.__version__, "qcc": qv or args.qcc,
            "threads": args.threads, "quick": args.quick, "cpus_allowed": sorted(os.sched_getaffinity(0)),
            "peak_gops": PEAK, "ort_method": {"warmup_s": args.warmup_s, "trials": args.trials,
                                              "trial_s": args.trial_s},
            "qcc_method": {"budget_s": args.qcc_budget_s, "reps": args.qcc_reps}}

    meta["cpu"] = cpu_info()
    if "amx_int8" in meta["cpu"]["flags"]:
        print("note: this CPU has AMX-INT8; onnxruntime's MLAS uses it (tdpbusd) for int8 GEMMs, "
              "so its GOPS can exceed the VNNI peak", file=sys.stderr)

    t_start = time.time()
    results, overhead = [], {}
    for case in cases:
        print(f"  {case[0]} ...", file=sys.stderr, flush=True)
        r = run_case(case, args, args.models_dir, inputs_dir, overhead)
        if case[1] == "overhead":
            overhead = {t: r[f"ort_{t}t"]["median_s"] for t in args.threads
                        if f"ort_{t}t" in r}
            r["notes"].append("per-call overhead: "
                              + ", ".join(f"ORT {t}T {s * 1e6:.2f} µs" for t, s in overhead.items())
                              + (f", qcc {r['qcc']['median_s'] * 1e6:.2f} µs" if r.get("qcc") else ""))
        results.append(r)
    meta["elapsed_s"] = time.time() - t_start

    amx = " (AMX-INT8)" if "amx_int8" in meta["cpu"]["flags"] else ""
    print(f"{meta['cpu']['model']}{amx}; "
          f"onnxruntime {meta['onnxruntime']} vs {meta['qcc']}; {meta['date']}; "
          f"CPUs allowed {meta['cpus_allowed']}; {'quick' if args.quick else 'full'} run, "
          f"{meta['elapsed_s']:.0f} s")
    print(table(results, args.threads))
    print(f"\nµs: median per run. GOPS = 2·MACs/time; % of the peak ({PEAK[1]:.0f} GOPS 1T, "
          f"{PEAK[2]:.0f} 2T). "
          f"qcc/ORT speed > 1: qcc faster. 2T: one run on 2 threads (both). Outputs equal: share of output elements bit-identical "
          "to ORT's on the same input. Compile: qcc's `compile_ns` (the pass pipeline and "
          "code generation; the ONNX import comes before it, `load_ns`), the wall time of one "
          "`qcc run` process, onnxruntime's session creation.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
