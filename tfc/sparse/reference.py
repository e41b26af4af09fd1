"""numpy twins of the sparse kernels' arithmetic (tfc_sparse_s8.c).

`fast_requantize` is the per-output requantization the C kernels use (SMMLAR-based, 5
instructions on Armv7E-M), with `requant_kind` deciding per channel where it provably equals
tfc.quant.fixed_point.requantize. `sparse_conv2d` / `sparse_fully_connected` run an encoded
layer through the dense reference on its decoded weights: what the C kernels must match.

Why the fast forms are exact (acc: the int32 accumulator, m in [0, 2^31), D = 2^31):
srdhm(a, m) = floor((a*m + 2^30) / 2^31) = floor((2a*m + 2^31) / 2^32), the rounded high word
SMMLAR(2a, m, 0), provided 2a fits int32. For a right shift r >= 1, rounding half away from zero
is floor((x + 2^(r-1) - [x < 0]) / 2^r); [x < 0] may be replaced by [a < 0] (they differ only
when x == 0, where both give 0), and adding an integer K inside SMMLAR's high word adds K to x.
So requantize(a) + zp = SMMLAR(2a, m, 2^(r-1) + zp*2^r - [a < 0]) >> r, exactly, as long as no
intermediate leaves int32, which `requant_kind` checks from the channel's accumulator bound.
Without the [a < 0] term a negative a may give one less; both are then at or below zp (x <= 0
for a < 0 and m >= 0), so where the output's clamp minimum is at or above zp (ReLU layers, whose
zp is the minimum) the clamped outputs are equal: `sign_fix_needed`. Kernels that feed SMMLAR 2a
directly (doubled weights and bias: the depthwise kernel, the generated code) save the shift too.
For shift >= 0 (left l, no right shift): requantize(a) + zp = SMMLAR(a << (l+1), m, zp) when
a << (l+1) fits int32.
"""
from __future__ import annotations

import numpy as np

from tfc.quant import fixed_point as fp
from tfc.quant import reference as ref
from tfc.quant.kernel_params import ConvParams, FullyConnectedParams

RQ_RIGHT, RQ_LEFT, RQ_GENERIC = 0, 1, 2
_I32 = 1 << 31


def smmlar(a, b, acc) -> np.ndarray:
    """Armv7E-M SMMLAR: high word of acc * 2^32 + a * b + 2^31, wrapped to int32."""
    a, b, acc = (np.asarray(v, dtype=object) for v in (a, b, acc))
    total = acc * (1 << 32) + a * b + (1 << 31)
    return fp.wrap_int32(np.asarray(total >> 32, dtype=object).astype(np.int64))


def requant_kind(acc_bound: int, multiplier: int, shift: int, output_offset: int) -> tuple[int, int, int]:
    """(kind, shift field, rounding field) of a channel record whose |accumulator| <= acc_bound."""
    if multiplier < 0 or acc_bound >= _I32:
        return RQ_GENERIC, shift, output_offset
    if shift < 0:
        r = -shift
        rounding = (1 << (r - 1)) + output_offset * (1 << r)
        # 2a fits; |x + rounding| <= bound + 2 + |rounding| fits.
        if 2 * acc_bound < _I32 and acc_bound + 2 + abs(rounding) < _I32 and r <= 31:
            return RQ_RIGHT, r, rounding
        return RQ_GENERIC, shift, output_offset
    if acc_bound * (1 << (shift + 1)) < _I32 and shift + 1 <= 31:
        return RQ_LEFT, shift + 1, output_offset
    return RQ_GENERIC, shift, output_offset


def sign_fix_needed(output_offset: int, activation_min: int) -> bool:
    """Whether a RIGHT requantization needs its correction for a negative accumulator: not where the
    clamp's minimum (-128 without one) is at or above the output zero point (see above)."""
    return output_offset > activation_min


def fast_requantize(acc, multiplier: int, kind: int, shift_field: int, rounding: int,
                    sign_fix: bool = True) -> np.ndarray:
    """What the C kernel computes for a record (before the int8 saturation and clamp); sign_fix
    False: the RIGHT form without the negative accumulator's correction."""
    a = np.asarray(acc, dtype=np.int64)
    if kind == RQ_RIGHT:
        h = smmlar(a * 2, multiplier, rounding - sign_fix * (a < 0).astype(np.int64)).astype(np.int64)
        return h >> shift_field
    if kind == RQ_LEFT:
        return smmlar(a << shift_field, multiplier, rounding).astype(np.int64)
    return fp.requantize(acc, multiplier, shift_field).astype(np.int64) + rounding


def sparse_conv2d(x: np.ndarray, layer, params: ConvParams, output_hw=None) -> np.ndarray:
    """The dense reference on the layer's decoded OHWI weights."""
    return ref.conv2d(x, layer.dense_weights(), layer.bias, params, output_hw=output_hw)


def sparse_fully_connected(x: np.ndarray, layer, params: FullyConnectedParams) -> np.ndarray:
    w = layer.dense_weights()
    return ref.fully_connected(x, w.reshape(w.shape[0], -1), layer.bias, params)
