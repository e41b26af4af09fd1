"""A sparse linear layer storing its result in the layout a reshape + transpose after it makes (op
linear_heads; fuse makes it: tfc.passes.fusion.heads).

A transformer's q/k/v projection is read through view -> transpose: its heads split apart
([N, H*D] -> [H, N, D]) or transposed ([H, D, N]), a pass of tfc_transpose_s8 over the tensor.
Generated sparse code (tfc/sparse/codegen.py) stores every output channel at an immediate offset,
so where vector v's channel c lands after the transpose is v * step + offset[c] (checked here),
it stores there directly: the same bytes, no transpose. Only that encoding has per-channel
offsets, so the kernel declines the others and fuse leaves the transpose.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from tfc.kernels.base import register_kernel
from tfc.kernels.conv import bias_of
from tfc.kernels.sparse import SparseFullyConnected, _plain_input, sparse_args
from tfc.quant import reference as ref
from tfc.sparse import codegen


def output_order(vectors: int, rows: int, split, perm) -> tuple[int, tuple[int, ...]] | None:
    """(step, offsets): vector v's channel c of the [vectors, rows] result lands at v * step +
    offsets[c] of reshape(split).transpose(perm); None where no such step exists."""
    n = vectors * rows
    dest = np.empty(n, np.int64)
    dest[np.arange(n).reshape(split).transpose(perm).ravel()] = np.arange(n)
    dest = dest.reshape(vectors, rows)
    step = int(dest[1, 0] - dest[0, 0]) if vectors > 1 else rows
    if not np.array_equal(dest, dest[0] + step * np.arange(vectors)[:, None]):
        return None
    return step, tuple(int(v) for v in dest[0])


def _order(node):
    w = node.inputs[1]
    rows, depth = w.shape
    return output_order(node.inputs[0].type.size // depth, rows, node.attrs["split"], node.attrs["perm"])


@register_kernel
class SparseFullyConnectedHeads(SparseFullyConnected):
    """linear_heads: the sparse linear layer's generated code storing the transposed layout."""

    name = "sparse_fc_heads"
    ops = ("linear_heads",)

    def decline(self, node):
        reason = super().decline(node)
        if reason:
            return reason
        if node.inputs[1].sparse.encoding != codegen.UNROLLED:
            return f"the weights are stored as {node.inputs[1].sparse.encoding} (only generated code stores per channel)"
        if _order(node) is None:
            return f"split {node.attrs['split']} / perm {node.attrs['perm']} is not one step per vector"
        return None

    def run(self, node, inputs, p):
        y = ref.fully_connected(_plain_input(node, inputs[0]), inputs[1], bias_of(inputs), p)
        return [np.ascontiguousarray(y.reshape(node.attrs["split"]).transpose(node.attrs["perm"]))]

    def args(self, lw, i, node, p):
        a = sparse_args(lw, i, node, False, p)
        step, offsets = _order(node)
        code = dataclasses.replace(a.code, stride=step, channel_offsets=offsets)
        return dataclasses.replace(a, code=code, output_pixel_step=step)
