"""An int8 transpose of rank > 4 (after merging axes that stay neighbours) runs as a chain of
rank <= 4 transposes that each move one axis in front of a block (legalize.split_high_rank_transposes):
Col2Im's fold, [N, C, kh, kw, bh, bw] -> [N, C, bh, kh, bw, kw], and random permutations of
rank 5 and 6, in the C under ASan/UBSan, equal numpy's transpose of the int8 input."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

import tfc
from tests.kernels.host_check import int8_inputs, run_c_exact
from tfc.kernels.movement import simplify_transpose


def _transpose_model(shape, perm):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [shape[p] for p in perm])
    graph = helper.make_graph([helper.make_node("Transpose", ["x"], ["y"], perm=list(perm))], "t", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("shape, perm", [
    ((1, 4, 2, 2, 3, 3), (0, 1, 4, 2, 5, 3)),          # Col2Im's fold (MobileViTV2)
    ((2, 3, 4, 5, 2), (4, 2, 0, 3, 1)),
    ((2, 3, 2, 3, 2, 3), (5, 3, 1, 4, 2, 0)),
])
def test_high_rank_transpose_runs_as_rank4_steps(shape, perm, tmp_path):
    assert len(simplify_transpose(shape, perm)[1]) > 4
    rng = np.random.default_rng(0)
    cm = tfc.compile(_transpose_model(shape, perm), target="host",
                     calibration=rng.normal(size=(4, *shape)).astype(np.float32))
    steps = list(cm.ir.nodes_of("transpose"))
    assert 1 < len(steps) < len(shape)
    assert all(len(simplify_transpose(tuple(t.inputs[0].shape), tuple(t.attrs["perm"]))[1]) <= 4 for t in steps)
    ints = int8_inputs(cm.ir, [rng.normal(size=(3, *shape)).astype(np.float32)])
    got = run_c_exact(cm.ir, ints, tmp_path)[0]
    want = ints[0].transpose(0, *[p + 1 for p in perm])
    np.testing.assert_array_equal(got.reshape(want.shape), want)
