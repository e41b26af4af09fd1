"""tfc_convolve_wide_s8: an ungrouped, undilated batch-1 int8 conv2d (arm_convolve_s8's
integers) whose weights are stored widened to int16 (and doubled, as the biases are, so the
accumulator is the 2 acc of the folded SMMLAR requantization, whose rounding holds the output
offset), in channel pairs: two output pixels' windows are put in an int16 column once, then every
pair of output channels costs 12 instructions per 16 MACs and ~45 around them (biases,
requantization, stores). Where the input channels come in fours (and the window is not 1x1) each
input row is widened once into a ring of k_h int16 rows on the stack (ring_bytes) and each pixel
pair's column copied from it, instead of widening every window from the input. Pays twice the
weight flash (the lowering hands a layer back to the int8 kernels where the target's flash would
not hold it); runs a layer only where the widened weights stay under MAX_WIDE_BYTES and every
channel takes the folded right-shift requantization.

It takes the first layers with few input channels (the window is one short vector, widened once
per pixel instead of per channel), the 3x3 body convolutions and 1x1 convolutions alike, except
1x1 stride-1 layers on fewer than SMALLEST_1X1_DEPTH channels (measured slower than
arm_convolve_1x1_s8_fast). tfc_convolve_add_wide_s8 (conv_add_wide) runs conv2d_add on it.
Both run on bands of rows (fused tiles, tfc.kernels.tiles) with the layer's whole geometry: a
band's call gets its output rows and the input row its input pointer is at.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from tfc.errors import TfcError
from tfc.kernels import records as R
from tfc.kernels.base import register_kernel
from tfc.kernels.conv import ConvAdd, _Conv, _ConvBands
from tfc.kernels.elementwise import Add
from tfc.kernels.fc_wide import MAX_STACK_BYTES, MAX_WIDE_BYTES
from tfc.quant import kernel_params as kp
from tfc.quant import node_params as npar
from tfc.sparse.reference import RQ_RIGHT, requant_kind
from tfc.kernels import cost as C

SLOT = [0, 2, 1, 3]   # where window value 4b + j sits in block b (SXTAB16's order)
# Below this depth a pixel pair's ~55 instructions around each channel pair's dot products cost more
# than arm_convolve_1x1_s8_fast (VWW's 1x1 on 8 channels: 3.38 against 3.16 instructions/MAC).
SMALLEST_1X1_DEPTH = 16
# The window buffers and the ring of widened input rows together stay under this much stack (the
# ring is dropped, and each pixel pair's windows widened from the input, where they would not).
MAX_ROWS_STACK_BYTES = 6656     # ResNet-8's 64-channel 3x3 layers: 6,224 B
MAX_RING_ROWS = 8       # TFC_CONV_WIDE_MAX_ROWS


def padded_depth(kh: int, kw: int, cin: int) -> int:
    return -(-(kh * kw * cin) // 4) * 4


def wide_conv_weights(w: np.ndarray) -> np.ndarray:
    """[C_OUT, KH, KW, C_IN] int8 -> the kernel's int16 order: channel pairs (a zero channel pads an
    odd C_OUT), blocks of 4 window values (zeros pad the last), the pair's two channels, each
    block's values in SLOT order."""
    cout = w.shape[0]
    k = int(np.prod(w.shape[1:]))
    kp_, cp = -(-k // 4) * 4, cout + cout % 2
    padded = np.zeros((cp, kp_), np.int16)
    padded[:cout, :k] = w.reshape(cout, k)
    blocks = padded.reshape(cp // 2, 2, kp_ // 4, 4)[..., SLOT]
    return blocks.transpose(0, 2, 1, 3).reshape(-1)


def wide_conv_bytes(w_shape) -> int:
    cout, kh, kw, cin = w_shape
    return 2 * (cout + cout % 2) * padded_depth(kh, kw, cin)


@dataclass(frozen=True)
class Geometry:
    """tfc_conv_wide_geometry, field for field."""

    in_h: int
    in_w: int
    in_c: int
    k_h: int
    k_w: int
    out_h: int
    out_w: int
    out_c: int
    stride_y: int
    stride_x: int
    pad_top: int
    pad_left: int
    input_offset: int
    output_offset: int
    act_min: int
    act_max: int

    def c_fields(self) -> str:
        return ", ".join(str(getattr(self, f)) for f in self.__dataclass_fields__)


def channel_records(w: np.ndarray, bias, p: kp.ConvParams, folded: bool = False) -> np.ndarray | str:
    """tfc_conv_wide_channel per output channel (bias, multiplier, folded rounding, right shift),
    or why a channel cannot take the folded right-shift requantization
    (tfc.sparse.reference.requant_kind, from the channel's accumulator bound). folded (the wide
    conv's records): the bias doubled (the kernel's weights are, so its accumulator is 2 acc) and
    the output offset folded into the rounding (2^(shift - 1) + offset * 2^shift)."""
    x_max = max(abs(-128 + p.input_offset), abs(127 + p.input_offset))
    rows = []
    for c in range(w.shape[0]):
        b = int(bias[c]) if bias is not None else 0
        bound = abs(b) + x_max * int(np.abs(w[c].astype(np.int64)).sum())
        kind, r, rounding = requant_kind(bound, p.multipliers[c], p.shifts[c], p.output_offset if folded else 0)
        if kind != RQ_RIGHT:
            return (f"output channel {c}: requantization (multiplier {p.multipliers[c]}, shift {p.shifts[c]}) "
                    "does not take the folded right-shift form")
        rows.append([2 * b if folded else b, p.multipliers[c], rounding, r])
    return np.asarray(rows, dtype=np.int64).astype(np.int32).reshape(-1)


@dataclass(frozen=True)
class WideConvArgs:
    params: kp.ConvParams
    geometry: Geometry
    weights: R.ConstArray        # int16, wide_conv_weights order
    channels: R.ConstArray       # int32, channel_records
    window_words: int            # uint64_t words of the window buffers (on the stack)
    rows_words: int              # uint64_t words of the ring of widened input rows (0: none)
    out_rows: tuple[int, int]    # the output rows the call computes: all, or a band's (fused tiles)
    input_row: int = 0           # the input row the input pointer is at (a band's first)

    @property
    def flash_arrays(self) -> tuple[R.ConstArray, ...]:
        return (self.weights, self.channels)


def geometry(node, p: kp.ConvParams) -> Geometry:
    x, w, y = node.inputs[0], node.inputs[1], node.output
    cout, kh, kw, cin = w.shape
    return Geometry(x.shape[1], x.shape[2], cin, kh, kw, y.shape[1], y.shape[2], cout, *p.stride, *p.padding,
                    p.input_offset, p.output_offset, p.activation.min, p.activation.max)


def wide_conv_decline(node, p: kp.ConvParams | None = None) -> str | None:
    """Why tfc_convolve_wide_s8 does not run this conv2d (or the conv of a conv2d_add, whose
    parameters are p) (None: it does)."""
    x, w = node.inputs[0], node.inputs[1]
    a = node.attrs
    if a["group"] != 1:
        return "grouped"
    if a["dilation"] != [1, 1]:
        return "dilated"
    if x.shape[0] != 1:
        return "batch > 1"
    if w.data is None:
        return "the weights are not a constant"
    if w.sparse is not None:
        return "the weights are sparse"
    wide = wide_conv_bytes(w.shape)
    if wide > MAX_WIDE_BYTES:
        return f"its widened weights ({wide:,} B) exceed {MAX_WIDE_BYTES:,} B of flash"
    if window_bytes(node) > MAX_STACK_BYTES:
        return f"its window buffers ({window_bytes(node):,} B) exceed {MAX_STACK_BYTES:,} B of stack"
    if w.shape[0] % 2:
        return "an odd number of output channels (the kernel runs channel pairs)"
    if tuple(w.shape[1:3]) == (1, 1) and w.shape[3] < SMALLEST_1X1_DEPTH and npar.is_pointwise_fast(node):
        return (f"a 1x1 conv on {w.shape[3]} input channels: arm_convolve_1x1_s8_fast is faster below "
                f"{SMALLEST_1X1_DEPTH}")
    bias = node.inputs[2].data if len(node.inputs) > 2 else None
    try:
        p = p if p is not None else npar.conv_params(node)
    except TfcError as e:      # the plain kernels say it when they run the node
        return f"no int8 parameters: {e}"
    records = channel_records(w.data, bias, p, folded=True)
    return records if isinstance(records, str) else None


def extra_bytes(w) -> int:
    """Flash beyond the int8 weights: the widened weights, and 16 B of record per channel against
    its 4 B of bias and 8 B of model.c multiplier and shift."""
    return wide_conv_bytes(w.shape) - w.type.nbytes + 4 * w.shape[0]


def wide_arrays(lw, i: int, node, p: kp.ConvParams) -> tuple[R.ConstArray, R.ConstArray]:
    """The layer's widened weights and channel records, in weights.c."""
    w = node.inputs[1]
    weights = lw.flash(f"tfc_{lw.name}_l{i}_weights_wide", "int16_t", 2 * wide_conv_weights(w.data),
                       f"{w.ref} : {w.type}, doubled, widened to int16 in channel pairs x blocks of 4")
    bias = node.inputs[2].data if len(node.inputs) > 2 else None
    channels = lw.flash(f"tfc_{lw.name}_l{i}_channels", "int32_t", channel_records(w.data, bias, p, folded=True),
                        f"layer {i}: tfc_conv_wide_channel per output channel (bias doubled, offset folded)")
    return weights, channels


def window_bytes(node) -> int:
    """The window buffers, on the run function's stack: tfc_convolve_wide_s8_get_buffer_size, or
    with a ring of rows tfc_convolve_wide_s8_get_rows_buffer_size (no int8 column)."""
    cout, kh, kw, cin = node.inputs[1].shape
    return (4 if ring_bytes(node) else 5) * padded_depth(kh, kw, cin) + cout + 8


def ring_bytes(node) -> int:
    """tfc_convolve_wide_s8_get_rows_size where the kernel widens each input row once into a ring
    of k_h int16 rows and copies each pixel pair's column from it (in_c a multiple of 4, so a
    window row is whole blocks; not 1x1, whose window is one pixel widened once anyway); 0 where
    it widens every pixel pair's windows from the input."""
    cout, kh, kw, cin = node.inputs[1].shape
    out_w, stride_x = node.output.shape[2], node.attrs["stride"][1]
    if cin % 4 or (kh, kw) == (1, 1) or kh > MAX_RING_ROWS:
        return 0
    width = (out_w - 1 + out_w % 2) * stride_x + kw     # tfc_convolve_wide_s8_rows_width
    ring = kh * width * cin * 2 + 8
    return ring if 4 * padded_depth(kh, kw, cin) + cout + 8 + ring <= MAX_ROWS_STACK_BYTES else 0


def wide_band_args(args, in_rows, out_rows, **more):
    """The wide kernels on a band (fused tiles): the layer's geometry stays whole (padding is
    decided against the whole input); the call gets the band's output rows and the row its input
    pointer is at."""
    return dataclasses.replace(args, out_rows=tuple(out_rows), input_row=in_rows[0][0], **more)


@register_kernel
class ConvWide(_ConvBands, _Conv):
    """The fast dense conv2d where its flash fits (see the module docstring)."""
    requantization_in_records = True

    name = "conv_wide"
    function = "tfc_convolve_wide_s8"
    sources = ("tfc_convolve_wide_s8.c",)
    # fitted (non-negative, no per-layer constant) on the 19 layers of ResNet-8, KWS, VWW-96 and the
    # wake-word model: -20..+13 %, str_ww's 4,096-MAC 1x1 -51 %
    costs = {"tfc_convolve_wide_s8": C.Cost(C.CONV, (0.8965, 4.8314, 328.3788, 0.0, 0.0, 0.0, 0.0))}
    priority = 6            # above conv_1x1 (4) and conv (0), below the sparse kernels
    template_source = """\
{#- tfc_convolve_wide_s8: Layer with WideConvArgs. -#}
{% import "_macros.j2" as m %}
{% macro data(layer) %}
static const tfc_conv_wide_geometry l{{ layer.index }}_geometry = { {{ layer.args.geometry.c_fields() }} };
{% endmacro %}
{% macro call(layer) %}
{% set a = layer.args %}
{{ m.comment(layer) }}
    {
        uint64_t window[{{ a.window_words }}]; /* two pixels' widened windows */
{% if a.rows_words %}
        uint64_t rows[{{ a.rows_words }}]; /* the ring of widened input rows */
{% endif %}
        tfc_convolve_wide_s8(&l{{ layer.index }}_geometry, {{ m.at(layer.inputs[0]) }}, {{ a.weights.symbol }},
            (const tfc_conv_wide_channel *)(const void *){{ a.channels.symbol }}, {{ m.at(layer.output) }},
            window, {{ "rows" if a.rows_words else "NULL" }}, {{ a.out_rows[0] }}, {{ a.out_rows[1] }}, {{ a.input_row }});
    }
{% endmacro %}
"""

    def decline(self, node):
        return wide_conv_decline(node)

    def extra_flash_bytes(self, node):
        return extra_bytes(node.inputs[1])

    def args(self, lw, i, node, p):
        return WideConvArgs(p, geometry(node, p), *wide_arrays(lw, i, node, p), (window_bytes(node) + 7) // 8,
                            (ring_bytes(node) + 7) // 8, (0, node.output.shape[1]))

    def band_args(self, args, node, p, in_rows, out_rows):
        return wide_band_args(args, in_rows, out_rows)


@dataclass(frozen=True)
class WideConvAddArgs:
    params: object               # tfc.quant.node_params.ConvAddParams
    geometry: Geometry
    weights: R.ConstArray
    channels: R.ConstArray
    window_words: int
    rows_words: int
    size: int                    # bytes of the output (the skip tensor's copy, when one is made)
    out_rows: tuple[int, int]
    input_row: int = 0

    @property
    def flash_arrays(self) -> tuple[R.ConstArray, ...]:
        return (self.weights, self.channels)


@register_kernel
class ConvAddWide(ConvAdd):
    """tfc_convolve_add_wide_s8: conv_add (a conv whose output is added to a residual, into the
    residual's bytes) with the conv on tfc_convolve_wide_s8."""

    name = "conv_add_wide"
    function = "tfc_convolve_add_wide_s8"
    sources = ("tfc_convolve_add_wide_s8.c", *ConvWide.sources, *Add.sources)
    # fitted (non-negative, no per-layer constant) on ResNet-8's three layers (all there are)
    costs = {"tfc_convolve_add_wide_s8": C.Cost(C.CONV, (0.8135, 0.0, 62.9089, 3.7656, 0.0, 0.0, 0.0))}
    priority = 6
    template = ""
    template_source = """\
{#- tfc_convolve_add_wide_s8: Layer with WideConvAddArgs; inputs (x, residual), output over the residual. -#}
{% import "_macros.j2" as m %}
{% macro data(layer) %}
static const tfc_conv_wide_geometry l{{ layer.index }}_geometry = { {{ layer.args.geometry.c_fields() }} };
{% endmacro %}
{% macro call(layer) %}
{% set a = layer.args %}
{% set q = a.params.add %}
{{ m.comment(layer) }}
    {
        static const tfc_add_params add_params = {
            {{ q.input_1_offset }}, {{ q.input_1_mult }}, {{ q.input_1_shift }},
            {{ q.input_2_offset }}, {{ q.input_2_mult }}, {{ q.input_2_shift }}, {{ q.left_shift }},
            {{ q.out_offset }}, {{ q.out_mult }}, {{ q.out_shift }},
            {{ q.activation.min }}, {{ q.activation.max }}, {{ 1 if a.params.residual_first else 0 }} };
{% if layer.inputs[1].offset != layer.output.offset %}
        /* the skip tensor is still read later: add into a copy of it */
        memmove({{ m.at(layer.output) }}, {{ m.at(layer.inputs[1]) }}, {{ a.size }});
{% endif %}
        uint64_t window[{{ a.window_words }}]; /* two pixels' widened windows */
{% if a.rows_words %}
        uint64_t rows[{{ a.rows_words }}]; /* the ring of widened input rows */
{% endif %}
        tfc_convolve_add_wide_s8(&l{{ layer.index }}_geometry, {{ m.at(layer.inputs[0]) }}, {{ a.weights.symbol }},
            (const tfc_conv_wide_channel *)(const void *){{ a.channels.symbol }}, &add_params,
            {{ m.at(layer.output) }}, arena + {{ layer.scratch.offset }}, window, {{ "rows" if a.rows_words else "NULL" }},
            {{ a.out_rows[0] }}, {{ a.out_rows[1] }}, {{ a.input_row }});
    }
{% endmacro %}
"""

    def decline(self, node):
        return wide_conv_decline(node, self.params(node).conv)

    def extra_flash_bytes(self, node):
        return extra_bytes(node.inputs[1])

    def scratch_bytes(self, node, p, build, lean=False):
        return node.output.shape[2] * node.output.shape[3]      # one output row of the conv

    def args(self, lw, i, node, p):
        return WideConvAddArgs(p, geometry(node, p.conv), *wide_arrays(lw, i, node, p.conv),
                               (window_bytes(node) + 7) // 8, (ring_bytes(node) + 7) // 8, node.output.type.size,
                               (0, node.output.shape[1]))

    def band_args(self, args, node, p, in_rows, out_rows):
        return wide_band_args(args, in_rows, out_rows,
                              size=(out_rows[1] - out_rows[0]) * node.output.shape[2] * node.output.shape[3])
