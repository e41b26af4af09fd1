"""SparseNAS: evolution over (sub-network, per-layer sparsity and block size).

Fitness: the supernet's accuracy for the sub-network after blockwise pruning (no fine-tuning) on
held-out data, minus a small penalty for instructions; constraints: tfc's flash and SRAM for the
pruned sub-network (`TfcCostModel`, which compiles it: the sparsify pass sees its zero pattern) and,
when set, an instruction budget. Instructions: `nas.kernel_costs` on the compiled model, with the
SparseEngine cost model for the layers tfc chose to run sparse.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch

from nas.cost import Budget, TfcCostModel, layer_shapes
from nas.evolution import Genome, crossover, mutate, mutate_sparsity, random_genome, with_sparsity
from nas.prune import apply_masks, make_masks
from nas.space import sample_arch
from nas.supernet import SuperNet, extract, recalibrate_bn
from nas.train import accuracy


@dataclass
class Evaluator:
    net: SuperNet
    budget: Budget
    cost_model: TfcCostModel
    x_cal: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    max_instructions: float | None = None
    workers: int | None = 1      # evaluating processes; with `ray`, Ray actors (None: one per cluster CPU)
    ray: bool = False            # evaluate on the Ray cluster this process is connected to (nas.ray_cluster)

    def __post_init__(self):
        self.records: dict[str, dict] = {}
        self._cal = [torch.from_numpy(c) for c in np.array_split(self.x_cal, max(1, len(self.x_cal) // 128))]
        self._pool = None

    def evaluate_many(self, genomes: list[Genome]) -> list[dict]:
        """Records of `genomes`, the new ones evaluated in `workers` processes or on Ray. A record
        depends only on its genome (BatchNorm recalibrated per sub-network, one thread per process),
        and records are kept in the order of `genomes`, so any number of workers gives the same run."""
        new = list({g.key(): g for g in genomes if g.key() not in self.records}.values())
        if (self.ray or (self.workers or 1) > 1) and len(new) > 1:
            if self._pool is None:
                self._pool = self._start_pool()
            for g, rec in zip(new, self._pool.map([g.to_dict() for g in new])):
                self.records[g.key()] = rec
                self.cost_model.compiles += 1
        return [self.evaluate(g) for g in genomes]

    def _start_pool(self):
        if self.ray:
            from nas.ray_cluster import RayPool
            return RayPool(worker_payload(self), self.workers)
        return ProcessPool(worker_payload(self), self.workers)

    def close(self, *, terminate: bool = False) -> None:
        """Stop the workers (at once with `terminate`: after an error or Ctrl-C)."""
        if self._pool is not None:
            self._pool.close(terminate=terminate)
            self._pool = None

    def static(self, arch):
        recalibrate_bn(self.net, arch, self._cal)
        self.net.eval()
        return extract(self.net, arch)

    def evaluate(self, g: Genome) -> dict:
        key = g.key()
        if key in self.records:
            return self.records[key]
        static = self.static(g.arch)
        apply_masks(make_masks(static, g.sparsity_dict()))
        cost = self.cost_model.cost(key, lambda: static)
        rec = {"genome": g.to_dict(), "key": key, "flash": cost.flash_bytes, "sram": cost.sram_bytes,
               "supported": cost.supported, "note": cost.note, "fits": self.budget.fits(cost)}
        if rec["fits"]:
            shapes = layer_shapes(static, torch.from_numpy(self.x_val[:1]))
            rec["instructions"] = cost.instructions
            rec["instructions_as_compiled"] = cost.instructions_as_compiled
            rec["sparse_layers"] = cost.sparse_layers
            rec["sparse_kernels"] = cost.sparse_kernels
            rec["density"] = _weighted_density(shapes, g.sparsity_dict())
            if self.max_instructions is not None and rec["instructions"] > self.max_instructions:
                rec["fits"] = False
                rec["note"] = "over the instruction budget"
            else:
                rec["accuracy"] = accuracy(static, self.x_val, self.y_val)
        self.records[key] = rec
        return rec


def worker_payload(ev: Evaluator) -> tuple:
    """What a worker needs to evaluate like `ev`: the trained supernet (CPU tensors), the budget,
    the cost model's target and calibration, and the data."""
    state = {k: v.cpu() for k, v in ev.net.state_dict().items()}
    return (ev.net.space.to_dict(), state, ev.budget, ev.cost_model.target, ev.cost_model.calibration, ev.x_cal,
              ev.x_val, ev.y_val, ev.max_instructions)


def evaluator_from(payload: tuple) -> Evaluator:
    """A worker's one-process Evaluator, built from `worker_payload`."""
    from nas.space import SearchSpace
    space, state, budget, target, calibration, x_cal, x_val, y_val, max_instructions = payload
    torch.set_num_threads(1)
    net = SuperNet(SearchSpace.from_dict(space))
    net.load_state_dict(state)
    return Evaluator(net, budget, TfcCostModel(target, calibration), x_cal, x_val, y_val, max_instructions)


class ProcessPool:
    """`workers` spawned processes, each holding the trained supernet."""

    def __init__(self, payload: tuple, workers: int):
        import multiprocessing as mp
        self._pool = mp.get_context("spawn").Pool(workers, initializer=_worker_init, initargs=(payload,))

    def map(self, genomes: list[dict]) -> list[dict]:
        return self._pool.map(_worker_evaluate, genomes)

    def close(self, *, terminate: bool = False) -> None:
        self._pool.terminate() if terminate else self._pool.close()
        self._pool.join()


_WORKER: Evaluator | None = None


def _worker_init(payload: tuple) -> None:
    global _WORKER
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # Ctrl-C is the main process's to report
    _WORKER = evaluator_from(payload)


def _worker_evaluate(genome: dict) -> dict:
    return _WORKER.evaluate(Genome.from_dict(genome))


def _weighted_density(shapes, sparsity) -> float:
    """Non-zero fraction of all prunable weights."""
    total = kept = 0.0
    for s in shapes:
        if s.prunable:
            n = s.rows * s.reduction
            total += n
            kept += n * sparsity.get(s.prunable, (1.0, 1))[0]
    return kept / total if total else 1.0


def fitness(rec: dict, reference: float, weight: float) -> float:
    """Accuracy minus `weight` per `reference` instructions: with weight = the accuracy tolerance,
    a genome within the tolerance of another's accuracy wins by running fewer instructions."""
    if not rec["fits"]:
        return -1.0
    return rec["accuracy"] - weight * rec["instructions"] / reference


def initial_population(space, n: int, rng: random.Random) -> list[Genome]:
    """Half dense, half random sparsity; the smallest arch (dense) is always in, so the budget check
    sees the cheapest network."""
    pop = [with_sparsity(sample_arch(space, rng, "min"), {}, rng, dense=True)]
    while len(pop) < n:
        pop.append(random_genome(space, rng, dense=len(pop) % 2 == 0))
    return pop


def next_generation(pop: list[Genome], ev: Evaluator, space, rng: random.Random, *, mutation_p: float,
                    reference: float, weight: float) -> list[Genome]:
    """Keep the top quarter, fill the rest with children: a third re-draw only a parent's sparsity
    genes (sparse variants of the best sub-networks, which whole-genome mutation rarely visits),
    a third mutate, a third cross over and mutate."""
    ranked = sorted(pop, key=lambda g: fitness(ev.evaluate(g), reference, weight), reverse=True)
    parents = ranked[: max(2, len(pop) // 4)]
    children = list(parents)
    tries = 0
    while len(children) < len(pop) and tries < 50 * len(pop):
        tries += 1
        roll = rng.random()
        if roll < 1 / 3:
            child = mutate_sparsity(rng.choice(parents), rng, max(mutation_p, 0.3))
        elif roll < 2 / 3:
            child = mutate(rng.choice(parents), space, rng, mutation_p)
        else:
            child = mutate(crossover(rng.choice(parents), rng.choice(parents), rng), space, rng, mutation_p / 2)
        if child.key() not in {c.key() for c in children}:
            children.append(child)
    return children


def pareto_front(records: list[dict]) -> list[dict]:
    """The accuracy-vs-instructions front of the feasible records: those no other record matches or
    beats on both (higher accuracy, fewer instructions), by instructions ascending (so accuracy
    rises along it). Ties on both keep the first record."""
    front, best = [], -1.0
    for r in sorted((r for r in records if r["fits"]), key=lambda r: (r["instructions"], -r["accuracy"])):
        if r["accuracy"] > best:
            front.append(r)
            best = r["accuracy"]
    return front


def accuracy_floor(records: list[dict], tolerance: float) -> float | None:
    """The accuracy band's lower edge: the best feasible accuracy less `tolerance` (None: no record fits)."""
    ok = [r["accuracy"] for r in records if r["fits"]]
    return max(ok) - tolerance if ok else None


def select_winner(records: list[dict], tolerance: float) -> dict | None:
    """The searched model: the fewest estimated instructions among the feasible records whose
    accuracy is within `tolerance` of the best one's (ties: the more accurate)."""
    floor = accuracy_floor(records, tolerance)
    if floor is None:
        return None
    return min((r for r in records if r["fits"] and r["accuracy"] >= floor),
               key=lambda r: (r["instructions"], -r["accuracy"]))


def densest_of_equal_accuracy(records: list[dict], accuracy: float) -> dict | None:
    """What the searched model is compared with: the feasible record with the highest weight density
    among those at least as accurate as `accuracy` (ties: fewer instructions), i.e. the fastest
    dense sub-network that matches the searched one when a dense one does."""
    ok = [r for r in records if r["fits"] and r["accuracy"] >= accuracy]
    return max(ok, key=lambda r: (r["density"], -r["instructions"]), default=None)
