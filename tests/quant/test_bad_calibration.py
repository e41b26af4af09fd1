"""Bad calibration input ends in a QuantizationError that says what is wrong and with which
input, never in a traceback from inside numpy or the interpreter."""
from __future__ import annotations

import numpy as np
import pytest

import tfc
from tests.quant.qdq_models import ModelSpec, build_float_model, layer
from tfc.errors import QuantizationError
from tfc.frontend.onnx import import_onnx
from tfc.passes import PassContext, run_pipeline

CONV = layer("conv", cout=4, kh=3, kw=3, group=1, stride=(1, 1), dilation=(1, 1), pads=(1, 1, 1, 1), bias=True)
ONE_INPUT = ModelSpec((1, 3, 8, 8), (CONV, layer("relu")))
TWO_INPUTS = ModelSpec((1, 3, 8, 8), (CONV,), two_inputs=True)


def _quantize(spec: ModelSpec, calibration, model=None):
    graph = import_onnx(model if model is not None else build_float_model(spec))
    run_pipeline(graph, "canonicalize,quantize-int8", PassContext(options={"calibration": calibration}))
    return graph


def _good(n=4, shape=(1, 3, 8, 8)):
    return np.random.default_rng(0).normal(size=(n, *shape)).astype(np.float32)


def test_good_calibration_quantizes():
    """The baseline the other tests break: the same model and layout work."""
    graph = _quantize(ONE_INPUT, _good())
    assert graph.inputs[0].dtype.value == "i8"
    _quantize(TWO_INPUTS, {"x": _good(), "x2": _good()})
    _quantize(TWO_INPUTS, [_good(), _good()])


def test_float_model_without_calibration():
    with pytest.raises(QuantizationError, match="no calibration data") as e:
        _quantize(ONE_INPUT, None)
    assert "calibration=" in e.value.hint


def test_float_model_without_calibration_through_compile():
    with pytest.raises(QuantizationError, match="no calibration data"):
        tfc.compile(build_float_model(ONE_INPUT), pipeline="canonicalize,quantize-int8")


@pytest.mark.parametrize("shape", [(4, 3, 8), (4, 8, 8, 3), (4, 1, 3, 8, 9), (3, 8, 8)])
def test_wrong_shape(shape):
    samples = np.zeros(shape, np.float32)
    with pytest.raises(QuantizationError, match=r"input x has shape") as e:
        _quantize(ONE_INPUT, samples)
    assert "expected [N, 3, 8, 8]" in e.value.message


@pytest.mark.parametrize("samples", [
    np.full((2, 1, 3, 8, 8), "a"),                                # strings
    np.array([object()] * 2, dtype=object),                        # objects
    np.zeros((2, 1, 3, 8, 8), dtype=np.complex64),                 # complex
    [np.zeros((1, 3, 8, 8)), np.zeros((1, 3, 4, 4))],              # ragged
], ids=["strings", "objects", "complex", "ragged"])
def test_wrong_dtype(samples):
    with pytest.raises(QuantizationError, match=r"calibration data for input x (has dtype|is not an array)"):
        _quantize(ONE_INPUT, samples)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(bad):
    samples = _good()
    samples[2, 0, 0, 1, 1] = bad
    with pytest.raises(QuantizationError, match="calibration data for input x holds NaN or inf"):
        _quantize(ONE_INPUT, samples)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_weights(bad):
    model = build_float_model(ONE_INPUT)
    weight = model.graph.initializer[0]
    from onnx import numpy_helper
    w = numpy_helper.to_array(weight).copy()
    w.flat[5] = bad
    weight.CopyFrom(numpy_helper.from_array(w, weight.name))
    with pytest.raises(QuantizationError, match="holds NaN or inf") as e:
        _quantize(ONE_INPUT, _good(), model=model)
    assert "conv2d" in e.value.message, f"the error should name the reading op: {e.value.message}"


@pytest.mark.parametrize("samples", [np.zeros((0, 1, 3, 8, 8), np.float32), np.zeros((0, 3, 8, 8), np.float32),
                                     np.array([], np.float32), []], ids=["0xNCHW", "0xCHW", "flat", "list"])
def test_empty_calibration(samples):
    with pytest.raises(QuantizationError, match="no samples"):
        _quantize(ONE_INPUT, samples)


@pytest.mark.parametrize("samples", [_good(2), _good(3)], ids=["2-samples", "3-samples"])
def test_multi_input_model_given_a_bare_array(samples):
    """Two samples of one input must not be mistaken for one array per input."""
    with pytest.raises(QuantizationError, match="2 inputs") as e:
        _quantize(TWO_INPUTS, samples)
    assert "x2" in e.value.message


def test_multi_input_dict_missing_a_name():
    with pytest.raises(QuantizationError, match="must name every input"):
        _quantize(TWO_INPUTS, {"x": _good()})


def test_multi_input_different_counts():
    with pytest.raises(QuantizationError, match="different sample counts"):
        _quantize(TWO_INPUTS, {"x": _good(4), "x2": _good(3)})


def test_unknown_method():
    graph = import_onnx(build_float_model(ONE_INPUT))
    with pytest.raises(QuantizationError, match="unknown calibration method 'histogram'"):
        run_pipeline(graph, "canonicalize,quantize-int8",
                     PassContext(options={"calibration": _good(), "calibration_method": "histogram"}))
