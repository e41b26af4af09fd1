"""Per-layer storage choice under one flash budget for the whole model.

Each conv/linear layer can be stored several ways (dense, brle streams by block size, generated
code): each with estimated instructions and flash bytes. Taking the smallest form everywhere
wastes the bytes pruning saved; taking the fastest everywhere can make the model bigger than its
dense build. `pick` spends the budget where it buys the most instructions per byte: every layer
starts at its smallest option, then the upgrade with the best instructions saved per extra byte
is taken while the total stays within the budget (the greedy for a multiple-choice knapsack,
near-optimal when many layers each take a small share of the budget).

Shared kernel code counts too: the first layer stored as brle with blocks of 4 links the brle
runtime's common code and its block-4 loops, charged to the budget once (`KERNEL_CODE_BYTES`,
keyed by the code units an option needs).
"""
from __future__ import annotations

from dataclasses import dataclass

# Code the runtime links once a layer needs a unit: bytes of the sections a linked Cortex-M7 ELF
# (tfc's build: arm-none-eabi-gcc 12.2 -O2 -ffunction-sections -fdata-sections, --gc-sections)
# places from each runtime object, summed from the link map of small models whose sparse layers
# (conv 3x3, conv 1x1, linear) all use one encoding and block size. "brle": tfc_sparse_s8.c's
# common part (both entry points, widening, drivers); "brle/bB": the rows4/rows1 loop pair of
# block B (tfc_sparse_brle_rows{4,1}_bB), linked only for the block sizes a model's weights name.
# "brle-unrolled" has no unit of its own: its shared part is the same common runtime code (the
# loops are per layer, in each option's flash; tfc_sparse_gen.h is all inline), so code_units maps
# it to "brle" and a model using both encodings links those 1,792 bytes once.
# tests/sparse/test_brle_linking.py checks the per-block split on a linked ELF. "dw-taps":
# tfc_sparse_depthwise_s8.c as linked: every specialised loop is reachable through its dispatch
# tables, so the whole object (arm-none-eabi-gcc 12.2 -O2 .text, session 11: 23,524 B; it was
# 3,384 before the tap-count, shift and eight-per-step loops were added, and 18,292 just before
# the last).
KERNEL_CODE_BYTES = {"brle": 1_792, "brle/b1": 3_616, "brle/b2": 3_736, "brle/b4": 3_816, "brle/b8": 4_324,
                     "brle/b16": 5_172, "dw-taps": 23_524}
# dw-taps-lut links the same kernel (its table loops are a few hundred bytes of it; not measured apart).


# The dense kernels a layer links, freed when no layer needs them any more (tfc's runtime, same
# build, from the hybrid's dense ELF with nm): arm_convolve_s8 + im2col/dot helpers; the
# depthwise drivers. The matmul loops of 1x1 convs and fully connected layers are not counted:
# attention's batch matmul and other kernels keep parts of them linked.
DENSE_CODE_BYTES = {"dense/conv": 5_966, "dense/dw": 5_458}
KERNEL_CODE_BYTES.update(DENSE_CODE_BYTES)


# Flash kept back from a whole-target budget for code: the dense and transformer kernels, model.c,
# start-up code and the C library. tfc bench of dense builds on the M7 (kernels + model.c code +
# start-up/driver/libc): ResNet-8 25.6 KB, the CNN + transformer hybrid 36.1 KB; 64 KiB leaves
# room for more kernels.
CODE_RESERVE_BYTES = 64 * 1024


def target_budget(flash_bytes: int, other_bytes: int) -> int:
    """The flash the decided layers (with their shared code units) may take on a target of
    `flash_bytes`: less the model's other constants and the code reserve."""
    return flash_bytes - other_bytes - CODE_RESERVE_BYTES


def dense_code_unit(kind: str) -> tuple[str, ...]:
    """kind: "conv" (KxK), "matmul" (1x1 conv, linear) or "dw" (depthwise)."""
    unit = f"dense/{kind}"
    return (unit,) if unit in KERNEL_CODE_BYTES else ()


def code_units(encoding: str | None, block: int) -> tuple[str, ...]:
    """The shared code units a layer stored this way links (keys of KERNEL_CODE_BYTES)."""
    if encoding is None:
        return ()
    if encoding == "brle-unrolled":   # the per-layer code calls brle's common drivers
        return ("brle",)
    if encoding == "dw-taps-lut":     # the same depthwise kernel
        return ("dw-taps",)
    per_block = f"{encoding}/b{block}"
    return (encoding, per_block) if per_block in KERNEL_CODE_BYTES else (encoding,)


@dataclass(frozen=True)
class Option:
    """One way to store one layer: None encoding = dense."""

    instructions: float
    flash: int
    encoding: str | None = None
    payload: object = None        # what the caller applies (e.g. a LayerChoice)
    code: tuple[str, ...] = ()    # shared code units it links (code_units)


def total_flash(options: list[Option], free: frozenset = frozenset()) -> int:
    """The options' own bytes plus each shared code unit they link once (`free` units: linked
    anyway, not charged)."""
    units = {u for o in options for u in o.code} - set(free)
    return sum(o.flash for o in options) + sum(KERNEL_CODE_BYTES.get(u, 0) for u in units)


def pick(layers: list[list[Option]], budget: int, pinned: frozenset = frozenset()) -> list[Option]:
    """One option per layer (each list holds at least the dense option), fewest instructions
    with total_flash(chosen) <= budget; if even the smallest options exceed it, the smallest.

    The shared kernel code is a fixed cost per code unit, so every set of units is tried with
    its code charged up front, and the fastest feasible result is kept. `pinned` units are linked
    anyway (layers outside `layers` need them): free to use, never charged."""
    units = sorted({u for opts in layers for o in opts for u in o.code} - set(pinned))
    best = None
    for mask in range(1 << len(units)):
        allowed = {u for k, u in enumerate(units) if mask >> k & 1}
        shared = sum(KERNEL_CODE_BYTES.get(u, 0) for u in allowed)
        chosen = _greedy([[o for o in opts if set(o.code) <= allowed | pinned] for opts in layers], budget - shared)
        if chosen is None:
            continue
        cost = sum(o.instructions for o in chosen)
        if best is None or cost < best[0]:
            best = (cost, chosen)
    if best is None:
        return [min(opts, key=lambda o: (o.flash, o.instructions)) for opts in layers]
    return best[1]


def _greedy(layers: list[list[Option]], budget: int) -> list[Option] | None:
    """From the smallest option of each layer, take the upgrade with the most instructions saved
    per extra byte while the total stays within budget; None if the smallest do not fit (or a
    layer has no option left)."""
    if not all(layers):
        return None
    chosen = [min(opts, key=lambda o: (o.flash, o.instructions)) for opts in layers]
    used = sum(o.flash for o in chosen)
    if used > budget:
        return None
    while True:
        best = None     # (score, saved, layer index, option)
        for i, opts in enumerate(layers):
            old = chosen[i]
            for o in opts:
                saved, extra = old.instructions - o.instructions, o.flash - old.flash
                if saved <= 0 or used + extra > budget:
                    continue
                score = float("inf") if extra <= 0 else saved / extra
                if best is None or (score, saved) > best[:2]:
                    best = (score, saved, i, o)
        if best is None:
            return chosen
        _, _, i, o = best
        used += o.flash - chosen[i].flash
        chosen[i] = o
