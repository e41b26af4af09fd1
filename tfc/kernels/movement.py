"""Data movement on stored int8 values: reshape (no code: the planner aliases the bytes),
tfc_transpose_s8 and tfc_gather_s8 (constant indices). They keep the quantization grid, so their
numpy twin is the op's own reference on the integers."""
from __future__ import annotations

import math
from dataclasses import dataclass

from tfc.errors import UnsupportedError
from tfc.kernels import records as R
from tfc.kernels.base import Kernel, register_kernel
from tfc.kernels.conv import require_activations
from tfc.quant import transformer_params as tp
from tfc.kernels import cost as C


class _Movement(Kernel):
    def evaluate(self, node, inputs):
        return node.spec.reference(node, list(inputs))


@register_kernel
class Reshape(_Movement):
    name = "reshape"
    ops = ("reshape",)

    def args(self, lw, i, node, p):
        require_activations(node)
        return R.ReshapeArgs()


@register_kernel
class Transpose(_Movement):
    name = "transpose"
    ops = ("transpose",)
    function = "tfc_transpose_s8"
    sources = ("tfc_transpose_s8.c",)
    costs = {"tfc_transpose_s8": C.Cost(C.ROWS, (2.8682, 1.1671, 224.4872))}

    def args(self, lw, i, node, p):
        require_activations(node)
        shape, perm = simplify_transpose(tuple(node.inputs[0].shape), tuple(node.attrs["perm"]))
        perm = list(perm)
        if len(perm) > 4:
            raise UnsupportedError(f"transpose of rank {len(perm)} (the C kernel handles rank <= 4)",
                                   node=node.name, op=node.op)
        pad = 4 - len(perm)
        return R.TransposeArgs(tuple([1] * pad + list(shape)), tuple(list(range(pad)) + [d + pad for d in perm]))


@dataclass(frozen=True)
class GatherArgs:
    params: tp.GatherParams
    indices: R.ConstArray


@register_kernel
class Gather(_Movement):
    name = "gather"
    ops = ("gather",)
    function = "tfc_gather_s8"
    sources = ("tfc_gather_s8.c",)

    def params(self, node):
        return tp.gather_params(node)

    def args(self, lw, i, node, p):
        return GatherArgs(p, lw.flash(f"tfc_{lw.name}_l{i}_indices", "int32_t", p.indices,
                                      f"layer {i}: gather indices"))


def simplify_transpose(shape: tuple[int, ...], perm: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The same permutation with size-1 axes dropped and axes that stay neighbours merged, so a
    rank-5 head split such as [1,16,1,3,96] perm [3,1,2,0,4] runs as a rank-2 transpose."""
    keep = [a for a in range(len(shape)) if shape[a] != 1]
    order = [a for a in perm if shape[a] != 1]
    groups: list[list[int]] = []        # runs of input axes that stay adjacent and in order
    for a in order:
        if groups and keep.index(a) == keep.index(groups[-1][-1]) + 1:
            groups[-1].append(a)
        else:
            groups.append([a])
    by_input = sorted(groups, key=lambda g: g[0])
    new_shape = tuple(math.prod(shape[a] for a in g) for g in by_input)
    new_perm = tuple(by_input.index(g) for g in groups)
    return new_shape or (1,), new_perm or (0,)
