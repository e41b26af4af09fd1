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


def batches(x: np.ndarray, y: np.ndarray, batch: int, rng: np.random.Generator | None, augment: bool = False,
            par: Parallel = SINGLE):
    """Global batches in a seeded order; under several processes each takes its shard of each
    (every rank draws the same order and shifts, so N processes see one process's batches)."""
    order = rng.permutation(len(y)) if rng is not None else np.arange(len(y))
    for i in range(0, len(order), batch):
        idx = order[i:i + batch]
        if par.world > 1 and len(idx) < par.world:
            break                                   # every rank needs a sample to join the all-reduce
        idx = par.shard(idx)
        xb = torch.from_numpy(x[idx])
        if augment and rng is not None:
            xb = _shift(xb, rng)
        yield xb.to(par.device), torch.from_numpy(y[idx]).to(par.device)


def _shift(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Random translation by up to 1/8 of the image (cheap augmentation)."""
    s = max(1, x.shape[-1] // 8)
    dx, dy = (int(v) for v in rng.integers(-s, s + 1, 2))
    return torch.roll(x, (dy, dx), (2, 3))


def train_supernet_epoch(net: SuperNet, opt, x, y, *, batch: int, n_random: int, rng: np.random.Generator,
                         arch_rng: random.Random, kd_weight: float = 1.0, n_sparse: int = 0,
                         par: Parallel = SINGLE) -> float:
    net.train()
    space: SearchSpace = net.space
    total, n = 0.0, 0
    for xb, yb in batches(x, y, batch, rng, augment=True, par=par):
        opt.zero_grad()
        logits = net(xb, sample_arch(space, arch_rng, "max"))
        loss = F.cross_entropy(logits, yb)
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
             par: Parallel = SINGLE) -> None:
    """Fine-tune a (pruned) StaticNet; masks are re-applied after every step so pruned blocks stay 0.
    The last `qat_epochs` epochs are quantization-aware (nas.qat): the weights end on tfc's int8 grid.
    After each epoch `on_epoch(epoch, snapshot)` gets the whole training state (`snapshot()` builds
    it); `state`, such a snapshot, continues from where it was taken, with the same result."""
    from nas.prune import apply_masks
    from nas.qat import quantization_aware
    opt = torch.optim.AdamW(static.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, epochs))
    apply_masks(masks)
    qat_from = epochs - min(qat_epochs, epochs)
    start = state["epoch"] + 1 if state else 0

    def snapshot(epoch, grids):         # a copy: state_dict()s hold the live tensors
        return copy.deepcopy({"epoch": epoch, "net": static.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                "np_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                "grids": [(g.lo, g.hi) for g in grids]})

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
        for xb, yb in batches(x, y, batch, rng, augment=True, par=par):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
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
    static.eval()
