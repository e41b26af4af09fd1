"""tfc_broadcast_mul_s8: a mul of two activations that broadcast (squeeze-and-excite). Against
tflite-micro on a Keras SE block converted to int8 TFLite (0 LSB), and against onnxruntime on a
calibrated float ONNX SE block whose scale broadcasts along the innermost axis (the per-element
path); the C equals the interpreter under ASan/UBSan in both."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import tfc
from tests.kernels.host_check import (compile_tflite_oracle, int8_inputs, onnxruntime_on_grid, run_c_exact,
                                      tflite_micro_outputs)
from tfc.errors import UnsupportedError
from tfc.kernels import select
from tfc.kernels.elementwise import BroadcastWalk, broadcast_walk


def test_walk_merges_axes_that_broadcast_alike():
    assert broadcast_walk([(1, 6, 6, 8), (1, 1, 1, 8)], (1, 6, 6, 8)) == \
        BroadcastWalk((1, 1, 36, 8), ((0, 0, 8, 1), (0, 0, 0, 1)))
    assert broadcast_walk([(1, 8, 6, 6), (1, 8, 1, 1)], (1, 8, 6, 6)) == \
        BroadcastWalk((1, 1, 8, 36), ((0, 0, 36, 1), (0, 0, 1, 0)))
    assert broadcast_walk([(3, 1, 5), (4, 1)], (3, 4, 5)) == \
        BroadcastWalk((1, 3, 4, 5), ((0, 5, 0, 1), (0, 0, 1, 0)))
    assert "rank <= 4" in broadcast_walk([(2, 1, 2, 1, 2), (1, 2, 1, 2, 1)], (2, 2, 2, 2, 2))


def test_squeeze_excite_tflite_equals_tflite_micro(tmp_path):
    pytest.importorskip("tflite_micro")
    cm, x, tflite = compile_tflite_oracle("se_mul")
    mul, = cm.ir.nodes_of("mul")
    assert select(mul).name == "broadcast_mul" and mul.inputs[0].shape != mul.inputs[1].shape
    got = run_c_exact(cm.ir, [x], tmp_path)[0]
    want = tflite_micro_outputs(tflite, x)
    np.testing.assert_array_equal(got.reshape(want.shape), want, err_msg="C vs tflite-micro")


def _se_model(nodes_tail, c=8, hw=6) -> onnx.ModelProto:
    w = np.random.default_rng(1).normal(0, 0.4, (c, c, 1, 1)).astype(np.float32)
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["g"]), helper.make_node("Conv", ["g", "w"], ["c"]),
             helper.make_node("Sigmoid", ["c"], ["s"]), *nodes_tail]
    shape = [1, c, hw, hw]
    graph = helper.make_graph(nodes, "se", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
                              [onnx.numpy_helper.from_array(w, "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_calibrated_float_squeeze_excite_near_onnxruntime(tmp_path):
    model = _se_model([helper.make_node("Mul", ["s", "x"], ["y"])])    # the small operand first
    rng = np.random.default_rng(0)
    cm = tfc.compile(model, target="host", calibration=rng.normal(0, 1, (16, 1, 8, 6, 6)).astype(np.float32))
    mul, = cm.ir.nodes_of("mul")
    p = select(mul).params(mul)
    assert select(mul).name == "broadcast_mul" and p.walk.strides[0][3] == 0     # per-element path
    ints = int8_inputs(cm.ir, [rng.normal(0, 1.3, (6, 1, 8, 6, 6)).astype(np.float32)])
    got = run_c_exact(cm.ir, ints, tmp_path)[0]
    want = onnxruntime_on_grid(model, cm.ir, ints)[0]
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 2


def test_declined_broadcast_names_the_node():
    a, b = (2, 1, 2, 1, 2), (1, 2, 1, 2, 1)
    graph = helper.make_graph([helper.make_node("Mul", ["a", "b"], ["y"], name="checker")], "m",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, a),
                               helper.make_tensor_value_info("b", TensorProto.FLOAT, b)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2, 2, 2, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    rng = np.random.default_rng(0)
    calibration = {"a": rng.normal(0, 1, (4, *a)).astype(np.float32), "b": rng.normal(0, 1, (4, *b)).astype(np.float32)}
    with pytest.raises(UnsupportedError, match="checker") as e:
        tfc.compile(model, target="host", calibration=calibration)
    assert "broadcast_mul" in str(e.value) and "rank <= 4" in str(e.value)
