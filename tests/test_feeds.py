"""CompiledModel.run takes and gives what onnxruntime's InferenceSession.run does for the same
ONNX file (tfc/feeds.py): a dict or list of arrays in the model's own input dtypes in, a list of
arrays in its output dtypes out; wrong inputs are refused before anything is built."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

import tfc
from tfc.data import DEMO_MODEL
from tfc.errors import ShapeError, TfcError


@pytest.fixture(scope="module")
def vww(mlperf_onnx):
    return mlperf_onnx / "vww_96_int8.onnx"


def test_an_int8_model_takes_and_gives_int8_like_onnxruntime_and_equals_tflite_micro(vww, shared_data):
    tflite_micro = pytest.importorskip("tflite_micro")
    session = ort.InferenceSession(str(vww), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = np.random.default_rng(19).integers(-128, 128, size=session.get_inputs()[0].shape, dtype=np.int8)
    want = session.run(None, {name: x})
    cm = tfc.compile(vww, target="cortex-m7")
    got = cm.run({name: x}, on="host")
    assert type(got) is list and len(got) == len(want) == 1
    assert got[0].dtype == want[0].dtype == np.int8 and got[0].shape == want[0].shape, (got[0].shape, want[0].shape)
    tflm = tflite_micro.runtime.Interpreter.from_file(str(shared_data / "mlperf_tiny" / "tflite" / "vww_96_int8.tflite"))
    tflm.set_input(x.reshape(tflm.get_input_details(0)["shape"]), 0)
    tflm.invoke()
    np.testing.assert_array_equal(got[0].reshape(-1), tflm.get_output(0).reshape(-1))
    assert np.array_equal(cm.run([x], on="host")[0], got[0]) and np.array_equal(cm.run(x, on="host")[0], got[0])


@pytest.fixture(scope="module")
def demo():
    return tfc.compile(DEMO_MODEL, target="host")


def _no_build(cm, monkeypatch):
    def refuse(where):
        raise AssertionError("run() built the C before checking the inputs")
    monkeypatch.setattr(cm, "_make_runner", refuse)


@pytest.mark.parametrize("inputs, error, message", [
    (lambda x: x.astype(np.float32), TfcError, "the model takes int8 values, got float32"),
    (lambda x: x.astype(np.int32), TfcError, "the model takes int8 values, got int32"),
    (lambda x: x[..., :2], ShapeError, "expected shape [1, 32, 32, 3]"),
    (lambda x: {"nope": x}, TfcError, "no input named 'nope'"),
    (lambda x: [x, x], TfcError, "takes 1 input(s)"),
    (lambda x: {}, TfcError, "no value for input(s)"),
])
def test_a_wrong_input_is_refused_before_any_build(demo, monkeypatch, inputs, error, message):
    _no_build(demo, monkeypatch)
    x = np.zeros(demo.ir.inputs[0].shape, np.int8)
    with pytest.raises(error) as e:
        demo.run(inputs(x))
    assert message in str(e.value), str(e.value)


def test_raw_overrides_the_dtypes(demo):
    x = np.random.default_rng(0).integers(-128, 128, size=(2, *demo.ir.inputs[0].shape), dtype=np.int8)
    (raw,) = demo.run(x, raw=True)
    (plain,) = demo.run(x)
    assert raw.dtype == plain.dtype == np.int8 and np.array_equal(raw, plain) and raw.shape[0] == 2


def _float_model():
    """ad01-like: a float input, calibrated by tfc."""
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.random.default_rng(1).normal(size=(8, 4)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_float_model_takes_floats_gives_floats_and_refuses_nan(monkeypatch):
    samples = np.random.default_rng(2).normal(size=(16, 1, 8)).astype(np.float32)
    model = _float_model()
    cm = tfc.compile(model, target="host", calibration=samples)
    (y,) = cm.run({"x": samples[0]})
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": samples[0]})
    assert y.dtype == ref[0].dtype == np.float32 and y.shape == ref[0].shape
    assert np.abs(y - ref[0]).max() < 0.1 * np.abs(ref[0]).max()
    _no_build(cm, monkeypatch)
    cm._runners.clear()
    bad = samples[0].copy()
    bad[0, 3] = np.nan
    with pytest.raises(TfcError, match="NaN or inf"):
        cm.run({"x": bad})
    with pytest.raises(TfcError, match="(?s)the model takes float values, got int8.*raw=True"):
        cm.run({"x": samples[0].astype(np.int8)})
