"""Bit-exact int32 fixed-point arithmetic of TFLite Micro (gemmlowp) and CMSIS-NN.

Every function equals its C twin in tfc/backends/cmsis/runtime/include/tfc_nn_support.h and
src/softmax_s8.c bit for bit. Array functions take and return numpy int32 arrays (scalars work
too); they compute in int64 and wrap to int32 where the C code wraps (two's complement), so
results match even where TFLite's C++ would overflow.
"""
from __future__ import annotations

import math

import numpy as np

from tfc.errors import QuantizationError

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def round_half_away(x: float) -> int:
    """std::round / TfLiteRound for a double: halfway cases away from zero, exactly."""
    if not math.isfinite(x):
        raise QuantizationError(f"cannot round non-finite value {x!r}")
    t = math.trunc(x)
    frac = x - t  # exact for binary floating point
    if abs(frac) >= 0.5:
        t += 1 if x > 0 else -1
    return int(t)


MAX_LEFT_SHIFT = 30   # TFLite's QuantizeMultiplier saturates at 30; CMSIS-NN shifts an int32 left


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: real ~= multiplier * 2^(shift - 31), multiplier in [2^30, 2^31).

    Returns (multiplier, shift) with shift > 0 meaning a left shift (CMSIS-NN's convention).
    Zero gives (0, 0); magnitudes below ~2^-31 flush to (0, 0) as TFLite does (exact: no int32
    accumulator times them reaches half an output LSB); a shift above MAX_LEFT_SHIFT is refused.
    """
    real = float(real)
    if not math.isfinite(real):
        raise QuantizationError(f"multiplier {real!r} is not finite")
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)  # real = q * 2^shift, 0.5 <= |q| < 1
    q_fixed = round_half_away(q * (1 << 31))  # q * 2^31 is exact: a power-of-two scaling
    if q_fixed == (1 << 31):  # q rounded up to 1.0
        q_fixed //= 2
        shift += 1
    if shift < -31:  # every bit would be shifted out: TFLite flushes to zero
        return 0, 0
    if q_fixed > INT32_MAX or q_fixed < INT32_MIN:
        raise QuantizationError(f"multiplier {real!r} does not fit int32 fixed point")
    if shift > MAX_LEFT_SHIFT:
        # The kernels shift the int32 accumulator left by `shift` (TFLite saturates above 30): a
        # larger one is undefined behaviour in C and no int8 output could use it anyway.
        raise QuantizationError(
            f"requantization scale ratio {real:.4g} is too large for the int8 kernels (needs a left shift "
            f"of {shift}, at most {MAX_LEFT_SHIFT})",
            hint="an output scale this much finer than input scale x weight scale is not a usable "
                 "quantization; check the model's Q/DQ scales")
    return int(q_fixed), int(shift)


def quantize_multiplier_smaller_than_one_exp(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplierSmallerThanOneExp: 0 < real < 1, shift <= 0."""
    if not 0.0 < real < 1.0:
        raise QuantizationError(f"multiplier {real!r} must lie in (0, 1)")
    mult, shift = quantize_multiplier(real)
    if shift > 0:
        raise QuantizationError(f"multiplier {real!r} rounds to a shift of {shift} > 0")
    return mult, shift


def quantize_multiplier_greater_than_one(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplierGreaterThanOne: real > 1, shift >= 0."""
    if not real > 1.0:
        raise QuantizationError(f"multiplier {real!r} must be > 1")
    return quantize_multiplier(real)


def _i64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def wrap_int32(x) -> np.ndarray:
    """Reduce int64 values modulo 2^32 into int32 (two's-complement wrap)."""
    x = _i64(x)
    return (((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)).astype(np.int32)


def shl_wrap(x, n: int) -> np.ndarray:
    """x * 2^n modulo 2^32 (TFLite's `x * (1 << n)`)."""
    return wrap_int32(_i64(x) << int(n))


def saturating_rounding_doubling_high_mul(a, b) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul: round(a*b / 2^31), ties up, (MIN, MIN) -> MAX."""
    a, b = np.broadcast_arrays(_i64(a), _i64(b))
    # |a*b| <= 2^62 fits int64; >> on int64 floors, which with +2^30 is the rounding wanted.
    r = (a * b + (1 << 30)) >> 31
    r = np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, r)
    return r.astype(np.int32)


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT: x / 2^exponent rounded half away from zero, 0 <= exponent <= 31."""
    x, e = np.broadcast_arrays(_i64(x), _i64(exponent))
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return ((x >> e) + (remainder > threshold)).astype(np.int32)


def requantize(acc, multiplier, shift) -> np.ndarray:
    """TFLite MultiplyByQuantizedMultiplier (double rounding) == CMSIS-NN arm_nn_requantize.

    multiplier and shift may be scalars or arrays broadcasting against acc (per channel: the
    last axis of an NHWC accumulator).
    """
    acc, m, s = np.broadcast_arrays(_i64(acc), _i64(multiplier), _i64(shift))
    left = np.maximum(s, 0)
    right = np.maximum(-s, 0)
    return rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(wrap_int32(acc << left), m), right)


def saturating_shift_left(x, exponent: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingMultiplyByPOT for exponent > 0 (saturating x * 2^exponent)."""
    x = _i64(x)
    thresh = (1 << (31 - exponent)) - 1
    r = np.where(x > thresh, INT32_MAX, np.where(x < -thresh, INT32_MIN, x << exponent))
    return wrap_int32(r)


# ---- softmax helpers (gemmlowp fixedpoint.h) ----------------------------------------------------

_EXP_POW2_MULTIPLIERS = (1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a) -> np.ndarray:
    """exp(a) for a Q0.31 a in [-1/4, 0): Taylor series around -1/8."""
    srdhm = saturating_rounding_doubling_high_mul
    x = wrap_int32(_i64(a) + (1 << 28))
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    poly = rounding_divide_by_pot(
        wrap_int32(_i64(srdhm(wrap_int32(_i64(x4_over_4) + x3), 715827883)) + x2), 1)
    return wrap_int32(1895147668 + _i64(srdhm(1895147668, wrap_int32(_i64(x) + poly))))


def exp_on_negative_values(a, integer_bits: int = 5) -> np.ndarray:
    """gemmlowp exp_on_negative_values: a in Q(integer_bits).(31-integer_bits), a <= 0; result Q0.31."""
    if integer_bits != 5:
        raise ValueError("only the softmax's Q5.26 input is implemented")
    a = _i64(a)
    fractional_bits = 31 - integer_bits
    quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_quarter = (a & (quarter - 1)) - quarter
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_shift_left(a_mod_quarter_minus_quarter, integer_bits))
    remainder = wrap_int32(a_mod_quarter_minus_quarter - a).astype(np.int64)
    for i, mult in enumerate(_EXP_POW2_MULTIPLIERS):
        bit = (remainder >> (fractional_bits - 2 + i)) & 1
        result = np.where(bit == 1, saturating_rounding_doubling_high_mul(result, mult), result)
    return np.where(a == 0, INT32_MAX, result).astype(np.int32)


def one_over_one_plus_x_for_x_in_0_1(a) -> np.ndarray:
    """gemmlowp one_over_one_plus_x_for_x_in_0_1 (Q0.31 in and out), Newton-Raphson."""
    srdhm = saturating_rounding_doubling_high_mul
    s = _i64(a) + INT32_MAX
    half_denominator = wrap_int32(np.where(s >= 0, (s + 1) // 2, -((-(s - 1)) // 2)))
    x = wrap_int32(1515870810 + _i64(srdhm(half_denominator, -1010580540)))
    for _ in range(3):
        one_minus = wrap_int32((1 << 29) - _i64(srdhm(half_denominator, x)))
        x = wrap_int32(_i64(x) + saturating_shift_left(srdhm(x, one_minus), 2))
    return saturating_shift_left(x, 1)


def count_leading_zeros_u32(x) -> np.ndarray:
    """Leading zero bits of x as uint32 (32 for 0)."""
    x = _i64(x) & 0xFFFFFFFF
    out = np.full(x.shape, 32, dtype=np.int64)
    nz = x != 0
    # bit_length via float log2 is inexact near powers of two; use an integer loop over 5 steps.
    n = np.zeros(x.shape, dtype=np.int64)
    v = x.copy()
    for step in (16, 8, 4, 2, 1):
        small = v < (np.int64(1) << (32 - step))
        n = np.where(small & nz, n + step, n)
        v = np.where(small, v << step, v)
    return np.where(nz, n, out).astype(np.int32)
