"""The plan drawn for humans: one row per buffer, one column per step, bars where it lives."""
from __future__ import annotations

from typing import Sequence

from tfc.memory.buffers import Buffer, Plan
from tfc.memory.check import live_bytes

MAX_COLUMNS = 80


def draw_timeline(buffers: Sequence[Buffer], plan: Plan, step_names: Sequence[str] = ()) -> str:
    """ASCII timeline, rows sorted by offset; `#` live, `.` not yet/no longer. Long graphs are
    sampled to at most MAX_COLUMNS columns."""
    if not buffers:
        return "(no buffers)"
    first = min(b.first for b in buffers)
    last = max(b.last for b in buffers)
    steps = list(range(first, last + 1))
    stride = max(1, -(-len(steps) // MAX_COLUMNS))
    cols = steps[::stride]
    width = max(len(b.name) for b in buffers)
    width = min(width, 28)
    lines = [f"arena {plan.arena_size} B, strategy {plan.strategy}; steps {first}..{last}"
             + (f" (every {stride}th shown)" if stride > 1 else "")]
    lines.append(f"{'buffer':<{width}} {'offset':>8} {'size':>7}  " + "".join(str(s % 10) for s in cols))
    for b in sorted(buffers, key=lambda b: (plan.offsets[b.name], b.first, b.name)):
        bar = "".join("#" if b.first <= s <= b.last else "." for s in cols)
        name = b.name if len(b.name) <= width else b.name[: width - 3] + "..."
        lines.append(f"{name:<{width}} {plan.offsets[b.name]:>8} {b.size:>7}  {bar}")
    lines.append(f"{'live bytes':<{width}} {'':>8} {'':>7}  peak {max(live_bytes(buffers, s) for s in steps)} B")
    for s in steps:
        label = step_names[s] if s < len(step_names) else ""
        lines.append(f"  step {s:>3}: {live_bytes(buffers, s):>8} B live  {label}")
    return "\n".join(lines)
