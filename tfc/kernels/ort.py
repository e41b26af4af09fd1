"""The kernels with onnxruntime's arithmetic (tfc_ort_*), for nodes with numerics="onnxruntime"
(tfc.quant.ort_numerics): per-channel float scales, the softmax exp table and the mean's
dequantization table go to weights.c (flash) as float arrays."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfc.ir.graph import Node
from tfc.kernels import records as L
from tfc.kernels.base import Kernel, register_kernel
from tfc.kernels.transformer import Lut
from tfc.quant import ort_numerics as ort
from tfc.quant import transformer_params as tp


@dataclass(frozen=True)
class MatmulArgs:
    params: ort.MatmulParams
    weights: L.ConstArray | None     # the right operand when it is a constant (linear, 1x1 conv)
    bias: L.ConstArray | None
    scales: L.ConstArray
    batches: tuple[int, int, int, int]

    @property
    def flash_arrays(self) -> tuple[L.ConstArray, ...]:
        return (self.scales,)


@dataclass(frozen=True)
class ConvArgs:
    params: ort.ConvParams
    in_dims: tuple[int, int, int]
    filter_dims: tuple[int, int, int, int]
    out_dims: tuple[int, int, int]
    geometry: tuple[int, int, int, int, int, int]   # stride h, w; padding top, left; dilation h, w
    weights: L.ConstArray
    bias: L.ConstArray | None
    scales: L.ConstArray

    @property
    def flash_arrays(self) -> tuple[L.ConstArray, ...]:
        return (self.scales,)


@dataclass(frozen=True)
class SoftmaxArgs:
    params: ort.SoftmaxParams
    rows: int
    row_size: int
    table: L.ConstArray

    @property
    def flash_arrays(self) -> tuple[L.ConstArray, ...]:
        return (self.table,)


@dataclass(frozen=True)
class MeanArgs:
    params: ort.MeanParams
    table: L.ConstArray

    @property
    def flash_arrays(self) -> tuple[L.ConstArray, ...]:
        return (self.table,)


@dataclass(frozen=True)
class LayerNormArgs:
    params: ort.LayerNormParams
    rows: int
    table: L.ConstArray
    gamma: L.ConstArray
    beta: L.ConstArray

    @property
    def flash_arrays(self) -> tuple[L.ConstArray, ...]:
        return (self.table, self.gamma, self.beta)


def _plain_depthwise(node: Node) -> bool:
    """One output channel per input channel: tfc_ort_conv_s8's depthwise path."""
    x, w = node.inputs[0], node.inputs[1]
    return node.attrs["group"] == x.shape[3] == w.shape[0] and w.shape[3] == 1


def _floats(lw, symbol: str, values, source: str) -> L.ConstArray:
    return lw.flash(symbol, "float", values, source)


class _Ort(Kernel):
    """A kernel with onnxruntime's arithmetic: runs the nodes marked numerics="onnxruntime"."""

    priority = 20
    numerics = ort.ONNXRUNTIME
    sources = ("tfc_ort_s8.c",)   # every tfc_ort_* function

    def decline(self, node):
        return None if ort.uses_onnxruntime(node) else "numerics is not onnxruntime"


def _bias(inputs):
    return inputs[2] if len(inputs) > 2 else None


def _matmul_operands(lw, i, node, layout=""):
    """The constant right operand and bias of linear and conv (batch_matmul reads two activations)."""
    if node.op == "batch_matmul":
        return None, None
    weights = lw.const(node.inputs[1], i, "weights", layout)
    bias = lw.const(node.inputs[2], i, "bias") if len(node.inputs) > 2 else None
    return weights, bias


def _scales(lw, i, p) -> L.ConstArray:
    return _floats(lw, f"tfc_{lw.name}_l{i}_scales", p.requant.scales,
                   f"layer {i}: float32 output scales s_x s_w / s_y (onnxruntime's requantization)")


@register_kernel
class OrtMatmul(_Ort):
    """tfc_ort_matmul_s8: QLinearMatMul / QGemm (linear, batch_matmul, a 1x1 conv)."""

    name = "ort_matmul"
    ops = ("linear", "batch_matmul", "conv2d")
    function = "tfc_ort_matmul_s8"

    def decline(self, node):
        if node.op == "conv2d" and not ort.is_pointwise(node):
            return "not a pointwise conv"
        if node.op == "batch_matmul" and node.attrs["alpha"] != 1.0:
            return "a folded scale (alpha) has no onnxruntime counterpart"
        return super().decline(node)

    def params(self, node):
        return ort.matmul_params(node)

    def run(self, node, inputs, p):
        return [ort.matmul(inputs[0], inputs[1], _bias(inputs), p).reshape(node.output.shape)]

    def args(self, lw, i, node, p):
        weights, bias = _matmul_operands(lw, i, node)
        return MatmulArgs(p, weights, bias, _scales(lw, i, p), (*p.lhs_batch, *p.rhs_batch))


@register_kernel
class OrtConv(_Ort):
    """tfc_ort_conv_s8: QLinearConv; a conv's patch gathered into scratch, then one matmul row."""

    name = "ort_conv"
    ops = ("conv2d",)
    function = "tfc_ort_conv_s8"

    def params(self, node):
        return ort.conv_params(node)

    def run(self, node, inputs, p):
        return [ort.conv(inputs[0], inputs[1], _bias(inputs), p, node.output.shape)]

    def scratch_bytes(self, node, p, build, lean=False):
        if _plain_depthwise(node):
            return 0
        _, kh, kw, ck = node.inputs[1].shape
        return kh * kw * ck

    def args(self, lw, i, node, p):
        x, y = node.inputs[0], node.output
        weights, bias = _matmul_operands(lw, i, node, "depthwise" if _plain_depthwise(node) else "")
        scales = _scales(lw, i, p)
        geometry = (*p.stride, *p.padding, *p.dilation)
        return ConvArgs(p, tuple(x.shape[1:]), tuple(node.inputs[1].shape), tuple(y.shape[1:]), geometry,
                        weights, bias, scales)


@register_kernel
class OrtSoftmax(_Ort):
    """tfc_ort_softmax_s8: onnxruntime's QLinearSoftmax."""

    name = "ort_softmax"
    ops = ("softmax",)
    function = "tfc_ort_softmax_s8"

    def params(self, node):
        return ort.softmax_params(node)

    def run(self, node, inputs, p):
        return [ort.softmax(inputs[0], p)]

    def args(self, lw, i, node, p):
        x = node.inputs[0]
        table = _floats(lw, f"tfc_{lw.name}_l{i}_exp", p.table,
                        f"layer {i}: onnxruntime QLinearSoftmax exp table, entry x - row max + 255")
        return SoftmaxArgs(p, x.type.size // x.shape[-1], x.shape[-1], table)


def _dequantized_table(lw, i, p) -> L.ConstArray:
    return _floats(lw, f"tfc_{lw.name}_l{i}_dequantized", p.dequantized,
                   f"layer {i}: (q - z_x) s_x in float32, entry q + 128")


@register_kernel
class OrtMean(_Ort):
    """tfc_ort_mean_s8: float ReduceMean between DQ and Q."""

    name = "ort_mean"
    ops = ("reduce_mean",)
    function = "tfc_ort_mean_s8"

    def params(self, node):
        return ort.mean_params(node)

    def run(self, node, inputs, p):
        return [ort.mean(inputs[0], p).reshape(node.output.shape)]

    def args(self, lw, i, node, p):
        return MeanArgs(p, _dequantized_table(lw, i, p))


@register_kernel
class OrtLayerNorm(_Ort):
    """tfc_ort_layernorm_s8: onnxruntime's float LayerNormalization between DQ and Q."""

    name = "ort_layernorm"
    ops = ("layernorm",)
    function = "tfc_ort_layernorm_s8"
    in_place = (0,)

    def params(self, node):
        return ort.layernorm_params(node)

    def run(self, node, inputs, p):
        return [ort.layernorm(inputs[0], p)]

    def args(self, lw, i, node, p):
        prefix = f"tfc_{lw.name}_l{i}"
        table = _dequantized_table(lw, i, p)
        gamma = _floats(lw, f"{prefix}_gamma", p.gamma, f"layer {i}: layernorm gamma, dequantized in float32")
        beta = _floats(lw, f"{prefix}_beta", p.beta, f"layer {i}: layernorm beta, dequantized in float32")
        return LayerNormArgs(p, node.inputs[0].type.size // p.width, table, gamma, beta)


@register_kernel
class OrtLut(_Ort, Lut):
    """tfc_lut_s8 with the table of the float function (onnxruntime's DQ, op, Q) for the ops whose
    cmsis table is TFLite Micro's fixed-point kernel (hardswish)."""

    name = "ort_lut"
    ops = ("hardswish",)
    template = "lut"
    sources = Lut.sources
    params_of = staticmethod(lambda node: tp.lut_params(node, float_function=True))
