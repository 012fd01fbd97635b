"""Tests of the qcc Python module (``pip install ./python``; ``python3 -m
pytest python/tests -q``, also run by ``cargo test`` through
``tools/tests/python.rs``).

The outputs through Python are compared byte for byte with the ``qcc``
command's (``qcc run G --input NAME=FILE.npy --output-dir D``) on every
bundled example and every ONNX model in the repository. The command is
``$QCC_BIN``, else ``target/release/qcc`` or ``target/debug/qcc``.
"""

import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

import qcc

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.txt"))
ONNX_MODELS = sorted(
    p for p in ROOT.rglob("*.onnx") if "target" not in p.relative_to(ROOT).parts
)


def qcc_bin():
    for c in (
        os.environ.get("QCC_BIN"),
        ROOT / "target" / "release" / "qcc",
        ROOT / "target" / "debug" / "qcc",
    ):
        if c and Path(c).is_file():
            return str(c)
    pytest.skip("no qcc binary: set QCC_BIN or `cargo build --release --bin qcc`")


def random_feeds(model, seed):
    """Deterministic arrays of every input's dtype and shape (integers in
    the input's storage range, at most [-1000, 1000])."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for i in model.inputs:
        dt = np.dtype(i.dtype)
        if i.range is None:
            a = rng.standard_normal(i.shape).astype(dt)
        else:
            lo, hi = max(i.range[0], -1000), min(i.range[1], 1000)
            a = rng.integers(lo, hi + 1, i.shape).astype(dt)
        feeds[i.name] = a
    return feeds


def cli_run(path, feeds, tmp_path):
    """Runs `qcc run` on `feeds` (written as .npy); returns (outputs, stderr)."""
    args = [qcc_bin(), "run", str(path), "--output-dir", str(tmp_path / "out")]
    for k, (name, a) in enumerate(feeds.items()):
        f = tmp_path / f"in{k}.npy"
        np.save(f, a)
        args += ["--input", f"{name}={f}"]
    p = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        return None, p.stderr
    return {f.stem: np.load(f) for f in (tmp_path / "out").glob("*.npy")}, p.stderr


def assert_same(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


def check_against_cli(path, tmp_path):
    try:
        model = qcc.compile(path)
    except qcc.CompileError as e:
        # The CLI refuses it too, with the same message.
        out, stderr = cli_run(path, {}, tmp_path)
        assert out is None
        assert str(e) == stderr
        return
    feeds = random_feeds(model, 0)
    got = model.run(feeds)
    want, stderr = cli_run(path, feeds, tmp_path)
    assert want is not None, stderr
    assert sorted(got) == sorted(want)
    for name in want:
        assert_same(got[name], want[name])
    return model, feeds, got


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_matches_cli(path, tmp_path):
    model, feeds, got = check_against_cli(path, tmp_path)
    # The reference interpreter agrees bit for bit.
    ref = model.run_interpreter(feeds)
    for name in got:
        assert_same(got[name], ref[name])


@pytest.mark.parametrize("path", ONNX_MODELS, ids=lambda p: str(p.relative_to(ROOT)))
def test_onnx_model_matches_cli(path, tmp_path):
    check_against_cli(path, tmp_path)


def test_example_with_its_own_input(tmp_path):
    path = ROOT / "examples" / "worked_example.txt"
    model = qcc.compile(path)
    x = np.load(ROOT / "examples" / "worked_example" / "x.npy")
    (name,) = [i.name for i in model.inputs]
    want, stderr = cli_run(path, {name: x}, tmp_path)
    got = model.run({name: x})
    for k in want:
        assert_same(got[k], want[k])


def test_compile_from_bytes_and_text():
    onnx = ROOT / "onnx" / "testdata" / "backend" / "test_neg" / "model.onnx"
    a, b = qcc.compile(onnx), qcc.compile(onnx.read_bytes())
    feeds = random_feeds(a, 1)
    for k, v in a.run(feeds).items():
        assert_same(v, b.run(feeds)[k])
    text = (ROOT / "examples" / "worked_example.txt").read_text()
    # dense_file<...> paths would be relative to the working directory: this
    # example has its constants inline.
    m1, m2 = qcc.compile(text), qcc.compile(text.encode())
    feeds = random_feeds(m1, 2)
    for k, v in m1.run(feeds).items():
        assert_same(v, m2.run(feeds)[k])


def test_info_and_emit():
    m = qcc.compile(ROOT / "examples" / "digits_mlp.txt")
    (x,) = m.inputs
    assert isinstance(x.shape, tuple) and x.dtype in ("uint8", "int8", "float32")
    for i in m.inputs + m.outputs:
        if i.scale is not None:
            assert i.zero_point is not None
    assert "graph @" in m.emit("graph")
    assert m.emit("dot").startswith("digraph")
    assert "function" in m.emit("clif")
    assert m.emit("asm").strip()
    with pytest.raises(ValueError, match="unknown kind"):
        m.emit("svg")
    # The emitted graph is a valid graph that computes the same (one with
    # its constants inline: `dense_file` paths need the graph's folder).
    m = qcc.compile(ROOT / "examples" / "worked_example.txt")
    again = qcc.compile(m.emit("graph"), passes="none")
    feeds = random_feeds(m, 3)
    for k, v in m.run(feeds).items():
        assert_same(v, again.run(feeds)[k])


def test_passes_and_dims_options():
    path = ROOT / "examples" / "digits_mlp.txt"
    feeds = random_feeds(qcc.compile(path), 4)
    a = qcc.compile(path, passes=["lower-qdq", "fuse-requant"]).run(feeds)
    b = qcc.compile(path, passes="lower-qdq,fuse-requant", target="portable").run(feeds)
    for k in a:
        assert_same(a[k], b[k])
    with pytest.raises(qcc.CompileError, match="no-such-pass"):
        qcc.compile(path, passes="no-such-pass")
    with pytest.raises(ValueError, match="unknown target"):
        qcc.compile(path, target="gpu")
    with pytest.raises(ValueError, match="dims"):
        qcc.compile(path, dims={"N": 0})


def test_two_threads_run_one_model():
    m = qcc.compile(ROOT / "examples" / "digits_cnn.txt")
    feeds = [random_feeds(m, s) for s in range(16)]
    want = [m.run(f) for f in feeds]
    got = [[None] * len(feeds) for _ in range(2)]
    start = threading.Barrier(2)

    def work(t):
        start.wait()
        for _ in range(3):
            for k, f in enumerate(feeds):
                got[t][k] = m.run(f)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for t in range(2):
        for k in range(len(feeds)):
            for name in want[k]:
                assert_same(got[t][k][name], want[k][name])


def test_bad_feeds():
    m = qcc.compile(ROOT / "examples" / "digits_mlp.txt")
    (x,) = m.inputs
    good = random_feeds(m, 5)[x.name]
    with pytest.raises(ValueError, match="no input `nope`"):
        m.run({x.name: good, "nope": good})
    with pytest.raises(ValueError, match="missing inputs"):
        m.run({})
    other = np.float64 if x.dtype != "float64" else np.float32
    with pytest.raises(ValueError, match="dtype"):
        m.run({x.name: good.astype(other)})
    with pytest.raises(ValueError, match="shape"):
        m.run({x.name: good.reshape(-1)[:-1]})
    with pytest.raises(TypeError, match="numpy.ndarray"):
        m.run({x.name: good.tolist()})
    with pytest.raises(TypeError, match="dict"):
        m.run([good])
    with pytest.raises(ValueError):
        m.run_interpreter({})
    # A non-contiguous view is read in row-major order.
    big = np.stack([good, good], axis=-1)[..., 0]
    assert not big.flags["C_CONTIGUOUS"]
    for k, v in m.run({x.name: big}).items():
        assert_same(v, m.run({x.name: good})[k])


MALFORMED = """graph @g(%x: tensor<2xf32>) -> (%y: tensor<2xf32>) {
  %r = relu %q : tensor<2xf32>
  return %r
}
"""


def test_malformed_graph_raises_located_compile_error(tmp_path):
    with pytest.raises(qcc.CompileError) as e:
        qcc.compile(MALFORMED)
    assert re.search(r"<string>:2:\d+", str(e.value)), str(e.value)
    f = tmp_path / "bad.txt"
    f.write_text(MALFORMED)
    with pytest.raises(qcc.CompileError) as e:
        qcc.compile(str(f))
    assert re.search(re.escape(str(f)) + r":2:\d+", str(e.value)), str(e.value)
    # The same text the command prints.
    p = subprocess.run([qcc_bin(), "check", str(f)], capture_output=True, text=True)
    assert p.returncode != 0 and p.stderr == str(e.value)
    with pytest.raises(qcc.CompileError, match="cannot read"):
        qcc.compile(str(tmp_path / "missing.txt"))
    with pytest.raises(TypeError):
        qcc.compile(42)
