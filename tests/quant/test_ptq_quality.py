"""PTQ quality: tfc's calibrated int8 model against onnxruntime's quantize_static, both measured
against the float model, on the MLPerf Tiny float twins (ResNet-8, VWW MobileNetV1).

Same calibration samples for both (32 N(0,1) inputs, as the golden `x` are drawn, plus the 4
golden inputs), held-out N(0,1) inputs for the measurement; SQNR = 10 log10(sum y^2 / sum (y - y_q)^2)
of the dequantized int8 output vs the float output, for the model's softmax probabilities and for
its logits (the same model without the final Softmax, quantized on its own). tfc must be at
least as good as onnxruntime (QDQ, per-channel int8, MinMax) with min/max calibration.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import onnx
import pytest

from tests.quant.qdq_models import ort_quantize, ort_session
from tfc.frontend.onnx import import_onnx
from tfc.interp import run
from tfc.passes import PassContext, run_pipeline

CALIBRATION_RANDOM = 32
HELD_OUT = 16


def sqnr_db(reference: np.ndarray, quantized: np.ndarray) -> float:
    noise = np.sum((reference.astype(np.float64) - quantized) ** 2)
    return float(10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / max(noise, 1e-30)))


def without_final_softmax(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model whose output is the final Softmax's input (the logits)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    out = model.graph.output[0].name
    producers = {o: n for n in model.graph.node for o in n.output}
    node = producers[out]
    while node.op_type == "Identity":
        node = producers[node.input[0]]
    assert node.op_type == "Softmax", f"the model ends in {node.op_type}, not Softmax"
    logits = node.input[0]
    keep = [n for n in model.graph.node if n is not node and out not in n.output and n.output[0] != out]
    keep = [n for n in keep if not (n.op_type == "Identity" and n.input[0] in node.output)]
    del model.graph.node[:]
    model.graph.node.extend(keep)
    del model.graph.output[:]
    model.graph.output.extend([onnx.helper.make_tensor_value_info(logits, onnx.TensorProto.FLOAT, None)])
    model = onnx.shape_inference.infer_shapes(model)
    onnx.checker.check_model(model)
    return model


@lru_cache(maxsize=None)
def _data(model_path: str, golden_path: str):
    golden = np.load(golden_path)["x"].astype(np.float32)
    shape = golden.shape[1:]
    calibration = np.concatenate([np.random.default_rng(0).normal(size=(CALIBRATION_RANDOM, *shape)), golden])
    held_out = np.random.default_rng(1).normal(size=(HELD_OUT, *shape))
    return onnx.load(model_path), calibration.astype(np.float32), held_out.astype(np.float32)


def _float_outputs(model, inputs):
    sess, name = ort_session(model), model.graph.input[0].name
    return np.concatenate([sess.run(None, {name: x[None]})[0] for x in inputs])


def ort_sqnr(model, calibration, held_out, reference) -> float:
    name = model.graph.input[0].name
    qdq = ort_quantize(model, [{name: x[None]} for x in calibration], method="minmax")
    return sqnr_db(reference, _float_outputs(qdq, held_out))


def tfc_sqnr(model, calibration, held_out, reference, method: str) -> float:
    graph = import_onnx(model)
    run_pipeline(graph, "canonicalize,quantize-int8",
                 PassContext(options={"calibration": calibration, "calibration_method": method}))
    xq, yq = graph.inputs[0].quant, graph.outputs[0].quant
    outputs = []
    for x in held_out:
        x_int8 = np.clip(np.round(x[None] / xq.scale[0]) + xq.zero_point[0], -128, 127).astype(np.int8)
        y = run(graph, [x_int8])[0]
        outputs.append((y.astype(np.float32) - yq.zero_point[0]) * np.float32(yq.scale[0]))
    return sqnr_db(reference, np.concatenate(outputs))


MODELS = {"resnet8": "pretrainedResnet", "vww": "vww_96_float"}


def _measure(name, head, methods, shared_data):
    base = shared_data / "mlperf_tiny"
    model, calibration, held_out = _data(str(base / "onnx" / f"{MODELS[name]}.onnx"),
                                         str(base / "golden" / f"{MODELS[name]}.npz"))
    if head == "logits":
        model = without_final_softmax(model)
    reference = _float_outputs(model, held_out)
    table = {"onnxruntime minmax": ort_sqnr(model, calibration, held_out, reference)}
    for method in methods:
        table[f"tfc {method}"] = tfc_sqnr(model, calibration, held_out, reference, method)
    return table


def _report(name, head, table, capsys):
    with capsys.disabled():
        print(f"\nSQNR vs float, {name} {head} ({HELD_OUT} held-out inputs): "
              + ", ".join(f"{k} {v:.2f} dB" for k, v in table.items()))


@pytest.mark.parametrize("head", ["probabilities", "logits"])
@pytest.mark.parametrize("name, methods", [
    ("resnet8", ("minmax", "percentile", "mse")),
    ("vww", ("minmax",)),
    pytest.param("vww", ("percentile", "mse"), marks=pytest.mark.slow),
], ids=["resnet8", "vww-minmax", "vww-percentile-mse"])
def test_ptq_sqnr_at_least_onnxruntime(name, methods, head, shared_data, capsys):
    table = _measure(name, head, methods, shared_data)
    _report(name, head, table, capsys)
    if "minmax" in methods:
        ours, theirs = table["tfc minmax"], table["onnxruntime minmax"]
        assert ours >= theirs, f"{name} {head}: tfc minmax {ours:.2f} dB < onnxruntime minmax {theirs:.2f} dB"
    for method in methods:   # every method must give a usable model (well above noise)
        assert table[f"tfc {method}"] > 15.0, f"{name} {head}: tfc {method} only {table[f'tfc {method}']:.2f} dB"
