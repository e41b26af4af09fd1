"""Bad input ends in a tfc error that names the file, node and op, and says what to do."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from tests.frontend.onnx_builders import make_model
from tfc.errors import ModelLoadError, ShapeError, TfcError, UnsupportedError
from tfc.frontend.onnx import import_onnx


def _relu_model(**kw):
    return make_model([helper.make_node("Relu", ["x"], ["y"], name="act")],
                      [("x", [1, 4])], [("y", [1, 4])], **kw)


def test_not_an_onnx_file(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is not a model\n" * 10)
    with pytest.raises(ModelLoadError) as e:
        import_onnx(path)
    assert str(path) in str(e.value) and "not a valid ONNX file" in str(e.value)
    assert e.value.hint


def test_missing_file(tmp_path):
    with pytest.raises(ModelLoadError, match="cannot read"):
        import_onnx(tmp_path / "nope.onnx")


def test_truncated_file(tmp_path):
    data = _relu_model().SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError) as e:
        import_onnx(path)
    assert e.value.file == str(path) and e.value.hint


def test_wrong_python_type():
    with pytest.raises(ModelLoadError, match="cannot import a int"):
        import_onnx(42)


def test_unsupported_ops_are_all_listed_grouped_by_op():
    nodes = [helper.make_node("LSTM", ["x", "w", "r"], ["a"], name="lstm1", hidden_size=2),
             helper.make_node("Relu", ["x"], ["b"], name="ok"),
             helper.make_node("TopK", ["x", "k"], ["c", "ci"], name="top1"),
             helper.make_node("TopK", ["x", "k"], ["d", "di"], name="top2")]
    model = make_model(nodes, [("x", [1, 1, 4])], [("a", None), ("b", [1, 1, 4]), ("c", None), ("d", None)],
                       {"w": np.zeros((1, 8, 4), np.float32), "r": np.zeros((1, 8, 2), np.float32),
                        "k": np.array([1], np.int64)})
    with pytest.raises(UnsupportedError) as e:
        import_onnx(model)
    text = str(e.value)
    assert "3 node(s)" in text and "LSTM (1): lstm1" in text and "TopK (2): top1, top2" in text, text
    assert "supported ONNX ops" in e.value.hint


def test_undefined_input_names_node_and_op():
    model = make_model([helper.make_node("Conv", ["x", "W"], ["y"], name="conv1")],
                       [("x", [1, 1, 4, 4])], [("y", None)])
    with pytest.raises(ModelLoadError) as e:
        import_onnx(model)
    assert (e.value.node, e.value.op) == ("conv1", "Conv") and "'W' is not defined" in e.value.message


def test_dynamic_dim_asks_for_input_shapes():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", ["batch", 4])], [("y", ["batch", 4])])
    with pytest.raises(ShapeError) as e:
        import_onnx(model)
    assert "input 'x' dim 0 is symbolic ('batch')" in e.value.message
    assert "input_shapes={'x': [1, 4]}" in e.value.hint
    graph = import_onnx(model, input_shapes={"x": [2, 4]})
    assert graph.inputs[0].shape == (2, 4)


def test_input_shapes_must_match_the_model():
    with pytest.raises(ShapeError, match="unknown input"):
        import_onnx(_relu_model(), input_shapes={"nope": [1]})
    with pytest.raises(ShapeError, match="fixes it to 4"):
        import_onnx(_relu_model(), input_shapes={"x": [1, 5]})


@pytest.mark.parametrize("opset", [11, 22])
def test_opset_outside_range(opset):
    with pytest.raises(UnsupportedError) as e:
        import_onnx(_relu_model(opset=opset))
    assert f"opset {opset}" in e.value.message and "13..21" in e.value.message
    assert "version_converter" in e.value.hint


def test_unsupported_dtype_names_the_input():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", [2], TensorProto.FLOAT16)],
                       [("y", [2], TensorProto.FLOAT16)])
    with pytest.raises(UnsupportedError, match="input 'x' has element type float16"):
        import_onnx(model)


@pytest.mark.parametrize("node, what", [
    (helper.make_node("MaxPool", ["x"], ["y", "idx"], name="p", kernel_shape=[2, 2]), "Indices output"),
    (helper.make_node("Pad", ["x", "pads"], ["y"], name="p", mode="wrap"), "Pad mode 'wrap'"),
    (helper.make_node("Conv", ["x", "w"], ["y"], name="p", auto_pad="SAME"), "auto_pad='SAME'"),
])
def test_unsupported_attribute_values_name_node_and_op(node, what):
    model = make_model([node], [("x", [1, 1, 5, 5])], [("y", None)] + ([("idx", None)] if len(node.output) > 1 else []),
                       {"pads": np.zeros(8, np.int64), "w": np.ones((1, 1, 3, 3), np.float32)})
    with pytest.raises(UnsupportedError) as e:
        import_onnx(model)
    assert (e.value.node, e.value.op) == ("p", node.op_type) and what in e.value.message, str(e.value)


def test_non_constant_shape_input_says_to_fold():
    model = make_model([helper.make_node("Reshape", ["x", "s"], ["y"], name="r")],
                       [("x", [2, 3]), ("s", [2], TensorProto.INT64)], [("y", None)])
    with pytest.raises(UnsupportedError) as e:
        import_onnx(model)
    assert e.value.node == "r" and "must be a constant" in e.value.message and "fold" in e.value.hint


def test_shape_error_in_ir_names_the_onnx_node():
    model = make_model([helper.make_node("Add", ["x", "z"], ["y"], name="bad_add")],
                       [("x", [2, 3]), ("z", [4])], [("y", None)])
    with pytest.raises(TfcError) as e:
        import_onnx(model)
    assert e.value.node == "bad_add" and e.value.op == "Add" and "broadcast" in e.value.message


# ------------------------------------------------------------------ found by fuzzing (issue 19)
def test_a_graph_without_outputs_is_refused():
    model = make_model([helper.make_node("Relu", ["x"], ["y"], name="act")], [("x", [1, 4])], [])
    with pytest.raises(ModelLoadError, match="no graph outputs"):
        import_onnx(model)


def test_an_output_declared_with_other_static_dims_is_refused():
    model = make_model([helper.make_node("Relu", ["x"], ["y"], name="act")], [("x", [1, 4])], [("y", [1, 5])])
    with pytest.raises(ShapeError, match=r"declared with shape \[1, 5\], but the model computes \[1, 4\]"):
        import_onnx(model)


@pytest.mark.parametrize("shape", [[1.0, np.nan], [1.0, 4.0]], ids=["nan", "float"])
def test_a_float_reshape_shape_is_refused(shape):
    model = make_model([helper.make_node("Reshape", ["x", "s"], ["y"], name="r")], [("x", [1, 4])], [("y", [1, 4])],
                       {"s": np.array(shape, np.float32)})
    with pytest.raises(UnsupportedError, match="must hold integers") as e:
        import_onnx(model)
    assert e.value.node == "r"


def test_a_zero_point_of_another_type_than_the_data_is_refused():
    """onnxruntime refuses a uint8 zero point on int8 data (type-invalid ONNX); so does tfc."""
    node = helper.make_node("DequantizeLinear", ["x", "s", "z"], ["y"], name="dq")
    model = make_model([node], [("x", [1, 4], TensorProto.INT8)], [("y", [1, 4])],
                       {"s": np.array(0.1, np.float32), "z": np.array(3, np.uint8)})
    with pytest.raises(UnsupportedError, match="zero point is uint8 but the quantized data is i8") as e:
        import_onnx(model)
    assert e.value.node == "dq"


@pytest.mark.parametrize("dim", [2**31, 2**28 + 1])
def test_a_tensor_past_int32_elements_is_refused_at_once(dim):
    """A fuzzed input dim of 2^31 once made MatMul's shape inference allocate terabytes."""
    node = helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")
    model = make_model([node], [("x", [1, dim, 8])], [("y", None)], {"w": np.ones((8, 4), np.float32)})
    with pytest.raises(ShapeError, match="more than tfc supports"):
        import_onnx(model)


def test_matmul_shape_inference_does_not_allocate():
    """10^6 x 10^4 floats would be 40 GB; the shape comes from the shapes alone."""
    node = helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")
    model = make_model([node], [("x", [1, 1000, 10000])], [("y", None)], {"w": np.ones((10000, 1), np.float32)})
    assert import_onnx(model).outputs[0].shape == (1, 1000, 1)
