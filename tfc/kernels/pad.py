"""tfc_pad_s8: a constant pad of int8 data (negative pads crop, as in ONNX). The output keeps the
input's grid; the op's `value` is real (what a float or QDQ model pads with), so the kernel fills
with it quantized onto that grid, one raw integer.

The pad runs as a rank-4 walk: an axis without padding merges into the axis outside it, size-1
unpadded axes are dropped; each output row is a fill, a copy of the input row and a fill."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfc.ir.ops.quant import quantize_array
from tfc.kernels.base import PlannedKernel, register_kernel
from tfc.kernels.conv import require_activations
from tfc.quant.operands import per_tensor

RANK = 4   # the C kernel's walk


@dataclass(frozen=True)
class PadArgs:
    """Per axis of the rank-4 walk: input dims, elements before (negative: cropped), output dims;
    and the fill, quantized."""

    in_dims: tuple[int, ...]
    before: tuple[int, ...]
    out_dims: tuple[int, ...]
    fill: int


def pad_walk(node) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] | str:
    """(in_dims, before, out_dims) of the rank-4 walk of a pad node, or why it has none."""
    if node.attrs["mode"] != "constant":
        return f"mode {node.attrs['mode']!r} (the int8 kernel pads with a constant)"
    shape, pads = tuple(node.inputs[0].shape), node.attrs["pads"]
    rank = len(shape)
    walk: list[list[int]] = []                       # in_dim, before, after
    for d, b, e in zip(shape, pads[:rank], pads[rank:]):
        if b == 0 and e == 0 and (d == 1 or walk):   # no padding: rows of the outer axis grow by d
            if walk:
                walk[-1] = [walk[-1][0] * d, walk[-1][1] * d, walk[-1][2] * d]
            continue
        walk.append([d, b, e])
    if len(walk) > RANK:
        return (f"a pad of rank {rank} that stays rank {len(walk)} after merging unpadded axes "
                f"(the C kernel walks rank <= {RANK})")
    walk = [[1, 0, 0]] * (RANK - len(walk)) + walk
    return (tuple(d for d, _, _ in walk), tuple(b for _, b, _ in walk), tuple(d + b + e for d, b, e in walk))


@register_kernel
class Pad(PlannedKernel):
    name = "pad"
    ops = ("pad",)
    function = "tfc_pad_s8"
    sources = ("tfc_pad_s8.c",)
    template_source = """\
{#- tfc_pad_s8: Layer with PadArgs (the rank-4 walk and the quantized fill). -#}
{% import "_macros.j2" as m %}
{% macro data(layer) %}{% endmacro %}
{% macro call(layer) %}
{{ m.walk_call(layer, ["in_dims", "before", "out_dims"], ", " ~ layer.args.fill) }}
{% endmacro %}
"""

    def plan(self, node):
        walk = pad_walk(node)
        if isinstance(walk, str):
            return walk
        q = per_tensor(node.output, "output", node)
        fill = quantize_array(np.float32(node.attrs["value"]), q, q.storage)
        return PadArgs(*walk, int(fill))

    def run(self, node, inputs, p):
        x = inputs[0].reshape(p.in_dims)
        out = np.full(p.out_dims, p.fill, dtype=np.int8)
        dst, src = [], []
        for d, b, o in zip(p.in_dims, p.before, p.out_dims):
            lo, hi = min(max(b, 0), o), min(max(b + d, 0), o)   # output positions the input covers
            dst.append(slice(lo, hi))
            src.append(slice(lo - b, hi - b))
        out[tuple(dst)] = x[tuple(src)]
        return [out.reshape(node.output.shape)]

    def args(self, lw, i, node, p):
        require_activations(node)
        return p
