#!/usr/bin/env python3
"""Writes the benchmark graphs of bench/ (deterministic; needs numpy).

Each is one int8 matmul as qcc runs it after lowering: u8 activations
(per tensor), i8 weights with per-channel scales (zero point 0), an i32 bias,
the i32 accumulator requantized to u8:

    python3 bench/make_graphs.py          # the 512x512x512 graph (committed)
    python3 bench/make_graphs.py --all    # and the other shapes of issue 6
    qcc bench bench/matmul_512x512x512.txt --peak-gops 885
"""
import os
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPES = [(512, 512, 512), (1, 768, 768), (128, 768, 768), (16, 768, 3072), (256, 1024, 1024)]


def f32(v):
    return np.format_float_scientific(np.float32(v), unique=True, trim="-")


def write(m, k, n):
    rng = np.random.default_rng(m * 1_000_003 + k * 1009 + n)
    name = f"matmul_{m}x{k}x{n}"
    data = os.path.join(HERE, f"{name}_data")
    os.makedirs(data, exist_ok=True)
    sx = np.float32(0.02)
    sw = (rng.uniform(0.5, 1.5, n) * 0.01).astype(np.float32)
    sacc = (sx * sw).astype(np.float32)
    w = rng.integers(-127, 128, size=(k, n), dtype=np.int8)
    b = rng.integers(-20000, 20000, size=(n,), dtype=np.int32)
    np.save(os.path.join(data, "w.npy"), w)
    np.save(os.path.join(data, "b.npy"), b)
    sy = np.float32(0.25)
    w_t = ", ".join(f"{f32(s)}:0" for s in sw)
    acc_t = ", ".join(f"{f32(s)}:0" for s in sacc)
    text = f"""// {m}x{k}x{n} int8 matmul: u8 activations, i8 weights with per-channel
// scales, i32 bias, requantized to u8. Made by bench/make_graphs.py.
!x = !quant.uniform<u8:f32, {f32(sx)}:128>
!w = !quant.uniform<i8:f32:1, {{{w_t}}}>
!b = !quant.uniform<i32:f32:0, {{{acc_t}}}>
!acc = !quant.uniform<i32:f32:1, {{{acc_t}}}>
!y = !quant.uniform<u8:f32, {f32(sy)}:128>

graph @{name}(%x: tensor<{m}x{k}x!x>) -> (%y: tensor<{m}x{n}x!y>) {{
  %w = const dense_file<"{name}_data/w.npy"> : tensor<{k}x{n}x!w>
  %b = const dense_file<"{name}_data/b.npy"> : tensor<{n}x!b>
  %acc = matmul_int %x, %w, %b : tensor<{m}x{n}x!acc>
  %y = requantize %acc : tensor<{m}x{n}x!y>
  return %y
}}
"""
    with open(os.path.join(HERE, f"{name}.txt"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    import sys
    # Only the 512^3 graph is committed; `--all` writes the other shapes.
    for s in SHAPES if "--all" in sys.argv[1:] else SHAPES[:1]:
        write(*s)
