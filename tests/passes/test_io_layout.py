"""input_layout: the generated API takes and returns NHWC or NCHW tensors; the same numbers either
way (host build), and no transpose at the boundary when the layout asked is tfc's own (NHWC)."""
from __future__ import annotations

import numpy as np
import pytest

import tfc
from tests.quant.qdq_models import ModelSpec, build_float_model, layer, ort_quantize, random_feeds
from tfc.errors import TfcError

SPEC = ModelSpec((1, 8, 6, 5), (layer("conv", cout=12, kh=3, kw=3, group=1, stride=(1, 1), dilation=(1, 1),
                                     pads=(1, 1, 1, 1), bias=True), layer("relu"),
                                layer("conv", cout=4, kh=1, kw=1, group=1, stride=(1, 1), dilation=(1, 1),
                                      pads=(0, 0, 0, 0), bias=True)), seed=3)


@pytest.fixture(scope="module")
def qdq():
    return ort_quantize(build_float_model(SPEC), random_feeds(SPEC, 4, seed=0))


def test_nhwc_has_no_boundary_transpose_and_gives_the_nchw_numbers(qdq):
    own = tfc.compile(qdq, "host")
    nchw = tfc.compile(qdq, "host", input_layout="nchw")
    nhwc = tfc.compile(qdq, "host", input_layout="nhwc")
    assert own.report.op_counts.get("transpose") == 2 == nchw.report.op_counts.get("transpose")
    assert "transpose" not in nhwc.report.op_counts, nhwc.ir
    assert nhwc.ir.inputs[0].shape == (1, 6, 5, 8) and nhwc.ir.outputs[0].shape == (1, 6, 5, 4)
    x = np.random.default_rng(0).integers(-128, 128, (3, *SPEC.input_shape)).astype(np.int8)
    [y_nchw] = nchw.run(x, raw=True)
    [y_nhwc] = nhwc.run(x.transpose(0, 1, 3, 4, 2), raw=True)
    np.testing.assert_array_equal(y_nhwc, y_nchw.transpose(0, 1, 3, 4, 2))
    np.testing.assert_array_equal(own.run(x, raw=True)[0], y_nchw)


def test_an_nhwc_model_keeps_its_layout_or_takes_nchw(mlperf_onnx):
    """ResNet-8 from tf2onnx takes [1, 32, 32, 3]: "nhwc" changes nothing, "nchw" transposes."""
    path = mlperf_onnx / "pretrainedResnet_quant.onnx"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    own = tfc.compile(path, "host")
    nhwc = tfc.compile(path, "host", input_layout="nhwc")
    nchw = tfc.compile(path, "host", input_layout="nchw")
    assert own.ir.inputs[0].shape == nhwc.ir.inputs[0].shape == (1, 32, 32, 3)
    assert nchw.ir.inputs[0].shape == (1, 3, 32, 32)
    assert nhwc.report.op_counts == own.report.op_counts
    x = np.random.default_rng(1).integers(-128, 128, (2, 1, 32, 32, 3)).astype(np.int8)
    np.testing.assert_array_equal(nchw.run(x.transpose(0, 1, 4, 2, 3), raw=True)[0], own.run(x, raw=True)[0])


def test_an_unknown_layout_is_a_clear_error(qdq):
    with pytest.raises(TfcError, match="input layout 'hwc' is not one of nchw, nhwc"):
        tfc.compile(qdq, "host", input_layout="hwc")
