"""tfc's PTQ rounds an int8 mean once, to the nearest output level: a float model's ReduceMean
over H and W, calibrated by tfc, equals onnxruntime (float ReduceMean of the dequantized int8
input, QuantizeLinear onto the same grid) on every output that is not an exact tie, in the C and
in the interpreter. TFLite Micro's MEAN integers (rounding="tflite", what int8 TFLite models
need, tests/quant/test_tflm_pool.py) round the product twice and miss the nearest level on
over a tenth of these outputs, always away from zero (upwards after a ReLU): that bias cost the
corpus's MobileNetV1 (dynamo export) 2.7 dB of classifier SQNR."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

import tfc
from tests.kernels.host_check import int8_inputs, onnxruntime_on_grid, run_c_exact
from tfc.interp import run
from tfc.ir.ops.quant import dequantize_array

SHAPE = (1, 64, 3, 3)     # a MobileNet's last feature map: sums of 9 values, right shift 1-3


def mean_model() -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, SHAPE[1], 1, 1])
    axes = helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3])
    node = helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=1)
    return helper.make_model(helper.make_graph([node], "mean", [x], [y], [axes]),
                             opset_imports=[helper.make_opsetid("", 18)])


def _mismatches(got, want, exact):
    """Outputs that differ from onnxruntime, leaving out exact ties (either neighbour is nearest)."""
    tie = np.isclose(np.abs(exact - np.floor(exact)), 0.5, rtol=0, atol=1e-9)
    return int(np.count_nonzero((got != want) & ~tie))


def test_ptq_mean_rounds_to_nearest_like_onnxruntime(tmp_path):
    rng = np.random.default_rng(7)
    model = mean_model()
    cm = tfc.compile(model, target="host", calibration=rng.normal(0.3, 1, (32, *SHAPE)).astype(np.float32))
    means = [n for n in cm.ir.nodes if n.op == "reduce_mean"]
    assert len(means) == 1 and means[0].attrs["rounding"] == "nearest", str(cm.ir)
    mean = means[0]
    ints = int8_inputs(cm.ir, [rng.normal(0.3, 1, (64, *SHAPE)).astype(np.float32)])
    got = run_c_exact(cm.ir, ints, tmp_path)[0]                      # C == interpreter, bit for bit
    want = onnxruntime_on_grid(model, cm.ir, ints)[0]
    pooled = np.stack([run(cm.ir, [xi], keep=True)[mean.inputs[0].name] for xi in ints[0]])
    axes = tuple(a % 4 + 1 for a in mean.attrs["axes"])               # after the samples axis
    real = dequantize_array(pooled, mean.inputs[0].quant).astype(np.float64).mean(axis=axes)
    exact = (real / mean.output.quant.scale[0] + mean.output.quant.zero_point[0]).reshape(len(real), -1)
    want = want.reshape(exact.shape)
    assert _mismatches(got.reshape(exact.shape), want, exact) == 0

    # TFLite Micro's integers on the same graph: off the nearest level, away from zero.
    mean.attrs["rounding"] = "tflite"
    tflite = np.stack([run(cm.ir, [xi])[0] for xi in ints[0]]).reshape(exact.shape).astype(np.int32)
    away = (tflite - want.astype(np.int32)) * np.sign(exact - mean.output.quant.zero_point[0])
    assert _mismatches(tflite, want, exact) > exact.size // 10 and away.min() >= 0
