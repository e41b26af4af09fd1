"""tfc_slice_s8: a float ONNX model with strided Slices, calibrated, reaches int8 C that equals the
int8 interpreter bit for bit (strict build, ASan/UBSan) and onnxruntime on the int8 grid exactly
(a slice moves values, so quantizing after it loses nothing)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import tfc
from tests.kernels.host_check import c_and_onnxruntime, int8_inputs, onnxruntime_on_grid, run_c_exact
from tfc.errors import UnsupportedError
from tfc.kernels import select
from tfc.kernels.slice import slice_walk

INT_MIN = -(1 << 63)


def slice_model(shape, slices) -> onnx.ModelProto:
    """One Slice of input x per (starts, ends, axes, steps), each a graph output."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
    nodes, inits, outs = [], [], []
    for k, params in enumerate(slices):
        names = []
        for role, values in zip(("starts", "ends", "axes", "steps"), params):
            inits.append(helper.make_tensor(f"{role}{k}", TensorProto.INT64, [len(values)], values))
            names.append(f"{role}{k}")
        nodes.append(helper.make_node("Slice", ["x", *names], [f"y{k}"]))
        index = [slice(None)] * len(shape)
        for start, end, axis, step in zip(*params):
            index[axis] = slice(start, end, step)
        out_shape = np.empty(shape)[tuple(index)].shape
        outs.append(helper.make_tensor_value_info(f"y{k}", TensorProto.FLOAT, list(out_shape)))
    graph = helper.make_graph(nodes, "slices", [x], outs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


SLICES = [
    ([1, 0], [5, 10], [1, 3], [2, 1]),               # every other channel, rows whole: memcpy rows
    ([7], [INT_MIN], [2], [-3]),                      # backwards to the start, step -3
    ([0, 9, 1], [1, 0, 6], [0, 3, 1], [1, -2, 2]),     # three axes, the innermost backwards
    ([-3], [1000], [-1], [1]),                        # the last three of the innermost axis
]


def test_float_model_with_slices_compiles_to_c_equal_to_interpreter_and_onnxruntime(tmp_path):
    shape = (1, 6, 8, 10)
    model = slice_model(shape, SLICES)
    rng = np.random.default_rng(0)
    cm = tfc.compile(model, target="host", calibration=rng.normal(0, 1, (16, *shape)).astype(np.float32))
    assert len(cm.ir.nodes_of("slice")) == len(SLICES)
    assert {select(n).name for n in cm.ir.nodes} == {"slice"}
    ints = int8_inputs(cm.ir, [rng.normal(0, 1.5, (4, *shape)).astype(np.float32)])
    got, want = c_and_onnxruntime(cm, model, ints, tmp_path)
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(g, w, err_msg=f"slice {k}: C vs onnxruntime")
    info = cm.save(tmp_path / "project")
    assert info.scratch_bytes == 0
    assert all(layer.function == "tfc_slice_s8" for layer in info.layers)


def test_rank5_slice_runs_when_whole_axes_merge_and_declines_when_not(tmp_path):
    shape = (2, 3, 4, 5, 6)
    merging = ([1, 0, 1, 0], [2, 4, 4, 6], [0, 2, 3, 4], [1, 2, 1, 2])   # axis 0 (step 1) takes in whole axis 1
    model = slice_model(shape, [merging])
    rng = np.random.default_rng(1)
    cm = tfc.compile(model, target="host", calibration=rng.normal(0, 1, (8, *shape)).astype(np.float32))
    walk = slice_walk(cm.ir.nodes_of("slice")[0])
    assert (walk.in_dims, walk.begin, walk.step, walk.out_dims) == ((6, 4, 5, 6), (3, 0, 1, 0), (1, 2, 1, 2), (3, 2, 3, 3))
    ints = int8_inputs(cm.ir, [rng.normal(0, 1, (2, *shape)).astype(np.float32)])
    np.testing.assert_array_equal(run_c_exact(cm.ir, ints, tmp_path)[0], onnxruntime_on_grid(model, cm.ir, ints)[0])

    strided = ([0] * 5, [9] * 5, [0, 1, 2, 3, 4], [2] * 5)
    with pytest.raises(UnsupportedError, match=r"slice of rank 5 that stays rank 5"):
        tfc.compile(slice_model(shape, [strided]), target="host",
                    calibration=rng.normal(0, 1, (8, *shape)).astype(np.float32))


@pytest.mark.parametrize("opset", [17, 18])
def test_split_imports_as_slices_that_reach_int8_c(opset, tmp_path):
    """ONNX Split (sizes as an input, or opset 18's num_outputs with an uneven last part) becomes
    one slice per part at import (LeViT's and fused-qkv attention's chunk): each part runs as
    tfc_slice_s8 and equals onnxruntime on the grid exactly."""
    shape = [1, 7, 4, 6]
    outs = [("a", [1, 3, 4, 6]), ("b", [1, 3, 4, 6]), ("c", [1, 1, 4, 6])]
    if opset == 17:
        split = helper.make_node("Split", ["x", "sizes"], ["a", "b", "c"], axis=1, name="chunk")
        inits = [helper.make_tensor("sizes", TensorProto.INT64, [3], [3, 3, 1])]
    else:
        split = helper.make_node("Split", ["x"], ["a", "b", "c"], axis=1, num_outputs=3, name="chunk")
        inits = []
    graph = helper.make_graph([split], "split", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    rng = np.random.default_rng(5)
    cm = tfc.compile(model, target="host", calibration=rng.normal(0, 1, (16, *shape)).astype(np.float32))
    slices = cm.ir.nodes_of("slice")
    assert [n.name for n in slices] == ["chunk_0", "chunk_1", "chunk_2"] and not cm.ir.nodes_of("split")
    assert {select(n).name for n in cm.ir.nodes} == {"slice"}
    ints = int8_inputs(cm.ir, [rng.normal(0, 1.3, (4, *shape)).astype(np.float32)])
    got, want = c_and_onnxruntime(cm, model, ints, tmp_path)
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(g, w, err_msg=f"part {k}: C vs onnxruntime")
