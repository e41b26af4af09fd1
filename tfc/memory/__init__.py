"""Static memory planning: buffers with lifetimes and sizes in, offsets in one arena out.

    buffers = graph_buffers(graph, scratch_bytes=lambda node: ...)   # liveness, aliases, scratch
    plan = plan_memory(buffers)                                       # best of the strategies
    check_plan(buffers, plan)                                         # proves no live overlap
    lower_bound(buffers)                                              # max bytes live at one step

The planners are pure functions of the buffer list; everything graph-specific is in liveness.
"""
from tfc.memory.buffers import Buffer, Plan, align_up  # noqa: F401
from tfc.memory.check import PlanError, check_plan, live_at, live_bytes, lower_bound, peak  # noqa: F401
from tfc.memory.greedy import greedy_by_size  # noqa: F401
from tfc.memory.liveness import Allocation, TiledSpan, graph_buffers, is_reshape  # noqa: F401
from tfc.memory.planner import STRATEGIES, plan_memory  # noqa: F401
