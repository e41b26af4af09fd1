"""sparsify: SparseLayout where the cost model says sparse wins, dense otherwise; pruning on request."""
from __future__ import annotations

import logging

import numpy as np

from tfc.ir.graph import Graph
from tfc.ir.types import DType, SparseLayout, TensorType
from tfc.passes.base import PassContext
from tfc.passes.sparsify import Sparsify
from tfc.sparse.encoding import block_mask
from tfc.sparse.prune import random_block_sparse


def _conv_graph(w: np.ndarray):
    g = Graph()
    x = g.add_input("x", TensorType((1, 16, 16, w.shape[3]), DType.F32))
    wc = g.add_constant("conv.w", w)
    g.add_node("conv2d", [x, wc], {"pad": [1, 1, 1, 1]}, name="conv")
    return g, wc


def test_block_sparse_int8_weights_get_a_layout():
    w = random_block_sparse(np.random.default_rng(0), (32, 288), block=8, density=0.2).reshape(32, 3, 3, 32)
    g, wc = _conv_graph(w)
    res = Sparsify(flash_scope="layer").run(g, PassContext())
    assert res.changed and wc.sparse is not None, f"no layout; stats {res.stats}"
    assert wc.sparse.block in (4, 8, 16), f"block {wc.sparse.block} for weights made of 8-blocks"
    assert abs(wc.sparse.density - block_mask(w.reshape(32, -1), wc.sparse.block).mean()) < 1e-6


def test_dense_weights_stay_dense_and_say_why():
    w = np.random.default_rng(1).standard_normal((32, 3, 3, 32)).astype(np.float32)
    g, wc = _conv_graph(w)
    ctx = PassContext()
    res = Sparsify(flash_scope="layer").run(g, ctx)
    assert wc.sparse is None and not res.changed
    assert any("dense" in d.reason for d in ctx.declined), [str(d) for d in ctx.declined]


def test_pruning_from_context_options(caplog):
    w = np.random.default_rng(2).standard_normal((32, 3, 3, 32)).astype(np.float32)
    g, wc = _conv_graph(w)
    ctx = PassContext(options={"sparsity": {"density": 0.25, "block": 4}})
    with caplog.at_level(logging.WARNING, logger="tfc.passes"):
        Sparsify(flash_scope="layer").run(g, ctx)
    assert wc.sparse == SparseLayout(4, 0.25), wc.sparse
    assert abs(block_mask(wc.data.reshape(32, -1), 4).mean() - 0.25) < 1e-9
    assert "fine-tuning" in caplog.text


def test_speed_over_size_takes_the_generated_code_and_default_takes_the_small_streams():
    w = random_block_sparse(np.random.default_rng(3), (32, 288), block=4, density=0.2).reshape(32, 3, 3, 32)
    g, wc = _conv_graph(w)
    Sparsify(flash_scope="layer").run(g, PassContext())
    assert wc.sparse is not None and wc.sparse.encoding == "brle", wc.sparse
    g2, wc2 = _conv_graph(w)
    Sparsify(speed_over_size=True).run(g2, PassContext())
    assert wc2.sparse is not None and wc2.sparse.encoding == "brle-unrolled", wc2.sparse


def test_choice_saves_flash_unless_speed_over_size():
    from tfc.passes.sparsify import choose_block, layer_shape
    w = random_block_sparse(np.random.default_rng(4), (32, 288), block=4, density=0.3)
    g, wc = _conv_graph(w.reshape(32, 3, 3, 32))
    shape = layer_shape(g.nodes[0])
    small, _ = choose_block(w, shape)
    fast, _ = choose_block(w, shape, speed_over_size=True)
    assert small.sparse_flash < small.dense_flash, small
    assert fast.sparse_instructions <= small.sparse_instructions, (fast, small)


def test_quantize_int8_keeps_the_layout():
    from tfc.passes.quantize_int8 import QuantizeInt8
    rng = np.random.default_rng(5)
    w = random_block_sparse(rng, (16, 72), block=4, density=0.25).astype(np.float32).reshape(16, 3, 3, 8) / 100
    g, wc = _conv_graph(w)
    Sparsify(flash_scope="layer").run(g, PassContext())
    layout = wc.sparse
    assert layout is not None
    QuantizeInt8().run(g, PassContext(options={"calibration": rng.standard_normal((2, 1, 16, 16, 8)).astype(np.float32)}))
    qw = g.nodes[0].inputs[1]
    assert qw.dtype == DType.I8 and qw.sparse == layout, (qw.dtype, qw.sparse, layout)


# ---- the default policy: the whole model under the target's flash and SRAM -----------------------
def _linear_graph(w: np.ndarray):
    g = Graph()
    x = g.add_input("x", TensorType((1, w.shape[1]), DType.F32))
    wc = g.add_constant("fc.w", w)
    g.add_node("linear", [x, wc], {}, name="fc")
    return g, wc


def _target(**sizes):
    import dataclasses
    from tfc.targets import Target
    return dataclasses.replace(Target.from_string("cortex-m7"), name="small", **sizes)


def test_the_default_takes_the_generated_code_where_the_targets_flash_has_room():
    """FC 256x256 at 50 %: brle-unrolled is ~2x faster than brle but larger than the dense layer;
    flash_scope=layer keeps brle, the default (the target's flash) takes the generated code."""
    w = random_block_sparse(np.random.default_rng(0), (256, 256), block=4, density=0.5)
    g, wc = _linear_graph(w)
    ctx = PassContext(target="cortex-m7")
    Sparsify().run(g, ctx)
    assert wc.sparse.encoding == "brle-unrolled", ctx.findings["sparsify"][0].text()
    decision = ctx.findings["sparsify"][0]
    assert decision.chosen == "b4 brle-unrolled" and decision.why == "the fastest form"
    labels = {label for label, *_ in decision.options}
    assert {"dense", "b4 brle", "b4 brle-unrolled"} <= labels, labels
    g2, wc2 = _linear_graph(w)
    Sparsify(flash_scope="layer").run(g2, PassContext(target="cortex-m7"))
    assert wc2.sparse.encoding == "brle"
    g3, wc3 = _linear_graph(w)
    ctx3 = PassContext(target="cortex-m7")
    Sparsify(size_over_speed=True).run(g3, ctx3)
    assert wc3.sparse.encoding == "brle" and "size over speed" in ctx3.findings["sparsify"][0].why


def test_a_flash_budget_too_small_for_the_generated_code_keeps_the_streams():
    w = random_block_sparse(np.random.default_rng(0), (256, 256), block=4, density=0.5)
    g, wc = _linear_graph(w)
    ctx = PassContext(target=_target(flash_bytes=128 * 1024))
    Sparsify().run(g, ctx)
    decision = ctx.findings["sparsify"][0]
    assert wc.sparse.encoding == "brle", decision.text()
    assert "does not fit the flash budget" in decision.why and "flash_scope=target" in decision.why


def test_a_sparse_form_whose_scratch_does_not_fit_sram_is_not_taken():
    """3x3 conv 16x16x64: input + output 32 KiB, the sparse kernels' widened input (18 x 18 x 64
    int16) 41,472 B more; on a 64 KiB SRAM (8 KiB of stack) only the dense layer fits."""
    w = random_block_sparse(np.random.default_rng(1), (64, 576), block=4, density=0.1).reshape(64, 3, 3, 64)
    g = Graph()
    x = g.add_input("x", TensorType((1, 16, 16, 64), DType.F32))
    wc = g.add_constant("conv.w", w)
    g.add_node("conv2d", [x, wc], {"pad": [1, 1, 1, 1]}, name="conv")
    ctx = PassContext(target=_target(sram_bytes=64 * 1024))
    Sparsify().run(g, ctx)
    decision = ctx.findings["sparsify"][0]
    assert wc.sparse is None and decision.chosen == "dense", decision.text()
    assert "41,472 B of scratch" in decision.why and "SRAM" in decision.why, decision.why
    ctx = PassContext(target="cortex-m7")
    Sparsify().run(g, ctx)
    assert wc.sparse is not None, ctx.findings["sparsify"][0].text()
