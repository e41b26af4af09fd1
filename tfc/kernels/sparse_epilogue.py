"""Sparse generated-code layers with the next elementwise node in their stores (ops conv2d_add,
linear_add, conv2d_lut, linear_lut; fuse makes them: tfc.passes.fusion.epilogue).

A layer of encoding brle-unrolled (tfc/sparse/codegen.py) requantizes each accumulator with
immediates and stores the byte; the residual add or the activation table after it would then load
every byte again in a pass of its own (tfc_add_table_s8: about 10.75 instructions an element,
tfc_lut_s8: 4). Here the generated code applies the node to the byte in a register before the one
store: a table, out = table[y] (one load); an add, tfc_add_table_s8's arithmetic against the
residual's byte at the same index (codegen.Epilogue, sp_epi_add in tfc_sparse_gen.h). The same
integers as the two unfused nodes; only this encoding has the epilogue (the brle streams' runtime
loops do not), so the kernels decline the others and fuse leaves those nodes apart.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from tfc.kernels.add_table import INT32_MAX, rescaled_inputs, table_decline
from tfc.kernels.base import Kernel, register_kernel
from tfc.kernels.sparse import SparseConv, SparseFullyConnected, output_as_stored, sparse_args
from tfc.quant import kernel_params as kp
from tfc.quant import node_params as npar
from tfc.quant import reference as ref
from tfc.sparse import codegen

INT8_MIN, INT8_MAX = -128, 127


@dataclass(frozen=True)
class LutEpilogueParams:
    layer: kp.ConvParams | kp.FullyConnectedParams   # onto the mid grid
    table: tuple[int, ...]                             # 256 int8: out = table[y + 128]


@dataclass(frozen=True)
class AddEpilogueParams:
    layer: kp.ConvParams | kp.FullyConnectedParams   # onto the mid grid
    add: kp.AddParams                                  # the add, operands in the unfused add's order
    residual_first: bool


@dataclass(frozen=True)
class FastSum:
    """tfc_add_table_s8's fast form of the sum's requantization: (SMMLAR(x2, mult, k) + (x2 >> 31)) >> e."""

    mult: int
    k: int
    e: int


def fast_sum(p: kp.AddParams) -> FastSum | str:
    """The fast form's constants, or why tfc_add_table_s8 would take its exact loop for these
    parameters (its run-time checks, made here at compile time: the epilogue has the fast form only)."""
    why = table_decline(p)
    if why:
        return why
    if not (p.out_mult >= 0 and -31 <= p.out_shift < 0):
        return "the sum's requantization shifts left or has a negative multiplier"
    if p.activation.min < INT8_MIN or p.activation.max > INT8_MAX:
        return "the add's clamp reaches outside int8"
    e = -p.out_shift
    x2_max = sum(max(abs(int(2 * r[0])), abs(int(2 * r[-1]))) for r in rescaled_inputs(p))
    k = (1 << (e - 1)) + p.out_offset * (1 << e)
    if x2_max > INT32_MAX or x2_max // 2 + abs(k) + 1 > INT32_MAX:
        return "the doubled sum or its rounding constant could leave int32"
    return FastSum(p.out_mult, k, e)


def _unrolled(node) -> str | None:
    w = node.inputs[1]
    if w.sparse is not None and w.sparse.encoding != codegen.UNROLLED:
        return f"the weights are stored as {w.sparse.encoding} (only generated code has the epilogue)"
    return None


class SparseEpilogue:
    """The epilogue kernels' shared part; a subclass mixes it with SparseConv or SparseFullyConnected."""

    priority = 40
    conv = False
    band_rows = Kernel.band_rows   # no banded execution: the residual is addressed from the output

    def layer_params(self, node):
        return npar.conv_mid_params(node) if self.conv else npar.linear_mid_params(node)

    def decline(self, node):
        return super().decline(node) or _unrolled(node)

    def c_function(self, node, p, lean=False):
        # the layer's function: the cells variant where its input is a producer's cells
        return super().c_function(node, p.layer, lean)

    def run_layer(self, node, inputs, p) -> np.ndarray:
        return self.run_plain(node, inputs[:3], p.layer)

    def args(self, lw, i, node, p):
        a = sparse_args(lw, i, node, self.conv, p.layer)
        return dataclasses.replace(a, code=dataclasses.replace(a.code, epilogue=self.epilogue(lw, i, node, p)))


class _Lut(SparseEpilogue):
    def params(self, node):
        return LutEpilogueParams(self.layer_params(node), tuple(int(v) for v in node.attrs["table"]))

    def run(self, node, inputs, p):
        y = self.run_layer(node, inputs, p)
        return [output_as_stored(node, np.asarray(p.table, dtype=np.int8)[y.astype(np.int64) + 128])]

    def epilogue(self, lw, i, node, p) -> codegen.Epilogue:
        table = lw.flash(f"tfc_{lw.name}_l{i}_epilogue_table", "int8_t", p.table,
                         f"layer {i}: the table folded into its stores, out = table[y + 128]")
        return codegen.Epilogue(codegen.LUT, table.symbol, p.table)


class _Add(SparseEpilogue):
    in_place = (3,)   # each residual byte is read just before the output byte at its index is stored

    def params(self, node):
        return AddEpilogueParams(self.layer_params(node), npar.residual_add_params(node), node.attrs["residual_first"])

    def decline(self, node):
        reason = super().decline(node)
        if reason:
            return reason
        fast = fast_sum(npar.residual_add_params(node))
        return fast if isinstance(fast, str) else None

    def run(self, node, inputs, p):
        y = self.run_layer(node, inputs, p)
        first, second = (inputs[3], y) if p.residual_first else (y, inputs[3])
        return [ref.add(first, second, p.add)]

    def epilogue(self, lw, i, node, p) -> codegen.Epilogue:
        fast = fast_sum(p.add)
        tables = [lw.flash(f"tfc_{lw.name}_l{i}_in{k + 1}_table", "int32_t", 2 * r,
                           f"layer {i}: add input {k + 1} rescaled (times 2), for a = -128..127")
                  for k, r in enumerate(rescaled_inputs(p.add))]
        residual, layer = tables if p.residual_first else tables[::-1]
        return codegen.Epilogue(codegen.ADD, layer.symbol, residual_table=residual.symbol, mult=fast.mult, k=fast.k,
                                e=fast.e, lo=p.add.activation.min, hi=p.add.activation.max)


@register_kernel
class SparseConvLut(_Lut, SparseConv):
    """conv2d_lut: the sparse conv's generated code storing table[y]."""

    name = "sparse_conv_lut"
    ops = ("conv2d_lut",)
    conv = True


@register_kernel
class SparseFullyConnectedLut(_Lut, SparseFullyConnected):
    """linear_lut: the sparse linear layer's generated code storing table[y]."""

    name = "sparse_fc_lut"
    ops = ("linear_lut",)


@register_kernel
class SparseConvAdd(_Add, SparseConv):
    """conv2d_add on sparse generated code: the residual added in the stores (before conv_add,
    the dense fused kernel, which the other encodings take)."""

    name = "sparse_conv_add"
    ops = ("conv2d_add",)
    conv = True


@register_kernel
class SparseFullyConnectedAdd(_Add, SparseFullyConnected):
    """linear_add: the sparse linear layer's generated code adding the residual in its stores."""

    name = "sparse_fc_add"
    ops = ("linear_add",)
