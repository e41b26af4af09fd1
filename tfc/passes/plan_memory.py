"""plan-memory: the execution order, buffer lifetimes and arena offsets, checked and explained.

The planning itself is pure (tfc.memory): buffers with lifetimes in, offsets out, the best of
several strategies kept, a separate checker proving no two live buffers overlap, and the lower
bound (most bytes live at once) beside it. This pass adds what needs the whole graph:
- memory-aware reordering of independent branches (tfc.memory.schedule);
- the fit check: a model whose arena or weights exceed the target's SRAM or flash is an error
  that says by how many bytes and which layer is the peak;
- the plan drawn as an ASCII timeline in the IR dump.
Scratch sizes and in-place rules come from the target's kernels (tfc.kernels' lowering, the one
the C backend renders), so the numbers here are the ones the generated C will have.
"""
from __future__ import annotations

from dataclasses import dataclass

from tfc.errors import TargetError
from tfc.kernels.lowering import lower_for, plan_arena
from tfc.memory import check_plan, peak
from tfc.memory.schedule import best_order
from tfc.memory.timeline import draw_timeline
from tfc.passes.base import Pass, PassContext, PassResult, register_pass
from tfc.targets import Target


def _lowered(graph, target):
    return lower_for(graph, target=target)


def _arena_with_order(graph, target, order) -> int:
    saved = graph.nodes
    graph.nodes = list(order)
    try:
        return plan_arena(graph, target=target).arena_bytes
    finally:
        graph.nodes = saved


@register_pass
class PlanMemory(Pass):
    name = "plan-memory"
    description = "order nodes for the smallest arena, plan and check it, fail if the model does not fit"

    @dataclass(frozen=True)
    class Options:
        reorder: bool = True
        check_fit: bool = True

    def run(self, graph, ctx: PassContext) -> PassResult:
        target = Target.from_string(ctx.target or "cortex-m7")
        stats = {}
        if self.options.reorder and len(graph.nodes) > 1:
            order, info = best_order(graph, lambda o: _arena_with_order(graph, target, o))
            changed_order = [id(n) for n in order] != [id(n) for n in graph.nodes]
            graph.nodes = order
            stats.update({k: v for k, v in info.items()})
            stats["reordered"] = int(changed_order)
        model = _lowered(graph, target)
        buffers = model.allocation.buffers
        check_plan(buffers, model.plan)  # a planner bug must never reach the C
        stats.update({"arena-bytes": model.arena_bytes, "lower-bound-bytes": model.lower_bound,
                      "scratch-bytes": model.scratch_bytes})
        if self.options.check_fit:
            self._check_fit(graph, target, model)
        names = [n.name for n in graph.nodes]
        notes = "\n".join([*(r.describe() for r in model.regions), draw_timeline(buffers, model.plan, names)])
        if model.regions:
            stats["tiled-layers"] = sum(len(r.nodes) for r in model.regions)
        return PassResult(changed=bool(stats.get("reordered")), stats=stats, notes=notes)

    @staticmethod
    def _check_fit(graph, target: Target, model) -> None:
        flash = model.weight_bytes + model.quant_param_bytes
        if flash > target.flash_bytes:
            biggest = max(model.layers, key=lambda l: sum(a.nbytes for a in l.weight_arrays))
            raise TargetError(
                f"the model does not fit {target.name}: its weights and requantization parameters need "
                f"{flash:,} B of flash, the budget is {target.flash_bytes:,} B (over by {flash - target.flash_bytes:,} B); "
                f"the largest layer is '{biggest.node}' ({sum(a.nbytes for a in biggest.weight_arrays):,} B)",
                hint="prune or sparsify the model, use fewer channels, or choose a target with more flash")
        if model.arena_bytes > target.sram_bytes:
            live, step = peak(model.allocation.buffers)
            node = graph.nodes[step] if step < len(graph.nodes) else None
            raise TargetError(
                f"the model does not fit {target.name}: its activation arena needs {model.arena_bytes:,} B of SRAM, "
                f"the budget is {target.sram_bytes:,} B (over by {model.arena_bytes - target.sram_bytes:,} B); "
                f"the peak is at layer {step}" + (f" '{node.name}' ({node.op})" if node else "")
                + f" with {live:,} B live",
                node=node.name if node else None, op=node.op if node else None,
                hint="use a smaller input resolution or fewer channels at the peak layer, or a target with more SRAM")
