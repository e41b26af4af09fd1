"""Backend records for the transformer kernel families (lut, layernorm, softmax, batch_matmul,
attention, mean, gather) and the constant operands of add/mul, built from tfc.quant.transformer_params.

Every table, multiplier and index array goes to weights.c (flash) as a ConstArray; the
templates in templates/kernels/ render the calls.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tfc.backends.cmsis import layers as L
from tfc.errors import UnsupportedError
from tfc.ir.graph import Node
from tfc.quant import kernel_params as kp
from tfc.quant import reference as ref
from tfc.quant import transformer_params as tp

FAMILIES = ("lut", "layernorm", "softmax", "batch_matmul", "attention", "mean", "gather")
FUNCTIONS = {"lut": "tfc_lut_s8", "layernorm": "tfc_layernorm_s8", "softmax": "tfc_softmax_s8",
             "batch_matmul": "arm_batch_matmul_s8", "attention": "tfc_attention_s8", "mean": "tfc_mean_s8",
             "gather": "tfc_gather_s8"}


@dataclass(frozen=True)
class LutArgs:
    table: L.ConstArray
    size: int


@dataclass(frozen=True)
class LayerNormArgs:
    params: tp.LayerNormParams
    rows: int
    affine: L.ConstArray   # per channel: M_c, B_c interleaved (one LDRD per element)


@dataclass(frozen=True)
class SoftmaxArgs:
    """tfc_softmax_s8: arm_softmax_s8's integers, exp() read from `table` (256 uint32 in flash)."""

    params: kp.SoftmaxParams
    rows: int
    row_size: int
    table: L.ConstArray


@dataclass(frozen=True)
class BatchMatmulArgs:
    params: kp.BatchMatmulParams
    lhs_dims: L.Dims
    rhs_dims: L.Dims
    output_dims: L.Dims


@dataclass(frozen=True)
class AttentionArgs:
    """tfc_attention_s8: per head, arm_batch_matmul_s8 (q_h, k_h) into the scratch (one head's
    scores, rows x cols), tfc_softmax_s8 in place with `table`, arm_batch_matmul_s8 (scores, vt_h)."""

    params: tp.AttentionParams
    table: L.ConstArray


def scratch_bytes(kernel: str, node: Node) -> int:
    """Arena scratch of a transformer kernel: one head's scores for attention, none otherwise."""
    if kernel == "attention":
        q, k = node.inputs[:2]
        return q.shape[-2] * k.shape[-2]
    return 0


@dataclass(frozen=True)
class MeanArgs:
    params: tp.MeanParams


@dataclass(frozen=True)
class GatherArgs:
    params: tp.GatherParams
    indices: L.ConstArray


def _flash(lw, symbol: str, ctype: str, values, source: str) -> L.ConstArray:
    """A const array in weights.c, registered with the lowering's constants (deduplicated by name)."""
    key = (symbol, "generated")
    if key not in lw.consts:
        dtype = {"int8_t": np.int8, "int32_t": np.int32, "uint32_t": np.uint32}[ctype]
        lw.consts[key] = L.ConstArray(symbol, ctype, np.asarray(values, dtype=dtype).reshape(-1), source)
    return lw.consts[key]


def args(lw, i: int, node: Node, kernel: str, p):
    prefix = f"tfc_{lw.name}_l{i}"
    x, y = node.inputs[0], node.output
    if kernel == "lut":
        table = _flash(lw, f"{prefix}_table", "int8_t", p.table,
                       f"layer {i}: {node.op} as a table, out = table[in + 128]")
        return LutArgs(table, y.type.size)
    if kernel == "layernorm":
        affine = _flash(lw, f"{prefix}_affine", "int32_t", np.stack([p.multipliers, p.biases], axis=1),
                        f"layer {i}: layernorm gamma multiplier, beta bias (with zero point and rounding) per channel")
        return LayerNormArgs(p, math.prod(x.shape[:-1]), affine)
    if kernel == "softmax":
        table = _flash(lw, f"{prefix}_exp", "uint32_t", ref.softmax_exp_table(p),
                       f"layer {i}: softmax exp() of x - row max, plus 2^11, entry diff + 255")
        return SoftmaxArgs(p, math.prod(x.shape[:-1]), x.shape[-1], table)
    if kernel == "batch_matmul":
        tp.check_batch_broadcast(node)
        a, b = node.inputs
        an, ah = tp.batch_dims(a.shape)
        bn, bh = tp.batch_dims(b.shape)
        return BatchMatmulArgs(p, L.Dims(an, ah, a.shape[-2], a.shape[-1]), L.Dims(bn, bh, b.shape[-2], b.shape[-1]),
                               L.Dims(max(an, bn), max(ah, bh), a.shape[-2], b.shape[-2]))
    if kernel == "attention":
        table = _flash(lw, f"{prefix}_exp", "uint32_t", ref.softmax_exp_table(p.softmax),
                       f"layer {i}: attention softmax exp() of x - row max, plus 2^11, entry diff + 255")
        return AttentionArgs(p, table)
    if kernel == "mean":
        return MeanArgs(p)
    if kernel == "gather":
        return GatherArgs(p, _flash(lw, f"{prefix}_indices", "int32_t", p.indices, f"layer {i}: gather indices"))
    raise UnsupportedError(f"no C emitter for kernel {kernel}", node=node.name, op=node.op)


def broadcast_period(operand_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> int:
    """Elements of the output covered by one copy of a broadcast operand: the product of the
    output's trailing axes from the first one the operand spans (a [C] bias over [T, C] -> C)."""
    padded = (1,) * (len(output_shape) - len(operand_shape)) + tuple(operand_shape)
    first = next((a for a, d in enumerate(padded) if d != 1), len(output_shape))
    return math.prod(output_shape[first:])


def constant_operand(lw, i: int, node: Node, index: int) -> L.ConstArray:
    """An add/mul operand that is a constant (a position embedding, a bias over tokens): int8 in
    flash, broadcast at compile time over the output's trailing axes it spans; the kernel is called
    once per repeat of it (the CMSIS-NN kernels do not broadcast), so a [C] vector stays C bytes."""
    v = node.inputs[index]
    out_shape = tuple(node.output.shape)
    period = broadcast_period(tuple(v.shape), out_shape)
    data = np.broadcast_to(v.data, out_shape).reshape(-1)[:period]
    if v.quant is None or data.dtype != np.int8 or v.quant.axis is not None:
        raise UnsupportedError(f"constant operand {v.ref} of an int8 {node.op} must be int8, quantized per tensor",
                               node=node.name, op=node.op, hint="run quantize-int8")
    return _flash(lw, f"tfc_{lw.name}_l{i}_operand{index}", "int8_t", data,
                  f"layer {i}: {v.ref} : {v.type}, repeated over {list(out_shape)}")


def simplify_transpose(shape: tuple[int, ...], perm: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The same permutation with size-1 axes dropped and axes that stay neighbours merged, so a
    rank-5 head split such as [1,16,1,3,96] perm [3,1,2,0,4] runs as a rank-2 transpose."""
    keep = [a for a in range(len(shape)) if shape[a] != 1]
    order = [a for a in perm if shape[a] != 1]
    groups: list[list[int]] = []        # runs of input axes that stay adjacent and in order
    for a in order:
        if groups and keep.index(a) == keep.index(groups[-1][-1]) + 1:
            groups[-1].append(a)
        else:
            groups.append([a])
    by_input = sorted(groups, key=lambda g: g[0])
    new_shape = tuple(math.prod(shape[a] for a in g) for g in by_input)
    new_perm = tuple(by_input.index(g) for g in groups)
    return new_shape or (1,), new_perm or (0,)
