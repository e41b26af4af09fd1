"""OpSpec.macs: the multiply-accumulates of one run, counted by hand for each weighted op."""
from __future__ import annotations

import numpy as np

from tfc.ir.graph import Graph
from tfc.ir.types import DType, TensorType


def _node(op, shapes, attrs=None, consts=()):
    g = Graph("g")
    ins = [g.add_constant(f"c{i}", np.ones(s, np.float32)) if i in consts
           else g.add_input(f"x{i}", TensorType(s, DType.F32)) for i, s in enumerate(shapes)]
    return g.add_node(op, ins, attrs or {}, name="n")


def test_conv_counts_each_output_over_its_window():
    # 8x8 output (pad 1, stride 1), 16 channels, 3x3 window over 4 input channels.
    n = _node("conv2d", [(1, 8, 8, 4), (16, 3, 3, 4)], {"pad": [1, 1, 1, 1]}, consts={1})
    assert n.spec.macs(n) == 8 * 8 * 16 * 3 * 3 * 4


def test_depthwise_counts_only_its_own_channel():
    # stride 2 over 9x9, no padding: 4x4 output of 6 channels, 3x3 taps each.
    n = _node("conv2d", [(1, 9, 9, 6), (6, 3, 3, 1)], {"stride": [2, 2], "group": 6}, consts={1})
    assert n.spec.macs(n) == 4 * 4 * 6 * 9


def test_linear_matmul_and_attention():
    fc = _node("linear", [(2, 10), (3, 10)], consts={1})
    assert fc.spec.macs(fc) == 2 * 3 * 10
    mm = _node("matmul", [(4, 5, 6), (6, 7)])
    assert mm.spec.macs(mm) == 4 * 5 * 7 * 6
    bmm = _node("batch_matmul", [(2, 5, 8), (2, 7, 8)])
    assert bmm.spec.macs(bmm) == 2 * 5 * 7 * 8
    # 2 heads: scores 5x7 over 8, then 5x3 outputs over the 7 scores.
    att = _node("attention", [(2, 5, 8), (2, 7, 8), (2, 3, 7)], {"scores_scale": 0.1, "scores_zero_point": 0})
    assert att.spec.macs(att) == 2 * (5 * 7 * 8 + 5 * 3 * 7)


def test_ops_without_weights_count_zero():
    relu = _node("relu", [(1, 4)])
    assert relu.spec.macs(relu) == 0
