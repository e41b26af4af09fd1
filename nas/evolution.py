"""Evolution operators over genomes = (sub-network, per-layer sparsity). Pure Python.

A genome's sparsity maps each of its arch's prunable layers to (density, block). When mutation
or crossover changes the arch, genes of layers that still exist are kept and new layers get fresh
genes, so a genome is always consistent with its arch (`check_genome`).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from nas.prune import BLOCKS, DENSITIES
from nas.space import Arch, BlockChoice, SearchSpace, StageChoice, TransformerChoice, sample_arch


@dataclass(frozen=True)
class Genome:
    arch: Arch
    sparsity: tuple[tuple[str, float, int], ...]     # (layer, density, block), in arch layer order

    def sparsity_dict(self) -> dict[str, tuple[float, int]]:
        return {name: (d, b) for name, d, b in self.sparsity}

    def key(self) -> str:
        return self.arch.key() + "#" + ",".join(f"{d:g}/{b}" for _, d, b in self.sparsity)

    @property
    def is_dense(self) -> bool:
        return all(d >= 1.0 for _, d, _ in self.sparsity)

    def densified(self) -> "Genome":
        """The same sub-network with every layer dense."""
        return Genome(self.arch, tuple((n, 1.0, 1) for n, _, _ in self.sparsity))

    def to_dict(self) -> dict:
        return {"arch": self.arch.to_dict(), "sparsity": [list(s) for s in self.sparsity]}

    @classmethod
    def from_dict(cls, d: dict) -> "Genome":
        return cls(Arch.from_dict(d["arch"]), tuple((n, float(de), int(b)) for n, de, b in d["sparsity"]))


def is_depthwise(layer: str) -> bool:
    return layer.endswith(".dw")


def _gene(rng: random.Random, dense: bool) -> tuple[float, int]:
    return (1.0, 1) if dense else (rng.choice(DENSITIES), rng.choice(BLOCKS))


def with_sparsity(arch: Arch, old: dict[str, tuple[float, int]], rng: random.Random, dense: bool = False) -> Genome:
    genes = []
    for name in arch.prunable_layers():
        d, b = old[name] if name in old else _gene(rng, dense)
        # a dense layer has no block size (one key per network); depthwise layers are pruned per tap
        genes.append((name, d, 1 if d >= 1.0 or is_depthwise(name) else b))
    return Genome(arch, tuple(genes))


def random_genome(space: SearchSpace, rng: random.Random, dense: bool = False) -> Genome:
    return with_sparsity(sample_arch(space, rng), {}, rng, dense)


def check_genome(g: Genome) -> None:
    names = tuple(n for n, _, _ in g.sparsity)
    if names != g.arch.prunable_layers():
        raise ValueError(f"genome layers {names} do not match its arch {g.arch.prunable_layers()}")
    for n, d, b in g.sparsity:
        if d not in DENSITIES or b not in BLOCKS:
            raise ValueError(f"layer {n}: density {d} / block {b} not in the space")


def mutate(g: Genome, space: SearchSpace, rng: random.Random, p: float = 0.2) -> Genome:
    """Each choice is re-drawn with probability p (arch choices and sparsity genes)."""
    def maybe(current, choices):
        return rng.choice(choices) if rng.random() < p else current

    stem = maybe(g.arch.stem_width, space.stem_widths)
    stages = []
    for s, st in zip(g.arch.stages, space.cnn_stages):
        depth = maybe(len(s.blocks), st.depths)
        blocks = list(s.blocks[:depth])
        while len(blocks) < depth:   # a deeper stage repeats its last block's choices
            blocks.append(blocks[-1] if blocks else BlockChoice(rng.choice(st.kernels), rng.choice(st.expansions)))
        blocks = [BlockChoice(maybe(b.kernel, st.kernels), maybe(b.expansion, st.expansions)) for b in blocks]
        stages.append(StageChoice(maybe(s.width, st.widths), tuple(blocks)))
    t = g.arch.transformer
    if t is not None:
        ts = space.transformer
        t = TransformerChoice(maybe(t.embed, ts.embed_dims), maybe(t.heads, ts.heads),
                              maybe(t.mlp_ratio, ts.mlp_ratios), maybe(t.depth, ts.depths))
    arch = Arch(stem, tuple(stages), t)
    genes = {n: (maybe(d, DENSITIES), maybe(b, BLOCKS)) for n, d, b in g.sparsity}
    return with_sparsity(arch, genes, rng)


def mutate_sparsity(g: Genome, rng: random.Random, p: float) -> Genome:
    """The same sub-network with each layer's (density, block) re-drawn with probability p."""
    genes = {n: _gene(rng, dense=False) if rng.random() < p else (d, b) for n, d, b in g.sparsity}
    return with_sparsity(g.arch, genes, rng)


def crossover(a: Genome, b: Genome, rng: random.Random) -> Genome:
    """Uniform crossover: stem, each whole stage, the transformer and each layer's gene from either parent."""
    pick = lambda x, y: x if rng.random() < 0.5 else y  # noqa: E731
    arch = Arch(pick(a.arch.stem_width, b.arch.stem_width),
                tuple(pick(sa, sb) for sa, sb in zip(a.arch.stages, b.arch.stages)),
                pick(a.arch.transformer, b.arch.transformer))
    ga, gb = a.sparsity_dict(), b.sparsity_dict()
    # draw in a fixed layer order: iterating a set would tie the draws to Python's string hashing,
    # which changes per process, and the same seed would give different runs
    genes = {n: pick(ga[n], gb[n]) if n in ga and n in gb else ga.get(n, gb.get(n))
             for n in sorted(set(ga) | set(gb))}
    return with_sparsity(arch, genes, rng)
