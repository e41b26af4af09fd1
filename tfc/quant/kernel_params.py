"""TFLite Micro's "Prepare" step: float quantization parameters -> the integers CMSIS-NN takes.

Scales arrive as Python floats that were float32 in the model; each function widens or
multiplies them exactly where TFLite Micro does (some products are taken in float32, most in
double), so multipliers and shifts equal TFLite Micro's bit for bit. The results are frozen
dataclasses whose fields are named after the CMSIS-NN struct fields they fill.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tfc.errors import QuantizationError
from tfc.quant.fixed_point import (
    quantize_multiplier,
    quantize_multiplier_greater_than_one,
    quantize_multiplier_smaller_than_one_exp,
)

INT8_MIN, INT8_MAX = -128, 127
ACTIVATIONS = (None, "none", "relu", "relu6", "relu_n1_to_1")
SOFTMAX_OUTPUT_SCALE = 1.0 / 256.0
SOFTMAX_OUTPUT_ZERO_POINT = -128
SOFTMAX_INPUT_INTEGER_BITS = 5  # kScaledDiffIntegerBits: exp() inputs are Q5.26
ADD_LEFT_SHIFT = 20  # int8 Add works on inputs shifted left by 20 bits


def _f32(x: float) -> np.float32:
    """The float32 a scale was stored as (rounding a double that is not one already)."""
    v = np.float32(x)
    if not np.isfinite(v) or v <= 0:
        raise QuantizationError(f"scale {x!r} must be a positive finite float32")
    return v


def _d(x: float) -> float:
    """static_cast<double>(float): the float32 value widened to double."""
    return float(_f32(x))


def _zero_point(zp: int) -> int:
    zp = int(zp)
    if not INT8_MIN <= zp <= INT8_MAX:
        raise QuantizationError(f"int8 zero point {zp} outside [-128, 127]")
    return zp


@dataclass(frozen=True)
class ActivationRange:
    """cmsis_nn_activation: the output clamp in the quantized domain."""

    min: int = INT8_MIN
    max: int = INT8_MAX


def _quantize_float32(value: float, scale: float, zero_point: int) -> int:
    """TFLite's Quantize() in kernel_util.cc: zero_point + roundf(value / scale) in float32."""
    tmp = np.float32(value) / _f32(scale)
    # np.round rounds half to even; TfLiteRound (std::round) rounds half away from zero.
    r = np.trunc(tmp) + (np.sign(tmp) if abs(tmp - np.trunc(tmp)) >= 0.5 else 0)
    return int(zero_point) + int(r)


def activation_range(activation: str | None, output_scale: float, output_zero_point: int,
                     qmin: int = INT8_MIN, qmax: int = INT8_MAX) -> ActivationRange:
    """CalculateActivationRangeQuantized for a fused activation (None, relu, relu6, relu_n1_to_1)."""
    if activation not in ACTIVATIONS:
        raise QuantizationError(f"unknown fused activation {activation!r}",
                                hint=f"expected one of {ACTIVATIONS}")
    zp = int(output_zero_point)
    if activation == "relu":
        return ActivationRange(max(qmin, _quantize_float32(0.0, output_scale, zp)), qmax)
    if activation == "relu6":
        return ActivationRange(max(qmin, _quantize_float32(0.0, output_scale, zp)),
                               min(qmax, _quantize_float32(6.0, output_scale, zp)))
    if activation == "relu_n1_to_1":
        return ActivationRange(max(qmin, _quantize_float32(-1.0, output_scale, zp)),
                               min(qmax, _quantize_float32(1.0, output_scale, zp)))
    return ActivationRange(qmin, qmax)


# ---- geometry -----------------------------------------------------------------------------------

def conv_output_size(in_size: int, kernel: int, stride: int, pad_before: int, pad_after: int,
                     dilation: int = 1) -> int:
    """Output length of a convolution or pooling window along one axis."""
    effective = (kernel - 1) * dilation + 1
    return (in_size + pad_before + pad_after - effective) // stride + 1


def same_padding(in_size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TFLite's SAME padding along one axis: (before, after); the odd pixel goes after."""
    out = (in_size + stride - 1) // stride
    effective = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + effective - in_size, 0)
    return total // 2, total - total // 2


# ---- per-op parameters --------------------------------------------------------------------------

@dataclass(frozen=True)
class ConvParams:
    """cmsis_nn_conv_params + cmsis_nn_per_channel_quant_params (arm_convolve_s8)."""

    input_offset: int
    output_offset: int
    multipliers: tuple[int, ...]
    shifts: tuple[int, ...]
    stride: tuple[int, int] = (1, 1)  # (h, w)
    padding: tuple[int, int] = (0, 0)  # (top, left); bottom/right follow from the output size
    dilation: tuple[int, int] = (1, 1)
    activation: ActivationRange = ActivationRange()


@dataclass(frozen=True)
class DepthwiseConvParams:
    """cmsis_nn_dw_conv_params + per-channel quantization (arm_depthwise_conv_s8)."""

    input_offset: int
    output_offset: int
    ch_mult: int
    multipliers: tuple[int, ...]
    shifts: tuple[int, ...]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    activation: ActivationRange = ActivationRange()


@dataclass(frozen=True)
class FullyConnectedParams:
    """cmsis_nn_fc_params + quantization (arm_fully_connected_s8, or ..._per_channel_s8 when
    per_channel)."""

    input_offset: int
    filter_offset: int
    output_offset: int
    multipliers: tuple[int, ...]  # one entry when per-tensor
    shifts: tuple[int, ...]
    activation: ActivationRange = ActivationRange()

    @property
    def per_channel(self) -> bool:
        return len(self.multipliers) > 1


@dataclass(frozen=True)
class BatchMatmulParams:
    """cmsis_nn_bmm_params.fc_params + per-tensor quantization (arm_batch_matmul_s8)."""

    input_offset: int  # minus the lhs zero point
    filter_offset: int  # minus the rhs zero point
    output_offset: int
    multiplier: int
    shift: int
    activation: ActivationRange = ActivationRange()


@dataclass(frozen=True)
class AddParams:
    """The arguments of arm_elementwise_add_s8."""

    input_1_offset: int
    input_1_mult: int
    input_1_shift: int
    input_2_offset: int
    input_2_mult: int
    input_2_shift: int
    left_shift: int
    out_offset: int
    out_mult: int
    out_shift: int
    activation: ActivationRange = ActivationRange()


@dataclass(frozen=True)
class MulParams:
    """The arguments of arm_elementwise_mul_s8."""

    input_1_offset: int
    input_2_offset: int
    out_offset: int
    out_mult: int
    out_shift: int
    activation: ActivationRange = ActivationRange()


@dataclass(frozen=True)
class SoftmaxParams:
    """The arguments of arm_softmax_s8 (output is fixed at scale 1/256, zero point -128), and
    `out_mult`, `out_shift` for an output on another scale (zero point -128): the per-row
    reciprocal is multiplied by out_mult * 2^(out_shift - 31) ~ 1/(256 scale), so the
    probabilities land on that grid with one rounding. out_mult 0: arm_softmax_s8's grid."""

    mult: int
    shift: int
    diff_min: int
    out_mult: int = 0
    out_shift: int = 0


@dataclass(frozen=True)
class PoolParams:
    """cmsis_nn_pool_params + the window size (arm_avgpool_s8, arm_max_pool_s8)."""

    filter: tuple[int, int]  # (h, w)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    activation: ActivationRange = ActivationRange()


def _per_channel(input_scale: float, filter_scales: Sequence[float],
                 output_scale: float) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """PopulateConvolutionQuantizationParams: in double, input * filter_c / output per channel."""
    mults, shifts = [], []
    for fs in filter_scales:
        m, s = quantize_multiplier(_d(input_scale) * _d(fs) / _d(output_scale))
        mults.append(m)
        shifts.append(s)
    return tuple(mults), tuple(shifts)


def conv_params(input_scale: float, input_zero_point: int, filter_scales: Sequence[float],
                output_scale: float, output_zero_point: int, *, out_channels: int | None = None,
                stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                activation: str | None = None) -> ConvParams:
    """Conv2D Prepare. One filter scale (per-tensor) is broadcast to out_channels."""
    scales = _broadcast_scales(filter_scales, out_channels)
    mults, shifts = _per_channel(input_scale, scales, output_scale)
    return ConvParams(
        input_offset=-_zero_point(input_zero_point),
        output_offset=_zero_point(output_zero_point),
        multipliers=mults, shifts=shifts,
        stride=_pair(stride), padding=_pair(padding), dilation=_pair(dilation),
        activation=activation_range(activation, output_scale, output_zero_point))


def depthwise_conv_params(input_scale: float, input_zero_point: int, filter_scales: Sequence[float],
                          output_scale: float, output_zero_point: int, *, ch_mult: int = 1,
                          out_channels: int | None = None, stride=(1, 1), padding=(0, 0),
                          dilation=(1, 1), activation: str | None = None) -> DepthwiseConvParams:
    """DepthwiseConv2D Prepare (same per-channel rule as Conv2D)."""
    scales = _broadcast_scales(filter_scales, out_channels)
    mults, shifts = _per_channel(input_scale, scales, output_scale)
    if ch_mult < 1:
        raise QuantizationError(f"depthwise channel multiplier {ch_mult} < 1")
    return DepthwiseConvParams(
        input_offset=-_zero_point(input_zero_point),
        output_offset=_zero_point(output_zero_point),
        ch_mult=int(ch_mult), multipliers=mults, shifts=shifts,
        stride=_pair(stride), padding=_pair(padding), dilation=_pair(dilation),
        activation=activation_range(activation, output_scale, output_zero_point))


def fully_connected_params(input_scale: float, input_zero_point: int, filter_scales: Sequence[float],
                           output_scale: float, output_zero_point: int, *,
                           filter_zero_point: int = 0,
                           activation: str | None = None) -> FullyConnectedParams:
    """FullyConnected Prepare (CalculateOpDataFullyConnected).

    Per-tensor: TFLite multiplies input and filter scales in float32, then divides in double.
    Per-channel (several filter scales): double throughout, as for Conv2D.
    """
    scales = [float(s) for s in np.atleast_1d(np.asarray(filter_scales, dtype=np.float64))]
    if len(scales) == 1:
        product = float(_f32(input_scale) * _f32(scales[0]))  # float32 product, then widened
        m, s = quantize_multiplier(product / _d(output_scale))
        mults, shifts = (m,), (s,)
    else:
        mults, shifts = _per_channel(input_scale, scales, output_scale)
    return FullyConnectedParams(
        input_offset=-_zero_point(input_zero_point),
        filter_offset=-_zero_point(filter_zero_point),
        output_offset=_zero_point(output_zero_point),
        multipliers=mults, shifts=shifts,
        activation=activation_range(activation, output_scale, output_zero_point))


def batch_matmul_params(lhs_scale: float, lhs_zero_point: int, rhs_scale: float, rhs_zero_point: int,
                        output_scale: float, output_zero_point: int) -> BatchMatmulParams:
    """BatchMatMul Prepare: float32 product of the input scales (GetQuantizedConvolutionMultipler);
    no fused activation."""
    product = float(_f32(lhs_scale) * _f32(rhs_scale))
    m, s = quantize_multiplier(product / _d(output_scale))
    return BatchMatmulParams(
        input_offset=-_zero_point(lhs_zero_point), filter_offset=-_zero_point(rhs_zero_point),
        output_offset=_zero_point(output_zero_point), multiplier=m, shift=s)


def add_params(input1_scale: float, input1_zero_point: int, input2_scale: float,
               input2_zero_point: int, output_scale: float, output_zero_point: int, *,
               activation: str | None = None) -> AddParams:
    """Add Prepare (CalculateOpDataAdd, int8): both inputs rescaled to twice the larger scale."""
    twice_max_input_scale = 2 * float(max(_f32(input1_scale), _f32(input2_scale)))
    m1, s1 = quantize_multiplier_smaller_than_one_exp(_d(input1_scale) / twice_max_input_scale)
    m2, s2 = quantize_multiplier_smaller_than_one_exp(_d(input2_scale) / twice_max_input_scale)
    mo, so = quantize_multiplier_smaller_than_one_exp(
        twice_max_input_scale / ((1 << ADD_LEFT_SHIFT) * _d(output_scale)))
    return AddParams(
        input_1_offset=-_zero_point(input1_zero_point), input_1_mult=m1, input_1_shift=s1,
        input_2_offset=-_zero_point(input2_zero_point), input_2_mult=m2, input_2_shift=s2,
        left_shift=ADD_LEFT_SHIFT, out_offset=_zero_point(output_zero_point),
        out_mult=mo, out_shift=so,
        activation=activation_range(activation, output_scale, output_zero_point))


def mul_params(input1_scale: float, input1_zero_point: int, input2_scale: float,
               input2_zero_point: int, output_scale: float, output_zero_point: int, *,
               activation: str | None = None) -> MulParams:
    """Mul Prepare (CalculateOpDataMul): in1 * in2 / out in double."""
    m, s = quantize_multiplier(_d(input1_scale) * _d(input2_scale) / _d(output_scale))
    return MulParams(
        input_1_offset=-_zero_point(input1_zero_point), input_2_offset=-_zero_point(input2_zero_point),
        out_offset=_zero_point(output_zero_point), out_mult=m, out_shift=s,
        activation=activation_range(activation, output_scale, output_zero_point))


# The largest out_shift a scaled softmax takes: its per-row exponent (35 - headroom >= 23, the
# row maximum's exp() alone fills 2^19 of the sum) less out_shift stays >= 3, as the C's merged
# rounding needs. A calibrated grid never comes near: a row's largest probability is >= 1/row size.
SOFTMAX_MAX_OUT_SHIFT = 20


def softmax_params(input_scale: float, beta: float = 1.0, *,
                   output_scale: float = SOFTMAX_OUTPUT_SCALE,
                   output_zero_point: int = SOFTMAX_OUTPUT_ZERO_POINT,
                   any_grid: bool = False) -> SoftmaxParams:
    """Softmax Prepare (CalculateSoftmaxParams, int8 -> int8).

    PreprocessSoftmaxScaling gives the Q5.26 input multiplier and left shift; diff_min is minus
    CalculateInputRadius, the most negative difference to the row maximum still worth exp().
    `any_grid`: the output may have any scale (zero point -128), reached through out_mult and
    out_shift (tfc_softmax_scaled_s8); otherwise it must be TFLite's fixed grid.
    """
    fixed = (np.float32(output_scale) == np.float32(SOFTMAX_OUTPUT_SCALE)
             and int(output_zero_point) == SOFTMAX_OUTPUT_ZERO_POINT)
    if not fixed and not any_grid:
        raise QuantizationError(
            f"int8 softmax output must have scale 1/256 and zero point -128, got "
            f"{output_scale!r} and {output_zero_point}",
            hint="TFLite Micro and CMSIS-NN fix the softmax output quantization")
    out_mult = out_shift = 0
    if not fixed:
        if int(output_zero_point) != SOFTMAX_OUTPUT_ZERO_POINT:
            raise QuantizationError(f"int8 softmax output zero point must be -128 (probabilities start at 0), "
                                    f"got {output_zero_point}")
        out_mult, out_shift = quantize_multiplier(1.0 / (256.0 * _d(output_scale)))
        if not 0 <= out_shift <= SOFTMAX_MAX_OUT_SHIFT:
            raise QuantizationError(f"int8 softmax output scale {output_scale!r} is outside what the kernel "
                                    f"scales to (1/256 x 2^-{SOFTMAX_MAX_OUT_SHIFT} .. 1/128)")
    integer_bits = SOFTMAX_INPUT_INTEGER_BITS
    real = min(_d(beta) * _d(input_scale) * (1 << (31 - integer_bits)), (1 << 31) - 1.0)
    mult, shift = quantize_multiplier_greater_than_one(real)
    max_input_rescaled = (1.0 * ((1 << integer_bits) - 1) * (1 << (31 - integer_bits))
                          / (1 << shift))
    radius = int(np.floor(max_input_rescaled))
    return SoftmaxParams(mult=mult, shift=shift, diff_min=-radius, out_mult=out_mult, out_shift=out_shift)


def pool_params(filter_hw, *, stride=(1, 1), padding=(0, 0), activation: str | None = None,
                output_scale: float = 1.0, output_zero_point: int = 0) -> PoolParams:
    """AveragePool/MaxPool Prepare: only the activation clamp needs quantization (input and
    output share scale and zero point)."""
    return PoolParams(filter=_pair(filter_hw), stride=_pair(stride), padding=_pair(padding),
                      activation=activation_range(activation, output_scale, output_zero_point))


# ---- helpers ------------------------------------------------------------------------------------

def _pair(v) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    a, b = v
    return (int(a), int(b))


def _broadcast_scales(filter_scales: Sequence[float], out_channels: int | None) -> list[float]:
    scales = [float(s) for s in np.atleast_1d(np.asarray(filter_scales, dtype=np.float64))]
    if out_channels is None:
        return scales
    if len(scales) == 1:
        return scales * out_channels
    if len(scales) != out_channels:
        raise QuantizationError(
            f"{len(scales)} filter scales for {out_channels} output channels")
    return scales


@dataclass(frozen=True)
class RequantizeParams:
    """out = clamp(requantize(x - in_zp, mult, shift) + out_zp): int8 -> int8 with new params
    (TFLite's QUANTIZE int8->int8), also a standalone ReLU/clip; identity params skip the multiply."""

    input_offset: int
    multiplier: int
    shift: int
    output_offset: int
    activation: ActivationRange
    identity: bool
