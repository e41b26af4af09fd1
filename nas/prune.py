"""Blockwise pruning along tfc's reduction axis.

tfc stores a conv weight as OHWI and a linear one as [out, in]; the sparse encoding works on rows
of `Kh*Kw*Cin` (or `in`) split into blocks of `block` consecutive values. A mask zeroes the
weakest blocks (L2 norm) of a layer until `density` of them remain, so the pruned model has the
exact block pattern the SparseEngine encodes.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.utils import parametrize

DENSITIES = (1.0, 0.75, 0.5, 0.35, 0.25)
BLOCKS = (1, 2, 4, 8, 16)


def _rows(w: torch.Tensor) -> torch.Tensor:
    """Weight as [rows, reduction] in tfc's order (OHWI for conv)."""
    return w.permute(0, 2, 3, 1).reshape(w.shape[0], -1) if w.dim() == 4 else w


def _unrows(m: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if like.dim() == 4:
        o, i, kh, kw = like.shape
        return m.reshape(o, kh, kw, i).permute(0, 3, 1, 2)
    return m


def block_mask(w: torch.Tensor, density: float, block: int) -> torch.Tensor:
    """A 0/1 mask of w's shape keeping the strongest `density` fraction of blocks (at least one)."""
    if density >= 1.0:
        return torch.ones_like(w)
    rows = _rows(w.detach())
    r, k = rows.shape
    nblocks = -(-k // block)
    padded = torch.zeros(r, nblocks * block, dtype=rows.dtype, device=rows.device)
    padded[:, :k] = rows
    norms = padded.reshape(r, nblocks, block).pow(2).sum(-1).flatten()
    keep = max(1, int(round(density * norms.numel())))
    mask_blocks = torch.zeros_like(norms)
    mask_blocks[torch.topk(norms, keep).indices] = 1.0
    mask = mask_blocks.reshape(r, nblocks, 1).expand(r, nblocks, block).reshape(r, -1)[:, :k]
    return _unrows(mask.contiguous(), w).contiguous()


@torch.no_grad()
def make_masks(static: nn.Module, sparsity: dict[str, tuple[float, int]]) -> dict[nn.Module, torch.Tensor]:
    """Masks for the StaticNet's prunable layers; sparsity: {name: (density, block)}."""
    masks = {}
    for name, entry in static.prunable().items():
        density, block = sparsity.get(name, (1.0, 1))
        if density < 1.0:
            for m in entry:
                masks[m] = block_mask(m.weight, density, block)
    return masks


def ramp_density(target: float, progress: float) -> float:
    """Gradual magnitude pruning's density after `progress` (0..1) of the ramp: cubic from 1 to
    `target` (Zhu & Gupta 2017: prune fast while the network has redundancy, slowly near the end)."""
    t = min(max(progress, 0.0), 1.0)
    return target + (1.0 - target) * (1.0 - t) ** 3


@torch.no_grad()
def ramped_masks(static: nn.Module, sparsity: dict[str, tuple[float, int]], progress: float,
                 masks: dict[nn.Module, torch.Tensor]) -> None:
    """Recompute `masks` in place from the current weights at the ramp's density for `progress`
    (at progress 1 they are `make_masks(static, sparsity)`)."""
    masks.clear()
    masks.update(make_masks(static, {name: (ramp_density(d, progress), b) for name, (d, b) in sparsity.items()}))


@torch.no_grad()
def apply_masks(masks: dict[nn.Module, torch.Tensor]) -> None:
    for m, mask in masks.items():
        # under quantization-aware training (nas.qat) the trained tensor is the parametrization's original
        weight = m.parametrizations.weight.original if parametrize.is_parametrized(m, "weight") else m.weight
        weight.mul_(mask)


def measured_density(static: nn.Module) -> dict[str, float]:
    """Fraction of non-zero weights per prunable layer (reports, tests)."""
    out = {}
    for name, entry in static.prunable().items():
        ws = [m.weight for m in entry]
        out[name] = float(sum((w != 0).sum() for w in ws) / sum(w.numel() for w in ws))
    return out
