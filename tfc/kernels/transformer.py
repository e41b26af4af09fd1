"""The transformer kernels (lut, layernorm, softmax, batch_matmul, attention, mean): parameters
from tfc.quant.transformer_params, numpy twins from tfc.quant.transformer_ops.

Every table and multiplier array goes to weights.c (flash) as a ConstArray; the templates in
the backend's templates/kernels/ render the calls.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tfc.kernels import records as R
from tfc.kernels.base import Kernel, register_kernel
from tfc.kernels.conv import FULLY_CONNECTED_SOURCES
from tfc.quant import kernel_params as kp
from tfc.quant import node_params as npar
from tfc.quant import reference as ref
from tfc.quant import transformer_ops as tops
from tfc.quant import transformer_params as tp
from tfc.sparse import cells
from tfc.kernels import cost as C

@dataclass(frozen=True)
class LutArgs:
    table: R.ConstArray
    size: int


@dataclass(frozen=True)
class LayerNormArgs:
    params: tp.LayerNormParams
    rows: int
    affine: R.ConstArray   # per channel: M_c, B_c interleaved (one LDRD per element)
    cells: int = 0         # > 0: the output stored as sparse cells of this block (tfc/sparse/cells.py)


@dataclass(frozen=True)
class SoftmaxArgs:
    """tfc_softmax_s8: arm_softmax_s8's integers, exp() read from `table` (256 uint32 in flash)."""

    params: kp.SoftmaxParams
    rows: int
    row_size: int
    table: R.ConstArray


@dataclass(frozen=True)
class BatchMatmulArgs:
    params: kp.BatchMatmulParams
    lhs_dims: R.Dims
    rhs_dims: R.Dims
    output_dims: R.Dims


@dataclass(frozen=True)
class AttentionArgs:
    """tfc_attention_s8: per head, arm_batch_matmul_s8 (q_h, k_h) into the scratch (one head's
    scores, rows x cols), tfc_softmax_s8 in place with `table`, arm_batch_matmul_s8 (scores, vt_h)."""

    params: tp.AttentionParams
    table: R.ConstArray


@dataclass(frozen=True)
class MeanArgs:
    params: tp.MeanParams


class _Transformer(Kernel):
    """A transformer kernel: integer parameters from tfc.quant.transformer_params, numpy twin from
    tfc.quant.transformer_ops."""

    params_of = None

    def params(self, node):
        return type(self).params_of(node)


@register_kernel
class Lut(_Transformer):
    """tfc_lut_s8: out = table[in + 128], for any elementwise function of one int8 input."""

    name = "lut"
    ops = ("gelu", "hardswish", "sigmoid", "tanh", "erf", "hardsigmoid", "exp", "sqrt", "lut")
    function = "tfc_lut_s8"
    sources = ("tfc_lut_s8.c",)
    # A word at a time: 4.0 an element (the hybrid's 3,072 and 4,096-element tables).
    costs = {"tfc_lut_s8": C.Cost(C.ELEMENTS, (4.0, 19.0))}
    in_place = (0,)
    params_of = staticmethod(tp.lut_params)

    def run(self, node, inputs, p):
        return [tops.lut(inputs[0], p)]

    def args(self, lw, i, node, p):
        table = lw.flash(f"tfc_{lw.name}_l{i}_table", "int8_t", p.table,
                         f"layer {i}: {node.op} as a table, out = table[in + 128]")
        return LutArgs(table, node.output.type.size)


@register_kernel
class LayerNorm(_Transformer):
    name = "layernorm"
    ops = ("layernorm",)
    function = "tfc_layernorm_s8"
    sources = ("tfc_layernorm_s8.c",)
    costs = {"tfc_layernorm_s8": C.Cost(C.ROWS, (12.2473, 130.7202, 0.0)),
             "tfc_layernorm_cells_s8": C.Cost(C.ROWS, (12.2473, 130.7202, 0.0))}
    in_place = (0,)
    params_of = staticmethod(tp.layernorm_params)
    # tfc_layernorm_cells_s8: the rows stored as the sparse readers' cells (no widening pass there)
    writes_cells = True

    def decline(self, node):
        block = node.attrs[cells.CELLS_ATTR]
        return cells.layout_decline(node.output.shape, block, linear=True) if block else None

    def c_function(self, node, p, lean=False):
        return "tfc_layernorm_cells_s8" if node.attrs[cells.CELLS_ATTR] else self.function

    def run(self, node, inputs, p):
        y = tops.layernorm_rows(inputs[0], p)
        block = node.attrs[cells.CELLS_ATTR]
        return [cells.to_cells(y, block) if block else y]

    def args(self, lw, i, node, p):
        affine = lw.flash(f"tfc_{lw.name}_l{i}_affine", "int32_t", np.stack([p.multipliers, p.biases], axis=1),
                          f"layer {i}: layernorm gamma multiplier, beta bias (with zero point and rounding) per channel")
        return LayerNormArgs(p, math.prod(node.inputs[0].shape[:-1]), affine, node.attrs[cells.CELLS_ATTR])


@register_kernel
class Softmax(_Transformer):
    """tfc_softmax_s8: arm_softmax_s8's integers over the last axis, exp() from a table in flash."""

    name = "softmax"
    ops = ("softmax",)
    function = "tfc_softmax_s8"
    sources = ("tfc_softmax_s8.c",)
    # tfc_softmax_scaled_s8 (an output off TFLite's grid) adds one multiply per row
    costs = {"tfc_softmax_s8": C.Cost(C.ROWS, (27.3765, 0.0, 26.7493)),
             "tfc_softmax_scaled_s8": C.Cost(C.ROWS, (27.3765, 0.0, 26.7493))}
    params_of = staticmethod(npar.softmax_params)

    def c_function(self, node, params, lean=False):
        return "tfc_softmax_scaled_s8" if params.out_mult else self.function

    def decline(self, node):
        x = node.inputs[0]
        if node.attrs["axis"] % x.type.rank != x.type.rank - 1:
            return "the softmax is not over the last axis (softmax_axis runs it)"
        return None

    def run(self, node, inputs, p):
        return [ref.softmax(inputs[0], p)]

    def args(self, lw, i, node, p):
        x = node.inputs[0]
        table = lw.flash(f"tfc_{lw.name}_l{i}_exp", "uint32_t", ref.softmax_exp_table(p),
                         f"layer {i}: softmax exp() of x - row max, plus 2^11, entry diff + 255")
        return SoftmaxArgs(p, math.prod(x.shape[:-1]), x.shape[-1], table)


@register_kernel
class BatchMatmul(_Transformer):
    name = "batch_matmul"
    ops = ("batch_matmul",)
    function = "arm_batch_matmul_s8"
    sources = FULLY_CONNECTED_SOURCES
    costs = {"arm_batch_matmul_s8": C.Cost(C.BATCH_MATMUL, (1.7415, 23.2549, 0.0, 66.4714))}
    params_of = staticmethod(tp.batch_matmul_params)

    def run(self, node, inputs, p):
        tp.check_batch_broadcast(node)
        return [ref.batch_matmul(inputs[0], inputs[1], p).reshape(node.output.shape)]

    def args(self, lw, i, node, p):
        tp.check_batch_broadcast(node)
        a, b = node.inputs
        an, ah = tp.batch_dims(a.shape)
        bn, bh = tp.batch_dims(b.shape)
        return BatchMatmulArgs(p, R.Dims(an, ah, a.shape[-2], a.shape[-1]), R.Dims(bn, bh, b.shape[-2], b.shape[-1]),
                               R.Dims(max(an, bn), max(ah, bh), a.shape[-2], b.shape[-2]))


@register_kernel
class Attention(_Transformer):
    """tfc_attention_s8: per head, scores into the scratch (one head's rows x cols), softmax in
    place, then the product with v."""

    name = "attention"
    ops = ("attention",)
    function = "tfc_attention_s8"
    sources = ("tfc_attention_s8.c", *BatchMatmul.sources, *Softmax.sources)
    params_of = staticmethod(tp.attention_params)

    def run(self, node, inputs, p):
        return [tops.attention(*inputs, p).reshape(node.output.shape)]

    def scratch_bytes(self, node, p, build, lean=False):
        q, k = node.inputs[:2]
        return q.shape[-2] * k.shape[-2]

    def args(self, lw, i, node, p):
        table = lw.flash(f"tfc_{lw.name}_l{i}_exp", "uint32_t", ref.softmax_exp_table(p.softmax),
                         f"layer {i}: attention softmax exp() of x - row max, plus 2^11, entry diff + 255")
        return AttentionArgs(p, table)


@register_kernel
class Mean(_Transformer):
    name = "mean"
    ops = ("reduce_mean",)
    function = "tfc_mean_s8"
    sources = ("tfc_mean_s8.c",)
    costs = {"tfc_mean_s8": C.Cost(C.POOL)}
    params_of = staticmethod(tp.mean_params)

    def run(self, node, inputs, p):
        return [tops.mean(inputs[0], p).reshape(node.output.shape)]

    def args(self, lw, i, node, p):
        return MeanArgs(p)
