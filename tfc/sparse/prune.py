"""Blockwise magnitude pruning, and random block-sparse weights for tests and benchmarks.

Blocks run along the reduction axis (columns of [rows, cols]); the blocks with the smallest L1
norm are zeroed, per row, so every output channel keeps the same density (what the kernels and
the cost model assume). Pruning changes the model: accuracy needs fine-tuning afterwards.
"""
from __future__ import annotations

import numpy as np


def prune_blocks(w: np.ndarray, block: int, density: float) -> np.ndarray:
    """A copy of w [rows, cols] (any dtype) keeping round(density * blocks) largest-L1 blocks per row."""
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"density {density} outside [0, 1]")
    w = np.asarray(w)
    rows, cols = w.shape
    nb = -(-cols // block)
    padded = np.zeros((rows, nb * block), dtype=w.dtype)
    padded[:, :cols] = w
    blocks = padded.reshape(rows, nb, block)
    norms = np.abs(blocks.astype(np.float64)).sum(axis=2)
    keep = int(round(density * nb))
    order = np.argsort(-norms, axis=1, kind="stable")  # ties: the earlier block stays
    mask = np.zeros((rows, nb), dtype=bool)
    np.put_along_axis(mask, order[:, :keep], True, axis=1)
    return (blocks * mask[:, :, None]).reshape(rows, nb * block)[:, :cols].astype(w.dtype)


def random_block_sparse(rng: np.random.Generator, shape: tuple[int, int], *, block: int,
                        density: float) -> np.ndarray:
    """int8 [rows, cols] with round(density * blocks) random non-zero blocks per row, values in
    [-127, 127] and never zero inside a kept block."""
    rows, cols = shape
    nb = -(-cols // block)
    keep = int(round(density * nb))
    mags = rng.integers(1, 128, size=(rows, nb * block))
    vals = np.where(rng.random((rows, nb * block)) < 0.5, -mags, mags)
    mask = np.zeros((rows, nb), dtype=bool)
    for r in range(rows):
        mask[r, rng.choice(nb, size=keep, replace=False)] = True
    w = vals.reshape(rows, nb, block) * mask[:, :, None]
    return w.reshape(rows, -1)[:, :cols].astype(np.int8)
