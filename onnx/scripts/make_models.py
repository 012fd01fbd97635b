#!/usr/bin/env python3
"""Builds the end-to-end models of qcc's ONNX import tests.

Trains small float models on scikit-learn's bundled digits data (8x8
images, 10 classes), writes them as ONNX with onnx.helper from the numpy
weights (no PyTorch), quantizes them with onnxruntime's tools, and saves
everything under onnx/testdata/models/:

    mlp.onnx                    float MLP 64-64-10 (Gemm, Relu)
    cnn.onnx                    float CNN (Conv, Relu, MaxPool, Conv, Relu,
                                GlobalAveragePool, Flatten, Gemm)
    res.onnx                    float CNN with a residual Add, a Concat, an
                                AveragePool and a LeakyRelu (QOperator form:
                                QLinearAdd, QLinearConcat, QLinearAveragePool,
                                QLinearLeakyRelu)
    <model>.<variant>.onnx      quantized variants:
        qdq_u8        QDQ, u8 activations, i8 weights, per tensor
        qdq_i8_pc     QDQ, i8 activations, i8 weights, per channel
        qop_u8        QOperator, u8 activations, i8 weights, per tensor
        qop_i8_pc     QOperator, i8 activations, i8 weights, per channel
        dyn           quantize_dynamic (u8 activations at run time)
    mlp.inputs.npy / cnn.inputs.npy / res.inputs.npy   the 360 test images, f32

The batch dimension is the symbol N. The CNN's convolutions are fixed
random filters (there is no autograd here); its Gemm head is trained with
logistic regression on their features, which is enough to give a model
whose argmax means something.

Usage: python3 onnx/scripts/make_models.py [OUT_DIR]
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

OPSET = 13


def save(model, path):
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def make_mlp(x_train, y_train):
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=600, random_state=0)
    clf.fit(x_train, y_train)
    (w1, w2), (b1, b2) = clf.coefs_, clf.intercepts_
    inits = [
        numpy_helper.from_array(w1.astype(np.float32), "w1"),
        numpy_helper.from_array(b1.astype(np.float32), "b1"),
        numpy_helper.from_array(w2.astype(np.float32), "w2"),
        numpy_helper.from_array(b2.astype(np.float32), "b2"),
    ]
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h1"], name="fc1"),
        helper.make_node("Relu", ["h1"], ["a1"], name="relu1"),
        helper.make_node("Gemm", ["a1", "w2", "b2"], ["logits"], name="fc2"),
    ]
    g = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        inits,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])


def cnn_features_graph(rng):
    k1 = (rng.standard_normal((8, 1, 3, 3)) * 0.5).astype(np.float32)
    c1 = (rng.standard_normal(8) * 0.1).astype(np.float32)
    k2 = (rng.standard_normal((16, 8, 3, 3)) * 0.2).astype(np.float32)
    c2 = (rng.standard_normal(16) * 0.1).astype(np.float32)
    inits = [
        numpy_helper.from_array(k1, "k1"),
        numpy_helper.from_array(c1, "c1"),
        numpy_helper.from_array(k2, "k2"),
        numpy_helper.from_array(c2, "c2"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "k1", "c1"], ["y1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["y1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "k2", "c2"], ["y2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["y2"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["feat"], name="flatten", axis=1),
    ]
    return nodes, inits


def make_cnn(x_train, y_train):
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    nodes, inits = cnn_features_graph(rng)
    xin = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])
    feat = helper.make_graph(
        nodes, "cnn_features", [xin],
        [helper.make_tensor_value_info("feat", TensorProto.FLOAT, ["N", 16])], inits,
    )
    fm = helper.make_model(feat, opset_imports=[helper.make_opsetid("", OPSET)])
    fm.ir_version = 8
    sess = ort.InferenceSession(fm.SerializeToString(), providers=["CPUExecutionProvider"])
    f = sess.run(None, {"x": x_train.reshape(-1, 1, 8, 8)})[0]
    mu, sd = f.mean(0), f.std(0) + 1e-6
    clf = LogisticRegression(max_iter=2000, C=10.0).fit((f - mu) / sd, y_train)
    # Fold the standardization into the head: W' = W / sd, b' = b - W' mu.
    w = (clf.coef_ / sd).astype(np.float32)  # [10, 16]
    b = (clf.intercept_ - w @ mu).astype(np.float32)
    inits += [numpy_helper.from_array(w, "wh"), numpy_helper.from_array(b, "bh")]
    nodes.append(helper.make_node("Gemm", ["feat", "wh", "bh"], ["logits"], name="head", transB=1))
    g = helper.make_graph(
        nodes, "cnn", [xin],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])


def make_res(x_train, y_train):
    import onnxruntime as ort

    rng = np.random.default_rng(2)
    k1 = (rng.standard_normal((8, 1, 3, 3)) * 0.5).astype(np.float32)
    k2 = (rng.standard_normal((8, 8, 3, 3)) * 0.2).astype(np.float32)
    k3 = (rng.standard_normal((4, 1, 1, 1)) * 0.5).astype(np.float32)
    inits = [
        numpy_helper.from_array(k1, "k1"),
        numpy_helper.from_array(np.zeros(8, np.float32), "c1"),
        numpy_helper.from_array(k2, "k2"),
        numpy_helper.from_array((rng.standard_normal(8) * 0.1).astype(np.float32), "c2"),
        numpy_helper.from_array(k3, "k3"),
        numpy_helper.from_array(np.zeros(4, np.float32), "c3"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "k1", "c1"], ["y1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["y1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "k2", "c2"], ["y2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("LeakyRelu", ["y2"], ["r2"], name="leaky", alpha=0.1),
        helper.make_node("Add", ["r1", "r2"], ["s"], name="residual"),
        helper.make_node("Conv", ["x", "k3", "c3"], ["y3"], name="conv3"),
        helper.make_node("Concat", ["s", "y3"], ["cat"], name="concat", axis=1),
        helper.make_node("AveragePool", ["cat"], ["p"], name="avgpool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["feat"], name="flatten", axis=1),
    ]
    xin = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])
    fm = helper.make_model(
        helper.make_graph(nodes, "res_features", [xin],
                          [helper.make_tensor_value_info("feat", TensorProto.FLOAT, ["N", 192])], inits),
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    fm.ir_version = 8
    sess = ort.InferenceSession(fm.SerializeToString(), providers=["CPUExecutionProvider"])
    f = sess.run(None, {"x": x_train.reshape(-1, 1, 8, 8)})[0]
    # A floor on the spread keeps the folded head weights small enough to
    # quantize well.
    mu, sd = f.mean(0), np.maximum(f.std(0), 0.25 * f.std(0).mean())
    clf = LogisticRegression(max_iter=3000, C=0.1).fit((f - mu) / sd, y_train)
    w = (clf.coef_ / sd).astype(np.float32)
    b = (clf.intercept_ - w @ mu).astype(np.float32)
    inits += [numpy_helper.from_array(w, "wh"), numpy_helper.from_array(b, "bh")]
    nodes.append(helper.make_node("Gemm", ["feat", "wh", "bh"], ["logits"], name="head", transB=1))
    g = helper.make_graph(
        nodes, "res", [xin],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])


class Reader:
    def __init__(self, x):
        self.items = iter([{"x": x[i : i + 1]} for i in range(len(x))])

    def get_next(self):
        return next(self.items, None)


def quantize_variants(name, float_path, calib, out):
    from onnxruntime.quantization import (
        QuantFormat, QuantType, quantize_dynamic, quantize_static,
    )

    variants = {
        "qdq_u8": (QuantFormat.QDQ, QuantType.QUInt8, False),
        "qdq_i8_pc": (QuantFormat.QDQ, QuantType.QInt8, True),
        "qop_u8": (QuantFormat.QOperator, QuantType.QUInt8, False),
        "qop_i8_pc": (QuantFormat.QOperator, QuantType.QInt8, True),
    }
    for v, (fmt, act, pc) in variants.items():
        path = os.path.join(out, f"{name}.{v}.onnx")
        quantize_static(
            float_path, path, Reader(calib), quant_format=fmt, activation_type=act,
            weight_type=QuantType.QInt8, per_channel=pc,
        )
        print("wrote", path)
    path = os.path.join(out, f"{name}.dyn.onnx")
    quantize_dynamic(float_path, path, weight_type=QuantType.QInt8)
    print("wrote", path)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "testdata", "models"))
    os.makedirs(out, exist_ok=True)
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target
    rng = np.random.default_rng(1)
    perm = rng.permutation(len(x))
    test, train = perm[:360], perm[360:]
    x_train, y_train, x_test = x[train], y[train], x[test]
    calib = x_train[:200]

    mlp = make_mlp(x_train, y_train)
    save(mlp, os.path.join(out, "mlp.onnx"))
    np.save(os.path.join(out, "mlp.inputs.npy"), x_test)
    np.save(os.path.join(out, "labels.npy"), y[test].astype(np.int32))
    quantize_variants("mlp", os.path.join(out, "mlp.onnx"), calib, out)

    cnn = make_cnn(x_train, y_train)
    save(cnn, os.path.join(out, "cnn.onnx"))
    np.save(os.path.join(out, "cnn.inputs.npy"), x_test.reshape(-1, 1, 8, 8))
    quantize_variants("cnn", os.path.join(out, "cnn.onnx"), calib.reshape(-1, 1, 8, 8), out)

    res = make_res(x_train, y_train)
    save(res, os.path.join(out, "res.onnx"))
    np.save(os.path.join(out, "res.inputs.npy"), x_test.reshape(-1, 1, 8, 8))
    quantize_variants("res", os.path.join(out, "res.onnx"), calib.reshape(-1, 1, 8, 8), out)


if __name__ == "__main__":
    main()
