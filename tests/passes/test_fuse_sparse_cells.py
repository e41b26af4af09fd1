"""fuse-sparse-cells: a LayerNorm read only by sparse linear layers (q, k and v) stores its result as
their int16 cells, so none of them widens its input; the generated C (portable and emulated-DSP
host builds under ASan/UBSan, built twice to the same bytes) equals the int8 interpreter, and both
equal the build without the rule, for the streamed (brle) and the generated-code encodings."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import tfc
from tests.backends.cmsis.compare import assert_exact
from tests.kernels.host_check import assert_both_host_builds_exact
from tfc import interp
from tfc.ir.types import DType
from tfc.kernels import select
from tfc.kernels.lowering import lower_for
from tfc.sparse.cells import CELLS_ATTR, cell_order, from_cells, to_cells

TOKENS, WIDTH = 6, 32
PIPELINES = {
    "brle": "canonicalize,fuse{residual=false},sparsify,quantize-int8,fuse,plan-memory",
    "generated": "canonicalize,fuse{residual=false},sparsify{speed_over_size=true},quantize-int8,fuse,plan-memory",
}


def layernorm_qkv(extra_output: bool = False, seed: int = 0):
    """x [1, T, C] -> LayerNorm -> three Linears (q, k, v: graph outputs); extra_output: the
    LayerNorm's result is a graph output too."""
    rng = np.random.default_rng(seed)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, TOKENS, WIDTH])
    inits = [numpy_helper.from_array(rng.normal(1, 0.3, WIDTH).astype(np.float32), "gamma"),
             numpy_helper.from_array(rng.normal(0, 0.2, WIDTH).astype(np.float32), "beta")]
    nodes = [helper.make_node("LayerNormalization", ["x", "gamma", "beta"], ["n"], axis=-1, epsilon=1e-5)]
    outputs = []
    for name in "qkv":
        inits += [numpy_helper.from_array(rng.normal(0, 0.2, (WIDTH, WIDTH)).astype(np.float32), f"w{name}"),
                  numpy_helper.from_array(rng.normal(0, 0.1, WIDTH).astype(np.float32), f"b{name}")]
        nodes += [helper.make_node("MatMul", ["n", f"w{name}"], [f"m{name}"]),
                  helper.make_node("Add", [f"m{name}", f"b{name}"], [name])]
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, TOKENS, WIDTH]))
    if extra_output:
        outputs.append(helper.make_tensor_value_info("n", TensorProto.FLOAT, [1, TOKENS, WIDTH]))
    graph = helper.make_graph(nodes, "layernorm_qkv", [x], outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _compile(model, pipeline: str):
    samples = np.random.default_rng(1).normal(0, 1, (8, 1, TOKENS, WIDTH)).astype(np.float32)
    return tfc.compile(model, "cortex-m7", calibration=samples, pipeline=pipeline,
                       sparsity={"density": 0.3, "block": 4})


def _layernorm(graph):
    return next(n for n in graph.nodes if n.op == "layernorm")


@pytest.mark.parametrize("encoding", sorted(PIPELINES))
def test_layernorm_writes_the_cells_q_k_v_read(encoding, tmp_path):
    cm = _compile(layernorm_qkv(), PIPELINES[encoding])
    ln = _layernorm(cm.ir)
    assert ln.attrs[CELLS_ATTR] == 4 and ln.output.dtype == DType.I16
    readers = [r for r, _ in ln.output.uses]
    assert len(readers) == 3 and all(select(r).name == "sparse_fc" for r in readers)
    model = lower_for(cm.ir, target="cortex-m7")
    layers = {layer.node: layer for layer in model.layers}
    assert layers[ln.name].function == "tfc_layernorm_cells_s8"
    for r in readers:   # no widened image of their own
        assert layers[r.name].scratch is None and layers[r.name].function == "tfc_sparse_fully_connected_cells_s8"
    plain = _compile(layernorm_qkv(), PIPELINES[encoding].replace(",fuse,", ",fuse{sparse_cells=false},"))
    assert _layernorm(plain.ir).attrs[CELLS_ATTR] == 0
    assert lower_for(plain.ir, target="cortex-m7").arena_bytes >= model.arena_bytes

    x = np.random.default_rng(2).integers(-128, 128, (3, 1, TOKENS, WIDTH)).astype(np.int8)
    for i in range(len(x)):
        for k, (a, b) in enumerate(zip(interp.run(cm.ir, [x[i]]), interp.run(plain.ir, [x[i]]))):
            assert_exact(a, b, f"sample {i}, output {k}: with the cells vs without")
    # the graph has three outputs; the host check compares the first (q) in C, the others above
    want = np.stack([interp.run(cm.ir, [xi])[0] for xi in x])
    assert_both_host_builds_exact(cm.ir, x, want, tmp_path, "cells")


def test_a_layernorm_also_read_as_int8_keeps_int8():
    cm = _compile(layernorm_qkv(extra_output=True), PIPELINES["generated"])
    assert _layernorm(cm.ir).attrs[CELLS_ATTR] == 0


@pytest.mark.parametrize("shape,block", [((1, 6, 32), 4), ((1, 3, 5, 16), 8), ((2, 7, 48), 16)])
def test_cells_round_trip_and_layout(shape, block):
    x = np.random.default_rng(0).integers(-128, 128, shape).astype(np.int8)
    cells = to_cells(x, block)
    assert cells.dtype == np.int16 and cells.shape == x.shape
    assert_exact(from_cells(cells, block), x, "from_cells(to_cells(x))")
    order = cell_order(shape, block)
    # the first cell: pixel 0's channels 0, 2, 1, 3 (then 4, 6, 5, 7 ...), as sp_widen lays them
    assert list(order[:4]) == [0, 2, 1, 3]
    # the second cell: the next pixel (or vector) of the same channel group
    assert order[block] == shape[-1]
