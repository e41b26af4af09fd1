"""canonicalize: the cleanup every model gets right after import.

Constant folding, Q/DQ pairs into QuantParams (weights read as int8 constants), BatchNorm folded
into the conv/linear before it, a projection read only through slices of its features split into
one per slice (fused qkv), identity ops and dead code removed, and transposes cancelled or
sunk through layout-agnostic ops so an NHWC CNN keeps at most one at its input and output.
The rules run in rounds until none fires; every rewrite keeps `tfc.interp.run`'s results exactly
(float models up to reassociation in BatchNorm folding).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from tfc.passes.base import Pass, PassContext, PassResult, register_pass
from tfc.passes.canonical import batchnorm, dce, fold, identity, layout, projection, qdq


@register_pass
class Canonicalize(Pass):
    name = "canonicalize"
    description = "fold constants, Q/DQ and BatchNorm; remove identities, dead code and transposes"

    @dataclass(frozen=True)
    class Options:
        fold_constants: bool = True
        fold_qdq: bool = True
        fold_batchnorm: bool = True
        split_sliced_projections: bool = True
        batchnorm_to_affine: bool = True   # a batchnorm with nothing to fold into -> mul + add
        layout: bool = True
        max_rounds: int = 50

    def rules(self):
        o = self.options
        rules = []
        if o.fold_constants:
            rules.append(("fold-constants", fold.fold_constants))
        if o.fold_qdq:
            rules += [("read-int-constant", qdq.read_int_constants_directly),
                      ("fold-qdq", qdq.fold_qdq_pairs),
                      ("dequantize-before-moving", qdq.dequantize_before_moving)]
        rules.append(("remove-identity", identity.remove_identities))
        if o.fold_batchnorm:
            rules.append(("fold-batchnorm", batchnorm.fold_batchnorm_into_producer))
        if o.split_sliced_projections:
            rules.append(("split-sliced-projection", projection.split_sliced_projections))
        if o.layout:
            rules += [("round-before-moving", layout.round_before_moving),
                      ("compose-transposes", layout.compose_transposes),
                      ("transpose-to-reshape", layout.transposes_to_reshapes),
                      ("merge-reshapes", layout.merge_reshapes),
                      ("sink-transpose", layout.sink_transposes),
                      ("split-shared-transpose", layout.split_shared_transposes)]
        rules += [("remove-dead-nodes", dce.remove_dead_nodes),
                  ("remove-dead-constants", dce.remove_dead_constants)]
        return rules

    def run(self, graph, ctx: PassContext) -> PassResult:
        stats: Counter[str] = Counter()
        self._fixpoint(graph, ctx, stats)
        if self.options.batchnorm_to_affine and graph.nodes_of("batchnorm"):
            # Only once nothing else fires: a batchnorm may still meet its conv after layout rules.
            stats["batchnorm-to-affine"] += batchnorm.batchnorm_to_affine(graph, ctx)
            self._fixpoint(graph, ctx, stats)
        return PassResult(changed=sum(stats.values()) > 0, stats=dict(+stats))

    def _fixpoint(self, graph, ctx, stats) -> None:
        rules = self.rules()
        start = len(ctx.declined)
        for _ in range(self.options.max_rounds):
            # Keep only the last round's declines: earlier ones may have fired since.
            del ctx.declined[start:]
            fired = 0
            for rule_name, rule in rules:
                n = rule(graph, ctx)
                stats[rule_name] += n
                fired += n
            if not fired:
                return
        ctx.logger.warning("canonicalize: rules still firing after %d rounds", self.options.max_rounds)
