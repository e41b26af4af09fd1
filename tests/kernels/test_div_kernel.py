"""tfc_div_s8: int8 a / b (broadcasting) in onnxruntime's QDQ arithmetic, float32. Against
onnxruntime on a QDQ Div model: 0 LSB, zero divisors included; a calibrated float model (x / its
L2 norm over channels, SwiftFormer's normalize) near onnxruntime; C == interpreter under
ASan/UBSan."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper
from onnx import numpy_helper as nh

import tfc
from tests.kernels.host_check import c_and_onnxruntime, int8_inputs, onnxruntime_on_grid, run_c_exact
from tfc.kernels import select


def _qdq_div_model(a_shape, b_shape, out_shape) -> onnx.ModelProto:
    params = {"a": (0.05, 3), "b": (0.02, -9), "y": (0.1, 4)}
    inits = []
    for name, (s, z) in params.items():
        inits += [nh.from_array(np.array(s, np.float32), f"s_{name}"), nh.from_array(np.array(z, np.int8), f"z_{name}")]
    qdq = lambda x, name: [helper.make_node("QuantizeLinear", [x, f"s_{name}", f"z_{name}"], [f"{x}_q"]),  # noqa: E731
                           helper.make_node("DequantizeLinear", [f"{x}_q", f"s_{name}", f"z_{name}"], [f"{x}_d"])]
    nodes = [*qdq("a", "a"), *qdq("b", "b"), helper.make_node("Div", ["a_d", "b_d"], ["q"]), *qdq("q", "y"),
             helper.make_node("Identity", ["q_d"], ["y"])]
    graph = helper.make_graph(nodes, "div", [helper.make_tensor_value_info("a", TensorProto.FLOAT, a_shape),
                                             helper.make_tensor_value_info("b", TensorProto.FLOAT, b_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_qdq_div_equals_onnxruntime_with_zero_divisors(tmp_path):
    model = _qdq_div_model([2, 3, 16], [2, 1, 16], [2, 3, 16])
    cm = tfc.compile(model, target="host")
    div, = cm.ir.nodes_of("div")
    assert select(div).name == "div"
    rng = np.random.default_rng(3)
    a = rng.integers(-128, 128, (8, 2, 3, 16), dtype=np.int8)
    b = rng.integers(-128, 128, (8, 2, 1, 16), dtype=np.int8)
    b[:, :, :, :4] = -9                                           # on b's zero point: x / 0
    a[:, :, :, 0] = 3                                             # and 0 / 0
    got, want = c_and_onnxruntime(cm, model, [a, b], tmp_path)
    np.testing.assert_array_equal(got[0], want[0], err_msg="C vs onnxruntime")


def test_calibrated_float_normalize_near_onnxruntime(tmp_path):
    shape = [1, 8, 5, 5]
    ints64 = lambda n, v: helper.make_tensor(n, TensorProto.INT64, [len(v)], v)  # noqa: E731
    nodes = [helper.make_node("ReduceL2", ["x", "ax"], ["n"], keepdims=1),
             helper.make_node("Clip", ["n", "eps"], ["nc"]),
             helper.make_node("Div", ["x", "nc"], ["y"])]
    inits = [ints64("ax", [1]), helper.make_tensor("eps", TensorProto.FLOAT, [], [1e-3])]
    graph = helper.make_graph(nodes, "norm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    rng = np.random.default_rng(0)
    cm = tfc.compile(model, target="host", calibration=rng.normal(0, 1, (16, *shape)).astype(np.float32))
    kernels = {n.op: select(n).name for n in cm.ir.nodes}
    assert kernels["div"] == "div" and kernels["sqrt"] == "lut"
    ints = int8_inputs(cm.ir, [rng.normal(0, 0.8, (6, *shape)).astype(np.float32)])
    got = run_c_exact(cm.ir, ints, tmp_path)[0]
    want = onnxruntime_on_grid(model, cm.ir, ints)[0]
    # The norm is quantized twice (sum of squares, its square root) before the division.
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 3
