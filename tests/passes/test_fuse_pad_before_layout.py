"""A Pad on an NCHW graph input, before the conv's layout transpose (torch's legacy export of
HF MobileNet's "same"-padded stem), still folds into the conv's own padding."""
from __future__ import annotations

import numpy as np
from onnx import helper

from tests.frontend.onnx_builders import make_model, run_onnxruntime
from tests.models.compare import assert_close
from tfc import interp
from tfc.frontend.onnx import import_onnx
from tfc.passes import run_pipeline


def test_stem_pad_folds_into_the_conv():
    rng = np.random.default_rng(3)
    model = make_model([helper.make_node("Pad", ["x", "pads"], ["xp"]),
                        helper.make_node("Conv", ["xp", "w"], ["y"], strides=[2, 2])],
                       [("x", [1, 3, 9, 9])], [("y", [1, 4, 4, 4])],
                       {"pads": np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64),
                        "w": rng.standard_normal((4, 3, 3, 3)).astype(np.float32)})
    graph = import_onnx(model)
    run_pipeline(graph, "canonicalize,fuse{residual=false}")
    ops = [n.op for n in graph.nodes]
    assert "pad" not in ops, ops
    conv = graph.nodes_of("conv2d")[0]
    assert conv.attrs["pad"] == [0, 0, 1, 1]
    x = rng.standard_normal((1, 3, 9, 9)).astype(np.float32)
    assert_close(interp.run(graph, [x])[0], run_onnxruntime(model, {"x": x})[0], 1e-5, "conv output")
