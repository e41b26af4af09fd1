"""sqrt runs as tfc_lut_s8 (a 256-entry table on the input's and output's grids): every int8
code of a QDQ Sqrt model against onnxruntime, codes of negative reals included (NaN -> -128);
the C equals the interpreter under ASan/UBSan."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper
from onnx import numpy_helper as nh

import tfc
from tests.kernels.host_check import c_and_onnxruntime
from tfc.kernels import select


def _qdq_sqrt_model(x_params, y_params) -> onnx.ModelProto:
    inits = []
    for name, (s, z) in (("x", x_params), ("y", y_params)):
        inits += [nh.from_array(np.array(s, np.float32), f"s_{name}"), nh.from_array(np.array(z, np.int8), f"z_{name}")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s_x", "z_x"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "s_x", "z_x"], ["xd"]),
             helper.make_node("Sqrt", ["xd"], ["r"]),
             helper.make_node("QuantizeLinear", ["r", "s_y", "z_y"], ["rq"]),
             helper.make_node("DequantizeLinear", ["rq", "s_y", "z_y"], ["y"])]
    graph = helper.make_graph(nodes, "sqrt", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 256])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_every_code_of_a_qdq_sqrt_equals_onnxruntime(tmp_path):
    model = _qdq_sqrt_model((0.07, -100), (0.03, -128))
    cm = tfc.compile(model, target="host")
    node, = cm.ir.nodes
    assert node.op == "sqrt" and select(node).name == "lut"
    codes = np.arange(-128, 128, dtype=np.int8).reshape(1, 1, 256)
    got, want = c_and_onnxruntime(cm, model, [codes], tmp_path)
    np.testing.assert_array_equal(got[0], want[0], err_msg="C vs onnxruntime, all 256 codes")
    assert (got[0][0, 0, :28] == -128).all()      # below the zero point: sqrt of a negative real
