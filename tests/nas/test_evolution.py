"""Evolution operators keep genomes consistent with their architectures; pruning masks."""
import random

import pytest

from nas.evolution import Genome, check_genome, crossover, mutate, random_genome
from nas.space import arch_in_space, make_space

torch = pytest.importorskip("torch")
from nas.prune import block_mask  # noqa: E402

SPACE = make_space(in_channels=1, num_classes=10, resolution=16, width_mult=0.5, transformer_start=2)


def test_mutation_and_crossover_stay_valid():
    rng = random.Random(0)
    pop = [random_genome(SPACE, rng, dense=i % 2 == 0) for i in range(8)]
    for _ in range(200):
        a, b = rng.choice(pop), rng.choice(pop)
        child = mutate(crossover(a, b, rng), SPACE, rng, 0.3)
        check_genome(child)
        assert arch_in_space(child.arch, SPACE), child.key()
        assert Genome.from_dict(child.to_dict()) == child
        pop.append(child)
    assert len({g.key() for g in pop}) > 50, "the operators produce few distinct genomes"


def test_mutation_with_p0_is_identity_and_p1_changes():
    rng = random.Random(1)
    g = random_genome(SPACE, rng)
    assert mutate(g, SPACE, rng, 0.0) == g
    assert any(mutate(g, SPACE, rng, 1.0) != g for _ in range(5))


def test_crossover_genes_come_from_parents():
    rng = random.Random(2)
    a, b = random_genome(SPACE, rng), random_genome(SPACE, rng)
    child = crossover(a, b, rng)
    ga, gb = a.sparsity_dict(), b.sparsity_dict()
    for name, d, blk in child.sparsity:
        if name in ga or name in gb:
            assert (d, blk) in (ga.get(name), gb.get(name)), name


@pytest.mark.parametrize("density,block", [(0.5, 1), (0.25, 4), (0.75, 8), (0.35, 16)])
def test_block_mask_zeroes_whole_blocks_on_ohwi_rows(density, block):
    torch.manual_seed(0)
    w = torch.randn(6, 5, 3, 3)
    mask = block_mask(w, density, block)
    rows = mask.permute(0, 2, 3, 1).reshape(6, -1)          # tfc's reduction axis: Kh*Kw*Cin
    k = rows.shape[1]
    blocks = [rows[r, i:i + block] for r in range(6) for i in range(0, k, block)]
    assert all(bool((b == b[0]).all()) for b in blocks), "a block is partly kept"
    kept = sum(float(b[0]) for b in blocks) / len(blocks)
    assert abs(kept - density) <= 1 / len(blocks) + 1e-9, f"kept {kept:.3f} of blocks, wanted {density}"


def test_sparsity_mutation_keeps_the_sub_network():
    from nas.evolution import mutate_sparsity
    rng = random.Random(5)
    g = random_genome(SPACE, rng, dense=True)
    children = [mutate_sparsity(g, rng, 0.5) for _ in range(20)]
    assert all(c.arch == g.arch for c in children)
    assert any(not c.is_dense for c in children), "no gene changed"
    for c in children:
        check_genome(c)


_CHILDREN = """
import random
from nas.evolution import crossover, mutate, random_genome
from nas.space import make_space
space = make_space(in_channels=1, num_classes=10, resolution=16, width_mult=0.5, transformer_start=2)
rng = random.Random(0)
pop = [random_genome(space, rng) for _ in range(6)]
for _ in range(40):
    pop.append(mutate(crossover(rng.choice(pop), rng.choice(pop), rng), space, rng, 0.3))
print(";".join(g.key() for g in pop))
"""


def test_the_same_seed_gives_the_same_genomes_in_every_process():
    """Runs must repeat from their seed: a draw order tied to string hashing (a set's iteration
    order) changes with PYTHONHASHSEED, i.e. from one process to the next."""
    import os
    import subprocess
    import sys
    out = [subprocess.run([sys.executable, "-c", _CHILDREN], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")]
    assert out[0] == out[1] == out[2]
