"""tile: run the first, largest layers band by band (fused tiles, MCUNetV2's patch-based
inference) where that brings the arena below the layer-by-layer plan, within a budget of
recomputed multiply-accumulates.

Candidates: every run of layers from the model's first layer through a later one (past the
untiled plan's peak; only the last layer's output may leave the run), its output cut into bands
of 1, 2, 3, 4, 6, 8, ... rows (tfc.kernels.tiles), in three schedules: top-down or bottom-up
bands that recompute the halo rows their neighbour also computes (those are the extra MACs), and
top-down bands that keep their halo rows in the band buffers for the next band (no extra MACs,
bigger band buffers, a memmove per band). A second region may then cover the peak the first one
leaves: runs of layers around that peak, after the first region, within the budget left. Then
tile_chain re-bands, splits and adds regions while that lowers the peak (chains of regions).

The budget `extra_macs` is a fraction of the model's MACs (tfc.compile(..., extra_macs=0.10));
0 keeps only the schedules that add none. A budget given (0 included) always tiles for the
smallest arena within it. Without one (tfc.compile's default, None) the pass takes budget 0 only
where the untiled arena does not fit the target's SRAM (less the stack the generated program
reserves) and otherwise leaves the model layer by layer: a model that fits keeps its speed (a
tiled model runs more instructions) and its compile time (the search plans dozens of arenas).
Each candidate within budget is planned exactly as plan-memory will plan it
(tfc.kernels.lowering.plan_arena: the kernels' scratch, in-place and pinned buffers); the
smallest arena wins if it is smaller than the plan without it (ties: fewer extra MACs). The
choice is node meta (tile-region, tile-bands, tile-order, tile-reuse), so dumps show it and
plan-memory, lowering and the C backend follow it. Outputs are bit-exact with the untiled build:
each kernel call is the untiled kernel on a sub-tensor with the padding the untiled layer has at
those rows.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tfc.errors import TfcError, UnsupportedError
from tfc.kernels import select
from tfc.kernels.lowering import plan_arena
from tfc.kernels.tiles import ORDERS, clear_regions, make_region
from tfc.memory import peak
from tfc.passes.base import Pass, PassContext, PassResult, register_pass
from tfc.passes.tile_chain import lower_peaks, mark_candidate
from tfc.targets import Target
from tfc.targets.cortex_m.build import DEFAULT_STACK

BAND_ROWS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
SCHEDULES = (("top-down", False), ("bottom-up", False), ("top-down", True))   # (order, keep halo rows)
MAX_REGION_LAYERS = 16
MAX_REGIONS = 2          # by the search below; tile_chain may then split and add regions


@dataclass(frozen=True)
class TileCandidate:
    """One schedule the pass weighed: layers first..last in bands of `rows` rows, run in `order`."""

    first: int
    last: int
    rows: int
    order: str
    reuse: bool                # halo rows kept between bands (no extra MACs)
    bands: int
    extra_macs: int
    extra_fraction: float      # of the model's MACs
    arena_bytes: int | None    # None: over the budget, not planned
    chosen: bool = False
    region: str = "tile0"

    def row(self) -> str:
        arena = f"{self.arena_bytes:>9,}" if self.arena_bytes is not None else f"{'-':>9}"
        span = f"{self.first}..{self.last}"
        return (f"  {'*' if self.chosen else ' '} layers {span:<6} {self.bands:>3} x {self.rows:>2} rows "
                f"{self.order + (' keep' if self.reuse else ''):<14} {self.extra_macs:>11,} {100 * self.extra_fraction:>6.2f} %  {arena} B")


def format_candidates(base_arena: int, candidates) -> str:
    """The peak-SRAM vs extra-MACs table of the candidate schedules."""
    lines = [f"fused tiles: untiled arena {base_arena:,} B; candidates (- : over the extra-MAC budget, not planned)",
             f"    {'region':<14} {'bands':>11} {'order':<14} {'extra MACs':>11} {'':>8}  {'arena':>9}"]
    lines += [c.row() for c in candidates]
    return "\n".join(lines)


@register_pass
class Tile(Pass):
    name = "tile"
    description = "run the first layers band by band (fused tiles) where it shrinks the arena, within an extra-MAC budget"

    @dataclass(frozen=True)
    class Options:
        extra_macs: float | None = None   # fraction of the model's MACs; None: tfc.compile's (default: see above)

    def run(self, graph, ctx: PassContext) -> PassResult:
        budget = self.options.extra_macs
        if budget is None:
            budget = ctx.options.get("extra_macs")
        if budget is not None and (not isinstance(budget, (int, float)) or isinstance(budget, bool) or budget < 0):
            raise TfcError(f"tile: extra_macs must be a fraction >= 0 of the model's MACs, got {budget!r}",
                           hint="e.g. extra_macs=0.10 allows 10 % more multiply-accumulates")
        target = Target.from_string(ctx.target or "cortex-m7")
        had = clear_regions(graph)
        if not graph.nodes or any(v.dtype.is_float for n in graph.nodes for v in n.outputs):
            return PassResult(changed=had, notes="not an int8 graph: nothing tiled (run quantize-int8 first)")
        base = plan_arena(graph, target=target)
        if budget is None:   # the default: tile, adding no MACs, only a model that does not fit
            room = target.sram_bytes - DEFAULT_STACK
            if base.arena_bytes <= room:
                return PassResult(changed=had, notes=f"fused tiles off: the untiled arena ({base.arena_bytes:,} B) fits "
                                                     f"{target.name}'s SRAM less the stack ({room:,} B); give a budget "
                                                     "to tile anyway (extra_macs=0.10, --extra-macs 0.10; 0: only "
                                                     "schedules without extra MACs)")
            budget = 0
        total = sum(n.spec.macs(n) for n in graph.nodes) or 1
        bandable = self._bandable(graph)
        # Region 0 runs from the first layer through the peak or past it; each further region
        # covers the peak the tiled plan leaves, after the regions before it.
        arena, chosen, weighed = base.arena_bytes, [], []
        while len(chosen) < MAX_REGIONS:
            if chosen:
                step = peak(plan_arena(graph, target=target).allocation.buffers)[1]
                if step <= chosen[-1].last:
                    break
                firsts, lasts = range(max(chosen[-1].last + 1, step - 3), step + 1), range(step, step + 9)
            else:
                firsts, lasts = (0,), range(peak(base.allocation.buffers)[1], MAX_REGION_LAYERS)
            left = float(budget) * total - sum(c.extra_macs for c in chosen)
            found = self._candidates(graph, target, bandable, firsts, lasts, left, total, f"tile{len(chosen)}")
            planned = [c for c in found if c.arena_bytes is not None and c.arena_bytes < arena]
            best = min(planned, key=lambda c: (c.arena_bytes, c.extra_macs, c.reuse, c.last - c.first, -c.rows,
                                               ORDERS.index(c.order)), default=None)
            if best is None:
                weighed += found
                break
            weighed += [dataclasses.replace(c, chosen=True) if c is best else c for c in found]
            self._mark(graph, best)
            chosen.append(best)
            arena = best.arena_bytes
        if chosen:   # then split regions or add ones while the arena's peak comes down
            def search(firsts, lasts, left, name, only=None):
                return self._candidates(graph, target, bandable, firsts, lasts, left, total, name, only)
            # with no MACs beyond the first choices': recomputed 1-row bands cost instructions
            # (VWW-96 28,912 B at 1.21x with them, measured)
            chosen, arena, taken = lower_peaks(graph, target, chosen, arena, search,
                                               sum(c.extra_macs for c in chosen))
            final = {(c.first, c.last, c.rows, c.order, c.reuse): c.region for c in chosen}
            weighed = [dataclasses.replace(c, chosen=c.chosen and (c.first, c.last, c.rows, c.order, c.reuse) in final,
                                           region=final.get((c.first, c.last, c.rows, c.order, c.reuse), c.region))
                       for c in weighed] + taken
        stats = {"arena-before": base.arena_bytes, "candidates": len(weighed)}
        ctx.findings["tile"] = (base.arena_bytes, tuple(weighed))
        notes = format_candidates(base.arena_bytes, weighed)
        if not chosen:
            why = (f"no schedule within {budget:.0%} extra MACs lowers the arena ({base.arena_bytes:,} B)")
            ctx.decline("fused-tiles", graph.nodes[0].name, why)
            return PassResult(changed=had, stats=stats, notes=notes)
        stats.update({"arena-after": arena, "extra-macs": sum(c.extra_macs for c in chosen), "regions": len(chosen),
                      "region-layers": sum(c.last - c.first + 1 for c in chosen)})
        return PassResult(changed=True, stats=stats, notes=notes)

    _mark = staticmethod(mark_candidate)

    @staticmethod
    def _bandable(graph) -> list[bool]:
        """Per node: whether a kernel that runs on bands of rows can run it."""
        def bandable(node):
            try:
                select(node, banded=True)
            except UnsupportedError:
                return False
            return True
        return [bandable(n) for n in graph.nodes]

    def _candidates(self, graph, target, bandable, firsts, lasts, macs_left: float, total: int,
                    name: str, only=None) -> list[TileCandidate]:
        """only: (rows, order, reuse) to weigh just that schedule."""
        params = {}

        def kernel_of(node):
            if id(node) not in params:
                kernel = select(node, banded=True)
                params[id(node)] = (kernel, kernel.params(node))
            return params[id(node)]
        out = []
        for first in firsts:
            for last in lasts:
                if last < first or last >= len(graph.nodes) or last - first >= MAX_REGION_LAYERS:
                    continue
                if not all(bandable[first:last + 1]):
                    break   # a longer run would include the same kernel
                node = graph.nodes[last]
                h = int(node.output.shape[1]) if len(node.output.shape) == 4 else 0
                counts = {}
                for r in BAND_ROWS:   # one band height per band count: the smallest
                    if r < h:
                        counts.setdefault(-(-h // r), r)
                for rows in counts.values():
                    for order, reuse in SCHEDULES:
                        if only is not None and only != (rows, order, reuse):
                            continue
                        region = make_region(graph, graph.nodes[first:last + 1], [*range(0, h, rows), h], kernel_of,
                                             order=order, reuse=reuse, name=name)
                        if isinstance(region, str):
                            break
                        extra = region.extra_macs()
                        c = TileCandidate(first, last, rows, order, reuse, len(region.bands), extra, extra / total,
                                          None, region=name)
                        if extra <= macs_left:
                            self._mark(graph, c)
                            try:
                                c = dataclasses.replace(c, arena_bytes=plan_arena(graph, target=target).arena_bytes)
                            finally:
                                clear_regions(graph, name)
                        out.append(c)
        return out
