"""A small float graph, calibrated to int8, that reaches the kernels the MLPerf Tiny models do
not: two inputs and two outputs, grouped and dilated convolution, depthwise with a channel
multiplier of 2, max pooling, elementwise mul, clip, int8 requantization, transpose,
per-channel fully connected."""
from __future__ import annotations

import numpy as np

from tfc.ir.graph import Graph
from tfc.ir.types import DType, QuantParams, TensorType
from tfc.passes import PassContext, PassManager


def float_graph(seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    g = Graph("synthetic")
    a = g.add_input("a", TensorType((1, 9, 9, 4), DType.F32))
    b = g.add_input("b", TensorType((1, 4, 3, 8), DType.F32))

    def const(name, shape, scale=0.3):
        return g.add_constant(name, (rng.standard_normal(shape) * scale).astype(np.float32))

    conv = g.add_node("conv2d", [a, const("w_grouped", (8, 3, 3, 2)), const("b_grouped", (8,))],
                      {"group": 2, "dilation": [2, 2], "pad": [2, 1, 2, 1], "stride": [1, 2]}).output  # 1,9,4,8
    dw = g.add_node("conv2d", [conv, const("w_dw", (16, 3, 3, 1)), const("b_dw", (16,))],
                    {"group": 8, "pad": [1, 1, 1, 1], "stride": [2, 1]}).output                        # 1,5,4,16
    pool = g.add_node("maxpool2d", [dw], {"kernel": [2, 2], "stride": [1, 1], "pad": [0, 0, 0, 0]}).output  # 1,4,3,16
    pw = g.add_node("conv2d", [pool, const("w_pw", (8, 1, 1, 16)), const("b_pw", (8,))]).output      # 1,4,3,8
    prod = g.add_node("mul", [pw, b]).output
    clipped = g.add_node("clip", [prod], {"min": -1.0, "max": 2.0}).output
    t = g.add_node("transpose", [clipped], {"perm": [0, 3, 1, 2]}).output                            # 1,8,4,3
    flat = g.add_node("reshape", [clipped], {"shape": [1, 96]}).output
    fc = g.add_node("linear", [flat, const("w_fc", (6, 96), 0.1), const("b_fc", (6,))]).output
    sm = g.add_node("softmax", [fc], {"axis": -1}).output
    g.outputs.extend([sm, t])
    return g


def int8_graph(seed: int = 0) -> Graph:
    g = float_graph(seed)
    rng = np.random.default_rng(seed + 1)
    calibration = {v.name: rng.standard_normal((8, *v.shape)).astype(np.float32) for v in g.inputs}
    PassManager("canonicalize,quantize-int8").run(g, PassContext(options={"calibration": calibration}))
    # An int8 -> int8 requantization (new scale and zero point) in front of the transpose.
    clip = g.find_node("clip")
    requant = g.add_node("quantize", [clip.output], {"dtype": "i8"}, name="requant", after=clip)
    requant.output.quant = QuantParams((0.02,), (5,))
    g.find_node("transpose").set_input(0, requant.output)
    return g
