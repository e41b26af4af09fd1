"""Choosing among the planning strategies: every registered one runs, the smallest arena wins."""
from __future__ import annotations

from typing import Callable, Sequence

from tfc.memory.buffers import Buffer, Plan
from tfc.memory.check import check_plan
from tfc.memory.greedy import greedy_by_size

Strategy = Callable[[Sequence[Buffer]], Plan]

# A later plan-memory pass adds strategies here (greedy by breadth, by first use, ...).
STRATEGIES: dict[str, Strategy] = {"greedy-by-size": greedy_by_size}


def plan_memory(buffers: Sequence[Buffer], strategies: Sequence[str] | None = None, *,
                check: bool = True) -> Plan:
    """The smallest plan among `strategies` (default: all), each checked when `check`."""
    names = list(strategies) if strategies is not None else list(STRATEGIES)
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown or not names:
        raise ValueError(f"unknown memory planning strategies {unknown}; known: {sorted(STRATEGIES)}")
    best = None
    for name in names:
        plan = STRATEGIES[name](buffers)
        if check:
            check_plan(buffers, plan)
        if best is None or plan.arena_size < best.arena_size:
            best = plan
    return best
