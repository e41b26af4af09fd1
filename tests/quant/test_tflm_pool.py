"""TFLite's averaging ops against TensorFlow Lite Micro itself: tiny full-integer TFLite models
written by TensorFlow's converter (MEAN over H and W with and without keep_dims, over tokens, over
channels, with input and output parameters equal; AVERAGE_POOL_2D) run in tflite-micro, their
tf2onnx conversions through tfc, on the same random int8 inputs: 0 LSB apart, in the int8
interpreter and in the generated C. The files and how they were made:
benchmarks/corpus/tflite_pool.py (run in the corpus venv, which has TensorFlow).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tfc
from benchmarks.corpus.run import _tflm_run as tflm_run
from tests.kernels.host_check import run_c_exact
from tfc.interp import run

tflite_micro = pytest.importorskip(
    "tflite_micro",
    reason="tflite-micro is not installed (pip install tflite-micro): the TFLM ground-truth test needs it")

DATA = Path(__file__).parent / "data" / "tflite_pool"
MODELS = {  # file -> the tfc op its average becomes
    "gap_hw": "reduce_mean",
    "gap_hw_keepdims": "reduce_mean",
    "gap_hw_same_params": "reduce_mean",
    "mean_tokens": "reduce_mean",
    "mean_channels": "reduce_mean",
    "avgpool": "avgpool2d",
}
SAMPLES = 200


@pytest.mark.parametrize("name", sorted(MODELS))
def test_average_equals_tflite_micro(name, tmp_path):
    cm = tfc.compile(DATA / f"{name}.onnx", target="host")
    assert [n.op for n in cm.ir.nodes if n.op in ("reduce_mean", "avgpool2d")] == [MODELS[name]]
    shape = cm.ir.inputs[0].shape
    x = np.random.default_rng(20261207).integers(-128, 128, size=(SAMPLES, *shape), dtype=np.int8)
    want = tflm_run(DATA / f"{name}.tflite", x)
    got = np.stack([run(cm.ir, [xi])[0] for xi in x]).reshape(want.shape)
    diff = np.abs(got.astype(np.int32) - want)
    assert diff.max() == 0, f"{name}: {int((diff > 0).sum())}/{diff.size} outputs differ from tflite-micro, " \
                            f"worst {int(diff.max())} LSB"
    c = run_c_exact(cm.ir, [x[:8]], tmp_path)[0]          # the C equals the interpreter bit for bit
    np.testing.assert_array_equal(c.reshape(want[:8].shape), want[:8])
