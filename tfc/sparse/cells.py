"""Activations stored as the sparse kernels' int16 cells, written so by their producer.

A sparse conv/linear layer multiplies int16 pairs (SMLAD), so before its rows run it widens its
int8 input into cells (docs/sparse-format.md, "The widened input"): per group of B channels
(B = the weights' block) one cell of B int16 per pixel, channels c0 c2 c1 c3 inside each four.
On the Cortex-M7 that pass costs about 1.6 instructions an element (the hybrid: ~90k of its
~1.5M). A producer whose kernel can store its results straight into cells (`Kernel.writes_cells`,
the op attribute CELLS_ATTR = B) saves it: its output value becomes i16, the int8 results in
cell order, and every reader is a sparse layer that reads them as its image (`Kernel.reads_cells`).
The cells hold the int8 values themselves, not value + input offset: each reader adds
offset x (its row's weight sum) to its biases instead (fold_input_offset), the same sums modulo 2^32.

Layout, from the value's shape alone: NHWC [1, H, W, C]: cells [H][C/B][W][B] (a 1x1 conv's image,
row after row); any other shape [..., C]: the V vectors as [C/B][V][B] (a linear layer's image).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from tfc.ir.graph import Value
from tfc.ir.ops.base import CELLS_ATTR
from tfc.ir.types import DType
from tfc.quant import fixed_point as fp
from tfc.sparse.layer import SparseLayer

BLOCKS = (4, 8, 16)   # the block sizes whose cells the producers' C writes (quads of channels)


def image_rows(shape) -> int:
    """Image rows of the cells: H of an NHWC tensor, else 1 (one row of vectors)."""
    return int(shape[1]) if len(shape) == 4 else 1


def position(channel: int, block: int) -> int:
    """Where channel `channel` lies inside its cell (c0 c2 c1 c3 inside each four)."""
    r = channel % block
    return (r & ~3) + (0, 2, 1, 3)[r & 3] if block >= 4 else r


def cell_order(shape, block: int) -> np.ndarray:
    """order[k]: the flat index (C order) of the element stored in cell slot k."""
    c = int(shape[-1])
    rows = image_rows(shape)
    cols = int(np.prod(shape)) // c // rows
    y, g, x, p = np.meshgrid(np.arange(rows), np.arange(c // block), np.arange(cols), np.arange(block),
                             indexing="ij")
    pos = np.array([position(i, block) for i in range(block)])
    channel = g * block + np.argsort(pos)[p]      # slot p of the cell holds the channel at position p
    return ((y * cols + x) * c + channel).reshape(-1)


def to_cells(x: np.ndarray, block: int) -> np.ndarray:
    """The int8 tensor x as its producer stores it: int16, in cell order (x's shape kept)."""
    return x.reshape(-1)[cell_order(x.shape, block)].astype(np.int16).reshape(x.shape)


def from_cells(cells: np.ndarray, block: int) -> np.ndarray:
    """The int8 tensor back from its cells."""
    out = np.empty(cells.size, np.int8)
    out[cell_order(cells.shape, block)] = cells.reshape(-1)
    return out.reshape(cells.shape)


def block_of(value: Value) -> int:
    """B where the value is stored as cells of B int16 (0: a plain int8 tensor)."""
    producer = value.producer
    if value.dtype != DType.I16 or producer is None:
        return 0
    return int(producer.attrs.get(CELLS_ATTR, 0))


def layout_decline(shape, block: int, linear: bool) -> str | None:
    """Why a producer cannot hand a tensor of this shape to a sparse reader as cells of `block`."""
    if block not in BLOCKS:
        return f"block {block}: cells are written for blocks {', '.join(map(str, BLOCKS))}"
    if int(shape[-1]) % block:
        return f"{shape[-1]} channels are not whole cells of {block}"
    if linear and image_rows(shape) != 1:
        return "a linear layer reads the vectors of an NHWC tensor as one row, the cells hold H rows"
    return None


def fold_input_offset(layer: SparseLayer, input_offset: int) -> SparseLayer:
    """The layer for cells holding x instead of x + input_offset: every record's bias gains
    input_offset x (its channel's weight sum), wrapped to int32 like the kernels' sums. The
    requantization kinds, bounds and empty channels' outputs stay those of the original bias."""
    if input_offset == 0:
        return layer
    sums = layer.dense_weights().reshape(layer.rows, -1).astype(np.int64).sum(axis=1)
    records = layer.records.copy()
    records["bias"] = fp.wrap_int32(records["bias"].astype(np.int64) + input_offset * sums).astype(np.int32)
    return dataclasses.replace(layer, records=records)
