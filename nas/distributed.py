"""Devices and data parallelism.

`--device cpu|cuda[:N]` (CUDA when available by default) places training and fine-tuning. Launched by
`torchrun --nproc_per_node N -m nas run ...` (WORLD_SIZE > 1), every process trains on its shard of
each global batch (the same batches as one process: every rank draws the same permutation and
augmentation from the same seed and takes every N-th sample) and gradients are averaged across
processes before each step, over gloo on CPU or NCCL on GPUs (torchrun's rendezvous also spans
machines). Fine-tuning wraps the network in DistributedDataParallel. The supernet's step runs several
sub-networks, each touching other parameters, before one optimizer step, so it averages the summed
gradients with one all-reduce instead (what DDP would do, without DDP's one-backward-per-step
bookkeeping). Rank 0 runs everything else (SuperNAS, SparseNAS, compile, report) and writes the run
directory; the other ranks wait and read its files.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist

from nas.errors import ConfigError

STEP_TIMEOUT = timedelta(hours=24)   # other ranks wait at a barrier while rank 0 searches


@dataclass(frozen=True)
class Parallel:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def shard(self, idx: np.ndarray) -> np.ndarray:
        """This rank's part of one global batch."""
        return idx if self.world == 1 else idx[self.rank::self.world]

    def average_gradients(self, params) -> None:
        """Gradients averaged over the ranks (one flat all-reduce)."""
        if self.world == 1:
            return
        params = [p for p in params if p.requires_grad]
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        i = 0
        for p, g in zip(params, grads):
            n = g.numel()
            p.grad = flat[i:i + n].view_as(p).clone()
            i += n

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """DistributedDataParallel around `module` when several processes train it."""
        if self.world == 1:
            return module
        from torch.nn.parallel import DistributedDataParallel
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)


def pick_device(arg: str | None, local_rank: int = 0) -> torch.device:
    if arg is None:
        arg = "cuda" if torch.cuda.is_available() else "cpu"
    text = arg.strip().lower()
    kind, _, index = text.partition(":")
    if kind not in ("cpu", "cuda") or (index and not index.isdigit()) or (kind == "cpu" and index):
        raise ConfigError(f"unknown device {arg!r}", hint="use cpu, cuda or cuda:N")
    if kind == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"--device {arg}: no CUDA device here (torch.cuda.is_available() is False)",
                          hint="use --device cpu, or a CUDA build of torch on a machine with a GPU")
    n = torch.cuda.device_count()
    i = int(index) if index else local_rank % n
    if i >= n:
        raise ConfigError(f"--device {arg}: this machine has {n} CUDA device(s)", hint=f"use cuda:0..cuda:{n - 1}")
    return torch.device("cuda", i)


def setup(device_arg: str | None) -> Parallel:
    """This process's rank, world size and device; joins the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_arg, local)
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=STEP_TIMEOUT)
    return Parallel(rank, world, device)


def teardown(par: Parallel) -> None:
    if par.world > 1 and dist.is_initialized():
        dist.destroy_process_group()
