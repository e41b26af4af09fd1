"""Importer features on small hand-built models, checked against onnxruntime: conv padding modes,
depthwise and 1-D conv, pooling ceil_mode, shape-chain folding, Gemm forms, QDQ weights, naming."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from tests.frontend.onnx_builders import import_and_compare, make_model, run_onnxruntime
from tfc import interp
from tfc.errors import UnsupportedError
from tfc.frontend.onnx import import_onnx
from tfc.ir.text import print_graph

RNG = np.random.default_rng(7)


def _check(model, shapes: dict, rtol=1e-5):
    return import_and_compare(model, shapes, RNG, rtol)


def _w(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("attrs, out_hw", [
    ({"pads": [0, 0, 1, 1], "strides": [2, 2]}, 3),            # asymmetric, like VWW's first conv
    ({"auto_pad": "SAME_UPPER", "strides": [2, 2]}, 4),
    ({"auto_pad": "SAME_LOWER", "strides": [2, 2]}, 4),
    ({"auto_pad": "VALID", "dilations": [2, 2]}, 3),
    ({"pads": [1, 2, 1, 0], "group": 4}, None),                 # depthwise, multiplier 2
])
def test_conv_variants(attrs, out_hw):
    group = attrs.get("group", 1)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv", kernel_shape=[3, 3], **attrs)
    model = make_model([node], [("x", [1, 4, 7, 7])], [("y", None)],
                       {"w": _w(8, 4 // group, 3, 3), "b": _w(8)})
    graph = _check(model, {"x": [1, 4, 7, 7]})
    conv = graph.find_node("conv")
    assert conv.op == "conv2d" and conv.inputs[1].shape == (8, 3, 3, 4 // group)   # OHWI
    if out_hw:
        assert graph.outputs[0].shape == (1, 8, out_hw, out_hw)
    ops = [n.op for n in graph.nodes]
    assert ops == ["transpose", "conv2d", "transpose"], ops


def test_conv_1d():
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 2], strides=[2])
    _check(make_model([node], [("x", [1, 3, 10])], [("y", None)], {"w": _w(5, 3, 4)}), {"x": [1, 3, 10]})


@pytest.mark.parametrize("op, attrs", [
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    ("MaxPool", {"kernel_shape": [2, 2], "pads": [1, 1, 0, 0], "dilations": [2, 2]}),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
    ("AveragePool", {"kernel_shape": [2, 2], "auto_pad": "SAME_UPPER"}),
    ("GlobalAveragePool", {}),
])
def test_pooling(op, attrs):
    model = make_model([helper.make_node(op, ["x"], ["y"], **attrs)], [("x", [1, 3, 8, 8])], [("y", None)])
    _check(model, {"x": [1, 3, 8, 8]})


def test_shape_chain_folds_to_a_static_reshape():
    """The legacy exporter's flatten: Shape -> Gather(0) -> Unsqueeze -> Concat(-1) -> Reshape."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "zero_1d"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus_one"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["y"], name="flatten")]
    model = make_model(nodes, [("x", [2, 3, 4, 5])], [("y", [2, 60])],
                       {"zero": np.array(0, np.int64), "zero_1d": np.array([0], np.int64),
                        "minus_one": np.array([-1], np.int64)})
    graph = _check(model, {"x": [2, 3, 4, 5]})
    assert [n.op for n in graph.nodes] == ["reshape"] and graph.nodes[0].attrs["shape"] == [2, 60]
    assert not graph.constants, f"folded shape constants left behind: {list(graph.constants)}"


@pytest.mark.parametrize("attrs, c_shape", [
    ({}, [6]), ({"transB": 1}, [1, 6]), ({"transA": 1, "alpha": 0.5, "beta": 2.0}, [6]), ({}, [4, 6]),
])
def test_gemm(attrs, c_shape):
    a_shape = [5, 4] if attrs.get("transA") else [4, 5]
    b = _w(6, 5) if attrs.get("transB") else _w(5, 6)
    model = make_model([helper.make_node("Gemm", ["a", "b", "c"], ["y"], name="fc", **attrs)],
                       [("a", a_shape)], [("y", [4, 6])], {"b": b, "c": _w(*c_shape)})
    graph = _check(model, {"a": a_shape})
    assert graph.find_node("fc").op == "linear"


def test_layernorm_decomposition_and_gelu_erf_pieces_import():
    """What older exporters emit for LayerNorm and GELU: the pieces, each imported as an IR op."""
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], axes=[-1]),
             helper.make_node("Sub", ["x", "m"], ["d"]),
             helper.make_node("Pow", ["d", "two"], ["d2"]),
             helper.make_node("ReduceMean", ["d2"], ["v"], axes=[-1]),
             helper.make_node("Add", ["v", "eps"], ["ve"]),
             helper.make_node("Sqrt", ["ve"], ["s"]),
             helper.make_node("Div", ["d", "s"], ["n"]),
             helper.make_node("Div", ["n", "sqrt2"], ["t"]),
             helper.make_node("Erf", ["t"], ["e"]),
             helper.make_node("Add", ["e", "one"], ["e1"]),
             helper.make_node("Mul", ["n", "e1"], ["g"]),
             helper.make_node("Mul", ["g", "half"], ["y"])]
    consts = {"two": np.float32(2), "eps": np.float32(1e-5), "sqrt2": np.float32(np.sqrt(2)),
              "one": np.float32(1), "half": np.float32(0.5)}
    model = make_model(nodes, [("x", [2, 3, 8])], [("y", [2, 3, 8])], consts)
    graph = _check(model, {"x": [2, 3, 8]}, rtol=1e-5)
    assert {"reduce_mean", "pow", "sqrt", "erf"} <= {n.op for n in graph.nodes}


def test_qdq_conv_weight_is_transposed_as_int8_with_its_axis():
    w = RNG.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)
    scales = np.array([0.01, 0.02, 0.03, 0.04], np.float32)
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
             helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wd"], name="w_dq", axis=0),
             helper.make_node("Conv", ["xd", "wd"], ["y"], name="conv", pads=[1, 1, 1, 1])]
    model = make_model(nodes, [("x", [1, 3, 6, 6])], [("y", [1, 4, 6, 6])],
                       {"xs": np.float32(0.05), "xz": np.int8(3), "w": w, "ws": scales,
                        "wz": np.zeros(4, np.int8)})
    graph = _check(model, {"x": [1, 3, 6, 6]}, rtol=1e-5)
    weight = graph.find_node("conv").inputs[1]
    assert weight.producer.op == "dequantize" and weight.producer.name == "w_dq"
    const = weight.producer.inputs[0]
    assert const.dtype.value == "i8" and const.shape == (4, 3, 3, 3) and const.quant.axis == 0
    np.testing.assert_array_equal(const.data, w.transpose(0, 2, 3, 1))
    assert "w" in [c for c in graph.constants], "the int8 weight keeps its ONNX name"


def test_names_are_sanitized_deterministic_and_unnamed_nodes_get_op_index():
    nodes = [helper.make_node("Relu", ["in:0"], ["a/b:0"], name="block/act:0"),
             helper.make_node("Sigmoid", ["a/b:0"], ["out"])]
    model = make_model(nodes, [("in:0", [1, 4])], [("out", [1, 4])])
    g1, g2 = import_onnx(model), import_onnx(model.SerializeToString())
    assert [n.name for n in g1.nodes] == ["block_act_0", "Sigmoid_1"]
    assert g1.inputs[0].name == "in_0" and g1.outputs[0].name == "out"
    assert print_graph(g1) == print_graph(g2)


def test_identity_output_keeps_onnx_name():
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Identity", ["r"], ["y"])]
    graph = import_onnx(make_model(nodes, [("x", [3])], [("y", [3])]))
    assert graph.outputs[0].name == "y" and [n.op for n in graph.nodes] == ["relu"]


def test_int8_model_interface_is_kept():
    nodes = [helper.make_node("DequantizeLinear", ["x", "s", "z"], ["xd"]),
             helper.make_node("Relu", ["xd"], ["r"]),
             helper.make_node("QuantizeLinear", ["r", "s", "z"], ["y"])]
    model = make_model(nodes, [("x", [1, 8], TensorProto.INT8)], [("y", [1, 8], TensorProto.INT8)],
                       {"s": np.float32(0.1), "z": np.int8(-5)})
    graph = import_onnx(model)
    x = RNG.integers(-128, 128, (1, 8)).astype(np.int8)
    np.testing.assert_array_equal(interp.run(graph, [x])[0], run_onnxruntime(model, {"x": x})[0])
    assert graph.inputs[0].dtype.value == "i8" and graph.inputs[0].quant.zero_point == (-5,)


def _int8_pad_model(quantize_first: bool):
    """x -> [QuantizeLinear] -> Pad(constant_value = the int8 zero point - 3) -> DequantizeLinear."""
    inits = {"s": np.float32(0.1), "z": np.int8(-3), "pads": np.array([0, 1, 0, 2], np.int64), "cv": np.int8(-6)}
    nodes = [helper.make_node("Pad", ["q", "pads", "cv"], ["p"]), helper.make_node("DequantizeLinear", ["p", "s", "z"], ["y"])]
    if quantize_first:
        nodes.insert(0, helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]))
    x = ("x", [1, 4]) if quantize_first else ("q", [1, 4], TensorProto.INT8)
    return make_model(nodes, [x], [("y", [1, 7])], inits)


def test_pad_of_quantized_integers_reads_its_constant_value_as_the_real_it_stands_for():
    model = _int8_pad_model(quantize_first=True)
    graph = import_onnx(model)
    pad = graph.nodes_of("pad")[0]
    assert pad.attrs["value"] == pytest.approx(-0.3)      # (-6 - (-3)) * 0.1
    feeds = {"x": np.array([[0.4, -1.0, 2.5, 0.0]], np.float32)}
    np.testing.assert_array_equal(interp.run(graph, feeds)[0], run_onnxruntime(model, feeds)[0])


def test_pad_of_integers_quantized_only_after_it_is_refused():
    with pytest.raises(UnsupportedError, match="fills integers whose quantization is given only after it"):
        import_onnx(_int8_pad_model(quantize_first=False))
