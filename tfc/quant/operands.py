"""Checks on the operands of int8 nodes, shared by every kernel's parameter code."""
from __future__ import annotations

from tfc.errors import QuantizationError
from tfc.ir.graph import Node, Value
from tfc.ir.types import QuantParams


def per_tensor(value: Value, what: str, node: Node) -> QuantParams:
    """The per-tensor QuantParams of an int8 operand, or a QuantizationError naming it."""
    q = value.quant
    if q is None or value.dtype.is_float:
        raise QuantizationError(f"{what} {value.ref} is not an int8 tensor with quantization params",
                                node=node.name, op=node.op,
                                hint="run the quantize-int8 pass first (with calibration data for float models)")
    if q.axis is not None:
        raise QuantizationError(f"{what} {value.ref} must be quantized per tensor", node=node.name, op=node.op)
    return q
