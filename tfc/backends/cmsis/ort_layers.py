"""Backend records for the kernels with onnxruntime's arithmetic (tfc_ort_*; nodes with
numerics="onnxruntime", tfc.quant.ort_numerics): per-channel float scales, the softmax exp table
and the mean's dequantization table go to weights.c (flash) as float arrays."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfc.backends.cmsis import layers as L
from tfc.errors import UnsupportedError
from tfc.ir.graph import Node
from tfc.quant import ort_numerics as ort

FAMILIES = ("ort_matmul", "ort_conv", "ort_softmax", "ort_mean", "ort_layernorm")
FUNCTIONS = {"ort_matmul": "tfc_ort_matmul_s8", "ort_conv": "tfc_ort_conv_s8",
             "ort_softmax": "tfc_ort_softmax_s8", "ort_mean": "tfc_ort_mean_s8",
             "ort_layernorm": "tfc_ort_layernorm_s8"}


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


def scratch_bytes(kernel: str, node: Node) -> int:
    """tfc_ort_conv_s8 gathers one patch per output pixel (none for a plain depthwise conv)."""
    if kernel != "ort_conv" or _plain_depthwise(node):
        return 0
    _, kh, kw, ck = node.inputs[1].shape
    return kh * kw * ck


def _floats(lw, symbol: str, values, source: str) -> L.ConstArray:
    key = (symbol, "generated")
    if key not in lw.consts:
        lw.consts[key] = L.ConstArray(symbol, "float", np.asarray(values, dtype=np.float32).reshape(-1), source)
    return lw.consts[key]


def args(lw, i: int, node: Node, kernel: str, p):
    prefix = f"tfc_{lw.name}_l{i}"
    x, y = node.inputs[0], node.output
    if kernel in ("ort_matmul", "ort_conv"):
        constant_rhs = node.op != "batch_matmul"     # linear and conv weights; batch_matmul reads two activations
        layout = "depthwise" if kernel == "ort_conv" and _plain_depthwise(node) else ""
        weights = lw.const(node.inputs[1], i, "weights", layout) if constant_rhs else None
        bias = lw.const(node.inputs[2], i, "bias") if constant_rhs and len(node.inputs) > 2 else None
        scales = _floats(lw, f"{prefix}_scales", p.requant.scales,
                         f"layer {i}: float32 output scales s_x s_w / s_y (onnxruntime's requantization)")
        if kernel == "ort_conv":
            geometry = (*p.stride, *p.padding, *p.dilation)
            return ConvArgs(p, tuple(x.shape[1:]), tuple(node.inputs[1].shape), tuple(y.shape[1:]), geometry,
                            weights, bias, scales)
        return MatmulArgs(p, weights, bias, scales, (*p.lhs_batch, *p.rhs_batch))
    if kernel == "ort_softmax":
        table = _floats(lw, f"{prefix}_exp", p.table,
                        f"layer {i}: onnxruntime QLinearSoftmax exp table, entry x - row max + 255")
        return SoftmaxArgs(p, x.type.size // x.shape[-1], x.shape[-1], table)
    if kernel == "ort_mean":
        table = _floats(lw, f"{prefix}_dequantized", p.dequantized,
                        f"layer {i}: (q - z_x) s_x in float32, entry q + 128")
        return MeanArgs(p, table)
    if kernel == "ort_layernorm":
        table = _floats(lw, f"{prefix}_dequantized", p.dequantized,
                        f"layer {i}: (q - z_x) s_x in float32, entry q + 128")
        gamma = _floats(lw, f"{prefix}_gamma", p.gamma, f"layer {i}: layernorm gamma, dequantized in float32")
        beta = _floats(lw, f"{prefix}_beta", p.beta, f"layer {i}: layernorm beta, dequantized in float32")
        return LayerNormArgs(p, x.type.size // p.width, table, gamma, beta)
    raise UnsupportedError(f"no C emitter for kernel {kernel}", node=node.name, op=node.op)
