"""canonicalize on whole imported models: transposes gone, results unchanged.

MLPerf Tiny models (NHWC, a transpose to NCHW inside) must end with no transpose at all; a
PyTorch-style NCHW CNN with at most one at the input and one at the output. Float models agree
within 1e-5 (relative to the output's magnitude), QDQ models exactly.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.passes.golden import assert_same_results
from tfc.frontend.onnx import import_onnx
from tfc.passes import PassContext, run_pipeline

MLPERF = ["pretrainedResnet.onnx", "pretrainedResnet_quant.onnx", "kws_ref_model.onnx",
          "kws_ref_model_fp32_from_savedmodel.onnx", "vww_96_float.onnx", "vww_96_int8.onnx",
          "str_ww_ref_model.onnx", "ad01_int8.onnx"]


def transposes(graph) -> list[str]:
    return [n.name for n in graph.nodes if n.op == "transpose"]


@pytest.mark.parametrize("filename", MLPERF)
def test_mlperf_models_end_without_transposes(mlperf_onnx, filename):
    graph = import_onnx(mlperf_onnx / filename)
    quantized = any(n.op == "dequantize" for n in graph.nodes)
    before = graph.copy()
    run_pipeline(graph, "canonicalize", PassContext())
    assert transposes(graph) == [], f"{filename}: transposes left: {transposes(graph)}"
    assert_same_results(before, graph, seeds=(1, 2), exact=quantized)
    if quantized:  # one dequantize at the int8 input, one quantize at the int8 output, no others
        assert len(graph.nodes_of("dequantize")) == 1 and len(graph.nodes_of("quantize")) == 1, \
            f"{filename}: Q/DQ left: {[n.name for n in graph.nodes_of('quantize', 'dequantize')]}"


def _nchw_cnn(global_pool: bool) -> onnx.ModelProto:
    """A small PyTorch-style NCHW CNN: conv-bn-relu, residual block, pool, flatten, gemm."""
    rng = np.random.default_rng(7)

    def init(name, *shape, positive=False):
        a = rng.uniform(0.5, 1.5, shape) if positive else rng.standard_normal(shape) * 0.3
        return numpy_helper.from_array(a.astype(np.float32), name)

    c, h = 4, 8
    flat = c if global_pool else c * (h // 2) * (h // 2)
    inits = [init("w1", c, 3, 3, 3), init("b1", c), init("w2", c, c, 3, 3), init("b2", c),
             init("g", c, positive=True), init("beta", c), init("mean", c), init("var", c, positive=True),
             init("fc_w", 10, flat), init("fc_b", 10)]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "g", "beta", "mean", "var"], ["bn"]),
        helper.make_node("Relu", ["bn"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "r1"], ["s"]),
        helper.make_node("Relu", ["s"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["p"]) if global_pool else
        helper.make_node("MaxPool", ["r2"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], transB=1),
    ]
    graph = helper.make_graph(nodes, "nchw_cnn",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, h, h])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


@pytest.mark.parametrize("global_pool", [True, False], ids=["gap", "flatten-spatial"])
def test_nchw_cnn_keeps_at_most_one_transpose_at_each_end(global_pool):
    graph = import_onnx(_nchw_cnn(global_pool))
    before = graph.copy()
    run_pipeline(graph, "canonicalize", PassContext())
    assert_same_results(before, graph)
    left = [n for n in graph.nodes if n.op == "transpose"]
    at_input = [n for n in left if n.inputs[0] in graph.inputs]
    # the output side: the transpose back to NCHW before the flatten (none after a global pool)
    at_output = [n for n in left if n not in at_input]
    assert len(at_input) <= 1 and len(at_output) <= (0 if global_pool else 1), \
        f"transposes left: {[(n.name, n.attrs['perm']) for n in left]}"
    assert not graph.nodes_of("batchnorm", "mul"), "batchnorm was not folded into the conv"
