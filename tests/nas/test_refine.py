"""Sparsity refinement (nas.refine) on a synthetic evaluator whose costs mimic tfc's: a layer runs
sparse only at density <= 0.35 (else tfc keeps it dense), block 4 runs faster than block 1, and
pruning costs accuracy per layer."""
import random

import pytest

from nas.evolution import Genome, with_sparsity
from nas.refine import MIN_SAVING, candidates, harden, hardened, refine, with_gene
from nas.space import make_space, sample_arch

pytest.importorskip("torch")


class FakeEvaluator:
    def __init__(self, work: dict[str, float], harm: dict[str, float], max_instructions: float = float("inf")):
        self.work, self.harm, self.max_instructions = work, harm, max_instructions
        self.records: dict[str, dict] = {}

    def layer_cost(self, name, d, b):
        if d > 0.35:                       # tfc keeps it dense
            return self.work[name]
        return self.work[name] * d * (1.2 if b == 4 else 1.6)

    def evaluate_many(self, genomes) -> list[dict]:
        return [self.evaluate(g) for g in genomes]

    def evaluate(self, g: Genome) -> dict:
        instr = sum(self.layer_cost(n, d, b) for n, d, b in g.sparsity)
        acc = 0.97 - sum(self.harm[n] * (1 - d) for n, d, _ in g.sparsity)
        rec = {"genome": g.to_dict(), "key": g.key(), "instructions": instr, "accuracy": acc,
               "fits": instr <= self.max_instructions}
        return self.records.setdefault(g.key(), rec)


def _arch():
    space = make_space(in_channels=1, num_classes=10, resolution=16, width_mult=1.0, transformer_start=None)
    return sample_arch(space, random.Random(0), "max")


def test_refine_drops_useless_genes_and_sparsifies_only_where_it_pays_within_the_floor():
    arch = _arch()
    layers = list(arch.prunable_layers())
    big, sensitive, useless = layers[1], layers[0], layers[2]
    work = {n: 1000.0 for n in layers} | {big: 50_000.0, sensitive: 40_000.0}
    harm = {n: 0.001 for n in layers} | {sensitive: 0.2, useless: 0.05}
    ev = FakeEvaluator(work, harm)
    start = ev.evaluate(with_gene(Genome(arch, tuple((n, 1.0, 1) for n in layers)), useless, 0.75, 4))
    floor = 0.95
    order = sorted(layers, key=lambda n: -work[n])
    out = refine(ev, start, floor, order)
    genes = Genome.from_dict(out["genome"]).sparsity_dict()
    assert out["accuracy"] >= floor and out["instructions"] < start["instructions"]
    assert genes[sensitive] == (1.0, 1), "the layer whose pruning breaks the floor stays dense"
    big_density, big_block = genes[big]
    assert big_density == 0.25 and (big_block == 4 or big.endswith(".dw")), genes[big]
    assert genes[useless] == (1.0, 1), "a pruned layer tfc keeps dense buys nothing and goes back to dense"
    assert out["key"] in ev.records


def test_refine_returns_the_start_when_nothing_pays():
    arch = _arch()
    layers = list(arch.prunable_layers())
    ev = FakeEvaluator({n: 1000.0 for n in layers}, {n: 1.0 for n in layers})   # any pruning breaks the floor
    start = ev.evaluate(Genome(arch, tuple((n, 1.0, 1) for n in layers)))
    assert refine(ev, start, 0.96, layers) == start


def test_candidates_are_the_fastest_record_of_the_fastest_archs_inside_the_band():
    recs = [{"key": "a#1", "accuracy": 0.97, "instructions": 900, "fits": True},
            {"key": "a#2", "accuracy": 0.965, "instructions": 800, "fits": True},
            {"key": "b#1", "accuracy": 0.96, "instructions": 500, "fits": True},
            {"key": "c#1", "accuracy": 0.90, "instructions": 100, "fits": True},      # outside the band
            {"key": "d#1", "accuracy": 0.99, "instructions": 50, "fits": False}]     # over budget
    assert [r["key"] for r in candidates(recs, 0.96, 3)] == ["b#1", "a#2"]
    assert [r["key"] for r in candidates(recs, 0.96, 1)] == ["b#1"]


def test_with_gene_keeps_the_genome_consistent():
    arch = _arch()
    g = with_sparsity(arch, {}, random.Random(1))
    dw = next(n for n in arch.prunable_layers() if n.endswith(".dw"))
    assert with_gene(g, dw, 0.25, 4).sparsity_dict()[dw] == (0.25, 1), "depthwise layers are pruned per tap"
    assert with_gene(g, dw, 1.0, 4).sparsity_dict()[dw] == (1.0, 1)


def test_harden_prunes_every_layer_that_pays_whatever_the_supernet_accuracy_says():
    arch = _arch()
    layers = list(arch.prunable_layers())
    big, small, kept_dense, tiny = layers[1], layers[0], layers[2], layers[3]
    work = {n: 1000.0 for n in layers} | {big: 50_000.0, small: 40_000.0, tiny: 10.0}
    ev = FakeEvaluator(work, {n: 0.3 for n in layers})      # un-fine-tuned accuracy collapses: not a screen
    start = ev.evaluate(with_gene(Genome(arch, tuple((n, 1.0, 1) for n in layers)), kept_dense, 0.5, 4))
    out = harden(ev, start, 0.25, 0.25)
    genes = Genome.from_dict(out["genome"]).sparsity_dict()
    total = out["instructions"]
    assert total < start["instructions"] and out["key"] in ev.records
    assert genes[tiny] == (1.0, 1), "a layer whose pruning saves under MIN_SAVING stays as searched"
    assert genes[kept_dense][0] == 0.25
    for n in (big, small):
        assert genes[n][0] == 0.25 and (genes[n][1] == 4 or n.endswith(".dw")), (n, genes[n])
    saving = {n: work[n] - ev.layer_cost(n, 0.25, 1 if n.endswith(".dw") else 4) for n in layers}
    for n in layers:
        if saving[n] < MIN_SAVING * total:
            assert genes[n] == start_gene(start, n), f"{n} saves {saving[n]:.0f}: it keeps its searched gene"


def start_gene(start: dict, name: str) -> tuple[float, int]:
    return Genome.from_dict(start["genome"]).sparsity_dict()[name]


def test_harden_keeps_the_start_when_the_hard_version_does_not_fit_or_is_not_faster():
    arch = _arch()
    layers = list(arch.prunable_layers())
    dense = Genome(arch, tuple((n, 1.0, 1) for n in layers))
    ev = FakeEvaluator({n: 1000.0 for n in layers}, {n: 0.0 for n in layers}, max_instructions=0.0)
    start = {**ev.evaluate(dense), "fits": True}
    assert harden(ev, start, 0.25, 0.25) is start
    hard = hardened(dense, 0.25, 0.25)
    assert hard.sparsity_dict()[layers[1]][0] == 0.25
    assert hardened(hard, 0.5, 0.5) == hard, "never denser than it was"
    assert harden(ev, start, 1.0, 1.0) is start, "nothing to prune: no compile"


def test_hardened_prunes_depthwise_and_pointwise_layers_to_their_own_densities():
    layers = list(_arch().prunable_layers())
    dense = Genome(_arch(), tuple((n, 1.0, 1) for n in layers))
    genes = hardened(dense, 1.0, 0.15).sparsity_dict()
    assert all(genes[n] == ((0.15, 1) if n.endswith(".dw") else (1.0, 1)) for n in layers), genes
    genes = hardened(dense, 0.35, 1.0).sparsity_dict()
    assert all(genes[n] == ((1.0, 1) if n.endswith(".dw") else (0.35, 4)) for n in layers), genes
