"""Sparse generated-code layers (sparse_conv, sparse_fc and their table epilogues conv2d_lut /
linear_lut) store their outputs as the int16 cells their sparse readers multiply (fuse-sparse-cells,
codegen.LayerCode.cells), so the readers skip their widening. The C (portable and emulated-DSP host
builds, strict, under ASan/UBSan, the same bytes twice) equals the int8 interpreter, which equals
the build without the rule and the dense twin."""
from __future__ import annotations

import numpy as np

import tfc
from tests.backends.cmsis.compare import assert_exact
from tests.kernels.host_check import assert_both_host_builds_exact
from tfc import interp
from tfc.ir.graph import Graph
from tfc.ir.types import DType, TensorType
from tfc.kernels import select
from tfc.kernels.lowering import lower_for
from tfc.passes.sparsify import dense_twin
from tfc.sparse.cells import CELLS_ATTR

SPEED = ("canonicalize,fuse{residual=false},sparsify{speed_over_size=true},quantize-int8,"
         "fuse{residual=false%s},plan-memory")


def _float_graph(seed=0) -> Graph:
    """conv 1x1 -> hardswish -> conv 1x1 -> conv 1x1 -> tokens -> linear -> gelu -> linear -> linear:
    each layer but the last two of either kind is read only by the next (a sparse layer)."""
    rng = np.random.default_rng(seed)
    g = Graph("sparse_cells_output")
    x = g.add_input("x", TensorType((1, 4, 6, 16), DType.F32))

    def const(name, shape, scale=0.3):
        return g.add_constant(name, (rng.standard_normal(shape) * scale).astype(np.float32))

    def conv(name, h, cout=16):
        return g.add_node("conv2d", [h, const(f"w{name}", (cout, 1, 1, 16)), const(f"b{name}", (cout,))]).output

    h = g.add_node("hardswish", [conv(1, x)]).output
    t = g.add_node("reshape", [conv(3, conv(2, h))], {"shape": [1, 24, 16]}).output
    f = g.add_node("gelu", [g.add_node("linear", [t, const("w4", (32, 16)), const("b4", (32,))]).output]).output
    f = g.add_node("linear", [f, const("w5", (16, 32), 0.2), const("b5", (16,))]).output
    g.outputs.append(g.add_node("linear", [f, const("w6", (8, 16)), const("b6", (8,))]).output)
    return g


def _compile(cells: bool):
    cal = np.random.default_rng(1).standard_normal((6, 1, 4, 6, 16)).astype(np.float32)
    return tfc.compile(_float_graph(), "cortex-m7", calibration=cal, sparsity={"density": 0.3, "block": 4},
                       pipeline=SPEED % ("" if cells else ",sparse_cells=false"))


def test_generated_layers_store_their_readers_cells(tmp_path):
    cm, plain = _compile(True), _compile(False)
    writers = [n for n in cm.ir.nodes if n.attrs.get(CELLS_ATTR, 0)]
    kernels = sorted(select(n).name for n in writers)
    # linear4+gelu -> linear5 -> linear6; the convs write no cells (SparseConv.writes_cells: lowering may
    # still store a conv as brle to fit flash after fuse, and brle writes plain int8)
    assert kernels == ["sparse_fc", "sparse_fc_lut"], kernels
    for n in writers:
        assert n.output.dtype == DType.I16 and n.attrs[CELLS_ATTR] == 4
        assert all(select(r).c_function(r, None).endswith("_cells_s8") for r, _ in n.output.uses)
    assert not any(n.attrs.get(CELLS_ATTR, 0) for n in plain.ir.nodes)
    model = lower_for(cm.ir, target="cortex-m7")
    assert model.arena_bytes <= lower_for(plain.ir, target="cortex-m7").arena_bytes
    code = [layer.args.code for layer in model.layers if getattr(layer.args, "output_cells", 0)]
    assert len(code) == 2 and all(c.cells == 4 for c in code)

    x = np.random.default_rng(2).integers(-128, 128, (3, 1, 4, 6, 16)).astype(np.int8)
    twin = dense_twin(cm.ir)
    assert not any(n.attrs.get(CELLS_ATTR, 0) for n in twin.nodes)
    want = np.stack([interp.run(cm.ir, [xi])[0] for xi in x])
    for i in range(len(x)):
        assert_exact(want[i], interp.run(plain.ir, [x[i]])[0], f"sample {i}: with the cells vs without")
        assert_exact(want[i], interp.run(twin, [x[i]])[0], f"sample {i}: with the cells vs the dense twin")
    assert_both_host_builds_exact(cm.ir, x, want, tmp_path, "cells_out")
