"""tfc.quant.fixed_point against plain-integer transcriptions of gemmlowp/TFLite and against math."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfc.errors import QuantizationError
from tfc.quant import fixed_point as fp

CI = settings.get_profile("ci")
I32 = st.integers(fp.INT32_MIN, fp.INT32_MAX)


# ---- independent transcriptions with Python ints (C++ semantics spelled out) ----

def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _wrap(x: int) -> int:
    return (x + (1 << 31)) % (1 << 32) - (1 << 31)


def gemmlowp_srdhm(a: int, b: int) -> int:
    """gemmlowp's SaturatingRoundingDoublingHighMul as written there: nudge, then truncate."""
    if a == b == fp.INT32_MIN:
        return fp.INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return _trunc_div(ab + nudge, 1 << 31)


def gemmlowp_rdbpot(x: int, e: int) -> int:
    mask = (1 << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if remainder > threshold else 0)


def tflite_mbqm(x: int, m: int, shift: int) -> int:
    left, right = max(shift, 0), max(-shift, 0)
    return gemmlowp_rdbpot(gemmlowp_srdhm(_wrap(x * (1 << left)), m), right)


# ---- quantize_multiplier ----

@pytest.mark.parametrize("real, expected", [
    (1.0, (1 << 30, 1)),
    (0.5, (1 << 30, 0)),
    (0.25, (1 << 30, -1)),
    (2.0 ** -31, (1 << 30, -30)),
    (2.0 ** -32, (1 << 30, -31)),
    (2.0 ** -33, (0, 0)),           # shift < -31: flushed to zero as TFLite does
    (0.0, (0, 0)),
    (0.75, (3 << 29, 0)),
    (1.0 - 2.0 ** -40, (1 << 30, 1)),  # rounds to 2^31: halved, shift + 1
    (-0.5, (-(1 << 30), 0)),
])
def test_quantize_multiplier_edges(real, expected):
    assert fp.quantize_multiplier(real) == expected


def test_quantize_multiplier_rounds_half_away_from_zero():
    # q * 2^31 = 2^30 + 0.5 exactly: std::round goes up (banker's rounding would go down).
    real = (2.0 ** 30 + 0.5) / 2.0 ** 31
    assert fp.quantize_multiplier(real) == ((1 << 30) + 1, 0)
    assert fp.round_half_away(-2.5) == -3 and fp.round_half_away(2.5) == 3
    assert fp.round_half_away(0.49999999999999994) == 0


@given(st.floats(1e-9, 1e6, allow_nan=False))
@settings(CI)
def test_quantize_multiplier_represents_real(real):
    m, s = fp.quantize_multiplier(real)
    assert (1 << 30) <= m < (1 << 31)
    assert math.isclose(m * 2.0 ** (s - 31), real, rel_tol=2.0 ** -30)


def test_quantize_multiplier_rejects_non_finite():
    with pytest.raises(QuantizationError):
        fp.quantize_multiplier(float("nan"))
    with pytest.raises(QuantizationError):
        fp.quantize_multiplier_smaller_than_one_exp(1.5)
    with pytest.raises(QuantizationError):
        fp.quantize_multiplier_greater_than_one(0.5)


# ---- fixed-point primitives ----

EDGE = [fp.INT32_MIN, fp.INT32_MIN + 1, -(1 << 30), -1, 0, 1, (1 << 30), fp.INT32_MAX]


@given(st.lists(st.tuples(I32 | st.sampled_from(EDGE), I32 | st.sampled_from(EDGE)), min_size=1, max_size=50))
@settings(CI)
def test_srdhm_matches_gemmlowp(pairs):
    a = np.array([p[0] for p in pairs], dtype=np.int32)
    b = np.array([p[1] for p in pairs], dtype=np.int32)
    got = fp.saturating_rounding_doubling_high_mul(a, b)
    assert got.tolist() == [gemmlowp_srdhm(int(x), int(y)) for x, y in pairs]


@given(st.lists(I32 | st.sampled_from(EDGE), min_size=1, max_size=50), st.integers(0, 31))
@settings(CI)
def test_rounding_divide_by_pot_matches_gemmlowp(xs, e):
    got = fp.rounding_divide_by_pot(np.array(xs, dtype=np.int32), e)
    assert got.tolist() == [gemmlowp_rdbpot(x, e) for x in xs]


@given(st.lists(I32, min_size=1, max_size=30), st.integers((1 << 30), fp.INT32_MAX) | st.just(0),
       st.integers(-31, 30))
@settings(CI)
def test_requantize_matches_tflite(accs, m, shift):
    got = fp.requantize(np.array(accs, dtype=np.int32), m, shift)
    assert got.tolist() == [tflite_mbqm(x, m, shift) for x in accs]


def test_requantize_per_channel_broadcast():
    acc = np.array([[100, 100], [-100, -100]], dtype=np.int32)
    got = fp.requantize(acc, np.array([1 << 30, 1 << 30]), np.array([0, -1]))
    assert got.tolist() == [[50, 25], [-50, -25]]


def test_rounding_divide_ties_away_from_zero():
    assert fp.rounding_divide_by_pot(np.array([3, -3, 5, -5, 2, -2]), 1).tolist() == [2, -2, 3, -3, 1, -1]


# ---- softmax helpers against real math ----

@given(st.integers(-(1 << 31), 0))
@settings(CI)
def test_exp_on_negative_values_approximates_exp(raw):
    got = int(fp.exp_on_negative_values(np.array([raw]))[0]) / 2.0 ** 31
    assert abs(got - math.exp(raw / 2.0 ** 26)) < 1e-6  # gemmlowp is accurate to ~2.3e-7


@given(st.integers(0, fp.INT32_MAX))
@settings(CI)
def test_one_over_one_plus_x_approximates_reciprocal(raw):
    x = raw / 2.0 ** 31
    got = int(fp.one_over_one_plus_x_for_x_in_0_1(np.array([raw]))[0]) / 2.0 ** 31
    assert abs(got - 1.0 / (1.0 + x)) < 1e-8


def test_count_leading_zeros():
    xs = [0, 1, 2, 3, (1 << 31) - 1, 1 << 31, 0xFFFFFFFF, 1 << 16, (1 << 16) - 1]
    got = fp.count_leading_zeros_u32(np.array(xs, dtype=np.int64)).tolist()
    assert got == [32 if x == 0 else 32 - x.bit_length() for x in xs]
