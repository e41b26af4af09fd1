"""tfc_convolve_first_s8: the first layers, ungrouped undilated batch-1 int8 conv2d on at most
MAX_CHANNELS input channels whose window (K = KH * KW * C_IN values) is one vector of at most
MAX_DEPTH (VWW's 3x3/s2 on 3 channels: 27, ResNet-8's 3x3 on 3: 27, KWS's 10x4 on 1: 40).

tfc_convolve_wide_s8 gathers each pixel's window from the int8 input tap by tap where the window
rows are not a multiple of 4 bytes (VWW's and ResNet-8's 9) and widens it again for every pixel:
about half of those layers' instructions. This kernel widens each input row once into int16 with
the input offset added (the KH rows an output row reads kept together on the stack, moved up as
the output rows advance; the padding columns 0), copies a pixel's window out of them with a
function generated per layer (window_copies: word copies at immediate offsets), and runs two
pixels x two output channels per block of 4 window values (12 instructions per 16 MACs) on
weights doubled into int16; each channel pair's biases, weights and requantization records lie in
one stream in flash (first_stream, as many bytes as tfc_convolve_wide_s8's widened weights and
records), the output offset folded into the SMMLAR rounding (3 instructions an output before the
clamp). Measured (tfc bench, emulated M7): VWW's first layer 2.76 -> 1.66 instructions/MAC,
ResNet-8's 2.08 -> 1.37, KWS's 1.50 -> 1.09. Runs on bands of rows (fused tiles) with the layer's
whole geometry, as tfc_convolve_wide_s8 does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfc.errors import TfcError
from tfc.kernels import cost as C
from tfc.kernels import records as R
from tfc.kernels.base import register_kernel
from tfc.kernels.conv import _Conv, _ConvBands
from tfc.kernels.conv_wide import Geometry, channel_records, geometry, wide_band_args
from tfc.kernels.fc_wide import MAX_STACK_BYTES
from tfc.quant import kernel_params as kp
from tfc.quant import node_params as npar
from tfc.sparse.reference import RQ_RIGHT, requant_kind

MAX_CHANNELS = 4        # input channels of a first layer (the window is a short vector)
MAX_DEPTH = 64          # TFC_CONV_FIRST_MAX_DEPTH: window values (the two columns lie 64 int16 apart)
MAX_KH = 16             # TFC_CONV_FIRST_MAX_KH: ring rows
COLUMN_STEP = 64        # TFC_CONV_FIRST_COLUMN_STEP


def blocks(w_shape) -> int:
    _, kh, kw, cin = w_shape
    return -(-(kh * kw * cin) // 4)


def folded_records(w: np.ndarray, bias, p: kp.ConvParams) -> np.ndarray | str:
    """[C_OUT, 4] int64: bias doubled (the weights are), multiplier, the SMMLAR rounding with the
    output offset folded in, right shift; or why a channel does not take that form."""
    records = channel_records(w, bias, p)
    if isinstance(records, str):
        return records
    rows = records.reshape(-1, 4).astype(np.int64)
    x_max = max(abs(-128 + p.input_offset), abs(127 + p.input_offset))
    for c in range(w.shape[0]):
        bound = abs(int(rows[c, 0])) + x_max * int(np.abs(w[c].astype(np.int64)).sum())
        kind, _, rounding = requant_kind(bound, p.multipliers[c], p.shifts[c], p.output_offset)
        if kind != RQ_RIGHT:
            return f"output channel {c}: the output offset does not fold into the rounding"
        rows[c, 2] = rounding
    rows[:, 0] *= 2         # RQ_RIGHT's bound check keeps 2 acc in int32
    return rows


def first_stream(w: np.ndarray, records: np.ndarray) -> np.ndarray:
    """The kernel's int16 stream, per channel pair (an even C_OUT): both biases (int32), the blocks
    of 4 window values (zeros pad K), each block the pair's two channels' 4 weights doubled, then
    both channels' (multiplier, rounding, shift) (int32; little-endian halves)."""
    cout, n = w.shape[0], blocks(w.shape)
    k = int(np.prod(w.shape[1:]))
    padded = np.zeros((cout, 4 * n), np.int16)
    padded[:, :k] = 2 * w.reshape(cout, k).astype(np.int16)
    weights = padded.reshape(cout // 2, 2, n, 4).transpose(0, 2, 1, 3).reshape(cout // 2, -1)
    biases = records[:, 0].astype(np.int32).reshape(cout // 2, 2).view(np.int16)
    rq = records[:, 1:].astype(np.int32).reshape(cout // 2, 6).view(np.int16)
    return np.concatenate([biases, weights, rq], axis=1).reshape(-1)


def stream_bytes(w_shape) -> int:
    return w_shape[0] * (16 + 8 * blocks(w_shape))


def row_stride(g: Geometry) -> int:
    """tfc_convolve_first_s8_row_stride: int16 of one widened, padded input row."""
    width = max((g.out_w - 1) * g.stride_x + g.k_w, g.pad_left + g.in_w)
    return (width * g.in_c + 1) & ~1


def window_copies(g: Geometry) -> tuple[tuple[int, int], ...]:
    """(column, rows) int16 offsets of each word the layer's generated window copy moves: KH runs of
    KW x C_IN values, a word at a time (an odd run one value more: the next run overwrites it, or
    it lands in the column's tail, against zero weights)."""
    seg, rs = g.k_w * g.in_c, row_stride(g)
    return tuple((ky * seg + 2 * i, ky * rs + 2 * i) for ky in range(g.k_h) for i in range((seg + 1) // 2))


def scratch_bytes(g: Geometry) -> int:
    """tfc_convolve_first_s8_get_buffer_size, in Python (on the run function's stack)."""
    return 8 + 4 * COLUMN_STEP + 2 * g.k_h * row_stride(g) + 4 + g.out_c


@dataclass(frozen=True)
class FirstConvArgs:
    params: kp.ConvParams
    geometry: Geometry
    stream: R.ConstArray         # int16, first_stream
    copies: tuple[tuple[int, int], ...]   # window_copies: the generated window copy
    scratch_words: int           # uint64_t words of the columns and input rows (on the stack)
    out_rows: tuple[int, int]    # the output rows the call computes: all, or a band's (fused tiles)
    input_row: int = 0           # the input row the input pointer is at (a band's first)

    @property
    def flash_arrays(self) -> tuple[R.ConstArray, ...]:
        return (self.stream,)


@register_kernel
class ConvFirst(_ConvBands, _Conv):
    """The first layers' conv2d (see the module docstring); tfc_convolve_wide_s8 runs the others."""
    requantization_in_records = True

    name = "conv_first"
    function = "tfc_convolve_first_s8"
    sources = ("tfc_convolve_first_s8.c",)
    # fitted (exactly) on VWW's, ResNet-8's and KWS's first layers alone (the int8 range; a clamped
    # range costs 20 instructions more per 4 outputs)
    costs = {"tfc_convolve_first_s8": C.Cost(C.CONV, (0.9706, 2.8918, 124.9885, 0.0, 0.0, 0.0, 0.0))}
    priority = 7            # above conv_wide (6), below the sparse kernels
    template_source = """\
{#- tfc_convolve_first_s8: Layer with FirstConvArgs. -#}
{% import "_macros.j2" as m %}
{% macro data(layer) %}
static const tfc_conv_wide_geometry l{{ layer.index }}_geometry = { {{ layer.args.geometry.c_fields() }} };
/* layer {{ layer.index }}'s window from its widened input rows into a column, a word at a time */
static void l{{ layer.index }}_window(const int16_t *rows, int16_t *column)
{
{% for d, s in layer.args.copies %}
    memcpy(column + {{ d }}, rows + {{ s }}, 4);
{% endfor %}
}
{% endmacro %}
{% macro call(layer) %}
{% set a = layer.args %}
{{ m.comment(layer) }}
    {
        uint64_t scratch[{{ a.scratch_words }}]; /* two pixels' columns, the widened input rows */
        tfc_convolve_first_s8(&l{{ layer.index }}_geometry, {{ m.at(layer.inputs[0]) }}, {{ a.stream.symbol }},
            l{{ layer.index }}_window, {{ m.at(layer.output) }}, scratch, {{ a.out_rows[0] }}, {{ a.out_rows[1] }}, {{ a.input_row }});
    }
{% endmacro %}
"""

    def decline(self, node):
        x, w = node.inputs[0], node.inputs[1]
        a = node.attrs
        if a["group"] != 1:
            return "grouped"
        if a["dilation"] != [1, 1]:
            return "dilated"
        if x.shape[0] != 1:
            return "batch > 1"
        if w.data is None or w.sparse is not None:
            return "the weights are not a dense constant"
        cout, kh, kw, cin = w.shape
        if cin > MAX_CHANNELS:
            return f"{cin} input channels (a first layer has at most {MAX_CHANNELS})"
        if kh * kw * cin > MAX_DEPTH:
            return f"a window of {kh * kw * cin} values (the kernel takes at most {MAX_DEPTH})"
        if kh > MAX_KH:
            return f"a window {kh} rows high (the kernel's ring holds at most {MAX_KH})"
        if cout % 2:
            return "an odd number of output channels (the kernel runs channel pairs)"
        try:
            p = npar.conv_params(node)
        except TfcError as e:      # the plain kernels say it when they run the node
            return f"no int8 parameters: {e}"
        stack = scratch_bytes(geometry(node, p))
        if stack > MAX_STACK_BYTES:
            return f"its columns and ring of input rows ({stack:,} B) exceed {MAX_STACK_BYTES:,} B of stack"
        records = folded_records(w.data, node.inputs[2].data if len(node.inputs) > 2 else None, p)
        return records if isinstance(records, str) else None

    def extra_flash_bytes(self, node):
        """The stream against the int8 weights, the int32 bias and model.c's multiplier and shift."""
        w = node.inputs[1]
        return stream_bytes(w.shape) - w.type.nbytes - 12 * w.shape[0]

    def args(self, lw, i, node, p):
        w = node.inputs[1]
        records = folded_records(w.data, node.inputs[2].data if len(node.inputs) > 2 else None, p)
        stream = lw.flash(f"tfc_{lw.name}_l{i}_stream", "int16_t", first_stream(w.data, records),
                          f"{w.ref} : {w.type}, doubled to int16 per channel pair, with biases and records")
        g = geometry(node, p)
        return FirstConvArgs(p, g, stream, window_copies(g), (scratch_bytes(g) + 7) // 8, (0, node.output.shape[1]))

    def band_args(self, args, node, p, in_rows, out_rows):
        return wide_band_args(args, in_rows, out_rows)
