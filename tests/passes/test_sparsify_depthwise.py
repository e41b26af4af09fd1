"""sparsify on depthwise convs: per-tap pruning (block 1, whatever block is asked), the dw-taps
layout where the cost model's depthwise entry says faster and smaller, dense (and why) otherwise."""
from __future__ import annotations

import logging

import numpy as np

from tfc.ir.graph import Graph
from tfc.ir.types import DType, SparseLayout, TensorType
from tfc.passes.base import PassContext
from tfc.passes.sparsify import Sparsify, choose_depthwise, depthwise_shape
from tfc.sparse import cost_model as cm


def _dw_graph(w: np.ndarray, stride=1):
    c = w.shape[0]
    g = Graph()
    x = g.add_input("x", TensorType((1, 16, 16, c), DType.F32))
    wc = g.add_constant("dw.w", w)
    g.add_node("conv2d", [x, wc], {"pad": [1, 1, 1, 1], "group": c, "stride": [stride, stride]}, name="dw")
    return g, wc


def test_pruned_per_tap_to_the_density_with_the_usual_message(caplog):
    w = np.random.default_rng(0).standard_normal((64, 3, 3, 1)).astype(np.float32)
    g, wc = _dw_graph(w)
    ctx = PassContext(options={"sparsity": {"density": 0.15, "block": 4}})
    with caplog.at_level(logging.WARNING, logger="tfc.passes"):
        res = Sparsify(flash_scope="layer").run(g, ctx)
    kept = np.count_nonzero(wc.data.reshape(64, 9), axis=1)
    # round(0.15 * 64 * 9) = 86 taps in all: every channel 1 or 2 (floor/ceil of 1.35).
    assert kept.sum() == 86 and set(kept.tolist()) <= {1, 2}, f"taps kept per channel: {kept.tolist()}"
    # The largest-magnitude tap of each channel survives.
    flat = w.reshape(64, 9)
    assert (np.abs(wc.data.reshape(64, 9)).argmax(axis=1) == np.abs(flat).argmax(axis=1)).all()
    assert wc.sparse == SparseLayout(1, round(86 / (64 * 9), 6), "dw-taps"), wc.sparse
    assert res.stats["pruned"] == 1 and res.stats["sparse"] == 1, res.stats
    assert "pruned 'dw'" in caplog.text and "fine-tuning" in caplog.text and "depthwise" in caplog.text


def test_dense_depthwise_stays_dense_and_says_why():
    w = np.random.default_rng(1).standard_normal((64, 3, 3, 1)).astype(np.float32)
    g, wc = _dw_graph(w)
    ctx = PassContext()
    Sparsify(flash_scope="layer").run(g, ctx)
    assert wc.sparse is None
    assert any("depthwise" in d.reason and "dense" in d.reason for d in ctx.declined), [str(d) for d in ctx.declined]


def test_choice_is_faster_and_smaller_than_dense_unless_speed_over_size():
    rng = np.random.default_rng(2)
    g, _ = _dw_graph(np.zeros((64, 3, 3, 1), np.float32), stride=2)
    shape = depthwise_shape(g.nodes[0])
    assert (shape.out_h, shape.out_w, shape.stride, shape.cout) == (8, 8, 2, 64), shape
    for taps in (1, 2, 3):
        w = np.zeros((64, 9), np.float32)
        for ch in range(64):
            w[ch, rng.choice(9, taps, replace=False)] = 1.0
        choice, why = choose_depthwise(w, shape)
        assert choice is not None, why
        assert choice.sparse_instructions < choice.dense_instructions, choice
        assert choice.sparse_flash < choice.dense_flash, choice
    full = np.ones((64, 9), np.float32)
    choice, why = choose_depthwise(full, shape, speed_over_size=True)
    assert choice is None and "instructions" in why, (choice, why)


def test_cost_model_matches_the_measured_hybrid_layers():
    """Instruction counts measured on the emulated M7 (benchmarks/sparse_depthwise.py): 16x16x64
    3x3 one tap per channel, stride 1 and 2; dense arm_depthwise_conv_s8_opt alongside."""
    for stride, measured_sparse, measured_dense in ((1, 187_689, 512_402), (2, 76_185, 214_354)):
        out = 16 // stride
        shape = cm.LayerShape(64, 1, 3, 3, out, out, stride=stride)
        est = cm.sparse_depthwise_instructions(shape, [1] * 64)
        assert abs(est - measured_sparse) / measured_sparse < 0.08, (stride, est, measured_sparse)
        dense = cm.dense_depthwise_instructions(shape)
        assert abs(dense - measured_dense) / measured_dense < 0.1, (stride, dense, measured_dense)


def test_grouped_non_depthwise_and_channel_multiplier_convs_are_left_alone():
    g = Graph()
    x = g.add_input("x", TensorType((1, 8, 8, 8), DType.F32))
    w = g.add_constant("w", np.ones((16, 3, 3, 1), np.float32))  # ch_mult 2
    g.add_node("conv2d", [x, w], {"pad": [1, 1, 1, 1], "group": 8}, name="mult2")
    ctx = PassContext(options={"sparsity": {"density": 0.2}})
    Sparsify(flash_scope="layer").run(g, ctx)
    assert w.sparse is None and np.count_nonzero(w.data) == w.data.size
    assert any("grouped" in d.reason for d in ctx.declined), [str(d) for d in ctx.declined]
