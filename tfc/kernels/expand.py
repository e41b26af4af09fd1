"""tfc_expand_s8: ONNX Expand of int8 data (SwiftFormer, MobileViTV2): the input repeated over the
axes it broadcasts along. Data movement, so the output keeps the input's grid and the kernel
copies stored integers, walking the output as rank 4 (elementwise.broadcast_walk) with the
input's stride 0 on the repeated axes; a contiguous innermost row is one memcpy."""
from __future__ import annotations

import numpy as np

from tfc.kernels.base import PlannedKernel, register_kernel
from tfc.kernels.conv import require_activations
from tfc.kernels.elementwise import broadcast_walk


@register_kernel
class Expand(PlannedKernel):
    name = "expand"
    ops = ("expand",)
    function = "tfc_expand_s8"
    sources = ("tfc_expand_s8.c",)
    template_source = """\
{#- tfc_expand_s8: Layer with a BroadcastWalk of the one input. -#}
{% import "_macros.j2" as m %}
{% macro data(layer) %}{% endmacro %}
{% macro call(layer) %}
{{ m.comment(layer) }}
    {
        static const int32_t out_dims[4] = { {{ layer.args.out_dims | join(", ") }} };
        static const int32_t strides[4] = { {{ layer.args.strides[0] | join(", ") }} };
        {{ layer.function }}({{ m.at(layer.inputs[0]) }}, {{ m.at(layer.output) }}, out_dims, strides);
    }
{% endmacro %}
"""

    def plan(self, node):
        return broadcast_walk([node.inputs[0].shape], node.output.shape)

    def run(self, node, inputs, p):
        return [np.ascontiguousarray(np.broadcast_to(inputs[0], node.output.shape))]

    def args(self, lw, i, node, p):
        require_activations(node)
        return p
