"""Fused-tile execution (tfc.kernels.tiles): the rows each band needs, and the generated C of a
region run band by band equal to the int8 interpreter (the untiled kernels' numpy twins) bit for
bit, on the host with ASan/UBSan, for asymmetric padding, strides, depthwise, 1x1, average and
max pooling and a fused residual conv (the first conv and the residual one on the wide kernels,
tfc.kernels.conv_wide), in bands of several heights, top-down and bottom-up, with
halo rows recomputed or kept from band to band."""
from __future__ import annotations

import numpy as np
import pytest

from tests.kernels.host_check import run_c_exact
from tfc.errors import TfcError
from tfc.ir.graph import Graph
from tfc.ir.types import DType, TensorType
from tfc.kernels import select
from tfc.kernels.lowering import lower_for, plan_arena
from tfc.kernels.tiles import band_schedule, clear_regions, make_region, mark_region
from tfc.memory import check_plan
from tfc.passes import PassContext, PassManager


def _chain_graph(seed: int = 0) -> Graph:
    """conv 3x3/2 (TF 'same': pad bottom/right only) -> depthwise 3x3 -> 1x1 -> avgpool 3x3 (padded)
    -> conv 3x3 + residual (the 1x1's output) -> maxpool 2x2/2 -> linear."""
    rng = np.random.default_rng(seed)
    g = Graph("chain")
    x = g.add_input("x", TensorType((1, 13, 11, 3), DType.F32))

    def const(name, shape, scale=0.3):
        return g.add_constant(name, (rng.standard_normal(shape) * scale).astype(np.float32))

    c1 = g.add_node("conv2d", [x, const("w1", (8, 3, 3, 3)), const("b1", (8,))],
                    {"stride": [2, 2], "pad": [0, 0, 1, 1]}).output                     # 1,6,5,8
    r1 = g.add_node("relu", [c1]).output
    d1 = g.add_node("conv2d", [r1, const("wd", (8, 3, 3, 1)), const("bd", (8,))],
                    {"group": 8, "pad": [1, 1, 1, 1]}).output                          # 1,6,5,8
    p1 = g.add_node("conv2d", [d1, const("wp", (16, 1, 1, 8)), const("bp", (16,))]).output  # 1,6,5,16
    a1 = g.add_node("avgpool2d", [p1], {"kernel": [3, 3], "pad": [1, 1, 1, 1]}).output
    c2 = g.add_node("conv2d", [a1, const("w2", (16, 3, 3, 16)), const("b2", (16,))],
                    {"pad": [1, 1, 1, 1]}).output
    s = g.add_node("add", [c2, p1]).output
    m = g.add_node("maxpool2d", [s], {"kernel": [2, 2], "stride": [2, 2]}).output    # 1,3,2,16
    flat = g.add_node("reshape", [m], {"shape": [1, 96]}).output
    g.outputs.append(g.add_node("linear", [flat, const("wf", (5, 96), 0.1), const("bf", (5,))]).output)
    calibration = {"x": rng.standard_normal((8, 1, 13, 11, 3)).astype(np.float32)}
    PassManager("canonicalize,quantize-int8,fuse").run(g, PassContext(options={"calibration": calibration}))
    return g


def _shrinking_graph() -> Graph:
    """conv 3x3/2 then 1x1: 64 output bytes from 512 input bytes, so the output fits in the input's
    dead rows."""
    rng = np.random.default_rng(1)
    g = Graph("shrinking")
    x = g.add_input("x", TensorType((1, 16, 8, 4), DType.F32))
    c = g.add_node("conv2d", [x, g.add_constant("w1", rng.standard_normal((4, 3, 3, 4)).astype(np.float32))],
                   {"stride": [2, 2], "pad": [1, 1, 1, 1]}).output                       # 1,8,4,4
    g.outputs.append(g.add_node("conv2d", [c, g.add_constant("w2", rng.standard_normal((2, 1, 1, 4))
                                                             .astype(np.float32))]).output)   # 1,8,4,2
    calibration = {"x": rng.standard_normal((8, 1, 16, 8, 4)).astype(np.float32)}
    PassManager("canonicalize,quantize-int8,fuse").run(g, PassContext(options={"calibration": calibration}))
    return g


def _kernel_of(node):
    k = select(node, banded=True)
    return k, k.params(node)


@pytest.fixture(scope="module")
def graph():
    return _chain_graph()


@pytest.fixture(scope="module")
def ints(graph):
    rng = np.random.default_rng(3)
    return [rng.integers(-128, 128, size=(3, *graph.inputs[0].shape), dtype=np.int8)]


def _through(graph, op):
    return next(i for i, n in enumerate(graph.nodes) if n.op == op)


def test_the_chain_is_what_the_kernels_see(graph):
    assert [n.op for n in graph.nodes] == ["conv2d"] * 3 + ["avgpool2d", "conv2d_add", "maxpool2d", "reshape", "linear"]


def test_band_rows_have_the_halos_of_each_layer(graph):
    # Output rows [2, 4) of the 1x1 conv need the same depthwise rows, whose 3x3 window with padding
    # 1 reads conv rows [1, 5); that conv (3x3, stride 2, no top padding) reads input rows [2, 11).
    nodes = graph.nodes[:3]
    (first, second) = band_schedule(nodes, [0, 2, 4], _kernel_of)[:2]
    x, c1, d1, p1 = graph.inputs[0].name, *(n.output.name for n in nodes)
    assert second.rows[p1] == (2, 4) and second.rows[d1] == (2, 4)
    assert second.rows[c1] == (1, 5) and second.rows[x] == (2, 11)
    assert first.rows[c1] == (0, 3) and first.rows[x] == (0, 7)   # padding above row 0: no halo


def test_extra_macs_count_the_recomputed_rows(graph):
    region = make_region(graph, graph.nodes[:3], [0, 2, 4, 6], _kernel_of)
    per_row = {n.name: n.spec.macs(n) // n.output.shape[1] for n in graph.nodes[:3]}
    c1, d1, p1 = graph.nodes[:3]
    # conv rows computed: [0,3) + [1,5) + [3,6) = 10 of 6; the 1x1 and depthwise: none twice
    computed = sum(b.rows[c1.output.name][1] - b.rows[c1.output.name][0] for b in region.bands)
    assert computed == 10
    assert region.extra_macs() == (10 - 6) * per_row[c1.name]


@pytest.mark.parametrize("op, rows, order", [
    ("conv2d_add", 1, "top-down"), ("conv2d_add", 2, "bottom-up"), ("conv2d_add", 3, "top-down"),
    ("maxpool2d", 1, "bottom-up"), ("maxpool2d", 2, "top-down"), ("conv2d_add", 4, "bottom-up"),
])
def test_tiled_c_equals_the_untiled_kernels(graph, ints, tmp_path, op, rows, order):
    g = graph.copy()
    last = _through(g, op)
    h = g.nodes[last].output.shape[1]
    mark_region(g.nodes[:last + 1], [*range(0, h, rows), h], order)
    model = lower_for(g, target="host")
    assert len(model.regions) == 1 and len(model.regions[0].bands) == -(-h // rows)
    check_plan(model.allocation.buffers, model.plan)
    run_c_exact(g, ints, tmp_path)   # the C against the interpreter, which runs every layer whole


@pytest.mark.parametrize("op, rows", [("conv2d_add", 1), ("maxpool2d", 1), ("conv2d_add", 2)])
def test_bands_that_keep_their_halo_rows_equal_the_untiled_kernels(graph, ints, tmp_path, op, rows):
    g = graph.copy()
    last = _through(g, op)
    h = g.nodes[last].output.shape[1]
    mark_region(g.nodes[:last + 1], [*range(0, h, rows), h], "top-down", reuse=True)
    model = lower_for(g, target="host")
    (region,) = model.regions
    assert region.reuse and region.extra_macs() == 0
    assert any(b.moves for b in region.bands) and any(c.move for c in model.calls)
    check_plan(model.allocation.buffers, model.plan)
    run_c_exact(g, ints, tmp_path)


def test_two_regions_one_after_the_other(graph, ints, tmp_path):
    g = graph.copy()
    add = _through(g, "conv2d_add")
    mark_region(g.nodes[:2], [0, 2, 4, 6], "bottom-up", name="tile0")
    mark_region(g.nodes[2:add + 1], [0, 1, 2, 3, 4, 5, 6], "top-down", name="tile1", reuse=True)
    model = lower_for(g, target="host")
    assert [(r.name, r.first, r.last) for r in model.regions] == [("tile0", 0, 1), ("tile1", 2, add)]
    check_plan(model.allocation.buffers, model.plan)
    run_c_exact(g, ints, tmp_path)


def test_kept_halos_run_top_down_only(graph):
    reason = make_region(graph, graph.nodes[:3], [0, 2, 4, 6], _kernel_of, order="bottom-up", reuse=True)
    assert reason == "bands that keep their halo rows run top-down"


@pytest.mark.parametrize("order", ["top-down", "bottom-up"])
def test_output_shares_the_dying_input(order, tmp_path):
    g = _shrinking_graph()
    untiled = plan_arena(g, target="host").arena_bytes
    mark_region(g.nodes, [0, 1, 2, 3, 4, 5, 6, 7, 8], order)
    model = lower_for(g, target="host")
    (region,) = model.regions
    # bottom-up bands let the output sit at the input's end; top-down ones at its start
    assert region.overlay == (448 if order == "bottom-up" else 0)
    out = model.allocation.buffer(model.allocation.value_buffer[region.output.name])
    assert out.pin == model.allocation.value_buffer[region.inputs[0].name] and out.pin_offset == region.overlay
    check_plan(model.allocation.buffers, model.plan)
    assert model.arena_bytes < untiled
    rng = np.random.default_rng(5)
    run_c_exact(g, [rng.integers(-128, 128, size=(3, 1, 16, 8, 4), dtype=np.int8)], tmp_path)


def test_a_region_whose_inner_value_escapes_is_refused(graph):
    g = graph.copy()
    # the 1x1 conv's output is the residual of conv2d_add: a region ending at the avgpool leaks it
    reason = make_region(g, g.nodes[:4], [0, 3, 6], _kernel_of)
    assert isinstance(reason, str) and "read after the region" in reason
    mark_region(g.nodes[:4], [0, 3, 6])
    with pytest.raises(TfcError, match="read after the region"):
        lower_for(g, target="host")
    assert clear_regions(g) and not clear_regions(g)
