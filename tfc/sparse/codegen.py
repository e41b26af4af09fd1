"""Per-layer generated sparse code: a layer's block lists unrolled into C (docs/sparse-format.md,
"Generated code").

The runtime kernels walk the brle streams (a counted loop per channel, a skip byte per block).
Generated code removes that interpretation: for every channel the cell offset of each non-zero
block, the bias and the requantization constants are immediates; the weights come from a const
table of pre-widened int16 pairs (so no sign extension in the block) read with 64-bit loads; the
4 outputs of a channel are stored at immediate offsets. It is much faster and much bigger (code
bytes per block instead of B + 1 table bytes): `sparsify` chooses it per layer (encoding
"brle-unrolled") when the user asks for speed over size or when it still beats dense on flash.

`layer_code(SparseLayer, symbol, ...)` makes the typed description; the jinja2 template
tfc/backends/cmsis/templates/kernels/sparse_rows.c.j2 renders it (tfc.backends.cmsis.sparse_harness.render_functions for standalone builds).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfc.quant import fixed_point as fp
from tfc.sparse import reference as sref
from tfc.sparse.cells import position as cell_position
from tfc.sparse.layer import SparseLayer

UNROLLED = "brle-unrolled"
CHUNK_BLOCKS = 48
# Code bytes of the generated functions (arm-none-eabi-gcc 12.2 -O2, Cortex-M7), measured on the
# benchmark layers: per "quad" (4 channels of a block; blocks of 1 and 2 count as one) and per
# non-empty channel, for the 4-pixel and the 1-pixel function.
CODE_BYTES_PER_QUAD = {4: 53, 1: 15}
CODE_BYTES_PER_CHANNEL = {4: 85, 1: 37}
LUT, ADD = "table", "residual"   # Epilogue kinds: an activation table, a residual add
# ... and per output store that applies an epilogue (Epilogue.kind), measured on the hybrid's
# fused layers: a table lookup, or an add's loads, sum and requantization.
CODE_BYTES_PER_EPILOGUE_STORE = {LUT: 4, ADD: 35}


def quads(block: int) -> int:
    return max(1, block // 4)


def table_bytes(blocks: int, block: int) -> int:
    """The pre-widened weight table: B/2 words per block (blocks of 1 and 2: one word)."""
    return 4 * blocks * max(1, block // 2)


def code_bytes_estimate(blocks: int, nonempty: int, block: int, pixel_counts) -> int:
    return sum(CODE_BYTES_PER_QUAD[n] * blocks * quads(block) + CODE_BYTES_PER_CHANNEL[n] * nonempty
               for n in pixel_counts)


@dataclass(frozen=True)
class ChannelCode:
    index: int
    blocks: tuple[tuple[int, int], ...]  # (cell offset in int16 from the pixel's cell, word offset in the table)
    words: int                           # table words this channel uses
    bias: int                            # RIGHT channels: doubled, as their table words (SMMLAR takes 2 * acc)
    kind: int
    multiplier: int
    rounding: int
    shift: int
    empty: int




@dataclass(frozen=True)
class Epilogue:
    """The elementwise node a layer's generated code absorbed (tfc.kernels.sparse_epilogue): what
    each requantized output y becomes before its store, so the node's pass over the tensor goes."""

    kind: str                       # LUT: table[y]; ADD: TFLite's ADD of y and the residual's byte at y's index
    table: str                      # LUT: the int8[256] table; ADD: y's int32[256] rescaling (times 2)
    values: tuple[int, ...] = ()    # LUT: the table (empty channels' constants go through it here)
    residual_table: str = ""        # ADD: the residual's int32[256] rescaling (times 2)
    mult: int = 0                   # ADD: the sum's requantization in tfc_add_table_s8's fast form
    k: int = 0
    e: int = 0
    lo: int = -128
    hi: int = 127

    @property
    def clamp(self) -> bool:
        return self.lo > -128 or self.hi < 127

    def constant(self, y: int) -> int:
        """LUT: what an empty channel's constant output becomes."""
        return self.values[y + 128]


@dataclass(frozen=True, eq=False)
class LayerCode:
    symbol: str                 # C prefix: <symbol>_rows4, <symbol>_rows1, <symbol>_code
    table: str                  # the int32 weight table's C symbol
    block: int
    stride: int                 # the distance between two pixels' outputs (NHWC: the output channels; NCHW: 1)
    lo: int
    hi: int
    clamp: bool
    pixel_counts: tuple[int, ...]  # which functions to generate: 4 and/or 1
    channels: tuple[ChannelCode, ...]
    words: np.ndarray           # int32: the pre-widened weights
    channel_step: int = 1       # the distance between two channels' outputs (NHWC: 1; NCHW: the plane's size)
    sign_fix: bool = True       # RIGHT channels' correction for a negative accumulator (reference.sign_fix_needed)
    input_stride: int = 1       # the conv's stride along x: pixel k of a 4-pixel call reads cells k * stride apart
    epilogue: Epilogue | None = None  # the elementwise node folded into the stores
    cells: int = 0              # > 0: the outputs stored as the int16 cells of this block (tfc/sparse/cells.py)
    cells_cols: int = 0         # cells: the pixels of an output row (a row's cells: [C/cells][cols][cells])
    # each channel's own output offset instead of channel * channel_step (a linear layer storing a
    # head-split layout: tfc.kernels.sparse_heads); stride is then the step between two vectors
    channel_offsets: tuple[int, ...] = ()

    @property
    def pixel_cells(self) -> int:
        """int16 between two output pixels' cells in the widened image."""
        return self.block * self.input_stride

    @property
    def fills_planes(self) -> bool:
        """NCHW output: each empty channel's plane is filled once per image (the `fill` function)
        instead of 4 bytes per call."""
        return self.channel_step != 1

    @property
    def plane(self) -> int:
        return self.channel_step

    def out_offset(self, pixel: int, channel: int) -> int:
        """Where channel `channel` of the call's pixel `pixel` goes, from the call's output pointer
        (cells: in int16, the runtime steps the pointer by a pixel's cell and by rows)."""
        if self.cells:
            b = self.cells
            return pixel * b + (channel // b) * self.cells_cols * b + cell_position(channel, b)
        at = self.channel_offsets[channel] if self.channel_offsets else channel * self.channel_step
        return pixel * self.stride + at

    def chunks(self) -> list[tuple[int, tuple[ChannelCode, ...]]]:
        """(first table word, channels) per generated function: consecutive channels of about
        CHUNK_BLOCKS blocks, so GCC compiles small functions (one huge function takes it minutes
        and gigabytes) and a call costs a few instructions per chunk and pass."""
        out, cur, start, word, blocks = [], [], 0, 0, 0
        for ch in self.channels:
            if cur and blocks + len(ch.blocks) > CHUNK_BLOCKS:
                out.append((start, tuple(cur)))
                cur, start, blocks = [], word, 0
            cur.append(ch)
            blocks += len(ch.blocks)
            word += ch.words
        if cur:
            out.append((start, tuple(cur)))
        return out

    @property
    def blocks(self) -> int:
        return sum(len(c.blocks) for c in self.channels)

    @property
    def table_bytes(self) -> int:
        return int(self.words.nbytes)

    def code_bytes_estimate(self) -> int:
        nonempty = sum(1 for c in self.channels if c.blocks)
        stores = len(self.channels) * sum(self.pixel_counts)
        epilogue = CODE_BYTES_PER_EPILOGUE_STORE[self.epilogue.kind] * stores if self.epilogue else 0
        return code_bytes_estimate(self.blocks, nonempty, self.block, self.pixel_counts) + epilogue


def _pair(lo: int, hi: int) -> int:
    return int(np.int32(np.uint32((lo & 0xFFFF) | ((hi & 0xFFFF) << 16))))


def widened_words(values: np.ndarray, block: int, scale: int = 1) -> list[int]:
    """One block's int8 values (times scale) as the int16 pairs the generated code multiplies with SMLAD."""
    v = [scale * int(x) for x in values]
    if block == 1:
        return [_pair(v[0], 0)]
    if block == 2:
        return [_pair(v[0], v[1])]
    words = []
    for q in range(0, block, 4):
        words += [_pair(v[q], v[q + 2]), _pair(v[q + 1], v[q + 3])]
    return words


def layer_code(layer: SparseLayer, symbol: str, *, table: str | None = None,
               pixel_counts: tuple[int, ...] = (4, 1), output_plane: int | None = None,
               input_stride: int = 1, cells: int = 0, cells_cols: int = 0) -> LayerCode:
    """The generated code of a layer; escapes (all-zero blocks) are dropped. output_plane: the
    output is NCHW with planes of this many pixels (None: NHWC); input_stride: the conv's stride
    along x (pixel_counts_for says whether a strided layer gets the 4-pixel function); cells: the
    output stored as int16 cells of this block, rows of cells_cols pixels (NHWC only)."""
    enc, B = layer.encoded, layer.block
    channels, words = [], []
    k = 0
    for r in range(enc.rows):
        rec = layer.records[r]
        # RIGHT: weights and bias doubled, so the accumulator is the 2 * acc SMMLAR takes (no shift)
        scale = 2 if int(rec["kind"]) == sref.RQ_RIGHT else 1
        col, blocks, start = 0, [], len(words)
        for _ in range(int(enc.counts[r])):
            col += int(enc.skips[k])
            vals = enc.values[k * B:(k + 1) * B]
            if vals.any():
                blocks.append((col * B, len(words) - start))
                words += widened_words(vals, B, scale)
            col += 1
            k += 1
        bias = int(fp.wrap_int32(np.int64(rec["bias"]) * scale))
        channels.append(ChannelCode(r, tuple(blocks), len(words) - start, bias, int(rec["kind"]),
                                    int(rec["multiplier"]), int(rec["rounding"]), int(rec["shift"]),
                                    int(rec["empty"])))
    act = layer.activation
    clamp = not (act.min <= -128 and act.max >= 127)
    pixel_step, channel_step = (enc.rows, 1) if output_plane is None else (1, output_plane)
    return LayerCode(symbol, table or f"{symbol}_weights", B, pixel_step, act.min, act.max, clamp,
                     tuple(pixel_counts), tuple(channels), np.asarray(words or [0], dtype=np.int32), channel_step,
                     sref.sign_fix_needed(layer.output_offset, act.min), input_stride, cells=cells,
                     cells_cols=cells_cols)


def strided_quads(block: int) -> bool:
    """Whether the generated 4-pixel function also runs strided convs for this block: blocks of 4
    or more read each pixel's cells with their own 64-bit loads, wherever they lie; blocks of 1 and
    2 load two neighbouring pixels' cells at once, which a stride separates."""
    return block >= 4


def pixel_counts_for(out_w: int, stride_w: int, block: int = 4) -> tuple[int, ...]:
    """Which functions a conv with this output width, stride and block calls (the runtime's split:
    4 pixels per call along x where the stride is 1, or the generated code reads strided pixels)."""
    quads = stride_w == 1 or strided_quads(block)
    counts = []
    if quads and out_w >= 4:
        counts.append(4)
    if not quads or out_w % 4:
        counts.append(1)
    return tuple(counts)
