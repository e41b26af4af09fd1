"""From graphs to buffers: lifetimes, reshape aliases, in-place writes, scratch; and the arenas of
the MLPerf Tiny models against tflite-micro's own planner."""
from __future__ import annotations

import numpy as np
import pytest

from tfc.frontend.onnx import import_onnx
from tfc.ir.graph import Graph
from tfc.ir.types import DType, TensorType
from tfc.memory import check_plan, graph_buffers, lower_bound, plan_memory
from tfc.passes import run_pipeline


def chain() -> Graph:
    """x -> relu -> reshape -> relu -> (output), plus a second reader of the first relu."""
    g = Graph("chain")
    x = g.add_input("x", TensorType((1, 4, 4, 2), DType.F32))
    r1 = g.add_node("relu", [x], name="r1").output
    flat = g.add_node("reshape", [r1], {"shape": [1, 32]}, name="flat").output
    r2 = g.add_node("relu", [flat], name="r2").output
    g.add_node("neg", [r2], name="n").output
    late = g.add_node("abs", [r1], name="late").output
    g.outputs.extend([g.find_node("n").output, late])
    return g


def test_lifetimes_reshape_alias_and_io():
    g = chain()
    alloc = graph_buffers(g)
    vb = alloc.value_buffer
    assert vb["flat"] == vb["r1"], "a reshape shares its input's bytes"
    by_name = {b.name: b for b in alloc.buffers}
    assert (by_name["x"].first, by_name["x"].last) == (0, 0)
    # r1 (and its reshape) is read by r2 at step 2 and by `late` at step 4.
    assert (by_name[vb["r1"]].first, by_name[vb["r1"]].last) == (0, 4)
    assert by_name[vb["n"]].last == 4 and by_name[vb["late"]].last == 4, "outputs live to the end"


def test_in_place_only_when_the_input_dies_there():
    g = chain()
    alloc = graph_buffers(g, in_place=lambda n: n.op == "relu")
    vb = alloc.value_buffer
    assert vb["r1"] == vb["x"], "r1 may overwrite x: nothing reads x later"
    assert vb["r2"] != vb["flat"], "r2 must not overwrite flat: `late` still reads r1 (flat's bytes)"


def test_scratch_lives_during_its_node_only():
    g = chain()
    alloc = graph_buffers(g, scratch_bytes=lambda n: 100 if n.name == "r2" else 0)
    assert dict(alloc.scratch_buffer) == {"r2": "scratch:r2"}
    s = alloc.buffer("scratch:r2")
    assert (s.first, s.last, s.size) == (2, 2, 100)
    plan = plan_memory(alloc.buffers)
    check_plan(alloc.buffers, plan)


# tflite-micro's non-persistent arena ("head") for the reference kernels, which need no scratch:
# ../shared/data/mlperf_tiny/README.md. TFLite fuses each ReLU into its producer; tfc's IR has
# them standalone (no fuse pass here), and writing them in place is the equivalent. tfc's plan is
# then as small as tflite-micro's, and smaller for VWW (73,728 -> 55,296 B, its lower bound, since
# the planner tries several placement orders).
TFLM_HEAD = {"pretrainedResnet_quant": 49152, "kws_ref_model": 16000, "vww_96_int8": 73728,
             "ad01_int8": 768, "str_ww_ref_model": 6656}
TFC_IN_PLACE = dict(TFLM_HEAD, vww_96_int8=55296)


@pytest.mark.parametrize("model", sorted(TFLM_HEAD))
def test_mlperf_arenas_against_tflite_micro(mlperf_onnx, model):
    g = import_onnx(mlperf_onnx / f"{model}.onnx")
    run_pipeline(g, "canonicalize,quantize-int8")
    alloc = graph_buffers(g, in_place=lambda n: n.op in ("relu", "clip", "quantize"))
    plan = plan_memory(alloc.buffers)
    check_plan(alloc.buffers, plan)
    assert plan.arena_size == TFC_IN_PLACE[model] <= TFLM_HEAD[model], \
        f"{model}: {plan.arena_size} B, expected {TFC_IN_PLACE[model]} B (tflite-micro: {TFLM_HEAD[model]} B)"
    assert lower_bound(alloc.buffers) <= plan.arena_size
    copying = graph_buffers(g)  # every ReLU into a buffer of its own: never smaller
    assert plan_memory(copying.buffers).arena_size >= plan.arena_size
