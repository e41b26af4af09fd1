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
from tfc.kernels import cost as C


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


def arena_or_flash_operands(lw, i: int, node) -> tuple:
    """Per input of a kernel reading constants in place: an index into the layer's arena inputs,
    or the constant in flash in its own shape (a walk's zero strides broadcast it)."""
    operands, live = [], 0
    for k, v in enumerate(node.inputs):
        if v.data is None:
            operands.append(live)
            live += 1
        else:
            operands.append(lw.const(v, i, f"operand{k}"))
    return tuple(operands)


@dataclass(frozen=True)
class BroadcastArgs:
    """A walking binary kernel's call: its parameters (with a `walk`) and, per input, an index into
    the layer's arena inputs or a ConstArray in flash."""

    params: object
    operands: tuple

    @property
    def flash_arrays(self) -> tuple[R.ConstArray, ...]:
        return tuple(o for o in self.operands if not isinstance(o, int))


class WalkingBinary(Kernel):
    """A binary kernel whose operands broadcast, walked as rank 4 (tfc_broadcast_mul_s8, tfc_sub_s8,
    tfc_div_s8): subclasses give `operator_params(node)` and `run`; params carry the walk."""

    # The operand of the output's shape is read at each element's own index before it is written
    # (the liveness check aliases only an input of the output's size).
    in_place = (0, 1)
    # The call is `function(input_1, input_2, output, out_dims, strides_1, strides_2, <call_args>)`:
    # subclasses give the trailing arguments (jinja, `p` = the operator's parameters) and any
    # declarations they need first (`call_setup`).
    call_args: str = ""
    call_setup: str = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.template_source = (
            '{% import "_macros.j2" as m %}\n{% macro data(layer) %}{% endmacro %}\n{% macro call(layer) %}\n'
            "{% set p = layer.args.params.op %}\n{{ m.comment(layer) }}\n    {\n"
            "{{ m.walk_arrays(layer.args.params.walk) }}" + cls.call_setup +
            "        {{ layer.function }}({{ m.operand(layer, 0) }}, {{ m.operand(layer, 1) }}, {{ m.at(layer.output) }},\n"
            "            out_dims, strides_1, strides_2, " + cls.call_args + ");\n    }\n{% endmacro %}\n")

    @staticmethod
    def walk(node) -> BroadcastWalk | str:
        return broadcast_walk([v.shape for v in node.inputs], node.output.shape)

    def decline(self, node):
        walk = self.walk(node)
        return walk if isinstance(walk, str) else None

    def operator_params(self, node):
        raise NotImplementedError

    def params(self, node):
        return WalkParams(self.operator_params(node), self.walk(node))

    def args(self, lw, i, node, p):
        return BroadcastArgs(p, arena_or_flash_operands(lw, i, node))


@dataclass(frozen=True)
class WalkParams:
    op: object              # the operator's parameters (kp.MulParams, kp.AddParams, DivParams)
    walk: BroadcastWalk


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
    sources = ("elementwise_s8.c",)
    costs = {"arm_elementwise_add_s8": C.Cost(C.ELEMENTS, (17.2357, 442.709))}
    record = R.AddArgs

    def run(self, node, inputs, p):
        return [ref.add(inputs[0], inputs[1], p)]


@register_kernel
class Mul(_Binary):
    name = "mul"
    ops = ("mul",)
    function = "arm_elementwise_mul_s8"
    sources = ("elementwise_s8.c",)
    costs = {"arm_elementwise_mul_s8": C.Cost(C.ELEMENTS)}
    record = R.MulArgs

    def run(self, node, inputs, p):
        return [ref.mul(inputs[0], inputs[1], p)]


@register_kernel
class Requantize(Kernel):
    """int8 -> int8 with new parameters (TFLite's QUANTIZE), a standalone ReLU or clip."""

    name = "requantize"
    ops = ("quantize", "relu", "clip")
    function = "tfc_requantize_s8"
    sources = ("tfc_requantize_s8.c",)
    costs = {"tfc_requantize_s8": C.Cost(C.ELEMENTS)}
    in_place = (0,)

    def params(self, node):
        return npar.requantize_params(node)

    def run(self, node, inputs, p):
        return [ref.requantize(inputs[0], p)]

    def args(self, lw, i, node, p):
        require_activations(node)
        return R.RequantizeArgs(p, node.output.type.size)
