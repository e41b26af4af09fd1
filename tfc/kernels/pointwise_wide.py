"""tfc_pointwise_wide_s8: a 1x1 unpadded conv2d (any stride, batch 1, one group, input and output
channels in fours) with arm_convolve_s8's integers, on weights stored widened to int16 and doubled.

A 1x1 window is the pixel's own channels, contiguous: no im2col. Two output pixels are widened
once into one int16 column and every quad of output channels reads it, 2 pixels x 4 channels in
registers (11 instructions per 16 MACs); the input offset is folded into each bias and the output
offset into each rounding (tfc.kernels.depthwise_wide.dw3_channels: the folded right-shift
requantization of the doubled accumulator), and a pixel's four outputs are clamped in halfword
pairs and stored with one STR. Ahead of tfc_convolve_wide_s8 (conv_wide), which runs the same
layers through its im2col window, and of arm_convolve_1x1_s8_fast, for 1x1 layers on 4 to 15
input channels that conv_wide declines. Runs on bands of rows (fused tiles) like conv_wide.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from tfc.errors import TfcError
from tfc.kernels import cost as C
from tfc.kernels import records as R
from tfc.kernels.base import register_kernel
from tfc.kernels.conv import _Conv, _ConvBands
from tfc.kernels.conv_wide import wide_band_args
from tfc.kernels.depthwise_wide import dw3_channels
from tfc.kernels.fc_wide import MAX_STACK_BYTES, MAX_WIDE_BYTES
from tfc.quant import kernel_params as kp
from tfc.quant import fixed_point as fp
from tfc.quant import node_params as npar

QUAD = 4    # output channels per register block; input channels per column block


@dataclass(frozen=True)
class PointwiseGeometry:
    """tfc_pw_geometry, field for field."""

    in_h: int
    in_w: int
    in_c: int
    out_h: int
    out_w: int
    out_c: int
    stride_y: int
    stride_x: int
    act_min: int
    act_max: int

    def c_fields(self) -> str:
        return ", ".join(str(getattr(self, f)) for f in self.__dataclass_fields__)


def pointwise_weights(w: np.ndarray) -> np.ndarray:
    """[C_OUT, 1, 1, C_IN] int8 -> the kernel's int16 order, doubled: per quad of output channels,
    per block of 4 input channels, per word j (input channels 4b + j and 4b + j + 2: SXTB16's
    pairing), the quad's 4 channels' pairs."""
    cout, cin = w.shape[0], w.shape[3]
    v = w.reshape(cout // QUAD, QUAD, cin // 4, 2, 2).astype(np.int16) * 2   # [q, k, b, h, j]: channel 4b + 2h + j
    return v.transpose(0, 2, 4, 1, 3).reshape(-1)                          # [q, b, j, k, h]


def pointwise_records(w: np.ndarray, bias, p: kp.ConvParams) -> np.ndarray | str:
    """Per quad of output channels: the 4 biases (input offset folded in, doubled), then multiplier,
    rounding (output offset folded in) and shift per channel; or why a channel cannot take that form.
    A channel whose weights are all zero outputs one constant (its requantized bias, clamped):
    bias 0, multiplier 0, the constant as rounding, shift 0 (a pruned channel's bias may be too
    large for the folded form: VWW's)."""
    dead = ~w.reshape(w.shape[0], -1).any(axis=1)
    bias = np.zeros(w.shape[0], np.int64) if bias is None else np.asarray(bias, np.int64)
    # the dead channels' records are replaced below: any multiplier and shift pass for them
    live = dataclasses.replace(p, multipliers=tuple(1 << 30 if d else m for d, m in zip(dead, p.multipliers)),
                               shifts=tuple(-1 if d else s for d, s in zip(dead, p.shifts)))
    rows = dw3_channels(w, np.where(dead, 0, bias), live)
    if isinstance(rows, str):
        return rows
    rows = rows.reshape(-1, 4).copy()
    act = p.activation
    constant = np.clip(fp.requantize(bias, np.asarray(p.multipliers), np.asarray(p.shifts)) + p.output_offset,
                       act.min, act.max)
    rows[dead] = np.stack([np.zeros_like(constant), np.zeros_like(constant), constant, np.zeros_like(constant)],
                          axis=1)[dead]
    quads = rows.reshape(-1, QUAD, 4)
    return np.concatenate([quads[:, :, 0], quads[:, :, 1:].reshape(-1, 3 * QUAD)], axis=1).reshape(-1)


def geometry(node, p: kp.ConvParams) -> PointwiseGeometry:
    x, y = node.inputs[0], node.output
    return PointwiseGeometry(x.shape[1], x.shape[2], x.shape[3], y.shape[1], y.shape[2], y.shape[3], *p.stride,
                             p.activation.min, p.activation.max)


def scratch_bytes(node) -> int:
    """tfc_pointwise_wide_s8_get_buffer_size: the pair's column and a spare pixel's outputs (stack)."""
    return 4 * node.inputs[0].shape[3] + node.output.shape[3]


@dataclass(frozen=True)
class PointwiseArgs:
    params: kp.ConvParams
    geometry: PointwiseGeometry
    weights: R.ConstArray        # int16, pointwise_weights
    records: R.ConstArray        # int32, pointwise_records
    scratch_words: int           # uint64_t words of the column (on the stack)
    out_rows: tuple[int, int]    # the output rows the call computes: all, or a band's (fused tiles)
    input_row: int = 0           # the input row the input pointer is at (a band's first)

    @property
    def flash_arrays(self) -> tuple[R.ConstArray, ...]:
        return (self.weights, self.records)


@register_kernel
class PointwiseWide(_ConvBands, _Conv):
    """The 1x1 conv2d (see the module docstring)."""

    requantization_in_records = True
    name = "pointwise_wide"
    function = "tfc_pointwise_wide_s8"
    sources = ("tfc_pointwise_wide_s8.c",)
    # fitted on the MLPerf models' 15 1x1 layers (KWS, wake word, VWW, ResNet-8): -3.8..+2.0 %; none
    # runs the narrower activation range (its clamp: 2 SSUB16/SEL pairs more per pixel and quad)
    costs = {"tfc_pointwise_wide_s8": C.Cost(C.CONV, (0.7268, 5.9261, 45.3626, 1.5486, 0.0, 0.0, 3440.3374))}
    priority = 8            # above conv_first (7: a 1x1 first layer runs here) and conv_wide (6), below the sparse kernels
    template_source = """\
{#- tfc_pointwise_wide_s8: Layer with PointwiseArgs. -#}
{% import "_macros.j2" as m %}
{% macro data(layer) %}
static const tfc_pw_geometry l{{ layer.index }}_geometry = { {{ layer.args.geometry.c_fields() }} };
{% endmacro %}
{% macro call(layer) %}
{% set a = layer.args %}
{{ m.comment(layer) }}
    {
        uint64_t column[{{ a.scratch_words }}]; /* two pixels' widened channels, a spare pixel */
        tfc_pointwise_wide_s8(&l{{ layer.index }}_geometry, {{ m.at(layer.inputs[0]) }}, {{ a.weights.symbol }},
            {{ a.records.symbol }}, {{ m.at(layer.output) }}, column, {{ a.out_rows[0] }}, {{ a.out_rows[1] }},
            {{ a.input_row }});
    }
{% endmacro %}
"""

    def decline(self, node):
        x, w = node.inputs[0], node.inputs[1]
        a = node.attrs
        if tuple(w.shape[1:3]) != (1, 1):
            return f"a {w.shape[1]}x{w.shape[2]} window (the kernel runs 1x1)"
        if a["group"] != 1:
            return "grouped"
        if any(a["pad"]):
            return "padded"
        if x.shape[0] != 1:
            return "batch > 1"
        if w.data is None or w.sparse is not None:
            return "the weights are not a dense constant"
        cout, cin = w.shape[0], w.shape[3]
        if cin % 4 or cout % QUAD:
            return f"{cin} input / {cout} output channels (the kernel runs both in fours)"
        if 2 * w.type.size > MAX_WIDE_BYTES:
            return f"its widened weights ({2 * w.type.size:,} B) exceed {MAX_WIDE_BYTES:,} B of flash"
        if scratch_bytes(node) > MAX_STACK_BYTES:
            return f"its column ({scratch_bytes(node):,} B) exceeds {MAX_STACK_BYTES:,} B of stack"
        try:
            p = npar.conv_params(node)
        except TfcError as e:      # the plain kernels say it when they run the node
            return f"no int8 parameters: {e}"
        bias = node.inputs[2].data if len(node.inputs) > 2 else None
        records = pointwise_records(w.data, bias, p)
        return records if isinstance(records, str) else None

    def extra_flash_bytes(self, node):
        # 2 B per weight against 1 B; a 16 B record per channel against 4 B of bias and 8 B of
        # model.c multiplier and shift
        w = node.inputs[1]
        return w.type.size + 4 * w.shape[0]

    def args(self, lw, i, node, p):
        w = node.inputs[1]
        weights = lw.flash(f"tfc_{lw.name}_l{i}_weights_pw", "int16_t", pointwise_weights(w.data),
                           f"{w.ref} : {w.type}, doubled, as int16 pairs by quads of output channels")
        bias = node.inputs[2].data if len(node.inputs) > 2 else None
        records = lw.flash(f"tfc_{lw.name}_l{i}_records", "int32_t", pointwise_records(w.data, bias, p),
                           f"layer {i}: per quad of output channels, 4 biases then multiplier, rounding, shift")
        return PointwiseArgs(p, geometry(node, p), weights, records, (scratch_bytes(node) + 7) // 8,
                             (0, node.output.shape[1]))

    def band_args(self, args, node, p, in_rows, out_rows):
        return wide_band_args(args, in_rows, out_rows)
