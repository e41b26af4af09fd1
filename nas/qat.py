"""Quantization-aware fine-tuning: the last epochs of the masked fine-tune see int8 rounding.

tfc quantizes weights per output channel, symmetric, scale = max|w| / 127 (TFLite's convention,
`tfc.quant.calibration.symmetric_weight_params`) and activations per tensor from their min/max
over calibration samples. During QAT every conv/linear weight is replaced by its value on that
grid (straight-through gradient) and every conv/linear output by its value on a per-tensor int8
grid whose range follows the batches' min/max (moving average). At the end the weights are left
on the grid, so tfc's weight quantization of the exported model is exact and only the activation
grids remain to calibrate.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn as nn
from torch.nn.utils import parametrize


def fake_quant_weight(w: torch.Tensor) -> torch.Tensor:
    """w on tfc's per-output-channel symmetric int8 grid; the gradient passes straight through."""
    reduce = tuple(range(1, w.dim()))
    scale = w.detach().abs().amax(dim=reduce, keepdim=True).clamp_min(1e-12) / 127.0
    q = torch.clamp(torch.round(w / scale), -127, 127) * scale
    return w + (q - w).detach()


class _WeightGrid(nn.Module):
    """Parametrization: the pruning mask, then the int8 grid (pruned weights stay exactly 0)."""

    def __init__(self, mask: torch.Tensor | None):
        super().__init__()
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, w):
        return fake_quant_weight(w * self.mask if self.mask is not None else w)


class _ActivationGrid:
    """Forward hook: a layer's output on a per-tensor asymmetric int8 grid (range: moving min/max,
    always containing 0, as tfc's calibration makes it)."""

    def __init__(self, momentum: float = 0.9):
        self.lo = self.hi = None
        self.momentum = momentum

    def __call__(self, module, inputs, out):
        lo, hi = float(out.detach().min().clamp(max=0)), float(out.detach().max().clamp(min=0))
        if module.training or self.lo is None:
            m = self.momentum if self.lo is not None else 0.0
            self.lo = m * (self.lo or 0.0) + (1 - m) * lo
            self.hi = m * (self.hi or 0.0) + (1 - m) * hi
        scale = max(self.hi - self.lo, 1e-8) / 255.0
        zero = torch.round(torch.tensor(-128.0 - self.lo / scale))   # 0-dim: mixes with CUDA tensors
        q = (torch.clamp(torch.round(out / scale) + zero, -128, 127) - zero) * scale
        return out + (q - out).detach()


def _layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


@contextlib.contextmanager
def quantization_aware(net: nn.Module, masks: dict[nn.Module, torch.Tensor]):
    """Train `net` with int8 fake quantization inside the context (it yields the layers' activation
    grids, whose ranges a checkpoint keeps); on exit the weights stay on the int8 grid (masked) as
    ordinary parameters and the hooks are gone."""
    hooks, grids = [], []
    for m in _layers(net):
        parametrize.register_parametrization(m, "weight", _WeightGrid(masks.get(m)))
        grids.append(_ActivationGrid())
        hooks.append(m.register_forward_hook(grids[-1]))
    try:
        yield grids
    finally:
        for h in hooks:
            h.remove()
        for m in _layers(net):
            parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)
