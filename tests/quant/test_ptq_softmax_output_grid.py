"""A calibrated softmax writes onto the output grid calibration gave it (softmax grid="output",
tfc_softmax_scaled_s8), not TFLite's fixed 1/256: a classifier whose probabilities stay below
0.2 keeps ~5x finer steps (corpus keras_efficientnetb0: 40.7 -> 49.4 dB; onnxruntime's
quantize_static fixes [0, 1], 41.7). The integers are arm_softmax_s8's with the per-row
reciprocal scaled, so each probability is at most 1 LSB from the exact one on the grid; the C
(ASan/UBSan) equals the interpreter over the last axis and over another axis."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import tfc
from tfc.errors import QuantizationError
from tests.kernels.host_check import run_c_exact
from tfc.frontend.onnx import import_onnx
from tfc.interp import run
from tfc.ir.ops.quant import dequantize_array, quantize_array
from tfc.kernels import select


def _classifier(axis: int) -> onnx.ModelProto:
    """MatMul -> Reshape [1, 4, 10] -> Softmax(axis): small logits, probabilities near 1/n."""
    rng = np.random.default_rng(3)
    w = rng.normal(0, 0.08, (16, 40)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]),
             helper.make_node("Reshape", ["h", "shape"], ["r"]),
             helper.make_node("Softmax", ["r"], ["y"], axis=axis)]
    graph = helper.make_graph(nodes, "classifier", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 10])],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array([1, 4, 10]), "shape")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _sqnr(want, got) -> float:
    return float(10 * np.log10(np.sum(want ** 2) / np.sum((want - got) ** 2)))


SAMPLES = np.random.default_rng(0).normal(0, 1, (32, 1, 16)).astype(np.float32)
HELD = np.random.default_rng(1).normal(0, 1, (32, 1, 16)).astype(np.float32)


# (axis, kernel, most of 1/256 the calibrated scale may be, least SQNR gain over 1/256 in dB):
# rows of 10 probabilities stay below ~0.3, rows of 4 below ~0.6 (measured 45.8 vs 38.9 dB and
# 47.4 vs 45.1 dB).
@pytest.mark.parametrize("axis, kernel, finer, gain", [(-1, "softmax", 0.4, 5.0), (1, "softmax_axis", 0.7, 1.5)])
def test_calibrated_softmax_writes_onto_its_observed_grid(axis, kernel, finer, gain, tmp_path, monkeypatch):
    model = _classifier(axis)
    want = np.stack([run(import_onnx(model), [h])[0] for h in HELD])
    cm = tfc.compile(model, target="host", calibration=SAMPLES)
    sm, = cm.ir.nodes_of("softmax")
    q = sm.output.quant
    assert sm.attrs["grid"] == "output" and select(sm).name == kernel
    assert q.zero_point[0] == -128 and q.scale[0] < finer / 256, q

    # Each probability within 1 LSB of the exact softmax of the int8 input, on the output grid.
    x = sm.inputs[0]
    ints = [quantize_array(h, cm.ir.inputs[0].quant, cm.ir.inputs[0].quant.storage) for h in HELD]
    values = [run(cm.ir, [i], keep=True) for i in ints]
    for v in values:
        real = dequantize_array(v[x.name], x.quant).astype(np.float64)
        e = np.exp(real - real.max(axis=sm.attrs["axis"], keepdims=True))
        exact = np.clip(np.round(e / e.sum(axis=sm.attrs["axis"], keepdims=True) / q.scale[0]) - 128, -128, 127)
        assert np.max(np.abs(v[sm.output.name].astype(np.int64) - exact)) <= 1

    run_c_exact(cm.ir, [np.stack(ints)], tmp_path)     # the C (strict, ASan/UBSan) == the interpreter
    ours = _sqnr(want, np.asarray(cm.run(HELD[:, 0])).reshape(want.shape))

    # TFLite's fixed grid on the same model is measurably worse.
    monkeypatch.setattr(type(sm.spec), "any_int8_output_grid", False)
    fixed = tfc.compile(model, target="host", calibration=SAMPLES)
    assert next(iter(fixed.ir.nodes_of("softmax"))).output.quant.scale[0] == pytest.approx(1 / 256)
    theirs = _sqnr(want, np.asarray(fixed.run(HELD[:, 0])).reshape(want.shape))
    assert ours > theirs + gain, (ours, theirs)


def test_fixed_grid_softmax_keeps_arm_softmax_s8():
    """grid="tflite" (a TFLite conversion's, the default) on 1/256 is arm_softmax_s8's call."""
    from tfc.quant import kernel_params as kp
    p = kp.softmax_params(0.05)
    assert (p.out_mult, p.out_shift) == (0, 0)
    assert kp.softmax_params(0.05, output_scale=1 / 256, any_grid=True) == p
    with pytest.raises(QuantizationError, match="1/256"):
        kp.softmax_params(0.05, output_scale=1 / 300)
    with pytest.raises(QuantizationError, match="zero point must be -128"):
        kp.softmax_params(0.05, output_scale=1 / 300, output_zero_point=0, any_grid=True)
