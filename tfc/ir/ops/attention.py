"""Ops the transformer kernels run that ONNX spells with several nodes.

`batch_matmul(lhs, rhs_t)` is CMSIS-NN's arm_batch_matmul_s8: lhs [..., M, K] times the
*transposed* right operand rhs_t [..., N, K], leading dims broadcast as numpy does, scaled by a
constant `alpha` (1/sqrt(d) of attention, folded in from the graph's Mul/Div). Keeping the right
operand transposed lets Q·Kᵀ read K as it is laid out, with no transpose at run time.
"""
from __future__ import annotations

import math

import numpy as np

from tfc.ir.ops.base import NUMERICS_ATTR, Attr, OpSpec, real_type, register_op, shape_error
from tfc.ir.types import TensorType


@register_op
class BatchMatMul(OpSpec):
    name = "batch_matmul"
    num_inputs = (2, 2)
    attrs = {"alpha": Attr("float", 1.0), **NUMERICS_ATTR}

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

    def macs(self, node):
        return math.prod(node.outputs[0].shape) * node.inputs[0].shape[-1]

    def reference(self, node, inputs):
        a, b = (np.asarray(x, dtype=np.float64) for x in inputs)
        return [(np.matmul(a, np.swapaxes(b, -1, -2)) * node.attrs["alpha"]).astype(np.float32)]


@register_op
class Attention(OpSpec):
    """softmax(q · kᵀ · alpha) · v · pv_alpha, heads as the batch: q [..., M, K], k [..., N, K], and
    vt [..., D, N] (v transposed, batch_matmul's right operand), all with the same leading dims;
    output [..., M, D]. What fuse-attention-heads makes of batch_matmul -> softmax -> batch_matmul
    on an int8 graph, so the C can compute it one head at a time. `scores_scale` and
    `scores_zero_point` keep the int8 grid of the scores, which no longer is a value of the graph;
    the probabilities sit on scale `probs_scale`, zero point -128 (softmax's fixed 1/256, or the
    grid tfc's PTQ calibrated)."""

    name = "attention"
    num_inputs = (3, 3)
    attrs = {"alpha": Attr("float", 1.0), "pv_alpha": Attr("float", 1.0),
             "scores_scale": Attr("float"), "scores_zero_point": Attr("int"),
             "probs_scale": Attr("float", 1 / 256, quiet=True)}

    def infer(self, node):
        q, k, vt = (real_type(v) for v in node.inputs)
        if min(q.rank, k.rank, vt.rank) < 2 or not q.shape[:-2] == k.shape[:-2] == vt.shape[:-2] \
                or q.shape[-1] != k.shape[-1] or vt.shape[-1] != k.shape[-2]:
            raise shape_error(node, f"attention needs q [..., M, K], k [..., N, K], vt [..., D, N] with the same "
                                    f"leading dims, got {list(q.shape)}, {list(k.shape)}, {list(vt.shape)}")
        return [TensorType(tuple(q.shape[:-2]) + (q.shape[-2], vt.shape[-2]), q.dtype)]

    def macs(self, node):
        # q . k^T ([..., M, N] over K), then p . v ([..., M, D] over N).
        q, k, vt = (v.shape for v in node.inputs)
        heads = math.prod(q[:-2])
        return heads * q[-2] * k[-2] * (q[-1] + vt[-2])

    def reference(self, node, inputs):
        q, k, vt = (np.asarray(x, dtype=np.float64) for x in inputs)
        s = np.matmul(q, np.swapaxes(k, -1, -2)) * node.attrs["alpha"]
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        p = e / e.sum(axis=-1, keepdims=True)
        return [(np.matmul(p, np.swapaxes(vt, -1, -2)) * node.attrs["pv_alpha"]).astype(np.float32)]
