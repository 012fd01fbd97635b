"""Writes the dense_nbits and dense_nbits_q8 run cases of this folder
(python3 make_cases.py).

Each case: random codes, scales and zero points for a blocked weight, an
f32 input from the harness's seed. Shapes cover the vector kernels' tiles
and their remainders (M not a multiple of 4, N not of 8), each storage
type, blocks of 16 to 128, and shapes only the portable loop takes (K or
the block not a multiple of 16).
"""
import random

CASES = [
    # name, x shape, n, k, block, storage, bias
    ("u4_m5_n21_k64_b16_bias", [5, 64], 21, 64, 16, "u4", True),
    ("u4_m1_n19_k256_b128", [1, 256], 19, 256, 128, "u4", False),
    ("i4_m6_n9_k96_b32", [2, 3, 96], 9, 96, 32, "i4", True),
    ("u8_m3_n17_k48_b16", [3, 48], 17, 48, 16, "u8", False),
    ("i8_m4_n8_k64_b64_bias", [4, 64], 8, 64, 64, "i8", True),
    ("u4_m2_n5_k9_b3_portable", [2, 9], 5, 9, 3, "u4", True),
    ("i4_m3_n4_k40_b20_portable", [3, 40], 4, 40, 20, "i4", False),
    # dense_nbits_q8 (activations quantized per block): more than 16 blocks
    # a row (every lane, twice), each storage type, a portable shape.
    ("q8_u4_m5_n21_k64_b16_bias", [5, 64], 21, 64, 16, "u4", True),
    ("q8_u4_m2_n3_k1024_b32", [2, 1024], 3, 1024, 32, "u4", False),
    ("q8_i4_m6_n9_k256_b128", [2, 3, 256], 9, 256, 128, "i4", True),
    ("q8_i8_m3_n5_k96_b16", [3, 96], 5, 96, 16, "i8", False),
    ("q8_u8_m4_n8_k64_b64_bias", [4, 64], 8, 64, 64, "u8", True),
    ("q8_u4_m2_n5_k9_b3_portable", [2, 9], 5, 9, 3, "u4", True),
    # The VNNI kernel's shapes: 16 blocks a step, blocks of 32, 64, 128, 256.
    ("q8_u4_m3_n5_k1024_b64_bias", [3, 1024], 5, 1024, 64, "u4", True),
    ("q8_i4_m2_n3_k2048_b128", [2, 2048], 3, 2048, 128, "i4", False),
    ("q8_u4_m1_n2_k4096_b256", [1, 4096], 2, 4096, 256, "u4", True),
]

RANGES = {"u4": (0, 15), "i4": (-8, 7), "u8": (0, 255), "i8": (-128, 127)}


def f(x):
    return repr(float(x))


for i, (name, xs, n, k, block, st, bias) in enumerate(CASES):
    op = "dense_nbits_q8" if name.startswith("q8_") else "dense_nbits"
    rng = random.Random(1000 + i)
    lo, hi = RANGES[st]
    codes = [rng.randint(lo, hi) for _ in range(n * k)]
    params = []
    for _ in range(n * (k // block)):
        s = float.fromhex(rng.choice(["0x1.0p-4", "0x1.8p-5", "0x1.3p-6"])) * rng.uniform(0.5, 2)
        params.append(f"{f(s)}:{rng.randint(lo, hi)}")
    ys = xs[:-1] + [n]
    t = lambda s: "x".join(map(str, s))
    wt = f"tensor<{n}x{k}x!quant.uniform<{st}:f32:{{1:{block}}}, {{{', '.join(params)}}}>>"
    lines = [
        "// test: run",
        f"// {op}, {st} weights [{n}, {k}] in blocks of {block}, x {xs}"
        + (", with a bias" if bias else "") + " (written by make_cases.py).",
        f"// inputs: seed={i + 1}",
        f"graph @{name}(%x: tensor<{t(xs)}xf32>) -> (%y: tensor<{t(ys)}xf32>) {{",
        f"  %w = const dense<[{', '.join(map(str, codes))}]> : {wt}",
    ]
    args = "%x, %w"
    if bias:
        bv = [f(rng.uniform(-1, 1)) for _ in range(n)]
        lines.append(f"  %b = const dense<[{', '.join(bv)}]> : tensor<{n}xf32>")
        args += ", %b"
    lines += [f"  %0 = {op} {args} : tensor<{t(ys)}xf32>", "  return %0", "}"]
    open(f"{name}.txt", "w").write("\n".join(lines) + "\n")
