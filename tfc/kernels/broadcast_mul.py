"""tfc_broadcast_mul_s8: int8 mul of two activations whose shapes broadcast, e.g. squeeze-and-excite's
[1,H,W,C] x [1,1,1,C] (EfficientNet, MobileNetV3, RegNet).

Per element it is TFLite Micro's MUL (reference_integer_ops::BroadcastMul*: the offset inputs'
product requantized with MultiplyByQuantizedMultiplier), i.e. arm_elementwise_mul_s8's arithmetic;
the walk only picks which elements meet. The C walks the output as rank 4
(elementwise.broadcast_walk) and hands each innermost row whose operands are both contiguous to
arm_elementwise_mul_s8 (its DSP path), so a channel-wise scale costs what the plain mul does."""
from __future__ import annotations

from dataclasses import dataclass

from tfc.kernels import records as R
from tfc.kernels.base import Kernel, register_kernel
from tfc.kernels.elementwise import BroadcastWalk, broadcast_walk, walk_operands
from tfc.quant import kernel_params as kp
from tfc.quant import node_params as npar
from tfc.quant import reference as ref


@dataclass(frozen=True)
class BroadcastMulParams:
    mul: kp.MulParams
    walk: BroadcastWalk


@dataclass(frozen=True)
class BroadcastArgs:
    """A walking binary kernel's call: its parameters and, per input, an index into the layer's
    arena inputs or a ConstArray in flash."""

    params: object
    operands: tuple

    @property
    def flash_arrays(self) -> tuple[R.ConstArray, ...]:
        return tuple(o for o in self.operands if not isinstance(o, int))


@register_kernel
class BroadcastMul(Kernel):
    name = "broadcast_mul"
    ops = ("mul",)
    function = "tfc_broadcast_mul_s8"
    priority = -1          # after `mul`, which runs equal shapes and constant operands
    # The operand of the output's shape is read at each element's own index before it is
    # written (the liveness check aliases only an input of the output's size).
    in_place = (0, 1)
    template_source = """\
{#- tfc_broadcast_mul_s8: Layer with BroadcastArgs(BroadcastMulParams). -#}
{% import "_macros.j2" as m %}
{% macro data(layer) %}{% endmacro %}
{% macro call(layer) %}
{% set p = layer.args.params.mul %}
{% set w = layer.args.params.walk %}
{{ m.comment(layer) }}
    {
        static const int32_t out_dims[4] = { {{ w.out_dims | join(", ") }} };
        static const int32_t strides_1[4] = { {{ w.strides[0] | join(", ") }} };
        static const int32_t strides_2[4] = { {{ w.strides[1] | join(", ") }} };
        {{ layer.function }}({{ m.operand(layer, 0) }}, {{ m.operand(layer, 1) }}, {{ m.at(layer.output) }},
            out_dims, strides_1, strides_2, {{ p.input_1_offset }}, {{ p.input_2_offset }},
            {{ p.out_offset }}, {{ p.out_mult }}, {{ p.out_shift }}, {{ p.activation.min }}, {{ p.activation.max }});
    }
{% endmacro %}
"""

    def decline(self, node):
        walk = broadcast_walk([v.shape for v in node.inputs], node.output.shape)
        return walk if isinstance(walk, str) else None

    def params(self, node):
        walk = broadcast_walk([v.shape for v in node.inputs], node.output.shape)
        return BroadcastMulParams(npar.binary_params(node, broadcast=True), walk)

    def run(self, node, inputs, p):
        # numpy's broadcasting, not the walk: the C's strides are checked against it.
        return [ref.mul(inputs[0], inputs[1], p.mul).reshape(node.output.shape)]

    def args(self, lw, i, node, p):
        return BroadcastArgs(p, walk_operands(lw, i, node))
