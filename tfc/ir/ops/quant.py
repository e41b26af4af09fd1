"""Quantize and dequantize: the params live on the integer value (QuantParams), not in attributes.

`quantize(%x) : i8[...] q(s,z)` rounds reals onto the output's grid; `dequantize(%q)` reads an
integer tensor as reals through the input's QuantParams. Canonicalize turns Q->DQ pairs into a
QuantParams annotation on the float value between them.
"""
from __future__ import annotations

import numpy as np

from tfc.ir.ops.base import NUMERICS_ATTR, Attr, OpSpec, register_op, shape_error
from tfc.ir.types import DType, TensorType


def _broadcast_params(q, rank: int):
    scale = q.scale_array().astype(np.float32)
    zp = q.zero_point_array()
    if q.axis is not None:
        shape = [1] * rank
        shape[q.axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    elif scale.size == 1:  # per tensor: scalars, so a 0-d tensor stays 0-d
        scale, zp = scale.reshape(()), zp.reshape(())
    return scale, zp


def quantize_array(x: np.ndarray, q, dtype: DType) -> np.ndarray:
    """ONNX QuantizeLinear: saturate(round_half_to_even(x / scale) + zero_point)."""
    scale, zp = _broadcast_params(q, x.ndim)
    info = np.iinfo(dtype.numpy)
    y = np.rint(x.astype(np.float32) / scale).astype(np.int64) + zp
    return np.clip(y, info.min, info.max).astype(dtype.numpy)


def dequantize_array(x: np.ndarray, q) -> np.ndarray:
    """ONNX DequantizeLinear: (x - zero_point) * scale, in float32."""
    scale, zp = _broadcast_params(q, x.ndim)
    return ((x.astype(np.int64) - zp).astype(np.float32) * scale).astype(np.float32)


@register_op
class Quantize(OpSpec):
    name = "quantize"
    quant_boundary = True
    elementwise = True
    layout_agnostic = True
    grid_transparent = True
    attrs = {"dtype": Attr("str", "i8"), **NUMERICS_ATTR}

    def infer(self, node):
        return [node.inputs[0].type.with_dtype(DType(node.attrs["dtype"]))]

    def reference(self, node, inputs):
        q = node.outputs[0].quant
        if q is None:
            raise shape_error(node, "quantize output has no QuantParams")
        return [quantize_array(inputs[0], q, node.outputs[0].dtype)]


@register_op
class Dequantize(OpSpec):
    name = "dequantize"
    quant_boundary = True
    elementwise = True
    layout_agnostic = True

    def infer(self, node):
        if node.inputs[0].quant is None:
            raise shape_error(node, "dequantize input has no QuantParams")
        return [node.inputs[0].type.with_dtype(DType.F32)]

    def reference(self, node, inputs):
        # The interpreter already reads a quantized integer input as reals.
        return [inputs[0].astype(np.float32)]
