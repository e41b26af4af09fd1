"""Attention and LayerNorm blocks as ONNX models, compiled by tfc (calibrated PTQ) to C and run on
the host: the C equals tfc's int8 interpreter exactly, and stays within a bound derived from the
quantization scales of onnxruntime's float model on the same (dequantized int8) inputs.

Attention core: O = softmax(Q Kᵀ / sqrt(d)) V with Q, K, V int8 inputs [1, H, T, d]. With s_S the
scores' scale, s_O the output's, T tokens:
- scores are the exact product rounded once: |dS| <= s_S / 2 (the multiplier is exact to 2^-31);
- softmax moves by at most sum_j |dP_j| <= 2 (e^{s_S/2 * 2} - 1) for that input error (first
  order: dP_i = P_i (dS_i - sum_j P_j dS_j)), plus arm_softmax_s8's own error, at most one output
  LSB (1/256) per element;
- P V then differs by at most max|V| * sum_j |dP_j| and rounds once more (s_O / 2):
  |dO| <= max|V| (2 (e^{s_S} - 1) + T / 256) + s_O / 2.
LayerNorm: the integer kernel is within 0.51 output LSB of the exact value (see
tests/backends/cmsis/test_transformer_kernels.py), so |dY| <= 0.51 s_Y.
The float reference is clipped to the output grid's range first (calibration's choice, not error).
"""
from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

import tfc
from compare import assert_exact
from tfc import interp
from tfc.ir.ops.quant import dequantize_array, quantize_array

ort = pytest.importorskip("onnxruntime")
CALIBRATION_SAMPLES = 6


def attention_model(heads: int, tokens: int, width: int) -> onnx.ModelProto:
    shape = [1, heads, tokens, width]
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("q", "k", "v")]
    out = helper.make_tensor_value_info("o", TensorProto.FLOAT, shape)
    scale = helper.make_tensor("scale", TensorProto.FLOAT, [], [math.sqrt(width)])
    nodes = [helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
             helper.make_node("MatMul", ["q", "kt"], ["s"]),
             helper.make_node("Div", ["s", "scale"], ["s2"]),
             helper.make_node("Softmax", ["s2"], ["p"], axis=-1),
             helper.make_node("MatMul", ["p", "v"], ["o"])]
    graph = helper.make_graph(nodes, "attention", io, [out], [scale])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def layernorm_model(tokens: int, width: int, seed: int) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, tokens, width])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, tokens, width])
    gamma = helper.make_tensor("gamma", TensorProto.FLOAT, [width], rng.normal(1, 0.3, width).astype(np.float32))
    beta = helper.make_tensor("beta", TensorProto.FLOAT, [width], rng.normal(0, 0.2, width).astype(np.float32))
    node = helper.make_node("LayerNormalization", ["x", "gamma", "beta"], ["y"], axis=-1, epsilon=1e-5)
    graph = helper.make_graph([node], "layernorm", [x], [y], [gamma, beta])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def compile_and_compare(model, samples: dict[str, np.ndarray]):
    """Compile with PTQ on `samples`, run C and interpreter on their int8 form; returns
    (cm, int8 inputs, C outputs, onnxruntime float outputs on the dequantized inputs)."""
    cm = tfc.compile(model, target="host", calibration=samples)
    ints = [np.stack([quantize_array(x, v.quant, v.quant.storage) for x in samples[v.name]]) for v in cm.ir.inputs]
    got = cm.run(ints, raw=True)[0]
    got = np.asarray(got).reshape(len(ints[0]), *cm.ir.outputs[0].shape)
    for i in range(len(ints[0])):
        want = interp.run(cm.ir, [x[i] for x in ints])[0]
        assert_exact(got[i], want, f"sample {i}: generated C vs int8 interpreter")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    reals = [np.stack([dequantize_array(x, v.quant) for x in xs]) for xs, v in zip(ints, cm.ir.inputs)]
    ref = np.stack([session.run(None, {v.name: r[i] for v, r in zip(cm.ir.inputs, reals)})[0]
                    for i in range(len(ints[0]))])
    return cm, reals, got, ref


def assert_within(cm, got, ref, bound: float, what: str):
    q = cm.ir.outputs[0].quant
    lo, hi = ((np.array([-128, 127]) - q.zero_point[0]) * np.float32(q.scale[0]))
    err = np.abs(dequantize_array(got, q) - np.clip(ref, lo, hi))
    worst = np.unravel_index(int(err.argmax()), err.shape)
    assert err.max() <= bound, (f"{what}: |C - onnxruntime float| = {err.max():.5f} at {worst} exceeds the "
                                f"derived bound {bound:.5f} ({err.max() / q.scale[0]:.2f} output LSB)")


def check_attention(heads, tokens, width, seed):
    rng = np.random.default_rng(seed)
    shape = (CALIBRATION_SAMPLES, 1, heads, tokens, width)
    samples = {n: rng.normal(0, s, shape).astype(np.float32) for n, s in (("q", 1.0), ("k", 1.0), ("v", 0.7))}
    cm, reals, got, ref = compile_and_compare(attention_model(heads, tokens, width), samples)
    ops = [n.op for n in cm.ir.nodes]
    if "attention" in ops:  # fuse-attention-heads: one head at a time, where that lowers the arena
        s_scores = next(n for n in cm.ir.nodes if n.op == "attention").attrs["scores_scale"]
    else:
        s_scores = next(n for n in cm.ir.nodes if n.op == "batch_matmul").output.quant.scale[0]
    s_out = cm.ir.outputs[0].quant.scale[0]
    vmax = float(np.abs(reals[2]).max())
    bound = vmax * (2 * (math.exp(s_scores) - 1) + tokens / 256) + s_out / 2
    assert_within(cm, got, ref, bound, f"attention H={heads} T={tokens} d={width}")
    assert ops in (["batch_matmul", "softmax", "transpose", "batch_matmul"], ["transpose", "attention"]), \
        f"Q·Kᵀ should read K as laid out (no transpose) and fold 1/sqrt(d) into the multiplier: {ops}"


def check_layernorm(tokens, width, seed):
    rng = np.random.default_rng(seed)
    x = (rng.normal(0, 1, (CALIBRATION_SAMPLES, 1, tokens, width)) * rng.uniform(0.1, 3, width)
         + rng.normal(0, 0.5, width)).astype(np.float32)
    cm, _, got, ref = compile_and_compare(layernorm_model(tokens, width, seed), {"x": x})
    assert_within(cm, got, ref, 0.51 * cm.ir.outputs[0].quant.scale[0], f"layernorm T={tokens} C={width}")


def test_attention_block_two_heads():
    check_attention(heads=2, tokens=16, width=24, seed=0)


@pytest.mark.slow
@settings(max_examples=12, deadline=None)
@given(heads=st.integers(1, 8), tokens=st.integers(4, 64), width=st.integers(8, 32), seed=st.integers(0, 1000))
def test_attention_blocks(heads, tokens, width, seed):
    check_attention(heads, tokens, width, seed)


@settings(max_examples=2, deadline=None)
@given(heads=st.integers(1, 8), tokens=st.integers(4, 64), width=st.integers(8, 32), seed=st.integers(0, 1000))
def test_attention_blocks_quick(heads, tokens, width, seed):
    check_attention(heads, tokens, width, seed)


@settings(max_examples=3, deadline=None)
@given(tokens=st.integers(1, 20), width=st.integers(2, 200), seed=st.integers(0, 1000))
def test_layernorm_blocks(tokens, width, seed):
    check_layernorm(tokens, width, seed)
