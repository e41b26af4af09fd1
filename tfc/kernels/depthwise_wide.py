"""tfc_depthwise_3x3_wide_s8: a 3x3 depthwise conv2d (one output channel per input channel,
stride 1 or 2 both ways, no dilation, batch 1, channels a multiple of 4) with
arm_depthwise_conv_s8's integers, two taps of a channel per SMLAD.

Four channels at a time the kernel copies the input into four int16 planes, a ring of 3 rows each,
each input row widened once as the runs reach it (the padding holds the input zero point, which
is why the input offset can be folded into the bias: bias + sum x * w over the padded window
equals sum (x + offset) * w over the taps inside). A word of a plane row
is two horizontal taps; each output and window row costs one SMLAD against (w0, w1) and one
SMLAxy against w2, four outputs of a run per loop step (runs go down the columns where the output
is taller than wide). Weights: 6 int16 pairs per channel, doubled so that the accumulator is the
2 acc of the folded SMMLAR requantization (24 B against 9 B of int8); the ring of plane rows
(tfc_depthwise_3x3_wide_s8_get_buffer_size: 3 x 4 x 2 B per plane column, VWW's widest 1,204 B)
sits on the run function's stack, so the arena does not change. Every channel must take the folded
right-shift requantization (tfc.kernels.conv_wide.channel_records).

DepthwisePlane (tfc_depthwise_3x3_plane_s8) runs the layers whose runs are shorter than MIN_RUN
(VWW's 6x6 and 3x3 maps) on the same assembly, weights and records: four channels' whole padded
planes at once, their outputs one run over the planes' columns.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from tfc.kernels import cost as C
from tfc.kernels import records as R
from tfc.kernels.base import register_kernel
from tfc.kernels.conv import DepthwiseConv
from tfc.kernels.conv_wide import Geometry, channel_records
from tfc.kernels.fc_wide import MAX_STACK_BYTES
from tfc.quant import node_params as npar
from tfc.errors import TfcError
from tfc.sparse.reference import RQ_RIGHT, requant_kind

STRIDES = (1, 2)
CHANNEL_GROUP = 4                 # the planes built at once
BLOCK = 4                         # outputs of a run per loop step
RING = 3                          # plane rows the kernel keeps per channel group (one window's)
# Runs shorter than this pay more in per-row overhead (plane rows, the channels' loop, the last
# outputs alone) than the SMLAD pairs save: measured on VWW-96, 12-wide runs 2.80 against
# arm_depthwise_conv_s8_opt's 3.27 instructions/MAC, 6-wide 5.01 against 4.04, 3-wide 8.39
# against 6.30.
MIN_RUN = 12


def dw3_weights(w: np.ndarray, transposed: bool = False) -> np.ndarray:
    """IR [C, 3, 3, 1] int8 -> int16 [C, 12], doubled: window row k as (wk0, wk1), (wk2, 0) (the
    window transposed where the kernel runs down the columns)."""
    k = w[..., 0].astype(np.int16) * 2
    if transposed:
        k = k.transpose(0, 2, 1)
    out = np.zeros((w.shape[0], 3, 4), np.int16)
    out[:, :, :3] = k
    return out.reshape(-1)


def dw3_channels(w: np.ndarray, bias, p) -> np.ndarray | str:
    """channel_records, each bias plus input_offset * sum(w) and doubled, each rounding with the output
    offset folded in (2^(shift - 1) + offset * 2^shift: the shift then yields the offset value):
    the padding holds the zero point and the weights are doubled, so the kernel's accumulator is
    2x tflite-micro's (RQ_RIGHT's bound check, on the true bias, keeps 2 acc in int32). Declined
    where a requantized value could leave int16 (the kernel clamps pairs of them)."""
    records = channel_records(w, bias, p)
    if isinstance(records, str):
        return records
    rows = records.reshape(-1, 4).astype(np.int64)
    folded = rows[:, 0] + p.input_offset * w.reshape(w.shape[0], -1).astype(np.int64).sum(axis=1)
    if np.abs(2 * folded).max(initial=0) >= 2 ** 31:
        return "a bias with the input offset folded in, doubled, leaves int32"
    x_max = max(abs(-128 + p.input_offset), abs(127 + p.input_offset))
    for c in range(w.shape[0]):
        bound = abs(int(rows[c, 0])) + x_max * int(np.abs(w[c].astype(np.int64)).sum())
        kind, _, rounding = requant_kind(bound, p.multipliers[c], p.shifts[c], p.output_offset)
        if kind != RQ_RIGHT:
            return f"channel {c}: the output offset does not fold into the rounding"
        if (bound * int(rows[c, 1]) >> (31 + int(rows[c, 3]))) + 2 + 256 >= 2 ** 15:
            return f"channel {c}: a requantized value could leave int16 (the kernel clamps them in pairs)"
        rows[c, 2] = rounding
    rows[:, 0] = 2 * folded
    return rows.astype(np.int32).reshape(-1)


def planes_decline(kernel, node) -> tuple[str | None, object]:
    """What every kernel on four channels' int16 planes asks of a depthwise node (one output channel
    per input channel, no dilation, batch 1, dense weights, channels in fours, int8 parameters):
    why not, or None and the parameters."""
    x, w = node.inputs[0], node.inputs[1]
    if w.shape[0] != x.shape[3]:
        return "a channel multiplier above 1", None
    if node.attrs["dilation"] != [1, 1]:
        return "dilated", None
    if x.shape[0] != 1:
        return "batch > 1", None
    if w.data is None or w.sparse is not None:
        return "the weights are not a dense constant", None
    if x.shape[3] % CHANNEL_GROUP:
        return f"{x.shape[3]} channels, not a multiple of {CHANNEL_GROUP}", None
    try:
        return None, kernel.params(node)
    except TfcError as e:           # the plain kernels say it when they run the node
        return f"no int8 parameters: {e}", None


def records_decline(node, p, planes: int) -> str | None:
    """Why the planes (bytes, on the stack) or the channels' folded requantization do not fit."""
    if planes > MAX_STACK_BYTES:
        return f"its input planes ({planes:,} B) exceed {MAX_STACK_BYTES:,} B of stack"
    bias = node.inputs[2].data if len(node.inputs) > 2 else None
    records = dw3_channels(node.inputs[1].data, bias, p)
    return records if isinstance(records, str) else None


def transposed(node) -> bool:
    """Run down the columns where the output is taller than wide (KWS's 25 x 5): longer runs
    waste less of the last block of 4."""
    y = node.output
    return y.shape[1] > y.shape[2]


def geometry(node, p) -> Geometry:
    x, y = node.inputs[0], node.output
    c = x.shape[3]
    if transposed(node):
        return Geometry(x.shape[2], x.shape[1], c, 3, 3, y.shape[2], y.shape[1], c, p.stride[1], p.stride[0],
                        p.padding[1], p.padding[0], p.input_offset, p.output_offset, p.activation.min,
                        p.activation.max)
    return Geometry(x.shape[1], x.shape[2], c, 3, 3, y.shape[1], y.shape[2], c, *p.stride, *p.padding,
                    p.input_offset, p.output_offset, p.activation.min, p.activation.max)


def steps(node) -> tuple[int, int, int, int]:
    """tfc_dw3_geometry's byte steps: input pixels along a run, input runs, the same for the output."""
    x, y = node.inputs[0], node.output
    c = x.shape[3]
    if transposed(node):
        return (x.shape[2] * c, c, y.shape[2] * c, c)
    return (c, x.shape[2] * c, c, y.shape[2] * c)


def plane_bytes(g: Geometry) -> int:
    """tfc_depthwise_3x3_wide_s8_get_buffer_size, in Python."""
    blocks = -(-g.out_w // BLOCK)
    pw = max(g.stride_x * BLOCK * blocks + 2, g.pad_left + g.in_w)
    pw += pw % 2
    return RING * CHANNEL_GROUP * pw * 2 + 4


@dataclass(frozen=True)
class DepthwiseWideArgs:
    params: object                  # kp.DepthwiseConvParams
    geometry: Geometry
    steps: tuple[int, int, int, int]
    weights: R.ConstArray           # int16, dw3_weights
    channels: R.ConstArray          # int32, dw3_channels
    stack_words: int                # the ring of plane rows, on the stack

    @property
    def flash_arrays(self) -> tuple[R.ConstArray, ...]:
        return (self.weights, self.channels)


class PlaneDepthwise(DepthwiseConv):
    """What the depthwise kernels on int16 input planes share: one C function, planes on the
    stack (no arena scratch, no lean variant), requantization in the channel records."""
    requantization_in_records = True
    priority = 6                    # above depthwise_conv (5), below the sparse kernels
    has_lean_variant = False

    def c_function(self, node, p, lean=False):
        return self.function

    def scratch_bytes(self, node, p, build, lean=False):
        return 0                    # the planes are on the stack

    def lean_saves(self, node, p) -> bool:
        return False


@register_kernel
class DepthwiseWide(PlaneDepthwise):
    """The fast 3x3 depthwise conv2d (see the module docstring); arm_depthwise_conv_s8[_opt] runs
    the others."""
    name = "depthwise_wide"
    function = "tfc_depthwise_3x3_wide_s8"
    sources = ("tfc_depthwise_3x3_wide_s8.c",)
    # fitted (non-negative, no per-layer constant) on KWS's four and VWW's five layers: -15..+8 %
    costs = {"tfc_depthwise_3x3_wide_s8": C.Cost(C.DEPTHWISE, (2.5485, 0.0, 0.0, 0.0, 91.9272, 0.0, 0.0, 0.0))}
    template_source = """\
{#- tfc_depthwise_3x3_wide_s8 or _plane_s8: Layer with DepthwiseWideArgs. -#}
{% import "_macros.j2" as m %}
{% macro data(layer) %}
{% endmacro %}
{% macro call(layer) %}
{% set a = layer.args %}
{{ m.comment(layer) }}
    {
        /* in run order (rows and columns swapped where runs go down the columns); a band's own */
        static const tfc_dw3_geometry geometry = { { {{ a.geometry.c_fields() }} }, {{ a.steps | join(', ') }} };
        uint32_t planes[{{ a.stack_words }}]; /* the input planes (and the plane kernel's outputs) */
        {{ layer.function }}(&geometry, {{ m.at(layer.inputs[0]) }}, {{ a.weights.symbol }},
            (const tfc_conv_wide_channel *)(const void *){{ a.channels.symbol }}, {{ m.at(layer.output) }}, planes);
    }
{% endmacro %}
"""

    def decline(self, node):
        why, p = self.window_decline(node)
        if why:
            return why
        g = geometry(node, p)
        if g.out_w < MIN_RUN:
            return f"runs of {g.out_w} outputs (below {MIN_RUN} the generic kernels are faster)"
        return records_decline(node, p, plane_bytes(g))

    def window_decline(self, node) -> tuple[str | None, object]:
        """What the 3x3 plane kernels ask of a depthwise node: why not, or None and the parameters."""
        why = PlaneDepthwise.decline(self, node)
        if why:
            return why, None
        w = node.inputs[1]
        if tuple(w.shape[1:3]) != (3, 3):
            return f"a {w.shape[1]}x{w.shape[2]} window (the kernel is 3x3)", None
        why, p = planes_decline(self, node)
        if why:
            return why, None
        if p.stride[0] != p.stride[1] or p.stride[0] not in STRIDES:
            return f"stride {list(p.stride)} (the kernel runs 1 or 2 both ways)", None
        return None, p

    def band_args(self, args, node, p, in_rows, out_rows):
        """A band of output rows: the band's input rows and heights, the padding left above it (the
        run direction where runs go down the columns)."""
        (lo, hi), g = in_rows[0], args.geometry
        top = p.padding[0] + lo - out_rows[0] * p.stride[0]
        if transposed(node):
            g = dataclasses.replace(g, in_w=hi - lo, out_w=out_rows[1] - out_rows[0], pad_left=top)
        else:
            g = dataclasses.replace(g, in_h=hi - lo, out_h=out_rows[1] - out_rows[0], pad_top=top)
        return dataclasses.replace(args, geometry=g, stack_words=(plane_bytes(g) + 3) // 4)

    def extra_flash_bytes(self, node):
        # 24 B of weight pairs against 9 B of int8, a 16 B record against 4 B of bias + 8 B of
        # multiplier and shift
        return 19 * node.inputs[1].shape[0]

    def args(self, lw, i, node, p):
        w = node.inputs[1]
        weights = lw.flash(f"tfc_{lw.name}_l{i}_weights_dw3", "int16_t", dw3_weights(w.data, transposed(node)),
                           f"{w.ref} : {w.type}, doubled, as int16 tap pairs per channel")
        bias = node.inputs[2].data if len(node.inputs) > 2 else None
        channels = lw.flash(f"tfc_{lw.name}_l{i}_channels", "int32_t", dw3_channels(w.data, bias, p),
                            f"layer {i}: tfc_conv_wide_channel per channel, input offset folded into the doubled bias")
        return DepthwiseWideArgs(p, geometry(node, p), steps(node), weights, channels,
                                 (plane_bytes(geometry(node, p)) + 3) // 4)


def plane_geometry(node, p) -> Geometry:
    """The layer's geometry as it is (DepthwisePlane never runs down the columns)."""
    x, y = node.inputs[0], node.output
    c = x.shape[3]
    return Geometry(x.shape[1], x.shape[2], c, 3, 3, y.shape[1], y.shape[2], c, *p.stride, *p.padding,
                    p.input_offset, p.output_offset, p.activation.min, p.activation.max)


def whole_plane_bytes(g: Geometry) -> int:
    """tfc_depthwise_3x3_plane_s8_get_buffer_size, in Python: four channels' padded planes (rows
    `pitch` int16 apart, even; at least what the run's last block reads) and the run's int8
    outputs."""
    pitch = max(g.stride_x * (g.out_w - 1) + 3, g.pad_left + g.in_w)
    pitch += pitch % 2
    blocks = -(-((g.out_h - 1) * pitch + g.out_w) // BLOCK)
    plane = max(max(g.stride_y * (g.out_h - 1) + 3, g.pad_top + g.in_h) * pitch,
                2 * pitch + g.stride_x * BLOCK * blocks + 2)
    plane += plane % 2
    return CHANNEL_GROUP * plane * 2 + BLOCK * blocks * CHANNEL_GROUP + 4


@register_kernel
class DepthwisePlane(DepthwiseWide):
    """tfc_depthwise_3x3_plane_s8: the 3x3 depthwise layers whose rows are too short for
    tfc_depthwise_3x3_wide_s8 (VWW's 6x6 and 3x3 maps): four channels' whole padded input planes
    at once (on the stack), their outputs one run of blocks of 4 over the planes' columns, the two
    columns past each output row computed and dropped (6x6 at stride 1: 48 outputs for 36). The
    same weights, channel records and flash as DepthwiseWide."""
    name = "depthwise_plane"
    function = "tfc_depthwise_3x3_plane_s8"
    sources = DepthwiseWide.sources
    # fitted (non-negative, no per-layer constant) on VWW-96's eight layers: -31..+6 %
    costs = {"tfc_depthwise_3x3_plane_s8": C.Cost(C.DEPTHWISE, (3.5058, 0.0, 0.0, 0.0, 30.5097, 0.0, 0.0, 0.0))}

    def decline(self, node):
        why, p = self.window_decline(node)
        if why:
            return why
        if geometry(node, p).out_w >= MIN_RUN:
            return f"runs of {MIN_RUN} or more outputs (tfc_depthwise_3x3_wide_s8 runs them)"
        return records_decline(node, p, whole_plane_bytes(plane_geometry(node, p)))

    def band_args(self, args, node, p, in_rows, out_rows):
        """A band of output rows: its input rows and heights, the padding left above it."""
        (lo, hi), g = in_rows[0], args.geometry
        top = p.padding[0] + lo - out_rows[0] * p.stride[0]
        g = dataclasses.replace(g, in_h=hi - lo, out_h=out_rows[1] - out_rows[0], pad_top=top)
        return dataclasses.replace(args, geometry=g, stack_words=(whole_plane_bytes(g) + 3) // 4)

    def args(self, lw, i, node, p):
        w = node.inputs[1]
        x, y = node.inputs[0], node.output
        c = x.shape[3]
        weights = lw.flash(f"tfc_{lw.name}_l{i}_weights_dw3", "int16_t", dw3_weights(w.data),
                           f"{w.ref} : {w.type}, doubled, as int16 tap pairs per channel")
        bias = node.inputs[2].data if len(node.inputs) > 2 else None
        channels = lw.flash(f"tfc_{lw.name}_l{i}_channels", "int32_t", dw3_channels(w.data, bias, p),
                            f"layer {i}: tfc_conv_wide_channel per channel, input offset folded into the doubled bias")
        g = plane_geometry(node, p)
        return DepthwiseWideArgs(p, g, (c, x.shape[2] * c, c, y.shape[2] * c), weights, channels,
                                 (whole_plane_bytes(g) + 3) // 4)
