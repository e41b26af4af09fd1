"""tfc_broadcast_mul_s8: int8 mul of two activations whose shapes broadcast, e.g. squeeze-and-excite's
[1,H,W,C] x [1,1,1,C] (EfficientNet, MobileNetV3, RegNet).

Per element it is TFLite Micro's MUL (reference_integer_ops::BroadcastMul*: the offset inputs'
product requantized with MultiplyByQuantizedMultiplier), i.e. arm_elementwise_mul_s8's arithmetic;
the walk only picks which elements meet. The C walks the output as rank 4
(elementwise.broadcast_walk) and hands each innermost row whose operands are both contiguous to
arm_elementwise_mul_s8 (its DSP path), so a channel-wise scale costs what the plain mul does."""
from __future__ import annotations

from tfc.kernels.base import register_kernel
from tfc.kernels.elementwise import Mul, WalkingBinary
from tfc.quant import node_params as npar
from tfc.quant import reference as ref


@register_kernel
class BroadcastMul(WalkingBinary):
    name = "broadcast_mul"
    ops = ("mul",)
    function = "tfc_broadcast_mul_s8"
    sources = ("tfc_broadcast_mul_s8.c", *Mul.sources)
    priority = -1          # after `mul`, which runs equal shapes and constant operands
    call_args = ("{{ p.input_1_offset }}, {{ p.input_2_offset }}, {{ p.out_offset }}, {{ p.out_mult }}, "
                 "{{ p.out_shift }}, {{ p.activation.min }}, {{ p.activation.max }}")

    def operator_params(self, node):
        return npar.binary_params(node, broadcast=True)

    def run(self, node, inputs, p):
        # numpy's broadcasting, not the walk: the C's strides are checked against it.
        return [ref.mul(inputs[0], inputs[1], p.op).reshape(node.output.shape)]
