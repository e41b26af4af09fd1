"""Pinned buffers (Buffer.pin): a fused-tile region's output placed at a fixed offset inside its
dying input. Every strategy places the pair together, the checker accepts their shared bytes
(and only theirs) and insists on the offset, and the lower bound counts the pair's extent once."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tfc.memory import STRATEGIES, Buffer, Plan, PlanError, check_plan, lower_bound, plan_memory


def _region():
    # input (step 0..2) dies into the output (written from step 1), 96 bytes past the input's start
    return [Buffer("x", 256, 0, 2), Buffer("band", 64, 1, 2), Buffer("y", 160, 1, 4, pin="x", pin_offset=96),
            Buffer("next", 96, 3, 4)]


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_strategy_places_the_pinned_pair_together(strategy):
    bufs = _region()
    plan = plan_memory(bufs, [strategy])
    assert plan.offsets["y"] == plan.offsets["x"] + 96
    check_plan(bufs, plan)


def test_the_low_bytes_the_input_leaves_are_reused():
    plan = plan_memory(_region())
    # `next` (96 B, after the region) fits below the output, in the input's first 96 bytes
    assert plan.offsets["next"] + 96 <= plan.offsets["y"] or plan.offsets["next"] >= plan.offsets["y"] + 160
    assert plan.arena_size == 256 + 64


def test_checker_insists_on_the_pin_and_allows_only_the_pair_to_share():
    bufs = _region()
    with pytest.raises(PlanError, match="pinned"):
        check_plan(bufs, Plan({"x": 0, "band": 256, "y": 0, "next": 0}, 320, "bad"))
    with pytest.raises(PlanError, match="overlap while both are live"):
        check_plan(bufs, Plan({"x": 0, "band": 96, "y": 96, "next": 0}, 320, "bad"))
    check_plan(bufs, Plan({"x": 0, "band": 256, "y": 96, "next": 0}, 320, "good"))


def test_lower_bound_counts_the_pair_once():
    # steps 1..2: the pair spans bytes 0..256 of its base, plus the band buffer
    assert lower_bound(_region()) == 256 + 64


@given(st.lists(st.tuples(st.integers(1, 200), st.integers(0, 6), st.integers(0, 4)), min_size=1, max_size=8),
       st.integers(0, 12))
def test_random_buffers_around_a_pinned_pair_plan_soundly(others, offset16):
    bufs = [Buffer("x", 300, 0, 3), Buffer("y", 100, 2, 7, pin="x", pin_offset=16 * offset16)]
    bufs += [Buffer(f"b{i}", size, first, first + span) for i, (size, first, span) in enumerate(others)]
    for name in STRATEGIES:
        plan = plan_memory(bufs, [name])   # checked
        assert plan.offsets["y"] - plan.offsets["x"] == 16 * offset16
