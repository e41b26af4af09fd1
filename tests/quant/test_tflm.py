"""tfc's int8 interpreter against TensorFlow Lite Micro itself (the `tflite-micro` package), on the
MLPerf Tiny int8 models: the .tflite file runs in TFLM, its ONNX conversion through tfc
(canonicalize + quantize-int8), both on the same 100 random int8 inputs: 0 LSB apart.
"""
from __future__ import annotations

import numpy as np
import pytest

from tfc.frontend.onnx import import_onnx
from tfc.interp import run
from tfc.passes import run_pipeline

tflite_micro = pytest.importorskip(
    "tflite_micro",
    reason="tflite-micro is not installed (pip install tflite-micro): the TFLM ground-truth test needs it")
runtime = tflite_micro.runtime   # an attribute of the package, not an importable submodule

MODELS = {  # .tflite -> its ONNX conversion
    "pretrainedResnet_quant": "pretrainedResnet_quant",
    "kws_ref_model": "kws_ref_model",
    "vww_96_int8": "vww_96_int8",
    "ad01_int8": "ad01_int8",
    "str_ww_ref_model": "str_ww_ref_model",
}
SAMPLES = 100


@pytest.mark.parametrize("model", sorted(MODELS))
def test_int8_interpreter_equals_tflite_micro(model, shared_data):
    base = shared_data / "mlperf_tiny"
    tflm = runtime.Interpreter.from_file(str(base / "tflite" / f"{model}.tflite"))
    graph = import_onnx(base / "onnx" / f"{MODELS[model]}.onnx")
    run_pipeline(graph, "canonicalize,quantize-int8")
    detail = tflm.get_input_details(0)
    assert tuple(detail["shape"]) == graph.inputs[0].shape, \
        f"{model}: TFLM input {list(detail['shape'])} vs tfc {list(graph.inputs[0].shape)}"
    x = np.random.default_rng(20240).integers(-128, 128, size=(SAMPLES, *graph.inputs[0].shape), dtype=np.int8)
    worst = (0, None, None)
    mismatched = 0
    for i, xi in enumerate(x):
        tflm.set_input(xi, 0)
        tflm.invoke()
        want = tflm.get_output(0)
        got = run(graph, [xi])[0]
        assert got.dtype == want.dtype == np.int8, f"{model}: dtypes tfc {got.dtype}, TFLM {want.dtype}"
        got = got.reshape(want.shape)
        d = np.abs(got.astype(np.int32) - want)
        if d.max():
            mismatched += 1
            at = np.unravel_index(int(np.argmax(d)), d.shape)
            if d[at] > worst[0]:
                worst = (int(d[at]), i, (tuple(int(j) for j in at), int(got[at]), int(want[at])))
    assert mismatched == 0, (f"{model}: {mismatched}/{SAMPLES} inputs differ; worst {worst[0]} LSB on input "
                             f"{worst[1]} at {list(worst[2][0])} (tfc {worst[2][1]}, TFLM {worst[2][2]})")
