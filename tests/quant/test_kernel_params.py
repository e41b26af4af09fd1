"""tfc.quant.kernel_params reproduces TFLite Micro's Prepare arithmetic."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfc.errors import QuantizationError
from tfc.quant import kernel_params as kp
from tfc.quant.fixed_point import quantize_multiplier

CI = settings.get_profile("ci")
f32_scales = st.floats(1e-6, 10.0).map(lambda v: float(np.float32(v)))


@given(f32_scales, st.lists(f32_scales, min_size=1, max_size=8), f32_scales)
@settings(CI)
def test_conv_multipliers_use_double_products(si, sw, so):
    p = kp.conv_params(si, 3, sw, so, -5)
    expected = [quantize_multiplier(si * w / so) for w in sw]  # Python floats are doubles
    assert list(zip(p.multipliers, p.shifts)) == expected
    assert p.input_offset == -3 and p.output_offset == -5


def test_per_tensor_filter_scale_broadcasts():
    p = kp.conv_params(0.5, 0, [0.25], 0.125, 0, out_channels=4)
    assert p.multipliers == (1 << 30,) * 4 and p.shifts == (1,) * 4
    with pytest.raises(QuantizationError):
        kp.conv_params(0.5, 0, [0.25, 0.5], 0.125, 0, out_channels=3)


def test_fully_connected_per_tensor_multiplies_scales_in_float32():
    # Scales whose float32 product differs from the double product in the last bits.
    si, sw, so = float(np.float32(0.1)), float(np.float32(0.3)), float(np.float32(0.7))
    f32_product = float(np.float32(si) * np.float32(sw))
    assert f32_product != si * sw
    p = kp.fully_connected_params(si, 0, [sw], so, 0)
    assert (p.multipliers[0], p.shifts[0]) == quantize_multiplier(f32_product / so)
    assert not p.per_channel
    pc = kp.fully_connected_params(si, 0, [sw, sw], so, 0)
    assert pc.per_channel and (pc.multipliers[0], pc.shifts[0]) == quantize_multiplier(si * sw / so)


def test_activation_ranges():
    # relu6 with a scale of 6/255 and zero point -128 spans the whole int8 range.
    assert kp.activation_range("relu6", 6 / 255, -128) == kp.ActivationRange(-128, 127)
    assert kp.activation_range("relu", 0.1, 5) == kp.ActivationRange(5, 127)
    assert kp.activation_range("relu6", 0.1, 5) == kp.ActivationRange(5, 65)
    assert kp.activation_range("relu_n1_to_1", 0.1, 0) == kp.ActivationRange(-10, 10)
    assert kp.activation_range(None, 0.1, 0) == kp.ActivationRange(-128, 127)
    # Halfway cases round away from zero (roundf), not to even: -1 / 2 = -0.5 -> -1, 1 / 2 -> 1.
    assert kp.activation_range("relu_n1_to_1", 2.0, 0) == kp.ActivationRange(-1, 1)
    with pytest.raises(QuantizationError):
        kp.activation_range("gelu", 0.1, 0)


def test_add_params_follow_tflite():
    p = kp.add_params(0.05, 3, 0.1, -2, 0.2, 1)
    assert p.left_shift == 20
    # input 1: 0.05 / 0.2 = 0.25; input 2: 0.1 / 0.2 = 0.5; output: 0.2 / (2^20 * 0.2) = 2^-20
    assert (p.input_1_mult, p.input_1_shift) == (1 << 30, -1)
    assert (p.input_2_mult, p.input_2_shift) == (1 << 30, 0)
    assert (p.out_mult, p.out_shift) == (1 << 30, -19)
    assert (p.input_1_offset, p.input_2_offset, p.out_offset) == (-3, 2, 1)


def test_mul_params():
    p = kp.mul_params(0.5, 0, 0.25, 0, 0.125, 0)
    assert (p.out_mult, p.out_shift) == quantize_multiplier(1.0)


def test_softmax_params():
    # beta * scale * 2^26 = 2^22 exactly (scale 1/16): multiplier 2^30, left shift 23.
    p = kp.softmax_params(1 / 16)
    assert (p.mult, p.shift) == (1 << 30, 23)
    assert p.diff_min == -((31 << 26) >> 23)  # -floor(31 * 2^26 / 2^23) = -248
    p = kp.softmax_params(0.1, beta=2.0)
    real = 2.0 * float(np.float32(0.1)) * (1 << 26)
    assert (p.mult, p.shift) == quantize_multiplier(real)
    assert p.diff_min == -int(np.floor(31.0 * (1 << 26) / (1 << p.shift)))
    with pytest.raises(QuantizationError):
        kp.softmax_params(0.1, output_scale=1 / 255)


def test_batch_matmul_params_float32_product():
    si, sw, so = float(np.float32(0.1)), float(np.float32(0.3)), float(np.float32(0.7))
    p = kp.batch_matmul_params(si, 1, sw, -1, so, 2)
    assert (p.multiplier, p.shift) == quantize_multiplier(float(np.float32(si) * np.float32(sw)) / so)
    assert (p.input_offset, p.filter_offset, p.output_offset) == (-1, 1, 2)


def test_geometry_helpers():
    assert kp.same_padding(5, 3, 1) == (1, 1)
    assert kp.same_padding(6, 3, 2) == (0, 1)  # TFLite puts the odd pixel after
    assert kp.conv_output_size(7, 3, 2, 1, 1) == 4
    assert kp.conv_output_size(7, 3, 1, 0, 0, dilation=2) == 3


def test_bad_inputs():
    with pytest.raises(QuantizationError):
        kp.conv_params(0.0, 0, [0.1], 0.1, 0)
    with pytest.raises(QuantizationError):
        kp.conv_params(0.1, 200, [0.1], 0.1, 0)
