"""Checks on a plan, independent of the planner that made it: no two buffers alive at the same
step share a byte, every offset is aligned, everything fits; and the lower bound any plan needs."""
from __future__ import annotations

from typing import Sequence

from tfc.memory.buffers import Buffer, Plan, pin_groups


class PlanError(AssertionError):
    """A plan that would corrupt data (a bug in a planner, never a user error)."""


def check_plan(buffers: Sequence[Buffer], plan: Plan) -> None:
    """Raise PlanError naming the first offending buffers; return None when the plan is sound."""
    names = [b.name for b in buffers]
    if len(set(names)) != len(names):
        raise PlanError("buffer names are not unique")
    missing = [n for n in names if n not in plan.offsets]
    if missing:
        raise PlanError(f"no offset for buffer(s) {missing}")
    for b in buffers:
        off = plan.offsets[b.name]
        if off < 0 or off % b.alignment:
            raise PlanError(f"buffer {b.name} at offset {off} is not aligned to {b.alignment}")
        if off + b.size > plan.arena_size:
            raise PlanError(f"buffer {b.name} [{off}, {off + b.size}) ends past the arena ({plan.arena_size} B)")
    groups = pin_groups(buffers)
    for name, group in groups.items():
        base = {plan.offsets[b.name] - d for b, d in group}
        if len(base) != 1:
            raise PlanError(f"buffer {name} is pinned with {[b.name for b, _ in group]} but not at their offsets")
    # Sweep in offset order: only buffers whose byte ranges overlap need a lifetime comparison.
    placed = sorted((b for b in buffers if b.size > 0), key=lambda b: plan.offsets[b.name])
    for i, a in enumerate(placed):
        a_end = plan.offsets[a.name] + a.size
        for b in placed[i + 1:]:
            if plan.offsets[b.name] >= a_end:
                break
            if a.overlaps_in_time(b) and b.name not in {m.name for m, _ in groups.get(a.name, ())}:
                raise PlanError(
                    f"buffers {a.name} [{plan.offsets[a.name]}, {a_end}) steps {a.first}..{a.last} and "
                    f"{b.name} [{plan.offsets[b.name]}, {plan.offsets[b.name] + b.size}) steps "
                    f"{b.first}..{b.last} overlap while both are live")


def live_at(buffers: Sequence[Buffer], step: int) -> list[Buffer]:
    return [b for b in buffers if b.first <= step <= b.last]


def live_bytes(buffers: Sequence[Buffer], step: int, groups=None) -> int:
    """Bytes live at `step`; pinned buffers share their bytes, so a pin group counts as the extent
    of its live members (`groups`: pin_groups(buffers), passed in when called per step)."""
    groups = pin_groups(buffers) if groups is None else groups
    extent: dict[str, tuple[int, int]] = {}
    for b in live_at(buffers, step):
        if b.name in groups:
            d = dict((x.name, d) for x, d in groups[b.name])[b.name]
            key = min(x.name for x, _ in groups[b.name])
        else:
            d, key = 0, b.name
        lo, hi = extent.get(key, (d, d + b.size))
        extent[key] = (min(lo, d), max(hi, d + b.size))
    return sum(hi - lo for lo, hi in extent.values())


def lower_bound(buffers: Sequence[Buffer]) -> int:
    """The most bytes live at any one step: no plan can use a smaller arena (alignment aside)."""
    if not buffers:
        return 0
    steps = range(min(b.first for b in buffers), max(b.last for b in buffers) + 1)
    groups = pin_groups(buffers)
    return max(live_bytes(buffers, s, groups) for s in steps)


def peak(buffers: Sequence[Buffer]) -> tuple[int, int]:
    """(bytes, step) of the first step where the most bytes are live."""
    steps = range(min(b.first for b in buffers), max(b.last for b in buffers) + 1)
    groups = pin_groups(buffers)
    return max(((live_bytes(buffers, s, groups), s) for s in steps), key=lambda t: (t[0], -t[1]))
