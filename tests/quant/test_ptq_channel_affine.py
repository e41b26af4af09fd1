"""A BatchNorm on a linear's flattened output (LeViT: MatMul -> Flatten -> BatchNorm1d ->
Reshape) folds into the linear's weights and bias before calibration: one int8 rounding, where
the mul and add canonicalize leaves would each round onto a grid of their own with their
per-channel constants quantized per tensor (LeViT in the corpus: 31.8 -> 33.8 dB, onnxruntime 33.5)."""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

import tfc
from tfc.frontend.onnx import import_onnx
from tfc.interp import run


def _linear_flatten_bn(tokens=16, cin=32, cout=24):
    rng = np.random.default_rng(5)
    inits = [numpy_helper.from_array(rng.normal(0, 0.3, (cin, cout)).astype(np.float32), "w"),
             numpy_helper.from_array(np.array([tokens, cout], np.int64), "flat"),
             numpy_helper.from_array(np.array([1, tokens, cout], np.int64), "back"),
             # per-channel scales over two decades: a per-tensor int8 scale vector loses the small ones
             numpy_helper.from_array(np.geomspace(0.05, 5, cout).astype(np.float32), "gamma"),
             numpy_helper.from_array(rng.normal(0, 1, cout).astype(np.float32), "beta"),
             numpy_helper.from_array(rng.normal(0, 0.5, cout).astype(np.float32), "mean"),
             numpy_helper.from_array(rng.uniform(0.5, 2, cout).astype(np.float32), "var")]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Reshape", ["m", "flat"], ["f"]),
             helper.make_node("BatchNormalization", ["f", "gamma", "beta", "mean", "var"], ["b"]),
             helper.make_node("Reshape", ["b", "back"], ["y"])]
    graph = helper.make_graph(nodes, "levit_bn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, tokens, cin])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, tokens, cout])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_batchnorm_after_flatten_folds_into_the_linear():
    model = _linear_flatten_bn()
    rng = np.random.default_rng(0)
    cm = tfc.compile(model, target="host", calibration=rng.normal(0, 1, (32, 1, 16, 32)).astype(np.float32))
    ops = [n.op for n in cm.ir.nodes]
    assert "mul" not in ops and "add" not in ops and ops.count("linear") == 1, ops
    graph = import_onnx(model)
    held = rng.normal(0, 1, (8, 1, 16, 32)).astype(np.float32)
    want = np.stack([run(graph, [h])[0] for h in held])
    got = np.asarray(cm.run(held)).reshape(want.shape)
    sqnr = 10 * np.log10(np.sum(want.astype(np.float64) ** 2) / np.sum((want - got).astype(np.float64) ** 2))
    assert sqnr > 32, sqnr       # folded 33.3 dB; the separate mul and add gave 29.8 dB
