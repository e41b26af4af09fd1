"""Activations and broadcasting arithmetic: mostly one ONNX op to one IR op."""
from __future__ import annotations

import numpy as np

from tfc.frontend.onnx.context import ImportContext
from tfc.frontend.onnx.registry import OnnxNode, converter

_UNARY = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hardswish",
          "Erf": "erf", "Sqrt": "sqrt", "Exp": "exp", "Neg": "neg", "Abs": "abs",
          "Reciprocal": "reciprocal"}
_BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow"}
_VARIADIC = {"Max": "max", "Min": "min", "Sum": "add", "Mean": "add"}


@converter(*_UNARY)
def convert_unary(ctx: ImportContext, node: OnnxNode) -> None:
    ctx.emit(_UNARY[node.op_type], ctx.values(node.inputs[:1]), outputs=node.outputs[:1])


@converter("HardSigmoid")
def convert_hardsigmoid(ctx: ImportContext, node: OnnxNode) -> None:
    ctx.emit("hardsigmoid", ctx.values(node.inputs[:1]),
             {"alpha": node.attr("alpha", 0.2), "beta": node.attr("beta", 0.5)}, outputs=node.outputs[:1])


@converter("Gelu")
def convert_gelu(ctx: ImportContext, node: OnnxNode) -> None:
    approximate = node.attr("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise ctx.unsupported(f"Gelu approximate='{approximate}' is not defined by ONNX",
                              hint="use approximate='none' or 'tanh'")
    ctx.emit("gelu", ctx.values(node.inputs[:1]), {"approximate": approximate}, outputs=node.outputs[:1])


@converter("Clip")
def convert_clip(ctx: ImportContext, node: OnnxNode) -> None:
    # Opset >= 11 passes min/max as (optional) inputs; they must be constants.
    bounds = {}
    for key, index in (("min", 1), ("max", 2)):
        if node.input(index):
            bound = ctx.require_const(node.input(index), f"Clip {key}")
            if bound.size != 1:
                raise ctx.unsupported(f"Clip {key} must be a scalar, got shape {list(bound.shape)}")
            bounds[key] = float(bound.reshape(()))
    ctx.emit("clip", ctx.values(node.inputs[:1]), bounds, outputs=node.outputs[:1])


@converter(*_BINARY)
def convert_binary(ctx: ImportContext, node: OnnxNode) -> None:
    ctx.emit(_BINARY[node.op_type], ctx.values(node.inputs[:2]), outputs=node.outputs[:1])


@converter(*_VARIADIC)
def convert_variadic(ctx: ImportContext, node: OnnxNode) -> None:
    """Max/Min/Sum/Mean of n inputs: a chain of binary ops (Mean divides by n at the end)."""
    op = _VARIADIC[node.op_type]
    values = ctx.values(node.inputs)
    final = node.outputs[:1]
    if len(values) == 1:          # the op of one tensor is that tensor
        ctx.define(final[0], values[0])
        return
    acc = values[0]
    for i, v in enumerate(values[1:], start=1):
        last = i == len(values) - 1 and node.op_type != "Mean"
        acc = ctx.emit(op, [acc, v], name=node.name if last else f"{node.name}_{i}",
                       outputs=final if last else None)[0]
    if node.op_type == "Mean":
        n = ctx.graph.add_constant(f"{node.name}_count", np.array(len(values), acc.dtype.numpy))
        ctx.emit("div", [acc, n], outputs=final)
