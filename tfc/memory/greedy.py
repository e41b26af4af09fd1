"""Greedy by size, as TensorFlow Lite Micro's GreedyMemoryPlanner: place the largest buffer
first, each at the lowest aligned offset where it overlaps no already-placed buffer that is
alive at the same time."""
from __future__ import annotations

from typing import Sequence

from tfc.memory.buffers import Buffer, Plan, align_up, pin_groups, place_pinned


def greedy_by_size(buffers: Sequence[Buffer], *, arena_alignment: int = 16) -> Plan:
    # Ties broken by first use, then rank and name, so the same buffers always give the same plan.
    order = sorted(buffers, key=lambda b: (-b.size, b.first, b.rank, b.name))
    offsets: dict[str, int] = {}
    placed: list[Buffer] = []
    groups = pin_groups(buffers)
    for buf in order:
        if place_pinned(buf, groups, placed, offsets):
            continue
        conflicts = sorted((offsets[p.name], p.size) for p in placed if p.overlaps_in_time(buf) and p.size)
        offset = 0
        for start, size in conflicts:
            if offset + buf.size <= start:
                break  # fits in the gap below this buffer
            offset = max(offset, align_up(start + size, buf.alignment))
        offsets[buf.name] = align_up(offset, buf.alignment)
        placed.append(buf)
    end = max((offsets[b.name] + b.size for b in buffers), default=0)
    return Plan(offsets, align_up(end, arena_alignment), "greedy-by-size")
