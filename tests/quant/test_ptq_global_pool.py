"""GlobalAveragePool is a mean over H and W: tfc imports it as reduce_mean (the IR the dynamo
export's ReduceMean and TFLite's MEAN give), so PTQ gives the pooled features their own int8
grid and rounds the mean once onto it, as onnxruntime's quantize_static does; AveragePool keeps
its input's grid (TFLite's AVERAGE_POOL_2D, and onnxruntime's quantizer too). A mean's
calibrated range gets headroom from the spread of its per-sample extremes, inside its input's."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import tfc
from tfc.frontend.onnx import import_onnx
from tfc.quant.calibration import RangeObserver


def _pool_model(pool: str) -> onnx.ModelProto:
    rng = np.random.default_rng(3)
    w = rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32)
    fc = rng.normal(0, 0.3, (8, 4)).astype(np.float32)
    pool_node = (helper.make_node("GlobalAveragePool", ["r"], ["p"]) if pool == "global" else
                 helper.make_node("AveragePool", ["r"], ["p"], kernel_shape=[6, 6]))
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]), pool_node,
             helper.make_node("Flatten", ["p"], ["f"]), helper.make_node("MatMul", ["f", "fc"], ["y"])]
    graph = helper.make_graph(nodes, "pool", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(fc, "fc")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_global_average_pool_imports_as_a_mean_and_average_pool_does_not():
    assert [n.op for n in import_onnx(_pool_model("global")).nodes if n.op in ("reduce_mean", "avgpool2d")] \
        == ["reduce_mean"]
    assert [n.op for n in import_onnx(_pool_model("window")).nodes if n.op in ("reduce_mean", "avgpool2d")] \
        == ["avgpool2d"]


def test_calibrated_global_pool_has_its_own_grid_inside_its_input_range():
    samples = np.random.default_rng(0).normal(0, 1, (32, 1, 3, 6, 6)).astype(np.float32)
    cm = tfc.compile(_pool_model("global"), target="host", calibration=samples)
    mean, = cm.ir.nodes_of("reduce_mean")
    assert mean.attrs["rounding"] == "nearest"
    xq, yq = mean.inputs[0].quant, mean.output.quant
    assert yq.scale[0] < xq.scale[0], "the pooled features keep the conv output's coarser grid"
    # The float means the calibration saw: the grid covers them, with the headroom on top.
    from tfc.interp import run
    graph = import_onnx(_pool_model("global"))
    pool_out = next(n for n in graph.nodes if n.op == "reduce_mean").output.name
    means = np.stack([run(graph, [s], keep=True)[pool_out] for s in samples])
    top = (127 - yq.zero_point[0]) * yq.scale[0]
    assert top > means.max() * 1.001
    assert top <= (127 - xq.zero_point[0]) * xq.scale[0] + 1e-6

    # float model vs tfc's int8 on held-out inputs: the pooled classifier stays close
    held = np.random.default_rng(1).normal(0, 1, (8, 1, 3, 6, 6)).astype(np.float32)
    want = np.stack([run(graph, [h])[0] for h in held])
    got = np.asarray(cm.run(held[:, 0])).reshape(want.shape)
    sqnr = 10 * np.log10(np.sum(want ** 2) / np.sum((want - got) ** 2))
    assert sqnr > 30, sqnr


def test_headroom_follows_the_spread_of_per_sample_extremes():
    stable, moving = RangeObserver(), RangeObserver()
    for k in range(8):
        stable.observe(np.array([0.0, 1.0]))
        moving.observe(np.array([0.0, 1.0 + 0.1 * k]))
    assert stable.range_with_headroom(2.0) == stable.range() == (0.0, 1.0)
    lo, hi = moving.range_with_headroom(2.0)
    assert lo == 0.0 and np.isclose(hi, 1.7 + 2 * np.std([1.0 + 0.1 * k for k in range(8)]))
