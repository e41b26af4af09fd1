"""numpy twins of the transformer kernels, bit-exact with tfc's runtime kernels (tfc_layernorm_s8,
tfc_lut_s8, tfc_mean_s8, tfc_attention_s8), on the parameters of tfc.quant.transformer_params;
tfc.kernels.transformer runs them.
"""
from __future__ import annotations


import numpy as np

from tfc.quant import fixed_point as fp
from tfc.quant import reference as ref
from tfc.quant import transformer_params as tp


def layernorm_rsqrt(x: int) -> int:
    """~ 2^31 / sqrt(x / 2^30) for x in [2^30, 2^32): rsqrt_q31 in tfc_layernorm_s8.c."""
    y = tp.LAYERNORM_RSQRT_SEED[(x >> 26) - 16]
    for _ in range(3):
        y = (y * (3 * (1 << 30) - ((x * ((y * y) >> 31)) >> 31))) >> 31
    return y


def layernorm_rows(x: np.ndarray, p: tp.LayerNormParams) -> np.ndarray:
    """tfc_layernorm_s8 on int8 rows x [..., C] (transformer_params' module docstring)."""
    c = p.width
    q = x.astype(np.int64).reshape(-1, c)
    s = q.sum(axis=1, keepdims=True)
    d = q * c - s
    n = np.zeros_like(d)
    for row, (sr, s2) in enumerate(zip(s[:, 0].tolist(), (q * q).sum(axis=1).tolist())):
        v = ((c * (c * s2 - sr * sr)) << (2 * p.prescale)) + p.eps_term
        if v == 0:
            continue  # constant row and no epsilon: normalized value 0
        k = (64 - v.bit_length() - 2) // 2
        recip = min(layernorm_rsqrt((v << (2 * k)) >> 30), (1 << 31) - 1)
        n[row] = (d[row] * (1 << min(k + p.prescale, 31)) * recip + (1 << 31)) >> 32
    t = fp.wrap_int32(np.asarray(p.biases, dtype=np.int64) + ((n * np.asarray(p.multipliers, dtype=np.int64)
                                                                 + (1 << 31)) >> 32)).astype(np.int64)
    y = np.clip(t >> p.extra_bits, -128, 127)
    return np.clip(y, p.activation.min, p.activation.max).astype(np.int8).reshape(x.shape)



def lut(x: np.ndarray, p: tp.LutParams) -> np.ndarray:
    return np.asarray(p.table, dtype=np.int8)[x.astype(np.int64) + 128]




def attention(q: np.ndarray, k: np.ndarray, vt: np.ndarray, p: tp.AttentionParams) -> np.ndarray:
    """tfc_attention_s8: batch_matmul, softmax and batch_matmul, each exactly as its own kernel (the
    C runs them one head at a time; every head's integers are independent of the others')."""
    return ref.batch_matmul(ref.softmax(ref.batch_matmul(q, k, p.qk), p.softmax), vt, p.pv)



def mean(x: np.ndarray, p: tp.MeanParams) -> np.ndarray:
    v = x.astype(np.int64).reshape(p.outer, p.reduce, p.inner) + p.input_offset
    acc = fp.shl_wrap(v.sum(axis=1), p.left_shift)
    y = fp.requantize(acc, p.multiplier, p.shift).astype(np.int64) + p.output_offset
    return np.clip(y, -128, 127).astype(np.int8)


def mean_int8(node, inputs):
    return [mean(inputs[0], tp.mean_params(node)).reshape(node.output.shape)]
