"""Choosing among the planning strategies: every registered one runs, the smallest arena wins."""
from __future__ import annotations

from typing import Callable, Sequence

from tfc.memory.buffers import Buffer, Plan
from tfc.memory.check import check_plan
from tfc.memory.greedy import greedy_by_size
from tfc.memory.strategies import exhaustive, greedy_by_area, greedy_by_first_use, greedy_by_lifetime

Strategy = Callable[[Sequence[Buffer]], Plan]

# All are tried and the smallest arena wins (ties: the first listed), so the plan is a pure,
# deterministic function of the buffers.
STRATEGIES: dict[str, Strategy] = {
    "greedy-by-size": greedy_by_size,          # TFLite Micro's GreedyMemoryPlanner
    "greedy-by-first-use": greedy_by_first_use,
    "greedy-by-lifetime": greedy_by_lifetime,
    "greedy-by-area": greedy_by_area,
    "exhaustive": exhaustive,                  # every placement order, for small graphs
}


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
