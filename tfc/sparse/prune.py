"""Blockwise magnitude pruning, and random block-sparse weights for tests and benchmarks.

Blocks run along the reduction axis (columns of [rows, cols]); the blocks with the smallest L1
norm are zeroed, per row, so every output channel keeps nearly the same density (what the kernels
and the cost model assume): each row keeps floor or ceil of density x its blocks, and the rows
whose next block is largest take the ceilings, so the layer as a whole keeps exactly
round(density x all its blocks) (per-row rounding alone would keep 1 of 4 blocks, 25 %, where
15 % was asked). Pruning changes the model: accuracy needs fine-tuning afterwards.
"""
from __future__ import annotations

import numpy as np


def prune_blocks(w: np.ndarray, block: int, density: float) -> np.ndarray:
    """A copy of w [rows, cols] (any dtype) keeping the largest-L1 blocks of each row: round(density
    x rows x blocks per row) in all, floor or ceil(density x blocks per row) in each row."""
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"density {density} outside [0, 1]")
    w = np.asarray(w)
    rows, cols = w.shape
    nb = -(-cols // block)
    padded = np.zeros((rows, nb * block), dtype=w.dtype)
    padded[:, :cols] = w
    blocks = padded.reshape(rows, nb, block)
    norms = np.abs(blocks.astype(np.float64)).sum(axis=2)
    order = np.argsort(-norms, axis=1, kind="stable")  # ties: the earlier block stays
    total = int(round(density * rows * nb))
    base = min(nb, total // rows)
    keep = np.full(rows, base)
    extra = total - base * rows
    if extra > 0 and base < nb:
        # The rows whose best remaining block is largest keep one more (ties: the earlier row).
        next_norm = np.take_along_axis(norms, order[:, base:base + 1], axis=1)[:, 0]
        keep[np.argsort(-next_norm, kind="stable")[:extra]] += 1
    mask = np.arange(nb)[None, :] < keep[:, None]          # in each row's order of magnitude
    ranked = np.zeros((rows, nb), dtype=bool)
    np.put_along_axis(ranked, order, mask, axis=1)
    return (blocks * ranked[:, :, None]).reshape(rows, nb * block)[:, :cols].astype(w.dtype)


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
