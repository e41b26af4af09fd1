"""tfc_sub_s8: int8 a - b, operands of equal or broadcasting shapes (PoolFormer's pool(x) - x).

TFLite Micro's SUB: its Prepare is ADD's (both inputs shifted left by 20 and rescaled to twice the
larger input scale, node_params.binary_params), and its kernel subtracts the rescaled inputs
where ADD adds them, then rescales to the output (reference_ops::SubElementwise /
BroadcastQuantSubSlow). It is a loop of its own rather than the add with the second multiplier
negated: the doubling high multiply rounds ties up, so -m does not round as the negation of m,
and the DSP add assumes non-negative multipliers. Walked as rank 4 like tfc_broadcast_mul_s8;
a constant operand stays in flash in its own shape (zero strides broadcast it)."""
from __future__ import annotations

from tfc.kernels.base import register_kernel
from tfc.kernels.elementwise import WalkingBinary
from tfc.quant import node_params as npar
from tfc.quant import reference as ref


@register_kernel
class Sub(WalkingBinary):
    name = "sub"
    ops = ("sub",)
    function = "tfc_sub_s8"
    sources = ("tfc_sub_s8.c",)
    call_setup = ("        static const tfc_add_params params = {\n"
                  "            .input_1_offset = {{ p.input_1_offset }}, .input_1_mult = {{ p.input_1_mult }}, "
                  ".input_1_shift = {{ p.input_1_shift }},\n"
                  "            .input_2_offset = {{ p.input_2_offset }}, .input_2_mult = {{ p.input_2_mult }}, "
                  ".input_2_shift = {{ p.input_2_shift }},\n"
                  "            .left_shift = {{ p.left_shift }}, .out_offset = {{ p.out_offset }}, "
                  ".out_mult = {{ p.out_mult }}, .out_shift = {{ p.out_shift }},\n"
                  "            .out_activation_min = {{ p.activation.min }}, "
                  ".out_activation_max = {{ p.activation.max }}, .residual_first = 0 };\n")
    call_args = "&params"

    def operator_params(self, node):
        return npar.binary_params(node, broadcast=True)

    def run(self, node, inputs, p):
        return [ref.sub(inputs[0], inputs[1], p.op).reshape(node.output.shape)]
