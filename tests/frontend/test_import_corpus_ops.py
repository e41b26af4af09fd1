"""Ops the model corpus (benchmarks/corpus) needed at import, each against onnxruntime on a small
hand-built model: InstanceNormalization, GroupNormalization, ReduceSum/ReduceL2/ReduceSumSquare,
Tile, IsNaN + Where around a softmax, AveragePool ceil_mode with count_include_pad overhang, Pow's
output type, and parameters computed by a constant subgraph (Q/DQ of a constant)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from tests.frontend.onnx_builders import import_and_compare, make_model, run_onnxruntime
from tfc import interp
from tfc.errors import UnsupportedError
from tfc.frontend.onnx import import_onnx

RNG = np.random.default_rng(14)


def _check(model, shapes: dict, rtol=1e-5):
    return import_and_compare(model, shapes, RNG, rtol)


def _ops(graph) -> list[str]:
    return [n.op for n in graph.nodes]


@pytest.mark.parametrize("shape", [(2, 6, 5, 4), (1, 4, 7)])
@pytest.mark.parametrize("affine", [True, False])
def test_instance_normalization(shape, affine):
    c = shape[1]
    scale = RNG.standard_normal(c).astype(np.float32) if affine else np.ones(c, np.float32)
    bias = RNG.standard_normal(c).astype(np.float32) if affine else np.zeros(c, np.float32)
    model = make_model([helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"], epsilon=1e-3)],
                       [("x", list(shape))], [("y", list(shape))], {"s": scale, "b": bias})
    graph = _check(model, {"x": shape})
    assert ("mul" in _ops(graph)) == affine, "the identity affine is left out, a real one kept"
    assert "layernorm" in _ops(graph)


def test_group_normalization():
    """Opset 21's per-channel scale and bias (the checker rejects the deprecated opset-18 form)."""
    groups, c = 3, 6
    model = make_model([helper.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=groups)],
                       [("x", [2, c, 4, 4])], [("y", [2, c, 4, 4])],
                       {"s": RNG.standard_normal(c).astype(np.float32),
                        "b": RNG.standard_normal(c).astype(np.float32)}, opset=21)
    _check(model, {"x": (2, c, 4, 4)})


def test_group_normalization_groups_must_divide_channels():
    model = make_model([helper.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=4)],
                       [("x", [1, 6, 2, 2])], [("y", [1, 6, 2, 2])],
                       {"s": np.ones(6, np.float32), "b": np.zeros(6, np.float32)}, opset=21)
    with pytest.raises(UnsupportedError, match="num_groups 4 does not divide the 6 channels"):
        import_onnx(model)


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceL2", "ReduceSumSquare"])
@pytest.mark.parametrize("axes, keepdims", [([1], 1), ([-1, 2], 0), (None, 1)])
def test_reductions(op, axes, keepdims):
    opset = 18
    inits = {"axes": np.array(axes, np.int64)} if axes is not None else {}
    node = helper.make_node(op, ["x", "axes"] if axes is not None else ["x"], ["y"], keepdims=keepdims)
    model = make_model([node], [("x", [2, 3, 4, 5])], [("y", None)], inits, opset=opset)
    _check(model, {"x": (2, 3, 4, 5)})


def test_reduce_sum_of_an_integer_constant_is_exact():
    """Shape arithmetic: ReduceSum of int64 [1, 2] is 3 (a mean times a count would give 2)."""
    model = make_model([helper.make_node("ReduceSum", ["c", "axes"], ["n"], keepdims=1),
                        helper.make_node("Reshape", ["x", "n"], ["y"])],
                       [("x", [1, 3])], [("y", [3])],
                       {"c": np.array([1, 2], np.int64), "axes": np.array([0], np.int64)}, opset=18)
    _check(model, {"x": (1, 3)})


@pytest.mark.parametrize("repeats", [[1, 2, 3], [3, 1, 1], [1, 1, 1]])
def test_tile(repeats):
    model = make_model([helper.make_node("Tile", ["x", "r"], ["y"])], [("x", [2, 3, 4])], [("y", None)],
                       {"r": np.array(repeats, np.int64)})
    graph = _check(model, {"x": (2, 3, 4)})
    assert all(op in ("reshape", "expand") for op in _ops(graph))


def test_isnan_where_guard_around_softmax_reduces_to_the_softmax():
    """The dynamo exporter's guard: Where(IsNaN(p), 0, p) on an attention's probabilities."""
    model = make_model([helper.make_node("Softmax", ["x"], ["p"], axis=-1),
                        helper.make_node("IsNaN", ["p"], ["nan"]),
                        helper.make_node("Where", ["nan", "zero", "p"], ["y"])],
                       [("x", [1, 2, 4, 4])], [("y", [1, 2, 4, 4])], {"zero": np.array(0.0, np.float32)})
    graph = _check(model, {"x": (1, 2, 4, 4)})
    assert _ops(graph) == ["softmax"]


def test_where_with_a_mixed_condition_over_computed_tensors_is_refused():
    model = make_model([helper.make_node("Where", ["c", "x", "z"], ["y"])],
                       [("x", [2, 2])], [("y", [2, 2])],
                       {"c": np.array([[True, False], [False, True]]), "z": np.zeros((2, 2), np.float32)})
    with pytest.raises(UnsupportedError, match="mixed constant condition"):
        import_onnx(model)


@pytest.mark.parametrize("size, pads", [(6, [1, 1, 1, 1]), (6, [0, 0, 0, 0]), (7, [1, 0, 1, 0])])
@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_average_pool_ceil_mode_overhang(size, pads, count_include_pad):
    """The last window overhangs the padded input: its divisor counts pads, not the overhang."""
    node = helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=pads,
                            ceil_mode=1, count_include_pad=count_include_pad)
    model = make_model([node], [("x", [1, 2, size, size])], [("y", None)])
    _check(model, {"x": (1, 2, size, size)})


def test_pow_keeps_the_base_type():
    model = make_model([helper.make_node("Pow", ["a", "e"], ["y"])],
                       [("a", [4], TensorProto.INT32)], [("y", [4], TensorProto.INT32)],
                       {"e": np.array([2.0], np.float32)})
    graph = import_onnx(model)
    assert graph.outputs[0].dtype.value == "i32"
    a = np.array([1, 2, -3, 4], np.int32)
    np.testing.assert_array_equal(interp.run(graph, [a])[0], run_onnxruntime(model, {"a": a})[0])


def test_pad_value_through_quantize_dequantize_of_a_constant():
    """onnxruntime's quantize_static writes a Pad's constant value as Q/DQ of an initializer."""
    nodes = [helper.make_node("QuantizeLinear", ["v", "s", "zp"], ["vq"]),
             helper.make_node("DequantizeLinear", ["vq", "s", "zp"], ["vd"]),
             helper.make_node("DequantizeLinear", ["pq", "s", "zp"], ["pd"]),
             helper.make_node("Pad", ["x", "pads", "vd"], ["y"]),
             helper.make_node("Add", ["y", "pd"], ["z"])]
    model = make_model(nodes, [("x", [1, 2, 3])], [("z", [1, 2, 5])],
                       {"v": np.array(0.5, np.float32), "s": np.array(0.1, np.float32),
                        "zp": np.array(0, np.int8), "pq": np.array(3, np.int8),
                        "pads": np.array([0, 0, 1, 0, 0, 1], np.int64)})
    _check(model, {"x": (1, 2, 3)})


def test_a_shared_bias_gets_one_constant_per_layer():
    """torch's legacy exporter merges identical zero biases into one initializer read through
    Identity nodes; onnxruntime then quantizes it per channel for a Conv and per tensor (Q/DQ)
    for an Add. Each layer must get its own constant, with its own parameters."""
    c = 4
    nodes = [helper.make_node("DequantizeLinear", ["bq", "bs", "bz"], ["b"], axis=0),
             helper.make_node("Identity", ["b"], ["b2"]),
             helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[1, 1]),
             helper.make_node("QuantizeLinear", ["b2", "s", "z"], ["b2q"]),
             helper.make_node("DequantizeLinear", ["b2q", "s", "z"], ["b2d"]),
             helper.make_node("Reshape", ["b2d", "shape"], ["b2r"]),
             helper.make_node("Add", ["y", "b2r"], ["out"])]
    model = make_model(nodes, [("x", [1, c, 3, 3])], [("out", [1, c, 3, 3])],
                       {"bq": np.array([3, -2, 5, 0], np.int32), "bs": np.array([0.1, 0.2, 0.05, 0.3], np.float32),
                        "bz": np.zeros(c, np.int32), "w": RNG.standard_normal((c, c, 1, 1)).astype(np.float32),
                        "s": np.array(0.01, np.float32), "z": np.array(0, np.int8),
                        "shape": np.array([1, c, 1, 1], np.int64)}, opset=13)
    graph = _check(model, {"x": (1, c, 3, 3)})
    quantized = sorted(str(v.quant.axis) for v in graph.constants.values() if v.quant is not None)
    assert quantized == ["0", "None"], f"one per-channel and one per-tensor constant, got axes {quantized}"


def test_col2im_of_non_overlapping_blocks():
    """MobileViTV2's fold, as the dynamo exporter writes it."""
    model = make_model([helper.make_node("Col2Im", ["x", "image", "block"], ["y"], strides=[2, 3])],
                       [("x", [2, 5 * 6, 12])], [("y", None)],
                       {"image": np.array([8, 9], np.int64), "block": np.array([2, 3], np.int64)}, opset=18)
    graph = _check(model, {"x": (2, 30, 12)})
    assert _ops(graph) == ["reshape", "transpose", "reshape"]


def test_col2im_with_overlap_is_refused():
    model = make_model([helper.make_node("Col2Im", ["x", "image", "block"], ["y"])],
                       [("x", [1, 4, 49])], [("y", None)],
                       {"image": np.array([8, 8], np.int64), "block": np.array([2, 2], np.int64)}, opset=18)
    with pytest.raises(UnsupportedError, match="only non-overlapping 2-D blocks"):
        import_onnx(model)


def test_an_op_without_converter_folds_when_it_reads_only_constants():
    """dinov2's legacy export resizes its position embedding (a constant) with Resize."""
    nodes = [helper.make_node("Resize", ["pos", "", "scales"], ["pos_big"], mode="linear"),
             helper.make_node("Add", ["x", "pos_big"], ["y"])]
    model = make_model(nodes, [("x", [1, 2, 4, 4])], [("y", [1, 2, 4, 4])],
                       {"pos": RNG.standard_normal((1, 2, 2, 2)).astype(np.float32),
                        "scales": np.array([1, 1, 2, 2], np.float32)})
    graph = _check(model, {"x": (1, 2, 4, 4)})
    assert _ops(graph) == ["add"]


def test_an_op_without_converter_on_a_computed_tensor_is_named():
    model = make_model([helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="linear")],
                       [("x", [1, 2, 2, 2])], [("y", None)], {"scales": np.array([1, 1, 2, 2], np.float32)})
    with pytest.raises(UnsupportedError, match=r"Resize \(1\)"):
        import_onnx(model)


@pytest.mark.parametrize("equation, a, b", [
    ("bhlk,bhtk->bhlt", (2, 3, 4, 5), (2, 3, 6, 5)),      # CvT's attention scores
    ("bhlt,bhtv->bhlv", (2, 3, 4, 6), (2, 3, 6, 5)),      # ... and its weighted values
    ("ij,jk->ik", (4, 5), (5, 3)),
    ("bij,bkj->bki", (2, 4, 5), (2, 3, 5)),               # output transposed
    ("abc,cd->abd", (2, 3, 4), (4, 5)),                    # two free letters on one side
])
def test_einsum_as_matmul(equation, a, b):
    model = make_model([helper.make_node("Einsum", ["a", "b"], ["y"], equation=equation)],
                       [("a", list(a)), ("b", list(b))], [("y", None)], opset=17)
    graph = _check(model, {"a": a, "b": b})
    assert _ops(graph).count("matmul") == 1


def test_einsum_that_is_not_a_matrix_product_is_refused():
    model = make_model([helper.make_node("Einsum", ["a", "b"], ["y"], equation="ij,jk->i")],
                       [("a", [2, 3]), ("b", [3, 4])], [("y", None)], opset=17)
    with pytest.raises(UnsupportedError, match="not a batched matrix product"):
        import_onnx(model)
