"""QuantizeLinear / DequantizeLinear: scale and zero point become QuantParams on the integer value.

DequantizeLinear of an integer initializer (weights, int32 biases) stays that integer constant,
read through a `dequantize` node; of an activation, the params go onto the activation itself.
"""
from __future__ import annotations

import numpy as np

from tfc.frontend.onnx.context import ImportContext, PendingDequantize
from tfc.frontend.onnx.loader import to_dtype
from tfc.frontend.onnx.registry import OnnxNode, converter
from tfc.ir.graph import Value
from tfc.ir.ops.quant import quantize_array
from tfc.ir.types import DType, QuantParams

_STORAGE = (DType.I8, DType.U8, DType.I16, DType.I32)


def _params(ctx: ImportContext, node: OnnxNode, rank: int, storage: DType) -> QuantParams:
    if node.attr("block_size", 0):
        raise ctx.unsupported("blocked quantization (block_size) is not supported",
                              hint="use per-tensor or per-axis scales")
    scale = ctx.require_const(node.input(1), f"{node.op_type} scale").astype(np.float32)
    zp = (ctx.require_const(node.input(2), f"{node.op_type} zero point") if node.input(2)
          else np.zeros(scale.shape, storage.numpy))
    if node.input(2) and zp.dtype != storage.numpy:
        raise ctx.unsupported(f"the zero point is {zp.dtype} but the quantized data is {storage.value}; ONNX "
                              "requires the same type (onnxruntime refuses the model)",
                              hint="the model is not valid ONNX; re-export it")
    if scale.size == 1 and zp.size == 1:  # onnxruntime writes scale [1] beside a scalar zero point
        scale, zp = scale.reshape(()), zp.reshape(())
    if scale.ndim > 1 or zp.shape != scale.shape:
        raise ctx.unsupported(f"scale shape {list(scale.shape)} and zero point shape {list(zp.shape)} "
                              "must be equal and at most 1-D", hint="use per-tensor or per-axis scales")
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise ctx.unsupported("quantization scales must be finite and > 0")
    if scale.size == 1:
        return QuantParams(scale.ravel(), zp.ravel(), None, storage)
    axis = node.attr("axis", 1)
    if not -rank <= axis < rank:
        raise ctx.unsupported(f"axis {axis} out of range for rank {rank}")
    return QuantParams(scale, zp, axis % rank, storage)


def _storage(ctx: ImportContext, elem: DType | None, what: str) -> DType:
    if elem not in _STORAGE:
        raise ctx.unsupported(f"{what} of type {elem.value if elem else '?'} is not supported",
                              hint="tfc quantizes to int8/uint8 (int16 activations, int32 biases)")
    return elem


@converter("QuantizeLinear")
def convert_quantize(ctx: ImportContext, node: OnnxNode) -> None:
    x = ctx.value(node.input(0))
    if node.input(2):
        storage = DType.from_numpy(ctx.require_const(node.input(2), "QuantizeLinear zero point").dtype)
    elif node.attr("output_dtype"):
        storage = to_dtype(node.attr("output_dtype"), file=ctx.file, what="QuantizeLinear output_dtype")
    else:
        storage = DType.U8
    storage = _storage(ctx, storage, "quantized output")
    q = _params(ctx, node, x.type.rank, storage)
    reals = ctx.folded_const(node.input(0))
    if reals is not None and reals.dtype.kind == "f":
        # Q of a constant (a bias onnxruntime quantizes per tensor, a float weight): the integer
        # constant itself, so the DequantizeLinear after it reads it like an initializer.
        ctx.set_const(node.output(0), quantize_array(reals, q, storage))
        return
    y = ctx.emit("quantize", [x], {"dtype": storage.value}, outputs=node.outputs[:1])[0]
    y.quant = q


@converter("DequantizeLinear")
def convert_dequantize(ctx: ImportContext, node: OnnxNode) -> None:
    name = node.input(0)
    data = ctx.const(name)
    if data is not None:
        storage = _storage(ctx, DType.from_numpy(data.dtype), "dequantized constant")
        q = _params(ctx, node, data.ndim, storage)
        ctx.set_pending_dequantize(node.output(0), PendingDequantize(data, q, name, node.name))
        return
    x = ctx.value(name)
    q = _params(ctx, node, x.type.rank, _storage(ctx, x.dtype, "dequantized tensor"))
    _annotate(ctx, x, q)
    ctx.emit("dequantize", [x], outputs=node.outputs[:1])


def _annotate(ctx: ImportContext, x: Value, q: QuantParams) -> None:
    """Put `q` on integer value x, and on the integers it was moved from (e.g. an int8 graph
    input before a Transpose), so every int8 tensor knows what it means."""
    if x.quant is not None and x.quant != q:
        raise ctx.unsupported(f"tensor '{x.name}' is dequantized with two different parameter sets "
                              f"({x.quant} and {q})", hint="give each quantized tensor one scale/zero point")
    while x is not None and x.quant is None:
        x.quant = q
        producer = x.producer
        if producer is None or not producer.spec.moves_data or q.axis is not None:
            break
        if producer.spec.creates_values:
            # Its fill (a Pad's constant_value) was read as a plain integer before x had params.
            raise ctx.unsupported(f"{producer.op} '{producer.name}' fills integers whose quantization is "
                                  f"given only after it (by this DequantizeLinear)",
                                  hint="quantize its input first (QuantizeLinear before the Pad), or pad the float tensor")
        x = producer.inputs[0]
