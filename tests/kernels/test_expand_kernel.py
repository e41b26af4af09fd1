"""tfc_expand_s8: ONNX Expand of int8 data (a per-row norm expanded over channels, SwiftFormer).
A calibrated float model reaches int8 C equal to the interpreter (ASan/UBSan) and to onnxruntime
on the grid exactly (the kernel copies values); the walk keeps contiguous rows as memcpy."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

import tfc
from tests.kernels.host_check import c_and_onnxruntime, int8_inputs
from tfc.errors import UnsupportedError
from tfc.kernels import select


def _expand_model(x_shape, shape):
    out = list(np.broadcast_shapes(tuple(x_shape), tuple(shape)))
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Expand", ["r", "shape"], ["y"], name="grow")]
    graph = helper.make_graph(nodes, "expand", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out)],
                              [helper.make_tensor("shape", TensorProto.INT64, [len(shape)], shape)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("x_shape, shape, strides", [
    ([1, 1, 5, 6], [1, 4, 5, 6], (0, 0, 0, 1)),         # repeated outer axis: memcpy rows of 30
    ([1, 3, 5, 1], [2, 1, 1, 4], (0, 0, 1, 0)),         # innermost repeated: byte by byte
])
def test_expand_equals_onnxruntime(x_shape, shape, strides, tmp_path):
    model = _expand_model(x_shape, shape)
    rng = np.random.default_rng(6)
    cm = tfc.compile(model, target="host", calibration=rng.normal(0, 1, (8, *x_shape)).astype(np.float32))
    node, = cm.ir.nodes_of("expand")
    assert select(node).name == "expand" and select(node).params(node).strides[0] == strides
    ints = int8_inputs(cm.ir, [rng.normal(0, 1.3, (4, *x_shape)).astype(np.float32)])
    got, want = c_and_onnxruntime(cm, model, ints, tmp_path)
    np.testing.assert_array_equal(got[0], want[0], err_msg="C vs onnxruntime")


def test_expand_the_walk_cannot_hold_names_the_node():
    x_shape = [2, 1, 2, 1, 2]
    model = _expand_model(x_shape, [2, 2, 2, 2, 2])
    calibration = np.random.default_rng(0).normal(0, 1, (4, *x_shape)).astype(np.float32)
    with pytest.raises(UnsupportedError, match=r"grow.*rank <= 4|rank <= 4.*grow"):
        tfc.compile(model, target="host", calibration=calibration)
