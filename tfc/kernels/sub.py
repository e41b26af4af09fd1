"""tfc_sub_s8: int8 a - b, operands of equal or broadcasting shapes (PoolFormer's pool(x) - x).

TFLite Micro's SUB: its Prepare is ADD's (both inputs shifted left by 20 and rescaled to twice the
larger input scale, node_params.binary_params), and its kernel subtracts the rescaled inputs
where ADD adds them, then rescales to the output (reference_ops::SubElementwise /
BroadcastQuantSubSlow). It is a loop of its own rather than the add with the second multiplier
negated: the doubling high multiply rounds ties up, so -m does not round as the negation of m,
and the DSP add assumes non-negative multipliers. Walked as rank 4 like tfc_broadcast_mul_s8;
a constant operand stays in flash in its own shape (zero strides broadcast it)."""
from __future__ import annotations

from dataclasses import dataclass

from tfc.kernels.base import Kernel, register_kernel
from tfc.kernels.broadcast_mul import BroadcastArgs
from tfc.kernels.elementwise import BroadcastWalk, broadcast_walk, walk_operands
from tfc.quant import kernel_params as kp
from tfc.quant import node_params as npar
from tfc.quant import reference as ref


@dataclass(frozen=True)
class SubParams:
    sub: kp.AddParams
    walk: BroadcastWalk


@register_kernel
class Sub(Kernel):
    name = "sub"
    ops = ("sub",)
    function = "tfc_sub_s8"
    in_place = (0, 1)      # as tfc_broadcast_mul_s8: only an operand of the output's size aliases
    template_source = """\
{#- tfc_sub_s8: Layer with BroadcastArgs(SubParams). -#}
{% import "_macros.j2" as m %}
{% macro data(layer) %}{% endmacro %}
{% macro call(layer) %}
{% set p = layer.args.params.sub %}
{% set w = layer.args.params.walk %}
{{ m.comment(layer) }}
    {
        static const int32_t out_dims[4] = { {{ w.out_dims | join(", ") }} };
        static const int32_t strides_1[4] = { {{ w.strides[0] | join(", ") }} };
        static const int32_t strides_2[4] = { {{ w.strides[1] | join(", ") }} };
        static const tfc_add_params params = {
            .input_1_offset = {{ p.input_1_offset }}, .input_1_mult = {{ p.input_1_mult }}, .input_1_shift = {{ p.input_1_shift }},
            .input_2_offset = {{ p.input_2_offset }}, .input_2_mult = {{ p.input_2_mult }}, .input_2_shift = {{ p.input_2_shift }},
            .left_shift = {{ p.left_shift }}, .out_offset = {{ p.out_offset }}, .out_mult = {{ p.out_mult }}, .out_shift = {{ p.out_shift }},
            .out_activation_min = {{ p.activation.min }}, .out_activation_max = {{ p.activation.max }}, .residual_first = 0 };
        {{ layer.function }}({{ m.operand(layer, 0) }}, {{ m.operand(layer, 1) }}, {{ m.at(layer.output) }},
            out_dims, strides_1, strides_2, &params);
    }
{% endmacro %}
"""

    def decline(self, node):
        walk = broadcast_walk([v.shape for v in node.inputs], node.output.shape)
        return walk if isinstance(walk, str) else None

    def params(self, node):
        walk = broadcast_walk([v.shape for v in node.inputs], node.output.shape)
        return SubParams(npar.binary_params(node, broadcast=True), walk)

    def run(self, node, inputs, p):
        return [ref.sub(inputs[0], inputs[1], p.sub).reshape(node.output.shape)]

    def args(self, lw, i, node, p):
        return BroadcastArgs(p, walk_operands(lw, i, node))
