"""A calibrated sigmoid or tanh (tfc_lut_s8: a table onto any output grid) gets its output grid from
the calibration, as onnxruntime's quantize_static gives it, not the grid TFLite fixes for the op
(1/256 for sigmoid, 1/128 for tanh): a gate whose outputs stay in a corner of (0, 1) keeps finer
steps. A TFLite conversion keeps TFLite's grid (its Q/DQ parameters are the model's own)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import tfc
from tfc.frontend.onnx import import_onnx
from tfc.interp import run


def _gate_model(op: str) -> onnx.ModelProto:
    """Linear -> op: a squeeze-and-excite style gate whose pre-activations are small, so the op's
    outputs fill a small part of its range."""
    rng = np.random.default_rng(5)
    w = rng.normal(0, 0.05, (16, 16)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node(op, ["h"], ["y"])]
    graph = helper.make_graph(nodes, "gate", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])],
                              [numpy_helper.from_array(w, "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _sqnr(want, got) -> float:
    return float(10 * np.log10(np.sum(want ** 2) / np.sum((want - got) ** 2)))


@pytest.mark.parametrize("op, fixed", [("Sigmoid", (1 / 256, -128)), ("Tanh", (1 / 128, 0))])
def test_calibrated_table_op_takes_its_observed_output_range(op, fixed, monkeypatch):
    samples = np.random.default_rng(0).normal(0, 1, (32, 1, 16)).astype(np.float32)
    held = np.random.default_rng(1).normal(0, 1, (32, 1, 16)).astype(np.float32)
    graph = import_onnx(_gate_model(op))
    want = np.stack([run(graph, [h])[0] for h in held])

    cm = tfc.compile(_gate_model(op), target="host", calibration=samples)
    gate, = cm.ir.nodes_of(op.lower())
    q = gate.output.quant
    assert q.scale[0] < fixed[0] * 0.8, f"{op} output grid {q.scale[0]:.5f} is not finer than TFLite's {fixed[0]:.5f}"
    # The grid covers what the calibration saw (to the zero point's rounding, half a step).
    gate_out = next(n for n in graph.nodes if n.op == op.lower()).output.name
    seen = np.stack([run(graph, [s], keep=True)[gate_out] for s in samples])
    lo, hi = (-128 - q.zero_point[0]) * q.scale[0], (127 - q.zero_point[0]) * q.scale[0]
    assert lo <= seen.min() + q.scale[0] / 2 and hi >= seen.max() - q.scale[0] / 2
    ours = _sqnr(want, np.asarray(cm.run(held[:, 0])).reshape(want.shape))

    # The same model on TFLite's fixed grid is measurably worse.
    monkeypatch.setattr(type(gate.spec), "any_int8_output_grid", False)
    fixed_cm = tfc.compile(_gate_model(op), target="host", calibration=samples)
    assert next(iter(fixed_cm.ir.nodes_of(op.lower()))).output.quant.scale[0] == pytest.approx(fixed[0])
    theirs = _sqnr(want, np.asarray(fixed_cm.run(held[:, 0])).reshape(want.shape))
    assert ours > theirs + 0.5, (ours, theirs)
