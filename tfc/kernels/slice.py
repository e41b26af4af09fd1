"""tfc_slice_s8: a static strided slice of int8 data (ONNX Slice after the importer's clamping).
Data movement: the output keeps the input's grid, so the kernel copies stored integers.

The slice runs as a rank-4 walk: size-1 axes are dropped and a step-1 axis merges with the whole
axes inside it (one longer run of contiguous bytes), so a rank-5 slice of a few axes still fits;
the innermost axis is one memcpy when its step is 1."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfc.kernels.base import PlannedKernel, register_kernel
from tfc.kernels.conv import require_activations

RANK = 4   # the C kernel's walk


@dataclass(frozen=True)
class SliceArgs:
    """Per axis of the rank-4 walk: input dims, first index, step (may be negative), count."""

    in_dims: tuple[int, ...]
    begin: tuple[int, ...]
    step: tuple[int, ...]
    out_dims: tuple[int, ...]


def slice_walk(node) -> SliceArgs | str:
    """The rank-4 walk of a slice node, or why it has none."""
    shape = tuple(node.inputs[0].shape)
    axes = [[d, 0, 1, d] for d in shape]             # dim, begin, step, count
    a = node.attrs
    for start, end, axis, step in zip(a["starts"], a["ends"], a["axes"], a["steps"]):
        ax = axis % len(shape)
        begin, stop, step = slice(start, None if end == -(1 << 62) else end, step).indices(shape[ax])
        axes[ax] = [shape[ax], begin, step, len(range(begin, stop, step))]
    if any(count == 0 for *_, count in axes):
        return "the slice is empty"
    walk: list[list[int]] = []
    for dim, begin, step, count in axes:
        if dim == 1:
            continue
        whole = begin == 0 and step == 1 and count == dim
        if walk and whole and walk[-1][2] == 1:      # the outer axis advances by whole rows of this one
            outer = walk[-1]
            walk[-1] = [outer[0] * dim, outer[1] * dim, 1, outer[3] * dim]
        else:
            walk.append([dim, begin, step, count])
    if len(walk) > RANK:
        return (f"a slice of rank {len(shape)} that stays rank {len(walk)} after merging whole axes "
                f"(the C kernel walks rank <= {RANK})")
    walk = [[1, 0, 1, 1]] * (RANK - len(walk)) + walk
    return SliceArgs(*(tuple(row[k] for row in walk) for k in range(4)))


@register_kernel
class Slice(PlannedKernel):
    name = "slice"
    ops = ("slice",)
    function = "tfc_slice_s8"
    sources = ("tfc_slice_s8.c",)
    template_source = """\
{#- tfc_slice_s8: Layer with SliceArgs (the rank-4 walk). -#}
{% import "_macros.j2" as m %}
{% macro data(layer) %}{% endmacro %}
{% macro call(layer) %}
{{ m.walk_call(layer, ["in_dims", "begin", "step", "out_dims"]) }}
{% endmacro %}
"""

    def plan(self, node):
        return slice_walk(node)

    def run(self, node, inputs, p):
        x = inputs[0].reshape(p.in_dims)
        index = tuple(np.arange(p.out_dims[a]) * p.step[a] + p.begin[a] for a in range(RANK))
        return [np.ascontiguousarray(x[np.ix_(*index)]).reshape(node.output.shape)]

    def args(self, lw, i, node, p):
        require_activations(node)
        return p
