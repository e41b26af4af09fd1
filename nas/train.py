"""Training: the supernet with the sandwich rule and in-place distillation, and fine-tuning.

Each supernet step trains the largest sub-network on the labels, then the smallest and `n_random`
random ones on the largest one's soft predictions (in-place distillation, BigNAS/OFA), and
`n_sparse` random ones with random blockwise pruning of their layers (the densities and blocks
SparseNAS searches), so that a pruned sub-network's accuracy without fine-tuning, which is what
SparseNAS ranks genomes by, says how good it will be after fine-tuning. Gradients of all of them
are summed before one optimizer step.
"""
from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from nas.distributed import Parallel
from nas.evolution import random_genome
from nas.space import Arch, SearchSpace, sample_arch
from nas.supernet import SuperNet, recalibrate_bn

SINGLE = Parallel()


@dataclass(frozen=True)
class Recipe:
    """How training batches are augmented and scored: every sample is shifted by up to 1/14 of the
    image (a random crop of the edge-padded image), mirrored left-right half of the time when `flip` (not for
    digits or text-like images), and the labels' cross-entropy is smoothed by `label_smoothing`."""
    flip: bool = False
    label_smoothing: float = 0.0

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)


PLAIN = Recipe()


def channels_last(module: nn.Module, on: bool = True) -> nn.Module:
    """Convolution weights (and `batches`' images) in NHWC order while training: PyTorch's CPU
    depthwise and 1x1 convolutions run about 1.5x faster that way (measured: 343 -> 528
    samples/CPU-s for a 28x28 sub-network); `on=False` puts them back for export."""
    return module.to(memory_format=torch.channels_last if on else torch.contiguous_format)


def batches(x: np.ndarray, y: np.ndarray, batch: int, rng: np.random.Generator | None, augment: bool = False,
            par: Parallel = SINGLE, recipe: Recipe = PLAIN):
    """Global batches in a seeded order; under several processes each takes its shard of each
    (every rank draws the same order and shifts of the whole global batch, so N processes see one
    process's batches)."""
    order = rng.permutation(len(y)) if rng is not None else np.arange(len(y))
    for i in range(0, len(order), batch):
        idx = order[i:i + batch]
        if par.world > 1 and len(idx) < par.world:
            break                                   # every rank needs a sample to join the all-reduce
        if augment and rng is not None:
            xb = _crop_flip(torch.from_numpy(x[idx]), rng, recipe.flip)
            keep = par.shard(np.arange(len(idx)))
            xb, idx = xb[keep], idx[keep]
        else:
            idx = par.shard(idx)
            xb = torch.from_numpy(x[idx])
        if xb.dim() == 4:
            xb = xb.contiguous(memory_format=torch.channels_last)
        yield xb.to(par.device), torch.from_numpy(y[idx]).to(par.device)


def _crop_flip(x: torch.Tensor, rng: np.random.Generator, flip: bool) -> torch.Tensor:
    """Per sample: a random crop of the zero-padded image (a shift of up to 1/14 of its size, 2
    pixels at 28; the edge pixels fill in) and, when `flip`, a left-right mirror with probability 1/2."""
    n, _, h, w = x.shape
    p = max(1, h // 14)
    padded = F.pad(x, (p, p, p, p), mode="replicate")     # the border, not a grey frame, fills the gap
    dy, dx = rng.integers(0, 2 * p + 1, n), rng.integers(0, 2 * p + 1, n)
    rows = torch.from_numpy(dy)[:, None] + torch.arange(h)              # [n, h]
    cols = torch.from_numpy(dx)[:, None] + torch.arange(w)              # [n, w]
    if flip:
        mirror = torch.from_numpy(rng.random(n) < 0.5)
        cols = torch.where(mirror[:, None], cols.flip(1), cols)
    out = padded.gather(2, rows[:, None, :, None].expand(n, x.shape[1], h, w + 2 * p))
    return out.gather(3, cols[:, None, None, :].expand(n, x.shape[1], h, w)).contiguous()


def train_supernet_epoch(net: SuperNet, opt, x, y, *, batch: int, n_random: int, rng: np.random.Generator,
                         arch_rng: random.Random, kd_weight: float = 1.0, n_sparse: int = 0,
                         par: Parallel = SINGLE, recipe: Recipe = PLAIN, on_step=None) -> float:
    """One epoch; `on_step()` after every optimizer step (a per-step LR schedule)."""
    net.train()
    space: SearchSpace = net.space
    total, n = 0.0, 0
    for xb, yb in batches(x, y, batch, rng, augment=True, par=par, recipe=recipe):
        opt.zero_grad()
        logits = net(xb, sample_arch(space, arch_rng, "max"))
        loss = recipe.loss(logits, yb)
        loss.backward()
        soft = F.softmax(logits.detach(), -1)
        archs = [sample_arch(space, arch_rng, "min")] + [sample_arch(space, arch_rng) for _ in range(n_random)]
        sparse = [random_genome(space, arch_rng) for _ in range(n_sparse)]
        for arch, sparsity in [(a, {}) for a in archs] + [(g.arch, g.sparsity_dict()) for g in sparse]:
            with net.pruned(arch, sparsity):
                out = net(xb, arch)
            kd = F.kl_div(F.log_softmax(out, -1), soft, reduction="batchmean")
            (kd_weight * kd + (1 - kd_weight) * F.cross_entropy(out, yb)).backward()
        par.average_gradients(net.parameters())
        nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        if on_step:
            on_step()
        total += float(loss.detach()) * len(yb)
        n += len(yb)
    return total / max(n, 1)


@torch.no_grad()
def accuracy(model: Callable, x: np.ndarray, y: np.ndarray, batch: int = 512) -> float:
    correct = 0
    for xb, yb in batches(x, y, batch, None):
        correct += int((model(xb).argmax(-1) == yb).sum())
    return correct / max(len(y), 1)


@torch.no_grad()
def subnet_accuracy(net: SuperNet, arch: Arch, x_cal: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of one sub-network after BN recalibration on `x_cal`."""
    recalibrate_bn(net, arch, [torch.from_numpy(c) for c in np.array_split(x_cal, max(1, len(x_cal) // 128))])
    net.eval()
    return accuracy(lambda xb: net(xb, arch), x, y)


def finetune(static: nn.Module, masks: dict, x, y, *, epochs: int, lr: float, batch: int,
             rng: np.random.Generator, on_epoch=None, qat_epochs: int = 0, state: dict | None = None,
             par: Parallel = SINGLE, recipe: Recipe = PLAIN, sparsity: dict | None = None,
             ramp: float = 0.0) -> None:
    """Fine-tune a (pruned) StaticNet; masks are re-applied after every step so pruned blocks stay 0.
    With `sparsity` ({name: (density, block)}) and `ramp` > 0 the pruning is gradual: over the first
    `ramp` of the steps before QAT the masks are recomputed from the current weights every step
    while the densities fall from 1 to their targets (nas.prune.ramp_density), then they stay;
    `masks` (updated in place) ends as the targets' masks of the weights at that point.
    The last `qat_epochs` epochs are quantization-aware (nas.qat): the weights end on tfc's int8 grid.
    After each epoch `on_epoch(epoch, snapshot)` gets the whole training state (`snapshot()` builds
    it); `state`, such a snapshot, continues from where it was taken, with the same result."""
    from nas.prune import apply_masks, ramped_masks
    from nas.qat import quantization_aware
    channels_last(static)
    opt = torch.optim.AdamW(static.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, epochs))
    qat_from = epochs - min(qat_epochs, epochs)
    start = state["epoch"] + 1 if state else 0
    per_epoch = -(-len(y) // batch)
    ramp_steps = int(ramp * qat_from * per_epoch) if sparsity else 0

    def prune_step(step):                # gradual pruning: the masks for this step (then fixed)
        if ramp_steps and step <= ramp_steps:
            ramped_masks(static, sparsity, step / ramp_steps, masks)

    prune_step(0)
    names = {m: n for n, m in static.named_modules()}
    if state is not None and "masks" in state:        # the masks the interrupted run had reached
        by_name = dict(static.named_modules())
        masks.clear()
        masks.update({by_name[n]: t for n, t in state["masks"].items()})
    apply_masks(masks)

    def snapshot(epoch, grids):         # a copy: state_dict()s hold the live tensors
        return copy.deepcopy({"epoch": epoch, "net": static.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                "np_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                "grids": [(g.lo, g.hi) for g in grids], "masks": {names[m]: t for m, t in masks.items()}})

    def restore(grids):
        static.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        rng.bit_generator.state = state["np_rng"]
        torch.set_rng_state(state["torch_rng"])
        for g, (lo, hi) in zip(grids, state["grids"]):
            g.lo, g.hi = lo, hi

    def epoch_pass(epoch, grids, model):
        static.train()
        for i, (xb, yb) in enumerate(batches(x, y, batch, rng, augment=True, par=par, recipe=recipe)):
            opt.zero_grad()
            recipe.loss(model(xb), yb).backward()
            opt.step()
            prune_step(epoch * per_epoch + i + 1)
            apply_masks(masks)
        sched.step()
        if on_epoch:
            on_epoch(epoch, lambda: snapshot(epoch, grids))

    if state is not None and state["epoch"] < qat_from:
        restore([])
    model = par.wrap(static)
    for epoch in range(start, qat_from):
        epoch_pass(epoch, [], model)
    if qat_from < epochs:
        with quantization_aware(static, masks) as grids:   # the parametrized weights are the same Parameters
            if state is not None and state["epoch"] >= qat_from:
                restore(grids)
            model = par.wrap(static)       # DDP again: its gradient hooks must see the parametrized forward
            for epoch in range(max(start, qat_from), epochs):
                epoch_pass(epoch, grids, model)
    channels_last(static, False)
    static.eval()
