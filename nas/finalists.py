"""Finalists: the search's best sub-networks, pruned and briefly fine-tuned, dense and sparse,
before the winner is chosen.

The supernet's accuracy for a pruned sub-network without fine-tuning ranks sparse genomes poorly
(pruning the early layers collapses it, fine-tuning recovers most of that), so the winner rule
applied to those accuracies mostly picks dense models. Here the `finalists` fastest sub-networks
of the accuracy band (one record each: its fastest, after refinement) are each fine-tuned
`finalist_epochs` epochs twice, as searched (pruned, masks kept) and with every layer dense, from
the supernet's weights; the searched model is then the version with the fewest instructions whose
fine-tuned validation accuracy is within `accuracy_tolerance` of the best version's. The report
shows both versions of every finalist (accuracy, instructions, flash, SRAM).
"""
from __future__ import annotations

import numpy as np

from nas.distributed import Parallel
from nas.evolution import Genome
from nas.prune import make_masks
from nas.refine import candidates, harden
from nas.train import PLAIN, Recipe, accuracy, finetune

VERSION_FIELDS = ("key", "instructions", "instructions_as_compiled", "flash", "sram", "density", "sparse_kernels",
                  "fits")


def judge(ev, records: list[dict], floor: float, *, refined: list[dict] = (), n: int, epochs: int, lr: float, batch: int, seed: int,
          x_train: np.ndarray, y_train: np.ndarray, device=None, progress=None, recipe: Recipe = PLAIN,
          ramp: float = 0.0, density: float = 1.0, dw_density: float = 1.0, x_val: np.ndarray | None = None,
          y_val: np.ndarray | None = None) -> list[dict]:
    """For each finalist: {"arch", "sparse": version, "dense": version}, a version being its record's
    costs plus "supernet_accuracy" and "finetuned_accuracy" (on `x_val`, `y_val`; default the
    evaluator's). With `density` or `dw_density` < 1 the sparse version is the finalist's
    pointwise convs / depthwise convs pruned that hard where tfc's kernels pay (nas.refine.harden)."""
    par = Parallel(device=device) if device is not None else Parallel()
    picked = finalist_records(records, refined, floor, n)
    if min(density, dw_density) < 1.0:
        picked = [harden(ev, r, density, dw_density) for r in picked]
    val = (ev.x_val, ev.y_val) if x_val is None else (x_val, y_val)
    out = []
    for rec in (progress(picked) if progress else picked):
        g = Genome.from_dict(rec["genome"])
        versions = {}
        for name, genome in (("sparse", g), ("dense", g.densified())):
            r = ev.evaluate(genome)
            v = {k: r.get(k) for k in VERSION_FIELDS} | {"supernet_accuracy": r.get("accuracy"),
                                                         "genome": genome.to_dict()}
            if name == "dense" and genome.key() == g.key():
                v = dict(versions["sparse"])             # the finalist is dense already
            elif r["fits"]:
                v["finetuned_accuracy"] = _finetuned_accuracy(ev, genome, x_train, y_train, epochs=epochs, lr=lr,
                                                              batch=batch, seed=seed, par=par, recipe=recipe,
                                                              ramp=ramp, val=val)
            versions[name] = v
        out.append({"arch": g.arch.key(), **versions})
    return out


def finalist_records(records: list[dict], refined: list[dict], floor: float, n: int) -> list[dict]:
    """The fastest record of each of the `n` fastest sub-networks inside the accuracy band, replaced
    by that sub-network's refined record when refinement made a faster one (which may lie up to
    `refine_slack` below the band: fine-tuning, not the supernet, judges it)."""
    faster = {}
    for r in refined:
        arch = r["key"].split("#")[0]
        if arch not in faster or r["instructions"] < faster[arch]["instructions"]:
            faster[arch] = r
    out = []
    for r in candidates(records, floor, n):
        alt = faster.get(r["key"].split("#")[0])
        out.append(alt if alt is not None and alt["fits"] and alt["instructions"] < r["instructions"] else r)
    return out


def _finetuned_accuracy(ev, genome: Genome, x, y, *, epochs, lr, batch, seed, par, recipe, ramp, val) -> float:
    static = ev.static(genome.arch).to(par.device)
    sparsity = genome.sparsity_dict()
    finetune(static, make_masks(static, sparsity), x, y, epochs=epochs, lr=lr, batch=batch,
             rng=np.random.default_rng(seed), par=par, recipe=recipe, sparsity=sparsity, ramp=ramp)
    static.cpu()
    return accuracy(static, *val)


def choose(finalists: list[dict], tolerance: float) -> dict | None:
    """The fitting version with the fewest instructions within `tolerance` of the best fine-tuned
    accuracy (ties: the more accurate); None when no version was fine-tuned."""
    versions = [v for f in finalists for v in (f["sparse"], f["dense"]) if v.get("finetuned_accuracy") is not None]
    if not versions:
        return None
    floor = max(v["finetuned_accuracy"] for v in versions) - tolerance
    return min((v for v in versions if v["finetuned_accuracy"] >= floor),
               key=lambda v: (v["instructions"], -v["finetuned_accuracy"]))


def dense_baseline(finalists: list[dict], winner: dict, within: float) -> dict | None:
    """What the searched model is compared with when finalists were fine-tuned: the dense version
    with the fewest instructions whose fine-tuned accuracy is within `within` of the searched
    model's (or better); None when no dense version is."""
    acc = winner.get("finetuned_accuracy")
    if acc is None:
        return None
    dense = [f["dense"] for f in finalists if f["dense"].get("finetuned_accuracy") is not None
             and f["dense"].get("density", 1.0) >= 1.0 and f["dense"]["finetuned_accuracy"] >= acc - within]
    return min(dense, key=lambda v: (v["instructions"], -v["finetuned_accuracy"]), default=None)
