"""SuperNAS: choose the search space whose sub-networks best use the budget.

For each candidate space, sample sub-networks (always including its smallest and largest), ask
tfc for each one's flash and SRAM, and score the space by the fraction that fits times the mean
compute (MACs) of those that fit, relative to the best candidate: a space scores high when most of
its sub-networks fit and the ones that fit do much work (use the budget, rather than waste it).
No training is needed: sizes do not depend on the weights.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np
import torch

from nas.cost import Budget, TfcCostModel, layer_shapes, macs
from nas.errors import BudgetError
from nas.space import SearchSpace, sample_arch
from nas.supernet import SuperNet, extract, recalibrate_bn


@dataclass
class SpaceScore:
    space: SearchSpace
    samples: list[dict] = field(default_factory=list)   # {arch, flash, sram, fits, macs, note}

    @property
    def fit_fraction(self) -> float:
        return sum(s["fits"] for s in self.samples) / max(1, len(self.samples))

    @property
    def mean_fit_macs(self) -> float:
        fit = [s["macs"] for s in self.samples if s["fits"]]
        return float(np.mean(fit)) if fit else 0.0

    def to_dict(self, score: float) -> dict:
        return {"space": self.space.to_dict(), "fit_fraction": self.fit_fraction,
                "mean_fit_macs": self.mean_fit_macs, "score": score, "samples": self.samples}


def score_space(space: SearchSpace, budget: Budget, cost_model: TfcCostModel, x_cal: np.ndarray,
                n: int, rng: random.Random) -> SpaceScore:
    net = SuperNet(space)
    xb = torch.from_numpy(x_cal[:32])
    result = SpaceScore(space)
    archs = [sample_arch(space, rng, "min"), sample_arch(space, rng, "max")]
    archs += [sample_arch(space, rng) for _ in range(max(0, n - 2))]
    for arch in archs:
        def make():
            recalibrate_bn(net, arch, [xb])    # non-zero folded biases, as a trained net has
            net.eval()
            return extract(net, arch)
        cost = cost_model.cost(arch.key(), make)
        static = extract(net, arch)
        result.samples.append({"arch": arch.key(), "flash": cost.flash_bytes, "sram": cost.sram_bytes,
                               "fits": budget.fits(cost), "supported": cost.supported, "note": cost.note,
                               "macs": macs(layer_shapes(static, xb)), "instructions": cost.instructions})
    return result


def choose_space(scores: list[SpaceScore], budget: Budget) -> tuple[SpaceScore, list[float]]:
    """The best candidate and every candidate's score; BudgetError when nothing fits anywhere."""
    best_macs = max((s.mean_fit_macs for s in scores), default=0.0)
    values = [s.fit_fraction * (s.mean_fit_macs / best_macs if best_macs else 0.0) for s in scores]
    if not any(v > 0 for v in values):
        smallest = min((x for s in scores for x in s.samples if x["supported"]),
                       key=lambda x: (x["flash"], x["sram"]), default=None)
        unsupported = {x["note"] for s in scores for x in s.samples if not x["supported"]}
        detail = (f"; the smallest sub-network tfc compiled needs flash {smallest['flash']:,} B and SRAM "
                  f"{smallest['sram']:,} B ({smallest['arch']})" if smallest else "")
        if unsupported:
            detail += "; tfc could not compile: " + "; ".join(sorted(unsupported))[:300]
        raise BudgetError(f"no sub-network of any candidate space meets the budget: {budget.describe()}{detail}",
                          hint="raise --flash/--sram, lower the reserves, or add smaller width multipliers "
                               "or resolutions to the config")
    i = int(np.argmax(values))
    return scores[i], values
