#!/usr/bin/env python3
"""Export the ONNX backend test suite's node cases for the quantization ops
and the float elementwise ops.

Recent `onnx` wheels ship the case generators (`onnx.backend.test.case.node`)
but not the generated data folders. This script runs the generators and
writes, for every case whose single node is one of OPS:

    onnx/testdata/backend/<case>/model.onnx
    onnx/testdata/backend/<case>/input_<i>.npy, output_<i>.npy
    onnx/testdata/backend/<case>/case.json   (names, ONNX dtypes, shapes)

Arrays are saved in a dtype qcc's .npy reader understands when one exists:
4-bit integers (ml_dtypes int4/uint4) as one int8/uint8 per element,
float16 as float32 (exact). Other
dtypes (float16, float8, uint16, 2-bit ...) are saved as raw integer views
with their ONNX dtype in case.json; the runner reports those cases as
unsupported by name.

Usage: python3 onnx/scripts/export_backend_cases.py [OUT_DIR]
"""

import json
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto
from onnx.backend.test.case import node as node_cases

OPS = [
    "QuantizeLinear",
    "DequantizeLinear",
    "QLinearMatMul",
    "QLinearConv",
    "MatMulInteger",
    "ConvInteger",
    "DynamicQuantizeLinear",
]

# Float ops between and around the quantized regions (issue 14). Their
# reference outputs come from numpy (often in float64, then rounded), so the
# runner compares them within a small tolerance (testsuite/tests/
# onnx_conformance.rs, FLOAT_FNS); the JIT must still equal qcc's
# interpreter bit for bit.
FLOAT_OPS = [
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min",
    "Neg", "Abs", "Sqrt", "Reciprocal", "Exp", "Log", "Floor", "Ceil", "Round",
    "Erf", "Tanh", "Sigmoid", "HardSigmoid", "HardSwish", "LeakyRelu", "Relu", "Gelu",
    # Reductions and data movement of the real models (issue 14).
    "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "GlobalMaxPool", "LayerNormalization",
    "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp", "ReduceProd",
    "InstanceNormalization",
    "Softmax",
    "Resize", "SpaceToDepth", "DepthToSpace", "Slice", "Split", "Gather", "GatherElements",
    "Transpose", "Concat",
    "LSTM", "GRU",
]

# Comparisons, selection and casts: f32, BOOL (saved as u8 0/1, qcc's
# boolean) and the 8-, 16- and 32-bit integers; exact.
# (Not's cases are opset-1 models, older than qcc reads.)
LOGIC_OPS = ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Where", "Cast"]
# ArgMax / ArgMin of f32: their int64 indices are saved as int32 (qcc's).
ARG_OPS = ["ArgMax", "ArgMin"]
# GatherElements of f32 at int64 indices: the indices are bound (saved as
# int32).
LOGIC_TYPES = {
    TensorProto.FLOAT, TensorProto.BOOL, TensorProto.INT32, TensorProto.INT16,
    TensorProto.UINT16, TensorProto.INT8, TensorProto.UINT8,
}


# Float ops whose later inputs are int64 shape operands (axes, sizes,
# starts, pads): the runner binds them as constants (qcc_onnx's
# param_slots); they are saved as int32 (qcc has no 64-bit integers).
SHAPE_INPUT_OPS = {
    "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL1", "ReduceL2",
    "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp", "ReduceProd", "Resize", "Split", "Slice",
    "GatherElements",
}


def onnx_dtype_of(value_info):
    t = value_info.type.tensor_type
    return TensorProto.DataType.Name(t.elem_type)


def to_saveable(arr, dtype_name):
    """The array in a dtype numpy (and qcc) can store."""
    arr = np.asarray(arr)
    if dtype_name in ("INT4",):
        return arr.astype(np.int8)
    if dtype_name in ("UINT4",):
        return arr.astype(np.uint8)
    if dtype_name == "FLOAT16":
        return arr.astype(np.float32)  # exact
    if dtype_name == "BOOL":
        return arr.astype(np.uint8)  # qcc's boolean
    if dtype_name == "INT64" and arr.size and np.abs(arr).max() < 2**31:
        return arr.astype(np.int32)  # a shape operand (SHAPE_INPUT_OPS)
    if arr.dtype.kind in "fiub" and arr.dtype.itemsize <= 8 and arr.dtype.name in (
        "float32", "float64", "int8", "uint8", "int16", "uint16", "int32",
        "int64", "uint32", "uint64", "bool", "float16",
    ):
        return arr
    # ml_dtypes (float8, float4, int2 ...): keep the bits.
    return arr.view(np.dtype(f"u{arr.dtype.itemsize}"))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "testdata", "backend")
    out = os.path.abspath(out)
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    cases = node_cases.collect_testcases()
    names = []
    for case in cases:
        model = case.model
        if model is None or len(model.graph.node) != 1:
            continue
        op = model.graph.node[0].op_type
        if op not in OPS and op not in FLOAT_OPS and op not in LOGIC_OPS and op not in ARG_OPS:
            continue
        if op in ARG_OPS and any(
            vi.type.tensor_type.elem_type != TensorProto.FLOAT for vi in model.graph.input
        ):
            continue
        if op in LOGIC_OPS and any(
            vi.type.tensor_type.elem_type not in LOGIC_TYPES
            for vi in list(model.graph.input) + list(model.graph.output)
        ):
            continue
        if op in FLOAT_OPS and any(
            vi.type.tensor_type.elem_type != TensorProto.FLOAT
            and not (op in SHAPE_INPUT_OPS and k > 0 and vi.type.tensor_type.elem_type == TensorProto.INT64)
            for k, vi in enumerate(model.graph.input)
        ) or op in FLOAT_OPS and any(
            vi.type.tensor_type.elem_type != TensorProto.FLOAT for vi in model.graph.output
        ):
            continue  # integer, double and float16 variants: not float ops
        d = os.path.join(out, case.name)
        os.makedirs(d)
        onnx.save(model, os.path.join(d, "model.onnx"))
        (inputs, outputs) = case.data_sets[0]
        meta = {"name": case.name, "op": model.graph.node[0].op_type, "inputs": [], "outputs": []}
        for kind, vis, arrs in (("input", model.graph.input, inputs), ("output", model.graph.output, outputs)):
            for i, (vi, arr) in enumerate(zip(vis, arrs)):
                if isinstance(arr, TensorProto):
                    arr = onnx.numpy_helper.to_array(arr)
                dt = onnx_dtype_of(vi)
                fname = f"{kind}_{i}.npy"
                np.save(os.path.join(d, fname), to_saveable(arr, dt))
                meta[kind + "s"].append(
                    {"name": vi.name, "dtype": dt, "shape": list(np.shape(arr)), "file": fname}
                )
        with open(os.path.join(d, "case.json"), "w") as f:
            json.dump(meta, f, indent=1)
        names.append(case.name)
    print(f"exported {len(names)} cases to {out}")
    for n in sorted(names):
        print("  " + n)


if __name__ == "__main__":
    main()
