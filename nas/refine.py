"""Sparsity refinement: after the evolution, sparsify the best sub-networks layer by layer where
tfc's compiled cost says it pays.

Evolution draws each layer's (density, block) at random, so the few records of the fastest
sub-networks rarely carry the densities that make tfc choose a sparse kernel in the layers that
dominate their instructions (measured: the winner of a 384-genome run had one record for its arch,
and tfc kept all its pruned layers dense). Here each of the best sub-networks goes through a
greedy coordinate descent, largest layer first:

1. genes that buy nothing are dropped: a pruned layer goes back to dense when that does not add
   instructions (tfc kept it dense anyway, or its sparse kernel was no faster), so no accuracy is
   spent for nothing;
2. each layer takes, among its lower densities and block sizes, the candidate with the fewest
   instructions that still fits the budget and keeps the supernet's pruned accuracy at or above
   `floor` (the winner rule's accuracy band), if it has fewer instructions than the current one.

Every candidate goes through the same `Evaluator` (one tfc compile: the sparsify pass sees the
zero pattern and picks dense or sparse; one accuracy pass), so refined records are ordinary records
and the winner rule applies to them unchanged.
"""
from __future__ import annotations

import torch

from nas.cost import layer_shapes
from nas.evolution import Genome, is_depthwise

DENSITIES = (0.25, 0.35, 0.5)     # where tfc's sparse kernels can beat dense ones (0.75 rarely does)
BLOCKS = (1, 4)                   # finest pattern (accuracy) and the fast brle kernels' block


def with_gene(g: Genome, layer: str, density: float, block: int) -> Genome:
    block = 1 if density >= 1.0 or is_depthwise(layer) else block
    return Genome(g.arch, tuple((n, density, block) if n == layer else (n, d, b) for n, d, b in g.sparsity))


def _good(rec: dict, floor: float) -> bool:
    return bool(rec["fits"]) and rec.get("accuracy", -1.0) >= floor


def layers_by_work(ev, g: Genome, example: torch.Tensor) -> list[str]:
    """The arch's prunable layers, most MACs first (they have the most instructions to save)."""
    macs = {s.prunable: s.rows * s.reduction * s.pixels for s in layer_shapes(ev.static(g.arch), example)
            if s.prunable}
    return sorted((n for n, _, _ in g.sparsity), key=lambda n: -macs.get(n, 0))


def refine(ev, start: dict, floor: float, order: list[str]) -> dict:
    """The refined record of `start`'s sub-network (`start` itself when nothing pays); `order`: the
    layers in the order they are tried (`layers_by_work`). `ev.evaluate(genome)` gives a record."""
    g = Genome.from_dict(start["genome"])
    cur = ev.evaluate(g)
    for name, d, _ in g.sparsity:               # 1: drop genes that buy nothing
        if d < 1.0:
            cand = with_gene(g, name, 1.0, 1)
            rec = ev.evaluate(cand)
            if _good(rec, floor) and rec["instructions"] <= cur["instructions"]:
                g, cur = cand, rec
    for name in order:                           # 2: sparsify where tfc's kernels pay
        density = g.sparsity_dict()[name][0]
        blocks = (1,) if is_depthwise(name) else BLOCKS
        tried = ev.evaluate_many([with_gene(g, name, d, b) for d in DENSITIES if d < density for b in blocks])
        ok = [r for r in tried if _good(r, floor) and r["instructions"] < cur["instructions"]]
        if ok:
            cur = min(ok, key=lambda r: (r["instructions"], -r["accuracy"]))
            g = Genome.from_dict(cur["genome"])
    return cur


def candidates(records: list[dict], floor: float, n: int) -> list[dict]:
    """The fastest record of each of the `n` fastest sub-networks inside the accuracy band."""
    best: dict[str, dict] = {}
    for r in records:
        if _good(r, floor):
            arch = r["key"].split("#")[0]
            if arch not in best or r["instructions"] < best[arch]["instructions"]:
                best[arch] = r
    return sorted(best.values(), key=lambda r: r["instructions"])[:n]


MIN_SAVING = 0.01     # a layer stays pruned only where that saves this share of the network's instructions


def hardened(g: Genome, density: float, dw_density: float, block: int = 4) -> Genome:
    """`g` with every pointwise conv and linear at most at `density` (in blocks of `block`, the fast
    brle kernels' block) and every depthwise conv at most at `dw_density` (per tap)."""
    def gene(n, d, b):
        target = dw_density if is_depthwise(n) else density
        if target >= d:
            return n, d, b
        return n, target, 1 if is_depthwise(n) else block
    return Genome(g.arch, tuple(gene(n, d, b) for n, d, b in g.sparsity))


def harden(ev, start: dict, density: float, dw_density: float) -> dict:
    """The sparse version a finalist is fine-tuned as: its pointwise convs and linears pruned to
    `density` and its depthwise convs to `dw_density` (per tap) where tfc's kernels make that pay,
    judged by the compiled cost alone. The supernet's accuracy of a network pruned that hard
    without fine-tuning says little (it collapses; fine-tuning with gradual pruning recovers it), so
    it does not screen densities here; the finalists' fine-tune judges the result. Layers whose
    pruning saves less than MIN_SAVING of the instructions (tfc kept them dense, or their sparse
    kernel is hardly faster) go back to `start`'s gene, so no accuracy is spent for nothing.
    Per-layer costs add up, so each layer's revert is measured against the hardened network (one
    batch of compiles) and the kept ones combined."""
    g = Genome.from_dict(start["genome"])
    hard = hardened(g, density, dw_density)
    if hard == g:
        return start
    cur = ev.evaluate(hard)
    if not cur["fits"] or cur["instructions"] >= start["instructions"]:
        return start
    changed = [(n, d, b) for (n, d, b), (_, hd, _) in zip(g.sparsity, hard.sparsity) if hd < d]   # start's genes
    reverted = ev.evaluate_many([with_gene(hard, n, d, b) for n, d, b in changed])
    keep = hard
    for (n, d, b), rec in zip(changed, reverted):
        if rec["fits"] and rec["instructions"] - cur["instructions"] < MIN_SAVING * cur["instructions"]:
            keep = with_gene(keep, n, d, b)
    out = ev.evaluate(keep)
    return out if out["fits"] and out["instructions"] < start["instructions"] else start
