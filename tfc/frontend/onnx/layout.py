"""NCHW <-> NHWC: ONNX activations are channels-first, tfc's conv/pool ops are channels-last.

An NCHW op imports as `transpose(to NHWC) -> op -> transpose(back to NCHW)`, so the graph keeps
the ONNX model's interface; the canonicalize pass cancels the transpose pairs between ops.
"""
from __future__ import annotations

from typing import Callable

from tfc.frontend.onnx.context import ImportContext
from tfc.ir.graph import Value

TO_NHWC = [0, 2, 3, 1]
TO_NCHW = [0, 3, 1, 2]
OIHW_TO_OHWI = (0, 2, 3, 1)


def wrap_nhwc(ctx: ImportContext, x: Value, output: str | None,
              build: Callable[[Value], Value]) -> Value:
    """Run `build` (which emits the NHWC op) between the two layout transposes; the result is
    ONNX tensor `output` (an internal value when None)."""
    name = ctx.node.name
    x_nhwc = ctx.emit("transpose", [x], {"perm": TO_NHWC}, name=f"{name}_to_nhwc")[0]
    y_nhwc = build(x_nhwc)
    return ctx.emit("transpose", [y_nhwc], {"perm": TO_NCHW}, name=f"{name}_to_nchw",
                    outputs=[output] if output else None)[0]


def expand_1d(ctx: ImportContext, x: Value) -> Value:
    """[N,C,L] -> [N,C,1,L]: 1-D conv/pool run as 2-D ops with a height of 1."""
    n, c, length = x.shape
    return ctx.emit("reshape", [x], {"shape": [n, c, 1, length]}, name=f"{ctx.node.name}_to_2d")[0]
