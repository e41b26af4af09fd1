"""tfc_pad_s8: a float ONNX model with constant Pads (real fill values, crops), calibrated, reaches
int8 C that equals the int8 interpreter bit for bit (strict build, ASan/UBSan) and onnxruntime on
the int8 grid exactly: the fill is the pad value quantized onto the grid, as onnxruntime's
QuantizeLinear after the float Pad rounds it."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import tfc
from tests.kernels.host_check import c_and_onnxruntime, int8_inputs, onnxruntime_on_grid, run_c_exact
from tfc.errors import UnsupportedError
from tfc.kernels import select
from tfc.kernels.pad import pad_walk


def pad_model(shape, pads, mode="constant") -> onnx.ModelProto:
    """One Pad of input x per (pads, value), each a graph output."""
    rank = len(shape)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
    nodes, inits, outs = [], [], []
    for k, (p, value) in enumerate(pads):
        inits += [helper.make_tensor(f"pads{k}", TensorProto.INT64, [2 * rank], p),
                  helper.make_tensor(f"value{k}", TensorProto.FLOAT, [], [value])]
        nodes.append(helper.make_node("Pad", ["x", f"pads{k}", f"value{k}"], [f"y{k}"], mode=mode))
        out_shape = [d + b + e for d, b, e in zip(shape, p[:rank], p[rank:])]
        outs.append(helper.make_tensor_value_info(f"y{k}", TensorProto.FLOAT, out_shape))
    graph = helper.make_graph(nodes, "pads", [x], outs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


PADS = [
    ([0, 0, 1, 2, 0, 0, 2, 0], 0.0),         # spatial pad of an NCHW tensor with real zero
    ([0, 1, -1, 0, 0, 2, 0, -2], 0.7),       # channels padded with 0.7, rows and columns cropped
    ([1, 0, 0, 3, 0, 0, 0, 1], 100.0),       # a new batch and columns; the fill saturates at 127
    ([0, 0, 0, 0, 0, 0, 0, 1], -1.0),        # one column after each row
]


def test_float_model_with_pads_compiles_to_c_equal_to_interpreter_and_onnxruntime(tmp_path):
    shape = (1, 3, 5, 6)
    model = pad_model(shape, PADS)
    rng = np.random.default_rng(0)
    cm = tfc.compile(model, target="host", calibration=rng.normal(0.5, 1, (16, *shape)).astype(np.float32))
    pads = cm.ir.nodes_of("pad")
    assert len(pads) == len(PADS) and {select(n).name for n in cm.ir.nodes} == {"pad"}
    q = cm.ir.inputs[0].quant
    assert q.zero_point[0] != 0     # the real zero fill is not the raw integer 0
    fills = [select(n).params(n).fill for n in pads]
    assert fills[0] == q.zero_point[0] and fills[2] == 127
    ints = int8_inputs(cm.ir, [rng.normal(0.5, 1.5, (4, *shape)).astype(np.float32)])
    got, want = c_and_onnxruntime(cm, model, ints, tmp_path)
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(g, w, err_msg=f"pad {k}: C vs onnxruntime")
    info = cm.save(tmp_path / "project")
    assert info.scratch_bytes == 0 and all(layer.function == "tfc_pad_s8" for layer in info.layers)


def test_rank5_pad_merges_unpadded_axes_and_declines_what_it_cannot_run(tmp_path):
    shape = (2, 3, 4, 5, 6)
    merging = ([0, 1, 0, 0, 2, 0, 0, 0, 1, 0], 0.25)   # axis 2 unpadded: merged into axis 1
    model = pad_model(shape, [merging])
    rng = np.random.default_rng(1)
    cm = tfc.compile(model, target="host", calibration=rng.normal(0, 1, (8, *shape)).astype(np.float32))
    assert pad_walk(cm.ir.nodes_of("pad")[0]) == ((2, 12, 5, 6), (0, 4, 0, 2), (2, 16, 6, 8))
    ints = int8_inputs(cm.ir, [rng.normal(0, 1, (2, *shape)).astype(np.float32)])
    np.testing.assert_array_equal(run_c_exact(cm.ir, ints, tmp_path)[0], onnxruntime_on_grid(model, cm.ir, ints)[0])

    calibration = rng.normal(0, 1, (8, *shape)).astype(np.float32)
    with pytest.raises(UnsupportedError, match=r"pad of rank 5 that stays rank 5"):
        tfc.compile(pad_model(shape, [([1] * 10, 0.0)]), target="host", calibration=calibration)
    with pytest.raises(UnsupportedError, match=r"mode 'reflect'"):
        tfc.compile(pad_model(shape, [([0, 0, 0, 1, 1, 0, 0, 0, 1, 1], 0.0)], mode="reflect"),
                    target="host", calibration=calibration)
