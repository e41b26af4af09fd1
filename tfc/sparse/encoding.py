"""Blockwise run-length coding ("brle") of int8 weight matrices; docs/sparse-format.md has the bytes.

A weight matrix is viewed as rows = output channels and columns = the reduction axis, cut into
blocks of B consecutive columns (B in 1, 2, 4, 8, 16; the last block zero-padded). Only blocks with
a non-zero value are stored. Three streams, each read front to back by the kernels:

- counts: per row, the number of stored blocks;
- skips:  per stored block, one byte: the zero blocks since the previous stored block of the row
  (or since column 0). A run longer than 255 zero blocks stores an all-zero block with skip 255
  (an "escape"), which the kernels multiply like any other block: no branch in the inner loop;
- values: per stored block, its B int8 values. Kept apart from the skips so that every block of
  4, 8 or 16 values starts on a 4-, 8- or 16-byte boundary and loads as whole words.

Convolutions are encoded over a *virtual* column space that matches the widened input image the
kernels read (`conv_virtual_matrix`): the column of a block is its offset in that image, so the
kernel's running pointer only ever moves forward by (skip + 1) blocks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLOCK_SIZES = (1, 2, 4, 8, 16)
MAX_SKIP = 255


@dataclass(frozen=True, eq=False)
class BlockSparse:
    """A [rows, cols] int8 matrix in blockwise run-length coding."""

    rows: int
    cols: int            # columns of the matrix before padding to a multiple of `block`
    block: int
    counts: np.ndarray   # int32 [rows]: stored blocks per row (escapes included)
    skips: np.ndarray    # uint8 [stored blocks]
    values: np.ndarray   # int8 [stored blocks * block]

    @property
    def blocks_per_row(self) -> int:
        return -(-self.cols // self.block)

    @property
    def stored_blocks(self) -> int:
        return int(self.skips.size)

    @property
    def escapes(self) -> int:
        """Stored blocks that are all zero: the escapes that break runs of more than 255."""
        return int(np.sum(~self.values.reshape(-1, self.block).any(axis=1))) if self.values.size else 0

    @property
    def nonzero_blocks(self) -> int:
        return self.stored_blocks - self.escapes

    @property
    def density(self) -> float:
        """Non-zero blocks over all blocks."""
        total = self.rows * self.blocks_per_row
        return self.nonzero_blocks / total if total else 0.0

    def stream_bytes(self) -> int:
        """Bytes of the skip and value streams (the row records come on top)."""
        return self.skips.size + self.values.size


def _check_block(block: int) -> int:
    if block not in BLOCK_SIZES:
        raise ValueError(f"block size {block} not in {BLOCK_SIZES}")
    return int(block)


def block_mask(w: np.ndarray, block: int) -> np.ndarray:
    """bool [rows, ceil(cols / block)]: which blocks hold a non-zero value."""
    w = np.asarray(w)
    rows, cols = w.shape
    nb = -(-cols // block)
    padded = np.zeros((rows, nb * block), dtype=w.dtype)
    padded[:, :cols] = w
    return padded.reshape(rows, nb, block).any(axis=2)


def encode(w: np.ndarray, block: int) -> BlockSparse:
    """Encode an int8 [rows, cols] matrix with blocks of `block` columns."""
    block = _check_block(block)
    w = np.asarray(w)
    if w.dtype != np.int8 or w.ndim != 2:
        raise TypeError(f"encode takes an int8 matrix [rows, cols], got {w.dtype} {w.shape}")
    rows, cols = w.shape
    nb = -(-cols // block)
    padded = np.zeros((rows, nb * block), dtype=np.int8)
    padded[:, :cols] = w
    blocks = padded.reshape(rows, nb, block)
    mask = blocks.any(axis=2)
    counts = np.zeros(rows, dtype=np.int32)
    skips: list[int] = []
    values: list[np.ndarray] = []
    zero_block = np.zeros(block, dtype=np.int8)
    for r in range(rows):
        prev = -1
        for j in np.flatnonzero(mask[r]):
            gap = int(j) - prev - 1
            while gap > MAX_SKIP:  # escape: an all-zero block after 255 zero blocks
                skips.append(MAX_SKIP)
                values.append(zero_block)
                counts[r] += 1
                gap -= MAX_SKIP + 1
            skips.append(gap)
            values.append(blocks[r, j])
            counts[r] += 1
            prev = int(j)
    return BlockSparse(rows, cols, block, counts, np.asarray(skips, dtype=np.uint8),
                       np.concatenate(values).astype(np.int8) if values else np.zeros(0, np.int8))


def decode(bs: BlockSparse) -> np.ndarray:
    """The dense int8 [rows, cols] matrix back."""
    dense = np.zeros((bs.rows, bs.blocks_per_row * bs.block), dtype=np.int8)
    k = 0
    for r in range(bs.rows):
        col = 0
        for _ in range(int(bs.counts[r])):
            col += int(bs.skips[k]) * bs.block
            dense[r, col:col + bs.block] = bs.values[k * bs.block:(k + 1) * bs.block]
            col += bs.block
            k += 1
    if k != bs.stored_blocks:
        raise ValueError(f"row counts cover {k} blocks but {bs.stored_blocks} are stored")
    return dense[:, :bs.cols]


# ---- convolution: the virtual column space of the widened image --------------------------------

def groups_of(cin: int, block: int) -> int:
    """Channel groups of `block` channels (the last one zero-padded)."""
    return -(-cin // block)


def conv_virtual_matrix(w_ohwi: np.ndarray, block: int, width: int) -> np.ndarray:
    """OHWI conv weights as the [Cout, Kh * G * width * block] matrix the sparse kernels walk.

    The kernels read a widened input image laid out [row][channel group g][x][block channels]
    (G = ceil(Cin / block), `width` = padded input width). Tap (ky, kx), channels g*block.. of an
    output pixel sit at cell ((ky * G + g) * width + kx) from the pixel's own cell, so that is the
    block's virtual column; cells with kx >= Kw are structurally zero. For a linear layer over N
    vectors: Kh = Kw = 1 and width = N.
    """
    w = np.asarray(w_ohwi)
    cout, kh, kw, cin = w.shape
    if kw > width:
        raise ValueError(f"kernel width {kw} exceeds the padded input width {width}")
    g = groups_of(cin, block)
    v = np.zeros((cout, kh, g, width, block), dtype=w.dtype)
    padded = np.zeros((cout, kh, kw, g * block), dtype=w.dtype)
    padded[..., :cin] = w
    v[:, :, :, :kw, :] = padded.reshape(cout, kh, kw, g, block).transpose(0, 1, 3, 2, 4)
    return v.reshape(cout, -1)


def conv_from_virtual(v: np.ndarray, kh: int, kw: int, cin: int, block: int, width: int) -> np.ndarray:
    """Inverse of conv_virtual_matrix: OHWI weights back (the structural zeros dropped)."""
    g = groups_of(cin, block)
    cout = v.shape[0]
    cells = np.asarray(v).reshape(cout, kh, g, width, block)[:, :, :, :kw, :]
    return cells.transpose(0, 1, 3, 2, 4).reshape(cout, kh, kw, g * block)[..., :cin].copy()


def encode_conv(w_ohwi: np.ndarray, block: int, width: int) -> BlockSparse:
    """Encode OHWI conv weights for a padded input `width` (see conv_virtual_matrix)."""
    return encode(conv_virtual_matrix(w_ohwi, block, width), block)
