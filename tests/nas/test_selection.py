"""SparseNAS's final choice: the fastest record within the accuracy tolerance of the best, compared
with the densest record at least as accurate; and pruning-aware supernet training."""
import random

import pytest

from nas.finalists import choose, dense_baseline, finalist_records
from nas.sparsenas import densest_of_equal_accuracy, pareto_front, select_winner
from nas.space import make_space, sample_arch

torch = pytest.importorskip("torch")
from nas.evolution import random_genome  # noqa: E402
from nas.prune import block_mask  # noqa: E402
from nas.supernet import SuperNet  # noqa: E402


def _rec(key, acc, instr, density, fits=True):
    return {"key": key, "accuracy": acc, "instructions": instr, "density": density, "fits": fits}


RECORDS = [_rec("big-dense", 0.960, 900, 1.0), _rec("big-sparse", 0.955, 500, 0.4),
           _rec("mid-dense", 0.952, 600, 1.0), _rec("small-dense", 0.90, 100, 1.0),
           _rec("too-big", 0.99, 50, 0.3, fits=False)]


def test_pareto_front_is_the_2d_accuracy_instructions_staircase():
    front = pareto_front(RECORDS + [_rec("slow-worse", 0.95, 950, 1.0), _rec("tie", 0.955, 500, 0.5)])
    assert [r["key"] for r in front] == ["small-dense", "big-sparse", "big-dense"]   # mid-dense: beaten by big-sparse


def _version(key, instr, acc, fits=True):
    return {"key": key, "instructions": instr, "finetuned_accuracy": acc if fits else None, "fits": fits}


def test_finalists_choose_the_fastest_version_within_the_fine_tuned_band():
    fins = [{"arch": "a", "sparse": _version("a#s", 400, 0.915), "dense": _version("a#d", 900, 0.921)},
            {"arch": "b", "sparse": _version("b#s", 300, 0.880), "dense": _version("b#d", 500, 0.912, fits=False)}]
    assert choose(fins, 0.01)["key"] == "a#s"          # within 1 point of the best (0.921) and fastest
    assert choose(fins, 0.001)["key"] == "a#d"
    assert choose(fins, 0.05)["key"] == "b#s"
    base = dense_baseline(fins + [{"arch": "c", "sparse": _version("c#s", 200, 0.90),
                                   "dense": {**_version("c#d", 450, 0.911), "density": 1.0}}],
                          {"finetuned_accuracy": 0.915}, 0.005)
    assert base["key"] == "c#d"                        # dense, 0.4 point below, fewer instructions than a#d
    assert dense_baseline(fins, {"finetuned_accuracy": 0.93}, 0.005) is None
    assert choose([{"arch": "c", "sparse": _version("c", 1, 0, False), "dense": _version("c", 1, 0, False)}],
                  0.01) is None


def test_finalists_take_the_refined_record_of_their_arch_even_a_little_below_the_band():
    recs = [_rec("a#1", 0.96, 900, 1.0), _rec("b#1", 0.955, 600, 1.0), _rec("c#1", 0.958, 700, 1.0),
            _rec("a#2", 0.945, 400, 0.4)]
    refined = [recs[3], _rec("b#2", 0.94, 650, 0.5), _rec("c#2", 0.93, 300, 0.3, fits=False)]
    picked = finalist_records(recs, refined, 0.95, 3)
    # b's refinement was slower and c's does not fit: their band records stay; a's sparse one, below the band, replaces a#1
    assert [r["key"] for r in picked] == ["b#1", "c#1", "a#2"]
    assert [r["key"] for r in finalist_records(recs, [], 0.95, 2)] == ["b#1", "c#1"]


def test_winner_is_the_fastest_feasible_record_within_the_tolerance():
    assert select_winner(RECORDS, 0.01)["key"] == "big-sparse"
    assert select_winner(RECORDS, 0.0)["key"] == "big-dense"
    assert select_winner(RECORDS, 0.1)["key"] == "small-dense"
    assert select_winner([r for r in RECORDS if not r["fits"]], 0.01) is None


def test_densest_of_equal_accuracy_is_at_least_as_accurate_and_fastest_among_the_densest():
    assert densest_of_equal_accuracy(RECORDS, 0.955)["key"] == "big-dense"
    assert densest_of_equal_accuracy(RECORDS, 0.95)["key"] == "mid-dense"
    assert densest_of_equal_accuracy(RECORDS, 0.999) is None


def test_pruned_supernet_zeroes_blocks_only_inside_the_context_and_stops_their_gradient():
    space = make_space(in_channels=1, num_classes=10, resolution=16, width_mult=0.5, transformer_start=2)
    rng = random.Random(3)
    genome = next(g for g in (random_genome(space, rng) for _ in range(200))
                  if g.arch.transformer and g.arch.transformer.depth and g.sparsity_dict()["head"][0] < 1.0)
    net = SuperNet(space).eval()
    x = torch.randn(2, 1, 16, 16)
    dense = net(x, genome.arch)
    density, block = genome.sparsity_dict()["head"]
    w = net.head.lin.weight
    used = w[:, : genome.arch.transformer.embed]                   # the head's slice for this arch
    mask = block_mask(used.detach(), density, block)
    with net.pruned(genome.arch, genome.sparsity_dict()):
        pruned = net(x, genome.arch)
        pruned.sum().backward()
    assert not torch.allclose(dense, pruned), "pruning changed nothing"
    assert torch.equal(net(x, genome.arch), dense), "the supernet stayed pruned after the context"
    grad = w.grad[:, : genome.arch.transformer.embed]
    assert 0 < mask.mean() < 1, (density, block)
    assert (grad[mask == 0] == 0).all(), "pruned blocks got gradient"
    assert (grad[mask == 1] != 0).any(), "kept blocks got no gradient"


def test_supernet_prunable_names_match_the_arch():
    space = make_space(in_channels=1, num_classes=10, resolution=16, width_mult=0.5, transformer_start=2)
    net = SuperNet(space)
    rng = random.Random(4)
    for _ in range(20):
        arch = sample_arch(space, rng)
        assert tuple(net.prunable(arch)) == arch.prunable_layers()
