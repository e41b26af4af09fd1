"""TFLite Micro's int8 HARD_SWISH (reference_ops::HardSwish and HardSwishPrepare) evaluated at all
256 input codes: the table tfc_lut_s8 runs, so a hardswish equals TFLM's bit for bit.

TFLM computes in 16-bit fixed point: the input on a "hires" scale (s_in / 128), once rescaled to
the output scale and once to a "relu-ish" scale where 3.0 is 2^15, the latter turned into a
factor in [0, 1] that multiplies the former with a truncating doubling high multiply. Rounding
the float function onto the grid (quantize(f(dequantize(q)))) differs from this by one step on
some codes, which a TFLite conversion of MobileNetV3 shows."""
from __future__ import annotations

import numpy as np

from tfc.errors import QuantizationError
from tfc.ir.types import QuantParams
from tfc.quant.fixed_point import quantize_multiplier

I16_MIN, I16_MAX = -(1 << 15), (1 << 15) - 1


def _trunc_div(x: np.ndarray, d: int) -> np.ndarray:
    """C's integer division (toward zero)."""
    return np.sign(x) * (np.abs(x) // d)


def _srdhm16(a: np.ndarray, b: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul on int16."""
    ab = a * b
    r = _trunc_div(ab + np.where(ab >= 0, 1 << 14, 1 - (1 << 14)), 1 << 15)
    return np.where((a == I16_MIN) & (b == I16_MIN), I16_MAX, r)


def _sdhm16(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """TFLM's SaturatingDoublingHighMul: as above, truncating instead of rounding."""
    return np.where((a == b) & (a == I16_MIN), I16_MAX, _trunc_div(a * b, 1 << 15))


def _rdbpot(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT (round half away from zero)."""
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + ((x & mask) > threshold)


def _saturating_shl(x: np.ndarray, amount: int) -> np.ndarray:
    return np.clip(x * (1 << amount), I16_MIN, I16_MAX)


def _q15(real: float) -> tuple[int, int]:
    """QuantizeMultiplier, then DownScaleInt32ToInt16Multiplier: (Q15 multiplier, exponent)."""
    m32, exponent = quantize_multiplier(real)
    return (I16_MAX if m32 >= (1 << 31) - 1 - (1 << 15) else (m32 + (1 << 15)) >> 16), exponent


def hardswish_table(xq: QuantParams, yq: QuantParams) -> np.ndarray:
    """out[q + 128] for every int8 input code q, as TFLM's HARD_SWISH computes it."""
    f32 = np.float32
    hires_scale = f32(1.0 / 128.0) * f32(xq.scale[0])
    out_m, out_exp = _q15(float(f32(hires_scale / f32(yq.scale[0]))))
    relu_m, relu_exp = _q15(float(f32(hires_scale / f32(3.0 / 32768.0))))
    if out_exp > 0:
        raise QuantizationError("int8 hardswish: the output scale is finer than the input's / 128 "
                                "(TFLite Micro's HARD_SWISH requires a right-shifting output multiplier)")
    hires = (np.arange(-128, 128, dtype=np.int64) - int(xq.zero_point[0])) * 128
    on_output = _srdhm16(hires, out_m)
    relu = hires
    if relu_exp > 0:
        relu = _saturating_shl(relu, relu_exp - 1)
    relu = _srdhm16(relu, relu_m)
    if relu_exp > 0:
        relu = _saturating_shl(relu, 1)
    if relu_exp < 0:
        relu = _rdbpot(relu, -relu_exp)
    relu = (relu + (1 << 15)) >> 1                       # [-1, 1] -> [0, 1] in Q15
    out = _rdbpot(_sdhm16(relu, on_output), -out_exp) + int(yq.zero_point[0])
    return np.clip(out, -128, 127).astype(np.int8)
