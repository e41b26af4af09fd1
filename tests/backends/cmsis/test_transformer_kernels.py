"""tfc's transformer kernels in C (tfc_layernorm_s8, tfc_lut_s8, tfc_mean_s8, tfc_gather_s8),
called through ctypes, against their numpy twins in tfc.quant.transformer_ops: bit for bit, on
random shapes, quantization params and data; and the integer LayerNorm against float LayerNorm
within the bound its arithmetic implies (half an output LSB plus a hundredth)."""
from __future__ import annotations

import ctypes as C
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmsis_ctypes import _i32, _ptr, _s8
from compare import assert_exact
from tfc.ir.graph import Graph
from tfc.ir.types import DType, QuantParams, TensorType
from tfc.quant import transformer_ops as tops
from tfc.quant import transformer_params as tp
from tfc.passes.quantize.transformer_lower import layernorm_constants_to_int32

EXAMPLES = 25


def layernorm_node(width: int, rows: int, sx: float, sy: float, zy: int, gamma, beta, eps=1e-5):
    g = Graph("ln")
    x = g.add_input("x", TensorType((rows, width), DType.I8))
    x.quant = QuantParams((sx,), (7,))
    node = g.add_node("layernorm", [x, g.add_constant("gamma", gamma.astype(np.float32)),
                                    g.add_constant("beta", beta.astype(np.float32))], {"epsilon": eps})
    layernorm_constants_to_int32(g)
    node.output.type = node.output.type.with_dtype(DType.I8)
    node.output.quant = QuantParams((sy,), (zy,))
    return node


def run_layernorm_c(runtime, x, p: tp.LayerNormParams):
    out = np.zeros_like(x)
    affine = _i32(np.stack([p.multipliers, p.biases], axis=1))   # M_c, B_c interleaved
    runtime.lib.tfc_layernorm_s8(_ptr(x, C.c_int8), _ptr(out, C.c_int8), C.c_int32(x.size // p.width),
                                 C.c_int32(p.width), C.c_int32(p.prescale), C.c_uint64(p.eps_term),
                                 _ptr(affine, C.c_int32), C.c_int32(p.extra_bits), C.c_int32(p.activation.min),
                                 C.c_int32(p.activation.max))
    return out


@st.composite
def layernorm_cases(draw):
    width = draw(st.integers(1, 320))
    rows = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    sx = draw(st.sampled_from([1e-3, 0.02, 0.1, 1.5]))
    sy = draw(st.sampled_from([0.005, 0.02, 0.05]))
    spread = draw(st.sampled_from([0, 1, 5, 127]))   # 0: constant rows (variance from epsilon only)
    centre = rng.integers(-128 + spread, 128 - spread)
    x = _s8(np.clip(centre + rng.integers(-spread, spread + 1, (rows, width)), -128, 127))
    gamma = rng.normal(1.0, 0.5, width) * draw(st.sampled_from([1.0, -1.0, 0.0]))
    beta = rng.normal(0.0, 0.3, width)
    return x, layernorm_node(width, rows, sx, sy, int(rng.integers(-20, 20)), gamma, beta), gamma, beta


@settings(max_examples=EXAMPLES, deadline=None)
@given(case=layernorm_cases())
def test_layernorm_c_equals_reference(runtime, case):
    x, node, _, _ = case
    p = tp.layernorm_params(node)
    assert_exact(run_layernorm_c(runtime, x, p), tops.layernorm_rows(x, p), f"tfc_layernorm_s8 width {p.width}")


@settings(max_examples=EXAMPLES, deadline=None)
@given(case=layernorm_cases())
def test_integer_layernorm_within_half_lsb_of_float(case):
    """The integer arithmetic's own error is below 0.01 LSB; rounding adds 0.5."""
    x, node, gamma, beta = case
    p = tp.layernorm_params(node)
    got = tops.layernorm_rows(x, p).astype(np.float64)
    xq, yq = node.inputs[0].quant, node.output.quant
    real = (x.astype(np.float64) - xq.zero_point[0]) * np.float32(xq.scale[0])
    mean = real.mean(-1, keepdims=True)
    var = ((real - mean) ** 2).mean(-1, keepdims=True)
    gq = node.inputs[1].quant.scale[0] * node.inputs[1].data.astype(np.float64)
    bq = node.inputs[2].quant.scale[0] * node.inputs[2].data.astype(np.float64)
    y = (real - mean) / np.sqrt(var + node.attrs["epsilon"]) * gq + bq
    want = np.clip(y / np.float32(yq.scale[0]) + yq.zero_point[0], -128, 127)
    err = np.abs(got - want)
    worst = np.unravel_index(int(err.argmax()), err.shape)
    assert err.max() <= 0.51, (f"width {p.width}: |int8 - float| = {err.max():.4f} LSB at {worst} "
                               f"(got {got[worst]}, float {want[worst]:.4f})")


@settings(max_examples=200, deadline=None)
@given(x=st.one_of(st.integers(1 << 30, (1 << 32) - 1),
                   st.integers(16, 63).map(lambda m: m << 26), st.integers(17, 64).map(lambda m: (m << 26) - 1)))
def test_layernorm_rsqrt_is_within_2_to_minus_28_of_exact(x):
    """The Newton reciprocal square root (a seed per top-bits interval, three steps) stays at or
    below 2^31 and within 2^-28 relative of 2^31 / sqrt(x / 2^30); seeds' interval edges included."""
    got = tops.layernorm_rsqrt(x)
    exact = 2.0 ** 46 / math.sqrt(x)
    assert got <= 1 << 31, f"x={x}: {got} > 2^31"
    assert abs(got - exact) <= exact * 2.0 ** -28, f"x={x}: {got} vs {exact:.1f} ({(got - exact) / exact:.3g} relative)"


def test_layernorm_rsqrt_seeds_in_c_equal_python():
    from pathlib import Path
    import re
    src = (Path(tp.__file__).parents[1] / "backends" / "cmsis" / "runtime" / "src" / "tfc_layernorm_s8.c").read_text()
    body = re.search(r"rsqrt_seed\[48\] = \{(.*?)\};", src, re.S).group(1)
    c_seeds = tuple(int(v) for v in re.findall(r"(\d+)U", body))
    assert c_seeds == tp.LAYERNORM_RSQRT_SEED, "tfc_layernorm_s8.c rsqrt_seed differs from LAYERNORM_RSQRT_SEED"


def test_layernorm_rejects_an_output_grid_too_fine_for_gamma():
    from tfc.errors import QuantizationError
    node = layernorm_node(16, 1, 0.1, 1e-9, 0, np.full(16, 3.0), np.zeros(16))
    with pytest.raises(QuantizationError, match="too fine"):
        tp.layernorm_params(node)


@settings(max_examples=EXAMPLES, deadline=None)
@given(size=st.integers(1, 700), seed=st.integers(0, 2**31))
def test_lut_c_equals_reference(runtime, size, seed):
    rng = np.random.default_rng(seed)
    x = _s8(rng.integers(-128, 128, size))
    table = tp.LutParams(tuple(int(v) for v in rng.integers(-128, 128, 256)))
    out = np.zeros_like(x)
    t = _s8(table.table)
    runtime.lib.tfc_lut_s8(_ptr(x, C.c_int8), _ptr(out, C.c_int8), C.c_int32(size), _ptr(t, C.c_int8))
    assert_exact(out, tops.lut(x, table), "tfc_lut_s8")
    runtime.lib.tfc_lut_s8(_ptr(x, C.c_int8), _ptr(x, C.c_int8), C.c_int32(size), _ptr(t, C.c_int8))   # in place
    assert_exact(x, out, "tfc_lut_s8 in place")


@pytest.mark.parametrize("op,attrs", [("gelu", {}), ("sigmoid", {}), ("tanh", {}), ("erf", {})])
def test_lut_tables_are_quantized_float_functions(op, attrs):
    """Each entry is exactly quantize(f(dequantize(q))) (ONNX rounding): exact by construction.
    (hardswish's table is TFLite Micro's integer HARD_SWISH instead: tests/quant/test_tflm_hardswish.py.)"""
    from tfc.ir.ops import get_op
    from tfc.ir.ops.quant import dequantize_array, quantize_array
    g = Graph("lut")
    x = g.add_input("x", TensorType((256,), DType.I8))
    x.quant = QuantParams((0.05,), (3,))
    node = g.add_node(op, [x], attrs)
    node.output.type = node.output.type.with_dtype(DType.I8)
    node.output.quant = QuantParams((0.01,), (-10,))
    q = np.arange(-128, 128).astype(np.int8)
    want = quantize_array(get_op(op).compute(dequantize_array(q, x.quant), node.attrs).astype(np.float32),
                          node.output.quant, DType.I8)
    assert_exact(tops.lut(q, tp.lut_params(node)), want, f"{op} table")


@settings(max_examples=EXAMPLES, deadline=None)
@given(outer=st.integers(1, 4), reduce=st.one_of(st.integers(1, 70), st.integers(250, 300)), inner=st.integers(1, 130),
       seed=st.integers(0, 2**31))
def test_mean_c_equals_reference(runtime, outer, reduce, inner, seed):
    rng = np.random.default_rng(seed)
    x = _s8(rng.integers(-128, 128, (outer, reduce, inner)))
    from tfc.quant.fixed_point import quantize_multiplier
    m, s = quantize_multiplier(float(rng.uniform(0.2, 3.0)) / reduce)
    left = int(rng.integers(0, min(31 - (255 * reduce).bit_length(), 31 + s) + 1))  # mean_params' bounds
    p = tp.MeanParams(outer, reduce, inner, int(rng.integers(-127, 128)), m, s - left, int(rng.integers(-128, 128)),
                      left)
    out = np.zeros((outer, inner), np.int8)
    runtime.lib.tfc_mean_s8(_ptr(x, C.c_int8), _ptr(out, C.c_int8), *(C.c_int32(v) for v in (
        outer, reduce, inner, p.input_offset, p.left_shift, p.multiplier, p.shift, p.output_offset)))
    assert_exact(out, tops.mean(x, p), f"tfc_mean_s8 [{outer},{reduce},{inner}]")


def test_mean_of_a_constant_row_is_that_value():
    from tfc.quant.fixed_point import quantize_multiplier
    m, s = quantize_multiplier(1.0 / 16)
    p = tp.MeanParams(1, 16, 3, 5, m, s, -5)
    x = np.full((1, 16, 3), 42, np.int8)
    assert tops.mean(x, p).tolist() == [[42, 42, 42]]


@settings(max_examples=EXAMPLES, deadline=None)
@given(outer=st.integers(1, 4), axis_len=st.integers(1, 6), inner=st.integers(1, 40),
       idx=st.lists(st.integers(0, 5), min_size=1, max_size=4), seed=st.integers(0, 2**31))
def test_gather_c_equals_numpy_take(runtime, outer, axis_len, inner, idx, seed):
    idx = [i % axis_len for i in idx]
    x = _s8(np.random.default_rng(seed).integers(-128, 128, (outer, axis_len, inner)))
    out = np.zeros((outer, len(idx), inner), np.int8)
    ind = _i32(idx)
    runtime.lib.tfc_gather_s8(_ptr(x, C.c_int8), _ptr(out, C.c_int8), C.c_int32(outer), C.c_int32(axis_len),
                              C.c_int32(inner), _ptr(ind, C.c_int32), C.c_int32(len(idx)))
    assert_exact(out, np.take(x, idx, axis=1), "tfc_gather_s8")


def test_transpose_simplification_keeps_the_permutation():
    from tfc.kernels.movement import simplify_transpose
    rng = np.random.default_rng(0)
    for shape, perm in [((1, 16, 1, 3, 96), (3, 1, 2, 0, 4)), ((2, 3, 4, 5, 6), (0, 1, 4, 2, 3)),
                        ((1, 16, 2, 48), (0, 2, 1, 3)), ((4, 5), (0, 1)), ((1, 1, 1), (2, 0, 1))]:
        x = rng.integers(-128, 128, shape).astype(np.int8)
        small_shape, small_perm = simplify_transpose(shape, perm)
        assert len(small_shape) <= 4, (shape, perm, small_shape)
        want = np.ascontiguousarray(x.transpose(perm)).reshape(-1)
        got = np.ascontiguousarray(x.reshape(small_shape).transpose(small_perm)).reshape(-1)
        assert np.array_equal(got, want), f"{shape} perm {perm} -> {small_shape} perm {small_perm}"
