"""tfc_sub_s8: TFLite Micro's int8 SUB, equal or broadcasting shapes. Against tflite-micro on a
Keras model converted to int8 TFLite (PoolFormer's pool(y) - y, then a [1,6,6,8] - [1,6,6,1]
that broadcasts): 0 LSB; against onnxruntime on a calibrated float model with a constant
operand in flash; the C equals the interpreter under ASan/UBSan."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import tfc
from tests.kernels.host_check import (compile_tflite_oracle, int8_inputs, onnxruntime_on_grid, run_c_exact,
                                      tflite_micro_outputs)
from tfc.kernels import select


def test_sub_tflite_equals_tflite_micro(tmp_path):
    pytest.importorskip("tflite_micro")
    cm, x, tflite = compile_tflite_oracle("sub")
    subs = cm.ir.nodes_of("sub")
    assert len(subs) == 2 and {select(n).name for n in subs} == {"sub"}
    assert subs[0].inputs[0].shape == subs[0].inputs[1].shape and subs[1].inputs[1].shape[1] == 1
    got = run_c_exact(cm.ir, [x], tmp_path)[0]
    want = tflite_micro_outputs(tflite, x)
    np.testing.assert_array_equal(got.reshape(want.shape), want, err_msg="C vs tflite-micro")


def test_calibrated_float_sub_with_a_constant_near_onnxruntime(tmp_path):
    c = np.random.default_rng(2).uniform(-1, 1, (1, 4, 1, 1)).astype(np.float32)
    nodes = [helper.make_node("AveragePool", ["x"], ["p"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1],
                              count_include_pad=0),
             helper.make_node("Sub", ["p", "x"], ["d"]),
             helper.make_node("Sub", ["c", "d"], ["y"])]
    shape = [1, 4, 5, 5]
    graph = helper.make_graph(nodes, "sub", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
                              [onnx.numpy_helper.from_array(c, "c")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    rng = np.random.default_rng(0)
    cm = tfc.compile(model, target="host", calibration=rng.normal(0, 1, (16, *shape)).astype(np.float32))
    assert [select(n).name for n in cm.ir.nodes_of("sub")] == ["sub", "sub"]
    # Inside the calibrated ranges: a saturated intermediate would differ from float by design.
    ints = int8_inputs(cm.ir, [rng.normal(0, 0.8, (6, *shape)).astype(np.float32)])
    got = run_c_exact(cm.ir, ints, tmp_path)[0]
    want = onnxruntime_on_grid(model, cm.ir, ints)[0]
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 2
    info = cm.save(tmp_path / "project")
    assert sum(layer.weight_bytes for layer in info.layers) == c.size     # the constant, int8 in its own shape
