"""Integer semantics of the transformer ops, bit-exact with tfc's runtime kernels
(tfc_layernorm_s8, tfc_lut_s8, tfc_mean_s8, arm_batch_matmul_s8; gather
moves stored integers and needs none).

Importing this module attaches them as the ops' `reference_int8`; parameters come from
tfc.quant.transformer_params through tfc.quant.node_params, as the C backend's do.
"""
from __future__ import annotations

import math

import numpy as np

from tfc.ir.ops import get_op
from tfc.quant import fixed_point as fp
from tfc.quant import reference as ref
from tfc.quant import transformer_params as tp


def _round_shift(x: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """round(x / 2^shift), halves away from zero, on int64 (tfc_round_shift_s64 in C)."""
    mag = (np.abs(x) + (np.int64(1) << (shift - 1))) >> shift
    return np.where(x < 0, -mag, mag)


def layernorm_rows(x: np.ndarray, p: tp.LayerNormParams) -> np.ndarray:
    """tfc_layernorm_s8 on int8 rows x [..., C]."""
    c = p.width
    q = x.astype(np.int64).reshape(-1, c)
    d = q * c - q.sum(axis=1, keepdims=True)
    v = [(int(s) << (2 * p.prescale)) + p.eps_term for s in (d * d).sum(axis=1).tolist()]
    n = np.zeros_like(d)
    f = tp.LAYERNORM_FRAC_BITS
    for row, vr in enumerate(v):
        if vr == 0:
            continue  # constant row and no epsilon: normalized value 0
        k = max(0, (64 - vr.bit_length() - 2) // 2)
        r = math.isqrt(vr << (2 * k))
        recip = ((1 << 62) + r // 2) // r
        # A shift below 1 happens only for constant rows (d = 0), where N is 0 anyway.
        n[row] = _round_shift(d[row] * recip, np.int64(max(1, 62 - f - p.prescale - k)))
    t = fp.requantize(n, np.asarray(p.multipliers), np.asarray(p.shifts)).astype(np.int64)
    t = t + np.asarray(p.biases, dtype=np.int64)
    y = fp.rounding_divide_by_pot(fp.wrap_int32(t), p.extra_bits).astype(np.int64) + p.output_offset
    return np.clip(y, p.activation.min, p.activation.max).astype(np.int8).reshape(x.shape)


def layernorm_int8(node, inputs):
    return [layernorm_rows(inputs[0], tp.layernorm_params(node))]


def lut(x: np.ndarray, p: tp.LutParams) -> np.ndarray:
    return np.asarray(p.table, dtype=np.int8)[x.astype(np.int64) + 128]


def lut_int8(node, inputs):
    return [lut(inputs[0], tp.lut_params(node))]


def batch_matmul_int8(node, inputs):
    a, b = inputs
    p = tp.batch_matmul_params(node)
    tp.check_batch_broadcast(node)
    return [ref.batch_matmul(a, b, p).reshape(node.output.shape)]


def mean(x: np.ndarray, p: tp.MeanParams) -> np.ndarray:
    v = x.astype(np.int64).reshape(p.outer, p.reduce, p.inner) + p.input_offset
    acc = v.sum(axis=1)
    y = fp.requantize(acc, p.multiplier, p.shift).astype(np.int64) + p.output_offset
    return np.clip(y, -128, 127).astype(np.int8)


def mean_int8(node, inputs):
    return [mean(inputs[0], tp.mean_params(node)).reshape(node.output.shape)]


_INT8 = {"layernorm": layernorm_int8, "batch_matmul": batch_matmul_int8, "reduce_mean": mean_int8,
         **{op: lut_int8 for op in tp.LUT_OPS}}

for _op, _fn in _INT8.items():
    get_op(_op).reference_int8 = _fn
