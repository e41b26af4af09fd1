"""Shape arithmetic that exporters emit around Reshape/Expand (Shape -> Gather -> Concat ...).

Shapes are static in tfc, so these ops fold to constants at import; they must see constant
inputs (or, for Shape/Size, any tensor of known shape). IsNaN/IsInf of a computed tensor and a
Where whose constant condition picks one side everywhere fold too."""
from __future__ import annotations

import numpy as np

from tfc.frontend.onnx.context import ImportContext
from tfc.frontend.onnx.loader import tensor_to_array
from tfc.frontend.onnx.registry import OnnxNode, converter


@converter("Shape")
def convert_shape(ctx: ImportContext, node: OnnxNode) -> None:
    shape = ctx.shape_of(node.input(0))
    start, end = node.attr("start", 0), node.attr("end", len(shape))
    ctx.set_const(node.output(0), np.array(shape[slice(start, end)], dtype=np.int64))


@converter("Size")
def convert_size(ctx: ImportContext, node: OnnxNode) -> None:
    ctx.set_const(node.output(0), np.array(int(np.prod(ctx.shape_of(node.input(0)))), dtype=np.int64))


@converter("ConstantOfShape")
def convert_constant_of_shape(ctx: ImportContext, node: OnnxNode) -> None:
    shape = ctx.require_ints(node.input(0), "ConstantOfShape shape").astype(np.int64).ravel()
    if np.any(shape < 0):
        raise ctx.unsupported(f"negative dim in shape {shape.tolist()}")
    fill = node.attr("value")
    fill = (tensor_to_array(fill, file=ctx.file, what="ConstantOfShape value").ravel()
            if fill is not None else np.zeros(1, np.float32))
    if fill.size != 1:
        raise ctx.unsupported("ConstantOfShape value must hold one element")
    ctx.set_const(node.output(0), np.full(tuple(shape), fill[0], dtype=fill.dtype))


@converter("Range")
def convert_range(ctx: ImportContext, node: OnnxNode) -> None:
    start, limit, delta = (ctx.require_const(node.input(i), f"Range {w}").reshape(())
                           for i, w in enumerate(("start", "limit", "delta")))
    if delta == 0:
        raise ctx.unsupported("Range delta is 0")
    count = max(int(np.ceil((limit - start) / delta)), 0)
    ctx.set_const(node.output(0), (start + np.arange(count, dtype=start.dtype) * delta).astype(start.dtype))


_COMPARE = {"Equal": np.equal, "Less": np.less, "Greater": np.greater,
            "LessOrEqual": np.less_equal, "GreaterOrEqual": np.greater_equal}
_LOGIC = {"Not": np.logical_not, "And": np.logical_and, "Or": np.logical_or}


@converter(*_COMPARE, *_LOGIC)
def convert_boolean(ctx: ImportContext, node: OnnxNode) -> None:
    fn = _COMPARE.get(node.op_type) or _LOGIC[node.op_type]
    args = [ctx.require_const(n, f"{node.op_type} input") for n in node.inputs]
    ctx.set_const(node.output(0), np.asarray(fn(*args)))


@converter("Mod")
def convert_mod(ctx: ImportContext, node: OnnxNode) -> None:
    a, b = (ctx.require_const(n, "Mod input") for n in node.inputs[:2])
    if np.issubdtype(np.result_type(a, b), np.integer) and np.any(b == 0):
        raise ctx.unsupported("Mod by zero")
    result = np.fmod(a, b) if node.attr("fmod", 0) else np.mod(a, b)
    ctx.set_const(node.output(0), result.astype(np.result_type(a, b)))


@converter("Floor", "Ceil")
def convert_rounding(ctx: ImportContext, node: OnnxNode) -> None:
    x = ctx.require_const(node.input(0), f"{node.op_type} input")
    ctx.set_const(node.output(0), (np.floor if node.op_type == "Floor" else np.ceil)(x))


@converter("IsNaN", "IsInf")
def convert_is_nan(ctx: ImportContext, node: OnnxNode) -> None:
    """Exact on constants. A computed tensor is finite in tfc (int8 has no NaN or infinity), so
    the test is all false there: the guard dynamo writes around attention's softmax,
    Where(IsNaN(p), 0, p), reduces to p."""
    data = ctx.const(node.input(0))
    if data is None:
        ctx.set_const(node.output(0), np.zeros(ctx.shape_of(node.input(0)), dtype=bool))
        return
    if node.op_type == "IsNaN":
        ctx.set_const(node.output(0), np.isnan(data))
        return
    pos, neg = node.attr("detect_positive", 1), node.attr("detect_negative", 1)
    ctx.set_const(node.output(0), np.isinf(data) & (((data > 0) & bool(pos)) | ((data < 0) & bool(neg))))


@converter("Where")
def convert_where(ctx: ImportContext, node: OnnxNode) -> None:
    cond = ctx.require_const(node.input(0), "Where condition").astype(bool)
    a, b = (ctx.const(n) for n in node.inputs[1:3])
    if a is not None and b is not None:
        ctx.set_const(node.output(0), np.where(cond, a, b).astype(np.result_type(a, b)))
        return
    if not (cond.all() or not cond.any()):
        raise ctx.unsupported("Where with a mixed constant condition over computed tensors is not supported",
                              hint="only a condition that selects one input everywhere folds away")
    chosen = node.input(1) if cond.all() else node.input(2)
    shape = np.broadcast_shapes(cond.shape, ctx.shape_of(node.input(1)), ctx.shape_of(node.input(2)))
    x = ctx.value(chosen)
    if tuple(x.shape) == tuple(shape):
        ctx.define(node.output(0), x)
    else:
        ctx.emit("expand", [x], {"shape": list(shape)}, outputs=node.outputs[:1])
