"""Integer semantics of the IR ops: each op's `reference_int8`, bit-exact with the C kernels.

Importing this module attaches them to the OpSpecs. Parameters come from tfc.quant.node_params,
the same place the C backend takes them from.
"""
from __future__ import annotations

import numpy as np

from tfc.ir.ops import get_op
from tfc.quant import fixed_point as fp
from tfc.quant import node_params as npar
from tfc.quant import reference as ref


def _bias(inputs):
    return inputs[2].astype(np.int32) if len(inputs) == 3 else None


def depthwise_weights(w: np.ndarray) -> np.ndarray:
    """IR OHWI [Cout,Kh,Kw,1] -> CMSIS-NN depthwise [1,Kh,Kw,Cout]."""
    return np.ascontiguousarray(w.transpose(3, 1, 2, 0))


def conv2d_int8(node, inputs):
    p = npar.conv_params(node)
    out_hw = node.output.shape[1:3]
    if npar.is_depthwise(node):
        return [ref.depthwise_conv2d(inputs[0], depthwise_weights(inputs[1]), _bias(inputs), p, output_hw=out_hw)]
    return [ref.conv2d(inputs[0], inputs[1], _bias(inputs), p, output_hw=out_hw)]


def conv2d_add_int8(node, inputs):
    """conv2d onto the mid grid, then the add: the same integers as the two unfused nodes."""
    p = npar.conv_add_params(node)
    conv = ref.conv2d(inputs[0], inputs[1], _bias(inputs[:3]), p.conv, output_hw=node.output.shape[1:3])
    first, second = (inputs[3], conv) if p.residual_first else (conv, inputs[3])
    return [ref.add(first, second, p.add)]


def linear_int8(node, inputs):
    y = ref.fully_connected(inputs[0], inputs[1], _bias(inputs), npar.linear_params(node))
    return [y.reshape(node.output.shape)]


def add_int8(node, inputs):
    return [ref.add(inputs[0], inputs[1], npar.binary_params(node))]


def mul_int8(node, inputs):
    return [ref.mul(inputs[0], inputs[1], npar.binary_params(node))]


def avgpool_int8(node, inputs):
    return [ref.avg_pool(inputs[0], npar.pool_params(node), output_hw=node.output.shape[1:3])]


def maxpool_int8(node, inputs):
    return [ref.max_pool(inputs[0], npar.pool_params(node), output_hw=node.output.shape[1:3])]


def softmax_int8(node, inputs):
    return [ref.softmax(inputs[0], npar.softmax_params(node))]


def requantize(x: np.ndarray, p: npar.RequantizeParams) -> np.ndarray:
    """tfc_requantize_s8: int8 -> int8 through the double-rounding multiplier, then clamp."""
    v = x.astype(np.int64)
    if not p.identity:
        v = fp.requantize(v + p.input_offset, p.multiplier, p.shift).astype(np.int64) + p.output_offset
    return np.clip(v, p.activation.min, p.activation.max).astype(np.int8)


def requantize_int8(node, inputs):
    return [requantize(inputs[0], npar.requantize_params(node))]


_INT8 = {
    "conv2d": conv2d_int8, "conv2d_add": conv2d_add_int8, "linear": linear_int8, "add": add_int8, "mul": mul_int8,
    "avgpool2d": avgpool_int8, "maxpool2d": maxpool_int8, "softmax": softmax_int8,
    "quantize": requantize_int8, "relu": requantize_int8, "clip": requantize_int8,
}

for _op, _fn in _INT8.items():
    get_op(_op).reference_int8 = _fn

from tfc.quant import transformer_ops  # noqa: E402,F401  (the transformer ops' integer semantics)
from tfc.quant import ort_numerics  # noqa: E402  (numerics="onnxruntime" nodes: onnxruntime's arithmetic)

ort_numerics.install()
