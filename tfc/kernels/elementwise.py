"""Elementwise int8 kernels: arm_elementwise_add_s8, arm_elementwise_mul_s8 (a constant operand in
flash, repeated over the output when it broadcasts), and tfc_requantize_s8 (quantize int8 -> int8,
relu, clip: rescale, then clamp)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tfc.errors import UnsupportedError
from tfc.kernels import records as R
from tfc.kernels.base import Kernel, register_kernel
from tfc.kernels.conv import require_activations
from tfc.quant import node_params as npar
from tfc.quant import reference as ref


def broadcast_period(operand_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> int:
    """Elements of the output covered by one copy of a broadcast operand: the product of the
    output's trailing axes from the first one the operand spans (a [C] bias over [T, C] -> C)."""
    padded = (1,) * (len(output_shape) - len(operand_shape)) + tuple(operand_shape)
    first = next((a for a, d in enumerate(padded) if d != 1), len(output_shape))
    return math.prod(output_shape[first:])


WALK_RANK = 4   # the broadcasting kernels' C walk


@dataclass(frozen=True)
class BroadcastWalk:
    """A broadcasting elementwise op as a rank-4 walk over its output: per operand, the element
    stride of each output axis in that operand's own storage (0 where it broadcasts)."""

    out_dims: tuple[int, ...]
    strides: tuple[tuple[int, ...], ...]


def broadcast_walk(operand_shapes, output_shape) -> BroadcastWalk | str:
    """The rank-4 walk of operands broadcasting to `output_shape`, or why there is none. Size-1
    output axes drop out and neighbouring axes that every operand spans alike (all of it, or
    none of it) merge into one, so [1,H,W,C] x [1,1,1,C] walks as [HW, C]."""
    rank = len(output_shape)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in operand_shapes]
    axes: list[list] = []                 # [dim, (spans per operand)]
    for a, dim in enumerate(output_shape):
        if dim == 1:
            continue
        spans = tuple(s[a] == dim for s in padded)
        if any(s[a] not in (1, dim) for s in padded):
            return f"operand shapes {[list(s) for s in operand_shapes]} do not broadcast to {list(output_shape)}"
        if axes and axes[-1][1] == spans:
            axes[-1][0] *= dim
        else:
            axes.append([dim, spans])
    if len(axes) > WALK_RANK:
        return (f"operands {[list(s) for s in operand_shapes]} broadcast in {len(axes)} separate axis groups "
                f"(the C kernel walks rank <= {WALK_RANK})")
    axes = [[1, tuple(True for _ in padded)]] * (WALK_RANK - len(axes)) + axes
    strides = []
    for k in range(len(padded)):
        row, step = [], 1
        for dim, spans in reversed(axes):
            row.append(step if spans[k] and dim > 1 else 0)
            step *= dim if spans[k] else 1
        strides.append(tuple(reversed(row)))
    return BroadcastWalk(tuple(d for d, _ in axes), tuple(strides))


def walk_operands(lw, i: int, node) -> tuple:
    """Per input of a walking kernel: an index into the layer's arena inputs, or a constant in
    flash in its own shape (the walk's zero strides broadcast it)."""
    operands, live = [], 0
    for k, v in enumerate(node.inputs):
        if v.data is None:
            operands.append(live)
            live += 1
        else:
            operands.append(lw.const(v, i, f"operand{k}"))
    return tuple(operands)


def constant_operand(lw, i: int, node, index: int) -> R.ConstArray:
    """An add/mul operand that is a constant (a position embedding, a bias over tokens): int8 in
    flash, broadcast at compile time over the output's trailing axes it spans; the kernel is called
    once per repeat of it (the CMSIS-NN kernels do not broadcast), so a [C] vector stays C bytes."""
    v = node.inputs[index]
    out_shape = tuple(node.output.shape)
    period = broadcast_period(tuple(v.shape), out_shape)
    data = np.broadcast_to(v.data, out_shape).reshape(-1)[:period]
    if v.quant is None or data.dtype != np.int8 or v.quant.axis is not None:
        raise UnsupportedError(f"constant operand {v.ref} of an int8 {node.op} must be int8, quantized per tensor",
                               node=node.name, op=node.op, hint="run quantize-int8")
    return lw.flash(f"tfc_{lw.name}_l{i}_operand{index}", "int8_t", data,
                    f"layer {i}: {v.ref} : {v.type}, repeated over {list(out_shape)}")


class _Binary(Kernel):
    in_place = (0, 1)
    record: type

    def decline(self, node):
        # A constant operand may broadcast (repeated in flash); two activations must match.
        a, b = node.inputs
        if a.data is None and b.data is None and a.shape != b.shape:
            return (f"activations of shapes {list(a.shape)} and {list(b.shape)} broadcast "
                    "(the CMSIS-NN kernel walks equal shapes)")
        return None

    def params(self, node):
        return npar.binary_params(node)

    def args(self, lw, i, node, p):
        operands = ()
        if any(v.data is not None for v in node.inputs):
            live = iter(range(len(node.inputs)))  # index into the layer's arena inputs
            operands = tuple(constant_operand(lw, i, node, k) if v.data is not None else next(live)
                             for k, v in enumerate(node.inputs))
        size = node.output.type.size
        block = min((c.values.size for c in operands if not isinstance(c, int)), default=size)
        return self.record(p, size, operands, block)


@register_kernel
class Add(_Binary):
    name = "add"
    ops = ("add",)
    function = "arm_elementwise_add_s8"
    record = R.AddArgs

    def run(self, node, inputs, p):
        return [ref.add(inputs[0], inputs[1], p)]


@register_kernel
class Mul(_Binary):
    name = "mul"
    ops = ("mul",)
    function = "arm_elementwise_mul_s8"
    record = R.MulArgs

    def run(self, node, inputs, p):
        return [ref.mul(inputs[0], inputs[1], p)]


@register_kernel
class Requantize(Kernel):
    """int8 -> int8 with new parameters (TFLite's QUANTIZE), a standalone ReLU or clip."""

    name = "requantize"
    ops = ("quantize", "relu", "clip")
    function = "tfc_requantize_s8"
    in_place = (0,)

    def params(self, node):
        return npar.requantize_params(node)

    def run(self, node, inputs, p):
        return [ref.requantize(inputs[0], p)]

    def args(self, lw, i, node, p):
        require_activations(node)
        return R.RequantizeArgs(p, node.output.type.size)
