"""More placement strategies beside TFLite Micro's greedy-by-size; the planner keeps the smallest.

Each places buffers one by one at the lowest aligned offset free of every already-placed buffer
alive at the same time (the same first-fit rule); they differ in the order buffers are placed,
which is what decides fragmentation. For a handful of buffers, every order is tried.
"""
from __future__ import annotations

import itertools
from typing import Callable, Iterable, Sequence

from tfc.memory.buffers import Buffer, Plan, align_up, pin_groups, place_pinned

EXACT_MAX_BUFFERS = 7  # 7! = 5040 orders: still a blink


def place_in_order(buffers: Iterable[Buffer], strategy: str, *, arena_alignment: int = 16) -> Plan:
    """First fit, buffers taken in the given order."""
    offsets: dict[str, int] = {}
    placed: list[Buffer] = []
    buffers = list(buffers)
    groups = pin_groups(buffers)
    for buf in buffers:
        if place_pinned(buf, groups, placed, offsets):
            continue
        conflicts = sorted((offsets[p.name], p.size) for p in placed if p.size and p.overlaps_in_time(buf))
        offset = 0
        for start, size in conflicts:
            if align_up(offset, buf.alignment) + buf.size <= start:
                break
            offset = max(offset, start + size)
        offsets[buf.name] = align_up(offset, buf.alignment)
        placed.append(buf)
    end = max((offsets[b.name] + b.size for b in placed), default=0)
    return Plan(offsets, align_up(end, arena_alignment), strategy)


def _ordered(key: Callable[[Buffer], tuple], name: str):
    def strategy(buffers: Sequence[Buffer]) -> Plan:
        return place_in_order(sorted(buffers, key=key), name)
    strategy.__name__ = name
    return strategy


greedy_by_first_use = _ordered(lambda b: (b.first, -b.size, b.rank, b.name), "greedy-by-first-use")
greedy_by_lifetime = _ordered(lambda b: (-(b.last - b.first), -b.size, b.rank, b.name), "greedy-by-lifetime")
greedy_by_area = _ordered(lambda b: (-(b.last - b.first + 1) * b.size, b.rank, b.name), "greedy-by-area")


def exhaustive(buffers: Sequence[Buffer]) -> Plan:
    """Every placement order of a small buffer list (falls back to greedy-by-size beyond that)."""
    live = [b for b in buffers if b.size]
    if len(live) > EXACT_MAX_BUFFERS:
        return place_in_order(sorted(buffers, key=lambda b: (-b.size, b.first, b.rank, b.name)), "exhaustive")
    empty = [b for b in buffers if not b.size]
    best = None
    for order in itertools.permutations(sorted(live, key=lambda b: (b.rank, b.name))):
        plan = place_in_order(list(order) + empty, "exhaustive")
        if best is None or plan.arena_size < best.arena_size:
            best = plan
    return best if best is not None else place_in_order(empty, "exhaustive")
