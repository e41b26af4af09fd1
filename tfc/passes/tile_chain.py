"""Chains of fused-tile regions: after the tile pass's first choices, keep lowering the arena's
peak, one step at a time.

A region that runs many layers band by band holds all their band buffers while its (whole)
input is still live: on MobileNetV2-0.35 @144, layers 0..8 in one region need the 62,208-byte
image plus 43,776 bytes of band buffers. Two shorter regions back to back need less: the first
one's output is a whole tensor, and it may overlay the image's consumed rows. So, while the peak
step lies in a region, try other bands for it, and splitting it in two at each inner layer (each
part with its own bands, searched like the tile pass's candidates); while it lies outside every
region, try regions around it. A change is taken only if it lowers the arena (ties: the lower peak over the
steps it touches, so that later rounds have less to do), within the extra-MAC budget left.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from tfc.kernels.lowering import plan_arena
from tfc.kernels.tiles import clear_regions, mark_region
from tfc.memory import live_bytes, peak
from tfc.memory.buffers import pin_groups

MAX_CHAIN_REGIONS = 8
AROUND_BEFORE, AROUND_AFTER = 3, 5      # a new region starts <= 3 layers before the peak, ends <= 5 after

# search(firsts, lasts, macs_left, name, only=None) -> the TileCandidates (arena_bytes None: over budget);
# only: (rows, order, reuse) to weigh just that schedule
Search = Callable[..., list]


def mark_candidate(graph, c) -> None:
    h = int(graph.nodes[c.last].output.shape[1])
    mark_region(graph.nodes[c.first:c.last + 1], [*range(0, h, c.rows), h], c.order, name=c.region, reuse=c.reuse)


def _plan_key(graph, target, first: int, last: int) -> tuple[int, int, int]:
    """(most bytes live at one step, most bytes live over steps first..last, arena) of the graph
    as marked. The live bytes lead: the planner's arena may waste bytes around a peak that later
    rounds remove, so ranking by the arena alone stops at the wrong split."""
    plan = plan_arena(graph, target=target)
    buffers = plan.allocation.buffers
    groups = pin_groups(buffers)
    return (peak(buffers)[0], max(live_bytes(buffers, s, groups) for s in range(first, last + 1)),
            plan.arena_bytes)


def _best(graph, target, options, first: int, last: int, marked=()):
    """The option (candidate) with the smallest (arena, local peak), planned with `marked` and
    the option marked; None if none was planned."""
    planned = sorted((c for c in options if c.arena_bytes is not None),
                     key=lambda c: (c.arena_bytes, c.extra_macs, c.reuse, -c.rows))
    if not planned:
        return None
    ties = [c for c in planned if c.arena_bytes == planned[0].arena_bytes][:8]
    scored = []
    for c in ties:
        mark_candidate(graph, c)
        try:
            scored.append((_plan_key(graph, target, first, last), c.extra_macs, c))
        finally:
            clear_regions(graph, c.region)
    return min(scored, key=lambda t: (t[0], t[1]))[2]


def _fresh_name(chosen) -> str:
    taken = {c.region for c in chosen}
    return next(f"tile{k}" for k in range(len(chosen) + 1) if f"tile{k}" not in taken)


def _split(graph, target, holder, chosen, search: Search, macs_left: float):
    """The best split of region `holder` into [first..k-1] and [k..last]: (key, part1, part2) or None."""
    others = sum(c.extra_macs for c in chosen if c is not holder)
    name = _fresh_name(chosen)
    clear_regions(graph, holder.region)
    best = None
    try:
        for k in range(holder.first + 1, holder.last + 1):
            # The second part keeps the holder's bands first; the first part is searched with it.
            tail = search((k,), (holder.last,), macs_left - others, holder.region,
                          (holder.rows, holder.order, holder.reuse))
            if not tail or tail[0].arena_bytes is None:
                continue
            mark_candidate(graph, tail[0])
            head = _best(graph, target, search((holder.first,), (k - 1,), macs_left - others - tail[0].extra_macs,
                                               name), holder.first, holder.last)
            if head is not None:
                mark_candidate(graph, head)
                key = _plan_key(graph, target, holder.first, holder.last)
                clear_regions(graph, head.region)
                if best is None or key < best[0]:
                    best = (key, head, tail[0])
            clear_regions(graph, holder.region)
        if best is not None:
            # Then the best split's second part is searched again with its first part's bands.
            _, head, tail = best
            mark_candidate(graph, head)
            tail = _best(graph, target, search((tail.first,), (holder.last,), macs_left - others - head.extra_macs,
                                               holder.region), holder.first, holder.last)
            if tail is not None:
                mark_candidate(graph, tail)
                key = _plan_key(graph, target, holder.first, holder.last)
                clear_regions(graph, tail.region)
                best = min(best, (key, head, tail), key=lambda t: t[0])
            clear_regions(graph, head.region)
    finally:
        mark_candidate(graph, holder)
    return best


def _reband(graph, target, holder, chosen, search: Search, macs_left: float):
    """The best other bands for region `holder` as it stands: (key, region) or None."""
    others = sum(c.extra_macs for c in chosen if c is not holder)
    clear_regions(graph, holder.region)
    try:
        region = _best(graph, target, search((holder.first,), (holder.last,), macs_left - others, holder.region),
                       holder.first, holder.last)
        if region is None or (region.rows, region.order, region.reuse) == (holder.rows, holder.order, holder.reuse):
            return None
        mark_candidate(graph, region)
        key = _plan_key(graph, target, holder.first, holder.last)
        clear_regions(graph, region.region)
        return key, region
    finally:
        mark_candidate(graph, holder)


def _around(graph, target, step: int, chosen, search: Search, macs_left: float):
    """The best new region over the peak `step`, outside the chosen regions: (key, region) or None."""
    before = max((c.last + 1 for c in chosen if c.last < step), default=0)
    after = min((c.first - 1 for c in chosen if c.first > step), default=len(graph.nodes) - 1)
    firsts = range(max(before, step - AROUND_BEFORE), step + 1)
    lasts = range(step, min(after, step + AROUND_AFTER) + 1)
    lo, hi = firsts[0], lasts[-1]
    region = _best(graph, target, search(firsts, lasts, macs_left - sum(c.extra_macs for c in chosen),
                                         _fresh_name(chosen)), lo, hi)
    if region is None:
        return None
    mark_candidate(graph, region)
    try:
        return _plan_key(graph, target, lo, hi), region
    finally:
        clear_regions(graph, region.region)


def lower_peaks(graph, target, chosen: list, arena: int, search: Search, budget: float):
    """Split or add regions while that lowers the most bytes live at one step; keep the chain
    whose arena was smallest. `chosen`: the regions marked in the graph (TileCandidates);
    returns (chosen, arena, the candidates taken) with the graph marked as chosen."""
    plan = plan_arena(graph, target=target)
    bound = peak(plan.allocation.buffers)[0]
    best, chain, taken = (arena, list(chosen), []), list(chosen), []
    while chain and len(chain) < MAX_CHAIN_REGIONS:
        step = peak(plan_arena(graph, target=target).allocation.buffers)[1]
        holder = next((c for c in chain if c.first <= step <= c.last), None)
        if holder is not None:
            options = [_reband(graph, target, holder, chain, search, budget)]
            if holder.first < holder.last:
                options.append(_split(graph, target, holder, chain, search, budget))
            found = min((o for o in options if o is not None), key=lambda o: o[0], default=None)
            if found is None or found[0][0] >= bound:
                break
            clear_regions(graph, holder.region)
            new = list(found[1:])
            chain[chain.index(holder):chain.index(holder) + 1] = new
        else:
            found = _around(graph, target, step, chain, search, budget)
            if found is None or found[0][0] >= bound:
                break
            new = [found[1]]
            chain = sorted(chain + new, key=lambda c: c.first)
        bound, _, size = found[0]
        for c in new:
            mark_candidate(graph, c)
        taken += [dataclasses.replace(c, arena_bytes=size) for c in new]
        if size < best[0]:
            best = (size, list(chain), list(taken))
    arena, chain, taken = best
    # Back to the best chain (the last rounds may not have paid), its regions named tile0,
    # tile1, ... in execution order.
    names = {c.region: f"tile{k}" for k, c in enumerate(sorted(chain, key=lambda c: c.first))}
    chain = [dataclasses.replace(c, region=names[c.region]) for c in chain]
    clear_regions(graph)
    for c in chain:
        mark_candidate(graph, c)
    final = {_schedule(c) for c in best[1]}
    return chain, arena, [dataclasses.replace(c, chosen=True, region=names[c.region]) if _schedule(c) in final
                          else c for c in taken]


def _schedule(c) -> tuple:
    return c.first, c.last, c.rows, c.order, c.reuse
