"""Ops the transformer kernels run that ONNX spells with several nodes.

`batch_matmul(lhs, rhs_t)` is CMSIS-NN's arm_batch_matmul_s8: lhs [..., M, K] times the
*transposed* right operand rhs_t [..., N, K], leading dims broadcast as numpy does, scaled by a
constant `alpha` (1/sqrt(d) of attention, folded in from the graph's Mul/Div). Keeping the right
operand transposed lets Q·Kᵀ read K as it is laid out, with no transpose at run time.
"""
from __future__ import annotations

import numpy as np

from tfc.ir.ops.base import Attr, OpSpec, real_type, register_op, shape_error
from tfc.ir.types import TensorType


@register_op
class BatchMatMul(OpSpec):
    name = "batch_matmul"
    num_inputs = (2, 2)
    attrs = {"alpha": Attr("float", 1.0)}

    def infer(self, node):
        a, b = (real_type(v) for v in node.inputs)
        if a.rank < 2 or b.rank < 2 or a.shape[-1] != b.shape[-1]:
            raise shape_error(node, f"batch_matmul needs [..., M, K] x [..., N, K], got {list(a.shape)} "
                                    f"and {list(b.shape)}")
        try:
            batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise shape_error(node, f"batch dims of {list(a.shape)} and {list(b.shape)} do not broadcast") from None
        return [TensorType(tuple(batch) + (a.shape[-2], b.shape[-2]), a.dtype)]

    def reference(self, node, inputs):
        a, b = (np.asarray(x, dtype=np.float64) for x in inputs)
        return [(np.matmul(a, np.swapaxes(b, -1, -2)) * node.attrs["alpha"]).astype(np.float32)]
