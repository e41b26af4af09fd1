"""tfc_depthwise_kx1_wide_s8: a depthwise conv2d whose window is one column on an input one pixel
wide (Kh x 1, the streaming wake word model's) or one row on an input one pixel tall (1 x Kw): a
1-D depthwise conv along the run of pixels, stride 1, no padding, batch 1, channels a multiple of
4, up to 16 taps, with arm_depthwise_conv_s8's integers, two taps of a channel per SMLAD.

Four channels at a time the kernel widens the run into four int16 planes (on the run function's
stack: 4 x (run + 2) x 2 B, the arena does not change) and folds the input offset into the bias
(no padding: every tap is inside). Weights: (taps + 1) / 2 int16 pairs per channel, doubled, the
last odd tap paired with 0; bias and requantization as tfc_depthwise_3x3_wide_s8's
(tfc.kernels.depthwise_wide.dw3_channels: the folded right-shift requantization on 2 acc).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfc.kernels import cost as C
from tfc.kernels import records as R
from tfc.kernels.base import register_kernel
from tfc.kernels.conv_wide import Geometry
from tfc.kernels.depthwise_wide import CHANNEL_GROUP, PlaneDepthwise, dw3_channels, planes_decline, records_decline

MAX_TAPS = 16


@dataclass(frozen=True)
class RunGeometry:
    """tfc_dwk1_geometry, field for field."""

    in_len: int
    out_len: int
    channels: int
    taps: int
    in_step: int
    out_step: int
    output_offset: int
    act_min: int
    act_max: int

    c_fields = Geometry.c_fields


def kx1_weights(w: np.ndarray) -> np.ndarray:
    """IR [C, Kh, Kw, 1] int8 (Kh or Kw 1) -> int16 [C, 2 * ceil(K / 2)], doubled, a 0 after an odd last tap."""
    k = w.reshape(w.shape[0], -1).astype(np.int16) * 2
    out = np.zeros((w.shape[0], 2 * (-(-k.shape[1] // 2))), np.int16)
    out[:, :k.shape[1]] = k
    return out.reshape(-1)


def run_geometry(node, p) -> RunGeometry:
    x, y, w = node.inputs[0], node.output, node.inputs[1]
    c = x.shape[3]
    return RunGeometry(x.shape[1] * x.shape[2], y.shape[1] * y.shape[2], c, w.shape[1] * w.shape[2], c, c,
                       p.output_offset, p.activation.min, p.activation.max)


def plane_bytes(g: RunGeometry) -> int:
    """tfc_depthwise_kx1_wide_s8_get_buffer_size, in Python."""
    return CHANNEL_GROUP * (g.in_len + 2) * 2 + 4


@dataclass(frozen=True)
class DepthwiseKx1Args:
    params: object                  # kp.DepthwiseConvParams
    geometry: RunGeometry
    weights: R.ConstArray           # int16, kx1_weights
    channels: R.ConstArray          # int32, dw3_channels
    stack_words: int                # the four planes, on the stack

    @property
    def flash_arrays(self) -> tuple[R.ConstArray, ...]:
        return (self.weights, self.channels)


@register_kernel
class DepthwiseKx1(PlaneDepthwise):
    """The Kh x 1 / 1 x Kw depthwise conv2d (see the module docstring)."""

    name = "depthwise_kx1"
    function = "tfc_depthwise_kx1_wide_s8"
    sources = ("tfc_depthwise_kx1_wide_s8.c",)
    # fitted (non-negative) on the streaming wake word model's four layers: -1..+6 %
    costs = {"tfc_depthwise_kx1_wide_s8": C.Cost(C.DEPTHWISE, (1.2592, 0.0, 0.0, 0.0, 4.4080, 12.1336, 0.0, 0.0))}
    template_source = """\
{#- tfc_depthwise_kx1_wide_s8: Layer with DepthwiseKx1Args. -#}
{% import "_macros.j2" as m %}
{% macro data(layer) %}
{% endmacro %}
{% macro call(layer) %}
{% set a = layer.args %}
{{ m.comment(layer) }}
    {
        static const tfc_dwk1_geometry geometry = { {{ a.geometry.c_fields() }} };
        uint32_t planes[{{ a.stack_words }}]; /* four channels' int16 planes */
        tfc_depthwise_kx1_wide_s8(&geometry, {{ m.at(layer.inputs[0]) }}, {{ a.weights.symbol }},
            (const tfc_conv_wide_channel *)(const void *){{ a.channels.symbol }}, {{ m.at(layer.output) }}, planes);
    }
{% endmacro %}
"""

    def decline(self, node):
        why = super().decline(node)
        if why:
            return why
        x, w = node.inputs[0], node.inputs[1]
        kh, kw = w.shape[1:3]
        if not ((kw == 1 and x.shape[2] == 1) or (kh == 1 and x.shape[1] == 1)):
            return f"a {kh}x{kw} window on a {x.shape[1]}x{x.shape[2]} input (the kernel runs one column or row)"
        if kh * kw < 2 or kh * kw > MAX_TAPS:
            return f"{kh * kw} taps (the kernel takes 2 to {MAX_TAPS})"
        why, p = planes_decline(self, node)
        if why:
            return why
        if tuple(p.stride) != (1, 1):
            return f"stride {list(p.stride)} (the kernel runs stride 1)"
        if any(p.padding):
            return "padded (the kernel folds the input offset into the bias, every tap inside)"
        return records_decline(node, p, plane_bytes(run_geometry(node, p)))

    def extra_flash_bytes(self, node):
        # 2 B per tap (+2 for an odd count) against 1 B, a 16 B record against 12 B
        w = node.inputs[1]
        taps = w.shape[1] * w.shape[2]
        return (2 * (taps + taps % 2) - taps + 4) * w.shape[0]

    def args(self, lw, i, node, p):
        w = node.inputs[1]
        weights = lw.flash(f"tfc_{lw.name}_l{i}_weights_kx1", "int16_t", kx1_weights(w.data),
                           f"{w.ref} : {w.type}, doubled, as int16 tap pairs per channel")
        bias = node.inputs[2].data if len(node.inputs) > 2 else None
        channels = lw.flash(f"tfc_{lw.name}_l{i}_channels", "int32_t", dw3_channels(w.data, bias, p),
                            f"layer {i}: tfc_conv_wide_channel per channel, input offset folded into the doubled bias")
        g = run_geometry(node, p)
        return DepthwiseKx1Args(p, g, weights, channels, (plane_bytes(g) + 3) // 4)
